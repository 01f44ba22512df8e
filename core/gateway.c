#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "csvimport.h"
#include "inifile.h"
#include "log.h"
#include "rpc.h"
#include "wire.h"

/* ---- configuration ---- */

void gw_config_defaults(struct gw_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
	snprintf(c->root, sizeof c->root, "/usr/share/tanfang/web");
	snprintf(c->endpoint, sizeof c->endpoint, "tcp://127.0.0.1:7480");
	snprintf(c->server_key_file, sizeof c->server_key_file, "/etc/tanfang/curve.pub");
	snprintf(c->key_file, sizeof c->key_file, "/etc/tanfang/tanfang-web.key");
	c->max_body = 1048576;
	c->max_inflight = 64;
	c->max_connections = 256;
	c->rate_per_minute = 600;
	c->rate_burst = 60;
	c->timeout_ms = 30000;
	c->connect_ms = 3000;
}

static bool parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
                       unsigned long long *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int set_path(char *dst, size_t size, const char *key, const char *value, char *err,
                    size_t errlen)
{
	if (strlen(value) >= size) {
		snprintf(err, errlen, "%s: path too long", key);
		return TF_E_INVALID;
	}
	snprintf(dst, size, "%s", value);
	return 0;
}

static int parse_listen(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* libmicrohttpd's own messages (a client that hung up mid-request, a
 * malformed request line): at most HTTP_LOG_PER_MIN a minute, then one
 * line saying how many were left out, so that anyone on the network cannot
 * flood the journal (found by an attack test: one line per dropped
 * connection). */
#define HTTP_LOG_PER_MIN 20
static void http_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t window;
	static unsigned said, dropped;
	int64_t minute = clock_mono_ms() / 60000;
	pthread_mutex_lock(&lock);
	if (minute != window) {
		if (dropped)
			log_warnx("http: %u more messages of libmicrohttpd left out", dropped);
		window = minute, said = dropped = 0;
	}
	bool say = said < HTTP_LOG_PER_MIN;
	said += say;
	dropped += !say;
	pthread_mutex_unlock(&lock);
	if (!say)
		return;
	char line[300];
	vsnprintf(line, sizeof line, fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warnx("http: %s", line);
}

int gw_config_set(struct gw_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	/* Checked here, so a bad address is a configuration error (exit 2)
	 * found before anything else, not a failure to start. */
	struct sockaddr_storage sa;
	socklen_t sl;
	if (strcmp(key, "listen") == 0 && parse_listen(value, &sa, &sl) < 0) {
		snprintf(err, errlen,
		         "listen: expected HOST:PORT or [V6]:PORT, an address and a port up to "
		         "65535, got '%s'",
		         value);
		return TF_E_INVALID;
	}
	static const struct {
		const char *key;
		size_t off, size;
	} paths[] = {
	    {"listen", offsetof(struct gw_config, listen), sizeof c->listen},
	    {"root", offsetof(struct gw_config, root), sizeof c->root},
	    {"endpoint", offsetof(struct gw_config, endpoint), sizeof c->endpoint},
	    {"server_key_file", offsetof(struct gw_config, server_key_file),
	     sizeof c->server_key_file},
	    {"key", offsetof(struct gw_config, key_file), sizeof c->key_file},
	    {"tls_cert", offsetof(struct gw_config, tls_cert), sizeof c->tls_cert},
	    {"tls_key", offsetof(struct gw_config, tls_key), sizeof c->tls_key},
	    {"demo_admin_key", offsetof(struct gw_config, demo_admin_key),
	     sizeof c->demo_admin_key},
	    {"demo_token", offsetof(struct gw_config, demo_token), sizeof c->demo_token},
	    {"demo_visitor", offsetof(struct gw_config, demo_visitor), sizeof c->demo_visitor},
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (strcmp(key, paths[i].key) == 0)
			return set_path((char *)c + paths[i].off, paths[i].size, key, value, err,
			                errlen);
	static const struct {
		const char *key;
		unsigned long long lo, hi;
	} nums[] = {
	    {"max_body", 1024, 268435456}, {"max_inflight", 1, 4096},
	    {"max_connections", 1, 65536}, {"rate_per_minute", 1, 1000000},
	    {"rate_burst", 1, 1000000},    {"timeout_ms", 100, 3600000},
	    {"connect_ms", 100, 600000},   {"max_per_address", 1, 65536},
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		if (strcmp(key, nums[i].key) != 0)
			continue;
		unsigned long long v;
		if (!parse_uint(value, nums[i].lo, nums[i].hi, &v)) {
			snprintf(err, errlen, "%s: expected a number from %llu to %llu, got '%s'",
			         key, nums[i].lo, nums[i].hi, value);
			return TF_E_INVALID;
		}
		switch (i) {
		case 0: c->max_body = (size_t)v; break;
		case 1: c->max_inflight = (unsigned)v; break;
		case 2: c->max_connections = (unsigned)v; break;
		case 3: c->rate_per_minute = (unsigned)v; break;
		case 4: c->rate_burst = (unsigned)v; break;
		case 5: c->timeout_ms = (int)v; break;
		case 6: c->connect_ms = (int)v; break;
		default: c->max_per_address = (unsigned)v; break;
		}
		return 0;
	}
	if (strcmp(key, "behind_proxy") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "behind_proxy: expected yes or no, got '%s'", value);
			return TF_E_INVALID;
		}
		c->behind_proxy = strcmp(value, "yes") == 0;
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s'", key);
	return TF_E_INVALID;
}

static int set_entry(void *ctx, const char *section, const char *key, const char *value, char *why,
                     size_t whylen)
{
	if (strcmp(section, "web") != 0) {
		snprintf(why, whylen, "unknown section [%s] (only [web])", section);
		return TF_E_INVALID;
	}
	return gw_config_set(ctx, key, value, why, whylen);
}

int gw_config_load(const char *path, struct gw_config *c, char *err, size_t errlen)
{
	int r = inifile_parse(path, set_entry, c, err, errlen);
	return r == 0 || r == -ENOENT || r == -ENOMEM ? r : TF_E_INVALID;
}

/* ---- the forwarding pool ---- */

/* One connection to the daemon per request in flight: a connection that
 * timed out may still receive a late reply, so it is closed and made anew. */
struct slot {
	struct rpc *rpc;
	bool busy;
};

/* Per-address token buckets in a fixed table: addresses that share a
 * bucket share a budget, and memory never grows with the number of
 * clients. */
#define RATE_BUCKETS 65536
struct bucket {
	double tokens;
	int64_t at_ms;
};

struct gw {
	struct gw_config cfg;
	struct MHD_Daemon *mhd;
	struct keypair key;
	char server_key[41];
	pthread_mutex_t lock; /* slots and buckets */
	pthread_cond_t freed; /* a slot came free */
	struct slot *slots;
	struct bucket *buckets; /* RATE_BUCKETS, by a keyed hash of the address */
	uint8_t rate_key[crypto_shorthash_KEYBYTES];
	unsigned *held;       /* connections per client slot (accept_ok) */
	unsigned per_address; /* the most a client may hold; 0: no limit */
	char *cert, *tls_key;
	struct keypair demo_admin; /* the demo's enrolment link only */
	atomic_bool demo_used;
	atomic_int reading; /* office files being read now (PARSE_AT_ONCE) */
};

/* Office files read at once: reading one may take tens of megabytes and a
 * core for a second, and anyone may send one (the page reads the file
 * before anything is signed), so a burst of them must not exhaust the
 * host (an attack test sent zip bombs four at a time). */
#define PARSE_AT_ONCE 2

static void give_slot(struct gw *g, struct slot *s, bool healthy)
{
	if (!healthy) {
		rpc_close(s->rpc);
		s->rpc = NULL;
	}
	pthread_mutex_lock(&g->lock);
	s->busy = false;
	pthread_cond_signal(&g->freed);
	pthread_mutex_unlock(&g->lock);
}

/* A request beyond max_inflight waits this long for a connection to come
 * free (a burst of offices opening the dashboard at nine), then gets 429. */
#define QUEUE_WAIT_MS 3000

static int take_slot(struct gw *g, struct slot **out)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += QUEUE_WAIT_MS / 1000;
	pthread_mutex_lock(&g->lock);
	struct slot *s = NULL;
	for (;;) {
		for (unsigned i = 0; i < g->cfg.max_inflight && !s; i++)
			if (!g->slots[i].busy)
				s = &g->slots[i];
		if (s || pthread_cond_timedwait(&g->freed, &g->lock, &until) == ETIMEDOUT)
			break;
	}
	if (s)
		s->busy = true;
	pthread_mutex_unlock(&g->lock);
	if (!s)
		return -EBUSY;
	if (!s->rpc) {
		int r = rpc_open(g->cfg.endpoint, *g->server_key ? g->server_key : NULL, &g->key,
		                 &s->rpc);
		if (r < 0) {
			give_slot(g, s, true);
			return r;
		}
	}
	*out = s;
	return 0;
}

/* A client, as the limits count it: an IPv4 address; an IPv6 /64 (one
 * host is given a whole /64 and may take any address in it: an attack
 * test used that to multiply its budget); an IPv4 address written as IPv6
 * (::ffff:a.b.c.d) is that IPv4 address. Hashed with a secret of this run,
 * so nobody can pick an address that counts as an office's. */
static uint64_t client_hash(const struct gw *g, const uint8_t *p, size_t n)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (n == 16 && memcmp(p, v4mapped, 12) == 0)
		p += 12, n = 4;
	else if (n == 16)
		n = 8;
	uint8_t hb[crypto_shorthash_BYTES];
	crypto_shorthash(hb, p, n, g->rate_key);
	uint64_t h;
	memcpy(&h, hb, sizeof h);
	return h;
}

static uint64_t client_of(const struct gw *g, const struct sockaddr *addr)
{
	if (addr && addr->sa_family == AF_INET)
		return client_hash(
		    g, (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr, 4);
	if (addr && addr->sa_family == AF_INET6)
		return client_hash(
		    g, (const uint8_t *)&((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
	return client_hash(g, (const uint8_t *)"", 0);
}

/* Connections held by each client (client_of), by HELD_SLOTS counters:
 * libmicrohttpd's own per-address limit takes every IPv6 address for a
 * client of its own, so a /64 could hold them all. */
#define HELD_SLOTS 4096

static enum MHD_Result accept_ok(void *cls, const struct sockaddr *addr, socklen_t len)
{
	(void)len;
	struct gw *g = cls;
	if (!g->per_address)
		return MHD_YES;
	size_t slot = client_of(g, addr) % HELD_SLOTS;
	pthread_mutex_lock(&g->lock);
	bool ok = g->held[slot] < g->per_address;
	pthread_mutex_unlock(&g->lock);
	return ok ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	(void)socket_context;
	struct gw *g = cls;
	if (!g->per_address)
		return;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	size_t slot = client_of(g, ci ? ci->client_addr : NULL) % HELD_SLOTS;
	pthread_mutex_lock(&g->lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		g->held[slot]++;
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && g->held[slot])
		g->held[slot]--;
	pthread_mutex_unlock(&g->lock);
}

static bool loopback(const struct sockaddr *a)
{
	if (a && a->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	return a && a->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

/* Does the client have a token left? The client is its address; behind a
 * proxy on this machine (behind_proxy), the address the proxy names in
 * X-Real-IP, else every office would share the proxy's one budget. */
static bool rate_ok(struct gw *g, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *addr = ci ? ci->client_addr : NULL;
	uint8_t real[16];
	const uint8_t *p = NULL;
	size_t n = 0;
	const char *xr = g->cfg.behind_proxy && loopback(addr)
	                     ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP")
	                     : NULL;
	if (xr && inet_pton(AF_INET, xr, real) == 1)
		p = real, n = 4;
	else if (xr && inet_pton(AF_INET6, xr, real) == 1)
		p = real, n = 16;
	uint64_t h = p ? client_hash(g, p, n) : client_of(g, addr);
	int64_t now = clock_mono_ms();
	pthread_mutex_lock(&g->lock);
	struct bucket *b = &g->buckets[h % RATE_BUCKETS];
	double cap = g->cfg.rate_burst;
	if (b->at_ms == 0)
		b->tokens = cap;
	else
		b->tokens += (double)(now - b->at_ms) * g->cfg.rate_per_minute / 60000.0;
	if (b->tokens > cap)
		b->tokens = cap;
	b->at_ms = now;
	bool ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&g->lock);
	return ok;
}

/* ---- responses ---- */

/* The app's policy: its own scripts and styles only (no inline script),
 * no framing, nothing fetched from elsewhere. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
                          "worker-src 'self'; manifest-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static enum MHD_Result send_response(struct gw *g, struct MHD_Connection *c, unsigned status,
                                     struct MHD_Response *rsp, const char *type)
{
	if (!rsp)
		return MHD_NO;
	MHD_add_response_header(rsp, "Content-Security-Policy", csp);
	MHD_add_response_header(rsp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(rsp, "X-Frame-Options", "DENY");
	MHD_add_response_header(rsp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(rsp, "Cross-Origin-Opener-Policy", "same-origin");
	if (*g->cfg.tls_cert)
		MHD_add_response_header(rsp, "Strict-Transport-Security", "max-age=31536000");
	if (type)
		MHD_add_response_header(rsp, "Content-Type", type);
	enum MHD_Result r = MHD_queue_response(c, status, rsp);
	MHD_destroy_response(rsp);
	return r;
}

/* A short plain-text answer (every refusal says why). */
static enum MHD_Result send_text(struct gw *g, struct MHD_Connection *c, unsigned status,
                                 const char *text)
{
	struct MHD_Response *rsp =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	if (rsp)
		MHD_add_response_header(rsp, "Cache-Control", "no-store");
	return send_response(g, c, status, rsp, "text/plain; charset=utf-8");
}

/* ---- static files ---- */

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".webmanifest", "application/manifest+json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".proto", "text/plain; charset=utf-8"},
	    {".wasm", "application/wasm"},
	    {".map", "application/json"},
	};
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* Only plain paths under the root: no "..", no hidden files, no
 * backslashes or control bytes. */
static bool path_safe(const char *url)
{
	if (url[0] != '/' || strlen(url) > 512)
		return false;
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == '\\' || *p == 0x7f)
			return false;
		if (p[0] == '/' && p[1] == '.')
			return false; /* "..", ".hidden", "/./" */
		if (p[0] == '/' && p[1] == '/')
			return false;
	}
	return true;
}

static enum MHD_Result serve_file(struct gw *g, struct MHD_Connection *c, const char *url)
{
	if (!path_safe(url))
		return send_text(g, c, MHD_HTTP_NOT_FOUND, "not found\n");
	/* The app routes its own pages: a path without an extension is the
	 * app. */
	const char *last = strrchr(url, '/');
	bool page = strcmp(url, "/") == 0 || !strchr(last, '.');
	char path[PATH_MAX + 600];
	snprintf(path, sizeof path, "%s%s", g->cfg.root, page ? "/index.html" : url);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return send_text(g, c, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	struct MHD_Response *rsp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!rsp) {
		close(fd);
		return MHD_NO;
	}
	/* The app's files change with a release: revalidate each time (the
	 * service worker keeps the offline copy). */
	MHD_add_response_header(rsp, "Cache-Control", "no-cache");
	return send_response(g, c, MHD_HTTP_OK, rsp, content_type(path));
}

/* ---- the envelope endpoint ---- */

struct upload {
	uint8_t *buf;
	size_t len;
	bool too_big, counted;
};

/* Adds one piece of a request body (libmicrohttpd hands it over in calls)
 * to u, up to limit bytes in all; past that the body is marked too big and
 * the rest dropped, so a huge upload costs no memory. */
static enum MHD_Result upload_add(struct upload *u, const char *data, size_t *size, size_t limit)
{
	if (!u->too_big && u->len + *size <= limit) {
		uint8_t *b = realloc(u->buf, u->len + *size);
		if (!b)
			return MHD_NO;
		memcpy(b + u->len, data, *size);
		u->buf = b, u->len += *size;
	} else {
		u->too_big = true;
	}
	*size = 0;
	return MHD_YES;
}

static enum MHD_Result forward(struct gw *g, struct MHD_Connection *c, struct upload *u)
{
	struct slot *s;
	int r = take_slot(g, &s);
	if (r == -EBUSY)
		return send_text(g, c, MHD_HTTP_TOO_MANY_REQUESTS,
		                 "too many requests at once; retry in a moment\n");
	if (r < 0)
		return send_text(g, c, MHD_HTTP_BAD_GATEWAY, "cannot reach tanfangd\n");
	/* A connection that has never come up within connect_ms means the
	 * daemon is down: 502 at once, not after the whole timeout. */
	int64_t deadline = clock_mono_ms() + g->cfg.connect_ms;
	while (!rpc_up(s->rpc) && clock_mono_ms() < deadline)
		usleep(5000);
	if (!rpc_up(s->rpc)) {
		give_slot(g, s, false);
		return send_text(g, c, MHD_HTTP_BAD_GATEWAY,
		                 "tanfangd is not answering (down, or it refused this gateway's "
		                 "key)\n");
	}
	tf_reply *rep;
	r = rpc_call_sealed(s->rpc, u->buf, u->len, g->cfg.timeout_ms, &rep);
	if (r == TF_E_TIMEOUT) {
		bool up = rpc_up(s->rpc);
		give_slot(g, s, false);
		return up ? send_text(g, c, MHD_HTTP_GATEWAY_TIMEOUT,
		                      "tanfangd did not answer in time; retry later\n")
		          : send_text(g, c, MHD_HTTP_BAD_GATEWAY, "tanfangd went away\n");
	}
	if (r < 0) {
		give_slot(g, s, false);
		return send_text(g, c, MHD_HTTP_BAD_GATEWAY, "the connection to tanfangd failed\n");
	}
	give_slot(g, s, true);
	/* The gateway's key itself refused: the gateway, not the browser, is
	 * misconfigured. */
	uint8_t *out;
	size_t len;
	r = wire_pack(WIRE_REPLY, rep, &out, &len);
	wire_free(WIRE_REPLY, rep);
	if (r < 0)
		return send_text(g, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	struct MHD_Response *rsp = MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
	if (!rsp) {
		free(out);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, "Cache-Control", "no-store");
	return send_response(g, c, MHD_HTTP_OK, rsp, "application/x-protobuf");
}

static enum MHD_Result envelope_endpoint(struct gw *g, struct MHD_Connection *c, const char *data,
                                         size_t *size, void **state)
{
	struct upload *u = *state;
	if (!u) {
		/* First call: headers only. Refuse early what can be refused. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > g->cfg.max_body)
			return send_text(g, c, MHD_HTTP_CONTENT_TOO_LARGE,
			                 "envelope larger than the daemon accepts\n");
		if (!rate_ok(g, c))
			return send_text(g, c, MHD_HTTP_TOO_MANY_REQUESTS,
			                 "too many requests from this address; slow down\n");
		u = calloc(1, sizeof *u);
		if (!u)
			return MHD_NO;
		*state = u;
		return MHD_YES;
	}
	if (*size)
		return upload_add(u, data, size, g->cfg.max_body);
	if (u->too_big)
		return send_text(g, c, MHD_HTTP_CONTENT_TOO_LARGE,
		                 "envelope larger than the daemon accepts\n");
	return forward(g, c, u);
}

/* The demo's one-time enrolment link (demo_token): the body is the
 * browser's 32-byte public key; the gateway signs EnrolKey for demo_visitor
 * with the demo's admin key and forwards it. The token works once. */
static enum MHD_Result demo_enrol(struct gw *g, struct MHD_Connection *c, const char *data,
                                  size_t *size, void **state)
{
	if (!*g->cfg.demo_admin_key)
		return send_text(g, c, MHD_HTTP_NOT_FOUND, "no such endpoint\n");
	struct upload *u = *state;
	if (!u) {
		u = calloc(1, sizeof *u);
		if (!u)
			return MHD_NO;
		*state = u;
		return MHD_YES;
	}
	if (*size)
		return upload_add(u, data, size, 32);
	const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Demo-Token");
	size_t tl = strlen(g->cfg.demo_token);
	if (!tok || strlen(tok) != tl || sodium_memcmp(tok, g->cfg.demo_token, tl) != 0)
		return send_text(g, c, MHD_HTTP_FORBIDDEN, "not the demo's enrolment link\n");
	if (u->too_big || u->len != 32)
		return send_text(g, c, MHD_HTTP_BAD_REQUEST, "expected a 32-byte public key\n");
	if (atomic_exchange(&g->demo_used, true))
		return send_text(g, c, MHD_HTTP_GONE,
		                 "the demo's enrolment link was used already\n");
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = u->buf, ek.public_key.len = 32;
	ek.visitor_id = g->cfg.demo_visitor;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY, req.enrol_key = &ek;
	uint8_t *frame;
	size_t len;
	if (rpc_seal(&g->demo_admin, &req, &frame, &len) < 0) {
		atomic_store(&g->demo_used, false);
		return send_text(g, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	free(u->buf);
	u->buf = frame, u->len = len;
	enum MHD_Result r = forward(g, c, u);
	return r;
}

/* The import page's request (issue 11, items 1 and 3): the file as it is
 * (any format core/sheet.c reads), or JSON {"file": "<base64>", "kind":
 * "elders"|"visitors", "map": "...", "role": "...", "areas": [[code, name,
 * parent], ...], "visitors": [[id, name, role, area], ...], "elders": [[id,
 * name, area, id_card, birth_date], ...]}: the registry of the signer's
 * scope as the browser fetched it (signed GetRegistry), so the file may
 * name villages, visitors and elders. Strings are borrowed from root. */
struct import_req {
	json_t *root;
	uint8_t *file;
	size_t len;
	bool visitors;
	const char *map;
	int role;
	struct csvimport_dir dir;
	tf_area *areas;
	tf_visitor *vis;
	tf_elder *elders;
};

static void import_req_free(struct import_req *q)
{
	json_decref(q->root);
	free(q->file);
	free(q->dir.areas);
	free(q->dir.visitors);
	free(q->dir.elders);
	free(q->areas);
	free(q->vis);
	free(q->elders);
}

static const char *jstr(json_t *row, size_t i)
{
	const char *s = json_string_value(json_array_get(row, i));
	return s ? s : "";
}

/* Returns 0, -EINVAL (not the JSON above) or -ENOMEM. */
static int import_req_json(struct import_req *q, const uint8_t *body, size_t len)
{
	q->root = json_loadb((const char *)body, len, 0, NULL);
	if (!json_is_object(q->root))
		return -EINVAL;
	const char *b64 = json_string_value(json_object_get(q->root, "file"));
	const char *kind = json_string_value(json_object_get(q->root, "kind"));
	const char *role = json_string_value(json_object_get(q->root, "role"));
	q->map = json_string_value(json_object_get(q->root, "map"));
	q->visitors = kind && strcmp(kind, "visitors") == 0;
	if (role && *role && (q->role = csvimport_role_value(role)) <= 0)
		return -EINVAL;
	if (!b64)
		return -EINVAL;
	size_t bl = strlen(b64);
	if (!(q->file = malloc(bl / 4 * 3 + 4)))
		return -ENOMEM;
	if (sodium_base642bin(q->file, bl / 4 * 3 + 4, b64, bl, "\r\n", &q->len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EINVAL;
	json_t *a = json_object_get(q->root, "areas"), *v = json_object_get(q->root, "visitors"),
	       *e = json_object_get(q->root, "elders");
	size_t na = json_array_size(a), nv = json_array_size(v), ne = json_array_size(e);
	q->areas = calloc(na + 1, sizeof *q->areas);
	q->vis = calloc(nv + 1, sizeof *q->vis);
	q->elders = calloc(ne + 1, sizeof *q->elders);
	q->dir.areas = calloc(na + 1, sizeof *q->dir.areas);
	q->dir.visitors = calloc(nv + 1, sizeof *q->dir.visitors);
	q->dir.elders = calloc(ne + 1, sizeof *q->dir.elders);
	if (!q->areas || !q->vis || !q->elders || !q->dir.areas || !q->dir.visitors ||
	    !q->dir.elders)
		return -ENOMEM;
	for (size_t i = 0; i < na; i++) {
		json_t *r = json_array_get(a, i);
		tf_area *x = &q->areas[i];
		wire_init(WIRE_AREA, x);
		x->code = (char *)jstr(r, 0), x->name = (char *)jstr(r, 1);
		x->parent = (char *)jstr(r, 2);
		q->dir.areas[q->dir.n_areas++] = x;
	}
	for (size_t i = 0; i < nv; i++) {
		json_t *r = json_array_get(v, i);
		tf_visitor *x = &q->vis[i];
		wire_init(WIRE_VISITOR, x);
		x->id = (char *)jstr(r, 0), x->name = (char *)jstr(r, 1);
		x->role = (Tanfang__V1__Role)json_integer_value(json_array_get(r, 2));
		x->area = (char *)jstr(r, 3);
		q->dir.visitors[q->dir.n_visitors++] = x;
	}
	for (size_t i = 0; i < ne; i++) {
		json_t *r = json_array_get(e, i);
		tf_elder *x = &q->elders[i];
		wire_init(WIRE_ELDER, x);
		x->id = (char *)jstr(r, 0), x->name = (char *)jstr(r, 1);
		x->area = (char *)jstr(r, 2), x->id_card = (char *)jstr(r, 3);
		x->birth_date = (char *)jstr(r, 4);
		q->dir.elders[q->dir.n_elders++] = x;
	}
	return 0;
}

/* The office's elder or visitor file, read by the same code as
 * tanfang-admin import (core/csvimport.c), so a file means the same in the
 * browser and on the command line. The gateway signs nothing: it answers
 * JSON {"errors": [...], "warnings": [...], "rows": N, "format": "xlsx",
 * "kind": "elders", "request": "<ImportElders or ImportVisitors, base64>",
 * "elders": (the same, for elders), "items": [[row, line], ...], "columns":
 * {field: header}} (items: the file's row and line of each elder or visitor,
 * columns: the file's header of each field a problem names, so the page can
 * place the daemon's problems), and the browser signs the import (first with
 * check_only). */
static enum MHD_Result parse_elders(struct gw *g, struct MHD_Connection *c, const char *data,
                                    size_t *size, void **state)
{
	struct upload *u = *state;
	if (!u) {
		if (!rate_ok(g, c))
			return send_text(g, c, MHD_HTTP_TOO_MANY_REQUESTS,
			                 "too many requests from this address; slow down\n");
		u = calloc(1, sizeof *u);
		if (!u)
			return MHD_NO;
		*state = u;
		return MHD_YES;
	}
	if (*size)
		return upload_add(u, data, size, g->cfg.max_body);
	if (u->too_big)
		return send_text(g, c, MHD_HTTP_CONTENT_TOO_LARGE,
		                 "file larger than one import can carry (max_body); split it\n");
	struct import_req q = {0};
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *kind = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
	int r = 0;
	if (ct && strncmp(ct, "application/json", 16) == 0) {
		r = import_req_json(&q, u->buf, u->len);
	} else {
		q.visitors = kind && strcmp(kind, "visitors") == 0;
		q.map = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "map");
	}
	if (r == -EINVAL) {
		import_req_free(&q);
		return send_text(g, c, MHD_HTTP_BAD_REQUEST,
		                 "expected the file, or JSON {\"file\": base64, ...}\n");
	}
	struct csvimport *ci = NULL;
	struct csvimport_opts io = {
	    .map = q.map, .dir = q.root ? &q.dir : NULL, .default_role = q.role};
	const char *fb = q.root ? (const char *)q.file : (const char *)u->buf;
	size_t fl = q.root ? q.len : u->len;
	if (r == 0 && atomic_fetch_add(&g->reading, 1) >= PARSE_AT_ONCE) {
		atomic_fetch_sub(&g->reading, 1);
		import_req_free(&q);
		return send_text(g, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                 "other files are being read; try again in a moment\n");
	}
	if (r == 0) {
		r = q.visitors ? csvimport_visitors_parse(fb ? fb : "", fl, &io, &ci)
		               : csvimport_parse_opts(fb ? fb : "", fl, &io, &ci);
		atomic_fetch_sub(&g->reading, 1);
	}
	if (r < 0) {
		import_req_free(&q);
		return send_text(g, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the file\n");
	}
	json_t *o = json_object(), *errs = json_array(), *warns = json_array(),
	       *items = json_array();
	for (size_t i = 0; i < ci->n_errors; i++)
		json_array_append_new(errs, json_string(ci->errors[i]));
	for (size_t i = 0; i < ci->n_warnings; i++)
		json_array_append_new(warns, json_string(ci->warnings[i]));
	size_t n = q.visitors ? ci->n_visitors : ci->n_elders;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    items, json_pack("[II]", (json_int_t)ci->rows[i], (json_int_t)ci->lines[i]));
	json_object_set_new(o, "errors", errs);
	json_object_set_new(o, "warnings", warns);
	json_object_set_new(o, "items", items);
	/* The file's header of each field a daemon's problem may name, so the
	 * page can say row and column as tanfang-admin does. */
	static const char *const fields[] = {"id_card", "name",    "elder", "neighbour",
	                                     "id",      "visitor", "area",  "birth"};
	json_t *cols = json_object();
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		json_object_set_new(cols, fields[i],
		                    json_string(csvimport_field_header(ci, fields[i])));
	json_object_set_new(o, "columns", cols);
	json_object_set_new(o, "rows", json_integer((json_int_t)ci->n_rows));
	json_object_set_new(o, "format", json_string(ci->format ? ci->format : ""));
	json_object_set_new(o, "kind", json_string(q.visitors ? "visitors" : "elders"));
	if (!ci->n_errors) {
		Tanfang__V1__ImportElders im;
		Tanfang__V1__ImportVisitors iv;
		wire_init(WIRE_IMPORT_ELDERS, &im);
		wire_init(WIRE_IMPORT_VISITORS, &iv);
		im.elders = ci->elders, im.n_elders = ci->n_elders;
		iv.visitors = ci->visitors, iv.n_visitors = ci->n_visitors;
		iv.assignments = ci->assignments, iv.n_assignments = ci->n_assignments;
		uint8_t *buf = NULL;
		size_t len = 0;
		char *b64 = NULL;
		if ((q.visitors ? wire_pack(WIRE_IMPORT_VISITORS, &iv, &buf, &len)
		                : wire_pack(WIRE_IMPORT_ELDERS, &im, &buf, &len)) == 0) {
			size_t bl = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
			if ((b64 = malloc(bl)) != NULL) {
				sodium_bin2base64(b64, bl, buf, len,
				                  sodium_base64_VARIANT_ORIGINAL);
				json_object_set_new(o, "request", json_string(b64));
				if (!q.visitors)
					json_object_set_new(o, "elders", json_string(b64));
			}
		}
		free(buf);
		free(b64);
	}
	csvimport_free(ci);
	import_req_free(&q);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return send_text(g, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	struct MHD_Response *rsp =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!rsp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, "Cache-Control", "no-store");
	return send_response(g, c, MHD_HTTP_OK, rsp, "application/json");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **state)
{
	(void)version;
	struct gw *g = cls;
	if (strcmp(url, "/v1/envelope") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return send_text(g, c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n");
		return envelope_endpoint(g, c, upload_data, upload_data_size, state);
	}
	if (strcmp(url, "/v1/parse-elders") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return send_text(g, c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n");
		return parse_elders(g, c, upload_data, upload_data_size, state);
	}
	if (strcmp(url, "/v1/demo-enrol") == 0 && strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return demo_enrol(g, c, upload_data, upload_data_size, state);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(g, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strncmp(url, "/v1/", 4) == 0)
		return send_text(g, c, MHD_HTTP_NOT_FOUND, "no such endpoint\n");
	return serve_file(g, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)c, (void)why;
	struct upload *u = *state;
	if (u) {
		free(u->buf);
		free(u);
		*state = NULL;
	}
}

/* ---- start and stop ---- */

static int parse_listen(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	size_t hl = (size_t)(colon - s);
	if (hl >= sizeof host)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	unsigned long long port;
	if (!parse_uint(colon + 1, 0, 65535, &port))
		return -EINVAL;
	memset(out, 0, sizeof *out);
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof *a;
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)out;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	*len = sizeof *a;
	return 0;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *p = realloc(buf, cap);
			if (!p || cap > (1u << 20)) {
				free(p ? p : buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got < 4096)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int read_server_key(const char *path, char out[41], char *err, size_t errlen)
{
	char *t = read_text(path);
	if (!t) {
		snprintf(err, errlen, "cannot read the daemon's CURVE key %s: %s", path,
		         strerror(errno));
		return -ENOENT;
	}
	size_t n = strcspn(t, " \r\n");
	int r = n == 40 ? 0 : TF_E_INVALID;
	if (r == 0)
		memcpy(out, t, 41), out[40] = '\0';
	else
		snprintf(err, errlen, "%s does not hold a 40-character Z85 key", path);
	free(t);
	return r;
}

void gw_stop(struct gw *g)
{
	if (!g)
		return;
	if (g->mhd)
		MHD_stop_daemon(g->mhd);
	for (unsigned i = 0; g->slots && i < g->cfg.max_inflight; i++)
		rpc_close(g->slots[i].rpc);
	free(g->slots);
	free(g->buckets);
	free(g->held);
	free(g->cert);
	if (g->tls_key) {
		explicit_bzero(g->tls_key, strlen(g->tls_key));
		free(g->tls_key);
	}
	explicit_bzero(&g->key, sizeof g->key);
	explicit_bzero(&g->demo_admin, sizeof g->demo_admin);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->freed);
	free(g);
}

int gw_start(const struct gw_config *c, struct gw **out, char *err, size_t errlen)
{
	*out = NULL;
	struct gw *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->cfg = *c;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->freed, NULL);
	int r = -ENOMEM;
	g->slots = calloc(c->max_inflight, sizeof *g->slots);
	g->buckets = calloc(RATE_BUCKETS, sizeof *g->buckets);
	g->held = calloc(HELD_SLOTS, sizeof *g->held);
	if (!g->slots || !g->buckets || !g->held)
		goto fail;
	randombytes_buf(g->rate_key, sizeof g->rate_key);
	if ((r = keys_load(c->key_file, &g->key)) < 0) {
		snprintf(err, errlen,
		         "cannot read the gateway's key %s: %s (make one: tanfang-web "
		         "keygen --key FILE, then enrol it)",
		         c->key_file, tf_strerror(r));
		goto fail;
	}
	if (*c->demo_admin_key) {
		if ((r = keys_load(c->demo_admin_key, &g->demo_admin)) < 0 ||
		    strlen(c->demo_token) < 16 || !*c->demo_visitor) {
			snprintf(err, errlen,
			         "the demo's enrolment link needs demo_admin_key (readable), "
			         "demo_token (16 characters or more) and demo_visitor");
			r = r < 0 ? r : TF_E_INVALID;
			goto fail;
		}
		log_warnx("demo enrolment link on: this gateway holds an admin key (demo only)");
	}
	if (*c->server_key_file &&
	    (r = read_server_key(c->server_key_file, g->server_key, err, errlen)) < 0)
		goto fail;
	struct sockaddr_storage addr;
	socklen_t alen;
	if (parse_listen(c->listen, &addr, &alen) < 0) {
		snprintf(err, errlen, "listen: expected HOST:PORT or [V6]:PORT, got '%s'",
		         c->listen);
		r = TF_E_INVALID;
		goto fail;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_ERROR_LOG |
	                 MHD_USE_AUTO; /* poll, not select: no FD_SETSIZE limit on descriptors */
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	bool tls = *c->tls_cert || *c->tls_key;
	if (tls) {
		g->cert = read_text(c->tls_cert);
		g->tls_key = read_text(c->tls_key);
		if (!g->cert || !g->tls_key) {
			snprintf(err, errlen,
			         "HTTPS needs both tls_cert and tls_key readable (%s, %s)",
			         c->tls_cert, c->tls_key);
			r = TF_E_INVALID;
			goto fail;
		}
		flags |= MHD_USE_TLS;
	}
	struct MHD_OptionItem opts[4];
	size_t no = 0;
	if (tls) {
		opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, g->cert};
		opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, g->tls_key};
	}
	/* Facing browsers directly, one address may hold an eighth of the
	 * connections: a client that trickles its headers a byte at a time
	 * (slowloris) kept all 256 and locked everyone out in an attack test.
	 * Behind a proxy every connection comes from the proxy, which guards
	 * its own. */
	unsigned per_address = c->max_per_address           ? c->max_per_address
	                       : c->max_connections / 8 > 4 ? c->max_connections / 8
	                                                    : 4;
	if (!c->behind_proxy && per_address < c->max_connections)
		g->per_address = per_address;
	opts[no] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	g->mhd = MHD_start_daemon(
	    flags, 0, accept_ok, g, on_request, g, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_CONNECTION_LIMIT, c->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)60, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, g, MHD_OPTION_NOTIFY_CONNECTION, on_connection, g, MHD_OPTION_ARRAY, opts,
	    MHD_OPTION_END);
	if (!g->mhd) {
		snprintf(err, errlen, "cannot listen on %s (in use, or not an address here)",
		         c->listen);
		r = -EADDRINUSE;
		goto fail;
	}
	*out = g;
	return 0;
fail:
	gw_stop(g);
	return r;
}

unsigned gw_port(const struct gw *g)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(g->mhd, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : 0;
}
