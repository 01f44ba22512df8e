/* The LMDB edge: error mapping, cursors, nested transactions, and a full
 * map that refuses writes cleanly, loses nothing, and recovers when the map
 * grows (BRIEF §6). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
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

/* Keys LMDB cannot hold (empty, or above 511 bytes) built from what a
 * request names: nothing found, a write refused, never an I/O error. */
static void test_odd_keys(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/odd", tft_tmpdir());
	struct store *st;
	CHECK_OK(store_open(dir, NULL, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	char big[600];
	memset(big, 'e', sizeof big);
	const void *v, *k;
	size_t vl, kl;
	CHECK_EQ_INT(store_get(txn, DB_ELDERS, big, sizeof big, &v, &vl), -ENOENT);
	CHECK_EQ_INT(store_get(txn, DB_ELDERS, "", 0, &v, &vl), -ENOENT);
	CHECK_EQ_INT(store_put(txn, DB_ELDERS, big, sizeof big, "x", 1, 0), TF_E_INVALID);
	CHECK_EQ_INT(store_put(txn, DB_ELDERS, "", 0, "x", 1, 0), TF_E_INVALID);
	CHECK_EQ_INT(store_del(txn, DB_ELDERS, big, sizeof big), -ENOENT);
	CHECK_OK(store_put(txn, DB_ELDERS, "f", 1, "x", 1, 0));
	struct store_cursor *cur;
	CHECK_OK(store_cursor_open(txn, DB_ELDERS, &cur));
	/* "eee..." (600) seeks past every key that sorts before it. */
	CHECK_OK(store_cursor_seek(cur, big, sizeof big, &k, &kl, &v, &vl));
	CHECK(kl == 1 && memcmp(k, "f", 1) == 0);
	store_cursor_close(cur);
	store_txn_abort(txn);
	store_close(st);
}

/* A big visit by key for e1, as a write job (note: 3,000 bytes). */
static struct job *big_visit(struct inproc *p, const struct keypair *key, unsigned seed)
{
	static char note[3000];
	memset(note, 'y', sizeof note - 1);
	tf_visit v;
	uint8_t id[16];
	inproc_visit(&v, id, seed, "e1", TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
	             clock_now() - 60);
	v.note = note;
	tf_request req;
	inproc_visit_request(&req, &v);
	return inproc_write_job(p, key, &req);
}

/* Opens a store with an 8 MiB map in tmp, registers g1 (*grid) and e1,
 * and sends big visits one at a time until one is refused as STORE_FULL;
 * *refused gets its seed. Returns how many were accepted. */
static unsigned fill_map(struct inproc *p, const char *tmp, struct keypair *grid, unsigned *refused)
{
	inproc_open_map(p, tmp, 8u << 20);
	CHECK_EQ_INT(inproc_area(p, "152223", "扎赉特旗", ""), ST(OK));
	CHECK_EQ_INT(
	    inproc_visitor(p, "g1", "网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER, "152223", grid),
	    ST(OK));
	const int alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0};
	CHECK_EQ_INT(inproc_elder(p, "e1", "张秀英", "152223", alone, NULL, NULL), ST(OK));
	unsigned accepted = 0;
	*refused = 0;
	/* An 8 MiB map; each visit is a few KB with its log entry. */
	for (unsigned i = 0; i < 20000 && !*refused; i++) {
		struct job *j = big_visit(p, grid, i);
		int r = ingest_write_batch(p->ig, &j, 1);
		CHECK(r == 0 || store_full(r));
		if (job_status(j) == ST(OK))
			accepted++;
		else if (job_status(j) == ST(STORE_FULL))
			*refused = i;
		else
			CHECK_EQ_INT(job_status(j), ST(OK));
		job_free(j);
	}
	return accepted;
}

static size_t records_stored(struct inproc *p)
{
	size_t n;
	struct store_txn *rt;
	CHECK_OK(store_txn_begin(p->st, false, NULL, &rt));
	CHECK_OK(store_count(rt, DB_RECORDS, &n));
	store_txn_abort(rt);
	return n;
}

/* Reopens the store in tmp with a map of map_size bytes. */
static void reopen_map(struct inproc *p, const char *tmp, size_t map_size)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/store", tmp);
	struct store_options o = {.map_size = map_size};
	CHECK_OK(store_open(dir, &o, &p->st));
	CHECK_OK(ingest_new(p->st, NULL, &p->ig));
}

/* Fill a tiny map with visits until the store says it is full. */
static void test_map_full(void)
{
	const char *tmp = tft_tmpdir();
	struct inproc p;
	struct keypair grid;
	unsigned full;
	unsigned accepted = fill_map(&p, tmp, &grid, &full);
	CHECK(full > 0);
	CHECK(accepted == full);
	/* Nothing half-written: exactly the acknowledged visits are stored. */
	CHECK_EQ_INT(records_stored(&p), accepted);
	inproc_close(&p);

	/* More room: reopen with a bigger map; the refused visit now goes in. */
	reopen_map(&p, tmp, 256u << 20);
	struct job *j = big_visit(&p, &grid, full);
	CHECK_OK(ingest_write_batch(p.ig, &j, 1));
	CHECK_EQ_INT(job_status(j), ST(OK));
	job_free(j);
	CHECK_EQ_INT(records_stored(&p), accepted + 1);
	inproc_close(&p);
}

/* The map fills in the middle of a batch (issue 12): visits are applied
 * without a nested transaction each, so the one that fails after its
 * first write sends the whole batch round again, nested. The visits before
 * it in the batch are still stored and acknowledged, the ones from it on
 * refused, and the audit log holds exactly the stored ones. */
static void test_map_full_batch(void)
{
	const char *tmp = tft_tmpdir();
	struct inproc p;
	struct keypair grid;
	/* Full first, one visit at a time... */
	unsigned seq;
	unsigned accepted = fill_map(&p, tmp, &grid, &seq);
	inproc_close(&p);
	/* ... then half a megabyte more, and one batch of far more visits than
	 * fit in it: it runs out in the middle whatever the page layout. */
	reopen_map(&p, tmp, (8u << 20) + (512u << 10));
	enum { BATCH = 300 };
	struct job *jobs[BATCH];
	for (int i = 0; i < BATCH; i++)
		jobs[i] = big_visit(&p, &grid, seq++);
	/* Without the second, nested pass the batch's transaction would be
	 * left broken by the failed write and its commit fail with another
	 * code. The commit may still find the map too full for its own pages
	 * (then nothing of the batch is stored, and every reply says so). */
	int r = ingest_write_batch(p.ig, jobs, BATCH);
	CHECK(r == 0 || store_full(r));
	unsigned ok = 0, refused = 0;
	for (int i = 0; i < BATCH; i++) {
		int st = job_status(jobs[i]);
		if (st == ST(OK)) {
			CHECK(refused == 0); /* none accepted after the first refused */
			ok++;
		} else {
			CHECK_EQ_INT(st, ST(STORE_FULL));
			refused++;
		}
		job_free(jobs[i]);
	}
	CHECK(refused > 0);
	CHECK(r < 0 ? ok == 0 : ok > 0);
	CHECK_EQ_INT(records_stored(&p), accepted + ok);
	uint64_t entries;
	char err[256] = "";
	int vr = auditlog_verify(p.st, &entries, err, sizeof err);
	if (vr < 0)
		fprintf(stderr, "  audit: %s\n", err);
	CHECK_OK(vr);
	inproc_close(&p);
}

/* The codes that mean "no room", and only those. */
static void test_full_codes(void)
{
	CHECK(store_full(TF_E_MAPFULL));
	CHECK(store_full(-ENOSPC));
	CHECK(store_full(-EDQUOT));
	CHECK(store_full(-EFBIG));
	CHECK(!store_full(0));
	CHECK(!store_full(-EIO));
	CHECK(!store_full(-ENOMEM));
	CHECK(!store_full(TF_E_CORRUPT));
}

/* n values of len bytes under keys tag.i, in one transaction; returns the
 * commit's code (or the first put's failure). */
static int put_many(struct store *st, char tag, unsigned n, size_t len)
{
	static char val[64 << 10];
	memset(val, tag, sizeof val);
	struct store_txn *txn;
	int r = store_txn_begin(st, true, NULL, &txn);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n && r == 0; i++) {
		char key[32];
		int kl = snprintf(key, sizeof key, "%c.%06u", tag, i);
		r = store_put(txn, DB_META, key, (size_t)kl, val, len, 0);
	}
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

static size_t count_meta(struct store *st)
{
	struct store_txn *txn;
	size_t n = 0;
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	CHECK_OK(store_count(txn, DB_META, &n));
	store_txn_abort(txn);
	return n;
}

/* A full disk, for real and without root: a child process whose
 * RLIMIT_FSIZE (SIGXFSZ ignored) stops data.mdb from growing. A write past
 * the limit fails with EFBIG; one the limit cuts short, LMDB reports as
 * EIO, and the store must still name it a full disk. Nothing is written,
 * and with the limit gone the same write goes in. */
static void test_disk_full(void)
{
	char dir[600], file[640];
	snprintf(dir, sizeof dir, "%s/disk", tft_tmpdir());
	snprintf(file, sizeof file, "%s/data.mdb", dir);
	struct store_options o = {.map_size = 64u << 20};
	struct store *st;
	CHECK_OK(store_open(dir, &o, &st));
	CHECK_OK(put_many(st, 'a', 100, 100));
	store_close(st);
	struct stat sb;
	CHECK(stat(file, &sb) == 0);
	/* At the limit: every new page is past it. Half a page above: the
	 * first write of the commit is cut short. */
	const off_t limits[] = {sb.st_size, sb.st_size + 2048};
	for (size_t i = 0; i < 2; i++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			signal(SIGXFSZ, SIG_IGN);
			struct rlimit rl = {(rlim_t)limits[i], RLIM_INFINITY};
			CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
			CHECK_OK(store_open(dir, &o, &st));
			CHECK_EQ_INT(put_many(st, 'b', 200, 10000), -EFBIG);
			struct store_txn *txn;
			CHECK_OK(store_txn_begin(st, true, NULL, &txn));
			CHECK_EQ_INT(store_reserve(txn, 1u << 20), -EFBIG);
			store_txn_abort(txn);
			CHECK_EQ_INT(count_meta(st), 100);
			store_close(st);
			exit(0);
		}
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* No limit: room reserved ahead is allocated in the file, and the
	 * write that was refused goes in. */
	CHECK_OK(store_open(dir, &o, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_OK(store_reserve(txn, 4u << 20));
	store_txn_abort(txn);
	struct stat after;
	CHECK(stat(file, &after) == 0);
	CHECK(after.st_size >= sb.st_size + (4 << 20));
	CHECK(after.st_blocks * 512 >= after.st_size); /* allocated, not a hole */
	CHECK_OK(put_many(st, 'b', 200, 10000));
	CHECK_EQ_INT(count_meta(st), 300);
	store_close(st);
}

/* store_reserve on a small map: what the map cannot hold is TF_E_MAPFULL;
 * the store's free pages count as room. */
static void test_reserve_map(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/map", tft_tmpdir());
	struct store_options o = {.map_size = 2u << 20};
	struct store *st;
	CHECK_OK(store_open(dir, &o, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_EQ_INT(store_reserve(txn, 3u << 20), TF_E_MAPFULL);
	CHECK_OK(store_reserve(txn, 1u << 20));
	store_txn_abort(txn);
	/* Fill the map, then empty it again: the pages come back as free
	 * pages, which the reservation counts. */
	int r = 0;
	unsigned rounds = 0;
	while (r == 0 && rounds < 1000)
		r = put_many(st, (char)('c' + rounds++ % 20), 10, 10000);
	CHECK_EQ_INT(r, TF_E_MAPFULL);
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_EQ_INT(store_reserve(txn, 1u << 20), TF_E_MAPFULL);
	struct store_cursor *cur;
	CHECK_OK(store_cursor_open(txn, DB_META, &cur));
	const void *k, *v;
	size_t kl, vl;
	while (store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl) == 0)
		CHECK_OK(store_cursor_del(cur));
	store_cursor_close(cur);
	CHECK_OK(store_txn_commit(txn));
	/* Freed pages are reusable once no snapshot can see them: after two
	 * more commits. */
	for (int i = 0; i < 2; i++)
		CHECK_OK(put_many(st, 'z', 1, 10));
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_OK(store_reserve(txn, 1u << 20));
	store_txn_abort(txn);
	store_close(st);
}

/* A policy that does not fit (SIGHUP on a full disk): the old policy stays
 * in force and writes go on; the new one is tried again, no sooner than a
 * second later, and goes in once there is room. In a child process whose
 * RLIMIT_FSIZE is the data file's size. */
static void test_policy_waits(void)
{
	const char *tmp = tft_tmpdir();
	char pol_path[600];
	snprintf(pol_path, sizeof pol_path, "%s/policy.conf", tmp);
	FILE *f = fopen(pol_path, "we");
	CHECK(f != NULL);
	fputs("[policy]\ntimezone = Asia/Shanghai\n\n[rule.fortnightly]\nelders = special\n"
	      "kinds = door, phone\nduty = elder\nperiod = days:14\nreport = visit\n",
	      f);
	CHECK(fclose(f) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct inproc p;
		inproc_open(&p, tmp);
		struct policy *pol;
		CHECK_OK(policy_default(&pol));
		CHECK_OK(ingest_set_policy(p.ig, pol));
		struct keypair grid;
		CHECK_EQ_INT(inproc_area(&p, "152223", "扎赉特旗", ""), ST(OK));
		CHECK_EQ_INT(inproc_visitor(&p, "g1", "网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER,
		                            "152223", &grid),
		             ST(OK));
		const int alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0};
		for (int i = 0; i < 1000; i++) {
			char id[16];
			snprintf(id, sizeof id, "e%03d", i);
			CHECK_EQ_INT(inproc_elder(&p, id, "张秀英", "152223", alone, NULL, NULL),
			             ST(OK));
		}
		char file[640], err[256];
		snprintf(file, sizeof file, "%s/data.mdb", p.dir);
		struct stat sb;
		CHECK(stat(file, &sb) == 0);
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {(rlim_t)sb.st_size, RLIM_INFINITY};
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);

		CHECK_OK(policy_load(pol_path, &pol, err, sizeof err));
		CHECK_EQ_INT(ingest_set_policy(p.ig, pol), -EFBIG);
		CHECK(ingest_policy_pending(p.ig));
		/* Not read-only: the old policy is the stored one. */
		tf_visit v;
		uint8_t id[16];
		inproc_visit(&v, id, 1, "e001", TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
		             clock_now() - 60);
		tf_request req;
		inproc_visit_request(&req, &v);
		tf_reply *rep = inproc_call(&p, &grid, &req);
		CHECK(rep->status == ST(OK) || rep->status == ST(STORE_FULL));
		CHECK(strstr(rep->detail, "read-only") == NULL);
		wire_free(WIRE_REPLY, rep);

		rl.rlim_cur = RLIM_INFINITY;
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		/* Paced: not again within the first second. */
		CHECK_EQ_INT(ingest_retry_policy(p.ig), 0);
		CHECK(ingest_policy_pending(p.ig));
		struct timespec ts = {1, 100 * 1000000};
		nanosleep(&ts, NULL);
		CHECK_EQ_INT(ingest_retry_policy(p.ig), 1);
		CHECK(!ingest_policy_pending(p.ig));
		inproc_visit(&v, id, 2, "e002", TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
		             clock_now() - 60);
		CHECK_EQ_INT(inproc_submit_visit(&p, &grid, &v), ST(OK));
		inproc_close(&p);
		exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	test_basics();
	test_odd_keys();
	test_full_codes();
	test_disk_full();
	test_reserve_map();
	test_policy_waits();
	test_map_full();
	test_map_full_batch();
	return tft_done();
}
