/* Visit policy: which elders need which visits by whom, how often.
 *
 * Read from an INI file (documented in docs/policy.md, example in
 * deploy/policy.conf) and reloaded on SIGHUP; a file that fails to parse is
 * refused as a whole and the old policy stays in force. */
#ifndef TF_POLICY_H
#define TF_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "period.h"
#include "tf_err.h"
#include "wire.h"

/* Whose duty a rule creates, per elder. */
enum duty_kind {
	DUTY_ELDER,    /* one duty per elder; any counting visitor satisfies it */
	DUTY_ASSIGNED, /* one duty per assigned visitor (Elder.visitors) whose role is in `roles` */
	DUTY_NEIGHBOUR, /* one duty per "1+2" neighbour household (Elder.neighbours) */
};

/* Which column of the monthly report a rule feeds. */
enum report_column { REPORT_NONE, REPORT_VISIT, REPORT_PARTY, REPORT_NEIGHBOUR };

#define POLICY_NAME_MAX  48
#define POLICY_LABEL_MAX 96

struct policy_rule {
	char name[POLICY_NAME_MAX]; /* the INI section name after "rule.", e.g. "monthly_visit" */
	/* What people call it, shown in tables (issue 11, item 6): the
	 * optional `label`, e.g. 每月探访; "" when none. Not part of the
	 * fingerprint: it changes no duty. */
	char label[POLICY_LABEL_MAX];
	/* Which elders: an elder matches if it has any category in `categories`
	 * (bit i = Category value i; 0 = any elder with at least one category)
	 * AND its tier is in `tiers` (bit i = RiskTier value i; 0 = any tier). */
	uint32_t categories;
	uint32_t tiers;
	/* "elders = all": every elder, with or without a category (for rules on
	 * the general tier, which by derivation has none). */
	bool all_elders;
	/* Which visits count: visitor role in `roles` (bit = Role value; 0 = any)
	 * and visit kind in `kinds` (bit = VisitKind value; 0 = any). */
	uint32_t roles;
	uint32_t kinds;
	enum duty_kind duty;
	struct period period;
	enum report_column report;
	/* while_hospitalised = pause: no duty while the elder is in hospital
	 * (keep, the default: the duty runs on). */
	bool pause_in_hospital;
	/* A rule started by care events (the 2022 notice: a visit within 24
	 * hours of a major change): after_events (bit = CareEventType value)
	 * and within_s. The duty is due within_s after the latest such event
	 * and met by a qualifying visit at or after it. 0: a periodic rule. */
	uint32_t after_events;
	int64_t within_s;
};

struct policy {
	char timezone[64];
	/* Tier derivation for elders whose risk_tier is UNSPECIFIED: an elder is
	 * HIGH if its categories include every category of any one of
	 * high_sets[0..n_high), else KEY if it has any category, else GENERAL. */
	uint32_t high_sets[8];
	/* A set may also ask an age: HIGH only from the elder's min_age-th
	 * birthday (0: no age condition). "age>=80+living_alone". */
	unsigned high_min_age[8];
	size_t n_high;
	struct policy_rule *rules;
	size_t n_rules;
};

/* The defaults of BRIEF.md section 3: monthly door-or-phone visit for every
 * special-difficulty elder; monthly door visit by each assigned party member;
 * a neighbour check every 7 days by each neighbour household; weekly visits for
 * the high-risk tier. Returns 0 or -ENOMEM. */
int policy_default(struct policy **out) TF_MUST_CHECK;

/* Loads a policy file. On failure returns -ENOENT/-EACCES (cannot read), or
 * -EINVAL with a one-line message naming the line and the problem in err. */
int policy_load(const char *path, struct policy **out, char *err, size_t errlen) TF_MUST_CHECK;
void policy_free(struct policy *pol);

/* The elder's tier at time at (unix s; the age in the policy's zone): its
 * own if set, else derived as described above. */
int policy_elder_tier(const struct policy *pol, const tf_elder *e, int64_t at);
/* Does rule r apply to elder e at time at (ignores status)? */
bool policy_rule_applies(const struct policy *pol, const struct policy_rule *r, const tf_elder *e,
                         int64_t at);
/* The elder's age in whole years at t (local date), -1 without a birth date. */
int policy_age_at(const tf_elder *e, int64_t t);
/* Local midnight of the elder's age-th birthday (29 February: 1 March in
 * other years), or -1 without a birth date. */
int64_t policy_birthday(const tf_elder *e, unsigned age);
/* Does a visit of `kind` by a visitor of `role` count for r? */
bool policy_visit_counts(const struct policy_rule *r, int role, int kind);
/* A digest of everything in the policy that shapes schedules (zone, tier
 * sets, every rule's fields), so the daemon can tell at start whether the
 * stored duties were computed under this very policy. */
#define POLICY_FINGERPRINT_LEN 32
void policy_fingerprint(const struct policy *pol, uint8_t out[POLICY_FINGERPRINT_LEN]);

/* The rule named name, or NULL. */
const struct policy_rule *policy_find(const struct policy *pol, const char *name);

#endif
