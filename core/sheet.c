#include "sheet.h"

#include <csv.h>
#include <errno.h>
#include <expat.h>
#include <freexl.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zip.h>

/* ---- the result ---- */

static void row_free(struct sheet_row *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->cells[i]);
	free(r->cells);
	free(r->numeric);
	free(r->date);
	*r = (struct sheet_row){0};
}

void sheet_free(struct sheet *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		row_free(&s->rows[i]);
	free(s->rows);
	free(s->error);
	free(s);
}

static int fail(struct sheet *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records why reading stopped (the first reason only). Returns 0 or
 * -ENOMEM. */
static int fail(struct sheet *s, const char *fmt, ...)
{
	if (s->error)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s->error, fmt, ap);
	va_end(ap);
	if (n < 0) {
		s->error = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Blank at s: ASCII space, tab, or the ideographic space U+3000. */
static size_t blank_len(const char *s, size_t avail)
{
	if (avail >= 1 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		return 1;
	if (avail >= 3 && memcmp(s, "\xe3\x80\x80", 3) == 0)
		return 3;
	if (avail >= 2 && memcmp(s, "\xc2\xa0", 2) == 0) /* no-break space */
		return 2;
	return 0;
}

static char *trimmed_copy(const char *s, size_t len)
{
	size_t k;
	while ((k = blank_len(s, len)) > 0)
		s += k, len -= k;
	for (;;) {
		if (len >= 1 && blank_len(s + len - 1, 1))
			len -= 1;
		else if (len >= 3 && memcmp(s + len - 3, "\xe3\x80\x80", 3) == 0)
			len -= 3;
		else if (len >= 2 && memcmp(s + len - 2, "\xc2\xa0", 2) == 0)
			len -= 2;
		else
			break;
	}
	return strndup(s, len);
}

/* Sets cell col of row (growing it with empty cells). Takes text. */
/* What the rows read from any file may hold (struct sheet, held_max): 64
 * times the file, at least 64 MiB, at most 512 MiB (an office's list of
 * 100,000 elders holds about 60 MB). A 6.6 KB workbook of rows holding one
 * far-right empty cell each read into 1 GB, and one long shared text in
 * many cells into more (found by an attack test), within the unpack budget. */
#define SHEET_HELD_RATIO 64
#define SHEET_HELD_MIN   ((size_t)64 << 20)
#define SHEET_HELD_MAX   ((size_t)512 << 20)
/* What a cell costs the sheet: its text, its pointer and flags, the
 * allocator's header. */
#define CELL_COST(len) ((len) + 1 + sizeof(char *) + 2 + 16)

static int row_set(struct sheet *s, struct sheet_row *r, size_t col, char *text, bool numeric,
                   bool date)
{
	if (!text)
		return -ENOMEM;
	size_t add = CELL_COST(strlen(text)) + (col >= r->n ? (col + 1 - r->n) * CELL_COST(0) : 0);
	if (s->held + add > s->held_max) {
		s->too_big = true;
		free(text);
		return -EFBIG;
	}
	s->held += add;
	if (col >= r->n) {
		size_t n = col + 1;
		char **c = realloc(r->cells, n * sizeof *c);
		if (c)
			r->cells = c;
		bool *nu = c ? realloc(r->numeric, n * sizeof *nu) : NULL;
		if (nu)
			r->numeric = nu;
		bool *d = nu ? realloc(r->date, n * sizeof *d) : NULL;
		if (!d) {
			free(text);
			return -ENOMEM;
		}
		r->date = d;
		for (size_t i = r->n; i < n; i++) {
			if (!(r->cells[i] = strdup(""))) {
				r->n = i;
				free(text);
				return -ENOMEM;
			}
			r->numeric[i] = r->date[i] = false;
		}
		r->n = n;
	}
	free(r->cells[col]);
	r->cells[col] = text;
	r->numeric[col] = numeric;
	r->date[col] = date;
	return 0;
}

static int push_row(struct sheet *s, struct sheet_row *r, size_t *cap)
{
	if (s->n == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		struct sheet_row *nr = realloc(s->rows, c * sizeof *nr);
		if (!nr)
			return -ENOMEM;
		s->rows = nr;
		*cap = c;
	}
	s->rows[s->n++] = *r;
	*r = (struct sheet_row){0};
	return 0;
}

/* ---- text: encodings ---- */

/* Converts len bytes from `from` into a malloc'd UTF-8 buffer. Returns 0,
 * -EILSEQ (not text in that encoding; *bad_at: the input offset), or
 * -ENOMEM. */
static int to_utf8(const char *from, const char *in, size_t len, char **out, size_t *outlen,
                   size_t *bad_at)
{
	iconv_t cd = iconv_open("UTF-8", from);
	if (cd == (iconv_t)-1)
		return -errno;
	size_t cap = len * 2 + 16, left = cap;
	char *buf = malloc(cap + 1), *o = buf;
	char *i = (char *)in;
	size_t ileft = len;
	int r = 0;
	while (buf && ileft > 0) {
		if (iconv(cd, &i, &ileft, &o, &left) != (size_t)-1)
			continue;
		if (errno == E2BIG) {
			size_t used = (size_t)(o - buf);
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb, o = buf + used, left = cap - used;
			continue;
		}
		*bad_at = (size_t)(i - in);
		r = -EILSEQ;
		break;
	}
	iconv_close(cd);
	if (!buf)
		return -ENOMEM;
	if (r < 0) {
		free(buf);
		return r;
	}
	*o = '\0';
	*out = buf;
	*outlen = (size_t)(o - buf);
	return 0;
}

static size_t line_of(const char *data, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off; i++)
		line += data[i] == '\n' || (data[i] == '\r' && data[i + 1] != '\n');
	return line;
}

static bool valid_utf8(const char *data, size_t len, size_t *bad_at)
{
	for (size_t off = 0; off < len;) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)data + off,
		                                      (utf8proc_ssize_t)(len - off), &cp);
		if (k <= 0) {
			*bad_at = off;
			return false;
		}
		off += (size_t)k;
	}
	return true;
}

/* ---- text: records (libcsv) ---- */

struct reader {
	struct sheet *s;
	size_t cap;
	struct sheet_row cur;
	size_t col;
	size_t line;     /* the line being fed to libcsv */
	size_t end_line; /* where the last complete record ended */
	bool oom;
};

/* Does a line end at byte i? At "\n", and at a "\r" not followed by "\n"
 * (old Mac line ends, which libcsv also takes as a record's end). */
static bool line_break(const char *s, size_t len, size_t i)
{
	return s[i] == '\n' || (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'));
}

static void on_field(void *field, size_t len, void *data)
{
	struct reader *rd = data;
	if (rd->oom)
		return;
	if (rd->col == 0) {
		/* A quoted field may have started lines earlier. */
		size_t nl = 0;
		for (size_t i = 0; i < len; i++)
			nl += line_break(field, len, i);
		rd->cur.line = rd->line - nl;
	}
	if (row_set(rd->s, &rd->cur, rd->col++, trimmed_copy(field, len), false, false) < 0)
		rd->oom = true;
}

static void on_record(int c, void *data)
{
	struct reader *rd = data;
	(void)c;
	if (rd->oom)
		return;
	if (push_row(rd->s, &rd->cur, &rd->cap) < 0)
		rd->oom = true;
	rd->col = 0;
	rd->end_line = rd->line;
}

/* Tab-separated when the first line holds a tab and no more commas than
 * tabs (Excel's "Unicode text" and "Text (tab delimited)"). */
static unsigned char delimiter(const char *data, size_t len)
{
	size_t tabs = 0, commas = 0;
	for (size_t i = 0; i < len && data[i] != '\n' && data[i] != '\r'; i++)
		tabs += data[i] == '\t', commas += data[i] == ',';
	return tabs > 0 && tabs >= commas ? '\t' : ',';
}

static int read_text(struct sheet *s, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\0')
			return fail(s,
			            "line %zu: the file holds a NUL byte; it is not a text file, "
			            "nor an .xlsx or .xls workbook",
			            line_of(data, i));
	struct csv_parser p;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		return -ENOMEM;
	unsigned char delim = delimiter(data, len);
	csv_set_delim(&p, delim);
	/* libcsv trims only spaces and tabs outside quotes; a tab that
	 * separates cells must not count as a blank. */
	if (delim == '\t')
		csv_set_space_func(&p, NULL);
	struct reader rd = {.s = s, .line = 1};
	int r = 0;
	for (size_t off = 0; off < len && !rd.oom;) {
		const char *nl = NULL;
		for (size_t i = off; i < len && !nl; i++)
			if (line_break(data, len, i))
				nl = data + i;
		size_t n = nl ? (size_t)(nl - (data + off)) + 1 : len - off;
		if (csv_parse(&p, data + off, n, on_field, on_record, &rd) != n) {
			if (csv_error(&p) == CSV_ENOMEM || csv_error(&p) == CSV_ETOOBIG) {
				rd.oom = true;
				break;
			}
			r = fail(s,
			         "line %zu: CSV syntax error: a quote inside an unquoted cell, or "
			         "text after a closing quote (a cell holding quotes must be "
			         "quoted as a whole, with each quote doubled)",
			         rd.line);
			goto out;
		}
		off += n;
		if (nl)
			rd.line++;
	}
	if (!rd.oom && csv_fini(&p, on_field, on_record, &rd) != 0)
		r = fail(s, "line %zu: a quoted cell is not closed before the end of the file",
		         rd.col ? rd.cur.line : rd.end_line + 1);
out:
	csv_free(&p);
	row_free(&rd.cur);
	return rd.oom ? -ENOMEM : r;
}

static int parse_text(struct sheet *s, const char *data, size_t len)
{
	char *conv = NULL;
	size_t clen = 0, bad = 0;
	int r;
	if (len >= 2 && (memcmp(data, "\xff\xfe", 2) == 0 || memcmp(data, "\xfe\xff", 2) == 0)) {
		bool le = data[0] == '\xff';
		s->format = le ? "text (UTF-16LE)" : "text (UTF-16BE)";
		r = to_utf8(le ? "UTF-16LE" : "UTF-16BE", data + 2, len - 2, &conv, &clen, &bad);
		if (r == -EILSEQ || r == -EINVAL)
			return fail(s, "the file starts as UTF-16 text but byte %zu is not UTF-16",
			            bad + 2);
	} else if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		s->format = "CSV (UTF-8)";
		if (!valid_utf8(data + 3, len - 3, &bad))
			return fail(s,
			            "line %zu: the file has a UTF-8 byte order mark but is not "
			            "valid UTF-8",
			            line_of(data + 3, bad));
		return read_text(s, data + 3, len - 3);
	} else if (valid_utf8(data, len, &bad)) {
		s->format = "CSV (UTF-8)";
		return read_text(s, data, len);
	} else {
		/* Excel and WPS on Chinese Windows save "CSV" in the ANSI code
		 * page, GBK, of which GB18030 is the superset. */
		s->format = "CSV (GB18030)";
		r = to_utf8("GB18030", data, len, &conv, &clen, &bad);
		if (r == -EILSEQ || r == -EINVAL)
			return fail(s,
			            "line %zu: the file is neither UTF-8 nor GB18030 (GBK) text; "
			            "save it as CSV, \"CSV UTF-8\", \"Unicode text\" or a workbook",
			            line_of(data, bad));
	}
	if (r < 0)
		return r;
	r = read_text(s, conv, clen);
	free(conv);
	return r;
}

/* ---- xlsx (libzip + expat) ---- */

#define XLSX_MAX_PART (256u << 20) /* an unpacked part larger is refused */
/* What a workbook may unpack to, all parts together: 40 times the file
 * (an office's sheet unpacks to 5 to 20 times), at least 32 MiB, at most
 * XLSX_MAX_PART. A zip bomb of 387 KB unpacked to 265 MB of empty shared
 * strings and held 2.6 GB of the gateway (found by an attack test). */
#define XLSX_UNPACK_RATIO 40
#define XLSX_UNPACK_MIN   (32u << 20)
/* Shared strings are kept one allocation each: at most this many, and
 * this much memory for them (an office's list of 100,000 elders has a few
 * hundred thousand). */
#define XLSX_MAX_STRINGS 1000000
#define XLSX_STRINGS_MEM (96u << 20)
/* Cells right of this column are ignored: an office's list has a few dozen
 * columns, and a cell at XFD1048576 must not cost 16384 empty cells a row. */
#define SHEET_MAX_COLS 256

/* Reads one part of the package, taking its size from *budget (bytes the
 * workbook may still unpack to). Returns 0, -ENOENT, -EFBIG or -ENOMEM. */
static int zip_part(zip_t *z, const char *name, size_t *budget, char **out, size_t *len)
{
	zip_stat_t st;
	if (zip_stat(z, name, ZIP_FL_NOCASE, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
		return -ENOENT;
	if (st.size > XLSX_MAX_PART || st.size > *budget)
		return -EFBIG;
	*budget -= (size_t)st.size;
	zip_file_t *f = zip_fopen(z, name, ZIP_FL_NOCASE);
	if (!f)
		return -ENOENT;
	char *buf = malloc(st.size + 1);
	zip_int64_t n = buf ? zip_fread(f, buf, st.size) : -1;
	zip_fclose(f);
	if (!buf)
		return -ENOMEM;
	if (n < 0 || (zip_uint64_t)n != st.size) {
		free(buf);
		return -EIO;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* An element's local name, without a namespace prefix. */
static const char *local(const char *name)
{
	const char *c = strrchr(name, ':');
	return c ? c + 1 : name;
}

static const char *attr(const char **atts, const char *name)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (strcmp(local(atts[i]), name) == 0)
			return atts[i + 1];
	return NULL;
}

struct text_buf {
	char *s;
	size_t n, cap;
	bool oom;
};

static void text_add(struct text_buf *t, const char *s, int len)
{
	if (t->oom || len <= 0)
		return;
	if (t->n + (size_t)len + 1 > t->cap) {
		size_t cap = (t->n + (size_t)len + 1) * 2;
		char *ns = realloc(t->s, cap);
		if (!ns) {
			t->oom = true;
			return;
		}
		t->s = ns, t->cap = cap;
	}
	memcpy(t->s + t->n, s, (size_t)len);
	t->n += (size_t)len;
	t->s[t->n] = '\0';
}

/* Parses xml with expat. Returns 0, or -EINVAL (not well-formed). */
static int xml_parse(const char *xml, size_t len, void *ud, XML_StartElementHandler start,
                     XML_EndElementHandler end, XML_CharacterDataHandler text)
{
	XML_Parser p = XML_ParserCreate("UTF-8");
	if (!p)
		return -ENOMEM;
	XML_SetUserData(p, ud);
	XML_SetElementHandler(p, start, end);
	XML_SetCharacterDataHandler(p, text);
	int ok = XML_Parse(p, xml, (int)len, 1) == XML_STATUS_OK;
	XML_ParserFree(p);
	return ok ? 0 : -EINVAL;
}

/* workbook.xml: the first sheet's relationship id; its rels: the target. */
struct wb_ctx {
	char *rid;
	char *target;
	const char *want;
	bool oom;
};

static void wb_start(void *ud, const char *name, const char **atts)
{
	struct wb_ctx *w = ud;
	if (!w->rid && strcmp(local(name), "sheet") == 0) {
		const char *id = attr(atts, "id");
		if (id && !(w->rid = strdup(id)))
			w->oom = true;
	}
	if (w->want && !w->target && strcmp(local(name), "Relationship") == 0) {
		const char *id = attr(atts, "Id"), *t = attr(atts, "Target");
		if (id && t && strcmp(id, w->want) == 0 && !(w->target = strdup(t)))
			w->oom = true;
	}
}

static void no_end(void *ud, const char *name)
{
	(void)ud, (void)name;
}

static void no_text(void *ud, const char *s, int len)
{
	(void)ud, (void)s, (void)len;
}

/* The path in the package of the workbook's first sheet (malloc'd). */
static int first_sheet(zip_t *z, size_t *budget, char **path)
{
	char *xml;
	size_t len;
	struct wb_ctx w = {0};
	int r = zip_part(z, "xl/workbook.xml", budget, &xml, &len);
	if (r < 0)
		return r;
	r = xml_parse(xml, len, &w, wb_start, no_end, no_text);
	free(xml);
	if (r == 0 && w.rid) {
		w.want = w.rid;
		if ((r = zip_part(z, "xl/_rels/workbook.xml.rels", budget, &xml, &len)) == 0) {
			r = xml_parse(xml, len, &w, wb_start, no_end, no_text);
			free(xml);
		}
	}
	if (r == 0 && w.oom)
		r = -ENOMEM;
	if (r == 0 && w.target) {
		/* Targets are relative to xl/, or absolute from the root. */
		const char *t = w.target;
		if (t[0] == '/')
			r = (*path = strdup(t + 1)) ? 0 : -ENOMEM;
		else
			r = asprintf(path, "xl/%s", t) < 0 ? -ENOMEM : 0;
	} else if (r == 0 || r == -ENOENT) {
		r = (*path = strdup("xl/worksheets/sheet1.xml")) ? 0 : -ENOMEM;
	}
	free(w.rid);
	free(w.target);
	return r;
}

/* sharedStrings.xml: <si> items, each the text of its <t> elements outside
 * phonetic runs (<rPh>). */
struct sst_ctx {
	char **items;
	size_t n, cap;
	size_t mem; /* what the strings hold, about (XLSX_STRINGS_MEM) */
	struct text_buf cur;
	bool in_t, in_rph, oom, too_many;
};

static void sst_start(void *ud, const char *name, const char **atts)
{
	struct sst_ctx *x = ud;
	(void)atts;
	const char *l = local(name);
	if (strcmp(l, "si") == 0)
		x->cur.n = 0;
	else if (strcmp(l, "rPh") == 0)
		x->in_rph = true;
	else if (strcmp(l, "t") == 0)
		x->in_t = true;
}

static void sst_end(void *ud, const char *name)
{
	struct sst_ctx *x = ud;
	const char *l = local(name);
	if (strcmp(l, "rPh") == 0)
		x->in_rph = false;
	else if (strcmp(l, "t") == 0)
		x->in_t = false;
	else if (strcmp(l, "si") == 0 && !x->oom && !x->too_many) {
		/* Each string: its bytes, its pointer, the allocator's header. */
		x->mem += x->cur.n + 1 + sizeof(char *) + 16;
		if (x->n >= XLSX_MAX_STRINGS || x->mem > XLSX_STRINGS_MEM) {
			x->too_many = true;
			return;
		}
		if (x->n == x->cap) {
			size_t cap = x->cap ? 2 * x->cap : 256;
			char **ni = realloc(x->items, cap * sizeof *ni);
			if (!ni) {
				x->oom = true;
				return;
			}
			x->items = ni, x->cap = cap;
		}
		if (!(x->items[x->n] = strndup(x->cur.s ? x->cur.s : "", x->cur.n)))
			x->oom = true;
		else
			x->n++;
	}
}

static void sst_text(void *ud, const char *s, int len)
{
	struct sst_ctx *x = ud;
	if (x->in_t && !x->in_rph)
		text_add(&x->cur, s, len);
}

/* A worksheet: <row r><c r t s><v/><is><t/></is></c></row>. */
struct ws_ctx {
	struct sheet *s;
	size_t cap;
	char *const *sst;
	size_t n_sst;
	const bool *date_style; /* per style index: a date format */
	size_t n_styles;
	struct sheet_row row;
	size_t col, next_col;
	char type[16];
	long style;
	struct text_buf v;
	bool in_v, in_t, in_rph, in_c, oom, bad;
};

/* "BC12" -> column 54 (0-based). */
static long col_of(const char *ref)
{
	long c = 0;
	for (; *ref >= 'A' && *ref <= 'Z'; ref++)
		c = c * 26 + (*ref - 'A' + 1);
	return c - 1;
}

static void ws_start(void *ud, const char *name, const char **atts)
{
	struct ws_ctx *x = ud;
	const char *l = local(name);
	if (strcmp(l, "row") == 0) {
		const char *r = attr(atts, "r");
		x->row.line = r ? strtoul(r, NULL, 10) : x->s->n + 1;
		x->next_col = 0;
	} else if (strcmp(l, "c") == 0) {
		const char *r = attr(atts, "r"), *t = attr(atts, "t"), *st = attr(atts, "s");
		long c = r ? col_of(r) : (long)x->next_col;
		x->col = c >= 0 && c < SHEET_MAX_COLS ? (size_t)c : SHEET_MAX_COLS;
		x->next_col = x->col + 1;
		snprintf(x->type, sizeof x->type, "%s", t ? t : "n");
		x->style = st ? strtol(st, NULL, 10) : -1;
		x->v.n = 0;
		if (x->v.s)
			x->v.s[0] = '\0';
		x->in_c = true;
	} else if (strcmp(l, "v") == 0) {
		x->in_v = true;
	} else if (strcmp(l, "rPh") == 0) {
		x->in_rph = true;
	} else if (strcmp(l, "t") == 0) {
		x->in_t = true;
	}
}

int sheet_serial_date(double v, char *out, size_t size)
{
	if (!(v >= 1 && v < 2958466))
		return -EINVAL;
	long days = (long)v;
	if (days >= 60)
		days -= 1;                         /* 1900-02-29 does not exist */
	time_t t = (time_t)(days - 25568) * 86400; /* 1900-01-01 is day 1 */
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	snprintf(out, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return 0;
}

static void ws_end(void *ud, const char *name)
{
	struct ws_ctx *x = ud;
	const char *l = local(name);
	if (strcmp(l, "v") == 0) {
		x->in_v = false;
	} else if (strcmp(l, "t") == 0) {
		x->in_t = false;
	} else if (strcmp(l, "rPh") == 0) {
		x->in_rph = false;
	} else if (strcmp(l, "c") == 0 && x->in_c && !x->oom) {
		x->in_c = false;
		if (x->col >= SHEET_MAX_COLS)
			return;
		const char *v = x->v.s ? x->v.s : "";
		char *text = NULL;
		bool numeric = false, date = false;
		if (strcmp(x->type, "s") == 0) {
			char *end;
			unsigned long i = strtoul(v, &end, 10);
			if (end == v || *end || i >= x->n_sst) {
				x->bad = true;
				return;
			}
			text = trimmed_copy(x->sst[i], strlen(x->sst[i]));
		} else if (strcmp(x->type, "n") == 0 && *v) {
			char buf[32];
			double d = strtod(v, NULL);
			if (x->style >= 0 && (size_t)x->style < x->n_styles &&
			    x->date_style[x->style] && sheet_serial_date(d, buf, sizeof buf) == 0) {
				text = strdup(buf);
				date = true;
			} else {
				text = strdup(v);
				numeric = true;
			}
		} else {
			text = trimmed_copy(v, strlen(v)); /* str, inlineStr, b, e */
		}
		if (row_set(x->s, &x->row, x->col, text, numeric, date) < 0)
			x->oom = true;
	} else if (strcmp(l, "row") == 0 && !x->oom) {
		if (push_row(x->s, &x->row, &x->cap) < 0)
			x->oom = true;
	}
}

static void ws_text(void *ud, const char *s, int len)
{
	struct ws_ctx *x = ud;
	if (x->in_c && !x->in_rph && (x->in_v || x->in_t))
		text_add(&x->v, s, len);
}

/* styles.xml: which cell formats (cellXfs, by index) show dates: the
 * built-in date formats 14-22, 27-36, 45-47, 50-58 and custom formats whose
 * code has y, m or d outside quotes and brackets (and is not only h:mm). */
struct style_ctx {
	int custom_date[512]; /* numFmtId -> 1 if a date format (ids < 512) */
	bool *xf_date;
	size_t n, cap;
	bool in_xfs, oom;
};

static bool builtin_date(long id)
{
	return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
	       (id >= 50 && id <= 58);
}

static bool code_is_date(const char *code)
{
	bool quoted = false, bracket = false;
	for (const char *p = code; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '[')
			bracket = true;
		else if (!quoted && *p == ']')
			bracket = false;
		else if (!quoted && !bracket && *p == '\\' && p[1])
			p++;
		else if (!quoted && !bracket && strchr("yYdD", *p))
			return true;
		else if (!quoted && !bracket &&
		         (strncmp(p, "年", 3) == 0 || strncmp(p, "日", 3) == 0))
			return true;
	}
	return false;
}

static void style_start(void *ud, const char *name, const char **atts)
{
	struct style_ctx *x = ud;
	const char *l = local(name);
	if (strcmp(l, "numFmt") == 0) {
		const char *id = attr(atts, "numFmtId"), *code = attr(atts, "formatCode");
		long i = id ? strtol(id, NULL, 10) : -1;
		if (i >= 0 && i < 512 && code)
			x->custom_date[i] = code_is_date(code) ? 1 : -1;
	} else if (strcmp(l, "cellXfs") == 0) {
		x->in_xfs = true;
	} else if (x->in_xfs && strcmp(l, "xf") == 0 && !x->oom) {
		const char *id = attr(atts, "numFmtId");
		long i = id ? strtol(id, NULL, 10) : 0;
		bool d = (i >= 0 && i < 512 && x->custom_date[i]) ? x->custom_date[i] > 0
		                                                  : builtin_date(i);
		if (x->n == x->cap) {
			size_t cap = x->cap ? 2 * x->cap : 64;
			bool *nb = realloc(x->xf_date, cap * sizeof *nb);
			if (!nb) {
				x->oom = true;
				return;
			}
			x->xf_date = nb, x->cap = cap;
		}
		x->xf_date[x->n++] = d;
	}
}

static void style_end(void *ud, const char *name)
{
	struct style_ctx *x = ud;
	if (strcmp(local(name), "cellXfs") == 0)
		x->in_xfs = false;
}

static int parse_xlsx(struct sheet *s, const char *data, size_t len)
{
	s->format = "xlsx";
	s->workbook = true;
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
	zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	zip_error_fini(&ze);
	if (!z) {
		zip_source_free(src);
		return fail(s, "the file is a ZIP archive but cannot be opened as an .xlsx "
		               "workbook");
	}
	char *path = NULL, *xml = NULL;
	size_t xlen;
	struct sst_ctx sst = {0};
	struct style_ctx *st = calloc(1, sizeof *st);
	size_t allowed =
	    len > XLSX_UNPACK_MIN / XLSX_UNPACK_RATIO ? len * XLSX_UNPACK_RATIO : XLSX_UNPACK_MIN;
	if (allowed > XLSX_MAX_PART)
		allowed = XLSX_MAX_PART;
	size_t budget = allowed;
	int r = st ? first_sheet(z, &budget, &path) : -ENOMEM;
	if (r == -ENOENT) {
		r = fail(s, "the ZIP archive is not an .xlsx workbook (no xl/workbook.xml)");
		goto out;
	}
	if (r == 0 && (r = zip_part(z, "xl/sharedStrings.xml", &budget, &xml, &xlen)) == 0) {
		r = xml_parse(xml, xlen, &sst, sst_start, sst_end, sst_text);
		free(xml), xml = NULL;
		if (r == 0 && sst.too_many)
			r = -EFBIG;
	}
	if (r == -ENOENT)
		r = 0; /* a workbook with no text has no shared strings */
	if (r == 0 && (r = zip_part(z, "xl/styles.xml", &budget, &xml, &xlen)) == 0) {
		r = xml_parse(xml, xlen, st, style_start, style_end, no_text);
		free(xml), xml = NULL;
	}
	if (r == -ENOENT)
		r = 0;
	if (r == 0 && (sst.oom || sst.cur.oom || st->oom))
		r = -ENOMEM;
	if (r == 0 && (r = zip_part(z, path, &budget, &xml, &xlen)) == 0) {
		struct ws_ctx w = {.s = s,
		                   .sst = sst.items,
		                   .n_sst = sst.n,
		                   .date_style = st->xf_date,
		                   .n_styles = st->n};
		r = xml_parse(xml, xlen, &w, ws_start, ws_end, ws_text);
		row_free(&w.row);
		free(w.v.s);
		if (r == 0 && (w.oom || w.v.oom))
			r = -ENOMEM;
		if (r == 0 && w.bad)
			r = -EINVAL;
	}
	if (r == -EINVAL || r == -EIO || r == -ENOENT)
		r = fail(s, "the .xlsx workbook is damaged (its first sheet cannot be read)");
	else if (r == -EFBIG)
		r = fail(s,
		         "the .xlsx workbook unpacks to more than an office's list can (over "
		         "%zu MB, or over %u texts): split it, or save it again from Excel",
		         allowed >> 20, XLSX_MAX_STRINGS);
out:
	free(xml);
	free(path);
	for (size_t i = 0; i < sst.n; i++)
		free(sst.items[i]);
	free(sst.items);
	free(sst.cur.s);
	if (st)
		free(st->xf_date);
	free(st);
	zip_close(z);
	return r;
}

/* ---- xls (FreeXL) ---- */

static int parse_xls(struct sheet *s, const char *data, size_t len)
{
	s->format = "xls";
	s->workbook = true;
	/* FreeXL reads from a path: a private temporary copy. */
	const char *dir = getenv("TMPDIR");
	char *tmp;
	if (asprintf(&tmp, "%s/tanfang-xls-XXXXXX", dir && *dir ? dir : "/tmp") < 0)
		return -ENOMEM;
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return fail(s, "cannot make a temporary file to read the .xls workbook: %s",
		            strerror(e));
	}
	bool ok = true;
	for (size_t off = 0; ok && off < len;) {
		ssize_t k = write(fd, data + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		ok = k > 0;
		off += ok ? (size_t)k : 0;
	}
	close(fd);
	const void *h = NULL;
	int r = 0;
	if (!ok)
		r = fail(s, "cannot write a temporary copy of the .xls workbook");
	else if (freexl_open(tmp, &h) != FREEXL_OK ||
	         freexl_select_active_worksheet(h, 0) != FREEXL_OK)
		r = fail(s, "the file is an OLE document but not an .xls workbook FreeXL can read "
		            "(save it as .xlsx)");
	unlink(tmp);
	free(tmp);
	if (r < 0 || s->error) {
		if (h)
			freexl_close(h);
		return r;
	}
	unsigned int rows = 0;
	unsigned short cols = 0;
	size_t cap = 0;
	if (freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK)
		rows = 0;
	if (cols > SHEET_MAX_COLS)
		cols = SHEET_MAX_COLS;
	for (unsigned int i = 0; r == 0 && i < rows; i++) {
		struct sheet_row row = {.line = i + 1};
		for (unsigned short c = 0; r == 0 && c < cols; c++) {
			FreeXL_CellValue v;
			if (freexl_get_cell_value(h, i, c, &v) != FREEXL_OK)
				continue;
			char buf[64], *text = NULL;
			bool numeric = false, date = false;
			switch (v.type) {
			case FREEXL_CELL_INT:
				snprintf(buf, sizeof buf, "%d", v.value.int_value);
				text = strdup(buf), numeric = true;
				break;
			case FREEXL_CELL_DOUBLE:
				snprintf(buf, sizeof buf, "%.15g", v.value.double_value);
				text = strdup(buf), numeric = true;
				break;
			case FREEXL_CELL_TEXT:
			case FREEXL_CELL_SST_TEXT:
				text = trimmed_copy(v.value.text_value, strlen(v.value.text_value));
				break;
			case FREEXL_CELL_DATE:
			case FREEXL_CELL_DATETIME:
				text = strdup(v.value.text_value), date = true;
				break;
			default: continue;
			}
			r = row_set(s, &row, c, text, numeric, date);
		}
		if (r == 0)
			r = push_row(s, &row, &cap);
		row_free(&row);
	}
	freexl_close(h);
	return r;
}

int sheet_parse(const char *data, size_t len, struct sheet **out)
{
	struct sheet *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->held_max =
	    len > SHEET_HELD_MIN / SHEET_HELD_RATIO ? len * SHEET_HELD_RATIO : SHEET_HELD_MIN;
	if (s->held_max > SHEET_HELD_MAX)
		s->held_max = SHEET_HELD_MAX;
	int r;
	if (len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0)
		r = parse_xlsx(s, data, len);
	else if (len >= 8 && memcmp(data, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0)
		r = parse_xls(s, data, len);
	else
		r = parse_text(s, data, len);
	if (s->too_big) {
		/* Nothing of it is worth checking: the rows go, the reason stays. */
		for (size_t i = 0; i < s->n; i++)
			row_free(&s->rows[i]);
		s->n = 0;
		free(s->error);
		s->error = NULL;
		r = fail(s,
		         "the file would take more than %zu MB once read, more than an office's "
		         "list can: split it, or save it again from Excel",
		         s->held_max >> 20);
	}
	if (r < 0) {
		sheet_free(s);
		return r;
	}
	*out = s;
	return 0;
}
