/* Bulk import of elders and visitors from the files offices already keep
 * (issue 11, items 1 to 4).
 *
 * The file is read by sheet.h: CSV or tab-separated text in UTF-8 (with or
 * without a byte order mark), GB18030 or UTF-16, or an .xlsx or .xls
 * workbook (its first sheet). The header row is the first of the first ten
 * rows that names at least two known columns (a title row above it is
 * skipped). Headers are matched after NFKC folding, without blanks or a
 * trailing '*', so full-width brackets match ASCII ones and case does not
 * matter. The columns and their names are listed in docs/admin.md
 * ("Importing the office's files"); `map` renames others.
 *
 * Every row is checked and every problem is reported once, as
 * "row N (line L): column X: reason" (N counts data rows after the header;
 * L is the file line where the row starts, or the workbook's row number; X
 * is the header as written in the file), in row order, so an office can fix
 * a whole file in one pass. A file with any error yields no elders at all:
 * the import is all or nothing. Unknown columns are ignored with a
 * warning. */
#ifndef TF_CSVIMPORT_H
#define TF_CSVIMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "tf_err.h"
#include "wire.h"

/* What the importer's scope holds, so that villages, visitors and elders
 * may be named rather than coded (the admin client and the browser fetch
 * it with GetRegistry). Borrowed, not owned. Without one (NULL), areas are
 * codes and visitors and elders ids, and the daemon checks they exist. */
struct csvimport_dir {
	tf_area **areas;
	size_t n_areas;
	tf_visitor **visitors;
	size_t n_visitors;
	tf_elder **elders; /* for a visitor file's elders by name */
	size_t n_elders;
};

struct csvimport_opts {
	/* "header=field,header=field": the file's header (as written) read as
	 * one of the fields (the English names in docs/admin.md), or "-" to
	 * ignore it. NULL or "": none. */
	const char *map;
	const struct csvimport_dir *dir; /* may be NULL */
	/* Visitor files: the role of rows without a role column or cell (a
	 * file of party members only). 0: the file must say. */
	int default_role;
};

struct csvimport {
	tf_elder **elders; /* empty whenever n_errors > 0 */
	size_t n_elders;
	size_t *rows;  /* per elder: its data row number ... */
	size_t *lines; /* ... and the file line where that row starts */
	size_t n_rows; /* data rows seen, blank ones included */
	char **errors; /* "row N (line L): column X: reason", in row order */
	size_t n_errors;
	char **warnings; /* things ignored, e.g. unknown columns */
	size_t n_warnings;
	const char *format; /* what the file was read as: "CSV (GB18030)", "xlsx", ... */
	/* Per field (see csvimport_field_header), the header as the file
	 * writes it, so a daemon's problem can name the file's column. */
	char *headers[24];
	/* Visitor files (csvimport_visitors_*): the visitors and, per visitor
	 * with elders, an assignment; rows/lines index visitors. */
	tf_visitor **visitors;
	size_t n_visitors;
	Tanfang__V1__ImportAssignment **assignments;
	size_t n_assignments;
};

/* Largest file accepted (bytes). A banner's registry is far smaller. */
#define CSVIMPORT_MAX_BYTES (64u << 20)

/* Reads a whole file ("-" or NULL: standard input) into *buf (malloc'd,
 * NUL-terminated) and *len. Returns 0, -errno, -EFBIG above
 * CSVIMPORT_MAX_BYTES, or -ENOMEM. */
int csvimport_slurp(const char *path, char **buf, size_t *len) TF_MUST_CHECK;

/* Checks a --map value ('header=field,...') before any file is read: every
 * item header=field, every field one csvimport knows (or "-"). Returns 0,
 * TF_E_INVALID with the reason in err, or -ENOMEM. */
int csvimport_map_check(const char *map, char *err, size_t errlen) TF_MUST_CHECK;

/* Reads and checks an elder file. Returns 0 with *out set whenever the
 * file could be read, even if it holds errors (check (*out)->n_errors);
 * -errno if it could not be read, -EFBIG above CSVIMPORT_MAX_BYTES, or
 * -ENOMEM. o may be NULL (no mapping, no directory). */
int csvimport_read(const char *path, struct csvimport **out) TF_MUST_CHECK;
int csvimport_read_opts(const char *path, const struct csvimport_opts *o,
                        struct csvimport **out) TF_MUST_CHECK;

/* The same for a buffer of len bytes. */
int csvimport_parse(const char *data, size_t len, struct csvimport **out) TF_MUST_CHECK;
int csvimport_parse_opts(const char *data, size_t len, const struct csvimport_opts *o,
                         struct csvimport **out) TF_MUST_CHECK;

/* A visitor file (item 3): columns id, name, role, area, contact, id_card,
 * elders (which elders the visitor serves: ids, ID-card numbers or names).
 * The id is the id column's, else the ID-card number, else the phone
 * number. Neighbour households are assigned as "1+2" neighbours of their
 * elders, other roles as assigned visitors. Same returns; the result is in
 * visitors and assignments. */
int csvimport_visitors_parse(const char *data, size_t len, const struct csvimport_opts *o,
                             struct csvimport **out) TF_MUST_CHECK;

void csvimport_free(struct csvimport *ci);

/* Frees an elder made by this module (every field owned). NULL is fine. */
void csvimport_elder_free(tf_elder *e);

/* The file's header for a field named in a daemon's problem ("area",
 * "visitor", "neighbour", "id_card", ...), or the field itself if the file
 * has no such column. Never NULL. */
const char *csvimport_field_header(const struct csvimport *ci, const char *field);

/* Field parsers shared with the admin client's flags, so a value means the
 * same on the command line and in a file. */

/* A category by its short name ("living_alone") or Chinese name ("独居",
 * "独居老人", "特困供养人员"). Returns the Category value, or -1. */
int csvimport_category_value(const char *name);
/* A risk tier: "general"/"key"/"high" or "一般"/"重点"/"高风险". Returns the
 * RiskTier value, or -1. */
int csvimport_tier_value(const char *name);
/* A role by its short name or as offices write it (网格员, 党员, 邻里户 ...).
 * Returns the Role value, or -1. */
int csvimport_role_value(const char *name);
/* A real calendar date not after today, written as offices write it:
 * YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD (one-digit month and day too),
 * YYYYMMDD, 1945年3月7日, full-width digits and dashes, with a time after it
 * ("1945-03-07 00:00:00"); or a month alone (1945-3, 1945.3, 1945年3月),
 * taken as its first day. Normalised into out as YYYY-MM-DD. Returns 0 or
 * -EINVAL. */
int csvimport_date(const char *in, char out[11]) TF_MUST_CHECK;
/* The day an elder entered the office's register (a date as above) as
 * local midnight in the process time zone, in unix seconds: reports count
 * the elder from that month. Returns 0 or -EINVAL. */
int csvimport_registered(const char *in, int64_t *out) TF_MUST_CHECK;
/* Splits a list at ; , | 、 ； ， or ｜, trimming blanks and dropping empty
 * items. *out is a malloc'd array of malloc'd strings (free with
 * csvimport_list_free). Returns 0 or -ENOMEM. */
int csvimport_split(const char *s, char ***out, size_t *n) TF_MUST_CHECK;
void csvimport_list_free(char **list, size_t n);

#endif
