/* The dispatcher: its config file (every key, the defaults, each problem
 * reported as file:line), the setters the command line uses, and runs
 * against a real daemon: delivered alerts are acknowledged and never sent
 * again, a failing sink's alert comes back on the next run, a dry run
 * acknowledges nothing, an unknown key and a short lease have their exit
 * codes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "dispatch.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

/* Writes text to a new file in a temporary folder; returns its path
 * (static storage per call). */
static const char *write_conf(const char *text)
{
	static char paths[64][512];
	static size_t n;
	static const char *dir;
	if (!dir)
		dir = tft_tmpdir();
	CHECK(n < 64);
	char *p = paths[n];
	snprintf(p, sizeof paths[0], "%s/c%zu.conf", dir, n);
	n++;
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
	return p;
}

/* Loads text and expects the problem msg at line. */
static void load_fails(const char *text, int code, unsigned line, const char *msg)
{
	const char *path = write_conf(text);
	struct dispatch_config cfg;
	dispatch_config_init(&cfg);
	char err[1024] = "", want[1024];
	CHECK_EQ_INT(dispatch_config_load(&cfg, path, err, sizeof err), code);
	snprintf(want, sizeof want, "%s:%u: %s", path, line, msg);
	CHECK_STREQ(err, want);
	dispatch_config_free(&cfg);
}

static void test_defaults(void)
{
	struct dispatch_config cfg;
	dispatch_config_init(&cfg);
	CHECK(cfg.endpoint == NULL && cfg.key_file == NULL);
	CHECK_EQ_INT(cfg.timeout_ms, 15000);
	CHECK_EQ_INT(cfg.batch, 100);
	CHECK_EQ_INT(cfg.lease_s, 300);
	CHECK_EQ_INT(cfg.max_per_run, 10000);
	CHECK_EQ_INT(cfg.n_sinks, 0);
	dispatch_config_free(&cfg);
}

static void test_load(void)
{
	const char *path = write_conf("# tanfang-alert.conf\n"
	                              "[daemon]\n"
	                              "endpoint = tcp://127.0.0.1:7999\n"
	                              "server_key_file = /var/lib/tanfang/curve.pub\n"
	                              "key = /etc/tanfang/tanfang-alert.key\n"
	                              "timeout_ms = 2500\n"
	                              "\n"
	                              "[dispatch]\n"
	                              "batch = 20\n"
	                              "lease_s = 600\n"
	                              "max_alerts_per_run = 50\n"
	                              "\n"
	                              "[sink.stdout]\n"
	                              "\n"
	                              "[sink.command.sms]\n"
	                              "command = /usr/local/bin/sms --to \"$X\"\n"
	                              "timeout_s = 30\n"
	                              "[sink.webhook]\n"
	                              "url = https://duty.example.org/hook\n"
	                              "header = Authorization: Bearer abc\n"
	                              "header = X-Site: 扎赉特旗\n"
	                              "[sink.mail.office]\n"
	                              "from = tanfang@example.org\n"
	                              "to-default = office@example.org\n");
	struct dispatch_config cfg;
	dispatch_config_init(&cfg);
	char err[1024] = "";
	CHECK_OK(dispatch_config_load(&cfg, path, err, sizeof err));
	CHECK_STREQ(cfg.endpoint, "tcp://127.0.0.1:7999");
	CHECK_STREQ(cfg.server_key_file, "/var/lib/tanfang/curve.pub");
	CHECK(cfg.server_key == NULL);
	CHECK_STREQ(cfg.key_file, "/etc/tanfang/tanfang-alert.key");
	CHECK_EQ_INT(cfg.timeout_ms, 2500);
	CHECK_EQ_INT(cfg.batch, 20);
	CHECK_EQ_INT(cfg.lease_s, 600);
	CHECK_EQ_INT(cfg.max_per_run, 50);
	CHECK_EQ_INT(cfg.n_sinks, 4);

	const struct sink *s = &cfg.sinks[0];
	CHECK_EQ_INT(s->type, SINK_STDOUT);
	CHECK_STREQ(s->name, "sink.stdout");
	CHECK_EQ_INT(s->line, 13);

	s = &cfg.sinks[1];
	CHECK_EQ_INT(s->type, SINK_COMMAND);
	CHECK_STREQ(s->name, "sink.command.sms");
	CHECK_STREQ(s->target, "/usr/local/bin/sms --to \"$X\"");
	CHECK_EQ_INT(s->timeout_s, 30);
	CHECK_EQ_INT(s->line, 15);

	s = &cfg.sinks[2];
	CHECK_EQ_INT(s->type, SINK_WEBHOOK);
	CHECK_STREQ(s->target, "https://duty.example.org/hook");
	CHECK_EQ_INT(s->timeout_s, 10);
	CHECK(s->headers != NULL && s->headers->next != NULL && !s->headers->next->next);
	CHECK_STREQ(s->headers->data, "Authorization: Bearer abc");
	CHECK_STREQ(s->headers->next->data, "X-Site: 扎赉特旗");

	s = &cfg.sinks[3];
	CHECK_EQ_INT(s->type, SINK_MAIL);
	CHECK_STREQ(s->name, "sink.mail.office");
	CHECK_STREQ(s->target, "/usr/sbin/sendmail"); /* the default */
	CHECK_STREQ(s->from, "tanfang@example.org");
	CHECK_STREQ(s->to_default, "office@example.org");
	dispatch_config_free(&cfg);
	CHECK_EQ_INT(cfg.n_sinks, 0);
}

static void test_load_errors(void)
{
	struct dispatch_config cfg;
	dispatch_config_init(&cfg);
	char err[1024] = "", want[1024];
	char missing[600];
	snprintf(missing, sizeof missing, "%s/none.conf", tft_tmpdir());
	CHECK_EQ_INT(dispatch_config_load(&cfg, missing, err, sizeof err), -ENOENT);
	snprintf(want, sizeof want, "cannot read %s: %s", missing, strerror(ENOENT));
	CHECK_STREQ(err, want);
	dispatch_config_free(&cfg);

	static const struct {
		const char *text;
		unsigned line;
		const char *msg;
	} cases[] = {
	    {"[daemon]\nendpoint = tcp://x:1\n\n[foo]\n", 4,
	     "[foo]: unknown section (expected [daemon], [dispatch] or [sink.TYPE])"},
	    {"[dispatch]\nbatch = 0\n", 2,
	     "[dispatch] batch: expected a number from 1 to 1000 (got \"0\")"},
	    {"[dispatch]\nbatch = 1001\n", 2,
	     "[dispatch] batch: expected a number from 1 to 1000 (got \"1001\")"},
	    {"[dispatch]\nlease_s = 9\n", 2,
	     "[dispatch] lease_s: expected seconds from 10 to 86400 (got \"9\")"},
	    {"[dispatch]\nmax_alerts_per_run = -1\n", 2,
	     "[dispatch] max_alerts_per_run: expected a number from 1 to 1000000 (got \"-1\")"},
	    {"[daemon]\ntimeout_ms = 99\n", 2,
	     "[daemon] timeout_ms: expected milliseconds from 100 to 600000 (got \"99\")"},
	    {"[daemon]\nendpoint =\n", 2, "[daemon] endpoint: must not be empty (got \"\")"},
	    {"[daemon]\nbatch = 5\n", 2, "[daemon] batch: unknown key (got \"5\")"},
	    {"batch = 5\n[dispatch]\n", 1, "batch: key before any [section]"},
	    {"[sink.sms]\n", 1,
	     "[sink.sms]: unknown sink type (expected sink.stdout, sink.command, "
	     "sink.webhook or sink.mail)"},
	    {"[sink.command.]\n", 1, "[sink.command.]: empty sink name after the type"},
	    {"[sink.stdout]\n[sink.stdout]\n", 2, "[sink.stdout]: section appears twice"},
	    {"[sink.stdout]\ntimeout_s = 5\n", 2,
	     "[sink.stdout] timeout_s: unknown key for this sink type (got \"5\")"},
	    {"[sink.command]\ntimeout_s = 3601\ncommand = true\n", 2,
	     "[sink.command] timeout_s: expected seconds from 1 to 3600 (got \"3601\")"},
	    {"[daemon]\n\n[sink.command]\ntimeout_s = 5\n", 3,
	     "[sink.command]: needs command = ..."},
	    {"[sink.webhook.a]\n", 1, "[sink.webhook.a]: needs url = ..."},
	    {"[sink.webhook]\nurl = ftp://example.org/\n", 2,
	     "[sink.webhook] url: expected an http:// or https:// URL (got "
	     "\"ftp://example.org/\")"},
	    {"[sink.webhook]\nurl = http://x/\nheader = no colon\n", 3,
	     "[sink.webhook] header: expected 'Name: value' (got \"no colon\")"},
	    {"[sink.webhook]\nurl = http://x/\nheader = Bad Name: v\n", 3,
	     "[sink.webhook] header: expected 'Name: value' (got \"Bad Name: v\")"},
	    {"[sink.mail]\nsendmail = sendmail\n", 2,
	     "[sink.mail] sendmail: expected an absolute path (got \"sendmail\")"},
	    {"[sink.mail]\nfrom = a@example.org, b@example.org\n", 2,
	     "[sink.mail] from: expected a bare mail address such as tanfang@example.org "
	     "(got \"a@example.org, b@example.org\")"},
	    {"[sink.mail]\nto_default = nobody\n", 2,
	     "[sink.mail] to_default: expected a bare mail address such as "
	     "duty@example.org (got \"nobody\")"},
	    {"[dispatch]\nthis is not ini\n", 2,
	     "syntax error (expected [section] or key = value)"},
	    /* A key under a refused section is not reported again. */
	    {"[sink.sms]\ncommand = x\n", 1,
	     "[sink.sms]: unknown sink type (expected sink.stdout, sink.command, "
	     "sink.webhook or sink.mail)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		load_fails(cases[i].text, -EINVAL, cases[i].line, cases[i].msg);

	char many[2048] = "";
	for (int i = 0; i <= DISPATCH_MAX_SINKS; i++) {
		char sec[64];
		snprintf(sec, sizeof sec, "[sink.stdout.s%d]\n", i);
		strcat(many, sec);
	}
	load_fails(many, -EINVAL, DISPATCH_MAX_SINKS + 1,
	           "[sink.stdout.s16]: too many sinks (at most 16)");

	char longline[2100];
	memset(longline, 'x', sizeof longline - 2);
	memcpy(longline, "[daemon]\nkey = ", 15);
	longline[sizeof longline - 2] = '\n';
	longline[sizeof longline - 1] = '\0';
	const char *path = write_conf(longline);
	dispatch_config_init(&cfg);
	CHECK_EQ_INT(dispatch_config_load(&cfg, path, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "%s:2: line longer than", path);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	dispatch_config_free(&cfg);
}

static void test_setters(void)
{
	struct dispatch_config cfg;
	dispatch_config_init(&cfg);
	const char *why = NULL;
	CHECK_OK(dispatch_config_set(&cfg, "daemon", "endpoint", "tcp://127.0.0.1:1", &why));
	CHECK_STREQ(cfg.endpoint, "tcp://127.0.0.1:1");
	CHECK_OK(dispatch_config_set(&cfg, "daemon", "endpoint", "tcp://127.0.0.1:2", &why));
	CHECK_STREQ(cfg.endpoint, "tcp://127.0.0.1:2");
	CHECK_OK(dispatch_config_set(&cfg, "dispatch", "lease_s", "10", &why));
	CHECK_EQ_INT(cfg.lease_s, 10);
	CHECK_EQ_INT(dispatch_config_set(&cfg, "dispatch", "lease_s", "10s", &why), -EINVAL);
	CHECK_STREQ(why, "expected seconds from 10 to 86400");
	CHECK_EQ_INT(cfg.lease_s, 10);
	CHECK_EQ_INT(dispatch_config_set(&cfg, "dispatch", "endpoint", "x", &why), -EINVAL);
	CHECK_STREQ(why, "unknown key");
	CHECK_EQ_INT(dispatch_config_set(&cfg, "sink.stdout", "x", "y", &why), -EINVAL);

	struct sink *s = NULL;
	CHECK_OK(dispatch_config_add_sink(&cfg, SINK_COMMAND, "--command", 0, &s));
	CHECK(s == &cfg.sinks[0]);
	CHECK_EQ_INT(s->timeout_s, 10);
	CHECK_EQ_INT(dispatch_sink_set(s, "url", "http://x/", &why), -EINVAL);
	CHECK_STREQ(why, "unknown key for this sink type");
	CHECK_EQ_INT(dispatch_sink_set(s, "command", "", &why), -EINVAL);
	CHECK_STREQ(why, "must not be empty");
	CHECK_OK(dispatch_sink_set(s, "command", "true", &why));
	CHECK_OK(dispatch_sink_set(s, "timeout_s", "1", &why));
	CHECK_EQ_INT(s->timeout_s, 1);
	CHECK_EQ_INT(dispatch_config_add_sink(&cfg, SINK_STDOUT,
	                                      "sink.stdout.a-name-much-too-long-for-the-eighty-"
	                                      "characters-a-sink-name-may-have-in-the-struct",
	                                      0, &s),
	             -ENAMETOOLONG);
	for (size_t i = cfg.n_sinks; i < DISPATCH_MAX_SINKS; i++)
		CHECK_OK(dispatch_config_add_sink(&cfg, SINK_STDOUT, "--stdout", 0, &s));
	CHECK_EQ_INT(dispatch_config_add_sink(&cfg, SINK_STDOUT, "--stdout", 0, &s), -ENOSPC);
	dispatch_config_clear_sinks(&cfg);
	CHECK_EQ_INT(cfg.n_sinks, 0);
	dispatch_config_free(&cfg);
}

/* ---- runs against a real daemon ---- */

static struct tft_daemon d;
static struct keypair dispatcher;

static void send_fall(struct rpc *w, const char *elder)
{
	uint8_t eid[16];
	tft_random_id(eid);
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = eid;
	ev.id.len = 16;
	ev.elder_id = (char *)elder;
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_FALL;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_WARNING;
	ev.occurred_at = clock_now() - 60;
	ev.note = "在院子里摔倒";
	tf_request req;
	tft_event_request(&req, &ev);
	CHECK_STATUS(tft_call(w, &req, NULL), OK);
}

/* Lines in path holding needle; 0 if the file does not exist. */
static size_t count_lines(const char *path, const char *needle)
{
	char *s = tft_read_file(path, NULL);
	size_t n = 0;
	for (char *p = s; p && *p;) {
		char *e = strchr(p, '\n');
		CHECK(e != NULL); /* every alert ends with a newline */
		*e = '\0';
		n += strstr(p, needle) != NULL;
		p = e + 1;
	}
	free(s);
	return n;
}

/* A config for d whose only sink is the command cmd. */
static void run_config(struct dispatch_config *cfg, const char *cmd)
{
	dispatch_config_init(cfg);
	const char *why = NULL;
	CHECK_OK(dispatch_config_set(cfg, "daemon", "endpoint", d.endpoint, &why));
	CHECK_OK(dispatch_config_set(cfg, "daemon", "timeout_ms", "10000", &why));
	if (cmd) {
		struct sink *s;
		CHECK_OK(dispatch_config_add_sink(cfg, SINK_COMMAND, "--command", 0, &s));
		CHECK_OK(dispatch_sink_set(s, "command", cmd, &why));
		CHECK_OK(dispatch_sink_set(s, "timeout_s", "5", &why));
	}
}

static enum dispatch_exit run_once(const struct dispatch_config *cfg, const struct keypair *kp,
                                   bool dry_run)
{
	struct rpc *r;
	tft_rpc(&d, kp, &r);
	enum dispatch_exit ex = dispatch_run(cfg, r, dry_run);
	rpc_close(r);
	return ex;
}

static void test_runs(void)
{
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	tft_put_visitor(admin, "w1", "网格员一", ROLE(GRID_WORKER), "152223");
	tft_put_visitor(admin, "d1", "派发", ROLE(DISPATCHER), "152223");
	struct keypair worker;
	CHECK_OK(keys_generate(&worker));
	CHECK_OK(keys_generate(&dispatcher));
	tft_enrol(admin, worker.pk, "w1");
	tft_enrol(admin, dispatcher.pk, "d1");
	tft_put_elder(admin, "e1", "老人一", "152223", CAT(LIVING_ALONE));
	tft_put_elder(admin, "e2", "老人二", "152223");
	rpc_close(admin);
	struct rpc *w;
	tft_rpc(&d, &worker, &w);

	char out[600], cmd[700];
	snprintf(out, sizeof out, "%s/delivered", tft_tmpdir());
	snprintf(cmd, sizeof cmd, "cat >> '%s'", out);
	const char *fall = "\"kind\":\"urgent_event\",\"elder_id\":\"e1\"";

	/* A key the daemon does not know: exit 3, nothing delivered. */
	struct dispatch_config cfg;
	run_config(&cfg, cmd);
	struct keypair stranger;
	CHECK_OK(keys_generate(&stranger));
	send_fall(w, "e1");
	CHECK_EQ_INT(run_once(&cfg, &stranger, false), DISPATCH_EXIT_DAEMON);
	CHECK_EQ_INT(count_lines(out, "\"id\""), 0);

	/* Delivered once, acknowledged: the next run has nothing. */
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall), 1);
	size_t all = count_lines(out, "\"id\"");
	CHECK(all >= 1);
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, "\"id\""), all);
	dispatch_config_free(&cfg);

	/* A failing sink: exit 1, and the alert comes back next run. Small
	 * batches, so the run fetches more than once. */
	send_fall(w, "e1");
	send_fall(w, "e1");
	send_fall(w, "e1");
	run_config(&cfg, "cat > /dev/null; exit 1");
	const char *why;
	CHECK_OK(dispatch_config_set(&cfg, "dispatch", "batch", "2", &why));
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_UNDELIVERED);
	dispatch_config_free(&cfg);
	CHECK_EQ_INT(count_lines(out, fall), 1);

	/* A dry run prints them (on stdout, see e2e-dispatch.sh) and
	 * acknowledges nothing: the runs below deliver all three. */
	run_config(&cfg, NULL);
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, true), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall), 1);
	dispatch_config_free(&cfg);

	/* max_alerts_per_run: two now, the third on the next run. */
	run_config(&cfg, cmd);
	CHECK_OK(dispatch_config_set(&cfg, "dispatch", "max_alerts_per_run", "2", &why));
	CHECK_OK(dispatch_config_set(&cfg, "dispatch", "batch", "1", &why));
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall), 3);
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall), 4);
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall), 4);
	dispatch_config_free(&cfg);

	/* A lease shorter than one delivery may take (10 s < 1 s + 10 s + the
	 * kill grace): nothing is delivered, the alert is left for later. */
	send_fall(w, "e1");
	run_config(&cfg, cmd);
	CHECK_OK(dispatch_config_set(&cfg, "dispatch", "lease_s", "10", &why));
	CHECK_OK(dispatch_sink_set(&cfg.sinks[0], "timeout_s", "10", &why));
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_UNDELIVERED);
	CHECK_EQ_INT(count_lines(out, fall), 4);
	dispatch_config_free(&cfg);

	/* A sink with nobody to send an alert to (exit 67: no phone number)
	 * delivers nothing: the alert is kept, run after run, never
	 * acknowledged (issue 8, item 7). */
	const char *fall2 = "\"kind\":\"urgent_event\",\"elder_id\":\"e2\"";
	send_fall(w, "e2");
	run_config(&cfg, "cat > /dev/null; exit 67");
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_UNDELIVERED);
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_UNDELIVERED);
	CHECK_EQ_INT(count_lines(out, fall2), 0);
	/* With a second sink that delivers it, it is delivered, once. */
	struct sink *s2;
	CHECK_OK(dispatch_config_add_sink(&cfg, SINK_COMMAND, "--command", 0, &s2));
	CHECK_OK(dispatch_sink_set(s2, "command", cmd, &why));
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall2), 1);
	CHECK_EQ_INT(run_once(&cfg, &dispatcher, false), DISPATCH_EXIT_OK);
	CHECK_EQ_INT(count_lines(out, fall2), 1);
	dispatch_config_free(&cfg);

	rpc_close(w);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
}

int main(void)
{
	/* What tanfang-alert sets up once (sink.h). */
	signal(SIGPIPE, SIG_IGN);
	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
	test_defaults();
	test_load();
	test_load_errors();
	test_setters();
	test_runs();
	curl_global_cleanup();
	return tft_done();
}
