/* bench_skynet.c — a tree of actors with N leaves, 10 children per node (peers: skynet).
 *
 * A node with size > 1 spawns 10 children with num + i*size/10 and size/10, sums the ten
 * values they send and sends the total to its parent; a leaf sends its num and stops. The
 * clock runs from spawning the root to main receiving the sum, which must be N(N-1)/2
 * (499999500000 for N = 1M). N must be a power of ten, as in the peers. Reports ms. */
#include <stdio.h>

#include "bench/bench_util.h"

typedef struct sky_arg {
    tr_addr parent;
    uint64_t num;
    uint64_t size;
} sky_arg;

typedef struct sky_state {
    tr_addr parent;
    uint64_t sum;
    uint32_t pending;
} sky_state;

static const tr_behaviour sky_behaviour;

static int sky_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    sky_state *s = state;
    const sky_arg *a = arg;
    if (arg_len != sizeof *a || a->size == 0) {
        return TR_EINVAL;
    }
    s->parent = a->parent;
    if (a->size == 1) {
        /* the planted bug: leaf 0 says 1 */
        uint64_t num = (tr_bench_plant_bug && a->num == 0) ? 1 : a->num;
        int rc = tr_bench_send_uint(ctx, a->parent, TR_BENCH_MSG_INT, num);
        return rc != 0 ? rc : tr_stop(ctx, tr_self(ctx), 0);
    }
    uint64_t sub = a->size / 10;
    for (uint64_t i = 0; i < 10; i++) {
        sky_arg child = {tr_self(ctx), a->num + i * sub, sub};
        tr_addr out;
        int rc = tr_spawn(ctx, &sky_behaviour, NULL, &child, sizeof child, &out);
        if (rc != 0) {
            return rc;
        }
    }
    s->pending = 10;
    return 0;
}

static int sky_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    sky_state *s = state;
    uint64_t x;
    if (msg->type != TR_BENCH_MSG_INT || tr_bench_msg_uint(msg, &x) != 0 || s->pending == 0) {
        return TR_EPROTO;
    }
    s->sum += x;
    if (--s->pending > 0) {
        return TR_CONTINUE;
    }
    int rc = tr_bench_send_uint(ctx, s->parent, TR_BENCH_MSG_INT, s->sum);
    return rc != 0 ? rc : TR_STOP;
}

static const tr_behaviour sky_behaviour = {
    .name = "bench.skynet",
    .state_size = sizeof(sky_state),
    .init = sky_init,
    .receive = sky_receive,
};

static bool power_of_ten(uint64_t n) {
    while (n >= 10 && n % 10 == 0) {
        n /= 10;
    }
    return n == 1;
}

static int run(const tr_bench_opts *o, tr_bench_env *env, uint64_t n) {
    tr_bench_clock clk = tr_bench_clock_start();
    sky_arg root = {env->main, 0, n};
    tr_addr out;
    int rc = tr_node_spawn(env->node, &sky_behaviour, NULL, &root, sizeof root, &out);
    if (rc != 0) {
        fprintf(stderr, "troupe bench skynet: spawn: %s\n", tr_strerror(rc));
        return 2;
    }
    uint64_t sum;
    if (tr_bench_wait_uint(env, "skynet", TR_BENCH_MSG_INT, &sum) != 0) {
        return tr_bench_fail(o, "skynet", "failed");
    }
    double ms = 1e3 * tr_bench_clock_stop(&clk, "skynet", (double)n, "leaves");
    if (sum != n * (n - 1) / 2) {
        fprintf(stderr, "troupe bench skynet: sum %llu, expected %llu\n", (unsigned long long)sum,
                (unsigned long long)(n * (n - 1) / 2));
        return tr_bench_fail(o, "skynet", "bad_sum");
    }
    tr_bench_report(o, "skynet", ms, "ms");
    return 0;
}

int tr_bench_skynet(const tr_bench_opts *o) {
    long n = tr_bench_size(o, 1000000);
    if (!power_of_ten((uint64_t)n) || n > 100000000) {
        fprintf(stderr, "troupe bench skynet: -n must be a power of ten up to 10^8\n");
        return 2;
    }
    tr_bench_env env;
    int rc = tr_bench_start(o, "skynet", &env);
    if (rc != 0) {
        return rc;
    }
    rc = run(o, &env, (uint64_t)n);
    tr_bench_stop(&env);
    return rc;
}
