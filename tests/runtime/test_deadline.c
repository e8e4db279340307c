/* The deadline body convention (runtime/deadline.c): the wrapper's bytes, its round trip, and
 * what a reader refuses. */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

/* {"deadline_ms": 300, "body": [1, 2]} as msgpack, written by hand. */
static const uint8_t reference[] = {0x82, 0xab, 'd', 'e', 'a', 'd',  'l',  'i',
                                    'n',  'e',  '_', 'm', 's', 0xcd, 0x01, 0x2c,
                                    0xa4, 'b',  'o', 'd', 'y', 0x92, 0x01, 0x02};

Test(deadline, wrap_writes_the_documented_map) {
    uint8_t buf[64];
    size_t n = 0;
    const uint8_t inner[] = {0x92, 0x01, 0x02};
    cr_assert_eq(tr_deadline_wrap(buf, sizeof buf, 300, inner, sizeof inner, &n), 0);
    cr_assert_eq(n, sizeof reference);
    cr_assert_arr_eq(buf, reference, n);
    cr_assert_leq(n, sizeof inner + TR_DEADLINE_WRAP_MAX);
}

Test(deadline, unwrap_reads_back_what_wrap_wrote) {
    uint8_t inner[100], buf[200];
    tr_mp_writer w;
    tr_mp_writer_init(&w, inner, sizeof inner);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "sku");
    tr_mp_write_str(&w, "a-long-enough-string-to-need-str8", 33);
    cr_assert_eq(w.err, 0);
    uint32_t values[] = {0, 1, 127, 128, 65535, 65536, UINT32_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t n;
        cr_assert_eq(tr_deadline_wrap(buf, sizeof buf, values[i], inner, w.len, &n), 0);
        cr_assert_leq(n, w.len + TR_DEADLINE_WRAP_MAX);
        uint32_t ms;
        const uint8_t *body;
        size_t len;
        cr_assert_eq(tr_deadline_unwrap(buf, n, &ms, &body, &len), 0);
        cr_assert_eq(ms, values[i]);
        cr_assert_eq(len, w.len);
        cr_assert_arr_eq(body, inner, len);
    }
}

Test(deadline, wrap_refuses_what_a_receiver_could_not_unwrap) {
    uint8_t buf[64];
    size_t n;
    const uint8_t two_values[] = {0x01, 0x02};
    const uint8_t truncated[] = {0x92, 0x01};
    cr_assert_eq(tr_deadline_wrap(buf, sizeof buf, 5, two_values, 2, &n), TR_EINVAL);
    cr_assert_eq(tr_deadline_wrap(buf, sizeof buf, 5, truncated, 2, &n), TR_EINVAL);
    cr_assert_eq(tr_deadline_wrap(buf, sizeof buf, 5, two_values, 0, &n), TR_EINVAL);
    cr_assert_eq(tr_deadline_wrap(buf, 10, 5, two_values, 1, &n), TR_ETOOBIG);
}

Test(deadline, a_body_without_the_wrapper_carries_no_deadline) {
    uint32_t ms;
    const uint8_t *body;
    size_t len;
    const uint8_t array[] = {0x92, 0x01, 0x02};
    const uint8_t other_map[] = {0x82, 0xa1, 'k', 0x01, 0xa1, 'v', 0x02};
    cr_assert_eq(tr_deadline_unwrap(array, sizeof array, &ms, &body, &len), TR_ENOENT);
    cr_assert_eq(tr_deadline_unwrap(other_map, sizeof other_map, &ms, &body, &len), TR_ENOENT);
    cr_assert_eq(tr_deadline_unwrap(array, 0, &ms, &body, &len), TR_ENOENT);
}

Test(deadline, a_malformed_wrapper_is_a_protocol_error) {
    uint32_t ms;
    const uint8_t *body;
    size_t len;
    uint8_t bad[sizeof reference + 1];
    /* every truncation of the reference past its first key */
    for (size_t cut = 13; cut < sizeof reference; cut++) {
        cr_assert_eq(tr_deadline_unwrap(reference, cut, &ms, &body, &len), TR_EPROTO, "cut %zu",
                     cut);
    }
    memcpy(bad, reference, sizeof reference);
    bad[sizeof reference] = 0x00; /* a byte after the inner value */
    cr_assert_eq(tr_deadline_unwrap(bad, sizeof bad, &ms, &body, &len), TR_EPROTO);
    memcpy(bad, reference, sizeof reference);
    bad[13] = 0xff; /* a negative remaining time */
    bad[14] = 0xa4; /* (shifts the rest: still malformed) */
    cr_assert_eq(tr_deadline_unwrap(bad, sizeof reference, &ms, &body, &len), TR_EPROTO);
    memcpy(bad, reference, sizeof reference);
    bad[17] = 'x'; /* the second key is not "body" */
    cr_assert_eq(tr_deadline_unwrap(bad, sizeof reference, &ms, &body, &len), TR_EPROTO);
}

Test(deadline, remaining_time_never_goes_below_zero) {
    cr_assert_eq(tr_deadline_remaining_ms(100, 40), 60);
    cr_assert_eq(tr_deadline_remaining_ms(100, 100), 0);
    cr_assert_eq(tr_deadline_remaining_ms(100, 1000), 0);
}
