/* stress_cluster.c — the real cluster path under ThreadSanitizer: two runtimes in one
 * process (2 workers each; worker 0 also runs the libuv loop) joined by tr_cluster over
 * 127.0.0.1 (node 2's seed given as "localhost:PORT": resolved on libuv's thread pool).
 * Many client actors on node 1 send pipelined requests to an echo on node 2 by name and
 * check every reply; sends come from both workers while worker 0 polls the loop.
 * Prints "N passed, M failed" (see stress_runtime.c for why this is not Criterion). */
#include <stdio.h>
#include <string.h>

#include "runtime/real.h"
#include "tests/tsan/stress.h"
#include "troupe.h"

#define SECRET "stress-cluster-secret-0123456789"
#define CLIENTS 8
#define PER_CLIENT 2000
#define WINDOW 16

enum {
    T_ECHO = TR_MSG_USER,
    T_DONE
};

static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type == T_ECHO) {
        tr_reply(ctx, m, T_ECHO, m->body, m->body_len);
    }
    return TR_CONTINUE;
}
static const tr_behaviour echo_b = {.name = "echo", .receive = echo_receive};

typedef struct client {
    tr_addr main;
    uint32_t sent, got, bad;
} client;

static int client_send(tr_ctx *ctx, client *c) {
    uint32_t v = c->sent++;
    return tr_request_name(ctx, "echo@n2", T_ECHO, &v, sizeof v, 10000, NULL);
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    client *c = state;
    memcpy(&c->main, arg, sizeof c->main);
    for (int i = 0; i < WINDOW; i++) {
        int rc = client_send(ctx, c);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    client *c = state;
    if (m->type != T_ECHO || m->body_len != sizeof(uint32_t)) {
        c->bad++;
    }
    c->got++;
    if (c->sent < PER_CLIENT) {
        int rc = client_send(ctx, c);
        if (rc) {
            return rc;
        }
    }
    if (c->got == PER_CLIENT) {
        uint64_t bad = c->bad;
        tr_send(ctx, c->main, T_DONE, &bad, sizeof bad);
        return TR_STOP;
    }
    return TR_CONTINUE;
}
static const tr_behaviour client_b = {
    .name = "client", .state_size = sizeof(client), .init = client_init, .receive = client_receive};

/* Waits for every client's report; 0 when all CLIENTS finished with no bad reply. */
static int wait_clients(tr_inbox *ib) {
    for (int i = 0; i < CLIENTS; i++) {
        tr_msg *m;
        stress_assert(tr_inbox_receive(ib, 120000, &m) == 0, "client %d did not finish", i);
        uint64_t bad = 0;
        if (m->body_len == sizeof bad) {
            memcpy(&bad, m->body, sizeof bad);
        }
        uint32_t type = m->type;
        tr_msg_free(m);
        stress_assert(type == T_DONE && bad == 0, "client %d: %llu bad replies", i,
                      (unsigned long long)bad);
    }
    return 0;
}

int main(void) {
    tr_runtime *rt1, *rt2;
    tr_cluster *c1, *c2;
    tr_config k1 = {.node_id = 1, .node_name = "n1", .workers = 2};
    tr_config k2 = {.node_id = 2, .node_name = "n2", .workers = 2};
    if (tr_runtime_create(&k1, &rt1) || tr_runtime_create(&k2, &rt2)) {
        return 2;
    }
    tr_cluster_config cc = {
        .listen = "127.0.0.1:0", .secret = SECRET, .secret_len = strlen(SECRET)};
    if (tr_cluster_create(rt1, &cc, &c1)) {
        return 2;
    }
    char seeds[32];
    /* by name: the resolution runs on libuv's thread pool (uv_getaddrinfo) */
    snprintf(seeds, sizeof seeds, "localhost:%d", tr_cluster_port(c1));
    tr_cluster_config cc2 = cc;
    cc2.seeds = seeds;
    if (tr_cluster_create(rt2, &cc2, &c2)) {
        return 2;
    }
    uint32_t peer;
    int failed = 0;
    tr_spawn_opts eo = {.name = "echo"};
    if (tr_cluster_wait_peer(c1, 10000, &peer) ||
        tr_node_spawn(tr_runtime_node(rt2), &echo_b, &eo, NULL, 0, NULL)) {
        fprintf(stderr, "FAIL: cluster did not form\n");
        failed = 1;
    }
    tr_inbox *ib;
    if (!failed && tr_inbox_create(rt1, &ib) == 0) {
        tr_addr main_addr = tr_inbox_addr(ib);
        for (int i = 0; i < CLIENTS; i++) {
            tr_node_spawn(tr_runtime_node(rt1), &client_b, NULL, &main_addr, sizeof main_addr,
                          NULL);
        }
        failed = wait_clients(ib);
        tr_inbox_destroy(ib);
    }
    tr_cluster_stop(c2);
    tr_cluster_stop(c1);
    tr_runtime_destroy(rt2);
    tr_runtime_destroy(rt1);
    tr_cluster_destroy(c2);
    tr_cluster_destroy(c1);
    printf("%s pipelined_requests_between_two_clustered_runtimes\n", failed ? "FAIL" : "ok  ");
    printf("stress: %d passed, %d failed\n", !failed, failed);
    return failed;
}
