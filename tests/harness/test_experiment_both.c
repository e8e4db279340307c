/* Several workloads in one experiment (tr_experiment_config.workloads): the CP and AP
 * registers side by side share the cluster and the faults, each with its own history and
 * checks; the planted bug applies to the service that names it; the verdict is the worst of
 * them; the AP replicas' convergence after the heal is timed (converge_poll_ns). */
#include <criterion/criterion.h>
#include <string.h>

#include "harness/builtin.h"

static const tr_service *svcs[] = {&tr__builtin_cp, &tr__builtin_ap};
static const char *const names[] = {"cp", "ap"};

static tr_experiment_result *run_both(uint64_t seed, const char *bug, uint64_t poll_ns) {
    tr_experiment_config cfg;
    tr_experiment_result *r;
    char err[256];
    tr_experiment_config_init(&cfg);
    cfg.sim.seed = seed;
    cfg.sim.nodes = 5;
    cfg.services = svcs;
    cfg.service_count = 2;
    cfg.workload = "cp";
    cfg.workloads = names;
    cfg.workload_count = 2;
    cfg.bug = bug;
    cfg.converge_poll_ns = poll_ns;
    cfg.duration_ns = 10 * (uint64_t)1000000000;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

Test(experiment_both, each_workload_has_its_history_and_checks) {
    tr_experiment_result *r = run_both(1, NULL, 5000000);
    cr_assert_eq(r->workload_count, 2);
    cr_assert_str_eq(r->workloads[0].name, "cp");
    cr_assert_str_eq(r->workloads[1].name, "ap");
    cr_assert_eq(r->history, r->workloads[0].history);
    cr_assert_neq(r->workloads[0].history, r->workloads[1].history);
    cr_assert_gt(tr_history_count(r->workloads[1].history), 100);
    cr_assert_str_eq(r->workloads[0].checks[0].name, "linearizable");
    cr_assert_str_eq(r->workloads[1].checks[0].name, "converged");
    cr_assert_eq(r->verdict, TR_VERDICT_HELD);
    /* the partition leaves the CP minority unavailable, never the AP one */
    cr_assert(r->partitioned);
    cr_assert_lt(r->workloads[0].available_minority.fraction, 0.5);
    cr_assert_eq(r->workloads[1].available_minority.fraction, 1.0);
    cr_assert(r->workloads[1].convergence_timed);
    cr_assert(r->workloads[1].converged);
    cr_assert_gt(r->workloads[1].converged_after_ns, 0);
    cr_assert_not(r->workloads[0].convergence_timed, "cp has no state actor");
    cr_assert_not_null(strstr(r->replay, "--workload cp,ap "), "%s", r->replay);
    tr_experiment_result_destroy(r);
}

Test(experiment_both, the_bug_of_the_second_workload_makes_the_run_violated) {
    tr_experiment_result *r = run_both(1, "no-anti-entropy", 5000000);
    cr_assert_eq(r->workloads[0].verdict, TR_VERDICT_HELD);
    cr_assert_eq(r->workloads[1].verdict, TR_VERDICT_VIOLATED);
    cr_assert_eq(r->verdict, TR_VERDICT_VIOLATED);
    cr_assert_not(r->workloads[1].converged, "without anti-entropy the replicas never agree");
    tr_experiment_result_destroy(r);
}

Test(experiment_both, same_seed_same_hash_and_no_polling_without_the_option) {
    tr_experiment_result *a = run_both(4, NULL, 5000000), *b = run_both(4, NULL, 5000000);
    tr_experiment_result *c = run_both(4, NULL, 0);
    cr_assert_eq(a->trace_hash, b->trace_hash);
    cr_assert_neq(a->trace_hash, c->trace_hash, "polling the states is part of the run");
    cr_assert_not(c->workloads[1].convergence_timed);
    tr_experiment_result_destroy(a);
    tr_experiment_result_destroy(b);
    tr_experiment_result_destroy(c);
}

Test(experiment_both, a_workload_named_twice_or_unknown_is_refused) {
    static const char *const twice[] = {"cp", "cp"};
    tr_experiment_config cfg;
    tr_experiment_result *r;
    char err[256];
    tr_experiment_config_init(&cfg);
    cfg.sim.nodes = 5;
    cfg.services = svcs;
    cfg.service_count = 2;
    cfg.workloads = twice;
    cfg.workload_count = 2;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), TR_EINVAL);
    cr_assert_not_null(strstr(err, "'cp'"), "%s", err);
    cfg.workload_count = TR_EXPERIMENT_WORKLOADS_MAX + 1;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), TR_EINVAL);
}

/* The value of every write of h (at most cap), count in *n. */
static size_t writes_of(const tr_history *h, int64_t *v, size_t cap) {
    tr_history_op op;
    size_t n = 0;
    for (size_t i = 0; i < tr_history_count(h) && n < cap; i++) {
        if (tr_history_get(h, i, &op) == 0 && op.type == TR_HISTORY_INVOKE &&
            strcmp(op.f, "write") == 0) {
            v[n++] = op.value;
        }
    }
    return n;
}

Test(experiment_both, the_workloads_clients_draw_from_their_own_streams) {
    static int64_t a[4096], b[4096];
    tr_experiment_result *r = run_both(2, NULL, 0);
    size_t na = writes_of(r->workloads[0].history, a, 4096);
    size_t nb = writes_of(r->workloads[1].history, b, 4096);
    cr_assert_gt(na, 10);
    cr_assert_gt(nb, 10);
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            cr_assert_neq(a[i], b[j], "cp and ap wrote the same random value %lld",
                          (long long)a[i]);
        }
    }
    tr_experiment_result_destroy(r);
}

/* A state actor that never has a state: it answers every request with an empty body. */
static int empty_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->corr != 0 && !tr_msg_is_reply(msg)) {
        tr_reply(ctx, msg, TR_MSG_USER, NULL, 0);
    }
    return TR_CONTINUE;
}

static const tr_behaviour empty_behaviour = {.name = "empty_state", .receive = empty_receive};

Test(experiment_both, empty_states_never_count_as_converged) {
    static tr_service_actor actors[2];
    static tr_service svc;
    static const tr_service *one[] = {&svc};
    actors[0] = tr__builtin_ap.actors[0];
    actors[1] = (tr_service_actor){.name = "ap_state", .behaviour = &empty_behaviour};
    svc = tr__builtin_ap;
    svc.actors = actors;
    tr_experiment_config cfg;
    tr_experiment_result *r;
    char err[256];
    tr_experiment_config_init(&cfg);
    cfg.sim.nodes = 3;
    cfg.services = one;
    cfg.service_count = 1;
    cfg.workload = "ap";
    cfg.converge_poll_ns = 5000000;
    cfg.duration_ns = 2 * (uint64_t)1000000000;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    cr_assert(r->workloads[0].convergence_timed);
    cr_assert_not(r->workloads[0].converged, "empty bodies agree on nothing");
    tr_experiment_result_destroy(r);
}
