/* End to end (issue 7, item 2 "Order does not matter"): the monthly report,
 * the overdue list and the alerts owed are a function of the set of accepted
 * facts and the clock, never of the order in which the facts arrived.
 *
 * One set of signed envelopes is made once, from a fixed seed: elder
 * registrations (one by one and in ImportElders batches, some with the
 * office's earlier registration date), moves between villages (a PutElder
 * with another area and a later effective_at), SetNeighbours and SetVisitors
 * changes, visits (door, phone, "1+2" neighbour checks, party members' visits,
 * some marked for follow-up), care events (falls, illness, hospital stays,
 * deaths, a move away, a wrong death withdrawn by a CorrectEvent), and a few
 * resends of visits (the same frame, and the same visit signed again). Every
 * registry change takes effect at an explicit effective_at spread over
 * Aug-Nov 2026; every record is dated by its own visited_at / occurred_at.
 *
 * The very same bytes go to a fresh daemon per order (identity, reverse,
 * seeded shuffles, and the seeds in TANFANG_ORDER_SEEDS), each with its
 * clock pinned by --now to 2026-12-02 12:00 Asia/Shanghai. As a field device
 * does, refused envelopes (an elder not registered yet, a visitor not yet in
 * scope, a correction before its event) are sent again in later rounds, in
 * the same order, until a round accepts nothing new. Then every envelope
 * must be accepted (OK or DUPLICATE) with the same number of OKs, and the
 * answers (reports for 2026-09..11, the overdue list at horizons 0 and 7
 * days, the alerts a dispatcher fetches, the elder register) must be the
 * same, byte for byte, as canonical JSON of the whole Reply (its ref, which
 * names the query's envelope, left out; alerts sorted and without their
 * random ids). The first difference is printed. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x
#define EV(x)   TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_##x
#define SEV(x)  TANFANG__V1__SEVERITY__SEVERITY_##x
#define ST(x)   TANFANG__V1__STATUS__STATUS_##x
#define OP(x)   TANFANG__V1__REQUEST__OP_##x

/* The daemons' clock: `TZ=Asia/Shanghai date -d '2026-12-02 12:00' +%s`. */
#define T_NOW   1796184000LL
#define T_NOW_S "1796184000"
#define HOUR    3600LL
#define DAY     86400LL
/* Month starts in Asia/Shanghai. */
#define AUG1 1785513600LL
#define SEP1 1788192000LL
#define OCT1 1790784000LL
#define NOV1 1793462400LL
#define DEC1 1796054400LL

#define DATA_SEED  20261202u
#define N_ELDERS   60
#define N_SINGLE   40 /* registered one by one; the rest in 4 imports of 5 */
#define MAX_ENVS   1200
#define MAX_ROUNDS 12
#define MAX_ORDERS 24

/* ---- a small seeded PRNG (xorshift64*) ---- */

struct rng {
	uint64_t s;
};

static void rng_seed(struct rng *r, uint64_t seed)
{
	/* splitmix64 of the seed, so small seeds give unrelated streams */
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	r->s = z ? z : 0x2545f4914f6cdd1dULL;
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static bool rng_chance(struct rng *r, unsigned percent)
{
	return rng_next(r) % 100 < percent;
}

/* ---- the fixed world: areas and people ---- */

struct area_def {
	const char *code, *name, *parent, *contact;
};
static const struct area_def areas[] = {
    {"152223", "扎赉特旗", "", "0482-6000000"},
    {"152223100", "音德尔镇", "152223", "0482-6100000"},
    {"152223200", "好力保镇", "152223", ""},
    {"152223100201", "团结村", "152223100", "13800000001"},
    {"152223100202", "胜利村", "152223100", ""},
    {"152223100203", "新发村", "152223100", "13800000003"},
    {"152223200201", "永丰村", "152223200", ""},
};
#define N_AREAS     (sizeof areas / sizeof areas[0])
#define N_VILLAGES  4
#define VILLAGE0    3 /* areas[VILLAGE0 + v] is village v */
#define TOWNSHIP100 1
#define TOWNSHIP200 2

enum {
	P_A2, /* the admin whose fixed key signs the shuffled registry changes */
	P_GW0,
	P_GW1,
	P_GW2,
	P_GW3,
	P_PM0,
	P_PM1,
	P_PM2,
	P_NB0,
	P_NB1,
	P_NB2,
	P_NB3,
	P_NB4,
	P_NB5,
	P_NB6,
	P_NB7,
	P_SUP,
	P_SUP100,
	P_SUP200,
	P_DISP,
	N_PEOPLE
};

struct person_def {
	const char *id, *name;
	int role;
	int area; /* index into areas, -1 for "" */
	const char *contact;
};
static const struct person_def people[N_PEOPLE] = {
    [P_A2] = {"a2", "民政局管理员", ROLE(ADMIN), -1, ""},
    [P_GW0] = {"gw0", "网格员甲", ROLE(GRID_WORKER), VILLAGE0 + 0, "13900000000"},
    [P_GW1] = {"gw1", "网格员乙", ROLE(GRID_WORKER), VILLAGE0 + 1, "13900000001"},
    [P_GW2] = {"gw2", "网格员丙", ROLE(GRID_WORKER), VILLAGE0 + 2, ""},
    [P_GW3] = {"gw3", "网格员丁", ROLE(GRID_WORKER), VILLAGE0 + 3, "13900000003"},
    [P_PM0] = {"pm0", "党员一", ROLE(PARTY_MEMBER), TOWNSHIP100, ""},
    [P_PM1] = {"pm1", "党员二", ROLE(PARTY_MEMBER), TOWNSHIP100, "13700000001"},
    [P_PM2] = {"pm2", "党员三", ROLE(PARTY_MEMBER), TOWNSHIP200, ""},
    [P_NB0] = {"nb0", "邻居一", ROLE(NEIGHBOUR), VILLAGE0 + 0, ""},
    [P_NB1] = {"nb1", "邻居二", ROLE(NEIGHBOUR), VILLAGE0 + 0, ""},
    [P_NB2] = {"nb2", "邻居三", ROLE(NEIGHBOUR), VILLAGE0 + 1, ""},
    [P_NB3] = {"nb3", "邻居四", ROLE(NEIGHBOUR), VILLAGE0 + 1, ""},
    [P_NB4] = {"nb4", "邻居五", ROLE(NEIGHBOUR), VILLAGE0 + 2, ""},
    [P_NB5] = {"nb5", "邻居六", ROLE(NEIGHBOUR), VILLAGE0 + 2, ""},
    [P_NB6] = {"nb6", "邻居七", ROLE(NEIGHBOUR), VILLAGE0 + 3, ""},
    [P_NB7] = {"nb7", "邻居八", ROLE(NEIGHBOUR), VILLAGE0 + 3, ""},
    [P_SUP] = {"sup", "旗民政局督导", ROLE(SUPERVISOR), 0, "0482-6000001"},
    [P_SUP100] = {"sup100", "音德尔镇督导", ROLE(SUPERVISOR), TOWNSHIP100, "0482-6100001"},
    [P_SUP200] = {"sup200", "好力保镇督导", ROLE(SUPERVISOR), TOWNSHIP200, ""},
    [P_DISP] = {"disp", "告警分发", ROLE(DISPATCHER), 0, ""},
};

/* Fixed keys, derived from the data seed: the same envelopes every run. */
static struct keypair keys[N_PEOPLE];

static void make_keys(void)
{
	for (int i = 0; i < N_PEOPLE; i++) {
		uint8_t seed[crypto_sign_SEEDBYTES];
		struct rng r;
		rng_seed(&r, DATA_SEED * 1000u + (unsigned)i);
		for (size_t k = 0; k < sizeof seed; k++)
			seed[k] = (uint8_t)rng_next(&r);
		CHECK(crypto_sign_seed_keypair(keys[i].pk, keys[i].sk, seed) == 0);
	}
}

static int grid_worker(int village)
{
	return P_GW0 + village;
}
static int neighbour(int village, int k)
{
	return P_NB0 + 2 * village + k;
}
static int party_member(int village, int elder)
{
	return village < 3 ? (elder % 2 ? P_PM1 : P_PM0) : P_PM2;
}

/* ---- the elders, as the data set has them (the model the records follow) ---- */

struct elder_def {
	char id[8], name[32], birth[11];
	int home, moved_to; /* village indices; moved_to -1 if no move */
	int64_t reg_at;     /* effective_at of the registration */
	int64_t registered; /* Elder.registered_at given by the office (0: none) */
	int64_t move_at, sn_at, sv_at;
	int init_nb;  /* neighbour households in the registration: 0, 1 or 2 */
	bool init_pm; /* a party member assigned in the registration */
	int cats[2];
	size_t n_cats;
	int64_t gone_at; /* deceased / moved away */
	int gone_type;
	int64_t hosp_at, disch_at;
};
static struct elder_def elders[N_ELDERS];

static int village_at(const struct elder_def *e, int64_t t)
{
	return e->moved_to >= 0 && t >= e->move_at ? e->moved_to : e->home;
}

/* Number of neighbour households at t (of village_at(t)). */
static int neighbours_at(const struct elder_def *e, int64_t t)
{
	if (e->moved_to >= 0 && t >= e->move_at)
		return 2;
	if (e->sn_at && t >= e->sn_at)
		return 2;
	return e->init_nb;
}

/* The assigned party member at t, or -1. */
static int pm_at(const struct elder_def *e, int64_t t)
{
	int i = (int)(e - elders);
	if (e->moved_to >= 0 && t >= e->move_at)
		return party_member(e->moved_to, i);
	if (e->init_pm || (e->sv_at && t >= e->sv_at))
		return party_member(e->home, i);
	return -1;
}

static bool present_at(const struct elder_def *e, int64_t t)
{
	return t >= e->reg_at + HOUR && (!e->gone_at || t < e->gone_at);
}

/* Two elders get no visit in the last 12 days but a last one that asks
 * for a follow-up, which nobody makes: a follow-up alert each. */
#define QUIET_FROM (T_NOW - 12 * DAY)
static bool quiet(int i)
{
	return i == 4 || i == 27;
}

/* May a visit be made to elder i at t? */
static bool visitable(const struct elder_def *e, int64_t t)
{
	return present_at(e, t) && !(quiet((int)(e - elders)) && t >= QUIET_FROM);
}

static bool in_hospital(const struct elder_def *e, int64_t t)
{
	return e->hosp_at && t >= e->hosp_at && (!e->disch_at || t < e->disch_at);
}

/* A time on the local (UTC+8) day of t, between 08:00 and 18:00. */
static int64_t daytime(struct rng *r, int64_t t)
{
	int64_t midnight = t - (t + 8 * HOUR) % DAY;
	return midnight + rng_range(r, 8 * HOUR, 18 * HOUR);
}

static void plan_elders(struct rng *r)
{
	static const int64_t batch_at[4] = {SEP1 + 3 * DAY + 9 * HOUR, SEP1 + 25 * DAY + 10 * HOUR,
	                                    OCT1 + 15 * DAY + 14 * HOUR,
	                                    NOV1 + 5 * DAY + 9 * HOUR + 1800};
	static const int cats[5][2] = {{CAT(LIVING_ALONE), 0},
	                               {CAT(EMPTY_NEST), 0},
	                               {CAT(EXTREME_POVERTY), CAT(LIVING_ALONE)},
	                               {CAT(LIVING_ALONE), CAT(INCAPACITATED)}, /* high tier */
	                               {CAT(LEFT_BEHIND), CAT(SEVERELY_DISABLED)}};
	for (int i = 0; i < N_ELDERS; i++) {
		struct elder_def *e = &elders[i];
		memset(e, 0, sizeof *e);
		snprintf(e->id, sizeof e->id, "e%02d", i);
		snprintf(e->name, sizeof e->name, "老人%02d", i);
		snprintf(e->birth, sizeof e->birth, "19%02d-0%d-1%d", 30 + i % 20, 1 + i % 9,
		         i % 10);
		e->home = i % N_VILLAGES;
		e->moved_to = -1;
		e->cats[0] = cats[i % 5][0];
		e->cats[1] = cats[i % 5][1];
		e->n_cats = cats[i % 5][1] ? 2 : 1;
		if (i < N_SINGLE) {
			e->reg_at = daytime(r, SEP1 - 10 * DAY + rng_range(r, 0, 70) * DAY);
			/* An office's own, earlier registration date. */
			if (i % 9 == 4)
				e->registered = e->reg_at - 15 * DAY;
		} else {
			e->reg_at = batch_at[(i - N_SINGLE) / 5];
			e->registered = e->reg_at - 20 * DAY;
		}
		e->init_nb = i % 4 == 0 ? 2 : i % 4 == 1 ? 1 : 0;
		e->init_pm = i % 3 == 0;
		/* Elders who will move get their lists sooner. */
		bool mover = i % 6 == 5;
		if (i % 4 == 1 || i % 4 == 2)
			e->sn_at = e->reg_at + rng_range(r, 3 * DAY, (mover ? 10 : 30) * DAY);
		if (!e->init_pm && i % 3 == 1)
			e->sv_at = e->reg_at + rng_range(r, 1 * DAY, (mover ? 10 : 20) * DAY);
		if (e->sn_at > T_NOW - 2 * DAY)
			e->sn_at = 0;
		if (e->sv_at > T_NOW - 2 * DAY)
			e->sv_at = 0;
		if (mover) {
			int64_t after = e->reg_at;
			if (e->sn_at > after)
				after = e->sn_at;
			if (e->sv_at > after)
				after = e->sv_at;
			int64_t at = after + rng_range(r, 7 * DAY, 20 * DAY);
			if (at < T_NOW - 3 * DAY) {
				e->move_at = at;
				e->moved_to = e->home == 3   ? 0
				              : i % 12 == 11 ? 3
				                             : (e->home + 1) % 3;
			}
		}
	}
	/* Deaths and a move away; one death after a move between villages. */
	static const struct {
		int elder, type;
	} gone[] = {{7, EV(DECEASED)},
	            {22, EV(DECEASED)},
	            {31, EV(MOVED_AWAY)},
	            {29, EV(DECEASED)},
	            {46, EV(DECEASED)}};
	for (size_t k = 0; k < sizeof gone / sizeof gone[0]; k++) {
		struct elder_def *e = &elders[gone[k].elder];
		int64_t at = e->moved_to >= 0 ? daytime(r, e->move_at + rng_range(r, 5, 20) * DAY)
		                              : daytime(r, e->reg_at + rng_range(r, 20, 60) * DAY);
		if (at < T_NOW - 2 * DAY) {
			e->gone_at = at;
			e->gone_type = gone[k].type;
		}
	}
	/* Hospital stays; two are not over at T. */
	static const int hosp[] = {3, 14, 26, 38, 44, 50};
	for (size_t k = 0; k < sizeof hosp / sizeof hosp[0]; k++) {
		struct elder_def *e = &elders[hosp[k]];
		int64_t at = daytime(r, e->reg_at + rng_range(r, 5, 40) * DAY);
		if (at >= T_NOW - 2 * DAY || e->gone_at)
			continue;
		e->hosp_at = at;
		if (hosp[k] != 38 && hosp[k] != 50) {
			int64_t out = daytime(r, at + rng_range(r, 3, 15) * DAY);
			if (out < T_NOW - DAY)
				e->disch_at = out;
		}
	}
}

/* ---- the envelopes ---- */

struct env {
	uint8_t *frame;
	size_t len;
	char what[80];
};
static struct env envs[MAX_ENVS];
static size_t n_envs;
static size_t n_resends; /* envelopes that repeat a visit already in the set */
static struct rng data_rng;

static struct env *new_env(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static struct env *new_env(const char *fmt, va_list ap)
{
	if (n_envs == MAX_ENVS)
		tft_fail(__FILE__, __LINE__, "more than %d envelopes", MAX_ENVS);
	struct env *e = &envs[n_envs++];
	vsnprintf(e->what, sizeof e->what, fmt, ap);
	return e;
}

/* Seals req with who's fixed key, sent_at_ms within 500 s of the pinned clock. */
static void add(int who, tf_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(int who, tf_request *req, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct env *e = new_env(fmt, ap);
	va_end(ap);
	req->sent_at_ms = T_NOW * 1000 + rng_range(&data_rng, -500000, 500000);
	uint8_t *body;
	size_t blen;
	CHECK_OK(wire_pack(WIRE_REQUEST, req, &body, &blen));
	CHECK_OK(envelope_seal(keys[who].sk, body, blen, &e->frame, &e->len));
	free(body);
}

/* The same frame again (a device resending after a lost reply). */
static void add_copy(size_t of)
{
	if (n_envs == MAX_ENVS)
		tft_fail(__FILE__, __LINE__, "more than %d envelopes", MAX_ENVS);
	struct env *e = &envs[n_envs++];
	e->frame = malloc(envs[of].len);
	CHECK(e->frame != NULL);
	memcpy(e->frame, envs[of].frame, envs[of].len);
	e->len = envs[of].len;
	snprintf(e->what, sizeof e->what, "resend of #%zu", of);
	n_resends++;
}

/* Fills el (wire_init'd by the caller) as the elder's registry entry: at
 * its registration (moved false) or after its move. Arrays are in *store. */
struct elder_arrays {
	Tanfang__V1__Category cats[2];
	char *visitors[1], *neighbours[2];
};

static void fill_elder(tf_elder *el, const struct elder_def *e, bool moved, bool with_registered,
                       struct elder_arrays *a)
{
	int i = (int)(e - elders);
	int v = moved ? e->moved_to : e->home;
	el->id = (char *)e->id;
	el->name = (char *)e->name;
	el->area = (char *)areas[VILLAGE0 + v].code;
	el->birth_date = (char *)e->birth;
	el->address = (char *)areas[VILLAGE0 + v].name;
	for (size_t k = 0; k < e->n_cats; k++)
		a->cats[k] = (Tanfang__V1__Category)e->cats[k];
	el->categories = a->cats;
	el->n_categories = e->n_cats;
	int nb = moved ? 2 : e->init_nb;
	for (int k = 0; k < nb; k++)
		a->neighbours[k] = (char *)people[neighbour(v, k)].id;
	el->neighbours = a->neighbours;
	el->n_neighbours = (size_t)nb;
	if (moved || e->init_pm) {
		a->visitors[0] = (char *)people[party_member(v, i)].id;
		el->visitors = a->visitors;
		el->n_visitors = 1;
	}
	if (with_registered)
		el->registered_at = e->registered;
}

static void gen_registry(void)
{
	/* Registrations: one by one, then four imports of five. */
	for (int i = 0; i < N_SINGLE; i++) {
		tf_elder el;
		wire_init(WIRE_ELDER, &el);
		struct elder_arrays a;
		fill_elder(&el, &elders[i], false, true, &a);
		Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
		pe.elder = &el;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(PUT_ELDER);
		req.put_elder = &pe;
		req.effective_at = elders[i].reg_at;
		add(P_A2, &req, "register %s", elders[i].id);
	}
	for (int b = 0; b < (N_ELDERS - N_SINGLE) / 5; b++) {
		tf_elder el[5], *ptrs[5];
		struct elder_arrays a[5];
		for (int k = 0; k < 5; k++) {
			wire_init(WIRE_ELDER, &el[k]);
			fill_elder(&el[k], &elders[N_SINGLE + 5 * b + k], false, true, &a[k]);
			ptrs[k] = &el[k];
		}
		Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
		im.elders = ptrs;
		im.n_elders = 5;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(IMPORT_ELDERS);
		req.import_elders = &im;
		req.effective_at = elders[N_SINGLE + 5 * b].reg_at;
		add(P_A2, &req, "import e%02d..e%02d", N_SINGLE + 5 * b, N_SINGLE + 5 * b + 4);
	}
	/* Assignments and "1+2" households after registration. */
	for (int i = 0; i < N_ELDERS; i++) {
		const struct elder_def *e = &elders[i];
		tf_request req;
		if (e->sv_at) {
			char *ids[1] = {(char *)people[party_member(e->home, i)].id};
			Tanfang__V1__SetVisitors sv = TANFANG__V1__SET_VISITORS__INIT;
			sv.elder_id = (char *)e->id;
			sv.visitors = ids;
			sv.n_visitors = 1;
			wire_init(WIRE_REQUEST, &req);
			req.op_case = OP(SET_VISITORS);
			req.set_visitors = &sv;
			req.effective_at = e->sv_at;
			add(P_A2, &req, "set_visitors %s", e->id);
		}
		if (e->sn_at) {
			char *ids[2] = {(char *)people[neighbour(e->home, 0)].id,
			                (char *)people[neighbour(e->home, 1)].id};
			Tanfang__V1__SetNeighbours sn = TANFANG__V1__SET_NEIGHBOURS__INIT;
			sn.elder_id = (char *)e->id;
			sn.neighbours = ids;
			sn.n_neighbours = 2;
			wire_init(WIRE_REQUEST, &req);
			req.op_case = OP(SET_NEIGHBOURS);
			req.set_neighbours = &sn;
			req.effective_at = e->sn_at;
			add(P_A2, &req, "set_neighbours %s", e->id);
		}
	}
	/* Moves: the whole entry again, in the new village, from move_at. */
	for (int i = 0; i < N_ELDERS; i++) {
		const struct elder_def *e = &elders[i];
		if (e->moved_to < 0)
			continue;
		tf_elder el;
		wire_init(WIRE_ELDER, &el);
		struct elder_arrays a;
		fill_elder(&el, e, true, false, &a);
		Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
		pe.elder = &el;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(PUT_ELDER);
		req.put_elder = &pe;
		req.effective_at = e->move_at;
		add(P_A2, &req, "move %s to %s", e->id, areas[VILLAGE0 + e->moved_to].code);
	}
}

static void make_id(uint8_t id[16])
{
	for (int k = 0; k < 16; k++)
		id[k] = (uint8_t)rng_next(&data_rng);
}

static unsigned n_visits_made;

/* A visit; some are resent (the same frame later, or signed again). */
static void gen_visit(int who, const struct elder_def *e, int kind, int64_t at, bool follow_up,
                      const char *note)
{
	uint8_t id[16];
	make_id(id);
	tf_visit v;
	tft_make_visit(&v, id, e->id, kind, at);
	v.follow_up = follow_up;
	v.note = (char *)note;
	v.duration_min = (uint32_t)rng_range(&data_rng, 5, 60);
	Tanfang__V1__Assessment living = TANFANG__V1__ASSESSMENT__INIT;
	if (kind == KIND(DOOR)) {
		living.finding = follow_up ? TANFANG__V1__FINDING__FINDING_CONCERN
		                           : TANFANG__V1__FINDING__FINDING_OK;
		v.basic_living = &living;
	}
	tf_request req;
	tft_visit_request(&req, &v);
	add(who, &req, "visit %s by %s at %lld", e->id, people[who].id, (long long)at);
	n_visits_made++;
	if (n_visits_made % 67 == 11) {
		add(who, &req, "visit %s by %s at %lld, signed again", e->id, people[who].id,
		    (long long)at);
		n_resends++;
	}
}

static void gen_event(const struct elder_def *e, int type, int sev, int64_t at, const char *note,
                      uint8_t id_out[16])
{
	uint8_t id[16];
	make_id(id);
	if (id_out)
		memcpy(id_out, id, 16);
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = id;
	ev.id.len = 16;
	ev.elder_id = (char *)e->id;
	ev.type = (Tanfang__V1__CareEventType)type;
	ev.severity = (Tanfang__V1__Severity)sev;
	ev.occurred_at = at;
	ev.note = (char *)note;
	tf_request req;
	tft_event_request(&req, &ev);
	/* The grid worker of the village at the time; for a death after a move,
	 * the township's party member (whose scope holds both villages). */
	int who = grid_worker(village_at(e, at));
	if (e->moved_to >= 0 && type == EV(DECEASED))
		who = pm_at(e, at);
	add(who, &req, "%s %s at %lld", wire_event_type_name(type), e->id, (long long)at);
}

/* The time of the next visit after t, or 0 past the end. */
static int64_t next_time(struct rng *r, int64_t t, int min_days, int max_days)
{
	int64_t n = daytime(r, t + rng_range(r, min_days, max_days) * DAY);
	return n < T_NOW - DAY ? n : 0;
}

static void gen_records(uint8_t wrong_death[16])
{
	struct rng *r = &data_rng;
	for (int i = 0; i < N_ELDERS; i++) {
		const struct elder_def *e = &elders[i];
		/* Door and phone visits by the grid worker of the elder's village
		 * at the time; a few elders are never visited by one. */
		if (i % 10 != 9) {
			for (int64_t t = next_time(r, e->reg_at, 1, 6); t;
			     t = next_time(r, t, 14, 28)) {
				if (!visitable(e, t))
					continue;
				bool fu = rng_chance(r, 8);
				gen_visit(grid_worker(village_at(e, t)), e,
				          rng_chance(r, 70) ? KIND(DOOR) : KIND(PHONE), t, fu,
				          fu ? "血压偏高，需跟进" : "一切正常");
			}
		}
		/* Party members: about once a month. */
		static const int64_t months[4] = {SEP1, OCT1, NOV1, DEC1};
		for (int m = 0; m < 3; m++) {
			int64_t t = daytime(r, months[m] + rng_range(r, 0, 29) * DAY);
			int pm = pm_at(e, t);
			if (pm < 0 || !visitable(e, t) || t >= months[m + 1] || t >= T_NOW - DAY ||
			    !rng_chance(r, 75))
				continue;
			gen_visit(pm, e, rng_chance(r, 60) ? KIND(PARTY_MEMBER) : KIND(DOOR), t,
			          false, "党员走访");
		}
		/* "1+2" checks by the households on the elder's list at the time:
		 * two elders' households check every week, the others now and then. */
		bool diligent = i == 0 || i == 32;
		for (int64_t t = next_time(r, e->reg_at, 1, 6); t;
		     t = next_time(r, t, diligent ? 5 : 6, diligent ? 6 : 8)) {
			int n = neighbours_at(e, t);
			for (int k = 0; k < n; k++) {
				if (!visitable(e, t) || in_hospital(e, t) ||
				    !rng_chance(r, diligent ? 100 : 12))
					continue;
				gen_visit(neighbour(village_at(e, t), k), e, KIND(NEIGHBOUR_CHECK),
				          t, false, "邻里看望");
			}
		}
		if (quiet(i)) {
			int64_t t = daytime(r, T_NOW - 10 * DAY);
			gen_visit(grid_worker(village_at(e, t)), e, KIND(DOOR), t, true,
			          "独居，情绪低落，需跟进");
		}
		/* Care events at their own times. */
		if (e->hosp_at) {
			gen_event(e, EV(HOSPITALISED), SEV(WARNING), e->hosp_at, "住院治疗", NULL);
			if (e->disch_at)
				gen_event(e, EV(DISCHARGED), SEV(INFO), e->disch_at, "出院回家",
				          NULL);
		}
		if (e->gone_at)
			gen_event(e, e->gone_type, SEV(INFO), e->gone_at,
			          e->gone_type == EV(DECEASED) ? "去世" : "随子女迁往外地", NULL);
		/* Falls: for elders who move, some before the move, some after;
		 * for one, after a party member was assigned. */
		if (i == 5 || i == 10 || i == 11 || i == 17 || i == 20 || i == 33 || i == 47) {
			int64_t lo = e->reg_at + DAY, hi = T_NOW - 2 * DAY;
			if (e->moved_to >= 0 && (i == 5 || i == 17))
				hi = e->move_at - DAY;
			else if (e->moved_to >= 0)
				lo = e->move_at + DAY;
			if (e->sv_at && e->moved_to < 0)
				lo = e->sv_at + DAY;
			if (hi > lo && present_at(e, lo))
				gen_event(e, EV(FALL), SEV(WARNING),
				          daytime(r, rng_range(r, lo, hi)), "在院子里摔倒", NULL);
		}
		if (i == 2)
			gen_event(e, EV(ILLNESS), SEV(INFO), daytime(r, e->reg_at + 12 * DAY),
			          "感冒", NULL);
		if (i == 9)
			gen_event(e, EV(SERVICE_DELIVERED), SEV(INFO),
			          daytime(r, e->reg_at + 9 * DAY), "送餐", NULL);
		if (i == 13)
			gen_event(e, EV(DECEASED), SEV(INFO), daytime(r, e->reg_at + 25 * DAY),
			          "误报去世", wrong_death);
	}
}

static void gen_all(void)
{
	rng_seed(&data_rng, DATA_SEED);
	plan_elders(&data_rng);
	gen_registry();
	uint8_t wrong_death[16];
	gen_records(wrong_death);
	/* Resends of a few visits, after everything else in the set's own order. */
	size_t n = n_envs;
	for (size_t k = 0; k < n; k += 97)
		if (strncmp(envs[k].what, "visit ", 6) == 0)
			add_copy(k);
	/* The wrong death withdrawn by the admin. */
	Tanfang__V1__CorrectEvent ce = TANFANG__V1__CORRECT_EVENT__INIT;
	ce.event_id.data = wrong_death;
	ce.event_id.len = 16;
	ce.note = "误报，老人健在";
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(CORRECT_EVENT);
	req.correct_event = &ce;
	add(P_A2, &req, "correct the wrong death of e13");
}

/* ---- canonical JSON of a Reply ---- */

static bool skip_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	/* ref names the query's envelope; an alert's id is random. */
	return (d == &tanfang__v1__reply__descriptor && strcmp(f->name, "ref") == 0) ||
	       (d == &tanfang__v1__alert__descriptor && strcmp(f->name, "id") == 0);
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return 8;
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
	default: return 4; /* 32-bit integers and enums */
	}
}

static json_t *msg_json(const ProtobufCMessage *m);

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return json_integer((json_int_t) * (const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT: return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return json_string(s ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char *hex = malloc(2 * b->len + 1);
		CHECK(hex != NULL);
		hex_encode(b->data, b->len, hex);
		json_t *j = json_string(hex);
		free(hex);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return sub ? msg_json(sub) : json_null();
	}
	default: return json_null();
	}
}

/* Every field of m in field-number order, by name. */
static json_t *msg_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	json_t *o = json_object();
	CHECK(o != NULL);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (skip_field(d, f))
			continue;
		json_t *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(const char *const *)(base + f->offset);
			v = json_array();
			for (size_t k = 0; k < n; k++)
				json_array_append_new(v,
				                      value_json(f, arr + k * elem_size(f->type)));
		} else {
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
				continue;
			v = value_json(f, base + f->offset);
		}
		CHECK(v != NULL);
		json_object_set_new(o, f->name, v);
	}
	return o;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical text of a reply; alerts (whose order follows random ids) sorted. */
static char *reply_text(const tf_reply *rep)
{
	json_t *j = msg_json(&rep->base);
	json_t *alerts = json_object_get(json_object_get(j, "alerts"), "alerts");
	if (alerts) {
		size_t n = json_array_size(alerts);
		char **s = calloc(n ? n : 1, sizeof *s);
		CHECK(s != NULL);
		for (size_t k = 0; k < n; k++) {
			s[k] = json_dumps(json_array_get(alerts, k), JSON_INDENT(1));
			CHECK(s[k] != NULL);
		}
		qsort(s, n, sizeof *s, cmp_str);
		json_array_clear(alerts);
		for (size_t k = 0; k < n; k++) {
			json_array_append_new(alerts, json_loads(s[k], 0, NULL));
			free(s[k]);
		}
		free(s);
	}
	char *text = json_dumps(j, JSON_INDENT(1));
	CHECK(text != NULL);
	json_decref(j);
	return text;
}

/* ---- one order on a fresh daemon ---- */

/* The answers compared, one canonical text each. */
enum {
	A_REPORT_09,
	A_REPORT_10,
	A_REPORT_11,
	A_OVERDUE_0,
	A_OVERDUE_7,
	A_ELDERS,
	A_ALERTS,
	N_ANSWERS
};
static const char *const answer_names[N_ANSWERS] = {
    "report 2026-09",          "report 2026-10",  "report 2026-11", "overdue, horizon 0",
    "overdue, horizon 7 days", "registry elders", "alerts pending",
};

/* What the first run saw, to check that the answers are not trivially equal. */
struct facts {
	uint32_t required, visited, party_required, party_done, nb_required, nb_set_up, nb_done;
	size_t overdue0, overdue7, elders, alerts;
	bool kinds[6]; /* overdue, escalation, urgent_event, follow_up, not_set_up, departure */
};

struct result {
	char *answers[N_ANSWERS];
	size_t ok, duplicate, refused;
	unsigned rounds;
	size_t refused_first_round;
};

static struct tft_daemon daemon_;
static unsigned problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("PROBLEM: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	problems++;
}

static void call_ok(struct rpc *r, tf_request *req, const char *what)
{
	char detail[256];
	int st = tft_call(r, req, detail);
	if (st != ST(OK))
		tft_fail(__FILE__, __LINE__, "%s: %s (%s)", what, wire_status_name(st), detail);
	tft_pass();
}

/* The part that is not shuffled: areas, visitors and their fixed keys,
 * signed by this daemon's own admin key, all in effect from 1 August. */
static void bootstrap(struct tft_daemon *d)
{
	struct rpc *admin;
	tft_admin_rpc(d, &admin);
	for (size_t i = 0; i < N_AREAS; i++) {
		tf_area a;
		wire_init(WIRE_AREA, &a);
		a.code = (char *)areas[i].code;
		a.name = (char *)areas[i].name;
		a.parent = (char *)areas[i].parent;
		a.contact = (char *)areas[i].contact;
		Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
		pa.area = &a;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(PUT_AREA);
		req.put_area = &pa;
		req.effective_at = AUG1;
		call_ok(admin, &req, "put area");
	}
	for (int i = 0; i < N_PEOPLE; i++) {
		tf_visitor v;
		wire_init(WIRE_VISITOR, &v);
		v.id = (char *)people[i].id;
		v.name = (char *)people[i].name;
		v.role = (Tanfang__V1__Role)people[i].role;
		v.area = (char *)(people[i].area < 0 ? "" : areas[people[i].area].code);
		v.contact = (char *)people[i].contact;
		Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
		pv.visitor = &v;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(PUT_VISITOR);
		req.put_visitor = &pv;
		req.effective_at = AUG1;
		call_ok(admin, &req, "put visitor");
		tft_enrol(admin, keys[i].pk, people[i].id);
	}
	rpc_close(admin);
}

static bool accepted(int st)
{
	return st == ST(OK) || st == ST(DUPLICATE);
}

/* Sends every envelope in the order perm, again and again (in the same
 * order) for those refused, until all are in or a round accepts nothing
 * new. Envelopes still refused then are problems. */
static void ingest(struct tft_daemon *d, const char *label, const size_t *perm, struct result *res)
{
	struct rpc *r;
	tft_admin_rpc(d, &r);
	int *last = calloc(n_envs, sizeof *last);
	char(*detail)[160] = calloc(n_envs, sizeof *detail);
	CHECK(last != NULL && detail != NULL);
	size_t left = n_envs;
	for (unsigned round = 1; round <= MAX_ROUNDS && left; round++) {
		size_t in = 0, sent = 0;
		for (size_t k = 0; k < n_envs; k++) {
			size_t i = perm[k];
			if (accepted(last[i]))
				continue;
			tf_reply *rep;
			CHECK_OK(rpc_call_sealed(r, envs[i].frame, envs[i].len, 10000, &rep));
			last[i] = rep->status;
			snprintf(detail[i], sizeof detail[i], "%s", rep->detail ? rep->detail : "");
			wire_free(WIRE_REPLY, rep);
			sent++;
			in += accepted(last[i]);
		}
		res->rounds = round;
		if (round == 1)
			res->refused_first_round = sent - in;
		left -= in;
		if (!in)
			break;
	}
	rpc_close(r);
	for (size_t i = 0; i < n_envs; i++) {
		res->ok += last[i] == ST(OK);
		res->duplicate += last[i] == ST(DUPLICATE);
		if (!accepted(last[i]) && res->refused++ < 10)
			problem(
			    "order %s: envelope #%zu (%s) still refused after %u rounds: %s (%s)",
			    label, i, envs[i].what, res->rounds, wire_status_name(last[i]),
			    detail[i]);
	}
	if (res->refused > 10)
		problem("order %s: %zu envelopes still refused in all", label, res->refused);
	free(last);
	free(detail);
}

static tf_reply *query(struct rpc *r, tf_request *req)
{
	tf_reply *rep;
	CHECK_OK(rpc_call(r, req, 10000, &rep));
	if (rep->status != ST(OK))
		tft_fail(__FILE__, __LINE__, "query: %s (%s)", wire_status_name(rep->status),
		         rep->detail);
	tft_pass();
	return rep;
}

/* Asks every question; the supervisor of the banner reads, the dispatcher
 * fetches the alerts (the fetch sweeps for them first). */
static void ask(struct tft_daemon *d, struct result *res, struct facts *f)
{
	struct rpc *sup, *disp;
	tft_rpc(d, &keys[P_SUP], &sup);
	tft_rpc(d, &keys[P_DISP], &disp);
	static const char *const months[] = {"2026-09", "2026-10", "2026-11"};
	for (size_t m = 0; m < 3; m++) {
		Tanfang__V1__ReportQuery rq = TANFANG__V1__REPORT_QUERY__INIT;
		rq.area = "";
		rq.month = (char *)months[m];
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(REPORT);
		req.report = &rq;
		tf_reply *rep = query(sup, &req);
		CHECK(rep->result_case == TANFANG__V1__REPLY__RESULT_REPORT);
		CHECK_EQ_INT(rep->report->n_rows, N_AREAS);
		const Tanfang__V1__ReportRow *top = rep->report->rows[0];
		CHECK_STREQ(top->area, areas[0].code);
		f->required += top->required, f->visited += top->visited;
		f->party_required += top->party_required, f->party_done += top->party_done;
		f->nb_required += top->neighbour_required, f->nb_set_up += top->neighbour_set_up;
		f->nb_done += top->neighbour_done;
		res->answers[A_REPORT_09 + m] = reply_text(rep);
		wire_free(WIRE_REPLY, rep);
	}
	for (int h = 0; h < 2; h++) {
		Tanfang__V1__OverdueQuery oq = TANFANG__V1__OVERDUE_QUERY__INIT;
		oq.area = "";
		oq.limit = 1000;
		oq.horizon_s = h ? 7 * DAY : 0;
		tf_request req;
		wire_init(WIRE_REQUEST, &req);
		req.op_case = OP(OVERDUE);
		req.overdue = &oq;
		tf_reply *rep = query(sup, &req);
		CHECK(rep->result_case == TANFANG__V1__REPLY__RESULT_OVERDUE);
		CHECK_EQ_INT(rep->overdue->total, rep->overdue->n_items); /* nothing cut off */
		*(h ? &f->overdue7 : &f->overdue0) = rep->overdue->n_items;
		res->answers[h ? A_OVERDUE_7 : A_OVERDUE_0] = reply_text(rep);
		wire_free(WIRE_REPLY, rep);
	}
	Tanfang__V1__GetRegistry g = TANFANG__V1__GET_REGISTRY__INIT;
	g.what = TANFANG__V1__GET_REGISTRY__WHAT__WHAT_ELDERS;
	g.area = "";
	g.limit = 5000;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(GET_REGISTRY);
	req.get_registry = &g;
	tf_reply *rep = query(sup, &req);
	CHECK(rep->result_case == TANFANG__V1__REPLY__RESULT_REGISTRY);
	f->elders = rep->registry->n_elders;
	res->answers[A_ELDERS] = reply_text(rep);
	wire_free(WIRE_REPLY, rep);

	Tanfang__V1__AlertsPending ap = TANFANG__V1__ALERTS_PENDING__INIT;
	ap.limit = 1000;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ALERTS_PENDING);
	req.alerts_pending = &ap;
	rep = query(disp, &req);
	CHECK(rep->result_case == TANFANG__V1__REPLY__RESULT_ALERTS);
	f->alerts = rep->alerts->n_alerts;
	CHECK(f->alerts < 1000); /* all of them in one fetch */
	static const char *const kinds[6] = {"overdue",   "escalation", "urgent_event",
	                                     "follow_up", "not_set_up", "departure"};
	for (size_t k = 0; k < rep->alerts->n_alerts; k++)
		for (size_t j = 0; j < 6; j++)
			if (strcmp(rep->alerts->alerts[k]->kind, kinds[j]) == 0)
				f->kinds[j] = true;
	res->answers[A_ALERTS] = reply_text(rep);
	wire_free(WIRE_REPLY, rep);
	rpc_close(sup);
	rpc_close(disp);
}

static void run_order(const char *label, const size_t *perm, struct result *res, struct facts *f)
{
	struct tft_daemon *d = &daemon_;
	int64_t t0 = clock_mono_ms();
	tft_daemon_init(d);
	const char *const extra[] = {"--now", T_NOW_S, NULL};
	tft_daemon_start(d, extra);
	bootstrap(d);
	ingest(d, label, perm, res);
	ask(d, res, f);
	CHECK_EQ_INT(tft_daemon_stop(d), 0);
	fprintf(stderr,
	        "order %-18s %u round(s), %3zu refused in the first, %zu OK, %zu duplicate, "
	        "%.1f s\n",
	        label, res->rounds, res->refused_first_round, res->ok, res->duplicate,
	        (double)(clock_mono_ms() - t0) / 1000);
}

/* Prints the first difference between two texts of one answer, with the
 * lines around it. */
static void print_difference(const char *what, const char *a, const char *b, const char *name_a,
                             const char *name_b)
{
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	size_t line = i;
	while (line > 0 && a[line - 1] != '\n')
		line--;
	size_t from = line;
	for (int n = 0; n < 4 && from > 0; n++) {
		from--;
		while (from > 0 && a[from - 1] != '\n')
			from--;
	}
	fprintf(stderr, "%s: first difference at byte %zu\n", what, i);
	const char *sides[2] = {a, b}, *names[2] = {name_a, name_b};
	for (int s = 0; s < 2; s++) {
		fprintf(stderr, "  ---- after %s ----\n", names[s]);
		const char *p = sides[s] + from;
		for (int n = 0; n < 12 && *p; n++) {
			int l = (int)strcspn(p, "\n");
			bool here = p <= sides[s] + i && sides[s] + i <= p + l;
			fprintf(stderr, "  %s%.*s\n", here ? "> " : "  ", l, p);
			p += l + (p[l] == '\n');
		}
	}
}

struct order {
	char label[40];
	bool shuffle, reverse;
	uint64_t seed;
};

static void result_free(struct result *r)
{
	for (size_t a = 0; a < N_ANSWERS; a++)
		free(r->answers[a]);
}

int main(void)
{
	/* The test process signs queries; its clock is the daemons'. */
	clock_set_fixed(T_NOW);
	CHECK(sodium_init() >= 0);
	make_keys();
	gen_all();
	fprintf(stderr, "%zu envelopes, %zu of them resends of a visit\n", n_envs, n_resends);

	struct order orders[MAX_ORDERS];
	size_t n_orders = 0;
	orders[n_orders++] = (struct order){"identity", false, false, 0};
	orders[n_orders++] = (struct order){"reverse", false, true, 0};
	static const uint64_t fixed_seeds[] = {1, 2, 3};
	for (size_t k = 0; k < sizeof fixed_seeds / sizeof fixed_seeds[0]; k++) {
		struct order *o = &orders[n_orders++];
		*o = (struct order){"", true, false, fixed_seeds[k]};
		snprintf(o->label, sizeof o->label, "seed %" PRIu64, fixed_seeds[k]);
	}
	/* More orders: TANFANG_ORDER_SEEDS="4 5 0x1234" (spaces or commas). */
	const char *more = getenv("TANFANG_ORDER_SEEDS");
	for (const char *p = more ? more + strspn(more, ", \t") : NULL; p && *p;) {
		char *end;
		errno = 0;
		unsigned long long s = strtoull(p, &end, 0);
		if (end == p || errno)
			tft_fail(__FILE__, __LINE__, "TANFANG_ORDER_SEEDS: not a number at '%s'",
			         p);
		if (n_orders == MAX_ORDERS)
			tft_fail(__FILE__, __LINE__,
			         "TANFANG_ORDER_SEEDS: at most %d orders in all", MAX_ORDERS);
		struct order *o = &orders[n_orders++];
		*o = (struct order){"", true, false, s};
		snprintf(o->label, sizeof o->label, "seed %llu", s);
		p = end + strspn(end, ", \t");
	}

	size_t *perm = calloc(n_envs, sizeof *perm);
	CHECK(perm != NULL);
	struct result first = {0};
	struct facts f = {0};
	for (size_t o = 0; o < n_orders; o++) {
		for (size_t k = 0; k < n_envs; k++)
			perm[k] = orders[o].reverse ? n_envs - 1 - k : k;
		if (orders[o].shuffle) {
			struct rng r;
			rng_seed(&r, orders[o].seed);
			for (size_t k = n_envs - 1; k > 0; k--) {
				size_t j = (size_t)(rng_next(&r) % (k + 1));
				size_t tmp = perm[k];
				perm[k] = perm[j], perm[j] = tmp;
			}
		}
		struct result res = {0};
		struct facts fo = {0};
		run_order(orders[o].label, perm, &res, o ? &fo : &f);
		/* Every new fact is stored once, every resend is a duplicate. */
		if (res.duplicate != n_resends || res.ok + res.duplicate != n_envs)
			problem("order %s: %zu OK and %zu duplicates, expected %zu and %zu",
			        orders[o].label, res.ok, res.duplicate, n_envs - n_resends,
			        n_resends);
		if (o == 0) {
			/* The set is consistent: in its own order nothing waits. */
			if (res.refused_first_round)
				problem("order %s: %zu refused in the first round, expected none",
				        orders[o].label, res.refused_first_round);
			first = res;
			continue;
		}
		/* Records before the registry: the resending is exercised. */
		if (orders[o].reverse && !(res.rounds > 1 && res.refused_first_round > 0))
			problem("order %s: nothing was refused in the first round",
			        orders[o].label);
		for (size_t a = 0; a < N_ANSWERS; a++) {
			if (strcmp(first.answers[a], res.answers[a]) == 0) {
				tft_pass();
				continue;
			}
			problem("order %s: the %s differs from order %s's", orders[o].label,
			        answer_names[a], orders[0].label);
			print_difference(answer_names[a], first.answers[a], res.answers[a],
			                 orders[0].label, orders[o].label);
		}
		result_free(&res);
	}

	/* The answers compared are not trivially equal: the data reaches every
	 * column of the report and every kind of alert. */
	CHECK(f.required > 0 && f.visited > 0 && f.visited < f.required);
	CHECK(f.party_required > 0 && f.party_done > 0 && f.party_done < f.party_required);
	CHECK(f.nb_required > 0 && f.nb_set_up > 0 && f.nb_set_up < f.nb_required);
	CHECK(f.nb_done > 0 && f.nb_done < f.nb_set_up);
	CHECK(f.overdue0 > 0 && f.overdue7 > f.overdue0);
	CHECK_EQ_INT(f.elders, N_ELDERS);
	for (size_t k = 0; k < 6; k++)
		CHECK(f.kinds[k]);
	if (problems)
		tft_fail(__FILE__, __LINE__, "%u problem(s) over %zu orders (see PROBLEM above)",
		         problems, n_orders);
	tft_pass();

	result_free(&first);
	free(perm);
	for (size_t i = 0; i < n_envs; i++)
		free(envs[i].frame);
	return tft_done();
}
