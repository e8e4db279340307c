/* checkers.h — the non-linearizability checkers over any history: availability and latency.
 * (Linearizability is sim/lincheck.h; the convergence of register replicas is
 * harness/check_convergence.h.)
 *
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
