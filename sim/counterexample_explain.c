/* counterexample_explain.c — why no order of a counterexample's operations works
 * (sim/counterexample.h).
 *
 * A depth-first search over every order the real-time windows allow: an operation may go
 * next when no operation still to place was completed (ok) before it was invoked; an ok
 * operation must be placed, an info or never completed one may be placed or not. The model
 * steps each placement. A configuration (the set placed, the model's state bytes) is visited
 * once (memoised, as the checker does), so each dead end is reported once, with the first
 * order that reached it. A dead end is a configuration with an ok operation unplaced where
 * every operation allowed next is refused by the model (one always is allowed: the unplaced
 * operation invoked first). Bounded: TR_CE_OPS_MAX operations, TR_CE_EXPLAIN_STEPS steps,
 * MEMO_CAP configurations; past either, explained is false.
 */
#include <stdlib.h>
#include <string.h>

#include "sim/counterexample.h"
#include "sim/history.h"

#define STATE_MAX 64
#define MEMO_CAP (1u << 16) /* configurations remembered; a power of two */

typedef struct memo_entry {
    uint64_t placed; /* 0 with used false: empty */
    bool used;
    uint8_t state[STATE_MAX];
} memo_entry;

typedef struct explainer {
    const tr_lin_model *model;
    tr__counterexample *out;
    uint32_t n;
    tr_history_op inv[TR_CE_OPS_MAX], ret[TR_CE_OPS_MAX];
    bool has_ret[TR_CE_OPS_MAX];
    uint64_t before[TR_CE_OPS_MAX]; /* ok ops completed before op i's invoke */
    uint64_t ok_mask;
    uint8_t order[TR_CE_OPS_MAX];
    uint64_t steps;
    bool gave_up, linearizable;
    memo_entry *memo;
    uint32_t memo_used;
} explainer;

static uint64_t config_hash(uint64_t placed, const uint8_t *state, size_t size) {
    uint64_t x = placed * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < size; i++) {
        x = (x ^ state[i]) * 0x100000001b3ull;
    }
    return x ^ (x >> 31);
}

/* True the first time (placed, state) is seen; false when seen before or the memo is full. */
static bool memo_insert(explainer *e, uint64_t placed, const uint8_t *state) {
    size_t size = e->model->state_size;
    uint32_t i = (uint32_t)config_hash(placed, state, size) & (MEMO_CAP - 1);
    for (;; i = (i + 1) & (MEMO_CAP - 1)) {
        memo_entry *m = &e->memo[i];
        if (!m->used) {
            if (e->memo_used + 1 >= MEMO_CAP) {
                e->gave_up = true;
                return false;
            }
            m->used = true;
            m->placed = placed;
            memcpy(m->state, state, size);
            e->memo_used++;
            return true;
        }
        if (m->placed == placed && memcmp(m->state, state, size) == 0) {
            return false;
        }
    }
}

static void dead_end(explainer *e, uint32_t depth, uint64_t refused) {
    tr__counterexample *out = e->out;
    if (out->dead_end_stored < TR_CE_DEAD_ENDS_MAX) {
        tr__ce_dead_end *d = &out->dead_ends[out->dead_end_stored++];
        memcpy(d->order, e->order, depth);
        d->order_len = depth;
        d->refused = refused;
    }
    out->dead_end_count++;
}

static void search(explainer *e, uint64_t placed, const uint8_t *state, uint32_t depth) {
    if ((placed & e->ok_mask) == e->ok_mask) {
        e->linearizable = true; /* cannot happen for a violated set: reported as not explained */
        return;
    }
    if (e->gave_up || !memo_insert(e, placed, state)) {
        return;
    }
    bool moved = false;
    uint64_t refused = 0;
    for (uint32_t j = 0; j < e->n && !e->gave_up; j++) {
        if ((placed >> j & 1) || (e->before[j] & ~placed) != 0) {
            continue; /* placed, or an earlier-completed op must go first */
        }
        uint8_t next[STATE_MAX];
        memcpy(next, state, e->model->state_size);
        if (++e->steps > TR_CE_EXPLAIN_STEPS) {
            e->gave_up = true;
            return;
        }
        if (!e->model->step(next, &e->inv[j], e->has_ret[j] ? &e->ret[j] : NULL)) {
            refused |= 1ull << j;
            continue;
        }
        moved = true;
        e->order[depth] = (uint8_t)j;
        search(e, placed | 1ull << j, next, depth + 1);
    }
    if (!moved && !e->gave_up) {
        dead_end(e, depth, refused);
    }
}

/* The ops' model inputs and their real-time order. */
static int load_ops(explainer *e, const tr_history *h) {
    for (uint32_t i = 0; i < e->n; i++) {
        const tr__ce_op *o = &e->out->ops[i];
        if (tr_history_get(h, o->invoke, &e->inv[i]) != 0) {
            return TR_EINVAL;
        }
        e->has_ret[i] = false;
        if (o->complete != TR_CE_NONE) {
            if (tr_history_get(h, o->complete, &e->ret[i]) != 0) {
                return TR_EINVAL;
            }
            e->has_ret[i] = e->ret[i].type == TR_HISTORY_OK;
        }
        e->ok_mask |= (uint64_t)e->has_ret[i] << i;
    }
    for (uint32_t i = 0; i < e->n; i++) {
        for (uint32_t k = 0; k < e->n; k++) {
            if (k != i && e->has_ret[k] && e->out->ops[k].complete < e->out->ops[i].invoke) {
                e->before[i] |= 1ull << k;
            }
        }
    }
    return 0;
}

int tr__counterexample_explain(const tr_history *h, const tr_lin_model *model,
                               tr__counterexample *out) {
    if (model->state_size > STATE_MAX || out->op_count > TR_CE_OPS_MAX) {
        return 0; /* not explained */
    }
    explainer *e = calloc(1, sizeof *e);
    memo_entry *memo = e ? calloc(MEMO_CAP, sizeof *memo) : NULL;
    if (memo == NULL) {
        free(e);
        return TR_ENOMEM;
    }
    e->model = model;
    e->out = out;
    e->n = out->op_count;
    e->memo = memo;
    int rc = load_ops(e, h);
    if (rc == 0) {
        uint8_t state[STATE_MAX] = {0};
        model->init(state);
        search(e, 0, state, 0);
        out->explained = !e->gave_up && !e->linearizable && out->dead_end_count > 0;
    }
    free(memo);
    free(e);
    return rc;
}
