/* lincheck.h — linearizability checker for a multi-key read/write/cas register history.
 *
 * What: decides whether a history (sim/history.h) is linearizable against a map of
 * independent registers, each starting unset (nil): read returns the current value (nil if
 * never written), write sets it, cas(from, to) sets it to `to` iff it equals `from` (an ok cas
 * took effect, so the register held `from`).
 *
 * Algorithm (docs/checkers.md): the history is split by key — linearizability is local
 * (Herlihy & Wing), so the whole is linearizable iff every key is — and each key is searched
 * with Wing & Gong's backtracking over a linked list of call/return events, with Lowe's
 * memoisation: a configuration (set of linearized calls as a bitset, register state) that has
 * been seen before is never explored again (a hash set). Semantics of op types:
 *   - ok:   must linearize between its invoke and its completion;
 *   - fail: certainly did not happen: removed (invoke and completion);
 *   - info, or an invoke never completed: may linearize at any point after its invoke, or
 *     never (no return deadline); an info read constrains nothing and is dropped, and so is
 *     an info write or cas whose written value no read returned and no cas expected (the
 *     next op after it would have to be a write: leaving it out changes no verdict).
 * Budget: at most max_configs memoised configurations per key and max_memory_bytes for one
 * key's cache and stack; past either the key's answer is UNKNOWN (never an out-of-memory
 * abort). Work per key is bounded by max_configs * (calls in the key).
 * Verdict: INVALID if some key is not linearizable (definite, whatever the others say),
 * else UNKNOWN if some key ran out of budget, else VALID.
 *
 * Ownership: borrows the history for the duration of the call; allocates and frees its own
 * scratch memory. Threading: none. Deterministic: same history -> same result, same counts.
 * The public checker (tr_lincheck_history, sim/lincheck_model.c) runs this one for the
 * built-in register models and a general search, over any model's state bytes, otherwise.
 */
#ifndef TR_SIM_LINCHECK_H
#define TR_SIM_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/history.h"

#define TR_LIN_DEFAULT_MAX_CONFIGS (1000u * 1000u)
#define TR_LIN_DEFAULT_MAX_MEMORY (512u * 1024u * 1024u)

typedef enum tr_lin_verdict {
    TR_LIN_VALID = 0,
    TR_LIN_INVALID = 1,
    TR_LIN_UNKNOWN = 2,
} tr_lin_verdict;

/* What stopped a key's search when its answer is unknown. */
typedef enum tr_lin_limit {
    TR_LIN_LIMIT_NONE = 0,
    TR_LIN_LIMIT_CONFIGS = 1, /* max_configs memoised configurations */
    TR_LIN_LIMIT_MEMORY = 2,  /* max_memory_bytes of memo (or an allocation that failed) */
} tr_lin_limit;

typedef struct tr_lin_options {
    uint64_t max_configs;    /* per key; 0 = TR_LIN_DEFAULT_MAX_CONFIGS */
    size_t max_memory_bytes; /* per key; 0 = TR_LIN_DEFAULT_MAX_MEMORY */
    /* The registers' value before the history (Knossos's (cas-register 0)): every key holds
     * `initial` when has_initial, else starts unset. The register models only. */
    bool has_initial;
    int64_t initial;
    /* Knossos's meaning of an ok read of nil: a read whose value is unknown (it constrains
     * nothing), not a read of an unset register. The register models only. */
    bool nil_read_unknown;
} tr_lin_options;

typedef struct tr__lin_result {
    tr_lin_verdict verdict;
    uint64_t configs;    /* memoised configurations, summed over keys */
    size_t keys;         /* distinct keys checked */
    size_t keys_unknown; /* keys whose budget ran out */
    size_t calls;        /* calls (ok ops + info/pending writes and cas) */
    size_t calls_pruned; /* of which dropped: info writes nobody observed */
    /* INVALID: the op that could not be linearized — the completion of the call whose
     * return deadline blocked the search at its furthest point (in history order); for a
     * read it carries the value read. With several bad keys, the earliest such op.
     * UNKNOWN: unknown_key is the smallest key whose budget ran out. */
    bool has_bad_op;
    tr_op bad_op;
    int64_t unknown_key;
    tr_lin_limit unknown_limit; /* UNKNOWN: the limit that stopped unknown_key's search */
} tr__lin_result;

/* Checks `h` and fills *out. Returns 0, TR_EINVAL if `h` holds ops that are not register ops
 * (reserve, restock: a stock history, harness/check_stock.h) or values other than integers
 * (tr_op.any: lincheck_model.c's general search checks those), or TR_ENOMEM if even the per-key
 * setup could not be allocated (the search itself degrades to UNKNOWN instead). opts may be
 * NULL (defaults). */
int tr__lincheck(const tr_history *h, const tr_lin_options *opts, tr__lin_result *out);

/* Checks `h` against `model` (the built-in register models run tr__lincheck on integer
 * histories; anything else, the general search of lincheck_model.c) with the budget of `opts`
 * (NULL: defaults), reporting in the register checker's terms. Errors as tr_lincheck_history;
 * on an error out->verdict is UNKNOWN. */
struct tr_lin_model;
int tr__lincheck_model(const tr_history *h, const struct tr_lin_model *model,
                       const tr_lin_options *opts, tr__lin_result *out);

/* Knossos's mutex: "acquire" succeeds on a free lock and takes it, "release" frees a held one;
 * values are ignored. One lock per key. */
extern const struct tr_lin_model tr__lin_model_mutex;

const char *tr__lincheck_verdict_name(tr_lin_verdict v); /* "linearizable", ... */

#endif
