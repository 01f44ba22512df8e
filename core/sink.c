/* Sinks: delivery of one alert to a stdout, command, webhook or mail sink.
 * See sink.h. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "hex.h"
#include "log.h"

extern char **environ;

static const char *const type_names[] = {"stdout", "command", "webhook", "mail"};

const char *sink_type_name(enum sink_type type)
{
	if ((unsigned)type >= sizeof type_names / sizeof type_names[0])
		abort();
	return type_names[type];
}

int sink_type_parse(const char *name, size_t len, enum sink_type *out)
{
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (strlen(type_names[i]) == len && strncmp(name, type_names[i], len) == 0) {
			*out = (enum sink_type)i;
			return 0;
		}
	return -EINVAL;
}

void sink_clear(struct sink *s)
{
	free(s->target);
	free(s->from);
	free(s->to_default);
	curl_slist_free_all(s->headers);
	memset(s, 0, sizeof *s);
}

bool sink_mail_address_ok(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                         ".!#$%&'*+/=?^_`{|}~-@";
	const char *at = strchr(s, '@');
	size_t n = strlen(s);
	return n >= 3 && n <= 254 && strspn(s, ok) == n && at && at != s && at[1] &&
	       !strchr(at + 1, '@');
}

int64_t sink_budget_ms(const struct sink *s)
{
	if (s->type == SINK_STDOUT)
		return 0;
	return (int64_t)s->timeout_s * 1000 + SINK_KILL_GRACE_MS;
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

/* The alert's id as 32 hex digits. Returns 0 or -EINVAL (not 16 bytes: the
 * dispatcher skips such an alert before it gets here). */
static int id_hex(const tf_alert *a, char out[33])
{
	if (a->id.len != 16)
		return -EINVAL;
	hex_encode(a->id.data, 16, out);
	return 0;
}

int sink_alert_json(const tf_alert *a, char **out)
{
	char idhex[33], created[32];
	if (id_hex(a, idhex) < 0)
		return -EINVAL;
	iso_utc(a->created_at, created);
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
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
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

/* ---- running a program ---- */

/* Runs argv (argv[0] an absolute path) with `input` on its stdin and its
 * stdout sent to our stderr (our stdout carries the stdout sink's JSON
 * lines), in its own process group so a timeout kills everything it
 * started. Waits at most timeout_s. Returns 0 if it exited 0; -ENOENT if it
 * exited SINK_EXIT_NO_RECIPIENT (nobody to send to); otherwise TF_E_TIMEOUT
 * or -EIO; the reason in why whenever it is not 0. */
static int spawn_feed(char *const argv[], char *const envp[], const char *input, unsigned timeout_s,
                      char *why, size_t wl)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(why, wl, "pipe: %s", strerror(errno));
		return -EIO;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, wl, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -EIO;
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
			return -EIO;
		}
		int64_t now = clock_mono_ms();
		if (!timed_out && now >= deadline) {
			timed_out = true;
			kill(-pid, SIGTERM);
			deadline = now + SINK_KILL_GRACE_MS;
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
		return TF_E_TIMEOUT;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == SINK_EXIT_NO_RECIPIENT) {
		snprintf(why, wl, "exited with status %d: no recipient for this alert",
		         SINK_EXIT_NO_RECIPIENT);
		return -ENOENT;
	}
	if (WIFEXITED(status))
		snprintf(why, wl, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(why, wl, "killed by signal %d",
		         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -EIO;
}

/* ---- command ---- */

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
		return -ENOMEM;
	}
	char *argv[] = {"/bin/sh", "-c", s->target, NULL};
	char *input = NULL;
	int r = -ENOMEM;
	if (asprintf(&input, "%s\n", json) < 0)
		snprintf(why, wl, "out of memory");
	else
		r = spawn_feed(argv, env, input, s->timeout_s, why, wl);
	free(input);
	free(env);
	return r;
}

/* ---- webhook ---- */

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
		return -ENOMEM;
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
	/* The dispatcher is the only program with sinks: it names itself. */
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_USERAGENT, "tanfang-alert/1");
	if (e == CURLE_OK)
		e = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	if (e == CURLE_OK)
		e = curl_easy_perform(c);
	long code = 0;
	int r = -EIO;
	if (e != CURLE_OK) {
		snprintf(why, wl, "%s", curl_easy_strerror(e));
		r = e == CURLE_OPERATION_TIMEDOUT ? TF_E_TIMEOUT
		    : e == CURLE_OUT_OF_MEMORY    ? -ENOMEM
		                                  : -EIO;
	} else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) {
		snprintf(why, wl, "no HTTP status");
	} else if (code < 200 || code > 299) {
		snprintf(why, wl, "HTTP status %ld", code);
	} else {
		r = 0;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

/* ---- mail ---- */

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
	    {"follow_up", "需跟进"}, {"not_set_up", "“1+2”未落实"}, {"departure", "销册"},
	};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (strcmp(kind, labels[i][0]) == 0)
			return labels[i][1];
	return kind;
}

/* The message for sendmail -t: headers name the recipients, the UTF-8
 * subject is RFC 2047 encoded and the UTF-8 body base64 encoded, so the
 * message is 7-bit clean for any relay. Message-ID carries the alert id so a
 * mail system can recognise a repeat after a failed run. */
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

int sink_mail_message(const struct sink *s, const tf_alert *a, char **out)
{
	char idhex[33];
	if (id_hex(a, idhex) < 0)
		return -EINVAL;
	const char *to[32];
	size_t n_to = 0;
	for (size_t i = 0; i < a->n_contacts && n_to < 32; i++) {
		if (!strchr(a->contacts[i], '@'))
			continue; /* a phone number: the SMS command's business */
		if (sink_mail_address_ok(a->contacts[i]))
			to[n_to++] = a->contacts[i];
		else
			log_warnx("alert %s: contact \"%s\" is not a usable mail address; skipped",
			          idhex, a->contacts[i]);
	}
	if (!n_to && s->to_default)
		to[n_to++] = s->to_default;
	if (!n_to)
		return -ENOENT;
	struct buf m = {0};
	int r = mail_message(s, a, idhex, to, n_to, &m);
	if (r < 0) {
		free(m.p);
		return r;
	}
	*out = m.p;
	return 0;
}

static int deliver_mail(const struct sink *s, const tf_alert *a, char *why, size_t wl)
{
	char *m = NULL;
	int r = sink_mail_message(s, a, &m);
	if (r == -ENOENT) {
		/* Not delivered, and said so (issue 8, item 7): the dispatcher
		 * acknowledges the alert only if another sink delivered it, so an
		 * alert nobody can be reached for stays pending until a contact
		 * (or to-default) is set. */
		snprintf(why, wl, "no mail address among the alert's contacts and no to-default");
		return r;
	}
	if (r < 0) {
		snprintf(why, wl, "out of memory");
		return r;
	}
	char *argv[] = {s->target, "-t", "-i", NULL};
	r = spawn_feed(argv, environ, m, s->timeout_s, why, wl);
	free(m);
	return r;
}

/* ---- stdout ---- */

static int deliver_stdout(const char *json, char *why, size_t wl)
{
	if (puts(json) == EOF || fflush(stdout) == EOF) {
		snprintf(why, wl, "writing to standard output: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

int sink_deliver(const struct sink *s, const tf_alert *a, const char *json, char *why,
                 size_t whylen)
{
	char idhex[33];
	if (id_hex(a, idhex) < 0) {
		snprintf(why, whylen, "the alert id is not 16 bytes");
		return -EINVAL;
	}
	switch (s->type) {
	case SINK_STDOUT: return deliver_stdout(json, why, whylen);
	case SINK_COMMAND: return deliver_command(s, a, idhex, json, why, whylen);
	case SINK_WEBHOOK: return deliver_webhook(s, idhex, json, why, whylen);
	case SINK_MAIL: return deliver_mail(s, a, why, whylen);
	}
	abort(); /* a type outside the enum: programmer error */
}
