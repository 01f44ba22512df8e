/* End to end (issue 8, items 1 and 2): registry authorisation on both sides
 * of a change, admins at or above one's scope out of reach, the offline
 * recovery of the root admin, and each signed request taking effect (or
 * being answered) once, across a restart. Real daemon, CURVE, signatures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

static struct tft_daemon d;
static struct keypair ka1, kg1, ka2, ksb;

#define CHECK_ST(got, want)                                                                        \
	do {                                                                                       \
		int got_ = (got);                                                                  \
		if (got_ != (want))                                                                \
			tft_fail(__FILE__, __LINE__, "got %s, expected %s (%s)",                   \
			         wire_status_name(got_), wire_status_name(want), detail);          \
		tft_pass();                                                                        \
	} while (0)

static char detail[256];

static int put_area(const struct keypair *k, const char *code, const char *parent)
{
	struct rpc *r;
	tft_rpc(&d, k, &r);
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = (char *)code, a.name = "区", a.parent = (char *)parent;
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_AREA), req.put_area = &pa;
	int st = tft_call(r, &req, detail);
	rpc_close(r);
	return st;
}

static void visitor_request(tf_request *req, tf_visitor *v, Tanfang__V1__PutVisitor *pv,
                            const char *id, int role, const char *area)
{
	wire_init(WIRE_VISITOR, v);
	v->id = (char *)id, v->name = "某人", v->role = role, v->area = (char *)area;
	*pv = (Tanfang__V1__PutVisitor)TANFANG__V1__PUT_VISITOR__INIT;
	pv->visitor = v;
	wire_init(WIRE_REQUEST, req);
	req->op_case = OP(PUT_VISITOR), req->put_visitor = pv;
}

static int put_visitor(const struct keypair *k, const char *id, int role, const char *area)
{
	struct rpc *r;
	tft_rpc(&d, k, &r);
	tf_visitor v;
	Tanfang__V1__PutVisitor pv;
	tf_request req;
	visitor_request(&req, &v, &pv, id, role, area);
	int st = tft_call(r, &req, detail);
	rpc_close(r);
	return st;
}

static int put_elder(const struct keypair *k, const char *id, const char *area)
{
	struct rpc *r;
	tft_rpc(&d, k, &r);
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = (char *)id, e.name = "老人", e.area = (char *)area;
	Tanfang__V1__Category cats[] = {CAT(LIVING_ALONE)};
	e.categories = cats, e.n_categories = 1;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_ELDER), req.put_elder = &pe;
	int st = tft_call(r, &req, detail);
	rpc_close(r);
	return st;
}

static int key_op(const struct keypair *k, bool enrol, const uint8_t pk[32], const char *visitor)
{
	struct rpc *r;
	tft_rpc(&d, k, &r);
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	ProtobufCBinaryData b = {.len = 32, .data = (uint8_t *)pk};
	if (enrol) {
		ek.public_key = b, ek.visitor_id = (char *)visitor;
		req.op_case = OP(ENROL_KEY), req.enrol_key = &ek;
	} else {
		rk.public_key = b;
		req.op_case = OP(REVOKE_KEY), req.revoke_key = &rk;
	}
	int st = tft_call(r, &req, detail);
	rpc_close(r);
	return st;
}

/* What the root admin sees of one visitor / area now (role or parent into
 * out); returns 0 or -1 if absent. */
static int lookup(int what, const char *id, char *out, size_t outlen)
{
	struct rpc *r;
	tft_admin_rpc(&d, &r);
	Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
	g.what = what, g.limit = 1000;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(GET_REGISTRY), req.get_registry = &g;
	tf_reply *rep;
	CHECK_OK(rpc_call(r, &req, 10000, &rep));
	CHECK_EQ_INT(rep->status, ST(OK));
	int found = -1;
	const Tanfang__V1__RegistryList *l = rep->registry;
	for (size_t i = 0; l && i < l->n_visitors; i++)
		if (strcmp(l->visitors[i]->id, id) == 0) {
			snprintf(out, outlen, "%s@%s", wire_role_name(l->visitors[i]->role),
			         l->visitors[i]->area);
			found = 0;
		}
	for (size_t i = 0; l && i < l->n_areas; i++)
		if (strcmp(l->areas[i]->code, id) == 0) {
			snprintf(out, outlen, "%s", l->areas[i]->parent);
			found = 0;
		}
	for (size_t i = 0; l && i < l->n_elders; i++)
		if (strcmp(l->elders[i]->id, id) == 0) {
			snprintf(out, outlen, "%s", l->elders[i]->area);
			found = 0;
		}
	wire_free(WIRE_REPLY, rep);
	rpc_close(r);
	return found;
}

#define WHAT(x) TANFANG__V1__GET_REGISTRY__WHAT__WHAT_##x

static void expect_state(int what, const char *id, const char *want)
{
	char got[128] = "";
	CHECK_EQ_INT(lookup(what, id, got, sizeof got), 0);
	CHECK_STR(got, want);
}

static void setup(void)
{
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	tft_put_area(admin, "152223100", "音德尔镇", "152223");
	tft_put_area(admin, "152223100201", "一村", "152223100");
	tft_put_area(admin, "152223200", "好力保镇", "152223");
	tft_put_area(admin, "152224", "科右中旗", "");
	tft_put_area(admin, "152224100", "巴彦呼舒镇", "152224");
	/* a1: the admin of one township. */
	tft_put_visitor(admin, "a1", "镇管理员", ROLE(ADMIN), "152223100");
	tft_put_visitor(admin, "g1", "网格员", ROLE(GRID_WORKER), "152223100201");
	tft_put_visitor(admin, "sb", "旗督导", ROLE(SUPERVISOR), "152224");
	CHECK_OK(keys_generate(&ka1));
	CHECK_OK(keys_generate(&kg1));
	CHECK_OK(keys_generate(&ksb));
	tft_enrol(admin, ka1.pk, "a1");
	tft_enrol(admin, kg1.pk, "g1");
	tft_enrol(admin, ksb.pk, "sb");
	tft_put_elder(admin, "eB", "外旗老人", "152224100", CAT(LIVING_ALONE));
	rpc_close(admin);
}

/* Item 1: an area admin acts on both sides of its scope only. */
static void test_scope_both_sides(void)
{
	/* The issue's inputs: another banner moved under one's township, and
	 * the root admin demoted to a grid worker. */
	CHECK_ST(put_area(&ka1, "152224", "152223100"), ST(FORBIDDEN));
	expect_state(WHAT(AREAS), "152224", "");
	CHECK_ST(put_visitor(&ka1, "admin", ROLE(GRID_WORKER), "152223100"), ST(FORBIDDEN));
	expect_state(WHAT(VISITORS), "admin", "admin@");
	/* ... the same on other banners' elders and supervisors. */
	CHECK_ST(put_elder(&ka1, "eB", "152223100201"), ST(FORBIDDEN));
	expect_state(WHAT(ELDERS), "eB", "152224100");
	CHECK_ST(put_visitor(&ka1, "sb", ROLE(GRID_WORKER), "152223100201"), ST(FORBIDDEN));
	expect_state(WHAT(VISITORS), "sb", "supervisor@152224");
	/* A township (another's) moved into one's own village. */
	CHECK_ST(put_area(&ka1, "152223200", "152223100201"), ST(FORBIDDEN));
	expect_state(WHAT(AREAS), "152223200", "152223");
	/* Its own scope root cannot leave its parent either. */
	CHECK_ST(put_area(&ka1, "152223100", "152224"), ST(FORBIDDEN));
	/* Inside the scope, all is allowed: new elders, moves, new villages. */
	CHECK_ST(put_area(&ka1, "152223100202", "152223100"), ST(OK));
	CHECK_ST(put_elder(&ka1, "eA", "152223100201"), ST(OK));
	CHECK_ST(put_elder(&ka1, "eA", "152223100202"), ST(OK));
	expect_state(WHAT(ELDERS), "eA", "152223100202");
	/* ... but not out of it. */
	CHECK_ST(put_elder(&ka1, "eA", "152223200"), ST(FORBIDDEN));
	expect_state(WHAT(ELDERS), "eA", "152223100202");
}

/* Item 1: admins at or above one's scope are out of reach. */
static void test_admins(void)
{
	/* No key for the root admin, no revoking its key. */
	CHECK_ST(key_op(&ka1, true, ka1.pk, "admin"), ST(FORBIDDEN));
	CHECK_ST(key_op(&ka1, false, d.admin.pk, NULL), ST(FORBIDDEN));
	/* No peer admin at one's own scope (no one below the root could undo
	 * it); an admin for a village inside is fine, and stays changeable. */
	CHECK_ST(put_visitor(&ka1, "a1b", ROLE(ADMIN), "152223100"), ST(FORBIDDEN));
	CHECK_ST(put_visitor(&ka1, "av", ROLE(ADMIN), "152223100201"), ST(OK));
	CHECK_ST(put_visitor(&ka1, "av", ROLE(GRID_WORKER), "152223100201"), ST(OK));
	/* One cannot demote oneself... */
	CHECK_ST(put_visitor(&ka1, "a1", ROLE(GRID_WORKER), "152223100"), ST(FORBIDDEN));
	expect_state(WHAT(VISITORS), "a1", "admin@152223100");
	/* ... nor revoke the key one signs with; another of one's own keys,
	 * yes (a lost phone). */
	CHECK_ST(key_op(&ka1, false, ka1.pk, NULL), ST(FORBIDDEN));
	struct keypair spare;
	CHECK_OK(keys_generate(&spare));
	CHECK_ST(key_op(&ka1, true, spare.pk, "a1"), ST(OK));
	CHECK_ST(key_op(&ka1, false, spare.pk, NULL), ST(OK));
	/* An area admin revokes the keys of its own grid workers. */
	struct keypair gspare;
	CHECK_OK(keys_generate(&gspare));
	CHECK_ST(key_op(&ka1, true, gspare.pk, "g1"), ST(OK));
	CHECK_ST(key_op(&ka1, false, gspare.pk, NULL), ST(OK));
	/* The root admin may add a second root admin and give it a key, but
	 * even the root admin cannot then demote it: only recover-admin
	 * changes a root admin. */
	CHECK_ST(put_visitor(&d.admin, "a2", ROLE(ADMIN), ""), ST(OK));
	CHECK_OK(keys_generate(&ka2));
	CHECK_ST(key_op(&d.admin, true, ka2.pk, "a2"), ST(OK));
	CHECK_ST(put_visitor(&ka2, "admin", ROLE(GRID_WORKER), "152223100"), ST(FORBIDDEN));
	CHECK_ST(key_op(&ka2, false, d.admin.pk, NULL), ST(FORBIDDEN));
	CHECK_ST(put_visitor(&d.admin, "a2", ROLE(SUPERVISOR), "152223"), ST(FORBIDDEN));
	/* The root admin still governs area admins. */
	CHECK_ST(put_visitor(&d.admin, "a1", ROLE(ADMIN), "152223100"), ST(OK));
}

/* Item 1: the way back is offline, with the data folder. */
static void test_recovery(void)
{
	const char *daemon = getenv("TANFANGD");
	char keyfile[PATH_MAX + 32], out[2048];
	snprintf(keyfile, sizeof keyfile, "%s/recovered.key", d.dir);
	const char *argv[] = {daemon, "recover-admin", "--data", d.data, "--key", keyfile, NULL};
	/* A key enrolled for someone else is refused, nothing changed. */
	char g1file[PATH_MAX + 32];
	snprintf(g1file, sizeof g1file, "%s/g1.key", d.dir);
	CHECK_OK(keys_save(g1file, &kg1));
	const char *argv_bad[] = {daemon, "recover-admin", "--data", d.data, "--key", g1file, NULL};
	CHECK_EQ_INT(tft_run(argv_bad, out, sizeof out, 30), 1);
	CHECK(strstr(out, "another visitor") != NULL);
	/* A new key file is made, enrolled for the root admin. */
	CHECK_EQ_INT(tft_run(argv, out, sizeof out, 30), 0);
	CHECK(strstr(out, "root admin again") != NULL);
	struct keypair rec;
	CHECK_OK(keys_load(keyfile, &rec));
	tft_daemon_start(&d, NULL);
	CHECK_ST(put_area(&rec, "152225", ""), ST(OK));
	/* Run again with the same key: nothing to do, still fine. */
	tft_daemon_stop(&d);
	CHECK_EQ_INT(tft_run(argv, out, sizeof out, 30), 0);
	const char *help[] = {daemon, "recover-admin", "--help", NULL};
	CHECK_EQ_INT(tft_run(help, out, sizeof out, 30), 0);
	CHECK(strstr(out, "recover-admin") != NULL);
}

static int call_sealed(const struct keypair *k, const uint8_t *frame, size_t len)
{
	struct rpc *r;
	tft_rpc(&d, k, &r);
	tf_reply *rep;
	CHECK_OK(rpc_call_sealed(r, frame, len, 10000, &rep));
	int st = rep->status;
	snprintf(detail, sizeof detail, "%s", rep->detail ? rep->detail : "");
	wire_free(WIRE_REPLY, rep);
	rpc_close(r);
	return st;
}

/* Item 2: a write replayed inside the skew window has no effect, also after
 * a restart; a query and an alert fetch are answered once. */
static void test_replay(void)
{
	uint8_t *promote, *demote;
	size_t plen, dlen;
	tf_visitor v;
	Tanfang__V1__PutVisitor pv;
	tf_request req;
	visitor_request(&req, &v, &pv, "g1", ROLE(ADMIN), "152223100201");
	CHECK_OK(rpc_seal(&d.admin, &req, &promote, &plen));
	CHECK_ST(call_sealed(&d.admin, promote, plen), ST(OK));
	expect_state(WHAT(VISITORS), "g1", "admin@152223100201");
	visitor_request(&req, &v, &pv, "g1", ROLE(GRID_WORKER), "152223100201");
	CHECK_OK(rpc_seal(&d.admin, &req, &demote, &dlen));
	CHECK_ST(call_sealed(&d.admin, demote, dlen), ST(OK));
	/* Anyone who saw the promotion resends it: no effect. */
	CHECK_ST(call_sealed(&kg1, promote, plen), ST(REPLAYED));
	expect_state(WHAT(VISITORS), "g1", "grid_worker@152223100201");
	/* The memory of writes survives a restart, even a kill -9. */
	tft_daemon_kill9(&d);
	tft_daemon_start(&d, NULL);
	CHECK_ST(call_sealed(&kg1, promote, plen), ST(REPLAYED));
	CHECK_ST(call_sealed(&kg1, demote, dlen), ST(REPLAYED));
	expect_state(WHAT(VISITORS), "g1", "grid_worker@152223100201");
	free(promote);
	free(demote);

	/* The same change signed again (a new envelope) is a new request. */
	CHECK_ST(put_visitor(&d.admin, "g1", ROLE(GRID_WORKER), "152223100201"), ST(OK));

	/* An alert fetch replayed would lease every alert away from the real
	 * dispatcher. */
	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	ap.limit = 10, ap.lease_s = 60;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ALERTS_PENDING), req.alerts_pending = &ap;
	uint8_t *fetch;
	size_t flen;
	CHECK_OK(rpc_seal(&d.admin, &req, &fetch, &flen));
	CHECK_ST(call_sealed(&d.admin, fetch, flen), ST(OK));
	CHECK_ST(call_sealed(&d.admin, fetch, flen), ST(REPLAYED));
	free(fetch);

	/* A query is answered to one envelope once. */
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(OVERDUE), req.overdue = &oq;
	uint8_t *query;
	size_t qlen;
	CHECK_OK(rpc_seal(&ksb, &req, &query, &qlen));
	CHECK_ST(call_sealed(&ksb, query, qlen), ST(OK));
	CHECK_ST(call_sealed(&kg1, query, qlen), ST(REPLAYED));
	free(query);
	/* The same query signed again is answered (the client signs each). */
	struct rpc *r;
	tft_rpc(&d, &ksb, &r);
	CHECK_ST(tft_call(r, &req, detail), ST(OK));
	CHECK_ST(tft_call(r, &req, detail), ST(OK));
	rpc_close(r);
	/* A key nobody enrolled leaves no trace: carried by an enrolled
	 * connection (as the web gateway carries a browser's), its query is
	 * UNKNOWN_SIGNER, and so is the same envelope again, not REPLAYED
	 * (it was never remembered, so a flood of them fills nothing). */
	struct keypair stranger;
	CHECK_OK(keys_generate(&stranger));
	CHECK_OK(rpc_seal(&stranger, &req, &query, &qlen));
	CHECK_ST(call_sealed(&ksb, query, qlen), ST(UNKNOWN_SIGNER));
	CHECK_ST(call_sealed(&ksb, query, qlen), ST(UNKNOWN_SIGNER));
	free(query);

	/* Outside the skew window a write is refused as before. */
	visitor_request(&req, &v, &pv, "g1", ROLE(ADMIN), "152223100201");
	req.sent_at_ms = clock_now_ms() - 601 * 1000;
	uint8_t *body, *old;
	size_t blen, olen;
	CHECK_OK(wire_pack(WIRE_REQUEST, &req, &body, &blen));
	CHECK_OK(envelope_seal(d.admin.sk, body, blen, &old, &olen));
	free(body);
	CHECK_ST(call_sealed(&d.admin, old, olen), ST(CLOCK_SKEW));
	free(old);
}

int main(void)
{
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	setup();
	test_scope_both_sides();
	test_admins();
	test_replay();
	tft_daemon_stop(&d);
	test_recovery();
	return tft_done();
}
