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

/* Reads through what a monthly report reads (every elder's registry spans
 * and the visits of the month of now and the month before, in the policy
 * time zone), so the first report after a start finds the store's pages
 * mapped (issue 7, item 12). A read transaction of its own on st; stops
 * early once *stop is set. Returns 0 or a store code. */
int query_prewarm(struct store *st, int64_t now, const volatile int *stop) TF_MUST_CHECK;

/* FileReport (issue 7, item 4): computes the month's report for the area
 * (the signer's scope or inside it) as it stands now and keeps it in
 * DB_FILED, in the writer's transaction txn, stamped now. A month is filed
 * once. log_seq: the filing's entry in the audit log, kept with it.
 * Returns 0 (detail says what was filed), or a negative code; a
 * refusal sets *status (FORBIDDEN, INVALID, NOT_FOUND, DUPLICATE) and
 * detail, and returns TF_E_DUPLICATE or TF_E_INVALID. */
int query_file_report(struct store_txn *txn, const struct policy *pol, const tf_visitor *signer,
                      const Tanfang__V1__FileReport *fr, int64_t now, uint64_t log_seq,
                      char *detail, size_t detail_len, int *status) TF_MUST_CHECK;

#endif
