/* The library's client side, as `troupe call` uses it: a plain thread's request/reply
 * through an inbox (tr_inbox_request: the reply, a timeout, other mail left queued, a name on
 * a node id), a runtime without a store, and a cluster client that gives up at once when
 * its seed refuses it or does not resolve (tr_cluster_wait_peer, tr_cluster_peer_error). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "troupe.h"

#define SECRET "client-test-secret-0123456789"

static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    if (msg->type >= TR_MSG_USER) {
        tr_reply(ctx, msg, msg->type + 1, msg->body, msg->body_len);
    }
    return TR_CONTINUE;
}
static const tr_behaviour echo_b = {.name = "echo", .receive = echo_receive};

static int silent_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return TR_CONTINUE;
}
static const tr_behaviour silent_b = {.name = "silent", .receive = silent_receive};

/* Tries a durable write and tells the inbox (from) the result as the reply's type. */
static int writer_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    int rc = tr_kv_put(ctx, "k", 1, "v", 1);
    tr_reply(ctx, msg, TR_MSG_USER + (uint32_t)(-rc), NULL, 0);
    return TR_CONTINUE;
}
static const tr_behaviour writer_b = {.name = "writer", .receive = writer_receive};

static uint64_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static tr_runtime *start(uint32_t id, bool no_store) {
    char name[16];
    snprintf(name, sizeof name, "n%u", id);
    tr_config cfg = {.node_id = id, .node_name = name, .workers = 1, .no_store = no_store};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    return rt;
}

Test(client, inbox_request_returns_the_reply_and_leaves_other_mail_queued) {
    tr_runtime *rt = start(1, true);
    tr_node *node = tr_runtime_node(rt);
    tr_spawn_opts eo = {.name = "echo"};
    tr_addr echo;
    cr_assert_eq(tr_node_spawn(node, &echo_b, &eo, NULL, 0, &echo), 0);
    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt, &ib), 0);
    cr_assert_eq(tr_node_send(node, tr_inbox_addr(ib), 700, "x", 1), 0); /* other mail */
    tr_msg *r = NULL;
    cr_assert_eq(tr_inbox_request(ib, echo, NULL, 300, "\x2a", 1, 5000, &r), 0);
    cr_assert_eq(r->type, 301);
    cr_assert_eq(r->body_len, 1);
    cr_assert_eq(r->body[0], 0x2a);
    cr_assert(tr_addr_eq(r->from, echo));
    cr_assert(tr_msg_is_reply(r));
    tr_msg_free(r);
    /* by name on a node id, as a client that knows its server only by id */
    cr_assert_eq(tr_inbox_request(ib, (tr_addr){1, 0, 0}, "echo", 400, NULL, 0, 5000, &r), 0);
    cr_assert_eq(r->type, 401);
    tr_msg_free(r);
    tr_msg *m;
    cr_assert_eq(tr_inbox_receive(ib, 1000, &m), 0);
    cr_assert_eq(m->type, 700, "the other message stays queued, in order");
    cr_assert(!tr_msg_is_reply(m));
    tr_msg_free(m);
    cr_assert_eq(tr_inbox_receive(ib, 50, &m), TR_ETIMEDOUT, "and the replies were taken");
    tr_inbox_destroy(ib);
    tr_runtime_destroy(rt);
}

Test(client, inbox_request_times_out_and_refuses_bad_targets) {
    tr_runtime *rt = start(1, true);
    tr_spawn_opts so = {.name = "silent"};
    tr_addr silent;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &silent_b, &so, NULL, 0, &silent), 0);
    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt, &ib), 0);
    tr_msg *r = NULL;
    uint64_t t0 = mono_ms();
    cr_assert_eq(tr_inbox_request(ib, silent, NULL, 300, NULL, 0, 200, &r), TR_ETIMEDOUT);
    uint64_t took = mono_ms() - t0;
    cr_assert_geq(took, 190, "timed out after %llu ms", (unsigned long long)took);
    cr_assert_null(r);
    /* an unknown name is answered at once: no such actor (with a timeout that would take
     * longer than the test's) */
    cr_assert_eq(tr_inbox_request(ib, (tr_addr){1, 0, 0}, "nobody", 300, NULL, 0, 60000, &r),
                 TR_ENOPROC);
    cr_assert_null(r);
    cr_assert_eq(tr_inbox_request(ib, (tr_addr){1, 0, 0}, "echo@n2", 300, NULL, 0, 100, &r),
                 TR_EINVAL);
    cr_assert_eq(tr_inbox_request(ib, (tr_addr){1, 0, 0}, "", 300, NULL, 0, 100, &r), TR_EINVAL);
    cr_assert_eq(tr_inbox_request(ib, TR_ADDR_NONE, NULL, 300, NULL, 0, 100, &r), TR_EINVAL);
    cr_assert_eq(tr_inbox_request(ib, silent, NULL, 12, NULL, 0, 100, &r) == 0, false,
                 "a system type is refused");
    tr_msg *m;
    cr_assert_eq(tr_inbox_receive(ib, 50, &m), TR_ETIMEDOUT, "no timeout left behind");
    tr_inbox_destroy(ib);
    tr_runtime_destroy(rt);
}

Test(client, a_runtime_without_a_store_refuses_durable_writes) {
    tr_config bad = {.node_id = 1, .no_store = true, .data_dir = "/nonexistent"};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&bad, &rt), TR_EINVAL);
    rt = start(1, true);
    tr_spawn_opts wo = {.name = "writer"};
    tr_addr w;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &writer_b, &wo, NULL, 0, &w), 0);
    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt, &ib), 0);
    tr_msg *r = NULL;
    cr_assert_eq(tr_inbox_request(ib, w, NULL, 300, NULL, 0, 5000, &r), 0);
    cr_assert_eq(r->type, TR_MSG_USER + (uint32_t)(-TR_ENOTSUP));
    tr_msg_free(r);
    tr_stats st;
    tr_node_stats_get(tr_runtime_node(rt), &st);
    cr_assert_eq(st.store_commits, 0);
    tr_inbox_destroy(ib);
    tr_runtime_destroy(rt);
}

/* A node n1 with an echo, and a client runtime (no store) that dials it. */
static void client_of(const char *seed, const char *secret, tr_runtime **rt_out,
                      tr_cluster **cl_out) {
    tr_config k = {.node_id = 0x80000001u, .node_name = "client", .workers = 1, .no_store = true};
    cr_assert_eq(tr_runtime_create(&k, rt_out), 0);
    tr_cluster_config cc = {.seeds = seed,
                            .secret = secret,
                            .secret_len = strlen(secret),
                            .client = true,
                            .quiet = true,
                            .handshake_timeout_ms = 3000};
    cr_assert_eq(tr_cluster_create(*rt_out, &cc, cl_out), 0);
}

static void stop(tr_runtime *rt, tr_cluster *cl) {
    tr_cluster_stop(cl);
    tr_runtime_destroy(rt);
    tr_cluster_destroy(cl);
}

Test(client, cluster_client_calls_a_named_actor_on_its_server, .timeout = 30) {
    tr_runtime *rt1 = start(1, false);
    tr_cluster_config cc = {
        .listen = "127.0.0.1:0", .secret = SECRET, .secret_len = strlen(SECRET)};
    tr_cluster *c1;
    cr_assert_eq(tr_cluster_create(rt1, &cc, &c1), 0);
    tr_spawn_opts eo = {.name = "echo"};
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt1), &echo_b, &eo, NULL, 0, NULL), 0);
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%d", tr_cluster_port(c1));
    tr_runtime *rt;
    tr_cluster *cl;
    client_of(seed, SECRET, &rt, &cl);
    uint32_t server = 0;
    cr_assert_eq(tr_cluster_wait_peer(cl, 5000, &server), 0);
    cr_assert_eq(server, 1);
    char why[64] = "x";
    tr_cluster_peer_error(cl, why, sizeof why);
    cr_assert_str_eq(why, "");
    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt, &ib), 0);
    tr_msg *r = NULL;
    cr_assert_eq(tr_inbox_request(ib, (tr_addr){server, 0, 0}, "echo", 300, "\xa2hi", 3, 5000, &r),
                 0);
    cr_assert_eq(r->type, 301);
    cr_assert_eq(r->body_len, 3);
    cr_assert_eq(memcmp(r->body, "\xa2hi", 3), 0);
    tr_msg_free(r);
    tr_inbox_destroy(ib);
    stop(rt, cl);
    stop(rt1, c1);
}

Test(client, cluster_client_gives_up_at_once_on_a_refusal_or_an_unknown_host, .timeout = 30) {
    tr_runtime *rt1 = start(1, false);
    tr_cluster_config cc = {
        .listen = "127.0.0.1:0", .secret = SECRET, .secret_len = strlen(SECRET)};
    tr_cluster *c1;
    cr_assert_eq(tr_cluster_create(rt1, &cc, &c1), 0);
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%d", tr_cluster_port(c1));
    tr_runtime *rt;
    tr_cluster *cl;
    uint32_t id = 0;
    char why[256];

    client_of(seed, "a-wrong-secret-0123456789", &rt, &cl);
    uint64_t t0 = mono_ms();
    cr_assert_eq(tr_cluster_wait_peer(cl, 10000, &id), TR_EAUTH);
    cr_assert_lt(mono_ms() - t0, 5000, "waited for the timeout");
    tr_cluster_peer_error(cl, why, sizeof why);
    cr_assert(strstr(why, "refused by the node: ") == why, "%s", why);
    stop(rt, cl);

    client_of("nosuchhost.invalid:7401", SECRET, &rt, &cl);
    t0 = mono_ms();
    cr_assert_eq(tr_cluster_wait_peer(cl, 10000, &id), TR_EUNREACH);
    cr_assert_lt(mono_ms() - t0, 5000, "waited for the timeout");
    tr_cluster_peer_error(cl, why, sizeof why);
    cr_assert(strstr(why, "cannot resolve nosuchhost.invalid:7401: ") == why, "%s", why);
    stop(rt, cl);

    client_of("127.0.0.1:1", SECRET, &rt, &cl); /* nobody listens: refused, not a timeout */
    cr_assert_eq(tr_cluster_wait_peer(cl, 10000, &id), TR_EUNREACH);
    tr_cluster_peer_error(cl, why, sizeof why);
    cr_assert(strstr(why, "cannot connect to 127.0.0.1:1: ") == why, "%s", why);
    stop(rt, cl);
    stop(rt1, c1);
}
