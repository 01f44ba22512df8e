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
/* The transport (CURVE, X25519) key pair that belongs to an Ed25519 key:
 * libsodium's birational map, so the daemon knows from the enrolled Ed25519
 * key which CURVE key may connect (issue 8, item 3; docs/protocol.md,
 * section 1). Returns 0, or TF_E_MALFORMED for a key that is not a valid
 * point. keys_transport_public does the public half alone. */
int keys_transport(const struct keypair *kp, uint8_t pub[32], uint8_t sec[32]) TF_MUST_CHECK;
int keys_transport_public(const uint8_t ed_pk[32], uint8_t pub[32]) TF_MUST_CHECK;
/* Public key as 64 lowercase hex digits + NUL. */
void keys_pk_hex(const struct keypair *kp, char out[65]);

#endif
