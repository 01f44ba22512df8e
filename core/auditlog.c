#include "auditlog.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define HEAD_KEY "log_head"

static void chain_hash(const uint8_t prev[AUDITLOG_HASH_LEN], uint64_t seq, const uint8_t *env,
                       size_t len, uint8_t out[AUDITLOG_HASH_LEN])
{
	crypto_generichash_state st;
	uint8_t be[8];
	store_be64(be, seq);
	crypto_generichash_init(&st, NULL, 0, AUDITLOG_HASH_LEN);
	crypto_generichash_update(&st, prev, AUDITLOG_HASH_LEN);
	crypto_generichash_update(&st, be, sizeof be);
	crypto_generichash_update(&st, env, len);
	crypto_generichash_final(&st, out, AUDITLOG_HASH_LEN);
}

static int read_head(struct store_txn *txn, uint64_t *seq, uint8_t hash[AUDITLOG_HASH_LEN])
{
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_META, HEAD_KEY, strlen(HEAD_KEY), &v, &vl);
	if (r == -ENOENT) {
		*seq = 0;
		memset(hash, 0, AUDITLOG_HASH_LEN);
		return 0;
	}
	if (r < 0)
		return r;
	if (vl != 8 + AUDITLOG_HASH_LEN)
		return TF_E_CORRUPT;
	*seq = store_get_be64(v);
	memcpy(hash, (const uint8_t *)v + 8, AUDITLOG_HASH_LEN);
	return 0;
}

int auditlog_append(struct store_txn *txn, const uint8_t *env, size_t len, uint64_t *seq)
{
	uint64_t n;
	uint8_t hash[AUDITLOG_HASH_LEN];
	int r = read_head(txn, &n, hash);
	if (r < 0)
		return r;
	n++;
	uint8_t next[AUDITLOG_HASH_LEN];
	chain_hash(hash, n, env, len, next);

	uint8_t *val = malloc(AUDITLOG_HASH_LEN + len + 1);
	if (!val)
		return -ENOMEM;
	memcpy(val, next, AUDITLOG_HASH_LEN);
	memcpy(val + AUDITLOG_HASH_LEN, env, len);
	uint8_t key[8];
	store_be64(key, n);
	r = store_put(txn, DB_LOG, key, sizeof key, val, AUDITLOG_HASH_LEN + len,
	              STORE_NOOVERWRITE);
	free(val);
	if (r < 0)
		return r == -EEXIST ? TF_E_CORRUPT : r;
	uint8_t head[8 + AUDITLOG_HASH_LEN];
	store_be64(head, n);
	memcpy(head + 8, next, AUDITLOG_HASH_LEN);
	r = store_put(txn, DB_META, HEAD_KEY, strlen(HEAD_KEY), head, sizeof head, 0);
	if (r == 0 && seq)
		*seq = n;
	return r;
}

int auditlog_get(struct store_txn *txn, uint64_t seq, const uint8_t **env, size_t *len)
{
	uint8_t key[8];
	store_be64(key, seq);
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_LOG, key, sizeof key, &v, &vl);
	if (r < 0)
		return r;
	if (vl < AUDITLOG_HASH_LEN)
		return TF_E_CORRUPT;
	*env = (const uint8_t *)v + AUDITLOG_HASH_LEN;
	*len = vl - AUDITLOG_HASH_LEN;
	return 0;
}

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), r = TF_E_CORRUPT)

int auditlog_verify(struct store *st, uint64_t *count, char *err, size_t errlen)
{
	*count = 0;
	if (errlen)
		err[0] = '\0';
	struct store_txn *txn;
	int r = store_txn_begin(st, false, NULL, &txn);
	if (r < 0)
		return r;
	struct store_cursor *cur = NULL;
	uint64_t head_seq;
	uint8_t head_hash[AUDITLOG_HASH_LEN], prev[AUDITLOG_HASH_LEN] = {0};
	r = read_head(txn, &head_seq, head_hash);
	if (r < 0) {
		snprintf(err, errlen, "log head unreadable");
		goto out;
	}
	r = store_cursor_open(txn, DB_LOG, &cur);
	if (r < 0)
		goto out;
	const void *k, *v;
	size_t kl, vl;
	uint64_t expect = 1;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl), expect++) {
		if (kl != 8 || vl < AUDITLOG_HASH_LEN) {
			FAIL("entry %llu: bad key or value size", (unsigned long long)expect);
			goto out;
		}
		uint64_t seq = store_get_be64(k);
		if (seq != expect) {
			FAIL("entry %llu missing (next present is %llu)",
			     (unsigned long long)expect, (unsigned long long)seq);
			goto out;
		}
		const uint8_t *env = (const uint8_t *)v + AUDITLOG_HASH_LEN;
		size_t len = vl - AUDITLOG_HASH_LEN;
		uint8_t h[AUDITLOG_HASH_LEN];
		chain_hash(prev, seq, env, len, h);
		if (sodium_memcmp(h, v, AUDITLOG_HASH_LEN) != 0) {
			FAIL("entry %llu: chain hash mismatch (entry or its predecessor edited)",
			     (unsigned long long)seq);
			goto out;
		}
		tf_envelope *e;
		int vr = envelope_open(env, len, &e);
		if (vr < 0) {
			FAIL("entry %llu: envelope does not verify: %s", (unsigned long long)seq,
			     tf_strerror(vr));
			goto out;
		}
		wire_free(WIRE_ENVELOPE, e);
		memcpy(prev, h, sizeof prev);
		(*count)++;
	}
	if (r != -ENOENT)
		goto out;
	r = 0;
	if (*count != head_seq)
		FAIL("log holds %llu entries but the head says %llu (entries deleted at the end?)",
		     (unsigned long long)*count, (unsigned long long)head_seq);
	else if (sodium_memcmp(prev, head_hash, AUDITLOG_HASH_LEN) != 0)
		FAIL("final chain hash does not match the head");
out:
	store_cursor_close(cur);
	store_txn_abort(txn);
	return r;
}
