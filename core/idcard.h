/* The resident ID-card number of mainland China (GB 11643-1999): 17 digits
 * (6 of the area of first registration, 8 of the birth date, 3 of sequence,
 * odd for men) and a check digit, ISO 7064 MOD 11-2, where X stands for 10.
 * Shared ground: the importer reads it from an office's file, the registry
 * checks it again (issue 11, item 1). */
#ifndef TF_IDCARD_H
#define TF_IDCARD_H

#include <stdbool.h>

#include "tf_err.h"

/* Checks an 18-character number (an x is taken as X by the caller). On
 * success writes the birth date as YYYY-MM-DD into birth (11 bytes, may be
 * NULL) and the sex into *male (may be NULL). Returns 0, -EINVAL (not 18
 * characters of 17 digits and a digit or X, or a birth date that is not a
 * real date from 1880 on), or -EBADMSG (the check digit does not match: a
 * digit mistyped). */
int idcard_check(const char *s, char birth[11], bool *male) TF_MUST_CHECK;

#endif
