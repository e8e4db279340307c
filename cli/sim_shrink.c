/* sim_shrink.c — `troupe sim --shrink` (see sim_shrink.h). */
#include "cli/sim_shrink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "harness/service_defaults.h"
#include "runtime/assert.h"
#include "sim/scenario.h"
#include "sim/shrink.h"

#define PATH_MAX_LEN 1024
#define LINE_MAX_LEN 2048
/* The link faults of the nemesis: probabilities for the whole run, not events of a schedule.
 * A replay keeps them. */
#define LINK_KINDS (TR_NEMESIS_LOSS | TR_NEMESIS_DUP | TR_NEMESIS_REORDER)

typedef struct shrink_run {
    tr_experiment_config cfg; /* the replay's: scenario_path = try_path, link kinds only */
    uint32_t nodes;
    char try_path[PATH_MAX_LEN + 8];
    char failed[160]; /* the failure: "workload: check" of the original run */
    uint64_t ops;     /* of the last run that failed */
    int error;        /* a tool error in a run (then the shrink stops) */
} shrink_run;

static int shrink_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shrink_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("troupe sim --shrink: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static uint64_t result_ops(const tr_experiment_result *r) {
    uint64_t n = 0;
    for (uint32_t k = 0; k < r->workload_count; k++) {
        n += r->workloads[k].ops_ok + r->workloads[k].ops_fail + r->workloads[k].ops_info;
    }
    return n;
}

/* Whether the check `what` ("workload: check") is violated in r; with what empty, the first
 * violated one is written there. */
static bool violated(const tr_experiment_result *r, char *what, size_t cap) {
    for (uint32_t k = 0; k < r->workload_count; k++) {
        const tr_workload_result *w = &r->workloads[k];
        for (uint32_t i = 0; i < w->check_count; i++) {
            char name[160];
            snprintf(name, sizeof name, "%s: %s", w->name, w->checks[i].name);
            if (w->checks[i].verdict != TR_VERDICT_VIOLATED) {
                continue;
            }
            if (what[0] == '\0') {
                snprintf(what, cap, "%s", name);
                return true;
            }
            if (strcmp(name, what) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* events[0..n) as a scenario file at path; 0 or TR_EIO. */
static int write_scenario(const char *path, const tr_scen_event *events, size_t n, uint32_t nodes,
                          const char *header) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return TR_EIO;
    }
    if (header != NULL) {
        fputs(header, f);
    }
    for (size_t i = 0; i < n; i++) {
        char line[TR_SCENARIO_LINE_MAX + 1];
        tr__scenario_format(&events[i], nodes, line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    bool bad = ferror(f) != 0;
    return fclose(f) != 0 || bad ? TR_EIO : 0;
}

/* The test of tr__shrink: the run with events[0..n) as its only faults. */
static int try_events(const tr_scen_event *events, size_t n, void *ud) {
    shrink_run *s = ud;
    tr_experiment_result *r;
    char err[512];
    if (write_scenario(s->try_path, events, n, s->nodes, NULL) != 0) {
        shrink_error("cannot write %s: %s", s->try_path, strerror(errno));
        return s->error = TR_EIO;
    }
    if (tr_experiment_run(&s->cfg, &r, err, sizeof err) != 0) {
        shrink_error("%s", err);
        return s->error = TR_EINVAL;
    }
    bool fails = violated(r, s->failed, sizeof s->failed);
    if (fails) {
        s->ops = result_ops(r);
    }
    tr_experiment_result_destroy(r);
    return fails ? 1 : 0;
}

/* The original run: its failure (s->failed), its faults (parsed into *faults) and its ops. 0
 * to shrink, or the exit status. */
static int original_run(const tr_experiment_config *cfg, shrink_run *s, tr_scenario *faults,
                        uint64_t *ops) {
    tr_experiment_result *r;
    char err[512];
    if (tr_experiment_run(cfg, &r, err, sizeof err) != 0) {
        return shrink_error("%s", err);
    }
    int rc = 0;
    *ops = result_ops(r);
    if (!violated(r, s->failed, sizeof s->failed)) {
        rc = r->verdict == TR_VERDICT_UNKNOWN ? 3 : 0;
        printf("shrink: seed %" PRIu64 " %s: nothing to shrink\n", cfg->sim.seed,
               rc ? "answered unknown (no check was violated)" : "held");
    } else if (r->scenario == NULL && r->fault_count > 0) {
        rc = shrink_error("the run's faults include a service fault kind, which a scenario "
                          "file cannot hold: nothing to shrink them into");
    } else if (r->scenario != NULL && tr__scenario_parse(r->scenario, strlen(r->scenario), s->nodes,
                                                         faults, err, sizeof err) != 0) {
        rc = shrink_error("the recorded faults do not read back: %s", err);
    }
    tr_experiment_result_destroy(r);
    return rc;
}

/* The replay's configuration: the recorded faults from a file in place of the random nemesis,
 * whose link faults (loss, dup, reorder: rates, not events) stay. */
static void replay_config(const tr_experiment_config *cfg, shrink_run *s, uint32_t *kinds) {
    tr_experiment_config resolved;
    *kinds = tr__service_defaults_config(cfg, &resolved)->nemesis.kinds & LINK_KINDS;
    s->cfg = *cfg;
    s->cfg.nemesis.kinds = *kinds;
    s->cfg.nemesis.scenario_path = s->try_path;
    s->cfg.trace = NULL;
}

static void print_schedule(const tr_scen_event *events, size_t n, uint32_t nodes) {
    for (size_t i = 0; i < n; i++) {
        char line[TR_SCENARIO_LINE_MAX + 1];
        tr__scenario_format(&events[i], nodes, line, sizeof line);
        printf("  %s\n", line);
    }
}

/* The minimal schedule written to out with its replay line as a header. */
static int write_result(const tr__shrink_opts *o, shrink_run *s, const tr__shrink_result *res,
                        const char *out, uint32_t kinds) {
    char replay[LINE_MAX_LEN], header[LINE_MAX_LEN * 2];
    o->replay(&s->cfg, out, kinds, o->replay_ud, replay, sizeof replay);
    snprintf(header, sizeof header,
             "# troupe sim --shrink, seed %" PRIu64 ": %zu fault%s after which %s is violated%s\n"
             "# replay: %s\n",
             s->cfg.sim.seed, res->faults.count, res->faults.count == 1 ? "" : "s", s->failed,
             res->minimal ? "; without any one of them it holds" : " (not proven 1-minimal)",
             replay);
    if (write_scenario(out, res->faults.events, res->faults.count, s->nodes, header) != 0) {
        return shrink_error("cannot write %s: %s", out, strerror(errno));
    }
    printf("written: %s\nreplay: %s\n", out, replay);
    return 0;
}

/* The workload's reduction, when there was one. */
static void print_workload(const tr_experiment_config *from, const tr_experiment_config *to) {
    if (from->duration_ns != to->duration_ns) {
        printf("workload: --duration %.3fs -> %.3fs\n", from->duration_ns / 1e9,
               to->duration_ns / 1e9);
    }
    if (from->clients_per_node != to->clients_per_node) {
        printf("workload: --clients %u -> %u\n", from->clients_per_node, to->clients_per_node);
    }
}

static void print_outcome(const tr__shrink_result *res, uint64_t budget) {
    if (res->minimal && res->faults.count == 0) {
        printf("1-minimal: the run fails without any scheduled fault (the bug alone, with the "
               "link faults the replay keeps)\n");
    } else if (res->minimal) {
        printf("1-minimal: removing any one of the %zu faults makes the run pass (the last "
               "pass ran each removal)\n",
               res->faults.count);
    } else {
        printf("run budget exhausted (--shrink-runs %" PRIu64 "): the smallest failing schedule "
               "found, NOT proven 1-minimal\n",
               budget);
    }
}

/* One smaller workload tried: kept (1) if the run still fails with the faults of res. */
static int try_config(shrink_run *s, const tr__shrink_result *res, uint64_t *runs, uint64_t budget,
                      const tr_experiment_config *smaller) {
    if (*runs >= budget) {
        return 0;
    }
    tr_experiment_config keep = s->cfg;
    s->cfg = *smaller;
    (*runs)++;
    int rc = try_events(res->faults.events, res->faults.count, s);
    if (rc != 1) {
        s->cfg = keep;
    }
    return rc;
}

/* The client operations: one client per node, then a workload cut short (whole milliseconds,
 * after the last fault), each kept while the run still fails. 1 if the workload shrank, 0 if
 * not, or a tool error. */
static int shrink_ops(shrink_run *s, const tr__shrink_opts *o, const tr__shrink_result *res,
                      uint64_t *runs, uint64_t budget) {
    const uint64_t ms = 1000000;
    bool shrank = false;
    tr_experiment_config c = s->cfg;
    if (o->clients && c.clients_per_node != 1) {
        c.clients_per_node = 1;
        int rc = try_config(s, res, runs, budget, &c);
        if (rc < 0) {
            return rc;
        }
        shrank = rc == 1;
    }
    uint64_t last = res->faults.count ? res->faults.events[res->faults.count - 1].at_ns : 0;
    uint64_t floor_ns = (last / ms + 1) * ms; /* the first whole ms after the last fault */
    while (s->cfg.duration_ns - floor_ns >= 2 * ms * 1000) { /* down to within 2 s of it */
        c = s->cfg;
        c.duration_ns = (floor_ns + (s->cfg.duration_ns - floor_ns) / 2) / ms * ms;
        int rc = try_config(s, res, runs, budget, &c);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            break; /* a shorter run passes: keep this length */
        }
        shrank = true;
    }
    return shrank ? 1 : 0;
}

int tr__sim_shrink(const tr_experiment_config *cfg, const tr__shrink_opts *o) {
    TR_ASSERT(cfg != NULL && o != NULL && o->replay != NULL);
    shrink_run s = {.nodes = cfg->sim.nodes};
    char out[PATH_MAX_LEN];
    uint64_t budget = o->max_runs ? o->max_runs : TR__SHRINK_RUNS_DEFAULT, ops_before;
    snprintf(out, sizeof out, "%s", o->out_path ? o->out_path : "");
    if (o->out_path == NULL) {
        snprintf(out, sizeof out, "shrunk-%" PRIu64 ".scenario", cfg->sim.seed);
    }
    snprintf(s.try_path, sizeof s.try_path, "%s.try", out);
    tr_scenario faults = {0};
    int rc = original_run(cfg, &s, &faults, &ops_before);
    if (rc != 0 || s.failed[0] == '\0') {
        return rc;
    }
    uint32_t kinds;
    replay_config(cfg, &s, &kinds);
    printf("shrink: seed %" PRIu64 ": %s violated; %zu faults recorded, %" PRIu64 " ops\n",
           cfg->sim.seed, s.failed, faults.count, ops_before);
    if (try_events(faults.events, faults.count, &s) != 1) {
        remove(s.try_path);
        tr__scenario_free(&faults);
        return s.error ? 2
                       : shrink_error("the %zu recorded faults replayed from a scenario file do "
                                      "not reproduce the failure; nothing to shrink",
                                      faults.count);
    }
    tr__shrink_result res;
    rc = tr__shrink(&faults, budget, try_events, &s, &res);
    uint64_t runs = res.runs;
    if (rc == 0 && res.minimal) { /* then the operations, and the faults again under them */
        rc = shrink_ops(&s, o, &res, &runs, budget);
        if (rc == 1) {
            tr__shrink_result again;
            rc = tr__shrink(&res.faults, budget - runs, try_events, &s, &again);
            runs += again.runs;
            tr__shrink_result_free(&res);
            res = again;
        }
    }
    res.runs = runs;
    remove(s.try_path);
    if (rc == 0) {
        printf("faults: %zu -> %zu; ops: %" PRIu64 " -> %" PRIu64 "; runs: %" PRIu64
               " (+2: the original and its replay)\n",
               faults.count, res.faults.count, ops_before, s.ops, res.runs);
        print_workload(cfg, &s.cfg);
        print_outcome(&res, budget);
        print_schedule(res.faults.events, res.faults.count, s.nodes);
        rc = write_result(o, &s, &res, out, kinds);
    }
    tr__shrink_result_free(&res);
    tr__scenario_free(&faults);
    return rc == 0 ? 1 : 2;
}
