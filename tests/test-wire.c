/* wire_check: every string of every message is checked over its length on
 * the wire (a NUL inside, invalid UTF-8), every enum value is declared, and
 * the detail names the field by its path (issue 8, item 6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_test.h"

/* Packs req, replaces the '#' of text inside the packed bytes with the
 * bytes `with` (same count as the run of '#' in text), and runs wire_check.
 * Returns its result; why gets the detail. */
static int check_patched(tf_request *req, const char *text, const char *with, char *why, size_t wl)
{
	uint8_t *buf;
	size_t len;
	CHECK_OK(wire_pack(WIRE_REQUEST, req, &buf, &len));
	if (text) {
		uint8_t *at = memmem(buf, len, text, strlen(text));
		CHECK(at != NULL);
		size_t off = (size_t)(strchr(text, '#') - text);
		memcpy(at + off, with, strlen(with) ? strlen(with) : 1);
	}
	int r = wire_check(WIRE_REQUEST, buf, len, WIRE_STRICT, why, wl);
	/* wire_unpack gives the same answer. */
	void *m;
	int u = wire_unpack(WIRE_REQUEST, buf, len, &m);
	CHECK_EQ_INT(u, r);
	if (u == 0)
		wire_free(WIRE_REQUEST, m);
	free(buf);
	return r;
}

static void visit_req(tf_request *req, tf_visit *v, uint8_t id[16], const char *note)
{
	memset(id, 7, 16);
	wire_init(WIRE_VISIT, v);
	v->id.data = id, v->id.len = 16;
	v->elder_id = "e1";
	v->kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR;
	v->visited_at = 1767225600;
	v->note = (char *)note;
	wire_init(WIRE_REQUEST, req);
	req->sent_at_ms = 1767225600000;
	req->op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req->visit = v;
}

static void test_strings(void)
{
	tf_request req;
	tf_visit v;
	uint8_t id[16];
	char why[256];
	/* Good text of every length class passes. */
	visit_req(&req, &v, id, "a é 探访 😀");
	CHECK_OK(check_patched(&req, NULL, NULL, why, sizeof why));
	CHECK_STREQ(why, "");

	static const struct {
		const char *text, *with, *detail;
	} bad[] = {
	    {"ab#cd", "", "visit.note: embedded NUL byte at byte 2 of 5"},
	    {"ab#cd", "\xff", "visit.note: invalid UTF-8 at byte 2 of 5"},
	    {"ab##d", "\xc0\x80", "visit.note: invalid UTF-8 at byte 2"},         /* overlong NUL */
	    {"a###d", "\xed\xa0\x80", "visit.note: invalid UTF-8 at byte 1"},     /* surrogate */
	    {"####d", "\xf4\x90\x80\x80", "visit.note: invalid UTF-8 at byte 0"}, /* > U+10FFFF */
	    {"abcd#", "\xe6", "visit.note: invalid UTF-8 at byte 4 of 5"}, /* cut at the end */
	    {"ab#cd", "\x80", "visit.note: invalid UTF-8 at byte 2"},      /* lone continuation */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		visit_req(&req, &v, id, bad[i].text);
		CHECK_EQ_INT(check_patched(&req, bad[i].text, bad[i].with, why, sizeof why),
		             TF_E_MALFORMED);
		if (!strstr(why, bad[i].detail))
			tft_fail(__FILE__, __LINE__, "case %zu: \"%s\" lacks \"%s\"", i, why,
			         bad[i].detail);
	}

	/* Nested and repeated: the path says which one. */
	tf_elder a, b;
	wire_init(WIRE_ELDER, &a);
	wire_init(WIRE_ELDER, &b);
	a.id = "x1", a.name = "甲", a.area = "15";
	char *nb[] = {"n1", "n#2"};
	b.id = "x2", b.name = "乙", b.area = "15";
	b.neighbours = nb, b.n_neighbours = 2;
	tf_elder *list[] = {&a, &b};
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = list, im.n_elders = 2;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &im;
	CHECK_EQ_INT(check_patched(&req, "n#2", "", why, sizeof why), TF_E_MALFORMED);
	CHECK_STREQ(why, "import_elders.elders[1].neighbours[1]: embedded NUL byte at byte 1 of 3");
	CHECK_OK(check_patched(&req, NULL, NULL, why, sizeof why));

	/* Bytes fields are binary: a NUL is fine there (the id is all 7s,
	 * made 0 here). */
	visit_req(&req, &v, id, "ok");
	memset(id, 0, 16);
	CHECK_OK(check_patched(&req, NULL, NULL, why, sizeof why));
}

static void test_enums_and_fields(void)
{
	tf_request req;
	tf_visit v;
	uint8_t id[16];
	char why[256];
	visit_req(&req, &v, id, "ok");
	v.kind = (Tanfang__V1__VisitKind)42;
	CHECK_EQ_INT(check_patched(&req, NULL, NULL, why, sizeof why), TF_E_MALFORMED);
	CHECK(strstr(why, "visit.kind: 42 is not a known") != NULL);
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR;
	Tanfang__V1__Aid needs[] = {TANFANG__V1__AID__AID_MEALS, (Tanfang__V1__Aid)-3};
	v.needs = needs, v.n_needs = 2;
	CHECK_EQ_INT(check_patched(&req, NULL, NULL, why, sizeof why), TF_E_MALFORMED);
	CHECK(strstr(why, "visit.needs: -3 is not a known") != NULL);
	v.n_needs = 1;
	CHECK_OK(check_patched(&req, NULL, NULL, why, sizeof why));

	/* A field the message does not declare: refused when strict only. */
	uint8_t *buf;
	size_t len;
	CHECK_OK(wire_pack(WIRE_REQUEST, &req, &buf, &len));
	uint8_t *more = malloc(len + 3);
	CHECK(more != NULL);
	memcpy(more, buf, len);
	memcpy(more + len, "\x98\x06\x01", 3);
	CHECK_EQ_INT(wire_check(WIRE_REQUEST, more, len + 3, WIRE_STRICT, why, sizeof why),
	             TF_E_MALFORMED);
	CHECK(strstr(why, "field number 99 is not part of tanfang.v1.Request") != NULL);
	CHECK_OK(wire_check(WIRE_REQUEST, more, len + 3, 0, why, sizeof why));
	/* Truncated anywhere: refused, never read past the end. */
	for (size_t cut = 1; cut < len; cut++) {
		uint8_t *part = malloc(cut);
		CHECK(part != NULL);
		memcpy(part, buf, cut);
		int r = wire_check(WIRE_REQUEST, part, cut, WIRE_STRICT, why, sizeof why);
		CHECK(r == 0 || r == TF_E_MALFORMED);
		free(part);
	}
	free(more);
	free(buf);

	/* Nesting deeper than 16: a Reply's report row whose filed row has
	 * a filed row ... 20 deep. Built from the inside out. */
	uint8_t deep[128], tmp[128];
	size_t n = 0;
	for (int i = 0; i < 20; i++) {
		tmp[0] = 0x62, tmp[1] = (uint8_t)n; /* ReportRow.filed (12) */
		memcpy(tmp + 2, deep, n);
		n += 2;
		memcpy(deep, tmp, n);
	}
	uint8_t reply[160];
	reply[0] = 0x62, reply[1] = (uint8_t)(n + 2); /* Reply.report (12) */
	reply[2] = 0x12, reply[3] = (uint8_t)n;       /* Report.rows (2) */
	memcpy(reply + 4, deep, n);
	CHECK_EQ_INT(wire_check(WIRE_REPLY, reply, n + 4, 0, why, sizeof why), TF_E_MALFORMED);
	CHECK(strstr(why, "nested more than 16 deep") != NULL);
	/* 10 deep is fine. */
	reply[1] = (uint8_t)(20 + 2), reply[3] = 20;
	memcpy(reply + 4, deep + n - 20, 20);
	CHECK_OK(wire_check(WIRE_REPLY, reply, 24, 0, why, sizeof why));
}

static void test_truncate(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", ""},
	    {"abc", "abc"},
	    {"a区", "a区"},
	    {"a\xe5\x8c", "a"},            /* 区 cut after two of three bytes */
	    {"a\xe5", "a"},                /* ... after one */
	    {"ab\xf0\x9f\x98", "ab"},      /* 😀 cut after three of four */
	    {"ab\xf0\x9f\x98\x80", "ab😀"}, /* whole */
	    {"\xc3", ""},
	    {"é", "é"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[32];
		snprintf(buf, sizeof buf, "%s", cases[i].in);
		wire_utf8_truncate(buf);
		CHECK_STREQ(buf, cases[i].out);
	}
}

int main(void)
{
	test_truncate();
	test_strings();
	test_enums_and_fields();
	return tft_done();
}
