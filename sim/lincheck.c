/* lincheck.c — Wing & Gong search with Lowe's memoisation, per key (see lincheck.h). */
#include "sim/lincheck.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

#define NIL UINT32_MAX

/* One operation as the search sees it: its invoke and (for ok) its completion. */
typedef struct call {
    uint32_t inv; /* history index of the invoke */
    uint32_t ret; /* history index of the ok completion; NIL: no deadline (info/pending) */
    int64_t key;
    int64_t value; /* write: value; cas: from; read: value read (if has_value) */
    int64_t value_to;
    uint8_t f;
    bool has_value;
} call;

typedef struct reg {
    int64_t value;
    int64_t set; /* 0 = nil; a full word so a state hashes and compares as two words */
} reg;

/* Event list node; node 0 is the head sentinel. */
typedef struct node {
    uint32_t call;
    uint32_t pos; /* history index */
    uint32_t prev;
    uint32_t next;
    uint32_t match; /* invoke: its return node or NIL */
    bool is_ret;
} node;

typedef struct frame {
    uint32_t node;
    reg state;
} frame;

/* Memo of configurations. An entry is stored compactly and canonically: the bitset's
 * leading all-ones words and trailing zero words are dropped (linearized calls form a prefix
 * plus a few in flight), so an entry is [lo_word << 32 | len, value, set, len words] in an
 * arena of words, indexed by an open-addressing table of arena offsets + 1 (0 = empty). */
typedef struct memo {
    uint64_t *arena;
    size_t used;      /* words used in the arena */
    size_t arena_cap; /* words */
    size_t count;     /* entries */
    size_t *table;
    size_t table_cap;
    size_t max_entries;
    size_t max_bytes;
    uint64_t *scratch; /* the candidate entry being built: 3 + bitset words */
} memo;

typedef struct search {
    const call *calls;
    size_t n;
    node *nodes; /* 1 + events */
    frame *stack;
    uint64_t *bits;
    size_t bit_words;
    memo m;
    uint32_t bad_pos; /* furthest blocking return, history index */
    bool has_bad;
} search;

const char *tr__lincheck_verdict_name(tr_lin_verdict v) {
    switch (v) {
    case TR_LIN_VALID: return "linearizable";
    case TR_LIN_INVALID: return "not linearizable";
    default: return "unknown";
    }
}

/* ---- the register model ------------------------------------------------------------- */

static bool step(const call *c, reg s, reg *out) {
    *out = s;
    switch (c->f) {
    case TR_F_READ: return c->has_value ? (s.set && s.value == c->value) : !s.set;
    case TR_F_WRITE: *out = (reg){.value = c->value, .set = 1}; return true;
    default: /* cas: applied only if the register held `from` */
        *out = (reg){.value = c->value_to, .set = 1};
        return s.set && s.value == c->value;
    }
}

/* ---- memo --------------------------------------------------------------------------- */

static size_t memo_bytes(size_t arena_words, size_t table_cap) {
    return arena_words * sizeof(uint64_t) + table_cap * sizeof(size_t);
}

static size_t entry_words(const uint64_t *e) {
    return 3 + (e[0] & 0xffffffffu);
}

static uint64_t memo_hash(const uint64_t *e) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < entry_words(e); i++) {
        h = tr__history_mix64(h ^ e[i]) + i;
    }
    return h;
}

static int memo_grow_table(memo *m) {
    size_t cap = m->table_cap ? m->table_cap * 2 : 1024;
    if (memo_bytes(m->arena_cap, cap) > m->max_bytes) {
        return TR_ENOSPC;
    }
    size_t *t = calloc(cap, sizeof *t);
    if (!t) {
        return TR_ENOSPC;
    }
    for (size_t off = 0; off < m->used; off += entry_words(m->arena + off)) {
        size_t j = memo_hash(m->arena + off) & (cap - 1);
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

static int memo_grow_arena(memo *m, size_t need) {
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

/* Builds the canonical entry for (bits, state) in m->scratch. */
static const uint64_t *memo_encode(memo *m, const uint64_t *bits, size_t words, reg s) {
    size_t lo = 0, hi = words;
    while (lo < words && bits[lo] == UINT64_MAX) {
        lo++;
    }
    while (hi > lo && bits[hi - 1] == 0) {
        hi--;
    }
    uint64_t *e = m->scratch;
    e[0] = (uint64_t)lo << 32 | (hi - lo);
    e[1] = (uint64_t)s.value;
    e[2] = (uint64_t)s.set;
    memcpy(e + 3, bits + lo, (hi - lo) * sizeof *e);
    return e;
}

/* The table slot holding e, or the empty slot where it would go. */
static size_t memo_slot(const memo *m, const uint64_t *e) {
    size_t mask = m->table_cap - 1, n = entry_words(e);
    size_t j = memo_hash(e) & mask;
    for (; m->table[j]; j = (j + 1) & mask) {
        const uint64_t *o = m->arena + m->table[j] - 1;
        if (o[0] == e[0] && !memcmp(o, e, n * sizeof *e)) {
            break;
        }
    }
    return j;
}

/* Inserts (bits, state): 1 if new, 0 if seen, TR_ENOSPC when the budget is exhausted. */
static int memo_insert(memo *m, const uint64_t *bits, size_t words, reg s) {
    const uint64_t *e = memo_encode(m, bits, words, s);
    size_t n = entry_words(e);
    if (m->table_cap && m->table[memo_slot(m, e)]) {
        return 0;
    }
    if (m->count >= m->max_entries) {
        return TR_ENOSPC;
    }
    if ((m->count + 1) * 2 > m->table_cap && memo_grow_table(m) != 0) {
        return TR_ENOSPC;
    }
    if (m->used + n > m->arena_cap && memo_grow_arena(m, n) != 0) {
        return TR_ENOSPC;
    }
    memcpy(m->arena + m->used, e, n * sizeof *e);
    m->table[memo_slot(m, e)] = m->used + 1;
    m->used += n;
    m->count++;
    return 1;
}

/* ---- the event list ----------------------------------------------------------------- */

static int cmp_u32_pair(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Builds the doubly linked event list: node 0 head, then events in history order. */
static int build_events(search *s) {
    size_t ev = 0;
    uint32_t(*order)[2] = malloc((2 * s->n + 1) * sizeof *order);
    uint32_t *inv_node = malloc((s->n + 1) * sizeof *inv_node); /* call -> its invoke node */
    if (!order || !inv_node) {
        free(order);
        free(inv_node);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++) {
        order[ev][0] = s->calls[i].inv, order[ev++][1] = (uint32_t)i << 1;
        if (s->calls[i].ret != NIL) {
            order[ev][0] = s->calls[i].ret, order[ev++][1] = ((uint32_t)i << 1) | 1;
        }
    }
    qsort(order, ev, sizeof *order, cmp_u32_pair);
    for (size_t k = 0; k < ev; k++) {
        node *nd = &s->nodes[k + 1];
        *nd = (node){.call = order[k][1] >> 1,
                     .pos = order[k][0],
                     .prev = (uint32_t)k,
                     .next = k + 1 < ev ? (uint32_t)(k + 2) : NIL,
                     .match = NIL,
                     .is_ret = order[k][1] & 1};
        if (!nd->is_ret) {
            inv_node[nd->call] = (uint32_t)(k + 1);
        } else {
            s->nodes[inv_node[nd->call]].match = (uint32_t)(k + 1);
        }
    }
    s->nodes[0] = (node){.call = NIL, .prev = NIL, .next = ev ? 1 : NIL, .match = NIL};
    free(order);
    free(inv_node);
    return 0;
}

static void unlink_node(node *nodes, uint32_t i) {
    nodes[nodes[i].prev].next = nodes[i].next;
    if (nodes[i].next != NIL) {
        nodes[nodes[i].next].prev = nodes[i].prev;
    }
}

static void relink_node(node *nodes, uint32_t i) {
    nodes[nodes[i].prev].next = i;
    if (nodes[i].next != NIL) {
        nodes[nodes[i].next].prev = i;
    }
}

static void lift(node *nodes, uint32_t inv) {
    unlink_node(nodes, inv);
    if (nodes[inv].match != NIL) {
        unlink_node(nodes, nodes[inv].match);
    }
}

static void unlift(node *nodes, uint32_t inv) {
    if (nodes[inv].match != NIL) {
        relink_node(nodes, nodes[inv].match);
    }
    relink_node(nodes, inv);
}

/* ---- the search --------------------------------------------------------------------- */

static void bit_flip(uint64_t *bits, uint32_t i) {
    bits[i >> 6] ^= 1ULL << (i & 63);
}

/* Backtracks at a return event whose call is not linearized. Returns false when the stack
 * is empty (nothing left to try: not linearizable). */
static bool backtrack(search *s, uint32_t *entry, reg *state, size_t *depth, size_t *left) {
    uint32_t pos = s->nodes[*entry].pos;
    if (!s->has_bad || pos > s->bad_pos) {
        s->has_bad = true;
        s->bad_pos = pos;
    }
    if (*depth == 0) {
        return false;
    }
    frame f = s->stack[--*depth];
    const node *nd = &s->nodes[f.node];
    bit_flip(s->bits, nd->call);
    unlift(s->nodes, f.node);
    *left += nd->match != NIL;
    *state = f.state;
    *entry = nd->next;
    return true;
}

/* Returns TR_LIN_VALID / TR_LIN_INVALID / TR_LIN_UNKNOWN for one key's calls. */
static tr_lin_verdict run(search *s) {
    size_t left = 0, depth = 0;
    for (size_t i = 0; i < s->n; i++) {
        left += s->calls[i].ret != NIL;
    }
    reg state = {0};
    uint32_t entry = s->nodes[0].next;
    while (left > 0) {
        TR_DEBUG_ASSERT(entry != NIL); /* an unlinearized ok call keeps a return in the list */
        const node *nd = &s->nodes[entry];
        if (nd->is_ret) {
            if (!backtrack(s, &entry, &state, &depth, &left)) {
                return TR_LIN_INVALID;
            }
            continue;
        }
        reg next;
        if (step(&s->calls[nd->call], state, &next)) {
            bit_flip(s->bits, nd->call);
            int rc = memo_insert(&s->m, s->bits, s->bit_words, next);
            if (rc < 0) {
                return TR_LIN_UNKNOWN;
            }
            if (rc == 1) {
                s->stack[depth++] = (frame){.node = entry, .state = state};
                state = next;
                left -= nd->match != NIL;
                lift(s->nodes, entry);
                entry = s->nodes[0].next;
                continue;
            }
            bit_flip(s->bits, nd->call);
        }
        entry = nd->next;
    }
    return TR_LIN_VALID;
}

/* ---- per-key driver ----------------------------------------------------------------- */

typedef struct key_outcome {
    tr_lin_verdict verdict;
    uint64_t configs;
    uint32_t bad_pos;
    bool has_bad;
} key_outcome;

static int check_key(const call *calls, size_t n, const tr_lin_options *o, key_outcome *out) {
    search s = {.calls = calls, .n = n};
    s.bit_words = (n + 63) / 64;
    s.m.max_entries = o->max_configs;
    s.m.max_bytes = o->max_memory_bytes;
    s.nodes = malloc((2 * n + 1) * sizeof *s.nodes);
    s.stack = malloc((n ? n : 1) * sizeof *s.stack);
    s.bits = calloc(s.bit_words ? s.bit_words : 1, sizeof *s.bits);
    s.m.scratch = malloc((3 + s.bit_words) * sizeof *s.m.scratch);
    int rc = s.nodes && s.stack && s.bits && s.m.scratch ? build_events(&s) : TR_ENOMEM;
    if (rc == 0) {
        out->verdict = run(&s);
        out->configs = s.m.count;
        out->has_bad = s.has_bad && out->verdict == TR_LIN_INVALID;
        out->bad_pos = s.bad_pos;
    }
    free(s.nodes);
    free(s.stack);
    free(s.bits);
    free(s.m.arena);
    free(s.m.table);
    free(s.m.scratch);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Orders calls by (key, invoke index) so each key's calls are contiguous. */
static int cmp_call(const void *a, const void *b) {
    const call *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return (x->inv > y->inv) - (x->inv < y->inv);
}

/* Turns one invoke (and its completion, if any) into a call; false if it drops out. */
static bool make_call(const tr_history *h, uint32_t inv, uint32_t done, call *c) {
    const tr_op *op = tr__history_op(h, inv);
    const tr_op *end = done != NIL ? tr__history_op(h, done) : NULL;
    uint8_t type = end ? end->type : TR_OP_INFO;
    if (type == TR_OP_FAIL || (type == TR_OP_INFO && op->f == TR_F_READ)) {
        return false;
    }
    *c = (call){.inv = inv,
                .ret = type == TR_OP_OK ? done : NIL,
                .key = op->key,
                .value = op->value,
                .value_to = op->value_to,
                .f = op->f,
                .has_value = op->has_value};
    if (op->f == TR_F_READ) {
        c->has_value = end->has_value;
        c->value = end->value;
    }
    return true;
}

/* Turns every invoke (with its completion, if any) into calls[]; returns how many. */
static size_t collect_calls(const tr_history *h, call *calls) {
    size_t n = 0;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        if (tr__history_op(h, i)->type != TR_OP_INVOKE) {
            continue;
        }
        size_t done = tr__history_partner(h, i);
        n += make_call(h, (uint32_t)i, done == SIZE_MAX ? NIL : (uint32_t)done, &calls[n]);
    }
    return n;
}

/* Drops info (or pending) writes and cas ops whose written value nobody observes: no read
 * returned it and no cas expected it. In any linearization the op after such a write is a
 * write (a read or cas would observe its value), so leaving it out changes nothing; this
 * keeps timed-out writes from multiplying the configurations. In place; returns the count. */
static size_t prune_unobserved(call *c, size_t n) {
    int64_t *seen = malloc((n ? n : 1) * sizeof *seen);
    if (!seen) {
        return n; /* pruning is an optimisation: skip it */
    }
    size_t ns = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if ((c[i].f == TR_F_READ && c[i].has_value) || c[i].f == TR_F_CAS) {
            seen[ns++] = c[i].value;
        }
    }
    qsort(seen, ns, sizeof *seen, cmp_i64);
    for (size_t i = 0; i < n; i++) {
        int64_t written = c[i].f == TR_F_CAS ? c[i].value_to : c[i].value;
        bool unobserved = !bsearch(&written, seen, ns, sizeof *seen, cmp_i64);
        if (!(c[i].ret == NIL && c[i].f != TR_F_READ && unobserved)) {
            c[k++] = c[i];
        }
    }
    free(seen);
    return k;
}

static void merge_key(const tr_history *h, const call *kc, const key_outcome *ko,
                      tr__lin_result *out) {
    out->keys++;
    out->configs += ko->configs;
    if (ko->verdict == TR_LIN_UNKNOWN && out->keys_unknown++ == 0) {
        out->unknown_key = kc->key;
    }
    /* of several bad keys, report the op earliest in the history */
    if (ko->verdict == TR_LIN_INVALID && ko->has_bad &&
        (!out->has_bad_op || ko->bad_pos < out->bad_op.index)) {
        out->has_bad_op = true;
        out->bad_op = *tr__history_op(h, ko->bad_pos);
    }
    if (ko->verdict == TR_LIN_INVALID) {
        out->verdict = TR_LIN_INVALID;
    } else if (ko->verdict == TR_LIN_UNKNOWN && out->verdict == TR_LIN_VALID) {
        out->verdict = TR_LIN_UNKNOWN;
    }
}

int tr__lincheck(const tr_history *h, const tr_lin_options *opts, tr__lin_result *out) {
    TR_ASSERT(h && out);
    tr_lin_options o = opts ? *opts : (tr_lin_options){0};
    o.max_configs = o.max_configs ? o.max_configs : TR_LIN_DEFAULT_MAX_CONFIGS;
    o.max_configs = o.max_configs < UINT32_MAX - 1 ? o.max_configs : UINT32_MAX - 1;
    o.max_memory_bytes = o.max_memory_bytes ? o.max_memory_bytes : TR_LIN_DEFAULT_MAX_MEMORY;
    memset(out, 0, sizeof *out);
    out->verdict = TR_LIN_VALID;
    size_t count = tr__history_count(h);
    for (size_t i = 0; i < count; i++) {
        if (tr__history_op(h, i)->f > TR_F_CAS) {
            out->verdict = TR_LIN_UNKNOWN;
            return TR_EINVAL; /* not a register history: the register model does not apply */
        }
    }
    call *calls = malloc((count ? count : 1) * sizeof *calls);
    int rc = calls ? 0 : TR_ENOMEM;
    size_t n = rc ? 0 : collect_calls(h, calls);
    qsort(calls, n, sizeof *calls, cmp_call);
    out->calls = n;
    for (size_t start = 0, end; rc == 0 && start < n; start = end) {
        for (end = start + 1; end < n && calls[end].key == calls[start].key; end++) {
        }
        key_outcome ko = {0};
        size_t kept = prune_unobserved(calls + start, end - start);
        out->calls_pruned += end - start - kept;
        rc = check_key(calls + start, kept, &o, &ko);
        if (rc == 0) {
            merge_key(h, calls + start, &ko, out);
        }
    }
    free(calls);
    TR_ASSERT(rc != 0 || out->verdict != TR_LIN_INVALID || out->has_bad_op);
    return rc;
}
