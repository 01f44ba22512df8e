/* The daemon's configuration: an INI file (inih), documented in
 * docs/operations.md, example in deploy/tanfangd.conf.
 *
 *   [daemon]  data_dir, listen, workers, batch_max, max_message_size, max_connections,
 *             map_size_mb, curve, policy, timezone, log_level,
 *             checkpoint_interval_s
 *   [ingest]  max_skew_s, future_flag_s, old_flag_s, far_flag_m,
 *             burst_count, burst_window_s
 *   [alerts]  escalate_after_days, follow_up_days, sweep_max
 *
 * Unknown sections or keys and bad values are refused with a message naming
 * file:line and the key, so a typo never silently falls back to a default.
 * Command-line flags override the file through dconfig_set(). */
#ifndef TF_DCONFIG_H
#define TF_DCONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "ingest.h"
#include "log.h"
#include "tf_err.h"

#define DCONFIG_DEFAULT_DATA_DIR "/var/lib/tanfang"
#define DCONFIG_DEFAULT_LISTEN   "tcp://127.0.0.1:7480"
#define DCONFIG_LISTEN_MAX       1024
#define DCONFIG_MAX_ENDPOINTS    16
/* A cut tail of the audit log after the last checkpoint is not provable:
 * five minutes bounds that window for one short line per interval. */
#define DCONFIG_DEFAULT_CHECKPOINT_S 300

/* curve = yes / no, or unset: on when any endpoint is tcp://. */
enum dconfig_curve { DCONFIG_CURVE_AUTO, DCONFIG_CURVE_NO, DCONFIG_CURVE_YES };

struct dconfig {
	char data_dir[PATH_MAX];
	char listen[DCONFIG_LISTEN_MAX]; /* comma-separated ZeroMQ endpoints */
	unsigned workers;                /* verify threads; default: online CPUs */
	unsigned batch_max;              /* requests per write transaction; default 256 */
	size_t max_message_size;         /* bytes; larger frames get STATUS_TOO_LARGE */
	unsigned max_connections;        /* client connections at once; default 1000 */
	size_t map_size_mb;              /* LMDB map size; default 4096 */
	enum dconfig_curve curve;
	char policy[PATH_MAX];    /* "" = built-in default policy */
	char timezone[64];        /* default Asia/Shanghai */
	bool timezone_set;        /* given in the file or by dconfig_set */
	enum log_level log_level; /* default info */
	/* Seconds between signed checkpoints of the audit log while it grows
	 * (checkpoint.h); 0 = only at start and at a clean stop. Default 300. */
	unsigned checkpoint_interval_s;
	struct ingest_config ingest; /* 0 fields = ingest's defaults */
};

/* Fills cfg with the defaults. */
void dconfig_defaults(struct dconfig *cfg);

/* Fills cfg with the defaults, then reads the INI file at path over them.
 * Returns 0; -ENOENT/-EACCES (cannot open; err says so); or -EINVAL with a
 * one-line "path:line: [section] key: problem" in err. On failure cfg holds
 * the defaults plus whatever was read before the error; do not use it. */
int dconfig_load(const char *path, struct dconfig *cfg, char *err, size_t errlen) TF_MUST_CHECK;

/* Sets one key from text, with the same checks as the file (used for
 * command-line overrides). Returns 0, or -EINVAL with "[section] key:
 * problem" in err (unknown key or bad value). */
int dconfig_set(struct dconfig *cfg, const char *section, const char *key, const char *value,
                char *err, size_t errlen) TF_MUST_CHECK;

/* Splits cfg->listen into at most max endpoints, copied into eps (each
 * DCONFIG_LISTEN_MAX bytes). Returns the count (>= 1), or -EINVAL. */
int dconfig_endpoints(const struct dconfig *cfg, char eps[][DCONFIG_LISTEN_MAX],
                      size_t max) TF_MUST_CHECK;

/* Whether the ROUTER should use CURVE, resolving AUTO from the endpoints. */
int dconfig_curve_on(const struct dconfig *cfg);

#endif
