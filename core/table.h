/* Display width of UTF-8 text, for aligned columns on a terminal.
 *
 * Names in the registry are mostly Chinese: a CJK or fullwidth character
 * takes two terminal cells, a combining mark none, so byte or code-point
 * counts misalign every column. Widths come from libutf8proc's tables.
 *
 * Control characters (a newline inside a cell, a tab) would break a table
 * row; they are shown as one space each and counted as width 1. Bytes that
 * are not valid UTF-8 are shown as U+FFFD and counted as width 1. */
#ifndef TF_TABLE_H
#define TF_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "tf_err.h"

enum table_align { TABLE_LEFT, TABLE_RIGHT };

/* Terminal cells that s takes when written with table_put. NULL is 0. */
size_t table_width(const char *s);

/* Writes s as a table cell: control characters as spaces, invalid bytes as
 * U+FFFD. Returns 0, or -EIO if the stream failed. */
int table_put(FILE *f, const char *s) TF_MUST_CHECK;

/* Writes s padded with spaces to `width` cells, s on the left or the right.
 * Text wider than width is written whole (never cut: a cut name is a wrong
 * name). Returns 0 or -EIO. */
int table_put_padded(FILE *f, const char *s, size_t width, enum table_align align) TF_MUST_CHECK;

/* Writes n spaces (or n copies of c). Returns 0 or -EIO. */
int table_put_repeat(FILE *f, char c, size_t n) TF_MUST_CHECK;

#endif
