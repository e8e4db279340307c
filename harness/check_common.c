/* check_common.c — the shared history checks of check_common.h. */
#include "harness/check_common.h"

#include <stdio.h>
#include <string.h>

bool tr__check_progress(const tr_history *h, const char *const *fs, size_t n, char *why,
                        size_t why_cap) {
    uint64_t ok[8] = {0}, all[8] = {0}, malformed = 0, first = 0;
    tr_history_op op;
    n = n < 8 ? n : 8;
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        if (op.type != TR_HISTORY_INVOKE && op.error != NULL &&
            strcmp(op.error, "malformed reply") == 0 && malformed++ == 0) {
            first = op.index;
        }
        for (size_t f = 0; f < n; f++) {
            if (strcmp(op.f, fs[f]) == 0) {
                all[f] += op.type == TR_HISTORY_INVOKE;
                ok[f] += op.type == TR_HISTORY_OK;
            }
        }
    }
    for (size_t f = 0; f < n; f++) {
        if (all[f] >= TR__PROGRESS_MIN_OPS && ok[f] == 0) {
            snprintf(why, why_cap, "no %s succeeded (%llu invoked)", fs[f],
                     (unsigned long long)all[f]);
            return false;
        }
    }
    if (malformed > 0) {
        snprintf(why, why_cap, "%llu replies malformed (the first completes op %llu)",
                 (unsigned long long)malformed, (unsigned long long)first);
        return false;
    }
    return true;
}

bool tr__check_torn_after(const tr_check_input *in, int32_t node, int64_t t_ns) {
    for (uint32_t i = 0; node >= 0 && node < 64 && i < in->fault_count; i++) {
        const tr_fault_span *f = &in->faults[i];
        if (f->kind != NULL && !strcmp(f->kind, "corrupt") && (f->nodes >> node & 1) &&
            (int64_t)f->start_ns >= t_ns) {
            return true;
        }
    }
    return false;
}
