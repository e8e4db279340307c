/*
 * mp.c — the out-of-line half of the msgpack writer and reader (troupe.h, "Message bodies").
 *
 * The header keeps inline only what the codecs' hot paths need (the one-byte-header forms of
 * map, array, str and int, and the unchecked tr_mp_put_*); everything else, and every error,
 * is here. A writer reserves one whole value (header and payload) with one bounds check; a
 * reader checks one whole header against the bytes left once, and a failure moves the reader
 * to its end with `err` set, so no later read can look past a failed one.
 */
#include "runtime/mp.h"

#include <string.h>

#include "runtime/assert.h"

/* ---- Writer ------------------------------------------------------------------------------ */

void tr_mp_writer_init(tr_mp_writer *w, void *buf, size_t cap) {
    TR_ASSERT(w != NULL && (buf != NULL || cap == 0));
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
}

/* Room for one whole value, or NULL, with err set, when it does not fit: a value that does
 * not fit is not written at all. */
static inline uint8_t *reserve(tr_mp_writer *w, size_t n) {
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

static inline void put_u8(tr_mp_writer *w, uint8_t b) {
    uint8_t *p = reserve(w, 1);
    if (p != NULL) {
        p[0] = b;
    }
}

/* A tag byte followed by `width` big-endian bytes of v. */
static inline void put_tagged(tr_mp_writer *w, uint8_t tag, uint64_t v, int width) {
    uint8_t *p = reserve(w, (size_t)width + 1);
    if (p != NULL) {
        tr_mp_put_tagged(p, tag, v, width);
    }
}

static inline void put_container(tr_mp_writer *w, uint32_t n, uint8_t fix, uint8_t t16,
                                 uint8_t t32) {
    if (n < 16) {
        put_u8(w, (uint8_t)(fix | n));
    } else if (n <= 0xffff) {
        put_tagged(w, t16, n, 2);
    } else {
        put_tagged(w, t32, n, 4);
    }
}

void tr_mp_write_map(tr_mp_writer *w, uint32_t n) {
    put_container(w, n, 0x80, 0xde, 0xdf);
}

void tr_mp_write_array(tr_mp_writer *w, uint32_t n) {
    put_container(w, n, 0x90, 0xdc, 0xdd);
}

void tr_mp_write_str(tr_mp_writer *w, const char *s, size_t n) {
    TR_ASSERT(s != NULL || n == 0);
    TR_ASSERT(n <= UINT32_MAX);
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
    size_t head = n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
    if ((p = reserve(w, head + n)) == NULL) {
        return;
    }
    p = tr_mp_put_str_header(p, (uint32_t)n);
    memcpy(p, s, n);
}

void tr_mp_write_bin(tr_mp_writer *w, const void *b, size_t n) {
    TR_ASSERT(b != NULL || n == 0);
    TR_ASSERT(n <= UINT32_MAX);
    size_t head = n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
    uint8_t *p = reserve(w, head + n);
    if (p == NULL) {
        return;
    }
    p = tr_mp_put_bin_header(p, (uint32_t)n);
    if (n > 0) {
        memcpy(p, b, n);
    }
}

void tr_mp_write_raw(tr_mp_writer *w, const void *bytes, size_t n) {
    TR_ASSERT(bytes != NULL || n == 0);
    uint8_t *p = reserve(w, n);
    if (p != NULL && n > 0) {
        memcpy(p, bytes, n);
    }
}

void tr_mp_write_uint(tr_mp_writer *w, uint64_t v) {
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

void tr_mp_write_int(tr_mp_writer *w, int64_t v) {
    if (v >= 0) {
        tr_mp_write_uint(w, (uint64_t)v);
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

void tr_mp_write_float(tr_mp_writer *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_tagged(w, 0xcb, bits, 8);
}

void tr_mp_write_bool(tr_mp_writer *w, bool v) {
    put_u8(w, v ? 0xc3 : 0xc2);
}

void tr_mp_write_nil(tr_mp_writer *w) {
    put_u8(w, 0xc0);
}

/* ---- Reader ------------------------------------------------------------------------------ */

void tr_mp_reader_init(tr_mp_reader *r, const void *buf, size_t len) {
    TR_ASSERT(r != NULL && (buf != NULL || len == 0));
    r->p = buf;
    r->end = r->p + len;
    r->err = 0;
}

static int fail(tr_mp_reader *r) {
    r->err = TR_EPROTO;
    r->p = r->end;
    return TR_EPROTO;
}

int tr_mp_reader_done(const tr_mp_reader *r) {
    return r->err == 0 && r->p == r->end ? 0 : TR_EPROTO;
}

tr_mp_type tr_mp_peek(const tr_mp_reader *r) {
    if (r->err != 0 || r->p >= r->end) {
        return TR_MP_END;
    }
    uint8_t b = *r->p;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
        return TR_MP_INT;
    }
    if (b <= 0x8f || b == 0xde || b == 0xdf) {
        return TR_MP_MAP;
    }
    if (b <= 0x9f || b == 0xdc || b == 0xdd) {
        return TR_MP_ARRAY;
    }
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) {
        return TR_MP_STR;
    }
    switch (b) {
    case 0xc0: return TR_MP_NIL;
    case 0xc2:
    case 0xc3: return TR_MP_BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6: return TR_MP_BIN;
    case 0xca:
    case 0xcb: return TR_MP_FLOAT;
    case 0xc1: return TR_MP_BAD;
    default: return TR_MP_EXT; /* c7-c9, d4-d8 */
    }
}

/* Big-endian 1, 2, 4 or 8 bytes; the caller has checked the bounds. */
static inline uint64_t load_be(const uint8_t *p, int width) {
    switch (width) {
    case 1: return p[0];
    case 2: return tr_load_be16(p);
    case 4: return tr_load_be32(p);
    default: return tr_load_be64(p);
    }
}

/* A length of `width` bytes after the tag at r->p, whose `left` bytes follow the tag. */
static inline bool get_len(const tr_mp_reader *r, ptrdiff_t left, int width, uint64_t *n) {
    if (left < width) {
        return false;
    }
    *n = load_be(r->p + 1, width);
    return true;
}

/* A container header: fix form `fix` (its count in the low nibble), or t16/t32. */
static int get_container(tr_mp_reader *r, uint32_t *n, uint8_t fix, uint8_t t16, uint8_t t32) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left < 0) {
        return fail(r);
    }
    uint8_t tag = r->p[0];
    uint64_t v;
    int width;
    if ((tag & 0xf0) == fix) {
        v = tag & 0x0f;
        width = 0;
    } else if (tag == t16 && get_len(r, left, 2, &v)) {
        width = 2;
    } else if (tag == t32 && get_len(r, left, 4, &v)) {
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

int tr_mp_read_map_any(tr_mp_reader *r, uint32_t *n) {
    return get_container(r, n, 0x80, 0xde, 0xdf);
}

int tr_mp_read_array_any(tr_mp_reader *r, uint32_t *n) {
    return get_container(r, n, 0x90, 0xdc, 0xdd);
}

/* A str (fixstr, or str8/16/32 from tag8) or bin (bin8/16/32 from tag8, no fix form) whose
 * payload is in bounds: *data points to it. */
static int get_bytes(tr_mp_reader *r, bool str, uint8_t tag8, const uint8_t **data, uint32_t *n) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left < 0) {
        return fail(r);
    }
    uint8_t tag = r->p[0];
    uint64_t len;
    int width;
    if (str && (tag & 0xe0) == 0xa0) { /* fixstr */
        len = tag & 0x1f;
        width = 0;
    } else if (tag >= tag8 && tag <= tag8 + 2) {
        width = 1 << (tag - tag8); /* 1, 2, 4 */
        if (!get_len(r, left, width, &len)) {
            return fail(r);
        }
    } else {
        return fail(r);
    }
    if (len > (uint64_t)(left - width)) {
        return fail(r);
    }
    *data = r->p + 1 + width;
    *n = (uint32_t)len;
    r->p += 1 + width + len;
    return 0;
}

int tr_mp_read_str_any(tr_mp_reader *r, const char **s, uint32_t *n) {
    const uint8_t *data;
    int rc = get_bytes(r, true, 0xd9, &data, n);
    if (rc == 0) {
        *s = (const char *)data;
    }
    return rc;
}

int tr_mp_read_bin(tr_mp_reader *r, const uint8_t **b, uint32_t *n) {
    return get_bytes(r, false, 0xc4, b, n);
}

int tr_mp_read_str_copy(tr_mp_reader *r, char *out, size_t cap) {
    TR_ASSERT(out != NULL && cap > 0);
    const char *s;
    uint32_t n;
    if (tr_mp_read_str(r, &s, &n) != 0) {
        return TR_EPROTO;
    }
    if (n >= cap || memchr(s, '\0', n) != NULL) {
        return fail(r);
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* The tag is read once and decides everything: fixints need no further check, the sized
 * forms one bounds check each. */
int tr_mp_read_int_any(tr_mp_reader *r, int64_t *v) {
    ptrdiff_t left = tr_mp_reader_left(r);
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

int tr_mp_read_uint(tr_mp_reader *r, uint64_t *v) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left < 0) {
        return fail(r);
    }
    uint8_t tag = r->p[0];
    if (tag <= 0x7f) {
        *v = tag;
        r->p++;
        return 0;
    }
    if (tag < 0xcc || tag > 0xcf) {
        return fail(r);
    }
    int width = 1 << (tag & 3); /* uint8, 16, 32, 64 */
    if (left < width) {
        return fail(r);
    }
    *v = load_be(r->p + 1, width);
    r->p += 1 + width;
    return 0;
}

int tr_mp_read_float(tr_mp_reader *r, double *v) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left < 0) {
        return fail(r);
    }
    uint8_t tag = r->p[0];
    if (tag == 0xca && left >= 4) {
        uint32_t bits = tr_load_be32(r->p + 1);
        float f;
        memcpy(&f, &bits, sizeof f);
        *v = f;
        r->p += 5;
        return 0;
    }
    if (tag == 0xcb && left >= 8) {
        uint64_t bits = tr_load_be64(r->p + 1);
        memcpy(v, &bits, sizeof *v);
        r->p += 9;
        return 0;
    }
    return fail(r);
}

int tr_mp_read_bool(tr_mp_reader *r, bool *v) {
    if (tr_mp_reader_left(r) < 0 || (r->p[0] & 0xfe) != 0xc2) {
        return fail(r);
    }
    *v = *r->p++ == 0xc3;
    return 0;
}

int tr_mp_read_nil(tr_mp_reader *r) {
    if (tr_mp_reader_left(r) < 0 || r->p[0] != 0xc0) {
        return fail(r);
    }
    r->p++;
    return 0;
}

/* ---- Skipping ---------------------------------------------------------------------------- */

/* The bytes after the tag of every value whose size its tag alone gives (ints, floats,
 * fixext), or 0 for the others. */
static size_t fixed_payload(uint8_t tag) {
    switch (tag) {
    case 0xcc:
    case 0xd0: return 1;
    case 0xcd:
    case 0xd1: return 2;
    case 0xca:
    case 0xce:
    case 0xd2: return 4;
    case 0xcb:
    case 0xcf:
    case 0xd3: return 8;
    case 0xd4: return 1 + 1; /* fixext: a type byte and 1..16 data bytes */
    case 0xd5: return 1 + 2;
    case 0xd6: return 1 + 4;
    case 0xd7: return 1 + 8;
    case 0xd8: return 1 + 16;
    default: return 0;
    }
}

/* Skips the tag at r->p and `after` bytes after it. */
static int skip_bytes(tr_mp_reader *r, uint64_t after) {
    if (after >= (uint64_t)(r->end - r->p)) {
        return fail(r);
    }
    r->p += 1 + after;
    return 0;
}

static int skip_depth(tr_mp_reader *r, int depth);

static int skip_elements(tr_mp_reader *r, uint64_t n, int depth) {
    for (uint64_t i = 0; i < n; i++) {
        if (skip_depth(r, depth) != 0) {
            return TR_EPROTO;
        }
    }
    return 0;
}

/* str, bin and ext8/16/32: a length of 1, 2 or 4 bytes after the tag, then the payload (and
 * for ext a type byte before it). */
static int skip_sized(tr_mp_reader *r, uint8_t tag) {
    ptrdiff_t left = tr_mp_reader_left(r);
    uint64_t n;
    if ((tag & 0xe0) == 0xa0) {
        return skip_bytes(r, tag & 0x1f);
    }
    int width;
    uint64_t extra = 0;
    switch (tag) {
    case 0xc4:
    case 0xd9: width = 1; break;
    case 0xc5:
    case 0xda: width = 2; break;
    case 0xc6:
    case 0xdb: width = 4; break;
    case 0xc7: width = 1, extra = 1; break;
    case 0xc8: width = 2, extra = 1; break;
    default: width = 4, extra = 1; break; /* 0xc9 */
    }
    if (!get_len(r, left, width, &n)) {
        return fail(r);
    }
    return skip_bytes(r, (uint64_t)width + extra + n);
}

/* The top-level value is at depth 0, the elements of a container one deeper than it. */
static int skip_depth(tr_mp_reader *r, int depth) {
    uint32_t n;
    if (depth > TR_MP_DEPTH_MAX) {
        return fail(r);
    }
    tr_mp_type type = tr_mp_peek(r);
    switch (type) {
    case TR_MP_NIL:
    case TR_MP_BOOL: return skip_bytes(r, 0);
    case TR_MP_INT:
    case TR_MP_FLOAT:
        return skip_bytes(r, (r->p[0] & 0x80) == 0 || r->p[0] >= 0xe0 ? 0 : fixed_payload(r->p[0]));
    case TR_MP_STR:
    case TR_MP_BIN: return skip_sized(r, r->p[0]);
    case TR_MP_EXT:
        return r->p[0] >= 0xd4 ? skip_bytes(r, fixed_payload(r->p[0])) : skip_sized(r, r->p[0]);
    case TR_MP_ARRAY:
        return tr_mp_read_array(r, &n) != 0 ? TR_EPROTO : skip_elements(r, n, depth + 1);
    case TR_MP_MAP:
        return tr_mp_read_map(r, &n) != 0 ? TR_EPROTO
                                          : skip_elements(r, 2 * (uint64_t)n, depth + 1);
    default: return fail(r); /* TR_MP_END, TR_MP_BAD */
    }
}

int tr_mp_skip(tr_mp_reader *r) {
    return skip_depth(r, 0);
}
