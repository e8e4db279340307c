/* test_nemesis.c — every fault kind is observable in a small scenario, and counted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull
enum {
    T_TICK = TR_MSG_USER + 1,
    T_DATA,
    T_QUERY,
    T_INCR,
    T_ARM
};

static uint32_t n_nodes;
static uint64_t counts[8][8];  /* counts[receiver][sender] */
static uint64_t max_lat_ns[8]; /* per receiver */
static uint64_t clock_ms[8];   /* tr_now_ms seen by each node's sink on T_QUERY */
static uint64_t downs, ups;    /* NODE_DOWN / NODE_UP seen by the watcher on n1 */
static uint64_t sink_volatile[8];
static uint64_t timer_fired_ns;

typedef struct data {
    uint32_t from;
    uint64_t sent_ns;
} data;

/* ---- ticker: every ms, one T_DATA to every other node's sink ------------------------- */
static int ticker_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_timer_start(ctx, 1, 1, T_TICK, NULL);
}

static int ticker_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type != T_TICK) {
        return TR_CONTINUE;
    }
    uint32_t self = tr_self(ctx).node;
    for (uint32_t k = 1; k <= n_nodes; k++) {
        if (k == self) {
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, "sink@n%u", k);
        data d = {.from = self - 1, .sent_ns = tr_now_ns(ctx)};
        if (tr_send_name(ctx, name, T_DATA, &d, sizeof d) != 0) {
            return TR_EFAILED;
        }
    }
    return TR_CONTINUE;
}

static const tr_behaviour ticker_b = {
    .name = "ticker", .init = ticker_init, .receive = ticker_receive};

/* ---- sink: counts arrivals, answers clock queries ------------------------------------ */
typedef struct sink_state {
    uint64_t got; /* volatile: lost in a crash */
} sink_state;

static int sink_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    sink_state *st = state;
    uint32_t self = tr_self(ctx).node - 1;
    if (msg->type == T_DATA) {
        data d;
        cr_assert_eq(msg->body_len, sizeof d);
        memcpy(&d, msg->body, sizeof d);
        counts[self][d.from]++;
        st->got++;
        sink_volatile[self] = st->got;
        uint64_t lat = tr_now_ns(ctx) - d.sent_ns;
        if (lat > max_lat_ns[self]) {
            max_lat_ns[self] = lat;
        }
    } else if (msg->type == T_QUERY) {
        clock_ms[self] = tr_now_ms(ctx);
    } else if (msg->type == T_ARM) {
        return tr_timer_start(ctx, 1000, 0, T_TICK, NULL) == 0 ? TR_CONTINUE : TR_EFAILED;
    } else if (msg->type == T_TICK) {
        timer_fired_ns = tr_now_ns(ctx);
    }
    return TR_CONTINUE;
}

static const tr_behaviour sink_b = {
    .name = "sink", .state_size = sizeof(sink_state), .receive = sink_receive};

/* ---- watcher (n1): hears about node 2 --------------------------------------------------- */
static int watcher_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_monitor_node(ctx, 2);
}

static int watcher_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == TR_MSG_NODE_DOWN && msg->from.node == 2) {
        downs++;
    } else if (msg->type == TR_MSG_NODE_UP && msg->from.node == 2) {
        ups++;
    }
    return TR_CONTINUE;
}

static const tr_behaviour watcher_b = {
    .name = "watcher", .init = watcher_init, .receive = watcher_receive};

/* ---- keeper (store): a durable counter ------------------------------------------------- */
typedef struct keeper_state {
    uint64_t count;
} keeper_state;
static uint64_t keeper_recovered, keeper_in_memory;

static int keeper_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    keeper_state *st = state;
    size_t got = 0;
    int rc = tr_kv_get(ctx, "count", 5, &st->count, sizeof st->count, &got);
    if (rc == TR_ENOENT) {
        st->count = 0;
    } else if (rc != 0 || got != sizeof st->count) {
        return rc != 0 ? rc : TR_ECORRUPT;
    }
    keeper_recovered = st->count;
    keeper_in_memory = st->count;
    return 0;
}

static int keeper_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    keeper_state *st = state;
    if (msg->type == T_INCR) {
        st->count++;
        keeper_in_memory = st->count;
        return tr_kv_put(ctx, "count", 5, &st->count, sizeof st->count) == 0 ? TR_CONTINUE
                                                                             : TR_EFAILED;
    }
    return TR_CONTINUE;
}

static const tr_behaviour keeper_b = {.name = "keeper",
                                      .state_size = sizeof(keeper_state),
                                      .init = keeper_init,
                                      .receive = keeper_receive};

/* ---- boot and helpers ------------------------------------------------------------------ */
static bool with_ticker = true, with_keeper;

static int boot(tr_node *node, void *ud) {
    tr_spawn_opts so = {.name = "sink"};
    int rc = tr_node_spawn(node, &sink_b, &so, NULL, 0, NULL);
    if (rc == 0 && with_ticker) {
        rc = tr_node_spawn(node, &ticker_b, NULL, NULL, 0, NULL);
    }
    if (rc == 0 && tr_node_id(node) == 1) {
        rc = tr_node_spawn(node, &watcher_b, NULL, NULL, 0, NULL);
    }
    if (rc == 0 && with_keeper && tr_node_id(node) == 2) {
        tr_spawn_opts ko = {.name = "keeper"};
        rc = tr_node_spawn(node, &keeper_b, &ko, NULL, 0, NULL);
    }
    return rc;
}

static tr_sim *make(uint32_t nodes, void (*tweak)(tr_sim_config *c)) {
    memset(counts, 0, sizeof counts);
    memset(max_lat_ns, 0, sizeof max_lat_ns);
    memset(clock_ms, 0, sizeof clock_ms);
    memset(sink_volatile, 0, sizeof sink_volatile);
    downs = ups = 0;
    timer_fired_ns = 0;
    n_nodes = nodes;
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.net =
        TR_SIM_NET_ORACLE; /* the message network's faults and the oracle's failure detector are what this suite pins */
    c.seed = 2024;
    c.nodes = nodes;
    c.store = false;
    c.boot = boot;
    c.failure_detect_ns = 2 * MS;
    if (tweak != NULL) {
        tweak(&c);
    }
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    return sim;
}

static uint64_t fault(tr_sim *sim, tr_sim_fault f) {
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    return st.faults[f];
}

static tr_addr sink_of(tr_sim *sim, uint32_t i) {
    tr_addr a;
    cr_assert_eq(tr_node_lookup(tr_sim_node(sim, i), "sink", &a), 0);
    return a;
}

/* ---- Partitions ------------------------------------------------------------------------ */

Test(nemesis, partition_drops_cross_side_messages_and_heal_restores) {
    tr_sim *sim = make(3, NULL);
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_gt(counts[1][0], 5);
    cr_assert_eq(tr_sim_isolate(sim, 0), 0);
    tr_sim_run_for(sim, 2 * MS); /* what was in flight is lost; nothing new crosses */
    uint64_t c10 = counts[1][0], c01 = counts[0][1], c12 = counts[1][2];
    tr_sim_run_for(sim, 20 * MS);
    cr_assert_eq(counts[1][0], c10, "n1 -> n2 crossed the partition");
    cr_assert_eq(counts[0][1], c01, "n2 -> n1 crossed the partition");
    cr_assert_gt(counts[1][2], c12 + 10, "the majority side keeps talking");
    cr_assert(!tr_sim_link_is_up(sim, 0, 1) && !tr_sim_link_is_up(sim, 1, 0));
    cr_assert(tr_sim_link_is_up(sim, 1, 2));
    cr_assert_eq(tr_sim_heal(sim), 0);
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_gt(counts[1][0], c10 + 5, "heal restores n1 -> n2");
    cr_assert_gt(counts[0][1], c01 + 5, "heal restores n2 -> n1");
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_eq(st.faults[TR_SIM_FAULT_PARTITION], 1);
    cr_assert_eq(st.faults[TR_SIM_FAULT_HEAL], 1);
    cr_assert_gt(st.dropped_cut, 20);
    cr_assert_eq(tr_sim_heal(sim), 0);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_HEAL), 1, "a heal with nothing to heal is not counted");
    tr_sim_destroy(sim);
}

static void slow_links(tr_sim_config *c) {
    c->link_delay_min_ns = 5 * MS;
    c->link_delay_mean_ns = 0;
}

Test(nemesis, a_broken_link_loses_what_was_in_flight) {
    tr_sim *sim = make(2, slow_links);
    tr_sim_run_for(sim, 20 * MS);
    tr_sim_stats before;
    tr_sim_stats_get(sim, &before);
    /* Cut and heal at the same instant: nothing is sent while cut, yet ~5 ms of messages
     * in flight on each direction are lost. */
    tr_sim_isolate(sim, 0);
    tr_sim_heal(sim);
    tr_sim_run_for(sim, 20 * MS);
    tr_sim_stats after;
    tr_sim_stats_get(sim, &after);
    cr_assert_geq(after.dropped_cut - before.dropped_cut, 8);
    tr_sim_destroy(sim);
}

Test(nemesis, one_way_cut_blocks_one_direction_only) {
    tr_sim *sim = make(2, NULL);
    tr_sim_run_for(sim, 5 * MS);
    cr_assert_eq(tr_sim_link_cut(sim, 0, 1), 0);
    tr_sim_run_for(sim, 2 * MS);
    uint64_t c10 = counts[1][0], c01 = counts[0][1];
    tr_sim_run_for(sim, 20 * MS);
    cr_assert_eq(counts[1][0], c10, "n1 -> n2 is cut");
    cr_assert_gt(counts[0][1], c01 + 10, "n2 -> n1 still flows");
    cr_assert_eq(fault(sim, TR_SIM_FAULT_LINK_CUT), 1);
    tr_sim_destroy(sim);
}

static uint32_t up_links_of(tr_sim *sim, uint32_t f) {
    uint32_t c = 0;
    for (uint32_t t = 0; t < tr_sim_node_count(sim); t++) {
        c += tr_sim_link_is_up(sim, f, t) && t != f;
    }
    return c;
}

Test(nemesis, partition_shapes_have_their_structure) {
    tr_sim *sim = make(5, NULL);
    /* halves: 2 nodes see 1 other, 3 nodes see 2 others. */
    cr_assert_eq(tr_sim_partition_halves(sim), 0);
    uint32_t hist[5] = {0};
    for (uint32_t i = 0; i < 5; i++) {
        hist[up_links_of(sim, i)]++;
    }
    cr_assert_eq(hist[1], 2);
    cr_assert_eq(hist[2], 3);
    /* ring: each node sees exactly 2 others (a majority of 3 with itself), all different. */
    cr_assert_eq(tr_sim_partition_ring(sim), 0);
    uint64_t views[5];
    for (uint32_t i = 0; i < 5; i++) {
        cr_assert_eq(up_links_of(sim, i), 2);
        views[i] = 0;
        for (uint32_t t = 0; t < 5; t++) {
            views[i] |= (uint64_t)tr_sim_link_is_up(sim, i, t) << t;
        }
        for (uint32_t j = 0; j < i; j++) {
            cr_assert_neq(views[i], views[j]);
        }
    }
    /* bridge: one node sees all 4, the others see 2 (their half + the bridge). */
    cr_assert_eq(tr_sim_partition_bridge(sim), 0);
    uint32_t h2[5] = {0};
    for (uint32_t i = 0; i < 5; i++) {
        h2[up_links_of(sim, i)]++;
    }
    cr_assert_eq(h2[4], 1);
    cr_assert_eq(h2[2], 4);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_PARTITION), 3);
    cr_assert_eq(tr_sim_partition(sim, 1ull << 7), TR_EINVAL);
    tr_sim_destroy(sim);
}

/* ---- Crash, restart, pause ------------------------------------------------------------ */

Test(nemesis, crash_loses_volatile_state_and_restart_reboots) {
    tr_sim *sim = make(3, NULL);
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_gt(sink_volatile[1], 10);
    cr_assert_eq(downs, 0);
    cr_assert_eq(tr_sim_crash(sim, 1), 0);
    cr_assert_eq(tr_sim_crash(sim, 1), TR_ECLOSED);
    cr_assert_not(tr_sim_node_is_up(sim, 1));
    uint64_t c = counts[1][0];
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_eq(counts[1][0], c, "a crashed node receives nothing");
    cr_assert_eq(downs, 1, "the watcher on n1 heard that n2 went down");
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_gt(st.dropped_down, 10);
    cr_assert_eq(tr_sim_restart(sim, 1), 0);
    cr_assert_eq(tr_sim_restart(sim, 1), TR_EBUSY);
    tr_sim_run_for(sim, 1 * MS + 500000);
    cr_assert_lt(sink_volatile[1], 5, "the restarted sink starts from zero");
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_gt(counts[1][0], c + 5);
    cr_assert_eq(ups, 1, "the watcher heard that n2 came back");
    cr_assert_eq(fault(sim, TR_SIM_FAULT_CRASH), 1);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_RESTART), 1);
    tr_sim_destroy(sim);
}

static void with_store(tr_sim_config *c) {
    c->store = true;
    c->commit_latency_ns = 1 * MS;
}

Test(nemesis, crash_keeps_committed_store_and_loses_uncommitted_writes) {
    with_keeper = true;
    with_ticker = false;
    tr_sim *sim = make(2, with_store);
    with_keeper = false;
    with_ticker = true;
    tr_addr keeper;
    cr_assert_eq(tr_node_lookup(tr_sim_node(sim, 1), "keeper", &keeper), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(tr_node_send(tr_sim_node(sim, 1), keeper, T_INCR, NULL, 0), 0);
    }
    tr_sim_run_for(sim, 5 * MS); /* processed and committed */
    cr_assert_eq(keeper_in_memory, 5);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr_node_send(tr_sim_node(sim, 1), keeper, T_INCR, NULL, 0), 0);
    }
    tr_sim_run_for(sim, 100000); /* processed, not yet committed (1 ms commit latency) */
    cr_assert_eq(keeper_in_memory, 8);
    cr_assert_eq(tr_sim_crash(sim, 1), 0);
    tr_sim_run_for(sim, 5 * MS);
    keeper_recovered = 999;
    with_keeper = true;
    cr_assert_eq(tr_sim_restart(sim, 1), 0);
    with_keeper = false;
    tr_sim_run_for(sim, 1 * MS);
    cr_assert_eq(keeper_recovered, 5, "committed writes survive, uncommitted ones are lost");
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    cr_assert_geq(st.store_commits, 1);
    tr_sim_destroy(sim);
}

Test(nemesis, pause_delays_processing_until_resume) {
    tr_sim *sim = make(2, NULL);
    tr_sim_run_for(sim, 5 * MS);
    cr_assert_eq(tr_sim_pause(sim, 1), 0);
    cr_assert_eq(tr_sim_pause(sim, 1), TR_EBUSY);
    tr_sim_run_for(sim, 1 * MS);
    uint64_t c10 = counts[1][0], c01 = counts[0][1];
    tr_sim_run_for(sim, 20 * MS);
    cr_assert_eq(counts[1][0], c10, "a paused node processes nothing");
    cr_assert_leq(counts[0][1], c01 + 1, "a paused node sends nothing new");
    cr_assert_eq(tr_sim_resume(sim, 1), 0);
    tr_sim_run_for(sim, 100000);
    cr_assert_geq(counts[1][0], c10 + 15, "what arrived during the pause is processed at resume");
    cr_assert_geq(max_lat_ns[1], 15 * MS, "and it waited");
    cr_assert_eq(fault(sim, TR_SIM_FAULT_PAUSE), 1);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_RESUME), 1);
    tr_sim_destroy(sim);
}

/* ---- Clocks ------------------------------------------------------------------------------ */

static void query_clocks(tr_sim *sim) {
    for (uint32_t i = 0; i < tr_sim_node_count(sim); i++) {
        cr_assert_eq(tr_node_send(tr_sim_node(sim, i), sink_of(sim, i), T_QUERY, NULL, 0), 0);
    }
    tr_sim_run_for(sim, 100000);
}

Test(nemesis, clock_skew_and_jump_change_one_node_only) {
    with_ticker = false;
    tr_sim *sim = make(2, NULL);
    with_ticker = true;
    tr_sim_run_for(sim, 10 * MS);
    query_clocks(sim);
    cr_assert_eq(clock_ms[0], 10);
    cr_assert_eq(clock_ms[1], 10);
    cr_assert_eq(tr_sim_clock_skew(sim, 1, 5000 * (int64_t)MS), 0);
    query_clocks(sim);
    cr_assert_eq(clock_ms[0], 10);
    cr_assert_eq(clock_ms[1], 5010);
    cr_assert_eq(tr_sim_clock_jump(sim, 1, 1000 * (int64_t)MS), 0);
    query_clocks(sim);
    cr_assert_eq(clock_ms[0], 10);
    cr_assert_eq(clock_ms[1], 6010);
    /* A backward jump: the node's clock stands still rather than running backwards. */
    cr_assert_eq(tr_sim_clock_jump(sim, 1, -3000 * (int64_t)MS), 0);
    tr_sim_run_for(sim, 10 * MS);
    query_clocks(sim);
    cr_assert_eq(clock_ms[1], 6010);
    cr_assert_eq(clock_ms[0], 20);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_CLOCK_SKEW), 1);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_CLOCK_JUMP), 2);
    tr_sim_destroy(sim);
}

Test(nemesis, clock_drift_runs_one_node_fast) {
    with_ticker = false;
    tr_sim *sim = make(2, NULL);
    with_ticker = true;
    cr_assert_eq(tr_sim_clock_drift(sim, 0, 100000), 0); /* +10% */
    cr_assert_eq(tr_sim_clock_drift(sim, 0, 600000), TR_EINVAL);
    tr_sim_run_for(sim, 100 * MS);
    query_clocks(sim);
    cr_assert_eq(clock_ms[0], 110);
    cr_assert_eq(clock_ms[1], 100);
    tr_sim_destroy(sim);
}

Test(nemesis, timers_run_on_the_node_local_clock) {
    with_ticker = false;
    tr_sim *sim = make(2, NULL);
    with_ticker = true;
    cr_assert_eq(tr_node_send(tr_sim_node(sim, 1), sink_of(sim, 1), T_ARM, NULL, 0), 0);
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_eq(timer_fired_ns, 0);
    /* At 10 ms, 985 ms forward: the local clock reads 995 ms, so the 1000 ms timer (armed at
     * ~0) is due ~5 ms later rather than ~990 ms later. */
    cr_assert_eq(tr_sim_clock_jump(sim, 1, 985 * (int64_t)MS), 0);
    tr_sim_run_for(sim, 3 * MS);
    cr_assert_eq(timer_fired_ns, 0);
    tr_sim_run_for(sim, 5 * MS);
    cr_assert_neq(timer_fired_ns, 0, "the timer fired on the jumped local clock");
    cr_assert_lt(tr_sim_now_ns(sim), 20 * MS);
    tr_sim_destroy(sim);
}

/* ---- Delays, loss, duplication --------------------------------------------------------- */

Test(nemesis, delay_spike_delays_one_link_for_a_while) {
    tr_sim *sim = make(2, NULL);
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_lt(max_lat_ns[1], 2 * MS);
    cr_assert_eq(tr_sim_delay_spike(sim, 0, 1, 50 * MS, 5 * MS), 0);
    tr_sim_run_for(sim, 100 * MS);
    cr_assert_geq(max_lat_ns[1], 50 * MS, "spiked link");
    cr_assert_lt(max_lat_ns[0], 2 * MS, "the other direction is untouched");
    uint64_t before = max_lat_ns[1];
    max_lat_ns[1] = 0;
    tr_sim_run_for(sim, 20 * MS);
    cr_assert_lt(max_lat_ns[1], 2 * MS, "the spike ended (was %llu)", (unsigned long long)before);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_DELAY_SPIKE), 1);
    tr_sim_destroy(sim);
}

static void lossy(tr_sim_config *c) {
    c->loss_prob = 0.25;
}
static void duplicating(tr_sim_config *c) {
    c->dup_prob = 0.25;
}

Test(nemesis, loss_is_counted_exactly) {
    tr_sim *sim = make(2, lossy);
    tr_sim_run_for(sim, 200 * MS);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    uint64_t lost = st.faults[TR_SIM_FAULT_LOSS];
    cr_assert_gt(lost, 40);
    cr_assert_lt(lost, 160);
    /* Everything sent was delivered or lost (plus what is still in flight). */
    uint64_t received = counts[1][0] + counts[0][1];
    cr_assert_leq(st.remote_sent - lost - received, 4);
    cr_assert_eq(st.remote_delivered, received);
    tr_sim_destroy(sim);
}

Test(nemesis, duplication_is_counted_exactly) {
    tr_sim *sim = make(2, duplicating);
    tr_sim_run_for(sim, 200 * MS);
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    uint64_t dups = st.faults[TR_SIM_FAULT_DUP];
    cr_assert_gt(dups, 40);
    uint64_t received = counts[1][0] + counts[0][1];
    cr_assert_gt(received, st.remote_sent - 4, "duplicates arrive in addition");
    cr_assert_leq(st.remote_sent + dups - received, 6);
    tr_sim_destroy(sim);
}

static uint64_t fired_at[2];

static void isolate_n1(tr_sim *s, void *ud) {
    (void)ud;
    fired_at[0] = tr_sim_now_ns(s);
    tr_sim_isolate(s, 0);
}

static void heal_all(tr_sim *s, void *ud) {
    (void)ud;
    fired_at[1] = tr_sim_now_ns(s);
    tr_sim_heal(s);
}

Test(nemesis, scheduled_faults_run_at_their_virtual_time) {
    tr_sim *sim = make(3, NULL);
    cr_assert_eq(tr_sim_at(sim, 7 * MS, isolate_n1, NULL), 0);
    cr_assert_eq(tr_sim_at(sim, 12 * MS, heal_all, NULL), 0);
    tr_sim_run_for(sim, 20 * MS);
    cr_assert_eq(fired_at[0], 7 * MS);
    cr_assert_eq(fired_at[1], 12 * MS);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_PARTITION), 1);
    cr_assert_eq(fault(sim, TR_SIM_FAULT_HEAL), 1);
    tr_sim_destroy(sim);
}

Test(nemesis, a_broken_link_does_not_hold_back_later_messages) {
    tr_sim *sim = make(2, NULL);
    tr_sim_run_for(sim, 5 * MS);
    /* Messages sent in the next 3 ms are due ~50 ms later; then the link breaks (losing
     * them) and heals at once: what is sent afterwards must arrive at normal speed, not
     * queue behind the lost ones. */
    cr_assert_eq(tr_sim_delay_spike(sim, 0, 1, 50 * MS, 3 * MS), 0);
    tr_sim_run_for(sim, 4 * MS);
    cr_assert_eq(tr_sim_link_cut(sim, 0, 1), 0);
    cr_assert_eq(tr_sim_heal(sim), 0);
    uint64_t c10 = counts[1][0];
    max_lat_ns[1] = 0;
    tr_sim_run_for(sim, 10 * MS);
    cr_assert_geq(counts[1][0], c10 + 8);
    cr_assert_lt(max_lat_ns[1], 2 * MS);
    tr_sim_run_for(sim, 100 * MS); /* the lost ones' due times pass without effect */
    cr_assert_lt(max_lat_ns[1], 2 * MS);
    tr_sim_destroy(sim);
}

Test(nemesis, partitions_are_seen_by_the_failure_detector) {
    tr_sim *sim = make(3, NULL);
    tr_sim_run_for(sim, 5 * MS);
    cr_assert_eq(tr_sim_link_cut(sim, 1, 0), 0); /* n2 -> n1 only: still a failure */
    tr_sim_run_for(sim, 1 * MS);
    cr_assert_eq(downs, 0, "the verdict takes failure_detect_ns (2 ms here)");
    tr_sim_run_for(sim, 2 * MS);
    cr_assert_eq(downs, 1);
    cr_assert_eq(tr_sim_heal(sim), 0);
    tr_sim_run_for(sim, 3 * MS);
    cr_assert_eq(ups, 1);
    cr_assert_eq(tr_sim_isolate(sim, 2), 0); /* n3 alone: nothing to say about n2 */
    tr_sim_run_for(sim, 5 * MS);
    cr_assert_eq(downs, 1);
    tr_sim_destroy(sim);
}

Test(nemesis, a_timer_due_during_a_pause_fires_at_resume) {
    with_ticker = false;
    tr_sim *sim = make(2, NULL);
    with_ticker = true;
    cr_assert_eq(tr_node_send(tr_sim_node(sim, 1), sink_of(sim, 1), T_ARM, NULL, 0), 0);
    tr_sim_run_for(sim, 500 * MS);
    cr_assert_eq(tr_sim_pause(sim, 1), 0);
    tr_sim_run_for(sim, 1000 * MS); /* the 1000 ms timer is due during the pause */
    cr_assert_eq(timer_fired_ns, 0);
    cr_assert_eq(tr_sim_resume(sim, 1), 0);
    tr_sim_run_for(sim, 1 * MS);
    cr_assert_geq(timer_fired_ns, 1500 * MS);
    cr_assert_lt(timer_fired_ns, 1501 * MS);
    tr_sim_destroy(sim);
}
