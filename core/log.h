/* Logging, OpenBSD-daemon style: one line per event on stderr, where the
 * systemd journal picks it up. Never log secret keys or message bodies. */
#ifndef TF_LOG_H
#define TF_LOG_H

#define TF_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN };

/* Messages below `level` are dropped. Default: LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
/* Prefix each line with `name: ` (the program name). */
void log_set_name(const char *name);

void log_debug(const char *fmt, ...) TF_PRINTF(1, 2);
void log_info(const char *fmt, ...) TF_PRINTF(1, 2);
/* Appends ": strerror(errno)". */
void log_warn(const char *fmt, ...) TF_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) TF_PRINTF(1, 2);
/* For what stops the program or the command (issue 11: such a message
 * says "error:", not "warning:"). log_error appends ": strerror(errno)". */
void log_error(const char *fmt, ...) TF_PRINTF(1, 2);
void log_errorx(const char *fmt, ...) TF_PRINTF(1, 2);
/* Logs and exits with status 1. For start-up failures only. */
void fatal(const char *fmt, ...) TF_PRINTF(1, 2) __attribute__((noreturn));

#endif
