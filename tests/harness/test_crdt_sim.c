/* The CRDT services and broadcast (harness/builtin_counter.h, builtin_set.h,
 * builtin_broadcast.h) through the experiment runner, as `troupe sim --workload
 * counter|set|broadcast`: the checks hold under the declared nemesis over a few
 * seeds, each planted bug is caught in some seed of a short range, and a seed replays to the
 * same trace hash. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness/builtin_broadcast.h"
#include "harness/builtin_counter.h"
#include "harness/builtin_set.h"
#include "troupe.h"

static tr_sweep_summary sweep(const tr_service *svc, const char *bug, uint64_t first,
                              uint64_t last) {
    tr_experiment_config cfg;
    tr_sweep_summary s;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.nodes = 5;
    cfg.duration_ns = 20ull * 1000000000ull;
    cfg.bug = bug;
    cr_assert_eq(tr_experiment_sweep(&cfg, first, last, &s, NULL, NULL, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(s.errors, 0);
    return s;
}

/* Runs svc on 3 nodes for `seconds` from `seed`: under its declared nemesis, or with
 * `scenario`'s faults alone under the oracle network. The result, owned by the caller. */
static tr_experiment_result *run_on_three(const tr_service *svc, uint64_t seed, uint64_t seconds,
                                          const char *scenario) {
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.nodes = 3;
    cfg.sim.seed = seed;
    cfg.duration_ns = seconds * 1000000000ull;
    if (scenario != NULL) {
        cfg.sim.net = TR_SIM_NET_ORACLE;
        cfg.nemesis.kinds = 0;
        cfg.nemesis.scenario_path = scenario;
    }
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

static uint64_t hash_of(const tr_service *svc, uint64_t seed) {
    tr_experiment_result *r = run_on_three(svc, seed, 5, NULL);
    uint64_t h = r->trace_hash;
    tr_experiment_result_destroy(r);
    return h;
}

Test(crdt_sim, counter_holds_under_its_nemesis) {
    tr_sweep_summary s = sweep(&tr__builtin_counter, NULL, 1, 3);
    cr_expect_eq(s.held, 3, "first failing: %s", s.first_replay);
}

Test(crdt_sim, counter_planted_merge_sum_is_caught) {
    tr_sweep_summary s = sweep(&tr__builtin_counter, "merge-sum", 1, 3);
    cr_expect_gt(s.violated, 0);
    cr_expect(strstr(s.first_replay, "--bug merge-sum") != NULL, "%s", s.first_replay);
}

Test(crdt_sim, counter_planted_no_gossip_is_caught) {
    tr_sweep_summary s = sweep(&tr__builtin_counter, "no-gossip", 1, 3);
    cr_expect_gt(s.violated, 0);
}

Test(crdt_sim, counter_seed_replays_to_the_same_hash) {
    cr_expect_eq(hash_of(&tr__builtin_counter, 7), hash_of(&tr__builtin_counter, 7));
    cr_expect_neq(hash_of(&tr__builtin_counter, 7), hash_of(&tr__builtin_counter, 8));
}

Test(crdt_sim, set_holds_under_its_nemesis) {
    tr_sweep_summary s = sweep(&tr__builtin_set, NULL, 1, 2);
    cr_expect_eq(s.held, 2, "first failing: %s", s.first_replay);
}

Test(crdt_sim, set_planted_remove_drops_context_is_caught) {
    tr_sweep_summary s = sweep(&tr__builtin_set, "remove-drops-context", 1, 3);
    cr_expect_gt(s.violated, 0);
    cr_expect(strstr(s.first_replay, "--bug remove-drops-context") != NULL, "%s", s.first_replay);
}

Test(crdt_sim, set_seed_replays_to_the_same_hash) {
    cr_expect_eq(hash_of(&tr__builtin_set, 7), hash_of(&tr__builtin_set, 7));
}

/* A partition held to the end of the run leaves every replica up to its log's worth of own
 * operations to ship once the links are back; they must all arrive within the runner's quiet
 * period, with the set's declared loss on the links. */
Test(crdt_sim, set_converges_after_a_partition_held_to_the_end) {
    const tr_service *svc = &tr__builtin_set;
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.seed = 78;
    cfg.sim.nodes = 5;
    cfg.nemesis.kinds = TR_NEMESIS_LOSS;
    cfg.nemesis.scenario_path = "tests/data/set/partition-to-end-78.scenario";
    cfg.duration_ns = 60ull * 1000000000ull;
    cfg.rate = 100;
    cfg.keys = 4;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r->check_count, 1);
    cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s", r->checks[0].why);
    cr_expect_eq(tr_check_outcome_measure(&r->checks[0], "lost", -1), 0);
    cr_expect_eq(tr_check_outcome_measure(&r->checks[0], "resurrected", -1), 0);
    tr_experiment_result_destroy(r);
}

/* Replays a shrunk scenario (5 nodes, the declared loss, `seconds` long) of a service with one
 * check, and expects it to hold: the result, owned by the caller. */
static tr_experiment_result *replay_one_check(const tr_service *svc, uint64_t seed,
                                              const char *scenario, uint64_t seconds) {
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.seed = seed;
    cfg.sim.nodes = 5;
    cfg.nemesis.kinds = TR_NEMESIS_LOSS;
    cfg.nemesis.scenario_path = scenario;
    cfg.duration_ns = seconds * 1000000000ull;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r->check_count, 1);
    cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s", r->checks[0].why);
    return r;
}

/* A node whose disk is torn never comes back: the operations it shipped to some replicas only
 * reach the others through those replicas' whole states, and the final sets agree. */
Test(crdt_sim, set_relays_the_operations_of_a_node_gone_for_good) {
    tr_experiment_result *r = replay_one_check(
        &tr__builtin_set, 1, "tests/data/set/torn-behind-partition-1.scenario", 45);
    cr_expect_eq(tr_check_outcome_measure(&r->checks[0], "lost", -1), 0);
    tr_experiment_result_destroy(r);
}

/* Runs svc on 3 nodes for 45 s under the oracle network, n3 down from 5 s to the end
 * (tests/data/set/n3-down-from-5s.scenario): the messages sent to the dead node, each counted
 * where it is dropped. */
static uint64_t sent_to_a_dead_node(const tr_service *svc) {
    tr_experiment_result *r = run_on_three(svc, 1, 45, "tests/data/set/n3-down-from-5s.scenario");
    cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s", r->checks[0].why);
    uint64_t n = r->stats.dropped_down;
    tr_experiment_result_destroy(r);
    return n;
}

/* A peer beyond the log that does not answer is sent the whole state less and less often
 * (after 1, 2, then every 5 rounds), not every round: 2,831 messages to the dead node with a
 * whole state every round, 869 with the back-off. */
Test(crdt_sim, set_backs_off_whole_states_to_a_silent_peer) {
    uint64_t n = sent_to_a_dead_node(&tr__builtin_set);
    cr_expect_lt(n, 1500, "%llu messages to the dead node", (unsigned long long)n);
}

/* A peer that has not answered 10 rounds in a row is offered every 5th round only, not at
 * every round and every commit: 4,984 messages to the dead node when it was offered like a
 * live one, 282 now. */
Test(crdt_sim, broadcast_offers_less_to_a_silent_peer) {
    uint64_t n = sent_to_a_dead_node(&tr__builtin_broadcast);
    cr_expect_lt(n, 2500, "%llu messages to the dead node", (unsigned long long)n);
}

Test(crdt_sim, broadcast_holds_under_its_nemesis) {
    tr_sweep_summary s = sweep(&tr__builtin_broadcast, NULL, 1, 2);
    cr_expect_eq(s.held, 2, "first failing: %s", s.first_replay);
}

Test(crdt_sim, broadcast_planted_no_retry_is_caught) {
    tr_sweep_summary s = sweep(&tr__builtin_broadcast, "no-retry", 1, 3);
    cr_expect_gt(s.violated, 0);
}

Test(crdt_sim, broadcast_planted_no_dedup_is_caught) {
    tr_sweep_summary s = sweep(&tr__builtin_broadcast, "no-dedup", 1, 3);
    cr_expect_gt(s.violated, 0);
}

Test(crdt_sim, broadcast_seed_replays_to_the_same_hash) {
    cr_expect_eq(hash_of(&tr__builtin_broadcast, 7), hash_of(&tr__builtin_broadcast, 7));
}

/* A message journaled but not yet durable on its sender is not gossiped: the peers would take
 * the sender for a holder, and a failing store's restart takes the message back from it. */
Test(crdt_sim, broadcast_gossips_only_durable_messages) {
    tr_experiment_result *r = replay_one_check(&tr__builtin_broadcast, 1,
                                               "tests/data/broadcast/failing-store-1.scenario", 20);
    tr_experiment_result_destroy(r);
}

/* Seed 44 under the declared nemesis: n5 acknowledges 3 messages and crashes at 58.4 s before
 * it gossips them; restarted at the heal, it knows no peer's holdings and sends its 4223
 * messages again, 512 a round. Sent oldest first, those 3 reach n4 alone within the quiet
 * second; newest first, every node. */
Test(crdt_sim, broadcast_a_restarted_node_sends_its_newest_messages_first) {
    const tr_service *svc = &tr__builtin_broadcast;
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.seed = 44;
    cfg.sim.nodes = 5;
    cfg.duration_ns = 60ull * 1000000000ull;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s", r->checks[0].why);
    tr_experiment_result_destroy(r);
}

/* Seed 532 under the declared loss, with n2's clock set back 1.86 s at 59.4 s of 60 s (shrunk
 * from a sweep with every fault kind): n2's clock stands still until about 61.3 s, and its
 * gossip timer with it. Its last changes reach the peers because a replica pushes what becomes
 * durable when the store says so, not at its next round; the final states agree. */
static void converges_after_a_clock_set_back(const tr_service *svc, const char *scenario) {
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.seed = 532;
    cfg.sim.nodes = 5;
    cfg.nemesis.kinds = TR_NEMESIS_LOSS;
    cfg.nemesis.scenario_path = scenario;
    cfg.duration_ns = 60ull * 1000000000ull;
    cfg.rate = 100;
    cfg.keys = 4;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    for (uint32_t i = 0; i < r->check_count; i++) {
        cr_expect_eq(r->checks[i].verdict, TR_VERDICT_HELD, "%s: %s", r->checks[i].name,
                     r->checks[i].why);
    }
    tr_experiment_result_destroy(r);
}

Test(crdt_sim, counter_converges_after_a_clock_set_back_at_the_end) {
    converges_after_a_clock_set_back(&tr__builtin_counter,
                                     "tests/data/counter/clock-back-at-end-532.scenario");
}

Test(crdt_sim, set_converges_after_a_clock_set_back_at_the_end) {
    converges_after_a_clock_set_back(&tr__builtin_set,
                                     "tests/data/set/clock-back-at-end-532.scenario");
}

Test(crdt_sim, broadcast_converges_after_a_clock_set_back_at_the_end) {
    converges_after_a_clock_set_back(&tr__builtin_broadcast,
                                     "tests/data/broadcast/clock-back-at-end-532.scenario");
}
