/* Two real runtimes in one process joined by tr_cluster over 127.0.0.1: remote
 * request/reply, remote monitors (actor stop -> DOWN; node gone -> DOWN with TR_ENODEDOWN),
 * node monitors (NODE_DOWN / NODE_UP). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "runtime/real.h"
#include "troupe.h"

#define SECRET "runtime-cluster-secret-012345"

static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    if (msg->type >= TR_MSG_USER) {
        tr_reply(ctx, msg, msg->type, msg->body, msg->body_len);
    }
    return TR_CONTINUE;
}
static const tr_behaviour echo_b = {.name = "echo", .receive = echo_receive};

typedef struct watch_arg {
    tr_addr inbox;
    tr_addr target; /* the remote echo */
} watch_arg;

#define FWD 10000

/* Monitors node 2 and the remote echo, asks echo@n2 once, and forwards all it gets to the
 * inbox (type, corr; body = the original body). */
static int watcher_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    memcpy(state, arg, sizeof(watch_arg));
    const watch_arg *w = arg;
    uint64_t ref, corr;
    cr_assert_eq(tr_monitor_node(ctx, 2), 0);
    cr_assert_eq(tr_monitor(ctx, w->target, &ref), 0);
    return tr_request_name(ctx, "echo@n2", 300, "\x2a", 1, 3000, &corr);
}
static int watcher_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    watch_arg *w = state;
    /* shifted into user types: the inbox would drop a DOWN it did not ask for */
    tr_send_corr(ctx, w->inbox, FWD + msg->type, msg->from.node, msg->body, msg->body_len);
    return TR_CONTINUE;
}
static const tr_behaviour watcher_b = {.name = "watcher",
                                       .state_size = sizeof(watch_arg),
                                       .init = watcher_init,
                                       .receive = watcher_receive};

static tr_runtime *rt1, *rt2;
static tr_cluster *c1, *c2;

static void start2(int seed_port) {
    char seeds[32];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", seed_port);
    tr_cluster_config cc = {.listen = "127.0.0.1:0",
                            .seeds = seeds,
                            .secret = SECRET,
                            .secret_len = strlen(SECRET),
                            .heartbeat_ms = 100,
                            .down_ms = 600};
    cr_assert_eq(tr_cluster_create(rt2, &cc, &c2), 0);
}

/* Next message of `type` in the inbox (others skipped). */
static tr_msg *expect(tr_inbox *ib, uint32_t type) {
    for (int i = 0; i < 20; i++) {
        tr_msg *m;
        int rc = tr_inbox_receive(ib, 5000, &m);
        cr_assert_eq(rc, 0, "waiting for type %u: %s", type, tr_strerror(rc));
        if (m->type == FWD + type) {
            return m;
        }
        tr_msg_free(m);
    }
    cr_assert_fail("type %u never came", type);
    return NULL;
}

static int64_t body_int(const tr_msg *m) {
    cr_assert_geq(m->body_len, 1);
    const uint8_t *b = m->body;
    if (b[0] < 0x80 || b[0] >= 0xe0) {
        return (int8_t)b[0];
    }
    if (b[0] == 0xd0) {
        return (int8_t)b[1];
    }
    if (b[0] == 0xd1) {
        return (int16_t)((b[1] << 8) | b[2]);
    }
    cr_assert_fail("unexpected int encoding 0x%02x", b[0]);
    return 0;
}

Test(cluster_rt, remote_request_reply_monitors_and_node_events) {
    tr_config k1 = {.node_id = 1, .node_name = "n1", .workers = 1};
    tr_config k2 = {.node_id = 2, .node_name = "n2", .workers = 1};
    cr_assert_eq(tr_runtime_create(&k1, &rt1), 0);
    cr_assert_eq(tr_runtime_create(&k2, &rt2), 0);
    tr_cluster_config cc = {.listen = "127.0.0.1:0",
                            .secret = SECRET,
                            .secret_len = strlen(SECRET),
                            .heartbeat_ms = 100,
                            .down_ms = 600};
    cr_assert_eq(tr_cluster_create(rt1, &cc, &c1), 0);
    int port = tr_cluster_port(c1);
    cr_assert_gt(port, 0);
    tr_spawn_opts eo = {.name = "echo"};
    tr_addr echo;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt2), &echo_b, &eo, NULL, 0, &echo), 0);
    start2(port);
    uint32_t peer;
    cr_assert_eq(tr_cluster_wait_peer(c1, 5000, &peer), 0);
    cr_assert_eq(peer, 2);

    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt1, &ib), 0);
    watch_arg wa = {tr_inbox_addr(ib), echo};
    tr_addr w;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt1), &watcher_b, NULL, &wa, sizeof wa, &w), 0);
    tr_msg *m = expect(ib, 300);
    cr_assert_eq(m->corr, 2, "the reply came from node 2");
    cr_assert_eq(m->body_len, 1);
    cr_assert_eq(m->body[0], 0x2a);
    tr_msg_free(m);

    /* the remote actor stops normally: DOWN with reason 0 crosses the wire */
    cr_assert_eq(tr_node_stop(tr_runtime_node(rt2), echo, 0), 0);
    m = expect(ib, TR_MSG_DOWN);
    cr_assert_eq(body_int(m), 0);
    tr_msg_free(m);

    /* node 2 leaves: NODE_DOWN; monitor a new echo first to see DOWN(NODEDOWN) too */
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt2), &echo_b, &eo, NULL, 0, &echo), 0);
    tr_addr w2;
    watch_arg wb = {tr_inbox_addr(ib), echo};
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt1), &watcher_b, NULL, &wb, sizeof wb, &w2), 0);
    tr_msg_free(expect(ib, 300));
    tr_cluster_stop(c2);
    bool down = false, node_down = false;
    while (!down || !node_down) { /* in either order */
        cr_assert_eq(tr_inbox_receive(ib, 5000, &m), 0, "down %d node_down %d", down, node_down);
        if (m->type == FWD + TR_MSG_DOWN) {
            cr_assert_eq(body_int(m), TR_ENODEDOWN);
            down = true;
        } else if (m->type == FWD + TR_MSG_NODE_DOWN) {
            cr_assert_eq(m->corr, 2, "NODE_DOWN names node 2");
            node_down = true;
        }
        tr_msg_free(m);
    }

    /* and comes back: NODE_UP */
    tr_cluster *old = c2;
    start2(port);
    tr_msg_free(expect(ib, TR_MSG_NODE_UP));

    tr_inbox_destroy(ib);
    tr_cluster_stop(c1);
    tr_cluster_stop(c2);
    tr_runtime_destroy(rt2);
    tr_runtime_destroy(rt1);
    tr_cluster_destroy(old);
    tr_cluster_destroy(c2);
    tr_cluster_destroy(c1);
}

Test(cluster_rt, bad_config_is_refused) {
    tr_config k1 = {.node_id = 1, .node_name = "n1", .workers = 1};
    cr_assert_eq(tr_runtime_create(&k1, &rt1), 0);
    tr_cluster *c;
    tr_cluster_config short_secret = {.listen = "127.0.0.1:0", .secret = "short", .secret_len = 5};
    cr_assert_eq(tr_cluster_create(rt1, &short_secret, &c), TR_EINVAL);
    tr_cluster_config bad_addr = {
        .listen = "nowhere", .secret = SECRET, .secret_len = strlen(SECRET)};
    cr_assert_eq(tr_cluster_create(rt1, &bad_addr, &c), TR_EINVAL);
    tr_cluster_config wildcard = {
        .listen = "0.0.0.0:0", .secret = SECRET, .secret_len = strlen(SECRET)};
    cr_assert_eq(tr_cluster_create(rt1, &wildcard, &c), TR_EINVAL, "nothing to advertise");
    tr_cluster_config bad_adv = {.listen = "127.0.0.1:0",
                                 .advertise = "nowhere",
                                 .secret = SECRET,
                                 .secret_len = strlen(SECRET)};
    cr_assert_eq(tr_cluster_create(rt1, &bad_adv, &c), TR_EINVAL);
    tr_cluster_config ok = {
        .listen = "127.0.0.1:0", .secret = SECRET, .secret_len = strlen(SECRET)};
    cr_assert_eq(tr_cluster_create(rt1, &ok, &c), 0);
    char busy[32];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", tr_cluster_port(c));
    tr_cluster *c2b;
    tr_runtime *rtb;
    tr_config kb = {.node_id = 3, .node_name = "n3", .workers = 1};
    cr_assert_eq(tr_runtime_create(&kb, &rtb), 0);
    tr_cluster_config inuse = {.listen = busy, .secret = SECRET, .secret_len = strlen(SECRET)};
    cr_assert_eq(tr_cluster_create(rtb, &inuse, &c2b), TR_EBUSY);
    tr_runtime_destroy(rtb);
    tr_runtime_destroy(rt1); /* without tr_cluster_stop: the shutdown hook closes it */
    tr_cluster_destroy(c);
    cr_assert_eq(tr_cluster_node_id("n7"), 7);
    cr_assert_eq(tr_cluster_node_id("n2147483647"), 2147483647u);
    cr_assert_lt(tr_cluster_node_id("inventory"), 0x80000000u);
    cr_assert_neq(tr_cluster_node_id("n0"), 0);
    cr_assert_neq(tr_cluster_node_id("n2147483648"), 0);
}
