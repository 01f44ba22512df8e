/* Read requests: registry listing, overdue lists, monthly reports, elder
 * history and visitor activity. Each runs on a read transaction and never
 * blocks the writer. Scope: a signer sees only its area subtree. */
#ifndef TF_QUERY_H
#define TF_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "store.h"
#include "tf_err.h"
#include "wire.h"

/* Runs req for signer and packs the whole Reply (status, detail, result,
 * ref) into a new buffer. Returns 0 or -ENOMEM; refusals are statuses in
 * the reply, not return codes. */
int query_run(struct store_txn *txn, const struct policy *pol, const tf_visitor *signer,
              const tf_request *req, const uint8_t ref[32], int64_t now, uint8_t **out,
              size_t *out_len) TF_MUST_CHECK;

#endif
