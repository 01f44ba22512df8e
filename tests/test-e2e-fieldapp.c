/* End to end (issue 10, item 3): the field app's download, field_elders,
 * against the real daemon. A key of a field role gets the elders it may
 * record for (its area, its assignments, the households it is a "1+2"
 * neighbour for) and its own due list for them; what it is given is what
 * the daemon then accepts a visit for, and nothing else. Paging, the
 * horizon, an elder entered in error, and the roles that record nothing
 * (dispatcher) are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

#define BANNER "152223"
#define TOWN   "152223100"
#define VA     "152223100201"
#define VB     "152223100202"
#define TOWN2  "152223101"

static struct tft_daemon d;

/* Sends field_elders signed by kp; returns the reply (caller frees). */
static tf_reply *field_elders(const struct keypair *kp, const char *after, unsigned limit,
                              int64_t horizon_s)
{
	struct rpc *r;
	tft_rpc(&d, kp, &r);
	Tanfang__V1__FieldElders fe = TANFANG__V1__FIELD_ELDERS__INIT;
	fe.after = (char *)after, fe.limit = limit, fe.horizon_s = horizon_s;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(FIELD_ELDERS), req.field_elders = &fe;
	tf_reply *rep;
	CHECK_OK(rpc_call(r, &req, 10000, &rep));
	rpc_close(r);
	return rep;
}

/* The elder ids of a reply, joined by ",", with each one's reasons
 * ("E1:area+visitor"). */
static void elders_of(const tf_reply *rep, char *out, size_t size)
{
	out[0] = '\0';
	const Tanfang__V1__FieldElderList *l = rep->field_elders;
	for (size_t i = 0; i < l->n_elders; i++) {
		size_t at = strlen(out);
		snprintf(out + at, size - at, "%s%s:", i ? "," : "", l->elders[i]->elder->id);
		for (size_t j = 0; j < l->elders[i]->n_why; j++) {
			at = strlen(out);
			snprintf(out + at, size - at, "%s%s", j ? "+" : "", l->elders[i]->why[j]);
		}
	}
}

/* The due list as "elder/rule/holder", in the reply's order. */
static void due_of(const tf_reply *rep, char *out, size_t size)
{
	out[0] = '\0';
	const Tanfang__V1__FieldElderList *l = rep->field_elders;
	for (size_t i = 0; i < l->n_due; i++) {
		size_t at = strlen(out);
		snprintf(out + at, size - at, "%s%s/%s/%s", i ? "," : "", l->due[i]->elder_id,
		         l->due[i]->rule, l->due[i]->duty_visitor);
		if (i)
			CHECK(l->due[i - 1]->due_at <= l->due[i]->due_at); /* earliest first */
	}
}

/* The elders (with reasons) kp's field list gives, all pages of two. */
static void field_list_is_at(const char *file, int line, const struct keypair *kp, const char *want)
{
	char all[2100] = "", page[1024], after[80] = "";
	for (int pages = 0; pages < 20; pages++) {
		tf_reply *rep = field_elders(kp, after, 2, 0);
		if (rep->status != TANFANG__V1__STATUS__STATUS_OK)
			tft_fail(file, line, "field list refused: %s", rep->detail);
		elders_of(rep, page, sizeof page);
		if (*page)
			snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s",
			         *all ? "," : "", page);
		snprintf(after, sizeof after, "%s", rep->field_elders->next);
		wire_free(WIRE_REPLY, rep);
		if (!*after)
			break;
	}
	if (strcmp(all, want) != 0)
		tft_fail(file, line, "field list: got \"%s\", want \"%s\"", all, want);
	tft_pass();
}
#define field_list_is(kp, want) field_list_is_at(__FILE__, __LINE__, kp, want)

static void put_elder(struct rpc *admin, const char *id, const char *area, const char *visitor,
                      const char *n1, const char *n2)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = (char *)id, e.name = "老人", e.area = (char *)area;
	Tanfang__V1__Category cats[] = {CAT(LIVING_ALONE)};
	e.categories = cats, e.n_categories = 1;
	char *vis[] = {(char *)visitor}, *nb[] = {(char *)n1, (char *)n2};
	e.visitors = vis, e.n_visitors = visitor ? 1 : 0;
	e.neighbours = nb, e.n_neighbours = n1 ? 2 : 0;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_ELDER), req.put_elder = &pe;
	char detail[256];
	int st = tft_call(admin, &req, detail);
	if (st != TANFANG__V1__STATUS__STATUS_OK)
		tft_fail(__FILE__, __LINE__, "put elder %s: %s", id, detail);
	tft_pass();
}

/* A door visit by kp to elder, now; returns the status. */
static int visit(const struct keypair *kp, const char *elder)
{
	struct rpc *r;
	tft_rpc(&d, kp, &r);
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, elder, TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR, clock_now() - 60);
	tf_request req;
	tft_visit_request(&req, &v);
	int st = tft_call(r, &req, NULL);
	rpc_close(r);
	return st;
}

int main(void)
{
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, BANNER, "扎赉特旗", "");
	tft_put_area(admin, TOWN, "镇", BANNER);
	tft_put_area(admin, VA, "甲村", TOWN);
	tft_put_area(admin, VB, "乙村", TOWN);
	tft_put_visitor(admin, "gw", "网格员", ROLE(GRID_WORKER), VA);
	tft_put_visitor(admin, "pm", "党员", ROLE(PARTY_MEMBER), VB);
	tft_put_visitor(admin, "nb", "邻居", ROLE(NEIGHBOUR), VB);
	tft_put_visitor(admin, "nb2", "邻居二", ROLE(NEIGHBOUR), VA);
	tft_put_visitor(admin, "disp", "调度", ROLE(DISPATCHER), BANNER);
	/* E1 in village A: party member pm assigned, households nb and nb2.
	 * E2 in A, nobody assigned. E3 in B with nb and nb2. E4 in B. */
	put_elder(admin, "E1", VA, "pm", "nb", "nb2");
	put_elder(admin, "E2", VA, NULL, NULL, NULL);
	put_elder(admin, "E3", VB, NULL, "nb", "nb2");
	put_elder(admin, "E4", VB, NULL, NULL, NULL);
	struct keypair kgw, kpm, knb, knb2, kdisp;
	CHECK_OK(keys_generate(&kgw));
	CHECK_OK(keys_generate(&kpm));
	CHECK_OK(keys_generate(&knb));
	CHECK_OK(keys_generate(&knb2));
	CHECK_OK(keys_generate(&kdisp));
	tft_enrol(admin, kgw.pk, "gw");
	tft_enrol(admin, kpm.pk, "pm");
	tft_enrol(admin, knb.pk, "nb");
	tft_enrol(admin, knb2.pk, "nb2");
	tft_enrol(admin, kdisp.pk, "disp");
	rpc_close(admin);

	char got[1024];
	const int64_t week = 7 * 86400, forty = 40 * 86400;

	/* 1. The grid worker of village A: its area's elders; the monthly visit
	 *    is its duty, the party member's and the households' are not; E2's
	 *    missing "1+2" is its to arrange (as `overdue --visitor` says). */
	tf_reply *rep = field_elders(&kgw, "", 0, forty);
	CHECK_STATUS(rep->status, OK);
	CHECK_EQ_INT(rep->result_case, TANFANG__V1__REPLY__RESULT_FIELD_ELDERS);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E1:area,E2:area");
	due_of(rep, got, sizeof got);
	CHECK(strstr(got, "E1/monthly_visit/") != NULL);
	CHECK(strstr(got, "E2/monthly_visit/") != NULL);
	CHECK(strstr(got, "/pm") == NULL && strstr(got, "/nb") == NULL);
	CHECK(strstr(got, "E2/1+2_not_set_up/") != NULL);
	CHECK(strstr(got, "E1/1+2_not_set_up/") == NULL);
	CHECK_STREQ(rep->field_elders->next, "");
	CHECK_STREQ(rep->field_elders->visitor->id, "gw");
	CHECK_EQ_INT(rep->field_elders->visitor->role, ROLE(GRID_WORKER));
	CHECK(rep->field_elders->now > 0);
	/* The elder comes whole: its name and lists, for search on the phone. */
	CHECK_STREQ(rep->field_elders->elders[0]->elder->name, "老人");
	CHECK_EQ_INT(rep->field_elders->elders[0]->elder->n_neighbours, 2);
	wire_free(WIRE_REPLY, rep);

	/* Without a horizon, only what is due by now: no visit yet (a new
	 * elder's first month is not over), only E2's missing "1+2". */
	rep = field_elders(&kgw, "", 0, 0);
	CHECK_STATUS(rep->status, OK);
	due_of(rep, got, sizeof got);
	CHECK_EQ_INT(rep->field_elders->n_due, 1);
	CHECK(strstr(got, "E2/1+2_not_set_up/") != NULL);
	CHECK_EQ_INT(rep->field_elders->n_elders, 2);
	wire_free(WIRE_REPLY, rep);

	/* 2. The party member of village B: E1 (assigned, in another village)
	 *    and B's own elders; its own party duty for E1. */
	rep = field_elders(&kpm, "", 0, forty);
	CHECK_STATUS(rep->status, OK);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E1:visitor,E3:area,E4:area");
	due_of(rep, got, sizeof got);
	CHECK(strstr(got, "E1/party_member/pm") != NULL);
	CHECK(strstr(got, "E1/monthly_visit/") != NULL);
	CHECK(strstr(got, "E3/monthly_visit/") != NULL);
	CHECK(strstr(got, "not_set_up") == NULL); /* village staff's, not a party member's */
	wire_free(WIRE_REPLY, rep);

	/* 3. A "1+2" household of village A: E1 and E3 as a neighbour (E3 lies
	 *    in B), E1 and E2 by area; its own weekly checks. For an elder it
	 *    is only a neighbour of, the monthly visit is not listed. */
	rep = field_elders(&knb2, "", 0, week + 86400);
	CHECK_STATUS(rep->status, OK);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E1:area+neighbour,E2:area,E3:neighbour");
	due_of(rep, got, sizeof got);
	CHECK(strstr(got, "E1/neighbour_check/nb2") != NULL);
	CHECK(strstr(got, "E3/neighbour_check/nb2") != NULL);
	CHECK(strstr(got, "E3/monthly_visit") == NULL);
	size_t gl = strlen(got);
	CHECK(strstr(got, "/nb,") == NULL && !(gl > 3 && strcmp(got + gl - 3, "/nb") == 0));
	wire_free(WIRE_REPLY, rep);

	/* 4. What the phone is given is what the daemon accepts: gw may visit
	 *    E1 and E2, not E3; nb2 may visit E3 (a neighbour) across the
	 *    village boundary. */
	CHECK_STATUS(visit(&kgw, "E1"), OK);
	CHECK_STATUS(visit(&kgw, "E2"), OK);
	CHECK_STATUS(visit(&kgw, "E3"), FORBIDDEN);
	CHECK_STATUS(visit(&knb2, "E3"), OK);

	/* 5. Paging by id: one elder a page, `next` to go on, "" at the end. */
	rep = field_elders(&kpm, "", 1, 0);
	CHECK_STATUS(rep->status, OK);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E1:visitor");
	CHECK_STREQ(rep->field_elders->next, "E1");
	wire_free(WIRE_REPLY, rep);
	rep = field_elders(&kpm, "E1", 1, 0);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E3:area");
	CHECK_STREQ(rep->field_elders->next, "E3");
	wire_free(WIRE_REPLY, rep);
	rep = field_elders(&kpm, "E3", 1, 0);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E4:area");
	wire_free(WIRE_REPLY, rep);
	rep = field_elders(&kpm, "E4", 1, 0);
	CHECK_EQ_INT(rep->field_elders->n_elders, 0);
	CHECK_STREQ(rep->field_elders->next, "");
	wire_free(WIRE_REPLY, rep);

	/* 6. Refusals: a dispatcher records nothing; a horizon beyond a year;
	 *    a limit beyond 5000. A field role still may not run the offices'
	 *    queries. */
	rep = field_elders(&kdisp, "", 0, 0);
	CHECK_STATUS(rep->status, FORBIDDEN);
	CHECK_EQ_INT(rep->result_case, TANFANG__V1__REPLY__RESULT__NOT_SET);
	wire_free(WIRE_REPLY, rep);
	rep = field_elders(&kgw, "", 0, 400 * 86400);
	CHECK_STATUS(rep->status, INVALID);
	wire_free(WIRE_REPLY, rep);
	rep = field_elders(&kgw, "", 5001, 0);
	CHECK_STATUS(rep->status, MALFORMED);
	wire_free(WIRE_REPLY, rep);
	{
		struct rpc *r;
		tft_rpc(&d, &kgw, &r);
		Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(OVERDUE), req.overdue = &oq;
		CHECK_STATUS(tft_call(r, &req, NULL), FORBIDDEN);
		rpc_close(r);
	}

	/* 7. An elder entered in error (removed) leaves every list. */
	{
		struct rpc *r;
		tft_admin_rpc(&d, &r);
		Tanfang__V1__RemoveElder re = TANFANG__V1__REMOVE_ELDER__INIT;
		re.elder_id = "E2";
		re.reason = TANFANG__V1__REMOVE_ELDER__REASON__REASON_ENTERED_IN_ERROR;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(REMOVE_ELDER), req.remove_elder = &re;
		CHECK_STATUS(tft_call(r, &req, NULL), OK);
		rpc_close(r);
	}
	rep = field_elders(&kgw, "", 0, forty);
	CHECK_STATUS(rep->status, OK);
	elders_of(rep, got, sizeof got);
	CHECK_STREQ(got, "E1:area");
	due_of(rep, got, sizeof got);
	CHECK(strstr(got, "E2/") == NULL);
	wire_free(WIRE_REPLY, rep);

	/* 8. A revoked key gets nothing. */
	{
		struct rpc *r;
		tft_admin_rpc(&d, &r);
		Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
		rk.public_key.data = knb.pk, rk.public_key.len = 32;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(REVOKE_KEY), req.revoke_key = &rk;
		CHECK_STATUS(tft_call(r, &req, NULL), OK);
		/* The revoked key cannot even open a connection; carried by
		 * another (as the web gateway carries a phone's envelopes),
		 * its envelope is refused. */
		Tanfang__V1__FieldElders fe = TANFANG__V1__FIELD_ELDERS__INIT;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(FIELD_ELDERS), req.field_elders = &fe;
		uint8_t *frame;
		size_t len;
		CHECK_OK(rpc_seal(&knb, &req, &frame, &len));
		tf_reply *rr;
		CHECK_OK(rpc_call_sealed(r, frame, len, 10000, &rr));
		CHECK_STATUS(rr->status, UNKNOWN_SIGNER);
		wire_free(WIRE_REPLY, rr);
		free(frame);
		rpc_close(r);
	}

	/* 9. The elders in a scope come from the area index: a township's
	 *    worker gets its villages' elders; an area moved under another
	 *    township and an elder moved to another village follow at once;
	 *    a store whose index is missing is indexed when the daemon starts. */
	struct keypair ktw, ktw2;
	CHECK_OK(keys_generate(&ktw));
	CHECK_OK(keys_generate(&ktw2));
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, TOWN2, "二镇", BANNER);
	tft_put_visitor(admin, "tw", "镇网格员", ROLE(GRID_WORKER), TOWN);
	tft_put_visitor(admin, "tw2", "二镇网格员", ROLE(GRID_WORKER), TOWN2);
	tft_enrol(admin, ktw.pk, "tw");
	tft_enrol(admin, ktw2.pk, "tw2");
	field_list_is(&ktw, "E1:area,E3:area,E4:area");
	field_list_is(&ktw2, "");
	tft_put_area(admin, VB, "乙村", TOWN2); /* village B moves to the second township */
	field_list_is(&ktw, "E1:area");
	field_list_is(&ktw2, "E3:area,E4:area");
	field_list_is(&kpm, "E1:visitor,E3:area,E4:area"); /* in B still */
	put_elder(admin, "E4", VA, NULL, NULL, NULL);      /* E4 moves to village A */
	field_list_is(&ktw, "E1:area,E4:area");
	field_list_is(&ktw2, "E3:area");
	field_list_is(&kgw, "E1:area,E4:area");
	put_elder(admin, "E0", VB, "pm", NULL, NULL); /* before E1 in id order */
	field_list_is(&kpm, "E0:area+visitor,E1:visitor,E3:area");
	rpc_close(admin);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
	{
		/* As a store from before the index: emptied, its mark gone. */
		struct store *st;
		CHECK_OK(store_open(d.data, &(struct store_options){0}, &st));
		struct store_txn *txn;
		CHECK_OK(store_txn_begin(st, true, NULL, &txn));
		CHECK_OK(store_clear(txn, DB_ELDER_AREAS));
		CHECK_OK(store_del(txn, DB_META, "elder-areas-index-v1", 20));
		CHECK_OK(store_txn_commit(txn));
		store_close(st);
	}
	tft_daemon_start(&d, NULL);
	field_list_is(&ktw, "E1:area,E4:area");
	field_list_is(&ktw2, "E0:area,E3:area");

	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
	return tft_done();
}
