/* CSV import of elders: the files offices keep (BOM or not, Chinese or
 * English headers) and every kind of mistake in them, each reported with
 * its row and line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "csvimport.h"
#include "idcard.h"
#include "tf_test.h"

#define BOM "\xef\xbb\xbf"

/* Writes text to a new file in the test's folder and imports it. */
static struct csvimport *import_text(const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", tft_tmpdir(), name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(text, 1, strlen(text), f) == strlen(text));
	CHECK(fclose(f) == 0);
	struct csvimport *ci = NULL;
	CHECK_OK(csvimport_read(path, &ci));
	CHECK(ci != NULL);
	return ci;
}

/* Is msg among the import's errors (exact match)? */
static int has_error(const struct csvimport *ci, const char *msg)
{
	for (size_t i = 0; i < ci->n_errors; i++)
		if (strcmp(ci->errors[i], msg) == 0)
			return 1;
	fprintf(stderr, "expected error: %s\ngot %zu:\n", msg, ci->n_errors);
	for (size_t i = 0; i < ci->n_errors; i++)
		fprintf(stderr, "  %s\n", ci->errors[i]);
	return 0;
}

/* Does some error start with prefix? */
static int error_starts(const struct csvimport *ci, const char *prefix)
{
	for (size_t i = 0; i < ci->n_errors; i++)
		if (strncmp(ci->errors[i], prefix, strlen(prefix)) == 0)
			return 1;
	fprintf(stderr, "expected an error starting: %s\n", prefix);
	for (size_t i = 0; i < ci->n_errors; i++)
		fprintf(stderr, "  %s\n", ci->errors[i]);
	return 0;
}

static void test_english_with_bom(void)
{
	struct csvimport *ci = import_text(
	    "en.csv",
	    BOM "id,name,area,address,birth_date,categories,risk_tier,lat,lon,phone,neighbours,"
	        "visitors\r\n"
	        "zlt-0001,张桂兰,152223100201,巴彦乌兰嘎查3组,1942/3/5,living_alone;incapacitated,"
	        "high,46.7231,122.9012,13904821234,nb1;nb2,gw1\r\n"
	        "zlt-0002,王福,152223100201,\"巴彦乌兰嘎查, 5组\",1950-12-31,,,,,,,\r\n");
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_warnings, 0);
	CHECK_EQ_INT(ci->n_elders, 2);
	CHECK_EQ_INT(ci->n_rows, 2);
	tf_elder *e = ci->elders[0];
	CHECK_STREQ(e->id, "zlt-0001");
	CHECK_STREQ(e->name, "张桂兰");
	CHECK_STREQ(e->area, "152223100201");
	CHECK_STREQ(e->address, "巴彦乌兰嘎查3组");
	CHECK_STREQ(e->birth_date, "1942-03-05");
	CHECK_EQ_INT(e->n_categories, 2);
	CHECK_EQ_INT(e->categories[0], TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	CHECK_EQ_INT(e->categories[1], TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED);
	CHECK_EQ_INT(e->risk_tier, TANFANG__V1__RISK_TIER__RISK_TIER_HIGH);
	CHECK(e->has_location);
	CHECK(e->lat > 46.7230 && e->lat < 46.7232);
	CHECK(e->lon > 122.9011 && e->lon < 122.9013);
	CHECK_STREQ(e->phone, "13904821234");
	CHECK_EQ_INT(e->n_neighbours, 2);
	CHECK_STREQ(e->neighbours[0], "nb1");
	CHECK_STREQ(e->neighbours[1], "nb2");
	CHECK_EQ_INT(e->n_visitors, 1);
	CHECK_STREQ(e->visitors[0], "gw1");
	CHECK_EQ_INT(ci->rows[0], 1);
	CHECK_EQ_INT(ci->lines[0], 2);
	e = ci->elders[1];
	CHECK_STREQ(e->address, "巴彦乌兰嘎查, 5组");
	CHECK_STREQ(e->birth_date, "1950-12-31");
	CHECK_EQ_INT(e->n_categories, 0);
	CHECK_EQ_INT(e->risk_tier, TANFANG__V1__RISK_TIER__RISK_TIER_UNSPECIFIED);
	CHECK(!e->has_location);
	CHECK_STREQ(e->phone, "");
	CHECK_EQ_INT(e->n_neighbours, 0);
	CHECK_EQ_INT(ci->lines[1], 3);
	csvimport_free(ci);
}

static void test_chinese_without_bom(void)
{
	/* Column order differs, blanks (also the ideographic space) pad the
	 * cells, an unknown column is ignored with a warning, a row that only
	 * looks filled is skipped. */
	struct csvimport *ci = import_text(
	    "zh.csv", "姓名,编号,区划,备注,类别,风险等级,纬度,经度,邻里,包联人\n"
	              " 李秀英 ,zlt-9,152223100,150000,独居、特困、独居,重点,46.1,122.5,nb1；nb2,"
	              "gw1|gw2\n"
	              ",,,,,,,,,\n"
	              "\xe3\x80\x80赵玉珍,zlt-10,152223100,,计划生育特殊家庭,,,,,\n");
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_warnings, 1);
	CHECK_STREQ(ci->warnings[0], "column 4 '备注' is not a known column and is ignored");
	CHECK_EQ_INT(ci->n_elders, 2);
	CHECK_EQ_INT(ci->n_rows, 3);
	tf_elder *e = ci->elders[0];
	CHECK_STREQ(e->name, "李秀英");
	CHECK_STREQ(e->id, "zlt-9");
	/* 独居 twice is kept once. */
	CHECK_EQ_INT(e->n_categories, 2);
	CHECK_EQ_INT(e->categories[0], TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	CHECK_EQ_INT(e->categories[1], TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY);
	CHECK_EQ_INT(e->risk_tier, TANFANG__V1__RISK_TIER__RISK_TIER_KEY);
	CHECK_EQ_INT(e->n_neighbours, 2);
	CHECK_EQ_INT(e->n_visitors, 2);
	CHECK_STREQ(e->visitors[1], "gw2");
	e = ci->elders[1];
	CHECK_STREQ(e->name, "赵玉珍");
	CHECK_EQ_INT(e->categories[0], TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL);
	CHECK_EQ_INT(ci->rows[1], 3);
	CHECK_EQ_INT(ci->lines[1], 4);
	csvimport_free(ci);
}

/* The day an elder entered the office's register, as local midnight. */
static void test_registered(void)
{
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();
	struct csvimport *ci = import_text("reg.csv", "id,name,area,登记日期\n"
	                                              "z1,甲,152223100,2026-09-01\n"
	                                              "z2,乙,152223100,\n");
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->elders[0]->registered_at, 1788192000); /* 2026-09-01 00:00 +08:00 */
	CHECK_EQ_INT(ci->elders[1]->registered_at, 0);          /* the daemon's day */
	csvimport_free(ci);
	ci = import_text("reg2.csv", "id,name,area,registered\nz3,丙,152223100,2026-13-01\n");
	CHECK_EQ_INT(ci->n_errors, 1);
	CHECK(strstr(ci->errors[0], "registered") != NULL);
	CHECK_EQ_INT(ci->n_elders, 0);
	csvimport_free(ci);
}

static void test_row_errors(void)
{
	/* One row per kind of mistake; every one is reported, nothing is kept. */
	const char *text =
	    "id,name,area,birth_date,categories,risk_tier,lat,lon,neighbours,visitors\n"
	    "ok-1,张三,152223,1940-01-01,,,,,,\n"         /* row 1, fine */
	    "bad id,李四,152223,,,,,,,\n"                 /* row 2 */
	    "e3,,152223,,,,,,,\n"                         /* row 3 */
	    "e4,王五,1.52223E+11,,,,,,,\n"                /* row 4 */
	    "e5,赵六,1522x,1943-02-29,,,,,,\n"            /* row 5: two errors */
	    "e6,孙七,152223,2030-01-01,,,,,,\n"           /* row 6 */
	    "e7,周八,152223,,独居;bedridden,urgent,,,,\n" /* row 7: two errors */
	    "e8,吴九,152223,,,,46.5,,,\n"                 /* row 8 */
	    "e9,郑十,152223,,,,95,122,,\n"                /* row 9 */
	    "e10,冯一,152223,,,,,,a;b;c,\n"               /* row 10 */
	    "ok-1,陈二,152223,,,,,,,\n"                   /* row 11 */
	    "e12,褚三,152223\n"                           /* row 12 */
	    "e13,卫四,152223,,,,,,x;x,g w\n";             /* row 13: two errors */
	struct csvimport *ci = import_text("bad.csv", text);
	CHECK_EQ_INT(ci->n_elders, 0);
	CHECK(ci->elders == NULL);
	CHECK(has_error(ci, "row 2 (line 3): column id: 'bad id' is not a valid id (1 to 64 of "
	                    "A-Z a-z 0-9 _ . -)"));
	CHECK(has_error(ci, "row 3 (line 4): column name: is empty, and it is required"));
	CHECK(error_starts(ci, "row 4 (line 5): column area: '1.52223E+11' looks like a number "
	                       "Excel rewrote"));
	CHECK(error_starts(ci, "row 5 (line 6): column area: '1522x' is not an area code (2 to 20 "
	                       "digits)"));
	CHECK(error_starts(ci, "row 5 (line 6): column birth_date: '1943-02-29' is not a date"));
	CHECK(error_starts(ci, "row 6 (line 7): column birth_date: '2030-01-01' is not a date"));
	CHECK(error_starts(ci, "row 7 (line 8): column categories: unknown category 'bedridden'"));
	CHECK(error_starts(ci, "row 7 (line 8): column risk_tier: unknown risk tier 'urgent'"));
	CHECK(has_error(ci, "row 8 (line 9): column lon: is empty while lat is set; give both or "
	                    "neither"));
	CHECK(has_error(ci, "row 9 (line 10): column lat: 95 is out of range (-90 to 90)"));
	CHECK(error_starts(ci, "row 10 (line 11): column neighbours: 3 visitors given, at most 2"));
	CHECK(has_error(ci, "row 11 (line 12): column id: the same id as row 1 (line 2)"));
	CHECK(has_error(ci, "row 12 (line 13): has 3 cells, the header has 10"));
	CHECK(has_error(ci, "row 13 (line 14): column neighbours: visitor x is listed twice"));
	CHECK(error_starts(ci, "row 13 (line 14): column visitors: 'g w' is not a visitor id"));
	CHECK_EQ_INT(ci->n_errors, 15);
	/* In file order. */
	CHECK(strncmp(ci->errors[0], "row 2 ", 6) == 0);
	CHECK(strncmp(ci->errors[ci->n_errors - 1], "row 13 ", 7) == 0);
	csvimport_free(ci);
}

static void test_lines_follow_quoted_breaks(void)
{
	/* Row 1's address spans lines 2-3, so row 2 starts on line 4: the
	 * error must name the line an editor shows. */
	struct csvimport *ci = import_text("multi.csv", "编号,姓名,区划代码,地址\r\n"
	                                                "a1,张三,152223,\"第一行\r\n第二行\"\r\n"
	                                                "a2,李四,15,x\r\n"
	                                                "\"a3\r\nx\",王五,152223,y\r\n");
	CHECK(has_error(ci,
	                "row 3 (line 5): column 编号: 'a3\\r\\nx' is not a valid id (1 to 64 of "
	                "A-Z a-z 0-9 _ . -)"));
	CHECK_EQ_INT(ci->n_errors, 1);
	csvimport_free(ci);

	ci = import_text("multi-ok.csv", "id,name,area,address\n"
	                                 "a1,张三,152223,\"one\ntwo\"\n"
	                                 "a2,李四,15,x");
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_elders, 2);
	CHECK_STREQ(ci->elders[0]->address, "one\ntwo");
	CHECK_EQ_INT(ci->lines[1], 4);
	csvimport_free(ci);
}

/* Old Mac line ends ("CSV (Macintosh)"): a lone "\r" ends a line too, so
 * rows and messages name the lines an editor shows (found by the fuzzer:
 * the first row was said to be on the header's line). */
static void test_cr_line_ends(void)
{
	struct csvimport *ci = import_text("mac.csv", "id,name,area\ra1,张三,152223\ra2,李四,x5\r");
	CHECK(error_starts(
	    ci, "row 2 (line 3): column area: 'x5' is not an area code (2 to 20 digits)"));
	csvimport_free(ci);
	ci = import_text("mac-ok.csv", "id,name,area\ra1,张三,152223\r\na2,李四,152223\r");
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_elders, 2);
	CHECK_EQ_INT(ci->lines[0], 2);
	CHECK_EQ_INT(ci->lines[1], 3);
	csvimport_free(ci);
}

static void test_file_errors(void)
{
	struct csvimport *ci = import_text("missing.csv", "姓名,地址\n张三,x\n");
	CHECK(has_error(ci, "header (line 1): missing required columns area (所属村（社区）, or "
	                    "区划代码), id (编号) or id_card (身份证号码) (or name a column with "
	                    "--map 'header=field')"));
	CHECK_EQ_INT(ci->n_errors, 1);
	csvimport_free(ci);

	ci = import_text("twice.csv", "id,编号,name,area\n1,2,n,15\n");
	CHECK(has_error(ci, "header: columns 1 'id' and 2 '编号' both mean id"));
	csvimport_free(ci);

	ci = import_text("empty.csv", "");
	CHECK(error_starts(ci, "the file is empty"));
	csvimport_free(ci);
	ci = import_text("bom-only.csv", BOM "\r\n\r\n");
	CHECK(error_starts(ci, "the file is empty"));
	csvimport_free(ci);
	ci = import_text("header-only.csv", BOM "id,name,area\r\n");
	CHECK(has_error(ci, "the file has a header but no rows"));
	csvimport_free(ci);

	/* 张三 in GBK (a "CSV" saved by Excel on Chinese Windows) is read as
	 * GB18030 (issue 11, item 1). */
	ci = import_text("gbk.csv", "id,name,area\na1,ok,15\na2,\xd5\xc5\xc8\xfd,15\n");
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_elders, 2);
	CHECK_STREQ(ci->elders[1]->name, "张三");
	CHECK_STREQ(ci->format, "CSV (GB18030)");
	csvimport_free(ci);
	/* Bytes that are no GB18030 either: one message naming the line. */
	ci = import_text("bad-enc.csv", "id,name,area\na1,ok,15\na2,\xff\xff\x80,15\n");
	CHECK_EQ_INT(ci->n_errors, 1);
	CHECK(error_starts(ci, "line 3: the file is neither UTF-8 nor GB18030"));
	CHECK_EQ_INT(ci->n_elders, 0);
	csvimport_free(ci);

	ci = import_text("quote.csv", "id,name,area\na1,张\"三,15\n");
	CHECK(error_starts(ci, "line 2: CSV syntax error"));
	csvimport_free(ci);

	ci = import_text("open.csv", "id,name,area\na1,\"张三,15\n");
	CHECK(has_error(ci, "line 2: a quoted cell is not closed before the end of the file"));
	csvimport_free(ci);

	/* A lat column without lon, or the reverse: read the header before
	 * its first cell (issue 8, item 6). One error for the file, naming
	 * the column, and no elder. */
	ci = import_text("lat-only.csv", "id,name,area,lat\na1,张三,15,46.1\na2,李四,15,\n");
	CHECK_EQ_INT(ci->n_errors, 1);
	CHECK(has_error(ci, "header (line 1): column lat 'lat' has no lon column; give both lat "
	                    "(纬度) and lon (经度), or neither"));
	CHECK_EQ_INT(ci->n_elders, 0);
	csvimport_free(ci);
	ci =
	    import_text("lon-only.csv", "编号,姓名,区划代码,经度\na1,张三,15,\na2,李四,15,122.9\n");
	CHECK_EQ_INT(ci->n_errors, 1);
	CHECK(has_error(ci, "header (line 1): column lon '经度' has no lat column; give both lat "
	                    "(纬度) and lon (经度), or neither"));
	CHECK_EQ_INT(ci->n_elders, 0);
	csvimport_free(ci);
	/* Both columns, one cell empty: the row's message names both. */
	ci = import_text("lat-empty.csv", "id,name,area,lat,lon\na1,张三,15,,122.9\n");
	CHECK(has_error(ci, "row 1 (line 2): column lat: is empty while lon is set; give both or "
	                    "neither"));
	csvimport_free(ci);

	ci = NULL;
	char path[4096];
	snprintf(path, sizeof path, "%s/does-not-exist.csv", tft_tmpdir());
	CHECK_EQ_INT(csvimport_read(path, &ci), -ENOENT);
	CHECK(ci == NULL);
}

static void test_helpers(void)
{
	char d[11];
	CHECK_OK(csvimport_date("2000-02-29", d));
	CHECK_STREQ(d, "2000-02-29");
	CHECK_OK(csvimport_date("1936.7.1", d));
	CHECK_STREQ(d, "1936-07-01");
	CHECK_EQ_INT(csvimport_date("1900-02-29", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1950-04-31", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1950-13-01", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1950/01-01", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1950-01-01x", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("50-01-01", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1850-01-01", d), -EINVAL);
	/* Today is fine, tomorrow is not (the clock is pinned to 2026-11-24). */
	CHECK_OK(csvimport_date("2026-11-24", d));
	CHECK_EQ_INT(csvimport_date("2026-11-25", d), -EINVAL);

	CHECK_EQ_INT(csvimport_category_value("living_alone"),
	             TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	CHECK_EQ_INT(csvimport_category_value("空巢"), TANFANG__V1__CATEGORY__CATEGORY_EMPTY_NEST);
	CHECK_EQ_INT(csvimport_category_value("重残"),
	             TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED);
	CHECK_EQ_INT(csvimport_category_value("unspecified"), -1);
	CHECK_EQ_INT(csvimport_category_value("老"), -1);
	CHECK_EQ_INT(csvimport_tier_value("高风险"), TANFANG__V1__RISK_TIER__RISK_TIER_HIGH);
	CHECK_EQ_INT(csvimport_tier_value("general"), TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL);
	CHECK_EQ_INT(csvimport_tier_value("low"), -1);

	char **list;
	size_t n;
	CHECK_OK(csvimport_split(" a ;b、c，，d|  ", &list, &n));
	CHECK_EQ_INT(n, 4);
	CHECK_STREQ(list[0], "a");
	CHECK_STREQ(list[1], "b");
	CHECK_STREQ(list[2], "c");
	CHECK_STREQ(list[3], "d");
	csvimport_list_free(list, n);
	CHECK_OK(csvimport_split("", &list, &n));
	CHECK_EQ_INT(n, 0);
	csvimport_list_free(list, n);
}

/* ---- issue 11: the files offices keep ---- */

/* The ID-card numbers below carry their GB 11643 check digits. */
#define ID_ZGL "152223194211050023" /* 1942-11-05, a woman */
#define ID_WF  "152223193801010115" /* 1938-01-01, a man */
#define ID_X   "15222319450210022X" /* 1945-02-10, a woman, check digit X */

static struct csvimport *parse_bytes(const char *data, size_t len, const struct csvimport_opts *o)
{
	struct csvimport *ci = NULL;
	CHECK_OK(csvimport_parse_opts(data, len, o, &ci));
	CHECK(ci != NULL);
	return ci;
}

static void test_idcard(void)
{
	char birth[11];
	bool male = false;
	CHECK_OK(idcard_check(ID_ZGL, birth, &male));
	CHECK_STREQ(birth, "1942-11-05");
	CHECK(!male);
	CHECK_OK(idcard_check(ID_WF, birth, &male));
	CHECK_STREQ(birth, "1938-01-01");
	CHECK(male);
	CHECK_OK(idcard_check(ID_X, birth, &male));
	CHECK_STREQ(birth, "1945-02-10");
	CHECK(!male);
	CHECK_EQ_INT(idcard_check("152223194211050024", NULL, NULL), -EBADMSG);
	CHECK_EQ_INT(idcard_check("152223194202300021", NULL, NULL), -EINVAL); /* 30 Feb */
	CHECK_EQ_INT(idcard_check("15222319421105002", NULL, NULL), -EINVAL);
	CHECK_EQ_INT(idcard_check("15222319421105002x", NULL, NULL), -EINVAL);
}

static void test_office_dates(void)
{
	char d[11];
	const char *const ok[][2] = {
	    {"1945年3月7日", "1945-03-07"},
	    {"1945-3", "1945-03-01"},
	    {"1945.3", "1945-03-01"},
	    {"19450307", "1945-03-07"},
	    {"１９４５－０３－０７", "1945-03-07"},
	    {"1945-03-07 00:00:00", "1945-03-07"},
	    {"1945/3/7", "1945-03-07"},
	    {"1945年3月", "1945-03-01"},
	    {"194503", "1945-03-01"},
	    {"1945-03-07T08:00:00", "1945-03-07"},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (csvimport_date(ok[i][0], d) != 0)
			tft_fail(__FILE__, __LINE__, "'%s' refused", ok[i][0]);
		CHECK_STREQ(d, ok[i][1]);
	}
	CHECK_EQ_INT(csvimport_date("1945-13", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1945年2月30日", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("19451307", d), -EINVAL);
	CHECK_EQ_INT(csvimport_date("1945-3/7", d), -EINVAL);

	CHECK_EQ_INT(csvimport_category_value("独居老人"),
	             TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	CHECK_EQ_INT(csvimport_category_value("特困供养人员"),
	             TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY);
	CHECK_EQ_INT(csvimport_category_value("半失能"),
	             TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED);
	CHECK_EQ_INT(csvimport_category_value("卧床"), -1);
	CHECK_EQ_INT(csvimport_role_value("网格员"), TANFANG__V1__ROLE__ROLE_GRID_WORKER);
	CHECK_EQ_INT(csvimport_role_value("党员"), TANFANG__V1__ROLE__ROLE_PARTY_MEMBER);
	CHECK_EQ_INT(csvimport_role_value("邻里户"), TANFANG__V1__ROLE__ROLE_NEIGHBOUR);
	CHECK_EQ_INT(csvimport_role_value("厨师"), -1);
}

/* A small registry: two villages named 永安村, two visitors named 张伟. */
static tf_area dir_areas[4];
static tf_visitor dir_visitors[3];
static tf_area *dir_ap[4];
static tf_visitor *dir_vp[3];
static struct csvimport_dir dir;

static void make_dir(void)
{
	const char *a[4][3] = {{"152223", "扎赉特旗", ""},
	                       {"152223100201", "巴彦乌兰嘎查", "152223"},
	                       {"152223100202", "永安村", "152223"},
	                       {"152223101202", "永安村", "152223"}};
	for (int i = 0; i < 4; i++) {
		wire_init(WIRE_AREA, &dir_areas[i]);
		dir_areas[i].code = (char *)a[i][0];
		dir_areas[i].name = (char *)a[i][1];
		dir_areas[i].parent = (char *)a[i][2];
		dir_ap[i] = &dir_areas[i];
	}
	const char *v[3][3] = {{"gw-1", "王海军", "152223100201"},
	                       {"zw-1", "张伟", "152223100201"},
	                       {"zw-2", "张伟", "152223100202"}};
	for (int i = 0; i < 3; i++) {
		wire_init(WIRE_VISITOR, &dir_visitors[i]);
		dir_visitors[i].id = (char *)v[i][0];
		dir_visitors[i].name = (char *)v[i][1];
		dir_visitors[i].area = (char *)v[i][2];
		dir_visitors[i].role = TANFANG__V1__ROLE__ROLE_GRID_WORKER;
		dir_vp[i] = &dir_visitors[i];
	}
	dir = (struct csvimport_dir){
	    .areas = dir_ap, .n_areas = 4, .visitors = dir_vp, .n_visitors = 3};
}

static void test_office_headers_and_names(void)
{
	struct csvimport_opts o = {.dir = &dir};
	/* A title row, the office's headers (full-width brackets), the ID
	 * card as the id, sex and birth date from it, a village by name, a
	 * visitor by name (of two 张伟, the one whose scope holds the elder). */
	const char *text = "扎赉特旗特殊困难老年人花名册,,,,,,,\n"
	                   "序号,姓名,性别,身份证号码,出生年月,所属村(社区),老人类别,包联人\n"
	                   "1,张桂兰,," ID_ZGL ",1942-11,巴彦乌兰嘎查,独居、失能,王海军，张伟\n"
	                   "2,王福,男," ID_WF ",,152223100202,空巢 / 留守,\n";
	struct csvimport *ci = parse_bytes(text, strlen(text), &o);
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_elders, 2);
	CHECK(strstr(ci->warnings[0], "line 2 is taken as the header") != NULL);
	tf_elder *e = ci->elders[0];
	CHECK_STREQ(e->id, ID_ZGL);
	CHECK_STREQ(e->id_card, ID_ZGL);
	CHECK_STREQ(e->sex, "female");
	CHECK_STREQ(e->birth_date, "1942-11-05");
	CHECK_STREQ(e->area, "152223100201");
	CHECK_EQ_INT(e->n_visitors, 2);
	CHECK_STREQ(e->visitors[0], "gw-1");
	CHECK_STREQ(e->visitors[1], "zw-1");
	CHECK_EQ_INT(e->n_categories, 2);
	e = ci->elders[1];
	CHECK_STREQ(e->sex, "male");
	CHECK_STREQ(e->birth_date, "1938-01-01");
	CHECK_EQ_INT(e->n_categories, 2);
	CHECK_EQ_INT(ci->lines[1], 4);
	CHECK_STREQ(csvimport_field_header(ci, "area"), "所属村(社区)");
	CHECK_STREQ(csvimport_field_header(ci, "neighbour"), "neighbours");
	csvimport_free(ci);

	/* Names that do not place: each problem once, with row and column. */
	text = "姓名,身份证号码,所属村（社区）,包联人,性别\n"
	       "甲," ID_ZGL ",永安村,,\n"
	       "乙,152223194211050024,巴彦乌兰嘎查,,\n"
	       "丙," ID_WF ",扎赉特旗,张伟,女\n"
	       "丁,1.52223194211E+17,红旗村,李四,\n";
	ci = parse_bytes(text, strlen(text), &o);
	CHECK(has_error(ci,
	                "row 1 (line 2): column 所属村（社区）: '永安村' names 2 areas: 永安村 "
	                "(152223100202, in 扎赉特旗); 永安村 (152223101202, in 扎赉特旗); write "
	                "the code instead"));
	CHECK(has_error(ci, "row 2 (line 3): column 身份证号码: '152223194211050024' fails the "
	                    "check digit (GB 11643): a digit is mistyped"));
	CHECK(has_error(ci, "row 3 (line 4): column 性别: '女' differs from the ID-card number's "
	                    "(男)"));
	CHECK(has_error(ci, "row 3 (line 4): column 包联人: '张伟' names 2 visitors: zw-1 "
	                    "(grid_worker, 巴彦乌兰嘎查); zw-2 (grid_worker, 永安村); write the id "
	                    "instead"));
	CHECK(error_starts(ci, "row 4 (line 5): column 身份证号码: '1.52223194211E+17' was kept "
	                       "by the spreadsheet as a number"));
	CHECK(has_error(ci, "row 4 (line 5): column 所属村（社区）: no area named '红旗村' in your "
	                    "scope (give its name as registered, or its code)"));
	CHECK(has_error(ci, "row 4 (line 5): column 包联人: no visitor named '李四' (or with that "
	                    "id) in your scope"));
	CHECK_EQ_INT(ci->n_errors, 7);
	CHECK_EQ_INT(ci->n_elders, 0);
	csvimport_free(ci);

	/* --map: a header the importer does not know; a bad map is one error. */
	text = "户主姓名,公民身份号码,村组\n甲," ID_ZGL ",巴彦乌兰嘎查\n";
	o.map = "户主姓名=name，村组=area";
	ci = parse_bytes(text, strlen(text), &o);
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_elders, 1);
	csvimport_free(ci);
	o.map = "户主姓名=nom";
	ci = parse_bytes(text, strlen(text), &o);
	CHECK(error_starts(ci, "--map: 'nom' is not a field"));
	csvimport_free(ci);
}

static void test_encodings(void)
{
	/* UTF-16LE with its BOM, tab-separated: Excel's "Unicode text". */
	static const char u16[] = "\xff\xfe"
	                          "i\0d\0\t\0n\0a\0m\0e\0\t\0a\0r\0e\0a\0\r\0\n\0"
	                          "a\0"
	                          "1\0\t\0\x20\x5f\x09\x4e\t\0"
	                          "1\0"
	                          "5\0\r\0\n\0";
	struct csvimport *ci = parse_bytes(u16, sizeof u16 - 1, NULL);
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_elders, 1);
	CHECK_STREQ(ci->elders[0]->name, "张三");
	CHECK_STREQ(ci->format, "text (UTF-16LE)");
	csvimport_free(ci);
	/* The same as UTF-16BE. */
	static const char be[] = "\xfe\xff"
	                         "\0i\0d\0\t\0n\0a\0m\0e\0\t\0a\0r\0e\0a\0\n"
	                         "\0a\0"
	                         "1\0\t\x5f\x20\x4e\x09\0\t\0"
	                         "1\0"
	                         "5\0\n";
	ci = parse_bytes(be, sizeof be - 1, NULL);
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_STREQ(ci->elders[0]->name, "张三");
	csvimport_free(ci);
	/* An .xlsx that is not one. */
	ci = parse_bytes("PK\x03\x04garbage", 11, NULL);
	CHECK(error_starts(ci, "the file is a ZIP archive but cannot be opened"));
	csvimport_free(ci);
}

/* The fuzz corpus' minimal .xlsx (made by hand: shared strings with runs,
 * an inline string, a date-formatted serial, an ID card kept as a number). */
static void test_xlsx(void)
{
	const char *src = getenv("TANFANG_SRC");
	char path[4096];
	snprintf(path, sizeof path, "%s/tests/fuzz/corpus/csvimport/office-minimal.xlsx",
	         src ? src : "..");
	char *buf;
	size_t len;
	CHECK_OK(csvimport_slurp(path, &buf, &len));
	struct csvimport_opts o = {.dir = &dir};
	struct csvimport *ci = parse_bytes(buf, len, &o);
	CHECK_STREQ(ci->format, "xlsx");
	/* Sheet row 2 is fine (its date cell, 15650, is the ID card's
	 * 1942-11-05, else it would differ); sheet row 4, after an empty row,
	 * lost its ID's digits and names an ambiguous village. */
	CHECK(error_starts(ci, "row 3 (line 4): column 身份证号码: '1.52223194211E+17' was kept"));
	CHECK(error_starts(ci, "row 3 (line 4): column 所属村（社区）: '永安村' names 2 areas"));
	CHECK_EQ_INT(ci->n_errors, 2);
	csvimport_free(ci);
	free(buf);
}

static void test_visitors(void)
{
	struct csvimport_opts o = {.dir = &dir};
	const char *text = "姓名,身份,所属村（社区）,联系电话,包联老人\n"
	                   "白音,网格员,巴彦乌兰嘎查,13800000001,e1、e2\n"
	                   "邻居甲,邻里户,巴彦乌兰嘎查,13800000003,e1\n"
	                   "某人,厨师,巴彦乌兰嘎查,13800000004,\n"
	                   "无名,,,,\n";
	struct csvimport *ci = NULL;
	CHECK_OK(csvimport_visitors_parse(text, strlen(text), &o, &ci));
	CHECK(has_error(ci,
	                "row 3 (line 4): column 身份: unknown role '厨师' (网格员 grid_worker, "
	                "两委委员 village_cadre, 民政协理员 civil_affairs_assistant, 社工 "
	                "social_worker, 志愿者 volunteer, 党员 party_member, 医生 health_worker, "
	                "邻里户 neighbour)"));
	CHECK(error_starts(
	    ci, "row 4 (line 5): column 联系电话: is empty, and the visitor needs an id"));
	CHECK_EQ_INT(ci->n_visitors, 0);
	csvimport_free(ci);
	text = "姓名,身份,所属村（社区）,联系电话,包联老人\n"
	       "白音,网格员,巴彦乌兰嘎查,13800000001,e1、e2\n"
	       "邻居甲,邻里户,巴彦乌兰嘎查,13800000003,e1\n";
	CHECK_OK(csvimport_visitors_parse(text, strlen(text), &o, &ci));
	CHECK_EQ_INT(ci->n_errors, 0);
	CHECK_EQ_INT(ci->n_visitors, 2);
	CHECK_STREQ(ci->visitors[0]->id, "13800000001");
	CHECK_EQ_INT(ci->visitors[0]->role, TANFANG__V1__ROLE__ROLE_GRID_WORKER);
	CHECK_STREQ(ci->visitors[0]->area, "152223100201");
	CHECK_EQ_INT(ci->n_assignments, 2);
	CHECK_EQ_INT(ci->assignments[0]->n_elder_ids, 2);
	CHECK(!ci->assignments[0]->neighbour);
	CHECK(ci->assignments[1]->neighbour);
	csvimport_free(ci);
}

int main(void)
{
	clock_set_fixed(1795521600); /* 2026-11-24 12:00 UTC */
	test_english_with_bom();
	test_chinese_without_bom();
	test_registered();
	test_row_errors();
	test_lines_follow_quoted_breaks();
	test_cr_line_ends();
	test_file_errors();
	test_helpers();
	test_idcard();
	test_office_dates();
	make_dir();
	test_office_headers_and_names();
	test_encodings();
	test_xlsx();
	test_visitors();
	return tft_done();
}
