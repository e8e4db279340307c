/* lincheck.c — Wing & Gong search with Lowe's memoisation, per key (see lincheck.h). */
#include "sim/lincheck.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/lincheck_memo.h"
#include "troupe.h"

#define NIL TR_LIN_NIL

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
/* tr__lin_events_build reads each call's leading inv and ret */
_Static_assert(offsetof(call, inv) == 0 && offsetof(call, ret) == sizeof(uint32_t),
               "call must begin with inv, ret");

typedef struct reg {
    int64_t value;
    int64_t set; /* 0 = nil; a full word so a state hashes and compares as two words */
} reg;

typedef tr__lin_node node;

typedef struct frame {
    uint32_t node;
    reg state;
} frame;

/* A memo entry (sim/lincheck_memo.h) here is [lo_word << 32 | len, value, set, len words]. */
#define ENTRY_FIXED 3

typedef struct search {
    reg initial;
    const call *calls;
    size_t n;
    node *nodes; /* 1 + events */
    frame *stack;
    uint64_t *bits;
    size_t bit_words;
    tr__memo m;
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

/* Inserts (bits, state): 1 if new, 0 if seen, TR_ENOSPC when the budget is exhausted. */
static int memo_insert(tr__memo *m, const uint64_t *bits, size_t words, reg s) {
    uint64_t *e = tr__memo_encode(m, bits, words, ENTRY_FIXED);
    e[1] = (uint64_t)s.value;
    e[2] = (uint64_t)s.set;
    return tr__memo_insert(m, e, ENTRY_FIXED);
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
    tr__lin_unlift(s->nodes, f.node);
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
    reg state = s->initial;
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
                tr__lin_lift(s->nodes, entry);
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
    tr_lin_limit limit;
    uint64_t configs;
    uint32_t bad_pos;
    bool has_bad;
} key_outcome;

static int check_key(const call *calls, size_t n, const tr_lin_options *o, key_outcome *out) {
    search s = {.calls = calls, .n = n, .initial = {.value = o->initial, .set = o->has_initial}};
    s.bit_words = (n + 63) / 64;
    s.m.max_entries = o->max_configs;
    s.m.max_bytes = o->max_memory_bytes;
    s.nodes = malloc((2 * n + 1) * sizeof *s.nodes);
    s.stack = malloc((n ? n : 1) * sizeof *s.stack);
    s.bits = calloc(s.bit_words ? s.bit_words : 1, sizeof *s.bits);
    s.m.scratch = malloc((ENTRY_FIXED + s.bit_words) * sizeof *s.m.scratch);
    int rc = s.nodes && s.stack && s.bits && s.m.scratch
                 ? tr__lin_events_build(s.nodes, calls, n, sizeof *calls)
                 : TR_ENOMEM;
    if (rc == 0) {
        out->verdict = run(&s);
        out->configs = s.m.count;
        out->limit = out->verdict != TR_LIN_UNKNOWN ? TR_LIN_LIMIT_NONE
                     : s.m.count >= s.m.max_entries ? TR_LIN_LIMIT_CONFIGS
                                                    : TR_LIN_LIMIT_MEMORY;
        out->has_bad = s.has_bad && out->verdict == TR_LIN_INVALID;
        out->bad_pos = s.bad_pos;
    }
    free(s.nodes);
    free(s.stack);
    free(s.bits);
    tr__memo_free(&s.m);
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
static bool make_call(const tr_history *h, uint32_t inv, uint32_t done, bool nil_unknown, call *c) {
    const tr_op *op = tr__history_op(h, inv);
    const tr_op *end = done != NIL ? tr__history_op(h, done) : NULL;
    uint8_t type = end ? end->type : TR_OP_INFO;
    if (type == TR_OP_FAIL || (type == TR_OP_INFO && op->f == TR_F_READ)) {
        return false;
    }
    if (nil_unknown && op->f == TR_F_READ && !end->has_value) {
        return false; /* an ok read of nil whose value is unknown constrains nothing */
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
static size_t collect_calls(const tr_history *h, bool nil_unknown, call *calls) {
    size_t n = 0;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        if (tr__history_op(h, i)->type != TR_OP_INVOKE) {
            continue;
        }
        size_t done = tr__history_partner(h, i);
        n += make_call(h, (uint32_t)i, done == SIZE_MAX ? NIL : (uint32_t)done, nil_unknown,
                       &calls[n]);
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
        out->unknown_limit = ko->limit;
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
        if (tr__history_op(h, i)->f > TR_F_CAS || tr__history_op(h, i)->any) {
            out->verdict = TR_LIN_UNKNOWN;
            return TR_EINVAL; /* not an integer register history: the model does not apply */
        }
    }
    call *calls = malloc((count ? count : 1) * sizeof *calls);
    int rc = calls ? 0 : TR_ENOMEM;
    size_t n = rc ? 0 : collect_calls(h, o.nil_read_unknown, calls);
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
