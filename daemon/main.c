/* tanfangd: init a data folder, run the daemon in the foreground, check a
 * configuration, verify the audit log. The pipeline itself is in server.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "cliopt.h"
#include "clock.h"
#include "dconfig.h"
#include "envelope.h"
#include "hex.h"
#include "ingest.h"
#include "keys.h"
#include "log.h"
#include "period.h"
#include "policy.h"
#include "server.h"
#include "store.h"
#include "version.h"

#define EXIT_USAGE 2
/* verify-log: the audit found tampering or damage (1 is "could not read"). */
#define EXIT_TAMPERED 3

static const char usage_text[] =
    "usage: tanfangd run [--config FILE] [--data DIR] [--listen EP[,EP...]] [--workers N]\n"
    "                    [--no-curve] [--policy FILE] [--now UNIX_SECONDS] [-v]\n"
    "       tanfangd init [--config FILE] [--data DIR]\n"
    "       tanfangd check-config [--config FILE] [--policy FILE]   (also --check-config)\n"
    "       tanfangd verify-log [--config FILE] [--data DIR] [--checkpoints FILE]\n"
    "                           [--key HEX]\n"
    "       tanfangd checkpoint-key [--config FILE] [--data DIR]\n"
    "       tanfangd backup [--config FILE] [--data DIR] (--root DIR [--keep N] | --to DIR)\n"
    "       tanfangd recover-admin [--config FILE] [--data DIR] [--key FILE]\n"
    "\n"
    "  run           serve in the foreground, logging to stderr; SIGTERM/SIGINT stop\n"
    "                cleanly, SIGHUP reloads the policy file\n"
    "  init          create a data folder: store, admin key (admin.key), CURVE keys\n"
    "                (curve.key, curve.pub), checkpoint signing key (checkpoint.key);\n"
    "                prints the public keys\n"
    "  check-config  validate the configuration and the policy file it names; exit 0 if\n"
    "                both are good. Without --config: the installed one,\n"
    "                $TANFANG_SYSCONFDIR/tanfangd.conf (default /etc/tanfang/tanfangd.conf)\n"
    "  verify-log    re-verify every signature and the hash chain of the audit log, hold\n"
    "                it against the signed checkpoints (checkpoints.log), and every\n"
    "                stored visit and care event against its log entry\n"
    "  checkpoint-key  print the public key that signs the audit log's checkpoints\n"
    "  backup        copy the store, consistent and compacted, while the daemon keeps\n"
    "                running: --root DIR makes DIR/YYYY-MM-DD (DIR/YYYY-MM-DD.2, ... for\n"
    "                more the same day), mode 0700, holding checkpoints.log, data.mdb and\n"
    "                the keys, each mode 0600; --keep N then removes all but the newest N\n"
    "                such folders. --to DIR copies the store alone into DIR itself\n"
    "  recover-admin make visitor 'admin' a root admin again and enrol the key in FILE\n"
    "                (default DATA/admin.key; made if absent): the way back when the root\n"
    "                admin's key is lost or revoked. Needs the data folder, not a signature\n"
    "\n"
    "  --config FILE     INI configuration (see docs/operations.md); without it, defaults\n"
    "  --data DIR        data folder (default /var/lib/tanfang, or [daemon] data_dir)\n"
    "  --listen EP       ZeroMQ endpoint(s), comma-separated (default tcp://127.0.0.1:7480)\n"
    "  --workers N       verify threads (default: online CPUs)\n"
    "  --no-curve        no CURVE transport encryption (loopback tests only)\n"
    "  --policy FILE     visit policy file (default: the built-in policy)\n"
    "  --now SECONDS     pin the daemon's clock (tests)\n"
    "  -v, --verbose     debug logging\n"
    "  --root DIR        backup: the folder that holds the dated backups\n"
    "  --keep N          backup --root: keep the newest N dated backups (1..10000)\n"
    "  --version         print the version and exit\n"
    "  --checkpoints FILE  verify-log: checkpoints to hold the log against (default\n"
    "                    DATA/checkpoints.log); a copy kept elsewhere, or the journal\n"
    "  --key HEX         verify-log: the checkpoint key to trust (default: the public\n"
    "                    half of DATA/checkpoint.key)\n"
    "\n"
    "Exit status: 0 ok, 1 operational failure (verify-log: cannot read), 2 usage\n"
    "error, 3 verify-log found tampering or damage.\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/* tanfangd COMMAND --help: the command's usage lines and its description
 * from usage_text, then the options. */
static void command_usage(const char *cmd)
{
	size_t n = strlen(cmd);
	bool in_usage = false, in_desc = false;
	const char *opts = strstr(usage_text, "\n  --config");
	for (const char *line = usage_text; line && *line && line < opts;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line + 1) : strlen(line);
		const char *t = line + strspn(line, " ");
		bool usage_line =
		    strncmp(line, "usage: ", 7) == 0 || strncmp(line, "       tanfangd ", 16) == 0;
		if (usage_line) {
			const char *c = strstr(line, "tanfangd ") + 9;
			in_usage = strncmp(c, cmd, n) == 0 && c[n] == ' ';
			if (in_usage)
				printf("usage: %.*s",
				       (int)(len - (size_t)(strstr(line, "tanfangd ") - line)),
				       strstr(line, "tanfangd "));
		} else if (in_usage && t - line > 7 && *t == '[') {
			fwrite(line, 1, len, stdout);
		} else {
			in_usage = false;
			if (t - line == 2)
				in_desc = strncmp(t, cmd, n) == 0 && t[n] == ' ';
			else if (t - line < 2)
				in_desc = false;
			if (in_desc)
				fwrite(line, 1, len, stdout);
		}
		line = end ? end + 1 : NULL;
	}
	if (opts)
		fputs(opts, stdout);
}

static int usage_error(const char *fmt, ...) TF_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("tanfangd: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'tanfangd --help'.\n", stderr);
	return EXIT_USAGE;
}

struct args {
	const char *config;
	const char *data;
	const char *listen;
	const char *workers;
	const char *policy;
	const char *now;
	const char *to;          /* backup: the destination folder */
	const char *root;        /* backup: the folder of dated backups */
	const char *keep;        /* backup --root: how many to keep */
	const char *checkpoints; /* verify-log: the checkpoint file */
	const char
	    *key; /* verify-log: the checkpoint key to trust, hex; recover-admin: a key file */
	bool no_curve;
	bool verbose;
};

enum {
	OPT_CONFIG = 1000,
	OPT_DATA,
	OPT_LISTEN,
	OPT_WORKERS,
	OPT_POLICY,
	OPT_NOW,
	OPT_NO_CURVE,
	OPT_TO,
	OPT_CHECKPOINTS,
	OPT_KEY,
	OPT_ROOT,
	OPT_KEEP,
};

/* Parses the options allowed for a command (allowed: a string of the OPT_
 * letters below). Returns 0, EXIT_USAGE, or -1 for --help (already printed). */
static int parse_args(int argc, char **argv, const char *allowed, struct args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"data", required_argument, NULL, OPT_DATA},
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"workers", required_argument, NULL, OPT_WORKERS},
	    {"policy", required_argument, NULL, OPT_POLICY},
	    {"now", required_argument, NULL, OPT_NOW},
	    {"no-curve", no_argument, NULL, OPT_NO_CURVE},
	    {"to", required_argument, NULL, OPT_TO},
	    {"checkpoints", required_argument, NULL, OPT_CHECKPOINTS},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"root", required_argument, NULL, OPT_ROOT},
	    {"keep", required_argument, NULL, OPT_KEEP},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* Letters for `allowed`: c config, d data, l listen, w workers,
	 * p policy, n now, N no-curve, t to, k checkpoints, K key, r root,
	 * R keep, v verbose. */
	static const struct {
		int opt;
		char letter;
	} letters[] = {{OPT_CONFIG, 'c'},   {OPT_DATA, 'd'},   {OPT_LISTEN, 'l'},
	               {OPT_WORKERS, 'w'},  {OPT_POLICY, 'p'}, {OPT_NOW, 'n'},
	               {OPT_NO_CURVE, 'N'}, {OPT_TO, 't'},     {OPT_CHECKPOINTS, 'k'},
	               {OPT_KEY, 'K'},      {OPT_ROOT, 'r'},   {OPT_KEEP, 'R'},
	               {'v', 'v'}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		if (c == 'h') {
			command_usage(strcmp(argv[0], "--check-config") == 0 ? "check-config"
			                                                     : argv[0]);
			return -1;
		}
		if (c == '?' || c == ':')
			return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		bool ok = false;
		for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
			if (letters[i].opt == c && strchr(allowed, letters[i].letter))
				ok = true;
		if (!ok) {
			const char *name = "-v";
			for (size_t i = 0; opts[i].name; i++)
				if (opts[i].val == c)
					name = opts[i].name;
			return usage_error("option --%s is not used by this command", name);
		}
		switch (c) {
		case OPT_CONFIG: a->config = optarg; break;
		case OPT_DATA: a->data = optarg; break;
		case OPT_LISTEN: a->listen = optarg; break;
		case OPT_WORKERS: a->workers = optarg; break;
		case OPT_POLICY: a->policy = optarg; break;
		case OPT_NOW: a->now = optarg; break;
		case OPT_NO_CURVE: a->no_curve = true; break;
		case OPT_TO: a->to = optarg; break;
		case OPT_CHECKPOINTS: a->checkpoints = optarg; break;
		case OPT_KEY: a->key = optarg; break;
		case OPT_ROOT: a->root = optarg; break;
		case OPT_KEEP: a->keep = optarg; break;
		case 'v': a->verbose = true; break;
		default: break;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The configuration: file (if given), then command-line overrides. Returns 0,
 * 1 (bad file or value, message printed) or EXIT_USAGE. */
static int load_config(const struct args *a, struct dconfig *cfg)
{
	char err[1024];
	if (a->config) {
		if (dconfig_load(a->config, cfg, err, sizeof err) < 0) {
			log_errorx("configuration refused: %s", err);
			return 1;
		}
	} else {
		dconfig_defaults(cfg);
	}
	const struct {
		const char *key;
		const char *value;
	} over[] = {{"data_dir", a->data},
	            {"listen", a->listen},
	            {"workers", a->workers},
	            {"policy", a->policy}};
	for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
		if (!over[i].value)
			continue;
		if (dconfig_set(cfg, "daemon", over[i].key, over[i].value, err, sizeof err) < 0) {
			fprintf(stderr, "tanfangd: --%s: %s\nTry 'tanfangd --help'.\n",
			        strcmp(over[i].key, "data_dir") == 0 ? "data" : over[i].key, err);
			return EXIT_USAGE;
		}
	}
	if (a->no_curve)
		cfg->curve = DCONFIG_CURVE_NO;
	if (a->verbose)
		cfg->log_level = LOG_LEVEL_DEBUG;
	return 0;
}

/* The policy of the configuration: the file, or the built-in defaults.
 * Returns 0, or -1 with the reason logged. */
static int load_policy(const struct dconfig *cfg, struct policy **out)
{
	char err[512] = "";
	if (!*cfg->policy) {
		int r = policy_default(out);
		if (r < 0)
			log_errorx("built-in policy: %s", tf_strerror(r));
		return r < 0 ? -1 : 0;
	}
	int r = policy_load(cfg->policy, out, err, sizeof err);
	if (r < 0) {
		log_errorx("policy %s refused: %s", cfg->policy, *err ? err : tf_strerror(r));
		return -1;
	}
	return 0;
}

/* The zone for month and week boundaries, copied into tz: an explicit
 * [daemon] timezone wins; otherwise the policy file's (docs/policy.md). */
static void effective_timezone(const struct dconfig *cfg, const struct policy *pol, char tz[64])
{
	if (cfg->timezone_set || !*cfg->policy) {
		if (*cfg->policy && strcmp(pol->timezone, cfg->timezone) != 0)
			log_warnx("policy %s names time zone %s; [daemon] timezone %s is used",
			          cfg->policy, pol->timezone, cfg->timezone);
		snprintf(tz, 64, "%s", cfg->timezone);
	} else {
		snprintf(tz, 64, "%s", pol->timezone);
	}
}

/* The policy, and the process-wide time zone set from it (tz receives the
 * zone's name). Returns 0 with *out the caller's to free, or -1 with the
 * reason logged. */
static int load_policy_zone(const struct dconfig *cfg, struct policy **out, char tz[64])
{
	struct policy *pol;
	if (load_policy(cfg, &pol) < 0)
		return -1;
	effective_timezone(cfg, pol, tz);
	if (period_set_timezone(tz) < 0) {
		log_errorx("unknown time zone %s", tz);
		policy_free(pol);
		return -1;
	}
	*out = pol;
	return 0;
}

/* How every command starts: its options (allowed as for parse_args), then
 * the configuration. Returns 0 to go on, -1 after --help (already printed),
 * or the exit code to return (EXIT_USAGE or 1, message printed). */
static int command_start(int argc, char **argv, const char *allowed, struct args *a,
                         struct dconfig *cfg)
{
	int r = parse_args(argc, argv, allowed, a);
	if (r)
		return r;
	return load_config(a, cfg);
}

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* ---- init ---- */

static int cmd_init(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = command_start(argc, argv, "cdv", &a, &cfg);
	if (r)
		return r < 0 ? 0 : r;
	const char *dir = cfg.data_dir;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create %s", dir);
		return 1;
	}
	if (file_exists(dir, "data.mdb") || file_exists(dir, "admin.key") ||
	    file_exists(dir, "curve.key") || file_exists(dir, CHECKPOINT_KEY_FILE)) {
		log_errorx("%s is already initialised; refusing to touch it", dir);
		return 1;
	}
	/* The store holds personal and health data: the daemon's user only. */
	if (chmod(dir, 0700) < 0) {
		log_error("cannot set mode 0700 on %s", dir);
		return 1;
	}
	struct keypair admin, cpk;
	bool cpk_made;
	char path[PATH_MAX + 32], curve_pub[41];
	struct store *st = NULL;
	struct store_options so = {.map_size = cfg.map_size_mb << 20};
	if ((r = keys_generate(&admin)) < 0)
		goto fail;
	snprintf(path, sizeof path, "%s/admin.key", dir);
	if ((r = keys_save(path, &admin)) < 0)
		goto fail;
	if ((r = store_open(dir, &so, &st)) < 0)
		goto fail;
	if ((r = ingest_bootstrap(st, admin.pk)) < 0)
		goto fail;
	char prev[64];
	if ((r = store_version_mark(st, TANFANG_VERSION, true, prev, sizeof prev)) < 0)
		goto fail;
	store_close(st);
	st = NULL;
	if ((r = server_curve_init(dir, curve_pub)) < 0)
		goto fail;
	if ((r = checkpoint_key_open(dir, &cpk, &cpk_made)) < 0)
		goto fail;
	char hex[65], cphex[65];
	keys_pk_hex(&admin, hex);
	keys_pk_hex(&cpk, cphex);
	printf("initialised %s\n", dir);
	printf("admin public key: %s\n", hex);
	printf("admin key file:   %s/admin.key\n", dir);
	printf("curve public key: %s\n", curve_pub);
	printf("checkpoint key:   %s (keep a copy apart: docs/operations.md)\n", cphex);
	return 0;
fail:
	store_close(st);
	log_errorx("init of %s failed: %s", dir, tf_strerror(r));
	return 1;
}

/* ---- check-config ---- */

/* Checks the configuration the service would run with (issue 11, item 6):
 * without --config, the installed file, and the policy file it names. */
static int cmd_check_config(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = parse_args(argc, argv, "cpdlwv", &a);
	if (r)
		return r < 0 ? 0 : r;
	char installed[PATH_MAX];
	if (!a.config) {
		snprintf(installed, sizeof installed, "%s/tanfangd.conf", cli_sysconfdir());
		if (access(installed, F_OK) == 0) {
			a.config = installed;
		} else {
			fprintf(stderr,
			        "tanfangd: warning: no installed configuration %s; checking the "
			        "defaults\n",
			        installed);
		}
	}
	if ((r = load_config(&a, &cfg)))
		return r;
	struct policy *pol;
	char tz[64];
	if (load_policy_zone(&cfg, &pol, tz) < 0)
		return 1;
	policy_free(pol);
	printf("configuration %s OK; policy %s OK; time zone %s\n",
	       a.config ? a.config : "(defaults)", *cfg.policy ? cfg.policy : "(built-in)", tz);
	if (!file_exists(cfg.data_dir, "data.mdb"))
		printf("note: the data folder %s is not initialised yet (tanfangd init)\n",
		       cfg.data_dir);
	return 0;
}

/* ---- backup ---- */

/* Opens the initialised store of cfg read-only, for the commands that read
 * it beside a running daemon. Returns 0, or -1 with the reason logged. */
static int open_store_ro(const struct dconfig *cfg, struct store **out)
{
	if (!file_exists(cfg->data_dir, "data.mdb")) {
		log_errorx("%s holds no store (run tanfangd init first)", cfg->data_dir);
		return -1;
	}
	/* A folder without a lock file is a copy no daemon runs on (a backup):
	 * opened without one, so reading it writes nothing into it. */
	struct store_options so = {.map_size = cfg->map_size_mb << 20,
	                           .read_only = true,
	                           .no_lock = !file_exists(cfg->data_dir, "lock.mdb")};
	int r = store_open(cfg->data_dir, &so, out);
	if (r < 0) {
		log_errorx("cannot open the store in %s: %s", cfg->data_dir, tf_strerror(r));
		return -1;
	}
	return 0;
}

/* A dated backup folder's name: YYYY-MM-DD, or YYYY-MM-DD.N (N >= 2) for
 * the N-th of that day. Returns N (1 for none), or 0 for another name. */
static long backup_seq(const char *name)
{
	static const char shape[] = "dddd-dd-dd";
	for (size_t i = 0; i < 10; i++) {
		bool digit = name[i] >= '0' && name[i] <= '9';
		if (!name[i] || (shape[i] == 'd' ? !digit : name[i] != '-'))
			return 0;
	}
	if (!name[10])
		return 1;
	if (name[10] != '.' || name[11] < '1' || name[11] > '9')
		return 0;
	char *end;
	errno = 0;
	long n = strtol(name + 11, &end, 10);
	return *end || errno || n < 2 ? 0 : n;
}

/* Newest first: by date, then by the day's sequence. */
static int backup_cmp(const void *pa, const void *pb)
{
	const char *a = *(char *const *)pa, *b = *(char *const *)pb;
	int c = strncmp(b, a, 10);
	if (c)
		return c;
	long na = backup_seq(a), nb = backup_seq(b);
	return (nb > na) - (nb < na);
}

/* Removes a dated backup: the files directly in it, then the folder. A
 * folder holding anything else (a sub-folder) is left, with a warning. */
static int backup_remove(const char *root, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	snprintf(dir, sizeof dir, "%s/%s", root, name);
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		struct stat stt;
		if (lstat(path, &stt) == 0 && !S_ISDIR(stt.st_mode))
			(void)unlink(path);
	}
	closedir(d);
	return rmdir(dir) < 0 ? -errno : 0;
}

/* --keep N: removes all but the newest n dated backups under root (only
 * folders named as backup --root names them, holding a data.mdb).
 * Returns 0, or -1 with the reason logged. */
static int backup_retain(const char *root, long n)
{
	DIR *d = opendir(root);
	if (!d) {
		log_error("cannot read %s", root);
		return -1;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	int status = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!backup_seq(de->d_name))
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof sub, "%s/%s", root, de->d_name);
		if (!file_exists(sub, "data.mdb"))
			continue;
		if (count == cap) {
			cap = cap ? 2 * cap : 32;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn) {
				status = -1;
				break;
			}
			names = nn;
		}
		if (!(names[count] = strdup(de->d_name))) {
			status = -1;
			break;
		}
		count++;
	}
	closedir(d);
	if (status < 0)
		log_errorx("out of memory");
	if (status == 0 && count)
		qsort(names, count, sizeof *names, backup_cmp);
	for (size_t i = (size_t)n; status == 0 && i < count; i++) {
		int r = backup_remove(root, names[i]);
		if (r < 0)
			log_warnx("cannot remove the old backup %s/%s: %s", root, names[i],
			          tf_strerror(r));
		else
			printf("removed the old backup %s/%s (--keep %ld)\n", root, names[i], n);
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return status;
}

/* Makes today's folder under root: root/YYYY-MM-DD, or .2, .3, ... when a
 * backup of the day is already there (issue 11, item 7: a second backup
 * the same day works). The date is the configured zone's. Returns 0 with
 * out filled, or -1 with the reason logged. */
static int backup_dated_dir(const struct dconfig *cfg, const char *root, char *out, size_t size)
{
	if (mkdir(root, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create the backup folder %s", root);
		return -1;
	}
	if (period_set_timezone(cfg->timezone) < 0) {
		log_errorx("unknown time zone %s", cfg->timezone);
		return -1;
	}
	char day[32];
	period_format(clock_now(), day, sizeof day);
	day[10] = '\0';
	for (long n = 1; n <= 1000; n++) {
		int k = n == 1 ? snprintf(out, size, "%s/%s", root, day)
		               : snprintf(out, size, "%s/%s.%ld", root, day, n);
		if (k < 0 || (size_t)k >= size) {
			log_errorx("backup folder name too long under %s", root);
			return -1;
		}
		if (mkdir(out, 0700) == 0)
			return 0;
		if (errno != EEXIST) {
			log_error("cannot create %s", out);
			return -1;
		}
		/* An empty folder left by a failed attempt is used again. */
		if (!file_exists(out, "data.mdb"))
			return 0;
	}
	log_errorx("more than 1000 backups of %s under %s", day, root);
	return -1;
}

/* Copies dir/name into to/name, mode 0600 whatever the source's, never
 * over a file. A missing source is fine (1). Returns 0, 1, or -1 with the
 * reason logged. */
static int backup_file(const char *dir, const char *name, const char *to)
{
	char src[PATH_MAX + 64], dst[PATH_MAX + 64];
	snprintf(src, sizeof src, "%s/%s", dir, name);
	snprintf(dst, sizeof dst, "%s/%s", to, name);
	FILE *in = fopen(src, "rbe");
	if (!in)
		return errno == ENOENT ? 1 : (log_error("cannot read %s", src), -1);
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!out) {
		log_error("cannot create %s", dst);
		if (fd >= 0)
			close(fd);
		fclose(in);
		return -1;
	}
	char buf[65536];
	size_t n;
	bool bad = false;
	while (!bad && (n = fread(buf, 1, sizeof buf, in)) > 0)
		bad = fwrite(buf, 1, n, out) != n;
	bad = bad || ferror(in) || fflush(out) == EOF || fsync(fileno(out)) < 0;
	fclose(in);
	if (fclose(out) == EOF)
		bad = true;
	if (bad) {
		log_error("cannot copy %s to %s", src, dst);
		unlink(dst);
		return -1;
	}
	return 0;
}

/* A hot backup: LMDB copies from one read transaction, so the copy is a
 * consistent snapshot even while the daemon writes. The destination must
 * not hold a store already: a backup never overwrites one. With --root the
 * folder is a whole restore set (issue 11, item 7): the checkpoints first
 * (each one then a prefix of the log copied next), the store, then the
 * keys, every file mode 0600. */
static int cmd_backup(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = command_start(argc, argv, "cdtrRv", &a, &cfg);
	if (r)
		return r < 0 ? 0 : r;
	if (!a.to == !a.root)
		return usage_error("backup needs --root DIR (dated folders) or --to DIR");
	long keep = 0;
	if (a.keep) {
		char *end;
		errno = 0;
		keep = strtol(a.keep, &end, 10);
		if (!a.root)
			return usage_error("--keep goes with --root");
		if (errno || *end || end == a.keep || keep < 1 || keep > 10000)
			return usage_error("--keep needs a number of backups, 1..10000");
	}
	char dated[PATH_MAX];
	const char *to = a.to;
	if (a.root) {
		if (backup_dated_dir(&cfg, a.root, dated, sizeof dated) < 0)
			return 1;
		to = dated;
	}
	struct store *st;
	if (open_store_ro(&cfg, &st) < 0)
		return 1;
	if (file_exists(to, "data.mdb")) {
		log_errorx("%s already holds a store; back up into a new folder", to);
		store_close(st);
		return 1;
	}
	if (a.root && backup_file(cfg.data_dir, CHECKPOINT_FILE, to) < 0) {
		store_close(st);
		return 1;
	}
	r = store_backup(st, to);
	store_close(st);
	if (r < 0) {
		log_errorx("backup to %s failed: %s", to, tf_strerror(r));
		return 1;
	}
	printf("store of %s copied to %s/data.mdb\n", cfg.data_dir, to);
	static const char *const keys[] = {"admin.key", "curve.key", "curve.pub",
	                                   CHECKPOINT_KEY_FILE};
	for (size_t i = 0; a.root && i < sizeof keys / sizeof keys[0]; i++)
		if (backup_file(cfg.data_dir, keys[i], to) < 0)
			return 1;
	if (a.root)
		printf("with %s and the keys (admin.key, curve.key, curve.pub, %s)\n",
		       CHECKPOINT_FILE, CHECKPOINT_KEY_FILE);
	if (keep && backup_retain(a.root, keep) < 0)
		return 1;
	return 0;
}

/* ---- verify-log ---- */

/* The checkpoints read for verify-log: those that verify become marks;
 * the others are reported (at most REPORT_MAX of them, then a count). */
#define REPORT_MAX 20
struct cp_read {
	const char *file;
	const uint8_t *pk; /* the key to trust; NULL: none known */
	struct auditlog_mark *marks;
	size_t n, cap;
	unsigned long bad, other;
	unsigned long latest_line;
	struct checkpoint latest;
};

static void report_bad(struct cp_read *c, unsigned long line, const char *fmt, ...) TF_PRINTF(3, 4);
static void report_bad(struct cp_read *c, unsigned long line, const char *fmt, ...)
{
	if (++c->bad > REPORT_MAX)
		return;
	printf("checkpoint FAILED: %s line %lu: ", c->file, line);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int on_checkpoint(void *ctx, unsigned long line, int status, const struct checkpoint *cp)
{
	struct cp_read *c = ctx;
	if (status == -ENOENT) {
		c->other++;
		return 0;
	}
	if (status < 0) {
		report_bad(c, line, "not a well-formed checkpoint (damaged or forged)");
		return 0;
	}
	if (!c->pk)
		return -ENOKEY;
	char key[65], want[65];
	hex_encode(cp->key, 32, key);
	hex_encode(c->pk, 32, want);
	int r = checkpoint_verify(cp, c->pk);
	if (r == TF_E_SIGNER) {
		report_bad(c, line, "signed with key %s, not the trusted key %s (forged)", key,
		           want);
		return 0;
	}
	if (r < 0) {
		report_bad(c, line,
		           "the signature does not verify (forged, or the line was altered)");
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct auditlog_mark *m = realloc(c->marks, cap * sizeof *m);
		if (!m)
			return -ENOMEM;
		c->marks = m;
		c->cap = cap;
	}
	struct auditlog_mark *m = &c->marks[c->n];
	char *where;
	if (asprintf(&where, "the checkpoint of %s line %lu", c->file, line) < 0)
		return -ENOMEM;
	*m = (struct auditlog_mark){.entries = cp->entries, .time = cp->time, .where = where};
	memcpy(m->head, cp->head, sizeof m->head);
	c->n++;
	c->latest = *cp;
	c->latest_line = line;
	return 0;
}

static void cp_read_free(struct cp_read *c)
{
	for (size_t i = 0; i < c->n; i++)
		free((char *)c->marks[i].where);
	free(c->marks);
}

static void format_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}

static int cmd_verify_log(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = command_start(argc, argv, "cdkKv", &a, &cfg);
	if (r)
		return r < 0 ? 0 : r;
	if (envelope_init() < 0)
		fatal("libsodium failed to initialise");
	const char *dir = cfg.data_dir;

	/* The key checkpoints must carry: given, or the data folder's. */
	uint8_t pk[32];
	bool have_pk = false;
	if (a.key) {
		if (hex_decode(a.key, pk, sizeof pk) < 0)
			return usage_error("--key: expected 64 hex digits");
		have_pk = true;
	} else {
		struct keypair kp;
		r = checkpoint_key_load(dir, &kp);
		if (r == 0) {
			memcpy(pk, kp.pk, sizeof pk);
			have_pk = true;
		} else if (r != -ENOENT) {
			log_errorx("cannot read %s/%s: %s", dir, CHECKPOINT_KEY_FILE,
			           tf_strerror(r));
			return 1;
		}
		explicit_bzero(&kp, sizeof kp);
	}

	/* The checkpoints are read before the store's snapshot is taken, so a
	 * checkpoint the running daemon writes meanwhile is never newer. */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", dir, CHECKPOINT_FILE);
	struct cp_read cps = {.file = a.checkpoints ? a.checkpoints : path,
	                      .pk = have_pk ? pk : NULL};
	bool no_file = false;
	r = checkpoint_scan(cps.file, on_checkpoint, &cps);
	if (r == -ENOENT && !a.checkpoints) {
		no_file = true;
		r = 0;
	}
	int status = 1;
	if (r == -ENOKEY) {
		log_errorx("%s holds checkpoints but there is no key to check them with: no %s/%s; "
		           "give --key HEX",
		           cps.file, dir, CHECKPOINT_KEY_FILE);
		goto out;
	}
	if (r < 0) {
		log_errorx("cannot read the checkpoints in %s: %s", cps.file, tf_strerror(r));
		goto out;
	}
	if (cps.bad > REPORT_MAX)
		printf("checkpoint FAILED: ... and %lu more lines of %s\n", cps.bad - REPORT_MAX,
		       cps.file);
	if (cps.n == 0 && cps.bad == 0 && a.checkpoints) {
		log_errorx("%s holds no checkpoint", cps.file);
		goto out;
	}

	struct store *st;
	if (open_store_ro(&cfg, &st) < 0)
		goto out;
	struct auditlog_report rep;
	char err[1024] = "";
	r = auditlog_audit(st, cps.marks, cps.n, &rep, err, sizeof err);
	store_close(st);
	if (r == TF_E_CORRUPT) {
		printf("audit log FAILED: %s\n", err);
		status = EXIT_TAMPERED;
		goto out;
	}
	if (r < 0) {
		log_errorx("cannot read the audit log in %s: %s%s%s", dir, tf_strerror(r),
		           *err ? ": " : "", err);
		goto out;
	}
	printf("audit log OK: %" PRIu64 " entries, every signature and the hash chain verified\n",
	       rep.entries);
	printf("records OK: %" PRIu64
	       " visits and care events, each stored as signed and logged, none without its "
	       "entry, each in its histories (a visit also in the month index) under its key's "
	       "visitor\n",
	       rep.records);
	status = cps.bad ? EXIT_TAMPERED : 0;
	if (cps.n) {
		char when[32], key[65];
		format_utc(cps.latest.time, when);
		hex_encode(cps.latest.key, 32, key);
		printf("checkpoints %s: %zu%s of %s, each a prefix of the log; the latest (line "
		       "%lu): %" PRIu64 " entries at %s, key %s\n",
		       cps.bad ? "FAILED" : "OK", cps.n,
		       cps.bad ? " good ones (the others above)" : "", cps.file, cps.latest_line,
		       cps.latest.entries, when, key);
		if (rep.entries > cps.latest.entries)
			printf("  the log has %" PRIu64 " entries after the latest checkpoint "
			       "(not yet covered by a signature)\n",
			       rep.entries - cps.latest.entries);
	} else if (no_file && file_exists(dir, CHECKPOINT_KEY_FILE)) {
		/* The daemon writes its first checkpoint when it makes its key. */
		printf("checkpoints FAILED: %s is missing, but the daemon signs checkpoints (%s "
		       "exists): deleted? give a copy with --checkpoints FILE\n",
		       path, CHECKPOINT_KEY_FILE);
		status = EXIT_TAMPERED;
	} else if (no_file) {
		fprintf(stderr,
		        "tanfangd: warning: no %s in %s (a backup copy, or a store the daemon has "
		        "not run on since checkpoints began): the log is not held against a "
		        "checkpoint; give one with --checkpoints FILE\n",
		        CHECKPOINT_FILE, dir);
	} else if (cps.bad == 0) {
		printf("checkpoints FAILED: %s holds no checkpoint (emptied?)\n", cps.file);
		status = EXIT_TAMPERED;
	}
	if (cps.other && a.checkpoints)
		printf("  (%lu other lines of %s ignored)\n", cps.other, cps.file);
out:
	cp_read_free(&cps);
	return status;
}

/* ---- checkpoint-key ---- */

static int cmd_checkpoint_key(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = command_start(argc, argv, "cdv", &a, &cfg);
	if (r)
		return r < 0 ? 0 : r;
	if (envelope_init() < 0)
		fatal("libsodium failed to initialise");
	struct keypair kp;
	r = checkpoint_key_load(cfg.data_dir, &kp);
	if (r < 0) {
		log_errorx(
		    "cannot read %s/%s: %s%s", cfg.data_dir, CHECKPOINT_KEY_FILE, tf_strerror(r),
		    r == -ENOENT ? " (made by tanfangd init, or at the daemon's next start)" : "");
		return 1;
	}
	char hex[65];
	keys_pk_hex(&kp, hex);
	explicit_bzero(&kp, sizeof kp);
	printf("%s\n", hex);
	return 0;
}

/* ---- recover-admin ---- */

/* The way back for a root admin locked out (issue 8, item 1): online, no
 * request can change a root admin, so this needs the server and its data
 * folder. */
static int cmd_recover_admin(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = command_start(argc, argv, "cdKv", &a, &cfg);
	if (r)
		return r < 0 ? 0 : r;
	if (envelope_init() < 0)
		fatal("libsodium failed to initialise");
	const char *dir = cfg.data_dir;
	if (!file_exists(dir, "data.mdb")) {
		log_errorx("%s is not initialised (run: tanfangd init --data %s)", dir, dir);
		return 1;
	}
	char path[PATH_MAX + 32];
	if (a.key)
		snprintf(path, sizeof path, "%s", a.key);
	else
		snprintf(path, sizeof path, "%s/admin.key", dir);
	struct keypair kp;
	bool made = false;
	r = keys_load(path, &kp);
	if (r == -ENOENT) {
		if ((r = keys_generate(&kp)) == 0 && (r = keys_save(path, &kp)) == 0)
			made = true;
	}
	if (r < 0) {
		log_errorx("key file %s: %s", path, tf_strerror(r));
		return 1;
	}
	struct store *st;
	struct store_options so = {.map_size = cfg.map_size_mb << 20};
	if ((r = store_open(dir, &so, &st)) < 0) {
		log_errorx("cannot open the store in %s: %s", dir, tf_strerror(r));
		return 1;
	}
	char err[400] = "";
	r = ingest_recover_admin(st, kp.pk, err, sizeof err);
	store_close(st);
	char hex[65];
	keys_pk_hex(&kp, hex);
	explicit_bzero(&kp, sizeof kp);
	if (r < 0) {
		log_errorx("recovery refused: %s%s", *err ? err : tf_strerror(r),
		           r == TF_E_INVALID ? " (give a new key file with --key)" : "");
		return 1;
	}
	log_info("root admin recovered: visitor admin, key %s", hex);
	printf("visitor 'admin' is a root admin again\n");
	printf("admin public key: %s\n", hex);
	printf("admin key file:   %s%s\n", path, made ? " (new)" : "");
	return 0;
}

/* ---- run ---- */

/* Signs a checkpoint of the audit log if it grew, and puts the line in the
 * service log too: a second copy outside the data folder. */
static void checkpoint_now(struct checkpointer *c, struct store *st)
{
	char line[CHECKPOINT_LINE_MAX], err[256];
	int r = checkpointer_tick(c, st, clock_now(), line, err, sizeof err);
	if (r == 1)
		log_info("audit %s", line);
	else if (r == TF_E_CORRUPT)
		log_warnx("audit log does not extend the last signed checkpoint: %s; no checkpoint "
		          "is signed until this is resolved (tampering, or a store restored from a "
		          "backup: run tanfangd verify-log, see docs/operations.md)",
		          err);
	else if (r < 0)
		log_warnx("cannot write the audit checkpoint: %s", tf_strerror(r));
}

/* The checkpoint writer of data folder dir, and a first checkpoint.
 * Returns 0, or -1 with the reason logged. */
static int checkpoint_start(const char *dir, struct store *st, struct checkpointer **out)
{
	bool made;
	unsigned long bad;
	int r = checkpointer_open(dir, out, &made, &bad);
	if (r < 0) {
		log_errorx("audit checkpoints: cannot use %s/%s or %s: %s", dir,
		           CHECKPOINT_KEY_FILE, CHECKPOINT_FILE, tf_strerror(r));
		return -1;
	}
	char hex[65];
	checkpointer_key_hex(*out, hex);
	log_info("audit checkpoints signed with key %s (%s%s)", hex, CHECKPOINT_KEY_FILE,
	         made ? ", new: keep a copy of this public key apart" : "");
	if (bad)
		log_warnx("%s/%s: %lu lines are not checkpoints signed with this key (run "
		          "tanfangd verify-log)",
		          dir, CHECKPOINT_FILE, bad);
	checkpoint_now(*out, st);
	return 0;
}

/* A periodic timer on the monotonic clock, or -1 when seconds is 0 (or
 * the timer cannot be made: logged, checkpoints then only at stop). */
static int checkpoint_timer(unsigned seconds)
{
	if (!seconds)
		return -1;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = {.it_interval = {.tv_sec = seconds},
	                         .it_value = {.tv_sec = seconds}};
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0) {
		log_warn("checkpoint timer");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void reload_policy(const struct dconfig *cfg, struct server *srv)
{
	if (!*cfg->policy) {
		log_info("SIGHUP: no policy file configured; the built-in policy stays");
		return;
	}
	struct policy *pol;
	if (load_policy(cfg, &pol) < 0) {
		log_warnx("SIGHUP: the old policy stays in force");
		return;
	}
	log_info("SIGHUP: policy %s parsed; installing", cfg->policy);
	if (server_reload_policy(srv, pol) < 0)
		log_warnx("SIGHUP: cannot hand the policy to the writer");
}

/* Each connection is a descriptor: the soft limit is raised to the hard
 * one, and connections are held below it (room for the store and the
 * logs), so a crowd of clients cannot make accept() fail and spin. */
static unsigned connection_limit(unsigned wanted)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return wanted;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t room = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : rl.rlim_cur / 2;
	if (rl.rlim_cur != RLIM_INFINITY && wanted > room) {
		log_warnx("max_connections %u is above the descriptor limit %llu: %llu used",
		          wanted, (unsigned long long)rl.rlim_cur, (unsigned long long)room);
		return (unsigned)room;
	}
	return wanted;
}

static int cmd_run(int argc, char **argv)
{
	struct args a = {0};
	struct dconfig cfg;
	int r = command_start(argc, argv, "cdlwpnNv", &a, &cfg);
	if (r)
		return r < 0 ? 0 : r;
	log_set_level(cfg.log_level);
	if (a.now) {
		char *end;
		errno = 0;
		long long now = strtoll(a.now, &end, 10);
		if (errno || *end || now <= 0)
			return usage_error("--now: expected unix seconds, got '%s'", a.now);
		clock_set_fixed(now);
		log_info("clock pinned to %lld (--now)", now);
	}
	char eps[DCONFIG_MAX_ENDPOINTS][DCONFIG_LISTEN_MAX];
	int n_eps = dconfig_endpoints(&cfg, eps, DCONFIG_MAX_ENDPOINTS);
	if (n_eps < 0)
		fatal("bad listen endpoints: %s", cfg.listen);
	if (envelope_init() < 0)
		fatal("libsodium failed to initialise");

	/* glibc's zone is process-wide: set before any thread starts. */
	struct policy *pol;
	char tz[64];
	if (load_policy_zone(&cfg, &pol, tz) < 0)
		return 1;
	const char *dir = cfg.data_dir;
	if (!file_exists(dir, "data.mdb")) {
		log_errorx("%s is not initialised (run: tanfangd init --data %s)", dir, dir);
		policy_free(pol);
		return 1;
	}
	char secret[41] = "";
	bool curve = dconfig_curve_on(&cfg);
	if (curve && (r = server_curve_load(dir, secret)) < 0) {
		log_errorx("cannot read the CURVE key %s/curve.key: %s", dir, tf_strerror(r));
		policy_free(pol);
		return 1;
	}

	struct store *st = NULL;
	struct ingest *ig = NULL;
	struct server *srv = NULL;
	struct checkpointer *cpw = NULL;
	int sfd = -1, tfd = -1, status = 1;
	struct store_options so = {.map_size = cfg.map_size_mb << 20};
	if ((r = store_open(dir, &so, &st)) < 0) {
		log_errorx("cannot open the store in %s: %s", dir, tf_strerror(r));
		goto out;
	}
	/* Where an upgrade starts: the version that last ran on this store. */
	char prev[64];
	if ((r = store_version_mark(st, TANFANG_VERSION, false, prev, sizeof prev)) < 0) {
		log_errorx("cannot record the version in the store: %s", tf_strerror(r));
		goto out;
	}
	if (strcmp(prev, TANFANG_VERSION) != 0)
		log_info("store in %s last run by tanfang %s; now %s (see CHANGELOG.md)", dir,
		         *prev ? prev : "before 0.2.0", TANFANG_VERSION);
	if ((r = ingest_new(st, &cfg.ingest, &ig)) < 0) {
		log_errorx("ingest: %s", tf_strerror(r));
		goto out;
	}
	if (checkpoint_start(dir, st, &cpw) < 0)
		goto out;

	/* Signals go to a signalfd read by this loop: handlers do no work,
	 * and every thread started below inherits the blocked mask. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (RLIMIT_FSIZE, e.g. systemd's LimitFSIZE=) is a
	 * full disk to the store: the write fails with EFBIG and is refused
	 * with STATUS_STORE_FULL, rather than the signal killing the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		log_error("signalfd");
		goto out;
	}

	const char *ep_ptrs[DCONFIG_MAX_ENDPOINTS];
	for (int i = 0; i < n_eps; i++)
		ep_ptrs[i] = eps[i];
	struct server_options opt = {
	    .endpoints = ep_ptrs,
	    .n_endpoints = (size_t)n_eps,
	    .workers = cfg.workers,
	    .batch_max = cfg.batch_max,
	    .max_message_size = cfg.max_message_size,
	    .curve_secret = curve ? secret : NULL,
	    .max_connections = connection_limit(cfg.max_connections),
	};
	char err[512];
	r = server_start(&opt, ig, pol, &srv, err, sizeof err);
	pol = NULL; /* the server owns it now */
	memset(secret, 0, sizeof secret);
	if (r < 0) {
		log_errorx("%s", err);
		goto out;
	}
	for (size_t i = 0; i < (size_t)n_eps; i++)
		log_info("listening on %s (%s, %u workers, batch %u, time zone %s)",
		         server_endpoint(srv, i), curve ? "CURVE" : "no encryption", cfg.workers,
		         cfg.batch_max, tz);

	tfd = checkpoint_timer(cfg.checkpoint_interval_s);
	for (;;) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
		                        {.fd = tfd, .events = POLLIN}};
		if (poll(pfd, tfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll");
			break;
		}
		uint64_t expired;
		if (tfd >= 0 && (pfd[1].revents & POLLIN) &&
		    read(tfd, &expired, sizeof expired) == (ssize_t)sizeof expired)
			checkpoint_now(cpw, st);
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		ssize_t got = read(sfd, &si, sizeof si);
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof si) {
			log_error("signalfd read");
			break;
		}
		if (si.ssi_signo == SIGHUP) {
			reload_policy(&cfg, srv);
			continue;
		}
		log_info("%s: shutting down", strsignal((int)si.ssi_signo));
		status = 0;
		break;
	}
out:
	server_stop(srv);
	/* The writer has stopped: this checkpoint covers everything stored. */
	if (cpw)
		checkpoint_now(cpw, st);
	checkpointer_free(cpw);
	if (srv)
		log_info("stopped");
	policy_free(pol);
	ingest_free(ig);
	store_close(st);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return status;
}

int main(int argc, char **argv)
{
	log_set_name("tanfangd");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("tanfangd (tanfang) %s\n", TANFANG_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(cmd, "verify-log") == 0)
		return cmd_verify_log(argc - 1, argv + 1);
	if (strcmp(cmd, "backup") == 0)
		return cmd_backup(argc - 1, argv + 1);
	if (strcmp(cmd, "recover-admin") == 0)
		return cmd_recover_admin(argc - 1, argv + 1);
	if (strcmp(cmd, "checkpoint-key") == 0)
		return cmd_checkpoint_key(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", cmd);
}
