#include "clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t fixed_now;

void clock_set_fixed(int64_t unix_seconds)
{
	atomic_store(&fixed_now, unix_seconds);
}

int64_t clock_now_ms(void)
{
	int64_t f = atomic_load(&fixed_now);
	if (f)
		return f * 1000;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_now(void)
{
	return clock_now_ms() / 1000;
}

int64_t clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
