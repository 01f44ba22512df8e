/* End to end, issue 8 item 6: input the daemon used to take wrongly. A
 * string with a NUL inside was cut at the NUL after unpacking (a visit
 * acknowledged and never stored; elder "E2\0junk" stored as "E2"); times at
 * the ends of int64 overflowed the daemon's arithmetic; a lease of
 * 4294967295 s held alerts for 136 years. Each is sent here as hand-made
 * protobuf bytes, really signed, to the real daemon: each must be refused
 * with STATUS_MALFORMED and a detail naming the field, and nothing of it
 * stored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "record.h"
#include "registry.h"
#include "store.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x

static struct tft_daemon d;
static struct keypair worker;
static int accepted; /* records acknowledged OK */

/* Packs req as it is (sent_at_ms included: 0 becomes now); if text is not
 * NULL, finds it (a string of req holding one '#') in the packed body and
 * replaces that '#' by the byte `with` (the length stays, so the protobuf
 * stays well formed: only the text changes); appends tail (tail_len bytes,
 * may be 0), signs it with kp and sends it. Returns the status; the detail
 * goes to detail (256 bytes). */
static int send_patched(const struct keypair *kp, tf_request *req, const char *text, uint8_t with,
                        const uint8_t *tail, size_t tail_len, char *detail)
{
	if (!req->sent_at_ms)
		req->sent_at_ms = clock_now_ms();
	uint8_t *body;
	size_t len;
	CHECK_OK(wire_pack(WIRE_REQUEST, req, &body, &len));
	if (text) {
		uint8_t *at = memmem(body, len, text, strlen(text));
		CHECK(at != NULL);
		at[strchr(text, '#') - text] = with;
	}
	uint8_t *full = malloc(len + tail_len);
	CHECK(full != NULL);
	memcpy(full, body, len);
	if (tail_len)
		memcpy(full + len, tail, tail_len);
	free(body);
	uint8_t *frame;
	size_t flen;
	CHECK_OK(envelope_seal(kp->sk, full, len + tail_len, &frame, &flen));
	free(full);
	struct rpc *r;
	tft_rpc(&d, kp, &r);
	tf_reply *rep;
	CHECK_OK(rpc_call_sealed(r, frame, flen, 10000, &rep));
	int st = rep->status;
	snprintf(detail, 256, "%s", rep->detail);
	wire_free(WIRE_REPLY, rep);
	rpc_close(r);
	free(frame);
	return st;
}

static int send_req(const struct keypair *kp, tf_request *req, char *detail)
{
	int st = send_patched(kp, req, NULL, 0, NULL, 0, detail);
	if (st == TANFANG__V1__STATUS__STATUS_OK &&
	    (req->op_case == OP(VISIT) || req->op_case == OP(CARE_EVENT)))
		accepted++;
	return st;
}

/* The detail names what was wrong. */
#define CHECK_DETAIL(detail, text)                                                                 \
	do {                                                                                       \
		if (!strstr(detail, text))                                                         \
			tft_fail(__FILE__, __LINE__, "detail \"%s\" lacks \"%s\"", detail, text);  \
		tft_pass();                                                                        \
	} while (0)

static void setup_registry(void)
{
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	tft_put_area(admin, "152223100", "音德尔镇", "152223");
	tft_put_visitor(admin, "w1", "网格员一", ROLE(GRID_WORKER), "152223100");
	CHECK_OK(keys_generate(&worker));
	tft_enrol(admin, worker.pk, "w1");
	tft_put_elder(admin, "eA", "老人甲", "152223100", CAT(LIVING_ALONE));
	rpc_close(admin);
}

/* Two visits with one id whose notes differ only after a NUL: the first
 * was acknowledged OK, the second DUPLICATE, and the second's content was
 * never stored. Now neither is taken; the honest visit is new after them. */
static void test_nul_in_note(void)
{
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(DOOR), clock_now() - 60);
	tf_request req;
	char detail[256];

	v.note = "seen#well";
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_patched(&worker, &req, v.note, 0, NULL, 0, detail), MALFORMED);
	CHECK_DETAIL(detail, "visit.note");
	CHECK_DETAIL(detail, "NUL");
	v.note = "seen#sick";
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_patched(&worker, &req, v.note, 0, NULL, 0, detail), MALFORMED);

	/* Nested: an assessment's note. */
	Tanfang__V1__Assessment as = TANFANG__V1__ASSESSMENT__INIT;
	as.finding = TANFANG__V1__FINDING__FINDING_CONCERN;
	as.note = "stairs#";
	v.note = "seen";
	v.safety_risk = &as;
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_patched(&worker, &req, as.note, 0, NULL, 0, detail), MALFORMED);
	CHECK_DETAIL(detail, "visit.safety_risk.note: embedded NUL byte at byte 6");

	/* Nothing of those was stored: the same id with honest text is new. */
	as.note = "stairs";
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_req(&worker, &req, detail), OK);
	CHECK_STATUS(send_req(&worker, &req, detail), DUPLICATE);
}

/* Invalid UTF-8, anywhere: a visit's note, an imported elder's name (a
 * repeated nested message), a registry id. */
static void test_bad_utf8(void)
{
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(PHONE), clock_now() - 50);
	v.note = "ok #";
	tf_request req;
	char detail[256];
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_patched(&worker, &req, v.note, 0xff, NULL, 0, detail), MALFORMED);
	CHECK_DETAIL(detail, "visit.note: invalid UTF-8 at byte 3");

	/* A truncated three-byte sequence: 0xE5 then ASCII. */
	v.note = "#xyz";
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_patched(&worker, &req, v.note, 0xe5, NULL, 0, detail), MALFORMED);
	CHECK_DETAIL(detail, "invalid UTF-8");

	tf_elder a, b;
	wire_init(WIRE_ELDER, &a);
	wire_init(WIRE_ELDER, &b);
	a.id = "imp1", a.name = "李桂兰", a.area = "152223100";
	b.id = "imp2", b.name = "赵#凤英", b.area = "152223100";
	tf_elder *list[] = {&a, &b};
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = list, im.n_elders = 2;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(IMPORT_ELDERS);
	req.import_elders = &im;
	CHECK_STATUS(send_patched(&d.admin, &req, b.name, 0xc0, NULL, 0, detail), MALFORMED);
	CHECK_DETAIL(detail, "import_elders.elders[1].name: invalid UTF-8");

	/* The visit was not stored: honest text makes it new. */
	v.note = "ok";
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_req(&worker, &req, detail), OK);
}

/* "E2\0junk" was stored as "E2". */
static void test_nul_in_id(void)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = "E2#junk";
	e.name = "老人乙";
	e.area = "152223100";
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_ELDER);
	req.put_elder = &pe;
	char detail[256];
	CHECK_STATUS(send_patched(&d.admin, &req, e.id, 0, NULL, 0, detail), MALFORMED);
	CHECK_DETAIL(detail, "put_elder.elder.id: embedded NUL byte at byte 2");

	/* No elder E2: a visit for it names an unknown elder. */
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "E2", KIND(DOOR), clock_now() - 40);
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_req(&worker, &req, detail), UNKNOWN_ELDER);
}

/* Enum values outside the declared ones, in a packed list; and a field
 * number the protocol does not have, which protobuf-c would keep and pack
 * into the stored record. */
static void test_unknown_values(void)
{
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(DOOR), clock_now() - 30);
	Tanfang__V1__Aid needs[] = {TANFANG__V1__AID__AID_MEALS, (Tanfang__V1__Aid)77};
	v.needs = needs, v.n_needs = 2;
	tf_request req;
	char detail[256];
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_req(&worker, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "visit.needs: 77 is not a known");
	v.n_needs = 1;

	/* Field 99 (varint 1) after a good request. */
	const uint8_t field99[] = {0x98, 0x06, 0x01};
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_patched(&worker, &req, NULL, 0, field99, sizeof field99, detail),
	             MALFORMED);
	CHECK_DETAIL(detail, "field number 99");

	/* The same field after the Envelope's: outside the signature, it
	 * would have been kept in the audit log with the frame. */
	req.sent_at_ms = clock_now_ms();
	uint8_t *body, *frame;
	size_t blen, flen;
	CHECK_OK(wire_pack(WIRE_REQUEST, &req, &body, &blen));
	CHECK_OK(envelope_seal(worker.sk, body, blen, &frame, &flen));
	free(body);
	uint8_t *longer = malloc(flen + sizeof field99);
	CHECK(longer != NULL);
	memcpy(longer, frame, flen);
	memcpy(longer + flen, field99, sizeof field99);
	struct rpc *r;
	tft_rpc(&d, &worker, &r);
	tf_reply *rep;
	CHECK_OK(rpc_call_sealed(r, longer, flen + sizeof field99, 10000, &rep));
	CHECK_STATUS(rep->status, MALFORMED);
	wire_free(WIRE_REPLY, rep);
	rpc_close(r);
	free(longer);
	free(frame);

	req.sent_at_ms = 0;
	CHECK_STATUS(send_req(&worker, &req, detail), OK);
}

/* Times at the ends of int64 (UBSan caught the overflow in the skew and
 * age checks), and outside 2000 to 2100. */
static void test_times(void)
{
	const int64_t bad[] = {INT64_MAX, INT64_MIN, -1, 946684799, 4102444800};
	char detail[256];
	tf_request req;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t id[16];
		tft_random_id(id);
		tf_visit v;
		tft_make_visit(&v, id, "eA", KIND(DOOR), bad[i]);
		tft_visit_request(&req, &v);
		CHECK_STATUS(send_req(&worker, &req, detail), MALFORMED);
		CHECK_DETAIL(detail, "visit.visited_at");

		tft_make_visit(&v, id, "eA", KIND(DOOR), clock_now() - 20);
		tft_visit_request(&req, &v);
		req.sent_at_ms = bad[i];
		CHECK_STATUS(send_req(&worker, &req, detail), MALFORMED);
		CHECK_DETAIL(detail, "sent_at_ms");

		tf_care_event ev;
		wire_init(WIRE_CARE_EVENT, &ev);
		ev.id.data = id, ev.id.len = 16;
		ev.elder_id = "eA";
		ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_ILLNESS;
		ev.severity = TANFANG__V1__SEVERITY__SEVERITY_INFO;
		ev.occurred_at = bad[i];
		tft_event_request(&req, &ev);
		CHECK_STATUS(send_req(&worker, &req, detail), MALFORMED);
		CHECK_DETAIL(detail, "care_event.occurred_at");

		/* Registry changes: effective_at, and an elder's registered_at. */
		tf_area a;
		wire_init(WIRE_AREA, &a);
		a.code = "152223900", a.name = "未来镇", a.parent = "152223";
		Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
		pa.area = &a;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(PUT_AREA);
		req.put_area = &pa;
		req.effective_at = bad[i];
		CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
		CHECK_DETAIL(detail, "effective_at");

		tf_elder e;
		wire_init(WIRE_ELDER, &e);
		e.id = "eT", e.name = "老人丙", e.area = "152223100";
		e.registered_at = bad[i];
		Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
		pe.elder = &e;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(PUT_ELDER);
		req.put_elder = &pe;
		CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
		CHECK_DETAIL(detail, "put_elder.elder.registered_at");
	}
	/* A month far away is refused before any date arithmetic. */
	Tanfang__V1__ReportQuery rq = TANFANG__V1__REPORT_QUERY__INIT;
	rq.area = "152223";
	rq.month = "9999-12";
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(REPORT);
	req.report = &rq;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "report.month year 9999");
}

/* Counts and leases: 4294967295 s leased alerts for 136 years. */
static void test_bounds(void)
{
	/* An urgent event makes an alert to lease. */
	uint8_t id[16];
	tft_random_id(id);
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = id, ev.id.len = 16;
	ev.elder_id = "eA";
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_URGENT;
	ev.occurred_at = clock_now() - 10;
	tf_request req;
	char detail[256];
	tft_event_request(&req, &ev);
	CHECK_STATUS(send_req(&worker, &req, detail), OK);

	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ALERTS_PENDING);
	req.alerts_pending = &ap;
	ap.limit = 10, ap.lease_s = 4294967295u;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "alerts_pending.lease_s is 4294967295, above the limit of 86400");
	ap.lease_s = 86401;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	ap.limit = 4294967295u, ap.lease_s = 60;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "alerts_pending.limit");

	/* The refused fetches leased nothing: a fetch within the bounds gets
	 * the fall's alert. */
	ap.limit = 1000, ap.lease_s = 86400;
	req.sent_at_ms = 0;
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tf_reply *rep;
	CHECK_OK(rpc_call(admin, &req, 10000, &rep));
	CHECK_STATUS(rep->status, OK);
	CHECK(rep->alerts != NULL);
	size_t fall = 0;
	for (size_t i = 0; i < rep->alerts->n_alerts; i++)
		fall += rep->alerts->alerts[i]->record_id.len == 16 &&
		        memcmp(rep->alerts->alerts[i]->record_id.data, id, 16) == 0;
	CHECK_EQ_INT(fall, 1);
	wire_free(WIRE_REPLY, rep);
	rpc_close(admin);

	/* Acknowledgements: ids of 16 bytes, at most 1000 per list. */
	uint8_t short_id[3] = {1, 2, 3};
	ProtobufCBinaryData ids[1] = {{3, short_id}};
	Tanfang__V1__AlertsAck ak = TANFANG__V1__ALERTS_ACK__INIT;
	ak.ids = ids, ak.n_ids = 1;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ALERTS_ACK);
	req.alerts_ack = &ak;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "alerts_ack.ids[0] must be 16 bytes");
	ProtobufCBinaryData *many = calloc(1001, sizeof *many);
	CHECK(many != NULL);
	for (size_t i = 0; i < 1001; i++)
		many[i].data = id, many[i].len = 16;
	ak.ids = NULL, ak.n_ids = 0;
	ak.failed = many, ak.n_failed = 1001;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "alerts_ack.failed is 1001, above the limit of 1000");
	free(many);

	/* Query paging. */
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	oq.offset = 4000000000u;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(OVERDUE);
	req.overdue = &oq;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "overdue.offset");
	oq.offset = 0, oq.limit = 1001;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "overdue.limit");
	oq.limit = 1000;
	CHECK_STATUS(send_req(&d.admin, &req, detail), OK);

	Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
	g.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS;
	g.limit = 5001;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(GET_REGISTRY);
	req.get_registry = &g;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "get_registry.limit");

	Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	hq.elder_id = "eA";
	hq.limit = 4294967295u;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ELDER_HISTORY);
	req.elder_history = &hq;
	CHECK_STATUS(send_req(&d.admin, &req, detail), MALFORMED);
	CHECK_DETAIL(detail, "elder_history.limit");
}

/* A refusal's detail quotes the request's text and is cut at a byte
 * bound: cut inside a character, the reply was not valid UTF-8 and the
 * client could not decode it. */
static void test_long_detail(void)
{
	char *long_text = malloc(3 * 300 + 2);
	CHECK(long_text != NULL);
	long_text[0] = 'x'; /* shifts the cut off a character boundary */
	for (int i = 0; i < 300; i++)
		memcpy(long_text + 1 + 3 * i, "区", 3);
	long_text[1 + 3 * 300] = '\0';
	char detail[256];

	Tanfang__V1__ReportQuery rq = TANFANG__V1__REPORT_QUERY__INIT;
	rq.area = long_text;
	rq.month = "2026-11";
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(REPORT);
	req.report = &rq;
	int st = send_req(&d.admin, &req, detail);
	CHECK(st == TANFANG__V1__STATUS__STATUS_NOT_FOUND ||
	      st == TANFANG__V1__STATUS__STATUS_INVALID);
	CHECK_DETAIL(detail, "区区区");

	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = "eL", e.name = "老人丁", e.area = "152223100";
	e.birth_date = long_text;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_ELDER);
	req.put_elder = &pe;
	CHECK_STATUS(send_req(&d.admin, &req, detail), INVALID);
	CHECK_DETAIL(detail, "birth date 'x区区");
	free(long_text);
}

/* What is stored: exactly the acknowledged records, the visit note as
 * sent, and no elder cut at a NUL. */
static void check_store(void)
{
	struct store *st;
	struct store_options so = {.read_only = true};
	CHECK_OK(store_open(d.data, &so, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	size_t n;
	CHECK_OK(store_count(txn, DB_RECORDS, &n));
	CHECK_EQ_INT(n, accepted);
	tf_elder *e;
	CHECK_EQ_INT(registry_get_elder(txn, "E2", &e), -ENOENT);
	CHECK_EQ_INT(registry_get_elder(txn, "imp1", &e), -ENOENT);
	CHECK_EQ_INT(registry_get_elder(txn, "eT", &e), -ENOENT);
	tf_area *a;
	CHECK_EQ_INT(registry_get_area(txn, "152223900", &a), -ENOENT);
	store_txn_abort(txn);
	store_close(st);
}

/* Ids that LMDB cannot use as keys (empty, or longer than 511 bytes) reach
 * the store's lookups: an elder with no area, a history query of a
 * 600-byte id. They are refused for what they are, never STATUS_INTERNAL
 * (found by the request fuzzer). */
static void test_odd_keys(void)
{
	char detail[256];
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = "e5", e.name = "孟和巴雅尔", e.area = "";
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_ELDER), req.put_elder = &pe;
	int st = send_req(&d.admin, &req, detail);
	if (st == TANFANG__V1__STATUS__STATUS_INTERNAL)
		tft_fail(__FILE__, __LINE__, "an elder without an area: INTERNAL (%s)", detail);
	CHECK(st == TANFANG__V1__STATUS__STATUS_INVALID ||
	      st == TANFANG__V1__STATUS__STATUS_MALFORMED);
	char big[601];
	memset(big, 'x', 600);
	big[600] = '\0';
	Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	hq.elder_id = big;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ELDER_HISTORY), req.elder_history = &hq;
	st = send_req(&d.admin, &req, detail);
	if (st == TANFANG__V1__STATUS__STATUS_INTERNAL)
		tft_fail(__FILE__, __LINE__, "a 600-byte elder id: INTERNAL (%s)", detail);
	tft_pass();
}

int main(void)
{
	CHECK_OK(envelope_init());
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	setup_registry();

	test_nul_in_note();
	test_bad_utf8();
	test_nul_in_id();
	test_unknown_values();
	test_times();
	test_bounds();
	test_long_detail();
	test_odd_keys();

	/* After all of it the daemon is up and serving. */
	CHECK(tft_daemon_alive(&d));
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(PHONE), clock_now());
	tf_request req;
	char detail[256];
	tft_visit_request(&req, &v);
	CHECK_STATUS(send_req(&worker, &req, detail), OK);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
	check_store();
	return tft_done();
}
