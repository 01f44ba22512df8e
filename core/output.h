/* Tabular output for the command-line clients: one model (headers and rows
 * of strings), three renderings.
 *
 *   OUTPUT_TABLE  aligned columns for a terminal; a Chinese character counts
 *                 two cells (table.h); numeric columns are right-aligned;
 *                 a header line and a line of dashes.
 *   OUTPUT_CSV    RFC 4180 with CRLF line ends, preceded by a UTF-8 byte order
 *                 mark so Excel on Chinese Windows opens it as UTF-8, not GBK.
 *                 Made to survive Excel (issue 11, item 5): a text cell that
 *                 Excel would read as a number (a 12-digit area code, an
 *                 18-digit ID number, an id with leading zeros) is written
 *                 after a tab, which Excel keeps as text with every digit;
 *                 a cell beginning with =, +, -, @, tab or CR that is not a
 *                 number of a numeric column is written after an apostrophe,
 *                 so it never becomes a live formula (OWASP "CSV injection").
 *   OUTPUT_JSON   an array of objects keyed by header, in column order;
 *                 cells of numeric columns become JSON numbers (empty: null).
 *   OUTPUT_XLSX   an Excel workbook (libxlsxwriter): numbers of numeric
 *                 columns as numbers, every other cell as a text cell, which
 *                 Excel neither converts nor evaluates.
 *
 * Used by the admin and supervisor clients; it knows nothing about the
 * registry. */
#ifndef TF_OUTPUT_H
#define TF_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tf_err.h"

enum output_format { OUTPUT_TABLE, OUTPUT_CSV, OUTPUT_JSON, OUTPUT_XLSX };

struct output;

/* Parses "table", "csv", "json" or "xlsx" (any case). Returns 0 or -EINVAL. */
int output_format_parse(const char *name, enum output_format *out) TF_MUST_CHECK;

/* Makes an empty output with ncols columns named by headers (copied). The
 * headers must be distinct and non-empty, as they are JSON keys. Returns 0,
 * -EINVAL (no columns, empty or repeated header), or -ENOMEM. */
int output_new(size_t ncols, const char *const *headers, struct output **out) TF_MUST_CHECK;
void output_free(struct output *o);

/* Marks column col numeric: right-aligned in a table, a number in JSON.
 * A cell of a numeric column that is not a number is still written, as a
 * string. Aborts on a column out of range (programmer error). */
void output_set_numeric(struct output *o, size_t col, bool numeric);

/* Appends a row of ncols cells (copied; a NULL cell is ""). Returns 0 or
 * -ENOMEM (the output is then unchanged). */
int output_add_row(struct output *o, const char *const *cells) TF_MUST_CHECK;

/* Number of rows added so far. */
size_t output_rows(const struct output *o);

/* Renders o to f in format fmt (OUTPUT_XLSX: the workbook's bytes, made in
 * a temporary file under $TMPDIR and copied to f). Returns 0, -EIO if
 * writing failed, or -ENOMEM. */
int output_write(const struct output *o, enum output_format fmt, FILE *f) TF_MUST_CHECK;

/* The CSV form of one text cell, as output_write writes it before quoting:
 * "\t" + s for a cell Excel would turn into a number, "'" + s for a cell
 * Excel would take as a formula, else s. Returns a new string (the caller
 * frees it) or NULL when out of memory. Exposed for tests. */
char *output_csv_text(const char *s);

#endif
