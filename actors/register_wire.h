/*
 * register_wire.h — what the registers' and stock's bodies add to the msgpack writer and
 * reader of troupe.h ("Message bodies"): their integer policy and their canonical fast paths.
 *
 * Integers: a client may send an integral value as a float (JSON tools write 5 as 5.0), so
 * the services read integers with tr__wire_get_int, which takes what tr_mp_read_int takes
 * and also a float holding an integral value in int64 range.
 *
 * Fast paths (these bodies are most of the simulator's messages): the services mostly decode
 * bodies they wrote themselves, in one canonical layout. A decoder first tries to match that
 * layout with a tr__wire_fast cursor (plain pointers, no error state, inline: each step
 * returns false when the bytes are not exactly in the form expected) and, when any step
 * fails, decodes the same bytes again with tr_mp_reader, which takes every form and reports
 * errors. So a fast path may only accept bytes that the general decoder reads to the same
 * result, and it never reads outside [p, end). Encoders of those layouts write with
 * tr_mp_writer_room and tr_mp_put_*, falling back to tr_mp_write_* for a tight buffer; the
 * bytes are the same either way (tests/actors/wire_reference.h keeps a reference codec, and
 * test_register_wire checks the reader and writer against it).
 */
#ifndef TR_REGISTER_WIRE_H
#define TR_REGISTER_WIRE_H

#include <stddef.h>
#include <string.h>

#include "troupe.h"

/* The body of an error reply, {"error": why}, written into buf (at most cap bytes; a longer
 * reason is cut); returns its length. The node actors and the registers answer bad requests
 * with it. */
size_t tr__wire_error_body(uint8_t *buf, size_t cap, const char *why);

/* The out-of-line half of tr__wire_get_int. */
int tr__wire_get_int_any(tr_mp_reader *r, int64_t *v);

/* An integer that fits int64 in any integer form, or a float with an integral value in
 * int64 range; TR_EPROTO (sticky, as every read) otherwise. */
static inline int tr__wire_get_int(tr_mp_reader *r, int64_t *v) {
    /* a positive (0x00..0x7f) or negative (0xe0..0xff) fixint: -32..127 as int8_t */
    if (tr_mp_reader_left(r) >= 0 && (int8_t)r->p[0] >= -32) {
        *v = (int8_t)*r->p++;
        return 0;
    }
    return tr__wire_get_int_any(r, v);
}

/* Forced: a cursor that stays in registers is the point of these (left to itself the
 * compiler keeps some out of line, and then the cursor lives in memory). */
#define TR__WIRE_INLINE static inline __attribute__((always_inline))

typedef struct tr__wire_fast {
    const uint8_t *p; /* borrowed */
    const uint8_t *end;
} tr__wire_fast;

TR__WIRE_INLINE tr__wire_fast tr__wire_fast_init(const void *buf, size_t len) {
    const uint8_t *p = buf;
    return (tr__wire_fast){p, p + len};
}

/* Exactly the n bytes of `lit` (msgpack encoded in advance: a header and a key, say). */
TR__WIRE_INLINE bool tr__wire_fast_lit(tr__wire_fast *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) {
        return false;
    }
    c->p += n;
    return true;
}

/* tr__wire_fast_lit of a string literal's bytes (its NUL excluded). */
#define TR__WIRE_FAST_LIT(c, lit) tr__wire_fast_lit((c), "" lit, sizeof(lit) - 1)

/* Big-endian 1, 2, 4 or 8 bytes (width is known when compiling: one load). */
TR__WIRE_INLINE uint64_t tr__wire_load_be(const uint8_t *p, int width) {
    switch (width) {
    case 1: return p[0];
    case 2: return tr_load_be16(p);
    case 4: return tr_load_be32(p);
    default: return tr_load_be64(p);
    }
}

/* One sized form: `width` bytes after the tag, unsigned or sign-extended. */
TR__WIRE_INLINE bool tr__wire_fast_sized(tr__wire_fast *c, int width, bool is_signed, int64_t *v) {
    if (c->end - c->p - 1 < width) {
        return false;
    }
    uint64_t x = tr__wire_load_be(c->p + 1, width);
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

/* An integer in any of msgpack's integer forms, read as tr__wire_get_int reads it; false for
 * anything else (floats included: the general path takes those). A switch on the tag (a jump
 * table), each case with its width known when compiling. */
TR__WIRE_INLINE bool tr__wire_fast_int(tr__wire_fast *c, int64_t *v) {
    if (c->p >= c->end) {
        return false;
    }
    uint8_t tag = c->p[0];
    switch (tag) {
    case 0xcc: return tr__wire_fast_sized(c, 1, false, v);
    case 0xcd: return tr__wire_fast_sized(c, 2, false, v);
    case 0xce: return tr__wire_fast_sized(c, 4, false, v);
    case 0xcf: return tr__wire_fast_sized(c, 8, false, v);
    case 0xd0: return tr__wire_fast_sized(c, 1, true, v);
    case 0xd1: return tr__wire_fast_sized(c, 2, true, v);
    case 0xd2: return tr__wire_fast_sized(c, 4, true, v);
    case 0xd3: return tr__wire_fast_sized(c, 8, true, v);
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
TR__WIRE_INLINE bool tr__wire_fast_int_or_nil(tr__wire_fast *c, bool *has, int64_t *v) {
    if (c->p < c->end && c->p[0] == 0xc0) {
        c->p++;
        *has = false;
        return true;
    }
    *has = true;
    return tr__wire_fast_int(c, v);
}

#endif /* TR_REGISTER_WIRE_H */
