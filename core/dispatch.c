/* The alert dispatcher: configuration file and the fetch / deliver / ack
 * run. See dispatch.h. */
#include "dispatch.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "clock.h"
#include "hex.h"
#include "log.h"
#include "reqcheck.h"
#include "wire.h"

#define DEFAULT_TIMEOUT_MS     15000
#define DEFAULT_BATCH          100
#define DEFAULT_LEASE_S        300
#define DEFAULT_MAX_PER_RUN    10000
#define DEFAULT_SINK_TIMEOUT_S 10
#define DEFAULT_SENDMAIL       "/usr/sbin/sendmail"
#define ACK_ATTEMPTS           3

/* ---- configuration ---- */

void dispatch_config_init(struct dispatch_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->batch = DEFAULT_BATCH;
	cfg->lease_s = DEFAULT_LEASE_S;
	cfg->max_per_run = DEFAULT_MAX_PER_RUN;
}

void dispatch_config_clear_sinks(struct dispatch_config *cfg)
{
	for (size_t i = 0; i < cfg->n_sinks; i++)
		sink_clear(&cfg->sinks[i]);
	cfg->n_sinks = 0;
}

void dispatch_config_free(struct dispatch_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->server_key);
	free(cfg->server_key_file);
	free(cfg->key_file);
	dispatch_config_clear_sinks(cfg);
	memset(cfg, 0, sizeof *cfg);
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

int dispatch_config_add_sink(struct dispatch_config *cfg, enum sink_type type, const char *name,
                             unsigned line, struct sink **out)
{
	if (cfg->n_sinks == DISPATCH_MAX_SINKS)
		return -ENOSPC;
	if (strlen(name) >= sizeof cfg->sinks[0].name)
		return -ENAMETOOLONG;
	struct sink *s = &cfg->sinks[cfg->n_sinks++];
	memset(s, 0, sizeof *s);
	s->type = type;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->timeout_s = DEFAULT_SINK_TIMEOUT_S;
	s->line = line;
	*out = s;
	return 0;
}

/* Adds a sink of the type named in `section` ("sink.TYPE" or
 * "sink.TYPE.NAME"). Returns the sink, or NULL with *why set. */
static struct sink *section_sink(struct dispatch_config *cfg, const char *section, unsigned line,
                                 const char **why)
{
	const char *t = section + 5;
	size_t tl = strcspn(t, ".");
	if (t[tl] == '.' && !t[tl + 1])
		return *why = "empty sink name after the type", NULL;
	enum sink_type type;
	if (sink_type_parse(t, tl, &type) < 0)
		return *why = "unknown sink type (expected sink.stdout, sink.command, "
		              "sink.webhook or sink.mail)",
		       NULL;
	for (size_t i = 0; i < cfg->n_sinks; i++)
		if (strcmp(cfg->sinks[i].name, section) == 0)
			return *why = "section appears twice", NULL;
	struct sink *s = NULL;
	int r = dispatch_config_add_sink(cfg, type, section, line, &s);
	if (r == -ENOSPC)
		return *why = "too many sinks (at most 16)", NULL;
	if (r < 0)
		return *why = "section name too long", NULL;
	return s;
}

static int set_daemon_key(struct dispatch_config *cfg, const char *key, const char *value,
                          const char **why)
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

static int set_dispatch_key(struct dispatch_config *cfg, const char *key, const char *value,
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

int dispatch_config_set(struct dispatch_config *cfg, const char *section, const char *key,
                        const char *value, const char **why)
{
	if (strcmp(section, "daemon") == 0)
		return set_daemon_key(cfg, key, value, why);
	if (strcmp(section, "dispatch") == 0)
		return set_dispatch_key(cfg, key, value, why);
	return *why = "unknown section", -EINVAL;
}

int dispatch_sink_set(struct sink *s, const char *key, const char *value, const char **why)
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
		if (!sink_mail_address_ok(value))
			return *why = "expected a bare mail address such as tanfang@example.org",
			       -EINVAL;
		dst = &s->from;
	} else if (s->type == SINK_MAIL &&
	           (strcmp(key, "to-default") == 0 || strcmp(key, "to_default") == 0)) {
		if (!sink_mail_address_ok(value))
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
	unsigned line;
	struct dispatch_config *cfg;
	char section[128];
	struct sink *sink; /* the current section's sink, if it is one */
	unsigned err_line;
	int err_code;
	char err[512];
};

static void parse_error(struct parse *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void parse_error(struct parse *p, int code, const char *fmt, ...)
{
	if (p->err_line)
		return;
	p->err_line = p->line ? p->line : 1;
	p->err_code = code;
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
		p->sink = section_sink(p->cfg, name, p->line, &why);
	} else if (strcmp(name, "daemon") != 0 && strcmp(name, "dispatch") != 0) {
		why = "unknown section (expected [daemon], [dispatch] or [sink.TYPE])";
	}
	if (why)
		parse_error(p, -EINVAL, "[%s]: %s", name, why);
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
		parse_error(p, -EINVAL, "line longer than %d characters", num - 2);
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
		r = dispatch_sink_set(p->sink, key, value, &why);
	else if (!*section)
		r = (why = "key before any [section]", -EINVAL);
	else
		r = dispatch_config_set(p->cfg,
		                        strcmp(section, "daemon") == 0 ? "daemon" : "dispatch", key,
		                        value, &why);
	if (r < 0) {
		if (*section)
			parse_error(p, r, "[%s] %s: %s (got \"%s\")", section, key, why, value);
		else
			parse_error(p, r, "%s: %s", key, why);
		return 0;
	}
	return 1;
}

int dispatch_config_load(struct dispatch_config *cfg, const char *path, char *err, size_t errlen)
{
	struct parse p = {.cfg = cfg};
	p.f = fopen(path, "re");
	if (!p.f) {
		int e = errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	int r = ini_parse_stream(read_line, &p, on_key, &p);
	fclose(p.f);
	if (!p.err_line && r > 0) {
		p.line = (unsigned)r;
		parse_error(&p, -EINVAL, "syntax error (expected [section] or key = value)");
	}
	if (!p.err_line && r < 0)
		parse_error(&p, -ENOMEM, "out of memory");
	for (size_t i = 0; !p.err_line && i < cfg->n_sinks; i++) {
		const char *why;
		int c = sink_check(&cfg->sinks[i], &why);
		if (c < 0) {
			p.line = cfg->sinks[i].line;
			parse_error(&p, c, "[%s]: %s", cfg->sinks[i].name, why);
		}
	}
	if (p.err_line) {
		snprintf(err, errlen, "%s:%u: %s", path, p.err_line, p.err);
		return p.err_code;
	}
	return 0;
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
		/* v first: if growing bytes then fails, v still points into the
		 * old bytes, which stay valid. */
		ProtobufCBinaryData *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		l->v = v;
		uint8_t(*b)[16] = realloc(l->bytes, cap * sizeof *b);
		if (!b)
			return -ENOMEM;
		l->bytes = b;
		l->cap = cap;
		/* bytes may have moved: point every entry at its current copy
		 * (once per growth, not per entry: a run may hold many). */
		for (size_t i = 0; i < l->n; i++)
			l->v[i].data = l->bytes[i], l->v[i].len = 16;
	}
	memcpy(l->bytes[l->n], id, 16);
	l->v[l->n].data = l->bytes[l->n], l->v[l->n].len = 16;
	l->n++;
	return 0;
}

static void idlist_free(struct idlist *l)
{
	free(l->v);
	free(l->bytes);
	memset(l, 0, sizeof *l);
}

struct run {
	const struct dispatch_config *cfg;
	struct rpc *rpc;
	bool dry_run;
	size_t fetched, delivered, failed, skipped;
};

/* Logs why a call got no usable reply. Returns DISPATCH_EXIT_DAEMON. */
static int daemon_problem(const struct run *run, const char *what, int rc, const tf_reply *rep)
{
	if (rc == TF_E_TIMEOUT)
		log_errorx("%s: no reply from %s within %d ms (is tanfangd running, and is the "
		           "server key its curve.pub?)",
		           what, run->cfg->endpoint, run->cfg->timeout_ms);
	else if (rc < 0)
		log_errorx("%s: %s", what, tf_strerror(rc));
	else if (rep->status == TANFANG__V1__STATUS__STATUS_UNKNOWN_SIGNER)
		log_errorx("%s: the daemon does not know this key (enrol its public key, "
		           "`tanfang-alert pubkey`, for a visitor with role dispatcher): %s",
		           what, rep->detail);
	else
		log_errorx("%s: refused: %s%s%s", what, wire_status_name(rep->status),
		           *rep->detail ? ": " : "", rep->detail);
	return DISPATCH_EXIT_DAEMON;
}

/* One AlertsAck: n_ids delivered, n_failed released. Retried, since an
 * ack may be repeated safely. Returns 0 or DISPATCH_EXIT_DAEMON. */
static int ack_one(struct run *run, ProtobufCBinaryData *ids, size_t n_ids,
                   ProtobufCBinaryData *failed, size_t n_failed)
{
	Tanfang__V1__AlertsAck ak = TANFANG__V1__ALERTS_ACK__INIT;
	ak.ids = ids, ak.n_ids = n_ids;
	ak.failed = failed, ak.n_failed = n_failed;
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
	return ex;
}

/* Acknowledges: ids delivered (retired for good), failed released for the
 * next run; in requests of at most REQCHECK_ACK_MAX of each, the daemon's
 * bound (a run may hold up to max_alerts_per_run failed ones). Returns 0 or
 * DISPATCH_EXIT_DAEMON. */
static int ack(struct run *run, const struct idlist *ids, const struct idlist *failed)
{
	size_t i = 0, f = 0;
	int ex = 0;
	while (!ex && (i < ids->n || f < failed->n)) {
		size_t ni = ids->n - i < REQCHECK_ACK_MAX ? ids->n - i : REQCHECK_ACK_MAX;
		size_t nf = failed->n - f < REQCHECK_ACK_MAX ? failed->n - f : REQCHECK_ACK_MAX;
		ex = ack_one(run, ids->v + i, ni, failed->v + f, nf);
		if (!ex)
			i += ni, f += nf;
	}
	if (i < ids->n)
		log_warnx("%zu delivered alerts could not be acknowledged; they will be sent "
		          "again once their lease ends",
		          ids->n - i);
	return ex;
}

/* Hands one alert to every sink, stopping at the first that fails (the
 * alert is retried as a whole, so a later sink would see it twice). A sink
 * with nobody to deliver this alert to (-ENOENT: no phone number for the SMS
 * command, no mail address for the mail sink) is no failure of that sink,
 * but an alert counts as delivered only if some sink delivered it: one that
 * reached nobody is kept for the next run, never acknowledged (issue 8,
 * item 7: "1+2 not set up" alerts for a village without a contact were
 * acknowledged and lost). Returns 0 if delivered, -ENOENT if no sink had
 * anyone to deliver it to, else the failed sink's code. */
static int deliver(const struct dispatch_config *cfg, const tf_alert *a, const char *idhex,
                   const char *json)
{
	bool delivered = false;
	char nobody[512] = "";
	for (size_t i = 0; i < cfg->n_sinks; i++) {
		const struct sink *s = &cfg->sinks[i];
		char why[256] = "";
		int r = sink_deliver(s, a, json, why, sizeof why);
		if (r == -ENOENT) {
			size_t l = strlen(nobody);
			snprintf(nobody + l, sizeof nobody - l, "%s[%s] %s", l ? "; " : "", s->name,
			         why);
			continue;
		}
		if (r < 0) {
			log_warnx(
			    "alert %s (%s, elder %s): [%s] failed: %s; retried on the next run",
			    idhex, a->kind, a->elder_id, s->name, why);
			return r;
		}
		delivered = true;
	}
	if (*nobody && delivered)
		log_debug("alert %s: %s", idhex, nobody);
	if (delivered)
		return 0;
	log_warnx("alert %s (%s, elder %s, area %s) reached nobody: %s; kept for the next run "
	          "(give the area, its supervisor or the visitors a contact)",
	          idhex, a->kind, a->elder_id, a->area, nobody);
	return -ENOENT;
}

/* Worst-case time to deliver one alert, for the lease check. */
static int64_t deliver_budget_ms(const struct dispatch_config *cfg)
{
	int64_t ms = 1000;
	for (size_t i = 0; i < cfg->n_sinks; i++)
		ms += sink_budget_ms(&cfg->sinks[i]);
	return ms;
}

/* Delivers one fetched batch. Returns 0 or DISPATCH_EXIT_DAEMON (the ack
 * failed). *stop is set when the run should not fetch again. */
static int run_batch(struct run *run, tf_alert **alerts, size_t n, int64_t fetched_ms,
                     struct idlist *held, bool *stop)
{
	const struct dispatch_config *cfg = run->cfg;
	/* A dry run prints what a stdout sink would. */
	static const struct sink dry = {.type = SINK_STDOUT, .name = "--dry-run"};
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
		char *json = NULL;
		if (sink_alert_json(a, &json) < 0) {
			log_warnx("out of memory");
			ex = DISPATCH_EXIT_UNDELIVERED;
			break;
		}
		int r;
		if (run->dry_run) {
			char why[256];
			if (sink_deliver(&dry, a, json, why, sizeof why) < 0) {
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
			ex = DISPATCH_EXIT_UNDELIVERED;
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

enum dispatch_exit dispatch_run(const struct dispatch_config *cfg, struct rpc *rpc, bool dry_run)
{
	struct run run = {.cfg = cfg, .rpc = rpc, .dry_run = dry_run};
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
		int rc = rpc_call(run.rpc, &req, cfg->timeout_ms, &rep);
		if (rc < 0 || rep->status != TANFANG__V1__STATUS__STATUS_OK) {
			ex = daemon_problem(&run, "fetching alerts", rc, rep);
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
		ex = run_batch(&run, alerts, n, fetched_ms, &held, &stop);
		wire_free(WIRE_REPLY, rep);
		if (ex)
			break;
	}
	struct idlist none = {0};
	int rex = ack(&run, &none, &held);
	if (rex && held.n)
		log_warnx("%zu alerts could not be released; they are retried once their lease "
		          "of %u s ends",
		          held.n, cfg->lease_s);
	idlist_free(&held);
	if (!ex)
		ex = rex;
	if (!ex && (run.failed || run.skipped))
		ex = DISPATCH_EXIT_UNDELIVERED;
	if (run.fetched)
		log_info("%s%zu alerts fetched, %zu delivered, %zu failed, %zu left for later",
		         run.dry_run ? "dry run: " : "", run.fetched, run.delivered, run.failed,
		         run.skipped);
	return (enum dispatch_exit)ex;
}
