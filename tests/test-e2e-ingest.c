/* End to end: the real daemon (CURVE on, as deployed), real LMDB in a
 * temporary folder, real signatures. Accept, dedupe, conflict, care event,
 * flags, queries, survival across a restart, and the audit log afterwards. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "envelope.h"
#include "net.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

static struct tft_daemon d;
static struct keypair worker;

/* Sends an already sealed frame; returns the reply (caller frees). */
static tf_reply *call_frame(struct rpc *r, const uint8_t *frame, size_t len)
{
	tf_reply *rep;
	CHECK_OK(rpc_call_sealed(r, frame, len, 10000, &rep));
	/* The reply names the request it answers. */
	tf_envelope *env;
	CHECK_OK(wire_unpack(WIRE_ENVELOPE, frame, len, (void **)&env));
	uint8_t ref[ENVELOPE_REF_LEN];
	envelope_ref(env->body.data, env->body.len, ref);
	wire_free(WIRE_ENVELOPE, env);
	CHECK_EQ_INT(rep->ref.len, ENVELOPE_REF_LEN);
	CHECK(memcmp(rep->ref.data, ref, ENVELOPE_REF_LEN) == 0);
	return rep;
}

static int send_visit(struct rpc *r, tf_visit *v)
{
	tf_request req;
	tft_visit_request(&req, v);
	return tft_call(r, &req, NULL);
}

static void setup_registry(void)
{
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	tft_put_area(admin, "152223100", "音德尔镇", "152223");
	tft_put_visitor(admin, "w1", "网格员一", ROLE(GRID_WORKER), "152223100");
	CHECK_OK(keys_generate(&worker));
	tft_enrol(admin, worker.pk, "w1");
	tft_put_elder(admin, "e1", "老人一", "152223100", CAT(LIVING_ALONE), CAT(EXTREME_POVERTY));
	rpc_close(admin);
}

static size_t history_len(struct rpc *r, const char *elder)
{
	Tanfang__V1__ElderHistoryQuery q = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	q.elder_id = (char *)elder;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ELDER_HISTORY;
	req.elder_history = &q;
	tf_reply *rep;
	CHECK_OK(rpc_call(r, &req, 10000, &rep));
	CHECK_STATUS(rep->status, OK);
	CHECK(rep->result_case == TANFANG__V1__REPLY__RESULT_HISTORY);
	CHECK_STREQ(rep->history->elder->id, elder);
	size_t n = rep->history->n_items;
	wire_free(WIRE_REPLY, rep);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

int main(void)
{
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	CHECK(d.curve); /* CURVE is the default on tcp:// */
	setup_registry();

	struct rpc *w;
	tft_rpc(&d, &worker, &w);
	int64_t now = clock_now();

	/* An accepted visit, then the very same envelope again. */
	uint8_t id1[16];
	tft_random_id(id1);
	tf_visit v1;
	tft_make_visit(&v1, id1, "e1", KIND(DOOR), now - 3600);
	v1.note = "一切正常";
	tf_request req;
	tft_visit_request(&req, &v1);
	uint8_t *frame1;
	size_t len1;
	CHECK_OK(rpc_seal(&worker, &req, &frame1, &len1));
	tf_reply *rep = call_frame(w, frame1, len1);
	CHECK_STATUS(rep->status, OK);
	CHECK_EQ_INT(rep->n_flags, 0);
	wire_free(WIRE_REPLY, rep);
	rep = call_frame(w, frame1, len1);
	CHECK_STATUS(rep->status, DUPLICATE);
	wire_free(WIRE_REPLY, rep);

	/* Re-signed later (another sent_at_ms, so another body and ref), same
	 * visit content: still a duplicate, as a device outbox resend is. */
	sleep_ms(5);
	uint8_t *frame1b;
	size_t len1b;
	CHECK_OK(rpc_seal(&worker, &req, &frame1b, &len1b));
	CHECK(len1b != len1 || memcmp(frame1b, frame1, len1) != 0);
	rep = call_frame(w, frame1b, len1b);
	CHECK_STATUS(rep->status, DUPLICATE);
	wire_free(WIRE_REPLY, rep);
	free(frame1b);

	/* Same id, other content: a conflict, refused. */
	tf_visit v1c = v1;
	v1c.note = "另一份记录";
	CHECK_STATUS(send_visit(w, &v1c), CONFLICT);
	v1c = v1;
	v1c.kind = KIND(PHONE);
	CHECK_STATUS(send_visit(w, &v1c), CONFLICT);

	/* A care event, and its resend. */
	uint8_t eid[16];
	tft_random_id(eid);
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = eid;
	ev.id.len = 16;
	ev.elder_id = "e1";
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_WARNING;
	ev.occurred_at = now - 600;
	ev.note = "在院子里摔倒";
	tf_request ereq;
	tft_event_request(&ereq, &ev);
	CHECK_STATUS(tft_call(w, &ereq, NULL), OK);
	CHECK_STATUS(tft_call(w, &ereq, NULL), DUPLICATE);

	/* A visit dated two hours ahead (beyond the 10-minute skew) is refused
	 * with its own status: it would satisfy duties not yet done. */
	uint8_t id2[16];
	tft_random_id(id2);
	tf_visit v2;
	tft_make_visit(&v2, id2, "e1", KIND(PHONE), now + 7200);
	tft_visit_request(&req, &v2);
	CHECK_OK(rpc_call(w, &req, 10000, &rep));
	CHECK_STATUS(rep->status, DATED_IN_FUTURE);
	CHECK_EQ_INT(rep->n_flags, 0);
	wire_free(WIRE_REPLY, rep);

	/* Unknown elder. */
	uint8_t id3[16];
	tft_random_id(id3);
	tf_visit v3;
	tft_make_visit(&v3, id3, "nobody", KIND(DOOR), now);
	CHECK_STATUS(send_visit(w, &v3), UNKNOWN_ELDER);

	/* A read goes through a worker's read transaction: the visit and the
	 * event are in the elder's history (the future-dated visit is not). */
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	CHECK_EQ_INT(history_len(admin, "e1"), 2);
	rpc_close(admin);

	/* Without the server's CURVE key a client gets nowhere. */
	struct rpc *plain;
	CHECK_OK(rpc_open(d.endpoint, NULL, &worker, &plain));
	tft_visit_request(&req, &v3);
	CHECK_EQ_INT(rpc_call(plain, &req, 1000, &rep), TF_E_TIMEOUT);
	rpc_close(plain);
	/* A wrong CURVE key is refused by net_connect. */
	CHECK_EQ_INT(rpc_open(d.endpoint, "not-a-z85-key", &worker, &plain), -EINVAL);
	rpc_close(w);

	/* Clean stop, restart: everything acknowledged is still there. */
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
	tft_daemon_start(&d, NULL);
	tft_rpc(&d, &worker, &w);
	rep = call_frame(w, frame1, len1);
	CHECK_STATUS(rep->status, DUPLICATE);
	wire_free(WIRE_REPLY, rep);
	CHECK_STATUS(send_visit(w, &v1c), CONFLICT);
	CHECK_STATUS(tft_call(w, &ereq, NULL), DUPLICATE);
	CHECK_STATUS(send_visit(w, &v2), DATED_IN_FUTURE);
	/* The refused unknown-elder visit was not stored: after the elder
	 * exists, the same id is accepted. */
	tft_admin_rpc(&d, &admin);
	tft_put_elder(admin, "nobody", "新登记老人", "152223100", CAT(EMPTY_NEST));
	CHECK_STATUS(send_visit(w, &v3), OK);
	CHECK_EQ_INT(history_len(admin, "e1"), 2);
	CHECK_EQ_INT(history_len(admin, "nobody"), 1);
	rpc_close(admin);
	rpc_close(w);
	free(frame1);

	/* The same over a daemon without CURVE (the --no-curve test mode). */
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
	const char *no_curve[] = {"--no-curve", NULL};
	tft_daemon_start(&d, no_curve);
	CHECK(tft_daemon_key(&d) == NULL);
	tft_rpc(&d, &worker, &w);
	CHECK_STATUS(send_visit(w, &v1), DUPLICATE);
	uint8_t id4[16];
	tft_random_id(id4);
	tf_visit v4;
	tft_make_visit(&v4, id4, "e1", KIND(DOOR), now - 60);
	CHECK_STATUS(send_visit(w, &v4), OK);
	rpc_close(w);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	/* Every accepted envelope is in the hash-chained log: 6 registry
	 * changes (2 areas, visitor, key, 2 elders) and 4 records (the
	 * future-dated visit was refused). */
	char out[4096];
	const char *argv[] = {getenv("TANFANGD"), "verify-log", "--data", d.data, NULL};
	CHECK_EQ_INT(tft_run(argv, out, sizeof out, 60), 0);
	if (!strstr(out, "OK: 10 entries"))
		tft_fail(__FILE__, __LINE__, "verify-log said: %s", out);
	return tft_done();
}
