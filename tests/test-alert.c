/* Alerts in process: one per cause, leases keep concurrent dispatchers
 * apart, acks retire, failures come back, deaths stop overdue alerts. */
#include <string.h>

#include "period.h"
#include "tf_inproc.h"
#include "tf_test.h"

#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x

enum {
	T_REG = 1791604800,  /* 2026-10-10 12:00 Asia/Shanghai */
	T_NOV3 = 1793678400, /* 2026-11-03 12:00 */
	DAY = 86400,
};

static struct inproc p;
static struct keypair grid, disp;

static tf_reply *fetch(unsigned limit)
{
	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	ap.limit = limit;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ALERTS_PENDING;
	req.alerts_pending = &ap;
	tf_reply *r = inproc_call(&p, &disp, &req);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK(r->alerts != NULL);
	return r;
}

static void ack(tf_reply *r, bool failed)
{
	Tanfang__V1__AlertsAck a = TANFANG__V1__ALERTS_ACK__INIT;
	ProtobufCBinaryData ids[64];
	size_t n = r->alerts->n_alerts < 64 ? r->alerts->n_alerts : 64;
	for (size_t i = 0; i < n; i++)
		ids[i] = r->alerts->alerts[i]->id;
	if (failed)
		a.failed = ids, a.n_failed = n;
	else
		a.ids = ids, a.n_ids = n;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ALERTS_ACK;
	req.alerts_ack = &a;
	CHECK_EQ_INT(inproc_status(&p, &disp, &req), ST(OK));
}

static size_t count_kind(const tf_reply *r, const char *kind, const char *elder)
{
	size_t n = 0;
	for (size_t i = 0; i < r->alerts->n_alerts; i++)
		if (strcmp(r->alerts->alerts[i]->kind, kind) == 0 &&
		    (!elder || strcmp(r->alerts->alerts[i]->elder_id, elder) == 0))
			n++;
	return n;
}

static void event(const char *elder, int type, int sev, uint8_t tag)
{
	Tanfang__V1__CareEvent ev = TANFANG__V1__CARE_EVENT__INIT;
	uint8_t id[16] = {tag, 0xee};
	ev.id.data = id, ev.id.len = 16;
	ev.elder_id = (char *)elder;
	ev.type = type;
	ev.severity = sev;
	ev.occurred_at = clock_now() - 60;
	ev.note = "在院中摔倒";
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT;
	req.care_event = &ev;
	CHECK_EQ_INT(inproc_status(&p, &grid, &req), ST(OK));
}

int main(void)
{
	CHECK_OK(period_set_timezone("Asia/Shanghai"));
	clock_set_fixed(T_REG);
	inproc_open(&p, tft_tmpdir());
	CHECK_EQ_INT(inproc_area(&p, "152223", "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223100", "音德尔镇", "152223"), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员", ROLE(GRID_WORKER), "152223100", &grid),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "d1", "派发", ROLE(DISPATCHER), "152223", &disp), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s1", "镇督导", ROLE(SUPERVISOR), "152223100", NULL),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s0", "旗督导", ROLE(SUPERVISOR), "152223", NULL), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "n1", "邻居一", ROLE(NEIGHBOUR), "152223100", NULL),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "n2", "邻居二", ROLE(NEIGHBOUR), "152223100", NULL),
	             ST(OK));
	const int alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0};
	const char *v[] = {"g1", NULL}, *nb[] = {"n1", "n2", NULL};
	CHECK_EQ_INT(inproc_elder(&p, "e1", "张秀英", "152223100", alone, v, nb), ST(OK));
	CHECK_EQ_INT(inproc_elder(&p, "e2", "王淑兰", "152223100", alone, v, NULL), ST(OK));

	/* At registration: only e2's "1+2 not set up" is due. */
	tf_reply *r = fetch(100);
	CHECK_EQ_INT(r->alerts->n_alerts, 1);
	CHECK_EQ_INT(count_kind(r, "not_set_up", "e2"), 1);
	/* The township supervisor is named, and the alert was counted as an attempt. */
	CHECK_STREQ(r->alerts->alerts[0]->recipients[1], "s1");
	CHECK_EQ_INT(r->alerts->alerts[0]->attempts, 1);
	/* Leased: a second dispatcher at the same moment gets nothing. */
	tf_reply *r2 = fetch(100);
	CHECK_EQ_INT(r2->alerts->n_alerts, 0);
	wire_free(WIRE_REPLY, r2);
	/* A failed delivery is released and comes back on the next run. */
	ack(r, true);
	wire_free(WIRE_REPLY, r);
	r = fetch(100);
	CHECK_EQ_INT(r->alerts->n_alerts, 1);
	CHECK_EQ_INT(r->alerts->alerts[0]->attempts, 2);
	ack(r, false);
	wire_free(WIRE_REPLY, r);
	r = fetch(100);
	CHECK_EQ_INT(r->alerts->n_alerts, 0);
	wire_free(WIRE_REPLY, r);

	/* An urgent event becomes an alert at once, to the assigned visitor and
	 * the supervisors of the area and the one above. */
	event("e1", TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL,
	      TANFANG__V1__SEVERITY__SEVERITY_WARNING, 1);
	event("e1", TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_SERVICE_DELIVERED,
	      TANFANG__V1__SEVERITY__SEVERITY_INFO, 2);
	r = fetch(100);
	CHECK_EQ_INT(r->alerts->n_alerts, 1);
	CHECK_EQ_INT(count_kind(r, "urgent_event", "e1"), 1);
	CHECK(strstr(r->alerts->alerts[0]->message, "跌倒") != NULL);
	CHECK_EQ_INT(r->alerts->alerts[0]->n_recipients, 5); /* g1, 152223100, s1, 152223, s0 */
	ack(r, false);
	wire_free(WIRE_REPLY, r);

	/* A follow-up flagged visit; nobody comes back within 7 days. */
	tf_visit vis;
	uint8_t id[16];
	inproc_visit(&vis, id, 7, "e1", KIND(DOOR), T_REG + 3600);
	vis.follow_up = 1;
	clock_set_fixed(T_REG + 7200);
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &vis), ST(OK));

	/* 3 November: overdue on neighbour checks (since 17 October) and on
	 * e2's monthly visit (since 1 November); the follow-up is owed. The
	 * neighbour checks are overdue more than 7 days: escalated too. */
	clock_set_fixed(T_NOV3);
	r = fetch(100);
	CHECK_EQ_INT(count_kind(r, "follow_up", "e1"), 1);
	CHECK_EQ_INT(count_kind(r, "overdue", "e1"), 2); /* n1 and n2 */
	CHECK_EQ_INT(count_kind(r, "escalation", "e1"), 2);
	CHECK_EQ_INT(count_kind(r, "overdue", "e2"), 1);    /* monthly_visit */
	CHECK_EQ_INT(count_kind(r, "escalation", "e2"), 0); /* only 2 days */
	size_t first = r->alerts->n_alerts;
	ack(r, false);
	wire_free(WIRE_REPLY, r);
	/* Nothing is made twice for the same cause. */
	r = fetch(100);
	CHECK_EQ_INT(r->alerts->n_alerts, 0);
	wire_free(WIRE_REPLY, r);
	CHECK(first == 6);

	/* e2 dies; a week later it is still unvisited but produces nothing. */
	event("e2", TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DECEASED,
	      TANFANG__V1__SEVERITY__SEVERITY_INFO, 3);
	clock_set_fixed(T_NOV3 + 10 * DAY);
	r = fetch(100);
	CHECK_EQ_INT(count_kind(r, "overdue", "e2"), 0);
	CHECK_EQ_INT(count_kind(r, "escalation", "e2"), 0);
	CHECK_EQ_INT(count_kind(r, "escalation", "e1"), 0); /* already escalated this period */
	wire_free(WIRE_REPLY, r);

	/* Only a dispatcher (or admin) key may fetch alerts. */
	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ALERTS_PENDING;
	req.alerts_pending = &ap;
	CHECK_EQ_INT(inproc_status(&p, &grid, &req), ST(FORBIDDEN));
	inproc_close(&p);
	return tft_done();
}
