/* The append-only, hash-chained log of every accepted envelope (BRIEF §5).
 *
 * Entry n is stored under be64(n) as hash_n || envelope, where
 *   hash_n = BLAKE2b-256(hash_{n-1} || be64(n) || envelope),  hash_0 = 32 zero bytes.
 * The head (n, hash_n) is kept in DB_META under "log_head". An audit
 * re-verifies every signature and recomputes the chain, so any edited,
 * reordered or deleted entry breaks it. Entries are written in the same
 * transaction as the record they justify. */
#ifndef TF_AUDITLOG_H
#define TF_AUDITLOG_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tf_err.h"

#define AUDITLOG_HASH_LEN 32

/* Appends the envelope frame bytes; *seq (may be NULL) gets its position.
 * Returns 0 or a store code. Write transaction only. */
int auditlog_append(struct store_txn *txn, const uint8_t *env, size_t len,
                    uint64_t *seq) TF_MUST_CHECK;

/* Walks the whole log: contiguous sequence numbers, chain hashes, head, and
 * every envelope's signature. Returns 0 with *count entries checked, or
 * TF_E_CORRUPT with the first problem described in err. */
int auditlog_verify(struct store *st, uint64_t *count, char *err, size_t errlen) TF_MUST_CHECK;

/* Reads entry seq: *env points into the transaction's memory. Returns 0 or -ENOENT. */
int auditlog_get(struct store_txn *txn, uint64_t seq, const uint8_t **env,
                 size_t *len) TF_MUST_CHECK;

#endif
