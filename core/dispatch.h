/* The alert dispatcher (tanfang-alert): its configuration and one run.
 *
 * One run fetches a batch of undelivered alerts from tanfangd (AlertsPending,
 * signed with a dispatcher key; the daemon leases them to this run), hands
 * each alert to every configured sink (sink.h), acknowledges the delivered
 * ones (AlertsAck.ids: never sent again), and repeats until nothing is left
 * or the per-run maximum is reached. Alerts a sink refused are released at
 * the end of the run (AlertsAck.failed), so the next run retries them;
 * holding them until then keeps one run from hammering a broken sink.
 * docs/alerts.md describes the configuration file and the guarantees. */
#ifndef TF_DISPATCH_H
#define TF_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc.h"
#include "sink.h"
#include "tf_err.h"

#define DISPATCH_MAX_SINKS 16

/* The dispatcher's exit status (docs/alerts.md#exit-status). */
enum dispatch_exit {
	DISPATCH_EXIT_OK = 0,          /* everything fetched was delivered, or nothing to do */
	DISPATCH_EXIT_UNDELIVERED = 1, /* some alerts could not be delivered */
	DISPATCH_EXIT_USAGE = 2,       /* usage or configuration error */
	DISPATCH_EXIT_DAEMON = 3,      /* the daemon was unreachable or refused the key */
};

/* Everything one run needs. The strings and the sinks are owned by the
 * config and freed by dispatch_config_free(); NULL strings are unset. */
struct dispatch_config {
	char *endpoint, *server_key, *server_key_file, *key_file; /* [daemon] */
	int timeout_ms;                                           /* [daemon] timeout_ms */
	unsigned batch, lease_s, max_per_run;                     /* [dispatch] */
	struct sink sinks[DISPATCH_MAX_SINKS];                    /* [sink.*], in file order */
	size_t n_sinks;
};

/* Sets cfg to the defaults: no strings, timeout_ms 15000, batch 100,
 * lease_s 300, max_alerts_per_run 10000, no sinks. */
void dispatch_config_init(struct dispatch_config *cfg);
/* Frees what cfg owns and zeroes it. */
void dispatch_config_free(struct dispatch_config *cfg);

/* Reads the INI file at path over cfg: [daemon] (endpoint, server_key,
 * server_key_file, key, timeout_ms), [dispatch] (batch, lease_s,
 * max_alerts_per_run) and any number of [sink.TYPE] or [sink.TYPE.NAME]
 * (dispatch_sink_set), each sink checked for its required keys. Returns 0;
 * or -errno if the file cannot be read (err: "cannot read PATH: reason"),
 * -EINVAL or -ENOMEM with err "PATH:LINE: problem" for the first problem.
 * err (errlen bytes) is always NUL-terminated on failure. cfg may hold part
 * of the file then; free it. */
int dispatch_config_load(struct dispatch_config *cfg, const char *path, char *err,
                         size_t errlen) TF_MUST_CHECK;

/* Sets key of section "daemon" or "dispatch" to value, with the checks of
 * the config file. Returns 0; or -EINVAL (unknown key, value out of range,
 * an empty string) or -ENOMEM with *why set to a static reason. */
int dispatch_config_set(struct dispatch_config *cfg, const char *section, const char *key,
                        const char *value, const char **why) TF_MUST_CHECK;

/* Removes and frees every sink, e.g. when the command line names its own. */
void dispatch_config_clear_sinks(struct dispatch_config *cfg);

/* Appends a sink of type named name with the defaults (timeout_s 10) and
 * line, the line of its config section (0 if none). Returns 0 with *out
 * pointing at it (owned by cfg); -ENOSPC if cfg has DISPATCH_MAX_SINKS
 * already, or -ENAMETOOLONG if name does not fit struct sink. */
int dispatch_config_add_sink(struct dispatch_config *cfg, enum sink_type type, const char *name,
                             unsigned line, struct sink **out) TF_MUST_CHECK;

/* Sets key of a [sink.TYPE] section to value, with the checks of the config
 * file: timeout_s (not stdout); command (command); url, header (webhook);
 * sendmail, from, to-default (mail). Returns 0; or -EINVAL (a key this type
 * does not have, a bad value) or -ENOMEM with *why set to a static reason. */
int dispatch_sink_set(struct sink *s, const char *key, const char *value,
                      const char **why) TF_MUST_CHECK;

/* One run over rpc (signed with the dispatcher key) with cfg's batch,
 * lease, limits and sinks. With dry_run, each fetched alert is printed as
 * a JSON line on stdout and released, none is sent or acknowledged. Logs
 * each failure and a summary line. Returns the exit status, not an error
 * code: OK; UNDELIVERED (a sink failed, alerts were left for a later run
 * because the lease ran short, or memory ran out); or DAEMON (a fetch or an
 * acknowledgement got no usable reply). */
enum dispatch_exit dispatch_run(const struct dispatch_config *cfg, struct rpc *rpc, bool dry_run);

#endif
