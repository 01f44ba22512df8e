/* The one edge where protobuf-c is called (pack, unpack, free).
 *
 * Other modules read and fill the generated message structs through the short
 * type names below, but never call protobuf-c themselves; that keeps the
 * library swappable and every decode behind the size and UTF-8 checks here. */
#ifndef TF_WIRE_H
#define TF_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "store.pb-c.h"
#include "tanfang.pb-c.h"
#include "tf_err.h"

typedef Tanfang__V1__Envelope tf_envelope;
typedef Tanfang__V1__Request tf_request;
typedef Tanfang__V1__Reply tf_reply;
typedef Tanfang__V1__Visit tf_visit;
typedef Tanfang__V1__CareEvent tf_care_event;
typedef Tanfang__V1__Area tf_area;
typedef Tanfang__V1__Elder tf_elder;
typedef Tanfang__V1__Visitor tf_visitor;
typedef Tanfang__V1__DeviceKey tf_device_key;
typedef Tanfang__V1__Alert tf_alert;
typedef Tanfang__Store__Record tf_record;
typedef Tanfang__Store__Duty tf_duty;
typedef Tanfang__Store__ElderFact tf_elder_fact;
typedef Tanfang__Store__FiledReport tf_filed_report;

/* Which message a buffer holds. */
enum wire_type {
	WIRE_ENVELOPE,
	WIRE_REQUEST,
	WIRE_REPLY,
	WIRE_VISIT,
	WIRE_CARE_EVENT,
	WIRE_AREA,
	WIRE_ELDER,
	WIRE_VISITOR,
	WIRE_DEVICE_KEY,
	WIRE_ALERT,
	WIRE_RECORD,
	WIRE_DUTY,
	WIRE_ELDER_FACT,
	WIRE_FILED_REPORT,
	WIRE_IMPORT_ELDERS,
	WIRE_IMPORT_VISITORS,
	WIRE_TYPE_COUNT,
};

/* Decodes `len` bytes as a message of `type` into *out (free with
 * wire_free). Besides protobuf-c's own checks it refuses, in every message
 * nested inside too, a string field whose bytes on the wire hold a NUL or
 * are not strict UTF-8, and an enum value outside the declared ones
 * (wire_check). Returns 0, TF_E_MALFORMED, or -ENOMEM. */
int wire_unpack(enum wire_type type, const uint8_t *buf, size_t len, void **out) TF_MUST_CHECK;

/* wire_check flags. WIRE_STRICT: a field number the message does not
 * declare is refused too (protobuf-c would keep it unread and pack it again
 * into what is stored); for requests, never for replies, where a newer
 * daemon may add fields. */
#define WIRE_STRICT 1u

/* Walks the `len` bytes of a packed message of `type` with its descriptor,
 * before any unpacking: every string field of every message (nested and
 * repeated included) must be strict UTF-8 without a NUL byte, measured over
 * its length on the wire (protobuf-c's char * would cut at a NUL: issue 8,
 * item 6); every enum value declared; every length within the buffer.
 * Returns 0 or TF_E_MALFORMED with why (whylen bytes; may be NULL) naming
 * the field by its path and the fault, e.g. "visit.note: embedded NUL byte
 * at byte 2 of 7" or "import_elders.elders[3].name: invalid UTF-8 ...". */
int wire_check(enum wire_type type, const uint8_t *buf, size_t len, unsigned flags, char *why,
               size_t whylen) TF_MUST_CHECK;

/* Cuts an incomplete UTF-8 sequence from the end of s, as a byte-bounded
 * snprintf leaves when it truncates text in the middle of a character: a
 * reply's detail must stay valid UTF-8, or the client cannot decode the
 * reply. Text that was valid before the cut is valid after. */
void wire_utf8_truncate(char *s);

/* wire_check with flags, then the unpack of wire_unpack. Returns 0,
 * TF_E_MALFORMED (why says which field and why, as wire_check), or -ENOMEM. */
int wire_unpack_detail(enum wire_type type, const uint8_t *buf, size_t len, unsigned flags,
                       char *why, size_t whylen, void **out) TF_MUST_CHECK;

/* The same for bytes this daemon packed itself from checked messages (the
 * registry's spans, read a million times by a report): protobuf-c's own
 * checks, not the UTF-8 and enum walk again. Returns 0, TF_E_MALFORMED or
 * -ENOMEM. */
int wire_unpack_stored(enum wire_type type, const uint8_t *buf, size_t len,
                       void **out) TF_MUST_CHECK;

/* An arena for many short-lived decodes (a report decodes every elder's
 * registry state): messages unpacked into it are never freed one by one;
 * wire_arena_reset drops them all and keeps the memory for the next. */
struct wire_arena;
int wire_arena_new(struct wire_arena **out) TF_MUST_CHECK;
void wire_arena_reset(struct wire_arena *a);
void wire_arena_free(struct wire_arena *a);
/* wire_unpack_stored into the arena; *out lives until the next reset. */
int wire_unpack_arena(enum wire_type type, const uint8_t *buf, size_t len, struct wire_arena *a,
                      void **out) TF_MUST_CHECK;

/* Encodes msg into a new malloc'd buffer (*out, *out_len; caller frees).
 * Returns 0 or -ENOMEM. */
int wire_pack(enum wire_type type, const void *msg, uint8_t **out, size_t *out_len) TF_MUST_CHECK;

/* Frees a message returned by wire_unpack; NULL is fine. Never use it on a
 * message built by hand. */
void wire_free(enum wire_type type, void *msg);

/* Initialisers for hand-built messages: `tf_visit v; wire_init(WIRE_VISIT, &v);` */
void wire_init(enum wire_type type, void *msg);

/* Names of enum values for output, e.g. wire_status_name(TANFANG__V1__STATUS__STATUS_OK)
 * returns "STATUS_OK". Never NULL ("?" for unknown values). */
const char *wire_status_name(int status);
const char *wire_visit_kind_name(int kind);   /* "door", "phone", ... */
const char *wire_role_name(int role);         /* "grid_worker", ... */
const char *wire_category_name(int category); /* "living_alone", ... */
const char *wire_event_type_name(int type);   /* "fall", ... */
const char *wire_severity_name(int sev);      /* "info", ... */
const char *wire_elder_status_name(int st);   /* "active", ... */
const char *wire_tier_name(int tier);         /* "general", "key", "high" */
const char *wire_aid_name(int aid);           /* "meals", ... */
const char *wire_finding_name(int f);         /* "ok", "concern", "urgent" */

/* Reverse lookups for the short lowercase names above (as used in the CLI,
 * CSV files and the policy file). Return the value, or -1 if unknown. */
int wire_visit_kind_value(const char *name);
int wire_role_value(const char *name);
int wire_category_value(const char *name);
int wire_event_type_value(const char *name);
int wire_severity_value(const char *name);
int wire_elder_status_value(const char *name);
int wire_tier_value(const char *name);
int wire_aid_value(const char *name);
int wire_finding_value(const char *name);

#endif
