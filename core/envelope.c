#include "envelope.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int envelope_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

/* The signed message is prefix || body; built in one buffer because
 * crypto_sign_detached takes a single message. */
static int signed_message(const uint8_t *body, size_t len, uint8_t **out, size_t *out_len)
{
	size_t pl = strlen(ENVELOPE_DOMAIN);
	uint8_t *m = malloc(pl + len + 1);
	if (!m)
		return -ENOMEM;
	memcpy(m, ENVELOPE_DOMAIN, pl);
	if (len)
		memcpy(m + pl, body, len);
	*out = m;
	*out_len = pl + len;
	return 0;
}

int envelope_seal(const uint8_t sk[ENVELOPE_SK_LEN], const uint8_t *body, size_t len, uint8_t **out,
                  size_t *out_len)
{
	uint8_t *m;
	size_t ml;
	int r = signed_message(body, len, &m, &ml);
	if (r < 0)
		return r;
	uint8_t sig[ENVELOPE_SIG_LEN];
	crypto_sign_detached(sig, NULL, m, ml, sk);
	free(m);

	tf_envelope env;
	wire_init(WIRE_ENVELOPE, &env);
	env.signer.data = (uint8_t *)sk + 32;
	env.signer.len = ENVELOPE_PK_LEN;
	env.body.data = (uint8_t *)body;
	env.body.len = len;
	env.signature.data = sig;
	env.signature.len = sizeof sig;
	return wire_pack(WIRE_ENVELOPE, &env, out, out_len);
}

int envelope_open(const uint8_t *frame, size_t len, tf_envelope **out)
{
	*out = NULL;
	tf_envelope *env;
	/* Strict: a field the Envelope does not declare would be outside the
	 * signature, yet kept in the audit log with the frame. */
	int r = wire_unpack_detail(WIRE_ENVELOPE, frame, len, WIRE_STRICT, NULL, 0, (void **)&env);
	if (r < 0)
		return r;
	if (env->signer.len != ENVELOPE_PK_LEN || env->signature.len != ENVELOPE_SIG_LEN) {
		wire_free(WIRE_ENVELOPE, env);
		return TF_E_MALFORMED;
	}
	uint8_t *m;
	size_t ml;
	r = signed_message(env->body.data, env->body.len, &m, &ml);
	if (r < 0) {
		wire_free(WIRE_ENVELOPE, env);
		return r;
	}
	r = crypto_sign_verify_detached(env->signature.data, m, ml, env->signer.data);
	free(m);
	if (r != 0) {
		wire_free(WIRE_ENVELOPE, env);
		return TF_E_BADSIG;
	}
	*out = env;
	return 0;
}

void envelope_ref(const uint8_t *body, size_t len, uint8_t out[ENVELOPE_REF_LEN])
{
	crypto_generichash(out, ENVELOPE_REF_LEN, body, len, NULL, 0);
}
