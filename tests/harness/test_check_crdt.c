/* The CRDT services' checks on hand-made histories (harness/check_counter.c), and the CRDT
 * merge functions of actors/ (actors/counter.h): each check holds on a correct history and
 * is violated by a planted fault in it. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/counter.h"
#include "harness/builtin_counter.h"
#include "troupe.h"

static void op(tr_history *h, int64_t process, int32_t node, tr_history_type type, const char *f,
               bool has_value, int64_t value) {
    tr_history_op o = {.time_ns = (int64_t)tr_history_count(h),
                       .process = process,
                       .node = node,
                       .type = type,
                       .f = f,
                       .has_value = has_value,
                       .value = value};
    cr_assert_eq(tr_history_append(h, &o), 0);
}

/* n1: add 5 ok; n2: add -3 ok (completes after the read's invoke); n1 reads `read` and
 * then an add 2 ends info. Final states: every node `final`. */
static tr_history *counter_history(int64_t read) {
    tr_history *h = tr_history_create(64);
    op(h, 1, 0, TR_HISTORY_INVOKE, "add", true, 5);
    op(h, 1, 0, TR_HISTORY_OK, "add", true, 5);
    op(h, 2, 1, TR_HISTORY_INVOKE, "add", true, -3);
    op(h, 3, 0, TR_HISTORY_INVOKE, "read", false, 0);
    op(h, 2, 1, TR_HISTORY_OK, "add", true, -3);
    op(h, 3, 0, TR_HISTORY_OK, "read", true, read);
    op(h, 4, 0, TR_HISTORY_INVOKE, "add", true, 2);
    op(h, 4, 0, TR_HISTORY_INFO, "add", true, 2);
    return h;
}

static tr_verdict run_check(tr_verdict (*check)(const tr_check_input *, char *, size_t),
                            tr_history *h, int64_t final) {
    uint8_t bytes[2][16];
    const uint8_t *states[2];
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
        tr_mp_writer w;
        tr_mp_writer_init(&w, bytes[k], sizeof bytes[k]);
        tr_mp_write_int(&w, final);
        states[k] = bytes[k];
        lens[k] = w.len;
    }
    tr_check_input in = {.history = h, .node_count = 2, .states = states, .state_lens = lens};
    char why[200] = "";
    tr_verdict v = check(&in, why, sizeof why);
    cr_log_info("%s", why);
    return v;
}

Test(check_crdt, counter_read_within_its_bounds_holds) {
    for (int64_t r = 2; r <= 5; r++) { /* must see its own 5; may see the -3 */
        tr_history *h = counter_history(r);
        cr_expect_eq(run_check(tr__counter_check_reads, h, 2), TR_VERDICT_HELD, "read %lld",
                     (long long)r);
        tr_history_destroy(h);
    }
}

Test(check_crdt, counter_read_outside_its_bounds_is_violated) {
    int64_t bad[] = {1, 6, 0, -3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tr_history *h = counter_history(bad[i]);
        cr_expect_eq(run_check(tr__counter_check_reads, h, 2), TR_VERDICT_VIOLATED, "read %lld",
                     (long long)bad[i]);
        tr_history_destroy(h);
    }
}

Test(check_crdt, counter_final_is_acknowledged_plus_a_subset_of_indeterminate) {
    tr_history *h = counter_history(5);
    cr_expect_eq(run_check(tr__counter_check_final, h, 2), TR_VERDICT_HELD);
    cr_expect_eq(run_check(tr__counter_check_final, h, 4), TR_VERDICT_HELD);
    cr_expect_eq(run_check(tr__counter_check_final, h, 3), TR_VERDICT_VIOLATED);
    cr_expect_eq(run_check(tr__counter_check_final, h, 7), TR_VERDICT_VIOLATED);
    tr_history_destroy(h);
}

Test(check_crdt, pncounter_merge_is_idempotent_and_commutative) {
    tr__pncounter a, b, ab, ba;
    tr__pncounter_init(&a, 3);
    tr__pncounter_init(&b, 3);
    cr_assert_eq(tr__pncounter_add(&a, 0, 4), 0);
    cr_assert_eq(tr__pncounter_add(&a, 0, -1), 0);
    cr_assert_eq(tr__pncounter_add(&b, 2, 7), 0);
    cr_assert_eq(tr__pncounter_add(&b, 0, 2), 0); /* b saw an older a */
    cr_expect_eq(tr__pncounter_add(&b, 3, 1), TR_EINVAL);
    cr_expect_eq(tr__pncounter_add(&b, 1, 0), TR_EINVAL);
    ab = a;
    tr__pncounter_merge(&ab, &b, 0);
    ba = b;
    tr__pncounter_merge(&ba, &a, 0);
    cr_expect_eq(memcmp(&ab, &ba, sizeof ab), 0);
    cr_expect_eq(tr__pncounter_value(&ab), 4 - 1 + 7);
    tr__pncounter_merge(&ab, &b, 0);
    cr_expect_eq(tr__pncounter_value(&ab), 10, "merging again changes nothing");
    tr__pncounter_merge(&ab, &b, TR_COUNTER_BUG_MERGE_SUM);
    cr_expect_neq(tr__pncounter_value(&ab), 10, "the planted merge counts twice");
}

Test(check_crdt, pncounter_round_trips_its_encoding) {
    tr__pncounter a, b;
    uint8_t buf[256];
    tr_mp_writer w;
    tr__pncounter_init(&a, 4);
    tr__pncounter_init(&b, 4);
    cr_assert_eq(tr__pncounter_add(&a, 3, -9), 0);
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr__pncounter_encode(&a, &w);
    cr_assert_eq(tr__pncounter_decode(&b, buf, w.len), 0);
    cr_expect_eq(memcmp(&a, &b, sizeof a), 0);
    tr__pncounter_init(&b, 3);
    cr_expect_eq(tr__pncounter_decode(&b, buf, w.len), TR_EPROTO, "another cluster size");
    cr_expect_eq(tr__pncounter_decode(&b, buf, w.len - 1), TR_EPROTO);
}
