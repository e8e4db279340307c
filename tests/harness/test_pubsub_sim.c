/* The pubsub service (harness/builtin_pubsub.h) through the experiment runner, as
 * `troupe sim --workload pubsub`: its checks hold under its declared nemesis (crash,
 * partition) and under crashes with slow disks, and each planted bug is caught:
 * volatile-outbox and no-dedup in every seed tried, publish-early (a publish before the
 * commit, visible only when a crash lands between the two while commits are slow) in seed
 * 22 of crash,slow-disk, the first of 1..40 it is caught in (4 of 40). */
#include <criterion/criterion.h>
#include <string.h>

#include "harness/builtin_pubsub.h"
#include "troupe.h"

static const tr_service *svc = &tr__builtin_pubsub;

static void config(tr_experiment_config *cfg, const char *bug, uint32_t kinds) {
    tr_experiment_config_init(cfg);
    cfg->sim.nodes = 5;
    cfg->services = &svc;
    cfg->service_count = 1;
    cfg->workload = "pubsub";
    cfg->bug = bug;
    if (kinds) {
        cfg->nemesis.kinds = kinds;
    }
}

static tr_sweep_summary sweep(const char *bug, uint32_t kinds, uint64_t first, uint64_t last) {
    tr_experiment_config cfg;
    tr_sweep_summary s;
    char err[256] = "";
    config(&cfg, bug, kinds);
    cr_assert_eq(tr_experiment_sweep(&cfg, first, last, &s, NULL, NULL, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(s.errors, 0);
    return s;
}

Test(pubsub_sim, holds_under_its_nemesis) {
    tr_sweep_summary s = sweep(NULL, 0, 1, 3);
    cr_expect_eq(s.held, 3, "first failing: %s", s.first_replay);
}

Test(pubsub_sim, holds_under_crashes_with_slow_disks) {
    tr_sweep_summary s = sweep(NULL, TR_NEMESIS_CRASH | TR_NEMESIS_SLOW_DISK, 22, 23);
    cr_expect_eq(s.held, 2, "first failing: %s", s.first_replay);
}

Test(pubsub_sim, planted_volatile_outbox_is_caught) {
    tr_sweep_summary s = sweep("volatile-outbox", 0, 1, 2);
    cr_expect_eq(s.violated, 2);
    cr_expect(strstr(s.first_replay, "--bug volatile-outbox") != NULL, "%s", s.first_replay);
}

Test(pubsub_sim, planted_no_dedup_is_caught) {
    tr_sweep_summary s = sweep("no-dedup", 0, 1, 2);
    cr_expect_eq(s.violated, 2);
}

/* Under its declared nemesis (a slow disk and a failing one or a crash on the same node). */
Test(pubsub_sim, planted_publish_early_is_caught) {
    tr_sweep_summary s = sweep("publish-early", 0, 1, 4);
    cr_expect_geq(s.violated, 1, "%s", s.first_replay);
}
