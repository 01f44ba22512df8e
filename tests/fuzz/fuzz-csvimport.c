/* libFuzzer target: the CSV importer behind `tanfang-admin import elders`,
 * which reads the spreadsheets offices already keep (any bytes at all).
 *
 * Besides the sanitizers it checks the importer's contract (csvimport.h):
 * all or nothing (no elders once there is an error), every elder has its
 * required fields and a row number, every message is non-empty, and every
 * elder it yields packs as a protobuf message the daemon could be sent. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "csvimport.h"
#include "fuzz_target.h"
#include "log.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-csvimport: broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		/* Dates "not after today" depend on the clock: pin it so a
		 * corpus input means the same on every run. */
		clock_set_fixed(1797307200);
		log_set_level(LOG_LEVEL_WARN);
		ready = true;
	}
	struct csvimport *ci = NULL;
	int r = csvimport_parse((const char *)data, size, &ci);
	if (r == -ENOMEM)
		return 0;
	check(r == 0 && ci, "csvimport_parse returns 0 for any buffer it could read");
	check(!ci->n_errors || !ci->n_elders, "no elders once there is an error");
	check(ci->n_elders <= ci->n_rows, "at most one elder per row");
	for (size_t i = 0; i < ci->n_errors; i++)
		check(ci->errors[i] && *ci->errors[i], "error message non-empty");
	for (size_t i = 0; i < ci->n_warnings; i++)
		check(ci->warnings[i] && *ci->warnings[i], "warning non-empty");
	for (size_t i = 0; i < ci->n_elders; i++) {
		const tf_elder *e = ci->elders[i];
		check(e && e->id && *e->id && e->name && *e->name && e->area && *e->area,
		      "an elder has id, name and area");
		check(ci->rows[i] >= 1 && ci->rows[i] <= ci->n_rows && ci->lines[i] >= 2,
		      "an elder's row and line are in the file");
		uint8_t *buf;
		size_t len;
		check(wire_pack(WIRE_ELDER, e, &buf, &len) == 0, "an elder packs");
		free(buf);
	}
	csvimport_free(ci);
	return 0;
}
