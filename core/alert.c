#include "alert.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "period.h"
#include "record.h"
#include "registry.h"
#include "reqcheck.h"
#include "schedule.h"
#include "timeline.h"

#define MAX_PEOPLE 24
#define KEY_MAX    300

/* Who should act, and how to reach them. */
struct people {
	char *ids[MAX_PEOPLE];
	char *contacts[MAX_PEOPLE];
	size_t n, nc;
};

static void people_free(struct people *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->ids[i]);
	for (size_t i = 0; i < p->nc; i++)
		free(p->contacts[i]);
	memset(p, 0, sizeof *p);
}

static int add_str(char **arr, size_t *n, const char *s)
{
	if (!s || !*s || *n == MAX_PEOPLE)
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(arr[i], s) == 0)
			return 0;
	arr[*n] = strdup(s);
	if (!arr[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int add_person(struct people *p, const char *id, const char *contact)
{
	int r = add_str(p->ids, &p->n, id);
	return r < 0 ? r : add_str(p->contacts, &p->nc, contact);
}

static int add_visitor(struct store_txn *txn, struct people *p, const char *id)
{
	tf_visitor *v;
	int r = registry_get_visitor(txn, id, &v);
	if (r == -ENOENT)
		return add_person(p, id, NULL);
	if (r < 0)
		return r;
	r = add_person(p, v->id, v->contact);
	wire_free(WIRE_VISITOR, v);
	return r;
}

struct supervisors_of {
	struct people *p;
	const char *area;
};

static int add_supervisor(void *msg, void *ctx)
{
	struct supervisors_of *s = ctx;
	tf_visitor *v = msg;
	int r = 0;
	if (v->role == TANFANG__V1__ROLE__ROLE_SUPERVISOR && strcmp(v->area, s->area) == 0)
		r = add_person(s->p, v->id, v->contact);
	wire_free(WIRE_VISITOR, v);
	return r;
}

/* The supervisors of exactly this area, and the area's own contact. */
static int add_area_people(struct store_txn *txn, struct people *p, const char *area)
{
	if (!*area)
		return 0;
	tf_area *a;
	int r = registry_get_area(txn, area, &a);
	if (r == 0) {
		r = add_person(p, a->code, a->contact);
		wire_free(WIRE_AREA, a);
	}
	if (r < 0 && r != -ENOENT)
		return r;
	struct supervisors_of sup = {p, area};
	return registry_foreach(txn, DB_VISITORS, add_supervisor, &sup);
}

static int parent_of(struct store_txn *txn, const char *area, char *out, size_t size)
{
	out[0] = '\0';
	tf_area *a;
	int r = registry_get_area(txn, area, &a);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(out, size, "%s", a->parent);
	wire_free(WIRE_AREA, a);
	return 0;
}

static void area_name(struct store_txn *txn, const char *code, char *out, size_t size)
{
	tf_area *a;
	if (registry_get_area(txn, code, &a) == 0) {
		snprintf(out, size, "%s", a->name);
		wire_free(WIRE_AREA, a);
	} else {
		snprintf(out, size, "%s", code);
	}
}

static int make_event_alert(struct store_txn *txn, const char *cause, const char *kind,
                            const tf_elder *e, const char *rule, const char *message,
                            struct people *p, int64_t now, size_t *made,
                            const ProtobufCBinaryData *record);

/* Stores a new alert unless one exists for this cause. *made (if not NULL)
 * is incremented when a new one is stored. */
static int make_alert(struct store_txn *txn, const char *cause, const char *kind, const tf_elder *e,
                      const char *rule, const char *message, struct people *p, int64_t now,
                      size_t *made)
{
	return make_event_alert(txn, cause, kind, e, rule, message, p, now, made, NULL);
}

/* The index of event alerts by elder, so a later registry fact about the
 * elder can re-derive the ones still undelivered: "evt|" elder "|" hex(id). */
static size_t event_index_key(char *out, size_t size, const char *elder, const uint8_t *record)
{
	char hex[33] = "";
	if (record)
		hex_encode(record, 16, hex);
	int n = snprintf(out, size, "evt|%s|%s", elder, hex);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

static int make_event_alert(struct store_txn *txn, const char *cause, const char *kind,
                            const tf_elder *e, const char *rule, const char *message,
                            struct people *p, int64_t now, size_t *made,
                            const ProtobufCBinaryData *record)
{
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_ALERT_KEYS, cause, strlen(cause), &v, &vl);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return r;
	uint8_t id[16];
	randombytes_buf(id, sizeof id);
	tf_alert a;
	wire_init(WIRE_ALERT, &a);
	a.id.data = id, a.id.len = 16;
	a.kind = (char *)kind;
	a.elder_id = e->id;
	a.elder_name = e->name;
	a.area = e->area;
	a.rule = (char *)rule;
	a.message = (char *)message;
	a.recipients = p->ids, a.n_recipients = p->n;
	a.contacts = p->contacts, a.n_contacts = p->nc;
	a.created_at = now;
	if (record)
		a.record_id = *record;
	uint8_t *buf;
	size_t len;
	r = wire_pack(WIRE_ALERT, &a, &buf, &len);
	if (r < 0)
		return r;
	r = store_put(txn, DB_ALERTS, id, 16, buf, len, 0);
	free(buf);
	if (r == 0)
		r = store_put(txn, DB_ALERT_KEYS, cause, strlen(cause), id, 16, 0);
	char ik[KEY_MAX];
	size_t il = record ? event_index_key(ik, sizeof ik, e->id, record->data) : 0;
	if (r == 0 && il)
		r = store_put(txn, DB_ALERT_KEYS, ik, il, id, 16, 0);
	uint8_t pk[24], lease[8] = {0};
	store_be64(pk, (uint64_t)now);
	memcpy(pk + 8, id, 16);
	if (r == 0)
		r = store_put(txn, DB_PENDING, pk, sizeof pk, lease, sizeof lease, 0);
	if (r == 0 && made)
		(*made)++;
	return r;
}

static bool event_urgent(const tf_care_event *ev)
{
	switch (ev->type) {
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL:
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_EMERGENCY_CALL:
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HAZARD_FOUND: return true;
	default: return ev->severity == TANFANG__V1__SEVERITY__SEVERITY_URGENT;
	}
}

static const char *event_label(int type)
{
	switch (type) {
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL: return "跌倒";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_ILLNESS: return "患病";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HOSPITALISED: return "住院";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DISCHARGED: return "出院";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_EMERGENCY_CALL: return "紧急呼叫";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HAZARD_FOUND: return "发现安全隐患";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_SERVICE_DELIVERED: return "服务送达";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HOTLINE_REQUEST: return "12345诉求";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_MOVED_AWAY: return "迁出";
	case TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DECEASED: return "去世";
	default: return "事件";
	}
}

/* Who an event alert goes to and what it says, from the elder as it was
 * when the event happened (its area and assigned visitors then; its name
 * now): the same answer whenever the event, or a registry fact dated before
 * it, arrives. *at gets the elder with that area (pointing into *then,
 * which the caller frees). */
static int event_content(struct store_txn *txn, const tf_elder *e, const tf_care_event *ev,
                         const char *visitor_id, bool departure, tf_elder *at, tf_elder **then,
                         struct people *p, char *msg, size_t msglen)
{
	*at = *e;
	int r = timeline_elder_at(txn, e->id, ev->occurred_at, then);
	if (r == -ENOENT)
		r = 0, *then = NULL;
	if (r < 0)
		return r;
	if (*then) {
		at->area = (*then)->area;
		at->visitors = (*then)->visitors, at->n_visitors = (*then)->n_visitors;
	}
	for (size_t i = 0; r == 0 && !departure && i < at->n_visitors; i++)
		r = add_visitor(txn, p, at->visitors[i]);
	if (r == 0)
		r = add_area_people(txn, p, at->area);
	char parent[32], where[256], when[20];
	if (r == 0)
		r = parent_of(txn, at->area, parent, sizeof parent);
	if (r == 0)
		r = add_area_people(txn, p, parent);
	if (r < 0)
		return r;
	area_name(txn, at->area, where, sizeof where);
	period_format(ev->occurred_at, when, sizeof when);
	if (departure)
		snprintf(msg, msglen,
		         "销册：%s（%s，%s）%s %s，上报人 %s。如有误，请更正（tanfang-admin event "
		         "correct）。%s",
		         e->name, e->id, where, when, event_label(ev->type), visitor_id, ev->note);
	else
		snprintf(msg, msglen, "紧急：%s（%s，%s）%s %s，上报人 %s。%s", e->name, e->id,
		         where, when, event_label(ev->type), visitor_id, ev->note);
	return 0;
}

static int event_alert(struct store_txn *txn, const tf_elder *e, const tf_care_event *ev,
                       const char *visitor_id, bool departure, int64_t now)
{
	struct people p = {0};
	tf_elder at, *then = NULL;
	char msg[1200], cause[KEY_MAX], hex[33];
	int r = event_content(txn, e, ev, visitor_id, departure, &at, &then, &p, msg, sizeof msg);
	if (r == 0) {
		hex_encode(ev->id.data, 16, hex);
		snprintf(cause, sizeof cause, "%s|%s", departure ? "departure" : "urgent_event",
		         hex);
		r = make_event_alert(txn, cause, departure ? "departure" : "urgent_event", &at, "",
		                     msg, &p, now, NULL, &ev->id);
	}
	people_free(&p);
	wire_free(WIRE_ELDER, then);
	return r;
}

int alert_on_event(struct store_txn *txn, const tf_elder *e, const tf_care_event *ev,
                   const char *visitor_id, int64_t now)
{
	return event_urgent(ev) ? event_alert(txn, e, ev, visitor_id, false, now) : 0;
}

/* Retires the undelivered duty alerts about elder. DB_PENDING holds only
 * undelivered ones, so the walk is short; the keys are gathered first and
 * deleted after, never under the cursor. */
static int withdraw_duty_alerts(struct store_txn *txn, const char *elder)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_PENDING, &cur);
	if (r < 0)
		return r;
	uint8_t(*keys)[24] = NULL;
	size_t n = 0, cap = 0;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != 24)
			continue;
		const void *av;
		size_t al;
		r = store_get(txn, DB_ALERTS, (const uint8_t *)k + 8, 16, &av, &al);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			break;
		tf_alert *a;
		if (wire_unpack_stored(WIRE_ALERT, av, al, (void **)&a) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		bool drop = strcmp(a->elder_id, elder) == 0 &&
		            strcmp(a->kind, "urgent_event") != 0 &&
		            strcmp(a->kind, "departure") != 0;
		wire_free(WIRE_ALERT, a);
		if (!drop)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint8_t(*p)[24] = realloc(keys, cap * sizeof *p);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			keys = p;
		}
		memcpy(keys[n++], k, 24);
	}
	store_cursor_close(cur);
	r = r == -ENOENT ? 0 : r;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = store_del(txn, DB_PENDING, keys[i], 24);
	free(keys);
	return r;
}

int alert_on_departure(struct store_txn *txn, const tf_elder *e, const tf_care_event *ev,
                       const char *visitor_id, int64_t now)
{
	int r = event_alert(txn, e, ev, visitor_id, true, now);
	if (r == 0)
		r = withdraw_duty_alerts(txn, e->id);
	return r;
}

/* Re-derives one undelivered event alert (id) about elder e. */
static int refresh_one(struct store_txn *txn, const tf_elder *e, const uint8_t id[16])
{
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_ALERTS, id, 16, &v, &vl);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	tf_alert *a;
	if (wire_unpack_stored(WIRE_ALERT, v, vl, (void **)&a) < 0)
		return TF_E_CORRUPT;
	uint8_t pk[24];
	store_be64(pk, (uint64_t)a->created_at);
	memcpy(pk + 8, id, 16);
	r = store_get(txn, DB_PENDING, pk, sizeof pk, &v, &vl);
	tf_record *rec = NULL;
	if (r == 0 && a->record_id.len == 16)
		r = record_get(txn, a->record_id.data, &rec);
	if (r < 0 || !rec || !rec->care_event) {
		/* Delivered alerts stay as they were sent. */
		wire_free(WIRE_RECORD, rec);
		wire_free(WIRE_ALERT, a);
		return r == -ENOENT ? 0 : r;
	}
	struct people p = {0};
	tf_elder at, *then = NULL;
	char msg[1200];
	r = event_content(txn, e, rec->care_event, rec->visitor_id,
	                  strcmp(a->kind, "departure") == 0, &at, &then, &p, msg, sizeof msg);
	if (r == 0) {
		tf_alert fresh = *a;
		fresh.elder_name = e->name;
		fresh.area = at.area;
		fresh.message = msg;
		fresh.recipients = p.ids, fresh.n_recipients = p.n;
		fresh.contacts = p.contacts, fresh.n_contacts = p.nc;
		uint8_t *buf;
		size_t len;
		r = wire_pack(WIRE_ALERT, &fresh, &buf, &len);
		if (r == 0) {
			r = store_put(txn, DB_ALERTS, id, 16, buf, len, 0);
			free(buf);
		}
	}
	people_free(&p);
	wire_free(WIRE_ELDER, then);
	wire_free(WIRE_RECORD, rec);
	wire_free(WIRE_ALERT, a);
	return r;
}

int alert_refresh_elder(struct store_txn *txn, const tf_elder *e)
{
	char prefix[KEY_MAX];
	size_t pl = event_index_key(prefix, sizeof prefix, e->id, NULL);
	if (!pl)
		return 0;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ALERT_KEYS, &cur);
	if (r < 0)
		return r;
	uint8_t(*ids)[16] = NULL;
	size_t n = 0, cap = 0;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < pl || memcmp(k, prefix, pl) != 0)
			break;
		if (vl != 16)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			uint8_t(*q)[16] = realloc(ids, cap * sizeof *q);
			if (!q) {
				r = -ENOMEM;
				break;
			}
			ids = q;
		}
		memcpy(ids[n++], v, 16);
	}
	store_cursor_close(cur);
	r = r == -ENOENT ? 0 : r;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = refresh_one(txn, e, ids[i]);
	free(ids);
	return r;
}

int alert_follow_up_owed(struct store_txn *txn, const tf_visit *v, const char *visitor_id,
                         int64_t due)
{
	uint8_t key[8 + REGISTRY_ID_MAX + 1 + 16];
	size_t el = strlen(v->elder_id);
	store_be64(key, (uint64_t)due);
	memcpy(key + 8, v->elder_id, el + 1);
	memcpy(key + 9 + el, v->id.data, 16);
	return store_put(txn, DB_FOLLOW_UP, key, 25 + el, visitor_id, strlen(visitor_id), 0);
}

/* Has the elder had any visit dated after t? */
static int visited_after(struct store_txn *txn, const char *elder, int64_t t)
{
	uint8_t key[REGISTRY_ID_MAX + 32];
	size_t pl = strlen(elder) + 1;
	memcpy(key, elder, pl);
	store_be64(key + pl, (uint64_t)t + 1);
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_ELDER_HIST, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	int found = 0;
	for (r = store_cursor_seek(cur, key, pl + 8, &k, &kl, &v, &vl); r == 0 && !found;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != pl + 24 || memcmp(k, elder, pl) != 0)
			break;
		/* Care events share the history; only a visit discharges a follow-up. */
		tf_record *rec;
		if (record_get(txn, (const uint8_t *)k + pl + 8, &rec) == 0) {
			found = rec->visit != NULL;
			wire_free(WIRE_RECORD, rec);
		}
	}
	store_cursor_close(cur);
	return r < 0 && r != -ENOENT ? r : found;
}

static int sweep_follow_ups(struct store_txn *txn, const struct ingest_config *cfg, int64_t now,
                            size_t *made)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_FOLLOW_UP, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl);
	     r == 0 && *made < cfg->alert_sweep_max;
	     r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl)) {
		if (kl < 26 || kl > 8 + REGISTRY_ID_MAX + 17 || vl > REGISTRY_ID_MAX) {
			r = store_cursor_del(cur);
			continue;
		}
		int64_t due = (int64_t)store_get_be64(k);
		if (due > now)
			break;
		char elder[REGISTRY_ID_MAX + 1], visitor[REGISTRY_ID_MAX + 1], hex[33];
		memcpy(elder, (const uint8_t *)k + 8, kl - 24);
		elder[kl - 24] = '\0';
		memcpy(visitor, v, vl);
		visitor[vl] = '\0';
		hex_encode((const uint8_t *)k + kl - 16, 16, hex);
		int64_t visited = due - cfg->follow_up_s;
		r = store_cursor_del(cur);
		if (r < 0)
			break;
		r = visited_after(txn, elder, visited);
		if (r != 0)
			continue; /* followed up, or an error ends the loop */
		tf_elder *e;
		r = registry_get_elder(txn, elder, &e);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		/* No alert concerns an elder who has left the register. */
		if (!timeline_present(e)) {
			wire_free(WIRE_ELDER, e);
			continue;
		}
		struct people p = {0};
		r = add_visitor(txn, &p, visitor);
		if (r == 0)
			r = add_area_people(txn, &p, e->area);
		char where[256], when[20], msg[800], cause[KEY_MAX];
		area_name(txn, e->area, where, sizeof where);
		period_format(visited, when, sizeof when);
		snprintf(msg, sizeof msg,
		         "跟进：%s（%s，%s）%s 的走访标记“需跟进”，%lld 天内没有后续走访。",
		         e->name, e->id, where, when, (long long)(cfg->follow_up_s / 86400));
		snprintf(cause, sizeof cause, "follow_up|%s", hex);
		if (r == 0)
			r = make_alert(txn, cause, "follow_up", e, "", msg, &p, now, made);
		people_free(&p);
		wire_free(WIRE_ELDER, e);
		if (r < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT || r > 0 ? 0 : r;
}

/* One duty from the due index: an overdue alert, and an escalation once it
 * has been overdue long enough. */
static int sweep_duty(struct store_txn *txn, const struct ingest_config *cfg, int64_t now,
                      int64_t due, const char *elder, const char *rule, const char *visitor,
                      size_t *made)
{
	bool not_set_up = strcmp(rule, SCHEDULE_NOT_SET_UP) == 0;
	bool escalate = !not_set_up && due <= now - cfg->escalate_after_s;
	char cause[4 * KEY_MAX], esc_cause[4 * KEY_MAX];
	snprintf(cause, sizeof cause, "%s|%s|%s|%s|%lld", not_set_up ? "not_set_up" : "overdue",
	         elder, rule, visitor, (long long)due);
	snprintf(esc_cause, sizeof esc_cause, "escalation|%s|%s|%s|%lld", elder, rule, visitor,
	         (long long)due);
	const void *v;
	size_t vl;
	int have = store_get(txn, DB_ALERT_KEYS, cause, strlen(cause), &v, &vl);
	if (have < 0 && have != -ENOENT)
		return have;
	int have_esc =
	    escalate ? store_get(txn, DB_ALERT_KEYS, esc_cause, strlen(esc_cause), &v, &vl) : 0;
	if (have_esc < 0 && have_esc != -ENOENT)
		return have_esc;
	if (have == 0 && have_esc == 0)
		return 0; /* the common case on every sweep: nothing new */

	tf_elder *e;
	int r = registry_get_elder(txn, elder, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char where[256], when[20], msg[800];
	area_name(txn, e->area, where, sizeof where);
	period_format(due, when, sizeof when);
	long long days = (long long)((now - due) / 86400);
	struct people p = {0};
	if (have == -ENOENT) {
		if (not_set_up) {
			r = add_area_people(txn, &p, e->area);
			snprintf(msg, sizeof msg,
			         "“1+2”未落实：%s（%s，%s）只有 %zu 户邻里结对，应为 2 户。",
			         e->name, e->id, where, e->n_neighbours);
		} else {
			if (*visitor)
				r = add_visitor(txn, &p, visitor);
			for (size_t i = 0; r == 0 && !*visitor && i < e->n_visitors; i++)
				r = add_visitor(txn, &p, e->visitors[i]);
			if (r == 0 && p.n == 0)
				r = add_area_people(txn, &p, e->area);
			snprintf(msg, sizeof msg,
			         "逾期：%s（%s，%s）%s%s%s 应于 %s 前完成，已逾期 %lld 天。",
			         e->name, e->id, where, rule, *visitor ? "，责任人 " : "", visitor,
			         when, days);
		}
		if (r == 0)
			r = make_alert(txn, cause, not_set_up ? "not_set_up" : "overdue", e, rule,
			               msg, &p, now, made);
		people_free(&p);
	}
	if (r == 0 && have_esc == -ENOENT) {
		char parent[32];
		r = parent_of(txn, e->area, parent, sizeof parent);
		if (r == 0)
			r = add_area_people(txn, &p, *parent ? parent : e->area);
		snprintf(msg, sizeof msg,
		         "升级：%s（%s，%s）%s%s%s 自 %s 起逾期已 %lld 天，仍未完成。", e->name,
		         e->id, where, rule, *visitor ? "，责任人 " : "", visitor, when, days);
		if (r == 0)
			r = make_alert(txn, esc_cause, "escalation", e, rule, msg, &p, now, made);
		people_free(&p);
	}
	wire_free(WIRE_ELDER, e);
	return r;
}

int alert_sweep(struct store_txn *txn, const struct ingest_config *cfg, int64_t now, size_t *made)
{
	size_t n = 0;
	int r = sweep_follow_ups(txn, cfg, now, &n);
	struct store_cursor *cur = NULL;
	if (r == 0)
		r = store_cursor_open(txn, DB_DUE, &cur);
	const void *k, *v;
	size_t kl, vl;
	if (r == 0)
		r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl);
	for (; r == 0 && n < cfg->alert_sweep_max; r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < 11 || kl > KEY_MAX)
			continue;
		int64_t due = (int64_t)store_get_be64(k);
		if (due > now)
			break;
		char buf[KEY_MAX];
		memcpy(buf, (const uint8_t *)k + 8, kl - 8);
		buf[kl - 8] = '\0';
		const char *elder = buf, *rule = buf + strlen(buf) + 1;
		if ((size_t)(rule - buf) >= kl - 8)
			continue;
		const char *visitor = rule + strlen(rule) + 1;
		if ((size_t)(visitor - buf) > kl - 8)
			continue;
		r = sweep_duty(txn, cfg, now, due, elder, rule, visitor, &n);
	}
	store_cursor_close(cur);
	if (made)
		*made = n;
	return r == -ENOENT ? 0 : r;
}

/* The contacts of a's recipients as the registry has them now: each
 * recipient is a visitor id or an area code (make_alert's people), looked
 * up in that order. An alert made while its village had no contact reaches
 * the contact set since, on its next lease (issue 8, item 7); a changed
 * phone number is used as soon as it is registered. */
static int current_contacts(struct store_txn *txn, const tf_alert *a, struct people *p)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < a->n_recipients; i++) {
		const char *id = a->recipients[i];
		tf_visitor *v;
		r = registry_get_visitor(txn, id, &v);
		if (r == 0) {
			r = add_str(p->contacts, &p->nc, v->contact);
			wire_free(WIRE_VISITOR, v);
			continue;
		}
		if (r != -ENOENT)
			break;
		tf_area *ar;
		r = registry_get_area(txn, id, &ar);
		if (r == 0) {
			r = add_str(p->contacts, &p->nc, ar->contact);
			wire_free(WIRE_AREA, ar);
		}
		r = r == -ENOENT ? 0 : r;
	}
	return r;
}

/* Packs a with its recipients' current contacts (current_contacts) into
 * *out (caller frees). */
static int pack_leased(struct store_txn *txn, const tf_alert *a, uint8_t **out, size_t *len)
{
	struct people p = {0};
	int r = current_contacts(txn, a, &p);
	if (r == 0) {
		tf_alert fresh = *a;
		fresh.contacts = p.contacts, fresh.n_contacts = p.nc;
		r = wire_pack(WIRE_ALERT, &fresh, out, len);
	}
	people_free(&p);
	return r;
}

int alert_lease(struct store_txn *txn, unsigned limit, unsigned lease_s, int64_t now,
                const uint8_t ref[32], uint8_t **out, size_t *out_len)
{
	if (!limit || limit > 1000)
		limit = limit ? 1000 : 100;
	if (!lease_s)
		lease_s = ALERT_LEASE_DEFAULT_S;
	/* The daemon refuses a longer lease (reqcheck.c); bounded here too, so
	 * no caller can hold alerts for 136 years (issue 8, item 6). */
	if (lease_s > REQCHECK_LEASE_MAX_S)
		lease_s = REQCHECK_LEASE_MAX_S;
	tf_alert **alerts = calloc(limit, sizeof *alerts);
	if (!alerts)
		return -ENOMEM;
	size_t n = 0;
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_PENDING, &cur);
	const void *k, *v;
	size_t kl, vl;
	if (r == 0)
		r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl);
	for (; r == 0 && n < limit; r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != 24 || vl != 8 || (int64_t)store_get_be64(v) > now)
			continue;
		uint8_t key[24], lease[8];
		memcpy(key, k, 24);
		const void *av;
		size_t al;
		r = store_get(txn, DB_ALERTS, key + 8, 16, &av, &al);
		if (r < 0)
			break;
		r = wire_unpack_stored(WIRE_ALERT, av, al, (void **)&alerts[n]);
		if (r < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		alerts[n]->attempts++;
		uint8_t *buf;
		size_t len;
		r = pack_leased(txn, alerts[n], &buf, &len);
		n++;
		if (r < 0)
			break;
		r = store_put(txn, DB_ALERTS, key + 8, 16, buf, len, 0);
		/* The reply carries the alert as stored, contacts refreshed. */
		tf_alert *fresh = NULL;
		if (r == 0)
			r = wire_unpack_stored(WIRE_ALERT, buf, len, (void **)&fresh);
		if (r == 0) {
			wire_free(WIRE_ALERT, alerts[n - 1]);
			alerts[n - 1] = fresh;
		}
		free(buf);
		store_be64(lease, (uint64_t)(now + lease_s));
		/* Overwriting the value under the cursor's key keeps the cursor valid. */
		if (r == 0)
			r = store_put(txn, DB_PENDING, key, 24, lease, 8, 0);
		if (r == 0)
			r = store_cursor_seek(cur, key, 24, &k, &kl, &v, &vl);
	}
	store_cursor_close(cur);
	if (r == -ENOENT)
		r = 0;
	if (r == 0) {
		Tanfang__V1__AlertList list = TANFANG__V1__ALERT_LIST__INIT;
		list.alerts = alerts, list.n_alerts = n;
		tf_reply rep;
		wire_init(WIRE_REPLY, &rep);
		rep.status = TANFANG__V1__STATUS__STATUS_OK;
		rep.ref.data = (uint8_t *)ref, rep.ref.len = 32;
		rep.result_case = TANFANG__V1__REPLY__RESULT_ALERTS;
		rep.alerts = &list;
		r = wire_pack(WIRE_REPLY, &rep, out, out_len);
	}
	for (size_t i = 0; i < n; i++)
		wire_free(WIRE_ALERT, alerts[i]);
	free(alerts);
	return r;
}

static int pending_key(struct store_txn *txn, const ProtobufCBinaryData *id, uint8_t key[24])
{
	if (id->len != 16)
		return -ENOENT;
	const void *av;
	size_t al;
	int r = store_get(txn, DB_ALERTS, id->data, 16, &av, &al);
	if (r < 0)
		return r;
	tf_alert *a;
	if (wire_unpack_stored(WIRE_ALERT, av, al, (void **)&a) < 0)
		return TF_E_CORRUPT;
	store_be64(key, (uint64_t)a->created_at);
	memcpy(key + 8, id->data, 16);
	wire_free(WIRE_ALERT, a);
	return 0;
}

int alert_ack(struct store_txn *txn, ProtobufCBinaryData *ids, size_t n_ids,
              ProtobufCBinaryData *failed, size_t n_failed, size_t *done)
{
	*done = 0;
	uint8_t key[24];
	for (size_t i = 0; i < n_ids; i++) {
		int r = pending_key(txn, &ids[i], key);
		if (r == 0)
			r = store_del(txn, DB_PENDING, key, 24);
		if (r == 0)
			(*done)++;
		else if (r != -ENOENT)
			return r;
	}
	for (size_t i = 0; i < n_failed; i++) {
		const void *v;
		size_t vl;
		int r = pending_key(txn, &failed[i], key);
		if (r == 0)
			r = store_get(txn, DB_PENDING, key, 24, &v, &vl);
		if (r == 0) {
			uint8_t zero[8] = {0};
			r = store_put(txn, DB_PENDING, key, 24, zero, 8, 0);
		}
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}
