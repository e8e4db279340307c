/* The entity workload (harness/builtin_entity.h) through the experiment runner: registers
 * as entities, linearizable with single activation under pauses, partitions and crashes; a
 * seed replays to the same trace hash; the planted no-fencing bug caught by the
 * single-activation check and by linearizability. A few short seeds (3 nodes, 20 s of virtual
 * time): the sweeps are in docs/entities.md; the host's own behaviour is
 * tests/actors/test_entity.c's. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "harness/builtin_entity.h"
#include "troupe.h"

#define SEC 1000000000ull
#define FAULTS (TR_NEMESIS_PARTITION | TR_NEMESIS_PAUSE | TR_NEMESIS_CRASH)

static tr_experiment_result *run(uint64_t seed, const char *bug, uint32_t kinds) {
    const tr_service *svc = &tr__builtin_entity;
    tr_experiment_config cfg;
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.seed = seed;
    cfg.sim.nodes = 3;
    cfg.bug = bug;
    cfg.nemesis.kinds = kinds;
    cfg.duration_ns = 20 * SEC;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    int rc = tr_experiment_run(&cfg, &r, err, sizeof err);
    cr_assert_eq(rc, 0, "seed %llu: %s", (unsigned long long)seed, err);
    return r;
}

static const tr_check_outcome *outcome(const tr_experiment_result *r, const char *name) {
    for (uint32_t i = 0; i < r->check_count; i++) {
        if (!strcmp(r->checks[i].name, name)) {
            return &r->checks[i];
        }
    }
    cr_assert_fail("%s: no check %s", r->replay, name);
    return NULL;
}

Test(entity_sim, held_under_pauses_partitions_and_crashes) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_experiment_result *r = run(seed, NULL, FAULTS);
        cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s: %s / %s / %s", r->replay, r->checks[0].why,
                     r->checks[1].why, r->checks[2].why);
        cr_expect_eq(outcome(r, "single-activation")->verdict, TR_VERDICT_HELD);
        cr_expect_gt(r->ops_ok, 100, "%s: only %llu ok", r->replay, (unsigned long long)r->ops_ok);
        tr_experiment_result_destroy(r);
    }
}

Test(entity_sim, same_seed_gives_same_trace_hash) {
    tr_experiment_result *a = run(2, NULL, FAULTS);
    tr_experiment_result *b = run(2, NULL, FAULTS);
    cr_expect_eq(a->trace_hash, b->trace_hash);
    tr_experiment_result_destroy(a);
    tr_experiment_result_destroy(b);
}

/* The first seed of 1..SEEDS_MAX whose run with no-fencing under pauses and partitions (3
 * nodes, 20 s) the check `name` finds violated, or 0. Seeds rather than one fixed seed: any
 * change of the run's event order moves which seeds catch it; that some seed of a few does is
 * the property (`troupe sim --workload entity --nodes 3 --duration 20s --nemesis
 * pause,partition --seeds 1..30 --bug no-fencing`: 10 or more of 30). */
#define SEEDS_MAX 12
static uint64_t first_caught(const char *name) {
    for (uint64_t seed = 1; seed <= SEEDS_MAX; seed++) {
        tr_experiment_result *r = run(seed, "no-fencing", TR_NEMESIS_PARTITION | TR_NEMESIS_PAUSE);
        bool caught = outcome(r, name)->verdict == TR_VERDICT_VIOLATED;
        cr_expect(!caught || r->verdict == TR_VERDICT_VIOLATED, "%s", r->replay);
        tr_experiment_result_destroy(r);
        if (caught) {
            return seed;
        }
    }
    return 0;
}

Test(entity_sim, no_fencing_is_caught_by_single_activation) {
    cr_expect_neq(first_caught("single-activation"), 0, "no seed of 1..%d caught", SEEDS_MAX);
}

Test(entity_sim, no_fencing_is_caught_by_linearizability) {
    cr_expect_neq(first_caught("linearizable"), 0, "no seed of 1..%d caught", SEEDS_MAX);
}

/* A traced run (troupe sim --trace) keeps the probes: the single-activation check sees the
 * same activations as without a trace, and the trace changes nothing of the run. */
Test(entity_sim, a_traced_run_keeps_its_probes) {
    const tr_service *svc = &tr__builtin_entity;
    char path[] = "/tmp/troupe_entity_trace_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    tr_sim_trace_spec spec = {.path = path, .node = -1};
    tr_experiment_config cfg;
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.nodes = 3;
    cfg.duration_ns = 10 * SEC;
    tr_experiment_result *plain = NULL, *traced = NULL;
    char err[256] = "";
    cr_assert_eq(tr_experiment_run(&cfg, &plain, err, sizeof err), 0, "%s", err);
    cfg.trace = &spec;
    cr_assert_eq(tr_experiment_run(&cfg, &traced, err, sizeof err), 0, "%s", err);
    unlink(path);
    cr_expect_eq(outcome(traced, "single-activation")->verdict, TR_VERDICT_HELD);
    cr_expect_eq(outcome(traced, "single-activation")->verdict,
                 outcome(plain, "single-activation")->verdict);
    cr_expect_eq(traced->trace_hash, plain->trace_hash);
    tr_experiment_result_destroy(plain);
    tr_experiment_result_destroy(traced);
}

/* A store torn by `corrupt` (n2 at 10 s, tests/data/entity/corrupt-n2-10s.scenario) cannot be
 * read back, but every state written to a majority is still held by a majority of the other
 * stores: the durable check reads them there and holds, where it answered unknown ("cannot
 * read the stores") while it read every store. */
Test(entity_sim, a_torn_minority_store_leaves_states_readable) {
    const tr_service *svc = &tr__builtin_entity;
    tr_experiment_config cfg;
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.seed = 1;
    cfg.sim.nodes = 5;
    cfg.nemesis.kinds = 0;
    cfg.nemesis.scenario_path = "tests/data/entity/corrupt-n2-10s.scenario";
    cfg.duration_ns = 20 * SEC;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(outcome(r, "durable")->verdict, TR_VERDICT_HELD, "%s", outcome(r, "durable")->why);
    cr_expect_eq(r->verdict, TR_VERDICT_HELD, "%s", r->replay);
    tr_experiment_result_destroy(r);
}
