/*
 * wire_reference.h — a plain reference implementation of the register wire codec, without
 * the fast paths of actors/register_wire.c: one tag at a time, one bounds check per step.
 * test_register_wire.c checks that the production reader and writer agree with it byte for
 * byte, result for result, on every value and on hostile input. Include once, after
 * criterion.h and register_wire.h.
 */
#ifndef TR_TEST_WIRE_REFERENCE_H
#define TR_TEST_WIRE_REFERENCE_H

/* ---- writer ------------------------------------------------------------------------- */

static void ref_wire_w_init(tr_mp_writer *w, void *buf, size_t cap) {
    cr_assert(w != NULL && (buf != NULL || cap == 0));
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = 0;
}

static void ref_put_bytes(tr_mp_writer *w, const void *src, size_t n) {
    if (w->err != 0) {
        return;
    }
    if (n > w->cap - w->len) {
        w->err = TR_ETOOBIG;
        return;
    }
    memcpy(w->buf + w->len, src, n);
    w->len += n;
}

static void ref_put_u8(tr_mp_writer *w, uint8_t b) {
    ref_put_bytes(w, &b, 1);
}

/* A tag byte followed by `width` big-endian bytes of v. */
static void ref_put_tagged(tr_mp_writer *w, uint8_t tag, uint64_t v, int width) {
    uint8_t b[9];
    b[0] = tag;
    for (int i = 0; i < width; i++) {
        b[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    }
    ref_put_bytes(w, b, (size_t)width + 1);
}

static void ref_put_container(tr_mp_writer *w, uint32_t n, uint8_t fix, uint8_t t16, uint8_t t32) {
    if (n < 16) {
        ref_put_u8(w, (uint8_t)(fix | n));
    } else if (n <= 0xffff) {
        ref_put_tagged(w, t16, n, 2);
    } else {
        ref_put_tagged(w, t32, n, 4);
    }
}

static void ref_wire_put_map(tr_mp_writer *w, uint32_t n) {
    ref_put_container(w, n, 0x80, 0xde, 0xdf);
}
static void ref_wire_put_array(tr_mp_writer *w, uint32_t n) {
    ref_put_container(w, n, 0x90, 0xdc, 0xdd);
}

static void ref_wire_put_str(tr_mp_writer *w, const char *s) {
    cr_assert(s != NULL);
    size_t n = strlen(s);
    cr_assert(n <= UINT32_MAX);
    if (n < 32) {
        ref_put_u8(w, (uint8_t)(0xa0 | n));
    } else if (n <= 0xff) {
        ref_put_tagged(w, 0xd9, n, 1);
    } else if (n <= 0xffff) {
        ref_put_tagged(w, 0xda, n, 2);
    } else {
        ref_put_tagged(w, 0xdb, n, 4);
    }
    ref_put_bytes(w, s, n);
}

static void ref_wire_put_uint(tr_mp_writer *w, uint64_t v) {
    if (v < 128) {
        ref_put_u8(w, (uint8_t)v);
    } else if (v <= 0xff) {
        ref_put_tagged(w, 0xcc, v, 1);
    } else if (v <= 0xffff) {
        ref_put_tagged(w, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        ref_put_tagged(w, 0xce, v, 4);
    } else {
        ref_put_tagged(w, 0xcf, v, 8);
    }
}

static void ref_wire_put_int(tr_mp_writer *w, int64_t v) {
    if (v >= 0) {
        ref_wire_put_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        ref_put_u8(w, (uint8_t)(int8_t)v);
    } else if (v >= INT8_MIN) {
        ref_put_tagged(w, 0xd0, (uint64_t)v, 1);
    } else if (v >= INT16_MIN) {
        ref_put_tagged(w, 0xd1, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        ref_put_tagged(w, 0xd2, (uint64_t)v, 4);
    } else {
        ref_put_tagged(w, 0xd3, (uint64_t)v, 8);
    }
}

static void ref_wire_put_bool(tr_mp_writer *w, bool v) {
    ref_put_u8(w, v ? 0xc3 : 0xc2);
}
static void ref_wire_put_nil(tr_mp_writer *w) {
    ref_put_u8(w, 0xc0);
}

/* ---- reader ------------------------------------------------------------------------- */

static void ref_wire_r_init(tr_mp_reader *r, const void *buf, size_t len) {
    cr_assert(r != NULL && (buf != NULL || len == 0));
    r->p = buf;
    r->end = r->p + len;
    r->err = 0;
}

static int ref_fail(tr_mp_reader *r) {
    r->err = TR_EPROTO;
    r->p = r->end;
    return TR_EPROTO;
}

static tr_wire_kind ref_wire_peek(const tr_mp_reader *r) {
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
static int ref_get_be(tr_mp_reader *r, int width, uint64_t *v) {
    if (r->err != 0 || r->end - r->p < width) {
        return ref_fail(r);
    }
    uint64_t x = 0;
    for (int i = 0; i < width; i++) {
        x = (x << 8) | r->p[i];
    }
    r->p += width;
    *v = x;
    return 0;
}

static int ref_get_tag(tr_mp_reader *r, uint8_t *tag) {
    if (r->err != 0 || r->p >= r->end) {
        return ref_fail(r);
    }
    *tag = *r->p++;
    return 0;
}

static int ref_get_container(tr_mp_reader *r, uint32_t *n, uint8_t fix, uint8_t t16, uint8_t t32) {
    uint8_t tag;
    uint64_t v;
    if (ref_get_tag(r, &tag) != 0) {
        return TR_EPROTO;
    }
    if ((tag & 0xf0) == fix) {
        v = tag & 0x0f;
    } else if (tag == t16) {
        if (ref_get_be(r, 2, &v) != 0) {
            return TR_EPROTO;
        }
    } else if (tag == t32) {
        if (ref_get_be(r, 4, &v) != 0) {
            return TR_EPROTO;
        }
    } else {
        return ref_fail(r);
    }
    /* Every element takes at least one byte: a header announcing more is hostile. */
    uint64_t min_bytes = fix == 0x80 ? 2 * v : v;
    if (min_bytes > (uint64_t)(r->end - r->p)) {
        return ref_fail(r);
    }
    *n = (uint32_t)v;
    return 0;
}

static int ref_wire_get_map(tr_mp_reader *r, uint32_t *n) {
    return ref_get_container(r, n, 0x80, 0xde, 0xdf);
}
static int ref_wire_get_array(tr_mp_reader *r, uint32_t *n) {
    return ref_get_container(r, n, 0x90, 0xdc, 0xdd);
}

static int ref_get_raw_len(tr_mp_reader *r, uint8_t tag, uint64_t *n) {
    if (tag >= 0xa0 && tag <= 0xbf) {
        *n = tag & 0x1f;
        return 0;
    }
    switch (tag) {
    case 0xd9:
    case 0xc4: return ref_get_be(r, 1, n);
    case 0xda:
    case 0xc5: return ref_get_be(r, 2, n);
    case 0xdb:
    case 0xc6: return ref_get_be(r, 4, n);
    default: return ref_fail(r);
    }
}

static int ref_wire_get_str(tr_mp_reader *r, const char **s, uint32_t *len) {
    uint8_t tag;
    uint64_t n;
    if (ref_wire_peek(r) != TR_WIRE_STR || ref_get_tag(r, &tag) != 0 ||
        ref_get_raw_len(r, tag, &n)) {
        return ref_fail(r);
    }
    if (n > (uint64_t)(r->end - r->p)) {
        return ref_fail(r);
    }
    *s = (const char *)r->p;
    *len = (uint32_t)n;
    r->p += n;
    return 0;
}

/* A float holding an integral value in int64 range (JSON tools may send 5.0 for 5). */
static int ref_get_integral_float(tr_mp_reader *r, int64_t *v) {
    uint8_t tag;
    uint64_t bits;
    double d;
    if (ref_get_tag(r, &tag) != 0 || ref_get_be(r, tag == 0xca ? 4 : 8, &bits) != 0) {
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
        return ref_fail(r);
    }
    *v = (int64_t)d;
    return 0;
}

static int ref_wire_get_int(tr_mp_reader *r, int64_t *v) {
    uint8_t tag;
    uint64_t x;
    if (ref_wire_peek(r) == TR_WIRE_FLOAT) {
        return ref_get_integral_float(r, v);
    }
    if (ref_wire_peek(r) != TR_WIRE_INT || ref_get_tag(r, &tag) != 0) {
        return ref_fail(r);
    }
    if (tag <= 0x7f) {
        *v = tag;
        return 0;
    }
    if (tag >= 0xe0) {
        *v = (int8_t)tag;
        return 0;
    }
    static const int widths[8] = {1, 2, 4, 8, 1, 2, 4, 8}; /* cc..cf unsigned, d0..d3 signed */
    int width = widths[tag - 0xcc];
    if (ref_get_be(r, width, &x) != 0) {
        return TR_EPROTO;
    }
    if (tag <= 0xcf) {
        if (x > INT64_MAX) {
            return ref_fail(r);
        }
        *v = (int64_t)x;
    } else {
        int shift = 64 - 8 * width; /* sign-extend */
        *v = (int64_t)(x << shift) >> shift;
    }
    return 0;
}

static int ref_wire_get_bool(tr_mp_reader *r, bool *v) {
    uint8_t tag;
    if (ref_wire_peek(r) != TR_WIRE_BOOL || ref_get_tag(r, &tag) != 0) {
        return ref_fail(r);
    }
    *v = tag == 0xc3;
    return 0;
}

static int ref_wire_get_nil(tr_mp_reader *r) {
    uint8_t tag;
    if (ref_wire_peek(r) != TR_WIRE_NIL || ref_get_tag(r, &tag) != 0) {
        return ref_fail(r);
    }
    return 0;
}

static int ref_skip_bytes(tr_mp_reader *r, uint64_t n) {
    if (n > (uint64_t)(r->end - r->p)) {
        return ref_fail(r);
    }
    r->p += n;
    return 0;
}

static int ref_skip_depth(tr_mp_reader *r, int depth);

static int ref_skip_elements(tr_mp_reader *r, uint64_t n, int depth) {
    for (uint64_t i = 0; i < n; i++) {
        if (ref_skip_depth(r, depth) != 0) {
            return TR_EPROTO;
        }
    }
    return 0;
}

static int ref_skip_ext(tr_mp_reader *r, uint8_t tag) {
    uint64_t n;
    static const uint8_t fixext[5] = {1, 2, 4, 8, 16}; /* d4..d8 */
    if (tag >= 0xd4 && tag <= 0xd8) {
        return ref_skip_bytes(r, 1u + fixext[tag - 0xd4]);
    }
    int width = tag == 0xc7 ? 1 : tag == 0xc8 ? 2 : 4;
    if (ref_get_be(r, width, &n) != 0) {
        return TR_EPROTO;
    }
    return ref_skip_bytes(r, n + 1);
}

static int ref_skip_depth(tr_mp_reader *r, int depth) {
    uint32_t n;
    uint8_t tag;
    uint64_t len;
    if (depth > TR_WIRE_DEPTH_MAX) {
        return ref_fail(r);
    }
    switch (ref_wire_peek(r)) {
    case TR_WIRE_NIL: return ref_wire_get_nil(r);
    case TR_WIRE_BOOL: return ref_skip_bytes(r, 1);
    case TR_WIRE_INT: {
        int64_t v;
        if (*r->p == 0xcf) { /* any uint64 is fine to skip */
            return ref_skip_bytes(r, 9);
        }
        return ref_wire_get_int(r, &v);
    }
    case TR_WIRE_FLOAT: return ref_skip_bytes(r, *r->p == 0xca ? 5 : 9);
    case TR_WIRE_STR:
    case TR_WIRE_BIN:
        if (ref_get_tag(r, &tag) != 0 || ref_get_raw_len(r, tag, &len) != 0) {
            return TR_EPROTO;
        }
        return ref_skip_bytes(r, len);
    case TR_WIRE_ARRAY:
        return ref_wire_get_array(r, &n) != 0 ? TR_EPROTO : ref_skip_elements(r, n, depth + 1);
    case TR_WIRE_MAP:
        return ref_wire_get_map(r, &n) != 0 ? TR_EPROTO
                                            : ref_skip_elements(r, 2 * (uint64_t)n, depth + 1);
    case TR_WIRE_EXT:
        if (ref_get_tag(r, &tag) != 0) {
            return TR_EPROTO;
        }
        return ref_skip_ext(r, tag);
    default: return ref_fail(r);
    }
}

static int ref_wire_skip(tr_mp_reader *r) {
    return ref_skip_depth(r, 0);
}

static bool ref_wire_str_eq(const char *s, uint32_t len, const char *lit) {
    size_t n = strlen(lit);
    return n == len && memcmp(s, lit, n) == 0;
}

/* ---- the register client codec (registers.c) ---- */

static int ref_reg_request_encode(void *buf, size_t cap, uint32_t key, bool has_value,
                                  int64_t value, size_t *len) {
    tr_mp_writer w;
    ref_wire_w_init(&w, buf, cap);
    ref_wire_put_map(&w, has_value ? 2 : 1);
    ref_wire_put_str(&w, "key");
    ref_wire_put_uint(&w, key);
    if (has_value) {
        ref_wire_put_str(&w, "value");
        ref_wire_put_int(&w, value);
    }
    *len = w.len;
    return w.err;
}

static int ref_reg_request_decode(const void *body, size_t len, uint32_t *key, bool *has_value,
                                  int64_t *value) {
    tr_mp_reader r;
    uint32_t n, klen;
    const char *k;
    int64_t key_v = -1;
    ref_wire_r_init(&r, body, len);
    *has_value = false;
    *value = 0;
    if (ref_wire_get_map(&r, &n) != 0) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (ref_wire_get_str(&r, &k, &klen) != 0) {
            break;
        }
        if (ref_wire_str_eq(k, klen, "key")) {
            ref_wire_get_int(&r, &key_v);
        } else if (ref_wire_str_eq(k, klen, "value") && ref_wire_peek(&r) != TR_WIRE_NIL) {
            *has_value = ref_wire_get_int(&r, value) == 0;
        } else {
            ref_wire_skip(&r);
        }
    }
    if (r.err != 0 || r.p != r.end || key_v < 0 || key_v > (int64_t)UINT32_MAX) {
        return TR_EPROTO;
    }
    *key = (uint32_t)key_v;
    return 0;
}

static int ref_reg_reply_encode_ok(void *buf, size_t cap, bool has_value, int64_t value,
                                   size_t *len) {
    tr_mp_writer w;
    ref_wire_w_init(&w, buf, cap);
    ref_wire_put_map(&w, 2);
    ref_wire_put_str(&w, "ok");
    ref_wire_put_bool(&w, true);
    ref_wire_put_str(&w, "value");
    if (has_value) {
        ref_wire_put_int(&w, value);
    } else {
        ref_wire_put_nil(&w);
    }
    *len = w.len;
    return w.err;
}

static int ref_reg_reply_encode_err(void *buf, size_t cap, const char *error, bool indeterminate,
                                    size_t *len) {
    tr_mp_writer w;
    ref_wire_w_init(&w, buf, cap);
    ref_wire_put_map(&w, 3);
    ref_wire_put_str(&w, "ok");
    ref_wire_put_bool(&w, false);
    ref_wire_put_str(&w, "error");
    ref_wire_put_str(&w, error);
    ref_wire_put_str(&w, "indeterminate");
    ref_wire_put_bool(&w, indeterminate);
    *len = w.len;
    return w.err;
}

static int ref_reg_reply_fields(const void *body, size_t len, const char *field,
                                tr_reg_reply *out) {
    tr_mp_reader r;
    uint32_t n, klen, slen;
    const char *k, *s;
    bool have_ok = false;
    memset(out, 0, sizeof *out);
    ref_wire_r_init(&r, body, len);
    if (ref_wire_get_map(&r, &n) != 0) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (ref_wire_get_str(&r, &k, &klen) != 0) {
            break;
        }
        if (ref_wire_str_eq(k, klen, "ok")) {
            have_ok = ref_wire_get_bool(&r, &out->ok) == 0;
        } else if (ref_wire_str_eq(k, klen, field) && ref_wire_peek(&r) != TR_WIRE_NIL) {
            out->has_value = ref_wire_get_int(&r, &out->value) == 0;
        } else if (ref_wire_str_eq(k, klen, "indeterminate")) {
            ref_wire_get_bool(&r, &out->indeterminate);
        } else if (ref_wire_str_eq(k, klen, "error") && ref_wire_get_str(&r, &s, &slen) == 0) {
            size_t m = slen < sizeof out->error - 1 ? slen : sizeof out->error - 1;
            memcpy(out->error, s, m);
            out->error[m] = '\0';
        } else {
            ref_wire_skip(&r);
        }
    }
    if (r.err != 0 || r.p != r.end || !have_ok) {
        return TR_EPROTO;
    }
    return 0;
}

#endif /* TR_TEST_WIRE_REFERENCE_H */
