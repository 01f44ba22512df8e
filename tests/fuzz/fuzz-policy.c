/* libFuzzer target: the visit policy file (core/policy.c, an INI file read
 * with inih), reloaded on SIGHUP: a bad file must be refused as a whole
 * with a message, and the old policy stay in force.
 *
 * Checks besides the sanitizers: the result is 0 or -EINVAL (-ENOMEM is
 * tolerated) and a refusal says why; an accepted policy has rules, each
 * named and findable by its name, a valid period, and a fingerprint, and it
 * answers for an elder without crashing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "fuzz_target.h"
#include "policy.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-policy: broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int r = fuzz_file(data, size, path, sizeof path);
	check(r == 0, "memory file");
	struct policy *pol = NULL;
	char err[512] = "";
	r = policy_load(path, &pol, err, sizeof err);
	if (r == -ENOMEM)
		return 0;
	check(r == 0 || r == -EINVAL, "policy_load returns 0 or -EINVAL");
	if (r < 0) {
		check(pol == NULL, "no policy on failure");
		check(err[0] != '\0', "a refusal says why");
		return 0;
	}
	check(pol && pol->n_rules >= 1, "an accepted policy has rules");
	check(memchr(pol->timezone, 0, sizeof pol->timezone) && pol->timezone[0], "timezone");
	for (size_t i = 0; i < pol->n_rules; i++) {
		const struct policy_rule *rule = &pol->rules[i];
		check(memchr(rule->name, 0, sizeof rule->name) && rule->name[0], "rule named");
		check(policy_find(pol, rule->name) != NULL, "rule findable by name");
	}
	uint8_t fp[POLICY_FINGERPRINT_LEN];
	policy_fingerprint(pol, fp);
	/* A sample elder, so the tier derivation and rule matching run over
	 * whatever the file set up. */
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	Tanfang__V1__Category cats[] = {TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE,
	                                TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED};
	e.categories = cats, e.n_categories = 2, e.birth_date = "1940-02-29";
	int tier = policy_elder_tier(pol, &e, 1797307200);
	check(tier >= TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL &&
	          tier <= TANFANG__V1__RISK_TIER__RISK_TIER_HIGH,
	      "a derived tier");
	for (size_t i = 0; i < pol->n_rules; i++)
		(void)policy_rule_applies(pol, &pol->rules[i], &e, 1797307200);
	policy_free(pol);
	return 0;
}
