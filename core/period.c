/* Calendar periods in the policy's time zone.
 *
 * All arithmetic goes through the C library's local time (localtime_r and
 * mktime with tm_isdst = -1), so month, week and quarter boundaries are the
 * local midnights the policy documents mean, whatever the zone's DST rules.
 * The zone is the process-wide TZ, set once by period_set_timezone. */
#include "period.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A zone name is accepted only if it names a compiled zone file where glibc
 * will look for it ($TZDIR, else /usr/share/zoneinfo): glibc silently falls
 * back to UTC for an unknown TZ, which would shift every month boundary by
 * eight hours in Asia/Shanghai without a word. */
static int zone_valid(const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[4096];
	unsigned char magic[4];
	struct stat st;
	int fd;
	ssize_t n;

	if (!tz || !tz[0] || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 128)
		return -EINVAL;
	for (const char *c = tz; *c; c++) {
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || strchr("/_-+", *c)))
			return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -EINVAL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, "TZif", 4) != 0)
		return -EINVAL;
	return 0;
}

int period_set_timezone(const char *tz)
{
	int r = zone_valid(tz);

	if (r < 0)
		return r;
	if (setenv("TZ", tz, 1) < 0)
		return -errno;
	tzset();
	return 0;
}

static void local_tm(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;

	if (!localtime_r(&tt, tm))
		memset(tm, 0, sizeof(*tm)); /* only for years beyond int range */
}

/* First second of local day (year, mon 0-based, mday), fields normalised by
 * mktime (month 12 is January of the next year). Where a DST change skips
 * midnight (Asia/Tehran 2021-03-22), glibc's mktime moves forward to 01:00,
 * the first moment of that day; tests/test-period.c holds it to that. */
static int64_t day_start(int year, int mon, int mday)
{
	struct tm tm = {0};

	tm.tm_year = year;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	tm.tm_isdst = -1; /* let the zone's rules say whether DST is in force */
	return (int64_t)mktime(&tm);
}

int64_t period_start(const struct period *p, int64_t t)
{
	struct tm tm;

	if (p->kind == PERIOD_DAYS)
		return t;
	local_tm(t, &tm);
	switch (p->kind) {
	case PERIOD_MONTH: return day_start(tm.tm_year, tm.tm_mon, 1);
	case PERIOD_WEEK:
		return day_start(tm.tm_year, tm.tm_mon, tm.tm_mday - (tm.tm_wday + 6) % 7);
	case PERIOD_QUARTER: return day_start(tm.tm_year, tm.tm_mon / 3 * 3, 1);
	case PERIOD_DAYS: break;
	}
	abort(); /* not a period kind: programmer error */
}

int64_t period_next(const struct period *p, int64_t start)
{
	struct tm tm;

	if (p->kind == PERIOD_DAYS) {
		if (p->days == 0)
			abort(); /* policy_load refuses days:0; a zero step would loop callers */
		return start + (int64_t)p->days * 86400;
	}
	/* From the period holding start, so a start that is not on a boundary
	 * still yields the next boundary rather than a shifted date. */
	local_tm(period_start(p, start), &tm);
	switch (p->kind) {
	case PERIOD_MONTH: return day_start(tm.tm_year, tm.tm_mon + 1, 1);
	case PERIOD_WEEK: return day_start(tm.tm_year, tm.tm_mon, tm.tm_mday + 7);
	case PERIOD_QUARTER: return day_start(tm.tm_year, tm.tm_mon + 3, 1);
	case PERIOD_DAYS: break;
	}
	abort();
}

int period_month_of(int64_t t)
{
	struct tm tm;

	local_tm(t, &tm);
	return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "YYYY-" with a year from 1970 (unix time) to 9999. */
static int parse_year(const char *s, int *year)
{
	if (!digits(s, 4) || s[4] != '-')
		return -EINVAL;
	*year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	return *year >= 1970 ? 0 : -EINVAL;
}

int period_parse_month(const char *s, int64_t *start, int64_t *end)
{
	int year, mon;

	if (!s || strlen(s) != 7 || parse_year(s, &year) < 0 || !digits(s + 5, 2))
		return -EINVAL;
	mon = (s[5] - '0') * 10 + (s[6] - '0');
	if (mon < 1 || mon > 12)
		return -EINVAL;
	*start = day_start(year - 1900, mon - 1, 1);
	*end = day_start(year - 1900, mon, 1);
	return 0;
}

int period_parse_span(const char *s, int64_t *start, int64_t *end)
{
	int year, q;

	if (s && strlen(s) == 7 && (s[5] == 'Q' || s[5] == 'q')) {
		if (parse_year(s, &year) < 0 || s[6] < '1' || s[6] > '4')
			return -EINVAL;
		q = s[6] - '1';
		*start = day_start(year - 1900, q * 3, 1);
		*end = day_start(year - 1900, q * 3 + 3, 1);
		return 0;
	}
	return period_parse_month(s, start, end);
}

void period_format(int64_t t, char *buf, unsigned size)
{
	struct tm tm;

	if (size == 0)
		return;
	local_tm(t, &tm);
	snprintf(buf, size, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min);
}
