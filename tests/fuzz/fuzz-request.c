/* libFuzzer target: the daemon's request path (BRIEF §6: any bad input gets
 * a clear status, changes nothing, and the daemon stays up).
 *
 * The first input byte picks how the rest is used:
 *   byte % 10 == 0: the rest is a whole Envelope frame, as a client sends it;
 *   otherwise:      the rest is a Request body, sealed here with the key of
 *                   signer (byte % 10) - 1 of fuzz_world.h (admin, grid
 *                   worker, supervisor, ..., a revoked key, a stranger's).
 * Without the second mode nearly every input would stop at the signature
 * check; with it the fuzzer reaches authorisation, validation, the writer,
 * the schedule and every query on a small registry.
 *
 * Each frame runs through ingest_verify and then ingest_write_batch or
 * ingest_query, as the daemon's pipeline does minus the sockets, on a store
 * in a temporary folder. After any write the store is put back to the
 * registry as first built (a copy of its LMDB file), so every input meets the
 * same state and a crash replays from its input alone.
 *
 * Besides the sanitizers, the target checks: a reply with a known status; a
 * refused request leaves the log, the records and the registry as they were;
 * after an accepted write the audit log still verifies. A broken check
 * aborts, which libFuzzer reports as a crash. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"
#include "fuzz_target.h"
#include "fuzz_world.h"
#include "log.h"
#include "tf_inproc.h"

#define ST(x) TANFANG__V1__STATUS__STATUS_##x
/* The daemon refuses larger frames before they reach ingest_verify
 * (dconfig's default max_message_size). */
#define MAX_FRAME (1u << 20)
#define MAP_SIZE  (256u << 20)

static struct {
	bool ready;
	char root[256], template_dir[300], work_dir[300];
	struct keypair keys[W_COUNT];
	struct store *st;
	struct ingest *ig;
} w;

static void die(const char *what, int r)
{
	fprintf(stderr, "fuzz-request: %s: %s\n", what, tf_strerror(r));
	abort();
}

/* Seals req with signer s, sent now, effective at `effective` (0: now). */
static int world_status(enum world_signer s, tf_request *req, int64_t effective)
{
	struct inproc p = {.st = w.st, .ig = w.ig};
	req->effective_at = effective;
	return inproc_status(&p, &w.keys[s], req);
}

static void put_area(const char *code, const char *name, const char *parent)
{
	tf_area a;
	wire_init(WIRE_AREA, &a);
	a.code = (char *)code, a.name = (char *)name, a.parent = (char *)parent;
	Tanfang__V1__PutArea pa = TANFANG__V1__PUT_AREA__INIT;
	pa.area = &a;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_AREA, req.put_area = &pa;
	if (world_status(W_ADMIN, &req, WORLD_SINCE) != ST(OK))
		die("put area", -EINVAL);
}

static void put_visitor(const char *id, const char *name, int role, const char *area)
{
	tf_visitor v;
	wire_init(WIRE_VISITOR, &v);
	v.id = (char *)id, v.name = (char *)name, v.role = role, v.area = (char *)area;
	Tanfang__V1__PutVisitor pv = TANFANG__V1__PUT_VISITOR__INIT;
	pv.visitor = &v;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_VISITOR, req.put_visitor = &pv;
	if (world_status(W_ADMIN, &req, WORLD_SINCE) != ST(OK))
		die("put visitor", -EINVAL);
}

static void enrol(enum world_signer s)
{
	Tanfang__V1__EnrolKey ek = TANFANG__V1__ENROL_KEY__INIT;
	ek.public_key.data = w.keys[s].pk, ek.public_key.len = 32;
	ek.visitor_id = (char *)world_visitor_of[s];
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_ENROL_KEY, req.enrol_key = &ek;
	if (world_status(W_ADMIN, &req, WORLD_SINCE) != ST(OK))
		die("enrol key", -EINVAL);
}

static void put_elder(const char *id, const char *name, const char *area, int cat1, int cat2,
                      int tier, char **visitors, size_t n_visitors, char **neighbours,
                      size_t n_neighbours)
{
	tf_elder e;
	wire_init(WIRE_ELDER, &e);
	e.id = (char *)id, e.name = (char *)name, e.area = (char *)area;
	e.address = "巴彦乌兰嘎查一组12号", e.birth_date = "1938-04-12";
	e.has_location = 1, e.lat = 46.7312, e.lon = 122.9105;
	Tanfang__V1__Category cats[2] = {cat1, cat2};
	e.categories = cats, e.n_categories = cat2 ? 2 : cat1 ? 1 : 0;
	e.risk_tier = tier;
	e.visitors = visitors, e.n_visitors = n_visitors;
	e.neighbours = neighbours, e.n_neighbours = n_neighbours;
	Tanfang__V1__PutElder pe = TANFANG__V1__PUT_ELDER__INIT;
	pe.elder = &e;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_PUT_ELDER, req.put_elder = &pe;
	if (world_status(W_ADMIN, &req, WORLD_SINCE) != ST(OK))
		die("put elder", -EINVAL);
}

/* The registry of fuzz_world.h, with one stored visit and care event. */
static void build_registry(void)
{
	put_area("152223", "扎赉特旗", "");
	put_area("152223100", "音德尔镇", "152223");
	put_area("152223100201", "巴彦乌兰嘎查", "152223100");
	put_area("152223200", "巴彦高勒镇", "152223");
	put_area("152223200301", "永安村", "152223200");
	const char *village = "152223100201";
	put_visitor("g1", "网格员", TANFANG__V1__ROLE__ROLE_GRID_WORKER, village);
	put_visitor("s1", "督导", TANFANG__V1__ROLE__ROLE_SUPERVISOR, "152223");
	put_visitor("p1", "党员", TANFANG__V1__ROLE__ROLE_PARTY_MEMBER, village);
	put_visitor("d1", "派单", TANFANG__V1__ROLE__ROLE_DISPATCHER, "152223");
	put_visitor("n1", "邻居一", TANFANG__V1__ROLE__ROLE_NEIGHBOUR, village);
	put_visitor("n2", "邻居二", TANFANG__V1__ROLE__ROLE_NEIGHBOUR, village);
	put_visitor("h1", "医生", TANFANG__V1__ROLE__ROLE_HEALTH_WORKER, "152223200");
	for (int s = W_GRID; s <= W_REVOKED; s++)
		enrol(s);
	Tanfang__V1__RevokeKey rk = TANFANG__V1__REVOKE_KEY__INIT;
	rk.public_key.data = w.keys[W_REVOKED].pk, rk.public_key.len = 32;
	tf_request req;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_REVOKE_KEY, req.revoke_key = &rk;
	if (world_status(W_ADMIN, &req, 0) != ST(OK))
		die("revoke key", -EINVAL);

	char *e1_visitors[] = {"g1", "p1"}, *e1_neighbours[] = {"n1", "n2"};
	put_elder("e1", "张桂兰", village, TANFANG__V1__CATEGORY__CATEGORY_LIVING_ALONE, 0, 0,
	          e1_visitors, 2, e1_neighbours, 2);
	put_elder("e2", "王福山", village, TANFANG__V1__CATEGORY__CATEGORY_INCAPACITATED,
	          TANFANG__V1__CATEGORY__CATEGORY_EXTREME_POVERTY,
	          TANFANG__V1__RISK_TIER__RISK_TIER_HIGH, e1_visitors, 1, NULL, 0);
	put_elder("e3", "李秀英", "152223200301", TANFANG__V1__CATEGORY__CATEGORY_EMPTY_NEST, 0, 0,
	          NULL, 0, NULL, 0);
	put_elder("e4", "赵玉珍", village, 0, 0, TANFANG__V1__RISK_TIER__RISK_TIER_GENERAL, NULL, 0,
	          NULL, 0);

	tf_visit v;
	uint8_t vid[16];
	world_id(vid, WORLD_VISIT_TAG);
	wire_init(WIRE_VISIT, &v);
	v.id.data = vid, v.id.len = 16, v.elder_id = "e1";
	v.kind = TANFANG__V1__VISIT_KIND__VISIT_KIND_DOOR, v.visited_at = WORLD_NOW - 86400;
	v.has_location = 1, v.lat = 46.7312, v.lon = 122.9105;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_VISIT, req.visit = &v;
	if (world_status(W_GRID, &req, 0) != ST(OK))
		die("visit", -EINVAL);

	tf_care_event ev;
	uint8_t eid[16];
	world_id(eid, WORLD_EVENT_TAG);
	wire_init(WIRE_CARE_EVENT, &ev);
	ev.id.data = eid, ev.id.len = 16, ev.elder_id = "e1";
	ev.type = TANFANG__V1__CARE_EVENT_TYPE__CARE_EVENT_TYPE_HOSPITALISED;
	ev.severity = TANFANG__V1__SEVERITY__SEVERITY_WARNING, ev.occurred_at = WORLD_NOW - 3600;
	wire_init(WIRE_REQUEST, &req);
	req.op_case = TANFANG__V1__REQUEST__OP_CARE_EVENT, req.care_event = &ev;
	if (world_status(W_GRID, &req, 0) != ST(OK))
		die("care event", -EINVAL);
}

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = -errno;
		close(in);
		return e;
	}
	char buf[1 << 16];
	ssize_t n;
	int r = 0;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

static void world_close(void)
{
	ingest_free(w.ig);
	store_close(w.st);
	w.ig = NULL, w.st = NULL;
}

static void world_open(const char *dir)
{
	struct store_options o = {.map_size = MAP_SIZE, .no_sync = true};
	int r = store_open(dir, &o, &w.st);
	if (r < 0)
		die("store_open", r);
	if ((r = ingest_new(w.st, NULL, &w.ig)) < 0)
		die("ingest_new", r);
}

/* Puts the work store back to the registry as built: a fresh copy of the
 * template's data file, and a fresh ingest context (its replay memo is part
 * of the state too). */
static void world_reset(void)
{
	world_close();
	char from[400], to[400];
	snprintf(from, sizeof from, "%s/data.mdb", w.template_dir);
	snprintf(to, sizeof to, "%s/data.mdb", w.work_dir);
	int r = copy_file(from, to);
	if (r < 0)
		die("copy template", r);
	world_open(w.work_dir);
}

static void world_cleanup(void)
{
	if (!w.ready)
		return;
	world_close();
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", w.root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz-request: could not remove %s\n", w.root);
}

static void world_setup(void)
{
	/* Refused requests are normal here; their log lines would only slow
	 * the run down. */
	log_set_level(LOG_LEVEL_WARN);
	clock_set_fixed(WORLD_NOW);
	int r = envelope_init();
	if (r < 0)
		die("envelope_init", r);
	for (int s = 0; s < W_COUNT; s++)
		if (world_key(s, &w.keys[s]) < 0)
			die("world_key", -EINVAL);
	const char *tmp = getenv("TMPDIR");
	snprintf(w.root, sizeof w.root, "%s/tanfang-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(w.root))
		die("mkdtemp", -errno);
	snprintf(w.template_dir, sizeof w.template_dir, "%s/template", w.root);
	snprintf(w.work_dir, sizeof w.work_dir, "%s/work", w.root);
	if (mkdir(w.work_dir, 0700) < 0)
		die("mkdir", -errno);
	world_open(w.template_dir);
	if ((r = ingest_bootstrap(w.st, w.keys[W_ADMIN].pk)) < 0)
		die("ingest_bootstrap", r);
	build_registry();
	w.ready = true;
	atexit(world_cleanup);
	world_reset();
}

/* What a refused request must leave untouched. */
static const enum store_db watched[] = {DB_LOG,      DB_RECORDS, DB_AREAS,
                                        DB_VISITORS, DB_ELDERS,  DB_KEYS};
#define N_WATCHED (sizeof watched / sizeof watched[0])

static void count_watched(size_t n[N_WATCHED])
{
	struct store_txn *txn;
	int r = store_txn_begin(w.st, false, NULL, &txn);
	if (r < 0)
		die("store_txn_begin", r);
	for (size_t i = 0; i < N_WATCHED; i++)
		if ((r = store_count(txn, watched[i], &n[i])) < 0)
			die("store_count", r);
	store_txn_abort(txn);
}

static void run_frame(const uint8_t *frame, size_t len)
{
	size_t before[N_WATCHED], after[N_WATCHED];
	count_watched(before);
	struct job *j;
	int r = ingest_verify(w.ig, frame, len, &j);
	if (r < 0)
		die("ingest_verify", r);
	enum job_route route = job_route(j);
	if (route == JOB_WRITE && (r = ingest_write_batch(w.ig, &j, 1)) < 0)
		die("ingest_write_batch", r); /* a 256 MiB map cannot fill from 1 MiB */
	if (route == JOB_READ && (r = ingest_query(w.ig, j)) < 0)
		die("ingest_query", r);
	uint8_t *out;
	size_t out_len;
	if ((r = job_reply(j, &out, &out_len)) < 0)
		die("job_reply", r);
	int job_said = job_status(j);
	job_free(j);
	tf_reply *rep;
	if ((r = wire_unpack(WIRE_REPLY, out, out_len, (void **)&rep)) < 0)
		die("reply does not decode", r);
	free(out);
	int status = (int)rep->status;
	/* A query's job status is OK whatever its reply says (ingest.c: it is
	 * only logged); for the rest the two must agree. */
	if ((route != JOB_READ && status != job_said) || status <= ST(UNSPECIFIED) ||
	    status > ST(REPLAYED)) {
		fprintf(stderr, "fuzz-request: reply status %d (job says %d)\n", status, job_said);
		abort();
	}
	/* FUZZ_VERBOSE=1: what each input got, for whoever tends the corpus. */
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "fuzz-request: %s: %s\n", wire_status_name(status),
		        rep->detail ? rep->detail : "");
	wire_free(WIRE_REPLY, rep);

	count_watched(after);
	bool accepted = status == ST(OK) || status == ST(DUPLICATE);
	for (size_t i = 0; !accepted && i < N_WATCHED; i++)
		if (before[i] != after[i]) {
			fprintf(stderr, "fuzz-request: refused (%s) but db %d went %zu -> %zu\n",
			        wire_status_name(status), watched[i], before[i], after[i]);
			abort();
		}
	if (route == JOB_WRITE && status == ST(OK)) {
		uint64_t n;
		char err[256];
		if ((r = auditlog_verify(w.st, &n, err, sizeof err)) < 0) {
			fprintf(stderr, "fuzz-request: audit log: %s\n", err);
			abort();
		}
	}
	if (route == JOB_WRITE)
		world_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!w.ready)
		world_setup();
	if (size == 0 || size - 1 > MAX_FRAME)
		return 0;
	unsigned mode = data[0] % (W_COUNT + 1);
	if (mode == 0) {
		run_frame(data + 1, size - 1);
		return 0;
	}
	uint8_t *frame;
	size_t len;
	int r = envelope_seal(w.keys[mode - 1].sk, data + 1, size - 1, &frame, &len);
	if (r < 0)
		die("envelope_seal", r);
	run_frame(frame, len);
	free(frame);
	return 0;
}
