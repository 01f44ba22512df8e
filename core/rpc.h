/* Signed request/reply over net: fills Request.sent_at_ms, packs, signs
 * (envelope_seal), sends, and waits for the Reply whose ref matches the
 * body's hash (replies to earlier, timed-out requests are skipped). Used by
 * the admin, supervisor and dispatcher clients, and by the tests. */
#ifndef TF_RPC_H
#define TF_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "keys.h"
#include "net.h"
#include "tf_err.h"
#include "wire.h"

struct rpc;

/* Opens a client: key signs every request. Returns 0 or a negative code. */
int rpc_open(const char *endpoint, const char *server_key_z85, const struct keypair *key,
             struct rpc **out) TF_MUST_CHECK;
void rpc_close(struct rpc *r);
/* Is the connection to the daemon up (net_up)? */
bool rpc_up(struct rpc *r);

/* Sends req (sent_at_ms is filled in here) and waits up to timeout_ms for its
 * Reply (*out: wire_free with WIRE_REPLY). Returns 0 whenever a Reply arrived,
 * whatever its status; TF_E_TIMEOUT; or a negative code. */
int rpc_call(struct rpc *r, tf_request *req, int timeout_ms, tf_reply **out) TF_MUST_CHECK;

/* Sends an already sealed envelope frame and waits for the Reply whose ref
 * matches its body. For the outbox, which keeps envelopes signed at record
 * time. Same returns as rpc_call. */
int rpc_call_sealed(struct rpc *r, const uint8_t *frame, size_t len, int timeout_ms,
                    tf_reply **out) TF_MUST_CHECK;

/* Pipelined form for bulk senders: send many, then collect. rpc_send_sealed
 * returns 0 or -EIO; rpc_recv returns the next Reply of any request
 * (match on reply->ref), 0 / TF_E_TIMEOUT / negative. */
int rpc_send_sealed(struct rpc *r, const uint8_t *frame, size_t len) TF_MUST_CHECK;
int rpc_recv(struct rpc *r, int timeout_ms, tf_reply **out) TF_MUST_CHECK;

/* Seals req with key into a frame (caller frees); sent_at_ms filled in. */
int rpc_seal(const struct keypair *key, tf_request *req, uint8_t **out,
             size_t *out_len) TF_MUST_CHECK;
/* The same, and ref set to the ref its reply will carry (BLAKE2b of the
 * body, envelope_ref), so a pipelining sender need not decode its own
 * frame to match replies. */
int rpc_seal_ref(const struct keypair *key, tf_request *req, uint8_t **out, size_t *out_len,
                 uint8_t ref[ENVELOPE_REF_LEN]) TF_MUST_CHECK;

#endif
