/* The registers' msgpack subset and client codec: round trips and hostile input. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "actors/register_wire.h"
#include "actors/registers.h"

Test(register_wire, ints_round_trip_at_every_width) {
    static const int64_t vals[] = {
        0,         1,  127, 128, 255,  256,  65535,  65536,  4294967295LL, 4294967296LL,
        INT64_MAX, -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN,    (int64_t)INT32_MIN - 1,
        INT64_MIN};
    uint8_t buf[256];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, sizeof vals / sizeof vals[0]);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tr_mp_write_int(&w, vals[i]);
    }
    cr_assert_eq(w.err, 0);
    tr_mp_reader r;
    uint32_t n;
    tr_mp_reader_init(&r, buf, w.len);
    cr_assert_eq(tr_mp_read_array(&r, &n), 0);
    cr_assert_eq(n, sizeof vals / sizeof vals[0]);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        cr_assert_eq(tr__wire_get_int(&r, &v), 0);
        cr_assert_eq(v, vals[i], "index %zu: %lld != %lld", i, (long long)v, (long long)vals[i]);
    }
    cr_assert_eq(r.p, r.end);
}

Test(register_wire, writer_reports_overflow_and_never_writes_past_cap) {
    uint8_t buf[8];
    memset(buf, 0xee, sizeof buf);
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, 4);
    tr_mp_write_cstr(&w, "a long string");
    cr_assert_eq(w.err, TR_ETOOBIG);
    cr_assert_eq(buf[4], 0xee);
}

Test(register_wire, request_round_trips_and_ignores_unknown_keys) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    uint32_t key;
    bool has;
    int64_t v;
    cr_assert_eq(tr__registers_request_encode(buf, sizeof buf, 7, true, -5, &len), 0);
    cr_assert_eq(tr__registers_request_decode(buf, len, &key, &has, &v), 0);
    cr_assert(key == 7 && has && v == -5);
    /* {"x":[1,{"y":2}],"key":3} as `troupe call` might send with extra fields */
    const uint8_t extra[] = {0x82, 0xa1, 'x',  0x92, 0x01, 0x81, 0xa1,
                             'y',  0x02, 0xa3, 'k',  'e',  'y',  0x03};
    cr_assert_eq(tr__registers_request_decode(extra, sizeof extra, &key, &has, &v), 0);
    cr_assert(key == 3 && !has);
}

Test(register_wire, request_rejects_hostile_input) {
    uint32_t key;
    bool has;
    int64_t v;
    const uint8_t no_key[] = {0x81, 0xa5, 'v', 'a', 'l', 'u', 'e', 0x01};
    const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    const uint8_t truncated[] = {0x81, 0xa3, 'k', 'e'};
    const uint8_t neg_key[] = {0x81, 0xa3, 'k', 'e', 'y', 0xff};
    const uint8_t trailing[] = {0x81, 0xa3, 'k', 'e', 'y', 0x01, 0x00};
    const uint8_t reserved[] = {0x81, 0xa3, 'k', 'e', 'y', 0xc1};
    uint8_t deep[64];
    deep[0] = 0x81;
    deep[1] = 0xa1;
    deep[2] = 'x';
    for (size_t i = 3; i < sizeof deep; i++) {
        deep[i] = 0x91; /* arrays nested far beyond TR_MP_DEPTH_MAX */
    }
    cr_assert_eq(tr__registers_request_decode(no_key, sizeof no_key, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(huge_map, sizeof huge_map, &key, &has, &v),
                 TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(truncated, sizeof truncated, &key, &has, &v),
                 TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(neg_key, sizeof neg_key, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(trailing, sizeof trailing, &key, &has, &v),
                 TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(reserved, sizeof reserved, &key, &has, &v),
                 TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(deep, sizeof deep, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr__registers_request_decode(NULL, 0, &key, &has, &v), TR_EPROTO);
}

Test(register_wire, every_truncation_of_a_reply_is_rejected) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    tr_reg_reply rep;
    cr_assert_eq(tr__registers_reply_encode_err(buf, sizeof buf, "no quorum (store)", true, &len),
                 0);
    cr_assert_eq(tr__registers_reply_decode(buf, len, &rep), 0);
    cr_assert(!rep.ok && rep.indeterminate);
    cr_assert_str_eq(rep.error, "no quorum (store)");
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(tr__registers_reply_decode(buf, cut, &rep), TR_EPROTO, "cut at %zu", cut);
    }
    cr_assert_eq(tr__registers_reply_encode_ok(buf, sizeof buf, false, 0, &len), 0);
    cr_assert_eq(tr__registers_reply_decode(buf, len, &rep), 0);
    cr_assert(rep.ok && !rep.has_value);
    cr_assert_eq(tr__registers_reply_encode_ok(buf, sizeof buf, true, 1LL << 40, &len), 0);
    cr_assert_eq(tr__registers_reply_decode(buf, len, &rep), 0);
    cr_assert(rep.ok && rep.has_value && rep.value == 1LL << 40);
}

Test(register_wire, boot_arg_rejects_bad_peer_lists) {
    tr_register_arg arg;
    const char *ok[] = {"n1", "n2", "n3"};
    const char *at[] = {"n1", "n@2"};
    const char *empty[] = {"n1", ""};
    tr_registers_opts o = {.peer_count = 3, .peer_names = ok};
    cr_assert_eq(tr__registers_arg_init(&arg, &o), 0);
    cr_assert_str_eq(arg.peers[2], "n3");
    cr_assert_eq(arg.quorum_timeout_ms, 300);
    o = (tr_registers_opts){.peer_count = 2, .peer_names = at};
    cr_assert_eq(tr__registers_arg_init(&arg, &o), TR_EINVAL);
    o = (tr_registers_opts){.peer_count = 2, .peer_names = empty};
    cr_assert_eq(tr__registers_arg_init(&arg, &o), TR_EINVAL);
    o = (tr_registers_opts){.peer_count = 0, .peer_names = ok};
    cr_assert_eq(tr__registers_arg_init(&arg, &o), TR_EINVAL);
    o = (tr_registers_opts){.peer_count = TR_REG_PEERS_MAX + 1, .peer_names = ok};
    cr_assert_eq(tr__registers_arg_init(&arg, &o), TR_EINVAL);
}

Test(register_wire, integral_floats_are_ints_and_fractions_are_rejected) {
    uint32_t key;
    bool has;
    int64_t v;
    /* {"key": 2.0 (float64), "value": -3.0 (float32)} */
    const uint8_t ok[] = {0x82, 0xa3, 'k', 'e', 'y', 0xcb, 0x40, 0x00, 0,    0,    0,    0,   0,
                          0,    0xa5, 'v', 'a', 'l', 'u',  'e',  0xca, 0xc0, 0x40, 0x00, 0x00};
    cr_assert_eq(tr__registers_request_decode(ok, sizeof ok, &key, &has, &v), 0);
    cr_assert(key == 2 && has && v == -3);
    const uint8_t frac[] = {0x81, 0xa3, 'k', 'e', 'y', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr__registers_request_decode(frac, sizeof frac, &key, &has, &v),
                 TR_EPROTO); /* 1.5 */
    const uint8_t nan[] = {0x81, 0xa3, 'k', 'e', 'y', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr__registers_request_decode(nan, sizeof nan, &key, &has, &v), TR_EPROTO);
    const uint8_t huge[] = {0x81, 0xa3, 'k', 'e', 'y', 0xcb, 0x43, 0xe0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr__registers_request_decode(huge, sizeof huge, &key, &has, &v),
                 TR_EPROTO); /* 2^63 */
}

/* ---- the fast paths agree with the reference codec (tests/actors/wire_reference.h) ---- */

/* The reference codec names the types and kinds as it had them: the same types. */
typedef tr_mp_writer tr_mp_writer;
typedef tr_mp_reader tr_mp_reader;
typedef tr_mp_type tr_wire_kind;
#define TR_WIRE_END TR_MP_END
#define TR_WIRE_NIL TR_MP_NIL
#define TR_WIRE_BOOL TR_MP_BOOL
#define TR_WIRE_INT TR_MP_INT
#define TR_WIRE_FLOAT TR_MP_FLOAT
#define TR_WIRE_STR TR_MP_STR
#define TR_WIRE_BIN TR_MP_BIN
#define TR_WIRE_ARRAY TR_MP_ARRAY
#define TR_WIRE_MAP TR_MP_MAP
#define TR_WIRE_EXT TR_MP_EXT
#define TR_WIRE_BAD TR_MP_BAD
#define TR_WIRE_DEPTH_MAX TR_MP_DEPTH_MAX
#include "wire_reference.h"

enum {
    OP_PEEK,
    OP_INT,
    OP_STR,
    OP_MAP,
    OP_ARRAY,
    OP_BOOL,
    OP_NIL,
    OP_SKIP,
    OP_COUNT
};

/* Runs one read on the current reader (a) and on the reference (b), both over `buf`, and
 * checks that they agree on the result, the outputs, the error and the position. */
static void same_read(tr_mp_reader *a, tr_mp_reader *b, int op, const uint8_t *buf, size_t len) {
    int ra = 0, rb = 0;
    int64_t ia = 0, ib = 0;
    const char *sa = NULL, *sb = NULL;
    uint32_t na = 0, nb = 0;
    bool ba = false, bb = false;
    switch (op) {
    case OP_PEEK:
        ra = (int)tr_mp_peek(a);
        rb = (int)ref_wire_peek(b);
        break;
    case OP_INT:
        ra = tr__wire_get_int(a, &ia);
        rb = ref_wire_get_int(b, &ib);
        break;
    case OP_STR:
        ra = tr_mp_read_str(a, &sa, &na);
        rb = ref_wire_get_str(b, &sb, &nb);
        break;
    case OP_MAP:
        ra = tr_mp_read_map(a, &na);
        rb = ref_wire_get_map(b, &nb);
        break;
    case OP_ARRAY:
        ra = tr_mp_read_array(a, &na);
        rb = ref_wire_get_array(b, &nb);
        break;
    case OP_BOOL:
        ra = tr_mp_read_bool(a, &ba);
        rb = ref_wire_get_bool(b, &bb);
        break;
    case OP_NIL:
        ra = tr_mp_read_nil(a);
        rb = ref_wire_get_nil(b);
        break;
    default:
        ra = tr_mp_skip(a);
        rb = ref_wire_skip(b);
        break;
    }
    uint8_t first = len > 0 ? buf[0] : 0;
    cr_assert_eq(ra, rb, "op %d on %zu bytes from 0x%02x: %d != %d", op, len, first, ra, rb);
    cr_assert_eq(a->err, b->err, "op %d on %zu bytes from 0x%02x: err", op, len, first);
    cr_assert_eq(a->p, b->p, "op %d on %zu bytes from 0x%02x: position %td != %td", op, len, first,
                 a->p - buf, b->p - buf);
    cr_assert_eq(a->end, b->end);
    if (ra == 0 && op != OP_PEEK) {
        cr_assert(ia == ib && sa == sb && na == nb && ba == bb,
                  "op %d on %zu bytes from 0x%02x: outputs differ", op, len, first);
    }
}

/* The fast cursor's int and int-or-nil steps accept only what the reference reads as an int
 * (or a nil), to the same value and position, and never what it rejects. */
static void fast_agrees(const uint8_t *buf, size_t len) {
    tr__wire_fast c = tr__wire_fast_init(buf, len);
    tr_mp_reader r;
    int64_t fv = 0, rv = 0;
    ref_wire_r_init(&r, buf, len);
    bool ok = tr__wire_fast_int(&c, &fv);
    int rc = ref_wire_get_int(&r, &rv);
    uint8_t first = len > 0 ? buf[0] : 0;
    if (ok) {
        cr_assert(rc == 0 && fv == rv && c.p == r.p, "fast int on %zu bytes from 0x%02x", len,
                  first);
    } else {
        cr_assert(c.p == buf, "a failed step does not move");
        /* only floats are left to the general path among what it accepts */
        cr_assert(rc != 0 || first == 0xca || first == 0xcb, "0x%02x, %zu bytes", first, len);
    }
    bool has = true;
    c = tr__wire_fast_init(buf, len);
    ok = tr__wire_fast_int_or_nil(&c, &has, &fv);
    if (ok && !has) {
        cr_assert(len > 0 && buf[0] == 0xc0 && c.p == buf + 1);
    } else if (ok) {
        cr_assert(rc == 0 && fv == rv && c.p == r.p);
    } else {
        cr_assert(rc != 0 || first == 0xca || first == 0xcb);
    }
    c = tr__wire_fast_init(buf, len); /* a literal longer than what is left never matches */
    cr_assert(!tr__wire_fast_lit(&c, (const char *)buf, len + 1) || len + 1 == 0);
    cr_assert(tr__wire_fast_lit(&c, (const char *)buf, len) && c.p == buf + len);
}

/* Every op, then every op again in sequence, on `whole` truncated at every length (copied
 * to a heap block of exactly that size, so that under valgrind a read past the end shows). */
static void same_reads_at_every_length(const uint8_t *whole, size_t len) {
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t *buf = malloc(cut > 0 ? cut : 1);
        cr_assert(buf != NULL);
        memcpy(buf, whole, cut);
        fast_agrees(buf, cut);
        for (int op = 0; op < OP_COUNT; op++) {
            tr_mp_reader a, b;
            tr_mp_reader_init(&a, buf, cut);
            ref_wire_r_init(&b, buf, cut);
            same_read(&a, &b, op, buf, cut);
            for (int next = 0; next < OP_COUNT; next++) { /* the state it left behind */
                same_read(&a, &b, (op + next) % OP_COUNT, buf, cut);
            }
        }
        free(buf);
    }
}

Test(register_wire, reader_agrees_with_the_reference_on_every_tag_and_truncation) {
    /* Payloads after the tag: extremes of each width, integral and fractional floats, NaN,
     * +-2^63, and lengths that announce more than there is. */
    static const uint8_t payloads[][9] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0},
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        {0x80, 0, 0, 0, 0, 0, 0, 0, 0},
        {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09},
        {0x40, 0x00, 0, 0, 0, 0, 0, 0, 0}, /* 2.0 (f64), 2.0 (f32) */
        {0xc0, 0x40, 0, 0, 0, 0, 0, 0, 0}, /* -32.0 (f64), -3.0 (f32) */
        {0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0}, /* 1.5 */
        {0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0}, /* NaN */
        {0x43, 0xe0, 0, 0, 0, 0, 0, 0, 0}, /* 2^63: out of range */
        {0xc3, 0xe0, 0, 0, 0, 0, 0, 0, 0}, /* -2^63: in range */
        {0x5f, 0x00, 0, 0, 0, 0, 0, 0, 0}, /* 2^63 as f32 */
        {0x00, 0x02, 0xa1, 'x', 0xa1, 'y', 0, 0, 0},
        {0x02, 0x01, 0xc0, 0xc2, 0xc3, 0x93, 0x01, 0x02, 0x03},
    };
    uint8_t buf[10];
    for (unsigned tag = 0; tag < 256; tag++) {
        for (size_t k = 0; k < sizeof payloads / sizeof payloads[0]; k++) {
            buf[0] = (uint8_t)tag;
            memcpy(buf + 1, payloads[k], 9);
            same_reads_at_every_length(buf, sizeof buf);
        }
    }
}

/* xorshift64: a fixed sequence, so that a failure reproduces. */
static uint64_t next_rand(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

Test(register_wire, reader_agrees_with_the_reference_on_random_bytes) {
    /* Bytes biased towards tags and small lengths, so that most buffers hold a few valid
     * values before something hostile. */
    static const uint8_t likely[] = {
        0x00, 0x01, 0x7f, 0xe0, 0xff, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca, 0xcb,
        0xc0, 0xc1, 0xc2, 0xc3, 0x80, 0x81, 0x82, 0x8f, 0x90, 0x91, 0x93, 0x9f, 0xa0, 0xa1, 0xa3,
        0xbf, 0xd9, 0xda, 0xdb, 0xc4, 0xdc, 0xdd, 0xde, 0xdf, 0xd4, 0xd8, 0xc7, 0xc8, 0xc9};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t buf[48];
    for (int round = 0; round < 20000; round++) {
        size_t len = next_rand(&x) % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            uint64_t v = next_rand(&x);
            buf[i] = (v & 1) ? likely[(v >> 8) % sizeof likely] : (uint8_t)(v >> 8);
        }
        tr_mp_reader a, b;
        tr_mp_reader_init(&a, buf, len);
        ref_wire_r_init(&b, buf, len);
        for (int step = 0; step < 16; step++) {
            same_read(&a, &b, (int)(next_rand(&x) % OP_COUNT), buf, len);
        }
    }
}

/* Writes one value with the current writer and the reference into buffers of capacity cap
 * (after `pre` bytes already used), and checks the outcome: the same bytes when it fits;
 * when it does not, TR_ETOOBIG and nothing written past what fitted before. */
typedef void (*put_fn)(tr_mp_writer *w, const void *arg);

static void same_write(put_fn cur, put_fn ref, const void *arg, size_t cap) {
    static uint8_t ba[70016], bb[70016];
    cr_assert(cap < sizeof ba);
    memset(ba, 0xee, cap + 1);
    memset(bb, 0xee, cap + 1);
    tr_mp_writer a, b;
    tr_mp_writer_init(&a, ba, cap);
    ref_wire_w_init(&b, bb, cap);
    cur(&a, arg);
    ref(&b, arg);
    cr_assert_eq(a.err, b.err, "cap %zu", cap);
    if (a.err == 0) {
        cr_assert_eq(a.len, b.len, "cap %zu", cap);
        cr_assert_arr_eq(ba, bb, a.len + 1, "cap %zu", cap);
    } else {
        cr_assert_eq(a.err, TR_ETOOBIG);
        cr_assert_eq(a.len, 0, "cap %zu: a value that does not fit is not written", cap);
        for (size_t i = 0; i <= cap; i++) {
            cr_assert_eq(ba[i], 0xee, "cap %zu: byte %zu written", cap, i);
        }
    }
}

/* The raw writers through tr_mp_writer_room/advance (checked against the reference puts). */
static void raw_int(tr_mp_writer *w, const void *v) {
    uint8_t *p = tr_mp_writer_room(w, 9);
    if (p == NULL) {
        tr_mp_write_int(w, *(const int64_t *)v);
        return;
    }
    tr_mp_writer_advance(w, tr_mp_put_int(p, *(const int64_t *)v));
}
static void raw_uint(tr_mp_writer *w, const void *v) {
    uint8_t *p = tr_mp_writer_room(w, 9);
    if (p == NULL) {
        tr_mp_write_uint(w, *(const uint64_t *)v);
        return;
    }
    tr_mp_writer_advance(w, tr_mp_put_uint(p, *(const uint64_t *)v));
}
static void cur_int(tr_mp_writer *w, const void *v) {
    tr_mp_write_int(w, *(const int64_t *)v);
}
static void ref_int(tr_mp_writer *w, const void *v) {
    ref_wire_put_int(w, *(const int64_t *)v);
}
static void cur_uint(tr_mp_writer *w, const void *v) {
    tr_mp_write_uint(w, *(const uint64_t *)v);
}
static void ref_uint(tr_mp_writer *w, const void *v) {
    ref_wire_put_uint(w, *(const uint64_t *)v);
}
static void cur_map(tr_mp_writer *w, const void *v) {
    tr_mp_write_map(w, *(const uint32_t *)v);
}
static void ref_map(tr_mp_writer *w, const void *v) {
    ref_wire_put_map(w, *(const uint32_t *)v);
}
static void cur_arr(tr_mp_writer *w, const void *v) {
    tr_mp_write_array(w, *(const uint32_t *)v);
}
static void ref_arr(tr_mp_writer *w, const void *v) {
    ref_wire_put_array(w, *(const uint32_t *)v);
}
static void cur_str(tr_mp_writer *w, const void *s) {
    tr_mp_write_cstr(w, s);
}
static void ref_str(tr_mp_writer *w, const void *s) {
    ref_wire_put_str(w, s);
}
static void cur_misc(tr_mp_writer *w, const void *v) {
    int k = *(const int *)v;
    k == 0 ? tr_mp_write_nil(w) : tr_mp_write_bool(w, k == 2);
}
static void ref_misc(tr_mp_writer *w, const void *v) {
    int k = *(const int *)v;
    k == 0 ? ref_wire_put_nil(w) : ref_wire_put_bool(w, k == 2);
}

Test(register_wire, writer_agrees_with_the_reference_at_every_width_and_capacity) {
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int bits = 0; bits <= 64; bits++) { /* 2^bits - 1, 2^bits, and their negatives */
        uint64_t p = bits == 64 ? 0 : 1ull << bits;
        uint64_t us[] = {p - 1, p, p + 1, next_rand(&x) >> (64 - (bits ? bits : 1))};
        for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
            int64_t is[] = {(int64_t)us[i], (int64_t)(0 - us[i]), (int64_t)~us[i]};
            for (size_t cap = 0; cap <= 10; cap++) {
                same_write(cur_uint, ref_uint, &us[i], cap);
                same_write(raw_uint, ref_uint, &us[i], cap);
                for (size_t j = 0; j < 3; j++) {
                    same_write(cur_int, ref_int, &is[j], cap);
                    same_write(raw_int, ref_int, &is[j], cap);
                }
            }
        }
    }
    static const uint32_t counts[] = {0, 1, 15, 16, 17, 65535, 65536, UINT32_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        for (size_t cap = 0; cap <= 6; cap++) {
            same_write(cur_map, ref_map, &counts[i], cap);
            same_write(cur_arr, ref_arr, &counts[i], cap);
        }
    }
    for (int k = 0; k < 3; k++) {
        same_write(cur_misc, ref_misc, &k, 0);
        same_write(cur_misc, ref_misc, &k, 1);
    }
}

Test(register_wire, strings_agree_with_the_reference_at_every_header_size) {
    static char s[70001];
    static const size_t lens[] = {0, 1, 5, 31, 32, 33, 255, 256, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        for (size_t j = 0; j < n; j++) {
            s[j] = (char)('a' + j % 26);
        }
        s[n] = '\0';
        size_t hdr = n < 32 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
        same_write(cur_str, ref_str, s, n + hdr);     /* exactly fits */
        same_write(cur_str, ref_str, s, n + hdr - 1); /* one byte short */
        same_write(cur_str, ref_str, s, hdr);         /* room for the header only */
        same_write(cur_str, ref_str, s, 0);
    }
}

Test(register_wire, a_full_writer_stays_full_and_keeps_what_fitted) {
    uint8_t buf[8];
    memset(buf, 0xee, sizeof buf);
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, 6);
    tr_mp_write_uint(&w, 7);     /* 1 byte */
    tr_mp_write_int(&w, -1000);  /* 3 bytes */
    tr_mp_write_uint(&w, 70000); /* 5 bytes: does not fit */
    tr_mp_write_nil(&w);         /* would fit, but the writer is full */
    cr_assert_eq(w.err, TR_ETOOBIG);
    cr_assert_eq(w.len, 4);
    const uint8_t want[] = {0x07, 0xd1, 0xfc, 0x18, 0xee, 0xee, 0xee};
    cr_assert_arr_eq(buf, want, sizeof want);
}

/* Decodes buf[0..len) as a request and as a reply (two field names) with the current codec
 * and the reference, which must agree on the result and, on success, on every output. */
static void same_decodes(const uint8_t *buf, size_t len) {
    uint32_t ka = 0, kb = 0;
    bool ha = false, hb = false;
    int64_t va = 0, vb = 0;
    int ra = tr__registers_request_decode(buf, len, &ka, &ha, &va);
    int rb = ref_reg_request_decode(buf, len, &kb, &hb, &vb);
    cr_assert_eq(ra, rb, "request of %zu bytes", len);
    if (ra == 0) {
        cr_assert(ka == kb && ha == hb && va == vb, "request of %zu bytes", len);
    }
    static const char *const fields[] = {"value", "qty", "value"};
    for (size_t f = 0; f < 3; f++) {
        tr_reg_reply a, b; /* the last: tr__registers_reply_decode, compiled for "value" */
        ra = f < 2 ? tr__registers_reply_fields(buf, len, fields[f], &a)
                   : tr__registers_reply_decode(buf, len, &a);
        rb = ref_reg_reply_fields(buf, len, fields[f], &b);
        cr_assert_eq(ra, rb, "reply of %zu bytes", len);
        if (ra == 0) {
            cr_assert(a.ok == b.ok && a.has_value == b.has_value &&
                          a.indeterminate == b.indeterminate && a.value == b.value &&
                          strcmp(a.error, b.error) == 0,
                      "reply of %zu bytes", len);
        }
    }
}

/* Every truncation, and random damage: a byte replaced (often by a tag), dropped or added. */
static void same_decodes_damaged(const uint8_t *msg, size_t len, uint64_t *x) {
    uint8_t buf[TR_REG_BODY_MAX * 2];
    cr_assert(len < sizeof buf);
    for (size_t cut = 0; cut <= len; cut++) {
        same_decodes(msg, cut);
    }
    for (int round = 0; round < 300; round++) {
        size_t n = len;
        memcpy(buf, msg, len);
        for (int hits = 1 + (int)(next_rand(x) % 3); hits > 0 && n > 0; hits--) {
            uint64_t v = next_rand(x);
            size_t at = (v >> 8) % n;
            if ((v & 3) == 0 && n + 1 < sizeof buf) { /* insert */
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = (uint8_t)(v >> 32);
                n++;
            } else if ((v & 3) == 1) { /* delete */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            } else {
                buf[at] = (uint8_t)(v >> 32);
            }
        }
        same_decodes(buf, n);
    }
}

Test(register_wire, client_codec_agrees_with_the_reference) {
    static const int64_t values[] = {
        0,     1,     -1,     127,    128,          -32,          -33,       255,      256,
        65535, 65536, -32768, -32769, 4294967295LL, 4294967296LL, INT64_MAX, INT64_MIN};
    static const uint32_t keys[] = {0, 1, 3, 127, 128, 255, 256, 65535, 65536, UINT32_MAX};
    static const char *const errors[] = {"", "busy", "no quorum (query)",
                                         "an error message of 33 bytes long", "starting"};
    uint64_t x = 0x5851f42d4c957f2dull;
    uint8_t a[TR_REG_BODY_MAX], b[TR_REG_BODY_MAX];
    size_t la, lb;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            for (int has = 0; has < 2; has++) {
                int ra = tr__registers_request_encode(a, sizeof a, keys[i], has, values[j], &la);
                int rb = ref_reg_request_encode(b, sizeof b, keys[i], has, values[j], &lb);
                cr_assert(ra == 0 && rb == 0 && la == lb && memcmp(a, b, la) == 0);
                same_decodes_damaged(a, la, &x);
                tr_mp_writer w; /* a stock-style reply: {"ok": bool, "qty": int|nil} */
                tr_mp_writer_init(&w, a, sizeof a);
                tr_mp_write_map(&w, 2);
                tr_mp_write_cstr(&w, "ok");
                tr_mp_write_bool(&w, (i & 1) == 0);
                tr_mp_write_cstr(&w, "qty");
                has ? tr_mp_write_int(&w, values[j]) : tr_mp_write_nil(&w);
                cr_assert_eq(w.err, 0);
                same_decodes_damaged(a, w.len, &x);
                ra = tr__registers_reply_encode_ok(a, sizeof a, has, values[j], &la);
                rb = ref_reg_reply_encode_ok(b, sizeof b, has, values[j], &lb);
                cr_assert(ra == 0 && rb == 0 && la == lb && memcmp(a, b, la) == 0);
                same_decodes_damaged(a, la, &x);
            }
        }
    }
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        for (int ind = 0; ind < 2; ind++) {
            int ra = tr__registers_reply_encode_err(a, sizeof a, errors[i], ind, &la);
            int rb = ref_reg_reply_encode_err(b, sizeof b, errors[i], ind, &lb);
            cr_assert(ra == 0 && rb == 0 && la == lb && memcmp(a, b, la) == 0);
            same_decodes_damaged(a, la, &x);
        }
    }
    /* every capacity, tight ones included (the item-by-item path) */
    for (size_t cap = 0; cap <= sizeof a; cap++) {
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            for (int has = 0; has < 2; has++) {
                int ra = tr__registers_request_encode(a, cap, 70000, has, values[j], &la);
                int rb = ref_reg_request_encode(b, cap, 70000, has, values[j], &lb);
                cr_assert(ra == rb && (ra != 0 || (la == lb && memcmp(a, b, la) == 0)),
                          "request, cap %zu", cap);
                ra = tr__registers_reply_encode_ok(a, cap, has, values[j], &la);
                rb = ref_reg_reply_encode_ok(b, cap, has, values[j], &lb);
                cr_assert(ra == rb && (ra != 0 || (la == lb && memcmp(a, b, la) == 0)),
                          "reply, cap %zu", cap);
            }
        }
    }
    /* too small a buffer: both fail */
    cr_assert_eq(tr__registers_request_encode(a, 4, 1, true, 1, &la), TR_ETOOBIG);
    cr_assert_eq(tr__registers_reply_encode_err(a, 8, "busy", false, &la), TR_ETOOBIG);
}
