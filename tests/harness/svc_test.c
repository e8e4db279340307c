/* svc_test.c — the service module the loader's tests load: built -shared without libtroupe,
 * so every tr_* call goes to the program that loads it.
 *   "counter" (every node): add {"n": N} adds N to a per-node total and replies {"total": T,
 *             "node": NAME}; get replies the same without adding. NAME is the spawn
 *             argument, written by counter_arg from the node's environment.
 *   "pinned"  (node n2 only): where replies {"pinned": NAME}. */
#include <string.h>

#include "troupe.h"

enum {
    T_ADD = 300,
    T_GET = 301,
    T_WHERE = 302
};

typedef struct counter {
    int64_t total;
    char node[TR_NAME_MAX + 1];
} counter;

static int counter_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    counter *c = state;
    if (len == 0 || len > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    memcpy(c->node, arg, len);
    return 0;
}

/* The value of key "n" in a map body, or 0. */
static int64_t read_n(const tr_msg *m) {
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    uint32_t n = 0;
    int64_t v = 0;
    if (tr_mp_read_map(&r, &n) != 0) {
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kn;
        if (tr_mp_read_str(&r, &k, &kn) == 0 && tr_mp_str_eq(k, kn, "n")) {
            (void)tr_mp_read_int(&r, &v);
        } else {
            (void)tr_mp_skip(&r);
        }
    }
    return r.err ? 0 : v;
}

static int counter_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    counter *c = state;
    if (m->type != T_ADD && m->type != T_GET) {
        return TR_CONTINUE;
    }
    if (m->type == T_ADD) {
        c->total += read_n(m);
    }
    uint8_t buf[128];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 2);
    tr_mp_write_cstr(&w, "total");
    tr_mp_write_int(&w, c->total);
    tr_mp_write_cstr(&w, "node");
    tr_mp_write_cstr(&w, c->node);
    (void)tr_reply(ctx, m, m->type, buf, w.len);
    return TR_CONTINUE;
}

static int pinned_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type == T_WHERE) {
        uint8_t buf[96];
        tr_mp_writer w;
        tr_mp_writer_init(&w, buf, sizeof buf);
        tr_mp_write_map(&w, 1);
        tr_mp_write_cstr(&w, "pinned");
        tr_mp_write_cstr(&w, tr_node_name(tr_ctx_node(ctx)));
        (void)tr_reply(ctx, m, m->type, buf, w.len);
    }
    return TR_CONTINUE;
}

static int counter_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    size_t n = strlen(env->node_name);
    if (n > cap) {
        return TR_ETOOBIG;
    }
    memcpy(buf, env->node_name, n);
    *len = n;
    return 0;
}

static const tr_behaviour counter_b = {"counter", sizeof(counter), counter_init, counter_receive,
                                       NULL};
static const tr_behaviour pinned_b = {"pinned", 0, NULL, pinned_receive, NULL};

static const tr_service_actor actors[] = {
    {"counter", &counter_b, TR_PLACE_EVERY_NODE, NULL, counter_arg},
    {"pinned", &pinned_b, TR_PLACE_NAMED_NODES, "n2", NULL},
};
static const tr_service_request requests[] = {{"add", T_ADD}, {"get", T_GET}, {"where", T_WHERE}};
static const char *const bugs[] = {"off-by-one", NULL};

static const tr_service service = {
    .abi = TR_SERVICE_ABI,
    .name = "svc-test",
    .actors = actors,
    .actor_count = 2,
    .requests = requests,
    .request_count = 3,
    .bugs = bugs,
};

const tr_service *troupe_service_v1(void) {
    return &service;
}
