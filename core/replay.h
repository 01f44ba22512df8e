/* replay: each signed request takes effect, or is answered, at most once
 * (issue 8, item 2).
 *
 * A request other than a visit or care event is accepted only while its
 * sent_at_ms is within max_skew_s of the daemon's clock, so a replay is
 * possible only inside that window: remembering the envelopes seen in it is
 * enough. Writes (registry changes, alert fetches and acknowledgements) are
 * remembered in the store, in the same transaction as their effect, so the
 * memory survives a restart. Queries are remembered in memory: a fixed
 * table, so a flood of signed queries cannot make the daemon grow.
 * Visits and care events are not kept here: their record id already makes a
 * resend harmless (DUPLICATE), and an outbox resends for days. */
#ifndef TANFANG_REPLAY_H
#define TANFANG_REPLAY_H

#include <stdint.h>

#include "envelope.h"
#include "store.h"
#include "tf_err.h"

/* Looks up the write signed at sent_ms (unix ms) with body hash ref in the
 * store. Returns 0 if it was never seen, -EEXIST if it was, or a store
 * error. */
int replay_write_seen(struct store_txn *txn, int64_t sent_ms,
                      const uint8_t ref[ENVELOPE_REF_LEN]) TF_MUST_CHECK;

/* Remembers that write in txn (committed with it). Returns 0 or a store
 * error. */
int replay_write_mark(struct store_txn *txn, int64_t sent_ms,
                      const uint8_t ref[ENVELOPE_REF_LEN]) TF_MUST_CHECK;

/* Forgets at most `max` writes signed before before_ms (they are refused
 * for clock skew anyway). Returns 0 or a store error. */
int replay_write_prune(struct store_txn *txn, int64_t before_ms, unsigned max) TF_MUST_CHECK;

/* The in-memory table of queries answered. */
struct replay_memo;

/* Makes a table of 2^bits slots (bits 8..24); memory is touched only as
 * slots are used. Returns 0 or -ENOMEM / -EINVAL. */
int replay_memo_new(unsigned bits, struct replay_memo **out) TF_MUST_CHECK;
void replay_memo_free(struct replay_memo *m);

/* Records that the envelope with body hash ref, signed by the enrolled key
 * signer (32 bytes), is being answered, until until_ms (unix ms: when the
 * skew check would refuse it anyway). Each signer may add entries at
 * REPLAY_QUOTA_PER_S a second, in bursts of REPLAY_QUOTA_BURST (signer
 * NULL: no quota, for the root admin's key), so one key, or a few hundred,
 * cannot fill the table and have everyone's queries refused (found by an
 * attack test: 300,000 queries signed with a fresh key did it; then an area
 * admin's key, which had no quota). A key holds at most about 2,200
 * entries (1,000 + 1 a second over a 20-minute window). Signers share a quota
 * only when a keyed hash of 14 bits collides, which nobody can aim.
 * Returns 0 the first time; -EEXIST if it was recorded before and has not
 * expired; -EDQUOT if the signer's quota is spent (nothing recorded);
 * -EBUSY if the table is full of unexpired entries near its slot (more
 * queries inside the skew window than the table holds: the query is
 * refused rather than risk answering a replay). Thread-safe. */
#define REPLAY_QUOTA_PER_S 1
#define REPLAY_QUOTA_BURST 1000
int replay_memo_claim(struct replay_memo *m, const uint8_t ref[ENVELOPE_REF_LEN],
                      const uint8_t *signer, int64_t until_ms, int64_t now_ms) TF_MUST_CHECK;

#endif
