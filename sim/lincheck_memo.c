/* lincheck_memo.c — the memo's growth and the event-list builder (see lincheck_memo.h). */
#include "sim/lincheck_memo.h"

#include <stdlib.h>

#include "troupe.h"

static size_t memo_bytes(size_t arena_words, size_t table_cap) {
    return arena_words * sizeof(uint64_t) + table_cap * sizeof(size_t);
}

int tr__memo_grow_table(tr__memo *m, size_t fixed) {
    size_t cap = m->table_cap ? m->table_cap * 2 : 1024;
    if (memo_bytes(m->arena_cap, cap) > m->max_bytes) {
        return TR_ENOSPC;
    }
    size_t *t = calloc(cap, sizeof *t);
    if (!t) {
        return TR_ENOSPC;
    }
    for (size_t off = 0; off < m->used; off += tr__memo_entry_words(m->arena + off, fixed)) {
        size_t j = tr__memo_hash(m->arena + off, fixed) & (cap - 1);
        while (t[j]) {
            j = (j + 1) & (cap - 1);
        }
        t[j] = off + 1;
    }
    free(m->table);
    m->table = t;
    m->table_cap = cap;
    return 0;
}

int tr__memo_grow_arena(tr__memo *m, size_t need) {
    size_t cap = m->arena_cap ? m->arena_cap : 4096;
    while (cap < m->used + need) {
        cap *= 2;
    }
    if (memo_bytes(cap, m->table_cap) > m->max_bytes) {
        return TR_ENOSPC;
    }
    uint64_t *a = realloc(m->arena, cap * sizeof *a);
    if (!a) {
        return TR_ENOSPC;
    }
    m->arena = a;
    m->arena_cap = cap;
    return 0;
}

void tr__memo_free(tr__memo *m) {
    free(m->arena);
    free(m->table);
    free(m->scratch);
    m->arena = NULL;
    m->table = NULL;
    m->scratch = NULL;
}

static int cmp_u32_pair(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

int tr__lin_events_build(tr__lin_node *nodes, const void *calls, size_t n, size_t stride) {
    size_t ev = 0;
    uint32_t(*order)[2] = malloc((2 * n + 1) * sizeof *order);
    uint32_t *inv_node = malloc((n + 1) * sizeof *inv_node); /* call -> its invoke node */
    if (!order || !inv_node) {
        free(order);
        free(inv_node);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t span[2]; /* inv, ret */
        memcpy(span, (const char *)calls + i * stride, sizeof span);
        order[ev][0] = span[0], order[ev++][1] = (uint32_t)i << 1;
        if (span[1] != TR_LIN_NIL) {
            order[ev][0] = span[1], order[ev++][1] = ((uint32_t)i << 1) | 1;
        }
    }
    /* history indices are distinct, so the unstable sort still gives one order */
    qsort(order, ev, sizeof *order, cmp_u32_pair);
    for (size_t k = 0; k < ev; k++) {
        tr__lin_node *nd = &nodes[k + 1];
        *nd = (tr__lin_node){.call = order[k][1] >> 1,
                             .pos = order[k][0],
                             .prev = (uint32_t)k,
                             .next = k + 1 < ev ? (uint32_t)(k + 2) : TR_LIN_NIL,
                             .match = TR_LIN_NIL,
                             .is_ret = order[k][1] & 1};
        if (!nd->is_ret) {
            inv_node[nd->call] = (uint32_t)(k + 1);
        } else {
            nodes[inv_node[nd->call]].match = (uint32_t)(k + 1);
        }
    }
    nodes[0] = (tr__lin_node){
        .call = TR_LIN_NIL, .prev = TR_LIN_NIL, .next = ev ? 1 : TR_LIN_NIL, .match = TR_LIN_NIL};
    free(order);
    free(inv_node);
    return 0;
}
