/* policy: the example file equals the defaults, every kind of bad file is
 * refused with its line, tiers are derived from categories, rules match. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "period.h"
#include "policy.h"
#include "tf_test.h"

/* Tiers are read at one time; these elders have no birth date, so the
 * age sets of the default high_risk never match them. */
#define T_TIER 1793462400 /* 2026-11-01 00:00 Asia/Shanghai */
#define BIT(v) (UINT32_C(1) << (v))

static const char *tmpdir;
static char tmpfile_path[300];

static void write_file(const char *text)
{
	FILE *f = fopen(tmpfile_path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(tmpfile_path);
		exit(1);
	}
}

static int load_text(const char *text, struct policy **out, char *err, size_t errlen)
{
	write_file(text);
	return policy_load(tmpfile_path, out, err, errlen);
}

/* The file must be refused with -EINVAL, and the message must start with
 * "<path>:<line>: " and contain `what`. */
static void expect_error_at(int srcline, const char *text, int line, const char *what)
{
	struct policy *pol = NULL;
	char err[512];
	char prefix[400];
	int r = load_text(text, &pol, err, sizeof(err));

	snprintf(prefix, sizeof(prefix), "%s:%d: ", tmpfile_path, line);
	if (r != -EINVAL || pol != NULL || strncmp(err, prefix, strlen(prefix)) != 0 ||
	    !strstr(err, what))
		tft_fail(__FILE__, srcline,
		         "expected -EINVAL with \"%s...%s\"\n  got %d, \"%s\"\n  for:\n%s", prefix,
		         what, r, err, text);
	tft_pass();
	policy_free(pol);
}
#define EXPECT_ERROR(text, line, what) expect_error_at(__LINE__, text, line, what)

static void check_same_policy(const struct policy *a, const struct policy *b)
{
	CHECK_STREQ(a->timezone, b->timezone);
	CHECK_EQ_INT(a->n_high, b->n_high);
	for (size_t i = 0; i < a->n_high && i < b->n_high; i++) {
		CHECK_EQ_INT(a->high_sets[i], b->high_sets[i]);
		CHECK_EQ_INT(a->high_min_age[i], b->high_min_age[i]);
	}
	CHECK_EQ_INT(a->n_rules, b->n_rules);
	for (size_t i = 0; i < a->n_rules && i < b->n_rules; i++) {
		const struct policy_rule *x = &a->rules[i], *y = &b->rules[i];

		CHECK_STREQ(x->name, y->name);
		CHECK_EQ_INT(x->categories, y->categories);
		CHECK_EQ_INT(x->tiers, y->tiers);
		CHECK_EQ_INT(x->roles, y->roles);
		CHECK_EQ_INT(x->kinds, y->kinds);
		CHECK_EQ_INT(x->duty, y->duty);
		CHECK_EQ_INT(x->period.kind, y->period.kind);
		CHECK_EQ_INT(x->period.days, y->period.days);
		CHECK_EQ_INT(x->report, y->report);
		CHECK_EQ_INT(x->pause_in_hospital, y->pause_in_hospital);
		CHECK_EQ_INT(x->after_events, y->after_events);
		CHECK_EQ_INT(x->within_s, y->within_s);
	}
}

/* The defaults are those of BRIEF.md section 3, spelled out in proto terms. */
static void test_default(void)
{
	struct policy *pol = NULL;
	const struct policy_rule *r;

	CHECK_EQ_INT(policy_default(&pol), 0);
	CHECK_STREQ(pol->timezone, "Asia/Shanghai");
	CHECK_EQ_INT(pol->n_high, 5);
	CHECK_EQ_INT(pol->high_sets[0], BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE) |
	                                    BIT(TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED));
	CHECK_EQ_INT(pol->high_sets[1], BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE) |
	                                    BIT(TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED));
	CHECK_EQ_INT(pol->high_min_age[0], 0);
	/* The 2022 notice: 80 or older and living alone, empty-nest or left behind. */
	CHECK_EQ_INT(pol->high_sets[2], BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE));
	CHECK_EQ_INT(pol->high_sets[3], BIT(TANFANG__V1__CATEGORY__CATEGORY_EMPTY_NEST));
	CHECK_EQ_INT(pol->high_sets[4], BIT(TANFANG__V1__CATEGORY__CATEGORY_LEFT_BEHIND));
	CHECK_EQ_INT(pol->high_min_age[2], 80);
	CHECK_EQ_INT(pol->high_min_age[4], 80);
	CHECK_EQ_INT(pol->n_rules, 5);
	r = policy_find(pol, "after_major_change");
	CHECK(r && r->within_s == 24 * 3600 && r->duty == DUTY_ELDER && r->report == REPORT_NONE &&
	      r->kinds == BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR));
	CHECK(r &&
	      r->after_events == (BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HOSPITALISED) |
	                          BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_DISCHARGED) |
	                          BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HAZARD_FOUND)));

	r = policy_find(pol, "monthly_visit");
	CHECK(r && r->categories == 0 && r->tiers == 0 && r->roles == 0);
	CHECK(r && r->kinds == (BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR) |
	                        BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE)));
	CHECK(r && r->duty == DUTY_ELDER && r->period.kind == PERIOD_MONTH &&
	      r->report == REPORT_VISIT);

	r = policy_find(pol, "party_member");
	CHECK(r && r->categories == 0 && r->tiers == 0);
	CHECK(r && r->roles == BIT(TANFANG__V1__ROLE__ROLE_PARTY_MEMBER));
	CHECK(r && r->kinds == (BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR) |
	                        BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER)));
	CHECK(r && r->duty == DUTY_ASSIGNED && r->period.kind == PERIOD_MONTH &&
	      r->report == REPORT_PARTY);

	r = policy_find(pol, "neighbour_check");
	CHECK(r && r->categories == 0 && r->tiers == 0 && r->roles == 0);
	CHECK(r && r->kinds == BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_NEIGHBOUR_CHECK));
	CHECK(r && r->duty == DUTY_NEIGHBOUR && r->period.kind == PERIOD_DAYS &&
	      r->period.days == 7 && r->report == REPORT_NEIGHBOUR);

	r = policy_find(pol, "high_risk_weekly");
	CHECK(r && r->categories == 0 && r->roles == 0);
	CHECK(r && r->tiers == BIT(TANFANG__V1__RISK_TIER__RISK_TIER_HIGH));
	CHECK(r && r->kinds == (BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR) |
	                        BIT(TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE)));
	CHECK(r && r->duty == DUTY_ELDER && r->period.kind == PERIOD_WEEK &&
	      r->report == REPORT_NONE);

	CHECK(policy_find(pol, "nope") == NULL);
	CHECK(policy_find(pol, "") == NULL);
	policy_free(pol);
	policy_free(NULL);
}

static void test_example_file(void)
{
	const char *src = getenv("TANFANG_SRC");
	struct policy *def = NULL, *pol = NULL;
	char path[1024], err[512];
	int r;

	snprintf(path, sizeof(path), "%s/deploy/policy.conf", src ? src : ".");
	r = policy_load(path, &pol, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "loading %s: %s\n", path, err);
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(policy_default(&def), 0);
	check_same_policy(pol, def);
	policy_free(pol);
	policy_free(def);
}

static void test_errors(void)
{
	struct policy *pol = NULL;
	char err[512], path[400];
	const char *rule = "[rule.r]\nduty = elder\nperiod = month\n";
	char buf[1024];

	EXPECT_ERROR("[policy]\ntimezone = Asia/Shanghai\n[rules.x]\nduty = elder\n", 3,
	             "unknown section [rules.x]");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nperiodd = week\n", 4,
	             "unknown key 'periodd'");
	EXPECT_ERROR("[policy]\nzone = UTC\n[rule.r]\nduty = elder\nperiod = month\n", 2,
	             "unknown key 'zone'");
	EXPECT_ERROR("timezone = UTC\n[rule.r]\nduty = elder\nperiod = month\n", 1,
	             "outside a section");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nelders = living_alone, lonely\n", 4,
	             "unknown category 'lonely'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nroles = grid_worker, mayor\n", 4,
	             "unknown role 'mayor'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nkinds = door, letter\n", 4,
	             "unknown visit kind 'letter'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\ntiers = urgent\n", 4,
	             "unknown tier 'urgent'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nroles = any, party_member\n", 4,
	             "must stand alone");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nkinds = door,,phone\n", 4,
	             "empty visit kind name");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nkinds = unspecified\n", 4,
	             "unknown visit kind");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = fortnight\n", 3, "bad period 'fortnight'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = days:0\n", 3, "bad period");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = days:367\n", 3, "bad period");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = days:7x\n", 3, "bad period");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = days:\n", 3, "bad period");
	EXPECT_ERROR("[rule.r]\nduty = everyone\nperiod = month\n", 2, "bad duty 'everyone'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nreport = all\n", 4,
	             "bad report 'all'");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nreport =\n", 4, "no value");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nduty = assigned\n", 4, "given twice");
	EXPECT_ERROR("[rule.a]\nduty = elder\nperiod = month\n\n[rule.a]\nduty = elder\n"
	             "period = week\n",
	             5, "rule 'a' defined twice");
	EXPECT_ERROR("[policy]\n[policy]\n[rule.r]\nduty = elder\nperiod = month\n", 2,
	             "[policy] section given twice");
	/* A missing key is reported at the section's header. */
	EXPECT_ERROR("# comment\n[rule.r]\nduty = elder\nkinds = door\n[rule.s]\nduty = elder\n"
	             "period = week\n",
	             2, "[rule.r] has no period");
	EXPECT_ERROR("[rule.s]\nduty = elder\nperiod = week\n[rule.r]\nperiod = month\n", 4,
	             "[rule.r] has no duty");
	EXPECT_ERROR("[rule.s]\nduty = elder\nperiod = week\n[rule.empty]\n", 4,
	             "[rule.empty] has no period");
	EXPECT_ERROR("[policy]\ntimezone = Asia/Shanghai\n", 2, "no rules");
	EXPECT_ERROR("", 1, "no rules");
	EXPECT_ERROR("[policy]\ntimezone = Mars/Olympus_Mons\n[rule.r]\nduty = elder\nperiod = "
	             "month\n",
	             2, "unknown time zone 'Mars/Olympus_Mons'");
	EXPECT_ERROR("[policy]\ntimezone = ../../etc/passwd\n", 2, "unknown time zone");
	EXPECT_ERROR("[policy]\ntimezone = Asia\n", 2, "unknown time zone");
	EXPECT_ERROR("[policy]\ntimezone = /etc/localtime\n", 2, "unknown time zone");
	EXPECT_ERROR("[policy]\nhigh_risk = living_alone+sad\n", 2, "unknown category 'sad'");
	EXPECT_ERROR("[policy]\nhigh_risk = living_alone+, empty_nest\n", 2, "empty category");
	EXPECT_ERROR("[policy]\nhigh_risk = living_alone, empty_nest, left_behind, "
	             "incapacitated, severely_disabled, family_planning_special, "
	             "extreme_poverty, living_alone+empty_nest, empty_nest+left_behind\n",
	             2, "at most 8 sets");
	EXPECT_ERROR("[rule.Monthly]\nduty = elder\nperiod = month\n", 1,
	             "bad rule name 'Monthly'");
	EXPECT_ERROR("[rule.a-b]\nduty = elder\nperiod = month\n", 1, "bad rule name");
	EXPECT_ERROR("[rule.]\nduty = elder\nperiod = month\n", 1, "bad rule name");
	EXPECT_ERROR("[rule.abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstu]\nduty = elder\n"
	             "period = month\n",
	             1, "at most 47 characters");
	/* Lines inih cannot read at all. */
	EXPECT_ERROR("[rule.r\nduty = elder\nperiod = month\n", 1, "syntax error");
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\njust words\n", 4, "syntax error");
	/* An indented line is not a continuation of the value above. */
	EXPECT_ERROR("[rule.r]\nduty = elder\nperiod = month\nkinds = door\n  phone\n", 5,
	             "syntax error");
	snprintf(buf, sizeof(buf), "%s# %.*s\n", rule, 300,
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	EXPECT_ERROR(buf, 4, "line too long");
	/* A NUL byte would silently cut the line short. */
	{
		static const char nul[] = "[rule.r]\nduty = elder\nperiod = month\0 # x\n";
		FILE *f = fopen(tmpfile_path, "w");

		CHECK(f && fwrite(nul, 1, sizeof(nul) - 1, f) == sizeof(nul) - 1);
		CHECK(f && fclose(f) == 0);
		pol = NULL;
		CHECK_EQ_INT(policy_load(tmpfile_path, &pol, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, ":3: NUL byte") != NULL);
		CHECK(pol == NULL);
	}
	/* The first problem in the file is the one reported. */
	EXPECT_ERROR("[rule.r]\nduty = elder\nkinds = fax\nperiod = month\nroles = king\n", 3,
	             "unknown visit kind 'fax'");
	EXPECT_ERROR("[rule.r]\nduty = elder\n[bogus]\nperiod = month\n", 1, "has no period");

	/* Cannot read: the errno, and the path in the message. */
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	pol = NULL;
	CHECK_EQ_INT(policy_load(path, &pol, err, sizeof(err)), -ENOENT);
	CHECK(pol == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK_EQ_INT(policy_load(tmpdir, &pol, err, sizeof(err)) < 0, 1); /* a directory */
	CHECK(pol == NULL);
	if (geteuid() != 0) { /* root reads anything */
		write_file(rule);
		CHECK_EQ_INT(chmod(tmpfile_path, 0), 0);
		CHECK_EQ_INT(policy_load(tmpfile_path, &pol, err, sizeof(err)), -EACCES);
		CHECK(pol == NULL);
		CHECK_EQ_INT(chmod(tmpfile_path, 0600), 0);
	}
	/* A NULL or empty error buffer is allowed. */
	CHECK_EQ_INT(load_text("[bogus]\n", &pol, NULL, 0), -EINVAL);
	CHECK(pol == NULL);
}

/* Everything the format allows, in one file. */
static void test_full_syntax(void)
{
	struct policy *pol = NULL;
	const struct policy_rule *r;
	char err[512];
	int rc;

	rc = load_text("\xEF\xBB\xBF# written by hand\r\n"
	               "[policy]\r\n"
	               "timezone = Europe/Berlin   # comment after a value\r\n"
	               "high_risk = none\r\n"
	               "\n"
	               "  [ rule.quarterly_general ]   ; a quarterly rule\n"
	               "  tiers = general, key\n"
	               "  elders = incapacitated ,severely_disabled\n"
	               "  kinds = any\n"
	               "roles=grid_worker,village_cadre ; inline\n"
	               "duty: elder\n"
	               "period = quarter\n"
	               "[rule.abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrst]\n"
	               "duty = neighbour\n"
	               "period = days:14\n"
	               "report = neighbour\n",
	               &pol, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "full syntax: %s\n", err);
	CHECK_EQ_INT(rc, 0);
	CHECK_STREQ(pol->timezone, "Europe/Berlin");
	CHECK_EQ_INT(pol->n_high, 0);
	CHECK_EQ_INT(pol->n_rules, 2);
	r = policy_find(pol, "quarterly_general");
	CHECK(r != NULL);
	CHECK_EQ_INT(r->tiers, BIT(TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL) |
	                           BIT(TANFANG__V1__RISK_TIER__RISK_TIER_KEY));
	CHECK_EQ_INT(r->categories, BIT(TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED) |
	                                BIT(TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED));
	CHECK_EQ_INT(r->kinds, 0);
	CHECK_EQ_INT(r->roles, BIT(TANFANG__V1__ROLE__ROLE_GRID_WORKER) |
	                           BIT(TANFANG__V1__ROLE__ROLE_VILLAGE_CADRE));
	CHECK_EQ_INT(r->duty, DUTY_ELDER);
	CHECK_EQ_INT(r->period.kind, PERIOD_QUARTER);
	CHECK_EQ_INT(r->report, REPORT_NONE);                                    /* the default */
	r = policy_find(pol, "abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrst"); /* 47 chars */
	CHECK(r != NULL);
	CHECK_EQ_INT(r->duty, DUTY_NEIGHBOUR);
	CHECK_EQ_INT(r->period.kind, PERIOD_DAYS);
	CHECK_EQ_INT(r->period.days, 14);
	CHECK_EQ_INT(r->report, REPORT_NEIGHBOUR);
	CHECK_EQ_INT(r->categories | r->tiers | r->roles | r->kinds, 0);
	policy_free(pol);

	/* Without a [policy] section the zone and tiers keep their defaults. */
	pol = NULL;
	CHECK_EQ_INT(load_text("[rule.r]\nduty = elder\nperiod = week\n", &pol, err, sizeof(err)),
	             0);
	CHECK_STREQ(pol->timezone, "Asia/Shanghai");
	CHECK_EQ_INT(pol->n_high, 5);
	CHECK_EQ_INT(pol->n_rules, 1);
	policy_free(pol);
}

static void elder_with(tf_elder *e, Tanfang__V1__Category *cats, size_t n, int tier)
{
	wire_init(WIRE_ELDER, e);
	e->categories = cats;
	e->n_categories = n;
	e->risk_tier = (Tanfang__V1__RiskTier)tier;
}

static void test_tiers_and_rules(void)
{
	struct policy *pol = NULL, *custom = NULL;
	tf_elder e;
	Tanfang__V1__Category alone_incap[] = {TANFANG__V1__CATEGORY__CATEGORY_EMPTY_NEST,
	                                       TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED,
	                                       TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE};
	Tanfang__V1__Category alone_disabled[] = {TANFANG__V1__CATEGORY__CATEGORY_SEVERELY_DISABLED,
	                                          TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE};
	Tanfang__V1__Category alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE};
	Tanfang__V1__Category incap[] = {TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED};
	Tanfang__V1__Category unspec[] = {TANFANG__V1__CATEGORY__CATEGORY_UNSPECIFIED};
	const int HIGH = TANFANG__V1__RISK_TIER__RISK_TIER_HIGH;
	const int KEY = TANFANG__V1__RISK_TIER__RISK_TIER_KEY;
	const int GENERAL = TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL;
	const int UNSET = TANFANG__V1__RISK_TIER__RISK_TIER_UNSPECIFIED;
	const struct policy_rule *monthly, *weekly, *party, *r;
	char err[512];

	CHECK_EQ_INT(policy_default(&pol), 0);
	monthly = policy_find(pol, "monthly_visit");
	weekly = policy_find(pol, "high_risk_weekly");
	party = policy_find(pol, "party_member");
	CHECK(monthly && weekly && party);

	/* Derived tiers: all of one high set -> HIGH, any category -> KEY. */
	elder_with(&e, alone_incap, 3, UNSET);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), HIGH);
	CHECK(policy_rule_applies(pol, weekly, &e, T_TIER));
	CHECK(policy_rule_applies(pol, monthly, &e, T_TIER));
	elder_with(&e, alone_disabled, 2, UNSET);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), HIGH);
	elder_with(&e, alone, 1, UNSET);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), KEY);
	CHECK(!policy_rule_applies(pol, weekly, &e, T_TIER));
	CHECK(policy_rule_applies(pol, monthly, &e, T_TIER));
	elder_with(&e, incap, 1, UNSET);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), KEY);
	elder_with(&e, NULL, 0, UNSET);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), GENERAL);
	CHECK(!policy_rule_applies(pol, monthly, &e, T_TIER)); /* not special-difficulty */
	elder_with(&e, unspec, 1, UNSET);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), GENERAL);
	CHECK(!policy_rule_applies(pol, monthly, &e, T_TIER));

	/* A tier set by hand wins over the derivation, both ways. */
	elder_with(&e, alone_incap, 3, GENERAL);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), GENERAL);
	CHECK(!policy_rule_applies(pol, weekly, &e, T_TIER));
	CHECK(policy_rule_applies(pol, monthly, &e, T_TIER));
	elder_with(&e, alone, 1, HIGH);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, T_TIER), HIGH);
	CHECK(policy_rule_applies(pol, weekly, &e, T_TIER));

	/* Which visits count. */
	const int DOOR = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR;
	const int PHONE = TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE;
	const int HEALTH = TANFANG__V1__VISIT_KIND__VISIT_KIND_HEALTH;
	const int PARTY_KIND = TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER;
	const int GRID = TANFANG__V1__ROLE__ROLE_GRID_WORKER;
	const int PARTY = TANFANG__V1__ROLE__ROLE_PARTY_MEMBER;
	CHECK(policy_visit_counts(monthly, GRID, DOOR));
	CHECK(policy_visit_counts(monthly, PARTY, PHONE));
	CHECK(!policy_visit_counts(monthly, GRID, HEALTH));
	CHECK(!policy_visit_counts(monthly, GRID, -1));
	CHECK(!policy_visit_counts(monthly, GRID, 99));
	CHECK(policy_visit_counts(party, PARTY, DOOR));
	CHECK(policy_visit_counts(party, PARTY, PARTY_KIND));
	CHECK(!policy_visit_counts(party, PARTY, PHONE));
	CHECK(!policy_visit_counts(party, GRID, DOOR));
	CHECK(!policy_visit_counts(party, -1, DOOR));
	CHECK(!policy_visit_counts(party, 40, DOOR));

	/* Named categories: any one of them; high_risk = none makes no HIGH. */
	CHECK_EQ_INT(load_text("[policy]\nhigh_risk = none\n"
	                       "[rule.incapacitated]\nelders = incapacitated, severely_disabled\n"
	                       "tiers = key, high\nroles = any\nkinds = any\nduty = elder\n"
	                       "period = week\n",
	                       &custom, err, sizeof(err)),
	             0);
	r = policy_find(custom, "incapacitated");
	CHECK(r != NULL);
	elder_with(&e, alone_incap, 3, UNSET);
	CHECK_EQ_INT(policy_elder_tier(custom, &e, T_TIER), KEY);
	CHECK(policy_rule_applies(custom, r, &e, T_TIER));
	elder_with(&e, alone, 1, UNSET);
	CHECK(!policy_rule_applies(custom, r, &e, T_TIER));
	elder_with(&e, incap, 1, GENERAL); /* right category, wrong tier */
	CHECK(!policy_rule_applies(custom, r, &e, T_TIER));
	elder_with(&e, incap, 1, UNSET);
	CHECK(policy_rule_applies(custom, r, &e, T_TIER));
	CHECK(policy_visit_counts(r, GRID, HEALTH));
	CHECK(policy_visit_counts(r, 0, 0));
	policy_free(custom);
	policy_free(pol);
}

/* "elders = all" reaches the general tier, which has no categories. */
static void test_all_elders(void)
{
	struct policy *pol = NULL;
	char err[512];
	tf_elder e;

	CHECK_EQ_INT(load_text("[rule.general_quarterly]\nelders = all\ntiers = general\n"
	                       "kinds = door, phone\nduty = elder\nperiod = quarter\n",
	                       &pol, err, sizeof(err)),
	             0);
	const struct policy_rule *r = policy_find(pol, "general_quarterly");
	CHECK(r && r->all_elders);
	wire_init(WIRE_ELDER, &e);
	CHECK(policy_rule_applies(pol, r, &e, T_TIER)); /* no category: general tier */
	Tanfang__V1__Category alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE};
	e.categories = alone, e.n_categories = 1;
	CHECK(!policy_rule_applies(pol, r, &e, T_TIER)); /* key tier */
	policy_free(pol);
}

/* Same rules, same fingerprint; any schedule-shaping change, another. */
static void test_fingerprint(void)
{
	struct policy *a = NULL, *b = NULL;
	uint8_t fa[POLICY_FINGERPRINT_LEN], fb[POLICY_FINGERPRINT_LEN];
	CHECK_EQ_INT(policy_default(&a), 0);
	CHECK_EQ_INT(policy_default(&b), 0);
	policy_fingerprint(a, fa);
	policy_fingerprint(b, fb);
	CHECK(memcmp(fa, fb, sizeof fa) == 0);
	b->rules[0].period.kind = PERIOD_WEEK;
	policy_fingerprint(b, fb);
	CHECK(memcmp(fa, fb, sizeof fa) != 0);
	b->rules[0].period.kind = a->rules[0].period.kind;
	b->n_high = 0;
	policy_fingerprint(b, fb);
	CHECK(memcmp(fa, fb, sizeof fa) != 0);
	policy_free(a);
	policy_free(b);
}

/* The 2022 notice's time rules: an age in a high-risk set (the tier changes
 * on the birthday itself, at local midnight), and rules started by care
 * events, due within a time of the event. */
static void test_time_rules(void)
{
	struct policy *pol = NULL;
	char err[512];
	const int HIGH = TANFANG__V1__RISK_TIER__RISK_TIER_HIGH;
	const int KEY = TANFANG__V1__RISK_TIER__RISK_TIER_KEY;
	CHECK_OK(period_set_timezone("Asia/Shanghai"));
	CHECK_EQ_INT(load_text("[policy]\nhigh_risk = age>=80+living_alone, age>=100\n\n"
	                       "[rule.w]\ntiers = high\nduty = elder\nperiod = week\n\n"
	                       "[rule.d]\nafter_events = hospitalised, hazard_found\nwithin = 24h\n"
	                       "duty = elder\nkinds = door\n\n"
	                       "[rule.d2]\nafter_events = fall\nwithin = 2d\nduty = elder\n",
	                       &pol, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(pol->n_high, 2);
	CHECK_EQ_INT(pol->high_min_age[0], 80);
	CHECK_EQ_INT(pol->high_sets[0], BIT(TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE));
	CHECK_EQ_INT(pol->high_min_age[1], 100);
	CHECK_EQ_INT(pol->high_sets[1], 0);
	const struct policy_rule *d = policy_find(pol, "d"), *d2 = policy_find(pol, "d2");
	CHECK(d && d->within_s == 86400 && d2 && d2->within_s == 2 * 86400);
	CHECK(d &&
	      d->after_events == (BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HOSPITALISED) |
	                          BIT(TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HAZARD_FOUND)));

	/* Born 5 December 1946: 80 at 2026-12-05 00:00 in Asia/Shanghai
	 * (1796400000), one second before still 79 and key tier. */
	tf_elder e;
	Tanfang__V1__Category alone[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE};
	elder_with(&e, alone, 1, 0);
	e.birth_date = "1946-12-05";
	CHECK_EQ_INT(policy_age_at(&e, 1796400000 - 1), 79);
	CHECK_EQ_INT(policy_age_at(&e, 1796400000), 80);
	CHECK_EQ_INT(policy_birthday(&e, 80), 1796400000);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, 1796400000 - 1), KEY);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, 1796400000), HIGH);
	CHECK(!policy_rule_applies(pol, policy_find(pol, "w"), &e, 1796400000 - 1));
	CHECK(policy_rule_applies(pol, policy_find(pol, "w"), &e, 1796400000));
	/* Without a birth date an age never holds. */
	e.birth_date = "";
	CHECK_EQ_INT(policy_age_at(&e, 1796400000), -1);
	CHECK_EQ_INT(policy_elder_tier(pol, &e, 1796400000), KEY);
	/* Born on 29 February: the birthday of a common year is 1 March. */
	e.birth_date = "1944-02-29";
	CHECK_EQ_INT(policy_birthday(&e, 82), 1772294400); /* 2026-03-01 00:00 */
	policy_free(pol);

	EXPECT_ERROR("[policy]\nhigh_risk = age>=0+living_alone\n", 2, "age>=");
	EXPECT_ERROR("[policy]\nhigh_risk = age>=80+age>=90\n", 2, "one age>=N per set");
	EXPECT_ERROR("[rule.d]\nafter_events = fall\nduty = elder\n", 1, "no within");
	EXPECT_ERROR("[rule.d]\nwithin = 24h\nduty = elder\n", 1, "within but no after_events");
	EXPECT_ERROR("[rule.d]\nafter_events = fall\nwithin = 24h\nduty = elder\nperiod = week\n",
	             1, "has no period");
	EXPECT_ERROR("[rule.d]\nafter_events = fall\nwithin = 24h\nduty = assigned\n", 1,
	             "duty = elder");
	EXPECT_ERROR("[rule.d]\nafter_events = fall\nwithin = 24h\nduty = elder\nreport = visit\n",
	             1, "report = none");
	EXPECT_ERROR("[rule.d]\nafter_events = fall\nwithin = 24\nduty = elder\n", 3, "bad within");
	EXPECT_ERROR("[rule.d]\nafter_events = falling\nwithin = 1d\nduty = elder\n", 2, "falling");
}

int main(void)
{
	tmpdir = tft_tmpdir();
	snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/policy.conf", tmpdir);

	test_default();
	test_example_file();
	test_errors();
	test_full_syntax();
	test_tiers_and_rules();
	test_all_elders();
	test_fingerprint();
	test_time_rules();
	return tft_done();
}
