#include "wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
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
};

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF.
 * protobuf-c does not check string fields, and the text ends up in reports
 * and CSV exports that offices open in Excel. */
static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s;
		size_t n;
		unsigned min;
		unsigned cp;
		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1, min = 0x80, cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2, min = 0x800, cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		s += n + 1;
	}
	return true;
}

static bool enum_known(const ProtobufCEnumDescriptor *ed, int value)
{
	return protobuf_c_enum_descriptor_get_value(ed, value) != NULL;
}

static bool message_valid(const ProtobufCMessage *m, int depth);

static bool field_value_valid(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		/* protobuf-c NUL-terminates strings; an embedded NUL would silently
		 * truncate the text, so the length is checked by the caller's
		 * unpack of the raw bytes. Here only the encoding. */
		return !s || utf8_valid((const unsigned char *)s);
	}
	case PROTOBUF_C_TYPE_ENUM: return enum_known(f->descriptor, *(const int *)p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return !sub || message_valid(sub, depth + 1);
	}
	default: return true;
	}
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
	case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
	default: return 0; /* not checked */
	}
}

static bool message_valid(const ProtobufCMessage *m, int depth)
{
	if (depth > 16)
		return false;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t sz = field_size(f);
		if (!sz)
			continue;
		const char *base = (const char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			const char *arr = *(char *const *)base;
			for (size_t k = 0; k < n; k++)
				if (!field_value_valid(f, arr + k * sz, depth))
					return false;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which =
			    *(const uint32_t *)((const char *)m + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		if (!field_value_valid(f, base, depth))
			return false;
	}
	return true;
}

int wire_unpack(enum wire_type type, const uint8_t *buf, size_t len, void **out)
{
	*out = NULL;
	if ((unsigned)type >= WIRE_TYPE_COUNT || (!buf && len))
		return TF_E_MALFORMED;
	ProtobufCMessage *m = protobuf_c_message_unpack(descriptors[type], NULL, len, buf);
	if (!m)
		return TF_E_MALFORMED;
	if (!message_valid(m, 0)) {
		protobuf_c_message_free_unpacked(m, NULL);
		return TF_E_MALFORMED;
	}
	*out = m;
	return 0;
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
