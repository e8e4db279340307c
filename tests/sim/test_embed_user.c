/* test_embed_user.c — troupe embedded the way a user would do it in their own C tests.
 *
 * A user's capability ("ledger": a durable counter that acknowledges an increment only once
 * it is durable) is defined here with nothing but troupe.h, booted on every node of a
 * simulated 3-node cluster, and driven by a client actor of the user's own. The test
 * injects a partition, a crash and a restart, runs to a condition or a virtual deadline,
 * and asserts on what the client saw and on the ledger's state after recovery. */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

enum {
    LEDGER_ADD = TR_MSG_USER + 100,
    LEDGER_ACK,
    LEDGER_GET,
    LEDGER_VALUE,
    CLIENT_TICK
};

/* ---- the user's capability ---- */

typedef struct ledger {
    uint64_t total;
} ledger;

static int ledger_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    ledger *l = state;
    size_t got = 0;
    int rc = tr_kv_get(ctx, "total", 5, &l->total, sizeof l->total, &got);
    return rc == TR_ENOENT ? 0 : rc; /* recovered, or a fresh ledger */
}

static int ledger_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    ledger *l = state;
    if (m->type == LEDGER_ADD && m->body_len == sizeof(uint64_t)) {
        uint64_t amount;
        memcpy(&amount, m->body, sizeof amount);
        l->total += amount;
        int rc = tr_kv_put(ctx, "total", 5, &l->total, sizeof l->total);
        if (rc) {
            return rc;
        }
        return tr_reply_durable(ctx, m, LEDGER_ACK, &l->total, sizeof l->total);
    }
    if (m->type == LEDGER_GET) {
        return tr_reply(ctx, m, LEDGER_VALUE, &l->total, sizeof l->total);
    }
    return TR_CONTINUE;
}

static const tr_behaviour ledger_behaviour = {"ledger", sizeof(ledger), ledger_init, ledger_receive,
                                              NULL};

static int boot(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "ledger"};
    return tr_node_spawn(node, &ledger_behaviour, &o, NULL, 0, NULL);
}

/* ---- the user's client: adds 1 every 10 ms to ledger@n1, 100 times ---- */

typedef struct client {
    uint64_t sent, acked, timeouts, last_total;
    uint64_t pending;
} client;

static client *observed; /* the test reads the client's counters through this */

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    observed = state;
    return tr_timer_start(ctx, 10, 10, CLIENT_TICK, NULL);
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    client *c = state;
    if (m->type == CLIENT_TICK && !c->pending && c->sent < 100) {
        uint64_t one = 1;
        c->sent++;
        return tr_request_name(ctx, "ledger@n1", LEDGER_ADD, &one, sizeof one, 50, &c->pending);
    }
    if (m->type == LEDGER_ACK && m->corr == c->pending) {
        memcpy(&c->last_total, m->body, sizeof c->last_total);
        c->acked++;
        c->pending = 0;
    } else if (m->type == TR_MSG_TIMEOUT && m->corr == c->pending) {
        c->timeouts++;
        c->pending = 0;
    }
    return TR_CONTINUE;
}

static const tr_behaviour client_behaviour = {"client", sizeof(client), client_init, client_receive,
                                              NULL};

/* ---- a probe that reads the ledger ---- */

static uint64_t probed = UINT64_MAX;

static int probe_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_request_name(ctx, "ledger@n1", LEDGER_GET, NULL, 0, 1000, NULL);
}

static int probe_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type == LEDGER_VALUE) {
        memcpy(&probed, m->body, sizeof probed);
    }
    return TR_STOP;
}

static const tr_behaviour probe_behaviour = {"probe", 0, probe_init, probe_receive, NULL};

static bool probe_done(tr_sim *sim, void *ud) {
    return probed != UINT64_MAX;
}

static bool client_done(tr_sim *sim, void *ud) {
    return observed && observed->sent == 100 && !observed->pending;
}

static tr_sim *start(uint64_t seed) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = seed;
    cfg.nodes = 3;
    cfg.boot = boot;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    observed = NULL;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 1), &client_behaviour, NULL, NULL, 0, NULL), 0);
    return sim;
}

static uint64_t run_scenario(uint64_t seed, uint64_t *acked, uint64_t *timeouts) {
    tr_sim *sim = start(seed);
    const uint64_t ms = 1000000;
    tr_sim_run_for(sim, 200 * ms);           /* about 20 adds go through */
    cr_assert_eq(tr_sim_isolate(sim, 0), 0); /* n1 cut off: the client's adds time out */
    tr_sim_run_for(sim, 200 * ms);
    cr_assert_eq(tr_sim_heal(sim), 0);
    tr_sim_run_for(sim, 100 * ms);
    cr_assert_eq(tr_sim_crash(sim, 0), 0); /* n1 loses its volatile state */
    tr_sim_run_for(sim, 50 * ms);
    cr_assert_eq(tr_sim_restart(sim, 0), 0); /* the ledger recovers from the store */
    cr_assert_eq(tr_sim_run_until(sim, client_done, NULL, tr_sim_now_ns(sim) + 5000 * ms), 0,
                 "the client finished before the virtual deadline");
    *acked = observed->acked;
    *timeouts = observed->timeouts;
    uint64_t last_total = observed->last_total;

    /* Every acknowledged add was durable, so the ledger recovered after the crash holds at
     * least the acknowledged adds (an add that timed out may or may not have happened). */
    probed = UINT64_MAX;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 2), &probe_behaviour, NULL, NULL, 0, NULL), 0);
    cr_assert_eq(tr_sim_run_until(sim, probe_done, NULL, tr_sim_now_ns(sim) + 2000 * ms), 0);
    cr_assert_geq(probed, *acked, "ledger %lu < %lu acked", (unsigned long)probed,
                  (unsigned long)*acked);
    cr_assert_leq(probed, 100);
    cr_assert_geq(probed, last_total, "the last acknowledged total survived the crash");
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_eq(st.faults[TR_SIM_FAULT_CRASH], 1);
    cr_assert_eq(st.faults[TR_SIM_FAULT_RESTART], 1);
    cr_assert_gt(st.dropped_cut, 0, "the partition dropped messages");
    uint64_t hash = tr_sim_trace_hash(sim);
    tr_sim_destroy(sim);
    return hash;
}

Test(embed_user, ledger_survives_partition_and_crash_and_replays_bit_for_bit) {
    uint64_t acked, timeouts, acked2, timeouts2;
    uint64_t h1 = run_scenario(42, &acked, &timeouts);
    cr_assert_gt(acked, 50, "most adds were acknowledged (%lu)", (unsigned long)acked);
    cr_assert_gt(timeouts, 0, "adds during the partition and the crash timed out");
    cr_assert_eq(acked + timeouts, 100, "every add ended in an ack or a timeout");
    uint64_t h2 = run_scenario(42, &acked2, &timeouts2);
    cr_assert_eq(h1, h2, "seed 42 replays to the same trace hash");
    cr_assert_eq(acked, acked2);
    uint64_t h3 = run_scenario(43, &acked2, &timeouts2);
    cr_assert_neq(h1, h3, "another seed gives another run");
}
