#include "auditlog.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "hex.h"
#include "log.h"
#include "record.h"
#include "registry.h"
#include "wire.h"

#define HEAD_KEY "log_head"

static void chain_hash(const uint8_t prev[AUDITLOG_HASH_LEN], uint64_t seq, const uint8_t *env,
                       size_t len, uint8_t out[AUDITLOG_HASH_LEN])
{
	crypto_generichash_state st;
	uint8_t be[8];
	store_be64(be, seq);
	crypto_generichash_init(&st, NULL, 0, AUDITLOG_HASH_LEN);
	crypto_generichash_update(&st, prev, AUDITLOG_HASH_LEN);
	crypto_generichash_update(&st, be, sizeof be);
	crypto_generichash_update(&st, env, len);
	crypto_generichash_final(&st, out, AUDITLOG_HASH_LEN);
}

int auditlog_head(struct store_txn *txn, uint64_t *seq, uint8_t hash[AUDITLOG_HASH_LEN])
{
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_META, HEAD_KEY, strlen(HEAD_KEY), &v, &vl);
	if (r == -ENOENT) {
		*seq = 0;
		memset(hash, 0, AUDITLOG_HASH_LEN);
		return 0;
	}
	if (r < 0)
		return r;
	if (vl != 8 + AUDITLOG_HASH_LEN)
		return TF_E_CORRUPT;
	*seq = store_get_be64(v);
	memcpy(hash, (const uint8_t *)v + 8, AUDITLOG_HASH_LEN);
	return 0;
}

int auditlog_append(struct store_txn *txn, const uint8_t *env, size_t len, uint64_t *seq)
{
	return auditlog_append_form(txn, env, len, NULL, 0, seq);
}

int auditlog_append_form(struct store_txn *txn, const uint8_t *env, size_t len, const uint8_t *form,
                         size_t form_len, uint64_t *seq)
{
	uint64_t n;
	uint8_t hash[AUDITLOG_HASH_LEN];
	int r = auditlog_head(txn, &n, hash);
	if (r < 0)
		return r;
	n++;
	uint8_t next[AUDITLOG_HASH_LEN];
	chain_hash(hash, n, env, len, next);

	const uint8_t *kept = form ? form : env;
	size_t kept_len = form ? form_len : len;
	uint8_t *val = malloc(AUDITLOG_HASH_LEN + kept_len + 1);
	if (!val)
		return -ENOMEM;
	memcpy(val, next, AUDITLOG_HASH_LEN);
	memcpy(val + AUDITLOG_HASH_LEN, kept, kept_len);
	uint8_t key[8];
	store_be64(key, n);
	r = store_put(txn, DB_LOG, key, sizeof key, val, AUDITLOG_HASH_LEN + kept_len,
	              STORE_NOOVERWRITE);
	free(val);
	if (r < 0)
		return r == -EEXIST ? TF_E_CORRUPT : r;
	uint8_t head[8 + AUDITLOG_HASH_LEN];
	store_be64(head, n);
	memcpy(head + 8, next, AUDITLOG_HASH_LEN);
	r = store_put(txn, DB_META, HEAD_KEY, strlen(HEAD_KEY), head, sizeof head, 0);
	if (r == 0 && seq)
		*seq = n;
	return r;
}

/* Entry seq as stored (chain hash first): 0, -ENOENT, TF_E_CORRUPT (too
 * short for its hash) or a store code. */
static int get_entry(struct store_txn *txn, uint64_t seq, const uint8_t **v, size_t *vl)
{
	uint8_t key[8];
	store_be64(key, seq);
	const void *p;
	int r = store_get(txn, DB_LOG, key, sizeof key, &p, vl);
	if (r < 0)
		return r;
	*v = p;
	return *vl < AUDITLOG_HASH_LEN ? TF_E_CORRUPT : 0;
}

int auditlog_hash_at(struct store_txn *txn, uint64_t seq, uint8_t hash[AUDITLOG_HASH_LEN])
{
	if (seq == 0) {
		memset(hash, 0, AUDITLOG_HASH_LEN);
		return 0;
	}
	const uint8_t *v;
	size_t vl;
	int r = get_entry(txn, seq, &v, &vl);
	if (r < 0)
		return r;
	memcpy(hash, v, AUDITLOG_HASH_LEN);
	return 0;
}

/* One audit: its transaction, its report and where its first problem goes. */
struct audit {
	struct store_txn *txn;
	struct auditlog_report *rep;
	char *err;
	size_t errlen;
	uint64_t visits; /* stored records that are visits */
	/* The checkpoints, by entries then time: the window in which each
	 * entry arrived (check_received). */
	struct arrival_mark *by_entries;
	size_t n_marks;
};

struct arrival_mark {
	uint64_t entries;
	int64_t time;
};

static int fail(struct audit *a, const char *fmt, ...) TF_PRINTF(2, 3);
static int fail(struct audit *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (a->errlen)
		vsnprintf(a->err, a->errlen, fmt, ap);
	va_end(ap);
	return TF_E_CORRUPT;
}

/* The record a request stores, if it is a visit or care event: its id,
 * elder, message type and a word for messages. false for anything else. */
struct signed_record {
	const ProtobufCBinaryData *id;
	const char *elder;
	enum wire_type type;
	const void *msg;
	const char *what;
};

static bool request_record(const tf_request *q, struct signed_record *out)
{
	if (q->op_case == TANFANG__V1__REQUEST__OP_VISIT && q->visit) {
		*out = (struct signed_record){&q->visit->id, q->visit->elder_id, WIRE_VISIT,
		                              q->visit, "visit"};
		return true;
	}
	if (q->op_case == TANFANG__V1__REQUEST__OP_CARE_EVENT && q->care_event) {
		*out = (struct signed_record){&q->care_event->id, q->care_event->elder_id,
		                              WIRE_CARE_EVENT, q->care_event, "care event"};
		return true;
	}
	return false;
}

/* The short form of a record's entry, after the chain hash (see
 * auditlog_record_form): a zero byte (no Envelope starts with one: field
 * tags are at least 8), the kind, the record's id, the signature, the
 * elder's id (length byte first: for messages when the record is gone),
 * and the Request packed without its visit or care event. */
#define FORM_MARK       0x00
#define FORM_VISIT      1
#define FORM_CARE_EVENT 2
#define FORM_FIXED      (1 + 1 + 16 + ENVELOPE_SIG_LEN + 1)

int auditlog_record_form(const uint8_t *frame, size_t len, const tf_envelope *env,
                         const tf_request *req, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	struct signed_record sr;
	if (!request_record(req, &sr) || sr.id->len != 16 ||
	    env->signature.len != ENVELOPE_SIG_LEN || env->signer.len != ENVELOPE_PK_LEN)
		return 0;
	size_t el = strlen(sr.elder);
	if (el > 255)
		return 0;
	/* Only if packing again gives the signed bytes back: the audit will
	 * rebuild the frame that way, and its signature must verify. */
	uint8_t *body = NULL, *again = NULL, *rest = NULL;
	size_t bl = 0, al = 0, rl = 0;
	int r = wire_pack(WIRE_REQUEST, req, &body, &bl);
	bool same = r == 0 && bl == env->body.len && memcmp(body, env->body.data, bl) == 0;
	if (same) {
		tf_envelope e;
		wire_init(WIRE_ENVELOPE, &e);
		e.signer = env->signer;
		e.body = env->body;
		e.signature = env->signature;
		r = wire_pack(WIRE_ENVELOPE, &e, &again, &al);
		same = r == 0 && al == len && memcmp(again, frame, len) == 0;
	}
	if (same) {
		tf_request q = *req;
		q.op_case = TANFANG__V1__REQUEST__OP__NOT_SET;
		r = wire_pack(WIRE_REQUEST, &q, &rest, &rl);
	}
	uint8_t *f = NULL;
	if (same && r == 0 && (f = malloc(FORM_FIXED + el + rl))) {
		uint8_t *p = f;
		*p++ = FORM_MARK;
		*p++ = sr.type == WIRE_VISIT ? FORM_VISIT : FORM_CARE_EVENT;
		memcpy(p, sr.id->data, 16), p += 16;
		memcpy(p, env->signature.data, ENVELOPE_SIG_LEN), p += ENVELOPE_SIG_LEN;
		*p++ = (uint8_t)el;
		memcpy(p, sr.elder, el), p += el;
		memcpy(p, rest, rl);
		*out = f;
		*out_len = FORM_FIXED + el + rl;
	} else if (same && r == 0) {
		r = -ENOMEM;
	}
	free(body);
	free(again);
	free(rest);
	return r == -ENOMEM ? r : 0;
}

/* An entry as stored, after its chain hash: a whole frame, or a short
 * form naming its record. */
struct entry {
	const uint8_t *frame; /* whole: the frame, into the stored value */
	size_t len;
	bool short_form;
	const char *what; /* short: "visit" or "care event" */
	enum wire_type type;
	const uint8_t *id, *sig, *rest;
	size_t rest_len;
	char elder[256];
};

static int entry_parse(const uint8_t *v, size_t vl, struct entry *e)
{
	memset(e, 0, sizeof *e);
	if (vl == 0 || v[0] != FORM_MARK) {
		e->frame = v;
		e->len = vl;
		return 0;
	}
	if (vl < FORM_FIXED || (v[1] != FORM_VISIT && v[1] != FORM_CARE_EVENT))
		return TF_E_CORRUPT;
	size_t el = v[FORM_FIXED - 1];
	if (vl < FORM_FIXED + el)
		return TF_E_CORRUPT;
	e->short_form = true;
	e->type = v[1] == FORM_VISIT ? WIRE_VISIT : WIRE_CARE_EVENT;
	e->what = v[1] == FORM_VISIT ? "visit" : "care event";
	e->id = v + 2;
	e->sig = v + 18;
	memcpy(e->elder, v + FORM_FIXED, el);
	e->elder[el] = '\0';
	e->rest = v + FORM_FIXED + el;
	e->rest_len = vl - FORM_FIXED - el;
	return 0;
}

/* The frame a short entry stands for, from its record: *frame the
 * caller's. -ENOENT when the record is gone; TF_E_CORRUPT when it or the
 * entry does not decode, or the record is not of the entry's kind. */
static int entry_rebuild(struct store_txn *txn, const struct entry *e, uint8_t **frame, size_t *len)
{
	*frame = NULL;
	tf_record *rec;
	int r = record_get(txn, e->id, &rec);
	if (r < 0)
		return r;
	tf_request *q = NULL;
	uint8_t *body = NULL;
	size_t bl;
	r = wire_unpack(WIRE_REQUEST, e->rest, e->rest_len, (void **)&q);
	if (r == 0 && (q->op_case != TANFANG__V1__REQUEST__OP__NOT_SET ||
	               rec->signer.len != ENVELOPE_PK_LEN ||
	               (e->type == WIRE_VISIT ? !rec->visit : !rec->care_event)))
		r = TF_E_CORRUPT;
	if (r == 0) {
		/* Borrowed from the record for packing, handed back below. */
		if (e->type == WIRE_VISIT) {
			q->op_case = TANFANG__V1__REQUEST__OP_VISIT;
			q->visit = rec->visit;
		} else {
			q->op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT;
			q->care_event = rec->care_event;
		}
		r = wire_pack(WIRE_REQUEST, q, &body, &bl);
		q->op_case = TANFANG__V1__REQUEST__OP__NOT_SET;
		q->visit = NULL;
		q->care_event = NULL;
	}
	if (r == 0) {
		tf_envelope env;
		wire_init(WIRE_ENVELOPE, &env);
		env.signer = rec->signer;
		env.body = (ProtobufCBinaryData){.len = bl, .data = body};
		env.signature =
		    (ProtobufCBinaryData){.len = ENVELOPE_SIG_LEN, .data = (uint8_t *)e->sig};
		r = wire_pack(WIRE_ENVELOPE, &env, frame, len);
	}
	free(body);
	wire_free(WIRE_REQUEST, q);
	wire_free(WIRE_RECORD, rec);
	return r == TF_E_MALFORMED ? TF_E_CORRUPT : r;
}

int auditlog_get(struct store_txn *txn, uint64_t seq, uint8_t **env, size_t *len)
{
	*env = NULL;
	const uint8_t *v;
	size_t vl;
	int r = get_entry(txn, seq, &v, &vl);
	if (r < 0)
		return r;
	struct entry e;
	r = entry_parse(v + AUDITLOG_HASH_LEN, vl - AUDITLOG_HASH_LEN, &e);
	if (r < 0)
		return r;
	if (e.short_form)
		return entry_rebuild(txn, &e, env, len);
	*env = malloc(e.len ? e.len : 1);
	if (!*env)
		return -ENOMEM;
	memcpy(*env, e.frame, e.len);
	*len = e.len;
	return 0;
}

/* Do two messages of one type pack to the same bytes? 1, 0 or -ENOMEM. */
static int same_packed(enum wire_type type, const void *x, const void *y)
{
	uint8_t *bx = NULL, *by = NULL;
	size_t lx, ly;
	int r = wire_pack(type, x, &bx, &lx);
	if (r == 0)
		r = wire_pack(type, y, &by, &ly);
	if (r == 0)
		r = lx == ly && memcmp(bx, by, lx) == 0;
	free(bx);
	free(by);
	return r;
}

/* Entry seq is the signed visit or care event sr of signer: its stored
 * record must exist, name this entry, and hold exactly what was signed. */
static int check_entry_record(struct audit *a, uint64_t seq, const ProtobufCBinaryData *signer,
                              const struct signed_record *sr)
{
	unsigned long long n = (unsigned long long)seq;
	if (sr->id->len != 16)
		return fail(a, "entry %llu: %s id is not 16 bytes", n, sr->what);
	char idhex[33];
	hex_encode(sr->id->data, 16, idhex);
	tf_record *rec;
	int r = record_get(a->txn, sr->id->data, &rec);
	if (r == -ENOENT)
		return fail(a,
		            "entry %llu: %s %s of elder %s has no stored record (the record was "
		            "deleted)",
		            n, sr->what, idhex, sr->elder);
	if (r == TF_E_CORRUPT)
		return fail(a, "entry %llu: the stored record of %s %s does not decode (edited)", n,
		            sr->what, idhex);
	if (r < 0)
		return r;
	const void *stored =
	    sr->type == WIRE_VISIT ? (const void *)rec->visit : (const void *)rec->care_event;
	uint8_t hash[32];
	if (rec->log_seq != seq)
		r = fail(a, "entry %llu: the stored record of %s %s names log entry %llu instead",
		         n, sr->what, idhex, (unsigned long long)rec->log_seq);
	else if (!stored || (rec->visit && rec->care_event))
		r = fail(a, "entry %llu: the stored record %s is not a %s (edited)", n, idhex,
		         sr->what);
	else if (rec->signer.len != 32 || signer->len != 32 ||
	         memcmp(rec->signer.data, signer->data, 32) != 0)
		r = fail(a, "entry %llu: the stored record of %s %s names another signer (edited)",
		         n, sr->what, idhex);
	else if ((r = same_packed(sr->type, stored, sr->msg)) == 0)
		r = fail(a,
		         "entry %llu: the stored record of %s %s differs from what was signed "
		         "(edited)",
		         n, sr->what, idhex);
	else if (r == 1 && (r = record_content_hash(signer->data, sr->type, sr->msg, hash)) == 0 &&
	         (rec->content_hash.len != 32 || sodium_memcmp(rec->content_hash.data, hash, 32)))
		r = fail(a,
		         "entry %llu: the stored record of %s %s has another content hash (edited)",
		         n, sr->what, idhex);
	wire_free(WIRE_RECORD, rec);
	return r;
}

/* Walks the chain: sequence numbers, chain hashes, signatures, and the
 * stored record of every visit and care event. */
static int walk_chain(struct audit *a)
{
	struct store_cursor *cur;
	int r = store_cursor_open(a->txn, DB_LOG, &cur);
	if (r < 0)
		return r;
	uint8_t prev[AUDITLOG_HASH_LEN] = {0};
	const void *k, *v;
	size_t kl, vl;
	uint64_t expect = 1;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl), expect++) {
		unsigned long long n = (unsigned long long)expect;
		if (kl != 8 || vl < AUDITLOG_HASH_LEN) {
			r = fail(a, "entry %llu: bad key or value size", n);
			break;
		}
		uint64_t seq = store_get_be64(k);
		if (seq != expect) {
			r = fail(a, "entry %llu missing (next present is %llu)", n,
			         (unsigned long long)seq);
			break;
		}
		struct entry en;
		r = entry_parse((const uint8_t *)v + AUDITLOG_HASH_LEN, vl - AUDITLOG_HASH_LEN,
		                &en);
		if (r < 0) {
			r = fail(a, "entry %llu: neither an envelope nor a record's entry", n);
			break;
		}
		const uint8_t *env = en.frame;
		size_t len = en.len;
		uint8_t *built = NULL;
		tf_envelope *e = NULL;
		if (en.short_form) {
			/* Rebuilt from the record it names, whose signature must
			 * verify first: a failure here is the record's. */
			char idhex[33];
			hex_encode(en.id, 16, idhex);
			r = entry_rebuild(a->txn, &en, &built, &len);
			if (r == -ENOENT)
				r = fail(a,
				         "entry %llu: %s %s of elder %s (as the entry says) has no "
				         "stored record (the record was deleted)",
				         n, en.what, idhex, en.elder);
			else if (r == TF_E_CORRUPT)
				r = fail(a,
				         "entry %llu: the stored record of %s %s does not decode "
				         "(edited)",
				         n, en.what, idhex);
			if (r == 0 && (r = envelope_open(built, len, &e)) < 0 && r != -ENOMEM)
				r = fail(a,
				         "entry %llu: the stored record of %s %s differs from what "
				         "was signed (edited)",
				         n, en.what, idhex);
			if (r < 0) {
				free(built);
				break;
			}
			env = built;
		}
		uint8_t h[AUDITLOG_HASH_LEN];
		chain_hash(prev, seq, env, len, h);
		if (sodium_memcmp(h, v, AUDITLOG_HASH_LEN) != 0) {
			r = fail(
			    a, "entry %llu: chain hash mismatch (entry or its predecessor edited)",
			    n);
			free(built);
			wire_free(WIRE_ENVELOPE, e);
			break;
		}
		if (!e && (r = envelope_open(env, len, &e)) < 0) {
			if (r != -ENOMEM)
				r = fail(a, "entry %llu: envelope does not verify: %s", n,
				         tf_strerror(r));
			free(built);
			break;
		}
		tf_request *q = NULL;
		r = wire_unpack(WIRE_REQUEST, e->body.data, e->body.len, (void **)&q);
		struct signed_record sr;
		if (r == TF_E_MALFORMED)
			r = fail(a, "entry %llu: body is not a request", n);
		else if (r == 0 && request_record(q, &sr)) {
			a->rep->record_entries++;
			r = check_entry_record(a, seq, &e->signer, &sr);
			/* A short entry's own copy of the elder is for messages
			 * when the record is gone; it must still be the signed one. */
			if (r == 0 && en.short_form && strcmp(en.elder, sr.elder) != 0)
				r = fail(a,
				         "entry %llu: names elder %s, but its %s was signed for %s "
				         "(edited)",
				         n, en.elder, sr.what, sr.elder);
		}
		wire_free(WIRE_REQUEST, q);
		wire_free(WIRE_ENVELOPE, e);
		free(built);
		if (r < 0)
			break;
		memcpy(prev, h, sizeof prev);
		a->rep->entries++;
	}
	store_cursor_close(cur);
	if (r != -ENOENT)
		return r;
	unsigned long long count = (unsigned long long)a->rep->entries;
	if (a->rep->entries != a->rep->head_entries)
		return fail(a,
		            "log holds %llu entries but the head says %llu (entries deleted at the "
		            "end?)",
		            count, (unsigned long long)a->rep->head_entries);
	if (sodium_memcmp(prev, a->rep->head, AUDITLOG_HASH_LEN) != 0)
		return fail(a, "final chain hash does not match the head");
	return 0;
}

/* Each checkpoint must be a prefix of the chain just verified: entry
 * m.entries exists and its (verified) chain hash is m.head. The first that
 * is not is reported, with how far the log still agrees with the others, so
 * the auditor knows where the damage starts. */
static int check_marks(struct audit *a, const struct auditlog_mark *marks, size_t n)
{
	const struct auditlog_mark *bad = NULL;
	bool shorter = false;
	uint64_t agree = 0;
	for (size_t i = 0; i < n; i++) {
		const struct auditlog_mark *m = &marks[i];
		uint8_t h[AUDITLOG_HASH_LEN];
		int r = m->entries > a->rep->entries ? -ENOENT
		                                     : auditlog_hash_at(a->txn, m->entries, h);
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == 0 && sodium_memcmp(h, m->head, AUDITLOG_HASH_LEN) == 0) {
			a->rep->marks_ok++;
			agree = m->entries > agree ? m->entries : agree;
		} else if (!bad) {
			bad = m;
			shorter = r == -ENOENT;
		}
	}
	if (!bad)
		return 0;
	char tail[96] = "";
	if (agree)
		snprintf(tail, sizeof tail,
		         " (the log agrees with the other checkpoints up to entry %llu)",
		         (unsigned long long)agree);
	const char *where = bad->where ? bad->where : "a checkpoint";
	unsigned long long want = (unsigned long long)bad->entries;
	if (shorter)
		return fail(a,
		            "%s: the log held %llu entries when it was signed, it holds %llu now: "
		            "entries were deleted and the head rewritten%s",
		            where, want, (unsigned long long)a->rep->entries, tail);
	return fail(a,
	            "%s: the chain up to entry %llu is not the one signed then: entries were "
	            "changed, removed or inserted and the chain recomputed%s",
	            where, want, tail);
}

/* How far a record's time of receipt may lie outside the window its
 * checkpoints give: the writer stamps a batch before its commit, and a
 * server's clock may be stepped by NTP. Fifteen minutes, against a
 * checkpoint every five by default. */
#define RECEIVED_SLACK_S 900

static int by_entries(const void *x, const void *y)
{
	const struct arrival_mark *a = x, *b = y;
	if (a->entries != b->entries)
		return a->entries < b->entries ? -1 : 1;
	return a->time < b->time ? -1 : a->time > b->time;
}

/* Sorts the (verified) checkpoints for check_received. */
static int arrival_marks(struct audit *a, const struct auditlog_mark *marks, size_t n)
{
	if (!n)
		return 0;
	a->by_entries = calloc(n, sizeof *a->by_entries);
	if (!a->by_entries)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		a->by_entries[i] = (struct arrival_mark){marks[i].entries, marks[i].time};
	qsort(a->by_entries, n, sizeof *a->by_entries, by_entries);
	a->n_marks = n;
	return 0;
}

/* A record's time of receipt is not signed, and a filed month's report
 * lists the visits that arrived after its filing by it. The signed
 * checkpoints bound it: the entry at `seq` arrived after the last
 * checkpoint that did not yet hold it was signed, and before the first
 * that did. A record re-dated across a checkpoint (a late visit made to
 * look on time) shows here. Only the two nearest checkpoints count, so a
 * clock set back once leaves one window open, not every earlier one
 * wrong. */
static int check_received(struct audit *a, uint64_t seq, int64_t received, const char *what,
                          const char *idhex)
{
	/* The first checkpoint that holds entry seq. */
	size_t lo = 0, hi = a->n_marks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->by_entries[mid].entries < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	int64_t after = lo ? a->by_entries[lo - 1].time : INT64_MIN;
	int64_t before = lo < a->n_marks ? a->by_entries[lo].time : INT64_MAX;
	/* A clock set back between checkpoints leaves no window to hold. */
	if (after != INT64_MIN && before != INT64_MAX && after > before)
		return 0;
	char when[32];
	time_t t = (time_t)received;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(when, sizeof when, "%lld", (long long)received);
	if (after != INT64_MIN && received < after - RECEIVED_SLACK_S)
		return fail(
		    a,
		    "stored %s %s says it arrived %s, before the checkpoint signed %lld s "
		    "later that did not yet hold it (its time of receipt was edited, or the "
		    "daemon's clock was set back)",
		    what, idhex, when, (long long)(after - received));
	if (before != INT64_MAX && received > before + RECEIVED_SLACK_S)
		return fail(a,
		            "stored %s %s says it arrived %s, after the checkpoint signed %lld s "
		            "earlier that already held it (its time of receipt was edited, or the "
		            "daemon's clock was set back)",
		            what, idhex, when, (long long)(received - before));
	return 0;
}

/* Every stored record must name a log entry that is its own visit or care
 * event (walk_chain checked the converse, and that record's content). */
/* The UTC month (yyyymm) of unix time t. */
static int utc_month(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		return 0;
	return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

/* What the daemon keeps beside a record (ingest.c, store_record): its key
 * in the elder's and the visitor's history, and a visit's entry in the
 * month index the reports read; and the record's visitor must be the one
 * its signing key was enrolled for. A visit hidden from the histories or
 * the reports, or credited to someone else, shows here (found by a
 * tampering test; none of these is signed). */
static int check_record_indexes(struct audit *a, const uint8_t id[16], const tf_record *rec,
                                const char *idhex)
{
	if (!rec->visit == !rec->care_event || rec->signer.len != 32)
		return fail(a, "stored record %s is not one signed visit or care event (edited)",
		            idhex);
	const char *elder = rec->visit ? rec->visit->elder_id : rec->care_event->elder_id;
	int64_t t = rec->visit ? rec->visit->visited_at : rec->care_event->occurred_at;
	const char *what = rec->visit ? "visit" : "care event";
	if (strlen(elder) > REGISTRY_ID_MAX || strlen(rec->visitor_id) > REGISTRY_ID_MAX)
		return fail(a, "stored record %s names an id longer than %d bytes (edited)", idhex,
		            REGISTRY_ID_MAX);
	tf_device_key *dk;
	int r = registry_get_key(a->txn, rec->signer.data, &dk);
	if (r == -ENOENT)
		return fail(a, "stored %s %s is signed by a key that was never enrolled (forged)",
		            what, idhex);
	if (r < 0)
		return r == TF_E_MALFORMED || r == TF_E_CORRUPT
		           ? fail(a, "the enrolment of %s %s's key does not decode (edited)", what,
		                  idhex)
		           : r;
	bool same = strcmp(dk->visitor_id, rec->visitor_id) == 0;
	char holder[REGISTRY_ID_MAX + 1];
	snprintf(holder, sizeof holder, "%s", dk->visitor_id);
	wire_free(WIRE_DEVICE_KEY, dk);
	if (!same)
		return fail(a,
		            "stored %s %s names visitor %s, but its key is visitor %s's (edited)",
		            what, idhex, rec->visitor_id, holder);
	uint8_t key[4 + RECORD_HIST_KEY_MAX];
	const void *v;
	size_t vl;
	size_t kl = record_hist_key(key, elder, t, id);
	r = store_get(a->txn, DB_ELDER_HIST, key, kl, &v, &vl);
	if (r == -ENOENT)
		return fail(a, "stored %s %s is missing from elder %s's history (hidden)", what,
		            idhex, elder);
	if (r < 0)
		return r;
	kl = record_hist_key(key, rec->visitor_id, t, id);
	r = store_get(a->txn, DB_VISITOR_HIST, key, kl, &v, &vl);
	if (r == -ENOENT)
		return fail(a, "stored %s %s is missing from visitor %s's history (hidden)", what,
		            idhex, rec->visitor_id);
	if (r == 0)
		r = check_received(a, rec->log_seq, rec->received_at, what, idhex);
	if (r < 0 || !rec->visit)
		return r;
	/* The month is the daemon's time zone's, which a store may have
	 * changed: one of the UTC months within 14 hours of the visit. */
	a->visits++;
	int months[3] = {utc_month(t - 14 * 3600), utc_month(t), utc_month(t + 14 * 3600)};
	int found = 0;
	for (int i = 0; i < 3; i++) {
		if (i && months[i] == months[i - 1])
			continue;
		record_month_prefix(months[i], key);
		kl = 4 + record_hist_key(key + 4, elder, t, id);
		r = store_get(a->txn, DB_MONTH_VISITS, key, kl, &v, &vl);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		struct month_visit mv;
		if (record_month_split(key, kl, v, vl, &mv) < 0 ||
		    mv.kind != (int)rec->visit->kind || mv.received_at != rec->received_at ||
		    strcmp(mv.visitor, rec->visitor_id) != 0)
			return fail(a,
			            "visit %s's entry in the month index differs from its record "
			            "(edited)",
			            idhex);
		found++;
	}
	if (found != 1)
		return fail(a, "visit %s is %s the month index the reports read (%s)", idhex,
		            found ? "twice in" : "missing from", found ? "added" : "hidden");
	return 0;
}

/* After check_record_indexes of every record: the indexes hold nothing
 * else (each record's keys are its own, so equal counts mean no more). */
static int check_index_counts(struct audit *a)
{
	static const struct {
		enum store_db db;
		const char *what;
	} idx[] = {{DB_ELDER_HIST, "the elders' history"},
	           {DB_VISITOR_HIST, "the visitors' history"},
	           {DB_MONTH_VISITS, "the month index the reports read"}};
	for (size_t i = 0; i < sizeof idx / sizeof *idx; i++) {
		size_t n;
		int r = store_count(a->txn, idx[i].db, &n);
		if (r < 0)
			return r;
		uint64_t want = idx[i].db == DB_MONTH_VISITS ? a->visits : a->rep->records;
		if (n != want)
			return fail(
			    a,
			    "%s holds %zu entries for %llu stored %s: entries were added or "
			    "removed",
			    idx[i].what, n, (unsigned long long)want,
			    idx[i].db == DB_MONTH_VISITS ? "visits" : "visits and care events");
	}
	return 0;
}

static int check_records(struct audit *a)
{
	struct store_cursor *cur;
	int r = store_cursor_open(a->txn, DB_RECORDS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		char idhex[33] = "(bad key)";
		if (kl == 16)
			hex_encode(k, 16, idhex);
		tf_record *rec;
		r = wire_unpack(WIRE_RECORD, v, vl, (void **)&rec);
		if (r == -ENOMEM)
			break;
		if (r < 0 || kl != 16) {
			if (r == 0)
				wire_free(WIRE_RECORD, rec);
			r = fail(a, "stored record %s does not decode (edited)", idhex);
			break;
		}
		uint64_t seq = rec->log_seq;
		uint8_t *env = NULL;
		size_t len;
		r = seq ? auditlog_get(a->txn, seq, &env, &len) : -ENOENT;
		if (r == -ENOENT) {
			r = fail(a,
			         "stored record %s has no log entry (it names entry %llu; the log "
			         "holds %llu): added without being received",
			         idhex, (unsigned long long)seq,
			         (unsigned long long)a->rep->entries);
			wire_free(WIRE_RECORD, rec);
			break;
		}
		if (r < 0) {
			wire_free(WIRE_RECORD, rec);
			break;
		}
		/* The entry's signature was verified by walk_chain: decode only. */
		tf_envelope *e = NULL;
		tf_request *q = NULL;
		struct signed_record sr;
		r = wire_unpack(WIRE_ENVELOPE, env, len, (void **)&e);
		if (r == 0)
			r = wire_unpack(WIRE_REQUEST, e->body.data, e->body.len, (void **)&q);
		bool own = r == 0 && request_record(q, &sr) && sr.id->len == 16 &&
		           memcmp(sr.id->data, k, 16) == 0;
		wire_free(WIRE_REQUEST, q);
		wire_free(WIRE_ENVELOPE, e);
		free(env);
		if (r == 0 && !own)
			r = fail(a,
			         "stored record %s has no log entry (entry %llu, which it names, "
			         "holds another request): added without being received",
			         idhex, (unsigned long long)seq);
		/* Its own entry, which walk_chain held it against: one visit or
		 * care event, signed by a 32-byte key. Now what lies beside it. */
		if (r == 0)
			r = check_record_indexes(a, k, rec, idhex);
		wire_free(WIRE_RECORD, rec);
		if (r < 0)
			break;
		a->rep->records++;
	}
	store_cursor_close(cur);
	if (r == -ENOENT)
		r = check_index_counts(a);
	return r;
}

/* Each filed report names its entry in the log (FiledReport.log_seq): that
 * entry must be a FileReport of its month (and its area, when the request
 * named one), and its time of filing must lie in the entry's checkpoint
 * window, as a record's time of receipt does. A filing re-dated past late
 * visits, so that they no longer show as late, is found (by a re-attack,
 * before this check). Filings kept before they named their entry
 * (log_seq 0) are not held; neither are the figures as filed, which no
 * signature covers (docs/operations.md). */
static int check_filing(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl;
	struct audit *a = ctx;
	tf_filed_report *f;
	int r = wire_unpack(WIRE_FILED_REPORT, v, vl, (void **)&f);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(a, "a filed report does not decode (edited)");
	char what[REGISTRY_ID_MAX + 16];
	snprintf(what, sizeof what, "%s %s", f->area, f->month);
	uint8_t *env = NULL;
	size_t len;
	r = f->log_seq ? auditlog_get(a->txn, f->log_seq, &env, &len) : 0;
	tf_envelope *e = NULL;
	tf_request *q = NULL;
	if (r == -ENOENT)
		r = fail(
		    a,
		    "the filing of %s names log entry %llu, which the log does not hold (edited)",
		    what, (unsigned long long)f->log_seq);
	else if (r == 0 && env) {
		bool own = wire_unpack(WIRE_ENVELOPE, env, len, (void **)&e) == 0 &&
		           wire_unpack(WIRE_REQUEST, e->body.data, e->body.len, (void **)&q) == 0 &&
		           q->op_case == TANFANG__V1__REQUEST__OP_FILE_REPORT &&
		           strcmp(q->file_report->month, f->month) == 0 &&
		           (!*q->file_report->area || strcmp(q->file_report->area, f->area) == 0);
		r = own ? check_received(a, f->log_seq, f->filed_at, "filing", what)
		        : fail(a,
		               "the filing of %s names log entry %llu, which is not its filing "
		               "(edited)",
		               what, (unsigned long long)f->log_seq);
	}
	wire_free(WIRE_REQUEST, q);
	wire_free(WIRE_ENVELOPE, e);
	free(env);
	wire_free(WIRE_FILED_REPORT, f);
	return r;
}

static int check_filings(struct audit *a)
{
	return store_each(a->txn, DB_FILED, check_filing, a);
}

int auditlog_audit(struct store *st, const struct auditlog_mark *marks, size_t n_marks,
                   struct auditlog_report *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (errlen)
		err[0] = '\0';
	struct audit a = {.rep = out, .err = err, .errlen = errlen};
	int r = store_txn_begin(st, false, NULL, &a.txn);
	if (r < 0)
		return r;
	r = auditlog_head(a.txn, &out->head_entries, out->head);
	if (r == TF_E_CORRUPT)
		r = fail(&a, "log head unreadable");
	if (r == 0)
		r = walk_chain(&a);
	if (r == 0)
		r = check_marks(&a, marks, n_marks);
	if (r == 0)
		r = arrival_marks(&a, marks, n_marks);
	if (r == 0)
		r = check_records(&a);
	if (r == 0)
		r = check_filings(&a);
	free(a.by_entries);
	if (r == 0 && out->records != out->record_entries)
		r = fail(&a, "%llu stored records for %llu logged visits and care events",
		         (unsigned long long)out->records, (unsigned long long)out->record_entries);
	store_txn_abort(a.txn);
	return r;
}

int auditlog_verify(struct store *st, uint64_t *count, char *err, size_t errlen)
{
	struct auditlog_report rep;
	int r = auditlog_audit(st, NULL, 0, &rep, err, errlen);
	*count = rep.entries;
	return r;
}
