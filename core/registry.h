/* The registry: areas, elders, visitors and device keys, kept in LMDB.
 *
 * Every call works inside a caller's transaction, so a registry change, the
 * schedule update it causes, and the audit-log entry commit together. Getters
 * return decoded copies the caller frees with wire_free. */
#ifndef TF_REGISTRY_H
#define TF_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "tf_err.h"
#include "wire.h"

#define REGISTRY_ADMIN_ID "admin"

/* When a registry change takes effect, and where it came from: every put
 * below records a fact in the timeline (timeline.h) rather than overwriting. */
struct registry_when {
	int64_t at;         /* time of effect, unix seconds */
	int64_t received;   /* the daemon's clock when it arrived */
	const char *signer; /* visitor id of the signer */
	/* Orders changes that take effect in the same second: the signing time
	 * in ms (48 bits, big-endian) and two bytes of the envelope's ref, so a
	 * command sent after another in the same second applies after it,
	 * whatever order they arrive in. */
	uint8_t tie[8];
};
#define REGISTRY_ID_MAX   64
#define REGISTRY_NAME_MAX 200

/* Validates and stores an area. Code: 2 to 20 ASCII digits; its parent must
 * exist (or be "" for a root) and must not be the area itself or below it.
 * Returns 0, TF_E_INVALID (detail in err), or a store code. */
int registry_put_area(struct store_txn *txn, const tf_area *a, const struct registry_when *w,
                      char *err, size_t errlen) TF_MUST_CHECK;
int registry_get_area(struct store_txn *txn, const char *code, tf_area **out) TF_MUST_CHECK;

/* Stores a visitor; its area must exist (admins may use ""). Same returns.
 * *role_changed (may be NULL): the role differs from the one in effect
 * before this version. */
int registry_put_visitor(struct store_txn *txn, const tf_visitor *v, const struct registry_when *w,
                         bool *role_changed, char *err, size_t errlen) TF_MUST_CHECK;
int registry_get_visitor(struct store_txn *txn, const char *id, tf_visitor **out) TF_MUST_CHECK;

/* Records an elder's registration or change, taking effect at w->at.
 * Checks id, name, area, the referenced visitors and neighbours (must exist;
 * at most two distinct neighbours), dates and location. registered_at: for
 * a new elder, the day it entered the register (not after w->received; the
 * registration takes effect then), else w->at. An unspecified status keeps
 * the one in effect (ACTIVE for a new elder). *current (may be NULL) gets
 * the elder's current record (caller frees). Returns 0, TF_E_DUPLICATE if
 * this very change is already stored (a resent request), TF_E_INVALID
 * (detail in err), or a store code. */
int registry_put_elder(struct store_txn *txn, const tf_elder *e, const struct registry_when *w,
                       tf_elder **current, char *err, size_t errlen) TF_MUST_CHECK;
/* Replaces an elder's "1+2" neighbour households (neighbours true) or
 * assigned visitors from w->at on. Same checks and returns; -ENOENT if
 * there is no such elder. */
int registry_set_list(struct store_txn *txn, const char *elder_id, char **ids, size_t n,
                      bool neighbours, const struct registry_when *w, tf_elder **current, char *err,
                      size_t errlen) TF_MUST_CHECK;
int registry_get_elder(struct store_txn *txn, const char *id, tf_elder **out) TF_MUST_CHECK;
/* Changes only the named fields of elder e->id from w->at on (issue 11,
 * item 4: a corrected phone number leaves categories, visitors and
 * neighbours as they were). fields: names of tanfang.proto's EditElder;
 * the entry as the edit leaves it passes registry_put_elder's checks.
 * Returns 0, -ENOENT if there is no such elder, TF_E_DUPLICATE, TF_E_INVALID
 * (detail in err) or a store code; *current as registry_put_elder. */
int registry_edit_elder(struct store_txn *txn, const tf_elder *e, char **fields, size_t n_fields,
                        const struct registry_when *w, tf_elder **current, char *err,
                        size_t errlen) TF_MUST_CHECK;
/* Takes elder id off the register for reason (a RemoveElder reason):
 * entered in error for all time (the elder leaves every duty and report,
 * past months included; RESTORE withdraws it), deceased or moved away from
 * w->at on. note: at most 1000 bytes. Same returns, -ENOENT if there is no
 * such elder. */
int registry_remove_elder(struct store_txn *txn, const char *id, int reason, const char *note,
                          const struct registry_when *w, tf_elder **current, char *err,
                          size_t errlen) TF_MUST_CHECK;

/* Enrols a key for a visitor (must exist). Re-enrolling a revoked key is
 * refused (TF_E_INVALID): a revoked key stays revoked. Returns 0, -EEXIST if
 * already enrolled to this visitor, TF_E_INVALID, or a store code. */
int registry_enrol_key(struct store_txn *txn, const uint8_t pk[32], const char *visitor_id,
                       int64_t now, char *err, size_t errlen) TF_MUST_CHECK;
/* Marks a key revoked. Returns 0, -ENOENT if unknown, or a store code. */
int registry_revoke_key(struct store_txn *txn, const uint8_t pk[32], int64_t now) TF_MUST_CHECK;

/* The handshake check (issue 8, item 3): the Ed25519 key whose CURVE twin
 * is curve_pk, into ed_pk, if it is enrolled, not revoked, and its visitor
 * exists. Returns 0, TF_E_SIGNER otherwise, or a store code. */
int registry_transport_signer(struct store_txn *txn, const uint8_t curve_pk[32],
                              uint8_t ed_pk[32]) TF_MUST_CHECK;
/* Indexes the CURVE twin of every stored key (a store made before the
 * index; enrolment keeps it up to date after). Idempotent. Returns 0 or a
 * store code. */
int registry_transport_index(struct store_txn *txn) TF_MUST_CHECK;

/* The enrolment of key pk, revoked or not: *out the caller's to free.
 * Returns 0, -ENOENT or a store code. */
int registry_get_key(struct store_txn *txn, const uint8_t pk[32],
                     tf_device_key **out) TF_MUST_CHECK;

/* The visitor behind a signing key. Returns 0, TF_E_SIGNER (unknown or
 * revoked key, or its visitor vanished), or a store code. */
int registry_signer(struct store_txn *txn, const uint8_t pk[32], tf_visitor **out) TF_MUST_CHECK;

/* Is area `area` equal to or below `scope`? scope "" is everything.
 * Walks parent links (bounded depth). Returns 1, 0, or a negative code. */
int registry_within(struct store_txn *txn, const char *area, const char *scope) TF_MUST_CHECK;

/* An area and every area above it, own first: the scopes an elder of that
 * area is in. Codes are at most 20 digits (registry_put_area). */
#define REGISTRY_ANCESTRY_MAX  16
#define REGISTRY_AREA_CODE_MAX 24
struct registry_ancestry {
	char code[REGISTRY_ANCESTRY_MAX][REGISTRY_AREA_CODE_MAX];
	size_t n;
	char packed[REGISTRY_ANCESTRY_MAX * REGISTRY_AREA_CODE_MAX]; /* codes joined by \0 */
	size_t packed_len;
};
/* Fills a with area and its ancestors by parent links (area "" gives none;
 * an unknown area is listed alone). Bounded like registry_within, so a
 * corrupted parent cycle ends. Returns 0, TF_E_CORRUPT (a code too long)
 * or a store code. */
int registry_ancestry(struct store_txn *txn, const char *area,
                      struct registry_ancestry *a) TF_MUST_CHECK;

/* The area index (DB_ELDER_AREAS): adds (add) or drops "scope \0 elder_id"
 * under area and every area above it, as the area tree stands. Called
 * wherever an elder's current record changes (timeline.c); an area moved
 * under another parent re-indexes everything (registry_area_index_all).
 * An elder with no area is in no entry. Returns 0 or a store code. */
int registry_area_index(struct store_txn *txn, const char *elder_id, const char *area,
                        bool add) TF_MUST_CHECK;
/* Empties the area index and indexes every stored elder again: a store
 * made before the index, or the area tree changed. Returns 0 or a store
 * code. */
int registry_area_index_all(struct store_txn *txn) TF_MUST_CHECK;

/* The twin index (issue 11, item 4): adds (add) or drops the keys of e's
 * current record, its ID-card number and its area, name and birth date
 * (when set). Called wherever the current record changes (timeline.c).
 * Returns 0 or a store code. */
int registry_twin_index(struct store_txn *txn, const tf_elder *e, bool add) TF_MUST_CHECK;
/* Indexes every stored elder (a store made before the index; the writes
 * keep it up to date after). Idempotent. Returns 0 or a store code. */
int registry_twin_index_all(struct store_txn *txn) TF_MUST_CHECK;
/* Another elder than e->id (id kept in other, REGISTRY_ID_MAX + 1 bytes)
 * with e's ID-card number (*by_card true), else with e's name and birth
 * date in e's area. Returns 1 if found, 0 if not, or a store code. */
int registry_find_twin(struct store_txn *txn, const tf_elder *e, char *other,
                       bool *by_card) TF_MUST_CHECK;

/* Calls fn(msg, ctx) for every message of a registry database (DB_AREAS,
 * DB_ELDERS, DB_VISITORS) in key order, decoded. fn owns msg: it frees it
 * with wire_free or keeps it. fn returns 0 to go on, a positive value to
 * stop early, or a negative code, which ends the walk. Returns 0, fn's
 * negative code, TF_E_CORRUPT, or a store code. */
typedef int (*registry_each_fn)(void *msg, void *ctx);
int registry_foreach(struct store_txn *txn, enum store_db db, registry_each_fn fn,
                     void *ctx) TF_MUST_CHECK;

/* Packs msg (of wire type `type`) and stores it under key in db. Returns 0,
 * -ENOMEM, or a store code. */
int registry_put_msg(struct store_txn *txn, enum store_db db, enum wire_type type, const void *key,
                     size_t klen, const void *msg) TF_MUST_CHECK;

/* Is the text a valid registry id: 1..64 chars of [A-Za-z0-9_.-]? */
bool registry_id_valid(const char *id);

#endif
