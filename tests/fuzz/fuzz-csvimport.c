/* libFuzzer target: the importer behind `tanfang-admin import elders` and
 * `import visitors`, which reads the files offices already keep (any bytes
 * at all: text in UTF-8, GB18030 or UTF-16, .xlsx and .xls workbooks), with
 * and without a directory of the registry to find names in (issue 11).
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

	/* The same bytes as a visitor file, names looked up in a small
	 * registry (two villages of one name, two visitors of one name). */
	static tf_area a[3];
	static tf_visitor v[2];
	static tf_elder e[1];
	static tf_area *ap[3] = {&a[0], &a[1], &a[2]};
	static tf_visitor *vp[2] = {&v[0], &v[1]};
	static tf_elder *ep[1] = {&e[0]};
	static bool dir_ready;
	if (!dir_ready) {
		const char *areas[3][3] = {{"152223", "扎赉特旗", ""},
		                           {"152223100202", "永安村", "152223"},
		                           {"152223101202", "永安村", "152223"}};
		for (int i = 0; i < 3; i++) {
			wire_init(WIRE_AREA, &a[i]);
			a[i].code = (char *)areas[i][0], a[i].name = (char *)areas[i][1];
			a[i].parent = (char *)areas[i][2];
		}
		for (int i = 0; i < 2; i++) {
			wire_init(WIRE_VISITOR, &v[i]);
			v[i].id = (char *)(i ? "zw-2" : "zw-1"), v[i].name = "张伟";
			v[i].role = i ? TANFANG__V1__ROLE__ROLE_NEIGHBOUR
			              : TANFANG__V1__ROLE__ROLE_GRID_WORKER;
			v[i].area = "152223100202";
		}
		wire_init(WIRE_ELDER, &e[0]);
		e[0].id = "e1", e[0].name = "张桂兰", e[0].area = "152223100202";
		e[0].id_card = "152223194211050023", e[0].birth_date = "1942-11-05";
		dir_ready = true;
	}
	struct csvimport_dir dir = {ap, 3, vp, 2, ep, 1};
	struct csvimport_opts o = {.map = "备注=-,户主=name", .dir = &dir, .default_role = 1};
	for (int kind = 0; kind < 2; kind++) {
		ci = NULL;
		r = kind ? csvimport_visitors_parse((const char *)data, size, &o, &ci)
		         : csvimport_parse_opts((const char *)data, size, &o, &ci);
		if (r == -ENOMEM)
			return 0;
		check(r == 0 && ci, "csvimport_*_parse returns 0 for any buffer it could read");
		check(!ci->n_errors || (!ci->n_elders && !ci->n_visitors),
		      "nothing once there is an error");
		for (size_t i = 0; i < ci->n_visitors; i++) {
			uint8_t *buf;
			size_t len;
			check(ci->visitors[i]->id && *ci->visitors[i]->id, "a visitor has an id");
			check(wire_pack(WIRE_VISITOR, ci->visitors[i], &buf, &len) == 0,
			      "a visitor packs");
			free(buf);
		}
		for (size_t i = 0; i < ci->n_elders; i++) {
			uint8_t *buf;
			size_t len;
			check(wire_pack(WIRE_ELDER, ci->elders[i], &buf, &len) == 0,
			      "an elder packs");
			free(buf);
		}
		csvimport_free(ci);
	}
	return 0;
}
