/* dconfig: defaults, every key, and refusals that name file:line and key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dconfig.h"
#include "tf_test.h"

static const char *dir;

static const char *write_conf(const char *name, const char *text)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
	return path;
}

static void test_defaults(void)
{
	struct dconfig c;
	dconfig_defaults(&c);
	CHECK_STREQ(c.data_dir, "/var/lib/tanfang");
	CHECK_STREQ(c.listen, "tcp://127.0.0.1:7480");
	CHECK_EQ_INT(c.workers, sysconf(_SC_NPROCESSORS_ONLN));
	CHECK_EQ_INT(c.batch_max, 256);
	CHECK_EQ_INT(c.max_message_size, 1048576);
	CHECK_EQ_INT(c.map_size_mb, 4096);
	CHECK_EQ_INT(c.curve, DCONFIG_CURVE_AUTO);
	CHECK_EQ_INT(dconfig_curve_on(&c), 1); /* tcp endpoint: CURVE on */
	CHECK_STREQ(c.policy, "");
	CHECK_STREQ(c.timezone, "Asia/Shanghai");
	CHECK_EQ_INT(c.log_level, LOG_LEVEL_INFO);
	CHECK_EQ_INT(c.checkpoint_interval_s, 300);
	CHECK_EQ_INT(c.ingest.max_skew_s, 0);
	CHECK_EQ_INT(c.ingest.burst_count, 0);
}

static void test_full_file(void)
{
	const char *path =
	    write_conf("full.conf", "; a comment\n"
	                            "[daemon]\n"
	                            "data_dir = /srv/tanfang\n"
	                            "listen = tcp://0.0.0.0:7480, ipc:///run/tanfang/sock\n"
	                            "workers = 3\n"
	                            "batch_max = 512\n"
	                            "max_message_size = 65536\n"
	                            "map_size_mb = 128\n"
	                            "curve = no\n"
	                            "policy = /etc/tanfang/policy.conf\n"
	                            "timezone = Asia/Urumqi\n"
	                            "log_level = debug\n"
	                            "checkpoint_interval_s = 0\n"
	                            "\n"
	                            "[ingest]\n"
	                            "max_skew_s = 120\n"
	                            "future_flag_s = 600\n"
	                            "old_flag_s = 86400\n"
	                            "far_flag_m = 1500.5\n"
	                            "burst_count = 20\n"
	                            "burst_window_s = 1800\n"
	                            "\n"
	                            "[alerts]\n"
	                            "escalate_after_days = 3\n"
	                            "follow_up_days = 10\n"
	                            "sweep_max = 500\n");
	struct dconfig c;
	char err[600] = "";
	CHECK_OK(dconfig_load(path, &c, err, sizeof err));
	CHECK_STREQ(c.data_dir, "/srv/tanfang");
	CHECK_EQ_INT(c.workers, 3);
	CHECK_EQ_INT(c.batch_max, 512);
	CHECK_EQ_INT(c.max_message_size, 65536);
	CHECK_EQ_INT(c.map_size_mb, 128);
	CHECK_EQ_INT(c.curve, DCONFIG_CURVE_NO);
	CHECK_EQ_INT(dconfig_curve_on(&c), 0);
	CHECK_STREQ(c.policy, "/etc/tanfang/policy.conf");
	CHECK_STREQ(c.timezone, "Asia/Urumqi");
	CHECK_EQ_INT(c.log_level, LOG_LEVEL_DEBUG);
	CHECK_EQ_INT(c.checkpoint_interval_s, 0);
	CHECK_EQ_INT(c.ingest.max_skew_s, 120);
	CHECK_EQ_INT(c.ingest.future_flag_s, 600);
	CHECK_EQ_INT(c.ingest.old_flag_s, 86400);
	CHECK(c.ingest.far_flag_m > 1500.4 && c.ingest.far_flag_m < 1500.6);
	CHECK_EQ_INT(c.ingest.burst_count, 20);
	CHECK_EQ_INT(c.ingest.burst_window_s, 1800);
	CHECK_EQ_INT(c.ingest.escalate_after_s, 3 * 86400);
	CHECK_EQ_INT(c.ingest.follow_up_s, 10 * 86400);
	CHECK_EQ_INT(c.ingest.alert_sweep_max, 500);

	char eps[DCONFIG_MAX_ENDPOINTS][DCONFIG_LISTEN_MAX];
	CHECK_EQ_INT(dconfig_endpoints(&c, eps, DCONFIG_MAX_ENDPOINTS), 2);
	CHECK_STREQ(eps[0], "tcp://0.0.0.0:7480");
	CHECK_STREQ(eps[1], "ipc:///run/tanfang/sock");
	CHECK_EQ_INT(dconfig_endpoints(&c, eps, 1), -EINVAL); /* more than fit */
}

/* A refused file names file:line, the key and the problem. */
static void expect_refused(const char *text, int line, const char *needle)
{
	const char *path = write_conf("bad.conf", text);
	struct dconfig c;
	char err[600] = "";
	CHECK_EQ_INT(dconfig_load(path, &c, err, sizeof err), -EINVAL);
	char want[PATH_MAX + 32];
	snprintf(want, sizeof want, "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, needle))
		tft_fail(__FILE__, __LINE__,
		         "error \"%s\" should start with \"%s\" and name \"%s\"", err, want,
		         needle);
	tft_pass();
}

static void test_refusals(void)
{
	expect_refused("[daemon]\nworkers = 2\nworkerz = 2\n", 3, "workerz: unknown key");
	expect_refused("[deamon]\nworkers = 2\n", 2, "[deamon] workers: unknown section");
	expect_refused("workers = 2\n", 1, "unknown section");
	expect_refused("[daemon]\nworkers = 0\n", 2, "workers");
	expect_refused("[daemon]\nworkers = two\n", 2, "workers");
	expect_refused("[daemon]\nworkers = 4x\n", 2, "workers");
	expect_refused("[daemon]\nbatch_max = -1\n", 2, "batch_max");
	expect_refused("[daemon]\nbatch_max = 99999999999999999999999\n", 2, "batch_max");
	expect_refused("[daemon]\nmax_message_size = 10\n", 2, "max_message_size");
	expect_refused("[daemon]\nmap_size_mb =\n", 2, "map_size_mb");
	expect_refused("[daemon]\ncurve = maybe\n", 2, "curve");
	expect_refused("[daemon]\ntimezone = Mars/Olympus_Mons\n", 2, "timezone");
	expect_refused("[daemon]\ntimezone = ../../etc/passwd\n", 2, "timezone");
	expect_refused("[daemon]\nlisten = http://127.0.0.1:80\n", 2, "listen");
	expect_refused("[daemon]\nlisten = tcp://127.0.0.1:1,,tcp://127.0.0.1:2\n", 2, "listen");
	expect_refused("[daemon]\nlisten = tcp://127.0.0.1\n", 2, "listen");
	expect_refused("[daemon]\nlog_level = loud\n", 2, "log_level");
	expect_refused("[daemon]\ncheckpoint_interval_s = 86401\n", 2, "checkpoint_interval_s");
	expect_refused("[daemon]\ncheckpoint_interval_s = -1\n", 2, "checkpoint_interval_s");
	expect_refused("[daemon]\ndata_dir =\n", 2, "data_dir");
	expect_refused("[ingest]\nmax_skew_s = -5\n", 2, "max_skew_s");
	expect_refused("[ingest]\nold_flag_s = 0\n", 2, "old_flag_s");
	expect_refused("[ingest]\nfar_flag_m = nan\n", 2, "far_flag_m");
	expect_refused("[ingest]\nfar_flag_m = 12km\n", 2, "far_flag_m");
	expect_refused("[ingest]\nburst_count = 0\n", 2, "burst_count");
	expect_refused("[ingest]\nburst_window = 60\n", 2, "burst_window: unknown key");
	expect_refused("[alerts]\nescalate_after_days = 0\n", 2, "escalate_after_days");
	expect_refused("[alerts]\nfollow_up_days = week\n", 2, "follow_up_days");
	/* A line that is not INI at all. */
	expect_refused("[daemon]\nworkers = 2\nthis line has no equals sign\n", 3, "syntax error");
	/* The first problem is the one reported. */
	expect_refused("[daemon]\n\nbatch_max = 0\nworkers = 0\n", 3, "batch_max");
}

static void test_missing_file(void)
{
	struct dconfig c;
	char err[600] = "";
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/nope.conf", dir);
	CHECK_EQ_INT(dconfig_load(path, &c, err, sizeof err), -ENOENT);
	CHECK(strstr(err, "nope.conf") != NULL);
}

static void test_overrides(void)
{
	struct dconfig c;
	char err[600];
	dconfig_defaults(&c);
	CHECK_OK(dconfig_set(&c, "daemon", "listen", "ipc:///tmp/tanfang.sock", err, sizeof err));
	CHECK_EQ_INT(dconfig_curve_on(&c), 0); /* no tcp endpoint: CURVE off by default */
	CHECK_OK(dconfig_set(&c, "daemon", "curve", "yes", err, sizeof err));
	CHECK_EQ_INT(dconfig_curve_on(&c), 1);
	CHECK_OK(dconfig_set(&c, "daemon", "workers", "7", err, sizeof err));
	CHECK_EQ_INT(c.workers, 7);
	CHECK_EQ_INT(dconfig_set(&c, "daemon", "workers", "-7", err, sizeof err), -EINVAL);
	CHECK(strstr(err, "[daemon] workers") != NULL);
	CHECK_EQ_INT(c.workers, 7); /* a refused value leaves the old one */
	CHECK_EQ_INT(dconfig_set(&c, "daemon", "colour", "blue", err, sizeof err), -EINVAL);
	CHECK(strstr(err, "colour: unknown key") != NULL);
}

/* The same checks through the program: `tanfangd check-config`. */
static void test_check_config_cli(void)
{
	const char *bin = getenv("TANFANGD");
	CHECK(bin != NULL && access(bin, X_OK) == 0);
	char out[4096];
	char good[PATH_MAX];
	snprintf(good, sizeof good, "%s", write_conf("good.conf", "[daemon]\nworkers = 2\n"));
	const char *ok_argv[] = {bin, "check-config", "--config", good, NULL};
	CHECK_EQ_INT(tft_run(ok_argv, out, sizeof out, 30), 0);
	const char *flag_argv[] = {bin, "--check-config", "--config", good, NULL};
	CHECK_EQ_INT(tft_run(flag_argv, out, sizeof out, 30), 0);

	const char *bad = write_conf("bad.conf", "[daemon]\nworkers = 2\nbatch_max = lots\n");
	const char *bad_argv[] = {bin, "check-config", "--config", bad, NULL};
	CHECK_EQ_INT(tft_run(bad_argv, out, sizeof out, 30), 1);
	CHECK(strstr(out, "bad.conf:3:") != NULL && strstr(out, "batch_max") != NULL);

	/* A policy file that does not parse fails the check too. */
	const char *pol = write_conf("policy.conf", "[rule.x]\nperiod = fortnightly-ish\n");
	char with_pol[PATH_MAX + 64];
	snprintf(with_pol, sizeof with_pol, "[daemon]\npolicy = %s\n", pol);
	const char *cfg = write_conf("withpol.conf", with_pol);
	const char *pol_argv[] = {bin, "check-config", "--config", cfg, NULL};
	CHECK_EQ_INT(tft_run(pol_argv, out, sizeof out, 30), 1);
	CHECK(strstr(out, "policy") != NULL);

	/* A good policy file (the shipped example, with its zone changed):
	 * the policy's zone applies unless [daemon] timezone is set. */
	const char *src = getenv("TANFANG_SRC");
	CHECK(src != NULL);
	char example[PATH_MAX];
	snprintf(example, sizeof example, "%s/deploy/policy.conf", src);
	char *text = tft_read_file(example, NULL);
	CHECK(text != NULL);
	char *tzline = strstr(text, "\ntimezone = Asia/Shanghai\n");
	CHECK(tzline != NULL);
	char *utc = malloc(strlen(text) + 16);
	CHECK(utc != NULL);
	*tzline = '\0';
	sprintf(utc, "%s\ntimezone = UTC\n%s", text,
	        tzline + strlen("\ntimezone = Asia/Shanghai\n"));
	free(text);
	char good_pol[PATH_MAX];
	snprintf(good_pol, sizeof good_pol, "%s", write_conf("utc-policy.conf", utc));
	free(utc);
	snprintf(with_pol, sizeof with_pol, "[daemon]\npolicy = %s\n", good_pol);
	cfg = write_conf("goodpol.conf", with_pol);
	const char *goodpol_argv[] = {bin, "check-config", "--config", cfg, NULL};
	CHECK_EQ_INT(tft_run(goodpol_argv, out, sizeof out, 30), 0);
	if (!strstr(out, "time zone UTC"))
		tft_fail(__FILE__, __LINE__, "check-config said: %s", out);
	snprintf(with_pol, sizeof with_pol, "[daemon]\npolicy = %s\ntimezone = Asia/Urumqi\n",
	         good_pol);
	goodpol_argv[3] = write_conf("goodpol-tz.conf", with_pol);
	CHECK_EQ_INT(tft_run(goodpol_argv, out, sizeof out, 30), 0);
	if (!strstr(out, "time zone Asia/Urumqi"))
		tft_fail(__FILE__, __LINE__, "check-config said: %s", out);

	const char *usage_argv[] = {bin, "check-config", "--bogus", NULL};
	CHECK_EQ_INT(tft_run(usage_argv, out, sizeof out, 30), 2);
	const char *help_argv[] = {bin, "--help", NULL};
	CHECK_EQ_INT(tft_run(help_argv, out, sizeof out, 30), 0);
	CHECK(strstr(out, "check-config") != NULL);
}

int main(void)
{
	dir = tft_tmpdir();
	test_defaults();
	test_full_file();
	test_refusals();
	test_missing_file();
	test_overrides();
	test_check_config_cli();
	return tft_done();
}
