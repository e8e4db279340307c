/* lincheck_memo.h — the parts shared by the two linearizability searches: the register
 * checker (sim/lincheck.c) and the general search over any tr_lin_model
 * (sim/lincheck_model.c).
 *
 * Memo: Lowe's set of seen configurations (linearized calls as a bitset, model state). An
 * entry is [lo_word << 32 | len, fixed - 1 state words, len bitset words] in an arena of
 * words: the bitset's leading all-ones words and trailing zero words are dropped (linearized
 * calls form a prefix plus a few in flight), so entries are short and canonical. The arena is
 * indexed by an open-addressing table of arena offsets + 1 (0 = empty). The caller builds the
 * candidate in scratch (tr__memo_encode writes the header and the bitset, the caller the state
 * words, whose encoding is its own) and passes `fixed`, the words before the bitset, as a
 * constant so the hot loops fold it. Budget: max_entries entries and max_bytes of arena plus
 * table; past either an insert answers TR_ENOSPC and the caller's key is unknown.
 *
 * Event list: node 0 is the head sentinel, then the invokes and ok returns in history order,
 * doubly linked so a linearized call (its invoke and return) is lifted out and put back in
 * O(1). Threading: none. Deterministic. */
#ifndef TR_SIM_LINCHECK_MEMO_H
#define TR_SIM_LINCHECK_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sim/history.h"
#include "troupe.h"

#define TR_LIN_NIL UINT32_MAX

typedef struct tr__memo {
    uint64_t *arena;
    size_t used;      /* words used in the arena */
    size_t arena_cap; /* words */
    size_t count;     /* entries */
    size_t *table;    /* arena offset + 1; 0 = empty */
    size_t table_cap;
    size_t max_entries;
    size_t max_bytes;
    uint64_t *scratch; /* the candidate entry: fixed + bitset words */
} tr__memo;

/* Grow the table (doubling, rehashing every entry) or the arena (to hold `need` more words);
 * 0, or TR_ENOSPC past the byte budget or when the allocation fails. */
int tr__memo_grow_table(tr__memo *m, size_t fixed);
int tr__memo_grow_arena(tr__memo *m, size_t need);
void tr__memo_free(tr__memo *m);

static inline size_t tr__memo_entry_words(const uint64_t *e, size_t fixed) {
    return fixed + (e[0] & 0xffffffffu);
}

static inline uint64_t tr__memo_hash(const uint64_t *e, size_t fixed) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < tr__memo_entry_words(e, fixed); i++) {
        h = tr__history_mix64(h ^ e[i]) + i;
    }
    return h;
}

/* Writes the header and the trimmed bitset of the candidate into m->scratch (the state
 * words, e[1 .. fixed - 1], are the caller's) and returns it. */
static inline uint64_t *tr__memo_encode(tr__memo *m, const uint64_t *bits, size_t words,
                                        size_t fixed) {
    size_t lo = 0, hi = words;
    while (lo < words && bits[lo] == UINT64_MAX) {
        lo++;
    }
    while (hi > lo && bits[hi - 1] == 0) {
        hi--;
    }
    uint64_t *e = m->scratch;
    e[0] = (uint64_t)lo << 32 | (hi - lo);
    memcpy(e + fixed, bits + lo, (hi - lo) * sizeof *e);
    return e;
}

/* The table slot holding e, or the empty slot where it would go. */
static inline size_t tr__memo_slot(const tr__memo *m, const uint64_t *e, size_t fixed) {
    size_t mask = m->table_cap - 1, n = tr__memo_entry_words(e, fixed);
    size_t j = tr__memo_hash(e, fixed) & mask;
    for (; m->table[j]; j = (j + 1) & mask) {
        const uint64_t *o = m->arena + m->table[j] - 1;
        if (o[0] == e[0] && !memcmp(o, e, n * sizeof *e)) {
            break;
        }
    }
    return j;
}

/* Inserts the candidate e (m->scratch, complete): 1 if new, 0 if seen, TR_ENOSPC when the
 * budget is exhausted. */
static inline int tr__memo_insert(tr__memo *m, const uint64_t *e, size_t fixed) {
    size_t n = tr__memo_entry_words(e, fixed);
    if (m->table_cap && m->table[tr__memo_slot(m, e, fixed)]) {
        return 0;
    }
    if (m->count >= m->max_entries) {
        return TR_ENOSPC;
    }
    if ((m->count + 1) * 2 > m->table_cap && tr__memo_grow_table(m, fixed) != 0) {
        return TR_ENOSPC;
    }
    if (m->used + n > m->arena_cap && tr__memo_grow_arena(m, n) != 0) {
        return TR_ENOSPC;
    }
    memcpy(m->arena + m->used, e, n * sizeof *e);
    m->table[tr__memo_slot(m, e, fixed)] = m->used + 1;
    m->used += n;
    m->count++;
    return 1;
}

/* ---- the event list ---- */

typedef struct tr__lin_node {
    uint32_t call;
    uint32_t pos; /* history index */
    uint32_t prev;
    uint32_t next;
    uint32_t match; /* invoke: its return node or TR_LIN_NIL */
    bool is_ret;
} tr__lin_node;

/* Fills nodes[0 .. 1 + events) from n calls laid out `stride` bytes apart, each beginning
 * with uint32_t inv (history index of the invoke) and uint32_t ret (of the ok completion, or
 * TR_LIN_NIL: no return event). 0, or TR_ENOMEM. */
int tr__lin_events_build(tr__lin_node *nodes, const void *calls, size_t n, size_t stride);

static inline void tr__lin_unlink(tr__lin_node *nodes, uint32_t i) {
    nodes[nodes[i].prev].next = nodes[i].next;
    if (nodes[i].next != TR_LIN_NIL) {
        nodes[nodes[i].next].prev = nodes[i].prev;
    }
}

static inline void tr__lin_relink(tr__lin_node *nodes, uint32_t i) {
    nodes[nodes[i].prev].next = i;
    if (nodes[i].next != TR_LIN_NIL) {
        nodes[nodes[i].next].prev = i;
    }
}

/* Takes invoke node inv (and its return) out of the list; tr__lin_unlift puts them back. */
static inline void tr__lin_lift(tr__lin_node *nodes, uint32_t inv) {
    tr__lin_unlink(nodes, inv);
    if (nodes[inv].match != TR_LIN_NIL) {
        tr__lin_unlink(nodes, nodes[inv].match);
    }
}

static inline void tr__lin_unlift(tr__lin_node *nodes, uint32_t inv) {
    if (nodes[inv].match != TR_LIN_NIL) {
        tr__lin_relink(nodes, nodes[inv].match);
    }
    tr__lin_relink(nodes, inv);
}

#endif
