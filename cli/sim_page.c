/* sim_page.c — `troupe sim --report DIR`: one run's self-contained page (sim/report.h); a
 * sweep writes the page of its first failing seed only. */
#include <inttypes.h>
#include <string.h>

#include "cli/sim_cli.h"
#include "sim/report.h"

static bool report_written; /* a sweep writes the page of its first failing seed only */

/* --report writes one run's page: not with --check-determinism (two runs of one seed). */
int tr__sim_check_report(const tr__sim_opts *o) {
    if (o->report_dir != NULL && o->check_determinism) {
        return tr__sim_error(
            "--report writes one run's page; it cannot go with --check-determinism");
    }
    return 0;
}

/* The page of res (exit status rc) into --report's directory: every single run, and in a
 * sweep the first seed that failed (violated or unknown). 0, or 2 with why (one line). */
int tr__sim_report_run(const tr__sim_opts *o, const tr_experiment_config *cfg,
                       const tr_experiment_result *res, int rc, const char *replay, char *why,
                       size_t why_cap) {
    if (report_written || (o->sweep && rc != 1 && rc != 3)) {
        return 0;
    }
    const tr_lin_model *shown[TR_EXPERIMENT_WORKLOADS_MAX] = {NULL};
    for (uint32_t k = 0; k < res->workload_count && k < TR_EXPERIMENT_WORKLOADS_MAX; k++) {
        /* both registers: AP's linearizability is shown next to CP's (sim_results.c) */
        bool ap = o->loaded == NULL && o->cp && o->ap && !strcmp(res->workloads[k].name, "ap");
        shown[k] = ap ? &tr_lin_model_register : NULL;
    }
    tr__report_input in = {.result = res,
                           .services = cfg->services,
                           .service_count = cfg->service_count,
                           .nodes = cfg->randomize ? 0 : cfg->sim.nodes, /* drawn in the run */
                           .lin_budget = o->lin_budget,
                           .replay = replay,
                           .shown_models = shown};
    if (tr__report_write_dir(o->report_dir, &in, why, why_cap) != 0) {
        return 2;
    }
    report_written = true;
    fprintf(stderr, "troupe sim: seed %" PRIu64 ": report written to %s/index.html\n", res->seed,
            o->report_dir);
    return 0;
}

/* A sweep without a failing seed writes no page: said on stderr. */
void tr__sim_report_none(const tr__sim_opts *o) {
    if (o->report_dir != NULL && !report_written) {
        fprintf(stderr,
                "troupe sim: --report: no seed of %" PRIu64 "..%" PRIu64
                " failed, so no page was written (--report DIR writes a sweep's first failing "
                "seed; run one seed with --seed N for its page)\n",
                o->seed_lo, o->seed_hi);
    }
}
