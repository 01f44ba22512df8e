#include "record.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"

int record_get(struct store_txn *txn, const uint8_t id[16], tf_record **out)
{
	*out = NULL;
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_RECORDS, id, 16, &v, &vl);
	if (r < 0)
		return r;
	return wire_unpack_stored(WIRE_RECORD, v, vl, (void **)out) < 0 ? TF_E_CORRUPT : 0;
}

int record_content_hash(const uint8_t signer[32], enum wire_type type, const void *msg,
                        uint8_t out[32])
{
	uint8_t *buf;
	size_t len;
	int r = wire_pack(type, msg, &buf, &len);
	if (r < 0)
		return r;
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, signer, 32);
	crypto_generichash_update(&st, buf, len);
	crypto_generichash_final(&st, out, 32);
	free(buf);
	return 0;
}

size_t record_hist_key(uint8_t *buf, const char *who, int64_t t, const uint8_t *id)
{
	size_t n = strlen(who);
	memcpy(buf, who, n + 1);
	store_be64(buf + n + 1, (uint64_t)t);
	if (id)
		memcpy(buf + n + 9, id, 16);
	return n + 9 + (id ? 16 : 0);
}

void record_month_prefix(int yyyymm, uint8_t out[4])
{
	uint32_t m = (uint32_t)yyyymm;
	out[0] = (uint8_t)(m >> 24), out[1] = (uint8_t)(m >> 16), out[2] = (uint8_t)(m >> 8),
	out[3] = (uint8_t)m;
}

int record_index_visit(struct store_txn *txn, const tf_visit *v, const char *visitor_id,
                       int64_t received_at)
{
	uint8_t key[4 + 65 + 8 + 16], val[1 + 8 + 65];
	size_t el = strlen(v->elder_id), vl = strlen(visitor_id);
	if (el > 64 || vl > 64 || v->id.len != 16)
		return TF_E_INVALID;
	record_month_prefix(period_month_of(v->visited_at), key);
	memcpy(key + 4, v->elder_id, el + 1);
	store_be64(key + 5 + el, (uint64_t)v->visited_at);
	memcpy(key + 13 + el, v->id.data, 16);
	val[0] = (uint8_t)v->kind;
	store_be64(val + 1, (uint64_t)received_at);
	memcpy(val + 9, visitor_id, vl);
	return store_put(txn, DB_MONTH_VISITS, key, 29 + el, val, 9 + vl, 0);
}

int record_month_split(const void *k, size_t kl, const void *v, size_t vl, struct month_visit *out)
{
	const uint8_t *kb = k, *vb = v;
	if (kl < 4 + 2 + 24 || kl - 28 > sizeof out->buf || vl < 9 || vl - 9 >= sizeof out->visitor)
		return TF_E_CORRUPT;
	size_t el = kl - 4 - 25;
	if (kb[4 + el] != 0)
		return TF_E_CORRUPT;
	memcpy(out->buf, kb + 4, el + 1);
	out->elder = out->buf;
	out->at = (int64_t)store_get_be64(kb + 5 + el);
	out->id = kb + 13 + el;
	out->kind = vb[0];
	out->received_at = (int64_t)store_get_be64(vb + 1);
	memcpy(out->visitor, vb + 9, vl - 9);
	out->visitor[vl - 9] = '\0';
	return 0;
}
