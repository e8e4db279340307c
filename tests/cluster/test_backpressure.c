/* Back-pressure keeps a flooded actor's mailbox bounded.
 *
 * Local senders are muted while the receiver's mailbox is over the mute threshold: that is
 * the runtime's, the same on every engine, so it runs on a simulated node (virtual time, a
 * seed) where the bound is exact: the threshold plus one callback's sends.
 *
 * Remote senders cannot be muted, so the receiving transport stops reading the sending node
 * while the actor's mailbox is over the threshold (cluster.c, inbound.c): that needs the
 * real transport. Node 1 floods a slow actor on node 2 (two runtimes in one process,
 * 127.0.0.1); the actor stalls on the first message so that the flood certainly backs up,
 * then samples its own backlog on every message: it must stay within the threshold plus a
 * few frames, every message must arrive in order, and node 1 must never be declared down.
 * Without the pause the backlog grows to most of the flood (checked by planting: make
 * cluster.c's on_message never return TR_TRANSPORT_PAUSE). */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/engine.h"
#include "runtime/real.h"
#include "troupe.h"

#define SECRET "backpressure-cluster-secret-0123"
#define THRESHOLD 64
#define SLACK 8 /* frames read after the pause began (a capped pause reads one more) */
#define FLOOD 4000
#define FIRST_STALL_MS 50 /* well below the longest pause (a quarter of down_ms) */

typedef struct sink_obs {
    _Atomic uint32_t received;
    _Atomic uint32_t out_of_order;
    _Atomic uint32_t max_backlog;
    _Atomic uint32_t node_down;
    uint32_t stall_ms; /* the first message takes this long: longer than a pause may last */
} sink_obs;

static sink_obs obs;

static int sink_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)state;
    (void)arg;
    (void)len;
    return tr_monitor_node(ctx, 1);
}

static int sink_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    if (msg->type == TR_MSG_NODE_DOWN) {
        atomic_fetch_add(&obs.node_down, 1);
        return TR_CONTINUE;
    }
    if (msg->type != TR_MSG_USER || msg->body_len != sizeof(uint32_t)) {
        return TR_CONTINUE;
    }
    uint32_t backlog = tr__node_backlog(tr_ctx_node(ctx), tr_self(ctx)) + 1; /* + this one */
    if (backlog > atomic_load(&obs.max_backlog)) {
        atomic_store(&obs.max_backlog, backlog);
    }
    uint32_t seq;
    memcpy(&seq, msg->body, sizeof seq);
    if (seq != atomic_load(&obs.received)) {
        atomic_fetch_add(&obs.out_of_order, 1);
    }
    atomic_fetch_add(&obs.received, 1);
    struct timespec slow = {0, 100000}; /* 100 us a message: far slower than the link */
    if (seq == 0 && obs.stall_ms) {
        slow.tv_nsec = (long)obs.stall_ms * 1000000L;
    }
    nanosleep(&slow, NULL);
    return TR_CONTINUE;
}
static const tr_behaviour sink_b = {.name = "sink", .init = sink_init, .receive = sink_receive};

static void flood_slow_sink(uint32_t stall_ms) {
    memset(&obs, 0, sizeof obs);
    obs.stall_ms = stall_ms;
    tr_runtime *rt1, *rt2;
    tr_cluster *c1, *c2;
    tr_config k1 = {.node_id = 1, .node_name = "n1", .workers = 1};
    tr_config k2 = {.node_id = 2, .node_name = "n2", .workers = 1, .mute_threshold = THRESHOLD};
    cr_assert_eq(tr_runtime_create(&k1, &rt1), 0);
    cr_assert_eq(tr_runtime_create(&k2, &rt2), 0);
    tr_cluster_config cc = {.listen = "127.0.0.1:0",
                            .secret = SECRET,
                            .secret_len = strlen(SECRET),
                            .heartbeat_ms = 100,
                            .down_ms = 600};
    cr_assert_eq(tr_cluster_create(rt2, &cc, &c2), 0);
    char seeds[32];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", tr_cluster_port(c2));
    tr_cluster_config cc1 = cc;
    cc1.seeds = seeds;
    cr_assert_eq(tr_cluster_create(rt1, &cc1, &c1), 0);
    uint32_t peer;
    cr_assert_eq(tr_cluster_wait_peer(c2, 5000, &peer), 0);
    cr_assert_eq(tr_cluster_wait_peer(c1, 5000, &peer), 0);
    tr_addr sink;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt2), &sink_b, NULL, NULL, 0, &sink), 0);

    /* The flood: as fast as node 1's bounded peer queue takes it (TR_EFULL = retry). */
    tr_node *n1 = tr_runtime_node(rt1);
    uint32_t full = 0;
    for (uint32_t seq = 0; seq < FLOOD;) {
        int rc = tr_node_send(n1, sink, TR_MSG_USER, &seq, sizeof seq);
        if (rc == TR_EFULL) {
            full++;
            struct timespec pause = {0, 200000};
            nanosleep(&pause, NULL);
            continue;
        }
        cr_assert_eq(rc, 0, "send %u: %s", seq, tr_strerror(rc));
        seq++;
    }
    for (int i = 0; i < 3000 && atomic_load(&obs.received) < FLOOD; i++) {
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    cr_log_info("max backlog %u (threshold %u), sender saw TR_EFULL %u times",
                atomic_load(&obs.max_backlog), THRESHOLD, full);
    cr_expect_eq(atomic_load(&obs.received), FLOOD, "every message arrives");
    cr_expect_eq(atomic_load(&obs.out_of_order), 0, "in order");
    cr_expect_eq(atomic_load(&obs.node_down), 0, "the link was never declared down");
    cr_expect_gt(atomic_load(&obs.max_backlog), THRESHOLD / 2, "the flood did back up");
    cr_expect_leq(atomic_load(&obs.max_backlog), THRESHOLD + SLACK,
                  "receiver's mailbox bounded: max %u", atomic_load(&obs.max_backlog));

    tr_cluster_stop(c1);
    tr_cluster_stop(c2);
    tr_runtime_destroy(rt2);
    tr_runtime_destroy(rt1);
    tr_cluster_destroy(c2);
    tr_cluster_destroy(c1);
}

Test(cluster_backpressure, remote_flood_keeps_the_receivers_mailbox_bounded_and_in_order) {
    flood_slow_sink(FIRST_STALL_MS);
}

/* ---- Local senders, on a simulated node ------------------------------------------------ */

enum {
    T_FLOOD = TR_MSG_USER + 1,
    PER_CALLBACK = 16
};

typedef struct local_obs {
    uint32_t received, out_of_order, max_backlog;
} local_obs;

static local_obs lobs;

static int local_flood_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    uint32_t *next = state; /* the sequence number of the next send */
    tr_addr sink;
    if (msg->type != T_FLOOD || msg->body_len != sizeof sink) {
        return TR_EFAILED;
    }
    memcpy(&sink, msg->body, sizeof sink);
    for (int i = 0; i < PER_CALLBACK && *next < FLOOD; i++, (*next)++) {
        if (tr_send(ctx, sink, TR_MSG_USER, next, sizeof *next) != 0) {
            return TR_EFAILED;
        }
    }
    if (*next < FLOOD) { /* continue through a message to self */
        return tr_send(ctx, tr_self(ctx), T_FLOOD, &sink, sizeof sink) == 0 ? TR_CONTINUE
                                                                            : TR_EFAILED;
    }
    return TR_STOP;
}

static const tr_behaviour local_flood_b = {
    .name = "flood", .state_size = sizeof(uint32_t), .receive = local_flood_receive};

/* Runs on the simulation's thread: it may assert. */
static int local_sink_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    cr_assert_eq(msg->type, TR_MSG_USER);
    cr_assert_eq(msg->body_len, sizeof(uint32_t));
    uint32_t backlog = tr__node_backlog(tr_ctx_node(ctx), tr_self(ctx)) + 1; /* + this one */
    if (backlog > lobs.max_backlog) {
        lobs.max_backlog = backlog;
    }
    uint32_t seq;
    memcpy(&seq, msg->body, sizeof seq);
    lobs.out_of_order += seq != lobs.received;
    lobs.received++;
    return TR_CONTINUE;
}

static const tr_behaviour local_sink_b = {.name = "sink", .receive = local_sink_receive};

static bool all_received(tr_sim *sim, void *ud) {
    (void)sim;
    (void)ud;
    return lobs.received == FLOOD;
}

Test(backpressure_sim, a_local_flood_is_muted_at_the_threshold_and_arrives_in_order) {
    memset(&lobs, 0, sizeof lobs);
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = 11;
    cfg.nodes = 1;
    cfg.store = false;
    cfg.mute_threshold = THRESHOLD;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_node *node = tr_sim_node(sim, 0);
    tr_addr sink, flood;
    cr_assert_eq(tr_node_spawn(node, &local_sink_b, NULL, NULL, 0, &sink), 0);
    cr_assert_eq(tr_node_spawn(node, &local_flood_b, NULL, NULL, 0, &flood), 0);
    cr_assert_eq(tr_node_send(node, flood, T_FLOOD, &sink, sizeof sink), 0);
    cr_assert_eq(tr_sim_run_until(sim, all_received, NULL, 10ull * 1000000000ull), 0,
                 "received %u of %u", lobs.received, FLOOD);
    cr_assert_eq(lobs.out_of_order, 0, "in order");
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_gt(st.mutes, 0, "the sender was muted");
    cr_assert_gt(lobs.max_backlog, THRESHOLD, "the flood did back up");
    /* The last send a callback makes before its sender is muted may find the mailbox at the
     * threshold; the sink counts the message it is processing too. */
    cr_assert_leq(lobs.max_backlog, THRESHOLD + PER_CALLBACK + 1,
                  "over the threshold by at most one callback's sends: max %u", lobs.max_backlog);
    tr_sim_destroy(sim);
}
