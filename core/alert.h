/* Alerts: what must reach a person, made exactly once per cause.
 *
 * Causes (BRIEF §2, issue "alert dispatch"):
 *  - overdue:      a duty fell due; one alert per elder, rule, duty holder and
 *                  period (the due time names the period);
 *  - escalation:   still overdue escalate_after_s later; to the supervisors
 *                  of the parent area;
 *  - urgent_event: a fall, emergency call, hazard, or anything marked urgent,
 *                  made in the transaction that stores the event;
 *  - follow_up:    a visit marked "follow-up needed" with no later visit to
 *                  the elder within follow_up_s;
 *  - not_set_up:   an elder under a "1+2" rule without two neighbour households.
 * A dedupe key per cause (DB_ALERT_KEYS) makes every sweep idempotent.
 *
 * Delivery: alert_lease hands undelivered alerts to a dispatcher and leases
 * them, so a concurrent dispatcher gets others; alert_ack retires delivered
 * ones and releases failed ones for the next run. All calls run in the
 * writer's transaction. */
#ifndef TF_ALERT_H
#define TF_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "policy.h"
#include "store.h"
#include "tf_err.h"
#include "wire.h"

#define ALERT_LEASE_DEFAULT_S 300

/* Makes the alert for an urgent care event about e (if it is urgent). */
int alert_on_event(struct store_txn *txn, const tf_elder *e, const tf_care_event *ev,
                   const char *visitor_id, int64_t now) TF_MUST_CHECK;

/* A death or move reported from the field (issue 7, item 8): an alert to
 * the area's supervisors (and the parent area's), who can correct a wrong
 * one. Then every undelivered duty alert about the elder (overdue,
 * escalation, follow-up, "1+2 not set up") is withdrawn: none may concern
 * an elder no longer on the register. Returns 0 or a store code. */
int alert_on_departure(struct store_txn *txn, const tf_elder *e, const tf_care_event *ev,
                       const char *visitor_id, int64_t now) TF_MUST_CHECK;

/* Re-derives the undelivered urgent and departure alerts about elder e (its
 * current record) after a registry fact: who they go to and where they say
 * it happened follow the elder as it was at each event's time, whatever
 * order the facts arrived in. Delivered alerts stay as sent. Returns 0 or a
 * store code. */
int alert_refresh_elder(struct store_txn *txn, const tf_elder *e) TF_MUST_CHECK;

/* Records that a follow-up visit is owed after visit v by visitor_id. */
int alert_follow_up_owed(struct store_txn *txn, const tf_visit *v, const char *visitor_id,
                         int64_t due) TF_MUST_CHECK;

/* Makes the alerts whose causes have arisen by now (at most cfg->alert_sweep_max).
 * *made (may be NULL) gets the number made. Returns 0 or a store code. */
int alert_sweep(struct store_txn *txn, const struct ingest_config *cfg, int64_t now,
                size_t *made) TF_MUST_CHECK;

/* Leases up to limit (0: 100; at most 1000) undelivered, unleased alerts
 * for lease_s seconds (0: ALERT_LEASE_DEFAULT_S; at most
 * REQCHECK_LEASE_MAX_S) and packs them, with status OK and the given ref,
 * into a Reply (*out, caller frees). Returns 0 or a negative code. */
int alert_lease(struct store_txn *txn, unsigned limit, unsigned lease_s, int64_t now,
                const uint8_t ref[32], uint8_t **out, size_t *out_len) TF_MUST_CHECK;

/* Retires delivered alerts and releases failed ones. Unknown or already
 * retired ids are ignored (an ack may be repeated). *done gets how many
 * were retired. Returns 0 or a store code. */
int alert_ack(struct store_txn *txn, ProtobufCBinaryData *ids, size_t n_ids,
              ProtobufCBinaryData *failed, size_t n_failed, size_t *done) TF_MUST_CHECK;

#endif
