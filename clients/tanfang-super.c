/* tanfang-super: the supervisor's client (BRIEF.md section 4).
 *
 * Township and banner civil-affairs staff read, from the daemon, what the
 * field has done: which elders are overdue and whose duty it is, the monthly
 * visit rate per area, one elder's history, and each visitor's activity for
 * the quarterly assessment. Every query is a request signed with the
 * supervisor's own key; the daemon answers only for the signer's area
 * subtree. Output is a table for the terminal, CSV for Excel, or JSON.
 *
 * Exit codes: 0 done, 1 refused by the daemon or unreachable, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cliopt.h"
#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "keys.h"
#include "labels.h"
#include "output.h"
#include "period.h"
#include "registry.h"
#include "reqcheck.h"
#include "rpc.h"
#include "tf_err.h"
#include "wire.h"

#define PROG               "tanfang-super"
#define DEFAULT_ENDPOINT   "tcp://127.0.0.1:7480"
#define DEFAULT_TIMEOUT_MS 15000
#define DEFAULT_TZ         "Asia/Shanghai"

#define STATUS(x) TANFANG__V1__STATUS__STATUS_##x

enum opt {
	OPT_ENDPOINT = 256,
	OPT_SERVER_KEY,
	OPT_SERVER_KEY_FILE,
	OPT_KEY,
	OPT_DATA,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_TIMEOUT,
	OPT_TZ,
	OPT_NOW,
	OPT_HELP,
	OPT_VERSION,
	OPT_LANG,
	/* per command */
	OPT_AREA,
	OPT_RULE,
	OPT_VISITOR,
	OPT_WITHIN,
	OPT_PAGE,
	OPT_PER_PAGE,
	OPT_MONTH,
	OPT_PERIOD,
	OPT_LIMIT,
	OPT_ROLE,
	OPT_DEPTH,
	OPT_AS_FILED,
	OPT_LATE,
	OPT_LAST = OPT_LATE,
};

static const struct option long_opts[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"server-key-file", required_argument, NULL, OPT_SERVER_KEY_FILE},
    {"key", required_argument, NULL, OPT_KEY},
    {"data", required_argument, NULL, OPT_DATA},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"tz", required_argument, NULL, OPT_TZ},
    {"now", required_argument, NULL, OPT_NOW},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"lang", required_argument, NULL, OPT_LANG},
    {"area", required_argument, NULL, OPT_AREA},
    {"rule", required_argument, NULL, OPT_RULE},
    {"visitor", required_argument, NULL, OPT_VISITOR},
    {"within", required_argument, NULL, OPT_WITHIN},
    {"page", required_argument, NULL, OPT_PAGE},
    {"per-page", required_argument, NULL, OPT_PER_PAGE},
    {"month", required_argument, NULL, OPT_MONTH},
    {"period", required_argument, NULL, OPT_PERIOD},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"role", required_argument, NULL, OPT_ROLE},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"as-filed", no_argument, NULL, OPT_AS_FILED},
    {"late", no_argument, NULL, OPT_LATE},
    {NULL, 0, NULL, 0},
};

struct opts {
	const char *endpoint, *server_key, *server_key_file, *key_file, *data_dir, *output;
	const char *tz;
	enum output_format format;
	int timeout_ms;
	/* command options; NULL or 0 when not given */
	const char *area, *rule, *visitor, *month, *period, *role;
	long within_days; /* -1 = not given */
	long page, per_page, limit;
	long depth; /* -1 = every level */
	bool as_filed, late;
	bool html;      /* --format html: the printable monthly report */
	bool english;   /* --lang en: values in English in tables */
	unsigned given; /* bit (opt - OPT_AREA) per command option seen */
};

static const char usage_text[] =
    "usage: " PROG " [global options] COMMAND [options]\n"
    "\n"
    "Reads what the daemon knows about visits to special-difficulty elders, for\n"
    "the signer's area and everything below it.\n"
    "\n"
    "Global options (may also follow the command):\n"
    "  --endpoint EP          daemon endpoint (default " DEFAULT_ENDPOINT ")\n"
    "  --server-key Z85       the daemon's CURVE public key (40 characters)\n"
    "  --server-key-file F    read the CURVE public key from file F\n"
    "  --key FILE             your key file (made by '" PROG " keygen', enrolled by an admin)\n"
    "  --data DIR             a local daemon's data folder: server key from DIR/curve.pub,\n"
    "                         key DIR/admin.key unless --key is given\n"
    "  --format F             table (default), csv (UTF-8 with BOM, for Excel), xlsx\n"
    "                         (an Excel workbook; with --output), json, or html (report\n"
    "                         only: the printable monthly report)\n"
    "  --output FILE          write there instead of standard output\n"
    "  --lang zh|en           language of the values in tables (default zh)\n"
    "  --timeout MS           how long to wait for a reply (default 15000)\n"
    "  --tz ZONE              time zone of dates shown (default " DEFAULT_TZ ")\n"
    "  --now SECONDS          pin this client's clock (tests against 'tanfangd --now')\n"
    "  --help                 this text; COMMAND --help: that command's\n"
    "  --version              the version\n"
    "\n"
    "Commands:\n"
    "  keygen --key FILE\n"
    "      make a new key file (mode 0600) and print its public key for the admin\n"
    "  overdue [--area CODE] [--rule NAME] [--visitor ID] [--within DAYS]\n"
    "          [--page N] [--per-page N]\n"
    "      elders overdue for a visit, longest overdue first; --within also lists\n"
    "      what falls due in the next DAYS days (negative days overdue). A table\n"
    "      shows one page (default 50); csv, xlsx and json hold every row unless\n"
    "      --page or --per-page is given, and the total is stated. An unknown\n"
    "      rule, area or visitor is an error. --visitor also finds the elder-wide\n"
    "      duties (e.g. monthly_visit) of the elders the visitor is assigned to\n"
    "      rules: monthly_visit party_member neighbour_check high_risk_weekly\n"
    "             after_major_change 1+2_not_set_up (as named in the daemon's policy)\n"
    "  report --month YYYY-MM [--area CODE] [--depth N] [--as-filed | --late]\n"
    "      monthly visit rate, party-member visits and \"1+2\" neighbour checks,\n"
    "      per area at every level (--depth 1: the area and the level below it),\n"
    "      from the registry as it was that month. Areas that filed the month are\n"
    "      marked, with the figures that changed since. --as-filed: the figures\n"
    "      exactly as filed; --late: the facts that arrived after the filing\n"
    "  file --month YYYY-MM [--area CODE]\n"
    "      file the month's report for your area (once; kept as filed for good)\n"
    "  history ELDER_ID [--limit N]\n"
    "      one elder's visits and care events, newest first (default 100)\n"
    "  activity --period YYYY-MM|YYYY-Qn [--area CODE] [--visitor ID] [--role ROLE]\n"
    "      visits per visitor, for the quarterly assessment\n"
    "\n"
    "Exit status: 0 done, 1 refused by the daemon or unreachable, 2 usage error.\n"
    "See docs/supervisor.md.\n";

/* ---- connection ---- */

struct conn {
	const struct opts *o;
	struct cli_session s;
};

/* Loads the signing key and the server key and opens the client. Returns an
 * exit code (0 = ready). */
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

/* Sends a query; *out gets an OK reply carrying result `want`. Anything else
 * is reported on stderr and returned as an exit code. */
static int query(struct conn *c, tf_request *req, int want, tf_reply **out)
{
	*out = NULL;
	tf_reply *rep;
	int ex = cli_call(&c->s, req, &rep);
	if (ex)
		return ex;
	if (rep->status != STATUS(OK)) {
		ex = cli_refused(rep);
		wire_free(WIRE_REPLY, rep);
		return ex;
	}
	if ((int)rep->result_case != want) {
		wire_free(WIRE_REPLY, rep);
		return cli_fail("the daemon's reply does not hold the expected result");
	}
	*out = rep;
	return 0;
}

/* ---- area names ---- */

/* Area code -> name for the signer's scope, so tables show 巴彦高勒镇 rather
 * than 152223102. Best effort: a signer who may not list the registry
 * (a dispatcher) sees codes. */
struct areas {
	char **code, **name;
	size_t n;
};

static void areas_free(struct areas *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->code[i]);
		free(a->name[i]);
	}
	free(a->code);
	free(a->name);
	memset(a, 0, sizeof *a);
}

static int areas_add(struct areas *a, const char *code, const char *name)
{
	char **c = realloc(a->code, (a->n + 1) * sizeof *c);
	if (!c)
		return -ENOMEM;
	a->code = c;
	char **nm = realloc(a->name, (a->n + 1) * sizeof *nm);
	if (!nm)
		return -ENOMEM;
	a->name = nm;
	a->code[a->n] = strdup(code);
	a->name[a->n] = strdup(name);
	if (!a->code[a->n] || !a->name[a->n]) {
		free(a->code[a->n]);
		free(a->name[a->n]);
		return -ENOMEM;
	}
	a->n++;
	return 0;
}

/* Fetches every area of the signer's scope (pages of 5000). Returns 0 (also
 * when the daemon refuses: names are then unknown), or an exit code for a
 * daemon that does not answer. */
static int areas_load(struct conn *c, struct areas *a)
{
	char after[128] = "";
	for (;;) {
		Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
		g.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_AREAS;
		g.area = "";
		g.after = after;
		g.limit = 5000;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = TANFANG__V1__REQUEST__OP_GET_REGISTRY;
		req.get_registry = &g;
		tf_reply *rep;
		int ex = cli_call(&c->s, &req, &rep);
		if (ex)
			return ex;
		if (rep->status != STATUS(OK) ||
		    rep->result_case != TANFANG__V1__REPLY__RESULT_REGISTRY) {
			wire_free(WIRE_REPLY, rep);
			return 0;
		}
		const Tanfang__V1__RegistryList *rl = rep->registry;
		for (size_t i = 0; i < rl->n_areas; i++) {
			if (areas_add(a, rl->areas[i]->code, rl->areas[i]->name) < 0) {
				wire_free(WIRE_REPLY, rep);
				return cli_fail("out of memory");
			}
		}
		/* A `next` that does not move on would loop for ever. */
		bool more = *rl->next && strcmp(rl->next, after) != 0 &&
		            strlen(rl->next) < sizeof after && rl->n_areas > 0;
		if (more)
			snprintf(after, sizeof after, "%s", rl->next);
		wire_free(WIRE_REPLY, rep);
		if (!more)
			return 0;
	}
}

/* Opens the connection and loads the area names for tables. Returns an
 * exit code (0 = ready); on failure *a is left empty. */
static int conn_open_areas(struct conn *c, const struct opts *o, struct areas *a)
{
	int ex = conn_open(c, o);
	if (!ex)
		ex = areas_load(c, a);
	if (ex)
		areas_free(a);
	return ex;
}

/* The area's name, or its code when unknown. Areas arrive in code order. */
static const char *area_name(const struct areas *a, const char *code)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(a->code[mid], code);
		if (cmp == 0)
			return a->name[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return code;
}

/* ---- formatting ---- */

/* A local date for a table: "2026-11-03", with the time only when it is not
 * midnight (calendar rules fall due at midnight; every-N-days rules at the
 * hour of the last visit). */
static void fmt_when(int64_t t, char *buf, size_t size)
{
	char s[32];
	period_format(t, s, sizeof s);
	if (strcmp(s + 10, " 00:00") == 0)
		s[10] = '\0';
	snprintf(buf, size, "%s", s);
}

static void fmt_date(int64_t t, char *buf, size_t size)
{
	char s[32];
	period_format(t, s, sizeof s);
	s[10] = '\0';
	snprintf(buf, size, "%s", s);
}

/* Whole days overdue; negative: due within that many days (rounded up, so
 * "due in 1.5 days" reads -2 and is not mistaken for "due today"). */
static long days_overdue(int64_t overdue_s)
{
	if (overdue_s >= 0)
		return (long)(overdue_s / 86400);
	return -(long)((-overdue_s + 86399) / 86400);
}

/* "87.5" for done/required with one decimal; "-" (table, CSV) or "" (JSON:
 * null) when nothing was required. */
static void fmt_rate(uint32_t done, uint32_t required, enum output_format f, char *buf, size_t size)
{
	if (required == 0) {
		snprintf(buf, size, "%s", f == OUTPUT_JSON ? "" : "-");
		return;
	}
	/* Rounded half up in integers, but never up to "100.0" while one
	 * elder is still missing: the target is 100%, and a report must not
	 * say it is met when it is not. */
	unsigned long long tenths = ((unsigned long long)done * 2000 / required + 1) / 2;
	if (done < required && tenths >= 1000)
		tenths = 999;
	snprintf(buf, size, "%llu.%llu", tenths / 10, tenths % 10);
}

/* Writes out in the chosen format, after preamble (if any). total >= 0:
 * the JSON is an object {"total": N, "complete": bool, "items": [...]},
 * so a program knows how many rows there are (issue 11, item 5). */
static int write_output_total(const struct output *out, const struct opts *o, const char *preamble,
                              long long total, bool complete)
{
	FILE *f = stdout;
	if (o->format == OUTPUT_XLSX && !o->output && isatty(STDOUT_FILENO))
		return cli_usage("--format xlsx writes a workbook: give --output FILE.xlsx");
	if (o->output) {
		f = fopen(o->output, "w");
		if (!f)
			return cli_fail("cannot write %s: %s", o->output, strerror(errno));
	}
	int r = 0;
	bool wrap = total >= 0 && o->format == OUTPUT_JSON;
	if (preamble && fputs(preamble, f) == EOF)
		r = -EIO;
	if (r == 0 && wrap &&
	    fprintf(f, "{\n\"total\": %lld,\n\"total_exact\": %s,\n\"items\": ", total,
	            complete ? "true" : "false") < 0)
		r = -EIO;
	if (r == 0)
		r = output_write(out, o->format, f);
	if (r == 0 && wrap && (fputs("}\n", f) == EOF || fflush(f) == EOF))
		r = -EIO;
	if (f != stdout && fclose(f) == EOF && r == 0)
		r = -EIO;
	if (r < 0)
		return cli_fail("cannot write the output%s%s: %s", o->output ? " to " : "",
		                o->output ? o->output : "", tf_strerror(r));
	return 0;
}

static int write_output(const struct output *out, const struct opts *o, const char *preamble)
{
	return write_output_total(out, o, preamble, -1, true);
}

/* One column of a command's output, named for each audience: a short
 * Chinese header on a terminal, Chinese and English in a spreadsheet, a
 * stable key for programs reading JSON. */
struct col {
	const char *table, *csv, *json;
	bool numeric;
	bool wide; /* CSV and JSON only: a code the table shows as a name */
};

#define MAX_COLS 16

static bool col_shown(const struct col *c, enum output_format f)
{
	return !c->wide || f != OUTPUT_TABLE;
}

/* Makes the output for cols in format f. Returns an exit code. */
static int sheet_new(const struct col *cols, size_t n, enum output_format f, struct output **out)
{
	const char *headers[MAX_COLS];
	bool numeric[MAX_COLS];
	size_t k = 0;
	for (size_t i = 0; i < n && k < MAX_COLS; i++) {
		if (!col_shown(&cols[i], f))
			continue;
		headers[k] = f == OUTPUT_TABLE  ? cols[i].table
		             : f == OUTPUT_JSON ? cols[i].json
		                                : cols[i].csv;
		numeric[k++] = cols[i].numeric;
	}
	if (output_new(k, headers, out) < 0)
		return cli_fail("out of memory");
	for (size_t i = 0; i < k; i++)
		output_set_numeric(*out, i, numeric[i]);
	return 0;
}

/* Adds a row of one cell per column in cols (cells of columns not shown in
 * f are dropped). Returns an exit code. */
static int sheet_add(struct output *out, const struct col *cols, size_t n, enum output_format f,
                     const char *const *cells)
{
	const char *row[MAX_COLS];
	size_t k = 0;
	for (size_t i = 0; i < n && k < MAX_COLS; i++)
		if (col_shown(&cols[i], f))
			row[k++] = cells[i];
	return output_add_row(out, row) < 0 ? cli_fail("out of memory") : 0;
}

/* Sends a query (as query()) and makes the output for its rows (as
 * sheet_new()). Returns an exit code; on success the caller frees *rep and
 * *out, on failure both are NULL. */
static int query_sheet(struct conn *c, tf_request *req, int want, const struct col *cols, size_t n,
                       enum output_format f, tf_reply **rep, struct output **out)
{
	*out = NULL;
	int ex = query(c, req, want, rep);
	if (ex)
		return ex;
	ex = sheet_new(cols, n, f, out);
	if (ex) {
		wire_free(WIRE_REPLY, *rep);
		*rep = NULL;
	}
	return ex;
}

/* ---- argument checks ---- */

static bool area_code_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 2 && n <= 20 && strspn(s, "0123456789") == n;
}

static int check_area(const struct opts *o)
{
	if (o->area && !area_code_ok(o->area))
		return cli_usage("--area '%s' is not an area code (2 to 20 digits)", o->area);
	return 0;
}

static int check_visitor(const struct opts *o)
{
	if (o->visitor && !registry_id_valid(o->visitor))
		return cli_usage("--visitor '%s' is not a valid visitor id", o->visitor);
	return 0;
}

/* --area, then --visitor. Returns an exit code. */
static int check_area_visitor(const struct opts *o)
{
	int ex = check_area(o);
	return ex ? ex : check_visitor(o);
}

/* ---- keygen ---- */

static int cmd_keygen(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)c, (void)args, (void)nargs;
	if (!o->key_file)
		return cli_usage("keygen needs --key FILE (where to write the new key)");
	struct keypair kp;
	int r = keys_generate(&kp);
	if (r == 0)
		r = keys_save(o->key_file, &kp);
	if (r == -EEXIST)
		return cli_fail("%s already exists; a key file is never overwritten", o->key_file);
	if (r < 0)
		return cli_fail("cannot write %s: %s", o->key_file, tf_strerror(r));
	char hex[65];
	keys_pk_hex(&kp, hex);
	printf("%s\n", hex);
	fprintf(stderr,
	        "key written to %s; give the public key above to your administrator:\n"
	        "  tanfang-admin key enrol %s --visitor YOUR_ID\n",
	        o->key_file, hex);
	return 0;
}

/* ---- values in Chinese (issue 11, item 6) ----
 *
 * Tables show values as the offices say them; --lang en shows the wire
 * names. CSV and xlsx carry both ("上门 door"), JSON the wire names. */

/* A value for format f: Chinese in a table (the wire name with --lang en
 * or when there is no Chinese), "中文 name" in CSV and xlsx, the name in
 * JSON. buf holds the result when both are joined. */
static const char *val_shown(const struct opts *o, const char *zh, const char *name, char *buf,
                             size_t size)
{
	if (!zh || !*zh || o->format == OUTPUT_JSON || (o->format == OUTPUT_TABLE && o->english))
		return name;
	if (o->format == OUTPUT_TABLE)
		return zh;
	snprintf(buf, size, "%s %s", zh, name);
	return buf;
}

/* The rule as shown: the policy's label (label), or its name. */
static const char *rule_shown(const struct opts *o, const Tanfang__V1__OverdueItem *it, char *buf,
                              size_t size)
{
	const char *label = *it->rule_label                           ? it->rule_label
	                    : strcmp(it->rule, "1+2_not_set_up") == 0 ? "1+2未落实"
	                                                              : NULL;
	return val_shown(o, label, it->rule, buf, size);
}

/* Whose duty: the holder, or for an elder-wide duty the elder's assigned
 * visitors whose role counts (issue 11, item 6); "-" for nobody. */
static void fmt_duty(const Tanfang__V1__OverdueItem *it, char *buf, size_t size)
{
	buf[0] = '\0';
	if (*it->duty_visitor) {
		snprintf(buf, size, "%s%s%s", it->duty_name, *it->duty_name ? " " : "",
		         it->duty_visitor);
		return;
	}
	for (size_t i = 0; i < it->n_assigned_ids; i++) {
		const char *name = i < it->n_assigned_names ? it->assigned_names[i] : "";
		size_t n = strlen(buf);
		snprintf(buf + n, n < size ? size - n : 0, "%s%s%s%s", i ? ", " : "", name,
		         *name ? " " : "", it->assigned_ids[i]);
	}
	if (!*buf)
		snprintf(buf, size, "-");
}

/* ---- overdue ---- */

static int cmd_overdue(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)args, (void)nargs;
	int ex = check_area_visitor(o);
	if (ex)
		return ex;
	if (o->rule && (!*o->rule || strlen(o->rule) >= 64))
		return cli_usage("--rule needs a rule name, e.g. monthly_visit");
	long per_page = o->per_page ? o->per_page : 50;
	long page = o->page ? o->page : 1;
	if ((unsigned long long)(page - 1) * (unsigned long long)per_page > REQCHECK_OFFSET_MAX)
		return cli_usage("--page %ld is too far", page);
	struct areas areas = {0};
	if ((ex = conn_open_areas(c, o, &areas)))
		return ex;

	/* An export (csv, xlsx, json) holds every row unless a page is asked
	 * for: it pages through the daemon's list 1000 rows at a time (issue
	 * 11, item 5: it used to stop at 1,000 rows without saying so). */
	bool all = o->format != OUTPUT_TABLE && !o->page && !o->per_page;
	Tanfang__V1__OverdueQuery q = TANFANG__V1__OVERDUE_QUERY__INIT;
	q.area = (char *)(o->area ? o->area : "");
	q.rule = (char *)(o->rule ? o->rule : "");
	q.visitor_id = (char *)(o->visitor ? o->visitor : "");
	q.horizon_s = o->within_days > 0 ? (int64_t)o->within_days * 86400 : 0;
	q.offset = (uint32_t)((page - 1) * per_page);
	q.limit = all ? 1000 : (uint32_t)per_page;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_OVERDUE;
	req.overdue = &q;
	/* The table names the area; CSV and JSON carry the code as well, for
	 * sorting and joining in a spreadsheet. */
	static const struct col cols[] = {
	    {"老人", "老人 Elder", "elder_name", false, false},
	    {"编号", "编号 Elder ID", "elder_id", false, false},
	    {"地区代码", "地区代码 Area code", "area", false, true},
	    {"地区", "地区 Area", "area_name", false, false},
	    {"规则", "规则 Rule", "rule", false, false},
	    {"责任人", "责任人 Duty", "duty", false, false},
	    {"应访日期", "应访日期 Due", "due", false, false},
	    {"逾期天数", "逾期天数 Days overdue", "days_overdue", true, false},
	    {"上次探访", "上次探访 Last visit", "last_visit", false, false},
	};
	enum { NCOLS = sizeof cols / sizeof cols[0] };
	struct output *out = NULL;
	uint32_t total = 0;
	unsigned long long fetched = 0;
	bool at_least = false;
	for (;;) {
		if (all)
			q.offset = (uint32_t)fetched;
		tf_reply *rep;
		if ((ex = query(c, &req, TANFANG__V1__REPLY__RESULT_OVERDUE, &rep)))
			break;
		if (!out && (ex = sheet_new(cols, NCOLS, o->format, &out))) {
			wire_free(WIRE_REPLY, rep);
			break;
		}
		const Tanfang__V1__OverdueList *ol = rep->overdue;
		for (size_t i = 0; !ex && i < ol->n_items; i++) {
			const Tanfang__V1__OverdueItem *it = ol->items[i];
			char duty[512], due[32], days[32], last[32], rule[160];
			fmt_duty(it, duty, sizeof duty);
			fmt_when(it->due_at, due, sizeof due);
			snprintf(days, sizeof days, "%ld", days_overdue(it->overdue_s));
			if (it->last_visit_at)
				fmt_date(it->last_visit_at, last, sizeof last);
			else
				snprintf(last, sizeof last, "%s",
				         o->format == OUTPUT_TABLE ? (o->english ? "never" : "从未")
				         : o->format == OUTPUT_JSON ? ""
				                                    : "从未 never");
			const char *cells[NCOLS] = {*it->elder_name ? it->elder_name : "?",
			                            it->elder_id,
			                            it->area,
			                            area_name(&areas, it->area),
			                            rule_shown(o, it, rule, sizeof rule),
			                            duty,
			                            due,
			                            days,
			                            last};
			ex = sheet_add(out, cols, NCOLS, o->format, cells);
		}
		fetched += ol->n_items;
		total = ol->total;
		/* The count beyond the page is bounded by the daemon (it must
		 * answer in milliseconds from a million elders) and then says so. */
		at_least = strncmp(rep->detail, "total is at least", 17) == 0;
		bool more = all && ol->n_items == q.limit;
		wire_free(WIRE_REPLY, rep);
		if (ex || !more)
			break;
		if (fetched + q.limit > REQCHECK_OFFSET_MAX) {
			ex = cli_fail("more than %llu overdue rows: narrow the export with --area "
			              "or --rule",
			              fetched);
			break;
		}
	}
	if (!ex && all) {
		total = (uint32_t)fetched;
		at_least = false;
	}
	if (!ex)
		ex = write_output_total(out, o, NULL, (long long)total, !at_least);
	if (!ex && all)
		fprintf(stderr, "导出全部 %u 条  (exported all %u rows)\n", total, total);
	else if (!ex) {
		unsigned long pages = total ? (total + per_page - 1) / per_page : 1;
		fprintf(stderr, "第 %ld / %s%lu 页，共 %s%u 条  (page %ld of %s%lu, %s%u total)\n",
		        page, at_least ? "≥" : "", pages, at_least ? "≥" : "", total, page,
		        at_least ? "at least " : "", pages, at_least ? "at least " : "", total);
	}
	output_free(out);
	areas_free(&areas);
	return ex;
}

/* ---- monthly report ---- */

/* Appends to buf (bounded). */
static void cat(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

/* The figures of row r that differ from the filed row f, by column name. */
static void fmt_changed(const Tanfang__V1__ReportRow *r, const Tanfang__V1__ReportRow *f, char *buf,
                        size_t size)
{
	const struct {
		const char *name;
		uint32_t now, then;
	} v[] = {{"required", r->required, f->required},
	         {"visited", r->visited, f->visited},
	         {"party_required", r->party_required, f->party_required},
	         {"party_done", r->party_done, f->party_done},
	         {"neighbour_required", r->neighbour_required, f->neighbour_required},
	         {"neighbour_set_up", r->neighbour_set_up, f->neighbour_set_up},
	         {"neighbour_done", r->neighbour_done, f->neighbour_done}};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		if (v[i].now != v[i].then)
			cat(buf, size, "%s%s %u→%u", *buf ? ", " : "", v[i].name, v[i].then,
			    v[i].now);
}

/* report --late: the facts that took effect by the month's end but arrived
 * after the area filed it. */
static int report_late(struct conn *c, const struct opts *o, tf_request *req)
{
	static const struct col cols[] = {
	    {"类别", "类别 Kind", "kind", false, false},
	    {"老人", "老人 Elder", "elder_id", false, false},
	    {"地区", "地区 Area", "area", false, false},
	    {"发生时间", "发生时间 Effective", "effective_at", false, false},
	    {"到达时间", "到达时间 Received", "received_at", false, false},
	    {"签名人", "签名人 Signer", "signer", false, false},
	    {"内容", "内容 Detail", "detail", false, false},
	};
	enum { NCOLS = sizeof cols / sizeof cols[0] };
	tf_reply *rep;
	struct output *out;
	int ex = query_sheet(c, req, TANFANG__V1__REPLY__RESULT_REPORT, cols, NCOLS, o->format,
	                     &rep, &out);
	if (ex)
		return ex;
	const Tanfang__V1__Report *rp = rep->report;
	for (size_t i = 0; !ex && i < rp->n_late; i++) {
		const Tanfang__V1__LateFact *f = rp->late[i];
		char at[32], rec[32];
		fmt_when(f->effective_at, at, sizeof at);
		fmt_when(f->received_at, rec, sizeof rec);
		const char *cells[NCOLS] = {f->kind, f->elder_id, f->area,  at,
		                            rec,     f->signer,   f->detail};
		ex = sheet_add(out, cols, NCOLS, o->format, cells);
	}
	if (!ex)
		ex = write_output(out, o, NULL);
	if (!ex && o->format == OUTPUT_TABLE) {
		if (!rp->filed_at)
			fprintf(stderr, "%s 未报送 not filed: no late facts to list\n", rp->month);
		else
			fprintf(stderr, "%s 报送后到达 %u 条 late facts%s\n", rp->month,
			        rp->late_total,
			        rp->late_total > rp->n_late ? " (first 200 shown)" : "");
	}
	output_free(out);
	wire_free(WIRE_REPLY, rep);
	return ex;
}

/* file --month M: files the month's report for the area. */
static int cmd_file(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)args, (void)nargs;
	int ex = check_area(o);
	if (ex)
		return ex;
	int64_t start, end;
	if (!o->month)
		return cli_usage("file needs --month YYYY-MM");
	if (period_parse_month(o->month, &start, &end) < 0)
		return cli_usage("--month must be YYYY-MM, not '%s'", o->month);
	if ((ex = conn_open(c, o)))
		return ex;
	Tanfang__V1__FileReport f = TANFANG__V1__FILE_REPORT__INIT;
	f.area = (char *)(o->area ? o->area : "");
	f.month = (char *)o->month;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_FILE_REPORT;
	req.file_report = &f;
	return cli_change(&c->s, &req, NULL);
}

/* ---- the printable monthly report ---- */

/* s with &, <, >, " escaped for HTML. */
static int html_put(FILE *f, const char *s)
{
	for (; *s; s++) {
		const char *e = *s == '&'   ? "&amp;"
		                : *s == '<' ? "&lt;"
		                : *s == '>' ? "&gt;"
		                : *s == '"' ? "&quot;"
		                            : NULL;
		if (e ? fputs(e, f) == EOF : fputc(*s, f) == EOF)
			return -EIO;
	}
	return 0;
}

/* The monthly report as an office hands it in (issue 11, item 5): one
 * self-contained HTML page (no script, no fonts or styles from elsewhere)
 * for the browser's Print, A4 landscape: area, required, visited, rate,
 * the party-member and "1+2" columns, then the signature and date lines.
 * Rows as the table shows them (--depth applies). Returns an exit code. */
static int report_html(const struct opts *o, const Tanfang__V1__Report *rp)
{
	FILE *f = stdout;
	if (o->output && !(f = fopen(o->output, "w")))
		return cli_fail("cannot write %s: %s", o->output, strerror(errno));
	const Tanfang__V1__ReportRow *top = rp->n_rows ? rp->rows[0] : NULL;
	int y = 0, m = 0;
	sscanf(rp->month, "%d-%d", &y, &m);
	fputs("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
	      f);
	html_put(f, top ? top->name : "");
	fprintf(f, " %d年%d月 特殊困难老年人探访情况月报</title>\n", y, m);
	fputs("<style>\n"
	      "@page { size: A4 landscape; margin: 15mm; }\n"
	      "body { font-family: \"SimSun\", \"Songti SC\", serif; font-size: 11pt; color: #000; "
	      "}\n"
	      "h1 { font-size: 16pt; text-align: center; margin: 0 0 4mm; }\n"
	      ".meta { display: flex; justify-content: space-between; margin-bottom: 2mm; }\n"
	      "table { border-collapse: collapse; width: 100%; }\n"
	      "th, td { border: 1px solid #000; padding: 1.5mm 2mm; }\n"
	      "th { font-weight: bold; text-align: center; }\n"
	      "td.n { text-align: right; font-variant-numeric: tabular-nums; }\n"
	      "tr.total td { font-weight: bold; }\n"
	      "thead { display: table-header-group; }\n"
	      "tr { page-break-inside: avoid; }\n"
	      ".sign { display: flex; justify-content: space-between; margin-top: 10mm; }\n"
	      ".sign span { min-width: 55mm; }\n"
	      "</style>\n</head>\n<body>\n",
	      f);
	fputs("<h1>", f);
	html_put(f, top ? top->name : "");
	fprintf(f, " %d年%d月特殊困难老年人探访情况统计表</h1>\n", y, m);
	fputs("<div class=\"meta\"><span>填报单位（盖章）：", f);
	html_put(f, top ? top->name : "");
	fprintf(f, "</span><span>统计月份：%d年%d月</span></div>\n", y, m);
	fputs("<table>\n<thead>\n<tr><th rowspan=\"2\">序号</th><th rowspan=\"2\">地区</th>"
	      "<th rowspan=\"2\">区划代码</th>"
	      "<th colspan=\"3\">月探访</th><th colspan=\"3\">党员探访</th>"
	      "<th colspan=\"5\">“1+2”邻里守望</th></tr>\n"
	      "<tr><th>应探访</th><th>已探访</th><th>探访率%</th>"
	      "<th>应访</th><th>已访</th><th>完成率%</th>"
	      "<th>应落实</th><th>已落实</th><th>落实率%</th><th>达标</th><th>达标率%</th></tr>\n"
	      "</thead>\n<tbody>\n",
	      f);
	unsigned k = 0;
	for (size_t i = 0; i < rp->n_rows; i++) {
		const Tanfang__V1__ReportRow *r = rp->rows[i];
		if (o->depth >= 0 && r->depth > top->depth + (uint32_t)o->depth)
			continue;
		k++;
		char rate[4][16];
		fmt_rate(r->visited, r->required, OUTPUT_CSV, rate[0], sizeof rate[0]);
		fmt_rate(r->party_done, r->party_required, OUTPUT_CSV, rate[1], sizeof rate[1]);
		fmt_rate(r->neighbour_set_up, r->neighbour_required, OUTPUT_CSV, rate[2],
		         sizeof rate[2]);
		fmt_rate(r->neighbour_done, r->neighbour_required, OUTPUT_CSV, rate[3],
		         sizeof rate[3]);
		/* The first row is the whole area: the total line. */
		char no[16];
		snprintf(no, sizeof no, "%u", k - 1);
		fprintf(f, "<tr%s><td class=\"n\">%s</td><td style=\"padding-left:%umm\">",
		        i == 0 ? " class=\"total\"" : "", i == 0 ? "合计" : no,
		        2 + 4 * (r->depth - top->depth));
		html_put(f, r->name);
		fputs("</td><td>", f);
		html_put(f, r->area);
		fprintf(f,
		        "</td><td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%s</td>"
		        "<td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%s</td>"
		        "<td class=\"n\">%u</td><td class=\"n\">%u</td><td class=\"n\">%s</td>"
		        "<td class=\"n\">%u</td><td class=\"n\">%s</td></tr>\n",
		        r->required, r->visited, rate[0], r->party_required, r->party_done, rate[1],
		        r->neighbour_required, r->neighbour_set_up, rate[2], r->neighbour_done,
		        rate[3]);
	}
	char filed[32] = "";
	if (rp->filed_at)
		fmt_date(rp->filed_at, filed, sizeof filed);
	fputs("</tbody>\n</table>\n", f);
	if (*filed)
		fprintf(f, "<p>已于 %s 报送。</p>\n", filed);
	fputs("<div class=\"sign\"><span>填报人：</span><span>审核人：</span>"
	      "<span>单位负责人（签字）：</span></div>\n"
	      "<div class=\"sign\"><span>联系电话：</span><span></span>"
	      "<span>填报日期：&emsp;&emsp;年&emsp;&emsp;月&emsp;&emsp;日</span></div>\n"
	      "</body>\n</html>\n",
	      f);
	int bad = ferror(f) || fflush(f) == EOF;
	if (f != stdout && fclose(f) == EOF)
		bad = 1;
	if (bad)
		return cli_fail("cannot write the report%s%s", o->output ? " to " : "",
		                o->output ? o->output : "");
	return 0;
}

static int cmd_report(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)args, (void)nargs;
	int ex = check_area(o);
	if (ex)
		return ex;
	int64_t start, end;
	if (!o->month)
		return cli_usage("report needs --month YYYY-MM");
	if (period_parse_month(o->month, &start, &end) < 0)
		return cli_usage("--month must be YYYY-MM, not '%s'", o->month);
	if ((ex = conn_open(c, o)))
		return ex;
	Tanfang__V1__ReportQuery q = TANFANG__V1__REPORT_QUERY__INIT;
	q.area = (char *)(o->area ? o->area : "");
	q.month = (char *)o->month;
	q.as_filed = o->as_filed;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REPORT;
	req.report = &q;
	if (o->late)
		return report_late(c, o, &req);
	if (o->html) {
		tf_reply *hrep;
		if ((ex = query(c, &req, TANFANG__V1__REPLY__RESULT_REPORT, &hrep)))
			return ex;
		ex = report_html(o, hrep->report);
		wire_free(WIRE_REPLY, hrep);
		return ex;
	}
	static const struct col cols[] = {
	    {"代码", "代码 Code", "area", false, false},
	    {"地区", "地区 Area", "name", false, false},
	    {"层级", "层级 Level", "depth", true, true},
	    {"应访", "应访 Required", "required", true, false},
	    {"已访", "已访 Visited", "visited", true, false},
	    {"探访率%", "探访率% Visit rate", "visit_rate", true, false},
	    {"党员应访", "党员应访 Party required", "party_required", true, false},
	    {"党员已访", "党员已访 Party done", "party_done", true, false},
	    {"党员率%", "党员率% Party rate", "party_rate", true, false},
	    {"1+2应设", "1+2应设 1+2 required", "neighbour_required", true, false},
	    {"1+2已设", "1+2已设 Set up", "neighbour_set_up", true, false},
	    {"设立率%", "设立率% Set-up rate", "set_up_rate", true, false},
	    {"1+2达标", "1+2达标 1+2 done", "neighbour_done", true, false},
	    {"达标率%", "达标率% 1+2 rate", "neighbour_rate", true, false},
	    {"报送", "报送 Filed", "filed_at", false, false},
	    {"报送后变化", "报送后变化 Changed since filed", "changed", false, false},
	};
	enum { NCOLS = sizeof cols / sizeof cols[0] };
	tf_reply *rep;
	struct output *out;
	if ((ex = query_sheet(c, &req, TANFANG__V1__REPLY__RESULT_REPORT, cols, NCOLS, o->format,
	                      &rep, &out)))
		return ex;
	const Tanfang__V1__Report *rp = rep->report;
	size_t shown = 0;
	for (size_t i = 0; !ex && i < rp->n_rows; i++) {
		const Tanfang__V1__ReportRow *r = rp->rows[i];
		/* Depth counts from the top of the report, so --depth 1 on the
		 * banner shows it and its townships. */
		if (o->depth >= 0 && r->depth > rp->rows[0]->depth + (uint32_t)o->depth)
			continue;
		shown++;
		char name[512], depth[16], num[7][16], rate[4][16];
		/* Indentation shows the tree in a terminal; a spreadsheet gets
		 * the plain name and the level. */
		unsigned indent = o->format == OUTPUT_TABLE ? (r->depth < 8 ? r->depth : 8) : 0;
		snprintf(name, sizeof name, "%*s%s", (int)(2 * indent), "", r->name);
		snprintf(depth, sizeof depth, "%u", r->depth);
		const uint32_t v[7] = {
		    r->required,           r->visited,          r->party_required, r->party_done,
		    r->neighbour_required, r->neighbour_set_up, r->neighbour_done};
		for (int k = 0; k < 7; k++)
			snprintf(num[k], sizeof num[k], "%u", v[k]);
		fmt_rate(r->visited, r->required, o->format, rate[0], sizeof rate[0]);
		fmt_rate(r->party_done, r->party_required, o->format, rate[1], sizeof rate[1]);
		fmt_rate(r->neighbour_set_up, r->neighbour_required, o->format, rate[2],
		         sizeof rate[2]);
		fmt_rate(r->neighbour_done, r->neighbour_required, o->format, rate[3],
		         sizeof rate[3]);
		char filed[32] = "", changed[160] = "";
		if (r->filed_at)
			fmt_date(r->filed_at, filed, sizeof filed);
		if (r->filed)
			fmt_changed(r, r->filed, changed, sizeof changed);
		const char *cells[NCOLS] = {r->area, name,    depth,   num[0], num[1], rate[0],
		                            num[2],  num[3],  rate[1], num[4], num[5], rate[2],
		                            num[6],  rate[3], filed,   changed};
		ex = sheet_add(out, cols, NCOLS, o->format, cells);
	}
	if (!ex)
		ex = write_output(out, o, NULL);
	if (!ex && o->format == OUTPUT_TABLE) {
		char when[32] = "";
		if (rp->filed_at)
			fmt_when(rp->filed_at, when, sizeof when);
		if (o->as_filed)
			fprintf(stderr, "%s 月报（报送版）as filed %s by %s, %zu 个地区 areas\n",
			        rp->month, when, rp->filed_by, shown);
		else
			fprintf(stderr, "%s 月报 monthly report, %zu 个地区 areas\n", rp->month,
			        shown);
		if (!o->as_filed && rp->filed_at)
			fprintf(stderr,
			        "已于 %s 报送 filed at %s; %u 条报送后到达的事实 late facts"
			        " (--late lists them)\n",
			        when, when, rp->late_total);
	}
	output_free(out);
	wire_free(WIRE_REPLY, rep);
	return ex;
}

/* ---- elder history ---- */

static const char *kind_label(int kind)
{
	switch (kind) {
	case TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR: return "上门 door";
	case TANFANG__V1__VISIT_KIND__VISIT_KIND_PHONE: return "电话 phone";
	case TANFANG__V1__VISIT_KIND__VISIT_KIND_NEIGHBOUR_CHECK: return "邻里 neighbour_check";
	case TANFANG__V1__VISIT_KIND__VISIT_KIND_HEALTH: return "健康 health";
	case TANFANG__V1__VISIT_KIND__VISIT_KIND_PARTY_MEMBER: return "党员 party_member";
	default: return "?";
	}
}

/* The visit kind as shown (see val_shown()): kind_label holds "中文 name". */
static void kind_shown(const struct opts *o, int kind, char *buf, size_t size)
{
	const char *both = kind_label(kind);
	const char *sp = strchr(both, ' ');
	/* JSON keeps "上门 door", as it always has. */
	if (!sp || o->format != OUTPUT_TABLE)
		snprintf(buf, size, "%s", both);
	else if (o->english)
		snprintf(buf, size, "%s", sp + 1);
	else
		snprintf(buf, size, "%.*s", (int)(sp - both), both);
}

/* The four findings of a visit in a few characters: "正常 ok" when every
 * assessed one is ok, else the ones that are not ("安全 safety:concern"). */
static void fmt_findings(const tf_visit *v, char *buf, size_t size)
{
	const struct {
		const Tanfang__V1__Assessment *a;
		const char *label;
	} f[] = {{v->basic_living, "生活 living"},
	         {v->safety_risk, "安全 safety"},
	         {v->family_support, "赡养 family"},
	         {v->care_protection, "关爱 care"}};
	buf[0] = '\0';
	bool assessed = false;
	for (size_t i = 0; i < 4; i++) {
		if (!f[i].a || f[i].a->finding == TANFANG__V1__FINDING__FINDING_UNSPECIFIED)
			continue;
		assessed = true;
		if (f[i].a->finding == TANFANG__V1__FINDING__FINDING_OK)
			continue;
		cat(buf, size, "%s%s:%s", *buf ? ", " : "", f[i].label,
		    wire_finding_name(f[i].a->finding));
		if (*f[i].a->note)
			cat(buf, size, " (%s)", f[i].a->note);
	}
	if (!*buf)
		snprintf(buf, size, "%s", assessed ? "正常 ok" : "-");
	if (v->follow_up)
		cat(buf, size, "; 需跟进 follow-up");
}

static void fmt_list(char *const *items, size_t n, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		cat(buf, size, "%s%s", i ? "," : "", items[i]);
}

static int cmd_history(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	if (nargs != 1)
		return cli_usage("usage: history ELDER_ID [--limit N]");
	if (!registry_id_valid(args[0]))
		return cli_usage("'%s' is not a valid elder id", args[0]);
	struct areas areas = {0};
	int ex = conn_open_areas(c, o, &areas);
	if (ex)
		return ex;
	Tanfang__V1__ElderHistoryQuery q = TANFANG__V1__ELDER_HISTORY_QUERY__INIT;
	q.elder_id = args[0];
	q.limit = (uint32_t)o->limit;
	q.with_changes = true; /* corrections and removals show in the history */
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ELDER_HISTORY;
	req.elder_history = &q;
	/* The elder's name and id lead every row of an export, so a saved
	 * file says whose history it is (issue 11, item 5); the table names
	 * the elder above the rows. */
	static const struct col cols[] = {
	    {"老人编号", "老人编号 Elder ID", "elder_id", false, true},
	    {"老人", "老人 Elder", "elder_name", false, true},
	    {"时间", "时间 When", "when", false, false},
	    {"类型", "类型 Type", "type", false, false},
	    {"探访人", "探访人 Visitor", "visitor_id", false, false},
	    {"情况", "情况 Findings", "findings", false, false},
	    {"需求", "需求 Needs", "needs", false, false},
	    {"标记", "标记 Flags", "flags", false, false},
	    {"备注", "备注 Note", "note", false, false},
	    /* The record's id: what 'tanfang-admin event correct' takes. */
	    {"编号", "编号 Record id", "record_id", false, false},
	};
	enum { NCOLS = sizeof cols / sizeof cols[0] };
	tf_reply *rep;
	struct output *out;
	if ((ex = query_sheet(c, &req, TANFANG__V1__REPLY__RESULT_HISTORY, cols, NCOLS, o->format,
	                      &rep, &out))) {
		areas_free(&areas);
		return ex;
	}
	const Tanfang__V1__ElderHistory *h = rep->history;
	const tf_elder *e = h->elder;
	/* Who this is, above the table; CSV and JSON hold the items only. */
	char *pre = NULL;
	size_t pre_len = 0;
	FILE *pf = e && o->format == OUTPUT_TABLE ? open_memstream(&pre, &pre_len) : NULL;
	if (pf) {
		char cats[256] = "", nb[200], vis[400];
		char b[96];
		for (size_t i = 0; i < e->n_categories; i++)
			cat(cats, sizeof cats, "%s%s", i ? "," : "",
			    val_shown(o, labels_category(e->categories[i]),
			              wire_category_name(e->categories[i]), b, sizeof b));
		fmt_list(e->neighbours, e->n_neighbours, nb, sizeof nb);
		fmt_list(e->visitors, e->n_visitors, vis, sizeof vis);
		fprintf(pf, "老人 Elder:          %s (%s)\n", e->name, e->id);
		fprintf(pf, "地区 Area:           %s %s\n", area_name(&areas, e->area), e->area);
		if (*e->birth_date)
			fprintf(pf, "出生 Born:           %s\n", e->birth_date);
		fprintf(pf, "类别 Categories:     %s\n", *cats ? cats : "-");
		fprintf(pf, "状态 Status:         %s\n",
		        val_shown(o, labels_status(e->status), wire_elder_status_name(e->status), b,
		                  sizeof b));
		fprintf(pf, "探访人 Visitors:     %s\n", *vis ? vis : "-");
		fprintf(pf, "1+2 邻户 Neighbours: %s%s\n\n", *nb ? nb : "-",
		        e->n_neighbours < 2 ? "  (1+2 未落实 not set up)" : "");
		if (fclose(pf) == EOF) {
			free(pre);
			pre = NULL;
		}
	}
	for (size_t i = 0; !ex && i < h->n_items; i++) {
		const Tanfang__V1__HistoryItem *it = h->items[i];
		char when[32] = "", type[160] = "", findings[600] = "", needs[128] = "",
		     flags[256] = "", id[33] = "";
		const char *note = "";
		const ProtobufCBinaryData *rid = it->visit        ? &it->visit->id
		                                 : it->care_event ? &it->care_event->id
		                                                  : NULL;
		if (rid && rid->len == 16)
			hex_encode(rid->data, 16, id);
		if (it->visit) {
			const tf_visit *v = it->visit;
			period_format(v->visited_at, when, sizeof when);
			kind_shown(o, v->kind, type, sizeof type);
			fmt_findings(v, findings, sizeof findings);
			for (size_t k = 0; k < v->n_needs; k++) {
				char b[64];
				cat(needs, sizeof needs, "%s%s", k ? "," : "",
				    val_shown(o, labels_aid(v->needs[k]),
				              wire_aid_name(v->needs[k]), b, sizeof b));
			}
			note = v->note;
		} else if (it->care_event) {
			const tf_care_event *ev = it->care_event;
			period_format(ev->occurred_at, when, sizeof when);
			char b[96];
			snprintf(type, sizeof type, "%s %s",
			         o->format == OUTPUT_TABLE && o->english ? "event" : "事件",
			         val_shown(o, labels_event(ev->type),
			                   wire_event_type_name(ev->type), b, sizeof b));
			snprintf(findings, sizeof findings, "%s",
			         val_shown(o, labels_severity(ev->severity),
			                   wire_severity_name(ev->severity), b, sizeof b));
			if (ev->aid != TANFANG__V1__AID__AID_UNSPECIFIED)
				snprintf(needs, sizeof needs, "%s",
				         val_shown(o, labels_aid(ev->aid), wire_aid_name(ev->aid),
				                   b, sizeof b));
			note = ev->note;
		} else if (it->change) {
			/* A change of the registry entry (issue 11, item 4); a
			 * removal holds for all time: shown when it was made. */
			const Tanfang__V1__RegistryChange *ch = it->change;
			period_format(ch->effective_at ? ch->effective_at : ch->received_at, when,
			              sizeof when);
			const char *zh = strcmp(ch->kind, "registered") == 0         ? "登记"
			                 : strcmp(ch->kind, "registered again") == 0 ? "重新登记"
			                 : strcmp(ch->kind, "edited") == 0           ? "修改"
			                 : strcmp(ch->kind, "neighbours") == 0       ? "1+2邻户"
			                 : strcmp(ch->kind, "visitors") == 0         ? "包联人"
			                 : strcmp(ch->kind, "status") == 0           ? "状态"
			                 : strcmp(ch->kind, "removed") == 0 ? "移除(录入错误)"
			                 : strcmp(ch->kind, "restored") == 0 ? "恢复"
			                                                     : "登记变更";
			if (o->format != OUTPUT_TABLE)
				snprintf(type, sizeof type, "registry %s", ch->kind);
			else if (o->english)
				snprintf(type, sizeof type, "registry: %s", ch->kind);
			else
				snprintf(type, sizeof type, "登记变更: %s", zh);
			snprintf(findings, sizeof findings, "%s", ch->detail);
			note = ch->note;
		} else {
			continue;
		}
		fmt_list(it->flags, it->n_flags, flags, sizeof flags);
		if (it->corrected)
			cat(flags, sizeof flags, "%s已更正 corrected", *flags ? "," : "");
		const char *cells[NCOLS] = {e ? e->id : args[0],
		                            e ? e->name : "",
		                            when,
		                            type,
		                            it->visitor_id,
		                            findings,
		                            needs,
		                            flags,
		                            note,
		                            id};
		ex = sheet_add(out, cols, NCOLS, o->format, cells);
	}
	if (!ex)
		ex = write_output(out, o, pre);
	free(pre);
	if (!ex && o->format == OUTPUT_TABLE)
		fprintf(stderr, "%zu 条记录 records (newest first)\n", h->n_items);
	output_free(out);
	wire_free(WIRE_REPLY, rep);
	areas_free(&areas);
	return ex;
}

/* ---- visitor activity ---- */

static int cmd_activity(struct conn *c, const struct opts *o, char **args, size_t nargs)
{
	(void)args, (void)nargs;
	int ex = check_area_visitor(o);
	if (ex)
		return ex;
	int64_t start, end;
	if (!o->period)
		return cli_usage("activity needs --period YYYY-MM or YYYY-Qn");
	if (period_parse_span(o->period, &start, &end) < 0)
		return cli_usage("--period must be YYYY-MM or YYYY-Qn (e.g. 2026-Q3), not '%s'",
		                 o->period);
	int role = -1;
	if (o->role && (role = wire_role_value(o->role)) < 0)
		return cli_usage("unknown role '%s' (grid_worker, party_member, neighbour, ...)",
		                 o->role);
	struct areas areas = {0};
	if ((ex = conn_open_areas(c, o, &areas)))
		return ex;
	Tanfang__V1__ActivityQuery q = TANFANG__V1__ACTIVITY_QUERY__INIT;
	q.area = (char *)(o->area ? o->area : "");
	q.period = (char *)o->period;
	q.visitor_id = (char *)(o->visitor ? o->visitor : "");
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ACTIVITY;
	req.activity = &q;
	static const struct col cols[] = {
	    {"编号", "编号 Visitor ID", "visitor_id", false, false},
	    {"姓名", "姓名 Name", "name", false, false},
	    {"角色", "角色 Role", "role", false, false},
	    {"地区代码", "地区代码 Area code", "area", false, true},
	    {"地区", "地区 Area", "area_name", false, false},
	    {"探访", "探访 Visits", "visits", true, false},
	    {"上门", "上门 Door", "door", true, false},
	    {"电话", "电话 Phone", "phone", true, false},
	    {"邻里", "邻里 Neighbour checks", "neighbour_checks", true, false},
	    {"老人数", "老人数 Elders", "elders", true, false},
	    {"标记", "标记 Flagged", "flagged", true, false},
	};
	enum { NCOLS = sizeof cols / sizeof cols[0] };
	tf_reply *rep;
	struct output *out;
	if ((ex = query_sheet(c, &req, TANFANG__V1__REPLY__RESULT_ACTIVITY, cols, NCOLS, o->format,
	                      &rep, &out))) {
		areas_free(&areas);
		return ex;
	}
	const Tanfang__V1__Activity *act = rep->activity;
	size_t shown = 0;
	unsigned long long sum[6] = {0};
	for (size_t i = 0; !ex && i < act->n_rows; i++) {
		const Tanfang__V1__ActivityRow *r = act->rows[i];
		if (role >= 0 && (int)r->role != role)
			continue;
		const uint32_t v[6] = {r->visits,           r->door,   r->phone,
		                       r->neighbour_checks, r->elders, r->flagged};
		char num[6][16];
		for (int k = 0; k < 6; k++) {
			snprintf(num[k], sizeof num[k], "%u", v[k]);
			sum[k] += v[k];
		}
		char rb[96];
		const char *cells[NCOLS] = {
		    r->visitor_id,
		    r->name,
		    val_shown(o, labels_role(r->role), wire_role_name(r->role), rb, sizeof rb),
		    r->area,
		    area_name(&areas, r->area),
		    num[0],
		    num[1],
		    num[2],
		    num[3],
		    num[4],
		    num[5]};
		ex = sheet_add(out, cols, NCOLS, o->format, cells);
		shown++;
	}
	if (!ex)
		ex = write_output(out, o, NULL);
	if (!ex && o->format == OUTPUT_TABLE)
		fprintf(stderr,
		        "%s: %zu 名探访人 visitors, %llu 次探访 visits (上门 door %llu, 电话 phone "
		        "%llu, 邻里 neighbour checks %llu), %llu flagged\n",
		        act->period, shown, sum[0], sum[1], sum[2], sum[3], sum[5]);
	output_free(out);
	wire_free(WIRE_REPLY, rep);
	areas_free(&areas);
	return ex;
}

/* ---- dispatch ---- */

typedef int (*cmd_fn)(struct conn *c, const struct opts *o, char **args, size_t nargs);

#define B(o) (1u << ((o)-OPT_AREA))

static const struct cmd {
	const char *name;
	size_t max_args;
	unsigned opts; /* B()s of the command options it takes */
	cmd_fn fn;
} cmds[] = {
    {"keygen", 0, 0, cmd_keygen},
    {"overdue", 0,
     B(OPT_AREA) | B(OPT_RULE) | B(OPT_VISITOR) | B(OPT_WITHIN) | B(OPT_PAGE) | B(OPT_PER_PAGE),
     cmd_overdue},
    {"report", 0, B(OPT_AREA) | B(OPT_MONTH) | B(OPT_DEPTH) | B(OPT_AS_FILED) | B(OPT_LATE),
     cmd_report},
    {"file", 0, B(OPT_AREA) | B(OPT_MONTH), cmd_file},
    {"history", 1, B(OPT_LIMIT), cmd_history},
    {"activity", 0, B(OPT_AREA) | B(OPT_PERIOD) | B(OPT_VISITOR) | B(OPT_ROLE), cmd_activity},
};

/* Parses a whole number in [min, max]; returns 0 or -EINVAL. */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

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
	struct opts o = {.endpoint = DEFAULT_ENDPOINT,
	                 .timeout_ms = DEFAULT_TIMEOUT_MS,
	                 .format = OUTPUT_TABLE,
	                 .tz = DEFAULT_TZ,
	                 .within_days = -1,
	                 .depth = -1};
	int c;
	long n;
	bool help = false;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		if (c >= OPT_AREA)
			o.given |= B(c);
		switch (c) {
		case OPT_ENDPOINT: o.endpoint = optarg; break;
		case OPT_SERVER_KEY: o.server_key = optarg; break;
		case OPT_SERVER_KEY_FILE: o.server_key_file = optarg; break;
		case OPT_KEY: o.key_file = optarg; break;
		case OPT_DATA: o.data_dir = optarg; break;
		case OPT_OUTPUT: o.output = optarg; break;
		case OPT_TZ: o.tz = optarg; break;
		case OPT_FORMAT:
			/* html is the report's printable page: its cells are
			 * made as for a spreadsheet (plain names, "-" rates). */
			o.html = strcasecmp(optarg, "html") == 0;
			if (o.html)
				o.format = OUTPUT_CSV;
			else if (output_format_parse(optarg, &o.format) < 0)
				return cli_usage("--format must be table, csv, xlsx, json or html");
			break;
		case OPT_LANG:
			if (strcmp(optarg, "en") != 0 && strcmp(optarg, "zh") != 0)
				return cli_usage("--lang must be zh or en");
			o.english = strcmp(optarg, "en") == 0;
			break;
		case OPT_VERSION: return cli_version();
		case OPT_TIMEOUT:
			if (parse_long(optarg, 1, 3600000, &n) < 0)
				return cli_usage("--timeout needs milliseconds (1..3600000)");
			o.timeout_ms = (int)n;
			break;
		case OPT_NOW:
			if (parse_long(optarg, 1, 4102444800L, &n) < 0)
				return cli_usage("--now needs unix seconds");
			clock_set_fixed(n);
			break;
		case OPT_AREA: o.area = optarg; break;
		case OPT_RULE: o.rule = optarg; break;
		case OPT_VISITOR: o.visitor = optarg; break;
		case OPT_MONTH: o.month = optarg; break;
		case OPT_PERIOD: o.period = optarg; break;
		case OPT_ROLE: o.role = optarg; break;
		case OPT_WITHIN:
			if (parse_long(optarg, 0, 366, &o.within_days) < 0)
				return cli_usage("--within needs days (0..366)");
			break;
		case OPT_PAGE:
			if (parse_long(optarg, 1, 1000000, &o.page) < 0)
				return cli_usage("--page needs a page number (1, 2, ...)");
			break;
		case OPT_PER_PAGE:
			if (parse_long(optarg, 1, 1000, &o.per_page) < 0)
				return cli_usage("--per-page needs 1..1000");
			break;
		case OPT_LIMIT:
			if (parse_long(optarg, 1, 1000, &o.limit) < 0)
				return cli_usage("--limit needs 1..1000");
			break;
		case OPT_DEPTH:
			if (parse_long(optarg, 0, 32, &o.depth) < 0)
				return cli_usage("--depth needs 0..32");
			break;
		case OPT_AS_FILED: o.as_filed = true; break;
		case OPT_LATE: o.late = true; break;
		case 'h':
		case OPT_HELP: help = true; break;
		case ':': return cli_usage("option %s needs a value", argv[optind - 1]);
		default: return cli_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (help && optind < argc)
		return cli_command_help(usage_text, argv + optind, (size_t)(argc - optind));
	if (help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return CLI_USAGE;
	}
	const struct cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(cmds[i].name, argv[optind]) == 0)
			cmd = &cmds[i];
	if (!cmd)
		return cli_usage("unknown command '%s'", argv[optind]);
	if (o.html && cmd->fn != cmd_report)
		return cli_usage("--format html is the printable monthly report: 'report' only");
	char **args = argv + optind + 1;
	size_t nargs = (size_t)(argc - optind - 1);
	if (nargs > cmd->max_args)
		return cli_usage("'%s' takes %s", cmd->name,
		                 cmd->max_args ? "one argument" : "no arguments, only options");
	unsigned extra = o.given & ~cmd->opts;
	if (o.as_filed && o.late)
		return cli_usage("--as-filed and --late do not go together");
	for (int b = OPT_AREA; extra && b <= OPT_LAST; b++)
		if (extra & B(b))
			return cli_usage("--%s does not apply to '%s'", opt_name(b), cmd->name);
	if (period_set_timezone(o.tz) < 0)
		return cli_usage("unknown time zone '%s'", o.tz);
	if (envelope_init() < 0)
		return cli_fail("cannot initialise libsodium");
	struct conn conn = {0};
	int ex = cmd->fn(&conn, &o, args, nargs);
	conn_close(&conn);
	return ex;
}
