/* A full map and a full disk, against the real daemon (BRIEF §6, issue 8
 * item 5): writes are refused with STATUS_STORE_FULL and a reason, never
 * STATUS_INTERNAL; queries are answered; nothing is lost; a restart with a
 * changed policy on a full store comes up read-only instead of exiting; and
 * writes resume when there is room again. A field device whose disk is full
 * still drops what the daemon acknowledged.
 *
 * The faults are real. The map: map_size_mb = 16 in the daemon's
 * configuration, filled with visits. The disk, without root: the daemon
 * started with RLIMIT_FSIZE at the size of its data file (the daemon
 * ignores SIGXFSZ, so a write past it fails with EFBIG, or is cut short,
 * which LMDB reports as EIO); "space returns" is the limit raised on the
 * running daemon with prlimit(2).
 *
 *  1. map: fill, STORE_FULL naming map_size_mb, queries; restart with a
 *     changed policy: read-only, queries; restart with a bigger map: writes
 *  2. disk: same, the limit raised while the daemon runs
 *  3. device: an outbox at its file size limit refuses new records, removes
 *     every acknowledged one, and has nothing left to resend
 *  4. each time: the store holds exactly the acknowledged records, and the
 *     audit log verifies. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "store.h"
#include "tanfang/tanfang.h"
#include "tf_test.h"

#define AREA     "152223"
#define N_ELDERS 1000
#define WINDOW   32

#define OP(x) TANFANG__V1__REQUEST__OP_##x

/* A policy other than the built-in one: two more duties for every elder,
 * so installing it writes thousands of index entries, far more than the
 * free pages a filled store keeps. */
static const char changed_policy[] = "[policy]\n"
                                     "timezone = Asia/Shanghai\n"
                                     "\n"
                                     "[rule.monthly_visit]\n"
                                     "elders = special\n"
                                     "kinds = door, phone\n"
                                     "duty = elder\n"
                                     "period = month\n"
                                     "report = visit\n"
                                     "\n"
                                     "[rule.fortnightly_phone]\n"
                                     "elders = special\n"
                                     "kinds = phone\n"
                                     "duty = elder\n"
                                     "period = days:14\n"
                                     "report = none\n"
                                     "\n"
                                     "[rule.weekly_door]\n"
                                     "elders = special\n"
                                     "kinds = door\n"
                                     "duty = elder\n"
                                     "period = week\n"
                                     "report = none\n";

static struct keypair grid; /* visitor g1's device key */

/* What the daemon answered, and the ids it acknowledged. */
struct tally {
	size_t ok, full, other;
	char full_detail[256];
	char other_detail[256];
	uint8_t (*ids)[16];
	size_t n_ids, cap;
};

static void remember(struct tally *t, const uint8_t id[16])
{
	if (t->n_ids == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->ids = realloc(t->ids, t->cap * sizeof *t->ids);
		CHECK(t->ids != NULL);
	}
	memcpy(t->ids[t->n_ids++], id, 16);
}

static void count_reply(struct tally *t, const uint8_t id[16], const tf_reply *rep)
{
	const char *detail = rep->detail ? rep->detail : "";
	if (rep->status == TANFANG__V1__STATUS__STATUS_OK) {
		t->ok++;
		remember(t, id);
	} else if (rep->status == TANFANG__V1__STATUS__STATUS_STORE_FULL) {
		t->full++;
		snprintf(t->full_detail, sizeof t->full_detail, "%s", detail);
	} else {
		t->other++;
		snprintf(t->other_detail, sizeof t->other_detail, "%s: %s",
		         wire_status_name(rep->status), detail);
	}
}

static void check_no_other(const struct tally *t)
{
	if (t->other)
		fprintf(stderr, "unexpected reply: %s\n", t->other_detail);
	CHECK_EQ_INT(t->other, 0);
}

/* ---- the daemon ---- */

/* Writes dd's next configuration file: [daemon] lines, and the changed
 * policy when with_policy. The path goes to path. */
static void write_conf(struct tft_daemon *dd, const char *lines, bool with_policy,
                       char path[PATH_MAX])
{
	char pol[PATH_MAX];
	snprintf(pol, sizeof pol, "%s/policy.conf", dd->dir);
	FILE *f = fopen(pol, "we");
	CHECK(f != NULL);
	CHECK(fputs(changed_policy, f) >= 0);
	CHECK(fclose(f) == 0);
	snprintf(path, PATH_MAX, "%s/tanfangd-%d.conf", dd->dir, dd->starts + 1);
	f = fopen(path, "we");
	CHECK(f != NULL);
	fprintf(f, "[daemon]\n%s", lines);
	if (with_policy)
		fprintf(f, "policy = %s\n", pol);
	CHECK(fclose(f) == 0);
}

static void start_conf(struct tft_daemon *dd, const char *lines, bool with_policy)
{
	char conf[PATH_MAX];
	write_conf(dd, lines, with_policy, conf);
	const char *extra[] = {"--config", conf, NULL};
	tft_daemon_start(dd, extra);
}

static off_t file_size(const char *dir, const char *name)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct stat sb;
	CHECK(stat(path, &sb) == 0);
	return sb.st_size;
}

/* Starts dd with its file size limit at `limit` bytes: this process lowers
 * its own soft limit around the fork, so only the daemon keeps it. */
static void start_limited(struct tft_daemon *dd, const char *lines, bool with_policy, off_t limit)
{
	char conf[PATH_MAX];
	write_conf(dd, lines, with_policy, conf);
	const char *extra[] = {"--config", conf, NULL};
	struct rlimit saved, rl;
	CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
	rl.rlim_cur = (rlim_t)limit;
	rl.rlim_max = saved.rlim_max;
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	tft_daemon_start(dd, extra);
	CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
}

/* Space returns: the running daemon's limit is lifted. */
static void lift_limit(struct tft_daemon *dd)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	CHECK(prlimit(dd->pid, RLIMIT_FSIZE, &rl, NULL) == 0);
}

static bool log_has(const struct tft_daemon *dd, const char *text)
{
	char *log = tft_read_file(dd->log, NULL);
	bool has = log && strstr(log, text);
	free(log);
	return has;
}

/* The area, visitor g1 (key `grid`), and N_ELDERS elders e000... */
static void registry(struct tft_daemon *dd)
{
	struct rpc *admin;
	tft_admin_rpc(dd, &admin);
	tft_put_area(admin, AREA, "Zalaite Banner", "");
	tft_put_visitor(admin, "g1", "Bao Lin", TANFANG__V1__ROLE__ROLE_GRID_WORKER, AREA);
	tft_enrol(admin, grid.pk, "g1");
	/* Imported 250 at a time: one request, one transaction each. */
	static tf_elder e[250];
	static tf_elder *ptrs[250];
	static char ids[250][16];
	Tanfang__V1__Category alone = TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE;
	for (unsigned from = 0; from < N_ELDERS; from += 250) {
		for (unsigned i = 0; i < 250; i++) {
			wire_init(WIRE_ELDER, &e[i]);
			snprintf(ids[i], sizeof ids[i], "e%03u", from + i);
			e[i].id = ids[i];
			e[i].name = "Li Shufen";
			e[i].area = AREA;
			e[i].categories = &alone;
			e[i].n_categories = 1;
			ptrs[i] = &e[i];
		}
		Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
		im.elders = ptrs;
		im.n_elders = 250;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(IMPORT_ELDERS);
		req.import_elders = &im;
		char detail[256];
		int st = tft_call(admin, &req, detail);
		if (st != TANFANG__V1__STATUS__STATUS_OK)
			fprintf(stderr, "import: %s\n", detail);
		CHECK_STATUS(st, OK);
	}
	rpc_close(admin);
}

struct inflight {
	uint8_t id[16];
	uint8_t ref[ENVELOPE_REF_LEN];
	bool done;
};

/* Sends up to n door visits by g1 to elder (with note, or none), WINDOW in
 * flight, and stops after the window in which a STORE_FULL came back.
 * Tallies every reply. */
static void submit(struct tft_daemon *dd, const char *elder, size_t n, const char *note,
                   struct tally *t)
{
	struct rpc *r;
	tft_rpc(dd, &grid, &r);
	size_t sent = 0, full_before = t->full;
	while (sent < n && t->full == full_before) {
		struct inflight w[WINDOW];
		size_t k = 0;
		for (; k < WINDOW && sent < n; k++, sent++) {
			tf_visit v;
			tft_random_id(w[k].id);
			tft_make_visit(&v, w[k].id, elder, TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR,
			               clock_now() - 3600);
			if (note)
				v.note = (char *)note;
			tf_request req;
			tft_visit_request(&req, &v);
			uint8_t *frame;
			size_t len;
			CHECK_OK(rpc_seal(&grid, &req, &frame, &len));
			tf_envelope *env;
			CHECK_OK(envelope_open(frame, len, &env));
			envelope_ref(env->body.data, env->body.len, w[k].ref);
			wire_free(WIRE_ENVELOPE, env);
			CHECK_OK(rpc_send_sealed(r, frame, len));
			free(frame);
			w[k].done = false;
		}
		for (size_t got = 0; got < k;) {
			tf_reply *rep;
			CHECK_OK(rpc_recv(r, 30000, &rep));
			struct inflight *x = NULL;
			for (size_t i = 0; i < k && !x; i++)
				if (!w[i].done && rep->ref.len == ENVELOPE_REF_LEN &&
				    memcmp(rep->ref.data, w[i].ref, ENVELOPE_REF_LEN) == 0)
					x = &w[i];
			if (x) {
				x->done = true;
				got++;
				count_reply(t, x->id, rep);
			}
			wire_free(WIRE_REPLY, rep);
		}
	}
	rpc_close(r);
}

/* One visit by g1; returns the status, the detail into detail[256]. */
static int visit_once(struct tft_daemon *dd, const char *elder, struct tally *t, char *detail)
{
	struct rpc *r;
	tft_rpc(dd, &grid, &r);
	tf_visit v;
	uint8_t id[16];
	tft_random_id(id);
	tft_make_visit(&v, id, elder, TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE, clock_now() - 600);
	tf_request req;
	tft_visit_request(&req, &v);
	tf_reply *rep;
	CHECK_OK(rpc_call(r, &req, 30000, &rep));
	int status = rep->status;
	snprintf(detail, 256, "%s", rep->detail ? rep->detail : "");
	count_reply(t, id, rep);
	wire_free(WIRE_REPLY, rep);
	rpc_close(r);
	return status;
}

/* An admin registry change; returns the status, the detail into detail[256]. */
static int put_area(struct tft_daemon *dd, const char *code, char *detail)
{
	struct rpc *admin;
	tft_admin_rpc(dd, &admin);
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = (char *)code;
	a.name = "Yinder Town";
	a.parent = AREA;
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_AREA);
	req.put_area = &pa;
	int status = tft_call(admin, &req, detail);
	rpc_close(admin);
	return status;
}

/* A full store still answers: the overdue list over every elder, and
 * elder's history with exactly the visits acknowledged for it (up to the
 * history's page of 1000). */
static void queries_answer(struct tft_daemon *dd, const char *elder, size_t visits)
{
	struct rpc *admin;
	tft_admin_rpc(dd, &admin);
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	oq.horizon_s = 60 * 86400;
	oq.limit = 10;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(OVERDUE);
	req.overdue = &oq;
	tf_reply *rep;
	CHECK_OK(rpc_call(admin, &req, 30000, &rep));
	CHECK_STATUS(rep->status, OK);
	CHECK(rep->overdue != NULL && rep->overdue->total > 0);
	wire_free(WIRE_REPLY, rep);

	Tanfang__V1__ElderHistoryQuery hq = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	hq.elder_id = (char *)elder;
	hq.limit = 1000;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ELDER_HISTORY);
	req.elder_history = &hq;
	CHECK_OK(rpc_call(admin, &req, 30000, &rep));
	CHECK_STATUS(rep->status, OK);
	CHECK(rep->history != NULL);
	CHECK_EQ_INT(rep->history->n_items, visits < 1000 ? visits : 1000);
	wire_free(WIRE_REPLY, rep);
	rpc_close(admin);
}

/* Stops dd cleanly; its store holds exactly the records acknowledged (the
 * tally's, plus the `more` ids), and its audit log verifies. */
static void nothing_lost(struct tft_daemon *dd, const struct tally *t, const struct tally *more)
{
	CHECK_EQ_INT(tft_daemon_stop(dd), 0);
	struct store_options o = {.read_only = true};
	struct store *st;
	CHECK_OK(store_open(dd->data, &o, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	size_t n;
	CHECK_OK(store_count(txn, DB_RECORDS, &n));
	CHECK_EQ_INT(n, t->n_ids + (more ? more->n_ids : 0));
	for (int pass = 0; pass < 2; pass++) {
		const struct tally *l = pass ? more : t;
		for (size_t i = 0; l && i < l->n_ids; i++) {
			const void *v;
			size_t vl;
			CHECK_OK(store_get(txn, DB_RECORDS, l->ids[i], 16, &v, &vl));
		}
	}
	store_txn_abort(txn);
	store_close(st);
	const char *tfd = getenv("TANFANGD");
	CHECK(tfd != NULL);
	const char *argv[] = {tfd, "verify-log", "--data", dd->data, NULL};
	char out[4096];
	int rc = tft_run(argv, out, sizeof out, 120);
	if (rc != 0)
		fprintf(stderr, "%s", out);
	CHECK_EQ_INT(rc, 0);
}

static char *note_of(size_t len)
{
	char *s = malloc(len + 1);
	CHECK(s != NULL);
	memset(s, 'n', len);
	s[len] = '\0';
	return s;
}

/* ---- 1: a full map ---- */

static void full_map(void)
{
	struct tft_daemon d;
	tft_daemon_init(&d);
	start_conf(&d, "map_size_mb = 16\n", false);
	registry(&d);
	struct tally t = {0};
	char *note = note_of(3000);
	submit(&d, "e000", 100000, note, &t);
	CHECK(t.ok > 500);
	CHECK(t.full > 0);
	check_no_other(&t);
	fprintf(stderr, "16 MiB map: %zu visits stored, then: %s\n", t.ok, t.full_detail);
	CHECK(strstr(t.full_detail, "map is full") && strstr(t.full_detail, "map_size_mb"));
	/* Short visits fill what is left, to the last page. */
	size_t full = t.full;
	submit(&d, "e000", 100000, NULL, &t);
	CHECK(t.full > full);
	check_no_other(&t);
	queries_answer(&d, "e000", t.ok);
	CHECK(tft_daemon_alive(&d));
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	/* A changed policy must rewrite every duty, which a full map cannot
	 * take: the daemon starts anyway, read-only, and answers queries. */
	start_conf(&d, "map_size_mb = 16\n", true);
	CHECK(log_has(&d, "read-only"));
	queries_answer(&d, "e000", t.ok);
	char detail[256];
	CHECK_STATUS(visit_once(&d, "e001", &t, detail), STORE_FULL);
	CHECK(strstr(detail, "read-only") && strstr(detail, "map_size_mb"));
	CHECK_STATUS(put_area(&d, "152223100", detail), STORE_FULL);
	CHECK(strstr(detail, "read-only"));
	CHECK(tft_daemon_alive(&d));
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	/* A bigger map takes effect on restart: the policy goes in, and so do
	 * writes. */
	start_conf(&d, "map_size_mb = 64\n", true);
	CHECK(!log_has(&d, "read-only"));
	CHECK_STATUS(visit_once(&d, "e001", &t, detail), OK);
	CHECK_STATUS(put_area(&d, "152223100", detail), OK);
	check_no_other(&t);
	nothing_lost(&d, &t, NULL);
	free(note);
	free(t.ids);
}

/* ---- 2: a full disk, and 3: a device on a full disk ---- */

static void device_full_disk(struct tft_daemon *dd, struct tally *t);

static void full_disk(void)
{
	struct tft_daemon d;
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	registry(&d);
	struct tally t = {0};
	submit(&d, "e000", 20, NULL, &t);
	CHECK_EQ_INT(t.ok, 20);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	/* Nothing may grow the data file: what its free pages hold goes in,
	 * then every write is refused as a full disk. */
	start_limited(&d, "", false, file_size(d.data, "data.mdb"));
	char *note = note_of(1000);
	submit(&d, "e000", 20000, note, &t);
	CHECK(t.full > 0);
	check_no_other(&t);
	fprintf(stderr, "data file at its size limit: %zu visits stored in all, then: %s\n", t.ok,
	        t.full_detail);
	CHECK(strstr(t.full_detail, "disk is full") != NULL);
	queries_answer(&d, "e000", t.ok);
	CHECK(tft_daemon_alive(&d));
	/* Space returns while it runs: the next writes go in. */
	lift_limit(&d);
	size_t ok = t.ok, full = t.full;
	submit(&d, "e000", 40, note, &t);
	CHECK_EQ_INT(t.ok, ok + 40);
	CHECK_EQ_INT(t.full, full);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	/* A changed policy on a full disk: read-only, queries answered; once
	 * space returns the writer installs the policy by itself (it retries
	 * at most 30 s apart) and writes resume without a restart. */
	start_limited(&d, "", true, file_size(d.data, "data.mdb"));
	CHECK(log_has(&d, "read-only"));
	queries_answer(&d, "e000", t.ok);
	char detail[256];
	CHECK_STATUS(visit_once(&d, "e001", &t, detail), STORE_FULL);
	CHECK(strstr(detail, "read-only") && strstr(detail, "disk is full"));
	lift_limit(&d);
	int status = TANFANG__V1__STATUS__STATUS_STORE_FULL;
	int64_t deadline = clock_mono_ms() + 60000;
	while (status == TANFANG__V1__STATUS__STATUS_STORE_FULL && clock_mono_ms() < deadline) {
		status = visit_once(&d, "e001", &t, detail);
		if (status == TANFANG__V1__STATUS__STATUS_STORE_FULL) {
			struct timespec ts = {0, 250 * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	CHECK_STATUS(status, OK);
	CHECK(log_has(&d, "policy installed"));
	check_no_other(&t);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);

	device_full_disk(&d, &t);
	free(note);
	free(t.ids);
}

/* The child's half of part 3: runs with the outbox file at its size limit,
 * writes the ids it recorded to fd, and exits 0 if every check held. */
static void device_child(struct tft_daemon *dd, const char *dev, size_t recorded, int fd)
{
	signal(SIGXFSZ, SIG_IGN);
	char outbox[PATH_MAX + 16];
	snprintf(outbox, sizeof outbox, "%s/outbox", dev);
	struct rlimit rl = {(rlim_t)file_size(outbox, "data.mdb"), RLIM_INFINITY};
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	struct tanfang *h;
	CHECK_OK(tanfang_open(dev, &h));
	/* New records go in while the room kept for removals stays free,
	 * then are refused: the device is full. */
	int r = 0;
	size_t more = 0;
	for (unsigned i = 0; i < 5000 && r == 0; i++) {
		struct tanfang_visit v = {.elder_id = "e002",
		                          .kind = TANFANG_VISIT_DOOR,
		                          .visited_at = clock_now() - 1800,
		                          .note = "recorded on a full device"};
		uint8_t id[16];
		r = tanfang_record_visit(h, &v, id);
		if (r == 0) {
			more++;
			CHECK(write(fd, id, 16) == 16);
		}
	}
	CHECK_EQ_INT(r, -ENOSPC);
	/* Every record is delivered and, acknowledged, removed. */
	struct tanfang_sync_opts o = {
	    .attempts = 3, .base_delay_ms = 50, .max_delay_ms = 200, .timeout_ms = 10000};
	struct tanfang_sync_result res;
	CHECK_OK(tanfang_sync(h, dd->endpoint, tft_daemon_key(dd), &o, &res));
	CHECK_EQ_INT(res.ok, recorded + more);
	CHECK_EQ_INT(res.duplicate, 0);
	CHECK_EQ_INT(res.refused, 0);
	CHECK_EQ_INT(res.pending, 0);
	CHECK_EQ_INT(res.passes, 1);
	/* Nothing is sent again. */
	CHECK_OK(tanfang_sync(h, dd->endpoint, tft_daemon_key(dd), &o, &res));
	CHECK_EQ_INT(res.sent, 0);
	tanfang_close(h);
	exit(0);
}

static void device_full_disk(struct tft_daemon *dd, struct tally *t)
{
	start_conf(dd, "", true);
	char dev[PATH_MAX];
	snprintf(dev, sizeof dev, "%s/device", dd->dir);
	char pk_hex[TANFANG_PK_HEX_LEN];
	CHECK_OK(tanfang_keygen(dev, pk_hex));
	uint8_t pk[32];
	for (int i = 0; i < 32; i++) {
		unsigned b;
		CHECK(sscanf(pk_hex + 2 * i, "%2x", &b) == 1);
		pk[i] = (uint8_t)b;
	}
	struct rpc *admin;
	tft_admin_rpc(dd, &admin);
	tft_put_visitor(admin, "g2", "Wu Yun", TANFANG__V1__ROLE__ROLE_GRID_WORKER, AREA);
	tft_enrol(admin, pk, "g2");
	rpc_close(admin);

	/* Recorded offline, with room. */
	struct tally dev_ids = {0};
	struct tanfang *h;
	CHECK_OK(tanfang_open(dev, &h));
	char *note = note_of(1000);
	const size_t recorded = 200;
	for (size_t i = 0; i < recorded; i++) {
		struct tanfang_visit v = {.elder_id = "e002",
		                          .kind = TANFANG_VISIT_PHONE,
		                          .visited_at = clock_now() - 7200 + (int64_t)i,
		                          .note = note};
		uint8_t id[16];
		CHECK_OK(tanfang_record_visit(h, &v, id));
		remember(&dev_ids, id);
	}
	tanfang_close(h);
	free(note);

	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		device_child(dd, dev, recorded, fds[1]);
	}
	close(fds[1]);
	uint8_t id[16];
	ssize_t got;
	while ((got = read(fds[0], id, sizeof id)) == (ssize_t)sizeof id)
		remember(&dev_ids, id);
	CHECK_EQ_INT(got, 0);
	close(fds[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(dev_ids.n_ids > recorded);

	size_t pending, refused;
	CHECK_OK(tanfang_open(dev, &h));
	CHECK_OK(tanfang_status(h, &pending, &refused));
	CHECK_EQ_INT(pending, 0);
	CHECK_EQ_INT(refused, 0);
	tanfang_close(h);
	nothing_lost(dd, t, &dev_ids);
	free(dev_ids.ids);
}

int main(void)
{
	CHECK_OK(envelope_init());
	CHECK_OK(keys_generate(&grid));
	full_map();
	full_disk();
	return tft_done();
}
