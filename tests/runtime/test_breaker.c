/* The circuit breaker's state machine (runtime/breaker.c): transitions, half-open probes,
 * the failure-ratio window, the status it shows. */
#include <criterion/criterion.h>

#include "troupe.h"

static tr_breaker_config consecutive_only(uint32_t n, uint32_t open_ms, uint32_t probes) {
    tr_breaker_config c;
    tr_breaker_config_init(&c);
    c.consecutive_failures = n;
    c.failure_ratio = 0.0;
    c.open_ms = open_ms;
    c.half_open_probes = probes;
    return c;
}

static tr_breaker_state state(const tr_breaker *b, uint64_t now) {
    tr_breaker_status st;
    tr_breaker_status_get(b, now, &st);
    return st.state;
}

static void fail_call(tr_breaker *b, uint64_t now) {
    cr_assert_eq(tr_breaker_allow(b, now), 0);
    tr_breaker_record(b, now, false);
}

Test(breaker, refuses_configs_that_cannot_work) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(0, 100, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), TR_EINVAL); /* no trigger: it would never open */
    c = consecutive_only(3, 0, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), TR_EINVAL);
    c = consecutive_only(3, 100, 0);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), TR_EINVAL);
    tr_breaker_config_init(&c);
    c.failure_ratio = 1.5;
    cr_assert_eq(tr_breaker_init(&b, &c, 0), TR_EINVAL);
    c.failure_ratio = 0.5;
    c.window_ms = 5;
    cr_assert_eq(tr_breaker_init(&b, &c, 0), TR_EINVAL);
    tr_breaker_config_init(&c);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    cr_assert_eq(state(&b, 0), TR_BREAKER_CLOSED);
}

Test(breaker, opens_after_consecutive_failures_and_refuses_fast) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(3, 1000, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    fail_call(&b, 10);
    fail_call(&b, 20);
    cr_assert_eq(state(&b, 20), TR_BREAKER_CLOSED);
    fail_call(&b, 30);
    cr_assert_eq(state(&b, 30), TR_BREAKER_OPEN);
    cr_assert_eq(tr_breaker_allow(&b, 31), TR_EAGAIN);
    cr_assert_eq(tr_breaker_allow(&b, 500), TR_EAGAIN);
    cr_assert_eq(tr_breaker_retry_after_ms(&b, 500), 530);
    tr_breaker_status st;
    tr_breaker_status_get(&b, 500, &st);
    cr_assert_eq(st.rejected, 2);
    cr_assert_eq(st.failures, 3);
    cr_assert_eq(st.transitions, 1);
    cr_assert_eq(st.opened, 1);
    cr_assert_eq(st.retry_after_ms, 530);
}

Test(breaker, a_success_resets_the_consecutive_count) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(3, 1000, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    fail_call(&b, 1);
    fail_call(&b, 2);
    cr_assert_eq(tr_breaker_allow(&b, 3), 0);
    tr_breaker_record(&b, 3, true);
    fail_call(&b, 4);
    fail_call(&b, 5);
    cr_assert_eq(state(&b, 5), TR_BREAKER_CLOSED);
    fail_call(&b, 6);
    cr_assert_eq(state(&b, 6), TR_BREAKER_OPEN);
}

Test(breaker, half_open_lets_probes_through_and_closes_on_their_success) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(1, 100, 2);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    fail_call(&b, 0);
    cr_assert_eq(tr_breaker_allow(&b, 99), TR_EAGAIN);
    cr_assert_eq(tr_breaker_allow(&b, 100), 0); /* open_ms over: the first probe */
    cr_assert_eq(state(&b, 100), TR_BREAKER_HALF_OPEN);
    cr_assert_eq(tr_breaker_allow(&b, 101), 0);         /* the second probe */
    cr_assert_eq(tr_breaker_allow(&b, 102), TR_EAGAIN); /* no third */
    tr_breaker_record(&b, 110, true);
    cr_assert_eq(state(&b, 110), TR_BREAKER_HALF_OPEN); /* one success of two */
    cr_assert_eq(tr_breaker_allow(&b, 111), TR_EAGAIN);
    tr_breaker_record(&b, 120, true);
    cr_assert_eq(state(&b, 120), TR_BREAKER_CLOSED);
    cr_assert_eq(tr_breaker_allow(&b, 121), 0);
    tr_breaker_status st;
    tr_breaker_status_get(&b, 121, &st);
    cr_assert_eq(st.transitions, 3); /* closed -> open -> half-open -> closed */
    cr_assert_eq(st.opened, 1);
}

Test(breaker, a_failed_probe_opens_it_again_for_open_ms) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(1, 100, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    fail_call(&b, 0);
    fail_call(&b, 150); /* the probe fails */
    cr_assert_eq(state(&b, 150), TR_BREAKER_OPEN);
    cr_assert_eq(tr_breaker_allow(&b, 249), TR_EAGAIN);
    cr_assert_eq(tr_breaker_retry_after_ms(&b, 249), 1);
    cr_assert_eq(tr_breaker_allow(&b, 250), 0);
    tr_breaker_status st;
    tr_breaker_status_get(&b, 250, &st);
    cr_assert_eq(st.opened, 2);
    cr_assert_eq(st.state, TR_BREAKER_HALF_OPEN);
}

Test(breaker, a_probe_never_answered_does_not_hold_it_half_open) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(1, 100, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    fail_call(&b, 0);
    cr_assert_eq(tr_breaker_allow(&b, 100), 0);         /* a probe whose outcome is lost */
    cr_assert_eq(tr_breaker_allow(&b, 150), TR_EAGAIN); /* waiting for it */
    cr_assert_eq(tr_breaker_allow(&b, 200), TR_EAGAIN); /* open again: it counts as failed */
    cr_assert_eq(state(&b, 200), TR_BREAKER_OPEN);
    cr_assert_eq(tr_breaker_allow(&b, 300), 0); /* and probes again after open_ms */
}

Test(breaker, outcomes_recorded_while_open_change_nothing) {
    tr_breaker b;
    tr_breaker_config c = consecutive_only(1, 100, 1);
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    cr_assert_eq(tr_breaker_allow(&b, 0), 0);
    cr_assert_eq(tr_breaker_allow(&b, 0), 0); /* two calls in flight */
    tr_breaker_record(&b, 5, false);
    tr_breaker_record(&b, 6, true); /* the other one answers late */
    tr_breaker_status st;
    tr_breaker_status_get(&b, 6, &st);
    cr_assert_eq(st.state, TR_BREAKER_OPEN);
    cr_assert_eq(st.ignored, 1);
}

Test(breaker, opens_on_the_failure_ratio_over_the_window_only) {
    tr_breaker b;
    tr_breaker_config c;
    tr_breaker_config_init(&c);
    c.consecutive_failures = 0;
    c.failure_ratio = 0.5;
    c.window_ms = 1000;
    c.window_min_calls = 10;
    cr_assert_eq(tr_breaker_init(&b, &c, 0), 0);
    /* alternate ok and failed: 50%, but fewer than 10 outcomes does not count */
    for (uint64_t i = 0; i < 9; i++) {
        cr_assert_eq(tr_breaker_allow(&b, i), 0);
        tr_breaker_record(&b, i, i % 2 == 1);
    }
    cr_assert_eq(state(&b, 9), TR_BREAKER_CLOSED);
    tr_breaker_status st;
    tr_breaker_status_get(&b, 9, &st);
    cr_assert_eq(st.window_calls, 9);
    cr_assert_eq(st.window_failures, 5);
    /* the window slides: 2 s later those outcomes are gone */
    tr_breaker_status_get(&b, 2009, &st);
    cr_assert_eq(st.window_calls, 0);
    for (uint64_t i = 0; i < 9; i++) {
        cr_assert_eq(tr_breaker_allow(&b, 2000 + i), 0);
        tr_breaker_record(&b, 2000 + i, i % 3 != 0); /* 3 of 9 failed */
    }
    cr_assert_eq(state(&b, 2009), TR_BREAKER_CLOSED);
    fail_call(&b, 2010); /* 4 of 10: under 50% */
    cr_assert_eq(state(&b, 2010), TR_BREAKER_CLOSED);
    fail_call(&b, 2011); /* 5 of 11: under */
    fail_call(&b, 2012); /* 6 of 12: 50% */
    cr_assert_eq(state(&b, 2012), TR_BREAKER_OPEN);
}

Test(breaker, state_names) {
    cr_assert_str_eq(tr_breaker_state_name(TR_BREAKER_CLOSED), "closed");
    cr_assert_str_eq(tr_breaker_state_name(TR_BREAKER_OPEN), "open");
    cr_assert_str_eq(tr_breaker_state_name(TR_BREAKER_HALF_OPEN), "half-open");
}
