/* The library's defaults for services (harness/service_defaults.c): the checks on the new
 * descriptor fields, the table-driven workload's next and complete, the declared nemesis, the
 * final state read from the stores, and the actor helpers (place init, forward to the owner,
 * [int, int] bodies, int and string replies), on a small "tally" service written here. Its
 * planted bug "no-put" answers without writing, which the store check must catch. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness/service_defaults.h"
#include "troupe.h"

#define SEC 1000000000ull

enum {
    ADD = TR_MSG_USER + 1,
    GET,
    WHO /* [key]: the owner answers its node index */
};

static int tally_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    const tr_service_place *at = state;
    int64_t v[2] = {0, 0}, sum = 0;
    size_t len;
    if (m->type < ADD || m->type > WHO || tr_msg_is_reply(m)) {
        return TR_CONTINUE;
    }
    if (tr_msg_read_ints(m, v, 2) < 1) {
        (void)tr_reply_str(ctx, m, "want [key, value]", false);
        return TR_CONTINUE;
    }
    if (tr_service_forward_owner(ctx, m, at, "tally", v[0]) != TR_SERVICE_MINE) {
        return TR_CONTINUE;
    }
    if (m->type == WHO) {
        (void)tr_reply_int(ctx, m, at->node_index, false);
        return TR_CONTINUE;
    }
    (void)tr_kv_get(ctx, &v[0], sizeof v[0], &sum, sizeof sum, &len);
    sum += m->type == ADD ? v[1] : 0;
    if (m->type == ADD && strcmp(at->bug, "no-put") != 0) {
        (void)tr_kv_put(ctx, &v[0], sizeof v[0], &sum, sizeof sum);
    }
    (void)tr_reply_int(ctx, m, sum, true);
    return TR_CONTINUE;
}

/* Every key's stored sum is within [acknowledged adds, acknowledged + indeterminate adds]. */
static tr_verdict stored_sums(const tr_check_input *in, char *why, size_t cap) {
    int64_t lo[8] = {0}, hi[8] = {0};
    tr_history_op op;
    for (size_t i = 0; tr_history_get(in->history, i, &op) == 0; i++) {
        if (strcmp(op.f, "add") == 0 && op.type != TR_HISTORY_INVOKE &&
            op.type != TR_HISTORY_FAIL) {
            lo[op.key] += op.type == TR_HISTORY_OK ? op.value : 0;
            hi[op.key] += op.value;
        }
    }
    for (int64_t k = 0; k < 8; k++) {
        int64_t sum = 0;
        size_t len;
        int rc = tr_check_kv_get(in, (uint32_t)(k % in->node_count), "tally", &k, sizeof k, &sum,
                                 sizeof sum, &len);
        if (rc != 0 && rc != TR_ENOENT) {
            snprintf(why, cap, "store: %s", tr_strerror(rc));
            return TR_VERDICT_UNKNOWN;
        }
        if (sum < lo[k] || sum > hi[k]) {
            snprintf(why, cap, "key %lld: stored %lld outside [%lld, %lld]", (long long)k,
                     (long long)sum, (long long)lo[k], (long long)hi[k]);
            return TR_VERDICT_VIOLATED;
        }
    }
    return TR_VERDICT_HELD;
}

static const tr_behaviour tally_behaviour = {"tally", sizeof(tr_service_place),
                                             tr_service_place_init, tally_receive};
static const tr_service_actor tally_actors[] = {{"tally", &tally_behaviour}};
static const tr_workload_op_spec tally_ops[] = {{"add", ADD, true, 1, 5}, {"get", GET, false}};
static const tr_workload tally_workload = {.ops = tally_ops, .op_count = 2};
static const tr_check tally_checks[] = {{"stored-sums", stored_sums}};
static const char *const tally_bugs[] = {"no-put", NULL};
static const tr_service tally = {.abi = TR_SERVICE_ABI,
                                 .name = "tally",
                                 .actors = tally_actors,
                                 .actor_count = 1,
                                 .workload = &tally_workload,
                                 .checks = tally_checks,
                                 .check_count = 1,
                                 .bugs = tally_bugs,
                                 .nemesis = TR_NEMESIS_CRASH};

/* ---- the checks on the new fields ---- */

static tr_service svc;
static tr_workload wl;
static tr_workload_op_spec ops[2];
static tr_behaviour beh;
static tr_service_actor act;

static void good(void) {
    svc = tally;
    wl = tally_workload;
    memcpy(ops, tally_ops, sizeof ops);
    wl.ops = ops;
    svc.workload = &wl;
    beh = tally_behaviour;
    act = tally_actors[0];
    act.behaviour = &beh;
    svc.actors = &act;
    char err[200];
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), 0, "%s", err);
}

static void refused(const char *why) {
    char err[300] = "";
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), TR_EINVAL, "accepted; want: %s", why);
    cr_assert(strstr(err, why) != NULL, "'%s' does not say '%s'", err, why);
    good();
}

static int own_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t keys, tr_workload_op *op,
                    uint32_t *type, const char **target, tr_mp_writer *w) {
    return TR_EINVAL;
}
static tr_history_type own_complete(const tr_service_env *env, const tr_workload_op *op,
                                    const tr_msg *reply, int err, tr_workload_op *done,
                                    const char **error) {
    return TR_HISTORY_INFO;
}

Test(service_defaults, validate_refuses_what_the_defaults_cannot_run) {
    good();
    wl.op_count = 0;
    refused("needs both next and complete, or a table of operations");
    wl.op_count = TR_WORKLOAD_OPS_MAX + 1;
    refused("has 65 operations");
    ops[0].f = "9lives";
    refused("workload operation 0 needs a name");
    ops[1].type = 5;
    refused("workload operation 1 needs a name");
    ops[0].value_min = 6;
    refused("value_min <= value_max");
    wl.target = "no space";
    refused("target is not an actor name");
    svc.actor_count = 0;
    refused("the first actor, and it has none");
    svc.nemesis = 1u << 30;
    refused("names unknown fault kinds");
    svc.nemesis = TR_NEMESIS_DEFAULT;
    refused("names unknown fault kinds");
    svc.nemesis = TR_NEMESIS_CRASH | TR_NEMESIS_CORRUPT | TR_NEMESIS_ONEWAY; /* every kind */
    cr_assert_eq(tr_service_validate(&svc, NULL, 0), 0);
    beh.state_size = 4;
    refused("uses tr_service_place_init");
    wl.next = own_next; /* with both callbacks the table is never read */
    wl.complete = own_complete;
    wl.ops = NULL;
    wl.op_count = 1000;
    cr_assert_eq(tr_service_validate(&svc, NULL, 0), 0);
}

/* ---- the table-driven workload ---- */

Test(service_defaults, default_next_draws_every_row_key_and_value_and_encodes_them) {
    tr_service_env env = {.node_count = 3, .node_name = "n1"};
    tr_sim_rng rng;
    tr_sim_rng_init(&rng, 7, 1);
    bool seen[2] = {false, false}, key_seen[3] = {false, false, false}, value_seen[6] = {false};
    for (int i = 0; i < 1000; i++) {
        uint8_t buf[64];
        tr_mp_writer w;
        tr_workload_op op;
        uint32_t type, n;
        const char *target = NULL;
        int64_t k, v;
        tr_mp_writer_init(&w, buf, sizeof buf);
        cr_assert_eq(tr__workload_next(&tally, &env, &rng, 3, &op, &type, &target, &w), 0);
        cr_assert_str_eq(target, "tally"); /* the first actor */
        bool add = strcmp(op.f, "add") == 0;
        cr_assert(add || strcmp(op.f, "get") == 0, "%s", op.f);
        cr_assert_eq(type, add ? ADD : GET);
        cr_assert_eq(op.has_value, add);
        seen[add] = true;
        tr_mp_reader r;
        tr_mp_reader_init(&r, buf, w.len);
        cr_assert_eq(tr_mp_read_array(&r, &n), 0);
        cr_assert_eq(n, add ? 2u : 1u);
        cr_assert_eq(tr_mp_read_int(&r, &k), 0);
        cr_assert(k == op.key && k >= 0 && k < 3);
        key_seen[k] = true;
        if (add) {
            cr_assert_eq(tr_mp_read_int(&r, &v), 0);
            cr_assert(v == op.value && v >= 1 && v <= 5, "%lld", (long long)v);
            value_seen[v] = true;
        }
        cr_assert_eq(tr_mp_reader_done(&r), 0);
    }
    cr_assert(seen[0] && seen[1] && key_seen[0] && key_seen[1] && key_seen[2]);
    cr_assert(value_seen[1] && value_seen[5]);
}

/* A message whose body is the msgpack the writer fn writes (one value). */
static tr_msg *reply_of(void (*fn)(tr_mp_writer *w)) {
    static struct {
        tr_msg m;
        uint8_t body[64];
    } mem;
    tr_mp_writer w;
    memset(&mem, 0, sizeof mem);
    tr_mp_writer_init(&w, mem.body, sizeof mem.body);
    fn(&w);
    mem.m.body = mem.body;
    mem.m.body_len = (uint32_t)w.len;
    return &mem.m;
}
static void int_42(tr_mp_writer *w) {
    tr_mp_write_int(w, 42);
}
static void str_no(tr_mp_writer *w) {
    tr_mp_write_cstr(w, "overdraft");
}
static void nil(tr_mp_writer *w) {
    tr_mp_write_nil(w);
}

static tr_history_type complete(const char *f, int64_t value, const tr_msg *reply, int err,
                                tr_workload_op *done, const char **error) {
    tr_service_env env = {.node_count = 1, .node_name = "n1"};
    tr_workload_op op = {.f = f, .key = 2, .has_value = f[0] == 'a', .value = value};
    *error = NULL;
    return tr__workload_complete(&tally, &env, &op, reply, err, done, error);
}

Test(service_defaults, default_complete_maps_replies_to_ok_fail_and_info) {
    tr_workload_op done;
    const char *error;
    cr_assert_eq(complete("get", 0, reply_of(int_42), 0, &done, &error), TR_HISTORY_OK);
    cr_assert(done.has_value && done.value == 42 && done.key == 2);
    cr_assert_eq(complete("add", 3, reply_of(int_42), 0, &done, &error), TR_HISTORY_OK);
    cr_assert(done.has_value && done.value == 3, "a write keeps its own value");
    cr_assert_eq(complete("add", 3, reply_of(str_no), 0, &done, &error), TR_HISTORY_FAIL);
    cr_assert_str_eq(error, "overdraft");
    cr_assert_eq(complete("get", 0, reply_of(str_no), 0, &done, &error), TR_HISTORY_FAIL);
    cr_assert_eq(complete("add", 3, NULL, TR_ETIMEDOUT, &done, &error), TR_HISTORY_INFO);
    cr_assert_str_eq(error, "timed out");
    cr_assert_eq(complete("add", 3, NULL, TR_ECLOSED, &done, &error), TR_HISTORY_INFO);
    cr_assert_eq(complete("get", 0, NULL, TR_ETIMEDOUT, &done, &error), TR_HISTORY_FAIL);
    cr_assert_eq(complete("add", 3, reply_of(nil), 0, &done, &error), TR_HISTORY_INFO);
    cr_assert_str_eq(error, "bad reply");
    cr_assert_eq(complete("get", 0, reply_of(nil), 0, &done, &error), TR_HISTORY_FAIL);
}

/* ---- the declared nemesis ---- */

Test(service_defaults, the_declared_nemesis_serves_when_a_run_names_none) {
    const tr_service *one[] = {&tally};
    tr_experiment_config cfg, copy;
    tr_service_experiment_init(&cfg, one);
    cr_assert_eq(cfg.nemesis.kinds, TR_NEMESIS_DEFAULT);
    cr_assert_str_eq(cfg.workload, "tally");
    cr_assert_eq(tr__service_defaults_config(&cfg, &copy)->nemesis.kinds, TR_NEMESIS_CRASH);
    tr_service quiet = tally;
    quiet.nemesis = 0;
    const tr_service *two[] = {&quiet};
    cfg.services = two;
    cr_assert_eq(tr__service_defaults_config(&cfg, &copy)->nemesis.kinds, TR_NEMESIS_PARTITION);
    cfg.nemesis.scenario_path = "faults.txt";
    cr_assert_eq(tr__service_defaults_config(&cfg, &copy)->nemesis.kinds, 0u);
    cfg.nemesis.kinds = TR_NEMESIS_PAUSE;
    cr_assert_eq(tr__service_defaults_config(&cfg, &copy), &cfg, "a named nemesis is kept");
}

/* ---- end to end: the runner with the defaults, the store check, the planted bug ---- */

static tr_experiment_result *run(const char *bug) {
    static const tr_service *one[] = {&tally};
    tr_experiment_config cfg;
    tr_experiment_result *r = NULL;
    char err[200] = "";
    tr_service_experiment_init(&cfg, one);
    cfg.sim.nodes = 3;
    cfg.duration_ns = 10 * SEC;
    cfg.keys = 8;
    cfg.bug = bug;
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

Test(service_defaults, runner_uses_table_workload_declared_nemesis_and_stores) {
    tr_experiment_result *r = run(NULL);
    cr_assert(strstr(r->replay, "--nemesis crash ") != NULL, "%s", r->replay);
    cr_assert_gt(r->ops_ok, 100);
    cr_assert_eq(r->verdict, TR_VERDICT_HELD, "%s: %s", r->checks[0].name, r->checks[0].why);
    tr_experiment_result_destroy(r);
    r = run("no-put"); /* answers without writing: the stores hold less than was acknowledged */
    cr_assert_eq(r->verdict, TR_VERDICT_VIOLATED);
    cr_assert(strstr(r->checks[0].why, "outside") != NULL, "%s", r->checks[0].why);
    tr_experiment_result_destroy(r);
}

Test(service_defaults, check_kv_get_refuses_without_a_simulation) {
    tr_check_input in = {.node_count = 1};
    int64_t k = 0, v;
    size_t len;
    cr_assert_eq(tr_check_kv_get(&in, 0, "tally", &k, sizeof k, &v, sizeof v, &len), TR_EINVAL);
    cr_assert_eq(tr_check_kv_get(NULL, 0, "tally", &k, sizeof k, &v, sizeof v, &len), TR_EINVAL);
}

/* A node whose store could not be opened again after a torn disk stays down: its store is an
 * error, never a crash of the check. */
Test(service_defaults, check_kv_get_says_eio_for_a_store_that_stayed_shut) {
    tr_sim_config cfg;
    tr_sim *sim;
    tr_sim_config_init(&cfg);
    cfg.nodes = 2;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    cr_assert_eq(tr_sim_disk_corrupt(sim, 1), 0);
    cr_assert_neq(tr_sim_restart(sim, 1), 0);
    tr_check_input in = {.node_count = 2, .sim = sim};
    int64_t k = 0, v;
    size_t len;
    cr_assert_eq(tr_check_kv_get(&in, 1, "tally", &k, sizeof k, &v, sizeof v, &len), TR_EIO);
    cr_assert_eq(tr_check_kv_get(&in, 0, "tally", &k, sizeof k, &v, sizeof v, &len), TR_ENOENT);
    tr_sim_destroy(sim);
}

/* ---- the actor helpers, on a simulated cluster ---- */

static int boot(tr_node *node, void *ud) {
    tr_service_env env = {.node_index = tr_node_id(node) - 1,
                          .node_count = 3,
                          .node_name = tr_node_name(node),
                          .simulated = true};
    (void)ud;
    return tr_service_boot(&tally, node, &env);
}

/* The reply to request type [key] (or the body given) from node `from`. */
static tr_msg *ask(tr_sim *sim, uint32_t from, uint32_t type, const void *body, size_t len) {
    tr_msg *reply = NULL;
    int rc = tr_sim_request(sim, from, "tally", type, body, len, 2 * SEC, &reply);
    cr_assert_eq(rc, 0, "%s", tr_strerror(rc));
    return reply;
}

static int64_t ask_int(tr_sim *sim, uint32_t from, uint32_t type, int64_t key) {
    uint8_t buf[16];
    tr_mp_writer w;
    tr_mp_reader r;
    int64_t v = -1;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 1);
    tr_mp_write_int(&w, key);
    tr_msg *reply = ask(sim, from, type, buf, w.len);
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    cr_assert_eq(tr_mp_read_int(&r, &v), 0, "not an integer reply");
    tr_msg_free(reply);
    return v;
}

static void ask_str(tr_sim *sim, uint32_t from, const void *body, size_t len, const char *want) {
    tr_msg *reply = ask(sim, from, WHO, body, len);
    tr_mp_reader r;
    char s[64] = "";
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    cr_assert_eq(tr_mp_read_str_copy(&r, s, sizeof s), 0, "not a string reply");
    cr_assert_str_eq(s, want);
    tr_msg_free(reply);
}

Test(service_defaults, forward_owner_reaches_key_mod_n_and_refuses_a_down_owner) {
    tr_sim_config sc;
    tr_sim *sim;
    tr_sim_config_init(&sc);
    sc.nodes = 3;
    sc.boot = boot;
    cr_assert_eq(tr_sim_create(&sc, &sim), 0);
    cr_assert_eq(ask_int(sim, 0, WHO, 3), 0); /* its own */
    cr_assert_eq(ask_int(sim, 0, WHO, 4), 1);
    cr_assert_eq(ask_int(sim, 2, WHO, 1), 1);
    cr_assert_eq(ask_int(sim, 0, WHO, -1), 2);        /* -1 mod 3 */
    cr_assert_eq(ask_int(sim, 1, WHO, INT64_MIN), 1); /* -2^63 mod 3, without overflow */
    ask_str(sim, 0, "\x93\x01\x02\x03", 4, "want [key, value]");
    cr_assert_eq(tr_sim_crash(sim, 1), 0);
    tr_sim_run_for(sim, SEC); /* past the failure detector */
    uint8_t key4[] = {0x91, 0x04};
    ask_str(sim, 0, key4, sizeof key4, tr_strerror(TR_EUNREACH));
    tr_sim_destroy(sim);
}

Test(service_defaults, read_ints_takes_an_array_of_at_most_cap_integers) {
    static const struct {
        const char *bytes;
        uint32_t len;
        int want;
    } cases[] = {{"\x92\x05\x07", 3, 2},
                 {"\x91\x05", 2, 1},
                 {"\x90", 1, 0},
                 {"\x93\x01\x02\x03", 4, TR_EINVAL},
                 {"\x92\x01\xa1x", 4, TR_EINVAL},
                 {"\x05", 1, TR_EINVAL},
                 {"\x92\x01", 2, TR_EINVAL},
                 {"", 0, TR_EINVAL},
                 {"\x91\x01\x00", 3, TR_EINVAL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_msg m;
        int64_t out[2] = {0, 0};
        memset(&m, 0, sizeof m);
        m.body = (const uint8_t *)cases[i].bytes;
        m.body_len = cases[i].len;
        cr_assert_eq(tr_msg_read_ints(&m, out, 2), cases[i].want, "case %zu", i);
        if (i == 0) {
            cr_assert(out[0] == 5 && out[1] == 7);
        }
    }
}
