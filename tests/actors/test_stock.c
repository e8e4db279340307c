/* The "stock" entities on the simulator: reservations, idempotency per reservation id (retry,
 * duplicated message, and a retry that meets the item on another node after its node died),
 * durability across crashes, the bounded ledger, hostile requests, and the planted bugs doing
 * what they are planted for. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "actors/stock.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define NODES 3

static const char *const names[] = {"n1", "n2", "n3"};

typedef struct world {
    tr_sim *sim;
    uint32_t bugs;
} world;

static world w;

static int boot(tr_node *node, void *ud) {
    world *x = ud;
    tr_stock_opts so = {.peer_count = NODES, .peer_names = names, .bugs = x->bugs};
    return tr__stock_boot(node, &so);
}

static void start(uint32_t bugs, double dup_prob) {
    tr_sim_config cfg;
    memset(&w, 0, sizeof w);
    w.bugs = bugs;
    tr_sim_config_init(&cfg);
    cfg.net = TR_SIM_NET_ORACLE; /* duplicated messages and exact crash timings are the oracle's */
    cfg.nodes = NODES;
    cfg.boot = boot;
    cfg.boot_ud = &w;
    cfg.dup_prob = dup_prob;
    cr_assert_eq(tr_sim_create(&cfg, &w.sim), 0);
    tr_sim_run_for(w.sim, 3 * SEC); /* a Raft leader, the placement table, the leases */
}

static void stop(void) {
    tr_sim_destroy(w.sim);
}

/* ---- a one-shot requester ----------------------------------------------------------- */

#define SLOTS 4
static tr_stock_reply replies[SLOTS];
static bool got[SLOTS];

typedef struct one_req {
    uint32_t slot;
    uint32_t type;
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
} one_req;

typedef struct one_state {
    uint32_t slot;
} one_state;

static int one_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    const one_req *r = arg;
    uint64_t corr;
    (void)len;
    ((one_state *)state)->slot = r->slot;
    return tr_request_name(ctx, "stock", r->type, r->body, r->len, 2000, &corr);
}

static int one_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    uint32_t slot = ((one_state *)state)->slot;
    (void)ctx;
    /* the host answers with the request's type */
    if (msg->type != TR_MSG_TIMEOUT &&
        tr__stock_reply_decode(msg->body, msg->body_len, &replies[slot]) == 0) {
        got[slot] = true;
    }
    return TR_STOP;
}

static const tr_behaviour one_behaviour = {
    .name = "one", .state_size = sizeof(one_state), .init = one_init, .receive = one_receive};

static bool all_got(tr_sim *sim, void *ud) {
    (void)sim;
    uint32_t n = *(uint32_t *)ud;
    for (uint32_t i = 0; i < n; i++) {
        if (!got[i]) {
            return false;
        }
    }
    return true;
}

/* Spawns a requester for slot on node; does not run the sim. */
static void send_raw(uint32_t slot, uint32_t node, uint32_t type, const void *body, size_t len) {
    one_req r = {.slot = slot, .type = type, .len = len};
    memcpy(r.body, body, len);
    got[slot] = false;
    cr_assert_eq(tr_node_spawn(tr_sim_node(w.sim, node), &one_behaviour, NULL, &r, sizeof r, NULL),
                 0);
}

static void send_op(uint32_t slot, uint32_t node, uint32_t type, uint32_t item, int64_t qty,
                    uint64_t id) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    tr_stock_request rq = {.item = item,
                           .has_qty = type != TR_STOCK_READ,
                           .has_id = type != TR_STOCK_READ,
                           .qty = qty,
                           .id = id};
    cr_assert_eq(tr__stock_request_encode(body, sizeof body, &rq, &len), 0);
    send_raw(slot, node, type, body, len);
}

static bool wait_quiet(uint32_t n) {
    tr_sim_run_until(w.sim, all_got, &n, tr_sim_now_ns(w.sim) + 3 * SEC);
    return all_got(w.sim, &n);
}

static void wait_for(uint32_t n) {
    cr_assert(wait_quiet(n), "no reply");
}

/* One request from `node`, waited for; the reply is replies[0]. The host's answers that say
 * the request was not handled ("unavailable": no owner with a lease yet), and no answer (a
 * forward to a node that died), are retried, 20 attempts at most. */
static tr_stock_reply op(uint32_t node, uint32_t type, uint32_t item, int64_t qty, uint64_t id) {
    for (int i = 0; i < 20; i++) {
        send_op(0, node, type, item, qty, id);
        if (wait_quiet(1) &&
            (!replies[0].from_host || strcmp(replies[0].error, "unavailable") != 0)) {
            return replies[0];
        }
        tr_sim_run_for(w.sim, 500 * MS);
    }
    cr_assert_fail("no answer but \"unavailable\" in 20 attempts");
    return replies[0];
}

static int64_t level(uint32_t node, uint32_t item) {
    tr_stock_reply r = op(node, TR_STOCK_READ, item, 0, 0);
    cr_assert(r.ok, "read: %s", r.error);
    return r.level;
}

/* ---- tests -------------------------------------------------------------------------- */

Test(stock, reserve_restock_and_out_of_stock_through_any_node) {
    start(0, 0);
    tr_stock_reply r = op(0, TR_STOCK_RESERVE, 1, 8, tr__stock_id(1, 1));
    cr_assert(r.ok && r.level == 2, "%s %ld", r.error, (long)r.level);
    r = op(2, TR_STOCK_RESERVE, 1, 3, tr__stock_id(1, 2));
    cr_assert(!r.ok && !r.indeterminate);
    cr_assert_str_eq(r.error, "out of stock");
    r = op(1, TR_STOCK_RESTOCK, 1, 4, tr__stock_id(2, 1));
    cr_assert(r.ok && r.level == 6);
    cr_assert_eq(level(2, 1), 6);
    cr_assert_eq(level(0, 0), TR_STOCK_INITIAL, "other items untouched");
    stop();
}

Test(stock, a_retried_reservation_id_is_charged_once_and_gets_the_original_answer) {
    start(0, 0);
    uint64_t id = tr__stock_id(7, 1);
    tr_stock_reply r = op(0, TR_STOCK_RESERVE, 2, 2, id);
    cr_assert(r.ok && r.level == 8);
    for (uint32_t node = 0; node < NODES; node++) {
        r = op(node, TR_STOCK_RESERVE, 2, 2, id);
        cr_assert(r.ok && r.level == 8, "retry through n%u: %s %ld", node + 1, r.error,
                  (long)r.level);
    }
    cr_assert_eq(level(0, 2), 8);
    /* a refused id stays refused, even after a restock */
    uint64_t big = tr__stock_id(7, 2);
    r = op(0, TR_STOCK_RESERVE, 2, 9, big);
    cr_assert(!r.ok);
    cr_assert(op(1, TR_STOCK_RESTOCK, 2, 10, tr__stock_id(8, 1)).ok);
    r = op(0, TR_STOCK_RESERVE, 2, 9, big);
    cr_assert(!r.ok && !r.indeterminate, "a retry must not turn a refusal into a charge");
    cr_assert_eq(level(2, 2), 18);
    /* restocks are idempotent too */
    cr_assert(op(1, TR_STOCK_RESTOCK, 2, 10, tr__stock_id(8, 1)).ok);
    cr_assert_eq(level(2, 2), 18);
    stop();
}

Test(stock, double_charge_bug_charges_a_retry_again) {
    start(TR_STOCK_BUG_DOUBLE_CHARGE, 0);
    uint64_t id = tr__stock_id(7, 1);
    cr_assert(op(0, TR_STOCK_RESERVE, 2, 2, id).ok);
    tr_stock_reply r = op(1, TR_STOCK_RESERVE, 2, 2, id);
    cr_assert(r.ok && r.level == 6, "the planted bug must charge twice: %ld", (long)r.level);
    stop();
}

/* Every remote message delivered twice: a request through a node that does not hold item 1
 * reaches the one that does twice, and is charged once, even by the double-charge handler
 * (the entity host drops a request the network delivered twice; the ledger is for retries). */
Test(stock, duplicated_messages_are_charged_once) {
    for (int bug = 0; bug < 2; bug++) {
        start(bug ? TR_STOCK_BUG_DOUBLE_CHARGE : 0, 1.0);
        for (uint32_t node = 0; node < NODES; node++) {
            cr_assert(op(node, TR_STOCK_RESERVE, 1, 1, tr__stock_id(3, node + 1)).ok);
        }
        tr_sim_run_for(w.sim, 100 * MS);
        cr_assert_eq(level(1, 1), TR_STOCK_INITIAL - NODES, "bug %d", bug);
        stop();
    }
}

Test(stock, committed_levels_and_ledger_survive_crashes_of_every_node) {
    start(0, 0);
    uint64_t id = tr__stock_id(4, 1);
    cr_assert(op(0, TR_STOCK_RESERVE, 0, 4, id).ok);
    cr_assert(op(2, TR_STOCK_RESTOCK, 2, 7, tr__stock_id(4, 2)).ok);
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_crash(w.sim, i), 0);
    }
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_restart(w.sim, i), 0);
    }
    cr_assert_eq(level(1, 0), 6);
    cr_assert_eq(level(1, 2), 17);
    tr_stock_reply r = op(1, TR_STOCK_RESERVE, 0, 4, id); /* the retry after the crash */
    cr_assert(r.ok && r.level == 6, "%s %ld", r.error, (long)r.level);
    cr_assert_eq(level(0, 0), 6);
    stop();
}

/* An item stays available when its node dies: item 1's shard is on n2 (the first assignment);
 * n2 crashes and stays down; after its lease lapses the item is activated on a live node from
 * its durable state, with its level and its ledger: the retry of a reservation n2 applied gets
 * the original answer, not a second charge. */
Test(stock, an_item_moves_with_its_level_and_ledger_when_its_node_dies) {
    start(0, 0);
    uint64_t id = tr__stock_id(5, 1);
    tr_stock_reply r = op(1, TR_STOCK_RESERVE, 1, 3, id);
    cr_assert(r.ok && r.level == 7, "%s %ld", r.error, (long)r.level);
    cr_assert_eq(tr_sim_crash(w.sim, 1), 0);
    r = op(0, TR_STOCK_RESERVE, 1, 3, id); /* retried until a live node holds the item */
    cr_assert(r.ok && r.level == 7, "the retry after the move: %s %ld", r.error, (long)r.level);
    cr_assert_eq(level(2, 1), 7, "charged once");
    r = op(2, TR_STOCK_RESERVE, 1, 2, tr__stock_id(5, 2));
    cr_assert(r.ok && r.level == 5, "a new reservation on the new node: %s", r.error);
    cr_assert_eq(level(0, 1), 5);
    stop();
}

/* The ledger keeps the results of an item's last TR_STOCK_LEDGER_RESULTS ids; an evicted id
 * answers "id expired" (never a second charge), the eviction records are bounded too, and the
 * oldest folds into a bound that errs on the side of "id expired". */
Test(stock, the_ledger_is_bounded_and_evicted_ids_expire) {
    start(0, 0);
    cr_assert(op(0, TR_STOCK_RESTOCK, 0, 1000, tr__stock_id(9, 1)).ok);
    uint32_t last = TR_STOCK_LEDGER_RESULTS + 1;
    for (uint32_t seq = 2; seq <= last; seq++) {
        cr_assert(op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(9, seq)).ok);
    }
    int64_t before = level(0, 0);
    tr_stock_reply r = op(0, TR_STOCK_RESTOCK, 0, 1000, tr__stock_id(9, 1)); /* evicted */
    cr_assert(!r.ok && r.indeterminate);
    cr_assert_str_eq(r.error, "id expired");
    r = op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(9, 2)); /* the oldest remembered */
    cr_assert(r.ok);
    cr_assert_eq(level(0, 0), before);
    /* one id each of clients 100.. evicts client 9's ids and then fills the eviction records */
    uint32_t clients = TR_STOCK_LEDGER_RESULTS + TR_STOCK_LEDGER_EVICTED + 1;
    for (uint32_t c = 0; c < clients; c++) {
        cr_assert(op(1, TR_STOCK_RESERVE, 0, 1, tr__stock_id(100 + c, 50)).ok, "client %u", c);
    }
    before = level(0, 0);
    r = op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(9, 3)); /* client 9's record folded */
    cr_assert(!r.ok && r.indeterminate, "%s", r.error);
    r = op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(5000, 50)); /* unknown client, seq <= 50 */
    cr_assert(!r.ok && r.indeterminate, "%s", r.error);
    r = op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(5000, 51)); /* above every eviction */
    cr_assert(r.ok, "%s", r.error);
    cr_assert_eq(level(0, 0), before - 1);
    stop();
}

Test(stock, hostile_requests_get_bad_request_and_the_service_keeps_serving) {
    start(0, 0);
    const uint8_t junk[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc1};
    const uint8_t not_a_map[] = {0x93, 0x01, 0x02, 0x03};
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    /* no item: the host cannot tell the entity */
    send_raw(0, 0, TR_STOCK_RESERVE, junk, sizeof junk);
    wait_for(1);
    cr_assert(!replies[0].ok && !replies[0].indeterminate && replies[0].from_host);
    cr_assert(strncmp(replies[0].error, "bad request", 11) == 0, "%s", replies[0].error);
    send_raw(0, 1, TR_STOCK_READ, not_a_map, sizeof not_a_map);
    wait_for(1);
    cr_assert(strncmp(replies[0].error, "bad request", 11) == 0, "%s", replies[0].error);
    const tr_stock_request bad[] = {
        {.item = 1, .has_qty = true, .qty = 2},                /* no id */
        {.item = 1, .has_id = true, .id = tr__stock_id(1, 1)}, /* no qty */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tr__stock_request_encode(body, sizeof body, &bad[i], &len), 0);
        send_raw(0, 2, TR_STOCK_RESERVE, body, len);
        wait_for(1);
        cr_assert_str_eq(replies[0].error, "bad request", "case %zu", i);
        cr_assert(!replies[0].from_host, "the item's own answer");
    }
    /* out-of-range qty or id: refused before it reaches an item */
    const tr_stock_request worse[] = {
        {.item = 1, .has_qty = true, .qty = 0, .has_id = true, .id = tr__stock_id(1, 1)},
        {.item = 1, .has_qty = true, .qty = 1, .has_id = true, .id = 5}, /* client 0 */
    };
    for (size_t i = 0; i < sizeof worse / sizeof worse[0]; i++) {
        cr_assert_eq(tr__stock_request_encode(body, sizeof body, &worse[i], &len), 0);
        send_raw(0, 2, TR_STOCK_RESERVE, body, len);
        wait_for(1);
        cr_assert(strncmp(replies[0].error, "bad request", 11) == 0, "%s", replies[0].error);
    }
    /* the oversell bug's internal unconditional charge is not for clients */
    tr_stock_reply r = op(1, TR_STOCK_DEBIT, 1, 50, tr__stock_id(1, 9));
    cr_assert(!r.ok);
    cr_assert_str_eq(r.error, "bad request");
    cr_assert_eq(level(1, 1), TR_STOCK_INITIAL);
    cr_assert(op(2, TR_STOCK_RESERVE, 1, 1, tr__stock_id(1, 1)).ok);
    stop();
}

/* Two reservations of 6 from 10 in flight together, from two nodes. */
static void race(uint32_t bugs, bool *both_ok, int64_t *final) {
    start(bugs, 0);
    send_op(0, 0, TR_STOCK_RESERVE, 1, 6, tr__stock_id(1, 1));
    send_op(1, 2, TR_STOCK_RESERVE, 1, 6, tr__stock_id(2, 1));
    wait_for(2);
    *both_ok = replies[0].ok && replies[1].ok;
    tr_sim_run_for(w.sim, 100 * MS);
    *final = level(1, 1);
    stop();
}

Test(stock, concurrent_reservations_never_oversell_and_the_planted_bug_does) {
    bool both;
    int64_t final;
    race(0, &both, &final);
    cr_assert(!both);
    cr_assert_eq(final, 4);
    race(TR_STOCK_BUG_OVERSELL, &both, &final);
    cr_assert(both, "the planted check-then-act must let both through");
    cr_assert_eq(final, -2);
}

Test(stock, unsaved_charge_bug_answers_a_charge_it_never_keeps) {
    start(TR_STOCK_BUG_UNSAVED_CHARGE, 0);
    tr_stock_reply r = op(0, TR_STOCK_RESERVE, 1, 3, tr__stock_id(1, 1));
    cr_assert(r.ok && r.level == 7);
    cr_assert_eq(level(2, 1), TR_STOCK_INITIAL, "the acknowledged charge is nowhere");
    stop();
}

Test(stock, codec_round_trips_and_rejects_bad_replies) {
    uint8_t buf[TR_STOCK_BODY_MAX];
    size_t len;
    tr_stock_request rq = {.item = 4000000000u,
                           .has_qty = true,
                           .qty = 7,
                           .has_id = true,
                           .id = tr__stock_id(3, 9)},
                     back;
    cr_assert_eq(tr__stock_request_encode(buf, sizeof buf, &rq, &len), 0);
    cr_assert_eq(tr__stock_request_decode(buf, len, &back), 0);
    cr_assert(back.item == rq.item && back.qty == 7 && back.id == rq.id);
    cr_assert_eq(tr__stock_request_decode(buf, len - 1, &back), TR_EPROTO);
    tr_stock_reply rep;
    cr_assert_eq(tr__stock_reply_encode_ok(buf, sizeof buf, -3, &len), 0);
    cr_assert_eq(tr__stock_reply_decode(buf, len, &rep), 0);
    cr_assert(rep.ok && rep.level == -3 && !rep.from_host);
    cr_assert_eq(tr__stock_reply_encode_err(buf, sizeof buf, "id expired", true, &len), 0);
    cr_assert_eq(tr__stock_reply_decode(buf, len, &rep), 0);
    cr_assert(!rep.ok && rep.indeterminate);
    cr_assert_str_eq(rep.error, "id expired");
    const uint8_t ok_without_level[] = {0x81, 0xa2, 'o', 'k', 0xc3};
    cr_assert_eq(tr__stock_reply_decode(ok_without_level, sizeof ok_without_level, &rep),
                 TR_EPROTO);
    const uint8_t host_indeterminate[] = {0xad, 'i', 'n', 'd', 'e', 't', 'e',
                                          'r',  'm', 'i', 'n', 'a', 't', 'e'};
    cr_assert_eq(tr__stock_reply_decode(host_indeterminate, sizeof host_indeterminate, &rep), 0);
    cr_assert(!rep.ok && rep.indeterminate && rep.from_host);
    const uint8_t host_busy[] = {0xa4, 'b', 'u', 's', 'y'};
    cr_assert_eq(tr__stock_reply_decode(host_busy, sizeof host_busy, &rep), 0);
    cr_assert(!rep.ok && !rep.indeterminate && rep.from_host);
    cr_assert_str_eq(rep.error, "busy");
    uint8_t arg[2048];
    const char *const at[] = {"n1", "n@2"};
    tr_stock_opts bad = {.peer_count = 2, .peer_names = at};
    cr_assert_eq(tr__stock_host_arg(&bad, 0, arg, sizeof arg, &len), TR_EINVAL);
    tr_stock_opts good = {.peer_count = 2, .peer_names = names};
    cr_assert_eq(tr__stock_host_arg(&good, 2, arg, sizeof arg, &len), TR_EINVAL);
    cr_assert_eq(tr__stock_host_arg(&good, 1, arg, sizeof arg, &len), 0);
}
