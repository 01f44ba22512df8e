/* Wall-clock time for record keeping and schedules. Tests pin it with
 * clock_set_fixed() (the daemon's --now flag) so month boundaries can be
 * checked against hand-computed expectations. Intervals use CLOCK_MONOTONIC
 * through clock_mono_ms(), never this. */
#ifndef TF_CLOCK_H
#define TF_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* The times a message may carry, in unix seconds: from 2000-01-01 00:00 UTC
 * (inclusive) to 2100-01-01 00:00 UTC (exclusive). Every time that arrives
 * on the wire is checked against this range before any arithmetic on it
 * (issue 8, item 6: visited_at = INT64_MAX overflowed), so sums and
 * differences of such times, and of durations of a few years, cannot
 * overflow an int64_t, and milliseconds (x 1000) fit too. */
#define CLOCK_TIME_MIN INT64_C(946684800)
#define CLOCK_TIME_MAX INT64_C(4102444800)

/* Is t (unix seconds) within [CLOCK_TIME_MIN, CLOCK_TIME_MAX)? */
static inline bool clock_time_ok(int64_t t)
{
	return t >= CLOCK_TIME_MIN && t < CLOCK_TIME_MAX;
}

/* Unix seconds: the fixed time if one was set, else the real time. */
int64_t clock_now(void);
int64_t clock_now_ms(void);
/* 0 returns to the real clock. */
void clock_set_fixed(int64_t unix_seconds);
/* Milliseconds on the monotonic clock, for timeouts and backoff. */
int64_t clock_mono_ms(void);

#endif
