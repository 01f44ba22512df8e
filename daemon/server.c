#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "log.h"
#include "policy.h"
#include "wire.h"

#define S(x) TANFANG__V1__STATUS__STATUS_##x

#define EP_JOBS    "inproc://tanfang-jobs"    /* io -> workers: [routing id][frame] */
#define EP_WRITES  "inproc://tanfang-writes"  /* workers -> writer: struct job * */
#define EP_REPLIES "inproc://tanfang-replies" /* workers, writer -> io: [routing id][reply] */
#define EP_CTL     "inproc://tanfang-ctl-%s"  /* control thread <-> each thread (PAIR) */
#define EP_ZAP     "inproc://zeromq.zap.01"   /* ZeroMQ's authentication requests (RFC 27) */
#define EP_MONITOR "inproc://tanfang-monitor" /* the ROUTER's connection events */

/* Control messages: one command byte, then a payload. */
enum {
	CTL_STOP = 'S',    /* io: stop reading clients; worker, writer: finish and exit */
	CTL_EXIT = 'X',    /* io: forward what is left and exit; payload: wait for the writer */
	CTL_POLICY = 'P',  /* writer: payload is a struct policy * to install */
	CTL_READY = 'R',   /* writer -> control: payload is the int result of the first policy */
	REPLY_MARKER = 'D' /* writer -> io on the reply pipe: nothing follows */
};

/* Replies may queue for a client that reads slowly; past this the ROUTER
 * drops them (ZMQ_ROUTER_MANDATORY off) rather than block the io thread. The
 * client's outbox resends, and the resend is answered DUPLICATE. Four times
 * a client's window of 256 (a whole write batch answers at once): a client
 * that never reads holds at most that many replies (issue 8, item 3). */
#define ROUTER_SNDHWM 1024
/* Requests read ahead of the workers per connection: a connection that
 * floods waits in its own queue, which ZeroMQ reads fairly, round robin. */
#define ROUTER_RCVHWM 256
/* Jobs queued for the verify workers (per side of the inproc pipe). Short,
 * so a flood from one connection is never far ahead of another client's
 * request: the ROUTER's fair queueing decides the order, not a deep FIFO. */
#define JOBS_HWM 8
/* A connection must finish its CURVE handshake (and the key check) in this
 * time; a dead peer is found by heartbeats. */
#define HANDSHAKE_MS         5000
#define HEARTBEAT_IVL_MS     30000
#define HEARTBEAT_TIMEOUT_MS 90000
/* On shutdown, time given to flush the last replies to clients. */
#define ROUTER_CLOSE_LINGER_MS 1000
#define EXIT_WAIT_MS           5000

/* The routing id of a client, carried by a write job through the writer. */
struct rid {
	size_t len;
	uint8_t data[];
};

struct server {
	void *ctx;
	struct ingest *ig;
	unsigned n_workers;
	unsigned batch_max;
	size_t max_msg;

	/* Bound here, used by their thread only after it starts. */
	void *router, *jobs_push, *replies_pull, *writes_pull;
	char (*bound)[256];
	size_t n_bound;

	/* Control sockets: used by the control thread only. */
	void *io_ctl, *writer_ctl, **worker_ctl;

	/* The guard thread: the key check of each handshake (ZAP) and the
	 * connection count (ROUTER monitor). */
	void *zap, *monitor, *guard_ctl;
	bool curve;
	unsigned max_conn;

	pthread_t io, writer, guard, *workers, prewarm;
	bool io_running, writer_running, guard_running, prewarm_running;
	volatile int prewarm_stop;
	unsigned workers_running;
	struct policy *initial_policy;
};

struct worker_arg {
	struct server *srv;
	unsigned index;
};

static void close_socket(void *sock, int linger)
{
	if (!sock)
		return;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_close(sock);
}

/* Inproc messages between our own threads must never be dropped on close:
 * the reader is still running and will take them. */
static void *inproc_socket_hwm(struct server *srv, int type, const char *ep, bool bind, int hwm)
{
	void *s = zmq_socket(srv->ctx, type);
	if (!s)
		return NULL;
	int linger = -1;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	if (hwm > 0) {
		zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
		zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
	}
	if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) < 0) {
		int e = errno;
		zmq_close(s);
		errno = e;
		return NULL;
	}
	return s;
}

static void *inproc_socket(struct server *srv, int type, const char *ep, bool bind)
{
	return inproc_socket_hwm(srv, type, ep, bind, 0);
}

static void *ctl_socket(struct server *srv, const char *name, bool bind)
{
	char ep[64];
	snprintf(ep, sizeof ep, EP_CTL, name);
	return inproc_socket(srv, ZMQ_PAIR, ep, bind);
}

/* Sends a command byte and an optional payload, blocking. */
static int ctl_send(void *sock, char cmd, const void *payload, size_t len)
{
	uint8_t buf[1 + 16];
	if (len > 16)
		abort();
	buf[0] = (uint8_t)cmd;
	if (len)
		memcpy(buf + 1, payload, len);
	while (zmq_send(sock, buf, 1 + len, 0) < 0)
		if (errno != EINTR)
			return -EIO;
	return 0;
}

/* Receives a control message into buf; returns its length or -1. */
static int ctl_recv(void *sock, uint8_t *buf, size_t size, int flags)
{
	for (;;) {
		int n = zmq_recv(sock, buf, size, flags);
		if (n >= 0)
			return n > (int)size ? (int)size : n;
		if (errno != EINTR)
			return -1;
	}
}

/* Reads every remaining part of a multi-part message and drops it. */
static size_t drain_parts(void *sock)
{
	size_t n = 0;
	int more = 1;
	size_t ml = sizeof more;
	while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml) == 0 && more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		zmq_msg_close(&m);
		n++;
	}
	return n;
}

/* Sends [routing id][reply bytes] to the io thread. */
static void send_reply(void *replies, const void *rid, size_t rid_len, const uint8_t *buf,
                       size_t len)
{
	if (zmq_send(replies, rid, rid_len, ZMQ_SNDMORE) < 0 || zmq_send(replies, buf, len, 0) < 0)
		log_warnx("cannot pass a reply to the io thread: %s", zmq_strerror(errno));
}

static void send_error(void *replies, const void *rid, size_t rid_len, int status, const char *why)
{
	uint8_t *buf;
	size_t len;
	if (ingest_error_reply(status, why, &buf, &len) < 0) {
		log_warnx("out of memory: request dropped without a reply");
		return;
	}
	send_reply(replies, rid, rid_len, buf, len);
	free(buf);
}

/* ---- verify workers ---- */

/* STATUS_TOO_LARGE, with the ref of the body if the frame is an Envelope
 * at all, so a client with several requests in flight can tell which one
 * was refused. */
static void reply_too_large(struct server *srv, void *replies, zmq_msg_t *rid, const uint8_t *frame,
                            size_t len)
{
	char detail[128];
	snprintf(detail, sizeof detail, "frame of %zu bytes is above the limit of %zu bytes", len,
	         srv->max_msg);
	tf_reply rep;
	wire_init(WIRE_REPLY, &rep);
	rep.status = S(TOO_LARGE);
	rep.detail = detail;
	uint8_t ref[ENVELOPE_REF_LEN];
	tf_envelope *env;
	if (wire_unpack(WIRE_ENVELOPE, frame, len, (void **)&env) == 0) {
		envelope_ref(env->body.data, env->body.len, ref);
		rep.ref.data = ref;
		rep.ref.len = sizeof ref;
		wire_free(WIRE_ENVELOPE, env);
	}
	uint8_t *buf;
	size_t blen;
	if (wire_pack(WIRE_REPLY, &rep, &buf, &blen) < 0) {
		log_warnx("out of memory: oversize frame dropped without a reply");
		return;
	}
	send_reply(replies, zmq_msg_data(rid), zmq_msg_size(rid), buf, blen);
	free(buf);
}

static void reply_job(void *replies, const void *rid, size_t rid_len, struct job *job)
{
	uint8_t *buf;
	size_t len;
	if (job_reply(job, &buf, &len) < 0) {
		send_error(replies, rid, rid_len, S(INTERNAL), "out of memory");
		return;
	}
	send_reply(replies, rid, rid_len, buf, len);
	free(buf);
}

static void handle_frame(struct server *srv, void *replies, void *writes, zmq_msg_t *rid,
                         zmq_msg_t *frame)
{
	const uint8_t *data = zmq_msg_data(frame);
	size_t len = zmq_msg_size(frame);
	const void *id = zmq_msg_data(rid);
	size_t id_len = zmq_msg_size(rid);
	if (len > srv->max_msg) {
		reply_too_large(srv, replies, rid, data, len);
		return;
	}
	struct job *job;
	if (ingest_verify(srv->ig, data, len, &job) < 0) {
		send_error(replies, id, id_len, S(INTERNAL), "out of memory; retry later");
		return;
	}
	switch (job_route(job)) {
	case JOB_DONE:
		log_debug("refused before the store: %s", wire_status_name(job_status(job)));
		reply_job(replies, id, id_len, job);
		break;
	case JOB_READ:
		if (ingest_query(srv->ig, job) < 0)
			send_error(replies, id, id_len, S(INTERNAL), "out of memory; retry later");
		else
			reply_job(replies, id, id_len, job);
		break;
	case JOB_WRITE: {
		struct rid *r = malloc(sizeof *r + id_len);
		if (!r) {
			send_error(replies, id, id_len, S(INTERNAL), "out of memory; retry later");
			break;
		}
		r->len = id_len;
		memcpy(r->data, id, id_len);
		job_set_user(job, r);
		/* Blocks while the writer's queue is full: that is the
		 * back-pressure that makes the io thread stop reading. */
		while (zmq_send(writes, &job, sizeof job, 0) < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("cannot pass a job to the writer: %s", zmq_strerror(errno));
			send_error(replies, id, id_len, S(INTERNAL),
			           "internal queue failure; retry");
			free(r);
			job_free(job);
			return;
		}
		return; /* the writer owns the job now */
	}
	}
	job_free(job);
}

/* Names the calling thread "tf-NAME" (15 bytes at most, the kernel's
 * limit), so that top -H, ps -L and perf show which stage is busy. */
static void name_thread(const char *name)
{
	char comm[16];
	snprintf(comm, sizeof comm, "tf-%.12s", name);
	(void)pthread_setname_np(pthread_self(), comm);
}

static void *worker_main(void *p)
{
	struct worker_arg *arg = p;
	struct server *srv = arg->srv;
	char name[32];
	snprintf(name, sizeof name, "worker-%u", arg->index);
	free(arg);
	name_thread(name);
	void *ctl = ctl_socket(srv, name, false);
	void *jobs = inproc_socket_hwm(srv, ZMQ_PULL, EP_JOBS, false, 1);
	void *replies = inproc_socket(srv, ZMQ_PUSH, EP_REPLIES, false);
	void *writes = inproc_socket(srv, ZMQ_PUSH, EP_WRITES, false);
	if (!ctl || !jobs || !replies || !writes)
		fatal("%s: cannot open its sockets: %s", name, zmq_strerror(errno));
	for (;;) {
		zmq_pollitem_t items[] = {{ctl, 0, ZMQ_POLLIN, 0}, {jobs, 0, ZMQ_POLLIN, 0}};
		if (zmq_poll(items, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("%s: poll: %s", name, zmq_strerror(errno));
			break;
		}
		if (items[0].revents & ZMQ_POLLIN) {
			uint8_t cmd[17];
			if (ctl_recv(ctl, cmd, sizeof cmd, 0) >= 1 && cmd[0] == CTL_STOP)
				break;
		}
		if (!(items[1].revents & ZMQ_POLLIN))
			continue;
		/* Jobs queued meanwhile are taken without polling again: a poll
		 * per job was a system call and often a wake-up each. Bounded, so
		 * a stop is seen soon. */
		for (int i = 0; i < 64; i++) {
			zmq_msg_t rid, frame;
			zmq_msg_init(&rid);
			zmq_msg_init(&frame);
			bool got = zmq_msg_recv(&rid, jobs, ZMQ_DONTWAIT) >= 0;
			if (got && zmq_msg_more(&rid) &&
			    zmq_msg_recv(&frame, jobs, ZMQ_DONTWAIT) >= 0)
				handle_frame(srv, replies, writes, &rid, &frame);
			zmq_msg_close(&rid);
			zmq_msg_close(&frame);
			if (!got)
				break;
		}
	}
	zmq_close(writes);
	zmq_close(replies);
	zmq_close(jobs);
	zmq_close(ctl);
	return NULL;
}

/* ---- writer ---- */

static void commit_batch(struct server *srv, void *replies, struct job **batch, size_t n)
{
	int64_t t0 = clock_mono_ms();
	int r = ingest_write_batch(srv->ig, batch, n);
	if (r < 0 && !store_full(r)) /* a full store is logged by ingest, rate-limited */
		log_warnx("write batch of %zu failed: %s", n, tf_strerror(r));
	else
		log_debug("committed a batch of %zu in %lld ms", n,
		          (long long)(clock_mono_ms() - t0));
	/* Only now, after the commit returned, may anyone hear "OK". */
	for (size_t i = 0; i < n; i++) {
		struct rid *rid = job_user(batch[i]);
		reply_job(replies, rid->data, rid->len, batch[i]);
		free(rid);
		job_free(batch[i]);
	}
}

/* Takes up to batch_max queued jobs without waiting; returns how many. */
static size_t collect(struct server *srv, void *writes, struct job **batch)
{
	size_t n = 0;
	while (n < srv->batch_max) {
		struct job *job;
		int got = zmq_recv(writes, &job, sizeof job, ZMQ_DONTWAIT);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (got != (int)sizeof job)
			abort(); /* only our workers write here */
		batch[n++] = job;
	}
	return n;
}

static void install_policy(struct server *srv, struct policy *pol)
{
	/* ingest_set_policy frees the policy itself when it refuses it. */
	int r = ingest_set_policy(srv->ig, pol);
	if (store_full(r))
		log_warnx("new policy not installed yet, the old one stays in force: %s; it is "
		          "tried again until it fits",
		          ingest_full_text(r));
	else if (r < 0)
		log_warnx("new policy not installed, the old one stays in force: %s",
		          tf_strerror(r));
	else
		log_info("policy installed");
}

static void *writer_main(void *p)
{
	struct server *srv = p;
	name_thread("writer");
	void *ctl = ctl_socket(srv, "writer", false);
	void *replies = inproc_socket(srv, ZMQ_PUSH, EP_REPLIES, false);
	struct job **batch = calloc(srv->batch_max, sizeof *batch);
	if (!ctl || !replies || !batch)
		fatal("writer: cannot open its sockets: %s", zmq_strerror(errno));
	void *writes = srv->writes_pull;

	/* ingest_set_policy belongs to the writer thread; the first policy is
	 * installed before any request is served. */
	struct policy *pol = srv->initial_policy;
	srv->initial_policy = NULL;
	int rc = ingest_set_policy(srv->ig, pol);
	if (store_full(rc))
		/* A full store must not keep the daemon down (issue 8, item 5):
		 * it serves queries and refuses writes until the policy fits. */
		log_warnx("read-only: the policy cannot be installed, %s; queries are answered, "
		          "writes are refused with STATUS_STORE_FULL until it is installed (tried "
		          "again every few seconds)",
		          ingest_full_text(rc));
	if (ctl_send(ctl, CTL_READY, &rc, sizeof rc) < 0)
		fatal("writer: control socket failed");

	bool stopping = false;
	while (!stopping) {
		zmq_pollitem_t items[] = {{ctl, 0, ZMQ_POLLIN, 0}, {writes, 0, ZMQ_POLLIN, 0}};
		/* A policy waiting for room is tried again even when no write
		 * comes; ingest paces the attempts. */
		bool pending = ingest_policy_pending(srv->ig);
		if (pending)
			(void)ingest_retry_policy(srv->ig);
		if (zmq_poll(items, 2, pending ? 1000 : -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("writer: poll: %s", zmq_strerror(errno));
			break;
		}
		if (items[0].revents & ZMQ_POLLIN) {
			uint8_t cmd[17];
			int n = ctl_recv(ctl, cmd, sizeof cmd, 0);
			if (n >= 1 && cmd[0] == CTL_STOP) {
				stopping = true;
			} else if (n == 1 + (int)sizeof pol && cmd[0] == CTL_POLICY) {
				memcpy(&pol, cmd + 1, sizeof pol);
				install_policy(srv, pol);
			}
		}
		/* On stop, everything the workers handed over is still written
		 * and answered: they have all exited by now. */
		for (;;) {
			size_t n = collect(srv, writes, batch);
			if (!n)
				break;
			commit_batch(srv, replies, batch, n);
			if (!stopping)
				break;
		}
	}
	uint8_t marker = REPLY_MARKER;
	if (zmq_send(replies, &marker, 1, 0) < 0)
		log_warnx("writer: cannot send the end marker: %s", zmq_strerror(errno));
	free(batch);
	zmq_close(replies);
	zmq_close(ctl);
	return NULL;
}

/* ---- guard: who may connect, and how many ---- */

/* Receives one ZAP request (RFC 27: version, request id, domain, address,
 * routing id, mechanism, credentials...) and answers it. With CURVE the
 * credential is the client's public key: only the CURVE twin of an
 * enrolled, unrevoked key gets in, so without an enrolled key nobody can
 * make the daemon hold a connection, buffer or reply (issue 8, item 3). */
static void guard_zap(struct server *srv)
{
	enum { MAX_FRAMES = 8 };
	zmq_msg_t f[MAX_FRAMES];
	int n = 0;
	bool more = true;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, srv->zap, 0) < 0) {
			zmq_msg_close(&m);
			break;
		}
		more = zmq_msg_more(&m);
		if (n < MAX_FRAMES)
			f[n++] = m;
		else
			zmq_msg_close(&m);
	}
	const char *status = "400", *text = "key not enrolled, or revoked";
	char user[65] = "";
	if (n >= 6) {
		size_t ml = zmq_msg_size(&f[5]);
		const char *mech = zmq_msg_data(&f[5]);
		if (ml == 4 && memcmp(mech, "NULL", 4) == 0 && !srv->curve) {
			status = "200", text = "OK"; /* --no-curve: loopback tests only */
		} else if (ml == 5 && memcmp(mech, "CURVE", 5) == 0 && n >= 7 &&
		           zmq_msg_size(&f[6]) == 32) {
			uint8_t ed[32];
			int r = ingest_transport_check(srv->ig, zmq_msg_data(&f[6]), ed);
			if (r == 0) {
				status = "200", text = "OK";
				hex_encode(ed, 32, user);
			} else if (r != TF_E_SIGNER) {
				status = "500", text = "the daemon cannot read its store";
				log_warnx("handshake check: %s", tf_strerror(r));
			} else {
				log_debug("handshake refused: key not enrolled, or revoked");
			}
		}
	}
	/* Reply: version, request id, status code, text, user id, metadata. */
	if (n >= 2) {
		zmq_send(srv->zap, "1.0", 3, ZMQ_SNDMORE);
		zmq_send(srv->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
		zmq_send(srv->zap, status, 3, ZMQ_SNDMORE);
		zmq_send(srv->zap, text, strlen(text), ZMQ_SNDMORE);
		zmq_send(srv->zap, user, strlen(user), ZMQ_SNDMORE);
		zmq_send(srv->zap, "", 0, 0);
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
}

/* One ROUTER monitor event. A connection beyond max_connections is shut
 * down at once (its socket, not closed under ZeroMQ's feet: ZeroMQ sees
 * the end and cleans up), so a crowd of connections cannot exhaust the
 * daemon's descriptors and lock every other client out. */
static void guard_monitor(struct server *srv, unsigned *n_conn, int64_t *last_warn)
{
	zmq_msg_t ev, addr;
	zmq_msg_init(&ev);
	zmq_msg_init(&addr);
	int got = zmq_msg_recv(&ev, srv->monitor, 0);
	if (got >= 0 && zmq_msg_more(&ev))
		zmq_msg_recv(&addr, srv->monitor, 0);
	if (got >= 6) {
		uint16_t event;
		uint32_t value;
		memcpy(&event, zmq_msg_data(&ev), sizeof event);
		memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, sizeof value);
		if (event == ZMQ_EVENT_ACCEPTED) {
			if (++*n_conn > srv->max_conn) {
				shutdown((int)value, SHUT_RDWR);
				int64_t now = clock_mono_ms();
				if (now - *last_warn > 60000) {
					log_warnx(
					    "more than %u client connections (max_connections): "
					    "new ones are closed",
					    srv->max_conn);
					*last_warn = now;
				}
			}
		} else if (event == ZMQ_EVENT_DISCONNECTED && *n_conn) {
			--*n_conn;
		}
	}
	zmq_msg_close(&ev);
	zmq_msg_close(&addr);
}

static void *guard_main(void *p)
{
	struct server *srv = p;
	name_thread("guard");
	void *ctl = ctl_socket(srv, "guard", false);
	if (!ctl)
		fatal("guard: cannot open its control socket: %s", zmq_strerror(errno));
	unsigned n_conn = 0;
	int64_t last_warn = -60000;
	for (;;) {
		zmq_pollitem_t items[] = {{ctl, 0, ZMQ_POLLIN, 0},
		                          {srv->zap, 0, ZMQ_POLLIN, 0},
		                          {srv->monitor, 0, ZMQ_POLLIN, 0}};
		if (zmq_poll(items, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("guard: poll: %s", zmq_strerror(errno));
			break;
		}
		if (items[0].revents & ZMQ_POLLIN) {
			uint8_t cmd[17];
			if (ctl_recv(ctl, cmd, sizeof cmd, 0) >= 1 && cmd[0] == CTL_STOP)
				break;
		}
		if (items[1].revents & ZMQ_POLLIN)
			guard_zap(srv);
		if (items[2].revents & ZMQ_POLLIN)
			guard_monitor(srv, &n_conn, &last_warn);
	}
	close_socket(ctl, 0);
	return NULL;
}

/* Opens the guard's sockets. They must exist before the ROUTER binds: a
 * handshake with no ZAP handler bound would be let in unchecked. */
static int open_guard(struct server *srv)
{
	srv->zap = inproc_socket(srv, ZMQ_REP, EP_ZAP, true);
	srv->guard_ctl = ctl_socket(srv, "guard", true);
	if (!srv->zap || !srv->guard_ctl)
		return -EIO;
	if (zmq_socket_monitor(srv->router, EP_MONITOR,
	                       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) < 0)
		return -EIO;
	srv->monitor = inproc_socket(srv, ZMQ_PAIR, EP_MONITOR, false);
	return srv->monitor ? 0 : -EIO;
}

/* ---- io thread ---- */

/* Reads one client message: [routing id][frame]. Anything but exactly one
 * frame is refused here; one frame goes to a worker. Returns false when
 * no message was waiting. */
static bool io_client_message(struct server *srv, void *jobs)
{
	zmq_msg_t rid, frame;
	zmq_msg_init(&rid);
	zmq_msg_init(&frame);
	bool got = false;
	if (zmq_msg_recv(&rid, srv->router, ZMQ_DONTWAIT) < 0)
		goto out;
	got = true;
	if (!zmq_msg_more(&rid) || zmq_msg_recv(&frame, srv->router, ZMQ_DONTWAIT) < 0)
		goto out;
	if (zmq_msg_more(&frame)) {
		size_t extra = drain_parts(srv->router);
		uint8_t *buf;
		size_t len;
		char why[96];
		snprintf(why, sizeof why, "expected one frame holding an Envelope, got %zu frames",
		         extra + 1);
		if (ingest_error_reply(S(MALFORMED), why, &buf, &len) == 0) {
			if (zmq_msg_send(&rid, srv->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
				zmq_send(srv->router, buf, len, ZMQ_DONTWAIT);
			free(buf);
		}
		goto out;
	}
	/* The caller checked that the job queue has room. */
	if (zmq_msg_send(&rid, jobs, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_msg_send(&frame, jobs, ZMQ_DONTWAIT) < 0)
		log_warnx("io: request dropped, job queue refused it: %s", zmq_strerror(errno));
out:
	zmq_msg_close(&rid);
	zmq_msg_close(&frame);
	return got;
}

enum io_got { IO_NONE, IO_REPLY, IO_MARKER };

/* Forwards one [routing id][reply] to its client: IO_REPLY, IO_MARKER for
 * the writer's end marker, IO_NONE when nothing was waiting. Never blocks:
 * a client gone or too slow loses the reply (ROUTER_MANDATORY off), never
 * the daemon its io thread. */
static enum io_got io_reply(struct server *srv)
{
	zmq_msg_t rid, rep;
	zmq_msg_init(&rid);
	zmq_msg_init(&rep);
	enum io_got got = IO_NONE;
	if (zmq_msg_recv(&rid, srv->replies_pull, ZMQ_DONTWAIT) < 0)
		goto out;
	got = IO_REPLY;
	if (!zmq_msg_more(&rid)) {
		if (zmq_msg_size(&rid) == 1 && *(uint8_t *)zmq_msg_data(&rid) == REPLY_MARKER)
			got = IO_MARKER;
		goto out;
	}
	if (zmq_msg_recv(&rep, srv->replies_pull, ZMQ_DONTWAIT) < 0)
		goto out;
	if (zmq_msg_send(&rid, srv->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		zmq_msg_send(&rep, srv->router, ZMQ_DONTWAIT);
out:
	zmq_msg_close(&rid);
	zmq_msg_close(&rep);
	return got;
}

static bool can_send(void *sock)
{
	int ev = 0;
	size_t l = sizeof ev;
	return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &l) == 0 && (ev & ZMQ_POLLOUT);
}

/* After CTL_EXIT: forward the writer's last replies, up to its marker. */
static void io_finish(struct server *srv, bool wait_writer)
{
	int64_t deadline = clock_mono_ms() + EXIT_WAIT_MS;
	for (;;) {
		int64_t left = deadline - clock_mono_ms();
		zmq_pollitem_t item = {srv->replies_pull, 0, ZMQ_POLLIN, 0};
		int pr = zmq_poll(&item, 1, wait_writer && left > 0 ? (long)left : 0);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		if (io_reply(srv) == IO_MARKER && wait_writer)
			wait_writer = false;
	}
	if (wait_writer)
		log_warnx("io: the writer's last replies did not arrive in time");
}

static void *io_main(void *p)
{
	struct server *srv = p;
	name_thread("io");
	void *ctl = ctl_socket(srv, "io", false);
	if (!ctl)
		fatal("io: cannot open its control socket: %s", zmq_strerror(errno));
	void *jobs = srv->jobs_push;
	bool accepting = true, writer_done = false;
	for (;;) {
		/* Read clients only while a worker can take the frame; otherwise
		 * wait for room. Either way replies keep flowing. */
		bool room = accepting && can_send(jobs);
		zmq_pollitem_t items[3] = {
		    {ctl, 0, ZMQ_POLLIN, 0},
		    {srv->replies_pull, 0, ZMQ_POLLIN, 0},
		    {room ? srv->router : jobs, 0, room ? ZMQ_POLLIN : ZMQ_POLLOUT, 0},
		};
		int n_items = accepting ? 3 : 2;
		if (zmq_poll(items, n_items, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warnx("io: poll: %s", zmq_strerror(errno));
			break;
		}
		if (items[0].revents & ZMQ_POLLIN) {
			uint8_t cmd[17];
			int n = ctl_recv(ctl, cmd, sizeof cmd, 0);
			if (n >= 1 && cmd[0] == CTL_STOP && accepting) {
				accepting = false;
				for (size_t i = 0; i < srv->n_bound; i++)
					zmq_unbind(srv->router, srv->bound[i]);
			} else if (n >= 2 && cmd[0] == CTL_EXIT) {
				io_finish(srv, cmd[1] != 0 && !writer_done);
				break;
			}
		}
		/* Everything ready is taken per poll, by non-blocking reads
		 * until one finds nothing (not a poll per message, issue 12), in
		 * bounded bursts so neither direction starves the other. */
		for (int i = 0; i < 1024 && (items[1].revents & ZMQ_POLLIN); i++) {
			enum io_got got = io_reply(srv);
			if (got == IO_MARKER)
				writer_done = true;
			if (got == IO_NONE)
				break;
		}
		if (n_items == 3 && room && (items[2].revents & ZMQ_POLLIN))
			for (int i = 0; i < 256 && can_send(jobs); i++)
				if (!io_client_message(srv, jobs))
					break;
	}
	close_socket(ctl, 0);
	return NULL;
}

/* ---- control ---- */

const char *server_endpoint(const struct server *srv, size_t i)
{
	return i < srv->n_bound ? srv->bound[i] : NULL;
}

/* After a start, the pages the first monthly report reads are mapped in
 * by this thread at the lowest priority (a restart would otherwise make
 * the first supervisor wait for ~6 GB of page mappings at a million
 * elders; bench/README.md). Nothing depends on it finishing. */
static void *prewarm_main(void *p)
{
	struct server *srv = p;
	name_thread("prewarm");
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) < 0)
		log_warnx("prewarm: cannot lower its priority: %s", strerror(errno));
	int r = ingest_prewarm(srv->ig, &srv->prewarm_stop);
	if (r < 0)
		log_warnx("prewarm: %s (the first report may be slower)", tf_strerror(r));
	return NULL;
}

static void teardown(struct server *srv)
{
	if (srv->prewarm_running) {
		srv->prewarm_stop = 1;
		pthread_join(srv->prewarm, NULL);
		srv->prewarm_running = false;
	}
	if (srv->io_running)
		ctl_send(srv->io_ctl, CTL_STOP, NULL, 0);
	for (unsigned i = 0; i < srv->workers_running; i++)
		ctl_send(srv->worker_ctl[i], CTL_STOP, NULL, 0);
	for (unsigned i = 0; i < srv->workers_running; i++)
		pthread_join(srv->workers[i], NULL);
	srv->workers_running = 0;
	if (srv->writer_running) {
		ctl_send(srv->writer_ctl, CTL_STOP, NULL, 0);
		pthread_join(srv->writer, NULL);
	}
	if (srv->io_running) {
		uint8_t wait_writer = srv->writer_running;
		ctl_send(srv->io_ctl, CTL_EXIT, &wait_writer, 1);
		pthread_join(srv->io, NULL);
	}
	if (srv->guard_running) {
		ctl_send(srv->guard_ctl, CTL_STOP, NULL, 0);
		pthread_join(srv->guard, NULL);
	}
	srv->writer_running = srv->io_running = srv->guard_running = false;
	for (unsigned i = 0; srv->worker_ctl && i < srv->n_workers; i++)
		close_socket(srv->worker_ctl[i], 0);
	close_socket(srv->io_ctl, 0);
	close_socket(srv->writer_ctl, 0);
	close_socket(srv->jobs_push, 0);
	close_socket(srv->writes_pull, 0);
	close_socket(srv->replies_pull, 0);
	close_socket(srv->zap, 0);
	close_socket(srv->monitor, 0);
	close_socket(srv->guard_ctl, 0);
	close_socket(srv->router, ROUTER_CLOSE_LINGER_MS);
	if (srv->ctx)
		zmq_ctx_term(srv->ctx);
	if (srv->initial_policy)
		policy_free(srv->initial_policy);
	free(srv->worker_ctl);
	free(srv->workers);
	free(srv->bound);
	free(srv);
}

static int open_router(struct server *srv, const struct server_options *opt, char *err,
                       size_t errlen)
{
	srv->router = zmq_socket(srv->ctx, ZMQ_ROUTER);
	if (!srv->router)
		goto zerr;
	int zero = 0, hwm = ROUTER_SNDHWM, rcvhwm = ROUTER_RCVHWM, one = 1;
	int handshake = HANDSHAKE_MS, hb_ivl = HEARTBEAT_IVL_MS, hb_timeout = HEARTBEAT_TIMEOUT_MS;
	/* The hard limit: ZeroMQ drops a connection that sends a bigger frame,
	 * before the frame is ever buffered whole. Below it, frames above
	 * max_message_size get a polite STATUS_TOO_LARGE. */
	int64_t maxmsg = (int64_t)opt->max_message_size * 2 + 4096;
	if (zmq_setsockopt(srv->router, ZMQ_ROUTER_MANDATORY, &zero, sizeof zero) < 0 ||
	    zmq_setsockopt(srv->router, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
	    zmq_setsockopt(srv->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) < 0 ||
	    zmq_setsockopt(srv->router, ZMQ_HANDSHAKE_IVL, &handshake, sizeof handshake) < 0 ||
	    zmq_setsockopt(srv->router, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) < 0 ||
	    zmq_setsockopt(srv->router, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) <
	        0 ||
	    zmq_setsockopt(srv->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0)
		goto zerr;
	if (opt->curve_secret &&
	    (zmq_setsockopt(srv->router, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
	     zmq_setsockopt(srv->router, ZMQ_CURVE_SECRETKEY, opt->curve_secret, 40) < 0 ||
	     zmq_setsockopt(srv->router, ZMQ_ZAP_DOMAIN, "tanfang", 7) < 0)) {
		snprintf(err, errlen, "CURVE secret key refused: %s", zmq_strerror(errno));
		return -EINVAL;
	}
	srv->curve = opt->curve_secret != NULL;
	if (open_guard(srv) < 0)
		goto zerr;
	srv->bound = calloc(opt->n_endpoints, sizeof *srv->bound);
	if (!srv->bound)
		return -ENOMEM;
	for (size_t i = 0; i < opt->n_endpoints; i++) {
		if (zmq_bind(srv->router, opt->endpoints[i]) < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot listen on %s: %s", opt->endpoints[i],
			         zmq_strerror(e));
			return e == EADDRINUSE ? -EADDRINUSE : -EINVAL;
		}
		size_t len = sizeof srv->bound[i];
		if (zmq_getsockopt(srv->router, ZMQ_LAST_ENDPOINT, srv->bound[i], &len) < 0)
			snprintf(srv->bound[i], sizeof srv->bound[i], "%s", opt->endpoints[i]);
		srv->n_bound++;
	}
	return 0;
zerr:
	snprintf(err, errlen, "ZeroMQ: %s", zmq_strerror(errno));
	return -EIO;
}

int server_start(const struct server_options *opt, struct ingest *ig, struct policy *pol,
                 struct server **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!opt->n_endpoints || !opt->workers || !opt->batch_max || !opt->max_message_size)
		abort(); /* the configuration layer guarantees these */
	struct server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		policy_free(pol);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	srv->initial_policy = pol;
	srv->ig = ig;
	srv->n_workers = opt->workers;
	srv->batch_max = opt->batch_max;
	srv->max_msg = opt->max_message_size;
	srv->max_conn = opt->max_connections ? opt->max_connections : 1000;
	int r = -ENOMEM;
	snprintf(err, errlen, "out of memory");
	srv->workers = calloc(opt->workers, sizeof *srv->workers);
	srv->worker_ctl = calloc(opt->workers, sizeof *srv->worker_ctl);
	srv->ctx = zmq_ctx_new();
	if (!srv->workers || !srv->worker_ctl || !srv->ctx)
		goto fail;

	r = open_router(srv, opt, err, errlen);
	if (r < 0)
		goto fail;
	r = -EIO;
	snprintf(err, errlen, "cannot open the internal sockets: %s", "ZeroMQ");
	srv->jobs_push = inproc_socket_hwm(srv, ZMQ_PUSH, EP_JOBS, true, JOBS_HWM);
	srv->writes_pull = inproc_socket(srv, ZMQ_PULL, EP_WRITES, true);
	srv->replies_pull = inproc_socket(srv, ZMQ_PULL, EP_REPLIES, true);
	srv->io_ctl = ctl_socket(srv, "io", true);
	srv->writer_ctl = ctl_socket(srv, "writer", true);
	if (!srv->jobs_push || !srv->writes_pull || !srv->replies_pull || !srv->io_ctl ||
	    !srv->writer_ctl)
		goto fail;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		char name[32];
		snprintf(name, sizeof name, "worker-%u", i);
		srv->worker_ctl[i] = ctl_socket(srv, name, true);
		if (!srv->worker_ctl[i])
			goto fail;
	}

	snprintf(err, errlen, "cannot start a thread");
	if (pthread_create(&srv->writer, NULL, writer_main, srv) != 0)
		goto fail;
	srv->writer_running = true;
	uint8_t ready[17];
	int rc = -EIO;
	if (ctl_recv(srv->writer_ctl, ready, sizeof ready, 0) == 1 + (int)sizeof rc &&
	    ready[0] == CTL_READY)
		memcpy(&rc, ready + 1, sizeof rc);
	if (rc < 0 && !store_full(rc)) {
		r = rc;
		snprintf(err, errlen, "the store refused the policy: %s", tf_strerror(rc));
		goto fail;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker_arg *arg = malloc(sizeof *arg);
		if (!arg)
			goto fail;
		arg->srv = srv;
		arg->index = i;
		if (pthread_create(&srv->workers[i], NULL, worker_main, arg) != 0) {
			free(arg);
			goto fail;
		}
		srv->workers_running++;
	}
	if (pthread_create(&srv->guard, NULL, guard_main, srv) != 0)
		goto fail;
	srv->guard_running = true;
	if (pthread_create(&srv->io, NULL, io_main, srv) != 0)
		goto fail;
	srv->io_running = true;
	/* Not essential: a failure to start it is only logged. */
	if (pthread_create(&srv->prewarm, NULL, prewarm_main, srv) == 0)
		srv->prewarm_running = true;
	else
		log_warnx("prewarm: cannot start its thread");
	*out = srv;
	return 0;
fail:
	teardown(srv);
	return r;
}

int server_reload_policy(struct server *srv, struct policy *pol)
{
	int r = ctl_send(srv->writer_ctl, CTL_POLICY, &pol, sizeof pol);
	if (r < 0)
		policy_free(pol);
	return r;
}

void server_stop(struct server *srv)
{
	if (srv)
		teardown(srv);
}

/* ---- CURVE keys ---- */

static int write_new_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int r = w == (ssize_t)len ? 0 : (w < 0 ? -errno : -EIO);
	/* The umask may have narrowed the mode; the public key must be
	 * readable by clients on the same host. */
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		unlink(path);
	return r;
}

int server_curve_init(const char *dir, char pub[41])
{
	char sec[41], path[PATH_MAX], line[42];
	if (zmq_curve_keypair(pub, sec) < 0)
		return -EIO;
	snprintf(path, sizeof path, "%s/curve.key", dir);
	snprintf(line, sizeof line, "%s\n", sec);
	int r = write_new_file(path, line, 0600);
	memset(sec, 0, sizeof sec);
	memset(line, 0, sizeof line);
	if (r < 0)
		return r;
	snprintf(path, sizeof path, "%s/curve.pub", dir);
	snprintf(line, sizeof line, "%s\n", pub);
	return write_new_file(path, line, 0644);
}

int server_curve_load(const char *dir, char secret[41])
{
	char path[PATH_MAX], line[128] = {0};
	snprintf(path, sizeof path, "%s/curve.key", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	uint8_t raw[32];
	int r = got && strlen(line) == 40 && zmq_z85_decode(raw, line) ? 0 : TF_E_MALFORMED;
	if (r == 0)
		memcpy(secret, line, 41);
	memset(line, 0, sizeof line);
	memset(raw, 0, sizeof raw);
	return r;
}
