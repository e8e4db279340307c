/* TR_ASSERT: on in every build, prints the thread's context, aborts. This suite is compiled
 * as a release build is (NDEBUG defined): TR_ASSERT must still fire, TR_DEBUG_ASSERT not. */
#define NDEBUG 1
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "runtime/assert.h"

static void say_where(void *arg, char *buf, size_t cap) {
    snprintf(buf, cap, "seed %d event #7", *(int *)arg);
}

Test(assert, holds_is_silent) {
    int x = 1;
    TR_ASSERT(x == 1);
    TR_DEBUG_ASSERT(x == 1);
    cr_assert_eq(x, 1);
}

Test(assert, fails_and_aborts_under_ndebug, .signal = SIGABRT) {
    static int seed = 42;
    tr__assert_context_set(say_where, &seed, NULL, NULL);
    volatile int x = 2;
    TR_ASSERT(x == 1);
}

Test(assert, context_set_returns_previous) {
    static int a = 1;
    tr__assert_context_fn fn = NULL;
    void *arg = NULL;
    tr__assert_context_set(say_where, &a, NULL, NULL);
    tr__assert_context_set(NULL, NULL, &fn, &arg);
    cr_assert_eq(fn, say_where);
    cr_assert_eq(arg, &a);
}

Test(assert, debug_assert_is_compiled_out_under_ndebug) {
    volatile int x = 2;
    TR_DEBUG_ASSERT(x == 1);
    cr_assert_eq(x, 2);
}
