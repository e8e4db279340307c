/*
 * assert.h — assertions that stay on in every build.
 *
 * TR_ASSERT(cond) is checked in Debug and release builds alike (the shipped binary is built
 * ReleaseFast, which defines NDEBUG and would compile a plain assert() away). Use it for
 * arguments, results and invariants whose check costs a compare or two: at module
 * boundaries, in pairs (what one side promises, the other side checks).
 * TR_DEBUG_ASSERT(cond) is for checks that cost real work (walking a list, an invariant
 * walker such as tr__node_check); it is compiled out when NDEBUG is defined, but its
 * expression is still type-checked.
 *
 * A failed assertion prints the expression, file, line and function, then whatever the
 * thread's context hook knows (the simulator's seed and event number, the node, the actor),
 * and aborts. The hook is per thread: the simulator installs one for the run it drives, the
 * real engine's workers one that names the node and the running actor.
 */
#ifndef TR_ASSERT_H
#define TR_ASSERT_H

#include <stddef.h>

/* Writes a one-line description of what the calling thread is doing into buf (at most cap
 * bytes, NUL-terminated). Called only on the failure path; must not allocate or lock. */
typedef void (*tr__assert_context_fn)(void *arg, char *buf, size_t cap);

/* Installs (fn != NULL) or removes (fn == NULL) the calling thread's context hook.
 * Returns the previous one through prev_fn / prev_arg when they are not NULL, so that a
 * nested user (a simulation run inside a test) can restore it. */
void tr__assert_context_set(tr__assert_context_fn fn, void *arg, tr__assert_context_fn *prev_fn,
                            void **prev_arg);

_Noreturn __attribute__((cold)) void tr__assert_fail(const char *expr, const char *file, int line,
                                                     const char *func);

#define TR_ASSERT(cond) \
    (__builtin_expect(!!(cond), 1) ? (void)0 : tr__assert_fail(#cond, __FILE__, __LINE__, __func__))

#ifdef NDEBUG
#define TR_DEBUG_ASSERT(cond) ((void)sizeof(!(cond)))
#else
#define TR_DEBUG_ASSERT(cond) TR_ASSERT(cond)
#endif

#endif /* TR_ASSERT_H */
