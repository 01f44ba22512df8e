#include "table.h"

#include <errno.h>
#include <string.h>
#include <utf8proc.h>

/* Walks s one displayed unit at a time: a valid code point, or one invalid
 * byte (cp = -1). Returns the number of bytes the unit takes. */
static size_t next_unit(const char *s, utf8proc_int32_t *cp)
{
	utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, cp);
	if (n <= 0) {
		*cp = -1;
		return 1;
	}
	return (size_t)n;
}

static int is_control(utf8proc_int32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

static size_t unit_width(utf8proc_int32_t cp)
{
	if (cp < 0 || is_control(cp))
		return 1;
	int w = utf8proc_charwidth(cp);
	return w > 0 ? (size_t)w : 0;
}

size_t table_width(const char *s)
{
	size_t w = 0;
	if (!s)
		return 0;
	while (*s) {
		utf8proc_int32_t cp;
		s += next_unit(s, &cp);
		w += unit_width(cp);
	}
	return w;
}

int table_put(FILE *f, const char *s)
{
	if (!s)
		return 0;
	while (*s) {
		utf8proc_int32_t cp;
		size_t n = next_unit(s, &cp);
		int r;
		if (cp < 0)
			r = fputs("\xef\xbf\xbd", f);
		else if (is_control(cp))
			r = fputc(' ', f);
		else
			r = fwrite(s, 1, n, f) == n ? 0 : EOF;
		if (r == EOF)
			return -EIO;
		s += n;
	}
	return 0;
}

int table_put_repeat(FILE *f, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fputc(c, f) == EOF)
			return -EIO;
	return 0;
}

int table_put_padded(FILE *f, const char *s, size_t width, enum table_align align)
{
	size_t w = table_width(s);
	size_t pad = w < width ? width - w : 0;
	int r = 0;
	if (align == TABLE_RIGHT)
		r = table_put_repeat(f, ' ', pad);
	if (r == 0)
		r = table_put(f, s);
	if (r == 0 && align == TABLE_LEFT)
		r = table_put_repeat(f, ' ', pad);
	return r;
}
