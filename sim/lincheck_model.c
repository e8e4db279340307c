/* lincheck_model.c — the public linearizability checker of troupe.h (tr_lincheck_history)
 * and its internal form with options (tr__lincheck_model, sim/lincheck.h): the built-in
 * register models run the register checker of lincheck.c (its pruning and compact memo) on
 * integer histories; any other tr_lin_model (Knossos's mutex among them) runs the general
 * search below.
 *
 * The general search is lincheck.c's algorithm with the model's state as opaque bytes:
 * the history is split by key (linearizability is local), and each key is searched with
 * Wing & Gong's backtracking over the list of call and return events, memoising every
 * configuration (the set of linearized calls, the state bytes) so that none is explored
 * twice (Lowe). ok calls must linearize between invoke and completion; failed ones are
 * dropped; an info or never completed call may linearize at any point after its invoke, or
 * never (it has no return event), and the model sees ret = NULL for it. States compare as
 * bytes: a model must leave no uninitialised padding in them. A key whose memo passes the
 * budget (configurations, or bytes: TR_LIN_DEFAULT_MAX_MEMORY unless tr__lincheck_model is
 * given another) is unknown, never held, and the limit reached is reported.
 * A state may hold the address of an interned value (the built-in registers do, for values
 * other than integers): the memo then hashes addresses, which differ between runs, but only
 * equality decides whether a configuration is new, so verdicts and counts do not.
 * Ownership: borrows the history and the model for the call. Deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"
#include "sim/lincheck.h"
#include "sim/lincheck_memo.h"
#include "troupe.h"

#define NIL TR_LIN_NIL
#define STATE_MAX 64

/* ---- the built-in models (also usable step by step, and by the general search) ---- */

/* any: the value when it is of another kind (a view interned in the history: equal values
 * are one address, so states compare as bytes), else NULL and value holds it. */
typedef struct reg_state {
    int64_t value;
    int64_t set; /* 0 = nil */
    const tr_value *any;
} reg_state;

static void reg_init(void *state) {
    memset(state, 0, sizeof(reg_state));
}

static bool reg_step_any(void *state, const tr_history_op *inv, const tr_history_op *ret,
                         bool cas) {
    reg_state *s = state;
    if (!strcmp(inv->f, "read")) {
        if (!ret) {
            return true; /* an unknown read constrains nothing */
        }
        return ret->has_value ? (s->set && s->value == ret->value && s->any == ret->any) : !s->set;
    }
    if (!strcmp(inv->f, "write") && inv->has_value && !inv->pair) {
        *s = (reg_state){.value = inv->value, .set = 1, .any = inv->any};
        return true;
    }
    if (cas && !strcmp(inv->f, "cas") && inv->pair && s->set && !s->any && s->value == inv->value) {
        *s = (reg_state){.value = inv->value_to, .set = 1};
        return true;
    }
    return false;
}

static bool reg_step(void *state, const tr_history_op *inv, const tr_history_op *ret) {
    return reg_step_any(state, inv, ret, false);
}

static bool cas_reg_step(void *state, const tr_history_op *inv, const tr_history_op *ret) {
    return reg_step_any(state, inv, ret, true);
}

const tr_lin_model tr_lin_model_register = {
    .name = "register", .state_size = sizeof(reg_state), .init = reg_init, .step = reg_step};
const tr_lin_model tr_lin_model_cas_register = {.name = "cas-register",
                                                .state_size = sizeof(reg_state),
                                                .init = reg_init,
                                                .step = cas_reg_step};

/* Knossos's mutex: one bool per key. */
static void mutex_init(void *state) {
    *(uint8_t *)state = 0;
}

static bool mutex_step(void *state, const tr_history_op *inv, const tr_history_op *ret) {
    (void)ret;
    uint8_t *held = state;
    if (!strcmp(inv->f, "acquire") && !*held) {
        *held = 1;
        return true;
    }
    if (!strcmp(inv->f, "release") && *held) {
        *held = 0;
        return true;
    }
    return false;
}

const tr_lin_model tr__lin_model_mutex = {
    .name = "mutex", .state_size = 1, .init = mutex_init, .step = mutex_step};

/* ---- the general search ------------------------------------------------------------ */

typedef struct mcall {
    uint32_t inv; /* history index of the invoke */
    uint32_t ret; /* of the ok completion; NIL: no deadline (info or never completed) */
    int64_t key;
    tr_history_op inv_op;
    tr_history_op ret_op;
} mcall;
/* tr__lin_events_build reads each call's leading inv and ret */
_Static_assert(offsetof(mcall, inv) == 0 && offsetof(mcall, ret) == sizeof(uint32_t),
               "mcall must begin with inv, ret");

typedef tr__lin_node mnode;

/* A memo entry (sim/lincheck_memo.h) here is [lo_word << 32 | len, state words, len bitset
 * words]: the model's state bytes zero-padded to whole words. */

typedef struct msearch {
    const tr_lin_model *model;
    const void *initial; /* the state before the history, or NULL: model->init's */
    const mcall *calls;
    size_t n;
    mnode *nodes;
    uint32_t *stack_node;
    uint8_t *stack_state; /* depth * state_size bytes: the state before each linearized call */
    uint64_t *bits;
    size_t bit_words;
    tr__memo m;
    size_t state_words;
    uint32_t bad_pos;
    bool has_bad;
} msearch;

/* 1 if (bits, state) is new (and now memoised), 0 if seen, TR_ENOSPC past the budget. */
static int minsert(msearch *s, const void *state) {
    size_t fixed = 1 + s->state_words;
    uint64_t *e = tr__memo_encode(&s->m, s->bits, s->bit_words, fixed);
    memset(e + 1, 0, s->state_words * sizeof *e);
    memcpy(e + 1, state, s->model->state_size);
    return tr__memo_insert(&s->m, e, fixed);
}

static tr_lin_verdict msearch_run(msearch *s) {
    size_t left = 0, depth = 0, sz = s->model->state_size;
    for (size_t i = 0; i < s->n; i++) {
        left += s->calls[i].ret != NIL;
    }
    uint8_t state[STATE_MAX], next[STATE_MAX];
    memset(state, 0, sizeof state);
    if (s->initial) {
        memcpy(state, s->initial, sz);
    } else {
        s->model->init(state);
    }
    uint32_t entry = s->nodes[0].next;
    while (left > 0) {
        TR_ASSERT(entry != NIL); /* an ok call not linearized keeps its return in the list */
        const mnode *nd = &s->nodes[entry];
        if (nd->is_ret) {
            if (!s->has_bad || nd->pos > s->bad_pos) {
                s->has_bad = true;
                s->bad_pos = nd->pos;
            }
            if (depth == 0) {
                return TR_LIN_INVALID;
            }
            uint32_t back = s->stack_node[--depth];
            s->bits[s->nodes[back].call >> 6] ^= 1ULL << (s->nodes[back].call & 63);
            tr__lin_unlift(s->nodes, back);
            left += s->nodes[back].match != NIL;
            memcpy(state, s->stack_state + depth * sz, sz);
            entry = s->nodes[back].next;
            continue;
        }
        const mcall *c = &s->calls[nd->call];
        memcpy(next, state, sizeof next);
        if (s->model->step(next, &c->inv_op, c->ret == NIL ? NULL : &c->ret_op)) {
            s->bits[nd->call >> 6] ^= 1ULL << (nd->call & 63);
            int rc = minsert(s, next);
            if (rc < 0) {
                return TR_LIN_UNKNOWN;
            }
            if (rc == 1) {
                s->stack_node[depth] = entry;
                memcpy(s->stack_state + depth * sz, state, sz);
                depth++;
                memcpy(state, next, sz);
                left -= nd->match != NIL;
                tr__lin_lift(s->nodes, entry);
                entry = s->nodes[0].next;
                continue;
            }
            s->bits[nd->call >> 6] ^= 1ULL << (nd->call & 63);
        }
        entry = nd->next;
    }
    return TR_LIN_VALID;
}

typedef struct mkey_outcome {
    tr_lin_verdict verdict;
    tr_lin_limit limit;
    uint64_t configs;
    uint32_t bad_pos;
    bool has_bad;
} mkey_outcome;

static int mcheck_key(const tr_lin_model *model, const mcall *calls, size_t n,
                      const tr_lin_options *o, mkey_outcome *out) {
    bool is_reg = model == &tr_lin_model_register || model == &tr_lin_model_cas_register;
    reg_state initial = {.value = o->initial, .set = 1};
    msearch s = {.model = model,
                 .initial = is_reg && o->has_initial ? &initial : NULL,
                 .calls = calls,
                 .n = n};
    s.bit_words = (n + 63) / 64;
    s.m.max_entries = o->max_configs;
    s.m.max_bytes = o->max_memory_bytes;
    s.state_words = (model->state_size + 7) / 8;
    s.nodes = malloc((2 * n + 1) * sizeof *s.nodes);
    s.stack_node = malloc((n ? n : 1) * sizeof *s.stack_node);
    s.stack_state = malloc((n ? n : 1) * (model->state_size ? model->state_size : 1));
    s.bits = calloc(s.bit_words ? s.bit_words : 1, sizeof *s.bits);
    s.m.scratch = malloc((1 + s.state_words + s.bit_words) * sizeof *s.m.scratch);
    bool ok = s.nodes && s.stack_node && s.stack_state && s.bits && s.m.scratch;
    int rc = ok ? tr__lin_events_build(s.nodes, calls, n, sizeof *calls) : TR_ENOMEM;
    if (rc == 0) {
        out->verdict = msearch_run(&s);
        out->configs = s.m.count;
        out->limit = out->verdict != TR_LIN_UNKNOWN ? TR_LIN_LIMIT_NONE
                     : s.m.count >= s.m.max_entries ? TR_LIN_LIMIT_CONFIGS
                                                    : TR_LIN_LIMIT_MEMORY;
        out->has_bad = s.has_bad && out->verdict == TR_LIN_INVALID;
        out->bad_pos = s.bad_pos;
    }
    free(s.nodes);
    free(s.stack_node);
    free(s.stack_state);
    free(s.bits);
    tr__memo_free(&s.m);
    return rc;
}

static int cmp_mcall(const void *a, const void *b) {
    const mcall *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return (x->inv > y->inv) - (x->inv < y->inv);
}

/* Every invoke that did not fail, with its ok completion (if any), in calls[]. */
static size_t mcollect(const tr_history *h, bool nil_unknown, mcall *calls) {
    size_t n = 0;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        if (tr__history_op(h, i)->type != TR_OP_INVOKE) {
            continue;
        }
        size_t done = tr__history_partner(h, i);
        uint8_t type = done == SIZE_MAX ? TR_OP_INFO : tr__history_op(h, done)->type;
        if (type == TR_OP_FAIL) {
            continue;
        }
        mcall *c = &calls[n++];
        *c = (mcall){.inv = (uint32_t)i, .ret = type == TR_OP_OK ? (uint32_t)done : NIL};
        tr_history_get(h, i, &c->inv_op);
        c->key = c->inv_op.key;
        if (c->ret != NIL) {
            tr_history_get(h, done, &c->ret_op);
        }
        if (nil_unknown && c->ret != NIL && !strcmp(c->inv_op.f, "read") && !c->ret_op.has_value) {
            n--; /* Knossos's ok read of nil: its value is unknown, it constrains nothing */
        }
    }
    return n;
}

static void set_why(tr_lin_result *out, const tr_history *h) {
    if (out->verdict == TR_VERDICT_VIOLATED) {
        tr_history_op op;
        tr_history_get(h, (size_t)out->op_index, &op);
        snprintf(out->why, sizeof out->why,
                 "key %lld: no order of the operations places op %llu (%s by process %lld)",
                 (long long)out->key, (unsigned long long)out->op_index, op.f,
                 (long long)op.process);
    } else if (out->verdict == TR_VERDICT_UNKNOWN) {
        snprintf(out->why, sizeof out->why,
                 "key %lld: the search budget ran out after %llu configurations",
                 (long long)out->key, (unsigned long long)out->configs);
    } else {
        snprintf(out->why, sizeof out->why, "every key linearizable (%llu configurations)",
                 (unsigned long long)out->configs);
    }
}

/* Adds one key's outcome: of several bad keys the op earliest in the history is reported,
 * of several unknown ones the first (calls are sorted by key: the smallest). */
static void merge(const tr_history *h, int64_t key, const mkey_outcome *ko, tr__lin_result *out) {
    out->configs += ko->configs;
    out->keys++;
    if (ko->verdict == TR_LIN_UNKNOWN && out->keys_unknown++ == 0) {
        out->unknown_key = key;
        out->unknown_limit = ko->limit;
    }
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

static int general(const tr_history *h, const tr_lin_model *model, const tr_lin_options *o,
                   tr__lin_result *out) {
    size_t count = tr__history_count(h);
    mcall *calls = malloc((count ? count : 1) * sizeof *calls);
    if (!calls) {
        return TR_ENOMEM;
    }
    bool is_reg = model == &tr_lin_model_register || model == &tr_lin_model_cas_register;
    size_t n = mcollect(h, is_reg && o->nil_read_unknown, calls);
    qsort(calls, n, sizeof *calls, cmp_mcall);
    out->calls = n;
    int rc = 0;
    for (size_t start = 0, end; rc == 0 && start < n; start = end) {
        for (end = start + 1; end < n && calls[end].key == calls[start].key; end++) {
        }
        mkey_outcome ko = {0};
        rc = mcheck_key(model, calls + start, end - start, o, &ko);
        if (rc == 0) {
            merge(h, calls[start].key, &ko, out);
        }
    }
    free(calls);
    return rc;
}

/* ---- the built-in models on the register checker ------------------------------------ */

static int builtin(const tr_history *h, const tr_lin_model *model, const tr_lin_options *o,
                   tr__lin_result *out) {
    bool cas = model == &tr_lin_model_cas_register, any = false;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->f != TR_F_READ && op->f != TR_F_WRITE && !(cas && op->f == TR_F_CAS)) {
            return TR_EINVAL; /* an operation the model does not know */
        }
        any |= op->any != NULL;
    }
    if (any) {
        return general(h, model, o, out); /* the register checker holds integers only */
    }
    return tr__lincheck(h, o, out);
}

int tr__lincheck_model(const tr_history *h, const tr_lin_model *model, const tr_lin_options *opts,
                       tr__lin_result *out) {
    TR_ASSERT(h && model && out);
    tr_lin_options o = opts ? *opts : (tr_lin_options){0};
    o.max_configs = o.max_configs ? o.max_configs : TR_LIN_DEFAULT_MAX_CONFIGS;
    o.max_memory_bytes = o.max_memory_bytes ? o.max_memory_bytes : TR_LIN_DEFAULT_MAX_MEMORY;
    memset(out, 0, sizeof *out);
    out->verdict = TR_LIN_VALID;
    if (!model->init || !model->step || model->state_size > STATE_MAX) {
        out->verdict = TR_LIN_UNKNOWN;
        return TR_EINVAL;
    }
    bool is_builtin = model == &tr_lin_model_register || model == &tr_lin_model_cas_register;
    int rc = is_builtin ? builtin(h, model, &o, out) : general(h, model, &o, out);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        out->verdict = TR_LIN_UNKNOWN; /* never valid on an error */
    }
    TR_ASSERT(rc != 0 || out->verdict != TR_LIN_INVALID || out->has_bad_op);
    return rc;
}

int tr_lincheck_history(const tr_history *h, const tr_lin_model *model, uint64_t budget,
                        tr_lin_result *out) {
    if (!h || !model || !out || !model->init || !model->step || model->state_size > STATE_MAX) {
        return TR_EINVAL;
    }
    memset(out, 0, sizeof *out);
    tr_lin_options o = {.max_configs = budget};
    tr__lin_result r;
    int rc = tr__lincheck_model(h, model, &o, &r);
    if (rc != 0) {
        out->verdict = TR_VERDICT_UNKNOWN; /* never held on an error */
        snprintf(out->why, sizeof out->why, "%s", tr_strerror(rc));
        return rc;
    }
    out->configs = r.configs;
    out->keys = r.keys;
    out->keys_unknown = r.keys_unknown;
    out->calls = r.calls;
    out->verdict = r.verdict == TR_LIN_VALID     ? TR_VERDICT_HELD
                   : r.verdict == TR_LIN_INVALID ? TR_VERDICT_VIOLATED
                                                 : TR_VERDICT_UNKNOWN;
    out->key = r.verdict == TR_LIN_INVALID ? r.bad_op.key : r.unknown_key;
    out->op_index = r.verdict == TR_LIN_INVALID ? r.bad_op.index : 0;
    set_why(out, h);
    return 0;
}
