/* In-process request harness for unit tests of the request path: a store in
 * a temporary folder, an ingest context, and helpers that seal requests with
 * real Ed25519 keys and run them through ingest_verify / ingest_write_batch /
 * ingest_query exactly as the daemon's pipeline does, minus the sockets. */
#ifndef TF_INPROC_H
#define TF_INPROC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "ingest.h"
#include "keys.h"
#include "policy.h"
#include "store.h"
#include "wire.h"

struct inproc {
	struct store *st;
	struct ingest *ig;
	struct keypair admin;
	char dir[512];
};

static inline void inproc_fail(const char *what, int r)
{
	fprintf(stderr, "inproc: %s failed: %s\n", what, tf_strerror(r));
	exit(1);
}

/* map_size: the LMDB map in bytes (tests of a full store use a small one). */
static inline void inproc_open_map(struct inproc *p, const char *tmpdir, size_t map_size)
{
	snprintf(p->dir, sizeof p->dir, "%s/store", tmpdir);
	int r = envelope_init();
	if (r < 0)
		inproc_fail("envelope_init", r);
	struct store_options o = {.map_size = map_size};
	if ((r = store_open(p->dir, &o, &p->st)) < 0)
		inproc_fail("store_open", r);
	if ((r = keys_generate(&p->admin)) < 0)
		inproc_fail("keys_generate", r);
	if ((r = ingest_bootstrap(p->st, p->admin.pk)) < 0)
		inproc_fail("ingest_bootstrap", r);
	if ((r = ingest_new(p->st, NULL, &p->ig)) < 0)
		inproc_fail("ingest_new", r);
}

static inline void inproc_open(struct inproc *p, const char *tmpdir)
{
	inproc_open_map(p, tmpdir, 64u << 20);
}

static inline void inproc_close(struct inproc *p)
{
	ingest_free(p->ig);
	store_close(p->st);
}

/* Seals req (sent_at_ms = now unless set) with key into a frame. */
static inline void inproc_seal(const struct keypair *key, tf_request *req, uint8_t **frame,
                               size_t *len)
{
	if (!req->sent_at_ms)
		req->sent_at_ms = clock_now_ms();
	/* A counter, not random bytes: runs stay reproducible, and two calls
	 * alike under the pinned clock are still two requests. */
	static uint64_t counter;
	uint8_t nonce[8];
	uint64_t c = ++counter;
	memcpy(nonce, &c, sizeof nonce);
	ProtobufCBinaryData given = req->nonce;
	if (!given.len)
		req->nonce = (ProtobufCBinaryData){.len = sizeof nonce, .data = nonce};
	uint8_t *body;
	size_t bl;
	int r = wire_pack(WIRE_REQUEST, req, &body, &bl);
	req->nonce = given;
	if (r < 0)
		inproc_fail("wire_pack", r);
	r = envelope_seal(key->sk, body, bl, frame, len);
	free(body);
	if (r < 0)
		inproc_fail("envelope_seal", r);
}

/* Runs one frame through the pipeline; returns the decoded Reply. */
static inline tf_reply *inproc_frame(struct inproc *p, const uint8_t *frame, size_t len)
{
	struct job *j;
	int r = ingest_verify(p->ig, frame, len, &j);
	if (r < 0)
		inproc_fail("ingest_verify", r);
	if (job_route(j) == JOB_WRITE) {
		r = ingest_write_batch(p->ig, &j, 1);
		(void)r; /* the reply carries the outcome */
	} else if (job_route(j) == JOB_READ) {
		if ((r = ingest_query(p->ig, j)) < 0)
			inproc_fail("ingest_query", r);
	}
	uint8_t *out;
	size_t ol;
	if ((r = job_reply(j, &out, &ol)) < 0)
		inproc_fail("job_reply", r);
	job_free(j);
	tf_reply *rep;
	if ((r = wire_unpack(WIRE_REPLY, out, ol, (void **)&rep)) < 0)
		inproc_fail("reply unpack", r);
	free(out);
	return rep;
}

/* req: a Request carrying visit v (borrowed). */
static inline void inproc_visit_request(tf_request *req, tf_visit *v)
{
	wire_init(WIRE_REQUEST, req);
	req->op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req->visit = v;
}

/* A write job for req signed by key, verified, ready for a batch of
 * ingest_write_batch (the caller frees it with job_free). */
static inline struct job *inproc_write_job(struct inproc *p, const struct keypair *key,
                                           tf_request *req)
{
	uint8_t *frame;
	size_t len;
	inproc_seal(key, req, &frame, &len);
	struct job *j;
	int r = ingest_verify(p->ig, frame, len, &j);
	free(frame);
	if (r < 0)
		inproc_fail("ingest_verify", r);
	if (job_route(j) != JOB_WRITE)
		inproc_fail("not a write job", job_status(j));
	return j;
}

static inline tf_reply *inproc_call(struct inproc *p, const struct keypair *key, tf_request *req)
{
	uint8_t *frame;
	size_t len;
	inproc_seal(key, req, &frame, &len);
	tf_reply *rep = inproc_frame(p, frame, len);
	free(frame);
	return rep;
}

/* Status only; prints the detail when it is not the expected one. */
static inline int inproc_status(struct inproc *p, const struct keypair *key, tf_request *req)
{
	tf_reply *rep = inproc_call(p, key, req);
	int s = rep->status;
	if (s != TANFANG__V1__STATUS__STATUS_OK)
		fprintf(stderr, "  (reply %s: %s)\n", wire_status_name(s), rep->detail);
	wire_free(WIRE_REPLY, rep);
	return s;
}

static inline int inproc_area(struct inproc *p, const char *code, const char *name,
                              const char *parent)
{
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = (char *)code, a.name = (char *)name, a.parent = (char *)parent;
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA;
	req.put_area = &pa;
	return inproc_status(p, &p->admin, &req);
}

/* Registers a visitor with a new key (returned in kp) enrolled. */
static inline int inproc_visitor(struct inproc *p, const char *id, const char *name, int role,
                                 const char *area, struct keypair *kp)
{
	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = (char *)id, v.name = (char *)name, v.role = role, v.area = (char *)area;
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_VISITOR;
	req.put_visitor = &pv;
	int s = inproc_status(p, &p->admin, &req);
	if (s != TANFANG__V1__STATUS__STATUS_OK || !kp)
		return s;
	if (keys_generate(kp) < 0)
		inproc_fail("keys_generate", -1);
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = kp->pk, ek.public_key.len = 32;
	ek.visitor_id = (char *)id;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
	req.enrol_key = &ek;
	return inproc_status(p, &p->admin, &req);
}

/* Registers an elder; categories is a 0-terminated list; neighbours and
 * visitors NULL-terminated lists (either may be NULL). */
static inline int inproc_elder(struct inproc *p, const char *id, const char *name, const char *area,
                               const int *categories, const char *const *visitors,
                               const char *const *neighbours)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = (char *)id, e.name = (char *)name, e.area = (char *)area;
	Tanfang__V1__Category cats[8];
	size_t n = 0;
	while (categories && categories[n] && n < 8) {
		cats[n] = categories[n];
		n++;
	}
	e.categories = cats, e.n_categories = n;
	for (n = 0; visitors && visitors[n]; n++)
		;
	e.visitors = (char **)visitors, e.n_visitors = n;
	for (n = 0; neighbours && neighbours[n]; n++)
		;
	e.neighbours = (char **)neighbours, e.n_neighbours = n;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	return inproc_status(p, &p->admin, &req);
}

/* Fills a visit; id is derived from `seed` so tests can resend it. */
static inline void inproc_visit(tf_visit *v, uint8_t id[16], unsigned seed, const char *elder,
                                int kind, int64_t when)
{
	wire_init(WIRE_VISIT, v);
	memset(id, 0, 16);
	memcpy(id, &seed, sizeof seed);
	id[15] = 0x5a;
	v->id.data = id, v->id.len = 16;
	v->elder_id = (char *)elder;
	v->kind = kind;
	v->visited_at = when;
}

static inline int inproc_submit_visit(struct inproc *p, const struct keypair *key, tf_visit *v)
{
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req.visit = v;
	return inproc_status(p, key, &req);
}

#endif
