/* Retries (runtime/retry.c): backoff bounds and jitter, the retry budget's token bucket, and
 * the per-call decision (idempotent only, attempts, deadline, budget). */
#include <criterion/criterion.h>

#include "troupe.h"

/* splitmix64: a seeded stream standing in for tr_random. */
static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static tr_retry_policy policy(tr_backoff_jitter j, uint32_t attempts) {
    tr_retry_policy p;
    tr_retry_policy_init(&p);
    p.jitter = j;
    p.max_attempts = attempts;
    p.base_ms = 10;
    p.max_ms = 1000;
    return p;
}

Test(backoff, full_jitter_stays_within_the_doubling_ceiling_and_spreads) {
    tr_retry_policy p = policy(TR_BACKOFF_FULL, 10);
    uint64_t s = 1;
    for (uint32_t attempt = 1; attempt <= TR_RETRY_ATTEMPTS_MAX; attempt++) {
        uint64_t ceiling = attempt - 1 >= 32 ? UINT64_MAX : 10ull << (attempt - 1);
        ceiling = ceiling < 1000 ? ceiling : 1000;
        uint32_t lo = UINT32_MAX, hi = 0;
        for (int i = 0; i < 2000; i++) {
            uint32_t d = tr_backoff_delay_ms(&p, attempt, 0, next_random(&s));
            cr_assert_leq(d, ceiling, "attempt %u: %u > %llu", attempt, d,
                          (unsigned long long)ceiling);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* jitter: the draws cover the span, not one point */
        cr_assert_leq(lo, ceiling / 10, "attempt %u: lowest %u", attempt, lo);
        cr_assert_geq(hi, ceiling - ceiling / 10, "attempt %u: highest %u", attempt, hi);
    }
    /* extreme random values land on the bounds */
    cr_assert_eq(tr_backoff_delay_ms(&p, 3, 0, 40), 40);
    cr_assert_eq(tr_backoff_delay_ms(&p, 3, 0, 41), 0);
}

Test(backoff, decorrelated_jitter_stays_between_base_and_three_times_the_last) {
    tr_retry_policy p = policy(TR_BACKOFF_DECORRELATED, 10);
    uint64_t s = 2;
    uint32_t prev = 0;
    for (int i = 0; i < 5000; i++) {
        uint32_t d = tr_backoff_delay_ms(&p, 1 + (uint32_t)i % 9, prev, next_random(&s));
        uint64_t hi = prev == 0 ? 10 : 3ull * prev;
        hi = hi < 10 ? 10 : (hi > 1000 ? 1000 : hi);
        cr_assert(d >= 10 && d <= hi, "delay %u after %u", d, prev);
        prev = d;
    }
}

Test(backoff, the_same_seed_gives_the_same_delays) {
    tr_retry_policy p = policy(TR_BACKOFF_DECORRELATED, 10);
    uint32_t a[64], b[64];
    for (int run = 0; run < 2; run++) {
        uint64_t s = 42;
        uint32_t prev = 0;
        for (int i = 0; i < 64; i++) {
            prev = tr_backoff_delay_ms(&p, 1 + (uint32_t)i % 8, prev, next_random(&s));
            (run ? b : a)[i] = prev;
        }
    }
    cr_assert_arr_eq(a, b, sizeof a);
    uint64_t s = 43;
    uint32_t prev = 0, same = 0;
    for (int i = 0; i < 64; i++) {
        prev = tr_backoff_delay_ms(&p, 1 + (uint32_t)i % 8, prev, next_random(&s));
        same += prev == a[i];
    }
    cr_assert_lt(same, 32); /* another seed, other delays */
}

static tr_retry_budget budget(double ratio, uint32_t burst, uint32_t min_per_s) {
    tr_retry_budget_config c = {.ratio = ratio, .burst = burst, .min_per_s = min_per_s};
    tr_retry_budget rb;
    cr_assert_eq(tr_retry_budget_init(&rb, &c, 0), 0);
    return rb;
}

Test(retry_budget, refuses_bad_configs) {
    tr_retry_budget rb;
    tr_retry_budget_config c;
    tr_retry_budget_config_init(&c);
    cr_assert_eq(tr_retry_budget_init(&rb, &c, 0), 0);
    c.ratio = 1.5;
    cr_assert_eq(tr_retry_budget_init(&rb, &c, 0), TR_EINVAL);
    tr_retry_budget_config_init(&c);
    c.burst = 0;
    cr_assert_eq(tr_retry_budget_init(&rb, &c, 0), TR_EINVAL);
}

Test(retry_budget, a_burst_then_ten_percent_of_first_attempts) {
    tr_retry_budget rb = budget(0.1, 5, 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), 0, "retry %d of the burst", i);
    }
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), TR_EAGAIN); /* exhausted */
    /* 1000 first attempts allow 100 retries, not one more */
    uint64_t allowed = 0;
    for (int i = 0; i < 1000; i++) {
        tr_retry_budget_deposit(&rb, 0);
        allowed += tr_retry_budget_withdraw(&rb, 0) == 0;
    }
    cr_assert_eq(allowed, 100);
    tr_retry_budget_status st;
    tr_retry_budget_status_get(&rb, 0, &st);
    cr_assert_eq(st.deposits, 1000);
    cr_assert_eq(st.retries, 105);
    cr_assert_eq(st.refused, 901);
    cr_assert_lt(st.tokens, 1.0);
}

Test(retry_budget, deposits_never_fill_past_the_burst) {
    tr_retry_budget rb = budget(1.0, 3, 0);
    for (int i = 0; i < 100; i++) {
        tr_retry_budget_deposit(&rb, 0);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), 0);
    }
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), TR_EAGAIN);
}

Test(retry_budget, min_per_s_refills_a_quiet_caller) {
    tr_retry_budget rb = budget(0.0, 2, 2);
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), 0);
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), 0);
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 0), TR_EAGAIN);
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 499), TR_EAGAIN); /* 0.998 of a token */
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 500), 0);         /* 2 a second: one */
    cr_assert_eq(tr_retry_budget_withdraw(&rb, 500), TR_EAGAIN);
    tr_retry_budget_status st;
    tr_retry_budget_status_get(&rb, 100500, &st); /* long quiet: full, not more */
    cr_assert_float_eq(st.tokens, 2.0, 1e-9);
}

Test(retry, only_idempotent_calls_are_retried) {
    tr_retry_policy p = policy(TR_BACKOFF_FULL, 3);
    tr_retry r;
    uint32_t d = 7;
    tr_retry_start(&r, &p, NULL, false, 0);
    cr_assert_eq(tr_retry_next(&r, 0, 0, 1, &d), TR_RETRY_NOT_IDEMPOTENT);
    cr_assert_eq(d, 0);
    tr_retry_start(&r, &p, NULL, true, 0);
    cr_assert_eq(tr_retry_next(&r, 0, 0, 1, &d), TR_RETRY_AGAIN);
}

Test(retry, stops_after_max_attempts) {
    tr_retry_policy p = policy(TR_BACKOFF_FULL, 3);
    tr_retry r;
    uint32_t d;
    uint64_t s = 5;
    tr_retry_start(&r, &p, NULL, true, 0);
    cr_assert_eq(tr_retry_next(&r, 0, 0, next_random(&s), &d), TR_RETRY_AGAIN);
    cr_assert_leq(d, 10);
    cr_assert_eq(tr_retry_next(&r, 0, 0, next_random(&s), &d), TR_RETRY_AGAIN);
    cr_assert_leq(d, 20);
    cr_assert_eq(tr_retry_next(&r, 0, 0, next_random(&s), &d), TR_RETRY_ATTEMPTS_SPENT);
}

Test(retry, stops_when_the_delay_would_pass_the_deadline) {
    tr_retry_policy p = policy(TR_BACKOFF_DECORRELATED, 5);
    tr_retry r;
    uint32_t d;
    tr_retry_start(&r, &p, NULL, true, 0);
    /* the first delay is base_ms (10): a deadline 10 ms away leaves no time for the retry */
    cr_assert_eq(tr_retry_next(&r, 100, 110, 0, &d), TR_RETRY_DEADLINE);
    cr_assert_eq(tr_retry_next(&r, 100, 111, 0, &d), TR_RETRY_AGAIN);
    cr_assert_eq(d, 10);
}

Test(retry, a_spent_budget_stops_retries_of_every_call_to_the_dependency) {
    tr_retry_policy p = policy(TR_BACKOFF_FULL, 5);
    tr_retry_budget rb = budget(0.0, 2, 0);
    tr_retry r1, r2;
    uint32_t d;
    tr_retry_start(&r1, &p, &rb, true, 0);
    tr_retry_start(&r2, &p, &rb, true, 0);
    cr_assert_eq(tr_retry_next(&r1, 0, 0, 3, &d), TR_RETRY_AGAIN);
    cr_assert_eq(tr_retry_next(&r1, 0, 0, 3, &d), TR_RETRY_AGAIN);
    cr_assert_eq(tr_retry_next(&r2, 0, 0, 3, &d), TR_RETRY_BUDGET_SPENT);
    cr_assert_eq(tr_retry_next(&r1, 0, 0, 3, &d), TR_RETRY_BUDGET_SPENT);
    /* a refusal by the deadline takes no token */
    tr_retry_budget rb2 = budget(0.0, 1, 0);
    tr_retry r3;
    tr_retry_start(&r3, &p, &rb2, true, 0);
    cr_assert_eq(tr_retry_next(&r3, 0, 1, 5, &d), TR_RETRY_DEADLINE);
    cr_assert_eq(tr_retry_next(&r3, 0, 0, 5, &d), TR_RETRY_AGAIN);
}

Test(retry, verdict_names) {
    cr_assert_str_eq(tr_retry_verdict_name(TR_RETRY_AGAIN), "again");
    cr_assert_str_eq(tr_retry_verdict_name(TR_RETRY_BUDGET_SPENT), "budget-spent");
    cr_assert_str_eq(tr_retry_verdict_name(TR_RETRY_DEADLINE), "deadline");
}
