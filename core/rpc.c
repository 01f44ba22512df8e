#include "rpc.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"

struct rpc {
	struct net *net;
	struct keypair key;
};

int rpc_open(const char *endpoint, const char *server_key_z85, const struct keypair *key,
             struct rpc **out)
{
	*out = NULL;
	struct rpc *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	int rc = net_connect(endpoint, server_key_z85, key, &r->net);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->key = *key;
	*out = r;
	return 0;
}

void rpc_close(struct rpc *r)
{
	if (!r)
		return;
	net_close(r->net);
	sodium_memzero(&r->key, sizeof r->key);
	free(r);
}

int rpc_seal(const struct keypair *key, tf_request *req, uint8_t **out, size_t *out_len)
{
	return rpc_seal_ref(key, req, out, out_len, NULL);
}

int rpc_seal_ref(const struct keypair *key, tf_request *req, uint8_t **out, size_t *out_len,
                 uint8_t ref[ENVELOPE_REF_LEN])
{
	req->sent_at_ms = clock_now_ms();
	/* Each signing is a new request, even of the same query in the same
	 * millisecond: the daemon answers an envelope only once. */
	uint8_t nonce[16];
	randombytes_buf(nonce, sizeof nonce);
	ProtobufCBinaryData given = req->nonce;
	if (!given.len)
		req->nonce = (ProtobufCBinaryData){.len = sizeof nonce, .data = nonce};
	uint8_t *body;
	size_t blen;
	int r = wire_pack(WIRE_REQUEST, req, &body, &blen);
	req->nonce = given;
	if (r < 0)
		return r;
	if (ref)
		envelope_ref(body, blen, ref);
	r = envelope_seal(key->sk, body, blen, out, out_len);
	free(body);
	return r;
}

bool rpc_up(struct rpc *r)
{
	return net_up(r->net);
}

int rpc_send_sealed(struct rpc *r, const uint8_t *frame, size_t len)
{
	return net_send(r->net, frame, len);
}

int rpc_recv(struct rpc *r, int timeout_ms, tf_reply **out)
{
	*out = NULL;
	uint8_t *buf;
	size_t len;
	int rc = net_recv(r->net, timeout_ms, &buf, &len);
	if (rc < 0)
		return rc;
	rc = wire_unpack(WIRE_REPLY, buf, len, (void **)out);
	free(buf);
	return rc;
}

/* The daemon refused our transport key at the handshake: the same answer a
 * signature by that key gets, so every caller handles it as it already
 * handles an unknown or revoked signer. */
static int refused_reply(const uint8_t *ref, tf_reply **out)
{
	tf_reply rep;
	wire_init(WIRE_REPLY, &rep);
	rep.status = TANFANG__V1__STATUS__STATUS_UNKNOWN_SIGNER;
	rep.detail = "the daemon refused this key at the connection: not enrolled, or revoked";
	if (ref)
		rep.ref = (ProtobufCBinaryData){.len = ENVELOPE_REF_LEN, .data = (uint8_t *)ref};
	uint8_t *buf;
	size_t len;
	int rc = wire_pack(WIRE_REPLY, &rep, &buf, &len);
	if (rc < 0)
		return rc;
	rc = wire_unpack(WIRE_REPLY, buf, len, (void **)out);
	free(buf);
	return rc;
}

/* Sends frame and waits for the reply carrying ref (NULL: the reply with
 * none, to a frame that is not an Envelope). */
static int call_frame(struct rpc *r, const uint8_t *frame, size_t len, const uint8_t *ref,
                      int timeout_ms, tf_reply **out)
{
	*out = NULL;
	bool has_ref = ref != NULL;
	int rc = net_send(r->net, frame, len);
	if (rc < 0)
		return rc;
	int64_t deadline = clock_mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - clock_mono_ms();
		if (left <= 0)
			return TF_E_TIMEOUT;
		tf_reply *rep;
		rc = rpc_recv(r, (int)left, &rep);
		if (rc == TF_E_MALFORMED)
			continue; /* not a Reply: cannot be ours */
		if (rc == TF_E_SIGNER)
			return refused_reply(has_ref ? ref : NULL, out);
		if (rc < 0)
			return rc;
		bool match;
		if (has_ref)
			match = rep->ref.len == ENVELOPE_REF_LEN &&
			        memcmp(rep->ref.data, ref, ENVELOPE_REF_LEN) == 0;
		else
			match = rep->ref.len == 0;
		if (match) {
			*out = rep;
			return 0;
		}
		/* A late reply to an earlier request that timed out. */
		wire_free(WIRE_REPLY, rep);
	}
}

int rpc_call_sealed(struct rpc *r, const uint8_t *frame, size_t len, int timeout_ms, tf_reply **out)
{
	*out = NULL;
	/* The reply to this frame carries BLAKE2b(body). A frame that is not an
	 * Envelope (only tests send those) gets a reply without a ref. */
	uint8_t ref[ENVELOPE_REF_LEN];
	bool has_ref = false;
	tf_envelope *env;
	int rc = wire_unpack(WIRE_ENVELOPE, frame, len, (void **)&env);
	if (rc == -ENOMEM)
		return rc;
	if (rc == 0) {
		envelope_ref(env->body.data, env->body.len, ref);
		has_ref = true;
		wire_free(WIRE_ENVELOPE, env);
	}
	return call_frame(r, frame, len, has_ref ? ref : NULL, timeout_ms, out);
}

int rpc_call(struct rpc *r, tf_request *req, int timeout_ms, tf_reply **out)
{
	*out = NULL;
	uint8_t *frame;
	size_t len;
	uint8_t ref[ENVELOPE_REF_LEN];
	/* The ref comes from sealing: no need to decode our own frame again. */
	int rc = rpc_seal_ref(&r->key, req, &frame, &len, ref);
	if (rc < 0)
		return rc;
	rc = call_frame(r, frame, len, ref, timeout_ms, out);
	free(frame);
	return rc;
}
