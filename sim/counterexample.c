/* counterexample.c — the reduction of a violated key to a 1-minimal non-linearizable
 * sub-history (sim/counterexample.h); the explanation is counterexample_explain.c. */
#include "sim/counterexample.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sub-history of ops[0..n): their invokes and completions in history order. */
static int build_sub(const tr_history *h, const tr__ce_op *ops, uint32_t n, tr_history **out) {
    uint64_t *idx = malloc((2 * (size_t)n + 1) * sizeof *idx);
    if (idx == NULL) {
        return TR_ENOMEM;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        idx[k++] = ops[i].invoke;
        if (ops[i].complete != TR_CE_NONE) {
            idx[k++] = ops[i].complete;
        }
    }
    qsort(idx, k, sizeof *idx, cmp_u64);
    tr_history *sub = tr_history_create(k ? k : 1);
    int rc = sub ? 0 : TR_ENOMEM;
    for (size_t j = 0; j < k && rc == 0; j++) {
        tr_history_op op;
        rc = tr_history_get(h, idx[j], &op);
        rc = rc ? rc : tr_history_append(sub, &op);
    }
    free(idx);
    if (rc != 0) {
        tr_history_destroy(sub);
        return rc;
    }
    *out = sub;
    return 0;
}

int tr__counterexample_violated(const tr_history *h, const tr_lin_model *model,
                                const tr__ce_op *ops, uint32_t n, uint64_t budget) {
    tr_history *sub;
    int rc = build_sub(h, ops, n, &sub);
    if (rc != 0) {
        return rc;
    }
    tr_lin_result lr;
    rc = tr_lincheck_history(sub, model, budget, &lr);
    TR_ASSERT(rc != 0 || lr.keys <= 1); /* one key's operations */
    tr_history_destroy(sub);
    return rc != 0 ? rc : lr.verdict == TR_VERDICT_VIOLATED;
}

/* A value an op brings in (a write's value, a cas's new one), or one it observed (a read's
 * value, an ok cas's expected one), as comparable words: interned values compare by address. */
typedef struct value_key {
    uint64_t a, b;
    uint32_t owner; /* the op that brings it in (not compared) */
} value_key;

static value_key key_of(const tr_op *op, bool second) {
    if (op->any != NULL) {
        return (value_key){(uint64_t)(uintptr_t)op->any, 1, 0};
    }
    return (value_key){(uint64_t)(second ? op->value_to : op->value), 0, 0};
}

static int cmp_value(const void *x, const void *y) {
    const value_key *a = x, *b = y;
    return a->a != b->a ? (a->a < b->a ? -1 : 1) : (a->b > b->b) - (a->b < b->b);
}

bool tr__counterexample_values_explained(const tr_history *h, const tr__ce_op *ops, uint32_t n) {
    value_key *made = malloc(((size_t)n + 1) * sizeof *made);
    if (made == NULL) {
        return false;
    }
    size_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const tr_op *inv = tr__history_op(h, ops[i].invoke);
        if (inv->has_value) {
            made[m] = key_of(inv, inv->pair);
            made[m++].owner = i;
        }
    }
    qsort(made, m, sizeof *made, cmp_value);
    bool ok = true;
    for (uint32_t i = 0; i < n && ok; i++) {
        const tr_op *inv = tr__history_op(h, ops[i].invoke);
        const tr_op *done =
            ops[i].complete != TR_CE_NONE ? tr__history_op(h, ops[i].complete) : NULL;
        if (done == NULL || done->type != TR_OP_OK) {
            continue; /* observed nothing */
        }
        value_key k;
        if (inv->has_value && inv->pair && inv->any == NULL) {
            k = key_of(inv, false); /* an ok cas saw its expected value */
        } else if (!inv->has_value && done->has_value) {
            k = key_of(done, false); /* a read's value */
        } else {
            continue; /* given its value, or returned none */
        }
        const value_key *hit = bsearch(&k, made, m, sizeof *made, cmp_value);
        while (hit != NULL && hit > made && cmp_value(hit - 1, &k) == 0) {
            hit--; /* the first of the equal ones */
        }
        ok = false; /* brought in by another op (a cas 2->2 does not explain its own 2) */
        for (; hit != NULL && hit < made + m && cmp_value(hit, &k) == 0 && !ok; hit++) {
            ok = hit->owner != i;
        }
    }
    free(made);
    return ok;
}

typedef struct reducer {
    const tr_history *h;
    const tr_lin_model *model;
    uint64_t budget;
    uint32_t checks;
    bool out_of_checks;
    bool values_only; /* no order works even without real time: keep violated alone */
} reducer;

/* The oracle, counted: violated, and (unless values_only) every value read explained by a
 * kept operation; 0 when the check allowance is spent. */
static int check(reducer *r, const tr__ce_op *ops, uint32_t n) {
    if (r->checks >= TR_CE_CHECKS_MAX) {
        r->out_of_checks = true;
        return 0;
    }
    if (!r->values_only && !tr__counterexample_values_explained(r->h, ops, n)) {
        return 0;
    }
    r->checks++;
    return tr__counterexample_violated(r->h, r->model, ops, n, r->budget);
}

/* ddmin over ops[0..*n) (violated on entry), complements only: remove one of `parts` chunks
 * while the rest stays violated; refine the chunks when none can go; done when every single
 * operation was tried (then the set is 1-minimal). */
static int ddmin(reducer *r, tr__ce_op *ops, uint32_t *n_io) {
    uint32_t n = *n_io, parts = 2;
    tr__ce_op *trial = malloc((size_t)n * sizeof *trial);
    if (trial == NULL) {
        return TR_ENOMEM;
    }
    int rc = 0;
    while (n >= 2 && rc >= 0 && !r->out_of_checks) {
        bool reduced = false;
        for (uint32_t k = 0; k < parts && !reduced; k++) {
            uint32_t lo = (uint32_t)((uint64_t)n * k / parts);
            uint32_t hi = (uint32_t)((uint64_t)n * (k + 1) / parts);
            uint32_t m = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (i < lo || i >= hi) {
                    trial[m++] = ops[i];
                }
            }
            if (m == n || m == 0 || (rc = check(r, trial, m)) <= 0) {
                continue;
            }
            memcpy(ops, trial, (size_t)m * sizeof *ops);
            n = m;
            parts = parts > 2 ? parts - 1 : 2;
            reduced = true;
        }
        if (!reduced) {
            if (parts >= n) {
                break;
            }
            parts = parts * 2 < n ? parts * 2 : n;
        }
    }
    free(trial);
    *n_io = n;
    return rc < 0 ? rc : 0;
}

/* The key's operations that the checker keeps (failed ones left out), in invoke order. */
static int key_ops(const tr_history *h, int64_t key, tr__ce_op **out, uint32_t *n) {
    size_t count = tr__history_count(h), cap = 64, len = 0;
    tr__ce_op *ops = malloc(cap * sizeof *ops);
    for (size_t i = 0; i < count && ops != NULL; i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type != TR_OP_INVOKE || op->key != key) {
            continue;
        }
        size_t p = tr__history_partner(h, i);
        if (p != SIZE_MAX && tr__history_op(h, p)->type == TR_OP_FAIL) {
            continue;
        }
        if (len == cap) {
            tr__ce_op *grown = realloc(ops, 2 * cap * sizeof *ops);
            if (grown == NULL) {
                free(ops);
                return TR_ENOMEM;
            }
            ops = grown;
            cap *= 2;
        }
        ops[len++] = (tr__ce_op){.invoke = i, .complete = p == SIZE_MAX ? TR_CE_NONE : p};
    }
    if (ops == NULL || len > UINT32_MAX) {
        free(ops);
        return TR_ENOMEM;
    }
    *out = ops;
    *n = (uint32_t)len;
    return 0;
}

/* Leaves out the operations invoked after the completion the search got stuck on, when the
 * rest is still violated: none of them could have been linearized before it. */
static int cut_after(reducer *r, tr__ce_op *ops, uint32_t *n, uint64_t stuck_at) {
    uint32_t m = 0;
    while (m < *n && ops[m].invoke <= stuck_at) {
        m++;
    }
    if (m == *n || m == 0) {
        return 0;
    }
    int v = check(r, ops, m);
    if (v == 1) {
        *n = m;
    }
    return v < 0 ? v : 0;
}

int tr__counterexample_find(const tr_history *h, const tr_lin_model *model, int64_t key,
                            uint64_t stuck_at, uint64_t budget, tr__counterexample *out) {
    memset(out, 0, sizeof *out);
    out->key = key;
    if (model == NULL || model->init == NULL || model->step == NULL) {
        return TR_EINVAL;
    }
    tr__ce_op *ops;
    uint32_t n;
    int rc = key_ops(h, key, &ops, &n);
    if (rc != 0) {
        return rc;
    }
    out->key_ops = n;
    reducer r = {.h = h, .model = model, .budget = budget};
    r.values_only = !tr__counterexample_values_explained(h, ops, n);
    int v = check(&r, ops, n);
    if (v == 1 && stuck_at != TR_CE_NONE) {
        rc = cut_after(&r, ops, &n, stuck_at);
    }
    if (v == 1 && rc == 0) {
        rc = ddmin(&r, ops, &n);
    }
    out->checks = r.checks;
    if (v != 1 || rc != 0) {
        free(ops);
        return v < 0 ? v : rc;
    }
    out->found = true;
    out->minimal = !r.out_of_checks;
    out->values_only = r.values_only;
    out->op_count = n;
    out->listed = n <= TR_CE_OPS_MAX;
    if (out->listed) {
        memcpy(out->ops, ops, (size_t)n * sizeof *ops);
        rc = tr__counterexample_explain(h, model, out);
    }
    free(ops);
    return rc;
}
