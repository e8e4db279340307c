/* checkers.h — the non-linearizability checkers over a history: convergence, availability,
 * latency. (Linearizability is sim/lincheck.h.)
 *
 * Convergence (after heal and quiet): given each replica's final key -> value map and the
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
 * Availability: of the ops invoked in [window_start_ns, window_end_ns) — the whole history
 *   if window_end_ns <= window_start_ns — the fraction that completed ok among those that
 *   completed (ok + fail + info), overall and per node group (e.g. the two sides of a
 *   partition), grouped by the op's `node`. Ops never completed are counted as `pending`
 *   and excluded from the fraction; a group with no completed op has fraction -1.
 * Latency: nearest-rank p50, p99 and max of (completion time - invoke time) over ok ops.
 *
 * Ownership: every input is borrowed for the duration of the call; results are plain
 * values. Threading: none. Deterministic. Memory: O(ops + replica entries) scratch.
 */
#ifndef TR_SIM_CHECKERS_H
#define TR_SIM_CHECKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/history.h"

#define TR_AVAIL_GROUPS_MAX 16

/* ---- convergence -------------------------------------------------------------------- */

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

/* ---- availability ------------------------------------------------------------------- */

typedef struct tr_avail_counts {
    uint64_t ok, fail, info, pending;
    double fraction; /* ok / (ok + fail + info); -1 when nothing completed */
} tr_avail_counts;

typedef struct tr_avail_options {
    int64_t window_start_ns;
    int64_t window_end_ns;        /* <= start: the whole history */
    const int32_t *group_of_node; /* borrowed; group_of_node[node] in [0, group_count) */
    size_t node_count;            /* entries in group_of_node; 0 = no grouping */
    size_t group_count;           /* <= TR_AVAIL_GROUPS_MAX */
} tr_avail_options;

typedef struct tr_avail_result {
    tr_avail_counts all;                         /* whole history, no window */
    tr_avail_counts window;                      /* ops invoked in the window */
    tr_avail_counts groups[TR_AVAIL_GROUPS_MAX]; /* in the window, by the op's node's group */
    tr_avail_counts ungrouped; /* in the window, node unknown or not in group_of_node */
    size_t group_count;
} tr_avail_result;

/* 0 or TR_EINVAL (bad group map). opts may be NULL: whole history, no groups. */
int tr__checkers_availability(const tr_history *h, const tr_avail_options *opts,
                              tr_avail_result *out);

/* ---- latency ------------------------------------------------------------------------ */

typedef struct tr_latency {
    uint64_t count;                 /* ok ops measured */
    int64_t p50_ns, p99_ns, max_ns; /* 0 when count == 0 */
} tr_latency;

/* 0 or TR_ENOMEM. */
int tr__checkers_latency(const tr_history *h, tr_latency *out);

#endif
