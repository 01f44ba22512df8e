/* tanfang-admin: the registry administration client.
 *
 * Every change is one signed request to tanfangd (rpc.h), signed with an
 * admin key; the daemon checks role and scope and answers with a status.
 * Exit codes: 0 done, 1 refused or unreachable, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cliopt.h"
#include "clock.h"
#include "csvimport.h"
#include "hex.h"
#include "keys.h"
#include "labels.h"
#include "output.h"
#include "period.h"
#include "registry.h"
#include "rpc.h"
#include "tf_err.h"
#include "wire.h"

#define PROG               "tanfang-admin"
#define DEFAULT_ENDPOINT   "tcp://127.0.0.1:7480"
#define DEFAULT_TIMEOUT_MS 15000
/* The daemon's default max_message_size; an import that does not fit is
 * refused here, before anything is sent (see docs/admin.md). */
#define DEFAULT_MAX_MESSAGE (1u << 20)

enum opt {
	/* global */
	OPT_ENDPOINT = 256,
	OPT_SERVER_KEY,
	OPT_SERVER_KEY_FILE,
	OPT_KEY,
	OPT_DATA,
	OPT_TIMEOUT,
	OPT_FORMAT,
	OPT_LANG,
	OPT_EFFECTIVE,
	OPT_NOW,
	OPT_HELP,
	OPT_VERSION,
	/* per command: each has a bit in opts.given */
	OPT_CMD_FIRST,
	OPT_PARENT = OPT_CMD_FIRST,
	OPT_CONTACT,
	OPT_ROLE,
	OPT_AREA,
	OPT_VISITOR,
	OPT_ADDRESS,
	OPT_BIRTH,
	OPT_REGISTERED,
	OPT_CATEGORIES,
	OPT_TIER,
	OPT_LAT,
	OPT_LON,
	OPT_PHONE,
	OPT_NEIGHBOURS,
	OPT_VISITORS,
	OPT_DRY_RUN,
	OPT_MAX_MESSAGE,
	OPT_NOTE,
	OPT_NAME,
	OPT_REASON,
	OPT_MAP,
	OPT_CMD_LAST,
};

#define BIT(o) (1u << ((o)-OPT_CMD_FIRST))

static const struct option long_opts[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"server-key-file", required_argument, NULL, OPT_SERVER_KEY_FILE},
    {"key", required_argument, NULL, OPT_KEY},
    {"data", required_argument, NULL, OPT_DATA},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"lang", required_argument, NULL, OPT_LANG},
    {"effective", required_argument, NULL, OPT_EFFECTIVE},
    {"now", required_argument, NULL, OPT_NOW},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"note", required_argument, NULL, OPT_NOTE},
    {"name", required_argument, NULL, OPT_NAME},
    {"reason", required_argument, NULL, OPT_REASON},
    {"parent", required_argument, NULL, OPT_PARENT},
    {"contact", required_argument, NULL, OPT_CONTACT},
    {"role", required_argument, NULL, OPT_ROLE},
    {"area", required_argument, NULL, OPT_AREA},
    {"visitor", required_argument, NULL, OPT_VISITOR},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"birth", required_argument, NULL, OPT_BIRTH},
    {"registered", required_argument, NULL, OPT_REGISTERED},
    {"categories", required_argument, NULL, OPT_CATEGORIES},
    {"tier", required_argument, NULL, OPT_TIER},
    {"lat", required_argument, NULL, OPT_LAT},
    {"lon", required_argument, NULL, OPT_LON},
    {"phone", required_argument, NULL, OPT_PHONE},
    {"neighbours", required_argument, NULL, OPT_NEIGHBOURS},
    {"neighbors", required_argument, NULL, OPT_NEIGHBOURS},
    {"visitors", required_argument, NULL, OPT_VISITORS},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
    {"map", required_argument, NULL, OPT_MAP},
    {NULL, 0, NULL, 0},
};

struct opts {
	const char *endpoint, *server_key, *server_key_file, *key_file, *data_dir;
	int timeout_ms;
	enum output_format format;
	bool english; /* --lang en: values of list tables in English */
	const char *val[OPT_CMD_LAST - OPT_CMD_FIRST]; /* per-command option values */
	unsigned given;
	size_t max_message;
	int64_t effective; /* --effective: when registry changes take effect; 0 = when sent */
};

static const char *val(const struct opts *o, enum opt which)
{
	return o->val[which - OPT_CMD_FIRST];
}

static const char usage_text[] =
    "usage: " PROG " [global options] COMMAND ...\n"
    "\n"
    "Administers the tanfangd registry: areas, visitors, device keys and elders.\n"
    "Every change is a request signed with an admin key.\n"
    "\n"
    "Global options (may also follow the command):\n"
    "  --endpoint EP          daemon endpoint (default " DEFAULT_ENDPOINT ")\n"
    "  --server-key Z85       the daemon's CURVE public key (40 characters)\n"
    "  --server-key-file F    read the CURVE public key from file F\n"
    "  --key FILE             admin key file (64 hex digits, made by tanfangd init)\n"
    "  --data DIR             shortcut: --key DIR/admin.key, --server-key-file DIR/curve.pub\n"
    "  --timeout MS           how long to wait for each reply (default 15000)\n"
    "  --format F             output of list: table (default), csv, xlsx (redirected\n"
    "                         to a file), json\n"
    "  --lang zh|en           values of list tables in Chinese (default) or English\n"
    "  --effective WHEN       the changes take effect at WHEN, 'YYYY-MM-DD' (local\n"
    "                         midnight) or 'YYYY-MM-DD HH:MM', in Asia/Shanghai unless\n"
    "                         TZ says otherwise (default: now). A correction may be\n"
    "                         dated in the past; past months' reports follow it\n"
    "  --now SECONDS          pin this client's clock (tests against 'tanfangd --now')\n"
    "  --help                 this text\n"
    "  --version              the version\n"
    "\n"
    "Commands:\n"
    "  area add CODE NAME [--parent CODE] [--contact C]\n"
    "  visitor add ID NAME --role ROLE --area CODE [--contact C]\n"
    "      ROLE: grid_worker village_cadre civil_affairs_assistant social_worker\n"
    "            volunteer party_member health_worker neighbour supervisor\n"
    "            dispatcher gateway admin\n"
    "  key enrol HEX64 --visitor ID      enrol a device's public key for a visitor\n"
    "  key revoke HEX64                  revoke a key (for good)\n"
    "  key new FILE                      make a key file (mode 0600), print its public key\n"
    "  key show FILE                     print the public key of a key file\n"
    "  elder add ID NAME --area CODE [--address A] [--birth YYYY-MM-DD]\n"
    "      [--categories a,b] [--tier general|key|high] [--lat X --lon Y]\n"
    "      [--phone P] [--neighbours V1,V2] [--visitors V1,V2,...]\n"
    "      [--registered YYYY-MM-DD]  the day the elder entered the register\n"
    "      (default: today); reports count the elder from that month\n"
    "      (an existing elder with this ID is replaced)\n"
    "      categories: living_alone empty_nest left_behind incapacitated\n"
    "      severely_disabled family_planning_special extreme_poverty (or 独居 空巢 ...)\n"
    "  elder edit ID [--name N] [--area CODE] [--address A] [--phone P] [--birth D]\n"
    "      [--categories a,b] [--tier T] [--lat X --lon Y] [--neighbours V1,V2]\n"
    "      [--visitors V,...]   change only the fields given (from --effective on)\n"
    "  elder remove ID --reason error|deceased|moved-away [--note TEXT]\n"
    "      error: entered in error, out of every list and report, past months\n"
    "      included (filed months list it as a correction); deceased and\n"
    "      moved-away are statuses from --effective on\n"
    "  elder restore ID [--note TEXT]   withdraw a removal as entered in error\n"
    "  elder set-status ID active|hospitalised|moved_away|deceased\n"
    "  neighbours set ELDER V1 [V2]      the two \"1+2\" neighbour households\n"
    "  neighbours clear ELDER\n"
    "  visitors assign ELDER V...        replace the elder's assigned visitors\n"
    "  visitors clear ELDER\n"
    "  import elders FILE [--dry-run] [--map 'HEADER=FIELD,...'] [--max-message BYTES]\n"
    "  import visitors FILE [--role ROLE] [--dry-run] [--map ...] [--max-message BYTES]\n"
    "      FILE: CSV (UTF-8, GB18030, UTF-16 text) or an .xlsx/.xls workbook, with the\n"
    "      office's own headers (docs/admin.md); all or nothing: every problem is\n"
    "      reported, with its row and column; --dry-run: the daemon checks, stores nothing;\n"
    "      an import of elders prints its batch (64 hex digits) for 'import undo'\n"
    "  import undo BATCH [--note TEXT]\n"
    "      remove every elder that import registered, as entered in error\n"
    "  list areas|elders|visitors|keys [--area CODE]\n"
    "  event correct EVENT_ID [--note TEXT]\n"
    "      withdraw a care event reported in error (a wrong death or move, by\n"
    "      its 32-hex-digit id from the elder's history); both stay in the history\n"
    "\n"
    "Exit status: 0 done, 1 refused by the daemon or unreachable, 2 usage error.\n"
    "See docs/admin.md.\n";

/* ---- connection ---- */

struct conn {
	const struct opts *o;
	struct cli_session s;
};

/* Loads the admin key and the server key and opens the client. Returns an
 * exit code (0 = connected). */
static int conn_open(struct conn *c, const struct opts *o)
{
	c->o = o;
	struct cli_conn cc = {o->endpoint, o->server_key, o->server_key_file, o->key_file,
	                      o->data_dir};
	return cli_open(&c->s, &cc, o->timeout_ms);
}

static void conn_close(struct conn *c)
{
	cli_close(&c->s);
}

/* Sends a registry change; prints `done` on success. Returns an exit code. */
static int call_change(struct conn *c, tf_request *req, const char *done)
{
	req->effective_at = c->o->effective;
	return cli_change(&c->s, req, done);
}

/* ---- argument checks ---- */

static bool area_code_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > 20)
		return false;
	return strspn(s, "0123456789") == n;
}

static int need_id(const char *what, const char *id)
{
	if (!registry_id_valid(id))
		return cli_usage("%s '%s' is not a valid id (1 to %d of A-Z a-z 0-9 _ . -)", what,
		                 id, REGISTRY_ID_MAX);
	return 0;
}

static int need_area(const char *what, const char *code)
{
	if (!area_code_ok(code))
		return cli_usage("%s '%s' is not an area code (2 to 20 digits)", what, code);
	return 0;
}

static int need_pk(const char *hex, uint8_t pk[32])
{
	if (strlen(hex) != 64 || hex_decode(hex, pk, 32) < 0)
		return cli_usage("'%s' is not a public key (64 hex digits)", hex);
	return 0;
}

/* A comma (or ; 、) separated list of visitor ids, at most max. */
static int need_ids(const char *what, const char *s, size_t max, char ***out, size_t *n)
{
	if (csvimport_split(s, out, n) < 0)
		return cli_fail("out of memory");
	for (size_t i = 0; i < *n; i++) {
		int ex = need_id(what, (*out)[i]);
		if (ex)
			return ex;
	}
	if (*n > max)
		return cli_usage("at most %zu %s ids, got %zu", max, what, *n);
	return 0;
}

/* ---- commands ---- */

struct cmd;
typedef int (*cmd_fn)(struct conn *c, const struct opts *o, char **args, size_t nargs);

static int cmd_area_add(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	int ex = need_area("area code", args[0]);
	if (!ex && val(o, OPT_PARENT))
		ex = need_area("parent", val(o, OPT_PARENT));
	if (!ex && !*args[1])
		ex = cli_usage("the area name is empty");
	if (ex || (ex = conn_open(c, o)))
		return ex;
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = args[0];
	a.name = args[1];
	if (val(o, OPT_PARENT))
		a.parent = (char *)val(o, OPT_PARENT);
	if (val(o, OPT_CONTACT))
		a.contact = (char *)val(o, OPT_CONTACT);
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA;
	req.put_area = &pa;
	char done[512];
	snprintf(done, sizeof done, "area %s %s stored", a.code, a.name);
	return call_change(c, &req, done);
}

static int cmd_visitor_add(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	int ex = need_id("visitor id", args[0]);
	if (ex)
		return ex;
	if (!*args[1])
		return cli_usage("the visitor name is empty");
	if (!val(o, OPT_ROLE))
		return cli_usage("visitor add needs --role");
	int role = wire_role_value(val(o, OPT_ROLE));
	if (role < 0)
		return cli_usage("unknown role '%s'", val(o, OPT_ROLE));
	/* Only an admin may have the whole registry as scope: --area "". */
	if (!val(o, OPT_AREA))
		return cli_usage("visitor add needs --area (the visitor's scope)");
	if (*val(o, OPT_AREA) && (ex = need_area("--area", val(o, OPT_AREA))))
		return ex;
	if ((ex = conn_open(c, o)))
		return ex;
	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = args[0];
	v.name = args[1];
	v.role = (Tanfang__V1__Role)role;
	v.area = (char *)val(o, OPT_AREA);
	if (val(o, OPT_CONTACT))
		v.contact = (char *)val(o, OPT_CONTACT);
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_VISITOR;
	req.put_visitor = &pv;
	char done[512];
	snprintf(done, sizeof done, "visitor %s %s (%s) stored", v.id, v.name,
	         wire_role_name(role));
	return call_change(c, &req, done);
}

static int cmd_key_enrol(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	uint8_t pk[32];
	int ex = need_pk(args[0], pk);
	if (ex)
		return ex;
	if (!val(o, OPT_VISITOR))
		return cli_usage("key enrol needs --visitor ID");
	if ((ex = need_id("visitor id", val(o, OPT_VISITOR))) || (ex = conn_open(c, o)))
		return ex;
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = pk;
	ek.public_key.len = 32;
	ek.visitor_id = (char *)val(o, OPT_VISITOR);
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY;
	req.enrol_key = &ek;
	tf_reply *rep;
	if ((ex = cli_call(&c->s, &req, &rep)))
		return ex;
	/* Enrolling the same key for the same visitor again changes nothing:
	 * success, so set-up scripts can be re-run. */
	if (rep->status == TANFANG__V1__STATUS__STATUS_OK)
		printf("key %s enrolled for %s\n", args[0], ek.visitor_id);
	else if (rep->status == TANFANG__V1__STATUS__STATUS_DUPLICATE)
		printf("key %s was already enrolled for %s\n", args[0], ek.visitor_id);
	else
		ex = cli_refused(rep);
	wire_free(WIRE_REPLY, rep);
	return ex;
}

static int cmd_key_revoke(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	uint8_t pk[32];
	int ex = need_pk(args[0], pk);
	if (ex || (ex = conn_open(c, o)))
		return ex;
	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	rk.public_key.data = pk;
	rk.public_key.len = 32;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REVOKE_KEY;
	req.revoke_key = &rk;
	char done[128];
	snprintf(done, sizeof done, "key %s revoked", args[0]);
	return call_change(c, &req, done);
}

static int cmd_key_new(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	struct keypair kp;
	int r = keys_generate(&kp);
	if (r == 0)
		r = keys_save(args[0], &kp);
	if (r == -EEXIST)
		return cli_fail("%s exists; a key file is never overwritten", args[0]);
	if (r < 0)
		return cli_fail("cannot write %s: %s", args[0], tf_strerror(r));
	char hex[65];
	keys_pk_hex(&kp, hex);
	printf("%s\n", hex);
	return 0;
}

static int cmd_key_show(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	struct keypair kp;
	int r = keys_load(args[0], &kp);
	if (r < 0)
		return cli_fail("cannot load %s: %s", args[0], tf_strerror(r));
	char hex[65];
	keys_pk_hex(&kp, hex);
	printf("%s\n", hex);
	return 0;
}

static int parse_degrees(const char *opt, const char *s, double limit, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(*out) || fabs(*out) > limit)
		return cli_usage("%s '%s' is not a number of degrees in -%g..%g", opt, s, limit,
		                 limit);
	return 0;
}

/* Fills e from the elder flags given (elder add and edit alike); fields
 * (may be NULL) gets the EditElder field name of each, *nf their number.
 * Arrays are malloc'd (freed by elder_flags_free). Returns an exit code. */
static int elder_fields_from_flags(const struct opts *o, tf_elder *e, char birth[11],
                                   const char **fields, size_t *nf)
{
	int ex = 0;
	size_t n_f = 0;
#define GIVEN(name)                                                                                \
	do {                                                                                       \
		if (fields)                                                                        \
			fields[n_f] = name;                                                        \
		n_f++;                                                                             \
	} while (0)
	if (val(o, OPT_NAME)) {
		if (!*val(o, OPT_NAME))
			return cli_usage("the elder's name is empty");
		e->name = (char *)val(o, OPT_NAME);
		GIVEN("name");
	}
	if (val(o, OPT_AREA)) {
		if ((ex = need_area("--area", val(o, OPT_AREA))))
			return ex;
		e->area = (char *)val(o, OPT_AREA);
		GIVEN("area");
	}
	if (val(o, OPT_ADDRESS)) {
		e->address = (char *)val(o, OPT_ADDRESS);
		GIVEN("address");
	}
	if (val(o, OPT_PHONE)) {
		e->phone = (char *)val(o, OPT_PHONE);
		GIVEN("phone");
	}
	if (val(o, OPT_BIRTH)) {
		if (csvimport_date(val(o, OPT_BIRTH), birth) < 0)
			return cli_usage("--birth '%s' is not a real date, or is in the future "
			                 "(YYYY-MM-DD)",
			                 val(o, OPT_BIRTH));
		e->birth_date = birth;
		GIVEN("birth_date");
	}
	if (val(o, OPT_REGISTERED) &&
	    csvimport_registered(val(o, OPT_REGISTERED), &e->registered_at) < 0)
		return cli_usage(
		    "--registered '%s' is not a real date, not in the future (YYYY-MM-DD)",
		    val(o, OPT_REGISTERED));
	if (val(o, OPT_TIER)) {
		int t = csvimport_tier_value(val(o, OPT_TIER));
		if (t < 0)
			return cli_usage("--tier must be general, key or high");
		e->risk_tier = (Tanfang__V1__RiskTier)t;
		GIVEN("risk_tier");
	}
	if (!!val(o, OPT_LAT) != !!val(o, OPT_LON))
		return cli_usage("give both --lat and --lon, or neither");
	if (val(o, OPT_LAT)) {
		if ((ex = parse_degrees("--lat", val(o, OPT_LAT), 90, &e->lat)) ||
		    (ex = parse_degrees("--lon", val(o, OPT_LON), 180, &e->lon)))
			return ex;
		e->has_location = true;
		GIVEN("location");
	}
	if (val(o, OPT_CATEGORIES)) {
		char **items;
		size_t n;
		if (csvimport_split(val(o, OPT_CATEGORIES), &items, &n) < 0)
			return cli_fail("out of memory");
		e->categories = calloc(n ? n : 1, sizeof *e->categories);
		if (!e->categories) {
			csvimport_list_free(items, n);
			return cli_fail("out of memory");
		}
		for (size_t i = 0; i < n; i++) {
			int cat = csvimport_category_value(items[i]);
			if (cat < 0) {
				ex = cli_usage("unknown category '%s'", items[i]);
				break;
			}
			e->categories[e->n_categories++] = (Tanfang__V1__Category)cat;
		}
		csvimport_list_free(items, n);
		if (ex)
			return ex;
		GIVEN("categories");
	}
	if (val(o, OPT_NEIGHBOURS)) {
		if ((ex = need_ids("neighbour", val(o, OPT_NEIGHBOURS), 2, &e->neighbours,
		                   &e->n_neighbours)))
			return ex;
		GIVEN("neighbours");
	}
	if (val(o, OPT_VISITORS)) {
		if ((ex = need_ids("visitor", val(o, OPT_VISITORS), 16, &e->visitors,
		                   &e->n_visitors)))
			return ex;
		GIVEN("visitors");
	}
#undef GIVEN
	if (nf)
		*nf = n_f;
	return 0;
}

/* Fills e from the elder add arguments and flags. Returns an exit code. */
static int elder_from_flags(const struct opts *o, char **args, tf_elder *e, char birth[11])
{
	int ex;
	if ((ex = need_id("elder id", args[0])))
		return ex;
	if (!*args[1])
		return cli_usage("the elder's name is empty");
	if (!val(o, OPT_AREA))
		return cli_usage("elder add needs --area CODE");
	e->id = args[0];
	e->name = args[1];
	return elder_fields_from_flags(o, e, birth, NULL, NULL);
}

static void elder_flags_free(tf_elder *e)
{
	free(e->categories);
	csvimport_list_free(e->neighbours, e->n_neighbours);
	csvimport_list_free(e->visitors, e->n_visitors);
}

static int put_elder(struct conn *c, tf_elder *e, const char *done)
{
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER;
	req.put_elder = &pe;
	return call_change(c, &req, done);
}

static int cmd_elder_add(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	char birth[11];
	int ex = elder_from_flags(o, args, &e, birth);
	if (!ex)
		ex = conn_open(c, o);
	if (!ex) {
		char done[512];
		snprintf(done, sizeof done, "elder %s %s stored", e.id, e.name);
		ex = put_elder(c, &e, done);
	}
	elder_flags_free(&e);
	return ex;
}

/* The elder with this id, through GetRegistry: `after` is a string just
 * below the id, so the first elder listed is the id itself if it exists.
 * (Valid ids use only characters below 0x7f.) Returns an exit code; *out
 * is the reply holding the elder (wire_free), NULL if there is none. */
static int fetch_elder(struct conn *c, const char *id, tf_reply **out, tf_elder **elder)
{
	char after[REGISTRY_ID_MAX + 2];
	size_t n = strlen(id);
	memcpy(after, id, n - 1);
	after[n - 1] = (char)(id[n - 1] - 1);
	after[n] = 0x7f;
	after[n + 1] = '\0';
	Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
	g.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS;
	g.after = after;
	g.limit = 1;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_GET_REGISTRY;
	req.get_registry = &g;
	tf_reply *rep;
	int ex = cli_call(&c->s, &req, &rep);
	if (ex)
		return ex;
	*out = NULL;
	*elder = NULL;
	if (rep->status != TANFANG__V1__STATUS__STATUS_OK) {
		ex = cli_refused(rep);
		wire_free(WIRE_REPLY, rep);
		return ex;
	}
	if (rep->result_case == TANFANG__V1__REPLY__RESULT_REGISTRY &&
	    rep->registry->n_elders == 1 && strcmp(rep->registry->elders[0]->id, id) == 0) {
		*elder = rep->registry->elders[0];
		*out = rep;
		return 0;
	}
	wire_free(WIRE_REPLY, rep);
	return 0;
}

static int cmd_elder_set_status(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	int ex = need_id("elder id", args[0]);
	if (ex)
		return ex;
	int st = wire_elder_status_value(args[1]);
	if (st == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_REMOVED)
		return cli_usage("'removed' is not a status to set: an elder entered in error is "
		                 "removed with 'elder remove %s --reason error'",
		                 args[0]);
	if (st < 0)
		return cli_usage("unknown status '%s' (active, hospitalised, moved_away, deceased)",
		                 args[1]);
	if ((ex = conn_open(c, o)))
		return ex;
	tf_reply *rep;
	tf_elder *e;
	if ((ex = fetch_elder(c, args[0], &rep, &e)))
		return ex;
	if (!e)
		return cli_fail("%s: no elder with id %s (in your scope)",
		                wire_status_name(TANFANG__V1__STATUS__STATUS_UNKNOWN_ELDER),
		                args[0]);
	e->status = (Tanfang__V1__ElderStatus)st;
	char done[512];
	snprintf(done, sizeof done, "elder %s %s is now %s", e->id, e->name,
	         wire_elder_status_name(st));
	ex = put_elder(c, e, done);
	wire_free(WIRE_REPLY, rep);
	return ex;
}

/* neighbours set/clear, visitors assign/clear. */
static int set_list(struct conn *c, const struct opts *o, const char *elder, char **ids, size_t n,
                    bool neighbours)
{
	int ex = need_id("elder id", elder);
	for (size_t i = 0; !ex && i < n; i++) {
		ex = need_id(neighbours ? "neighbour" : "visitor", ids[i]);
		for (size_t j = 0; !ex && j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				ex = cli_usage("%s listed twice", ids[i]);
	}
	if (ex || (ex = conn_open(c, o)))
		return ex;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	Tanfang__V1__SetNeighbours sn = TANFANG__V1__SET_NEIGHBOURS__INIT;
	Tanfang__V1__SetVisitors sv = TANFANG__V1__SET_VISITORS__INIT;
	if (neighbours) {
		sn.elder_id = (char *)elder;
		sn.neighbours = ids;
		sn.n_neighbours = n;
		req.op_case = TANFANG__V1__REQUEST__OP_SET_NEIGHBOURS;
		req.set_neighbours = &sn;
	} else {
		sv.elder_id = (char *)elder;
		sv.visitors = ids;
		sv.n_visitors = n;
		req.op_case = TANFANG__V1__REQUEST__OP_SET_VISITORS;
		req.set_visitors = &sv;
	}
	char done[256];
	snprintf(done, sizeof done, "elder %s: %zu %s set", elder, n,
	         neighbours ? (n == 1 ? "neighbour household" : "neighbour households")
	                    : (n == 1 ? "visitor" : "visitors"));
	return call_change(c, &req, done);
}

static int cmd_neighbours_set(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	return set_list(c, o, args[0], args + 1, nargs - 1, true);
}

static int cmd_neighbours_clear(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	return set_list(c, o, args[0], NULL, 0, true);
}

static int cmd_visitors_assign(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	return set_list(c, o, args[0], args + 1, nargs - 1, false);
}

static int cmd_visitors_clear(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	return set_list(c, o, args[0], NULL, 0, false);
}

/* ---- import (issue 11, items 1 to 3) ---- */

/* The registry of the admin's scope, so the file may name villages,
 * visitors and elders: the pages of GetRegistry, kept while their entries
 * are borrowed by dir. */
struct directory {
	struct csvimport_dir d;
	tf_reply **pages;
	size_t n_pages;
};

static void directory_free(struct directory *dir)
{
	for (size_t i = 0; i < dir->n_pages; i++)
		wire_free(WIRE_REPLY, dir->pages[i]);
	free(dir->pages);
	free(dir->d.areas);
	free(dir->d.visitors);
	free(dir->d.elders);
}

/* Appends n pointers to *list. Returns 0 or -ENOMEM. */
static int append(void ***list, size_t *len, void **items, size_t n)
{
	if (!n)
		return 0;
	void **nl = realloc(*list, (*len + n) * sizeof *nl);
	if (!nl)
		return -ENOMEM;
	memcpy(nl + *len, items, n * sizeof *nl);
	*list = nl;
	*len += n;
	return 0;
}

/* Fetches every page of one kind. Returns an exit code. */
static int fetch_directory(struct conn *c, int what, struct directory *dir)
{
	char after[128] = "";
	for (;;) {
		Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
		g.what = (Tanfang__V1__GetRegistry__What)what;
		g.after = after;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_GET_REGISTRY;
		req.get_registry = &g;
		tf_reply *rep;
		int ex = cli_call(&c->s, &req, &rep);
		if (ex)
			return ex;
		if (rep->status != TANFANG__V1__STATUS__STATUS_OK ||
		    rep->result_case != TANFANG__V1__REPLY__RESULT_REGISTRY) {
			ex = rep->status != TANFANG__V1__STATUS__STATUS_OK
			         ? cli_refused(rep)
			         : cli_fail("the daemon's reply holds no registry list");
			wire_free(WIRE_REPLY, rep);
			return ex;
		}
		tf_reply **np = realloc(dir->pages, (dir->n_pages + 1) * sizeof *np);
		if (!np) {
			wire_free(WIRE_REPLY, rep);
			return cli_fail("out of memory");
		}
		dir->pages = np;
		dir->pages[dir->n_pages++] = rep;
		const Tanfang__V1__RegistryList *rl = rep->registry;
		if (append((void ***)&dir->d.areas, &dir->d.n_areas, (void **)rl->areas,
		           rl->n_areas) < 0 ||
		    append((void ***)&dir->d.visitors, &dir->d.n_visitors, (void **)rl->visitors,
		           rl->n_visitors) < 0 ||
		    append((void ***)&dir->d.elders, &dir->d.n_elders, (void **)rl->elders,
		           rl->n_elders) < 0)
			return cli_fail("out of memory");
		if (!*rl->next || strcmp(rl->next, after) == 0 || strlen(rl->next) >= sizeof after)
			return 0;
		snprintf(after, sizeof after, "%s", rl->next);
	}
}

/* The file's column a daemon's refusal is about, from the words of its
 * reason (the daemon names what it refused: an area, a visitor, ...). */
static const char *problem_column(const struct csvimport *ci, const char *reason, bool assignment)
{
	static const struct {
		const char *word, *field;
	} words[] = {
	    {"ID-card", "id_card"},
	    {"same name and birth date", "name"},
	    {"no elder with id", "elder"},
	    {"neighbour", "neighbour"},
	    {"no visitor with id", "id"},
	    {"visitor", "visitor"},
	    {"area", "area"},
	    {"birth", "birth"},
	    {"name", "name"},
	};
	if (assignment)
		return csvimport_field_header(ci, "elder");
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strstr(reason, words[i].word))
			return csvimport_field_header(ci, words[i].field);
	return NULL;
}

/* Prints the daemon's problems as the file's rows and columns:
 * "elder 3 of 20 (zlt-3): reason" becomes "FILE: row R (line L): column X:
 * reason". */
static void print_problems(const struct csvimport *ci, const char *file, const tf_reply *rep,
                           bool visitors)
{
	for (size_t i = 0; i < rep->n_problems; i++) {
		const char *p = rep->problems[i];
		size_t k = 0, n = 0;
		int used = 0;
		bool assignment = false;
		char vid[REGISTRY_ID_MAX + 1] = "";
		if (sscanf(p, "elder %zu of %zu (%n", &k, &n, &used) == 2 ||
		    sscanf(p, "visitor %zu of %zu (%n", &k, &n, &used) == 2) {
			/* k indexes the request's elders or visitors */
		} else if (sscanf(p, "assignment %zu of %zu (visitor %64[^,]", &k, &n, vid) == 3) {
			assignment = true;
			k = 0;
			for (size_t j = 0; j < ci->n_visitors && !k; j++)
				if (strcmp(ci->visitors[j]->id, vid) == 0)
					k = j + 1;
		}
		size_t total = visitors ? ci->n_visitors : ci->n_elders;
		const char *reason = strstr(p, "): ");
		if (k < 1 || k > total || !reason) {
			fprintf(stderr, "%s: %s\n", file, p);
			continue;
		}
		reason += 3;
		const char *col = problem_column(ci, reason, assignment);
		fprintf(stderr, "%s: row %zu (line %zu): %s%s%s%s\n", file, ci->rows[k - 1],
		        ci->lines[k - 1], col ? "column " : "", col ? col : "", col ? ": " : "",
		        assignment ? p : reason);
	}
}

static int cmd_import(struct conn *c, const struct opts *o, const char *file, bool visitors)
{
	const char *what = visitors ? "visitors" : "elders";
	bool dry = val(o, OPT_DRY_RUN) != NULL;
	int role = 0;
	if (val(o, OPT_ROLE) && (role = csvimport_role_value(val(o, OPT_ROLE))) <= 0)
		return cli_usage("--role '%s' is not a role", val(o, OPT_ROLE));
	char why[400];
	if (csvimport_map_check(val(o, OPT_MAP), why, sizeof why) == TF_E_INVALID)
		return cli_usage("%s", why);
	char *data;
	size_t len;
	int r = csvimport_slurp(file, &data, &len);
	if (r < 0)
		return cli_fail("cannot read %s: %s", file,
		                r == -EFBIG ? "larger than 64 MiB; split it" : tf_strerror(r));
	struct directory dir = {0};
	struct csvimport *ci = NULL;
	int ex = conn_open(c, o);
	/* Names in the file are found in the admin's scope. */
	if (!ex)
		ex = fetch_directory(c, TANFANG__V1__GET_REGISTRY__WHAT__WHAT_AREAS, &dir);
	if (!ex)
		ex = fetch_directory(c, TANFANG__V1__GET_REGISTRY__WHAT__WHAT_VISITORS, &dir);
	if (!ex && visitors)
		ex = fetch_directory(c, TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS, &dir);
	if (ex)
		goto out;
	struct csvimport_opts io = {.map = val(o, OPT_MAP), .dir = &dir.d, .default_role = role};
	r = visitors ? csvimport_visitors_parse(data, len, &io, &ci)
	             : csvimport_parse_opts(data, len, &io, &ci);
	if (r < 0) {
		ex = cli_fail("cannot read %s: %s", file, tf_strerror(r));
		goto out;
	}
	for (size_t i = 0; i < ci->n_warnings; i++)
		fprintf(stderr, PROG ": %s: warning: %s\n", file, ci->warnings[i]);
	if (ci->n_errors) {
		for (size_t i = 0; i < ci->n_errors; i++)
			fprintf(stderr, "%s: %s\n", file, ci->errors[i]);
		ex = cli_fail("%s: %zu error%s; nothing was imported", file, ci->n_errors,
		              ci->n_errors == 1 ? "" : "s");
		goto out;
	}
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	Tanfang__V1__ImportVisitors iv = TANFANG__V1__IMPORT_VISITORS__INIT;
	if (visitors) {
		iv.visitors = ci->visitors, iv.n_visitors = ci->n_visitors;
		iv.assignments = ci->assignments, iv.n_assignments = ci->n_assignments;
		iv.check_only = dry;
		req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_VISITORS;
		req.import_visitors = &iv;
	} else {
		im.elders = ci->elders, im.n_elders = ci->n_elders;
		im.check_only = dry;
		req.op_case = TANFANG__V1__REQUEST__OP_IMPORT_ELDERS;
		req.import_elders = &im;
	}
	req.effective_at = o->effective;
	size_t n = visitors ? ci->n_visitors : ci->n_elders;
	uint8_t *frame;
	size_t flen;
	if ((r = rpc_seal(&c->s.key, &req, &frame, &flen)) < 0) {
		ex = cli_fail("cannot seal the request: %s", tf_strerror(r));
		goto out;
	}
	/* One request, so the daemon stores all or nothing. Splitting it here
	 * would quietly weaken that to "all or nothing per part". */
	if (flen > o->max_message) {
		size_t rows = n * (o->max_message * 9 / 10) / flen;
		ex = cli_fail(
		    "%s makes a request of %zu bytes, more than the daemon's message limit of "
		    "%zu bytes; split the file into files of at most about %zu rows and import "
		    "each (or raise max_message_size and pass --max-message)",
		    file, flen, o->max_message, rows ? rows : 1);
		free(frame);
		goto out;
	}
	tf_reply *rep;
	r = rpc_call_sealed(c->s.rpc, frame, flen, o->timeout_ms, &rep);
	free(frame);
	if ((ex = cli_check_call(&c->s, r)))
		goto out;
	print_problems(ci, file, rep, visitors);
	if (rep->status == TANFANG__V1__STATUS__STATUS_OK && dry) {
		printf("%s: %zu %s ready to import (dry run: checked by the daemon, nothing "
		       "stored)\n",
		       file, n, what);
	} else if (rep->status == TANFANG__V1__STATUS__STATUS_OK && !visitors) {
		char batch[65] = "";
		if (rep->ref.len == 32)
			hex_encode(rep->ref.data, 32, batch);
		printf("%s: %zu elders imported (batch %s; 'import undo %s' removes them)\n", file,
		       n, batch, batch);
	} else if (rep->status == TANFANG__V1__STATUS__STATUS_OK) {
		printf("%s: %zu %s imported%s\n", file, n, what,
		       ci->n_assignments ? ", with the elders each serves" : "");
	} else {
		ex = cli_refused(rep);
	}
	wire_free(WIRE_REPLY, rep);
out:
	csvimport_free(ci);
	directory_free(&dir);
	free(data);
	return ex;
}

static int cmd_import_elders(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	return cmd_import(c, o, args[0], false);
}

static int cmd_import_visitors(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	return cmd_import(c, o, args[0], true);
}

/* ---- list ---- */

static void fmt_time(int64_t t, char out[40])
{
	*out = '\0';
	if (t <= 0)
		return;
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm))
		strftime(out, 40, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

/* Joins n strings with ";" into buf (cut at its size). */
static void join(char *buf, size_t size, char *const *items, size_t n)
{
	size_t l = 0;
	*buf = '\0';
	for (size_t i = 0; i < n && l < size; i++)
		l += (size_t)snprintf(buf + l, size - l, "%s%s", i ? ";" : "", items[i]);
}

/* A value as a list table shows it: Chinese (labels.h) unless --lang en;
 * the wire name in exports, which programs and imports read back. */
static const char *zh(const struct opts *o, const char *chinese, const char *name)
{
	return o->format == OUTPUT_TABLE && !o->english && chinese ? chinese : name;
}

static int add_rows(const struct opts *o, struct output *out, const Tanfang__V1__RegistryList *rl,
                    int what)
{
	int r = 0;
	char a[40], b[40], cats[512], nbs[512], vis[2048], lat[32], lon[32];
	switch (what) {
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_AREAS:
		for (size_t i = 0; r == 0 && i < rl->n_areas; i++) {
			const tf_area *x = rl->areas[i];
			r = output_add_row(
			    out, (const char *const[]){x->code, x->name, x->parent, x->contact});
		}
		break;
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_VISITORS:
		for (size_t i = 0; r == 0 && i < rl->n_visitors; i++) {
			const tf_visitor *x = rl->visitors[i];
			r = output_add_row(out, (const char *const[]){x->id, x->name,
			                                              zh(o, labels_role(x->role),
			                                                 wire_role_name(x->role)),
			                                              x->area, x->contact});
		}
		break;
	case TANFANG__V1__GET_REGISTRY__WHAT__WHAT_KEYS:
		for (size_t i = 0; r == 0 && i < rl->n_keys; i++) {
			const tf_device_key *x = rl->keys[i];
			char hex[65] = "?";
			if (x->public_key.len == 32)
				hex_encode(x->public_key.data, 32, hex);
			fmt_time(x->enrolled_at, a);
			fmt_time(x->revoked ? x->revoked_at : 0, b);
			r = output_add_row(
			    out, (const char *const[]){hex, x->visitor_id,
			                               x->revoked ? zh(o, "已吊销", "revoked")
			                                          : zh(o, "有效", "active"),
			                               a, b});
		}
		break;
	default:
		for (size_t i = 0; r == 0 && i < rl->n_elders; i++) {
			const tf_elder *x = rl->elders[i];
			size_t l = 0;
			*cats = '\0';
			for (size_t k = 0; k < x->n_categories && l < sizeof cats; k++)
				l += (size_t)snprintf(cats + l, sizeof cats - l, "%s%s",
				                      k ? ";" : "",
				                      zh(o, labels_category(x->categories[k]),
				                         wire_category_name(x->categories[k])));
			join(nbs, sizeof nbs, x->neighbours, x->n_neighbours);
			join(vis, sizeof vis, x->visitors, x->n_visitors);
			*lat = *lon = '\0';
			if (x->has_location) {
				snprintf(lat, sizeof lat, "%.6f", x->lat);
				snprintf(lon, sizeof lon, "%.6f", x->lon);
			}
			const char *tier = x->risk_tier ? zh(o, labels_tier(x->risk_tier),
			                                     wire_tier_name(x->risk_tier))
			                                : "";
			r = output_add_row(
			    out, (const char *const[]){x->id, x->name, x->area,
			                               zh(o, labels_status(x->status),
			                                  wire_elder_status_name(x->status)),
			                               tier, cats, x->birth_date, x->phone,
			                               x->address, lat, lon, nbs, vis});
		}
		break;
	}
	return r;
}

static int cmd_list(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	static const char *const area_cols[] = {"code", "name", "parent", "contact"};
	static const char *const visitor_cols[] = {"id", "name", "role", "area", "contact"};
	static const char *const key_cols[] = {"public_key", "visitor", "state", "enrolled_at",
	                                       "revoked_at"};
	static const char *const elder_cols[] = {
	    "id",    "name",    "area", "status", "tier",       "categories", "birth_date",
	    "phone", "address", "lat",  "lon",    "neighbours", "visitors"};
	const char *const *cols;
	size_t ncols;
	int what;
	if (strcmp(args[0], "areas") == 0)
		what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_AREAS, cols = area_cols, ncols = 4;
	else if (strcmp(args[0], "elders") == 0)
		what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS, cols = elder_cols, ncols = 13;
	else if (strcmp(args[0], "visitors") == 0)
		what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_VISITORS, cols = visitor_cols,
		ncols = 5;
	else if (strcmp(args[0], "keys") == 0)
		what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_KEYS, cols = key_cols, ncols = 5;
	else
		return cli_usage("list what? areas, elders, visitors or keys, not '%s'", args[0]);
	int ex;
	if (val(o, OPT_AREA) && (ex = need_area("--area", val(o, OPT_AREA))))
		return ex;
	if (o->format == OUTPUT_XLSX && isatty(STDOUT_FILENO))
		return cli_usage("--format xlsx writes a workbook: redirect it, > FILE.xlsx");
	if ((ex = conn_open(c, o)))
		return ex;
	struct output *out;
	if (output_new(ncols, cols, &out) < 0)
		return cli_fail("out of memory");
	if (what == TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS) {
		output_set_numeric(out, 9, true);
		output_set_numeric(out, 10, true);
	}
	char after[128] = "";
	for (;;) {
		Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
		g.what = (Tanfang__V1__GetRegistry__What)what;
		g.area = val(o, OPT_AREA) ? (char *)val(o, OPT_AREA) : "";
		g.after = after;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_GET_REGISTRY;
		req.get_registry = &g;
		tf_reply *rep;
		if ((ex = cli_call(&c->s, &req, &rep)))
			break;
		if (rep->status != TANFANG__V1__STATUS__STATUS_OK) {
			ex = cli_refused(rep);
			wire_free(WIRE_REPLY, rep);
			break;
		}
		if (rep->result_case != TANFANG__V1__REPLY__RESULT_REGISTRY) {
			wire_free(WIRE_REPLY, rep);
			ex = cli_fail("the daemon's reply holds no registry list");
			break;
		}
		const Tanfang__V1__RegistryList *rl = rep->registry;
		if (add_rows(o, out, rl, what) < 0) {
			wire_free(WIRE_REPLY, rep);
			ex = cli_fail("out of memory");
			break;
		}
		/* Pages follow `next`; a next that does not move on would loop. */
		bool more =
		    *rl->next && strcmp(rl->next, after) != 0 && strlen(rl->next) < sizeof after;
		if (more)
			snprintf(after, sizeof after, "%s", rl->next);
		wire_free(WIRE_REPLY, rep);
		if (!more)
			break;
	}
	if (!ex && output_write(out, o->format, stdout) < 0)
		ex = cli_fail("cannot write the output: %s", strerror(errno));
	output_free(out);
	return ex;
}

/* ---- corrections ---- */

/* --note (at most max bytes; the daemon's bound for the request), or "".
 * Returns an exit code. */
/* --note (at most max bytes; "" if not given), then the connection: an
 * exit code. */
static int open_with_note(struct conn *c, const struct opts *o, size_t max, const char **note)
{
	*note = val(o, OPT_NOTE) ? val(o, OPT_NOTE) : "";
	if (strlen(*note) > max)
		return cli_usage("--note is longer than %zu bytes", max);
	return conn_open(c, o);
}

static int cmd_event_correct(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	uint8_t id[16];
	if (strlen(args[0]) != 32 || hex_decode(args[0], id, 16) < 0)
		return cli_usage("EVENT_ID must be 32 hex digits (the id shown in the history)");
	const char *note;
	int ex = open_with_note(c, o, 4000, &note);
	if (ex)
		return ex;
	Tanfang__V1__CorrectEvent ce = TANFANG__V1__CORRECT_EVENT__INIT;
	ce.event_id.data = id;
	ce.event_id.len = 16;
	ce.note = (char *)note;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CORRECT_EVENT;
	req.correct_event = &ce;
	char done[96];
	snprintf(done, sizeof done, "event %s withdrawn", args[0]);
	return call_change(c, &req, done);
}

/* ---- corrections to the register (issue 11, item 4) ---- */

static int cmd_elder_edit(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	int ex = need_id("elder id", args[0]);
	if (ex)
		return ex;
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = args[0];
	char birth[11];
	const char *fields[16];
	size_t nf = 0;
	ex = elder_fields_from_flags(o, &e, birth, fields, &nf);
	if (!ex && val(o, OPT_REGISTERED))
		ex = cli_usage("elder edit cannot change --registered (register the elder again "
		               "with elder add)");
	if (!ex && !nf)
		ex = cli_usage("elder edit needs at least one field to change (--name, --area, "
		               "--address, --phone, --birth, --categories, --tier, --lat/--lon, "
		               "--neighbours, --visitors)");
	if (!ex)
		ex = conn_open(c, o);
	if (!ex) {
		Tanfang__V1__EditElder ed = TANFANG__V1__EDIT_ELDER__INIT;
		ed.elder = &e;
		ed.fields = (char **)fields, ed.n_fields = nf;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_EDIT_ELDER;
		req.edit_elder = &ed;
		char done[256];
		int at = snprintf(done, sizeof done, "elder %s: changed", e.id);
		for (size_t i = 0; i < nf && at > 0 && (size_t)at < sizeof done; i++)
			at += snprintf(done + at, sizeof done - (size_t)at, "%s%s", i ? ", " : " ",
			               fields[i]);
		ex = call_change(c, &req, done);
	}
	elder_flags_free(&e);
	return ex;
}

static int remove_elder(struct conn *c, const struct opts *o, const char *id, int reason,
                        const char *done)
{
	const char *note;
	int ex = open_with_note(c, o, 1000, &note);
	if (ex)
		return ex;
	/* A restore of an elder that is not removed would change nothing and
	 * say it withdrew a removal: the elder is looked at first. */
	if (reason == TANFANG__V1__REMOVE_ELDER__REASON__REASON_RESTORE) {
		tf_reply *rep;
		tf_elder *e;
		if ((ex = fetch_elder(c, id, &rep, &e)))
			return ex;
		bool removed = e && e->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_REMOVED;
		wire_free(WIRE_REPLY, rep);
		if (!e)
			return cli_fail("%s: no elder with id %s (in your scope)",
			                wire_status_name(TANFANG__V1__STATUS__STATUS_UNKNOWN_ELDER),
			                id);
		if (!removed)
			return cli_fail(
			    "elder %s is not removed as entered in error: nothing to restore", id);
	}
	Tanfang__V1__RemoveElder rm = TANFANG__V1__REMOVE_ELDER__INIT;
	rm.elder_id = (char *)id;
	rm.reason = (Tanfang__V1__RemoveElder__Reason)reason;
	rm.note = (char *)note;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REMOVE_ELDER;
	req.remove_elder = &rm;
	return call_change(c, &req, done);
}

static int cmd_elder_remove(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	int ex = need_id("elder id", args[0]);
	if (ex)
		return ex;
	const char *why = val(o, OPT_REASON);
	int reason;
	const char *what;
	if (!why)
		return cli_usage("elder remove needs --reason error|deceased|moved-away");
	if (strcmp(why, "error") == 0 || strcmp(why, "entered-in-error") == 0 ||
	    strcmp(why, "录入错误") == 0)
		reason = TANFANG__V1__REMOVE_ELDER__REASON__REASON_ENTERED_IN_ERROR,
		what = "removed as entered in error: out of every list and report, past months "
		       "included";
	else if (strcmp(why, "deceased") == 0 || strcmp(why, "去世") == 0)
		reason = TANFANG__V1__REMOVE_ELDER__REASON__REASON_DECEASED, what = "deceased";
	else if (strcmp(why, "moved-away") == 0 || strcmp(why, "moved_away") == 0 ||
	         strcmp(why, "迁出") == 0)
		reason = TANFANG__V1__REMOVE_ELDER__REASON__REASON_MOVED_AWAY, what = "moved away";
	else
		return cli_usage("--reason must be error, deceased or moved-away, not '%s'", why);
	char done[256];
	snprintf(done, sizeof done, "elder %s %s", args[0], what);
	return remove_elder(c, o, args[0], reason, done);
}

static int cmd_elder_restore(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	int ex = need_id("elder id", args[0]);
	if (ex)
		return ex;
	char done[160];
	snprintf(done, sizeof done,
	         "elder %s restored: its removal as entered in error is withdrawn", args[0]);
	return remove_elder(c, o, args[0], TANFANG__V1__REMOVE_ELDER__REASON__REASON_RESTORE, done);
}

static int cmd_import_undo(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)nargs;
	uint8_t ref[32];
	if (strlen(args[0]) != 64 || hex_decode(args[0], ref, 32) < 0)
		return cli_usage("BATCH must be the 64 hex digits 'import elders' printed");
	const char *note;
	int ex = open_with_note(c, o, 1000, &note);
	if (ex)
		return ex;
	Tanfang__V1__UndoImport u = TANFANG__V1__UNDO_IMPORT__INIT;
	u.import_ref.data = ref, u.import_ref.len = 32;
	u.note = (char *)note;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_UNDO_IMPORT;
	req.undo_import = &u;
	/* Not call_change: the removal is now, whatever --effective says. */
	return cli_change(&c->s, &req, NULL);
}

/* ---- dispatch ---- */

struct cmd {
	const char *word1, *word2;
	size_t min_args, max_args; /* after the two words; SIZE_MAX = any */
	unsigned opts;             /* BIT()s of the command options it takes */
	cmd_fn fn;
	const char *synopsis;
};

static const struct cmd cmds[] = {
    {"area", "add", 2, 2, BIT(OPT_PARENT) | BIT(OPT_CONTACT), cmd_area_add,
     "area add CODE NAME [--parent CODE] [--contact C]"},
    {"visitor", "add", 2, 2, BIT(OPT_ROLE) | BIT(OPT_AREA) | BIT(OPT_CONTACT), cmd_visitor_add,
     "visitor add ID NAME --role ROLE --area CODE [--contact C]"},
    {"key", "enrol", 1, 1, BIT(OPT_VISITOR), cmd_key_enrol, "key enrol HEX64 --visitor ID"},
    {"key", "enroll", 1, 1, BIT(OPT_VISITOR), cmd_key_enrol, "key enrol HEX64 --visitor ID"},
    {"key", "revoke", 1, 1, 0, cmd_key_revoke, "key revoke HEX64"},
    {"key", "new", 1, 1, 0, cmd_key_new, "key new FILE"},
    {"key", "show", 1, 1, 0, cmd_key_show, "key show FILE"},
    {"elder", "add", 2, 2,
     BIT(OPT_AREA) | BIT(OPT_ADDRESS) | BIT(OPT_BIRTH) | BIT(OPT_REGISTERED) | BIT(OPT_CATEGORIES) |
         BIT(OPT_TIER) | BIT(OPT_LAT) | BIT(OPT_LON) | BIT(OPT_PHONE) | BIT(OPT_NEIGHBOURS) |
         BIT(OPT_VISITORS),
     cmd_elder_add, "elder add ID NAME --area CODE [...]"},
    {"elder", "edit", 1, 1,
     BIT(OPT_NAME) | BIT(OPT_AREA) | BIT(OPT_ADDRESS) | BIT(OPT_BIRTH) | BIT(OPT_REGISTERED) |
         BIT(OPT_CATEGORIES) | BIT(OPT_TIER) | BIT(OPT_LAT) | BIT(OPT_LON) | BIT(OPT_PHONE) |
         BIT(OPT_NEIGHBOURS) | BIT(OPT_VISITORS),
     cmd_elder_edit, "elder edit ID [--phone P] [--area CODE] [...] (only what is given)"},
    {"elder", "remove", 1, 1, BIT(OPT_REASON) | BIT(OPT_NOTE), cmd_elder_remove,
     "elder remove ID --reason error|deceased|moved-away [--note TEXT]"},
    {"elder", "restore", 1, 1, BIT(OPT_NOTE), cmd_elder_restore, "elder restore ID [--note TEXT]"},
    {"import", "undo", 1, 1, BIT(OPT_NOTE), cmd_import_undo, "import undo BATCH [--note TEXT]"},
    {"elder", "set-status", 2, 2, 0, cmd_elder_set_status,
     "elder set-status ID active|hospitalised|moved_away|deceased"},
    {"neighbours", "set", 2, 3, 0, cmd_neighbours_set, "neighbours set ELDER V1 [V2]"},
    {"neighbours", "clear", 1, 1, 0, cmd_neighbours_clear, "neighbours clear ELDER"},
    {"visitors", "assign", 2, 17, 0, cmd_visitors_assign, "visitors assign ELDER V..."},
    {"visitors", "clear", 1, 1, 0, cmd_visitors_clear, "visitors clear ELDER"},
    {"import", "elders", 1, 1, BIT(OPT_DRY_RUN) | BIT(OPT_MAX_MESSAGE) | BIT(OPT_MAP),
     cmd_import_elders, "import elders FILE [--dry-run] [--map H=F,...] [--max-message BYTES]"},
    {"import", "visitors", 1, 1,
     BIT(OPT_DRY_RUN) | BIT(OPT_MAX_MESSAGE) | BIT(OPT_MAP) | BIT(OPT_ROLE), cmd_import_visitors,
     "import visitors FILE [--role ROLE] [--dry-run] [--map H=F,...] [--max-message BYTES]"},
    {"list", NULL, 1, 1, BIT(OPT_AREA), cmd_list, "list areas|elders|visitors|keys [--area CODE]"},
    {"event", "correct", 1, 1, BIT(OPT_NOTE), cmd_event_correct,
     "event correct EVENT_ID [--note TEXT]"},
};

static const char *opt_name(int o)
{
	for (const struct option *p = long_opts; p->name; p++)
		if (p->val == o)
			return p->name;
	return "?";
}

int main(int argc, char **argv)
{
	cli_init(PROG);
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return cli_version();
	/* Dates given to the registry (--registered, the CSV's 登记日期) are
	 * local days in the daemon's default zone unless TZ says otherwise. */
	if (!getenv("TZ") && period_set_timezone("Asia/Shanghai") < 0)
		fprintf(stderr, PROG ": warning: no Asia/Shanghai zone (tzdata); dates are UTC\n");
	struct opts o = {.endpoint = DEFAULT_ENDPOINT,
	                 .timeout_ms = DEFAULT_TIMEOUT_MS,
	                 .format = OUTPUT_TABLE,
	                 .max_message = DEFAULT_MAX_MESSAGE};
	int c;
	const char *effective = NULL;
	bool help = false;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_ENDPOINT: o.endpoint = optarg; break;
		case OPT_SERVER_KEY: o.server_key = optarg; break;
		case OPT_SERVER_KEY_FILE: o.server_key_file = optarg; break;
		case OPT_KEY: o.key_file = optarg; break;
		case OPT_DATA: o.data_dir = optarg; break;
		case OPT_TIMEOUT: {
			long t = strtol(optarg, &end, 10);
			if (end == optarg || *end || t <= 0 || t > 3600000)
				return cli_usage("--timeout needs milliseconds (1..3600000)");
			o.timeout_ms = (int)t;
			break;
		}
		case OPT_FORMAT:
			if (output_format_parse(optarg, &o.format) < 0)
				return cli_usage("--format must be table, csv, xlsx or json");
			break;
		case OPT_LANG:
			if (strcmp(optarg, "en") != 0 && strcmp(optarg, "zh") != 0)
				return cli_usage("--lang must be zh or en");
			o.english = strcmp(optarg, "en") == 0;
			break;
		case OPT_EFFECTIVE: effective = optarg; break;
		case OPT_NOW: {
			long long n = strtoll(optarg, &end, 10);
			if (end == optarg || *end || n <= 0)
				return cli_usage("--now needs unix seconds");
			clock_set_fixed(n);
			break;
		}
		case 'h':
		case OPT_HELP: help = true; break;
		case OPT_VERSION: return cli_version();
		case ':': return cli_usage("option %s needs a value", argv[optind - 1]);
		case '?': return cli_usage("unknown option %s", argv[optind - 1]);
		default:
			if (c == OPT_MAX_MESSAGE) {
				unsigned long long m = strtoull(optarg, &end, 10);
				if (end == optarg || *end || m < 1024 || m > (1ull << 31))
					return cli_usage(
					    "--max-message needs bytes (1024..2147483648)");
				o.max_message = (size_t)m;
			}
			o.val[c - OPT_CMD_FIRST] = c == OPT_DRY_RUN ? "yes" : optarg;
			o.given |= BIT(c);
			break;
		}
	}
	/* After the loop: the zone (TZ or Asia/Shanghai) is set by then. */
	if (effective && cli_parse_local_time(effective, &o.effective) < 0)
		return cli_usage("--effective '%s' is not a real date: YYYY-MM-DD or 'YYYY-MM-DD "
		                 "HH:MM', a day that exists",
		                 effective);
	char **words = argv + optind;
	size_t nwords = (size_t)(argc - optind);
	if (help && nwords)
		return cli_command_help(usage_text, words, nwords);
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (nwords == 0) {
		fputs(usage_text, stderr);
		return CLI_USAGE;
	}
	const struct cmd *cmd = NULL;
	bool known_word = false;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(cmds[i].word1, words[0]) != 0)
			continue;
		known_word = true;
		if (!cmds[i].word2 || (nwords > 1 && strcmp(cmds[i].word2, words[1]) == 0)) {
			cmd = &cmds[i];
			break;
		}
	}
	if (!cmd && known_word) {
		char subs[200] = "";
		for (size_t i = 0, l = 0; i < sizeof cmds / sizeof cmds[0]; i++)
			if (strcmp(cmds[i].word1, words[0]) == 0 && l < sizeof subs)
				l += (size_t)snprintf(subs + l, sizeof subs - l, "%s%s",
				                      l ? ", " : "", cmds[i].word2);
		if (nwords == 1)
			return cli_usage("'%s' needs one of: %s", words[0], subs);
		return cli_usage("'%s %s' is not a command; after '%s' say one of: %s", words[0],
		                 words[1], words[0], subs);
	}
	if (!cmd)
		return cli_usage("unknown command '%s'", words[0]);
	size_t skip = cmd->word2 ? 2 : 1;
	char **args = words + skip;
	size_t nargs = nwords - skip;
	if (nargs < cmd->min_args || nargs > cmd->max_args)
		return cli_usage("usage: %s", cmd->synopsis);
	unsigned extra = o.given & ~cmd->opts;
	for (int b = OPT_CMD_FIRST; extra && b < OPT_CMD_LAST; b++)
		if (extra & BIT(b))
			return cli_usage("--%s does not apply to '%s %s'", opt_name(b), cmd->word1,
			                 cmd->word2 ? cmd->word2 : args[0]);
	struct conn conn = {0};
	int ex = cmd->fn(&conn, &o, args, nargs);
	conn_close(&conn);
	return ex;
}
