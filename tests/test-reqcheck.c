/* reqcheck_request: the bounds of every time, count and lease, at their
 * edges (issue 8, item 6). */
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "reqcheck.h"
#include "tf_test.h"

static char why[256];

static int check(tf_request *r)
{
	return reqcheck_request(r, why, sizeof why);
}

static void visit(tf_request *req, tf_visit *v, uint8_t id[16], int64_t at)
{
	memset(id, 1, 16);
	wire_init(WIRE_VISIT, v);
	v->id.data = id, v->id.len = 16;
	v->elder_id = "e1";
	v->kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE;
	v->visited_at = at;
	wire_init(WIRE_REQUEST, req);
	req->sent_at_ms = 1767225600000;
	req->op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req->visit = v;
}

static void test_times(void)
{
	tf_request req;
	tf_visit v;
	uint8_t id[16];
	const int64_t good[] = {CLOCK_TIME_MIN, CLOCK_TIME_MAX - 1, 1767225600};
	const int64_t bad[] = {0, -1, INT64_MIN, INT64_MAX, CLOCK_TIME_MIN - 1, CLOCK_TIME_MAX};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		visit(&req, &v, id, good[i]);
		CHECK_OK(check(&req));
		req.sent_at_ms = good[i] * 1000;
		CHECK_OK(check(&req));
		req.effective_at = good[i];
		CHECK_OK(check(&req));
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		visit(&req, &v, id, bad[i]);
		CHECK_EQ_INT(check(&req), TF_E_MALFORMED);
		CHECK(strstr(why, "visit.visited_at") != NULL);
		visit(&req, &v, id, 1767225600);
		req.sent_at_ms = bad[i];
		CHECK_EQ_INT(check(&req), TF_E_MALFORMED);
		CHECK(strstr(why, "sent_at_ms") != NULL);
		req.sent_at_ms = 1767225600000;
		req.effective_at = bad[i];
		CHECK_EQ_INT(check(&req), bad[i] ? TF_E_MALFORMED : 0); /* 0: not given */
	}
	/* sent_at_ms is in milliseconds: the end of the range times 1000. */
	visit(&req, &v, id, 1767225600);
	req.sent_at_ms = CLOCK_TIME_MAX * 1000;
	CHECK_EQ_INT(check(&req), TF_E_MALFORMED);
	req.sent_at_ms = CLOCK_TIME_MAX * 1000 - 1;
	CHECK_OK(check(&req));
}

static void test_counts(void)
{
	tf_request req;
	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	wire_init(WIRE_REQUEST, &req);
	req.sent_at_ms = 1767225600000;
	req.op_case = TANFANG__V1__REQUEST__OP_ALERTS_PENDING;
	req.alerts_pending = &ap;
	CHECK_OK(check(&req)); /* 0 and 0: the defaults */
	ap.limit = REQCHECK_ALERTS_LIMIT_MAX, ap.lease_s = REQCHECK_LEASE_MAX_S;
	CHECK_OK(check(&req));
	ap.lease_s = REQCHECK_LEASE_MAX_S + 1;
	CHECK_EQ_INT(check(&req), TF_E_MALFORMED);
	CHECK_STREQ(why, "alerts_pending.lease_s is 86401, above the limit of 86400");
	ap.lease_s = UINT32_MAX;
	CHECK_EQ_INT(check(&req), TF_E_MALFORMED);
	ap.lease_s = 60, ap.limit = REQCHECK_ALERTS_LIMIT_MAX + 1;
	CHECK_EQ_INT(check(&req), TF_E_MALFORMED);

	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
	req.overdue = &oq;
	oq.offset = REQCHECK_OFFSET_MAX, oq.limit = REQCHECK_OVERDUE_LIMIT_MAX;
	CHECK_OK(check(&req));
	oq.offset = REQCHECK_OFFSET_MAX + 1;
	CHECK_EQ_INT(check(&req), TF_E_MALFORMED);

	Tanfang__V1__ReportQuery rq = TANFANG__V1__REPORT_QUERY__INIT;
	req.op_case = TANFANG__V1__REQUEST__OP_REPORT;
	req.report = &rq;
	const char *months[][2] = {{"", "ok"},        {"2026-11", "ok"}, {"2099-12", "ok"},
	                           {"1999-12", "no"}, {"2100-01", "no"}, {"0000-01", "no"},
	                           {"20x6-01", "no"}};
	for (size_t i = 0; i < sizeof months / sizeof months[0]; i++) {
		rq.month = (char *)months[i][0];
		CHECK_EQ_INT(check(&req), strcmp(months[i][1], "ok") == 0 ? 0 : TF_E_MALFORMED);
	}

	/* An elder's registered_at in an import. */
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.registered_at = INT64_MIN;
	tf_elder *list[] = {&e};
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = list, im.n_elders = 1;
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &im;
	CHECK_EQ_INT(check(&req), TF_E_MALFORMED);
	CHECK(strstr(why, "import_elders.elders[0].registered_at") != NULL);
	e.registered_at = 0;
	CHECK_OK(check(&req));
}

int main(void)
{
	test_times();
	test_counts();
	return tft_done();
}
