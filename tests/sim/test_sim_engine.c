/* test_sim_engine.c — the sim engine: determinism, trace hash, FIFO links, virtual time,
 * remote sends through the codec, the check-determinism mode (with a planted bug).
 * Every sim here runs the oracle's message network (TR_SIM_NET_ORACLE), whose semantics
 * these tests pin (one message per send, FIFO, opt-in reordering, a failure detector with a
 * delay); the protocol network has its own suite, test_proto.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/assert.h"
#include "runtime/internal.h" /* tr_node, to plant a corruption */
#include "troupe.h"

enum {
    T_PING = TR_MSG_USER + 1,
    T_PONG,
    T_SEQ,
    T_KICK
};

/* ---- echo: replies to every ping with the same body ------------------------------------ */

static int plant_at; /* > 0: the echo on a node perturbs its plant_at-th reply (planted bug) */
static uint64_t plant_time_ns;

typedef struct echo_state {
    uint64_t seen;
} echo_state;

static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    echo_state *st = state;
    if (msg->type != T_PING) {
        return TR_CONTINUE;
    }
    st->seen++;
    uint64_t v;
    cr_assert_eq(msg->body_len, sizeof v);
    memcpy(&v, msg->body, sizeof v);
    if (plant_at > 0 && st->seen == (uint64_t)plant_at) {
        v ^= 1; /* a reply that depends on something outside (seed, calls, code) */
        if (plant_time_ns == 0) {
            plant_time_ns = tr_now_ns(ctx);
        }
    }
    return tr_reply(ctx, msg, T_PONG, &v, sizeof v) == 0 ? TR_CONTINUE : TR_EFAILED;
}

static const tr_behaviour echo_b = {
    .name = "echo", .state_size = sizeof(echo_state), .receive = echo_receive};

static int boot_echo(tr_node *node, void *ud) {
    (void)ud;
    tr_spawn_opts o = {.name = "echo"};
    return tr_node_spawn(node, &echo_b, &o, NULL, 0, NULL);
}

/* ---- pinger: keeps `inflight` pings going to random echo@nK --------------------------- */

typedef struct pinger_state {
    uint64_t sent, got;
    uint32_t nodes;
} pinger_state;

static uint64_t pongs_total, timeouts_total;

static int ping_random(tr_ctx *ctx, pinger_state *st) {
    char name[32];
    uint32_t k = 2 + (uint32_t)(tr_random(ctx) % (st->nodes - 1));
    snprintf(name, sizeof name, "echo@n%u", k);
    uint64_t v = st->sent++;
    uint64_t corr;
    /* A request, so that a ping lost to a fault comes back as TR_MSG_TIMEOUT. */
    return tr_request_name(ctx, name, T_PING, &v, sizeof v, 20, &corr);
}

static int pinger_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    pinger_state *st = state;
    cr_assert_eq(len, sizeof(uint32_t));
    memcpy(&st->nodes, arg, sizeof st->nodes);
    for (int i = 0; i < 4; i++) {
        int rc = ping_random(ctx, st);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int pinger_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    pinger_state *st = state;
    if (msg->type == T_PONG || msg->type == TR_MSG_TIMEOUT) {
        st->got += msg->type == T_PONG;
        pongs_total += msg->type == T_PONG;
        timeouts_total += msg->type == TR_MSG_TIMEOUT;
        return ping_random(ctx, st) == 0 ? TR_CONTINUE : TR_EFAILED;
    }
    return TR_CONTINUE;
}

static const tr_behaviour pinger_b = {.name = "pinger",
                                      .state_size = sizeof(pinger_state),
                                      .init = pinger_init,
                                      .receive = pinger_receive};

static tr_sim_config ping_config(uint64_t seed) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.seed = seed;
    c.nodes = 3;
    c.store = false;
    c.boot = boot_echo;
    c.delay_dist = TR_SIM_DELAY_EXPONENTIAL;
    return c;
}

static void ping_scenario(tr_sim *sim, void *ud) {
    (void)ud;
    uint32_t n = tr_sim_node_count(sim);
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &pinger_b, NULL, &n, sizeof n, NULL), 0);
    tr_sim_run_for(sim, 50000000); /* 50 ms virtual */
}

static uint64_t ping_run(uint64_t seed, uint64_t *pongs) {
    tr_sim_config c = ping_config(seed);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    pongs_total = 0;
    ping_scenario(sim, NULL);
    uint64_t h = tr_sim_trace_hash(sim);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_gt(st.remote_delivered, 100, "the scenario must actually exchange messages");
    cr_assert_geq(st.remote_delivered, 2 * pongs_total); /* a ping and its pong each */
    if (pongs != NULL) {
        *pongs = pongs_total;
    }
    tr_sim_destroy(sim);
    return h;
}

/* A reply withdraws its request's timeout from the event queue (ops->timer_cancel); a
 * request whose reply never comes still times out. */
Test(sim_engine, answered_requests_withdraw_their_timeouts_and_lost_ones_time_out) {
    tr_sim_config c = ping_config(5);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    pongs_total = timeouts_total = 0;
    uint32_t n = tr_sim_node_count(sim);
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &pinger_b, NULL, &n, sizeof n, NULL), 0);
    tr_sim_run_for(sim, 50000000);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_gt(pongs_total, 100);
    cr_assert_eq(timeouts_total, 0, "nothing is lost on a healthy network");
    cr_assert_eq(st.timers_fired, 0, "every timeout was withdrawn by its reply");
    /* all answered; the 4 requests still in flight keep their timeouts queued */
    cr_assert_geq(st.timers_cancelled + 4, pongs_total);
    cr_assert_leq(st.timers_cancelled, pongs_total);
    uint64_t pongs_before = pongs_total;
    cr_assert_eq(tr_sim_isolate(sim, 0), 0); /* the pinger's pings are now lost */
    tr_sim_run_for(sim, 100000000);
    tr_sim_stats_get(sim, &st);
    /* 4 requests in flight, 20 ms timeouts, each timeout sends the next: 100 ms of cut
     * link time out every one of them, ~5 times each (a withdrawn timer taken out of the
     * queue by compaction must never take a live one with it) */
    cr_assert_geq(timeouts_total, 16, "lost requests still time out (%llu)",
                  (unsigned long long)timeouts_total);
    cr_assert_eq(st.timers_fired, timeouts_total);
    cr_assert_leq(pongs_total, pongs_before + 4, "only replies already in flight arrive");
    tr_sim_destroy(sim);
}

Test(sim_engine, same_seed_gives_same_trace_hash) {
    uint64_t p1, p2;
    uint64_t h1 = ping_run(42, &p1);
    uint64_t h2 = ping_run(42, &p2);
    printf("trace-hash: %016llx\n", (unsigned long long)h1);
    cr_assert_eq(h1, h2);
    cr_assert_eq(p1, p2);
    cr_assert_gt(p1, 50);
}

Test(sim_engine, different_seeds_give_different_trace_hashes) {
    uint64_t h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = ping_run(1000 + (uint64_t)i, NULL);
    }
    for (int i = 0; i < 4; i++) {
        for (int j = i + 1; j < 4; j++) {
            cr_assert_neq(h[i], h[j], "seeds %d and %d collide", 1000 + i, 1000 + j);
        }
    }
}

Test(sim_engine, virtual_time_advances_only_when_run) {
    tr_sim_config c = ping_config(7);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    cr_assert_eq(tr_sim_now_ns(sim), 0);
    tr_sim_run_for(sim, 1234);
    cr_assert_eq(tr_sim_now_ns(sim), 1234);
    cr_assert_eq(tr_sim_node_now_ns(sim, 1), 1234);
    tr_sim_run_for(sim, 0);
    cr_assert_eq(tr_sim_now_ns(sim), 1234);
    tr_sim_destroy(sim);
}

Test(sim_engine, rejects_bad_config) {
    tr_sim_config c = ping_config(1);
    tr_sim *sim = NULL;
    c.nodes = 0;
    cr_assert_eq(tr_sim_create(&c, &sim), TR_EINVAL);
    c.nodes = TR_SIM_NODES_MAX + 1;
    cr_assert_eq(tr_sim_create(&c, &sim), TR_EINVAL);
    c.nodes = 3;
    c.loss_prob = 1.5;
    cr_assert_eq(tr_sim_create(&c, &sim), TR_EINVAL);
    cr_assert_null(sim);
}

/* ---- FIFO per link ------------------------------------------------------------------- */

static uint64_t seq_next_expected, seq_received, seq_out_of_order;

static int seq_sink_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_SEQ) {
        uint64_t v;
        memcpy(&v, msg->body, sizeof v);
        if (v < seq_next_expected) {
            seq_out_of_order++;
        } else {
            seq_next_expected = v + 1;
        }
        seq_received++;
    }
    return TR_CONTINUE;
}

static const tr_behaviour sink_b = {.name = "sink", .receive = seq_sink_receive};

/* A source that sends `count` numbered messages, one per processed KICK (so they leave at
 * different virtual times and draw different delays). */
typedef struct source_state {
    uint64_t next;
} source_state;

static int source_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    source_state *st = state;
    if (msg->type == T_KICK) {
        uint64_t v = st->next++;
        return tr_send_name(ctx, "sink@n2", T_SEQ, &v, sizeof v) == 0 ? TR_CONTINUE : TR_EFAILED;
    }
    return TR_CONTINUE;
}

static const tr_behaviour source_b = {
    .name = "source", .state_size = sizeof(source_state), .receive = source_receive};

static int boot_sink(tr_node *node, void *ud) {
    (void)ud;
    if (tr_node_id(node) != 2) {
        return 0;
    }
    tr_spawn_opts o = {.name = "sink"};
    return tr_node_spawn(node, &sink_b, &o, NULL, 0, NULL);
}

static void run_sequence(double reorder, tr_sim_stats *st) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.seed = 99;
    c.nodes = 2;
    c.store = false;
    c.boot = boot_sink;
    c.link_delay_mean_ns = 2000000; /* delays far wider than the send interval */
    c.reorder_prob = reorder;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    tr_addr src;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &source_b, NULL, NULL, 0, &src), 0);
    seq_next_expected = seq_received = seq_out_of_order = 0;
    for (int i = 0; i < 500; i++) {
        cr_assert_eq(tr_node_send(tr_sim_node(sim, 0), src, T_KICK, NULL, 0), 0);
        tr_sim_run_for(sim, 10000); /* one send every 10 us */
    }
    tr_sim_run_for(sim, 100000000);
    tr_sim_stats_get(sim, st);
    tr_sim_destroy(sim);
}

Test(sim_engine, links_are_fifo_by_default) {
    tr_sim_stats st;
    run_sequence(0.0, &st);
    cr_assert_eq(seq_received, 500);
    cr_assert_eq(seq_out_of_order, 0);
    cr_assert_eq(st.faults[TR_SIM_FAULT_REORDER], 0);
}

Test(sim_engine, reordering_is_opt_in_and_observable) {
    tr_sim_stats st;
    run_sequence(0.5, &st);
    cr_assert_eq(seq_received, 500);
    cr_assert_gt(seq_out_of_order, 0, "the FIFO check must be able to fail");
    cr_assert_gt(st.faults[TR_SIM_FAULT_REORDER], 0);
}

/* ---- Check-determinism mode --------------------------------------------------------- */

static int scenario_runs;

static void planted_scenario(tr_sim *sim, void *ud) {
    int *plant_in_run = ud;
    scenario_runs++;
    plant_at = scenario_runs == *plant_in_run ? 40 : 0;
    ping_scenario(sim, NULL);
    plant_at = 0;
}

Test(sim_engine, check_determinism_passes_a_deterministic_run) {
    tr_sim_config c = ping_config(5);
    tr_sim_divergence d;
    int plant_in_run = 0;
    scenario_runs = 0;
    cr_assert_eq(tr_sim_check_determinism(&c, planted_scenario, &plant_in_run, &d), 0);
    cr_assert_eq(scenario_runs, 2);
    cr_assert_not(d.diverged, "%s", d.what);
    cr_assert_eq(d.hash_first, d.hash_second);
}

Test(sim_engine, check_determinism_names_the_first_differing_event) {
    tr_sim_config c = ping_config(5);
    tr_sim_divergence d;
    int plant_in_run = 2; /* the second run misbehaves */
    scenario_runs = 0;
    plant_time_ns = 0;
    cr_assert_eq(tr_sim_check_determinism(&c, planted_scenario, &plant_in_run, &d), 0);
    cr_assert(d.diverged);
    cr_assert_neq(d.hash_first, d.hash_second);
    cr_assert_gt(plant_time_ns, 0);
    /* The perturbed reply is first seen when it is delivered back to n1: later than the
     * echo that planted it, and not before it. */
    cr_assert_geq(d.time_ns, plant_time_ns);
    cr_assert_gt(d.event_index, 100);
    cr_assert(strstr(d.what, "deliver") != NULL, "%s", d.what);
    printf("planted divergence found: %s\n", d.what);
}

Test(sim_engine, check_determinism_catches_a_difference_beyond_the_window) {
    tr_sim_config c = ping_config(5);
    c.record_events_max = 10; /* far fewer than the run has */
    tr_sim_divergence d;
    int plant_in_run = 2;
    scenario_runs = 0;
    cr_assert_eq(tr_sim_check_determinism(&c, planted_scenario, &plant_in_run, &d), 0);
    cr_assert(d.diverged);
    cr_assert(strstr(d.what, "recorded window") != NULL, "%s", d.what);
}

/* ---- PRNG streams ------------------------------------------------------------------- */

Test(sim_prng, streams_are_reproducible_and_independent) {
    tr_sim_rng a, b, c;
    tr_sim_rng_init(&a, 7, 1);
    tr_sim_rng_init(&b, 7, 1);
    tr_sim_rng_init(&c, 7, 2);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = tr_sim_rng_next(&a);
        cr_assert_eq(x, tr_sim_rng_next(&b));
        same_c += x == tr_sim_rng_next(&c);
    }
    cr_assert_lt(same_c, 2);
    tr_sim_rng d;
    tr_sim_rng_init(&d, 8, 1); /* another seed, same stream id */
    tr_sim_rng_init(&a, 7, 1);
    cr_assert_neq(tr_sim_rng_next(&a), tr_sim_rng_next(&d));
}

Test(sim_prng, below_and_unit_stay_in_range) {
    tr_sim_rng r;
    tr_sim_rng_init(&r, 1, TR_SIM_STREAM_USER);
    uint64_t hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t v = tr_sim_rng_below(&r, 10);
        cr_assert_lt(v, 10);
        hist[v]++;
        double u = tr_sim_rng_unit(&r);
        cr_assert(u >= 0.0 && u < 1.0);
    }
    for (int i = 0; i < 10; i++) {
        cr_assert(hist[i] > 9000 && hist[i] < 11000, "bucket %d: %llu", i,
                  (unsigned long long)hist[i]);
    }
}

/* ---- Store commits are events in virtual time -------------------------------------- */

static uint64_t durable_reply_at, durable_sent_at;

static int saver_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == T_PING) {
        uint64_t v = 1;
        if (tr_kv_put(ctx, "v", 1, &v, sizeof v) != 0) {
            return TR_EFAILED;
        }
        durable_sent_at = tr_now_ns(ctx);
        return tr_reply_durable(ctx, msg, T_PONG, NULL, 0) == 0 ? TR_CONTINUE : TR_EFAILED;
    }
    return TR_CONTINUE;
}

static const tr_behaviour saver_b = {.name = "saver", .receive = saver_receive};

static int asker_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_send_name(ctx, "saver@n2", T_PING, NULL, 0);
}

static int asker_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == T_PONG) {
        durable_reply_at = tr_now_ns(ctx);
    }
    return TR_CONTINUE;
}

static const tr_behaviour asker_b = {.name = "asker", .init = asker_init, .receive = asker_receive};

static int boot_saver(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "saver"};
    return tr_node_id(node) == 2 ? tr_node_spawn(node, &saver_b, &o, NULL, 0, NULL) : 0;
}

Test(sim_engine, durable_replies_wait_for_the_simulated_commit) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.nodes = 2;
    c.boot = boot_saver;
    c.commit_latency_ns = 3000000; /* 3 ms */
    c.link_delay_mean_ns = 0;      /* 100 us each way, exactly */
    c.delay_dist = TR_SIM_DELAY_FIXED;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    durable_reply_at = durable_sent_at = 0;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &asker_b, NULL, NULL, 0, NULL), 0);
    tr_sim_run_for(sim, 2000000);
    cr_assert_neq(durable_sent_at, 0);
    cr_assert_eq(durable_reply_at, 0, "the reply waits for the commit");
    tr_sim_run_for(sim, 5000000);
    cr_assert_geq(durable_reply_at, durable_sent_at + 3000000 + 100000);
    cr_assert_lt(durable_reply_at, durable_sent_at + 3000000 + 200000);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_eq(st.store_commits, 1);
    tr_sim_destroy(sim);
}

/* ---- Determinism under every fault at once ------------------------------------------ */

static void chaos_step(tr_sim *sim, void *ud) {
    (void)ud;
    tr_sim_rng rng;
    tr_sim_rng_stream(sim, TR_SIM_STREAM_USER + tr_sim_now_ns(sim), &rng);
    uint32_t n = tr_sim_node_count(sim);
    uint32_t i = 1 + (uint32_t)tr_sim_rng_below(&rng, n - 1); /* never n1: it drives pings */
    switch (tr_sim_rng_below(&rng, 9)) {
    case 0: tr_sim_partition_ring(sim); break;
    case 1: tr_sim_partition_bridge(sim); break;
    case 2: tr_sim_heal(sim); break;
    case 3: tr_sim_node_is_up(sim, i) ? tr_sim_crash(sim, i) : tr_sim_restart(sim, i); break;
    case 4: tr_sim_pause(sim, i) == TR_EBUSY ? tr_sim_resume(sim, i) : 0; break;
    case 5: tr_sim_clock_jump(sim, i, (int64_t)tr_sim_rng_below(&rng, 20000000) - 10000000); break;
    case 6: tr_sim_clock_drift(sim, i, (int32_t)tr_sim_rng_below(&rng, 2000) - 1000); break;
    case 7: tr_sim_delay_spike(sim, TR_SIM_ANY, i, 5000000, 3000000); break;
    default: tr_sim_link_cut(sim, i, 0); break;
    }
    if (tr_sim_now_ns(sim) < 180000000) {
        tr_sim_at(sim, tr_sim_now_ns(sim) + 1000000 + tr_sim_rng_below(&rng, 4000000), chaos_step,
                  NULL);
    }
}

static void chaos_scenario(tr_sim *sim, void *ud) {
    uint64_t *events = ud;
    pongs_total = 0;
    uint32_t n = tr_sim_node_count(sim);
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &pinger_b, NULL, &n, sizeof n, NULL), 0);
    tr_sim_at(sim, 2000000, chaos_step, NULL);
    tr_sim_run_for(sim, 200000000);
    for (uint32_t i = 1; i < n; i++) {
        if (!tr_sim_node_is_up(sim, i)) {
            tr_sim_restart(sim, i);
        }
    }
    tr_sim_heal(sim);
    tr_sim_run_for(sim, 20000000);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    *events = st.events;
    uint64_t kinds = 0;
    for (int f = 0; f < TR_SIM_FAULT_COUNT; f++) {
        kinds += st.faults[f] > 0;
    }
    cr_assert_geq(kinds, 10, "the scenario must exercise most fault kinds");
}

Test(sim_engine, every_fault_at_once_is_still_deterministic) {
    tr_sim_config c = ping_config(31337);
    c.nodes = 5;
    c.store = true;
    c.loss_prob = 0.02;
    c.dup_prob = 0.02;
    c.reorder_prob = 0.05;
    tr_sim_divergence d;
    uint64_t events = 0;
    cr_assert_eq(tr_sim_check_determinism(&c, chaos_scenario, &events, &d), 0);
    cr_assert_not(d.diverged, "%s", d.what);
    /* Pings mostly wait out their timeouts behind the faults: few events, many faults. */
    cr_assert_gt(events, 400, "events %llu", (unsigned long long)events);
}

/* check_nodes walks the runtime's invariants (tr__node_check) after every event: they hold
 * through crashes, restarts, pauses and partitions, and a corrupted node aborts the run. */
static void chaos_plain(tr_sim *sim, void *ud) {
    uint64_t events;
    chaos_scenario(sim, &events);
}

Test(sim_engine, node_invariants_hold_after_every_event_under_every_fault) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_sim_config c = ping_config(seed);
        c.nodes = 5;
        c.store = true;
        c.loss_prob = 0.02;
        c.dup_prob = 0.02;
        c.check_nodes = true;
        tr_sim *sim;
        cr_assert_eq(tr_sim_create(&c, &sim), 0);
        chaos_plain(sim, NULL);
        tr_sim_destroy(sim);
    }
}

static void corrupt_live_count(tr_sim *sim, void *ud) {
    (void)ud;
    atomic_fetch_add(&tr_sim_node(sim, 0)->st_live, 1); /* a planted miscount */
}

Test(sim_engine, a_corrupted_node_is_caught_after_the_next_event, .signal = SIGABRT) {
    tr_sim_config c = ping_config(5);
    c.check_nodes = true;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    uint32_t n = tr_sim_node_count(sim);
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &pinger_b, NULL, &n, sizeof n, NULL), 0);
    tr_sim_at(sim, 3000000, corrupt_live_count, NULL);
    tr_sim_run_for(sim, 50000000);
}

/* The engine's invariant hook (sim/sim.h SIM_ASSERT) reports the seed and aborts. */
_Noreturn void tr__sim_assert_fail(const tr_sim *sim, const char *expr, const char *file, int line);

Test(sim_engine, invariant_failure_aborts_naming_the_seed, .signal = SIGABRT) {
    tr_sim_config c = ping_config(4242);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    tr__sim_assert_fail(sim, "planted", __FILE__, __LINE__);
}

/* An aborted run leaves no store directory behind (they live in /dev/shm, i.e. memory). */
Test(sim_engine, an_aborted_run_removes_its_store_directory) {
    char base[] = "/tmp/troupe-abort-XXXXXX";
    cr_assert_not_null(mkdtemp(base));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        tr_sim_config c = ping_config(4243);
        c.store = true;
        c.store_base = base;
        tr_sim *sim;
        if (tr_sim_create(&c, &sim) != 0) {
            _exit(3);
        }
        tr_sim_run_for(sim, 1000000); /* the stores hold something */
        tr__sim_assert_fail(sim, "planted", __FILE__, __LINE__);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d", status);
    DIR *d = opendir(base);
    cr_assert_not_null(d);
    int left = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        left += strncmp(e->d_name, "troupe-sim-", 11) == 0;
    }
    closedir(d);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base); /* what a failure leaves */
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(left, 0, "the aborted run's store directory is still there");
}

static int count_store_dirs(const char *base) {
    DIR *d = opendir(base);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += strncmp(e->d_name, "troupe-sim-", 11) == 0;
    }
    closedir(d);
    return n;
}

/* A run killed outright (SIGKILL, Ctrl-C) cannot clean up: the next run removes its
 * directory, and never one whose run is alive. */
Test(sim_engine, a_killed_run_s_store_directory_is_swept_by_the_next_run) {
    char base[] = "/tmp/troupe-sweep-XXXXXX";
    cr_assert_not_null(mkdtemp(base));
    tr_sim_config c = ping_config(4244);
    c.store = true;
    c.store_base = base;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        tr_sim *sim;
        if (tr_sim_create(&c, &sim) == 0) {
            tr_sim_run_for(sim, 1000000);
        }
        raise(SIGKILL);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %d", status);
    int left = count_store_dirs(base);
    tr_sim *a = NULL, *b = NULL;
    cr_assert_eq(tr_sim_create(&c, &a), 0);
    int with_a = count_store_dirs(base);
    cr_assert_eq(tr_sim_create(&c, &b), 0);
    int with_b = count_store_dirs(base);
    tr_sim_destroy(b);
    tr_sim_destroy(a);
    int after = count_store_dirs(base);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(left, 1, "the killed run left its directory");
    cr_assert_eq(with_a, 1, "the next run removed the dead run's directory (%d left)", with_a);
    cr_assert_eq(with_b, 2, "a live run's directory is never removed");
    cr_assert_eq(after, 0);
}

static bool pongs_reached(tr_sim *sim, void *ud) {
    (void)sim;
    return pongs_total >= *(uint64_t *)ud;
}

Test(sim_engine, run_until_stops_at_the_predicate_or_the_deadline) {
    tr_sim_config c = ping_config(11);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    pongs_total = 0;
    uint32_t n = 3;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &pinger_b, NULL, &n, sizeof n, NULL), 0);
    uint64_t want = 10;
    cr_assert_eq(tr_sim_run_until(sim, pongs_reached, &want, 1000000000), 0);
    /* It stops right after the event (an actor run) that made it true; one run may handle
     * several of the 4 pongs in flight. */
    cr_assert(pongs_total >= 10 && pongs_total < 14, "%llu", (unsigned long long)pongs_total);
    uint64_t t = tr_sim_now_ns(sim);
    cr_assert_gt(t, 0);
    cr_assert_lt(t, 1000000000);
    want = UINT64_MAX;
    cr_assert_eq(tr_sim_run_until(sim, pongs_reached, &want, t + 5000000), TR_ETIMEDOUT);
    cr_assert_eq(tr_sim_now_ns(sim), t + 5000000);
    /* step: one event at a time, time never goes back */
    uint64_t before = tr_sim_now_ns(sim);
    cr_assert(tr_sim_step(sim));
    cr_assert_geq(tr_sim_now_ns(sim), before);
    tr_sim_destroy(sim);
}

Test(sim_engine, step_on_an_empty_queue_returns_false) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.store = false;
    c.nodes = 1;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    cr_assert_not(tr_sim_step(sim));
    cr_assert_eq(tr_sim_now_ns(sim), 0);
    tr_sim_destroy(sim);
}

/* ---- Local deliveries are in the trace ------------------------------------------------ */

static int local_plant; /* differs between the two runs: a planted nondeterminism */
static uint64_t traced_seen;

static int quiet_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    return TR_CONTINUE;
}
static const tr_behaviour quiet_b = {.name = "quiet", .receive = quiet_receive};

static int local_sender_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    tr_addr quiet;
    int rc = tr_spawn(ctx, &quiet_b, NULL, NULL, 0, &quiet);
    for (int i = 0; rc == 0 && i < 20; i++) {
        int v = i == 10 ? local_plant : i; /* only the body differs, nothing else */
        rc = tr_send(ctx, quiet, T_PING, &v, sizeof v);
    }
    return rc;
}

static const tr_behaviour local_sender_b = {
    .name = "local-sender", .init = local_sender_init, .receive = quiet_receive};

static void local_scenario(tr_sim *sim, void *ud) {
    int *runs = ud;
    local_plant = ++*runs == 2 ? 1000 : 10;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &local_sender_b, NULL, NULL, 0, NULL), 0);
    tr_sim_run_for(sim, 1000000);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    traced_seen = st.messages_traced;
}

Test(sim_engine, a_local_message_body_difference_is_caught) {
    tr_sim_config c = ping_config(3);
    c.boot = NULL;
    tr_sim_divergence d;
    int runs = 0;
    cr_assert_eq(tr_sim_check_determinism(&c, local_scenario, &runs, &d), 0);
    cr_assert_geq(traced_seen, 20, "the runtime reports every local delivery to the engine");
    cr_assert(d.diverged, "a body that differs only inside a node must change the trace");
    cr_assert(strstr(d.what, "run") != NULL, "%s", d.what);
}

/* ---- One CPU per node ------------------------------------------------------------------ */

static uint64_t cpu_last_ns[2], cpu_count[2];

static int cpu_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    int which = *(int *)state;
    cpu_last_ns[which] = tr_now_ns(ctx);
    cpu_count[which]++;
    return TR_CONTINUE;
}

static int cpu_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    memcpy(state, arg, sizeof(int));
    return 0;
}

static const tr_behaviour cpu_b = {
    .name = "cpu", .state_size = sizeof(int), .init = cpu_init, .receive = cpu_receive};

Test(sim_engine, actors_of_a_node_share_one_cpu) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.nodes = 1;
    c.store = false;
    c.msg_cost_ns = 1000;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    tr_addr a[2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &cpu_b, NULL, &i, sizeof i, &a[i]), 0);
    }
    tr_sim_run_for(sim, 1000000); /* both inited */
    uint64_t t0 = tr_sim_now_ns(sim);
    memset(cpu_count, 0, sizeof cpu_count);
    for (int k = 0; k < 100; k++) {
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(tr_node_send(tr_sim_node(sim, 0), a[i], T_PING, NULL, 0), 0);
        }
    }
    tr_sim_run_for(sim, 1000000);
    cr_assert_eq(cpu_count[0] + cpu_count[1], 200);
    /* 100 messages = 100 us of CPU: whichever ran second started when the first was done. */
    uint64_t first = cpu_last_ns[0] < cpu_last_ns[1] ? cpu_last_ns[0] : cpu_last_ns[1];
    uint64_t second = cpu_last_ns[0] < cpu_last_ns[1] ? cpu_last_ns[1] : cpu_last_ns[0];
    cr_assert_eq(first, t0);
    cr_assert_eq(second, t0 + 100 * 1000);
    tr_sim_destroy(sim);
}

/* ---- Timers and other events due at the same time ------------------------------------ */

/* Timers live in a heap of their own: an event due at the same virtual time as a timer must
 * still run in push order, before it if pushed before the timer was armed, after if after. */
static uint64_t timer_seen_by[2];

static int timer_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_timer_start(ctx, 10, 0, T_KICK, NULL); /* armed at t = 0: due at 10 ms */
}

static const tr_behaviour timer_b = {.name = "timer", .init = timer_init, .receive = quiet_receive};

static void count_timers(tr_sim *sim, void *ud) {
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_eq(tr_sim_now_ns(sim), 10000000);
    timer_seen_by[*(int *)ud] = st.timers_fired;
}

Test(sim_engine, a_timer_and_a_call_due_together_run_in_push_order) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.nodes = 1;
    c.store = false;
    tr_sim *sim;
    static int first = 0, second = 1;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &timer_b, NULL, NULL, 0, NULL), 0);
    cr_assert_eq(tr_sim_at(sim, 10000000, count_timers, &first), 0);  /* before the arming */
    tr_sim_run_for(sim, 1000000);                                     /* init arms the timer */
    cr_assert_eq(tr_sim_at(sim, 10000000, count_timers, &second), 0); /* after it */
    tr_sim_run_for(sim, 20000000);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_eq(st.timers_fired, 1);
    cr_assert_eq(timer_seen_by[0], 0, "the call pushed first runs before the timer");
    cr_assert_eq(timer_seen_by[1], 1, "the call pushed after the arming runs after the timer");
    tr_sim_destroy(sim);
}

/* ---- TR_ASSERT in actor code during a simulated run names the run ---------------------- */

enum {
    T_BOOM = TR_MSG_USER + 0x40
};

static int boom_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx;
    (void)state;
    TR_ASSERT(msg->type != T_BOOM); /* planted: the first T_BOOM fails it */
    return TR_CONTINUE;
}

static const tr_behaviour boom_b = {.name = "boom", .receive = boom_receive};

static int boot_boom(tr_node *node, void *ud) {
    (void)ud;
    tr_spawn_opts o = {.name = "boom"};
    return tr_node_spawn(node, &boom_b, &o, NULL, 0, NULL);
}

/* Sends T_BOOM to n2's boom at 5 ms of virtual time and runs past it: aborts. */
static void run_boom(uint64_t seed) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net = TR_SIM_NET_ORACLE;
    c.seed = seed;
    c.nodes = 2;
    c.store = false;
    c.boot = boot_boom;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    tr_sim_run_for(sim, 5000000);
    tr_addr to;
    cr_assert_eq(tr_node_lookup(tr_sim_node(sim, 1), "boom", &to), 0);
    cr_assert_eq(tr_node_send(tr_sim_node(sim, 1), to, T_BOOM, NULL, 0), 0);
    tr_sim_run_for(sim, 1000000);
    tr_sim_destroy(sim); /* not reached */
}

Test(sim_engine, tr_assert_in_an_actor_aborts_the_run, .signal = SIGABRT) {
    run_boom(4244);
}

/* The failure names the seed, the event, the virtual time and the node (stderr of a child). */
Test(sim_engine, tr_assert_in_an_actor_prints_seed_event_time_and_node) {
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        run_boom(4245);
        _exit(3);
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    for (ssize_t n; (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0;) {
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d", status);
    cr_assert_not_null(strstr(out, "assertion failed: msg->type != T_BOOM"), "%s", out);
    cr_assert_not_null(strstr(out, "seed 4245, event #"), "%s", out);
    cr_assert_not_null(strstr(out, ", t=5000000 ns, node n2"), "%s", out);
}

static void say_outer(void *arg, char *buf, size_t cap) {
    (void)arg;
    snprintf(buf, cap, "outer");
}

static bool never_true(tr_sim *sim, void *ud) {
    (void)sim;
    (void)ud;
    return false;
}

/* A run puts back the context the thread had before it. */
Test(sim_engine, a_run_restores_the_previous_assert_context) {
    static int outer_arg;
    tr__assert_context_set(say_outer, &outer_arg, NULL, NULL);
    tr_sim_config c = ping_config(4246);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    tr_sim_run_for(sim, 1000000);
    tr_sim_step(sim);
    tr_sim_run_until(sim, never_true, NULL, 2000000);
    tr_sim_destroy(sim);
    tr__assert_context_fn fn = NULL;
    void *arg = NULL;
    tr__assert_context_set(NULL, NULL, &fn, &arg);
    cr_assert_eq(fn, say_outer);
    cr_assert_eq(arg, &outer_arg);
}
