#include "query.h"

#include <errno.h>
#include <pthread.h>
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
#include "timeline.h"

#define S(x)    TANFANG__V1__STATUS__STATUS_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x
#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x

/* ---- a small string-keyed hash table: area scope answers, visitor roles,
 * report rows. Queries over a banner touch thousands of areas and a
 * million elders; walking parent links per elder would dominate. */

struct smap_entry {
	uint64_t hash; /* of key; 0 marks a free slot (hash_str never gives 0) */
	long val;
	char *key;      /* small, or its own allocation */
	char small[40]; /* keys up to 39 bytes (ids, codes) live here: one cache line */
};

struct smap {
	struct smap_entry *tab;
	size_t cap, n;
};

/* FNV-1a, never 0 (0 marks a free slot). */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h ? h : 1;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->tab[i].hash && m->tab[i].key != m->tab[i].small)
			free(m->tab[i].key);
	free(m->tab);
	memset(m, 0, sizeof *m);
}

/* Returns the entry's slot, NULL if absent. Entries stay where they are
 * until the next smap_put. */
static struct smap_entry *smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	uint64_t h = hash_str(key);
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct smap_entry *e = &m->tab[i];
		if (!e->hash)
			return NULL;
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	}
}

/* Moves entry e into an empty slot of m (keys in small move with it). */
static void smap_place(struct smap *m, const struct smap_entry *e)
{
	size_t j = e->hash & (m->cap - 1);
	while (m->tab[j].hash)
		j = (j + 1) & (m->cap - 1);
	struct smap_entry *d = &m->tab[j];
	*d = *e;
	if (e->key == e->small)
		d->key = d->small;
	m->n++;
}

static int smap_put(struct smap *m, const char *key, long val)
{
	struct smap_entry *e = smap_get(m, key);
	if (e) {
		e->val = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct smap big = {calloc(cap, sizeof *m->tab), cap, 0};
		if (!big.tab)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->tab[i].hash)
				smap_place(&big, &m->tab[i]);
		free(m->tab);
		*m = big;
	}
	struct smap_entry n = {.hash = hash_str(key), .val = val};
	size_t len = strlen(key);
	if (len < sizeof n.small) {
		memcpy(n.small, key, len + 1);
		n.key = n.small;
	} else if (!(n.key = strdup(key))) {
		return -ENOMEM;
	}
	smap_place(m, &n);
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
};

static int refuse(struct q *q, int status, const char *fmt, ...) TF_PRINTF(3, 4);
static int refuse(struct q *q, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->detail, sizeof q->detail, fmt, ap);
	va_end(ap);
	wire_utf8_truncate(q->detail); /* a detail cut mid-character */
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
	/* The areas of a scope are the names of its villages, nobody's
	 * personal data: a dispatcher reads them too, so its overdue list
	 * names villages as a supervisor's does. */
	bool areas = g->what == TANFANG__V1__GET_REGISTRY__WHAT__WHAT_AREAS;
	if (q->signer->role != ROLE(ADMIN) && q->signer->role != ROLE(SUPERVISOR) &&
	    !(areas && q->signer->role == ROLE(DISPATCHER)))
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
		r = wire_unpack_stored(keep->type, v, vl, &m);
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
	if (wire_unpack_stored(keep->type, v, vl, out) < 0)
		return TF_E_CORRUPT;
	r = msgs_push(keep, *out);
	if (r < 0) {
		wire_free(keep->type, *out);
		*out = NULL;
	}
	return r;
}

static bool elder_duty_falls_to(const struct policy *pol, const char *rule, int role);

/* An elder-wide duty names the elder's assigned visitors whose role counts
 * under the rule (issue 11, item 6), in it->assigned_ids / _names. */
static int overdue_assigned(struct q *q, const tf_elder *e, const char *rule, struct msgs *keep,
                            Tanfang__V1__OverdueItem *it)
{
	if (!e->n_visitors)
		return 0;
	char **ids = calloc(e->n_visitors, sizeof *ids);
	char **names = calloc(e->n_visitors, sizeof *names);
	int r = !ids || !names ? -ENOMEM : msgs_push(&keep[2], ids);
	if (r < 0) {
		free(ids);
		free(names);
		return r;
	}
	if ((r = msgs_push(&keep[2], names)) < 0) {
		free(names);
		return r;
	}
	size_t n = 0;
	for (size_t i = 0; i < e->n_visitors; i++) {
		tf_visitor *v;
		r = get_kept(q, DB_VISITORS, e->visitors[i], strlen(e->visitors[i]), &keep[3],
		             (void **)&v);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (!elder_duty_falls_to(q->pol, rule, (int)v->role))
			continue;
		ids[n] = v->id;
		names[n++] = v->name;
	}
	it->assigned_ids = ids;
	it->assigned_names = names;
	it->n_assigned_ids = it->n_assigned_names = n;
	return 0;
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
	if (r == 0 && !*visitor)
		r = overdue_assigned(q, e, rule, keep, it);
	if (r < 0 && r != -ENOENT)
		return r;
	const struct policy_rule *pr = policy_find(q->pol, rule);
	if (pr && *pr->label)
		it->rule_label = (char *)pr->label;
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

/* A due-index key (be64 due || elder \0 rule \0 visitor), copied. */
struct due_key {
	size_t len;
	uint8_t k[264];
};

struct due_keys {
	struct due_key *v;
	size_t n, cap;
};

/* Beyond this a visitor's list is cut (and the count says "at least"). */
#define VISITOR_DUTIES_MAX 200000

static int due_keys_push(struct due_keys *d, int64_t due, const void *key, size_t kl)
{
	if (kl + 8 > sizeof d->v[0].k)
		return TF_E_CORRUPT;
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct due_key *v = realloc(d->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		d->v = v, d->cap = cap;
	}
	struct due_key *e = &d->v[d->n++];
	store_be64(e->k, (uint64_t)due);
	memcpy(e->k + 8, key, kl);
	e->len = kl + 8;
	return 0;
}

static int due_key_cmp(const void *pa, const void *pb)
{
	const struct due_key *a = pa, *b = pb;
	int c = memcmp(a->k, b->k, a->len < b->len ? a->len : b->len);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Does an elder-wide duty under rule (a policy rule name, or "1+2 not set
 * up") fall to an assigned visitor of this role? The rule's counting roles
 * decide; finding two neighbour households ("not set up") falls to the
 * village's own staff, not to a party member or a volunteer. */
static bool elder_duty_falls_to(const struct policy *pol, const char *rule, int role)
{
	const struct policy_rule *r = policy_find(pol, rule);
	if (!r)
		return strcmp(rule, SCHEDULE_NOT_SET_UP) == 0 &&
		       (role == ROLE(GRID_WORKER) || role == ROLE(VILLAGE_CADRE) ||
		        role == ROLE(CIVIL_AFFAIRS_ASSISTANT) || role == ROLE(SOCIAL_WORKER));
	return r->duty == DUTY_ELDER && (!r->roles || (r->roles & (1u << role)));
}

/* Calls fn for each stored duty of elder id (decoded, freed after fn; key
 * and kl are the duty's DB_DUTIES key). fn returns 0 to go on, 1 to stop,
 * or a negative code. Returns 0 or a negative code. */
typedef int (*elder_duty_fn)(struct q *q, const tf_duty *d, const void *key, size_t kl, void *ctx);
static int elder_duties_each(struct q *q, const char *id, elder_duty_fn fn, void *ctx)
{
	size_t pl = strlen(id) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(q->txn, DB_DUTIES, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, id, pl) != 0)
			break;
		tf_duty *d;
		if (wire_unpack_stored(WIRE_DUTY, v, vl, (void **)&d) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		r = fn(q, d, k, kl, ctx);
		wire_free(WIRE_DUTY, d);
		if (r != 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT || r == 1 ? 0 : r;
}

struct visitor_elder_ctx {
	int role;
	int64_t until;
	struct due_keys *d;
};

static int visitor_elder_duty(struct q *q, const tf_duty *duty, const void *key, size_t kl,
                              void *ctx)
{
	struct visitor_elder_ctx *c = ctx;
	/* An elder-wide duty (no holder) that falls to the visitor's role. */
	if (*duty->visitor_id || !elder_duty_falls_to(q->pol, duty->rule, c->role))
		return 0;
	if (!duty->due_at || duty->due_at > c->until)
		return 0;
	if (c->d->n >= VISITOR_DUTIES_MAX)
		return 1;
	return due_keys_push(c->d, duty->due_at, key, kl);
}

/* The elder-wide duties of elder e due by until that fall to visitor
 * (issue 11, item 6: "overdue --visitor G" finds a grid worker's monthly
 * visits), appended to d. */
static int visitor_elder_duties(struct q *q, const tf_elder *e, int role, int64_t until,
                                struct due_keys *d)
{
	struct visitor_elder_ctx c = {role, until, d};
	return elder_duties_each(q, e->id, visitor_elder_duty, &c);
}

/* Every duty of visitor vis due by until, in due order: those that name
 * the visitor (DB_DUE_VISITOR) and the elder-wide duties of the elders the
 * visitor is assigned to (DB_ASSIGNED, then the elder's duties). A
 * visitor serves hundreds of elders, not a banner: collected whole. */
static int visitor_duties(struct q *q, const tf_visitor *vis, int64_t until, struct due_keys *d)
{
	size_t pl = strlen(vis->id) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(q->txn, DB_DUE_VISITOR, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, vis->id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl + 8 || memcmp(k, vis->id, pl) != 0)
			break;
		int64_t due = (int64_t)store_get_be64((const uint8_t *)k + pl);
		if (due > until || d->n >= VISITOR_DUTIES_MAX)
			break;
		if ((r = due_keys_push(d, due, (const uint8_t *)k + pl + 8, kl - pl - 8)) < 0)
			break;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	if ((r = store_cursor_open(q->txn, DB_ASSIGNED, &cur)) < 0)
		return r;
	for (r = store_cursor_seek(cur, vis->id, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, vis->id, pl) != 0)
			break;
		char id[REGISTRY_ID_MAX + 1];
		if (kl - pl > REGISTRY_ID_MAX)
			continue;
		memcpy(id, (const char *)k + pl, kl - pl);
		id[kl - pl] = '\0';
		tf_elder *e;
		r = registry_get_elder(q->txn, id, &e);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			break;
		/* Assigned as a visitor, not as a neighbour household. */
		bool visitor = false;
		for (size_t i = 0; i < e->n_visitors; i++)
			if (strcmp(e->visitors[i], vis->id) == 0)
				visitor = true;
		if (visitor)
			r = visitor_elder_duties(q, e, (int)vis->role, until, d);
		wire_free(WIRE_ELDER, e);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	if (d->n)
		qsort(d->v, d->n, sizeof *d->v, due_key_cmp);
	return 0;
}

/* The rule names of the policy, for a refusal: "a, b, c". */
static void rule_names(const struct policy *pol, char *buf, size_t size)
{
	buf[0] = '\0';
	size_t n = 0;
	for (size_t i = 0; i < pol->n_rules; i++)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", i ? ", " : "",
		                      pol->rules[i].name);
	if (n < size)
		snprintf(buf + n, size - n, ", %s", SCHEDULE_NOT_SET_UP);
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
	/* A rule or visitor that does not exist is an error, not an empty
	 * "all clear" (issue 11, item 6: "--rule monthly" was a typo). */
	if (*o->rule && !policy_find(q->pol, o->rule) &&
	    strcmp(o->rule, SCHEDULE_NOT_SET_UP) != 0) {
		char names[300];
		rule_names(q->pol, names, sizeof names);
		return refuse(q, S(NOT_FOUND), "no rule '%s' in the policy (rules: %s)", o->rule,
		              names);
	}
	bool by_visitor = *o->visitor_id;
	tf_visitor *vis = NULL;
	if (by_visitor) {
		r = registry_get_visitor(q->txn, o->visitor_id, &vis);
		if (r == -ENOENT)
			return refuse(q, S(NOT_FOUND), "no visitor %s", o->visitor_id);
		if (r < 0)
			return r;
		r = msgs_push(&keep[3], vis);
		if (r < 0) {
			wire_free(WIRE_VISITOR, vis);
			return r;
		}
	}
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
	 * first page does not pass over the rest of the banner; one visitor's
	 * duties are collected whole (visitor_duties), filtered by the scope. */
	struct due_keys vd = {0};
	if (by_visitor && (r = visitor_duties(q, vis, until, &vd)) < 0) {
		free(vd.v);
		return r;
	}
	const char *pfx = q->scope;
	char prefix[REGISTRY_ID_MAX + 2] = "";
	size_t pl = *pfx && !by_visitor ? strlen(pfx) + 1 : 0;
	if (pl > sizeof prefix) {
		free(vd.v);
		return refuse(q, S(INVALID), "area code too long");
	}
	memcpy(prefix, pfx, pl);
	struct store_cursor *cur = NULL;
	if (!by_visitor && (r = store_cursor_open(q->txn, pl ? DB_DUE_AREA : DB_DUE, &cur)) < 0)
		return r;
	const void *k = NULL, *v;
	size_t kl = 0, vl, vi = 0;
	bool capped = by_visitor && vd.n >= VISITOR_DUTIES_MAX;
	uint64_t examined = 0;
	if (by_visitor) {
		r = vd.n ? 0 : -ENOENT;
		if (!r)
			k = vd.v[0].k, kl = vd.v[0].len;
	} else {
		r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl);
	}
	for (; r == 0; r = by_visitor ? (++vi < vd.n ? 0 : -ENOENT)
	                              : store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (by_visitor)
			k = vd.v[vi].k, kl = vd.v[vi].len;
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
		/* The first page must come back in milliseconds even from a
		 * store where most of a million elders are overdue: the walk
		 * beyond the page is bounded, and the count says so. */
		if (!by_visitor && ++examined > (uint64_t)o->offset + limit + OVERDUE_COUNT_CAP) {
			capped = true;
			break;
		}
		if (*o->rule && strcmp(o->rule, rule) != 0)
			continue;
		bool have_area = false;
		if (by_visitor && *q->scope) {
			r = duty_area(q, (const uint8_t *)k + pl, kl - pl, area, sizeof area);
			if (r == 0)
				r = within(q, area);
			if (r < 0)
				break;
			if (!r)
				continue;
			have_area = true;
		}
		if (total >= o->offset && n < limit) {
			r = have_area
			        ? 0
			        : duty_area(q, (const uint8_t *)k + pl, kl - pl, area, sizeof area);
			if (r == 0)
				r = overdue_item(q, due, elder, rule, visitor, area, keep,
				                 &items[n]);
			if (r < 0)
				break;
			n++;
		}
		total++;
	}
	store_cursor_close(cur);
	free(vd.v);
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

/* ---- Monthly report ----
 *
 * Who is required in a month (docs/supervisor.md): an elder under a rule and
 * on the register on the month's last day, or visited in the month while
 * under the rule (so an elder who died on the 3rd without a visit is not
 * required, and one visited on the 2nd is). The elder counts in the area it
 * belonged to on the month's last day, or, if it left the register during
 * the month, on its last day on it. Every figure reads the registry as it
 * was then (timeline.h) and the month's visits by their own dates, so a
 * later change never rewrites a past month. */

struct row {
	Tanfang__V1__ReportRow pb;
	long parent; /* index into rows, -1 at the scope root */
	char *code, *name;
	char *parent_code;      /* NULL at the scope root */
	tf_filed_report *filed; /* this area's own filing of the month, or NULL */
};

struct report {
	struct row *rows;
	size_t n, cap;
	struct smap index; /* area code -> row index */
	int64_t start, end;
	int yyyymm;
	/* Role cache: the role of a visitor holds over an interval. */
	struct smap role_idx; /* visitor -> index into roles */
	struct role_span {
		int role;
		int64_t from, until;
	} * roles;
	size_t n_roles, cap_roles;
	/* Late facts of a filed month, and the elders with late registry
	 * facts or events (from the arrival index). */
	struct smap late_elders;
	char last_area[REGISTRY_ID_MAX + 1];
	struct smap_entry *last_row;
	int64_t filed_at;
	const char *filed_by;
	Tanfang__V1__LateFact *late;
	size_t n_late, cap_late;
	uint32_t late_total;
	struct msgs late_strs; /* plain allocations the late facts point into */
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
		wire_free(WIRE_FILED_REPORT, rp->rows[i].filed);
	}
	free(rp->rows);
	smap_free(&rp->index);
	smap_free(&rp->role_idx);
	smap_free(&rp->late_elders);
	free(rp->roles);
	free(rp->late);
	msgs_free(&rp->late_strs, false);
}

/* Every area as it was on the month's last day, kept if the scope was it
 * or above it then. */
struct area_set {
	tf_area **a;
	size_t n, cap;
	struct smap index;
};

static int collect_area(const tf_area *a, void *ctx)
{
	struct area_set *set = ctx;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		tf_area **p = realloc(set->a, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		set->a = p, set->cap = cap;
	}
	uint8_t *buf;
	size_t len;
	int r = wire_pack(WIRE_AREA, a, &buf, &len);
	if (r < 0)
		return r;
	r = wire_unpack_stored(WIRE_AREA, buf, len, (void **)&set->a[set->n]);
	free(buf);
	if (r < 0)
		return r;
	set->n++;
	return smap_put(&set->index, a->code, (long)set->n - 1);
}

static bool area_in(const struct area_set *set, size_t i, const char *scope)
{
	if (!*scope)
		return true;
	for (int depth = 0; depth < 16; depth++) {
		if (strcmp(set->a[i]->code, scope) == 0)
			return true;
		struct smap_entry *p = smap_get(&set->index, set->a[i]->parent);
		if (!p)
			return false;
		i = (size_t)p->val;
	}
	return false;
}

static int report_areas(struct q *q, struct report *rp)
{
	struct area_set set = {0};
	int r = timeline_areas_at(q->txn, rp->end - 1, collect_area, &set);
	for (size_t i = 0; r == 0 && i < set.n; i++)
		if (area_in(&set, i, q->scope))
			r = report_add_area(rp, set.a[i], strcmp(set.a[i]->code, q->scope) == 0);
	for (size_t i = 0; i < set.n; i++)
		wire_free(WIRE_AREA, set.a[i]);
	free(set.a);
	smap_free(&set.index);
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

/* The role of visitor at t, through the cache. */
static int report_role(struct q *q, struct report *rp, const char *visitor, int64_t t, int *role)
{
	struct smap_entry *e = smap_get(&rp->role_idx, visitor);
	if (e) {
		struct role_span *s = &rp->roles[e->val];
		if (t >= s->from && t < s->until) {
			*role = s->role;
			return 0;
		}
	}
	struct role_span s;
	int r = timeline_role_at(q->txn, visitor, t, &s.role, &s.from, &s.until);
	if (r < 0)
		return r;
	*role = s.role;
	if (e) {
		rp->roles[e->val] = s;
		return 0;
	}
	if (rp->n_roles == rp->cap_roles) {
		size_t cap = rp->cap_roles ? rp->cap_roles * 2 : 256;
		struct role_span *p = realloc(rp->roles, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		rp->roles = p, rp->cap_roles = cap;
	}
	rp->roles[rp->n_roles] = s;
	return smap_put(&rp->role_idx, visitor, (long)rp->n_roles++);
}

/* How many qualifying visits a household owes for `seconds` of a month in
 * which the rule was in force: every-N-days rules owe floor(days/N) (at
 * least 1), weekly rules floor(days/7), monthly rules 1; quarterly rules are
 * not counted monthly. */
static unsigned owed(const struct policy_rule *r, int64_t seconds)
{
	if (seconds <= 0)
		return 0;
	unsigned days = (unsigned)((seconds + 43200) / 86400);
	switch (r->period.kind) {
	case PERIOD_DAYS: return days / r->period.days ? days / r->period.days : 1;
	case PERIOD_WEEK: return days / 7;
	case PERIOD_MONTH: return 1;
	default: return 0;
	}
}

/* One elder's month: its spans (raw values, decoded on demand) and the
 * month's visits. */
#define MONTH_VISITS_MAX 512
#define ROLE_UNKNOWN     (-2) /* a visit's role not looked up yet (-1: none) */
struct elder_month {
	char id[REGISTRY_ID_MAX + 1];
	size_t n_spans;
	int64_t from[TIMELINE_FACTS_MAX];
	const void *val[TIMELINE_FACTS_MAX];
	size_t len[TIMELINE_FACTS_MAX];
	tf_elder *state[TIMELINE_FACTS_MAX];
	size_t n_visits;
	struct month_visit visits[MONTH_VISITS_MAX];
	int roles[MONTH_VISITS_MAX];
	struct wire_arena *arena; /* the decoded states, dropped per elder */
};

static int span_state(struct elder_month *m, long i, tf_elder **out)
{
	if (!m->state[i]) {
		int r = wire_unpack_arena(WIRE_ELDER, m->val[i], m->len[i], m->arena,
		                          (void **)&m->state[i]);
		if (r < 0)
			return r == -ENOMEM ? r : TF_E_CORRUPT;
	}
	*out = m->state[i];
	return 0;
}

static long span_index(const struct elder_month *m, int64_t t)
{
	long i = (long)m->n_spans - 1;
	while (i >= 0 && m->from[i] > t)
		i--;
	return i;
}

/* The row of an area, through a one-entry cache: elders of one village
 * often come one after another. */
static struct smap_entry *report_row_of(struct report *rp, const char *area)
{
	if (rp->last_row && strcmp(rp->last_area, area) == 0)
		return rp->last_row;
	struct smap_entry *e = smap_get(&rp->index, area);
	if (e && strlen(area) < sizeof rp->last_area) {
		strcpy(rp->last_area, area);
		rp->last_row = e;
	}
	return e;
}

/* Was the rule in force for the elder at t (present, under the rule)? */
static int active_at(struct q *q, struct elder_month *m, const struct policy_rule *r, int64_t t)
{
	long i = span_index(m, t);
	if (i < 0)
		return 0;
	tf_elder *st;
	int rc = span_state(m, i, &st);
	if (rc < 0)
		return rc;
	return schedule_rule_active(q->pol, r, st, t);
}

/* How long in [S, E) the rule was in force for the elder, in seconds: the
 * days it was on the register, under the rule, and not in hospital under a
 * rule that pauses then (so a stay in hospital owes nothing, as the
 * overdue list owes nothing). */
static int active_seconds(struct q *q, struct elder_month *m, const struct policy_rule *r,
                          int64_t S, int64_t E, int64_t *out)
{
	*out = 0;
	for (size_t i = 0; i < m->n_spans; i++) {
		int64_t from = m->from[i] > S ? m->from[i] : S;
		int64_t to = i + 1 < m->n_spans && m->from[i + 1] < E ? m->from[i + 1] : E;
		if (to <= from)
			continue;
		tf_elder *st;
		int rc = span_state(m, (long)i, &st);
		if (rc < 0)
			return rc;
		/* Cut also at the birthdays the policy's high-risk ages name
		 * (only when the age changes inside: mktime is not cheap). */
		int64_t cut[9];
		size_t nc = 0;
		int a0 = policy_age_at(st, from), a1 = policy_age_at(st, to - 1);
		for (size_t h = 0; a0 != a1 && h < q->pol->n_high && nc < 8; h++) {
			int64_t b = q->pol->high_min_age[h]
			                ? policy_birthday(st, q->pol->high_min_age[h])
			                : -1;
			if (b > from && b < to)
				cut[nc++] = b;
		}
		cut[nc++] = to;
		for (size_t c = 1; c < nc; c++)
			for (size_t j = c; j > 0 && cut[j - 1] > cut[j]; j--) {
				int64_t x = cut[j];
				cut[j] = cut[j - 1], cut[j - 1] = x;
			}
		for (size_t c = 0; c < nc; c++) {
			if (schedule_rule_active(q->pol, r, st, from))
				*out += cut[c] - from;
			from = cut[c];
		}
	}
	return 0;
}

static int add_late(struct report *rp, const char *kind, const char *elder, const char *area,
                    int64_t at, int64_t received, const char *signer, const char *detail)
{
	rp->late_total++;
	if (rp->n_late >= 200)
		return 0;
	if (rp->n_late == rp->cap_late) {
		size_t cap = rp->cap_late ? rp->cap_late * 2 : 16;
		Tanfang__V1__LateFact *p = realloc(rp->late, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		rp->late = p, rp->cap_late = cap;
	}
	size_t n =
	    strlen(kind) + strlen(elder) + strlen(area) + strlen(signer) + strlen(detail) + 5;
	char *buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	int r = msgs_push(&rp->late_strs, buf);
	if (r < 0) {
		free(buf);
		return r;
	}
	Tanfang__V1__LateFact init = TANFANG__V1__LATE_FACT__INIT;
	Tanfang__V1__LateFact *f = &rp->late[rp->n_late++];
	*f = init;
	f->kind = strcpy(buf, kind);
	buf += strlen(buf) + 1;
	f->elder_id = strcpy(buf, elder);
	buf += strlen(buf) + 1;
	f->area = strcpy(buf, area);
	buf += strlen(buf) + 1;
	f->signer = strcpy(buf, signer);
	buf += strlen(buf) + 1;
	f->detail = strcpy(buf, detail);
	f->effective_at = at;
	f->received_at = received;
	return 0;
}

/* The registry facts and care events about the elder that took effect by the
 * month's end but arrived after the filing. */
static int late_facts(struct q *q, struct report *rp, const char *elder, const char *area)
{
	size_t pl = strlen(elder) + 1;
	struct store_cursor *cur;
	int r = store_cursor_open(q->txn, DB_ELDER_FACTS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, elder, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl + 8 || memcmp(k, elder, pl) != 0)
			break;
		if ((int64_t)store_get_be64((const uint8_t *)k + pl) >= rp->end)
			continue;
		tf_elder_fact *f;
		if (wire_unpack_stored(WIRE_ELDER_FACT, v, vl, (void **)&f) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		if (f->received_at > rp->filed_at) {
			bool erase = f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_ERASE,
			     restore = f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_RESTORE;
			const char *kind =
			    f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_CORRECT || erase ||
			            restore
			        ? "correction"
			    : f->event ? "care_event"
			               : "registry";
			const char *what =
			    erase     ? "removed: entered in error"
			    : restore ? "removal withdrawn"
			    : f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_EDIT
			        ? "registry edit"
			    : f->event ? wire_event_type_name(f->event)
			    : f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_STATUS
			        ? wire_elder_status_name(f->status)
			    : f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_NEIGHBOURS
			        ? "neighbours"
			    : f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_VISITORS
			        ? "visitors"
			    : f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_CORRECT
			        ? "event withdrawn"
			        : "registry entry";
			/* A removal holds for all time (stored at 0): shown when made. */
			r = add_late(rp, kind, elder, area,
			             erase || restore ? f->received_at : f->effective_at,
			             f->received_at, f->signer, what);
		}
		wire_free(WIRE_ELDER_FACT, f);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* Does visit k of the elder's month count for the rule, for holder (a
 * household's duty; "" for the elder's)? 1, 0 or a negative code. The
 * visitor's role is looked up only for a rule that names roles, once per
 * visit: most visits need none. */
static int visit_counts(struct q *q, struct report *rp, struct elder_month *m, size_t k,
                        const struct policy_rule *rule, const char *holder)
{
	const struct month_visit *mv = &m->visits[k];
	if (rule->duty != DUTY_ELDER && strcmp(holder, mv->visitor) != 0)
		return 0;
	if (rule->roles && m->roles[k] == ROLE_UNKNOWN) {
		int r = report_role(q, rp, mv->visitor, mv->at, &m->roles[k]);
		if (r < 0)
			return r;
	}
	return schedule_visit_counts(rule, holder, mv->visitor, m->roles[k], mv->kind);
}

static int report_elder(struct q *q, struct report *rp, struct elder_month *m)
{
	const int64_t S = rp->start, E = rp->end;
	long iend = span_index(m, E - 1);
	if (iend < 0)
		return 0; /* not yet on the register */
	tf_elder *st;
	int r = span_state(m, iend, &st);
	if (r < 0)
		return r;
	bool present_at_end = timeline_present(st);
	bool left_before = false;
	int64_t tstar = E - 1;
	if (!present_at_end) {
		long j = iend;
		while (j >= 0) {
			r = span_state(m, j, &st);
			if (r < 0)
				return r;
			if (timeline_present(st))
				break;
			j--;
		}
		if (j < 0) {
			/* Never present: registered as gone, or removed as entered
			 * in error; a filed month lists a removal made since. */
			if (!rp->filed_at || !smap_get(&rp->late_elders, m->id))
				return 0;
			for (long i = 0; i <= iend; i++) {
				tf_elder *si;
				if ((r = span_state(m, i, &si)) < 0)
					return r;
				if (smap_get(&rp->index, si->area))
					return late_facts(q, rp, m->id, si->area);
			}
			return 0;
		}
		left_before = m->from[j + 1] < S;
		tstar = m->from[j + 1] - 1;
	}
	struct smap_entry *ent = left_before ? NULL : report_row_of(rp, st->area);
	if (!ent && !rp->filed_at)
		return 0; /* counted outside this scope, or gone before the month */
	for (size_t i = 0; i < m->n_visits; i++)
		m->roles[i] = ROLE_UNKNOWN;
	if (rp->filed_at) {
		/* Late facts of a filed month: for an elder that was in the scope
		 * at any time up to the month's end, so a late death dated before
		 * the month, or a late move out of the scope, is listed too. */
		int in = ent != NULL;
		for (long i = 0; !in && i <= iend; i++) {
			tf_elder *si;
			r = span_state(m, i, &si);
			if (r < 0)
				return r;
			in = smap_get(&rp->index, si->area) != NULL;
		}
		for (size_t i = 0; in && i < m->n_visits; i++)
			if (m->visits[i].received_at > rp->filed_at) {
				char hex[33];
				hex_encode(m->visits[i].id, 16, hex);
				r = add_late(rp, "visit", m->id, st->area, m->visits[i].at,
				             m->visits[i].received_at, m->visits[i].visitor, hex);
				if (r < 0)
					return r;
			}
		if (in && smap_get(&rp->late_elders, m->id) &&
		    (r = late_facts(q, rp, m->id, st->area)) < 0)
			return r;
		if (!ent)
			return 0;
	}
	uint32_t req = 0, vis = 0, preq = 0, pdone = 0, nreq = 0, nset = 0, ndone = 0;
	for (size_t i = 0; i < q->pol->n_rules; i++) {
		const struct policy_rule *rule = &q->pol->rules[i];
		if (rule->report == REPORT_NONE)
			continue;
		bool at_end = present_at_end && schedule_rule_active(q->pol, rule, st, tstar);
		if (rule->report == REPORT_VISIT) {
			/* Required: under the rule at the end, or visited while under it. */
			bool visited = false, visited_under = false;
			for (size_t k = 0; k < m->n_visits; k++) {
				const struct month_visit *mv = &m->visits[k];
				int c = visit_counts(q, rp, m, k, rule, "");
				if (c < 0)
					return c;
				if (!c)
					continue;
				visited = true;
				int a = active_at(q, m, rule, mv->at);
				if (a < 0)
					return a;
				visited_under |= a;
			}
			if (at_end || visited_under) {
				req = 1;
				vis |= visited;
			}
		} else if (rule->report == REPORT_PARTY) {
			if (!schedule_rule_active(q->pol, rule, st, tstar))
				continue;
			for (size_t k = 0; k < st->n_visitors; k++) {
				int role;
				r = report_role(q, rp, st->visitors[k], tstar, &role);
				if (r < 0)
					return r;
				if (role < 0 || (rule->roles && !(rule->roles & (1u << role))))
					continue;
				unsigned done = 0;
				for (size_t j = 0; j < m->n_visits; j++) {
					int c = visit_counts(q, rp, m, j, rule, st->visitors[k]);
					if (c < 0)
						return c;
					done += (unsigned)c;
				}
				if (!present_at_end && !done)
					continue;
				preq++;
				int64_t secs;
				r = active_seconds(q, m, rule, S, E, &secs);
				if (r < 0)
					return r;
				pdone += done >= owed(rule, secs);
			}
		} else if (rule->report == REPORT_NEIGHBOUR &&
		           schedule_rule_active(q->pol, rule, st, tstar)) {
			/* An elder who left during the month counts if a household
			 * checked on it in the month. */
			int64_t secs;
			r = active_seconds(q, m, rule, S, E, &secs);
			if (r < 0)
				return r;
			bool all = true, any = false;
			for (size_t k = 0; k < st->n_neighbours; k++) {
				unsigned done = 0;
				for (size_t j = 0; j < m->n_visits; j++) {
					int c = visit_counts(q, rp, m, j, rule, st->neighbours[k]);
					if (c < 0)
						return c;
					done += (unsigned)c;
				}
				all &= done >= owed(rule, secs);
				any |= done > 0;
			}
			if (!at_end && !any)
				continue;
			nreq = 1;
			nset = st->n_neighbours >= 2;
			ndone = nset && all;
		}
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

static void month_clear(struct elder_month *m)
{
	wire_arena_reset(m->arena);
	m->n_spans = 0;
	m->n_visits = 0;
}

/* ---- the walk: every elder's spans beside the month's visits, both in
 * elder-id order (a merge join: one pass over each, no lookup per elder).
 *
 * Two walkers share the work on one snapshot. The spans are handed out in
 * batches of consecutive elders from one cursor (a dispenser, under a
 * mutex), so each walker reads only its own elders' spans and visits, and
 * neither waits for a slower half: the split follows the store, whatever
 * the ids look like. A walker's batches come in id order, so its late
 * facts stay in elder order (part_merge relies on it). */

#define BATCH_ELDERS 64
#define BATCH_SPANS  2048 /* room for a full batch plus one elder's longest history */

struct span_ref {
	const char *id; /* the elder id, NUL-terminated inside the key (in the map) */
	size_t id_len;
	int64_t from;
	const void *val;
	size_t len;
};

struct batch {
	size_t n;
	struct span_ref s[BATCH_SPANS];
};

struct dispenser {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool second_up;          /* the second walker runs: the first starts only then */
	struct store_cursor *sc; /* on the first walker's transaction (MDB_NOTLS) */
	int r;                   /* 0: at (k, v), not yet handed out; -ENOENT: done */
	const void *k, *v;
	size_t kl, vl;
};

/* Fills b with the next elders' spans (at most BATCH_ELDERS elders, an
 * elder's first TIMELINE_FACTS_MAX spans, never an elder split). Returns
 * the number of spans (0 at the end) or a negative code. */
static int dispense(struct dispenser *d, struct batch *b)
{
	b->n = 0;
	pthread_mutex_lock(&d->mu);
	size_t elders = 0, of_elder = 0;
	while (d->r == 0) {
		const char *k = d->k;
		size_t il = strnlen(k, d->kl);
		if (il >= d->kl || il > REGISTRY_ID_MAX || d->kl != il + 9) {
			d->r = TF_E_CORRUPT;
			break;
		}
		bool same =
		    b->n && b->s[b->n - 1].id_len == il && memcmp(b->s[b->n - 1].id, k, il) == 0;
		if (!same) {
			if (elders == BATCH_ELDERS || b->n > BATCH_SPANS - TIMELINE_FACTS_MAX)
				break;
			elders++, of_elder = 0;
		}
		if (of_elder++ < TIMELINE_FACTS_MAX)
			b->s[b->n++] = (struct span_ref){
			    .id = k,
			    .id_len = il,
			    .from = (int64_t)store_get_be64((const uint8_t *)k + il + 1),
			    .val = d->v,
			    .len = d->vl,
			};
		d->r = store_cursor_next(d->sc, &d->k, &d->kl, &d->v, &d->vl);
	}
	int r = d->r < 0 && d->r != -ENOENT ? d->r : (int)b->n;
	pthread_mutex_unlock(&d->mu);
	return r;
}

/* The month's visits of elder m->id, from the visits cursor (at or before
 * the elder's first), into m. *vr is the cursor's state. */
static int month_visits_of(struct store_cursor *vc, const uint8_t month[4], int *vr,
                           const void **vk, size_t *vkl, const void **vv, size_t *vvl,
                           struct elder_month *m)
{
	size_t idl = strlen(m->id);
	for (; *vr == 0; *vr = store_cursor_next(vc, vk, vkl, vv, vvl)) {
		if (*vkl < 4 || memcmp(*vk, month, 4) != 0) {
			*vr = -ENOENT;
			break;
		}
		/* Compare the key's elder id in place (a million visits a
		 * month); split only this elder's. The order is the keys' own:
		 * id bytes, then the shorter first. */
		size_t el = *vkl > 29 ? *vkl - 29 : 0;
		int c = memcmp((const uint8_t *)*vk + 4, m->id, el < idl ? el : idl);
		if (c == 0)
			c = (el > idl) - (el < idl);
		if (c > 0)
			break;
		if (c < 0 || m->n_visits == MONTH_VISITS_MAX)
			continue;
		int r = record_month_split(*vk, *vkl, *vv, *vvl, &m->visits[m->n_visits]);
		if (r < 0)
			return r;
		m->n_visits++;
	}
	return *vr < 0 && *vr != -ENOENT ? *vr : 0;
}

/* One walker: batches from d until none is left. */
static int report_walk(struct q *q, struct report *rp, struct dispenser *d)
{
	struct elder_month *m = calloc(1, sizeof *m);
	struct batch *b = malloc(sizeof *b);
	if (!m || !b || wire_arena_new(&m->arena) < 0) {
		free(m), free(b);
		return -ENOMEM;
	}
	uint8_t month[4];
	record_month_prefix(rp->yyyymm, month);
	struct store_cursor *vc = NULL;
	int r = store_cursor_open(q->txn, DB_MONTH_VISITS, &vc);
	while (r == 0 && (r = dispense(d, b)) > 0) {
		/* The visits cursor goes to this batch's first elder: the
		 * other walker's elders in between are never read. */
		uint8_t seek[4 + REGISTRY_ID_MAX];
		memcpy(seek, month, 4);
		memcpy(seek + 4, b->s[0].id, b->s[0].id_len);
		const void *vk, *vv;
		size_t vkl, vvl;
		int vr = store_cursor_seek(vc, seek, 4 + b->s[0].id_len, &vk, &vkl, &vv, &vvl);
		r = 0;
		for (size_t i = 0; r == 0 && i < b->n;) {
			const struct span_ref *e = &b->s[i];
			memcpy(m->id, e->id, e->id_len);
			m->id[e->id_len] = '\0';
			size_t j = i;
			while (j < b->n && b->s[j].id_len == e->id_len &&
			       memcmp(b->s[j].id, e->id, e->id_len) == 0) {
				size_t n = m->n_spans++;
				m->from[n] = b->s[j].from;
				m->val[n] = b->s[j].val, m->len[n] = b->s[j].len;
				m->state[n] = NULL;
				j++;
			}
			i = j;
			r = month_visits_of(vc, month, &vr, &vk, &vkl, &vv, &vvl, m);
			if (r == 0)
				r = report_elder(q, rp, m);
			month_clear(m);
		}
	}
	wire_arena_free(m->arena);
	free(m);
	free(b);
	store_cursor_close(vc);
	return r < 0 ? r : 0;
}

/* A second walker's share: its own counters (a copy of the rows), role
 * cache, area cache and late facts; the rows' names, the index and the
 * late elders are rp's, read only. */
struct part {
	struct q q;
	struct report rp;
	struct dispenser *d;
	int r;
};

static void *part_main(void *arg)
{
	struct part *p = arg;
	pthread_mutex_lock(&p->d->mu);
	p->d->second_up = true;
	pthread_cond_signal(&p->d->cv);
	pthread_mutex_unlock(&p->d->mu);
	p->r = report_walk(&p->q, &p->rp, p->d);
	return NULL;
}

static int part_init(struct part *p, const struct q *q, const struct report *rp)
{
	memset(p, 0, sizeof *p);
	p->q = *q;
	p->q.txn = NULL; /* its own, below: never the caller's */
	memset(&p->q.within, 0, sizeof p->q.within);
	p->rp = *rp;
	p->rp.rows = malloc((rp->n ? rp->n : 1) * sizeof *rp->rows);
	memset(&p->rp.role_idx, 0, sizeof p->rp.role_idx);
	p->rp.roles = NULL, p->rp.late = NULL;
	memset(&p->rp.late_strs, 0, sizeof p->rp.late_strs);
	if (!p->rp.rows)
		return -ENOMEM;
	memcpy(p->rp.rows, rp->rows, rp->n * sizeof *rp->rows);
	for (size_t i = 0; i < rp->n; i++) {
		Tanfang__V1__ReportRow *c = &p->rp.rows[i].pb;
		c->required = c->visited = c->party_required = c->party_done = 0;
		c->neighbour_required = c->neighbour_set_up = c->neighbour_done = 0;
	}
	memset(&p->rp.role_idx, 0, sizeof p->rp.role_idx);
	p->rp.roles = NULL, p->rp.n_roles = p->rp.cap_roles = 0;
	p->rp.late = NULL, p->rp.n_late = p->rp.cap_late = 0, p->rp.late_total = 0;
	memset(&p->rp.late_strs, 0, sizeof p->rp.late_strs);
	p->rp.last_row = NULL;
	return store_txn_twin(q->txn, &p->q.txn);
}

static void part_free(struct part *p)
{
	store_txn_abort(p->q.txn);
	smap_free(&p->q.within);
	free(p->rp.rows);
	smap_free(&p->rp.role_idx);
	free(p->rp.roles);
	free(p->rp.late);
	msgs_free(&p->rp.late_strs, false);
}

/* Adds the second walker's counters and late facts to rp: the late facts
 * of both are in elder order, and the merge keeps it (and the first 200). */
static int part_merge(struct report *rp, struct part *p)
{
	for (size_t i = 0; i < rp->n; i++) {
		Tanfang__V1__ReportRow *a = &rp->rows[i].pb;
		const Tanfang__V1__ReportRow *b = &p->rp.rows[i].pb;
		a->required += b->required, a->visited += b->visited;
		a->party_required += b->party_required, a->party_done += b->party_done;
		a->neighbour_required += b->neighbour_required;
		a->neighbour_set_up += b->neighbour_set_up;
		a->neighbour_done += b->neighbour_done;
	}
	size_t n = rp->n_late + p->rp.n_late;
	Tanfang__V1__LateFact *all = malloc((n ? n : 1) * sizeof *all);
	if (!all)
		return -ENOMEM;
	size_t i = 0, j = 0, k = 0;
	while (i < rp->n_late || j < p->rp.n_late) {
		bool left =
		    j == p->rp.n_late ||
		    (i < rp->n_late && strcmp(rp->late[i].elder_id, p->rp.late[j].elder_id) <= 0);
		all[k++] = left ? rp->late[i++] : p->rp.late[j++];
	}
	free(rp->late);
	rp->late = all;
	rp->n_late = k < 200 ? k : 200;
	rp->cap_late = n;
	rp->late_total += p->rp.late_total;
	/* The strings move with the facts. */
	for (size_t s = 0; s < p->rp.late_strs.n; s++) {
		int r = msgs_push(&rp->late_strs, p->rp.late_strs.p[s]);
		if (r < 0)
			return r;
		p->rp.late_strs.p[s] = NULL;
	}
	return 0;
}

/* The walk over both cores when a second read transaction can see the
 * very same snapshot (a query's read transaction), else on this thread
 * (the writer's filing, or a write committed meanwhile). */
static int report_walk_all(struct q *q, struct report *rp)
{
	struct dispenser d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	int r = store_cursor_open(q->txn, DB_ELDER_SPANS, &d.sc);
	if (r < 0)
		return r;
	d.r = store_cursor_seek(d.sc, NULL, 0, &d.k, &d.kl, &d.v, &d.vl);
	struct part *p = malloc(sizeof *p);
	if (!p) {
		store_cursor_close(d.sc);
		return -ENOMEM;
	}
	r = part_init(p, q, rp);
	p->d = &d;
	pthread_t th;
	bool started = r == 0 && pthread_create(&th, NULL, part_main, p) == 0;
	if (!started) {
		part_free(p);
		free(p);
		r = r < 0 && r != -EAGAIN ? r : report_walk(q, rp, &d);
		store_cursor_close(d.sc);
		return r;
	}
	/* Both walkers start together, so the batches split evenly even in a
	 * small store (a new thread takes a while to run). */
	pthread_mutex_lock(&d.mu);
	while (!d.second_up)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
	r = report_walk(q, rp, &d);
	if (r < 0) {
		/* Stop the other walker at its next batch. */
		pthread_mutex_lock(&d.mu);
		d.r = r;
		pthread_mutex_unlock(&d.mu);
	}
	pthread_join(th, NULL);
	store_cursor_close(d.sc);
	if (r == 0)
		r = p->r;
	if (r == 0)
		r = part_merge(rp, p);
	part_free(p);
	free(p);
	return r;
}

static int late_elder(const char *elder, void *ctx)
{
	struct report *rp = ctx;
	return smap_get(&rp->late_elders, elder) ? 0 : smap_put(&rp->late_elders, elder, 1);
}

static size_t filed_key(uint8_t *out, const char *area, int yyyymm)
{
	size_t n = strlen(area);
	memcpy(out, area, n + 1);
	record_month_prefix(yyyymm, out + n + 1);
	return n + 5;
}

static int get_filed(struct store_txn *txn, const char *area, int yyyymm, tf_filed_report **out)
{
	*out = NULL;
	uint8_t key[REGISTRY_ID_MAX + 8];
	if (strlen(area) > REGISTRY_ID_MAX)
		return -ENOENT;
	size_t kl = filed_key(key, area, yyyymm);
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_FILED, key, kl, &v, &vl);
	if (r < 0)
		return r;
	return wire_unpack_stored(WIRE_FILED_REPORT, v, vl, (void **)out) < 0 ? TF_E_CORRUPT : 0;
}

/* Builds the month's rows for q->scope into rp; *ptrs_out (caller frees)
 * gets them in tree order: each area followed by its subtree, siblings by
 * code. with_filings: mark each row's own filing and list late facts. */
static int report_build(struct q *q, const char *month, bool with_filings, struct report *rp,
                        Tanfang__V1__ReportRow ***ptrs_out, size_t *n_out)
{
	int r = period_parse_month(month, &rp->start, &rp->end);
	if (r < 0)
		return refuse(q, S(INVALID), "month must be YYYY-MM, got '%s'", month);
	rp->yyyymm = period_month_of(rp->start);
	r = report_areas(q, rp);
	if (r < 0)
		return r;
	if (with_filings) {
		for (size_t i = 0; i < rp->n; i++) {
			r = get_filed(q->txn, rp->rows[i].code, rp->yyyymm, &rp->rows[i].filed);
			if (r < 0 && r != -ENOENT)
				return r;
			struct row *row = &rp->rows[i];
			if (row->filed) {
				row->pb.filed_at = row->filed->filed_at;
				if (row->filed->n_rows)
					row->pb.filed = row->filed->rows[0];
				if (row->parent < 0 && strcmp(row->code, q->scope) == 0) {
					rp->filed_at = row->filed->filed_at;
					rp->filed_by = row->filed->filed_by;
				}
			}
		}
	}
	if (rp->filed_at) {
		r = timeline_late_elders(q->txn, rp->filed_at, rp->end, late_elder, rp);
		if (r < 0)
			return r;
	}
	r = report_walk_all(q, rp);
	if (r < 0)
		return r;
	Tanfang__V1__ReportRow **ptrs = calloc(rp->n ? rp->n : 1, sizeof *ptrs);
	if (!ptrs)
		return -ENOMEM;
	*ptrs_out = ptrs;
	size_t n = 0;
	long *stack = calloc(rp->n + 1, sizeof *stack);
	if (!stack)
		return -ENOMEM;
	/* Areas come in code order, so pushing children in reverse code order
	 * pops them in code order. */
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
	*n_out = n;
	return 0;
}

static int q_report(struct q *q, struct report *rp, Tanfang__V1__Report *rep,
                    Tanfang__V1__ReportRow ***ptrs_out, tf_filed_report **filed_out)
{
	const Tanfang__V1__ReportQuery *rq = q->req->report;
	if (q->signer->role != ROLE(ADMIN) && q->signer->role != ROLE(SUPERVISOR))
		return refuse(q, S(FORBIDDEN), "only supervisors and admins may read reports");
	int r = set_scope(q, rq->area);
	if (r)
		return r;
	rep->month = (char *)rq->month;
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_REPORT;
	q->rep.report = rep;
	if (rq->as_filed) {
		int64_t s, e;
		if (period_parse_month(rq->month, &s, &e) < 0)
			return refuse(q, S(INVALID), "month must be YYYY-MM, got '%s'", rq->month);
		r = get_filed(q->txn, q->scope, period_month_of(s), filed_out);
		if (r == -ENOENT) {
			q->rep.result_case = TANFANG__V1__REPLY__RESULT__NOT_SET;
			return refuse(q, S(NOT_FOUND), "area %s has not filed %s",
			              *q->scope ? q->scope : "(all)", rq->month);
		}
		if (r < 0)
			return r;
		rep->rows = (*filed_out)->rows;
		rep->n_rows = (*filed_out)->n_rows;
		rep->filed_at = (*filed_out)->filed_at;
		rep->filed_by = (*filed_out)->filed_by;
		return 0;
	}
	/* A month to come would be all zeros, a visit rate of 0% that could
	 * be forwarded as a finding: refused, as filing it is. */
	int64_t ms, me;
	if (period_parse_month(rq->month, &ms, &me) == 0 && ms > q->now) {
		q->rep.result_case = TANFANG__V1__REPLY__RESULT__NOT_SET;
		return refuse(q, S(INVALID), "%s has not begun: it has no report yet", rq->month);
	}
	size_t n = 0;
	r = report_build(q, rq->month, true, rp, ptrs_out, &n);
	if (r)
		return r;
	rep->rows = *ptrs_out;
	rep->n_rows = n;
	rep->filed_at = rp->filed_at;
	if (rp->filed_by)
		rep->filed_by = (char *)rp->filed_by;
	rep->late = item_ptrs(&rp->late_strs, rp->late, sizeof *rp->late, rp->n_late);
	if (!rep->late)
		return -ENOMEM;
	rep->n_late = rp->n_late;
	rep->late_total = rp->late_total;
	return 0;
}

int query_file_report(struct store_txn *txn, const struct policy *pol, const tf_visitor *signer,
                      const Tanfang__V1__FileReport *fr, int64_t now, uint64_t log_seq,
                      char *detail, size_t detail_len, int *status)
{
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	struct q q = {.txn = txn, .pol = pol, .signer = signer, .req = &req, .now = now};
	q.rep.status = S(OK);
	q.scope = signer->area;
	struct report rp = {0};
	Tanfang__V1__ReportRow **ptrs = NULL;
	size_t n = 0;
	int r = 0;
	int64_t start, end;
	if (signer->role != ROLE(ADMIN) && signer->role != ROLE(SUPERVISOR))
		r = refuse(&q, S(FORBIDDEN), "only supervisors and admins may file reports");
	else if (!*fr->area && !*signer->area)
		r = refuse(&q, S(INVALID), "say which area's report to file");
	else if (period_parse_month(fr->month, &start, &end) < 0)
		r = refuse(&q, S(INVALID), "month must be YYYY-MM, got '%s'", fr->month);
	else if (start > now)
		r = refuse(&q, S(INVALID), "%s has not begun", fr->month);
	if (r == 0)
		r = set_scope(&q, fr->area);
	tf_filed_report *old = NULL;
	if (r == 0) {
		r = get_filed(txn, q.scope, period_month_of(start), &old);
		if (r == 0) {
			char when[20];
			period_format(old->filed_at, when, sizeof when);
			r = refuse(&q, S(DUPLICATE), "%s %s was filed at %s by %s", q.scope,
			           fr->month, when, old->filed_by);
			wire_free(WIRE_FILED_REPORT, old);
		} else if (r == -ENOENT) {
			r = 0;
		}
	}
	if (r == 0)
		r = report_build(&q, fr->month, false, &rp, &ptrs, &n);
	if (r == 0) {
		tf_filed_report f;
		wire_init(WIRE_FILED_REPORT, &f);
		f.area = (char *)q.scope;
		f.month = fr->month;
		f.filed_at = now;
		f.filed_by = signer->id;
		f.log_seq = log_seq;
		f.rows = ptrs;
		f.n_rows = n;
		uint8_t key[REGISTRY_ID_MAX + 8];
		size_t kl = filed_key(key, q.scope, period_month_of(start));
		uint8_t *buf;
		size_t len;
		r = wire_pack(WIRE_FILED_REPORT, &f, &buf, &len);
		if (r == 0) {
			r = store_put(txn, DB_FILED, key, kl, buf, len, 0);
			free(buf);
		}
		if (r == 0)
			snprintf(q.detail, sizeof q.detail,
			         "filed %s for %s: %u required, %u visited", fr->month, q.scope,
			         n ? ptrs[0]->required : 0, n ? ptrs[0]->visited : 0);
	}
	free(ptrs);
	report_free(&rp);
	smap_free(&q.within);
	snprintf(detail, detail_len, "%s", q.detail);
	*status = q.rep.status;
	if (r > 0)
		return q.rep.status == S(DUPLICATE) ? TF_E_DUPLICATE : TF_E_INVALID;
	return r;
}

/* ---- Elder history ---- */

/* A history item's time: the record's own, or a change's time of effect
 * (its arrival for a removal, which holds for all time). */
static int64_t item_time(const Tanfang__V1__HistoryItem *it)
{
	if (it->visit)
		return it->visit->visited_at;
	if (it->care_event)
		return it->care_event->occurred_at;
	if (it->change)
		return it->change->effective_at ? it->change->effective_at
		                                : it->change->received_at;
	return 0;
}

/* What an elder fact says, for the history: kind and detail (into buf). */
static const char *change_kind(const tf_elder_fact *f, bool first_put, char *buf, size_t size)
{
	buf[0] = '\0';
	switch (f->kind) {
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_PUT:
		if (f->elder)
			snprintf(buf, size, "area=%s", f->elder->area);
		return first_put ? "registered" : "registered again";
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_EDIT: {
		size_t at = 0;
		const tf_elder *p = f->elder;
		for (size_t i = 0; p && i < f->n_fields && at < size; i++) {
			const char *fl = f->fields[i], *v = NULL;
			if (strcmp(fl, "name") == 0)
				v = p->name;
			else if (strcmp(fl, "area") == 0)
				v = p->area;
			else if (strcmp(fl, "address") == 0)
				v = p->address;
			else if (strcmp(fl, "phone") == 0)
				v = p->phone;
			else if (strcmp(fl, "birth_date") == 0)
				v = p->birth_date;
			int k = v ? snprintf(buf + at, size - at, "%s%s=%s", i ? ", " : "", fl, v)
			          : snprintf(buf + at, size - at, "%s%s", i ? ", " : "", fl);
			if (k < 0)
				break;
			at += (size_t)k;
		}
		return "edited";
	}
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_NEIGHBOURS:
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_VISITORS: {
		size_t at = 0;
		for (size_t i = 0; i < f->n_ids && at < size; i++) {
			int k = snprintf(buf + at, size - at, "%s%s", i ? "," : "", f->ids[i]);
			if (k < 0)
				break;
			at += (size_t)k;
		}
		return f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_NEIGHBOURS ? "neighbours"
		                                                                    : "visitors";
	}
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_STATUS:
		snprintf(buf, size, "%s", wire_elder_status_name(f->status));
		return "status";
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_ERASE:
		snprintf(buf, size, "entered in error");
		return "removed";
	case TANFANG__STORE__ELDER_FACT__KIND__KIND_RESTORE: return "restored";
	default: return NULL;
	}
}

static int change_time_cmp(const void *a, const void *b)
{
	int64_t x = item_time(a), y = item_time(b);
	return (x < y) - (x > y); /* newest first */
}

/* Adds the changes of the elder's registry entry (issue 11, item 4: a
 * correction or a removal shows in the history) to the n items (newest
 * first, records only), keeping the newest `limit` of both. Care events'
 * own status changes are the events themselves, already listed. */
static int history_changes(struct q *q, struct msgs keep[4], const char *id,
                           Tanfang__V1__HistoryItem *items, size_t *n, size_t limit)
{
	keep[3].type = WIRE_ELDER_FACT;
	Tanfang__V1__HistoryItem *ch = calloc(TIMELINE_FACTS_MAX, sizeof *ch);
	Tanfang__V1__RegistryChange *rc = calloc(TIMELINE_FACTS_MAX, sizeof *rc);
	if (!ch || !rc || msgs_push(&keep[2], ch) < 0) {
		free(ch), free(rc);
		return -ENOMEM;
	}
	if (msgs_push(&keep[2], rc) < 0) {
		free(rc);
		return -ENOMEM;
	}
	size_t pl = strlen(id) + 1, nc = 0;
	struct store_cursor *cur;
	int r = store_cursor_open(q->txn, DB_ELDER_FACTS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	int64_t first_put = INT64_MAX;
	const tf_elder_fact **fs = calloc(TIMELINE_FACTS_MAX, sizeof *fs);
	if (!fs || msgs_push(&keep[2], fs) < 0) {
		free(fs);
		store_cursor_close(cur);
		return -ENOMEM;
	}
	for (r = store_cursor_seek(cur, id, pl, &k, &kl, &v, &vl);
	     r == 0 && nc < TIMELINE_FACTS_MAX; r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, id, pl) != 0)
			break;
		tf_elder_fact *f;
		if (wire_unpack_stored(WIRE_ELDER_FACT, v, vl, (void **)&f) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		if ((r = msgs_push(&keep[3], f)) < 0) {
			wire_free(WIRE_ELDER_FACT, f);
			break;
		}
		if (f->event || f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_CORRECT)
			continue;
		if (f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_PUT &&
		    f->received_at < first_put)
			first_put = f->received_at;
		Tanfang__V1__RegistryChange init = TANFANG__V1__REGISTRY_CHANGE__INIT;
		rc[nc] = init;
		rc[nc].effective_at = f->effective_at;
		rc[nc].received_at = f->received_at;
		rc[nc].signer = f->signer;
		rc[nc].note = f->note;
		Tanfang__V1__HistoryItem hi = TANFANG__V1__HISTORY_ITEM__INIT;
		ch[nc] = hi;
		ch[nc].change = &rc[nc];
		ch[nc].visitor_id = f->signer;
		ch[nc].received_at = f->received_at;
		fs[nc++] = f;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	/* Kinds and details, now that the first registration is known. */
	for (size_t i = 0; i < nc; i++) {
		const tf_elder_fact *f = fs[i];
		char buf[400];
		const char *kind =
		    change_kind(f,
		                f->kind == TANFANG__STORE__ELDER_FACT__KIND__KIND_PUT &&
		                    f->received_at == first_put,
		                buf, sizeof buf);
		char *d = strdup(buf);
		if (!d || msgs_push(&keep[2], d) < 0) {
			free(d);
			return -ENOMEM;
		}
		rc[i].kind = (char *)(kind ? kind : "change");
		rc[i].detail = d;
	}
	qsort(ch, nc, sizeof *ch, change_time_cmp);
	/* Merge, newest first, into items (room for limit). */
	Tanfang__V1__HistoryItem *all = calloc(*n + nc ? *n + nc : 1, sizeof *all);
	if (!all)
		return -ENOMEM;
	size_t a = 0, b = 0, m = 0;
	while (m < limit && (a < *n || b < nc)) {
		bool rec = b == nc || (a < *n && item_time(&items[a]) >= item_time(&ch[b]));
		all[m++] = rec ? items[a++] : ch[b++];
	}
	memcpy(items, all, m * sizeof *items);
	free(all);
	*n = m;
	return 0;
}

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
		if (rec->care_event) {
			r = timeline_event_corrected(q->txn, e->id, rec->care_event->id.data);
			if (r < 0)
				break;
			items[n].corrected = r;
		}
		n++;
	}
	store_cursor_close(cur);
	if (r < 0 && r != -ENOENT)
		return r;
	if (hq->with_changes && (r = history_changes(q, keep, e->id, items, &n, limit)) < 0)
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
	/* An unknown visitor is an error, not an empty list (issue 11). */
	if (*aq->visitor_id) {
		tf_visitor *v;
		r = registry_get_visitor(q->txn, aq->visitor_id, &v);
		if (r == -ENOENT)
			return refuse(q, S(NOT_FOUND), "no visitor %s", aq->visitor_id);
		if (r < 0)
			return r;
		wire_free(WIRE_VISITOR, v);
	}
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

/* ---- FieldElders (issue 10): the field app's own elders and due list ----
 *
 * The elders a signer may record for are those ingest would accept a record
 * for now (docs/protocol.md 6.2): in its area scope, or naming it among
 * their assigned visitors or "1+2" households (DB_ASSIGNED), whatever their
 * area. Its due list is the duties of those elders its visits meet: its own
 * (party member, neighbour household) and the elder-wide ones of rules that
 * count its role. */

struct field_out {
	Tanfang__V1__FieldElder *elders;
	Tanfang__V1__OverdueItem *due;
	size_t n_due, cap_due;
};

static void field_out_free(struct field_out *fo)
{
	free(fo->elders);
	free(fo->due);
}

static bool may_record(const tf_visitor *v)
{
	return v->role != ROLE(DISPATCHER) && v->role != ROLE(GATEWAY);
}

/* Is the duty (rule, holder) the signer's? Elder-wide duties count only
 * with elder_wide: a "1+2" household that is nothing else to the elder
 * sees its own checks, not the monthly visit. */
static bool field_duty_mine(const struct q *q, const char *rule, const char *holder,
                            bool elder_wide)
{
	if (*holder)
		return strcmp(holder, q->signer->id) == 0;
	/* The same rule as `overdue --visitor` (one truth for whose job a
	 * duty is): "1+2 not set up" falls to the village's own staff. */
	return elder_wide && q->signer->role >= 0 && q->signer->role < 32 &&
	       elder_duty_falls_to(q->pol, rule, q->signer->role);
}

struct field_duty_ctx {
	struct msgs *keep;
	const tf_elder *e;
	int64_t until;
	bool elder_wide;
	struct field_out *fo;
};

static int field_duty(struct q *q, const tf_duty *d, const void *key, size_t kl, void *ctx)
{
	(void)key, (void)kl;
	struct field_duty_ctx *c = ctx;
	struct field_out *fo = c->fo;
	if (!d->due_at || d->due_at > c->until ||
	    !field_duty_mine(q, d->rule, d->visitor_id, c->elder_wide))
		return 0;
	if (fo->n_due == fo->cap_due) {
		size_t cap = fo->cap_due ? fo->cap_due * 2 : 64;
		void *p = realloc(fo->due, cap * sizeof *fo->due);
		if (!p)
			return -ENOMEM;
		fo->due = p, fo->cap_due = cap;
	}
	int r = overdue_item(q, d->due_at, d->elder_id, d->rule, d->visitor_id, c->e->area, c->keep,
	                     &fo->due[fo->n_due]);
	if (r == 0)
		fo->n_due++;
	return r;
}

/* Adds the duties of elder e that are the signer's and due by until. */
static int field_duties(struct q *q, struct msgs keep[4], const tf_elder *e, int64_t until,
                        bool elder_wide, struct field_out *fo)
{
	struct field_duty_ctx c = {keep, e, until, elder_wide, fo};
	return elder_duties_each(q, e->id, field_duty, &c);
}

static int due_order(const void *a, const void *b)
{
	const Tanfang__V1__OverdueItem *x = a, *y = b;
	if (x->due_at != y->due_at)
		return x->due_at < y->due_at ? -1 : 1;
	int c = strcmp(x->elder_id, y->elder_id);
	return c ? c : strcmp(x->rule, y->rule);
}

static bool listed(char **ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* One sorted stream of elder ids: the keys of a database under
 * "prefix \0" (prefix "": the whole key), from the first after `after`. */
struct id_walk {
	struct store_cursor *cur;
	char prefix[REGISTRY_AREA_CODE_MAX + REGISTRY_ID_MAX + 2];
	size_t pl;      /* the prefix's length with its \0; 0 for none */
	const char *id; /* the current id, into the cursor's key; NULL at the end */
	size_t il;
};

/* Takes the cursor's answer r (key k, kl) as the current id. */
static int id_walk_take(struct id_walk *w, int r, const void *k, size_t kl)
{
	w->id = NULL;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (kl <= w->pl || memcmp(k, w->prefix, w->pl) != 0)
		return 0;
	w->id = (const char *)k + w->pl;
	w->il = kl - w->pl;
	return 0;
}

static int id_walk_next(struct id_walk *w)
{
	if (!w->id)
		return 0;
	const void *k, *v;
	size_t kl, vl;
	int r = store_cursor_next(w->cur, &k, &kl, &v, &vl);
	return id_walk_take(w, r, k, kl);
}

static int id_walk_open(struct q *q, enum store_db db, const char *prefix, const char *after,
                        struct id_walk *w)
{
	*w = (struct id_walk){0};
	size_t al = strlen(after);
	w->pl = *prefix ? strlen(prefix) + 1 : 0;
	char key[sizeof w->prefix + REGISTRY_ID_MAX];
	if (w->pl > sizeof w->prefix || al > REGISTRY_ID_MAX)
		return 0; /* no such key: an empty walk */
	memcpy(w->prefix, prefix, w->pl);
	memcpy(key, prefix, w->pl);
	memcpy(key + w->pl, after, al);
	int r = store_cursor_open(q->txn, db, &w->cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	r = store_cursor_seek(w->cur, key, w->pl + al, &k, &kl, &v, &vl);
	if ((r = id_walk_take(w, r, k, kl)) < 0)
		return r;
	if (w->id && al && w->il == al && memcmp(w->id, after, al) == 0)
		return id_walk_next(w);
	return 0;
}

static void id_walk_close(struct id_walk *w)
{
	store_cursor_close(w->cur);
	w->cur = NULL;
}

/* Byte order of ids, as LMDB sorts keys. */
static int id_cmp(const char *x, size_t xl, const char *y, size_t yl)
{
	int c = memcmp(x, y, xl < yl ? xl : yl);
	return c ? c : xl < yl ? -1 : xl > yl;
}

static int q_field(struct q *q, struct msgs keep[4], Tanfang__V1__FieldElderList *list,
                   struct field_out *fo)
{
	const Tanfang__V1__FieldElders *fe = q->req->field_elders;
	if (!may_record(q->signer))
		return refuse(q, S(FORBIDDEN), "role %s does not record visits",
		              wire_role_name(q->signer->role));
	if (fe->horizon_s < 0 || fe->horizon_s > 366 * 86400)
		return refuse(q, S(INVALID), "horizon must be 0 to 366 days");
	unsigned limit = fe->limit ? fe->limit : 500;
	if (limit > 5000)
		limit = 5000;
	fo->elders = calloc(limit, sizeof *fo->elders);
	if (!fo->elders)
		return -ENOMEM;
	/* The candidates after `after`, in id order: the elders under the
	 * signer's scope (the area index; a scope of everything walks the
	 * elders themselves) merged with those naming the signer. Each is
	 * then checked against its record, so the indexes only choose whom
	 * to read: a township's worker reads its township, not the banner. */
	const char *me = q->signer->id;
	int64_t until = q->now + fe->horizon_s;
	size_t n = 0;
	struct id_walk a = {0}, b = {0};
	int r = id_walk_open(q, *q->scope ? DB_ELDER_AREAS : DB_ELDERS, q->scope, fe->after, &a);
	if (r == 0 && *q->scope)
		r = id_walk_open(q, DB_ASSIGNED, me, fe->after, &b);
	bool more = false;
	while (r == 0 && (a.id || b.id)) {
		int c = !a.id ? 1 : !b.id ? -1 : id_cmp(a.id, a.il, b.id, b.il);
		const struct id_walk *w = c <= 0 ? &a : &b;
		if (n == limit) {
			more = true;
			break;
		}
		char id[REGISTRY_ID_MAX + 1] = "";
		bool ok = w->il <= REGISTRY_ID_MAX;
		if (ok)
			memcpy(id, w->id, w->il), id[w->il] = '\0';
		if (c <= 0 && (r = id_walk_next(&a)) < 0)
			break;
		if (c >= 0 && (r = id_walk_next(&b)) < 0)
			break;
		tf_elder *e;
		if (!ok || (r = registry_get_elder(q->txn, id, &e)) == -ENOENT) {
			r = 0; /* not an elder id (a stale entry): verify-log's business */
			continue;
		}
		if (r < 0)
			break;
		/* An elder entered in error is in no list (RemoveElder). */
		bool removed = e->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_REMOVED;
		int in = removed ? 0 : *e->area ? within(q, e->area) : !*q->scope;
		bool by_visitor = !removed && listed(e->visitors, e->n_visitors, me);
		bool by_neighbour = !removed && listed(e->neighbours, e->n_neighbours, me);
		if (in < 0 || (!in && !by_visitor && !by_neighbour)) {
			wire_free(WIRE_ELDER, e);
			r = in < 0 ? in : 0;
			continue;
		}
		char **why = calloc(3, sizeof *why);
		if (!why || msgs_push(&keep[2], why) < 0 || msgs_push(&keep[1], e) < 0) {
			free(why);
			wire_free(WIRE_ELDER, e);
			r = -ENOMEM;
			break;
		}
		Tanfang__V1__FieldElder *f = &fo->elders[n++];
		*f = (Tanfang__V1__FieldElder)TANFANG__V1__FIELD_ELDER__INIT;
		f->elder = e;
		f->why = why;
		if (in)
			why[f->n_why++] = "area";
		if (by_visitor)
			why[f->n_why++] = "visitor";
		if (by_neighbour)
			why[f->n_why++] = "neighbour";
		r = field_duties(q, keep, e, until, in || by_visitor, fo);
	}
	id_walk_close(&a);
	id_walk_close(&b);
	if (r < 0)
		return r;
	if (fo->n_due)
		qsort(fo->due, fo->n_due, sizeof *fo->due, due_order);
	list->elders = item_ptrs(&keep[2], fo->elders, sizeof *fo->elders, n);
	list->due = item_ptrs(&keep[2], fo->due, sizeof *fo->due, fo->n_due);
	if (!list->elders || !list->due)
		return -ENOMEM;
	list->n_elders = n;
	list->n_due = fo->n_due;
	if (more && n)
		list->next = fo->elders[n - 1].elder->id;
	list->now = q->now;
	list->visitor = (tf_visitor *)q->signer;
	q->rep.result_case = TANFANG__V1__REPLY__RESULT_FIELD_ELDERS;
	q->rep.field_elders = list;
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
	keep[0].type = req->op_case == OP(OVERDUE) || req->op_case == OP(FIELD_ELDERS)
	                   ? WIRE_DUTY
	                   : WIRE_RECORD;
	Tanfang__V1__RegistryList rl = TANFANG__V1__REGISTRY_LIST__INIT;
	Tanfang__V1__OverdueList ol = TANFANG__V1__OVERDUE_LIST__INIT;
	Tanfang__V1__Report rep = TANFANG__V1__REPORT__INIT;
	Tanfang__V1__ElderHistory eh = TANFANG__V1__ELDER_HISTORY__INIT;
	Tanfang__V1__Activity act = TANFANG__V1__ACTIVITY__INIT;
	Tanfang__V1__FieldElderList fl = TANFANG__V1__FIELD_ELDER_LIST__INIT;
	struct field_out fo = {0};
	Tanfang__V1__OverdueItem *oitems = NULL;
	Tanfang__V1__HistoryItem *hitems = NULL;
	Tanfang__V1__ActivityRow *arows = NULL;
	Tanfang__V1__ReportRow **rptrs = NULL;
	struct report rp = {0};
	tf_filed_report *filed = NULL;
	int r;
	if (req->op_case == OP(FIELD_ELDERS)) {
		r = q_field(&q, keep, &fl, &fo); /* its own rule: whoever records */
	} else if (!may_query(signer)) {
		r = refuse(&q, S(FORBIDDEN), "role %s may not run queries",
		           wire_role_name(signer->role));
	} else {
		switch (req->op_case) {
		case OP(GET_REGISTRY): r = q_registry(&q, &keep[0], &rl); break;
		case OP(OVERDUE): r = q_overdue(&q, keep, &ol, &oitems); break;
		case OP(REPORT): r = q_report(&q, &rp, &rep, &rptrs, &filed); break;
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
	field_out_free(&fo);
	report_free(&rp);
	wire_free(WIRE_FILED_REPORT, filed);
	msgs_free(&keep[0], keep[0].type != WIRE_TYPE_COUNT);
	msgs_free(&keep[1], true);
	msgs_free(&keep[2], false);
	msgs_free(&keep[3], true);
	smap_free(&q.within);
	return pr;
}

static volatile unsigned prewarm_sink;

/* Walks db from key prefix (plen bytes; 0: the whole table) while keys
 * begin with it, reading a byte of every value so its page is mapped. */
static int touch_range(struct store_txn *txn, enum store_db db, const void *prefix, size_t plen,
                       const volatile int *stop, unsigned *sum)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, db, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	unsigned n = 0;
	for (r = store_cursor_seek(cur, prefix, plen, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (plen && (kl < plen || memcmp(k, prefix, plen) != 0))
			break;
		*sum += vl ? ((const uint8_t *)v)[0] : 0;
		if (++n % 4096 == 0 && *stop)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

int query_prewarm(struct store *st, int64_t now, const volatile int *stop)
{
	struct store_txn *txn;
	int r = store_txn_begin(st, false, NULL, &txn);
	if (r < 0)
		return r;
	unsigned sum = 0;
	r = touch_range(txn, DB_ELDER_SPANS, NULL, 0, stop, &sum);
	int month = period_month_of(now);
	int prev = month % 100 == 1 ? month - 100 + 11 : month - 1;
	const int months[2] = {month, prev};
	for (int i = 0; r == 0 && i < 2 && !*stop; i++) {
		uint8_t key[4];
		record_month_prefix(months[i], key);
		r = touch_range(txn, DB_MONTH_VISITS, key, 4, stop, &sum);
	}
	store_txn_abort(txn);
	prewarm_sink = sum; /* keeps the reads from being optimised away */
	return r;
}
