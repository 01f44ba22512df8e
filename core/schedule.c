#include "schedule.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"
#include "record.h"
#include "registry.h"
#include "timeline.h"

#define KEY_MAX    256
#define MAX_DUTIES 64
/* Ingest accepts a visit dated up to the allowed clock skew ahead (default
 * 10 minutes); it counts at once, as the report counts it. Anything dated
 * further ahead can only be in a store from before such visits were
 * refused (a wrong device date) and does not count until its day. */
#define FUTURE_SLACK_S 86400

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

/* Never before the end of the period the duty started in, so a visit made
 * before the duty began (in an earlier period) does not make it overdue
 * from before it existed; a visit in the start's own period counts, as it
 * does in the monthly report. */
static int64_t due_time(const struct period *p, int64_t start, int64_t last)
{
	int64_t from_start = p->kind == PERIOD_DAYS ? start + (int64_t)p->days * 86400
	                                            : period_next(p, period_start(p, start));
	if (!last)
		return from_start;
	int64_t from_last = p->kind == PERIOD_DAYS
	                        ? last + (int64_t)p->days * 86400
	                        : period_next(p, period_next(p, period_start(p, last)));
	return from_last > from_start ? from_last : from_start;
}

bool schedule_rule_active(const struct policy *pol, const struct policy_rule *r,
                          const tf_elder *state, int64_t at)
{
	if (!timeline_present(state))
		return false;
	if (r->pause_in_hospital &&
	    state->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_HOSPITALISED)
		return false;
	return policy_rule_applies(pol, r, state, at);
}

bool schedule_visit_counts(const struct policy_rule *r, const char *holder, const char *visitor,
                           int role, int kind)
{
	if (!policy_visit_counts(r, role, kind))
		return false;
	return r->duty == DUTY_ELDER || strcmp(holder, visitor) == 0;
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
static int index_put(struct store_txn *txn, const tf_duty *d, const struct registry_ancestry *anc,
                     const char *key, size_t kl)
{
	uint8_t ik[KEY_MAX + REGISTRY_AREA_CODE_MAX];
	store_be64(ik, (uint64_t)d->due_at);
	memcpy(ik + 8, key, kl);
	int r = store_put(txn, DB_DUE, ik, kl + 8, anc->packed, anc->packed_len, 0);
	for (size_t i = 0; r == 0 && i < anc->n; i++) {
		size_t n = area_key(ik, anc->code[i], d->due_at, key, kl);
		r = store_put(txn, DB_DUE_AREA, ik, n, "", 0, 0);
	}
	if (r == 0 && *d->visitor_id) {
		size_t n = area_key(ik, d->visitor_id, d->due_at, key, kl);
		r = store_put(txn, DB_DUE_VISITOR, ik, n, "", 0, 0);
	}
	return r;
}

/* The holder named in a duty key (elder \0 rule \0 visitor): "" for none. */
static const char *key_holder(const char *key, size_t kl, char *buf, size_t size)
{
	size_t a = strnlen(key, kl);
	size_t b = a < kl ? strnlen(key + a + 1, kl - a - 1) : 0;
	size_t off = a + 1 + b + 1;
	size_t n = off < kl ? kl - off : 0;
	if (n >= size)
		n = 0;
	memcpy(buf, key + (n ? off : 0), n);
	buf[n] = '\0';
	return buf;
}

static int index_del(struct store_txn *txn, int64_t due, const void *key, size_t kl)
{
	uint8_t ik[KEY_MAX + REGISTRY_AREA_CODE_MAX];
	store_be64(ik, (uint64_t)due);
	memcpy(ik + 8, key, kl);
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_DUE, ik, kl + 8, &v, &vl);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char areas[REGISTRY_ANCESTRY_MAX * REGISTRY_AREA_CODE_MAX + 1];
	if (vl >= sizeof areas)
		return TF_E_CORRUPT;
	memcpy(areas, v, vl);
	areas[vl] = '\0';
	r = store_del(txn, DB_DUE, ik, kl + 8);
	for (const char *a = areas; r == 0 && a < areas + vl + 1 && *a; a += strlen(a) + 1) {
		if (strlen(a) >= REGISTRY_AREA_CODE_MAX)
			return TF_E_CORRUPT;
		size_t n = area_key(ik, a, due, key, kl);
		r = store_del(txn, DB_DUE_AREA, ik, n);
		if (r == -ENOENT)
			r = 0;
	}
	char holder[REGISTRY_ID_MAX + 1];
	if (r == 0 && *key_holder(key, kl, holder, sizeof holder)) {
		size_t n = area_key(ik, holder, due, key, kl);
		r = store_del(txn, DB_DUE_VISITOR, ik, n);
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

static int duty_put(struct store_txn *txn, const tf_duty *d, const struct registry_ancestry *anc)
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
	int64_t start; /* set: a duty that begins on a coming birthday */
	int64_t last;
	/* Rules started by events: the latest such event (0: none), and
	 * whether a qualifying visit came at or after it. */
	int64_t trigger;
	bool met, seen_visit;
};

static bool in_list(char **ids, size_t n, const char *id);

/* Does the duty (rule, holder) exist at time at, in this registry state?
 * rule NULL: "1+2 not set up" under any neighbour rule. */
static bool duty_in_span(const struct policy *pol, const struct policy_rule *rule,
                         const char *holder, const tf_elder *st, int64_t at)
{
	if (!rule) {
		if (st->n_neighbours >= 2)
			return false;
		for (size_t i = 0; i < pol->n_rules; i++)
			if (pol->rules[i].duty == DUTY_NEIGHBOUR &&
			    schedule_rule_active(pol, &pol->rules[i], st, at))
				return true;
		return false;
	}
	if (!schedule_rule_active(pol, rule, st, at))
		return false;
	if (rule->duty == DUTY_ASSIGNED)
		return in_list(st->visitors, st->n_visitors, holder);
	if (rule->duty == DUTY_NEIGHBOUR)
		return in_list(st->neighbours, st->n_neighbours, holder);
	return true;
}

/* The birthdays on which a tier can change (the ages the policy's high-risk
 * sets ask), after `after` and no later than `until`, into out (at most
 * max). */
static size_t age_steps(const struct policy *pol, const tf_elder *e, int64_t after, int64_t until,
                        int64_t *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < pol->n_high && n < max; i++) {
		if (!pol->high_min_age[i])
			continue;
		int64_t t = policy_birthday(e, pol->high_min_age[i]);
		if (t > after && t <= until)
			out[n++] = t;
	}
	return n;
}

/* When the duty began: the start of the unbroken run, up to now, in which
 * it existed (a category added, a visitor assigned, a return from hospital
 * under a paused rule, a birthday that made the elder high risk). The run
 * is read from the elder's spans, cut also at the birthdays the policy's
 * ages name, so it does not depend on when or in what order the facts
 * arrived. */
static int64_t duty_start(const struct policy *pol, const struct timeline_spans *sp,
                          const struct plan *p, int64_t fallback, int64_t now)
{
	if (!sp->n)
		return fallback;
	/* Segment starts: every span's, and every birthday step inside. */
	int64_t at[TIMELINE_FACTS_MAX + 8];
	size_t n = 0;
	for (size_t i = 0; i < sp->n && n < TIMELINE_FACTS_MAX; i++) {
		at[n++] = sp->from[i];
		int64_t until = i + 1 < sp->n ? sp->from[i + 1] : now;
		int64_t steps[8];
		size_t k = age_steps(pol, sp->states[i], sp->from[i], until, steps, 8);
		for (size_t j = 0; j < k && n < TIMELINE_FACTS_MAX + 8; j++)
			at[n++] = steps[j];
	}
	/* Sort (few entries, nearly sorted). */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && at[j - 1] > at[j]; j--) {
			int64_t t = at[j];
			at[j] = at[j - 1], at[j - 1] = t;
		}
	long i = (long)n - 1;
	while (i >= 0 && at[i] > now)
		i--;
	if (i < 0)
		return fallback;
	long s = timeline_span_at(sp, at[i]);
	if (s < 0 || !duty_in_span(pol, p->rule, p->visitor, sp->states[s], at[i]))
		return fallback;
	while (i > 0) {
		s = timeline_span_at(sp, at[i - 1]);
		if (s < 0 || !duty_in_span(pol, p->rule, p->visitor, sp->states[s], at[i - 1]))
			break;
		i--;
	}
	return at[i];
}

/* Removes every duty of the elder and its index entries (a duty's start
 * comes from the timeline, so nothing of the old duties is kept). */
static int drop_duties(struct store_txn *txn, const char *elder)
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
	for (r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, prefix, pl) != 0)
			break;
		tf_duty *d;
		r = wire_unpack_stored(WIRE_DUTY, v, vl, (void **)&d);
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

static int plan_rule(struct store_txn *txn, const tf_elder *e, const struct policy_rule *rule,
                     int64_t start, struct plan *plans, size_t *n, bool *needs_pair)
{
	if (rule->duty == DUTY_ELDER && *n < MAX_DUTIES) {
		plans[(*n)++] = (struct plan){.rule = rule, .visitor = "", .start = start};
	} else if (rule->duty == DUTY_ASSIGNED) {
		for (size_t k = 0; k < e->n_visitors && *n < MAX_DUTIES; k++) {
			int role;
			int r = visitor_role(txn, e->visitors[k], &role);
			if (r < 0)
				return r;
			if (role >= 0 && (!rule->roles || (rule->roles & (1u << role))))
				plans[(*n)++] = (struct plan){
				    .rule = rule, .visitor = e->visitors[k], .start = start};
		}
	} else if (rule->duty == DUTY_NEIGHBOUR) {
		*needs_pair = !start;
		for (size_t k = 0; k < e->n_neighbours && *n < MAX_DUTIES; k++)
			plans[(*n)++] = (struct plan){
			    .rule = rule, .visitor = e->neighbours[k], .start = start};
	}
	return 0;
}

/* The duties of e now; and those that begin on a coming birthday (the
 * elder turns 80 and becomes high risk), planned now with that start so
 * they fall due then with no other change needed. */
static int plan_duties(struct store_txn *txn, const struct policy *pol, const tf_elder *e,
                       int64_t now, struct plan *plans, size_t *n)
{
	*n = 0;
	bool needs_pair = false;
	int64_t steps[8];
	size_t n_steps = age_steps(pol, e, now, INT64_MAX, steps, 8);
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *rule = &pol->rules[i];
		int64_t start = 0;
		if (!schedule_rule_active(pol, rule, e, now)) {
			/* The earliest coming birthday from which it holds. */
			for (size_t k = 0; k < n_steps; k++)
				if (schedule_rule_active(pol, rule, e, steps[k]) &&
				    (!start || steps[k] < start))
					start = steps[k];
			if (!start || rule->after_events)
				continue;
		}
		int r = plan_rule(txn, e, rule, start, plans, n, &needs_pair);
		if (r < 0)
			return r;
	}
	if (needs_pair && e->n_neighbours < 2 && *n < MAX_DUTIES)
		plans[(*n)++] = (struct plan){.visitor = ""};
	return 0;
}

/* Fills each plan's last qualifying visit from the elder's history, newest
 * first, stopping once every plan has one. A visit counts as the report
 * counts it (schedule_visit_counts, with the visitor's role at the visit's
 * own time); see FUTURE_SLACK_S for one dated ahead of now. */
static int fill_last(struct store_txn *txn, const tf_elder *e, struct plan *plans, size_t n,
                     int64_t now)
{
	size_t open = 0;
	for (size_t i = 0; i < n; i++)
		open += plans[i].rule != NULL;
	if (!open)
		return 0;
	uint32_t triggers = 0;
	for (size_t i = 0; i < n; i++)
		if (plans[i].rule)
			triggers |= plans[i].rule->after_events;
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
		if (rec->visit && rec->visit->visited_at <= now + FUTURE_SLACK_S) {
			int role;
			r = timeline_role_at(txn, rec->visitor_id, rec->visit->visited_at, &role,
			                     NULL, NULL);
			for (size_t i = 0; r == 0 && i < n; i++) {
				struct plan *p = &plans[i];
				if (!p->rule || p->last || p->trigger ||
				    !schedule_visit_counts(p->rule, p->visitor, rec->visitor_id,
				                           role, rec->visit->kind))
					continue;
				if (p->rule->after_events) {
					/* Newest first: a visit seen before the event
					 * came after it, and meets it. */
					p->seen_visit = true;
					continue;
				}
				p->last = rec->visit->visited_at;
				open--;
			}
		} else if (rec->care_event && (unsigned)rec->care_event->type < 32 &&
		           (triggers & (1u << rec->care_event->type)) &&
		           rec->care_event->occurred_at <= now + FUTURE_SLACK_S) {
			/* A withdrawn event started nothing. */
			r = timeline_event_corrected(txn, e->id, rec->care_event->id.data);
			for (size_t i = 0; r == 0 && i < n; i++) {
				struct plan *p = &plans[i];
				if (!p->rule || p->trigger ||
				    !(p->rule->after_events & (1u << rec->care_event->type)))
					continue;
				p->trigger = rec->care_event->occurred_at;
				p->met = p->seen_visit;
				open--;
			}
			r = r > 0 ? 0 : r;
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
	int r = drop_duties(txn, e->id);
	struct plan plans[MAX_DUTIES];
	size_t n = 0;
	if (r == 0)
		r = plan_duties(txn, pol, e, now, plans, &n);
	if (r == 0)
		r = fill_last(txn, e, plans, n, now);
	struct timeline_spans *sp = NULL;
	if (r == 0 && n) {
		sp = malloc(sizeof *sp);
		r = sp ? timeline_elder_spans(txn, e->id, sp) : -ENOMEM;
	}
	struct registry_ancestry anc;
	if (r == 0 && n)
		r = registry_ancestry(txn, e->area, &anc);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct plan *p = &plans[i];
		const char *rule = p->rule ? p->rule->name : SCHEDULE_NOT_SET_UP;
		tf_duty d;
		wire_init(WIRE_DUTY, &d);
		if (p->rule && p->rule->after_events) {
			/* Owed only after an event, until a visit meets it. */
			if (!p->trigger || p->met)
				continue;
			p->start = p->trigger;
			d.due_at = p->trigger + p->rule->within_s;
			d.kind = "visit";
		} else {
			if (!p->start)
				p->start = duty_start(pol, sp, p, e->registered_at, now);
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
		}
		d.elder_id = e->id;
		d.rule = (char *)rule;
		d.visitor_id = (char *)p->visitor;
		d.start = p->start;
		d.last_at = p->last;
		r = duty_put(txn, &d, &anc);
	}
	if (sp) {
		timeline_spans_clear(sp);
		free(sp);
	}
	return r;
}

int schedule_visit(struct store_txn *txn, const struct policy *pol, const tf_elder *e,
                   const char *visitor, int role, const tf_visit *visit, int64_t now)
{
	if (visit->visited_at > now + FUTURE_SLACK_S)
		return 0;
	struct registry_ancestry anc;
	bool anc_loaded = false; /* loaded once, when a duty moves */
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *rule = &pol->rules[i];
		if (!schedule_rule_active(pol, rule, e, now))
			continue;
		const char *holder = rule->duty == DUTY_ELDER ? "" : visitor;
		if (rule->duty == DUTY_ASSIGNED && !in_list(e->visitors, e->n_visitors, visitor))
			continue;
		if (rule->duty == DUTY_NEIGHBOUR &&
		    !in_list(e->neighbours, e->n_neighbours, visitor))
			continue;
		if (!schedule_visit_counts(rule, holder, visitor, role, visit->kind))
			continue;
		char key[KEY_MAX];
		size_t kl = schedule_duty_key(key, e->id, rule->name, holder);
		if (!kl)
			continue;
		const void *dv;
		size_t dl;
		int r = store_get(txn, DB_DUTIES, key, kl, &dv, &dl);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		tf_duty *d;
		r = wire_unpack_stored(WIRE_DUTY, dv, dl, (void **)&d);
		if (r < 0)
			return TF_E_CORRUPT;
		if (rule->after_events) {
			/* A visit at or after the event meets the duty: it is gone
			 * until the next event. */
			if (visit->visited_at >= d->start) {
				r = index_del(txn, d->due_at, key, kl);
				if (r == 0)
					r = store_del(txn, DB_DUTIES, key, kl);
			}
		} else if (visit->visited_at > d->last_at) {
			r = index_del(txn, d->due_at, key, kl);
			d->last_at = visit->visited_at;
			d->due_at = due_time(&rule->period, d->start, d->last_at);
			if (r == 0 && !anc_loaded) {
				r = registry_ancestry(txn, e->area, &anc);
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
