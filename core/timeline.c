#include "timeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "registry.h"

#define ST(x)    TANFANG__V1__ELDER_STATUS__ELDER_STATUS_##x
#define EV(x)    TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_##x
#define FACT(x)  TANFANG__STORE__ELDER_FACT__KIND__KIND_##x
#define KEY_MAX  (REGISTRY_ID_MAX + 1 + 8 + TIMELINE_TIE_LEN)
#define META_KEY "timeline-v1"

/* id \0 be64(t) [tie]: the key shape of every timeline database. */
static size_t time_key(uint8_t *buf, const char *id, int64_t t, const uint8_t *tie)
{
	size_t n = strlen(id);
	memcpy(buf, id, n + 1);
	store_be64(buf + n + 1, (uint64_t)t);
	if (tie)
		memcpy(buf + n + 9, tie, TIMELINE_TIE_LEN);
	return n + 9 + (tie ? TIMELINE_TIE_LEN : 0);
}

/* An elder fact under its key, and in the arrival index. */
static int put_fact(struct store_txn *txn, const uint8_t *key, size_t kl, const tf_elder_fact *f)
{
	int r = registry_put_msg(txn, DB_ELDER_FACTS, WIRE_ELDER_FACT, key, kl, f);
	uint8_t ak[8 + KEY_MAX];
	store_be64(ak, (uint64_t)(f->received_at > 0 ? f->received_at : 0));
	memcpy(ak + 8, key, kl);
	return r < 0 ? r : store_put(txn, DB_FACT_ARRIVALS, ak, 8 + kl, "", 0, 0);
}

bool timeline_present(const tf_elder *s)
{
	return s->status == ST(ACTIVE) || s->status == ST(HOSPITALISED);
}

/* ---- versions (visitors, areas) ---- */

/* The version of `id` in effect at t (the first one if t precedes them all):
 * the raw value, valid until the next write. */
static int version_at(struct store_txn *txn, enum store_db db, const char *id, int64_t t,
                      const void **v, size_t *vl)
{
	if (strlen(id) > REGISTRY_ID_MAX)
		return -ENOENT;
	uint8_t key[KEY_MAX];
	size_t pl = strlen(id) + 1;
	/* Just after every key of time t. */
	size_t kl = time_key(key, id, t, NULL);
	memset(key + kl, 0xff, TIMELINE_TIE_LEN);
	kl += TIMELINE_TIE_LEN;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, db, &cur);
	if (r < 0)
		return r;
	const void *k;
	size_t kn;
	r = store_cursor_seek(cur, key, kl, &k, &kn, v, vl);
	r = r == -ENOENT ? store_cursor_last(cur, &k, &kn, v, vl)
	                 : store_cursor_prev(cur, &k, &kn, v, vl);
	if (r == 0 && (kn < pl || memcmp(k, id, pl) != 0)) {
		/* Before the first version: take the first. */
		r = store_cursor_seek(cur, id, pl, &k, &kn, v, vl);
		if (r == 0 && (kn < pl || memcmp(k, id, pl) != 0))
			r = -ENOENT;
	} else if (r == -ENOENT) {
		r = store_cursor_seek(cur, id, pl, &k, &kn, v, vl);
		if (r == 0 && (kn < pl || memcmp(k, id, pl) != 0))
			r = -ENOENT;
	}
	store_cursor_close(cur);
	return r;
}

/* Is there a version of id after (at, tie)? */
static int has_later(struct store_txn *txn, enum store_db db, const char *id, const uint8_t *key,
                     size_t kl)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, db, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kn, vl;
	size_t pl = strlen(id) + 1;
	r = store_cursor_seek(cur, key, kl, &k, &kn, &v, &vl);
	if (r == 0 && kn == kl && memcmp(k, key, kl) == 0)
		r = store_cursor_next(cur, &k, &kn, &v, &vl);
	int later = r == 0 && kn >= pl && memcmp(k, id, pl) == 0;
	store_cursor_close(cur);
	return r < 0 && r != -ENOENT ? r : later;
}

static int version_put(struct store_txn *txn, enum store_db spans, enum store_db current,
                       enum wire_type type, const char *id, const void *msg, int64_t at,
                       const uint8_t *tie, void **prev)
{
	if (prev) {
		*prev = NULL;
		const void *v;
		size_t vl;
		int r = version_at(txn, spans, id, at, &v, &vl);
		if (r == 0 && wire_unpack_stored(type, v, vl, prev) < 0)
			return TF_E_CORRUPT;
		if (r < 0 && r != -ENOENT)
			return r;
	}
	uint8_t key[KEY_MAX];
	size_t kl = time_key(key, id, at, tie);
	int r = registry_put_msg(txn, spans, type, key, kl, msg);
	int later = r == 0 ? has_later(txn, spans, id, key, kl) : r;
	if (later < 0)
		return later;
	/* A version that arrives late but took effect earlier leaves the
	 * current record to the later one. */
	if (!later)
		r = registry_put_msg(txn, current, type, id, strlen(id), msg);
	return r;
}

int timeline_visitor_put(struct store_txn *txn, const tf_visitor *v, int64_t at,
                         const uint8_t tie[TIMELINE_TIE_LEN], tf_visitor **prev)
{
	return version_put(txn, DB_VISITOR_SPANS, DB_VISITORS, WIRE_VISITOR, v->id, v, at, tie,
	                   (void **)prev);
}

int timeline_area_put(struct store_txn *txn, const tf_area *a, int64_t at,
                      const uint8_t tie[TIMELINE_TIE_LEN], tf_area **prev)
{
	return version_put(txn, DB_AREA_SPANS, DB_AREAS, WIRE_AREA, a->code, a, at, tie,
	                   (void **)prev);
}

static int decoded_at(struct store_txn *txn, enum store_db db, enum wire_type type, const char *id,
                      int64_t t, void **out)
{
	*out = NULL;
	const void *v;
	size_t vl;
	int r = version_at(txn, db, id, t, &v, &vl);
	if (r < 0)
		return r;
	return wire_unpack_stored(type, v, vl, out) < 0 ? TF_E_CORRUPT : 0;
}

int timeline_visitor_at(struct store_txn *txn, const char *id, int64_t t, tf_visitor **out)
{
	return decoded_at(txn, DB_VISITOR_SPANS, WIRE_VISITOR, id, t, (void **)out);
}

int timeline_area_at(struct store_txn *txn, const char *code, int64_t t, tf_area **out)
{
	return decoded_at(txn, DB_AREA_SPANS, WIRE_AREA, code, t, (void **)out);
}

int timeline_visitor_versions(struct store_txn *txn, const char *id)
{
	size_t pl = strlen(id) + 1;
	if (pl > REGISTRY_ID_MAX + 1)
		return 0;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_VISITOR_SPANS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	int n = 0;
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl); r == 0 && n < 2;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, id, pl) != 0)
			break;
		n++;
	}
	store_cursor_close(cur);
	return r < 0 && r != -ENOENT ? r : n;
}

int timeline_role_at(struct store_txn *txn, const char *id, int64_t t, int *role, int64_t *from,
                     int64_t *until)
{
	int64_t from_, until_;
	if (!from)
		from = &from_;
	if (!until)
		until = &until_;
	*role = -1, *from = INT64_MIN, *until = INT64_MAX;
	size_t pl = strlen(id) + 1;
	if (pl > REGISTRY_ID_MAX + 1)
		return 0;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_VISITOR_SPANS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	/* Versions are few per visitor: walk them, oldest first. The first
	 * also stands for the time before it (as in version_at). */
	bool first = true;
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 8 + TIMELINE_TIE_LEN || memcmp(k, id, pl) != 0)
			break;
		int64_t at = (int64_t)store_get_be64((const uint8_t *)k + pl);
		if (!first && at > t) {
			*until = at;
			break;
		}
		tf_visitor *vis;
		if (wire_unpack_stored(WIRE_VISITOR, v, vl, (void **)&vis) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		/* A role is a bit of a rule's mask. */
		*role = vis->role >= 0 && vis->role < 32 ? (int)vis->role : -1;
		wire_free(WIRE_VISITOR, vis);
		*from = first ? INT64_MIN : at;
		first = false;
	}
	store_cursor_close(cur);
	return r < 0 && r != -ENOENT ? r : 0;
}

int timeline_within_at(struct store_txn *txn, const char *area, const char *scope, int64_t t)
{
	if (!scope || !*scope)
		return 1;
	char cur[REGISTRY_ID_MAX + 1];
	if (strlen(area) >= sizeof cur)
		return 0;
	strcpy(cur, area);
	/* Bounded like registry_within: a parent cycle cannot loop. */
	for (int depth = 0; depth < 16 && *cur; depth++) {
		if (strcmp(cur, scope) == 0)
			return 1;
		tf_area *a;
		int r = timeline_area_at(txn, cur, t, &a);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		size_t pl = strlen(a->parent);
		if (pl < sizeof cur)
			memcpy(cur, a->parent, pl + 1);
		else
			cur[0] = '\0';
		wire_free(WIRE_AREA, a);
	}
	return 0;
}

int timeline_areas_at(struct store_txn *txn, int64_t t, timeline_area_fn fn, void *ctx)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_AREA_SPANS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	/* Versions of one code are adjacent and oldest first: keep the last one
	 * that took effect by t (or the first, if none had). */
	char code[REGISTRY_ID_MAX + 1] = "";
	tf_area *best = NULL;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl);;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		size_t cl = r == 0 ? strnlen(k, kl) : 0;
		bool same = r == 0 && cl < kl && cl == strlen(code) && memcmp(k, code, cl) == 0;
		if (!same && best) {
			int fr = fn(best, ctx);
			wire_free(WIRE_AREA, best);
			best = NULL;
			if (fr < 0) {
				r = fr;
				break;
			}
		}
		if (r < 0)
			break;
		if (cl >= kl || cl > REGISTRY_ID_MAX || kl != cl + 1 + 8 + TIMELINE_TIE_LEN) {
			r = TF_E_CORRUPT;
			break;
		}
		int64_t at = (int64_t)store_get_be64((const uint8_t *)k + cl + 1);
		if (same && at > t)
			continue;
		tf_area *a;
		if (wire_unpack_stored(WIRE_AREA, v, vl, (void **)&a) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		wire_free(WIRE_AREA, best);
		best = a;
		memcpy(code, k, cl);
		code[cl] = '\0';
	}
	wire_free(WIRE_AREA, best);
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* ---- elders ---- */

struct fact_list {
	size_t n;
	tf_elder_fact *f[TIMELINE_FACTS_MAX];
	/* When each registry fact was signed (ms, from its key's tie: see
	 * ingest.c, tie_signed_at); a care event's tie is its record id. */
	int64_t signed_ms[TIMELINE_FACTS_MAX];
};

static void facts_clear(struct fact_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		wire_free(WIRE_ELDER_FACT, l->f[i]);
	l->n = 0;
}

static int load_facts(struct store_txn *txn, const char *id, struct fact_list *l)
{
	l->n = 0;
	size_t pl = strlen(id) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ELDER_FACTS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, id, pl) != 0)
			break;
		if (l->n == TIMELINE_FACTS_MAX) {
			r = TF_E_INVALID;
			break;
		}
		if (wire_unpack_stored(WIRE_ELDER_FACT, v, vl, (void **)&l->f[l->n]) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		int64_t ms = 0;
		if (kl == pl + 8 + TIMELINE_TIE_LEN)
			for (int b = 0; b < 6; b++)
				ms = ms << 8 | ((const uint8_t *)k)[pl + 8 + b];
		l->signed_ms[l->n++] = ms;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT) {
		facts_clear(l);
		return r;
	}
	return 0;
}

static bool corrected(const struct fact_list *l, const ProtobufCBinaryData *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->f[i]->kind == FACT(CORRECT) && l->f[i]->record_id.len == id->len &&
		    id->len && memcmp(l->f[i]->record_id.data, id->data, id->len) == 0)
			return true;
	return false;
}

/* The status after a care event of `type` (the rule of BRIEF §3). */
static int event_status(int type, int current)
{
	switch (type) {
	case EV(DECEASED): return ST(DECEASED);
	case EV(MOVED_AWAY): return ST(MOVED_AWAY);
	case EV(HOSPITALISED): return current == ST(ACTIVE) ? ST(HOSPITALISED) : current;
	case EV(DISCHARGED): return current == ST(HOSPITALISED) ? ST(ACTIVE) : current;
	default: return current;
	}
}

bool timeline_status_event(int type)
{
	/* A discharge changes nothing for an active elder, but ends a stay
	 * in hospital: ask both. */
	return event_status(type, ST(ACTIVE)) != ST(ACTIVE) ||
	       event_status(type, ST(HOSPITALISED)) != ST(HOSPITALISED);
}

/* The fold's running state. Its strings and arrays point into the facts,
 * which outlive the fold. */
struct state {
	tf_elder e; /* points into facts */
	bool registered;
	bool erased; /* entered in error (rebuild_elder: the last ERASE or RESTORE) */
	int64_t registered_at, status_since, reg_from;
	const tf_elder *put; /* the latest registration */
	/* Descriptive fields: the latest registration's, or an edit's. */
	const char *name, *address, *phone;
	double lat, lon;
	bool has_location;
};

/* Does an EditElder fact change field `name`? */
static bool edits(const tf_elder_fact *f, const char *name)
{
	for (size_t i = 0; i < f->n_fields; i++)
		if (strcmp(f->fields[i], name) == 0)
			return true;
	return false;
}

/* EditElder: only the named fields, onto the state at its time. */
static void apply_edit(struct state *s, const tf_elder_fact *f)
{
	const tf_elder *p = f->elder;
	if (!p)
		return;
	if (edits(f, "name"))
		s->name = p->name;
	if (edits(f, "address"))
		s->address = p->address;
	if (edits(f, "phone"))
		s->phone = p->phone;
	if (edits(f, "location"))
		s->lat = p->lat, s->lon = p->lon, s->has_location = p->has_location;
	if (edits(f, "area"))
		s->e.area = p->area;
	if (edits(f, "birth_date"))
		s->e.birth_date = p->birth_date;
	if (edits(f, "categories"))
		s->e.categories = p->categories, s->e.n_categories = p->n_categories;
	if (edits(f, "risk_tier"))
		s->e.risk_tier = p->risk_tier;
	if (edits(f, "visitors"))
		s->e.visitors = p->visitors, s->e.n_visitors = p->n_visitors;
	if (edits(f, "neighbours"))
		s->e.neighbours = p->neighbours, s->e.n_neighbours = p->n_neighbours;
}

static void apply_fact(struct state *s, const tf_elder_fact *f, const struct fact_list *all)
{
	switch (f->kind) {
	case FACT(PUT): {
		const tf_elder *p = f->elder;
		if (!p)
			return;
		s->put = p;
		s->name = p->name, s->address = p->address, s->phone = p->phone;
		s->lat = p->lat, s->lon = p->lon, s->has_location = p->has_location;
		s->e.area = p->area;
		s->e.categories = p->categories, s->e.n_categories = p->n_categories;
		s->e.risk_tier = p->risk_tier;
		s->e.visitors = p->visitors, s->e.n_visitors = p->n_visitors;
		s->e.neighbours = p->neighbours, s->e.n_neighbours = p->n_neighbours;
		s->e.birth_date = p->birth_date;
		if (!s->registered) {
			s->registered = true;
			s->registered_at = s->reg_from;
			if (s->e.status == ST(UNSPECIFIED)) {
				s->e.status = ST(ACTIVE);
				s->status_since = s->reg_from;
			}
		}
		if (p->status != ST(UNSPECIFIED) && p->status != s->e.status) {
			s->e.status = p->status;
			s->status_since = f->effective_at;
		}
		break;
	}
	case FACT(EDIT): apply_edit(s, f); break;
	case FACT(ERASE):
	case FACT(RESTORE): break; /* for all time: rebuild_elder decides erased */
	case FACT(NEIGHBOURS): s->e.neighbours = f->ids, s->e.n_neighbours = f->n_ids; break;
	case FACT(VISITORS): s->e.visitors = f->ids, s->e.n_visitors = f->n_ids; break;
	case FACT(STATUS): {
		if (corrected(all, &f->record_id))
			return;
		int st = f->event ? event_status(f->event, s->e.status) : (int)f->status;
		if (st != ST(UNSPECIFIED) && st != (int)s->e.status) {
			s->e.status = st;
			s->status_since = f->effective_at;
		}
		break;
	}
	default: break;
	}
}

static void state_span(const struct state *s, tf_elder *span)
{
	wire_init(WIRE_ELDER, span);
	span->area = s->e.area;
	span->categories = s->e.categories, span->n_categories = s->e.n_categories;
	span->risk_tier = s->e.risk_tier;
	span->visitors = s->e.visitors, span->n_visitors = s->e.n_visitors;
	span->neighbours = s->e.neighbours, span->n_neighbours = s->e.n_neighbours;
	span->status = s->erased ? ST(REMOVED) : s->e.status;
	span->birth_date = s->e.birth_date;
	span->registered_at = s->registered_at;
}

static int drop_prefix(struct store_txn *txn, enum store_db db, const char *id)
{
	size_t pl = strlen(id) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, db, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, id, pl) != 0)
			break;
		r = store_cursor_del(cur);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* Assignment index: which elders' current duties name a visitor. */
static int assigned_index(struct store_txn *txn, const tf_elder *e, bool add)
{
	for (size_t pass = 0; pass < 2; pass++) {
		char **ids = pass ? e->neighbours : e->visitors;
		size_t n = pass ? e->n_neighbours : e->n_visitors;
		for (size_t i = 0; i < n; i++) {
			uint8_t key[2 * REGISTRY_ID_MAX + 2];
			size_t a = strlen(ids[i]), b = strlen(e->id);
			if (a > REGISTRY_ID_MAX || b > REGISTRY_ID_MAX)
				continue;
			memcpy(key, ids[i], a + 1);
			memcpy(key + a + 1, e->id, b);
			int r = add ? store_put(txn, DB_ASSIGNED, key, a + 1 + b, "", 0, 0)
			            : store_del(txn, DB_ASSIGNED, key, a + 1 + b);
			if (r < 0 && r != -ENOENT)
				return r;
		}
	}
	return 0;
}

/* Folds the elder's facts, in order of effect, into spans and the current
 * record. */
static int rebuild_elder(struct store_txn *txn, const char *id, tf_elder **current)
{
	struct fact_list *l = malloc(sizeof *l);
	if (!l)
		return -ENOMEM;
	int r = load_facts(txn, id, l);
	if (r < 0) {
		free(l);
		return r;
	}
	tf_elder *old = NULL;
	r = registry_get_elder(txn, id, &old);
	if (r == 0)
		r = assigned_index(txn, old, false);
	if (r == 0)
		r = registry_twin_index(txn, old, false);
	if (r == 0)
		r = registry_area_index(txn, id, old->area, false);
	wire_free(WIRE_ELDER, old);
	if (r == 0 || r == -ENOENT)
		r = drop_prefix(txn, DB_ELDER_SPANS, id);
	/* The elder is on the register from the earliest date any registration
	 * gives (Elder.registered_at, else its time of effect), whatever order
	 * the registrations arrived in; that registration folds in at that
	 * date, so a death or a stay in hospital reported later, dated between
	 * the registered date and the day the office entered the elder, falls
	 * after it. Every other fact folds in at its own time. */
	/* Entered in error (issue 11, item 4): the last ERASE or RESTORE, in
	 * the order signed, decides (stored at time 0, they load first, in
	 * that order). The registry facts signed before the removal are void
	 * (signed, not arrived: the answer must not depend on the order facts
	 * arrive in); a registration signed after it puts the elder on the
	 * register anew, as entered then (an import undone, then the right
	 * file imported with the same ids). Without one the elder stays
	 * removed, for all time. Care events are what happened: never void. */
	int64_t erased_at = INT64_MIN; /* when the removal in force was signed, ms */
	for (size_t i = 0; i < l->n; i++) {
		if (l->f[i]->kind == FACT(ERASE))
			erased_at = l->signed_ms[i];
		else if (l->f[i]->kind == FACT(RESTORE))
			erased_at = INT64_MIN;
	}
	bool erased = erased_at != INT64_MIN, anew = false;
	bool *voided = calloc(l->n ? l->n : 1, sizeof *voided);
	if (r == 0 && !voided)
		r = -ENOMEM;
	for (size_t i = 0; erased && voided && i < l->n; i++) {
		const tf_elder_fact *f = l->f[i];
		voided[i] = !f->event && f->kind != FACT(CORRECT) && l->signed_ms[i] <= erased_at;
		anew |= f->kind == FACT(PUT) && !voided[i];
	}
	if (erased && anew)
		erased = false;
	else if (voided)
		memset(voided, 0, (l->n ? l->n : 1) * sizeof *voided);
	int64_t reg_from = INT64_MAX;
	size_t reg_i = 0;
	for (size_t i = 0; voided && i < l->n; i++)
		if (l->f[i]->kind == FACT(PUT) && l->f[i]->elder && !voided[i]) {
			const tf_elder_fact *f = l->f[i];
			int64_t at =
			    f->elder->registered_at > 0 && f->elder->registered_at < f->effective_at
			        ? f->elder->registered_at
			        : f->effective_at;
			if (at < reg_from)
				reg_from = at, reg_i = i;
		}
	size_t *order = malloc((l->n ? l->n : 1) * sizeof *order);
	int64_t *when = malloc((l->n ? l->n : 1) * sizeof *when);
	if (r == 0 && (!order || !when))
		r = -ENOMEM;
	/* The facts in force (not void), by time of effect. */
	size_t m = 0;
	for (size_t i = 0; r == 0 && order && when && i < l->n; i++) {
		if (voided[i])
			continue;
		when[i] = i == reg_i && reg_from != INT64_MAX ? reg_from : l->f[i]->effective_at;
		/* Insertion: stable, and the list is short and nearly sorted. */
		size_t j = m++;
		while (j > 0 && when[order[j - 1]] > when[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	struct state s = {.reg_from = reg_from};
	wire_init(WIRE_ELDER, &s.e);
	uint8_t *last = NULL;
	size_t last_len = 0;
	for (size_t k = 0; r == 0 && k < m; k++) {
		size_t i = order[k];
		apply_fact(&s, l->f[i], l);
		s.erased = erased;
		if (!s.registered)
			continue;
		/* Facts of one second fold together: the span is written once the
		 * next fact's time differs. */
		if (k + 1 < m && when[order[k + 1]] == when[i])
			continue;
		tf_elder span;
		state_span(&s, &span);
		uint8_t *buf;
		size_t len;
		r = wire_pack(WIRE_ELDER, &span, &buf, &len);
		if (r < 0)
			break;
		if (last && len == last_len && memcmp(buf, last, len) == 0) {
			free(buf);
			continue; /* nothing that duties or reports read changed */
		}
		uint8_t key[KEY_MAX];
		size_t kl = time_key(key, id, when[i], NULL);
		r = store_put(txn, DB_ELDER_SPANS, key, kl, buf, len, 0);
		free(last);
		last = buf, last_len = len;
	}
	free(order);
	free(when);
	free(voided);
	free(last);
	if (r == 0 && !s.registered)
		r = -ENOENT;
	if (r == 0) {
		/* The current record: descriptive fields from the latest
		 * registration, state from the fold. */
		tf_elder cur = *s.put;
		cur.id = (char *)id;
		cur.name = (char *)s.name, cur.address = (char *)s.address;
		cur.phone = (char *)s.phone;
		cur.lat = s.lat, cur.lon = s.lon, cur.has_location = s.has_location;
		cur.area = s.e.area;
		cur.categories = s.e.categories, cur.n_categories = s.e.n_categories;
		cur.risk_tier = s.e.risk_tier;
		cur.visitors = s.e.visitors, cur.n_visitors = s.e.n_visitors;
		cur.neighbours = s.e.neighbours, cur.n_neighbours = s.e.n_neighbours;
		cur.birth_date = s.e.birth_date;
		cur.status = erased ? ST(REMOVED) : s.e.status;
		cur.status_since = s.status_since;
		cur.registered_at = s.registered_at;
		r = registry_put_msg(txn, DB_ELDERS, WIRE_ELDER, id, strlen(id), &cur);
		if (r == 0)
			r = assigned_index(txn, &cur, true);
		if (r == 0)
			r = registry_area_index(txn, id, cur.area, true);
		/* An elder removed as entered in error is no twin of anyone:
		 * an office that undoes a wrong import imports the right one. */
		if (r == 0 && !erased)
			r = registry_twin_index(txn, &cur, true);
		if (r == 0 && current) {
			uint8_t *buf;
			size_t len;
			r = wire_pack(WIRE_ELDER, &cur, &buf, &len);
			if (r == 0) {
				r = wire_unpack_stored(WIRE_ELDER, buf, len, (void **)current);
				free(buf);
			}
		}
	}
	facts_clear(l);
	free(l);
	return r;
}

int timeline_elder_fact(struct store_txn *txn, const char *id, const tf_elder_fact *f,
                        const uint8_t tie[TIMELINE_TIE_LEN], tf_elder **current)
{
	if (current)
		*current = NULL;
	if (!registry_id_valid(id))
		return TF_E_INVALID;
	tf_elder_fact copy = *f;
	uint8_t key[KEY_MAX];
	size_t kl = time_key(key, id, copy.effective_at, tie);
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_ELDER_FACTS, key, kl, &v, &vl);
	if (r == 0) {
		/* The same envelope again (a client's retry) is the same fact;
		 * anything else under this key is a second change of the elder by
		 * one request. */
		tf_elder_fact *old;
		if (wire_unpack_stored(WIRE_ELDER_FACT, v, vl, (void **)&old) < 0)
			return TF_E_CORRUPT;
		old->received_at = copy.received_at;
		uint8_t *a = NULL, *b = NULL;
		size_t al = 0, bl = 0;
		r = wire_pack(WIRE_ELDER_FACT, old, &a, &al);
		if (r == 0)
			r = wire_pack(WIRE_ELDER_FACT, &copy, &b, &bl);
		bool same = r == 0 && al == bl && memcmp(a, b, al) == 0;
		free(a);
		free(b);
		wire_free(WIRE_ELDER_FACT, old);
		return r < 0 ? r : same ? -EEXIST : TF_E_CONFLICT;
	}
	if (r != -ENOENT)
		return r;
	r = put_fact(txn, key, kl, &copy);
	if (r == 0)
		r = rebuild_elder(txn, id, current);
	return r;
}

int timeline_span_decode(const void *v, size_t vl, tf_elder **out)
{
	/* Spans are packed here from checked facts (rebuild_elder). */
	return wire_unpack_stored(WIRE_ELDER, v, vl, (void **)out) < 0 ? TF_E_CORRUPT : 0;
}

void timeline_spans_clear(struct timeline_spans *s)
{
	for (size_t i = 0; i < s->n; i++)
		wire_free(WIRE_ELDER, s->states[i]);
	s->n = 0;
}

int timeline_elder_spans(struct store_txn *txn, const char *id, struct timeline_spans *s)
{
	s->n = 0;
	size_t pl = strlen(id) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ELDER_SPANS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 8 || memcmp(k, id, pl) != 0 || s->n == TIMELINE_FACTS_MAX)
			break;
		r = timeline_span_decode(v, vl, &s->states[s->n]);
		if (r < 0)
			break;
		s->from[s->n++] = (int64_t)store_get_be64((const uint8_t *)k + pl);
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT) {
		timeline_spans_clear(s);
		return r;
	}
	return 0;
}

long timeline_span_at(const struct timeline_spans *s, int64_t t)
{
	long i = (long)s->n - 1;
	while (i >= 0 && s->from[i] > t)
		i--;
	return i;
}

int timeline_elder_at(struct store_txn *txn, const char *id, int64_t t, tf_elder **out)
{
	*out = NULL;
	if (strlen(id) > REGISTRY_ID_MAX)
		return -ENOENT;
	uint8_t key[KEY_MAX];
	size_t pl = strlen(id) + 1;
	size_t kl = time_key(key, id, t + 1, NULL);
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ELDER_SPANS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kn, vl;
	r = store_cursor_seek(cur, key, kl, &k, &kn, &v, &vl);
	r = r == -ENOENT ? store_cursor_last(cur, &k, &kn, &v, &vl)
	                 : store_cursor_prev(cur, &k, &kn, &v, &vl);
	if (r == 0 && (kn != pl + 8 || memcmp(k, id, pl) != 0))
		r = -ENOENT;
	if (r == 0)
		r = timeline_span_decode(v, vl, out);
	store_cursor_close(cur);
	return r;
}

int timeline_event_corrected(struct store_txn *txn, const char *elder_id, const uint8_t id[16])
{
	struct fact_list *l = malloc(sizeof *l);
	if (!l)
		return -ENOMEM;
	int r = load_facts(txn, elder_id, l);
	if (r == 0) {
		ProtobufCBinaryData b = {16, (uint8_t *)id};
		r = corrected(l, &b);
		facts_clear(l);
	}
	free(l);
	return r;
}

int timeline_late_elders(struct store_txn *txn, int64_t after, int64_t before, timeline_late_fn fn,
                         void *ctx)
{
	uint8_t from[8];
	store_be64(from, (uint64_t)(after + 1));
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_FACT_ARRIVALS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, from, 8, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		size_t il = kl > 8 ? strnlen((const char *)k + 8, kl - 8) : 0;
		if (kl != 8 + il + 1 + 8 + TIMELINE_TIE_LEN || il > REGISTRY_ID_MAX) {
			r = TF_E_CORRUPT;
			break;
		}
		if ((int64_t)store_get_be64((const uint8_t *)k + 8 + il + 1) >= before)
			continue;
		char id[REGISTRY_ID_MAX + 1];
		memcpy(id, (const char *)k + 8, il);
		id[il] = '\0';
		r = fn(id, ctx);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* ---- upgrade ---- */

struct migrate {
	struct store_txn *txn;
	size_t n;
};

static int migrate_version(struct store_txn *txn, enum store_db db, enum wire_type type,
                           const char *id, const void *msg)
{
	static const uint8_t tie[TIMELINE_TIE_LEN];
	uint8_t key[KEY_MAX];
	size_t kl = time_key(key, id, 0, tie);
	return registry_put_msg(txn, db, type, key, kl, msg);
}

static int migrate_area(void *msg, void *ctx)
{
	struct migrate *m = ctx;
	tf_area *a = msg;
	int r = migrate_version(m->txn, DB_AREA_SPANS, WIRE_AREA, a->code, a);
	wire_free(WIRE_AREA, a);
	m->n++;
	return r;
}

static int migrate_visitor(void *msg, void *ctx)
{
	struct migrate *m = ctx;
	tf_visitor *v = msg;
	int r = migrate_version(m->txn, DB_VISITOR_SPANS, WIRE_VISITOR, v->id, v);
	wire_free(WIRE_VISITOR, v);
	m->n++;
	return r;
}

/* Status facts from the elder's stored care events, at their own times. */
static int migrate_events(struct store_txn *txn, const tf_elder *e)
{
	uint8_t prefix[REGISTRY_ID_MAX + 1];
	size_t pl = strlen(e->id) + 1;
	memcpy(prefix, e->id, pl);
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ELDER_HIST, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 24 || memcmp(k, prefix, pl) != 0)
			break;
		tf_record *rec;
		r = record_get(txn, (const uint8_t *)k + pl + 8, &rec);
		if (r < 0)
			break;
		const tf_care_event *ev = rec->care_event;
		if (ev && timeline_status_event(ev->type)) {
			tf_elder_fact f;
			wire_init(WIRE_ELDER_FACT, &f);
			f.kind = FACT(STATUS);
			f.effective_at = ev->occurred_at;
			f.received_at = rec->received_at;
			f.signer = rec->visitor_id;
			f.event = ev->type;
			f.record_id = ev->id;
			uint8_t key[KEY_MAX];
			size_t fkl = time_key(key, e->id, ev->occurred_at, ev->id.data);
			r = put_fact(txn, key, fkl, &f);
		}
		wire_free(WIRE_RECORD, rec);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* When each assigned visitor or neighbour household began, as the old
 * store's duties kept it (Duty.start, the moment the assignment was first
 * scheduled); 0 where no duty tells, or where the assignment came with the
 * elder's entry (then it holds from the registration). The old store kept
 * no entry time; status_since is the entry's moment unless the status
 * changed later, in which case assignments made before that change count
 * from the registration too. */
static int old_assignment_starts(struct store_txn *txn, const tf_elder *e, char **ids, size_t n,
                                 int64_t *starts)
{
	for (size_t i = 0; i < n; i++)
		starts[i] = 0;
	size_t pl = strlen(e->id) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_DUTIES, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, e->id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, e->id, pl) != 0)
			break;
		tf_duty *d;
		if (wire_unpack_stored(WIRE_DUTY, v, vl, (void **)&d) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (*d->visitor_id && strcmp(d->visitor_id, ids[i]) == 0 &&
			    d->start > e->registered_at && d->start > e->status_since &&
			    (!starts[i] || d->start < starts[i]))
				starts[i] = d->start;
		wire_free(WIRE_DUTY, d);
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* The elder's list (neighbours or visitors) as a fact at each later
 * assignment date, each holding the members assigned by then. */
static int migrate_list(struct store_txn *txn, const tf_elder *e, char **ids, size_t n,
                        const int64_t *starts, bool neighbours)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!starts[i])
			continue;
		bool first = true; /* one fact per distinct date */
		for (size_t j = 0; j < i; j++)
			first &= starts[j] != starts[i];
		if (!first)
			continue;
		char *members[32];
		size_t nm = 0;
		for (size_t j = 0; j < n && nm < 32; j++)
			if (!starts[j] || starts[j] <= starts[i])
				members[nm++] = ids[j];
		tf_elder_fact f;
		wire_init(WIRE_ELDER_FACT, &f);
		f.kind = neighbours ? FACT(NEIGHBOURS) : FACT(VISITORS);
		f.effective_at = starts[i];
		f.received_at = starts[i];
		f.signer = REGISTRY_ADMIN_ID;
		f.ids = members;
		f.n_ids = nm;
		static const uint8_t tie[TIMELINE_TIE_LEN] = {1};
		uint8_t key[KEY_MAX];
		size_t kl = time_key(key, e->id, starts[i], tie);
		r = put_fact(txn, key, kl, &f);
	}
	return r;
}

static int migrate_elder(struct migrate *m, tf_elder *e)
{
	/* Visitors and households assigned after the registration join the
	 * lists on the day the old store started their duties. */
	int64_t vstart[16] = {0}, nstart[2] = {0};
	size_t nv = e->n_visitors < 16 ? e->n_visitors : 16;
	size_t nn = e->n_neighbours < 2 ? e->n_neighbours : 2;
	int r = old_assignment_starts(m->txn, e, e->visitors, nv, vstart);
	if (r == 0)
		r = old_assignment_starts(m->txn, e, e->neighbours, nn, nstart);
	if (r < 0)
		return r;
	char *v0[16], *n0[2];
	size_t nv0 = 0, nn0 = 0;
	for (size_t i = 0; i < nv; i++)
		if (!vstart[i])
			v0[nv0++] = e->visitors[i];
	for (size_t i = 0; i < nn; i++)
		if (!nstart[i])
			n0[nn0++] = e->neighbours[i];
	char **all_v = e->visitors, **all_n = e->neighbours;
	size_t all_nv = e->n_visitors, all_nn = e->n_neighbours;
	e->visitors = v0, e->n_visitors = nv0;
	e->neighbours = n0, e->n_neighbours = nn0;
	static const uint8_t tie[TIMELINE_TIE_LEN];
	int stored = e->status;
	int64_t since = e->status_since;
	tf_elder_fact f;
	wire_init(WIRE_ELDER_FACT, &f);
	f.kind = FACT(PUT);
	f.effective_at = e->registered_at;
	f.received_at = e->registered_at;
	f.signer = REGISTRY_ADMIN_ID;
	e->status = ST(UNSPECIFIED);
	f.elder = e;
	uint8_t key[KEY_MAX];
	size_t kl = time_key(key, e->id, e->registered_at, tie);
	r = put_fact(m->txn, key, kl, &f);
	e->visitors = all_v, e->n_visitors = all_nv;
	e->neighbours = all_n, e->n_neighbours = all_nn;
	if (r == 0)
		r = migrate_list(m->txn, e, e->visitors, nv, vstart, false);
	if (r == 0)
		r = migrate_list(m->txn, e, e->neighbours, nn, nstart, true);
	if (r == 0)
		r = migrate_events(m->txn, e);
	tf_elder *now = NULL;
	if (r == 0)
		r = rebuild_elder(m->txn, e->id, &now);
	/* A status the admin set by hand has no event: it holds from the date
	 * the old store kept for it. */
	if (r == 0 && (int)now->status != stored && stored != ST(UNSPECIFIED)) {
		tf_elder_fact sf;
		wire_init(WIRE_ELDER_FACT, &sf);
		sf.kind = FACT(STATUS);
		sf.effective_at = since > e->registered_at ? since : e->registered_at;
		sf.received_at = sf.effective_at;
		sf.signer = REGISTRY_ADMIN_ID;
		sf.status = stored;
		static const uint8_t last[TIMELINE_TIE_LEN] = {0xff, 0xff, 0xff, 0xff,
		                                               0xff, 0xff, 0xff, 0xff};
		wire_free(WIRE_ELDER, now);
		now = NULL;
		r = timeline_elder_fact(m->txn, e->id, &sf, last, NULL);
	}
	wire_free(WIRE_ELDER, now);
	m->n++;
	return r;
}

struct id_list {
	char **ids;
	size_t n, cap;
};

static int collect_id(void *msg, void *ctx)
{
	struct id_list *l = ctx;
	tf_elder *e = msg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		char **p = realloc(l->ids, cap * sizeof *p);
		if (!p) {
			wire_free(WIRE_ELDER, e);
			return -ENOMEM;
		}
		l->ids = p, l->cap = cap;
	}
	l->ids[l->n] = strdup(e->id);
	wire_free(WIRE_ELDER, e);
	return l->ids[l->n++] ? 0 : -ENOMEM;
}

/* Elders are collected first: rebuilding one rewrites DB_ELDERS, which a
 * cursor walking it must not see change under it. */
static int migrate_elders(struct migrate *m)
{
	struct id_list l = {0};
	int r = registry_foreach(m->txn, DB_ELDERS, collect_id, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		tf_elder *e;
		r = l.ids[i] ? registry_get_elder(m->txn, l.ids[i], &e) : -ENOMEM;
		if (r == 0) {
			r = migrate_elder(m, e);
			wire_free(WIRE_ELDER, e);
		}
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.ids[i]);
	free(l.ids);
	return r;
}

/* Visits into the month index the reports read. */
static int migrate_visits(struct store_txn *txn)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_RECORDS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		tf_record *rec;
		if (wire_unpack_stored(WIRE_RECORD, v, vl, (void **)&rec) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		if (rec->visit)
			r = record_index_visit(txn, rec->visit, rec->visitor_id, rec->received_at);
		wire_free(WIRE_RECORD, rec);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

int timeline_migrate(struct store_txn *txn, bool *migrated)
{
	*migrated = false;
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_META, META_KEY, strlen(META_KEY), &v, &vl);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return r;
	struct migrate m = {txn, 0};
	r = registry_foreach(txn, DB_AREAS, migrate_area, &m);
	if (r == 0)
		r = registry_foreach(txn, DB_VISITORS, migrate_visitor, &m);
	if (r == 0)
		r = migrate_elders(&m);
	if (r == 0)
		r = migrate_visits(txn);
	if (r == 0)
		r = store_put(txn, DB_META, META_KEY, strlen(META_KEY), "1", 1, 0);
	*migrated = r == 0 && m.n > 0;
	return r;
}
