#include "outbox.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* A device keeps at most a few weeks of offline visits (a few hundred bytes
 * each); a modest map also keeps the reservation small on 32-bit phones. */
#define OUTBOX_MAP_SIZE ((size_t)256 << 20)

/* Room kept free for removing what the daemon acknowledged (issue 8, item
 * 5). LMDB copies on write: even a delete writes new pages (the path from
 * the root to the leaf, and the free list), and on a full disk or a full
 * map it would fail, leaving the device to resend the same records for
 * ever. So a write that adds (a record, a refusal) must leave this much
 * behind, both in the map and allocated on disk (store_reserve); a delete
 * never asks, and finds the room there. A one-key removal takes a handful
 * of pages, and the pages each removal frees are reused two transactions
 * later, so removals one at a time always fit. */
#define OUTBOX_HEADROOM ((size_t)1 << 20)
/* What an entry takes besides its bytes: node header, key, and the pages a
 * split or an overflow run may leave partly used. */
#define OUTBOX_ENTRY_OVERHEAD ((size_t)16 << 10)

struct outbox {
	struct store *st;
};

int outbox_open(const char *dir, struct outbox **out)
{
	return outbox_open_map(dir, 0, out);
}

int outbox_open_map(const char *dir, size_t map_size, struct outbox **out)
{
	*out = NULL;
	struct outbox *ob = calloc(1, sizeof *ob);
	if (!ob)
		return -ENOMEM;
	struct store_options opt = {.map_size = map_size ? map_size : OUTBOX_MAP_SIZE};
	int r = store_open(dir, &opt, &ob->st);
	if (r < 0) {
		free(ob);
		return r;
	}
	*out = ob;
	return 0;
}

void outbox_close(struct outbox *ob)
{
	if (!ob)
		return;
	store_close(ob->st);
	free(ob);
}

void outbox_key(uint8_t out[OUTBOX_KEY_LEN], int64_t recorded_ms, const uint8_t id[OUTBOX_ID_LEN])
{
	store_be64(out, (uint64_t)recorded_ms);
	memcpy(out + 8, id, OUTBOX_ID_LEN);
}

/* A write of `len` more bytes may go ahead only if the headroom stays
 * behind it. Returns 0, TF_E_MAPFULL, or -ENOSPC for any full disk (the
 * code outbox.h promises; a quota or RLIMIT_FSIZE is the same to a user). */
static int room_for(struct store_txn *txn, size_t len)
{
	int r = store_reserve(txn, len + OUTBOX_ENTRY_OVERHEAD + OUTBOX_HEADROOM);
	return store_full(r) && r != TF_E_MAPFULL ? -ENOSPC : r;
}

/* Commits a write transaction, or aborts it when r already failed. */
static int finish(struct store_txn *txn, int r)
{
	if (r < 0) {
		store_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

int outbox_add(struct outbox *ob, const uint8_t id[OUTBOX_ID_LEN], int64_t recorded_ms,
               const uint8_t *frame, size_t len)
{
	if (recorded_ms < 0 || !frame || len == 0)
		return -EINVAL;
	uint8_t key[OUTBOX_KEY_LEN];
	outbox_key(key, recorded_ms, id);
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, true, NULL, &txn);
	if (r < 0)
		return r;
	/* An id the daemon already refused must not come back silently as a
	 * new entry: that is what outbox_requeue is for. */
	const void *v;
	size_t vl;
	r = store_get(txn, DB_REFUSED, id, OUTBOX_ID_LEN, &v, &vl);
	if (r == 0)
		r = -EEXIST;
	else if (r == -ENOENT)
		r = room_for(txn, len);
	if (r == 0)
		r = store_put(txn, DB_OUTBOX, key, sizeof key, frame, len, STORE_NOOVERWRITE);
	return finish(txn, r);
}

int outbox_last_ms(struct outbox *ob, int64_t *ms)
{
	*ms = -1;
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, false, NULL, &txn);
	if (r < 0)
		return r;
	struct store_cursor *cur;
	r = store_cursor_open(txn, DB_OUTBOX, &cur);
	if (r == 0) {
		const void *k;
		size_t kl;
		r = store_cursor_last(cur, &k, &kl, NULL, NULL);
		if (r == 0 && kl != OUTBOX_KEY_LEN)
			r = TF_E_CORRUPT;
		if (r == 0)
			*ms = (int64_t)store_get_be64(k);
		if (r == -ENOENT)
			r = 0;
		store_cursor_close(cur);
	}
	store_txn_abort(txn);
	return r;
}

/* Called by foreach_row for each key/value of one table: 0 to go on, >0 to
 * stop with success, <0 to stop with that error. */
typedef int (*row_fn)(void *arg, const void *k, size_t kl, const void *v, size_t vl);

/* Walks table db in key order in one read transaction, handing each row to
 * fn. Returns 0 (also when fn stopped the walk with >0) or fn's or the
 * store's negative code. */
static int foreach_row(struct outbox *ob, enum store_db db, row_fn fn, void *arg)
{
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, false, NULL, &txn);
	if (r < 0)
		return r;
	struct store_cursor *cur;
	r = store_cursor_open(txn, db, &cur);
	if (r < 0)
		goto out;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		r = fn(arg, k, kl, v, vl);
		if (r != 0) {
			r = r > 0 ? 0 : r;
			goto done;
		}
	}
	if (r == -ENOENT)
		r = 0;
done:
	store_cursor_close(cur);
out:
	store_txn_abort(txn);
	return r;
}

struct pending_walk {
	outbox_entry_cb cb;
	void *ctx;
};

static int pending_row(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct pending_walk *w = arg;
	if (kl != OUTBOX_KEY_LEN)
		return TF_E_CORRUPT;
	struct outbox_entry e;
	memcpy(e.key, k, OUTBOX_KEY_LEN);
	memcpy(e.id, e.key + 8, OUTBOX_ID_LEN);
	e.recorded_ms = (int64_t)store_get_be64(e.key);
	e.frame = v;
	e.len = vl;
	return w->cb(w->ctx, &e);
}

int outbox_foreach_pending(struct outbox *ob, outbox_entry_cb cb, void *ctx)
{
	struct pending_walk w = {cb, ctx};
	return foreach_row(ob, DB_OUTBOX, pending_row, &w);
}

/* Removes keys[0..n) in one durable transaction; *done counts the ones
 * that were there. Returns 0 or a negative code (then nothing changed). */
static int remove_txn(struct outbox *ob, const uint8_t (*keys)[OUTBOX_KEY_LEN], size_t n,
                      size_t *done)
{
	*done = 0;
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, true, NULL, &txn);
	if (r < 0)
		return r;
	size_t k = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = store_del(txn, DB_OUTBOX, keys[i], OUTBOX_KEY_LEN);
		if (r == 0)
			k++;
		else if (r == -ENOENT)
			r = 0;
	}
	r = finish(txn, r);
	if (r == 0)
		*done = k;
	return r;
}

int outbox_remove(struct outbox *ob, const uint8_t (*keys)[OUTBOX_KEY_LEN], size_t n,
                  size_t *removed)
{
	if (removed)
		*removed = 0;
	if (n == 0)
		return 0;
	size_t done;
	int r = remove_txn(ob, keys, n, &done);
	if (r == 0 || n == 1 || !store_full(r)) {
		if (removed)
			*removed = done;
		return r;
	}
	/* No room for the whole batch at once (an outbox from before the
	 * headroom, or a batch larger than it): one key per transaction, each
	 * reusing the pages the ones before it freed. */
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		r = remove_txn(ob, keys + i, 1, &done);
		if (r < 0)
			break;
		total += done;
	}
	if (removed)
		*removed = total;
	return r;
}

int outbox_refuse(struct outbox *ob, const uint8_t key[OUTBOX_KEY_LEN], int status,
                  const char *detail)
{
	if (!detail)
		detail = "";
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, true, NULL, &txn);
	if (r < 0)
		return r;
	uint8_t *val = NULL;
	const void *frame;
	size_t flen;
	r = store_get(txn, DB_OUTBOX, key, OUTBOX_KEY_LEN, &frame, &flen);
	if (r < 0)
		goto out;
	size_t dl = strlen(detail);
	size_t vl = 4 + dl + 1 + flen;
	/* The refusal is written before the entry goes: it needs its own room. */
	r = room_for(txn, vl);
	if (r < 0)
		goto out;
	val = malloc(vl);
	if (!val) {
		r = -ENOMEM;
		goto out;
	}
	uint32_t s = (uint32_t)status;
	val[0] = (uint8_t)(s >> 24);
	val[1] = (uint8_t)(s >> 16);
	val[2] = (uint8_t)(s >> 8);
	val[3] = (uint8_t)s;
	memcpy(val + 4, detail, dl + 1);
	memcpy(val + 4 + dl + 1, frame, flen);
	/* Put before del: `frame` points into the map, valid until the next
	 * write to DB_OUTBOX. */
	r = store_put(txn, DB_REFUSED, key + 8, OUTBOX_ID_LEN, val, vl, 0);
	if (r == 0)
		r = store_del(txn, DB_OUTBOX, key, OUTBOX_KEY_LEN);
out:
	free(val);
	return finish(txn, r);
}

/* Splits a DB_REFUSED value. Returns 0 or TF_E_CORRUPT. */
static int parse_refusal(const uint8_t *v, size_t vl, struct outbox_refusal *out)
{
	if (vl < 5)
		return TF_E_CORRUPT;
	const uint8_t *nul = memchr(v + 4, 0, vl - 4);
	if (!nul)
		return TF_E_CORRUPT;
	out->status =
	    (int)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]);
	out->detail = (const char *)(v + 4);
	out->frame = nul + 1;
	out->len = vl - (size_t)(nul + 1 - v);
	return 0;
}

int outbox_requeue(struct outbox *ob, const uint8_t id[OUTBOX_ID_LEN], int64_t recorded_ms)
{
	if (recorded_ms < 0)
		return -EINVAL;
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, true, NULL, &txn);
	if (r < 0)
		return r;
	const void *v;
	size_t vl;
	struct outbox_refusal ref;
	uint8_t *frame = NULL;
	r = store_get(txn, DB_REFUSED, id, OUTBOX_ID_LEN, &v, &vl);
	if (r == 0)
		r = parse_refusal(v, vl, &ref);
	if (r < 0)
		goto out;
	if (ref.len == 0) {
		r = TF_E_CORRUPT;
		goto out;
	}
	/* Copy: the value lives in the map and the del below may reuse it. */
	frame = malloc(ref.len);
	if (!frame) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(frame, ref.frame, ref.len);
	size_t flen = ref.len;
	r = room_for(txn, flen);
	if (r == 0)
		r = store_del(txn, DB_REFUSED, id, OUTBOX_ID_LEN);
	if (r == 0) {
		uint8_t key[OUTBOX_KEY_LEN];
		outbox_key(key, recorded_ms, id);
		r = store_put(txn, DB_OUTBOX, key, sizeof key, frame, flen, STORE_NOOVERWRITE);
	}
out:
	free(frame);
	return finish(txn, r);
}

int outbox_counts(struct outbox *ob, size_t *pending, size_t *refused)
{
	struct store_txn *txn;
	int r = store_txn_begin(ob->st, false, NULL, &txn);
	if (r < 0)
		return r;
	size_t p = 0, f = 0;
	r = store_count(txn, DB_OUTBOX, &p);
	if (r == 0)
		r = store_count(txn, DB_REFUSED, &f);
	store_txn_abort(txn);
	if (r < 0)
		return r;
	if (pending)
		*pending = p;
	if (refused)
		*refused = f;
	return 0;
}

struct refused_walk {
	outbox_refusal_cb cb;
	void *ctx;
};

static int refused_row(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct refused_walk *w = arg;
	struct outbox_refusal ref;
	if (kl != OUTBOX_ID_LEN || parse_refusal(v, vl, &ref) < 0)
		return TF_E_CORRUPT;
	memcpy(ref.id, k, OUTBOX_ID_LEN);
	return w->cb(w->ctx, &ref);
}

int outbox_foreach_refused(struct outbox *ob, outbox_refusal_cb cb, void *ctx)
{
	struct refused_walk w = {cb, ctx};
	return foreach_row(ob, DB_REFUSED, refused_row, &w);
}
