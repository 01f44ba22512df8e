#include "csvimport.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <utf8proc.h>

#include "clock.h"
#include "log.h"
#include "registry.h"

/* ---- columns ---- */

enum col {
	COL_ID,
	COL_NAME,
	COL_AREA,
	COL_ADDRESS,
	COL_BIRTH,
	COL_CATEGORIES,
	COL_TIER,
	COL_LAT,
	COL_LON,
	COL_PHONE,
	COL_NEIGHBOURS,
	COL_VISITORS,
	COL_REGISTERED,
	COL_COUNT,
	COL_UNKNOWN = -1,
};

/* Header names per column: the canonical English name first, then the
 * aliases offices use. English matches ignore case. */
static const char *const col_names[COL_COUNT][6] = {
    [COL_ID] = {"id", "elder_id", "编号", "老人编号"},
    [COL_NAME] = {"name", "姓名"},
    [COL_AREA] = {"area", "area_code", "区划代码", "区划"},
    [COL_ADDRESS] = {"address", "地址", "住址"},
    [COL_BIRTH] = {"birth_date", "birth", "出生日期"},
    [COL_CATEGORIES] = {"categories", "category", "类别"},
    [COL_TIER] = {"risk_tier", "tier", "风险等级"},
    [COL_LAT] = {"lat", "latitude", "纬度"},
    [COL_LON] = {"lon", "lng", "longitude", "经度"},
    [COL_PHONE] = {"phone", "电话", "联系电话"},
    [COL_NEIGHBOURS] = {"neighbours", "neighbors", "邻里", "邻里户"},
    [COL_VISITORS] = {"visitors", "包联人"},
    [COL_REGISTERED] = {"registered", "registered_at", "登记日期", "纳入日期"},
};

static enum col col_lookup(const char *h)
{
	for (int c = 0; c < COL_COUNT; c++)
		for (int i = 0; i < 6 && col_names[c][i]; i++)
			if (strcasecmp(h, col_names[c][i]) == 0)
				return (enum col)c;
	return COL_UNKNOWN;
}

/* ---- value parsers ---- */

static const struct {
	const char *zh;
	int value;
} category_zh[] = {
    {"独居", TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE},
    {"空巢", TANFANG__V1__CATEGORY__CATEGORY_EMPTY_NEST},
    {"留守", TANFANG__V1__CATEGORY__CATEGORY_LEFT_BEHIND},
    {"失能", TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED},
    {"重残", TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED},
    {"计划生育特殊家庭", TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL},
    {"计生特殊家庭", TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL},
    {"特困", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
    {"特困供养", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
};

int csvimport_category_value(const char *name)
{
	int v = wire_category_value(name);
	if (v > 0)
		return v;
	for (size_t i = 0; i < sizeof category_zh / sizeof category_zh[0]; i++)
		if (strcmp(name, category_zh[i].zh) == 0)
			return category_zh[i].value;
	return -1;
}

int csvimport_tier_value(const char *name)
{
	int v = wire_tier_value(name);
	if (v > 0)
		return v;
	if (strcmp(name, "一般") == 0)
		return TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL;
	if (strcmp(name, "重点") == 0)
		return TANFANG__V1__RISK_TIER__RISK_TIER_KEY;
	if (strcmp(name, "高风险") == 0 || strcmp(name, "高") == 0)
		return TANFANG__V1__RISK_TIER__RISK_TIER_HIGH;
	return -1;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads 1..max digits; returns the count read (0 = none). */
static int digits(const char *s, int max, int *v)
{
	int n = 0;
	*v = 0;
	while (n < max && s[n] >= '0' && s[n] <= '9')
		*v = *v * 10 + (s[n++] - '0');
	return n;
}

int csvimport_date(const char *in, char out[11])
{
	int y, m, d, n;
	const char *s = in;
	if ((n = digits(s, 4, &y)) != 4)
		return -EINVAL;
	s += n;
	char sep = *s;
	if (sep != '-' && sep != '/' && sep != '.')
		return -EINVAL;
	s++;
	if ((n = digits(s, 2, &m)) == 0 || *(s += n) != sep)
		return -EINVAL;
	s++;
	if ((n = digits(s, 2, &d)) == 0 || s[n] != '\0')
		return -EINVAL;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1880 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
		return -EINVAL;
	/* A date after today is a typing error, not a future elder. Today is
	 * today in the policy's zone (the process zone the client set, Asia/
	 * Shanghai by default): at 07:30 on 1 December in Beijing it is still
	 * 30 November in UTC (issue 7, input 6). */
	time_t now = (time_t)clock_now();
	struct tm tm;
	if (!localtime_r(&now, &tm))
		return -EINVAL;
	int today = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
	if (y * 10000 + m * 100 + d > today)
		return -EINVAL;
	char buf[32];
	snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
	memcpy(out, buf, 11);
	return 0;
}

/* Length of a list separator at s (ASCII or fullwidth), or 0. */
static size_t separator_len(const char *s)
{
	static const char *const seps[] = {";", ",", "|", "、", "；", "，", "｜"};
	for (size_t i = 0; i < sizeof seps / sizeof seps[0]; i++) {
		size_t n = strlen(seps[i]);
		if (strncmp(s, seps[i], n) == 0)
			return n;
	}
	return 0;
}

/* Length of a blank at s: ASCII space or tab, or the ideographic space
 * U+3000 that Chinese input methods type. */
static size_t blank_len(const char *s, size_t avail)
{
	if (avail >= 1 && (*s == ' ' || *s == '\t'))
		return 1;
	if (avail >= 3 && memcmp(s, "\xe3\x80\x80", 3) == 0)
		return 3;
	return 0;
}

/* Trims blanks at both ends of s[0..*len). Returns the new start. */
static const char *trim(const char *s, size_t *len)
{
	size_t k;
	while ((k = blank_len(s, *len)) > 0)
		s += k, *len -= k;
	while (*len > 0) {
		if (s[*len - 1] == ' ' || s[*len - 1] == '\t')
			*len -= 1;
		else if (*len >= 3 && memcmp(s + *len - 3, "\xe3\x80\x80", 3) == 0)
			*len -= 3;
		else
			break;
	}
	return s;
}

void csvimport_list_free(char **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

int csvimport_split(const char *s, char ***out, size_t *n)
{
	char **list = NULL;
	size_t cnt = 0;
	*out = NULL;
	*n = 0;
	while (*s) {
		size_t len = 0, k;
		while (s[len] && separator_len(s + len) == 0)
			len++;
		size_t tl = len;
		const char *item = trim(s, &tl);
		if (tl > 0) {
			char **nl = realloc(list, (cnt + 1) * sizeof *nl);
			if (!nl)
				goto nomem;
			list = nl;
			if (!(list[cnt] = strndup(item, tl)))
				goto nomem;
			cnt++;
		}
		s += len;
		if ((k = separator_len(s)) > 0)
			s += k;
	}
	*out = list;
	*n = cnt;
	return 0;
nomem:
	csvimport_list_free(list, cnt);
	return -ENOMEM;
}

/* ---- the result and its messages ---- */

void csvimport_elder_free(tf_elder *e)
{
	if (!e)
		return;
	free(e->id);
	free(e->name);
	free(e->area);
	free(e->address);
	free(e->birth_date);
	free(e->phone);
	free(e->categories);
	csvimport_list_free(e->visitors, e->n_visitors);
	csvimport_list_free(e->neighbours, e->n_neighbours);
	free(e);
}

static void drop_elders(struct csvimport *ci)
{
	for (size_t i = 0; i < ci->n_elders; i++)
		csvimport_elder_free(ci->elders[i]);
	free(ci->elders);
	free(ci->rows);
	free(ci->lines);
	ci->elders = NULL;
	ci->rows = ci->lines = NULL;
	ci->n_elders = 0;
}

void csvimport_free(struct csvimport *ci)
{
	if (!ci)
		return;
	drop_elders(ci);
	csvimport_list_free(ci->errors, ci->n_errors);
	csvimport_list_free(ci->warnings, ci->n_warnings);
	free(ci);
}

/* For checks after which nothing more can be checked: an error recorded
 * becomes 1 ("stop"), a failure stays negative. */
static int stop(int r)
{
	return r < 0 ? r : 1;
}

/* Messages quote cell values; a value holding a line break or a terminal
 * escape must not break the one-line-per-problem output, so control
 * characters are shown as \n, \r, \t or \xHH. */
static char *escape_controls(const char *m)
{
	size_t n = 0;
	for (const char *p = m; *p; p++)
		n += ((unsigned char)*p < 0x20 || *p == 0x7f) ? 4 : 1;
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = m; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n')
			o += sprintf(o, "\\n");
		else if (c == '\r')
			o += sprintf(o, "\\r");
		else if (c == '\t')
			o += sprintf(o, "\\t");
		else if (c < 0x20 || c == 0x7f)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

static int add_msg(char ***list, size_t *n, const char *fmt, va_list ap)
{
	char *raw;
	if (vasprintf(&raw, fmt, ap) < 0)
		return -ENOMEM;
	char *m = escape_controls(raw);
	free(raw);
	if (!m)
		return -ENOMEM;
	char **nl = realloc(*list, (*n + 1) * sizeof *nl);
	if (!nl) {
		free(m);
		return -ENOMEM;
	}
	nl[(*n)++] = m;
	*list = nl;
	return 0;
}

static int TF_PRINTF(2, 3) error(struct csvimport *ci, const char *fmt, ...);
static int TF_PRINTF(2, 3) warning(struct csvimport *ci, const char *fmt, ...);

static int error(struct csvimport *ci, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = add_msg(&ci->errors, &ci->n_errors, fmt, ap);
	va_end(ap);
	return r;
}

static int warning(struct csvimport *ci, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = add_msg(&ci->warnings, &ci->n_warnings, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- pass 1: bytes to records (libcsv) ---- */

struct record {
	char **f;
	size_t n;
	size_t line; /* where the record starts */
};

struct reader {
	struct record *recs;
	size_t n, cap;
	struct record cur;
	size_t line;     /* the line being fed to libcsv */
	size_t end_line; /* where the last complete record ended */
	bool oom;
};

static void free_record(struct record *rec)
{
	csvimport_list_free(rec->f, rec->n);
	rec->f = NULL;
	rec->n = 0;
}

/* Does a line end at byte i? At "\n", and at a "\r" not followed by "\n":
 * a file saved with old Mac line ends ("CSV (Macintosh)") has only "\r",
 * which libcsv also takes as the end of a record. */
static bool line_break(const char *s, size_t len, size_t i)
{
	return s[i] == '\n' || (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'));
}

static void on_field(void *field, size_t len, void *data)
{
	struct reader *rd = data;
	if (rd->oom)
		return;
	if (rd->cur.n == 0) {
		/* The field ends on the current line; a quoted field may have
		 * started lines earlier. */
		size_t nl = 0;
		for (size_t i = 0; i < len; i++)
			nl += line_break(field, len, i);
		rd->cur.line = rd->line - nl;
	}
	char **nf = realloc(rd->cur.f, (rd->cur.n + 1) * sizeof *nf);
	if (!nf) {
		rd->oom = true;
		return;
	}
	rd->cur.f = nf;
	/* A trimmed copy: offices pad cells with blanks, libcsv only trims
	 * ASCII ones outside quotes. */
	size_t tl = len;
	const char *s = trim(field, &tl);
	if (!(nf[rd->cur.n] = strndup(s, tl))) {
		rd->oom = true;
		return;
	}
	rd->cur.n++;
}

static void on_record(int c, void *data)
{
	struct reader *rd = data;
	(void)c;
	if (rd->oom)
		return;
	if (rd->n == rd->cap) {
		size_t cap = rd->cap ? 2 * rd->cap : 256;
		struct record *nr = realloc(rd->recs, cap * sizeof *nr);
		if (!nr) {
			rd->oom = true;
			return;
		}
		rd->recs = nr;
		rd->cap = cap;
	}
	rd->recs[rd->n++] = rd->cur;
	rd->cur = (struct record){0};
	rd->end_line = rd->line;
}

static void reader_free(struct reader *rd)
{
	for (size_t i = 0; i < rd->n; i++)
		free_record(&rd->recs[i]);
	free(rd->recs);
	free_record(&rd->cur);
}

/* Checks what libcsv cannot: the encoding. One message for the whole file,
 * since a GBK file would otherwise give an error on every row. Returns 0 if
 * fine, 1 if an error was recorded, or -ENOMEM. */
static int check_encoding(struct csvimport *ci, const char *data, size_t len)
{
	if (len >= 2 && (memcmp(data, "\xff\xfe", 2) == 0 || memcmp(data, "\xfe\xff", 2) == 0))
		return stop(error(ci, "the file is UTF-16 (Excel's \"Unicode Text\"); save it as "
		                      "\"CSV UTF-8\""));
	size_t line = 1, first_bad = 0, bad_lines = 0, last_bad_line = 0;
	for (size_t off = 0; off < len;) {
		if (data[off] == '\0')
			return stop(error(
			    ci, "line %zu: the file holds a NUL byte; it is not a CSV text file",
			    line));
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)data + off,
		                                      (utf8proc_ssize_t)(len - off), &cp);
		if (k > 0) {
			line += line_break(data, len, off);
			off += (size_t)k;
			continue;
		}
		if (!bad_lines)
			first_bad = line;
		if (line != last_bad_line)
			bad_lines++, last_bad_line = line;
		off++;
	}
	if (!bad_lines)
		return 0;
	return stop(
	    error(ci,
	          "line %zu: the file is not valid UTF-8 (%zu line%s affected); a CSV saved "
	          "by Excel on Chinese Windows is usually GBK: save it as \"CSV UTF-8\"",
	          first_bad, bad_lines, bad_lines == 1 ? "" : "s"));
}

/* Feeds data to libcsv a line at a time, so each record knows its line. */
static int read_records(struct csvimport *ci, struct reader *rd, const char *data, size_t len)
{
	struct csv_parser p;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		return -ENOMEM;
	int r = 0;
	rd->line = 1;
	for (size_t off = 0; off < len && !rd->oom;) {
		/* The next line end ("\n", "\r\n" or a lone "\r"). */
		const char *nl = NULL;
		for (size_t i = off; i < len && !nl; i++)
			if (line_break(data, len, i))
				nl = data + i;
		size_t n = nl ? (size_t)(nl - (data + off)) + 1 : len - off;
		if (csv_parse(&p, data + off, n, on_field, on_record, rd) != n) {
			if (csv_error(&p) == CSV_ENOMEM || csv_error(&p) == CSV_ETOOBIG) {
				rd->oom = true;
				break;
			}
			r = stop(
			    error(ci,
			          "line %zu: CSV syntax error: a quote inside an unquoted cell, or "
			          "text after a closing quote (a cell holding quotes must be "
			          "quoted as a whole, with each quote doubled)",
			          rd->line));
			goto out;
		}
		off += n;
		if (nl)
			rd->line++;
	}
	if (!rd->oom && csv_fini(&p, on_field, on_record, rd) != 0) {
		/* Name the line where the broken row starts, not the end. */
		r = stop(error(ci,
		               "line %zu: a quoted cell is not closed before the end of the file",
		               rd->cur.n ? rd->cur.line : rd->end_line + 1));
		goto out;
	}
out:
	csv_free(&p);
	if (rd->oom)
		return -ENOMEM;
	return r;
}

/* ---- pass 2: records to elders ---- */

struct ctx {
	struct csvimport *ci;
	const struct record *hdr;
	int map[COL_COUNT]; /* column index of each field, -1 if absent */
	size_t row;
	size_t line;
	int bad; /* errors on this row */
};

static int TF_PRINTF(3, 4) row_error(struct ctx *x, enum col c, const char *fmt, ...);

/* The header text of column c, or its canonical name when the file has no
 * such column: nothing here indexes the header with an absent column's -1
 * (issue 8, item 6: a lat column without lon read before the header). */
static const char *col_label(const struct ctx *x, enum col c)
{
	int i = x->map[c];
	return i >= 0 && (size_t)i < x->hdr->n ? x->hdr->f[i] : col_names[c][0];
}

/* "row N (line L): column X: reason" */
static int row_error(struct ctx *x, enum col c, const char *fmt, ...)
{
	char *reason;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	x->bad++;
	int r;
	if (c == COL_UNKNOWN)
		r = error(x->ci, "row %zu (line %zu): %s", x->row, x->line, reason);
	else /* a column the file lacks (lat without lon) goes by its English name */
		r = error(x->ci, "row %zu (line %zu): column %s: %s", x->row, x->line,
		          col_label(x, c), reason);
	free(reason);
	return r;
}

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int set_text(struct ctx *x, enum col c, const char *v, size_t max, bool required, char **dst)
{
	if (required && !*v)
		return row_error(x, c, "is empty, and it is required");
	if (strlen(v) > max)
		return row_error(x, c, "longer than %zu bytes", max);
	free(*dst);
	return (*dst = strdup(v)) ? 0 : -ENOMEM;
}

static int parse_area(struct ctx *x, const char *v, tf_elder *e)
{
	if (!*v)
		return row_error(x, COL_AREA, "is empty, and it is required");
	if (strlen(v) < 2 || strlen(v) > 20 || !is_digits(v)) {
		/* Excel shows a 12-digit village code as 1.52223E+11 unless the
		 * column is formatted as text; say so rather than just "bad". */
		if (strchr(v, 'E') || strchr(v, 'e'))
			return row_error(
			    x, COL_AREA,
			    "'%s' looks like a number Excel rewrote in scientific notation; "
			    "format the column as text and enter the full code",
			    v);
		return row_error(x, COL_AREA, "'%s' is not an area code (2 to 20 digits)", v);
	}
	free(e->area);
	return (e->area = strdup(v)) ? 0 : -ENOMEM;
}

static int parse_birth(struct ctx *x, const char *v, tf_elder *e)
{
	char d[11] = "";
	if (*v && csvimport_date(v, d) < 0) {
		/* Excel may turn a date into its serial day number. */
		if (is_digits(v) && strlen(v) == 5)
			return row_error(
			    x, COL_BIRTH,
			    "'%s' looks like a spreadsheet date serial number; format the "
			    "column as text and write YYYY-MM-DD",
			    v);
		return row_error(
		    x, COL_BIRTH,
		    "'%s' is not a real date (YYYY-MM-DD or YYYY/MM/DD, not in the future)", v);
	}
	free(e->birth_date);
	return (e->birth_date = strdup(d)) ? 0 : -ENOMEM;
}

int csvimport_registered(const char *in, int64_t *out)
{
	char d[11];
	if (csvimport_date(in, d) < 0)
		return -EINVAL;
	struct tm tm = {.tm_isdst = -1};
	tm.tm_year = atoi(d) - 1900;
	tm.tm_mon = atoi(d + 5) - 1;
	tm.tm_mday = atoi(d + 8);
	*out = (int64_t)mktime(&tm);
	return 0;
}

/* Empty: the daemon uses the day of the import. */
static int parse_registered(struct ctx *x, const char *v, tf_elder *e)
{
	if (*v && csvimport_registered(v, &e->registered_at) < 0)
		return row_error(
		    x, COL_REGISTERED,
		    "'%s' is not a real date (YYYY-MM-DD or YYYY/MM/DD, not in the future)", v);
	return 0;
}

static int parse_categories(struct ctx *x, const char *v, tf_elder *e)
{
	char **items;
	size_t n;
	int r = csvimport_split(v, &items, &n);
	if (r < 0)
		return r;
	free(e->categories);
	e->categories = n ? calloc(n, sizeof *e->categories) : NULL;
	e->n_categories = 0;
	if (n && !e->categories)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		int c = csvimport_category_value(items[i]);
		if (c < 0) {
			r = row_error(
			    x, COL_CATEGORIES,
			    "unknown category '%s' (known: 独居 living_alone, 空巢 empty_nest, "
			    "留守 left_behind, 失能 incapacitated, 重残 severely_disabled, "
			    "计划生育特殊家庭 family_planning_special, 特困 extreme_poverty)",
			    items[i]);
			continue;
		}
		/* The same category twice is harmless; keep one. */
		bool seen = false;
		for (size_t j = 0; j < e->n_categories; j++)
			seen |= (int)e->categories[j] == c;
		if (!seen)
			e->categories[e->n_categories++] = (Tanfang__V1__Category)c;
	}
	csvimport_list_free(items, n);
	return r;
}

static int parse_tier(struct ctx *x, const char *v, tf_elder *e)
{
	if (!*v) {
		e->risk_tier = TANFANG__V1__RISK_TIER__RISK_TIER_UNSPECIFIED;
		return 0;
	}
	int t = csvimport_tier_value(v);
	if (t < 0)
		return row_error(x, COL_TIER,
		                 "unknown risk tier '%s' (general/key/high or 一般/重点/高风险; "
		                 "empty = derived from the categories)",
		                 v);
	e->risk_tier = (Tanfang__V1__RiskTier)t;
	return 0;
}

static int parse_coord(struct ctx *x, enum col c, const char *v, double limit, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (end == v || *end || errno || !isfinite(d))
		return row_error(x, c, "'%s' is not a number of degrees", v);
	if (fabs(d) > limit)
		return row_error(x, c, "%s is out of range (-%g to %g)", v, limit, limit);
	*out = d;
	return 0;
}

static int parse_location(struct ctx *x, const char *lat, const char *lon, tf_elder *e)
{
	if (!*lat && !*lon)
		return 0;
	if (!*lat || !*lon) {
		enum col empty = *lat ? COL_LON : COL_LAT;
		enum col set = *lat ? COL_LAT : COL_LON;
		return row_error(x, empty, "is empty while %s is set; give both or neither",
		                 col_label(x, set));
	}
	int bad = x->bad;
	int r = parse_coord(x, COL_LAT, lat, 90, &e->lat);
	if (r == 0)
		r = parse_coord(x, COL_LON, lon, 180, &e->lon);
	e->has_location = r == 0 && x->bad == bad;
	return r;
}

/* A list of visitor ids: valid, distinct, at most max. */
static int parse_ids(struct ctx *x, enum col c, const char *v, size_t max, char ***dst, size_t *n)
{
	char **items;
	size_t cnt;
	int r = csvimport_split(v, &items, &cnt);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		if (!registry_id_valid(items[i])) {
			r = row_error(x, c,
			              "'%s' is not a visitor id (1 to %d of A-Z a-z 0-9 _ . -)",
			              items[i], REGISTRY_ID_MAX);
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(items[i], items[j]) == 0) {
				r = row_error(x, c, "visitor %s is listed twice", items[i]);
				break;
			}
	}
	if (r == 0 && cnt > max)
		r = row_error(x, c, "%zu visitor ids given, at most %zu allowed%s", cnt, max,
		              c == COL_NEIGHBOURS ? " (the \"1+2\" model: two neighbour households)"
		                                  : "");
	csvimport_list_free(*dst, *n);
	*dst = items;
	*n = cnt;
	return r;
}

/* The cell of column c in rec, "" if the file has no such column or the
 * row is short (check_rows refuses short rows before; this never reads
 * outside the row's cells whatever the caller). */
static const char *field(const struct ctx *x, const struct record *rec, enum col c)
{
	int i = x->map[c];
	return i >= 0 && (size_t)i < rec->n ? rec->f[i] : "";
}

/* Builds the elder of one row, recording every problem. *out is NULL if the
 * row had errors. Returns 0 or -ENOMEM. */
static int parse_row(struct ctx *x, const struct record *rec, tf_elder **out)
{
	*out = NULL;
	tf_elder *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	wire_init(WIRE_ELDER, e);
	e->id = e->name = e->area = e->address = e->birth_date = e->phone = NULL;
	int r = 0;
	const char *id = field(x, rec, COL_ID);
	if (!*id)
		r = row_error(x, COL_ID, "is empty, and it is required");
	else if (!registry_id_valid(id))
		r = row_error(x, COL_ID, "'%s' is not a valid id (1 to %d of A-Z a-z 0-9 _ . -)",
		              id, REGISTRY_ID_MAX);
	if (r == 0)
		r = (e->id = strdup(id)) ? 0 : -ENOMEM;
	if (r == 0)
		r = set_text(x, COL_NAME, field(x, rec, COL_NAME), REGISTRY_NAME_MAX, true,
		             &e->name);
	if (r == 0)
		r = parse_area(x, field(x, rec, COL_AREA), e);
	if (r == 0)
		r = set_text(x, COL_ADDRESS, field(x, rec, COL_ADDRESS), 1000, false, &e->address);
	if (r == 0)
		r = parse_birth(x, field(x, rec, COL_BIRTH), e);
	if (r == 0)
		r = parse_registered(x, field(x, rec, COL_REGISTERED), e);
	if (r == 0)
		r = parse_categories(x, field(x, rec, COL_CATEGORIES), e);
	if (r == 0)
		r = parse_tier(x, field(x, rec, COL_TIER), e);
	if (r == 0)
		r = parse_location(x, field(x, rec, COL_LAT), field(x, rec, COL_LON), e);
	if (r == 0)
		r = set_text(x, COL_PHONE, field(x, rec, COL_PHONE), 64, false, &e->phone);
	if (r == 0)
		r = parse_ids(x, COL_NEIGHBOURS, field(x, rec, COL_NEIGHBOURS), 2, &e->neighbours,
		              &e->n_neighbours);
	if (r == 0)
		r = parse_ids(x, COL_VISITORS, field(x, rec, COL_VISITORS), 16, &e->visitors,
		              &e->n_visitors);
	/* Fields left unset (an error stopped them, or no column) are empty
	 * strings the elder owns, so one free function fits every elder. */
	char **strs[] = {&e->id, &e->name, &e->area, &e->address, &e->birth_date, &e->phone};
	for (size_t i = 0; r == 0 && i < sizeof strs / sizeof strs[0]; i++)
		if (!*strs[i] && !(*strs[i] = strdup("")))
			r = -ENOMEM;
	if (r == 0 && x->bad == 0) {
		*out = e;
		return 0;
	}
	csvimport_elder_free(e);
	return r;
}

static int map_header(struct ctx *x)
{
	struct csvimport *ci = x->ci;
	int r = 0;
	for (int c = 0; c < COL_COUNT; c++)
		x->map[c] = -1;
	for (size_t i = 0; r == 0 && i < x->hdr->n; i++) {
		const char *h = x->hdr->f[i];
		enum col c = col_lookup(h);
		if (c == COL_UNKNOWN) {
			r = *h ? warning(ci, "column %zu '%s' is not a known column and is ignored",
			                 i + 1, h)
			       : warning(ci, "column %zu has no header and is ignored", i + 1);
			continue;
		}
		if (x->map[c] >= 0) {
			r = stop(error(ci, "header: columns %d '%s' and %zu '%s' both mean %s",
			               x->map[c] + 1, x->hdr->f[x->map[c]], i + 1, h,
			               col_names[c][0]));
			continue;
		}
		x->map[c] = (int)i;
	}
	char missing[200] = "";
	for (int c = COL_ID; r == 0 && c <= COL_AREA; c++)
		if (x->map[c] < 0) {
			size_t l = strlen(missing);
			snprintf(missing + l, sizeof missing - l, "%s%s (%s)", l ? ", " : "",
			         col_names[c][0],
			         c == COL_ID     ? "编号"
			         : c == COL_NAME ? "姓名"
			                         : "区划代码");
		}
	if (r == 0 && *missing)
		r = stop(error(ci, "header (line %zu): missing required column%s %s", x->hdr->line,
		               strchr(missing, ',') ? "s" : "", missing));
	/* A location is two numbers: one column without the other is a
	 * mistake in the whole file, not in every row. */
	if (r == 0 && (x->map[COL_LAT] < 0) != (x->map[COL_LON] < 0)) {
		enum col has = x->map[COL_LAT] >= 0 ? COL_LAT : COL_LON;
		r = stop(error(ci,
		               "header (line %zu): column %s '%s' has no %s column; give both "
		               "lat (纬度) and lon (经度), or neither",
		               x->hdr->line, col_names[has][0], col_label(x, has),
		               col_names[has == COL_LAT ? COL_LON : COL_LAT][0]));
	}
	return r;
}

struct id_ref {
	const char *id;
	size_t idx;
};

static int cmp_id_ref(const void *a, const void *b)
{
	const struct id_ref *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* first[i] = index of the earlier record with the same id, or SIZE_MAX. */
static int find_duplicates(const struct ctx *x, const struct record *recs, size_t n, size_t *first)
{
	struct id_ref *refs = malloc((n ? n : 1) * sizeof *refs);
	if (!refs)
		return -ENOMEM;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		first[i] = SIZE_MAX;
		if (recs[i].n == x->hdr->n && *recs[i].f[x->map[COL_ID]])
			refs[m++] = (struct id_ref){recs[i].f[x->map[COL_ID]], i};
	}
	qsort(refs, m, sizeof *refs, cmp_id_ref);
	for (size_t i = 1; i < m; i++) {
		size_t g = i;
		while (g > 0 && strcmp(refs[g - 1].id, refs[i].id) == 0)
			g--;
		if (g != i)
			first[refs[i].idx] = refs[g].idx;
	}
	free(refs);
	return 0;
}

static bool all_empty(const struct record *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		if (*rec->f[i])
			return false;
	return true;
}

static int push_elder(struct csvimport *ci, tf_elder *e, size_t row, size_t line, size_t max)
{
	if (!ci->elders) {
		ci->elders = calloc(max, sizeof *ci->elders);
		ci->rows = calloc(max, sizeof *ci->rows);
		ci->lines = calloc(max, sizeof *ci->lines);
		if (!ci->elders || !ci->rows || !ci->lines) {
			csvimport_elder_free(e);
			return -ENOMEM;
		}
	}
	ci->elders[ci->n_elders] = e;
	ci->rows[ci->n_elders] = row;
	ci->lines[ci->n_elders++] = line;
	return 0;
}

static int check_rows(struct csvimport *ci, const struct reader *rd)
{
	struct ctx x = {.ci = ci, .hdr = &rd->recs[0]};
	int r = map_header(&x);
	if (r != 0)
		return r < 0 ? r : 0;
	const struct record *recs = rd->recs + 1;
	size_t n = rd->n - 1;
	if (n == 0)
		return ci->n_errors ? 0 : error(ci, "the file has a header but no rows");
	size_t *first = malloc(n * sizeof *first);
	if (!first)
		return -ENOMEM;
	r = find_duplicates(&x, recs, n, first);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct record *rec = &recs[i];
		x.row = i + 1;
		x.line = rec->line;
		x.bad = 0;
		ci->n_rows++;
		/* Spreadsheets often end with rows that only look empty. */
		if (all_empty(rec))
			continue;
		if (rec->n != x.hdr->n) {
			r = row_error(&x, COL_UNKNOWN, "has %zu cells, the header has %zu", rec->n,
			              x.hdr->n);
			continue;
		}
		if (first[i] != SIZE_MAX) {
			r = row_error(&x, COL_ID, "id %s is already used on row %zu (line %zu)",
			              rec->f[x.map[COL_ID]], first[i] + 1, recs[first[i]].line);
			if (r < 0)
				break;
		}
		tf_elder *e;
		r = parse_row(&x, rec, &e);
		if (r == 0 && e)
			r = push_elder(ci, e, x.row, x.line, n);
	}
	free(first);
	return r;
}

int csvimport_parse(const char *data, size_t len, struct csvimport **out)
{
	struct csvimport *ci = calloc(1, sizeof *ci);
	if (!ci)
		return -ENOMEM;
	struct reader rd = {0};
	/* Excel's "CSV UTF-8" starts with a byte order mark. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		data += 3, len -= 3;
	int r = check_encoding(ci, data, len);
	if (r == 0)
		r = read_records(ci, &rd, data, len);
	if (r == 0 && rd.n == 0)
		r = error(ci,
		          "the file is empty; it needs a header row (id,name,area,...) and rows");
	/* Rows before a syntax error are still checked, so one pass shows as
	 * much as possible. */
	if (r >= 0 && rd.n > 0)
		r = check_rows(ci, &rd);
	reader_free(&rd);
	if (r < 0) {
		csvimport_free(ci);
		return r;
	}
	if (ci->n_errors)
		drop_elders(ci);
	*out = ci;
	return 0;
}

int csvimport_read(const char *path, struct csvimport **out)
{
	bool std = !path || strcmp(path, "-") == 0;
	FILE *f = std ? stdin : fopen(path, "rb");
	if (!f)
		return -errno;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r = 0;
	for (;;) {
		if (len == cap) {
			if (cap >= CSVIMPORT_MAX_BYTES) {
				r = -EFBIG;
				break;
			}
			cap = cap ? 2 * cap : 65536;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t k = fread(buf + len, 1, cap - len, f);
		len += k;
		if (k == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	if (r == 0 && len > CSVIMPORT_MAX_BYTES)
		r = -EFBIG;
	if (!std)
		fclose(f);
	if (r == 0)
		r = csvimport_parse(buf ? buf : "", len, out);
	free(buf);
	return r;
}
