/* The request path in process: trust checks, dedupe, scope, registry
 * authority, atomic import, batching, and the audit log. */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "auditlog.h"
#include "hex.h"
#include "period.h"
#include "record.h"
#include "registry.h"
#include "replay.h"
#include "tf_inproc.h"
#include "tf_test.h"

#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x

static struct inproc p;
static struct keypair grid, other, super;
static const int special[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0};

static void setup(void)
{
	inproc_open(&p, tft_tmpdir());
	CHECK_EQ_INT(inproc_area(&p, "152223", "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223100", "音德尔镇", "152223"), ST(OK));
	CHECK_EQ_INT(inproc_area(&p, "152223200", "新林镇", "152223"), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员甲", ROLE(GRID_WORKER), "152223100", &grid),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g2", "网格员乙", ROLE(GRID_WORKER), "152223200", &other),
	             ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "s1", "督导", ROLE(SUPERVISOR), "152223", &super), ST(OK));
	CHECK_EQ_INT(inproc_elder(&p, "e1", "张秀英", "152223100", special, NULL, NULL), ST(OK));
	CHECK_EQ_INT(inproc_elder(&p, "e2", "王淑兰", "152223200", special, NULL, NULL), ST(OK));
}

static void test_accept_duplicate_conflict(void)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 1, "e1", KIND(DOOR), clock_now() - 3600);
	tf_request req;
	inproc_visit_request(&req, &v);
	uint8_t *frame;
	size_t len;
	inproc_seal(&grid, &req, &frame, &len);
	tf_reply *rep = inproc_frame(&p, frame, len);
	CHECK_EQ_INT(rep->status, ST(OK));
	/* The reply's ref is BLAKE2b-256 of the body, for matching. */
	CHECK_EQ_INT((int)rep->ref.len, 32);
	wire_free(WIRE_REPLY, rep);
	rep = inproc_frame(&p, frame, len);
	CHECK_EQ_INT(rep->status, ST(DUPLICATE));
	wire_free(WIRE_REPLY, rep);
	free(frame);
	/* Re-signed later with the same content: still a duplicate. */
	req.sent_at_ms = clock_now_ms() + 5;
	CHECK_EQ_INT(inproc_status(&p, &grid, &req), ST(DUPLICATE));
	/* Same id, other content: conflict. */
	v.note = "改过的备注";
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(CONFLICT));
	/* Same id and content from another signer: conflict, never merged. */
	v.note = "";
	CHECK_EQ_INT(inproc_submit_visit(&p, &super, &v), ST(CONFLICT));
}

static void test_trust(void)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 2, "e1", KIND(PHONE), clock_now() - 60);
	tf_request req;
	inproc_visit_request(&req, &v);
	uint8_t *frame;
	size_t len;
	inproc_seal(&grid, &req, &frame, &len);
	/* Flip the last byte (inside the signature). */
	frame[len - 1] ^= 1;
	tf_reply *rep = inproc_frame(&p, frame, len);
	CHECK_EQ_INT(rep->status, ST(BAD_SIGNATURE));
	wire_free(WIRE_REPLY, rep);
	free(frame);

	struct keypair stranger;
	CHECK_OK(keys_generate(&stranger));
	CHECK_EQ_INT(inproc_submit_visit(&p, &stranger, &v), ST(UNKNOWN_SIGNER));
	/* Out of scope: g2 works in 新林镇, e1 lives in 音德尔镇. */
	CHECK_EQ_INT(inproc_submit_visit(&p, &other, &v), ST(FORBIDDEN));
	/* Unknown elder. */
	v.elder_id = "nobody";
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(UNKNOWN_ELDER));
	/* Wrong-sized id. */
	v.elder_id = "e1";
	v.id.len = 15;
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(MALFORMED));
	v.id.len = 16;
	/* A future-dated registry request is clock skew. */
	CHECK_EQ_INT(inproc_area(&p, "152223300", "x", "152223"), ST(OK));
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = "152223400", a.name = "y", a.parent = "152223";
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA;
	req.put_area = &pa;
	req.sent_at_ms = clock_now_ms() + 3600 * 1000;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(CLOCK_SKEW));
	/* A registry change by a non-admin key. */
	req.sent_at_ms = 0;
	CHECK_EQ_INT(inproc_status(&p, &super, &req), ST(FORBIDDEN));
	/* Garbage and empty frames. */
	uint8_t junk[40];
	memset(junk, 0xff, sizeof junk);
	rep = inproc_frame(&p, junk, sizeof junk);
	CHECK_EQ_INT(rep->status, ST(MALFORMED));
	wire_free(WIRE_REPLY, rep);
	rep = inproc_frame(&p, junk, 0);
	CHECK_EQ_INT(rep->status, ST(MALFORMED));
	wire_free(WIRE_REPLY, rep);
	/* Revoked key: refused as unknown signer. */
	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	rk.public_key.data = other.pk, rk.public_key.len = 32;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REVOKE_KEY;
	req.revoke_key = &rk;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
	v.elder_id = "e2";
	CHECK_EQ_INT(inproc_submit_visit(&p, &other, &v), ST(UNKNOWN_SIGNER));
	/* A revoked key cannot come back. */
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key = rk.public_key;
	ek.visitor_id = "g2";
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
	req.enrol_key = &ek;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(INVALID));
}

static void test_invalid_utf8(void)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 3, "e1", KIND(DOOR), clock_now());
	v.note = "\xc3\x28 bad";
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(MALFORMED));
	/* Nothing was stored: the fixed visit is new, not a conflict. */
	v.note = "ok";
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
}

static void test_import_atomic(void)
{
	tf_elder a, b;
	wire_init(WIRE_ELDER, &a);
	wire_init(WIRE_ELDER, &b);
	a.id = "i1", a.name = "李桂兰", a.area = "152223100";
	b.id = "i2", b.name = "赵凤英", b.area = "999999"; /* no such area */
	tf_elder *list[] = {&a, &b};
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = list, im.n_elders = 2;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &im;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(INVALID));
	/* i1 must not exist: a visit for it is an unknown elder. */
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 4, "i1", KIND(DOOR), clock_now());
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(UNKNOWN_ELDER));
	b.area = "152223100";
	req.sent_at_ms = 0;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
}

/* An elder with several problems gets them all in one reply, in an import
 * row's problem and a single registration alike: an office fixes the row
 * once. */
static void test_elder_problems(void)
{
	tf_elder a;
	wire_init(WIRE_ELDER, &a);
	char *nb[] = {"ghost", "ghost"};
	a.id = "pr1", a.name = "孙玉珍", a.area = "999999", a.sex = "F";
	a.birth_date = "1943-02-29";
	a.neighbours = nb, a.n_neighbours = 2;
	tf_elder *list[] = {&a};
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = list, im.n_elders = 1;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
	req.import_elders = &im;
	tf_reply *rep = inproc_call(&p, &p.admin, &req);
	CHECK_EQ_INT(rep->status, ST(INVALID));
	CHECK_EQ_INT(rep->n_problems, 1);
	const char *want[] = {"elder pr1: ",
	                      "birth date '1943-02-29' is not a valid",
	                      "sex must be male, female or empty",
	                      "area '999999' does not exist",
	                      "neighbour ghost is not a registered visitor",
	                      "neighbour ghost listed twice"};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		CHECK(rep->n_problems == 1 && strstr(rep->problems[0], want[i]) != NULL);
	/* The elder is named once, before the first problem. */
	const char *first = rep->n_problems ? strstr(rep->problems[0], "elder pr1") : NULL;
	CHECK(first && !strstr(first + 1, "elder pr1"));
	wire_free(WIRE_REPLY, rep);
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &a;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	a.area = "152223100", a.birth_date = "";
	rep = inproc_call(&p, &p.admin, &req);
	CHECK_EQ_INT(rep->status, ST(INVALID));
	CHECK_STREQ(rep->detail, "elder pr1: sex must be male, female or empty; neighbour ghost is "
	                         "not a registered visitor; neighbour ghost listed twice");
	wire_free(WIRE_REPLY, rep);
}

/* Several requests in one write transaction: each gets its own outcome and
 * a refused one undoes only itself. */
static void test_batch(void)
{
	tf_visit v[3];
	uint8_t id[3][16];
	inproc_visit(&v[0], id[0], 10, "e1", KIND(DOOR), clock_now());
	inproc_visit(&v[1], id[1], 10, "e1", KIND(PHONE), clock_now()); /* same id, other content */
	inproc_visit(&v[2], id[2], 11, "e1", KIND(DOOR), clock_now());
	struct job *jobs[3];
	for (int i = 0; i < 3; i++) {
		tf_request req;
		inproc_visit_request(&req, &v[i]);
		jobs[i] = inproc_write_job(&p, &grid, &req);
	}
	CHECK_OK(ingest_write_batch(p.ig, jobs, 3));
	CHECK_EQ_INT(job_status(jobs[0]), ST(OK));
	CHECK_EQ_INT(job_status(jobs[1]), ST(CONFLICT));
	CHECK_EQ_INT(job_status(jobs[2]), ST(OK));
	for (int i = 0; i < 3; i++)
		job_free(jobs[i]);
}

/* Registry changes inside a batch of visits (issue 12: the writer keeps
 * signers decoded): a key revoked, or enrolled, in the middle of a batch
 * counts for the requests after it in that same batch, and a batch that is
 * not committed leaves no signer behind. */
static void test_batch_signers(void)
{
	struct keypair k2;
	CHECK_OK(keys_generate(&k2));
	tf_request req;
	/* A second key for g1, enrolled in the batch; g1's first key revoked
	 * in it. Visits by each before and after. */
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = k2.pk, ek.public_key.len = 32;
	ek.visitor_id = "g1";
	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	rk.public_key.data = grid.pk, rk.public_key.len = 32;
	tf_visit v[4];
	uint8_t id[4][16];
	struct job *jobs[6];
	for (int i = 0; i < 4; i++)
		inproc_visit(&v[i], id[i], 40 + (unsigned)i, "e1", KIND(DOOR), clock_now() - 60);
	inproc_visit_request(&req, &v[0]);
	jobs[0] = inproc_write_job(&p, &grid, &req); /* old key, before: OK */
	inproc_visit_request(&req, &v[1]);
	jobs[1] = inproc_write_job(&p, &k2, &req); /* new key, before enrolment */
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
	req.enrol_key = &ek;
	jobs[2] = inproc_write_job(&p, &p.admin, &req);
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REVOKE_KEY;
	req.revoke_key = &rk;
	jobs[3] = inproc_write_job(&p, &p.admin, &req);
	inproc_visit_request(&req, &v[2]);
	jobs[4] = inproc_write_job(&p, &grid, &req); /* old key, after revocation */
	inproc_visit_request(&req, &v[3]);
	jobs[5] = inproc_write_job(&p, &k2, &req); /* new key, after enrolment */
	CHECK_OK(ingest_write_batch(p.ig, jobs, 6));
	static const int want[] = {ST(OK), ST(UNKNOWN_SIGNER), ST(OK),
	                           ST(OK), ST(UNKNOWN_SIGNER), ST(OK)};
	for (int i = 0; i < 6; i++) {
		CHECK_EQ_INT(job_status(jobs[i]), want[i]);
		job_free(jobs[i]);
	}
	/* And in the batches after it. */
	inproc_visit(&v[0], id[0], 44, "e1", KIND(DOOR), clock_now() - 60);
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v[0]), ST(UNKNOWN_SIGNER));
	CHECK_EQ_INT(inproc_submit_visit(&p, &k2, &v[0]), ST(OK));
	/* A key revoked by another process writing to the store (as
	 * tanfangd recover-admin may on a running daemon): the writer sees
	 * the gap in transaction ids and reads its signers again. */
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(registry_revoke_key(txn, k2.pk, clock_now()));
	CHECK_OK(store_txn_commit(txn));
	inproc_visit(&v[0], id[0], 45, "e1", KIND(DOOR), clock_now() - 60);
	CHECK_EQ_INT(inproc_submit_visit(&p, &k2, &v[0]), ST(UNKNOWN_SIGNER));
	/* g1 again, with a third key, for the tests after this one. */
	CHECK_OK(keys_generate(&grid));
	ek.public_key.data = grid.pk;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
	req.enrol_key = &ek;
	CHECK_EQ_INT(inproc_status(&p, &p.admin, &req), ST(OK));
}

/* Stored bytes of log entry seq (chain hash included). */
static size_t entry_size(uint64_t seq)
{
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	uint8_t key[8];
	store_be64(key, seq);
	const void *v;
	size_t vl = 0;
	CHECK_OK(store_get(txn, DB_LOG, key, 8, &v, &vl));
	store_txn_abort(txn);
	return vl;
}

/* Seals req by key with the Envelope's fields in reverse order: as valid,
 * but not what packing it again gives. */
static void seal_reversed(const struct keypair *key, tf_request *req, uint8_t **frame, size_t *len)
{
	uint8_t *f;
	size_t fl;
	inproc_seal(key, req, &f, &fl);
	tf_envelope *e;
	CHECK_OK(wire_unpack(WIRE_ENVELOPE, f, fl, (void **)&e));
	uint8_t *out = malloc(fl + 16), *o = out;
	*o++ = 0x1a, *o++ = 64; /* signature = 3 */
	memcpy(o, e->signature.data, 64), o += 64;
	*o++ = 0x12; /* body = 2, its length as a varint */
	size_t bl = e->body.len;
	do {
		*o++ = (uint8_t)((bl & 0x7f) | (bl > 0x7f ? 0x80 : 0));
		bl >>= 7;
	} while (bl);
	memcpy(o, e->body.data, e->body.len), o += e->body.len;
	*o++ = 0x0a, *o++ = 32; /* signer = 1 */
	memcpy(o, e->signer.data, 32), o += 32;
	*frame = out;
	*len = (size_t)(o - out);
	wire_free(WIRE_ENVELOPE, e);
	free(f);
}

/* A visit's log entry names its record instead of repeating it (issue 12),
 * and the frame comes back from the two byte for byte; a frame that would
 * not (another encoder's field order) is kept whole. Both verify. */
static void test_auditlog_short(void)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 60, "e1", KIND(DOOR), clock_now() - 60);
	tf_request req;
	inproc_visit_request(&req, &v);
	uint8_t *frame;
	size_t len;
	inproc_seal(&grid, &req, &frame, &len);
	tf_reply *rep = inproc_frame(&p, frame, len);
	CHECK_EQ_INT(rep->status, ST(OK));
	wire_free(WIRE_REPLY, rep);
	uint64_t n;
	uint8_t head[AUDITLOG_HASH_LEN];
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	CHECK_OK(auditlog_head(txn, &n, head));
	uint8_t *back;
	size_t back_len;
	CHECK_OK(auditlog_get(txn, n, &back, &back_len));
	store_txn_abort(txn);
	CHECK(back_len == len && memcmp(back, frame, len) == 0);
	/* Shorter than the frame it stands for, chain hash and all. */
	CHECK(entry_size(n) < AUDITLOG_HASH_LEN + len - 32);
	free(back);
	free(frame);
	/* Its copy of the elder's id (chain hash, mark, kind, id, signature,
	 * length, then the id) edited to another of the same length: found,
	 * then put back. */
	uint8_t key[8];
	store_be64(key, n);
	const void *val;
	size_t vl;
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_get(txn, DB_LOG, key, 8, &val, &vl));
	uint8_t *copy = malloc(vl);
	memcpy(copy, val, vl);
	CHECK(copy[32] == 0 && copy[115] == 'e' && copy[116] == '1');
	copy[116] = '2';
	CHECK_OK(store_put(txn, DB_LOG, key, 8, copy, vl, 0));
	CHECK_OK(store_txn_commit(txn));
	char err[256];
	uint64_t m;
	CHECK_EQ_INT(auditlog_verify(p.st, &m, err, sizeof err), TF_E_CORRUPT);
	CHECK(strstr(err, "names elder e2, but its visit was signed for e1") != NULL);
	copy[116] = '1';
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_put(txn, DB_LOG, key, 8, copy, vl, 0));
	CHECK_OK(store_txn_commit(txn));
	free(copy);
	CHECK_OK(auditlog_verify(p.st, &m, err, sizeof err));

	inproc_visit(&v, id, 61, "e1", KIND(DOOR), clock_now() - 60);
	req.sent_at_ms = 0;
	seal_reversed(&grid, &req, &frame, &len);
	rep = inproc_frame(&p, frame, len);
	CHECK_EQ_INT(rep->status, ST(OK));
	wire_free(WIRE_REPLY, rep);
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	CHECK_OK(auditlog_head(txn, &n, head));
	CHECK_OK(auditlog_get(txn, n, &back, &back_len));
	store_txn_abort(txn);
	CHECK(back_len == len && memcmp(back, frame, len) == 0);
	CHECK_EQ_INT((int)entry_size(n), (int)(AUDITLOG_HASH_LEN + len));
	free(back);
	free(frame);
	CHECK_OK(auditlog_verify(p.st, &n, err, sizeof err));
}

/* The checkpoints audit_after holds the store against (none by default). */
static const struct auditlog_mark *audit_marks;
static size_t audit_n_marks;

/* Runs the audit, against audit_marks; expects it to fail saying want
 * (NULL: to pass). */
static void audit_expect(const char *want)
{
	char err[300] = "";
	struct auditlog_report rep;
	int r = auditlog_audit(p.st, audit_marks, audit_n_marks, &rep, err, sizeof err);
	if (want) {
		CHECK_EQ_INT(r, TF_E_CORRUPT);
		if (!strstr(err, want))
			fprintf(stderr, "  audit said: %s\n  expected: %s\n", err, want);
		CHECK(strstr(err, want) != NULL);
	} else {
		if (r < 0)
			fprintf(stderr, "  audit said: %s\n", err);
		CHECK_OK(r);
	}
}

/* Edits db's value at key (NULL: deletes it), runs the audit, expects it
 * to fail saying want (NULL: to pass), and puts the old value back. */
static void audit_after(enum store_db db, const void *key, size_t kl, const void *val, size_t vl,
                        const char *want)
{
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	const void *old;
	size_t ol;
	CHECK_OK(store_get(txn, db, key, kl, &old, &ol));
	uint8_t *keep = malloc(ol + 1);
	memcpy(keep, old, ol);
	if (val)
		CHECK_OK(store_put(txn, db, key, kl, val, vl, 0));
	else
		CHECK_OK(store_del(txn, db, key, kl));
	CHECK_OK(store_txn_commit(txn));
	audit_expect(want);
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_put(txn, db, key, kl, keep, ol, 0));
	CHECK_OK(store_txn_commit(txn));
	free(keep);
}

/* What lies beside a record is audited too (found by a tampering test):
 * its history keys, its month index entry, and that its visitor is the
 * one its key was enrolled for. */
static void test_auditlog_indexes(void)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 70, "e1", KIND(DOOR), clock_now() - 60);
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
	char err[300];
	uint64_t n;
	CHECK_OK(auditlog_verify(p.st, &n, err, sizeof err));
	char idhex[33];
	hex_encode(id, 16, idhex);

	uint8_t key[4 + RECORD_HIST_KEY_MAX];
	size_t kl = record_hist_key(key, "e1", v.visited_at, id);
	audit_after(DB_ELDER_HIST, key, kl, NULL, 0, "is missing from elder e1's history");
	kl = record_hist_key(key, "g1", v.visited_at, id);
	audit_after(DB_VISITOR_HIST, key, kl, NULL, 0, "is missing from visitor g1's history");
	record_month_prefix(period_month_of(v.visited_at), key);
	kl = 4 + record_hist_key(key + 4, "e1", v.visited_at, id);
	audit_after(DB_MONTH_VISITS, key, kl, NULL, 0, "missing from the month index");
	/* The month entry's visitor changed: credited to someone else. */
	struct store_txn *txn;
	const void *val;
	size_t vl;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	CHECK_OK(store_get(txn, DB_MONTH_VISITS, key, kl, &val, &vl));
	uint8_t mv[128];
	CHECK(vl < sizeof mv);
	memcpy(mv, val, vl);
	store_txn_abort(txn);
	mv[vl - 1] = '2'; /* g1 -> g2 */
	audit_after(DB_MONTH_VISITS, key, kl, mv, vl, "differs from its record");

	/* The record credited to another visitor, content hash untouched
	 * (nothing signed changes). */
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	tf_record *rec;
	CHECK_OK(record_get(txn, id, &rec));
	store_txn_abort(txn);
	char *was = rec->visitor_id;
	rec->visitor_id = "g2";
	uint8_t *buf;
	size_t bl;
	CHECK_OK(wire_pack(WIRE_RECORD, rec, &buf, &bl));
	rec->visitor_id = was;
	wire_free(WIRE_RECORD, rec);
	audit_after(DB_RECORDS, id, 16, buf, bl, "names visitor g2, but its key is visitor g1's");
	free(buf);
	/* The signer's enrolment gone: a key nobody enrolled. */
	audit_after(DB_KEYS, grid.pk, 32, NULL, 0, "signed by a key that was never enrolled");
	/* Everything back: the audit passes again. */
	CHECK_OK(auditlog_verify(p.st, &n, err, sizeof err));
}

/* Re-dates visit rec's time of receipt in its record and its month index
 * entry alike, as an intruder would, audits (want as audit_expect), and
 * puts both back. */
static void redate_received(tf_record *rec, const uint8_t id[16], int64_t received,
                            const char *want)
{
	uint8_t mk[4 + RECORD_HIST_KEY_MAX];
	record_month_prefix(period_month_of(rec->visit->visited_at), mk);
	size_t mkl = 4 + record_hist_key(mk + 4, rec->visit->elder_id, rec->visit->visited_at, id);
	struct store_txn *txn;
	const void *val;
	size_t vl;
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_get(txn, DB_MONTH_VISITS, mk, mkl, &val, &vl));
	uint8_t mv[128], was_mv[128];
	CHECK(vl < sizeof mv && vl > 9);
	memcpy(mv, val, vl);
	memcpy(was_mv, val, vl);
	store_be64(mv + 1, (uint64_t)received); /* kind(1) be64(received_at) visitor */
	int64_t was = rec->received_at;
	uint8_t *buf, *was_buf;
	size_t bl, was_bl;
	CHECK_OK(wire_pack(WIRE_RECORD, rec, &was_buf, &was_bl));
	rec->received_at = received;
	CHECK_OK(wire_pack(WIRE_RECORD, rec, &buf, &bl));
	rec->received_at = was;
	CHECK_OK(store_put(txn, DB_RECORDS, id, 16, buf, bl, 0));
	CHECK_OK(store_put(txn, DB_MONTH_VISITS, mk, mkl, mv, vl, 0));
	CHECK_OK(store_txn_commit(txn));
	audit_expect(want);
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_put(txn, DB_RECORDS, id, 16, was_buf, was_bl, 0));
	CHECK_OK(store_put(txn, DB_MONTH_VISITS, mk, mkl, was_mv, vl, 0));
	CHECK_OK(store_txn_commit(txn));
	free(buf);
	free(was_buf);
}

/* A record's time of receipt (not signed; a filed month's report lists
 * the visits that arrived after its filing by it) must lie in the window
 * its checkpoints give: re-dated across a checkpoint, the audit says so. */
static void test_auditlog_received(void)
{
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 71, "e1", KIND(DOOR), clock_now() - 60);
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
	struct store_txn *txn;
	tf_record *rec;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	CHECK_OK(record_get(txn, id, &rec));
	struct auditlog_mark m[2] = {{.entries = rec->log_seq - 1}, {.entries = rec->log_seq}};
	CHECK_OK(auditlog_hash_at(txn, m[0].entries, m[0].head));
	CHECK_OK(auditlog_hash_at(txn, m[1].entries, m[1].head));
	store_txn_abort(txn);
	const int64_t got = rec->received_at;
	m[0].time = got - 300, m[1].time = got + 300; /* checkpoints around its arrival */
	audit_marks = m, audit_n_marks = 2;
	const struct {
		int64_t received;
		const char *want;
	} cases[] = {
	    {got, NULL},
	    {got - 600, NULL},  /* inside the slack: a batch stamped before its commit */
	    {got + 1200, NULL}, /* inside the slack: a clock stepped by NTP */
	    {got - 3 * 86400, "before the checkpoint signed"}, /* a late visit made on time */
	    {got + 3 * 86400, "after the checkpoint signed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		redate_received(rec, id, cases[i].received, cases[i].want);
	/* A clock set back between the two checkpoints bounds nothing. */
	m[0].time = got + 86400, m[1].time = got - 86400;
	redate_received(rec, id, got - 3 * 86400, NULL);
	audit_marks = NULL, audit_n_marks = 0;
	wire_free(WIRE_RECORD, rec);
}

/* The memory of answered queries: each key but an admin's has a quota of
 * new entries, so a few keys cannot fill the table for everyone (found by
 * an attack test); a replay is still answered as one when the quota is
 * spent. */
static void test_query_quota(void)
{
	struct replay_memo *m;
	CHECK_OK(replay_memo_new(16, &m));
	uint8_t a[32], b[32], ref[ENVELOPE_REF_LEN];
	memset(a, 1, sizeof a), memset(b, 2, sizeof b);
	const int64_t now = 1796000000000, until = now + 1200000;
	int ok = 0, quota = 0;
	for (unsigned i = 0; i < REPLAY_QUOTA_BURST + 10; i++) {
		randombytes_buf(ref, sizeof ref);
		int r = replay_memo_claim(m, ref, a, until, now);
		ok += r == 0, quota += r == -EDQUOT;
	}
	CHECK_EQ_INT(ok, REPLAY_QUOTA_BURST);
	CHECK_EQ_INT(quota, 10);
	uint8_t first[ENVELOPE_REF_LEN];
	memset(first, 7, sizeof first);
	CHECK_EQ_INT(replay_memo_claim(m, first, b, until, now), 0);
	/* Spent: a's new query is refused, its replay still a replay. */
	CHECK_EQ_INT(replay_memo_claim(m, first, a, until, now), -EEXIST);
	randombytes_buf(ref, sizeof ref);
	CHECK_EQ_INT(replay_memo_claim(m, ref, a, until, now), -EDQUOT);
	CHECK_EQ_INT(replay_memo_claim(m, ref, NULL, until, now), 0); /* an admin's */
	/* The quota comes back at REPLAY_QUOTA_PER_S a second. */
	int later = 0;
	for (int i = 0; i < REPLAY_QUOTA_PER_S + 3; i++) {
		randombytes_buf(ref, sizeof ref);
		later += replay_memo_claim(m, ref, a, until, now + 1000) == 0;
	}
	CHECK_EQ_INT(later, REPLAY_QUOTA_PER_S);
	replay_memo_free(m);
}

/* The quota in the request path: an area admin's key has one (a re-attack
 * flooded the table with one), the root admin's none. */
static void test_query_quota_roles(void)
{
	struct keypair area_admin;
	CHECK_EQ_INT(inproc_visitor(&p, "aa1", "镇管理员", ROLE(ADMIN), "152223100", &area_admin),
	             ST(OK));
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	oq.limit = 1;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
	req.overdue = &oq;
	int ok_area = 0, ok_root = 0;
	const char *why = "";
	for (int i = 0; i < REPLAY_QUOTA_BURST + 5; i++) {
		req.sent_at_ms = 0; /* a new envelope each time (inproc stamps it) */
		tf_reply *rep = inproc_call(&p, &area_admin, &req);
		ok_area += rep->status == ST(OK);
		if (rep->status != ST(OK) && !*why)
			why = strstr(rep->detail, "signed by this key") ? "quota" : "other";
		wire_free(WIRE_REPLY, rep);
		rep = inproc_call(&p, &p.admin, &req);
		ok_root += rep->status == ST(OK);
		wire_free(WIRE_REPLY, rep);
	}
	CHECK(ok_area <= REPLAY_QUOTA_BURST + 2 && ok_area >= REPLAY_QUOTA_BURST);
	CHECK_STREQ(why, "quota");
	CHECK_EQ_INT(ok_root, REPLAY_QUOTA_BURST + 5);
}

/* A filed report names its log entry, and its time of filing is held
 * against the checkpoints around it: a filing re-dated after late visits
 * (so they no longer show as late) is found (a re-attack did it unseen). */
static void test_auditlog_filing(void)
{
	char month[16];
	int ym = period_month_of(clock_now());
	snprintf(month, sizeof month, "%04d-%02d", ym / 100, ym % 100);
	Tanfang__V1__FileReport fr = TANFANG__V1__FILE_REPORT__INIT;
	fr.area = "152223100", fr.month = month;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_FILE_REPORT;
	req.file_report = &fr;
	CHECK_EQ_INT(inproc_status(&p, &super, &req), ST(OK));
	/* The filing as stored, and its key. */
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	struct store_cursor *cur;
	CHECK_OK(store_cursor_open(txn, DB_FILED, &cur));
	const void *k, *v;
	size_t kl, vl;
	uint8_t key[128];
	size_t keylen = 0;
	tf_filed_report *f = NULL;
	for (int r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0 && !f;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		tf_filed_report *x;
		CHECK_OK(wire_unpack(WIRE_FILED_REPORT, v, vl, (void **)&x));
		if (strcmp(x->area, "152223100") == 0 && strcmp(x->month, month) == 0 &&
		    kl <= sizeof key) {
			memcpy(key, k, kl);
			keylen = kl;
			f = x;
		} else {
			wire_free(WIRE_FILED_REPORT, x);
		}
	}
	store_cursor_close(cur);
	CHECK(f != NULL && f->log_seq > 1);
	if (!f) {
		store_txn_abort(txn);
		return;
	}
	struct auditlog_mark m[2] = {{.entries = f->log_seq - 1}, {.entries = f->log_seq}};
	CHECK_OK(auditlog_hash_at(txn, m[0].entries, m[0].head));
	CHECK_OK(auditlog_hash_at(txn, m[1].entries, m[1].head));
	store_txn_abort(txn);
	m[0].time = f->filed_at - 300, m[1].time = f->filed_at + 300;
	audit_marks = m, audit_n_marks = 2;
	audit_expect(NULL);
	uint8_t *buf;
	size_t bl;
	int64_t was = f->filed_at;
	f->filed_at = was + 3 * 86400; /* filed "later", after the late visits */
	CHECK_OK(wire_pack(WIRE_FILED_REPORT, f, &buf, &bl));
	audit_after(DB_FILED, key, keylen, buf, bl, "after the checkpoint signed");
	free(buf);
	f->filed_at = was;
	uint64_t seq = f->log_seq;
	f->log_seq = 1; /* another entry */
	CHECK_OK(wire_pack(WIRE_FILED_REPORT, f, &buf, &bl));
	audit_after(DB_FILED, key, keylen, buf, bl, "which is not its filing");
	free(buf);
	f->log_seq = seq;
	audit_marks = NULL, audit_n_marks = 0;
	wire_free(WIRE_FILED_REPORT, f);
}

static void test_auditlog(void)
{
	uint64_t n;
	char err[256];
	CHECK_OK(auditlog_verify(p.st, &n, err, sizeof err));
	CHECK(n > 10);
	/* Edit one byte of an entry in the middle: the audit must notice. */
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	uint8_t key[8];
	store_be64(key, 3);
	const void *v;
	size_t vl;
	CHECK_OK(store_get(txn, DB_LOG, key, 8, &v, &vl));
	uint8_t *copy = malloc(vl);
	memcpy(copy, v, vl);
	copy[vl - 70] ^= 1;
	CHECK_OK(store_put(txn, DB_LOG, key, 8, copy, vl, 0));
	CHECK_OK(store_txn_commit(txn));
	uint64_t m;
	CHECK_EQ_INT(auditlog_verify(p.st, &m, err, sizeof err), TF_E_CORRUPT);
	CHECK(strstr(err, "entry 3") != NULL);
	/* Restore, then delete an entry: a gap is found. */
	copy[vl - 70] ^= 1;
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_put(txn, DB_LOG, key, 8, copy, vl, 0));
	CHECK_OK(store_txn_commit(txn));
	CHECK_OK(auditlog_verify(p.st, &m, err, sizeof err));
	CHECK_EQ_INT((int)m, (int)n);
	CHECK_OK(store_txn_begin(p.st, true, NULL, &txn));
	CHECK_OK(store_del(txn, DB_LOG, key, 8));
	CHECK_OK(store_txn_commit(txn));
	CHECK_EQ_INT(auditlog_verify(p.st, &m, err, sizeof err), TF_E_CORRUPT);
	CHECK(strstr(err, "missing") != NULL);
	free(copy);
}

int main(void)
{
	setup();
	test_accept_duplicate_conflict();
	test_trust();
	test_invalid_utf8();
	test_import_atomic();
	test_elder_problems();
	test_batch();
	test_batch_signers();
	test_auditlog_short();
	test_auditlog_indexes();
	test_auditlog_received();
	test_query_quota();
	test_query_quota_roles();
	test_auditlog_filing();
	test_auditlog();
	inproc_close(&p);
	return tft_done();
}
