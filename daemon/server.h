/* The daemon's pipeline (BRIEF.md section 8, core/ingest.h):
 *
 *   clients --DEALER--> ROUTER (io thread) --inproc PUSH--> N verify workers
 *                                                            | ingest_verify
 *                          JOB_DONE / JOB_READ (ingest_query)| JOB_WRITE
 *            io thread <--inproc replies---------------------+------> writer
 *            io thread <--inproc replies (after the commit)---- ingest_write_batch
 *
 * Every thread owns its ZeroMQ sockets (they are not thread-safe) and they
 * talk over inproc. The io thread never blocks: it stops reading clients
 * while the workers are saturated (back-pressure reaches the clients through
 * TCP) and drops a reply rather than wait for a slow client.
 *
 * The control calls (server_reload_policy, server_stop, server_free) must
 * come from the thread that called server_start. */
#ifndef TF_SERVER_H
#define TF_SERVER_H

#include <stddef.h>

#include "ingest.h"
#include "tf_err.h"

struct server;
struct policy;

struct server_options {
	const char *const *endpoints; /* ZeroMQ endpoints to bind */
	size_t n_endpoints;
	unsigned workers;         /* verify threads, >= 1 */
	unsigned batch_max;       /* jobs per write transaction, >= 1 */
	size_t max_message_size;  /* larger frames: STATUS_TOO_LARGE */
	const char *curve_secret; /* Z85 CURVE secret key, or NULL for no CURVE */
	unsigned max_connections; /* client connections at once; more are closed at once */
};

/* Binds the ROUTER to every endpoint, starts the threads, and has the writer
 * install pol (owned from here on, also on failure) with ingest_set_policy
 * before any request is served. ig must outlive the server. Returns 0, or a
 * negative code with a one-line reason in err (bind failure, policy refused
 * by the store, thread or socket failure); then nothing is left running. A
 * policy that does not fit a full store is not a failure: the server starts
 * read-only, logs so, and the writer installs the policy once it fits. */
int server_start(const struct server_options *opt, struct ingest *ig, struct policy *pol,
                 struct server **out, char *err, size_t errlen) TF_MUST_CHECK;

/* The address actually bound for endpoint i (resolves "tcp://host:*"),
 * valid while the server runs. */
const char *server_endpoint(const struct server *srv, size_t i);

/* Hands a parsed policy (owned from here on) to the writer, which installs
 * it between batches; if the store refuses it the writer logs that and the
 * old policy stays. Returns 0 once handed over, or -EIO. */
int server_reload_policy(struct server *srv, struct policy *pol) TF_MUST_CHECK;

/* Clean shutdown: stops reading clients, lets the workers finish the frame
 * each holds, lets the writer commit and answer what it has, sends those
 * replies, and joins every thread. Then frees srv. NULL is fine. */
void server_stop(struct server *srv);

/* CURVE transport keys of a data folder (`tanfangd init`): DIR/curve.key
 * holds the secret key (Z85, mode 0600), DIR/curve.pub the public key
 * (Z85, mode 0644) that clients pass to net_connect. Neither file is ever
 * overwritten. server_curve_init writes both and returns the public key in
 * pub; 0, -EEXIST, or a negated errno. */
int server_curve_init(const char *dir, char pub[41]) TF_MUST_CHECK;
/* Reads DIR/curve.key into secret (40 Z85 characters + NUL). Returns 0,
 * -ENOENT / -EACCES, or TF_E_MALFORMED if it does not hold a key. */
int server_curve_load(const char *dir, char secret[41]) TF_MUST_CHECK;

#endif
