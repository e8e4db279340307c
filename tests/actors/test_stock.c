/* The "stock" actor on the simulator: reservations, idempotency per reservation id (retry
 * and duplicated message), durability across crashes, the bounded ledger window, hostile
 * requests, and the two planted bugs doing what they are planted for. */
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
    tr_stock_opts so = {.peer_count = NODES, .peer_names = names, .bugs = x->bugs, .initial = 5};
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
    if (msg->type == TR_STOCK_REPLY &&
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

static void wait_for(uint32_t n) {
    tr_sim_run_until(w.sim, all_got, &n, tr_sim_now_ns(w.sim) + 3 * SEC);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert(got[i], "no reply in slot %u", i);
    }
}

/* One request from `node`, waited for; the reply is replies[0]. */
static tr_stock_reply op(uint32_t node, uint32_t type, uint32_t item, int64_t qty, uint64_t id) {
    send_op(0, node, type, item, qty, id);
    wait_for(1);
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
    /* item 1 is owned by n2; ask through n1 and n3 (forwarded) and n2 itself */
    tr_stock_reply r = op(0, TR_STOCK_RESERVE, 1, 3, tr__stock_id(1, 1));
    cr_assert(r.ok && r.level == 2, "%s %ld", r.error, (long)r.level);
    r = op(2, TR_STOCK_RESERVE, 1, 3, tr__stock_id(1, 2));
    cr_assert(!r.ok && !r.indeterminate);
    cr_assert_str_eq(r.error, "out of stock");
    r = op(1, TR_STOCK_RESTOCK, 1, 4, tr__stock_id(2, 1));
    cr_assert(r.ok && r.level == 6);
    cr_assert_eq(level(2, 1), 6);
    cr_assert_eq(level(0, 0), 5, "other items untouched");
    stop();
}

Test(stock, a_retried_reservation_id_is_charged_once_and_gets_the_original_answer) {
    start(0, 0);
    uint64_t id = tr__stock_id(7, 1);
    tr_stock_reply r = op(0, TR_STOCK_RESERVE, 2, 2, id);
    cr_assert(r.ok && r.level == 3);
    for (uint32_t node = 0; node < NODES; node++) {
        r = op(node, TR_STOCK_RESERVE, 2, 2, id);
        cr_assert(r.ok && r.level == 3, "retry through n%u: %s %ld", node + 1, r.error,
                  (long)r.level);
    }
    cr_assert_eq(level(0, 2), 3);
    /* a refused id stays refused, even after a restock */
    uint64_t big = tr__stock_id(7, 2);
    r = op(0, TR_STOCK_RESERVE, 2, 5, big);
    cr_assert(!r.ok);
    cr_assert(op(1, TR_STOCK_RESTOCK, 2, 10, tr__stock_id(8, 1)).ok);
    r = op(0, TR_STOCK_RESERVE, 2, 5, big);
    cr_assert(!r.ok && !r.indeterminate, "a retry must not turn a refusal into a charge");
    cr_assert_eq(level(2, 2), 13);
    /* restocks are idempotent too */
    cr_assert(op(1, TR_STOCK_RESTOCK, 2, 10, tr__stock_id(8, 1)).ok);
    cr_assert_eq(level(2, 2), 13);
    stop();
}

Test(stock, double_charge_bug_charges_a_retry_again) {
    start(TR_STOCK_BUG_DOUBLE_CHARGE, 0);
    uint64_t id = tr__stock_id(7, 1);
    cr_assert(op(0, TR_STOCK_RESERVE, 2, 2, id).ok);
    tr_stock_reply r = op(1, TR_STOCK_RESERVE, 2, 2, id);
    cr_assert(r.ok && r.level == 1, "the planted bug must charge twice: %ld", (long)r.level);
    stop();
}

/* Every remote message delivered twice: the owner sees each forwarded request twice. */
Test(stock, duplicated_messages_are_charged_once) {
    for (int bug = 0; bug < 2; bug++) {
        start(bug ? TR_STOCK_BUG_DOUBLE_CHARGE : 0, 1.0);
        tr_stock_reply r = op(0, TR_STOCK_RESERVE, 1, 2, tr__stock_id(3, 1)); /* n1 -> n2 */
        cr_assert(r.ok);
        tr_sim_run_for(w.sim, 100 * MS);
        cr_assert_eq(level(1, 1), bug ? 1 : 3, "bug %d", bug);
        stop();
    }
}

Test(stock, committed_levels_and_ledger_survive_crashes_of_every_node) {
    start(0, 0);
    uint64_t id = tr__stock_id(4, 1);
    cr_assert(op(0, TR_STOCK_RESERVE, 0, 4, id).ok); /* item 0 owned by n1 */
    cr_assert(op(2, TR_STOCK_RESTOCK, 2, 7, tr__stock_id(4, 2)).ok);
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_crash(w.sim, i), 0);
    }
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(tr_sim_restart(w.sim, i), 0);
    }
    cr_assert_eq(level(1, 0), 1);
    cr_assert_eq(level(1, 2), 12);
    tr_stock_reply r = op(1, TR_STOCK_RESERVE, 0, 4, id); /* the retry after the crash */
    cr_assert(r.ok && r.level == 1, "%s %ld", r.error, (long)r.level);
    cr_assert_eq(level(0, 0), 1);
    stop();
}

Test(stock, an_owner_crash_makes_forwarded_ops_indeterminate_then_they_resolve) {
    start(0, 0);
    cr_assert_eq(tr_sim_crash(w.sim, 1), 0); /* n2 owns item 1 */
    tr_stock_reply r = op(0, TR_STOCK_RESERVE, 1, 1, tr__stock_id(5, 1));
    cr_assert(!r.ok && r.indeterminate, "%s", r.error);
    r = op(0, TR_STOCK_READ, 1, 0, 0);
    cr_assert(!r.ok && !r.indeterminate, "a read that failed changed nothing");
    cr_assert_eq(tr_sim_restart(w.sim, 1), 0);
    r = op(0, TR_STOCK_RESERVE, 1, 1, tr__stock_id(5, 1));
    cr_assert(r.ok && r.level == 4);
    stop();
}

Test(stock, the_ledger_window_is_bounded_and_old_ids_expire) {
    start(0, 0);
    cr_assert(op(0, TR_STOCK_RESTOCK, 0, 1000, tr__stock_id(9, 1)).ok);
    uint32_t last = TR_STOCK_LEDGER_WINDOW + 1;
    for (uint32_t seq = 2; seq <= last; seq++) {
        cr_assert(op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(9, seq)).ok);
    }
    int64_t before = level(0, 0);
    /* seq 1 is now out of the window: its fate is no longer known */
    tr_stock_reply r = op(0, TR_STOCK_RESTOCK, 0, 1000, tr__stock_id(9, 1));
    cr_assert(!r.ok && r.indeterminate);
    cr_assert_str_eq(r.error, "id expired");
    /* seq 2 is the oldest still remembered */
    r = op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(9, 2));
    cr_assert(r.ok);
    cr_assert_eq(level(0, 0), before);
    /* another client sharing the slot takes it over; ours is then forgotten */
    uint32_t other = 9 + TR_STOCK_LEDGER_SLOTS;
    cr_assert(op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(other, 1)).ok);
    cr_assert(op(0, TR_STOCK_RESERVE, 0, 1, tr__stock_id(9, last)).ok);
    cr_assert_eq(level(0, 0), before - 2, "the evicted client's retry is a new request");
    stop();
}

Test(stock, hostile_requests_get_bad_request_and_the_service_keeps_serving) {
    start(0, 0);
    const uint8_t junk[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc1};
    const uint8_t not_a_map[] = {0x93, 0x01, 0x02, 0x03};
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    send_raw(0, 0, TR_STOCK_RESERVE, junk, sizeof junk);
    wait_for(1);
    cr_assert(!replies[0].ok && !replies[0].indeterminate);
    cr_assert_str_eq(replies[0].error, "bad request");
    send_raw(0, 1, TR_STOCK_READ, not_a_map, sizeof not_a_map);
    wait_for(1);
    cr_assert_str_eq(replies[0].error, "bad request");
    const tr_stock_request bad[] = {
        {.item = 1, .has_qty = true, .qty = 2},                /* no id */
        {.item = 1, .has_id = true, .id = tr__stock_id(1, 1)}, /* no qty */
        {.item = 1, .has_qty = true, .qty = 0, .has_id = true, .id = tr__stock_id(1, 1)},
        {.item = 1, .has_qty = true, .qty = 1, .has_id = true, .id = 5}, /* client 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tr__stock_request_encode(body, sizeof body, &bad[i], &len), 0);
        send_raw(0, 2, TR_STOCK_RESERVE, body, len);
        wait_for(1);
        cr_assert_str_eq(replies[0].error, "bad request", "case %zu", i);
    }
    /* the oversell bug's internal unconditional charge is not for clients */
    tr_stock_reply r = op(1, TR_STOCK_DEBIT, 1, 50, tr__stock_id(1, 9));
    cr_assert(!r.ok);
    cr_assert_str_eq(r.error, "bad request");
    cr_assert_eq(level(1, 1), 5);
    cr_assert(op(2, TR_STOCK_RESERVE, 1, 1, tr__stock_id(1, 1)).ok);
    stop();
}

/* Two reservations of 3 from 5 in flight together, from two nodes. */
static void race(uint32_t bugs, bool *both_ok, int64_t *final) {
    start(bugs, 0);
    send_op(0, 0, TR_STOCK_RESERVE, 1, 3, tr__stock_id(1, 1));
    send_op(1, 2, TR_STOCK_RESERVE, 1, 3, tr__stock_id(2, 1));
    wait_for(2);
    *both_ok = replies[0].ok && replies[1].ok;
    *final = level(1, 1);
    stop();
}

Test(stock, concurrent_reservations_never_oversell_and_the_planted_bug_does) {
    bool both;
    int64_t final;
    race(0, &both, &final);
    cr_assert(!both);
    cr_assert_eq(final, 2);
    race(TR_STOCK_BUG_OVERSELL, &both, &final);
    cr_assert(both, "the planted check-then-act must let both through");
    cr_assert_eq(final, -1);
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
    cr_assert(rep.ok && rep.level == -3);
    cr_assert_eq(tr__stock_reply_encode_err(buf, sizeof buf, "busy", true, &len), 0);
    cr_assert_eq(tr__stock_reply_decode(buf, len, &rep), 0);
    cr_assert(!rep.ok && rep.indeterminate);
    cr_assert_str_eq(rep.error, "busy");
    const uint8_t ok_without_level[] = {0x81, 0xa2, 'o', 'k', 0xc3};
    cr_assert_eq(tr__stock_reply_decode(ok_without_level, sizeof ok_without_level, &rep),
                 TR_EPROTO);
    tr_stock_arg arg;
    tr_stock_opts bad = {.peer_count = 2, .peer_names = names, .initial = -1};
    cr_assert_eq(tr__stock_arg_init(&arg, &bad), TR_EINVAL);
    const char *const at[] = {"n1", "n@2"};
    tr_stock_opts bad2 = {.peer_count = 2, .peer_names = at};
    cr_assert_eq(tr__stock_arg_init(&arg, &bad2), TR_EINVAL);
}
