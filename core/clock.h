/* Wall-clock time for record keeping and schedules. Tests pin it with
 * clock_set_fixed() (the daemon's --now flag) so month boundaries can be
 * checked against hand-computed expectations. Intervals use CLOCK_MONOTONIC
 * through clock_mono_ms(), never this. */
#ifndef TF_CLOCK_H
#define TF_CLOCK_H

#include <stdint.h>

/* Unix seconds: the fixed time if one was set, else the real time. */
int64_t clock_now(void);
int64_t clock_now_ms(void);
/* 0 returns to the real clock. */
void clock_set_fixed(int64_t unix_seconds);
/* Milliseconds on the monotonic clock, for timeouts and backoff. */
int64_t clock_mono_ms(void);

#endif
