/* test_account.c — the account service on 3 simulated nodes under the faults it declares: its
 * checks hold, and the planted overdraft is caught. */
#include <criterion/criterion.h>

#include "troupe.h"

const tr_service *troupe_service_v1(void);

static tr_sweep_summary sweep(const char *bug, uint64_t seeds, uint32_t rate) {
    const tr_service *svc = troupe_service_v1();
    tr_experiment_config cfg;
    tr_sweep_summary s;
    char err[256] = "";
    tr_service_experiment_init(&cfg, &svc);
    cfg.sim.nodes = 3;
    cfg.bug = bug;
    cfg.rate = rate;
    cfg.load_paths = (const char *const[]){"zig-out/lib/troupe-account.so"}; /* for replay */
    cfg.load_path_count = 1;
    cr_assert_eq(tr_experiment_sweep(&cfg, 1, seeds, &s, NULL, NULL, err, sizeof err), 0, "%s",
                 err);
    return s;
}

Test(account, checks_hold_under_random_faults) {
    tr_sweep_summary s = sweep(NULL, 5, 100);
    cr_assert_eq(s.held, 5, "first failing seed: %s", s.first_replay);
}

/* Caught in some seed, and no seed left undecided (unknown); the first catch's replay line. */
Test(account, overdraft_is_caught) {
    tr_sweep_summary s =
        sweep("overdraft", 10, 1000) /* more withdrawals: one that overdraws is likelier */;
    cr_assert(s.violated > 0 && s.unknown == 0, "%llu violated, %llu unknown",
              (unsigned long long)s.violated, (unsigned long long)s.unknown);
    printf("overdraft caught in %llu of 10 seeds; first: %s\n", (unsigned long long)s.violated,
           s.first_replay);
}
