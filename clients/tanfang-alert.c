/* tanfang-alert: the alert dispatcher, run from cron or a systemd timer.
 *
 * One run fetches undelivered alerts from tanfangd, hands each to every
 * configured sink and acknowledges the delivered ones; core/dispatch.h
 * describes the run and the configuration file, core/sink.h the sinks,
 * docs/alerts.md both. This file is the command line: options, --help,
 * keygen and pubkey, the configuration built from the file and the flags,
 * and main().
 *
 * Exit status: 0 everything fetched was delivered (or nothing to do),
 * 1 some alerts could not be delivered, 2 usage or configuration error,
 * 3 the daemon was unreachable or refused the dispatcher. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cliopt.h"
#include "dispatch.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "rpc.h"
#include "sink.h"
#include "tf_err.h"

#define PROG             "tanfang-alert"
#define CONFIG_NAME      "tanfang-alert.conf"
#define DEFAULT_CONFIG   CLI_SYSCONFDIR "/" CONFIG_NAME
#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7480"
#define MAX_SINKS        DISPATCH_MAX_SINKS

enum {
	EXIT_OK = DISPATCH_EXIT_OK,
	EXIT_UNDELIVERED = DISPATCH_EXIT_UNDELIVERED,
	EXIT_USAGE = DISPATCH_EXIT_USAGE,
	EXIT_DAEMON = DISPATCH_EXIT_DAEMON,
};

static const char usage_text[] =
    "usage: " PROG " [OPTIONS]                 deliver pending alerts once\n"
    "       " PROG " keygen [--key FILE]       make the dispatcher key, print its public key\n"
    "       " PROG " pubkey [--key FILE]       print the dispatcher key's public key\n"
    "\n"
    "Fetches undelivered alerts from tanfangd, hands each to every configured\n"
    "sink, and acknowledges the delivered ones so they are never sent again.\n"
    "Alerts a sink refused are retried on the next run. Run it from cron or\n"
    "the tanfang-alert.timer every few minutes; see docs/alerts.md.\n"
    "\n"
    "Options:\n"
    "  --config FILE          config file (default " DEFAULT_CONFIG ", if present;\n"
    "                         $TANFANG_SYSCONFDIR replaces " CLI_SYSCONFDIR ")\n"
    "  --endpoint EP          daemon endpoint (default " DEFAULT_ENDPOINT ")\n"
    "  --server-key Z85       the daemon's CURVE public key (40 characters)\n"
    "  --server-key-file F    read the CURVE public key from F (the daemon's curve.pub)\n"
    "  --data DIR             shortcut: --server-key-file DIR/curve.pub\n"
    "  --key FILE             the dispatcher's key file (64 hex digits)\n"
    "  --timeout MS           wait this long for each reply (default 15000)\n"
    "  --batch N              alerts per fetch, 1..1000 (default 100)\n"
    "  --lease S              lease fetched alerts for S seconds, 10..86400 (default 300)\n"
    "  --max N                at most N alerts per run (default 10000)\n"
    "  --stdout               sink: print each alert as a JSON line\n"
    "  --command CMD          sink: run CMD via /bin/sh -c per alert, the alert as JSON\n"
    "                         on stdin; exit status 0 means delivered, 67 nobody to\n"
    "                         send it to (not delivered)\n"
    "  --webhook URL          sink: POST the alert as JSON; a 2xx status means delivered\n"
    "  --sink-timeout S       time limit of --command and --webhook (default 10)\n"
    "  --dry-run              print pending alerts as JSON lines; send and acknowledge\n"
    "                         nothing (the alerts stay pending)\n"
    "  --quiet                log warnings only\n"
    "  --verbose              log debug messages too\n"
    "  --help                 this text\n"
    "\n"
    "Options given on the command line override the config file; sinks given on\n"
    "the command line replace those of the config file.\n"
    "\n"
    "Exit status: 0 all delivered or nothing to do, 1 some alerts could not be\n"
    "delivered (retried next run), 2 usage or configuration error, 3 the daemon\n"
    "was unreachable or refused this key.\n";

/* In the order of long_opts: an option's name is long_opts[opt - OPT_CONFIG].name. */
enum opt {
	OPT_CONFIG = 256,
	OPT_ENDPOINT,
	OPT_SERVER_KEY,
	OPT_SERVER_KEY_FILE,
	OPT_DATA,
	OPT_KEY,
	OPT_TIMEOUT,
	OPT_BATCH,
	OPT_LEASE,
	OPT_MAX,
	OPT_STDOUT,
	OPT_COMMAND,
	OPT_WEBHOOK,
	OPT_SINK_TIMEOUT,
	OPT_DRY_RUN,
	OPT_QUIET,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"server-key-file", required_argument, NULL, OPT_SERVER_KEY_FILE},
    {"data", required_argument, NULL, OPT_DATA},
    {"key", required_argument, NULL, OPT_KEY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"max", required_argument, NULL, OPT_MAX},
    {"stdout", no_argument, NULL, OPT_STDOUT},
    {"command", required_argument, NULL, OPT_COMMAND},
    {"webhook", required_argument, NULL, OPT_WEBHOOK},
    {"sink-timeout", required_argument, NULL, OPT_SINK_TIMEOUT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

struct cli {
	const char *config;
	/* Overrides, applied over the config file with the same checks. */
	const char *set[16][4]; /* section, key, value, option name */
	size_t n_set;
	struct {
		enum sink_type type;
		const char *target;
	} sinks[MAX_SINKS];
	size_t n_sinks;
	const char *sink_timeout;
	const char *data_dir;
	bool dry_run;
	enum log_level level;
	const char *command;
};

/* Parses argv into cli. Returns -1 to go on, or an exit code. */
static int parse_cli(int argc, char **argv, struct cli *cli)
{
	memset(cli, 0, sizeof *cli);
	cli->level = LOG_LEVEL_INFO;
	static const struct {
		int opt;
		const char *section, *key;
	} map[] = {
	    {OPT_ENDPOINT, "daemon", "endpoint"},
	    {OPT_SERVER_KEY, "daemon", "server_key"},
	    {OPT_SERVER_KEY_FILE, "daemon", "server_key_file"},
	    {OPT_KEY, "daemon", "key"},
	    {OPT_TIMEOUT, "daemon", "timeout_ms"},
	    {OPT_BATCH, "dispatch", "batch"},
	    {OPT_LEASE, "dispatch", "lease_s"},
	    {OPT_MAX, "dispatch", "max_alerts_per_run"},
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		bool mapped = false;
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
			if (map[i].opt != c)
				continue;
			if (cli->n_set == sizeof cli->set / sizeof cli->set[0])
				return cli_usage("too many options");
			cli->set[cli->n_set][0] = map[i].section;
			cli->set[cli->n_set][1] = map[i].key;
			cli->set[cli->n_set][2] = optarg;
			cli->set[cli->n_set][3] = long_opts[c - OPT_CONFIG].name;
			cli->n_set++;
			mapped = true;
		}
		if (mapped)
			continue;
		switch (c) {
		case OPT_CONFIG: cli->config = optarg; break;
		case OPT_DATA: cli->data_dir = optarg; break;
		case OPT_STDOUT:
		case OPT_COMMAND:
		case OPT_WEBHOOK:
			if (cli->n_sinks == MAX_SINKS)
				return cli_usage("too many sinks (at most %d)", MAX_SINKS);
			cli->sinks[cli->n_sinks].type = c == OPT_STDOUT    ? SINK_STDOUT
			                                : c == OPT_COMMAND ? SINK_COMMAND
			                                                   : SINK_WEBHOOK;
			cli->sinks[cli->n_sinks].target = c == OPT_STDOUT ? NULL : optarg;
			cli->n_sinks++;
			break;
		case OPT_SINK_TIMEOUT: cli->sink_timeout = optarg; break;
		case OPT_DRY_RUN: cli->dry_run = true; break;
		case OPT_QUIET: cli->level = LOG_LEVEL_WARN; break;
		case OPT_VERBOSE: cli->level = LOG_LEVEL_DEBUG; break;
		case OPT_HELP: fputs(usage_text, stdout); return EXIT_OK;
		default:
			if (optopt)
				return cli_usage("option --%s needs a value or is unknown",
				                 optopt < 256 ? "?" : long_opts[optopt - 256].name);
			return cli_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		cli->command = argv[optind++];
		if (strcmp(cli->command, "keygen") != 0 && strcmp(cli->command, "pubkey") != 0)
			return cli_usage("unknown command '%s'", cli->command);
	}
	if (optind < argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	return -1;
}

/* The config file (if any), then the command-line overrides, then the
 * defaults still missing. Returns 0 or an exit code. */
static int build_config(const struct cli *cli, struct dispatch_config *cfg)
{
	dispatch_config_init(cfg);
	const char *path = cli->config;
	char def[PATH_MAX];
	snprintf(def, sizeof def, "%s/" CONFIG_NAME, cli_sysconfdir());
	if (!path && access(def, F_OK) == 0)
		path = def;
	if (path) {
		char err[PATH_MAX + 640];
		if (dispatch_config_load(cfg, path, err, sizeof err) < 0) {
			fprintf(stderr, PROG ": error: %s\n", err);
			return EXIT_USAGE;
		}
	}
	const char *why = NULL;
	for (size_t i = 0; i < cli->n_set; i++) {
		int r =
		    dispatch_config_set(cfg, cli->set[i][0], cli->set[i][1], cli->set[i][2], &why);
		if (r < 0)
			return cli_usage("--%s: %s (got \"%s\")", cli->set[i][3], why,
			                 cli->set[i][2]);
		/* The command line's server key replaces the file's, in either form. */
		char **other = strcmp(cli->set[i][1], "server_key") == 0 ? &cfg->server_key_file
		               : strcmp(cli->set[i][1], "server_key_file") == 0 ? &cfg->server_key
		                                                                : NULL;
		if (other) {
			free(*other);
			*other = NULL;
		}
	}
	/* --data is a command-line option too: it overrides the file's server
	 * key, in either form (issue 8, item 7: the file's server_key_file won,
	 * against the docs), but not --server-key or --server-key-file. */
	bool cli_key = false;
	for (size_t i = 0; i < cli->n_set; i++)
		cli_key |= strncmp(cli->set[i][1], "server_key", 10) == 0;
	if (cli->data_dir && !cli_key) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/curve.pub", cli->data_dir);
		free(cfg->server_key);
		cfg->server_key = NULL;
		if (dispatch_config_set(cfg, "daemon", "server_key_file", p, &why) < 0)
			return cli_usage("%s", why);
	}
	if (!cfg->endpoint &&
	    dispatch_config_set(cfg, "daemon", "endpoint", DEFAULT_ENDPOINT, &why) < 0)
		return cli_usage("%s", why);
	if (cli->n_sinks) {
		dispatch_config_clear_sinks(cfg);
		for (size_t i = 0; i < cli->n_sinks; i++) {
			enum sink_type type = cli->sinks[i].type;
			char name[32];
			snprintf(name, sizeof name, "--%s", sink_type_name(type));
			struct sink *s;
			if (dispatch_config_add_sink(cfg, type, name, 0, &s) < 0)
				return cli_usage("too many sinks (at most %d)", MAX_SINKS);
			const char *key = type == SINK_COMMAND ? "command" : "url";
			if (type != SINK_STDOUT &&
			    dispatch_sink_set(s, key, cli->sinks[i].target, &why) < 0)
				return cli_usage("%s: %s (got \"%s\")", s->name, why,
				                 cli->sinks[i].target);
			if (cli->sink_timeout && type != SINK_STDOUT &&
			    dispatch_sink_set(s, "timeout_s", cli->sink_timeout, &why) < 0)
				return cli_usage("--sink-timeout: %s (got \"%s\")", why,
				                 cli->sink_timeout);
		}
	} else if (cli->sink_timeout) {
		return cli_usage("--sink-timeout applies to --command and --webhook");
	}
	return 0;
}

static int cmd_keygen(const struct dispatch_config *cfg, bool create)
{
	if (!cfg->key_file)
		return cli_usage("no key file: give --key FILE or set key in [daemon]");
	struct keypair kp;
	int r;
	if (create) {
		r = keys_generate(&kp);
		if (r == 0)
			r = keys_save(cfg->key_file, &kp);
		if (r == -EEXIST) {
			fprintf(stderr,
			        PROG ": error: %s already exists; it is never overwritten\n",
			        cfg->key_file);
			return EXIT_UNDELIVERED;
		}
	} else {
		r = keys_load(cfg->key_file, &kp);
	}
	if (r < 0) {
		fprintf(stderr, PROG ": error: %s: %s\n", cfg->key_file,
		        r == TF_E_MALFORMED ? "not a key file (64 hex digits)" : tf_strerror(r));
		return EXIT_UNDELIVERED;
	}
	char hex[65];
	keys_pk_hex(&kp, hex);
	sodium_memzero(&kp, sizeof kp);
	printf("%s\n", hex);
	return EXIT_OK;
}

static int cmd_dispatch(const struct dispatch_config *cfg, bool dry_run)
{
	if (!cfg->key_file)
		return cli_usage(
		    "no dispatcher key: give --key FILE or set key in [daemon] of %s/%s",
		    cli_sysconfdir(), CONFIG_NAME);
	if (!cfg->n_sinks && !dry_run)
		return cli_usage("no sink configured: add a [sink.TYPE] section or give --stdout, "
		                 "--command or --webhook");
	char server_key[41] = "";
	if (cfg->server_key) {
		if (strlen(cfg->server_key) != 40)
			return cli_usage("server key must be the 40-character Z85 CURVE key");
		memcpy(server_key, cfg->server_key, 41);
	} else if (cfg->server_key_file) {
		int r = cli_read_server_key(cfg->server_key_file, server_key);
		if (r < 0) {
			fprintf(stderr, PROG ": error: cannot read the server key from %s: %s\n",
			        cfg->server_key_file,
			        r == TF_E_MALFORMED ? "not a 40-character Z85 key"
			                            : tf_strerror(r));
			return EXIT_USAGE;
		}
	}
	struct keypair kp;
	int r = keys_load(cfg->key_file, &kp);
	if (r < 0) {
		fprintf(stderr, PROG ": error: cannot load the dispatcher key %s: %s\n",
		        cfg->key_file,
		        r == TF_E_MALFORMED ? "not a key file (64 hex digits)" : tf_strerror(r));
		return EXIT_USAGE;
	}
	struct rpc *rpc = NULL;
	r = rpc_open(cfg->endpoint, *server_key ? server_key : NULL, &kp, &rpc);
	sodium_memzero(&kp, sizeof kp);
	if (r == -EINVAL)
		return cli_usage("bad endpoint '%s' or server key", cfg->endpoint);
	if (r < 0) {
		fprintf(stderr, PROG ": error: cannot connect to %s: %s\n", cfg->endpoint,
		        tf_strerror(r));
		return EXIT_DAEMON;
	}
	int ex = dispatch_run(cfg, rpc, dry_run);
	rpc_close(rpc);
	return ex;
}

int main(int argc, char **argv)
{
	log_set_name(PROG);
	cli_init(PROG);
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return cli_version();
	struct cli cli;
	int ex = parse_cli(argc, argv, &cli);
	if (ex >= 0)
		return ex;
	log_set_level(cli.level);
	if (envelope_init() < 0) {
		fprintf(stderr, PROG ": error: cannot initialise libsodium\n");
		return EXIT_DAEMON;
	}
	/* A command sink that exits without reading its stdin must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, PROG ": error: cannot initialise libcurl\n");
		return EXIT_DAEMON;
	}
	struct dispatch_config cfg;
	ex = build_config(&cli, &cfg);
	if (ex == 0) {
		if (cli.command)
			ex = cmd_keygen(&cfg, strcmp(cli.command, "keygen") == 0);
		else
			ex = cmd_dispatch(&cfg, cli.dry_run);
	}
	dispatch_config_free(&cfg);
	curl_global_cleanup();
	return ex;
}
