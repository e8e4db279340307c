/* The public msgpack writer and reader (troupe.h, "Message bodies"): the bytes msgpack-c
 * writes, round trips of every kind, every truncation and every tight buffer refused, the
 * limits, and the big-endian helpers. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "troupe.h"

/* ---- Helpers ----------------------------------------------------------------------------- */

static const int64_t ints[] = {
    0,         1,  127, 128, 255,  256,  65535,  65536,  4294967295LL, 4294967296LL,
    INT64_MAX, -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN,    (int64_t)INT32_MIN - 1,
    INT64_MIN};
#define INT_COUNT (sizeof ints / sizeof ints[0])

static const uint64_t uints[] = {
    0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295ULL, 4294967296ULL, 1ULL << 63, UINT64_MAX};
#define UINT_COUNT (sizeof uints / sizeof uints[0])

/* Lengths at every boundary of the str, bin, array and map forms. */
static const uint32_t lens[] = {0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536};
#define LEN_COUNT (sizeof lens / sizeof lens[0])

static char *filled(size_t n, char c) {
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* One value of every kind, written with the writer. Returns the bytes (malloc'd). */
static uint8_t *write_all_kinds(size_t cap, size_t *len, int *err) {
    uint8_t *buf = malloc(cap ? cap : 1);
    cr_assert_not_null(buf);
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_array(&w, 9);
    tr_mp_write_nil(&w);
    tr_mp_write_bool(&w, true);
    tr_mp_write_int(&w, -129);
    tr_mp_write_uint(&w, UINT64_MAX);
    tr_mp_write_cstr(&w, "thirty-two bytes of a str8 value");
    static const uint8_t bin[3] = {0, 1, 2};
    tr_mp_write_bin(&w, bin, sizeof bin);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "k");
    tr_mp_write_array(&w, 0);
    tr_mp_write_float(&w, 3.141592653589793);
    TR_MP_WRITE_LIT(&w, "\xd4\x01\x02"); /* fixext1 */
    *len = w.len;
    *err = w.err;
    return buf;
}

/* Reads what write_all_kinds wrote; 0 or the first error. */
static int read_all_kinds(tr_mp_reader *r) {
    uint32_t n, m;
    bool b;
    int64_t i;
    uint64_t u;
    const char *s;
    const uint8_t *bin;
    double d;
    if (tr_mp_read_array(r, &n) != 0 || n != 9) {
        return TR_EPROTO;
    }
    int rc = tr_mp_read_nil(r);
    rc = rc ? rc : tr_mp_read_bool(r, &b);
    rc = rc ? rc : tr_mp_read_int(r, &i);
    rc = rc ? rc : tr_mp_read_uint(r, &u);
    rc = rc ? rc : tr_mp_read_str(r, &s, &n);
    rc = rc ? rc : tr_mp_read_bin(r, &bin, &n);
    rc = rc ? rc : tr_mp_read_map(r, &m);
    rc = rc ? rc : tr_mp_read_str(r, &s, &n);
    rc = rc ? rc : tr_mp_read_array(r, &m);
    rc = rc ? rc : tr_mp_read_float(r, &d);
    rc = rc ? rc : tr_mp_skip(r);
    return rc ? rc : tr_mp_reader_done(r);
}

/* ---- The writer writes msgpack-c's bytes ------------------------------------------------ */

typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} packed;

static void packed_init(packed *p) {
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void assert_same_bytes(const tr_mp_writer *w, packed *p, const char *what) {
    cr_assert_eq(w->err, 0, "%s", what);
    cr_assert_eq(w->len, p->sb.size, "%s: %zu bytes vs msgpack-c's %zu", what, w->len, p->sb.size);
    cr_assert_eq(memcmp(w->buf, p->sb.data, w->len), 0, "%s: bytes differ", what);
    msgpack_sbuffer_destroy(&p->sb);
}

Test(mp, writer_writes_the_bytes_msgpack_c_writes) {
    uint8_t *buf = malloc(1 << 18);
    cr_assert_not_null(buf);
    tr_mp_writer w;
    packed p;

    tr_mp_writer_init(&w, buf, 1 << 18);
    packed_init(&p);
    for (size_t i = 0; i < INT_COUNT; i++) {
        tr_mp_write_int(&w, ints[i]);
        msgpack_pack_int64(&p.pk, ints[i]);
    }
    for (size_t i = 0; i < UINT_COUNT; i++) {
        tr_mp_write_uint(&w, uints[i]);
        msgpack_pack_uint64(&p.pk, uints[i]);
    }
    tr_mp_write_nil(&w);
    msgpack_pack_nil(&p.pk);
    tr_mp_write_bool(&w, true);
    msgpack_pack_true(&p.pk);
    tr_mp_write_bool(&w, false);
    msgpack_pack_false(&p.pk);
    tr_mp_write_float(&w, -0.5);
    msgpack_pack_double(&p.pk, -0.5);
    tr_mp_write_float(&w, 1e300);
    msgpack_pack_double(&p.pk, 1e300);
    assert_same_bytes(&w, &p, "scalars");

    for (size_t i = 0; i < LEN_COUNT; i++) {
        char *s = filled(lens[i], 'x');
        tr_mp_writer_init(&w, buf, 1 << 18);
        packed_init(&p);
        tr_mp_write_str(&w, s, lens[i]);
        msgpack_pack_str_with_body(&p.pk, s, lens[i]);
        tr_mp_write_bin(&w, s, lens[i]);
        msgpack_pack_bin_with_body(&p.pk, s, lens[i]);
        tr_mp_write_array(&w, lens[i]);
        msgpack_pack_array(&p.pk, lens[i]);
        tr_mp_write_map(&w, lens[i]);
        msgpack_pack_map(&p.pk, lens[i]);
        assert_same_bytes(&w, &p, "lengths");
        free(s);
    }
    free(buf);
}

Test(mp, unchecked_puts_write_the_same_bytes_as_the_writes) {
    uint8_t a[64], b[64];
    for (size_t i = 0; i < INT_COUNT; i++) {
        tr_mp_writer w;
        tr_mp_writer_init(&w, a, sizeof a);
        tr_mp_write_int(&w, ints[i]);
        tr_mp_write_uint(&w, (uint64_t)ints[i]);
        uint8_t *p = b;
        p = tr_mp_put_int(p, ints[i]);
        p = tr_mp_put_uint(p, (uint64_t)ints[i]);
        cr_assert_eq((size_t)(p - b), w.len);
        cr_assert_eq(memcmp(a, b, w.len), 0, "value %lld", (long long)ints[i]);
    }
    size_t cap = 65536 + 16;
    uint8_t *x = malloc(cap), *y = malloc(cap);
    cr_assert(x != NULL && y != NULL);
    for (size_t i = 0; i < LEN_COUNT; i++) {
        char *s = filled(lens[i], 'y');
        tr_mp_writer w;
        tr_mp_writer_init(&w, x, cap);
        tr_mp_write_str(&w, s, lens[i]);
        uint8_t *p = tr_mp_put_str_header(y, lens[i]);
        memcpy(p, s, lens[i]);
        cr_assert_eq((size_t)(p + lens[i] - y), w.len);
        cr_assert_eq(memcmp(x, y, w.len), 0, "str of %u", lens[i]);

        tr_mp_writer_init(&w, x, cap);
        tr_mp_write_bin(&w, s, lens[i]);
        p = tr_mp_put_bin_header(y, lens[i]);
        memcpy(p, s, lens[i]);
        cr_assert_eq((size_t)(p + lens[i] - y), w.len);
        cr_assert_eq(memcmp(x, y, w.len), 0, "bin of %u", lens[i]);

        tr_mp_writer_init(&w, x, cap); /* room, puts, advance: what an encoder does */
        p = tr_mp_writer_room(&w, 18);
        cr_assert_not_null(p);
        p = tr_mp_put_uint(p, lens[i]);
        p = TR_MP_PUT_LIT(p, "\xc0");
        p = tr_mp_put_int(p, -(int64_t)lens[i]);
        tr_mp_writer_advance(&w, p);
        tr_mp_writer v;
        tr_mp_writer_init(&v, y, cap);
        tr_mp_write_uint(&v, lens[i]);
        tr_mp_write_nil(&v);
        tr_mp_write_int(&v, -(int64_t)lens[i]);
        cr_assert(w.len == v.len && memcmp(x, y, w.len) == 0, "puts of %u", lens[i]);
        free(s);
    }
    uint8_t small[4];
    tr_mp_writer w;
    tr_mp_writer_init(&w, small, sizeof small);
    cr_assert_null(tr_mp_writer_room(&w, 5), "no room for more than cap");
    cr_assert_not_null(tr_mp_writer_room(&w, 4));
    free(x);
    free(y);
}

/* ---- Round trips ------------------------------------------------------------------------- */

Test(mp, every_kind_round_trips_and_peeks_as_its_type) {
    size_t len;
    int err;
    uint8_t *buf = write_all_kinds(256, &len, &err);
    cr_assert_eq(err, 0);
    tr_mp_reader r;
    tr_mp_reader_init(&r, buf, len);
    uint32_t n;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_ARRAY);
    cr_assert_eq(tr_mp_read_array(&r, &n), 0);
    cr_assert_eq(n, 9);
    cr_assert_eq(tr_mp_peek(&r), TR_MP_NIL);
    cr_assert_eq(tr_mp_read_nil(&r), 0);
    bool b = false;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_BOOL);
    cr_assert(tr_mp_read_bool(&r, &b) == 0 && b);
    int64_t i;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_INT);
    cr_assert(tr_mp_read_int(&r, &i) == 0 && i == -129);
    uint64_t u;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_INT);
    cr_assert(tr_mp_read_uint(&r, &u) == 0 && u == UINT64_MAX);
    const char *s;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_STR);
    cr_assert_eq(tr_mp_read_str(&r, &s, &n), 0);
    cr_assert(n == 32 && memcmp(s, "thirty-two bytes of a str8 value", 32) == 0);
    const uint8_t *bin;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_BIN);
    cr_assert(tr_mp_read_bin(&r, &bin, &n) == 0 && n == 3 && bin[0] == 0 && bin[2] == 2);
    cr_assert_eq(tr_mp_peek(&r), TR_MP_MAP);
    cr_assert(tr_mp_read_map(&r, &n) == 0 && n == 1);
    char key[2];
    cr_assert_eq(tr_mp_read_str_copy(&r, key, sizeof key), 0);
    cr_assert_str_eq(key, "k");
    cr_assert(tr_mp_read_array(&r, &n) == 0 && n == 0);
    double d;
    cr_assert_eq(tr_mp_peek(&r), TR_MP_FLOAT);
    cr_assert(tr_mp_read_float(&r, &d) == 0 && d == 3.141592653589793);
    cr_assert_eq(tr_mp_peek(&r), TR_MP_EXT);
    cr_assert_eq(tr_mp_skip(&r), 0);
    cr_assert_eq(tr_mp_peek(&r), TR_MP_END);
    cr_assert_eq(tr_mp_reader_done(&r), 0);

    tr_mp_reader_init(&r, buf, len); /* and skipped whole */
    cr_assert_eq(tr_mp_skip(&r), 0);
    cr_assert_eq(tr_mp_reader_done(&r), 0);
    free(buf);
}

Test(mp, integers_round_trip_at_every_width) {
    uint8_t buf[512];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    for (size_t i = 0; i < INT_COUNT; i++) {
        tr_mp_write_int(&w, ints[i]);
    }
    for (size_t i = 0; i < UINT_COUNT; i++) {
        tr_mp_write_uint(&w, uints[i]);
    }
    cr_assert_eq(w.err, 0);
    tr_mp_reader r;
    tr_mp_reader_init(&r, buf, w.len);
    for (size_t i = 0; i < INT_COUNT; i++) {
        int64_t v;
        cr_assert_eq(tr_mp_read_int(&r, &v), 0);
        cr_assert_eq(v, ints[i], "%lld", (long long)ints[i]);
    }
    for (size_t i = 0; i < UINT_COUNT; i++) {
        uint64_t v;
        cr_assert_eq(tr_mp_read_uint(&r, &v), 0);
        cr_assert_eq(v, uints[i], "%llu", (unsigned long long)uints[i]);
    }
    cr_assert_eq(tr_mp_reader_done(&r), 0);
}

Test(mp, strings_binaries_and_headers_round_trip_at_every_length) {
    size_t cap = 2 * 65536 + 64;
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    for (size_t i = 0; i < LEN_COUNT; i++) {
        char *s = filled(lens[i], 'a' + (char)i);
        tr_mp_writer w;
        tr_mp_writer_init(&w, buf, cap);
        tr_mp_write_str(&w, s, lens[i]);
        tr_mp_write_bin(&w, s, lens[i]);
        tr_mp_write_array(&w, lens[i] < 8 ? lens[i] : 0);
        for (uint32_t k = 0; k < (lens[i] < 8 ? lens[i] : 0); k++) {
            tr_mp_write_nil(&w);
        }
        cr_assert_eq(w.err, 0);
        tr_mp_reader r;
        tr_mp_reader_init(&r, buf, w.len);
        const char *rs;
        const uint8_t *rb;
        uint32_t n;
        cr_assert_eq(tr_mp_read_str(&r, &rs, &n), 0);
        cr_assert(n == lens[i] && memcmp(rs, s, n) == 0);
        cr_assert_eq(tr_mp_read_bin(&r, &rb, &n), 0);
        cr_assert(n == lens[i] && memcmp(rb, s, n) == 0);
        cr_assert_eq(tr_mp_skip(&r), 0);
        cr_assert_eq(tr_mp_reader_done(&r), 0);
        free(s);
    }
    free(buf);
}

/* ---- Hostile and short input ------------------------------------------------------------- */

Test(mp, every_truncation_is_refused_and_the_failure_sticks) {
    size_t len;
    int err;
    uint8_t *full = write_all_kinds(256, &len, &err);
    cr_assert_eq(err, 0);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *buf = malloc(cut ? cut : 1); /* exactly cut bytes: a read past them is a bug */
        cr_assert_not_null(buf);
        memcpy(buf, full, cut);
        tr_mp_reader r;
        tr_mp_reader_init(&r, buf, cut);
        cr_assert_eq(read_all_kinds(&r), TR_EPROTO, "cut at %zu of %zu", cut, len);
        cr_assert_eq(tr_mp_skip(&r), TR_EPROTO, "a failed reader stays failed");
        cr_assert_eq(tr_mp_peek(&r), TR_MP_END);
        tr_mp_reader_init(&r, buf, cut);
        cr_assert_eq(tr_mp_skip(&r), TR_EPROTO, "skip, cut at %zu", cut);
        cr_assert_eq(r.err, TR_EPROTO);
        cr_assert_eq(r.p, r.end);
        free(buf);
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, full, len);
    cr_assert_eq(read_all_kinds(&r), 0);
    free(full);
}

Test(mp, every_tight_buffer_is_refused_whole_values_only) {
    size_t need;
    int err;
    uint8_t *full = write_all_kinds(256, &need, &err);
    cr_assert_eq(err, 0);
    for (size_t cap = 0; cap < need; cap++) {
        size_t len;
        uint8_t *buf = write_all_kinds(cap, &len, &err);
        cr_assert_eq(err, TR_ETOOBIG, "cap %zu", cap);
        cr_assert(len <= cap);
        cr_assert_eq(memcmp(buf, full, len), 0, "what fitted is a prefix of the whole");
        free(buf);
    }
    free(full);
}

Test(mp, headers_announcing_more_than_the_bytes_left_are_refused) {
    static const uint8_t array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t map16[] = {0xde, 0x00, 0x02, 0x01, 0x02, 0x03}; /* 2 entries, 3 bytes */
    static const uint8_t str16[] = {0xda, 0x00, 0x04, 'a', 'b', 'c'};
    static const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t fixmap[] = {0x82, 0x01, 0x02, 0x03};
    tr_mp_reader r;
    uint32_t n;
    const char *s;
    const uint8_t *b;
    tr_mp_reader_init(&r, array32, sizeof array32);
    cr_assert_eq(tr_mp_read_array(&r, &n), TR_EPROTO);
    tr_mp_reader_init(&r, map16, sizeof map16);
    cr_assert_eq(tr_mp_read_map(&r, &n), TR_EPROTO);
    tr_mp_reader_init(&r, str16, sizeof str16);
    cr_assert_eq(tr_mp_read_str(&r, &s, &n), TR_EPROTO);
    tr_mp_reader_init(&r, bin32, sizeof bin32);
    cr_assert_eq(tr_mp_read_bin(&r, &b, &n), TR_EPROTO);
    tr_mp_reader_init(&r, fixmap, sizeof fixmap);
    cr_assert_eq(tr_mp_read_map(&r, &n), TR_EPROTO);
    tr_mp_reader_init(&r, array32, sizeof array32);
    cr_assert_eq(tr_mp_skip(&r), TR_EPROTO);
}

Test(mp, readers_refuse_the_wrong_kind_and_out_of_range_values) {
    static const uint8_t signed_five[] = {0xd0, 0x05};
    static const uint8_t big[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}; /* 2^63 */
    static const uint8_t neg[] = {0xff};                            /* -1 */
    static const uint8_t nul_str[] = {0xa3, 'a', 0, 'b'};
    static const uint8_t long_str[] = {0xa4, 'a', 'b', 'c', 'd'};
    static const uint8_t reserved[] = {0xc1};
    static const uint8_t a_str[] = {0xa1, 'x'};
    tr_mp_reader r;
    uint64_t u;
    int64_t i;
    bool b;
    double d;
    char out[4];
    tr_mp_reader_init(&r, signed_five, sizeof signed_five);
    cr_assert_eq(tr_mp_read_uint(&r, &u), TR_EPROTO, "uint takes the unsigned forms only");
    tr_mp_reader_init(&r, signed_five, sizeof signed_five);
    cr_assert(tr_mp_read_int(&r, &i) == 0 && i == 5);
    tr_mp_reader_init(&r, big, sizeof big);
    cr_assert_eq(tr_mp_read_int(&r, &i), TR_EPROTO, "above INT64_MAX");
    tr_mp_reader_init(&r, big, sizeof big);
    cr_assert(tr_mp_read_uint(&r, &u) == 0 && u == 1ULL << 63);
    tr_mp_reader_init(&r, neg, sizeof neg);
    cr_assert_eq(tr_mp_read_uint(&r, &u), TR_EPROTO);
    tr_mp_reader_init(&r, nul_str, sizeof nul_str);
    cr_assert_eq(tr_mp_read_str_copy(&r, out, sizeof out), TR_EPROTO, "a NUL inside");
    tr_mp_reader_init(&r, long_str, sizeof long_str);
    cr_assert_eq(tr_mp_read_str_copy(&r, out, sizeof out), TR_EPROTO, "4 bytes in a cap of 4");
    tr_mp_reader_init(&r, reserved, sizeof reserved);
    cr_assert_eq(tr_mp_peek(&r), TR_MP_BAD);
    cr_assert_eq(tr_mp_skip(&r), TR_EPROTO);
    tr_mp_reader_init(&r, a_str, sizeof a_str);
    cr_assert_eq(tr_mp_read_int(&r, &i), TR_EPROTO);
    cr_assert_eq(r.err, TR_EPROTO);
    cr_assert_eq(tr_mp_read_bool(&r, &b), TR_EPROTO, "sticky");
    tr_mp_reader_init(&r, a_str, sizeof a_str);
    cr_assert_eq(tr_mp_read_bool(&r, &b), TR_EPROTO);
    tr_mp_reader_init(&r, a_str, sizeof a_str);
    cr_assert_eq(tr_mp_read_nil(&r), TR_EPROTO);
    tr_mp_reader_init(&r, a_str, sizeof a_str);
    cr_assert_eq(tr_mp_read_float(&r, &d), TR_EPROTO);
    static const uint8_t float32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    tr_mp_reader_init(&r, float32, sizeof float32);
    cr_assert(tr_mp_read_float(&r, &d) == 0 && d == 1.5, "float32 widens to double");
    tr_mp_reader_init(&r, float32, sizeof float32 - 1);
    cr_assert_eq(tr_mp_read_float(&r, &d), TR_EPROTO);
    tr_mp_reader_init(&r, a_str, sizeof a_str);
    cr_assert_eq(tr_mp_reader_done(&r), TR_EPROTO, "a byte left unread");
}

/* n arrays, one inside the other, around one fixint. */
static size_t nested(uint8_t *buf, int n) {
    for (int i = 0; i < n; i++) {
        buf[i] = 0x91;
    }
    buf[n] = 0x01;
    return (size_t)n + 1;
}

Test(mp, skip_goes_into_at_most_depth_max_containers) {
    uint8_t buf[64];
    tr_mp_reader r;
    size_t len = nested(buf, TR_MP_DEPTH_MAX);
    tr_mp_reader_init(&r, buf, len);
    cr_assert_eq(tr_mp_skip(&r), 0);
    cr_assert_eq(tr_mp_reader_done(&r), 0);
    len = nested(buf, TR_MP_DEPTH_MAX + 1);
    tr_mp_reader_init(&r, buf, len);
    cr_assert_eq(tr_mp_skip(&r), TR_EPROTO);
}

Test(mp, limits_of_the_forms_are_their_largest_lengths) {
    /* A str32 header announcing 2^32 - 1 bytes reads as that length when they are there: the
     * largest length the format has. Only its header is checked here. */
    static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff};
    tr_mp_reader r;
    const char *s;
    uint32_t n;
    tr_mp_reader_init(&r, str32, sizeof str32);
    cr_assert_eq(tr_mp_read_str(&r, &s, &n), TR_EPROTO); /* the bytes are missing */
    uint8_t head[5];
    cr_assert_eq(tr_mp_put_str_header(head, UINT32_MAX) - head, 5);
    cr_assert_eq(memcmp(head, str32, 5), 0);
    cr_assert_eq(tr_mp_put_bin_header(head, UINT32_MAX) - head, 5);
    cr_assert_eq(head[0], 0xc6);
}

/* ---- Big-endian helpers ------------------------------------------------------------------ */

Test(mp, big_endian_helpers_store_the_most_significant_byte_first) {
    uint8_t b[9] = {0};
    tr_store_be16(b + 1, 0x0102);
    cr_assert(b[1] == 1 && b[2] == 2);
    cr_assert_eq(tr_load_be16(b + 1), 0x0102);
    tr_store_be32(b + 1, 0x01020304u);
    cr_assert(b[1] == 1 && b[4] == 4);
    cr_assert_eq(tr_load_be32(b + 1), 0x01020304u);
    tr_store_be64(b + 1, 0x0102030405060708ull);
    cr_assert(b[1] == 1 && b[8] == 8);
    cr_assert_eq(tr_load_be64(b + 1), 0x0102030405060708ull);
}
