/* Actors on the real engine: mailboxes, scheduling, requests, timers, links, monitors,
 * registry, dead letters, bounded mailboxes. Every wait is bounded by an inbox timeout. */
#include <criterion/criterion.h>
#include <string.h>

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
