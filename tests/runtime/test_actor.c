/* Actors on the real engine: mailboxes, scheduling, requests, timers, links, monitors,
 * registry, dead letters, bounded mailboxes. Every wait is bounded by an inbox timeout.
 * Then the runtime's own checks, on a node driven by hand (no threads): the node invariant
 * walker (tr__node_check) holds on a busy node and catches planted corruption, the run
 * token catches an actor run twice at once, the pool a message freed twice, and a failed
 * assertion on a real worker names the worker, the node and the actor. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/actor.h"
#include "runtime/internal.h"
#include "troupe.h"

enum {
    T_PING = TR_MSG_USER,
    T_PONG,
    T_REPORT,
    T_GO,
    T_TICK,
    T_WORK,
    T_NUM,
    T_ASK,
    T_IGNORE
};

static tr_runtime *rt;
static tr_inbox *inbox;
static tr_node *node;

static void setup(void) {
    tr_config cfg = {.workers = 2};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    node = tr_runtime_node(rt);
    cr_assert_eq(tr_inbox_create(rt, &inbox), 0);
}

static void teardown(void) {
    tr_inbox_destroy(inbox);
    tr_runtime_destroy(rt);
}

static tr_msg *expect(uint32_t type) {
    tr_msg *m = NULL;
    int rc = tr_inbox_receive(inbox, 5000, &m);
    cr_assert_eq(rc, 0, "no message of type %u within 5 s (%s)", type, tr_strerror(rc));
    cr_assert_eq(m->type, type, "got type %u, expected %u", m->type, type);
    return m;
}

static uint64_t u64_of(const tr_msg *m) {
    uint64_t v;
    cr_assert_eq(m->body_len, sizeof v);
    memcpy(&v, m->body, sizeof v);
    return v;
}

static void report(tr_ctx *ctx, uint64_t v) {
    tr_send(ctx, tr_inbox_addr(inbox), T_REPORT, &v, sizeof v);
}

/* ---- FIFO under many producers ---- */

#define PRODUCERS 8
#define PER_PRODUCER 20000

typedef struct {
    uint64_t next[PRODUCERS];
    uint64_t total;
    int bad;
} fifo_state;

static int fifo_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    fifo_state *s = st;
    uint64_t v;
    memcpy(&v, m->body, sizeof v);
    uint32_t p = (uint32_t)(v >> 32), seq = (uint32_t)v;
    if (p >= PRODUCERS || seq != s->next[p]) {
        s->bad++;
    } else {
        s->next[p]++;
    }
    if (++s->total == (uint64_t)PRODUCERS * PER_PRODUCER) {
        report(ctx, (uint64_t)s->bad);
    }
    return TR_CONTINUE;
}
static const tr_behaviour fifo_b = {"fifo", sizeof(fifo_state), NULL, fifo_recv, NULL};

typedef struct {
    tr_addr to;
    uint32_t id;
    uint32_t sent;
} prod_state;
static int prod_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    memcpy(st, arg, len);
    return tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
}
static int prod_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    prod_state *s = st;
    for (int i = 0; i < 500 && s->sent < PER_PRODUCER; i++, s->sent++) {
        uint64_t v = ((uint64_t)s->id << 32) | s->sent;
        cr_assert_eq(tr_send(ctx, s->to, T_NUM, &v, sizeof v), 0);
    }
    if (s->sent < PER_PRODUCER) {
        tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
    } else {
        return TR_STOP;
    }
    return TR_CONTINUE;
}
static const tr_behaviour prod_b = {"producer", sizeof(prod_state), prod_init, prod_recv, NULL};

Test(actor, mailbox_is_fifo_per_sender_under_many_producers, .init = setup, .fini = teardown) {
    tr_addr sink;
    cr_assert_eq(tr_node_spawn(node, &fifo_b, NULL, NULL, 0, &sink), 0);
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        prod_state p = {sink, i, 0};
        cr_assert_eq(tr_node_spawn(node, &prod_b, NULL, &p, sizeof p, NULL), 0);
    }
    tr_msg *m = expect(T_REPORT);
    cr_assert_eq(u64_of(m), 0, "%lu messages out of order", (unsigned long)u64_of(m));
    tr_msg_free(m);
}

/* ---- bodies of every short length arrive intact ---- */

static int quiet_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    (void)ctx;
    (void)st;
    (void)m;
    return TR_CONTINUE;
}

/* A send copies its body: up to 16 bytes inline (two fixed-width loads and stores that may
 * overlap, or three byte copies), longer ones by memcpy. The sender sends every length from
 * 0 to BODY_LEN_MAX, each byte a function of the length and its offset, and the receiver
 * counts the bodies that differ. */
#define BODY_LEN_MAX 40
#define T_BODY (TR_MSG_USER + 100) /* T_BODY + n: a body of n bytes */

static uint8_t body_byte(uint32_t len, uint32_t i) {
    return (uint8_t)(len * 31u + i * 7u + 1u);
}

typedef struct {
    uint32_t got;
    uint32_t bad;
} bodies_state;

static int bodies_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    bodies_state *s = st;
    uint32_t len = m->type - T_BODY; /* the type says the length sent */
    bool ok = m->body_len == len;
    for (uint32_t i = 0; ok && i < len; i++) {
        ok = m->body[i] == body_byte(len, i);
    }
    s->bad += ok ? 0 : 1;
    if (++s->got == BODY_LEN_MAX + 1) {
        report(ctx, s->bad);
    }
    return TR_CONTINUE;
}
static const tr_behaviour bodies_b = {"bodies", sizeof(bodies_state), NULL, bodies_recv, NULL};

static int bodies_send_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    tr_addr to;
    memcpy(&to, arg, sizeof to);
    for (uint32_t n = 0; n <= BODY_LEN_MAX; n++) {
        /* in a buffer one byte longer, whose extra byte must not travel */
        uint8_t buf[BODY_LEN_MAX + 1];
        for (uint32_t i = 0; i < n; i++) {
            buf[i] = body_byte(n, i);
        }
        buf[n] = 0xEE;
        cr_assert_eq(tr_send(ctx, to, T_BODY + n, n ? buf : NULL, n), 0);
    }
    return 0;
}
static const tr_behaviour bodies_send_b = {"bodies-sender", 0, bodies_send_init, quiet_recv, NULL};

Test(actor, bodies_of_every_short_length_arrive_intact, .init = setup, .fini = teardown) {
    tr_addr sink;
    cr_assert_eq(tr_node_spawn(node, &bodies_b, NULL, NULL, 0, &sink), 0);
    cr_assert_eq(tr_node_spawn(node, &bodies_send_b, NULL, &sink, sizeof sink, NULL), 0);
    tr_msg *m = expect(T_REPORT);
    cr_assert_eq(u64_of(m), 0, "%lu of %d bodies differ from what was sent",
                 (unsigned long)u64_of(m), BODY_LEN_MAX + 1);
    tr_msg_free(m);
}

/* ---- fairness: a flooded actor does not starve another ---- */

static int spinner_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    tr_send(ctx, tr_self(ctx), T_GO, NULL, 0); /* always runnable */
    return TR_CONTINUE;
}
static const tr_behaviour spinner_b = {"spinner", 0, NULL, spinner_recv, NULL};
static int echo_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == T_PING) {
        report(ctx, 42);
    }
    return TR_CONTINUE;
}
static const tr_behaviour echo_b = {"echo", 0, NULL, echo_recv, NULL};

Test(actor, busy_actors_do_not_starve_others, .init = setup, .fini = teardown) {
    tr_addr sp[4], e;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(tr_node_spawn(node, &spinner_b, NULL, NULL, 0, &sp[i]), 0);
        tr_node_send(node, sp[i], T_GO, NULL, 0);
    }
    cr_assert_eq(tr_node_spawn(node, &echo_b, NULL, NULL, 0, &e), 0);
    for (int i = 0; i < 10; i++) {
        tr_node_send(node, e, T_PING, NULL, 0);
        tr_msg *m = expect(T_REPORT);
        tr_msg_free(m);
    }
    for (int i = 0; i < 4; i++) {
        tr_node_stop(node, sp[i], 0);
    }
}

/* ---- request / reply / timeout ---- */

typedef struct {
    tr_addr server;
    uint64_t corr;
} client_state;
static int server_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == T_ASK) {
        uint64_t v = 7;
        tr_reply(ctx, m, T_PONG, &v, sizeof v);
    }
    return TR_CONTINUE; /* T_IGNORE: never answered */
}
static const tr_behaviour server_b = {"server", 0, NULL, server_recv, NULL};
static int client_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    client_state *s = st;
    memcpy(&s->server, arg, sizeof s->server);
    cr_assert_eq(tr_request(ctx, s->server, T_ASK, NULL, 0, 2000, &s->corr), 0);
    return 0;
}
static int client_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    client_state *s = st;
    if (m->type == T_PONG && m->corr == s->corr) {
        report(ctx, 1);
        return tr_request(ctx, s->server, T_IGNORE, NULL, 0, 50, &s->corr);
    }
    if (m->type == TR_MSG_TIMEOUT && m->corr == s->corr) {
        report(ctx, 2);
        return TR_STOP;
    }
    report(ctx, 99);
    return TR_CONTINUE;
}
static const tr_behaviour client_b = {"client", sizeof(client_state), client_init, client_recv,
                                      NULL};

Test(actor, request_gets_reply_then_timeout, .init = setup, .fini = teardown) {
    tr_addr s;
    cr_assert_eq(tr_node_spawn(node, &server_b, NULL, NULL, 0, &s), 0);
    cr_assert_eq(tr_node_spawn(node, &client_b, NULL, &s, sizeof s, NULL), 0);
    tr_msg *m = expect(T_REPORT);
    cr_assert_eq(u64_of(m), 1, "first a reply");
    tr_msg_free(m);
    m = expect(T_REPORT);
    cr_assert_eq(u64_of(m), 2, "then a timeout");
    tr_msg_free(m);
}

/* ---- timers: order, periodic, cancel ---- */

typedef struct {
    uint64_t t30, t10, t20, per;
    int ticks;
} timer_state;
static int timer_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    timer_state *s = st;
    cr_assert_eq(tr_timer_start(ctx, 60, 0, T_TICK, &s->t30), 0);
    cr_assert_eq(tr_timer_start(ctx, 10, 0, T_TICK, &s->t10), 0);
    cr_assert_eq(tr_timer_start(ctx, 30, 0, T_TICK, &s->t20), 0);
    cr_assert_eq(tr_timer_start(ctx, 5, 5, T_WORK, &s->per), 0);
    cr_assert_eq(tr_timer_stop(ctx, s->t20), 0);
    cr_assert_eq(tr_timer_stop(ctx, s->t20), TR_ENOENT);
    return 0;
}
static int timer_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    timer_state *s = st;
    if (m->type == T_TICK) {
        report(ctx, m->corr == s->t10 ? 10 : m->corr == s->t30 ? 30 : 20);
    }
    if (m->type == T_WORK && ++s->ticks == 3) {
        tr_timer_stop(ctx, s->per);
        report(ctx, 3);
    }
    if (m->type == T_WORK && s->ticks > 3) {
        report(ctx, 666);
    }
    return TR_CONTINUE;
}
static const tr_behaviour timer_b = {"timers", sizeof(timer_state), timer_init, timer_recv, NULL};

Test(actor, timers_fire_in_order_and_cancel_holds, .init = setup, .fini = teardown) {
    cr_assert_eq(tr_node_spawn(node, &timer_b, NULL, NULL, 0, NULL), 0);
    int pos10 = -1, pos30 = -1, n3 = 0, i = 0;
    tr_msg *m = NULL;
    while (tr_inbox_receive(inbox, 300, &m) == 0) {
        uint64_t v = u64_of(m);
        cr_assert_neq(v, 20, "a cancelled timer fired");
        cr_assert_neq(v, 666, "a cancelled periodic timer fired");
        if (v == 10) {
            pos10 = i;
        }
        if (v == 30) {
            pos30 = i;
        }
        n3 += v == 3;
        tr_msg_free(m);
        i++;
    }
    cr_assert(pos10 >= 0 && pos30 >= 0, "both one-shot timers fired");
    cr_assert_lt(pos10, pos30, "the 10 ms timer fired before the 60 ms one");
    cr_assert_eq(n3, 1, "the periodic timer ticked 3 times, then its cancel held");
}

/* ---- monitors and links ---- */

static int crash_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == T_GO) {
        return TR_EFAILED;
    }
    return TR_CONTINUE;
}
static const tr_behaviour crash_b = {"crasher", 0, NULL, crash_recv, NULL};

typedef struct {
    tr_addr target;
    uint64_t ref;
} watcher_state;
static int watcher_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    watcher_state *s = st;
    memcpy(&s->target, arg, sizeof s->target);
    return tr_monitor(ctx, s->target, &s->ref);
}
static int watcher_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    watcher_state *s = st;
    if (m->type == TR_MSG_DOWN && m->corr == s->ref && tr_addr_eq(m->from, s->target)) {
        int64_t reason = (int8_t)m->body[0];
        if (m->body[0] == 0xd3) {
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) {
                u = (u << 8) | m->body[1 + i];
            }
            reason = (int64_t)u;
        }
        report(ctx, (uint64_t)-reason);
    }
    return TR_CONTINUE;
}
static const tr_behaviour watcher_b = {"watcher", sizeof(watcher_state), watcher_init, watcher_recv,
                                       NULL};

Test(actor, monitor_gets_down_with_reason, .init = setup, .fini = teardown) {
    tr_addr c;
    cr_assert_eq(tr_node_spawn(node, &crash_b, NULL, NULL, 0, &c), 0);
    cr_assert_eq(tr_node_spawn(node, &watcher_b, NULL, &c, sizeof c, NULL), 0);
    tr_node_send(node, c, T_PING, NULL, 0); /* ordering: the monitor goes first in practice */
    tr_node_send(node, c, T_GO, NULL, 0);
    tr_msg *m = expect(T_REPORT);
    uint64_t r = u64_of(m);
    cr_assert(r == (uint64_t)-TR_EFAILED || r == (uint64_t)-TR_ENOPROC, "reason %lu",
              (unsigned long)r);
    tr_msg_free(m);
    cr_assert(!tr_node_actor_is_alive(node, c));
}

Test(actor, monitor_of_dead_actor_says_noproc, .init = setup, .fini = teardown) {
    tr_addr c;
    cr_assert_eq(tr_node_spawn(node, &crash_b, NULL, NULL, 0, &c), 0);
    tr_node_send(node, c, T_GO, NULL, 0);
    for (int i = 0; i < 1000 && tr_node_actor_is_alive(node, c); i++) {
        tr_inbox_receive(inbox, 1, &(tr_msg *){0});
    }
    cr_assert(!tr_node_actor_is_alive(node, c));
    cr_assert_eq(tr_node_spawn(node, &watcher_b, NULL, &c, sizeof c, NULL), 0);
    tr_msg *m = expect(T_REPORT);
    cr_assert_eq(u64_of(m), (uint64_t)-TR_ENOPROC);
    tr_msg_free(m);
}

typedef struct {
    tr_addr other;
    int trap;
} linker_state;
static int linker_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    linker_state *s = st;
    memcpy(s, arg, sizeof *s);
    tr_trap_exit(ctx, s->trap);
    return tr_link(ctx, s->other);
}
static int linker_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == TR_MSG_EXIT) {
        report(ctx, 5);
    }
    if (m->type == T_PING) {
        report(ctx, 6);
    }
    return TR_CONTINUE;
}
static void linker_term(tr_ctx *ctx, void *st, int reason) {
    if (reason == TR_ELINKED) {
        report(ctx, 7);
    }
}
static const tr_behaviour linker_b = {"linker", sizeof(linker_state), linker_init, linker_recv,
                                      linker_term};

Test(actor, link_propagates_failure_unless_trapping, .init = setup, .fini = teardown) {
    tr_addr c1, c2;
    cr_assert_eq(tr_node_spawn(node, &crash_b, NULL, NULL, 0, &c1), 0);
    cr_assert_eq(tr_node_spawn(node, &crash_b, NULL, NULL, 0, &c2), 0);
    linker_state a = {c1, 0}, b = {c2, 1};
    tr_addr l1, l2;
    cr_assert_eq(tr_node_spawn(node, &linker_b, NULL, &a, sizeof a, &l1), 0);
    cr_assert_eq(tr_node_spawn(node, &linker_b, NULL, &b, sizeof b, &l2), 0);
    tr_node_send(node, l1, T_PING, NULL, 0); /* both links are in place after these */
    tr_node_send(node, l2, T_PING, NULL, 0);
    tr_msg *m = expect(T_REPORT);
    tr_msg_free(m);
    m = expect(T_REPORT);
    tr_msg_free(m);
    tr_node_send(node, c1, T_GO, NULL, 0);
    tr_node_send(node, c2, T_GO, NULL, 0);
    int got5 = 0, got7 = 0;
    for (int i = 0; i < 2; i++) {
        m = expect(T_REPORT);
        got5 += u64_of(m) == 5;
        got7 += u64_of(m) == 7;
        tr_msg_free(m);
    }
    cr_assert_eq(got5, 1, "the trapping linker got EXIT");
    cr_assert_eq(got7, 1, "the other linker died with TR_ELINKED");
    cr_assert(!tr_node_actor_is_alive(node, l1));
    cr_assert(tr_node_actor_is_alive(node, l2));
}

/* ---- registry ---- */

Test(actor, registry_names_follow_actor_life, .init = setup, .fini = teardown) {
    tr_spawn_opts o = {.name = "svc"};
    tr_addr a, found;
    cr_assert_eq(tr_node_spawn(node, &crash_b, &o, NULL, 0, &a), 0);
    cr_assert_eq(tr_node_lookup(node, "svc", &found), 0);
    cr_assert(tr_addr_eq(a, found));
    cr_assert_eq(tr_node_spawn(node, &crash_b, &o, NULL, 0, NULL), TR_EEXIST);
    tr_node_send(node, a, T_GO, NULL, 0);
    for (int i = 0; i < 1000 && tr_node_actor_is_alive(node, a); i++) {
        tr_inbox_receive(inbox, 1, &(tr_msg *){0});
    }
    cr_assert_eq(tr_node_lookup(node, "svc", &found), TR_ENOENT);
    tr_addr b;
    cr_assert_eq(tr_node_spawn(node, &crash_b, &o, NULL, 0, &b), 0, "a dead name is free again");
    cr_assert(!tr_addr_eq(a, b), "ids are not reused");
    cr_assert_eq(tr_node_spawn(node, &crash_b, &(tr_spawn_opts){.name = ""}, NULL, 0, NULL),
                 TR_EINVAL);
}

/* ---- dead letters and stop with queued messages ---- */

Test(actor, messages_to_dead_actors_are_counted_dead_letters, .init = setup, .fini = teardown) {
    tr_addr a;
    cr_assert_eq(tr_node_spawn(node, &echo_b, NULL, NULL, 0, &a), 0);
    cr_assert_eq(tr_node_stop(node, a, 0), 0);
    for (int i = 0; i < 1000 && tr_node_actor_is_alive(node, a); i++) {
        tr_inbox_receive(inbox, 1, &(tr_msg *){0});
    }
    tr_stats before, after;
    tr_node_stats_get(node, &before);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(tr_node_send(node, a, T_PING, NULL, 0), 0);
    }
    tr_node_send(node, (tr_addr){1, 0, 0xdead00000001ull}, T_PING, NULL, 0);
    tr_node_stats_get(node, &after);
    cr_assert_eq(after.dead_letters - before.dead_letters, 11);
}

static int slow_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == T_GO) {
        report(ctx, 1);
        return TR_STOP; /* stops with messages still queued behind */
    }
    report(ctx, 2);
    return TR_CONTINUE;
}
static const tr_behaviour slow_b = {"slow", 0, NULL, slow_recv, NULL};

Test(actor, stop_with_queued_messages_makes_them_dead_letters, .init = setup, .fini = teardown) {
    tr_addr a;
    tr_stats before, after;
    tr_node_stats_get(node, &before);
    cr_assert_eq(tr_node_spawn(node, &slow_b, NULL, NULL, 0, &a), 0);
    tr_node_send(node, a, T_GO, NULL, 0);
    for (int i = 0; i < 50; i++) {
        tr_node_send(node, a, T_PING, NULL, 0);
    }
    tr_msg *m = expect(T_REPORT);
    cr_assert_eq(u64_of(m), 1);
    tr_msg_free(m);
    cr_assert_eq(tr_inbox_receive(inbox, 100, &m), TR_ETIMEDOUT, "nothing after the stop");
    tr_node_stats_get(node, &after);
    cr_assert_eq(after.dead_letters - before.dead_letters, 50);
}

/* ---- bounded mailbox ---- */

static int block_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    return TR_CONTINUE;
}
static const tr_behaviour block_b = {"blocked", 0, NULL, block_recv, NULL};

typedef struct {
    tr_addr to;
} flood_state;
static int flood_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    tr_addr to;
    memcpy(&to, arg, sizeof to);
    uint64_t ok = 0, full = 0;
    for (int i = 0; i < 100; i++) {
        int rc = tr_send(ctx, to, T_PING, NULL, 0);
        if (rc == 0) {
            ok++;
        } else if (rc == TR_EFULL) {
            full++;
        }
    }
    report(ctx, ok << 32 | full);
    return 0;
}
static const tr_behaviour flood_b = {"flood", 0, flood_init, block_recv, NULL};

Test(actor, bounded_mailbox_rejects_or_drops_when_full, .init = setup, .fini = teardown) {
    /* A target that is never scheduled while we flood: spawn it, then fill it from one
     * actor's init (one activation), so at most `capacity` fit. */
    tr_spawn_opts rej = {.mailbox_capacity = 10, .overflow = TR_OVERFLOW_REJECT};
    tr_addr t;
    cr_assert_eq(tr_node_spawn(node, &block_b, &rej, NULL, 0, &t), 0);
    cr_assert_eq(tr_node_spawn(node, &flood_b, NULL, &t, sizeof t, NULL), 0);
    tr_msg *m = expect(T_REPORT);
    uint64_t v = u64_of(m);
    tr_msg_free(m);
    cr_assert_eq((v >> 32) + (v & 0xffffffff), 100);
    cr_assert_geq(v & 0xffffffff, 80, "REJECT refused most sends (%lu)",
                  (unsigned long)(v & 0xffffffff));
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_geq(st.mailbox_rejects, 80);

    tr_spawn_opts drop = {.mailbox_capacity = 10, .overflow = TR_OVERFLOW_DROP};
    tr_stats before;
    tr_node_stats_get(node, &before);
    cr_assert_eq(tr_node_spawn(node, &block_b, &drop, NULL, 0, &t), 0);
    cr_assert_eq(tr_node_spawn(node, &flood_b, NULL, &t, sizeof t, NULL), 0);
    m = expect(T_REPORT);
    v = u64_of(m);
    tr_msg_free(m);
    cr_assert_eq(v >> 32, 100, "DROP never fails the send");
    tr_node_stats_get(node, &st);
    cr_assert_geq(st.dead_letters - before.dead_letters, 80);
}

/* ---- muting keeps a flooded mailbox bounded ---- */

typedef struct {
    tr_addr to;
    uint32_t sent;
} flooder_state;
static int flooder_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    memcpy(st, arg, sizeof(tr_addr));
    return tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
}
static int flooder_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    flooder_state *s = st;
    for (int i = 0; i < 1000; i++) {
        tr_send(ctx, s->to, T_NUM, &(uint64_t){1}, 8);
    }
    s->sent += 1000;
    if (s->sent < 2000000) {
        tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
    } else {
        tr_send(ctx, s->to, T_ASK, NULL, 0);
    }
    return TR_CONTINUE;
}
static const tr_behaviour flooder_b = {"flooder", sizeof(flooder_state), flooder_init, flooder_recv,
                                       NULL};
typedef struct {
    uint64_t n;
} counter_state;
static int counter_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    counter_state *s = st;
    if (m->type == T_NUM) {
        s->n++;
    } else if (m->type == T_ASK) {
        report(ctx, s->n);
    }
    return TR_CONTINUE;
}
static const tr_behaviour counter_b = {"counter", sizeof(counter_state), NULL, counter_recv, NULL};

Test(actor, flooding_sender_is_muted_and_nothing_is_lost, .init = setup, .fini = teardown) {
    tr_addr c;
    cr_assert_eq(tr_node_spawn(node, &counter_b, NULL, NULL, 0, &c), 0);
    flooder_state f = {c, 0};
    cr_assert_eq(tr_node_spawn(node, &flooder_b, NULL, &f, sizeof f, NULL), 0);
    tr_msg *m = NULL;
    cr_assert_eq(tr_inbox_receive(inbox, 20000, &m), 0);
    cr_assert_eq(u64_of(m), 2000000);
    tr_msg_free(m);
}

/* ---- the runtime's own checks, on a node driven by hand ---- */

typedef struct manual {
    tr_actor *q[1024];
    uint32_t len;
} manual;

static manual eng;

static uint64_t m_now(void *e, tr_node *n) {
    return 0;
}
static uint64_t m_random(void *e, tr_node *n) {
    return 4;
}
static void m_schedule(void *e, tr_node *n, tr_actor *a) {
    manual *m = e;
    cr_assert_lt(m->len, 1024);
    m->q[m->len++] = a;
}
static uint64_t m_timer_arm(void *e, tr_node *n, tr_addr owner, uint64_t id, uint64_t due) {
    return 0;
}
static const tr_engine_ops manual_ops = {
    .now_ns = m_now, .random = m_random, .schedule = m_schedule, .timer_arm = m_timer_arm};

static tr_node *manual_node(void) {
    memset(&eng, 0, sizeof eng);
    tr_node_opts o = {.node_id = 1, .ops = &manual_ops, .engine = &eng};
    tr_node *n = NULL;
    cr_assert_eq(tr__node_create(&o, &n), 0);
    return n;
}

/* Runs queued activations (first in, first out) until the queue is empty or `max` ran. */
static void manual_run(uint32_t max) {
    for (uint32_t i = 0; i < max && eng.len; i++) {
        tr_actor *a = eng.q[0];
        memmove(eng.q, eng.q + 1, (eng.len - 1) * sizeof eng.q[0]);
        eng.len--;
        if (tr__actor_run(a)) {
            m_schedule(&eng, NULL, a);
        }
    }
}

static tr_actor *actor_of(tr_node *n, tr_addr a) {
    tr_actor *x = tr__actor_slot_get(n, a.actor);
    cr_assert_not_null(x);
    return x;
}

static int sink_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    return m->type == T_WORK ? TR_STOP : TR_CONTINUE;
}
static const tr_behaviour sink_b = {"sink", 8, NULL, sink_recv, NULL};

static int pair_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    tr_addr peer;
    memcpy(&peer, arg, sizeof peer);
    cr_assert_eq(tr_link(ctx, peer), 0);
    cr_assert_eq(tr_monitor(ctx, peer, NULL), 0);
    return 0;
}
static const tr_behaviour pair_b = {"pair", 0, pair_init, sink_recv, NULL};

/* A node with named, linked, monitoring, dead and queued actors, at a quiet point. */
static tr_node *busy_node(tr_addr *first) {
    tr_node *n = manual_node();
    tr_addr a[6];
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "sink%d", i);
        tr_spawn_opts o = {.name = name, .mailbox_capacity = i == 5 ? 2 : 0};
        cr_assert_eq(tr_node_spawn(n, &sink_b, &o, NULL, 0, &a[i]), 0);
    }
    cr_assert_eq(tr_node_spawn(n, &pair_b, NULL, &a[0], sizeof a[0], NULL), 0);
    manual_run(1000);
    tr_node_send(n, a[1], T_WORK, NULL, 0); /* stops: a dead slot on the free list */
    tr_node_send(n, a[2], T_PING, NULL, 0);
    manual_run(1000);
    for (int i = 0; i < 5; i++) {
        tr_node_send(n, a[3], T_PING, NULL, 0); /* left queued */
    }
    *first = a[3];
    return n;
}

Test(node_check, holds_on_a_busy_quiet_node_and_after_a_crash) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    cr_assert(tr__node_check(n));
    cr_assert_eq(actor_of(n, q)->mb.queued, 5);
    manual_run(1000);
    cr_assert(tr__node_check(n));
    tr__node_crash(n);
    cr_assert(tr__node_check(n));
    tr__node_destroy(n);
}

Test(node_check, catches_a_miscounted_mailbox, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    atomic_fetch_add(&actor_of(n, q)->mb.queued, 1);
    tr__node_check(n);
}

Test(node_check, catches_a_mailbox_whose_head_is_not_its_last_message, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    tr_actor *a = actor_of(n, q);
    atomic_store(&a->mb.head, (uintptr_t)a->mb.tail); /* loses the queued messages' tail */
    tr__node_check(n);
}

Test(node_check, catches_a_live_actor_on_the_free_list, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    cr_assert_gt(n->free_len, 0);
    n->free_slots[0] = tr__actor_id_slot(q.actor);
    tr__node_check(n);
}

Test(node_check, catches_a_wrong_live_count, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    atomic_fetch_add(&n->st_live, 1);
    tr__node_check(n);
}

Test(node_check, catches_a_dead_slot_that_kept_its_state, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    tr_actor *dead = tr__actor_slot_at(n, n->free_slots[0]);
    static char leftover[8];
    dead->state = leftover;
    tr__node_check(n);
}

Test(node_check, catches_a_name_bound_to_another_node, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    for (uint32_t i = 0; i < n->reg_nbuckets; i++) {
        if (n->reg_buckets[i]) {
            n->reg_buckets[i]->addr.node = 99;
            break;
        }
    }
    tr__node_check(n);
}

Test(node_check, catches_an_idle_muted_sender, .signal = SIGABRT) {
    tr_addr q;
    tr_node *n = busy_node(&q);
    manual_run(1000); /* everyone idle */
    tr_mute_rec r = {q.actor + 1, actor_of(n, q)};
    cr_assert_eq(tr__vec_push(&n->mutes, &r, sizeof r), 0);
    tr__node_check(n);
}

/* An actor whose callback runs itself again: two activations of one actor at once. */
static tr_actor *reentrant;
static int reenter_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    if (m->type == T_GO) {
        tr__actor_run(reentrant);
    }
    return TR_CONTINUE;
}
static const tr_behaviour reenter_b = {"reenter", 0, NULL, reenter_recv, NULL};

Test(run_token, an_actor_run_twice_at_once_aborts, .signal = SIGABRT) {
    tr_node *n = manual_node();
    tr_addr a;
    cr_assert_eq(tr_node_spawn(n, &reenter_b, NULL, NULL, 0, &a), 0);
    manual_run(10);
    reentrant = actor_of(n, a);
    tr_node_send(n, a, T_GO, NULL, 0);
    tr_node_send(n, a, T_PING, NULL, 0);
    manual_run(10);
}

Test(pool, a_message_released_twice_aborts, .signal = SIGABRT) {
    tr_msg *m = tr__pool_alloc(16);
    cr_assert_not_null(m);
    tr__pool_release(m);
    tr__pool_release(m);
}

Test(pool, a_message_not_from_the_pool_is_refused, .signal = SIGABRT) {
    tr_msg m;
    memset(&m, 0x5a, sizeof m);
    tr_msg_free(&m);
}

/* A failed assertion on a worker thread: the message names the worker, node and actor. */
static int double_free_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    tr_msg *x = tr__pool_alloc(0);
    tr_msg_free(x);
    tr_msg_free(x);
    return TR_CONTINUE;
}
static const tr_behaviour double_free_b = {"double_free", 0, NULL, double_free_recv, NULL};

Test(assert_context, a_worker_names_its_node_and_actor) {
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        /* no store: the child aborts, and a temporary store would be left behind */
        tr_config cfg = {.workers = 1, .node_name = "ctxnode", .no_store = true};
        tr_runtime *r;
        if (tr_runtime_create(&cfg, &r) != 0) {
            _exit(3);
        }
        tr_addr a;
        tr_spawn_opts o = {.name = "culprit"};
        tr_node_spawn(tr_runtime_node(r), &double_free_b, &o, NULL, 0, &a);
        tr_node_send(tr_runtime_node(r), a, T_PING, NULL, 0);
        sleep(10);
        _exit(4);
    }
    close(fds[1]);
    char out[4096] = {0};
    size_t len = 0;
    ssize_t got;
    while (len < sizeof out - 1 && (got = read(fds[0], out + len, sizeof out - 1 - len)) > 0) {
        len += (size_t)got;
    }
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d: %s", status, out);
    cr_assert_not_null(strstr(out, "assertion failed"), "%s", out);
    cr_assert_not_null(strstr(out, "real engine worker 0 of node ctxnode"), "%s", out);
    cr_assert_not_null(strstr(out, "name culprit behaviour double_free"), "%s", out);
}
