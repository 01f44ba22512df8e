/* The client side of the transport: a ZeroMQ DEALER that sends one frame (an
 * Envelope) and receives one frame (a Reply). Every zmq_* call of the
 * clients lives here; the daemon's socket code is in daemon/server.c.
 *
 * With a server key (Z85, 40 characters) the connection uses CURVE: the
 * client makes an ephemeral CURVE key pair per connection, since identity is
 * carried by the Ed25519 envelope signature, not the transport. */
#ifndef TF_NET_H
#define TF_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "tf_err.h"

struct net;

/* Connects (lazily, as ZeroMQ does) to endpoint, e.g. "tcp://127.0.0.1:7480".
 * server_key_z85 NULL or "" = no CURVE. With CURVE, the client's transport
 * key is the X25519 twin of kp's Ed25519 key (keys_transport), which the
 * daemon accepts only while kp is enrolled; kp NULL = ephemeral keys, which
 * a daemon with CURVE refuses. Returns 0, -EINVAL for a bad endpoint or
 * key, -EIO, or -ENOMEM. */
int net_connect(const char *endpoint, const char *server_key_z85, const struct keypair *kp,
                struct net **out) TF_MUST_CHECK;
void net_close(struct net *n);

/* Is the connection up: has a handshake with the daemon succeeded, and not
 * dropped since? (ZeroMQ connects in the background; a gateway tells a
 * daemon that is down from one that is slow by this.) */
bool net_up(struct net *n);

/* Queues one frame for sending. Returns 0 or -EIO. */
int net_send(struct net *n, const uint8_t *frame, size_t len) TF_MUST_CHECK;
/* Queues one message of n frames (parts[i], lens[i]). The protocol has
 * single-frame messages only; this exists so the tests can send the
 * multi-frame message the daemon must refuse. Returns 0 or -EIO. */
int net_send_parts(struct net *n, const uint8_t *const *parts, const size_t *lens,
                   size_t count) TF_MUST_CHECK;
/* Waits up to timeout_ms for one frame; *out is malloc'd (caller frees).
 * Returns 0, TF_E_TIMEOUT, TF_E_SIGNER (the daemon refused our key at the
 * handshake: not enrolled, or revoked), or -EIO. */
int net_recv(struct net *n, int timeout_ms, uint8_t **out, size_t *out_len) TF_MUST_CHECK;

#endif
