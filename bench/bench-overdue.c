/* bench-overdue: the supervisor's queries on a big store (BRIEF.md section
 * 6: "the first page of an overdue list in milliseconds from a store of a
 * million elders; memory that does not grow with the store").
 *
 * 1. `tanfangd init` makes a data folder; the daemon is started on it once,
 *    empty, to read its resident memory (VmRSS, from /proc), and stopped.
 * 2. The store is filled in this process through the daemon's own request
 *    path (core/ingest.h): every registry change and every visit is a
 *    request sealed with a real Ed25519 key, verified by ingest_verify (on
 *    two threads) and written by ingest_write_batch in big transactions,
 *    as the daemon's writer does, minus the sockets, which would only add
 *    time to building 12 million visits.
 * 3. The daemon is started again on the full store; the overdue list's
 *    first page (median of --runs) and the whole-store monthly report are
 *    timed from a client over loopback with CURVE, signed by the banner's
 *    supervisor; resident memory is read after start and after the queries.
 *
 *   bench-overdue [--elders N] [--visits N] [--quick] [--runs N] [--daemon PATH] [--keep]
 *
 * Default: 1,000,000 elders and 12,000,000 visits (long on 2 cores: see the
 * figures printed as it goes); --quick: 100,000 and 1,200,000. The daemon
 * is $TANFANGD, or --daemon, or ../daemon/tanfangd beside this program.
 * Prints figures beside the targets; not a test (the machine is shared). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "clock.h"
#include "envelope.h"
#include "ingest.h"
#include "keys.h"
#include "period.h"
#include "policy.h"
#include "rpc.h"
#include "store.h"
#include "wire.h"

#define PROG "bench-overdue"

#define ELDERS_PER_VILLAGE     100
#define VILLAGES_PER_TOWNSHIP  100
#define NEIGHBOURS_PER_VILLAGE 10
#define WRITE_BATCH            4096
#define PRODUCERS              2
#define QUEUE_CAP              (4 * WRITE_BATCH)
#define ROOT                   "152223"
/* 2026-11-20 10:00 Asia/Shanghai: the clock of the build and the daemon. */
#define NOW ((int64_t)1795140000)

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x

static struct {
	unsigned long elders, visits;
	unsigned runs;
	const char *daemon;
	bool keep;
	const char *reuse; /* a folder kept by --keep: time the queries again */
} opt = {1000000, 12000000, 21, NULL, false, NULL};

static char tmp[PATH_MAX - 64], data[PATH_MAX], endpoint[64], curve_pub[64], config[PATH_MAX];
static pid_t daemon_pid;

static void die(const char *what, int r)
{
	fprintf(stderr, PROG ": %s: %s\n", what, r ? tf_strerror(r) : strerror(errno));
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(1);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the model: villages of 100 elders, each with a grid worker, two
 * party members and ten neighbour households ---- */

static unsigned long n_villages(void)
{
	return (opt.elders + ELDERS_PER_VILLAGE - 1) / ELDERS_PER_VILLAGE;
}

static void village_code(unsigned long v, char out[16])
{
	/* 152223 + township (3 digits, from 100) + village (3 digits, from 200). */
	snprintf(out, 16, "%s%03u%03u", ROOT, (unsigned)((100 + v / VILLAGES_PER_TOWNSHIP) % 1000),
	         (unsigned)(200 + v % VILLAGES_PER_TOWNSHIP));
}

/* Visitors of village v: 0 grid worker, 1-2 party members, 3.. neighbours. */
#define VISITORS_PER_VILLAGE (3 + NEIGHBOURS_PER_VILLAGE)

static void visitor_id(unsigned long v, unsigned k, char out[32])
{
	char vc[16];
	village_code(v, vc);
	if (k == 0)
		snprintf(out, 32, "G%s", vc);
	else if (k < 3)
		snprintf(out, 32, "P%s-%u", vc, k);
	else
		snprintf(out, 32, "N%s-%02u", vc, k - 2);
}

static struct keypair *keys; /* per visitor: village * VISITORS_PER_VILLAGE + k */

/* ---- the in-process request path ---- */

struct build {
	struct store *st;
	struct ingest *ig;
	struct keypair admin;
	unsigned long ok, refused, flagged;
};

static struct job *make_job(struct ingest *ig, const struct keypair *kp, tf_request *req)
{
	req->sent_at_ms = clock_now_ms();
	uint8_t *body, *frame;
	size_t blen, flen;
	int r = wire_pack(WIRE_REQUEST, req, &body, &blen);
	if (r < 0)
		die("wire_pack", r);
	r = envelope_seal(kp->sk, body, blen, &frame, &flen);
	free(body);
	if (r < 0)
		die("envelope_seal", r);
	struct job *j;
	r = ingest_verify(ig, frame, flen, &j);
	free(frame);
	if (r < 0)
		die("ingest_verify", r);
	return j;
}

static void write_jobs(struct build *b, struct job **jobs, size_t n)
{
	if (!n)
		return;
	int r = ingest_write_batch(b->ig, jobs, n);
	if (r < 0)
		die("ingest_write_batch", r);
	for (size_t i = 0; i < n; i++) {
		int s = job_status(jobs[i]);
		if (s == TANFANG__V1__STATUS__STATUS_OK ||
		    s == TANFANG__V1__STATUS__STATUS_DUPLICATE) {
			b->ok++;
		} else {
			if (b->refused++ < 5) {
				uint8_t *out;
				size_t ol;
				tf_reply *rep = NULL;
				if (job_reply(jobs[i], &out, &ol) == 0) {
					if (wire_unpack(WIRE_REPLY, out, ol, (void **)&rep) < 0)
						rep = NULL;
					free(out);
				}
				fprintf(stderr, PROG ": refused: %s: %s\n", wire_status_name(s),
				        rep ? rep->detail : "");
				wire_free(WIRE_REPLY, rep);
			}
		}
		job_free(jobs[i]);
	}
}

/* A sequential writer for the registry: requests in order, WRITE_BATCH per
 * transaction (a village's parent is written before it in the same batch). */
struct seq {
	struct build *b;
	struct job *jobs[WRITE_BATCH];
	size_t n;
};

/* Queues a request; writes the batch when it holds `max` of them (an
 * import of a thousand elders is a big transaction of its own: LMDB
 * refuses a transaction with too many dirty pages). */
static void seq_add(struct seq *q, const struct keypair *kp, tf_request *req, size_t max)
{
	q->jobs[q->n++] = make_job(q->b->ig, kp, req);
	if (q->n >= max) {
		write_jobs(q->b, q->jobs, q->n);
		q->n = 0;
	}
}

static void seq_flush(struct seq *q)
{
	write_jobs(q->b, q->jobs, q->n);
	q->n = 0;
}

static void put_area(struct seq *q, const char *code, const char *name, const char *parent)
{
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = (char *)code, a.name = (char *)name, a.parent = (char *)parent;
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_AREA);
	req.put_area = &pa;
	seq_add(q, &q->b->admin, &req, WRITE_BATCH);
}

static void put_visitor(struct seq *q, const char *id, int role, const char *area,
                        const uint8_t pk[32])
{
	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = (char *)id, v.name = (char *)id, v.role = role, v.area = (char *)area;
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_VISITOR);
	req.put_visitor = &pv;
	seq_add(q, &q->b->admin, &req, WRITE_BATCH);
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = (uint8_t *)pk, ek.public_key.len = 32;
	ek.visitor_id = (char *)id;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ENROL_KEY);
	req.enrol_key = &ek;
	seq_add(q, &q->b->admin, &req, WRITE_BATCH);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The registry: areas, visitors (each with a key), elders in imports of
 * 1000; registered 200 days before NOW so every month counts them. */
static void build_registry(struct build *b, const struct keypair *super)
{
	struct seq q = {.b = b};
	char code[16], tcode[16], id[32];
	put_area(&q, ROOT, "扎赉特旗", "");
	unsigned long nv = n_villages();
	keys = calloc(nv * VISITORS_PER_VILLAGE, sizeof *keys);
	if (!keys)
		die("out of memory", -ENOMEM);
	for (unsigned long v = 0; v < nv; v++) {
		village_code(v, code);
		memcpy(tcode, code, 9);
		tcode[9] = '\0';
		if (v % VILLAGES_PER_TOWNSHIP == 0)
			put_area(&q, tcode, "镇", ROOT);
		put_area(&q, code, "村", tcode);
	}
	put_visitor(&q, "S" ROOT, ROLE(SUPERVISOR), ROOT, super->pk);
	for (unsigned long v = 0; v < nv; v++) {
		village_code(v, code);
		for (unsigned k = 0; k < VISITORS_PER_VILLAGE; k++) {
			struct keypair *kp = &keys[v * VISITORS_PER_VILLAGE + k];
			if (keys_generate(kp) < 0)
				die("keys_generate", -EIO);
			visitor_id(v, k, id);
			int role = k == 0  ? ROLE(GRID_WORKER)
			           : k < 3 ? ROLE(PARTY_MEMBER)
			                   : ROLE(NEIGHBOUR);
			put_visitor(&q, id, role, code, kp->pk);
		}
	}
	seq_flush(&q);
	/* Elders. */
	enum { CHUNK = 1000 };
	static tf_elder el[CHUNK];
	static tf_elder *ptrs[CHUNK];
	static char ids[CHUNK][24], areas[CHUNK][16], vis[CHUNK][2][32], nbs[CHUNK][2][32];
	static char *visp[CHUNK][2], *nbp[CHUNK][2];
	static Tanfang__V1__Category cats[CHUNK][3];
	for (unsigned long from = 0; from < opt.elders; from += CHUNK) {
		size_t n = opt.elders - from < CHUNK ? opt.elders - from : CHUNK;
		for (size_t i = 0; i < n; i++) {
			unsigned long e = from + i, v = e / ELDERS_PER_VILLAGE;
			uint64_t h = mix(e);
			tf_elder *x = &el[i];
			wire_init(WIRE_ELDER, x);
			snprintf(ids[i], sizeof ids[i], "E%07lu", e);
			village_code(v, areas[i]);
			x->id = ids[i], x->name = "老人", x->area = areas[i];
			/* Mostly living alone or in extreme poverty; about one in
			 * ten living alone and incapacitated (high risk). */
			size_t nc = 0;
			cats[i][nc++] = h % 10 < 5
			                    ? TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE
			                    : TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY;
			if (h % 10 == 0)
				cats[i][nc++] = TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED;
			x->categories = cats[i], x->n_categories = nc;
			visitor_id(v, 0, vis[i][0]);
			visitor_id(v, 1 + (unsigned)(e % 2), vis[i][1]);
			visp[i][0] = vis[i][0], visp[i][1] = vis[i][1];
			x->visitors = visp[i], x->n_visitors = 2;
			/* One elder in twenty has a single neighbour household:
			 * "1+2 not set up", overdue at once. */
			visitor_id(v, 3 + (unsigned)((2 * e) % NEIGHBOURS_PER_VILLAGE), nbs[i][0]);
			visitor_id(v, 3 + (unsigned)((2 * e + 1) % NEIGHBOURS_PER_VILLAGE),
			           nbs[i][1]);
			nbp[i][0] = nbs[i][0], nbp[i][1] = nbs[i][1];
			x->neighbours = nbp[i], x->n_neighbours = (h >> 8) % 20 == 0 ? 1 : 2;
			ptrs[i] = x;
		}
		Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
		im.elders = ptrs, im.n_elders = n;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(IMPORT_ELDERS);
		req.import_elders = &im;
		seq_add(&q, &b->admin, &req, 8);
	}
	seq_flush(&q);
}

/* ---- visits: two producer threads seal and verify, this thread writes ---- */

struct queue {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	struct job *jobs[QUEUE_CAP];
	size_t head, n;
	unsigned producers_left;
};

static struct queue queue;
static atomic_ulong next_elder;
static struct build *the_build;

static void queue_push(struct job *j)
{
	pthread_mutex_lock(&queue.mu);
	while (queue.n == QUEUE_CAP)
		pthread_cond_wait(&queue.not_full, &queue.mu);
	queue.jobs[(queue.head + queue.n++) % QUEUE_CAP] = j;
	pthread_cond_signal(&queue.not_empty);
	pthread_mutex_unlock(&queue.mu);
}

/* Takes up to max jobs; 0 when every producer is done and nothing is left. */
static size_t queue_pop(struct job **out, size_t max)
{
	pthread_mutex_lock(&queue.mu);
	while (queue.n == 0 && queue.producers_left)
		pthread_cond_wait(&queue.not_empty, &queue.mu);
	size_t n = 0;
	while (n < max && queue.n) {
		out[n++] = queue.jobs[queue.head];
		queue.head = (queue.head + 1) % QUEUE_CAP;
		queue.n--;
	}
	pthread_cond_broadcast(&queue.not_full);
	pthread_mutex_unlock(&queue.mu);
	return n;
}

/* The visits of elder e, k = 0..per-1, newest first: the two neighbour
 * households' checks of this week, the grid worker's and the party
 * member's visits of this month, then older visits of every kind, one
 * about every 20 days back. One elder in eight is neglected (everything
 * six weeks older), so about an eighth of the elders are overdue on every
 * rule: a heavy overdue index, as a badly run banner would have. */
static void elder_visits(unsigned long e, unsigned per, unsigned extra)
{
	unsigned long v = e / ELDERS_PER_VILLAGE;
	uint64_t h = mix(e ^ 0xabcdefull);
	int64_t lag = h % 8 == 0 ? 45 * 86400 : 0;
	char eid[24];
	snprintf(eid, sizeof eid, "E%07lu", e);
	unsigned n = per + (e < extra ? 1 : 0);
	for (unsigned k = 0; k < n; k++) {
		uint64_t r = mix(h + k);
		unsigned who;
		int kind;
		int64_t ago;
		switch (k < 4 ? k : 4 + (k - 4) % 4) {
		case 0:
		case 1:
			who = 3 + (unsigned)((2 * e + k) % NEIGHBOURS_PER_VILLAGE);
			kind = KIND(NEIGHBOUR_CHECK);
			break;
		case 2:
		case 4:
		case 5: who = 0, kind = r % 3 ? KIND(DOOR) : KIND(PHONE); break;
		case 3:
		case 6: who = 1 + (unsigned)(e % 2), kind = KIND(PARTY_MEMBER); break;
		default:
			who = 3 + (unsigned)((2 * e + k) % NEIGHBOURS_PER_VILLAGE);
			kind = KIND(NEIGHBOUR_CHECK);
			break;
		}
		if (k < 2)
			ago = (int64_t)(r % (6 * 86400));
		else if (k < 4)
			ago = (int64_t)(r % (19 * 86400));
		else
			ago = 20 * 86400 + (int64_t)(k - 4) * 20 * 86400 +
			      (int64_t)(r % (10 * 86400));
		uint8_t id[16];
		uint64_t a = e, b2 = ((uint64_t)k << 32) | 0x5eed;
		memcpy(id, &a, 8);
		memcpy(id + 8, &b2, 8);
		tf_visit vis;
		wire_init(WIRE_VISIT, &vis);
		vis.id.data = id, vis.id.len = 16;
		vis.elder_id = eid;
		vis.kind = kind;
		vis.visited_at = NOW - lag - ago;
		vis.duration_min = 20;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(VISIT);
		req.visit = &vis;
		queue_push(make_job(the_build->ig, &keys[v * VISITORS_PER_VILLAGE + who], &req));
	}
}

static void *producer(void *arg)
{
	(void)arg;
	unsigned per = (unsigned)(opt.visits / opt.elders);
	unsigned extra = (unsigned)(opt.visits % opt.elders);
	for (;;) {
		unsigned long from = atomic_fetch_add(&next_elder, 64);
		if (from >= opt.elders)
			break;
		for (unsigned long e = from; e < from + 64 && e < opt.elders; e++)
			elder_visits(e, per, extra);
	}
	pthread_mutex_lock(&queue.mu);
	queue.producers_left--;
	pthread_cond_broadcast(&queue.not_empty);
	pthread_mutex_unlock(&queue.mu);
	return NULL;
}

static void build_visits(struct build *b)
{
	the_build = b;
	if (pthread_mutex_init(&queue.mu, NULL) != 0 ||
	    pthread_cond_init(&queue.not_empty, NULL) != 0 ||
	    pthread_cond_init(&queue.not_full, NULL) != 0)
		die("pthread init", 0);
	queue.producers_left = PRODUCERS;
	pthread_t th[PRODUCERS];
	for (int i = 0; i < PRODUCERS; i++)
		if (pthread_create(&th[i], NULL, producer, NULL) != 0)
			die("pthread_create", 0);
	static struct job *batch[WRITE_BATCH];
	double t0 = mono_s(), last = t0;
	unsigned long done = 0;
	size_t n;
	while ((n = queue_pop(batch, WRITE_BATCH)) > 0) {
		write_jobs(b, batch, n);
		done += n;
		if (mono_s() - last > 30) {
			last = mono_s();
			fprintf(stderr, "  ... %lu of %lu visits, %.0f/s\n", done, opt.visits,
			        (double)done / (last - t0));
		}
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
}

/* ---- the daemon ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Starts the daemon; returns the seconds until it listened (it installs the
 * policy, recomputing every elder's duties, before serving). */
static double start_daemon(void)
{
	char log[PATH_MAX + 16], now[32];
	snprintf(log, sizeof log, "%s/daemon.log", tmp);
	snprintf(now, sizeof now, "%lld", (long long)NOW);
	fflush(NULL);
	daemon_pid = fork();
	if (daemon_pid < 0)
		die("fork", 0);
	if (daemon_pid == 0) {
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (lf < 0)
			_exit(126);
		dup2(lf, 2);
		execl(opt.daemon, opt.daemon, "run", "--config", config, "--data", data, "--listen",
		      endpoint, "--now", now, (char *)NULL);
		_exit(127);
	}
	double t0 = mono_s(), deadline = t0 + 3600;
	for (;;) {
		char *text = slurp(log);
		if (text && strstr(text, "listening on"))
			return mono_s() - t0;
		if (mono_s() > deadline || waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			fprintf(stderr, "%s", text ? text : "");
			daemon_pid = 0;
			die("the daemon did not start", TF_E_TIMEOUT);
		}
		nanosleep(&(struct timespec){0, 20000000L}, NULL);
	}
}

static void stop_daemon(void)
{
	kill(daemon_pid, SIGTERM);
	int st;
	waitpid(daemon_pid, &st, 0);
	daemon_pid = 0;
}

struct rss {
	long total_kb, anon_kb, file_kb;
};

static struct rss daemon_rss(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)daemon_pid);
	struct rss r = {-1, -1, -1};
	char *text = slurp(path);
	const char *p;
	if (text && (p = strstr(text, "VmRSS:")))
		r.total_kb = strtol(p + 6, NULL, 10);
	if (text && (p = strstr(text, "RssAnon:")))
		r.anon_kb = strtol(p + 8, NULL, 10);
	if (text && (p = strstr(text, "RssFile:")))
		r.file_kb = strtol(p + 8, NULL, 10);
	return r;
}

static void print_rss(const char *when, struct rss r)
{
	printf("  daemon RSS %-28s %8.1f MiB (anonymous %7.1f MiB, mapped store %8.1f MiB)\n", when,
	       r.total_kb / 1024.0, r.anon_kb / 1024.0, r.file_kb / 1024.0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Times `runs` calls of req; returns the median in ms (and min/max). */
static double time_query(struct rpc *r, tf_request *req, unsigned runs, double *mn, double *mx,
                         tf_reply **last)
{
	double *t = calloc(runs, sizeof *t);
	if (!t)
		die("out of memory", -ENOMEM);
	for (unsigned i = 0; i < runs; i++) {
		tf_reply *rep;
		double t0 = mono_s();
		int rc = rpc_call(r, req, 600000, &rep);
		t[i] = (mono_s() - t0) * 1000;
		if (rc < 0)
			die("query", rc);
		if (rep->status != TANFANG__V1__STATUS__STATUS_OK) {
			fprintf(stderr, PROG ": query refused: %s: %s\n",
			        wire_status_name(rep->status), rep->detail);
			if (daemon_pid > 0)
				kill(daemon_pid, SIGKILL);
			exit(1);
		}
		if (i + 1 == runs && last)
			*last = rep;
		else
			wire_free(WIRE_REPLY, rep);
	}
	qsort(t, runs, sizeof *t, cmp_double);
	double med = t[runs / 2];
	*mn = t[0], *mx = t[runs - 1];
	free(t);
	return med;
}

/* The last village's grid worker (its key is made with the registry). */
static const struct keypair *last_worker(void)
{
	return &keys[(n_villages() - 1) * VISITORS_PER_VILLAGE];
}

/* The field app's download (issue 10): the first page of a grid worker's
 * elders and due list, as the app asks for it (2,000 a page, 7 days). */
static void time_field_list(const struct keypair *worker)
{
	char gw[32];
	visitor_id(n_villages() - 1, 0, gw);
	if (!worker) {
		printf("  field app's list, grid worker %s: skipped (kept before worker.key was)\n",
		       gw);
		return;
	}
	struct rpc *wc;
	int r = rpc_open(endpoint, curve_pub, worker, &wc);
	if (r < 0)
		die("rpc_open (grid worker)", r);
	Tanfang__V1__FieldElders fe = TANFANG__V1__FIELD_ELDERS__INIT;
	fe.limit = 2000;
	fe.horizon_s = 7 * 86400;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(FIELD_ELDERS);
	req.field_elders = &fe;
	double mn, mx;
	tf_reply *rep;
	double med = time_query(wc, &req, opt.runs, &mn, &mx, &rep);
	printf("  field app's list, grid worker %s: median %8.2f ms (min %.2f, max %.2f)   "
	       "[%zu elders, %zu due]\n",
	       gw, med, mn, mx, rep->field_elders->n_elders, rep->field_elders->n_due);
	wire_free(WIRE_REPLY, rep);
	rpc_close(wc);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static const char *find_daemon(const char *argv0)
{
	static char path[PATH_MAX];
	const char *env = getenv("TANFANGD");
	if (env && *env)
		return env;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		snprintf(self, sizeof self, "%s", argv0);
	else
		self[n] = '\0';
	snprintf(path, sizeof path, "%s/../daemon/tanfangd", dirname(self));
	return path;
}

static const char usage_text[] =
    "usage: " PROG " [--elders N] [--visits N] [--quick] [--runs N] [--daemon PATH] [--keep]\n"
    "  --elders N    elders in the store (default 1000000)\n"
    "  --visits N    visits in the store (default 12000000)\n"
    "  --quick       100000 elders, 1200000 visits\n"
    "  --runs N      timed runs of the overdue page (default 21; the report: a third)\n"
    "  --daemon PATH tanfangd (default $TANFANGD or ../daemon/tanfangd beside this program)\n"
    "  --keep        keep the temporary data folder (with the supervisor's key)\n"
    "  --reuse DIR   skip the build: time the queries on a folder kept by --keep\n"
    "                (a daemon built since, against the same store); give --elders or\n"
    "                --quick as kept unless the folder says (bench.size)\n";

static int run_queries(struct keypair *super, const struct keypair *worker, struct rss empty,
                       double up_empty);

/* The daemon's CURVE key from the data folder, and a free loopback port. */
static void curve_and_endpoint(void)
{
	int r = bench_curve_pub(data, curve_pub);
	if (r < 0)
		die("curve.pub", r);
	if ((r = bench_free_endpoint(endpoint, sizeof endpoint)) < 0)
		die("free port", r);
}

/* --reuse: the store kept by an earlier run; its supervisor key, or (a
 * folder kept before the key was) a new supervisor key enrolled in process
 * before the daemon starts. */
static int reuse_main(void)
{
	snprintf(config, sizeof config, "%s/tanfangd.conf", tmp);
	char path[PATH_MAX + 32];
	curve_and_endpoint();
	/* The sizes of the kept run (the queries name its areas). */
	snprintf(path, sizeof path, "%s/bench.size", tmp);
	FILE *sf = fopen(path, "re");
	if (sf) {
		if (fscanf(sf, "%lu %lu", &opt.elders, &opt.visits) != 2)
			die(path, TF_E_INVALID);
		fclose(sf);
	}
	struct keypair super;
	snprintf(path, sizeof path, "%s/super.key", tmp);
	if (keys_load(path, &super) < 0) {
		struct build b = {0};
		char apath[PATH_MAX + 32];
		snprintf(apath, sizeof apath, "%s/admin.key", data);
		int r = keys_load(apath, &b.admin);
		if (r < 0)
			die("admin key", r);
		/* The map as the config says (the kept config is the bench's). */
		FILE *cf = fopen(config, "re");
		size_t map_mb = 0;
		if (!cf || fscanf(cf, "[daemon]\nmap_size_mb = %zu", &map_mb) != 1)
			die("the kept tanfangd.conf", TF_E_INVALID);
		fclose(cf);
		struct store_options so = {.map_size = map_mb << 20};
		struct policy *pol;
		if ((r = store_open(data, &so, &b.st)) < 0 ||
		    (r = ingest_new(b.st, &(struct ingest_config){.burst_count = 1000000}, &b.ig)) <
		        0 ||
		    (r = policy_default(&pol)) < 0 || (r = ingest_set_policy(b.ig, pol)) < 0)
			die("the kept store", r);
		if (keys_generate(&super) < 0)
			die("keys_generate", -EIO);
		clock_set_fixed(NOW);
		struct seq q = {.b = &b};
		put_visitor(&q, "S" ROOT, ROLE(SUPERVISOR), ROOT, super.pk);
		seq_flush(&q);
		ingest_free(b.ig);
		store_close(b.st);
		if (b.refused)
			die("the supervisor's key was refused", TF_E_INVALID);
		if ((r = keys_save(path, &super)) < 0)
			die(path, r);
	}
	/* The last village's grid worker, for the field app's list (a store
	 * kept before that key was has none: that query is skipped). */
	struct keypair worker;
	snprintf(path, sizeof path, "%s/worker.key", tmp);
	bool have_worker = keys_load(path, &worker) == 0;
	printf("bench-overdue: the store kept in %s; daemon %s\n", tmp, opt.daemon);
	opt.keep = true;
	return run_queries(&super, have_worker ? &worker : NULL, (struct rss){0}, 0);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"elders", required_argument, NULL, 'e'},
	                                   {"visits", required_argument, NULL, 'v'},
	                                   {"quick", no_argument, NULL, 'q'},
	                                   {"runs", required_argument, NULL, 'r'},
	                                   {"daemon", required_argument, NULL, 'd'},
	                                   {"keep", no_argument, NULL, 'k'},
	                                   {"reuse", required_argument, NULL, 'u'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'e': opt.elders = strtoul(optarg, NULL, 10); break;
		case 'v': opt.visits = strtoul(optarg, NULL, 10); break;
		case 'q': opt.elders = 100000, opt.visits = 1200000; break;
		case 'r': opt.runs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt.daemon = optarg; break;
		case 'k': opt.keep = true; break;
		case 'u': opt.reuse = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (opt.elders < 100 || opt.visits < opt.elders || opt.runs < 1 || opt.elders > 9000000) {
		fputs(PROG ": need 100 <= elders <= 9000000, visits >= elders, runs >= 1\n",
		      stderr);
		return 2;
	}
	if (!opt.daemon)
		opt.daemon = find_daemon(argv[0]);
	if (access(opt.daemon, X_OK) < 0)
		die(opt.daemon, 0);
	if (envelope_init() < 0 || period_set_timezone("Asia/Shanghai") < 0)
		die("libsodium or time zone", -EIO);

	const char *base = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/tanfang-bench-overdue-XXXXXX", base && *base ? base : "/tmp");
	if (opt.reuse)
		snprintf(tmp, sizeof tmp, "%s", opt.reuse);
	else if (!mkdtemp(tmp))
		die("mkdtemp", 0);
	snprintf(data, sizeof data, "%s/data", tmp);
	if (opt.reuse)
		return reuse_main();
	/* LMDB's map must hold the store: about 1.2 KB per visit with its
	 * indexes and the audit log's copy of the envelope, with room. */
	size_t map_mb = 1024 + (size_t)(opt.visits / 1000) * 2 + (size_t)(opt.elders / 1000) * 8;
	snprintf(config, sizeof config, "%s/tanfangd.conf", tmp);
	FILE *cf = fopen(config, "we");
	if (!cf)
		die(config, 0);
	fprintf(cf, "[daemon]\nmap_size_mb = %zu\n", map_mb);
	fclose(cf);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof cmd, "'%s' init --config '%s' --data '%s' >/dev/null", opt.daemon,
	         config, data);
	if (system(cmd) != 0)
		die("tanfangd init failed", TF_E_INVALID);
	char path[PATH_MAX + 32];
	struct build b = {0};
	snprintf(path, sizeof path, "%s/admin.key", data);
	int r = keys_load(path, &b.admin);
	if (r < 0)
		die("admin key", r);
	curve_and_endpoint();

	printf("bench-overdue: %lu elders, %lu visits, %lu villages; daemon %s\n", opt.elders,
	       opt.visits, n_villages(), opt.daemon);
	/* 1. The daemon on the empty store. */
	double up_empty = start_daemon();
	nanosleep(&(struct timespec){0, 300000000L}, NULL);
	struct rss empty = daemon_rss();
	stop_daemon();

	/* 2. The store, built through ingest in this process. */
	struct store_options so = {.map_size = map_mb << 20};
	if ((r = store_open(data, &so, &b.st)) < 0)
		die("store_open", r);
	struct ingest_config icfg = {.burst_count = 1000000};
	if ((r = ingest_new(b.st, &icfg, &b.ig)) < 0)
		die("ingest_new", r);
	struct policy *pol;
	if ((r = policy_default(&pol)) < 0 || (r = ingest_set_policy(b.ig, pol)) < 0)
		die("policy", r);
	struct keypair super;
	if (keys_generate(&super) < 0)
		die("keys_generate", -EIO);
	/* Registered 200 days ago, so every month of visits counts them. */
	clock_set_fixed(NOW - 200 * 86400);
	double t0 = mono_s();
	build_registry(&b, &super);
	double t_reg = mono_s() - t0;
	printf("  registry: %lu requests in %.1f s (%lu refused)\n", b.ok + b.refused, t_reg,
	       b.refused);
	clock_set_fixed(NOW);
	unsigned long before = b.ok;
	t0 = mono_s();
	build_visits(&b);
	double t_vis = mono_s() - t0;
	printf("  visits:   %lu signed, verified and written in %.1f s (%.0f/s, %lu refused)\n",
	       b.ok - before, t_vis, (double)(b.ok - before) / t_vis, b.refused);
	ingest_free(b.ig);
	store_close(b.st);
	if (b.refused)
		die("some requests were refused", TF_E_INVALID);
	struct stat sst;
	snprintf(path, sizeof path, "%s/data.mdb", data);
	if (stat(path, &sst) == 0)
		printf("  store:    %.1f MiB on disk\n", (double)sst.st_blocks * 512 / 1048576);

	if (opt.keep) {
		snprintf(path, sizeof path, "%s/super.key", tmp);
		if ((r = keys_save(path, &super)) < 0)
			die(path, r);
		snprintf(path, sizeof path, "%s/worker.key", tmp);
		if ((r = keys_save(path, last_worker())) < 0)
			die(path, r);
		snprintf(path, sizeof path, "%s/bench.size", tmp);
		FILE *sf = fopen(path, "we");
		if (!sf || fprintf(sf, "%lu %lu\n", opt.elders, opt.visits) < 0 || fclose(sf) != 0)
			die(path, 0);
	}
	return run_queries(&super, last_worker(), empty, up_empty);
}

/* 3. The daemon on the full store; queries signed by the banner's
 * supervisor, over loopback with CURVE, and the field app's list signed by
 * a village's grid worker (worker; NULL: skipped). */
static int run_queries(struct keypair *super, const struct keypair *worker, struct rss empty,
                       double up_empty)
{
	int r;
	clock_set_fixed(NOW); /* the daemon's clock (--now) */
	double up_full = start_daemon();
	struct rss started = daemon_rss();
	struct rpc *rc;
	if ((r = rpc_open(endpoint, curve_pub, super, &rc)) < 0)
		die("rpc_open", r);
	/* The daemon listens at once but installs the policy (recomputing
	 * every elder's duties) before it answers: the first answer says
	 * how long a restart keeps supervisors waiting. */
	double t_first = mono_s();
	{
		Tanfang__V1__OverdueQuery wq = TANFANG__V1__OVERDUE_QUERY__INIT;
		tf_request wr;
		wire_init(WIRE_REQUEST, &wr);
		wr.op_case = OP(OVERDUE);
		wr.overdue = &wq;
		tf_reply *wrep;
		if ((r = rpc_call(rc, &wr, 3600000, &wrep)) < 0)
			die("first query", r);
		wire_free(WIRE_REPLY, wrep);
	}
	t_first = mono_s() - t_first;
	printf("  daemon start: listening after %.2f s (empty store: %.2f s); first answer after "
	       "%.2f s more\n",
	       up_full, up_empty, t_first);
	struct rss loaded = daemon_rss();
	double mn, mx;
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	oq.limit = 50;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(OVERDUE);
	req.overdue = &oq;
	tf_reply *rep = NULL;
	double first = time_query(rc, &req, opt.runs, &mn, &mx, &rep);
	unsigned total = rep->overdue->total;
	char detail[128];
	snprintf(detail, sizeof detail, "%s", rep->detail);
	wire_free(WIRE_REPLY, rep);
	printf("\n  overdue, first page of 50, whole banner: median %8.2f ms (min %.2f, max %.2f) "
	       "  target < 5 ms   [total %u%s%s]\n",
	       first, mn, mx, total, *detail ? "; " : "", detail);
	/* A township's page: the scan skips other townships' rows. */
	char town[16];
	village_code((n_villages() - 1), town);
	town[9] = '\0';
	oq.area = town;
	double first_t = time_query(rc, &req, opt.runs, &mn, &mx, NULL);
	printf("  overdue, first page of 50, township %s: median %8.2f ms (min %.2f, max %.2f)\n",
	       town, first_t, mn, mx);
	oq.area = "";
	oq.rule = "monthly_visit";
	double first_r = time_query(rc, &req, opt.runs, &mn, &mx, NULL);
	printf("  overdue, first page of 50, rule monthly_visit: median %8.2f ms (min %.2f, max "
	       "%.2f)\n",
	       first_r, mn, mx);
	oq.rule = "";
	/* One visitor's duties: a party member of the last village. */
	char pm[32];
	visitor_id(n_villages() - 1, 1, pm);
	oq.visitor_id = pm;
	double first_v = time_query(rc, &req, opt.runs, &mn, &mx, NULL);
	printf("  overdue, first page of 50, visitor %s: median %8.2f ms (min %.2f, max "
	       "%.2f)\n",
	       pm, first_v, mn, mx);
	oq.visitor_id = "";
	oq.offset = 5000;
	double deep = time_query(rc, &req, opt.runs, &mn, &mx, NULL);
	printf("  overdue, page at offset 5000:           median %8.2f ms (min %.2f, max %.2f)\n",
	       deep, mn, mx);
	time_field_list(worker);

	Tanfang__V1__ReportQuery rq = TANFANG__V1__REPORT_QUERY__INIT;
	rq.month = "2026-10";
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(REPORT);
	req.report = &rq;
	unsigned rruns = opt.runs / 3 ? opt.runs / 3 : 1;
	double rep_ms = time_query(rc, &req, rruns, &mn, &mx, &rep);
	printf("  monthly report 2026-10, whole store:    median %8.2f ms (min %.2f, max %.2f)   "
	       "target < 1000 ms   [%zu rows; banner required %u, visited %u]\n",
	       rep_ms, mn, mx, rep->report->n_rows, rep->report->rows[0]->required,
	       rep->report->rows[0]->visited);
	wire_free(WIRE_REPLY, rep);
	/* The banner files October, then reads it as filed, and the current
	 * report of a filed month (which also looks for late facts). */
	Tanfang__V1__FileReport fr = TANFANG__V1__FILE_REPORT__INIT;
	fr.area = ROOT;
	fr.month = "2026-10";
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(FILE_REPORT);
	req.file_report = &fr;
	/* A kept store (--reuse) may have filed already. */
	double t_file = mono_s();
	if ((r = rpc_call(rc, &req, 600000, &rep)) < 0)
		die("filing", r);
	t_file = (mono_s() - t_file) * 1000;
	if (rep->status == TANFANG__V1__STATUS__STATUS_OK)
		printf("  filing the 2026-10 report of the banner:  %8.2f ms\n", t_file);
	else if (rep->status == TANFANG__V1__STATUS__STATUS_DUPLICATE)
		printf("  filing the 2026-10 report of the banner:  filed already (kept store)\n");
	else
		die("filing refused", TF_E_INVALID);
	wire_free(WIRE_REPLY, rep);
	rq.area = ROOT;
	rq.as_filed = true;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(REPORT);
	req.report = &rq;
	double filed_ms = time_query(rc, &req, rruns, &mn, &mx, NULL);
	printf("  monthly report 2026-10 as filed:        median %8.2f ms (min %.2f, max %.2f)   "
	       "target < 1000 ms\n",
	       filed_ms, mn, mx);
	rq.as_filed = false;
	double cur_ms = time_query(rc, &req, rruns, &mn, &mx, NULL);
	printf("  monthly report 2026-10, filed month:    median %8.2f ms (min %.2f, max %.2f)   "
	       "target < 1000 ms\n",
	       cur_ms, mn, mx);
	struct rss after = daemon_rss();
	rpc_close(rc);

	printf("\n");
	if (!empty.total_kb) { /* --reuse: no empty store measured */
		print_rss("on the full store, listening:", started);
		print_rss("on the full store, answering:", loaded);
		print_rss("after the queries:", after);
		stop_daemon();
		printf("  kept %s\n", tmp);
		return 0;
	}
	print_rss("on the empty store:", empty);
	print_rss("on the full store, listening:", started);
	print_rss("on the full store, answering:", loaded);
	print_rss("after the queries:", after);
	printf("  ratio full/empty: total %.2f, anonymous %.2f (target: anonymous memory does not "
	       "grow with the store; the mapped store is page cache, shared and reclaimable)\n",
	       (double)after.total_kb / (double)empty.total_kb,
	       (double)after.anon_kb / (double)empty.anon_kb);
	stop_daemon();
	if (!opt.keep)
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("  kept %s\n", tmp);
	return 0;
}
