/* Time of effect (issue 7): registry facts, care events and visits take
 * effect at their own times, whatever order they arrive in; past months stay
 * true; the overdue list and the report agree; filed reports stay as filed.
 *
 * Each test runs on a store of its own (same areas and visitors, see
 * open_store), so its report figures hold only its own elders. All instants
 * are Asia/Shanghai local times, each checked with
 * `TZ=Asia/Shanghai date -d '<local time>' +%s`. */
#include <stdio.h>
#include <string.h>

#include "auditlog.h"
#include "period.h"
#include "schedule.h"
#include "tf_inproc.h"
#include "tf_test.h"

#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x
#define EV(x)   TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_##x
#define ES(x)   TANFANG__V1__ELDER_STATUS__ELDER_STATUS_##x

enum {
	T_MAY1 = 1777564800,         /* 2026-05-01 00:00 */
	T_SEP1 = 1788192000,         /* 2026-09-01 00:00 */
	T_SEP1_10 = 1788228000,      /* 2026-09-01 10:00: areas and visitors registered */
	T_OCT1_10 = 1790820000,      /* 2026-10-01 10:00: most elders registered */
	T_OCT10_10 = 1791597600,     /* 2026-10-10 10:00 */
	T_OCT15_10 = 1792029600,     /* 2026-10-15 10:00 */
	T_OCT20_10 = 1792461600,     /* 2026-10-20 10:00 */
	T_OCT25_10 = 1792893600,     /* 2026-10-25 10:00 */
	T_OCT28_10 = 1793152800,     /* 2026-10-28 10:00 */
	T_NOV1 = 1793462400,         /* 2026-11-01 00:00 */
	T_NOV1_10 = 1793498400,      /* 2026-11-01 10:00 */
	T_NOV1_12 = 1793505600,      /* 2026-11-01 12:00 */
	T_NOV2_10 = 1793584800,      /* 2026-11-02 10:00 */
	T_NOV2_12 = 1793592000,      /* 2026-11-02 12:00 */
	T_NOV3_12 = 1793678400,      /* 2026-11-03 12:00 */
	T_NOV4_10 = 1793757600,      /* 2026-11-04 10:00 */
	T_NOV5_10 = 1793844000,      /* 2026-11-05 10:00 */
	T_NOV5_14 = 1793858400,      /* 2026-11-05 14:00 */
	T_NOV8_10 = 1794103200,      /* 2026-11-08 10:00 */
	T_NOV8_12 = 1794110400,      /* 2026-11-08 12:00 */
	T_NOV10_10 = 1794276000,     /* 2026-11-10 10:00 */
	T_NOV10_12 = 1794283200,     /* 2026-11-10 12:00 */
	T_NOV10_13 = 1794286800,     /* 2026-11-10 13:00 */
	T_NOV12_12 = 1794456000,     /* 2026-11-12 12:00 */
	T_NOV15_10 = 1794708000,     /* 2026-11-15 10:00 */
	T_NOV20_12 = 1795147200,     /* 2026-11-20 12:00 */
	T_DEC1 = 1796054400,         /* 2026-12-01 00:00 */
	T_DEC2_12 = 1796184000,      /* 2026-12-02 12:00 */
	T_DEC5_12 = 1796443200,      /* 2026-12-05 12:00 */
	T_JAN1 = 1798732800,         /* 2027-01-01 00:00 */
	T_JAN5_10_2027 = 1799114400, /* 2027-01-05 10:00 */
	DAY = 86400,
};

#define BANNER   "152223"
#define TOWNSHIP "152223100"
#define VA       "152223100201" /* village "A" */
#define VB       "152223100202" /* village "B" */
#define TOWN2    "152223200"    /* another township */
#define VC       "152223200201" /* a village of TOWN2 */

static struct inproc p;
/* g1: grid worker of village A only; g2: grid worker of the township; p1, p2:
 * party members; n1, n2: neighbour households; hw: health worker; s1: banner
 * supervisor; s2: township supervisor. */
static struct keypair g1, g2, p1, p2, n1, n2, hw, s1, s2;
static unsigned seed = 1;

/* ---- helpers ---- */

static void open_store(void)
{
	clock_set_fixed(T_SEP1_10);
	inproc_open(&p, tft_tmpdir());
	CHECK_EQ_INT(inproc_area(&p, BANNER, "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, TOWNSHIP, "音德尔镇", BANNER), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, VA, "一村", TOWNSHIP), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, VB, "二村", TOWNSHIP), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, TOWN2, "新林镇", BANNER), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, VC, "三村", TOWN2), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员一", ROLE(GRID_WORKER), VA, &g1), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g2", "网格员二", ROLE(GRID_WORKER), TOWNSHIP, &g2),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "p1", "党员一", ROLE(PARTY_MEMBER), TOWNSHIP, &p1), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "p2", "党员二", ROLE(PARTY_MEMBER), TOWNSHIP, &p2), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "n1", "邻居一", ROLE(NEIGHBOUR), VA, &n1), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "n2", "邻居二", ROLE(NEIGHBOUR), VA, &n2), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "hw", "医生", ROLE(HEALTH_WORKER), TOWNSHIP, &hw), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s1", "旗督导", ROLE(SUPERVISOR), BANNER, &s1), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s2", "镇督导", ROLE(SUPERVISOR), TOWNSHIP, &s2), ST(OK));
}

/* Every store these tests make is an honest one, however out of order,
 * corrected or removed its records: the audit must pass on each. */
static void close_store(void)
{
	char err[300] = "";
	uint64_t n;
	int r = auditlog_verify(p.st, &n, err, sizeof err);
	if (r < 0)
		fprintf(stderr, "  audit: %s\n", err);
	CHECK_OK(r);
	inproc_close(&p);
}

/* Registers or changes an elder as the admin. cats: 0-terminated (or NULL);
 * visitors, neighbours: NULL-terminated (or NULL). registered_at and
 * effective_at: 0 for the defaults. */
/* The birth date put_elder gives ("" by default). */
static const char *birth = "";

static int put_elder(const char *id, const char *area, const int *cats, const char *const *visitors,
                     const char *const *neighbours, int64_t registered_at, int64_t effective_at)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = (char *)id, e.name = "老人", e.area = (char *)area;
	e.birth_date = (char *)birth;
	Tanfang__V1__Category c[8];
	size_t n = 0;
	while (cats && cats[n] && n < 8) {
		c[n] = cats[n];
		n++;
	}
	e.categories = c, e.n_categories = n;
	for (n = 0; visitors && visitors[n]; n++)
		;
	e.visitors = (char **)visitors, e.n_visitors = n;
	for (n = 0; neighbours && neighbours[n]; n++)
		;
	e.neighbours = (char **)neighbours, e.n_neighbours = n;
	e.registered_at = registered_at;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	req.effective_at = effective_at;
	return inproc_status(&p, &p.admin, &req);
}

static int set_visitors(const char *elder, char **ids, size_t n)
{
	Tanfang__V1__SetVisitors sv = TANFANG__V1__SET_VISITORS__INIT;
	sv.elder_id = (char *)elder, sv.visitors = ids, sv.n_visitors = n;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_SET_VISITORS;
	req.set_visitors = &sv;
	return inproc_status(&p, &p.admin, &req);
}

static int submit(const struct keypair *k, const char *elder, int kind, int64_t when)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, seed++, elder, kind, when);
	return inproc_submit_visit(&p, k, &v);
}

static void visit(const struct keypair *k, const char *elder, int kind, int64_t when)
{
	CHECK_EQ_INT(submit(k, elder, kind, when), ST(OK));
}

/* A care event; its 16-byte id goes to id. */
static int event(const struct keypair *k, uint8_t id[16], const char *elder, int type, int64_t when)
{
	memset(id, 0, 16);
	unsigned s = seed++;
	memcpy(id, &s, sizeof s);
	id[15] = 0xe7;
	Tanfang__V1__CareEvent ev = TANFANG__V1__CARE_EVENT__INIT;
	ev.id.data = id, ev.id.len = 16;
	ev.elder_id = (char *)elder;
	ev.type = type;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_INFO;
	ev.occurred_at = when;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT;
	req.care_event = &ev;
	return inproc_status(&p, k, &req);
}

static int correct(const struct keypair *k, uint8_t id[16])
{
	Tanfang__V1__CorrectEvent c = TANFANG__V1__CORRECT_EVENT__INIT;
	c.event_id.data = id, c.event_id.len = 16;
	c.note = "报错了";
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CORRECT_EVENT;
	req.correct_event = &c;
	return inproc_status(&p, k, &req);
}

static int file_report(const struct keypair *k, const char *area, const char *month)
{
	Tanfang__V1__FileReport f = TANFANG__V1__FILE_REPORT__INIT;
	f.area = (char *)area, f.month = (char *)month;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_FILE_REPORT;
	req.file_report = &f;
	return inproc_status(&p, k, &req);
}

static tf_reply *overdue(const char *area, const char *rule, int64_t horizon)
{
	Tanfang__V1__OverdueQuery o = TANFANG__V1__OVERDUE_QUERY__INIT;
	o.area = (char *)area, o.rule = (char *)rule;
	o.horizon_s = horizon;
	o.limit = 200;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
	req.overdue = &o;
	tf_reply *r = inproc_call(&p, &s1, &req);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK(r->overdue != NULL);
	return r;
}

/* The item of (elder, rule, holder) in an overdue list, or NULL. */
static const Tanfang__V1__OverdueItem *find_item(const tf_reply *r, const char *elder,
                                                 const char *rule, const char *holder)
{
	for (size_t i = 0; r->overdue && i < r->overdue->n_items; i++) {
		const Tanfang__V1__OverdueItem *it = r->overdue->items[i];
		if (strcmp(it->elder_id, elder) == 0 && strcmp(it->rule, rule) == 0 &&
		    strcmp(it->duty_visitor, holder) == 0)
			return it;
	}
	return NULL;
}

/* How many items of the list are about elder. */
static size_t items_of(const tf_reply *r, const char *elder)
{
	size_t n = 0;
	for (size_t i = 0; r->overdue && i < r->overdue->n_items; i++)
		n += strcmp(r->overdue->items[i]->elder_id, elder) == 0;
	return n;
}

static tf_reply *report_q(const struct keypair *k, const char *area, const char *month,
                          bool as_filed)
{
	Tanfang__V1__ReportQuery q = TANFANG__V1__REPORT_QUERY__INIT;
	q.area = (char *)area, q.month = (char *)month, q.as_filed = as_filed;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REPORT;
	req.report = &q;
	return inproc_call(&p, k, &req);
}

static tf_reply *report(const char *area, const char *month)
{
	tf_reply *r = report_q(&s1, area, month, false);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK(r->report != NULL);
	return r;
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

static tf_reply *history(const char *elder)
{
	Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	hq.elder_id = (char *)elder;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ELDER_HISTORY;
	req.elder_history = &hq;
	tf_reply *r = inproc_call(&p, &s1, &req);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK(r->history != NULL && r->history->elder != NULL);
	return r;
}

static int history_status(const char *elder)
{
	tf_reply *r = history(elder);
	int s = r->history->elder->status;
	wire_free(WIRE_REPLY, r);
	return s;
}

/* The elder's status as the registry list gives it (-1 if not listed). */
static int registry_status(const char *elder)
{
	Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
	g.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS;
	g.limit = 100;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_GET_REGISTRY;
	req.get_registry = &g;
	tf_reply *r = inproc_call(&p, &s1, &req);
	CHECK_EQ_INT(r->status, ST(OK));
	int s = -1;
	for (size_t i = 0; r->registry && i < r->registry->n_elders; i++)
		if (strcmp(r->registry->elders[i]->id, elder) == 0)
			s = r->registry->elders[i]->status;
	wire_free(WIRE_REPLY, r);
	return s;
}

/* ---- 1. A death synced late ---- */

static void test_late_death(void)
{
	open_store();
	const int fps[] = {CAT(FAMILY_PLANNING_SPECIAL), 0};
	const int nest[] = {CAT(EMPTY_NEST), 0};
	/* Both entered on 1 October; E1's registration gives the date it
	 * entered the register, 1 September: September counts E1 only. */
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("E1", VA, fps, NULL, NULL, T_SEP1, 0), ST(OK));
	CHECK_EQ_INT(put_elder("E2", VA, nest, NULL, NULL, 0, 0), ST(OK));
	tf_reply *r = report(VA, "2026-09");
	EXPECT_ROW(r, VA, 1, 0, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);

	clock_set_fixed(T_NOV3_12);
	visit(&g1, "E2", KIND(DOOR), T_NOV2_10);
	/* Before the death is known, E1 is required in November too. */
	r = report(VA, "2026-11");
	EXPECT_ROW(r, VA, 2, 1, 0, 0, 2, 0, 0);
	wire_free(WIRE_REPLY, r);

	/* E1 died on 28 October; the phone synced on 3 November. */
	uint8_t id[16];
	CHECK_EQ_INT(event(&g1, id, "E1", EV(DECEASED), T_OCT28_10), ST(OK));
	CHECK_EQ_INT(history_status("E1"), ES(DECEASED));
	r = report(VA, "2026-11");
	EXPECT_ROW(r, VA, 1, 1, 0, 0, 1, 0, 0); /* E2 only: 100% */
	wire_free(WIRE_REPLY, r);
	/* October: E1 was not on the register on 31 October and was not
	 * visited in October, so only E2 (not visited in October) counts. */
	r = report(VA, "2026-10");
	EXPECT_ROW(r, VA, 1, 0, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);
	/* Nothing left to do for a dead elder. */
	r = overdue("", "", 300 * DAY);
	CHECK_EQ_INT(items_of(r, "E1"), 0);
	CHECK(items_of(r, "E2") > 0);
	wire_free(WIRE_REPLY, r);

	/* Variant: a visit to E1 on 20 October (before the death) arrives as
	 * well: E1 is then required, and visited, in October; still not in the
	 * "1+2" column, where no household checked on it. November unchanged. */
	visit(&g1, "E1", KIND(DOOR), T_OCT20_10);
	r = report(VA, "2026-10");
	EXPECT_ROW(r, VA, 2, 1, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-11");
	EXPECT_ROW(r, VA, 1, 1, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 2. Status changes applied in order of their own times ---- */

static void test_out_of_order_status(void)
{
	open_store();
	const int nest[] = {CAT(EMPTY_NEST), 0};
	const char *nb[] = {"n1", "n2", NULL};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("E3", VA, nest, NULL, nb, 0, 0), ST(OK));

	/* The discharge (10 November) arrives first: E3 was active. */
	clock_set_fixed(T_NOV10_12);
	uint8_t dis[16], adm[16];
	CHECK_EQ_INT(event(&g1, dis, "E3", EV(DISCHARGED), T_NOV10_10), ST(OK));
	CHECK_EQ_INT(history_status("E3"), ES(ACTIVE));
	/* The admission of 5 November arrives on the 12th: in hospital from
	 * the 5th to the 10th, active since. */
	clock_set_fixed(T_NOV12_12);
	CHECK_EQ_INT(event(&g1, adm, "E3", EV(HOSPITALISED), T_NOV5_10), ST(OK));
	tf_reply *r = history("E3");
	CHECK_EQ_INT(r->history->elder->status, ES(ACTIVE));
	CHECK_EQ_INT(r->history->elder->status_since, T_NOV10_10);
	CHECK_EQ_INT(r->history->n_items, 2);
	wire_free(WIRE_REPLY, r);
	CHECK_EQ_INT(registry_status("E3"), ES(ACTIVE));
	/* The neighbour checks (paused in hospital) run again from the
	 * discharge: due a week after it. */
	r = overdue("", "neighbour_check", 30 * DAY);
	CHECK_EQ_INT(r->overdue->total, 2);
	const Tanfang__V1__OverdueItem *a = find_item(r, "E3", "neighbour_check", "n1");
	const Tanfang__V1__OverdueItem *b = find_item(r, "E3", "neighbour_check", "n2");
	CHECK(a && b);
	if (a && b) {
		CHECK_EQ_INT(a->due_at, T_NOV10_10 + 7 * DAY);
		CHECK_EQ_INT(b->due_at, T_NOV10_10 + 7 * DAY);
	}
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 3. Later registry changes do not rewrite a past month ---- */

static void expect_october(void)
{
	tf_reply *r = report(TOWNSHIP, "2026-10");
	EXPECT_ROW(r, TOWNSHIP, 4, 1, 1, 1, 4, 0, 0);
	EXPECT_ROW(r, VA, 3, 1, 1, 1, 3, 0, 0);
	EXPECT_ROW(r, VB, 1, 0, 0, 0, 1, 0, 0);
	CHECK_EQ_INT(r->report->n_rows, 3);
	wire_free(WIRE_REPLY, r);
}

static void test_past_months_stay(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0}, nest[] = {CAT(EMPTY_NEST), 0};
	const int poor[] = {CAT(EXTREME_POVERTY), 0}, incap[] = {CAT(INCAPACITATED), 0};
	const char *a3v[] = {"p1", NULL};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("a1", VA, alone, NULL, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("a2", VA, nest, NULL, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("a3", VA, poor, a3v, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("b1", VB, incap, NULL, NULL, 0, 0), ST(OK));
	/* October: a1 visited at the door; p1 made his party visit to a3 (a
	 * party visit is not the monthly door-or-phone visit). */
	clock_set_fixed(T_NOV2_12);
	visit(&g1, "a1", KIND(DOOR), T_OCT15_10);
	visit(&p1, "a3", KIND(PARTY_MEMBER), T_OCT20_10);
	expect_october();

	/* November (effective when signed, 5 November): a2 moves to B, a1 loses
	 * its categories, p2 replaces p1 for a3. */
	clock_set_fixed(T_NOV5_10);
	CHECK_EQ_INT(put_elder("a2", VB, nest, NULL, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("a1", VA, NULL, NULL, NULL, 0, 0), ST(OK));
	char *p2only[] = {"p2"};
	CHECK_EQ_INT(set_visitors("a3", p2only, 1), ST(OK));

	clock_set_fixed(T_DEC2_12);
	expect_october();
	/* November has the changes: A holds a3 only (with p2), B holds b1 and
	 * a2; nobody was visited. */
	tf_reply *r = report(TOWNSHIP, "2026-11");
	EXPECT_ROW(r, TOWNSHIP, 3, 0, 1, 0, 3, 0, 0);
	EXPECT_ROW(r, VA, 1, 0, 1, 0, 1, 0, 0);
	EXPECT_ROW(r, VB, 2, 0, 0, 0, 2, 0, 0);
	wire_free(WIRE_REPLY, r);
	/* The overdue list agrees: p2's duty since 5 November (due at the end
	 * of November), none for p1; a2's monthly duty is in B's list; a1 has
	 * no duty left. */
	r = overdue("", "party_member", 0);
	CHECK_EQ_INT(r->overdue->total, 1);
	const Tanfang__V1__OverdueItem *it = find_item(r, "a3", "party_member", "p2");
	CHECK(it != NULL);
	if (it)
		CHECK_EQ_INT(it->due_at, T_DEC1);
	wire_free(WIRE_REPLY, r);
	r = overdue(VB, "monthly_visit", 0);
	CHECK_EQ_INT(r->overdue->total, 2);
	CHECK(find_item(r, "a2", "monthly_visit", "") != NULL);
	CHECK(find_item(r, "b1", "monthly_visit", "") != NULL);
	wire_free(WIRE_REPLY, r);
	r = overdue("", "", 300 * DAY);
	CHECK_EQ_INT(items_of(r, "a1"), 0);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 4. A visit dated in the future is refused ---- */

static void test_future_visit(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("f1", VA, alone, NULL, NULL, 0, 0), ST(OK));

	clock_set_fixed(T_DEC5_12);
	CHECK_EQ_INT(submit(&g1, "f1", KIND(DOOR), T_JAN5_10_2027), ST(DATED_IN_FUTURE));
	/* Nothing changed: still overdue since 1 November, never visited. */
	tf_reply *r = overdue("", "monthly_visit", 0);
	const Tanfang__V1__OverdueItem *it = find_item(r, "f1", "monthly_visit", "");
	CHECK(it != NULL);
	if (it) {
		CHECK_EQ_INT(it->due_at, T_NOV1);
		CHECK_EQ_INT(it->last_visit_at, 0);
	}
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-11");
	EXPECT_ROW(r, VA, 1, 0, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-12");
	EXPECT_ROW(r, VA, 1, 0, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);
	r = history("f1");
	CHECK_EQ_INT(r->history->n_items, 0);
	wire_free(WIRE_REPLY, r);
	/* The limit: the clock plus the 600 s skew. */
	CHECK_EQ_INT(submit(&g1, "f1", KIND(DOOR), T_DEC5_12 + 601), ST(DATED_IN_FUTURE));
	CHECK_EQ_INT(submit(&g1, "f1", KIND(DOOR), T_DEC5_12 + 600), ST(OK));
	/* A registry change dated in the future is refused too. */
	CHECK_EQ_INT(put_elder("f1", VB, alone, NULL, NULL, 0, T_JAN5_10_2027),
	             ST(DATED_IN_FUTURE));
	r = history("f1");
	CHECK_STREQ(r->history->elder->area, VA);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 5. The overdue list and the report agree ---- */

static char *write_policy(void)
{
	static char path[600];
	snprintf(path, sizeof path, "%s/health-counts.conf", tft_tmpdir());
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("[policy]\ntimezone = Asia/Shanghai\n\n[rule.monthly_visit]\n"
		      "elders = special\nkinds = door, phone, health\nduty = elder\n"
		      "period = month\nreport = visit\n",
		      f);
		fclose(f);
	}
	return path;
}

/* h1's November monthly duty: met per the overdue list (due only at the end
 * of December), and visited per the report; both must say `want`. */
static void expect_one_truth(bool want, int64_t last_visit)
{
	tf_reply *r = overdue("", "monthly_visit", 60 * DAY);
	const Tanfang__V1__OverdueItem *it = find_item(r, "h1", "monthly_visit", "");
	CHECK(it != NULL);
	bool met = it && it->due_at >= T_JAN1;
	if (it) {
		CHECK_EQ_INT(it->due_at, want ? T_JAN1 : T_DEC1);
		CHECK_EQ_INT(it->last_visit_at, last_visit);
	}
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-11");
	const Tanfang__V1__ReportRow *rw = row(r, VA);
	bool visited = rw && rw->required == 1 && rw->visited == 1;
	if (rw) {
		CHECK_EQ_INT(rw->required, 1);
		CHECK_EQ_INT(rw->visited, want);
	}
	wire_free(WIRE_REPLY, r);
	CHECK_EQ_INT(met, visited);
}

static void test_one_truth(void)
{
	open_store();
	/* h1 enters the register on 1 November under no category, gets a
	 * health visit on the 10th, and a category on the 15th. */
	clock_set_fixed(T_NOV1_10);
	CHECK_EQ_INT(put_elder("h1", VA, NULL, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV10_12);
	visit(&hw, "h1", KIND(HEALTH), T_NOV10_10);
	clock_set_fixed(T_NOV15_10);
	const int nest[] = {CAT(EMPTY_NEST), 0};
	CHECK_EQ_INT(put_elder("h1", VA, nest, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV20_12);
	/* Default policy: a health visit is not a monthly visit. */
	expect_one_truth(false, 0);
	/* Reloaded policy where it is: both say met. */
	struct policy *pol;
	char err[256];
	CHECK_OK(policy_load(write_policy(), &pol, err, sizeof err));
	CHECK_OK(ingest_set_policy(p.ig, pol));
	expect_one_truth(true, T_NOV10_10);
	/* And back. */
	CHECK_OK(policy_default(&pol));
	CHECK_OK(ingest_set_policy(p.ig, pol));
	expect_one_truth(false, 0);
	close_store();
}

/* ---- 6. Neighbour checks pause in hospital ---- */

static void test_hospital_pause(void)
{
	open_store();
	const int nest[] = {CAT(EMPTY_NEST), 0};
	const char *nb[] = {"n1", "n2", NULL};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("k1", VA, nest, NULL, nb, 0, 0), ST(OK));

	clock_set_fixed(T_NOV1_12);
	tf_reply *r = overdue("", "neighbour_check", 0);
	CHECK_EQ_INT(r->overdue->total, 2);
	const Tanfang__V1__OverdueItem *it = find_item(r, "k1", "neighbour_check", "n1");
	CHECK(it != NULL);
	if (it)
		CHECK_EQ_INT(it->due_at, T_OCT1_10 + 7 * DAY);
	CHECK(find_item(r, "k1", "neighbour_check", "n2") != NULL);
	wire_free(WIRE_REPLY, r);

	uint8_t id[16];
	CHECK_EQ_INT(event(&g1, id, "k1", EV(HOSPITALISED), T_NOV1_10), ST(OK));
	CHECK_EQ_INT(history_status("k1"), ES(HOSPITALISED));
	r = overdue("", "neighbour_check", 300 * DAY);
	CHECK_EQ_INT(r->overdue->total, 0);
	wire_free(WIRE_REPLY, r);
	/* The monthly visit does not pause. */
	r = overdue("", "monthly_visit", 0);
	CHECK(find_item(r, "k1", "monthly_visit", "") != NULL);
	wire_free(WIRE_REPLY, r);

	clock_set_fixed(T_NOV8_12);
	CHECK_EQ_INT(event(&g1, id, "k1", EV(DISCHARGED), T_NOV8_10), ST(OK));
	CHECK_EQ_INT(history_status("k1"), ES(ACTIVE));
	r = overdue("", "neighbour_check", 10 * DAY);
	CHECK_EQ_INT(r->overdue->total, 2);
	const Tanfang__V1__OverdueItem *a = find_item(r, "k1", "neighbour_check", "n1");
	const Tanfang__V1__OverdueItem *b = find_item(r, "k1", "neighbour_check", "n2");
	CHECK(a && b);
	if (a && b) {
		CHECK_EQ_INT(a->due_at, T_NOV8_10 + 7 * DAY);
		CHECK_EQ_INT(b->due_at, T_NOV8_10 + 7 * DAY);
	}
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 7. A wrong death withdrawn ---- */

static void test_correction(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("c1", VA, alone, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV5_10);
	visit(&g1, "c1", KIND(DOOR), T_NOV2_10);
	uint8_t id[16];
	CHECK_EQ_INT(event(&g1, id, "c1", EV(DECEASED), T_NOV4_10), ST(OK));
	CHECK_EQ_INT(history_status("c1"), ES(DECEASED));
	tf_reply *r = overdue("", "", 300 * DAY);
	CHECK_EQ_INT(items_of(r, "c1"), 0);
	wire_free(WIRE_REPLY, r);

	clock_set_fixed(T_NOV5_14);
	/* Only a supervisor or admin may withdraw it. */
	CHECK_EQ_INT(correct(&g1, id), ST(FORBIDDEN));
	CHECK_EQ_INT(history_status("c1"), ES(DECEASED));
	CHECK_EQ_INT(correct(&s1, id), ST(OK));
	CHECK_EQ_INT(history_status("c1"), ES(ACTIVE));
	CHECK_EQ_INT(registry_status("c1"), ES(ACTIVE));
	/* Back on the schedule: visited on 2 November, due at the end of
	 * December. */
	r = overdue("", "monthly_visit", 60 * DAY);
	const Tanfang__V1__OverdueItem *it = find_item(r, "c1", "monthly_visit", "");
	CHECK(it != NULL);
	if (it) {
		CHECK_EQ_INT(it->due_at, T_JAN1);
		CHECK_EQ_INT(it->last_visit_at, T_NOV2_10);
	}
	wire_free(WIRE_REPLY, r);
	/* The history keeps the event, marked corrected, and the visit. */
	r = history("c1");
	CHECK_EQ_INT(r->history->n_items, 2);
	if (r->history->n_items == 2) {
		const Tanfang__V1__HistoryItem *ev = r->history->items[0];
		const Tanfang__V1__HistoryItem *vi = r->history->items[1];
		CHECK(ev->care_event != NULL);
		if (ev->care_event)
			CHECK_EQ_INT(ev->care_event->type, EV(DECEASED));
		CHECK(vi->visit != NULL);
		CHECK(!vi->corrected);
		CHECK(ev->corrected);
	}
	wire_free(WIRE_REPLY, r);
	/* c1 is on the register at the end of November again. */
	r = report(VA, "2026-11");
	EXPECT_ROW(r, VA, 1, 1, 0, 0, 1, 0, 0);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 8. A filed report stays as filed; late facts are listed ---- */

static void test_filing(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("d1", VA, alone, NULL, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("d2", VB, alone, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_OCT10_10 + 3600);
	visit(&g1, "d1", KIND(DOOR), T_OCT10_10);

	clock_set_fixed(T_NOV2_10);
	CHECK_EQ_INT(file_report(&g2, TOWNSHIP, "2026-10"), ST(FORBIDDEN));
	CHECK_EQ_INT(file_report(&s2, TOWNSHIP, "2026-10"), ST(OK));
	tf_reply *r = report_q(&s2, TOWNSHIP, "2026-10", true);
	CHECK_EQ_INT(r->status, ST(OK));
	CHECK(r->report != NULL);
	if (r->report) {
		EXPECT_ROW(r, TOWNSHIP, 2, 1, 0, 0, 2, 0, 0);
		EXPECT_ROW(r, VB, 1, 0, 0, 0, 1, 0, 0);
		CHECK_EQ_INT(r->report->filed_at, T_NOV2_10);
		CHECK_STREQ(r->report->filed_by, "s2");
	}
	wire_free(WIRE_REPLY, r);
	/* Village A did not file on its own. */
	r = report_q(&s2, VA, "2026-10", true);
	CHECK_EQ_INT(r->status, ST(NOT_FOUND));
	wire_free(WIRE_REPLY, r);

	/* A visit of 25 October reaches the daemon on 3 November. */
	clock_set_fixed(T_NOV3_12);
	visit(&g2, "d2", KIND(DOOR), T_OCT25_10);
	r = report_q(&s2, TOWNSHIP, "2026-10", true);
	CHECK_EQ_INT(r->status, ST(OK));
	if (r->report) {
		EXPECT_ROW(r, TOWNSHIP, 2, 1, 0, 0, 2, 0, 0);
		EXPECT_ROW(r, VA, 1, 1, 0, 0, 1, 0, 0);
		EXPECT_ROW(r, VB, 1, 0, 0, 0, 1, 0, 0);
		CHECK_EQ_INT(r->report->filed_at, T_NOV2_10);
	}
	wire_free(WIRE_REPLY, r);
	/* The current report has it, says when the township filed, and lists
	 * the late visit. */
	r = report_q(&s2, TOWNSHIP, "2026-10", false);
	CHECK_EQ_INT(r->status, ST(OK));
	if (r->report) {
		EXPECT_ROW(r, TOWNSHIP, 2, 2, 0, 0, 2, 0, 0);
		EXPECT_ROW(r, VB, 1, 1, 0, 0, 1, 0, 0);
		CHECK_EQ_INT(r->report->filed_at, T_NOV2_10);
		CHECK_STREQ(r->report->filed_by, "s2");
		const Tanfang__V1__ReportRow *t = row(r, TOWNSHIP), *b = row(r, VB);
		if (t) {
			CHECK_EQ_INT(t->filed_at, T_NOV2_10);
			CHECK(t->filed != NULL);
			if (t->filed) {
				CHECK_EQ_INT(t->filed->required, 2);
				CHECK_EQ_INT(t->filed->visited, 1);
			}
		}
		if (b) {
			CHECK_EQ_INT(b->filed_at, 0);
			CHECK(b->filed == NULL);
		}
		CHECK_EQ_INT(r->report->late_total, 1);
		CHECK_EQ_INT(r->report->n_late, 1);
		if (r->report->n_late == 1) {
			const Tanfang__V1__LateFact *f = r->report->late[0];
			CHECK_STREQ(f->kind, "visit");
			CHECK_STREQ(f->elder_id, "d2");
			CHECK_STREQ(f->area, VB);
			CHECK_EQ_INT(f->effective_at, T_OCT25_10);
			CHECK_EQ_INT(f->received_at, T_NOV3_12);
			CHECK_STREQ(f->signer, "g2");
		}
	}
	wire_free(WIRE_REPLY, r);
	/* November was not filed: no filing, nothing late. */
	r = report_q(&s2, TOWNSHIP, "2026-11", false);
	CHECK_EQ_INT(r->status, ST(OK));
	if (r->report) {
		CHECK_EQ_INT(r->report->filed_at, 0);
		CHECK_EQ_INT(r->report->n_late, 0);
	}
	wire_free(WIRE_REPLY, r);

	/* Filing again is refused and changes nothing. */
	clock_set_fixed(T_NOV4_10);
	CHECK_EQ_INT(file_report(&s2, TOWNSHIP, "2026-10"), ST(DUPLICATE));
	r = report_q(&s2, TOWNSHIP, "2026-10", true);
	if (r->report) {
		CHECK_EQ_INT(r->report->filed_at, T_NOV2_10);
		EXPECT_ROW(r, TOWNSHIP, 2, 1, 0, 0, 2, 0, 0);
	}
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 9. A visit is authorised as of its own date ---- */

static void test_authorised_as_of_visit(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("m1", VA, alone, NULL, NULL, 0, 0), ST(OK));
	/* m1 moves to another township on 10 November at noon. */
	clock_set_fixed(T_NOV10_12);
	CHECK_EQ_INT(put_elder("m1", VC, alone, NULL, NULL, 0, 0), ST(OK));
	/* g1 (village A) visited on the 5th, offline; the visit arrives after
	 * the move and is accepted. One made after the move is not his. */
	clock_set_fixed(T_NOV10_13);
	CHECK_EQ_INT(submit(&g1, "m1", KIND(DOOR), T_NOV5_10), ST(OK));
	CHECK_EQ_INT(submit(&g1, "m1", KIND(DOOR), T_NOV10_12 + 1800), ST(FORBIDDEN));
	/* Counted where m1 is at the end of November, visited. */
	tf_reply *r = report("", "2026-11");
	EXPECT_ROW(r, VC, 1, 1, 0, 0, 1, 0, 0);
	EXPECT_ROW(r, VA, 0, 0, 0, 0, 0, 0, 0);
	wire_free(WIRE_REPLY, r);
	r = history("m1");
	CHECK_EQ_INT(r->history->n_items, 1);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- 10. Records older than the acceptance window ---- */

static void test_too_old(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_DEC5_12);
	CHECK_EQ_INT(put_elder("o1", VA, alone, NULL, NULL, T_MAY1, 0), ST(OK));
	CHECK_EQ_INT(submit(&g1, "o1", KIND(DOOR), T_DEC5_12 - 200 * DAY), ST(TOO_OLD));
	uint8_t id[16];
	CHECK_EQ_INT(event(&g1, id, "o1", EV(FALL), T_DEC5_12 - 200 * DAY), ST(TOO_OLD));
	/* Inside the 180 days: accepted. */
	CHECK_EQ_INT(submit(&g1, "o1", KIND(DOOR), T_DEC5_12 - 179 * DAY), ST(OK));
	tf_reply *r = history("o1");
	CHECK_EQ_INT(r->history->n_items, 1);
	if (r->history->n_items == 1 && r->history->items[0]->visit)
		CHECK_EQ_INT(r->history->items[0]->visit->visited_at, T_DEC5_12 - 179 * DAY);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* Late facts that take an elder out of a filed month are listed too: a
 * death dated before the month, and a move out of the filed area. */
static void test_late_departures_listed(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	/* Registered on 1 September (open_store's clock). */
	CHECK_EQ_INT(put_elder("x", VA, alone, NULL, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("y", VA, alone, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV2_10);
	CHECK_EQ_INT(file_report(&s2, TOWNSHIP, "2026-10"), ST(OK));
	clock_set_fixed(T_NOV3_12);
	uint8_t id[16];
	/* x died on 28 September (reported now); y moved out on 20 October. */
	CHECK_EQ_INT(event(&g1, id, "x", EV(DECEASED), 1790560800 /* 2026-09-28 10:00 */), ST(OK));
	CHECK_EQ_INT(put_elder("y", VC, alone, NULL, NULL, 0, T_OCT20_10), ST(OK));
	tf_reply *r = report_q(&s2, TOWNSHIP, "2026-10", false);
	CHECK(r->report != NULL);
	if (r->report) {
		/* As filed, x (then alive) and y (then in VA) were required. */
		CHECK_EQ_INT(r->report->rows[0]->required, 0);
		CHECK_EQ_INT(r->report->rows[0]->filed->required, 2);
		CHECK_EQ_INT(r->report->late_total, 2);
		bool death = false, move = false;
		for (size_t i = 0; i < r->report->n_late; i++) {
			const Tanfang__V1__LateFact *f = r->report->late[i];
			death |=
			    strcmp(f->elder_id, "x") == 0 && strcmp(f->kind, "care_event") == 0;
			move |= strcmp(f->elder_id, "y") == 0 && strcmp(f->kind, "registry") == 0 &&
			        f->effective_at == T_OCT20_10;
		}
		CHECK(death);
		CHECK(move);
	}
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* A visit dated a few minutes ahead of the daemon's clock (inside the
 * allowed skew) is accepted, and counts on the overdue list as it does in
 * the report. */
static void test_visit_inside_skew(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("g", VA, alone, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV20_12);
	visit(&g1, "g", KIND(DOOR), T_NOV20_12 + 300);
	clock_set_fixed(T_NOV20_12 + 2 * DAY);
	tf_reply *r = overdue("", "monthly_visit", 60 * DAY);
	const Tanfang__V1__OverdueItem *it = find_item(r, "g", "monthly_visit", "");
	CHECK(it != NULL);
	if (it) {
		CHECK_EQ_INT(it->due_at, T_JAN1);
		CHECK_EQ_INT(it->last_visit_at, T_NOV20_12 + 300);
	}
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-11");
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->visited == 1);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* An office enters an elder on 2 December with the date it entered its
 * register, 1 September; a death dated 28 October arrives after. The elder
 * counts in September (on the register, under the rule), not in October
 * (died without a visit), and is deceased now. */
static void test_death_between_register_and_entry(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_DEC2_12);
	CHECK_EQ_INT(put_elder("r", VA, alone, NULL, NULL, T_SEP1, 0), ST(OK));
	uint8_t id[16];
	CHECK_EQ_INT(event(&g1, id, "r", EV(DECEASED), T_OCT28_10), ST(OK));
	tf_reply *r = report(VA, "2026-09");
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->required == 1);
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-10");
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->required == 0);
	wire_free(WIRE_REPLY, r);
	r = history("r");
	CHECK(r->history && r->history->elder->status == ES(DECEASED));
	CHECK(r->history && r->history->elder->registered_at == T_SEP1);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* A registry request sent twice (a client's retry) is a duplicate, not a
 * second change; one request that changes an elder twice is refused. */
static void test_registry_resend(void)
{
	open_store();
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = "rs";
	e.name = "重发";
	e.area = VA;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	uint8_t *frame;
	size_t len;
	inproc_seal(&p.admin, &req, &frame, &len);
	tf_reply *r = inproc_frame(&p, frame, len);
	CHECK_STATUS(r->status, OK);
	wire_free(WIRE_REPLY, r);
	r = inproc_frame(&p, frame, len);
	CHECK_STATUS(r->status, REPLAYED); /* the same envelope: no effect (issue 8) */
	wire_free(WIRE_REPLY, r);
	free(frame);

	tf_elder e2 = e;
	e2.name = "重发二";
	tf_elder *both[] = {&e, &e2};
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = both;
	im.n_elders = 2;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &im;
	inproc_seal(&p.admin, &req, &frame, &len);
	r = inproc_frame(&p, frame, len);
	CHECK_STATUS(r->status, INVALID);
	/* Every refusal comes back at once, in the problems (issue 11). */
	CHECK(strstr(r->detail, "1 of 2 elders refused; nothing imported") != NULL);
	CHECK_EQ_INT(r->n_problems, 1);
	CHECK(strstr(r->problems[0], "elder 2 of 2") != NULL);
	CHECK(strstr(r->problems[0], "changed twice") != NULL);
	wire_free(WIRE_REPLY, r);
	free(frame);
	close_store();
}

/* Under while_hospitalised = pause (the neighbour check's default), a stay
 * in hospital owes no checks in the report either: in hospital 1-8
 * November, then checked weekly by both households, the elder's "1+2" is
 * done for November, and the overdue list never showed it overdue. */
static void test_pause_in_report(void)
{
	open_store();
	const int nest[] = {CAT(EMPTY_NEST), 0};
	const char *nb[] = {"n1", "n2", NULL};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("k", VA, nest, NULL, nb, 0, 0), ST(OK));
	clock_set_fixed(T_NOV1_10 - 3600);
	visit(&n1, "k", KIND(NEIGHBOUR_CHECK), T_NOV1_10 - DAY);
	visit(&n2, "k", KIND(NEIGHBOUR_CHECK), T_NOV1_10 - DAY);
	uint8_t id[16];
	clock_set_fixed(T_NOV1_12);
	CHECK_EQ_INT(event(&g1, id, "k", EV(HOSPITALISED), T_NOV1_10), ST(OK));
	clock_set_fixed(T_NOV8_12);
	CHECK_EQ_INT(event(&g1, id, "k", EV(DISCHARGED), T_NOV8_10), ST(OK));
	for (int w = 1; w <= 3; w++) {
		clock_set_fixed(T_NOV8_10 + w * 7 * DAY - 3600 + 60);
		visit(&n1, "k", KIND(NEIGHBOUR_CHECK), T_NOV8_10 + w * 7 * DAY - 3600);
		visit(&n2, "k", KIND(NEIGHBOUR_CHECK), T_NOV8_10 + w * 7 * DAY - 3600);
	}
	clock_set_fixed(T_DEC1 + 3600);
	tf_reply *r = overdue("", "neighbour_check", 0);
	CHECK_EQ_INT(r->overdue->total, 0);
	wire_free(WIRE_REPLY, r);
	r = report(VA, "2026-11");
	CHECK(r->report && r->report->n_rows);
	if (r->report && r->report->n_rows) {
		CHECK_EQ_INT(r->report->rows[0]->neighbour_required, 1);
		CHECK_EQ_INT(r->report->rows[0]->neighbour_done, 1);
	}
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* The 2022 notice's rules (item 10). A door visit is owed within 24 hours
 * of a major change, due from the event's own time: a phone call or a
 * visit before the event does not meet it, a door visit after it does; a
 * discharge starts it again. */
static void test_after_major_change(void)
{
	open_store();
	const int nest[] = {CAT(EMPTY_NEST), 0};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("m", VA, nest, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV5_10 - 3600);
	visit(&g1, "m", KIND(DOOR), T_NOV5_10 - 7200);
	uint8_t id[16];
	/* Admitted at 10:00 on 5 November, reported at 14:00. */
	clock_set_fixed(T_NOV5_14);
	CHECK_EQ_INT(event(&g1, id, "m", EV(HOSPITALISED), T_NOV5_10), ST(OK));
	tf_reply *r = overdue("", "after_major_change", DAY);
	const Tanfang__V1__OverdueItem *it = find_item(r, "m", "after_major_change", "");
	CHECK(it && it->due_at == T_NOV5_10 + DAY);
	wire_free(WIRE_REPLY, r);
	visit(&g1, "m", KIND(PHONE), T_NOV5_14 - 60);
	r = overdue("", "after_major_change", DAY);
	CHECK(find_item(r, "m", "after_major_change", "") != NULL);
	wire_free(WIRE_REPLY, r);
	visit(&g1, "m", KIND(DOOR), T_NOV5_14 - 30);
	r = overdue("", "after_major_change", 30 * DAY);
	CHECK(find_item(r, "m", "after_major_change", "") == NULL);
	wire_free(WIRE_REPLY, r);
	/* Discharged on 8 November: owed again, and overdue a day later. */
	clock_set_fixed(T_NOV10_10);
	CHECK_EQ_INT(event(&g1, id, "m", EV(DISCHARGED), T_NOV8_10), ST(OK));
	r = overdue("", "after_major_change", 0);
	it = find_item(r, "m", "after_major_change", "");
	CHECK(it && it->due_at == T_NOV8_10 + DAY && it->overdue_s == T_NOV10_10 - T_NOV8_10 - DAY);
	wire_free(WIRE_REPLY, r);
	/* The same in any order: rebuilt from the history after a reload. */
	struct policy *pol;
	CHECK_OK(policy_default(&pol));
	/* A change (health visits count too), so every duty is rebuilt. */
	pol->rules[0].kinds |= 1u << KIND(HEALTH);
	CHECK_OK(ingest_set_policy(p.ig, pol));
	r = overdue("", "after_major_change", 0);
	it = find_item(r, "m", "after_major_change", "");
	CHECK(it && it->due_at == T_NOV8_10 + DAY);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* An age in a high-risk set: living alone and 80 on 5 December 2026, the
 * elder is high risk from that midnight. Before it, the weekly duty is
 * already planned from the birthday (due Monday 7 December), with no
 * other change needed; after it, it is overdue from then. */
static void test_birthday_tier(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	clock_set_fixed(T_OCT1_10);
	birth = "1946-12-05";
	CHECK_EQ_INT(put_elder("b", VA, alone, NULL, NULL, 0, 0), ST(OK));
	birth = "";
	clock_set_fixed(T_NOV20_12);
	tf_reply *r = overdue("", "high_risk_weekly", 30 * DAY);
	const Tanfang__V1__OverdueItem *it = find_item(r, "b", "high_risk_weekly", "");
	CHECK(it && it->due_at == 1796572800 /* 2026-12-07 00:00 */);
	wire_free(WIRE_REPLY, r);
	r = overdue("", "high_risk_weekly", 0);
	CHECK(find_item(r, "b", "high_risk_weekly", "") == NULL);
	wire_free(WIRE_REPLY, r);
	clock_set_fixed(1796572800 + DAY);
	r = overdue("", "high_risk_weekly", 0);
	it = find_item(r, "b", "high_risk_weekly", "");
	CHECK(it && it->due_at == 1796572800);
	wire_free(WIRE_REPLY, r);
	/* A visit on the birthday meets the week. */
	visit(&g1, "b", KIND(PHONE), 1796400000 + 3600);
	r = overdue("", "high_risk_weekly", 0);
	CHECK(find_item(r, "b", "high_risk_weekly", "") == NULL);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* One visitor's duties come from the per-visitor index, still within the
 * asker's area: p1 holds party duties in villages A and B; and, since issue
 * 11, the elder-wide monthly visits of the elders p1 is assigned to (any
 * role counts under monthly_visit), each naming p1. */
static void test_overdue_by_visitor(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	const char *vis[] = {"p1", NULL};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("v", VA, alone, vis, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("w", VB, alone, vis, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("x", VB, alone, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_NOV20_12);
	const char *areas[] = {"", TOWNSHIP, VA, VB, VC};
	const unsigned want[] = {4, 4, 2, 2, 0};
	for (size_t i = 0; i < 5; i++) {
		Tanfang__V1__OverdueQuery o = TANFANG__V1__OVERDUE_QUERY__INIT;
		o.area = (char *)areas[i], o.visitor_id = "p1", o.limit = 50;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
		req.overdue = &o;
		tf_reply *r = inproc_call(&p, &s1, &req);
		CHECK(r->overdue != NULL);
		if (r->overdue) {
			CHECK_EQ_INT(r->overdue->total, want[i]);
			for (size_t k = 0; k < r->overdue->n_items; k++) {
				const Tanfang__V1__OverdueItem *it = r->overdue->items[k];
				if (strcmp(it->rule, "party_member") == 0) {
					CHECK_STR(it->duty_visitor, "p1");
				} else {
					CHECK_STR(it->rule, "monthly_visit");
					CHECK_STR(it->duty_visitor, "");
					CHECK(it->n_assigned_ids == 1 &&
					      strcmp(it->assigned_ids[0], "p1") == 0);
					CHECK_STR(it->rule_label, "每月探访");
				}
			}
		}
		wire_free(WIRE_REPLY, r);
	}
	/* Reassigned: the old holder's entries leave the index. */
	CHECK_EQ_INT(set_visitors("w", NULL, 0), ST(OK));
	Tanfang__V1__OverdueQuery o = TANFANG__V1__OVERDUE_QUERY__INIT;
	o.visitor_id = "p1", o.limit = 50;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
	req.overdue = &o;
	tf_reply *r = inproc_call(&p, &s1, &req);
	CHECK(r->overdue && r->overdue->total == 2 &&
	      strcmp(r->overdue->items[0]->elder_id, "v") == 0 &&
	      strcmp(r->overdue->items[1]->elder_id, "v") == 0);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* A visit counts under the visitor's role at the visit's own time: p2
 * visits as a party member in October, becomes a grid worker on 1
 * November (kp NULL: the role changes, the key stays). */
static void test_role_at_visit(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	const char *vis[] = {"p2", NULL};
	clock_set_fixed(T_OCT1_10);
	CHECK_EQ_INT(put_elder("z", VA, alone, vis, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_OCT15_10);
	visit(&p2, "z", KIND(DOOR), T_OCT15_10 - 60);
	clock_set_fixed(T_NOV1_10);
	CHECK_EQ_INT(inproc_visitor(&p, "p2", "党员二", ROLE(GRID_WORKER), TOWNSHIP, NULL), ST(OK));
	clock_set_fixed(T_NOV10_10);
	visit(&p2, "z", KIND(DOOR), T_NOV10_10 - 60);
	tf_reply *r = report(VA, "2026-10");
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->party_required == 1 &&
	      r->report->rows[0]->party_done == 1);
	wire_free(WIRE_REPLY, r);
	/* November: p2 is no party member at the month's end: no party duty. */
	r = report(VA, "2026-11");
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->party_required == 0);
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->visited == 1);
	wire_free(WIRE_REPLY, r);
	/* A late visit dated in October, signed now as a grid worker, still
	 * counts as the party member's visit it was. */
	clock_set_fixed(T_NOV12_12);
	CHECK_EQ_INT(put_elder("z2", VA, alone, vis, NULL, T_SEP1, 0), ST(OK));
	visit(&p2, "z2", KIND(DOOR), T_OCT20_10);
	r = report(VA, "2026-10");
	CHECK(r->report && r->report->n_rows && r->report->rows[0]->party_done == 2);
	wire_free(WIRE_REPLY, r);
	close_store();
}

/* ---- The report's two walkers ----
 * A report is walked by two threads that take batches of elders from one
 * cursor (256 elders a batch). With 700 elders (three batches) both walk, in an order the
 * scheduler decides: the figures must equal the filing's (which the writer
 * walks alone), every time, and the late facts must come in elder order,
 * the first 200 of them. */

#define WALK_N 700

static bool same_rows(const tf_reply *a, const tf_reply *b, bool filed_b)
{
	if (!a->report || !b->report || a->report->n_rows != b->report->n_rows)
		return false;
	for (size_t i = 0; i < a->report->n_rows; i++) {
		const Tanfang__V1__ReportRow *x = a->report->rows[i], *y = b->report->rows[i];
		if (filed_b && y->filed)
			y = y->filed; /* the row as filed, beside the current one */
		if (strcmp(x->area, b->report->rows[i]->area) != 0 || x->required != y->required ||
		    x->visited != y->visited || x->party_required != y->party_required ||
		    x->party_done != y->party_done ||
		    x->neighbour_required != y->neighbour_required ||
		    x->neighbour_set_up != y->neighbour_set_up ||
		    x->neighbour_done != y->neighbour_done)
			return false;
	}
	return true;
}

static void test_two_walkers(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	const char *party[] = {"p1", NULL}, *households[] = {"n1", "n2", NULL};
	char id[16];
	clock_set_fixed(T_OCT1_10);
	for (int i = 0; i < WALK_N; i++) {
		snprintf(id, sizeof id, "w%04d", i);
		CHECK_EQ_INT(put_elder(id, i % 2 ? VB : VA, alone, i % 5 == 0 ? party : NULL,
		                       i % 2 == 0 && i % 7 == 0 ? households : NULL, 0, 0),
		             ST(OK));
	}
	clock_set_fixed(T_OCT15_10);
	for (int i = 0; i < WALK_N; i++) {
		snprintf(id, sizeof id, "w%04d", i);
		if (i % 3)
			visit(&g2, id, KIND(DOOR), T_OCT10_10 + i);
		if (i % 5 == 0 && i % 4 == 0)
			visit(&p1, id, KIND(PARTY_MEMBER), T_OCT10_10 + i);
		if (i % 14 == 0)
			visit(&n1, id, KIND(NEIGHBOUR_CHECK), T_OCT10_10 + i);
	}
	clock_set_fixed(T_NOV2_10);
	CHECK_EQ_INT(file_report(&s1, BANNER, "2026-10"), ST(OK));
	tf_reply *filed = report_q(&s1, BANNER, "2026-10", true);
	CHECK_EQ_INT(filed->status, ST(OK));
	CHECK(filed->report && filed->report->n_rows > 0 &&
	      filed->report->rows[0]->required == WALK_N &&
	      filed->report->rows[0]->visited == WALK_N - (WALK_N + 2) / 3);
	for (int k = 0; k < 5; k++) {
		tf_reply *r = report(BANNER, "2026-10");
		CHECK(same_rows(filed, r, false));
		CHECK(r->report && r->report->late_total == 0);
		wire_free(WIRE_REPLY, r);
	}

	/* The unvisited third is visited late: 234 late facts. */
	clock_set_fixed(T_NOV3_12);
	for (int i = 0; i < WALK_N; i += 3) {
		snprintf(id, sizeof id, "w%04d", i);
		visit(&g2, id, KIND(DOOR), T_OCT25_10 + i);
	}
	tf_reply *first = NULL;
	for (int k = 0; k < 5; k++) {
		tf_reply *r = report(BANNER, "2026-10");
		/* Beside each figure, the filing's: the banner's visits changed. */
		CHECK(r->report && r->report->rows[0]->filed &&
		      r->report->rows[0]->filed->visited == WALK_N - (WALK_N + 2) / 3);
		CHECK(r->report && r->report->rows[0]->visited == WALK_N);
		CHECK(r->report && r->report->late_total == (WALK_N + 2) / 3);
		CHECK(r->report && r->report->n_late == 200);
		for (size_t j = 0; r->report && j < r->report->n_late; j++) {
			snprintf(id, sizeof id, "w%04zu", j * 3);
			CHECK_STREQ(r->report->late[j]->elder_id, id);
			CHECK_STREQ(r->report->late[j]->kind, "visit");
		}
		if (!first) {
			first = r;
			continue;
		}
		CHECK(same_rows(first, r, false));
		wire_free(WIRE_REPLY, r);
	}
	/* The prewarm after a start reads the same tables and changes nothing;
	 * told to stop, it stops. */
	volatile int go = 0, stop = 1;
	CHECK_OK(ingest_prewarm(p.ig, &go));
	CHECK_OK(ingest_prewarm(p.ig, &stop));
	tf_reply *warm = report(BANNER, "2026-10");
	CHECK(same_rows(first, warm, false));
	wire_free(WIRE_REPLY, warm);
	/* The filing still says what it said. */
	tf_reply *again = report_q(&s1, BANNER, "2026-10", true);
	CHECK(same_rows(filed, again, false));
	wire_free(WIRE_REPLY, again);
	wire_free(WIRE_REPLY, first);
	wire_free(WIRE_REPLY, filed);
	close_store();
}

/* ---- Corrections to the register (issue 11, item 4) ---- */

/* The elder's current record, through GetRegistry (NULL if none). */
static tf_reply *elder_record(const char *id, const tf_elder **out)
{
	Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
	g.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS;
	g.limit = 1000;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_GET_REGISTRY;
	req.get_registry = &g;
	tf_reply *r = inproc_call(&p, &p.admin, &req);
	*out = NULL;
	for (size_t i = 0; r->registry && i < r->registry->n_elders; i++)
		if (strcmp(r->registry->elders[i]->id, id) == 0)
			*out = r->registry->elders[i];
	return r;
}

static int edit_elder(const char *id, tf_elder *e, const char **fields, size_t n,
                      int64_t effective_at)
{
	e->id = (char *)id;
	Tanfang__V1__EditElder ed = TANFANG__V1__EDIT_ELDER__INIT;
	ed.elder = e;
	ed.fields = (char **)fields, ed.n_fields = n;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_EDIT_ELDER;
	req.edit_elder = &ed;
	req.effective_at = effective_at;
	return inproc_status(&p, &p.admin, &req);
}

static int remove_elder(const char *id, int reason)
{
	Tanfang__V1__RemoveElder rm = TANFANG__V1__REMOVE_ELDER__INIT;
	rm.elder_id = (char *)id;
	rm.reason = reason;
	rm.note = "录入错误";
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REMOVE_ELDER;
	req.remove_elder = &rm;
	return inproc_status(&p, &p.admin, &req);
}

#define REASON(x) TANFANG__V1__REMOVE_ELDER__REASON__REASON_##x

static void test_registry_corrections(void)
{
	open_store();
	const int alone[] = {CAT(LIVING_ALONE), 0};
	const char *party[] = {"p1", NULL}, *households[] = {"n1", "n2", NULL};
	clock_set_fixed(T_OCT1_10);
	birth = "1940-01-01";
	CHECK_EQ_INT(put_elder("c1", VA, alone, party, households, 0, 0), ST(OK));
	birth = "";
	CHECK_EQ_INT(put_elder("c2", VA, alone, NULL, NULL, 0, 0), ST(OK));
	CHECK_EQ_INT(put_elder("c3", VA, alone, NULL, NULL, 0, 0), ST(OK));
	clock_set_fixed(T_OCT15_10);
	visit(&g1, "c2", KIND(DOOR), T_OCT10_10);

	/* A phone number corrected: nothing else changes. */
	clock_set_fixed(T_NOV1_10);
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.phone = "13800000000";
	const char *phone[] = {"phone"};
	CHECK_EQ_INT(edit_elder("c1", &e, phone, 1, 0), ST(OK));
	const tf_elder *c1;
	tf_reply *reg = elder_record("c1", &c1);
	CHECK(c1 != NULL);
	if (c1) {
		CHECK_STREQ(c1->phone, "13800000000");
		CHECK_STREQ(c1->name, "老人");
		CHECK_STREQ(c1->birth_date, "1940-01-01");
		CHECK_EQ_INT(c1->n_categories, 1);
		CHECK_EQ_INT(c1->n_visitors, 1);
		CHECK_EQ_INT(c1->n_neighbours, 2);
		CHECK_STREQ(c1->area, VA);
	}
	wire_free(WIRE_REPLY, reg);
	/* What cannot be edited, and who does not exist. */
	const char *bad[] = {"status"}, *twice[] = {"phone", "phone"};
	CHECK_EQ_INT(edit_elder("c1", &e, bad, 1, 0), ST(INVALID));
	CHECK_EQ_INT(edit_elder("c1", &e, twice, 2, 0), ST(INVALID));
	CHECK_EQ_INT(edit_elder("c1", &e, NULL, 0, 0), ST(INVALID));
	CHECK_EQ_INT(edit_elder("nobody", &e, phone, 1, 0), ST(UNKNOWN_ELDER));
	const char *area[] = {"area"};
	e.area = "999999999999";
	CHECK_EQ_INT(edit_elder("c1", &e, area, 1, 0), ST(INVALID));
	/* A move from 5 November: October still counts c1 in village A. */
	e.area = VB;
	clock_set_fixed(T_NOV5_14);
	CHECK_EQ_INT(edit_elder("c1", &e, area, 1, T_NOV5_10), ST(OK));
	tf_reply *r = report(TOWNSHIP, "2026-10");
	EXPECT_ROW(r, VA, 3, 1, 1, 0, 3, 1, 0);
	EXPECT_ROW(r, VB, 0, 0, 0, 0, 0, 0, 0);
	wire_free(WIRE_REPLY, r);
	r = report(TOWNSHIP, "2026-11");
	CHECK(row(r, VB) && row(r, VB)->required == 1 && row(r, VB)->party_required == 1);
	wire_free(WIRE_REPLY, r);

	/* October is filed; then c2, visited in October, turns out never to
	 * have belonged on the register, and c3 died on 10 November. */
	clock_set_fixed(T_NOV8_10);
	CHECK_EQ_INT(file_report(&s2, TOWNSHIP, "2026-10"), ST(OK));
	clock_set_fixed(T_NOV10_10);
	CHECK_EQ_INT(remove_elder("c2", REASON(ENTERED_IN_ERROR)), ST(OK));
	CHECK_EQ_INT(remove_elder("c3", REASON(DECEASED)), ST(OK));
	CHECK_EQ_INT(remove_elder("c3", REASON(UNSPECIFIED)), ST(MALFORMED));
	CHECK_EQ_INT(remove_elder("nobody", REASON(ENTERED_IN_ERROR)), ST(UNKNOWN_ELDER));
	r = report_q(&s2, TOWNSHIP, "2026-10", false);
	CHECK_EQ_INT(r->status, ST(OK));
	/* c2 leaves October too (and its visit with it); c3 still counts. */
	EXPECT_ROW(r, VA, 2, 0, 1, 0, 2, 1, 0);
	bool listed = false;
	for (size_t i = 0; r->report && i < r->report->n_late; i++)
		listed |= strcmp(r->report->late[i]->elder_id, "c2") == 0 &&
		          strcmp(r->report->late[i]->kind, "correction") == 0 &&
		          strstr(r->report->late[i]->detail, "entered in error") != NULL &&
		          r->report->late[i]->received_at == T_NOV10_10;
	CHECK(listed);
	wire_free(WIRE_REPLY, r);
	r = report_q(&s2, TOWNSHIP, "2026-10", true);
	EXPECT_ROW(r, VA, 3, 1, 1, 0, 3, 1, 0); /* as filed: as it was */
	wire_free(WIRE_REPLY, r);
	r = overdue(BANNER, "", 90 * DAY);
	CHECK_EQ_INT(items_of(r, "c2"), 0);
	CHECK_EQ_INT(items_of(r, "c3"), 0);
	CHECK(items_of(r, "c1") > 0);
	wire_free(WIRE_REPLY, r);
	const tf_elder *c2;
	reg = elder_record("c2", &c2);
	CHECK(c2 && c2->status == ES(REMOVED));
	wire_free(WIRE_REPLY, reg);
	/* Nobody sets REMOVED by a registration. */
	CHECK_EQ_INT(put_elder("c4", VA, alone, NULL, NULL, 0, 0), ST(OK));
	{
		tf_elder x;
		wire_init(WIRE_ELDER, &x);
		x.id = "c4", x.name = "老人", x.area = VA, x.birth_date = "";
		x.status = ES(REMOVED);
		Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
		pe.elder = &x;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
		req.put_elder = &pe;
		CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(INVALID));
	}
	/* Restored: back in October, the visit with it. (Removals and
	 * restores hold for all time and apply in the order signed.) */
	clock_set_fixed(T_NOV10_10 + 60);
	CHECK_EQ_INT(remove_elder("c2", REASON(RESTORE)), ST(OK));
	r = report(TOWNSHIP, "2026-10");
	EXPECT_ROW(r, VA, 3, 1, 1, 0, 3, 1, 0);
	wire_free(WIRE_REPLY, r);

	/* The history shows every change of the entry, with the records. */
	{
		Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
		hq.elder_id = "c2";
		hq.with_changes = true;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_ELDER_HISTORY;
		req.elder_history = &hq;
		tf_reply *h = inproc_call(&p, &s1, &req);
		CHECK_EQ_INT(h->status, ST(OK));
		int removed = -1, restored = -1, visit = -1, registered = -1;
		for (size_t i = 0; h->history && i < h->history->n_items; i++) {
			const Tanfang__V1__HistoryItem *it = h->history->items[i];
			if (it->visit)
				visit = (int)i;
			else if (it->change && strcmp(it->change->kind, "removed") == 0 &&
			         strcmp(it->change->note, "录入错误") == 0)
				removed = (int)i;
			else if (it->change && strcmp(it->change->kind, "restored") == 0)
				restored = (int)i;
			else if (it->change && strcmp(it->change->kind, "registered") == 0)
				registered = (int)i;
		}
		/* Newest first: the restore, the removal, the visit, the entry. */
		CHECK(restored == 0 && removed == 1 && visit == 2 && registered == 3);
		wire_free(WIRE_REPLY, h);
		hq.elder_id = "c1";
		h = inproc_call(&p, &s1, &req);
		bool edited = false;
		for (size_t i = 0; h->history && i < h->history->n_items; i++) {
			const Tanfang__V1__HistoryItem *it = h->history->items[i];
			edited |= it->change && strcmp(it->change->kind, "edited") == 0 &&
			          strcmp(it->change->detail, "phone=13800000000") == 0 &&
			          it->change->effective_at == T_NOV1_10;
		}
		CHECK(edited);
		wire_free(WIRE_REPLY, h);
	}

	/* An import undone: only the elders it registered go. */
	clock_set_fixed(T_NOV12_12);
	tf_elder im[3];
	tf_elder *imp[3];
	const char *ids[3] = {"i1", "i2", "c1"};
	for (int i = 0; i < 3; i++) {
		wire_init(WIRE_ELDER, &im[i]);
		im[i].id = (char *)ids[i], im[i].name = "老人", im[i].area = i < 2 ? VA : VB;
		im[i].birth_date = "";
		imp[i] = &im[i];
	}
	Tanfang__V1__ImportElders ie = TANFANG__V1__IMPORT_ELDERS__INIT;
	ie.elders = imp, ie.n_elders = 3;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &ie;
	tf_reply *ir = inproc_call(&p, &p.admin, &req);
	CHECK_EQ_INT(ir->status, ST(OK));
	CHECK_EQ_INT(ir->ref.len, 32);
	Tanfang__V1__UndoImport u = TANFANG__V1__UNDO_IMPORT__INIT;
	uint8_t wrong[32] = {0};
	u.import_ref.data = wrong, u.import_ref.len = 32;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_UNDO_IMPORT;
	req.undo_import = &u;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(NOT_FOUND));
	u.import_ref = ir->ref;
	clock_set_fixed(T_NOV12_12 + 60);
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_UNDO_IMPORT;
	req.undo_import = &u;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
	wire_free(WIRE_REPLY, ir);
	const tf_elder *x;
	reg = elder_record("i1", &x);
	CHECK(x && x->status == ES(REMOVED));
	wire_free(WIRE_REPLY, reg);
	reg = elder_record("i2", &x);
	CHECK(x && x->status == ES(REMOVED));
	wire_free(WIRE_REPLY, reg);
	reg = elder_record("c1", &x);
	CHECK(x && x->status == ES(ACTIVE));
	wire_free(WIRE_REPLY, reg);
	r = report(TOWNSHIP, "2026-11");
	CHECK(row(r, VA) && row(r, VA)->required == 2); /* c2 (restored), c4; not i1, i2 */
	wire_free(WIRE_REPLY, r);
	/* The right file, with the same ids, imported after the undo: the
	 * elders are on the register anew, as the new file has them (the
	 * undone entries stay void). */
	clock_set_fixed(T_NOV12_12 + 120);
	im[0].area = VB, im[0].name = "孙一";
	Tanfang__V1__Category lone[1] = {CAT(LIVING_ALONE)};
	for (int i = 0; i < 2; i++)
		im[i].categories = lone, im[i].n_categories = 1;
	ie.n_elders = 2;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &ie;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
	reg = elder_record("i1", &x);
	CHECK(x && x->status == ES(ACTIVE) && strcmp(x->area, VB) == 0 &&
	      strcmp(x->name, "孙一") == 0);
	wire_free(WIRE_REPLY, reg);
	reg = elder_record("i2", &x);
	CHECK(x && x->status == ES(ACTIVE));
	wire_free(WIRE_REPLY, reg);
	r = report(TOWNSHIP, "2026-11");
	CHECK_EQ_INT(row(r, VA) ? row(r, VA)->required : 0, 3); /* c2, c4, i2 */
	/* c1 was given again by the first import, without categories: i1 alone. */
	CHECK_EQ_INT(row(r, VB) ? row(r, VB)->required : 0, 1);
	wire_free(WIRE_REPLY, r);
	close_store();
}

int main(void)
{
	CHECK_OK(period_set_timezone("Asia/Shanghai"));
	test_late_death();
	test_out_of_order_status();
	test_past_months_stay();
	test_future_visit();
	test_one_truth();
	test_hospital_pause();
	test_correction();
	test_filing();
	test_authorised_as_of_visit();
	test_too_old();
	test_late_departures_listed();
	test_visit_inside_skew();
	test_death_between_register_and_entry();
	test_registry_resend();
	test_pause_in_report();
	test_after_major_change();
	test_birthday_tier();
	test_overdue_by_visitor();
	test_role_at_visit();
	test_two_walkers();
	test_registry_corrections();
	return tft_done();
}
