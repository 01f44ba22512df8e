/* The field client library (include/tanfang/tanfang.h) over the core
 * modules: keys for the device identity, wire + envelope to build and sign
 * records, outbox to keep them, rpc to deliver them. */
#include "tanfang/tanfang.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "keys.h"
#include "outbox.h"
#include "registry.h"
#include "rpc.h"
#include "store.h"
#include "wire.h"

/* The public header repeats a few numbers so it needs no internal header;
 * keep them honest. */
_Static_assert(TANFANG_E_MALFORMED == TF_E_MALFORMED, "code");
_Static_assert(TANFANG_E_SIGNER == TF_E_SIGNER, "code");
_Static_assert(TANFANG_E_MAPFULL == TF_E_MAPFULL, "code");
_Static_assert(TANFANG_E_TIMEOUT == TF_E_TIMEOUT, "code");
_Static_assert(TANFANG_E_CORRUPT == TF_E_CORRUPT, "code");
_Static_assert(TANFANG_E_FUTURE == TF_E_FUTURE, "code");
_Static_assert(TANFANG_ID_LEN == OUTBOX_ID_LEN, "id");
_Static_assert((int)TANFANG_VISIT_DOOR == TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR, "enum");
_Static_assert((int)TANFANG_VISIT_PARTY_MEMBER == TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER,
               "enum");
_Static_assert((int)TANFANG_FINDING_URGENT == TANFANG__V1__FINDING__FINDING_URGENT, "enum");
_Static_assert((int)TANFANG_AID_EMERGENCY == TANFANG__V1__AID__AID_EMERGENCY, "enum");
_Static_assert((int)TANFANG_EVENT_DECEASED ==
                   TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DECEASED,
               "enum");
_Static_assert((int)TANFANG_SEVERITY_URGENT == TANFANG__V1__SEVERITY__SEVERITY_URGENT, "enum");

/* The daemon's limits (core/ingest.c check_visit): checked here too, so a
 * record it would refuse as malformed is refused while it can be fixed. */
#define NOTE_MAX         4000
#define DURATION_MAX_MIN (24 * 60)

#define KEY_FILE   "device.key"
#define OUTBOX_DIR "outbox"

struct tanfang {
	struct keypair kp;
	struct outbox *ob;
};

/* ---- folder and key ---- */

static int join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/* mkdir -p with mode 0700 for each level it creates. */
static int mkdir_p(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);
	if (len == 0)
		return -EINVAL;
	if (len >= sizeof path)
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		path[i] = c;
	}
	struct stat sb;
	if (stat(dir, &sb) < 0)
		return -errno;
	return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

int tanfang_keygen(const char *dir, char pk_hex[TANFANG_PK_HEX_LEN])
{
	if (!dir)
		return -EINVAL;
	int r = envelope_init();
	if (r < 0)
		return r;
	char path[4096];
	r = join(path, sizeof path, dir, KEY_FILE);
	if (r < 0)
		return r;
	r = mkdir_p(dir);
	if (r < 0)
		return r;
	struct keypair kp;
	r = keys_generate(&kp);
	if (r == 0)
		r = keys_save(path, &kp);
	if (r == 0)
		keys_pk_hex(&kp, pk_hex);
	sodium_memzero(&kp, sizeof kp);
	return r;
}

int tanfang_open(const char *dir, struct tanfang **out)
{
	*out = NULL;
	if (!dir)
		return -EINVAL;
	int r = envelope_init();
	if (r < 0)
		return r;
	char kpath[4096], opath[4096];
	r = join(kpath, sizeof kpath, dir, KEY_FILE);
	if (r == 0)
		r = join(opath, sizeof opath, dir, OUTBOX_DIR);
	if (r < 0)
		return r;
	struct tanfang *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	r = keys_load(kpath, &h->kp);
	if (r == 0)
		r = outbox_open(opath, &h->ob);
	if (r < 0) {
		tanfang_close(h);
		return r;
	}
	*out = h;
	return 0;
}

void tanfang_close(struct tanfang *h)
{
	if (!h)
		return;
	outbox_close(h->ob);
	sodium_memzero(&h->kp, sizeof h->kp);
	free(h);
}

void tanfang_pubkey_hex(const struct tanfang *h, char out[TANFANG_PK_HEX_LEN])
{
	keys_pk_hex(&h->kp, out);
}

/* ---- recording ---- */

/* Packs req, checks it the way the daemon will decode it (UTF-8, enums),
 * signs it, and commits it to the outbox; then copies id to id_out (may be
 * NULL). Returns 0 or a negative code. */
static int seal_and_keep(struct tanfang *h, tf_request *req, const uint8_t id[TANFANG_ID_LEN],
                         int64_t now_ms, uint8_t id_out[TANFANG_ID_LEN])
{
	uint8_t *body = NULL, *frame = NULL;
	size_t blen, flen;
	req->sent_at_ms = now_ms;
	int r = wire_pack(WIRE_REQUEST, req, &body, &blen);
	if (r < 0)
		return r;
	/* A record the daemon would call malformed must fail here, where the
	 * person can still fix it, not days later in the refused list. */
	void *check;
	r = wire_unpack(WIRE_REQUEST, body, blen, &check);
	if (r == TF_E_MALFORMED)
		r = -EINVAL;
	if (r < 0)
		goto out;
	wire_free(WIRE_REQUEST, check);
	r = envelope_seal(h->kp.sk, body, blen, &frame, &flen);
	if (r < 0)
		goto out;
	r = outbox_add(h->ob, id, now_ms, frame, flen);
	if (r == 0 && id_out)
		memcpy(id_out, id, TANFANG_ID_LEN);
out:
	free(body);
	free(frame);
	return r;
}

/* The recording time, also the signed sent_at: now, but after the newest
 * pending entry, so the outbox's time-prefixed keys keep recording order
 * when records fall in the same millisecond. Not when the newest entry is
 * far ahead (a clock that was wrong and got corrected): following it would
 * date every new record in the future, which the daemon refuses. */
#define ORDER_BUMP_MAX_MS 60000
#define FUTURE_SKEW_S     600

/* The start of every record: its time (above) and its id, the given one or
 * a random one. Returns 0 or a negative code. */
static int record_start(struct tanfang *h, bool has_id, const uint8_t given[TANFANG_ID_LEN],
                        uint8_t id[TANFANG_ID_LEN], int64_t *now_ms)
{
	int64_t last;
	int r = outbox_last_ms(h->ob, &last);
	if (r < 0)
		return r;
	*now_ms = clock_now_ms();
	if (*now_ms <= last && last - *now_ms < ORDER_BUMP_MAX_MS)
		*now_ms = last + 1;
	if (has_id)
		memcpy(id, given, TANFANG_ID_LEN);
	else
		randombytes_buf(id, TANFANG_ID_LEN);
	return 0;
}

/* 0 (now) or a time the daemon takes (2000 to 2100, clock.h): a record
 * it would refuse as malformed is not signed and kept (issue 8, item 6). */
static bool time_ok(int64_t t)
{
	return t == 0 || clock_time_ok(t);
}

static bool note_ok(const char *note)
{
	return !note || strlen(note) <= NOTE_MAX;
}

static bool finding_ok(const struct tanfang_assessment *a)
{
	return (int)a->finding >= TANFANG_FINDING_NONE && a->finding <= TANFANG_FINDING_URGENT &&
	       note_ok(a->note);
}

/* An Assessment only when something was assessed or noted: proto3 leaves
 * an absent message distinguishable from "ok". */
static Tanfang__V1__Assessment *fill_assessment(Tanfang__V1__Assessment *msg,
                                                const struct tanfang_assessment *a)
{
	if (a->finding == TANFANG_FINDING_NONE && (!a->note || !*a->note))
		return NULL;
	Tanfang__V1__Assessment init = TANFANG__V1__ASSESSMENT__INIT;
	*msg = init;
	msg->finding = (Tanfang__V1__Finding)a->finding;
	msg->note = (char *)(a->note ? a->note : "");
	return msg;
}

static bool location_ok(const struct tanfang_visit *v)
{
	if (!v->has_location)
		return true;
	return isfinite(v->lat) && isfinite(v->lon) && isfinite(v->accuracy_m) && v->lat >= -90 &&
	       v->lat <= 90 && v->lon >= -180 && v->lon <= 180 && v->accuracy_m >= 0 &&
	       v->accuracy_m <= 100000;
}

int tanfang_record_visit(struct tanfang *h, const struct tanfang_visit *v,
                         uint8_t id_out[TANFANG_ID_LEN])
{
	if (!v->elder_id || !registry_id_valid(v->elder_id) || v->kind < TANFANG_VISIT_DOOR ||
	    v->kind > TANFANG_VISIT_PARTY_MEMBER || !time_ok(v->visited_at) || !location_ok(v) ||
	    v->duration_min > DURATION_MAX_MIN || !note_ok(v->note) ||
	    !finding_ok(&v->basic_living) || !finding_ok(&v->safety_risk) ||
	    !finding_ok(&v->family_support) || !finding_ok(&v->care_protection))
		return -EINVAL;
	uint32_t valid_needs = 0;
	for (int a = TANFANG_AID_MEALS; a <= TANFANG_AID_EMERGENCY; a++)
		valid_needs |= TANFANG_AID_BIT(a);
	if (v->needs & ~valid_needs)
		return -EINVAL;

	int64_t now_ms;
	uint8_t id[TANFANG_ID_LEN];
	int r = record_start(h, v->has_id, v->id, id, &now_ms);
	if (r < 0)
		return r;

	/* The daemon's default skew: a record dated later is refused there,
	 * so it is refused here, before it is signed and kept (issue 7). */
	if (v->visited_at > now_ms / 1000 + FUTURE_SKEW_S)
		return TANFANG_E_FUTURE;
	tf_visit visit;
	wire_init(WIRE_VISIT, &visit);
	visit.id.data = id;
	visit.id.len = sizeof id;
	visit.elder_id = (char *)v->elder_id;
	visit.kind = (Tanfang__V1__VisitKind)v->kind;
	visit.visited_at = v->visited_at ? v->visited_at : now_ms / 1000;
	visit.has_location = v->has_location;
	if (v->has_location) {
		visit.lat = v->lat;
		visit.lon = v->lon;
		visit.accuracy_m = v->accuracy_m;
	}
	visit.duration_min = v->duration_min;
	Tanfang__V1__Assessment as[4];
	visit.basic_living = fill_assessment(&as[0], &v->basic_living);
	visit.safety_risk = fill_assessment(&as[1], &v->safety_risk);
	visit.family_support = fill_assessment(&as[2], &v->family_support);
	visit.care_protection = fill_assessment(&as[3], &v->care_protection);
	Tanfang__V1__Aid needs[TANFANG_AID_EMERGENCY];
	size_t n = 0;
	for (int a = TANFANG_AID_MEALS; a <= TANFANG_AID_EMERGENCY; a++)
		if (v->needs & TANFANG_AID_BIT(a))
			needs[n++] = (Tanfang__V1__Aid)a;
	visit.n_needs = n;
	visit.needs = n ? needs : NULL;
	visit.follow_up = v->follow_up;
	visit.note = (char *)(v->note ? v->note : "");

	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req.visit = &visit;
	return seal_and_keep(h, &req, id, now_ms, id_out);
}

int tanfang_record_event(struct tanfang *h, const struct tanfang_event *e,
                         uint8_t id_out[TANFANG_ID_LEN])
{
	if (!e->elder_id || !registry_id_valid(e->elder_id) || !note_ok(e->note) ||
	    e->type < TANFANG_EVENT_FALL || e->type > TANFANG_EVENT_DECEASED ||
	    e->severity < TANFANG_SEVERITY_INFO || e->severity > TANFANG_SEVERITY_URGENT ||
	    (int)e->aid < TANFANG_AID_NONE || e->aid > TANFANG_AID_EMERGENCY ||
	    !time_ok(e->occurred_at))
		return -EINVAL;
	int64_t now_ms;
	uint8_t id[TANFANG_ID_LEN];
	int r = record_start(h, e->has_id, e->id, id, &now_ms);
	if (r < 0)
		return r;

	if (e->occurred_at > now_ms / 1000 + FUTURE_SKEW_S)
		return TANFANG_E_FUTURE;
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = id;
	ev.id.len = sizeof id;
	ev.elder_id = (char *)e->elder_id;
	ev.type = (Tanfang__V1__CareEventType)e->type;
	ev.severity = (Tanfang__V1__Severity)e->severity;
	ev.occurred_at = e->occurred_at ? e->occurred_at : now_ms / 1000;
	ev.aid = (Tanfang__V1__Aid)e->aid;
	ev.note = (char *)(e->note ? e->note : "");

	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT;
	req.care_event = &ev;
	return seal_and_keep(h, &req, id, now_ms, id_out);
}

/* ---- reading stored envelopes back ---- */

/* What a stored frame holds, for listings. Fields point into *req; free
 * with wire_free(WIRE_REQUEST). Returns 0 or a negative code. */
struct frame_info {
	tf_envelope *env;
	tf_request *req;
	const char *what;
	const char *elder_id;
	int64_t sent_at_ms;
};

static int frame_read(const uint8_t *frame, size_t len, struct frame_info *fi)
{
	fi->env = NULL;
	fi->req = NULL;
	fi->what = "?";
	fi->elder_id = "";
	fi->sent_at_ms = 0;
	int r = wire_unpack(WIRE_ENVELOPE, frame, len, (void **)&fi->env);
	if (r < 0)
		return r;
	r = wire_unpack(WIRE_REQUEST, fi->env->body.data, fi->env->body.len, (void **)&fi->req);
	if (r < 0)
		return r;
	fi->sent_at_ms = fi->req->sent_at_ms;
	if (fi->req->op_case == TANFANG__V1__REQUEST__OP_VISIT) {
		fi->what = "visit";
		fi->elder_id = fi->req->visit->elder_id;
	} else if (fi->req->op_case == TANFANG__V1__REQUEST__OP_CARE_EVENT) {
		fi->what = "care_event";
		fi->elder_id = fi->req->care_event->elder_id;
	}
	return 0;
}

static void frame_info_free(struct frame_info *fi)
{
	wire_free(WIRE_REQUEST, fi->req);
	wire_free(WIRE_ENVELOPE, fi->env);
}

/* frame_read for listings: an unreadable frame is still listed (it is what
 * the device holds or the daemon refused), with the defaults frame_read set.
 * Returns 0, or -ENOMEM with *fi already freed. */
static int frame_read_listed(const uint8_t *frame, size_t len, struct frame_info *fi)
{
	int r = frame_read(frame, len, fi);
	if (r == -ENOMEM) {
		frame_info_free(fi);
		return r;
	}
	return 0;
}

struct refused_ctx {
	tanfang_refusal_cb cb;
	void *ctx;
};

static int refused_each(void *ctx, const struct outbox_refusal *o)
{
	struct refused_ctx *rc = ctx;
	struct frame_info fi;
	int r = frame_read_listed(o->frame, o->len, &fi);
	if (r < 0)
		return r;
	struct tanfang_refusal t;
	hex_encode(o->id, OUTBOX_ID_LEN, t.id_hex);
	t.status = wire_status_name(o->status);
	t.detail = o->detail;
	t.what = fi.what;
	t.elder_id = fi.elder_id;
	t.recorded_ms = fi.sent_at_ms;
	r = rc->cb(rc->ctx, &t);
	frame_info_free(&fi);
	return r;
}

int tanfang_refused_foreach(struct tanfang *h, tanfang_refusal_cb cb, void *ctx)
{
	struct refused_ctx rc = {cb, ctx};
	return outbox_foreach_refused(h->ob, refused_each, &rc);
}

struct pending_ctx {
	tanfang_pending_cb cb;
	void *ctx;
};

static int pending_each(void *ctx, const struct outbox_entry *e)
{
	struct pending_ctx *pc = ctx;
	struct frame_info fi;
	int r = frame_read_listed(e->frame, e->len, &fi);
	if (r < 0)
		return r;
	struct tanfang_pending p;
	hex_encode(e->id, OUTBOX_ID_LEN, p.id_hex);
	p.what = fi.what;
	p.elder_id = fi.elder_id;
	p.recorded_ms = e->recorded_ms;
	r = pc->cb(pc->ctx, &p);
	frame_info_free(&fi);
	return r;
}

int tanfang_pending_foreach(struct tanfang *h, tanfang_pending_cb cb, void *ctx)
{
	struct pending_ctx pc = {cb, ctx};
	return outbox_foreach_pending(h->ob, pending_each, &pc);
}

struct find_refused {
	const uint8_t *id;
	int64_t recorded_ms;
	bool found;
};

static int find_refused_each(void *ctx, const struct outbox_refusal *o)
{
	struct find_refused *f = ctx;
	if (memcmp(o->id, f->id, OUTBOX_ID_LEN) != 0)
		return 0;
	struct frame_info fi;
	int r = frame_read(o->frame, o->len, &fi);
	f->found = true;
	f->recorded_ms = fi.sent_at_ms;
	frame_info_free(&fi);
	return r < 0 ? r : 1;
}

int tanfang_requeue(struct tanfang *h, const uint8_t id[TANFANG_ID_LEN])
{
	/* The pending key's time is the one the envelope was signed with, so
	 * the entry goes back to its place in recording order. */
	struct find_refused f = {.id = id};
	int r = outbox_foreach_refused(h->ob, find_refused_each, &f);
	if (r < 0)
		return r;
	if (!f.found)
		return -ENOENT;
	return outbox_requeue(h->ob, id, f.recorded_ms);
}

int tanfang_status(struct tanfang *h, size_t *pending, size_t *refused)
{
	return outbox_counts(h->ob, pending, refused);
}

/* ---- sync ---- */

struct item {
	uint8_t key[OUTBOX_KEY_LEN];
	uint8_t ref[ENVELOPE_REF_LEN];
	uint8_t *frame;
	size_t len;
	bool settled; /* got its final answer (or a transient one) in this pass */
	bool bad;     /* the stored frame failed the local check */
};

struct items {
	struct item *v;
	size_t n, cap;
	struct item **by_ref; /* sorted by ref, for matching replies */
};

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++)
		free(it->v[i].frame);
	free(it->v);
	free(it->by_ref);
	memset(it, 0, sizeof *it);
}

static int collect_each(void *ctx, const struct outbox_entry *e)
{
	struct items *it = ctx;
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 64;
		struct item *nv = realloc(it->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		it->v = nv;
		it->cap = cap;
	}
	struct item *x = &it->v[it->n];
	memset(x, 0, sizeof *x);
	memcpy(x->key, e->key, OUTBOX_KEY_LEN);
	x->frame = malloc(e->len);
	if (!x->frame)
		return -ENOMEM;
	memcpy(x->frame, e->frame, e->len);
	x->len = e->len;
	it->n++;
	/* The same check the daemon makes first: a frame damaged on the device
	 * would only earn a refusal the reply could not even be matched to. */
	tf_envelope *env;
	int r = envelope_open(e->frame, e->len, &env);
	if (r == TF_E_MALFORMED || r == TF_E_BADSIG) {
		x->bad = true;
		return 0;
	}
	if (r < 0)
		return r;
	envelope_ref(env->body.data, env->body.len, x->ref);
	wire_free(WIRE_ENVELOPE, env);
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;
	return memcmp(x->ref, y->ref, ENVELOPE_REF_LEN);
}

static int items_load(struct outbox *ob, struct items *it)
{
	int r = outbox_foreach_pending(ob, collect_each, it);
	if (r < 0)
		return r;
	if (it->n == 0)
		return 0;
	it->by_ref = malloc(it->n * sizeof *it->by_ref);
	if (!it->by_ref)
		return -ENOMEM;
	for (size_t i = 0; i < it->n; i++)
		it->by_ref[i] = &it->v[i];
	qsort(it->by_ref, it->n, sizeof *it->by_ref, cmp_ref);
	return 0;
}

static struct item *items_find(struct items *it, const uint8_t *ref, size_t len)
{
	if (len != ENVELOPE_REF_LEN || it->n == 0)
		return NULL;
	struct item probe;
	memcpy(probe.ref, ref, ENVELOPE_REF_LEN);
	struct item *pp = &probe;
	struct item **hit = bsearch(&pp, it->by_ref, it->n, sizeof *it->by_ref, cmp_ref);
	return hit ? *hit : NULL;
}

/* Which answers leave an entry pending for another try: the daemon wrote
 * nothing and says so (store full, internal), or says nothing we know. */
static bool status_transient(int status)
{
	switch (status) {
	case TANFANG__V1__STATUS__STATUS_STORE_FULL:
	case TANFANG__V1__STATUS__STATUS_INTERNAL:
	case TANFANG__V1__STATUS__STATUS_UNSPECIFIED: return true;
	case TANFANG__V1__STATUS__STATUS_OK:
	case TANFANG__V1__STATUS__STATUS_DUPLICATE:
	case TANFANG__V1__STATUS__STATUS_CONFLICT:
	case TANFANG__V1__STATUS__STATUS_BAD_SIGNATURE:
	case TANFANG__V1__STATUS__STATUS_UNKNOWN_SIGNER:
	case TANFANG__V1__STATUS__STATUS_FORBIDDEN:
	case TANFANG__V1__STATUS__STATUS_MALFORMED:
	case TANFANG__V1__STATUS__STATUS_UNKNOWN_ELDER:
	case TANFANG__V1__STATUS__STATUS_NOT_FOUND:
	case TANFANG__V1__STATUS__STATUS_INVALID:
	case TANFANG__V1__STATUS__STATUS_TOO_LARGE:
	case TANFANG__V1__STATUS__STATUS_CLOCK_SKEW:
	case TANFANG__V1__STATUS__STATUS_DATED_IN_FUTURE:
	case TANFANG__V1__STATUS__STATUS_TOO_OLD: return false;
	default: return true;
	}
}

struct pass {
	struct tanfang *h;
	struct rpc *rpc;
	const struct tanfang_sync_opts *o;
	struct tanfang_sync_result *res;
	struct items it;
	uint8_t (*acked)[OUTBOX_KEY_LEN];
	size_t n_acked;
	bool clean; /* every entry got a final answer */
	bool cancelled;
};

static int flush_acked(struct pass *p)
{
	int r =
	    outbox_remove(p->h->ob, (const uint8_t(*)[OUTBOX_KEY_LEN])p->acked, p->n_acked, NULL);
	if (r == 0)
		p->n_acked = 0;
	return r;
}

/* Applies one reply to its entry. Returns 0 or a negative code (local). */
static int settle(struct pass *p, struct item *x, const tf_reply *rep)
{
	x->settled = true;
	int status = (int)rep->status;
	if (p->o->progress &&
	    p->o->progress(p->o->progress_ctx, x->key + 8, wire_status_name(status)) != 0) {
		p->cancelled = true;
		return 0;
	}
	if (status == TANFANG__V1__STATUS__STATUS_OK ||
	    status == TANFANG__V1__STATUS__STATUS_DUPLICATE) {
		if (status == TANFANG__V1__STATUS__STATUS_OK)
			p->res->ok++;
		else
			p->res->duplicate++;
		memcpy(p->acked[p->n_acked++], x->key, OUTBOX_KEY_LEN);
		return 0;
	}
	if (status_transient(status)) {
		p->res->retried++;
		p->clean = false;
		return 0;
	}
	int r = outbox_refuse(p->h->ob, x->key, status, rep->detail);
	if (r == -ENOENT)
		r = 0; /* another process settled it meanwhile */
	if (store_full(r)) {
		/* No room on the device to note the refusal: the entry stays
		 * pending, and the pass goes on removing what was acknowledged. */
		p->res->retried++;
		p->clean = false;
		return 0;
	}
	if (r == 0)
		p->res->refused++;
	return r;
}

/* One pass over the loaded entries: keeps up to `window` envelopes in
 * flight and settles each as its reply arrives. Acknowledged entries are
 * removed in batches: a crash before a batch is committed only means those
 * envelopes are sent again and answered as duplicates. Returns 0 or a
 * negative local error; a silent daemon just ends the pass unclean. */
static int run_pass(struct pass *p, unsigned window, int timeout_ms)
{
	struct items *it = &p->it;
	size_t next = 0, inflight = 0;
	int r = 0;
	p->clean = true;
	/* Silence is measured from the last progress, so replies that settle
	 * nothing cannot keep a pass alive forever. */
	int64_t quiet_until = clock_mono_ms() + timeout_ms;
	while (!p->cancelled && (next < it->n || inflight > 0)) {
		while (inflight < window && next < it->n) {
			struct item *x = &it->v[next++];
			if (x->bad)
				continue;
			r = rpc_send_sealed(p->rpc, x->frame, x->len);
			if (r < 0) {
				/* Could not even queue it (the daemon is not
				 * draining): the pass ends, a later one retries. */
				next--;
				r = 0;
				goto out;
			}
			p->res->sent++;
			inflight++;
		}
		if (inflight == 0)
			break;
		int64_t left = quiet_until - clock_mono_ms();
		if (left <= 0)
			goto out;
		tf_reply *rep;
		r = rpc_recv(p->rpc, (int)left, &rep);
		if (r == TF_E_TIMEOUT) {
			r = 0;
			goto out;
		}
		if (r == TF_E_MALFORMED) {
			r = 0; /* not a Reply: cannot settle anything */
			continue;
		}
		if (r < 0) {
			/* A transport failure ends the pass like silence does;
			 * but the daemon refusing this device's key at the
			 * handshake is an answer: no pass will do better until
			 * the key is enrolled (the records stay pending). */
			if (r != -ENOMEM && r != TF_E_SIGNER)
				r = 0;
			goto out;
		}
		/* Replies that match nothing (a late one for an entry another
		 * process settled, or one without a ref) settle nothing; the
		 * entry they were for stays pending. */
		struct item *x = items_find(it, rep->ref.data, rep->ref.len);
		if (!x) {
			wire_free(WIRE_REPLY, rep);
			continue;
		}
		if (x->settled) {
			wire_free(WIRE_REPLY, rep);
			continue;
		}
		inflight--;
		quiet_until = clock_mono_ms() + timeout_ms;
		r = settle(p, x, rep);
		wire_free(WIRE_REPLY, rep);
		if (r < 0)
			goto out;
		if (p->n_acked >= window) {
			r = flush_acked(p);
			if (r < 0)
				goto out;
		}
	}
out:
	if (inflight > 0 || next < it->n)
		p->clean = false;
	int fr = flush_acked(p);
	return r < 0 ? r : fr;
}

/* Damaged frames cannot be delivered; keep them, refused, where the user
 * sees them, instead of retrying forever. */
static int refuse_bad(struct pass *p)
{
	for (size_t i = 0; i < p->it.n; i++) {
		struct item *x = &p->it.v[i];
		if (!x->bad)
			continue;
		int r =
		    outbox_refuse(p->h->ob, x->key, TANFANG__V1__STATUS__STATUS_MALFORMED,
		                  "stored envelope is damaged: it does not verify (local check)");
		if (store_full(r))
			continue; /* kept pending, and never sent, until there is room */
		if (r < 0 && r != -ENOENT)
			return r;
		p->res->refused++;
	}
	return 0;
}

static void sleep_until_mono(int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - clock_mono_ms();
		if (left <= 0)
			return;
		struct timespec ts = {left / 1000, (left % 1000) * 1000000};
		nanosleep(&ts, NULL); /* EINTR: loop and recompute */
	}
}

int tanfang_sync(struct tanfang *h, const char *endpoint, const char *server_key_z85,
                 const struct tanfang_sync_opts *opts, struct tanfang_sync_result *res)
{
	struct tanfang_sync_result dummy;
	if (!res)
		res = &dummy;
	memset(res, 0, sizeof *res);
	struct tanfang_sync_opts o = {0};
	if (opts)
		o = *opts;
	if (!o.attempts)
		o.attempts = 5;
	if (!o.base_delay_ms)
		o.base_delay_ms = 500;
	if (!o.max_delay_ms)
		o.max_delay_ms = 30000;
	if (!o.timeout_ms)
		o.timeout_ms = 5000;
	if (!o.window)
		o.window = 64;
	if (o.window > 4096)
		o.window = 4096;
	if (o.timeout_ms > 600000)
		o.timeout_ms = 600000;
	if (!endpoint || !*endpoint)
		return -EINVAL;

	struct pass p = {.h = h, .o = &o, .res = res};
	int r = 0;
	unsigned failed = 0; /* consecutive unclean passes, for the backoff */
	while (res->passes < o.attempts) {
		if (failed) {
			uint64_t d = (uint64_t)o.base_delay_ms
			             << (failed - 1 < 20 ? failed - 1 : 20);
			if (d > o.max_delay_ms)
				d = o.max_delay_ms;
			sleep_until_mono(clock_mono_ms() + (int64_t)d);
		}
		r = items_load(h->ob, &p.it);
		if (r == 0)
			r = refuse_bad(&p);
		if (r < 0 || p.it.n == 0)
			break;
		p.acked = malloc(o.window * sizeof *p.acked);
		if (!p.acked) {
			r = -ENOMEM;
			break;
		}
		res->passes++;
		/* A fresh connection per pass: replies owed by a daemon that
		 * restarted are gone anyway, and ZeroMQ would otherwise keep
		 * frames queued for a dead peer. */
		r = rpc_open(endpoint, server_key_z85, &h->kp, &p.rpc);
		if (r == 0) {
			r = run_pass(&p, o.window, (int)o.timeout_ms);
			rpc_close(p.rpc);
			p.rpc = NULL;
		}
		free(p.acked);
		p.acked = NULL;
		items_free(&p.it);
		if (r < 0 || p.cancelled)
			break;
		failed = p.clean ? 0 : failed + 1;
	}
	items_free(&p.it);
	int cr = outbox_counts(h->ob, &res->pending, NULL);
	if (r < 0)
		return r;
	if (cr < 0)
		return cr;
	if (p.cancelled)
		return -ECANCELED;
	return res->pending ? TF_E_TIMEOUT : 0;
}

/* ---- names ---- */

int tanfang_visit_kind_value(const char *name)
{
	return wire_visit_kind_value(name);
}
int tanfang_finding_value(const char *name)
{
	return wire_finding_value(name);
}
int tanfang_aid_value(const char *name)
{
	return wire_aid_value(name);
}
int tanfang_event_type_value(const char *name)
{
	return wire_event_type_value(name);
}
int tanfang_severity_value(const char *name)
{
	return wire_severity_value(name);
}

void tanfang_pin_clock(int64_t unix_seconds)
{
	clock_set_fixed(unix_seconds);
}

const char *tanfang_strerror(int code)
{
	return tf_strerror(code);
}
