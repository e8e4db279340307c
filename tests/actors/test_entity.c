/* Entities (troupe.h, "Entities"): a counter entity type hosted on 3 simulated nodes. First
 * message activates from durable state, idle passivation and reactivation keep it, the
 * owner's crash moves the entity to a live node with its state, a partitioned owner stops
 * serving while the majority side serves, a stale write is refused by the fence, hostile
 * bodies are answered, a full table passivates its idlest activation, a duplicated request is
 * handled once. The workload's sweeps are tests/harness/test_entity_sim.c's. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "actors/entity_internal.h"
#include "troupe.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define NODES 3

enum {
    ADD = TR_MSG_USER,
    GET,
    BASE = TR_MSG_USER + 16
};

/* What the handler saw last: for assertions about where and how an entity ran. */
static struct {
    uint32_t node;
    uint64_t epoch, handled;
} last;

/* ADD [id, n] -> the new value; GET [id] -> the value. The state: 8 bytes or empty. */
static int ctr_handle(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    int64_t f[2] = {0};
    int n = tr_msg_read_ints(msg, f, 2);
    if (n != (msg->type == ADD ? 2 : 1)) {
        return TR_EINVAL;
    }
    int64_t v = call->len == 8 ? (int64_t)tr_load_be64(call->state) : 0;
    last.node = tr_self(ctx).node;
    last.epoch = call->epoch;
    last.handled = call->handled;
    if (msg->type == ADD) {
        v += f[1];
        tr_store_be64(call->state, (uint64_t)v);
        call->len = 8;
        call->changed = true;
    }
    tr_mp_write_int(call->reply, v);
    return 0;
}

static const tr_entity_type ctr = {.name = "ctr",
                                   .state_max = 8,
                                   .msg_base = BASE,
                                   .handle = ctr_handle,
                                   .passivate_ms = 3000,
                                   .lease_ms = 2000,
                                   .write_timeout_ms = 500};

static uint32_t bugs;

static int boot(tr_node *node, void *ud) {
    static const char *const names[NODES] = {"n1", "n2", "n3"};
    uint8_t arg[sizeof(tr__entity_arg)];
    size_t len = 0;
    tr_service_env env = {.node_index = tr_node_id(node) - 1,
                          .node_count = NODES,
                          .node_name = names[tr_node_id(node) - 1],
                          .node_names = names,
                          .simulated = true};
    int rc = tr_entity_host_arg(&ctr, &env, bugs, arg, sizeof arg, &len);
    tr_spawn_opts o = {.name = "ctr"};
    return rc != 0 ? rc : tr_node_spawn(node, &tr_entity_host, &o, arg, len, NULL);
}

static tr_sim *start(uint64_t seed) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = seed;
    cfg.nodes = NODES;
    cfg.boot = boot;
    tr_sim *sim = NULL;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_sim_run_for(sim, 5 * SEC); /* a leader, the first assignment, every lease */
    return sim;
}

/* One request through node `via`: 0 with *out the integer answer, 1 with why the string
 * answer, or the request's error. */
static int call_raw(tr_sim *sim, uint32_t via, uint32_t type, const void *body, size_t len,
                    int64_t *out, char *why, size_t cap) {
    tr_msg *reply = NULL;
    int rc = tr_sim_request(sim, via, "ctr", type, body, len, SEC, &reply);
    if (rc != 0) {
        snprintf(why, cap, "%s", tr_strerror(rc));
        return rc;
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    rc = tr_mp_peek(&r) == TR_MP_STR ? (tr_mp_read_str_copy(&r, why, cap), 1)
                                     : tr_mp_read_int(&r, out);
    tr_msg_free(reply);
    return rc;
}

static int call(tr_sim *sim, uint32_t via, uint32_t type, int64_t id, int64_t n, int64_t *out,
                char *why, size_t cap) {
    uint8_t buf[32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, type == ADD ? 2 : 1);
    tr_mp_write_int(&w, id);
    if (type == ADD) {
        tr_mp_write_int(&w, n);
    }
    return call_raw(sim, via, type, buf, w.len, out, why, cap);
}

/* Asks through `via` until an integer answer, for at most `tries` half-second rounds. */
static int call_until(tr_sim *sim, uint32_t via, uint32_t type, int64_t id, int64_t n, int64_t *out,
                      int tries) {
    char why[64];
    for (int i = 0; i < tries; i++) {
        if (call(sim, via, type, id, n, out, why, sizeof why) == 0) {
            return 0;
        }
        tr_sim_run_for(sim, 500 * MS);
    }
    return -1;
}

static void expect_single_activation(tr_sim *sim) {
    tr_check_input in = {.node_count = NODES, .sim = sim};
    char why[256];
    cr_expect_eq(tr_entity_check_single(&in, why, sizeof why), TR_VERDICT_HELD, "%s", why);
}

Test(entity, first_message_activates_from_durable_state) {
    bugs = 0;
    tr_sim *sim = start(1);
    int64_t v = 0;
    cr_assert_eq(call_until(sim, 0, ADD, 9, 5, &v, 10), 0);
    cr_expect_eq(v, 5);
    for (uint32_t i = 0; i < NODES; i++) { /* every node's memory gone, the stores kept */
        cr_assert_eq(tr_sim_crash(sim, i), 0);
    }
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_restart(sim, i), 0);
    }
    tr_sim_run_for(sim, 8 * SEC);
    cr_assert_eq(call_until(sim, 1, GET, 9, 0, &v, 10), 0);
    cr_expect_eq(v, 5, "the state was not loaded: %lld", (long long)v);
    cr_expect_eq(last.handled, 0, "not a fresh activation");
    tr_sim_destroy(sim);
}

Test(entity, idle_passivation_then_reactivation_keeps_state) {
    bugs = 0;
    tr_sim *sim = start(2);
    int64_t v = 0;
    cr_assert_eq(call_until(sim, 0, ADD, 3, 4, &v, 10), 0);
    cr_assert_eq(call_until(sim, 0, ADD, 3, 3, &v, 10), 0);
    cr_expect_eq(v, 7);
    cr_expect_eq(last.handled, 1, "the second message went to another activation");
    tr_sim_run_for(sim, 5 * SEC); /* passivate_ms 3000 */
    cr_assert_eq(call_until(sim, 0, GET, 3, 0, &v, 10), 0);
    cr_expect_eq(v, 7);
    cr_expect_eq(last.handled, 0, "the idle activation was not passivated");
    expect_single_activation(sim);
    tr_sim_destroy(sim);
}

Test(entity, owner_crash_moves_the_entity_with_its_state) {
    bugs = 0;
    tr_sim *sim = start(3);
    int64_t v = 0;
    cr_assert_eq(call_until(sim, 0, ADD, 5, 11, &v, 10), 0);
    uint32_t owner = last.node - 1;
    uint64_t epoch = last.epoch;
    cr_assert_eq(tr_sim_crash(sim, owner), 0);
    uint32_t via = (owner + 1) % NODES;
    cr_assert_eq(call_until(sim, via, GET, 5, 0, &v, 30), 0, "never served after the crash");
    cr_expect_eq(v, 11);
    cr_expect_neq(last.node - 1, owner);
    cr_expect_gt(last.epoch, epoch, "the move did not raise the epoch");
    expect_single_activation(sim);
    tr_sim_destroy(sim);
}

Test(entity, partitioned_owner_stops_serving_and_the_majority_serves) {
    bugs = 0;
    tr_sim *sim = start(4);
    int64_t v = 0;
    char why[64] = "";
    cr_assert_eq(call_until(sim, 0, ADD, 6, 2, &v, 10), 0);
    uint32_t owner = last.node - 1;
    cr_assert_eq(tr_sim_isolate(sim, owner), 0);
    tr_sim_run_for(sim, 3 * SEC); /* past the owner's lease */
    int rc = call(sim, owner, GET, 6, 0, &v, why, sizeof why);
    cr_expect_eq(rc, 1, "the cut-off owner still answered (%d)", rc);
    cr_expect_str_eq(why, "unavailable");
    uint32_t via = (owner + 1) % NODES;
    cr_assert_eq(call_until(sim, via, ADD, 6, 1, &v, 30), 0, "the majority side never served");
    cr_expect_eq(v, 3);
    tr_sim_heal(sim);
    tr_sim_run_for(sim, 3 * SEC);
    cr_assert_eq(call_until(sim, owner, GET, 6, 0, &v, 10), 0);
    cr_expect_eq(v, 3);
    expect_single_activation(sim);
    tr_sim_destroy(sim);
}

/* Talks to a host's store directly: SGET raises the fence, a SPUT of an older epoch is
 * refused, one of the fence's epoch is stored. */
static int64_t store_call(tr_sim *sim, uint32_t type, int64_t epoch, int64_t seq) {
    uint8_t buf[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, type == BASE + TR__ENTITY_SGET ? 3 : 5);
    tr_mp_write_uint(&w, 7); /* token */
    tr_mp_write_int(&w, 40); /* id */
    tr_mp_write_int(&w, epoch);
    if (type == BASE + TR__ENTITY_SPUT) {
        tr_mp_write_int(&w, seq);
        tr_mp_write_bin(&w, "\0\0\0\0\0\0\0\1", 8);
    }
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, 1, "ctr", type, buf, w.len, SEC, &reply), 0);
    uint64_t token = 0, node = 0;
    int64_t code = -1;
    uint32_t n = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    tr_mp_read_array(&r, &n);
    tr_mp_read_uint(&r, &token);
    tr_mp_read_uint(&r, &node);
    tr_mp_read_int(&r, &code);
    tr_msg_free(reply);
    cr_expect_eq(token, 7);
    return code;
}

Test(entity, a_stale_write_is_refused_by_the_fence) {
    bugs = 0;
    tr_sim *sim = start(5);
    cr_expect_eq(store_call(sim, BASE + TR__ENTITY_SGET, 9, 0), TR__ENTITY_NONE);
    cr_expect_eq(store_call(sim, BASE + TR__ENTITY_SPUT, 8, 100), TR__ENTITY_FENCED);
    cr_expect_eq(store_call(sim, BASE + TR__ENTITY_SGET, 8, 0), TR__ENTITY_FENCED);
    cr_expect_eq(store_call(sim, BASE + TR__ENTITY_SPUT, 9, 1), TR__ENTITY_OK);
    cr_expect_eq(store_call(sim, BASE + TR__ENTITY_SGET, 9, 0), TR__ENTITY_OK);
    tr_sim_destroy(sim);
}

Test(entity, hostile_bodies_are_answered) {
    bugs = 0;
    tr_sim *sim = start(6);
    int64_t v = 0;
    char why[64] = "";
    uint8_t big[300];
    tr_mp_writer w;
    tr_mp_writer_init(&w, big, sizeof big);
    tr_mp_write_array(&w, 2);
    tr_mp_write_int(&w, 1);
    tr_mp_write_bin(&w, big, 200);
    cr_expect_eq(call_raw(sim, 0, ADD, "\xc1", 1, &v, why, sizeof why), 1);
    cr_expect_str_eq(why, "bad request: no entity id");
    cr_expect_eq(call(sim, 0, GET, -4, 0, &v, why, sizeof why), 1);
    cr_expect_str_eq(why, "bad request: no entity id");
    cr_expect_eq(call_raw(sim, 0, ADD, big, w.len + 60, &v, why, sizeof why), 1);
    cr_expect_str_eq(why, "bad request: body too long");
    cr_expect_eq(call_until(sim, 0, ADD, 1, 1, &v, 10), 0); /* activate id 1 */
    cr_expect_eq(call_raw(sim, last.node - 1, ADD, big, w.len, &v, why, sizeof why), 1);
    cr_expect_str_eq(why, "invalid argument"); /* the handler's error, as text */
    /* the host's own types with garbage: dropped, nothing answered, nothing broken */
    for (uint32_t k = TR__ENTITY_TICK; k < TR_ENTITY_MSG_COUNT; k++) {
        tr_msg *reply = NULL;
        int rc = tr_sim_request(sim, 0, "ctr", BASE + k, "\x93\xff\xff\xff", 4, 200 * MS, &reply);
        cr_expect_eq(rc, TR_ETIMEDOUT, "type base+%u answered garbage", k);
        tr_msg_free(reply);
    }
    cr_expect_eq(call_until(sim, 0, GET, 1, 0, &v, 10), 0);
    cr_expect_eq(v, 1);
    tr_sim_destroy(sim);
}

/* A full activation table passivates the idlest activation for a new one: 257 entities of one
 * shard (one owner), then the first is activated again from its durable state. */
Test(entity, a_full_table_passivates_the_idlest) {
    bugs = 0;
    tr_sim *sim = start(7);
    int64_t v = 0;
    char why[64] = "";
    for (int64_t k = 0; k < TR_ENTITY_ACTIVE_MAX; k++) {
        cr_assert_eq(call_until(sim, 0, ADD, k * TR_ENTITY_SHARDS, k + 1, &v, 10), 0, "entity %lld",
                     (long long)(k * TR_ENTITY_SHARDS));
        cr_assert_eq(v, k + 1);
    }
    /* at once, before any activation has been idle for passivate_ms */
    int64_t id = TR_ENTITY_ACTIVE_MAX * TR_ENTITY_SHARDS;
    cr_assert_eq(call(sim, 0, ADD, id, TR_ENTITY_ACTIVE_MAX + 1, &v, why, sizeof why), 0, "%s",
                 why);
    cr_assert_eq(call_until(sim, 0, GET, 0, 0, &v, 10), 0);
    cr_expect_eq(v, 1);
    cr_expect_eq(last.handled, 0, "the idlest activation was not the one passivated");
    cr_assert_eq(call_until(sim, 0, GET, TR_ENTITY_ACTIVE_MAX * TR_ENTITY_SHARDS, 0, &v, 10), 0);
    cr_expect_eq(v, TR_ENTITY_ACTIVE_MAX + 1);
    cr_expect_eq(last.handled, 1, "the newest activation was passivated");
    tr_sim_destroy(sim);
}

/* The same request delivered twice (same sender and correlation id, as a network duplicate)
 * is handled once. */
Test(entity, a_duplicated_request_is_handled_once) {
    bugs = 0;
    tr_sim *sim = start(8);
    int64_t v = 0;
    cr_assert_eq(call_until(sim, 0, ADD, 2, 10, &v, 10), 0);
    tr_node *owner = tr_sim_node(sim, last.node - 1);
    tr_addr host;
    cr_assert_eq(tr_node_lookup(owner, "ctr", &host), 0);
    const uint8_t body[] = {0x92, 0x02, 0x01}; /* [2, 1] */
    for (int copy = 0; copy < 2; copy++) {
        cr_assert_eq(tr_node_send_corr(owner, host, ADD, 4242, body, sizeof body), 0);
    }
    tr_sim_run_for(sim, SEC);
    cr_assert_eq(call_until(sim, 0, GET, 2, 0, &v, 10), 0);
    cr_expect_eq(v, 11, "the duplicate was applied: %lld", (long long)v);
    tr_sim_destroy(sim);
}
