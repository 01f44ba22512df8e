/* Visit policy: the INI file (docs/policy.md) into struct policy, and the
 * questions the schedule asks of it.
 *
 * inih does the INI syntax. We feed it through our own line reader so every
 * message can name its line (the Debian build of inih does not pass line
 * numbers to handlers), so an empty [rule.x] section is still seen (inih only
 * calls back for keys), and so an indented line is never taken as the
 * continuation of the previous value. A file is accepted whole or not at all:
 * the first problem is reported and nothing is returned. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#define DEFAULT_TIMEZONE "Asia/Shanghai"
#define N_HIGH_MAX       (sizeof(((struct policy *)0)->high_sets) / sizeof(uint32_t))

#define BIT(v) (UINT32_C(1) << (v))

/* ---- defaults ---------------------------------------------------------- */

static void default_high_sets(struct policy *pol)
{
	/* Living alone and unable to look after oneself: the elders the 2022
	 * Inner Mongolia notice puts in the weekly (high-risk) tier. */
	pol->high_sets[0] = BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE) |
	                    BIT(TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED);
	pol->high_sets[1] = BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE) |
	                    BIT(TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED);
	/* And the notice's own list: aged 80 or more and living alone,
	 * empty-nest or left behind, high risk from the 80th birthday. */
	pol->high_sets[2] = BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE);
	pol->high_sets[3] = BIT(TANFANG__V1__CATEGORY__CATEGORY_EMPTY_NEST);
	pol->high_sets[4] = BIT(TANFANG__V1__CATEGORY__CATEGORY_LEFT_BEHIND);
	pol->high_min_age[2] = pol->high_min_age[3] = pol->high_min_age[4] = 80;
	pol->n_high = 5;
}

static struct policy *policy_alloc(void)
{
	struct policy *pol = calloc(1, sizeof(*pol));

	if (!pol)
		return NULL;
	snprintf(pol->timezone, sizeof(pol->timezone), "%s", DEFAULT_TIMEZONE);
	default_high_sets(pol);
	return pol;
}

int policy_default(struct policy **out)
{
	static const struct policy_rule defaults[] = {
	    /* Every special-difficulty elder: a door or phone visit each
	     * calendar month (the 100% monthly visit rate target). */
	    {
	        .name = "monthly_visit",
	        .label = "每月探访",
	        .kinds = BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR) |
	                 BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE),
	        .duty = DUTY_ELDER,
	        .period = {PERIOD_MONTH, 0},
	        .report = REPORT_VISIT,
	    },
	    /* Each assigned party member visits every elder of their zone
	     * at least once a month. */
	    {
	        .name = "party_member",
	        .label = "党员探访",
	        .roles = BIT(TANFANG__V1__ROLE__ROLE_PARTY_MEMBER),
	        .kinds = BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR) |
	                 BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER),
	        .duty = DUTY_ASSIGNED,
	        .period = {PERIOD_MONTH, 0},
	        .report = REPORT_PARTY,
	    },
	    /* "1+2": each of the two neighbour households checks every 7 days. */
	    {
	        .name = "neighbour_check",
	        .label = "1+2邻里查看",
	        .kinds = BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_NEIGHBOUR_CHECK),
	        .duty = DUTY_NEIGHBOUR,
	        .period = {PERIOD_DAYS, 7},
	        .report = REPORT_NEIGHBOUR,
	        /* A neighbour cannot check on an elder who is in hospital. */
	        .pause_in_hospital = true,
	    },
	    /* High-risk tier: weekly. */
	    {
	        .name = "high_risk_weekly",
	        .label = "高风险每周探访",
	        .tiers = BIT(TANFANG__V1__RISK_TIER__RISK_TIER_HIGH),
	        .kinds = BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR) |
	                 BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE),
	        .duty = DUTY_ELDER,
	        .period = {PERIOD_WEEK, 0},
	        .report = REPORT_NONE,
	    },
	    /* The 2022 notice: a door visit within 24 hours of a major change
	     * (admitted to or discharged from hospital, a hazard found), due
	     * from the event's own time. */
	    {
	        .name = "after_major_change",
	        .label = "重大变化后探访",
	        .kinds = BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR),
	        .duty = DUTY_ELDER,
	        .report = REPORT_NONE,
	        .after_events = BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HOSPITALISED) |
	                        BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DISCHARGED) |
	                        BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HAZARD_FOUND),
	        .within_s = 24 * 3600,
	    },
	};
	size_t n = sizeof(defaults) / sizeof(defaults[0]);
	struct policy *pol = policy_alloc();

	if (!pol)
		return -ENOMEM;
	pol->rules = malloc(sizeof(defaults));
	if (!pol->rules) {
		free(pol);
		return -ENOMEM;
	}
	memcpy(pol->rules, defaults, sizeof(defaults));
	pol->n_rules = n;
	*out = pol;
	return 0;
}

void policy_free(struct policy *pol)
{
	if (!pol)
		return;
	free(pol->rules);
	free(pol);
}

/* ---- parsing ------------------------------------------------------------ */

enum section { SEC_NONE, SEC_POLICY, SEC_RULE, SEC_BAD };

struct parser {
	FILE *f;
	char *buf; /* getline's buffer */
	size_t bufsz;
	int line; /* lines read so far: the line inih is working on */
	int err_line;
	char msg[256];
	bool oom;
	bool read_error;

	struct policy *pol;
	size_t cap_rules;
	enum section sec;
	int sec_line;  /* line of the current section's header */
	unsigned seen; /* keys given in the current section, bit per key */
	bool policy_seen;
};

static void fail(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;

	if (ps->err_line && ps->err_line <= line)
		return; /* report the first problem in the file */
	ps->err_line = line;
	va_start(ap, fmt);
	vsnprintf(ps->msg, sizeof(ps->msg), fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	*e = '\0';
	return s;
}

/* Same rule as period_set_timezone, checked here so that a reload with a
 * wrong name is refused without touching the process's zone. */
static bool zone_exists(const char *tz)
{
	const char *dir = getenv("TZDIR");
	char path[4096];
	unsigned char magic[4];
	struct stat st;
	ssize_t n;
	int fd;

	if (!tz[0] || tz[0] == '/' || strstr(tz, "..") ||
	    strlen(tz) >= sizeof(((struct policy *)0)->timezone))
		return false;
	for (const char *c = tz; *c; c++) {
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || strchr("/_-+", *c)))
			return false;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", tz);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	n = read(fd, magic, sizeof(magic));
	close(fd);
	return n == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

static bool valid_rule_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= POLICY_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* A rule's required keys, checked when its section ends. */
enum rule_key {
	RK_ELDERS,
	RK_TIERS,
	RK_KINDS,
	RK_ROLES,
	RK_DUTY,
	RK_PERIOD,
	RK_REPORT,
	RK_HOSPITAL,
	RK_AFTER_EVENTS,
	RK_WITHIN,
	RK_LABEL
};
static const char *const rule_keys[] = {"elders",       "tiers",  "kinds",  "roles",
                                        "duty",         "period", "report", "while_hospitalised",
                                        "after_events", "within", "label"};
enum policy_key { PK_TIMEZONE, PK_HIGH_RISK };
static const char *const policy_keys[] = {"timezone", "high_risk"};

static void end_section(struct parser *ps)
{
	struct policy_rule *r;

	if (ps->sec != SEC_RULE)
		return;
	r = &ps->pol->rules[ps->pol->n_rules - 1];
	if (ps->seen & (BIT(RK_AFTER_EVENTS) | BIT(RK_WITHIN))) {
		/* A rule started by events: one elder-wide duty per event. */
		if (!(ps->seen & BIT(RK_AFTER_EVENTS)))
			fail(ps, ps->sec_line, "[rule.%s] has within but no after_events", r->name);
		else if (!(ps->seen & BIT(RK_WITHIN)))
			fail(ps, ps->sec_line,
			     "[rule.%s] has after_events but no within (e.g. 24h)", r->name);
		else if (ps->seen & BIT(RK_PERIOD))
			fail(ps, ps->sec_line,
			     "[rule.%s]: a rule with after_events has no period (it is due within)",
			     r->name);
		else if (r->duty != DUTY_ELDER)
			fail(ps, ps->sec_line,
			     "[rule.%s]: a rule with after_events has duty = elder", r->name);
		else if (r->report != REPORT_NONE)
			fail(ps, ps->sec_line,
			     "[rule.%s]: a rule with after_events has report = none", r->name);
		return;
	}
	if (!(ps->seen & BIT(RK_PERIOD)))
		fail(ps, ps->sec_line, "[rule.%s] has no period (month, week, quarter or days:N)",
		     r->name);
	else if (!(ps->seen & BIT(RK_DUTY)))
		fail(ps, ps->sec_line, "[rule.%s] has no duty (elder, assigned or neighbour)",
		     r->name);
}

static void begin_rule(struct parser *ps, const char *name)
{
	struct policy *pol = ps->pol;
	struct policy_rule *r;

	if (!valid_rule_name(name)) {
		fail(ps, ps->line, "bad rule name '%s' (use a-z, 0-9 and _, at most %d characters)",
		     name, POLICY_NAME_MAX - 1);
		ps->sec = SEC_BAD;
		return;
	}
	if (policy_find(pol, name)) {
		fail(ps, ps->line, "rule '%s' defined twice", name);
		ps->sec = SEC_BAD;
		return;
	}
	if (pol->n_rules == ps->cap_rules) {
		size_t cap = ps->cap_rules ? ps->cap_rules * 2 : 8;
		struct policy_rule *nr = realloc(pol->rules, cap * sizeof(*nr));

		if (!nr) {
			ps->oom = true;
			ps->sec = SEC_BAD;
			return;
		}
		pol->rules = nr;
		ps->cap_rules = cap;
	}
	r = &pol->rules[pol->n_rules++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->report = REPORT_NONE;
	ps->sec = SEC_RULE;
}

/* Called by the reader for a line starting with '['. inih parses the same
 * line; we only need the name, and leave a missing ']' to inih's error. */
static void begin_section(struct parser *ps, char *s)
{
	char *close = strchr(s, ']');
	char *name;

	end_section(ps);
	ps->seen = 0;
	ps->sec_line = ps->line;
	ps->sec = SEC_BAD;
	if (!close)
		return;
	*close = '\0';
	name = trim(s + 1);
	if (strcmp(name, "policy") == 0) {
		if (ps->policy_seen) {
			fail(ps, ps->line, "[policy] section given twice");
			return;
		}
		ps->policy_seen = true;
		ps->sec = SEC_POLICY;
	} else if (strncmp(name, "rule.", 5) == 0) {
		begin_rule(ps, name + 5);
	} else {
		fail(ps, ps->line, "unknown section [%s] (expected [policy] or [rule.NAME])", name);
	}
}

/* fgets-like reader for inih: counts lines, drops leading blanks (so no line
 * is a continuation), notices section headers and overlong lines. */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *ps = stream;
	ssize_t n = getline(&ps->buf, &ps->bufsz, ps->f);
	char *s;
	size_t len;

	if (n < 0) {
		if (ferror(ps->f))
			ps->read_error = true;
		return NULL;
	}
	ps->line++;
	s = ps->buf;
	if (ps->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* UTF-8 byte order mark, as Windows editors write */
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	if (len < (size_t)n - (size_t)(s - ps->buf))
		fail(ps, ps->line, "NUL byte in line");
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	/* inih needs room for "\r\n\0" after the text. */
	if (len + 3 > (size_t)num) {
		fail(ps, ps->line, "line too long (at most %d characters)", num - 3);
		len = (size_t)num - 3;
	}
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	if (str[0] == '[') {
		char hdr[512];

		snprintf(hdr, sizeof(hdr), "%.*s", (int)len, s);
		begin_section(ps, hdr);
	}
	return str;
}

typedef int (*name_value_fn)(const char *name);
typedef const char *(*value_name_fn)(int value);

/* The valid names go into the message so a typo is quick to fix. */
static void unknown_name(struct parser *ps, const char *what, const char *name,
                         value_name_fn namefn)
{
	char known[256] = "";
	size_t off = 0;

	if (strcmp(name, "any") == 0 || strcmp(name, "special") == 0 || strcmp(name, "none") == 0) {
		fail(ps, ps->line, "'%s' must stand alone, not in a list", name);
		return;
	}
	for (int i = 1; i < 32; i++) {
		const char *k = namefn(i);
		int w;

		if (strcmp(k, "?") == 0)
			continue;
		w = snprintf(known + off, sizeof(known) - off, "%s%s", off ? ", " : "", k);
		if (w < 0 || (size_t)w >= sizeof(known) - off)
			break;
		off += (size_t)w;
	}
	fail(ps, ps->line, "unknown %s '%s' (known: %s)", what, name, known);
}

/* "door, phone" -> bit mask (bit i = enum value i); `sep` is ',' for lists
 * and '+' inside a high_risk set. */
static bool parse_names(struct parser *ps, char *value, char sep, const char *what,
                        name_value_fn lookup, value_name_fn namefn, uint32_t *mask)
{
	uint32_t m = 0;

	/* Split by hand: strtok would skip the empty item in "door,,phone",
	 * which is a typo worth reporting. */
	for (char *item = value;;) {
		char *end = strchr(item, sep);
		char *name;
		int v;

		if (end)
			*end = '\0';
		name = trim(item);
		if (!name[0]) {
			fail(ps, ps->line, "empty %s name in list", what);
			return false;
		}
		v = lookup(name);
		if (v <= 0 || v >= 32) {
			unknown_name(ps, what, name, namefn);
			return false;
		}
		m |= BIT(v);
		if (!end)
			break;
		item = end + 1;
	}
	*mask = m;
	return true;
}

static bool parse_list(struct parser *ps, char *value, const char *any_word, const char *what,
                       name_value_fn lookup, value_name_fn namefn, uint32_t *mask)
{
	if (strcmp(value, any_word) == 0) {
		*mask = 0;
		return true;
	}
	return parse_names(ps, value, ',', what, lookup, namefn, mask);
}

static bool parse_period(struct parser *ps, const char *value, struct period *p)
{
	if (strcmp(value, "month") == 0) {
		*p = (struct period){PERIOD_MONTH, 0};
	} else if (strcmp(value, "week") == 0) {
		*p = (struct period){PERIOD_WEEK, 0};
	} else if (strcmp(value, "quarter") == 0) {
		*p = (struct period){PERIOD_QUARTER, 0};
	} else if (strncmp(value, "days:", 5) == 0) {
		const char *d = value + 5;
		unsigned n = 0;

		if (!*d || strlen(d) > 3)
			goto bad;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				goto bad;
			n = n * 10 + (unsigned)(*d - '0');
		}
		if (n < 1 || n > 366)
			goto bad;
		*p = (struct period){PERIOD_DAYS, n};
	} else {
		goto bad;
	}
	return true;
bad:
	fail(ps, ps->line, "bad period '%s' (month, week, quarter or days:N with N 1..366)", value);
	return false;
}

static bool parse_word(struct parser *ps, const char *value, const char *key,
                       const char *const *words, size_t n, const int *values, int *out)
{
	char known[128] = "";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(value, words[i]) == 0) {
			*out = values[i];
			return true;
		}
		strncat(known, i ? ", " : "", sizeof(known) - strlen(known) - 1);
		strncat(known, words[i], sizeof(known) - strlen(known) - 1);
	}
	fail(ps, ps->line, "bad %s '%s' (expected %s)", key, value, known);
	return false;
}

static bool parse_high_risk(struct parser *ps, char *value)
{
	struct policy *pol = ps->pol;
	char *set = value;

	pol->n_high = 0;
	if (strcmp(value, "none") == 0)
		return true;
	for (;;) {
		char *end = strchr(set, ',');
		uint32_t m;

		if (end)
			*end = '\0';
		if (pol->n_high == N_HIGH_MAX) {
			fail(ps, ps->line, "high_risk: at most %zu sets", N_HIGH_MAX);
			return false;
		}
		set = trim(set);
		/* "age>=N" is a condition of the set, the rest its categories. */
		unsigned age = 0;
		char cats[256] = "";
		for (char *item = set, *next; item; item = next) {
			next = strchr(item, '+');
			if (next)
				*next++ = '\0';
			item = trim(item);
			if (strncmp(item, "age>=", 5) == 0) {
				char *e;
				long a = strtol(item + 5, &e, 10);
				if (e == item + 5 || *e || a < 1 || a > 150 || age) {
					fail(ps, ps->line,
					     "high_risk: bad '%s' (one age>=N per set, N 1..150)",
					     item);
					return false;
				}
				age = (unsigned)a;
			} else if (strlen(cats) + strlen(item) + 2 < sizeof cats) {
				if (*cats)
					strcat(cats, "+");
				strcat(cats, item);
			}
		}
		m = 0;
		if (*cats && !parse_names(ps, cats, '+', "category", wire_category_value,
		                          wire_category_name, &m))
			return false;
		if (!m && !age) {
			fail(ps, ps->line, "high_risk: an empty set");
			return false;
		}
		pol->high_min_age[pol->n_high] = age;
		pol->high_sets[pol->n_high++] = m;
		if (!end)
			return true;
		set = end + 1;
	}
}

static bool policy_key(struct parser *ps, int key, char *value)
{
	switch (key) {
	case PK_TIMEZONE:
		if (!zone_exists(value)) {
			fail(ps, ps->line, "unknown time zone '%s' (no zone file of that name)",
			     value);
			return false;
		}
		snprintf(ps->pol->timezone, sizeof(ps->pol->timezone), "%s", value);
		return true;
	case PK_HIGH_RISK: return parse_high_risk(ps, value);
	}
	abort();
}

/* A label goes into replies as a protobuf string: UTF-8 only. */
static bool utf8_valid(const char *s)
{
	while (*s) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, -1, &cp);
		if (k <= 0)
			return false;
		s += k;
	}
	return true;
}

static bool rule_key(struct parser *ps, int key, char *value)
{
	static const char *const duties[] = {"elder", "assigned", "neighbour"};
	static const int duty_values[] = {DUTY_ELDER, DUTY_ASSIGNED, DUTY_NEIGHBOUR};
	static const char *const reports[] = {"visit", "party", "neighbour", "none"};
	static const int report_values[] = {REPORT_VISIT, REPORT_PARTY, REPORT_NEIGHBOUR,
	                                    REPORT_NONE};
	struct policy_rule *r = &ps->pol->rules[ps->pol->n_rules - 1];
	int v;

	switch (key) {
	case RK_LABEL:
		if (strlen(value) >= sizeof r->label || !utf8_valid(value)) {
			fail(ps, ps->line, "bad label (UTF-8 text, at most %zu bytes)",
			     sizeof r->label - 1);
			return false;
		}
		snprintf(r->label, sizeof r->label, "%s", value);
		return true;
	case RK_ELDERS:
		r->all_elders = strcmp(value, "all") == 0;
		if (r->all_elders) {
			r->categories = 0;
			return true;
		}
		return parse_list(ps, value, "special", "category", wire_category_value,
		                  wire_category_name, &r->categories);
	case RK_TIERS:
		return parse_list(ps, value, "any", "tier", wire_tier_value, wire_tier_name,
		                  &r->tiers);
	case RK_KINDS:
		return parse_list(ps, value, "any", "visit kind", wire_visit_kind_value,
		                  wire_visit_kind_name, &r->kinds);
	case RK_ROLES:
		return parse_list(ps, value, "any", "role", wire_role_value, wire_role_name,
		                  &r->roles);
	case RK_DUTY:
		if (!parse_word(ps, value, "duty", duties, 3, duty_values, &v))
			return false;
		r->duty = (enum duty_kind)v;
		return true;
	case RK_PERIOD: return parse_period(ps, value, &r->period);
	case RK_REPORT:
		if (!parse_word(ps, value, "report", reports, 4, report_values, &v))
			return false;
		r->report = (enum report_column)v;
		return true;
	case RK_HOSPITAL: {
		static const char *const words[] = {"keep", "pause"};
		static const int values[] = {0, 1};
		if (!parse_word(ps, value, "while_hospitalised", words, 2, values, &v))
			return false;
		r->pause_in_hospital = v;
		return true;
	}
	case RK_AFTER_EVENTS:
		return parse_names(ps, value, ',', "care event type", wire_event_type_value,
		                   wire_event_type_name, &r->after_events);
	case RK_WITHIN: {
		/* N followed by h (hours) or d (days): 1h .. 366d. */
		char *end;
		long n = strtol(value, &end, 10);
		long unit = strcmp(end, "h") == 0 ? 3600 : strcmp(end, "d") == 0 ? 86400 : 0;
		/* Divide rather than multiply: n is any long in the file, and
		 * n * unit overflowed for within = 9223372036854775807d (tests/fuzz). */
		if (end == value || !unit || n < 1 || n > 366L * 86400 / unit) {
			fail(ps, ps->line, "bad within '%s' (Nh or Nd, e.g. 24h, at most 366d)",
			     value);
			return false;
		}
		r->within_s = n * unit;
		return true;
	}
	}
	abort();
}

static int find_key(const char *const *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], name) == 0)
			return (int)i;
	return -1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *ps = user;
	const char *const *keys;
	size_t nkeys;
	char buf[256];
	char *hash, *v;
	int key;

	(void)section; /* ours is in ps->sec, with names longer than inih's 50 */
	switch (ps->sec) {
	case SEC_BAD: return 1; /* already reported at the header */
	case SEC_NONE: fail(ps, ps->line, "'%s' outside a section", name); return 0;
	case SEC_POLICY:
		keys = policy_keys;
		nkeys = sizeof(policy_keys) / sizeof(policy_keys[0]);
		break;
	case SEC_RULE:
		keys = rule_keys;
		nkeys = sizeof(rule_keys) / sizeof(rule_keys[0]);
		break;
	default: abort();
	}
	key = find_key(keys, nkeys, name);
	if (key < 0) {
		fail(ps, ps->line, "unknown key '%s' in [%s]", name,
		     ps->sec == SEC_POLICY ? "policy" : "rule.*");
		return 0;
	}
	if (ps->seen & BIT(key)) {
		fail(ps, ps->line, "key '%s' given twice in this section", name);
		return 0;
	}
	ps->seen |= BIT(key);
	/* inih strips " ; comments"; allow "# comments" at the end too, since
	 * '#' starts whole-line comments and no value contains one. */
	snprintf(buf, sizeof(buf), "%s", value);
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	v = trim(buf);
	if (!v[0]) {
		fail(ps, ps->line, "key '%s' has no value", name);
		return 0;
	}
	if (ps->sec == SEC_POLICY ? !policy_key(ps, key, v) : !rule_key(ps, key, v))
		return 0;
	return 1;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int policy_load(const char *path, struct policy **out, char *err, size_t errlen)
{
	struct parser ps = {0};
	int r, line;

	set_err(err, errlen, "%s", "");
	ps.f = fopen(path, "re");
	if (!ps.f) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	ps.pol = policy_alloc();
	if (!ps.pol) {
		r = -ENOMEM;
		goto out;
	}
	line = ini_parse_stream(read_line, &ps, handler, &ps);
	end_section(&ps);
	if (ps.oom || line == -2) {
		r = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (ps.read_error) {
		r = -EIO;
		set_err(err, errlen, "%s: read error", path);
		goto out;
	}
	/* inih reports the first line our handler refused or it could not
	 * parse; a line it could not parse has no message of ours. */
	if (line > 0 && (!ps.err_line || line < ps.err_line))
		fail(&ps, line, "syntax error (expected [section], key = value or a comment)");
	if (!ps.err_line && ps.pol->n_rules == 0)
		fail(&ps, ps.line > 0 ? ps.line : 1,
		     "no rules: a policy needs at least one [rule.NAME] section");
	if (ps.err_line) {
		r = -EINVAL;
		set_err(err, errlen, "%s:%d: %s", path, ps.err_line, ps.msg);
		goto out;
	}
	*out = ps.pol;
	ps.pol = NULL;
	r = 0;
out:
	policy_free(ps.pol);
	free(ps.buf);
	fclose(ps.f);
	return r;
}

/* ---- questions ---------------------------------------------------------- */

static uint32_t elder_categories(const tf_elder *e)
{
	uint32_t m = 0;

	for (size_t i = 0; i < e->n_categories; i++) {
		int c = (int)e->categories[i];

		/* UNSPECIFIED (0) is no category; values past 31 cannot be in a mask. */
		if (c > 0 && c < 32)
			m |= BIT(c);
	}
	return m;
}

/* "YYYY-MM-DD" (the registry checks the form) into its parts. A report
 * asks this of a million elders: no sscanf. */
static bool birth_parts(const tf_elder *e, int *y, int *m, int *d)
{
	const char *s = e->birth_date;
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	*y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	*m = (s[5] - '0') * 10 + (s[6] - '0');
	*d = (s[8] - '0') * 10 + (s[9] - '0');
	return true;
}

/* The local date of t; the last answer is kept per thread, as a report or
 * a schedule asks about the same instant for every elder. */
static bool local_date(int64_t t, int *y, int *m, int *d)
{
	static __thread int64_t last_t = INT64_MIN;
	static __thread int ly, lm, ld;
	if (t != last_t) {
		time_t tt = (time_t)t;
		struct tm tm;
		if (!localtime_r(&tt, &tm))
			return false;
		last_t = t, ly = tm.tm_year + 1900, lm = tm.tm_mon + 1, ld = tm.tm_mday;
	}
	*y = ly, *m = lm, *d = ld;
	return true;
}

int policy_age_at(const tf_elder *e, int64_t t)
{
	int by, bm, bd, y, m, d;
	if (!birth_parts(e, &by, &bm, &bd) || !local_date(t, &y, &m, &d))
		return -1;
	int age = y - by;
	if (m < bm || (m == bm && d < bd))
		age--;
	return age;
}

int64_t policy_birthday(const tf_elder *e, unsigned age)
{
	int by, bm, bd;
	if (!birth_parts(e, &by, &bm, &bd))
		return -1;
	/* mktime normalises 29 February of a common year to 1 March. */
	struct tm tm = {
	    .tm_year = by + (int)age - 1900, .tm_mon = bm - 1, .tm_mday = bd, .tm_isdst = -1};
	time_t t = mktime(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

int policy_elder_tier(const struct policy *pol, const tf_elder *e, int64_t at)
{
	uint32_t cats;

	if (e->risk_tier != TANFANG__V1__RISK_TIER__RISK_TIER_UNSPECIFIED)
		return (int)e->risk_tier;
	cats = elder_categories(e);
	int age = -2; /* not yet computed */
	for (size_t i = 0; i < pol->n_high; i++) {
		if ((cats & pol->high_sets[i]) != pol->high_sets[i])
			continue;
		if (pol->high_min_age[i]) {
			if (age == -2)
				age = policy_age_at(e, at);
			if (age < (int)pol->high_min_age[i])
				continue;
		} else if (!pol->high_sets[i]) {
			continue;
		}
		return TANFANG__V1__RISK_TIER__RISK_TIER_HIGH;
	}
	return cats ? TANFANG__V1__RISK_TIER__RISK_TIER_KEY
	            : TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL;
}

bool policy_rule_applies(const struct policy *pol, const struct policy_rule *r, const tf_elder *e,
                         int64_t at)
{
	uint32_t cats = elder_categories(e);

	if (r->tiers) {
		int t = policy_elder_tier(pol, e, at);

		if (t < 0 || t >= 32 || !(r->tiers & BIT(t)))
			return false;
	}
	if (r->all_elders)
		return true;
	if (r->categories == 0)
		return cats != 0; /* "special": any special-difficulty category */
	return (cats & r->categories) != 0;
}

bool policy_visit_counts(const struct policy_rule *r, int role, int kind)
{
	if (r->roles && (role < 0 || role >= 32 || !(r->roles & BIT(role))))
		return false;
	if (r->kinds && (kind < 0 || kind >= 32 || !(r->kinds & BIT(kind))))
		return false;
	return true;
}

const struct policy_rule *policy_find(const struct policy *pol, const char *name)
{
	for (size_t i = 0; i < pol->n_rules; i++)
		if (strcmp(pol->rules[i].name, name) == 0)
			return &pol->rules[i];
	return NULL;
}

/* Field by field, never the raw structs: padding bytes are not part of a
 * policy. */
static void fp_u32(crypto_generichash_state *st, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	crypto_generichash_update(st, b, sizeof b);
}

static void fp_str(crypto_generichash_state *st, const char *s)
{
	size_t n = strlen(s);
	fp_u32(st, (uint32_t)n);
	crypto_generichash_update(st, (const uint8_t *)s, n);
}

void policy_fingerprint(const struct policy *pol, uint8_t out[POLICY_FINGERPRINT_LEN])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, POLICY_FINGERPRINT_LEN);
	fp_str(&st, "tanfang policy fingerprint v1");
	fp_str(&st, pol->timezone);
	fp_u32(&st, (uint32_t)pol->n_high);
	for (size_t i = 0; i < pol->n_high; i++) {
		fp_u32(&st, pol->high_sets[i]);
		fp_u32(&st, pol->high_min_age[i]);
	}
	fp_u32(&st, (uint32_t)pol->n_rules);
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *r = &pol->rules[i];
		fp_str(&st, r->name);
		fp_u32(&st, r->categories);
		fp_u32(&st, r->tiers);
		fp_u32(&st, r->all_elders);
		fp_u32(&st, r->roles);
		fp_u32(&st, r->kinds);
		fp_u32(&st, (uint32_t)r->duty);
		fp_u32(&st, (uint32_t)r->period.kind);
		fp_u32(&st, r->period.days);
		fp_u32(&st, (uint32_t)r->report);
		fp_u32(&st, r->pause_in_hospital);
		fp_u32(&st, r->after_events);
		fp_u32(&st, (uint32_t)r->within_s);
	}
	crypto_generichash_final(&st, out, POLICY_FINGERPRINT_LEN);
}
