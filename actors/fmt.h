/* fmt.h — the names and keys the services build on every message ("topics@n3", "outbox/7",
 * "got/1042"): a prefix and a decimal number, exactly as snprintf("%s%s%llu") writes them,
 * without printf's machinery (a tenth of a pubsub run's CPU went to formatting these).
 *
 * Why: the simulator runs these actors millions of times per sweep, and a name built per
 * message is on the hot path of every gossip round and forwarded request. */
#ifndef TR_ACTORS_FMT_H
#define TR_ACTORS_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Writes a, then b, then v in decimal into out[0..cap) as snprintf would: at most cap - 1
 * bytes and a NUL (nothing when cap is 0); returns the length the whole would take. */
static inline size_t tr__fmt_u64(char *out, size_t cap, const char *a, const char *b, uint64_t v) {
    char digits[20];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    size_t la = strlen(a), lb = strlen(b), len = la + lb + nd;
    if (cap == 0) {
        return len;
    }
    size_t k = 0;
    for (size_t i = 0; i < la && k + 1 < cap; i++) {
        out[k++] = a[i];
    }
    for (size_t i = 0; i < lb && k + 1 < cap; i++) {
        out[k++] = b[i];
    }
    for (size_t i = nd; i > 0 && k + 1 < cap; i--) {
        out[k++] = digits[i - 1];
    }
    out[k] = '\0';
    return len;
}

/* Writes a, b and c one after the other into out[0..cap) as snprintf("%s%s%s") would ("orders"
 * "@" "n3": an entity host's peer); returns the length the whole would take. */
static inline size_t tr__fmt_str3(char *out, size_t cap, const char *a, const char *b,
                                  const char *c) {
    const char *part[3] = {a, b, c};
    size_t k = 0, len = 0;
    for (int i = 0; i < 3; i++) {
        for (const char *q = part[i]; *q != '\0'; q++, len++) {
            if (k + 1 < cap) {
                out[k++] = *q;
            }
        }
    }
    if (cap > 0) {
        out[k] = '\0';
    }
    return len;
}

#endif /* TR_ACTORS_FMT_H */
