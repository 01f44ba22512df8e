#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ProtobufCMessageDescriptor *descriptors[WIRE_TYPE_COUNT] = {
    [WIRE_ENVELOPE] = &tanfang__v1__envelope__descriptor,
    [WIRE_REQUEST] = &tanfang__v1__request__descriptor,
    [WIRE_REPLY] = &tanfang__v1__reply__descriptor,
    [WIRE_VISIT] = &tanfang__v1__visit__descriptor,
    [WIRE_CARE_EVENT] = &tanfang__v1__care_event__descriptor,
    [WIRE_AREA] = &tanfang__v1__area__descriptor,
    [WIRE_ELDER] = &tanfang__v1__elder__descriptor,
    [WIRE_VISITOR] = &tanfang__v1__visitor__descriptor,
    [WIRE_DEVICE_KEY] = &tanfang__v1__device_key__descriptor,
    [WIRE_ALERT] = &tanfang__v1__alert__descriptor,
    [WIRE_RECORD] = &tanfang__store__record__descriptor,
    [WIRE_DUTY] = &tanfang__store__duty__descriptor,
    [WIRE_ELDER_FACT] = &tanfang__store__elder_fact__descriptor,
    [WIRE_FILED_REPORT] = &tanfang__store__filed_report__descriptor,
    [WIRE_IMPORT_ELDERS] = &tanfang__v1__import_elders__descriptor,
    [WIRE_IMPORT_VISITORS] = &tanfang__v1__import_visitors__descriptor,
};

/* ---- the check over the wire bytes (issue 8, item 6) ----
 *
 * protobuf-c hands a string field over as a NUL-terminated char *, so a NUL
 * inside the text would cut it silently after unpacking: elder id
 * "E2\0junk" would be stored as "E2", and two visits whose notes differ after
 * a NUL would dedupe as one, the second acknowledged and never stored. So
 * every string is checked over its length on the wire, before unpacking, by
 * a walk the message descriptors drive: every string field of every message,
 * nested or repeated, is strict UTF-8 without a NUL, and every enum value is
 * a declared one. Bytes fields carry binary data (ids, keys, bodies): the
 * walk checks that their length fits the message; their exact sizes are the
 * request checks' business (reqcheck.c). */

#define WALK_DEPTH_MAX 16

struct walk {
	unsigned flags;
	/* The fields being read, outermost first: the path of a refusal (e.g.
	 * "visit.basic_living.note") is spelled out only when one is made, so
	 * a message that passes costs no formatting. */
	struct {
		const ProtobufCFieldDescriptor *f;
		int index; /* occurrence of a repeated field, or -1 */
	} frame[WALK_DEPTH_MAX + 2];
	unsigned depth;
	char path[200];
	char *why; /* NULL: the caller wants no detail */
	size_t whylen;
};

/* The path of the field being read, spelled into w->path. */
static const char *walk_path(struct walk *w)
{
	size_t n = 0;
	w->path[0] = '\0';
	for (unsigned i = 0; i < w->depth && n < sizeof w->path; i++) {
		int k = w->frame[i].index < 0
		            ? snprintf(w->path + n, sizeof w->path - n, "%s%s", i ? "." : "",
		                       w->frame[i].f->name)
		            : snprintf(w->path + n, sizeof w->path - n, "%s%s[%d]", i ? "." : "",
		                       w->frame[i].f->name, w->frame[i].index);
		if (k < 0)
			break;
		n += (size_t)k;
	}
	return w->path;
}

static int walk_fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int walk_fail(struct walk *w, const char *fmt, ...)
{
	if (w->why && w->whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->why, w->whylen, fmt, ap);
		va_end(ap);
	}
	return TF_E_MALFORMED;
}

/* A base-128 varint of at most 10 bytes; false if it runs past end. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) and no
 * NUL, over exactly n bytes. Returns NULL, or what is wrong with *at set to
 * the offset of the first bad byte. The text ends up in reports and in CSV
 * exports that offices open in Excel. */
static const char *text_problem(const uint8_t *s, size_t n, size_t *at)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t k;
		unsigned min, cp;
		if (c == 0) {
			*at = i;
			return "embedded NUL byte";
		}
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			k = 1, min = 0x80, cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			k = 2, min = 0x800, cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			k = 3, min = 0x10000, cp = c & 0x07;
		} else {
			goto bad;
		}
		if (n - i <= k)
			goto bad;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad;
		i += k + 1;
	}
	return NULL;
bad:
	*at = i;
	return "invalid UTF-8";
}

/* protobuf-c keeps the low 32 bits of an enum's varint. */
static int enum_check(struct walk *w, const ProtobufCFieldDescriptor *f, uint64_t v)
{
	int value = (int)(int32_t)(uint32_t)v;
	if (protobuf_c_enum_descriptor_get_value(f->descriptor, value))
		return 0;
	return walk_fail(w, "%s: %d is not a known %s value", walk_path(w), value,
	                 ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
}

static int walk_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                        int depth, struct walk *w);

/* One occurrence of field f on the wire: wire type wt, and either the
 * varint num (wt 0) or the len bytes at val (wt 2). */
static int walk_field(const ProtobufCFieldDescriptor *f, unsigned wt, uint64_t num,
                      const uint8_t *val, size_t len, int depth, struct walk *w)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		if (wt != 2)
			break;
		size_t at;
		const char *problem = text_problem(val, len, &at);
		if (problem)
			return walk_fail(w, "%s: %s at byte %zu of %zu", walk_path(w), problem, at,
			                 len);
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return wt == 2 ? 0 : walk_fail(w, "%s: not bytes", walk_path(w));
	case PROTOBUF_C_TYPE_MESSAGE:
		if (wt != 2)
			break;
		return walk_message(f->descriptor, val, len, depth + 1, w);
	case PROTOBUF_C_TYPE_ENUM:
		if (wt == 0)
			return enum_check(w, f, num);
		if (wt == 2 && f->label == PROTOBUF_C_LABEL_REPEATED) {
			/* Packed: a run of varints. */
			const uint8_t *end = val + len;
			while (val < end) {
				if (!read_varint(&val, end, &num))
					return walk_fail(w, "%s: truncated packed list",
					                 walk_path(w));
				int r = enum_check(w, f, num);
				if (r < 0)
					return r;
			}
			return 0;
		}
		break;
	default: return 0; /* numbers: protobuf-c checks their wire types */
	}
	return walk_fail(w, "%s: wrong wire type %u", walk_path(w), wt);
}

static int walk_message(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                        int depth, struct walk *w)
{
	if (depth > WALK_DEPTH_MAX)
		return walk_fail(w, "%s: messages nested more than %d deep", walk_path(w),
		                 WALK_DEPTH_MAX);
	if (!len)
		return 0;        /* an empty message (p may be NULL: no arithmetic on it) */
	unsigned seen[64] = {0}; /* occurrences of each repeated field: its index */
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t tag, num = 0;
		if (!read_varint(&p, end, &tag) || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
			return walk_fail(w, "%s%snot valid protobuf (bad field tag)", walk_path(w),
			                 w->depth ? ": " : "");
		unsigned wt = tag & 7;
		const uint8_t *val = NULL;
		switch (wt) {
		case 0:
			if (!read_varint(&p, end, &num))
				goto truncated;
			break;
		case 1:
			if (end - p < 8)
				goto truncated;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				goto truncated;
			p += 4;
			break;
		case 2:
			if (!read_varint(&p, end, &num) || num > (uint64_t)(end - p))
				goto truncated;
			val = p;
			p += num;
			break;
		default:
			return walk_fail(w, "%s%snot valid protobuf (wire type %u)", walk_path(w),
			                 w->depth ? ": " : "", wt);
		}
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
		if (!f) {
			/* protobuf-c would keep it, unread, and pack it again into a
			 * stored record: a request holds only what this version knows. */
			if (w->flags & WIRE_STRICT)
				return walk_fail(w, "%s%sfield number %u is not part of %s",
				                 walk_path(w), w->depth ? ": " : "",
				                 (unsigned)(tag >> 3), d->name);
			continue;
		}
		size_t fi = (size_t)(f - d->fields);
		w->frame[depth].f = f;
		w->frame[depth].index = f->label == PROTOBUF_C_LABEL_REPEATED && fi < 64 &&
		                                f->type != PROTOBUF_C_TYPE_ENUM
		                            ? (int)seen[fi]++
		                            : -1;
		w->depth = (unsigned)depth + 1;
		int r = walk_field(f, wt, num, val, wt == 2 ? (size_t)num : 0, depth, w);
		w->depth = (unsigned)depth;
		if (r < 0)
			return r;
	}
	return 0;
truncated:
	return walk_fail(w, "%s%snot valid protobuf (truncated)", walk_path(w),
	                 w->depth ? ": " : "");
}

void wire_utf8_truncate(char *s)
{
	size_t n = strlen(s), i = n;
	/* The last lead byte within the last four bytes, if any. */
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
		return; /* ends in ASCII, or only continuation bytes: nothing to mend */
	unsigned c = (unsigned char)s[i - 1];
	size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

int wire_check(enum wire_type type, const uint8_t *buf, size_t len, unsigned flags, char *why,
               size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	if ((unsigned)type >= WIRE_TYPE_COUNT || (!buf && len))
		return TF_E_MALFORMED;
	struct walk w = {.flags = flags, .why = why, .whylen = whylen};
	return walk_message(descriptors[type], buf, len, 0, &w);
}

int wire_unpack_detail(enum wire_type type, const uint8_t *buf, size_t len, unsigned flags,
                       char *why, size_t whylen, void **out)
{
	*out = NULL;
	int r = wire_check(type, buf, len, flags, why, whylen);
	if (r < 0)
		return r;
	ProtobufCMessage *m = protobuf_c_message_unpack(descriptors[type], NULL, len, buf);
	if (!m) {
		if (why && whylen)
			snprintf(why, whylen, "not valid protobuf");
		return TF_E_MALFORMED;
	}
	*out = m;
	return 0;
}

int wire_unpack(enum wire_type type, const uint8_t *buf, size_t len, void **out)
{
	return wire_unpack_detail(type, buf, len, 0, NULL, 0, out);
}

int wire_unpack_stored(enum wire_type type, const uint8_t *buf, size_t len, void **out)
{
	*out = NULL;
	if ((unsigned)type >= WIRE_TYPE_COUNT || (!buf && len))
		return TF_E_MALFORMED;
	ProtobufCMessage *m = protobuf_c_message_unpack(descriptors[type], NULL, len, buf);
	if (!m)
		return TF_E_MALFORMED;
	*out = m;
	return 0;
}

/* Chunks of 64 KiB, bump-allocated; a larger request gets its own chunk. */
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

struct wire_arena {
	struct arena_chunk *head; /* the chunk in use; older ones follow */
	ProtobufCAllocator pa;
	bool failed;
};

static void *arena_alloc(void *data, size_t size)
{
	struct wire_arena *a = data;
	size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	struct arena_chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		/* A reset keeps only the first chunk; look for room in a new one. */
		size_t want = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		c = malloc(sizeof *c + want);
		if (!c) {
			a->failed = true;
			return NULL;
		}
		c->size = want, c->used = 0, c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

static void arena_free(void *data, void *p)
{
	(void)data, (void)p; /* all at once, in wire_arena_reset */
}

int wire_arena_new(struct wire_arena **out)
{
	struct wire_arena *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->pa = (ProtobufCAllocator){arena_alloc, arena_free, a};
	*out = a;
	return 0;
}

void wire_arena_reset(struct wire_arena *a)
{
	if (!a || !a->head)
		return;
	/* Keep the oldest chunk, the usual working size; free the rest. */
	struct arena_chunk *c = a->head;
	while (c->next) {
		struct arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	c->used = 0;
	a->head = c;
	a->failed = false;
}

void wire_arena_free(struct wire_arena *a)
{
	if (!a)
		return;
	for (struct arena_chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

int wire_unpack_arena(enum wire_type type, const uint8_t *buf, size_t len, struct wire_arena *a,
                      void **out)
{
	*out = NULL;
	if ((unsigned)type >= WIRE_TYPE_COUNT || (!buf && len))
		return TF_E_MALFORMED;
	ProtobufCMessage *m = protobuf_c_message_unpack(descriptors[type], &a->pa, len, buf);
	if (!m)
		return a->failed ? -ENOMEM : TF_E_MALFORMED;
	*out = m;
	return 0;
}

int wire_pack(enum wire_type type, const void *msg, uint8_t **out, size_t *out_len)
{
	(void)type;
	const ProtobufCMessage *m = msg;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	size_t w = protobuf_c_message_pack(m, buf);
	if (w != n) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

void wire_free(enum wire_type type, void *msg)
{
	(void)type;
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

void wire_init(enum wire_type type, void *msg)
{
	protobuf_c_message_init(descriptors[type], msg);
}

/* Enum names: the generated descriptors carry the full proto names
 * ("VISIT_KIND_DOOR"); the CLI, CSV and policy files use the short lowercase
 * tail ("door"). One table-driven helper serves every enum. */
static const char *short_name(const ProtobufCEnumDescriptor *ed, const char *prefix, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	if (!ev)
		return "?";
	/* A few rotating per-thread buffers, so two names can be used in one
	 * printf call without the caller managing memory. */
	static __thread char buf[8][64];
	static __thread unsigned slot;
	char *o = buf[slot++ % 8];
	const char *s = ev->name;
	size_t pl = strlen(prefix);
	if (strncmp(s, prefix, pl) == 0)
		s += pl;
	size_t i = 0;
	for (; s[i] && i < 63; i++)
		o[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
	o[i] = '\0';
	return o;
}

static int short_value(const ProtobufCEnumDescriptor *ed, const char *prefix, const char *name)
{
	if (!name)
		return -1;
	for (unsigned i = 0; i < ed->n_values; i++) {
		const char *s = ed->values[i].name;
		size_t pl = strlen(prefix);
		if (strncmp(s, prefix, pl) == 0)
			s += pl;
		if (strcasecmp(s, name) == 0 && strcasecmp(s, "unspecified") != 0)
			return ed->values[i].value;
	}
	return -1;
}

#define ENUM_NAMES(fn, vfn, desc, prefix)                                                          \
	const char *fn(int v)                                                                      \
	{                                                                                          \
		return short_name(&desc, prefix, v);                                               \
	}                                                                                          \
	int vfn(const char *name)                                                                  \
	{                                                                                          \
		return short_value(&desc, prefix, name);                                           \
	}

const char *wire_status_name(int status)
{
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(&tanfang__v1__status__descriptor, status);
	return ev ? ev->name : "?";
}

ENUM_NAMES(wire_visit_kind_name, wire_visit_kind_value, tanfang__v1__visit_kind__descriptor,
           "VISIT_KIND_")
ENUM_NAMES(wire_role_name, wire_role_value, tanfang__v1__role__descriptor, "ROLE_")
ENUM_NAMES(wire_category_name, wire_category_value, tanfang__v1__category__descriptor, "CATEGORY_")
ENUM_NAMES(wire_event_type_name, wire_event_type_value, tanfang__v1__care_event_type__descriptor,
           "CARE_EVENT_TYPE_")
ENUM_NAMES(wire_severity_name, wire_severity_value, tanfang__v1__severity__descriptor, "SEVERITY_")
ENUM_NAMES(wire_elder_status_name, wire_elder_status_value, tanfang__v1__elder_status__descriptor,
           "ELDER_STATUS_")
ENUM_NAMES(wire_tier_name, wire_tier_value, tanfang__v1__risk_tier__descriptor, "RISK_TIER_")
ENUM_NAMES(wire_aid_name, wire_aid_value, tanfang__v1__aid__descriptor, "AID_")
ENUM_NAMES(wire_finding_name, wire_finding_value, tanfang__v1__finding__descriptor, "FINDING_")
