/* stress.h — the one assertion of the stress programs in tests/tsan/. They are plain C
 * (Criterion cannot run under ThreadSanitizer here), so a failed check prints where and why
 * and makes the enclosing case return 1; each program ends with "N passed, M failed". */
#ifndef TR_STRESS_H
#define TR_STRESS_H

#include <stdio.h>

#define stress_assert(cond, ...)                                            \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            return 1;                                                       \
        }                                                                   \
    } while (0)

#endif
