/* The cp and ap registers on the simulator: CP stays linearizable under partitions and
 * crashes, AP converges after heal, and the planted bugs are caught by the checkers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actors/register_wire.h"
#include "actors/registers.h"
#include "harness/check_convergence.h"
#include "sim/checkers.h"
#include "sim/lincheck.h"
#include "sim/sim.h" /* the nodes' stores, to look at the AP journal on disk */
#include "harness/workload.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define NODES 5

static const char *const names[] = {"n1", "n2", "n3", "n4", "n5"};

typedef struct world {
    tr_sim *sim;
    tr__reg_workload *wl;
    uint32_t bugs;
    uint32_t quorum_ms; /* 0 = the default */
    bool cp, ap;
    tr_sim_rng rng;
} world;

static int boot(tr_node *node, void *ud) {
    world *w = ud;
    tr_registers_opts ro = {.peer_count = NODES,
                            .peer_names = names,
                            .cp = w->cp,
                            .ap = w->ap,
                            .bugs = w->bugs,
                            .quorum_timeout_ms = w->quorum_ms};
    int rc = tr__registers_boot(node, &ro);
    if (rc == 0 && w->wl != NULL) {
        rc = tr__workload_boot(w->wl, node, tr_node_id(node) - 1);
    }
    return rc;
}

static void world_start_rate(world *w, uint64_t seed, const char *target, uint32_t bugs,
                             double rate, uint32_t keys, uint32_t clients);
static double reorder_prob; /* for the next world_start */
static bool oracle;         /* ... the oracle's message network (TR_SIM_NET_ORACLE) */
static uint32_t quorum_ms;  /* for the next world_start */

static void world_start(world *w, uint64_t seed, const char *target, uint32_t bugs) {
    world_start_rate(w, seed, target, bugs, 200, 0, 0);
}

static void world_start_rate(world *w, uint64_t seed, const char *target, uint32_t bugs,
                             double rate, uint32_t keys, uint32_t clients) {
    tr_sim_config cfg;
    memset(w, 0, sizeof *w);
    w->bugs = bugs;
    w->quorum_ms = quorum_ms;
    w->cp = !strcmp(target, "cp");
    w->ap = !w->cp;
    tr_sim_config_init(&cfg);
    cfg.seed = seed;
    cfg.nodes = NODES;
    cfg.boot = boot;
    cfg.boot_ud = w;
    cfg.reorder_prob = reorder_prob;
    cfg.net = oracle ? TR_SIM_NET_ORACLE : cfg.net;
    cr_assert_eq(tr_sim_create(&cfg, &w->sim), 0);
    tr_workload_opts wo;
    tr__workload_opts_init(&wo, w->sim, target);
    wo.rate = rate;
    wo.keys = keys;
    wo.clients_per_node = clients;
    cr_assert_eq(tr__workload_create(&wo, &w->wl), 0);
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr__workload_boot(w->wl, tr_sim_node(w->sim, i), i), 0);
    }
    tr_sim_rng_stream(w->sim, TR_SIM_STREAM_USER + 7, &w->rng);
}

static void world_stop(world *w) {
    tr_sim_destroy(w->sim);
    tr__workload_destroy(w->wl);
}

static bool no_pending(tr_sim *sim, void *ud) {
    (void)sim;
    return tr__workload_pending(ud) == 0;
}

/* Random partitions of every shape for `ns`, switching every 0.5..2 s, then heal. */
static void partition_storm(world *w, uint64_t ns) {
    uint64_t end = tr_sim_now_ns(w->sim) + ns;
    while (tr_sim_now_ns(w->sim) < end) {
        switch (tr_sim_rng_below(&w->rng, 5)) {
        case 0: tr_sim_partition_halves(w->sim); break;
        case 1: tr_sim_partition_ring(w->sim); break;
        case 2: tr_sim_partition_bridge(w->sim); break;
        case 3: tr_sim_isolate(w->sim, (uint32_t)tr_sim_rng_below(&w->rng, NODES)); break;
        default: tr_sim_heal(w->sim); break;
        }
        tr_sim_run_for(w->sim, 500 * MS + tr_sim_rng_below(&w->rng, 1500 * MS));
    }
    tr_sim_heal(w->sim);
}

/* Stops the clients, lets every op finish, and checks linearizability. */
static tr_lin_verdict finish_and_lincheck(world *w, tr__lin_result *res) {
    tr__workload_stop(w->wl);
    tr_sim_run_until(w->sim, no_pending, w->wl, tr_sim_now_ns(w->sim) + 10 * SEC);
    tr__workload_finish(w->wl);
    cr_assert_eq(tr__workload_record_errors(w->wl), 0);
    cr_assert_eq(tr__lincheck(tr__workload_history(w->wl), NULL, res), 0);
    return res->verdict;
}

static size_t count_type(const tr_history *h, tr_op_type t) {
    size_t n = 0;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        n += tr__history_op(h, i)->type == t;
    }
    return n;
}

Test(registers, cp_is_linearizable_under_partitions_across_seeds) {
    for (uint64_t seed = 1; seed <= 8; seed++) {
        world w;
        tr__lin_result res;
        world_start(&w, seed, "cp", 0);
        tr_sim_run_for(w.sim, 2 * SEC);
        partition_storm(&w, 10 * SEC);
        tr_sim_run_for(w.sim, 2 * SEC);
        tr_lin_verdict v = finish_and_lincheck(&w, &res);
        const tr_history *h = tr__workload_history(w.wl);
        cr_assert_gt(count_type(h, TR_OP_OK), 200, "seed %llu: too few ok ops",
                     (unsigned long long)seed);
        cr_assert_eq(v, TR_LIN_VALID,
                     "seed %llu: cp history %s; replay: troupe sim --seed %llu "
                     "--workload cp",
                     (unsigned long long)seed, tr__lincheck_verdict_name(v),
                     (unsigned long long)seed);
        world_stop(&w);
    }
}

/* Regression: two concurrent writes through one coordinator once both took (max + 1,
 * node id) and, with messages reordered, left replicas holding different values under one
 * timestamp. */
Test(registers, cp_concurrent_writes_through_one_coordinator_stay_linearizable) {
    reorder_prob = 0.3; /* reordering is the oracle's: TCP hides it */
    oracle = true;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        world w;
        tr__lin_result res;
        world_start_rate(&w, seed, "cp", 0, 800, 1, 4);
        for (int i = 0; i < 8; i++) { /* slow links widen the windows of concurrency */
            tr_sim_delay_spike(w.sim, (uint32_t)tr_sim_rng_below(&w.rng, NODES), TR_SIM_ANY,
                               20 * MS, 500 * MS);
            tr_sim_run_for(w.sim, 500 * MS);
        }
        cr_assert_eq(finish_and_lincheck(&w, &res), TR_LIN_VALID, "seed %llu",
                     (unsigned long long)seed);
        world_stop(&w);
    }
}

Test(registers, cp_minority_is_unavailable_and_majority_available) {
    world w;
    tr_avail_result av;
    int32_t groups[NODES] = {1, 1, 0, 0, 0}; /* n1, n2: the minority */
    world_start(&w, 3, "cp", 0);
    tr_sim_run_for(w.sim, 1 * SEC);
    uint64_t from = tr_sim_now_ns(w.sim);
    cr_assert_eq(tr_sim_partition(w.sim, 0x3), 0);
    tr_sim_run_for(w.sim, 10 * SEC);
    uint64_t to = tr_sim_now_ns(w.sim);
    tr_sim_heal(w.sim);
    tr__lin_result res;
    cr_assert_eq(finish_and_lincheck(&w, &res), TR_LIN_VALID);
    tr_avail_options ao = {.window_start_ns = (int64_t)from,
                           .window_end_ns = (int64_t)to,
                           .group_of_node = groups,
                           .node_count = NODES,
                           .group_count = 2};
    cr_assert_eq(tr__checkers_availability(tr__workload_history(w.wl), &ao, &av), 0);
    cr_assert_gt(av.groups[0].fraction, 0.95, "majority %f", av.groups[0].fraction);
    cr_assert_lt(av.groups[1].fraction, 0.05, "minority %f", av.groups[1].fraction);
    cr_assert_gt(av.groups[1].fail + av.groups[1].info, 20);
    world_stop(&w);
}

Test(registers, cp_stays_linearizable_across_crashes_and_restarts) {
    for (uint64_t seed = 1; seed <= 4; seed++) {
        world w;
        tr__lin_result res;
        world_start(&w, seed, "cp", 0);
        for (int round = 0; round < 6; round++) {
            uint32_t i = (uint32_t)tr_sim_rng_below(&w.rng, NODES);
            tr_sim_run_for(w.sim, 700 * MS);
            cr_assert_eq(tr_sim_crash(w.sim, i), 0);
            tr__workload_node_crashed(w.wl, i);
            tr_sim_run_for(w.sim, 800 * MS);
            cr_assert_eq(tr_sim_restart(w.sim, i), 0);
        }
        cr_assert_eq(finish_and_lincheck(&w, &res), TR_LIN_VALID, "seed %llu",
                     (unsigned long long)seed);
        world_stop(&w);
    }
}

/* A test client: one request, its reply kept in a global. */
static tr_reg_reply last_reply;
static int replies;

typedef struct one_req {
    uint32_t type;
    char to[TR_NAME_MAX + 1];
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
} one_req;

static int one_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    const one_req *r = arg;
    uint64_t corr;
    return tr_request_name(ctx, r->to, r->type, r->body, r->len, 2000, &corr);
}

static int one_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    bool answer = msg->type == TR_REG_REPLY || msg->type == TR_REG_STORE_ACK;
    if (answer && tr__registers_reply_decode(msg->body, msg->body_len, &last_reply) == 0) {
        replies++;
    }
    return TR_STOP;
}

static const tr_behaviour one_behaviour = {.name = "one", .init = one_init, .receive = one_receive};

static bool replied(tr_sim *sim, void *ud) {
    (void)sim;
    return replies > *(int *)ud;
}

/* True when the request got an answer within 3 s. */
static bool try_request(tr_sim *sim, uint32_t node, const char *to, uint32_t type, const void *body,
                        size_t len) {
    one_req r = {.type = type, .len = len};
    snprintf(r.to, sizeof r.to, "%s", to);
    memcpy(r.body, body, len);
    int before = replies;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, node), &one_behaviour, NULL, &r, sizeof r, NULL),
                 0);
    tr_sim_run_until(sim, replied, &before, tr_sim_now_ns(sim) + 3 * SEC);
    return replies > before;
}

static void request(tr_sim *sim, uint32_t node, const char *to, uint32_t type, const void *body,
                    size_t len) {
    one_req r = {.type = type, .len = len};
    snprintf(r.to, sizeof r.to, "%s", to);
    memcpy(r.body, body, len);
    int before = replies;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, node), &one_behaviour, NULL, &r, sizeof r, NULL),
                 0);
    tr_sim_run_until(sim, replied, &before, tr_sim_now_ns(sim) + 3 * SEC);
    cr_assert_eq(replies, before + 1, "no reply from %s on n%u", to, node + 1);
}

static void request_kv(tr_sim *sim, uint32_t node, const char *to, uint32_t key, bool write,
                       int64_t value) {
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    cr_assert_eq(tr__registers_request_encode(body, sizeof body, key, write, value, &len), 0);
    request(sim, node, to, write ? TR_REG_WRITE : TR_REG_READ, body, len);
}

Test(registers, cp_recovers_acknowledged_writes_after_every_node_crashed) {
    world w;
    memset(&w, 0, sizeof w);
    w.cp = true;
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = NODES;
    cfg.boot = boot;
    cfg.boot_ud = &w;
    cr_assert_eq(tr_sim_create(&cfg, &w.sim), 0);
    request_kv(w.sim, 0, "cp", 9, true, 1); /* at once: the coordinator is not ready */
    cr_assert(!last_reply.ok && !last_reply.indeterminate);
    cr_assert_str_eq(last_reply.error, "starting");
    tr_sim_run_for(w.sim, 100 * MS); /* its incarnation is durable */
    request_kv(w.sim, 0, "cp", 9, true, 4242);
    cr_assert(last_reply.ok);
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_crash(w.sim, i), 0);
    }
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_restart(w.sim, i), 0);
    }
    request_kv(w.sim, 3, "cp", 9, false, 0);
    cr_assert(last_reply.ok && last_reply.has_value && last_reply.value == 4242);
    request_kv(w.sim, 2, "cp", 10, false, 0);
    cr_assert(last_reply.ok && !last_reply.has_value);
    tr_sim_destroy(w.sim);
}

Test(registers, replicas_answer_malformed_requests_with_an_error_and_keep_serving) {
    world w;
    memset(&w, 0, sizeof w);
    w.cp = true;
    w.ap = true;
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = 3;
    cfg.boot = boot;
    cfg.boot_ud = &w;
    /* 3 nodes but the peers list names 5: n4 and n5 never answer, 3 of 5 is a majority. */
    cr_assert_eq(tr_sim_create(&cfg, &w.sim), 0);
    tr_sim_run_for(w.sim, 100 * MS);
    const uint8_t junk[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc1};
    const uint8_t no_value[] = {0x81, 0xa3, 'k', 'e', 'y', 0x01};
    for (int t = 0; t < 2; t++) {
        const char *to = t ? "ap" : "cp";
        request(w.sim, 0, to, TR_REG_WRITE, junk, sizeof junk);
        cr_assert(!last_reply.ok && !last_reply.indeterminate);
        cr_assert_str_eq(last_reply.error, "bad request");
        request(w.sim, 0, to, TR_REG_WRITE, no_value, sizeof no_value);
        cr_assert(!last_reply.ok);
        request_kv(w.sim, 1, to, 1, true, 7);
        cr_assert(last_reply.ok, "%s: %s", to, last_reply.error);
        request_kv(w.sim, 1, to, 1, false, 0);
        cr_assert(last_reply.ok && last_reply.has_value && last_reply.value == 7);
    }
    tr_sim_destroy(w.sim);
}

/* A replica reads a STORE in any msgpack form, not only the layout it writes itself (its
 * fast path), and drops one out of range even when laid out that way. */
Test(registers, cp_replica_takes_stores_in_any_form_and_drops_bad_ones) {
    world w;
    memset(&w, 0, sizeof w);
    w.cp = true;
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = NODES;
    cfg.boot = boot;
    cfg.boot_ud = &w;
    cr_assert_eq(tr_sim_create(&cfg, &w.sim), 0);
    tr_sim_run_for(w.sim, 100 * MS);
    /* {"value": int32 55, "x": nil, "ts": [uint16 300, 2.0, 0], "key": 5.0} */
    const uint8_t any_form[] = {
        0x84, 0xa5, 'v',  'a',  'l',  'u',  'e',  0xd2, 0,    0,    0, 55, 0xa1, 'x', 0xc0,
        0xa2, 't',  's',  0x93, 0xcd, 0x01, 0x2c, 0xcb, 0x40, 0x00, 0, 0,  0,    0,   0,
        0,    0x00, 0xa3, 'k',  'e',  'y',  0xcb, 0x40, 0x14, 0,    0, 0,  0,    0,   0};
    cr_assert(try_request(w.sim, 0, "cp", TR_REG_STORE, any_form, sizeof any_form));
    cr_assert(last_reply.ok);
    request_kv(w.sim, 0, "cp", 5, false, 0);
    cr_assert(last_reply.ok && last_reply.has_value && last_reply.value == 55);
    /* the canonical layout, but the writer is out of range (2^32), or the counter negative */
    const uint8_t big_writer[] = {0x83, 0xa3, 'k',  'e',  'y', 0x06, 0xa2, 't', 's', 0x93,
                                  0xcd, 0x01, 0x2c, 0xcf, 0,   0,    0,    1,   0,   0,
                                  0,    0,    0x00, 0xa5, 'v', 'a',  'l',  'u', 'e', 0x01};
    const uint8_t neg_counter[] = {0x83, 0xa3, 'k',  'e',  'y', 0x06, 0xa2, 't', 's', 0x93,
                                   0xff, 0x01, 0x00, 0xa5, 'v', 'a',  'l',  'u', 'e', 0x01};
    cr_assert(!try_request(w.sim, 0, "cp", TR_REG_STORE, big_writer, sizeof big_writer));
    cr_assert(!try_request(w.sim, 0, "cp", TR_REG_STORE, neg_counter, sizeof neg_counter));
    for (size_t cut = 0; cut < sizeof any_form; cut += 7) { /* truncated: dropped */
        cr_assert(!try_request(w.sim, 0, "cp", TR_REG_STORE, any_form, cut), "cut %zu", cut);
    }
    request_kv(w.sim, 0, "cp", 6, false, 0);
    cr_assert(last_reply.ok && !last_reply.has_value);
    tr_sim_destroy(w.sim);
}

Test(registers, stale_read_bug_is_caught_by_lincheck_in_most_seeds) {
    int caught = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        world w;
        tr__lin_result res;
        world_start(&w, seed, "cp", TR_REG_BUG_STALE_READ);
        tr_sim_run_for(w.sim, 1 * SEC);
        tr_sim_partition(w.sim, 0x3);
        tr_sim_run_for(w.sim, 8 * SEC);
        tr_sim_heal(w.sim);
        caught += finish_and_lincheck(&w, &res) == TR_LIN_INVALID;
        world_stop(&w);
    }
    cr_assert_geq(caught, 4, "stale-read caught in only %d of 6 seeds", caught);
}

/* AP: partition, heal, stop writing, probe until the replicas agree (or 10 s pass). */
static bool ap_settled(tr_sim *sim, void *ud) {
    world *w = ud;
    uint64_t at;
    return tr__workload_pending(w->wl) == 0 && tr__workload_converged(w->wl, &at);
}

static void ap_run(world *w, uint64_t seed, uint32_t bugs, tr_convergence_result *conv,
                   bool *converged, uint64_t *after_ns, tr_avail_result *av) {
    tr_replica_state states[NODES];
    tr_replica_entry entries[NODES * TR_WORKLOAD_KEYS_MAX];
    int32_t groups[NODES] = {1, 1, 0, 0, 0};
    world_start(w, seed, "ap", bugs);
    tr_sim_run_for(w->sim, 1 * SEC);
    uint64_t from = tr_sim_now_ns(w->sim);
    tr_sim_partition(w->sim, 0x3);
    tr_sim_run_for(w->sim, 8 * SEC);
    uint64_t heal = tr_sim_now_ns(w->sim);
    tr_sim_heal(w->sim);
    tr__workload_stop(w->wl);
    cr_assert_eq(tr__workload_probe_start(w->wl), 0);
    tr_sim_run_until(w->sim, ap_settled, w, heal + 10 * SEC);
    uint64_t at = 0;
    *converged = tr__workload_converged(w->wl, &at);
    *after_ns = at - heal;
    tr__workload_finish(w->wl);
    size_t n = tr__workload_replica_states(w->wl, states, NODES, entries,
                                           sizeof entries / sizeof entries[0]);
    cr_assert_eq(n, NODES);
    cr_assert_eq(tr__checkers_convergence(tr__workload_history(w->wl), states, n, conv), 0);
    tr_avail_options ao = {.window_start_ns = (int64_t)from,
                           .window_end_ns = (int64_t)heal,
                           .group_of_node = groups,
                           .node_count = NODES,
                           .group_count = 2};
    cr_assert_eq(tr__checkers_availability(tr__workload_history(w->wl), &ao, av), 0);
}

/* Within a second of the heal: the oracle restores links at once (under the protocol network
 * the detectors and the redial backoff take seconds; the experiment runner waits for that). */
Test(registers, ap_converges_after_heal_and_stays_available_on_both_sides) {
    oracle = true;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        world w;
        tr_convergence_result conv;
        tr_avail_result av;
        bool converged;
        uint64_t after;
        ap_run(&w, seed, 0, &conv, &converged, &after, &av);
        cr_assert(converged, "seed %llu: ap did not converge", (unsigned long long)seed);
        cr_assert_lt(after, 1 * SEC);
        cr_assert(conv.ok, "seed %llu: agree %d lost %zu phantoms %zu", (unsigned long long)seed,
                  conv.agree, conv.lost_writes, conv.phantoms);
        cr_assert_eq(av.groups[0].fraction, 1.0);
        cr_assert_eq(av.groups[1].fraction, 1.0);
        world_stop(&w);
    }
}

Test(registers, ap_is_not_linearizable_under_a_partition) {
    world w;
    tr_convergence_result conv;
    tr_avail_result av;
    bool converged;
    uint64_t after;
    tr__lin_result res;
    ap_run(&w, 1, 0, &conv, &converged, &after, &av);
    tr_lin_options lo = {.max_configs = 200000};
    cr_assert_eq(tr__lincheck(tr__workload_history(w.wl), &lo, &res), 0);
    cr_assert_eq(res.verdict, TR_LIN_INVALID);
    cr_assert(res.has_bad_op);
    world_stop(&w);
}

Test(registers, no_anti_entropy_bug_is_caught_by_the_convergence_checker) {
    world w;
    tr_convergence_result conv;
    tr_avail_result av;
    bool converged;
    uint64_t after;
    ap_run(&w, 2, TR_REG_BUG_NO_ANTI_ENTROPY, &conv, &converged, &after, &av);
    cr_assert(!converged);
    cr_assert(!conv.ok && !conv.agree);
    cr_assert_gt(conv.divergent_keys, 0);
    world_stop(&w);
}

Test(registers, ap_replicas_recover_from_their_journal_after_a_crash) {
    world w;
    memset(&w, 0, sizeof w);
    w.ap = true;
    w.bugs = TR_REG_BUG_NO_ANTI_ENTROPY; /* only the journal can bring the value back */
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = NODES;
    cfg.boot = boot;
    cfg.boot_ud = &w;
    cr_assert_eq(tr_sim_create(&cfg, &w.sim), 0);
    for (int i = 0; i < 600; i++) { /* past a snapshot (every 512 journal events) */
        request_kv(w.sim, 4, "ap", (uint32_t)(i % 7), true, 1000 + i);
    }
    tr_sim_run_for(w.sim, 1 * SEC); /* commits */
    cr_assert_eq(tr_sim_crash(w.sim, 4), 0);
    cr_assert_eq(tr_sim_restart(w.sim, 4), 0);
    request_kv(w.sim, 4, "ap", 5, false, 0);
    cr_assert(last_reply.ok && last_reply.has_value && last_reply.value == 1000 + 593);
    request_kv(w.sim, 4, "ap", 6, false, 0);
    cr_assert(last_reply.ok && last_reply.has_value && last_reply.value == 1000 + 594);
    /* Compaction: the snapshot at event 512 truncated the journal, 88 events are left. */
    uint64_t first, last, count;
    cr_assert_eq(tr__store_journal_range(w.sim->nodes[4].store, "ap", &first, &last, &count), 0);
    cr_assert(first == 513 && last == 600 && count == 88, "journal %llu..%llu (%llu)",
              (unsigned long long)first, (unsigned long long)last, (unsigned long long)count);
    /* A second round after the restart: sequences go on, and a crash again keeps it all. */
    for (int i = 0; i < 600; i++) {
        request_kv(w.sim, 4, "ap", (uint32_t)(i % 7), true, 5000 + i);
    }
    tr_sim_run_for(w.sim, 1 * SEC);
    cr_assert_eq(tr_sim_crash(w.sim, 4), 0);
    cr_assert_eq(tr_sim_restart(w.sim, 4), 0);
    for (uint32_t k = 0; k < 7; k++) {
        request_kv(w.sim, 4, "ap", k, false, 0);
        int64_t want = 5000 + (k <= 599 % 7 ? 595 : 588) + (int64_t)k; /* the last i % 7 == k */
        cr_assert(last_reply.ok && last_reply.has_value && last_reply.value == want,
                  "key %u: %lld, want %lld", k, (long long)last_reply.value, (long long)want);
    }
    cr_assert_eq(tr__store_journal_range(w.sim->nodes[4].store, "ap", &first, &last, &count), 0);
    cr_assert(first == 1025 && last == 1200 && count == 176, "journal %llu..%llu (%llu)",
              (unsigned long long)first, (unsigned long long)last, (unsigned long long)count);
    tr_sim_destroy(w.sim);
}

/* ---- the same actors on the real engine ----------------------------------------------- */

typedef struct relay_req {
    one_req req;
    tr_addr reply_to; /* the test's inbox */
} relay_req;

typedef struct relay_state {
    tr_addr reply_to;
} relay_state;

static int relay_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    const relay_req *r = arg;
    relay_state *st = state;
    uint64_t corr;
    st->reply_to = r->reply_to;
    return tr_request_name(ctx, r->req.to, r->req.type, r->req.body, r->req.len, 5000, &corr);
}

static int relay_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    relay_state *st = state;
    tr_send(ctx, st->reply_to, msg->type, msg->body, msg->body_len);
    return TR_STOP;
}

static const tr_behaviour relay_behaviour = {.name = "relay",
                                             .state_size = sizeof(relay_state),
                                             .init = relay_init,
                                             .receive = relay_receive};

static tr_reg_reply real_request(tr_runtime *rt, tr_inbox *in, const char *to, uint32_t key,
                                 bool write, int64_t value) {
    relay_req r = {.req = {.type = write ? TR_REG_WRITE : TR_REG_READ},
                   .reply_to = tr_inbox_addr(in)};
    snprintf(r.req.to, sizeof r.req.to, "%s", to);
    cr_assert_eq(
        tr__registers_request_encode(r.req.body, sizeof r.req.body, key, write, value, &r.req.len),
        0);
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &relay_behaviour, NULL, &r, sizeof r, NULL), 0);
    tr_msg *m = NULL;
    cr_assert_eq(tr_inbox_receive(in, 10000, &m), 0, "no reply from %s", to);
    tr_reg_reply rep;
    cr_assert_eq(m->type, TR_REG_REPLY, "type %u", m->type);
    cr_assert_eq(tr__registers_reply_decode(m->body, m->body_len, &rep), 0);
    tr_msg_free(m);
    return rep;
}

Test(registers, cp_and_ap_serve_clients_on_the_real_engine) {
    tr_config cfg = {.node_id = 1, .workers = 2};
    tr_runtime *rt;
    tr_inbox *in;
    const char *self[] = {"n1"};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    cr_assert_eq(tr_inbox_create(rt, &in), 0);
    tr_registers_opts ro = {.peer_count = 1, .peer_names = self, .cp = true, .ap = true};
    cr_assert_eq(tr__registers_boot(tr_runtime_node(rt), &ro), 0);
    for (int t = 0; t < 2; t++) {
        const char *to = t ? "ap" : "cp";
        tr_reg_reply rep = real_request(rt, in, to, 3, true, 99);
        /* The new incarnation commits before serving; on a loaded machine that can take a
         * while, so wait (up to ~5 s) rather than count on it being quick. */
        for (int i = 0; i < 500 && !rep.ok && !strcmp(rep.error, "starting"); i++) {
            usleep(10000);
            rep = real_request(rt, in, to, 3, true, 99);
        }
        cr_assert(rep.ok, "%s write: %s", to, rep.error);
        rep = real_request(rt, in, to, 3, false, 0);
        cr_assert(rep.ok && rep.has_value && rep.value == 99, "%s read", to);
    }
    tr_inbox_destroy(in);
    tr_runtime_destroy(rt);
}

Test(registers, timed_out_ops_are_info_and_their_process_is_never_reused) {
    world w;
    tr__lin_result res;
    quorum_ms = 3000; /* coordinators wait longer than their clients */
    world_start(&w, 5, "cp", 0);
    tr_sim_run_for(w.sim, 1 * SEC);
    /* every message now takes 1.5 s more: quorums outlast the clients' 1 s timeout */
    cr_assert_eq(tr_sim_delay_spike(w.sim, TR_SIM_ANY, TR_SIM_ANY, 1500 * MS, 3 * SEC), 0);
    tr_sim_run_for(w.sim, 5 * SEC);
    cr_assert_eq(finish_and_lincheck(&w, &res), TR_LIN_VALID);
    const tr_history *h = tr__workload_history(w.wl);
    size_t infos = 0;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type != TR_OP_INFO) {
            continue;
        }
        infos++;
        for (size_t j = i + 1; j < tr__history_count(h); j++) {
            cr_assert_neq(tr__history_op(h, j)->process, op->process,
                          "process %lld reused after its info at #%zu", (long long)op->process, i);
        }
    }
    cr_assert_gt(infos, 5, "only %zu info ops", infos);
    world_stop(&w);
}
