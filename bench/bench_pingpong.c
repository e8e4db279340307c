/* bench_pingpong.c — two actors, N round trips (peers: pingpong).
 *
 * ping sends N, N-1, ..., 1 to pong, one at a time; pong decodes each and replies with the
 * same integer; ping checks every reply and tells main when the last one is back. The clock
 * starts at spawning ping (pong already exists, as in the peers) and stops when main hears
 * "done". Reports round trips/s and messages/s (two messages per round trip). */
#include <stdio.h>

#include "bench/bench_util.h"

typedef struct ping_arg {
    tr_addr pong;
    tr_addr main;
    uint64_t n;
} ping_arg;

typedef struct ping_state {
    tr_addr pong;
    tr_addr main;
    uint64_t n;
    uint64_t expect; /* the integer in flight */
} ping_state;

static int ping_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    ping_state *s = state;
    const ping_arg *a = arg;
    if (arg_len != sizeof *a || a->n == 0) {
        return TR_EINVAL;
    }
    *s = (ping_state){a->pong, a->main, a->n, a->n};
    return tr_bench_send_uint(ctx, s->pong, TR_BENCH_MSG_INT, s->expect);
}

static int ping_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    ping_state *s = state;
    uint64_t x;
    if (msg->type != TR_BENCH_MSG_INT || tr_bench_msg_uint(msg, &x) != 0 || x != s->expect) {
        tr_bench_send_uint(ctx, s->main, TR_BENCH_MSG_FAIL, s->expect);
        return TR_STOP;
    }
    if (x > 1) {
        s->expect = x - 1;
        return tr_bench_send_uint(ctx, s->pong, TR_BENCH_MSG_INT, s->expect);
    }
    tr_bench_send_uint(ctx, s->main, TR_BENCH_MSG_DONE, s->n);
    return TR_STOP;
}

static int pong_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    uint64_t x;
    if (msg->type != TR_BENCH_MSG_INT || tr_bench_msg_uint(msg, &x) != 0) {
        return TR_EPROTO;
    }
    if (tr_bench_plant_bug && x == 1) {
        x = 2; /* the planted bug: the last reply is wrong */
    }
    return tr_bench_send_uint(ctx, msg->from, TR_BENCH_MSG_INT, x);
}

static const tr_behaviour ping_behaviour = {
    .name = "bench.ping",
    .state_size = sizeof(ping_state),
    .init = ping_init,
    .receive = ping_receive,
};

static const tr_behaviour pong_behaviour = {
    .name = "bench.pong",
    .state_size = 0,
    .receive = pong_receive,
};

static int run(const tr_bench_opts *o, tr_bench_env *env, uint64_t n) {
    ping_arg arg = {.main = env->main, .n = n};
    int rc = tr_node_spawn(env->node, &pong_behaviour, NULL, NULL, 0, &arg.pong);
    if (rc != 0) {
        fprintf(stderr, "troupe bench pingpong: spawn: %s\n", tr_strerror(rc));
        return 2;
    }
    tr_bench_clock clk = tr_bench_clock_start();
    tr_addr ping;
    rc = tr_node_spawn(env->node, &ping_behaviour, NULL, &arg, sizeof arg, &ping);
    if (rc != 0) {
        fprintf(stderr, "troupe bench pingpong: spawn: %s\n", tr_strerror(rc));
        return 2;
    }
    uint64_t done;
    if (tr_bench_wait_uint(env, "pingpong", TR_BENCH_MSG_DONE, &done) != 0) {
        return tr_bench_fail(o, "pingpong", "failed");
    }
    double secs = tr_bench_clock_stop(&clk, "pingpong", (double)n, "round trips");
    if (done != n) {
        return tr_bench_fail(o, "pingpong", "bad_count");
    }
    tr_bench_report(o, "pingpong", (double)n / secs, "roundtrips/s");
    tr_bench_report(o, "pingpong_msgs", 2.0 * (double)n / secs, "msgs/s");
    return 0;
}

int tr_bench_pingpong(const tr_bench_opts *o) {
    long n = tr_bench_size(o, 2000000);
    tr_bench_env env;
    int rc = tr_bench_start(o, "pingpong", &env);
    if (rc != 0) {
        return rc;
    }
    rc = run(o, &env, (uint64_t)n);
    tr_bench_stop(&env);
    return rc;
}
