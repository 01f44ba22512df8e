/* The request path, split for the daemon's pipeline:
 *
 *   io thread --frame--> verify worker: ingest_verify()  (unpack, sizes, Ed25519)
 *                          |- JOB_DONE:  reply ready (refused)         -> io thread
 *                          |- JOB_READ:  ingest_query() on a read txn  -> io thread
 *                          '- JOB_WRITE: to the single writer
 *   writer: ingest_write_batch(jobs) = one LMDB write txn, each job in a
 *           nested txn so a refused request undoes only itself; replies are
 *           final only after the commit returned (durable).
 *
 * Authorisation (signer known and not revoked, role, area scope) is checked
 * against the registry inside the same transaction that applies the request,
 * so a key revoked a moment ago is never honoured by a stale snapshot. */
#ifndef TF_INGEST_H
#define TF_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tf_err.h"

struct ingest;
struct job;
struct policy;

struct ingest_config {
	int64_t max_skew_s;       /* |sent_at - now| above this: STATUS_CLOCK_SKEW; 0 = 600 */
	int64_t future_flag_s;    /* visit dated this far in the future is flagged; 0 = 3600 */
	int64_t old_flag_s;       /* visit dated this long ago is flagged; 0 = 45 days */
	int64_t record_max_age_s; /* visit or event dated longer ago is refused (STATUS_TOO_OLD),
	                             the acceptance window for offline records; 0 = 180 days */
	double far_flag_m;        /* door visit farther than this from home is flagged; 0 = 2000 */
	unsigned burst_count;     /* more than this many visits by one visitor ... ; 0 = 12 */
	int64_t burst_window_s;   /* ... within this window is flagged; 0 = 3600 */
	int64_t escalate_after_s; /* still overdue this long: alert the parent area; 0 = 7 days */
	int64_t follow_up_s;      /* follow-up visit owed within; 0 = 7 days */
	unsigned alert_sweep_max; /* new alerts made per sweep, bounding one txn; 0 = 20000 */
};

/* Creates the shared request context over an open store (not owned).
 * cfg may be NULL for defaults. Returns 0 or -ENOMEM. */
int ingest_new(struct store *st, const struct ingest_config *cfg,
               struct ingest **out) TF_MUST_CHECK;
void ingest_free(struct ingest *ig);

/* Installs the policy used for schedules and reports; takes ownership and
 * frees the previous one once no query uses it. Call from the writer thread
 * only (it recomputes every elder's duties in one write transaction).
 * Returns 0 or a negative code. When the store has no room (a store_full()
 * code: the map or the disk is full) pol is kept and installed later by
 * ingest_retry_policy: if a policy was installed before, it stays in force
 * and writes go on; if not (at start), pol answers queries and every write
 * is refused with STATUS_STORE_FULL until pol is installed (read-only). Any
 * other failure frees pol and the old policy stays in force. Source: issue
 * 8, item 5 (a full map must not keep the daemon from starting). */
int ingest_set_policy(struct ingest *ig, struct policy *pol) TF_MUST_CHECK;

/* Is a policy waiting for room (ingest_set_policy)? Writer thread only. */
bool ingest_policy_pending(const struct ingest *ig);

/* Tries again to install the waiting policy, unless the last attempt was
 * too recent (1 s after the first failure, doubling up to 30 s: each try
 * recomputes every duty). ingest_write_batch calls it too. Writer thread
 * only. Returns 1 if it installed the policy now (logged), 0 if nothing was
 * waiting or due, or the failed attempt's negative code. */
int ingest_retry_policy(struct ingest *ig);

/* The operator's words for a store_full() code, as replies and the log
 * give them ("the store's map is full: raise map_size_mb ..."); any other
 * code: tf_strerror. Never NULL. */
const char *ingest_full_text(int code);

enum job_route { JOB_DONE, JOB_READ, JOB_WRITE };

/* Worker side: decodes and verifies one frame. Always yields a job (its
 * reply says what was wrong) unless memory runs out (-ENOMEM). Thread-safe. */
int ingest_verify(struct ingest *ig, const uint8_t *frame, size_t len,
                  struct job **out) TF_MUST_CHECK;
enum job_route job_route(const struct job *job);

/* Maps in, at low cost, what the first monthly report after a start reads
 * (query_prewarm on the ingest's store, at the clock's now). For a thread
 * of its own; stops early once *stop is set. Returns 0 or a store code. */
int ingest_prewarm(struct ingest *ig, const volatile int *stop) TF_MUST_CHECK;
/* Worker side: runs a read request (queries, alert listing) on its own read
 * transaction and sets the job's reply. Thread-safe. Returns 0 or -ENOMEM. */
int ingest_query(struct ingest *ig, struct job *job) TF_MUST_CHECK;

/* Writer side: applies n JOB_WRITE jobs in one write transaction and sets
 * every job's reply. Returns 0, or the commit's error (then every job in the
 * batch replies STATUS_STORE_FULL or STATUS_INTERNAL and nothing was
 * written). A full map or disk always answers STATUS_STORE_FULL, with the
 * reason and the remedy in the detail; while read-only (ingest_set_policy)
 * every job is refused so, and the waiting policy's code is returned.
 * Writer thread only. */
int ingest_write_batch(struct ingest *ig, struct job **jobs, size_t n) TF_MUST_CHECK;

/* The job's reply, packed into a new buffer the caller frees. Returns 0 or -ENOMEM. */
int job_reply(const struct job *job, uint8_t **out, size_t *out_len) TF_MUST_CHECK;
/* The reply's Status value (TANFANG__V1__STATUS__*). */
int job_status(const struct job *job);
/* Opaque pointer for the pipeline (e.g. the ZeroMQ routing id). */
void job_set_user(struct job *job, void *user);
void *job_user(const struct job *job);
void job_free(struct job *job);

/* A packed Reply for a frame refused before decoding (e.g. oversize).
 * Returns 0 or -ENOMEM. */
int ingest_error_reply(int status, const char *detail, uint8_t **out,
                       size_t *out_len) TF_MUST_CHECK;

/* The handshake check (issue 8, item 3): may the client whose CURVE public
 * key is curve_pk connect? Yes (0, ed_pk set to its Ed25519 key) if that is
 * the CURVE twin of an enrolled, unrevoked key. Returns 0, TF_E_SIGNER, or a
 * store code. Thread-safe (its own read transaction). */
int ingest_transport_check(struct ingest *ig, const uint8_t curve_pk[32],
                           uint8_t ed_pk[32]) TF_MUST_CHECK;

/* Offline recovery of the root admin (issue 8, item 1; docs/operations.md):
 * makes visitor "admin" a root admin again (role admin, scope "", effective
 * now; its history keeps what it was) and enrols pk for it. For the server's
 * operator, with the data folder; no signed request can do this. Returns 0;
 * TF_E_INVALID with err set when pk is revoked or enrolled for another
 * visitor; or a store code. */
int ingest_recover_admin(struct store *st, const uint8_t pk[32], char *err,
                         size_t errlen) TF_MUST_CHECK;

/* Initialises a new data folder's store: the admin visitor ("admin", role
 * admin, scope everything) and its key pk. Returns 0, -EEXIST if an admin
 * key is already enrolled, or a negative code. */
int ingest_bootstrap(struct store *st, const uint8_t pk[32]) TF_MUST_CHECK;

#endif
