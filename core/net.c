#include "net.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "hex.h"

/* A client never hangs on exit waiting to flush requests to a daemon that
 * is gone: unsent requests are the outbox's business, not the socket's. */
#define NET_LINGER_MS 200
/* A send that cannot be queued this long means the daemon is not draining
 * (down, or we are far ahead of it); report it instead of blocking forever. */
#define NET_SEND_TIMEOUT_MS 5000

struct net {
	void *ctx;
	void *sock;
	void *monitor; /* sock's handshakes, so a refused key is told apart */
	bool refused;  /* the daemon refused our key at the handshake */
	bool up;       /* a handshake succeeded and the connection has not dropped since */
};

static bool z85_key_valid(const char *key)
{
	uint8_t raw[32];
	return strlen(key) == 40 && zmq_z85_decode(raw, key) != NULL;
}

/* Watches sock's handshakes: a daemon that refuses the client's key (not
 * enrolled, revoked) shows only as silence otherwise. */
static int watch_handshakes(struct net *n)
{
	char ep[64];
	snprintf(ep, sizeof ep, "inproc://net-monitor-%p", (void *)n);
	if (zmq_socket_monitor(n->sock, ep,
	                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) < 0)
		return -EIO;
	n->monitor = zmq_socket(n->ctx, ZMQ_PAIR);
	int linger = 0;
	if (!n->monitor || zmq_setsockopt(n->monitor, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
	    zmq_connect(n->monitor, ep) < 0)
		return -EIO;
	return 0;
}

/* Reads the monitor's events; sets n->refused on an authentication
 * failure. */
static void read_monitor(struct net *n)
{
	for (;;) {
		zmq_msg_t ev, addr;
		zmq_msg_init(&ev);
		zmq_msg_init(&addr);
		int got = zmq_msg_recv(&ev, n->monitor, ZMQ_DONTWAIT);
		if (got >= 0 && zmq_msg_more(&ev))
			zmq_msg_recv(&addr, n->monitor, 0);
		if (got >= 6) {
			uint16_t event;
			memcpy(&event, zmq_msg_data(&ev), sizeof event);
			if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
				n->refused = true;
			else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
				n->up = true, n->refused = false;
			else if (event == ZMQ_EVENT_DISCONNECTED)
				n->up = false;
		}
		zmq_msg_close(&ev);
		zmq_msg_close(&addr);
		if (got < 0)
			return;
	}
}

int net_connect(const char *endpoint, const char *server_key_z85, const struct keypair *kp,
                struct net **out)
{
	*out = NULL;
	if (!endpoint || !*endpoint)
		return -EINVAL;
	bool curve = server_key_z85 && *server_key_z85;
	if (curve && !z85_key_valid(server_key_z85))
		return -EINVAL;
	struct net *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	int r = -ENOMEM;
	/* One context per connection: no process-wide state, and a process
	 * that forks can open fresh connections in the child. */
	n->ctx = zmq_ctx_new();
	if (!n->ctx)
		goto err;
	n->sock = zmq_socket(n->ctx, ZMQ_DEALER);
	if (!n->sock)
		goto err;
	int linger = NET_LINGER_MS, sndtimeo = NET_SEND_TIMEOUT_MS;
	r = -EIO;
	if (zmq_setsockopt(n->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
	    zmq_setsockopt(n->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo) < 0)
		goto err;
	if (curve) {
		/* The transport key is the X25519 twin of the client's Ed25519
		 * key: the daemon lets in only enrolled keys (issue 8, item 3).
		 * Without a key pair, ephemeral keys (a daemon with CURVE refuses
		 * them; kept for tests of exactly that). */
		uint8_t rpub[32], rsec[32];
		char pub[41], sec[41];
		bool made = kp ? keys_transport(kp, rpub, rsec) == 0 &&
		                     zmq_z85_encode(pub, rpub, 32) && zmq_z85_encode(sec, rsec, 32)
		               : zmq_curve_keypair(pub, sec) == 0;
		explicit_bzero(rsec, sizeof rsec);
		if (!made)
			goto err;
		int ok = zmq_setsockopt(n->sock, ZMQ_CURVE_SERVERKEY, server_key_z85, 40) == 0 &&
		         zmq_setsockopt(n->sock, ZMQ_CURVE_PUBLICKEY, pub, 40) == 0 &&
		         zmq_setsockopt(n->sock, ZMQ_CURVE_SECRETKEY, sec, 40) == 0;
		explicit_bzero(sec, sizeof sec);
		if (!ok)
			goto err;
	}
	if (watch_handshakes(n) < 0)
		goto err;
	if (zmq_connect(n->sock, endpoint) < 0) {
		r = (errno == EINVAL || errno == EPROTONOSUPPORT || errno == ENOCOMPATPROTO)
		        ? -EINVAL
		        : -EIO;
		goto err;
	}
	*out = n;
	return 0;
err:
	net_close(n);
	return r;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	if (n->monitor)
		zmq_close(n->monitor);
	if (n->sock)
		zmq_close(n->sock);
	if (n->ctx)
		zmq_ctx_term(n->ctx);
	free(n);
}

bool net_up(struct net *n)
{
	read_monitor(n);
	return n->up;
}

int net_send_parts(struct net *n, const uint8_t *const *parts, const size_t *lens, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		int flags = i + 1 < count ? ZMQ_SNDMORE : 0;
		while (zmq_send(n->sock, parts[i], lens[i], flags) < 0)
			if (errno != EINTR)
				return -EIO;
	}
	return 0;
}

int net_send(struct net *n, const uint8_t *frame, size_t len)
{
	return net_send_parts(n, &frame, &len, 1);
}

/* Takes one waiting message without blocking: 0 (*out set), -EAGAIN when
 * none waits, -ENOMEM or -EIO. */
static int take_message(struct net *n, uint8_t **out, size_t *out_len)
{
	zmq_msg_t msg;
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, n->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&msg);
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -EIO;
	}
	/* The daemon sends single-frame replies; anything after the first
	 * frame of a multi-part message is dropped, not left to confuse the
	 * next receive. */
	bool more = zmq_msg_more(&msg);
	size_t len = zmq_msg_size(&msg);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf && len)
		memcpy(buf, zmq_msg_data(&msg), len);
	zmq_msg_close(&msg);
	while (more) {
		zmq_msg_t extra;
		zmq_msg_init(&extra);
		if (zmq_msg_recv(&extra, n->sock, 0) < 0) {
			zmq_msg_close(&extra);
			break;
		}
		more = zmq_msg_more(&extra);
		zmq_msg_close(&extra);
	}
	if (!buf)
		return -ENOMEM;
	*out = buf;
	*out_len = len;
	return 0;
}

int net_recv(struct net *n, int timeout_ms, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	/* A reply already waiting is taken without a poll (a system call
	 * each, issue 12): a pipelining sender reads hundreds in a row. A
	 * refused handshake sends nothing, so it is still seen below. */
	int r = n->refused ? -EAGAIN : take_message(n, out, out_len);
	if (r != -EAGAIN)
		return r;
	int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int64_t left = deadline - clock_mono_ms();
		zmq_pollitem_t items[2] = {{.socket = n->sock, .events = ZMQ_POLLIN},
		                           {.socket = n->monitor, .events = ZMQ_POLLIN}};
		int pr = zmq_poll(items, n->monitor ? 2 : 1, left > 0 ? (long)left : 0);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -EIO;
		if (n->monitor && (items[1].revents & ZMQ_POLLIN))
			read_monitor(n);
		/* ZeroMQ retries the handshake for ever; one refusal is the
		 * answer (the key is not enrolled, or revoked). */
		if (n->refused)
			return TF_E_SIGNER;
		if (pr == 0)
			return TF_E_TIMEOUT;
		if (!(items[0].revents & ZMQ_POLLIN))
			continue;
		r = take_message(n, out, out_len);
		if (r != -EAGAIN)
			return r;
	}
}
