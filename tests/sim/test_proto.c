/* test_proto.c — the cluster protocol core of a real node (proto/) inside the simulator
 * (TR_SIM_NET_PROTOCOL): links come up through the handshake, hostile peers are refused as on
 * the real network (tests/cluster/), a paused node is falsely suspected by phi and comes
 * back, and a run is a pure function of its seed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "proto/membership.h"
#include "sim/sim.h"
#include "troupe.h"

#define MS 1000000ull

static uint64_t downs, ups; /* NODE_DOWN / NODE_UP about n2 seen by the watcher on n1 */
static uint64_t down_at_ns, up_at_ns;

static int watcher_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_monitor_node(ctx, 2);
}

static int watcher_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == TR_MSG_NODE_DOWN && msg->from.node == 2) {
        downs++;
        down_at_ns = tr_now_ns(ctx);
    } else if (msg->type == TR_MSG_NODE_UP && msg->from.node == 2) {
        ups++;
        up_at_ns = tr_now_ns(ctx);
    }
    return TR_CONTINUE;
}

static const tr_behaviour watcher = {
    .name = "watcher", .init = watcher_init, .receive = watcher_receive};

static uint64_t sunk; /* messages the sink on n2 received */

static int sink_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    sunk += msg->type == TR_MSG_USER;
    return TR_CONTINUE;
}

static const tr_behaviour sink = {.name = "sink", .receive = sink_receive};

static int boot(tr_node *node, void *ud) {
    if (tr_node_id(node) == 2) {
        tr_spawn_opts o = {.name = "sink"};
        return tr_node_spawn(node, &sink, &o, NULL, 0, NULL);
    }
    if (tr_node_id(node) != 1) {
        return 0;
    }
    tr_spawn_opts o = {.name = "watcher"};
    return tr_node_spawn(node, &watcher, &o, NULL, 0, NULL);
}

static tr_sim *make(uint64_t seed, uint32_t nodes) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = seed;
    cfg.nodes = nodes;
    cfg.store = false;
    cfg.net = TR_SIM_NET_PROTOCOL;
    cfg.boot = boot;
    downs = ups = down_at_ns = up_at_ns = sunk = 0;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    return sim;
}

static tr_sim_proto_counts counts(tr_sim *sim) {
    tr_sim_proto_counts c;
    cr_assert_eq(tr__sim_proto_counts_get(sim, &c), 0);
    return c;
}

Test(sim_proto, every_pair_links_through_the_handshake) {
    tr_sim *sim = make(1, 4);
    tr_sim_run_for(sim, 2000 * MS);
    for (uint32_t i = 0; i < 4; i++) {
        for (uint32_t k = 0; k < 4; k++) {
            cr_assert(i == k || tr__sim_proto_linked(sim, i, k), "n%u -> n%u", i + 1, k + 1);
        }
    }
    tr_sim_proto_counts c = counts(sim);
    cr_assert_eq(c.dials, 6, "one dial per pair: %llu", (unsigned long long)c.dials);
    cr_assert_eq(c.protocol_errors, 0);
    cr_assert_eq(downs, 0);
    tr_sim_destroy(sim);
}

Test(sim_proto, wrong_secret_is_refused_by_every_peer) {
    tr_sim *sim = make(2, 3);
    uint8_t wrong[32];
    memset(wrong, 'x', sizeof wrong);
    cr_assert_eq(tr__sim_proto_set_secret(sim, 2, wrong), 0);
    tr_sim_run_for(sim, 3000 * MS);
    cr_assert(tr__sim_proto_linked(sim, 0, 1));
    cr_assert(!tr__sim_proto_linked(sim, 0, 2) && !tr__sim_proto_linked(sim, 2, 0));
    cr_assert(!tr__sim_proto_linked(sim, 1, 2) && !tr__sim_proto_linked(sim, 2, 1));
    tr_sim_proto_counts c = counts(sim);
    cr_assert_geq(c.refused, 2);
    cr_assert(strstr(c.last_close, "handshake failed") || strstr(c.last_close, "reset"), "%s",
              c.last_close);
    tr_sim_destroy(sim);
}

Test(sim_proto, malformed_frames_close_the_link_and_it_comes_back) {
    tr_sim *sim = make(3, 3);
    tr_sim_run_for(sim, 1000 * MS);
    cr_assert(tr__sim_proto_linked(sim, 1, 0));
    /* a frame of kind 42 ([42, 0]) */
    static const uint8_t junk[] = {0, 0, 0, 3, 0x92, 42, 0};
    cr_assert_eq(tr__sim_proto_inject(sim, 2, 0, junk, sizeof junk), 0);
    tr_sim_run_for(sim, 50 * MS);
    tr_sim_proto_counts c = counts(sim);
    cr_assert_eq(c.protocol_errors, 1);
    cr_assert(strstr(c.last_close, "n3: malformed or unknown frame (kind 42"), "%s", c.last_close);
    cr_assert(!tr__sim_proto_linked(sim, 0, 2));
    tr_sim_run_for(sim, 5000 * MS);
    cr_assert(tr__sim_proto_linked(sim, 0, 2), "redialled after the backoff");
    tr_sim_destroy(sim);
}

Test(sim_proto, an_oversized_frame_is_refused_before_it_is_buffered) {
    tr_sim *sim = make(4, 2);
    tr_sim_run_for(sim, 1000 * MS);
    static const uint8_t big[] = {0x7f, 0xff, 0xff, 0xff};
    cr_assert_eq(tr__sim_proto_inject(sim, 1, 0, big, sizeof big), 0);
    tr_sim_run_for(sim, 50 * MS);
    tr_sim_proto_counts c = counts(sim);
    cr_assert(strstr(c.last_close, "over limit"), "%s", c.last_close);
    tr_sim_destroy(sim);
}

Test(sim_proto, a_clients_gossip_teaches_no_member) {
    tr_sim *sim = make(5, 3);
    cr_assert_eq(tr__sim_proto_set_identity(sim, 2, "n3", true, false), 0);
    tr_sim_run_for(sim, 3000 * MS);
    /* n3 (a client) links and gossips every second: it stays linked (its transport does
     * gossip), and its entries are dropped by rule 3 of proto/link.h. */
    cr_assert(tr__sim_proto_linked(sim, 0, 2));
    tr_gossip_entry fake = {"mallory", 9, "evil:1", 1};
    uint8_t frame[256];
    long n = tr__gossip_encode(&fake, 1, frame, sizeof frame);
    cr_assert_gt(n, 0);
    cr_assert_eq(tr__sim_proto_inject(sim, 2, 0, frame, (size_t)n), 0);
    tr_sim_run_for(sim, 100 * MS);
    tr_sim_proto_counts c = counts(sim);
    cr_assert_eq(c.protocol_errors, 0);
    cr_assert_eq(c.members_learned, 0, "a client taught %llu members",
                 (unsigned long long)c.members_learned);
    cr_assert_eq(c.verdicts[1], 2 * 2, "UP verdicts between members only: %llu",
                 (unsigned long long)c.verdicts[1]);
    tr_sim_destroy(sim);
}

Test(sim_proto, a_duplicate_node_name_is_refused) {
    tr_sim *sim = make(6, 3);
    cr_assert_eq(tr__sim_proto_set_identity(sim, 2, "n1", false, false), 0);
    tr_sim_run_for(sim, 3000 * MS);
    cr_assert(!tr__sim_proto_linked(sim, 0, 2) && !tr__sim_proto_linked(sim, 1, 2));
    tr_sim_proto_counts c = counts(sim);
    cr_assert_geq(c.refused, 2);
    cr_assert(strstr(c.last_close, "claimed by 'n1' but known as 'n3'") ||
                  strstr(c.last_close, "reset"),
              "%s", c.last_close);
    tr_sim_destroy(sim);
}

Test(sim_proto, a_silent_peer_times_out_in_the_handshake) {
    tr_sim *sim = make(7, 2);
    cr_assert_eq(tr__sim_proto_set_identity(sim, 1, "n2", false, true), 0);
    tr_sim_run_for(sim, 6000 * MS);
    tr_sim_proto_counts c = counts(sim);
    cr_assert(strstr(c.last_close, "handshake timeout"), "%s", c.last_close);
    cr_assert(!tr__sim_proto_linked(sim, 0, 1));
    tr_sim_destroy(sim);
}

static void pause_n2(tr_sim *sim, void *ud) {
    cr_assert_eq(tr_sim_pause(sim, 1), 0);
}

static void resume_n2(tr_sim *sim, void *ud) {
    cr_assert_eq(tr_sim_resume(sim, 1), 0);
}

Test(sim_proto, a_paused_node_is_falsely_suspected_by_phi_and_comes_back) {
    tr_sim *sim = make(8, 3);
    tr_sim_at(sim, 2000 * MS, pause_n2, NULL);
    tr_sim_at(sim, 6000 * MS, resume_n2, NULL);
    tr_sim_run_for(sim, 12000 * MS);
    cr_assert(tr_sim_node_is_up(sim, 1), "n2 never crashed");
    cr_assert_eq(downs, 1, "n1 suspected the paused n2 once: %llu", (unsigned long long)downs);
    cr_assert_eq(ups, 1, "and saw it come back: %llu", (unsigned long long)ups);
    /* phi declares the node down after its heartbeats stop: within the hard bound
     * (down_ms 3 s after the last frame), well before the pause ends */
    cr_assert(down_at_ns > 2000 * MS && down_at_ns < 5200 * MS, "down at %llu ns",
              (unsigned long long)down_at_ns);
    cr_assert(up_at_ns > 6000 * MS, "up at %llu ns", (unsigned long long)up_at_ns);
    cr_assert(tr__sim_proto_linked(sim, 0, 1) && tr__sim_proto_linked(sim, 1, 0));
    tr_sim_destroy(sim);
}

Test(sim_proto, the_oracle_never_suspects_a_paused_node) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.net = TR_SIM_NET_ORACLE;
    cfg.seed = 8;
    cfg.store = false;
    cfg.boot = boot;
    downs = ups = 0;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_sim_at(sim, 2000 * MS, pause_n2, NULL);
    tr_sim_at(sim, 6000 * MS, resume_n2, NULL);
    tr_sim_run_for(sim, 12000 * MS);
    cr_assert_eq(downs, 0);
    tr_sim_destroy(sim);
}

static void scenario(tr_sim *sim, void *ud) {
    tr_sim_at(sim, 1500 * MS, pause_n2, NULL);
    tr_sim_at(sim, 5000 * MS, resume_n2, NULL);
    tr_sim_run_for(sim, 4000 * MS);
    tr_sim_partition_halves(sim);
    tr_sim_run_for(sim, 3000 * MS);
    tr_sim_heal(sim);
    tr_sim_crash(sim, 2);
    tr_sim_run_for(sim, 1000 * MS);
    tr_sim_restart(sim, 2);
    tr_sim_run_for(sim, 4000 * MS);
}

Test(sim_proto, same_seed_gives_same_trace_hash) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = 11;
    cfg.nodes = 4;
    cfg.store = false;
    cfg.net = TR_SIM_NET_PROTOCOL;
    cfg.boot = boot;
    cfg.loss_prob = 0.01;
    tr_sim_divergence div;
    cr_assert_eq(tr_sim_check_determinism(&cfg, scenario, NULL, &div), 0);
    cr_assert(!div.diverged, "%s", div.what);
    cr_assert_neq(div.hash_first, 0);
    cfg.seed = 12;
    tr_sim_divergence other;
    cr_assert_eq(tr_sim_check_determinism(&cfg, scenario, NULL, &other), 0);
    cr_assert_neq(other.hash_first, div.hash_first, "another seed, another run");
}

static tr_addr sink_addr(tr_sim *sim) {
    tr_addr a;
    cr_assert_eq(tr_node_lookup(tr_sim_node(sim, 1), "sink", &a), 0);
    return a;
}

Test(sim_proto, sends_wait_for_the_first_link_and_are_refused_once_it_went_down) {
    tr_sim *sim = make(9, 3);
    tr_addr to = sink_addr(sim);
    /* at time 0 no link is up yet: queued, as to a real node's seed, then delivered */
    cr_assert_eq(tr_node_send(tr_sim_node(sim, 0), to, TR_MSG_USER, "\xc0", 1), 0);
    tr_sim_run_for(sim, 1000 * MS);
    cr_assert_eq(sunk, 1);
    cr_assert_eq(tr_sim_isolate(sim, 1), 0);
    tr_sim_run_for(sim, 4000 * MS); /* phi and the hard bound: n2 is down for n1 */
    cr_assert_eq(downs, 1);
    tr_sim_stats before, after;
    tr_sim_stats_get(sim, &before);
    (void)tr_node_send(tr_sim_node(sim, 0), to, TR_MSG_USER, "\xc0", 1); /* refused */
    tr_sim_run_for(sim, 10 * MS);
    tr_sim_stats_get(sim, &after);
    cr_assert_eq(after.dropped_cut, before.dropped_cut + 1);
    cr_assert_eq(tr_sim_heal(sim), 0);
    tr_sim_run_for(sim, 8000 * MS); /* redialled within the backoff */
    cr_assert_eq(ups, 1);
    cr_assert_eq(tr_node_send(tr_sim_node(sim, 0), to, TR_MSG_USER, "\xc0", 1), 0);
    tr_sim_run_for(sim, 100 * MS);
    cr_assert_eq(sunk, 2);
    tr_sim_destroy(sim);
}

static void spike_from_n2(tr_sim *sim, void *ud) {
    /* every segment n2 sends for 1 s arrives 4 s late (the stream stays in order) */
    cr_assert_eq(tr_sim_delay_spike(sim, 1, TR_SIM_ANY, 4000 * MS, 1000 * MS), 0);
}

static void jump_n1(tr_sim *sim, void *ud) {
    cr_assert_eq(tr_sim_clock_jump(sim, 0, 5000 * (int64_t)MS), 0);
}

Test(sim_proto, a_delay_spike_is_taken_for_a_dead_node) {
    for (int oracle = 0; oracle <= 1; oracle++) {
        tr_sim_config cfg;
        tr_sim_config_init(&cfg);
        cfg.seed = 10;
        cfg.store = false;
        cfg.boot = boot;
        cfg.net = oracle ? TR_SIM_NET_ORACLE : TR_SIM_NET_PROTOCOL;
        downs = ups = 0;
        tr_sim *sim;
        cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
        tr_sim_at(sim, 2000 * MS, spike_from_n2, NULL);
        tr_sim_run_for(sim, 15000 * MS);
        cr_assert(tr_sim_node_is_up(sim, 1));
        cr_assert_eq(downs, oracle ? 0 : 1, "%s: %llu", oracle ? "oracle" : "protocol",
                     (unsigned long long)downs);
        cr_assert_eq(ups, downs, "and back");
        tr_sim_destroy(sim);
    }
}

Test(sim_proto, a_forward_clock_jump_makes_a_node_suspect_its_peers) {
    tr_sim *sim = make(11, 3);
    tr_sim_at(sim, 2000 * MS, jump_n1, NULL);
    tr_sim_run_for(sim, 2000 * MS + 200 * MS);
    /* n1's clock says 5 s passed without a frame: past the hard bound, at its next tick */
    cr_assert_eq(downs, 1, "%llu", (unsigned long long)downs);
    tr_sim_run_for(sim, 10000 * MS);
    cr_assert_eq(ups, 1, "reconnected");
    tr_sim_destroy(sim);
}
