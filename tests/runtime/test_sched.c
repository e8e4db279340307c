/* Scheduling on the real engine:
 *   - the local run queue: an actor woken by a worker runs next (LIFO, for cache locality
 *     and depth-first spawn trees), but a pair of actors that keep waking each other on one
 *     worker must not starve an actor that was woken before them;
 *   - muting: a sender that floods a mailbox is paused after its current callback, so the
 *     mailbox stays near the mute threshold even when the sender continues through
 *     messages to itself (which would otherwise run a whole batch of callbacks);
 *   - worker 0's sleep: a timer that fell due while it was busy fires as the sleep begins
 *     (before the loop's poll) and must not leave its actor queued behind a blocking poll. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "troupe.h"

enum {
    T_PING = TR_MSG_USER,
    T_GO,
    T_RAN,
    T_PAIR_DONE
};

enum {
    PAIR_ROUND_TRIPS = 2000000
};

static tr_addr main_addr;

/* Callbacks run on worker threads, where a Criterion assertion must not run: they count
 * what went wrong here, and the test thread asserts on the count. */
static _Atomic uint32_t bad_init_args;

typedef struct pair_arg {
    tr_addr peer; /* pong, for ping; none for pong */
    tr_addr waiter;
} pair_arg;

typedef struct pair_state {
    pair_arg a;
    uint32_t left;
} pair_state;

static int pair_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    pair_state *s = st;
    if (len != sizeof s->a) {
        atomic_fetch_add(&bad_init_args, 1);
        return TR_EINVAL;
    }
    memcpy(&s->a, arg, sizeof s->a);
    s->left = PAIR_ROUND_TRIPS;
    if (tr_addr_is_none(s->a.peer)) {
        return 0; /* pong */
    }
    /* Wake the waiter first, then start the pair: the pair's wake-ups keep landing in front
     * of the waiter on this worker's local queue. */
    tr_send(ctx, s->a.waiter, T_GO, NULL, 0);
    return tr_send(ctx, s->a.peer, T_PING, NULL, 0);
}

static int pair_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    pair_state *s = st;
    if (tr_addr_is_none(s->a.peer)) { /* pong: echo */
        tr_send(ctx, m->from, T_PING, NULL, 0);
        return TR_CONTINUE;
    }
    if (--s->left == 0) {
        tr_send(ctx, main_addr, T_PAIR_DONE, NULL, 0);
        return TR_STOP;
    }
    tr_send(ctx, s->a.peer, T_PING, NULL, 0);
    return TR_CONTINUE;
}

static int waiter_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    (void)st;
    (void)m;
    tr_send(ctx, main_addr, T_RAN, NULL, 0);
    return TR_STOP;
}

static const tr_behaviour pair_beh = {"pair", sizeof(pair_state), pair_init, pair_recv, NULL};
static const tr_behaviour waiter_beh = {"waiter", 0, NULL, waiter_recv, NULL};

Test(sched, busy_pair_on_one_worker_does_not_starve_an_earlier_wakeup, .timeout = 60) {
    tr_runtime *rt;
    tr_inbox *inbox;
    tr_config cfg = {.workers = 1};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    cr_assert_eq(tr_inbox_create(rt, &inbox), 0);
    main_addr = tr_inbox_addr(inbox);
    tr_node *node = tr_runtime_node(rt);

    pair_arg a = {TR_ADDR_NONE, TR_ADDR_NONE};
    cr_assert_eq(tr_node_spawn(node, &waiter_beh, NULL, NULL, 0, &a.waiter), 0);
    tr_addr pong, ping;
    cr_assert_eq(tr_node_spawn(node, &pair_beh, NULL, &a, sizeof a, &pong), 0);
    a.peer = pong;
    cr_assert_eq(tr_node_spawn(node, &pair_beh, NULL, &a, sizeof a, &ping), 0);

    tr_msg *m = NULL;
    int rc = tr_inbox_receive(inbox, 30000, &m);
    cr_assert_eq(atomic_load(&bad_init_args), 0, "an init got the wrong argument");
    cr_assert_eq(rc, 0);
    uint32_t first = m->type;
    tr_msg_free(m);
    cr_assert_eq(first, T_RAN, "the waiter ran only after the pair's %d round trips",
                 PAIR_ROUND_TRIPS);
    cr_assert_eq(tr_inbox_receive(inbox, 30000, &m), 0);
    cr_assert_eq(m->type, T_PAIR_DONE);
    tr_msg_free(m);
    tr_inbox_destroy(inbox);
    tr_runtime_destroy(rt);
    cr_assert_eq(atomic_load(&bad_init_args), 0);
}

/* ---- muting bounds the backlog ---- */

enum {
    FLOOD_PER_CALLBACK = 1000,
    FLOOD_TOTAL = 1000000,
    MUTE_THRESHOLD = 4096
};

static _Atomic uint64_t flood_sent; /* test-only shared counter: sends so far */

typedef struct flood_state {
    tr_addr to;
    uint64_t sent;
} flood_state;

static int flood_init(tr_ctx *ctx, void *st, const void *arg, size_t len) {
    if (len != sizeof(tr_addr)) {
        atomic_fetch_add(&bad_init_args, 1);
        return TR_EINVAL;
    }
    memcpy(&((flood_state *)st)->to, arg, len);
    return tr_send(ctx, tr_self(ctx), T_GO, NULL, 0);
}

static int flood_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    (void)m;
    flood_state *s = st;
    for (int i = 0; i < FLOOD_PER_CALLBACK; i++) {
        tr_send(ctx, s->to, T_PING, NULL, 0);
    }
    s->sent += FLOOD_PER_CALLBACK;
    atomic_store_explicit(&flood_sent, s->sent, memory_order_relaxed);
    if (s->sent < FLOOD_TOTAL) {
        tr_send(ctx, tr_self(ctx), T_GO, NULL, 0); /* continue through a message to self */
    }
    return TR_CONTINUE;
}

typedef struct sink_state {
    uint64_t got;
    uint64_t max_lag;
} sink_state;

static int sink_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    (void)m;
    sink_state *s = st;
    uint64_t sent = atomic_load_explicit(&flood_sent, memory_order_relaxed);
    if (sent > s->got && sent - s->got > s->max_lag) {
        s->max_lag = sent - s->got;
    }
    if (++s->got == FLOOD_TOTAL) {
        uint64_t lag = s->max_lag;
        tr_send(ctx, main_addr, T_RAN, &lag, sizeof lag);
        return TR_STOP;
    }
    return TR_CONTINUE;
}

static const tr_behaviour flood_beh = {"flood", sizeof(flood_state), flood_init, flood_recv, NULL};
static const tr_behaviour sink_beh = {"sink", sizeof(sink_state), NULL, sink_recv, NULL};

Test(sched, flooding_sender_is_paused_after_its_callback_not_its_batch, .timeout = 60) {
    tr_runtime *rt;
    tr_inbox *inbox;
    tr_config cfg = {.workers = 1, .mute_threshold = MUTE_THRESHOLD};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    cr_assert_eq(tr_inbox_create(rt, &inbox), 0);
    main_addr = tr_inbox_addr(inbox);
    tr_node *node = tr_runtime_node(rt);
    atomic_store(&flood_sent, 0);
    tr_addr sink;
    cr_assert_eq(tr_node_spawn(node, &sink_beh, NULL, NULL, 0, &sink), 0);
    cr_assert_eq(tr_node_spawn(node, &flood_beh, NULL, &sink, sizeof sink, NULL), 0);
    tr_msg *m = NULL;
    int rc = tr_inbox_receive(inbox, 30000, &m);
    cr_assert_eq(atomic_load(&bad_init_args), 0, "an init got the wrong argument");
    cr_assert_eq(rc, 0);
    cr_assert_eq(m->type, T_RAN);
    uint64_t lag;
    cr_assert_eq(m->body_len, sizeof lag);
    memcpy(&lag, m->body, sizeof lag);
    tr_msg_free(m);
    /* Over the threshold by at most one callback's sends (plus what the sink's current
     * batch has popped but not yet counted). A batch of callbacks would be 100x more. */
    cr_assert_leq(lag, MUTE_THRESHOLD + 2 * FLOOD_PER_CALLBACK + 200,
                  "the sink fell %lu messages behind", (unsigned long)lag);
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_gt(st.mutes, 0);
    tr_inbox_destroy(inbox);
    tr_runtime_destroy(rt);
    cr_assert_eq(atomic_load(&bad_init_args), 0);
}

/* ---- a timer due when worker 0 goes to sleep ---- */

enum {
    T_ARM = TR_MSG_USER + 16,
    T_FIRST,
    T_SECOND,
    T_FIRED
};

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Arms two one-shot timers, 5 and 10 ms ahead; the first keeps the worker busy for 20 ms,
 * past the second's due time, so the second is due when the worker next goes to sleep. */
static int timed_recv(tr_ctx *ctx, void *st, const tr_msg *m) {
    (void)st;
    uint64_t id;
    if (m->type == T_ARM) {
        tr_timer_start(ctx, 5, 0, T_FIRST, &id);
        tr_timer_start(ctx, 10, 0, T_SECOND, &id);
    } else if (m->type == T_FIRST) {
        uint64_t until = mono_ms() + 20;
        while (mono_ms() < until) {
        }
    } else if (m->type == T_SECOND) {
        tr_send(ctx, main_addr, T_FIRED, NULL, 0);
        return TR_STOP;
    }
    return TR_CONTINUE;
}
static const tr_behaviour timed_beh = {"timed", 0, NULL, timed_recv, NULL};

Test(sched, a_timer_due_when_worker_0_goes_to_sleep_runs_its_actor, .timeout = 60) {
    /* One worker that never spins: it goes from the busy callback straight to the loop,
     * where the due timer fires before the poll. Nothing else would wake it: no other
     * timer, no I/O. */
    tr_runtime *rt;
    tr_inbox *inbox;
    tr_config cfg = {.workers = 1, .spin_us = -1};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    cr_assert_eq(tr_inbox_create(rt, &inbox), 0);
    main_addr = tr_inbox_addr(inbox);
    tr_node *node = tr_runtime_node(rt);
    for (int round = 0; round < 5; round++) {
        tr_addr a;
        cr_assert_eq(tr_node_spawn(node, &timed_beh, NULL, NULL, 0, &a), 0);
        cr_assert_eq(tr_node_send(node, a, T_ARM, NULL, 0), 0);
        tr_msg *m = NULL;
        cr_assert_eq(tr_inbox_receive(inbox, 5000, &m), 0,
                     "round %d: the second timer's message never ran (its actor sat in worker "
                     "0's queue while the worker slept in the poll)",
                     round);
        cr_assert_eq(m->type, T_FIRED);
        tr_msg_free(m);
    }
    tr_inbox_destroy(inbox);
    tr_runtime_destroy(rt);
}
