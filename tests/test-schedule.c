/* Overdue and monthly reports against hand-computed expectations
 * (Asia/Shanghai; every instant below was checked with
 * `TZ=Asia/Shanghai date -d '<local time>' +%s`). */
#include <string.h>

#include "period.h"
#include "schedule.h"
#include "tf_inproc.h"
#include "tf_test.h"

#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

enum {
	T_REG = 1791604800,        /* 2026-10-10 12:00, a Saturday: elders registered */
	T_WEEK2 = 1791734400,      /* 2026-10-12 00:00, Monday: end of the first week */
	T_OCT17 = 1792209600,      /* 2026-10-17 12:00 */
	T_OCT20 = 1792468800,      /* 2026-10-20 12:00 */
	T_OCT31_2330 = 1793460600, /* 2026-10-31 23:30 local = 15:30 UTC: still October */
	T_NOV1 = 1793462400,       /* 2026-11-01 00:00 */
	T_NOV1_0030 = 1793464200,
	T_NOV3 = 1793678400,  /* 2026-11-03 12:00: "now" for the first checks */
	T_NOV24 = 1795492800, /* 2026-11-24 12:00 */
	T_DEC1 = 1796054400,  /* 2026-12-01 00:00 */
	T_JAN1 = 1798732800,  /* 2027-01-01 00:00 */
	DAY = 86400,
};

static struct inproc p;
static struct keypair g1, p1, p2, n1, n2, g3, s1, s2;
static unsigned seed = 100;

static void visit(const struct keypair *k, const char *elder, int kind, int64_t when)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, seed++, elder, kind, when);
	CHECK_EQ_INT(inproc_submit_visit(&p, k, &v), ST(OK));
}

static tf_reply *overdue(const struct keypair *k, const char *area, const char *rule,
                         const char *visitor, int64_t horizon)
{
	Tanfang__V1__OverdueQuery o = TANFANG__V1__OVERDUE_QUERY__INIT;
	o.area = (char *)area, o.rule = (char *)rule, o.visitor_id = (char *)visitor;
	o.horizon_s = horizon;
	o.limit = 100;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
	req.overdue = &o;
	return inproc_call(&p, k, &req);
}

static void expect_item(const tf_reply *r, size_t i, const char *elder, const char *rule,
                        const char *visitor, int64_t due)
{
	CHECK(r->overdue && i < r->overdue->n_items);
	if (!r->overdue || i >= r->overdue->n_items)
		return;
	const Tanfang__V1__OverdueItem *it = r->overdue->items[i];
	CHECK_STR(it->elder_id, elder);
	CHECK_STR(it->rule, rule);
	CHECK_STR(it->duty_visitor, visitor);
	CHECK_EQ_INT(it->due_at, due);
}

static tf_reply *report(const struct keypair *k, const char *area, const char *month)
{
	Tanfang__V1__ReportQuery q = TANFANG__V1__REPORT_QUERY__INIT;
	q.area = (char *)area, q.month = (char *)month;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REPORT;
	req.report = &q;
	return inproc_call(&p, k, &req);
}

static const Tanfang__V1__ReportRow *row(const tf_reply *r, const char *area)
{
	for (size_t i = 0; r->report && i < r->report->n_rows; i++)
		if (strcmp(r->report->rows[i]->area, area) == 0)
			return r->report->rows[i];
	CHECK(!"report row missing");
	return NULL;
}

#define EXPECT_ROW(rep, area, req, vis, preq, pdone, nreq, nset, ndone)                            \
	do {                                                                                       \
		const Tanfang__V1__ReportRow *r_ = row(rep, area);                                 \
		if (r_) {                                                                          \
			CHECK_EQ_INT(r_->required, req);                                           \
			CHECK_EQ_INT(r_->visited, vis);                                            \
			CHECK_EQ_INT(r_->party_required, preq);                                    \
			CHECK_EQ_INT(r_->party_done, pdone);                                       \
			CHECK_EQ_INT(r_->neighbour_required, nreq);                                \
			CHECK_EQ_INT(r_->neighbour_set_up, nset);                                  \
			CHECK_EQ_INT(r_->neighbour_done, ndone);                                   \
		}                                                                                  \
	} while (0)

static void setup(void)
{
	CHECK_OK(period_set_timezone("Asia/Shanghai"));
	clock_set_fixed(T_REG);
	inproc_open(&p, tft_tmpdir());
	CHECK_EQ_INT(inproc_area(&p, "152223", "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223100", "音德尔镇", "152223"), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223100201", "一村", "152223100"), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223100202", "二村", "152223100"), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223200", "新林镇", "152223"), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223200201", "三村", "152223200"), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员", ROLE(GRID_WORKER), "152223100", &g1),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "p1", "党员一", ROLE(PARTY_MEMBER), "152223100", &p1),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "p2", "党员二", ROLE(PARTY_MEMBER), "152223100", &p2),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "n1", "邻居一", ROLE(NEIGHBOUR), "152223100201", &n1),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "n2", "邻居二", ROLE(NEIGHBOUR), "152223100201", &n2),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g3", "网格员三", ROLE(GRID_WORKER), "152223200", &g3),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s1", "旗督导", ROLE(SUPERVISOR), "152223", &s1), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s2", "镇督导", ROLE(SUPERVISOR), "152223200", &s2),
	             ST(OK));
	const int alone[] = {CAT(LIVING_ALONE), 0};
	const int incap[] = {CAT(INCAPACITATED), 0};
	const int poor[] = {CAT(EXTREME_POVERTY), 0};
	const int high[] = {CAT(LIVING_ALONE), CAT(INCAPACITATED), 0};
	const char *e1v[] = {"g1", "p1", NULL}, *e1n[] = {"n1", "n2", NULL};
	const char *e2v[] = {"g1", NULL}, *e2n[] = {"n1", NULL};
	CHECK_EQ_INT(inproc_elder(&p, "e1", "张秀英", "152223100201", alone, e1v, e1n), ST(OK));
	CHECK_EQ_INT(inproc_elder(&p, "e2", "王淑兰", "152223100202", incap, e2v, e2n), ST(OK));
	CHECK_EQ_INT(inproc_elder(&p, "e3", "李桂兰", "152223200201", poor, NULL, NULL), ST(OK));
	CHECK_EQ_INT(inproc_elder(&p, "e4", "赵凤英", "152223100201", high, NULL, NULL), ST(OK));
}

static void test_overdue_per_duty(void)
{
	clock_set_fixed(T_NOV3);
	visit(&g1, "e1", KIND(DOOR), T_OCT31_2330);
	/* A party-member visit: counts for his own duty, not the monthly visit. */
	visit(&p1, "e1", KIND(PARTY_MEMBER), T_OCT20);
	visit(&n1, "e1", KIND(NEIGHBOUR_CHECK), T_OCT17);
	visit(&g3, "e3", KIND(PHONE), T_NOV1_0030);

	tf_reply *r = overdue(&s1, "", "", "", 0);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK_EQ_INT(r->overdue->total, 9);
	/* Sorted by how long overdue: earliest due first. */
	expect_item(r, 0, "e2", SCHEDULE_NOT_SET_UP, "", T_REG);
	expect_item(r, 1, "e3", SCHEDULE_NOT_SET_UP, "", T_REG);
	expect_item(r, 2, "e4", SCHEDULE_NOT_SET_UP, "", T_REG);
	expect_item(r, 3, "e4", "high_risk_weekly", "", T_WEEK2);
	/* Per household: n2 never checked, n1 checked on 17 October. */
	expect_item(r, 4, "e1", "neighbour_check", "n2", T_REG + 7 * DAY);
	expect_item(r, 5, "e2", "neighbour_check", "n1", T_REG + 7 * DAY);
	expect_item(r, 6, "e1", "neighbour_check", "n1", T_OCT17 + 7 * DAY);
	/* Whose duty, by name; an elder-wide duty has no holder. */
	CHECK_STREQ(r->overdue->items[4]->duty_name, "邻居二");
	CHECK_STREQ(r->overdue->items[3]->duty_name, "");
	/* Never visited in October: overdue since 1 November 00:00 local. */
	expect_item(r, 7, "e2", "monthly_visit", "", T_NOV1);
	expect_item(r, 8, "e4", "monthly_visit", "", T_NOV1);
	CHECK_EQ_INT(r->overdue->items[7]->overdue_s, T_NOV3 - T_NOV1);
	wire_free(WIRE_REPLY, r);

	/* e1's visit at 23:30 on 31 October counts for October: the monthly duty
	 * is due only at the end of November. Listed with a horizon. */
	r = overdue(&s1, "152223100201", "monthly_visit", "", 40 * DAY);
	CHECK_EQ_INT(r->overdue->total, 2);
	expect_item(r, 0, "e4", "monthly_visit", "", T_NOV1);
	expect_item(r, 1, "e1", "monthly_visit", "", T_DEC1);
	CHECK_EQ_INT(r->overdue->items[1]->last_visit_at, T_OCT31_2330);
	wire_free(WIRE_REPLY, r);

	/* The party member's duty is his own. */
	r = overdue(&s1, "", "party_member", "", 40 * DAY);
	CHECK_EQ_INT(r->overdue->total, 1);
	expect_item(r, 0, "e1", "party_member", "p1", T_DEC1);
	wire_free(WIRE_REPLY, r);

	/* Filter by visitor. */
	r = overdue(&s1, "", "", "n1", 0);
	CHECK_EQ_INT(r->overdue->total, 2);
	wire_free(WIRE_REPLY, r);

	/* Scope: the 新林镇 supervisor sees only 新林镇, and may not ask for
	 * another township. */
	r = overdue(&s2, "", "", "", 0);
	CHECK_EQ_INT(r->overdue->total, 1);
	expect_item(r, 0, "e3", SCHEDULE_NOT_SET_UP, "", T_REG);
	wire_free(WIRE_REPLY, r);
	r = overdue(&s2, "152223100", "", "", 0);
	CHECK_EQ_INT(r->status, ST(FORBIDDEN));
	wire_free(WIRE_REPLY, r);
	/* A grid worker cannot run supervisor queries. */
	r = overdue(&g1, "", "", "", 0);
	CHECK_EQ_INT(r->status, ST(FORBIDDEN));
	wire_free(WIRE_REPLY, r);
}

static void test_report_levels(void)
{
	tf_reply *r = report(&s1, "", "2026-10");
	CHECK_EQ_INT(r->status, ST(OK));
	/* October: e1 visited (23:30 on the 31st), e3's visit fell in November. */
	EXPECT_ROW(r, "152223", 4, 1, 1, 1, 4, 1, 0);
	EXPECT_ROW(r, "152223100", 3, 1, 1, 1, 3, 1, 0);
	EXPECT_ROW(r, "152223100201", 2, 1, 1, 1, 2, 1, 0);
	EXPECT_ROW(r, "152223100202", 1, 0, 0, 0, 1, 0, 0);
	EXPECT_ROW(r, "152223200", 1, 0, 0, 0, 1, 0, 0);
	EXPECT_ROW(r, "152223200201", 1, 0, 0, 0, 1, 0, 0);
	/* Tree order: banner, township, its villages, next township. */
	CHECK_STR(r->report->rows[0]->area, "152223");
	CHECK_STR(r->report->rows[1]->area, "152223100");
	CHECK_STR(r->report->rows[2]->area, "152223100201");
	CHECK_EQ_INT(r->report->rows[2]->depth, 2);
	wire_free(WIRE_REPLY, r);

	r = report(&s1, "", "2026-11");
	EXPECT_ROW(r, "152223", 4, 1, 1, 0, 4, 1, 0);
	EXPECT_ROW(r, "152223200", 1, 1, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);

	r = report(&s2, "", "2026-10");
	CHECK_EQ_INT(r->report->n_rows, 2);
	wire_free(WIRE_REPLY, r);
	r = report(&s1, "", "2026-13");
	CHECK_EQ_INT(r->status, ST(INVALID));
	wire_free(WIRE_REPLY, r);
}

/* Both households check e1 four times in November (30 days: floor(30/7) = 4
 * checks owed each): "1+2" is then complied with for e1. */
static void test_neighbour_compliance(void)
{
	clock_set_fixed(T_NOV24);
	for (int w = 0; w < 4; w++) {
		visit(&n1, "e1", KIND(NEIGHBOUR_CHECK), T_NOV3 + w * 7 * DAY - DAY);
		if (w < 3)
			visit(&n2, "e1", KIND(NEIGHBOUR_CHECK), T_NOV3 + w * 7 * DAY);
	}
	tf_reply *r = report(&s1, "152223100201", "2026-11");
	EXPECT_ROW(r, "152223100201", 2, 0, 1, 0, 2, 1, 0); /* n2 made only 3 */
	wire_free(WIRE_REPLY, r);
	visit(&n2, "e1", KIND(NEIGHBOUR_CHECK), T_NOV3 + 21 * DAY - 3600);
	r = report(&s1, "152223100201", "2026-11");
	EXPECT_ROW(r, "152223100201", 2, 0, 1, 0, 2, 1, 1);
	wire_free(WIRE_REPLY, r);
	/* A neighbour's door visit does not count as the monthly visit: the
	 * default rule counts door and phone visits by anyone, and a neighbour
	 * check is neither. */
	r = overdue(&s1, "", "monthly_visit", "", 0);
	CHECK_EQ_INT(r->overdue->total, 2);
	wire_free(WIRE_REPLY, r);
}

static void test_assignment_and_death(void)
{
	/* A second party member assigned to e1 on 24 November owes a visit by
	 * the end of November; p1's visit does not count for p2. */
	Tanfang__V1__SetVisitors sv = TANFANG__V1__SET_VISITORS__INIT;
	char *ids[] = {"g1", "p1", "p2"};
	sv.elder_id = "e1", sv.visitors = ids, sv.n_visitors = 3;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_SET_VISITORS;
	req.set_visitors = &sv;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
	visit(&p1, "e1", KIND(DOOR), T_NOV24 - 3600);
	tf_reply *r = overdue(&s1, "", "party_member", "", 10 * DAY);
	CHECK_EQ_INT(r->overdue->total, 1);
	expect_item(r, 0, "e1", "party_member", "p2", T_DEC1);
	wire_free(WIRE_REPLY, r);
	r = overdue(&s1, "", "party_member", "", 40 * DAY);
	CHECK_EQ_INT(r->overdue->total, 2);
	expect_item(r, 1, "e1", "party_member", "p1", T_JAN1);
	wire_free(WIRE_REPLY, r);

	/* e4 is visited, then dies: it leaves the schedule, its history stays. */
	visit(&g1, "e4", KIND(DOOR), T_NOV24 - 7200);
	Tanfang__V1__CareEvent ev = TANFANG__V1__CARE_EVENT__INIT;
	uint8_t id[16] = {0xde, 0xad};
	ev.id.data = id, ev.id.len = 16;
	ev.elder_id = "e4";
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DECEASED;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_INFO;
	ev.occurred_at = T_NOV24 - 600;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT;
	req.care_event = &ev;
	CHECK_EQ_INT(inproc_status(&p, &g1, &req), ST(OK));
	/* Re-registering e4 from the office's spreadsheet (no status given)
	 * keeps it deceased. */
	const int e4cats[] = {CAT(LIVING_ALONE), CAT(INCAPACITATED), 0};
	CHECK_EQ_INT(inproc_elder(&p, "e4", "赵凤英", "152223100201", e4cats, NULL, NULL), ST(OK));
	r = overdue(&s1, "", "", "", 300 * DAY);
	CHECK_EQ_INT(r->status, ST(OK));
	for (size_t i = 0; i < r->overdue->n_items; i++)
		CHECK(strcmp(r->overdue->items[i]->elder_id, "e4") != 0);
	wire_free(WIRE_REPLY, r);

	Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	hq.elder_id = "e4";
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ELDER_HISTORY;
	req.elder_history = &hq;
	r = inproc_call(&p, &s1, &req);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK_EQ_INT(r->history->n_items, 2); /* newest first: the death, the visit */
	CHECK(r->history->items[0]->care_event != NULL);
	CHECK(r->history->items[1]->visit != NULL);
	CHECK_EQ_INT(r->history->elder->status, TANFANG__V1__ELDER_STATUS__ELDER_STATUS_DECEASED);
	wire_free(WIRE_REPLY, r);

	/* Died in November after a visit: still required (and visited) in
	 * November; not in the "1+2" column, where no household checked on
	 * her that month (docs/supervisor.md: who is required). Gone from
	 * December. */
	r = report(&s1, "", "2026-11");
	EXPECT_ROW(r, "152223", 4, 3, 2, 1, 3, 1, 1);
	wire_free(WIRE_REPLY, r);
	/* December's report once December has begun (a month to come has
	 * none: refused, below). */
	r = report(&s1, "", "2026-12");
	CHECK_EQ_INT(r->status, TANFANG__V1__STATUS__STATUS_INVALID);
	wire_free(WIRE_REPLY, r);
	int64_t was = clock_now();
	clock_set_fixed(T_DEC1 + 3600);
	r = report(&s1, "", "2026-12");
	EXPECT_ROW(r, "152223", 3, 0, 2, 0, 3, 1, 0);
	wire_free(WIRE_REPLY, r);
	clock_set_fixed(was);
}

static void test_policy_reload(void)
{
	char path[600];
	snprintf(path, sizeof path, "%s/only-monthly.conf", tft_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("[policy]\ntimezone = Asia/Shanghai\n\n[rule.monthly_visit]\nelders = special\n"
	      "kinds = door, phone\nduty = elder\nperiod = month\nreport = visit\n",
	      f);
	fclose(f);
	struct policy *pol;
	char err[256];
	CHECK_OK(policy_load(path, &pol, err, sizeof err));
	CHECK_OK(ingest_set_policy(p.ig, pol));
	tf_reply *r = overdue(&s1, "", "", "", 0);
	/* Only the monthly duties remain: e2 (never visited). e1 was visited on
	 * 31 October and 24 November, e3 on 1 November; e4 died. */
	CHECK_EQ_INT(r->overdue->total, 1);
	expect_item(r, 0, "e2", "monthly_visit", "", T_NOV1);
	wire_free(WIRE_REPLY, r);
	/* Back to the defaults: per-household duties return with their history
	 * (e1's n1 last checked on 23 November, due a week later). A duty's start
	 * comes from the registry's timeline, not from when the policy was
	 * loaded: n1 has been e2's household since T_REG and never checked, so
	 * that duty is overdue from T_REG + 7 days, as the report says too. */
	CHECK_OK(policy_default(&pol));
	CHECK_OK(ingest_set_policy(p.ig, pol));
	r = overdue(&s1, "", "neighbour_check", "n1", 0);
	CHECK_EQ_INT(r->overdue->total, 1);
	expect_item(r, 0, "e2", "neighbour_check", "n1", T_REG + 7 * DAY);
	wire_free(WIRE_REPLY, r);
	r = overdue(&s1, "", "neighbour_check", "n1", 10 * DAY);
	CHECK_EQ_INT(r->overdue->total, 2);
	expect_item(r, 0, "e2", "neighbour_check", "n1", T_REG + 7 * DAY);
	expect_item(r, 1, "e1", "neighbour_check", "n1", T_NOV3 + 20 * DAY + 7 * DAY);
	CHECK_EQ_INT(r->overdue->items[1]->last_visit_at, T_NOV3 + 20 * DAY);
	wire_free(WIRE_REPLY, r);
}

/* An office moving its existing list in gives the date each elder entered
 * the register; past months' reports count the elder from then. */
static void test_registered_at(void)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	Tanfang__V1__Category cats[] = {CAT(EMPTY_NEST)};
	e.id = "e5", e.name = "孙玉兰", e.area = "152223200201";
	e.categories = cats, e.n_categories = 1;
	e.registered_at = 1788192000; /* 2026-09-01 00:00 */
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
	tf_reply *r = report(&s1, "152223200201", "2026-09");
	EXPECT_ROW(r, "152223200201", 1, 0, 0, 0, 1, 0, 0); /* e5 only: e3 came in October */
	wire_free(WIRE_REPLY, r);
	e.registered_at = clock_now() + 86400;
	req.sent_at_ms = 0;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(INVALID));
}

static const Tanfang__V1__ActivityRow *activity_row(const tf_reply *r, const char *id)
{
	for (size_t i = 0; r->activity && i < r->activity->n_rows; i++)
		if (strcmp(r->activity->rows[i]->visitor_id, id) == 0)
			return r->activity->rows[i];
	return NULL;
}

static tf_reply *activity(const struct keypair *k, const char *period, const char *visitor)
{
	Tanfang__V1__ActivityQuery aq = TANFANG__V1__ACTIVITY_QUERY__INIT;
	aq.period = (char *)period, aq.visitor_id = (char *)visitor;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ACTIVITY;
	req.activity = &aq;
	return inproc_call(&p, k, &req);
}

/* Counted by hand from the visits above: g1 visited e1 on 31 October (door)
 * and e4 on 24 November (door); n1 checked e1 on 17 October and on 2, 9,
 * 16 and 23 November. */
static void test_activity(void)
{
	tf_reply *r = activity(&s1, "2026-11", "");
	CHECK_EQ_INT(r->status, ST(OK));
	const Tanfang__V1__ActivityRow *g = activity_row(r, "g1"), *n = activity_row(r, "n1");
	CHECK(g && n);
	CHECK_EQ_INT(g->visits, 1);
	CHECK_EQ_INT(g->door, 1);
	CHECK_EQ_INT(g->elders, 1);
	CHECK_EQ_INT(n->neighbour_checks, 4);
	CHECK_EQ_INT(n->elders, 1);
	CHECK(activity_row(r, "admin") == NULL);
	wire_free(WIRE_REPLY, r);
	r = activity(&s1, "2026-Q4", "g1");
	CHECK_EQ_INT(r->activity->n_rows, 1);
	CHECK_EQ_INT(r->activity->rows[0]->visits, 2);
	CHECK_EQ_INT(r->activity->rows[0]->elders, 2);
	wire_free(WIRE_REPLY, r);
	/* The 新林镇 supervisor sees 新林镇's visitors only. */
	r = activity(&s2, "2026-Q4", "");
	CHECK(activity_row(r, "g3") != NULL);
	CHECK(activity_row(r, "g1") == NULL);
	wire_free(WIRE_REPLY, r);
}

/* Duties of 三村's elders (e3, e5) in area's overdue list. */
static size_t village3_duties(const struct keypair *k, const char *area)
{
	tf_reply *r = overdue(k, area, "", "", 300 * DAY);
	size_t n = 0;
	for (size_t i = 0; i < r->overdue->n_items; i++)
		n += strcmp(r->overdue->items[i]->elder_id, "e3") == 0 ||
		     strcmp(r->overdue->items[i]->elder_id, "e5") == 0;
	wire_free(WIRE_REPLY, r);
	return n;
}

/* 三村 moves from 新林镇 to 音德尔镇: its elder's duties leave the 新林镇
 * supervisor's list and join the 音德尔镇 one. */
static void test_area_move(void)
{
	tf_reply *r = overdue(&s2, "", "", "", 300 * DAY);
	size_t before = r->overdue->total;
	CHECK(before > 0);
	wire_free(WIRE_REPLY, r);
	CHECK_EQ_INT(village3_duties(&s1, "152223100"), 0);
	CHECK_EQ_INT(inproc_area(&p, "152223200201", "三村", "152223100"), ST(OK));
	r = overdue(&s2, "", "", "", 300 * DAY);
	CHECK_EQ_INT(r->overdue->total, 0);
	wire_free(WIRE_REPLY, r);
	CHECK_EQ_INT(village3_duties(&s1, "152223100"), before);
}

int main(void)
{
	setup();
	test_overdue_per_duty();
	test_report_levels();
	test_neighbour_compliance();
	test_assignment_and_death();
	test_policy_reload();
	test_registered_at();
	test_activity();
	test_area_move();
	inproc_close(&p);
	return tft_done();
}
