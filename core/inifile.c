#include "inifile.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>

struct parse {
	FILE *f;
	unsigned line;
	inifile_set_fn set;
	void *ctx;
	unsigned err_line;
	char msg[512];
};

/* inih reads through this, so the line of each entry is known. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *s = fgets(str, num, p->f);
	if (s)
		p->line++;
	return s;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	char msg[sizeof p->msg];
	if (p->set(p->ctx, section, key, value, msg, sizeof msg) == 0)
		return 1;
	if (!p->err_line) {
		p->err_line = p->line;
		memcpy(p->msg, msg, sizeof msg);
	}
	return 0;
}

int inifile_parse(const char *path, inifile_set_fn set, void *ctx, char *err, size_t errlen)
{
	struct parse p = {.set = set, .ctx = ctx};
	p.f = fopen(path, "re");
	if (!p.f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int r = ini_parse_stream(read_line, &p, on_entry, &p);
	fclose(p.f);
	if (r == 0)
		return 0;
	if (r < 0)
		snprintf(err, errlen, "%s: cannot parse (out of memory)", path);
	else if ((unsigned)r == p.err_line)
		snprintf(err, errlen, "%s:%d: %s", path, r, p.msg);
	else
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
		         path, r);
	return r < 0 ? -ENOMEM : -EINVAL;
}
