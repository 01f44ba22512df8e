/* What the command-line clients share: their exit codes, how they tell an
 * error, and the connection options every one of them takes (--endpoint,
 * --server-key, --server-key-file, --key, --data). */
#ifndef TF_CLIOPT_H
#define TF_CLIOPT_H

#include "keys.h"
#include "log.h"
#include "rpc.h"
#include "tf_err.h"
#include "wire.h"

enum cli_exit {
	CLI_OK = 0,
	CLI_FAILED = 1, /* refused by the daemon, unreachable, or a local failure */
	CLI_USAGE = 2,
};

#define CLI_DEFAULT_ENDPOINT "tcp://127.0.0.1:7480"
#define CLI_SYSCONFDIR       "/etc/tanfang"

/* The folder of the installed configuration, where a program looks for its
 * config file when none is given: $TANFANG_SYSCONFDIR if set and not empty,
 * else CLI_SYSCONFDIR. The tests set it to an empty folder of their own, so
 * no test ever reads an installed file (issue 8, item 7). Never NULL. */
const char *cli_sysconfdir(void);

/* Names the program in every message. Call first in main. */
void cli_init(const char *prog);
/* "prog: error: message (see prog --help)" on stderr; returns CLI_USAGE. */
int cli_usage(const char *fmt, ...) TF_PRINTF(1, 2);
/* "prog: error: message" on stderr; returns CLI_FAILED. */
int cli_fail(const char *fmt, ...) TF_PRINTF(1, 2);
/* The project's version, "0.2.0" (meson's project version). Never NULL. */
const char *cli_version_string(void);
/* --version: "prog (tanfang) VERSION" on stdout, in the form help2man
 * reads. Returns CLI_OK, or CLI_FAILED if stdout failed. */
int cli_version(void);
/* COMMAND --help: from usage (a program's --help text), the lines of its
 * "Commands:" section that start with words (one or two: "overdue", or
 * "elder add"; one word gives every command starting with it), each with
 * its indented lines under it, then the "Global options" paragraph, on
 * stdout. Returns CLI_OK, or CLI_USAGE (message printed) when no command
 * matches. */
int cli_command_help(const char *usage, char *const *words, size_t nwords);
/* A local date and time as people type it: 'YYYY-MM-DD' (midnight),
 * 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD HH:MM:SS', with a space or 'T', in the
 * process's time zone (TZ). Returns 0 with *out in unix seconds, or
 * -EINVAL: another form, a day or time that does not exist ('2026-09-31',
 * '24:00'; mktime would roll it over into the next month), or a time
 * before 1970. */
int cli_parse_local_time(const char *s, int64_t *out) TF_MUST_CHECK;
/* A refusal reply as "STATUS_X: detail" on stderr; returns CLI_FAILED. */
int cli_refused(const tf_reply *rep);

struct cli_conn {
	const char *endpoint;        /* NULL: CLI_DEFAULT_ENDPOINT */
	const char *server_key;      /* the daemon's CURVE public key, Z85 */
	const char *server_key_file; /* ... or a file holding it */
	const char *key_file;        /* the signing key */
	const char *data_dir;        /* a local daemon's folder: DIR/admin.key, DIR/curve.pub */
};

/* Reads a Z85 CURVE public key (40 characters; blanks around it ignored)
 * from the first line of path. Returns 0, a negated errno, or
 * TF_E_MALFORMED. */
int cli_read_server_key(const char *path, char out[41]) TF_MUST_CHECK;

/* A signed connection to the daemon, as the clients hold it. */
struct cli_session {
	struct keypair key;  /* the signing key */
	char server_key[41]; /* the CURVE key in use, "" for none */
	struct rpc *rpc;
	char endpoint[256];
	int timeout_ms; /* per request */
};

/* Resolves the options (with --data DIR the key is DIR/admin.key unless
 * --key is given, and the server key DIR/curve.pub if it exists and none is
 * given), loads the signing key and opens the connection. Returns an exit
 * code: CLI_OK with s open; otherwise the problem has been printed. */
int cli_open(struct cli_session *s, const struct cli_conn *o, int timeout_ms) TF_MUST_CHECK;
/* Closes the connection; a session never opened (zeroed) is fine. */
void cli_close(struct cli_session *s);

/* The exit code for the result r of an rpc call on s: CLI_OK when a reply
 * arrived (whatever its status); otherwise the timeout, with its likely
 * causes, or the failure is printed. */
int cli_check_call(const struct cli_session *s, int r);
/* rpc_call with the session's timeout; *out gets the Reply whatever its
 * status. Returns an exit code as cli_check_call does. */
int cli_call(struct cli_session *s, tf_request *req, tf_reply **out) TF_MUST_CHECK;
/* cli_call for a request whose OK needs only a line: done on stdout (NULL:
 * the daemon's detail), or the refusal on stderr. Returns an exit code. */
int cli_change(struct cli_session *s, tf_request *req, const char *done) TF_MUST_CHECK;

#endif
