#include "tf_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"

#define MAX_TRACKED 32

static unsigned long passed;
static bool failed, reported;
/* Cleanup belongs to the process that created things: a forked child that
 * exits must not remove the parent's folders or kill its daemons. */
static pid_t owner;
static char *tmpdirs[MAX_TRACKED];
static size_t n_tmpdirs;
static pid_t daemons[MAX_TRACKED];

static void setup(void);

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void untrack_daemon(pid_t pid)
{
	for (size_t i = 0; i < MAX_TRACKED; i++)
		if (daemons[i] == pid)
			daemons[i] = 0;
}

static void cleanup(void)
{
	if (getpid() != owner)
		return;
	for (size_t i = 0; i < MAX_TRACKED; i++) {
		if (daemons[i] > 0) {
			kill(daemons[i], SIGKILL);
			waitpid(daemons[i], NULL, 0);
			daemons[i] = 0;
		}
	}
	bool keep = getenv("TFT_KEEP") != NULL;
	for (size_t i = 0; i < n_tmpdirs; i++) {
		if (keep)
			fprintf(stderr, "kept %s\n", tmpdirs[i]);
		else
			nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(tmpdirs[i]);
	}
	n_tmpdirs = 0;
	if (!failed && !reported)
		fprintf(stderr, "%lu checks passed\n", passed);
}

int tft_done(void)
{
	setup();
	fprintf(stderr, "%lu checks passed\n", passed);
	reported = true;
	return 0;
}

static void setup(void)
{
	if (owner)
		return;
	owner = getpid();
	if (envelope_init() < 0) {
		fprintf(stderr, "libsodium failed to initialise\n");
		exit(1);
	}
	atexit(cleanup);
}

void tft_pass(void)
{
	setup();
	passed++;
}

void tft_fail(const char *file, int line, const char *fmt, ...)
{
	setup();
	va_list ap;
	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed = true;
	exit(1);
}

#define FAIL(...) tft_fail(__FILE__, __LINE__, __VA_ARGS__)

const char *tft_tmpdir(void)
{
	setup();
	if (n_tmpdirs == MAX_TRACKED)
		FAIL("too many temporary folders");
	const char *base = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof tmpl, "%s/tanfang-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl))
		FAIL("mkdtemp %s: %s", tmpl, strerror(errno));
	char *dup = strdup(tmpl);
	if (!dup)
		FAIL("out of memory");
	tmpdirs[n_tmpdirs++] = dup;
	return dup;
}

char *tft_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int tft_run(const char *const argv[], char *out, size_t outlen, int timeout_s)
{
	setup();
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		FAIL("pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
	bool timed_out = false;
	for (;;) {
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		char buf[4096];
		ssize_t got = read(fds[0], buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (out && outlen > 1 && n < outlen - 1) {
			size_t take = (size_t)got < outlen - 1 - n ? (size_t)got : outlen - 1 - n;
			memcpy(out + n, buf, take);
			n += take;
		}
	}
	close(fds[0]);
	if (out && outlen)
		out[n] = '\0';
	int status;
	if (timed_out)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) < 0)
		FAIL("waitpid: %s", strerror(errno));
	if (timed_out || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static const char *tanfangd(void)
{
	const char *p = getenv("TANFANGD");
	if (!p || !*p)
		FAIL("TANFANGD is not set (run the tests through meson test)");
	return p;
}

void tft_daemon_init(struct tft_daemon *d)
{
	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "%s", tft_tmpdir());
	snprintf(d->data, sizeof d->data, "%s/data", d->dir);
	d->curve = true;
	char out[4096];
	const char *argv[] = {tanfangd(), "init", "--data", d->data, NULL};
	int rc = tft_run(argv, out, sizeof out, 60);
	if (rc != 0)
		FAIL("tanfangd init exited %d:\n%s", rc, out);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/admin.key", d->data);
	int r = keys_load(path, &d->admin);
	if (r < 0)
		FAIL("keys_load %s: %s", path, tf_strerror(r));
	snprintf(path, sizeof path, "%s/curve.pub", d->data);
	char *pub = tft_read_file(path, NULL);
	if (!pub)
		FAIL("cannot read %s", path);
	pub[strcspn(pub, "\r\n")] = '\0';
	if (strlen(pub) != 40)
		FAIL("%s does not hold a 40-character Z85 key: \"%s\"", path, pub);
	memcpy(d->curve_pub, pub, 41);
	free(pub);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		FAIL("socket: %s", strerror(errno));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		FAIL("bind 127.0.0.1:0: %s", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

static void dump_log(const struct tft_daemon *d)
{
	char *log = tft_read_file(d->log, NULL);
	fprintf(stderr, "---- %s ----\n%s---- end ----\n", d->log, log ? log : "(unreadable)\n");
	free(log);
}

void tft_daemon_start(struct tft_daemon *d, const char *const *extra)
{
	setup();
	if (d->pid)
		FAIL("daemon already running (pid %d)", (int)d->pid);
	if (!d->port)
		d->port = free_port();
	snprintf(d->endpoint, sizeof d->endpoint, "tcp://127.0.0.1:%d", d->port);
	snprintf(d->log, sizeof d->log, "%s/daemon-%d.log", d->dir, ++d->starts);
	const char *argv[48] = {tanfangd(), "run", "--data", d->data, "--listen", d->endpoint};
	size_t n = 6;
	d->curve = true;
	for (size_t i = 0; extra && extra[i]; i++) {
		if (n + 2 > sizeof argv / sizeof argv[0])
			FAIL("too many daemon arguments");
		if (strcmp(extra[i], "--no-curve") == 0)
			d->curve = false;
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		dup2(nul, 0);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	d->pid = pid;
	for (size_t i = 0; i < MAX_TRACKED; i++)
		if (!daemons[i]) {
			daemons[i] = pid;
			break;
		}
	int64_t deadline = clock_mono_ms() + 15000;
	while (clock_mono_ms() < deadline) {
		char *log = tft_read_file(d->log, NULL);
		bool up = log && strstr(log, "listening on");
		free(log);
		if (up)
			return;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			untrack_daemon(pid);
			d->pid = 0;
			dump_log(d);
			FAIL("tanfangd exited before listening (status 0x%x)", status);
		}
		sleep_ms(20);
	}
	dump_log(d);
	FAIL("tanfangd did not log 'listening on' within 15 s");
}

int tft_daemon_stop(struct tft_daemon *d)
{
	if (!d->pid)
		return -1;
	kill(d->pid, SIGTERM);
	int status = 0;
	bool reaped = false;
	int64_t deadline = clock_mono_ms() + 15000;
	while (clock_mono_ms() < deadline) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			reaped = true;
			break;
		}
		sleep_ms(10);
	}
	if (!reaped) {
		fprintf(stderr, "tanfangd did not stop within 15 s after SIGTERM; killing it\n");
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	untrack_daemon(d->pid);
	d->pid = 0;
	if (!reaped || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* Whatever the test expects, the reason belongs in its output. */
		fprintf(stderr, "tanfangd did not exit cleanly (status 0x%x)\n", status);
		dump_log(d);
	}
	if (!reaped || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

void tft_daemon_kill9(struct tft_daemon *d)
{
	if (!d->pid)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	untrack_daemon(d->pid);
	d->pid = 0;
}

bool tft_daemon_alive(struct tft_daemon *d)
{
	if (!d->pid)
		return false;
	int status;
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		untrack_daemon(d->pid);
		d->pid = 0;
		return false;
	}
	return true;
}

const char *tft_daemon_key(const struct tft_daemon *d)
{
	return d->curve ? d->curve_pub : NULL;
}

void tft_rpc(struct tft_daemon *d, const struct keypair *kp, struct rpc **out)
{
	int r = rpc_open(d->endpoint, tft_daemon_key(d), kp, out);
	if (r < 0)
		FAIL("rpc_open %s: %s", d->endpoint, tf_strerror(r));
}

void tft_admin_rpc(struct tft_daemon *d, struct rpc **out)
{
	tft_rpc(d, &d->admin, out);
}

int tft_call(struct rpc *r, tf_request *req, char *detail)
{
	tf_reply *rep;
	int rc = rpc_call(r, req, 10000, &rep);
	if (rc < 0)
		FAIL("rpc_call: %s", tf_strerror(rc));
	int status = rep->status;
	if (detail)
		snprintf(detail, 256, "%s", rep->detail ? rep->detail : "");
	wire_free(WIRE_REPLY, rep);
	return status;
}

static void expect_ok(struct rpc *r, tf_request *req, const char *what)
{
	char detail[256];
	int st = tft_call(r, req, detail);
	if (st != TANFANG__V1__STATUS__STATUS_OK)
		FAIL("%s: %s (%s)", what, wire_status_name(st), detail);
	tft_pass();
}

void tft_put_area(struct rpc *r, const char *code, const char *name, const char *parent)
{
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = (char *)code;
	a.name = (char *)name;
	a.parent = (char *)(parent ? parent : "");
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA;
	req.put_area = &pa;
	expect_ok(r, &req, "put area");
}

void tft_put_visitor(struct rpc *r, const char *id, const char *name, int role, const char *area)
{
	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = (char *)id;
	v.name = (char *)name;
	v.role = role;
	v.area = (char *)area;
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_VISITOR;
	req.put_visitor = &pv;
	expect_ok(r, &req, "put visitor");
}

void tft_enrol(struct rpc *r, const uint8_t pk[32], const char *visitor_id)
{
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = (uint8_t *)pk;
	ek.public_key.len = 32;
	ek.visitor_id = (char *)visitor_id;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
	req.enrol_key = &ek;
	expect_ok(r, &req, "enrol key");
}

void tft_put_elder_list(struct rpc *r, const char *id, const char *name, const char *area,
                        const int *categories, size_t n)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = (char *)id;
	e.name = (char *)name;
	e.area = (char *)area;
	Tanfang__V1__Category cats[16];
	if (n > 16)
		FAIL("too many categories");
	for (size_t i = 0; i < n; i++)
		cats[i] = (Tanfang__V1__Category)categories[i];
	e.categories = cats;
	e.n_categories = n;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	expect_ok(r, &req, "put elder");
}

void tft_make_visit(tf_visit *v, uint8_t id[16], const char *elder_id, int kind, int64_t when)
{
	wire_init(WIRE_VISIT, v);
	v->id.data = id;
	v->id.len = 16;
	v->elder_id = (char *)elder_id;
	v->kind = (Tanfang__V1__VisitKind)kind;
	v->visited_at = when;
}

void tft_random_id(uint8_t id[16])
{
	setup();
	randombytes_buf(id, 16);
}

void tft_visit_request(tf_request *req, tf_visit *v)
{
	wire_init(WIRE_REQUEST, req);
	req->op_case = TANFANG__V1__REQUEST__OP_VISIT;
	req->visit = v;
}

void tft_event_request(tf_request *req, tf_care_event *e)
{
	wire_init(WIRE_REQUEST, req);
	req->op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT;
	req->care_event = e;
}
