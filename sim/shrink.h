/*
 * shrink.h — delta debugging over a fault schedule: the smallest list of faults that still
 * makes a run fail.
 *
 * What: given the faults of a failing run (a tr_scenario, in time order) and a test that runs
 * a sub-list and says whether the run still fails, tr__shrink finds a sub-list that fails and
 * is 1-minimal: removing any single one of its faults makes the run pass. Two phases:
 *   1. ddmin (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input",
 *      2002) while its chunks hold two faults or more: split the list into n chunks, keep a
 *      chunk that fails alone, else a complement (the list without one chunk) that fails,
 *      else split finer;
 *   2. the minimality pass: remove each single fault in turn, keeping any removal after which
 *      the run still fails, and repeat until a whole pass removes nothing. That last pass is
 *      the proof: every fault's removal was run and passed.
 * Why a test callback: sim/ knows no service; the caller (troupe sim) runs its experiment
 * with the sub-list as a scenario file. Every test is one run, counted against the budget;
 * when it runs out, the smallest failing list found so far is the answer, not proven minimal.
 * Ownership: out->faults is owned (tr__shrink_result_free); in and ud are borrowed. Limits:
 * at most TR_SCENARIO_EVENTS_MAX faults. Deterministic: the same test answers give the same
 * sequence of tests and the same answer.
 */
#ifndef TR_SIM_SHRINK_H
#define TR_SIM_SHRINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/scenario.h"

/* Runs events[0..count) (a sub-list of the input, in its order): 1 the run fails, 0 it
 * passes, a negative TR_E code to stop the shrink with that error. */
typedef int (*tr__shrink_test)(const tr_scen_event *events, size_t count, void *ud);

typedef struct tr__shrink_result {
    tr_scenario faults; /* owned: the smallest failing sub-list found */
    uint64_t runs;      /* tests run */
    bool minimal;       /* the minimality pass completed: removing any one fault passes */
    bool exhausted;     /* the run budget ran out first */
} tr__shrink_result;

/* Shrinks in (whose whole list must fail: the caller checks it first) with at most max_runs
 * tests. 0 (then out->minimal or out->exhausted says how it ended), TR_ENOMEM, or the
 * test's error. */
int tr__shrink(const tr_scenario *in, uint64_t max_runs, tr__shrink_test test, void *ud,
               tr__shrink_result *out);
void tr__shrink_result_free(tr__shrink_result *r);

#endif
