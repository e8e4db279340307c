/* test_bench_body.c — the benchmarks' msgpack bodies: msgpack-c packs them, the strict
 * hand-written reader must agree with msgpack-c and refuse anything that is not exactly one
 * value of the expected type (a corrupted message must fail a benchmark, not skew it). */
#include <criterion/criterion.h>
#include <msgpack.h>

#include "bench/bench_body.c"

static const uint64_t edge_values[] = {
    0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295u, 4294967296u, UINT64_MAX,
};

Test(bench_body, uint_round_trips_at_every_width) {
    for (size_t i = 0; i < sizeof edge_values / sizeof edge_values[0]; i++) {
        uint8_t buf[TR_BENCH_BODY_MAX];
        size_t len = tr_bench_pack_uint(buf, edge_values[i]);
        uint64_t out = 0;
        cr_assert_eq(tr_bench_unpack_uint(buf, len, &out), 0, "value %zu", i);
        cr_assert_eq(out, edge_values[i]);
    }
}

Test(bench_body, packed_uint_is_what_msgpack_c_reads) {
    for (size_t i = 0; i < sizeof edge_values / sizeof edge_values[0]; i++) {
        uint8_t buf[TR_BENCH_BODY_MAX];
        size_t len = tr_bench_pack_uint(buf, edge_values[i]);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
        cr_assert_eq(off, len);
        cr_assert_eq(u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
        cr_assert_eq(u.data.via.u64, edge_values[i]);
        msgpack_unpacked_destroy(&u);
    }
}

Test(bench_body, reader_accepts_signed_formats_holding_non_negative_values) {
    const uint8_t i8[] = {0xd0, 0x05}, i64[] = {0xd3, 0, 0, 0, 0, 0, 0, 1, 0};
    uint64_t out;
    cr_assert_eq(tr_bench_unpack_uint(i8, sizeof i8, &out), 0);
    cr_assert_eq(out, 5);
    cr_assert_eq(tr_bench_unpack_uint(i64, sizeof i64, &out), 0);
    cr_assert_eq(out, 256);
}

Test(bench_body, reader_rejects_every_truncation) {
    uint8_t buf[TR_BENCH_BODY_MAX];
    size_t len = tr_bench_pack_uint(buf, UINT64_MAX);
    cr_assert_eq(len, 9);
    for (size_t cut = 0; cut < len; cut++) {
        uint64_t out;
        cr_assert_eq(tr_bench_unpack_uint(buf, cut, &out), TR_EPROTO, "cut at %zu", cut);
    }
}

Test(bench_body, reader_rejects_trailing_bytes_negatives_and_other_types) {
    const struct {
        uint8_t b[4];
        size_t len;
    } bad[] = {
        {{0x01, 0x01}, 2},    /* trailing byte */
        {{0xff}, 1},          /* negative fixint -1 */
        {{0xd0, 0x80}, 2},    /* int8 -128 */
        {{0xc0}, 1},          /* nil */
        {{0xc2}, 1},          /* false */
        {{0xa1, 'x'}, 2},     /* str "x" */
        {{0x91, 0x01}, 2},    /* [1] */
        {{0xca, 0, 0, 0}, 4}, /* float32, truncated too */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t out;
        cr_assert_eq(tr_bench_unpack_uint(bad[i].b, bad[i].len, &out), TR_EPROTO, "case %zu", i);
    }
}

Test(bench_body, addr_round_trips_and_msgpack_c_sees_a_pair) {
    tr_addr a = {UINT32_MAX, 0, (7ull << 32) | 12345};
    uint8_t buf[TR_BENCH_BODY_MAX];
    size_t len = tr_bench_pack_addr(buf, a);
    tr_addr back;
    cr_assert_eq(tr_bench_unpack_addr(buf, len, &back), 0);
    cr_assert(tr_addr_eq(a, back));
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, len, NULL), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u.data.via.array.size, 2);
    msgpack_unpacked_destroy(&u);
}

Test(bench_body, addr_reader_rejects_wrong_shapes) {
    const struct {
        uint8_t b[12];
        size_t len;
    } bad[] = {
        {{0x93, 1, 2, 3}, 4},                          /* three elements */
        {{0x92, 1}, 2},                                /* one missing */
        {{0x92, 1, 2, 3}, 4},                          /* trailing */
        {{0x92, 0xa1, 'x', 2}, 4},                     /* node is a str */
        {{0x92, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 2}, 11}, /* node > u32 */
        {{0x02}, 1},                                   /* not an array */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tr_addr out;
        cr_assert_eq(tr_bench_unpack_addr(bad[i].b, bad[i].len, &out), TR_EPROTO, "case %zu", i);
    }
}

Test(bench_body, nil_is_one_byte) {
    uint8_t buf[TR_BENCH_BODY_MAX];
    cr_assert_eq(tr_bench_pack_nil(buf), 1);
    cr_assert_eq(buf[0], 0xc0);
}

/* Differential: on many short random bodies (biased towards integer tags), the reader
 * accepts exactly what msgpack-c decodes as one non-negative integer filling the body,
 * with the same value. */
Test(bench_body, reader_agrees_with_msgpack_c_on_random_bodies) {
    static const uint8_t tags[] = {0x00, 0x7f, 0x80, 0xc0, 0xcc, 0xcd, 0xce, 0xcf,
                                   0xd0, 0xd1, 0xd2, 0xd3, 0xe0, 0xff, 0xca, 0x92};
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t buf[12];
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t len = seed % 11;
        for (size_t i = 0; i < len; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            buf[i] = (uint8_t)(seed >> 24);
        }
        if (len > 0 && (seed & 1)) {
            buf[0] = tags[(seed >> 8) % sizeof tags];
        }
        /* Containers, strings and extensions are never integers; msgpack-c would also try
         * to allocate what a random header declares (up to 2^32 elements), so they skip
         * the library and must simply be refused. */
        bool scalar = len > 0 && (buf[0] <= 0x7f || (buf[0] >= 0xc0 && buf[0] <= 0xc3) ||
                                  (buf[0] >= 0xca && buf[0] <= 0xd3) || buf[0] >= 0xe0);
        bool lib_ok = false;
        uint64_t lib_v = 0;
        if (scalar) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            lib_ok =
                msgpack_unpack_next(&u, (const char *)buf, len, &off) == MSGPACK_UNPACK_SUCCESS &&
                off == len && u.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER;
            lib_v = lib_ok ? u.data.via.u64 : 0;
            msgpack_unpacked_destroy(&u);
        }
        uint64_t v = 0;
        bool ok = tr_bench_unpack_uint(buf, len, &v) == 0;
        cr_assert_eq(ok, lib_ok, "iteration %d, len %zu, tag 0x%02x", iter, len, len ? buf[0] : 0);
        if (ok) {
            cr_assert_eq(v, lib_v, "iteration %d", iter);
        }
    }
}
