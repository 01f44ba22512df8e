#include "reqcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "registry.h"

#define OP(x) TANFANG__V1__REQUEST__OP_##x

struct chk {
	char *why;
	size_t whylen;
};

static int TF_PRINTF(2, 3) refuse(struct chk *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, c->whylen, fmt, ap);
	va_end(ap);
	return TF_E_MALFORMED;
}

/* A time that must be given: within the range, before any arithmetic. */
static int need_time(struct chk *c, const char *field, int64_t t)
{
	if (t == 0)
		return refuse(c, "%s missing", field);
	if (!clock_time_ok(t))
		return refuse(c, "%s %lld is outside 2000-01-01 to 2100-01-01 (unix seconds)",
		              field, (long long)t);
	return 0;
}

/* A time where 0 means "not given". */
static int opt_time(struct chk *c, const char *field, int64_t t)
{
	return t == 0 ? 0 : need_time(c, field, t);
}

static int bound(struct chk *c, const char *field, size_t v, size_t max)
{
	if (v > max)
		return refuse(c, "%s is %zu, above the limit of %zu", field, v, max);
	return 0;
}

/* "YYYY-MM" or "YYYY-Qn": its year in the range of times. The query parses
 * the rest; an empty string asks for the default. */
static int period_year(struct chk *c, const char *field, const char *s)
{
	if (!*s)
		return 0;
	int y = 0;
	for (int i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			return refuse(c, "%s '%.20s' does not start with a year (YYYY-MM)", field,
			              s);
		y = y * 10 + (s[i] - '0');
	}
	if (y < 2000 || y > 2099)
		return refuse(c, "%s year %d is outside 2000 to 2099", field, y);
	return 0;
}

static int note(struct chk *c, const char *field, const char *s)
{
	if (strlen(s) > REQCHECK_NOTE_MAX)
		return refuse(c, "%s longer than %d bytes", field, REQCHECK_NOTE_MAX);
	return 0;
}

static int assessment(struct chk *c, const char *field, const Tanfang__V1__Assessment *a)
{
	char f[64];
	snprintf(f, sizeof f, "visit.%s.note", field);
	return a ? note(c, f, a->note) : 0;
}

static int check_visit(struct chk *c, const tf_visit *v)
{
	if (v->id.len != 16)
		return refuse(c, "visit.id must be 16 bytes, got %zu", v->id.len);
	if (!registry_id_valid(v->elder_id))
		return refuse(c, "visit.elder_id missing or invalid");
	if (v->kind == TANFANG__V1__VISIT_KIND__VISIT_KIND_UNSPECIFIED)
		return refuse(c, "visit.kind missing");
	int r = need_time(c, "visit.visited_at", v->visited_at);
	if (r < 0)
		return r;
	/* 100 km of uncertainty is no location at all; the bound keeps the
	 * distance arithmetic of the far-from-home flag on finite numbers. */
	if (v->has_location &&
	    (!isfinite(v->lat) || !isfinite(v->lon) || fabs(v->lat) > 90 || fabs(v->lon) > 180 ||
	     !isfinite(v->accuracy_m) || v->accuracy_m < 0 || v->accuracy_m > 100000))
		return refuse(c, "visit location out of range (lat -90..90, lon -180..180, "
		                 "accuracy_m 0..100000)");
	if (v->duration_min > 24 * 60)
		return refuse(c, "visit.duration_min %u is above 24 hours", v->duration_min);
	if (v->n_needs > 6)
		return refuse(c, "visit.needs lists %zu aids, there are six", v->n_needs);
	if ((r = note(c, "visit.note", v->note)) < 0 ||
	    (r = assessment(c, "basic_living", v->basic_living)) < 0 ||
	    (r = assessment(c, "safety_risk", v->safety_risk)) < 0 ||
	    (r = assessment(c, "family_support", v->family_support)) < 0 ||
	    (r = assessment(c, "care_protection", v->care_protection)) < 0)
		return r;
	return 0;
}

static int check_event(struct chk *c, const tf_care_event *e)
{
	if (e->id.len != 16)
		return refuse(c, "care_event.id must be 16 bytes, got %zu", e->id.len);
	if (!registry_id_valid(e->elder_id))
		return refuse(c, "care_event.elder_id missing or invalid");
	if (e->type == TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_UNSPECIFIED)
		return refuse(c, "care_event.type missing");
	if (e->severity == TANFANG__V1__SEVERITY__SEVERITY_UNSPECIFIED)
		return refuse(c, "care_event.severity missing");
	int r = need_time(c, "care_event.occurred_at", e->occurred_at);
	return r < 0 ? r : note(c, "care_event.note", e->note);
}

/* The registry checks the rest of an elder (registry_put_elder); here the
 * times, before the timeline computes with them. */
static int check_elder(struct chk *c, const char *field, const tf_elder *e)
{
	if (!e)
		return refuse(c, "%s is empty", field);
	char f[80];
	snprintf(f, sizeof f, "%s.registered_at", field);
	int r = opt_time(c, f, e->registered_at);
	if (r == 0) {
		snprintf(f, sizeof f, "%s.status_since", field);
		r = opt_time(c, f, e->status_since);
	}
	return r;
}

static int check_ack(struct chk *c, const char *field, const ProtobufCBinaryData *ids, size_t n)
{
	int r = bound(c, field, n, REQCHECK_ACK_MAX);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (ids[i].len != 16)
			r = refuse(c, "%s[%zu] must be 16 bytes, got %zu", field, i, ids[i].len);
	return r;
}

static int check_op(struct chk *c, const tf_request *q)
{
	int r;
	switch (q->op_case) {
	case OP(VISIT): return check_visit(c, q->visit);
	case OP(CARE_EVENT): return check_event(c, q->care_event);
	case OP(PUT_AREA): return q->put_area->area ? 0 : refuse(c, "put_area without area");
	case OP(PUT_ELDER): return check_elder(c, "put_elder.elder", q->put_elder->elder);
	case OP(PUT_VISITOR):
		return q->put_visitor->visitor ? 0 : refuse(c, "put_visitor without visitor");
	case OP(ENROL_KEY):
		return q->enrol_key->public_key.len == 32
		           ? 0
		           : refuse(c, "enrol_key.public_key must be 32 bytes");
	case OP(REVOKE_KEY):
		return q->revoke_key->public_key.len == 32
		           ? 0
		           : refuse(c, "revoke_key.public_key must be 32 bytes");
	case OP(IMPORT_ELDERS): {
		const Tanfang__V1__ImportElders *im = q->import_elders;
		r = bound(c, "import_elders.elders count", im->n_elders, REQCHECK_IMPORT_MAX);
		for (size_t i = 0; r == 0 && i < im->n_elders; i++) {
			char f[48];
			snprintf(f, sizeof f, "import_elders.elders[%zu]", i);
			r = check_elder(c, f, im->elders[i]);
		}
		return r;
	}
	case OP(IMPORT_VISITORS): {
		const Tanfang__V1__ImportVisitors *iv = q->import_visitors;
		r = bound(c, "import_visitors.visitors count", iv->n_visitors, REQCHECK_IMPORT_MAX);
		if (r == 0)
			r = bound(c, "import_visitors.assignments count", iv->n_assignments,
			          REQCHECK_IMPORT_MAX);
		for (size_t i = 0; r == 0 && i < iv->n_visitors; i++)
			if (!iv->visitors[i])
				r = refuse(c, "import_visitors.visitors[%zu] is empty", i);
		for (size_t i = 0; r == 0 && i < iv->n_assignments; i++)
			r = bound(c, "import_visitors.assignments[].elder_ids count",
			          iv->assignments[i]->n_elder_ids, REQCHECK_IMPORT_MAX);
		return r;
	}
	case OP(CORRECT_EVENT):
		if (q->correct_event->event_id.len != 16)
			return refuse(c, "correct_event.event_id must be 16 bytes");
		return note(c, "correct_event.note", q->correct_event->note);
	case OP(FILE_REPORT): return period_year(c, "file_report.month", q->file_report->month);
	case OP(EDIT_ELDER):
		r = check_elder(c, "edit_elder.elder", q->edit_elder->elder);
		if (r == 0 && !registry_id_valid(q->edit_elder->elder->id))
			r = refuse(c, "edit_elder.elder.id missing or invalid");
		return r < 0 ? r : bound(c, "edit_elder.fields", q->edit_elder->n_fields, 10);
	case OP(REMOVE_ELDER):
		if (!registry_id_valid(q->remove_elder->elder_id))
			return refuse(c, "remove_elder.elder_id missing or invalid");
		if (q->remove_elder->reason ==
		    TANFANG__V1__REMOVE_ELDER__REASON__REASON_UNSPECIFIED)
			return refuse(c, "remove_elder.reason missing");
		return note(c, "remove_elder.note", q->remove_elder->note);
	case OP(UNDO_IMPORT):
		if (q->undo_import->import_ref.len != 32)
			return refuse(c, "undo_import.import_ref must be 32 bytes, got %zu",
			              q->undo_import->import_ref.len);
		return note(c, "undo_import.note", q->undo_import->note);
	case OP(SET_NEIGHBOURS):
	case OP(SET_VISITORS): return 0; /* the registry bounds the lists: 2 and 16 */
	case OP(GET_REGISTRY):
		return bound(c, "get_registry.limit", q->get_registry->limit,
		             REQCHECK_REGISTRY_LIMIT_MAX);
	case OP(OVERDUE):
		/* horizon_s: the query refuses it outside 0 to 366 days. */
		r = bound(c, "overdue.limit", q->overdue->limit, REQCHECK_OVERDUE_LIMIT_MAX);
		return r < 0 ? r
		             : bound(c, "overdue.offset", q->overdue->offset, REQCHECK_OFFSET_MAX);
	case OP(REPORT): return period_year(c, "report.month", q->report->month);
	case OP(ELDER_HISTORY):
		return bound(c, "elder_history.limit", q->elder_history->limit,
		             REQCHECK_HISTORY_LIMIT_MAX);
	case OP(ACTIVITY): return period_year(c, "activity.period", q->activity->period);
	case OP(FIELD_ELDERS):
		return bound(c, "field_elders.limit", q->field_elders->limit,
		             REQCHECK_REGISTRY_LIMIT_MAX);
	case OP(ALERTS_PENDING):
		/* An unbounded lease would hold alerts for 136 years (issue 8). */
		r = bound(c, "alerts_pending.limit", q->alerts_pending->limit,
		          REQCHECK_ALERTS_LIMIT_MAX);
		return r < 0 ? r
		             : bound(c, "alerts_pending.lease_s", q->alerts_pending->lease_s,
		                     REQCHECK_LEASE_MAX_S);
	case OP(ALERTS_ACK):
		r = check_ack(c, "alerts_ack.ids", q->alerts_ack->ids, q->alerts_ack->n_ids);
		return r < 0 ? r
		             : check_ack(c, "alerts_ack.failed", q->alerts_ack->failed,
		                         q->alerts_ack->n_failed);
	default: return refuse(c, "request holds no operation");
	}
}

int reqcheck_request(const tf_request *r, char *why, size_t whylen)
{
	struct chk c = {why, whylen};
	if (whylen)
		why[0] = '\0';
	/* sent_at_ms: milliseconds, so the range times 1000. */
	if (r->sent_at_ms < CLOCK_TIME_MIN * 1000 || r->sent_at_ms >= CLOCK_TIME_MAX * 1000)
		return refuse(&c,
		              "sent_at_ms %lld is outside 2000-01-01 to 2100-01-01 (unix "
		              "milliseconds)",
		              (long long)r->sent_at_ms);
	if (r->effective_at < 0)
		return refuse(&c, "effective_at must not be negative");
	int e = bound(&c, "nonce (bytes)", r->nonce.len, 32);
	if (e < 0)
		return e;
	e = opt_time(&c, "effective_at", r->effective_at);
	return e < 0 ? e : check_op(&c, r);
}
