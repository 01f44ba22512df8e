/* Sinks: where the alert dispatcher (tanfang-alert) hands an alert. One sink
 * is one way to reach people, with its own settings:
 *
 *   stdout   the alert as one JSON line on standard output;
 *   command  /bin/sh -c COMMAND with the alert's JSON on its stdin (an SMS
 *            gateway script, say); exit status 0 means delivered;
 *   webhook  an HTTP(S) POST of the JSON (libcurl); a 2xx status means
 *            delivered;
 *   mail     a UTF-8 message piped to `sendmail -t -i`, addressed to the
 *            alert's mail contacts.
 *
 * docs/alerts.md describes the sinks, the JSON and the delivery guarantees.
 * The settings are filled by the dispatcher's configuration (dispatch.h);
 * this module only delivers.
 *
 * Process-wide needs, set up once by the program: SIGPIPE ignored (a command
 * that exits without reading its stdin must not kill the caller) and
 * curl_global_init() called before the first webhook delivery. */
#ifndef TF_SINK_H
#define TF_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tf_err.h"
#include "wire.h"

struct curl_slist;

enum sink_type { SINK_STDOUT, SINK_COMMAND, SINK_WEBHOOK, SINK_MAIL };

/* The exit status by which a command sink says "I have nobody to send this
 * alert to" (sysexits' EX_NOUSER, "addressee unknown"): an SMS command for
 * an alert with no phone number among its contacts. Not a delivery: see
 * sink_deliver. */
#define SINK_EXIT_NO_RECIPIENT 67

/* After SIGTERM, how long a timed-out command gets before SIGKILL. */
#define SINK_KILL_GRACE_MS 2000

/* One configured sink. The strings and the header list are owned by the
 * sink and freed by sink_clear(). */
struct sink {
	enum sink_type type;
	char name[80];              /* the config section, or the command-line flag */
	char *target;               /* command line, URL, or sendmail path */
	char *from;                 /* mail: From address (NULL = the MTA's default) */
	char *to_default;           /* mail: recipient when the alert names no mail contact */
	struct curl_slist *headers; /* webhook: extra header lines */
	unsigned timeout_s;         /* command, webhook, mail: time limit of one delivery */
	unsigned line;              /* where its section starts in the config file */
};

/* The type's name as written in a config section: "stdout", "command",
 * "webhook" or "mail". Aborts on a value outside the enum (programmer error). */
const char *sink_type_name(enum sink_type type);

/* Looks up the type named by the first len bytes of name. Returns 0, or
 * -EINVAL if no type has that name. */
int sink_type_parse(const char *name, size_t len, enum sink_type *out) TF_MUST_CHECK;

/* Frees what s owns and zeroes it. s may be zeroed already. */
void sink_clear(struct sink *s);

/* A bare mail address, strict enough that it cannot smuggle a header or a
 * second recipient into a message: RFC 5322 dot-atom characters, one '@'
 * with text on both sides, 3 to 254 bytes. */
bool sink_mail_address_ok(const char *s);

/* The worst-case time, in milliseconds, one delivery to s can take (its
 * time limit plus the kill grace; 0 for stdout). For the lease check. */
int64_t sink_budget_ms(const struct sink *s);

/* The alert as one compact JSON object (docs/alerts.md): id as 32 lowercase
 * hex digits, the strings of the alert, created_at as ISO-8601 UTC, attempts.
 * Returns 0 with *out malloc'd (caller frees), -EINVAL if the id is not 16
 * bytes, or -ENOMEM. Strings must be valid UTF-8 (wire_unpack checks them). */
int sink_alert_json(const tf_alert *a, char **out) TF_MUST_CHECK;

/* The RFC 5322 message the mail sink s hands to `sendmail -t -i` for a:
 * To: the alert's contacts that are mail addresses (at most 32; unusable
 * ones are logged and skipped), else s->to_default; the subject RFC 2047
 * encoded, the body base64, so the message is 7-bit clean. Returns 0 with
 * *out malloc'd and NUL-terminated (caller frees), -ENOENT if the alert has
 * no mail address and s no to-default, -EINVAL if the id is not 16 bytes,
 * or -ENOMEM. */
int sink_mail_message(const struct sink *s, const tf_alert *a, char **out) TF_MUST_CHECK;

/* Delivers alert a, whose JSON (sink_alert_json) is json, to s, waiting at
 * most s->timeout_s (a command still running then is killed, with all it
 * started). Returns 0 if s accepted it; otherwise a negative code with the
 * reason, for a log line, in why (whylen bytes): -ENOENT (s has nobody to
 * deliver a to: a mail sink when the alert names no mail address and s has
 * no to-default, a command that exited SINK_EXIT_NO_RECIPIENT), TF_E_TIMEOUT
 * (no result in time), -ENOMEM, -EINVAL (the id is not 16 bytes), or -EIO
 * (the command failed, the HTTP request failed or got a non-2xx status,
 * writing failed). Only 0 is a delivery: a sink that cannot deliver says
 * so, and the dispatcher keeps the alert (issue 8, item 7). */
int sink_deliver(const struct sink *s, const tf_alert *a, const char *json, char *why,
                 size_t whylen) TF_MUST_CHECK;

#endif
