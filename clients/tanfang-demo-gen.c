/* tanfang-demo-gen: fills a running tanfangd with demo data shaped on the
 * seed document (Zalaite Banner 扎赉特旗, 2023 work plan: 4,890 elders living
 * alone, in extreme poverty or incapacitated).
 *
 * It registers, as admin, the banner, its townships and sumu, villages and
 * gaqa, a grid worker per village, party members (one per few elders),
 * two "1+2" neighbour households per elder (a few elders get one or none),
 * supervisors, and the elders; then it sends about five weeks of visits,
 * each signed with the visiting visitor's own key, as the field would have:
 * the previous calendar month and the current one up to now.
 *
 * Everything but the keys follows from --seed, so a run can be repeated and
 * the expected report figures it prints (--expect) checked against the
 * daemon's. Requests are pipelined (many in flight on one connection, matched
 * by the reply's ref), so 4,890 elders take seconds, not minutes.
 *
 * Exit codes: 0 done, 1 something was refused or the daemon did not answer,
 * 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cliopt.h"
#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "period.h"
#include "rpc.h"
#include "tf_err.h"
#include "wire.h"

#define PROG               "tanfang-demo-gen"
#define DEFAULT_ENDPOINT   "tcp://127.0.0.1:7480"
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_ELDERS     4890 /* the seed: 独居、特困、失能老人4890人 */
#define DEFAULT_SEED       2023
#define BANNER_CODE        "152223"
#define BANNER_NAME        "扎赉特旗"
#define WINDOW             256 /* requests in flight; below ZeroMQ's default HWM of 1000 */
#define IMPORT_CHUNK       500
#define MAX_MESSAGE        (1u << 20)

#define STATUS(x)   TANFANG__V1__STATUS__STATUS_##x
#define ROLE(x)     TANFANG__V1__ROLE__ROLE_##x
#define CAT(x)      TANFANG__V1__CATEGORY__CATEGORY_##x
#define KIND(x)     TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define FINDING(x)  TANFANG__V1__FINDING__FINDING_##x
#define AID(x)      TANFANG__V1__AID__AID_##x
#define OP(x)       TANFANG__V1__REQUEST__OP_##x
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness (splitmix64): same seed, same data ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static unsigned rng_below(uint64_t *s, unsigned n)
{
	return n ? (unsigned)(rng_next(s) % n) : 0;
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static bool rng_chance(uint64_t *s, double p)
{
	return rng_unit(s) < p;
}

/* ---- the banner's geography ---- */

struct township_def {
	const char *code, *name;
	double lat, lon; /* approximate seat */
	double weight;   /* share of elders */
	bool sumu;       /* a sumu's villages are gaqa (嘎查) */
};

/* Township-level divisions of Zalaite Banner named in the brief; the codes
 * follow the 152223xxx pattern (1xx towns, 2xx xiang and sumu). */
static const struct township_def townships[] = {
    {"152223100", "音德尔镇", 46.723, 122.909, 1.7, false},
    {"152223101", "新林镇", 46.957, 122.452, 1.0, false},
    {"152223102", "巴彦高勒镇", 47.196, 122.061, 1.0, false},
    {"152223103", "胡尔勒镇", 46.553, 123.047, 1.0, false},
    {"152223104", "好力保镇", 46.447, 123.262, 1.1, false},
    {"152223105", "巴达尔胡镇", 47.052, 122.704, 0.9, false},
    {"152223106", "图牧吉镇", 46.348, 123.451, 1.0, false},
    {"152223107", "阿尔本格勒镇", 46.901, 121.903, 0.8, false},
    {"152223200", "努文木仁乡", 47.402, 121.705, 0.7, false},
    {"152223201", "巴彦扎拉嘎乡", 46.618, 122.451, 0.8, false},
    {"152223202", "宝力根花苏木", 46.803, 123.201, 0.6, true},
    {"152223203", "阿拉达尔吐苏木", 47.104, 121.502, 0.6, true},
};
#define N_TOWNSHIPS COUNT_OF(townships)

static const char *const village_stems[] = {
    "东升", "永安", "前进", "胜利", "新发", "太平", "民主", "团结", "红星", "富裕",
    "兴隆", "双合", "长发", "永丰", "新立", "三合", "和平", "德胜", "向阳", "联合",
    "保安", "永兴", "宏伟", "光明", "庆丰", "福兴", "新华", "平安", "育林", "丰收",
};
static const char *const gaqa_stems[] = {
    "巴彦", "乌兰",   "查干",   "哈拉",     "宝格达", "额尔敦",   "塔拉",
    "伊和", "阿拉坦", "呼和",   "巴嘎",     "陶来",   "吉日嘎朗", "好日彦",
    "那仁", "哈达",   "格日勒", "呼格吉勒", "白音",   "芒哈",
};

/* ---- names ---- */

static const char *const surnames[] = {
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱",
    "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯",
    "邓", "曹", "彭", "曾", "田", "董", "潘", "于", "蒋", "杜", "程", "苏", "魏", "吕",
    "丁", "任", "姚", "卢", "姜", "崔", "谭", "范", "金", "石", "贾", "付", "方", "白",
    "孟", "秦", "尹", "薛", "闫", "段", "侯", "史", "郝", "武", "孔", "邢", "刁", "关"};
static const char *const old_women[] = {
    "桂兰", "秀英", "淑珍", "玉兰", "凤英", "秀兰", "桂芝", "玉珍", "淑兰", "秀珍",
    "桂英", "玉芬", "凤兰", "桂珍", "秀芳", "淑芬", "玉梅", "凤芝", "秀云", "桂荣",
    "素珍", "淑华", "玉华", "兰英", "翠兰", "春兰", "金凤", "丽华", "凤琴", "玉琴"};
static const char *const old_men[] = {
    "建国", "国华", "德才", "志刚", "福林", "长青", "振海", "宝山", "玉林", "树林",
    "文斌", "永清", "占山", "洪亮", "德福", "凤山", "宝林", "庆祥", "万福", "学文",
    "国庆", "春生", "永胜", "振华", "德明", "玉山", "长林", "桂林", "有才", "金山"};
static const char *const young_names[] = {
    "丽娜", "春梅", "红霞", "海燕", "晓丽", "丽娟", "雪梅", "艳华", "静",   "敏",   "秀梅",
    "海涛", "晓东", "志强", "建军", "海军", "立新", "宏伟", "志军", "春雷", "晓峰", "伟",
    "磊",   "鹏",   "勇",   "刚",   "明",   "文静", "俊峰", "玉龙", "宝华", "彩霞"};
/* Mongolian given names, often written without a surname or after 包, 白 or 韩. */
static const char *const mongol_surnames[] = {"包", "白", "韩", "吴", "何", "陈"};
static const char *const mongol_women[] = {"其其格", "乌云", "萨仁",   "斯琴", "图雅",
                                           "高娃",   "娜仁", "格日乐", "塔娜", "托娅"};
static const char *const mongol_men[] = {"巴特尔", "朝鲁",   "额尔敦",   "宝音",   "那仁",
                                         "苏和",   "巴雅尔", "吉日嘎拉", "阿拉坦", "孟和"};

#define PICK(s, a) ((a)[rng_below((s), COUNT_OF(a))])

static void make_name(uint64_t *s, bool old, char *buf, size_t size)
{
	bool woman = rng_chance(s, old ? 0.56 : 0.5);
	if (rng_chance(s, 0.22)) {
		const char *given = woman ? PICK(s, mongol_women) : PICK(s, mongol_men);
		if (rng_chance(s, 0.4))
			snprintf(buf, size, "%s", given);
		else
			snprintf(buf, size, "%s%s", PICK(s, mongol_surnames), given);
		return;
	}
	const char *given = !old    ? PICK(s, young_names)
	                    : woman ? PICK(s, old_women)
	                            : PICK(s, old_men);
	snprintf(buf, size, "%s%s", PICK(s, surnames), given);
}

/* ---- the generated model ---- */

#define ID_LEN   40
#define NAME_LEN 48

struct area {
	char code[16], name[NAME_LEN], parent[16];
	double lat, lon;
	int township; /* index into townships[], -1 for the banner */
	unsigned elders;
};

struct visitor {
	char id[ID_LEN], name[NAME_LEN];
	int role;
	int area; /* index into areas */
	struct keypair key;
	double reliability; /* chance of doing each due visit */
	bool keyed;
};

struct elder {
	char id[ID_LEN], name[NAME_LEN], address[128], birth[16];
	int area;
	double lat, lon;
	uint32_t cats; /* bit per Category */
	bool high;     /* living alone and incapacitated or severely disabled */
	int grid, party;
	int nb[2];
	int n_nb;
};

struct model {
	struct area *areas;
	size_t n_areas;
	struct visitor *visitors;
	size_t n_visitors, cap_visitors;
	struct elder *elders;
	size_t n_elders;
	size_t n_grid, n_party, n_neighbours, n_supervisors, n_high, n_not_set_up;
	/* When the elders entered the register: the start of the first month of
	 * visits (or now, if that is later), as an office moving its existing
	 * list in would say, so that month's report counts them. */
	int64_t registered_at;
};

static int add_visitor(struct model *m, const char *id, const char *name, int role, int area,
                       double reliability)
{
	if (m->n_visitors == m->cap_visitors) {
		size_t cap = m->cap_visitors ? 2 * m->cap_visitors : 1024;
		struct visitor *v = realloc(m->visitors, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		m->visitors = v, m->cap_visitors = cap;
	}
	struct visitor *v = &m->visitors[m->n_visitors];
	memset(v, 0, sizeof *v);
	snprintf(v->id, sizeof v->id, "%s", id);
	snprintf(v->name, sizeof v->name, "%s", name);
	v->role = role;
	v->area = area;
	v->reliability = reliability;
	return (int)m->n_visitors++;
}

static void model_free(struct model *m)
{
	free(m->areas);
	free(m->visitors);
	free(m->elders);
}

/* Builds areas, visitors and elders from the seed. Same inputs, same model,
 * whichever phase runs. Returns 0 or -ENOMEM. */
static int model_build(struct model *m, uint64_t seed, unsigned n_elders, unsigned vpt, int64_t now)
{
	uint64_t s = seed ^ 0x5a4c54ull; /* "ZLT" */
	memset(m, 0, sizeof *m);
	m->n_areas = 1 + N_TOWNSHIPS * (1 + vpt);
	m->areas = calloc(m->n_areas, sizeof *m->areas);
	m->elders = calloc(n_elders ? n_elders : 1, sizeof *m->elders);
	double *weight = calloc(m->n_areas, sizeof *weight);
	int *village_of = NULL, *party_of_village = NULL, *grid_of_village = NULL;
	unsigned *pm_next = NULL;
	int r = -ENOMEM;
	if (!m->areas || !m->elders || !weight)
		goto out;
	size_t na = 0;
	struct area *banner = &m->areas[na++];
	snprintf(banner->code, sizeof banner->code, "%s", BANNER_CODE);
	snprintf(banner->name, sizeof banner->name, "%s", BANNER_NAME);
	banner->lat = 46.723, banner->lon = 122.909, banner->township = -1;
	for (size_t t = 0; t < N_TOWNSHIPS; t++) {
		const struct township_def *td = &townships[t];
		struct area *ta = &m->areas[na++];
		snprintf(ta->code, sizeof ta->code, "%s", td->code);
		snprintf(ta->name, sizeof ta->name, "%s", td->name);
		snprintf(ta->parent, sizeof ta->parent, "%s", BANNER_CODE);
		ta->lat = td->lat, ta->lon = td->lon, ta->township = (int)t;
		/* Distinct stems within a township: a partial shuffle. */
		unsigned order[COUNT_OF(village_stems)];
		for (unsigned i = 0; i < COUNT_OF(order); i++)
			order[i] = i;
		for (unsigned i = 0; i < vpt; i++) {
			unsigned j = i + rng_below(&s, (unsigned)COUNT_OF(order) - i);
			unsigned tmp = order[i];
			order[i] = order[j], order[j] = tmp;
			struct area *va = &m->areas[na];
			snprintf(va->code, sizeof va->code, "%s%03u", td->code, 201 + i);
			bool gaqa = td->sumu || rng_chance(&s, 0.25);
			const char *stem = gaqa ? gaqa_stems[order[i] % COUNT_OF(gaqa_stems)]
			                        : village_stems[order[i]];
			snprintf(va->name, sizeof va->name, "%s%s", stem, gaqa ? "嘎查" : "村");
			snprintf(va->parent, sizeof va->parent, "%s", td->code);
			va->lat = td->lat + (rng_unit(&s) - 0.5) * 0.24;
			va->lon = td->lon + (rng_unit(&s) - 0.5) * 0.32;
			va->township = (int)t;
			weight[na] = td->weight * (0.6 + 0.8 * rng_unit(&s));
			na++;
		}
	}
	/* Village of each elder, by weight. */
	double total = 0;
	for (size_t i = 0; i < na; i++)
		total += weight[i];
	village_of = calloc(n_elders ? n_elders : 1, sizeof *village_of);
	if (!village_of)
		goto out;
	for (unsigned e = 0; e < n_elders; e++) {
		double x = rng_unit(&s) * total;
		size_t v = 0;
		for (v = 0; v + 1 < na; v++) {
			if (weight[v] > 0 && x < weight[v])
				break;
			x -= weight[v];
		}
		while (weight[v] == 0)
			v--; /* rounding at the end: the last village */
		village_of[e] = (int)v;
		m->areas[v].elders++;
	}
	/* Supervisors: the banner's civil-affairs office and one per township. */
	char id[ID_LEN], name[NAME_LEN];
	for (size_t i = 0; i < na; i++) {
		if (strlen(m->areas[i].code) > 9)
			continue;
		snprintf(id, sizeof id, "S%s", m->areas[i].code);
		make_name(&s, false, name, sizeof name);
		if (add_visitor(m, id, name, ROLE(SUPERVISOR), (int)i, 1) < 0)
			goto out;
		m->n_supervisors++;
	}
	/* A grid worker per village; party members, one per four elders. */
	party_of_village = calloc(na, sizeof *party_of_village);
	grid_of_village = calloc(na, sizeof *grid_of_village);
	if (!party_of_village || !grid_of_village)
		goto out;
	for (size_t i = 0; i < na; i++) {
		if (strlen(m->areas[i].code) != 12)
			continue;
		snprintf(id, sizeof id, "G%s", m->areas[i].code);
		make_name(&s, false, name, sizeof name);
		grid_of_village[i] = add_visitor(m, id, name, ROLE(GRID_WORKER), (int)i, 1);
		party_of_village[i] = (int)m->n_visitors;
		unsigned n_pm = (m->areas[i].elders + 3) / 4;
		for (unsigned k = 0; k < n_pm; k++) {
			snprintf(id, sizeof id, "P%s-%02u", m->areas[i].code, (k + 1) % 1000);
			make_name(&s, false, name, sizeof name);
			/* Most party members keep to the monthly visit; a few slip. */
			double rel = rng_chance(&s, 0.85) ? 0.97 : 0.6;
			if (add_visitor(m, id, name, ROLE(PARTY_MEMBER), (int)i, rel) < 0)
				goto out;
			m->n_party++;
		}
		m->n_grid++;
		if (grid_of_village[i] < 0)
			goto out;
	}
	/* Elders. */
	pm_next = calloc(na, sizeof *pm_next);
	if (!pm_next)
		goto out;
	int year_now = period_month_of(now) / 100;
	for (unsigned i = 0; i < n_elders; i++) {
		struct elder *e = &m->elders[i];
		int v = village_of[i];
		const struct area *va = &m->areas[v];
		const struct area *ta = &m->areas[1 + (size_t)va->township * (1 + vpt)];
		snprintf(e->id, sizeof e->id, "E%06u", i + 1);
		make_name(&s, true, e->name, sizeof e->name);
		e->area = v;
		snprintf(e->address, sizeof e->address, "%s%s%u组%u号", ta->name, va->name,
		         1 + rng_below(&s, 6), 1 + rng_below(&s, 60));
		e->lat = va->lat + (rng_unit(&s) - 0.5) * 0.02;
		e->lon = va->lon + (rng_unit(&s) - 0.5) * 0.03;
		/* Age 60-100, a quarter of them 80 or older. */
		double a = rng_unit(&s);
		int age = a < 0.36   ? 60 + (int)rng_below(&s, 10)
		          : a < 0.74 ? 70 + (int)rng_below(&s, 10)
		          : a < 0.96 ? 80 + (int)rng_below(&s, 10)
		                     : 90 + (int)rng_below(&s, 11);
		snprintf(e->birth, sizeof e->birth, "%04d-%02u-%02u", year_now - age - 1,
		         1 + rng_below(&s, 12), 1 + rng_below(&s, 28));
		uint32_t c = 0;
		if (rng_chance(&s, 0.45))
			c |= 1u << CAT(LIVING_ALONE);
		if (rng_chance(&s, 0.28))
			c |= 1u << CAT(EXTREME_POVERTY);
		if (rng_chance(&s, age >= 80 ? 0.36 : 0.18))
			c |= 1u << CAT(INCAPACITATED);
		if (!(c & (1u << CAT(LIVING_ALONE))) && rng_chance(&s, 0.3))
			c |= 1u << CAT(EMPTY_NEST);
		if (rng_chance(&s, 0.07))
			c |= 1u << CAT(SEVERELY_DISABLED);
		if (!c)
			c = 1u << (rng_chance(&s, 0.5) ? CAT(LIVING_ALONE) : CAT(EMPTY_NEST));
		e->cats = c;
		/* The default policy's high_risk sets. */
		e->high = (c & (1u << CAT(LIVING_ALONE))) &&
		          (c & ((1u << CAT(INCAPACITATED)) | (1u << CAT(SEVERELY_DISABLED))));
		m->n_high += e->high;
		e->grid = grid_of_village[v];
		unsigned n_pm = (va->elders + 3) / 4;
		e->party = party_of_village[v] + (int)(pm_next[v]++ % n_pm);
		/* "1+2": two households next door; about one elder in twenty has
		 * one or none yet, which the report shows as not set up. */
		double x = rng_unit(&s);
		e->n_nb = x < 0.02 ? 0 : x < 0.05 ? 1 : 2;
		m->n_not_set_up += e->n_nb < 2;
		for (int k = 0; k < e->n_nb; k++) {
			snprintf(id, sizeof id, "N%06u%c", i + 1, 'a' + k);
			make_name(&s, false, name, sizeof name);
			double rel = rng_chance(&s, 0.9) ? 0.96 : 0.7;
			e->nb[k] = add_visitor(m, id, name, ROLE(NEIGHBOUR), v, rel);
			if (e->nb[k] < 0)
				goto out;
			m->n_neighbours++;
		}
	}
	m->n_elders = n_elders;
	r = 0;
out:
	free(weight);
	free(village_of);
	free(party_of_village);
	free(grid_of_village);
	free(pm_next);
	return r;
}

/* ---- pipelined requests ---- */

struct slot {
	uint8_t ref[ENVELOPE_REF_LEN];
	uint8_t *frame;
	size_t len;
	int64_t sent_ms;
	int tries;
	int area; /* for the per-area tally of accepted visits; -1 = none */
	bool is_visit;
	char what[128];
};

struct pipe {
	struct rpc *rpc;
	struct slot slots[WINDOW];
	size_t n;
	int timeout_ms;
	unsigned long ok, duplicate, refused, flagged, sent;
	unsigned long *visits_ok_by_area; /* accepted visits per village */
	unsigned reported;
	bool dead; /* the daemon stopped answering */
};

/* Packs and signs req; ref gets BLAKE2b(body), the key of the reply. */
static int seal(const struct keypair *kp, tf_request *req, uint8_t **frame, size_t *len,
                uint8_t ref[ENVELOPE_REF_LEN])
{
	req->sent_at_ms = clock_now_ms();
	uint8_t *body;
	size_t blen;
	int r = wire_pack(WIRE_REQUEST, req, &body, &blen);
	if (r < 0)
		return r;
	envelope_ref(body, blen, ref);
	r = envelope_seal(kp->sk, body, blen, frame, len);
	free(body);
	return r;
}

static void settle(struct pipe *p, size_t i, const tf_reply *rep)
{
	struct slot *sl = &p->slots[i];
	if (rep->status == STATUS(OK)) {
		p->ok++;
		if (rep->n_flags)
			p->flagged++;
		if (sl->is_visit && sl->area >= 0)
			p->visits_ok_by_area[sl->area]++;
	} else if (rep->status == STATUS(DUPLICATE)) {
		/* A resend of something stored, or an enrolment already made. */
		p->duplicate++;
		if (sl->is_visit && sl->area >= 0 && sl->tries > 1)
			p->visits_ok_by_area[sl->area]++;
	} else {
		p->refused++;
		if (p->reported++ < 10)
			fprintf(stderr, PROG ": refused: %s: %s: %s\n", sl->what,
			        wire_status_name(rep->status), rep->detail);
	}
	free(sl->frame);
	*sl = p->slots[--p->n];
}

/* Waits for one reply and settles its request; after a silence of
 * timeout_ms resends what is outstanding (at most three tries: the daemon
 * answers a resent visit as a duplicate). Returns 0 or -EIO. */
static int pipe_recv(struct pipe *p)
{
	while (p->n) {
		tf_reply *rep;
		int r = rpc_recv(p->rpc, p->timeout_ms, &rep);
		if (r == TF_E_TIMEOUT) {
			for (size_t i = 0; i < p->n; i++) {
				struct slot *sl = &p->slots[i];
				if (sl->tries >= 3) {
					fprintf(stderr, PROG ": no reply to %s after 3 tries\n",
					        sl->what);
					p->dead = true;
					return -EIO;
				}
				sl->tries++;
				sl->sent_ms = clock_mono_ms();
				if (rpc_send_sealed(p->rpc, sl->frame, sl->len) < 0)
					return -EIO;
			}
			continue;
		}
		if (r == TF_E_MALFORMED)
			continue;
		if (r < 0)
			return -EIO;
		for (size_t i = 0; i < p->n; i++) {
			if (rep->ref.len == ENVELOPE_REF_LEN &&
			    memcmp(rep->ref.data, p->slots[i].ref, ENVELOPE_REF_LEN) == 0) {
				settle(p, i, rep);
				wire_free(WIRE_REPLY, rep);
				return 0;
			}
		}
		/* A second reply to a resent request: already settled. */
		wire_free(WIRE_REPLY, rep);
	}
	return 0;
}

/* Seals req with kp and sends it, waiting for a reply first when WINDOW
 * requests are in flight. area >= 0 marks a visit in that village.
 * Returns 0, -ENOMEM or -EIO. */
static int pipe_send(struct pipe *p, const struct keypair *kp, tf_request *req, int area,
                     bool is_visit, const char *what)
{
	if (p->n == WINDOW) {
		int r = pipe_recv(p);
		if (r < 0)
			return r;
	}
	struct slot *sl = &p->slots[p->n];
	memset(sl, 0, sizeof *sl);
	int r = seal(kp, req, &sl->frame, &sl->len, sl->ref);
	if (r < 0)
		return r;
	if (sl->len > MAX_MESSAGE) {
		free(sl->frame);
		fprintf(stderr, PROG ": %s is larger than the daemon's 1 MiB limit\n", what);
		return -EINVAL;
	}
	sl->tries = 1;
	sl->sent_ms = clock_mono_ms();
	sl->area = area;
	sl->is_visit = is_visit;
	snprintf(sl->what, sizeof sl->what, "%s", what);
	p->n++;
	p->sent++;
	if (rpc_send_sealed(p->rpc, sl->frame, sl->len) < 0)
		return -EIO;
	return 0;
}

/* Waits until every request has its reply (a barrier between phases whose
 * order matters: a village needs its township, an elder its visitors). */
static int pipe_drain(struct pipe *p)
{
	while (p->n) {
		int r = pipe_recv(p);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- options ---- */

struct opts {
	const char *endpoint, *server_key, *server_key_file, *key_file, *data_dir, *keys_dir;
	const char *month, *phase;
	unsigned elders, vpt;
	uint64_t seed;
	int timeout_ms;
	bool expect;
};

static const char usage_text[] =
    "usage: " PROG " --data DIR [options]\n"
    "\n"
    "Fills a running tanfangd with demo data for Zalaite Banner (扎赉特旗, 152223):\n"
    "townships and villages, grid workers, party members, \"1+2\" neighbour\n"
    "households, supervisors and special-difficulty elders, then a month and a bit\n"
    "of signed visits (the previous month and the current one up to now).\n"
    "Run it once per data folder: a second run would enrol new keys and visits.\n"
    "\n"
    "Options:\n"
    "  --data DIR            the daemon's data folder: admin key DIR/admin.key, server\n"
    "                        key DIR/curve.pub; supervisors' keys go to DIR/demo-keys/\n"
    "  --endpoint EP         daemon endpoint (default " DEFAULT_ENDPOINT ")\n"
    "  --key FILE            admin key file (instead of DIR/admin.key)\n"
    "  --server-key Z85      the daemon's CURVE public key\n"
    "  --server-key-file F   read the CURVE public key from F\n"
    "  --keys-dir DIR        where supervisors' keys go (default DATA/demo-keys)\n"
    "  --elders N            number of elders (default 4890, the seed's figure)\n"
    "  --villages N          villages per township (default: from --elders, 2..10)\n"
    "  --seed N              what to generate (default 2023); keys are always random\n"
    "  --month YYYY-MM       first month of visits (default: the previous month)\n"
    "  --phase P             all (default); registry (areas, people, elders only);\n"
    "                        visits (visits for a registry made earlier with the same\n"
    "                        --seed, --elders and --villages; enrols new field keys)\n"
    "  --expect              print the monthly report figures the daemon should give\n"
    "  --timeout MS          silence before resending (default 30000)\n"
    "  --now SECONDS         pin this client's clock (tests against 'tanfangd --now')\n"
    "  --help                this text\n"
    "\n"
    "Exit status: 0 done, 1 something was refused or the daemon did not answer,\n"
    "2 usage error. See docs/supervisor.md.\n";

/* ---- registry phase ---- */

static int send_area(struct pipe *p, const struct keypair *admin, const struct area *a)
{
	tf_area msg;
	wire_init(WIRE_AREA, &msg);
	msg.code = (char *)a->code;
	msg.name = (char *)a->name;
	msg.parent = (char *)a->parent;
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &msg;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_AREA);
	req.put_area = &pa;
	char what[128];
	snprintf(what, sizeof what, "area %s", a->code);
	return pipe_send(p, admin, &req, -1, false, what);
}

static int send_visitor(struct pipe *p, const struct keypair *admin, const struct model *m,
                        const struct visitor *v)
{
	tf_visitor msg;
	wire_init(WIRE_VISITOR, &msg);
	msg.id = (char *)v->id;
	msg.name = (char *)v->name;
	msg.role = v->role;
	msg.area = (char *)m->areas[v->area].code;
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &msg;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(PUT_VISITOR);
	req.put_visitor = &pv;
	char what[128];
	snprintf(what, sizeof what, "visitor %s", v->id);
	return pipe_send(p, admin, &req, -1, false, what);
}

static int send_enrol(struct pipe *p, const struct keypair *admin, const struct visitor *v)
{
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = (uint8_t *)v->key.pk;
	ek.public_key.len = 32;
	ek.visitor_id = (char *)v->id;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(ENROL_KEY);
	req.enrol_key = &ek;
	char what[128];
	snprintf(what, sizeof what, "key of %s", v->id);
	return pipe_send(p, admin, &req, -1, false, what);
}

/* Sends elders [from, to) as one all-or-nothing ImportElders. */
static int send_import(struct pipe *p, const struct keypair *admin, const struct model *m,
                       size_t from, size_t to)
{
	size_t n = to - from;
	tf_elder *msgs = calloc(n, sizeof *msgs);
	tf_elder **ptrs = calloc(n, sizeof *ptrs);
	/* Per elder: up to 7 categories, 2 visitors, 2 neighbours. */
	Tanfang__V1__Category *cats = calloc(n * 8, sizeof *cats);
	char **ids = calloc(n * 4, sizeof *ids);
	int r = -ENOMEM;
	if (!msgs || !ptrs || !cats || !ids)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct elder *e = &m->elders[from + i];
		tf_elder *x = &msgs[i];
		wire_init(WIRE_ELDER, x);
		x->id = (char *)e->id;
		x->name = (char *)e->name;
		x->area = (char *)m->areas[e->area].code;
		x->address = (char *)e->address;
		x->lat = e->lat, x->lon = e->lon, x->has_location = true;
		x->birth_date = (char *)e->birth;
		x->registered_at = m->registered_at;
		x->categories = &cats[i * 8];
		for (int c = 1; c < 8; c++)
			if (e->cats & (1u << c))
				x->categories[x->n_categories++] = (Tanfang__V1__Category)c;
		x->visitors = &ids[i * 4];
		x->visitors[x->n_visitors++] = (char *)m->visitors[e->grid].id;
		x->visitors[x->n_visitors++] = (char *)m->visitors[e->party].id;
		x->neighbours = &ids[i * 4 + 2];
		for (int k = 0; k < e->n_nb; k++)
			x->neighbours[x->n_neighbours++] = (char *)m->visitors[e->nb[k]].id;
		ptrs[i] = x;
	}
	Tanfang__V1__ImportElders im = TANFANG__V1__IMPORT_ELDERS__INIT;
	im.elders = ptrs;
	im.n_elders = n;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(IMPORT_ELDERS);
	req.import_elders = &im;
	char what[128];
	snprintf(what, sizeof what, "import of elders %s..%s", m->elders[from].id,
	         m->elders[to - 1].id);
	r = pipe_send(p, admin, &req, -1, false, what);
out:
	free(msgs);
	free(ptrs);
	free(cats);
	free(ids);
	return r;
}

/* Supervisors' keys go to files, so the README can show their view. A
 * folder that already holds the banner supervisor's key means demo data was
 * generated into this daemon before: a second run would duplicate it. */
static int supervisor_keys_check(const char *keys_dir)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/S%s.key", keys_dir, BANNER_CODE) >= (int)sizeof path)
		return cli_fail("--keys-dir is too long");
	if (access(path, F_OK) == 0)
		return cli_fail("%s exists: demo data was generated into this daemon before (use a "
		                "fresh data folder)",
		                path);
	return 0;
}

static int supervisor_keys_save(struct model *m, const char *keys_dir)
{
	if (mkdir(keys_dir, 0700) < 0 && errno != EEXIST)
		return cli_fail("cannot make %s: %s", keys_dir, strerror(errno));
	for (size_t i = 0; i < m->n_visitors; i++) {
		struct visitor *v = &m->visitors[i];
		if (v->role != ROLE(SUPERVISOR))
			continue;
		char path[4096];
		if (snprintf(path, sizeof path, "%s/%s.key", keys_dir, v->id) >= (int)sizeof path)
			return cli_fail("--keys-dir is too long");
		int r = keys_save(path, &v->key);
		if (r < 0)
			return cli_fail("cannot write %s: %s", path, tf_strerror(r));
	}
	return 0;
}

static int phase_registry(struct pipe *p, const struct keypair *admin, struct model *m)
{
	/* Parents before children: three waves of areas. */
	for (size_t level = 6; level <= 12; level += 3) {
		for (size_t i = 0; i < m->n_areas; i++)
			if (strlen(m->areas[i].code) == level &&
			    send_area(p, admin, &m->areas[i]) < 0)
				return -EIO;
		if (pipe_drain(p) < 0)
			return -EIO;
	}
	for (size_t i = 0; i < m->n_visitors; i++)
		if (send_visitor(p, admin, m, &m->visitors[i]) < 0)
			return -EIO;
	if (pipe_drain(p) < 0)
		return -EIO;
	for (size_t i = 0; i < m->n_visitors; i++)
		if (m->visitors[i].keyed && send_enrol(p, admin, &m->visitors[i]) < 0)
			return -EIO;
	for (size_t from = 0; from < m->n_elders; from += IMPORT_CHUNK) {
		size_t to = from + IMPORT_CHUNK < m->n_elders ? from + IMPORT_CHUNK : m->n_elders;
		if (send_import(p, admin, m, from, to) < 0)
			return -EIO;
	}
	return pipe_drain(p);
}

/* ---- visits phase ---- */

struct span {
	int64_t start, end; /* visits fall in [start, end) */
	int64_t month_start[2], month_end[2];
	int n_months;
};

/* Expected monthly report figures for one area and month, tallied the way
 * the daemon's default policy counts (docs/policy.md). */
struct expect {
	unsigned required, visited, party_required, party_done, nb_required, nb_set_up, nb_done;
	unsigned not_set_up;
};

struct visitctx {
	struct pipe *p;
	struct model *m;
	const struct span *sp;
	uint64_t s;
	unsigned long visits, events;
	/* per elder and month: did it get a door/phone visit, did its party
	 * member visit, how many checks by each neighbour household */
	bool visited[2], party_done[2];
	unsigned checks[2][2];
};

static const char *const notes_ok[] = {
    "身体状况良好", "精神状态不错",       "家中取暖正常", "储煤充足，炉具已检查", "已提醒按时服药",
    "子女每周来电", "院内积雪已帮助清扫", "水电正常",     "已测血压，正常",       "老人在家看电视"};
static const char *const notes_concern[] = {
    "血压偏高，已提醒就医", "家中存粮不多", "炉具烟道需清理",     "行动不便，需助行",
    "屋内卫生较差",         "近期食欲不好", "独自居住，情绪低落", "冬季取暖费用紧张"};

static void fill_assessment(uint64_t *s, Tanfang__V1__Assessment *a, double p_concern,
                            bool *concern)
{
	a->finding = FINDING(OK);
	a->note = "";
	if (rng_chance(s, p_concern)) {
		a->finding = rng_chance(s, 0.08) ? FINDING(URGENT) : FINDING(CONCERN);
		a->note = (char *)PICK(s, notes_concern);
		*concern = true;
	}
}

/* Local midnight of the day `day` days after local midnight t0 (no DST in
 * China: days are 86400 s). */
static int64_t day_at(int64_t t0, unsigned day, unsigned hour, unsigned minute)
{
	return t0 + (int64_t)day * 86400 + (int64_t)hour * 3600 + (int64_t)minute * 60;
}

/* Sends one visit by visitor vi to elder e at t (kind as wire value).
 * Visits dated at or after the span's end are not made: they lie in the
 * future. */
static int send_visit(struct visitctx *c, const struct elder *e, int vi, int kind, int64_t t)
{
	if (t < c->sp->start || t >= c->sp->end)
		return 0;
	struct visitor *v = &c->m->visitors[vi];
	uint64_t *s = &c->s;
	uint8_t id[16];
	for (int k = 0; k < 2; k++) {
		uint64_t x = rng_next(s);
		memcpy(id + 8 * k, &x, 8);
	}
	Tanfang__V1__Assessment a[4];
	for (int k = 0; k < 4; k++) {
		Tanfang__V1__Assessment init = TANFANG__V1__ASSESSMENT__INIT;
		a[k] = init;
	}
	tf_visit vis;
	wire_init(WIRE_VISIT, &vis);
	vis.id.data = id;
	vis.id.len = 16;
	vis.elder_id = (char *)e->id;
	vis.kind = kind;
	vis.visited_at = t;
	bool concern = false;
	Tanfang__V1__Aid needs[2];
	if (kind != KIND(PHONE)) {
		/* On the doorstep: a few tens of metres from home. */
		vis.has_location = true;
		vis.lat = e->lat + (rng_unit(s) - 0.5) * 0.0005;
		vis.lon = e->lon + (rng_unit(s) - 0.5) * 0.0007;
		vis.accuracy_m = 8 + rng_below(s, 25);
	}
	if (kind == KIND(NEIGHBOUR_CHECK)) {
		vis.duration_min = 3 + rng_below(s, 12);
		fill_assessment(s, &a[0], 0.01, &concern);
		vis.basic_living = &a[0];
	} else {
		vis.duration_min =
		    kind == KIND(PHONE) ? 3 + rng_below(s, 10) : 15 + rng_below(s, 40);
		fill_assessment(s, &a[0], 0.04, &concern);
		fill_assessment(s, &a[1], 0.03, &concern);
		fill_assessment(s, &a[2], 0.02, &concern);
		fill_assessment(s, &a[3], 0.03, &concern);
		vis.basic_living = &a[0], vis.safety_risk = &a[1];
		vis.family_support = &a[2], vis.care_protection = &a[3];
		if (concern) {
			needs[vis.n_needs++] =
			    a[0].finding != FINDING(OK) ? AID(MEALS) : AID(CLEANING);
			if (e->cats & (1u << CAT(INCAPACITATED)))
				needs[vis.n_needs++] = AID(MOBILITY);
			vis.needs = needs;
			vis.follow_up = true;
		}
		if (!concern && rng_chance(s, 0.3))
			vis.note = (char *)PICK(s, notes_ok);
	}
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(VISIT);
	req.visit = &vis;
	char what[128];
	snprintf(what, sizeof what, "%s visit to %s by %s", wire_visit_kind_name(kind), e->id,
	         v->id);
	c->visits++;
	/* For --expect: what the report should count for this elder. */
	for (int mo = 0; mo < c->sp->n_months; mo++) {
		if (t < c->sp->month_start[mo] || t >= c->sp->month_end[mo])
			continue;
		if (kind == KIND(DOOR) || kind == KIND(PHONE))
			c->visited[mo] = true;
		if (vi == e->party && (kind == KIND(DOOR) || kind == KIND(PARTY_MEMBER)))
			c->party_done[mo] = true;
		for (int k = 0; k < e->n_nb; k++)
			if (vi == e->nb[k] && kind == KIND(NEIGHBOUR_CHECK))
				c->checks[mo][k]++;
	}
	return pipe_send(c->p, &v->key, &req, e->area, true, what);
}

static int send_event(struct visitctx *c, const struct elder *e, int vi, int64_t t)
{
	if (t < c->sp->start || t >= c->sp->end)
		return 0;
	uint64_t *s = &c->s;
	uint8_t id[16];
	for (int k = 0; k < 2; k++) {
		uint64_t x = rng_next(s);
		memcpy(id + 8 * k, &x, 8);
	}
	tf_care_event ev;
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = id;
	ev.id.len = 16;
	ev.elder_id = (char *)e->id;
	ev.occurred_at = t;
	if (rng_chance(s, 0.75)) {
		static const int aids[] = {AID(MEALS), AID(CLEANING), AID(BATHING), AID(MEDICAL)};
		static const char *const what[] = {"送餐上门", "上门保洁", "助浴服务", "陪同就医"};
		unsigned k = rng_below(s, 4);
		ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_SERVICE_DELIVERED;
		ev.severity = TANFANG__V1__SEVERITY__SEVERITY_INFO;
		ev.aid = aids[k];
		ev.note = (char *)what[k];
	} else {
		ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_ILLNESS;
		ev.severity = TANFANG__V1__SEVERITY__SEVERITY_WARNING;
		ev.note = "感冒发烧，已联系村医";
	}
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = OP(CARE_EVENT);
	req.care_event = &ev;
	char what[128];
	snprintf(what, sizeof what, "care event for %s", e->id);
	c->events++;
	return pipe_send(c->p, &c->m->visitors[vi].key, &req, -1, false, what);
}

/* A time in working hours on a random day of [t0, t0 + days). */
static int64_t random_work_time(uint64_t *s, int64_t t0, unsigned days)
{
	return day_at(t0, rng_below(s, days), 8 + rng_below(s, 10), rng_below(s, 60));
}

static int elder_visits(struct visitctx *c, const struct elder *e)
{
	const struct span *sp = c->sp;
	uint64_t *s = &c->s;
	int r = 0;
	memset(c->visited, 0, sizeof c->visited);
	memset(c->party_done, 0, sizeof c->party_done);
	memset(c->checks, 0, sizeof c->checks);
	const struct visitor *pm = &c->m->visitors[e->party];
	for (int mo = 0; r == 0 && mo < sp->n_months; mo++) {
		unsigned days =
		    (unsigned)((sp->month_end[mo] - sp->month_start[mo] + 43200) / 86400);
		/* The grid worker: one door or phone visit a month for ~93%. A
		 * visit planned for later this month has not happened yet. */
		if (rng_chance(s, 0.93)) {
			int kind = rng_chance(s, 0.72) ? KIND(DOOR) : KIND(PHONE);
			r = send_visit(c, e, e->grid, kind,
			               random_work_time(s, sp->month_start[mo], days));
		}
		/* The elder's party member, once a month, usually. */
		if (r == 0 && rng_chance(s, pm->reliability))
			r = send_visit(c, e, e->party, KIND(PARTY_MEMBER),
			               random_work_time(s, sp->month_start[mo], days));
	}
	/* High-risk elders: a visit every week, Monday to Sunday. */
	if (e->high) {
		struct period week = {PERIOD_WEEK, 0};
		for (int64_t w = period_start(&week, sp->start); r == 0 && w < sp->end;
		     w = period_next(&week, w))
			if (rng_chance(s, 0.88))
				r = send_visit(c, e, e->grid,
				               rng_chance(s, 0.6) ? KIND(DOOR) : KIND(PHONE),
				               random_work_time(s, w, 7));
	}
	/* Neighbour households look in every six or seven days, with gaps. */
	for (int k = 0; r == 0 && k < e->n_nb; k++) {
		const struct visitor *nb = &c->m->visitors[e->nb[k]];
		for (unsigned day = rng_below(s, 6);; day += 6 + rng_below(s, 2)) {
			int64_t t = day_at(sp->start, day, 7 + rng_below(s, 13), rng_below(s, 60));
			if (t >= sp->end)
				break;
			if (rng_chance(s, nb->reliability) &&
			    (r = send_visit(c, e, e->nb[k], KIND(NEIGHBOUR_CHECK), t)) < 0)
				break;
		}
	}
	/* Now and then a service delivered, or an illness reported. */
	if (r == 0 && rng_chance(s, 0.03))
		r = send_event(
		    c, e, e->grid,
		    random_work_time(s, sp->start, (unsigned)((sp->end - sp->start) / 86400)));
	return r;
}

static void expect_add(struct expect *x, const struct visitctx *c, const struct elder *e, int mo,
                       int64_t registered)
{
	/* The report counts an elder from the month of registration on. */
	if (registered >= c->sp->month_end[mo])
		return;
	x->required++;
	x->visited += c->visited[mo];
	x->party_required++;
	x->party_done += c->party_done[mo];
	x->nb_required++;
	x->not_set_up += e->n_nb < 2;
	if (e->n_nb < 2)
		return;
	x->nb_set_up++;
	unsigned days = (unsigned)((c->sp->month_end[mo] - c->sp->month_start[mo] + 43200) / 86400);
	unsigned owed = days / 7 ? days / 7 : 1; /* every-7-days rule: floor(days/7) checks */
	x->nb_done += c->checks[mo][0] >= owed && c->checks[mo][1] >= owed;
}

/* ---- main ---- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end || errno || v > max || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_ENDPOINT = 256,
	OPT_SERVER_KEY,
	OPT_SERVER_KEY_FILE,
	OPT_KEY,
	OPT_DATA,
	OPT_KEYS_DIR,
	OPT_ELDERS,
	OPT_VILLAGES,
	OPT_SEED,
	OPT_MONTH,
	OPT_PHASE,
	OPT_EXPECT,
	OPT_TIMEOUT,
	OPT_NOW,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"server-key-file", required_argument, NULL, OPT_SERVER_KEY_FILE},
    {"key", required_argument, NULL, OPT_KEY},
    {"data", required_argument, NULL, OPT_DATA},
    {"keys-dir", required_argument, NULL, OPT_KEYS_DIR},
    {"elders", required_argument, NULL, OPT_ELDERS},
    {"villages", required_argument, NULL, OPT_VILLAGES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"month", required_argument, NULL, OPT_MONTH},
    {"phase", required_argument, NULL, OPT_PHASE},
    {"expect", no_argument, NULL, OPT_EXPECT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"now", required_argument, NULL, OPT_NOW},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The visit span: from the start of the first month to a minute ago, over
 * at most two calendar months. Returns 0 or -EINVAL (month in the future). */
static int make_span(const char *month, int64_t now, struct span *sp)
{
	struct period mon = {PERIOD_MONTH, 0};
	int64_t first;
	if (month) {
		int64_t end;
		if (period_parse_month(month, &first, &end) < 0)
			return -EINVAL;
	} else {
		first = period_start(&mon, period_start(&mon, now) - 1);
	}
	if (first >= now)
		return -EINVAL;
	memset(sp, 0, sizeof *sp);
	sp->start = first;
	sp->end = now - 60;
	for (int k = 0; k < 2 && (k == 0 || sp->month_start[k - 1] < sp->end); k++) {
		sp->month_start[k] = k ? sp->month_end[k - 1] : first;
		sp->month_end[k] = period_next(&mon, sp->month_start[k]);
		sp->n_months++;
	}
	if (sp->end > sp->month_end[sp->n_months - 1])
		sp->end = sp->month_end[sp->n_months - 1];
	return 0;
}

static void month_name(int64_t t, char *buf, size_t size)
{
	int ym = period_month_of(t);
	snprintf(buf, size, "%04d-%02d", ym / 100, ym % 100);
}

int main(int argc, char **argv)
{
	cli_init(PROG);
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return cli_version();
	struct opts o = {.endpoint = DEFAULT_ENDPOINT,
	                 .elders = DEFAULT_ELDERS,
	                 .seed = DEFAULT_SEED,
	                 .timeout_ms = DEFAULT_TIMEOUT_MS,
	                 .phase = "all"};
	int c;
	uint64_t v;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_ENDPOINT: o.endpoint = optarg; break;
		case OPT_SERVER_KEY: o.server_key = optarg; break;
		case OPT_SERVER_KEY_FILE: o.server_key_file = optarg; break;
		case OPT_KEY: o.key_file = optarg; break;
		case OPT_DATA: o.data_dir = optarg; break;
		case OPT_KEYS_DIR: o.keys_dir = optarg; break;
		case OPT_MONTH: o.month = optarg; break;
		case OPT_PHASE: o.phase = optarg; break;
		case OPT_EXPECT: o.expect = true; break;
		case OPT_ELDERS:
			if (parse_u64(optarg, 2000000, &v) < 0 || v == 0)
				return cli_usage("--elders needs 1..2000000");
			o.elders = (unsigned)v;
			break;
		case OPT_VILLAGES:
			if (parse_u64(optarg, COUNT_OF(village_stems), &v) < 0 || v == 0)
				return cli_usage("--villages needs 1..%zu",
				                 COUNT_OF(village_stems));
			o.vpt = (unsigned)v;
			break;
		case OPT_SEED:
			if (parse_u64(optarg, UINT64_MAX, &v) < 0)
				return cli_usage("--seed needs a whole number");
			o.seed = v;
			break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, 3600000, &v) < 0 || v == 0)
				return cli_usage("--timeout needs milliseconds (1..3600000)");
			o.timeout_ms = (int)v;
			break;
		case OPT_NOW:
			if (parse_u64(optarg, 4102444800ull, &v) < 0 || v == 0)
				return cli_usage("--now needs unix seconds");
			clock_set_fixed((int64_t)v);
			break;
		case 'h':
		case OPT_HELP: fputs(usage_text, stdout); return 0;
		case ':': return cli_usage("option %s needs a value", argv[optind - 1]);
		default: return cli_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	bool do_registry = strcmp(o.phase, "all") == 0 || strcmp(o.phase, "registry") == 0;
	bool do_visits = strcmp(o.phase, "all") == 0 || strcmp(o.phase, "visits") == 0;
	if (!do_registry && !do_visits)
		return cli_usage("--phase must be all, registry or visits");
	if (!o.data_dir && (!o.key_file || !o.keys_dir))
		return cli_usage("give --data DIR (or --key FILE and --keys-dir DIR)");
	if (!o.vpt) {
		unsigned auto_vpt = o.elders / 450;
		o.vpt = auto_vpt < 2 ? 2 : auto_vpt > 10 ? 10 : auto_vpt;
	}
	if (period_set_timezone("Asia/Shanghai") < 0)
		return cli_fail("time zone Asia/Shanghai is not installed (tzdata)");
	int64_t now = clock_now();
	struct span sp;
	if (make_span(o.month, now, &sp) < 0)
		return cli_usage("--month must be YYYY-MM and not in the future");
	if (envelope_init() < 0)
		return cli_fail("cannot initialise libsodium");

	/* Keys and connection. */
	char keys_dir[4096];
	if (o.keys_dir)
		snprintf(keys_dir, sizeof keys_dir, "%s", o.keys_dir);
	else
		snprintf(keys_dir, sizeof keys_dir, "%s/demo-keys", o.data_dir);
	struct cli_session sess = {0};
	struct cli_conn cc = {o.endpoint, o.server_key, o.server_key_file, o.key_file, o.data_dir};
	int r = cli_open(&sess, &cc, o.timeout_ms);
	if (r)
		return r;
	struct keypair admin = sess.key;
	struct rpc *rpc = sess.rpc; /* handed to the pipe below, which closes it */

	int64_t t0 = clock_mono_ms();
	struct model m;
	if (model_build(&m, o.seed, o.elders, o.vpt, now) < 0) {
		rpc_close(rpc);
		return cli_fail("out of memory");
	}
	struct pipe *p = calloc(1, sizeof *p);
	if (!p || !(p->visits_ok_by_area = calloc(m.n_areas, sizeof *p->visits_ok_by_area))) {
		model_free(&m);
		free(p);
		rpc_close(rpc);
		return cli_fail("out of memory");
	}
	p->rpc = rpc;
	p->timeout_ms = o.timeout_ms;
	int ex = 0;
	struct expect *x = NULL;
	if (do_registry) {
		if ((ex = supervisor_keys_check(keys_dir)))
			goto out;
		for (size_t i = 0; i < m.n_visitors; i++) {
			struct visitor *vi = &m.visitors[i];
			if (vi->role == ROLE(SUPERVISOR)) {
				if (keys_generate(&vi->key) < 0) {
					ex = cli_fail("cannot make keys");
					goto out;
				}
				vi->keyed = true;
			}
		}
	}

	unsigned long reg_sent = 0, reg_ok = 0, reg_dup = 0;
	m.registered_at = sp.start < now ? sp.start : now;
	if (do_registry) {
		if (phase_registry(p, &admin, &m) < 0) {
			ex = cli_fail("registry phase failed%s",
			              p->dead ? ": the daemon stopped answering" : "");
			goto out;
		}
		reg_sent = p->sent, reg_ok = p->ok, reg_dup = p->duplicate;
		if (p->refused) {
			ex = cli_fail("%lu registry requests were refused; no visits sent",
			              p->refused);
			goto out;
		}
		if ((ex = supervisor_keys_save(&m, keys_dir)))
			goto out;
	}
	int64_t t1 = clock_mono_ms();
	unsigned long refused_registry = p->refused;

	/* Summary of what was made. */
	printf("areas       1 banner %s %s, %zu townships and sumu, %zu villages and gaqa\n",
	       BANNER_NAME, BANNER_CODE, N_TOWNSHIPS, N_TOWNSHIPS * o.vpt);
	printf("visitors    %zu grid workers, %zu party members, %zu neighbour households, "
	       "%zu supervisors\n",
	       m.n_grid, m.n_party, m.n_neighbours, m.n_supervisors);
	printf("elders      %zu (high risk %zu, \"1+2\" not set up %zu), seed %llu\n", m.n_elders,
	       m.n_high, m.n_not_set_up, (unsigned long long)o.seed);
	if (do_registry)
		printf("registry    %lu requests: %lu ok, %lu duplicate, %lu refused\n", reg_sent,
		       reg_ok, reg_dup, refused_registry);

	struct visitctx vc = {.p = p, .m = &m, .sp = &sp, .s = o.seed ^ 0x7669736974ull};
	size_t n_keys = 0;
	if (do_visits) {
		/* A fresh key for every field visitor, enrolled by the admin:
		 * each visit is signed by the one who made it. */
		for (size_t i = 0; i < m.n_visitors; i++) {
			struct visitor *vi = &m.visitors[i];
			if (vi->role == ROLE(SUPERVISOR))
				continue;
			if (keys_generate(&vi->key) < 0 || send_enrol(p, &admin, vi) < 0) {
				ex = cli_fail("enrolling keys failed");
				goto out;
			}
			vi->keyed = true;
			n_keys++;
		}
		if (pipe_drain(p) < 0) {
			ex = cli_fail("enrolling keys failed: the daemon stopped answering");
			goto out;
		}
		unsigned long before_ok = p->ok, before_dup = p->duplicate, before_sent = p->sent;
		unsigned long before_ref = p->refused, before_flag = p->flagged;
		/* Expected report rows: [area][month]. */
		x = calloc(m.n_areas * 2, sizeof *x);
		if (!x) {
			ex = cli_fail("out of memory");
			goto out;
		}
		/* Elders are registered from the start of the visits (or the
		 * registry phase's clock, if that was earlier); for --phase
		 * visits, the registry was made before the visits. */
		int64_t registered = do_registry ? m.registered_at : sp.start - 1;
		for (size_t i = 0; i < m.n_elders; i++) {
			const struct elder *e = &m.elders[i];
			if (elder_visits(&vc, e) < 0) {
				ex = cli_fail("sending visits failed%s",
				              p->dead ? ": the daemon stopped answering" : "");
				goto out;
			}
			for (int mo = 0; mo < sp.n_months; mo++) {
				const struct area *va = &m.areas[e->area];
				size_t ti = 1 + (size_t)va->township * (1 + o.vpt);
				expect_add(&x[(size_t)e->area * 2 + mo], &vc, e, mo, registered);
				expect_add(&x[ti * 2 + mo], &vc, e, mo, registered);
				expect_add(&x[0 * 2 + mo], &vc, e, mo, registered);
			}
		}
		if (pipe_drain(p) < 0) {
			ex = cli_fail("sending visits failed: the daemon stopped answering");
			goto out;
		}
		int64_t t2 = clock_mono_ms();
		double secs = (double)(t2 - t1) / 1000;
		char m0[16], m1[16] = "", upto[32];
		month_name(sp.month_start[0], m0, sizeof m0);
		if (sp.n_months > 1)
			month_name(sp.month_start[1], m1, sizeof m1);
		period_format(sp.end, upto, sizeof upto);
		printf("keys        %zu field keys enrolled\n", n_keys);
		printf("visits      %s%s%s up to %s: %lu visits and %lu care events sent\n", m0,
		       *m1 ? " and " : "", m1, upto, vc.visits, vc.events);
		printf("            %lu ok, %lu duplicate, %lu refused; %lu flagged "
		       "(e.g. dated_long_ago: sent today)\n",
		       p->ok - before_ok, p->duplicate - before_dup, p->refused - before_ref,
		       p->flagged - before_flag);
		printf("            %.1f s, %.0f requests/s\n", secs,
		       secs > 0 ? (double)(p->sent - before_sent) / secs : 0.0);
	}

	printf("supervisors keys in %s/ (S%s.key: the banner; S%s.key: %s ...)\n", keys_dir,
	       BANNER_CODE, townships[0].code, townships[0].name);
	printf("elapsed     %.1f s\n", (double)(clock_mono_ms() - t0) / 1000);
	if (do_visits && o.expect) {
		/* One line per area and month, for tests and for checking the
		 * daemon's arithmetic by eye. */
		for (int mo = 0; mo < sp.n_months; mo++) {
			char mn[16];
			month_name(sp.month_start[mo], mn, sizeof mn);
			for (size_t i = 0; i < m.n_areas; i++) {
				const struct expect *e = &x[i * 2 + mo];
				if (strlen(m.areas[i].code) > 9)
					continue;
				printf("expect %s %s required=%u visited=%u party_required=%u "
				       "party_done=%u neighbour_required=%u neighbour_set_up=%u "
				       "neighbour_done=%u not_set_up=%u\n",
				       mn, m.areas[i].code, e->required, e->visited,
				       e->party_required, e->party_done, e->nb_required,
				       e->nb_set_up, e->nb_done, e->not_set_up);
			}
		}
		/* Accepted visits by the visitors of each area over the whole
		 * span (what an activity query over it should add up to). */
		for (size_t i = 0; i < m.n_areas; i++) {
			unsigned long n = 0;
			for (size_t k = 0; k < m.n_areas; k++)
				if (strncmp(m.areas[k].code, m.areas[i].code,
				            strlen(m.areas[i].code)) == 0)
					n += p->visits_ok_by_area[k];
			if (strlen(m.areas[i].code) <= 9)
				printf("expect-visits %s %lu\n", m.areas[i].code, n);
		}
	}
	if (p->refused)
		ex = cli_fail("%lu requests were refused", p->refused);
out:
	if (p) {
		for (size_t i = 0; i < p->n; i++)
			free(p->slots[i].frame);
		rpc_close(p->rpc);
		free(p->visits_ok_by_area);
	}
	free(p);
	free(x);
	model_free(&m);
	return ex;
}
