/* Calendar periods in the policy's time zone (default Asia/Shanghai).
 *
 * A visit at 23:30 on 31 October in Asia/Shanghai (15:30 UTC) belongs to
 * October: every boundary here is local midnight. The zone is set once at
 * start-up (period_set_timezone) because glibc's TZ handling is
 * process-wide; changing it needs a restart (documented in docs/policy.md).
 * Weeks start on Monday (China's convention). */
#ifndef TF_PERIOD_H
#define TF_PERIOD_H

#include <stdint.h>

#include "tf_err.h"

enum period_kind { PERIOD_MONTH, PERIOD_WEEK, PERIOD_QUARTER, PERIOD_DAYS };

struct period {
	enum period_kind kind;
	unsigned days; /* PERIOD_DAYS only: the rolling interval */
};

/* Sets the process time zone (an IANA name such as "Asia/Shanghai").
 * Returns 0, or -EINVAL if the zone is unknown (no file under
 * /usr/share/zoneinfo). Call before starting threads. */
int period_set_timezone(const char *tz) TF_MUST_CHECK;

/* Start (local midnight) of the calendar period holding t. For
 * PERIOD_DAYS there is no calendar: returns t. */
int64_t period_start(const struct period *p, int64_t t);
/* Start of the period after the one starting at start (PERIOD_DAYS: start + days). */
int64_t period_next(const struct period *p, int64_t start);

/* Month as YYYYMM (e.g. 202610) of the local date of t. */
int period_month_of(int64_t t);
/* Parses "YYYY-MM" into local [start, end). Returns 0 or -EINVAL. */
int period_parse_month(const char *s, int64_t *start, int64_t *end) TF_MUST_CHECK;
/* Parses "YYYY-MM" or "YYYY-Qn" into local [start, end). Returns 0 or -EINVAL. */
int period_parse_span(const char *s, int64_t *start, int64_t *end) TF_MUST_CHECK;
/* Local date "YYYY-MM-DD HH:MM" of t into buf (size >= 17). */
void period_format(int64_t t, char *buf, unsigned size);

#endif
