/* bench-ingest: signed, verified, durable ingest throughput of the real
 * daemon on loopback (BRIEF.md section 6: "tens of thousands of visits per
 * second on a 2-core machine").
 *
 * Starts `tanfangd` on a temporary data folder (CURVE on, as deployed),
 * registers visitors and elders, then times N visits from one pipelining
 * client, and N visits from each of several client processes at once. Every
 * visit is signed by the client, verified by a worker and acknowledged only
 * after its batch is committed (fsync'd). Prints visits/s and the ratio.
 *
 *   bench-ingest [--daemon PATH] [--clients N] [--visits N] [--window N] [--no-curve]
 *                [--flood N]
 *
 * --flood N: instead, the latency of one good client's visits (one at a
 * time) alone, then beside N client processes that send envelopes with bad
 * signatures as fast as the daemon answers (issue 8, item 3).
 * --web: instead, what tanfang-web (issue 9) adds to a query's round trip,
 * directly and through the gateway in turn, and 200 concurrent "browsers"
 * querying through it.
 *
 * The daemon is $TANFANGD, or --daemon, or ../daemon/tanfangd beside this
 * program. Not a test: the figures depend on the machine and its load. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <pthread.h>

#include "bench-util.h"
#include "clock.h"
#include "envelope.h"
#include "gateway.h"
#include "keys.h"
#include "rpc.h"
#include "store.h"
#include "wire.h"

#define MAX_CLIENTS 64
#define MAX_WINDOW  4096
/* Elders the visits go to (--elders): 100 by default, as in every figure
 * before; more spread each batch's writes over more pages. */
static long elders = 100;

static char tmp[PATH_MAX], data[PATH_MAX + 8], endpoint[64], curve_pub[64];
static const char *daemon_path;
static bool curve = true;
static pid_t daemon_pid;
static struct keypair admin, keys[MAX_CLIENTS + 1];

static void die(const char *what, int r)
{
	fprintf(stderr, "bench-ingest: %s: %s\n", what, r ? tf_strerror(r) : strerror(errno));
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(1);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void init_and_start(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/tanfang-bench-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmp))
		die("mkdtemp", 0);
	snprintf(data, sizeof data, "%s/data", tmp);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof cmd, "'%s' init --data '%s' >/dev/null", daemon_path, data);
	if (system(cmd) != 0)
		die("tanfangd init failed", TF_E_INVALID);
	char path[sizeof data + 16];
	snprintf(path, sizeof path, "%s/admin.key", data);
	int r = keys_load(path, &admin);
	if (r < 0)
		die("admin key", r);
	if ((r = bench_curve_pub(data, curve_pub)) < 0)
		die("curve.pub", r);
	if ((r = bench_free_endpoint(endpoint, sizeof endpoint)) < 0)
		die("free port", r);
	char log[sizeof tmp + 16];
	snprintf(log, sizeof log, "%s/daemon.log", tmp);
	fflush(NULL);
	daemon_pid = fork();
	if (daemon_pid < 0)
		die("fork", 0);
	if (daemon_pid == 0) {
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (lf < 0)
			_exit(126);
		dup2(lf, 2);
		execl(daemon_path, daemon_path, "run", "--data", data, "--listen", endpoint,
		      curve ? NULL : "--no-curve", (char *)NULL);
		_exit(127);
	}
	int64_t deadline = clock_mono_ms() + 15000;
	for (;;) {
		char *text = slurp(log);
		if (text && strstr(text, "listening on"))
			break;
		if (clock_mono_ms() > deadline ||
		    waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			fprintf(stderr, "%s", text ? text : "");
			daemon_pid = 0;
			die("the daemon did not start", TF_E_TIMEOUT);
		}
		nanosleep(&(struct timespec){0, 20000000L}, NULL);
	}
}

static void call_ok(struct rpc *r, tf_request *req, const char *what)
{
	tf_reply *rep;
	int rc = rpc_call(r, req, 10000, &rep);
	if (rc < 0)
		die(what, rc);
	if (rep->status != TANFANG__V1__STATUS__STATUS_OK) {
		fprintf(stderr, "%s: %s %s\n", what, wire_status_name(rep->status), rep->detail);
		die(what, TF_E_INVALID);
	}
	wire_free(WIRE_REPLY, rep);
}

static void setup_registry(int clients)
{
	struct rpc *r;
	int rc = rpc_open(endpoint, curve ? curve_pub : NULL, &admin, &r);
	if (rc < 0)
		die("rpc_open", rc);
	tf_request req;
	tf_area area;
	wire_init(WIRE_AREA, &area);
	area.code = "152223";
	area.name = "扎赉特旗";
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &area;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA;
	req.put_area = &pa;
	call_ok(r, &req, "put area");
	for (int c = 0; c <= clients; c++) {
		char id[16];
		snprintf(id, sizeof id, "w%d", c);
		tf_visitor v;
		wire_init(WIRE_VISITOR, &v);
		v.id = id;
		v.name = id;
		v.role = TANFANG__V1__ROLE__ROLE_GRID_WORKER;
		v.area = "152223";
		Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
		pv.visitor = &v;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_PUT_VISITOR;
		req.put_visitor = &pv;
		call_ok(r, &req, "put visitor");
		if (keys_generate(&keys[c]) < 0)
			die("keys", 0);
		Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
		ek.public_key.data = keys[c].pk;
		ek.public_key.len = 32;
		ek.visitor_id = id;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
		req.enrol_key = &ek;
		call_ok(r, &req, "enrol key");
	}
	/* Pipelined, 256 at a time: many thousands one by one would each
	 * wait for a commit of its own. */
	long sent = 0, answered = 0;
	for (long e = 0; e < elders || answered < sent;) {
		if (e < elders && sent - answered < 256) {
			char id[24];
			snprintf(id, sizeof id, "e%ld", e++);
			tf_elder el;
			wire_init(WIRE_ELDER, &el);
			el.id = id;
			el.name = id;
			el.area = "152223";
			Tanfang__V1__Category cat = TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE;
			el.categories = &cat;
			el.n_categories = 1;
			Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
			pe.elder = &el;
			wire_init(WIRE_REQUEST, &req);
			req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
			req.put_elder = &pe;
			uint8_t *frame;
			size_t len;
			if ((rc = rpc_seal(&admin, &req, &frame, &len)) < 0 ||
			    (rc = rpc_send_sealed(r, frame, len)) < 0)
				die("put elder", rc);
			free(frame);
			sent++;
			continue;
		}
		tf_reply *rep;
		if ((rc = rpc_recv(r, 30000, &rep)) < 0)
			die("put elder: no reply", rc);
		if (rep->status != TANFANG__V1__STATUS__STATUS_OK) {
			fprintf(stderr, "put elder: %s %s\n", wire_status_name(rep->status),
			        rep->detail);
			die("put elder", TF_E_INVALID);
		}
		wire_free(WIRE_REPLY, rep);
		answered++;
	}
	rpc_close(r);
}

struct slot {
	bool used;
	uint8_t ref[32];
};

/* One signed visit by keys[c] (a fresh id); *frame is the caller's, ref
 * the ref its reply will carry. */
static void seal_visit(int c, long i, uint8_t **frame, size_t *len, uint8_t ref[32])
{
	uint8_t id[16];
	randombytes_buf(id, sizeof id);
	char elder[24];
	snprintf(elder, sizeof elder, "e%ld", i % elders);
	tf_visit v;
	wire_init(WIRE_VISIT, &v);
	v.id.data = id;
	v.id.len = 16;
	v.elder_id = elder;
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR;
	v.visited_at = clock_now() - 3600 - i % 86400;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req.visit = &v;
	int rc = rpc_seal_ref(&keys[c], &req, frame, len, ref);
	if (rc < 0)
		die("seal", rc);
}

/* Sends n visits signed by keys[c] with up to window in flight; returns how
 * many were acknowledged OK. Signing happens inside the timed loop, as on a
 * real client. */
static long run_client(int c, long n, int window)
{
	struct rpc *r;
	int rc = rpc_open(endpoint, curve ? curve_pub : NULL, &keys[c], &r);
	if (rc < 0)
		die("rpc_open", rc);
	static struct slot slots[MAX_WINDOW];
	memset(slots, 0, sizeof slots);
	long sent = 0, answered = 0, ok = 0;
	int inflight = 0;
	while (answered < n) {
		while (inflight < window && sent < n) {
			int s = 0;
			while (slots[s].used)
				s++;
			uint8_t *frame;
			size_t len;
			seal_visit(c, sent, &frame, &len, slots[s].ref);
			if ((rc = rpc_send_sealed(r, frame, len)) < 0)
				die("send", rc);
			free(frame);
			slots[s].used = true;
			inflight++;
			sent++;
		}
		tf_reply *rep;
		if ((rc = rpc_recv(r, 30000, &rep)) < 0)
			die("receive", rc);
		for (int s = 0; s < window; s++) {
			if (slots[s].used && rep->ref.len == 32 &&
			    memcmp(slots[s].ref, rep->ref.data, 32) == 0) {
				slots[s].used = false;
				inflight--;
				answered++;
				if (rep->status == TANFANG__V1__STATUS__STATUS_OK)
					ok++;
				else if (ok == 0 && answered == 1)
					fprintf(stderr, "first reply: %s %s\n",
					        wire_status_name(rep->status), rep->detail);
				break;
			}
		}
		wire_free(WIRE_REPLY, rep);
	}
	rpc_close(r);
	return ok;
}

/* Open loop (issue 12, item 5): visit i is due at t0 + i / rate whatever
 * the replies do, and its latency runs from that moment to its
 * acknowledgement, so a stall shows in every visit it delays instead of
 * holding the sender back. One client process. The visits are signed
 * before the clock starts: devices sign on their own processors, and this
 * measures the daemon, not the signing this bench must do beside it. */
struct latency {
	double p50, p99, max;
	long ok, sent, answered;
};

static int cmp_double(const void *a, const void *b);
static double mono_ms(void);

static void run_latency(double rate, double seconds, struct latency *out)
{
	long n = (long)(rate * seconds);
	if (n < 1)
		n = 1;
	size_t cap = 1;
	while (cap < 2 * (size_t)n)
		cap <<= 1;
	/* ref -> visit number, open addressing on the ref's first bytes. */
	struct pending {
		uint8_t ref[32];
		long i;
	} *tab = calloc(cap, sizeof *tab);
	double *due = calloc((size_t)n, sizeof *due), *lat = calloc((size_t)n, sizeof *lat);
	uint8_t **frames = calloc((size_t)n, sizeof *frames);
	size_t *lens = calloc((size_t)n, sizeof *lens);
	uint8_t(*refs)[32] = calloc((size_t)n, sizeof *refs);
	if (!tab || !due || !lat || !frames || !lens || !refs)
		die("calloc", -ENOMEM);
	for (long i = 0; i < n; i++)
		seal_visit(1, 1000000 + i, &frames[i], &lens[i], refs[i]);
	struct rpc *r;
	int rc = rpc_open(endpoint, curve ? curve_pub : NULL, &keys[1], &r);
	if (rc < 0)
		die("rpc_open", rc);
	long sent = 0, answered = 0, ok = 0;
	double t0 = mono_ms() + 50, stop = t0 + seconds * 1000 + 30000;
	while (answered < sent || sent < n) {
		double now = mono_ms();
		if (now > stop)
			break;
		while (sent < n && t0 + (double)sent * 1000.0 / rate <= now) {
			const uint8_t *ref = refs[sent];
			if ((rc = rpc_send_sealed(r, frames[sent], lens[sent])) < 0)
				die("send", rc);
			free(frames[sent]);
			frames[sent] = NULL;
			size_t h;
			memcpy(&h, ref, sizeof h);
			for (h &= cap - 1; tab[h].i; h = (h + 1) & (cap - 1))
				;
			memcpy(tab[h].ref, ref, 32);
			tab[h].i = sent + 1;
			due[sent] = t0 + (double)sent * 1000.0 / rate;
			sent++;
		}
		double next = sent < n ? t0 + (double)sent * 1000.0 / rate : now + 100;
		int wait = next - now > 1 ? (int)(next - now) : 0;
		tf_reply *rep;
		rc = rpc_recv(r, wait, &rep);
		if (rc == TF_E_TIMEOUT && wait == 0) {
			/* Less than a millisecond to the next visit, the finest a
			 * poll waits: sleep instead of spinning, which would take
			 * a core from the daemon this measures. */
			double gap = next - mono_ms();
			if (gap > 0.02)
				nanosleep(&(struct timespec){0, (long)(gap * 1e6)}, NULL);
			continue;
		}
		if (rc == TF_E_TIMEOUT)
			continue;
		if (rc < 0)
			die("receive", rc);
		double at = mono_ms();
		if (rep->ref.len == 32) {
			size_t h;
			memcpy(&h, rep->ref.data, sizeof h);
			for (h &= cap - 1; tab[h].i; h = (h + 1) & (cap - 1))
				if (memcmp(tab[h].ref, rep->ref.data, 32) == 0)
					break;
			if (tab[h].i) {
				long i = tab[h].i - 1;
				lat[answered++] = at - due[i];
				if (rep->status == TANFANG__V1__STATUS__STATUS_OK)
					ok++;
				else if (answered - ok == 1)
					fprintf(stderr, "bench-ingest: first visit not OK: %s %s\n",
					        wire_status_name(rep->status), rep->detail);
			}
		}
		wire_free(WIRE_REPLY, rep);
	}
	rpc_close(r);
	qsort(lat, (size_t)answered, sizeof *lat, cmp_double);
	out->sent = sent;
	out->ok = ok;
	out->answered = answered;
	out->p50 = answered ? lat[answered / 2] : 0;
	out->p99 = answered ? lat[answered * 99 / 100] : 0;
	out->max = answered ? lat[answered - 1] : 0;
	for (long i = 0; i < n; i++)
		free(frames[i]);
	free(frames);
	free(lens);
	free(refs);
	free(tab);
	free(due);
	free(lat);
}

static void print_latency(double rate, double seconds)
{
	struct latency l;
	run_latency(rate, seconds, &l);
	printf("open loop %6.0f visits/s for %.0f s: submit->ack p50 %6.2f ms, p99 %6.2f ms, max "
	       "%7.2f ms  (%ld of %ld OK; signed beforehand)\n",
	       rate, seconds, l.p50, l.p99, l.max, l.ok, l.sent);
	if (l.answered < l.sent)
		printf("   %ld never answered (replies dropped: more in flight than the daemon "
		       "queues per connection?)\n",
		       l.sent - l.answered);
}

/* A flooder: bad signatures, a window of 256 in flight, until killed. */
static void flood(int c)
{
	struct rpc *r;
	int rc = rpc_open(endpoint, curve ? curve_pub : NULL, &keys[c], &r);
	if (rc < 0)
		die("rpc_open", rc);
	uint8_t *frame, ref[32];
	size_t len;
	seal_visit(c, 0, &frame, &len, ref);
	/* The signature is the envelope's last field: flip its last byte. */
	frame[len - 1] ^= 0x01;
	for (int i = 0; i < 256; i++)
		if (rpc_send_sealed(r, frame, len) < 0)
			die("send", 0);
	for (;;) {
		tf_reply *rep;
		if (rpc_recv(r, 30000, &rep) < 0)
			_exit(1);
		wire_free(WIRE_REPLY, rep);
		if (rpc_send_sealed(r, frame, len) < 0)
			_exit(1);
	}
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* n visits by keys[0], one at a time; median and 99th percentile in ms. */
static void good_latency(int n, double *median, double *p99)
{
	struct rpc *r;
	int rc = rpc_open(endpoint, curve ? curve_pub : NULL, &keys[0], &r);
	if (rc < 0)
		die("rpc_open", rc);
	double *t = calloc((size_t)n, sizeof *t);
	if (!t)
		die("calloc", -ENOMEM);
	for (int i = 0; i < n; i++) {
		uint8_t *frame, ref[32];
		size_t len;
		seal_visit(0, i, &frame, &len, ref);
		double t0 = mono_ms();
		tf_reply *rep;
		if ((rc = rpc_call_sealed(r, frame, len, 30000, &rep)) < 0)
			die("good client", rc);
		t[i] = mono_ms() - t0;
		if (rep->status != TANFANG__V1__STATUS__STATUS_OK)
			die("good client refused", TF_E_INVALID);
		wire_free(WIRE_REPLY, rep);
		free(frame);
	}
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	*median = t[n / 2];
	*p99 = t[n * 99 / 100];
	free(t);
	rpc_close(r);
}

/* ---- --web: the gateway's cost ---- */

static unsigned web_port;

struct body {
	char *p;
	size_t n;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	char *q = realloc(b->p, b->n + size * n);
	if (!q)
		return 0;
	memcpy(q + b->n, p, size * n);
	b->p = q, b->n += size * n;
	return size * n;
}

/* One overdue query signed by kp, through the gateway on handle c. Returns
 * the Reply's status, or a negative HTTP status. */
static int web_query(CURL *c, const struct keypair *kp)
{
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE, req.overdue = &oq;
	uint8_t *frame;
	size_t len;
	if (rpc_seal(kp, &req, &frame, &len) < 0)
		die("seal", 0);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/envelope", web_port);
	struct body b = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, frame);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	int st = -1;
	if (curl_easy_perform(c) == CURLE_OK) {
		long code;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		tf_reply *rep;
		if (code != 200)
			st = -(int)code;
		else if (wire_unpack(WIRE_REPLY, (const uint8_t *)b.p, b.n, (void **)&rep) == 0) {
			st = rep->status;
			wire_free(WIRE_REPLY, rep);
		}
	}
	free(b.p);
	free(frame);
	return st;
}

struct browser {
	pthread_t th;
	int queries, failed;
};

static void *browser_main(void *arg)
{
	struct browser *b = arg;
	CURL *c = curl_easy_init();
	for (int i = 0; c && i < b->queries; i++)
		if (web_query(c, &admin) != TANFANG__V1__STATUS__STATUS_OK)
			b->failed++;
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

static void run_web(void)
{
	/* The gateway in this process, with a key of its own enrolled for a
	 * gateway visitor, and limits that fit 200 browsers on one address. */
	char key_file[PATH_MAX + 32], pub_file[PATH_MAX + 32];
	snprintf(key_file, sizeof key_file, "%s/web.key", tmp);
	snprintf(pub_file, sizeof pub_file, "%s/curve.pub", data);
	struct keypair gk;
	if (keys_generate(&gk) < 0 || keys_save(key_file, &gk) < 0)
		die("gateway key", 0);
	struct rpc *r;
	int rc = rpc_open(endpoint, curve ? curve_pub : NULL, &admin, &r);
	if (rc < 0)
		die("rpc_open", rc);
	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = "web", v.name = "web", v.role = TANFANG__V1__ROLE__ROLE_GATEWAY, v.area = "152223";
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_VISITOR, req.put_visitor = &pv;
	call_ok(r, &req, "put gateway visitor");
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = gk.pk, ek.public_key.len = 32, ek.visitor_id = "web";
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY, req.enrol_key = &ek;
	call_ok(r, &req, "enrol gateway key");
	struct gw_config cfg;
	gw_config_defaults(&cfg);
	char err[600];
	if (gw_config_set(&cfg, "listen", "127.0.0.1:0", err, sizeof err) < 0 ||
	    gw_config_set(&cfg, "endpoint", endpoint, err, sizeof err) < 0 ||
	    gw_config_set(&cfg, "key", key_file, err, sizeof err) < 0 ||
	    gw_config_set(&cfg, "server_key_file", curve ? pub_file : "", err, sizeof err) < 0 ||
	    gw_config_set(&cfg, "rate_burst", "100000", err, sizeof err) < 0 ||
	    gw_config_set(&cfg, "max_per_address", "1000", err, sizeof err) < 0 ||
	    gw_config_set(&cfg, "rate_per_minute", "1000000", err, sizeof err) < 0)
		die(err, 0);
	struct gw *g;
	if (gw_start(&cfg, &g, err, sizeof err) < 0)
		die(err, 0);
	web_port = gw_port(g);

	/* Round trips, direct and through the gateway in turn. */
	enum { N = 400 };
	static double direct[N], web[N];
	CURL *c = curl_easy_init();
	Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
	for (int i = 0; i < 20; i++) /* warm both paths */
		if (web_query(c, &admin) != TANFANG__V1__STATUS__STATUS_OK)
			die("query through the gateway", TF_E_INVALID);
	for (int i = 0; i < N; i++) {
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE, req.overdue = &oq;
		double t0 = mono_ms();
		tf_reply *rep;
		if ((rc = rpc_call(r, &req, 30000, &rep)) < 0)
			die("direct query", rc);
		direct[i] = mono_ms() - t0;
		wire_free(WIRE_REPLY, rep);
		t0 = mono_ms();
		if (web_query(c, &admin) != TANFANG__V1__STATUS__STATUS_OK)
			die("query through the gateway", TF_E_INVALID);
		web[i] = mono_ms() - t0;
	}
	curl_easy_cleanup(c);
	static double diff[N];
	for (int i = 0; i < N; i++)
		diff[i] = web[i] - direct[i];
	qsort(direct, N, sizeof *direct, cmp_double);
	qsort(web, N, sizeof *web, cmp_double);
	qsort(diff, N, sizeof *diff, cmp_double);
	printf("overdue query round trip, %d each, in turn: direct median %.2f ms, through "
	       "tanfang-web median %.2f ms; added per pair: median %.2f ms (p90 %.2f)\n",
	       N, direct[N / 2], web[N / 2], diff[N / 2], diff[N * 9 / 10]);

	/* 200 browsers at once, 5 queries each. */
	enum { BROWSERS = 200, EACH = 5 };
	static struct browser b[BROWSERS];
	double t0 = mono_ms();
	for (int i = 0; i < BROWSERS; i++) {
		b[i].queries = EACH;
		if (pthread_create(&b[i].th, NULL, browser_main, &b[i]) != 0)
			die("pthread_create", 0);
	}
	int failed = 0;
	for (int i = 0; i < BROWSERS; i++) {
		pthread_join(b[i].th, NULL);
		failed += b[i].failed;
	}
	printf("%d concurrent browsers, %d queries each: %d failed, %.1f s in all\n", BROWSERS,
	       EACH, failed, (mono_ms() - t0) / 1000);
	gw_stop(g);
	rpc_close(r);
}

static void run_flood(int flooders)
{
	double med0, p990, med1, p991;
	good_latency(300, &med0, &p990);
	printf("good client alone:              median %7.2f ms, p99 %7.2f ms\n", med0, p990);
	pid_t kids[MAX_CLIENTS];
	for (int c = 0; c < flooders; c++) {
		kids[c] = fork();
		if (kids[c] < 0)
			die("fork", 0);
		if (kids[c] == 0) {
			flood(c + 1);
			_exit(0);
		}
	}
	sleep(1); /* the flood is in full swing */
	good_latency(300, &med1, &p991);
	for (int c = 0; c < flooders; c++) {
		kill(kids[c], SIGKILL);
		waitpid(kids[c], NULL, 0);
	}
	printf("beside %d bad-signature flooders: median %7.2f ms, p99 %7.2f ms  (ratio of "
	       "medians %.1f)\n",
	       flooders, med1, p991, med1 / med0);
}

/* CPU seconds of the daemon's threads by stage (their names, set by
 * server.c), and of the client processes: where a visit's time goes. */
enum stage { ST_WRITER, ST_WORKERS, ST_IO, ST_ZMQ, ST_OTHER, ST_N };
static const char *const stage_name[ST_N] = {"writer", "verify workers", "io", "ZeroMQ I/O",
                                             "other"};

struct cpu {
	double daemon[ST_N];
	double clients;
};

static void daemon_cpu(double out[ST_N])
{
	memset(out, 0, ST_N * sizeof *out);
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)daemon_pid);
	DIR *d = opendir(dir);
	if (!d)
		return;
	long tick = sysconf(_SC_CLK_TCK);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[sizeof dir + 300];
		snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
		char *st = slurp(path); /* its static buffer */
		if (!st)
			continue;
		/* pid (comm) state ... utime(14) stime(15): comm may hold spaces. */
		char *open = strchr(st, '('), *close = strrchr(st, ')');
		unsigned long ut = 0, stt = 0;
		if (open && close &&
		    sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		           &stt) == 2) {
			*close = '\0';
			const char *comm = open + 1;
			enum stage k = strncmp(comm, "tf-writer", 9) == 0   ? ST_WRITER
			               : strncmp(comm, "tf-worker", 9) == 0 ? ST_WORKERS
			               : strcmp(comm, "tf-io") == 0         ? ST_IO
			               : strncmp(comm, "ZMQbg", 5) == 0     ? ST_ZMQ
			                                                    : ST_OTHER;
			out[k] += (double)(ut + stt) / (double)tick;
		}
	}
	closedir(d);
}

/* Prints microseconds of CPU per visit between two snapshots. */
static void print_cpu(const struct cpu *a, const struct cpu *b, long visits)
{
	double total = 0;
	printf("   CPU per visit:");
	for (int k = 0; k < ST_N; k++) {
		double us = (b->daemon[k] - a->daemon[k]) * 1e6 / (double)visits;
		total += us;
		printf(" %s %.0f,", stage_name[k], us);
	}
	double cl = (b->clients - a->clients) * 1e6 / (double)visits;
	printf(" daemon %.0f us; clients %.0f us (signing among them)\n", total, cl);
}

static double children_cpu(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Bytes the store's databases hold, each and in all (out[DB_COUNT]). */
static void store_bytes(uint64_t out[DB_COUNT + 1])
{
	memset(out, 0, (DB_COUNT + 1) * sizeof *out);
	struct store *st;
	struct store_options o = {.read_only = true};
	int r = store_open(data, &o, &st);
	if (r < 0)
		die("open the store to measure it", r);
	struct store_txn *txn;
	if ((r = store_txn_begin(st, false, NULL, &txn)) < 0)
		die("read the store", r);
	for (int i = 0; i < DB_COUNT; i++) {
		if ((r = store_used_bytes(txn, (enum store_db)i, &out[i])) < 0)
			die("measure the store", r);
		out[DB_COUNT] += out[i];
	}
	store_txn_abort(txn);
	store_close(st);
}

static void print_store(const uint64_t a[DB_COUNT + 1], const uint64_t b[DB_COUNT + 1], long visits)
{
	/* A database can also shrink over a run (the due indexes hold one entry
	 * per duty, moved as visits come in): differences are signed. */
	printf("store: %.0f bytes per visit (",
	       ((double)b[DB_COUNT] - (double)a[DB_COUNT]) / (double)visits);
	const char *sep = "";
	for (int i = 0; i < DB_COUNT; i++) {
		double per = ((double)b[i] - (double)a[i]) / (double)visits;
		if (per >= 1 || per <= -1) {
			printf("%s%s %.0f", sep, store_db_name((enum store_db)i), per);
			sep = ", ";
		}
	}
	printf(")\n");
}

/* Runs `clients` processes at once (keys 1..clients); returns visits/s. */
static double run_parallel(int clients, long n, int window, long *ok_total)
{
	int go[2], done[2];
	if (pipe(go) < 0 || pipe(done) < 0)
		die("pipe", 0);
	pid_t kids[MAX_CLIENTS];
	fflush(NULL);
	for (int c = 0; c < clients; c++) {
		kids[c] = fork();
		if (kids[c] < 0)
			die("fork", 0);
		if (kids[c] == 0) {
			char b;
			close(go[1]);
			/* The parent closing its end is the start signal. */
			if (read(go[0], &b, 1) < 0)
				_exit(1);
			long ok = run_client(c + 1, n, window);
			_exit(write(done[1], &ok, sizeof ok) == sizeof ok ? 0 : 1);
		}
	}
	close(go[0]);
	close(done[1]); /* so a dead client shows as end of file */
	/* Give the children a moment to connect (and finish the CURVE
	 * handshake) before the clock starts. */
	nanosleep(&(struct timespec){0, 200000000L}, NULL);
	int64_t t0 = clock_mono_ms();
	close(go[1]);
	*ok_total = 0;
	for (int c = 0; c < clients; c++) {
		long ok;
		if (read(done[0], &ok, sizeof ok) != sizeof ok)
			die("a client failed", TF_E_INVALID);
		*ok_total += ok;
	}
	int64_t ms = clock_mono_ms() - t0;
	for (int c = 0; c < clients; c++)
		waitpid(kids[c], NULL, 0);
	close(done[0]);
	return (double)(clients * n) * 1000.0 / (double)(ms ? ms : 1);
}

int main(int argc, char **argv)
{
	int clients = 4, window = 256, flooders = 0;
	double lat_seconds = 5;
	const char *rates = NULL;
	bool web = false;
	long visits = 20000;
	static const struct option opts[] = {
	    {"daemon", required_argument, NULL, 'd'},
	    {"clients", required_argument, NULL, 'c'},
	    {"visits", required_argument, NULL, 'n'},
	    {"window", required_argument, NULL, 'w'},
	    {"no-curve", no_argument, NULL, 'N'},
	    {"flood", required_argument, NULL, 'f'},
	    {"web", no_argument, NULL, 'W'},
	    {"latency-seconds", required_argument, NULL, 'L'},
	    {"rates", required_argument, NULL, 'R'},
	    {"elders", required_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': daemon_path = optarg; break;
		case 'c': clients = atoi(optarg); break;
		case 'n': visits = atol(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'N': curve = false; break;
		case 'f': flooders = atoi(optarg); break;
		case 'W': web = true; break;
		case 'L': lat_seconds = atof(optarg); break;
		case 'R': rates = optarg; break;
		case 'E': elders = atol(optarg); break;
		case 'h':
			printf(
			    "usage: bench-ingest [--daemon PATH] [--clients N] [--visits N] "
			    "[--window N] [--no-curve] [--flood N] [--web] [--latency-seconds S]\n"
			    "       [--rates R,R,...] [--elders N]\n"
			    "  Prints visits/s with 1 and N clients, CPU and store bytes per "
			    "visit,\n"
			    "  then submit->ack latency open loop at 1,000/s and at 80%% of the\n"
			    "  best rate (S seconds each, 5 by default; 0 skips). --rates: only\n"
			    "  the open loop, at each of these rates (visits/s). --elders: how "
			    "many\n"
			    "  elders the visits go to (100).\n");
			return 0;
		default: fprintf(stderr, "Try 'bench-ingest --help'.\n"); return 2;
		}
	}
	if (flooders > clients)
		clients = flooders;
	if (clients < 1 || clients > MAX_CLIENTS || visits < 1 || window < 1 ||
	    window > MAX_WINDOW || flooders < 0 || elders < 1 || elders > 10000000) {
		fprintf(
		    stderr,
		    "bench-ingest: clients 1..%d, visits >= 1, window 1..%d, elders 1..10000000\n",
		    MAX_CLIENTS, MAX_WINDOW);
		return 2;
	}
	static char self_dir[PATH_MAX + 32];
	if (!daemon_path)
		daemon_path = getenv("TANFANGD");
	if (!daemon_path) {
		char exe[PATH_MAX];
		ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (l < 0)
			die("readlink", 0);
		exe[l] = '\0';
		snprintf(self_dir, sizeof self_dir, "%s/../daemon/tanfangd", dirname(exe));
		daemon_path = self_dir;
	}
	if (envelope_init() < 0)
		die("libsodium", TF_E_INVALID);
	init_and_start();
	setup_registry(clients);
	if (flooders || web) {
		printf("tanfangd %s, %s\n", endpoint, curve ? "CURVE" : "no CURVE");
		if (web) {
			curl_global_init(CURL_GLOBAL_DEFAULT);
			run_web();
			curl_global_cleanup();
		} else {
			run_flood(flooders);
		}
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		if (!getenv("BENCH_KEEP"))
			nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 0;
	}
	if (rates) {
		printf("tanfangd %s, %s\n", endpoint, curve ? "CURVE" : "no CURVE");
		for (char *end; *rates; rates = *end ? end + 1 : end) {
			double rate = strtod(rates, &end);
			if (end == rates || rate <= 0 || (*end && *end != ','))
				die("--rates: a list of visits/s separated by commas",
				    TF_E_INVALID);
			print_latency(rate, lat_seconds > 0 ? lat_seconds : 5);
		}
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		if (!getenv("BENCH_KEEP"))
			nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 0;
	}
	printf("tanfangd %s, %s, %ld visits per client, window %d\n", endpoint,
	       curve ? "CURVE" : "no CURVE", visits, window);

	uint64_t bytes0[DB_COUNT + 1], bytes1[DB_COUNT + 1];
	store_bytes(bytes0);
	struct cpu c0, c1, c2;
	daemon_cpu(c0.daemon);
	c0.clients = children_cpu();
	long ok1;
	double one = run_parallel(1, visits, window, &ok1);
	daemon_cpu(c1.daemon);
	c1.clients = children_cpu();
	printf("1 client:   %8.0f visits/s  (%ld OK)\n", one, ok1);
	print_cpu(&c0, &c1, visits);
	long okn;
	double many = run_parallel(clients, visits, window, &okn);
	daemon_cpu(c2.daemon);
	c2.clients = children_cpu();
	printf("%d clients:  %8.0f visits/s  (%ld OK)  ratio %.2f\n", clients, many, okn,
	       many / one);
	print_cpu(&c1, &c2, clients * visits);
	store_bytes(bytes1);
	print_store(bytes0, bytes1, ok1 + okn);
	if (lat_seconds > 0) {
		print_latency(1000, lat_seconds);
		print_latency(0.8 * (many > one ? many : one), lat_seconds);
	}

	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	if (!getenv("BENCH_KEEP"))
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ok1 == visits && okn == clients * visits ? 0 : 1;
}
