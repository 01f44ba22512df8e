/* Display widths of the Chinese, mixed and broken text that goes into
 * tables, and the padding built on them. */
#include <stdio.h>
#include <stdlib.h>

#include "table.h"
#include "tf_test.h"

/* Runs one padding call into a memory stream and returns what it wrote. */
static char *padded(const char *s, size_t width, enum table_align align)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	CHECK_OK(table_put_padded(f, s, width, align));
	CHECK(fclose(f) == 0);
	return buf;
}

static void test_widths(void)
{
	CHECK_EQ_INT(table_width("张三"), 4);
	CHECK_EQ_INT(table_width("abc"), 3);
	CHECK_EQ_INT(table_width(""), 0);
	CHECK_EQ_INT(table_width(NULL), 0);
	/* Mixed: 2 ASCII + 3 CJK. */
	CHECK_EQ_INT(table_width("Li李秀英"), 8);
	/* Mongolian-area place names mix CJK and digits. */
	CHECK_EQ_INT(table_width("巴彦乌兰嘎查2组"), 15);
	/* Fullwidth Latin letters and CJK punctuation are double width. */
	CHECK_EQ_INT(table_width("ＡＢ"), 4);
	CHECK_EQ_INT(table_width("、"), 2);
	/* A combining acute accent adds nothing: "é" written e + U+0301. */
	CHECK_EQ_INT(table_width("e\xcc\x81"), 1);
	/* Control characters show as one space each, invalid bytes as U+FFFD. */
	CHECK_EQ_INT(table_width("a\nb\tc"), 5);
	CHECK_EQ_INT(table_width("a\xff"), 2);
	CHECK_EQ_INT(table_width("\xe5\xbc"), 2); /* a cut 3-byte sequence */
}

static void test_padding(void)
{
	char *s = padded("张三", 6, TABLE_LEFT);
	CHECK_STREQ(s, "张三  ");
	free(s);
	s = padded("张三", 6, TABLE_RIGHT);
	CHECK_STREQ(s, "  张三");
	free(s);
	s = padded("42", 5, TABLE_RIGHT);
	CHECK_STREQ(s, "   42");
	free(s);
	/* Too wide: written whole, never cut. */
	s = padded("王淑珍", 4, TABLE_LEFT);
	CHECK_STREQ(s, "王淑珍");
	free(s);
	/* What is written matches what was measured. */
	s = padded("a\nb\xff", 6, TABLE_LEFT);
	CHECK_STREQ(s, "a b\xef\xbf\xbd  ");
	free(s);
	s = padded(NULL, 2, TABLE_LEFT);
	CHECK_STREQ(s, "  ");
	free(s);
}

int main(void)
{
	test_widths();
	test_padding();
	return 0;
}
