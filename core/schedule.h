/* Overdue, one server-side truth (BRIEF §4).
 *
 * Each active elder has duties derived from the policy: one per elder-wide
 * rule, one per assigned visitor with a counting role, one per neighbour
 * household. A duty keeps its last qualifying visit and its due time; the
 * due time is indexed (DB_DUE, big-endian time first) so "overdue now" or
 * "due within N days" is a range scan from the start, never a scan of all
 * elders. Every accepted visit, registry change and care event updates the
 * affected elder's duties in the same write transaction.
 *
 * Due time: for a calendar rule, the end of the period after the one holding
 * the last qualifying visit (or, never visited, the end of the period in
 * which the duty started); for an every-N-days rule, last visit + N days (or
 * start + N days); never earlier than the never-visited due time. A duty
 * starts when it began to hold without a break, read from the elder's
 * timeline (timeline.h). An elder under a neighbour rule with fewer than two
 * neighbour households has a "not_set_up" duty due from when that began.
 * Deceased and moved-away elders have no duties; their history stays. */
#ifndef TF_SCHEDULE_H
#define TF_SCHEDULE_H

#include <stdint.h>

#include "policy.h"
#include "store.h"
#include "tf_err.h"
#include "wire.h"

#define SCHEDULE_NOT_SET_UP "1+2_not_set_up"

/* Recomputes every duty of elder e from the registry and its stored visit
 * history (e.g. after a registry change or a status change). Returns 0 or
 * a store code. */
int schedule_elder(struct store_txn *txn, const struct policy *pol, const tf_elder *e,
                   int64_t now) TF_MUST_CHECK;

/* Applies one newly stored visit by `visitor` (whose role at the visit's
 * own time is `role`) to the duties of e (the current record). A visit dated
 * a day or more after now changes nothing. Returns 0 or a store code. */
int schedule_visit(struct store_txn *txn, const struct policy *pol, const tf_elder *e,
                   const char *visitor, int role, const tf_visit *visit, int64_t now) TF_MUST_CHECK;

/* One truth for met duties (issue 7, item 7): the overdue schedule and the
 * monthly report both ask these.
 *
 * Is rule r in force at time at (unix s) for an elder in this registry
 * state? The elder must be present (not deceased or moved away), not in
 * hospital under a rule that pauses then (while_hospitalised = pause), and
 * match the rule's elders and tiers (an age in a high-risk set is the age
 * at `at`). */
bool schedule_rule_active(const struct policy *pol, const struct policy_rule *r,
                          const tf_elder *state, int64_t at);
/* Does a visit of `kind` by `visitor`, whose role at the visit's time was
 * `role`, count for the duty of rule r held by `holder` ("" for elder-wide
 * duties)? */
bool schedule_visit_counts(const struct policy_rule *r, const char *holder, const char *visitor,
                           int role, int kind);

/* Recomputes the duties of every elder (after a policy change, or an area
 * moved to another parent). */
int schedule_rebuild(struct store_txn *txn, const struct policy *pol, int64_t now) TF_MUST_CHECK;

/* Duty keys: elder_id \0 rule \0 visitor_id. Writes into buf (size >= 256);
 * returns the length. */
size_t schedule_duty_key(char *buf, const char *elder, const char *rule, const char *visitor);

#endif
