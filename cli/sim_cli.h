/* sim_cli.h — what the files of `troupe sim` share (cli/cmd_sim.c is the command): its
 * options, one run's figures, and the functions each file gives the others.
 *   sim_usage.c        --help
 *   sim_options.c      the option table, the flags into tr__sim_opts and what they cannot
 *                      combine with, --scenario's file, --jobs
 *   sim_run.c          one seed of a built-in workload through the experiment runner
 *   sim_results.c      an experiment's result into the figures of one run (tr__sim_run)
 *   sim_output.c       one run's report: the text table, the --json line, the replay line
 *   sim_sweep.c        --seeds A..B (a shard of it with --shard) and its summary
 *   sim_determinism.c  --check-determinism
 *   sim_page.c         --report DIR
 *   sim_loaded.c       --load and the services run as loaded ones (lin-kv, lock, ...)
 *   sim_loaded_print.c a loaded service's run as text or JSON
 * sim_shard.c (--merge, --jobs) and sim_shrink.c (--shrink) know none of this header.
 * Ownership: the options borrow argv and their files' contents live in tr__sim_opts.scen
 * (freed by tr__scenario_free); a tr__sim_run's faults point at a static copy, valid until
 * the next run. Threading: none; the CLI's thread runs one seed at a time. */
#ifndef TR_CLI_SIM_CLI_H
#define TR_CLI_SIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "harness/check_convergence.h"
#include "harness/check_stock.h"
#include "sim/checkers.h"
#include "sim/lincheck.h"
#include "sim/scenario.h"
#include "troupe.h"

/* How long after the heal AP replicas may take to agree (and CP ops to finish). */
#define TR__SIM_SETTLE_NS ((uint64_t)10 * 1000000000)
/* The linearizability search budget per key (--lin-budget). */
#define TR__SIM_LIN_BUDGET_DEFAULT 200000u

/* One `troupe sim` command line; its strings borrow argv. */
typedef struct tr__sim_opts {
    uint64_t seed_lo, seed_hi;
    bool sweep;
    uint32_t shard, shards; /* --shard I/N (0/1 without it) */
    bool shard_given;
    uint32_t nodes;
    bool cp, ap;
    bool stock; /* --workload stock (then cp and ap are off) */
    uint32_t nemesis;
    const char *nemesis_text;
    uint64_t duration_ns;
    double rate;
    bool json;
    const char *history;
    uint32_t bugs;
    const char *bug_text;
    bool check_determinism;
    uint32_t keys;
    uint32_t clients_per_node;
    uint32_t lin_budget; /* --lin-budget: configurations per key */
    bool nemesis_given;
    const char *scenario_path; /* --scenario FILE */
    tr_scenario scen;          /* its faults, parsed before any sim starts */
    /* --load: the experiment of the loaded services (its seed set per run), or NULL. */
    const tr_experiment_config *loaded;
    tr_sim_net net;         /* --net */
    tr_sim_config knobs;    /* --delay ... --detect, --buggify (harness/randomize.h) */
    uint32_t op_timeout_ms; /* --op-timeout */
    bool randomize;         /* --randomize: nodes and knobs drawn per seed */
    bool all_faults;        /* --all-faults: the whole fault timeline in the text report */
    bool tracing;           /* --trace FILE: the run's events (trace) */
    tr_sim_trace_spec trace;
    tr_sim_spans_spec spans; /* --spans FILE (path NULL: none), --trace-sample P */
    bool spans_sample_given;
    bool shrink;            /* --shrink: the failing run's faults to a 1-minimal schedule */
    const char *shrink_out; /* --shrink-out FILE */
    uint32_t shrink_runs;   /* --shrink-runs N */
    const char *report_dir; /* --report DIR: the run's page (sim/report.h) */
} tr__sim_opts;

/* Room for one rendered counterexample (TR_CE_OPS_MAX operations and the dead ends). */
#define TR__SIM_CE_RENDER_MAX 24576

/* The verdicts of one store in one run. */
typedef struct tr__sim_store_result {
    bool ran;
    uint64_t ok, fail, info, ops;
    tr__lin_result lin;
    tr_avail_result avail;
    bool converged;
    uint64_t converged_after_ns;
    bool lin_unchecked; /* no linearizability search ran (the runner's ap: not promised) */
    bool conv_untimed;  /* converged from the final states; no time after heal measured */
    tr_convergence_result conv;
    bool conv_checked;
    uint64_t record_errors;
    bool violated;
    bool unknown; /* a stated guarantee could not be decided (search budget) */
    char why[160];
    char note[200]; /* an expected weakness shown, not a violation */
    /* A violated key's counterexample, rendered while its history lives: text and JSON
     * (empty: none). */
    char ce_text[TR__SIM_CE_RENDER_MAX], ce_json[TR__SIM_CE_RENDER_MAX];
} tr__sim_store_result;

/* The verdicts of the stock workload in one run. */
typedef struct tr__sim_stock_result {
    bool ran;
    uint64_t ok, fail, info, ops;
    uint64_t f_ok[5], f_all[5]; /* per tr_op_f: ok completions, invokes */
    uint64_t abandoned;
    uint64_t record_errors;
    tr_stock_check_result chk;
    int64_t final_level[TR_STOCK_REPORT_ITEMS_MAX];
    bool final_known[TR_STOCK_REPORT_ITEMS_MAX];
    tr_stock_bounds bounds[TR_STOCK_REPORT_ITEMS_MAX];
    uint32_t items;
    tr_avail_result avail;
    uint64_t refused[3]; /* "out of stock" fails: whole run, majority, minority side */
    bool violated;
    bool unknown; /* an invariant failed where the check it rests on did not hold */
    char why[480];
    char note[160];
    /* chk's first negative and suspect ops, formatted while the history lives (their f and
     * error point into it) */
    char negative_text[200], suspect_text[200];
} tr__sim_stock_result;

/* The figures of one run of a built-in workload, as the report prints them. */
typedef struct tr__sim_run {
    uint64_t seed;
    uint64_t trace_hash;
    uint64_t minority_mask;
    uint64_t part_from_ns, part_to_ns;
    bool partitioned;
    tr_sim_stats stats;
    const tr_fault_span *faults; /* the fault timeline (a static copy: one run at a time) */
    uint32_t fault_count;
    tr_sim_net_stats net; /* --net protocol: what the protocol did (net_ok) */
    bool net_ok;
    double wall_s;  /* simulating only: the tr_sim_run_* calls */
    double cpu_s;   /* the same span in this thread's CPU time (a loaded machine inflates
                       wall_s, not this) */
    double check_s; /* running the checkers */
    uint64_t virtual_ns;
    tr__sim_store_result cp, ap;
    tr__sim_stock_result stock;
    bool tool_error;
    char tool_why[160];
} tr__sim_run;

/* An option of `troupe sim`, for both paths: what it expects is the limit an error states. */
typedef struct tr__sim_option {
    const char *name;
    bool value;   /* takes a value */
    bool builtin; /* accepted by the built-in workloads */
    bool loaded;  /* accepted with --load */
    const char *expects;
} tr__sim_option;

/* sim_usage.c: the --help text to f. */
void tr__sim_usage(FILE *f);

/* sim_options.c. Errors print one line ("troupe sim: ...; see --help") and return
 * TR_EINVAL unless said otherwise. */
int tr__sim_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The next option of argv at *i (advanced past its value): NULL after an error; *v its
 * value (borrowed from argv) or NULL. */
const tr__sim_option *tr__sim_next_option(int argc, char **argv, int *i, bool loaded,
                                          const char **v);
/* A --nemesis parse error, with the valid kinds when a name was not one. */
int tr__sim_nemesis_error(const char *err);
/* One option's value into o; TR_EINVAL when it breaks the option's limit (not printed). */
int tr__sim_parse_value(const char *a, const char *v, tr__sim_opts *o);
/* --randomize, --buggify, --no-buggify, --all-faults, --shrink into o: whether a is one. */
bool tr__sim_parse_flag(const char *a, tr__sim_opts *o);
/* Dup and reorder refused unless the network is the oracle's. */
int tr__sim_net_refuses(uint32_t kinds, tr_sim_net net, const char *text);
/* What --shrink cannot run with; --shrink-out and --shrink-runs without it. */
int tr__sim_shrink_refuses(const tr__sim_opts *o);
/* The trace's and the spans' options that cannot apply, or a trace file that cannot be
 * written (TR_EIO). */
int tr__sim_check_trace(const tr__sim_opts *o, bool check_determinism);
/* The built-in workloads' argv into *o, checked. */
int tr__sim_parse_args(int argc, char **argv, tr__sim_opts *o);
/* Reads and checks --scenario FILE into o->scen (the error names the file's line). */
int tr__sim_load_scenario(tr__sim_opts *o);
/* Takes "--jobs N" out of argv into *jobs: 0, or 2 after a one-line error. */
int tr__sim_take_jobs(int *argc, char **argv, uint32_t *jobs);
/* This seed's options: o, or with --randomize a copy in *buf with the draw in place. */
const tr__sim_opts *tr__sim_seed_opts(const tr__sim_opts *o, uint64_t seed, tr__sim_opts *buf);
/* The --workload value that names o's workloads: stock, both, cp or ap. */
const char *tr__sim_workload_name(const tr__sim_opts *o);

/* sim_run.c */
/* The built-in services of a run and its experiment; cfg points into the struct, which
 * must outlive it. */
typedef struct tr__sim_builtin {
    const tr_service *svcs[3];
    const char *names[3];
    tr_experiment_config cfg;
} tr__sim_builtin;
/* The experiment of seed: every flag as `troupe sim --load` maps it, so that a built-in run
 * and a run of the same service loaded from its module are the same experiment. */
void tr__sim_builtin_config(const tr__sim_opts *o, uint64_t seed, tr__sim_builtin *b);
/* One seed: run, check, figures into *r. Returns 0/1/2/3 as the exit status (2: the error
 * printed, *r not to be reported). */
int tr__sim_run_seed(const tr__sim_opts *o, uint64_t seed, tr__sim_run *r);
/* The run's verdict: violated over unknown over held. */
tr_verdict tr__sim_run_verdict(const tr__sim_run *r);
/* --history FILE: h (borrowed) written as the store's history of seed; 0 or TR_EIO after
 * saying why. */
int tr__sim_write_history(const tr__sim_opts *o, uint64_t seed, const char *store,
                          const tr_history *h);
/* A history at its cap, said on stderr with the time clients stopped. */
void tr__sim_history_cap_note(uint64_t seed, const tr_workload_result *w);
/* The monotonic clock, in seconds: how long a run took (never an input of one). */
double tr__sim_wall_now(void);

/* sim_results.c */
tr_avail_counts tr__sim_avail_counts(const tr_availability *a);
/* Workload k's share of res into the table's figures of r. */
void tr__sim_part_from_result(const tr__sim_opts *o, const tr_experiment_result *res, uint32_t k,
                              tr__sim_run *r);

/* sim_output.c */
/* The --net value that names a network. */
const char *tr__sim_net_name(tr_sim_net net);
/* The names n<i+1> of the nodes below `nodes` whose bit in mask is `in`, comma-separated. */
void tr__sim_format_mask(char *buf, size_t cap, uint64_t mask, uint32_t nodes, bool in);
/* "P% (ok/done)", or "-" when nothing was counted. */
void tr__sim_format_pct(char *buf, size_t cap, const tr_avail_counts *c);
/* The command that replays seed (with --randomize: the drawn values as options), to f. */
void tr__sim_print_replay(const tr__sim_opts *o, uint64_t seed, FILE *f);
/* The same into buf[TR__SWEEP_LINE_MAX] (cut at its end). */
void tr__sim_replay_line(const tr__sim_opts *o, uint64_t seed, char *buf);
/* Each fault that took effect, the first 20 unless all. */
void tr__sim_print_fault_timeline(const tr_fault_span *f, uint32_t n, bool all);
/* One run's report: text, or the --json line. */
void tr__sim_print_human(const tr__sim_opts *o, const tr__sim_run *r);
void tr__sim_print_json(const tr__sim_opts *o, const tr__sim_run *r);
/* JSON pieces on stdout: a string (null when empty); "name":fraction, (null when < 0); the
 * names of mask's nodes as an array; the fault timeline as "fault_timeline":[...]. */
void tr__sim_json_str(const char *s);
void tr__sim_json_fraction(const char *name, double x);
void tr__sim_json_nodes(uint64_t mask, uint32_t nodes);
void tr__sim_json_fault_timeline(const tr_fault_span *f, uint32_t n);

/* sim_sweep.c: the seeds of the range, each reported, then the summary; the exit status. */
int tr__sim_sweep(const tr__sim_opts *o);

/* sim_determinism.c: each seed run twice and compared; 0 identical, 1 diverged, 2 error. */
int tr__sim_check_determinism(const tr__sim_opts *o);

/* sim_page.c */
/* --report cannot go with --check-determinism. */
int tr__sim_check_report(const tr__sim_opts *o);
/* The page of res (exit status rc) into --report's directory: every single run, and in a
 * sweep the first seed that failed. 0, or 2 with why (one line). */
int tr__sim_report_run(const tr__sim_opts *o, const tr_experiment_config *cfg,
                       const tr_experiment_result *res, int rc, const char *replay, char *why,
                       size_t why_cap);
/* A sweep without a failing seed writes no page: said on stderr. */
void tr__sim_report_none(const tr__sim_opts *o);

/* sim_loaded.c */
/* The built-in service that `--workload name` runs as a loaded one, or NULL. */
const tr_service *tr__sim_builtin_loaded(const char *name);
/* argv with --load (or a service of tr__sim_builtin_loaded), --jobs already taken out (jobs,
 * 1 without it; more runs a sweep on that many processes): the exit status. */
int tr__sim_run_loaded(int argc, char **argv, uint32_t jobs);

/* sim_loaded_print.c: a loaded service's run as text or the --json line. */
void tr__sim_print_loaded(const tr_experiment_result *r, const tr__sim_opts *o,
                          const tr_experiment_config *cfg);

/* cmd_sim.c: --shrink of cfg's seed (tr__sim_shrink); its exit status. */
int tr__sim_shrink_run(const tr_experiment_config *cfg, const tr__sim_opts *o);

#endif
