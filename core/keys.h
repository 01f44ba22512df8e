/* Device and admin keys: Ed25519 key pairs kept in small text files.
 *
 * A key file holds one line: the 32-byte seed as 64 hex digits. It is
 * created with mode 0600 and never overwritten, so a re-run of an init step
 * cannot destroy an enrolled identity. */
#ifndef TF_KEYS_H
#define TF_KEYS_H

#include <stdint.h>

#include "tf_err.h"

struct keypair {
	uint8_t pk[32];
	uint8_t sk[64]; /* libsodium layout: seed || pk */
};

/* Makes a new random key pair. Returns 0. */
int keys_generate(struct keypair *out) TF_MUST_CHECK;
/* Writes the seed to a new file at path (mode 0600). Returns 0, -EEXIST if
 * the file exists, or another negated errno. */
int keys_save(const char *path, const struct keypair *kp) TF_MUST_CHECK;
/* Reads a key file. Returns 0, -ENOENT, or TF_E_MALFORMED if it does not hold
 * a seed. */
int keys_load(const char *path, struct keypair *out) TF_MUST_CHECK;
/* Public key as 64 lowercase hex digits + NUL. */
void keys_pk_hex(const struct keypair *kp, char out[65]);

#endif
