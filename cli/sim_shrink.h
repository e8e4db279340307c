/* sim_shrink.h — `troupe sim --shrink`: a failing run's faults reduced to a 1-minimal
 * schedule that still fails, written as a --scenario file (docs/shrink.md).
 *
 * It runs the experiment once as given, takes the faults that took effect
 * (tr_experiment_result.scenario), checks that they alone reproduce the failure (the random
 * nemesis off: the clients draw from their own streams, so they do the same), shrinks them
 * with tr__shrink (sim/shrink.h), each candidate run from a scenario file, and writes the
 * result with its replay line. "Fails" means the check that failed first in the original run
 * is violated again. Then the client operations: one client per node (when the replay line
 * can say so) and a shorter workload, each kept if the run still fails, after which the
 * faults are shrunk and proven 1-minimal again under the smaller workload. Bounded: at most
 * max_runs runs for the shrink itself.
 * Ownership: everything is borrowed. Threading: none; the CLI's thread. */
#ifndef TR_CLI_SIM_SHRINK_H
#define TR_CLI_SIM_SHRINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR__SHRINK_RUNS_DEFAULT 200u
#define TR__SHRINK_RUNS_MAX 100000u

/* Writes the command that replays cfg's seed with the scenario file `path` in place of the
 * random nemesis and the link faults `kinds` (TR_NEMESIS_LOSS|DUP|REORDER bits), into
 * buf[cap]. */
typedef void (*tr__shrink_replay_fn)(const tr_experiment_config *cfg, const char *path,
                                     uint32_t kinds, void *ud, char *buf, size_t cap);

typedef struct tr__shrink_opts {
    const char *out_path; /* NULL: shrunk-<seed>.scenario in the current directory */
    uint64_t max_runs;    /* 0: TR__SHRINK_RUNS_DEFAULT */
    tr__shrink_replay_fn replay;
    void *replay_ud;
    bool clients; /* the replay line can name cfg->clients_per_node (--clients) */
} tr__shrink_opts;

/* Shrinks the run of cfg (one seed) and prints what it did. The exit status: 0 the run held
 * (nothing to shrink), 1 it failed and the schedule was written, 3 it answered unknown
 * (nothing to shrink), 2 a tool error (the recorded faults do not reproduce the failure, a
 * service fault kind that a scenario file cannot hold, a file that cannot be written). */
int tr__sim_shrink(const tr_experiment_config *cfg, const tr__shrink_opts *opts);

#endif
