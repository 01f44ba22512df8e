/* inifile: INI files read with inih, with the line of the first bad entry
 * named (Debian's inih calls handlers without line numbers). */
#ifndef TANFANG_INIFILE_H
#define TANFANG_INIFILE_H

#include <stddef.h>

#include "tf_err.h"

/* Sets one entry; returns 0, or a negative code with the reason in why. */
typedef int (*inifile_set_fn)(void *ctx, const char *section, const char *key, const char *value,
                              char *why, size_t whylen);

/* Reads path, calling set for each entry in order, stopping at the first
 * refusal. Returns 0; -errno if the file cannot be opened; -EINVAL with
 * "path:line: reason" in err for a refused entry or a syntax error; or
 * -ENOMEM. */
int inifile_parse(const char *path, inifile_set_fn set, void *ctx, char *err,
                  size_t errlen) TF_MUST_CHECK;

#endif
