/* sim_run.c — one seed of a built-in workload (cp, ap, both or stock) through the library's
 * experiment runner: the flags into a tr_experiment_config, the run timed, its figures and
 * --history and --report written. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli/sim_cli.h"
#include "cli/sim_shard.h"
#include "harness/builtin.h"
#include "harness/nemesis.h"
#include "harness/randomize.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double tr__sim_wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int tr__sim_write_history(const tr__sim_opts *o, uint64_t seed, const char *store,
                          const tr_history *h) {
    char name[4096];
    const char *path = o->history;
    char seed_part[32] = "";
    if (o->sweep) {
        snprintf(seed_part, sizeof seed_part, ".%" PRIu64, seed);
    }
    snprintf(name, sizeof name, "%s%s%s%s", path, seed_part, o->cp && o->ap ? "." : "",
             o->cp && o->ap ? store : "");
    FILE *f = fopen(name, "w");
    if (f == NULL) {
        fprintf(stderr, "troupe sim: cannot write %s: %s\n", name, strerror(errno));
        return TR_EIO;
    }
    size_t n = strlen(path);
    bool edn = n >= 4 && strcmp(path + n - 4, ".edn") == 0;
    int rc = edn ? tr__history_write_edn(h, f) : tr__history_write_json(h, f);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "troupe sim: cannot write %s\n", name);
        return TR_EIO;
    }
    return 0;
}

tr_verdict tr__sim_run_verdict(const tr__sim_run *r) {
    if (r->cp.violated || r->ap.violated || r->stock.violated) {
        return TR_VERDICT_VIOLATED;
    }
    return r->cp.unknown || r->ap.unknown || r->stock.unknown ? TR_VERDICT_UNKNOWN
                                                              : TR_VERDICT_HELD;
}

/* The built-in services whose workloads this run drives (count returned): stock, cp, ap, or
 * cp and ap side by side (--workload both). */
static uint32_t runner_services(const tr__sim_opts *o, tr__sim_builtin *b) {
    uint32_t n = 0;
    if (o->stock) {
        b->svcs[n++] = &tr__builtin_stock;
    }
    if (o->cp && !o->stock) {
        b->svcs[n++] = &tr__builtin_cp;
    }
    if (o->ap && !o->stock) {
        b->svcs[n++] = &tr__builtin_ap;
    }
    for (uint32_t k = 0; k < n; k++) {
        b->names[k] = b->svcs[k]->name;
    }
    return n;
}

/* The AP replicas' convergence after the heal is timed, when both registers run, by asking
 * their state every this often. */
#define CONVERGE_POLL_NS ((uint64_t)5 * 1000000)

/* Both registers: two workloads of one experiment, the AP convergence timed. */
void tr__sim_builtin_config(const tr__sim_opts *o, uint64_t seed, tr__sim_builtin *b) {
    tr_experiment_config *cfg = &b->cfg;
    uint32_t count = runner_services(o, b);
    tr_experiment_config_init(cfg);
    cfg->sim.seed = seed;
    cfg->sim.nodes = o->nodes;
    cfg->services = b->svcs;
    cfg->service_count = count;
    cfg->workload = b->svcs[0]->name;
    if (count > 1) {
        cfg->workloads = b->names;
        cfg->workload_count = count;
        cfg->converge_poll_ns = CONVERGE_POLL_NS;
    }
    cfg->bug = o->bug_text;
    cfg->nemesis.kinds = o->nemesis;
    cfg->nemesis.scenario_path = o->scenario_path;
    cfg->duration_ns = o->duration_ns;
    cfg->rate = o->rate;
    cfg->keys = o->keys;
    cfg->clients_per_node = o->clients_per_node;
    cfg->lin_budget = o->lin_budget;
    cfg->sim.net = o->net;
    tr__randomize_copy(&o->knobs, &cfg->sim);
    cfg->op_timeout_ms = o->op_timeout_ms;
    cfg->randomize = o->randomize;
    cfg->trace = o->tracing ? &o->trace : NULL;
    cfg->spans = o->spans.path ? &o->spans : NULL;
}

/* A history at its cap (harness/client.c keeps room for the completion of every op in flight,
 * so no invoke fits once room < in flight + 2): said on stderr with the time clients stopped. */
void tr__sim_history_cap_note(uint64_t seed, const tr_workload_result *w) {
    const tr_history *h = w->history;
    size_t count = tr__history_count(h), max = tr__history_max_ops(h), last = count;
    if (max - count >= tr__history_pending(h) + 2) {
        return;
    }
    while (last > 0 && tr__history_op(h, last - 1)->type != TR_OP_INVOKE) {
        last--;
    }
    fprintf(stderr,
            "troupe sim: seed %" PRIu64 ": the %s history reached its cap of %zu events at "
            "%.3f s: clients stopped invoking there; the report covers what ran\n",
            seed, w->name, max, last ? (double)tr__history_op(h, last - 1)->time_ns / 1e9 : 0.0);
}

/* The run-wide figures of res into r (the fault timeline copied: res goes first). */
static void run_from_result(const tr_experiment_result *res, tr__sim_run *r) {
    r->trace_hash = res->trace_hash;
    r->minority_mask = res->minority_nodes;
    r->partitioned = res->partitioned;
    r->part_from_ns = res->partition_start_ns;
    r->part_to_ns = res->partition_end_ns;
    r->stats = res->stats;
    static tr_fault_span faults[TR__NEMESIS_SPANS_MAX]; /* the CLI runs one seed at a time */
    r->fault_count =
        res->fault_count < TR__NEMESIS_SPANS_MAX ? res->fault_count : TR__NEMESIS_SPANS_MAX;
    if (r->fault_count > 0) { /* res->faults is NULL when none fired */
        memcpy(faults, res->faults, r->fault_count * sizeof *faults);
    }
    r->faults = faults;
    r->net_ok = res->net_ok;
    r->net = res->net;
    r->virtual_ns = res->virtual_ns;
}

/* Each workload's figures, its history's cap and its --history file; a history the runner
 * could not record or write is the run's tool error. */
static void workloads_from_result(const tr__sim_opts *o, uint64_t seed,
                                  const tr_experiment_result *res, tr__sim_run *r) {
    for (uint32_t k = 0; k < res->workload_count; k++) {
        const tr_workload_result *w = &res->workloads[k];
        tr__sim_part_from_result(o, res, k, r);
        tr__sim_history_cap_note(seed, w);
        for (uint32_t i = 0; i < w->check_count; i++) {
            if (strcmp(w->checks[i].name, "history") == 0) {
                r->tool_error = true;
                snprintf(r->tool_why, sizeof r->tool_why, "%s", w->checks[i].why);
            }
        }
        if (o->history != NULL && !r->tool_error &&
            tr__sim_write_history(o, seed, w->name, w->history)) {
            r->tool_error = true;
            snprintf(r->tool_why, sizeof r->tool_why, "cannot write the history");
        }
    }
}

/* One seed of the built-in workloads through tr_experiment_run, its result as the table's. */
static int run_seed_runner(const tr__sim_opts *o, uint64_t seed, tr__sim_run *r) {
    tr__sim_builtin b;
    tr_experiment_result *res;
    char err[512];
    tr__sim_builtin_config(o, seed, &b);
    double t0 = tr__sim_wall_now(), c0 = cpu_now();
    if (tr_experiment_run(&b.cfg, &res, err, sizeof err) != 0) {
        fprintf(stderr, "troupe sim: %s\n", err);
        return 2;
    }
    r->wall_s = tr__sim_wall_now() - t0;
    r->cpu_s = cpu_now() - c0;
    run_from_result(res, r);
    workloads_from_result(o, seed, res, r);
    if (!r->tool_error && o->report_dir != NULL) {
        char replay[TR__SWEEP_LINE_MAX];
        tr__sim_replay_line(o, seed, replay);
        r->tool_error = tr__sim_report_run(o, &b.cfg, res, (int)tr__sim_run_verdict(r), replay,
                                           r->tool_why, sizeof r->tool_why) != 0;
    }
    tr_experiment_result_destroy(res);
    if (r->tool_error) {
        fprintf(stderr, "troupe sim: seed %" PRIu64 ": %s\n", seed, r->tool_why);
        return 2;
    }
    return (int)tr__sim_run_verdict(r);
}

/* One seed: create, run, check, destroy. Returns 0/1/2/3 as the exit status. */
int tr__sim_run_seed(const tr__sim_opts *o, uint64_t seed, tr__sim_run *r) {
    memset(r, 0, sizeof *r);
    r->seed = seed;
    return run_seed_runner(o, seed, r);
}
