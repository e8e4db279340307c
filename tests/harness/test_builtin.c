/* The built-in services' descriptors (harness/builtin.h): each is a valid service, the table
 * finds them by name, and their spawn arguments carry the environment's peers and the
 * planted bug's bits. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/registers.h"
#include "actors/stock.h"
#include "harness/builtin.h"
#include "harness/service.h"
#include "harness/check_common.h"

static const char *const names3[] = {"n1", "n2", "n3"};

static tr_service_env env3(const char *bug) {
    return (tr_service_env){.node_index = 1,
                            .node_count = 3,
                            .node_name = "n2",
                            .node_names = names3,
                            .bug = bug,
                            .simulated = false};
}

Test(builtin, every_builtin_is_a_valid_service_found_by_name) {
    const char *want[] = {"echo", "proxy",  "kv",     "cp",      "ap",  "stock",
                          "lock", "lin-kv", "pubsub", "catalog", "shop"};
    /* the first actor; the catalog and the shop list the node's topics broker first */
    const char *actor[] = {"echo", "proxy", "kv",     "cp",     "ap",    "stock",
                           "lock", "linkv", "topics", "topics", "topics"};
    cr_assert_eq(TR__BUILTIN_COUNT, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < TR__BUILTIN_COUNT; i++) {
        char err[256];
        const tr_service *svc = tr__builtin_services[i];
        cr_assert_eq(tr_service_validate(svc, err, sizeof err), 0, "%s: %s", svc->name, err);
        cr_assert_str_eq(svc->name, want[i]);
        cr_assert_eq(tr__builtin_find(want[i]), svc);
        cr_assert_str_eq(svc->actors[0].name, actor[i], "the actor is registered as before");
    }
    cr_assert_null(tr__builtin_find("nope"));
    cr_assert_null(tr__builtin_find(NULL));
}

Test(builtin, request_names_give_the_documented_types) {
    uint32_t t = 0;
    cr_assert_eq(tr__service_request_type(&tr__builtin_cp, "read", &t), 0);
    cr_assert_eq(t, 512);
    cr_assert_eq(tr__service_request_type(&tr__builtin_ap, "write", &t), 0);
    cr_assert_eq(t, 513);
    cr_assert_eq(tr__service_request_type(&tr__builtin_stock, "reserve", &t), 0);
    cr_assert_eq(t, TR_STOCK_RESERVE);
    cr_assert_eq(tr__service_request_type(&tr__builtin_stock, "read", &t), 0);
    cr_assert_eq(t, TR_STOCK_READ);
    cr_assert_eq(tr__service_request_type(&tr__builtin_kv, "put", &t), 0);
    cr_assert_eq(t, TR_MSG_USER);
    cr_assert_eq(tr__service_request_type(&tr__builtin_cp, "reserve", &t), TR_ENOENT);
}

/* The argument of the one actor of svc in env. */
static size_t arg_of(const tr_service *svc, const tr_service_env *env, void *buf, size_t cap) {
    size_t len = 0;
    cr_assert_not_null(svc->actors[0].arg, "%s has an argument", svc->name);
    cr_assert_eq(svc->actors[0].arg(env, buf, cap, &len), 0);
    return len;
}

Test(builtin, register_arguments_carry_the_peers_and_the_planted_bug) {
    tr_register_arg a;
    tr_service_env env = env3(NULL);
    cr_assert_eq(arg_of(&tr__builtin_cp, &env, &a, sizeof a), sizeof a);
    cr_assert_eq(a.peer_count, 3);
    cr_assert_str_eq(a.peers[0], "n1");
    cr_assert_str_eq(a.peers[2], "n3");
    cr_assert_eq(a.bugs, 0);
    cr_assert_eq(a.quorum_timeout_ms, 300, "the defaults tr__registers_boot gives");
    cr_assert_eq(a.gossip_ms, 100);
    env = env3("stale-read");
    arg_of(&tr__builtin_cp, &env, &a, sizeof a);
    cr_assert_eq(a.bugs, TR_REG_BUG_STALE_READ);
    env = env3("no-write-back");
    arg_of(&tr__builtin_cp, &env, &a, sizeof a);
    cr_assert_eq(a.bugs, TR_REG_BUG_NO_WRITE_BACK);
    arg_of(&tr__builtin_ap, &env, &a, sizeof a);
    cr_assert_eq(a.bugs, 0, "a cp bug is not ap's");
    env = env3("no-anti-entropy");
    arg_of(&tr__builtin_ap, &env, &a, sizeof a);
    cr_assert_eq(a.bugs, TR_REG_BUG_NO_ANTI_ENTROPY);
    size_t len = 0;
    cr_assert_eq(tr__builtin_cp.actors[0].arg(&env, &a, sizeof a - 1, &len), TR_ETOOBIG);
}

/* The stock hosts' argument is the entity host's, for the handler of the planted bug. */
Test(builtin, stock_argument_is_the_entity_hosts_for_the_bugs_handler) {
    uint8_t a[2048], b[2048];
    size_t la = 0, lb = 0;
    tr_service_env env = env3("double-charge");
    cr_assert_eq(tr__builtin_stock.actors[0].arg(&env, a, sizeof a, &la), 0);
    tr_service_env plain = env; /* stock's handlers take no bug name: each bug is a type */
    plain.bug = NULL;
    cr_assert_eq(tr_entity_host_arg(tr__stock_type_of(TR_STOCK_BUG_DOUBLE_CHARGE), &plain, 0, b,
                                    sizeof b, &lb),
                 0);
    cr_assert(la == lb && memcmp(a, b, la) == 0);
    cr_assert_neq(tr__stock_type_of(TR_STOCK_BUG_DOUBLE_CHARGE), tr__stock_type_of(0));
    cr_assert_eq(tr__builtin_stock.actors[0].behaviour, &tr_entity_host);
    cr_assert_eq(tr__builtin_stock.actors[0].arg(&env, a, 16, &la), TR_ETOOBIG);
}

Test(builtin, a_bad_peer_list_is_refused_by_the_argument) {
    const char *bad[] = {"n1", "n@2"};
    tr_service_env env = {.node_count = 2, .node_name = "n1", .node_names = bad};
    uint8_t buf[2048 + sizeof(tr_register_arg)];
    size_t len = 0;
    cr_assert_eq(tr__builtin_cp.actors[0].arg(&env, buf, sizeof buf, &len), TR_EINVAL);
    cr_assert_eq(tr__builtin_stock.actors[0].arg(&env, buf, sizeof buf, &len), TR_EINVAL);
}

static void op_one(tr_history *h, int64_t p, const char *f, tr_history_type t);

/* Appends TR__PROGRESS_MIN_OPS invokes of f by processes p, p + 1000, ... and their
 * completions of type t (the fewest the progress check judges). */
static void op_pair(tr_history *h, int64_t p, const char *f, tr_history_type t) {
    for (int i = 0; i < TR__PROGRESS_MIN_OPS; i++) {
        op_one(h, p + 1000 * i, f, t);
    }
}

static void op_one(tr_history *h, int64_t p, const char *f, tr_history_type t) {
    tr_history_op op = {.time_ns = 1, .process = p, .node = 0, .f = f, .type = TR_HISTORY_INVOKE};
    op.has_value = !strcmp(f, "write");
    op.value = 7;
    cr_assert_eq(tr_history_append(h, &op), 0);
    op.type = t;
    op.error = t == TR_HISTORY_OK ? NULL : "refused";
    cr_assert_eq(tr_history_append(h, &op), 0);
}

/* cp's progress check (Jepsen's stats rule): a history of refused writes is linearizable, but
 * a store that never takes a write is not one the check lets pass. */
Test(builtin, cp_progress_fails_when_an_operation_never_succeeds) {
    const tr_service *cp = tr__builtin_find("cp");
    cr_assert_eq(cp->check_count, 1);
    cr_assert_str_eq(cp->checks[0].name, "progress");
    tr_history *h = tr_history_create(1024);
    op_pair(h, 0, "read", TR_HISTORY_OK);
    op_pair(h, 1, "write", TR_HISTORY_FAIL);
    op_pair(h, 2, "write", TR_HISTORY_INFO);
    char why[128] = "";
    tr_check_input in = {.history = h, .node_count = 3};
    cr_assert_eq(cp->checks[0].run(&in, why, sizeof why), TR_VERDICT_VIOLATED);
    cr_assert_str_eq(why, "no write succeeded (64 invoked)");
    op_pair(h, 3, "write", TR_HISTORY_OK);
    cr_assert_eq(cp->checks[0].run(&in, why, sizeof why), TR_VERDICT_HELD);
    tr_history_destroy(h);
}

/* stock's progress row: reservations whose answers are all lost fail it. */
Test(builtin, stock_progress_fails_when_no_reservation_succeeds) {
    const tr_service *stock = tr__builtin_find("stock");
    const tr_check *c = &stock->checks[stock->check_count - 1];
    cr_assert_str_eq(c->name, "progress");
    tr_history *h = tr_history_create(1024);
    tr_history_op op = {.time_ns = 1, .process = 0, .node = 0, .f = "reserve"};
    op.type = TR_HISTORY_INVOKE;
    op.has_value = true;
    op.pair = true;
    op.value = 1;
    op.value_to = 1;
    for (int i = 0; i < TR__PROGRESS_MIN_OPS; i++) {
        op.process = i;
        op.type = TR_HISTORY_INVOKE;
        op.error = NULL;
        cr_assert_eq(tr_history_append(h, &op), 0);
        op.type = TR_HISTORY_INFO;
        op.error = "timeout";
        cr_assert_eq(tr_history_append(h, &op), 0);
    }
    char why[128] = "";
    tr_check_input in = {.history = h, .node_count = 3};
    cr_assert_eq(c->run(&in, why, sizeof why), TR_VERDICT_VIOLATED);
    cr_assert_str_eq(why, "no reserve succeeded (32 invoked)");
    tr_history_destroy(h);
}

/* progress also refuses a garbled answer: a malformed reply is the service's, never a fault's. */
Test(builtin, progress_fails_on_a_malformed_reply) {
    const tr_service *cp = tr__builtin_find("cp");
    tr_history *h = tr_history_create(1024);
    op_pair(h, 0, "read", TR_HISTORY_OK);
    op_pair(h, 1, "write", TR_HISTORY_OK);
    char why[128] = "";
    tr_check_input in = {.history = h, .node_count = 3};
    cr_assert_eq(cp->checks[0].run(&in, why, sizeof why), TR_VERDICT_HELD);
    tr_history_op op = {.time_ns = 2, .process = 2, .node = 0, .f = "read"};
    op.type = TR_HISTORY_INVOKE;
    cr_assert_eq(tr_history_append(h, &op), 0);
    op.type = TR_HISTORY_INFO;
    op.error = "malformed reply";
    cr_assert_eq(tr_history_append(h, &op), 0);
    cr_assert_eq(cp->checks[0].run(&in, why, sizeof why), TR_VERDICT_VIOLATED);
    cr_assert_str_eq(why, "1 replies malformed (the first completes op 129)");
    tr_history_destroy(h);
}
