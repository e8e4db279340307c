/* bench_spawn_mem.c — RSS per idle actor (peers: spawn_mem_rss, spawn_rate).
 *
 * VmRSS is read before spawning N idle actors and again once every one of them has run its
 * init (each init bumps a shared counter; main polls it every 10 ms), as in CAF's variant.
 * The figure is (after - before) / N. Nothing keeps the addresses: troupe addresses are
 * plain values, the runtime owns the actors. An idle actor has no state and one receive
 * handler that stops it. Also reports the spawn rate over the same interval. */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "bench/bench_util.h"

static int idle_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    (void)ctx;
    (void)state;
    if (arg_len != sizeof(atomic_long *)) {
        return TR_EINVAL;
    }
    atomic_long *started = *(atomic_long *const *)arg;
    /* relaxed: main only needs the count to reach N eventually; no data is published. */
    atomic_fetch_add_explicit(started, 1, memory_order_relaxed);
    return 0;
}

static int idle_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return TR_STOP;
}

static const tr_behaviour idle_behaviour = {
    .name = "bench.idle",
    .state_size = 0,
    .init = idle_init,
    .receive = idle_receive,
};

/* Waits until *started reaches n; false after TR_BENCH_WAIT_MS. */
static bool wait_started(atomic_long *started, long n) {
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (uint32_t waited = 0; waited < TR_BENCH_WAIT_MS; waited += 10) {
        if (atomic_load_explicit(started, memory_order_relaxed) >= n) {
            return true;
        }
        nanosleep(&tick, NULL);
    }
    return false;
}

/* Static, not on main's stack: actors still in init after a failed run may touch it. */
static atomic_long inits_done;

static int run(const tr_bench_opts *o, tr_bench_env *env, long n) {
    atomic_store(&inits_done, 0);
    atomic_long *arg = &inits_done;
    long r0 = tr_bench_proc_status_bytes("VmRSS:");
    tr_bench_clock clk = tr_bench_clock_start();
    for (long i = 0; i < n; i++) {
        tr_addr out;
        int rc = tr_node_spawn(env->node, &idle_behaviour, NULL, &arg, sizeof arg, &out);
        if (rc != 0) {
            fprintf(stderr, "troupe bench spawn_mem: spawn %ld: %s\n", i, tr_strerror(rc));
            return tr_bench_fail(o, "spawn_mem_rss", "spawn_failed");
        }
    }
    if (!wait_started(&inits_done, n)) {
        fprintf(stderr, "troupe bench spawn_mem: only %ld of %ld actors ran init\n",
                atomic_load(&inits_done), n);
        return tr_bench_fail(o, "spawn_mem_rss", "failed");
    }
    double secs = tr_bench_clock_stop(&clk, "spawn_mem", (double)n, "spawns");
    long r1 = tr_bench_proc_status_bytes("VmRSS:");
    if (r0 < 0 || r1 < 0) {
        fprintf(stderr, "troupe bench spawn_mem: cannot read VmRSS\n");
        return 2;
    }
    tr_bench_report(o, "spawn_mem_rss", (double)(r1 - r0) / (double)n, "bytes/actor");
    tr_bench_report(o, "spawn_rate", (double)n / secs, "spawns/s");
    return 0;
}

int tr_bench_spawn_mem(const tr_bench_opts *o) {
    long n = tr_bench_size(o, 1000000);
    tr_bench_env env;
    int rc = tr_bench_start(o, "spawn_mem", &env);
    if (rc != 0) {
        return rc;
    }
    rc = run(o, &env, n);
    tr_bench_stop(&env);
    return rc;
}
