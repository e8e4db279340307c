/* bench_counting.c — the Savina counting actor (peers: counting).
 *
 * A producer sends the integer 1 to a counter N times, then asks for the count; the clock
 * stops when main has the count, which must equal N. The producer is cooperative: it sends
 * a slice of SLICE messages per activation and then a "more" message to itself, so that the
 * runtime can mute it (Pony-style) while the counter's mailbox is over the threshold — that
 * is what keeps memory bounded, and the peak RSS of the run is reported to show it. */
#include <stdio.h>

#include "bench/bench_util.h"

enum {
    SLICE = 1000
};

typedef struct producer_arg {
    tr_addr counter;
    tr_addr main;
    uint64_t n;
} producer_arg;

typedef struct producer_state {
    producer_arg a;
    uint64_t left; /* increments still to send */
} producer_state;

typedef struct counter_state {
    uint64_t count;
} counter_state;

static int producer_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    producer_state *s = state;
    if (arg_len != sizeof s->a) {
        return TR_EINVAL;
    }
    s->a = *(const producer_arg *)arg;
    s->left = s->a.n;
    return tr_bench_send_uint(ctx, tr_self(ctx), TR_BENCH_MSG_MORE, s->left);
}

/* One slice of increments, then either "more" to self or the request for the count. */
static int producer_slice(tr_ctx *ctx, producer_state *s) {
    uint8_t one[TR_BENCH_BODY_MAX];
    size_t one_len = tr_bench_pack_uint(one, 1);
    uint64_t k = s->left < SLICE ? s->left : SLICE;
    for (uint64_t i = 0; i < k; i++) {
        int rc = tr_send(ctx, s->a.counter, TR_BENCH_MSG_INT, one, one_len);
        if (rc != 0) {
            return rc;
        }
    }
    s->left -= k;
    if (s->left > 0) {
        return tr_bench_send_uint(ctx, tr_self(ctx), TR_BENCH_MSG_MORE, s->left);
    }
    uint8_t nil[TR_BENCH_BODY_MAX];
    return tr_send(ctx, s->a.counter, TR_BENCH_MSG_GET, nil, tr_bench_pack_nil(nil));
}

static int producer_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    producer_state *s = state;
    uint64_t v;
    if (tr_bench_msg_uint(msg, &v) != 0) {
        return TR_EPROTO;
    }
    if (msg->type == TR_BENCH_MSG_MORE && v == s->left) {
        return producer_slice(ctx, s);
    }
    if (msg->type == TR_BENCH_MSG_DONE && s->left == 0) { /* the count is back */
        tr_bench_send_uint(ctx, s->a.main, TR_BENCH_MSG_DONE, v);
        return TR_STOP;
    }
    return TR_EPROTO;
}

static int counter_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    counter_state *s = state;
    if (msg->type == TR_BENCH_MSG_INT) {
        uint64_t x;
        if (tr_bench_msg_uint(msg, &x) != 0) {
            return TR_EPROTO;
        }
        s->count += x;
        if (tr_bench_plant_bug && s->count == 1) {
            s->count++; /* the planted bug: the first increment counts twice */
        }
        return TR_CONTINUE;
    }
    if (msg->type == TR_BENCH_MSG_GET) {
        uint8_t buf[TR_BENCH_BODY_MAX];
        size_t len = tr_bench_pack_uint(buf, s->count);
        return tr_reply(ctx, msg, TR_BENCH_MSG_DONE, buf, len);
    }
    return TR_EPROTO;
}

static const tr_behaviour producer_behaviour = {
    .name = "bench.producer",
    .state_size = sizeof(producer_state),
    .init = producer_init,
    .receive = producer_receive,
};

static const tr_behaviour counter_behaviour = {
    .name = "bench.counter",
    .state_size = sizeof(counter_state),
    .receive = counter_receive,
};

static int run(const tr_bench_opts *o, tr_bench_env *env, uint64_t n) {
    bool peak_ok = tr_bench_reset_peak_rss() == 0;
    tr_bench_clock clk = tr_bench_clock_start();
    producer_arg arg = {.main = env->main, .n = n};
    int rc = tr_node_spawn(env->node, &counter_behaviour, NULL, NULL, 0, &arg.counter);
    tr_addr producer;
    if (rc == 0) {
        rc = tr_node_spawn(env->node, &producer_behaviour, NULL, &arg, sizeof arg, &producer);
    }
    if (rc != 0) {
        fprintf(stderr, "troupe bench counting: spawn: %s\n", tr_strerror(rc));
        return 2;
    }
    uint64_t count;
    if (tr_bench_wait_uint(env, "counting", TR_BENCH_MSG_DONE, &count) != 0) {
        return tr_bench_fail(o, "counting", "failed");
    }
    double secs = tr_bench_clock_stop(&clk, "counting", (double)n, "msgs");
    if (count != n) {
        fprintf(stderr, "troupe bench counting: count %llu, expected %llu\n",
                (unsigned long long)count, (unsigned long long)n);
        return tr_bench_fail(o, "counting", "bad_count");
    }
    tr_stats st;
    tr_node_stats_get(env->node, &st);
    fprintf(stderr, "# troupe counting: %llu sender mutes\n", (unsigned long long)st.mutes);
    tr_bench_report(o, "counting", (double)n / secs, "msgs/s");
    long peak = tr_bench_proc_status_bytes("VmHWM:");
    if (peak_ok && peak > 0) {
        tr_bench_report(o, "counting_peak_rss", (double)peak, "bytes");
    } else {
        fprintf(stderr, "troupe bench counting: peak RSS unavailable (clear_refs/VmHWM)\n");
    }
    return 0;
}

int tr_bench_counting(const tr_bench_opts *o) {
    long n = tr_bench_size(o, 10000000);
    tr_bench_env env;
    int rc = tr_bench_start(o, "counting", &env);
    if (rc != 0) {
        return rc;
    }
    rc = run(o, &env, (uint64_t)n);
    tr_bench_stop(&env);
    return rc;
}
