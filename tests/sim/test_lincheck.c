#include <criterion/criterion.h>

#include "sim/history.h"
#include "sim/lincheck.h"
#include "troupe.h"

/* Each of these functions appends at the next tick so that history order == time order. */
static int64_t tick;

static tr_history *fresh(void) {
    tick = 0;
    tr_history *h = tr__history_create(100000);
    cr_assert_not_null(h);
    return h;
}

static void w(tr_history *h, int64_t p, int64_t k, int64_t v) {
    cr_assert_eq(tr__history_invoke_write(h, ++tick, p, k, v, 0), 0);
}
static void r(tr_history *h, int64_t p, int64_t k) {
    cr_assert_eq(tr__history_invoke_read(h, ++tick, p, k, 0), 0);
}
static void cas(tr_history *h, int64_t p, int64_t k, int64_t from, int64_t to) {
    cr_assert_eq(tr__history_invoke_cas(h, ++tick, p, k, from, to, 0), 0);
}
static void ok(tr_history *h, int64_t p) {
    cr_assert_eq(tr__history_ok(h, ++tick, p), 0);
}
static void ok_r(tr_history *h, int64_t p, int64_t v) {
    cr_assert_eq(tr__history_ok_read(h, ++tick, p, true, v), 0);
}
static void ok_nil(tr_history *h, int64_t p) {
    cr_assert_eq(tr__history_ok_read(h, ++tick, p, false, 0), 0);
}
static void fail(tr_history *h, int64_t p) {
    cr_assert_eq(tr__history_fail(h, ++tick, p, "refused"), 0);
}
static void info(tr_history *h, int64_t p) {
    cr_assert_eq(tr__history_info(h, ++tick, p, "timeout"), 0);
}

static tr__lin_result check(tr_history *h, uint64_t budget) {
    tr_lin_options o = {.max_configs = budget};
    tr__lin_result res;
    cr_assert_eq(tr__lincheck(h, &o, &res), 0);
    return res;
}

/* The cas-register model under another address: tr_lincheck_history runs its general search
 * (model states as bytes) instead of the register checker. */
static tr_lin_model general_cas_register(void) {
    tr_lin_model m = tr_lin_model_cas_register;
    m.name = "cas-register (general search)";
    return m;
}

static tr_verdict public_verdict(tr_lin_verdict v) {
    return v == TR_LIN_VALID     ? TR_VERDICT_HELD
           : v == TR_LIN_INVALID ? TR_VERDICT_VIOLATED
                                 : TR_VERDICT_UNKNOWN;
}

/* The public checker, with the built-in model and with the general search, agrees with the
 * internal one (verdict, and for a violation the key and the operation). */
static void expect_public_agrees(const tr_history *h, const tr__lin_result *want) {
    tr_lin_model general = general_cas_register();
    const tr_lin_model *models[] = {&tr_lin_model_cas_register, &general};
    for (int i = 0; i < 2; i++) {
        tr_lin_result res;
        cr_assert_eq(tr_lincheck_history(h, models[i], 0, &res), 0, "%s", models[i]->name);
        cr_assert_eq(res.verdict, public_verdict(want->verdict), "%s: got %s (%s)", models[i]->name,
                     tr_verdict_name(res.verdict), res.why);
        if (want->verdict == TR_LIN_INVALID) {
            cr_assert_eq(res.key, want->bad_op.key, "%s", models[i]->name);
            cr_assert_eq(res.op_index, want->bad_op.index, "%s", models[i]->name);
        }
    }
}

static void expect(tr_history *h, tr_lin_verdict v) {
    tr__lin_result res = check(h, 0);
    cr_assert_eq(res.verdict, v, "got %s, wanted %s", tr__lincheck_verdict_name(res.verdict),
                 tr__lincheck_verdict_name(v));
    expect_public_agrees(h, &res);
    tr__history_destroy(h);
}

Test(lincheck, empty_history_is_linearizable) {
    expect(fresh(), TR_LIN_VALID);
}

Test(lincheck, accepts_concurrent_writes_with_overlapping_reads) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    w(h, 1, 1, 2);
    r(h, 2, 1);
    r(h, 3, 1);
    ok_r(h, 2, 2);
    r(h, 2, 1);
    ok(h, 0);
    ok_r(h, 3, 1);
    ok(h, 1);
    ok_r(h, 2, 1); /* a witness order: w(2), r=2, w(1), r=1, r=1 */
    expect(h, TR_LIN_VALID);
}

Test(lincheck, rejects_stale_read_after_acknowledged_write) {
    tr_history *h = fresh();
    w(h, 0, 7, 1);
    ok(h, 0);
    w(h, 0, 7, 2);
    ok(h, 0);
    r(h, 1, 7);
    ok_r(h, 1, 1); /* index 5: reads 1 after 2 was acknowledged */
    tr__lin_result res = check(h, 0);
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert(res.has_bad_op);
    cr_assert_eq(res.bad_op.index, 5);
    cr_assert_eq(res.bad_op.key, 7);
    cr_assert_eq(res.bad_op.process, 1);
    cr_assert_eq(res.bad_op.f, TR_F_READ);
    cr_assert_eq(res.bad_op.value, 1);
    tr__history_destroy(h);
}

Test(lincheck, rejects_read_of_a_never_written_value) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    r(h, 1, 1);
    ok(h, 0);
    ok_r(h, 1, 42);
    tr__lin_result res = check(h, 0);
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert_eq(res.bad_op.index, 3);
    cr_assert_eq(res.bad_op.value, 42);
    tr__history_destroy(h);
}

Test(lincheck, rejects_nil_read_after_acknowledged_write) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    r(h, 1, 1);
    ok_nil(h, 1);
    expect(h, TR_LIN_INVALID);
}

Test(lincheck, timed_out_write_may_have_happened) {
    tr_history *h = fresh();
    w(h, 0, 1, 5);
    info(h, 0);
    r(h, 1, 1);
    ok_r(h, 1, 5);
    expect(h, TR_LIN_VALID);
}

Test(lincheck, timed_out_write_may_not_have_happened) {
    tr_history *h = fresh();
    w(h, 0, 1, 5);
    info(h, 0);
    r(h, 1, 1);
    ok_nil(h, 1);
    expect(h, TR_LIN_VALID);
}

Test(lincheck, timed_out_write_may_take_effect_late) {
    tr_history *h = fresh();
    w(h, 0, 1, 5);
    info(h, 0);
    r(h, 1, 1);
    ok_nil(h, 1);
    r(h, 1, 1);
    ok_r(h, 1, 5); /* applied after the first read: no return deadline */
    expect(h, TR_LIN_VALID);
}

Test(lincheck, timed_out_write_cannot_be_undone) {
    tr_history *h = fresh();
    w(h, 0, 1, 5);
    info(h, 0);
    r(h, 1, 1);
    ok_r(h, 1, 5);
    r(h, 1, 1);
    ok_nil(h, 1); /* seen, then gone: no write could have removed it */
    expect(h, TR_LIN_INVALID);
}

Test(lincheck, pending_invoke_is_treated_as_info) {
    tr_history *h = fresh();
    w(h, 0, 1, 5);
    r(h, 1, 1);
    ok_r(h, 1, 5);
    expect(h, TR_LIN_VALID);
}

Test(lincheck, failed_ops_are_ignored) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    w(h, 0, 1, 9);
    fail(h, 0);
    r(h, 1, 1);
    ok_r(h, 1, 1);
    expect(h, TR_LIN_VALID);
}

Test(lincheck, failed_write_must_not_be_visible) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    w(h, 0, 1, 9);
    fail(h, 0);
    r(h, 1, 1);
    ok_r(h, 1, 9);
    expect(h, TR_LIN_INVALID);
}

Test(lincheck, cas_applies_only_from_the_expected_value) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    cas(h, 0, 1, 1, 2);
    ok(h, 0);
    r(h, 1, 1);
    ok_r(h, 1, 2);
    expect(h, TR_LIN_VALID);

    h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    cas(h, 0, 1, 3, 2); /* acknowledged although the register held 1 */
    ok(h, 0);
    expect(h, TR_LIN_INVALID);
}

Test(lincheck, keys_are_independent) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    w(h, 1, 2, 2);
    ok(h, 0);
    ok(h, 1);
    r(h, 2, 1);
    ok_r(h, 2, 1); /* key 1 still holds 1: the write to key 2 does not touch it */
    r(h, 2, 2);
    ok_r(h, 2, 2);
    tr__lin_result res = check(h, 0);
    cr_assert_eq(res.verdict, TR_LIN_VALID);
    cr_assert_eq(res.keys, 2);
    tr__history_destroy(h);
}

Test(lincheck, reports_the_bad_key_among_good_ones) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    w(h, 0, 2, 1);
    ok(h, 0);
    r(h, 1, 2);
    ok_r(h, 1, 3);
    r(h, 1, 1);
    ok_r(h, 1, 1);
    tr__lin_result res = check(h, 0);
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert_eq(res.bad_op.key, 2);
    cr_assert_eq(res.bad_op.index, 5);
    tr__history_destroy(h);
}

/* n concurrent writes and a read of a value nobody wrote: the search must try every order. */
static tr_history *hard(int n) {
    tr_history *h = fresh();
    for (int p = 0; p < n; p++) {
        w(h, p, 1, p + 1);
    }
    r(h, n, 1);
    for (int p = 0; p < n; p++) {
        ok(h, p);
    }
    ok_r(h, n, 1000);
    return h;
}

Test(lincheck, budget_exceeded_answers_unknown) {
    tr_history *h = hard(12);
    tr__lin_result res = check(h, 500);
    cr_assert_eq(res.verdict, TR_LIN_UNKNOWN);
    cr_assert_eq(res.keys_unknown, 1);
    cr_assert_eq(res.unknown_key, 1);
    cr_assert_leq(res.configs, 500);
    res = check(h, 0); /* the default budget is enough for a definite answer */
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert_gt(res.configs, 500);
    tr__history_destroy(h);
}

Test(lincheck, memory_budget_answers_unknown) {
    tr_history *h = hard(12);
    tr_lin_options o = {.max_memory_bytes = 16 * 1024};
    tr__lin_result res;
    cr_assert_eq(tr__lincheck(h, &o, &res), 0);
    cr_assert_eq(res.verdict, TR_LIN_UNKNOWN);
    tr__history_destroy(h);
}

Test(lincheck, invalid_key_wins_over_unknown_key) {
    tr_history *h = hard(12);
    w(h, 100, 2, 1);
    ok(h, 100);
    r(h, 100, 2);
    ok_r(h, 100, 2);
    tr__lin_result res = check(h, 500);
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert_eq(res.bad_op.key, 2);
    tr__history_destroy(h);
}

Test(lincheck, same_history_gives_same_counts) {
    tr_history *h = hard(8);
    tr__lin_result a = check(h, 0), b = check(h, 0);
    cr_assert_eq(a.configs, b.configs);
    cr_assert_eq(a.bad_op.index, b.bad_op.index);
    tr__history_destroy(h);
}

Test(lincheck, many_sequential_ops_stay_cheap) {
    tr_history *h = fresh();
    for (int i = 0; i < 5000; i++) {
        w(h, 0, i % 7, i);
        ok(h, 0);
        r(h, 1, i % 7);
        ok_r(h, 1, i);
    }
    tr__lin_result res = check(h, 0);
    cr_assert_eq(res.verdict, TR_LIN_VALID);
    cr_assert_eq(res.keys, 7);
    cr_assert_leq(res.configs, 10000);
    tr__history_destroy(h);
}

/* ---- cross-check against brute force on small random histories ----------------------- */

typedef struct bcall {
    int64_t inv, ret; /* history indices; ret = INT64_MAX when info/pending */
    int f;
    bool has_value, must; /* must: ok (has to be in the order) */
    int64_t value, to;
} bcall;

static uint64_t lcg;
static unsigned rnd(unsigned n) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(lcg >> 33) % n;
}

/* Tries every order of every subset containing all ok calls, respecting real time. */
static bool brute(const bcall *c, int n, bool *used, int depth, bool set, int64_t val) {
    bool all = true;
    for (int i = 0; i < n; i++) {
        all &= used[i] || !c[i].must;
    }
    if (all) {
        return true;
    }
    for (int i = 0; i < n; i++) {
        bool ready = !used[i];
        for (int j = 0; ready && j < n; j++) {
            ready = used[j] || j == i || !(c[j].must && c[j].ret < c[i].inv);
        }
        if (!ready) {
            continue;
        }
        bool nset = set;
        int64_t nval = val;
        if (c[i].f == TR_F_READ) {
            if (c[i].has_value != set || (set && c[i].value != val)) {
                continue;
            }
        } else if (c[i].f == TR_F_CAS && (!set || val != c[i].value)) {
            continue;
        } else {
            nset = true;
            nval = c[i].f == TR_F_CAS ? c[i].to : c[i].value;
        }
        used[i] = true;
        bool found = brute(c, n, used, depth + 1, nset, nval);
        used[i] = false;
        if (found) {
            return true;
        }
    }
    return false;
}

/* A random single-key history of up to 7 calls over 3 live processes. */
static tr_history *random_history(bcall *c, int *nc) {
    tr_history *h = fresh();
    int64_t proc[3] = {0, 1, 2}, next_proc = 3;
    int open[3] = {-1, -1, -1};
    int calls = 0;
    *nc = 0;
    while (calls < 7 || open[0] >= 0 || open[1] >= 0 || open[2] >= 0) {
        int s = (int)rnd(3);
        if (open[s] < 0 && calls < 7) {
            int f = (int)rnd(3);
            bcall b = {.inv = (int64_t)tr__history_count(h),
                       .ret = INT64_MAX,
                       .f = f,
                       .value = rnd(3) + 1,
                       .to = rnd(3) + 1,
                       .has_value = f != TR_F_READ};
            if (f == TR_F_READ) {
                r(h, proc[s], 0);
            } else if (f == TR_F_WRITE) {
                w(h, proc[s], 0, b.value);
            } else {
                cas(h, proc[s], 0, b.value, b.to);
            }
            c[*nc] = b;
            open[s] = (*nc)++;
            calls++;
        } else if (open[s] >= 0) {
            bcall *b = &c[open[s]];
            unsigned outcome = rnd(10);
            if (outcome < 7) {
                b->must = true;
                b->ret = (int64_t)tr__history_count(h);
                if (b->f == TR_F_READ) {
                    b->has_value = rnd(4) != 0;
                    b->value = rnd(3) + 1;
                    cr_assert_eq(tr__history_ok_read(h, ++tick, proc[s], b->has_value, b->value),
                                 0);
                } else {
                    ok(h, proc[s]);
                }
            } else if (outcome < 8) {
                fail(h, proc[s]);
                b->f = -1; /* never happened: drop */
            } else {
                info(h, proc[s]);
                proc[s] = next_proc++;
                if (b->f == TR_F_READ) {
                    b->f = -1;
                }
            }
            open[s] = -1;
        }
    }
    int k = 0;
    for (int i = 0; i < *nc; i++) {
        if (c[i].f >= 0) {
            c[k++] = c[i];
        }
    }
    *nc = k;
    return h;
}

Test(lincheck, agrees_with_brute_force_on_random_histories) {
    lcg = 12345;
    int valid = 0, invalid = 0;
    for (int round = 0; round < 3000; round++) {
        bcall c[8];
        int n;
        tr_history *h = random_history(c, &n);
        bool used[8] = {0};
        bool want = brute(c, n, used, 0, false, 0);
        tr__lin_result res = check(h, 0);
        cr_assert_eq(res.verdict, want ? TR_LIN_VALID : TR_LIN_INVALID, "round %d", round);
        tr_lin_model general = general_cas_register();
        tr_lin_result pub;
        cr_assert_eq(tr_lincheck_history(h, &general, 0, &pub), 0);
        cr_assert_eq(pub.verdict, want ? TR_VERDICT_HELD : TR_VERDICT_VIOLATED, "round %d", round);
        valid += want;
        invalid += !want;
        tr__history_destroy(h);
    }
    cr_assert_gt(valid, 300); /* the generator exercises both answers */
    cr_assert_gt(invalid, 300);
}

Test(lincheck, unobserved_timed_out_writes_are_pruned) {
    tr_history *h = fresh();
    for (int p = 0; p < 40; p++) { /* 40 timed-out writes: 2^40 subsets without pruning */
        w(h, p, 1, 100 + p);
        info(h, p);
    }
    w(h, 50, 1, 7);
    ok(h, 50);
    r(h, 51, 1);
    ok_r(h, 51, 7);
    w(h, 52, 1, 8);
    info(h, 52);
    r(h, 51, 1);
    ok_r(h, 51, 8); /* observed: kept, and needed for the answer */
    r(h, 51, 1);
    ok_r(h, 51, 7); /* 8 then 7 again: nothing wrote 7 after 8 */
    tr__lin_result res = check(h, 1000);
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert_eq(res.calls_pruned, 40);
    cr_assert_eq(res.bad_op.index, tr__history_count(h) - 1);
    tr__history_destroy(h);
}
