#include "replay.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* DB_SEEN keys: be64(sent_at_ms as unsigned, offset so negatives sort
 * first) || ref. Ordered by signing time, so pruning takes the front. */
#define SEEN_KEY_LEN (8 + ENVELOPE_REF_LEN)

static void seen_key(uint8_t out[SEEN_KEY_LEN], int64_t sent_ms, const uint8_t *ref)
{
	store_be64(out, (uint64_t)sent_ms ^ (UINT64_C(1) << 63));
	memcpy(out + 8, ref, ENVELOPE_REF_LEN);
}

int replay_write_seen(struct store_txn *txn, int64_t sent_ms, const uint8_t ref[ENVELOPE_REF_LEN])
{
	uint8_t key[SEEN_KEY_LEN];
	seen_key(key, sent_ms, ref);
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_SEEN, key, sizeof key, &v, &vl);
	if (r == 0)
		return -EEXIST;
	return r == -ENOENT ? 0 : r;
}

int replay_write_mark(struct store_txn *txn, int64_t sent_ms, const uint8_t ref[ENVELOPE_REF_LEN])
{
	uint8_t key[SEEN_KEY_LEN];
	seen_key(key, sent_ms, ref);
	return store_put(txn, DB_SEEN, key, sizeof key, "", 0, 0);
}

int replay_write_prune(struct store_txn *txn, int64_t before_ms, unsigned max)
{
	uint8_t limit[8];
	store_be64(limit, (uint64_t)before_ms ^ (UINT64_C(1) << 63));
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_SEEN, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	unsigned n = 0;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0 && n < max;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl), n++) {
		if (kl < 8 || memcmp(k, limit, 8) >= 0)
			break;
		if ((r = store_cursor_del(cur)) < 0)
			break;
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

/* ---- queries, in memory ---- */

/* Linear probing over a short window: a lookup touches one or two cache
 * lines, and an expired slot is free again without any sweep. */
#define PROBE 32

struct memo_slot {
	uint8_t ref[16]; /* half the hash: ample against collisions here */
	int64_t until_ms;
};

/* A signer's token bucket (REPLAY_QUOTA_*), found by a keyed hash. */
#define QUOTA_BITS 14
struct memo_quota {
	int64_t at_ms; /* when tokens was last brought up to date; 0: never */
	double tokens;
};

struct replay_memo {
	pthread_mutex_t lock;
	size_t mask;
	struct memo_slot *slots;
	struct memo_quota *quota;
	uint8_t quota_key[crypto_shorthash_KEYBYTES];
};

int replay_memo_new(unsigned bits, struct replay_memo **out)
{
	*out = NULL;
	if (bits < 8 || bits > 24)
		return -EINVAL;
	struct replay_memo *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	/* calloc of a large block maps zero pages: untouched slots cost no
	 * memory. */
	m->slots = calloc((size_t)1 << bits, sizeof *m->slots);
	m->quota = calloc((size_t)1 << QUOTA_BITS, sizeof *m->quota);
	if (!m->slots || !m->quota || pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m->slots);
		free(m->quota);
		free(m);
		return -ENOMEM;
	}
	randombytes_buf(m->quota_key, sizeof m->quota_key);
	m->mask = ((size_t)1 << bits) - 1;
	*out = m;
	return 0;
}

void replay_memo_free(struct replay_memo *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->slots);
	free(m->quota);
	free(m);
}

/* Takes one token of signer's bucket; false if it has none. Under the lock. */
static bool quota_take(struct replay_memo *m, const uint8_t *signer, int64_t now_ms)
{
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, signer, 32, m->quota_key);
	uint32_t i;
	memcpy(&i, h, sizeof i);
	struct memo_quota *q = &m->quota[i & ((1u << QUOTA_BITS) - 1)];
	if (!q->at_ms) {
		q->tokens = REPLAY_QUOTA_BURST;
	} else if (now_ms > q->at_ms) {
		q->tokens += (double)(now_ms - q->at_ms) * REPLAY_QUOTA_PER_S / 1000.0;
		if (q->tokens > REPLAY_QUOTA_BURST)
			q->tokens = REPLAY_QUOTA_BURST;
	}
	q->at_ms = now_ms > 0 ? now_ms : 1;
	if (q->tokens < 1)
		return false;
	q->tokens -= 1;
	return true;
}

int replay_memo_claim(struct replay_memo *m, const uint8_t ref[ENVELOPE_REF_LEN],
                      const uint8_t *signer, int64_t until_ms, int64_t now_ms)
{
	size_t h;
	memcpy(&h, ref, sizeof h); /* a hash already: any bytes are uniform */
	pthread_mutex_lock(&m->lock);
	struct memo_slot *free_slot = NULL;
	int r = -EBUSY;
	for (size_t i = 0; i < PROBE; i++) {
		struct memo_slot *s = &m->slots[(h + i) & m->mask];
		bool live = s->until_ms > now_ms;
		if (live && memcmp(s->ref, ref, sizeof s->ref) == 0) {
			r = -EEXIST;
			free_slot = NULL;
			break;
		}
		if (!live && !free_slot)
			free_slot = s;
	}
	/* A replay is answered as such whatever the quota; only a new entry
	 * spends a token. */
	if (free_slot && signer && !quota_take(m, signer, now_ms)) {
		free_slot = NULL;
		r = -EDQUOT;
	}
	if (free_slot) {
		memcpy(free_slot->ref, ref, sizeof free_slot->ref);
		free_slot->until_ms = until_ms;
		r = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}
