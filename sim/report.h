/* report.h — one simulated run as a self-contained HTML page (`troupe sim --report DIR`).
 *
 * What: DIR/index.html shows a finished experiment (troupe.h tr_experiment_result): the
 * summary (seed, verdicts, counts, trace hash, replay command), the fault timeline, and for
 * each workload its checks, availability per side of the partition, a timeline per client
 * process (each operation a bar from invoke to completion, coloured ok / fail / info, the
 * counterexample's operations marked, the fault intervals shaded across it), throughput and
 * latency over time, and the counterexample of a violated linearizability check.
 *
 * How: the C side writes the run's data as one JSON object inside the page; the page's own
 * script (sim/report_page.c) draws it as SVG when the page opens. Latency and throughput
 * are binned here over every operation; the bars are what the page draws one by one. The
 * counterexample is the one sim/counterexample.h finds, with the model of the workload's
 * service (found by name in `services`).
 *
 * Self-contained: inline CSS and script, no external font, image or fetch; the page's
 * Content-Security-Policy forbids every network load, so a browser cannot fetch anything.
 *
 * Limits: at most TR__REPORT_BARS_MAX operations are drawn as bars over all workloads (the
 * first by invoke order, and always the counterexample's); the page says how many were left
 * out. TR__REPORT_BINS time bins. Strings from the run are escaped for JSON and HTML.
 * Ownership: borrows everything in the input for the call. Deterministic: the page is a
 * function of the result (no clock, no addresses). Threading: none.
 */
#ifndef TR_SIM_REPORT_H
#define TR_SIM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "troupe.h"

#define TR__REPORT_BARS_MAX 20000u
#define TR__REPORT_BINS 60u

typedef struct tr__report_input {
    const tr_experiment_result *result; /* borrowed */
    const tr_service *const *services;  /* borrowed: the run's services, for their models */
    uint32_t service_count;
    uint32_t nodes;      /* 0: unknown here (drawn per seed: the replay command names it) */
    uint64_t lin_budget; /* the counterexample's per-check budget (0: the checker's default) */
    const char *replay;  /* borrowed: the command that replays the run */
    uint32_t bars_max;   /* 0: TR__REPORT_BARS_MAX */
    /* Optional, parallel to result->workloads (NULL: none): a model to search a workload's
     * history with when none of its checks is "linearizable" (a linearizability shown, not
     * promised, as `troupe sim` shows AP's next to CP's); its counterexample is shown and
     * marked as such. Borrowed. */
    const tr_lin_model *const *shown_models;
} tr__report_input;

/* Writes the page to f. 0, TR_ENOMEM, TR_EIO (a write failed). */
int tr__report_write(FILE *f, const tr__report_input *in);

/* Creates dir and its missing parents, and writes dir/index.html. 0, or TR_EIO / TR_ENOMEM with a one-line
 * reason in err[0..err_cap). */
int tr__report_write_dir(const char *dir, const tr__report_input *in, char *err, size_t err_cap);

/* The page's stylesheet and script (sim/report_page.c). */
extern const char tr__report_css[];
extern const char tr__report_script[];

#endif
