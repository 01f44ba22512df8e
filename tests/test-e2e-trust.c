/* End to end: every kind of bad input gets its specific status, nothing
 * refused is stored, and the daemon stays up and keeps serving. Real daemon,
 * real CURVE, real signatures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "net.h"
#include "store.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

#define MAX_MSG 65536 /* the daemon runs with this max_message_size */

static struct tft_daemon d;
static struct keypair k1, k2;
static int accepted; /* records the daemon acknowledged OK */

/* One frame over a fresh connection, waiting for one reply (no ref
 * matching: some refusals cannot name a body). Returns the status; *ref_len
 * (may be NULL) gets the reply's ref length. */
static int raw_call(const uint8_t *frame, size_t len, size_t *ref_len)
{
	struct net *n;
	CHECK_OK(net_connect(d.endpoint, tft_daemon_key(&d), &k1, &n));
	CHECK_OK(net_send(n, frame, len));
	uint8_t *buf;
	size_t blen;
	CHECK_OK(net_recv(n, 10000, &buf, &blen));
	net_close(n);
	tf_reply *rep;
	CHECK_OK(wire_unpack(WIRE_REPLY, buf, blen, (void **)&rep));
	free(buf);
	int st = rep->status;
	if (ref_len)
		*ref_len = rep->ref.len;
	CHECK(rep->detail && *rep->detail); /* every refusal says why */
	wire_free(WIRE_REPLY, rep);
	return st;
}

static int call_frame(struct rpc *r, const uint8_t *frame, size_t len)
{
	tf_reply *rep;
	CHECK_OK(rpc_call_sealed(r, frame, len, 10000, &rep));
	int st = rep->status;
	wire_free(WIRE_REPLY, rep);
	return st;
}

static void seal_visit(const struct keypair *kp, tf_visit *v, uint8_t **frame, size_t *len)
{
	tf_request req;
	tft_visit_request(&req, v);
	CHECK_OK(rpc_seal(kp, &req, frame, len));
}

static int send_visit(const struct keypair *kp, tf_visit *v)
{
	struct rpc *r;
	tft_rpc(&d, kp, &r);
	tf_request req;
	tft_visit_request(&req, v);
	int st = tft_call(r, &req, NULL);
	rpc_close(r);
	if (st == TANFANG__V1__STATUS__STATUS_OK)
		accepted++;
	return st;
}

/* Re-packs an envelope after a change made by edit. */
static void tamper(const uint8_t *frame, size_t len, void (*edit)(tf_envelope *), uint8_t **out,
                   size_t *out_len)
{
	tf_envelope *env;
	CHECK_OK(wire_unpack(WIRE_ENVELOPE, frame, len, (void **)&env));
	edit(env);
	CHECK_OK(wire_pack(WIRE_ENVELOPE, env, out, out_len));
	wire_free(WIRE_ENVELOPE, env);
}

static void flip_signature(tf_envelope *e)
{
	e->signature.data[17] ^= 0x01;
}
static void flip_body(tf_envelope *e)
{
	e->body.data[e->body.len - 1] ^= 0x01;
}
static void short_signer(tf_envelope *e)
{
	e->signer.len = 31;
}

static void setup_registry(void)
{
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	tft_put_area(admin, "152223100", "音德尔镇", "152223");
	tft_put_area(admin, "152223200", "好力保镇", "152223");
	tft_put_visitor(admin, "w1", "网格员一", ROLE(GRID_WORKER), "152223100");
	CHECK_OK(keys_generate(&k1));
	CHECK_OK(keys_generate(&k2));
	tft_enrol(admin, k1.pk, "w1");
	tft_enrol(admin, k2.pk, "w1");
	tft_put_elder(admin, "eA", "老人甲", "152223100", CAT(LIVING_ALONE));
	tft_put_elder(admin, "eB", "老人乙", "152223200", CAT(LIVING_ALONE));
	rpc_close(admin);
}

static void test_signatures(void)
{
	int64_t now = clock_now();
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(DOOR), now - 100);
	uint8_t *good, *bad;
	size_t glen, blen;
	seal_visit(&k1, &v, &good, &glen);

	struct rpc *r;
	tft_rpc(&d, &k1, &r);
	tamper(good, glen, flip_signature, &bad, &blen);
	CHECK_STATUS(call_frame(r, bad, blen), BAD_SIGNATURE); /* ref matched: body intact */
	free(bad);
	tamper(good, glen, flip_body, &bad, &blen);
	CHECK_STATUS(call_frame(r, bad, blen), BAD_SIGNATURE);
	free(bad);

	/* A 31-byte signer: malformed, with the ref so a pipelining client
	 * can still match the refusal to its request. */
	tamper(good, glen, short_signer, &bad, &blen);
	size_t ref_len = 0;
	CHECK_STATUS(raw_call(bad, blen, &ref_len), MALFORMED);
	CHECK_EQ_INT(ref_len, 32);
	free(bad);

	/* Nothing of the above was stored: the intact envelope is new. */
	CHECK_STATUS(call_frame(r, good, glen), OK);
	accepted++;
	CHECK_STATUS(call_frame(r, good, glen), DUPLICATE);
	rpc_close(r);
	free(good);
}

static void test_signers(void)
{
	int64_t now = clock_now();
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(PHONE), now - 50);

	/* A key nobody enrolled: refused at the connection (issue 8, item 3),
	 * which the client reports as the signature's refusal... */
	struct keypair stranger;
	CHECK_OK(keys_generate(&stranger));
	CHECK_STATUS(send_visit(&stranger, &v), UNKNOWN_SIGNER);
	/* ... and its envelope relayed over an enrolled connection is refused
	 * by its signature. */
	{
		uint8_t *frame;
		size_t len;
		seal_visit(&stranger, &v, &frame, &len);
		struct rpc *via;
		tft_rpc(&d, &k1, &via);
		CHECK_STATUS(call_frame(via, frame, len), UNKNOWN_SIGNER);
		rpc_close(via);
		free(frame);
	}

	/* A key that worked, then was revoked. */
	uint8_t id2[16];
	tft_random_id(id2);
	tf_visit v2;
	tft_make_visit(&v2, id2, "eA", KIND(DOOR), now - 40);
	CHECK_STATUS(send_visit(&k2, &v2), OK);
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	rk.public_key.data = k2.pk;
	rk.public_key.len = 32;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REVOKE_KEY;
	req.revoke_key = &rk;
	CHECK_STATUS(tft_call(admin, &req, NULL), OK);
	CHECK_STATUS(send_visit(&k2, &v), UNKNOWN_SIGNER);

	/* Outside the visitor's area scope. */
	uint8_t id3[16];
	tft_random_id(id3);
	tf_visit v3;
	tft_make_visit(&v3, id3, "eB", KIND(DOOR), now - 30);
	CHECK_STATUS(send_visit(&k1, &v3), FORBIDDEN);

	/* A registry change signed by an enrolled non-admin key. */
	struct rpc *r;
	tft_rpc(&d, &k1, &r);
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = "152223300";
	a.name = "自封的镇";
	a.parent = "152223";
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA;
	req.put_area = &pa;
	CHECK_STATUS(tft_call(r, &req, NULL), FORBIDDEN);
	rpc_close(r);

	/* The refused ones are fixed (in scope, signed by a live key) and are
	 * new, never DUPLICATE: nothing refused was stored. */
	CHECK_STATUS(send_visit(&k1, &v), OK);
	v3.elder_id = "eA";
	CHECK_STATUS(send_visit(&k1, &v3), OK);
	/* The area the worker tried to create does not exist: as admin, the
	 * same change is accepted as new. */
	CHECK_STATUS(tft_call(admin, &req, NULL), OK);
	rpc_close(admin);
}

static void test_malformed(void)
{
	/* Bytes that are no protobuf: 't' opens field 14 with the invalid
	 * wire type 4. */
	const char *text = "this is not an envelope";
	size_t ref_len = 99;
	CHECK_STATUS(raw_call((const uint8_t *)text, strlen(text), &ref_len), MALFORMED);
	CHECK_EQ_INT(ref_len, 0);
	/* Deterministic noise. */
	uint8_t noise[300];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof noise; i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (uint8_t)(x >> 16);
	}
	noise[0] = 0x0f; /* field 1, wire type 7: invalid */
	CHECK_STATUS(raw_call(noise, sizeof noise, NULL), MALFORMED);
	CHECK_STATUS(raw_call(NULL, 0, NULL), MALFORMED);

	/* A signed body that is not a Request (an unknown enum value). */
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", 99, clock_now());
	uint8_t *frame;
	size_t len;
	seal_visit(&k1, &v, &frame, &len);
	struct rpc *r;
	tft_rpc(&d, &k1, &r);
	CHECK_STATUS(call_frame(r, frame, len), MALFORMED);
	free(frame);

	/* A 15-byte visit id. */
	v.kind = KIND(DOOR);
	v.id.len = 15;
	seal_visit(&k1, &v, &frame, &len);
	CHECK_STATUS(call_frame(r, frame, len), MALFORMED);
	free(frame);
	v.id.len = 16;

	/* A request signed far in the future. */
	tf_request req;
	tft_visit_request(&req, &v);
	req.sent_at_ms = clock_now_ms() + 3600 * 1000;
	uint8_t *body;
	size_t blen;
	CHECK_OK(wire_pack(WIRE_REQUEST, &req, &body, &blen));
	CHECK_OK(envelope_seal(k1.sk, body, blen, &frame, &len));
	free(body);
	CHECK_STATUS(call_frame(r, frame, len), CLOCK_SKEW);
	free(frame);

	/* Every one of those ids is still free. */
	CHECK_STATUS(send_visit(&k1, &v), OK);
	rpc_close(r);
}

/* A good envelope followed by a second frame: the protocol's messages
 * are single frames, so the daemon refuses it. */
static void test_two_frames(void)
{
	struct net *n;
	CHECK_OK(net_connect(d.endpoint, d.curve_pub, &k1, &n));
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(DOOR), clock_now() - 10);
	uint8_t *frame;
	size_t len;
	seal_visit(&k1, &v, &frame, &len);
	const uint8_t *parts[] = {frame, (const uint8_t *)"x"};
	const size_t lens[] = {len, 1};
	CHECK_OK(net_send_parts(n, parts, lens, 2));
	uint8_t *buf;
	size_t blen;
	CHECK_OK(net_recv(n, 10000, &buf, &blen));
	tf_reply *rep;
	CHECK_OK(wire_unpack(WIRE_REPLY, buf, blen, (void **)&rep));
	CHECK_STATUS(rep->status, MALFORMED);
	CHECK(strstr(rep->detail, "2 frames") != NULL);
	wire_free(WIRE_REPLY, rep);
	free(buf);
	net_close(n);

	/* The envelope itself was not stored. */
	CHECK_STATUS(send_visit(&k1, &v), OK);
	free(frame);
}

static void test_sizes(void)
{
	/* Above max_message_size, below the hard limit: a reply, with the
	 * ref of the body so a pipelining client can match it. */
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(DOOR), clock_now() - 5);
	char *note = malloc(MAX_MSG + 100);
	CHECK(note != NULL);
	memset(note, 'a', MAX_MSG + 99);
	note[MAX_MSG + 99] = '\0';
	v.note = note;
	uint8_t *frame;
	size_t len;
	seal_visit(&k1, &v, &frame, &len);
	CHECK(len > MAX_MSG && len < 2 * MAX_MSG);
	struct rpc *r;
	tft_rpc(&d, &k1, &r);
	CHECK_STATUS(call_frame(r, frame, len), TOO_LARGE);
	free(frame);

	/* Above the hard limit (2 * max + 4096): ZeroMQ drops the connection;
	 * no reply, no crash. */
	size_t huge_len = 3 * MAX_MSG;
	uint8_t *huge = calloc(1, huge_len);
	CHECK(huge != NULL);
	struct net *n;
	CHECK_OK(net_connect(d.endpoint, tft_daemon_key(&d), &k1, &n));
	CHECK_OK(net_send(n, huge, huge_len));
	uint8_t *buf;
	size_t blen;
	CHECK_EQ_INT(net_recv(n, 1500, &buf, &blen), TF_E_TIMEOUT);
	net_close(n);
	free(huge);
	CHECK(tft_daemon_alive(&d));

	/* A note of honest size gets through on the same client. */
	v.note = "正常";
	CHECK_STATUS(send_visit(&k1, &v), OK);
	free(note);
	rpc_close(r);
}

int main(void)
{
	tft_daemon_init(&d);
	char conf[PATH_MAX];
	snprintf(conf, sizeof conf, "%s/tanfangd.conf", d.dir);
	FILE *f = fopen(conf, "w");
	CHECK(f != NULL);
	fprintf(f, "[daemon]\nmax_message_size = %d\n", MAX_MSG);
	CHECK_EQ_INT(fclose(f), 0);
	const char *extra[] = {"--config", conf, NULL};
	tft_daemon_start(&d, extra);
	setup_registry();

	test_signatures();
	test_signers();
	test_malformed();
	test_two_frames();
	test_sizes();

	/* After all of it the daemon is up and serving. */
	CHECK(tft_daemon_alive(&d));
	uint8_t id[16];
	tft_random_id(id);
	tf_visit v;
	tft_make_visit(&v, id, "eA", KIND(PHONE), clock_now());
	CHECK_STATUS(send_visit(&k1, &v), OK);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	/* The store holds exactly the records that were acknowledged OK. */
	struct store *st;
	struct store_options so = {.read_only = true};
	CHECK_OK(store_open(d.data, &so, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	size_t n;
	CHECK_OK(store_count(txn, DB_RECORDS, &n));
	CHECK_EQ_INT(n, accepted);
	store_txn_abort(txn);
	store_close(st);
	return tft_done();
}
