/*
 * codec.c — the envelope's wire form (codec.h) and a non-allocating msgpack validator.
 *
 * Why a hand-written validator: msgpack-c's unpacker trusts container headers and reserves
 * memory for the elements an array32/map32 header announces before it has seen them, so a
 * five-byte frame (dd ff ff ff ff) can ask for 64 GiB. The validator walks headers only, keeps
 * its state on the stack, and refuses any header announcing more elements or bytes than the
 * buffer still holds, so nothing is allocated for input that cannot be a real object.
 *
 * Encoding writes msgpack-c's exact bytes directly into the caller's buffer with the
 * unchecked tr_mp_put_* of troupe.h, after one bounds check for the whole envelope (see the
 * encoding section for why not through a packer).
 * Decoding reads the twelve fields with the bounds-checked tr_mp_reader: the envelope has a
 * fixed shape of scalars, so no msgpack object tree (and no zone) is built, and the only
 * allocation is the message itself, sized by a body length the reader has proven to be inside
 * the buffer. A buffer the reader accepts is one well-formed object, so the validator runs
 * only on the buffers the reader refuses: on malformed bytes the error code is the
 * validator's (TR_EPROTO), on well-formed ones the reader's (TR_EVERSION or TR_EPROTO).
 * Ahead of the reader, a fast path takes the layout our own encoder writes (fixints and
 * uint8..64, nil or fixstr name, bin8/16 body) in one pass without per-field dispatch; it
 * only ever accepts or passes the buffer on, so odd or hostile input always meets the
 * general reader and the validator, which alone decide every refusal and its error code.
 */
#include "runtime/codec.h"

#include <string.h>

#include "runtime/assert.h"
#include "runtime/engine.h"
#include "runtime/internal.h" /* the tr_msg.flags_ bits */
#include "runtime/mp.h"

#define ENVELOPE_VERSION 1 /* the frame kind ENVELOPE; the layout is protocol 2's */
#define ENVELOPE_FIELDS 12
#define TRACE_WIRE_LEN 25 /* trace id 16, parent span 8, flags 1 */
/* The flags_ bits that mean something on another node. Others are node-local state: never
 * sent, and ignored when a peer sends them (a later version may define them). Keeping the
 * wire flags below 128 keeps the field one byte, within TR_ENVELOPE_OVERHEAD_MAX. */
#define WIRE_FLAGS TR__F_REPLY
_Static_assert(WIRE_FLAGS < 128, "wire flags must stay a positive fixint");
/* The validator's stack: one pending-element count per open container. */
#define CHECK_STACK_MAX 256

/* ---- Reading big-endian integers (the caller has checked the bounds) --------------------- */

/* n is 1, 2, 4 or 8 (a msgpack length or integer field): one load each. */
static inline uint64_t load_be(const uint8_t *p, size_t n) {
    switch (n) {
    case 1: return p[0];
    case 2: return tr_load_be16(p);
    case 4: return tr_load_be32(p);
    default: TR_DEBUG_ASSERT(n == 8); return tr_load_be64(p);
    }
}

/* Copies n bytes. Envelope bodies and names are mostly short, and a call into memcpy for a
 * dozen bytes cost more than the rest of a field: up to 32 bytes are copied inline with two
 * overlapping loads and stores (of 1, 4, 8 or 16 bytes), as memcpy itself would. */
static inline void copy_bytes(uint8_t *d, const uint8_t *s, size_t n) {
    if (n > 32) {
        memcpy(d, s, n);
    } else if (n >= 16) {
        uint8_t a[16], b[16];
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n > 0) {
        uint8_t a = s[0], b = s[n / 2], c = s[n - 1];
        d[0] = a;
        d[n / 2] = b;
        d[n - 1] = c;
    }
}

/* ---- The validator ----------------------------------------------------------------------- */

/* One msgpack header: how many header bytes, how many payload bytes follow directly, and how
 * many child objects follow (containers). */
typedef struct header {
    size_t head;       /* bytes of the header itself, including the type byte */
    size_t len_bytes;  /* bytes of the length field (0 for fixed-size types) */
    uint64_t payload;  /* raw bytes after the header (str, bin, ext data, scalars) */
    uint64_t children; /* objects after the header (2 per map entry) */
    bool container;
} header;

/* Classifies the type byte b. Returns false for the reserved byte 0xc1. Length-prefixed
 * types get len_bytes set; their payload/children are read by parse_header. */
static bool classify(uint8_t b, header *h) {
    *h = (header){.head = 1};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return true; /* fixints, nil, false, true */
    }
    if (b >= 0x80 && b <= 0x8f) { /* fixmap */
        h->children = 2u * (b & 0x0f);
        h->container = true;
        return true;
    }
    if (b >= 0x90 && b <= 0x9f) { /* fixarray */
        h->children = b & 0x0f;
        h->container = true;
        return true;
    }
    if (b >= 0xa0 && b <= 0xbf) { /* fixstr */
        h->payload = b & 0x1f;
        return true;
    }
    switch (b) {
    case 0xc4:
    case 0xd9: h->len_bytes = 1; return true; /* bin8, str8 */
    case 0xc5:
    case 0xda: h->len_bytes = 2; return true; /* bin16, str16 */
    case 0xc6:
    case 0xdb: h->len_bytes = 4; return true; /* bin32, str32 */
    case 0xc7:
        h->len_bytes = 1;
        h->head = 2;
        return true; /* ext8 (+ type) */
    case 0xc8:
        h->len_bytes = 2;
        h->head = 2;
        return true; /* ext16 */
    case 0xc9:
        h->len_bytes = 4;
        h->head = 2;
        return true; /* ext32 */
    case 0xca:
    case 0xce:
    case 0xd2: h->payload = 4; return true; /* float32, u32, i32 */
    case 0xcb:
    case 0xcf:
    case 0xd3: h->payload = 8; return true; /* float64, u64, i64 */
    case 0xcc:
    case 0xd0: h->payload = 1; return true; /* u8, i8 */
    case 0xcd:
    case 0xd1: h->payload = 2; return true;     /* u16, i16 */
    case 0xd4: h->payload = 1 + 1; return true; /* fixext1 (type + data) */
    case 0xd5: h->payload = 1 + 2; return true;
    case 0xd6: h->payload = 1 + 4; return true;
    case 0xd7: h->payload = 1 + 8; return true;
    case 0xd8: h->payload = 1 + 16; return true;
    case 0xdc:
        h->len_bytes = 2;
        h->container = true;
        return true; /* array16 */
    case 0xdd:
        h->len_bytes = 4;
        h->container = true;
        return true; /* array32 */
    case 0xde:
        h->len_bytes = 2;
        h->container = true;
        return true; /* map16 */
    case 0xdf:
        h->len_bytes = 4;
        h->container = true;
        return true;       /* map32 */
    default: return false; /* 0xc1: never used */
    }
}

/* Parses the header at p[0..avail). TR_EAGAIN if the header, its payload, or the minimum
 * bytes its children need (one each) do not fit in avail; TR_EPROTO for 0xc1. */
static int parse_header(const uint8_t *p, size_t avail, header *h) {
    TR_DEBUG_ASSERT(avail > 0);
    if (!classify(p[0], h)) {
        return TR_EPROTO;
    }
    size_t fixed = 1 + h->len_bytes + (h->head - 1); /* type, length, ext type */
    if (fixed > avail) {
        return TR_EAGAIN;
    }
    if (h->len_bytes > 0) {
        uint64_t n = load_be(p + 1, h->len_bytes);
        if (!h->container) {
            h->payload = n;
        } else if (p[0] == 0xde || p[0] == 0xdf) {
            h->children = 2 * n; /* n < 2^32: no overflow */
        } else {
            h->children = n;
        }
        h->head = fixed;
    }
    uint64_t rest = avail - h->head;
    /* Every child is at least one byte: a header announcing more than remain is a lie. */
    if (h->payload > rest || h->children > rest - h->payload) {
        return TR_EAGAIN;
    }
    return 0;
}

/* The size of every object that is one byte of type plus a fixed number of bytes (fixints,
 * nil, bools, fixstr, floats, ints, fixext), 0 for the others (containers, str8..32,
 * bin, ext, 0xc1), which go through parse_header. The walk's common case is then one table
 * load and one bounds check; the answer is the one parse_header gives for these bytes. */
static const uint8_t scalar_size[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), /* 0x00-0x7f fixint */
    R16(0), R16(0),                                                 /* fixmap, fixarray */
    1,      2,      3,      4,      5,      6,      7,      8,      9,  10, 11,
    12,     13,     14,     15,     16, /* fixstr 0-15 */
    17,     18,     19,     20,     21,     22,     23,     24,     25, 26, 27,
    28,     29,     30,     31,     32,        /* fixstr 16-31 */
    1,      0,      1,      1,                 /* nil, (never used), false, true */
    0,      0,      0,      0,      0,      0, /* bin8/16/32, ext8/16/32 */
    5,      9,      2,      3,      5,      9,      2,      3,      5,  9, /* float32/64, u8..u64, i8..i64 */
    3,      4,      6,      10,     18,                                    /* fixext1/2/4/8/16 */
    0,      0,      0,      0,      0,      0,      0, /* str8/16/32, array16/32, map16/32 */
    R16(1), R16(1),                                    /* 0xe0-0xff negative fixint */
#undef R16
};
_Static_assert(sizeof scalar_size == 256, "one entry per type byte");

/* Walks one object from buf[0..len). *used = its size. TR_EAGAIN if buf ends first. */
static int walk(const uint8_t *buf, size_t len, uint32_t depth_max, size_t *used) {
    TR_ASSERT(depth_max <= CHECK_STACK_MAX);
    uint64_t pending[CHECK_STACK_MAX + 1]; /* pending[0]: the top-level object */
    uint32_t depth = 0;
    size_t pos = 0;
    pending[0] = 1;
    for (;;) {
        while (depth > 0 && pending[depth] == 0) {
            depth--; /* a container is complete */
        }
        if (pending[depth] == 0) {
            break; /* depth 0 and the top-level object is done */
        }
        if (pos == len) {
            return TR_EAGAIN;
        }
        size_t size = scalar_size[buf[pos]];
        if (size != 0) { /* fast path: parse_header would say the same */
            if (size > len - pos) {
                return TR_EAGAIN;
            }
            pending[depth]--;
            pos += size;
            continue;
        }
        header h;
        int rc = parse_header(buf + pos, len - pos, &h);
        if (rc != 0) {
            return rc;
        }
        pending[depth]--;
        pos += h.head + h.payload;
        if (h.container) {
            if (depth == depth_max) {
                return TR_ETOOBIG;
            }
            pending[++depth] = h.children;
        }
    }
    TR_ASSERT(pos <= len);
    *used = pos;
    return 0;
}

int tr__msgpack_check_prefix(const uint8_t *buf, size_t len, uint32_t depth_max, size_t *used) {
    TR_ASSERT(buf != NULL || len == 0);
    TR_ASSERT(used != NULL);
    if (depth_max > CHECK_STACK_MAX) {
        depth_max = CHECK_STACK_MAX; /* the stack is the limit; callers asking more get it */
    }
    return walk(buf, len, depth_max, used);
}

int tr__msgpack_check(const uint8_t *buf, size_t len, uint32_t depth_max) {
    size_t used = 0;
    int rc = tr__msgpack_check_prefix(buf, len, depth_max, &used);
    if (rc == TR_EAGAIN) {
        return TR_EPROTO; /* the whole buffer was given: truncated is malformed */
    }
    if (rc == 0 && used != len) {
        return TR_EPROTO; /* trailing bytes */
    }
    return rc;
}

/* ---- Encoding ---------------------------------------------------------------------------- */

/* The encoder writes msgpack-c's bytes itself: the smallest form of every unsigned integer,
 * str (fixstr, str8/16/32) and bin (bin8/16/32) headers exactly as msgpack-c's
 * pack_template.h chooses them (tr_mp_put_uint, tr_mp_put_str_header, tr_mp_put_bin_header).
 * A packer with a write callback per field costs about three times as much for the same
 * bytes (tests/runtime/test_codec.c compares the two on many messages). */

/* Bytes the smallest form of an unsigned integer takes. */
static size_t uint_size(uint64_t v) {
    if (v <= 0x7f) {
        return 1;
    }
    if (v <= 0xff) {
        return 2;
    }
    if (v <= 0xffff) {
        return 3;
    }
    return v <= 0xffffffffu ? 5 : 9;
}

static size_t str_header_size(size_t n) {
    return n < 32 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

static size_t bin_header_size(size_t n) {
    return n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
}

/* The deadline as sent: the ms left on the sender's clock, 0 for none; one that has passed
 * goes as 1 (0 would mean none), one too far for a u32 as UINT32_MAX. */
static uint32_t deadline_left(const tr_msg *msg, const tr_node *clock) {
    if (msg->deadline_ == 0) {
        return 0;
    }
    uint64_t now =
        clock != NULL ? clock->ops->now_ns(clock->engine, (tr_node *)clock) / 1000000u : 0;
    if (msg->deadline_ <= now) {
        return 1;
    }
    uint64_t left = msg->deadline_ - now;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

static bool trace_set(const tr_trace *t) {
    uint64_t a, b;
    memcpy(&a, t->id, 8);
    memcpy(&b, t->id + 8, 8);
    return (a | b) != 0;
}

size_t tr__envelope_size(const tr_msg *msg, const char *to_name, const tr_node *clock) {
    TR_DEBUG_ASSERT(msg != NULL);
    size_t n = 1 + uint_size(ENVELOPE_VERSION) + uint_size(msg->type);
    n += uint_size(msg->from.node) + uint_size(msg->from.actor);
    n += uint_size(msg->to.node) + uint_size(msg->to.actor);
    n += uint_size(msg->corr) + (trace_set(&msg->trace) ? 2 + TRACE_WIRE_LEN : 1);
    n += uint_size(deadline_left(msg, clock)) + uint_size(msg->flags_ & WIRE_FLAGS);
    if (to_name != NULL) {
        size_t name_len = strlen(to_name);
        n += str_header_size(name_len) + name_len;
    } else {
        n += 1;
    }
    n += bin_header_size(msg->body_len) + msg->body_len;
    return n;
}

/* Writes the envelope; the caller has checked that it fits. Returns the end. */
static uint8_t *put_fields(uint8_t *p, const tr_msg *msg, const char *to_name, size_t name_len,
                           uint32_t deadline) {
    _Static_assert(ENVELOPE_FIELDS <= 15 && ENVELOPE_VERSION < 0x80, "one-byte header, version");
    *p++ = 0x90 | ENVELOPE_FIELDS;
    *p++ = ENVELOPE_VERSION;
    p = tr_mp_put_uint(p, msg->type);
    p = tr_mp_put_uint(p, msg->from.node);
    p = tr_mp_put_uint(p, msg->from.actor);
    p = tr_mp_put_uint(p, msg->to.node);
    p = tr_mp_put_uint(p, msg->to.actor);
    p = tr_mp_put_uint(p, msg->corr);
    if (trace_set(&msg->trace)) { /* bin8 of 25: id, parent span, flags */
        *p++ = 0xc4;
        *p++ = TRACE_WIRE_LEN;
        memcpy(p, msg->trace.id, 16);
        memcpy(p + 16, msg->trace.span, 8);
        p[24] = msg->trace.flags;
        p += TRACE_WIRE_LEN;
    } else {
        *p++ = 0xc0; /* nil: no trace */
    }
    p = tr_mp_put_uint(p, deadline);
    *p++ = (uint8_t)(msg->flags_ & WIRE_FLAGS); /* a positive fixint (asserted above) */
    if (to_name != NULL) {
        p = tr_mp_put_str_header(p, (uint32_t)name_len);
        copy_bytes(p, (const uint8_t *)to_name, name_len);
        p += name_len;
    } else {
        *p++ = 0xc0; /* nil */
    }
    p = tr_mp_put_bin_header(p, msg->body_len);
    copy_bytes(p, msg->body, msg->body_len);
    p += msg->body_len;
    return p;
}

int tr__envelope_encode(const tr_msg *msg, const char *to_name, const tr_node *clock, uint8_t *buf,
                        size_t cap, size_t *len) {
    TR_DEBUG_ASSERT(msg != NULL && len != NULL);
    TR_DEBUG_ASSERT(buf != NULL || cap == 0);
    TR_DEBUG_ASSERT(msg->body != NULL || msg->body_len == 0);
    size_t name_len = 0;
    if (to_name != NULL) {
        name_len = strnlen(to_name, TR_NAME_MAX + 1);
        if (name_len > TR_NAME_MAX) {
            return TR_EINVAL;
        }
    }
    /* Every field but the body fits TR_ENVELOPE_OVERHEAD_MAX: the exact size is worked out
     * only for a buffer that could be too small. */
    if (cap < TR_ENVELOPE_OVERHEAD_MAX + (size_t)msg->body_len &&
        tr__envelope_size(msg, to_name, clock) > cap) {
        return TR_ETOOBIG;
    }
    uint32_t deadline = deadline_left(msg, clock);
    size_t n = (size_t)(put_fields(buf, msg, to_name, name_len, deadline) - buf);
    TR_DEBUG_ASSERT(n <= TR_ENVELOPE_OVERHEAD_MAX + (size_t)msg->body_len);
    TR_ASSERT(n <= cap); /* what the bounds check promised */
    *len = n;
    return 0;
}

/* ---- Decoding ---------------------------------------------------------------------------- */

/* Reads an integer that must be >= 0 and <= max, in any integer form: other encoders use
 * signed forms for small positives. Floats and negative values are TR_EPROTO. */
static int read_uint(tr_mp_reader *r, uint64_t max, uint64_t *out) {
    uint64_t v;
    if (r->p < r->end && r->p[0] >= 0xd0 && r->p[0] <= 0xd3) { /* int8..int64 */
        int64_t i;
        if (tr_mp_read_int(r, &i) != 0 || i < 0) {
            return TR_EPROTO;
        }
        v = (uint64_t)i;
    } else if (tr_mp_read_uint(r, &v) != 0) {
        return TR_EPROTO;
    }
    if (v > max) {
        return TR_EPROTO;
    }
    *out = v;
    return 0;
}

/* to_name: nil -> "", or a str of at most TR_NAME_MAX bytes without NUL. */
static int read_name(tr_mp_reader *r, char *name_out) {
    if (tr_mp_peek(r) == TR_MP_NIL) {
        return tr_mp_read_nil(r);
    }
    const char *s;
    uint32_t n;
    if (tr_mp_read_str(r, &s, &n) != 0 || n > TR_NAME_MAX || memchr(s, '\0', n) != NULL) {
        return TR_EPROTO;
    }
    memcpy(name_out, s, n);
    name_out[n] = '\0';
    return 0;
}

/* The scalar fields, in wire order, after the version. */
typedef struct fields {
    uint64_t type, from_node, from_actor, to_node, to_actor, corr, deadline, flags;
    tr_trace trace;
} fields;

/* The trace field: nil (no trace) or a bin of exactly 25 bytes whose id is not all zero (an
 * all-zero id must be sent as nil, so a trace has one encoding). */
static int read_trace(tr_mp_reader *r, tr_trace *t) {
    memset(t, 0, sizeof *t);
    if (tr_mp_peek(r) == TR_MP_NIL) {
        return tr_mp_read_nil(r);
    }
    const uint8_t *b;
    uint32_t n;
    if (tr_mp_read_bin(r, &b, &n) != 0 || n != TRACE_WIRE_LEN) {
        return TR_EPROTO;
    }
    memcpy(t->id, b, 16);
    memcpy(t->span, b + 16, 8);
    t->flags = b[24];
    return trace_set(t) ? 0 : TR_EPROTO;
}

static int read_scalars(tr_mp_reader *r, fields *f) {
    int rc = read_uint(r, UINT32_MAX, &f->type);
    if (rc == 0) {
        rc = read_uint(r, UINT32_MAX, &f->from_node);
    }
    if (rc == 0) {
        rc = read_uint(r, UINT64_MAX, &f->from_actor);
    }
    if (rc == 0) {
        rc = read_uint(r, UINT32_MAX, &f->to_node);
    }
    if (rc == 0) {
        rc = read_uint(r, UINT64_MAX, &f->to_actor);
    }
    if (rc == 0) {
        rc = read_uint(r, UINT64_MAX, &f->corr);
    }
    if (rc == 0) {
        rc = read_trace(r, &f->trace);
    }
    if (rc == 0) {
        rc = read_uint(r, UINT32_MAX, &f->deadline);
    }
    if (rc == 0) {
        rc = read_uint(r, UINT32_MAX, &f->flags);
    }
    return rc;
}

/* Reads the array header and the version: TR_EVERSION for a well-formed envelope of another
 * version (whatever its field count), TR_EPROTO if this is not an envelope at all. */
static int read_preamble(tr_mp_reader *r) {
    uint32_t count;
    uint64_t version;
    /* array32 is never needed for twelve fields */
    if (r->p[0] == 0xdd || tr_mp_read_array(r, &count) != 0 || count == 0 ||
        read_uint(r, UINT64_MAX, &version) != 0) {
        return TR_EPROTO;
    }
    if (version != ENVELOPE_VERSION) {
        return TR_EVERSION;
    }
    return count == ENVELOPE_FIELDS ? 0 : TR_EPROTO;
}

/* Reads the whole envelope with the bounds-checked reader. Success proves the buffer is
 * exactly one array of twelve in-bounds scalars (nothing after it), i.e. one well-formed
 * msgpack object of depth 1, which tr__msgpack_check would accept. */
static int read_envelope(const uint8_t *buf, size_t len, fields *f, char *name_out,
                         const uint8_t **body, size_t *body_len) {
    if (len == 0) {
        return TR_EPROTO;
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, buf, len);
    int rc = read_preamble(&r);
    if (rc == 0) {
        rc = read_scalars(&r, f);
    }
    if (rc == 0) {
        rc = read_name(&r, name_out);
    }
    uint32_t n = 0;
    if (rc == 0) {
        rc = tr_mp_read_bin(&r, body, &n);
    }
    if (rc == 0) {
        rc = tr_mp_reader_done(&r);
    }
    *body_len = n;
    return rc;
}

/* ---- The fast path: the shape our own encoder writes ------------------------------------- */

/* An unsigned integer as our encoder writes it (positive fixint or uint8..uint64) and at most
 * max; false for anything else, including what read_uint would accept or refuse otherwise. */
__attribute__((always_inline)) static inline bool fast_uint(const uint8_t **pp, const uint8_t *end,
                                                            uint64_t max, uint64_t *out) {
    const uint8_t *p = *pp;
    if (p == end) {
        return false;
    }
    uint8_t b = *p;
    if (b < 0x80) {
        *out = b;
        *pp = p + 1;
        return true; /* max >= UINT32_MAX for every field */
    }
    unsigned k = (unsigned)b - 0xcc; /* 0xcc..0xcf: uint8, 16, 32, 64 */
    if (k > 3) {
        return false;
    }
    size_t n = (size_t)1 << k;
    size_t left = (size_t)(end - p) - 1;
    uint64_t v;
    if (left >= 8) { /* one load of 8 bytes, keep the first n (n <= 8: in bounds) */
        v = tr_load_be64(p + 1) >> (64 - 8 * n);
    } else if (left >= n) {
        v = load_be(p + 1, n);
    } else {
        return false;
    }
    if (v > max) {
        return false;
    }
    *out = v;
    *pp = p + 1 + n;
    return true;
}

/* Reads buf[0..len) if it is laid out the way tr__envelope_encode writes it: fixarray of 12,
 * kind 1 as a fixint, the scalars as unsigned forms in range, the trace nil or bin8 of 25
 * with a non-zero id, to_name nil or a
 * fixstr without NUL, the body as bin8 or bin16 ending exactly at len. Returns false for
 * anything else, having written nothing the caller keeps: the general reader then decides,
 * so every refusal (and its error code) stays the general path's. What this accepts, the
 * general reader accepts with the same fields, name and body (read_uint, tr_mp_read_str
 * and tr_mp_read_bin accept these forms and read them the same way; tests/runtime/test_codec.c compares the
 * two on every truncation, every single-byte change and fuzzed input). */
static bool read_fast(const uint8_t *buf, size_t len, fields *f, char *name_out,
                      const uint8_t **body, size_t *body_len) {
    /* header, version, 6 one-byte scalars, nil trace, 2 one-byte scalars, nil, bin8 header:
     * the shortest envelope */
    if (len < 14 || buf[0] != (0x90 | ENVELOPE_FIELDS) || buf[1] != ENVELOPE_VERSION) {
        return false;
    }
    const uint8_t *p = buf + 2, *end = buf + len;
    if (!fast_uint(&p, end, UINT32_MAX, &f->type) ||
        !fast_uint(&p, end, UINT32_MAX, &f->from_node) ||
        !fast_uint(&p, end, UINT64_MAX, &f->from_actor) ||
        !fast_uint(&p, end, UINT32_MAX, &f->to_node) ||
        !fast_uint(&p, end, UINT64_MAX, &f->to_actor) ||
        !fast_uint(&p, end, UINT64_MAX, &f->corr) || end == p) {
        return false;
    }
    if (*p == 0xc0) {
        memset(&f->trace, 0, sizeof f->trace);
        p++;
    } else if (*p == 0xc4 && end - p >= 2 + TRACE_WIRE_LEN && p[1] == TRACE_WIRE_LEN) {
        memcpy(f->trace.id, p + 2, 16);
        memcpy(f->trace.span, p + 18, 8);
        f->trace.flags = p[26];
        p += 2 + TRACE_WIRE_LEN;
        if (!trace_set(&f->trace)) {
            return false;
        }
    } else {
        return false;
    }
    if (!fast_uint(&p, end, UINT32_MAX, &f->deadline) ||
        !fast_uint(&p, end, UINT32_MAX, &f->flags) || end - p < 3) {
        return false; /* after the scalars: at least a nil and a bin8 header */
    }
    uint8_t b = *p++;
    if (b != 0xc0) {
        size_t n = b & 0x1f;
        if ((b & 0xe0) != 0xa0 || (size_t)(end - p) < n + 2) { /* fixstr; then a bin8 */
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '\0') {
                return false;
            }
            name_out[i] = (char)p[i];
        }
        name_out[n] = '\0';
        p += n;
    }
    size_t blen;
    if (p[0] == 0xc4) {
        blen = p[1];
        p += 2;
    } else if (p[0] == 0xc5 && end - p >= 3) {
        blen = tr_load_be16(p + 1);
        p += 3;
    } else {
        return false;
    }
    if ((size_t)(end - p) != blen) {
        return false; /* truncated or trailing bytes */
    }
    *body = p;
    *body_len = blen;
    return true;
}

static int decode(const uint8_t *buf, size_t len, const tr_node *clock, tr_msg **out,
                  char *name_out, bool fast) {
    TR_DEBUG_ASSERT(out != NULL && name_out != NULL);
    TR_DEBUG_ASSERT(buf != NULL || len == 0);
    name_out[0] = '\0';
    fields f;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    int rc = fast && read_fast(buf, len, &f, name_out, &body, &body_len)
                 ? 0
                 : read_envelope(buf, len, &f, name_out, &body, &body_len);
    if (rc != 0) {
        /* Only bytes that are not a current envelope get here. The validator's verdict comes
         * first: a malformed buffer is TR_EPROTO whatever the reader met first, and only a
         * well-formed one can be TR_EVERSION. A valid envelope skips the validator: the
         * reader proved it well-formed (read_envelope). */
        name_out[0] = '\0';
        int vrc = tr__msgpack_check(buf, len, TR_MSGPACK_DEPTH_MAX);
        if (vrc != 0) {
            return vrc == TR_ETOOBIG ? TR_EPROTO : vrc; /* too deep is malformed here */
        }
        return rc;
    }
    TR_ASSERT(body_len <= len); /* proven by the reader, paired with the encoder's bound */
    tr_msg *msg = tr__pool_alloc(body_len);
    if (msg == NULL) {
        name_out[0] = '\0';
        return TR_ENOMEM;
    }
    copy_bytes(tr__pool_body_mut(msg), body, body_len);
    msg->type = (uint32_t)f.type;
    msg->body_len = (uint32_t)body_len;
    msg->from = (tr_addr){.node = (uint32_t)f.from_node, .actor = f.from_actor};
    msg->to = (tr_addr){.node = (uint32_t)f.to_node, .actor = f.to_actor};
    msg->corr = f.corr;
    msg->trace = f.trace;
    if (f.deadline != 0) { /* time left on the sender's clock, made absolute on ours */
        uint64_t now =
            clock != NULL ? clock->ops->now_ns(clock->engine, (tr_node *)clock) / 1000000u : 0;
        msg->deadline_ = now + f.deadline;
    }
    msg->flags_ = (uint32_t)f.flags & WIRE_FLAGS;
    *out = msg;
    return 0;
}

int tr__envelope_decode(const uint8_t *buf, size_t len, const tr_node *clock, tr_msg **out,
                        char *name_out) {
    return decode(buf, len, clock, out, name_out, true);
}

int tr__envelope_decode_general(const uint8_t *buf, size_t len, const tr_node *clock, tr_msg **out,
                                char *name_out) {
    return decode(buf, len, clock, out, name_out, false);
}
