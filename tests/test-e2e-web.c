/* End to end (issue 9, item 1): tanfang-web forwards envelopes signed
 * elsewhere to the real daemon and answers with the Reply's bytes, serves
 * the app's files with the security headers, and keeps its limits, each
 * with its HTTP status. Real daemon, real gateway process, libcurl. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x

static struct tft_daemon d;
static pid_t web_pid;
static unsigned web_port;
static char web_log[PATH_MAX + 32], web_key[PATH_MAX + 32], web_root[PATH_MAX + 32];

struct http {
	long status;
	char *body;
	size_t len;
	char headers[4096];
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	char *b = realloc(h->body, h->len + size * n + 1);
	CHECK(b != NULL);
	memcpy(b + h->len, p, size * n);
	h->body = b;
	h->len += size * n;
	h->body[h->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	size_t used = strlen(h->headers);
	if (used + size * n < sizeof h->headers)
		memcpy(h->headers + used, p, size * n), h->headers[used + size * n] = '\0';
	return size * n;
}

/* One HTTP request to the gateway; body NULL for GET. */
static const char *extra_header; /* one more request header, or NULL */
static const char *content_type = "application/x-protobuf";
static bool https; /* the gateway serves HTTPS (self-signed) */

static struct http request(const char *method, const char *path, const void *body, size_t len)
{
	struct http h = {0};
	CURL *c = curl_easy_init();
	CHECK(c != NULL);
	char url[256];
	snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", https ? "https" : "http", web_port, path);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (https) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	char ct[128];
	snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
	struct curl_slist *hdr = curl_slist_append(NULL, ct);
	if (extra_header)
		hdr = curl_slist_append(hdr, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		tft_fail(__FILE__, __LINE__, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h.status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return h;
}

/* An envelope signed by kp, as a browser would make it. */
static void seal(const struct keypair *kp, tf_request *req, uint8_t **frame, size_t *len)
{
	CHECK_OK(rpc_seal(kp, req, frame, len));
}

static void overdue_request(tf_request *req, Tanfang__V1__OverdueQuery *oq)
{
	*oq = (Tanfang__V1__OverdueQuery)TANFANG__V1__OVERDUE_QUERY__INIT;
	wire_init(WIRE_REQUEST, req);
	req->op_case = OP(OVERDUE), req->overdue = oq;
}

/* POSTs a freshly signed query; returns the HTTP status, and the Reply's
 * status in *status (0 if no Reply). */
static long post_query(const struct keypair *kp, int *status)
{
	tf_request req;
	Tanfang__V1__OverdueQuery oq;
	overdue_request(&req, &oq);
	uint8_t *frame;
	size_t len;
	seal(kp, &req, &frame, &len);
	struct http h = request("POST", "/v1/envelope", frame, len);
	free(frame);
	*status = 0;
	tf_reply *rep;
	if (h.status == 200 &&
	    wire_unpack(WIRE_REPLY, (const uint8_t *)h.body, h.len, (void **)&rep) == 0) {
		*status = rep->status;
		wire_free(WIRE_REPLY, rep);
	}
	free(h.body);
	return h.status;
}

static void start_web(const char *const *extra)
{
	const char *bin = getenv("TANFANG_WEB");
	CHECK(bin != NULL);
	char keyfile[PATH_MAX + 32];
	snprintf(keyfile, sizeof keyfile, "%s/curve.pub", d.data);
	const char *argv[32] = {bin,      "run",    "--listen",          "127.0.0.1:0",
	                        "--root", web_root, "--endpoint",        d.endpoint,
	                        "--key",  web_key,  "--server-key-file", keyfile};
	size_t n = 12;
	for (size_t i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	fflush(NULL);
	web_pid = fork();
	CHECK(web_pid >= 0);
	if (web_pid == 0) {
		int fd = open(web_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	web_port = 0;
	for (int i = 0; i < 100 && !web_port; i++) {
		usleep(50000);
		char *log = tft_read_file(web_log, NULL);
		const char *p = log ? strstr(log, "(port ") : NULL;
		if (p)
			web_port = (unsigned)strtoul(p + 6, NULL, 10);
		free(log);
	}
	if (!web_port) {
		char *log = tft_read_file(web_log, NULL);
		tft_fail(__FILE__, __LINE__, "tanfang-web did not start:\n%s", log ? log : "");
	}
}

static void stop_web(void)
{
	kill(web_pid, SIGTERM);
	int st;
	CHECK(waitpid(web_pid, &st, 0) == web_pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	web_pid = 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	tft_put_visitor(admin, "web", "网关", ROLE(GATEWAY), "152223");
	tft_put_visitor(admin, "s1", "督导", ROLE(SUPERVISOR), "152223");
	rpc_close(admin);
	snprintf(web_key, sizeof web_key, "%s/web.key", d.dir);
	snprintf(web_log, sizeof web_log, "%s/web.log", d.dir);
	snprintf(web_root, sizeof web_root, "%s/app", d.dir);
	CHECK(mkdir(web_root, 0700) == 0);
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/index.html", web_root);
	write_file(p, "<!doctype html><title>探访</title>\n");
	snprintf(p, sizeof p, "%s/app.js", web_root);
	write_file(p, "console.log('tanfang');\n");
	snprintf(p, sizeof p, "%s/secret.txt", d.dir);
	write_file(p, "not for the web\n");
}

static struct keypair enrol_key(const char *visitor)
{
	struct keypair kp;
	CHECK_OK(keys_generate(&kp));
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_enrol(admin, kp.pk, visitor);
	rpc_close(admin);
	return kp;
}

static void write_config(const char *extra)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/web.conf", d.dir);
	char text[3 * PATH_MAX];
	snprintf(text, sizeof text,
	         "[web]\nmax_body = 4096\ntimeout_ms = 1500\nconnect_ms = 1000\n%s", extra);
	write_file(p, text);
}

static const char *const *with_config(void)
{
	static char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/web.conf", d.dir);
	static const char *args[3];
	args[0] = "--config", args[1] = p, args[2] = NULL;
	return args;
}

static bool has_header(const struct http *h, const char *line)
{
	return strcasestr(h->headers, line) != NULL;
}

/* The gateway's key, made by tanfang-web keygen; enrolled later. */
static void make_gateway_key(uint8_t pk[32])
{
	const char *keygen[] = {getenv("TANFANG_WEB"), "keygen", "--key", web_key, NULL};
	char out[256];
	CHECK_EQ_INT(tft_run(keygen, out, sizeof out, 10), 0);
	CHECK_EQ_INT((int)strlen(out), 65);
	out[64] = '\0';
	CHECK_OK(hex_decode(out, pk, 32));
	/* Never overwritten. */
	CHECK_EQ_INT(tft_run(keygen, out, sizeof out, 10), 1);
}

static void test_forwarding(struct keypair *super)
{
	int st;
	/* A browser's envelope, forwarded; the Reply's bytes come back. */
	CHECK_EQ_INT(post_query(super, &st), 200);
	CHECK_EQ_INT(st, ST(OK));
	/* The same envelope again: the daemon's once-only rule holds through
	 * the gateway. */
	tf_request req;
	Tanfang__V1__OverdueQuery oq;
	overdue_request(&req, &oq);
	uint8_t *frame;
	size_t len;
	seal(super, &req, &frame, &len);
	struct http h1 = request("POST", "/v1/envelope", frame, len);
	struct http h2 = request("POST", "/v1/envelope", frame, len);
	free(frame);
	CHECK_EQ_INT(h1.status, 200);
	CHECK_EQ_INT(h2.status, 200);
	tf_reply *rep;
	CHECK_OK(wire_unpack(WIRE_REPLY, (const uint8_t *)h2.body, h2.len, (void **)&rep));
	CHECK_STATUS(rep->status, REPLAYED);
	wire_free(WIRE_REPLY, rep);
	CHECK(has_header(&h1, "Content-Type: application/x-protobuf"));
	CHECK(has_header(&h1, "Cache-Control: no-store"));
	free(h1.body);
	free(h2.body);
	/* A browser whose key is not enrolled: the daemon's answer. */
	struct keypair stranger;
	CHECK_OK(keys_generate(&stranger));
	CHECK_EQ_INT(post_query(&stranger, &st), 200);
	CHECK_EQ_INT(st, ST(UNKNOWN_SIGNER));
	/* Bytes that are no envelope: the daemon's MALFORMED. */
	struct http h = request("POST", "/v1/envelope", "junk", 4);
	CHECK_EQ_INT(h.status, 200);
	CHECK_OK(wire_unpack(WIRE_REPLY, (const uint8_t *)h.body, h.len, (void **)&rep));
	CHECK_STATUS(rep->status, MALFORMED);
	wire_free(WIRE_REPLY, rep);
	free(h.body);
	/* The gateway's own key signs nothing. */
	struct keypair gk;
	CHECK_OK(keys_load(web_key, &gk));
	CHECK_EQ_INT(post_query(&gk, &st), 200);
	CHECK_EQ_INT(st, ST(FORBIDDEN));
	/* Larger than max_body (4096 here): 413, before anything reaches
	 * the daemon. */
	char *big = calloc(1, 5000);
	CHECK(big != NULL);
	h = request("POST", "/v1/envelope", big, 5000);
	free(big);
	CHECK_EQ_INT(h.status, 413);
	free(h.body);
	/* The wrong method and unknown endpoints. */
	h = request("GET", "/v1/envelope", NULL, 0);
	CHECK_EQ_INT(h.status, 405);
	free(h.body);
	h = request("GET", "/v1/nothing", NULL, 0);
	CHECK_EQ_INT(h.status, 404);
	free(h.body);
}

static void test_files(void)
{
	struct http h = request("GET", "/", NULL, 0);
	CHECK_EQ_INT(h.status, 200);
	CHECK(strstr(h.body, "探访") != NULL);
	CHECK(has_header(&h, "Content-Type: text/html"));
	CHECK(has_header(&h, "frame-ancestors 'none'"));
	CHECK(has_header(&h, "script-src 'self';"));
	CHECK(!has_header(&h, "unsafe-inline"));
	CHECK(has_header(&h, "X-Content-Type-Options: nosniff"));
	free(h.body);
	h = request("GET", "/app.js", NULL, 0);
	CHECK_EQ_INT(h.status, 200);
	CHECK(has_header(&h, "Content-Type: text/javascript"));
	free(h.body);
	/* The app's own pages are the app. */
	h = request("GET", "/overdue", NULL, 0);
	CHECK_EQ_INT(h.status, 200);
	CHECK(strstr(h.body, "探访") != NULL);
	free(h.body);
	/* Nothing outside the root, nothing hidden. */
	static const char *const bad[] = {"/../secret.txt", "/%2e%2e/secret.txt", "/.hidden",
	                                  "/a//b.js", "/nothing.js"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		h = request("GET", bad[i], NULL, 0);
		if (h.status != 404)
			tft_fail(__FILE__, __LINE__, "GET %s: %ld", bad[i], h.status);
		CHECK(h.body == NULL || strstr(h.body, "not for the web") == NULL);
		free(h.body);
	}
	h = request("DELETE", "/index.html", NULL, 0);
	CHECK_EQ_INT(h.status, 405);
	free(h.body);
}

/* The import page's parse endpoint (issue 11): the office's file as it
 * is, here a GB18030 "CSV" with the office's headers; and the JSON form
 * carrying the registry the browser fetched, so a village is named. */
static void test_parse_import(void)
{
	/* 姓名,身份证号码,区划代码 / 张三,ID,152223100201 in GB18030 */
	static const char gb[] = "\xd0\xd5\xc3\xfb,\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\xc2\xeb,"
	                         "\xc7\xf8\xbb\xae\xb4\xfa\xc2\xeb\r\n"
	                         "\xd5\xc5\xc8\xfd,152223194211050023,152223100201\r\n";
	content_type = "application/octet-stream";
	struct http h = request("POST", "/v1/parse-elders", gb, sizeof gb - 1);
	CHECK_EQ_INT(h.status, 200);
	CHECK(h.body && strstr(h.body, "\"errors\":[]") != NULL);
	CHECK(strstr(h.body, "\"format\":\"CSV (GB18030)\"") != NULL);
	CHECK(strstr(h.body, "\"items\":[[1,2]]") != NULL);
	CHECK(strstr(h.body, "\"request\":\"") != NULL);
	free(h.body);
	/* A village by name: found in the directory the browser sent. */
	static const char js[] =
	    "{\"kind\":\"elders\",\"file\":\"5aeT5ZCNLOi6q+S7veivgeWPt+"
	    "eggSzmiYDlsZ7mnZEK5byg5LiJLDE1MjIyMzE5NDIxMTA1MDAyMyzlt7TlvabkuYzlhbDlmI7mn6UK\","
	    "\"areas\":[[\"152223100201\",\"巴彦乌兰嘎查\",\"152223100\"]],\"visitors\":[]}";
	content_type = "application/json";
	h = request("POST", "/v1/parse-elders", js, sizeof js - 1);
	CHECK_EQ_INT(h.status, 200);
	CHECK(h.body && strstr(h.body, "\"errors\":[]") != NULL);
	free(h.body);
	/* The same without the directory: the name cannot be placed. */
	static const char bare[] =
	    "{\"file\":\"5aeT5ZCNLOi6q+S7veivgeWPt+eggSzmiYDlsZ7mnZEK5byg5LiJLDE1MjIyMz"
	    "E5NDIxMTA1MDAyMyzlt7TlvabkuYzlhbDlmI7mn6UK\"}";
	h = request("POST", "/v1/parse-elders", bare, sizeof bare - 1);
	CHECK_EQ_INT(h.status, 200);
	CHECK(h.body && strstr(h.body, "found by name only when the registry") != NULL);
	free(h.body);
	h = request("POST", "/v1/parse-elders", "{\"file\":", 8);
	CHECK_EQ_INT(h.status, 400);
	free(h.body);
	content_type = "application/x-protobuf";
}

/* SIGSTOP, and wait until the kernel shows every thread stopped: the stop
 * is asynchronous, and a request sent too soon could still be answered. */
static void stop_daemon_cpu(void)
{
	CHECK(kill(d.pid, SIGSTOP) == 0);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)d.pid);
	for (int i = 0; i < 200; i++) {
		char *st = tft_read_file(path, NULL);
		const char *p = st ? strrchr(st, ')') : NULL;
		bool stopped = p && p[1] == ' ' && p[2] == 'T';
		free(st);
		if (stopped)
			return;
		usleep(10000);
	}
	tft_fail(__FILE__, __LINE__, "the daemon did not stop");
}

/* More requests at once than max_inflight: the extra one waits a few
 * seconds for a connection to come free, then gets 429. */
static void test_inflight(struct keypair *super)
{
	write_config("max_inflight = 1\ntimeout_ms = 8000\n");
	start_web(with_config());
	int st;
	CHECK_EQ_INT(post_query(super, &st), 200); /* the one connection is up */
	stop_daemon_cpu();
	CURLM *m = curl_multi_init();
	CURL *h[2];
	uint8_t *frame[2];
	size_t len[2];
	struct http out[2] = {{0}};
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/envelope", web_port);
	for (int i = 0; i < 2; i++) {
		tf_request req;
		Tanfang__V1__OverdueQuery oq;
		overdue_request(&req, &oq);
		seal(super, &req, &frame[i], &len[i]);
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_URL, url);
		curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, frame[i]);
		curl_easy_setopt(h[i], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len[i]);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &out[i]);
		curl_multi_add_handle(m, h[i]);
	}
	int running = 2;
	int64_t until = clock_mono_ms() + 20000;
	while (running && clock_mono_ms() < until) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 200, NULL);
	}
	CHECK(kill(d.pid, SIGCONT) == 0);
	long code[2];
	for (int i = 0; i < 2; i++) {
		curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &code[i]);
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
		free(frame[i]);
		free(out[i].body);
	}
	curl_multi_cleanup(m);
	/* One waited for the stopped daemon (504), the other for a connection
	 * (429). */
	if (!((code[0] == 504 && code[1] == 429) || (code[0] == 429 && code[1] == 504)))
		tft_fail(__FILE__, __LINE__, "two requests at max_inflight 1: %ld and %ld", code[0],
		         code[1]);
	tft_pass();
	stop_web();
}

static void test_daemon_trouble(struct keypair *super)
{
	int st;
	/* Stopped (SIGSTOP): connected, no answer: 504 after timeout_ms. */
	stop_daemon_cpu();
	int64_t t0 = clock_mono_ms();
	CHECK_EQ_INT(post_query(super, &st), 504);
	int64_t waited = clock_mono_ms() - t0;
	CHECK(waited >= 1400 && waited < 10000);
	CHECK(kill(d.pid, SIGCONT) == 0);
	CHECK_EQ_INT(post_query(super, &st), 200);
	/* Down: 502 within connect_ms. */
	tft_daemon_stop(&d);
	t0 = clock_mono_ms();
	CHECK_EQ_INT(post_query(super, &st), 502);
	CHECK(clock_mono_ms() - t0 < 10000);
	tft_daemon_start(&d, NULL);
	/* Back: served again. */
	long code = 0;
	for (int i = 0; i < 20 && code != 200; i++)
		code = post_query(super, &st);
	CHECK_EQ_INT(code, 200);
}

static void test_rate(struct keypair *super)
{
	/* At most rate_burst at once from one address, then rate_per_minute. */
	write_config("rate_burst = 5\nrate_per_minute = 6\n");
	start_web(with_config());
	int st, ok = 0, limited = 0;
	for (int i = 0; i < 8; i++) {
		long code = post_query(super, &st);
		ok += code == 200, limited += code == 429;
	}
	CHECK_EQ_INT(ok, 5);
	CHECK_EQ_INT(limited, 3);
	/* Files are not counted. */
	struct http h = request("GET", "/", NULL, 0);
	CHECK_EQ_INT(h.status, 200);
	free(h.body);
	/* X-Real-IP is ignored unless behind_proxy is set... */
	extra_header = "X-Real-IP: 10.0.0.9";
	CHECK_EQ_INT(post_query(super, &st), 429);
	stop_web();
	/* ... and with it, each address behind the proxy has its own budget. */
	write_config("rate_burst = 5\nrate_per_minute = 6\nbehind_proxy = yes\n");
	start_web(with_config());
	ok = limited = 0;
	extra_header = "X-Real-IP: 10.0.0.1";
	for (int i = 0; i < 6; i++) {
		long code = post_query(super, &st);
		ok += code == 200, limited += code == 429;
	}
	CHECK_EQ_INT(ok, 5);
	CHECK_EQ_INT(limited, 1);
	/* An IPv4 address written as IPv6 is that address: spent already. */
	extra_header = "X-Real-IP: ::ffff:10.0.0.1";
	CHECK_EQ_INT(post_query(super, &st), 429);
	/* An IPv6 client is its /64: another address in it shares the budget
	 * (a host may take any), another /64 has its own. */
	extra_header = "X-Real-IP: 2001:db8:0:1::7";
	ok = limited = 0;
	for (int i = 0; i < 3; i++)
		ok += post_query(super, &st) == 200;
	const char *same64[] = {"X-Real-IP: 2001:db8:0:1::8", "X-Real-IP: 2001:db8:0:1:ffff::1",
	                        "X-Real-IP: 2001:db8:0:1:abcd:1:2:3"};
	for (int i = 0; i < 3; i++) {
		extra_header = same64[i];
		long code = post_query(super, &st);
		ok += code == 200, limited += code == 429;
	}
	CHECK_EQ_INT(ok, 5);
	CHECK_EQ_INT(limited, 1);
	extra_header = "X-Real-IP: 2001:db8:0:2::7";
	CHECK_EQ_INT(post_query(super, &st), 200);
	extra_header = NULL;
	stop_web();
}

/* Clients that hang up mid-request do not flood the log: libmicrohttpd's
 * messages are at most 20 a minute (an attack test wrote one per dropped
 * connection). */
static void test_log_flood(void)
{
	write_config("");
	start_web(with_config());
	for (int i = 0; i < 60; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons((uint16_t)web_port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
		/* A body promised and not sent: the gateway notes the hang-up. */
		const char req[] =
		    "POST /v1/envelope HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab";
		CHECK(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
		close(fd);
	}
	usleep(300000);
	stop_web();
	FILE *f = fopen(web_log, "r");
	CHECK(f != NULL);
	char line[600];
	int http = 0;
	while (f && fgets(line, sizeof line, f))
		http += strstr(line, "http: ") != NULL;
	if (f)
		fclose(f);
	CHECK(http > 0);   /* they are said ... */
	CHECK(http <= 21); /* ... up to the limit, and one line more at most */
}

/* tanfang-web with args (NULL-terminated), its output thrown away: its
 * exit status. */
static int web_exit(const char *const *args)
{
	const char *argv[16] = {getenv("TANFANG_WEB")};
	size_t n = 1;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1), dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A bad listen address is a configuration error, exit 2, whether given on
 * the command line or in the file, and before a missing key is noticed. */
static void test_bad_listen(void)
{
	CHECK_EQ_INT(web_exit((const char *const[]){"run", "--listen", "127.0.0.1:abc", "--key",
	                                            "/nonexistent", NULL}),
	             2);
	write_config("listen = 127.0.0.1:99999\n");
	const char *const *cfg = with_config();
	CHECK_EQ_INT(web_exit((const char *const[]){"run", cfg[0], cfg[1], NULL}), 2);
}

/* One address may hold max_per_address connections at once (slowloris:
 * a client trickling its headers held all of them in an attack test);
 * another address still gets in. */
static void test_per_address(void)
{
	write_config("max_per_address = 4\n");
	start_web(with_config());
	int held[6];
	int n = 0;
	for (int i = 0; i < 6; i++) {
		held[i] = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons((uint16_t)web_port)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK(connect(held[i], (struct sockaddr *)&a, sizeof a) == 0);
		/* Half a request: the headers never end. */
		CHECK(write(held[i], "GET / HTTP/1.1\r\nHost: x\r\n", 26) == 26);
		n++;
	}
	/* The gateway closes what is beyond the limit: reading those ends. */
	int closed = 0;
	for (int i = 0; i < n; i++) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
		setsockopt(held[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char b[64];
		ssize_t got = read(held[i], b, sizeof b);
		closed += got == 0 || (got < 0 && errno == ECONNRESET);
	}
	CHECK_EQ_INT(closed, 2);
	/* From another loopback address, a whole request is answered. */
	int other = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in me = {.sin_family = AF_INET};
	me.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 */
	CHECK(bind(other, (struct sockaddr *)&me, sizeof me) == 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)web_port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(other, (struct sockaddr *)&a, sizeof a) == 0);
	const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	CHECK(write(other, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
	struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
	setsockopt(other, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char b[16] = "";
	CHECK(read(other, b, 12) == 12 && strncmp(b, "HTTP/1.1 200", 12) == 0);
	close(other);
	for (int i = 0; i < n; i++)
		close(held[i]);
	stop_web();
}

/* The demo's one-time enrolment link: off unless configured; with it, the
 * right token enrols the posted key once. */
static void test_demo_link(void)
{
	struct keypair browser;
	CHECK_OK(keys_generate(&browser));
	write_config("");
	start_web(with_config());
	struct http h = request("POST", "/v1/demo-enrol", browser.pk, 32);
	CHECK_EQ_INT(h.status, 404); /* off by default */
	free(h.body);
	stop_web();
	char extra[PATH_MAX + 200];
	snprintf(extra, sizeof extra,
	         "demo_admin_key = %s/admin.key\ndemo_token = 0123456789abcdef0123\n"
	         "demo_visitor = s1\n",
	         d.data);
	write_config(extra);
	start_web(with_config());
	extra_header = "X-Demo-Token: 0123456789abcdef0124";
	h = request("POST", "/v1/demo-enrol", browser.pk, 32);
	CHECK_EQ_INT(h.status, 403);
	free(h.body);
	extra_header = "X-Demo-Token: 0123456789abcdef0123";
	h = request("POST", "/v1/demo-enrol", browser.pk, 32);
	CHECK_EQ_INT(h.status, 200);
	tf_reply *rep;
	CHECK_OK(wire_unpack(WIRE_REPLY, (const uint8_t *)h.body, h.len, (void **)&rep));
	CHECK_STATUS(rep->status, OK);
	wire_free(WIRE_REPLY, rep);
	free(h.body);
	h = request("POST", "/v1/demo-enrol", browser.pk, 32);
	CHECK_EQ_INT(h.status, 410);
	free(h.body);
	extra_header = NULL;
	/* The enrolled browser key now answers for s1. */
	int st;
	CHECK_EQ_INT(post_query(&browser, &st), 200);
	CHECK_EQ_INT(st, ST(OK));
	stop_web();
}

/* HTTPS from a certificate and key in the config. */
static void test_https(void)
{
	char cert[PATH_MAX + 32], key[PATH_MAX + 32], out[2048];
	snprintf(cert, sizeof cert, "%s/cert.pem", d.dir);
	snprintf(key, sizeof key, "%s/key.pem", d.dir);
	const char *openssl[] = {"/usr/bin/openssl",
	                         "req",
	                         "-x509",
	                         "-newkey",
	                         "rsa:2048",
	                         "-nodes",
	                         "-keyout",
	                         key,
	                         "-out",
	                         cert,
	                         "-days",
	                         "2",
	                         "-subj",
	                         "/CN=127.0.0.1",
	                         NULL};
	CHECK_EQ_INT(tft_run(openssl, out, sizeof out, 60), 0);
	char extra[2 * PATH_MAX + 200];
	snprintf(extra, sizeof extra, "tls_cert = %s\ntls_key = %s\n", cert, key);
	write_config(extra);
	start_web(with_config());
	https = true;
	struct http h = request("GET", "/", NULL, 0);
	CHECK_EQ_INT(h.status, 200);
	CHECK(has_header(&h, "Strict-Transport-Security"));
	free(h.body);
	https = false;
	stop_web();
	/* A certificate without its key is refused at start. */
	snprintf(extra, sizeof extra, "tls_cert = %s\n", cert);
	write_config(extra);
	char curve[PATH_MAX + 32];
	snprintf(curve, sizeof curve, "%s/curve.pub", d.data);
	const char *run[] = {getenv("TANFANG_WEB"), "run",   "--config",
	                     with_config()[1],      "--key", web_key,
	                     "--server-key-file",   curve,   NULL};
	CHECK_EQ_INT(tft_run(run, out, sizeof out, 10), 1);
	CHECK(strstr(out, "both tls_cert and tls_key") != NULL);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	setup();
	uint8_t gpk[32];
	make_gateway_key(gpk);
	struct keypair super = enrol_key("s1");
	write_config("");
	/* Not enrolled yet: the daemon refuses the gateway's key, 502. */
	start_web(with_config());
	int st;
	CHECK_EQ_INT(post_query(&super, &st), 502);
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_enrol(admin, gpk, "web");
	rpc_close(admin);
	test_forwarding(&super);
	test_files();
	test_parse_import();
	test_daemon_trouble(&super);
	stop_web();
	test_rate(&super);
	test_per_address();
	test_bad_listen();
	test_log_flood();
	test_inflight(&super);
	test_https();
	test_demo_link();
	/* A bad configuration is refused, naming file and line. */
	write_config("max_body = lots\n");
	char out[512];
	const char *bad[] = {getenv("TANFANG_WEB"), "run", "--config", with_config()[1], NULL};
	CHECK_EQ_INT(tft_run(bad, out, sizeof out, 10), 2);
	CHECK(strstr(out, "web.conf:5: max_body") != NULL);
	curl_global_cleanup();
	tft_daemon_stop(&d);
	return tft_done();
}
