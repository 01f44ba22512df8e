#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "auditlog.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"
#include "period.h"
#include "policy.h"
#include "query.h"
#include "record.h"
#include "registry.h"
#include "replay.h"
#include "reqcheck.h"
#include "schedule.h"
#include "timeline.h"
#include "wire.h"

#define S(x)      TANFANG__V1__STATUS__STATUS_##x
#define OP(x)     TANFANG__V1__REQUEST__OP_##x
#define MAX_FLAGS 4

/* Enrolled signers the writer keeps decoded (issue 12): a device sends
 * visit after visit, and its key and visitor were read and unpacked again
 * for each. A few dozen cover the devices of one burst. */
#define SIGNER_MEMO 64

struct signer_memo {
	uint8_t pk[32];
	tf_visitor *visitor;
};

struct ingest {
	struct store *st;
	struct ingest_config cfg;
	/* Queries read the policy in worker threads while the writer may swap
	 * it on SIGHUP; the lock keeps a query's policy alive until it ends. */
	pthread_rwlock_t pol_lock;
	struct policy *pol;
	struct replay_memo *answered; /* queries answered inside the skew window */
	/* A full store (issue 8, item 5): a policy that did not fit is kept
	 * and installed again later, from the writer thread only. */
	bool pol_stored;     /* pol is the one the stored duties follow */
	bool read_only;      /* pol is not stored and none is: writes refused */
	struct policy *next; /* a newer policy waiting for room; pol stays in force */
	int pending_err;     /* why the last install failed (a store_full code) */
	int64_t retry_at_ms; /* monotonic: the next install attempt, no sooner */
	int64_t retry_delay_ms;
	int64_t full_logged_ms;   /* monotonic: the last "store full" warning */
	unsigned long full_quiet; /* refusals since, not logged one by one */
	/* The writer's alone: signers as committed, or as written by the
	 * batch in progress. Emptied by any request that may change the
	 * registry and by a batch that does not commit, so it never holds
	 * what the store does not. */
	struct signer_memo signers[SIGNER_MEMO];
	size_t n_signers, next_signer;
	uint64_t signers_txn; /* the write transaction they were last good for */
};

/* 2^20 slots (24 MiB of address space, touched only as used): about 870
 * queries a second, sustained over a 20-minute skew window; with each key's
 * quota (replay.h), at least a hundred keys to fill it. */
#define ANSWERED_BITS 20

struct job {
	enum job_route route;
	uint8_t *frame; /* the verbatim envelope, for the audit log */
	size_t frame_len;
	tf_envelope *env;
	tf_request *req;
	uint8_t ref[ENVELOPE_REF_LEN];
	int has_ref;
	/* A visit's or care event's content hash (record_content_hash), made
	 * by the verifying worker so the single writer does not pack the
	 * record again for it. */
	uint8_t content_hash[32];
	/* Its audit-log entry in short form (auditlog_record_form), or NULL:
	 * the frame is kept whole. */
	uint8_t *log_form;
	size_t log_form_len;
	int status;
	char detail[512];
	const char *flags[MAX_FLAGS];
	size_t n_flags;
	uint8_t *reply; /* packed reply from a query */
	size_t reply_len;
	void *user;
};

int ingest_new(struct store *st, const struct ingest_config *cfg, struct ingest **out)
{
	*out = NULL;
	struct ingest *ig = calloc(1, sizeof *ig);
	if (!ig)
		return -ENOMEM;
	ig->st = st;
	if (cfg)
		ig->cfg = *cfg;
	struct ingest_config *c = &ig->cfg;
	if (!c->max_skew_s)
		c->max_skew_s = 600;
	if (!c->future_flag_s)
		c->future_flag_s = 3600;
	if (!c->old_flag_s)
		c->old_flag_s = 45 * 86400;
	if (!c->record_max_age_s)
		c->record_max_age_s = 180 * 86400;
	if (c->far_flag_m <= 0)
		c->far_flag_m = 2000;
	if (!c->burst_count)
		c->burst_count = 12;
	if (!c->burst_window_s)
		c->burst_window_s = 3600;
	if (!c->escalate_after_s)
		c->escalate_after_s = 7 * 86400;
	if (!c->follow_up_s)
		c->follow_up_s = 7 * 86400;
	if (!c->alert_sweep_max)
		c->alert_sweep_max = 20000;
	if (pthread_rwlock_init(&ig->pol_lock, NULL) != 0) {
		free(ig);
		return -ENOMEM;
	}
	int r = policy_default(&ig->pol);
	if (r == 0)
		r = replay_memo_new(ANSWERED_BITS, &ig->answered);
	if (r < 0) {
		policy_free(ig->pol);
		pthread_rwlock_destroy(&ig->pol_lock);
		free(ig);
		return r;
	}
	*out = ig;
	return 0;
}

void ingest_free(struct ingest *ig)
{
	if (!ig)
		return;
	policy_free(ig->pol);
	replay_memo_free(ig->answered);
	policy_free(ig->next);
	for (size_t i = 0; i < ig->n_signers; i++)
		wire_free(WIRE_VISITOR, ig->signers[i].visitor);
	pthread_rwlock_destroy(&ig->pol_lock);
	free(ig);
}

/* Key in DB_META: the fingerprint of the policy the stored duties follow.
 * The schedule's own version is part of the key, so an upgrade that
 * changes how duties are computed or indexed rebuilds them once (v2: the
 * per-area due index; v3: the timeline; v4: the per-visitor due index). */
#define POLICY_FP_KEY "policy_fingerprint/schedule-v4"

/* Key in DB_META: present once every enrolled key's CURVE twin is indexed. */
#define TRANSPORT_KEY "transport-index-v1"
#define TWINS_KEY     "elder-twins-index-v1"
#define AREAS_KEY     "elder-areas-index-v1"

/* The store's side of a policy: migrates an old store, and recomputes
 * every duty unless pol is the policy they already follow. One write
 * transaction; pol is only read. Returns 0 or a negative code (nothing
 * written). */
static int install(struct ingest *ig, const struct policy *pol)
{
	uint8_t fp[POLICY_FINGERPRINT_LEN];
	policy_fingerprint(pol, fp);
	struct store_txn *txn;
	int r = store_txn_begin(ig->st, true, NULL, &txn);
	if (r < 0)
		return r;
	/* Duties are kept up to date on every write; they only need a full
	 * recomputation when the rules change. Skipping it when the policy is
	 * the one already in force keeps a restart of a million-elder store
	 * quick and its memory small. */
	/* A store from before the timeline is migrated once (issue 7, item
	 * 9); the schedule's key version (v3) rebuilds its duties after it. */
	bool migrated = false;
	r = timeline_migrate(txn, &migrated);
	const void *v;
	size_t vl;
	/* A store from before the handshake check gets its keys' CURVE twins
	 * indexed once (issue 8, item 3). */
	if (r == 0 && (r = store_get(txn, DB_META, TRANSPORT_KEY, strlen(TRANSPORT_KEY), &v,
	                             &vl)) == -ENOENT) {
		r = registry_transport_index(txn);
		if (r == 0)
			r = store_put(txn, DB_META, TRANSPORT_KEY, strlen(TRANSPORT_KEY), "", 0, 0);
	}
	/* A store from before the twin index gets its elders indexed once
	 * (issue 11, item 4). */
	if (r == 0 &&
	    (r = store_get(txn, DB_META, TWINS_KEY, strlen(TWINS_KEY), &v, &vl)) == -ENOENT) {
		r = registry_twin_index_all(txn);
		if (r == 0)
			r = store_put(txn, DB_META, TWINS_KEY, strlen(TWINS_KEY), "", 0, 0);
	}
	/* ... and the area index, for the field app's list. */
	if (r == 0 &&
	    (r = store_get(txn, DB_META, AREAS_KEY, strlen(AREAS_KEY), &v, &vl)) == -ENOENT) {
		r = registry_area_index_all(txn);
		if (r == 0)
			r = store_put(txn, DB_META, AREAS_KEY, strlen(AREAS_KEY), "", 0, 0);
	}
	if (r == 0)
		r = store_get(txn, DB_META, POLICY_FP_KEY, strlen(POLICY_FP_KEY), &v, &vl);
	bool same = r == 0 && vl == sizeof fp && memcmp(v, fp, sizeof fp) == 0;
	r = r == -ENOENT ? 0 : r;
	if (r == 0 && !same) {
		r = schedule_rebuild(txn, pol, clock_now());
		if (r == 0)
			r = store_put(txn, DB_META, POLICY_FP_KEY, strlen(POLICY_FP_KEY), fp,
			              sizeof fp, 0);
	}
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	r = store_txn_commit(txn);
	if (r == 0 && migrated)
		log_info("store migrated: registry facts now carry their time of effect");
	return r;
}

/* Makes pol the policy in force (queries read it under the lock). */
static void swap_policy(struct ingest *ig, struct policy *pol)
{
	pthread_rwlock_wrlock(&ig->pol_lock);
	struct policy *old = ig->pol;
	ig->pol = pol;
	pthread_rwlock_unlock(&ig->pol_lock);
	policy_free(old);
}

/* Between install attempts on a full store: 1 s, doubling up to 30 s, so
 * a store that stays full does not recompute every duty all the time. */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS   30000

int ingest_set_policy(struct ingest *ig, struct policy *pol)
{
	int r = install(ig, pol);
	if (r == 0) {
		swap_policy(ig, pol);
		policy_free(ig->next);
		ig->next = NULL;
		ig->pol_stored = true;
		ig->read_only = false;
		ig->pending_err = 0;
		ig->retry_delay_ms = 0;
		return 0;
	}
	if (!store_full(r)) {
		policy_free(pol);
		return r;
	}
	/* No room: keep it, and try again later (ingest_retry_policy). */
	ig->pending_err = r;
	ig->retry_delay_ms = ig->retry_delay_ms ? ig->retry_delay_ms * 2 : RETRY_FIRST_MS;
	if (ig->retry_delay_ms > RETRY_MAX_MS)
		ig->retry_delay_ms = RETRY_MAX_MS;
	ig->retry_at_ms = clock_mono_ms() + ig->retry_delay_ms;
	if (ig->pol_stored) {
		/* The stored duties follow the policy in force: writes go on
		 * with it until the new one fits. */
		policy_free(ig->next);
		ig->next = pol;
	} else {
		/* At start: which policy the stored duties follow is not known
		 * here, so nothing may be written until pol is installed. Queries
		 * follow pol meanwhile (reports apply its rules; overdue lists are
		 * the stored duties, as of the last install). */
		swap_policy(ig, pol);
		ig->read_only = true;
	}
	return r;
}

bool ingest_policy_pending(const struct ingest *ig)
{
	return ig->read_only || ig->next;
}

int ingest_retry_policy(struct ingest *ig)
{
	if (!ingest_policy_pending(ig) || clock_mono_ms() < ig->retry_at_ms)
		return 0;
	bool was_read_only = ig->read_only;
	int r;
	if (ig->read_only) {
		r = install(ig, ig->pol);
		if (r == 0) {
			ig->pol_stored = true;
			ig->read_only = false;
			ig->pending_err = 0;
			ig->retry_delay_ms = 0;
		} else if (store_full(r)) {
			ig->pending_err = r;
			ig->retry_delay_ms = ig->retry_delay_ms * 2 > RETRY_MAX_MS
			                         ? RETRY_MAX_MS
			                         : ig->retry_delay_ms * 2;
			ig->retry_at_ms = clock_mono_ms() + ig->retry_delay_ms;
		} else {
			/* Not a matter of room: retrying cannot help, and writing
			 * under a policy the store does not follow is wrong. */
			ig->retry_at_ms = clock_mono_ms() + RETRY_MAX_MS;
		}
	} else {
		struct policy *pol = ig->next;
		ig->next = NULL;
		r = ingest_set_policy(ig, pol);
		if (r < 0 && !store_full(r))
			log_warnx(
			    "the waiting policy was refused by the store, the old one stays in "
			    "force: %s",
			    tf_strerror(r));
	}
	if (r == 0) {
		log_info("policy installed: the store has room again%s",
		         was_read_only ? "; writes resume" : "");
		return 1;
	}
	log_debug("policy still not installed: %s", tf_strerror(r));
	return r;
}

const char *ingest_full_text(int code)
{
	switch (code) {
	case TF_E_MAPFULL:
		return "the store's map is full: raise map_size_mb in tanfangd.conf and restart "
		       "tanfangd";
	case -ENOSPC: return "the store's disk is full: free space on it";
	case -EDQUOT: return "the store's disk is full (disk quota exceeded): raise the quota";
	case -EFBIG:
		return "the store's disk is full (the file size limit, RLIMIT_FSIZE, is reached): "
		       "raise the limit";
	default: return tf_strerror(code);
	}
}

static void set_status(struct job *j, int status, const char *fmt, ...) TF_PRINTF(3, 4);
static void set_status(struct job *j, int status, const char *fmt, ...)
{
	j->status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->detail, sizeof j->detail, fmt, ap);
	va_end(ap);
	wire_utf8_truncate(j->detail); /* a detail cut mid-character */
}

static int code_status(int code)
{
	switch (code) {
	case 0: return S(OK);
	case TF_E_MALFORMED: return S(MALFORMED);
	case TF_E_BADSIG: return S(BAD_SIGNATURE);
	case TF_E_SIGNER: return S(UNKNOWN_SIGNER);
	case TF_E_FORBIDDEN: return S(FORBIDDEN);
	case TF_E_CONFLICT: return S(CONFLICT);
	case TF_E_DUPLICATE: return S(DUPLICATE);
	case TF_E_NOELDER: return S(UNKNOWN_ELDER);
	case TF_E_INVALID: return S(INVALID);
	case -ENOENT: return S(NOT_FOUND);
	default: return store_full(code) ? S(STORE_FULL) : S(INTERNAL);
	}
}

/* ---- verification (worker threads) ---- */

static bool is_read(const tf_request *r)
{
	switch (r->op_case) {
	case OP(GET_REGISTRY):
	case OP(OVERDUE):
	case OP(REPORT):
	case OP(ELDER_HISTORY):
	case OP(ACTIVITY):
	case OP(FIELD_ELDERS): return true;
	default: return false;
	}
}

int ingest_verify(struct ingest *ig, const uint8_t *frame, size_t len, struct job **out)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	*out = j;
	j->route = JOB_DONE;
	int r = envelope_open(frame, len, &j->env);
	if (r == -ENOMEM)
		goto nomem;
	if (r < 0) {
		/* Whenever the frame is an Envelope at all, the refusal carries the
		 * ref, so a client with several requests in flight can match it. */
		tf_envelope *raw;
		if (wire_unpack(WIRE_ENVELOPE, frame, len, (void **)&raw) == 0) {
			envelope_ref(raw->body.data, raw->body.len, j->ref);
			j->has_ref = 1;
			wire_free(WIRE_ENVELOPE, raw);
		}
		if (r == TF_E_BADSIG)
			set_status(j, S(BAD_SIGNATURE), "signature does not verify");
		else
			set_status(j, S(MALFORMED),
			           "not an Envelope with a 32-byte signer and 64-byte signature");
		return 0;
	}
	envelope_ref(j->env->body.data, j->env->body.len, j->ref);
	j->has_ref = 1;
	/* Every string is checked over its wire length, every time, count and
	 * lease bounded, before any field is used (issue 8, item 6). */
	char why[400];
	r = wire_unpack_detail(WIRE_REQUEST, j->env->body.data, j->env->body.len, WIRE_STRICT, why,
	                       sizeof why, (void **)&j->req);
	if (r == -ENOMEM)
		goto nomem;
	if (r < 0) {
		set_status(j, S(MALFORMED), "body is not a valid Request: %s", why);
		return 0;
	}
	if (reqcheck_request(j->req, why, sizeof why) < 0) {
		set_status(j, S(MALFORMED), "%s", why);
		return 0;
	}
	/* A device clock far ahead is refused. A request signed long ago is
	 * normal for visits and care events (offline outbox), but not for
	 * anything else, where it would be a replay. */
	int64_t skew_ms;
	/* sent_at_ms is any int64 the client chose: near INT64_MIN the
	 * difference (or its negation below) would overflow (found by
	 * tests/fuzz, sent_at_ms = INT64_MIN). Saturate: it is skewed anyway. */
	if (__builtin_sub_overflow(j->req->sent_at_ms, clock_now_ms(), &skew_ms) ||
	    skew_ms == INT64_MIN)
		skew_ms = INT64_MIN + 1;
	bool record = j->req->op_case == OP(VISIT) || j->req->op_case == OP(CARE_EVENT);
	if (skew_ms > ig->cfg.max_skew_s * 1000 ||
	    (!record && -skew_ms > ig->cfg.max_skew_s * 1000)) {
		set_status(j, S(CLOCK_SKEW),
		           "sent_at_ms is %lld s from the daemon's clock (limit %lld s)",
		           (long long)(skew_ms / 1000), (long long)ig->cfg.max_skew_s);
		return 0;
	}
	/* Time is checked (issue 7, item 6): a record or change dated after the
	 * daemon's clock plus the skew would satisfy duties that are not yet
	 * done; a record older than the acceptance window is refused so that
	 * no month is reopened without bound. */
	int64_t now = clock_now_ms() / 1000, at = 0;
	if (j->req->op_case == OP(VISIT))
		at = j->req->visit->visited_at;
	else if (j->req->op_case == OP(CARE_EVENT))
		at = j->req->care_event->occurred_at;
	else if (j->req->effective_at)
		at = j->req->effective_at;
	if (at > now + ig->cfg.max_skew_s) {
		char when[20];
		period_format(at, when, sizeof when);
		set_status(j, S(DATED_IN_FUTURE),
		           "dated %s, after the daemon's clock (allowed skew %lld s); check the "
		           "device's date",
		           when, (long long)ig->cfg.max_skew_s);
		return 0;
	}
	if (record && at < now - ig->cfg.record_max_age_s) {
		set_status(j, S(TOO_OLD), "dated more than %lld days ago (record_max_age_s)",
		           (long long)(ig->cfg.record_max_age_s / 86400));
		return 0;
	}
	if (!record && j->req->effective_at < 0) {
		set_status(j, S(MALFORMED), "effective_at must not be negative");
		return 0;
	}
	if (j->req->op_case == OP(VISIT))
		r = record_content_hash(j->env->signer.data, WIRE_VISIT, j->req->visit,
		                        j->content_hash);
	else if (j->req->op_case == OP(CARE_EVENT))
		r = record_content_hash(j->env->signer.data, WIRE_CARE_EVENT, j->req->care_event,
		                        j->content_hash);
	if (r == 0 && (j->req->op_case == OP(VISIT) || j->req->op_case == OP(CARE_EVENT)))
		r = auditlog_record_form(frame, len, j->env, j->req, &j->log_form,
		                         &j->log_form_len);
	if (r < 0)
		goto nomem; /* they only pack: memory is all they can lack */
	j->frame = malloc(len ? len : 1);
	if (!j->frame)
		goto nomem;
	memcpy(j->frame, frame, len);
	j->frame_len = len;
	j->route = is_read(j->req) ? JOB_READ : JOB_WRITE;
	return 0;
nomem:
	job_free(j);
	*out = NULL;
	return -ENOMEM;
}

enum job_route job_route(const struct job *job)
{
	return job->route;
}
int job_status(const struct job *job)
{
	return job->status;
}
void job_set_user(struct job *job, void *user)
{
	job->user = user;
}
void *job_user(const struct job *job)
{
	return job->user;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	wire_free(WIRE_REQUEST, job->req);
	wire_free(WIRE_ENVELOPE, job->env);
	free(job->frame);
	free(job->log_form);
	free(job->reply);
	free(job);
}

/* ---- queries (worker threads) ---- */

int ingest_prewarm(struct ingest *ig, const volatile int *stop)
{
	return query_prewarm(ig->st, clock_now(), stop);
}

int ingest_query(struct ingest *ig, struct job *job)
{
	/* The signer first: a key that is not enrolled gets no state here
	 * (BRIEF §5; an attack test filled the table below with 300,000
	 * queries signed by a fresh key, and everyone's queries were refused
	 * for twenty minutes). */
	struct store_txn *txn;
	int r = store_txn_begin(ig->st, false, NULL, &txn);
	if (r < 0) {
		set_status(job, code_status(r), "store: %s", tf_strerror(r));
		return 0;
	}
	tf_visitor *signer;
	r = registry_signer(txn, job->env->signer.data, &signer);
	if (r < 0) {
		store_txn_abort(txn);
		set_status(job, code_status(r), "%s",
		           r == TF_E_SIGNER ? "key not enrolled or revoked" : tf_strerror(r));
		return 0;
	}
	/* A query is answered once: a replayed envelope would hand the answer
	 * to whoever resent it (issue 8, item 2). Past sent_at + skew the
	 * skew check refuses it anyway, so the entry may expire then. Each
	 * key has a quota of entries but the root admin's (replay.h): an area
	 * admin's key flooded the table in a re-attack. */
	int64_t now_ms = clock_now_ms();
	bool root = signer->role == TANFANG__V1__ROLE__ROLE_ADMIN && !*signer->area;
	r = replay_memo_claim(ig->answered, job->ref, root ? NULL : job->env->signer.data,
	                      job->req->sent_at_ms + ig->cfg.max_skew_s * 1000 + 1000, now_ms);
	if (r < 0) {
		wire_free(WIRE_VISITOR, signer);
		store_txn_abort(txn);
		if (r == -EEXIST)
			set_status(job, S(REPLAYED),
			           "this signed query was already answered; sign a new one");
		else if (r == -EDQUOT)
			set_status(
			    job, S(INTERNAL),
			    "too many queries signed by this key in a short time; retry in a "
			    "minute");
		else
			set_status(
			    job, S(INTERNAL),
			    "too many queries inside the clock-skew window; retry in a minute");
		return 0;
	}
	pthread_rwlock_rdlock(&ig->pol_lock);
	r = query_run(txn, ig->pol, signer, job->req, job->ref, clock_now(), &job->reply,
	              &job->reply_len);
	pthread_rwlock_unlock(&ig->pol_lock);
	wire_free(WIRE_VISITOR, signer);
	store_txn_abort(txn);
	if (r < 0)
		return r;
	/* job_status() of a query is only used for logging; OK is enough. */
	job->status = S(OK);
	return 0;
}

int ingest_transport_check(struct ingest *ig, const uint8_t curve_pk[32], uint8_t ed_pk[32])
{
	struct store_txn *txn;
	int r = store_txn_begin(ig->st, false, NULL, &txn);
	if (r < 0)
		return r;
	r = registry_transport_signer(txn, curve_pk, ed_pk);
	store_txn_abort(txn);
	return r;
}

/* ---- writes (writer thread) ---- */

struct wctx {
	struct ingest *ig;
	struct store_txn *txn;
	struct job *job;
	tf_visitor *signer; /* owned by ig's signer cache, not by the job */
	int64_t now;
	/* A record (visit, care event) is applied on the batch's transaction
	 * itself, with no nested one: every refusal comes before its first
	 * write. This marks that first write, so a failure after it (only a
	 * store error can) is known to have left the batch half-written. */
	bool wrote;
};

static double distance_m(double lat1, double lon1, double lat2, double lon2)
{
	const double rad = M_PI / 180, earth = 6371000;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double a = sin(dlat / 2) * sin(dlat / 2) +
	           cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * earth * asin(fmin(1, sqrt(a)));
}

/* Visits by this visitor dated within the burst window before this one. */
static int burst_count(struct wctx *w, const char *visitor, int64_t t, unsigned *out)
{
	uint8_t from[RECORD_HIST_KEY_MAX];
	size_t fl = record_hist_key(from, visitor, t - w->ig->cfg.burst_window_s, NULL);
	struct store_cursor *cur;
	int r = store_cursor_open(w->txn, DB_VISITOR_HIST, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	unsigned n = 0;
	size_t plen = strlen(visitor) + 1;
	for (r = store_cursor_seek(cur, from, fl, &k, &kl, &v, &vl);
	     r == 0 && n <= w->ig->cfg.burst_count; r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != plen + 24 || memcmp(k, from, plen) != 0)
			break;
		if ((int64_t)store_get_be64((const uint8_t *)k + plen) > t)
			break;
		n++;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	*out = n;
	return 0;
}

static int visit_flags(struct wctx *w, const tf_elder *e, const tf_visit *v)
{
	const struct ingest_config *c = &w->ig->cfg;
	struct job *j = w->job;
	if (v->visited_at > w->now + c->future_flag_s)
		j->flags[j->n_flags++] = "dated_in_future";
	if (v->visited_at < w->now - c->old_flag_s)
		j->flags[j->n_flags++] = "dated_long_ago";
	if (v->kind == TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR && v->has_location &&
	    e->has_location && distance_m(v->lat, v->lon, e->lat, e->lon) > c->far_flag_m)
		j->flags[j->n_flags++] = "far_from_home";
	unsigned n;
	int r = burst_count(w, w->signer->id, v->visited_at, &n);
	if (r < 0)
		return r;
	if (n >= c->burst_count)
		j->flags[j->n_flags++] = "many_visits_in_short_time";
	return 0;
}

static bool listed(char **ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* May the signer act for this elder in this registry state: an assigned
 * visitor or neighbour household (who may live across a village boundary),
 * or anyone whose scope held the elder's area at time t? 1, 0 or a code. */
static int record_scope(struct wctx *w, const tf_elder *st, int64_t t)
{
	if (listed(st->neighbours, st->n_neighbours, w->signer->id) ||
	    listed(st->visitors, st->n_visitors, w->signer->id))
		return 1;
	/* The signer's scope as it was then too: a worker transferred since
	 * still answers for the visits made before. */
	tf_visitor *then;
	int r = timeline_visitor_at(w->txn, w->signer->id, t, &then);
	if (r == -ENOENT)
		return timeline_within_at(w->txn, st->area, w->signer->area, t);
	if (r < 0)
		return r;
	r = timeline_within_at(w->txn, st->area, then->area, t);
	wire_free(WIRE_VISITOR, then);
	return r;
}

/* Authorises a record (visit or care event) about elder_id made at time t
 * (*out: the elder's current record, the caller's to free, set only on
 * success). The elder must exist and have been in the signer's scope at the
 * record's own time (issue 7, item 5: a visit made offline before a move is
 * not lost by the move), or be in it now. */
static int authorise_record(struct wctx *w, const char *elder_id, int64_t t, tf_elder **out)
{
	int role = w->signer->role;
	if (role == TANFANG__V1__ROLE__ROLE_DISPATCHER) {
		set_status(w->job, S(FORBIDDEN), "a dispatcher key cannot submit records");
		return TF_E_FORBIDDEN;
	}
	int r = registry_get_elder(w->txn, elder_id, out);
	if (r == -ENOENT) {
		set_status(w->job, S(UNKNOWN_ELDER), "no elder with id %s", elder_id);
		return TF_E_NOELDER;
	}
	if (r < 0)
		return r;
	const tf_elder *e = *out;
	/* Now first: the usual case, and the cheaper check (the current
	 * records); the timeline only when that fails. */
	if (listed(e->neighbours, e->n_neighbours, w->signer->id) ||
	    listed(e->visitors, e->n_visitors, w->signer->id))
		return 0;
	r = registry_within(w->txn, e->area, w->signer->area);
	if (r == 0) {
		tf_elder *then;
		r = timeline_elder_at(w->txn, elder_id, t, &then);
		if (r == 0) {
			r = record_scope(w, then, t);
			wire_free(WIRE_ELDER, then);
		} else if (r == -ENOENT) {
			r = 0;
		}
	}
	if (r == 0) {
		set_status(w->job, S(FORBIDDEN),
		           "elder %s (area %s) is outside the scope of visitor %s (area %s)", e->id,
		           e->area, w->signer->id, w->signer->area);
		r = TF_E_FORBIDDEN;
	}
	if (r < 0) {
		/* Refused: *out is only the caller's on success. */
		wire_free(WIRE_ELDER, *out);
		*out = NULL;
		return r;
	}
	return 0;
}

/* Dedupe on the client-made id: same signer and content is a duplicate,
 * anything else a conflict. Returns 0 if new. */
static int dedupe(struct wctx *w, const uint8_t *id, const uint8_t hash[32])
{
	tf_record *old;
	int r = record_get(w->txn, id, &old);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	bool same =
	    old->content_hash.len == 32 && sodium_memcmp(old->content_hash.data, hash, 32) == 0;
	wire_free(WIRE_RECORD, old);
	if (same) {
		set_status(w->job, S(DUPLICATE), "already stored");
		return TF_E_DUPLICATE;
	}
	set_status(w->job, S(CONFLICT), "a different record with this id is already stored");
	return TF_E_CONFLICT;
}

/* Stores the record, its history keys and the audit-log entry. */
static int store_record(struct wctx *w, const uint8_t *id, const char *elder_id, int64_t when,
                        tf_record *rec)
{
	uint64_t seq;
	w->wrote = true;
	int r = auditlog_append_form(w->txn, w->job->frame, w->job->frame_len, w->job->log_form,
	                             w->job->log_form_len, &seq);
	if (r < 0)
		return r;
	rec->visitor_id = w->signer->id;
	rec->signer = w->job->env->signer;
	rec->received_at = w->now;
	rec->log_seq = seq;
	rec->flags = (char **)w->job->flags;
	rec->n_flags = w->job->n_flags;
	uint8_t *buf;
	size_t len;
	r = wire_pack(WIRE_RECORD, rec, &buf, &len);
	if (r < 0)
		return r;
	r = store_put(w->txn, DB_RECORDS, id, 16, buf, len, STORE_NOOVERWRITE);
	free(buf);
	if (r < 0)
		return r;
	uint8_t key[RECORD_HIST_KEY_MAX];
	size_t kl = record_hist_key(key, elder_id, when, id);
	r = store_put(w->txn, DB_ELDER_HIST, key, kl, "", 0, 0);
	if (r < 0)
		return r;
	kl = record_hist_key(key, w->signer->id, when, id);
	r = store_put(w->txn, DB_VISITOR_HIST, key, kl, "", 0, 0);
	if (r == 0 && rec->visit)
		r = record_index_visit(w->txn, rec->visit, w->signer->id, w->now);
	return r;
}

static int apply_visit(struct wctx *w)
{
	const tf_visit *v = w->job->req->visit;
	tf_elder *e;
	int r = authorise_record(w, v->elder_id, v->visited_at, &e);
	if (r < 0)
		return r;
	uint8_t *hash = w->job->content_hash;
	r = dedupe(w, v->id.data, hash);
	if (r == 0)
		r = visit_flags(w, e, v);
	if (r == 0) {
		tf_record rec;
		wire_init(WIRE_RECORD, &rec);
		rec.visit = (tf_visit *)v;
		rec.content_hash.data = hash;
		rec.content_hash.len = 32;
		r = store_record(w, v->id.data, e->id, v->visited_at, &rec);
	}
	/* The signer's role at the visit's time: the one just read, unless
	 * the visitor has had more than one (then the timeline says which). */
	int role = w->signer->role;
	if (r == 0) {
		int n = timeline_visitor_versions(w->txn, w->signer->id);
		r = n < 0 ? n
		    : n > 1
		        ? timeline_role_at(w->txn, w->signer->id, v->visited_at, &role, NULL, NULL)
		        : 0;
	}
	if (r == 0)
		r = schedule_visit(w->txn, w->ig->pol, e, w->signer->id, role, v, w->now);
	if (r == 0 && v->follow_up)
		r = alert_follow_up_owed(w->txn, v, w->signer->id,
		                         v->visited_at + w->ig->cfg.follow_up_s);
	wire_free(WIRE_ELDER, e);
	return r;
}

/* Does any rule start from care events of this type? */
static bool starts_duty(const struct policy *pol, int type)
{
	for (size_t i = 0; i < pol->n_rules; i++)
		if (type > 0 && type < 32 && (pol->rules[i].after_events & (1u << type)))
			return true;
	return false;
}

/* An elder fact from the request being applied: its time, arrival, signer
 * and tie (the first bytes of the envelope's ref, or of a record's id). */
static int elder_fact(struct wctx *w, const char *elder, tf_elder_fact *f, const uint8_t *tie,
                      tf_elder **current)
{
	f->received_at = w->now;
	f->signer = w->signer->id;
	return timeline_elder_fact(w->txn, elder, f, tie, current);
}

static int apply_event(struct wctx *w)
{
	const tf_care_event *ev = w->job->req->care_event;
	tf_elder *e;
	int r = authorise_record(w, ev->elder_id, ev->occurred_at, &e);
	if (r < 0)
		return r;
	uint8_t *hash = w->job->content_hash;
	r = dedupe(w, ev->id.data, hash);
	if (r == 0) {
		tf_record rec;
		wire_init(WIRE_RECORD, &rec);
		rec.care_event = (tf_care_event *)ev;
		rec.content_hash.data = hash;
		rec.content_hash.len = 32;
		r = store_record(w, ev->id.data, e->id, ev->occurred_at, &rec);
	}
	if (r == 0)
		r = alert_on_event(w->txn, e, ev, w->signer->id, w->now);
	/* A status change applies at the event's own time, in order with the
	 * others whatever order they arrive in (BRIEF §3, §9). */
	if (r == 0 && timeline_status_event(ev->type)) {
		tf_elder_fact f;
		wire_init(WIRE_ELDER_FACT, &f);
		f.kind = TANFANG__STORE__ELDER_FACT__KIND__KIND_STATUS;
		f.effective_at = ev->occurred_at;
		f.event = ev->type;
		f.record_id = ev->id;
		tf_elder *now;
		r = elder_fact(w, e->id, &f, ev->id.data, &now);
		if (r == 0)
			r = schedule_elder(w->txn, w->ig->pol, now, w->now);
		bool departure =
		    ev->type == TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DECEASED ||
		    ev->type == TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_MOVED_AWAY;
		if (r == 0 && departure && !timeline_present(now))
			r = alert_on_departure(w->txn, now, ev, w->signer->id, w->now);
		wire_free(WIRE_ELDER, now);
	} else if (r == 0 && starts_duty(w->ig->pol, ev->type)) {
		/* A rule started by this kind of event (a visit within 24 hours
		 * of a hazard found, ...) owes a visit from the event's time. */
		r = schedule_elder(w->txn, w->ig->pol, e, w->now);
	}
	wire_free(WIRE_ELDER, e);
	return r;
}

/* Registry changes: admins only, and only inside their own scope (a banner
 * administrator cannot edit another banner), on both sides (issue 8, item
 * 1): the object as it is now (`before`: its current area, NULL for a new
 * object) and as it will be (`after`). Checking only the new state let an
 * area admin pull another banner's area, elder or visitor into its own. */
static int admin_scope(struct wctx *w, const char *before, const char *after)
{
	if (w->signer->role != TANFANG__V1__ROLE__ROLE_ADMIN) {
		set_status(w->job, S(FORBIDDEN), "only an admin key may change the registry");
		return TF_E_FORBIDDEN;
	}
	if (!*w->signer->area)
		return 0;
	const char *side[2] = {before, after};
	for (int i = 0; i < 2; i++) {
		if (!side[i])
			continue;
		int r = registry_within(w->txn, side[i], w->signer->area);
		if (r < 0)
			return r;
		if (!r) {
			set_status(w->job, S(FORBIDDEN), "%s%s is outside admin %s's scope %s",
			           i == 0 ? "it is now in " : "area ",
			           *side[i] ? side[i] : "the whole registry (\"\")", w->signer->id,
			           w->signer->area);
			return TF_E_FORBIDDEN;
		}
	}
	return 0;
}

/* Nobody changes an admin at or above their own scope (issue 8, item 1):
 * an area admin cannot demote, move or enrol a key for a peer or for the
 * root admin, so the root admin cannot be locked out online. A root admin
 * (scope "") is changed only by `tanfangd recover-admin` on the server.
 * Returns 0 if v may be changed, TF_E_FORBIDDEN (status set), or a store
 * error. */
static int guard_admin(struct wctx *w, const tf_visitor *v, const char *what)
{
	if (v->role != TANFANG__V1__ROLE__ROLE_ADMIN)
		return 0;
	/* v is at or above the signer when the signer's scope lies inside
	 * v's ("" contains everything). */
	int r = registry_within(w->txn, w->signer->area, v->area);
	if (r < 0)
		return r;
	if (!r)
		return 0;
	if (*v->area)
		set_status(w->job, S(FORBIDDEN),
		           "%s admin %s, whose scope %s contains yours: only an admin above %s may",
		           what, v->id, v->area, v->area);
	else
		set_status(w->job, S(FORBIDDEN),
		           "%s root admin %s: only 'tanfangd recover-admin' on the server may "
		           "(docs/operations.md)",
		           what, v->id);
	return TF_E_FORBIDDEN;
}

static int invalid(struct wctx *w, int r, const char *err)
{
	if (r == TF_E_INVALID)
		set_status(w->job, S(INVALID), "%s", err);
	else if (r == TF_E_DUPLICATE)
		set_status(w->job, S(DUPLICATE), "this change is already stored");
	return r;
}

/* The first six bytes of a tie: the signing time in ms, 48 bits
 * big-endian, so changes in one second apply in the order signed. */
static void tie_signed_at(uint8_t tie[8], int64_t sent_ms)
{
	uint64_t ms = sent_ms > 0 ? (uint64_t)sent_ms : 0;
	for (int i = 5; i >= 0; i--, ms >>= 8)
		tie[i] = (uint8_t)ms;
}

/* When the registry change being applied takes effect: the request's
 * effective_at, or when it was signed. */
static struct registry_when change_when(const struct wctx *w)
{
	const tf_request *q = w->job->req;
	struct registry_when when = {
	    .at = q->effective_at ? q->effective_at : q->sent_at_ms / 1000,
	    .received = w->now,
	    .signer = w->signer->id,
	};
	if (when.at <= 0)
		when.at = w->now;
	tie_signed_at(when.tie, q->sent_at_ms);
	when.tie[6] = w->job->ref[0], when.tie[7] = w->job->ref[1];
	return when;
}

/* After a registry fact about an elder: its duties, and the undelivered
 * alerts that name where it was and who looked after it. */
static int elder_changed(struct wctx *w, const tf_elder *now)
{
	int r = schedule_elder(w->txn, w->ig->pol, now, w->now);
	return r < 0 ? r : alert_refresh_elder(w->txn, now);
}

/* Is e another elder already registered, or earlier in the request (the
 * registry's twin index, issue 11, item 4)? Asked after e is written, in
 * the request's own nested transaction, which a refusal undoes; for a
 * registration or an edit as for each row of an import. Returns 0, TF_E_INVALID (status
 * set), or a store code. */
static int twin_check(struct wctx *w, const tf_elder *e)
{
	char other[REGISTRY_ID_MAX + 1];
	bool by_card = false;
	int r = registry_find_twin(w->txn, e, other, &by_card);
	if (r <= 0)
		return r;
	if (by_card)
		set_status(w->job, S(INVALID),
		           "ID-card number %s is already registered as elder %s: the same person "
		           "twice?",
		           e->id_card, other);
	else
		set_status(
		    w->job, S(INVALID),
		    "the same name and birth date (%s, %s) in area %s are already registered "
		    "as elder %s: the same person twice?",
		    e->name, e->birth_date, e->area, other);
	return TF_E_INVALID;
}

static int put_elder(struct wctx *w, const tf_elder *e)
{
	char err[400];
	tf_elder *old = NULL;
	int r = registry_get_elder(w->txn, e->id, &old);
	if (r < 0 && r != -ENOENT)
		return r;
	r = admin_scope(w, r == 0 ? old->area : NULL, e->area);
	wire_free(WIRE_ELDER, old);
	if (r < 0)
		return r;
	struct registry_when when = change_when(w);
	tf_elder *now;
	r = invalid(w, registry_put_elder(w->txn, e, &when, &now, err, sizeof err), err);
	if (r < 0)
		return r;
	r = twin_check(w, now);
	if (r == 0)
		r = elder_changed(w, now);
	wire_free(WIRE_ELDER, now);
	return r;
}

/* SetNeighbours / SetVisitors: a fact of their own, from its time on. */
static int set_list_at(struct wctx *w, const char *elder_id, char **ids, size_t n, bool neighbours,
                       bool second);

static int apply_set_list(struct wctx *w, const char *elder_id, char **ids, size_t n,
                          bool neighbours)
{
	return set_list_at(w, elder_id, ids, n, neighbours, false);
}

/* An existing elder, in the admin's scope where it is now and, after the
 * change, in area `after` (NULL: where it is). Returns 0, TF_E_NOELDER or
 * TF_E_FORBIDDEN (status set), or a store code. */
static int admin_elder_scope(struct wctx *w, const char *elder_id, const char *after)
{
	tf_elder *e;
	int r = registry_get_elder(w->txn, elder_id, &e);
	if (r == -ENOENT) {
		set_status(w->job, S(UNKNOWN_ELDER), "no elder with id %s", elder_id);
		return TF_E_NOELDER;
	}
	if (r < 0)
		return r;
	r = admin_scope(w, e->area, after ? after : e->area);
	wire_free(WIRE_ELDER, e);
	return r;
}

/* After a registry call about an elder (r, with its refusal in err): the
 * refusal's status, or the elder's duties and alerts from its record now
 * (freed here). */
static int elder_change_done(struct wctx *w, int r, const char *err, tf_elder *now)
{
	r = invalid(w, r, err);
	if (r == 0)
		r = elder_changed(w, now);
	wire_free(WIRE_ELDER, now);
	return r;
}

/* second: the request's second fact about this elder (ImportVisitors sets
 * an elder's visitors and neighbours at once): a tie of its own, so the two
 * are two facts, not one elder changed twice by mistake. */
static int set_list_at(struct wctx *w, const char *elder_id, char **ids, size_t n, bool neighbours,
                       bool second)
{
	int r = admin_elder_scope(w, elder_id, NULL);
	if (r < 0)
		return r;
	char err[400];
	struct registry_when when = change_when(w);
	if (second)
		when.tie[7] ^= 0x5a;
	tf_elder *now = NULL;
	r = registry_set_list(w->txn, elder_id, ids, n, neighbours, &when, &now, err, sizeof err);
	return elder_change_done(w, r, err, now);
}

/* A visitor's role decides which of their visits count for the elders they
 * are assigned to: those elders' duties are recomputed. */
static int reschedule_assigned(struct wctx *w, const char *visitor)
{
	size_t pl = strlen(visitor) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(w->txn, DB_ASSIGNED, &cur);
	if (r < 0)
		return r;
	char **ids = NULL;
	size_t n = 0, cap = 0;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, visitor, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl <= pl || memcmp(k, visitor, pl) != 0 || kl - pl > REGISTRY_ID_MAX)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **p = realloc(ids, cap * sizeof *p);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			ids = p;
		}
		ids[n] = strndup((const char *)k + pl, kl - pl);
		if (!ids[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	store_cursor_close(cur);
	r = r == -ENOENT ? 0 : r;
	for (size_t i = 0; r == 0 && i < n; i++) {
		tf_elder *e;
		r = registry_get_elder(w->txn, ids[i], &e);
		if (r == 0) {
			r = schedule_elder(w->txn, w->ig->pol, e, w->now);
			wire_free(WIRE_ELDER, e);
		} else if (r == -ENOENT) {
			r = 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return r;
}

/* CorrectEvent: a care event reported in error stops changing the elder's
 * status; the event and the correction both stay in the history. */
static int apply_correct(struct wctx *w)
{
	const Tanfang__V1__CorrectEvent *c = w->job->req->correct_event;
	int role = w->signer->role;
	if (role != TANFANG__V1__ROLE__ROLE_SUPERVISOR && role != TANFANG__V1__ROLE__ROLE_ADMIN) {
		set_status(w->job, S(FORBIDDEN), "only a supervisor or admin may correct an event");
		return TF_E_FORBIDDEN;
	}
	tf_record *rec;
	int r = c->event_id.len == 16 ? record_get(w->txn, c->event_id.data, &rec) : -ENOENT;
	if (r == -ENOENT || (r == 0 && !rec->care_event)) {
		if (r == 0)
			wire_free(WIRE_RECORD, rec);
		set_status(w->job, S(NOT_FOUND), "no care event with this id");
		return -ENOENT;
	}
	if (r < 0)
		return r;
	char elder_id[REGISTRY_ID_MAX + 1];
	snprintf(elder_id, sizeof elder_id, "%s", rec->care_event->elder_id);
	int64_t at = rec->care_event->occurred_at;
	wire_free(WIRE_RECORD, rec);
	tf_elder *e;
	r = registry_get_elder(w->txn, elder_id, &e);
	if (r < 0)
		return r;
	r = *w->signer->area ? registry_within(w->txn, e->area, w->signer->area) : 1;
	wire_free(WIRE_ELDER, e);
	if (r == 0) {
		set_status(w->job, S(FORBIDDEN), "elder %s is outside your scope", elder_id);
		return TF_E_FORBIDDEN;
	}
	if (r < 0)
		return r;
	tf_elder_fact f;
	wire_init(WIRE_ELDER_FACT, &f);
	f.kind = TANFANG__STORE__ELDER_FACT__KIND__KIND_CORRECT;
	f.effective_at = at;
	f.record_id = c->event_id;
	f.note = c->note;
	/* Keyed by the correction's own envelope: correcting twice is two facts. */
	struct registry_when when = change_when(w);
	tf_elder *now;
	r = elder_fact(w, elder_id, &f, when.tie, &now);
	if (r == -EEXIST) {
		set_status(w->job, S(DUPLICATE), "already corrected");
		return TF_E_DUPLICATE;
	}
	if (r == 0) {
		r = elder_changed(w, now);
		wire_free(WIRE_ELDER, now);
	}
	return r;
}

/* Who may revoke a key: an admin whose scope holds the key's visitor, if
 * that visitor is not an admin at or above them; anyone their own other
 * keys. Never the key that signs the request: a lone root key revoked by
 * mistake would lock the root admin out. A key that signs for nobody
 * (unknown, revoked, or its visitor gone) needs the root admin. */
static int revoke_scope(struct wctx *w, const uint8_t pk[32])
{
	if (memcmp(pk, w->job->env->signer.data, 32) == 0) {
		set_status(w->job, S(FORBIDDEN),
		           "a key cannot revoke itself: sign with another key of yours");
		return TF_E_FORBIDDEN;
	}
	tf_visitor *v;
	int r = registry_signer(w->txn, pk, &v);
	if (r == TF_E_SIGNER)
		return admin_scope(w, NULL, "");
	if (r < 0)
		return r;
	if (strcmp(v->id, w->signer->id) != 0) {
		r = admin_scope(w, v->area, v->area);
		if (r == 0)
			r = guard_admin(w, v, "revoking a key of");
	}
	wire_free(WIRE_VISITOR, v);
	return r;
}

/* PutVisitor, and each visitor of an ImportVisitors. */
static int put_visitor(struct wctx *w, const tf_visitor *v)
{
	char err[400];
	struct registry_when when = change_when(w);
	int r;

	tf_visitor *old;
	r = registry_get_visitor(w->txn, v->id, &old);
	if (r < 0 && r != -ENOENT)
		return r;
	bool exists = r == 0;
	r = admin_scope(w, exists ? old->area : NULL, v->area);
	if (r == 0 && exists)
		r = guard_admin(w, old, "changing");
	if (exists)
		wire_free(WIRE_VISITOR, old);
	/* Making an admin at or above oneself would make someone no one
	 * below the root can undo; the root admin may add root admins. */
	if (r == 0 && *w->signer->area)
		r = guard_admin(w, v, "making");
	if (r < 0)
		return r;
	bool role_changed = false;
	r = invalid(w, registry_put_visitor(w->txn, v, &when, &role_changed, err, sizeof err), err);
	if (r == 0 && role_changed)
		r = reschedule_assigned(w, v->id);
	return r;
}

/* ---- imports (issue 11, items 2 to 4) ---- */

/* Most problems an import lists (the reply stays well inside a frame). */
#define IMPORT_PROBLEMS_MAX 1000

/* One item of an import: applies item i in w->txn and writes its label
 * ("elder 3 of 120 (zlt-3)"). Returns 0, a refusal (status set) or a
 * store code. */
typedef int (*import_item_fn)(struct wctx *w, size_t i, void *ctx, char *label, size_t size);

/* Applies n items, each in a transaction of its own inside one for the
 * whole request: a refused item is undone and listed, and the items after
 * it are still checked, against the ones accepted before them (an
 * assignment needs the visitor the same file adds). Then the whole request
 * is undone if it only checks or any item was refused (all or nothing),
 * else kept. Every refusal comes back at once, once each, in the reply's
 * problems (issue 11, item 2; the reply is packed here). Returns 0 or a
 * store code. */
static int import_run(struct wctx *w, bool check_only, size_t n, import_item_fn fn, void *ctx,
                      const char *what)
{
	char **problems = calloc(IMPORT_PROBLEMS_MAX, sizeof *problems);
	if (!problems)
		return -ENOMEM;
	size_t np = 0, refused = 0;
	struct store_txn *outer = w->txn, *all;
	int r = store_txn_begin(w->ig->st, true, outer, &all);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct store_txn *t;
		if ((r = store_txn_begin(w->ig->st, true, all, &t)) < 0)
			break;
		w->txn = t;
		w->job->status = S(OK);
		char label[200];
		int pr = fn(w, i, ctx, label, sizeof label);
		w->txn = all;
		if (pr == 0) {
			r = store_txn_commit(t);
			continue;
		}
		store_txn_abort(t);
		if (w->job->status == S(OK) || (pr == TF_E_DUPLICATE && !check_only)) {
			r = pr; /* a failure of the store, or a resent change */
			break;
		}
		refused++;
		if (np < IMPORT_PROBLEMS_MAX &&
		    asprintf(&problems[np], "%s: %s", label, w->job->detail) >= 0)
			np++;
	}
	w->txn = outer;
	if (r == 0 && !check_only && !refused)
		r = store_txn_commit(all);
	else if (all)
		store_txn_abort(all);
	if (r == 0) {
		char detail[200];
		if (refused)
			snprintf(detail, sizeof detail, "%zu of %zu %s refused; nothing %s",
			         refused, n, what, check_only ? "stored" : "imported");
		else if (check_only)
			snprintf(detail, sizeof detail,
			         "all %zu %s can be imported; nothing stored", n, what);
		else
			snprintf(detail, sizeof detail, "imported %zu %s", n, what);
		set_status(w->job, refused ? S(INVALID) : S(OK), "%s", detail);
		if (refused || check_only) {
			tf_reply rep;
			wire_init(WIRE_REPLY, &rep);
			rep.status = w->job->status;
			rep.detail = detail;
			rep.ref.data = w->job->ref, rep.ref.len = ENVELOPE_REF_LEN;
			rep.problems = problems, rep.n_problems = np;
			r = wire_pack(WIRE_REPLY, &rep, &w->job->reply, &w->job->reply_len);
		}
	}
	for (size_t i = 0; i < np; i++)
		free(problems[i]);
	free(problems);
	return r;
}

/* An import's elders, and which of them it registers (not those it only
 * changes): what UndoImport takes back. */
struct import_elders {
	const Tanfang__V1__ImportElders *im;
	bool *made;
};

static int import_elder(struct wctx *w, size_t i, void *ctx, char *label, size_t size)
{
	struct import_elders *ie = ctx;
	const tf_elder *e = ie->im->elders[i];
	snprintf(label, size, "elder %zu of %zu (%s)", i + 1, ie->im->n_elders, e->id);
	tf_elder *old;
	int r = registry_get_elder(w->txn, e->id, &old);
	if (r == 0)
		wire_free(WIRE_ELDER, old);
	else if (r != -ENOENT)
		return r;
	ie->made[i] = r == -ENOENT;
	return put_elder(w, e);
}

/* Keeps the ids of the elders an import registered under the import's
 * ref (DB_IMPORTS), each NUL-terminated. */
static int remember_import(struct wctx *w, const struct import_elders *ie)
{
	size_t len = 0;
	for (size_t i = 0; i < ie->im->n_elders; i++)
		len += ie->made[i] ? strlen(ie->im->elders[i]->id) + 1 : 0;
	char *ids = malloc(len ? len : 1), *p = ids;
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < ie->im->n_elders; i++) {
		if (!ie->made[i])
			continue;
		size_t n = strlen(ie->im->elders[i]->id) + 1;
		memcpy(p, ie->im->elders[i]->id, n);
		p += n;
	}
	int r = store_put(w->txn, DB_IMPORTS, w->job->ref, ENVELOPE_REF_LEN, ids, len, 0);
	free(ids);
	return r;
}

static int apply_import(struct wctx *w)
{
	const Tanfang__V1__ImportElders *im = w->job->req->import_elders;
	struct import_elders ie = {im, calloc(im->n_elders ? im->n_elders : 1, sizeof(bool))};
	if (!ie.made)
		return -ENOMEM;
	int r = import_run(w, im->check_only, im->n_elders, import_elder, &ie, "elders");
	/* The reply's ref names a stored import for UndoImport. */
	if (r == 0 && !im->check_only && w->job->status == S(OK))
		r = remember_import(w, &ie);
	free(ie.made);
	return r;
}

/* EditElder: the named fields only, checked in scope before and after. */
static int apply_edit(struct wctx *w)
{
	const Tanfang__V1__EditElder *ed = w->job->req->edit_elder;
	bool moves = false;
	for (size_t i = 0; i < ed->n_fields; i++)
		moves |= strcmp(ed->fields[i], "area") == 0;
	int r = admin_elder_scope(w, ed->elder->id, moves ? ed->elder->area : NULL);
	if (r < 0)
		return r;
	char err[400];
	struct registry_when when = change_when(w);
	tf_elder *now = NULL;
	r = registry_edit_elder(w->txn, ed->elder, ed->fields, ed->n_fields, &when, &now, err,
	                        sizeof err);
	/* An edit can make it another elder's twin too (a name corrected to
	 * one already registered in the village, with the same birth date). */
	if (r == 0 && (r = twin_check(w, now)) < 0) {
		wire_free(WIRE_ELDER, now);
		return r;
	}
	return elder_change_done(w, r, err, now);
}

/* One elder off the register (RemoveElder, or one of UndoImport's). */
static int remove_one(struct wctx *w, const char *id, int reason, const char *note)
{
	int r = admin_elder_scope(w, id, NULL);
	if (r < 0)
		return r;
	char err[400];
	struct registry_when when = change_when(w);
	tf_elder *now = NULL;
	r = registry_remove_elder(w->txn, id, reason, note, &when, &now, err, sizeof err);
	return elder_change_done(w, r, err, now);
}

/* UndoImport: every elder the import registered, as entered in error; all
 * or nothing (the caller's transaction is undone on a refusal). */
static int apply_undo_import(struct wctx *w)
{
	const Tanfang__V1__UndoImport *u = w->job->req->undo_import;
	const void *v;
	size_t vl;
	int r = u->import_ref.len == ENVELOPE_REF_LEN
	            ? store_get(w->txn, DB_IMPORTS, u->import_ref.data, ENVELOPE_REF_LEN, &v, &vl)
	            : -ENOENT;
	if (r == -ENOENT) {
		set_status(
		    w->job, S(NOT_FOUND),
		    "no stored import has that reference (the 64 hex digits its reply gave)");
		return r;
	}
	if (r < 0)
		return r;
	/* The value lives in the map until this transaction writes: copy. */
	char *ids = malloc(vl ? vl : 1);
	if (!ids)
		return -ENOMEM;
	memcpy(ids, v, vl);
	size_t n = 0;
	for (size_t off = 0; r == 0 && off < vl; off += strlen(ids + off) + 1) {
		if (!memchr(ids + off, '\0', vl - off)) {
			r = TF_E_CORRUPT;
			break;
		}
		r = remove_one(w, ids + off,
		               TANFANG__V1__REMOVE_ELDER__REASON__REASON_ENTERED_IN_ERROR,
		               *u->note ? u->note : "import undone");
		if (r == TF_E_DUPLICATE)
			r = 0; /* removed already by hand */
		n += r == 0;
	}
	free(ids);
	if (r == 0)
		set_status(w->job, S(OK), "%zu elders of the import removed as entered in error",
		           n);
	return r;
}

/* ImportVisitors: the visitors, then one item per elder served, which
 * adds every visitor the file assigns to it at once (one request changes
 * an elder's lists once). */
struct pair {
	const char *elder, *visitor;
	bool neighbour;
	size_t asg; /* the assignment's index in the request */
};

struct visitors_import {
	const Tanfang__V1__ImportVisitors *iv;
	struct pair *pairs; /* sorted by elder, then assignment */
	size_t n_pairs;
	size_t *group; /* item k - n_visitors: pairs[group[k]] starts its elder's run */
	size_t n_groups;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->elder, y->elder);
	return c ? c : (x->asg > y->asg) - (x->asg < y->asg);
}

/* The elder's list (visitors or neighbours) with the run's additions.
 * Returns 0 (status set on a refusal) or a code. */
static int assign_run(struct wctx *w, const struct pair *run, size_t n, bool neighbour, bool second,
                      bool *changed)
{
	*changed = false;
	tf_elder *e;
	int r = registry_get_elder(w->txn, run[0].elder, &e);
	if (r == -ENOENT) {
		set_status(w->job, S(UNKNOWN_ELDER), "no elder with id %s", run[0].elder);
		return TF_E_NOELDER;
	}
	if (r < 0)
		return r;
	char **have = neighbour ? e->neighbours : e->visitors;
	size_t m = neighbour ? e->n_neighbours : e->n_visitors;
	char **ids = calloc(m + n + 1, sizeof *ids);
	if (!ids) {
		wire_free(WIRE_ELDER, e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m; i++)
		ids[i] = have[i];
	size_t k = m;
	for (size_t i = 0; i < n; i++) {
		if (run[i].neighbour != neighbour)
			continue;
		bool there = false;
		for (size_t j = 0; j < k && !there; j++)
			there = strcmp(ids[j], run[i].visitor) == 0;
		if (!there)
			ids[k++] = (char *)run[i].visitor;
	}
	if (k > m) {
		*changed = true;
		r = set_list_at(w, run[0].elder, ids, k, neighbour, second);
	}
	free(ids);
	wire_free(WIRE_ELDER, e);
	return r;
}

static int import_visitor(struct wctx *w, size_t i, void *ctx, char *label, size_t size)
{
	struct visitors_import *x = ctx;
	const Tanfang__V1__ImportVisitors *iv = x->iv;
	if (i < iv->n_visitors) {
		snprintf(label, size, "visitor %zu of %zu (%s)", i + 1, iv->n_visitors,
		         iv->visitors[i]->id);
		return put_visitor(w, iv->visitors[i]);
	}
	size_t g = i - iv->n_visitors;
	const struct pair *run = x->pairs + x->group[g];
	size_t end = g + 1 < x->n_groups ? x->group[g + 1] : x->n_pairs;
	size_t n = end - x->group[g];
	/* Named by its last assignment: the one that overflows a list. */
	const struct pair *last = &run[n - 1];
	snprintf(label, size, "assignment %zu of %zu (visitor %s, elder %s)", last->asg + 1,
	         iv->n_assignments, last->visitor, last->elder);
	for (size_t k = 0; k < n; k++) {
		tf_visitor *v;
		int r = registry_get_visitor(w->txn, run[k].visitor, &v);
		if (r == -ENOENT) {
			snprintf(label, size, "assignment %zu of %zu (visitor %s, elder %s)",
			         run[k].asg + 1, iv->n_assignments, run[k].visitor, run[k].elder);
			set_status(w->job, S(NOT_FOUND), "no visitor with id %s", run[k].visitor);
			return TF_E_INVALID;
		}
		if (r < 0)
			return r;
		wire_free(WIRE_VISITOR, v);
	}
	bool changed;
	int r = assign_run(w, run, n, false, false, &changed);
	if (r == 0)
		r = assign_run(w, run, n, true, changed, &changed);
	return r;
}

static int apply_import_visitors(struct wctx *w)
{
	struct visitors_import x = {.iv = w->job->req->import_visitors};
	size_t n = 0;
	for (size_t i = 0; i < x.iv->n_assignments; i++)
		n += x.iv->assignments[i]->n_elder_ids;
	x.pairs = calloc(n + 1, sizeof *x.pairs);
	x.group = calloc(n + 1, sizeof *x.group);
	int r = x.pairs && x.group ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < x.iv->n_assignments; i++) {
		const Tanfang__V1__ImportAssignment *a = x.iv->assignments[i];
		for (size_t j = 0; j < a->n_elder_ids; j++)
			x.pairs[x.n_pairs++] =
			    (struct pair){a->elder_ids[j], a->visitor_id, a->neighbour, i};
	}
	if (r == 0) {
		qsort(x.pairs, x.n_pairs, sizeof *x.pairs, cmp_pair);
		for (size_t i = 0; i < x.n_pairs; i++)
			if (i == 0 || strcmp(x.pairs[i].elder, x.pairs[i - 1].elder) != 0)
				x.group[x.n_groups++] = i;
		r = import_run(w, x.iv->check_only, x.iv->n_visitors + x.n_groups, import_visitor,
		               &x, "visitors and assignments");
	}
	free(x.pairs);
	free(x.group);
	return r;
}

static int apply_registry(struct wctx *w)
{
	const tf_request *q = w->job->req;
	char err[400];
	struct registry_when when = change_when(w);
	int r;
	switch (q->op_case) {
	case OP(PUT_AREA): {
		const tf_area *a = q->put_area->area;
		/* A new area must hang from a parent in scope; an existing one
		 * must itself be in scope now, and its parent after. */
		tf_area *old;
		r = registry_get_area(w->txn, a->code, &old);
		if (r < 0 && r != -ENOENT)
			return r;
		bool exists = r == 0;
		bool moved = exists && strcmp(old->parent, a->parent) != 0;
		if (exists)
			wire_free(WIRE_AREA, old);
		r = admin_scope(w, exists ? a->code : NULL, *a->parent ? a->parent : a->code);
		if (r < 0)
			return r;
		r = invalid(w, registry_put_area(w->txn, a, &when, err, sizeof err), err);
		/* An area moved under another parent changes which supervisors'
		 * lists its elders' duties belong to, and which scopes hold its
		 * elders: re-index every duty and the area index (rare:
		 * administrative boundaries change a few times a decade). */
		if (r == 0 && moved)
			r = schedule_rebuild(w->txn, w->ig->pol, w->now);
		if (r == 0 && moved)
			r = registry_area_index_all(w->txn);
		return r;
	}
	case OP(PUT_VISITOR): return put_visitor(w, q->put_visitor->visitor);
	case OP(PUT_ELDER): return put_elder(w, q->put_elder->elder);
	case OP(IMPORT_ELDERS): return apply_import(w);
	case OP(IMPORT_VISITORS): return apply_import_visitors(w);
	case OP(SET_NEIGHBOURS):
		return apply_set_list(w, q->set_neighbours->elder_id, q->set_neighbours->neighbours,
		                      q->set_neighbours->n_neighbours, true);
	case OP(SET_VISITORS):
		return apply_set_list(w, q->set_visitors->elder_id, q->set_visitors->visitors,
		                      q->set_visitors->n_visitors, false);
	case OP(CORRECT_EVENT): return apply_correct(w);
	case OP(EDIT_ELDER): return apply_edit(w);
	case OP(REMOVE_ELDER):
		return remove_one(w, q->remove_elder->elder_id, q->remove_elder->reason,
		                  q->remove_elder->note);
	case OP(UNDO_IMPORT): return apply_undo_import(w);
	case OP(FILE_REPORT): {
		/* The filing's envelope is the log's next entry (appended after
		 * it, in this transaction): the filing keeps its number. */
		uint64_t head;
		uint8_t hash[AUDITLOG_HASH_LEN];
		r = auditlog_head(w->txn, &head, hash);
		if (r == 0)
			r = query_file_report(w->txn, w->ig->pol, w->signer, q->file_report, w->now,
			                      head + 1, w->job->detail, sizeof w->job->detail,
			                      &w->job->status);
		return r;
	}
	case OP(ENROL_KEY): {
		tf_visitor *v;
		r = registry_get_visitor(w->txn, q->enrol_key->visitor_id, &v);
		if (r == -ENOENT) {
			set_status(w->job, S(NOT_FOUND), "visitor %s does not exist",
			           q->enrol_key->visitor_id);
			return r;
		}
		if (r < 0)
			return r;
		r = admin_scope(w, NULL, v->area);
		/* Another key for oneself (a new phone) is always allowed; the
		 * root admin may give a key to any admin (it could make one). */
		if (r == 0 && *w->signer->area && strcmp(v->id, w->signer->id) != 0)
			r = guard_admin(w, v, "enrolling a key for");
		wire_free(WIRE_VISITOR, v);
		if (r < 0)
			return r;
		r = registry_enrol_key(w->txn, q->enrol_key->public_key.data,
		                       q->enrol_key->visitor_id, w->now, err, sizeof err);
		if (r == -EEXIST) {
			set_status(w->job, S(DUPLICATE), "key already enrolled for %s",
			           q->enrol_key->visitor_id);
			return TF_E_DUPLICATE;
		}
		return invalid(w, r, err);
	}
	case OP(REVOKE_KEY): {
		r = revoke_scope(w, q->revoke_key->public_key.data);
		if (r < 0)
			return r;
		r = registry_revoke_key(w->txn, q->revoke_key->public_key.data, w->now);
		if (r == -ENOENT)
			set_status(w->job, S(NOT_FOUND), "no such key");
		return r;
	}
	default: set_status(w->job, S(INVALID), "operation not supported"); return TF_E_INVALID;
	}
}

/* The dispatcher's calls. A fetch first sweeps for new alerts, so alerts
 * appear when the dispatcher runs, however long the daemon was idle. */
static int apply_alerts(struct wctx *w)
{
	int role = w->signer->role;
	if (role != TANFANG__V1__ROLE__ROLE_DISPATCHER && role != TANFANG__V1__ROLE__ROLE_ADMIN) {
		set_status(w->job, S(FORBIDDEN),
		           "only a dispatcher key may fetch or acknowledge alerts");
		return TF_E_FORBIDDEN;
	}
	const tf_request *q = w->job->req;
	if (q->op_case == OP(ALERTS_ACK)) {
		size_t done;
		int r = alert_ack(w->txn, q->alerts_ack->ids, q->alerts_ack->n_ids,
		                  q->alerts_ack->failed, q->alerts_ack->n_failed, &done);
		if (r == 0)
			set_status(w->job, S(OK), "%zu delivered, %zu released for retry", done,
			           q->alerts_ack->n_failed);
		return r;
	}
	size_t made;
	int r = alert_sweep(w->txn, &w->ig->cfg, w->now, &made);
	if (r == 0)
		r = alert_lease(w->txn, q->alerts_pending->limit, q->alerts_pending->lease_s,
		                w->now, w->job->ref, &w->job->reply, &w->job->reply_len);
	return r;
}

static void forget_signers(struct ingest *ig)
{
	for (size_t i = 0; i < ig->n_signers; i++)
		wire_free(WIRE_VISITOR, ig->signers[i].visitor);
	ig->n_signers = ig->next_signer = 0;
}

/* The enrolled, unrevoked visitor holding key pk, as of w's transaction;
 * *out belongs to the memo. TF_E_SIGNER if none, or a store error. */
static int signer_of(struct wctx *w, const uint8_t pk[32], tf_visitor **out)
{
	struct ingest *ig = w->ig;
	for (size_t i = 0; i < ig->n_signers; i++)
		if (memcmp(ig->signers[i].pk, pk, 32) == 0) {
			*out = ig->signers[i].visitor;
			return 0;
		}
	int r = registry_signer(w->txn, pk, out);
	if (r < 0)
		return r;
	/* Round robin once full: devices come and go in bursts. */
	size_t i;
	if (ig->n_signers < SIGNER_MEMO) {
		i = ig->n_signers++;
	} else {
		i = ig->next_signer;
		ig->next_signer = (i + 1) % SIGNER_MEMO;
		wire_free(WIRE_VISITOR, ig->signers[i].visitor);
	}
	memcpy(ig->signers[i].pk, pk, 32);
	ig->signers[i].visitor = *out;
	return 0;
}

/* Requests that never change keys or visitors: the signer memo holds. */
static bool keeps_signers(const tf_request *q)
{
	switch (q->op_case) {
	case OP(VISIT):
	case OP(CARE_EVENT):
	case OP(ALERTS_PENDING):
	case OP(ALERTS_ACK): return true;
	default: return false;
	}
}

static int apply(struct wctx *w)
{
	int r = signer_of(w, w->job->env->signer.data, &w->signer);
	if (r == TF_E_SIGNER) {
		set_status(w->job, S(UNKNOWN_SIGNER), "key not enrolled or revoked");
		return r;
	}
	if (r < 0)
		return r;
	/* A gateway's key opens the transport for browsers' envelopes; it
	 * must not be a way to sign anything itself. */
	if (w->signer->role == TANFANG__V1__ROLE__ROLE_GATEWAY) {
		set_status(w->job, S(FORBIDDEN),
		           "a gateway key only carries requests that others signed");
		w->signer = NULL;
		return TF_E_FORBIDDEN;
	}
	switch (w->job->req->op_case) {
	case OP(VISIT): r = apply_visit(w); break;
	case OP(CARE_EVENT): r = apply_event(w); break;
	case OP(ALERTS_PENDING):
	case OP(ALERTS_ACK): r = apply_alerts(w); break;
	default: r = apply_registry(w); break;
	}
	/* Registry changes are logged too: the log holds every accepted envelope
	 * (a check-only import changed nothing). */
	const tf_request *q = w->job->req;
	bool check = (q->op_case == OP(IMPORT_ELDERS) && q->import_elders->check_only) ||
	             (q->op_case == OP(IMPORT_VISITORS) && q->import_visitors->check_only) ||
	             ((q->op_case == OP(IMPORT_ELDERS) || q->op_case == OP(IMPORT_VISITORS)) &&
	              w->job->status != S(OK));
	if (r == 0 && !check && w->job->req->op_case != OP(VISIT) &&
	    w->job->req->op_case != OP(CARE_EVENT))
		r = auditlog_append(w->txn, w->job->frame, w->job->frame_len, NULL);
	w->signer = NULL;
	return r;
}

/* Visits and care events are kept by record id, which makes a resend
 * harmless; every other write is kept by its envelope (replay.h). */
static bool by_envelope(const struct job *j)
{
	return j->req->op_case != OP(VISIT) && j->req->op_case != OP(CARE_EVENT);
}

/* A write seen before (issue 8, item 2): answered without effect. Returns
 * 1 if so (status set), 0 if not, or a store error. */
static int replayed(struct store_txn *txn, struct job *j)
{
	if (!by_envelope(j))
		return 0;
	int r = replay_write_seen(txn, j->req->sent_at_ms, j->ref);
	if (r == -EEXIST) {
		set_status(j, S(REPLAYED),
		           "this signed request was already received; it had its effect once");
		return 1;
	}
	return r;
}

/* Remembers a write that had its effect. A refused one had none: sent
 * again (its prerequisite arrived meanwhile, as when a device's envelopes
 * arrive out of order) it may still take effect, once. */
static int remember(struct store_txn *txn, const struct job *j)
{
	if (!by_envelope(j) || j->status != S(OK))
		return 0;
	return replay_write_mark(txn, j->req->sent_at_ms, j->ref);
}

/* Writes seen are forgotten a few at a time, once the skew check refuses
 * them anyway (twice the skew: their sent_at may be ahead of the clock). */
#define SEEN_PRUNE_PER_BATCH 64

/* A full store is refused again and again while devices resend: one
 * warning a minute, with the count of refusals since the last one. */
#define FULL_LOG_MS 60000

static void note_full(struct ingest *ig, int code, size_t n)
{
	int64_t now = clock_mono_ms();
	ig->full_quiet += n;
	if (ig->full_logged_ms && now - ig->full_logged_ms < FULL_LOG_MS)
		return;
	log_warnx("%lu write request(s) refused with STATUS_STORE_FULL%s: %s", ig->full_quiet,
	          ig->read_only ? " (read-only: the policy is not installed)" : "",
	          ingest_full_text(code));
	ig->full_logged_ms = now;
	ig->full_quiet = 0;
}

/* Why a job was not stored, in its reply. */
static void not_stored(struct job *j, int code)
{
	if (store_full(code))
		set_status(j, S(STORE_FULL), "not stored: %s", ingest_full_text(code));
	else
		set_status(j, code_status(code), "not stored: %s", tf_strerror(code));
}

/* Applies the jobs in one write transaction and commits it. A record
 * (visit, care event) is applied on that transaction itself unless nested;
 * any other request always in a nested one, since it may refuse after
 * writing. Returns 0 or the batch's store error; *redo when, not nested, a
 * record failed after its first write: nothing was committed, and the
 * caller writes the batch again nested. */
static int write_jobs(struct ingest *ig, struct job **jobs, size_t n, bool nested, bool *redo)
{
	struct store_txn *txn;
	int r = store_txn_begin(ig->st, true, NULL, &txn);
	/* Another process wrote since our last commit (tanfangd recover-admin
	 * on a running daemon): what the memo holds may be out of date. */
	if (r == 0 && store_txn_id(txn) != ig->signers_txn + 1)
		forget_signers(ig);
	int64_t now = clock_now();
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct job *j = jobs[i];
		struct wctx w = {.ig = ig, .job = j, .now = now};
		j->status = S(OK);
		j->detail[0] = '\0';
		j->n_flags = 0;
		free(j->reply); /* from a pass that was not committed */
		j->reply = NULL;
		int seen = replayed(txn, j);
		if (seen) {
			if (seen < 0)
				r = seen;
			continue;
		}
		bool own = nested || by_envelope(j);
		int cr = own ? store_txn_begin(ig->st, true, txn, &w.txn) : 0;
		if (!own)
			w.txn = txn;
		if (cr == 0) {
			cr = apply(&w);
			if (own && cr == 0)
				cr = store_txn_commit(w.txn);
			else if (own)
				store_txn_abort(w.txn);
		}
		if (!keeps_signers(j->req))
			forget_signers(ig);
		if (cr < 0 && !own && w.wrote) {
			*redo = true;
			forget_signers(ig);
			store_txn_abort(txn);
			return cr;
		}
		if (cr < 0) {
			free(j->reply);
			j->reply = NULL;
		}
		/* A refusal already set its status; a store failure has not. */
		if (cr < 0 && (j->status == S(OK) || j->status == S(DUPLICATE)) &&
		    cr != TF_E_DUPLICATE)
			not_stored(j, cr);
		if (cr < 0 && store_full(cr))
			note_full(ig, cr, 1);
		else if (cr < 0 && code_status(cr) == S(INTERNAL))
			log_warnx("request failed: %s", tf_strerror(cr));
		r = remember(txn, j);
	}
	if (r == 0)
		r = replay_write_prune(txn, clock_now_ms() - 2 * ig->cfg.max_skew_s * 1000,
		                       SEEN_PRUNE_PER_BATCH);
	uint64_t id = store_txn_id(txn);
	if (r == 0)
		r = store_txn_commit(txn);
	else
		store_txn_abort(txn);
	if (r == 0)
		ig->signers_txn = id;
	return r;
}

int ingest_write_batch(struct ingest *ig, struct job **jobs, size_t n)
{
	if (ingest_policy_pending(ig))
		(void)ingest_retry_policy(ig);
	if (ig->read_only) {
		/* Which policy the stored duties follow is not settled: writing
		 * now would compute duties under the wrong one. */
		for (size_t i = 0; i < n; i++) {
			set_status(
			    jobs[i], S(STORE_FULL),
			    "not stored: tanfangd is read-only until its policy is installed, "
			    "and it does not fit: %s",
			    ingest_full_text(ig->pending_err));
			jobs[i]->n_flags = 0;
			free(jobs[i]->reply);
			jobs[i]->reply = NULL;
		}
		note_full(ig, ig->pending_err, n);
		return ig->pending_err;
	}
	/* First with no nested transaction for records, each applied on the
	 * batch's own; should one fail after its first write, the batch is
	 * written again from the start with a nested transaction per request. */
	int r;
	for (bool nested = false;; nested = true) {
		bool redo = false;
		r = write_jobs(ig, jobs, n, nested, &redo);
		if (!redo)
			break;
		log_info("a record failed after its first write; the batch of %zu is written "
		         "again, each request in its own transaction",
		         n);
	}
	if (r < 0) {
		/* Nothing of the batch is durable: no reply may claim otherwise,
		 * and no signer read from it may be trusted. */
		forget_signers(ig);
		if (store_full(r))
			note_full(ig, r, n);
		else
			log_warnx("batch of %zu not committed: %s", n, tf_strerror(r));
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->status == S(OK) || jobs[i]->status == S(DUPLICATE) ||
			    jobs[i]->status == 0) {
				not_stored(jobs[i], r);
				jobs[i]->n_flags = 0;
			}
		for (size_t i = 0; i < n; i++) {
			/* A lease that was not committed was never given. */
			free(jobs[i]->reply);
			jobs[i]->reply = NULL;
		}
	}
	return r;
}

static int pack_reply(int status, const char *detail, const uint8_t *ref, const char *const *flags,
                      size_t n_flags, uint8_t **out, size_t *out_len)
{
	tf_reply rep;
	wire_init(WIRE_REPLY, &rep);
	rep.status = status;
	rep.detail = (char *)detail;
	if (ref) {
		rep.ref.data = (uint8_t *)ref;
		rep.ref.len = ENVELOPE_REF_LEN;
	}
	rep.flags = (char **)flags;
	rep.n_flags = n_flags;
	return wire_pack(WIRE_REPLY, &rep, out, out_len);
}

int job_reply(const struct job *job, uint8_t **out, size_t *out_len)
{
	if (job->reply) {
		uint8_t *b = malloc(job->reply_len ? job->reply_len : 1);
		if (!b)
			return -ENOMEM;
		memcpy(b, job->reply, job->reply_len);
		*out = b;
		*out_len = job->reply_len;
		return 0;
	}
	return pack_reply(job->status ? job->status : S(INTERNAL), job->detail,
	                  job->has_ref ? job->ref : NULL, job->flags, job->n_flags, out, out_len);
}

int ingest_error_reply(int status, const char *detail, uint8_t **out, size_t *out_len)
{
	return pack_reply(status, detail, NULL, NULL, 0, out, out_len);
}

int ingest_bootstrap(struct store *st, const uint8_t pk[32])
{
	struct store_txn *txn;
	int r = store_txn_begin(st, true, NULL, &txn);
	if (r < 0)
		return r;
	char err[256];
	tf_visitor *old;
	r = registry_get_visitor(txn, REGISTRY_ADMIN_ID, &old);
	if (r == 0) {
		wire_free(WIRE_VISITOR, old);
		store_txn_abort(txn);
		return -EEXIST;
	}
	tf_visitor admin;
	wire_init(WIRE_VISITOR, &admin);
	admin.id = REGISTRY_ADMIN_ID;
	admin.name = "Administrator";
	admin.role = TANFANG__V1__ROLE__ROLE_ADMIN;
	admin.area = "";
	struct registry_when when = {.at = 0, .received = clock_now(), .signer = REGISTRY_ADMIN_ID};
	r = registry_put_visitor(txn, &admin, &when, NULL, err, sizeof err);
	if (r == 0)
		r = registry_enrol_key(txn, pk, REGISTRY_ADMIN_ID, clock_now(), err, sizeof err);
	/* A new store is born with the timeline: nothing to migrate later. */
	bool migrated;
	if (r == 0)
		r = timeline_migrate(txn, &migrated);
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

int ingest_recover_admin(struct store *st, const uint8_t pk[32], char *err, size_t errlen)
{
	struct store_txn *txn;
	int r = store_txn_begin(st, true, NULL, &txn);
	if (r < 0)
		return r;
	tf_visitor *old = NULL;
	r = registry_get_visitor(txn, REGISTRY_ADMIN_ID, &old);
	if (r < 0 && r != -ENOENT)
		goto out;
	tf_visitor admin;
	wire_init(WIRE_VISITOR, &admin);
	admin.id = REGISTRY_ADMIN_ID;
	admin.name = old && *old->name ? old->name : "Administrator";
	admin.contact = old ? old->contact : "";
	admin.role = TANFANG__V1__ROLE__ROLE_ADMIN;
	admin.area = "";
	/* Effective now: the history keeps what the admin was before. */
	int64_t now = clock_now();
	struct registry_when when = {.at = now, .received = now, .signer = "recover-admin"};
	tie_signed_at(when.tie, clock_now_ms());
	bool same = old && old->role == admin.role && !*old->area;
	r = same ? 0 : registry_put_visitor(txn, &admin, &when, NULL, err, errlen);
	if (r == TF_E_DUPLICATE)
		r = 0;
	if (r == 0) {
		r = registry_enrol_key(txn, pk, REGISTRY_ADMIN_ID, now, err, errlen);
		if (r == -EEXIST)
			r = 0;
	}
out:
	wire_free(WIRE_VISITOR, old);
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}
