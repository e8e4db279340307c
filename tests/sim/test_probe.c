/* Probes (troupe.h, "Probes"): the simulator keeps them with the true time and the node,
 * a real node drops them, and tr_entity_check_single finds two activations of one entity
 * that handled messages at overlapping times (and only then). */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull

enum {
    HANDLE = TR_MSG_USER + 1
};

/* "Handles" a message of entity body[0] under epoch body[1]: records the probe, answers. */
static int prober_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    uint64_t f[2] = {0};
    if (msg->type == HANDLE && msg->body_len == sizeof f) {
        memcpy(f, msg->body, sizeof f);
        tr_probe(ctx, TR_PROBE_ENTITY, 0x7e57, f[0], f[1]);
        tr_reply(ctx, msg, HANDLE, NULL, 0);
    }
    return TR_CONTINUE;
}

static const tr_behaviour prober = {.name = "prober", .receive = prober_receive};

static int boot(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "prober"};
    (void)ud;
    return tr_node_spawn(node, &prober, &o, NULL, 0, NULL);
}

static tr_sim *sim_new(void) {
    tr_sim_config cfg;
    tr_sim *sim;
    tr_sim_config_init(&cfg);
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = boot;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    return sim;
}

/* Entity id handled on node `node` under `epoch`, at the time the request arrives. */
static void handle(tr_sim *sim, uint32_t node, uint64_t id, uint64_t epoch) {
    uint64_t f[2] = {id, epoch};
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, node, "prober", HANDLE, f, sizeof f, 100 * MS, &reply), 0);
    tr_msg_free(reply);
}

static tr_verdict check(tr_sim *sim, char *why, size_t cap) {
    tr_check_input in;
    memset(&in, 0, sizeof in);
    in.sim = sim;
    in.node_count = tr_sim_node_count(sim);
    return tr_entity_check_single(&in, why, cap);
}

Test(probe, kept_with_true_time_and_node) {
    tr_sim *sim = sim_new();
    cr_assert_eq(tr_sim_clock_skew(sim, 1, 5000 * MS), 0); /* node 1's clock is 5 s ahead */
    tr_sim_run_for(sim, 10 * MS);
    handle(sim, 1, 9, 2);
    const tr_sim_probe *p;
    uint64_t dropped = 1;
    cr_assert_eq(tr_sim_probes(sim, &p, &dropped), 1);
    cr_assert_eq(dropped, 0);
    cr_assert_eq(p[0].node, 1);
    cr_assert_eq(p[0].kind, TR_PROBE_ENTITY);
    cr_assert(p[0].a == 0x7e57 && p[0].b == 9 && p[0].c == 2);
    cr_assert(p[0].t_ns >= 10 * MS && p[0].t_ns < 200 * MS, "true time, not node 1's clock");
    tr_sim_destroy(sim);
}

Test(probe, single_activation_held_for_handoffs) {
    tr_sim *sim = sim_new();
    handle(sim, 0, 1, 1);
    handle(sim, 0, 1, 1);
    handle(sim, 1, 2, 1); /* another entity, at the same time, elsewhere: fine */
    tr_sim_run_for(sim, 100 * MS);
    handle(sim, 2, 1, 2); /* entity 1 moved to node 2 after its last message on node 0 */
    handle(sim, 2, 1, 2);
    tr_sim_run_for(sim, 100 * MS);
    handle(sim, 0, 1, 3); /* and back */
    char why[256];
    cr_assert_eq(check(sim, why, sizeof why), TR_VERDICT_HELD, "%s", why);
    cr_assert(strstr(why, "4 activations of 2 entities") != NULL, "%s", why);
    tr_sim_destroy(sim);
}

/* The planted bug: the old activation goes on handling after the new one started. */
Test(probe, single_activation_violated_by_overlap) {
    tr_sim *sim = sim_new();
    handle(sim, 0, 1, 1);
    tr_sim_run_for(sim, 100 * MS);
    handle(sim, 2, 1, 2);
    tr_sim_run_for(sim, 100 * MS);
    handle(sim, 0, 1, 1);
    char why[256];
    cr_assert_eq(check(sim, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    cr_assert(strstr(why, "entity 1 handled messages on n1 (epoch 1)") != NULL, "%s", why);
    cr_assert(strstr(why, "on n3 (epoch 2)") != NULL, "%s", why);
    tr_sim_destroy(sim);
}

/* Outside the stated condition (a clock jump, skew or a drift of 5% or more in the run) a
 * violation is not a broken promise: unknown, saying why; other faults, and a drift inside
 * the bound, leave it violated. */
Test(probe, single_activation_not_promised_with_clock_faults) {
    tr_sim *sim = sim_new();
    handle(sim, 0, 1, 1);
    handle(sim, 2, 1, 2);
    handle(sim, 0, 1, 1);
    tr_fault_span spans[2] = {{"partition", 0, 1, 1, NULL, 0}, {"clock", 0, 1, 2, NULL, 0}};
    tr_check_input in;
    memset(&in, 0, sizeof in);
    in.sim = sim;
    in.node_count = 3;
    in.faults = spans;
    in.fault_count = 1;
    char why[512];
    cr_assert_eq(tr_entity_check_single(&in, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    in.fault_count = 2;
    static const struct {
        const char *change;
        int64_t value;
        tr_verdict v;
    } cases[] = {{NULL, 0, TR_VERDICT_UNKNOWN},        {"jump", 1500000000, TR_VERDICT_UNKNOWN},
                 {"jump", -1, TR_VERDICT_UNKNOWN},     {"skew", 0, TR_VERDICT_UNKNOWN},
                 {"drift", 1000, TR_VERDICT_VIOLATED}, {"drift", -49999, TR_VERDICT_VIOLATED},
                 {"drift", 50000, TR_VERDICT_UNKNOWN}, {"drift", -500000, TR_VERDICT_UNKNOWN}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spans[1].change = cases[i].change;
        spans[1].value = cases[i].value;
        cr_expect_eq(tr_entity_check_single(&in, why, sizeof why), cases[i].v, "case %zu: %s", i,
                     why);
        if (cases[i].v == TR_VERDICT_UNKNOWN) {
            cr_expect(strstr(why, "not promised with clock faults: entity 1") != NULL, "%s", why);
        }
    }
    tr_sim_destroy(sim);
}

/* Two activations on one node (a passivation bug keeping an old epoch alive) count too. */
Test(probe, single_activation_violated_on_one_node) {
    tr_sim *sim = sim_new();
    handle(sim, 0, 4, 1);
    handle(sim, 0, 4, 2);
    handle(sim, 0, 4, 1);
    char why[256];
    cr_assert_eq(check(sim, why, sizeof why), TR_VERDICT_VIOLATED, "%s", why);
    tr_sim_destroy(sim);
}

Test(probe, unknown_without_probes_or_sim) {
    tr_sim *sim = sim_new();
    char why[256];
    cr_assert_eq(check(sim, why, sizeof why), TR_VERDICT_UNKNOWN);
    tr_check_input in;
    memset(&in, 0, sizeof in);
    cr_assert_eq(tr_entity_check_single(&in, why, sizeof why), TR_VERDICT_UNKNOWN);
    tr_sim_destroy(sim);
}

/* A real node's probes reach no simulation, even one alive in the same process. */
Test(probe, dropped_on_a_real_node) {
    tr_sim *sim = sim_new();
    tr_config rc = {.workers = 1, .no_store = true};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&rc, &rt), 0);
    tr_addr p;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &prober, NULL, NULL, 0, &p), 0);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(rt, &in), 0);
    uint64_t f[2] = {1, 1};
    tr_msg *reply = NULL;
    cr_assert_eq(tr_inbox_request(in, p, NULL, HANDLE, f, sizeof f, 5000, &reply), 0);
    tr_msg_free(reply);
    tr_inbox_destroy(in);
    tr_runtime_destroy(rt);
    const tr_sim_probe *all;
    cr_assert_eq(tr_sim_probes(sim, &all, NULL), 0);
    tr_sim_destroy(sim);
}
