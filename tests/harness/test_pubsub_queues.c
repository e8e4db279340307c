/* The pubsub check "bounded-queues" (harness/check_pubsub_queues.c) through the experiment
 * runner, as `troupe sim --workload pubsub`: the correct broker fills a subscriber's queue up
 * to its bound and no further (so the check looks at queues that met the bound), the planted
 * topics-unbounded broker goes past it and is caught, and the check reads the final STATS
 * answers exactly (a malformed one is unknown, none at all is unknown). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness/builtin_pubsub.h"
#include "troupe.h"

static const tr_service *svc = &tr__builtin_pubsub;

static tr_experiment_result *run(const char *bug, uint64_t seed) {
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[256] = "";
    tr_experiment_config_init(&cfg);
    cfg.sim.nodes = 5;
    cfg.sim.seed = seed;
    cfg.services = &svc;
    cfg.service_count = 1;
    cfg.workload = "pubsub";
    cfg.bug = bug;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

static const tr_check_outcome *outcome(const tr_experiment_result *r, const char *name) {
    for (uint32_t i = 0; i < r->check_count; i++) {
        if (strcmp(r->checks[i].name, name) == 0) {
            return &r->checks[i];
        }
    }
    cr_assert_fail("no check %s", name);
    return NULL;
}

Test(pubsub_queues, the_correct_broker_fills_a_queue_to_its_bound_and_holds, .timeout = 120) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_experiment_result *r = run(NULL, seed);
        const tr_check_outcome *o = outcome(r, "bounded-queues");
        cr_expect_eq(o->verdict, TR_VERDICT_HELD, "seed %llu: %s", (unsigned long long)seed,
                     o->why);
        cr_expect_eq(tr_check_outcome_measure(o, "queue_high", -1), TR_TOPICS_QUEUE_MAX,
                     "seed %llu: the workload never met the bound", (unsigned long long)seed);
        tr_experiment_result_destroy(r);
    }
}

Test(pubsub_queues, planted_topics_unbounded_is_caught, .timeout = 120) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_experiment_result *r = run("topics-unbounded", seed);
        const tr_check_outcome *o = outcome(r, "bounded-queues");
        cr_expect_eq(o->verdict, TR_VERDICT_VIOLATED, "seed %llu: %s", (unsigned long long)seed,
                     o->why);
        cr_expect_gt(tr_check_outcome_measure(o, "queue_high", -1), TR_TOPICS_QUEUE_MAX);
        cr_expect(strstr(o->why, "(bound 16)") != NULL, "%s", o->why);
        cr_expect(strstr(r->replay, "--bug topics-unbounded") != NULL, "%s", r->replay);
        tr_experiment_result_destroy(r);
    }
}

/* The check alone, over made-up final states: [subscriptions, pending, delivered, resent,
 * refused, queue_high, bad_messages]. */
static tr_verdict judge(const uint8_t *const *states, const size_t *lens, uint32_t n, char *why) {
    tr_check_input in = {.node_count = n, .states = states, .state_lens = lens};
    return tr__pubsub_check_bounded_queues(&in, why, 200);
}

static size_t stats(uint8_t *buf, uint64_t queue_high) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, 64);
    tr_mp_write_array(&w, 7);
    for (int i = 0; i < 7; i++) {
        tr_mp_write_uint(&w, i == 5 ? queue_high : 1);
    }
    return w.len;
}

Test(pubsub_queues, the_bound_itself_holds_one_more_is_violated) {
    uint8_t a[64], b[64];
    char why[200];
    const uint8_t *states[3] = {a, NULL, b};
    size_t lens[3] = {stats(a, 3), 0, stats(b, TR_TOPICS_QUEUE_MAX)};
    cr_expect_eq(judge(states, lens, 3, why), TR_VERDICT_HELD, "%s", why);
    lens[2] = stats(b, TR_TOPICS_QUEUE_MAX + 1);
    cr_expect_eq(judge(states, lens, 3, why), TR_VERDICT_VIOLATED);
    cr_expect_str_eq(why,
                     "n3's broker let one subscriber hold 17 unacknowledged events (bound 16)");
    lens[0] = 3; /* cut short */
    cr_expect_eq(judge(states, lens, 3, why), TR_VERDICT_UNKNOWN);
    const uint8_t *none[2] = {NULL, NULL};
    size_t zero[2] = {0, 0};
    cr_expect_eq(judge(none, zero, 2, why), TR_VERDICT_UNKNOWN, "%s", why);
}
