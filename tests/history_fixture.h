/* history_fixture.h — small register histories for the checker suites: a write (w), its ok,
 * and one acknowledged sequential history. Times are a counter from 1 (fresh resets it). */
#ifndef TROUPE_TESTS_HISTORY_FIXTURE_H
#define TROUPE_TESTS_HISTORY_FIXTURE_H

#include <criterion/criterion.h>

#include "sim/history.h"

static int64_t tick;

static tr_history *fresh(void) {
    tick = 0;
    tr_history *h = tr__history_create(10000);
    cr_assert_not_null(h);
    return h;
}

static void w(tr_history *h, int64_t p, int64_t k, int64_t v) {
    cr_assert_eq(tr__history_invoke_write(h, ++tick, p, k, v, 0), 0);
}
static void ok(tr_history *h, int64_t p) {
    cr_assert_eq(tr__history_ok(h, ++tick, p), 0);
}

/* Acknowledged, sequential: k1 = 1, then k1 = 2; k2 = 5. */
static tr_history *sequential(void) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    ok(h, 0);
    w(h, 0, 1, 2);
    ok(h, 0);
    w(h, 1, 2, 5);
    ok(h, 1);
    return h;
}

#endif
