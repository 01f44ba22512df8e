/* Stored visits and care events (DB_RECORDS), as the schedule, the alerts
 * and the queries read them back, and the month index of visits that the
 * monthly report reads (DB_MONTH_VISITS). */
#ifndef TF_RECORD_H
#define TF_RECORD_H

#include <stdint.h>

#include "registry.h"
#include "store.h"
#include "tf_err.h"
#include "wire.h"

/* Decodes the record stored under its 16-byte id into *out (wire_free with
 * WIRE_RECORD). Returns 0, -ENOENT, TF_E_CORRUPT, or a store code. */
int record_get(struct store_txn *txn, const uint8_t id[16], tf_record **out) TF_MUST_CHECK;

/* The content hash a stored record keeps (Record.content_hash): BLAKE2b-256
 * of the 32-byte signer key followed by the packed visit or care event (type
 * WIRE_VISIT or WIRE_CARE_EVENT). Ingest compares it to tell a duplicate from
 * a conflict; the audit recomputes it from the log entry. Returns 0 or
 * -ENOMEM. */
int record_content_hash(const uint8_t signer[32], enum wire_type type, const void *msg,
                        uint8_t out[32]) TF_MUST_CHECK;

/* Indexes visit v (signed by visitor_id, received at received_at, unix s)
 * under the month of its own time in the policy zone. Returns 0 or a store
 * code. */
int record_index_visit(struct store_txn *txn, const tf_visit *v, const char *visitor_id,
                       int64_t received_at) TF_MUST_CHECK;

/* One entry of the month index, split. */
struct month_visit {
	const char *elder; /* points into buf */
	int64_t at;        /* visited_at */
	const uint8_t *id; /* 16 bytes, into the key */
	int kind;
	int64_t received_at;
	char visitor[65];
	char buf[72];
};

/* The key prefix of month YYYYMM (4 bytes). */
void record_month_prefix(int yyyymm, uint8_t out[4]);
/* Longest key record_hist_key makes. */
#define RECORD_HIST_KEY_MAX (REGISTRY_ID_MAX + 1 + 8 + 16)
/* A key of DB_ELDER_HIST or DB_VISITOR_HIST: who (an elder's or visitor's
 * id, at most REGISTRY_ID_MAX bytes), NUL, be64(t), and the record's id
 * (without id: the prefix for a seek to time t). Returns its length. */
size_t record_hist_key(uint8_t *buf, const char *who, int64_t t, const uint8_t *id);
/* Splits an entry of DB_MONTH_VISITS. Returns 0 or TF_E_CORRUPT. */
int record_month_split(const void *k, size_t kl, const void *v, size_t vl,
                       struct month_visit *out) TF_MUST_CHECK;

#endif
