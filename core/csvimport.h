/* Bulk import of elders from the CSV files offices already keep.
 *
 * The file is UTF-8, with or without a byte order mark (Excel's "CSV UTF-8"
 * writes one), comma-separated, RFC 4180 quoting, a header row first.
 * Headers may be English or Chinese:
 *
 *   id 编号 (required)           name 姓名 (required)      area 区划代码/区划 (required)
 *   address 地址                  birth_date 出生日期        categories 类别
 *   risk_tier 风险等级            lat 纬度, lon 经度         phone 电话
 *   neighbours 邻里               visitors 包联人
 *
 * Every row is checked and every problem is reported, as
 * "row N (line L): column X: reason" (N counts data rows, the header not
 * included; L is the file line where the row starts; X is the header as
 * written in the file), so an office can fix a whole file in one pass. A
 * file with any error yields no elders at all: the import is all or
 * nothing. Unknown columns are ignored with a warning. */
#ifndef TF_CSVIMPORT_H
#define TF_CSVIMPORT_H

#include <stddef.h>

#include "tf_err.h"
#include "wire.h"

struct csvimport {
	tf_elder **elders; /* empty whenever n_errors > 0 */
	size_t n_elders;
	size_t *rows;  /* per elder: its data row number ... */
	size_t *lines; /* ... and the file line where that row starts */
	size_t n_rows; /* data rows seen, blank ones included */
	char **errors; /* "row N (line L): column X: reason", in file order */
	size_t n_errors;
	char **warnings; /* things ignored, e.g. unknown columns */
	size_t n_warnings;
};

/* Largest file accepted (bytes). A banner's registry is far smaller. */
#define CSVIMPORT_MAX_BYTES (64u << 20)

/* Reads and checks the file at path ("-" or NULL: standard input). Returns
 * 0 with *out set whenever the file could be read, even if it holds errors
 * (check (*out)->n_errors); -errno if it could not be read, -EFBIG above
 * CSVIMPORT_MAX_BYTES, or -ENOMEM. */
int csvimport_read(const char *path, struct csvimport **out) TF_MUST_CHECK;

/* The same for a buffer of len bytes. */
int csvimport_parse(const char *data, size_t len, struct csvimport **out) TF_MUST_CHECK;

void csvimport_free(struct csvimport *ci);

/* Frees an elder made by this module (every field owned). NULL is fine. */
void csvimport_elder_free(tf_elder *e);

/* Field parsers shared with the admin client's flags, so a value means the
 * same on the command line and in a file. */

/* A category by its short name ("living_alone") or Chinese name ("独居").
 * Returns the Category value, or -1. */
int csvimport_category_value(const char *name);
/* A risk tier: "general"/"key"/"high" or "一般"/"重点"/"高风险". Returns the
 * RiskTier value, or -1. */
int csvimport_tier_value(const char *name);
/* A real calendar date not after today, written YYYY-MM-DD, YYYY/MM/DD or
 * YYYY.MM.DD (month and day may have one digit), normalised into out as
 * YYYY-MM-DD. Returns 0 or -EINVAL. */
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
