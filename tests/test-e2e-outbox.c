/* The field client's promise, against the real daemon: a device loses no
 * recorded visit while the daemon is unreachable, while it is killed in the
 * middle of a sync, or when the daemon refuses something; it resends until
 * acknowledged, and the daemon stores every record exactly once.
 *
 *  1. records made while the daemon is down stay pending; sync reports it
 *  2. daemon up: sync stores them; an unknown elder's visit is refused, kept
 *     and reported; requeued after the elder is registered, it is stored
 *  3. a sync process killed with SIGKILL right after a reply (before the
 *     outbox noted it), and another killed from outside at an arbitrary
 *     moment: a fresh sync from the same folder finishes the job, the
 *     resent acknowledged envelopes come back as duplicates
 *  4. the daemon's store, read after it stopped, holds each record once. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "clock.h"
#include "store.h"
#include "tanfang/tanfang.h"
#include "tf_test.h"

#define AREA          "152223"
#define ELDER         "E-0001"
#define UNKNOWN_ELDER "E-0404"
#define MANY          600

static struct tft_daemon d;
static char dev[PATH_MAX];

/* Record ids a device made that a daemon should hold, each exactly once. */
struct idlist {
	uint8_t (*v)[16];
	size_t n, cap;
};

static struct idlist ids; /* the main daemon's */

static void remember_in(struct idlist *l, const uint8_t id[16])
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		CHECK(l->v != NULL);
	}
	memcpy(l->v[l->n++], id, 16);
}

static void remember(const uint8_t id[16])
{
	remember_in(&ids, id);
}

static void record_visits_to(struct tanfang *h, const char *elder, size_t n, const char *note,
                             struct idlist *l)
{
	for (size_t i = 0; i < n; i++) {
		struct tanfang_visit v = {
		    .elder_id = elder,
		    .kind = (i % 2) ? TANFANG_VISIT_PHONE : TANFANG_VISIT_DOOR,
		    .visited_at = clock_now() - 3600 + (int64_t)i,
		    .duration_min = 20,
		    .basic_living = {TANFANG_FINDING_OK, "ok"},
		    .needs = TANFANG_AID_BIT(TANFANG_AID_MEALS),
		    .note = note,
		};
		uint8_t id[16];
		CHECK_OK(tanfang_record_visit(h, &v, id));
		remember_in(l, id);
	}
}

static void record_visits(struct tanfang *h, const char *elder, size_t n)
{
	record_visits_to(h, elder, n, "e2e outbox", &ids);
}

static size_t pending_count(struct tanfang *h)
{
	size_t p, r;
	CHECK_OK(tanfang_status(h, &p, &r));
	return p;
}

static size_t refused_count(struct tanfang *h)
{
	size_t p, r;
	CHECK_OK(tanfang_status(h, &p, &r));
	return r;
}

static int pick_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

static struct tanfang_sync_opts quick = {
    .attempts = 3, .base_delay_ms = 50, .max_delay_ms = 200, .timeout_ms = 5000};

/* ---- 1: offline ---- */

static void offline(struct tanfang *h)
{
	record_visits(h, ELDER, 5);
	struct tanfang_event e = {.elder_id = ELDER,
	                          .type = TANFANG_EVENT_FALL,
	                          .severity = TANFANG_SEVERITY_URGENT,
	                          .note = "fell in the yard"};
	uint8_t id[16];
	CHECK_OK(tanfang_record_event(h, &e, id));
	remember(id);
	CHECK_EQ_INT(pending_count(h), 6);

	/* Nobody listens on the port yet: every pass times out, nothing is
	 * lost, and the passes are spaced by the backoff. */
	struct tanfang_sync_opts o = {
	    .attempts = 3, .base_delay_ms = 100, .max_delay_ms = 150, .timeout_ms = 200};
	struct tanfang_sync_result res;
	int64_t t0 = clock_mono_ms();
	CHECK_EQ_INT(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &o, &res), TANFANG_E_TIMEOUT);
	int64_t took = clock_mono_ms() - t0;
	CHECK_EQ_INT(res.passes, 3);
	CHECK_EQ_INT(res.sent, 3 * 6);
	CHECK_EQ_INT(res.ok + res.duplicate + res.refused, 0);
	CHECK_EQ_INT(res.pending, 6);
	/* 3 timeouts of 200 ms, backoff 100 then 150 (capped from 200). */
	CHECK(took >= 3 * 200 + 100 + 150);
	CHECK(took < 10000);
	CHECK_EQ_INT(pending_count(h), 6);

	/* A bad endpoint or key is a usage error, not "still pending". */
	CHECK_EQ_INT(tanfang_sync(h, "nonsense://x", NULL, &o, &res), -EINVAL);
	CHECK_EQ_INT(tanfang_sync(h, d.endpoint, "tooshort", &o, &res), -EINVAL);
	CHECK_EQ_INT(pending_count(h), 6);

	/* One visit for an elder the registry does not know (yet). */
	struct tanfang_visit v = {.elder_id = UNKNOWN_ELDER, .kind = TANFANG_VISIT_DOOR};
	CHECK_OK(tanfang_record_visit(h, &v, id));
	remember(id);
	CHECK_EQ_INT(pending_count(h), 7);
}

/* ---- 2: delivery, refusal, requeue ---- */

struct refusal_seen {
	int n;
	char status[64], elder[64], what[32], detail[256], id_hex[33];
};

static int see_refusal(void *ctx, const struct tanfang_refusal *r)
{
	struct refusal_seen *s = ctx;
	s->n++;
	snprintf(s->status, sizeof s->status, "%s", r->status);
	snprintf(s->elder, sizeof s->elder, "%s", r->elder_id);
	snprintf(s->what, sizeof s->what, "%s", r->what);
	snprintf(s->detail, sizeof s->detail, "%s", r->detail);
	snprintf(s->id_hex, sizeof s->id_hex, "%s", r->id_hex);
	return 0;
}

static int stop_at_first(void *ctx, const uint8_t id[16], const char *status)
{
	(void)ctx, (void)id, (void)status;
	return 1;
}

static void online(struct tanfang *h, struct rpc *admin)
{
	struct tanfang_sync_result res;
	CHECK_OK(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &quick, &res));
	CHECK_EQ_INT(res.ok, 6);
	CHECK_EQ_INT(res.duplicate, 0);
	CHECK_EQ_INT(res.refused, 1);
	CHECK_EQ_INT(res.pending, 0);
	CHECK_EQ_INT(pending_count(h), 0);
	CHECK_EQ_INT(refused_count(h), 1);

	struct refusal_seen s = {0};
	CHECK_OK(tanfang_refused_foreach(h, see_refusal, &s));
	CHECK_EQ_INT(s.n, 1);
	CHECK_STREQ(s.status, "STATUS_UNKNOWN_ELDER");
	CHECK_STREQ(s.elder, UNKNOWN_ELDER);
	CHECK_STREQ(s.what, "visit");
	uint8_t refused_id[16]; /* the unknown elder's visit, recorded last */
	memcpy(refused_id, ids.v[ids.n - 1], 16);
	char last_hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(last_hex + 2 * i, 3, "%02x", refused_id[i]);
	CHECK_STREQ(s.id_hex, last_hex);

	/* A progress callback can end a sync: the reply it saw is not applied
	 * (the entry stays pending); the daemon stored it, so the next sync
	 * gets a duplicate for it. */
	record_visits(h, ELDER, 3);
	struct tanfang_sync_opts stop = quick;
	stop.progress = stop_at_first;
	CHECK_EQ_INT(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &stop, &res), -ECANCELED);
	CHECK_EQ_INT(res.ok + res.duplicate + res.refused, 0);
	CHECK_EQ_INT(pending_count(h), 3);
	CHECK_OK(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &quick, &res));
	CHECK_EQ_INT(res.ok + res.duplicate, 3);
	CHECK(res.duplicate >= 1);
	CHECK_EQ_INT(pending_count(h), 0);

	/* Nothing pending: a sync sends nothing and succeeds. */
	CHECK_OK(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &quick, &res));
	CHECK_EQ_INT(res.sent, 0);

	/* The admin registers the elder; the same signed visit goes again. */
	tft_put_elder(admin, UNKNOWN_ELDER, "Wang Guihua", AREA,
	              TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	CHECK_EQ_INT(tanfang_requeue(h, refused_id), 0);
	CHECK_EQ_INT(tanfang_requeue(h, refused_id), -ENOENT);
	CHECK_EQ_INT(pending_count(h), 1);
	CHECK_OK(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &quick, &res));
	CHECK_EQ_INT(res.ok, 1);
	CHECK_EQ_INT(refused_count(h), 0);
}

/* ---- 3: killed mid-sync ---- */

static size_t kill_after;
static size_t replies_seen;

static int die_after(void *ctx, const uint8_t id[16], const char *status)
{
	(void)ctx, (void)id;
	if (strcmp(status, "STATUS_OK") != 0)
		_exit(3);
	if (++replies_seen == kill_after)
		raise(SIGKILL); /* before the outbox notes this reply */
	return 0;
}

/* Child: sync from the folder, optionally killing itself at the k-th reply. */
static pid_t spawn_sync(size_t k)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid)
		return pid;
	struct tanfang *h;
	if (tanfang_open(dev, &h) < 0)
		_exit(4);
	kill_after = k;
	struct tanfang_sync_opts o = quick;
	o.timeout_ms = 20000;
	if (k)
		o.progress = die_after;
	struct tanfang_sync_result res;
	int r = tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &o, &res);
	tanfang_close(h);
	fprintf(stderr, "sync process %d: sent %zu, stored %zu, duplicates %zu, pending %zu\n",
	        (int)getpid(), res.sent, res.ok, res.duplicate, res.pending);
	_exit(r == 0 && res.refused == 0 ? 0 : 5);
}

static void killed_mid_sync(void)
{
	struct tanfang *h;
	CHECK_OK(tanfang_open(dev, &h));
	record_visits(h, ELDER, MANY);
	CHECK_EQ_INT(pending_count(h), MANY);
	tanfang_close(h); /* no LMDB environment across fork() */

	/* a) killed by itself right after its 250th acknowledgement. */
	const size_t k = 250;
	pid_t pid = spawn_sync(k);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	CHECK_OK(tanfang_open(dev, &h));
	size_t left = pending_count(h);
	/* Some acknowledgements were committed, and none without an ack. */
	CHECK(left < MANY);
	CHECK(left > MANY - k);
	size_t removed = MANY - left;
	struct tanfang_sync_result res;
	CHECK_OK(tanfang_sync(h, d.endpoint, tft_daemon_key(&d), &quick, &res));
	/* The acknowledged records whose removal was not yet committed come
	 * back as duplicates, and so may frames that were in flight (stored,
	 * reply never read); the rest are new. None is a conflict. */
	CHECK(res.duplicate >= k - removed);
	CHECK(res.duplicate <= k - removed + (quick.window ? quick.window : 64));
	CHECK_EQ_INT(res.ok + res.duplicate, left);
	CHECK_EQ_INT(res.refused, 0);
	fprintf(stderr,
	        "killed at ack %zu: %zu removals were committed; the fresh sync stored %zu, "
	        "%zu came back as duplicates\n",
	        k, removed, res.ok, res.duplicate);
	CHECK_EQ_INT(pending_count(h), 0);

	/* b) killed from outside at whatever moment it has reached. */
	record_visits(h, ELDER, MANY);
	tanfang_close(h);
	pid = spawn_sync(0);
	CHECK_OK(tanfang_open(dev, &h)); /* this process's own environment */
	int64_t deadline = clock_mono_ms() + 60000;
	while (pending_count(h) > MANY - 100 && clock_mono_ms() < deadline) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	left = pending_count(h);
	CHECK(left <= MANY - 100);
	fprintf(stderr, "sync process killed from outside with %zu of %d pending\n", left, MANY);
	tanfang_close(h);

	/* The fresh sync runs in its own process too, as a restarted app would. */
	pid = spawn_sync(0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(tanfang_open(dev, &h));
	CHECK_EQ_INT(pending_count(h), 0);
	CHECK_EQ_INT(refused_count(h), 0);
	tanfang_close(h);
}

/* ---- 4: stored exactly once ---- */

/* Stops the daemon and checks its store holds exactly the records in l. */
static void count_records(struct tft_daemon *dd, const struct idlist *l)
{
	CHECK_EQ_INT(tft_daemon_stop(dd), 0);
	struct store_options o = {.read_only = true};
	struct store *st;
	CHECK_OK(store_open(dd->data, &o, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	size_t n;
	CHECK_OK(store_count(txn, DB_RECORDS, &n));
	CHECK_EQ_INT(n, l->n);
	for (size_t i = 0; i < l->n; i++) {
		const void *v;
		size_t vl;
		CHECK_OK(store_get(txn, DB_RECORDS, l->v[i], 16, &v, &vl));
	}
	store_txn_abort(txn);
	store_close(st);
}

/* ---- 5: a full store and an oversize frame ---- */

/* Starts dd with a configuration file holding the given [daemon] lines. */
static void start_with(struct tft_daemon *dd, const char *conf)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/tanfangd-%d.conf", dd->dir, dd->starts + 1);
	FILE *f = fopen(path, "we");
	CHECK(f != NULL);
	fprintf(f, "[daemon]\n%s", conf);
	CHECK(fclose(f) == 0);
	const char *extra[] = {"--config", path, NULL};
	tft_daemon_start(dd, extra);
}

static void registry_for(struct tft_daemon *dd, const char *pk_hex)
{
	struct rpc *admin;
	tft_admin_rpc(dd, &admin);
	tft_put_area(admin, AREA, "Zalaite Banner", "");
	tft_put_visitor(admin, "gw-001", "Bao Lin", TANFANG__V1__ROLE__ROLE_GRID_WORKER, AREA);
	uint8_t pk[32];
	for (int i = 0; i < 32; i++) {
		unsigned b;
		CHECK(sscanf(pk_hex + 2 * i, "%2x", &b) == 1);
		pk[i] = (uint8_t)b;
	}
	tft_enrol(admin, pk, "gw-001");
	tft_put_elder(admin, ELDER, "Li Shufen", AREA,
	              TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	rpc_close(admin);
}

static void full_and_oversize(void)
{
	struct tft_daemon d2;
	tft_daemon_init(&d2);
	char dev2[PATH_MAX];
	snprintf(dev2, sizeof dev2, "%s/device2", tft_tmpdir());
	char pk_hex[TANFANG_PK_HEX_LEN];
	CHECK_OK(tanfang_keygen(dev2, pk_hex));
	struct tanfang *h;
	CHECK_OK(tanfang_open(dev2, &h));
	struct idlist stored = {0}, big = {0};

	/* Oversize: the daemon's frame limit is below one long-noted visit.
	 * The refusal carries the ref, so it is matched among many in flight. */
	char *long_note = malloc(4001);
	CHECK(long_note != NULL);
	memset(long_note, 'x', 4000);
	long_note[4000] = '\0';
	start_with(&d2, "max_message_size = 2048\n");
	registry_for(&d2, pk_hex);
	record_visits_to(h, ELDER, 10, "small", &stored);
	record_visits_to(h, ELDER, 1, long_note, &big);
	record_visits_to(h, ELDER, 10, "small", &stored);
	struct tanfang_sync_result res;
	CHECK_OK(tanfang_sync(h, d2.endpoint, tft_daemon_key(&d2), &quick, &res));
	CHECK_EQ_INT(res.ok, 20);
	CHECK_EQ_INT(res.refused, 1);
	CHECK_EQ_INT(res.passes, 1);
	struct refusal_seen s = {0};
	CHECK_OK(tanfang_refused_foreach(h, see_refusal, &s));
	CHECK_EQ_INT(s.n, 1);
	CHECK_STREQ(s.status, "STATUS_TOO_LARGE");
	CHECK_EQ_INT(tft_daemon_stop(&d2), 0);

	/* Full: a 16 MiB map fills up with long-noted visits. STORE_FULL
	 * leaves them pending (nothing was written); a restart with room
	 * delivers every one, none twice. */
	start_with(&d2, "map_size_mb = 16\n");
	/* Each takes about 8 KB (its note in the record; the log names the
	 * record): 3,000 are about half again what the map holds. */
	const size_t n_full = 3000;
	record_visits_to(h, ELDER, n_full, long_note, &stored);
	struct tanfang_sync_opts o = quick;
	o.attempts = 2;
	CHECK_EQ_INT(tanfang_sync(h, d2.endpoint, tft_daemon_key(&d2), &o, &res),
	             TANFANG_E_TIMEOUT);
	CHECK(res.retried > 0);
	CHECK(res.ok > 0);
	CHECK_EQ_INT(res.refused, 0);
	CHECK_EQ_INT(res.pending, n_full - res.ok);
	fprintf(stderr, "16 MiB store: %zu stored, %zu store-full answers, %zu left pending\n",
	        res.ok, res.retried, res.pending);
	CHECK(tft_daemon_alive(&d2));
	CHECK_EQ_INT(tft_daemon_stop(&d2), 0);

	start_with(&d2, "map_size_mb = 256\n");
	CHECK_OK(tanfang_sync(h, d2.endpoint, tft_daemon_key(&d2), &quick, &res));
	CHECK_EQ_INT(res.duplicate, 0);
	CHECK_EQ_INT(res.refused, 0);
	CHECK_EQ_INT(pending_count(h), 0);
	tanfang_close(h);
	count_records(&d2, &stored);
	free(long_note);
	free(big.v);
	free(stored.v);
}

int main(void)
{
	tft_daemon_init(&d);
	/* The port is fixed before the first start so the device can try it
	 * while nothing listens there. */
	d.port = pick_port();
	snprintf(d.endpoint, sizeof d.endpoint, "tcp://127.0.0.1:%d", d.port);
	snprintf(dev, sizeof dev, "%s/device", tft_tmpdir());

	char pk_hex[TANFANG_PK_HEX_LEN];
	CHECK_OK(tanfang_keygen(dev, pk_hex));
	struct tanfang *h;
	CHECK_OK(tanfang_open(dev, &h));
	offline(h);

	tft_daemon_start(&d, NULL);
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, AREA, "Zalaite Banner", "");
	tft_put_visitor(admin, "gw-001", "Bao Lin", TANFANG__V1__ROLE__ROLE_GRID_WORKER, AREA);
	uint8_t pk[32];
	for (int i = 0; i < 32; i++) {
		unsigned b;
		CHECK(sscanf(pk_hex + 2 * i, "%2x", &b) == 1);
		pk[i] = (uint8_t)b;
	}
	tft_enrol(admin, pk, "gw-001");
	tft_put_elder(admin, ELDER, "Li Shufen", AREA,
	              TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);

	online(h, admin);
	tanfang_close(h);
	rpc_close(admin);

	killed_mid_sync();
	count_records(&d, &ids);
	free(ids.v);
	full_and_oversize();
	return tft_done();
}
