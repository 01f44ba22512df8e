/* tanfang-field: the field client on the command line, a thin layer over the
 * embeddable library (include/tanfang/tanfang.h). Visits and care events are
 * signed and kept in the device folder's outbox the moment they are
 * recorded; `sync` delivers them whenever the daemon can be reached. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cliopt.h"
#include "period.h"
#include "tanfang/tanfang.h"
#include "version.h"

#define PROG "tanfang-field"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static void errx_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errx_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char usage_main[] =
    "usage: " PROG " [--dir DIR] COMMAND [OPTIONS]\n"
    "\n"
    "Record elder visits and care events on this device, signed with its key,\n"
    "and deliver them to the tanfang daemon when a network is there.\n"
    "\n"
    "commands:\n"
    "  keygen    make this device's key; prints the public key for enrolment\n"
    "  pubkey    print this device's public key\n"
    "  visit     record a visit\n"
    "  event     record a care event\n"
    "  sync      send everything pending to the daemon\n"
    "  status    pending and refused counts, refused records\n"
    "  requeue   put refused records back in the outbox\n"
    "\n"
    "options:\n"
    "  --dir DIR  device folder (default $TANFANG_FIELD_DIR, else\n"
    "             $XDG_DATA_HOME/tanfang-field, else ~/.local/share/tanfang-field)\n"
    "  --now S    pin this device's clock to unix seconds S (tests against\n"
    "             'tanfangd --now')\n"
    "  --help     this text; COMMAND --help for a command's options\n"
    "\n"
    "exit status: 0 ok, 1 operational failure, 2 usage error\n";

static const char usage_keygen[] =
    "usage: " PROG " [--dir DIR] keygen\n"
    "\n"
    "Creates the device folder and a new device key (never replaces one).\n"
    "Prints the public key (64 hex digits): give it to the administrator,\n"
    "who enrols it for your visitor id.\n";

static const char usage_pubkey[] = "usage: " PROG " [--dir DIR] pubkey\n"
                                   "\n"
                                   "Prints this device's public key (64 hex digits).\n";

static const char usage_visit[] =
    "usage: " PROG " [--dir DIR] visit --elder ID --kind KIND [OPTIONS]\n"
    "\n"
    "Records a visit, signed, in the outbox; prints its id. Exit 0 means it\n"
    "is stored on this device and will be sent by `sync`.\n"
    "\n"
    "  --elder ID          elder id (required)\n"
    "  --kind KIND         door | phone | neighbour_check | health | party_member (required)\n"
    "  --at TIME           when: 'YYYY-MM-DD HH:MM' (Beijing time unless TZ is set) or\n"
    "                      unix seconds; default now\n"
    "  --lat DEG --lon DEG where (WGS-84); --accuracy M optional\n"
    "  --duration MIN      minutes spent\n"
    "  --living F[:NOTE]   basic living (基本生活): ok | concern | urgent, with a note\n"
    "  --safety F[:NOTE]   safety risks (安全风险)\n"
    "  --family F[:NOTE]   family support (家庭赡养)\n"
    "  --care F[:NOTE]     care and protection (关爱保护)\n"
    "  --needs LIST        comma list of aids: meals,medical,mobility,cleaning,bathing,emergency\n"
    "  --follow-up         follow-up needed\n"
    "  --note TEXT         free note\n"
    "  --id HEX            record id (32 hex digits); default random\n";

static const char usage_event[] =
    "usage: " PROG " [--dir DIR] event --elder ID --type TYPE --severity SEV [OPTIONS]\n"
    "\n"
    "Records a care event, signed, in the outbox; prints its id.\n"
    "\n"
    "  --elder ID       elder id (required)\n"
    "  --type TYPE      fall | illness | hospitalised | discharged | emergency_call |\n"
    "                   hazard_found | service_delivered | hotline_request | moved_away |\n"
    "                   deceased (required)\n"
    "  --severity SEV   info | warning | urgent (required)\n"
    "  --aid AID        the aid delivered (service_delivered): meals, medical, mobility,\n"
    "                   cleaning, bathing, emergency\n"
    "  --at TIME        when: 'YYYY-MM-DD HH:MM' (Beijing time unless TZ is set) or unix\n"
    "                   seconds; default now\n"
    "  --note TEXT      free note\n"
    "  --id HEX         record id (32 hex digits); default random\n";

static const char usage_sync[] =
    "usage: " PROG " [--dir DIR] sync --endpoint EP [--server-key Z85 | --server-key-file F]\n"
    "                     [--attempts N] [--timeout MS] [--delay MS]\n"
    "\n"
    "Sends every pending record; each leaves the outbox only once the daemon\n"
    "has stored it. Refused records are kept (see `status`). Retries with\n"
    "exponential backoff.\n"
    "\n"
    "  --endpoint EP        e.g. tcp://10.1.2.3:7480 (default $TANFANG_ENDPOINT)\n"
    "  --server-key Z85     the daemon's CURVE public key, 40 characters\n"
    "                       (default $TANFANG_SERVER_KEY)\n"
    "  --server-key-file F  read it from a file\n"
    "  --attempts N         passes over the outbox (default 5)\n"
    "  --timeout MS         wait for a reply this long before a pass gives up (default 5000)\n"
    "  --delay MS           backoff before the second pass, doubling (default 500)\n"
    "\n"
    "exit status: 0 if nothing is pending afterwards and nothing was refused,\n"
    "1 otherwise, 2 usage error\n";

static const char usage_status[] =
    "usage: " PROG " [--dir DIR] status [--pending]\n"
    "\n"
    "Prints the pending and refused counts and every refused record\n"
    "(id, status, what, elder, recorded, detail).\n"
    "\n"
    "  --pending  also list the pending records\n";

static const char usage_requeue[] =
    "usage: " PROG " [--dir DIR] requeue (ID... | --all)\n"
    "\n"
    "Moves refused records back to the outbox unchanged, e.g. once the\n"
    "administrator has registered the elder they name. `sync` sends them again.\n";

/* ---- small parsers; each prints its own error ---- */

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v > max) {
		errx_msg("%s: expected a whole number from 0 to %lu, got '%s'", opt, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_double(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min && v <= max)) {
		errx_msg("%s: expected a number from %g to %g, got '%s'", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* 'YYYY-MM-DD HH:MM' (or with 'T', optionally :SS) in local time, or unix seconds. */
static int parse_time(const char *opt, const char *s, int64_t *out)
{
	if (*s && strspn(s, "0123456789") == strlen(s)) {
		unsigned long v;
		if (parse_uint(opt, s, 253402300799UL, &v) < 0)
			return -1;
		*out = (int64_t)v;
		return 0;
	}
	if (cli_parse_local_time(s, out) == 0)
		return 0;
	errx_msg("%s: '%s' is not a real date and time: expected 'YYYY-MM-DD HH:MM' (a day that "
	         "exists, local time) or unix seconds",
	         opt, s);
	return -1;
}

static int parse_id(const char *opt, const char *s, uint8_t id[TANFANG_ID_LEN])
{
	if (strlen(s) != 2 * TANFANG_ID_LEN)
		goto bad;
	for (int i = 0; i < TANFANG_ID_LEN; i++) {
		unsigned v;
		char pair[3] = {s[2 * i], s[2 * i + 1], 0};
		if (strspn(pair, "0123456789abcdefABCDEF") != 2 || sscanf(pair, "%x", &v) != 1)
			goto bad;
		id[i] = (uint8_t)v;
	}
	return 0;
bad:
	errx_msg("%s: expected 32 hex digits, got '%s'", opt, s);
	return -1;
}

/* ok|concern|urgent, optionally ":note". */
static int parse_assessment(const char *opt, const char *s, struct tanfang_assessment *a)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	char word[32];
	int f = -1;
	if (n < sizeof word) {
		memcpy(word, s, n);
		word[n] = '\0';
		f = tanfang_finding_value(word);
	}
	if (f < 0) {
		errx_msg("%s: unknown finding in '%s' (use ok, concern or urgent, optionally "
		         "followed by :note)",
		         opt, s);
		return -1;
	}
	a->finding = (enum tanfang_finding)f;
	a->note = colon ? colon + 1 : NULL;
	return 0;
}

static int parse_needs(const char *opt, const char *s, uint32_t *out)
{
	uint32_t set = 0;
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, ",");
		char word[32];
		int a = -1;
		if (n > 0 && n < sizeof word) {
			memcpy(word, p, n);
			word[n] = '\0';
			a = tanfang_aid_value(word);
		}
		if (a < 0) {
			errx_msg("%s: unknown aid '%.*s' (use meals, medical, mobility, cleaning, "
			         "bathing, emergency)",
			         opt, (int)n, p);
			return -1;
		}
		set |= TANFANG_AID_BIT(a);
		p += n;
		if (*p == ',')
			p++;
	}
	if (!set) {
		errx_msg("%s: empty list", opt);
		return -1;
	}
	*out = set;
	return 0;
}

/* Whether an operand follows the options of a command that takes none
 * (said on stderr). */
static bool extra_operand(const char *cmd, int argc, char **argv)
{
	if (optind < argc) {
		errx_msg("%s: unexpected argument '%s'", cmd, argv[optind]);
		return true;
	}
	return false;
}

/* Handles --help and getopt's own errors (it has already said what was
 * wrong) uniformly. */
static int help_or_usage(int c, char **argv, const char *usage)
{
	if (c == 'h') {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	/* getopt's own words are off (opterr = 0): said like every other
	 * error, "tanfang-field: error: ...". */
	const char *bad = optind > 0 ? argv[optind - 1] : "?";
	/* A command's argv[0] is its name; the program's is a path. */
	const char *cmd = strchr(argv[0], '/') || strcmp(argv[0], PROG) == 0 ? NULL : argv[0];
	char opt[8];
	if (optopt && bad[0] == '-' && bad[1] != '-')
		snprintf(opt, sizeof opt, "-%c", optopt), bad = opt;
	errx_msg("%s%sunknown option '%s', or it needs a value", cmd ? cmd : "", cmd ? ": " : "",
	         bad);
	/* The first line of each usage text is the synopsis. */
	fprintf(stderr, "%.*s", (int)(strchr(usage, '\n') - usage + 1), usage);
	fprintf(stderr, "(--help for details)\n");
	return EXIT_USAGE;
}

static int open_dev(const char *dir, struct tanfang **h)
{
	int r = tanfang_open(dir, h);
	if (r == -ENOENT)
		errx_msg("no device key in %s: run '" PROG " keygen' first", dir);
	else if (r < 0)
		errx_msg("cannot open device folder %s: %s", dir, tanfang_strerror(r));
	return r;
}

static void print_id(const uint8_t id[TANFANG_ID_LEN])
{
	for (int i = 0; i < TANFANG_ID_LEN; i++)
		printf("%02x", id[i]);
	putchar('\n');
}

/* The end of visit and event: the new record's id on stdout, or why it
 * was not recorded. Returns the exit code. */
static int record_result(const char *what, int r, const uint8_t id[TANFANG_ID_LEN])
{
	if (r >= 0) {
		print_id(id);
		return EXIT_OK;
	}
	if (r == -EINVAL) {
		errx_msg("%s not recorded: a field is out of range (elder id: 1-64 of A-Z a-z "
		         "0-9 _ . -; duration up to 1440 min; notes up to 4000 bytes of UTF-8)",
		         what);
		return EXIT_USAGE;
	}
	if (r == TANFANG_E_FUTURE) {
		errx_msg("%s not recorded: dated in the future; check --at and the device's date",
		         what);
		return EXIT_USAGE;
	}
	if (r == -EEXIST)
		errx_msg("%s not recorded: this id was already refused (see status)", what);
	else if (r == -ENOSPC || r == TANFANG_E_MAPFULL)
		/* The outbox keeps room to remove what the daemon acknowledges,
		 * so a sync still empties it (docs/field-client.md). */
		errx_msg("%s not recorded: the device is full (%s); sync to deliver and remove "
		         "what is pending, or free space",
		         what, r == -ENOSPC ? "no space left on its disk" : "the outbox is full");
	else
		errx_msg("%s not recorded: %s", what, tanfang_strerror(r));
	return EXIT_FAIL;
}

/* ---- commands ---- */

static int cmd_keygen(const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1)
		return help_or_usage(c, argv, usage_keygen);
	if (extra_operand("keygen", argc, argv))
		return EXIT_USAGE;
	char pk[TANFANG_PK_HEX_LEN];
	int r = tanfang_keygen(dir, pk);
	if (r == -EEXIST) {
		errx_msg("%s already has a device key; it is never replaced ('" PROG
		         " pubkey' prints it)",
		         dir);
		return EXIT_FAIL;
	}
	if (r < 0) {
		errx_msg("keygen in %s: %s", dir, tanfang_strerror(r));
		return EXIT_FAIL;
	}
	printf("%s\n", pk);
	fprintf(stderr,
	        "device key written to %s/device.key; give the public key above to the "
	        "administrator for enrolment\n",
	        dir);
	return EXIT_OK;
}

static int cmd_pubkey(const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1)
		return help_or_usage(c, argv, usage_pubkey);
	if (extra_operand("pubkey", argc, argv))
		return EXIT_USAGE;
	struct tanfang *h;
	if (open_dev(dir, &h) < 0)
		return EXIT_FAIL;
	char pk[TANFANG_PK_HEX_LEN];
	tanfang_pubkey_hex(h, pk);
	tanfang_close(h);
	printf("%s\n", pk);
	return EXIT_OK;
}

static int cmd_visit(const char *dir, int argc, char **argv)
{
	enum {
		O_ELDER = 256,
		O_KIND,
		O_AT,
		O_LAT,
		O_LON,
		O_ACC,
		O_DUR,
		O_LIVING,
		O_SAFETY,
		O_FAMILY,
		O_CARE,
		O_NEEDS,
		O_FOLLOW,
		O_NOTE,
		O_ID
	};
	static const struct option lo[] = {
	    {"elder", required_argument, NULL, O_ELDER},
	    {"kind", required_argument, NULL, O_KIND},
	    {"at", required_argument, NULL, O_AT},
	    {"lat", required_argument, NULL, O_LAT},
	    {"lon", required_argument, NULL, O_LON},
	    {"accuracy", required_argument, NULL, O_ACC},
	    {"duration", required_argument, NULL, O_DUR},
	    {"living", required_argument, NULL, O_LIVING},
	    {"safety", required_argument, NULL, O_SAFETY},
	    {"family", required_argument, NULL, O_FAMILY},
	    {"care", required_argument, NULL, O_CARE},
	    {"needs", required_argument, NULL, O_NEEDS},
	    {"follow-up", no_argument, NULL, O_FOLLOW},
	    {"note", required_argument, NULL, O_NOTE},
	    {"id", required_argument, NULL, O_ID},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct tanfang_visit v = {0};
	bool has_lat = false, has_lon = false, has_acc = false;
	unsigned long ul;
	int c, kind;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_ELDER: v.elder_id = optarg; break;
		case O_KIND:
			kind = tanfang_visit_kind_value(optarg);
			if (kind < 0) {
				errx_msg("--kind: unknown visit kind '%s' (use door, phone, "
				         "neighbour_check, health or party_member)",
				         optarg);
				bad = 1;
			}
			v.kind = (enum tanfang_visit_kind)kind;
			break;
		case O_AT: bad = parse_time("--at", optarg, &v.visited_at) < 0; break;
		case O_LAT:
			bad = parse_double("--lat", optarg, -90, 90, &v.lat) < 0;
			has_lat = true;
			break;
		case O_LON:
			bad = parse_double("--lon", optarg, -180, 180, &v.lon) < 0;
			has_lon = true;
			break;
		case O_ACC:
			bad = parse_double("--accuracy", optarg, 0, 1e7, &v.accuracy_m) < 0;
			has_acc = true;
			break;
		case O_DUR:
			bad = parse_uint("--duration", optarg, 24 * 60, &ul) < 0;
			v.duration_min = (uint32_t)ul;
			break;
		case O_LIVING:
			bad = parse_assessment("--living", optarg, &v.basic_living) < 0;
			break;
		case O_SAFETY:
			bad = parse_assessment("--safety", optarg, &v.safety_risk) < 0;
			break;
		case O_FAMILY:
			bad = parse_assessment("--family", optarg, &v.family_support) < 0;
			break;
		case O_CARE:
			bad = parse_assessment("--care", optarg, &v.care_protection) < 0;
			break;
		case O_NEEDS: bad = parse_needs("--needs", optarg, &v.needs) < 0; break;
		case O_FOLLOW: v.follow_up = true; break;
		case O_NOTE: v.note = optarg; break;
		case O_ID:
			bad = parse_id("--id", optarg, v.id) < 0;
			v.has_id = true;
			break;
		default: return help_or_usage(c, argv, usage_visit);
		}
		if (bad)
			return EXIT_USAGE;
	}
	if (extra_operand("visit", argc, argv))
		return EXIT_USAGE;
	if (!v.elder_id || !v.kind) {
		errx_msg("visit: --elder and --kind are required (see visit --help)");
		return EXIT_USAGE;
	}
	if (has_lat != has_lon || (has_acc && !has_lat)) {
		errx_msg("visit: --lat and --lon go together; --accuracy needs them");
		return EXIT_USAGE;
	}
	v.has_location = has_lat;

	struct tanfang *h;
	if (open_dev(dir, &h) < 0)
		return EXIT_FAIL;
	uint8_t id[TANFANG_ID_LEN];
	int r = tanfang_record_visit(h, &v, id);
	tanfang_close(h);
	return record_result("visit", r, id);
}

static int cmd_event(const char *dir, int argc, char **argv)
{
	enum { O_ELDER = 256, O_TYPE, O_SEV, O_AID, O_AT, O_NOTE, O_ID };
	static const struct option lo[] = {
	    {"elder", required_argument, NULL, O_ELDER},
	    {"type", required_argument, NULL, O_TYPE},
	    {"severity", required_argument, NULL, O_SEV},
	    {"aid", required_argument, NULL, O_AID},
	    {"at", required_argument, NULL, O_AT},
	    {"note", required_argument, NULL, O_NOTE},
	    {"id", required_argument, NULL, O_ID},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct tanfang_event e = {0};
	int c, v;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_ELDER: e.elder_id = optarg; break;
		case O_TYPE:
			v = tanfang_event_type_value(optarg);
			if (v < 0) {
				errx_msg("--type: unknown event type '%s' (see event --help)",
				         optarg);
				bad = 1;
			}
			e.type = (enum tanfang_event_type)v;
			break;
		case O_SEV:
			v = tanfang_severity_value(optarg);
			if (v < 0) {
				errx_msg("--severity: unknown severity '%s' (use info, warning or "
				         "urgent)",
				         optarg);
				bad = 1;
			}
			e.severity = (enum tanfang_severity)v;
			break;
		case O_AID:
			v = tanfang_aid_value(optarg);
			if (v < 0) {
				errx_msg("--aid: unknown aid '%s' (use meals, medical, mobility, "
				         "cleaning, bathing, emergency)",
				         optarg);
				bad = 1;
			}
			e.aid = (enum tanfang_aid)v;
			break;
		case O_AT: bad = parse_time("--at", optarg, &e.occurred_at) < 0; break;
		case O_NOTE: e.note = optarg; break;
		case O_ID:
			bad = parse_id("--id", optarg, e.id) < 0;
			e.has_id = true;
			break;
		default: return help_or_usage(c, argv, usage_event);
		}
		if (bad)
			return EXIT_USAGE;
	}
	if (extra_operand("event", argc, argv))
		return EXIT_USAGE;
	if (!e.elder_id || !e.type || !e.severity) {
		errx_msg("event: --elder, --type and --severity are required (see event --help)");
		return EXIT_USAGE;
	}
	struct tanfang *h;
	if (open_dev(dir, &h) < 0)
		return EXIT_FAIL;
	uint8_t id[TANFANG_ID_LEN];
	int r = tanfang_record_event(h, &e, id);
	tanfang_close(h);
	return record_result("care event", r, id);
}

/* First line of the file, without surrounding white space. */
static int read_key_file(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		errx_msg("--server-key-file %s: %s", path, strerror(errno));
		return -1;
	}
	char line[256];
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	if (!got) {
		errx_msg("--server-key-file %s: empty file", path);
		return -1;
	}
	char *s = line + strspn(line, " \t");
	s[strcspn(s, " \t\r\n")] = '\0';
	if (strlen(s) >= size) {
		errx_msg("--server-key-file %s: not a server key", path);
		return -1;
	}
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int cmd_sync(const char *dir, int argc, char **argv)
{
	enum { O_EP = 256, O_KEY, O_KEYFILE, O_ATTEMPTS, O_TIMEOUT, O_DELAY };
	static const struct option lo[] = {
	    {"endpoint", required_argument, NULL, O_EP},
	    {"server-key", required_argument, NULL, O_KEY},
	    {"server-key-file", required_argument, NULL, O_KEYFILE},
	    {"attempts", required_argument, NULL, O_ATTEMPTS},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"delay", required_argument, NULL, O_DELAY},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *endpoint = getenv("TANFANG_ENDPOINT");
	const char *key = getenv("TANFANG_SERVER_KEY");
	const char *keyfile = NULL;
	struct tanfang_sync_opts o = {0};
	unsigned long ul;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_EP: endpoint = optarg; break;
		case O_KEY: key = optarg; break;
		case O_KEYFILE: keyfile = optarg; break;
		case O_ATTEMPTS:
			bad = parse_uint("--attempts", optarg, 1000, &ul) < 0;
			if (!bad && ul == 0) {
				errx_msg("--attempts: at least 1");
				bad = 1;
			}
			o.attempts = (unsigned)ul;
			break;
		case O_TIMEOUT:
			bad = parse_uint("--timeout", optarg, 600000, &ul) < 0;
			if (!bad && ul == 0) {
				errx_msg("--timeout: at least 1 ms");
				bad = 1;
			}
			o.timeout_ms = (unsigned)ul;
			break;
		case O_DELAY:
			bad = parse_uint("--delay", optarg, 600000, &ul) < 0;
			o.base_delay_ms = ul ? (unsigned)ul : 1;
			break;
		default: return help_or_usage(c, argv, usage_sync);
		}
		if (bad)
			return EXIT_USAGE;
	}
	if (extra_operand("sync", argc, argv))
		return EXIT_USAGE;
	if (!endpoint || !*endpoint) {
		errx_msg("sync: --endpoint is required (or set TANFANG_ENDPOINT)");
		return EXIT_USAGE;
	}
	char keybuf[128];
	if (keyfile) {
		if (read_key_file(keyfile, keybuf, sizeof keybuf) < 0)
			return EXIT_USAGE;
		key = keybuf;
	}

	struct tanfang *h;
	if (open_dev(dir, &h) < 0)
		return EXIT_FAIL;
	struct tanfang_sync_result res;
	int r = tanfang_sync(h, endpoint, key, &o, &res);
	tanfang_close(h);
	if (r == -EINVAL) {
		errx_msg("sync: bad endpoint '%s' or server key (expected e.g. tcp://host:7480 and "
		         "a 40-character Z85 key)",
		         endpoint);
		return EXIT_USAGE;
	}
	printf("sent %zu, stored %zu, already stored %zu, refused %zu, still pending %zu\n",
	       res.sent, res.ok, res.duplicate, res.refused, res.pending);
	if (r == TANFANG_E_TIMEOUT)
		errx_msg(
		    "sync: %zu record(s) still pending after %u attempt(s): the daemon did not "
		    "acknowledge them (unreachable, busy or full, or a wrong server key); they "
		    "stay in the outbox",
		    res.pending, res.passes);
	else if (r == TANFANG_E_SIGNER)
		errx_msg(
		    "sync: the daemon refused this device's key (not enrolled, or revoked): give "
		    "the administrator the public key '" PROG " pubkey' prints; the %zu "
		    "record(s) stay in the outbox",
		    res.pending);
	else if (r < 0)
		errx_msg("sync: %s", tanfang_strerror(r));
	if (res.refused)
		errx_msg("sync: %zu record(s) refused by the daemon; see '" PROG " status'",
		         res.refused);
	return (r == 0 && res.pending == 0 && res.refused == 0) ? EXIT_OK : EXIT_FAIL;
}

static void format_ms(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "%lld", (long long)ms);
}

static int print_refusal(void *ctx, const struct tanfang_refusal *r)
{
	(void)ctx;
	char when[32];
	format_ms(r->recorded_ms, when, sizeof when);
	printf("%s  %s  %s  elder %s  recorded %s  %s\n", r->id_hex, r->status, r->what,
	       r->elder_id, when, r->detail);
	return 0;
}

static int print_pending(void *ctx, const struct tanfang_pending *p)
{
	(void)ctx;
	char when[32];
	format_ms(p->recorded_ms, when, sizeof when);
	printf("%s  %s  elder %s  recorded %s\n", p->id_hex, p->what, p->elder_id, when);
	return 0;
}

static int cmd_status(const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"pending", no_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {0}};
	bool list_pending = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'p')
			list_pending = true;
		else
			return help_or_usage(c, argv, usage_status);
	}
	if (extra_operand("status", argc, argv))
		return EXIT_USAGE;
	struct tanfang *h;
	if (open_dev(dir, &h) < 0)
		return EXIT_FAIL;
	size_t pending, refused;
	int r = tanfang_status(h, &pending, &refused);
	if (r == 0) {
		printf("pending: %zu\nrefused: %zu\n", pending, refused);
		if (list_pending && pending) {
			printf("pending records:\n");
			r = tanfang_pending_foreach(h, print_pending, NULL);
		}
	}
	if (r == 0 && refused) {
		printf("refused records:\n");
		r = tanfang_refused_foreach(h, print_refusal, NULL);
	}
	tanfang_close(h);
	if (r < 0) {
		errx_msg("status: %s", tanfang_strerror(r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

struct collect_ids {
	size_t n, cap;
	uint8_t (*ids)[TANFANG_ID_LEN];
};

/* Makes room for one more id. Returns 0 or -ENOMEM. */
static int ids_reserve(struct collect_ids *c)
{
	if (c->n < c->cap)
		return 0;
	size_t cap = c->cap ? 2 * c->cap : 16;
	void *p = realloc(c->ids, cap * sizeof *c->ids);
	if (!p)
		return -ENOMEM;
	c->ids = p;
	c->cap = cap;
	return 0;
}

static int collect_refused(void *ctx, const struct tanfang_refusal *r)
{
	struct collect_ids *c = ctx;
	if (ids_reserve(c) < 0)
		return -ENOMEM;
	for (int i = 0; i < TANFANG_ID_LEN; i++) {
		unsigned v;
		if (sscanf(r->id_hex + 2 * i, "%2x", &v) != 1)
			return TANFANG_E_CORRUPT;
		c->ids[c->n][i] = (uint8_t)v;
	}
	c->n++;
	return 0;
}

static int cmd_requeue(const char *dir, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0}};
	bool all = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'a')
			all = true;
		else
			return help_or_usage(c, argv, usage_requeue);
	}
	if (all == (optind < argc)) {
		errx_msg("requeue: give record ids or --all, not both or neither");
		return EXIT_USAGE;
	}
	struct collect_ids ids = {0};
	for (int i = optind; i < argc; i++) {
		if (ids_reserve(&ids) < 0) {
			errx_msg("out of memory");
			free(ids.ids);
			return EXIT_FAIL;
		}
		if (parse_id("requeue", argv[i], ids.ids[ids.n]) < 0) {
			free(ids.ids);
			return EXIT_USAGE;
		}
		ids.n++;
	}
	struct tanfang *h;
	if (open_dev(dir, &h) < 0) {
		free(ids.ids);
		return EXIT_FAIL;
	}
	int r = 0, rc = EXIT_OK;
	if (all)
		r = tanfang_refused_foreach(h, collect_refused, &ids);
	if (r < 0) {
		errx_msg("requeue: %s", tanfang_strerror(r));
		rc = EXIT_FAIL;
	}
	for (size_t i = 0; r == 0 && i < ids.n; i++) {
		int q = tanfang_requeue(h, ids.ids[i]);
		char hex[TANFANG_ID_HEX_LEN];
		for (int b = 0; b < TANFANG_ID_LEN; b++)
			snprintf(hex + 2 * b, 3, "%02x", ids.ids[i][b]);
		if (q == -ENOENT) {
			errx_msg("requeue: no refused record %s", hex);
			rc = EXIT_FAIL;
		} else if (q < 0) {
			errx_msg("requeue %s: %s", hex, tanfang_strerror(q));
			rc = EXIT_FAIL;
		} else {
			printf("%s requeued\n", hex);
		}
	}
	tanfang_close(h);
	free(ids.ids);
	return rc;
}

static char *default_dir(void)
{
	const char *d = getenv("TANFANG_FIELD_DIR");
	char *out = NULL;
	if (d && *d)
		return strdup(d);
	d = getenv("XDG_DATA_HOME");
	if (d && *d)
		return asprintf(&out, "%s/tanfang-field", d) < 0 ? NULL : out;
	d = getenv("HOME");
	if (d && *d)
		return asprintf(&out, "%s/.local/share/tanfang-field", d) < 0 ? NULL : out;
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"dir", required_argument, NULL, 'd'},
	                                   {"now", required_argument, NULL, 'n'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {0}};
	opterr = 0; /* help_or_usage says it */
	/* --at is read, and times shown, in the zone the offices report in
	 * (the daemon's default), as tanfang-admin does: a device left on UTC
	 * would otherwise put an evening visit on the next day, or month. */
	if (!getenv("TZ") && period_set_timezone("Asia/Shanghai") < 0)
		errx_msg("warning: no Asia/Shanghai zone (tzdata); times are the system's");
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("%s (tanfang) %s\n", PROG, TANFANG_VERSION);
		return 0;
	}
	char *dir = NULL;
	int c;
	/* "+": stop at the command word; its options are parsed by the command. */
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		if (c == 'd') {
			free(dir);
			dir = strdup(optarg);
			continue;
		}
		if (c == 'n') {
			char *end;
			long long n = strtoll(optarg, &end, 10);
			if (end == optarg || *end || n <= 0) {
				free(dir);
				errx_msg("--now needs unix seconds");
				return EXIT_USAGE;
			}
			tanfang_pin_clock(n);
			continue;
		}
		free(dir);
		return help_or_usage(c, argv, usage_main);
	}
	if (optind >= argc) {
		errx_msg("missing command");
		fputs(usage_main, stderr);
		free(dir);
		return EXIT_USAGE;
	}
	if (!dir)
		dir = default_dir();
	if (!dir) {
		errx_msg("no device folder: use --dir or set TANFANG_FIELD_DIR");
		return EXIT_USAGE;
	}
	static const struct {
		const char *name;
		int (*fn)(const char *, int, char **);
	} cmds[] = {
	    {"keygen", cmd_keygen},   {"pubkey", cmd_pubkey}, {"visit", cmd_visit},
	    {"event", cmd_event},     {"sync", cmd_sync},     {"status", cmd_status},
	    {"requeue", cmd_requeue},
	};
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	/* The command's own getopt pass starts after its name; 0 makes GNU
	 * getopt reinitialise (the main pass used "+" ordering). */
	optind = 0;
	int rc = -1;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			rc = cmds[i].fn(dir, sub_argc, sub_argv);
	if (rc < 0) {
		errx_msg("unknown command '%s'", cmd);
		fputs(usage_main, stderr);
		rc = EXIT_USAGE;
	}
	free(dir);
	return rc;
}
