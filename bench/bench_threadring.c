/* bench_threadring.c — a token passed H hops around a ring of P actors (peers: threadring).
 *
 * Each ring actor gets its next neighbour in a setup message and acknowledges it to main;
 * the clock starts only when all P acknowledgements are in (so no token can overtake a
 * setup: they come from different senders and FIFO holds only per pair). The token is a
 * msgpack integer decremented at each hop; the actor that receives 0 tells main. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_util.h"

enum {
    RING = 1000
};

typedef struct ring_state {
    tr_addr next;
    tr_addr main;
} ring_state;

static int ring_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    (void)ctx;
    ring_state *s = state;
    if (arg_len != sizeof s->main) {
        return TR_EINVAL;
    }
    s->main = *(const tr_addr *)arg;
    return 0;
}

static int ring_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    ring_state *s = state;
    if (msg->type == TR_BENCH_MSG_SETUP) {
        if (tr_bench_unpack_addr(msg->body, msg->body_len, &s->next) != 0) {
            return TR_EPROTO;
        }
        return tr_bench_send_uint(ctx, s->main, TR_BENCH_MSG_ACK, 1);
    }
    uint64_t k;
    if (msg->type != TR_BENCH_MSG_INT || tr_bench_msg_uint(msg, &k) != 0 ||
        tr_addr_is_none(s->next)) {
        tr_bench_send_uint(ctx, s->main, TR_BENCH_MSG_FAIL, 0);
        return TR_EPROTO;
    }
    if (k == 0) {
        return tr_bench_send_uint(ctx, s->main, TR_BENCH_MSG_DONE, 0);
    }
    return tr_bench_send_uint(ctx, s->next, TR_BENCH_MSG_INT, k - 1);
}

static const tr_behaviour ring_behaviour = {
    .name = "bench.ring",
    .state_size = sizeof(ring_state),
    .init = ring_init,
    .receive = ring_receive,
};

/* Spawns the ring, sends each actor its neighbour and waits for every acknowledgement. */
static int setup(tr_bench_env *env, tr_addr *ring) {
    for (int i = 0; i < RING; i++) {
        int rc =
            tr_node_spawn(env->node, &ring_behaviour, NULL, &env->main, sizeof env->main, &ring[i]);
        if (rc != 0) {
            fprintf(stderr, "troupe bench threadring: spawn: %s\n", tr_strerror(rc));
            return 2;
        }
    }
    for (int i = 0; i < RING; i++) {
        uint8_t buf[TR_BENCH_BODY_MAX];
        size_t len = tr_bench_pack_addr(buf, ring[(i + 1) % RING]);
        int rc = tr_node_send(env->node, ring[i], TR_BENCH_MSG_SETUP, buf, len);
        if (rc != 0) {
            fprintf(stderr, "troupe bench threadring: send: %s\n", tr_strerror(rc));
            return 2;
        }
    }
    for (int i = 0; i < RING; i++) {
        uint64_t one;
        if (tr_bench_wait_uint(env, "threadring", TR_BENCH_MSG_ACK, &one) != 0) {
            return 1;
        }
    }
    return 0;
}

static int run(const tr_bench_opts *o, tr_bench_env *env, uint64_t hops) {
    tr_addr *ring = calloc(RING, sizeof *ring);
    if (ring == NULL) {
        return 2;
    }
    int rc = setup(env, ring);
    if (rc != 0) {
        free(ring);
        return rc == 1 ? tr_bench_fail(o, "threadring", "setup_failed") : rc;
    }
    uint8_t buf[TR_BENCH_BODY_MAX];
    size_t len = tr_bench_pack_uint(buf, hops);
    tr_bench_clock clk = tr_bench_clock_start();
    rc = tr_node_send(env->node, ring[0], TR_BENCH_MSG_INT, buf, len);
    free(ring);
    if (rc != 0) {
        fprintf(stderr, "troupe bench threadring: send: %s\n", tr_strerror(rc));
        return 2;
    }
    uint64_t zero;
    if (tr_bench_wait_uint(env, "threadring", TR_BENCH_MSG_DONE, &zero) != 0) {
        return tr_bench_fail(o, "threadring", "failed");
    }
    double secs = tr_bench_clock_stop(&clk, "threadring", (double)hops, "hops");
    tr_stats st;
    tr_node_stats_get(env->node, &st);
    /* The token reaches 0 after exactly `hops` sends; one sent to a dead actor shows here. */
    if (st.dead_letters != 0) {
        return tr_bench_fail(o, "threadring", "dead_letters");
    }
    tr_bench_report(o, "threadring", (double)hops / secs, "hops/s");
    return 0;
}

int tr_bench_threadring(const tr_bench_opts *o) {
    long hops = tr_bench_size(o, 10000000);
    tr_bench_env env;
    int rc = tr_bench_start(o, "threadring", &env);
    if (rc != 0) {
        return rc;
    }
    rc = run(o, &env, (uint64_t)hops);
    tr_bench_stop(&env);
    return rc;
}
