/* history.h — a Jepsen-style operation history of a (multi-key) register workload.
 *
 * What: simulated clients record each operation twice — an `invoke` when they send it and a
 * completion (`ok`, `fail` or `info`) when they learn its outcome — with Jepsen's fields:
 * index, time (virtual ns), type, process, f, key, value, error, plus the node that served it
 * (for availability per side of a partition). `f` is an index into the history's table of
 * operation names: read, write, cas, reserve and restock hold the fixed codes of tr_op_f in
 * every history, and any other name (a service's "deposit") is interned on first use, up to
 * TR_HISTORY_F_MAX names of at most TR_HISTORY_NAME_MAX bytes (letters, digits, -_.!?*+,
 * starting with a letter: an EDN keyword and a JSON string alike). The checkers
 * (sim/lincheck.h, sim/checkers.h) and `troupe check` read histories; Knossos, Porcupine or
 * Elle can re-check an exported one (docs/checkers.md describes the EDN and JSON shapes).
 *
 * Why this shape: Jepsen's conventions make the semantics explicit. `ok` = took effect (and
 * for a read, returned the value); `fail` = certainly did not take effect; `info` = unknown
 * (timed out, connection lost): it may take effect at any time after its invoke, or never.
 *
 * Invariants (enforced by the appending API; import checks the same):
 *   1. A process has at most one outstanding invoke; its completion names the same f, key.
 *   2. A process whose op completed with `info` is retired: it never invokes again
 *      (its op may still be in flight; reusing the id would make the history ambiguous).
 *      tr__history_invoke* returns TR_EINVAL for a retired or busy process.
 *   3. index == position in the history, 0-based, strictly increasing; time is
 *      non-decreasing (virtual time never goes back) — TR_EINVAL otherwise.
 *   4. At most max_ops ops: an append beyond that returns TR_EFULL and changes nothing.
 *   5. For write and cas the completion carries the invoke's value; for a read the invoke
 *      carries nil and the `ok` completion carries the value read (nil = key unset). An op
 *      with an interned (non built-in) f may carry nil, a value or a pair on its invoke and
 *      on its completion alike (what the service's model makes of them); f < the name count.
 *   6. `pair` says the value is (value, value_to): always for cas, reserve and restock, never
 *      for read and write (append sets it from f), as the op says for any other f.
 *   7. A value of another kind (troupe.h tr_value: a string, keyword, bytes, a tuple; for read
 *      and write a pair of integers too) is `any`, a view interned in the history
 *      (sim/history_value.h), with has_value set and pair clear; any is NULL otherwise. cas,
 *      reserve and restock never carry one. A completion repeats its invoke's value as the
 *      same view (interning makes equal values one address).
 *
 * Use from a simulated client (virtual time `now`, process id `p`, target node `n`):
 *     tr__history_invoke_write(h, now, p, key, value, n);      // on send
 *     tr__history_ok(h, now, p);                               // acknowledged
 *     tr__history_fail(h, now, p, "not leader");               // certainly not applied
 *     tr__history_info(h, now, p, "timeout"); p = next_id++;   // unknown: retire p
 *     tr__history_invoke_read(h, now, p, key, n);
 *     tr__history_ok_read(h, now, p, found, value);            // found=false: read nil
 *
 * Ownership: tr__history_create returns an owned history, freed by tr__history_destroy.
 * tr__history_op returns a borrowed pointer valid until the next append or destroy.
 * Threading: none; one thread at a time (the simulator's). Deterministic: no clock, no
 * random source; time is whatever virtual time the caller passes.
 * Limits: max_ops (TR_HISTORY_MAX_OPS_LIMIT at most); error strings are truncated to
 * TR_OP_ERROR_MAX - 1 bytes; import reads files up to TR_HISTORY_FILE_MAX bytes.
 */
#ifndef TR_SIM_HISTORY_H
#define TR_SIM_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "troupe.h"

#define TR_OP_ERROR_MAX 48
#define TR_HISTORY_MAX_OPS_LIMIT (64u * 1024u * 1024u)
#define TR_HISTORY_FILE_MAX (1024u * 1024u * 1024u)
#define TR_NODE_NONE (-1)
#define TR_HISTORY_NO_PARTNER UINT32_MAX

typedef enum tr_op_type {
    TR_OP_INVOKE = 0,
    TR_OP_OK = 1,
    TR_OP_FAIL = 2,
    TR_OP_INFO = 3,
} tr_op_type;

typedef enum tr_op_f {
    TR_F_READ = 0,
    TR_F_WRITE = 1,
    TR_F_CAS = 2,
    /* The stock workload (harness/builtin_stock.h): value = qty, value_to = reservation id;
     * a stock read is TR_F_READ with the level as its ok value. Not register ops: the
     * linearizability checker refuses histories holding them (TR_EINVAL). */
    TR_F_RESERVE = 3,
    TR_F_RESTOCK = 4,
} tr_op_f;

/* One history entry. `value`:
 *   read:  has_value=false on invoke; on ok, has_value=false means "read nil (unset)".
 *   write: has_value=true, value = the value written.
 *   cas:   has_value=true, value = expected (from), value_to = new value (to).
 *   reserve, restock: has_value=true, value = quantity, value_to = reservation id; exported
 *          like a cas, [key [qty id]]. */
typedef struct tr_op {
    uint64_t index;
    int64_t time_ns;
    int64_t process;
    int64_t key;
    int64_t value;
    int64_t value_to;
    const tr_value *any; /* a value of another kind (invariant 7), interned in this history */
    int32_t node;        /* node that served it, TR_NODE_NONE if unknown */
    uint8_t type;        /* tr_op_type */
    uint8_t f;           /* tr_op_f, or an interned name's index (tr__history_f_name) */
    bool has_value;
    bool pair;                   /* value is (value, value_to): invariant 6 */
    char error[TR_OP_ERROR_MAX]; /* "" = no error */
} tr_op;

typedef struct tr_history tr_history;

/* Returns an owned empty history holding at most max_ops ops (1..TR_HISTORY_MAX_OPS_LIMIT),
 * or NULL when out of memory. */
tr_history *tr__history_create(size_t max_ops);
void tr__history_destroy(tr_history *h);

size_t tr__history_count(const tr_history *h);
size_t tr__history_max_ops(const tr_history *h);
/* Borrowed; valid until the next append or destroy. i < tr__history_count(h). */
const tr_op *tr__history_op(const tr_history *h, size_t i);

/* The index of the op paired with op i — its completion if i is an invoke, its invoke if i
 * is a completion — or SIZE_MAX for an invoke that has not completed (yet). O(1). */
size_t tr__history_partner(const tr_history *h, size_t i);

/* ---- Appending API for simulated clients ------------------------------------------- */
/* Each returns 0, TR_EFULL (max_ops reached), or TR_EINVAL (process busy or retired, time
 * going back, bad argument). `node` is the node the client sent the op to. */
int tr__history_invoke_read(tr_history *h, int64_t time_ns, int64_t process, int64_t key,
                            int32_t node);
int tr__history_invoke_write(tr_history *h, int64_t time_ns, int64_t process, int64_t key,
                             int64_t value, int32_t node);
int tr__history_invoke_cas(tr_history *h, int64_t time_ns, int64_t process, int64_t key,
                           int64_t from, int64_t to, int32_t node);

/* Completes the process's outstanding op. For ok reads use tr__history_ok_read. TR_EINVAL if
 * the process has no outstanding op. tr__history_info retires the process (invariant 2).
 * `error` is borrowed (copied, truncated); NULL means none. */
int tr__history_ok(tr_history *h, int64_t time_ns, int64_t process);
int tr__history_ok_read(tr_history *h, int64_t time_ns, int64_t process, bool found, int64_t value);
int tr__history_fail(tr_history *h, int64_t time_ns, int64_t process, const char *error);
int tr__history_info(tr_history *h, int64_t time_ns, int64_t process, const char *error);

/* True if the process may invoke now (known or new id, not busy, not retired). */
bool tr__history_process_free(const tr_history *h, int64_t process);
/* Number of processes with an outstanding invoke. */
size_t tr__history_pending(const tr_history *h);

/* Appends an op as given (its index is reset to its position), checking invariants 1-7;
 * op->any must be NULL or a view of this history. Clients use the typed functions above. */
int tr__history_append(tr_history *h, const tr_op *op);
/* Appends op with the value v (borrowed; NULL: op's fast fields hold it): v goes to the fast
 * fields when it fits them, else it is checked, interned and set as op's `any` (invariant
 * 7). TR_EINVAL with *why (a constant reason) for a value breaking the limits or an op the
 * history refuses (tr__history_append_why); otherwise as
 * tr__history_append (TR_EFULL also past TR_HISTORY_VALUES_MAX). Nothing changes on error:
 * the op is checked before its value is interned. */
int tr__history_append_value(tr_history *h, const tr_op *op, const tr_value *v, const char **why);
/* The value of op as a jansson value (new reference), or NULL when out of memory. */
struct json_t;
struct json_t *tr__history_value_json(const tr_value *v);

/* ---- Export / import ---------------------------------------------------------------- */
/* Jepsen EDN: a vector of maps, one per line, value as Knossos's independent-key tuple
 * [key v] (v = nil | int | [from to], or any value: "string", :keyword, [vector ...],
 * {:base64 "..."}). JSON: an array of objects with the same fields ("type":"invoke",
 * "f":"write", "value":[key, v], "node", "error"; a keyword {"keyword": name}, bytes
 * {"base64": text}). 0 or TR_EIO. */
int tr__history_write_edn(const tr_history *h, FILE *out);
int tr__history_write_json(const tr_history *h, FILE *out);

/* Reads a JSON (or EDN, detected by content) history file into a new owned *out.
 * On error returns TR_EIO (unreadable), TR_ECORRUPT (malformed: syntax, missing or wrong
 * field, broken invariant), TR_ETOOBIG (file or op count over the limits) and writes a
 * one-line explanation with the position ("line 3: ...") into err[0..err_cap). */
int tr__history_load_file(const char *path, size_t max_ops, tr_history **out, char *err,
                          size_t err_cap);
/* The same from memory (text need not be NUL-terminated). */
int tr__history_load_json(const char *text, size_t len, size_t max_ops, tr_history **out, char *err,
                          size_t err_cap);
int tr__history_load_edn(const char *text, size_t len, size_t max_ops, tr_history **out, char *err,
                         size_t err_cap);

/* Why tr__history_append refused op (a constant string), for error messages. */
const char *tr__history_append_why(const tr_history *h, const tr_op *op);

const char *tr__history_op_type_name(tr_op_type type); /* "invoke" ... */
const char *tr__history_op_f_name(tr_op_f f);          /* "read" ... (built-in codes only) */

/* ---- Operation names ---------------------------------------------------------------- */
#define TR_F_BUILTIN_COUNT 5 /* read .. restock: the codes below hold in every history */
/* The name of code f in h (any code below tr__history_f_count), or "?". Valid until the
 * history is destroyed. */
const char *tr__history_f_name(const tr_history *h, uint8_t f);
size_t tr__history_f_count(const tr_history *h);
/* The code of `name` in h, interning it if new: 0.. or TR_EINVAL (not a valid name, or the
 * table holds TR_HISTORY_F_MAX names already). *added says whether it was new. */
int tr__history_f_intern(tr_history *h, const char *name, bool *added);
/* Forgets the last interned name (an append that introduced it was refused). */
void tr__history_f_forget_last(tr_history *h);
/* The code of `name` in h, or -1. */
int tr__history_f_find(const tr_history *h, const char *name);

/* Ops whose value is a pair (value, value_to): cas [from to], reserve/restock [qty id]. */
static inline bool tr__history_f_is_pair(uint8_t f) {
    return f == TR_F_CAS || f == TR_F_RESERVE || f == TR_F_RESTOCK;
}

/* A 64-bit mixer (MurmurHash3's fmix64) for the hash tables of the history and the
 * checkers (process slots, memoised states). */
static inline uint64_t tr__history_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif
