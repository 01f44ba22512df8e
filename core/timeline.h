/* Time of effect: when registry facts hold (BRIEF §9, issue 7).
 *
 * Every fact that duties and reports depend on takes effect at a time of its
 * own, kept apart from when the daemon received it (the audit log and
 * received_at hold that):
 *  - an elder's facts (registration and every later change, neighbour and
 *    visitor lists, status changes from care events, corrections) are kept
 *    in DB_ELDER_FACTS and folded, in order of their time of effect, into
 *    spans (DB_ELDER_SPANS): the elder's registry state from each time on;
 *  - a visitor's role and area, and an area's parent, are kept as versions
 *    by time of effect (DB_VISITOR_SPANS, DB_AREA_SPANS).
 * Facts with the same time of effect are ordered by an 8-byte tie taken from
 * the fact itself (the envelope's ref or the record id), never by arrival, so
 * every answer is a function of the set of accepted facts.
 *
 * The current records (DB_ELDERS, DB_VISITORS, DB_AREAS) are the latest
 * versions, rewritten here after every fact; the rest of the code reads them
 * through registry.h as before.
 *
 * Status (BRIEF §3): an elder is on the register from its first registration;
 * "hospitalised" moves an active elder to hospitalised and "discharged" back;
 * "deceased" and "moved away" take it off the schedule, never the history. A
 * status change applies at its own time, so an admission reported after the
 * discharge still ends with the elder active. This module is the one owner of
 * that rule. */
#ifndef TF_TIMELINE_H
#define TF_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tf_err.h"
#include "wire.h"

#define TIMELINE_TIE_LEN 8
/* Facts and spans kept per elder; a fact beyond this is refused (INVALID). */
#define TIMELINE_FACTS_MAX 512

/* Adds fact f about elder `id` (f->effective_at in unix seconds; tie orders
 * facts of the same second) and recomputes the elder's spans and current
 * record. A KIND_PUT fact's elder must already be validated (registry.c).
 * The elder is on the register from the earliest registered_at (or time of
 * effect) of its registrations. Returns 0, -EEXIST if this very fact is
 * already stored (a resent envelope), TF_E_CONFLICT if another fact has its
 * key (one request changing the elder twice), -ENOENT if the elder has no registration at all
 * and f is not a registration, TF_E_INVALID if the elder has
 * TIMELINE_FACTS_MAX facts, or a store code. *current (may be NULL) gets the
 * elder's current record (caller frees with wire_free). */
int timeline_elder_fact(struct store_txn *txn, const char *id, const tf_elder_fact *f,
                        const uint8_t tie[TIMELINE_TIE_LEN], tf_elder **current) TF_MUST_CHECK;

/* One elder's spans, oldest first: from[i] is when states[i] begins; it holds
 * until from[i + 1] (the last one until further notice). A state carries
 * area, categories, risk_tier, visitors, neighbours, status, birth_date and
 * registered_at (descriptive fields such as name are only on the current
 * record). */
struct timeline_spans {
	size_t n;
	int64_t from[TIMELINE_FACTS_MAX];
	tf_elder *states[TIMELINE_FACTS_MAX];
};

/* Loads the spans of elder id into *s (n = 0 if none). Returns 0 or a store
 * code (TF_E_CORRUPT for an undecodable span). */
int timeline_elder_spans(struct store_txn *txn, const char *id,
                         struct timeline_spans *s) TF_MUST_CHECK;
/* Frees the states of s (not s itself). */
void timeline_spans_clear(struct timeline_spans *s);
/* Index of the span in effect at t, or -1 before the first. */
long timeline_span_at(const struct timeline_spans *s, int64_t t);

/* Decodes one span value (as stored in DB_ELDER_SPANS) for a caller that
 * walks the database itself (the report). Returns 0 or TF_E_CORRUPT. */
int timeline_span_decode(const void *v, size_t vl, tf_elder **out) TF_MUST_CHECK;

/* Does a care event of this type change an elder's status (hospitalised,
 * discharged, deceased, moved away)? The rule of BRIEF §3, kept here. */
bool timeline_status_event(int type);

/* Is the elder on the register and present (active or hospitalised) in this
 * state? Deceased and moved-away elders are not. */
bool timeline_present(const tf_elder *state);

/* Elder id's state at t: -ENOENT if it was not yet on the register (or is
 * unknown). Caller frees *out. */
int timeline_elder_at(struct store_txn *txn, const char *id, int64_t t,
                      tf_elder **out) TF_MUST_CHECK;

/* A visitor or area version taking effect at `at`. Updates the current record
 * when this is the latest version. *prev (may be NULL) gets the version in
 * effect at `at` before this one (NULL if none; caller frees). Returns 0 or
 * a store code. */
int timeline_visitor_put(struct store_txn *txn, const tf_visitor *v, int64_t at,
                         const uint8_t tie[TIMELINE_TIE_LEN], tf_visitor **prev) TF_MUST_CHECK;
int timeline_area_put(struct store_txn *txn, const tf_area *a, int64_t at,
                      const uint8_t tie[TIMELINE_TIE_LEN], tf_area **prev) TF_MUST_CHECK;

/* The visitor / area as it was at t. A t before the first version gets the
 * first version (what was registered is taken to have held before). Returns
 * 0, -ENOENT if unknown, or a store code. Caller frees. */
int timeline_visitor_at(struct store_txn *txn, const char *id, int64_t t,
                        tf_visitor **out) TF_MUST_CHECK;
int timeline_area_at(struct store_txn *txn, const char *code, int64_t t,
                     tf_area **out) TF_MUST_CHECK;

/* How many versions visitor id has: 0, 1, or 2 for two or more. Returns
 * that, or a store code. */
int timeline_visitor_versions(struct store_txn *txn, const char *id) TF_MUST_CHECK;

/* The role of visitor id at t, and the interval [*from, *until) in which
 * that version holds (so a caller can reuse it for other times; either may
 * be NULL). -1 if the visitor is unknown (then the interval is
 * everything). Returns 0 or a store code. */
int timeline_role_at(struct store_txn *txn, const char *id, int64_t t, int *role, int64_t *from,
                     int64_t *until) TF_MUST_CHECK;

/* Was area equal to or below scope at t (parents as they were at t)? scope
 * "" is everything. Returns 1, 0 or a negative code. */
int timeline_within_at(struct store_txn *txn, const char *area, const char *scope,
                       int64_t t) TF_MUST_CHECK;

/* Calls fn(area, ctx) for every area as it was at t, in code order; fn
 * borrows the area. fn returns 0 to go on, or a negative code to stop. */
typedef int (*timeline_area_fn)(const tf_area *a, void *ctx);
int timeline_areas_at(struct store_txn *txn, int64_t t, timeline_area_fn fn,
                      void *ctx) TF_MUST_CHECK;

/* Has care event `id` (16 bytes) of elder elder_id been withdrawn by a
 * CorrectEvent? Returns 1, 0 or a store code. */
int timeline_event_corrected(struct store_txn *txn, const char *elder_id,
                             const uint8_t id[16]) TF_MUST_CHECK;

/* Calls fn(elder_id, ctx) for every elder fact received after `after` that
 * took effect before `before` (unix s), from the arrival index (an elder
 * may come more than once). fn returns 0 or a negative code, which stops
 * the walk. Returns 0, fn's code, or a store code. */
typedef int (*timeline_late_fn)(const char *elder_id, void *ctx);
int timeline_late_elders(struct store_txn *txn, int64_t after, int64_t before, timeline_late_fn fn,
                         void *ctx) TF_MUST_CHECK;

/* Upgrade (issue 7, item 9): gives the facts of a store made before the
 * timeline their time of effect from what is stored (an elder's registration
 * date, its care events' own times, its status date; areas and visitors from
 * the start), once. *migrated tells whether anything was done. Returns 0 or a
 * store code. */
int timeline_migrate(struct store_txn *txn, bool *migrated) TF_MUST_CHECK;

#endif
