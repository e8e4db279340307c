/* lin-kv (harness/builtin_linkv.h) through the experiment runner: linearizable under
 * partitions, crashes, pauses and clock faults; each planted bug caught; compare-and-set
 * available on the majority side of a partition. A few short seeds each (3 nodes, 20 s of
 * virtual time): the sweeps are in docs/raft.md; malformed Raft messages are
 * tests/actors/test_raft.c's. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "actors/linkv.h"
#include "harness/builtin_linkv.h"
#include "troupe.h"

#define SEC 1000000000ull

static tr_experiment_result *run_on(uint32_t nodes, uint64_t duration_ns, uint64_t seed,
                                    const char *bug, uint32_t kinds) {
    const tr_service *svc = &tr__builtin_linkv;
    tr_experiment_config cfg;
    tr_experiment_config_init(&cfg);
    cfg.sim.seed = seed;
    cfg.sim.nodes = nodes;
    cfg.services = &svc;
    cfg.service_count = 1;
    cfg.workload = "lin-kv";
    cfg.bug = bug;
    cfg.nemesis.kinds = kinds;
    if (kinds & (TR_NEMESIS_DUP | TR_NEMESIS_REORDER)) {
        cfg.sim.net = TR_SIM_NET_ORACLE; /* duplication and reordering are the oracle's */
    }
    cfg.duration_ns = duration_ns;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    int rc = tr_experiment_run(&cfg, &r, err, sizeof err);
    cr_assert_eq(rc, 0, "seed %llu: %s", (unsigned long long)seed, err);
    return r;
}

static tr_experiment_result *run(uint64_t seed, const char *bug, uint32_t kinds) {
    return run_on(3, 20 * SEC, seed, bug, kinds);
}

#define ALL_FAULTS (TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH | TR_NEMESIS_PAUSE | TR_NEMESIS_CLOCK)

Test(linkv, linearizable_under_partitions_crashes_pauses_and_clocks) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_experiment_result *r = run(seed, NULL, ALL_FAULTS);
        cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s: %s", r->replay, r->checks[0].why);
        cr_expect_gt(r->ops_ok, 100, "%s: only %llu ok", r->replay, (unsigned long long)r->ops_ok);
        tr_experiment_result_destroy(r);
    }
}

Test(linkv, same_seed_gives_same_trace_hash) {
    tr_experiment_result *a = run(2, NULL, ALL_FAULTS);
    tr_experiment_result *b = run(2, NULL, ALL_FAULTS);
    cr_expect_eq(a->trace_hash, b->trace_hash);
    tr_experiment_result_destroy(a);
    tr_experiment_result_destroy(b);
}

/* With message duplication a forwarded request can reach the leader twice: its session
 * applies it once (troupe sim --workload lin-kv --seed 44 --nemesis <every kind> --net
 * oracle, 5 nodes, 60 s, is violated when every copy is applied). */
Test(linkv, a_duplicated_request_is_applied_once) {
    tr_experiment_result *r = run_on(5, 60 * SEC, 44, NULL, 0xfffu);
    cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s: %s", r->replay, r->checks[0].why);
    tr_experiment_result_destroy(r);
}

/* Seeds found by `troupe sim --workload lin-kv --nodes 3 --duration 20s --nemesis
 * partition,crash,pause,clock --seeds 1..20 --bug NAME`. */
Test(linkv, stale_leader_read_is_caught) {
    tr_experiment_result *r = run(8, "stale-leader-read", ALL_FAULTS);
    cr_expect_eq(r->verdict, TR_VERDICT_VIOLATED, "%s", r->replay);
    cr_expect_str_eq(r->checks[0].name, "linearizable");
    tr_experiment_result_destroy(r);
}

Test(linkv, early_commit_is_caught) {
    tr_experiment_result *r = run(4, "early-commit", ALL_FAULTS);
    cr_expect_eq(r->verdict, TR_VERDICT_VIOLATED, "%s", r->replay);
    cr_expect_str_eq(r->checks[0].name, "linearizable");
    tr_experiment_result_destroy(r);
}

/* ---- availability: cas on the majority side of a majority/minority partition ---- */

/* Counts the cas operations invoked during a partition by a client on the majority side, and
 * those answered (applied, or refused because the value differed: both need a leader). */
static void majority_cas(const tr_experiment_result *r, uint32_t nodes, uint64_t *tried,
                         uint64_t *answered) {
    size_t n = tr_history_count(r->history);
    for (size_t i = 0; i < n; i++) {
        tr_history_op inv, ret;
        tr_history_get(r->history, i, &inv);
        bool majority = false;
        for (uint32_t f = 0; f < r->fault_count && inv.type == TR_HISTORY_INVOKE; f++) {
            const tr_fault_span *s = &r->faults[f];
            majority |= !strcmp(s->kind, "partition") && inv.time_ns >= (int64_t)s->start_ns &&
                        inv.time_ns < (int64_t)s->end_ns && s->nodes != (1ull << nodes) - 1 &&
                        !(s->nodes >> inv.node & 1);
        }
        if (!majority || strcmp(inv.f, "cas") != 0) {
            continue;
        }
        size_t j = i + 1;
        while (j < n && (tr_history_get(r->history, j, &ret), ret.process != inv.process)) {
            j++;
        }
        *tried += 1;
        *answered += j < n && (ret.type == TR_HISTORY_OK ||
                               (ret.type == TR_HISTORY_FAIL &&
                                (!strcmp(ret.error, "mismatch") || !strcmp(ret.error, "unset"))));
    }
}

Test(linkv, cas_is_available_on_the_majority_side) {
    uint64_t tried = 0, answered = 0;
    for (uint64_t seed = 1; seed <= 2; seed++) {
        tr_experiment_result *r = run(seed, NULL, TR_NEMESIS_PARTITION);
        majority_cas(r, 3, &tried, &answered);
        tr_experiment_result_destroy(r);
    }
    cr_assert_gt(tried, 100, "only %llu cas on the majority side", (unsigned long long)tried);
    cr_expect_geq(answered * 10, tried * 9, "answered %llu of %llu", (unsigned long long)answered,
                  (unsigned long long)tried);
}

/* The cas-majority check's measures summed over runs (harness/linkv_figures.h). */
static void measured_cas(const tr_experiment_result *r, double *tried, double *answered) {
    for (uint32_t i = 0; i < r->check_count; i++) {
        *tried += tr_check_outcome_measure(&r->checks[i], "cas_majority_tried", 0);
        *answered += tr_check_outcome_measure(&r->checks[i], "cas_majority_answered", 0);
    }
}

/* In a ring each node is linked to its two neighbours: the two replicas not next to the
 * leader reach it only around it, through another replica. */
Test(linkv, cas_is_available_around_a_ring, .timeout = 120) {
    double tried = 0, answered = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        tr_experiment_result *r = run_on(5, 60 * SEC, seed, NULL, TR_NEMESIS_RING);
        cr_assert_eq(r->verdict, TR_VERDICT_HELD, "seed %llu", (unsigned long long)seed);
        measured_cas(r, &tried, &answered);
        tr_experiment_result_destroy(r);
    }
    cr_assert_gt(tried, 2000, "only %.0f cas on the majority side", tried);
    cr_expect_geq(answered, 0.87 * tried, "answered %.0f of %.0f", answered, tried);
}
