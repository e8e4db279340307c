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

/* ---- progress ----------------------------------------------------------------------- */

/* Jepsen's `stats` rule: each of the operation names fs[0..n) that the history invokes
 * completes ok at least once; and no completion is a "malformed reply" (the error the built-in
 * workloads record for a reply they cannot decode: the simulated network delivers what was
 * sent, so it is the service that broke its own protocol, never a fault). Safety checks alone
 * pass a service that refuses, loses or garbles every answer, since each such op is recorded
 * as fail or info. False, with why naming the first that never succeeded ("no write
 * succeeded (N invoked)") or the malformed replies, or true (why untouched). An operation
 * invoked fewer than TR__PROGRESS_MIN_OPS times is not judged (a run shorter than its
 * cluster's start-up, whose first ops are refused). At most 8 names. */
#define TR__PROGRESS_MIN_OPS 32
bool tr__checkers_progress(const tr_history *h, const char *const *fs, size_t n, char *why,
                           size_t why_cap);

/* ---- torn disks ---------------------------------------------------------------------- */

/* Whether a "corrupt" fault of in's timeline tore node's disk at or after t_ns: the node never
 * came back, and what it had acknowledged but not yet shipped went with it (the AP checks'
 * allowance, docs/checkers.md "Under every fault kind"). */
bool tr__checkers_torn_after(const tr_check_input *in, int32_t node, int64_t t_ns);

#endif
