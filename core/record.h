/* Stored visits and care events (DB_RECORDS), as the schedule, the alerts
 * and the queries read them back. */
#ifndef TF_RECORD_H
#define TF_RECORD_H

#include <stdint.h>

#include "store.h"
#include "tf_err.h"
#include "wire.h"

/* Decodes the record stored under its 16-byte id into *out (wire_free with
 * WIRE_RECORD). Returns 0, -ENOENT, TF_E_CORRUPT, or a store code. */
int record_get(struct store_txn *txn, const uint8_t id[16], tf_record **out) TF_MUST_CHECK;

#endif
