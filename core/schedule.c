#include "schedule.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"
#include "record.h"
#include "registry.h"

#define KEY_MAX    256
#define MAX_DUTIES 64

size_t schedule_duty_key(char *buf, const char *elder, const char *rule, const char *visitor)
{
	size_t a = strlen(elder), b = strlen(rule), c = strlen(visitor);
	if (a + b + c + 2 > KEY_MAX - 8)
		return 0;
	memcpy(buf, elder, a + 1);
	memcpy(buf + a + 1, rule, b + 1);
	memcpy(buf + a + b + 2, visitor, c);
	return a + b + c + 2;
}

static int64_t due_time(const struct period *p, int64_t start, int64_t last)
{
	if (p->kind == PERIOD_DAYS)
		return (last ? last : start) + (int64_t)p->days * 86400;
	if (last)
		return period_next(p, period_next(p, period_start(p, last)));
	return period_next(p, period_start(p, start));
}

static bool elder_scheduled(const tf_elder *e)
{
	return e->status != TANFANG__V1__ELDER_STATUS__ELDER_STATUS_DECEASED &&
	       e->status != TANFANG__V1__ELDER_STATUS__ELDER_STATUS_MOVED_AWAY;
}

/* An elder's area and every area above it, own first: the scopes whose
 * overdue lists show the elder's duties. */
#define ANCESTRY_MAX  16
#define AREA_CODE_MAX 24

struct ancestry {
	char code[ANCESTRY_MAX][AREA_CODE_MAX];
	size_t n;
	char packed[ANCESTRY_MAX * AREA_CODE_MAX]; /* codes joined by \0 */
	size_t packed_len;
};

static int ancestry_load(struct store_txn *txn, const char *area, struct ancestry *a)
{
	a->n = 0;
	a->packed_len = 0;
	char cur[AREA_CODE_MAX];
	if (strlen(area) >= sizeof cur)
		return TF_E_CORRUPT;
	strcpy(cur, area);
	/* Bounded like registry_within: a corrupted parent cycle ends here. */
	while (*cur && a->n < ANCESTRY_MAX) {
		memcpy(a->code[a->n], cur, strlen(cur) + 1);
		memcpy(a->packed + a->packed_len, cur, strlen(cur) + 1);
		a->packed_len += strlen(cur) + 1;
		a->n++;
		tf_area *ar;
		int r = registry_get_area(txn, cur, &ar);
		if (r == -ENOENT)
			break;
		if (r < 0)
			return r;
		size_t pl = strlen(ar->parent);
		if (pl < sizeof cur)
			memcpy(cur, ar->parent, pl + 1);
		else
			cur[0] = '\0';
		wire_free(WIRE_AREA, ar);
	}
	if (a->packed_len)
		a->packed_len--; /* no \0 after the last code */
	return 0;
}

/* DB_DUE_AREA key: area \0 be64(due) duty key. */
static size_t area_key(uint8_t *out, const char *area, int64_t due, const void *key, size_t kl)
{
	size_t al = strlen(area) + 1;
	memcpy(out, area, al);
	store_be64(out + al, (uint64_t)due);
	memcpy(out + al + 8, key, kl);
	return al + 8 + kl;
}

/* One duty in the due index, under its due time and under each area its
 * elder belongs to. DB_DUE keeps the areas, so the entry can be removed
 * exactly even after the area tree or the elder's area has changed. */
static int index_put(struct store_txn *txn, const tf_duty *d, const struct ancestry *anc,
                     const char *key, size_t kl)
{
	uint8_t ik[KEY_MAX + AREA_CODE_MAX];
	store_be64(ik, (uint64_t)d->due_at);
	memcpy(ik + 8, key, kl);
	int r = store_put(txn, DB_DUE, ik, kl + 8, anc->packed, anc->packed_len, 0);
	for (size_t i = 0; r == 0 && i < anc->n; i++) {
		size_t n = area_key(ik, anc->code[i], d->due_at, key, kl);
		r = store_put(txn, DB_DUE_AREA, ik, n, "", 0, 0);
	}
	return r;
}

static int index_del(struct store_txn *txn, int64_t due, const void *key, size_t kl)
{
	uint8_t ik[KEY_MAX + AREA_CODE_MAX];
	store_be64(ik, (uint64_t)due);
	memcpy(ik + 8, key, kl);
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_DUE, ik, kl + 8, &v, &vl);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char areas[ANCESTRY_MAX * AREA_CODE_MAX + 1];
	if (vl >= sizeof areas)
		return TF_E_CORRUPT;
	memcpy(areas, v, vl);
	areas[vl] = '\0';
	r = store_del(txn, DB_DUE, ik, kl + 8);
	for (const char *a = areas; r == 0 && a < areas + vl + 1 && *a; a += strlen(a) + 1) {
		if (strlen(a) >= AREA_CODE_MAX)
			return TF_E_CORRUPT;
		size_t n = area_key(ik, a, due, key, kl);
		r = store_del(txn, DB_DUE_AREA, ik, n);
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

static int duty_put(struct store_txn *txn, const tf_duty *d, const struct ancestry *anc)
{
	char key[KEY_MAX];
	size_t kl = schedule_duty_key(key, d->elder_id, d->rule, d->visitor_id);
	if (!kl)
		return TF_E_INVALID;
	uint8_t *buf;
	size_t len;
	int r = wire_pack(WIRE_DUTY, d, &buf, &len);
	if (r < 0)
		return r;
	r = store_put(txn, DB_DUTIES, key, kl, buf, len, 0);
	free(buf);
	if (r == 0 && d->due_at)
		r = index_put(txn, d, anc, key, kl);
	return r;
}

/* A planned duty while an elder's duties are recomputed. */
struct plan {
	const struct policy_rule *rule; /* NULL for "1+2 not set up" */
	const char *visitor;
	int64_t start;
	int64_t last;
};

/* Removes every duty of the elder; remembers each one's start so a
 * recomputation keeps the date an assignment began. */
static int drop_duties(struct store_txn *txn, const char *elder, size_t *n_old, tf_duty **keep,
                       size_t keep_max)
{
	char prefix[KEY_MAX];
	size_t pl = strlen(elder) + 1;
	memcpy(prefix, elder, pl);
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_DUTIES, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	*n_old = 0;
	for (r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, prefix, pl) != 0)
			break;
		tf_duty *d;
		r = wire_unpack(WIRE_DUTY, v, vl, (void **)&d);
		if (r < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		/* Copy the key: a write to another database may move the page
		 * the cursor's key points into. */
		char key[KEY_MAX];
		if (kl > KEY_MAX - 8) {
			wire_free(WIRE_DUTY, d);
			r = TF_E_CORRUPT;
			break;
		}
		memcpy(key, k, kl);
		r = index_del(txn, d->due_at, key, kl);
		if (r == 0)
			r = store_cursor_del(cur);
		if (r == 0 && *n_old < keep_max)
			keep[(*n_old)++] = d;
		else
			wire_free(WIRE_DUTY, d);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

static int visitor_role(struct store_txn *txn, const char *id, int *role)
{
	tf_visitor *v;
	int r = registry_get_visitor(txn, id, &v);
	if (r == -ENOENT) {
		*role = -1;
		return 0;
	}
	if (r < 0)
		return r;
	*role = v->role;
	wire_free(WIRE_VISITOR, v);
	return 0;
}

static bool in_list(char **ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

static int plan_duties(struct store_txn *txn, const struct policy *pol, const tf_elder *e,
                       struct plan *plans, size_t *n)
{
	*n = 0;
	bool needs_pair = false;
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *rule = &pol->rules[i];
		if (!policy_rule_applies(pol, rule, e))
			continue;
		if (rule->duty == DUTY_ELDER && *n < MAX_DUTIES) {
			plans[(*n)++] = (struct plan){rule, "", e->registered_at, 0};
		} else if (rule->duty == DUTY_ASSIGNED) {
			for (size_t k = 0; k < e->n_visitors && *n < MAX_DUTIES; k++) {
				int role;
				int r = visitor_role(txn, e->visitors[k], &role);
				if (r < 0)
					return r;
				if (role >= 0 && (!rule->roles || (rule->roles & (1u << role))))
					plans[(*n)++] = (struct plan){rule, e->visitors[k], 0, 0};
			}
		} else if (rule->duty == DUTY_NEIGHBOUR) {
			needs_pair = true;
			for (size_t k = 0; k < e->n_neighbours && *n < MAX_DUTIES; k++)
				plans[(*n)++] = (struct plan){rule, e->neighbours[k], 0, 0};
		}
	}
	if (needs_pair && e->n_neighbours < 2 && *n < MAX_DUTIES)
		plans[(*n)++] = (struct plan){NULL, "", 0, 0};
	return 0;
}

/* Does a stored visit satisfy the planned duty? */
static bool visit_satisfies(const struct plan *p, const char *visitor, int role, int kind)
{
	if (!p->rule || !policy_visit_counts(p->rule, role, kind))
		return false;
	return p->rule->duty == DUTY_ELDER || strcmp(p->visitor, visitor) == 0;
}

/* Fills each plan's last qualifying visit from the elder's history, newest
 * first, stopping once every plan has one. */
static int fill_last(struct store_txn *txn, const tf_elder *e, struct plan *plans, size_t n)
{
	size_t open = 0;
	for (size_t i = 0; i < n; i++)
		open += plans[i].rule != NULL;
	if (!open)
		return 0;
	uint8_t end[KEY_MAX];
	size_t pl = strlen(e->id) + 1;
	memcpy(end, e->id, pl);
	memset(end + pl, 0xff, 24);
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ELDER_HIST, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	r = store_cursor_seek(cur, end, pl + 24, &k, &kl, &v, &vl);
	r = r == -ENOENT ? store_cursor_last(cur, &k, &kl, &v, &vl)
	                 : store_cursor_prev(cur, &k, &kl, &v, &vl);
	for (; r == 0 && open; r = store_cursor_prev(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 24 || memcmp(k, e->id, pl) != 0)
			break;
		tf_record *rec;
		r = record_get(txn, (const uint8_t *)k + pl + 8, &rec);
		if (r < 0)
			break;
		if (rec->visit) {
			int role;
			r = visitor_role(txn, rec->visitor_id, &role);
			for (size_t i = 0; r == 0 && i < n; i++) {
				if (plans[i].rule && !plans[i].last &&
				    visit_satisfies(&plans[i], rec->visitor_id, role,
				                    rec->visit->kind)) {
					plans[i].last = rec->visit->visited_at;
					open--;
				}
			}
		}
		wire_free(WIRE_RECORD, rec);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT || r == 0 ? 0 : r;
}

int schedule_elder(struct store_txn *txn, const struct policy *pol, const tf_elder *e, int64_t now)
{
	tf_duty *old[MAX_DUTIES];
	size_t n_old = 0;
	int r = drop_duties(txn, e->id, &n_old, old, MAX_DUTIES);
	struct plan plans[MAX_DUTIES];
	size_t n = 0;
	if (r == 0 && elder_scheduled(e))
		r = plan_duties(txn, pol, e, plans, &n);
	if (r == 0)
		r = fill_last(txn, e, plans, n);
	struct ancestry anc;
	if (r == 0 && n)
		r = ancestry_load(txn, e->area, &anc);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct plan *p = &plans[i];
		const char *rule = p->rule ? p->rule->name : SCHEDULE_NOT_SET_UP;
		/* Assignments keep the day they began across recomputations. */
		if (!p->start) {
			p->start = now;
			for (size_t k = 0; k < n_old; k++)
				if (strcmp(old[k]->rule, rule) == 0 &&
				    strcmp(old[k]->visitor_id, p->visitor) == 0)
					p->start = old[k]->start;
		}
		tf_duty d;
		wire_init(WIRE_DUTY, &d);
		d.elder_id = e->id;
		d.rule = (char *)rule;
		d.visitor_id = (char *)p->visitor;
		d.start = p->start;
		d.last_at = p->last;
		if (p->rule) {
			d.due_at = due_time(&p->rule->period, p->start, p->last);
			d.kind = p->rule->report == REPORT_PARTY   ? "party"
			         : p->rule->duty == DUTY_NEIGHBOUR ? "neighbour"
			                                           : "visit";
		} else {
			/* "1+2 not set up" is a finding at once (BRIEF §3). */
			d.due_at = p->start;
			d.kind = "not_set_up";
		}
		r = duty_put(txn, &d, &anc);
	}
	for (size_t k = 0; k < n_old; k++)
		wire_free(WIRE_DUTY, old[k]);
	return r;
}

/* Monthly tallies for the report: be32(YYYYMM) || duty key -> be32 count. */
static int tally(struct store_txn *txn, int64_t when, const char *key, size_t kl)
{
	uint8_t mk[KEY_MAX];
	uint32_t m = (uint32_t)period_month_of(when);
	mk[0] = (uint8_t)(m >> 24), mk[1] = (uint8_t)(m >> 16), mk[2] = (uint8_t)(m >> 8),
	mk[3] = (uint8_t)m;
	memcpy(mk + 4, key, kl);
	const void *v;
	size_t vl;
	uint32_t count = 0;
	int r = store_get(txn, DB_MONTHLY, mk, kl + 4, &v, &vl);
	if (r == 0 && vl == 4) {
		const uint8_t *b = v;
		count = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	} else if (r < 0 && r != -ENOENT) {
		return r;
	}
	count++;
	uint8_t c[4] = {(uint8_t)(count >> 24), (uint8_t)(count >> 16), (uint8_t)(count >> 8),
	                (uint8_t)count};
	return store_put(txn, DB_MONTHLY, mk, kl + 4, c, 4, 0);
}

int schedule_visit(struct store_txn *txn, const struct policy *pol, const tf_elder *e,
                   const tf_visitor *v, const tf_visit *visit, int64_t now)
{
	(void)now;
	struct ancestry anc;
	bool anc_loaded = false; /* loaded once, when a duty moves */
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *rule = &pol->rules[i];
		if (!policy_rule_applies(pol, rule, e) ||
		    !policy_visit_counts(rule, v->role, visit->kind))
			continue;
		const char *subject = "";
		if (rule->duty == DUTY_ASSIGNED) {
			if (!in_list(e->visitors, e->n_visitors, v->id))
				continue;
			subject = v->id;
		} else if (rule->duty == DUTY_NEIGHBOUR) {
			if (!in_list(e->neighbours, e->n_neighbours, v->id))
				continue;
			subject = v->id;
		}
		char key[KEY_MAX];
		size_t kl = schedule_duty_key(key, e->id, rule->name, subject);
		if (!kl)
			continue;
		int r = tally(txn, visit->visited_at, key, kl);
		if (r < 0)
			return r;
		if (!elder_scheduled(e))
			continue;
		const void *dv;
		size_t dl;
		r = store_get(txn, DB_DUTIES, key, kl, &dv, &dl);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		tf_duty *d;
		r = wire_unpack(WIRE_DUTY, dv, dl, (void **)&d);
		if (r < 0)
			return TF_E_CORRUPT;
		if (visit->visited_at > d->last_at) {
			r = index_del(txn, d->due_at, key, kl);
			d->last_at = visit->visited_at;
			d->due_at = due_time(&rule->period, d->start, d->last_at);
			if (r == 0 && !anc_loaded) {
				r = ancestry_load(txn, e->area, &anc);
				anc_loaded = r == 0;
			}
			if (r == 0)
				r = duty_put(txn, d, &anc);
		}
		wire_free(WIRE_DUTY, d);
		if (r < 0)
			return r;
	}
	return 0;
}

struct rebuild {
	struct store_txn *txn;
	const struct policy *pol;
	int64_t now;
};

static int rebuild_one(void *msg, void *ctx)
{
	struct rebuild *rb = ctx;
	int r = schedule_elder(rb->txn, rb->pol, msg, rb->now);
	wire_free(WIRE_ELDER, msg);
	return r;
}

int schedule_rebuild(struct store_txn *txn, const struct policy *pol, int64_t now)
{
	struct rebuild rb = {txn, pol, now};
	return registry_foreach(txn, DB_ELDERS, rebuild_one, &rb);
}
