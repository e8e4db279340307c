/* The lease lock (harness/builtin_lock.h) through the experiment runner, and its check
 * "single-owner" over small histories written here.
 *
 * Runner: 5 nodes, 60 s of virtual time, pauses only (as `troupe sim --workload lock
 * --nemesis pause --seeds 1..12`), the network named explicitly: with the cluster protocol
 * phi suspects a node paused for long enough, and the planted trust-node-down bug (a home
 * takes a lock back on NODE_DOWN) gives the lock to a second client while the paused holder's
 * lease still runs, in some seeds; the oracle never suspects a paused node, so the same bug
 * goes unseen there; the lease lock itself holds under both. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "actors/lock.h"
#include "harness/builtin_lock.h"
#include "troupe.h"

#define MS 1000000ll
#define SEEDS 12

static void config(tr_experiment_config *cfg, const tr_service **svc, tr_sim_net net,
                   const char *bug) {
    *svc = &tr__builtin_lock;
    tr_experiment_config_init(cfg);
    cfg->sim.nodes = 5;
    cfg->sim.net = net;
    cfg->services = svc;
    cfg->service_count = 1;
    cfg->workload = "lock";
    cfg->bug = bug;
    cfg->nemesis.kinds = TR_NEMESIS_PAUSE;
}

static tr_sweep_summary sweep(tr_sim_net net, const char *bug) {
    const tr_service *svc;
    tr_experiment_config cfg;
    tr_sweep_summary s;
    char err[256] = "";
    config(&cfg, &svc, net, bug);
    cr_assert_eq(tr_experiment_sweep(&cfg, 1, SEEDS, &s, NULL, NULL, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(s.runs, SEEDS);
    cr_assert_eq(s.errors, 0);
    return s;
}

Test(lock, one_owner_under_pauses_with_the_protocol) {
    tr_sweep_summary s = sweep(TR_SIM_NET_PROTOCOL, NULL);
    cr_expect_eq(s.held, SEEDS, "first failing: %s", s.first_replay);
}

Test(lock, one_owner_under_pauses_with_the_oracle) {
    tr_sweep_summary s = sweep(TR_SIM_NET_ORACLE, NULL);
    cr_expect_eq(s.held, SEEDS, "first failing: %s", s.first_replay);
}

Test(lock, trust_node_down_is_not_caught_under_the_oracle) {
    tr_sweep_summary s = sweep(TR_SIM_NET_ORACLE, "trust-node-down");
    cr_expect_eq(s.held, SEEDS, "the oracle never suspects a paused node: %s", s.first_replay);
}

/* Caught in some seeds; the first one's replay names the bug, and the seed run again gives
 * the same verdict and the same trace hash. */
Test(lock, trust_node_down_is_caught_under_the_protocol_and_replays) {
    tr_sweep_summary s = sweep(TR_SIM_NET_PROTOCOL, "trust-node-down");
    cr_assert_gt(s.violated, 0, "no seed of 1..%d caught the bug", SEEDS);
    cr_expect_eq(s.unknown, 0);
    cr_expect(strstr(s.first_replay, "--workload lock") != NULL, "%s", s.first_replay);
    cr_expect(strstr(s.first_replay, "--bug trust-node-down") != NULL, "%s", s.first_replay);
    const tr_service *svc;
    tr_experiment_config cfg;
    config(&cfg, &svc, TR_SIM_NET_PROTOCOL, "trust-node-down");
    cfg.sim.seed = s.first_failing_seed;
    tr_experiment_result *a = NULL, *b = NULL;
    char err[256] = "";
    cr_assert_eq(tr_experiment_run(&cfg, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tr_experiment_run(&cfg, &b, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a->verdict, TR_VERDICT_VIOLATED, "%s", a->replay);
    cr_expect_eq(b->verdict, TR_VERDICT_VIOLATED, "%s", b->replay);
    cr_expect_eq(a->trace_hash, b->trace_hash);
    cr_expect_str_eq(a->replay, s.first_replay);
    cr_expect(strstr(a->checks[0].why, "lock ") != NULL, "%s", a->checks[0].why);
    tr_experiment_result_destroy(a);
    tr_experiment_result_destroy(b);
}

/* ---- the check over histories written here ---------------------------------------------- */

static tr_history *h;
static int64_t clock_ms;

static void setup(void) {
    h = tr_history_create(64);
    clock_ms = 0;
}

static void teardown(void) {
    tr_history_destroy(h);
}

/* One operation of process p on lock 0, invoked at `at` ms and completed `took` ms later;
 * value: the token (an acquire's invoke has none). */
static void op(int64_t p, const char *f, int64_t at, int64_t took, tr_history_type done,
               int64_t token) {
    bool acquire = !strcmp(f, "acquire");
    tr_history_op in = {.time_ns = at * MS,
                        .process = p,
                        .node = 0,
                        .type = TR_HISTORY_INVOKE,
                        .f = f,
                        .has_value = !acquire,
                        .value = acquire ? 0 : token};
    cr_assert_eq(tr_history_append(h, &in), 0);
    tr_history_op out = in;
    out.time_ns = (at + took) * MS;
    out.type = done;
    out.has_value = done == TR_HISTORY_OK || !acquire;
    out.value = token;
    cr_assert_eq(tr_history_append(h, &out), 0);
}

static tr_verdict check(char *why, size_t cap) {
    tr_check_input in = {.history = h, .node_count = 3};
    return tr__lock_check_single_owner(&in, why, cap);
}

#define LEASE TR_LOCK_LEASE_MS

TestSuite(lock_check, .init = setup, .fini = teardown);

Test(lock_check, released_then_acquired_holds) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(1, "release", 100, 1, TR_HISTORY_OK, 1);
    op(2, "acquire", 102, 1, TR_HISTORY_OK, 2);
    cr_expect_eq(check(why, sizeof why), TR_VERDICT_HELD, "%s", why);
}

Test(lock_check, a_second_token_inside_a_lease_is_violated) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(2, "acquire", LEASE - 10, 1, TR_HISTORY_OK, 2);
    cr_expect_eq(check(why, sizeof why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "lock 0: token 2") != NULL, "%s", why);
}

/* The promise assumes the home's clock neither jumps nor drifts beyond the margin: two owners
 * of lock 0 (home n1 of 3) after a clock jump on n1 are outside it (unknown, the condition
 * named); after one on another node, one that started after the second grant, or a drift
 * inside the margin, they are a violation. */
Test(lock_check, two_owners_after_a_clock_fault_on_the_home_are_unknown) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(2, "acquire", LEASE - 10, 1, TR_HISTORY_OK, 2);
    tr_fault_span home = {.kind = "clock", .start_ns = 100 * MS, .end_ns = 200 * MS, .nodes = 1};
    tr_fault_span other = {.kind = "clock", .start_ns = 100 * MS, .nodes = 2};
    tr_fault_span later = {.kind = "clock", .start_ns = (LEASE + 10) * MS, .nodes = 1};
    tr_check_input in = {.history = h, .node_count = 3, .faults = &home, .fault_count = 1};
    cr_expect_eq(tr__lock_check_single_owner(&in, why, sizeof why), TR_VERDICT_UNKNOWN, "%s", why);
    cr_expect(strstr(why, "clock fault on the home n1") != NULL, "%s", why);
    in.faults = &other;
    cr_expect_eq(tr__lock_check_single_owner(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    in.faults = &later;
    cr_expect_eq(tr__lock_check_single_owner(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    tr_fault_span drift = home;
    drift.change = "drift";
    drift.value = -1000; /* ppm: far inside the 10% margin */
    in.faults = &drift;
    cr_expect_eq(tr__lock_check_single_owner(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    drift.value = 60000;
    cr_expect_eq(tr__lock_check_single_owner(&in, why, sizeof why), TR_VERDICT_UNKNOWN, "%s", why);
    tr_fault_span jump = home;
    jump.change = "jump";
    jump.value = 2000000;
    in.faults = &jump;
    cr_expect_eq(tr__lock_check_single_owner(&in, why, sizeof why), TR_VERDICT_UNKNOWN, "%s", why);
}

/* The lease counts from the invoke: a token granted after it ran out does not overlap, even
 * though the first holder never released. */
Test(lock_check, a_lease_is_trusted_for_its_duration_only) {
    char why[200] = "";
    op(1, "acquire", 0, 5, TR_HISTORY_OK, 1);
    op(2, "acquire", LEASE, 1, TR_HISTORY_OK, 2);
    cr_expect_eq(check(why, sizeof why), TR_VERDICT_HELD, "%s", why);
}

/* A renewal extends the lease from its own invoke; a refused or unanswered one does not. */
Test(lock_check, an_ok_renewal_extends_the_lease) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(1, "renew", LEASE / 2, 1, TR_HISTORY_OK, 1);
    op(2, "acquire", LEASE + 10, 1, TR_HISTORY_OK, 2);
    cr_expect_eq(check(why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
}

Test(lock_check, a_failed_renewal_extends_nothing) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(1, "renew", LEASE / 2, 1, TR_HISTORY_FAIL, 1);
    op(2, "acquire", LEASE + 10, 1, TR_HISTORY_OK, 2);
    cr_expect_eq(check(why, sizeof why), TR_VERDICT_HELD, "%s", why);
}

/* Refused acquires hold nothing; the same token's spans never conflict with each other. */
Test(lock_check, refused_acquires_and_one_token_hold) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(2, "acquire", 10, 1, TR_HISTORY_FAIL, 0);
    op(1, "renew", 20, 1, TR_HISTORY_OK, 1);
    op(1, "renew", 30, 1, TR_HISTORY_OK, 1);
    cr_expect_eq(check(why, sizeof why), TR_VERDICT_HELD, "%s", why);
}

static tr_verdict check_tokens(char *why, size_t cap) {
    tr_check_input in = {.history = h, .node_count = 3};
    return tr__lock_check_tokens_grow(&in, why, cap);
}

Test(lock_check, tokens_granted_in_order_grow) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 1);
    op(1, "release", 10, 1, TR_HISTORY_OK, 1);
    op(2, "acquire", 20, 1, TR_HISTORY_OK, 2);
    cr_expect_eq(check_tokens(why, sizeof why), TR_VERDICT_HELD, "%s", why);
}

Test(lock_check, a_token_handed_out_again_is_violated) {
    char why[200] = "";
    op(1, "acquire", 0, 1, TR_HISTORY_OK, 4);
    op(1, "release", 10, 1, TR_HISTORY_OK, 4);
    op(2, "acquire", 20, 1, TR_HISTORY_OK, 4);
    cr_expect_eq(check_tokens(why, sizeof why), TR_VERDICT_VIOLATED);
    cr_expect(strstr(why, "lock 0: token 4") != NULL, "%s", why);
}

/* Under crashes of the homes: the restart wait keeps one owner, the durable counter keeps
 * tokens growing (a few seeds). */
Test(lock, one_owner_and_growing_tokens_across_crashes) {
    const tr_service *svc;
    tr_experiment_config cfg;
    tr_sweep_summary s;
    char err[256] = "";
    config(&cfg, &svc, TR_SIM_NET_PROTOCOL, NULL);
    cfg.nemesis.kinds = TR_NEMESIS_CRASH;
    cr_assert_eq(tr_experiment_sweep(&cfg, 1, 6, &s, NULL, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(s.held, 6, "first failing: %s", s.first_replay);
}
