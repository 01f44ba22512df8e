/* The checks of a request's fields that a signature cannot give: sizes,
 * ranges, required fields, and the bound of every time, count and lease
 * (issue 8, item 6). The daemon runs them in its verify workers, after the
 * wire check (wire.h: strings are UTF-8 without NUL, enums are declared)
 * and before anything reads a field for arithmetic or storage; a refusal is
 * STATUS_MALFORMED with a detail that names the field. docs/protocol.md
 * ("Limits") lists every bound for client writers; the clients keep their
 * own options within the same bounds, from these constants. */
#ifndef TF_REQCHECK_H
#define TF_REQCHECK_H

#include <stddef.h>

#include "tf_err.h"
#include "wire.h"

/* Counts and paging. A limit of 0 asks for the default. */
#define REQCHECK_REGISTRY_LIMIT_MAX 5000     /* GetRegistry.limit */
#define REQCHECK_OVERDUE_LIMIT_MAX  1000     /* OverdueQuery.limit */
#define REQCHECK_OFFSET_MAX         10000000 /* OverdueQuery.offset */
#define REQCHECK_HISTORY_LIMIT_MAX  1000     /* ElderHistoryQuery.limit */
#define REQCHECK_ALERTS_LIMIT_MAX   1000     /* AlertsPending.limit */
#define REQCHECK_LEASE_MAX_S        86400    /* AlertsPending.lease_s: one day */
#define REQCHECK_ACK_MAX            1000     /* AlertsAck.ids, and AlertsAck.failed */
#define REQCHECK_IMPORT_MAX         100000   /* ImportElders.elders */
#define REQCHECK_NOTE_MAX           4000     /* bytes of a note on a visit or event */

/* Checks r, as unpacked by wire_unpack: every time field inside
 * [CLOCK_TIME_MIN, CLOCK_TIME_MAX) (clock.h; 0 where 0 means "unset"),
 * every count, limit, offset and lease within the bounds above, every id
 * and key of its fixed size, and the fields each operation needs. Pure: no
 * clock, no store. Returns 0, or TF_E_MALFORMED with why (whylen bytes,
 * always NUL-terminated) naming the field and the rule it broke. */
int reqcheck_request(const tf_request *r, char *why, size_t whylen) TF_MUST_CHECK;

#endif
