/* The append-only, hash-chained log of every accepted envelope (BRIEF §5).
 *
 * Entry n is stored under be64(n) as hash_n || envelope, where
 *   hash_n = BLAKE2b-256(hash_{n-1} || be64(n) || envelope),  hash_0 = 32 zero bytes.
 * The head (n, hash_n) is kept in DB_META under "log_head". An audit
 * re-verifies every signature and recomputes the chain, so any edited,
 * reordered or deleted entry breaks it. Entries are written in the same
 * transaction as the record they justify.
 *
 * The chain alone cannot show that its tail was cut off and the head
 * rewritten, or that the whole chain was recomputed without an entry: a
 * consistent shorter chain looks like an honest one. The daemon therefore
 * signs checkpoints (count, hash) kept outside the store (checkpoint.h), and
 * an audit holds the log against them: each checkpoint must be a prefix of
 * the chain, as a Certificate Transparency log's signed tree heads must be
 * consistent with the later tree (RFC 6962, sections 3.5 and 2.1.2). */
#ifndef TF_AUDITLOG_H
#define TF_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tf_err.h"
#include "wire.h"

#define AUDITLOG_HASH_LEN 32

/* Appends the envelope frame bytes; *seq (may be NULL) gets its position.
 * Returns 0 or a store code. Write transaction only. */
int auditlog_append(struct store_txn *txn, const uint8_t *env, size_t len,
                    uint64_t *seq) TF_MUST_CHECK;

/* A visit's or care event's entry need not repeat what its stored record
 * holds (issue 12, item 2): the record keeps the signer and the signed
 * visit, so the entry keeps only the signature, the record's id and elder,
 * and the request's other fields, and the frame is rebuilt from both when
 * the log is audited. That is possible only when packing the decoded
 * request and envelope again gives back the very bytes that were signed;
 * a sender whose encoder differs gets its frame kept whole.
 *
 * auditlog_record_form makes that short form for frame (the verified
 * envelope env and its request req, a visit or care event): *out (the
 * caller's to free) or *out NULL when the frame would not rebuild. Returns
 * 0 or -ENOMEM. Any thread (the verify workers call it). */
int auditlog_record_form(const uint8_t *frame, size_t len, const tf_envelope *env,
                         const tf_request *req, uint8_t **out, size_t *out_len) TF_MUST_CHECK;

/* Appends frame as auditlog_append does, the chain hash over the whole
 * frame as ever, but storing form (from auditlog_record_form) in its place
 * when form is not NULL. The record must be stored in the same
 * transaction. Returns 0 or a store code. */
int auditlog_append_form(struct store_txn *txn, const uint8_t *frame, size_t len,
                         const uint8_t *form, size_t form_len, uint64_t *seq) TF_MUST_CHECK;

/* Reads the head: *entries (0 for an empty log) and the chain hash after
 * the last entry (32 zero bytes for an empty log). Cheap: one lookup.
 * Returns 0, TF_E_CORRUPT (head of the wrong size) or a store code. */
int auditlog_head(struct store_txn *txn, uint64_t *entries,
                  uint8_t hash[AUDITLOG_HASH_LEN]) TF_MUST_CHECK;

/* The chain hash stored with entry seq (seq 0: 32 zero bytes), as written,
 * not recomputed: one lookup, for the daemon's check that a new checkpoint
 * extends the last one. Returns 0, -ENOENT (no such entry), TF_E_CORRUPT or
 * a store code. */
int auditlog_hash_at(struct store_txn *txn, uint64_t seq,
                     uint8_t hash[AUDITLOG_HASH_LEN]) TF_MUST_CHECK;

/* A checkpoint to hold the log against: the number of entries and the chain
 * hash after the last of them (a signed tree head's size and root). `where`
 * names it in messages (e.g. "checkpoints.log line 12"); borrowed. */
struct auditlog_mark {
	uint64_t entries;
	uint8_t head[AUDITLOG_HASH_LEN];
	int64_t time; /* when it was signed, unix s; for messages only */
	const char *where;
};

/* What an audit saw (filled as far as it got when it stops on a problem). */
struct auditlog_report {
	uint64_t entries;        /* log entries walked: chain hash and signature good */
	uint64_t records;        /* stored visits and care events, each with its entry */
	uint64_t record_entries; /* log entries that are visits or care events */
	size_t marks_ok;         /* checkpoints found on the chain */
	uint64_t head_entries;   /* the head as stored */
	uint8_t head[AUDITLOG_HASH_LEN];
};

/* The full audit, in one read transaction of st:
 *  - the chain: contiguous sequence numbers, every chain hash, every
 *    envelope's signature, and the head;
 *  - every mark (checkpoint) is a prefix of the chain: entry m.entries
 *    exists and its chain hash is m.head, so a cut tail or a recomputed
 *    chain is found;
 *  - records: every entry that is a visit or care event has its stored
 *    record (DB_RECORDS) naming this entry, with the same signer, the same
 *    signed content and the content hash of it; and every stored record
 *    names an entry that is its visit or care event. So a deleted, added or
 *    edited record is found. (The daemon's own annotations on a record, its
 *    time of receipt and flags, are not signed by anyone and not checked.)
 * Returns 0; TF_E_CORRUPT with the first problem in err (tampering or
 * damage: what, and which entry, record or checkpoint); or another code
 * when the store cannot be read (-ENOMEM, store codes; err may say where).
 * The caller reads any checkpoint file before calling, so that checkpoints
 * the running daemon writes meanwhile are never newer than the snapshot. */
int auditlog_audit(struct store *st, const struct auditlog_mark *marks, size_t n_marks,
                   struct auditlog_report *out, char *err, size_t errlen) TF_MUST_CHECK;

/* auditlog_audit without checkpoints; *count gets the entries walked.
 * Returns as auditlog_audit does. */
int auditlog_verify(struct store *st, uint64_t *count, char *err, size_t errlen) TF_MUST_CHECK;

/* Reads entry seq's envelope frame, rebuilt from its record if stored in
 * short form: *env is the caller's to free. Returns 0, -ENOENT (no such
 * entry, or the record of a short one is gone), TF_E_CORRUPT, -ENOMEM or a
 * store code. */
int auditlog_get(struct store_txn *txn, uint64_t seq, uint8_t **env, size_t *len) TF_MUST_CHECK;

#endif
