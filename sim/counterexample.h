/* counterexample.h — a small sub-history that is already not linearizable, and why.
 *
 * What: given a history that a linearizability check found violated on one key, finds a
 * subset of that key's operations that is itself not linearizable and is 1-minimal: leaving
 * out any one of its operations makes it linearizable. It then explains it in the manner of
 * Knossos's reports: every dead end of the search over the orders the operations' real-time
 * windows allow, that is a prefix of linearized operations after which no operation can go
 * next (each one either refused by the model or not yet allowed by real time).
 *
 * How: delta debugging (Zeller's ddmin) over the key's operations, with the public checker
 * (tr_lincheck_history on a sub-history built with tr_history_append) as the oracle: only a
 * definite "violated" keeps a reduction, so an unknown (budget) answer never shrinks the
 * set wrongly. A subset must also keep the source of every value it reads: a value an
 * operation observed (a read's value, an ok cas's expected value) must be brought in by a kept
 * operation (a write's value, a cas's new value; interned values compare as one). Otherwise
 * dropping the write a read observed would leave a read of a value nothing wrote, a
 * counterexample that is not linearizable only because the reduction removed its cause. So
 * 1-minimal here means: leaving out any one operation makes the rest linearizable, or leaves
 * a value read without its source. When the key's operations already read a value none of
 * them brought in (a failed write that took effect), the reduction keeps non-linearizability
 * alone (values_only) and the plain 1-minimality holds. An operation is its invoke with its completion: an ok, an info or a never
 * completed operation is kept or dropped whole, so an info operation keeps its meaning
 * (it may have happened at any time after its invoke, or never). Failed operations are left
 * out from the start (the checker drops them). Operations invoked after the completion the
 * search got stuck on are left out first when that alone keeps the violation: they cannot be
 * linearized before it. The reduction stops at 1-minimality (ddmin's last round tries every
 * single removal).
 *
 * Limits: the counterexample holds at most TR_CE_OPS_MAX operations (a larger 1-minimal set
 * is reported by size, not listed); the explanation stores TR_CE_DEAD_ENDS_MAX dead ends and
 * counts the rest, and gives up (explained false) past TR_CE_EXPLAIN_STEPS model steps. The
 * reduction runs at most TR_CE_CHECKS_MAX checks (then `minimal` is false).
 * Ownership: borrows the history and the model for each call; *out is the caller's and
 * holds history indices only (valid for that history). Deterministic: same history, model,
 * key and budget give the same counterexample. Threading: none.
 */
#ifndef TR_SIM_COUNTEREXAMPLE_H
#define TR_SIM_COUNTEREXAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "troupe.h"

#define TR_CE_OPS_MAX 64
#define TR_CE_DEAD_ENDS_MAX 8
#define TR_CE_EXPLAIN_STEPS 2000000u
#define TR_CE_CHECKS_MAX 20000u
#define TR_CE_NONE UINT64_MAX

/* One operation of the counterexample: history indices of its invoke and completion
 * (TR_CE_NONE: never completed). */
typedef struct tr__ce_op {
    uint64_t invoke;
    uint64_t complete;
} tr__ce_op;

/* A prefix of the counterexample's operations (indices into tr__counterexample.ops, in the
 * order linearized) after which no operation can go next: `refused` are those the real-time
 * windows allow next and the model refuses (bit i: ops[i]). */
typedef struct tr__ce_dead_end {
    uint8_t order[TR_CE_OPS_MAX];
    uint32_t order_len;
    uint64_t refused;
} tr__ce_dead_end;

typedef struct tr__counterexample {
    bool found;       /* a non-linearizable sub-history of `key` (false: the key is not violated) */
    bool listed;      /* its operations are in ops (op_count <= TR_CE_OPS_MAX) */
    bool minimal;     /* 1-minimal (false only when TR_CE_CHECKS_MAX ran out) */
    bool explained;   /* the dead ends below were all found (the search finished) */
    bool values_only; /* the key reads a value none of its kept operations brought in */
    int64_t key;
    uint32_t op_count; /* operations in the counterexample */
    uint32_t key_ops;  /* the key's operations it was reduced from (failed ones excluded) */
    uint32_t checks;   /* linearizability checks the reduction ran */
    tr__ce_op ops[TR_CE_OPS_MAX]; /* in invoke order */
    uint32_t dead_end_count;      /* all dead ends found (at most dead_end_stored kept) */
    uint32_t dead_end_stored;
    tr__ce_dead_end dead_ends[TR_CE_DEAD_ENDS_MAX];
} tr__counterexample;

/* Reduces key `key` of h (a key the check found violated) with `model` and at most `budget`
 * configurations per check (0 = the checker's default), and explains the result. stuck_at:
 * the history index of the completion the check got stuck on (tr_lin_result.op_index), or
 * TR_CE_NONE. 0 (out->found false when the key's operations are linearizable after all, or
 * the check could not decide them), TR_EINVAL (bad model), TR_ENOMEM. */
int tr__counterexample_find(const tr_history *h, const tr_lin_model *model, int64_t key,
                            uint64_t stuck_at, uint64_t budget, tr__counterexample *out);

/* Whether ops[0..n) of h (each an invoke and its completion or TR_CE_NONE) are definitely not
 * linearizable against model: the reduction's oracle, also for tests. 1 violated, 0 not (held
 * or unknown), or a negative error. */
int tr__counterexample_violated(const tr_history *h, const tr_lin_model *model,
                                const tr__ce_op *ops, uint32_t n, uint64_t budget);

/* Fills out's dead ends and `explained` for out->ops[0..op_count) (counterexample_explain.c);
 * 0 or TR_ENOMEM, TR_EINVAL (an index not in h). */
int tr__counterexample_explain(const tr_history *h, const tr_lin_model *model,
                               tr__counterexample *out);

/* Whether every value ops[0..n) of h read is brought in by one of them (see above). */
bool tr__counterexample_values_explained(const tr_history *h, const tr__ce_op *ops, uint32_t n);

/* The counterexample as text (indented lines after a heading) and as one JSON object. */
void tr__counterexample_print(FILE *f, const tr_history *h, const tr__counterexample *ce);
void tr__counterexample_print_json(FILE *f, const tr_history *h, const tr__counterexample *ce);

#endif
