/* tanfang-alert: the alert dispatcher, run from cron or a systemd timer.
 *
 * One run: fetch a batch of undelivered alerts from tanfangd (AlertsPending,
 * signed with a dispatcher key; the daemon leases them to this run), hand
 * each alert to every configured sink, acknowledge the delivered ones
 * (AlertsAck.ids: never sent again), and repeat until nothing is left or the
 * per-run maximum is reached. Alerts a sink refused are released at the end
 * of the run (AlertsAck.failed), so the next run retries them; holding them
 * until then keeps one run from hammering a broken sink. docs/alerts.md
 * describes the sinks and the delivery guarantees.
 *
 * Exit status: 0 everything fetched was delivered (or nothing to do),
 * 1 some alerts could not be delivered, 2 usage or configuration error,
 * 3 the daemon was unreachable or refused the dispatcher. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "rpc.h"
#include "tf_err.h"
#include "wire.h"

#define PROG                   "tanfang-alert"
#define DEFAULT_CONFIG         "/etc/tanfang/tanfang-alert.conf"
#define DEFAULT_ENDPOINT       "tcp://127.0.0.1:7480"
#define DEFAULT_TIMEOUT_MS     15000
#define DEFAULT_BATCH          100
#define DEFAULT_LEASE_S        300
#define DEFAULT_MAX_PER_RUN    10000
#define DEFAULT_SINK_TIMEOUT_S 10
#define DEFAULT_SENDMAIL       "/usr/sbin/sendmail"
#define MAX_SINKS              16
#define ACK_ATTEMPTS           3
/* After SIGTERM, how long a timed-out command gets before SIGKILL. */
#define KILL_GRACE_MS 2000

enum { EXIT_OK = 0, EXIT_UNDELIVERED = 1, EXIT_USAGE = 2, EXIT_DAEMON = 3 };

extern char **environ;

/* ---- configuration ---- */

enum sink_type { SINK_STDOUT, SINK_COMMAND, SINK_WEBHOOK, SINK_MAIL };

static const char *const sink_type_names[] = {"stdout", "command", "webhook", "mail"};

struct sink {
	enum sink_type type;
	char name[80];              /* the config section, or the command-line flag */
	char *target;               /* command line, URL, or sendmail path */
	char *from;                 /* mail: From address ("" = the MTA's default) */
	char *to_default;           /* mail: recipient when the alert names no mail contact */
	struct curl_slist *headers; /* webhook: extra header lines */
	unsigned timeout_s;
	unsigned line; /* where its section starts in the config file */
};

struct config {
	char *endpoint, *server_key, *server_key_file, *key_file;
	int timeout_ms;
	unsigned batch, lease_s, max_per_run;
	struct sink sinks[MAX_SINKS];
	size_t n_sinks;
};

static void sink_clear(struct sink *s)
{
	free(s->target);
	free(s->from);
	free(s->to_default);
	curl_slist_free_all(s->headers);
	memset(s, 0, sizeof *s);
}

static void config_free(struct config *cfg)
{
	free(cfg->endpoint);
	free(cfg->server_key);
	free(cfg->server_key_file);
	free(cfg->key_file);
	for (size_t i = 0; i < cfg->n_sinks; i++)
		sink_clear(&cfg->sinks[i]);
	memset(cfg, 0, sizeof *cfg);
}

static void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->batch = DEFAULT_BATCH;
	cfg->lease_s = DEFAULT_LEASE_S;
	cfg->max_per_run = DEFAULT_MAX_PER_RUN;
}

/* Replaces *dst with a copy of v. Returns 0 or -ENOMEM. */
static int set_str(char **dst, const char *v)
{
	char *c = strdup(v);
	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	unsigned long v = strtoul(s, NULL, 10);
	if (errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A bare mail address, strict enough that it cannot smuggle a header or a
 * second recipient into the message (RFC 5322 dot-atom characters, one '@'). */
static bool mail_address_ok(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                         ".!#$%&'*+/=?^_`{|}~-@";
	const char *at = strchr(s, '@');
	size_t n = strlen(s);
	return n >= 3 && n <= 254 && strspn(s, ok) == n && at && at != s && at[1] &&
	       !strchr(at + 1, '@');
}

/* Adds a sink of the type named in `section` ("sink.TYPE" or
 * "sink.TYPE.NAME"). Returns the sink, or NULL with *why set. */
static struct sink *sink_add(struct config *cfg, const char *section, unsigned line,
                             const char **why)
{
	const char *t = section + 5;
	size_t tl = strcspn(t, ".");
	if (t[tl] == '.' && !t[tl + 1])
		return *why = "empty sink name after the type", NULL;
	int type = -1;
	for (size_t i = 0; i < sizeof sink_type_names / sizeof sink_type_names[0]; i++)
		if (strlen(sink_type_names[i]) == tl && strncmp(t, sink_type_names[i], tl) == 0)
			type = (int)i;
	if (type < 0)
		return *why = "unknown sink type (expected sink.stdout, sink.command, "
		              "sink.webhook or sink.mail)",
		       NULL;
	for (size_t i = 0; i < cfg->n_sinks; i++)
		if (strcmp(cfg->sinks[i].name, section) == 0)
			return *why = "section appears twice", NULL;
	if (cfg->n_sinks == MAX_SINKS)
		return *why = "too many sinks (at most 16)", NULL;
	if (strlen(section) >= sizeof cfg->sinks[0].name)
		return *why = "section name too long", NULL;
	struct sink *s = &cfg->sinks[cfg->n_sinks++];
	memset(s, 0, sizeof *s);
	s->type = (enum sink_type)type;
	snprintf(s->name, sizeof s->name, "%s", section);
	s->timeout_s = DEFAULT_SINK_TIMEOUT_S;
	s->line = line;
	return s;
}

static int set_daemon_key(struct config *cfg, const char *key, const char *value, const char **why)
{
	unsigned long v;
	char **dst = NULL;
	if (strcmp(key, "endpoint") == 0)
		dst = &cfg->endpoint;
	else if (strcmp(key, "server_key") == 0)
		dst = &cfg->server_key;
	else if (strcmp(key, "server_key_file") == 0)
		dst = &cfg->server_key_file;
	else if (strcmp(key, "key") == 0)
		dst = &cfg->key_file;
	if (dst) {
		if (!*value)
			return *why = "must not be empty", -EINVAL;
		return set_str(dst, value) < 0 ? (*why = "out of memory", -ENOMEM) : 0;
	}
	if (strcmp(key, "timeout_ms") == 0) {
		if (!parse_uint(value, 100, 600000, &v))
			return *why = "expected milliseconds from 100 to 600000", -EINVAL;
		cfg->timeout_ms = (int)v;
		return 0;
	}
	return *why = "unknown key", -EINVAL;
}

static int set_dispatch_key(struct config *cfg, const char *key, const char *value,
                            const char **why)
{
	unsigned long v;
	if (strcmp(key, "batch") == 0) {
		/* The daemon hands out at most 1000 alerts per fetch. */
		if (!parse_uint(value, 1, 1000, &v))
			return *why = "expected a number from 1 to 1000", -EINVAL;
		cfg->batch = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "lease_s") == 0) {
		if (!parse_uint(value, 10, 86400, &v))
			return *why = "expected seconds from 10 to 86400", -EINVAL;
		cfg->lease_s = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "max_alerts_per_run") == 0) {
		if (!parse_uint(value, 1, 1000000, &v))
			return *why = "expected a number from 1 to 1000000", -EINVAL;
		cfg->max_per_run = (unsigned)v;
		return 0;
	}
	return *why = "unknown key", -EINVAL;
}

static int set_sink_key(struct sink *s, const char *key, const char *value, const char **why)
{
	unsigned long v;
	if (s->type != SINK_STDOUT && strcmp(key, "timeout_s") == 0) {
		if (!parse_uint(value, 1, 3600, &v))
			return *why = "expected seconds from 1 to 3600", -EINVAL;
		s->timeout_s = (unsigned)v;
		return 0;
	}
	char **dst = NULL;
	if (s->type == SINK_COMMAND && strcmp(key, "command") == 0)
		dst = &s->target;
	else if (s->type == SINK_WEBHOOK && strcmp(key, "url") == 0) {
		if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
			return *why = "expected an http:// or https:// URL", -EINVAL;
		dst = &s->target;
	} else if (s->type == SINK_MAIL && strcmp(key, "sendmail") == 0) {
		if (value[0] != '/')
			return *why = "expected an absolute path", -EINVAL;
		dst = &s->target;
	} else if (s->type == SINK_MAIL && strcmp(key, "from") == 0) {
		if (!mail_address_ok(value))
			return *why = "expected a bare mail address such as tanfang@example.org",
			       -EINVAL;
		dst = &s->from;
	} else if (s->type == SINK_MAIL &&
	           (strcmp(key, "to-default") == 0 || strcmp(key, "to_default") == 0)) {
		if (!mail_address_ok(value))
			return *why = "expected a bare mail address such as duty@example.org",
			       -EINVAL;
		dst = &s->to_default;
	} else if (s->type == SINK_WEBHOOK && strcmp(key, "header") == 0) {
		const char *colon = strchr(value, ':');
		if (!colon || colon == value || strcspn(value, " \t") < (size_t)(colon - value))
			return *why = "expected 'Name: value'", -EINVAL;
		struct curl_slist *h = curl_slist_append(s->headers, value);
		if (!h)
			return *why = "out of memory", -ENOMEM;
		s->headers = h;
		return 0;
	}
	if (!dst)
		return *why = "unknown key for this sink type", -EINVAL;
	if (!*value)
		return *why = "must not be empty", -EINVAL;
	return set_str(dst, value) < 0 ? (*why = "out of memory", -ENOMEM) : 0;
}

/* A sink needs its target; the mail sink has a default sendmail path. */
static int sink_check(struct sink *s, const char **why)
{
	if (s->type == SINK_MAIL && !s->target && set_str(&s->target, DEFAULT_SENDMAIL) < 0)
		return *why = "out of memory", -ENOMEM;
	if (s->type == SINK_COMMAND && !s->target)
		return *why = "needs command = ...", -EINVAL;
	if (s->type == SINK_WEBHOOK && !s->target)
		return *why = "needs url = ...", -EINVAL;
	return 0;
}

/* The INI reader state. inih reports no line numbers in Debian's build and
 * calls no handler for a section without keys (an empty [sink.stdout] is
 * meaningful), so the reader counts lines and sees section headers itself. */
struct parse {
	FILE *f;
	const char *path;
	unsigned line;
	struct config *cfg;
	char section[128];
	struct sink *sink; /* the current section's sink, if it is one */
	unsigned err_line;
	char err[512];
};

static void parse_error(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void parse_error(struct parse *p, const char *fmt, ...)
{
	if (p->err_line)
		return;
	p->err_line = p->line ? p->line : 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
}

static void section_begin(struct parse *p, const char *name)
{
	snprintf(p->section, sizeof p->section, "%s", name);
	p->sink = NULL;
	const char *why = NULL;
	if (strncmp(name, "sink.", 5) == 0) {
		p->sink = sink_add(p->cfg, name, p->line, &why);
	} else if (strcmp(name, "daemon") != 0 && strcmp(name, "dispatch") != 0) {
		why = "unknown section (expected [daemon], [dispatch] or [sink.TYPE])";
	}
	if (why)
		parse_error(p, "[%s]: %s", name, why);
}

static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *s = fgets(str, num, p->f);
	if (!s)
		return NULL;
	p->line++;
	size_t n = strlen(s);
	if (n && s[n - 1] != '\n' && !feof(p->f)) {
		parse_error(p, "line longer than %d characters", num - 2);
		return NULL;
	}
	const char *q = s + strspn(s, " \t");
	if (*q == '[') {
		size_t len = strcspn(q + 1, "]");
		if (q[1 + len] == ']' && len < sizeof p->section) {
			char name[sizeof p->section];
			memcpy(name, q + 1, len);
			name[len] = '\0';
			section_begin(p, name);
		}
	}
	return s;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	const char *why = NULL;
	int r;
	if (p->err_line)
		return 0;
	if (strcmp(section, p->section) != 0 || (!p->sink && strncmp(section, "sink.", 5) == 0))
		r = (why = "key outside a known section", -EINVAL);
	else if (p->sink)
		r = set_sink_key(p->sink, key, value, &why);
	else if (strcmp(section, "daemon") == 0)
		r = set_daemon_key(p->cfg, key, value, &why);
	else
		r = set_dispatch_key(p->cfg, key, value, &why);
	if (r < 0) {
		parse_error(p, "[%s] %s: %s (got \"%s\")", section, key, why, value);
		return 0;
	}
	return 1;
}

/* Reads the config file at path over cfg. Returns 0; or prints
 * "path:line: problem" and returns -1. */
static int config_load(struct config *cfg, const char *path)
{
	struct parse p = {.path = path, .cfg = cfg};
	p.f = fopen(path, "re");
	if (!p.f) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	int r = ini_parse_stream(read_line, &p, on_key, &p);
	fclose(p.f);
	if (!p.err_line && r > 0) {
		p.line = (unsigned)r;
		parse_error(&p, "syntax error (expected [section] or key = value)");
	}
	if (!p.err_line && r < 0)
		parse_error(&p, "out of memory");
	for (size_t i = 0; !p.err_line && i < cfg->n_sinks; i++) {
		const char *why;
		if (sink_check(&cfg->sinks[i], &why) < 0) {
			p.line = cfg->sinks[i].line;
			parse_error(&p, "[%s]: %s", cfg->sinks[i].name, why);
		}
	}
	if (p.err_line) {
		fprintf(stderr, PROG ": %s:%u: %s\n", path, p.err_line, p.err);
		return -1;
	}
	return 0;
}

/* ---- the alert as JSON ---- */

static void iso_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}

static int json_put(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *json_strings(char **arr, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(arr[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The alert as one compact JSON object (docs/alerts.md), malloc'd; NULL if
 * memory runs out. Strings are valid UTF-8: wire_unpack checked them. */
static char *alert_json(const tf_alert *a, const char *idhex)
{
	char created[32];
	iso_utc(a->created_at, created);
	json_t *o = json_object();
	if (!o)
		return NULL;
	int r = json_put(o, "id", json_string(idhex));
	r |= json_put(o, "kind", json_string(a->kind));
	r |= json_put(o, "elder_id", json_string(a->elder_id));
	r |= json_put(o, "elder_name", json_string(a->elder_name));
	r |= json_put(o, "area", json_string(a->area));
	r |= json_put(o, "rule", json_string(a->rule));
	r |= json_put(o, "message", json_string(a->message));
	r |= json_put(o, "recipients", json_strings(a->recipients, a->n_recipients));
	r |= json_put(o, "contacts", json_strings(a->contacts, a->n_contacts));
	r |= json_put(o, "created_at", json_string(created));
	r |= json_put(o, "attempts", json_integer(a->attempts));
	char *s = r == 0 ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	return s;
}

/* ---- sinks ---- */

/* Runs argv (argv[0] an absolute path) with `input` on its stdin and its
 * stdout sent to our stderr (our stdout carries the stdout sink's JSON
 * lines), in its own process group so a timeout kills everything it
 * started. Waits at most timeout_s. Returns 0 if it exited 0; otherwise -1
 * with the reason in why. */
static int spawn_feed(char *const argv[], char *const envp[], const char *input, unsigned timeout_s,
                      char *why, size_t wl)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(why, wl, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, wl, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(fds[0], 0) < 0 || dup2(2, 1) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no window where a kill misses the group */
	close(fds[0]);
	int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
	/* Feed stdin without blocking past the deadline; a command that does not
	 * read its input (EPIPE) is judged by its exit status alone. */
	int fl = fcntl(fds[1], F_GETFL);
	if (fl >= 0)
		fl = fcntl(fds[1], F_SETFL, fl | O_NONBLOCK);
	if (fl < 0)
		log_warn("fcntl O_NONBLOCK"); /* a blocking write still works below the pipe size */
	size_t len = strlen(input), off = 0;
	while (off < len) {
		ssize_t w = write(fds[1], input + off, len - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			break; /* EPIPE: it closed its stdin */
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0)
			break; /* the wait below ends it */
		struct pollfd pf = {.fd = fds[1], .events = POLLOUT};
		if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
	close(fds[1]);
	/* Wait until the deadline, then SIGTERM the group, then SIGKILL. */
	int status = 0;
	bool timed_out = false;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(why, wl, "waitpid: %s", strerror(errno));
			return -1;
		}
		int64_t now = clock_mono_ms();
		if (!timed_out && now >= deadline) {
			timed_out = true;
			kill(-pid, SIGTERM);
			deadline = now + KILL_GRACE_MS;
		} else if (timed_out && now >= deadline) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
			}
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (timed_out) {
		kill(-pid, SIGKILL); /* anything it left running in its group */
		snprintf(why, wl, "no result within %u s; killed", timeout_s);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, wl, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(why, wl, "killed by signal %d",
		         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

/* Our environment plus TANFANG_ALERT_ID and TANFANG_ALERT_KIND, built
 * before fork() because setenv is not safe in the child of a threaded
 * process (ZeroMQ runs threads). Returns a malloc'd array; the strings
 * added live in the two buffers given. */
static char **command_env(const char *idhex, const char *kind, char idvar[64], char kindvar[96])
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 3, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TANFANG_ALERT_ID=", 17) != 0 &&
		    strncmp(environ[i], "TANFANG_ALERT_KIND=", 19) != 0)
			env[k++] = environ[i];
	snprintf(idvar, 64, "TANFANG_ALERT_ID=%s", idhex);
	snprintf(kindvar, 96, "TANFANG_ALERT_KIND=%.64s", kind);
	env[k++] = idvar;
	env[k++] = kindvar;
	return env;
}

static int deliver_command(const struct sink *s, const tf_alert *a, const char *idhex,
                           const char *json, char *why, size_t wl)
{
	char idvar[64], kindvar[96];
	char **env = command_env(idhex, a->kind, idvar, kindvar);
	if (!env) {
		snprintf(why, wl, "out of memory");
		return -1;
	}
	char *argv[] = {"/bin/sh", "-c", s->target, NULL};
	char *input = NULL;
	int r = -1;
	if (asprintf(&input, "%s\n", json) < 0)
		snprintf(why, wl, "out of memory");
	else
		r = spawn_feed(argv, env, input, s->timeout_s, why, wl);
	free(input);
	free(env);
	return r;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *user)
{
	(void)ptr, (void)user;
	return size * nmemb;
}

static int deliver_webhook(const struct sink *s, const char *idhex, const char *json, char *why,
                           size_t wl)
{
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(why, wl, "cannot start libcurl");
		return -1;
	}
	char idh[80];
	snprintf(idh, sizeof idh, "X-Tanfang-Alert-Id: %s", idhex);
	/* "Expect:" turns off 100-continue, which some small receivers mishandle. */
	const char *std[] = {"Content-Type: application/json; charset=utf-8", idh, "Expect:"};
	struct curl_slist *h = NULL;
	CURLcode e = CURLE_OK;
	for (size_t i = 0; e == CURLE_OK && i < sizeof std / sizeof std[0]; i++) {
		struct curl_slist *n = curl_slist_append(h, std[i]);
		if (n)
			h = n;
		else
			e = CURLE_OUT_OF_MEMORY;
	}
	for (const struct curl_slist *x = s->headers; e == CURLE_OK && x; x = x->next) {
		struct curl_slist *n = curl_slist_append(h, x->data);
		if (n)
			h = n;
		else
			e = CURLE_OUT_OF_MEMORY;
	}
	long connect_s = s->timeout_s < 10 ? (long)s->timeout_s : 10;
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_URL, s->target);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)s->timeout_s);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_s);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_USERAGENT, PROG "/1");
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	if (e == CURLE_OK)
		e = curl_easy_perform(c);
	long code = 0;
	int r = -1;
	if (e != CURLE_OK)
		snprintf(why, wl, "%s", curl_easy_strerror(e));
	else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		snprintf(why, wl, "no HTTP status");
	else if (code < 200 || code > 299)
		snprintf(why, wl, "HTTP status %ld", code);
	else
		r = 0;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p, b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	int r = buf_add(b, s, (size_t)n);
	free(s);
	return r;
}

/* base64 of n bytes, optionally wrapped at 76 columns with "\n". */
static int buf_base64(struct buf *b, const uint8_t *in, size_t n, bool wrap)
{
	size_t step = wrap ? 57 : n; /* 57 bytes = 76 characters */
	for (size_t off = 0; off < n; off += step) {
		size_t take = n - off < step ? n - off : step;
		size_t need = sodium_base64_ENCODED_LEN(take, sodium_base64_VARIANT_ORIGINAL);
		char *enc = malloc(need);
		if (!enc)
			return -ENOMEM;
		sodium_bin2base64(enc, need, in + off, take, sodium_base64_VARIANT_ORIGINAL);
		int r = buf_add(b, enc, strlen(enc));
		free(enc);
		if (r == 0 && wrap)
			r = buf_add(b, "\n", 1);
		if (r < 0)
			return r;
	}
	return 0;
}

/* RFC 2047 "B" encoded words for UTF-8 text: at most 45 bytes per word
 * (60 base64 characters + 12 of framing < 75), split only at character
 * boundaries, one word per folded line. */
static int buf_encoded_words(struct buf *b, const char *s)
{
	size_t n = strlen(s), off = 0;
	bool first = true;
	while (off < n) {
		size_t take = n - off < 45 ? n - off : 45;
		while (take < n - off && ((unsigned char)s[off + take] & 0xc0) == 0x80)
			take--; /* back up to the start of a character */
		if (!take)
			take = 1;
		int r = buf_add(b, first ? "=?UTF-8?B?" : "\n =?UTF-8?B?", first ? 10 : 12);
		if (r == 0)
			r = buf_base64(b, (const uint8_t *)s + off, take, false);
		if (r == 0)
			r = buf_add(b, "?=", 2);
		if (r < 0)
			return r;
		off += take;
		first = false;
	}
	return 0;
}

static const char *kind_label(const char *kind)
{
	static const char *const labels[][2] = {
	    {"overdue", "逾期"},     {"escalation", "升级"},        {"urgent_event", "紧急事件"},
	    {"follow_up", "需跟进"}, {"not_set_up", "“1+2”未落实"},
	};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (strcmp(kind, labels[i][0]) == 0)
			return labels[i][1];
	return kind;
}

/* The RFC 5322 message for sendmail -t: headers name the recipients, the
 * UTF-8 subject is RFC 2047 encoded and the UTF-8 body base64 encoded, so
 * the message is 7-bit clean for any relay. Message-ID carries the alert id
 * so a mail system can recognise a repeat after a failed run. */
static int mail_message(const struct sink *s, const tf_alert *a, const char *idhex,
                        const char *const *to, size_t n_to, struct buf *m)
{
	char date[64], created[32];
	time_t now = time(NULL);
	struct tm tm;
	if (!localtime_r(&now, &tm) ||
	    !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm))
		snprintf(date, sizeof date, "Thu, 01 Jan 1970 00:00:00 +0000");
	iso_utc(a->created_at, created);
	int r = 0;
	if (s->from)
		r = buf_printf(m, "From: %s\n", s->from);
	if (r == 0)
		r = buf_add(m, "To: ", 4);
	for (size_t i = 0; r == 0 && i < n_to; i++)
		r = buf_printf(m, "%s%s", i ? ",\n " : "", to[i]);
	char subject[600];
	snprintf(subject, sizeof subject, "[探访提醒] %s：%s（%s）", kind_label(a->kind),
	         a->elder_name, a->elder_id);
	if (r == 0)
		r = buf_add(m, "\nSubject: ", 10);
	if (r == 0)
		r = buf_encoded_words(m, subject);
	if (r == 0)
		r = buf_printf(m,
		               "\nDate: %s\nMessage-ID: <%s@tanfang-alert>\nMIME-Version: 1.0\n"
		               "Content-Type: text/plain; charset=UTF-8\n"
		               "Content-Transfer-Encoding: base64\n"
		               "X-Tanfang-Alert-Id: %s\nX-Tanfang-Alert-Kind: %s\n\n",
		               date, idhex, idhex, a->kind);
	struct buf body = {0};
	if (r == 0)
		r = buf_printf(&body,
		               "%s\n\n类型：%s（%s）\n老人：%s（%s）\n地区：%s\n规则：%s\n"
		               "生成时间：%s\n提醒编号：%s\n",
		               a->message, kind_label(a->kind), a->kind, a->elder_name, a->elder_id,
		               a->area, *a->rule ? a->rule : "-", created, idhex);
	if (r == 0)
		r = buf_base64(m, (const uint8_t *)body.p, body.len, true);
	free(body.p);
	return r;
}

static int deliver_mail(const struct sink *s, const tf_alert *a, const char *idhex, char *why,
                        size_t wl)
{
	const char *to[32];
	size_t n_to = 0;
	for (size_t i = 0; i < a->n_contacts && n_to < 32; i++) {
		if (!strchr(a->contacts[i], '@'))
			continue; /* a phone number: the SMS command's business */
		if (mail_address_ok(a->contacts[i]))
			to[n_to++] = a->contacts[i];
		else
			log_warnx("alert %s: contact \"%s\" is not a usable mail address; skipped",
			          idhex, a->contacts[i]);
	}
	if (!n_to && s->to_default)
		to[n_to++] = s->to_default;
	if (!n_to) {
		/* Retrying cannot find an address that is not there; the other sinks
		 * (SMS, webhook) or to-default are the way to reach someone. */
		log_warnx("alert %s: no mail address and no to-default; [%s] skipped it", idhex,
		          s->name);
		return 0;
	}
	struct buf m = {0};
	int r = mail_message(s, a, idhex, to, n_to, &m);
	if (r < 0) {
		free(m.p);
		snprintf(why, wl, "out of memory");
		return -1;
	}
	char *argv[] = {s->target, "-t", "-i", NULL};
	r = spawn_feed(argv, environ, m.p, s->timeout_s, why, wl);
	free(m.p);
	return r;
}

static int deliver_stdout(const char *json, char *why, size_t wl)
{
	if (puts(json) == EOF || fflush(stdout) == EOF) {
		snprintf(why, wl, "writing to standard output: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Hands one alert to every sink, stopping at the first that fails (the
 * alert is retried as a whole, so a later sink would see it twice).
 * Returns 0 if every sink accepted it. */
static int deliver(const struct config *cfg, const tf_alert *a, const char *idhex, const char *json)
{
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const struct sink *s = &cfg->sinks[i];
		char why[256] = "";
		int r = -1;
		switch (s->type) {
		case SINK_STDOUT: r = deliver_stdout(json, why, sizeof why); break;
		case SINK_COMMAND: r = deliver_command(s, a, idhex, json, why, sizeof why); break;
		case SINK_WEBHOOK: r = deliver_webhook(s, idhex, json, why, sizeof why); break;
		case SINK_MAIL: r = deliver_mail(s, a, idhex, why, sizeof why); break;
		}
		if (r < 0) {
			log_warnx(
			    "alert %s (%s, elder %s): [%s] failed: %s; retried on the next run",
			    idhex, a->kind, a->elder_id, s->name, why);
			return -1;
		}
	}
	return 0;
}

/* Worst-case time to deliver one alert, for the lease check. */
static int64_t deliver_budget_ms(const struct config *cfg)
{
	int64_t ms = 1000;
	for (size_t i = 0; i < cfg->n_sinks; i++)
		if (cfg->sinks[i].type != SINK_STDOUT)
			ms += (int64_t)cfg->sinks[i].timeout_s * 1000 + KILL_GRACE_MS;
	return ms;
}

/* ---- the run ---- */

struct idlist {
	ProtobufCBinaryData *v;
	uint8_t (*bytes)[16];
	size_t n, cap;
};

static int idlist_add(struct idlist *l, const uint8_t id[16])
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint8_t(*b)[16] = realloc(l->bytes, cap * sizeof *b);
		if (!b)
			return -ENOMEM;
		l->bytes = b;
		ProtobufCBinaryData *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	memcpy(l->bytes[l->n], id, 16);
	l->n++;
	/* bytes may have moved: point every entry at its current copy. */
	for (size_t i = 0; i < l->n; i++)
		l->v[i].data = l->bytes[i], l->v[i].len = 16;
	return 0;
}

static void idlist_free(struct idlist *l)
{
	free(l->v);
	free(l->bytes);
	memset(l, 0, sizeof *l);
}

struct run {
	const struct config *cfg;
	struct rpc *rpc;
	bool dry_run;
	size_t fetched, delivered, failed, skipped;
};

/* Logs why a call got no usable reply. Returns EXIT_DAEMON. */
static int daemon_problem(const struct run *run, const char *what, int rc, const tf_reply *rep)
{
	if (rc == TF_E_TIMEOUT)
		log_warnx("%s: no reply from %s within %d ms (is tanfangd running, and is the "
		          "server key its curve.pub?)",
		          what, run->cfg->endpoint, run->cfg->timeout_ms);
	else if (rc < 0)
		log_warnx("%s: %s", what, tf_strerror(rc));
	else if (rep->status == TANFANG__V1__STATUS__STATUS_UNKNOWN_SIGNER)
		log_warnx("%s: the daemon does not know this key (enrol its public key, `" PROG
		          " pubkey`, for a visitor with role dispatcher): %s",
		          what, rep->detail);
	else
		log_warnx("%s: refused: %s%s%s", what, wire_status_name(rep->status),
		          *rep->detail ? ": " : "", rep->detail);
	return EXIT_DAEMON;
}

/* Acknowledges: ids delivered (retired for good), failed released for the
 * next run. An ack may be repeated safely, so it is retried. Returns 0 or
 * EXIT_DAEMON. */
static int ack(struct run *run, const struct idlist *ids, const struct idlist *failed)
{
	if (!ids->n && !failed->n)
		return 0;
	Tanfang__V1__AlertsAck ak = TANFANG__V1__ALERTS_ACK__INIT;
	ak.ids = ids->v, ak.n_ids = ids->n;
	ak.failed = failed->v, ak.n_failed = failed->n;
	int ex = 0;
	for (int attempt = 1; attempt <= ACK_ATTEMPTS; attempt++) {
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_ALERTS_ACK;
		req.alerts_ack = &ak;
		tf_reply *rep = NULL;
		int rc = rpc_call(run->rpc, &req, run->cfg->timeout_ms, &rep);
		if (rc == 0 && rep->status == TANFANG__V1__STATUS__STATUS_OK) {
			log_debug("ack: %s", rep->detail);
			wire_free(WIRE_REPLY, rep);
			return 0;
		}
		ex = daemon_problem(run, "acknowledging alerts", rc, rep);
		wire_free(WIRE_REPLY, rep);
		if (rc == 0)
			break; /* a refusal will not change on a retry */
	}
	if (ids->n)
		log_warnx("%zu delivered alerts could not be acknowledged; they will be sent "
		          "again once their lease ends",
		          ids->n);
	return ex;
}

/* Delivers one fetched batch. Returns 0 or EXIT_DAEMON (the ack failed).
 * *stop is set when the run should not fetch again. */
static int run_batch(struct run *run, tf_alert **alerts, size_t n, int64_t fetched_ms,
                     struct idlist *held, bool *stop)
{
	const struct config *cfg = run->cfg;
	struct idlist ids = {0};
	int64_t lease_end = fetched_ms + (int64_t)cfg->lease_s * 1000;
	int64_t budget = deliver_budget_ms(cfg);
	int ex = 0;
	for (size_t i = 0; i < n && !ex; i++) {
		const tf_alert *a = alerts[i];
		run->fetched++;
		if (a->id.len != 16) {
			log_warnx("the daemon sent an alert with a %zu-byte id; skipped",
			          a->id.len);
			run->skipped++;
			continue;
		}
		char idhex[33];
		hex_encode(a->id.data, 16, idhex);
		/* Past the lease another dispatcher may hold this alert; delivering
		 * it (or releasing it) now could send it twice. Leave it alone. */
		if (clock_mono_ms() + budget > lease_end) {
			log_warnx(
			    "lease of %u s running out: alert %s and %zu more left for a later "
			    "run (raise lease_s or lower batch)",
			    cfg->lease_s, idhex, n - i - 1);
			run->skipped += n - i;
			*stop = true;
			break;
		}
		char *json = alert_json(a, idhex);
		if (!json) {
			log_warnx("out of memory");
			ex = EXIT_UNDELIVERED;
			break;
		}
		int r;
		if (run->dry_run) {
			char why[256];
			if (deliver_stdout(json, why, sizeof why) < 0) {
				log_warnx("%s", why);
				run->failed++;
			}
			r = idlist_add(held, a->id.data);
		} else if (deliver(cfg, a, idhex, json) == 0) {
			run->delivered++;
			r = idlist_add(&ids, a->id.data);
		} else {
			run->failed++;
			r = idlist_add(held, a->id.data);
		}
		free(json);
		if (r < 0 && !ex) {
			log_warnx("out of memory");
			ex = EXIT_UNDELIVERED;
		}
	}
	struct idlist none = {0};
	int aex = ack(run, &ids, &none);
	idlist_free(&ids);
	if (aex)
		return aex;
	if (ex)
		*stop = true;
	return 0;
}

static int run_loop(struct run *run)
{
	const struct config *cfg = run->cfg;
	struct idlist held = {0}; /* failed or dry-run alerts, released at the end */
	int ex = 0;
	bool stop = false;
	size_t total = 0;
	while (!stop && total < cfg->max_per_run) {
		unsigned limit = cfg->batch;
		if (cfg->max_per_run - total < limit)
			limit = (unsigned)(cfg->max_per_run - total);
		Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
		ap.limit = limit;
		ap.lease_s = cfg->lease_s;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_ALERTS_PENDING;
		req.alerts_pending = &ap;
		tf_reply *rep = NULL;
		/* Taken before the call: the daemon's lease starts at most this late. */
		int64_t fetched_ms = clock_mono_ms();
		int rc = rpc_call(run->rpc, &req, cfg->timeout_ms, &rep);
		if (rc < 0 || rep->status != TANFANG__V1__STATUS__STATUS_OK) {
			ex = daemon_problem(run, "fetching alerts", rc, rep);
			wire_free(WIRE_REPLY, rep);
			break;
		}
		size_t n = 0;
		tf_alert **alerts = NULL;
		if (rep->result_case == TANFANG__V1__REPLY__RESULT_ALERTS && rep->alerts)
			n = rep->alerts->n_alerts, alerts = rep->alerts->alerts;
		if (n > limit) {
			log_warnx("the daemon sent %zu alerts, more than the %u asked for", n,
			          limit);
			n = limit; /* the rest stay leased and return after the lease */
		}
		if (n == 0) {
			wire_free(WIRE_REPLY, rep);
			break;
		}
		total += n;
		ex = run_batch(run, alerts, n, fetched_ms, &held, &stop);
		wire_free(WIRE_REPLY, rep);
		if (ex)
			break;
	}
	struct idlist none = {0};
	int rex = ack(run, &none, &held);
	if (rex && held.n)
		log_warnx("%zu alerts could not be released; they are retried once their lease "
		          "of %u s ends",
		          held.n, cfg->lease_s);
	idlist_free(&held);
	if (!ex)
		ex = rex;
	if (!ex && (run->failed || run->skipped))
		ex = EXIT_UNDELIVERED;
	if (run->fetched)
		log_info("%s%zu alerts fetched, %zu delivered, %zu failed, %zu left for later",
		         run->dry_run ? "dry run: " : "", run->fetched, run->delivered, run->failed,
		         run->skipped);
	return ex;
}

/* ---- command line ---- */

static const char usage_text[] =
    "usage: " PROG " [OPTIONS]                 deliver pending alerts once\n"
    "       " PROG " keygen [--key FILE]       make the dispatcher key, print its public key\n"
    "       " PROG " pubkey [--key FILE]       print the dispatcher key's public key\n"
    "\n"
    "Fetches undelivered alerts from tanfangd, hands each to every configured\n"
    "sink, and acknowledges the delivered ones so they are never sent again.\n"
    "Alerts a sink refused are retried on the next run. Run it from cron or\n"
    "the tanfang-alert.timer every few minutes; see docs/alerts.md.\n"
    "\n"
    "Options:\n"
    "  --config FILE          config file (default " DEFAULT_CONFIG ", if present)\n"
    "  --endpoint EP          daemon endpoint (default " DEFAULT_ENDPOINT ")\n"
    "  --server-key Z85       the daemon's CURVE public key (40 characters)\n"
    "  --server-key-file F    read the CURVE public key from F (the daemon's curve.pub)\n"
    "  --data DIR             shortcut: --server-key-file DIR/curve.pub\n"
    "  --key FILE             the dispatcher's key file (64 hex digits)\n"
    "  --timeout MS           wait this long for each reply (default 15000)\n"
    "  --batch N              alerts per fetch, 1..1000 (default 100)\n"
    "  --lease S              lease fetched alerts for S seconds (default 300)\n"
    "  --max N                at most N alerts per run (default 10000)\n"
    "  --stdout               sink: print each alert as a JSON line\n"
    "  --command CMD          sink: run CMD via /bin/sh -c per alert, the alert as JSON\n"
    "                         on stdin; exit status 0 means delivered\n"
    "  --webhook URL          sink: POST the alert as JSON; a 2xx status means delivered\n"
    "  --sink-timeout S       time limit of --command and --webhook (default 10)\n"
    "  --dry-run              print pending alerts as JSON lines; send and acknowledge\n"
    "                         nothing (the alerts stay pending)\n"
    "  --quiet                log warnings only\n"
    "  --verbose              log debug messages too\n"
    "  --help                 this text\n"
    "\n"
    "Sinks given on the command line replace those of the config file.\n"
    "\n"
    "Exit status: 0 all delivered or nothing to do, 1 some alerts could not be\n"
    "delivered (retried next run), 2 usage or configuration error, 3 the daemon\n"
    "was unreachable or refused this key.\n";

/* In the order of long_opts: an option's name is long_opts[opt - OPT_CONFIG].name. */
enum opt {
	OPT_CONFIG = 256,
	OPT_ENDPOINT,
	OPT_SERVER_KEY,
	OPT_SERVER_KEY_FILE,
	OPT_DATA,
	OPT_KEY,
	OPT_TIMEOUT,
	OPT_BATCH,
	OPT_LEASE,
	OPT_MAX,
	OPT_STDOUT,
	OPT_COMMAND,
	OPT_WEBHOOK,
	OPT_SINK_TIMEOUT,
	OPT_DRY_RUN,
	OPT_QUIET,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"server-key-file", required_argument, NULL, OPT_SERVER_KEY_FILE},
    {"data", required_argument, NULL, OPT_DATA},
    {"key", required_argument, NULL, OPT_KEY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"max", required_argument, NULL, OPT_MAX},
    {"stdout", no_argument, NULL, OPT_STDOUT},
    {"command", required_argument, NULL, OPT_COMMAND},
    {"webhook", required_argument, NULL, OPT_WEBHOOK},
    {"sink-timeout", required_argument, NULL, OPT_SINK_TIMEOUT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

struct cli {
	const char *config;
	/* Overrides, applied over the config file with the same checks. */
	const char *set[16][4]; /* section, key, value, option name */
	size_t n_set;
	struct {
		enum sink_type type;
		const char *target;
	} sinks[MAX_SINKS];
	size_t n_sinks;
	const char *sink_timeout;
	const char *data_dir;
	bool dry_run;
	enum log_level level;
	const char *command;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see " PROG " --help)\n", stderr);
	return EXIT_USAGE;
}

/* Parses argv into cli. Returns -1 to go on, or an exit code. */
static int parse_cli(int argc, char **argv, struct cli *cli)
{
	memset(cli, 0, sizeof *cli);
	cli->level = LOG_LEVEL_INFO;
	static const struct {
		int opt;
		const char *section, *key;
	} map[] = {
	    {OPT_ENDPOINT, "daemon", "endpoint"},
	    {OPT_SERVER_KEY, "daemon", "server_key"},
	    {OPT_SERVER_KEY_FILE, "daemon", "server_key_file"},
	    {OPT_KEY, "daemon", "key"},
	    {OPT_TIMEOUT, "daemon", "timeout_ms"},
	    {OPT_BATCH, "dispatch", "batch"},
	    {OPT_LEASE, "dispatch", "lease_s"},
	    {OPT_MAX, "dispatch", "max_alerts_per_run"},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		bool mapped = false;
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
			if (map[i].opt != c)
				continue;
			if (cli->n_set == sizeof cli->set / sizeof cli->set[0])
				return usage_error("too many options");
			cli->set[cli->n_set][0] = map[i].section;
			cli->set[cli->n_set][1] = map[i].key;
			cli->set[cli->n_set][2] = optarg;
			cli->set[cli->n_set][3] = long_opts[c - OPT_CONFIG].name;
			cli->n_set++;
			mapped = true;
		}
		if (mapped)
			continue;
		switch (c) {
		case OPT_CONFIG: cli->config = optarg; break;
		case OPT_DATA: cli->data_dir = optarg; break;
		case OPT_STDOUT:
		case OPT_COMMAND:
		case OPT_WEBHOOK:
			if (cli->n_sinks == MAX_SINKS)
				return usage_error("too many sinks (at most %d)", MAX_SINKS);
			cli->sinks[cli->n_sinks].type = c == OPT_STDOUT    ? SINK_STDOUT
			                                : c == OPT_COMMAND ? SINK_COMMAND
			                                                   : SINK_WEBHOOK;
			cli->sinks[cli->n_sinks].target = c == OPT_STDOUT ? NULL : optarg;
			cli->n_sinks++;
			break;
		case OPT_SINK_TIMEOUT: cli->sink_timeout = optarg; break;
		case OPT_DRY_RUN: cli->dry_run = true; break;
		case OPT_QUIET: cli->level = LOG_LEVEL_WARN; break;
		case OPT_VERBOSE: cli->level = LOG_LEVEL_DEBUG; break;
		case OPT_HELP: fputs(usage_text, stdout); return EXIT_OK;
		default:
			if (optopt)
				return usage_error("option --%s needs a value or is unknown",
				                   optopt < 256 ? "?"
				                                : long_opts[optopt - 256].name);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		cli->command = argv[optind++];
		if (strcmp(cli->command, "keygen") != 0 && strcmp(cli->command, "pubkey") != 0)
			return usage_error("unknown command '%s'", cli->command);
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return -1;
}

/* The config file (if any), then the command-line overrides, then the
 * defaults still missing. Returns 0 or an exit code. */
static int build_config(const struct cli *cli, struct config *cfg)
{
	config_defaults(cfg);
	const char *path = cli->config;
	if (!path && access(DEFAULT_CONFIG, F_OK) == 0)
		path = DEFAULT_CONFIG;
	if (path && config_load(cfg, path) < 0)
		return EXIT_USAGE;
	for (size_t i = 0; i < cli->n_set; i++) {
		const char *why = NULL;
		int r = strcmp(cli->set[i][0], "daemon") == 0
		            ? set_daemon_key(cfg, cli->set[i][1], cli->set[i][2], &why)
		            : set_dispatch_key(cfg, cli->set[i][1], cli->set[i][2], &why);
		if (r < 0)
			return usage_error("--%s: %s (got \"%s\")", cli->set[i][3], why,
			                   cli->set[i][2]);
		/* The command line's server key replaces the file's, in either form. */
		char **other = strcmp(cli->set[i][1], "server_key") == 0 ? &cfg->server_key_file
		               : strcmp(cli->set[i][1], "server_key_file") == 0 ? &cfg->server_key
		                                                                : NULL;
		if (other) {
			free(*other);
			*other = NULL;
		}
	}
	if (cli->data_dir && !cfg->server_key && !cfg->server_key_file) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/curve.pub", cli->data_dir);
		if (set_str(&cfg->server_key_file, p) < 0)
			return usage_error("out of memory");
	}
	if (!cfg->endpoint && set_str(&cfg->endpoint, DEFAULT_ENDPOINT) < 0)
		return usage_error("out of memory");
	if (cli->n_sinks) {
		for (size_t i = 0; i < cfg->n_sinks; i++)
			sink_clear(&cfg->sinks[i]);
		cfg->n_sinks = 0;
		for (size_t i = 0; i < cli->n_sinks; i++) {
			struct sink *s = &cfg->sinks[cfg->n_sinks++];
			s->type = cli->sinks[i].type;
			snprintf(s->name, sizeof s->name, "--%s", sink_type_names[s->type]);
			s->timeout_s = DEFAULT_SINK_TIMEOUT_S;
			const char *why = NULL;
			const char *key = s->type == SINK_COMMAND ? "command" : "url";
			if (s->type != SINK_STDOUT &&
			    set_sink_key(s, key, cli->sinks[i].target, &why) < 0)
				return usage_error("%s: %s (got \"%s\")", s->name, why,
				                   cli->sinks[i].target);
			if (cli->sink_timeout && s->type != SINK_STDOUT &&
			    set_sink_key(s, "timeout_s", cli->sink_timeout, &why) < 0)
				return usage_error("--sink-timeout: %s (got \"%s\")", why,
				                   cli->sink_timeout);
		}
	} else if (cli->sink_timeout) {
		return usage_error("--sink-timeout applies to --command and --webhook");
	}
	return 0;
}

static int cmd_keygen(const struct config *cfg, bool create)
{
	if (!cfg->key_file)
		return usage_error("no key file: give --key FILE or set key in [daemon]");
	struct keypair kp;
	int r;
	if (create) {
		r = keys_generate(&kp);
		if (r == 0)
			r = keys_save(cfg->key_file, &kp);
		if (r == -EEXIST) {
			fprintf(stderr, PROG ": %s already exists; it is never overwritten\n",
			        cfg->key_file);
			return EXIT_UNDELIVERED;
		}
	} else {
		r = keys_load(cfg->key_file, &kp);
	}
	if (r < 0) {
		fprintf(stderr, PROG ": %s: %s\n", cfg->key_file,
		        r == TF_E_MALFORMED ? "not a key file (64 hex digits)" : tf_strerror(r));
		return EXIT_UNDELIVERED;
	}
	char hex[65];
	keys_pk_hex(&kp, hex);
	sodium_memzero(&kp, sizeof kp);
	printf("%s\n", hex);
	return EXIT_OK;
}

/* Reads a Z85 CURVE key (40 characters, blanks around it ignored). */
static int read_server_key(const char *path, char out[41])
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[128] = "";
	bool ok = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	if (!ok)
		return TF_E_MALFORMED;
	char *s = line + strspn(line, " \t");
	s[strcspn(s, " \t\r\n")] = '\0';
	if (strlen(s) != 40)
		return TF_E_MALFORMED;
	memcpy(out, s, 41);
	return 0;
}

static int cmd_dispatch(const struct config *cfg, bool dry_run)
{
	if (!cfg->key_file)
		return usage_error(
		    "no dispatcher key: give --key FILE or set key in [daemon] of %s",
		    DEFAULT_CONFIG);
	if (!cfg->n_sinks && !dry_run)
		return usage_error(
		    "no sink configured: add a [sink.TYPE] section or give --stdout, "
		    "--command or --webhook");
	char server_key[41] = "";
	if (cfg->server_key) {
		if (strlen(cfg->server_key) != 40)
			return usage_error("server key must be the 40-character Z85 CURVE key");
		memcpy(server_key, cfg->server_key, 41);
	} else if (cfg->server_key_file) {
		int r = read_server_key(cfg->server_key_file, server_key);
		if (r < 0) {
			fprintf(stderr, PROG ": cannot read the server key from %s: %s\n",
			        cfg->server_key_file,
			        r == TF_E_MALFORMED ? "not a 40-character Z85 key"
			                            : tf_strerror(r));
			return EXIT_USAGE;
		}
	}
	struct keypair kp;
	int r = keys_load(cfg->key_file, &kp);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot load the dispatcher key %s: %s\n", cfg->key_file,
		        r == TF_E_MALFORMED ? "not a key file (64 hex digits)" : tf_strerror(r));
		return EXIT_USAGE;
	}
	struct run run = {.cfg = cfg, .dry_run = dry_run};
	r = rpc_open(cfg->endpoint, *server_key ? server_key : NULL, &kp, &run.rpc);
	sodium_memzero(&kp, sizeof kp);
	if (r == -EINVAL)
		return usage_error("bad endpoint '%s' or server key", cfg->endpoint);
	if (r < 0) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", cfg->endpoint, tf_strerror(r));
		return EXIT_DAEMON;
	}
	int ex = run_loop(&run);
	rpc_close(run.rpc);
	return ex;
}

int main(int argc, char **argv)
{
	log_set_name(PROG);
	struct cli cli;
	int ex = parse_cli(argc, argv, &cli);
	if (ex >= 0)
		return ex;
	log_set_level(cli.level);
	if (envelope_init() < 0) {
		fprintf(stderr, PROG ": cannot initialise libsodium\n");
		return EXIT_DAEMON;
	}
	/* A command sink that exits without reading its stdin must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, PROG ": cannot initialise libcurl\n");
		return EXIT_DAEMON;
	}
	struct config cfg;
	ex = build_config(&cli, &cfg);
	if (ex == 0) {
		if (cli.command)
			ex = cmd_keygen(&cfg, strcmp(cli.command, "keygen") == 0);
		else
			ex = cmd_dispatch(&cfg, cli.dry_run);
	}
	config_free(&cfg);
	curl_global_cleanup();
	return ex;
}
