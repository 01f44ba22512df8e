#include "registry.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idcard.h"
#include "keys.h"
#include "timeline.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), TF_E_INVALID)

bool registry_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > REGISTRY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static bool area_code_valid(const char *code)
{
	size_t n = strlen(code);
	if (n < 2 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

/* Decodes the value stored under key into a fresh message. */
static int get_msg(struct store_txn *txn, enum store_db db, enum wire_type type, const void *key,
                   size_t klen, void **out)
{
	*out = NULL;
	const void *v;
	size_t vl;
	int r = store_get(txn, db, key, klen, &v, &vl);
	if (r < 0)
		return r;
	r = wire_unpack_stored(type, v, vl, out);
	return r == TF_E_MALFORMED ? TF_E_CORRUPT : r;
}

int registry_put_msg(struct store_txn *txn, enum store_db db, enum wire_type type, const void *key,
                     size_t klen, const void *msg)
{
	uint8_t *buf;
	size_t len;
	int r = wire_pack(type, msg, &buf, &len);
	if (r < 0)
		return r;
	r = store_put(txn, db, key, klen, buf, len, 0);
	free(buf);
	return r;
}

int registry_get_area(struct store_txn *txn, const char *code, tf_area **out)
{
	return get_msg(txn, DB_AREAS, WIRE_AREA, code, strlen(code), (void **)out);
}

int registry_within(struct store_txn *txn, const char *area, const char *scope)
{
	if (!scope || !*scope)
		return 1;
	char cur[32];
	if (strlen(area) >= sizeof cur)
		return 0;
	strcpy(cur, area);
	/* Area trees are a handful of levels deep (banner, township, village,
	 * grid); the bound stops a corrupted parent cycle from looping. */
	for (int depth = 0; depth < 16 && *cur; depth++) {
		if (strcmp(cur, scope) == 0)
			return 1;
		tf_area *a;
		int r = registry_get_area(txn, cur, &a);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
		snprintf(cur, sizeof cur, "%s", a->parent);
		wire_free(WIRE_AREA, a);
	}
	return 0;
}

int registry_ancestry(struct store_txn *txn, const char *area, struct registry_ancestry *a)
{
	a->n = 0;
	a->packed_len = 0;
	char cur[REGISTRY_AREA_CODE_MAX];
	if (strlen(area) >= sizeof cur)
		return TF_E_CORRUPT;
	strcpy(cur, area);
	while (*cur && a->n < REGISTRY_ANCESTRY_MAX) {
		size_t cl = strlen(cur) + 1;
		memcpy(a->code[a->n], cur, cl);
		memcpy(a->packed + a->packed_len, cur, cl);
		a->packed_len += cl;
		a->n++;
		tf_area *ar;
		int r = registry_get_area(txn, cur, &ar);
		if (r == -ENOENT)
			break;
		if (r < 0)
			return r;
		size_t pl = strlen(ar->parent);
		if (pl < sizeof cur)
			memcpy(cur, ar->parent, pl + 1);
		else
			cur[0] = '\0';
		wire_free(WIRE_AREA, ar);
	}
	if (a->packed_len)
		a->packed_len--; /* no \0 after the last code */
	return 0;
}

int registry_area_index(struct store_txn *txn, const char *elder_id, const char *area, bool add)
{
	size_t il = strlen(elder_id);
	if (!*area || il > REGISTRY_ID_MAX)
		return 0;
	struct registry_ancestry anc;
	int r = registry_ancestry(txn, area, &anc);
	for (size_t i = 0; r == 0 && i < anc.n; i++) {
		uint8_t key[REGISTRY_AREA_CODE_MAX + REGISTRY_ID_MAX + 1];
		size_t cl = strlen(anc.code[i]) + 1;
		memcpy(key, anc.code[i], cl);
		memcpy(key + cl, elder_id, il);
		r = add ? store_put(txn, DB_ELDER_AREAS, key, cl + il, "", 0, 0)
		        : store_del(txn, DB_ELDER_AREAS, key, cl + il);
		if (r == -ENOENT)
			r = 0;
	}
	return r;
}

static int area_each(void *msg, void *ctx)
{
	const tf_elder *e = msg;
	int r = registry_area_index(ctx, e->id, e->area, true);
	wire_free(WIRE_ELDER, msg);
	return r;
}

int registry_area_index_all(struct store_txn *txn)
{
	int r = store_clear(txn, DB_ELDER_AREAS);
	return r < 0 ? r : registry_foreach(txn, DB_ELDERS, area_each, txn);
}

static bool text_ok(const char *s, size_t max)
{
	return s && strlen(s) <= max;
}

int registry_put_area(struct store_txn *txn, const tf_area *a, const struct registry_when *w,
                      char *err, size_t errlen)
{
	if (!area_code_valid(a->code))
		return ERR("area code '%s' must be 2 to 20 digits", a->code);
	if (!*a->name || !text_ok(a->name, REGISTRY_NAME_MAX))
		return ERR("area %s: name must be 1 to %d bytes", a->code, REGISTRY_NAME_MAX);
	if (!text_ok(a->contact, REGISTRY_NAME_MAX))
		return ERR("area %s: contact too long", a->code);
	if (*a->parent) {
		if (strcmp(a->parent, a->code) == 0)
			return ERR("area %s cannot be its own parent", a->code);
		tf_area *p;
		int r = registry_get_area(txn, a->parent, &p);
		if (r == -ENOENT)
			return ERR("area %s: parent area %s does not exist", a->code, a->parent);
		if (r < 0)
			return r;
		wire_free(WIRE_AREA, p);
		/* Moving an area below its own subtree would make a cycle. */
		r = registry_within(txn, a->parent, a->code);
		if (r < 0)
			return r;
		if (r)
			return ERR("area %s: parent %s is inside its own subtree", a->code,
			           a->parent);
	}
	return timeline_area_put(txn, a, w->at, w->tie, NULL);
}

int registry_get_visitor(struct store_txn *txn, const char *id, tf_visitor **out)
{
	return get_msg(txn, DB_VISITORS, WIRE_VISITOR, id, strlen(id), (void **)out);
}

static int area_exists(struct store_txn *txn, const char *code)
{
	tf_area *a;
	int r = registry_get_area(txn, code, &a);
	if (r == 0)
		wire_free(WIRE_AREA, a);
	return r;
}

int registry_put_visitor(struct store_txn *txn, const tf_visitor *v, const struct registry_when *w,
                         bool *role_changed, char *err, size_t errlen)
{
	if (!registry_id_valid(v->id))
		return ERR("visitor id '%s' must be 1 to %d characters of A-Z a-z 0-9 _ . -", v->id,
		           REGISTRY_ID_MAX);
	if (!*v->name || !text_ok(v->name, REGISTRY_NAME_MAX))
		return ERR("visitor %s: name must be 1 to %d bytes", v->id, REGISTRY_NAME_MAX);
	if (v->role == TANFANG__V1__ROLE__ROLE_UNSPECIFIED)
		return ERR("visitor %s: role is required", v->id);
	if (!text_ok(v->contact, REGISTRY_NAME_MAX))
		return ERR("visitor %s: contact too long", v->id);
	/* Only an administrator may have the whole registry as scope. */
	if (!*v->area && v->role != TANFANG__V1__ROLE__ROLE_ADMIN)
		return ERR("visitor %s: area scope is required", v->id);
	if (*v->area) {
		int r = area_exists(txn, v->area);
		if (r == -ENOENT)
			return ERR("visitor %s: area %s does not exist", v->id, v->area);
		if (r < 0)
			return r;
	}
	tf_visitor *prev;
	int r = timeline_visitor_put(txn, v, w->at, w->tie, &prev);
	if (role_changed)
		*role_changed = r == 0 && prev && prev->role != v->role;
	wire_free(WIRE_VISITOR, prev);
	return r;
}

int registry_get_elder(struct store_txn *txn, const char *id, tf_elder **out)
{
	return get_msg(txn, DB_ELDERS, WIRE_ELDER, id, strlen(id), (void **)out);
}

static bool date_valid(const char *s)
{
	int y, m, d;
	char tail;
	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1880 || y > 2100 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return !(m == 2 && d == 29 && !leap);
}

/* An elder entry's problems, every one at once ("elder E1: a; b"): an
 * office fixes a row of its spreadsheet in one go, not one problem per
 * round (issue 11, item 2). The first is always said (cut to err's size,
 * at a character's edge); a later one that does not fit is dropped whole,
 * and "; ..." says so. */
struct problems {
	char *err;
	size_t errlen, len;
	const char *elder;
	unsigned n;
	bool cut;
};

__attribute__((format(printf, 2, 3))) static void problem(struct problems *p, const char *fmt, ...)
{
	char one[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(one, sizeof one, fmt, ap);
	va_end(ap);
	if (!p->errlen)
		return;
	char lead[REGISTRY_ID_MAX + 16];
	snprintf(lead, sizeof lead, p->n++ ? "; " : "elder %s: ", p->elder);
	size_t ll = strlen(lead), ol = strlen(one);
	if (p->len + ll + ol < p->errlen) {
		memcpy(p->err + p->len, lead, ll);
		memcpy(p->err + p->len + ll, one, ol + 1);
		p->len += ll + ol;
		return;
	}
	if (p->n > 1) {
		if (!p->cut && p->len + 5 < p->errlen)
			memcpy(p->err + p->len, "; ...", 6), p->len += 5;
		p->cut = true;
		return;
	}
	size_t n = snprintf(p->err, p->errlen, "%s%s", lead, one);
	if (n >= p->errlen) { /* cut: not inside a UTF-8 sequence */
		n = p->errlen - 1;
		while (n > 0 && ((unsigned char)p->err[n] & 0xC0) == 0x80)
			n--;
		p->err[n] = '\0';
	}
	p->len = n;
}

static int check_visitor_list(struct store_txn *txn, struct problems *p, const char *what,
                              char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool twice = false;
		for (size_t j = 0; j < i; j++)
			twice |= strcmp(ids[i], ids[j]) == 0;
		if (twice) {
			problem(p, "%s %s listed twice", what, ids[i]);
			continue;
		}
		tf_visitor *v;
		int r = registry_get_visitor(txn, ids[i], &v);
		if (r == -ENOENT) {
			problem(p, "%s %s is not a registered visitor", what, ids[i]);
			continue;
		}
		if (r < 0)
			return r;
		wire_free(WIRE_VISITOR, v);
	}
	return 0;
}

static int list_problems(struct store_txn *txn, struct problems *p, char **neighbours, size_t n_nb,
                         char **visitors, size_t n_vis)
{
	if (n_nb > 2)
		problem(p, "at most two neighbour households (\"1+2\"), got %zu", n_nb);
	if (n_vis > 16)
		problem(p, "at most 16 assigned visitors, got %zu", n_vis);
	int r = check_visitor_list(txn, p, "neighbour", neighbours, n_nb);
	if (r < 0)
		return r;
	return check_visitor_list(txn, p, "visitor", visitors, n_vis);
}

static int check_lists(struct store_txn *txn, const char *id, char **neighbours, size_t n_nb,
                       char **visitors, size_t n_vis, char *err, size_t errlen)
{
	struct problems p = {.err = err, .errlen = errlen, .elder = id};
	if (errlen)
		err[0] = '\0';
	int r = list_problems(txn, &p, neighbours, n_nb, visitors, n_vis);
	return r < 0 ? r : p.n ? TF_E_INVALID : 0;
}

/* Records one fact; a second fact of one request about one elder at the
 * same time is the same elder listed twice. */
static int add_fact(struct store_txn *txn, const char *id, tf_elder_fact *f,
                    const struct registry_when *w, tf_elder **current, char *err, size_t errlen)
{
	f->effective_at = w->at;
	f->received_at = w->received;
	f->signer = (char *)w->signer;
	int r = timeline_elder_fact(txn, id, f, w->tie, current);
	if (r == -EEXIST)
		return TF_E_DUPLICATE;
	if (r == TF_E_CONFLICT)
		return ERR("elder %s: changed twice by one request", id);
	if (r == TF_E_INVALID)
		return ERR("elder %s: too many changes (at most %d)", id, TIMELINE_FACTS_MAX);
	return r;
}

/* The checks of an elder's registry entry as it would stand (put and
 * edit alike). Returns 0, TF_E_INVALID (detail in err) or a store code. */
static int elder_check(struct store_txn *txn, const tf_elder *e, const struct registry_when *w,
                       char *err, size_t errlen)
{
	if (!registry_id_valid(e->id))
		return ERR("elder id '%s' must be 1 to %d characters of A-Z a-z 0-9 _ . -", e->id,
		           REGISTRY_ID_MAX);
	struct problems p = {.err = err, .errlen = errlen, .elder = e->id};
	if (errlen)
		err[0] = '\0';
	if (!*e->name || !text_ok(e->name, REGISTRY_NAME_MAX))
		problem(&p, "name must be 1 to %d bytes", REGISTRY_NAME_MAX);
	if (!text_ok(e->address, 1000) || !text_ok(e->phone, 64))
		problem(&p, "address or phone too long");
	if (*e->birth_date && !date_valid(e->birth_date))
		problem(&p, "birth date '%s' is not a valid YYYY-MM-DD date", e->birth_date);
	if (e->has_location &&
	    (!isfinite(e->lat) || !isfinite(e->lon) || fabs(e->lat) > 90 || fabs(e->lon) > 180))
		problem(&p, "location out of range");
	if (e->n_categories > 16)
		problem(&p, "too many categories");
	/* issue 11: the ID-card number is checked here too, so a request
	 * made by another client than ours cannot store a mistyped one. */
	if (*e->id_card && idcard_check(e->id_card, NULL, NULL) < 0)
		problem(&p,
		        "ID-card number '%s' is not a valid 18-digit number (GB 11643 check digit)",
		        e->id_card);
	if (*e->sex && strcmp(e->sex, "male") != 0 && strcmp(e->sex, "female") != 0)
		problem(&p, "sex must be male, female or empty");
	/* registered_at: when the elder entered the register. An office that
	 * moves its existing list into tanfang gives the real date, so past
	 * months' reports count the elder. */
	if (e->registered_at < 0 || e->registered_at > w->received)
		problem(&p, "registered_at is in the future");
	if (e->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_REMOVED)
		problem(&p, "status REMOVED is set by a removal (entered in error), not by a "
		            "registration");
	int r = area_exists(txn, e->area);
	if (r == -ENOENT)
		problem(&p, "area '%s' does not exist", e->area);
	else if (r < 0)
		return r;
	r = list_problems(txn, &p, e->neighbours, e->n_neighbours, e->visitors, e->n_visitors);
	return r < 0 ? r : p.n ? TF_E_INVALID : 0;
}

int registry_put_elder(struct store_txn *txn, const tf_elder *e, const struct registry_when *w,
                       tf_elder **current, char *err, size_t errlen)
{
	if (current)
		*current = NULL;
	int r = elder_check(txn, e, w, err, errlen);
	if (r < 0)
		return r;
	tf_elder copy = *e;
	/* The fact keeps what the office said; the daemon's own fields are
	 * the fold's (timeline.c). */
	copy.status_since = 0;
	tf_elder_fact f;
	wire_init(WIRE_ELDER_FACT, &f);
	f.kind = TANFANG__STORE__ELDER_FACT__KIND__KIND_PUT;
	f.elder = &copy;
	return add_fact(txn, e->id, &f, w, current, err, errlen);
}

int registry_set_list(struct store_txn *txn, const char *elder_id, char **ids, size_t n,
                      bool neighbours, const struct registry_when *w, tf_elder **current, char *err,
                      size_t errlen)
{
	if (current)
		*current = NULL;
	tf_elder *e;
	int r = registry_get_elder(txn, elder_id, &e);
	if (r < 0)
		return r;
	wire_free(WIRE_ELDER, e);
	r = neighbours ? check_lists(txn, elder_id, ids, n, NULL, 0, err, errlen)
	               : check_lists(txn, elder_id, NULL, 0, ids, n, err, errlen);
	if (r < 0)
		return r;
	tf_elder_fact f;
	wire_init(WIRE_ELDER_FACT, &f);
	f.kind = neighbours ? TANFANG__STORE__ELDER_FACT__KIND__KIND_NEIGHBOURS
	                    : TANFANG__STORE__ELDER_FACT__KIND__KIND_VISITORS;
	f.ids = ids;
	f.n_ids = n;
	return add_fact(txn, elder_id, &f, w, current, err, errlen);
}

static int get_key(struct store_txn *txn, const uint8_t pk[32], tf_device_key **out)
{
	return get_msg(txn, DB_KEYS, WIRE_DEVICE_KEY, pk, 32, (void **)out);
}

int registry_get_key(struct store_txn *txn, const uint8_t pk[32], tf_device_key **out)
{
	return get_key(txn, pk, out);
}

/* The CURVE key of an Ed25519 key, indexed for the handshake check. A key
 * that is no valid point could never connect: refused at enrolment. */
static int transport_put(struct store_txn *txn, const uint8_t pk[32], char *err, size_t errlen)
{
	uint8_t x[32];
	if (keys_transport_public(pk, x) < 0)
		return ERR("this public key is not a valid Ed25519 point");
	return store_put(txn, DB_TRANSPORT, x, 32, pk, 32, 0);
}

int registry_enrol_key(struct store_txn *txn, const uint8_t pk[32], const char *visitor_id,
                       int64_t now, char *err, size_t errlen)
{
	tf_visitor *v;
	int r = registry_get_visitor(txn, visitor_id, &v);
	if (r == -ENOENT)
		return ERR("visitor %s does not exist", visitor_id);
	if (r < 0)
		return r;
	wire_free(WIRE_VISITOR, v);
	tf_device_key *k;
	r = get_key(txn, pk, &k);
	if (r == 0) {
		int same = !k->revoked && strcmp(k->visitor_id, visitor_id) == 0;
		int revoked = k->revoked;
		wire_free(WIRE_DEVICE_KEY, k);
		if (same)
			return -EEXIST;
		if (revoked)
			return ERR("this key was revoked; a revoked key cannot be enrolled again");
		return ERR("this key is already enrolled for another visitor");
	}
	if (r != -ENOENT)
		return r;
	tf_device_key nk;
	wire_init(WIRE_DEVICE_KEY, &nk);
	nk.public_key.data = (uint8_t *)pk;
	nk.public_key.len = 32;
	nk.visitor_id = (char *)visitor_id;
	nk.enrolled_at = now;
	r = registry_put_msg(txn, DB_KEYS, WIRE_DEVICE_KEY, pk, 32, &nk);
	return r < 0 ? r : transport_put(txn, pk, err, errlen);
}

int registry_revoke_key(struct store_txn *txn, const uint8_t pk[32], int64_t now)
{
	tf_device_key *k;
	int r = get_key(txn, pk, &k);
	if (r < 0)
		return r;
	if (!k->revoked) {
		k->revoked = 1;
		k->revoked_at = now;
		r = registry_put_msg(txn, DB_KEYS, WIRE_DEVICE_KEY, pk, 32, k);
	}
	wire_free(WIRE_DEVICE_KEY, k);
	return r;
}

int registry_signer(struct store_txn *txn, const uint8_t pk[32], tf_visitor **out)
{
	*out = NULL;
	tf_device_key *k;
	int r = get_key(txn, pk, &k);
	if (r == -ENOENT)
		return TF_E_SIGNER;
	if (r < 0)
		return r;
	if (k->revoked) {
		wire_free(WIRE_DEVICE_KEY, k);
		return TF_E_SIGNER;
	}
	r = registry_get_visitor(txn, k->visitor_id, out);
	wire_free(WIRE_DEVICE_KEY, k);
	return r == -ENOENT ? TF_E_SIGNER : r;
}

struct foreach_ctx {
	enum wire_type type;
	registry_each_fn fn;
	void *ctx;
};

static int foreach_entry(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k, (void)kl;
	struct foreach_ctx *c = ctx;
	void *msg;
	if (wire_unpack_stored(c->type, v, vl, &msg) < 0)
		return TF_E_CORRUPT;
	return c->fn(msg, c->ctx);
}

int registry_foreach(struct store_txn *txn, enum store_db db, registry_each_fn fn, void *ctx)
{
	struct foreach_ctx c = {db == DB_AREAS    ? WIRE_AREA
	                        : db == DB_ELDERS ? WIRE_ELDER
	                                          : WIRE_VISITOR,
	                        fn, ctx};
	return store_each(txn, db, foreach_entry, &c);
}

int registry_transport_signer(struct store_txn *txn, const uint8_t curve_pk[32], uint8_t ed_pk[32])
{
	const void *v;
	size_t vl;
	int r = store_get(txn, DB_TRANSPORT, curve_pk, 32, &v, &vl);
	if (r == -ENOENT)
		return TF_E_SIGNER;
	if (r < 0)
		return r;
	if (vl != 32)
		return TF_E_CORRUPT;
	memcpy(ed_pk, v, 32);
	tf_visitor *who;
	r = registry_signer(txn, ed_pk, &who);
	wire_free(WIRE_VISITOR, who);
	return r;
}

int registry_transport_index(struct store_txn *txn)
{
	struct store_cursor *cur;
	int r = store_cursor_open(txn, DB_KEYS, &cur);
	if (r < 0)
		return r;
	const void *k, *v;
	size_t kl, vl;
	uint8_t pk[32];
	/* Collected first: a put during the walk would move the cursor. */
	size_t n = 0, cap = 0;
	uint8_t(*all)[32] = NULL;
	for (r = store_cursor_seek(cur, NULL, 0, &k, &kl, &v, &vl); r == 0;
	     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl != 32)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			void *p = realloc(all, cap * sizeof *all);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			all = p;
		}
		memcpy(all[n++], k, 32);
	}
	store_cursor_close(cur);
	r = r == -ENOENT ? 0 : r;
	for (size_t i = 0; r == 0 && i < n; i++) {
		memcpy(pk, all[i], 32);
		uint8_t x[32];
		/* A stored key that is no point cannot connect: skip it. */
		if (keys_transport_public(pk, x) < 0)
			continue;
		r = store_put(txn, DB_TRANSPORT, x, 32, pk, 32, 0);
	}
	free(all);
	return r;
}

/* The fields EditElder may name (tanfang.proto). */
static const char *const edit_fields[] = {
    "name",       "area",      "address",  "location",   "birth_date",
    "categories", "risk_tier", "visitors", "neighbours", "phone",
};

static bool edit_field_known(const char *f)
{
	for (size_t i = 0; i < sizeof edit_fields / sizeof *edit_fields; i++)
		if (strcmp(f, edit_fields[i]) == 0)
			return true;
	return false;
}

int registry_edit_elder(struct store_txn *txn, const tf_elder *e, char **fields, size_t n_fields,
                        const struct registry_when *w, tf_elder **current, char *err, size_t errlen)
{
	if (current)
		*current = NULL;
	if (!n_fields)
		return ERR("elder %s: an edit names at least one field", e->id);
	for (size_t i = 0; i < n_fields; i++) {
		if (!edit_field_known(fields[i]))
			return ERR(
			    "elder %s: '%s' is not a field an edit can change (name, area, "
			    "address, location, birth_date, categories, risk_tier, visitors, "
			    "neighbours, phone)",
			    e->id, fields[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(fields[i], fields[j]) == 0)
				return ERR("elder %s: field %s named twice", e->id, fields[i]);
	}
	tf_elder *cur;
	int r = registry_get_elder(txn, e->id, &cur);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return r;
	/* The entry as the edit leaves it, checked like a registration. */
	tf_elder m = *cur;
	struct {
		const char *name;
		bool on;
	} f[sizeof edit_fields / sizeof *edit_fields];
	for (size_t i = 0; i < sizeof edit_fields / sizeof *edit_fields; i++) {
		f[i].name = edit_fields[i];
		f[i].on = false;
		for (size_t j = 0; j < n_fields; j++)
			f[i].on |= strcmp(fields[j], edit_fields[i]) == 0;
	}
	if (f[0].on)
		m.name = e->name;
	if (f[1].on)
		m.area = e->area;
	if (f[2].on)
		m.address = e->address;
	if (f[3].on)
		m.lat = e->lat, m.lon = e->lon, m.has_location = e->has_location;
	if (f[4].on)
		m.birth_date = e->birth_date;
	if (f[5].on)
		m.categories = e->categories, m.n_categories = e->n_categories;
	if (f[6].on)
		m.risk_tier = e->risk_tier;
	if (f[7].on)
		m.visitors = e->visitors, m.n_visitors = e->n_visitors;
	if (f[8].on)
		m.neighbours = e->neighbours, m.n_neighbours = e->n_neighbours;
	if (f[9].on)
		m.phone = e->phone;
	m.status = TANFANG__V1__ELDER_STATUS__ELDER_STATUS_UNSPECIFIED;
	m.registered_at = 0;
	r = elder_check(txn, &m, w, err, errlen);
	wire_free(WIRE_ELDER, cur);
	if (r < 0)
		return r;
	tf_elder copy = *e;
	copy.status = TANFANG__V1__ELDER_STATUS__ELDER_STATUS_UNSPECIFIED;
	copy.status_since = 0, copy.registered_at = 0;
	tf_elder_fact fact;
	wire_init(WIRE_ELDER_FACT, &fact);
	fact.kind = TANFANG__STORE__ELDER_FACT__KIND__KIND_EDIT;
	fact.elder = &copy;
	fact.fields = fields, fact.n_fields = n_fields;
	return add_fact(txn, e->id, &fact, w, current, err, errlen);
}

int registry_remove_elder(struct store_txn *txn, const char *id, int reason, const char *note,
                          const struct registry_when *w, tf_elder **current, char *err,
                          size_t errlen)
{
	if (current)
		*current = NULL;
	if (!text_ok(note, 1000))
		return ERR("elder %s: the note is too long (at most 1000 bytes)", id);
	tf_elder_fact f;
	wire_init(WIRE_ELDER_FACT, &f);
	f.note = (char *)note;
	struct registry_when at = *w;
	switch (reason) {
	case TANFANG__V1__REMOVE_ELDER__REASON__REASON_ENTERED_IN_ERROR:
	case TANFANG__V1__REMOVE_ELDER__REASON__REASON_RESTORE:
		/* For all time: the fact folds first, whatever its date. */
		f.kind = reason == TANFANG__V1__REMOVE_ELDER__REASON__REASON_RESTORE
		             ? TANFANG__STORE__ELDER_FACT__KIND__KIND_RESTORE
		             : TANFANG__STORE__ELDER_FACT__KIND__KIND_ERASE;
		at.at = 0;
		break;
	case TANFANG__V1__REMOVE_ELDER__REASON__REASON_DECEASED:
	case TANFANG__V1__REMOVE_ELDER__REASON__REASON_MOVED_AWAY:
		f.kind = TANFANG__STORE__ELDER_FACT__KIND__KIND_STATUS;
		f.status = reason == TANFANG__V1__REMOVE_ELDER__REASON__REASON_DECEASED
		               ? TANFANG__V1__ELDER_STATUS__ELDER_STATUS_DECEASED
		               : TANFANG__V1__ELDER_STATUS__ELDER_STATUS_MOVED_AWAY;
		break;
	default: return ERR("elder %s: a removal needs a reason", id);
	}
	return add_fact(txn, id, &f, &at, current, err, errlen);
}

/* The twin key of e: kind 'c' (ID card) or 'n' (area, name, birth date),
 * then e->id when with_id. Returns the length, or 0 when e has no such key
 * or it would not fit. */
static size_t twin_key(const tf_elder *e, char kind, bool with_id, uint8_t *key, size_t size)
{
	int n;
	if (kind == 'c') {
		if (!*e->id_card)
			return 0;
		n = snprintf((char *)key, size, "c%s%c%s", e->id_card, 0, with_id ? e->id : "");
	} else {
		if (!*e->birth_date || !*e->name)
			return 0;
		n = snprintf((char *)key, size, "n%s%c%s%c%s%c%s", e->area, 0, e->name, 0,
		             e->birth_date, 0, with_id ? e->id : "");
	}
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

#define TWIN_KEY_MAX 500 /* under LMDB's 511-byte key limit */

int registry_twin_index(struct store_txn *txn, const tf_elder *e, bool add)
{
	for (int i = 0; i < 2; i++) {
		uint8_t key[TWIN_KEY_MAX];
		size_t kl = twin_key(e, i ? 'n' : 'c', true, key, sizeof key);
		if (!kl)
			continue;
		int r = add ? store_put(txn, DB_ELDER_TWINS, key, kl, "", 0, 0)
		            : store_del(txn, DB_ELDER_TWINS, key, kl);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

static int twin_each(void *msg, void *ctx)
{
	const tf_elder *e = msg;
	int r = e->status == TANFANG__V1__ELDER_STATUS__ELDER_STATUS_REMOVED
	            ? 0
	            : registry_twin_index(ctx, msg, true);
	wire_free(WIRE_ELDER, msg);
	return r;
}

int registry_twin_index_all(struct store_txn *txn)
{
	return registry_foreach(txn, DB_ELDERS, twin_each, txn);
}

int registry_find_twin(struct store_txn *txn, const tf_elder *e, char *other, bool *by_card)
{
	for (int i = 0; i < 2; i++) {
		uint8_t prefix[TWIN_KEY_MAX];
		size_t pl = twin_key(e, i ? 'n' : 'c', false, prefix, sizeof prefix);
		if (!pl)
			continue;
		struct store_cursor *cur;
		int r = store_cursor_open(txn, DB_ELDER_TWINS, &cur);
		if (r < 0)
			return r;
		const void *k, *v;
		size_t kl, vl;
		int found = 0;
		for (r = store_cursor_seek(cur, prefix, pl, &k, &kl, &v, &vl); r == 0;
		     r = store_cursor_next(cur, &k, &kl, &v, &vl)) {
			if (kl < pl || memcmp(k, prefix, pl) != 0)
				break;
			size_t il = kl - pl;
			if (il == 0 || il > REGISTRY_ID_MAX)
				continue;
			if (il == strlen(e->id) && memcmp((const uint8_t *)k + pl, e->id, il) == 0)
				continue; /* the elder itself */
			memcpy(other, (const uint8_t *)k + pl, il);
			other[il] = '\0';
			*by_card = i == 0;
			found = 1;
			break;
		}
		store_cursor_close(cur);
		if (r < 0 && r != -ENOENT)
			return r;
		if (found)
			return 1;
	}
	return 0;
}
