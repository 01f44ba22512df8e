#include "dconfig.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inifile.h"

void dconfig_defaults(struct dconfig *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", DCONFIG_DEFAULT_DATA_DIR);
	snprintf(cfg->listen, sizeof cfg->listen, "%s", DCONFIG_DEFAULT_LISTEN);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = cpus > 0 ? (unsigned)(cpus > 256 ? 256 : cpus) : 1;
	/* A cap, not a target: the writer commits whatever is queued (one
	 * visit when idle); under load larger batches share one fsync. 1,024
	 * gained 1-3% in bench-ingest but let a batch's replies to one
	 * connection overflow the ROUTER's 1,024 (server.c), so 256 stays. */
	cfg->batch_max = 256;
	cfg->max_message_size = 1048576;
	cfg->max_connections = 1000;
	cfg->map_size_mb = 4096;
	cfg->curve = DCONFIG_CURVE_AUTO;
	snprintf(cfg->timezone, sizeof cfg->timezone, "Asia/Shanghai");
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->checkpoint_interval_s = DCONFIG_DEFAULT_CHECKPOINT_S;
}

/* Whole-string decimal integer in [min, max]. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
	if (!*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, true;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

/* glibc resolves TZ names against files; a name it cannot find silently
 * means UTC, which would shift every month boundary by 8 hours. */
static bool timezone_valid(const char *tz)
{
	if (!*tz || *tz == '/' || strstr(tz, ".."))
		return false;
	for (const char *p = tz; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("/_+-", *p)))
			return false;
	const char *dir = getenv("TZDIR");
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool endpoint_valid(const char *ep)
{
	size_t n = strlen(ep);
	if (strncmp(ep, "tcp://", 6) == 0)
		return n > 6 && strchr(ep + 6, ':') != NULL;
	if (strncmp(ep, "ipc://", 6) == 0)
		return n > 6;
	return false;
}

/* Splits a comma-separated list, trimming blanks around each item. */
static int split_endpoints(const char *list, char eps[][DCONFIG_LISTEN_MAX], size_t max)
{
	size_t n = 0;
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!len || len >= DCONFIG_LISTEN_MAX || n == max)
			return -EINVAL;
		memcpy(eps[n], p, len);
		eps[n][len] = '\0';
		if (!endpoint_valid(eps[n]))
			return -EINVAL;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return (int)n;
}

int dconfig_endpoints(const struct dconfig *cfg, char eps[][DCONFIG_LISTEN_MAX], size_t max)
{
	return split_endpoints(cfg->listen, eps, max);
}

int dconfig_curve_on(const struct dconfig *cfg)
{
	if (cfg->curve != DCONFIG_CURVE_AUTO)
		return cfg->curve == DCONFIG_CURVE_YES;
	char eps[DCONFIG_MAX_ENDPOINTS][DCONFIG_LISTEN_MAX];
	int n = split_endpoints(cfg->listen, eps, DCONFIG_MAX_ENDPOINTS);
	for (int i = 0; i < n; i++)
		if (strncmp(eps[i], "tcp://", 6) == 0)
			return 1;
	return 0;
}

static int copy_str(char *dst, size_t size, const char *value, bool allow_empty, const char **why)
{
	if (!allow_empty && !*value)
		return *why = "must not be empty", -EINVAL;
	if (strlen(value) >= size)
		return *why = "too long", -EINVAL;
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

#define DAY 86400LL

static int set_daemon(struct dconfig *cfg, const char *key, const char *value, const char **why)
{
	long long v;
	if (strcmp(key, "data_dir") == 0)
		return copy_str(cfg->data_dir, sizeof cfg->data_dir, value, false, why);
	if (strcmp(key, "listen") == 0) {
		char eps[DCONFIG_MAX_ENDPOINTS][DCONFIG_LISTEN_MAX];
		if (split_endpoints(value, eps, DCONFIG_MAX_ENDPOINTS) < 0)
			return *why = "expected up to 16 comma-separated tcp://HOST:PORT or "
			              "ipc://PATH "
			              "endpoints",
			       -EINVAL;
		return copy_str(cfg->listen, sizeof cfg->listen, value, false, why);
	}
	if (strcmp(key, "workers") == 0) {
		if (strcmp(value, "auto") == 0) {
			struct dconfig def;
			dconfig_defaults(&def);
			cfg->workers = def.workers;
			return 0;
		}
		if (!parse_int(value, 1, 256, &v))
			return *why = "expected a number of threads from 1 to 256, or auto",
			       -EINVAL;
		cfg->workers = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "batch_max") == 0) {
		if (!parse_int(value, 1, 65536, &v))
			return *why = "expected a number from 1 to 65536", -EINVAL;
		cfg->batch_max = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "max_connections") == 0) {
		if (!parse_int(value, 1, 1000000, &v))
			return *why = "expected a number of connections from 1 to 1000000", -EINVAL;
		cfg->max_connections = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "max_message_size") == 0) {
		if (!parse_int(value, 1024, 256LL << 20, &v))
			return *why = "expected bytes from 1024 to 268435456", -EINVAL;
		cfg->max_message_size = (size_t)v;
		return 0;
	}
	if (strcmp(key, "map_size_mb") == 0) {
		if (!parse_int(value, 16, 16LL << 20, &v))
			return *why = "expected megabytes from 16 to 16777216", -EINVAL;
		cfg->map_size_mb = (size_t)v;
		return 0;
	}
	if (strcmp(key, "curve") == 0) {
		bool b;
		if (strcasecmp(value, "auto") == 0) {
			cfg->curve = DCONFIG_CURVE_AUTO;
			return 0;
		}
		if (!parse_bool(value, &b))
			return *why = "expected yes, no or auto", -EINVAL;
		cfg->curve = b ? DCONFIG_CURVE_YES : DCONFIG_CURVE_NO;
		return 0;
	}
	if (strcmp(key, "policy") == 0)
		return copy_str(cfg->policy, sizeof cfg->policy, value, true, why);
	if (strcmp(key, "timezone") == 0) {
		if (!timezone_valid(value))
			return *why = "unknown time zone (expected an IANA name such as "
			              "Asia/Shanghai)",
			       -EINVAL;
		cfg->timezone_set = true;
		return copy_str(cfg->timezone, sizeof cfg->timezone, value, false, why);
	}
	if (strcmp(key, "checkpoint_interval_s") == 0) {
		if (!parse_int(value, 0, DAY, &v))
			return *why = "expected seconds from 0 (only at start and stop) to 86400",
			       -EINVAL;
		cfg->checkpoint_interval_s = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		if (strcasecmp(value, "debug") == 0)
			cfg->log_level = LOG_LEVEL_DEBUG;
		else if (strcasecmp(value, "info") == 0)
			cfg->log_level = LOG_LEVEL_INFO;
		else if (strcasecmp(value, "warn") == 0 || strcasecmp(value, "warning") == 0)
			cfg->log_level = LOG_LEVEL_WARN;
		else
			return *why = "expected debug, info or warn", -EINVAL;
		return 0;
	}
	return *why = "unknown key", -EINVAL;
}

static int set_ingest(struct ingest_config *ic, const char *key, const char *value,
                      const char **why)
{
	static const struct {
		const char *key;
		long long max;
		size_t offset;
	} secs[] = {
	    {"max_skew_s", 30 * DAY, offsetof(struct ingest_config, max_skew_s)},
	    {"future_flag_s", 365 * DAY, offsetof(struct ingest_config, future_flag_s)},
	    {"old_flag_s", 3650 * DAY, offsetof(struct ingest_config, old_flag_s)},
	    {"record_max_age_s", 3650 * DAY, offsetof(struct ingest_config, record_max_age_s)},
	    {"burst_window_s", 30 * DAY, offsetof(struct ingest_config, burst_window_s)},
	};
	long long v;
	for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
		if (strcmp(key, secs[i].key) != 0)
			continue;
		if (!parse_int(value, 1, secs[i].max, &v))
			return *why = "expected a positive number of seconds (at most the limit in "
			              "docs/operations.md)",
			       -EINVAL;
		*(int64_t *)((char *)ic + secs[i].offset) = v;
		return 0;
	}
	if (strcmp(key, "burst_count") == 0) {
		if (!parse_int(value, 1, 1000000, &v))
			return *why = "expected a number from 1 to 1000000", -EINVAL;
		ic->burst_count = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "far_flag_m") == 0) {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (!*value || *end || errno || !isfinite(d) || d <= 0 || d > 20000000)
			return *why = "expected metres, more than 0 and at most 20000000", -EINVAL;
		ic->far_flag_m = d;
		return 0;
	}
	return *why = "unknown key", -EINVAL;
}

/* [alerts]: thresholds in days, as offices think of them. */
static int set_alerts(struct ingest_config *ic, const char *key, const char *value,
                      const char **why)
{
	long long v;
	if (strcmp(key, "escalate_after_days") == 0 || strcmp(key, "follow_up_days") == 0) {
		if (!parse_int(value, 1, 366, &v))
			return *why = "expected a number of days from 1 to 366", -EINVAL;
		if (key[0] == 'e')
			ic->escalate_after_s = v * DAY;
		else
			ic->follow_up_s = v * DAY;
		return 0;
	}
	if (strcmp(key, "sweep_max") == 0) {
		if (!parse_int(value, 1, 1000000, &v))
			return *why = "expected a number from 1 to 1000000", -EINVAL;
		ic->alert_sweep_max = (unsigned)v;
		return 0;
	}
	return *why = "unknown key", -EINVAL;
}

int dconfig_set(struct dconfig *cfg, const char *section, const char *key, const char *value,
                char *err, size_t errlen)
{
	const char *why = "unknown section";
	int r = -EINVAL;
	if (strcmp(section, "daemon") == 0)
		r = set_daemon(cfg, key, value, &why);
	else if (strcmp(section, "ingest") == 0)
		r = set_ingest(&cfg->ingest, key, value, &why);
	else if (strcmp(section, "alerts") == 0)
		r = set_alerts(&cfg->ingest, key, value, &why);
	if (r < 0)
		snprintf(err, errlen, "[%s] %s: %s (got \"%s\")", section, key, why, value);
	return r;
}

/* One entry of the file, as dconfig_set (inifile_parse names the line). */
static int set_entry(void *ctx, const char *section, const char *key, const char *value, char *why,
                     size_t whylen)
{
	return dconfig_set(ctx, section, key, value, why, whylen);
}

int dconfig_load(const char *path, struct dconfig *cfg, char *err, size_t errlen)
{
	dconfig_defaults(cfg);
	return inifile_parse(path, set_entry, cfg, err, errlen);
}
