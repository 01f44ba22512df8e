/* The LMDB edge: error mapping, cursors, nested transactions, and a full
 * map that refuses writes cleanly, loses nothing, and recovers when the map
 * grows (BRIEF §6). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tf_inproc.h"
#include "tf_test.h"

#define ST(x) TANFANG__V1__STATUS__STATUS_##x

static void test_basics(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/basic", tft_tmpdir());
	struct store *st;
	CHECK_OK(store_open(dir, NULL, &st));
	struct store_txn *txn, *child;
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_OK(store_put(txn, DB_META, "a", 1, "1", 1, 0));
	CHECK_EQ_INT(store_put(txn, DB_META, "a", 1, "2", 1, STORE_NOOVERWRITE), -EEXIST);
	/* A nested transaction that aborts leaves the parent's writes alone. */
	CHECK_OK(store_txn_begin(st, true, txn, &child));
	CHECK_OK(store_put(child, DB_META, "b", 1, "x", 1, 0));
	store_txn_abort(child);
	const void *v;
	size_t vl;
	CHECK_EQ_INT(store_get(txn, DB_META, "b", 1, &v, &vl), -ENOENT);
	CHECK_OK(store_txn_begin(st, true, txn, &child));
	CHECK_OK(store_put(child, DB_META, "c", 1, "y", 1, 0));
	CHECK_OK(store_txn_commit(child));
	CHECK_OK(store_txn_commit(txn));

	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	CHECK_OK(store_get(txn, DB_META, "c", 1, &v, &vl));
	CHECK(vl == 1 && memcmp(v, "y", 1) == 0);
	struct store_cursor *cur;
	CHECK_OK(store_cursor_open(txn, DB_META, &cur));
	const void *k;
	size_t kl;
	CHECK_OK(store_cursor_seek(cur, "b", 1, &k, &kl, &v, &vl));
	CHECK(kl == 1 && memcmp(k, "c", 1) == 0);
	CHECK_EQ_INT(store_cursor_next(cur, &k, &kl, &v, &vl), -ENOENT);
	CHECK_OK(store_cursor_last(cur, &k, &kl, &v, &vl));
	CHECK_OK(store_cursor_prev(cur, &k, &kl, &v, &vl));
	CHECK(kl == 1 && memcmp(k, "a", 1) == 0);
	store_cursor_close(cur);
	store_txn_abort(txn);
	uint8_t be[8];
	store_be64(be, 0x0102030405060708ull);
	CHECK_EQ_INT(be[0], 1);
	CHECK(store_get_be64(be) == 0x0102030405060708ull);
	store_close(st);
}

/* Fill a tiny map with visits until the store says it is full. */
static void test_map_full(void)
{
	const char *tmp = tft_tmpdir();
	struct inproc p;
	inproc_open_map(&p, tmp, 8u << 20);
	struct keypair grid;
	CHECK_EQ_INT(inproc_area(&p, "152223", "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER,
	                            "152223", &grid),
	             ST(OK));
	const int alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0};
	CHECK_EQ_INT(inproc_elder(&p, "e1", "张秀英", "152223", alone, NULL, NULL), ST(OK));
	static char note[3000];
	memset(note, 'x', sizeof note - 1);
	unsigned accepted = 0, full = 0;
	/* An 8 MiB map; each visit is ~7 KB with its log entry. */
	for (unsigned i = 0; i < 20000 && !full; i++) {
		tf_visit v;
		uint8_t id[16];
		inproc_visit(&v, id, i, "e1", TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
		             clock_now() - 60);
		v.note = note;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_VISIT;
		req.visit = &v;
		tf_reply *rep = inproc_call(&p, &grid, &req);
		if (rep->status == ST(OK))
			accepted++;
		else if (rep->status == ST(STORE_FULL))
			full = i;
		else
			CHECK_EQ_INT(rep->status, ST(OK));
		wire_free(WIRE_REPLY, rep);
	}
	CHECK(full > 0);
	CHECK(accepted == full);
	/* Nothing half-written: exactly the acknowledged visits are stored. */
	size_t stored;
	struct store_txn *rt;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &rt));
	CHECK_OK(store_count(rt, DB_RECORDS, &stored));
	store_txn_abort(rt);
	CHECK_EQ_INT(stored, accepted);
	inproc_close(&p);

	/* More room: reopen with a bigger map; the refused visit now goes in. */
	char dir[600];
	snprintf(dir, sizeof dir, "%s/store", tmp);
	struct store_options o = {.map_size = 256u << 20};
	CHECK_OK(store_open(dir, &o, &p.st));
	CHECK_OK(ingest_new(p.st, NULL, &p.ig));
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, full, "e1", TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
	             clock_now() - 60);
	v.note = note;
	CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
	size_t n;
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(p.st, false, NULL, &txn));
	CHECK_OK(store_count(txn, DB_RECORDS, &n));
	store_txn_abort(txn);
	CHECK_EQ_INT(n, accepted + 1);
	inproc_close(&p);
}

int main(void)
{
	test_basics();
	test_map_full();
	return tft_done();
}
