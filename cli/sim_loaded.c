/* sim_loaded.c — `troupe sim --load PATH.so --workload NAME`, and the built-in services that
 * run exactly as a loaded module does (lin-kv, lock, entity, pubsub, shop and the CRDTs):
 * the flags into a tr_experiment_config, then one run, a sweep with the measures its checks
 * reported, --check-determinism or --shrink. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/sim_cli.h"
#include "harness/builtin.h"
#include "harness/builtin_entity.h"
#include "harness/builtin_linkv.h"
#include "harness/builtin_lock.h"
#include "harness/builtin_shop.h"
#include "harness/nemesis.h"
#include "harness/randomize.h"

#define LOADS_MAX 8

static int load_usage(const char *why) {
    tr__sim_error("%s", why);
    return 2;
}

/* The measures the checks of a sweep's runs reported (tr_check_measure), one value per run
 * that reported it, for the summary: at most MEASURE_NAMES_MAX names and MEASURE_RUNS_MAX
 * values each (a longer sweep summarises its first runs and says so). */
#define MEASURE_NAMES_MAX 8
#define MEASURE_RUNS_MAX (1u << 20)
typedef struct measure_runs {
    const char *name; /* the service's literal */
    double *v, sum;
    uint32_t n, cap;
    bool capped;
} measure_runs;

static void measure_add(measure_runs *m, const tr_measure *x) {
    for (uint32_t i = 0; i < MEASURE_NAMES_MAX; i++) {
        if (m[i].name != NULL && strcmp(m[i].name, x->name) != 0) {
            continue;
        }
        m[i].name = x->name;
        if (m[i].n == m[i].cap) {
            uint32_t cap = m[i].cap ? m[i].cap * 2 : 256;
            double *v = cap <= MEASURE_RUNS_MAX ? realloc(m[i].v, cap * sizeof *v) : NULL;
            m[i].capped |= v == NULL;
            if (v == NULL) {
                return;
            }
            m[i].v = v;
            m[i].cap = cap;
        }
        m[i].v[m[i].n++] = x->value;
        m[i].sum += x->value;
        return;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* "measure NAME: runs N, sum S, min/p50/p90/p99/max" per name; frees the values. */
static void measures_print(measure_runs *m) {
    for (uint32_t i = 0; i < MEASURE_NAMES_MAX && m[i].name; i++) {
        uint32_t n = m[i].n;
        qsort(m[i].v, n, sizeof m[i].v[0], cmp_double);
        printf("measure %s: %u runs, sum %.0f, min %g, p50 %g, p90 %g, p99 %g, max %g%s\n",
               m[i].name, n, m[i].sum, m[i].v[0], m[i].v[n / 2], m[i].v[n * 9 / 10],
               m[i].v[n * 99 / 100], m[i].v[n - 1], m[i].capped ? " (the first runs only)" : "");
        free(m[i].v);
    }
}

/* A --load run's options and configuration, its history write errors and, in a sweep, its
 * measures. */
typedef struct loaded_run {
    const tr__sim_opts *o;
    const tr_experiment_config *cfg;
    uint64_t write_errors;
    measure_runs measures[MEASURE_NAMES_MAX]; /* a sweep's */
} loaded_run;

/* A --load run's result: printed, and its history written with --history. */
static void loaded_result(const tr_experiment_result *r, void *ud) {
    loaded_run *lr = ud;
    for (uint32_t i = 0; i < r->check_count; i++) {
        for (uint32_t k = 0; k < r->checks[i].measure_count; k++) {
            measure_add(lr->measures, &r->checks[i].measures[k]);
        }
    }
    tr__sim_print_loaded(r, lr->o, lr->cfg);
    char why[160];
    if (lr->o->report_dir != NULL &&
        tr__sim_report_run(lr->o, lr->cfg, r, (int)r->verdict, r->replay, why, sizeof why) != 0) {
        fprintf(stderr, "troupe sim: seed %" PRIu64 ": %s\n", r->seed, why);
        lr->write_errors++;
    }
    for (uint32_t k = 0; k < r->workload_count; k++) {
        tr__sim_history_cap_note(r->seed, &r->workloads[k]);
    }
    if (lr->o->history != NULL && tr__sim_write_history(lr->o, r->seed, "", r->history) != 0) {
        lr->write_errors++;
    }
}

/* The sweep's summary line, its measures and its first failing seed's replay. */
static int sweep_print(const tr__sim_opts *o, tr_sweep_summary *s, measure_runs *m) {
    tr__sim_report_none(o);
    printf("seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64 " runs, %" PRIu64 " held, %" PRIu64
           " violated, %" PRIu64 " unknown, %" PRIu64 " errors\n",
           o->seed_lo, o->seed_hi, s->runs, s->held, s->violated, s->unknown, s->errors);
    measures_print(m);
    if (s->violated + s->unknown > 0) {
        printf("first failing seed %" PRIu64 "; replay: %s\n", s->first_failing_seed,
               s->first_replay);
    }
    return s->errors ? 2 : s->violated ? 1 : s->unknown ? 3 : 0;
}

/* ---- --jobs N: a --load sweep on N processes ------------------------------------------
 * The seeds split into N consecutive ranges, one per forked process. Each writes what the
 * one-process sweep prints for its seeds into a temporary file, and its tally (counts, first
 * failing seed, replay, measure values) into another; the parent prints the outputs in seed
 * order, then the one summary of the whole sweep, so the output is that of the one-process
 * sweep. */

typedef struct job {
    pid_t pid;
    FILE *out, *tally; /* unlinked temporary files */
    uint64_t lo, hi;
} job;

static FILE *job_tmpfile(void) {
    char path[] = "/tmp/troupe-sim-job-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return NULL;
    }
    unlink(path);
    FILE *f = fdopen(fd, "w+");
    if (f == NULL) {
        close(fd);
    }
    return f;
}

/* In the child: the sweep of j's seeds, its output on j->out, its tally on j->tally. */
static int job_child(tr_experiment_config *cfg, const tr__sim_opts *o, const job *j) {
    fflush(stdout);
    if (dup2(fileno(j->out), STDOUT_FILENO) < 0) {
        return 2;
    }
    loaded_run lr = {.o = o, .cfg = cfg};
    tr_sweep_summary s;
    char err[512];
    if (tr_experiment_sweep(cfg, j->lo, j->hi, &s, loaded_result, &lr, err, sizeof err) != 0) {
        tr__sim_error("%s", err);
        return 2;
    }
    fflush(stdout);
    FILE *t = j->tally;
    fprintf(t, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n%s\n",
            s.runs, s.held, s.violated, s.unknown, s.errors + lr.write_errors, s.first_failing_seed,
            s.first_replay);
    for (uint32_t i = 0; i < MEASURE_NAMES_MAX && lr.measures[i].name; i++) {
        for (uint32_t k = 0; k < lr.measures[i].n; k++) {
            fprintf(t, "%.17g %s\n", lr.measures[i].v[k], lr.measures[i].name);
        }
    }
    return fflush(t) == 0 ? 0 : 2;
}

/* Adds a finished job's tally to s and m (names into names[], MEASURE_NAMES_MAX x 64). 0, or
 * -1 when the tally is unreadable (the job failed). */
static int job_tally(job *j, tr_sweep_summary *s, measure_runs *m, char (*names)[64]) {
    tr_sweep_summary t = {0};
    char line[640];
    rewind(j->tally);
    if (fscanf(j->tally, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
               &t.runs, &t.held, &t.violated, &t.unknown, &t.errors, &t.first_failing_seed) != 6 ||
        fgetc(j->tally) != '\n' || fgets(line, sizeof line, j->tally) == NULL) {
        return -1;
    }
    line[strcspn(line, "\n")] = '\0';
    if (s->violated + s->unknown == 0 && t.violated + t.unknown > 0) {
        s->first_failing_seed = t.first_failing_seed; /* jobs are read in seed order */
        snprintf(s->first_replay, sizeof s->first_replay, "%s", line);
    }
    s->runs += t.runs;
    s->held += t.held;
    s->violated += t.violated;
    s->unknown += t.unknown;
    s->errors += t.errors;
    double v;
    char name[64];
    while (fscanf(j->tally, "%lg %63s", &v, name) == 2) {
        uint32_t i = 0;
        while (i < MEASURE_NAMES_MAX && names[i][0] && strcmp(names[i], name) != 0) {
            i++;
        }
        if (i == MEASURE_NAMES_MAX) {
            continue; /* as many names as the one-process sweep keeps */
        }
        if (!names[i][0]) {
            snprintf(names[i], sizeof names[i], "%s", name);
        }
        measure_add(m, &(tr_measure){.name = names[i], .value = v});
    }
    return 0;
}

/* Copies a finished job's output to stdout. */
static void job_output(job *j) {
    char buf[8192];
    size_t n;
    rewind(j->out);
    while ((n = fread(buf, 1, sizeof buf, j->out)) > 0) {
        fwrite(buf, 1, n, stdout);
    }
}

static int sweep_jobs(tr_experiment_config *cfg, const tr__sim_opts *o, uint32_t jobs) {
    uint64_t seeds = o->seed_hi - o->seed_lo + 1;
    if (jobs > seeds) {
        jobs = (uint32_t)seeds;
    }
    job *js = calloc(jobs, sizeof *js);
    if (js == NULL) {
        return load_usage("--jobs: out of memory");
    }
    int rc = 0;
    uint32_t started = 0;
    fflush(stdout);
    fflush(stderr);
    for (uint32_t k = 0; k < jobs; k++, started++) {
        job *j = &js[k];
        j->lo = o->seed_lo + seeds * k / jobs;
        j->hi = o->seed_lo + seeds * (k + 1) / jobs - 1;
        j->out = job_tmpfile();
        j->tally = job_tmpfile();
        j->pid = j->out && j->tally ? fork() : -1;
        if (j->pid == 0) {
            _exit(job_child(cfg, o, j));
        }
        if (j->pid < 0) {
            tr__sim_error("--jobs: cannot start a process: %s", strerror(errno));
            rc = 2;
            break;
        }
    }
    tr_sweep_summary s = {0};
    measure_runs m[MEASURE_NAMES_MAX] = {0};
    char names[MEASURE_NAMES_MAX][64] = {{0}};
    for (uint32_t k = 0; k < jobs; k++) {
        job *j = &js[k];
        int st = 0;
        if (k < started && (waitpid(j->pid, &st, 0) != j->pid || !WIFEXITED(st) ||
                            WEXITSTATUS(st) != 0 || job_tally(j, &s, m, names) != 0)) {
            tr__sim_error("--jobs: the process for seeds %" PRIu64 "..%" PRIu64 " failed", j->lo,
                          j->hi);
            rc = 2;
        }
        if (k < started && rc == 0) {
            job_output(j);
        }
        if (j->out) {
            fclose(j->out);
        }
        if (j->tally) {
            fclose(j->tally);
        }
    }
    free(js);
    if (rc != 0) {
        for (uint32_t i = 0; i < MEASURE_NAMES_MAX; i++) {
            free(m[i].v);
        }
        return rc;
    }
    return sweep_print(o, &s, m);
}

static int run_loaded_config(tr_experiment_config *cfg, tr__sim_opts *o, uint32_t jobs) {
    char err[512];
    if (jobs > 1) {
        if (!o->sweep || o->check_determinism || o->shrink || o->report_dir != NULL) {
            return load_usage("--jobs N runs a sweep on N processes: it needs --seeds A..B, "
                              "and not --check-determinism, --shrink or --report");
        }
        return sweep_jobs(cfg, o, jobs);
    }
    if (o->shrink) {
        return tr__sim_shrink_run(cfg, o);
    }
    if (o->check_determinism) {
        o->loaded = cfg;
        return tr__sim_check_determinism(o);
    }
    loaded_run lr = {.o = o, .cfg = cfg};
    if (o->sweep) {
        tr_sweep_summary s;
        if (tr_experiment_sweep(cfg, o->seed_lo, o->seed_hi, &s, loaded_result, &lr, err,
                                sizeof err) != 0) {
            return load_usage(err);
        }
        s.errors += lr.write_errors;
        return sweep_print(o, &s, lr.measures);
    }
    tr_experiment_result *r;
    if (tr_experiment_run(cfg, &r, err, sizeof err) != 0) {
        return load_usage(err);
    }
    loaded_result(r, &lr);
    int rc = lr.write_errors > 0 ? 2 : (int)r->verdict;
    tr_experiment_result_destroy(r);
    return rc;
}

const tr_service *tr__sim_builtin_loaded(const char *name) {
    return !strcmp(name, "lin-kv")   ? &tr__builtin_linkv
           : !strcmp(name, "lock")   ? &tr__builtin_lock
           : !strcmp(name, "entity") ? &tr__builtin_entity
           : !strcmp(name, "pubsub") ? &tr__builtin_pubsub
           : !strcmp(name, "shop")   ? &tr__builtin_shop
                                     : tr__builtin_crdt_find(name);
}

/* A --load command line: the options, the modules' services and what becomes the
 * experiment's configuration (its pointers into this struct, which outlives it). */
typedef struct loaded_args {
    tr__sim_opts o;
    tr_experiment_config cfg;
    const char *paths[LOADS_MAX];
    const tr_service *svcs[LOADS_MAX + 1];
    uint32_t loads;
    const char *workload, *nemesis;
    char service_faults[256];
} loaded_args;

/* The defaults of a --load run: the runner's. */
static void loaded_defaults(loaded_args *la) {
    memset(la, 0, sizeof *la);
    tr_experiment_config_init(&la->cfg);
    tr__sim_opts *o = &la->o;
    o->trace.node = -1;
    o->seed_lo = o->seed_hi = 1;
    o->nodes = 5;
    o->duration_ns = la->cfg.duration_ns;
    o->rate = la->cfg.rate;
    o->keys = la->cfg.keys;
    o->knobs = la->cfg.sim;
    o->net = la->cfg.sim.net;
    o->op_timeout_ms = la->cfg.op_timeout_ms;
}

/* One option a of a --load command line with its value v; 0, or 2 after a one-line error. */
static int loaded_option(loaded_args *la, const tr__sim_option *opt, const char *v) {
    const char *a = opt->name;
    char err[512];
    if (!strcmp(a, "--json")) {
        la->o.json = true;
    } else if (!strcmp(a, "--check-determinism")) {
        la->o.check_determinism = true;
    } else if (tr__sim_parse_flag(a, &la->o)) {
        return 0;
    } else if (!strcmp(a, "--load")) {
        if (la->loads == LOADS_MAX) {
            return load_usage("--load at most 8 times");
        }
        if (tr_service_load(v, &la->svcs[la->loads], err, sizeof err) != 0) {
            return load_usage(err);
        }
        la->paths[la->loads++] = v;
    } else if (!strcmp(a, "--workload")) {
        la->workload = v;
    } else if (!strcmp(a, "--nemesis")) {
        la->nemesis = v;
    } else if (!strcmp(a, "--bug")) {
        la->cfg.bug = v;
    } else if (!strcmp(a, "--scenario")) {
        la->cfg.nemesis.scenario_path = v;
    } else if (tr__sim_parse_value(a, v, &la->o) != 0) {
        tr__sim_error("%s '%s': expected %s", a, v, opt->expects);
        return 2;
    }
    return 0;
}

/* argv into *la, checked; 0, or 2 after a one-line error. */
static int loaded_parse(int argc, char **argv, loaded_args *la) {
    tr__sim_opts *o = &la->o;
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *v;
        const tr__sim_option *opt = tr__sim_next_option(argc, argv, &i, true, &v);
        if (opt == NULL || loaded_option(la, opt, v) != 0) {
            return 2;
        }
    }
    if (la->workload == NULL) {
        return load_usage("--load needs --workload NAME (a loaded service's name)");
    }
    if (tr__sim_shrink_refuses(o) != 0) {
        return 2;
    }
    if (tr__sim_check_trace(o, o->check_determinism) != 0 || tr__sim_check_report(o) != 0) {
        return 2;
    }
    if (la->nemesis != NULL &&
        tr__nemesis_parse(la->nemesis, &la->cfg.nemesis.kinds, la->service_faults,
                          sizeof la->service_faults, err, sizeof err) != 0) {
        tr__sim_nemesis_error(err);
        return 2;
    }
    if (la->nemesis != NULL && tr__sim_net_refuses(la->cfg.nemesis.kinds, o->net, la->nemesis)) {
        return 2;
    }
    return 0;
}

/* The options into the experiment's configuration; a built-in service named by --workload
 * runs as a loaded one when no module is loaded. */
static void loaded_config(loaded_args *la) {
    tr_experiment_config *cfg = &la->cfg;
    const tr__sim_opts *o = &la->o;
    cfg->trace = o->tracing ? &o->trace : NULL;
    cfg->spans = o->spans.path ? &o->spans : NULL;
    cfg->nemesis.service_faults = la->service_faults[0] ? la->service_faults : NULL;
    cfg->sim.seed = o->seed_lo;
    cfg->sim.nodes = o->nodes;
    cfg->sim.net = o->net;
    uint32_t count = la->loads;
    const tr_service *builtin = la->loads == 0 ? tr__sim_builtin_loaded(la->workload) : NULL;
    if (builtin != NULL) {
        la->svcs[count++] = builtin;
    }
    cfg->services = la->svcs;
    cfg->service_count = count;
    cfg->workload = la->workload;
    cfg->duration_ns = o->duration_ns;
    cfg->rate = o->rate;
    cfg->keys = o->keys;
    cfg->load_paths = la->paths;
    cfg->load_path_count = la->loads;
    cfg->lin_budget = o->lin_budget;
    tr__randomize_copy(&o->knobs, &cfg->sim);
    cfg->op_timeout_ms = o->op_timeout_ms;
    cfg->randomize = o->randomize;
}

/* argv with --load: the services come from modules and run through the experiment runner. */
int tr__sim_run_loaded(int argc, char **argv, uint32_t jobs) {
    loaded_args la;
    loaded_defaults(&la);
    if (loaded_parse(argc, argv, &la) != 0) {
        return 2;
    }
    loaded_config(&la);
    return run_loaded_config(&la.cfg, &la.o, jobs);
}
