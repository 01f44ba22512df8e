#include "csvimport.h"

#include <errno.h>
#include <math.h>
#include <search.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <utf8proc.h>

#include "clock.h"
#include "idcard.h"
#include "log.h"
#include "registry.h"
#include "sheet.h"

/* ---- columns ---- */

enum col {
	COL_ID,
	COL_NAME,
	COL_SEX,
	COL_IDCARD,
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
	COL_ROLE,   /* visitor files */
	COL_ELDERS, /* visitor files: the elders served */
	COL_SEQ,    /* 序号: a row count, ignored */
	COL_COUNT,
	COL_IGNORE = -2, /* mapped to "-" */
	COL_UNKNOWN = -1,
};

#define ALIASES 16

/* Header names per column: the canonical English name first, then the
 * names offices write (issue 11, item 1). Compared after folding (NFKC,
 * case, no blanks), so "所属村(社区)" stands for "所属村（社区）" too. */
static const char *const col_names[COL_COUNT][ALIASES] = {
    [COL_ID] = {"id", "elder_id", "编号", "老人编号", "人员编号", "工号"},
    [COL_NAME] = {"name", "姓名", "老人姓名", "名字"},
    [COL_SEX] = {"sex", "gender", "性别"},
    [COL_IDCARD] = {"id_card", "身份证号码", "身份证号", "公民身份号码", "身份证", "身份证件号码",
                    "证件号码", "公民身份证号码", "身份证号码(18位)"},
    [COL_AREA] = {"area", "area_code", "区划代码", "区划", "village", "所属村(社区)", "村(社区)",
                  "所属社区", "所属村", "村(居)", "所属村(居)", "所在村(社区)", "嘎查(村)",
                  "所属嘎查(村)", "村居", "社区"},
    [COL_ADDRESS] = {"address", "地址", "住址", "家庭住址", "现住址", "居住地址", "家庭地址",
                     "现居住地址"},
    [COL_BIRTH] = {"birth_date", "birth", "出生日期", "出生年月", "出生年月日"},
    [COL_CATEGORIES] = {"categories", "category", "类别", "老人类别", "人员类别", "类型",
                        "困难类型", "特殊困难类型", "老年人类别"},
    [COL_TIER] = {"risk_tier", "tier", "风险等级"},
    [COL_LAT] = {"lat", "latitude", "纬度"},
    [COL_LON] = {"lon", "lng", "longitude", "经度"},
    [COL_PHONE] = {"phone", "contact", "电话", "联系电话", "手机", "手机号", "手机号码", "联系方式",
                   "电话号码"},
    [COL_NEIGHBOURS] = {"neighbours", "neighbors", "邻里", "邻里户", "结对邻居", "邻里互助户",
                        "邻居"},
    [COL_VISITORS] = {"visitors", "包联人", "包联干部", "包联责任人", "帮扶人", "帮扶责任人",
                      "探访人", "巡访人"},
    [COL_REGISTERED] = {"registered", "registered_at", "登记日期", "纳入日期"},
    [COL_ROLE] = {"role", "角色", "身份", "人员身份", "队伍"},
    [COL_ELDERS] = {"elders", "包联老人", "服务对象", "结对老人", "包联对象", "探访对象",
                    "联系老人"},
    [COL_SEQ] = {"seq", "序号", "序", "no."},
};

/* A malloc'd copy of s folded for comparison: NFKC (full-width letters,
 * digits, brackets and dashes become ASCII), case-folded when fold_case. */
static char *fold(const char *s, bool fold_case)
{
	utf8proc_uint8_t *out = NULL;
	int opts = UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
	if (fold_case)
		opts |= UTF8PROC_CASEFOLD;
	if (utf8proc_map((const utf8proc_uint8_t *)s, 0, &out, opts) < 0)
		return strdup(s); /* the sheet is valid UTF-8; only on failure */
	return (char *)out;
}

/* The header key: folded, blanks, '*' and ':' removed. */
static char *header_key(const char *h)
{
	char *f = fold(h, true);
	if (!f)
		return NULL;
	char *o = f;
	for (const char *p = f; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '*' && *p != ':' && *p != '\n' && *p != '\r')
			*o++ = *p;
	*o = '\0';
	return f;
}

static bool visitor_kind_col(enum col c)
{
	return c == COL_ID || c == COL_NAME || c == COL_SEX || c == COL_IDCARD || c == COL_AREA ||
	       c == COL_PHONE || c == COL_ROLE || c == COL_ELDERS || c == COL_SEQ;
}

/* The column a header names, or COL_UNKNOWN; visitors: a visitor file. */
static enum col col_lookup(const char *h, bool visitors)
{
	char *k = header_key(h);
	if (!k)
		return COL_UNKNOWN;
	enum col found = COL_UNKNOWN;
	for (int c = 0; c < COL_COUNT && found == COL_UNKNOWN; c++)
		for (int i = 0; i < ALIASES && col_names[c][i] && found == COL_UNKNOWN; i++) {
			char *a = header_key(col_names[c][i]);
			if (a && strcmp(k, a) == 0)
				found = (enum col)c;
			free(a);
		}
	free(k);
	/* In a visitor file the kind of person is its "category". */
	if (visitors && found == COL_CATEGORIES)
		found = COL_ROLE;
	if (visitors && found != COL_UNKNOWN && !visitor_kind_col(found))
		found = COL_UNKNOWN;
	return found;
}

static enum col col_by_field(const char *f)
{
	for (int c = 0; c < COL_COUNT; c++)
		if (strcasecmp(f, col_names[c][0]) == 0)
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
    /* The Zalaite plan (task 5) names 失能、半失能 together. */
    {"半失能", TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED},
    {"完全失能", TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED},
    {"部分失能", TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED},
    {"重残", TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED},
    {"重度残疾", TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED},
    {"重度残疾人", TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED},
    {"计划生育特殊家庭", TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL},
    {"计生特殊家庭", TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL},
    {"计划生育", TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL},
    {"失独", TANFANG__V1__CATEGORY__CATEGORY_FAMILY_PLANNING_SPECIAL},
    {"特困", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
    {"特困供养", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
    {"特困人员", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
    {"特困供养人员", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
    {"五保", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
    {"五保户", TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY},
};

/* Drops a trailing 老人 / 老年人 / 家庭老人 ("独居老人" is 独居). */
static void drop_elder_suffix(char *s)
{
	static const char *const sfx[] = {"家庭老年人", "家庭老人", "老年人", "老人"};
	size_t n = strlen(s);
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		size_t k = strlen(sfx[i]);
		if (n > k && strcmp(s + n - k, sfx[i]) == 0) {
			s[n - k] = '\0';
			return;
		}
	}
}

int csvimport_category_value(const char *name)
{
	int v = wire_category_value(name);
	if (v > 0)
		return v;
	char *f = fold(name, false);
	if (!f)
		return -1;
	for (int pass = 0; pass < 2 && v <= 0; pass++) {
		if (pass == 1)
			drop_elder_suffix(f);
		for (size_t i = 0; i < sizeof category_zh / sizeof category_zh[0]; i++)
			if (strcmp(f, category_zh[i].zh) == 0) {
				v = category_zh[i].value;
				break;
			}
	}
	free(f);
	return v > 0 ? v : -1;
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

static const struct {
	const char *zh;
	int value;
} role_zh[] = {
    {"网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER},
    {"专职网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER},
    {"兼职网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER},
    {"两委委员", TANFANG__V1__ROLE__ROLE_VILLAGE_CADRE},
    {"村两委", TANFANG__V1__ROLE__ROLE_VILLAGE_CADRE},
    {"嘎查(村)两委委员", TANFANG__V1__ROLE__ROLE_VILLAGE_CADRE},
    {"村干部", TANFANG__V1__ROLE__ROLE_VILLAGE_CADRE},
    {"民政协理员", TANFANG__V1__ROLE__ROLE_CIVIL_AFFAIRS_ASSISTANT},
    {"社工", TANFANG__V1__ROLE__ROLE_SOCIAL_WORKER},
    {"社会工作者", TANFANG__V1__ROLE__ROLE_SOCIAL_WORKER},
    {"志愿者", TANFANG__V1__ROLE__ROLE_VOLUNTEER},
    {"党员", TANFANG__V1__ROLE__ROLE_PARTY_MEMBER},
    {"共产党员", TANFANG__V1__ROLE__ROLE_PARTY_MEMBER},
    {"医生", TANFANG__V1__ROLE__ROLE_HEALTH_WORKER},
    {"护士", TANFANG__V1__ROLE__ROLE_HEALTH_WORKER},
    {"医护人员", TANFANG__V1__ROLE__ROLE_HEALTH_WORKER},
    {"家庭医生", TANFANG__V1__ROLE__ROLE_HEALTH_WORKER},
    {"邻里户", TANFANG__V1__ROLE__ROLE_NEIGHBOUR},
    {"邻居", TANFANG__V1__ROLE__ROLE_NEIGHBOUR},
    {"邻里", TANFANG__V1__ROLE__ROLE_NEIGHBOUR},
    {"邻里互助户", TANFANG__V1__ROLE__ROLE_NEIGHBOUR},
    {"结对邻居", TANFANG__V1__ROLE__ROLE_NEIGHBOUR},
    {"好邻居", TANFANG__V1__ROLE__ROLE_NEIGHBOUR},
};

int csvimport_role_value(const char *name)
{
	int v = wire_role_value(name);
	if (v > 0)
		return v;
	char *f = fold(name, false);
	if (!f)
		return -1;
	for (size_t i = 0; i < sizeof role_zh / sizeof role_zh[0]; i++)
		if (strcmp(f, role_zh[i].zh) == 0) {
			v = role_zh[i].value;
			break;
		}
	free(f);
	return v > 0 ? v : -1;
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

/* The parts of a date as offices write it (see csvimport_date); *has_day
 * false for a month alone. Checks the calendar, not today. */
static int date_parts(const char *in, int *y, int *m, int *d, bool *has_day)
{
	char *f = fold(in, false); /* full-width digits and dashes */
	if (!f)
		return -ENOMEM;
	char buf[64];
	size_t o = 0;
	for (const char *p = f; *p && o + 1 < sizeof buf; p++) {
		if (strncmp(p, "年", 3) == 0 || strncmp(p, "月", 3) == 0) {
			buf[o++] = '-';
			p += 2;
		} else if (strncmp(p, "日", 3) == 0 || strncmp(p, "号", 3) == 0) {
			p += 2;
		} else if (*p == ' ' || *p == 'T') {
			break; /* a time after the date: Excel's "1945-03-07 00:00:00" */
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	free(f);
	while (o > 0 && buf[o - 1] == '-')
		buf[--o] = '\0'; /* "1945年3月" */
	int n, dd = 1;
	const char *s = buf;
	*has_day = true;
	if (o == 8 && digits(s, 8, &n) == 8) { /* 19450307 */
		*y = n / 10000, *m = n / 100 % 100, dd = n % 100;
	} else if (o == 6 && digits(s, 6, &n) == 6) { /* 194503 */
		*y = n / 100, *m = n % 100, *has_day = false;
	} else {
		if (digits(s, 4, y) != 4)
			return -EINVAL;
		s += 4;
		char sep = *s;
		if (sep != '-' && sep != '/' && sep != '.')
			return -EINVAL;
		s++;
		if ((n = digits(s, 2, m)) == 0)
			return -EINVAL;
		s += n;
		if (*s == '\0') {
			*has_day = false;
		} else {
			if (*s != sep)
				return -EINVAL;
			s++;
			if ((n = digits(s, 2, &dd)) == 0 || s[n] != '\0')
				return -EINVAL;
		}
	}
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (*y < 1880 || *m < 1 || *m > 12 || dd < 1 || dd > mdays[*m - 1] + (*m == 2 && leap(*y)))
		return -EINVAL;
	*d = dd;
	return 0;
}

int csvimport_date(const char *in, char out[11])
{
	int y, m, d;
	bool has_day;
	if (date_parts(in, &y, &m, &d, &has_day) < 0)
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

/* Categories are also written "独居 失能" or "独居/失能". */
static size_t category_separator_len(const char *s)
{
	static const char *const seps[] = {"/", "／", " ", "\xe3\x80\x80", "\t", "\n"};
	size_t n = separator_len(s);
	for (size_t i = 0; n == 0 && i < sizeof seps / sizeof seps[0]; i++)
		if (strncmp(s, seps[i], strlen(seps[i])) == 0)
			n = strlen(seps[i]);
	return n;
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

static int split_with(const char *s, size_t (*sep)(const char *), char ***out, size_t *n)
{
	char **list = NULL;
	size_t cnt = 0;
	*out = NULL;
	*n = 0;
	while (*s) {
		size_t len = 0, k;
		while (s[len] && sep(s + len) == 0)
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
		if ((k = sep(s)) > 0)
			s += k;
	}
	*out = list;
	*n = cnt;
	return 0;
nomem:
	csvimport_list_free(list, cnt);
	return -ENOMEM;
}

int csvimport_split(const char *s, char ***out, size_t *n)
{
	return split_with(s, separator_len, out, n);
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
	free(e->id_card);
	free(e->sex);
	free(e->categories);
	csvimport_list_free(e->visitors, e->n_visitors);
	csvimport_list_free(e->neighbours, e->n_neighbours);
	free(e);
}

static void visitor_free(tf_visitor *v)
{
	if (!v)
		return;
	free(v->id);
	free(v->name);
	free(v->area);
	free(v->contact);
	free(v);
}

static void assignment_free(Tanfang__V1__ImportAssignment *a)
{
	if (!a)
		return;
	free(a->visitor_id);
	csvimport_list_free(a->elder_ids, a->n_elder_ids);
	free(a);
}

static void drop_results(struct csvimport *ci)
{
	for (size_t i = 0; i < ci->n_elders; i++)
		csvimport_elder_free(ci->elders[i]);
	for (size_t i = 0; i < ci->n_visitors; i++)
		visitor_free(ci->visitors[i]);
	for (size_t i = 0; i < ci->n_assignments; i++)
		assignment_free(ci->assignments[i]);
	free(ci->elders);
	free(ci->visitors);
	free(ci->assignments);
	free(ci->rows);
	free(ci->lines);
	ci->elders = NULL;
	ci->visitors = NULL;
	ci->assignments = NULL;
	ci->rows = ci->lines = NULL;
	ci->n_elders = ci->n_visitors = ci->n_assignments = 0;
}

void csvimport_free(struct csvimport *ci)
{
	if (!ci)
		return;
	drop_results(ci);
	csvimport_list_free(ci->errors, ci->n_errors);
	csvimport_list_free(ci->warnings, ci->n_warnings);
	for (size_t i = 0; i < sizeof ci->headers / sizeof ci->headers[0]; i++)
		free(ci->headers[i]);
	free(ci);
}

const char *csvimport_field_header(const struct csvimport *ci, const char *field)
{
	static const struct {
		const char *word;
		enum col c;
	} words[] = {
	    {"id_card", COL_IDCARD},
	    {"neighbour", COL_NEIGHBOURS},
	    {"visitor", COL_VISITORS},
	    {"area", COL_AREA},
	    {"birth", COL_BIRTH},
	    {"name", COL_NAME},
	    {"elder", COL_ELDERS},
	    {"role", COL_ROLE},
	    {"id", COL_ID},
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(field, words[i].word) == 0)
			return ci->headers[words[i].c] ? ci->headers[words[i].c]
			                               : col_names[words[i].c][0];
	return field;
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

/* ---- the directory: names to codes and ids ---- */

struct name_ref {
	char *key; /* folded name */
	size_t i;
};

struct index {
	struct name_ref *v;
	size_t n;
};

static int cmp_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

static void index_free(struct index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->v[i].key);
	free(ix->v);
	*ix = (struct index){0};
}

/* Adds key (taken) for item i. */
static int index_add(struct index *ix, size_t *cap, char *key, size_t i)
{
	if (!key)
		return -ENOMEM;
	if (ix->n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		struct name_ref *nv = realloc(ix->v, c * sizeof *nv);
		if (!nv) {
			free(key);
			return -ENOMEM;
		}
		ix->v = nv, *cap = c;
	}
	ix->v[ix->n++] = (struct name_ref){key, i};
	return 0;
}

/* The folded key for names: NFKC, no blanks. */
static char *name_key(const char *s)
{
	return header_key(s);
}

/* The entries with key k: *first and the count. */
static size_t index_find(const struct index *ix, const char *k, size_t *first)
{
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(ix->v[mid].key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < ix->n && strcmp(ix->v[lo + n].key, k) == 0)
		n++;
	*first = lo;
	return n;
}

struct dirx {
	const struct csvimport_dir *d;
	struct index area_code, area_name, vis_id, vis_name, eld_id, eld_name;
};

static void dirx_free(struct dirx *x)
{
	index_free(&x->area_code);
	index_free(&x->area_name);
	index_free(&x->vis_id);
	index_free(&x->vis_name);
	index_free(&x->eld_id);
	index_free(&x->eld_name);
}

static int dirx_build(struct dirx *x, const struct csvimport_dir *d)
{
	*x = (struct dirx){.d = d};
	if (!d)
		return 0;
	size_t c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < d->n_areas; i++) {
		r = index_add(&x->area_code, &c1, strdup(d->areas[i]->code), i);
		if (r == 0)
			r = index_add(&x->area_name, &c2, name_key(d->areas[i]->name), i);
	}
	for (size_t i = 0; r == 0 && i < d->n_visitors; i++) {
		r = index_add(&x->vis_id, &c3, strdup(d->visitors[i]->id), i);
		if (r == 0)
			r = index_add(&x->vis_name, &c4, name_key(d->visitors[i]->name), i);
	}
	for (size_t i = 0; r == 0 && i < d->n_elders; i++) {
		r = index_add(&x->eld_id, &c5, strdup(d->elders[i]->id), i);
		if (r == 0 && *d->elders[i]->id_card)
			r = index_add(&x->eld_id, &c5, strdup(d->elders[i]->id_card), i);
		if (r == 0)
			r = index_add(&x->eld_name, &c6, name_key(d->elders[i]->name), i);
	}
	struct index *all[] = {&x->area_code, &x->area_name, &x->vis_id,
	                       &x->vis_name,  &x->eld_id,    &x->eld_name};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i]->n) /* qsort(NULL, 0) is undefined */
			qsort(all[i]->v, all[i]->n, sizeof *all[i]->v, cmp_ref);
	if (r < 0)
		dirx_free(x);
	return r;
}

static const tf_area *area_by_code(const struct dirx *x, const char *code)
{
	size_t f;
	return index_find(&x->area_code, code, &f) ? x->d->areas[x->area_code.v[f].i] : NULL;
}

/* Appends "ID (DETAIL, AREA NAME)" to the candidates named in a refusal
 * of an ambiguous name, "; " between them; cut at size. */
static void add_candidate(const struct dirx *x, char *cand, size_t size, const char *id,
                          const char *detail, const char *area)
{
	size_t l = strlen(cand);
	const tf_area *a = area_by_code(x, area);
	snprintf(cand + l, size - l, "%s%s (%s, %s)", l ? "; " : "", id, detail,
	         a ? a->name : area);
}

/* Is area at or below scope, by the directory's parent links? */
static bool dir_within(const struct dirx *x, const char *area, const char *scope)
{
	if (!*scope)
		return true;
	for (int depth = 0; area && *area && depth < 32; depth++) {
		if (strcmp(area, scope) == 0)
			return true;
		const tf_area *a = area_by_code(x, area);
		area = a ? a->parent : NULL;
	}
	return false;
}

/* "name (code, in parent name)" for an area, appended to buf. */
static void area_label(const struct dirx *x, const tf_area *a, char *buf, size_t size)
{
	size_t l = strlen(buf);
	const tf_area *p = *a->parent ? area_by_code(x, a->parent) : NULL;
	snprintf(buf + l, size - l, "%s%s (%s%s%s)", l ? "; " : "", a->name, a->code,
	         p ? ", in " : "", p ? p->name : "");
}

/* ---- pass 2: rows to elders or visitors ---- */

struct ctx {
	struct csvimport *ci;
	const struct sheet *sh;
	const struct sheet_row *hdr;
	const struct csvimport_opts *o;
	struct dirx dir;
	bool visitors;      /* a visitor file */
	int map[COL_COUNT]; /* column index of each field, -1 if absent */
	size_t row;
	size_t line;
	int bad;                  /* errors on this row */
	struct hsearch_data seen; /* within the file: id, ID card, name+birth+area */
	bool seen_ok;
	char **keys; /* the keys in `seen` (it does not own them) */
	size_t n_keys, cap_keys;
};

static int TF_PRINTF(3, 4) row_error(struct ctx *x, enum col c, const char *fmt, ...);

/* The header text of column c, or its canonical name when the file has no
 * such column: nothing here indexes the header with an absent column's -1
 * (issue 8, item 6: a lat column without lon read before the header). */
static const char *col_label(const struct ctx *x, enum col c)
{
	int i = x->map[c];
	return i >= 0 && (size_t)i < x->hdr->n ? x->hdr->cells[i] : col_names[c][0];
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

/* The cell of column c in row, "" if the file has no such column or the
 * row is short. */
static const char *field(const struct ctx *x, const struct sheet_row *rec, enum col c)
{
	int i = x->map[c];
	return i >= 0 && (size_t)i < rec->n ? rec->cells[i] : "";
}

static bool cell_numeric(const struct ctx *x, const struct sheet_row *rec, enum col c)
{
	int i = x->map[c];
	return i >= 0 && (size_t)i < rec->n && rec->numeric[i];
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

/* Records key (taken) as seen on this row; *first_row gets the row that
 * had it first, or 0 if this is the first. */
static int seen_key(struct ctx *x, char *key, size_t *first_row)
{
	*first_row = 0;
	if (!key)
		return -ENOMEM;
	if (!x->seen_ok) {
		free(key);
		return 0;
	}
	ENTRY e = {.key = key, .data = (void *)(uintptr_t)x->row}, *found = NULL;
	if (hsearch_r(e, FIND, &found, &x->seen) && found) {
		*first_row = (size_t)(uintptr_t)found->data;
		free(key);
		return 0;
	}
	if (x->n_keys == x->cap_keys) {
		size_t c = x->cap_keys ? 2 * x->cap_keys : 256;
		char **nk = realloc(x->keys, c * sizeof *nk);
		if (!nk) {
			free(key);
			return -ENOMEM;
		}
		x->keys = nk, x->cap_keys = c;
	}
	x->keys[x->n_keys++] = key;
	if (!hsearch_r(e, ENTER, &found, &x->seen))
		return -ENOMEM;
	return 0;
}

/* The line of data row `row` (1-based) for messages naming it. */
static size_t row_line(const struct ctx *x, size_t row)
{
	if (x->sh->workbook)
		return x->hdr->line + row;
	return x->sh->rows[(size_t)(x->hdr - x->sh->rows) + row].line;
}

/* Same id, same ID-card number, or same name and birth date in the same
 * village as an earlier row (issue 11, item 4). */
static int check_twins(struct ctx *x, enum col c, const char *kind, const char *a, const char *b,
                       const char *what)
{
	char *key;
	if (asprintf(&key, "%s\x1f%s\x1f%s", kind, a, b ? b : "") < 0)
		return -ENOMEM;
	size_t first;
	int r = seen_key(x, key, &first);
	if (r < 0 || !first)
		return r;
	return row_error(x, c, "%s as row %zu (line %zu)", what, first, row_line(x, first));
}

static int parse_area(struct ctx *x, const char *raw, char **dst)
{
	if (!*raw)
		return row_error(x, COL_AREA, "is empty, and it is required");
	char *v = name_key(raw);
	if (!v)
		return -ENOMEM;
	int r = 0;
	const struct dirx *d = &x->dir;
	bool have = d->d && d->d->n_areas > 0;
	if (is_digits(v)) {
		if (strlen(v) < 2 || strlen(v) > 20)
			r = row_error(x, COL_AREA, "'%s' is not an area code (2 to 20 digits)",
			              raw);
		else if (have && !area_by_code(d, v))
			r = row_error(x, COL_AREA, "no area with code %s in your scope", v);
		else
			r = (*dst = strdup(v)) ? 0 : -ENOMEM;
	} else if ((strchr(v, 'e') || strchr(v, 'E')) && strspn(v, "0123456789.e+E") == strlen(v)) {
		/* Excel shows a 12-digit village code as 1.52223E+11 unless the
		 * column is formatted as text; say so rather than just "bad". */
		r = row_error(x, COL_AREA,
		              "'%s' looks like a number Excel rewrote in scientific notation; "
		              "format the column as text and enter the full code",
		              raw);
	} else if (!have) {
		r = row_error(x, COL_AREA,
		              "'%s' is not an area code (2 to 20 digits); a village is found by "
		              "name only when the registry's areas are at hand",
		              raw);
	} else {
		size_t f, n = index_find(&d->area_name, v, &f);
		if (n == 1) {
			r = (*dst = strdup(d->d->areas[d->area_name.v[f].i]->code)) ? 0 : -ENOMEM;
		} else if (n == 0) {
			r = row_error(
			    x, COL_AREA,
			    "no area named '%s' in your scope (give its name as registered, "
			    "or its code)",
			    raw);
		} else {
			char cand[600] = "";
			for (size_t i = 0; i < n && i < 8; i++)
				area_label(d, d->d->areas[d->area_name.v[f + i].i], cand,
				           sizeof cand);
			r = row_error(x, COL_AREA,
			              "'%s' names %zu areas: %s; write the code instead", raw, n,
			              cand);
		}
	}
	free(v);
	return r;
}

/* The ID-card number: checked, and the source of the birth date and the
 * sex. Sets *birth and *male when valid. */
static int parse_idcard(struct ctx *x, const struct sheet_row *rec, char **dst, char birth[11],
                        bool *male)
{
	const char *raw = field(x, rec, COL_IDCARD);
	*birth = '\0';
	if (!*raw)
		return (*dst = strdup("")) ? 0 : -ENOMEM;
	char *v = name_key(raw);
	if (!v)
		return -ENOMEM;
	for (char *p = v; *p; p++)
		if (*p == 'x')
			*p = 'X';
	int r = 0;
	if (cell_numeric(x, rec, COL_IDCARD) || strchr(v, 'e') || strchr(v, '.')) {
		r = row_error(x, COL_IDCARD,
		              "'%s' was kept by the spreadsheet as a number, which holds only 15 "
		              "digits; format the column as text and enter the 18 digits again",
		              raw);
	} else if (strlen(v) == 15 && is_digits(v)) {
		r = row_error(x, COL_IDCARD,
		              "'%s' is a 15-digit first-generation number; give the 18-digit one",
		              raw);
	} else {
		int k = idcard_check(v, birth, male);
		if (k == -EBADMSG)
			r = row_error(x, COL_IDCARD,
			              "'%s' fails the check digit (GB 11643): a digit is mistyped",
			              raw);
		else if (k < 0)
			r = row_error(
			    x, COL_IDCARD,
			    "'%s' is not an 18-digit ID-card number (17 digits and a check "
			    "digit or X, holding a real birth date)",
			    raw);
	}
	if (r == 0 && x->bad == 0)
		r = (*dst = strdup(v)) ? 0 : -ENOMEM;
	if (x->bad)
		*birth = '\0';
	free(v);
	return r;
}

static int parse_birth(struct ctx *x, const struct sheet_row *rec, const char *from_id, char **dst)
{
	const char *v = field(x, rec, COL_BIRTH);
	char d[11] = "", serial[16];
	bool has_day = true;
	if (*v && cell_numeric(x, rec, COL_BIRTH)) {
		/* A workbook's date without a date format: Excel's day number;
		 * or a date typed as a number, 19450307, as a CSV may hold it
		 * (no day number is that large: 9999-12-31 is 2958465). */
		char *end;
		double n = strtod(v, &end);
		if (!*end && is_digits(v) && strlen(v) == 8) {
			if (csvimport_date(v, d) < 0)
				return row_error(x, COL_BIRTH,
				                 "'%s' is not a date (read as YYYYMMDD: a day that "
				                 "exists, not in the future)",
				                 v);
		} else if (*end || sheet_serial_date(n, serial, sizeof serial) < 0 ||
		           csvimport_date(serial, d) < 0) {
			return row_error(
			    x, COL_BIRTH,
			    "'%s' is neither a date typed as a number (19450307) nor a "
			    "spreadsheet's day number; format the column as date or "
			    "text",
			    v);
		}
	} else if (*v) {
		int y, m, dd;
		if (date_parts(v, &y, &m, &dd, &has_day) < 0 || csvimport_date(v, d) < 0) {
			/* Excel may turn a date into its serial day number. */
			if (is_digits(v) && strlen(v) == 5)
				return row_error(
				    x, COL_BIRTH,
				    "'%s' looks like a spreadsheet date serial number; format the "
				    "column as text and write YYYY-MM-DD",
				    v);
			return row_error(x, COL_BIRTH,
			                 "'%s' is not a date (1945-03-07, 1945/3/7, 19450307, "
			                 "1945年3月7日, or a month: 1945-3; not in the future)",
			                 v);
		}
	}
	if (*from_id) {
		/* The number holds the day; a file's month alone agrees with it
		 * when the month is the same. */
		if (*d && (has_day ? strcmp(d, from_id) != 0 : strncmp(d, from_id, 7) != 0))
			return row_error(
			    x, COL_BIRTH,
			    "'%s' differs from the birth date %s in the ID-card number", v,
			    from_id);
		memcpy(d, from_id, 11);
	}
	free(*dst);
	return (*dst = strdup(d)) ? 0 : -ENOMEM;
}

static int parse_sex(struct ctx *x, const struct sheet_row *rec, bool id_known, bool male,
                     char **dst)
{
	const char *v = field(x, rec, COL_SEX);
	const char *s = "";
	if (*v) {
		if (strcmp(v, "男") == 0 || strcasecmp(v, "male") == 0 || strcasecmp(v, "m") == 0)
			s = "male";
		else if (strcmp(v, "女") == 0 || strcasecmp(v, "female") == 0 ||
		         strcasecmp(v, "f") == 0)
			s = "female";
		else
			return row_error(x, COL_SEX, "'%s' is not a sex (男 or 女)", v);
		if (id_known && strcmp(s, male ? "male" : "female") != 0)
			return row_error(x, COL_SEX, "'%s' differs from the ID-card number's (%s)",
			                 v, male ? "男" : "女");
	} else if (id_known) {
		s = male ? "male" : "female";
	}
	free(*dst);
	return (*dst = strdup(s)) ? 0 : -ENOMEM;
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
		    "'%s' is not a date (1945-03-07, 1945/3/7, 19450307, 1945年3月7日; "
		    "not in the future)",
		    v);
	return 0;
}

static int parse_categories(struct ctx *x, const char *v, tf_elder *e)
{
	char **items;
	size_t n;
	int r = split_with(v, category_separator_len, &items, &n);
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

/* One visitor named in an elder's row, by id or by name, into *id. Among
 * several of one name, those whose scope holds the elder's area, then
 * those of the expected kind (neighbours for "1+2"), are preferred. */
static int resolve_visitor(struct ctx *x, enum col c, const char *item, const char *area, char **id)
{
	const struct dirx *d = &x->dir;
	*id = NULL;
	if (!d->d || d->d->n_visitors == 0) {
		if (!registry_id_valid(item))
			return row_error(x, c,
			                 "'%s' is not a visitor id (1 to %d of A-Z a-z 0-9 _ . -)",
			                 item, REGISTRY_ID_MAX);
		return (*id = strdup(item)) ? 0 : -ENOMEM;
	}
	size_t f, n = index_find(&d->vis_id, item, &f);
	if (n)
		return (*id = strdup(item)) ? 0 : -ENOMEM;
	char *k = name_key(item);
	if (!k)
		return -ENOMEM;
	n = index_find(&d->vis_name, k, &f);
	free(k);
	if (n == 0)
		return row_error(x, c, "no visitor named '%s' (or with that id) in your scope",
		                 item);
	/* Narrow: first by scope, then by kind. */
	size_t best = SIZE_MAX, n_best = 0;
	for (int pass = 0; pass < 3 && n_best != 1; pass++) {
		n_best = 0;
		for (size_t i = 0; i < n; i++) {
			const tf_visitor *v = d->d->visitors[d->vis_name.v[f + i].i];
			bool in = area && *area && dir_within(d, area, v->area);
			bool nb = v->role == TANFANG__V1__ROLE__ROLE_NEIGHBOUR;
			bool kind = (c == COL_NEIGHBOURS) == nb;
			bool ok = pass == 0 ? in && kind : pass == 1 ? in : kind;
			if (ok)
				best = f + i, n_best++;
		}
	}
	if (n_best == 1 || n == 1)
		return (*id = strdup(d->d->visitors[d->vis_name.v[n == 1 ? f : best].i]->id))
		           ? 0
		           : -ENOMEM;
	char cand[600] = "";
	for (size_t i = 0; i < n && i < 8; i++) {
		const tf_visitor *v = d->d->visitors[d->vis_name.v[f + i].i];
		add_candidate(d, cand, sizeof cand, v->id, wire_role_name(v->role), v->area);
	}
	return row_error(x, c, "'%s' names %zu visitors: %s; write the id instead", item, n, cand);
}

/* A list of visitors (ids or names): found, distinct, at most max. */
static int parse_visitors(struct ctx *x, enum col c, const char *v, const char *area, size_t max,
                          char ***dst, size_t *n)
{
	char **items;
	size_t cnt;
	int r = csvimport_split(v, &items, &cnt);
	if (r < 0)
		return r;
	char **ids = cnt ? calloc(cnt, sizeof *ids) : NULL;
	size_t m = 0;
	if (cnt && !ids)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < cnt; i++) {
		char *id;
		int bad = x->bad;
		r = resolve_visitor(x, c, items[i], area, &id);
		if (r < 0 || x->bad != bad)
			continue;
		bool twice = false;
		for (size_t j = 0; j < m && !twice; j++)
			twice = strcmp(ids[j], id) == 0;
		if (twice) {
			r = row_error(x, c, "visitor %s is listed twice", items[i]);
			free(id);
			continue;
		}
		ids[m++] = id;
	}
	if (r == 0 && cnt > max)
		r = row_error(x, c, "%zu visitors given, at most %zu allowed%s", cnt, max,
		              c == COL_NEIGHBOURS ? " (the \"1+2\" model: two neighbour households)"
		                                  : "");
	csvimport_list_free(items, cnt);
	csvimport_list_free(*dst, *n);
	*dst = ids;
	*n = m;
	return r;
}

/* Builds the elder of one row, recording every problem. *out is NULL if the
 * row had errors. Returns 0 or -ENOMEM. */
static int parse_row(struct ctx *x, const struct sheet_row *rec, tf_elder **out)
{
	*out = NULL;
	tf_elder *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	wire_init(WIRE_ELDER, e);
	e->id = e->name = e->area = e->address = e->birth_date = e->phone = NULL;
	e->id_card = e->sex = NULL;
	char birth[11] = "";
	bool male = false;
	int r = parse_idcard(x, rec, &e->id_card, birth, &male);
	const char *id = field(x, rec, COL_ID);
	if (r == 0 && !*id && e->id_card && *e->id_card)
		id = e->id_card; /* the ID-card number serves as the id */
	if (r == 0 && !*id && x->map[COL_ID] >= 0)
		r = row_error(x, COL_ID, "is empty, and it is required");
	else if (r == 0 && !*id && x->bad == 0)
		r = row_error(x, COL_IDCARD, "is empty, and it is the elder's id in this file");
	else if (r == 0 && *id && !registry_id_valid(id))
		r = row_error(x, COL_ID, "'%s' is not a valid id (1 to %d of A-Z a-z 0-9 _ . -)",
		              id, REGISTRY_ID_MAX);
	if (r == 0)
		r = (e->id = strdup(id)) ? 0 : -ENOMEM;
	if (r == 0)
		r = set_text(x, COL_NAME, field(x, rec, COL_NAME), REGISTRY_NAME_MAX, true,
		             &e->name);
	if (r == 0)
		r = parse_sex(x, rec, *birth != '\0', male, &e->sex);
	if (r == 0)
		r = parse_area(x, field(x, rec, COL_AREA), &e->area);
	if (r == 0)
		r = set_text(x, COL_ADDRESS, field(x, rec, COL_ADDRESS), 1000, false, &e->address);
	if (r == 0)
		r = parse_birth(x, rec, birth, &e->birth_date);
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
		r = parse_visitors(x, COL_NEIGHBOURS, field(x, rec, COL_NEIGHBOURS), e->area, 2,
		                   &e->neighbours, &e->n_neighbours);
	if (r == 0)
		r = parse_visitors(x, COL_VISITORS, field(x, rec, COL_VISITORS), e->area, 16,
		                   &e->visitors, &e->n_visitors);
	/* Twins within the file (issue 11, item 4). */
	if (r == 0 && e->id && *e->id)
		r = check_twins(x, x->map[COL_ID] >= 0 ? COL_ID : COL_IDCARD, "id", e->id, NULL,
		                "the same id");
	if (r == 0 && e->id_card && *e->id_card && x->map[COL_ID] >= 0)
		r = check_twins(x, COL_IDCARD, "idcard", e->id_card, NULL,
		                "the same ID-card number");
	if (r == 0 && e->name && e->birth_date && *e->birth_date && e->area)
		r = check_twins(x, COL_NAME, e->area, e->name, e->birth_date,
		                "the same name and birth date in the same village");
	/* Fields left unset (an error stopped them, or no column) are empty
	 * strings the elder owns, so one free function fits every elder. */
	char **strs[] = {&e->id,    &e->name,       &e->area,    &e->address,
	                 &e->phone, &e->birth_date, &e->id_card, &e->sex};
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

/* How many cells of row name known columns. */
static size_t known_cells(const struct sheet_row *row, bool visitors)
{
	size_t n = 0;
	for (size_t i = 0; i < row->n; i++)
		n += *row->cells[i] && col_lookup(row->cells[i], visitors) != COL_UNKNOWN;
	return n;
}

/* Calls fn(ctx, item, header, field) for each item of a --map value
 * ('header=field,...'), in order, until fn returns non-zero (returned).
 * header is the item's part before its last '=' (NULL without one), field
 * the part after it; both are the call's own. Returns 0, fn's value, or
 * -ENOMEM. */
typedef int (*map_item_fn)(void *ctx, const char *item, const char *header, const char *field);
static int map_items(const char *m, map_item_fn fn, void *ctx)
{
	if (!m || !*m)
		return 0;
	char **items;
	size_t n;
	if (split_with(m, separator_len, &items, &n) < 0)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		char *item = strdup(items[i]);
		if (!item) {
			r = -ENOMEM;
			break;
		}
		char *eq = strrchr(items[i], '=');
		if (eq)
			*eq = '\0';
		r = fn(ctx, item, eq ? items[i] : NULL, eq ? eq + 1 : NULL);
		free(item);
	}
	csvimport_list_free(items, n);
	return r;
}

/* Does a --map header name the file's header h (both as header_key folds
 * them)? 1, 0 or -ENOMEM. */
static int same_header(const char *a, const char *b)
{
	char *ka = header_key(a), *kb = header_key(b);
	int r = !ka || !kb ? -ENOMEM : strcmp(ka, kb) == 0;
	free(ka);
	free(kb);
	return r;
}

struct mapped_ctx {
	const char *header;
	enum col *out;
};

static int mapped_item(void *ctx, const char *item, const char *header, const char *field)
{
	(void)item;
	struct mapped_ctx *c = ctx;
	if (!header)
		return 0;
	int same = same_header(header, c->header);
	if (same < 0)
		return same;
	if (same)
		*c->out = strcmp(field, "-") == 0 ? COL_IGNORE : col_by_field(field);
	return same; /* the first item naming the header decides */
}

/* --map 'header=field,...': the column of a header by the user's word. */
static int mapped(const struct ctx *x, const char *h, enum col *out)
{
	*out = COL_UNKNOWN;
	struct mapped_ctx c = {h, out};
	int r = map_items(x->o ? x->o->map : NULL, mapped_item, &c);
	return r < 0 ? r : 0;
}

struct map_check_ctx {
	char *err;
	size_t errlen;
};

static int map_check_item(void *ctx, const char *item, const char *header, const char *field)
{
	struct map_check_ctx *c = ctx;
	if (!header || !*header) {
		snprintf(c->err, c->errlen, "--map: '%s' is not header=field", item);
		return TF_E_INVALID;
	}
	if (strcmp(field, "-") != 0 && col_by_field(field) == COL_UNKNOWN) {
		snprintf(c->err, c->errlen,
		         "--map: '%s' is not a field (id name sex id_card area address birth_date "
		         "categories risk_tier lat lon phone neighbours visitors registered role "
		         "elders, or - to ignore)",
		         field);
		return TF_E_INVALID;
	}
	return 0;
}

int csvimport_map_check(const char *m, char *err, size_t errlen)
{
	struct map_check_ctx c = {err, errlen};
	return map_items(m, map_check_item, &c);
}

/* Checks --map itself: every target a field. */
static int check_map(struct csvimport *ci, const char *m)
{
	char why[400];
	int r = csvimport_map_check(m, why, sizeof why);
	return r == TF_E_INVALID ? stop(error(ci, "%s", why)) : r;
}

static int header_found_item(void *ctx, const char *item, const char *header, const char *field)
{
	(void)item, (void)field;
	struct ctx *x = ctx;
	if (!header)
		return 0;
	for (size_t j = 0; j < x->hdr->n; j++) {
		int same = same_header(header, x->hdr->cells[j]);
		if (same)
			return same < 0 ? same : 0;
	}
	return stop(error(x->ci,
	                  "--map: the file's header (line %zu) has no column '%s'; its columns are "
	                  "written as in the file",
	                  x->hdr->line, header));
}

/* Every header --map names is in the file's header: a misspelt one would
 * otherwise rename nothing, unnoticed. */
static int map_headers_found(struct ctx *x)
{
	return map_items(x->o ? x->o->map : NULL, header_found_item, x);
}

static int map_header(struct ctx *x)
{
	struct csvimport *ci = x->ci;
	int r = map_headers_found(x);
	for (int c = 0; c < COL_COUNT; c++)
		x->map[c] = -1;
	for (size_t i = 0; r == 0 && i < x->hdr->n; i++) {
		const char *h = x->hdr->cells[i];
		enum col c;
		if ((r = mapped(x, h, &c)) < 0)
			break;
		if (c == COL_IGNORE)
			continue;
		if (c == COL_UNKNOWN)
			c = col_lookup(h, x->visitors);
		if (c == COL_UNKNOWN) {
			r = *h ? warning(ci, "column %zu '%s' is not a known column and is ignored",
			                 i + 1, h)
			       : 0; /* an empty header over empty cells: nothing to say */
			continue;
		}
		if (x->map[c] >= 0) {
			r = stop(error(ci, "header: columns %d '%s' and %zu '%s' both mean %s",
			               x->map[c] + 1, x->hdr->cells[x->map[c]], i + 1, h,
			               col_names[c][0]));
			continue;
		}
		x->map[c] = (int)i;
		free(ci->headers[c]);
		if (!(ci->headers[c] = strdup(h)))
			r = -ENOMEM;
	}
	char missing[300] = "";
	if (r == 0 && x->map[COL_NAME] < 0)
		snprintf(missing, sizeof missing, "name (姓名)");
	if (r == 0 && x->map[COL_AREA] < 0)
		snprintf(missing + strlen(missing), sizeof missing - strlen(missing),
		         "%sarea (所属村（社区）, or 区划代码)", *missing ? ", " : "");
	if (r == 0 && x->map[COL_ID] < 0 && x->map[COL_IDCARD] < 0 &&
	    (!x->visitors || x->map[COL_PHONE] < 0))
		snprintf(missing + strlen(missing), sizeof missing - strlen(missing),
		         "%sid (编号) or id_card (身份证号码)%s", *missing ? ", " : "",
		         x->visitors ? " or phone (联系电话)" : "");
	if (r == 0 && *missing)
		r = stop(error(ci,
		               "header (line %zu): missing required column%s %s (or name a column "
		               "with --map 'header=field')",
		               x->hdr->line, strchr(missing, ',') ? "s" : "", missing));
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

static bool all_empty(const struct sheet_row *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		if (*rec->cells[i])
			return false;
	return true;
}

/* ---- visitor rows (item 3) ---- */

/* One elder a visitor serves, by id, ID-card number or name. */
static int resolve_elder(struct ctx *x, const char *item, const char *scope, char **id)
{
	const struct dirx *d = &x->dir;
	*id = NULL;
	if (!d->d || d->d->n_elders == 0) {
		if (!registry_id_valid(item))
			return row_error(x, COL_ELDERS,
			                 "'%s' is not an elder id (names are found only when the "
			                 "registry's elders are at hand)",
			                 item);
		return (*id = strdup(item)) ? 0 : -ENOMEM;
	}
	size_t f, n = index_find(&d->eld_id, item, &f);
	if (n)
		return (*id = strdup(d->d->elders[d->eld_id.v[f].i]->id)) ? 0 : -ENOMEM;
	char *k = name_key(item);
	if (!k)
		return -ENOMEM;
	n = index_find(&d->eld_name, k, &f);
	free(k);
	if (n == 0)
		return row_error(x, COL_ELDERS,
		                 "no elder named '%s' (or with that id) in your scope", item);
	size_t best = SIZE_MAX, n_best = 0;
	for (size_t i = 0; i < n; i++)
		if (dir_within(d, d->d->elders[d->eld_name.v[f + i].i]->area, scope))
			best = f + i, n_best++;
	if (n == 1 || n_best == 1)
		return (*id = strdup(d->d->elders[d->eld_name.v[n == 1 ? f : best].i]->id))
		           ? 0
		           : -ENOMEM;
	char cand[600] = "";
	for (size_t i = 0; i < n && i < 8; i++) {
		const tf_elder *e = d->d->elders[d->eld_name.v[f + i].i];
		add_candidate(d, cand, sizeof cand, e->id,
		              *e->birth_date ? e->birth_date : "no birth date", e->area);
	}
	return row_error(x, COL_ELDERS, "'%s' names %zu elders: %s; write the id instead", item, n,
	                 cand);
}

static int parse_visitor_row(struct ctx *x, const struct sheet_row *rec, tf_visitor **out,
                             Tanfang__V1__ImportAssignment **asg)
{
	*out = NULL;
	*asg = NULL;
	tf_visitor *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	wire_init(WIRE_VISITOR, v);
	v->id = v->name = v->area = v->contact = NULL;
	char birth[11];
	bool male;
	char *idcard = NULL;
	int r = parse_idcard(x, rec, &idcard, birth, &male);
	const char *phone = field(x, rec, COL_PHONE);
	const char *id = field(x, rec, COL_ID);
	if (r == 0 && !*id)
		id = idcard && *idcard ? idcard : phone;
	if (r == 0 && !*id && x->bad == 0)
		r = row_error(
		    x,
		    x->map[COL_ID] >= 0       ? COL_ID
		    : x->map[COL_IDCARD] >= 0 ? COL_IDCARD
		                              : COL_PHONE,
		    "is empty, and the visitor needs an id (or an ID-card or phone number)");
	else if (r == 0 && *id && !registry_id_valid(id))
		r = row_error(x, COL_ID, "'%s' is not a valid id (1 to %d of A-Z a-z 0-9 _ . -)",
		              id, REGISTRY_ID_MAX);
	if (r == 0)
		r = (v->id = strdup(id)) ? 0 : -ENOMEM;
	if (r == 0)
		r = set_text(x, COL_NAME, field(x, rec, COL_NAME), REGISTRY_NAME_MAX, true,
		             &v->name);
	if (r == 0) {
		const char *role = field(x, rec, COL_ROLE);
		int rv = *role ? csvimport_role_value(role) : (x->o ? x->o->default_role : 0);
		if (rv > 0)
			v->role = (Tanfang__V1__Role)rv;
		else if (*role)
			r = row_error(
			    x, COL_ROLE,
			    "unknown role '%s' (网格员 grid_worker, 两委委员 village_cadre, "
			    "民政协理员 civil_affairs_assistant, 社工 social_worker, 志愿者 "
			    "volunteer, 党员 party_member, 医生 health_worker, 邻里户 "
			    "neighbour)",
			    role);
		else
			r = row_error(x, COL_ROLE,
			              "is empty (or the file has no role column) and no --role was "
			              "given");
	}
	if (r == 0)
		r = parse_area(x, field(x, rec, COL_AREA), &v->area);
	if (r == 0)
		r = set_text(x, COL_PHONE, phone, REGISTRY_NAME_MAX, false, &v->contact);
	if (r == 0 && v->id && *v->id)
		r = check_twins(x, x->map[COL_ID] >= 0 ? COL_ID : COL_IDCARD, "id", v->id, NULL,
		                "the same id");
	const char *elders = field(x, rec, COL_ELDERS);
	if (r == 0 && *elders) {
		char **items;
		size_t n;
		if ((r = csvimport_split(elders, &items, &n)) < 0)
			goto out;
		Tanfang__V1__ImportAssignment *a = calloc(1, sizeof *a);
		char **ids = n ? calloc(n, sizeof *ids) : NULL;
		if (!a || (n && !ids)) {
			free(a);
			free(ids);
			csvimport_list_free(items, n);
			r = -ENOMEM;
			goto out;
		}
		tanfang__v1__import_assignment__init(a);
		a->elder_ids = ids;
		for (size_t i = 0; r == 0 && i < n; i++) {
			char *eid;
			int bad = x->bad;
			r = resolve_elder(x, items[i], v->area ? v->area : "", &eid);
			if (r == 0 && x->bad == bad)
				ids[a->n_elder_ids++] = eid;
		}
		csvimport_list_free(items, n);
		a->neighbour = v->role == TANFANG__V1__ROLE__ROLE_NEIGHBOUR;
		if (r == 0 && !(a->visitor_id = strdup(v->id ? v->id : "")))
			r = -ENOMEM;
		if (r == 0 && x->bad == 0)
			*asg = a;
		else
			assignment_free(a);
	}
out:
	free(idcard);
	char **strs[] = {&v->id, &v->name, &v->area, &v->contact};
	for (size_t i = 0; r == 0 && i < sizeof strs / sizeof strs[0]; i++)
		if (!*strs[i] && !(*strs[i] = strdup("")))
			r = -ENOMEM;
	if (r == 0 && x->bad == 0) {
		*out = v;
		return 0;
	}
	assignment_free(*asg);
	*asg = NULL;
	visitor_free(v);
	return r;
}

/* The header: the first of the first ten rows that names two known
 * columns (a title row such as "扎赉特旗特殊困难老人花名册" may come
 * first), else the first non-empty row. */
static size_t find_header(const struct sheet *sh, const struct ctx *x)
{
	size_t first = SIZE_MAX;
	for (size_t i = 0; i < sh->n && i < 10; i++) {
		if (all_empty(&sh->rows[i]))
			continue;
		if (first == SIZE_MAX)
			first = i;
		size_t k = known_cells(&sh->rows[i], x->visitors);
		/* --map may name the header's columns. */
		for (size_t c = 0; k < 2 && c < sh->rows[i].n; c++) {
			enum col m;
			if (mapped(x, sh->rows[i].cells[c], &m) == 0 && m >= 0)
				k++;
		}
		if (k >= 2)
			return i;
	}
	return first == SIZE_MAX ? 0 : first;
}

static int check_rows(struct csvimport *ci, struct ctx *x, const struct sheet *sh)
{
	size_t h = find_header(sh, x);
	if (all_empty(&sh->rows[h]))
		return ci->n_errors ? 0
		                    : error(ci, "the file is empty; it needs a header row (姓名, "
		                                "身份证号码, 所属村（社区）, ...) and rows");
	x->hdr = &sh->rows[h];
	if (h > 0) {
		int w = warning(ci,
		                "line %zu is taken as the header; the %zu line%s above it %s "
		                "ignored",
		                x->hdr->line, h, h == 1 ? "" : "s", h == 1 ? "is" : "are");
		if (w < 0)
			return w;
	}
	int r = map_header(x);
	if (r != 0)
		return r < 0 ? r : 0;
	const struct sheet_row *recs = x->hdr + 1;
	size_t n = sh->n - h - 1;
	if (n == 0)
		return ci->n_errors ? 0 : error(ci, "the file has a header but no rows");
	if (hcreate_r(n * 4 + 64, &x->seen)) /* at most three keys a row */
		x->seen_ok = true;
	else
		return -ENOMEM;
	ci->rows = calloc(n, sizeof *ci->rows);
	ci->lines = calloc(n, sizeof *ci->lines);
	if (x->visitors) {
		ci->visitors = calloc(n, sizeof *ci->visitors);
		ci->assignments = calloc(n, sizeof *ci->assignments);
	} else {
		ci->elders = calloc(n, sizeof *ci->elders);
	}
	if (!ci->rows || !ci->lines ||
	    (x->visitors ? !ci->visitors || !ci->assignments : !ci->elders))
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct sheet_row *rec = &recs[i];
		/* A workbook leaves empty rows out: its rows count from the
		 * header as the sheet numbers them. */
		x->row = sh->workbook ? rec->line - x->hdr->line : i + 1;
		x->line = rec->line;
		x->bad = 0;
		ci->n_rows++;
		/* Spreadsheets often end with rows that only look empty. */
		if (all_empty(rec))
			continue;
		/* In a text file a short or long row is a shifted row; a workbook
		 * leaves trailing empty cells out. */
		if (!sh->workbook && rec->n != x->hdr->n) {
			r = row_error(x, COL_UNKNOWN, "has %zu cells, the header has %zu", rec->n,
			              x->hdr->n);
			continue;
		}
		size_t k = ci->n_elders + ci->n_visitors;
		if (x->visitors) {
			tf_visitor *v;
			Tanfang__V1__ImportAssignment *a;
			r = parse_visitor_row(x, rec, &v, &a);
			if (r == 0 && v) {
				ci->visitors[ci->n_visitors++] = v;
				if (a)
					ci->assignments[ci->n_assignments++] = a;
			}
		} else {
			tf_elder *e;
			r = parse_row(x, rec, &e);
			if (r == 0 && e)
				ci->elders[ci->n_elders++] = e;
		}
		if (k != ci->n_elders + ci->n_visitors)
			ci->rows[k] = x->row, ci->lines[k] = x->line;
	}
	return r;
}

static int parse_any(const char *data, size_t len, const struct csvimport_opts *o, bool visitors,
                     struct csvimport **out)
{
	struct csvimport *ci = calloc(1, sizeof *ci);
	if (!ci)
		return -ENOMEM;
	struct ctx x = {.ci = ci, .o = o, .visitors = visitors};
	struct sheet *sh = NULL;
	int r = sheet_parse(data, len, &sh);
	if (r == 0) {
		ci->format = sh->format;
		r = dirx_build(&x.dir, o ? o->dir : NULL);
	}
	if (r == 0)
		r = check_map(ci, o ? o->map : NULL);
	x.sh = sh;
	/* Rows before a syntax error are still checked, so one pass shows as
	 * much as possible; the error itself comes after theirs. */
	if (r == 0 && sh->n == 0 && !sh->error)
		r = error(ci, "the file is empty; it needs a header row (姓名, 身份证号码, "
		              "所属村（社区）, ...) and rows");
	if (r == 0 && sh->n > 0)
		r = check_rows(ci, &x, sh);
	if (r >= 0 && sh && sh->error)
		r = error(ci, "%s", sh->error);
	/* A header and nothing under it (the wrong sheet saved, the rows
	 * filtered out) would import nothing and say it did. */
	if (r >= 0 && !ci->n_errors && (visitors ? ci->n_visitors : ci->n_elders) == 0 && sh &&
	    sh->n > 0)
		r = error(ci, "no %s under the header: is this the right sheet or file?",
		          visitors ? "visitors" : "elders");
	if (x.seen_ok)
		hdestroy_r(&x.seen);
	csvimport_list_free(x.keys, x.n_keys);
	dirx_free(&x.dir);
	sheet_free(sh);
	if (r < 0) {
		csvimport_free(ci);
		return r;
	}
	if (ci->n_errors)
		drop_results(ci);
	*out = ci;
	return 0;
}

int csvimport_parse_opts(const char *data, size_t len, const struct csvimport_opts *o,
                         struct csvimport **out)
{
	return parse_any(data, len, o, false, out);
}

int csvimport_parse(const char *data, size_t len, struct csvimport **out)
{
	return parse_any(data, len, NULL, false, out);
}

int csvimport_visitors_parse(const char *data, size_t len, const struct csvimport_opts *o,
                             struct csvimport **out)
{
	return parse_any(data, len, o, true, out);
}

int csvimport_slurp(const char *path, char **out, size_t *outlen)
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
			/* The reason (a folder given for a file: EISDIR), not EIO. */
			if (ferror(f))
				r = errno ? -errno : -EIO;
			break;
		}
	}
	if (r == 0 && len > CSVIMPORT_MAX_BYTES)
		r = -EFBIG;
	if (!std)
		fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	if (!buf && !(buf = malloc(1)))
		return -ENOMEM;
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int csvimport_read_opts(const char *path, const struct csvimport_opts *o, struct csvimport **out)
{
	char *buf;
	size_t len;
	int r = csvimport_slurp(path, &buf, &len);
	if (r < 0)
		return r;
	r = csvimport_parse_opts(buf, len, o, out);
	free(buf);
	return r;
}

int csvimport_read(const char *path, struct csvimport **out)
{
	return csvimport_read_opts(path, NULL, out);
}
