#include "output.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <utf8proc.h>
#include <xlsxwriter.h>

#include "table.h"

struct output {
	size_t ncols;
	char **headers;
	bool *numeric;
	char **cells; /* rows * ncols, row-major */
	size_t rows, cap;
};

int output_format_parse(const char *name, enum output_format *out)
{
	static const struct {
		const char *name;
		enum output_format fmt;
	} names[] = {{"table", OUTPUT_TABLE},
	             {"csv", OUTPUT_CSV},
	             {"json", OUTPUT_JSON},
	             {"xlsx", OUTPUT_XLSX}};
	for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].fmt;
			return 0;
		}
	}
	return -EINVAL;
}

void output_free(struct output *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->ncols; i++)
		free(o->headers[i]);
	for (size_t i = 0; i < o->rows * o->ncols; i++)
		free(o->cells[i]);
	free(o->headers);
	free(o->numeric);
	free(o->cells);
	free(o);
}

int output_new(size_t ncols, const char *const *headers, struct output **out)
{
	if (ncols == 0)
		return -EINVAL;
	for (size_t i = 0; i < ncols; i++) {
		if (!headers[i] || !*headers[i])
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(headers[i], headers[j]) == 0)
				return -EINVAL;
	}
	struct output *o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	o->headers = calloc(ncols, sizeof *o->headers);
	o->numeric = calloc(ncols, sizeof *o->numeric);
	if (!o->headers || !o->numeric)
		goto nomem;
	o->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		if (!(o->headers[i] = strdup(headers[i])))
			goto nomem;
	*out = o;
	return 0;
nomem:
	output_free(o);
	return -ENOMEM;
}

void output_set_numeric(struct output *o, size_t col, bool numeric)
{
	if (col >= o->ncols)
		abort();
	o->numeric[col] = numeric;
}

size_t output_rows(const struct output *o)
{
	return o->rows;
}

int output_add_row(struct output *o, const char *const *cells)
{
	if (o->rows == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		if (cap > SIZE_MAX / sizeof *o->cells / o->ncols)
			return -ENOMEM;
		char **c = realloc(o->cells, cap * o->ncols * sizeof *c);
		if (!c)
			return -ENOMEM;
		o->cells = c;
		o->cap = cap;
	}
	char **row = o->cells + o->rows * o->ncols;
	for (size_t i = 0; i < o->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "");
		if (!row[i]) {
			while (i--)
				free(row[i]);
			return -ENOMEM;
		}
	}
	o->rows++;
	return 0;
}

static const char *cell(const struct output *o, size_t row, size_t col)
{
	return o->cells[row * o->ncols + col];
}

/* ---- table ---- */

static int write_table_line(const struct output *o, const size_t *widths, size_t row, bool header,
                            FILE *f)
{
	int r = 0;
	for (size_t c = 0; r == 0 && c < o->ncols; c++) {
		const char *s = header ? o->headers[c] : cell(o, row, c);
		bool last = c + 1 == o->ncols;
		if (c > 0)
			r = table_put_repeat(f, ' ', 2);
		if (r < 0)
			break;
		/* No trailing blanks after a left-aligned last column. */
		if (o->numeric[c])
			r = table_put_padded(f, s, widths[c], TABLE_RIGHT);
		else if (last)
			r = table_put(f, s);
		else
			r = table_put_padded(f, s, widths[c], TABLE_LEFT);
	}
	if (r == 0 && fputc('\n', f) == EOF)
		r = -EIO;
	return r;
}

static int write_table(const struct output *o, FILE *f)
{
	size_t *widths = calloc(o->ncols, sizeof *widths);
	if (!widths)
		return -ENOMEM;
	for (size_t c = 0; c < o->ncols; c++) {
		widths[c] = table_width(o->headers[c]);
		for (size_t row = 0; row < o->rows; row++) {
			size_t w = table_width(cell(o, row, c));
			if (w > widths[c])
				widths[c] = w;
		}
	}
	int r = write_table_line(o, widths, 0, true, f);
	for (size_t c = 0; r == 0 && c < o->ncols; c++) {
		if (c > 0)
			r = table_put_repeat(f, ' ', 2);
		if (r == 0)
			r = table_put_repeat(f, '-', widths[c]);
	}
	if (r == 0 && fputc('\n', f) == EOF)
		r = -EIO;
	for (size_t row = 0; r == 0 && row < o->rows; row++)
		r = write_table_line(o, widths, row, false, f);
	free(widths);
	return r;
}

/* ---- CSV ---- */

static bool json_number_text(const char *s);

/* Would Excel read s as a number and lose what makes it an id: leading
 * zeros, digits past the 15th (1.52223E+11), or "1e5" as 100000? */
static bool excel_would_convert(const char *s)
{
	size_t n = strlen(s);
	return n >= 2 && s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789eE") == n;
}

/* Would Excel (or LibreOffice) take s as a formula? OWASP's list: =, +, -,
 * @, and tab or CR, which some readers strip before looking. */
static bool excel_would_evaluate(const char *s)
{
	/* A lone "-" (nobody, no rate) is text to every reader. */
	if (strcmp(s, "-") == 0)
		return false;
	return *s && strchr("=+-@\t\r", *s) != NULL;
}

char *output_csv_text(const char *s)
{
	/* A tab, not ="...": the formula form is itself what the rule below
	 * neutralises, and other readers show it verbatim. Excel keeps a cell
	 * that begins with a tab as text, digits and all. */
	const char *pre = excel_would_convert(s) ? "\t" : excel_would_evaluate(s) ? "'" : "";
	char *out;
	return asprintf(&out, "%s%s", pre, s) < 0 ? NULL : out;
}

static int write_csv_field(const char *s, FILE *f)
{
	/* RFC 4180: quote a field holding a comma, a quote or a line break,
	 * doubling the quotes. Leading or trailing blanks are quoted too, since
	 * some readers trim unquoted ones. */
	size_t n = strlen(s);
	bool quote =
	    strpbrk(s, ",\"\r\n") != NULL ||
	    (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'));
	if (!quote)
		return fputs(s, f) == EOF ? -EIO : 0;
	if (fputc('"', f) == EOF)
		return -EIO;
	for (; *s; s++) {
		if (*s == '"' && fputc('"', f) == EOF)
			return -EIO;
		if (fputc(*s, f) == EOF)
			return -EIO;
	}
	return fputc('"', f) == EOF ? -EIO : 0;
}

/* One line; a data line (not the header) has its cells made safe for
 * Excel, except the numbers of numeric columns. */
static int write_csv_line(const struct output *o, char *const *fields, bool data, FILE *f)
{
	for (size_t c = 0; c < o->ncols; c++) {
		if (c > 0 && fputc(',', f) == EOF)
			return -EIO;
		int r;
		if (!data || (o->numeric[c] && json_number_text(fields[c]))) {
			r = write_csv_field(fields[c], f);
		} else {
			char *safe = output_csv_text(fields[c]);
			if (!safe)
				return -ENOMEM;
			r = write_csv_field(safe, f);
			free(safe);
		}
		if (r < 0)
			return r;
	}
	return fputs("\r\n", f) == EOF ? -EIO : 0;
}

static int write_csv(const struct output *o, FILE *f)
{
	if (fputs("\xef\xbb\xbf", f) == EOF)
		return -EIO;
	int r = write_csv_line(o, o->headers, false, f);
	for (size_t row = 0; r == 0 && row < o->rows; row++)
		r = write_csv_line(o, o->cells + row * o->ncols, true, f);
	return r;
}

/* ---- JSON ---- */

/* Does s follow JSON's number grammar? strtod alone would also take hex,
 * "inf" and leading blanks. */
static bool json_number_text(const char *s)
{
	if (*s == '-')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* A numeric cell as a JSON number: an integer when it reads as one (so
 * counts keep every digit), else a finite real; null when empty; NULL when
 * it is not a number (the caller writes it as a string). */
static json_t *json_number(const char *s)
{
	if (!*s)
		return json_null();
	if (!json_number_text(s))
		return NULL;
	char *end;
	errno = 0;
	long long ll = strtoll(s, &end, 10);
	if (*end == '\0' && errno == 0)
		return json_integer(ll);
	errno = 0;
	double d = strtod(s, &end);
	if (*end == '\0' && errno == 0 && isfinite(d))
		return json_real(d);
	return NULL;
}

/* A JSON string of s, with any invalid UTF-8 byte replaced by U+FFFD so the
 * document stays valid (cells normally come from the wire, already checked). */
static json_t *json_text(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t n = strlen(s);
	char *buf = malloc(3 * n + 1);
	if (!buf)
		return NULL;
	size_t o = 0;
	while (*s) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &cp);
		if (k <= 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
		} else {
			memcpy(buf + o, s, (size_t)k);
			o += (size_t)k;
			s += k;
		}
	}
	v = json_stringn(buf, o);
	free(buf);
	return v;
}

static int write_json(const struct output *o, FILE *f)
{
	int r = -ENOMEM;
	json_t *arr = json_array();
	if (!arr)
		return -ENOMEM;
	for (size_t row = 0; row < o->rows; row++) {
		json_t *obj = json_object();
		if (!obj || json_array_append_new(arr, obj) < 0)
			goto out;
		for (size_t c = 0; c < o->ncols; c++) {
			const char *s = cell(o, row, c);
			json_t *v = o->numeric[c] ? json_number(s) : NULL;
			if (!v)
				v = json_text(s);
			if (!v || json_object_set_new(obj, o->headers[c], v) < 0)
				goto out;
		}
	}
	/* 15 significant digits: a rate of 91.4 prints as 91.4, not
	 * 91.400000000000006. */
	r = json_dumpf(arr, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) < 0
	        ? -EIO
	        : 0;
	if (r == 0 && fputc('\n', f) == EOF)
		r = -EIO;
out:
	json_decref(arr);
	return r;
}

/* ---- xlsx ---- */

/* Copies the file at path to f. Returns 0 or -EIO. */
static int copy_file(const char *path, FILE *f)
{
	FILE *in = fopen(path, "rb");
	if (!in)
		return -EIO;
	char buf[65536];
	size_t n;
	int r = 0;
	while (r == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, f) != n)
			r = -EIO;
	if (ferror(in))
		r = -EIO;
	fclose(in);
	return r;
}

/* Column widths in characters, as a table counts them (a Chinese character
 * two), capped so a long note does not make a sheet unreadable. */
static double xlsx_width(const struct output *o, size_t c)
{
	size_t w = table_width(o->headers[c]);
	for (size_t row = 0; row < o->rows && row < 1000; row++) {
		size_t cw = table_width(cell(o, row, c));
		if (cw > w)
			w = cw;
	}
	return (double)(w < 8 ? 8 : w > 60 ? 60 : w) + 1;
}

static int write_xlsx_file(const struct output *o, const char *path)
{
	lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = NULL};
	lxw_workbook *wb = workbook_new_opt(path, &opt);
	if (!wb)
		return -ENOMEM;
	lxw_worksheet *ws = workbook_add_worksheet(wb, NULL);
	lxw_format *bold = workbook_add_format(wb);
	if (!ws || !bold) {
		workbook_close(wb);
		return -ENOMEM;
	}
	format_set_bold(bold);
	/* Text cells stay text when edited: the "@" number format. */
	lxw_format *text = workbook_add_format(wb);
	if (text)
		format_set_num_format(text, "@");
	lxw_error e = LXW_NO_ERROR;
	for (size_t c = 0; e == LXW_NO_ERROR && c < o->ncols && c < LXW_COL_MAX; c++)
		e = worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, xlsx_width(o, c),
		                         o->numeric[c] ? NULL : text);
	for (size_t c = 0; e == LXW_NO_ERROR && c < o->ncols && c < LXW_COL_MAX; c++)
		e = worksheet_write_string(ws, 0, (lxw_col_t)c, o->headers[c], bold);
	if (e == LXW_NO_ERROR)
		worksheet_freeze_panes(ws, 1, 0);
	for (size_t row = 0; e == LXW_NO_ERROR && row < o->rows && row + 1 < LXW_ROW_MAX; row++) {
		for (size_t c = 0; e == LXW_NO_ERROR && c < o->ncols && c < LXW_COL_MAX; c++) {
			const char *s = cell(o, row, c);
			lxw_row_t r = (lxw_row_t)(row + 1);
			if (!*s)
				continue;
			/* write_string never makes a formula, so a note that begins
			 * with "=" stays a note. */
			if (o->numeric[c] && json_number_text(s))
				e = worksheet_write_number(ws, r, (lxw_col_t)c, strtod(s, NULL),
				                           NULL);
			else
				e = worksheet_write_string(ws, r, (lxw_col_t)c, s, text);
		}
	}
	lxw_error ce = workbook_close(wb);
	if (e == LXW_ERROR_MEMORY_MALLOC_FAILED)
		return -ENOMEM;
	return e == LXW_NO_ERROR && ce == LXW_NO_ERROR ? 0 : -EIO;
}

/* libxlsxwriter writes to a named file: one made under $TMPDIR, copied to
 * f, then removed. */
static int write_xlsx(const struct output *o, FILE *f)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/tanfang-XXXXXX.xlsx", dir && *dir ? dir : "/tmp") < 0)
		return -ENOMEM;
	int fd = mkstemps(path, 5);
	if (fd < 0) {
		free(path);
		return -EIO;
	}
	close(fd);
	int r = write_xlsx_file(o, path);
	if (r == 0)
		r = copy_file(path, f);
	unlink(path);
	free(path);
	return r;
}

int output_write(const struct output *o, enum output_format fmt, FILE *f)
{
	int r;
	switch (fmt) {
	case OUTPUT_TABLE: r = write_table(o, f); break;
	case OUTPUT_CSV: r = write_csv(o, f); break;
	case OUTPUT_JSON: r = write_json(o, f); break;
	case OUTPUT_XLSX: r = write_xlsx(o, f); break;
	default: abort();
	}
	if (r == 0 && fflush(f) == EOF)
		r = -EIO;
	return r;
}
