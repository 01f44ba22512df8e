/* tanfang field client library: what a field app (phone, tablet, the
 * tanfang-field CLI) embeds to record visits and care events offline and
 * deliver them to a tanfangd daemon.
 *
 * The flow: tanfang_keygen() once (the admin enrols the printed public key);
 * tanfang_open(); tanfang_record_visit() / tanfang_record_event() sign each
 * record with the device key and commit it to a durable local outbox before
 * returning, whether or not a network is there; tanfang_sync() whenever a
 * network may be there: it resends every pending envelope until the daemon
 * acknowledges it, so nothing recorded is lost and nothing is stored twice.
 *
 * Files in the device folder DIR: DIR/device.key (the Ed25519 seed, mode
 * 0600, never overwritten) and DIR/outbox/ (an LMDB store).
 *
 * All functions return 0 on success or a negative code: a negated errno
 * value, or one of the TANFANG_E_* codes below. tanfang_strerror() names
 * any of them. The library prints nothing. A handle is used by one thread at
 * a time; several processes may open the same folder. Do not carry an open
 * handle across fork(). */
#ifndef TANFANG_TANFANG_H
#define TANFANG_TANFANG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TANFANG_MUST_CHECK __attribute__((warn_unused_result))

/* Codes besides negated errno values (the same numbers as the daemon's). */
#define TANFANG_E_MALFORMED (-10001) /* stored or received bytes are not a message */
#define TANFANG_E_SIGNER                                                                           \
	(-10003) /* the daemon refused this device's key: not enrolled, or revoked */
#define TANFANG_E_MAPFULL (-10009) /* the outbox is full */
#define TANFANG_E_TIMEOUT (-10010) /* the daemon did not answer in time */
#define TANFANG_E_CORRUPT (-10011) /* stored data failed a check */
#define TANFANG_E_FUTURE  (-10012) /* a record dated after the device's clock */

#define TANFANG_ID_LEN     16
#define TANFANG_PK_HEX_LEN 65 /* 64 hex digits + NUL */
#define TANFANG_ID_HEX_LEN 33 /* 32 hex digits + NUL */

/* Values equal the wire protocol's (proto/tanfang.proto). */
enum tanfang_visit_kind {
	TANFANG_VISIT_DOOR = 1,            /* 上门走访 */
	TANFANG_VISIT_PHONE = 2,           /* 通讯探访 */
	TANFANG_VISIT_NEIGHBOUR_CHECK = 3, /* "1+2" neighbour household check */
	TANFANG_VISIT_HEALTH = 4,
	TANFANG_VISIT_PARTY_MEMBER = 5,
};

enum tanfang_finding {
	TANFANG_FINDING_NONE = 0, /* not assessed */
	TANFANG_FINDING_OK = 1,
	TANFANG_FINDING_CONCERN = 2,
	TANFANG_FINDING_URGENT = 3,
};

/* The six aids (六助). As a set (tanfang_visit.needs): bit (1u << aid). */
enum tanfang_aid {
	TANFANG_AID_NONE = 0,
	TANFANG_AID_MEALS = 1,
	TANFANG_AID_MEDICAL = 2,
	TANFANG_AID_MOBILITY = 3,
	TANFANG_AID_CLEANING = 4,
	TANFANG_AID_BATHING = 5,
	TANFANG_AID_EMERGENCY = 6,
};
#define TANFANG_AID_BIT(aid) (1u << (aid))

enum tanfang_event_type {
	TANFANG_EVENT_FALL = 1,
	TANFANG_EVENT_ILLNESS = 2,
	TANFANG_EVENT_HOSPITALISED = 3,
	TANFANG_EVENT_DISCHARGED = 4,
	TANFANG_EVENT_EMERGENCY_CALL = 5,
	TANFANG_EVENT_HAZARD_FOUND = 6,
	TANFANG_EVENT_SERVICE_DELIVERED = 7,
	TANFANG_EVENT_HOTLINE_REQUEST = 8, /* 12345 complaint or request */
	TANFANG_EVENT_MOVED_AWAY = 9,
	TANFANG_EVENT_DECEASED = 10,
};

enum tanfang_severity {
	TANFANG_SEVERITY_INFO = 1,
	TANFANG_SEVERITY_WARNING = 2,
	TANFANG_SEVERITY_URGENT = 3,
};

struct tanfang_assessment {
	enum tanfang_finding finding;
	const char *note; /* UTF-8; NULL = none */
};

/* A visit to record. Zero-initialise, then fill what applies. Strings are
 * UTF-8 and copied; the struct is not kept. */
struct tanfang_visit {
	const char *elder_id; /* required */
	enum tanfang_visit_kind kind;
	int64_t visited_at; /* unix seconds; 0 = now */
	bool has_location;
	double lat, lon;   /* WGS-84 degrees */
	double accuracy_m; /* 0 = unknown */
	uint32_t duration_min;
	struct tanfang_assessment basic_living;    /* 基本生活 */
	struct tanfang_assessment safety_risk;     /* 安全风险 */
	struct tanfang_assessment family_support;  /* 家庭赡养 */
	struct tanfang_assessment care_protection; /* 关爱保护 */
	uint32_t needs;                            /* set of TANFANG_AID_BIT(TANFANG_AID_*) */
	bool follow_up;
	const char *note; /* NULL = none */
	bool has_id;      /* use id below instead of a random one */
	uint8_t id[TANFANG_ID_LEN];
};

/* A care event to record; same conventions as tanfang_visit. */
struct tanfang_event {
	const char *elder_id; /* required */
	enum tanfang_event_type type;
	enum tanfang_severity severity;
	int64_t occurred_at;  /* unix seconds; 0 = now */
	enum tanfang_aid aid; /* the service, for TANFANG_EVENT_SERVICE_DELIVERED */
	const char *note;
	bool has_id;
	uint8_t id[TANFANG_ID_LEN];
};

/* Called by tanfang_sync for every reply that settles an entry (status is a
 * wire status name such as "STATUS_OK"), before the outbox change for it is
 * committed. Return 0 to go on, non-zero to end the sync early. */
typedef int (*tanfang_progress_cb)(void *ctx, const uint8_t id[TANFANG_ID_LEN], const char *status);

struct tanfang_sync_opts {
	unsigned attempts;            /* passes over the outbox; 0 = 5 */
	unsigned base_delay_ms;       /* backoff before pass 2; doubles each pass; 0 = 500 */
	unsigned max_delay_ms;        /* backoff cap; 0 = 30000 */
	unsigned timeout_ms;          /* wait for the next reply before a pass gives up; 0 = 5000 */
	unsigned window;              /* envelopes in flight; 0 = 64 */
	tanfang_progress_cb progress; /* may be NULL */
	void *progress_ctx;
};

struct tanfang_sync_result {
	size_t sent;      /* frames sent, resends included */
	size_t ok;        /* acknowledged as newly stored */
	size_t duplicate; /* acknowledged as already stored */
	size_t refused;   /* refused for good in this run, moved to the refused list */
	size_t retried;   /* transient refusals (store full, internal) */
	size_t pending;   /* still pending at the end */
	unsigned passes;  /* passes made */
};

/* One refused record, as given to tanfang_refused_foreach's callback;
 * strings are valid only during the callback. */
struct tanfang_refusal {
	char id_hex[TANFANG_ID_HEX_LEN];
	const char *status;   /* e.g. "STATUS_UNKNOWN_ELDER" */
	const char *detail;   /* the daemon's explanation, maybe "" */
	const char *what;     /* "visit" or "care_event" ("?" if unreadable) */
	const char *elder_id; /* "" if unreadable */
	int64_t recorded_ms;  /* when it was recorded (signed), unix ms */
};

/* One pending record, as given to tanfang_pending_foreach's callback. */
struct tanfang_pending {
	char id_hex[TANFANG_ID_HEX_LEN];
	const char *what;
	const char *elder_id;
	int64_t recorded_ms;
};

struct tanfang;

/* Creates the device folder dir (and its parents, mode 0700) and a new
 * device key in dir/device.key, and writes its public key as 64 lowercase
 * hex digits + NUL to pk_hex. Returns 0, -EEXIST if the folder already has a
 * key (it is never replaced), or a negative code. */
int tanfang_keygen(const char *dir, char pk_hex[TANFANG_PK_HEX_LEN]) TANFANG_MUST_CHECK;

/* Opens the device folder: loads the key and opens (creating) the outbox.
 * Returns 0, -ENOENT if there is no device key (run tanfang_keygen),
 * TANFANG_E_MALFORMED for an unreadable key file, or a negative code. */
int tanfang_open(const char *dir, struct tanfang **out) TANFANG_MUST_CHECK;
/* Closes; NULL is fine. The key is wiped from memory. */
void tanfang_close(struct tanfang *h);

/* Pins the library's clock to unix seconds (0: the real clock again), for
 * tests against a daemon started with --now. */
void tanfang_pin_clock(int64_t unix_seconds);

/* The device's public key, 64 lowercase hex digits + NUL. */
void tanfang_pubkey_hex(const struct tanfang *h, char out[TANFANG_PK_HEX_LEN]);

/* Builds, signs and durably stores a visit; id_out (may be NULL) gets its
 * record id. Once this returns 0 the visit survives a crash and will be
 * delivered by tanfang_sync. Returns 0, -EINVAL for an elder id that is not
 * 1..64 of [A-Za-z0-9_.-], an unknown kind/finding/aid, non-finite or
 * out-of-range coordinates (or an accuracy above 100 km), a duration above
 * 24 h, a note above 4000 bytes, text that is not valid UTF-8, or a
 * visited_at outside 2000-01-01 to 2100-01-01 (the daemon's range);
 * TANFANG_E_FUTURE for a visit dated more than 10 minutes after the device's
 * clock (the daemon would refuse it as STATUS_DATED_IN_FUTURE: nothing can
 * have happened then); -EEXIST if a caller-given id was refused;
 * TANFANG_E_MAPFULL / -ENOSPC when the device is full; or a negative code. */
int tanfang_record_visit(struct tanfang *h, const struct tanfang_visit *v,
                         uint8_t id_out[TANFANG_ID_LEN]) TANFANG_MUST_CHECK;
/* The same for a care event. */
int tanfang_record_event(struct tanfang *h, const struct tanfang_event *e,
                         uint8_t id_out[TANFANG_ID_LEN]) TANFANG_MUST_CHECK;

/* Delivers the pending records to the daemon at endpoint (e.g.
 * "tcp://10.0.0.5:7480"; server_key_z85 = the daemon's CURVE public key, or
 * NULL / "" for none). An entry leaves the outbox only when the daemon
 * acknowledged it (stored, or already stored); a permanent refusal moves it
 * to the refused list; store-full, internal errors and silence leave it
 * pending, and the pass is retried with exponential backoff until nothing is
 * pending or the attempts run out. opts may be NULL; res (may be NULL) is
 * filled in every case. Returns 0 when nothing is pending at the end,
 * TANFANG_E_TIMEOUT when records are still pending, TANFANG_E_SIGNER when the
 * daemon refused this device's key at the connection (not enrolled, or
 * revoked: no retry, the records stay pending), -ECANCELED when the
 * progress callback ended it, -EINVAL for a bad endpoint or server key
 * (checked once there is something to send), or another negative code (a
 * local failure). */
int tanfang_sync(struct tanfang *h, const char *endpoint, const char *server_key_z85,
                 const struct tanfang_sync_opts *opts,
                 struct tanfang_sync_result *res) TANFANG_MUST_CHECK;

/* Pending and refused counts (either pointer may be NULL). */
int tanfang_status(struct tanfang *h, size_t *pending, size_t *refused) TANFANG_MUST_CHECK;

/* Calls cb for every refused record. cb returns 0 to go on, > 0 to stop, or
 * a negative code to stop with it. Do not call other tanfang functions on h
 * from cb. Returns 0 or a negative code. */
typedef int (*tanfang_refusal_cb)(void *ctx, const struct tanfang_refusal *r);
int tanfang_refused_foreach(struct tanfang *h, tanfang_refusal_cb cb, void *ctx) TANFANG_MUST_CHECK;

/* Calls cb for every pending record, oldest first; same contract. */
typedef int (*tanfang_pending_cb)(void *ctx, const struct tanfang_pending *p);
int tanfang_pending_foreach(struct tanfang *h, tanfang_pending_cb cb, void *ctx) TANFANG_MUST_CHECK;

/* Puts a refused record back in the outbox, unchanged (same signature, same
 * id), e.g. once the admin has registered the elder it named. Returns 0,
 * -ENOENT if no refused record has this id, or a negative code. */
int tanfang_requeue(struct tanfang *h, const uint8_t id[TANFANG_ID_LEN]) TANFANG_MUST_CHECK;

/* Names for user input, as in the CLI ("door", "neighbour_check", "concern",
 * "meals", "fall", "urgent", ... case-insensitive). Return the value, or -1
 * if the name is unknown. */
int tanfang_visit_kind_value(const char *name);
int tanfang_finding_value(const char *name);
int tanfang_aid_value(const char *name);
int tanfang_event_type_value(const char *name);
int tanfang_severity_value(const char *name);

/* Text for any code these functions return. Never NULL. */
const char *tanfang_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
