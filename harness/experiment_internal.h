/* experiment_internal.h — the experiment runner's state for one seed, shared by its files:
 * experiment.c (configuration, boot, final states, convergence, one seed's run) and
 * experiment_result.c (the checks over the history and the states, and the result's summary
 * and replay line). Not part of the public API. */
#ifndef TR_EXPERIMENT_INTERNAL_H
#define TR_EXPERIMENT_INTERNAL_H

#include "harness/client.h"
#include "harness/nemesis.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define SETTLE_NS (10 * SEC)
#define QUIET_NS (1 * SEC)
#define STATE_NS (2 * SEC)
#define FINAL_NS (10 * SEC)
#define STATE_MAX 65536
#define LIN_BUDGET_DEFAULT 200000

/* One workload of the run: its service, clients and final states. */
typedef struct part {
    const tr_service *svc;
    tr__clients *clients;
    uint8_t *states[TR_SIM_NODES_MAX];
    size_t state_lens[TR_SIM_NODES_MAX];
    tr_workload_result *out; /* its share of the result */
} part;

typedef struct run {
    const tr_experiment_config *cfg; /* the caller's, or `resolved` */
    tr_experiment_config drawn;      /* cfg->randomize: the caller's with this seed's draws */
    tr_experiment_config resolved;   /* the one run, with the service's defaults applied */
    part parts[TR_EXPERIMENT_WORKLOADS_MAX];
    uint32_t part_count;
    const tr_service *bug_svc; /* the service the planted bug belongs to, or NULL */
    tr_service_env envs[TR_SIM_NODES_MAX];
    tr_sim *sim;
    tr__nemesis *nem;
    tr_scenario scen;
    uint32_t states_waiting;
    bool converge_stopped;
    tr__nemesis_opts nemesis_opts; /* checked; each start creates its nemesis from it */
    tr_experiment_result *out;
} run;

/* experiment_result.c */
/* What a check reports with tr_check_measure while it runs (tr_check_input.measures_). */
/* What the checks of one run share (tr_check_shared), dropped after the last of them. */
typedef struct tr__shared {
    uint32_t count;
    struct {
        const void *tag;
        void *value;
        void (*drop)(void *value);
    } items[TR_CHECK_SHARED_MAX];
} tr__shared;

typedef struct tr__measures {
    uint32_t count;
    tr_measure items[TR_CHECK_MEASURES_MAX];
    tr__shared *shared; /* the run's, for tr_check_shared */
} tr__measures;

/* Appends the outcome of check `name` to res; the workload's verdict becomes the worst so far
 * (violated > unknown > held). */
tr_check_outcome *tr__experiment_add_outcome(tr_workload_result *res, const char *name,
                                             tr_verdict v, const char *why);
/* When the outcome `name` is violated and the check `rests_on` did not hold (the check
 * linearizability rests on, tr_service.lin_rests_on, or the one a check rests on,
 * tr_check.rests_on), gives the outcome that check's verdict with a why naming both, and takes
 * the workload's verdict again over its outcomes. */
void tr__experiment_rest(tr_workload_result *res, const char *name, const char *rests_on);
/* Runs part p's checks (linearizability when its workload is a register's, then the
 * service's) over its history and final states, into p->out. */
void tr__experiment_run_checks(run *r, part *p);
/* The fault timeline (and the scenario that replays it), and every part's figures: counts,
 * latencies, availability per side. */
void tr__experiment_summarise(run *r);
/* The result's top-level figures: the first workload's; its verdict the worst of all. */
void tr__experiment_mirror_first(tr_experiment_result *res);

#endif /* TR_EXPERIMENT_INTERNAL_H */
