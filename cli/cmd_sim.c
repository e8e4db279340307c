/*
 * cmd_sim.c — `troupe sim`: its arguments and its report, over the library's experiment
 * runner (tr_experiment_run, tr_experiment_sweep, tr_experiment_check_determinism).
 *
 * The flags become one tr_experiment_config of the built-in services' descriptors
 * (harness/builtin.c) or of the loaded ones (--load): --workload cp, ap or stock is one
 * workload; --workload both (the default) is cp and ap side by side, two workloads of one
 * experiment with AP's convergence after the heal timed (the runner polls the AP state
 * actors). The runner's schedule, for one seed (duration D of virtual time):
 *   [0, D)        clients run against their node's "cp", "ap" or "stock";
 *   2D/8..7D/8    (nemesis partition) three majority/minority splits, each healed after
 *                 D/8; other nemeses fire at random times in [D/8, D);
 *   D             clients stop (stock's retry their unresolved reservations), everything
 *                 heals; outstanding ops finish or time out;
 *   then          the final states and reads, and the services' checks: CP must be
 *                 linearizable; AP must converge without lost or phantom writes and never
 *                 refuse an op (AP not being linearizable is shown, not counted); stock's
 *                 never-negative and conservation.
 * The report prints the result: the CP and AP table, or stock's invariants (recomputed
 * in sim_results.c over the result's history with harness/check_stock.h for its bounds), or a
 * loaded service's checks.
 * Everything the run does is a function of (seed, options, code); the trace hash proves it.
 * The command's files share cli/sim_cli.h, which lists them; this one dispatches: --help,
 * --merge, --load (and the built-in services run as loaded ones), --jobs, then one run, a
 * sweep, --check-determinism or --shrink.
 * Exit status: 0 every stated property held, 1 one was violated, 2 usage or tool error
 * (one line naming the limit broken), 3 a check answered unknown (a linearizability search
 * out of budget) and none was violated: unknown is never reported as held.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sim_cli.h"
#include "cli/sim_shard.h"
#include "cli/sim_shrink.h"
#include "harness/nemesis.h"
#include "sim/scenario.h"

/* --shrink's replay line: the built-in workload's as tr__sim_print_replay writes it, or the
 * runner's for a --load run, with the scenario file in place of the random nemesis. */
static void shrink_replay(const tr_experiment_config *cfg, const char *path, uint32_t kinds,
                          void *ud, char *buf, size_t cap) {
    const tr__sim_opts *o = ud;
    char text[160];
    if (o->loaded != NULL || cfg->load_path_count > 0 || o->stock + o->cp + o->ap == 0) {
        tr_experiment_config c = *cfg;
        c.nemesis.kinds = kinds;
        c.nemesis.scenario_path = path;
        tr_experiment_replay_line(&c, buf, cap);
        return;
    }
    tr__sim_opts r = *o;
    tr__nemesis_format(kinds, text, sizeof text);
    r.nemesis = kinds;
    r.nemesis_text = text;
    r.scenario_path = path;
    r.duration_ns = cfg->duration_ns;
    r.clients_per_node = cfg->clients_per_node;
    char line[TR__SWEEP_LINE_MAX];
    tr__sim_replay_line(&r, o->seed_lo, line);
    snprintf(buf, cap, "%s", line);
}

int tr__sim_shrink_run(const tr_experiment_config *cfg, const tr__sim_opts *o) {
    tr__shrink_opts so = {.out_path = o->shrink_out,
                          .max_runs = o->shrink_runs,
                          .replay = shrink_replay,
                          .replay_ud = (void *)o,
                          .clients = o->loaded == NULL && o->stock + o->cp + o->ap > 0};
    return tr__sim_shrink(cfg, &so);
}

/* One run, a sweep, --check-determinism or --shrink of the built-in workloads. */
static int run_cli(const tr__sim_opts *o) {
    if (o->check_determinism) {
        return tr__sim_check_determinism(o);
    }
    if (o->shrink) {
        tr__sim_builtin b;
        tr__sim_builtin_config(o, o->seed_lo, &b);
        return tr__sim_shrink_run(&b.cfg, o);
    }
    if (o->sweep) {
        return tr__sim_sweep(o);
    }
    tr__sim_run r;
    tr__sim_opts drawn;
    o = tr__sim_seed_opts(o, o->seed_lo, &drawn);
    int rc = tr__sim_run_seed(o, o->seed_lo, &r);
    if (rc != 2) {
        if (o->json) {
            tr__sim_print_json(o, &r);
        } else {
            tr__sim_print_human(o, &r);
        }
    }
    return rc;
}

int tr_cli_sim(int argc, char **argv) {
    tr__sim_opts o;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tr__sim_usage(stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--merge")) {
            return tr__sim_merge(argc, argv);
        }
    }
    uint32_t jobs = 1;
    if (tr__sim_take_jobs(&argc, argv, &jobs) != 0) {
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--load") || (!strcmp(argv[i], "--workload") && i + 1 < argc &&
                                           tr__sim_builtin_loaded(argv[i + 1]) != NULL)) {
            return tr__sim_run_loaded(argc, argv, jobs);
        }
    }
    if (tr__sim_parse_args(argc, argv, &o) != 0) {
        return 2; /* the one-line error is printed */
    }
    if (jobs > 1) {
        if (!o.sweep || o.shard_given || o.check_determinism) {
            fprintf(stderr, "troupe sim: --jobs N runs a sweep's shards at once: it needs "
                            "--seeds A..B and not --shard or --check-determinism\n");
            return 2;
        }
        return tr__sim_jobs(argc, argv, jobs, o.json);
    }
    if (o.scenario_path != NULL && tr__sim_load_scenario(&o) != 0) {
        return 2; /* the error names the file and line; usage would bury it */
    }
    int rc = run_cli(&o);
    tr__scenario_free(&o.scen);
    return rc;
}
