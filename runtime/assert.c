/* assert.c — the failure path of TR_ASSERT (runtime/assert.h). */
#include "runtime/assert.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local tr__assert_context_fn context_fn;
static _Thread_local void *context_arg;

void tr__assert_context_set(tr__assert_context_fn fn, void *arg, tr__assert_context_fn *prev_fn,
                            void **prev_arg) {
    if (prev_fn) {
        *prev_fn = context_fn;
    }
    if (prev_arg) {
        *prev_arg = context_arg;
    }
    context_fn = fn;
    context_arg = fn ? arg : NULL;
}

void tr__assert_fail(const char *expr, const char *file, int line, const char *func) {
    char ctx[256];
    ctx[0] = '\0';
    if (context_fn) {
        /* Clear first: an assertion inside the hook must not recurse forever. */
        tr__assert_context_fn fn = context_fn;
        context_fn = NULL;
        fn(context_arg, ctx, sizeof ctx);
        ctx[sizeof ctx - 1] = '\0';
    }
    fprintf(stderr, "troupe: assertion failed: %s (%s:%d, %s)%s%s\n", expr, file, line, func,
            ctx[0] ? "; " : "", ctx);
    fflush(stderr);
    abort();
}
