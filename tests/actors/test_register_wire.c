/* The registers' msgpack subset and client codec: round trips and hostile input. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/register_wire.h"
#include "actors/registers.h"

Test(register_wire, ints_round_trip_at_every_width) {
    static const int64_t vals[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
                                   4294967296LL, INT64_MAX, -1, -32, -33, -128, -129,
                                   -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1,
                                   INT64_MIN};
    uint8_t buf[256];
    tr_wire_w w;
    tr_wire_w_init(&w, buf, sizeof buf);
    tr_wire_put_array(&w, sizeof vals / sizeof vals[0]);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tr_wire_put_int(&w, vals[i]);
    }
    cr_assert_eq(w.err, 0);
    tr_wire_r r;
    uint32_t n;
    tr_wire_r_init(&r, buf, w.len);
    cr_assert_eq(tr_wire_get_array(&r, &n), 0);
    cr_assert_eq(n, sizeof vals / sizeof vals[0]);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        cr_assert_eq(tr_wire_get_int(&r, &v), 0);
        cr_assert_eq(v, vals[i], "index %zu: %lld != %lld", i, (long long)v,
                     (long long)vals[i]);
    }
    cr_assert_eq(r.p, r.end);
}

Test(register_wire, writer_reports_overflow_and_never_writes_past_cap) {
    uint8_t buf[8];
    memset(buf, 0xee, sizeof buf);
    tr_wire_w w;
    tr_wire_w_init(&w, buf, 4);
    tr_wire_put_str(&w, "a long string");
    cr_assert_eq(w.err, TR_ETOOBIG);
    cr_assert_eq(buf[4], 0xee);
}

Test(register_wire, request_round_trips_and_ignores_unknown_keys) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    uint32_t key;
    bool has;
    int64_t v;
    cr_assert_eq(tr_reg_request_encode(buf, sizeof buf, 7, true, -5, &len), 0);
    cr_assert_eq(tr_reg_request_decode(buf, len, &key, &has, &v), 0);
    cr_assert(key == 7 && has && v == -5);
    /* {"x":[1,{"y":2}],"key":3} as `troupe call` might send with extra fields */
    const uint8_t extra[] = {0x82, 0xa1, 'x', 0x92, 0x01, 0x81, 0xa1, 'y', 0x02,
                             0xa3, 'k', 'e', 'y', 0x03};
    cr_assert_eq(tr_reg_request_decode(extra, sizeof extra, &key, &has, &v), 0);
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
        deep[i] = 0x91; /* arrays nested far beyond TR_WIRE_DEPTH_MAX */
    }
    cr_assert_eq(tr_reg_request_decode(no_key, sizeof no_key, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(huge_map, sizeof huge_map, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(truncated, sizeof truncated, &key, &has, &v),
                 TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(neg_key, sizeof neg_key, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(trailing, sizeof trailing, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(reserved, sizeof reserved, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(deep, sizeof deep, &key, &has, &v), TR_EPROTO);
    cr_assert_eq(tr_reg_request_decode(NULL, 0, &key, &has, &v), TR_EPROTO);
}

Test(register_wire, every_truncation_of_a_reply_is_rejected) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    tr_reg_reply rep;
    cr_assert_eq(tr_reg_reply_encode_err(buf, sizeof buf, "no quorum (store)", true, &len), 0);
    cr_assert_eq(tr_reg_reply_decode(buf, len, &rep), 0);
    cr_assert(!rep.ok && rep.indeterminate);
    cr_assert_str_eq(rep.error, "no quorum (store)");
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(tr_reg_reply_decode(buf, cut, &rep), TR_EPROTO, "cut at %zu", cut);
    }
    cr_assert_eq(tr_reg_reply_encode_ok(buf, sizeof buf, false, 0, &len), 0);
    cr_assert_eq(tr_reg_reply_decode(buf, len, &rep), 0);
    cr_assert(rep.ok && !rep.has_value);
    cr_assert_eq(tr_reg_reply_encode_ok(buf, sizeof buf, true, 1LL << 40, &len), 0);
    cr_assert_eq(tr_reg_reply_decode(buf, len, &rep), 0);
    cr_assert(rep.ok && rep.has_value && rep.value == 1LL << 40);
}

Test(register_wire, boot_arg_rejects_bad_peer_lists) {
    tr_register_arg arg;
    const char *ok[] = {"n1", "n2", "n3"};
    const char *at[] = {"n1", "n@2"};
    const char *empty[] = {"n1", ""};
    tr_registers_opts o = {.peer_count = 3, .peer_names = ok};
    cr_assert_eq(tr_register_arg_init(&arg, &o), 0);
    cr_assert_str_eq(arg.peers[2], "n3");
    cr_assert_eq(arg.quorum_timeout_ms, 300);
    o = (tr_registers_opts){.peer_count = 2, .peer_names = at};
    cr_assert_eq(tr_register_arg_init(&arg, &o), TR_EINVAL);
    o = (tr_registers_opts){.peer_count = 2, .peer_names = empty};
    cr_assert_eq(tr_register_arg_init(&arg, &o), TR_EINVAL);
    o = (tr_registers_opts){.peer_count = 0, .peer_names = ok};
    cr_assert_eq(tr_register_arg_init(&arg, &o), TR_EINVAL);
    o = (tr_registers_opts){.peer_count = TR_REG_PEERS_MAX + 1, .peer_names = ok};
    cr_assert_eq(tr_register_arg_init(&arg, &o), TR_EINVAL);
}

Test(register_wire, integral_floats_are_ints_and_fractions_are_rejected) {
    uint32_t key;
    bool has;
    int64_t v;
    /* {"key": 2.0 (float64), "value": -3.0 (float32)} */
    const uint8_t ok[] = {0x82, 0xa3, 'k', 'e', 'y', 0xcb, 0x40, 0x00, 0, 0, 0, 0, 0, 0,
                          0xa5, 'v', 'a', 'l', 'u', 'e', 0xca, 0xc0, 0x40, 0x00, 0x00};
    cr_assert_eq(tr_reg_request_decode(ok, sizeof ok, &key, &has, &v), 0);
    cr_assert(key == 2 && has && v == -3);
    const uint8_t frac[] = {0x81, 0xa3, 'k', 'e', 'y', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr_reg_request_decode(frac, sizeof frac, &key, &has, &v), TR_EPROTO); /* 1.5 */
    const uint8_t nan[] = {0x81, 0xa3, 'k', 'e', 'y', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr_reg_request_decode(nan, sizeof nan, &key, &has, &v), TR_EPROTO);
    const uint8_t huge[] = {0x81, 0xa3, 'k', 'e', 'y', 0xcb, 0x43, 0xe0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(tr_reg_request_decode(huge, sizeof huge, &key, &has, &v), TR_EPROTO); /* 2^63 */
}
