/* The node's standard actors "echo", "proxy" and "kv" on the simulator (two nodes with
 * stores): each one's requests and replies, its bad bodies answered with {"error": why},
 * proxy timeouts, and kv values surviving a crash. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/echo.h"
#include "actors/kv.h"
#include "actors/proxy.h"
#include "actors/register_wire.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define TYPE (TR_MSG_USER + 7)
#define BODY_MAX 512

static tr_sim *sim;

/* A do-nothing actor registered as "sink": requests to it are never answered. */
static int sink_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return TR_CONTINUE;
}
static const tr_behaviour sink_behaviour = {.name = "sink", .receive = sink_receive};

static int boot(tr_node *node, void *ud) {
    (void)ud;
    tr_spawn_opts eo = {.name = "echo"}, po = {.name = "proxy"}, ko = {.name = "kv"};
    tr_spawn_opts so = {.name = "sink"};
    int rc = tr_node_spawn(node, &tr__echo_behaviour, &eo, NULL, 0, NULL);
    rc = rc ? rc : tr_node_spawn(node, &tr__proxy_behaviour, &po, NULL, 0, NULL);
    rc = rc ? rc : tr_node_spawn(node, &tr__kv_behaviour, &ko, NULL, 0, NULL);
    return rc ? rc : tr_node_spawn(node, &sink_behaviour, &so, NULL, 0, NULL);
}

static void setup(void) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.net =
        TR_SIM_NET_ORACLE; /* requests right after a restart: the oracle's links are up at once */
    cfg.nodes = 2;
    cfg.boot = boot;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
}

static void teardown(void) {
    tr_sim_destroy(sim);
}

/* ---- a one-shot client: sends one request from node 1, keeps the answer ---------------- */

typedef struct request {
    char target[2 * TR_NAME_MAX + 2];
    uint32_t type;
    uint8_t body[BODY_MAX];
    size_t len;
} request;

typedef struct answer {
    bool done;
    uint32_t type;
    uint64_t corr;
    uint8_t body[BODY_MAX];
    size_t len;
} answer;

static answer ans;
static uint64_t sent_corr;

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    const request *r = arg;
    (void)state, (void)len;
    return tr_request_name(ctx, r->target, r->type, r->body, r->len, 10000, &sent_corr);
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx, (void)state;
    cr_assert_leq(msg->body_len, BODY_MAX);
    ans.done = true;
    ans.type = msg->type;
    ans.corr = msg->corr;
    ans.len = msg->body_len;
    memcpy(ans.body, msg->body, msg->body_len);
    return TR_STOP;
}

static const tr_behaviour client_behaviour = {
    .name = "client", .init = client_init, .receive = client_receive};

static bool answered(tr_sim *s, void *ud) {
    (void)s, (void)ud;
    return ans.done;
}

/* Sends body[0..len) as a request of `type` to `target` and runs until the answer. */
static void call(const char *target, uint32_t type, const void *body, size_t len) {
    request r;
    memset(&r, 0, sizeof r);
    memset(&ans, 0, sizeof ans);
    strcpy(r.target, target);
    r.type = type;
    memcpy(r.body, body, len);
    r.len = len;
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &client_behaviour, NULL, &r, sizeof r, NULL),
                 0);
    cr_assert_eq(tr_sim_run_until(sim, answered, NULL, tr_sim_now_ns(sim) + 20 * SEC), 0,
                 "no answer from %s", target);
    cr_assert_eq(ans.corr, sent_corr);
}

static void assert_answer(uint32_t type, const void *body, size_t len) {
    cr_assert_eq(ans.type, type);
    cr_assert_eq(ans.len, len, "answer of %zu bytes, want %zu", ans.len, len);
    cr_assert_arr_eq(ans.body, body, len);
}

/* {"error": why} */
static void assert_error(uint32_t type, const char *why) {
    uint8_t buf[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "error");
    tr_mp_write_cstr(&w, why);
    cr_assert_eq(w.err, 0);
    assert_answer(type, buf, w.len);
}

/* Builders of request bodies. */
typedef struct body {
    uint8_t b[BODY_MAX];
    tr_mp_writer w;
} body;

static body *body_new(void) {
    static body x;
    tr_mp_writer_init(&x.w, x.b, sizeof x.b);
    return &x;
}

/* ---- echo ------------------------------------------------------------------------------ */

TestSuite(node_actors, .init = setup, .fini = teardown);

Test(node_actors, echo_replies_with_the_same_type_and_body) {
    static const uint8_t text[] = {0x92, 0x01, 0xa2, 'h', 'i'};
    call("echo", TYPE, text, sizeof text);
    assert_answer(TYPE, text, sizeof text);
}

Test(node_actors, echo_replies_to_any_bytes_and_across_nodes) {
    static const uint8_t raw[] = {0xc1, 0xff, 0x00}; /* not msgpack: echoed as it is */
    call("echo@n2", TR_MSG_USER, raw, sizeof raw);
    assert_answer(TR_MSG_USER, raw, sizeof raw);
    call("echo", TYPE, "", 0);
    assert_answer(TYPE, "", 0);
}

/* ---- proxy ----------------------------------------------------------------------------- */

Test(node_actors, proxy_forwards_and_relays_the_reply) {
    body *x = body_new();
    tr_mp_write_array(&x->w, 2);
    tr_mp_write_cstr(&x->w, "echo@n2");
    tr_mp_write_int(&x->w, 42);
    call("proxy", TYPE, x->b, x->w.len);
    static const uint8_t want[] = {42};
    assert_answer(TYPE, want, sizeof want);
}

Test(node_actors, proxy_reaches_kv_on_another_node) {
    body *x = body_new();
    tr_mp_write_array(&x->w, 2);
    tr_mp_write_cstr(&x->w, "kv@n2");
    tr_mp_write_array(&x->w, 2);
    tr_mp_write_cstr(&x->w, "get");
    tr_mp_write_cstr(&x->w, "absent");
    call("proxy", TYPE, x->b, x->w.len);
    static const uint8_t nil[] = {0xc0};
    assert_answer(TYPE, nil, sizeof nil);
}

Test(node_actors, proxy_rejects_bad_bodies) {
    static const uint8_t not_array[] = {0xa3, 'a', 'b', 'c'};
    static const uint8_t one[] = {0x91, 0xa4, 'e', 'c', 'h', 'o'};
    static const uint8_t no_body[] = {0x92, 0xa4, 'e', 'c', 'h', 'o'};
    static const uint8_t int_target[] = {0x92, 0x07, 0x01};
    static const uint8_t three[] = {0x93, 0xa4, 'e', 'c', 'h', 'o', 0x01, 0x02};
    static const uint8_t truncated[] = {0x92, 0xa9, 'e', 'c'};
    const struct {
        const uint8_t *b;
        size_t n;
    } bad[] = {{not_array, sizeof not_array}, {one, sizeof one},
               {no_body, sizeof no_body},     {int_target, sizeof int_target},
               {three, sizeof three},         {truncated, sizeof truncated},
               {(const uint8_t *)"", 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        call("proxy", TYPE, bad[i].b, bad[i].n);
        assert_error(TYPE, "want [target, body]");
    }
    body *x = body_new();
    tr_mp_write_array(&x->w, 2);
    char long_name[2 * TR_NAME_MAX + 3];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    tr_mp_write_cstr(&x->w, long_name);
    tr_mp_write_nil(&x->w);
    call("proxy", TYPE, x->b, x->w.len);
    assert_error(TYPE, "want [target, body]");
}

Test(node_actors, proxy_answers_unreachable_for_a_name_it_cannot_send_to) {
    body *x = body_new();
    tr_mp_write_array(&x->w, 2);
    tr_mp_write_cstr(&x->w, "@n2"); /* no actor name */
    tr_mp_write_nil(&x->w);
    call("proxy", TYPE, x->b, x->w.len);
    assert_error(TYPE, "unreachable");
}

Test(node_actors, proxy_answers_timeout_when_the_target_is_silent) {
    body *x = body_new();
    tr_mp_write_array(&x->w, 2);
    tr_mp_write_cstr(&x->w, "sink@n2");
    tr_mp_write_nil(&x->w);
    uint64_t t0 = tr_sim_now_ns(sim);
    call("proxy", TYPE, x->b, x->w.len);
    assert_error(TR_MSG_USER, "timeout");
    cr_assert_geq(tr_sim_now_ns(sim) - t0, TR_PROXY_TIMEOUT_MS * MS);
}

Test(node_actors, proxy_answers_busy_when_its_table_is_full) {
    body *x = body_new();
    tr_mp_write_array(&x->w, 2);
    tr_mp_write_cstr(&x->w, "sink@n2");
    tr_mp_write_nil(&x->w);
    request r;
    memset(&r, 0, sizeof r);
    strcpy(r.target, "proxy");
    r.type = TYPE;
    memcpy(r.body, x->b, x->w.len);
    r.len = x->w.len;
    for (int i = 0; i < TR_PROXY_PENDING_MAX; i++) { /* each waits for the silent sink */
        cr_assert_eq(
            tr_node_spawn(tr_sim_node(sim, 0), &client_behaviour, NULL, &r, sizeof r, NULL), 0);
    }
    uint64_t t0 = tr_sim_now_ns(sim);
    call("proxy", TYPE, r.body, r.len);
    assert_error(TYPE, "busy");
    cr_assert_lt(tr_sim_now_ns(sim) - t0, TR_PROXY_TIMEOUT_MS * MS, "busy at once");
}

/* ---- kv -------------------------------------------------------------------------------- */

static void kv(const char *target, const char *op, const char *key, const uint8_t *val,
               size_t val_len) {
    body *x = body_new();
    tr_mp_write_array(&x->w, val ? 3 : 2);
    tr_mp_write_cstr(&x->w, op);
    tr_mp_write_cstr(&x->w, key);
    if (val) {
        tr_mp_write_raw(&x->w, val, val_len);
    }
    cr_assert_eq(x->w.err, 0);
    call(target, TYPE, x->b, x->w.len);
}

static const uint8_t ok[] = {0x81, 0xa2, 'o', 'k', 0xc3};
static const uint8_t nil[] = {0xc0};

Test(node_actors, kv_put_then_get_returns_the_value) {
    static const uint8_t v[] = {
        0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x92, 0xc3, 0xcb,
        0x3f, 0xf0, 0,   0,    0,    0,   0,    0}; /* {"a":1,"b":[true,1.0]} */
    kv("kv", "get", "k", NULL, 0);
    assert_answer(TYPE, nil, sizeof nil);
    kv("kv", "put", "k", v, sizeof v);
    assert_answer(TYPE, ok, sizeof ok);
    kv("kv", "get", "k", NULL, 0);
    assert_answer(TYPE, v, sizeof v);
    kv("kv@n2", "get", "k", NULL, 0); /* each node has its own keys */
    assert_answer(TYPE, nil, sizeof nil);
}

Test(node_actors, kv_values_survive_a_crash) {
    static const uint8_t v[] = {0xa5, 'h', 'e', 'l', 'l', 'o'};
    kv("kv@n2", "put", "greeting", v, sizeof v);
    assert_answer(TYPE, ok, sizeof ok);
    cr_assert_eq(tr_sim_crash(sim, 1), 0);
    cr_assert_eq(tr_sim_restart(sim, 1), 0);
    kv("kv@n2", "get", "greeting", NULL, 0);
    assert_answer(TYPE, v, sizeof v);
}

Test(node_actors, kv_rejects_bad_bodies) {
    static const uint8_t not_array[] = {0x01};
    static const uint8_t one[] = {0x91, 0xa3, 'g', 'e', 't'};
    static const uint8_t four[] = {0x94, 0xa3, 'p', 'u', 't', 0xa1, 'k', 0x01, 0x02};
    static const uint8_t int_key[] = {0x92, 0xa3, 'g', 'e', 't', 0x05};
    static const uint8_t empty_key[] = {0x92, 0xa3, 'g', 'e', 't', 0xa0};
    const struct {
        const uint8_t *b;
        size_t n;
    } bad[] = {{not_array, sizeof not_array}, {one, sizeof one},
               {four, sizeof four},           {int_key, sizeof int_key},
               {empty_key, sizeof empty_key}, {(const uint8_t *)"", 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        call("kv", TYPE, bad[i].b, bad[i].n);
        assert_error(TYPE, "want [op, key, ...]");
    }
    char long_key[TR_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    kv("kv", "get", long_key, NULL, 0);
    assert_error(TYPE, "want [op, key, ...]");
}

Test(node_actors, kv_rejects_bad_ops_and_values) {
    static const uint8_t one_int[] = {0x01};
    static const uint8_t truncated[] = {0x92, 0x01};  /* an array missing its second element */
    static const uint8_t two_values[] = {0x01, 0x02}; /* two values after the key */
    kv("kv", "del", "k", NULL, 0);
    assert_error(TYPE, "bad op");
    kv("kv", "get", "k", one_int, sizeof one_int); /* get with a value */
    assert_error(TYPE, "bad op");
    kv("kv", "put", "k", NULL, 0); /* put without one */
    assert_error(TYPE, "bad op");
    kv("kv", "put", "k", truncated, sizeof truncated);
    assert_error(TYPE, "bad op");
    kv("kv", "put", "k", two_values, sizeof two_values);
    assert_error(TYPE, "bad op");
    kv("kv", "get", "k", NULL, 0); /* nothing was stored */
    assert_answer(TYPE, nil, sizeof nil);
}

Test(node_actors, kv_values_nest_up_to_the_depth_limit) {
    uint8_t v[TR_KV_DEPTH_MAX + 1];
    memset(v, 0x91, sizeof v);     /* arrays of one element, ... */
    v[TR_KV_DEPTH_MAX - 1] = 0x90; /* ... the innermost empty: TR_KV_DEPTH_MAX containers */
    kv("kv", "put", "deep", v, TR_KV_DEPTH_MAX);
    assert_answer(TYPE, ok, sizeof ok);
    kv("kv", "get", "deep", NULL, 0);
    assert_answer(TYPE, v, TR_KV_DEPTH_MAX);
    v[TR_KV_DEPTH_MAX - 1] = 0x91;
    v[TR_KV_DEPTH_MAX] = 0x90; /* one more */
    kv("kv", "put", "deeper", v, sizeof v);
    assert_error(TYPE, "bad op");
    static const uint8_t map[] = {0x81, 0xa1, 'k',  0x92, 0xcf, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x01, 0x00};
    kv("kv", "put", "map", map, sizeof map); /* {"k": [2^64 - 1, bin]} */
    assert_answer(TYPE, ok, sizeof ok);
    static const uint8_t short_map[] = {0x82, 0xa1, 'k', 0x01}; /* a map missing an entry */
    kv("kv", "put", "map", short_map, sizeof short_map);
    assert_error(TYPE, "bad op");
}
