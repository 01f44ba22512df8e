/* The device outbox (core/outbox.c) and the recording half of the field
 * library (core/fieldapi.c) that writes into it: order, durability across
 * close/reopen, refusal bookkeeping, and that what is kept is a correctly
 * signed envelope holding exactly what was recorded. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "envelope.h"
#include "outbox.h"
#include "store.h"
#include "tanfang/tanfang.h"
#include "tf_test.h"
#include "wire.h"

/* expr must return exactly want (0 or a negative code). */
#define CHECK_RC(expr, want)                                                                       \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		if (rc_ != (want))                                                                 \
			tft_fail(__FILE__, __LINE__, "%s = %d (%s), want %d (%s)", #expr, rc_,     \
			         tf_strerror(rc_), (int)(want), tf_strerror(want));                \
		tft_pass();                                                                        \
	} while (0)

static char *tmpdir_new(void)
{
	return strdup(tft_tmpdir());
}

static char *path_join(const char *a, const char *b)
{
	char *p;
	CHECK(asprintf(&p, "%s/%s", a, b) > 0);
	return p;
}

/* ---- outbox ---- */

struct seen {
	size_t n;
	int64_t ms[16];
	uint8_t id[16][16];
	uint8_t frame[16][64];
	size_t len[16];
	size_t stop_after; /* return 1 after this many; 0 = never */
	int fail_with;     /* return this on the first entry; 0 = never */
};

static int seen_pending(void *ctx, const struct outbox_entry *e)
{
	struct seen *s = ctx;
	if (s->fail_with)
		return s->fail_with;
	CHECK(s->n < 16 && e->len <= 64);
	s->ms[s->n] = e->recorded_ms;
	memcpy(s->id[s->n], e->id, 16);
	memcpy(s->frame[s->n], e->frame, e->len);
	s->len[s->n] = e->len;
	uint8_t key[OUTBOX_KEY_LEN];
	outbox_key(key, e->recorded_ms, e->id);
	CHECK(memcmp(key, e->key, OUTBOX_KEY_LEN) == 0);
	s->n++;
	return (s->stop_after && s->n == s->stop_after) ? 1 : 0;
}

struct refusals {
	size_t n;
	int status[8];
	char detail[8][64];
	uint8_t id[8][16];
	uint8_t frame[8][64];
	size_t len[8];
};

static int seen_refused(void *ctx, const struct outbox_refusal *r)
{
	struct refusals *s = ctx;
	CHECK(s->n < 8 && r->len <= 64 && strlen(r->detail) < 64);
	s->status[s->n] = r->status;
	snprintf(s->detail[s->n], 64, "%s", r->detail);
	memcpy(s->id[s->n], r->id, 16);
	memcpy(s->frame[s->n], r->frame, r->len);
	s->len[s->n] = r->len;
	s->n++;
	return 0;
}

static void make_id(uint8_t id[16], uint8_t tag)
{
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(tag * 16 + i);
}

static void test_outbox(void)
{
	char *root = tmpdir_new();
	char *dir = path_join(root, "outbox");
	struct outbox *ob;
	CHECK_RC(outbox_open(dir, &ob), 0);

	size_t pending = 99, refused = 99;
	CHECK_RC(outbox_counts(ob, &pending, &refused), 0);
	CHECK(pending == 0 && refused == 0);
	int64_t last = 0;
	CHECK_RC(outbox_last_ms(ob, &last), 0);
	CHECK(last == -1);

	/* Added out of time order; listed in recording order. */
	uint8_t a[16], b[16], c[16];
	make_id(a, 1);
	make_id(b, 2);
	make_id(c, 3);
	const uint8_t fa[] = "frame-a", fb[] = "frame-b", fc[] = "frame-c-longer";
	CHECK_RC(outbox_add(ob, c, 3000, fc, sizeof fc), 0);
	CHECK_RC(outbox_add(ob, a, 1000, fa, sizeof fa), 0);
	CHECK_RC(outbox_add(ob, b, 2000, fb, sizeof fb), 0);
	/* The same key twice, bad times, empty frames: refused, nothing added. */
	CHECK_RC(outbox_add(ob, a, 1000, fb, sizeof fb), -EEXIST);
	CHECK_RC(outbox_add(ob, a, -1, fa, sizeof fa), -EINVAL);
	CHECK_RC(outbox_add(ob, a, 5, fa, 0), -EINVAL);
	CHECK_RC(outbox_counts(ob, &pending, NULL), 0);
	CHECK(pending == 3);
	CHECK_RC(outbox_last_ms(ob, &last), 0);
	CHECK(last == 3000);

	struct seen s = {0};
	CHECK_RC(outbox_foreach_pending(ob, seen_pending, &s), 0);
	CHECK(s.n == 3);
	CHECK(s.ms[0] == 1000 && s.ms[1] == 2000 && s.ms[2] == 3000);
	CHECK(memcmp(s.id[0], a, 16) == 0 && memcmp(s.id[1], b, 16) == 0 &&
	      memcmp(s.id[2], c, 16) == 0);
	CHECK(s.len[0] == sizeof fa && memcmp(s.frame[0], fa, sizeof fa) == 0);
	CHECK(s.len[2] == sizeof fc && memcmp(s.frame[2], fc, sizeof fc) == 0);

	/* Early stop and error propagation from the callback. */
	struct seen s1 = {.stop_after = 1};
	CHECK_RC(outbox_foreach_pending(ob, seen_pending, &s1), 0);
	CHECK(s1.n == 1);
	struct seen s2 = {.fail_with = -ENOENT};
	CHECK_RC(outbox_foreach_pending(ob, seen_pending, &s2), -ENOENT);

	/* Remove: present keys go, absent ones are skipped. */
	uint8_t keys[2][OUTBOX_KEY_LEN];
	outbox_key(keys[0], 1000, a);
	outbox_key(keys[1], 1234, a); /* no such entry */
	size_t removed = 99;
	CHECK_RC(outbox_remove(ob, (const uint8_t(*)[OUTBOX_KEY_LEN])keys, 2, &removed), 0);
	CHECK(removed == 1);
	CHECK_RC(outbox_remove(ob, NULL, 0, &removed), 0);
	CHECK(removed == 0);

	/* Refuse b: it moves, with status and detail, frame intact. */
	uint8_t kb[OUTBOX_KEY_LEN];
	outbox_key(kb, 2000, b);
	CHECK_RC(outbox_refuse(ob, kb, 8, "unknown elder E-404"), 0);
	CHECK_RC(outbox_refuse(ob, kb, 8, "again"), -ENOENT);
	CHECK_RC(outbox_counts(ob, &pending, &refused), 0);
	CHECK(pending == 1 && refused == 1);
	/* A refused id cannot sneak back in as a new entry. */
	CHECK_RC(outbox_add(ob, b, 9000, fb, sizeof fb), -EEXIST);
	outbox_close(ob);

	/* Everything survives close and reopen. */
	CHECK_RC(outbox_open(dir, &ob), 0);
	CHECK_RC(outbox_counts(ob, &pending, &refused), 0);
	CHECK(pending == 1 && refused == 1);
	struct seen s3 = {0};
	CHECK_RC(outbox_foreach_pending(ob, seen_pending, &s3), 0);
	CHECK(s3.n == 1 && s3.ms[0] == 3000 && memcmp(s3.id[0], c, 16) == 0);
	struct refusals rf = {0};
	CHECK_RC(outbox_foreach_refused(ob, seen_refused, &rf), 0);
	CHECK(rf.n == 1 && rf.status[0] == 8 && strcmp(rf.detail[0], "unknown elder E-404") == 0);
	CHECK(memcmp(rf.id[0], b, 16) == 0);
	CHECK(rf.len[0] == sizeof fb && memcmp(rf.frame[0], fb, sizeof fb) == 0);

	/* Requeue puts it back in order, unchanged; then it is no longer refused. */
	CHECK_RC(outbox_requeue(ob, b, 2000), 0);
	CHECK_RC(outbox_requeue(ob, b, 2000), -ENOENT);
	CHECK_RC(outbox_requeue(ob, a, -5), -EINVAL);
	struct seen s4 = {0};
	CHECK_RC(outbox_foreach_pending(ob, seen_pending, &s4), 0);
	CHECK(s4.n == 2 && s4.ms[0] == 2000 && memcmp(s4.id[0], b, 16) == 0);
	CHECK(s4.len[0] == sizeof fb && memcmp(s4.frame[0], fb, sizeof fb) == 0);
	CHECK_RC(outbox_counts(ob, &pending, &refused), 0);
	CHECK(pending == 2 && refused == 0);

	/* Refuse with an empty detail (NULL). */
	CHECK_RC(outbox_refuse(ob, kb, 12, NULL), 0);
	outbox_close(ob);

	/* A refused value without the NUL separator is reported as corrupt,
	 * not read past its end. */
	struct store *st;
	struct store_txn *txn;
	CHECK_RC(store_open(dir, NULL, &st), 0);
	CHECK_RC(store_txn_begin(st, true, NULL, &txn), 0);
	const uint8_t bad[] = {0, 0, 0, 8, 'x', 'y'};
	CHECK_RC(store_put(txn, DB_REFUSED, c, 16, bad, sizeof bad, 0), 0);
	CHECK_RC(store_txn_commit(txn), 0);
	store_close(st);
	CHECK_RC(outbox_open(dir, &ob), 0);
	struct refusals rf2 = {0};
	CHECK_RC(outbox_foreach_refused(ob, seen_refused, &rf2), TF_E_CORRUPT);
	CHECK_RC(outbox_requeue(ob, c, 1), TF_E_CORRUPT);
	outbox_close(ob);

	outbox_close(NULL);
	free(dir);
	free(root);
}

/* ---- the library's recording half ---- */

struct listing {
	size_t n;
	char what[4][16];
	char elder[4][32];
	int64_t ms[4];
};

static int list_pending(void *ctx, const struct tanfang_pending *p)
{
	struct listing *l = ctx;
	CHECK(l->n < 4);
	snprintf(l->what[l->n], 16, "%s", p->what);
	snprintf(l->elder[l->n], 32, "%s", p->elder_id);
	l->ms[l->n] = p->recorded_ms;
	CHECK(strlen(p->id_hex) == 32);
	l->n++;
	return 0;
}

/* Opens the first pending envelope of the outbox in dir/outbox, verifies it
 * and returns its Request (wire_free WIRE_REQUEST) and signer. */
struct kept {
	tf_request *req;
	uint8_t signer[32];
	uint8_t id[16];
	int64_t recorded_ms;
	size_t index, want;
};

static int take_nth(void *ctx, const struct outbox_entry *e)
{
	struct kept *k = ctx;
	if (k->index++ != k->want)
		return 0;
	tf_envelope *env;
	CHECK_RC(envelope_open(e->frame, e->len, &env), 0);
	memcpy(k->signer, env->signer.data, 32);
	CHECK_RC(wire_unpack(WIRE_REQUEST, env->body.data, env->body.len, (void **)&k->req), 0);
	wire_free(WIRE_ENVELOPE, env);
	memcpy(k->id, e->id, 16);
	k->recorded_ms = e->recorded_ms;
	return 1;
}

static struct kept kept_nth(const char *dev, size_t n)
{
	char *d = path_join(dev, "outbox");
	struct outbox *ob;
	CHECK_RC(outbox_open(d, &ob), 0);
	struct kept k = {.want = n};
	CHECK_RC(outbox_foreach_pending(ob, take_nth, &k), 0);
	CHECK(k.req);
	outbox_close(ob);
	free(d);
	return k;
}

struct order {
	size_t n;
	char hex[64][33];
};

static int list_order(void *ctx, const struct tanfang_pending *p)
{
	struct order *o = ctx;
	CHECK(o->n < 64);
	snprintf(o->hex[o->n++], 33, "%s", p->id_hex);
	return 0;
}

/* Many records within the same millisecond still list in recording order,
 * though their ids are random. */
static void test_order(void)
{
	char *root = tmpdir_new();
	char pk[TANFANG_PK_HEX_LEN];
	CHECK_RC(tanfang_keygen(root, pk), 0);
	struct tanfang *h;
	CHECK_RC(tanfang_open(root, &h), 0);
	char want[40][33];
	for (int i = 0; i < 40; i++) {
		struct tanfang_event e = {.elder_id = "E-1",
		                          .type = TANFANG_EVENT_ILLNESS,
		                          .severity = TANFANG_SEVERITY_WARNING};
		uint8_t id[16];
		CHECK_RC(tanfang_record_event(h, &e, id), 0);
		for (int b = 0; b < 16; b++)
			snprintf(want[i] + 2 * b, 3, "%02x", id[b]);
	}
	struct order o = {0};
	CHECK_RC(tanfang_pending_foreach(h, list_order, &o), 0);
	CHECK(o.n == 40);
	for (int i = 0; i < 40; i++)
		CHECK(strcmp(o.hex[i], want[i]) == 0);
	tanfang_close(h);
	free(root);
}

static void test_record(void)
{
	char *root = tmpdir_new();
	/* A nested folder that does not exist yet: keygen makes it. */
	char *dev = path_join(root, "a/b/device");
	struct tanfang *h;
	CHECK_RC(tanfang_open(dev, &h), -ENOENT);

	char pk[TANFANG_PK_HEX_LEN];
	CHECK_RC(tanfang_keygen(dev, pk), 0);
	CHECK(strlen(pk) == 64 && strspn(pk, "0123456789abcdef") == 64);
	char pk2[TANFANG_PK_HEX_LEN];
	CHECK_RC(tanfang_keygen(dev, pk2), -EEXIST); /* never replaced */
	char *keyfile = path_join(dev, "device.key");
	CHECK(access(keyfile, R_OK) == 0);

	CHECK_RC(tanfang_open(dev, &h), 0);
	char pkh[TANFANG_PK_HEX_LEN];
	tanfang_pubkey_hex(h, pkh);
	CHECK(strcmp(pk, pkh) == 0);

	struct tanfang_visit v = {
	    .elder_id = "E-0001",
	    .kind = TANFANG_VISIT_DOOR,
	    .visited_at = 1795000000,
	    .has_location = true,
	    .lat = 46.7312,
	    .lon = 122.9087,
	    .accuracy_m = 12.5,
	    .duration_min = 35,
	    .basic_living = {TANFANG_FINDING_OK, "冰箱有菜"},
	    .safety_risk = {TANFANG_FINDING_URGENT, "stove gas leak"},
	    .family_support = {TANFANG_FINDING_CONCERN, NULL},
	    .needs = TANFANG_AID_BIT(TANFANG_AID_MEALS) | TANFANG_AID_BIT(TANFANG_AID_EMERGENCY),
	    .follow_up = true,
	    .note = "家中独居",
	};
	uint8_t id1[16];
	CHECK_RC(tanfang_record_visit(h, &v, id1), 0);

	/* A caller-given id is used as is. */
	struct tanfang_event e = {
	    .elder_id = "E-0002",
	    .type = TANFANG_EVENT_SERVICE_DELIVERED,
	    .severity = TANFANG_SEVERITY_INFO,
	    .aid = TANFANG_AID_BATHING,
	    .note = "bathing help",
	    .has_id = true,
	};
	make_id(e.id, 7);
	uint8_t id2[16];
	CHECK_RC(tanfang_record_event(h, &e, id2), 0);
	CHECK(memcmp(id2, e.id, 16) == 0);

	/* Bad input: refused with -EINVAL, nothing kept. */
	struct tanfang_visit bad = v;
	bad.elder_id = "";
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.kind = 0;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.kind = 6;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.lat = 91;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.lon = NAN;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.needs = 1u << 7;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.safety_risk.finding = 4;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.note = "\xff\xfe not utf-8";
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.elder_id = "E-\xc0\xaf"; /* overlong '/' */
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.elder_id = "E 0001"; /* not a registry id */
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	bad = v;
	bad.duration_min = 24 * 60 + 1;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	/* Times outside the daemon's range (2000 to 2100) are not kept to be
	 * refused at every sync (issue 8, item 6). */
	const int64_t bad_times[] = {INT64_MIN, -1, 946684799, INT64_MAX};
	for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
		bad = v;
		bad.visited_at = bad_times[i];
		CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
		struct tanfang_event be = e;
		be.occurred_at = bad_times[i];
		CHECK_RC(tanfang_record_event(h, &be, NULL), -EINVAL);
	}
	bad = v;
	bad.has_location = true, bad.accuracy_m = 100001;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	char *longnote = malloc(4002);
	CHECK(longnote);
	memset(longnote, 'n', 4001);
	longnote[4001] = '\0';
	bad = v;
	bad.care_protection.note = longnote;
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), -EINVAL);
	longnote[4000] = '\0'; /* exactly the daemon's limit is fine */
	bad.care_protection.note = longnote;
	bad.has_id = true;
	make_id(bad.id, 9);
	CHECK_RC(tanfang_record_visit(h, &bad, NULL), 0);
	struct tanfang_event badev = e;
	badev.note = longnote - 0;
	longnote[4000] = 'n';
	CHECK_RC(tanfang_record_event(h, &badev, NULL), -EINVAL);
	free(longnote);
	badev = e;
	badev.severity = 0;
	CHECK_RC(tanfang_record_event(h, &badev, NULL), -EINVAL);
	badev = e;
	badev.type = 11;
	CHECK_RC(tanfang_record_event(h, &badev, NULL), -EINVAL);
	badev = e;
	badev.aid = 7;
	CHECK_RC(tanfang_record_event(h, &badev, NULL), -EINVAL);

	size_t pending = 0, refused = 9;
	CHECK_RC(tanfang_status(h, &pending, &refused), 0);
	CHECK(pending == 3 && refused == 0);
	struct listing l = {0};
	CHECK_RC(tanfang_pending_foreach(h, list_pending, &l), 0);
	CHECK(l.n == 3);
	CHECK(strcmp(l.what[0], "visit") == 0 && strcmp(l.elder[0], "E-0001") == 0);
	CHECK(strcmp(l.what[1], "care_event") == 0 && strcmp(l.elder[1], "E-0002") == 0);
	CHECK(l.ms[0] <= l.ms[1]);
	tanfang_close(h);

	/* What was kept is a valid signature by the device key over exactly
	 * the recorded fields, with sent_at = the recording time. */
	struct kept k = kept_nth(dev, 0);
	CHECK(memcmp(k.id, id1, 16) == 0);
	char signer[65];
	for (int i = 0; i < 32; i++)
		snprintf(signer + 2 * i, 3, "%02x", k.signer[i]);
	CHECK(strcmp(signer, pk) == 0);
	CHECK(k.req->sent_at_ms == k.recorded_ms);
	CHECK(k.req->op_case == TANFANG__V1__REQUEST__OP_VISIT);
	const tf_visit *kv = k.req->visit;
	CHECK(kv->id.len == 16 && memcmp(kv->id.data, id1, 16) == 0);
	CHECK(strcmp(kv->elder_id, "E-0001") == 0);
	CHECK(kv->kind == TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR);
	CHECK(kv->visited_at == 1795000000);
	CHECK(kv->has_location && kv->lat == 46.7312 && kv->lon == 122.9087 &&
	      kv->accuracy_m == 12.5);
	CHECK(kv->duration_min == 35);
	CHECK(kv->basic_living && kv->basic_living->finding == TANFANG__V1__FINDING__FINDING_OK);
	CHECK(strcmp(kv->basic_living->note, "冰箱有菜") == 0);
	CHECK(kv->safety_risk && kv->safety_risk->finding == TANFANG__V1__FINDING__FINDING_URGENT);
	CHECK(strcmp(kv->safety_risk->note, "stove gas leak") == 0);
	CHECK(kv->family_support &&
	      kv->family_support->finding == TANFANG__V1__FINDING__FINDING_CONCERN);
	CHECK(kv->care_protection == NULL); /* not assessed stays absent */
	CHECK(kv->n_needs == 2 && kv->needs[0] == TANFANG__V1__AID__AID_MEALS &&
	      kv->needs[1] == TANFANG__V1__AID__AID_EMERGENCY);
	CHECK(kv->follow_up);
	CHECK(strcmp(kv->note, "家中独居") == 0);
	wire_free(WIRE_REQUEST, k.req);

	struct kept k2 = kept_nth(dev, 1);
	CHECK(k2.req->op_case == TANFANG__V1__REQUEST__OP_CARE_EVENT);
	const tf_care_event *ke = k2.req->care_event;
	CHECK(memcmp(ke->id.data, e.id, 16) == 0 && strcmp(ke->elder_id, "E-0002") == 0);
	CHECK(ke->type == TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_SERVICE_DELIVERED);
	CHECK(ke->severity == TANFANG__V1__SEVERITY__SEVERITY_INFO);
	CHECK(ke->aid == TANFANG__V1__AID__AID_BATHING);
	/* occurred_at 0 means "now": the recording time, in seconds. */
	CHECK(ke->occurred_at == k2.req->sent_at_ms / 1000);
	wire_free(WIRE_REQUEST, k2.req);

	/* A corrupt key file is reported as such, not as a missing one. */
	FILE *f = fopen(keyfile, "w");
	CHECK(f);
	fputs("not a key\n", f);
	fclose(f);
	CHECK_RC(tanfang_open(dev, &h), TANFANG_E_MALFORMED);

	/* Names used by the CLI. */
	CHECK(tanfang_visit_kind_value("neighbour_check") == TANFANG_VISIT_NEIGHBOUR_CHECK);
	CHECK(tanfang_visit_kind_value("PARTY_MEMBER") == TANFANG_VISIT_PARTY_MEMBER);
	CHECK(tanfang_visit_kind_value("unspecified") == -1);
	CHECK(tanfang_visit_kind_value("doors") == -1);
	CHECK(tanfang_finding_value("concern") == TANFANG_FINDING_CONCERN);
	CHECK(tanfang_aid_value("bathing") == TANFANG_AID_BATHING);
	CHECK(tanfang_event_type_value("emergency_call") == TANFANG_EVENT_EMERGENCY_CALL);
	CHECK(tanfang_severity_value("warning") == TANFANG_SEVERITY_WARNING);

	free(keyfile);
	free(dev);
	free(root);
}

/* A stored frame damaged on the device (bit rot, a bad copy) fails the
 * local check before sending: refused locally, listed, never retried;
 * the sound entries stay pending when no daemon answers. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

struct first_frame {
	uint8_t frame[4096];
	size_t len;
};

static int copy_first(void *ctx, const struct outbox_entry *e)
{
	struct first_frame *f = ctx;
	CHECK(e->len <= sizeof f->frame);
	memcpy(f->frame, e->frame, e->len);
	f->len = e->len;
	return 1;
}

static int count_local(void *ctx, const struct tanfang_refusal *r)
{
	int *n = ctx;
	CHECK_STREQ(r->status, "STATUS_MALFORMED");
	CHECK(strstr(r->detail, "local check") != NULL);
	(*n)++;
	return 0;
}

static void test_damaged(void)
{
	const char *dev = tft_tmpdir();
	char pk[TANFANG_PK_HEX_LEN];
	CHECK_RC(tanfang_keygen(dev, pk), 0);
	struct tanfang *h;
	CHECK_RC(tanfang_open(dev, &h), 0);
	struct tanfang_visit v = {.elder_id = "E-1", .kind = TANFANG_VISIT_PHONE};
	CHECK_RC(tanfang_record_visit(h, &v, NULL), 0);
	CHECK_RC(tanfang_record_visit(h, &v, NULL), 0);
	tanfang_close(h);

	char *obdir = path_join(dev, "outbox");
	struct outbox *ob;
	CHECK_RC(outbox_open(obdir, &ob), 0);
	struct first_frame f = {0};
	CHECK_RC(outbox_foreach_pending(ob, copy_first, &f), 0);
	f.frame[f.len - 70] ^= 1; /* inside the body: the signature fails */
	uint8_t id[16];
	make_id(id, 5);
	CHECK_RC(outbox_add(ob, id, 1, f.frame, f.len), 0);
	make_id(id, 6);
	const uint8_t junk[] = "not an envelope";
	CHECK_RC(outbox_add(ob, id, 2, junk, sizeof junk), 0);
	outbox_close(ob);
	free(obdir);

	CHECK_RC(tanfang_open(dev, &h), 0);
	char ep[64];
	snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", free_port()); /* nobody there */
	struct tanfang_sync_opts o = {.attempts = 1, .timeout_ms = 100};
	struct tanfang_sync_result res;
	CHECK_RC(tanfang_sync(h, ep, NULL, &o, &res), TANFANG_E_TIMEOUT);
	CHECK_EQ_INT(res.refused, 2);
	CHECK_EQ_INT(res.sent, 2);
	CHECK_EQ_INT(res.pending, 2);
	int n = 0;
	CHECK_RC(tanfang_refused_foreach(h, count_local, &n), 0);
	CHECK_EQ_INT(n, 2);
	/* No endpoint is a usage error, not a timeout. */
	CHECK_RC(tanfang_sync(h, "", NULL, &o, &res), -EINVAL);
	tanfang_close(h);
}

/* ---- a full device (issue 8, item 5) ---- */

#define FULL_FRAME 1500

struct keys {
	uint8_t (*v)[OUTBOX_KEY_LEN];
	size_t n, cap;
};

static int collect_key(void *ctx, const struct outbox_entry *e)
{
	struct keys *k = ctx;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 256;
		k->v = realloc(k->v, k->cap * sizeof *k->v);
		CHECK(k->v != NULL);
	}
	memcpy(k->v[k->n++], e->key, OUTBOX_KEY_LEN);
	return 0;
}

/* Adds FULL_FRAME-byte entries (ids from *next on) until the outbox
 * refuses one; returns that refusal and how many went in. */
static int fill(struct outbox *ob, uint32_t *next, size_t *added)
{
	static uint8_t frame[FULL_FRAME];
	memset(frame, 'f', sizeof frame);
	*added = 0;
	for (unsigned i = 0; i < 100000; i++, (*next)++) {
		uint8_t id[16] = {0};
		memcpy(id, next, sizeof *next);
		int r = outbox_add(ob, id, 1000 + *next, frame, sizeof frame);
		if (r < 0)
			return r;
		(*added)++;
	}
	return 0;
}

/* Removes every pending entry in the sync's batches of 64, as
 * acknowledgements do; each batch must go through. Every other entry
 * first, as when the daemon acknowledges some and answers the others
 * STORE_FULL: each removal then copies a page that stays in use, the most
 * a batch can need. */
static void remove_all(struct outbox *ob)
{
	struct keys k = {0};
	CHECK_RC(outbox_foreach_pending(ob, collect_key, &k), 0);
	CHECK(k.n > 0);
	uint8_t(*batch)[OUTBOX_KEY_LEN] = malloc(64 * sizeof *batch);
	CHECK(batch != NULL);
	for (int pass = 0; pass < 2; pass++) {
		size_t n = 0, removed;
		for (size_t i = pass == 0 ? 1 : 0; i < k.n; i += 2) {
			memcpy(batch[n++], k.v[i], OUTBOX_KEY_LEN);
			if (n == 64 || i + 2 >= k.n) {
				CHECK_RC(outbox_remove(ob, (const uint8_t(*)[OUTBOX_KEY_LEN])batch,
				                       n, &removed),
				         0);
				CHECK_EQ_INT(removed, n);
				n = 0;
			}
		}
	}
	free(batch);
	size_t pending = 1;
	CHECK_RC(outbox_counts(ob, &pending, NULL), 0);
	CHECK_EQ_INT(pending, 0);
	free(k.v);
}

/* A full outbox map: adds are refused while the room to remove is still
 * there, and every acknowledged entry can then be removed. */
static void test_full_map(void)
{
	char *dir = path_join(tft_tmpdir(), "outbox");
	struct outbox *ob;
	CHECK_RC(outbox_open_map(dir, 4u << 20, &ob), 0);
	uint32_t next = 0;
	size_t added;
	CHECK_RC(fill(ob, &next, &added), TF_E_MAPFULL);
	CHECK(added > 100);
	remove_all(ob);
	/* The room is back for new records. */
	CHECK_RC(fill(ob, &next, &added), TF_E_MAPFULL);
	CHECK(added > 100);
	remove_all(ob);
	outbox_close(ob);
	free(dir);
}

/* A full disk, for real: a child process whose file size limit
 * (RLIMIT_FSIZE, SIGXFSZ ignored) is the outbox file's size, so nothing
 * can grow it. Adds are refused with -ENOSPC; removals still go through. */
static void test_full_disk(void)
{
	char *dir = path_join(tft_tmpdir(), "outbox");
	char *file = path_join(dir, "data.mdb");
	struct outbox *ob;
	CHECK_RC(outbox_open(dir, &ob), 0);
	uint8_t frame[FULL_FRAME];
	memset(frame, 'g', sizeof frame);
	for (uint32_t i = 0; i < 500; i++) {
		uint8_t id[16] = {1};
		memcpy(id + 1, &i, sizeof i);
		CHECK_RC(outbox_add(ob, id, 1000 + i, frame, sizeof frame), 0);
	}
	outbox_close(ob);
	struct stat sb;
	CHECK(stat(file, &sb) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {(rlim_t)sb.st_size, RLIM_INFINITY};
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		CHECK_RC(outbox_open(dir, &ob), 0);
		uint32_t next = 1u << 20;
		size_t added;
		CHECK_RC(fill(ob, &next, &added), -ENOSPC);
		remove_all(ob);
		outbox_close(ob);
		/* The file never grew: the removals used the room kept for them. */
		struct stat after;
		CHECK(stat(file, &after) == 0 && after.st_size <= sb.st_size);
		exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(file);
	free(dir);
}

int main(void)
{
	CHECK_RC(envelope_init(), 0);
	test_outbox();
	test_record();
	test_order();
	test_damaged();
	test_full_map();
	test_full_disk();
	return tft_done();
}
