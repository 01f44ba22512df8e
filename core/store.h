/* The LMDB edge. Every mdb_* call in the project lives in store.c; the rest
 * of the code speaks store_* and the project's error codes (Knot DNS keeps
 * LMDB behind knot_lmdb.c the same way).
 *
 * Codes: MDB_NOTFOUND -> -ENOENT, MDB_KEYEXIST -> -EEXIST, MDB_MAP_FULL ->
 * TF_E_MAPFULL, a full disk -> -ENOSPC, -EDQUOT (a quota) or -EFBIG (the
 * process's RLIMIT_FSIZE), other LMDB failures -> -EIO. store_full() says
 * whether a code is one of the "no room" ones: nothing was written, and the
 * same write can succeed once there is room again.
 *
 * Threads: one writer at a time (LMDB's rule); read transactions may run in
 * any number of threads, each its own. Integer parts of keys are big-endian
 * so byte order is sort order (store_be64). */
#ifndef TF_STORE_H
#define TF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tf_err.h"

struct store;
struct store_txn;
struct store_cursor;

/* The named databases. Layout is documented in docs/operations.md. */
enum store_db {
	DB_META,          /* "schema", "log_head", ... */
	DB_AREAS,         /* code -> Area */
	DB_ELDERS,        /* id -> Elder */
	DB_VISITORS,      /* id -> Visitor */
	DB_KEYS,          /* pk[32] -> DeviceKey */
	DB_RECORDS,       /* record id[16] -> Record (visits and care events) */
	DB_ELDER_HIST,    /* elder_id \0 be64(time) id[16] -> "" */
	DB_VISITOR_HIST,  /* visitor_id \0 be64(time) id[16] -> "" */
	DB_LOG,           /* be64(seq) -> hash[32] || envelope bytes */
	DB_DUTIES,        /* elder_id \0 rule \0 visitor_id -> Duty */
	DB_DUE,           /* be64(due) elder_id \0 rule \0 visitor_id -> the elder's area and
	                     every area above it, own first, joined by \0 */
	DB_DUE_AREA,      /* area \0 be64(due) elder_id \0 rule \0 visitor_id -> "", for each of
	                     those areas: a supervisor's overdue list is a prefix scan */
	DB_DUE_VISITOR,   /* visitor \0 be64(due) elder_id \0 rule \0 visitor_id -> "": the duties a
	                     visitor holds, for "overdue --visitor" */
	DB_MONTH_VISITS,  /* be32(YYYYMM) elder_id \0 be64(visited_at) id[16] -> kind(1)
	                     be64(received_at) visitor_id: the month's visits, for reports */
	DB_ALERTS,        /* alert id[16] -> Alert */
	DB_ALERT_KEYS,    /* kind|elder|rule|visitor|due: one alert per cause -> alert id[16] */
	DB_PENDING,       /* be64(created) id[16] -> be64(lease_until) (undelivered alerts) */
	DB_FOLLOW_UP,     /* be64(due) elder_id \0 visit id[16] -> visitor_id (follow-ups owed) */
	DB_ELDER_FACTS,   /* elder_id \0 be64(effective) tie[8] -> ElderFact (timeline.h) */
	DB_ELDER_SPANS,   /* elder_id \0 be64(from) -> Elder state from then on */
	DB_VISITOR_SPANS, /* visitor_id \0 be64(effective) tie[8] -> Visitor version */
	DB_AREA_SPANS,    /* code \0 be64(effective) tie[8] -> Area version */
	DB_ASSIGNED,      /* visitor_id \0 elder_id -> "": whose duties name the visitor now */
	DB_FILED,         /* area \0 be32(YYYYMM) -> FiledReport */
	DB_FACT_ARRIVALS, /* be64(received_at) elder_id \0 be64(effective) tie[8] -> "": facts by
	                     arrival, so a filed month's late facts are found without a scan */
	DB_SEEN,          /* be64(sent_at_ms ^ 2^63) ref[32] -> "": signed writes applied inside
	                     the skew window (replay.h) */
	DB_TRANSPORT,     /* X25519 pk[32] -> Ed25519 pk[32]: the CURVE key of each enrolled key,
	                     for the handshake check (registry.h) */
	DB_IMPORTS,       /* ref[32] of an ImportElders -> the elder ids it registered, each
	                     NUL-terminated: what UndoImport removes */
	/* issue 11, item 4: the same person registered twice is found without a
	 * scan. 'c' id_card \0 elder_id, and 'n' area \0 name \0 birth_date \0
	 * elder_id -> "", for each elder's current record (registry.h). */
	DB_ELDER_TWINS,
	DB_ELDER_AREAS, /* area \0 elder_id -> "", for the elder's area and every area above it:
	                   the elders in a scope, in id order, for the field app's list */
	/* A field device's outbox (a separate store in the device's folder). */
	DB_OUTBOX,  /* be64(recorded) id[16] -> signed envelope bytes */
	DB_REFUSED, /* id[16] -> status(4, be) || detail || \0 || envelope bytes */
	DB_COUNT,
};

struct store_options {
	size_t map_size; /* bytes; 0 = 1 GiB */
	bool read_only;
	/* With read_only: no lock file (MDB_NOLOCK), so nothing at all is
	 * written into dir. Only for a copy no process writes to, such as a
	 * backup (issue 11, item 7: verify-log on a backup changes nothing). */
	bool no_lock;
	bool no_sync; /* tests of non-durable paths only; never in production */
};

/* True for TF_E_MAPFULL, -ENOSPC, -EDQUOT and -EFBIG: the store had no
 * room (its map, or the disk under it). */
bool store_full(int code);

/* Opens (creating if needed) the store in directory dir, mode 0600, and
 * clears stale reader slots left by crashed processes (mdb_reader_check).
 * Returns 0 or a negative code; on failure *out is NULL. */
int store_open(const char *dir, const struct store_options *opt, struct store **out) TF_MUST_CHECK;
/* Closes the environment. All transactions must be finished. NULL is fine. */
void store_close(struct store *st);

/* Begins a transaction. A write transaction may have a parent (a nested
 * transaction, used to undo one request of a batch without losing the
 * others). Returns 0 or a negative code. */
int store_txn_begin(struct store *st, bool write, struct store_txn *parent,
                    struct store_txn **out) TF_MUST_CHECK;
/* A second read transaction on the very snapshot txn sees, for another
 * thread (a transaction is one thread's at a time). Returns 0, -EAGAIN if
 * the snapshot moved on meanwhile or txn is a write transaction (then
 * work on txn alone), or a store code. */
int store_txn_twin(struct store_txn *txn, struct store_txn **out) TF_MUST_CHECK;
/* The transaction's id: a write transaction's is the last committed one's
 * plus one, so a writer that sees a gap knows another process wrote. */
uint64_t store_txn_id(const struct store_txn *txn);

/* Commits and frees txn. Durable on return for a top-level write
 * transaction (fsync'd). Returns 0, TF_E_MAPFULL, -ENOSPC / -EDQUOT /
 * -EFBIG (a full disk; LMDB's EIO for a write the disk cut short is
 * reported so when the disk is indeed full or the file at RLIMIT_FSIZE), or
 * -EIO; the transaction is freed either way, and nothing of it is stored
 * when it fails. */
int store_txn_commit(struct store_txn *txn) TF_MUST_CHECK;
/* Aborts and frees; NULL is fine. */
void store_txn_abort(struct store_txn *txn);
/* Ends a read transaction and lets it be renewed cheaply later. */
void store_txn_reset(struct store_txn *txn);
int store_txn_renew(struct store_txn *txn) TF_MUST_CHECK;

/* Value pointers returned by get/cursor calls are valid until the
 * transaction ends or the next write to that database. */
int store_get(struct store_txn *txn, enum store_db db, const void *key, size_t klen,
              const void **val, size_t *vlen) TF_MUST_CHECK;
#define STORE_NOOVERWRITE 1u
int store_put(struct store_txn *txn, enum store_db db, const void *key, size_t klen,
              const void *val, size_t vlen, unsigned flags) TF_MUST_CHECK;
int store_del(struct store_txn *txn, enum store_db db, const void *key, size_t klen) TF_MUST_CHECK;
/* Empties a database (its entries; the database stays). Returns 0 or a
 * store code. */
int store_clear(struct store_txn *txn, enum store_db db) TF_MUST_CHECK;
/* Calls fn(ctx, key, klen, val, vlen) for every entry of db, in key order
 * (the pointers are LMDB's, valid during the call; fn may write to other
 * databases in txn, not to db). fn returns 0 to go on, a positive value to
 * stop early, or a negative code, which ends the walk. Returns 0, fn's
 * negative code, or a store code. */
typedef int (*store_each_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
int store_each(struct store_txn *txn, enum store_db db, store_each_fn fn, void *ctx) TF_MUST_CHECK;
/* Number of entries in a database. */
int store_count(struct store_txn *txn, enum store_db db, size_t *out) TF_MUST_CHECK;
/* Bytes of pages database db holds (branch, leaf and overflow pages times
 * the page size; free pages not counted), for benchmarks of size per record.
 * Returns 0 or a negative code. */
int store_used_bytes(struct store_txn *txn, enum store_db db, uint64_t *out) TF_MUST_CHECK;
/* The database's name in the environment ("records", "log", ...). */
const char *store_db_name(enum store_db db);

int store_cursor_open(struct store_txn *txn, enum store_db db,
                      struct store_cursor **out) TF_MUST_CHECK;
void store_cursor_close(struct store_cursor *cur);
/* Positions at the first key >= key (klen 0: the first key). -ENOENT past the end. */
int store_cursor_seek(struct store_cursor *cur, const void *key, size_t klen, const void **k,
                      size_t *kl, const void **v, size_t *vl) TF_MUST_CHECK;
int store_cursor_next(struct store_cursor *cur, const void **k, size_t *kl, const void **v,
                      size_t *vl) TF_MUST_CHECK;
/* Last key of the database. -ENOENT if empty. */
int store_cursor_last(struct store_cursor *cur, const void **k, size_t *kl, const void **v,
                      size_t *vl) TF_MUST_CHECK;
int store_cursor_prev(struct store_cursor *cur, const void **k, size_t *kl, const void **v,
                      size_t *vl) TF_MUST_CHECK;
/* Deletes the entry under the cursor. */
int store_cursor_del(struct store_cursor *cur) TF_MUST_CHECK;

/* Room ahead, for a store that must be able to write later when the disk
 * is full (a field device's outbox removing what the daemon acknowledged):
 * makes sure `bytes` more can be written in the map, and without new disk
 * blocks. Counts the unused part of the map, the store's free pages, and
 * the part of data.mdb allocated past the pages in use; when the disk part
 * is short it extends data.mdb with posix_fallocate (by up to twice what is
 * missing, never past the map). Call on a top-level write transaction
 * just begun (it holds LMDB's writer lock, so no other process writes
 * meanwhile). Returns 0; TF_E_MAPFULL when the map cannot take `bytes`
 * more; -ENOSPC, -EDQUOT or -EFBIG when the disk cannot (nothing
 * allocated); or another store code. A filesystem that cannot preallocate
 * counts as room. Source: issue 8, item 5 (a full device must still record
 * acknowledgements). */
int store_reserve(struct store_txn *txn, size_t bytes) TF_MUST_CHECK;

/* The tanfang version that last wrote the store, in DB_META "version", so an
 * upgrade knows where it starts (issue 11, item 7); "created_version" keeps
 * the one that made it (is_new: init's first mark). Records `version` in
 * one write transaction. prev (size >= 32) gets the version found before,
 * "" for a store from before versions were recorded. Returns 0 or a store
 * code. */
int store_version_mark(struct store *st, const char *version, bool is_new, char *prev,
                       size_t size) TF_MUST_CHECK;
/* Reads the recorded version (and the created one) without writing; ""
 * when none. Returns 0 or a store code. */
int store_version_get(struct store *st, char *version, char *created, size_t size) TF_MUST_CHECK;

/* Copies the whole store, consistent and compacted, to dir/data.mdb (a hot
 * backup: one read transaction, mdb_env_copyfd2). dir is created 0700 if
 * missing; the file is created 0600, private like the store, and never
 * overwritten. Returns 0; -EEXIST if dir/data.mdb exists; another -errno
 * (mkdir, open, fsync) or a store code; a failed copy leaves no file. */
int store_backup(struct store *st, const char *dir) TF_MUST_CHECK;

void store_be64(uint8_t out[8], uint64_t v);
uint64_t store_get_be64(const uint8_t in[8]);

#endif
