/* The real engine's local run queue: an actor woken by a worker runs next (LIFO, for cache
 * locality and depth-first spawn trees), but a pair of actors that keep waking each other
 * on one worker must not starve an actor that was woken before them. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "troupe.h"

enum { T_PING = TR_MSG_USER, T_GO, T_RAN, T_PAIR_DONE };

enum { PAIR_ROUND_TRIPS = 2000000 };

static tr_addr main_addr;

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
    cr_assert_eq(len, sizeof s->a);
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
    cr_assert_eq(tr_inbox_receive(inbox, 30000, &m), 0);
    uint32_t first = m->type;
    tr_msg_free(m);
    cr_assert_eq(first, T_RAN, "the waiter ran only after the pair's %d round trips",
                 PAIR_ROUND_TRIPS);
    cr_assert_eq(tr_inbox_receive(inbox, 30000, &m), 0);
    cr_assert_eq(m->type, T_PAIR_DONE);
    tr_msg_free(m);
    tr_inbox_destroy(inbox);
    tr_runtime_destroy(rt);
}
