#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level min_level = LOG_LEVEL_INFO;
static const char *prog_name = "tanfang";
/* Worker threads log too; keep each line whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
	min_level = level;
}
void log_set_name(const char *name)
{
	prog_name = name;
}

static void vlog(enum log_level level, const char *tag, int errnum, const char *fmt, va_list ap)
{
	if (level < min_level)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s: %s", prog_name, tag);
	vfprintf(stderr, fmt, ap);
	if (errnum)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_BODY(level, tag, errnum)                                                               \
	va_list ap;                                                                                \
	va_start(ap, fmt);                                                                         \
	vlog(level, tag, errnum, fmt, ap);                                                         \
	va_end(ap)

void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, "debug: ", 0);
}
void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, "", 0);
}
void log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, "warning: ", 0);
}

void log_warn(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LEVEL_WARN, "warning: ", e);
}

void log_errorx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, "error: ", 0);
}

void log_error(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LEVEL_WARN, "error: ", e);
}

void fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_WARN, "error: ", 0, fmt, ap);
	va_end(ap);
	(void)e;
	exit(1);
}
