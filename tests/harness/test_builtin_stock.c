/* The stock service's workload and checks through the experiment runner (harness/builtin_stock.h):
 * the correct service holds with every item's final level read in the final phase and ids
 * retried under the same reservation id, each planted bug is caught by the check it breaks,
 * and a stateful workload without its callbacks is refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness/builtin.h"

static tr_experiment_result *run_stock_scen(uint64_t seed, const char *bug, uint32_t kinds,
                                            const char *scenario) {
    static const tr_service *svc[] = {&tr__builtin_stock};
    tr_experiment_config cfg;
    tr_experiment_result *r;
    char err[256];
    tr_experiment_config_init(&cfg);
    cfg.sim.seed = seed;
    cfg.sim.nodes = 5;
    cfg.services = svc;
    cfg.service_count = 1;
    cfg.workload = "stock";
    cfg.bug = bug;
    cfg.nemesis.kinds = kinds;
    cfg.nemesis.scenario_path = scenario;
    cfg.duration_ns = 20 * (uint64_t)1000000000;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

static tr_experiment_result *run_stock(uint64_t seed, const char *bug, uint32_t kinds) {
    return run_stock_scen(seed, bug, kinds, NULL);
}

static const tr_check_outcome *outcome(const tr_experiment_result *r, const char *name) {
    for (uint32_t i = 0; i < r->check_count; i++) {
        if (strcmp(r->checks[i].name, name) == 0) {
            return &r->checks[i];
        }
    }
    cr_assert_fail("no outcome %s", name);
    return NULL;
}

Test(builtin_stock, correct_service_holds_with_final_reads_and_retried_ids) {
    tr_experiment_result *r = run_stock(1, NULL, TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH);
    cr_assert_eq(r->verdict, TR_VERDICT_HELD, "%s / %s", r->checks[0].why, r->checks[1].why);
    const tr_check_outcome *c = outcome(r, "conserved");
    cr_assert_eq(tr_check_outcome_measure(c, "items_unknown", -1), 0, "every final level read");
    cr_assert_gt(tr_check_outcome_measure(c, "retried_ids", 0), 0, "indeterminate ids retried");
    cr_assert_gt(tr_check_outcome_measure(c, "reserve_ids", 0), 0);
    cr_assert_gt(tr_check_outcome_measure(c, "restock_ids", 0), 0);
    tr_experiment_result_destroy(r);
}

Test(builtin_stock, double_charge_breaks_conservation_only) {
    tr_experiment_result *r =
        run_stock(3, "double-charge", TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH | TR_NEMESIS_LOSS);
    cr_assert_eq(r->verdict, TR_VERDICT_VIOLATED);
    cr_assert_eq(outcome(r, "never-negative")->verdict, TR_VERDICT_HELD);
    cr_assert_eq(outcome(r, "conserved")->verdict, TR_VERDICT_VIOLATED);
    cr_assert_not_null(strstr(outcome(r, "conserved")->why, "a double charge"), "%s",
                       outcome(r, "conserved")->why);
    tr_experiment_result_destroy(r);
}

Test(builtin_stock, oversell_goes_negative) {
    tr_experiment_result *r = run_stock(3, "oversell", TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH);
    cr_assert_eq(outcome(r, "never-negative")->verdict, TR_VERDICT_VIOLATED);
    cr_assert_not_null(strstr(outcome(r, "never-negative")->why, "stock went negative"), "%s",
                       outcome(r, "never-negative")->why);
    tr_experiment_result_destroy(r);
}

static int no_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type, const char **target,
                   tr_mp_writer *w) {
    return TR_ENOENT;
}

Test(builtin_stock, a_stateful_workload_needs_its_callbacks) {
    tr_workload wl = {.client_state_size = 16, .client_next = no_next};
    tr_service svc = tr__builtin_stock;
    char err[256];
    svc.workload = &wl;
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), TR_EINVAL);
    cr_assert_not_null(strstr(err, "client_complete"), "%s", err);
    wl.client_complete = tr__builtin_stock.workload->client_complete;
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), 0, "%s", err);
    wl.client_state_size = TR_WORKLOAD_CLIENT_STATE_MAX + 1;
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), TR_EINVAL);
}

/* A node that never starts again (a torn data file): its items move to live nodes, every
 * final level is read, and the final phase does not wait for its clients. */
Test(builtin_stock, a_node_down_for_good_does_not_hold_up_the_final_reads) {
    char path[] = "/tmp/troupe-stock-scen-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "5s corrupt n3\n", 14), 14);
    close(fd);
    tr_experiment_result *r = run_stock_scen(1, NULL, 0, path);
    unlink(path);
    cr_assert_eq(r->verdict, TR_VERDICT_HELD);
    cr_assert_eq(tr_check_outcome_measure(outcome(r, "conserved"), "items_unknown", -1), 0);
    /* 20 s of workload, retries towards n3's item until the 10 s settle bound, a quiet
     * second and the final reads of the up nodes: no 10 s wait for n3's reader */
    cr_assert_lt(r->virtual_ns, 35 * (uint64_t)1000000000, "%llu ns",
                 (unsigned long long)r->virtual_ns);
    tr_experiment_result_destroy(r);
}
