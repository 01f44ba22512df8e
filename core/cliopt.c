#include "cliopt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "version.h"

static const char *prog_name = "tanfang";

void cli_init(const char *prog)
{
	prog_name = prog;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: error: ", prog_name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", prog_name);
	return CLI_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: error: ", prog_name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAILED;
}

const char *cli_version_string(void)
{
	return TANFANG_VERSION;
}

int cli_version(void)
{
	printf("%s (tanfang) %s\n", prog_name, TANFANG_VERSION);
	return ferror(stdout) ? CLI_FAILED : CLI_OK;
}

int cli_refused(const tf_reply *rep)
{
	if (*rep->detail)
		return cli_fail("%s: %s", wire_status_name(rep->status), rep->detail);
	return cli_fail("%s", wire_status_name(rep->status));
}

int cli_parse_local_time(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, len = 0;
	char sep = ' ';
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &len) != 3 || len != 10)
		return -EINVAL;
	if (s[len]) {
		int more = 0;
		if (sscanf(s + len, "%c%2d:%2d%n", &sep, &h, &mi, &more) != 3 ||
		    (sep != ' ' && sep != 'T') || more != 6)
			return -EINVAL;
		len += more;
		if (s[len] && (sscanf(s + len, ":%2d%n", &sec, &more) != 1 || more != 3))
			return -EINVAL;
		if (s[len])
			len += more;
	}
	if (s[len])
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return -EINVAL;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec,
	                .tm_isdst = -1};
	time_t t = mktime(&tm);
	/* mktime normalises: 31 September comes back as 1 October. */
	if (t == (time_t)-1 || t <= 0 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 ||
	    tm.tm_mday != d)
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

int cli_read_server_key(const char *path, char out[41])
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[128] = "";
	bool ok = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	if (!ok)
		return TF_E_MALFORMED;
	char *s = line + strspn(line, " \t");
	s[strcspn(s, " \t\r\n")] = '\0';
	if (strlen(s) != 40)
		return TF_E_MALFORMED;
	memcpy(out, s, 41);
	return 0;
}

int cli_open(struct cli_session *s, const struct cli_conn *o, int timeout_ms)
{
	char path[4096], skpath[4096];
	const char *endpoint = o->endpoint ? o->endpoint : CLI_DEFAULT_ENDPOINT;
	snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
	s->timeout_ms = timeout_ms;
	s->rpc = NULL;
	const char *key_file = o->key_file;
	if (!key_file && o->data_dir) {
		snprintf(path, sizeof path, "%s/admin.key", o->data_dir);
		key_file = path;
	}
	if (!key_file)
		return cli_usage("no key: give --key FILE (or --data DIR for a local daemon)");
	int r = keys_load(key_file, &s->key);
	if (r < 0)
		return cli_fail("cannot load the key %s: %s", key_file,
		                r == TF_E_MALFORMED ? "not a tanfang key file" : tf_strerror(r));

	s->server_key[0] = '\0';
	const char *skf = o->server_key_file;
	if (!o->server_key && !skf && o->data_dir) {
		snprintf(skpath, sizeof skpath, "%s/curve.pub", o->data_dir);
		if (access(skpath, F_OK) == 0)
			skf = skpath;
	}
	if (o->server_key) {
		if (strlen(o->server_key) != 40)
			return cli_usage("--server-key must be the 40-character Z85 CURVE key");
		memcpy(s->server_key, o->server_key, 41);
	} else if (skf) {
		r = cli_read_server_key(skf, s->server_key);
		if (r < 0)
			return cli_fail("cannot read the server key from %s: %s", skf,
			                r == TF_E_MALFORMED ? "not a 40-character Z85 key"
			                                    : tf_strerror(r));
	}
	r = rpc_open(endpoint, *s->server_key ? s->server_key : NULL, &s->key, &s->rpc);
	if (r == -EINVAL)
		return cli_usage("bad endpoint '%s' or server key", endpoint);
	if (r < 0)
		return cli_fail("cannot open a connection to %s: %s", endpoint, tf_strerror(r));
	return CLI_OK;
}

void cli_close(struct cli_session *s)
{
	rpc_close(s->rpc);
	s->rpc = NULL;
}

int cli_check_call(const struct cli_session *s, int r)
{
	if (r == TF_E_TIMEOUT)
		return cli_fail("no reply from %s within %d ms (is tanfangd running there%s?)",
		                s->endpoint, s->timeout_ms,
		                *s->server_key ? ", and is the server key its curve.pub"
		                               : "; does it need --server-key or --data for CURVE");
	if (r < 0)
		return cli_fail("request failed: %s", tf_strerror(r));
	return CLI_OK;
}

int cli_call(struct cli_session *s, tf_request *req, tf_reply **out)
{
	return cli_check_call(s, rpc_call(s->rpc, req, s->timeout_ms, out));
}

int cli_change(struct cli_session *s, tf_request *req, const char *done)
{
	tf_reply *rep;
	int ex = cli_call(s, req, &rep);
	if (ex)
		return ex;
	if (rep->status == TANFANG__V1__STATUS__STATUS_OK)
		printf("%s\n", done ? done : rep->detail);
	else
		ex = cli_refused(rep);
	wire_free(WIRE_REPLY, rep);
	return ex;
}

const char *cli_sysconfdir(void)
{
	const char *d = getenv("TANFANG_SYSCONFDIR");
	return d && *d ? d : CLI_SYSCONFDIR;
}

/* A command line of usage's "Commands:" section: two blanks, then words. */
static bool command_line_matches(const char *line, const char *const *words, size_t nwords)
{
	const char *p = line + 2;
	for (size_t i = 0; i < nwords && i < 2; i++) {
		size_t n = strlen(words[i]);
		if (strncmp(p, words[i], n) != 0 || (p[n] != ' ' && p[n] != '\n' && p[n] != '\0'))
			return i > 0; /* "area" matches every "area ..." command */
		p += n;
		while (*p == ' ')
			p++;
	}
	return true;
}

int cli_command_help(const char *usage, char *const *words, size_t nwords)
{
	const char *sec = strstr(usage, "\nCommands:\n");
	bool any = false;
	const char *line = sec ? sec + strlen("\nCommands:\n") : NULL;
	bool printing = false;
	while (line && *line && *line != '\n') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line + 1) : strlen(line);
		bool command = line[0] == ' ' && line[1] == ' ' && line[2] != ' ';
		if (command)
			printing = command_line_matches(line, (const char *const *)words, nwords);
		if (printing) {
			if (command)
				printf("%susage: %s [global options] ", any ? "\n" : "", prog_name);
			fwrite(command ? line + 2 : line, 1, command ? len - 2 : len, stdout);
			any = true;
		}
		line = end ? end + 1 : NULL;
	}
	if (!any)
		return cli_usage("no command '%s'", nwords ? words[0] : "");
	const char *g = strstr(usage, "Global options");
	const char *ge = g ? strstr(g, "\n\n") : NULL;
	if (g && ge)
		printf("\n%.*s\n", (int)(ge - g + 1), g);
	return ferror(stdout) ? CLI_FAILED : CLI_OK;
}
