/* The tabular output model: exact table lines with Chinese names, CSV for
 * Excel (BOM, quoting, CRLF), JSON that parses back. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "tf_test.h"

static char *render(const struct output *o, enum output_format fmt, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	CHECK(f != NULL);
	CHECK_OK(output_write(o, fmt, f));
	CHECK(fclose(f) == 0);
	if (len)
		*len = n;
	return buf;
}

static struct output *sample(void)
{
	static const char *const hdr[] = {"id", "name", "age", "area"};
	struct output *o;
	CHECK_OK(output_new(4, hdr, &o));
	output_set_numeric(o, 2, true);
	CHECK_OK(output_add_row(o, (const char *const[]){"e1", "张三", "81", "152223"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"e2", "Li Si", "100", "巴彦乌兰嘎查"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"e10", "欧阳秀兰", "", NULL}));
	CHECK_EQ_INT(output_rows(o), 3);
	return o;
}

static void test_parse_format(void)
{
	enum output_format f;
	CHECK_OK(output_format_parse("table", &f));
	CHECK_EQ_INT(f, OUTPUT_TABLE);
	CHECK_OK(output_format_parse("CSV", &f));
	CHECK_EQ_INT(f, OUTPUT_CSV);
	CHECK_OK(output_format_parse("json", &f));
	CHECK_EQ_INT(f, OUTPUT_JSON);
	CHECK_EQ_INT(output_format_parse("xml", &f), -EINVAL);
	CHECK_EQ_INT(output_format_parse("", &f), -EINVAL);
	CHECK_EQ_INT(output_format_parse(NULL, &f), -EINVAL);
}

static void test_new_refuses(void)
{
	struct output *o = NULL;
	CHECK_EQ_INT(output_new(0, NULL, &o), -EINVAL);
	CHECK_EQ_INT(output_new(2, (const char *const[]){"id", "id"}, &o), -EINVAL);
	CHECK_EQ_INT(output_new(2, (const char *const[]){"id", ""}, &o), -EINVAL);
	CHECK_EQ_INT(output_new(2, (const char *const[]){"id", NULL}, &o), -EINVAL);
	CHECK(o == NULL);
}

static void test_table(void)
{
	struct output *o = sample();
	char *s = render(o, OUTPUT_TABLE, NULL);
	/* name is 8 cells wide (欧阳秀兰), age right-aligned to 3, the last
	 * column not padded. */
	CHECK_STREQ(s, "id   name      age  area\n"
	               "---  --------  ---  ------------\n"
	               "e1   张三       81  152223\n"
	               "e2   Li Si     100  巴彦乌兰嘎查\n"
	               "e10  欧阳秀兰       \n");
	free(s);
	output_free(o);

	/* No rows: the header and its rule only. */
	CHECK_OK(output_new(2, (const char *const[]){"编号", "name"}, &o));
	s = render(o, OUTPUT_TABLE, NULL);
	CHECK_STREQ(s, "编号  name\n----  ----\n");
	free(s);
	output_free(o);

	/* A line break inside a cell must not break the row. */
	CHECK_OK(output_new(2, (const char *const[]){"a", "b"}, &o));
	CHECK_OK(output_add_row(o, (const char *const[]){"x\ny", "z"}));
	s = render(o, OUTPUT_TABLE, NULL);
	CHECK_STREQ(s, "a    b\n---  -\nx y  z\n");
	free(s);
	output_free(o);
}

static void test_csv(void)
{
	struct output *o;
	CHECK_OK(output_new(3, (const char *const[]){"id", "name", "note"}, &o));
	CHECK_OK(output_add_row(o, (const char *const[]){"e1", "张三", "plain"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"e2", "李,四", "said \"hi\""}));
	CHECK_OK(output_add_row(o, (const char *const[]){"e3", "王五", "line1\nline2"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"e4", " 赵六", ""}));
	size_t len;
	char *s = render(o, OUTPUT_CSV, &len);
	CHECK(len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0);
	CHECK_STREQ(s + 3, "id,name,note\r\n"
	                   "e1,张三,plain\r\n"
	                   "e2,\"李,四\",\"said \"\"hi\"\"\"\r\n"
	                   "e3,王五,\"line1\nline2\"\r\n"
	                   "e4,\" 赵六\",\r\n");
	free(s);
	output_free(o);
}

/* Issue 11, item 5: cells Excel would turn into numbers go after a tab,
 * cells it would take as formulas after an apostrophe (and are quoted when
 * they hold a quote); the numbers of a numeric column, negative ones
 * included, stay numbers. */
static void test_csv_excel(void)
{
	struct output *o;
	CHECK_OK(output_new(3, (const char *const[]){"id", "note", "days"}, &o));
	output_set_numeric(o, 2, true);
	CHECK_OK(output_add_row(o, (const char *const[]){"152223194503070017", "=1+2", "-3"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"152223100201", "+86 139", "12"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"0482", "@SUM(A1)", "-"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"1e5", "=HYPERLINK(\"x\")", ""}));
	CHECK_OK(output_add_row(o, (const char *const[]){"E000019", "-", "=1"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"7", "\tx", "\rx"}));
	size_t len;
	char *s = render(o, OUTPUT_CSV, &len);
	CHECK_STREQ(s + 3, "id,note,days\r\n"
	                   "\"\t152223194503070017\",'=1+2,-3\r\n"
	                   "\"\t152223100201\",'+86 139,12\r\n"
	                   "\"\t0482\",'@SUM(A1),-\r\n"
	                   "\"\t1e5\",\"'=HYPERLINK(\"\"x\"\")\",\r\n"
	                   "E000019,-,'=1\r\n"
	                   "7,'\tx,\"'\rx\"\r\n");
	free(s);
	char *t = output_csv_text("=cmd|' /C calc'!A0");
	CHECK(t != NULL);
	CHECK_STREQ(t, "'=cmd|' /C calc'!A0");
	free(t);
	/* Tables and JSON carry the values as they are. */
	s = render(o, OUTPUT_JSON, NULL);
	CHECK(strstr(s, "\"id\": \"152223194503070017\"") != NULL);
	CHECK(strstr(s, "\"note\": \"=1+2\"") != NULL);
	free(s);
	output_free(o);
}

/* xlsx: a zip (PK) holding a worksheet; the cells are checked by unzipping
 * in tests/e2e-export.sh. */
static void test_xlsx(void)
{
	struct output *o;
	CHECK_OK(output_new(2, (const char *const[]){"id", "n"}, &o));
	output_set_numeric(o, 1, true);
	CHECK_OK(output_add_row(o, (const char *const[]){"152223194503070017", "5"}));
	size_t len;
	char *s = render(o, OUTPUT_XLSX, &len);
	CHECK(len > 100 && memcmp(s, "PK\x03\x04", 4) == 0);
	free(s);
	enum output_format f;
	CHECK_OK(output_format_parse("XLSX", &f));
	CHECK_EQ_INT(f, OUTPUT_XLSX);
	output_free(o);
}

static void test_json(void)
{
	struct output *o = sample();
	CHECK_OK(output_add_row(o, (const char *const[]){"e11", "bad\xff", "12.5", "x"}));
	CHECK_OK(output_add_row(o, (const char *const[]){"e12", "n", "unknown", "x"}));
	char *s = render(o, OUTPUT_JSON, NULL);
	json_error_t err;
	json_t *doc = json_loads(s, 0, &err);
	CHECK(doc != NULL);
	CHECK(json_is_array(doc));
	CHECK_EQ_INT(json_array_size(doc), 5);
	json_t *row = json_array_get(doc, 0);
	CHECK_STREQ(json_string_value(json_object_get(row, "id")), "e1");
	CHECK_STREQ(json_string_value(json_object_get(row, "name")), "张三");
	CHECK(json_is_integer(json_object_get(row, "age")));
	CHECK_EQ_INT(json_integer_value(json_object_get(row, "age")), 81);
	/* area is not numeric: a code keeps its digits as text. */
	CHECK_STREQ(json_string_value(json_object_get(row, "area")), "152223");
	CHECK(json_is_null(json_object_get(json_array_get(doc, 2), "age")));
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(doc, 2), "area")), "");
	row = json_array_get(doc, 3);
	CHECK(json_is_real(json_object_get(row, "age")));
	CHECK(json_real_value(json_object_get(row, "age")) == 12.5);
	CHECK_STREQ(json_string_value(json_object_get(row, "name")), "bad\xef\xbf\xbd");
	/* Not a number in a numeric column: kept, as a string. */
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(doc, 4), "age")), "unknown");
	/* Keys in column order. */
	CHECK(strstr(s, "\"id\"") < strstr(s, "\"name\""));
	CHECK(strstr(s, "\"name\"") < strstr(s, "\"age\""));
	json_decref(doc);
	free(s);
	output_free(o);

	/* No rows: an empty array, still valid JSON. */
	CHECK_OK(output_new(1, (const char *const[]){"x"}, &o));
	s = render(o, OUTPUT_JSON, NULL);
	doc = json_loads(s, 0, &err);
	CHECK(doc != NULL && json_is_array(doc) && json_array_size(doc) == 0);
	json_decref(doc);
	free(s);
	output_free(o);
}

static void test_write_error(void)
{
	/* A stream that fails must give -EIO, not a silent success. */
	struct output *o = sample();
	FILE *f = fopen("/dev/full", "w");
	if (f) {
		setvbuf(f, NULL, _IONBF, 0);
		CHECK_EQ_INT(output_write(o, OUTPUT_TABLE, f), -EIO);
		CHECK_EQ_INT(output_write(o, OUTPUT_CSV, f), -EIO);
		CHECK_EQ_INT(output_write(o, OUTPUT_JSON, f), -EIO);
		fclose(f);
	}
	output_free(o);
}

int main(void)
{
	test_parse_format();
	test_new_refuses();
	test_table();
	test_csv();
	test_csv_excel();
	test_xlsx();
	test_json();
	test_write_error();
	return 0;
}
