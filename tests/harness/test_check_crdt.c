/* The CRDT services' checks on hand-made histories (harness/check_counter.c, check_set.c,
 * check_broadcast.c),
 * and the CRDT data types of actors/ (actors/counter.h, orset.h), the OR-set's remove path
 * included: each check holds on a correct history and is violated by a planted fault in it. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/counter.h"
#include "actors/orset.h"
#include "harness/builtin_broadcast.h"
#include "harness/builtin_counter.h"
#include "harness/builtin_set.h"
#include "harness/experiment_internal.h"
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

/* Acknowledged adds of a node whose disk a "corrupt" fault tore later may be missing (their
 * only copy was that disk): allowed and counted; the same loss without that fault, or with a
 * tear of another node or of an earlier time, is a violation. */
Test(check_crdt, counter_final_excuses_only_adds_of_a_node_torn_later) {
    tr_history *h = counter_history(5); /* acked: 5 on n1 (at 0), -3 on n2; info: 2 */
    uint8_t bytes[16];
    const uint8_t *states[1] = {bytes};
    tr_mp_writer w;
    tr_mp_writer_init(&w, bytes, sizeof bytes);
    tr_mp_write_int(&w, -3); /* the 5 of n1 is missing */
    size_t lens[1] = {w.len};
    tr_fault_span torn = {.kind = "corrupt", .start_ns = 7, .nodes = 1};
    tr_check_input in = {.history = h,
                         .node_count = 1,
                         .states = states,
                         .state_lens = lens,
                         .faults = &torn,
                         .fault_count = 1};
    char why[200] = "";
    cr_expect_eq(tr__counter_check_final(&in, why, sizeof why), TR_VERDICT_HELD, "%s", why);
    cr_expect(strstr(why, "allowed") != NULL, "%s", why);
    torn.nodes = 2; /* n2's disk: the 5 of n1 has no excuse */
    cr_expect_eq(tr__counter_check_final(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    torn = (tr_fault_span){.kind = "crash", .start_ns = 7, .nodes = 1};
    cr_expect_eq(tr__counter_check_final(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    in.fault_count = 0;
    cr_expect_eq(tr__counter_check_final(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    tr_history_destroy(h);
}

/* What a torn node's survivors hold is its entry as it last gossiped it: its adds up to some
 * moment. Losing its last add is allowed; losing an earlier one while a later one survived
 * is not. */
Test(check_crdt, counter_final_excuses_only_the_last_adds_of_a_torn_node) {
    tr_history *h = tr_history_create(64);
    op(h, 1, 0, TR_HISTORY_INVOKE, "add", true, 5); /* t 0..1 */
    op(h, 1, 0, TR_HISTORY_OK, "add", true, 5);
    op(h, 1, 0, TR_HISTORY_INVOKE, "add", true, 1); /* t 2..3 */
    op(h, 1, 0, TR_HISTORY_OK, "add", true, 1);
    tr_fault_span torn = {.kind = "corrupt", .start_ns = 9, .nodes = 1};
    char why[200] = "";
    for (int64_t final = 0; final <= 6; final++) {
        uint8_t bytes[16];
        const uint8_t *states[1] = {bytes};
        tr_mp_writer w;
        tr_mp_writer_init(&w, bytes, sizeof bytes);
        tr_mp_write_int(&w, final);
        size_t lens[1] = {w.len};
        tr_check_input in = {.history = h,
                             .node_count = 1,
                             .states = states,
                             .state_lens = lens,
                             .faults = &torn,
                             .fault_count = 1};
        bool allowed = final == 0 || final == 5 || final == 6;
        cr_expect_eq(tr__counter_check_final(&in, why, sizeof why),
                     allowed ? TR_VERDICT_HELD : TR_VERDICT_VIOLATED, "final %lld: %s",
                     (long long) final, why);
    }
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

/* ---- the OR-set ---- */

static tr__orset *orset(uint32_t n) {
    static tr__orset sets[4];
    static int next;
    tr__orset *s = &sets[next++ % 4];
    tr__orset_init(s, n);
    return s;
}

Test(check_crdt, orset_remove_takes_what_it_observed_and_leaves_no_tombstone) {
    tr__orset *a = orset(2);
    tr__orset_delta d;
    cr_assert_eq(tr__orset_add(a, 0, 1, 42, &d), 0);
    cr_expect(tr__orset_contains(a, 1, 42));
    cr_expect(!tr__orset_contains(a, 0, 42), "keys are separate sets");
    cr_assert_eq(tr__orset_remove(a, 0, 1, 42, &d), 0);
    cr_expect(d.remove && d.ndots == 1 && d.dots[0].node == 0 && d.dots[0].seq == 1);
    cr_expect(!tr__orset_contains(a, 1, 42));
    cr_expect_eq(tr__orset_remove(a, 0, 1, 42, &d), TR_ENOENT);
    for (int i = 0; i < 1000; i++) { /* metadata: the context, not one record per removal */
        cr_assert_eq(tr__orset_add(a, 0, 1, 7, &d), 0);
        cr_assert_eq(tr__orset_remove(a, 0, 1, 7, &d), 0);
    }
    cr_expect_eq(a->count, 0);
    cr_expect_eq(a->vv[0], 2002);
}

Test(check_crdt, orset_deltas_apply_in_order_and_a_remove_waits_for_its_add) {
    tr__orset *a = orset(3), *b = orset(3), *c = orset(3);
    tr__orset_delta add, rm, add2;
    cr_assert_eq(tr__orset_add(a, 0, 0, 5, &add), 0);
    cr_assert_eq(tr__orset_add(a, 0, 0, 6, &add2), 0);
    cr_expect_eq(tr__orset_apply(b, &add2), TR_EAGAIN, "a gap in a's operations");
    cr_assert_eq(tr__orset_apply(b, &add), 1);
    cr_assert_eq(tr__orset_apply(b, &add2), 1);
    cr_expect_eq(tr__orset_apply(b, &add), 0, "a duplicate changes nothing");
    cr_assert_eq(tr__orset_remove(b, 1, 0, 5, &rm), 0);
    cr_expect_eq(tr__orset_apply(c, &rm), TR_EAGAIN, "c has not seen the add it removes");
    cr_assert_eq(tr__orset_apply(c, &add), 1);
    cr_assert_eq(tr__orset_apply(c, &rm), 1);
    cr_expect(!tr__orset_contains(c, 0, 5));
    cr_assert_eq(tr__orset_apply(c, &add2), 1);
    cr_expect(tr__orset_contains(c, 0, 6));
    cr_assert_eq(tr__orset_apply(a, &rm), 1);
    cr_expect(!tr__orset_contains(a, 0, 5));
}

Test(check_crdt, orset_join_keeps_concurrent_adds_and_drops_observed_removes) {
    tr__orset *a = orset(2), *b = orset(2);
    tr__orset_delta d;
    cr_assert_eq(tr__orset_add(a, 0, 0, 1, &d), 0);
    cr_assert_eq(tr__orset_apply(b, &d), 1);
    cr_assert_eq(tr__orset_remove(b, 1, 0, 1, &d), 0); /* b removes what it saw */
    cr_assert_eq(tr__orset_add(a, 0, 0, 2, &d), 0);    /* concurrently a adds 2 */
    cr_assert_eq(tr__orset_add(b, 1, 0, 1, &d), 0);    /* and b adds 1 again: a new dot */
    tr__orset *j = orset(2);
    *j = *a;
    cr_assert_eq(tr__orset_join(j, b), 1);
    cr_expect(tr__orset_contains(j, 0, 1), "b's new add survives");
    cr_expect(tr__orset_contains(j, 0, 2), "a's add b never saw survives");
    cr_expect_eq(j->count, 2, "a's old dot of 1 is gone: b's context covers it");
    tr__orset *k = orset(2);
    *k = *b;
    cr_assert_eq(tr__orset_join(k, a), 1);
    cr_expect_eq(memcmp(j->e, k->e, j->count * sizeof j->e[0]), 0, "the join commutes");
    cr_expect_eq(memcmp(j->vv, k->vv, sizeof j->vv), 0);
    cr_expect_eq(tr__orset_join(j, k), 0, "a join with an equal state changes nothing");
    cr_expect_eq(tr__orset_join(j, a), 0, "nor does one with a state it has seen all of");
    cr_expect_eq(tr__orset_join(a, j), 1, "the other way round it does");
}

Test(check_crdt, orset_encodings_round_trip_and_refuse_bad_input) {
    tr__orset *a = orset(2), *b = orset(2);
    tr__orset_delta d, e;
    static uint8_t buf[TR_ORSET_STATE_BYTES_MAX];
    tr_mp_writer w;
    tr_mp_reader r;
    cr_assert_eq(tr__orset_add(a, 1, 3, 9, &d), 0);
    cr_assert_eq(tr__orset_add(a, 0, 3, 8, &d), 0);
    cr_assert_eq(tr__orset_remove(a, 0, 3, 9, &d), 0);
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr__orset_delta_encode(&d, &w);
    tr_mp_reader_init(&r, buf, w.len);
    cr_assert_eq(tr__orset_delta_decode(&r, &e), 0);
    cr_expect(e.remove && e.ndots == 1 && e.dots[0].node == 1 && e.key == 3 && e.elem == 9);
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr__orset_encode(a, &w);
    tr_mp_reader_init(&r, buf, w.len);
    cr_assert_eq(tr__orset_decode(&r, b), 0);
    cr_expect_eq(b->count, 1);
    cr_expect(tr__orset_contains(b, 3, 8));
    buf[w.len - 1] = 99; /* the last entry's seq beyond its node's context */
    tr_mp_reader_init(&r, buf, w.len);
    cr_expect_eq(tr__orset_decode(&r, b), TR_EPROTO);
}

/* n1 adds 10 (ok) and 11 (ok, then removed ok), 12 (info); a read of key 0 after the adds
 * misses 10. Final states: both nodes `final` (elements of key 0). */
static tr_history *set_history(const uint8_t *read, size_t read_len) {
    tr_history *h = tr_history_create(64);
    op(h, 1, 0, TR_HISTORY_INVOKE, "add", true, 10);
    op(h, 1, 0, TR_HISTORY_OK, "add", true, 10);
    op(h, 1, 0, TR_HISTORY_INVOKE, "add", true, 11);
    op(h, 1, 0, TR_HISTORY_OK, "add", true, 11);
    op(h, 1, 0, TR_HISTORY_INVOKE, "remove", true, 11);
    op(h, 1, 0, TR_HISTORY_OK, "remove", true, 11);
    op(h, 2, 1, TR_HISTORY_INVOKE, "read", false, 0);
    tr_value v = {.kind = TR_VALUE_BYTES, .bytes = (const char *)read, .len = read_len};
    tr_history_op o = {.time_ns = (int64_t)tr_history_count(h),
                       .process = 2,
                       .node = 1,
                       .type = TR_HISTORY_OK,
                       .f = "read",
                       .any = &v};
    cr_assert_eq(tr_history_append(h, &o), 0);
    op(h, 3, 1, TR_HISTORY_INVOKE, "add", true, 12);
    op(h, 3, 1, TR_HISTORY_INFO, "add", true, 12);
    return h;
}

static tr_verdict set_check(const int64_t *final, uint32_t n, tr_check_input *in, char *why) {
    static uint8_t bytes[2][64];
    static const uint8_t *states[2];
    static size_t lens[2];
    for (int k = 0; k < 2; k++) {
        tr_mp_writer w;
        tr_mp_writer_init(&w, bytes[k], sizeof bytes[k]);
        tr_mp_write_array(&w, 1);
        tr_mp_write_array(&w, 2);
        tr_mp_write_int(&w, 0);
        tr_mp_write_array(&w, n);
        for (uint32_t i = 0; i < n; i++) {
            tr_mp_write_int(&w, final[i]);
        }
        states[k] = bytes[k];
        lens[k] = w.len;
    }
    in->node_count = 2;
    in->states = states;
    in->state_lens = lens;
    tr_verdict v = tr__set_check_full(in, why, 200);
    cr_log_info("%s", why);
    return v;
}

Test(check_crdt, set_full_finds_lost_and_resurrected_elements) {
    uint8_t read[] = {0x90}; /* [] */
    tr_history *h = set_history(read, sizeof read);
    tr_check_input in = {.history = h};
    char why[200];
    cr_expect_eq(set_check((int64_t[]){10}, 1, &in, why), TR_VERDICT_HELD);
    cr_expect_eq(set_check((int64_t[]){10, 12}, 2, &in, why), TR_VERDICT_HELD, "12 may land");
    cr_expect_eq(set_check((int64_t[]){12}, 1, &in, why), TR_VERDICT_VIOLATED, "10 lost");
    cr_expect(strstr(why, "lost") != NULL, "%s", why);
    cr_expect_eq(set_check((int64_t[]){10, 11}, 2, &in, why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "resurrected") != NULL, "%s", why);
    tr_history_destroy(h);
}

/* An element whose add (or remove) was acknowledged by a node whose disk was torn later may
 * be missing (still there): allowed and counted; not when another node's disk was torn. */
Test(check_crdt, set_full_excuses_only_operations_of_a_node_torn_later) {
    uint8_t read[] = {0x90};                        /* [] */
    tr_history *h = set_history(read, sizeof read); /* n1 adds 10, adds and removes 11 */
    tr_fault_span torn = {.kind = "corrupt", .start_ns = 100, .nodes = 1};
    tr_check_input in = {.history = h, .faults = &torn, .fault_count = 1};
    char why[200];
    cr_expect_eq(set_check((int64_t[]){12}, 1, &in, why), TR_VERDICT_HELD, "10 lost with n1");
    cr_expect(strstr(why, "allowed") != NULL, "%s", why);
    cr_expect_eq(set_check((int64_t[]){10, 11}, 2, &in, why), TR_VERDICT_HELD, "11's remove");
    /* 11, added by n1 after its add of 10 completed, is there: 10 was not among its last */
    cr_expect_eq(set_check((int64_t[]){11}, 1, &in, why), TR_VERDICT_VIOLATED, "%s", why);
    cr_expect(strstr(why, "10 (add ok") != NULL, "%s", why);
    torn.nodes = 2;
    cr_expect_eq(set_check((int64_t[]){12}, 1, &in, why), TR_VERDICT_VIOLATED, "%s", why);
    cr_expect_eq(set_check((int64_t[]){10, 11}, 2, &in, why), TR_VERDICT_VIOLATED, "%s", why);
    torn = (tr_fault_span){.kind = "corrupt", .start_ns = 3, .nodes = 1}; /* before the remove */
    cr_expect_eq(set_check((int64_t[]){10, 11}, 2, &in, why), TR_VERDICT_VIOLATED, "%s", why);
    tr_history_destroy(h);
}

/* The value of measure `name` in m, or -1. */
static double measure(const tr__measures *m, const char *name) {
    for (uint32_t i = 0; i < m->count; i++) {
        if (strcmp(m->items[i].name, name) == 0) {
            return m->items[i].value;
        }
    }
    return -1;
}

/* The read after the adds (10 and 11 ok, 11 then removed) and its stale and never-read
 * elements: 10 is stale when the read misses it, never read unless a read saw it; a read's
 * elements in another order count the same. */
Test(check_crdt, set_reads_count_stale_and_never_read_elements) {
    static const struct {
        uint8_t read[4];
        size_t len;
        double stale, never_read;
    } cases[] = {
        {{0x90}, 1, 1, 2},         /* []: misses 10; neither was read */
        {{0x91, 10}, 2, 0, 1},     /* [10]: 11 never read */
        {{0x92, 10, 11}, 3, 0, 0}, /* [10, 11] */
        {{0x92, 12, 10}, 3, 0, 1}, /* [12, 10], not ascending: 10 seen */
        {{0x92, 11, 12}, 3, 1, 1}, /* [11, 12]: misses 10 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_history *h = set_history(cases[i].read, cases[i].len);
        tr__measures m = {0};
        tr_check_input in = {.history = h, .measures_ = &m};
        char why[200];
        (void)set_check((int64_t[]){10}, 1, &in, why);
        cr_expect_eq(measure(&m, "stale"), cases[i].stale, "case %zu", i);
        cr_expect_eq(measure(&m, "never_read"), cases[i].never_read, "case %zu", i);
        tr_history_destroy(h);
    }
}

/* ---- broadcast ---- */

/* 1 ok, 2 info, 3 fail ("full"); final states: node k holds pairs[k] ([id, deliveries]...). */
static tr_verdict broadcast_check_faults(const int64_t (*pairs)[6], const uint32_t *n,
                                         const tr_fault_span *faults, uint32_t fault_count,
                                         char *why) {
    tr_history *h = tr_history_create(64);
    op(h, 1, 0, TR_HISTORY_INVOKE, "broadcast", true, 1);
    op(h, 1, 0, TR_HISTORY_OK, "broadcast", true, 1);
    op(h, 2, 1, TR_HISTORY_INVOKE, "broadcast", true, 2);
    op(h, 2, 1, TR_HISTORY_INFO, "broadcast", true, 2);
    op(h, 3, 1, TR_HISTORY_INVOKE, "broadcast", true, 3);
    op(h, 3, 1, TR_HISTORY_FAIL, "broadcast", true, 3);
    uint8_t bytes[2][64];
    const uint8_t *states[2];
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
        tr_mp_writer w;
        tr_mp_writer_init(&w, bytes[k], sizeof bytes[k]);
        tr_mp_write_array(&w, n[k]);
        for (uint32_t i = 0; i < n[k]; i++) {
            tr_mp_write_int(&w, pairs[k][i]);
        }
        states[k] = bytes[k];
        lens[k] = w.len;
    }
    tr_check_input in = {.history = h,
                         .node_count = 2,
                         .states = states,
                         .state_lens = lens,
                         .faults = faults,
                         .fault_count = fault_count};
    tr_verdict v = tr__broadcast_check_delivery(&in, why, 200);
    cr_log_info("%s", why);
    tr_history_destroy(h);
    return v;
}

static tr_verdict broadcast_check(const int64_t (*pairs)[6], const uint32_t *n, char *why) {
    return broadcast_check_faults(pairs, n, NULL, 0, why);
}

/* Message 1, acknowledged by n1, delivered nowhere: allowed when n1's disk was torn after it
 * was broadcast (its only copy); not when another disk was, nor when some node has it. */
Test(check_crdt, broadcast_delivery_excuses_only_messages_of_a_node_torn_later) {
    char why[200];
    int64_t none[2][6] = {{2, 1}, {2, 1}};
    tr_fault_span torn = {.kind = "corrupt", .start_ns = 5, .nodes = 1};
    cr_expect_eq(broadcast_check_faults(none, (uint32_t[]){2, 2}, &torn, 1, why), TR_VERDICT_HELD,
                 "%s", why);
    cr_expect(strstr(why, "allowed") != NULL, "%s", why);
    int64_t one[2][6] = {{1, 1, 2, 1}, {2, 1}};
    cr_expect_eq(broadcast_check_faults(one, (uint32_t[]){4, 2}, &torn, 1, why),
                 TR_VERDICT_VIOLATED, "%s", why);
    torn.nodes = 2;
    cr_expect_eq(broadcast_check_faults(none, (uint32_t[]){2, 2}, &torn, 1, why),
                 TR_VERDICT_VIOLATED, "%s", why);
}

Test(check_crdt, broadcast_delivery_holds_when_every_node_has_each_message_once) {
    char why[200];
    int64_t both[2][6] = {{1, 1, 2, 1}, {2, 1, 1, 1}};
    cr_expect_eq(broadcast_check(both, (uint32_t[]){4, 4}, why), TR_VERDICT_HELD, "%s", why);
    int64_t no_info[2][6] = {{1, 1}, {1, 1}};
    cr_expect_eq(broadcast_check(no_info, (uint32_t[]){2, 2}, why), TR_VERDICT_HELD, "%s", why);
}

Test(check_crdt, broadcast_delivery_finds_missing_duplicate_partial_and_refused) {
    char why[200];
    int64_t missing[2][6] = {{1, 1}, {2, 1}};
    cr_expect_eq(broadcast_check(missing, (uint32_t[]){2, 2}, why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "1 missing") != NULL, "%s", why);
    int64_t twice[2][6] = {{1, 2}, {1, 1}};
    cr_expect_eq(broadcast_check(twice, (uint32_t[]){2, 2}, why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "1 duplicated") != NULL, "%s", why);
    int64_t partial[2][6] = {{1, 1, 2, 1}, {1, 1}};
    cr_expect_eq(broadcast_check(partial, (uint32_t[]){4, 2}, why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "1 partial") != NULL, "%s", why);
    int64_t refused[2][6] = {{1, 1, 3, 1}, {1, 1, 3, 1}};
    cr_expect_eq(broadcast_check(refused, (uint32_t[]){4, 4}, why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "refused") != NULL, "%s", why);
}
