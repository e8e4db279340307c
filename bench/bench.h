/* bench.h — `troupe bench`: benchmarks, not tests. Each prints lines
 *   peer=troupe bench=<name> value=<number> unit=<unit>
 * (the format of the peers' programs, bench/peers/run.sh) or, with --json, one JSON object per
 * line.
 * Every benchmark checks its own result (sums, counts) and fails (returns 1) if wrong. */
#ifndef TR_BENCH_H
#define TR_BENCH_H

#include <stdbool.h>

typedef struct tr_bench_opts {
    bool json;
    unsigned workers;    /* 0 = one per core */
    long n;              /* override the benchmark's size; 0 = the standard size */
    unsigned contend;    /* busy processes running beside the benchmarks (--contend) */
    double trace_sample; /* --trace-sample P: record spans of a fraction P of the traces
                            (0..1); below 0, tracing off (the default) */
} tr_bench_opts;

/* Prints one result line (stdout). */
void tr_bench_report(const tr_bench_opts *o, const char *bench, double value, const char *unit);

/* Each returns 0 on success, 1 if the run failed its own check, 2 on a tool error. */
int tr_bench_pingpong(const tr_bench_opts *o);
int tr_bench_counting(const tr_bench_opts *o);
int tr_bench_threadring(const tr_bench_opts *o);
int tr_bench_skynet(const tr_bench_opts *o);
int tr_bench_spawn_mem(const tr_bench_opts *o);
int tr_bench_store(const tr_bench_opts *o);  /* bench/bench_store.c */
int tr_bench_sim(const tr_bench_opts *o);    /* bench/bench_sim.c */
int tr_bench_remote(const tr_bench_opts *o); /* bench/bench_remote.c */
int tr_bench_raft(const tr_bench_opts *o);   /* bench/bench_raft.c */
int tr_bench_http(const tr_bench_opts *o);   /* bench/bench_http.c */

#endif
