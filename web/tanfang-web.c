/* tanfang-web: the web app's HTTP gateway (docs/web.md). main() only: the
 * service is core/gateway.c.
 *
 * Exit status: 0 stopped cleanly (or keygen/pubkey done), 1 could not start
 * (key, address, certificate), 2 usage or configuration error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cliopt.h"
#include "envelope.h"
#include "gateway.h"
#include "keys.h"
#include "log.h"

#define PROG           "tanfang-web"
#define DEFAULT_CONFIG "/etc/tanfang/tanfang-web.conf" /* or $TANFANG_SYSCONFDIR */

static const char usage_text[] =
    "usage: " PROG " run [--config FILE] [--listen HOST:PORT] [--root DIR] [--endpoint EP]\n"
    "                   [--server-key-file F | --no-curve] [--key FILE] [-v]\n"
    "       " PROG " keygen --key FILE     make the gateway's key, print its public key\n"
    "       " PROG " pubkey --key FILE     print the gateway's public key\n"
    "\n"
    "Serves the web app and forwards the envelopes that browsers sign to tanfangd.\n"
    "It holds no user's key and cannot sign; its own key only opens the connection\n"
    "to tanfangd: enrol it for a visitor of role gateway (docs/web.md).\n"
    "\n"
    "Options (each overrides the config file's [web] key of the same name):\n"
    "  --config FILE          config file (default " DEFAULT_CONFIG ", if present)\n"
    "  --listen HOST:PORT     where to listen (default 127.0.0.1:8080; [::1]:8080 for IPv6)\n"
    "  --root DIR             the web app's files (default /usr/share/tanfang/web)\n"
    "  --endpoint EP          tanfangd (default tcp://127.0.0.1:7480)\n"
    "  --server-key-file F    the daemon's curve.pub (default /etc/tanfang/curve.pub)\n"
    "  --no-curve             no CURVE (a daemon run with --no-curve: tests only)\n"
    "  --key FILE             the gateway's key (default /etc/tanfang/tanfang-web.key)\n"
    "  -v, --verbose          debug logging\n"
    "\n"
    "Exit status: 0 stopped cleanly, 1 could not start, 2 usage or configuration error.\n";

static int keygen(const char *path, bool make)
{
	if (!path)
		return cli_usage("--key FILE is required");
	struct keypair kp;
	int r = make ? keys_generate(&kp) : keys_load(path, &kp);
	if (r == 0 && make)
		r = keys_save(path, &kp);
	if (r < 0)
		return cli_fail("%s: %s", path,
		                r == -EEXIST ? "exists; not overwritten" : tf_strerror(r));
	char hex[65];
	keys_pk_hex(&kp, hex);
	explicit_bzero(&kp, sizeof kp);
	printf("%s\n", hex);
	return CLI_OK;
}

/* Serves until SIGTERM or SIGINT. */
static int run(const struct gw_config *cfg)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	int sfd;
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		return cli_fail("signalfd: %s", strerror(errno));
	struct gw *g;
	char err[600];
	if (gw_start(cfg, &g, err, sizeof err) < 0) {
		close(sfd);
		return cli_fail("%s", err);
	}
	log_info("serving %s on %s (port %u), forwarding to %s%s", cfg->root, cfg->listen,
	         gw_port(g), cfg->endpoint, *cfg->server_key_file ? " with CURVE" : "");
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t got = read(sfd, &si, sizeof si);
		if (got < 0 && errno == EINTR)
			continue;
		if (got == (ssize_t)sizeof si)
			log_info("%s: stopping", strsignal((int)si.ssi_signo));
		break;
	}
	gw_stop(g);
	close(sfd);
	return CLI_OK;
}

int main(int argc, char **argv)
{
	cli_init(PROG);
	log_set_name(PROG);
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return cli_version();
	if (argc < 2)
		return cli_usage("a command is required: run, keygen or pubkey");
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return CLI_OK;
	}
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"root", required_argument, NULL, 'r'},
	    {"endpoint", required_argument, NULL, 'e'},
	    {"server-key-file", required_argument, NULL, 's'},
	    {"no-curve", no_argument, NULL, 'N'},
	    {"key", required_argument, NULL, 'k'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL,
	           *over[5][2] = {{"listen"}, {"root"}, {"endpoint"}, {"server_key_file"}, {"key"}};
	bool no_curve = false;
	optind = 2;
	int o;
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 'l': over[0][1] = optarg; break;
		case 'r': over[1][1] = optarg; break;
		case 'e': over[2][1] = optarg; break;
		case 's': over[3][1] = optarg; break;
		case 'N': no_curve = true; break;
		case 'k': over[4][1] = optarg; break;
		case 'v': log_set_level(LOG_LEVEL_DEBUG); break;
		case 'h': fputs(usage_text, stdout); return CLI_OK;
		default: return cli_usage("unknown option");
		}
	}
	if (optind < argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	if (envelope_init() < 0)
		return cli_fail("libsodium failed to initialise");
	if (strcmp(cmd, "keygen") == 0 || strcmp(cmd, "pubkey") == 0)
		return keygen(over[4][1], strcmp(cmd, "keygen") == 0);
	if (strcmp(cmd, "run") != 0)
		return cli_usage("unknown command '%s'", cmd);

	struct gw_config cfg;
	gw_config_defaults(&cfg);
	char err[600];
	char def[PATH_MAX];
	snprintf(def, sizeof def, "%s/tanfang-web.conf", cli_sysconfdir());
	const char *path = config ? config : def;
	int r = gw_config_load(path, &cfg, err, sizeof err);
	if (r < 0 && !(r == -ENOENT && !config)) {
		fprintf(stderr, PROG ": error: configuration refused: %s\n", err);
		return CLI_USAGE;
	}
	for (int i = 0; i < 5; i++)
		if (over[i][1] && gw_config_set(&cfg, over[i][0], over[i][1], err, sizeof err) < 0)
			return cli_usage("%s", err);
	if (no_curve)
		cfg.server_key_file[0] = '\0';
	return run(&cfg);
}
