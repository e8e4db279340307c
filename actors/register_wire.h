/*
 * register_wire.h — the small msgpack subset the registers speak (a writer and a reader).
 *
 * Why not msgpack-c here: actors/ include only troupe.h (they cannot tell which engine runs
 * them, and only the codec module owns msgpack-c), and the register bodies are tiny maps of
 * ints, bools, strings and two-element arrays. A cursor over caller memory is enough, never
 * allocates, and is safe on hostile input: every read checks the bytes that remain, and
 * skipping an unknown value is bounded by TR_WIRE_DEPTH_MAX.
 *
 * Writer: tr_wire_w over a caller buffer; every put is a no-op once the buffer is full and
 * sets `err` (TR_ETOOBIG), so a sequence of puts is checked once at the end. A value is
 * written whole or not at all (one bounds check per value; `len` then counts only the
 * values that fitted).
 * Reader: tr_wire_r over borrowed bytes; a failed read sets `err` (TR_EPROTO) and every
 * later read fails too, so a decoder checks `err` once at the end.
 *
 * Speed (these bodies are most of the simulator's messages): the one-byte-header forms are
 * read inline (tr_wire_get_*); the registers' own fixed layouts are matched whole by an
 * inline tr_wire_fast cursor and written raw after one room check (tr_wire_room). Each
 * falls back to the general code for anything else, so what is accepted, what is rejected
 * and what is written stay exactly the general code's (tests/actors/wire_reference.h keeps
 * the pre-fast-path codec, and test_register_wire checks them against it).
 *
 * Also used by sim/workload.c (sim/ may drive actors/) to build client requests.
 */
#ifndef TR_REGISTER_WIRE_H
#define TR_REGISTER_WIRE_H

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "troupe.h"

#define TR_WIRE_DEPTH_MAX 8

typedef struct tr_wire_w {
    uint8_t *buf; /* borrowed */
    size_t cap;
    size_t len;
    int err;
} tr_wire_w;

void tr_wire_w_init(tr_wire_w *w, void *buf, size_t cap);
void tr_wire_put_map(tr_wire_w *w, uint32_t n);
void tr_wire_put_array(tr_wire_w *w, uint32_t n);
/* s[0..n) (borrowed for the call). */
void tr_wire_put_strn(tr_wire_w *w, const char *s, size_t n);
/* NUL-terminated; inline so that the length of a literal is known when compiling. */
static inline void tr_wire_put_str(tr_wire_w *w, const char *s) {
    tr_wire_put_strn(w, s, strlen(s));
}
/* n bytes of msgpack encoded in advance (a map header and its first key, say), written as
 * they are: one bounds check and one copy instead of a put per item. */
void tr_wire_put_raw(tr_wire_w *w, const void *bytes, size_t n);
/* tr_wire_put_raw of a string literal's bytes (its NUL excluded). */
#define TR_WIRE_PUT_LIT(w, lit) tr_wire_put_raw((w), "" lit, sizeof(lit) - 1)
void tr_wire_put_int(tr_wire_w *w, int64_t v);
void tr_wire_put_uint(tr_wire_w *w, uint64_t v);
void tr_wire_put_bool(tr_wire_w *w, bool v);
void tr_wire_put_nil(tr_wire_w *w);

/* ---- raw writing, for encoders of fixed layouts ----------------------------------------
 * tr_wire_room returns where up to `max` bytes may be written, or NULL when fewer are left
 * (or err is set): the encoder then falls back to the puts above, which handle a tight
 * buffer exactly. tr_wire_raw_* write one value there without any check and return the
 * byte after it; tr_wire_advance records what was written. Same bytes as the puts. */
static inline uint8_t *tr_wire_room(tr_wire_w *w, size_t max) {
    return w->err == 0 && max <= w->cap - w->len ? w->buf + w->len : NULL;
}

static inline void tr_wire_advance(tr_wire_w *w, const uint8_t *end) {
    assert(end >= w->buf + w->len && end <= w->buf + w->cap);
    w->len = (size_t)(end - w->buf);
}

/* A tag and `width` big-endian bytes of v. */
static inline __attribute__((always_inline)) uint8_t *tr_wire__raw_tagged(uint8_t *p, uint8_t tag,
                                                                          uint64_t v, int width) {
    uint16_t x16;
    uint32_t x32;
    uint64_t x64;
    p[0] = tag;
    switch (width) {
    case 1: p[1] = (uint8_t)v; break;
    case 2:
        x16 = __builtin_bswap16((uint16_t)v);
        memcpy(p + 1, &x16, 2);
        break;
    case 4:
        x32 = __builtin_bswap32((uint32_t)v);
        memcpy(p + 1, &x32, 4);
        break;
    default:
        x64 = __builtin_bswap64(v);
        memcpy(p + 1, &x64, 8);
        break;
    }
    return p + 1 + width;
}

/* At most 9 bytes. */
static inline __attribute__((always_inline)) uint8_t *tr_wire_raw_uint(uint8_t *p, uint64_t v) {
    if (v < 128) {
        *p = (uint8_t)v;
        return p + 1;
    }
    if (v <= 0xff) {
        return tr_wire__raw_tagged(p, 0xcc, v, 1);
    }
    if (v <= 0xffff) {
        return tr_wire__raw_tagged(p, 0xcd, v, 2);
    }
    if (v <= 0xffffffffu) {
        return tr_wire__raw_tagged(p, 0xce, v, 4);
    }
    return tr_wire__raw_tagged(p, 0xcf, v, 8);
}

/* At most 9 bytes. */
static inline __attribute__((always_inline)) uint8_t *tr_wire_raw_int(uint8_t *p, int64_t v) {
    if (v >= 0) {
        return tr_wire_raw_uint(p, (uint64_t)v);
    }
    if (v >= -32) {
        *p = (uint8_t)(int8_t)v;
        return p + 1;
    }
    if (v >= INT8_MIN) {
        return tr_wire__raw_tagged(p, 0xd0, (uint64_t)v, 1);
    }
    if (v >= INT16_MIN) {
        return tr_wire__raw_tagged(p, 0xd1, (uint64_t)v, 2);
    }
    if (v >= INT32_MIN) {
        return tr_wire__raw_tagged(p, 0xd2, (uint64_t)v, 4);
    }
    return tr_wire__raw_tagged(p, 0xd3, (uint64_t)v, 8);
}

/* The bytes of a string literal (its NUL excluded); returns the byte after them. */
#define TR_WIRE_RAW_LIT(p, lit) \
    ((uint8_t *)memcpy((p), "" lit, sizeof(lit) - 1) + (sizeof(lit) - 1))

typedef enum tr_wire_kind {
    TR_WIRE_END = 0, /* no more bytes, or an error */
    TR_WIRE_NIL,
    TR_WIRE_BOOL,
    TR_WIRE_INT, /* signed or unsigned integer */
    TR_WIRE_FLOAT,
    TR_WIRE_STR,
    TR_WIRE_BIN,
    TR_WIRE_ARRAY,
    TR_WIRE_MAP,
    TR_WIRE_EXT,
    TR_WIRE_BAD /* a reserved byte (0xc1) */
} tr_wire_kind;

typedef struct tr_wire_r {
    const uint8_t *p; /* borrowed */
    const uint8_t *end;
    int err;
} tr_wire_r;

void tr_wire_r_init(tr_wire_r *r, const void *buf, size_t len);
tr_wire_kind tr_wire_peek(const tr_wire_r *r);
/* Skips one value of any kind, nested at most TR_WIRE_DEPTH_MAX deep. */
int tr_wire_skip(tr_wire_r *r);

/* The general readers; use the tr_wire_get_* below, whose inline fast paths take the
 * common one-byte-header forms and leave everything else (and every error) to these. */
int tr_wire__get_map(tr_wire_r *r, uint32_t *n);
int tr_wire__get_array(tr_wire_r *r, uint32_t *n);
int tr_wire__get_str(tr_wire_r *r, const char **s, uint32_t *len);
int tr_wire__get_int(tr_wire_r *r, int64_t *v);
int tr_wire_get_bool(tr_wire_r *r, bool *v);
int tr_wire_get_nil(tr_wire_r *r);

/* The bytes after the header byte at r->p, or -1 when there is none (error or end). */
static inline ptrdiff_t tr_wire__left(const tr_wire_r *r) {
    return r->err != 0 || r->p >= r->end ? -1 : r->end - r->p - 1;
}

/* A map header; each of its n entries takes at least two bytes, so a header announcing
 * more than the bytes left is an error (no loop over a hostile count). */
static inline int tr_wire_get_map(tr_wire_r *r, uint32_t *n) {
    ptrdiff_t left = tr_wire__left(r);
    if (left >= 0 && (r->p[0] & 0xf0) == 0x80 && 2 * (r->p[0] & 0x0f) <= left) {
        *n = *r->p++ & 0x0f; /* fixmap */
        return 0;
    }
    return tr_wire__get_map(r, n);
}

/* An array header; each element takes at least one byte (as for maps). */
static inline int tr_wire_get_array(tr_wire_r *r, uint32_t *n) {
    ptrdiff_t left = tr_wire__left(r);
    if (left >= 0 && (r->p[0] & 0xf0) == 0x90 && (r->p[0] & 0x0f) <= left) {
        *n = *r->p++ & 0x0f; /* fixarray */
        return 0;
    }
    return tr_wire__get_array(r, n);
}

/* *s points into the reader's bytes (not NUL-terminated), valid as long as they are. */
static inline int tr_wire_get_str(tr_wire_r *r, const char **s, uint32_t *len) {
    ptrdiff_t left = tr_wire__left(r);
    if (left >= 0 && (r->p[0] & 0xe0) == 0xa0 && (r->p[0] & 0x1f) <= left) {
        *len = r->p[0] & 0x1f; /* fixstr */
        *s = (const char *)r->p + 1;
        r->p += 1 + *len;
        return 0;
    }
    return tr_wire__get_str(r, s, len);
}

/* Integers that fit int64 (a uint64 above INT64_MAX is a protocol error); a float with an
 * integral value in range is accepted too (JSON tools may encode 5 as 5.0). */
static inline int tr_wire_get_int(tr_wire_r *r, int64_t *v) {
    /* a positive (0x00..0x7f) or negative (0xe0..0xff) fixint: -32..127 as int8_t */
    if (tr_wire__left(r) >= 0 && (int8_t)r->p[0] >= -32) {
        *v = (int8_t)*r->p++;
        return 0;
    }
    return tr_wire__get_int(r, v);
}

/* True when s[0..len) equals the NUL-terminated `lit` (inline: a literal's length and
 * comparison fold at compile time). */
static inline bool tr_wire_str_eq(const char *s, uint32_t len, const char *lit) {
    size_t n = strlen(lit);
    return n == len && memcmp(s, lit, n) == 0;
}

/* ---- canonical fast paths ------------------------------------------------------------
 * The registers mostly decode bodies they wrote themselves, in one canonical layout. A
 * decoder first tries to match that layout with a tr_wire_fast cursor (plain pointers, no
 * error state, inline: each step returns false when the bytes are not exactly in the form
 * expected) and, when any step fails, decodes the same bytes again with tr_wire_r, which
 * takes every form and reports errors. So a fast path may only accept bytes that the general
 * decoder reads to the same result; it never reads outside [p, end). */
/* Forced: a cursor that stays in registers is the point of these (left to itself the
 * compiler keeps some out of line, and then the cursor lives in memory). */
#define TR_WIRE_INLINE static inline __attribute__((always_inline))

typedef struct tr_wire_fast {
    const uint8_t *p; /* borrowed */
    const uint8_t *end;
} tr_wire_fast;

TR_WIRE_INLINE tr_wire_fast tr_wire_fast_init(const void *buf, size_t len) {
    const uint8_t *p = buf;
    return (tr_wire_fast){p, p + len};
}

/* Exactly the n bytes of `lit` (msgpack encoded in advance: a header and a key, say). */
TR_WIRE_INLINE bool tr_wire_fast_lit(tr_wire_fast *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) {
        return false;
    }
    c->p += n;
    return true;
}

/* tr_wire_fast_lit of a string literal's bytes (its NUL excluded). */
#define TR_WIRE_FAST_LIT(c, lit) tr_wire_fast_lit((c), "" lit, sizeof(lit) - 1)

/* Big-endian 1, 2, 4 or 8 bytes (memcpy of a constant size is a plain load). */
TR_WIRE_INLINE uint64_t tr_wire__load_be(const uint8_t *p, int width) {
    uint16_t x16;
    uint32_t x32;
    uint64_t x64;
    switch (width) {
    case 1: return p[0];
    case 2: memcpy(&x16, p, 2); return __builtin_bswap16(x16);
    case 4: memcpy(&x32, p, 4); return __builtin_bswap32(x32);
    default: memcpy(&x64, p, 8); return __builtin_bswap64(x64);
    }
}

/* An integer in any of msgpack's integer forms, read as tr_wire_get_int reads it; false for
 * anything else (floats included: the general path takes those). */
/* One sized form: `width` bytes after the tag, unsigned or sign-extended. */
TR_WIRE_INLINE bool tr_wire__fast_sized(tr_wire_fast *c, int width, bool is_signed, int64_t *v) {
    if (c->end - c->p - 1 < width) {
        return false;
    }
    uint64_t x = tr_wire__load_be(c->p + 1, width);
    if (is_signed) {
        int shift = 64 - 8 * width; /* sign-extend */
        *v = (int64_t)(x << shift) >> shift;
    } else if (x > INT64_MAX) {
        return false;
    } else {
        *v = (int64_t)x;
    }
    c->p += 1 + width;
    return true;
}

/* An integer in any of msgpack's integer forms, read as tr_wire_get_int reads it; false for
 * anything else (floats included: the general path takes those). A switch on the tag (a jump
 * table), each case with its width known when compiling. */
TR_WIRE_INLINE bool tr_wire_fast_int(tr_wire_fast *c, int64_t *v) {
    if (c->p >= c->end) {
        return false;
    }
    uint8_t tag = c->p[0];
    switch (tag) {
    case 0xcc: return tr_wire__fast_sized(c, 1, false, v);
    case 0xcd: return tr_wire__fast_sized(c, 2, false, v);
    case 0xce: return tr_wire__fast_sized(c, 4, false, v);
    case 0xcf: return tr_wire__fast_sized(c, 8, false, v);
    case 0xd0: return tr_wire__fast_sized(c, 1, true, v);
    case 0xd1: return tr_wire__fast_sized(c, 2, true, v);
    case 0xd2: return tr_wire__fast_sized(c, 4, true, v);
    case 0xd3: return tr_wire__fast_sized(c, 8, true, v);
    default:
        if ((int8_t)tag < -32) {
            return false; /* not an integer */
        }
        *v = (int8_t)tag; /* fixint: 0x00..0x7f, 0xe0..0xff */
        c->p++;
        return true;
    }
}

/* nil (*has = false) or an integer (*has = true, *v). */
TR_WIRE_INLINE bool tr_wire_fast_int_or_nil(tr_wire_fast *c, bool *has, int64_t *v) {
    if (c->p < c->end && c->p[0] == 0xc0) {
        c->p++;
        *has = false;
        return true;
    }
    *has = true;
    return tr_wire_fast_int(c, v);
}

#endif /* TR_REGISTER_WIRE_H */
