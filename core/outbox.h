/* A field device's durable outbox: the signed envelopes it has recorded and
 * not yet seen acknowledged, plus the ones the daemon refused for good.
 *
 * It is an LMDB store of its own (store.h) in the device's folder:
 *   DB_OUTBOX:  be64(recorded_ms) || id[16] -> envelope frame bytes
 *   DB_REFUSED: id[16] -> be32(status) || detail || NUL || envelope frame bytes
 * The key's time prefix makes cursor order recording order, so entries are
 * resent oldest first. The envelope is kept exactly as signed at record time:
 * a resend is byte-identical and the daemon answers it as a duplicate.
 *
 * Every mutating call is one write transaction, committed (fsync'd) before
 * it returns: an entry that outbox_add accepted survives a crash.
 *
 * A full device: what adds (outbox_add, outbox_refuse, outbox_requeue)
 * must leave 1 MiB of room behind it, in the map and allocated on disk, or
 * it is refused; removals never ask and use that room, so a device whose
 * disk or outbox is full still drops what the daemon acknowledged instead
 * of resending it for ever (issue 8, item 5). Several
 * processes may open the same outbox (LMDB's locking); never carry an open
 * outbox across fork(). */
#ifndef TF_OUTBOX_H
#define TF_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "tf_err.h"

#define OUTBOX_ID_LEN  16
#define OUTBOX_KEY_LEN 24 /* be64(recorded_ms) || id[16] */

struct outbox;

/* One pending entry, as handed to outbox_foreach_pending's callback. The
 * pointers are valid only during the callback. */
struct outbox_entry {
	uint8_t key[OUTBOX_KEY_LEN];
	uint8_t id[OUTBOX_ID_LEN];
	int64_t recorded_ms;
	const uint8_t *frame;
	size_t len;
};

/* One refused entry, as handed to outbox_foreach_refused's callback. The
 * pointers are valid only during the callback. */
struct outbox_refusal {
	uint8_t id[OUTBOX_ID_LEN];
	int status;         /* the Reply's Status value */
	const char *detail; /* the Reply's detail, NUL-terminated, maybe "" */
	const uint8_t *frame;
	size_t len;
};

/* Opens (creating if needed, mode 0700/0600) the outbox store in directory
 * dir; the parent of dir must exist. Returns 0 or a negative code (store_open's);
 * on failure *out is NULL. */
int outbox_open(const char *dir, struct outbox **out) TF_MUST_CHECK;
/* outbox_open with a map of map_size bytes, the most the outbox may hold
 * (0: the default, 256 MiB); for a device that must cap it, and for tests
 * of a full outbox. Same returns. */
int outbox_open_map(const char *dir, size_t map_size, struct outbox **out) TF_MUST_CHECK;
/* Closes; NULL is fine. */
void outbox_close(struct outbox *ob);

/* Builds the key of an entry. */
void outbox_key(uint8_t out[OUTBOX_KEY_LEN], int64_t recorded_ms, const uint8_t id[OUTBOX_ID_LEN]);

/* Stores frame (copied) as a pending entry; durable on return. recorded_ms
 * must be >= 0. Returns 0, -EINVAL (negative time, empty frame), -EEXIST (an
 * entry with this key, or a refused entry with this id, exists),
 * TF_E_MAPFULL (the outbox's map) / -ENOSPC (the disk, a quota or the file
 * size limit) when the entry and the removal headroom do not both fit:
 * nothing was written; or -EIO. */
int outbox_add(struct outbox *ob, const uint8_t id[OUTBOX_ID_LEN], int64_t recorded_ms,
               const uint8_t *frame, size_t len) TF_MUST_CHECK;

/* The recording time of the newest pending entry (*ms = -1 if none), so a
 * recorder can keep keys strictly increasing when two records fall in the
 * same millisecond. Returns 0 or a negative code. */
int outbox_last_ms(struct outbox *ob, int64_t *ms) TF_MUST_CHECK;

/* Calls cb for each pending entry in recording order, inside one read
 * transaction (do not call other outbox functions from cb). cb returns 0 to
 * go on, > 0 to stop early (outbox_foreach_pending then returns 0), or a
 * negative code to stop with that code. Returns 0 or a negative code. */
typedef int (*outbox_entry_cb)(void *ctx, const struct outbox_entry *e);
int outbox_foreach_pending(struct outbox *ob, outbox_entry_cb cb, void *ctx) TF_MUST_CHECK;

/* Removes the pending entries with the n given keys, durably; keys already
 * gone are skipped (another sync may have removed them). One transaction,
 * or, when that finds no room, one per key. *removed (may be NULL) gets how
 * many were removed. Returns 0 or a negative code; then *removed may still
 * be above 0 (those removals are durable, the others stay pending). */
int outbox_remove(struct outbox *ob, const uint8_t (*keys)[OUTBOX_KEY_LEN], size_t n,
                  size_t *removed) TF_MUST_CHECK;

/* Moves the pending entry with key to the refused set with the daemon's
 * status and detail (NULL = ""), in one durable transaction. Returns 0,
 * -ENOENT if no such pending entry, TF_E_MAPFULL / -ENOSPC as outbox_add
 * (the entry stays pending), or a negative code. */
int outbox_refuse(struct outbox *ob, const uint8_t key[OUTBOX_KEY_LEN], int status,
                  const char *detail) TF_MUST_CHECK;

/* Moves a refused entry back to pending under the given recording time
 * (e.g. after the admin registered the missing elder). Returns 0, -ENOENT,
 * TF_E_MAPFULL / -ENOSPC as outbox_add, or a negative code. */
int outbox_requeue(struct outbox *ob, const uint8_t id[OUTBOX_ID_LEN],
                   int64_t recorded_ms) TF_MUST_CHECK;

/* Number of pending and refused entries (either pointer may be NULL).
 * Returns 0 or a negative code. */
int outbox_counts(struct outbox *ob, size_t *pending, size_t *refused) TF_MUST_CHECK;

/* Calls cb for each refused entry in id order, inside one read transaction;
 * same callback contract as outbox_foreach_pending. Returns 0, TF_E_CORRUPT
 * for an entry that does not have the documented layout, or a negative code. */
typedef int (*outbox_refusal_cb)(void *ctx, const struct outbox_refusal *r);
int outbox_foreach_refused(struct outbox *ob, outbox_refusal_cb cb, void *ctx) TF_MUST_CHECK;

#endif
