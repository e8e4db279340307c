/* register_wire.c — a bounds-checked msgpack subset writer and reader (see register_wire.h). */
#include "actors/register_wire.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

/* ---- big-endian loads and stores ---------------------------------------------------- */

/* One load or store per field instead of a loop over its bytes (memcpy of a constant size
 * compiles to a plain move; the swap is one instruction). */
static inline uint64_t load_be(const uint8_t *p, int width) {
    return tr_wire__load_be(p, width);
}

static inline void store_be(uint8_t *p, uint64_t v, int width) {
    uint16_t x16;
    uint32_t x32;
    uint64_t x64;
    switch (width) {
    case 1: p[0] = (uint8_t)v; break;
    case 2:
        x16 = __builtin_bswap16((uint16_t)v);
        memcpy(p, &x16, 2);
        break;
    case 4:
        x32 = __builtin_bswap32((uint32_t)v);
        memcpy(p, &x32, 4);
        break;
    default:
        x64 = __builtin_bswap64(v);
        memcpy(p, &x64, 8);
        break;
    }
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "load_be/store_be swap bytes");

/* ---- writer ------------------------------------------------------------------------- */

void tr_wire_w_init(tr_wire_w *w, void *buf, size_t cap) {
    assert(w != NULL && (buf != NULL || cap == 0));
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
}

/* Room for one whole value (header and payload: one bounds check per value), or NULL, with
 * err set, when it does not fit; a value that does not fit is not written at all. */
static inline uint8_t *reserve(tr_wire_w *w, size_t n) {
    if (w->err != 0) {
        return NULL;
    }
    if (n > w->cap - w->len) {
        w->err = TR_ETOOBIG;
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

static inline void put_u8(tr_wire_w *w, uint8_t b) {
    uint8_t *p = reserve(w, 1);
    if (p != NULL) {
        p[0] = b;
    }
}

/* A tag byte followed by `width` big-endian bytes of v. */
static inline void put_tagged(tr_wire_w *w, uint8_t tag, uint64_t v, int width) {
    uint8_t *p = reserve(w, (size_t)width + 1);
    if (p != NULL) {
        p[0] = tag;
        store_be(p + 1, v, width);
    }
}

static inline void put_container(tr_wire_w *w, uint32_t n, uint8_t fix, uint8_t t16, uint8_t t32) {
    if (n < 16) {
        put_u8(w, (uint8_t)(fix | n));
    } else if (n <= 0xffff) {
        put_tagged(w, t16, n, 2);
    } else {
        put_tagged(w, t32, n, 4);
    }
}

void tr_wire_put_map(tr_wire_w *w, uint32_t n) {
    put_container(w, n, 0x80, 0xde, 0xdf);
}
void tr_wire_put_array(tr_wire_w *w, uint32_t n) {
    put_container(w, n, 0x90, 0xdc, 0xdd);
}

void tr_wire_put_strn(tr_wire_w *w, const char *s, size_t n) {
    assert(s != NULL || n == 0);
    assert(n <= UINT32_MAX);
    uint8_t *p;
    if (n < 32) {
        if ((p = reserve(w, 1 + n)) == NULL) {
            return;
        }
        p[0] = (uint8_t)(0xa0 | n);
        p += 1;
        for (size_t i = 0; i < n; i++) { /* short: cheaper than a call to memcpy */
            p[i] = (uint8_t)s[i];
        }
        return;
    }
    int width = n <= 0xff ? 1 : n <= 0xffff ? 2 : 4;
    if ((p = reserve(w, 1 + (size_t)width + n)) == NULL) {
        return;
    }
    p[0] = width == 1 ? 0xd9 : width == 2 ? 0xda : 0xdb;
    store_be(p + 1, n, width);
    memcpy(p + 1 + width, s, n);
}

void tr_wire_put_raw(tr_wire_w *w, const void *bytes, size_t n) {
    assert(bytes != NULL || n == 0);
    uint8_t *p = reserve(w, n);
    if (p != NULL) {
        memcpy(p, bytes, n);
    }
}

void tr_wire_put_uint(tr_wire_w *w, uint64_t v) {
    if (v < 128) {
        put_u8(w, (uint8_t)v);
    } else if (v <= 0xff) {
        put_tagged(w, 0xcc, v, 1);
    } else if (v <= 0xffff) {
        put_tagged(w, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        put_tagged(w, 0xce, v, 4);
    } else {
        put_tagged(w, 0xcf, v, 8);
    }
}

void tr_wire_put_int(tr_wire_w *w, int64_t v) {
    if (v >= 0) {
        tr_wire_put_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        put_u8(w, (uint8_t)(int8_t)v);
    } else if (v >= INT8_MIN) {
        put_tagged(w, 0xd0, (uint64_t)v, 1);
    } else if (v >= INT16_MIN) {
        put_tagged(w, 0xd1, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        put_tagged(w, 0xd2, (uint64_t)v, 4);
    } else {
        put_tagged(w, 0xd3, (uint64_t)v, 8);
    }
}

void tr_wire_put_bool(tr_wire_w *w, bool v) {
    put_u8(w, v ? 0xc3 : 0xc2);
}
void tr_wire_put_nil(tr_wire_w *w) {
    put_u8(w, 0xc0);
}

/* ---- reader ------------------------------------------------------------------------- */

void tr_wire_r_init(tr_wire_r *r, const void *buf, size_t len) {
    assert(r != NULL && (buf != NULL || len == 0));
    r->p = buf;
    r->end = r->p + len;
    r->err = 0;
}

static int fail(tr_wire_r *r) {
    r->err = TR_EPROTO;
    r->p = r->end;
    return TR_EPROTO;
}

tr_wire_kind tr_wire_peek(const tr_wire_r *r) {
    if (r->err != 0 || r->p >= r->end) {
        return TR_WIRE_END;
    }
    uint8_t b = *r->p;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
        return TR_WIRE_INT;
    }
    if (b <= 0x8f || b == 0xde || b == 0xdf) {
        return TR_WIRE_MAP;
    }
    if (b <= 0x9f || b == 0xdc || b == 0xdd) {
        return TR_WIRE_ARRAY;
    }
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) {
        return TR_WIRE_STR;
    }
    switch (b) {
    case 0xc0: return TR_WIRE_NIL;
    case 0xc2:
    case 0xc3: return TR_WIRE_BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6: return TR_WIRE_BIN;
    case 0xca:
    case 0xcb: return TR_WIRE_FLOAT;
    case 0xc1: return TR_WIRE_BAD;
    default: return TR_WIRE_EXT; /* c7-c9, d4-d8 */
    }
}

/* Reads `width` big-endian bytes into *v after a tag byte already consumed. */
static int get_be(tr_wire_r *r, int width, uint64_t *v) {
    if (r->err != 0 || r->end - r->p < width) {
        return fail(r);
    }
    *v = load_be(r->p, width);
    r->p += width;
    return 0;
}

static int get_tag(tr_wire_r *r, uint8_t *tag) {
    if (r->err != 0 || r->p >= r->end) {
        return fail(r);
    }
    *tag = *r->p++;
    return 0;
}

/* The bytes left after the tag at r->p, or -1 when there is no tag to read (error or end):
 * every reader below checks its whole value against this once. */
static inline ptrdiff_t after_tag(const tr_wire_r *r) {
    return tr_wire__left(r);
}

static int get_container(tr_wire_r *r, uint32_t *n, uint8_t fix, uint8_t t16, uint8_t t32) {
    ptrdiff_t left = after_tag(r);
    if (left < 0) {
        return fail(r);
    }
    uint8_t tag = r->p[0];
    uint64_t v;
    int width;
    if ((tag & 0xf0) == fix) {
        v = tag & 0x0f;
        width = 0;
    } else if (tag == t16 && left >= 2) {
        v = load_be(r->p + 1, 2);
        width = 2;
    } else if (tag == t32 && left >= 4) {
        v = load_be(r->p + 1, 4);
        width = 4;
    } else {
        return fail(r);
    }
    /* Every element takes at least one byte: a header announcing more is hostile. */
    uint64_t min_bytes = fix == 0x80 ? 2 * v : v;
    if (min_bytes > (uint64_t)(left - width)) {
        return fail(r);
    }
    r->p += 1 + width;
    *n = (uint32_t)v;
    return 0;
}

int tr_wire__get_map(tr_wire_r *r, uint32_t *n) {
    return get_container(r, n, 0x80, 0xde, 0xdf);
}
int tr_wire__get_array(tr_wire_r *r, uint32_t *n) {
    return get_container(r, n, 0x90, 0xdc, 0xdd);
}

static int get_raw_len(tr_wire_r *r, uint8_t tag, uint64_t *n) {
    if (tag >= 0xa0 && tag <= 0xbf) {
        *n = tag & 0x1f;
        return 0;
    }
    switch (tag) {
    case 0xd9:
    case 0xc4: return get_be(r, 1, n);
    case 0xda:
    case 0xc5: return get_be(r, 2, n);
    case 0xdb:
    case 0xc6: return get_be(r, 4, n);
    default: return fail(r);
    }
}

int tr_wire__get_str(tr_wire_r *r, const char **s, uint32_t *len) {
    ptrdiff_t left = after_tag(r);
    if (left < 0) {
        return fail(r);
    }
    uint8_t tag = r->p[0];
    uint64_t n;
    int width;
    if ((tag & 0xe0) == 0xa0) { /* fixstr */
        n = tag & 0x1f;
        width = 0;
    } else if (tag >= 0xd9 && tag <= 0xdb) {
        width = 1 << (tag - 0xd9); /* 1, 2, 4 */
        if (left < width) {
            return fail(r);
        }
        n = load_be(r->p + 1, width);
    } else {
        return fail(r);
    }
    if (n > (uint64_t)(left - width)) {
        return fail(r);
    }
    *s = (const char *)r->p + 1 + width;
    *len = (uint32_t)n;
    r->p += 1 + width + n;
    return 0;
}

/* A float holding an integral value in int64 range (JSON tools may send 5.0 for 5). */
static int get_integral_float(tr_wire_r *r, int64_t *v) {
    uint8_t tag;
    uint64_t bits;
    double d;
    if (get_tag(r, &tag) != 0 || get_be(r, tag == 0xca ? 4 : 8, &bits) != 0) {
        return TR_EPROTO;
    }
    if (tag == 0xca) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        d = f;
    } else {
        memcpy(&d, &bits, sizeof d);
    }
    /* -2^63 <= d < 2^63, and no fraction (NaN fails both comparisons) */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d) {
        return fail(r);
    }
    *v = (int64_t)d;
    return 0;
}

/* The tag is read once and decides everything: fixints need no further check, the sized
 * ints one bounds check each. */
int tr_wire__get_int(tr_wire_r *r, int64_t *v) {
    ptrdiff_t left = after_tag(r);
    if (left < 0) {
        return fail(r);
    }
    const uint8_t *p = r->p;
    uint8_t tag = p[0];
    if (tag <= 0x7f || tag >= 0xe0) { /* positive and negative fixint */
        *v = (int8_t)tag;             /* 0x00..0x7f are 0..127, 0xe0..0xff are -32..-1 */
        r->p = p + 1;
        return 0;
    }
    if (tag == 0xca || tag == 0xcb) {
        return get_integral_float(r, v);
    }
    if (tag < 0xcc || tag > 0xd3) {
        return fail(r);
    }
    int width = 1 << (tag & 3); /* cc..cf unsigned, d0..d3 signed: 1, 2, 4, 8 bytes */
    if (left < width) {
        return fail(r);
    }
    uint64_t x = load_be(p + 1, width);
    if (tag <= 0xcf) {
        if (x > INT64_MAX) {
            return fail(r);
        }
        *v = (int64_t)x;
    } else {
        int shift = 64 - 8 * width; /* sign-extend */
        *v = (int64_t)(x << shift) >> shift;
    }
    r->p = p + 1 + width;
    return 0;
}

int tr_wire_get_bool(tr_wire_r *r, bool *v) {
    if (after_tag(r) < 0 || (r->p[0] & 0xfe) != 0xc2) {
        return fail(r);
    }
    *v = *r->p++ == 0xc3;
    return 0;
}

int tr_wire_get_nil(tr_wire_r *r) {
    if (after_tag(r) < 0 || r->p[0] != 0xc0) {
        return fail(r);
    }
    r->p++;
    return 0;
}

static int skip_bytes(tr_wire_r *r, uint64_t n) {
    if (n > (uint64_t)(r->end - r->p)) {
        return fail(r);
    }
    r->p += n;
    return 0;
}

static int skip_depth(tr_wire_r *r, int depth);

static int skip_elements(tr_wire_r *r, uint64_t n, int depth) {
    for (uint64_t i = 0; i < n; i++) {
        if (skip_depth(r, depth) != 0) {
            return TR_EPROTO;
        }
    }
    return 0;
}

static int skip_ext(tr_wire_r *r, uint8_t tag) {
    uint64_t n;
    static const uint8_t fixext[5] = {1, 2, 4, 8, 16}; /* d4..d8 */
    if (tag >= 0xd4 && tag <= 0xd8) {
        return skip_bytes(r, 1u + fixext[tag - 0xd4]);
    }
    int width = tag == 0xc7 ? 1 : tag == 0xc8 ? 2 : 4;
    if (get_be(r, width, &n) != 0) {
        return TR_EPROTO;
    }
    return skip_bytes(r, n + 1);
}

static int skip_depth(tr_wire_r *r, int depth) {
    uint32_t n;
    uint8_t tag;
    uint64_t len;
    if (depth > TR_WIRE_DEPTH_MAX) {
        return fail(r);
    }
    switch (tr_wire_peek(r)) {
    case TR_WIRE_NIL: return tr_wire_get_nil(r);
    case TR_WIRE_BOOL: return skip_bytes(r, 1);
    case TR_WIRE_INT: {
        int64_t v;
        if (*r->p == 0xcf) { /* any uint64 is fine to skip */
            return skip_bytes(r, 9);
        }
        return tr_wire_get_int(r, &v);
    }
    case TR_WIRE_FLOAT: return skip_bytes(r, *r->p == 0xca ? 5 : 9);
    case TR_WIRE_STR:
    case TR_WIRE_BIN:
        if (get_tag(r, &tag) != 0 || get_raw_len(r, tag, &len) != 0) {
            return TR_EPROTO;
        }
        return skip_bytes(r, len);
    case TR_WIRE_ARRAY:
        return tr_wire_get_array(r, &n) != 0 ? TR_EPROTO : skip_elements(r, n, depth + 1);
    case TR_WIRE_MAP:
        return tr_wire_get_map(r, &n) != 0 ? TR_EPROTO
                                           : skip_elements(r, 2 * (uint64_t)n, depth + 1);
    case TR_WIRE_EXT:
        if (get_tag(r, &tag) != 0) {
            return TR_EPROTO;
        }
        return skip_ext(r, tag);
    default: return fail(r);
    }
}

int tr_wire_skip(tr_wire_r *r) {
    return skip_depth(r, 0);
}
