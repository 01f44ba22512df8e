/* The table in an office's file, whatever program saved it (issue 11,
 * item 1): rows of UTF-8 text cells from
 *
 *   - CSV or tab-separated text in UTF-8 (with or without a byte order
 *     mark), GB18030 (a "CSV" saved by Excel or WPS on Chinese Windows; GBK
 *     and GB2312 are subsets), or UTF-16 LE/BE with a byte order mark
 *     (Excel's "Unicode text", tab-separated), converted with glibc's iconv;
 *   - .xlsx workbooks (the first sheet), read with libzip and expat;
 *   - .xls workbooks (BIFF, Excel 97-2003), read with FreeXL.
 *
 * The format is told by the bytes, not by a file name. A client-side module:
 * the admin client and the web gateway's parse endpoint use it. */
#ifndef TF_SHEET_H
#define TF_SHEET_H

#include <stdbool.h>
#include <stddef.h>

#include "tf_err.h"

struct sheet_row {
	char **cells;  /* UTF-8, trimmed of blanks at both ends */
	bool *numeric; /* per cell: a number in a workbook (not text) */
	bool *date;    /* per cell: a workbook date, already YYYY-MM-DD[ hh:mm:ss] */
	size_t n;
	size_t line; /* text: the file line where the row starts; workbook: its row number */
};

struct sheet {
	struct sheet_row *rows;
	size_t n;
	const char *format; /* "CSV (UTF-8)", "CSV (GB18030)", "text (UTF-16LE)", "xlsx", "xls" */
	bool workbook;      /* xlsx or xls: "line" is the sheet's row number */
	char *error;        /* NULL, or why reading stopped (rows before it are kept) */
	/* What the rows hold, about, in bytes, and the most they may: a file
	 * that would read into more (cells far to the right of nothing, one
	 * long text in many cells) is refused, whatever it unpacks to. */
	size_t held, held_max;
	bool too_big;
};

/* Reads the table in data[0..len). Returns 0 with *out set (check
 * (*out)->error: a file that is not a table, or a syntax error, leaves a
 * message there and the rows read before it), or -ENOMEM. The caller frees
 * *out with sheet_free. */
int sheet_parse(const char *data, size_t len, struct sheet **out) TF_MUST_CHECK;

void sheet_free(struct sheet *s);

/* Excel's day number v (the 1900 date system, with its phantom 29 February
 * 1900; a fraction, the time of day, is dropped) as YYYY-MM-DD in out
 * (size >= 11). Returns 0, or -EINVAL outside 1900-01-01 to 9999-12-31. */
int sheet_serial_date(double v, char *out, size_t size) TF_MUST_CHECK;

#endif
