/* Signed envelopes: the trust boundary of the protocol.
 *
 * The signature is Ed25519 (libsodium crypto_sign_detached) over the ASCII
 * domain prefix "tanfang/v1" immediately followed by the body bytes. The
 * prefix keeps a tanfang signature from being valid in any other protocol
 * that uses the same key. */
#ifndef TF_ENVELOPE_H
#define TF_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "tf_err.h"
#include "wire.h"

#define ENVELOPE_DOMAIN  "tanfang/v1"
#define ENVELOPE_PK_LEN  32
#define ENVELOPE_SK_LEN  64
#define ENVELOPE_SIG_LEN 64
#define ENVELOPE_REF_LEN 32

/* Signs body with sk (libsodium's 64-byte secret key, whose public half is
 * its last 32 bytes) and packs an Envelope into a new buffer the caller
 * frees. Returns 0 or -ENOMEM. */
int envelope_seal(const uint8_t sk[ENVELOPE_SK_LEN], const uint8_t *body, size_t len, uint8_t **out,
                  size_t *out_len) TF_MUST_CHECK;

/* Decodes a frame as an Envelope, checks the field sizes, and verifies the
 * signature. On success *out holds the decoded envelope (wire_free it with
 * WIRE_ENVELOPE). Returns 0, TF_E_MALFORMED (not an Envelope, a field the
 * Envelope does not declare, or signer or signature of the wrong size),
 * TF_E_BADSIG, or -ENOMEM. */
int envelope_open(const uint8_t *frame, size_t len, tf_envelope **out) TF_MUST_CHECK;

/* The reply reference: BLAKE2b-256 of the body. */
void envelope_ref(const uint8_t *body, size_t len, uint8_t out[ENVELOPE_REF_LEN]);

/* Initialises libsodium; call once from main. Returns 0 or -EIO. */
int envelope_init(void) TF_MUST_CHECK;

#endif
