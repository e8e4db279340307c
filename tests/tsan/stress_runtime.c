/* stress_runtime.c — concurrency stress for the real engine, run under ThreadSanitizer.
 *
 * Criterion cannot run under TSan here (its sandbox maps memory where TSan keeps its
 * shadow), so this is a plain program: each stress case prints "ok" or "FAIL", and the
 * program ends with "N passed, M failed" and exits non-zero on any failure. Built and run by
 * `zig build test -Dtsan=true` (see build.zig) and by .ci/run. */
#include <stdio.h>
#include <string.h>

#include "tests/tsan/stress.h"
#include "troupe.h"

enum {
    T_NUM = TR_MSG_USER,
    T_GO,
    T_ASK,
    T_DONE,
    T_PING,
    T_PONG
};

static int passed, failed;

static tr_addr inbox_addr;

static uint64_t recv_u64(tr_inbox *ib, uint32_t type, int *ok) {
    tr_msg *m = NULL;
    *ok = 0;
    /* A guard against a hang, not a timing: valgrind serialises the workers and a loaded
     * machine slows it further (20 s once ran out there), so it is generous. */
    if (tr_inbox_receive(ib, 120000, &m) != 0) {
        return 0;
    }
    uint64_t v = 0;
    if (m->type == type && m->body_len == 8) {
        memcpy(&v, m->body, 8);
        *ok = 1;
    }
    tr_msg_free(m);
    return v;
}

/* ---- many producers, one consumer, across workers ---- */

#define PRODUCERS 16
#define PER 20000

typedef struct {
    uint32_t next[PRODUCERS];
    uint64_t total, bad;
} sink_state;
static int sink_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    sink_state *s = st;
    uint64_t v;
    memcpy(&v, m->body, 8);
    uint32_t p = (uint32_t)(v >> 32), q = (uint32_t)v;
    if (p < PRODUCERS && q == s->next[p]) {
        s->next[p]++;
    } else {
        s->bad++;
    }
    if (++s->total == (uint64_t)PRODUCERS * PER) {
        tr_send(ctx, inbox_addr, T_DONE, &s->bad, 8);
    }
    return TR_CONTINUE;
}
static const tr_behaviour sink_b = {"sink", sizeof(sink_state), NULL, sink_recv, NULL};

typedef struct {
    tr_addr to;
    uint32_t id, sent;
} src_state;
static int src_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    memcpy(st, arg, len);
    return tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
}
static int src_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    src_state *s = st;
    for (int i = 0; i < 100 && s->sent < PER; i++, s->sent++) {
        uint64_t v = (uint64_t)s->id << 32 | s->sent;
        tr_send(ctx, s->to, T_NUM, &v, 8);
    }
    if (s->sent == PER) {
        return TR_STOP;
    }
    tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
    return TR_CONTINUE;
}
static const tr_behaviour src_b = {"src", sizeof(src_state), src_init, src_recv, NULL};

static int stress_mpsc(tr_runtime *rt, tr_inbox *ib) {
    tr_node *node = tr_runtime_node(rt);
    tr_addr sink;
    stress_assert(tr_node_spawn(node, &sink_b, NULL, NULL, 0, &sink) == 0, "spawn");
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        src_state s = {sink, i, 0};
        stress_assert(tr_node_spawn(node, &src_b, NULL, &s, sizeof s, NULL) == 0, "spawn");
    }
    int ok;
    uint64_t bad = recv_u64(ib, T_DONE, &ok);
    stress_assert(ok, "no completion");
    stress_assert(bad == 0, "%lu out of order", (unsigned long)bad);
    tr_node_stop(node, sink, 0);
    return 0;
}

/* ---- spawn/stop churn with monitors and requests ---- */

static int worker_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == T_ASK) {
        tr_reply(ctx, m, T_PONG, NULL, 0);
        return TR_STOP;
    }
    return TR_CONTINUE;
}
static const tr_behaviour worker_b = {"worker", 0, NULL, worker_recv, NULL};

typedef struct {
    uint64_t left, replies, downs, timeouts;
} boss_state;
static int boss_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    boss_state *s = st;
    s->left = 2000;
    return tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
}
static int boss_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    boss_state *s = st;
    if (m->type == T_GO && s->left) {
        for (int i = 0; i < 20 && s->left; i++, s->left--) {
            tr_addr w;
            if (tr_spawn(ctx, &worker_b, NULL, NULL, 0, &w) != 0) {
                return TR_EFAILED;
            }
            tr_monitor(ctx, w, NULL);
            tr_request(ctx, w, T_ASK, NULL, 0, 10000, NULL);
        }
        tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
    } else if (m->type == T_PONG) {
        s->replies++;
    } else if (m->type == TR_MSG_DOWN) {
        s->downs++;
    } else if (m->type == TR_MSG_TIMEOUT) {
        s->timeouts++;
    }
    if (s->replies + s->timeouts == 2000 && s->downs == 2000) {
        uint64_t v = s->replies;
        tr_send(ctx, inbox_addr, T_DONE, &v, 8);
        return TR_STOP;
    }
    return TR_CONTINUE;
}
static const tr_behaviour boss_b = {"boss", sizeof(boss_state), boss_init, boss_recv, NULL};

static int stress_churn(tr_runtime *rt, tr_inbox *ib) {
    stress_assert(tr_node_spawn(tr_runtime_node(rt), &boss_b, NULL, NULL, 0, NULL) == 0, "spawn");
    int ok;
    uint64_t replies = recv_u64(ib, T_DONE, &ok);
    stress_assert(ok, "no completion");
    stress_assert(replies == 2000, "%lu replies", (unsigned long)replies);
    return 0;
}

/* ---- pingpong pairs across workers with timers ---- */

typedef struct {
    tr_addr peer;
    uint32_t left;
    uint64_t timer;
} pp_state;
static int pp_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    pp_state *s = st;
    if (m->type == T_GO) {
        memcpy(&s->peer, m->body, sizeof s->peer);
        s->left = 5000;
        tr_timer_start(ctx, 1, 1, T_NUM, &s->timer);
        tr_send(ctx, s->peer, T_PING, NULL, 0);
    } else if (m->type == T_PING) {
        tr_send(ctx, m->from, T_PONG, NULL, 0);
    } else if (m->type == T_PONG) {
        if (--s->left == 0) {
            tr_timer_stop(ctx, s->timer);
            uint64_t v = 1;
            tr_send(ctx, inbox_addr, T_DONE, &v, 8);
        } else {
            tr_send(ctx, s->peer, T_PING, NULL, 0);
        }
    }
    return TR_CONTINUE;
}
static const tr_behaviour pp_b = {"pp", sizeof(pp_state), NULL, pp_recv, NULL};

static int stress_pingpong(tr_runtime *rt, tr_inbox *ib) {
    tr_node *node = tr_runtime_node(rt);
    tr_addr a[8], b[8];
    for (int i = 0; i < 8; i++) {
        stress_assert(tr_node_spawn(node, &pp_b, NULL, NULL, 0, &a[i]) == 0, "spawn");
        stress_assert(tr_node_spawn(node, &pp_b, NULL, NULL, 0, &b[i]) == 0, "spawn");
        tr_node_send(node, a[i], T_GO, &b[i], sizeof b[i]);
    }
    for (int i = 0; i < 8; i++) {
        int ok;
        recv_u64(ib, T_DONE, &ok);
        stress_assert(ok, "pair %d did not finish", i);
    }
    return 0;
}

/* ---- durable writes from many actors ---- */

typedef struct {
    uint32_t n;
    uint64_t token;
} dw_state;
static int dw_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    return tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
}
static int dw_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    dw_state *s = st;
    if (m->type == T_GO) {
        uint32_t k = s->n;
        if (tr_kv_put(ctx, &k, sizeof k, &k, sizeof k) != 0) {
            return TR_EFAILED;
        }
        return tr_durable_notify(ctx, &s->token);
    }
    if (m->type == TR_MSG_DURABLE && m->corr == s->token) {
        uint32_t k = s->n, v = 0;
        size_t len;
        if (tr_kv_get(ctx, &k, sizeof k, &v, sizeof v, &len) != 0 || v != k) {
            return TR_EFAILED;
        }
        if (++s->n == 50) {
            uint64_t one = 1;
            tr_send(ctx, inbox_addr, T_DONE, &one, 8);
            return TR_STOP;
        }
        tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
    }
    return TR_CONTINUE;
}
static const tr_behaviour dw_b = {"durable-writer", sizeof(dw_state), dw_init, dw_recv, NULL};

static int stress_durable(tr_runtime *rt, tr_inbox *ib) {
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "dw%d", i);
        tr_spawn_opts o = {.name = name};
        stress_assert(tr_node_spawn(tr_runtime_node(rt), &dw_b, &o, NULL, 0, NULL) == 0, "spawn");
    }
    for (int i = 0; i < 20; i++) {
        int ok;
        recv_u64(ib, T_DONE, &ok);
        stress_assert(ok, "writer %d did not finish", i);
    }
    return 0;
}

int main(void) {
    static const struct {
        const char *name;
        int (*fn)(tr_runtime *, tr_inbox *);
    } cases[] = {
        {"mpsc_fifo_16_producers", stress_mpsc},
        {"spawn_stop_churn_with_monitors_and_requests", stress_churn},
        {"pingpong_pairs_with_timers", stress_pingpong},
        {"durable_writes_from_20_actors", stress_durable},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_config cfg = {.workers = 3};
        tr_runtime *rt;
        tr_inbox *ib;
        if (tr_runtime_create(&cfg, &rt) != 0 || tr_inbox_create(rt, &ib) != 0) {
            fprintf(stderr, "runtime start failed\n");
            return 2;
        }
        inbox_addr = tr_inbox_addr(ib);
        int rc = cases[i].fn(rt, ib);
        tr_inbox_destroy(ib);
        tr_runtime_destroy(rt);
        printf("%s %s\n", rc ? "FAIL" : "ok  ", cases[i].name);
        rc ? failed++ : passed++;
    }
    printf("stress: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
