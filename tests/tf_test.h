/* Test support shared by every test program.
 *
 * Checks: CHECK(cond), CHECK_EQ_INT(a, b), CHECK_STREQ(a, b), CHECK_OK(expr)
 * (expr must return 0; prints tf_strerror of anything else), CHECK_STATUS(got,
 * NAME) (a Reply status against TANFANG__V1__STATUS__STATUS_<NAME>). A failed
 * check prints file:line and the values and exits with status 1; at a normal
 * exit the number of passed checks is printed.
 *
 * Temporary folders: tft_tmpdir() makes one under $TMPDIR (or /tmp) and
 * removes it at exit unless TFT_KEEP is set in the environment.
 *
 * A real daemon: tft_daemon_init() + tft_daemon_start() run $TANFANGD on a
 * temporary data folder and a free 127.0.0.1 port; tft_admin_rpc() opens a
 * client signed with the data folder's admin key. Daemons still running at
 * exit (e.g. after a failed check) are killed. Fork-safe: only the process
 * that made a folder or started a daemon cleans it up. */
#ifndef TF_TEST_H
#define TF_TEST_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "keys.h"
#include "rpc.h"
#include "tf_err.h"
#include "wire.h"

void tft_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void tft_pass(void);
/* Prints the number of passed checks; `return tft_done();` ends main. */
int tft_done(void);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			tft_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                   \
		tft_pass();                                                                        \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long tft_a_ = (long long)(a), tft_b_ = (long long)(b);                        \
		if (tft_a_ != tft_b_)                                                              \
			tft_fail(__FILE__, __LINE__, "%s == %s failed: %lld != %lld", #a, #b,      \
			         tft_a_, tft_b_);                                                  \
		tft_pass();                                                                        \
	} while (0)

#define CHECK_STREQ(a, b)                                                                          \
	do {                                                                                       \
		const char *tft_a_ = (a), *tft_b_ = (b);                                           \
		if (!tft_a_ || !tft_b_ || strcmp(tft_a_, tft_b_) != 0)                             \
			tft_fail(__FILE__, __LINE__, "%s == %s failed: \"%s\" != \"%s\"", #a, #b,  \
			         tft_a_ ? tft_a_ : "(null)", tft_b_ ? tft_b_ : "(null)");          \
		tft_pass();                                                                        \
	} while (0)

#define CHECK_OK(expr)                                                                             \
	do {                                                                                       \
		int tft_r_ = (expr);                                                               \
		if (tft_r_ != 0)                                                                   \
			tft_fail(__FILE__, __LINE__, "%s returned %d (%s)", #expr, tft_r_,         \
			         tf_strerror(tft_r_));                                             \
		tft_pass();                                                                        \
	} while (0)

/* Same as CHECK_STREQ. */
#define CHECK_STR(a, b) CHECK_STREQ(a, b)

/* got: an int Status value; want: the name after STATUS_, e.g. OK, DUPLICATE. */
#define CHECK_STATUS(got, want)                                                                    \
	do {                                                                                       \
		int tft_g_ = (got), tft_w_ = TANFANG__V1__STATUS__STATUS_##want;                   \
		if (tft_g_ != tft_w_)                                                              \
			tft_fail(__FILE__, __LINE__, "%s: got %s, expected %s", #got,              \
			         wire_status_name(tft_g_), wire_status_name(tft_w_));              \
		tft_pass();                                                                        \
	} while (0)

/* A new temporary folder (static storage per call, never freed); removed
 * with its contents at exit unless TFT_KEEP is set. Fails the test on error. */
const char *tft_tmpdir(void);

/* Reads a whole file into a new NUL-terminated buffer (caller frees), or
 * NULL if it cannot be read. */
char *tft_read_file(const char *path, size_t *len);

/* Runs argv (argv[0] a path) with stdout+stderr into out (NUL-terminated,
 * truncated to outlen; out may be NULL) and returns its exit status, or -1 if
 * it did not exit normally within timeout_s seconds (then it is killed). */
int tft_run(const char *const argv[], char *out, size_t outlen, int timeout_s);

struct tft_daemon {
	char dir[PATH_MAX - 64]; /* the temporary folder of this daemon */
	char data[PATH_MAX];     /* dir/data, passed as --data */
	char log[PATH_MAX];      /* stderr of the latest start: dir/daemon-<n>.log */
	char endpoint[64];       /* tcp://127.0.0.1:PORT */
	char curve_pub[41];      /* the server's CURVE key (Z85) from data/curve.pub */
	bool curve;              /* false once started with --no-curve */
	int port;                /* kept across restarts */
	int starts;
	struct keypair admin; /* data/admin.key */
	pid_t pid;            /* 0 when not running */
};

/* Runs `$TANFANGD init --data <tmp>/data` and loads the admin key and the
 * CURVE public key. Fails the test on error. */
void tft_daemon_init(struct tft_daemon *d);
/* Starts `$TANFANGD run --data ... --listen tcp://127.0.0.1:PORT` plus extra
 * (a NULL-terminated list, or NULL) and waits at most 15 s for `listening on`
 * in its log. A free port is picked on the first start and reused on
 * restarts. Fails the test (printing the log) if the daemon does not come up. */
void tft_daemon_start(struct tft_daemon *d, const char *const *extra);
/* SIGTERM, wait up to 15 s, then SIGKILL. Returns the exit status, or -1 if
 * it had to be killed or died of a signal. */
int tft_daemon_stop(struct tft_daemon *d);
/* kill -9 and reap. */
void tft_daemon_kill9(struct tft_daemon *d);
/* Is the daemon process still alive (not exited)? */
bool tft_daemon_alive(struct tft_daemon *d);
/* The CURVE key clients should pass: curve_pub, or NULL with --no-curve. */
const char *tft_daemon_key(const struct tft_daemon *d);

/* An rpc client signed with the admin key / with kp. Fails the test on error. */
void tft_admin_rpc(struct tft_daemon *d, struct rpc **out);
void tft_rpc(struct tft_daemon *d, const struct keypair *kp, struct rpc **out);

/* Sends req, waits up to 10 s, returns the reply status (fails on timeout).
 * If detail is not NULL, the reply's detail is copied there (size 256). */
int tft_call(struct rpc *r, tf_request *req, char *detail);

/* Registry helpers over an admin rpc; each asserts STATUS_OK. role and the
 * categories are wire values (TANFANG__V1__ROLE__*, TANFANG__V1__CATEGORY__*);
 * tft_put_elder takes any number of categories. */
void tft_put_area(struct rpc *r, const char *code, const char *name, const char *parent);
void tft_put_visitor(struct rpc *r, const char *id, const char *name, int role, const char *area);
void tft_enrol(struct rpc *r, const uint8_t pk[32], const char *visitor_id);
void tft_put_elder_list(struct rpc *r, const char *id, const char *name, const char *area,
                        const int *categories, size_t n);
#define tft_put_elder(r, id, name, area, ...)                                                      \
	tft_put_elder_list(r, id, name, area, (const int[]){0, ##__VA_ARGS__} + 1,                 \
	                   sizeof((const int[]){0, ##__VA_ARGS__}) / sizeof(int) - 1)

/* Fills v (wire_init'd) as a visit with id (16 bytes the caller owns; the
 * visit points at them), elder, kind (TANFANG__V1__VISIT_KIND__*) and
 * visited_at. Findings, location and note are left empty. */
void tft_make_visit(tf_visit *v, uint8_t id[16], const char *elder_id, int kind, int64_t when);
/* 16 random bytes. */
void tft_random_id(uint8_t id[16]);
/* req (wire_init'd) carrying v / e. */
void tft_visit_request(tf_request *req, tf_visit *v);
void tft_event_request(tf_request *req, tf_care_event *e);

#endif
