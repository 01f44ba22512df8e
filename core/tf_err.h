/* Error codes shared by every module.
 *
 * Functions return 0 on success and a negative code on failure: either a
 * negated errno value (-ENOMEM, -ENOENT, -EEXIST, -ENOSPC, -EINVAL, -EIO) or
 * one of the project codes below, which sit above the errno range. tf_strerror()
 * names both kinds, the way mdb_strerror() covers LMDB's and the system's. */
#ifndef TF_ERR_H
#define TF_ERR_H

#define TF_MUST_CHECK __attribute__((warn_unused_result))

enum {
	TF_E_BASE = 10000,
	TF_E_MALFORMED = -(TF_E_BASE + 1), /* bytes are not the expected message */
	TF_E_BADSIG = -(TF_E_BASE + 2),    /* signature does not verify */
	TF_E_SIGNER = -(TF_E_BASE + 3),    /* unknown or revoked key */
	TF_E_FORBIDDEN = -(TF_E_BASE + 4), /* role or scope does not allow */
	TF_E_CONFLICT = -(TF_E_BASE + 5),  /* same id, other content */
	TF_E_DUPLICATE = -(TF_E_BASE + 6), /* same id, same content */
	TF_E_NOELDER = -(TF_E_BASE + 7),   /* unknown elder */
	TF_E_INVALID = -(TF_E_BASE + 8),   /* well formed, not acceptable */
	TF_E_MAPFULL = -(TF_E_BASE + 9),   /* LMDB map full */
	TF_E_TIMEOUT = -(TF_E_BASE + 10),  /* no answer in time */
	TF_E_CORRUPT = -(TF_E_BASE + 11),  /* stored data failed a check */
	TF_E_FUTURE = -(TF_E_BASE + 12), /* dated after the clock: nothing can have happened then */
};

/* Human-readable text for any code above or any negated errno. Never NULL. */
const char *tf_strerror(int code);

#endif
