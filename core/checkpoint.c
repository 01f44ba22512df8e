#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"
#include "hex.h"

/* The signed bytes: domain || be64(entries) || be64(time) || head. */
#define SIGNED_LEN (sizeof CHECKPOINT_DOMAIN - 1 + 8 + 8 + 32)

static void signed_bytes(const struct checkpoint *cp, uint8_t out[SIGNED_LEN])
{
	size_t d = sizeof CHECKPOINT_DOMAIN - 1;
	memcpy(out, CHECKPOINT_DOMAIN, d);
	store_be64(out + d, cp->entries);
	store_be64(out + d + 8, (uint64_t)cp->time);
	memcpy(out + d + 16, cp->head, 32);
}

void checkpoint_sign(const struct keypair *kp, uint64_t entries, const uint8_t head[32],
                     int64_t time, struct checkpoint *out)
{
	memset(out, 0, sizeof *out);
	out->entries = entries;
	memcpy(out->head, head, 32);
	out->time = time;
	memcpy(out->key, kp->pk, 32);
	uint8_t msg[SIGNED_LEN];
	signed_bytes(out, msg);
	crypto_sign_detached(out->sig, NULL, msg, sizeof msg, kp->sk);
}

int checkpoint_verify(const struct checkpoint *cp, const uint8_t pk[32])
{
	if (sodium_memcmp(cp->key, pk, 32) != 0)
		return TF_E_SIGNER;
	uint8_t msg[SIGNED_LEN];
	signed_bytes(cp, msg);
	return crypto_sign_verify_detached(cp->sig, msg, sizeof msg, pk) == 0 ? 0 : TF_E_BADSIG;
}

void checkpoint_format(const struct checkpoint *cp, char out[CHECKPOINT_LINE_MAX])
{
	char head[65], key[65], sig[129];
	hex_encode(cp->head, 32, head);
	hex_encode(cp->key, 32, key);
	hex_encode(cp->sig, 64, sig);
	snprintf(out, CHECKPOINT_LINE_MAX,
	         CHECKPOINT_MARKER "entries=%" PRIu64 " head=%s time=%" PRId64 " key=%s sig=%s",
	         cp->entries, head, cp->time, key, sig);
}

/* Reads "name=VALUE" at *p (VALUE up to the next blank or end) into val
 * (size vsize), and moves *p past it and one blank. false if absent. */
static bool field(const char **p, const char *name, char *val, size_t vsize)
{
	size_t n = strlen(name);
	if (strncmp(*p, name, n) != 0 || (*p)[n] != '=')
		return false;
	const char *v = *p + n + 1;
	size_t len = strcspn(v, " \t\r\n");
	if (len == 0 || len >= vsize)
		return false;
	memcpy(val, v, len);
	val[len] = '\0';
	*p = v + len;
	if (**p == ' ')
		(*p)++;
	return true;
}

/* Whole-string decimal in [0, max]. */
static bool decimal(const char *s, uint64_t max, uint64_t *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno || v > max)
		return false;
	*out = v;
	return true;
}

int checkpoint_parse(const char *line, struct checkpoint *out)
{
	const char *p = strstr(line, CHECKPOINT_MARKER);
	if (!p)
		return -ENOENT;
	p += sizeof CHECKPOINT_MARKER - 1;
	memset(out, 0, sizeof *out);
	char entries[24], head[66], time[24], key[66], sig[130];
	uint64_t e, t;
	if (!field(&p, "entries", entries, sizeof entries) ||
	    !field(&p, "head", head, sizeof head) || !field(&p, "time", time, sizeof time) ||
	    !field(&p, "key", key, sizeof key) || !field(&p, "sig", sig, sizeof sig))
		return TF_E_MALFORMED;
	/* Nothing may follow but the end of the line. */
	if (p[strspn(p, " \t\r\n")] != '\0')
		return TF_E_MALFORMED;
	if (!decimal(entries, UINT64_MAX, &e) || !decimal(time, INT64_MAX, &t) ||
	    hex_decode(head, out->head, 32) < 0 || hex_decode(key, out->key, 32) < 0 ||
	    hex_decode(sig, out->sig, 64) < 0)
		return TF_E_MALFORMED;
	out->entries = e;
	out->time = (int64_t)t;
	return 0;
}

int checkpoint_scan(const char *path,
                    int (*fn)(void *ctx, unsigned long line, int status,
                              const struct checkpoint *cp),
                    void *ctx)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *buf = NULL;
	size_t cap = 0;
	unsigned long n = 0;
	int r = 0;
	errno = 0;
	while (getline(&buf, &cap, f) >= 0) {
		struct checkpoint cp;
		int st = checkpoint_parse(buf, &cp);
		if ((r = fn(ctx, ++n, st, &cp)) != 0)
			break;
		errno = 0;
	}
	if (r == 0 && ferror(f))
		r = errno ? -errno : -EIO;
	free(buf);
	fclose(f);
	return r;
}

static void key_path(const char *dir, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", dir, CHECKPOINT_KEY_FILE);
}

int checkpoint_key_load(const char *dir, struct keypair *out)
{
	char path[PATH_MAX];
	key_path(dir, path, sizeof path);
	return keys_load(path, out);
}

int checkpoint_key_open(const char *dir, struct keypair *out, bool *created)
{
	*created = false;
	int r = checkpoint_key_load(dir, out);
	if (r != -ENOENT)
		return r;
	char path[PATH_MAX];
	key_path(dir, path, sizeof path);
	if ((r = keys_generate(out)) < 0)
		return r;
	r = keys_save(path, out);
	if (r == 0)
		*created = true;
	return r;
}

struct checkpointer {
	char path[PATH_MAX]; /* dir/checkpoints.log */
	struct keypair kp;
	bool have_last;
	struct checkpoint last;
};

struct last_scan {
	const uint8_t *pk;
	struct checkpoint last;
	bool have;
	unsigned long bad;
};

static int on_line(void *ctx, unsigned long line, int status, const struct checkpoint *cp)
{
	struct last_scan *s = ctx;
	(void)line;
	if (status == -ENOENT)
		return 0;
	if (status == 0 && checkpoint_verify(cp, s->pk) == 0) {
		s->last = *cp;
		s->have = true;
	} else {
		s->bad++;
	}
	return 0;
}

int checkpointer_open(const char *dir, struct checkpointer **out, bool *key_created,
                      unsigned long *bad_lines)
{
	*out = NULL;
	struct checkpointer *c = sodium_malloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof *c);
	snprintf(c->path, sizeof c->path, "%s/%s", dir, CHECKPOINT_FILE);
	bool created;
	int r = checkpoint_key_open(dir, &c->kp, &created);
	struct last_scan s = {.pk = c->kp.pk};
	if (r == 0) {
		r = checkpoint_scan(c->path, on_line, &s);
		r = r == -ENOENT ? 0 : r;
	}
	if (r < 0) {
		checkpointer_free(c);
		return r;
	}
	c->have_last = s.have;
	c->last = s.last;
	if (key_created)
		*key_created = created;
	if (bad_lines)
		*bad_lines = s.bad;
	*out = c;
	return 0;
}

void checkpointer_key_hex(const struct checkpointer *c, char out[65])
{
	keys_pk_hex(&c->kp, out);
}

void checkpointer_free(struct checkpointer *c)
{
	if (c)
		sodium_free(c); /* zeroes the key */
}

/* Appends text and a newline in one write, then fsyncs. A line torn by a
 * power cut is closed with a newline first, so the next one stands alone. */
static int append_line(const char *path, const char *text)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char buf[CHECKPOINT_LINE_MAX + 2];
	size_t len = 0;
	struct stat sb;
	char last = '\n';
	int r = fstat(fd, &sb) < 0 ? -errno : 0;
	if (r == 0 && sb.st_size > 0) {
		ssize_t got = pread(fd, &last, 1, sb.st_size - 1);
		r = got == 1 ? 0 : got < 0 ? -errno : -EIO;
	}
	if (r == 0) {
		if (last != '\n')
			buf[len++] = '\n';
		size_t n = strlen(text);
		memcpy(buf + len, text, n);
		len += n;
		buf[len++] = '\n';
		ssize_t w = write(fd, buf, len);
		r = w == (ssize_t)len ? 0 : w < 0 ? -errno : -EIO;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int checkpointer_tick(struct checkpointer *c, struct store *st, int64_t now,
                      char line[CHECKPOINT_LINE_MAX], char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	struct store_txn *txn;
	int r = store_txn_begin(st, false, NULL, &txn);
	if (r < 0)
		return r;
	uint64_t n;
	uint8_t head[32], at_last[32];
	r = auditlog_head(txn, &n, head);
	bool same = r == 0 && c->have_last && n == c->last.entries &&
	            sodium_memcmp(head, c->last.head, 32) == 0;
	if (r == 0 && !same && c->have_last) {
		unsigned long long was = (unsigned long long)c->last.entries;
		if (n < c->last.entries) {
			snprintf(err, errlen,
			         "the log holds %llu entries, fewer than the %llu of the last "
			         "checkpoint",
			         (unsigned long long)n, was);
			r = TF_E_CORRUPT;
		} else if ((r = auditlog_hash_at(txn, c->last.entries, at_last)) == -ENOENT) {
			snprintf(err, errlen, "entry %llu of the last checkpoint is missing", was);
			r = TF_E_CORRUPT;
		} else if (r == 0 && sodium_memcmp(at_last, c->last.head, 32) != 0) {
			snprintf(err, errlen,
			         "the chain hash at entry %llu is not the one the last checkpoint "
			         "signed",
			         was);
			r = TF_E_CORRUPT;
		}
	}
	store_txn_abort(txn);
	if (r < 0)
		return r;
	if (same)
		return 0;
	struct checkpoint cp;
	checkpoint_sign(&c->kp, n, head, now, &cp);
	checkpoint_format(&cp, line);
	r = append_line(c->path, line);
	if (r < 0)
		return r;
	c->last = cp;
	c->have_last = true;
	return 1;
}
