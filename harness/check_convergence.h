/* check_convergence.h — the convergence of register replicas after heal and quiet: their
 * final key -> value maps checked against each other and against the history of a register
 * workload (harness/workload.h), for services whose replicas promise to agree (the AP
 * register).
 *
 * Given each replica's final key -> value map and the
 * history, checks
 *   1. agreement: every replica holds the same keys with the same values;
 *   2. no lost acknowledged write beyond last-writer-wins: for an acknowledged (ok) write w
 *      of v to key k and a replica whose final value of k is F, w is fine if F == v, or if F
 *      was written (ok, info or pending write, or cas `to`) by some w' that w does not
 *      precede in real time (w' was not completed before w was invoked). Otherwise w is
 *      LOST: e.g. LWW with a skewed clock that let an older write win, a rollback, or a
 *      missing key (the register has no delete). Concurrent writes may overwrite each other
 *      in any order — that is what LWW promises, no more;
 *   3. no phantom: a present final value was written by some non-failed write or cas.
 *   Values are compared as integers; workloads should write unique values per key (with
 *   duplicates the check gives the benefit of the doubt to the write that could have won).
 *
 * Ownership: every input is borrowed for the duration of the call; results are plain values.
 * Threading: none. Deterministic. Memory: O(ops + replica entries) scratch.
 */
#ifndef TR_HARNESS_CHECK_CONVERGENCE_H
#define TR_HARNESS_CHECK_CONVERGENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/history.h"

typedef struct tr_replica_entry {
    int64_t key;
    int64_t value;
} tr_replica_entry;

/* One replica's final state: the keys it holds (any order, each key at most once).
 * A key not listed is absent (nil). `entries` is borrowed. */
typedef struct tr_replica_state {
    int32_t node;
    const tr_replica_entry *entries;
    size_t count;
} tr_replica_state;

typedef struct tr_convergence_result {
    bool ok;                                    /* converged, nothing lost, no phantom */
    bool agree;                                 /* (1) */
    size_t divergent_keys;                      /* keys on which some two replicas differ */
    int64_t divergent_key;                      /* the smallest such key ... */
    int32_t divergent_node_a, divergent_node_b; /* ... and two replicas that differ on it */
    size_t lost_writes;   /* (2): acknowledged writes lost on at least one replica */
    tr_op lost_write;     /* the first (in history order): its ok completion */
    int32_t lost_on_node; /* a replica that lost it */
    bool lost_final_present;
    int64_t lost_final_value; /* what that replica holds instead (if present) */
    size_t phantoms;          /* (3): (replica, key) pairs holding a value nobody wrote */
    int64_t phantom_key;
    int64_t phantom_value;
    int32_t phantom_node;
} tr_convergence_result;

/* 0, TR_EINVAL (a replica lists a key twice, n == 0), or TR_ENOMEM. */
int tr__checkers_convergence(const tr_history *h, const tr_replica_state *replicas, size_t n,
                             tr_convergence_result *out);

#endif /* TR_HARNESS_CHECK_CONVERGENCE_H */
