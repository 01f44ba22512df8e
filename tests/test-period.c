/* period: calendar boundaries are local midnights in the configured zone.
 *
 * Expected instants are written as UTC wall-clock times (timegm, which does
 * not depend on the zone under test) with the local time beside them; the
 * literal numbers were checked with `TZ=<zone> date -d '<local time>' +%s`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "period.h"
#include "tf_test.h"

/* Unix time of a UTC wall-clock time. */
static int64_t utc(int y, int mon, int d, int h, int min)
{
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = min};

	return (int64_t)timegm(&tm);
}

static const struct period MONTH = {PERIOD_MONTH, 0};
static const struct period WEEK = {PERIOD_WEEK, 0};
static const struct period QUARTER = {PERIOD_QUARTER, 0};

/* period_format(t) must read `want`; failures name the caller's line. */
static void check_format_at(int line, int64_t t, const char *want)
{
	char buf[32];

	period_format(t, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		tft_fail(__FILE__, line, "period_format(%lld) = \"%s\", expected \"%s\"",
		         (long long)t, buf, want);
	tft_pass();
}
#define check_format(t, want) check_format_at(__LINE__, t, want)

static void test_bad_zones(void)
{
	CHECK_EQ_INT(period_set_timezone("Nowhere/Atlantis"), -EINVAL);
	CHECK_EQ_INT(period_set_timezone("../../../etc/passwd"), -EINVAL);
	CHECK_EQ_INT(period_set_timezone("Asia/../Asia/Shanghai"), -EINVAL);
	CHECK_EQ_INT(period_set_timezone("/usr/share/zoneinfo/UTC"), -EINVAL);
	CHECK_EQ_INT(period_set_timezone("Asia"), -EINVAL); /* a directory, not a zone */
	CHECK_EQ_INT(period_set_timezone(""), -EINVAL);
	CHECK_EQ_INT(period_set_timezone(NULL), -EINVAL);
}

static void test_shanghai(void)
{
	/* 2026-10-31 23:30 +08:00 (a Saturday) = 15:30 UTC. */
	int64_t t = 1793460600;
	int64_t oct1 = 1790784000; /* 2026-10-01 00:00 +08:00 */
	int64_t nov1 = 1793462400; /* 2026-11-01 00:00 +08:00 */
	int64_t start, end;
	char small[5];

	CHECK_EQ_INT(period_set_timezone("Asia/Shanghai"), 0);
	CHECK_EQ_INT(t, utc(2026, 10, 31, 15, 30));
	CHECK_EQ_INT(oct1, utc(2026, 9, 30, 16, 0));
	CHECK_EQ_INT(nov1, utc(2026, 10, 31, 16, 0));

	/* Late on the last evening is still October, though UTC says so too
	 * only by accident of the hour; half an hour later it is November. */
	CHECK_EQ_INT(period_month_of(t), 202610);
	CHECK_EQ_INT(period_month_of(nov1 - 1), 202610);
	CHECK_EQ_INT(period_month_of(nov1), 202611);
	CHECK_EQ_INT(period_month_of(utc(2026, 10, 31, 16, 30)), 202611); /* 00:30 local, Nov 1 */
	CHECK_EQ_INT(period_start(&MONTH, t), oct1);
	CHECK_EQ_INT(period_start(&MONTH, oct1), oct1);
	CHECK_EQ_INT(period_start(&MONTH, nov1 - 1), oct1);
	CHECK_EQ_INT(period_start(&MONTH, nov1), nov1);
	CHECK_EQ_INT(period_next(&MONTH, oct1), nov1);
	CHECK_EQ_INT(period_next(&MONTH, t), nov1); /* from inside a period too */
	CHECK_EQ_INT(period_next(&MONTH, utc(2026, 11, 30, 16, 0)), utc(2026, 12, 31, 16, 0));

	/* Weeks start on Monday: Saturday 31 Oct and Sunday 1 Nov are in the
	 * week of Monday 26 Oct; Monday 2 Nov starts the next. */
	CHECK_EQ_INT(period_start(&WEEK, t), utc(2026, 10, 25, 16, 0));
	CHECK_EQ_INT(period_start(&WEEK, utc(2026, 11, 1, 15, 59)), utc(2026, 10, 25, 16, 0));
	CHECK_EQ_INT(period_start(&WEEK, utc(2026, 11, 1, 16, 0)), utc(2026, 11, 1, 16, 0));
	CHECK_EQ_INT(period_next(&WEEK, utc(2026, 10, 25, 16, 0)), utc(2026, 11, 1, 16, 0));
	check_format(period_start(&WEEK, t), "2026-10-26 00:00");

	/* Quarters: Jan, Apr, Jul, Oct. */
	CHECK_EQ_INT(period_start(&QUARTER, t), oct1);
	CHECK_EQ_INT(period_next(&QUARTER, oct1), utc(2026, 12, 31, 16, 0));
	CHECK_EQ_INT(period_start(&QUARTER, oct1 - 1), utc(2026, 6, 30, 16, 0));
	CHECK_EQ_INT(period_start(&QUARTER, utc(2026, 3, 31, 15, 59)), utc(2025, 12, 31, 16, 0));
	CHECK_EQ_INT(period_next(&QUARTER, utc(2025, 12, 31, 16, 0)), utc(2026, 3, 31, 16, 0));

	/* Every N days has no calendar. */
	struct period days7 = {PERIOD_DAYS, 7};
	CHECK_EQ_INT(period_start(&days7, t), t);
	CHECK_EQ_INT(period_next(&days7, t), t + 7 * 86400);

	/* Walking a year month by month lands on each local 1st at 00:00. */
	int64_t m = period_start(&MONTH, utc(2026, 1, 15, 0, 0));
	for (int i = 1; i <= 13; i++) {
		char want[32];

		snprintf(want, sizeof(want), "%04d-%02d-01 00:00", 2026 + (i - 1) / 12,
		         (i - 1) % 12 + 1);
		check_format(m, want);
		CHECK_EQ_INT(period_month_of(m), (2026 + (i - 1) / 12) * 100 + (i - 1) % 12 + 1);
		CHECK_EQ_INT(period_start(&MONTH, m), m);
		CHECK(period_next(&MONTH, m) > m);
		m = period_next(&MONTH, m);
	}

	check_format(t, "2026-10-31 23:30");
	period_format(t, small, sizeof(small));
	CHECK_STREQ(small, "2026"); /* truncated, still terminated */

	CHECK_EQ_INT(period_parse_month("2026-10", &start, &end), 0);
	CHECK_EQ_INT(start, oct1);
	CHECK_EQ_INT(end, nov1);
	CHECK_EQ_INT(period_parse_month("2026-12", &start, &end), 0);
	CHECK_EQ_INT(start, utc(2026, 11, 30, 16, 0));
	CHECK_EQ_INT(end, utc(2026, 12, 31, 16, 0));
	const char *bad[] = {"2026-13",  "2026-1", "abc",     "",        "2026-00", "2026/10",
	                     "2026-10x", "26-10",  "1969-12", "2026-Q4", " 2026-10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start = end = 42;
		if (period_parse_month(bad[i], &start, &end) != -EINVAL)
			tft_fail(__FILE__, __LINE__, "period_parse_month(\"%s\") accepted", bad[i]);
		CHECK_EQ_INT(start, 42); /* outputs untouched on error */
	}
	CHECK_EQ_INT(period_parse_month(NULL, &start, &end), -EINVAL);

	CHECK_EQ_INT(period_parse_span("2026-Q4", &start, &end), 0);
	CHECK_EQ_INT(start, oct1);
	CHECK_EQ_INT(end, utc(2026, 12, 31, 16, 0));
	CHECK_EQ_INT(period_parse_span("2026-Q1", &start, &end), 0);
	CHECK_EQ_INT(start, utc(2025, 12, 31, 16, 0));
	CHECK_EQ_INT(end, utc(2026, 3, 31, 16, 0));
	CHECK_EQ_INT(period_parse_span("2026-10", &start, &end), 0);
	CHECK_EQ_INT(start, oct1);
	CHECK_EQ_INT(end, nov1);
	CHECK_EQ_INT(period_parse_span("2026-Q0", &start, &end), -EINVAL);
	CHECK_EQ_INT(period_parse_span("2026-Q5", &start, &end), -EINVAL);
	CHECK_EQ_INT(period_parse_span("2026-Q", &start, &end), -EINVAL);
	CHECK_EQ_INT(period_parse_span("2026-Q44", &start, &end), -EINVAL);
	CHECK_EQ_INT(period_parse_span("", &start, &end), -EINVAL);

	/* A refused zone leaves the current one in force. */
	CHECK_EQ_INT(period_set_timezone("Nowhere/Atlantis"), -EINVAL);
	CHECK_EQ_INT(period_start(&MONTH, t), oct1);
}

/* Europe/Berlin changes offset on the last Sundays of March and October;
 * periods still start at local midnight, so the weeks around the change are
 * 167 and 169 hours long. */
static void test_berlin(void)
{
	CHECK_EQ_INT(period_set_timezone("Europe/Berlin"), 0);

	int64_t spring = 1774778400; /* Sunday 2026-03-29 12:00 CEST */
	CHECK_EQ_INT(spring, utc(2026, 3, 29, 10, 0));
	CHECK_EQ_INT(period_start(&WEEK, spring), utc(2026, 3, 22, 23, 0)); /* Mon 23 Mar, +01:00 */
	CHECK_EQ_INT(period_next(&WEEK, period_start(&WEEK, spring)),
	             utc(2026, 3, 29, 22, 0)); /* Mon 30 Mar, +02:00 */
	CHECK_EQ_INT(period_next(&WEEK, period_start(&WEEK, spring)) - period_start(&WEEK, spring),
	             167 * 3600);
	CHECK_EQ_INT(period_start(&MONTH, spring), utc(2026, 2, 28, 23, 0));
	CHECK_EQ_INT(period_next(&MONTH, utc(2026, 2, 28, 23, 0)), utc(2026, 3, 31, 22, 0));
	check_format(utc(2026, 3, 31, 22, 0), "2026-04-01 00:00");

	int64_t autumn = 1792926000; /* Sunday 2026-10-25 12:00 CET */
	CHECK_EQ_INT(autumn, utc(2026, 10, 25, 11, 0));
	CHECK_EQ_INT(period_start(&WEEK, autumn),
	             utc(2026, 10, 18, 22, 0)); /* Mon 19 Oct, +02:00 */
	CHECK_EQ_INT(period_next(&WEEK, utc(2026, 10, 18, 22, 0)), utc(2026, 10, 25, 23, 0));
	CHECK_EQ_INT(utc(2026, 10, 25, 23, 0) - utc(2026, 10, 18, 22, 0), 169 * 3600);
	CHECK_EQ_INT(period_start(&MONTH, autumn), utc(2026, 9, 30, 22, 0));
	CHECK_EQ_INT(period_next(&MONTH, utc(2026, 9, 30, 22, 0)), utc(2026, 10, 31, 23, 0));
	CHECK_EQ_INT(period_month_of(utc(2026, 10, 31, 22, 59)), 202610); /* 23:59 local */
	CHECK_EQ_INT(period_month_of(utc(2026, 10, 31, 23, 0)), 202611);
}

/* Where a DST change skips midnight, the period starts at the first moment
 * of the day (01:00), never on the day before. */
static void test_skipped_midnight(void)
{
	int64_t start, end;

	/* Tehran, Monday 2021-03-22: 00:00 became 01:00 (+04:30). */
	CHECK_EQ_INT(period_set_timezone("Asia/Tehran"), 0);
	CHECK_EQ_INT(period_start(&WEEK, 1616398200), 1616358600); /* 12:00 -> 01:00 */
	CHECK_EQ_INT(period_next(&WEEK, 1615753800), 1616358600);  /* from Mon 15 Mar */
	check_format(1616358600, "2021-03-22 01:00");

	/* Asuncion, Sunday 2023-10-01: 00:00 became 01:00 (-03:00). */
	CHECK_EQ_INT(period_set_timezone("America/Asuncion"), 0);
	CHECK_EQ_INT(period_start(&MONTH, 1696172400), 1696132800);
	CHECK_EQ_INT(period_month_of(1696132800), 202310);
	CHECK_EQ_INT(period_month_of(1696132799), 202309);
	CHECK_EQ_INT(period_next(&MONTH, 1693540800), 1696132800);
	CHECK_EQ_INT(period_parse_month("2023-10", &start, &end), 0);
	CHECK_EQ_INT(start, 1696132800);
	CHECK_EQ_INT(end, 1698807600);
}

int main(void)
{
	test_bad_zones();
	test_shanghai();
	test_berlin();
	test_skipped_midnight();
	return tft_done();
}
