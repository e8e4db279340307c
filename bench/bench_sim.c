/* bench_sim.c — `troupe bench sim`: how fast the simulator runs a cluster.
 *
 * Workload: 5 simulated nodes, 20 "player" actors each; 1,000 balls (msgpack uint: hops
 * left) are thrown from player to player, each throw to a random player on a random node
 * (so 4 in 5 throws cross a simulated link and go through the envelope codec), until every
 * ball has made its hops (standard size: 2,000,000 messages; -n overrides). Default link
 * delays (100 us + uniform mean 400 us), 1 us virtual CPU per message, no store, no faults,
 * the oracle network (TR_SIM_NET_ORACLE) in both parts: these figures follow the engine's own
 * paths from version to version; what the protocol network costs on top is an instruction
 * count in docs/simulation.md.
 *
 * Figures: delivered messages per real second (on one core) and the
 * virtual/real time ratio as virtual ms per real s (1000 = as fast as real time). stderr
 * also gives the process CPU time, which tells a slow simulator from a loaded machine. The check:
 * every ball arrives exactly hops + 1 times, so the total of receipts is exact; a lost or
 * duplicated message fails the run. The trace hash goes to stderr (stdout carries figures).
 *
 * Then an experiment through the library's runner (tr_experiment_run, as `troupe sim --load`
 * runs a service): the built-in CP register service (ABD quorums, state in the simulated
 * LMDB store) on 5 nodes with the runner's clients, the default nemesis, 60 s virtual at
 * 100 ops/s, run EXPERIMENT_RUNS times.
 * Figures: the median time compression (virtual time / wall time of the whole run: set-up,
 * simulation, final states and checks) and the same over this thread's CPU time, which a
 * loaded machine inflates less. Every run must hold its check and give the same trace hash
 * (a run that differs fails the benchmark). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "harness/builtin.h"
#include "troupe.h"

enum {
    SIM_NODES = 5,
    SIM_PLAYERS = 20,
    SIM_BALLS = 1000,
    SIM_BALL = TR_MSG_USER + 40
};

static tr_addr players[SIM_NODES][SIM_PLAYERS];
static uint64_t receipts, finished, bad_bodies;

static size_t pack_uint(uint8_t *b, uint64_t v) {
    if (v < 128) {
        b[0] = (uint8_t)v;
        return 1;
    }
    b[0] = 0xcf; /* uint 64, big-endian */
    for (int i = 0; i < 8; i++) {
        b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
    }
    return 9;
}

static int unpack_uint(const uint8_t *b, size_t len, uint64_t *v) {
    if (len == 1 && b[0] < 128) {
        *v = b[0];
        return 0;
    }
    if (len != 9 || b[0] != 0xcf) {
        return TR_EPROTO;
    }
    *v = 0;
    for (int i = 0; i < 8; i++) {
        *v = (*v << 8) | b[1 + i];
    }
    return 0;
}

static int player_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    uint64_t hops;
    if (msg->type != SIM_BALL) {
        return TR_CONTINUE;
    }
    if (unpack_uint(msg->body, msg->body_len, &hops) != 0) {
        bad_bodies++;
        return TR_CONTINUE;
    }
    receipts++;
    if (hops == 0) {
        finished++;
        return TR_CONTINUE;
    }
    uint64_t r = tr_random(ctx);
    tr_addr to = players[r % SIM_NODES][(r >> 32) % SIM_PLAYERS];
    uint8_t body[9];
    size_t len = pack_uint(body, hops - 1);
    return tr_send(ctx, to, SIM_BALL, body, len) == 0 ? TR_CONTINUE : TR_EFAILED;
}

static const tr_behaviour player_b = {.name = "player", .receive = player_receive};

static int boot_players(tr_node *node, void *ud) {
    (void)ud;
    uint32_t i = tr_node_id(node) - 1;
    for (uint32_t p = 0; p < SIM_PLAYERS; p++) {
        int rc = tr_node_spawn(node, &player_b, NULL, NULL, 0, &players[i][p]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static bool all_finished(tr_sim *sim, void *ud) {
    (void)sim;
    return finished == *(uint64_t *)ud;
}

/* ---- the experiment: the CP register service under the runner's clients ---- */

enum {
    EXPERIMENT_RUNS = 9
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double clock_s(clockid_t id);

/* The experiment EXPERIMENT_RUNS times: medians of virtual/wall and virtual/cpu. */
static int bench_experiment(const tr_bench_opts *o) {
    const tr_service *const services[] = {&tr__builtin_cp};
    double wall[EXPERIMENT_RUNS], cpu[EXPERIMENT_RUNS];
    uint64_t first = 0, ops = 0;
    tr_experiment_config cfg;
    tr_experiment_config_init(&cfg);
    cfg.sim.nodes = 5;
    cfg.sim.net = TR_SIM_NET_ORACLE; /* the engine's own speed, comparable across versions */
    cfg.services = services;
    cfg.service_count = 1;
    cfg.workload = "cp";
    for (int i = 0; i < EXPERIMENT_RUNS; i++) {
        tr_experiment_result *r;
        char err[256];
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        int rc = tr_experiment_run(&cfg, &r, err, sizeof err);
        double t = clock_s(CLOCK_MONOTONIC) - t0, c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (rc != 0) {
            fprintf(stderr, "bench sim: experiment run %d: %s\n", i + 1, err);
            return 2;
        }
        bool differs = i > 0 && r->trace_hash != first;
        tr_verdict v = r->verdict;
        first = i == 0 ? r->trace_hash : first;
        ops = r->ops_ok + r->ops_fail + r->ops_info;
        tr_experiment_result_destroy(r);
        if (v != TR_VERDICT_HELD || differs) {
            fprintf(stderr, "bench sim: experiment run %d: %s\n", i + 1,
                    differs ? "the trace differs between runs" : tr_verdict_name(v));
            return 1;
        }
        wall[i] = cfg.duration_ns / 1e9 / t;
        cpu[i] = cfg.duration_ns / 1e9 / c;
    }
    double w = median(wall, EXPERIMENT_RUNS), c = median(cpu, EXPERIMENT_RUNS);
    fprintf(stderr,
            "bench sim: experiment x%d: %.0f s virtual, %llu ops per run, virtual/wall median "
            "%.0fx, virtual/cpu median %.0fx, trace-hash: %016llx\n",
            EXPERIMENT_RUNS, cfg.duration_ns / 1e9, (unsigned long long)ops, w, c,
            (unsigned long long)first);
    tr_bench_report(o, "sim_experiment_time_ratio", w, "x");
    tr_bench_report(o, "sim_experiment_time_ratio_cpu", c, "x");
    return 0;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int tr_bench_sim(const tr_bench_opts *o) {
    uint64_t total = o->n > 0 ? (uint64_t)o->n : 2000000;
    uint64_t balls = SIM_BALLS, hops = total / balls;
    if (hops == 0) {
        balls = total;
        hops = 1;
    }
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = 7;
    cfg.nodes = SIM_NODES;
    cfg.store = false;
    cfg.net = TR_SIM_NET_ORACLE; /* the message engine, not the protocol's byte streams */
    cfg.boot = boot_players;
    receipts = finished = bad_bodies = 0;
    tr_sim *sim;
    int rc = tr_sim_create(&cfg, &sim);
    if (rc != 0) {
        fprintf(stderr, "bench sim: tr_sim_create: %s\n", tr_strerror(rc));
        return 2;
    }
    for (uint64_t b = 0; b < balls && rc == 0; b++) {
        uint8_t body[9];
        size_t len = pack_uint(body, hops - 1);
        uint32_t n = (uint32_t)(b % SIM_NODES);
        rc = tr_node_send(tr_sim_node(sim, n), players[n][b % SIM_PLAYERS], SIM_BALL, body, len);
    }
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t v0 = tr_sim_now_ns(sim);
    if (rc == 0) {
        rc = tr_sim_run_until(sim, all_finished, &balls, UINT64_MAX / 2);
    }
    double secs = clock_s(CLOCK_MONOTONIC) - t0;
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0; /* tells a loaded machine apart */
    double vsecs = (double)(tr_sim_now_ns(sim) - v0) * 1e-9;
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    fprintf(stderr,
            "bench sim: %llu receipts (%llu remote), %.3f s virtual, %.3f s real, %.3f s cpu "
            "(%.2f M msgs per cpu-second), trace-hash: %016llx\n",
            (unsigned long long)receipts, (unsigned long long)st.remote_delivered, vsecs, secs, cpu,
            (double)receipts / cpu * 1e-6, (unsigned long long)tr_sim_trace_hash(sim));
    tr_sim_destroy(sim);
    if (rc != 0 || bad_bodies != 0 || receipts != balls * hops) {
        fprintf(stderr, "bench sim: check failed (rc %d, %llu receipts, expected %llu, %llu bad)\n",
                rc, (unsigned long long)receipts, (unsigned long long)(balls * hops),
                (unsigned long long)bad_bodies);
        return 1;
    }
    tr_bench_report(o, "sim_msgs", (double)receipts / secs, "msgs/s");
    /* Whole numbers are printed: virtual milliseconds per real second (1000 = real time). */
    tr_bench_report(o, "sim_virtual_ms_per_real_s", vsecs * 1000.0 / secs, "ms/s");
    return bench_experiment(o);
}
