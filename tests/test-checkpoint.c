/* Signed checkpoints of the audit log (checkpoint.h): the line format and
 * its signature, reading a file of them, and the daemon's writer on a real
 * store, which signs only a log that extends its last checkpoint. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "envelope.h"
#include "tf_test.h"

static void test_line(void)
{
	struct keypair kp, other;
	CHECK_OK(keys_generate(&kp));
	CHECK_OK(keys_generate(&other));
	uint8_t head[32];
	for (int i = 0; i < 32; i++)
		head[i] = (uint8_t)(i * 7);
	struct checkpoint cp, back;
	checkpoint_sign(&kp, 12345, head, 1767225600, &cp);
	CHECK_OK(checkpoint_verify(&cp, kp.pk));
	CHECK_EQ_INT(checkpoint_verify(&cp, other.pk), TF_E_SIGNER);
	char line[CHECKPOINT_LINE_MAX];
	checkpoint_format(&cp, line);
	CHECK(strncmp(line, CHECKPOINT_MARKER "entries=12345 head=00070e15", 48) == 0);
	CHECK(strstr(line, " time=1767225600 ") != NULL);
	CHECK_OK(checkpoint_parse(line, &back));
	CHECK(memcmp(&back, &cp, sizeof cp) == 0);
	CHECK_OK(checkpoint_verify(&back, kp.pk));

	/* A journal line: the checkpoint after the service's own prefix. */
	char journal[CHECKPOINT_LINE_MAX + 64];
	snprintf(journal, sizeof journal, "Dec 01 10:00:00 host tanfangd[42]: tanfangd: audit %s\n",
	         line);
	CHECK_OK(checkpoint_parse(journal, &back));
	CHECK(memcmp(&back, &cp, sizeof cp) == 0);
	CHECK_EQ_INT(checkpoint_parse("tanfangd: listening on tcp://127.0.0.1:7480", &back),
	             -ENOENT);

	/* Any change to what is signed breaks the signature. */
	back.entries++;
	CHECK_EQ_INT(checkpoint_verify(&back, kp.pk), TF_E_BADSIG);
	back = cp;
	back.time--;
	CHECK_EQ_INT(checkpoint_verify(&back, kp.pk), TF_E_BADSIG);
	back = cp;
	back.head[31] ^= 1;
	CHECK_EQ_INT(checkpoint_verify(&back, kp.pk), TF_E_BADSIG);
	/* The same checkpoint signed by another key claiming to be kp. */
	checkpoint_sign(&other, cp.entries, cp.head, cp.time, &back);
	memcpy(back.key, kp.pk, 32);
	CHECK_EQ_INT(checkpoint_verify(&back, kp.pk), TF_E_BADSIG);

	/* Malformed: each field missing, short, not hex; trailing text. */
	const char *bad[] = {
	    CHECKPOINT_MARKER,
	    CHECKPOINT_MARKER "entries=1",
	    CHECKPOINT_MARKER "entries=x head=",
	    CHECKPOINT_MARKER "entries=99999999999999999999 head=00",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(checkpoint_parse(bad[i], &back), TF_E_MALFORMED);
	char edit[CHECKPOINT_LINE_MAX + 16];
	snprintf(edit, sizeof edit, "%s extra", line);
	CHECK_EQ_INT(checkpoint_parse(edit, &back), TF_E_MALFORMED);
	snprintf(edit, sizeof edit, "%s", line);
	edit[strlen(edit) - 1] = 'g'; /* the signature's last digit */
	CHECK_EQ_INT(checkpoint_parse(edit, &back), TF_E_MALFORMED);
	snprintf(edit, sizeof edit, "%s", line);
	edit[strlen(edit) - 2] = '\0'; /* a signature one byte short */
	CHECK_EQ_INT(checkpoint_parse(edit, &back), TF_E_MALFORMED);
	snprintf(edit, sizeof edit, "%s", line);
	char *t = strstr(edit, "time=");
	t[0] = 'T';
	CHECK_EQ_INT(checkpoint_parse(edit, &back), TF_E_MALFORMED);
	snprintf(edit, sizeof edit, "%s", line);
	memcpy(strstr(edit, "entries="), "entries=-", 9);
	CHECK_EQ_INT(checkpoint_parse(edit, &back), TF_E_MALFORMED);
}

/* Appends one log entry (any bytes: the writer never decodes entries). */
static void append(struct store *st, const char *text)
{
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_OK(auditlog_append(txn, (const uint8_t *)text, strlen(text), NULL));
	CHECK_OK(store_txn_commit(txn));
}

struct count {
	unsigned good, bad, other;
	struct checkpoint last;
};

static int count_line(void *ctx, unsigned long line, int status, const struct checkpoint *cp)
{
	struct count *c = ctx;
	(void)line;
	if (status == 0) {
		c->good++;
		c->last = *cp;
	} else if (status == -ENOENT) {
		c->other++;
	} else {
		c->bad++;
	}
	return 0;
}

static int stop_at_two(void *ctx, unsigned long line, int status, const struct checkpoint *cp)
{
	(void)ctx, (void)status, (void)cp;
	return line == 2 ? 42 : 0;
}

static struct count scan(const char *path)
{
	struct count c = {0};
	CHECK_OK(checkpoint_scan(path, count_line, &c));
	return c;
}

static void test_writer(void)
{
	char dir[600], file[700], keyfile[700], line[CHECKPOINT_LINE_MAX], err[256];
	snprintf(dir, sizeof dir, "%s/data", tft_tmpdir());
	snprintf(file, sizeof file, "%s/%s", dir, CHECKPOINT_FILE);
	snprintf(keyfile, sizeof keyfile, "%s/%s", dir, CHECKPOINT_KEY_FILE);
	struct store *st;
	CHECK_OK(store_open(dir, NULL, &st));
	CHECK_EQ_INT(checkpoint_scan(file, count_line, NULL), -ENOENT);

	/* First start: a key is made, and the empty log is checkpointed. */
	struct checkpointer *c;
	bool made;
	unsigned long bad;
	CHECK_OK(checkpointer_open(dir, &c, &made, &bad));
	CHECK(made);
	CHECK_EQ_INT(bad, 0);
	struct stat sb;
	CHECK(stat(keyfile, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK_EQ_INT(checkpointer_tick(c, st, 1000, line, err, sizeof err), 1);
	CHECK(strstr(line, "entries=0 head=0000") != NULL);
	CHECK(stat(file, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	/* Nothing new, nothing written. */
	CHECK_EQ_INT(checkpointer_tick(c, st, 1001, line, err, sizeof err), 0);
	append(st, "one");
	append(st, "two");
	CHECK_EQ_INT(checkpointer_tick(c, st, 1002, line, err, sizeof err), 1);
	struct count n = scan(file);
	CHECK_EQ_INT(n.good, 2);
	CHECK_EQ_INT(n.last.entries, 2);
	CHECK_EQ_INT(n.last.time, 1002);
	struct keypair kp;
	CHECK_OK(checkpoint_key_load(dir, &kp));
	CHECK_OK(checkpoint_verify(&n.last, kp.pk));
	char hex[65], want[65];
	checkpointer_key_hex(c, hex);
	keys_pk_hex(&kp, want);
	CHECK_STREQ(hex, want);
	struct store_txn *txn;
	uint64_t entries;
	uint8_t head[32];
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	CHECK_OK(auditlog_head(txn, &entries, head));
	store_txn_abort(txn);
	CHECK_EQ_INT(entries, 2);
	CHECK(memcmp(head, n.last.head, 32) == 0);
	checkpointer_free(c);

	/* A restart keeps the key and goes on from the file's last line. */
	CHECK_OK(checkpointer_open(dir, &c, &made, &bad));
	CHECK(!made);
	CHECK_EQ_INT(checkpointer_tick(c, st, 1003, line, err, sizeof err), 0);
	/* A line torn by a power cut: the next checkpoint stands on its own line. */
	int fd = open(file, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, CHECKPOINT_MARKER "entr", sizeof CHECKPOINT_MARKER + 3),
	             sizeof CHECKPOINT_MARKER + 3);
	close(fd);
	append(st, "three");
	CHECK_EQ_INT(checkpointer_tick(c, st, 1004, line, err, sizeof err), 1);
	n = scan(file);
	CHECK_EQ_INT(n.good, 3);
	CHECK_EQ_INT(n.bad, 1);
	CHECK_EQ_INT(n.last.entries, 3);
	checkpointer_free(c);
	CHECK_OK(checkpointer_open(dir, &c, &made, &bad));
	CHECK_EQ_INT(bad, 1);
	CHECK_EQ_INT(checkpointer_tick(c, st, 1005, line, err, sizeof err), 0);

	/* The tail cut and the head rewritten: the writer will not sign it. */
	uint8_t key[8], h2[32], cut[40];
	CHECK_OK(store_txn_begin(st, true, NULL, &txn));
	CHECK_OK(auditlog_hash_at(txn, 2, h2));
	store_be64(key, 3);
	CHECK_OK(store_del(txn, DB_LOG, key, 8));
	store_be64(cut, 2);
	memcpy(cut + 8, h2, 32);
	CHECK_OK(store_put(txn, DB_META, "log_head", 8, cut, sizeof cut, 0));
	CHECK_OK(store_txn_commit(txn));
	CHECK_EQ_INT(checkpointer_tick(c, st, 1006, line, err, sizeof err), TF_E_CORRUPT);
	CHECK(strstr(err, "the log holds 2 entries, fewer than the 3") != NULL);
	/* ... nor the cut log grown back to more entries on another chain. */
	append(st, "three, rewritten");
	append(st, "four");
	CHECK_EQ_INT(checkpointer_tick(c, st, 1007, line, err, sizeof err), TF_E_CORRUPT);
	CHECK(strstr(err, "chain hash at entry 3 is not the one") != NULL);
	CHECK_EQ_INT(scan(file).good, 3);
	checkpointer_free(c);

	/* A scan stops where its callback says, with the callback's value. */
	CHECK_EQ_INT(checkpoint_scan(file, stop_at_two, NULL), 42);
	store_close(st);
}

int main(void)
{
	CHECK_OK(envelope_init());
	test_line();
	test_writer();
	return tft_done();
}
