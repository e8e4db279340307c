/* test_account.c — the account service on 3 simulated nodes under random partitions, crashes,
 * pauses and clock faults: its checks hold, and the planted early reply is caught. */
#include <criterion/criterion.h>

#include "troupe.h"

const tr_service *troupe_service_v1(void);

/* Runs seeds 1..seeds; returns how many were violated, printing their replay lines. */
static uint64_t run(const char *bug, uint64_t seeds) {
    const tr_service *svc = troupe_service_v1();
    tr_experiment_config cfg;
    tr_experiment_config_init(&cfg);
    cfg.sim.nodes = 3;
    cfg.services = &svc;
    cfg.service_count = 1;
    cfg.workload = "account";
    cfg.bug = bug;
    cfg.nemesis.kinds =
        TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH | TR_NEMESIS_PAUSE | TR_NEMESIS_CLOCK;
    cfg.duration_ns = 30 * 1000000000ull;
    cfg.rate = 1000; /* more writes: a crash right after an early reply is likelier */
    cfg.load_paths = (const char *const[]){"zig-out/lib/troupe-account.so"}; /* for replay */
    cfg.load_path_count = 1;
    uint64_t violated = 0;
    for (cfg.sim.seed = 1; cfg.sim.seed <= seeds; cfg.sim.seed++) {
        tr_experiment_result *r;
        char err[256] = "";
        cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
        for (uint32_t i = 0; i < r->check_count; i++) {
            cr_assert(r->ops_ok > 0 && r->checks[i].verdict != TR_VERDICT_UNKNOWN &&
                          (bug || r->checks[i].verdict == TR_VERDICT_HELD),
                      "%s: %s; %s", r->checks[i].name, r->checks[i].why, r->replay);
        }
        violated += r->verdict == TR_VERDICT_VIOLATED;
        if (r->verdict == TR_VERDICT_VIOLATED) {
            printf("early-reply caught (trace-hash %016llx): %s\n",
                   (unsigned long long)r->trace_hash, r->replay);
        }
        tr_experiment_result_destroy(r);
    }
    return violated;
}

Test(account, checks_hold_under_random_faults) {
    run(NULL, 5);
}

Test(account, early_reply_is_caught) {
    cr_assert_gt(run("early-reply", 10), 0, "early-reply was caught in no seed");
}
