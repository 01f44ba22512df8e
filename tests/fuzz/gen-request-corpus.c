/* Writes the seed corpus of the request-path fuzz target (fuzz-request.c)
 * into a folder: one valid request of every kind, signed envelopes, and the
 * edge inputs issue 8 names (an embedded NUL in a string, visited_at =
 * INT64_MAX, sent_at_ms = INT64_MIN, lease_s = 4294967295, ...), each a
 * regression test once checked in.
 *
 *   gen-request-corpus tests/fuzz/corpus/request
 *
 * The output is deterministic (fixed keys, fixed clock, counter nonces), so
 * re-running it rewrites the same bytes. File format: see fuzz-request.c
 * (first byte: 0 = an Envelope frame follows, k = a Request body follows,
 * to be signed by signer k - 1 of fuzz_world.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz_world.h"
#include "wire.h"

static const char *out_dir;
static struct keypair keys[W_COUNT];
static unsigned failures;

static int write_file(const char *name, uint8_t mode, const uint8_t *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", out_dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -errno;
	}
	int r = 0;
	if (fputc(mode, f) == EOF || fwrite(data, 1, len, f) != len)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "%s: write failed\n", path);
	return r;
}

/* Packs req (sent now unless set, a fresh nonce unless set). */
static int pack(tf_request *req, uint8_t **body, size_t *len)
{
	static uint8_t counter;
	uint8_t nonce[16];
	memset(nonce, 0x6e, sizeof nonce);
	nonce[0] = ++counter;
	if (!req->sent_at_ms)
		req->sent_at_ms = WORLD_NOW * 1000;
	if (!req->nonce.len)
		req->nonce = (ProtobufCBinaryData){.len = sizeof nonce, .data = nonce};
	int r = wire_pack(WIRE_REQUEST, req, body, len);
	req->nonce = (ProtobufCBinaryData){0};
	return r;
}

/* Replaces the first occurrence of `from` in buf by `to` (same length): how
 * an embedded NUL gets into a string protobuf-c would pack with strlen. */
static int patch(uint8_t *buf, size_t len, const char *from, const char *to, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, from, n) == 0) {
			memcpy(buf + i, to, n);
			return 0;
		}
	return -ENOENT;
}

/* A Request body, to be signed by s in the target. patch_from/patch_to
 * (may be NULL) rewrite bytes after packing. */
static void body_patched(const char *name, enum world_signer s, tf_request *req,
                         const char *patch_from, const char *patch_to, size_t patch_len)
{
	uint8_t *body;
	size_t len;
	int r = pack(req, &body, &len);
	if (r == 0) {
		if (patch_from)
			r = patch(body, len, patch_from, patch_to, patch_len);
		if (r == 0)
			r = write_file(name, (uint8_t)(s + 1), body, len);
		free(body);
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", name, tf_strerror(r));
		failures++;
	}
}

static void body(const char *name, enum world_signer s, tf_request *req)
{
	body_patched(name, s, req, NULL, NULL, 0);
}

/* A whole Envelope frame signed by s; flip (if >= 0) is a byte of the frame
 * to corrupt, from its end. */
static void envelope(const char *name, enum world_signer s, tf_request *req, int flip)
{
	uint8_t *b, *frame = NULL;
	size_t len, flen;
	int r = pack(req, &b, &len);
	if (r == 0) {
		r = envelope_seal(keys[s].sk, b, len, &frame, &flen);
		free(b);
	}
	if (r == 0 && flip >= 0 && (size_t)flip < flen)
		frame[flen - 1 - (size_t)flip] ^= 0x01;
	if (r == 0)
		r = write_file(name, 0, frame, flen);
	free(frame);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", name, tf_strerror(r));
		failures++;
	}
}

static void raw(const char *name, const void *data, size_t len)
{
	if (write_file(name, 0, data, len) < 0)
		failures++;
}

static tf_request request(int op_case)
{
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = op_case;
	return req;
}
#define OP(x) TANFANG__V1__REQUEST__OP_##x

static void visits(void)
{
	uint8_t id[16];
	memset(id, 0x51, sizeof id);
	Tanfang__V1__Assessment ok = TANFANG__V1__ASSESSMENT__INIT,
	                        concern = TANFANG__V1__ASSESSMENT__INIT;
	ok.finding = TANFANG__V1__FINDING__FINDING_OK, ok.note = "正常";
	concern.finding = TANFANG__V1__FINDING__FINDING_CONCERN, concern.note = "煤烟";
	Tanfang__V1__Aid needs[] = {TANFANG__V1__AID__AID_MEALS, TANFANG__V1__AID__AID_CLEANING};
	tf_visit v;
	wire_init(WIRE_VISIT, &v);
	v.id.data = id, v.id.len = 16, v.elder_id = "e1";
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR, v.visited_at = WORLD_NOW - 3600;
	v.has_location = 1, v.lat = 46.7313, v.lon = 122.9104, v.accuracy_m = 12;
	v.duration_min = 25, v.basic_living = &ok, v.safety_risk = &concern;
	v.family_support = &ok, v.care_protection = &ok;
	v.needs = needs, v.n_needs = 2, v.follow_up = 1, v.note = "炉子正常，老人精神好";
	tf_request req = request(OP(VISIT));
	req.visit = &v;
	body("visit-door", W_GRID, &req);
	envelope("envelope-visit", W_GRID, &req, -1);
	envelope("envelope-visit-bad-signature", W_GRID, &req, 5);
	envelope("envelope-visit-bad-body", W_GRID, &req, 80);
	body("visit-by-revoked-key", W_REVOKED, &req);
	body("visit-by-stranger", W_STRANGER, &req);

	/* Issue 8's edge inputs, each a regression test. */
	v.elder_id = "e1|x";
	body_patched("regress-visit-nul-in-elder-id", W_GRID, &req, "e1|x", "e1\0x", 4);
	v.elder_id = "e1";
	v.note = "before|after";
	body_patched("regress-visit-nul-in-note", W_GRID, &req, "before|after", "before\0after",
	             12);
	v.note = "炉子正常，老人精神好";
	v.visited_at = INT64_MAX;
	body("regress-visited-at-int64-max", W_GRID, &req);
	v.visited_at = INT64_MIN;
	body("regress-visited-at-int64-min", W_GRID, &req);
	v.visited_at = WORLD_NOW - 3600;
	req.sent_at_ms = INT64_MIN;
	body("regress-sent-at-int64-min", W_GRID, &req);
	req.sent_at_ms = INT64_MAX;
	body("regress-sent-at-int64-max", W_GRID, &req);
	req.sent_at_ms = 0;
	v.lat = NAN, v.lon = INFINITY, v.accuracy_m = -1;
	body("regress-visit-nan-location", W_GRID, &req);
	v.lat = 46.7313, v.lon = 122.9104, v.accuracy_m = 12;
	v.kind = 99;
	body("regress-visit-unknown-kind", W_GRID, &req);
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR;
	v.duration_min = UINT32_MAX;
	body("regress-visit-duration-uint32-max", W_GRID, &req);
	v.duration_min = 25;
	v.elder_id = "\xe5\xbc\xa0\xff\xfe";
	body("regress-visit-invalid-utf8", W_GRID, &req);
	v.elder_id = "e3"; /* outside g1's scope */
	body("visit-out-of-scope", W_GRID, &req);
	v.elder_id = "e9"; /* no such elder */
	body("visit-unknown-elder", W_GRID, &req);

	wire_init(WIRE_VISIT, &v);
	v.id.data = id, v.id.len = 16, v.elder_id = "e1", v.visited_at = WORLD_NOW - 7200;
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER;
	body("visit-party-member", W_PARTY, &req);
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_NEIGHBOUR_CHECK;
	body("visit-neighbour-check", W_NEIGHBOUR, &req);
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_HEALTH, v.elder_id = "e3";
	body("visit-health", W_HEALTH, &req);
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE, v.elder_id = "e2";
	v.visited_at = WORLD_NOW - 100 * 86400;
	body("visit-phone-long-ago", W_GRID, &req);

	/* The visit already in the world: the same content is a duplicate,
	 * other content a conflict. */
	uint8_t stored[16];
	world_id(stored, WORLD_VISIT_TAG);
	wire_init(WIRE_VISIT, &v);
	v.id.data = stored, v.id.len = 16, v.elder_id = "e1";
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR, v.visited_at = WORLD_NOW - 86400;
	v.has_location = 1, v.lat = 46.7312, v.lon = 122.9105;
	body("visit-duplicate", W_GRID, &req);
	v.note = "改过";
	body("visit-conflict", W_GRID, &req);
}

static void care_events(void)
{
	uint8_t id[16];
	memset(id, 0x52, sizeof id);
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = id, ev.id.len = 16, ev.elder_id = "e1";
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_URGENT, ev.occurred_at = WORLD_NOW - 600;
	ev.note = "在院子里摔倒";
	tf_request req = request(OP(CARE_EVENT));
	req.care_event = &ev;
	body("care-event-fall", W_GRID, &req);
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_SERVICE_DELIVERED;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_INFO, ev.aid = TANFANG__V1__AID__AID_MEALS;
	ev.elder_id = "e2";
	body("care-event-service", W_GRID, &req);
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DECEASED, ev.aid = 0;
	ev.elder_id = "e4";
	body("care-event-deceased", W_GRID, &req);
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DISCHARGED, ev.elder_id = "e1";
	body("care-event-discharged", W_SUPERVISOR, &req);
	ev.occurred_at = INT64_MIN;
	body("regress-care-event-occurred-at-int64-min", W_GRID, &req);
	ev.occurred_at = INT64_MAX;
	body("regress-care-event-occurred-at-int64-max", W_GRID, &req);

	uint8_t stored[16];
	world_id(stored, WORLD_EVENT_TAG);
	Tanfang__V1__CorrectEvent ce = TANFANG__V1__CORRECT_EVENT__INIT;
	ce.event_id.data = stored, ce.event_id.len = 16, ce.note = "误报";
	req = request(OP(CORRECT_EVENT));
	req.correct_event = &ce;
	body("correct-event", W_SUPERVISOR, &req);
}

static void registry(void)
{
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = "152223100202", a.name = "永安嘎查", a.parent = "152223100";
	a.contact = "13904821234";
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req = request(OP(PUT_AREA));
	req.put_area = &pa;
	body("put-area", W_ADMIN, &req);
	envelope("envelope-put-area", W_ADMIN, &req, -1);
	req.effective_at = INT64_MAX;
	body("regress-put-area-effective-at-int64-max", W_ADMIN, &req);
	req.effective_at = INT64_MIN;
	body("regress-put-area-effective-at-int64-min", W_ADMIN, &req);
	req.effective_at = 0;
	a.parent = "152223100"; /* an area its own ancestor */
	a.code = "152223";
	body("put-area-cycle", W_ADMIN, &req);

	Tanfang__V1__Category cats[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE,
	                                TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED};
	char *visitors[] = {"g1", "p1"}, *neighbours[] = {"n1", "n2"};
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = "e5", e.name = "孟和巴雅尔", e.area = "152223100201";
	e.address = "巴彦乌兰嘎查三组9号", e.birth_date = "1944-02-29";
	e.has_location = 1, e.lat = 46.7338, e.lon = 122.9071, e.phone = "13847401106";
	e.categories = cats, e.n_categories = 2,
	e.risk_tier = TANFANG__V1__RISK_TIER__RISK_TIER_KEY;
	e.visitors = visitors, e.n_visitors = 2, e.neighbours = neighbours, e.n_neighbours = 2;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	req = request(OP(PUT_ELDER));
	req.put_elder = &pe;
	body("put-elder", W_ADMIN, &req);
	e.name = "\xe5\xad\x9f\xff";
	body("regress-put-elder-invalid-utf8", W_ADMIN, &req);
	e.name = "孟和巴雅尔";
	e.birth_date = "1944-13-45";
	body("put-elder-bad-date", W_ADMIN, &req);
	e.birth_date = "1944-02-29";

	tf_elder e6 = e;
	e6.id = "e6", e6.name = "包金花", e6.n_neighbours = 0;
	tf_elder *list[] = {&e, &e6};
	Tanfang__V1__ImportElders ie = TANFANG__V1__IMPORT_ELDERS__INIT;
	ie.elders = list, ie.n_elders = 2;
	req = request(OP(IMPORT_ELDERS));
	req.import_elders = &ie;
	body("import-elders", W_ADMIN, &req);

	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = "g2", v.name = "新网格员", v.role = TANFANG__V1__ROLE__ROLE_GRID_WORKER;
	v.area = "152223200301", v.contact = "13900000000";
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	req = request(OP(PUT_VISITOR));
	req.put_visitor = &pv;
	body("put-visitor", W_ADMIN, &req);
	v.id = "admin", v.role = TANFANG__V1__ROLE__ROLE_VOLUNTEER;
	body("put-visitor-demote-admin", W_ADMIN, &req);

	struct keypair fresh;
	uint8_t seed[32];
	memset(seed, 0x33, sizeof seed);
	if (crypto_sign_seed_keypair(fresh.pk, fresh.sk, seed) != 0)
		failures++;
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = fresh.pk, ek.public_key.len = 32, ek.visitor_id = "g1";
	req = request(OP(ENROL_KEY));
	req.enrol_key = &ek;
	body("enrol-key", W_ADMIN, &req);
	ek.public_key.len = 31;
	body("enrol-key-short", W_ADMIN, &req);

	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	rk.public_key.data = keys[W_PARTY].pk, rk.public_key.len = 32;
	req = request(OP(REVOKE_KEY));
	req.revoke_key = &rk;
	body("revoke-key", W_ADMIN, &req);

	Tanfang__V1__SetNeighbours sn = TANFANG__V1__SET_NEIGHBOURS__INIT;
	sn.elder_id = "e2", sn.neighbours = neighbours, sn.n_neighbours = 2;
	req = request(OP(SET_NEIGHBOURS));
	req.set_neighbours = &sn;
	body("set-neighbours", W_ADMIN, &req);
	Tanfang__V1__SetVisitors sv = TANFANG__V1__SET_VISITORS__INIT;
	char *health[] = {"h1"};
	sv.elder_id = "e3", sv.visitors = health, sv.n_visitors = 1;
	req = request(OP(SET_VISITORS));
	req.set_visitors = &sv;
	body("set-visitors", W_ADMIN, &req);

	static const int whats[] = {1, 2, 3, 4};
	static const char *const what_names[] = {"areas", "elders", "visitors", "keys"};
	Tanfang__V1__GetRegistry gr = TANFANG__V1__GET_REGISTRY__INIT;
	req = request(OP(GET_REGISTRY));
	req.get_registry = &gr;
	for (int i = 0; i < 4; i++) {
		char name[64];
		gr.what = whats[i];
		snprintf(name, sizeof name, "get-registry-%s", what_names[i]);
		body(name, W_ADMIN, &req);
	}
	gr.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS;
	body("get-registry-elders-by-supervisor", W_SUPERVISOR, &req);
}

static void queries(void)
{
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	oq.area = "152223", oq.horizon_s = 7 * 86400, oq.limit = 10;
	tf_request req = request(OP(OVERDUE));
	req.overdue = &oq;
	body("overdue", W_SUPERVISOR, &req);
	envelope("envelope-overdue", W_SUPERVISOR, &req, -1);
	oq.area = "", oq.rule = "neighbour_check", oq.visitor_id = "n1", oq.horizon_s = 0;
	body("overdue-by-grid-worker", W_GRID, &req);
	oq.area = "152223", oq.rule = "", oq.visitor_id = "";
	oq.horizon_s = INT64_MAX, oq.offset = UINT32_MAX, oq.limit = UINT32_MAX;
	body("regress-overdue-extremes", W_SUPERVISOR, &req);
	oq.horizon_s = INT64_MIN, oq.offset = 0, oq.limit = 0;
	body("regress-overdue-horizon-int64-min", W_SUPERVISOR, &req);

	Tanfang__V1__ReportQuery rq = TANFANG__V1__REPORT_QUERY__INIT;
	rq.area = "152223", rq.month = "2026-12";
	req = request(OP(REPORT));
	req.report = &rq;
	body("report", W_SUPERVISOR, &req);
	rq.month = "2026-11", rq.as_filed = 1;
	body("report-as-filed", W_SUPERVISOR, &req);
	rq.month = "9999-99", rq.as_filed = 0;
	body("report-bad-month", W_SUPERVISOR, &req);

	Tanfang__V1__FileReport fr = TANFANG__V1__FILE_REPORT__INIT;
	fr.area = "152223100", fr.month = "2026-11";
	req = request(OP(FILE_REPORT));
	req.file_report = &fr;
	body("file-report", W_SUPERVISOR, &req);

	Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	hq.elder_id = "e1", hq.limit = 20;
	req = request(OP(ELDER_HISTORY));
	req.elder_history = &hq;
	body("elder-history", W_SUPERVISOR, &req);
	hq.limit = UINT32_MAX;
	body("regress-elder-history-limit-uint32-max", W_GRID, &req);

	Tanfang__V1__ActivityQuery aq = TANFANG__V1__ACTIVITY_QUERY__INIT;
	aq.area = "152223", aq.period = "2026-12";
	req = request(OP(ACTIVITY));
	req.activity = &aq;
	body("activity-month", W_SUPERVISOR, &req);
	aq.period = "2026-Q4", aq.visitor_id = "g1";
	body("activity-quarter", W_SUPERVISOR, &req);

	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	ap.limit = 50, ap.lease_s = 300;
	req = request(OP(ALERTS_PENDING));
	req.alerts_pending = &ap;
	body("alerts-pending", W_DISPATCHER, &req);
	ap.lease_s = UINT32_MAX;
	body("regress-alerts-lease-uint32-max", W_DISPATCHER, &req);
	ap.limit = UINT32_MAX, ap.lease_s = 0;
	body("regress-alerts-limit-uint32-max", W_DISPATCHER, &req);

	uint8_t ids[2][16];
	memset(ids[0], 0x41, 16), memset(ids[1], 0x42, 16);
	ProtobufCBinaryData done[] = {{16, ids[0]}}, failed[] = {{16, ids[1]}};
	Tanfang__V1__AlertsAck aa = TANFANG__V1__ALERTS_ACK__INIT;
	aa.ids = done, aa.n_ids = 1, aa.failed = failed, aa.n_failed = 1;
	req = request(OP(ALERTS_ACK));
	req.alerts_ack = &aa;
	body("alerts-ack", W_DISPATCHER, &req);

	req = request(TANFANG__V1__REQUEST__OP__NOT_SET);
	body("no-op", W_ADMIN, &req);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	if (envelope_init() < 0)
		return 1;
	for (int s = 0; s < W_COUNT; s++)
		if (world_key(s, &keys[s]) < 0)
			return 1;
	visits();
	care_events();
	registry();
	queries();
	/* Frames that are no Envelope at all. */
	raw("envelope-empty", "", 0);
	raw("envelope-not-protobuf", "\xff\xff\xff\xff\x0f garbage", 14);
	static const uint8_t short_signer[] = {0x0a, 0x02, 0x01, 0x02, 0x12, 0x00, 0x1a, 0x00};
	raw("envelope-short-signer", short_signer, sizeof short_signer);
	return failures ? 1 : 0;
}
