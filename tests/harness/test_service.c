/* test_service.c — services on a node: tr_service_validate's reasons, tr_service_load's errors
 * (missing file, not ELF, no entry point, wrong ABI), tr_service_boot on a real and on a
 * simulated node (placement, spawn argument, an init that fails leaves nothing behind), and
 * `troupe node --load` / `troupe call --load` end to end. The modules come from
 * tests/harness/run.sh (TR_SVC_*), built -shared without libtroupe: this suite is linked as
 * the troupe binary is, so they take the runtime from it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* proc.h's helpers this suite does not use are fine */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "cluster/proc.h"
#include "harness/service.h"
#include "troupe.h"
#include "troupe_cli.h"

static const char *module(const char *var) {
    const char *p = getenv(var);
    cr_assert(p && *p, "%s is not set (run through tests/harness/run.sh)", var);
    return p;
}

/* ---- validate ---- */

static int nop_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    return TR_CONTINUE;
}
static tr_verdict nop_check(const tr_check_input *in, char *why, size_t cap) {
    return TR_VERDICT_HELD;
}
static const tr_behaviour good_b = {"good", 0, NULL, nop_receive, NULL};
static const tr_behaviour no_receive_b = {"bad", 0, NULL, NULL, NULL};

static tr_service_actor actors[3];
static tr_service_request requests[2];
static tr_check checks[TR_SERVICE_CHECKS_MAX + 1];
static const char *bugs[4];
static tr_service svc;

/* A valid descriptor the cases below break one field of. */
static void good(void) {
    actors[0] = (tr_service_actor){"a", &good_b, TR_PLACE_EVERY_NODE, NULL, NULL};
    actors[1] = (tr_service_actor){"b", &good_b, TR_PLACE_NAMED_NODES, "n1,n3", NULL};
    requests[0] = (tr_service_request){"put", 300};
    requests[1] = (tr_service_request){"get", 301};
    checks[0] = (tr_check){"no-loss", nop_check};
    bugs[0] = "early-reply";
    bugs[1] = NULL;
    svc = (tr_service){.abi = TR_SERVICE_ABI,
                       .name = "good-1",
                       .actors = actors,
                       .actor_count = 2,
                       .requests = requests,
                       .request_count = 2,
                       .checks = checks,
                       .check_count = 1,
                       .bugs = bugs};
}

static void expect_invalid(const char *want) {
    char err[256] = "untouched";
    int rc = tr_service_validate(&svc, err, sizeof err);
    cr_assert_eq(rc, TR_EINVAL, "accepted; wanted a reason with '%s'", want);
    cr_assert(strstr(err, want), "reason '%s' does not say '%s'", err, want);
    cr_assert_null(strchr(err, '\n'), "one line: '%s'", err);
}

Test(service_validate, accepts_a_complete_descriptor) {
    good();
    char err[256];
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), 0, "%s", err);
    cr_assert_str_empty(err);
    svc.lin_model = &tr_lin_model_register;
    svc.lin_rests_on = "no-loss";
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), 0, "%s", err);
    checks[1] = (tr_check){"no-double", nop_check, "no-loss"}; /* one check resting on another */
    svc.check_count = 2;
    cr_assert_eq(tr_service_validate(&svc, err, sizeof err), 0, "%s", err);
}

Test(service_validate, names_what_is_wrong) {
    good();
    svc.abi = TR_SERVICE_ABI + 1;
    expect_invalid("ABI 5, but this troupe hosts ABI 4");
    good();
    svc.name = "Bad Name";
    expect_invalid("'Bad Name' is not 1..63 bytes of [a-z0-9-]");
    good();
    svc.name = NULL;
    expect_invalid("(null)");
    good();
    svc.actor_count = TR_SERVICE_ACTORS_MAX + 1;
    expect_invalid("17 actors (at most 16)");
    good();
    actors[1].name = "x@n2";
    expect_invalid("actor 1 has no valid name");
    good();
    actors[1].name = "a";
    expect_invalid("two actors are named 'a'");
    good();
    actors[0].behaviour = &no_receive_b;
    expect_invalid("actor 'a' has no behaviour with a receive callback");
    good();
    actors[0].behaviour = NULL;
    expect_invalid("actor 'a' has no behaviour");
    good();
    actors[1].nodes = "n1,,n3";
    expect_invalid("actor 'b' wants named nodes but its list 'n1,,n3'");
    good();
    actors[1].nodes = NULL;
    expect_invalid("actor 'b' wants named nodes");
    good();
    actors[0].nodes = "n1";
    expect_invalid("actor 'a' runs on every node but lists nodes");
    good();
    actors[0].placement = (tr_placement)7;
    expect_invalid("actor 'a' has an unknown placement 7");
    good();
    requests[1].type = 12;
    expect_invalid("request 'get' has type 12");
    good();
    requests[1].name = "300";
    expect_invalid("request 1 has no valid name");
    good();
    requests[1].name = "put";
    expect_invalid("two requests are named 'put'");
    good();
    svc.check_count = TR_SERVICE_CHECKS_MAX + 1;
    expect_invalid("9 checks (at most 8)");
    good();
    checks[0].run = NULL;
    expect_invalid("check 0 needs a name");
    good();
    checks[0].name = "linearizable";
    expect_invalid("'linearizable' is the model's");
    good();
    static const tr_workload half = {0, NULL, NULL};
    svc.workload = &half;
    expect_invalid("workload needs both next and complete");
    good();
    static const tr_lin_model model = {"m", 0, NULL, NULL};
    svc.lin_model = &model;
    expect_invalid("linearizability model needs");
    good();
    svc.lin_rests_on = "no-loss"; /* a check, but no model to rest */
    expect_invalid("lin_rests_on 'no-loss' must name one of its checks, and needs a lin_model");
    good();
    svc.lin_model = &tr_lin_model_register;
    svc.lin_rests_on = "no-such-check";
    expect_invalid("lin_rests_on 'no-such-check' must name one of its checks");
    good();
    checks[0].rests_on = "no-such-check";
    expect_invalid("check 'no-loss' rests on 'no-such-check', which must be another of its checks");
    good();
    checks[0].rests_on = "no-loss";
    expect_invalid("check 'no-loss' rests on 'no-loss', which must be another");
    good();
    checks[1] = (tr_check){"no-double", nop_check, "no-loss"};
    checks[2] = (tr_check){"no-gap", nop_check, "no-double"};
    svc.check_count = 3;
    expect_invalid("check 'no-gap' rests on 'no-double', which must be another of its checks and "
                   "rest on none");
    good();
    bugs[1] = "early-reply";
    bugs[2] = NULL;
    expect_invalid("planted bug 'early-reply' is listed twice");
    good();
    bugs[0] = "Early";
    expect_invalid("planted bug 0 is not a name");
    good();
    static const tr_service_fault crash = {"crash", NULL, NULL};
    svc.faults = &crash;
    svc.fault_count = 1;
    expect_invalid("fault kind 0 needs");
    good();
    svc.request_count = 1;
    svc.requests = NULL;
    expect_invalid("request_count is 1 but requests is NULL");
}

/* ---- load ---- */

static void expect_load_error(const char *path, int want_rc, const char *want) {
    const tr_service *s = (const tr_service *)&svc;
    char err[512];
    int rc = tr_service_load(path, &s, err, sizeof err);
    cr_assert_eq(rc, want_rc, "load %s: %s (%s), wanted %s", path, tr_err_name(rc), err,
                 tr_err_name(want_rc));
    cr_assert(strstr(err, want), "load %s: '%s' does not say '%s'", path, err, want);
    cr_assert_null(strchr(err, '\n'));
}

Test(service_load, refuses_what_is_not_a_service) {
    expect_load_error("/nonexistent/svc.so", TR_ENOENT,
                      "cannot open '/nonexistent/svc.so': No such file or directory");
    char text[] = "/tmp/troupe-svc-text-XXXXXX";
    int fd = mkstemp(text);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "not a module\n", 13), 13);
    close(fd);
    expect_load_error(text, TR_ENOENT, "is not a shared object (no ELF header)");
    unlink(text);
    expect_load_error("/tmp", TR_ENOENT, "'/tmp' is not a regular file");
    expect_load_error(module("TR_SVC_NOENTRY"), TR_EINVAL,
                      "is not a troupe service: it has no troupe_service_v1 entry point");
    expect_load_error(module("TR_SVC_ABI"), TR_EINVAL,
                      "was built for service ABI 5; this troupe hosts ABI 4");
    expect_load_error(module("TR_SVC_OWNCOPY"), TR_EINVAL,
                      "carries its own copy of the troupe runtime (it defines tr_strerror)");
}

Test(service_load, loads_a_service_module) {
    const tr_service *s = NULL;
    char err[512];
    cr_assert_eq(tr_service_load(module("TR_SVC_TEST"), &s, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(s->name, "svc-test");
    cr_assert_eq(s->actor_count, 2);
    /* loading it again gives the same descriptor: the module is loaded once */
    const tr_service *again = NULL;
    cr_assert_eq(tr_service_load(module("TR_SVC_TEST"), &again, err, sizeof err), 0);
    cr_assert_eq(again, s);
}

/* ---- boot on a real node ---- */

static const char *const two_nodes[] = {"n1", "n2"};

static const tr_service *load_ok(const char *var) {
    const tr_service *s = NULL;
    char err[512];
    cr_assert_eq(tr_service_load(module(var), &s, err, sizeof err), 0, "%s", err);
    return s;
}

/* Requests `type` of the actor named `name` on rt's node; the reply body must hold `want`. */
static void expect_reply(tr_runtime *rt, tr_inbox *ib, const char *name, uint32_t type,
                         const char *want) {
    tr_msg *reply = NULL;
    uint8_t body[] = {0x80}; /* {} */
    int rc = tr_inbox_request(ib, (tr_addr){tr_node_id(tr_runtime_node(rt)), 0, 0}, name, type,
                              body, sizeof body, 5000, &reply);
    cr_assert_eq(rc, 0, "%s: %s", name, tr_err_name(rc));
    cr_assert(memmem(reply->body, reply->body_len, want, strlen(want)), "%s: no '%s' in reply",
              name, want);
    tr_msg_free(reply);
}

Test(service_boot, real_node_runs_its_placed_actors) {
    const tr_service *s = load_ok("TR_SVC_TEST");
    tr_config cfg = {.node_id = 1, .node_name = "n1", .workers = 1};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    tr_node *node = tr_runtime_node(rt);
    tr_service_env env = {0, 2, "n1", two_nodes, NULL, false};
    cr_assert_eq(tr_service_boot(s, node, &env), 0);
    tr_addr a;
    cr_assert_eq(tr_node_lookup(node, "counter", &a), 0);
    cr_assert_eq(tr_node_lookup(node, "pinned", &a), TR_ENOENT, "pinned runs on n2 only");
    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt, &ib), 0);
    expect_reply(rt, ib, "counter", 301, "n1"); /* the spawn argument the env gave */
    /* booting it again on the same node: its names are taken */
    char err[256];
    cr_assert_eq(tr__service_boot_why(s, node, &env, err, sizeof err), TR_EEXIST);
    cr_assert(strstr(err, "actor 'counter' cannot be spawned"), "%s", err);
    expect_reply(rt, ib, "counter", 301, "n1");
    tr_inbox_destroy(ib);
    tr_runtime_destroy(rt);
}

Test(service_boot, failing_init_leaves_no_actor_behind) {
    const tr_service *bad = load_ok("TR_SVC_INITFAIL");
    const tr_service *s = load_ok("TR_SVC_TEST");
    tr_config cfg = {.node_id = 2, .node_name = "n2", .workers = 2};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    tr_node *node = tr_runtime_node(rt);
    tr_service_env env = {1, 2, "n2", two_nodes, NULL, false};
    char err[256];
    cr_assert_eq(tr__service_boot_why(bad, node, &env, err, sizeof err), TR_EIO, "%s", err);
    cr_assert_str_eq(err, "service 'svc-initfail': actor 'initfail-second' failed in init: "
                          "input/output error");
    tr_addr a;
    cr_assert_eq(tr_node_lookup(node, "initfail-first", &a), TR_ENOENT, "first is still there");
    cr_assert_eq(tr_node_lookup(node, "initfail-second", &a), TR_ENOENT);
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.actors_live, 0);
    /* the node is usable: another service boots and answers */
    cr_assert_eq(tr_service_boot(s, node, &env), 0);
    tr_inbox *ib;
    cr_assert_eq(tr_inbox_create(rt, &ib), 0);
    expect_reply(rt, ib, "pinned", 302, "n2");
    expect_reply(rt, ib, "counter", 301, "n2");
    tr_inbox_destroy(ib);
    tr_runtime_destroy(rt);
}

/* ---- boot on simulated nodes ---- */

static int sim_boot(tr_node *node, void *ud) {
    static const char *const names[] = {"n1", "n2", "n3"};
    uint32_t i = tr_node_id(node) - 1;
    tr_service_env env = {i, 3, names[i], names, NULL, true};
    return tr_service_boot(ud, node, &env);
}

Test(service_boot, simulated_nodes_follow_the_placement) {
    const tr_service *s = load_ok("TR_SVC_TEST");
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = sim_boot;
    cfg.boot_ud = (void *)s;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_sim_run_for(sim, 1000000);
    for (uint32_t i = 0; i < 3; i++) {
        tr_addr a;
        tr_node *node = tr_sim_node(sim, i);
        cr_assert_eq(tr_node_lookup(node, "counter", &a), 0, "counter on n%u", i + 1);
        cr_assert(tr_node_actor_is_alive(node, a), "counter's init failed on n%u", i + 1);
        cr_assert_eq(tr_node_lookup(node, "pinned", &a) == 0, i == 1, "pinned on n%u", i + 1);
    }
    tr_sim_destroy(sim);
}

/* ---- troupe node --load, troupe call --load ---- */

static const char *secret_env = "TROUPE_SECRET=loader-test-secret-0123456789";

static void expect_node_refuses(const char *load, const char *want) {
    char out[2048], args[1024];
    snprintf(args, sizeof args, "--name n1 --listen 127.0.0.1:0 --load '%s'", load);
    int rc = troupe_cli(secret_env, "node", args, true, out, sizeof out);
    cr_assert_eq(rc, 2, "troupe node --load %s exited %d:\n%s", load, rc, out);
    cr_assert(strstr(out, want), "'%s' does not say '%s'", out, want);
    char *nl = strchr(out, '\n');
    cr_assert(nl && nl[1] == 0, "not one line: '%s'", out);
}

Test(service_cli, node_exits_2_on_a_bad_module, .timeout = 60) {
    expect_node_refuses("/nonexistent/svc.so",
                        "troupe node: --load: cannot open '/nonexistent/svc.so'");
    expect_node_refuses(getenv("TROUPE_BIN"), "cannot dynamically load executable");
    expect_node_refuses(module("TR_SVC_NOENTRY"), "is not a troupe service");
    expect_node_refuses(module("TR_SVC_ABI"), "was built for service ABI 5; this troupe hosts "
                                              "ABI 4");
    expect_node_refuses(module("TR_SVC_INITFAIL"),
                        "service 'svc-initfail': actor 'initfail-second' failed in init: "
                        "input/output error");
    char out[2048], args[1024];
    snprintf(args, sizeof args, "--name n1 --listen 127.0.0.1:0 --load '%s' --bug nope",
             module("TR_SVC_TEST"));
    cr_assert_eq(troupe_cli(secret_env, "node", args, true, out, sizeof out), 2);
    cr_assert(strstr(out, "--bug nope is not a planted bug of any loaded service"), "%s", out);
}

Test(service_cli, call_refuses_a_bad_module_or_an_unknown_request_name) {
    char out[2048], args[1024];
    snprintf(args, sizeof args, "127.0.0.1:1 counter add '{}' --load '%s'", module("TR_SVC_ABI"));
    cr_assert_eq(troupe_cli("", "call", args, true, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "troupe call: --load: ") && strstr(out, "was built for service ABI 5"),
              "%s", out);
    snprintf(args, sizeof args, "127.0.0.1:1 counter addd '{}' --load '%s'", module("TR_SVC_TEST"));
    cr_assert_eq(troupe_cli("", "call", args, true, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "troupe call: unknown TYPE 'addd'"), "%s", out);
}

/* troupe call 127.0.0.1:<port_base + k> ACTOR TYPE JSON --load svc_test; 0 and its output. */
static int call_svc(int k, const char *actor, const char *type, const char *json, char *out,
                    size_t cap) {
    static int seq;
    char addr[32], tag[32], secret[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port_base + k);
    snprintf(tag, sizeof tag, "svccall%d", ++seq);
    proc_path(secret, sizeof secret, "secret");
    char *args[] = {"call",
                    addr,
                    (char *)actor,
                    (char *)type,
                    (char *)json,
                    "--secret-file",
                    secret,
                    "--timeout",
                    "2000",
                    "--load",
                    (char *)module("TR_SVC_TEST"),
                    NULL};
    int rc = proc_wait(proc_spawn(tag, args), 6000);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.out", tmpdir, tag);
    char *s = slurp(path);
    snprintf(out, cap, "%s", s);
    free(s);
    return rc;
}

static bool call_svc_until(int k, const char *actor, const char *type, const char *json,
                           const char *want) {
    char out[1024] = "";
    for (uint64_t until = proc_now_ms() + 15000; proc_now_ms() < until; usleep(100000)) {
        if (call_svc(k, actor, type, json, out, sizeof out) == 0 && strstr(out, want)) {
            return true;
        }
    }
    fprintf(stderr, "call %s %s %s: '%s', wanted '%s'\n", actor, type, json, out, want);
    return false;
}

Test(service_cli, call_reaches_a_loaded_service_by_name_through_another_node, .timeout = 90) {
    proc_setup();
    const char *svc_path = module("TR_SVC_TEST");
    int none[] = {-1}, first[] = {0, -1};
    start_node("n1", 0, none, "--replicas", "n1,n2", "--load", svc_path, NULL);
    start_node("n2", 1, first, "--replicas", "n1,n2", "--load", svc_path, NULL);
    cr_assert(log_count("n2", "event=service_ready service=svc-test") == 1);
    /* on n1 itself, by request name */
    cr_assert(call_svc_until(0, "counter", "add", "{\"n\": 5}", "{\"node\":\"n1\",\"total\":5}"));
    /* n2's actors through n1's proxy; "pinned" runs on n2 only */
    cr_assert(call_svc_until(0, "proxy", "add", "[\"counter@n2\", {\"n\": 7}]",
                             "{\"node\":\"n2\",\"total\":7}"));
    cr_assert(call_svc_until(0, "proxy", "where", "[\"pinned@n2\", null]", "{\"pinned\":\"n2\"}"));
    cr_assert(
        call_svc_until(0, "proxy", "get", "[\"counter@n2\", {}]", "{\"node\":\"n2\",\"total\":7}"));
    /* an unknown request name is a usage error */
    char out[1024];
    cr_assert_eq(call_svc(0, "counter", "nosuch", "{}", out, sizeof out), 2);
    proc_teardown();
}
