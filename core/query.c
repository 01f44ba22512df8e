#include "query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "log.h"
#include "period.h"
#include "record.h"
#include "registry.h"
#include "schedule.h"

#define S(x)    TANFANG__V1__STATUS__STATUS_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x
#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x

/* ---- a small string-keyed hash table: area scope answers, visitor roles,
 * report rows. Queries over a banner touch thousands of areas and a
 * million elders; walking parent links per elder would dominate. */

struct smap_entry {
	char *key;
	long val;
};

struct smap {
	struct smap_entry *tab;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->tab[i].key);
	free(m->tab);
	memset(m, 0, sizeof *m);
}

/* Returns the entry's slot, NULL if absent. */
static struct smap_entry *smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->tab[i].key)
			return NULL;
		if (strcmp(m->tab[i].key, key) == 0)
			return &m->tab[i];
	}
}

static int smap_put(struct smap *m, const char *key, long val)
{
	struct smap_entry *e = smap_get(m, key);
	if (e) {
		e->val = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		struct smap big = {calloc(m->cap ? m->cap * 2 : 64, sizeof *m->tab),
		                   m->cap ? m->cap * 2 : 64, 0};
		if (!big.tab)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->tab[i].key)
				continue;
			size_t j = hash_str(m->tab[i].key) & (big.cap - 1);
			while (big.tab[j].key)
				j = (j + 1) & (big.cap - 1);
			big.tab[j] = m->tab[i];
			big.n++;
		}
		free(m->tab);
		*m = big;
	}
	size_t j = hash_str(key) & (m->cap - 1);
	while (m->tab[j].key)
		j = (j + 1) & (m->cap - 1);
	m->tab[j].key = strdup(key);
	if (!m->tab[j].key)
		return -ENOMEM;
	m->tab[j].val = val;
	m->n++;
	return 0;
}

/* ---- query context ---- */

struct q {
	struct store_txn *txn;
	const struct policy *pol;
	const tf_visitor *signer;
	const tf_request *req;
	int64_t now;
	tf_reply rep;
	char detail[400];
	const char *scope;
	struct smap within; /* area -> 1/0 */
	struct smap roles;  /* visitor id -> role */
};

static int refuse(struct q *q, int status, const char *fmt, ...) TF_PRINTF(3, 4);
static int refuse(struct q *q, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->detail, sizeof q->detail, fmt, ap);
	va_end(ap);
	q->rep.status = status;
	return 1; /* "refused": not an error of the daemon */
}

static int within(struct q *q, const char *area)
{
	struct smap_entry *e = smap_get(&q->within, area);
	if (e)
		return (int)e->val;
	int r = registry_within(q->txn, area, q->scope);
	if (r < 0)
		return r;
	int pr = smap_put(&q->within, area, r);
	return pr < 0 ? pr : r;
}

/* Resolves the requested area against the signer's scope: "" means the
 * signer's own scope; anything else must lie inside it. */
static int set_scope(struct q *q, const char *area)
{
	q->scope = q->signer->area;
	if (!area || !*area)
		return 0;
	tf_area *a;
	int r = registry_get_area(q->txn, area, &a);
	if (r == -ENOENT)
		return refuse(q, S(NOT_FOUND), "no area %s", area);
	if (r < 0)
		return r;
	wire_free(WIRE_AREA, a);
	r = registry_within(q->txn, area, q->signer->area);
	if (r < 0)
		return r;
	if (!r)
		return refuse(q, S(FORBIDDEN), "area %s is outside your scope %s", area,
		              q->signer->area);
	q->scope = area;
	return 0;
}

static bool may_query(const tf_visitor *v)
{
	return v->role == ROLE(SUPERVISOR) || v->role == ROLE(ADMIN) || v->role == ROLE(DISPATCHER);
}

static int visitor_role(struct q *q, const char *id)
{
	struct smap_entry *e = smap_get(&q->roles, id);
	if (e)
		return (int)e->val;
	tf_visitor *v;
	int r = registry_get_visitor(q->txn, id, &v);
	int role = -1;
	if (r == 0) {
		role = v->role;
		wire_free(WIRE_VISITOR, v);
	} else if (r != -ENOENT) {
		return r;
	}
	r = smap_put(&q->roles, id, role);
	return r < 0 ? r : role;
}

/* ---- a growable array of decoded messages that the reply points into ---- */

struct msgs {
	void **p;
	size_t n, cap;
	enum wire_type type;
};

static int msgs_push(struct msgs *m, void *msg)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;
		void **p = realloc(m->p, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		m->p = p, m->cap = cap;
	}
	m->p[m->n++] = msg;
	return 0;
}

static void msgs_free(struct msgs *m, bool decoded)
{
	for (size_t i = 0; i < m->n; i++) {
		if (decoded)
			wire_free(m->type, m->p[i]);
		else
			free(m->p[i]);
	}
	free(m->p);
}

/* Pointers to the n items of `size` bytes at base, as a repeated message
 * field wants them; the array lives in keep until the reply is packed.
 * NULL if memory runs out. */
static void *item_ptrs(struct msgs *keep, void *base, size_t size, size_t n)
{
	void **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	if (!ptrs)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ptrs[i] = (char *)base + i * size;
	if (msgs_push(keep, ptrs) < 0) {
		free(ptrs);
		return NULL;
	}
	return ptrs;
}

/* ---- GetRegistry ---- */

static int q_registry(struct q *q, struct msgs *keep, Tanfang__V1__RegistryList *list)
{
	const Tanfang__V1__GetRegistry *g = q->req->get_registry;
	if (q->signer->role != ROLE(ADMIN) && q->signer->role != ROLE(SUPERVISOR))
		return refuse(q, S(FORBIDDEN), "only admins and supervisors may list the registry");
	int r = set_scope(q, g->area);
	if (r)
		return r;
	enum store_db db;
	switch (g->what) {
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_AREAS:
		db = DB_AREAS, keep->type = WIRE_AREA;
		break;
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS:
		db = DB_ELDERS, keep->type = WIRE_ELDER;
		break;
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_VISITORS:
		db = DB_VISITORS, keep->type = WIRE_VISITOR;
		break;
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_KEYS:
		if (q->signer->role != ROLE(ADMIN))
			return refuse(q, S(FORBIDDEN), "only admins may list keys");
		db = DB_KEYS, keep->type = WIRE_DEVICE_KEY;
		break;
	default: return refuse(q, S(MALFORMED), "get_registry: say what to list");
	}
	unsigned limit = g->limit ? g->limit : 500;
	if (limit > 5000)
		limit = 5000;
	struct store_cursor *cur;
	r = store_cursor_open(q->txn, db, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	/* Keys are paged by the last key seen; for device keys that is hex. */
	uint8_t after[64];
	size_t al = 0;
	if (*g->after) {
		if (db == DB_KEYS) {
			if (hex_decode(g->after, after, 32) == 0)
				al = 32;
		} else if (strlen(g->after) < sizeof after) {
			al = strlen(g->after);
			memcpy(after, g->after, al);
		}
	}
	r = store_cursor_seek(cur, al ? after : NULL, al, &k, &kl, &v, &vl);
	if (r == 0 && al && kl == al && memcmp(k, after, al) == 0)
		r = store_cursor_next(cur, &k, &kl, &v, &vl);
	for (; r == 0; r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		void *m;
		r = wire_unpack(keep->type, v, vl, &m);
		if (r < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		const char *area = "";
		if (db == DB_AREAS)
			area = ((tf_area *)m)->code;
		else if (db == DB_ELDERS)
			area = ((tf_elder *)m)->area;
		else if (db == DB_VISITORS)
			area = ((tf_visitor *)m)->area;
		else {
			tf_visitor *owner;
			int gr =
			    registry_get_visitor(q->txn, ((tf_device_key *)m)->visitor_id, &owner);
			if (gr == 0) {
				gr = within(q, owner->area);
				wire_free(WIRE_VISITOR, owner);
			} else if (gr == -ENOENT) {
				gr = !*q->scope;
			}
			if (gr < 0) {
				wire_free(keep->type, m);
				r = gr;
				break;
			}
			if (!gr) {
				wire_free(keep->type, m);
				continue;
			}
			area = NULL;
		}
		int in = area ? (*area ? within(q, area) : !*q->scope) : 1;
		if (in <= 0) {
			wire_free(keep->type, m);
			if (in < 0) {
				r = in;
				break;
			}
			continue;
		}
		if (keep->n == limit) {
			wire_free(keep->type, m);
			break;
		}
		r = msgs_push(keep, m);
		if (r < 0) {
			wire_free(keep->type, m);
			break;
		}
	}
	bool more = r == 0;
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	switch (db) {
	case DB_AREAS: list->areas = (tf_area **)keep->p, list->n_areas = keep->n; break;
	case DB_ELDERS: list->elders = (tf_elder **)keep->p, list->n_elders = keep->n; break;
	case DB_VISITORS:
		list->visitors = (tf_visitor **)keep->p, list->n_visitors = keep->n;
		break;
	default: list->keys = (tf_device_key **)keep->p, list->n_keys = keep->n; break;
	}
	if (more && keep->n) {
		void *last = keep->p[keep->n - 1];
		static __thread char next[80];
		if (db == DB_AREAS)
			snprintf(next, sizeof next, "%s", ((tf_area *)last)->code);
		else if (db == DB_ELDERS)
			snprintf(next, sizeof next, "%s", ((tf_elder *)last)->id);
		else if (db == DB_VISITORS)
			snprintf(next, sizeof next, "%s", ((tf_visitor *)last)->id);
		else
			hex_encode(((tf_device_key *)last)->public_key.data, 32, next);
		list->next = next;
	}
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_REGISTRY;
	q->rep.registry = list;
	return 0;
}

/* ---- Overdue ---- */

#define OVERDUE_COUNT_CAP 5000

/* Splits a DB_DUE key (be64 due || elder \0 rule \0 visitor) in place. */
static int split_due(const void *k, size_t kl, char *buf, size_t bufsz, int64_t *due,
                     const char **elder, const char **rule, const char **visitor)
{
	if (kl < 10 || kl - 8 >= bufsz)
		return TF_E_CORRUPT;
	*due = (int64_t)store_get_be64(k);
	memcpy(buf, (const uint8_t *)k + 8, kl - 8);
	buf[kl - 8] = '\0';
	*elder = buf;
	size_t a = strlen(buf);
	if (a + 1 >= kl - 8)
		return TF_E_CORRUPT;
	*rule = buf + a + 1;
	size_t b = strlen(*rule);
	if (a + b + 2 > kl - 8)
		return TF_E_CORRUPT;
	*visitor = buf + a + b + 2;
	return 0;
}

/* Decodes the message stored under key into *out and keeps it alive in
 * keep until the reply is packed. Returns 0, -ENOENT, or a negative code. */
static int get_kept(struct q *q, enum store_db db, const char *key, size_t kl, struct msgs *keep,
                    void **out)
{
	*out = NULL;
	const void *v;
	size_t vl;
	int r = store_get(q->txn, db, key, kl, &v, &vl);
	if (r < 0)
		return r;
	if (wire_unpack(keep->type, v, vl, out) < 0)
		return TF_E_CORRUPT;
	r = msgs_push(keep, *out);
	if (r < 0) {
		wire_free(keep->type, *out);
		*out = NULL;
	}
	return r;
}

static int overdue_item(struct q *q, int64_t due, const char *elder, const char *rule,
                        const char *visitor, const char *area, struct msgs *keep,
                        Tanfang__V1__OverdueItem *it)
{
	Tanfang__V1__OverdueItem init = TANFANG__V1__OVERDUE_ITEM__INIT;
	*it = init;
	char key[256];
	size_t kl = schedule_duty_key(key, elder, rule, visitor);
	tf_duty *d;
	tf_visitor *vis = NULL;
	tf_elder *e;
	int r = get_kept(q, DB_DUTIES, key, kl, &keep[0], (void **)&d);
	if (r == 0)
		it->last_visit_at = d->last_at;
	/* The duty holder's name, so a supervisor sees who should go. */
	if ((r == 0 || r == -ENOENT) && *visitor)
		r = get_kept(q, DB_VISITORS, visitor, strlen(visitor), &keep[3], (void **)&vis);
	if (r == 0 && vis)
		it->duty_name = vis->name;
	if (r == 0 || r == -ENOENT)
		r = get_kept(q, DB_ELDERS, elder, strlen(elder), &keep[1], (void **)&e);
	if (r == 0)
		it->elder_name = e->name;
	if (r < 0 && r != -ENOENT)
		return r;
	/* The strings point into the decoded duty/elder kept alive in `keep`,
	 * or into the caller's key copy, which is duplicated here. */
	char *dup = malloc(strlen(elder) + strlen(rule) + strlen(visitor) + strlen(area) + 4);
	if (!dup)
		return -ENOMEM;
	r = msgs_push(&keep[2], dup);
	if (r < 0) {
		free(dup);
		return r;
	}
	it->elder_id = strcpy(dup, elder);
	dup += strlen(elder) + 1;
	it->rule = strcpy(dup, rule);
	dup += strlen(rule) + 1;
	it->duty_visitor = strcpy(dup, visitor);
	dup += strlen(visitor) + 1;
	it->area = strcpy(dup, area);
	it->due_at = due;
	it->overdue_s = q->now - due;
	return 0;
}

/* The elder's own area for a due-index key (be64 due || duty key): the
 * first of the areas DB_DUE keeps for it. */
static int duty_area(struct q *q, const uint8_t *key, size_t kl, char *out, size_t size)
{
	const void *v;
	size_t vl;
	int r = store_get(q->txn, DB_DUE, key, kl, &v, &vl);
	if (r < 0)
		return r == -ENOENT ? TF_E_CORRUPT : r;
	size_t n = strnlen(v, vl);
	if (n >= size)
		return TF_E_CORRUPT;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int q_overdue(struct q *q, struct msgs keep[4], Tanfang__V1__OverdueList *list,
                     Tanfang__V1__OverdueItem **items_out)
{
	const Tanfang__V1__OverdueQuery *o = q->req->overdue;
	int r = set_scope(q, o->area);
	if (r)
		return r;
	if (o->horizon_s < 0 || o->horizon_s > 366 * 86400)
		return refuse(q, S(INVALID), "horizon must be 0 to 366 days");
	unsigned limit = o->limit ? o->limit : 50;
	if (limit > 1000)
		limit = 1000;
	Tanfang__V1__OverdueItem *items = calloc(limit, sizeof *items);
	if (!items)
		return -ENOMEM;
	*items_out = items;
	size_t n = 0;
	uint64_t total = 0;
	int64_t until = q->now + o->horizon_s;
	/* The whole registry walks the due index; a scope walks its own
	 * entries in the per-area index (scope \0 due duty), so a township's
	 * first page does not pass over the rest of the banner. */
	char prefix[64] = "";
	size_t pl = *q->scope ? strlen(q->scope) + 1 : 0;
	if (pl > sizeof prefix)
		return refuse(q, S(INVALID), "area code too long");
	memcpy(prefix, q->scope, pl);
	struct store_cursor *cur;
	r = store_cursor_open(q->txn, pl ? DB_DUE_AREA : DB_DUE, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	bool capped = false;
	for (r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, prefix, pl) != 0)
			break;
		char buf[256], area[32];
		int64_t due;
		const char *elder, *rule, *visitor;
		r = split_due((const uint8_t *)k + pl, kl - pl, buf, sizeof buf, &due, &elder,
		              &rule, &visitor);
		if (r < 0)
			break;
		if (due > until)
			break;
		if (*o->rule && strcmp(o->rule, rule) != 0)
			continue;
		if (*o->visitor_id && strcmp(o->visitor_id, visitor) != 0)
			continue;
		if (total >= o->offset && n < limit) {
			r = duty_area(q, (const uint8_t *)k + pl, kl - pl, area, sizeof area);
			if (r == 0)
				r = overdue_item(q, due, elder, rule, visitor, area, keep,
				                 &items[n]);
			if (r < 0)
				break;
			n++;
		}
		/* The first page must come back in milliseconds even from a
		 * store where most of a million elders are overdue: the count
		 * beyond the page is bounded, and says so. */
		if (++total >= (uint64_t)o->offset + limit + OVERDUE_COUNT_CAP) {
			capped = true;
			break;
		}
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	list->items = item_ptrs(&keep[2], items, sizeof *items, n);
	if (!list->items)
		return -ENOMEM;
	list->n_items = n;
	list->total = (uint32_t)total;
	list->now = q->now;
	if (capped)
		snprintf(q->detail, sizeof q->detail, "total is at least %llu",
		         (unsigned long long)total);
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_OVERDUE;
	q->rep.overdue = list;
	return 0;
}

/* ---- Monthly report ---- */

struct row {
	Tanfang__V1__ReportRow pb;
	long parent; /* index into rows, -1 at the scope root */
	char *code, *name;
	char *parent_code; /* NULL at the scope root */
};

struct report {
	struct row *rows;
	size_t n, cap;
	struct smap index; /* area code -> row index */
};

static int report_add_area(struct report *rp, const tf_area *a, bool root)
{
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 64;
		struct row *rows = realloc(rp->rows, cap * sizeof *rows);
		if (!rows)
			return -ENOMEM;
		rp->rows = rows, rp->cap = cap;
	}
	struct row *row = &rp->rows[rp->n];
	Tanfang__V1__ReportRow init = TANFANG__V1__REPORT_ROW__INIT;
	*row = (struct row){.pb = init, .parent = -1};
	row->code = strdup(a->code);
	row->name = strdup(a->name);
	row->parent_code = root ? NULL : strdup(a->parent);
	/* Counted before the checks so report_free frees what was made. */
	rp->n++;
	if (!row->code || !row->name || (!root && !row->parent_code))
		return -ENOMEM;
	return smap_put(&rp->index, a->code, (long)rp->n - 1);
}

static void report_free(struct report *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		free(rp->rows[i].code);
		free(rp->rows[i].name);
		free(rp->rows[i].parent_code);
	}
	free(rp->rows);
	smap_free(&rp->index);
}

struct area_walk {
	struct q *q;
	struct report *rp;
};

static int report_area(void *msg, void *ctx)
{
	struct area_walk *w = ctx;
	tf_area *a = msg;
	int r = within(w->q, a->code);
	if (r > 0)
		r = report_add_area(w->rp, a, strcmp(a->code, w->q->scope) == 0);
	wire_free(WIRE_AREA, a);
	return r < 0 ? r : 0;
}

/* Collects the areas of the scope and links each row to its parent row. */
static int report_areas(struct q *q, struct report *rp)
{
	struct area_walk w = {q, rp};
	int r = registry_foreach(q->txn, DB_AREAS, report_area, &w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rp->n; i++) {
		struct smap_entry *e =
		    rp->rows[i].parent_code ? smap_get(&rp->index, rp->rows[i].parent_code) : NULL;
		rp->rows[i].parent = e ? e->val : -1;
	}
	/* Depth: distance from the scope's top rows. */
	for (size_t i = 0; i < rp->n; i++) {
		unsigned d = 0;
		for (long p = rp->rows[i].parent; p >= 0 && d < 32; p = rp->rows[p].parent)
			d++;
		rp->rows[i].pb.depth = d;
	}
	return 0;
}

static bool active_in(const tf_elder *e, int64_t start, int64_t end)
{
	if (e->registered_at >= end)
		return false;
	bool gone = e->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_DECEASED ||
	            e->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_MOVED_AWAY;
	return !(gone && e->status_since < start);
}

/* How many qualifying visits a household owes in a month under a rule:
 * every-N-days rules owe floor(days/N) (at least 1), weekly rules
 * floor(days/7), monthly rules 1; quarterly rules are not counted monthly. */
static unsigned owed(const struct policy_rule *r, int64_t start, int64_t end)
{
	unsigned days = (unsigned)((end - start + 43200) / 86400);
	switch (r->period.kind) {
	case PERIOD_DAYS: return days / r->period.days ? days / r->period.days : 1;
	case PERIOD_WEEK: return days / 7;
	case PERIOD_MONTH: return 1;
	default: return 0;
	}
}

struct tallies {
	char rule[POLICY_NAME_MAX];
	char visitor[REGISTRY_ID_MAX + 1];
	uint32_t count;
};

static uint32_t tally_of(const struct tallies *t, size_t n, const char *rule, const char *visitor)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].rule, rule) == 0 && strcmp(t[i].visitor, visitor) == 0)
			return t[i].count;
	return 0;
}

static int report_elder(struct q *q, struct report *rp, const tf_elder *e, const struct tallies *t,
                        size_t nt, int64_t start, int64_t end)
{
	struct smap_entry *ent = smap_get(&rp->index, e->area);
	if (!ent)
		return 0;
	uint32_t req = 0, vis = 0, preq = 0, pdone = 0, nreq = 0, nset = 0, ndone = 0;
	bool visited = false, any_visit_rule = false, neighbour_rule = false, all_checked = true;
	for (size_t i = 0; i < q->pol->n_rules; i++) {
		const struct policy_rule *r = &q->pol->rules[i];
		if (r->report == REPORT_NONE || !policy_rule_applies(q->pol, r, e))
			continue;
		if (r->report == REPORT_VISIT) {
			any_visit_rule = true;
			if (tally_of(t, nt, r->name, "") >= 1)
				visited = true;
		} else if (r->report == REPORT_PARTY) {
			for (size_t k = 0; k < e->n_visitors; k++) {
				int role = visitor_role(q, e->visitors[k]);
				if (role < 0 || (r->roles && !(r->roles & (1u << role))))
					continue;
				preq++;
				if (tally_of(t, nt, r->name, e->visitors[k]) >= owed(r, start, end))
					pdone++;
			}
		} else if (r->report == REPORT_NEIGHBOUR) {
			neighbour_rule = true;
			for (size_t k = 0; k < e->n_neighbours; k++)
				if (tally_of(t, nt, r->name, e->neighbours[k]) <
				    owed(r, start, end))
					all_checked = false;
		}
	}
	if (any_visit_rule) {
		req = 1;
		vis = visited;
	}
	if (neighbour_rule) {
		nreq = 1;
		nset = e->n_neighbours >= 2;
		ndone = nset && all_checked;
	}
	for (long i = ent->val; i >= 0; i = rp->rows[i].parent) {
		Tanfang__V1__ReportRow *row = &rp->rows[i].pb;
		row->required += req, row->visited += vis;
		row->party_required += preq, row->party_done += pdone;
		row->neighbour_required += nreq, row->neighbour_set_up += nset;
		row->neighbour_done += ndone;
	}
	return 0;
}

/* Reads the month's tallies of one elder from the monthly cursor, which
 * walks in elder-id order beside the elders cursor (a merge join: one pass
 * over each, no lookups per elder). */
static int next_tallies(struct store_cursor *mc, int *mr, const void **mk, size_t *mkl,
                        const void **mv, size_t *mvl, const uint8_t month[4], const char *elder,
                        struct tallies *t, size_t *nt, size_t max)
{
	*nt = 0;
	for (; *mr == 0; *mr = store_cursor_next(mc, mk, mkl, mv, mvl)) {
		const uint8_t *k = *mk;
		if (*mkl < 6 || memcmp(k, month, 4) != 0) {
			*mr = -ENOENT;
			break;
		}
		char buf[256];
		size_t len = *mkl - 4 < sizeof buf - 1 ? *mkl - 4 : sizeof buf - 1;
		memcpy(buf, k + 4, len);
		buf[len] = '\0';
		int c = strcmp(buf, elder);
		if (c > 0)
			break;
		if (c < 0)
			continue;
		size_t a = strlen(buf);
		const char *rule = buf + a + 1,
		           *visitor = a + 1 < len ? rule + strlen(rule) + 1 : "";
		if (a + 1 >= len || *nt == max || *mvl != 4)
			continue;
		if ((size_t)(visitor - buf) > len)
			visitor = "";
		size_t rl = strlen(rule), vl = strlen(visitor);
		if (rl >= sizeof t->rule || vl >= sizeof t->visitor)
			continue;
		const uint8_t *v = *mv;
		memcpy(t[*nt].rule, rule, rl + 1);
		memcpy(t[*nt].visitor, visitor, vl + 1);
		t[*nt].count =
		    (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
		(*nt)++;
	}
	return *mr == -ENOENT || *mr == 0 ? 0 : *mr;
}

static int q_report(struct q *q, struct report *rp, Tanfang__V1__Report *rep,
                    Tanfang__V1__ReportRow ***ptrs_out)
{
	const Tanfang__V1__ReportQuery *rq = q->req->report;
	if (q->signer->role != ROLE(ADMIN) && q->signer->role != ROLE(SUPERVISOR))
		return refuse(q, S(FORBIDDEN), "only supervisors and admins may read reports");
	int r = set_scope(q, rq->area);
	if (r)
		return r;
	int64_t start, end;
	if (period_parse_month(rq->month, &start, &end) < 0)
		return refuse(q, S(INVALID), "month must be YYYY-MM, got '%s'", rq->month);
	r = report_areas(q, rp);
	if (r < 0)
		return r;
	int ym = period_month_of(start);
	uint8_t month[4] = {(uint8_t)(ym >> 24), (uint8_t)(ym >> 16), (uint8_t)(ym >> 8),
	                    (uint8_t)ym};

	struct store_cursor *ec = NULL, *mc = NULL;
	r = store_cursor_open(q->txn, DB_ELDERS, &ec);
	if (r == 0)
		r = store_cursor_open(q->txn, DB_MONTHLY, &mc);
	const void *k, *v, *mk = NULL, *mv = NULL;
	size_t kl, vl, mkl = 0, mvl = 0;
	int mr = r == 0 ? store_cursor_seek(mc, month, 4, &mk, &mkl, &mv, &mvl) : r;
	struct tallies t[32];
	if (r == 0)
		r = store_cursor_seek(ec, NULL, 0, &k, &kl, &v, &vl);
	for (; r == 0; r = store_cursor_next(ec, &k, &kl, &v, &vl)) {
		tf_elder *e;
		r = wire_unpack(WIRE_ELDER, v, vl, (void **)&e);
		if (r < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		size_t nt = 0;
		r = next_tallies(mc, &mr, &mk, &mkl, &mv, &mvl, month, e->id, t, &nt, 32);
		if (r == 0 && active_in(e, start, end))
			r = report_elder(q, rp, e, t, nt, start, end);
		wire_free(WIRE_ELDER, e);
		if (r < 0)
			break;
	}
	store_cursor_close(ec);
	store_cursor_close(mc);
	if (r < 0 && r != -ENOENT)
		return r;
	/* Rows in tree order: each area followed by its subtree, siblings by code. */
	Tanfang__V1__ReportRow **ptrs = calloc(rp->n ? rp->n : 1, sizeof *ptrs);
	if (!ptrs)
		return -ENOMEM;
	*ptrs_out = ptrs;
	size_t n = 0;
	long *stack = calloc(rp->n + 1, sizeof *stack);
	if (!stack)
		return -ENOMEM;
	/* Areas come from LMDB in code order, so pushing children in reverse
	 * code order pops them in code order. */
	size_t sp = 0;
	for (long i = (long)rp->n - 1; i >= 0; i--)
		if (rp->rows[i].parent < 0)
			stack[sp++] = i;
	while (sp) {
		long i = stack[--sp];
		struct row *row = &rp->rows[i];
		row->pb.area = row->code;
		row->pb.name = row->name;
		ptrs[n++] = &row->pb;
		for (long c = (long)rp->n - 1; c >= 0; c--)
			if (rp->rows[c].parent == i && sp < rp->n)
				stack[sp++] = c;
	}
	free(stack);
	rep->month = (char *)rq->month;
	rep->rows = ptrs;
	rep->n_rows = n;
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_REPORT;
	q->rep.report = rep;
	return 0;
}

/* ---- Elder history ---- */

static int q_history(struct q *q, struct msgs *keep, Tanfang__V1__ElderHistory *h,
                     Tanfang__V1__HistoryItem **items_out)
{
	const Tanfang__V1__ElderHistoryQuery *hq = q->req->elder_history;
	if (!may_query(q->signer))
		return refuse(q, S(FORBIDDEN), "role may not read elder histories");
	tf_elder *e;
	int r = registry_get_elder(q->txn, hq->elder_id, &e);
	if (r == -ENOENT)
		return refuse(q, S(UNKNOWN_ELDER), "no elder with id %s", hq->elder_id);
	if (r < 0)
		return r;
	keep[1].type = WIRE_ELDER;
	r = msgs_push(&keep[1], e);
	if (r < 0) {
		wire_free(WIRE_ELDER, e);
		return r;
	}
	q->scope = q->signer->area;
	int in = within(q, e->area);
	if (in < 0)
		return in;
	if (!in)
		return refuse(q, S(FORBIDDEN), "elder %s is outside your scope", e->id);
	unsigned limit = hq->limit ? hq->limit : 100;
	if (limit > 1000)
		limit = 1000;
	Tanfang__V1__HistoryItem *items = calloc(limit, sizeof *items);
	if (!items)
		return -ENOMEM;
	*items_out = items;
	uint8_t end[REGISTRY_ID_MAX + 32];
	size_t pl = strlen(e->id) + 1;
	memcpy(end, e->id, pl);
	memset(end + pl, 0xff, 24);
	struct store_cursor *cur;
	r = store_cursor_open(q->txn, DB_ELDER_HIST, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	size_t n = 0;
	r = store_cursor_seek(cur, end, pl + 24, &k, &kl, &v, &vl);
	r = r == -ENOENT ? store_cursor_last(cur, &k, &kl, &v, &vl)
	                 : store_cursor_prev(cur, &k, &kl, &v, &vl);
	for (; r == 0 && n < limit; r = store_cursor_prev(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 24 || memcmp(k, e->id, pl) != 0)
			break;
		tf_record *rec;
		r = record_get(q->txn, (const uint8_t *)k + pl + 8, &rec);
		if (r < 0)
			break;
		r = msgs_push(keep, rec);
		if (r < 0) {
			wire_free(WIRE_RECORD, rec);
			break;
		}
		Tanfang__V1__HistoryItem init = TANFANG__V1__HISTORY_ITEM__INIT;
		items[n] = init;
		items[n].visit = rec->visit;
		items[n].care_event = rec->care_event;
		items[n].visitor_id = rec->visitor_id;
		items[n].flags = rec->flags;
		items[n].n_flags = rec->n_flags;
		items[n].received_at = rec->received_at;
		n++;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	h->items = item_ptrs(&keep[2], items, sizeof *items, n);
	if (!h->items)
		return -ENOMEM;
	h->elder = e;
	h->n_items = n;
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_HISTORY;
	q->rep.history = h;
	return 0;
}

/* ---- Visitor activity ---- */

static int activity_of(struct q *q, const tf_visitor *vis, int64_t start, int64_t end,
                       Tanfang__V1__ActivityRow *row)
{
	uint8_t from[REGISTRY_ID_MAX + 32];
	size_t pl = strlen(vis->id) + 1;
	memcpy(from, vis->id, pl);
	store_be64(from + pl, (uint64_t)start);
	struct store_cursor *cur;
	int r = store_cursor_open(q->txn, DB_VISITOR_HIST, &cur);
	if (r < 0)
		return r;
	struct smap elders = {0};
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, from, pl + 8, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 24 || memcmp(k, vis->id, pl) != 0)
			break;
		if ((int64_t)store_get_be64((const uint8_t *)k + pl) >= end)
			break;
		tf_record *rec;
		r = record_get(q->txn, (const uint8_t *)k + pl + 8, &rec);
		if (r < 0)
			break;
		if (rec->visit) {
			row->visits++;
			switch (rec->visit->kind) {
			case TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR:
			case TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER: row->door++; break;
			case TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE: row->phone++; break;
			case TANFANG__V1__VISIT_KIND__VISIT_KIND_NEIGHBOUR_CHECK:
				row->neighbour_checks++;
				break;
			default: break;
			}
			if (rec->n_flags)
				row->flagged++;
			if (!smap_get(&elders, rec->visit->elder_id))
				r = smap_put(&elders, rec->visit->elder_id, 1);
		}
		wire_free(WIRE_RECORD, rec);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	row->elders = (uint32_t)elders.n;
	smap_free(&elders);
	return r == -ENOENT || r == 0 ? 0 : r;
}

struct visitor_walk {
	struct q *q;
	struct msgs *keep;
	const char *only; /* "" = every visitor in scope */
};

/* Keeps the visitors whose activity is reported: in scope, and people who
 * visit (not administrators or dispatchers). */
static int activity_visitor(void *msg, void *ctx)
{
	struct visitor_walk *w = ctx;
	tf_visitor *vis = msg;
	int in = 0;
	if ((!*w->only || strcmp(w->only, vis->id) == 0) && vis->role != ROLE(ADMIN) &&
	    vis->role != ROLE(DISPATCHER))
		in = *vis->area ? within(w->q, vis->area) : !*w->q->scope;
	if (in > 0 && (in = msgs_push(w->keep, vis)) == 0)
		return 0;
	wire_free(WIRE_VISITOR, vis);
	return in < 0 ? in : 0;
}

static int q_activity(struct q *q, struct msgs keep[4], Tanfang__V1__Activity *act,
                      Tanfang__V1__ActivityRow **rows_out)
{
	const Tanfang__V1__ActivityQuery *aq = q->req->activity;
	if (q->signer->role != ROLE(ADMIN) && q->signer->role != ROLE(SUPERVISOR))
		return refuse(q, S(FORBIDDEN), "only supervisors and admins may read activity");
	int r = set_scope(q, aq->area);
	if (r)
		return r;
	int64_t start, end;
	if (period_parse_span(aq->period, &start, &end) < 0)
		return refuse(q, S(INVALID), "period must be YYYY-MM or YYYY-Qn, got '%s'",
		              aq->period);
	keep[0].type = WIRE_VISITOR;
	struct visitor_walk w = {q, &keep[0], aq->visitor_id};
	r = registry_foreach(q->txn, DB_VISITORS, activity_visitor, &w);
	if (r < 0)
		return r;
	size_t n = keep[0].n;
	Tanfang__V1__ActivityRow *rows = calloc(n ? n : 1, sizeof *rows);
	*rows_out = rows;
	if (!rows)
		return -ENOMEM;
	act->rows = item_ptrs(&keep[2], rows, sizeof *rows, n);
	if (!act->rows)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const tf_visitor *vis = keep[0].p[i];
		Tanfang__V1__ActivityRow init = TANFANG__V1__ACTIVITY_ROW__INIT;
		rows[i] = init;
		rows[i].visitor_id = vis->id;
		rows[i].name = vis->name;
		rows[i].role = vis->role;
		rows[i].area = vis->area;
		r = activity_of(q, vis, start, end, &rows[i]);
		if (r < 0)
			return r;
	}
	act->n_rows = n;
	act->period = (char *)aq->period;
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_ACTIVITY;
	q->rep.activity = act;
	return 0;
}

int query_run(struct store_txn *txn, const struct policy *pol, const tf_visitor *signer,
              const tf_request *req, const uint8_t ref[32], int64_t now, uint8_t **out,
              size_t *out_len)
{
	struct q q = {.txn = txn, .pol = pol, .signer = signer, .req = req, .now = now};
	wire_init(WIRE_REPLY, &q.rep);
	q.rep.status = S(OK);
	q.scope = signer->area;
	/* Decoded messages the reply points into: [0] per query, [1] elders,
	 * [2] plain allocations, [3] visitors. */
	struct msgs keep[4] = {
	    {.type = WIRE_RECORD}, {.type = WIRE_ELDER}, {0}, {.type = WIRE_VISITOR}};
	keep[0].type = req->op_case == OP(OVERDUE) ? WIRE_DUTY : WIRE_RECORD;
	Tanfang__V1__RegistryList rl = TANFANG__V1__REGISTRY_LIST__INIT;
	Tanfang__V1__OverdueList ol = TANFANG__V1__OVERDUE_LIST__INIT;
	Tanfang__V1__Report rep = TANFANG__V1__REPORT__INIT;
	Tanfang__V1__ElderHistory eh = TANFANG__V1__ELDER_HISTORY__INIT;
	Tanfang__V1__Activity act = TANFANG__V1__ACTIVITY__INIT;
	Tanfang__V1__OverdueItem *oitems = NULL;
	Tanfang__V1__HistoryItem *hitems = NULL;
	Tanfang__V1__ActivityRow *arows = NULL;
	Tanfang__V1__ReportRow **rptrs = NULL;
	struct report rp = {0};
	int r;
	if (!may_query(signer)) {
		r = refuse(&q, S(FORBIDDEN), "role %s may not run queries",
		           wire_role_name(signer->role));
	} else {
		switch (req->op_case) {
		case OP(GET_REGISTRY): r = q_registry(&q, &keep[0], &rl); break;
		case OP(OVERDUE): r = q_overdue(&q, keep, &ol, &oitems); break;
		case OP(REPORT): r = q_report(&q, &rp, &rep, &rptrs); break;
		case OP(ELDER_HISTORY): r = q_history(&q, keep, &eh, &hitems); break;
		case OP(ACTIVITY): r = q_activity(&q, keep, &act, &arows); break;
		default: r = refuse(&q, S(INVALID), "not a query"); break;
		}
	}
	if (r < 0) {
		/* Nothing partial goes out: a failed query is an error reply. */
		q.rep.result_case = TANFANG__V1__REPLY__RESULT__NOT_SET;
		q.rep.status = r == -ENOMEM ? S(INTERNAL) : S(INTERNAL);
		snprintf(q.detail, sizeof q.detail, "query failed: %s", tf_strerror(r));
	}
	q.rep.detail = q.detail;
	q.rep.ref.data = (uint8_t *)ref;
	q.rep.ref.len = 32;
	int pr = wire_pack(WIRE_REPLY, &q.rep, out, out_len);
	free(oitems);
	free(hitems);
	free(arows);
	free(rptrs);
	report_free(&rp);
	msgs_free(&keep[0], keep[0].type != WIRE_TYPE_COUNT);
	msgs_free(&keep[1], true);
	msgs_free(&keep[2], false);
	msgs_free(&keep[3], true);
	smap_free(&q.within);
	smap_free(&q.roles);
	return pr;
}
