/* Signed checkpoints of the audit log, kept outside the store.
 *
 * The hash chain of auditlog.h shows any edit inside the log, but a log cut
 * short with its head rewritten, or recomputed without an entry, is a
 * consistent chain too. So the daemon signs, from time to time, the number
 * of entries and the chain hash after the last of them, with its own Ed25519
 * key, and writes the signed line where a store edit does not reach: an
 * append-only file in the data folder, and the service log (journal). An
 * audit then requires each checkpoint to be a prefix of the chain. This is
 * Certificate Transparency's signed tree head (RFC 6962, section 3.5:
 * timestamp, tree size, root hash, signature), with a hash chain for the
 * tree.
 *
 * A checkpoint is one text line:
 *   tanfang-checkpoint v1 entries=N head=HEX64 time=UNIX key=HEX64 sig=HEX128
 * and the signature is Ed25519 over
 *   "tanfang/checkpoint/v1" || be64(entries) || be64(time) || head[32],
 * a domain of its own, so no envelope signature can pass for a checkpoint
 * (envelopes sign "tanfang/v1" || body). The key is in the line so that a
 * checkpoint signed by another key is named as such; which key to trust is
 * the auditor's choice (the data folder's key file, or one kept apart).
 *
 * Files in the data folder: checkpoint.key (the seed, keys.h format, mode
 * 0600; not the CURVE key, not the admin key) and checkpoints.log (mode
 * 0600, one line per checkpoint, only ever appended to). */
#ifndef TF_CHECKPOINT_H
#define TF_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "store.h"
#include "tf_err.h"

#define CHECKPOINT_FILE     "checkpoints.log"
#define CHECKPOINT_KEY_FILE "checkpoint.key"
#define CHECKPOINT_DOMAIN   "tanfang/checkpoint/v1"
#define CHECKPOINT_MARKER   "tanfang-checkpoint v1 "
#define CHECKPOINT_LINE_MAX 400

struct checkpoint {
	uint64_t entries; /* log entries covered */
	uint8_t head[32]; /* chain hash after entry `entries` (zeros for 0) */
	int64_t time;     /* unix seconds, the daemon's clock when signed */
	uint8_t key[32];  /* the signer's public key */
	uint8_t sig[64];
};

/* Signs (entries, head, time) with kp into *out. Cannot fail. */
void checkpoint_sign(const struct keypair *kp, uint64_t entries, const uint8_t head[32],
                     int64_t time, struct checkpoint *out);

/* Checks cp's signature, and that cp names the key pk (32 bytes) as its
 * signer. Returns 0, TF_E_SIGNER (signed, or claiming to be signed, by
 * another key), or TF_E_BADSIG (the signature does not verify: forged or
 * altered). */
int checkpoint_verify(const struct checkpoint *cp, const uint8_t pk[32]) TF_MUST_CHECK;

/* The text line of cp, without a newline, into out. */
void checkpoint_format(const struct checkpoint *cp, char out[CHECKPOINT_LINE_MAX]);

/* Finds a checkpoint in line (anywhere: a journal line carries a prefix)
 * and decodes it, signature not checked. Returns 0, -ENOENT (no checkpoint
 * marker in the line: some other line), or TF_E_MALFORMED (the marker, but
 * not a well-formed checkpoint after it). */
int checkpoint_parse(const char *line, struct checkpoint *out) TF_MUST_CHECK;

/* Calls fn for each line of the file at path (line numbers from 1), with
 * the result of checkpoint_parse on it (cp valid when status is 0). A
 * non-zero return from fn stops the scan and is returned. Returns 0, fn's
 * value, -ENOMEM, or the negated errno of opening or reading the file. */
int checkpoint_scan(const char *path,
                    int (*fn)(void *ctx, unsigned long line, int status,
                              const struct checkpoint *cp),
                    void *ctx) TF_MUST_CHECK;

/* Loads dir/checkpoint.key. Returns 0, -ENOENT, TF_E_MALFORMED, or another
 * negated errno. */
int checkpoint_key_load(const char *dir, struct keypair *out) TF_MUST_CHECK;

/* Loads dir/checkpoint.key, or makes it (mode 0600) when there is none; then
 * *created is true. Returns 0, TF_E_MALFORMED, or a negated errno. */
int checkpoint_key_open(const char *dir, struct keypair *out, bool *created) TF_MUST_CHECK;

/* The daemon's checkpoint writer for one data folder. One thread. */
struct checkpointer;

/* Opens the writer of data folder dir: the key (made if absent, *key_created
 * says so; may be NULL) and the last checkpoint in dir/checkpoints.log that
 * verifies with it (lines that do not are counted in *bad_lines, may be
 * NULL: the caller warns). Returns 0 with *out the caller's (free with
 * checkpointer_free), or a negated errno / TF_E_MALFORMED (key file). */
int checkpointer_open(const char *dir, struct checkpointer **out, bool *key_created,
                      unsigned long *bad_lines) TF_MUST_CHECK;

/* The writer's public key, 64 hex digits + NUL. */
void checkpointer_key_hex(const struct checkpointer *c, char out[65]);

/* Signs a checkpoint of st's log as it is now, dated now (unix s), when the
 * log grew since the last checkpoint or none was written yet, and appends
 * it to checkpoints.log (fsync'd) before returning; line receives the text
 * for the service log. Cheap: two lookups in one read transaction and one
 * short append, never a walk of the log. Refuses to sign a log that does
 * not extend the last checkpoint (fewer entries, or another chain hash at
 * its entry): that is tampering, or a store restored from a backup.
 * Returns 1 (written), 0 (nothing new), TF_E_CORRUPT (refused; err says
 * why), a store code, or the negated errno of writing the file. */
int checkpointer_tick(struct checkpointer *c, struct store *st, int64_t now,
                      char line[CHECKPOINT_LINE_MAX], char *err, size_t errlen) TF_MUST_CHECK;

/* Frees the writer (wiping its key); NULL is fine. */
void checkpointer_free(struct checkpointer *c);

#endif
