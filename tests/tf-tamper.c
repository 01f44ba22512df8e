/* tf-tamper: edits a stopped daemon's store the way an intruder with the
 * data folder would, for the audit tests (e2e-audit.sh). It links the core
 * library and reaches LMDB only through store.h; every change it makes is
 * one a careful intruder would make, keeping whatever it can consistent
 * (chain hashes, head, content hash), so that the test shows what verify-log
 * finds and not what a clumsy edit gives away.
 *
 *   tf-tamper DIR records             list stored records: ID KIND SEQ
 *   tf-tamper DIR truncate N          delete the last N log entries, rewrite the head
 *   tf-tamper DIR drop-entry SEQ      delete entry SEQ, renumber and rechain the rest
 *   tf-tamper DIR replace-entry SEQ FROM  put a copy of entry FROM's envelope in
 *                                     place of entry SEQ's and rechain from there: the
 *                                     count stays, every signature still verifies
 *   tf-tamper DIR delete-record ID    delete a stored visit or care event
 *   tf-tamper DIR edit-record ID      change its note, recompute its content hash
 *   tf-tamper DIR forge-record ID     store a copy of it under a new id
 *   tf-tamper KEYFILE sign ENTRIES HEAD TIME   print a checkpoint line signed with
 *                                     KEYFILE (made if absent): a forger's own key
 *
 * Exit status 0 done, 1 failure (message on stderr), 2 usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"
#include "checkpoint.h"
#include "envelope.h"
#include "hex.h"
#include "keys.h"
#include "record.h"
#include "store.h"
#include "wire.h"

static int usage(void)
{
	fputs("usage: tf-tamper DIR records|truncate N|drop-entry SEQ|replace-entry SEQ FROM|\n"
	      "       delete-record ID|edit-record ID|forge-record ID\n"
	      "       tf-tamper KEYFILE sign ENTRIES HEAD TIME\n",
	      stderr);
	return 2;
}

static int die(const char *what, int r)
{
	fprintf(stderr, "tf-tamper: %s: %s\n", what, tf_strerror(r));
	return 1;
}

static uint64_t number(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || !*s)
		exit(usage());
	return v;
}

static int list_records(struct store_txn *txn)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_RECORDS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		tf_record *rec;
		if (kl != 16 || wire_unpack(WIRE_RECORD, v, vl, (void **)&rec) < 0) {
			r = TF_E_CORRUPT;
			break;
		}
		char id[33];
		hex_encode(k, 16, id);
		printf("%s %s %" PRIu64 "\n", id, rec->visit ? "visit" : "event", rec->log_seq);
		wire_free(WIRE_RECORD, rec);
	}
	store_cursor_close(cur);
	return r == -ENOENT ? 0 : r;
}

static int put_head(struct store_txn *txn, uint64_t n, const uint8_t hash[32])
{
	uint8_t head[8 + 32];
	store_be64(head, n);
	memcpy(head + 8, hash, 32);
	return store_put(txn, DB_META, "log_head", 8, head, sizeof head, 0);
}

static int del_entry(struct store_txn *txn, uint64_t seq)
{
	uint8_t key[8];
	store_be64(key, seq);
	return store_del(txn, DB_LOG, key, sizeof key);
}

/* The tail cut off, and the head set to the last entry left: a shorter
 * chain that is consistent in itself. */
static int truncate_log(struct store_txn *txn, uint64_t drop)
{
	uint64_t n;
	uint8_t hash[32];
	int r = auditlog_head(txn, &n, hash);
	if (r < 0)
		return r;
	if (drop > n)
		return -EINVAL;
	for (uint64_t s = n - drop + 1; r == 0 && s <= n; s++)
		r = del_entry(txn, s);
	if (r == 0)
		r = auditlog_hash_at(txn, n - drop, hash);
	return r < 0 ? r : put_head(txn, n - drop, hash);
}

/* Entry seq removed (or, with from, replaced by a copy of entry from) and
 * every later one appended again through the library's own append:
 * renumbered, rechained, head rewritten. */
static int rewrite_entry(struct store_txn *txn, uint64_t seq, uint64_t from)
{
	uint64_t n;
	uint8_t hash[32];
	int r = auditlog_head(txn, &n, hash);
	if (r < 0)
		return r;
	if (seq == 0 || seq > n)
		return -EINVAL;
	if (from > n)
		return -EINVAL;
	/* The envelopes to append again: entry from's copy first, if any. */
	size_t later = (size_t)(n - seq) + (from ? 1 : 0);
	uint8_t **env = calloc(later + 1, sizeof *env);
	size_t *len = calloc(later + 1, sizeof *len);
	if (!env || !len)
		r = -ENOMEM;
	/* Whole frames (a record's short entry rebuilt from its record): the
	 * intruder appends them through the library, as full entries. */
	for (size_t i = 0; r == 0 && i < later; i++) {
		uint64_t src = from ? (i == 0 ? from : seq + i) : seq + 1 + i;
		r = auditlog_get(txn, src, &env[i], &len[i]);
	}
	for (uint64_t s = seq; r == 0 && s <= n; s++)
		r = del_entry(txn, s);
	if (r == 0)
		r = auditlog_hash_at(txn, seq - 1, hash);
	if (r == 0)
		r = put_head(txn, seq - 1, hash);
	for (size_t i = 0; r == 0 && i < later; i++)
		r = auditlog_append(txn, env[i], len[i], NULL);
	for (size_t i = 0; env && i < later; i++)
		free(env[i]);
	free(env);
	free(len);
	return r;
}

static int put_record(struct store_txn *txn, const uint8_t id[16], const tf_record *rec)
{
	uint8_t *buf;
	size_t len;
	int r = wire_pack(WIRE_RECORD, rec, &buf, &len);
	if (r < 0)
		return r;
	r = store_put(txn, DB_RECORDS, id, 16, buf, len, 0);
	free(buf);
	return r;
}

/* The note changed, and the content hash made to match the new content. */
static int edit_record(struct store_txn *txn, const uint8_t id[16])
{
	tf_record *rec;
	int r = record_get(txn, id, &rec);
	if (r < 0)
		return r;
	static char note[] = "edited after the fact";
	uint8_t hash[32];
	char *old;
	if (rec->visit) {
		old = rec->visit->note;
		rec->visit->note = note;
		r = record_content_hash(rec->signer.data, WIRE_VISIT, rec->visit, hash);
	} else {
		old = rec->care_event->note;
		rec->care_event->note = note;
		r = record_content_hash(rec->signer.data, WIRE_CARE_EVENT, rec->care_event, hash);
	}
	if (r == 0 && rec->content_hash.len == 32) {
		memcpy(rec->content_hash.data, hash, 32);
		r = put_record(txn, id, rec);
	}
	/* Give the decoder back what it allocated before freeing. */
	if (rec->visit)
		rec->visit->note = old;
	else
		rec->care_event->note = old;
	wire_free(WIRE_RECORD, rec);
	return r;
}

/* A copy of a record under a new id (in the key and in the record), as if
 * a visit had been received that never was. */
static int forge_record(struct store_txn *txn, const uint8_t id[16])
{
	tf_record *rec;
	int r = record_get(txn, id, &rec);
	if (r < 0)
		return r;
	ProtobufCBinaryData *rid = rec->visit ? &rec->visit->id : &rec->care_event->id;
	uint8_t nid[16];
	memcpy(nid, id, 16);
	nid[15] ^= 0x5a;
	if (rid->len == 16)
		memcpy(rid->data, nid, 16);
	r = put_record(txn, nid, rec);
	wire_free(WIRE_RECORD, rec);
	return r;
}

static int sign(int argc, char **argv)
{
	if (argc != 6)
		return usage();
	struct keypair kp;
	bool made;
	char *slash = strrchr(argv[1], '/');
	if (!slash || strcmp(slash + 1, CHECKPOINT_KEY_FILE) != 0) {
		fprintf(stderr, "tf-tamper: the key file must be named %s\n", CHECKPOINT_KEY_FILE);
		return 2;
	}
	*slash = '\0';
	int r = checkpoint_key_open(argv[1], &kp, &made);
	if (r < 0)
		return die("key", r);
	uint8_t head[32];
	if (hex_decode(argv[4], head, 32) < 0)
		return usage();
	struct checkpoint cp;
	checkpoint_sign(&kp, number(argv[3]), head, (int64_t)number(argv[5]), &cp);
	char line[CHECKPOINT_LINE_MAX];
	checkpoint_format(&cp, line);
	puts(line);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	if (envelope_init() < 0)
		return die("libsodium", -EIO);
	if (strcmp(argv[2], "sign") == 0)
		return sign(argc, argv);
	const char *cmd = argv[2];
	bool listing = strcmp(cmd, "records") == 0;
	bool two = strcmp(cmd, "replace-entry") == 0;
	if (listing != (argc == 3) || argc != (listing ? 3 : two ? 5 : 4))
		return usage();
	uint8_t id[16];
	if (strstr(cmd, "-record") && hex_decode(argv[3], id, 16) < 0)
		return usage();
	struct store *st;
	struct store_options so = {0};
	int r = store_open(argv[1], &so, &st);
	if (r < 0)
		return die(argv[1], r);
	struct store_txn *txn;
	r = store_txn_begin(st, !listing, NULL, &txn);
	if (r == 0) {
		if (listing)
			r = list_records(txn);
		else if (strcmp(cmd, "truncate") == 0)
			r = truncate_log(txn, number(argv[3]));
		else if (strcmp(cmd, "drop-entry") == 0)
			r = rewrite_entry(txn, number(argv[3]), 0);
		else if (two)
			r = rewrite_entry(txn, number(argv[3]), number(argv[4]));
		else if (strcmp(cmd, "delete-record") == 0)
			r = store_del(txn, DB_RECORDS, id, 16);
		else if (strcmp(cmd, "edit-record") == 0)
			r = edit_record(txn, id);
		else if (strcmp(cmd, "forge-record") == 0)
			r = forge_record(txn, id);
		else
			r = -EINVAL;
		if (r == 0 && !listing)
			r = store_txn_commit(txn);
		else
			store_txn_abort(txn);
	}
	store_close(st);
	if (r == -EINVAL && !listing)
		return usage();
	return r < 0 ? die(cmd, r) : 0;
}
