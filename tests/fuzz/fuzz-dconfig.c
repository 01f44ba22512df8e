/* libFuzzer target: the daemon's configuration file (daemon/dconfig.c, an
 * INI file read with inih). A bad file must be refused with a message naming
 * the file and line, never crash the daemon at start or on reload.
 *
 * Checks besides the sanitizers: the result is 0 or -EINVAL (-ENOMEM is
 * tolerated); a refusal has a message starting with the path; an accepted
 * file yields a configuration the daemon can use (its endpoints split, its
 * strings are terminated and the required ones non-empty). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dconfig.h"
#include "fuzz_file.h"
#include "fuzz_target.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-dconfig: broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int r = fuzz_file(data, size, path, sizeof path);
	check(r == 0, "memory file");
	struct dconfig cfg;
	char err[512] = "";
	r = dconfig_load(path, &cfg, err, sizeof err);
	if (r == -ENOMEM)
		return 0;
	check(r == 0 || r == -EINVAL, "dconfig_load returns 0 or -EINVAL");
	if (r < 0) {
		check(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 2,
		      "a refusal names the file and says why");
		return 0;
	}
	char eps[DCONFIG_MAX_ENDPOINTS][DCONFIG_LISTEN_MAX];
	check(dconfig_endpoints(&cfg, eps, DCONFIG_MAX_ENDPOINTS) >= 1, "endpoints split");
	check(memchr(cfg.data_dir, 0, sizeof cfg.data_dir) && cfg.data_dir[0], "data_dir");
	check(memchr(cfg.policy, 0, sizeof cfg.policy) != NULL, "policy");
	check(memchr(cfg.timezone, 0, sizeof cfg.timezone) && cfg.timezone[0], "timezone");
	check(cfg.workers >= 1 && cfg.batch_max >= 1 && cfg.max_connections >= 1, "counts");
	int curve = dconfig_curve_on(&cfg);
	check(curve == 0 || curve == 1, "curve on or off");
	return 0;
}
