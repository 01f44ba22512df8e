/* gateway: tanfang-web's HTTP service (issue 9, item 1; docs/web.md).
 *
 * Serves the web app's files and one endpoint, POST /v1/envelope: the body
 * is an Envelope (protobuf bytes) signed in the browser; the gateway
 * forwards it to tanfangd over ZeroMQ with CURVE and answers with the
 * Reply's bytes. It holds no user key and cannot sign: its own key only
 * opens the transport (an enrolled key of role gateway, docs/protocol.md
 * section 1), and every envelope is still checked by its own signature.
 *
 * Limits, each with its HTTP status: a body above max_body (413), more
 * than max_inflight requests at once or more than rate_per_minute from one
 * address (429), the daemon down or refusing the gateway's key (502), or
 * slower than timeout_ms (504). */
#ifndef TANFANG_GATEWAY_H
#define TANFANG_GATEWAY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "tf_err.h"

struct gw_config {
	char listen[128];               /* HOST:PORT, [V6]:PORT; default 127.0.0.1:8080 */
	char root[PATH_MAX];            /* the web app's files; default /usr/share/tanfang/web */
	char endpoint[256];             /* tanfangd; default tcp://127.0.0.1:7480 */
	char server_key_file[PATH_MAX]; /* the daemon's curve.pub; "" = no CURVE */
	char key_file[PATH_MAX];        /* the gateway's own key (transport only) */
	char tls_cert[PATH_MAX];        /* PEM; with tls_key: HTTPS */
	char tls_key[PATH_MAX];
	size_t max_body;          /* bytes; default 1 MiB, the daemon's max_message_size */
	unsigned max_inflight;    /* requests forwarded at once; default 64 */
	unsigned max_connections; /* HTTP connections at once; default 256 */
	/* HTTP connections at once from one address, unless behind_proxy
	 * (slowloris); 0 = an eighth of max_connections, at least 4 */
	unsigned max_per_address;
	unsigned rate_per_minute; /* envelopes per client address; default 600 */
	unsigned rate_burst;      /* of which at once; default 60 */
	int timeout_ms;           /* a reply slower than this: 504; default 30000 */
	int connect_ms;           /* no connection to the daemon in this time: 502; default 3000 */
	bool behind_proxy;        /* rate by X-Real-IP when the peer is loopback (nginx) */
	/* The demo only (scripts/demo.sh): a one-time link that enrols the
	 * browser's key for demo_visitor, signed with demo_admin_key. Empty:
	 * off, and the gateway holds no admin key. Never in production. */
	char demo_admin_key[PATH_MAX];
	char demo_token[65];
	char demo_visitor[65];
};

/* The defaults above. */
void gw_config_defaults(struct gw_config *c);
/* Reads the [web] section of an INI file over c (unknown keys and bad
 * values refused with file:line in err). Returns 0, -ENOENT, or
 * TF_E_INVALID. */
int gw_config_load(const char *path, struct gw_config *c, char *err, size_t errlen) TF_MUST_CHECK;
/* Sets one key as the file would (command-line overrides). Returns 0 or
 * TF_E_INVALID with the reason in err. */
int gw_config_set(struct gw_config *c, const char *key, const char *value, char *err,
                  size_t errlen) TF_MUST_CHECK;

struct gw;

/* Starts serving (threads of its own). The key file and the server key are
 * read here. Returns 0, or a negative code with a one-line reason in err
 * (bad listen address, port in use, unreadable key or certificate). */
int gw_start(const struct gw_config *c, struct gw **out, char *err, size_t errlen) TF_MUST_CHECK;
/* The port it listens on (useful with port 0). */
unsigned gw_port(const struct gw *g);
/* Stops serving and frees everything. NULL is fine. */
void gw_stop(struct gw *g);

#endif
