/* End to end, BRIEF.md section 6: "an acknowledgement is sent only after the
 * record is durably committed; no acknowledged record is lost by a crash
 * (kill -9) at any moment".
 *
 * Several client processes pipeline visits at the real daemon and append the
 * id of every visit acknowledged OK or DUPLICATE to a file (fsync'd before the
 * next one is read). The daemon is killed with SIGKILL at a random moment
 * mid-load. Then: every acknowledged id is in the store; after a restart
 * every acknowledged visit resent is DUPLICATE; and the records found after
 * the crash are exactly the acknowledged ones plus the unacknowledged ones
 * that also answer DUPLICATE (committed, reply lost with the daemon). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"
#include "hex.h"
#include "store.h"
#include "tf_test.h"

#define ROLE(x) TANFANG__V1__ROLE__ROLE_##x
#define KIND(x) TANFANG__V1__VISIT_KIND__VISIT_KIND_##x
#define CAT(x)  TANFANG__V1__CATEGORY__CATEGORY_##x

#define CLIENTS          4
#define PER_CLIENT       2500
#define WINDOW           64
#define ELDERS           10
#define REGISTRY_CHANGES (1 + 2 * CLIENTS + ELDERS)
#define LINE_LEN         33 /* 32 hex digits + '\n' */

static struct tft_daemon d;
static struct keypair keys[CLIENTS];
static int64_t base_time;
static char ack_path[CLIENTS][PATH_MAX];

/* Visit seq of client c: the same content whenever it is rebuilt. */
static void make_id(int c, uint32_t seq, uint8_t id[16])
{
	memset(id, 0x5a, 16);
	id[0] = (uint8_t)(0xc0 | c);
	id[1] = (uint8_t)(seq >> 24);
	id[2] = (uint8_t)(seq >> 16);
	id[3] = (uint8_t)(seq >> 8);
	id[4] = (uint8_t)seq;
}

static void seal(int c, uint32_t seq, uint8_t **frame, size_t *len, uint8_t ref[32])
{
	static const char *const elders[ELDERS] = {"e0", "e1", "e2", "e3", "e4",
	                                           "e5", "e6", "e7", "e8", "e9"};
	uint8_t id[16];
	make_id(c, seq, id);
	tf_visit v;
	tft_make_visit(&v, id, elders[seq % ELDERS], KIND(DOOR), base_time - seq);
	tf_request req;
	tft_visit_request(&req, &v);
	if (rpc_seal(&keys[c], &req, frame, len) < 0)
		abort();
	tf_envelope *env;
	if (wire_unpack(WIRE_ENVELOPE, *frame, *len, (void **)&env) < 0)
		abort();
	envelope_ref(env->body.data, env->body.len, ref);
	wire_free(WIRE_ENVELOPE, env);
}

struct slot {
	bool used;
	uint32_t seq;
	uint8_t ref[32];
};

/* Pipelines `count` visits from `first` with a window; calls on_reply for
 * each answer. Returns the number answered before the daemon went silent
 * for timeout_ms (a crash) or all were answered. */
typedef void (*reply_fn)(int c, uint32_t seq, int status, void *arg);

static uint32_t pipeline(int c, uint32_t count, int timeout_ms, reply_fn on_reply, void *arg)
{
	struct rpc *r;
	if (rpc_open(d.endpoint, tft_daemon_key(&d), &keys[c], &r) < 0)
		abort();
	struct slot slots[WINDOW] = {0};
	uint32_t next = 0, answered = 0, inflight = 0;
	while (answered < count) {
		while (inflight < WINDOW && next < count) {
			size_t s = 0;
			while (slots[s].used)
				s++;
			uint8_t *frame;
			size_t len;
			seal(c, next, &frame, &len, slots[s].ref);
			int rc = rpc_send_sealed(r, frame, len);
			free(frame);
			if (rc < 0)
				goto out;
			slots[s].used = true;
			slots[s].seq = next++;
			inflight++;
		}
		tf_reply *rep;
		int rc = rpc_recv(r, timeout_ms, &rep);
		if (rc < 0)
			goto out; /* TF_E_TIMEOUT: the daemon is gone */
		for (size_t s = 0; s < WINDOW; s++) {
			if (slots[s].used && rep->ref.len == 32 &&
			    memcmp(rep->ref.data, slots[s].ref, 32) == 0) {
				on_reply(c, slots[s].seq, rep->status, arg);
				slots[s].used = false;
				inflight--;
				answered++;
				break;
			}
		}
		wire_free(WIRE_REPLY, rep);
	}
out:
	rpc_close(r);
	return answered;
}

/* Child: records each acknowledged id durably before reading the next reply. */
static void child_ack(int c, uint32_t seq, int status, void *arg)
{
	int fd = *(int *)arg;
	if (status != TANFANG__V1__STATUS__STATUS_OK &&
	    status != TANFANG__V1__STATUS__STATUS_DUPLICATE) {
		fprintf(stderr, "client %d: visit %u answered %s\n", c, seq,
		        wire_status_name(status));
		_exit(3);
	}
	uint8_t id[16];
	char line[LINE_LEN + 1];
	make_id(c, seq, id);
	hex_encode(id, 16, line);
	line[32] = '\n';
	if (write(fd, line, LINE_LEN) != LINE_LEN || fsync(fd) < 0)
		_exit(4);
}

static void run_child(int c)
{
	int fd = open(ack_path[c], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(5);
	pipeline(c, PER_CLIENT, 5000, child_ack, &fd);
	close(fd);
	_exit(0);
}

static size_t acked_so_far(void)
{
	size_t n = 0;
	for (int c = 0; c < CLIENTS; c++) {
		struct stat sb;
		if (stat(ack_path[c], &sb) == 0)
			n += (size_t)sb.st_size / LINE_LEN;
	}
	return n;
}

static bool acked[CLIENTS][PER_CLIENT];

static size_t read_acks(void)
{
	size_t total = 0;
	for (int c = 0; c < CLIENTS; c++) {
		size_t len;
		char *text = tft_read_file(ack_path[c], &len);
		if (!text)
			continue; /* this client never got an ack */
		CHECK_EQ_INT(len % LINE_LEN, 0);
		for (size_t off = 0; off < len; off += LINE_LEN) {
			text[off + 32] = '\0';
			uint8_t id[16];
			CHECK_OK(hex_decode(text + off, id, 16));
			CHECK_EQ_INT(id[0], 0xc0 | c);
			uint32_t seq = (uint32_t)id[1] << 24 | id[2] << 16 | id[3] << 8 | id[4];
			CHECK(seq < PER_CLIENT);
			CHECK(!acked[c][seq]); /* each acknowledged once */
			acked[c][seq] = true;
			total++;
		}
		free(text);
	}
	return total;
}

struct resend {
	size_t dup_acked, dup_unacked, ok_unacked;
};

static void on_resend(int c, uint32_t seq, int status, void *arg)
{
	struct resend *rs = arg;
	if (acked[c][seq]) {
		if (status != TANFANG__V1__STATUS__STATUS_DUPLICATE)
			tft_fail(__FILE__, __LINE__, "acknowledged visit %d/%u resent: %s", c, seq,
			         wire_status_name(status));
		rs->dup_acked++;
	} else if (status == TANFANG__V1__STATUS__STATUS_DUPLICATE) {
		rs->dup_unacked++;
	} else if (status == TANFANG__V1__STATUS__STATUS_OK) {
		rs->ok_unacked++;
	} else {
		tft_fail(__FILE__, __LINE__, "visit %d/%u resent: %s", c, seq,
		         wire_status_name(status));
	}
}

static size_t count_records(void)
{
	struct store *st;
	struct store_options so = {.read_only = true};
	CHECK_OK(store_open(d.data, &so, &st));
	struct store_txn *txn;
	CHECK_OK(store_txn_begin(st, false, NULL, &txn));
	size_t n;
	CHECK_OK(store_count(txn, DB_RECORDS, &n));
	/* Every acknowledged id is there. */
	for (int c = 0; c < CLIENTS; c++)
		for (uint32_t s = 0; s < PER_CLIENT; s++) {
			if (!acked[c][s])
				continue;
			uint8_t id[16];
			const void *v;
			size_t vl;
			make_id(c, s, id);
			int r = store_get(txn, DB_RECORDS, id, 16, &v, &vl);
			if (r != 0)
				tft_fail(__FILE__, __LINE__, "acknowledged visit %d/%u lost: %s", c,
				         s, tf_strerror(r));
		}
	store_txn_abort(txn);
	store_close(st);
	return n;
}

static void setup_registry(void)
{
	struct rpc *admin;
	tft_admin_rpc(&d, &admin);
	tft_put_area(admin, "152223", "扎赉特旗", "");
	for (int c = 0; c < CLIENTS; c++) {
		char id[16];
		snprintf(id, sizeof id, "w%d", c);
		tft_put_visitor(admin, id, id, ROLE(GRID_WORKER), "152223");
		CHECK_OK(keys_generate(&keys[c]));
		tft_enrol(admin, keys[c].pk, id);
	}
	for (int e = 0; e < ELDERS; e++) {
		char id[16];
		snprintf(id, sizeof id, "e%d", e);
		tft_put_elder(admin, id, id, "152223", CAT(LIVING_ALONE));
	}
	/* No ZeroMQ context may cross the fork. */
	rpc_close(admin);
}

int main(void)
{
	tft_daemon_init(&d);
	tft_daemon_start(&d, NULL);
	setup_registry();
	base_time = clock_now() - 60;
	for (int c = 0; c < CLIENTS; c++)
		snprintf(ack_path[c], sizeof ack_path[c], "%s/acked-%d", d.dir, c);

	/* The kill comes once between 10% and 60% of all visits are
	 * acknowledged, plus a random few milliseconds. */
	size_t total = (size_t)CLIENTS * PER_CLIENT;
	size_t threshold = total / 10 + randombytes_uniform((uint32_t)(total / 2));
	uint32_t extra_ms = randombytes_uniform(20);
	fprintf(stderr, "kill -9 after %zu of %zu acks + %u ms\n", threshold, total, extra_ms);

	pid_t kids[CLIENTS];
	fflush(NULL);
	for (int c = 0; c < CLIENTS; c++) {
		kids[c] = fork();
		CHECK(kids[c] >= 0);
		if (kids[c] == 0)
			run_child(c);
	}
	int64_t start = clock_mono_ms();
	while (acked_so_far() < threshold && clock_mono_ms() - start < 30000) {
		struct timespec ts = {0, 2 * 1000000L};
		nanosleep(&ts, NULL);
	}
	struct timespec ts = {0, (long)extra_ms * 1000000L};
	nanosleep(&ts, NULL);
	size_t at_kill = acked_so_far();
	CHECK(at_kill >= threshold);
	tft_daemon_kill9(&d);
	fprintf(stderr, "killed after %lld ms with %zu acks recorded\n",
	        (long long)(clock_mono_ms() - start), at_kill);

	/* The clients notice the silence and stop. */
	for (int c = 0; c < CLIENTS; c++) {
		int status = -1;
		int64_t deadline = clock_mono_ms() + 20000;
		while (waitpid(kids[c], &status, WNOHANG) == 0 && clock_mono_ms() < deadline)
			nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
		if (!WIFEXITED(status)) {
			kill(kids[c], SIGKILL);
			waitpid(kids[c], &status, 0);
		}
		CHECK(WIFEXITED(status));
		CHECK_EQ_INT(WEXITSTATUS(status), 0);
	}

	size_t n_acked = read_acks();
	CHECK(n_acked >= at_kill);
	size_t after_crash = count_records();
	fprintf(stderr, "%zu acknowledged, %zu records in the store after the crash\n", n_acked,
	        after_crash);
	CHECK(after_crash >= n_acked);

	/* Restart on the same store and resend everything. */
	tft_daemon_start(&d, NULL);
	struct resend rs = {0};
	for (int c = 0; c < CLIENTS; c++)
		CHECK_EQ_INT(pipeline(c, PER_CLIENT, 10000, on_resend, &rs), PER_CLIENT);
	fprintf(stderr, "resent: %zu acked DUPLICATE, %zu unacked DUPLICATE, %zu unacked OK\n",
	        rs.dup_acked, rs.dup_unacked, rs.ok_unacked);
	CHECK_EQ_INT(rs.dup_acked, n_acked);
	CHECK_EQ_INT(rs.dup_acked + rs.dup_unacked + rs.ok_unacked, total);
	/* Exactly once: what the crash left is what answers DUPLICATE now. */
	CHECK_EQ_INT(after_crash, rs.dup_acked + rs.dup_unacked);
	CHECK_EQ_INT(tft_daemon_stop(&d), 0);
	CHECK_EQ_INT(count_records(), total);

	/* The audit log survived the crash intact and holds every record once. */
	char out[4096], want[64];
	const char *argv[] = {getenv("TANFANGD"), "verify-log", "--data", d.data, NULL};
	CHECK_EQ_INT(tft_run(argv, out, sizeof out, 120), 0);
	snprintf(want, sizeof want, "OK: %zu entries", total + REGISTRY_CHANGES);
	if (!strstr(out, want))
		tft_fail(__FILE__, __LINE__, "verify-log said: %s (expected %s)", out, want);
	return tft_done();
}
