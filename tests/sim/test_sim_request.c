/* tr_sim_request: a blocking request from the test's own code into a simulated cluster. */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull
enum {
    T_ECHO = TR_MSG_USER + 1,
    T_LATER = TR_MSG_USER + 2
};

/* echo: replies with the request's body at once. sink: never replies. slow: sends the caller
 * an unrelated message at once and replies "late" 50 ms later (a timer), whatever the
 * caller's timeout. */
static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type == T_ECHO) {
        tr_reply(ctx, m, T_ECHO, m->body, m->body_len);
    }
    return TR_CONTINUE;
}

static int sink_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    return TR_CONTINUE;
}

typedef struct slow_state {
    tr_addr from;
    uint64_t corr;
} slow_state;

/* Replies later: keeps the request's sender and corr, answers when its timer fires (the
 * reply is an ordinary send with the request's corr: what tr_reply sends, minus the flag
 * that makes the runtime match it, so the client sees it only while it still waits). */
static int slow_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    slow_state *s = state;
    if (m->type == T_ECHO) {
        s->from = m->from;
        s->corr = m->corr;
        tr_send(ctx, m->from, T_LATER, "noise", 5); /* not the reply: the client ignores it */
        uint64_t t;
        tr_timer_start(ctx, 50, 0, T_LATER, &t);
    } else if (m->type == T_LATER) {
        tr_send_corr(ctx, s->from, T_ECHO, s->corr, "late", 4);
    }
    return TR_CONTINUE;
}

static const tr_behaviour echo_b = {.name = "echo", .receive = echo_receive};
static const tr_behaviour sink_b = {.name = "sink", .receive = sink_receive};
static const tr_behaviour slow_b = {
    .name = "slow", .state_size = sizeof(slow_state), .receive = slow_receive};

static int boot(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "echo"};
    int rc = tr_node_spawn(node, &echo_b, &o, NULL, 0, NULL);
    o.name = "sink";
    rc = rc ? rc : tr_node_spawn(node, &sink_b, &o, NULL, 0, NULL);
    o.name = "slow";
    return rc ? rc : tr_node_spawn(node, &slow_b, &o, NULL, 0, NULL);
}

static tr_sim *make(uint64_t seed) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.net =
        TR_SIM_NET_ORACLE; /* requests from t=0 with short timeouts: the oracle's links are up at once */
    cfg.seed = seed;
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = boot;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    return sim;
}

static void expect_echo(tr_sim *sim, uint32_t node, const char *to) {
    tr_msg *reply = NULL;
    int rc = tr_sim_request(sim, node, to, T_ECHO, "hello", 5, 100 * MS, &reply);
    cr_assert_eq(rc, 0, "%s from node %u: %s", to, node, tr_err_name(rc));
    cr_assert_not_null(reply);
    cr_assert_eq(reply->type, T_ECHO);
    cr_assert_eq(reply->body_len, 5);
    cr_assert_eq(memcmp(reply->body, "hello", 5), 0);
    tr_msg_free(reply);
}

Test(sim_request, replies_from_a_local_and_a_remote_actor) {
    tr_sim *sim = make(1);
    expect_echo(sim, 0, "echo");
    uint64_t before = tr_sim_now_ns(sim);
    expect_echo(sim, 0, "echo@n3");
    cr_assert_gt(tr_sim_now_ns(sim), before); /* a remote round trip takes virtual time */
    cr_assert_lt(tr_sim_now_ns(sim), before + 100 * MS);
    expect_echo(sim, 2, "echo@n1");
    tr_sim_destroy(sim);
}

Test(sim_request, same_seed_gives_same_trace) {
    uint64_t hash[2], at[2];
    for (int run = 0; run < 2; run++) {
        tr_sim *sim = make(7);
        for (int i = 0; i < 5; i++) {
            expect_echo(sim, (uint32_t)i % 3, i % 2 ? "echo@n2" : "echo");
        }
        hash[run] = tr_sim_trace_hash(sim);
        at[run] = tr_sim_now_ns(sim);
        tr_sim_destroy(sim);
    }
    cr_assert_eq(hash[0], hash[1]);
    cr_assert_eq(at[0], at[1]);
}

Test(sim_request, no_reply_times_out_at_the_virtual_deadline) {
    tr_sim *sim = make(1);
    tr_msg *reply = (tr_msg *)1;
    uint64_t start = tr_sim_now_ns(sim);
    cr_assert_eq(tr_sim_request(sim, 0, "sink@n2", T_ECHO, "x", 1, 30 * MS, &reply), TR_ETIMEDOUT);
    cr_assert_null(reply);
    cr_assert_geq(tr_sim_now_ns(sim), start + 30 * MS - MS); /* the client's timer, or ... */
    cr_assert_leq(tr_sim_now_ns(sim), start + 30 * MS);      /* ... the virtual deadline */
    expect_echo(sim, 0, "echo");                             /* the next request works */
    tr_sim_destroy(sim);
}

Test(sim_request, a_late_reply_is_not_taken_for_the_next_one) {
    tr_sim *sim = make(1);
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, 0, "slow@n2", T_ECHO, "x", 1, 100 * MS, &reply), 0);
    cr_assert_eq(reply->body_len, 4); /* the reply, not the message sent before it */
    cr_assert_eq(memcmp(reply->body, "late", 4), 0);
    tr_msg_free(reply);
    cr_assert_eq(tr_sim_request(sim, 0, "slow@n2", T_ECHO, "x", 1, 10 * MS, &reply), TR_ETIMEDOUT);
    cr_assert_eq(tr_sim_request(sim, 0, "sink", T_ECHO, "x", 1, 100 * MS, &reply),
                 TR_ETIMEDOUT); /* the slow reply arrives meanwhile: not this request's */
    expect_echo(sim, 0, "echo");
    tr_sim_destroy(sim);
}

Test(sim_request, crashed_target_times_out_and_answers_after_restart) {
    tr_sim *sim = make(3);
    cr_assert_eq(tr_sim_crash(sim, 1), 0);
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, 0, "echo@n2", T_ECHO, "x", 1, 20 * MS, &reply), TR_ETIMEDOUT);
    cr_assert_null(reply);
    cr_assert_eq(tr_sim_restart(sim, 1), 0);
    tr_sim_run_for(sim, 20 * MS); /* the failure detector sees it up again */
    expect_echo(sim, 0, "echo@n2");
    tr_sim_destroy(sim);
}

static void crash_node0(tr_sim *sim, void *ud) {
    tr_sim_crash(sim, 0);
}

Test(sim_request, client_node_down_or_crashing_is_eclosed) {
    tr_sim *sim = make(1);
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_at(sim, tr_sim_now_ns(sim) + 5 * MS, crash_node0, NULL), 0);
    cr_assert_eq(tr_sim_request(sim, 0, "sink", T_ECHO, "x", 1, 100 * MS, &reply), TR_ECLOSED);
    cr_assert_lt(tr_sim_now_ns(sim), 100 * MS); /* no wait for the deadline */
    cr_assert_eq(tr_sim_request(sim, 0, "echo", T_ECHO, "x", 1, 100 * MS, &reply), TR_ECLOSED);
    cr_assert_null(reply);
    expect_echo(sim, 1, "echo");
    tr_sim_destroy(sim);
}

Test(sim_request, bad_arguments_are_einval) {
    tr_sim *sim = make(1);
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, 3, "echo", T_ECHO, NULL, 0, MS, &reply), TR_EINVAL);
    cr_assert_eq(tr_sim_request(sim, 0, NULL, T_ECHO, NULL, 0, MS, &reply), TR_EINVAL);
    cr_assert_eq(tr_sim_request(sim, 0, "echo", T_ECHO, NULL, 3, MS, &reply), TR_EINVAL);
    cr_assert_eq(tr_sim_request(sim, 0, "echo", T_ECHO, NULL, 0, 0, &reply), TR_EINVAL);
    cr_assert_eq(tr_sim_request(sim, 0, "echo", T_ECHO, NULL, 0, MS, NULL), TR_EINVAL);
    tr_sim_destroy(sim);
}
