/*
 * nemesis.h — the random fault generator and the scenario-file schedule, shared by
 * `troupe sim`'s built-in workloads and the experiment runner (harness/experiment.c).
 *
 * What: given the enabled kinds (TR_NEMESIS_* bits of troupe.h), a workload duration D and a
 * cluster size, tr__nemesis_start schedules on a tr_sim:
 *   - partition: three windows, [2D/8, 3D/8), [4D/8, 5D/8) and [6D/8, 7D/8), each a
 *     majority/minority split with its own minority of (N-1)/2 random nodes, healed at its
 *     end: the leader of a consensus group lands in some minority in most runs, and clients
 *     run on the healed cluster between the windows and in the last eighth, where they read
 *     what a split left half done;
 *   - crash, pause, clock, delay, the shapes isolate/ring/bridge/oneway and the selected
 *     service fault kinds: one random fault every D/40..D/10 from D/8 until D (a crash keeps
 *     at most a minority down and restarts after 1..4 s; a pause lasts 0.2..2 s; a shape
 *     0.5..3 s; a service fault 0.5..3 s); half of them hit the node of the fault before
 *     (a focus), so that faults of several kinds overlap on one node, as many bugs need
 *     (a slow disk and then a failing one, a pause and then a cut);
 *   - storage faults, drawn like those random faults: io-error and disk-full (commits of a
 *     node fail for 0.5..3 s; a node whose store failed is restarted when the window ends),
 *     slow-disk (50..500 ms more per commit for 1..3 s), corrupt (a node crashes with a torn
 *     data file and never starts again; with crashes, at most a minority down);
 *   - the faults of a scenario file at their fixed times.
 * tr__nemesis_end (call it at D) heals every link, stops service and storage faults, restarts
 * crashed and resumes paused nodes (a node with a torn data file stays down). Every fault that
 * took effect is recorded as a tr_fault_span, and as the scenario event that replays it.
 * Determinism: every draw comes from the stream TR_SIM_STREAM_USER + 1 of the sim's seed,
 * in a fixed order (the three windows' minorities first, then each random fault: kind,
 * node, clock offset, focus, then that kind's own draws); service fault kinds are appended after the built-in ones,
 * so a run without them draws exactly what it always drew.
 * Ownership: tr__nemesis_create returns an owned nemesis (tr__nemesis_destroy, after the sim
 * it ran on: scheduled callbacks point at it). The scenario and service faults are borrowed
 * and must outlive it. Limits: at most TR__NEMESIS_SPANS_MAX spans (later ones are counted
 * in spans_dropped), TR__NEMESIS_FAULTS_MAX service fault kinds.
 */
#ifndef TR_HARNESS_NEMESIS_H
#define TR_HARNESS_NEMESIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/scenario.h"
#include "troupe.h"

#define TR__NEMESIS_SPANS_MAX 4096
#define TR__NEMESIS_FAULTS_MAX 16

typedef struct tr__nemesis tr__nemesis;

typedef struct tr__nemesis_opts {
    uint32_t kinds; /* TR_NEMESIS_* bits */
    uint32_t nodes;
    uint64_t duration_ns;
    const tr_scenario *scenario;                            /* borrowed; NULL or empty: none */
    const tr_service_fault *faults[TR__NEMESIS_FAULTS_MAX]; /* borrowed */
    uint32_t fault_count;
    /* Called right after the nemesis crashed node i (clients mark their ops info). */
    void (*crashed)(void *ud, uint32_t node);
    void *ud; /* borrowed */
} tr__nemesis_opts;

/* Parses "partition,crash,..." (or "none") into TR_NEMESIS_* bits; a name that is no
 * built-in kind is kept in *service (comma-separated, at most service_cap bytes) when
 * service != NULL. TR_EINVAL with a one-line reason in err (unknown or empty item). */
int tr__nemesis_parse(const char *text, uint32_t *kinds, char *service, size_t service_cap,
                      char *err, size_t err_cap);
/* The kind names of bits, comma-separated, into buf ("none" for 0). */
void tr__nemesis_format(uint32_t kinds, char *buf, size_t cap);

/* Reads and checks a scenario file for `nodes` nodes whose faults must all fall before
 * duration_ns. 0, or TR_EINVAL with "PATH: line N: why" in err. */
int tr__nemesis_scenario_load(const char *path, uint32_t nodes, uint64_t duration_ns,
                              tr_scenario *out, char *err, size_t err_cap);

int tr__nemesis_create(const tr__nemesis_opts *opts, tr__nemesis **out);
void tr__nemesis_destroy(tr__nemesis *n);
/* Draws the minority and schedules everything on sim (once). TR_ENOMEM. */
int tr__nemesis_start(tr__nemesis *n, tr_sim *sim);
/* At the end of the workload: heal, stop service faults, restart and resume every node. */
void tr__nemesis_end(tr__nemesis *n);

/* The first window's minority. */
uint64_t tr__nemesis_minority(const tr__nemesis *n);
/* Whether the first majority/minority window started, and its start and end (end: 0 before
 * it healed). The other windows are in the spans and the record. */
bool tr__nemesis_window(const tr__nemesis *n, uint64_t *from_ns, uint64_t *to_ns);
/* The recorded spans (valid until the next fault or tr__nemesis_destroy); spans still open
 * show end_ns = 0 until tr__nemesis_end closes them. */
const tr_fault_span *tr__nemesis_spans(const tr__nemesis *n, uint32_t *count);
uint64_t tr__nemesis_spans_dropped(const tr__nemesis *n);
/* Every fault that took effect before the end of the workload, random or from the scenario,
 * as the scenario events that replay it (at the time it took effect; valid until
 * tr__nemesis_destroy). *complete is false when some could not be recorded: a service fault
 * kind was selected (the file format has none), or the record ran out of room. */
const tr_scenario *tr__nemesis_record(const tr__nemesis *n, bool *complete);

#endif /* TR_HARNESS_NEMESIS_H */
