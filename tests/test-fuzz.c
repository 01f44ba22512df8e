/* Mutation fuzzing of the request path (BRIEF §6: any bad input gets a
 * clear status, changes nothing, and the daemon stays up). Valid signed
 * envelopes of every write and query kind are mutated (bit flips, byte
 * overwrites, truncations, insertions, splices) and fed through
 * ingest_verify / ingest_write_batch / ingest_query as the daemon does.
 * Deterministic seed and a fixed number of rounds; run under ASan/UBSan. */
#include <string.h>

#include "auditlog.h"
#include "tf_inproc.h"
#include "tf_test.h"

#define ST(x)  TANFANG__V1__STATUS__STATUS_##x
#define ROUNDS 20000

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (uint32_t)rng;
}

/* One of several valid requests, sealed by the grid worker or the admin. */
static void seed_frame(struct inproc *p, const struct keypair *grid, unsigned which,
                       uint8_t **frame, size_t *len)
{
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 100000 + which, "e1", TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
	             clock_now() - 60);
	v.note = "炉子正常，老人精神好";
	v.has_location = 1, v.lat = 46.7, v.lon = 122.9;
	Tanfang__V1__Assessment a = TANFANG__V1__ASSESSMENT__INIT;
	a.finding = TANFANG__V1__FINDING__FINDING_CONCERN, a.note = "煤烟";
	v.safety_risk = &a;
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	tf_area ar;
	wire_init(WIRE_AREA, &ar);
	ar.code = "152223300", ar.name = "巴彦高勒镇", ar.parent = "152223";
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &ar;
	const struct keypair *key = grid;
	switch (which % 3) {
	case 0: req.op_case = TANFANG__V1__REQUEST__OP_VISIT, req.visit = &v; break;
	case 1: req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE, req.overdue = &oq; break;
	default:
		req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA, req.put_area = &pa;
		key = &p->admin;
		break;
	}
	inproc_seal(key, &req, frame, len);
}

static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
	unsigned n = 1 + next_rand() % 4;
	for (unsigned i = 0; i < n && *len; i++) {
		size_t at = next_rand() % *len;
		switch (next_rand() % 5) {
		case 0: buf[at] ^= (uint8_t)(1u << (next_rand() % 8)); break;
		case 1: buf[at] = (uint8_t)next_rand(); break;
		case 2: *len = at; break; /* truncate */
		case 3:
			if (*len < cap) { /* insert a byte */
				memmove(buf + at + 1, buf + at, *len - at);
				buf[at] = (uint8_t)next_rand();
				(*len)++;
			}
			break;
		default: { /* copy a run from elsewhere in the frame */
			size_t from = next_rand() % *len, run = 1 + next_rand() % 8;
			if (from + run <= *len && at + run <= *len)
				memmove(buf + at, buf + from, run);
		}
		}
	}
}

int main(void)
{
	struct inproc p;
	inproc_open(&p, tft_tmpdir());
	struct keypair grid;
	CHECK_EQ_INT(inproc_area(&p, "152223", "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER,
	                            "152223", &grid),
	             ST(OK));
	CHECK_EQ_INT(
	    inproc_visitor(&p, "s1", "督导", TANFANG__V1__ROLE__ROLE_SUPERVISOR, "152223", NULL),
	    ST(OK));
	const int alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0};
	CHECK_EQ_INT(inproc_elder(&p, "e1", "张秀英", "152223", alone, NULL, NULL), ST(OK));

	struct store_txn *txn;
	size_t records_before, log_before;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	CHECK_OK(store_count(txn, DB_RECORDS, &records_before));
	CHECK_OK(store_count(txn, DB_LOG, &log_before));
	store_txn_abort(txn);

	unsigned counts[16] = {0};
	uint8_t buf[4096];
	for (unsigned round = 0; round < ROUNDS; round++) {
		uint8_t *frame;
		size_t len;
		seed_frame(&p, &grid, round, &frame, &len);
		if (len > sizeof buf - 64)
			len = sizeof buf - 64;
		memcpy(buf, frame, len);
		free(frame);
		size_t mlen = len;
		mutate(buf, &mlen, sizeof buf);
		tf_reply *rep = inproc_frame(&p, buf, mlen);
		int s = rep->status;
		CHECK(s > ST(UNSPECIFIED) && s <= ST(CLOCK_SKEW));
		counts[s]++;
		wire_free(WIRE_REPLY, rep);
	}
	/* A mutated frame may still be a valid request only if the mutation
	 * left the signed bytes intact (e.g. it hit a byte and set it to what
	 * it was); anything stored must therefore be one of the seed visits,
	 * each at most once, and the audit log must still verify. */
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	size_t records_after, log_after;
	CHECK_OK(store_count(txn, DB_RECORDS, &records_after));
	CHECK_OK(store_count(txn, DB_LOG, &log_after));
	store_txn_abort(txn);
	CHECK(records_after - records_before <= counts[ST(OK)]);
	CHECK(log_after - log_before <= counts[ST(OK)]);
	uint64_t n;
	char err[256];
	CHECK_OK(auditlog_verify(p.st, &n, err, sizeof err));
	/* Most mutations are refused, and for the reasons one would expect. */
	CHECK(counts[ST(BAD_SIGNATURE)] + counts[ST(MALFORMED)] + counts[ST(UNKNOWN_SIGNER)] >
	      ROUNDS / 2);
	fprintf(stderr, "fuzz: %u rounds:", ROUNDS);
	for (int s = 1; s < 16; s++)
		if (counts[s])
			fprintf(stderr, " %s %u", wire_status_name(s), counts[s]);
	fputc('\n', stderr);
	/* The store still serves: a fresh visit is accepted. */
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, 7, "e1", TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE, clock_now() - 5);
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
	inproc_close(&p);
	return tft_done();
}
