/* Supervisors (troupe.h, runtime/supervisor.c): every strategy restarts the right children,
 * restart types, intensity and escalation, the restart window, ordering, the spec copy.
 * Supervision does not depend on the engine, so these tests run on a one-node simulation:
 * virtual time and a fixed seed make them deterministic (the window test moves virtual time
 * past window_ms; "nothing else happens" runs the simulation on for a virtual second).
 * Children report their init and terminate to a collector actor; the supervisor's own death
 * is seen through a watcher actor that monitors it. A last suite runs a supervisor on the
 * real engine (worker threads), asserting what happens, never how fast. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "troupe.h"

enum {
    MSG_CRASH = TR_MSG_USER + 100, /* to a worker: fail with TR_EFAILED */
    MSG_QUIT,                      /* to a worker: stop normally */
    EV_INIT,                       /* worker -> inbox: started */
    EV_TERM,                       /* worker -> inbox: terminating */
    EV_DOWN                        /* watcher -> inbox: the supervisor stopped */
};

#define WAIT_NS 1000000000ull  /* virtual: every reaction here takes microseconds */
#define QUIET_NS 1000000000ull /* virtual */
#define REAL_WAIT_MS 10000     /* real engine: a bound on a wait, not a timing */

typedef struct event {
    uint32_t type;
    uint32_t id;
    int32_t reason;
    tr_addr addr;
} event;

/* ---- Actors used by the tests ------------------------------------------------------------ */

typedef struct worker_arg {
    tr_addr inbox;
    uint32_t id;
    bool fail_init;
} worker_arg;

static void report(tr_ctx *ctx, tr_addr inbox, uint32_t type, uint32_t id, int reason,
                   tr_addr addr) {
    event e = {.type = type, .id = id, .reason = reason, .addr = addr};
    (void)tr_send(ctx, inbox, type, &e, sizeof e);
}

static int worker_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    if (arg_len != sizeof(worker_arg)) {
        return TR_EINVAL; /* no assertion here: on the real engine this runs on a worker */
    }
    memcpy(state, arg, sizeof(worker_arg));
    const worker_arg *w = state;
    report(ctx, w->inbox, EV_INIT, w->id, 0, tr_self(ctx));
    return w->fail_init ? TR_EFAILED : 0;
}

static int worker_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == MSG_CRASH) {
        return TR_EFAILED;
    }
    return msg->type == MSG_QUIT ? TR_STOP : TR_CONTINUE;
}

static void worker_terminate(tr_ctx *ctx, void *state, int reason) {
    const worker_arg *w = state;
    report(ctx, w->inbox, EV_TERM, w->id, reason, tr_self(ctx));
}

static const tr_behaviour worker = {
    .name = "worker",
    .state_size = sizeof(worker_arg),
    .init = worker_init,
    .receive = worker_receive,
    .terminate = worker_terminate,
};

/* The watcher spawns the supervisor named "sup", monitors it and forwards its DOWN. */
typedef struct watcher_arg {
    const tr_sup_spec *spec; /* valid during init: the supervisor copies it */
    tr_addr inbox;
} watcher_arg;

static int watcher_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    const watcher_arg *a = arg;
    *(tr_addr *)state = a->inbox;
    tr_spawn_opts opts = {.name = "sup"};
    tr_addr sup;
    int rc = tr_spawn_supervisor(ctx, a->spec, &opts, &sup);
    if (rc != 0) {
        return rc;
    }
    uint64_t ref;
    return tr_monitor(ctx, sup, &ref);
}

static int watcher_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == TR_MSG_DOWN) {
        int reason = TR_EFAILED;
        if (msg->body_len == 1) {
            reason = (int8_t)msg->body[0]; /* a fixint: 0 or a TR_E code */
        }
        report(ctx, *(tr_addr *)state, EV_DOWN, 0, reason, msg->from);
    }
    return TR_CONTINUE;
}

static const tr_behaviour watcher = {
    .name = "watcher",
    .state_size = sizeof(tr_addr),
    .init = watcher_init,
    .receive = watcher_receive,
};

/* ---- Fixture: one simulated node and a collector -------------------------------------- */

static tr_sim *sim;
static tr_node *node;
static tr_addr inbox_addr; /* the collector */

#define EVENTS_MAX 64
static event events[EVENTS_MAX];
static size_t events_read, events_written;

/* Runs on the test's thread (the simulation's), so it may assert. */
static int collector_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)ctx;
    (void)state;
    cr_assert_eq(msg->body_len, sizeof(event));
    cr_assert_lt(events_written - events_read, EVENTS_MAX, "events pile up unread");
    event e;
    memcpy(&e, msg->body, sizeof e);
    cr_assert_eq(e.type, msg->type);
    events[events_written++ % EVENTS_MAX] = e;
    return TR_CONTINUE;
}

static const tr_behaviour collector = {.name = "collector", .receive = collector_receive};

static void setup(void) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = 7;
    cfg.nodes = 1;
    cfg.store = false;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    node = tr_sim_node(sim, 0);
    events_read = events_written = 0;
    cr_assert_eq(tr_node_spawn(node, &collector, NULL, NULL, 0, &inbox_addr), 0);
}

static void teardown(void) {
    tr_sim_destroy(sim);
}

TestSuite(supervisor, .init = setup, .fini = teardown, .timeout = 30);

/* Child specs: worker ids are their index + 1; args live in `args`. */
typedef struct tree {
    worker_arg args[8];
    tr_child_spec children[8];
    tr_sup_spec spec;
} tree;

static void tree_init(tree *t, tr_strategy strategy, uint32_t max_restarts, uint32_t window_ms,
                      const char *const *names, const tr_restart *restarts, size_t n) {
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        t->args[i] = (worker_arg){.inbox = inbox_addr, .id = (uint32_t)i + 1};
        t->children[i] = (tr_child_spec){.name = names[i],
                                         .behaviour = &worker,
                                         .arg = &t->args[i],
                                         .arg_len = sizeof t->args[i],
                                         .restart = restarts ? restarts[i] : TR_PERMANENT};
    }
    t->spec = (tr_sup_spec){.strategy = strategy,
                            .max_restarts = max_restarts,
                            .window_ms = window_ms,
                            .children = t->children,
                            .child_count = n};
}

static bool have_event(tr_sim *s, void *ud) {
    (void)s;
    (void)ud;
    return events_written > events_read;
}

static event next_event(void) {
    int rc = tr_sim_run_until(sim, have_event, NULL, tr_sim_now_ns(sim) + WAIT_NS);
    cr_assert_eq(rc, 0, "no event within %llu virtual ns: %s", WAIT_NS, tr_strerror(rc));
    return events[events_read++ % EVENTS_MAX];
}

static void collect(event *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        out[i] = next_event();
    }
}

/* Index in evs[0..n) of the event (type, id), asserting there is exactly one. */
static size_t find(const event *evs, size_t n, uint32_t type, uint32_t id) {
    size_t at = n;
    for (size_t i = 0; i < n; i++) {
        if (evs[i].type == type && evs[i].id == id) {
            cr_assert_eq(at, n, "two events type %u id %u", type, id);
            at = i;
        }
    }
    cr_assert_neq(at, n, "no event type %u id %u", type, id);
    return at;
}

/* Nothing else happens: the simulation runs on for a virtual second without an event. */
static void assert_quiet(void) {
    tr_sim_run_for(sim, QUIET_NS);
    if (events_written > events_read) {
        event e = events[events_read % EVENTS_MAX];
        cr_assert_fail("unexpected event type %u id %u reason %d", e.type, e.id, e.reason);
    }
}

static tr_addr lookup(const char *name) {
    tr_addr a;
    cr_assert_eq(tr_node_lookup(node, name, &a), 0, "name %s not registered", name);
    return a;
}

static void crash(const char *name) {
    cr_assert_eq(tr_node_send(node, lookup(name), MSG_CRASH, NULL, 0), 0);
}

/* Starts the tree under a watcher and checks every child reported its init. */
static void start_watched(tree *t, event *inits) {
    watcher_arg a = {.spec = &t->spec, .inbox = inbox_addr};
    tr_addr w;
    cr_assert_eq(tr_node_spawn(node, &watcher, NULL, &a, sizeof a, &w), 0);
    collect(inits, t->spec.child_count);
}

static const char *const abcd[] = {"a", "b", "c", "d"};

/* ---- Strategies -------------------------------------------------------------------------- */

Test(supervisor, one_for_one_restarts_only_the_failed_child) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ONE, 5, 60000, abcd, NULL, 3);
    tr_addr sup;
    cr_assert_eq(tr_node_spawn_supervisor(node, &t.spec, NULL, &sup), 0);
    event ev[3];
    collect(ev, 3);
    tr_addr a = ev[find(ev, 3, EV_INIT, 1)].addr, b = ev[find(ev, 3, EV_INIT, 2)].addr;
    tr_addr c = ev[find(ev, 3, EV_INIT, 3)].addr;
    cr_assert(tr_addr_eq(lookup("a"), a) && tr_addr_eq(lookup("b"), b));
    crash("b");
    collect(ev, 2);
    cr_assert_eq(ev[find(ev, 2, EV_TERM, 2)].reason, TR_EFAILED);
    tr_addr b2 = ev[find(ev, 2, EV_INIT, 2)].addr;
    cr_assert(!tr_addr_eq(b2, b), "a restart is a new instance");
    cr_assert(tr_addr_eq(lookup("b"), b2), "the name follows the new instance");
    cr_assert(tr_addr_eq(lookup("a"), a) && tr_addr_eq(lookup("c"), c));
    assert_quiet();
    cr_assert(tr_node_actor_is_alive(node, sup));
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.restarts, 1);
}

Test(supervisor, one_for_all_restarts_every_child_after_stopping_them_in_reverse) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ALL, 5, 60000, abcd, NULL, 3);
    event ev[6];
    start_watched(&t, ev);
    tr_addr old[3];
    for (uint32_t id = 1; id <= 3; id++) {
        old[id - 1] = ev[find(ev, 3, EV_INIT, id)].addr;
    }
    crash("b");
    collect(ev, 6);
    size_t term_a = find(ev, 6, EV_TERM, 1), term_b = find(ev, 6, EV_TERM, 2);
    size_t term_c = find(ev, 6, EV_TERM, 3);
    cr_assert_eq(ev[term_b].reason, TR_EFAILED);
    cr_assert_eq(ev[term_a].reason, TR_EKILLED);
    cr_assert_eq(ev[term_c].reason, TR_EKILLED);
    cr_assert_lt(term_c, term_a, "siblings are stopped highest index first");
    for (uint32_t id = 1; id <= 3; id++) {
        size_t init = find(ev, 6, EV_INIT, id);
        cr_assert_gt(init, term_a, "no child starts before every old instance is dead");
        cr_assert(!tr_addr_eq(ev[init].addr, old[id - 1]));
        cr_assert(tr_addr_eq(lookup(abcd[id - 1]), ev[init].addr));
    }
    assert_quiet();
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.restarts, 3, "every restarted child counts");
}

Test(supervisor, rest_for_one_restarts_the_failed_child_and_those_after_it) {
    tree t;
    tree_init(&t, TR_REST_FOR_ONE, 5, 60000, abcd, NULL, 4);
    event ev[7];
    start_watched(&t, ev);
    tr_addr a = lookup("a");
    crash("b");
    collect(ev, 6); /* TERM b, d, c; INIT b, c, d */
    size_t term_c = find(ev, 6, EV_TERM, 3), term_d = find(ev, 6, EV_TERM, 4);
    cr_assert_eq(ev[find(ev, 6, EV_TERM, 2)].reason, TR_EFAILED);
    cr_assert_lt(term_d, term_c, "stopped in reverse order");
    for (uint32_t id = 2; id <= 4; id++) {
        cr_assert_gt(find(ev, 6, EV_INIT, id), term_c);
    }
    cr_assert(tr_addr_eq(lookup("a"), a), "a child before the failed one is left alone");
    assert_quiet();
}

/* ---- Restart types ----------------------------------------------------------------------- */

Test(supervisor, transient_is_restarted_after_a_failure_only) {
    tree t;
    const tr_restart r[] = {TR_TRANSIENT, TR_TRANSIENT};
    tree_init(&t, TR_ONE_FOR_ONE, 5, 60000, abcd, r, 2);
    event ev[3];
    start_watched(&t, ev);
    cr_assert_eq(tr_node_send(node, lookup("a"), MSG_QUIT, NULL, 0), 0);
    collect(ev, 1);
    cr_assert(ev[0].type == EV_TERM && ev[0].id == 1 && ev[0].reason == 0);
    assert_quiet();
    tr_addr gone;
    cr_assert_eq(tr_node_lookup(node, "a", &gone), TR_ENOENT);
    crash("b");
    collect(ev, 2);
    find(ev, 2, EV_TERM, 2);
    find(ev, 2, EV_INIT, 2);
    assert_quiet();
}

Test(supervisor, temporary_is_never_restarted_even_as_a_sibling) {
    tree t;
    const tr_restart r[] = {TR_PERMANENT, TR_TEMPORARY, TR_TEMPORARY};
    tree_init(&t, TR_ONE_FOR_ALL, 5, 60000, abcd, r, 3);
    event ev[3];
    start_watched(&t, ev);
    crash("b"); /* a temporary child's failure restarts nothing */
    collect(ev, 1);
    cr_assert(ev[0].type == EV_TERM && ev[0].id == 2 && ev[0].reason == TR_EFAILED);
    assert_quiet();
    crash("a"); /* one_for_all stops c too, but restarts only a */
    collect(ev, 3);
    cr_assert_eq(ev[find(ev, 3, EV_TERM, 3)].reason, TR_EKILLED);
    find(ev, 3, EV_TERM, 1);
    find(ev, 3, EV_INIT, 1);
    assert_quiet();
    tr_addr gone;
    cr_assert_eq(tr_node_lookup(node, "b", &gone), TR_ENOENT);
    cr_assert_eq(tr_node_lookup(node, "c", &gone), TR_ENOENT);
}

/* ---- Intensity and escalation ------------------------------------------------------------ */

Test(supervisor, intensity_exceeded_stops_children_in_reverse_and_escalates) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ONE, 2, 60000, abcd, NULL, 3);
    event ev[4];
    start_watched(&t, ev);
    tr_addr sup = lookup("sup");
    for (int i = 0; i < 2; i++) { /* two restarts are allowed */
        crash("a");
        collect(ev, 2);
        find(ev, 2, EV_TERM, 1);
        find(ev, 2, EV_INIT, 1);
    }
    crash("a"); /* the third gives up */
    collect(ev, 4);
    cr_assert(ev[0].type == EV_TERM && ev[0].id == 1 && ev[0].reason == TR_EFAILED);
    cr_assert(ev[1].type == EV_TERM && ev[1].id == 3 && ev[1].reason == TR_ESHUTDOWN);
    cr_assert(ev[2].type == EV_TERM && ev[2].id == 2 && ev[2].reason == TR_ESHUTDOWN);
    cr_assert(ev[3].type == EV_DOWN && ev[3].reason == TR_ESHUTDOWN,
              "the supervisor's monitor sees TR_ESHUTDOWN (got type %u reason %d)", ev[3].type,
              ev[3].reason);
    cr_assert(tr_addr_eq(ev[3].addr, sup));
    assert_quiet();
    cr_assert(!tr_node_actor_is_alive(node, sup));
}

Test(supervisor, restarts_older_than_the_window_do_not_count) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ONE, 1, 50, abcd, NULL, 1);
    event ev[2];
    start_watched(&t, ev);
    for (int i = 0; i < 3; i++) {
        tr_sim_run_for(sim, 200 * 1000000ull); /* > window_ms: the previous restart expired */
        crash("a");
        collect(ev, 2);
        find(ev, 2, EV_TERM, 1);
        find(ev, 2, EV_INIT, 1);
    }
    assert_quiet();
}

Test(supervisor, a_child_failing_init_makes_the_supervisor_give_up) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ONE, 3, 60000, abcd, NULL, 1);
    t.args[0].fail_init = true;
    event ev[1];
    watcher_arg a = {.spec = &t.spec, .inbox = inbox_addr};
    cr_assert_eq(tr_node_spawn(node, &watcher, NULL, &a, sizeof a, NULL), 0);
    int inits = 0;
    for (;;) {
        ev[0] = next_event();
        if (ev[0].type == EV_DOWN) {
            break;
        }
        inits += ev[0].type == EV_INIT;
    }
    cr_assert_eq(ev[0].reason, TR_ESHUTDOWN);
    cr_assert_eq(inits, 4, "the first start and three restarts");
}

Test(supervisor, nested_supervisor_escalates_one_level) {
    /* top (one_for_one) -> [sub (one_for_one, 1 restart) -> [w], x] */
    worker_arg wa = {.inbox = inbox_addr, .id = 1};
    worker_arg xa = {.inbox = inbox_addr, .id = 2};
    tr_child_spec sub_children[] = {
        {.name = "w", .behaviour = &worker, .arg = &wa, .arg_len = sizeof wa}};
    tr_sup_spec sub_spec = {TR_ONE_FOR_ONE, 1, 60000, sub_children, 1};
    tr_child_spec top_children[2];
    cr_assert_eq(tr_child_spec_supervisor_init(&top_children[0], "sub", TR_PERMANENT, &sub_spec),
                 0);
    top_children[1] =
        (tr_child_spec){.name = "x", .behaviour = &worker, .arg = &xa, .arg_len = sizeof xa};
    tr_sup_spec top_spec = {TR_ONE_FOR_ONE, 5, 60000, top_children, 2};
    tree t = {.spec = top_spec};
    event ev[3];
    start_watched(&t, ev);
    tr_child_spec_deinit(&top_children[0]);
    tr_addr top = lookup("sup"), sub = lookup("sub"), x = lookup("x");
    crash("w"); /* sub restarts w once */
    collect(ev, 2);
    find(ev, 2, EV_INIT, 1);
    cr_assert(tr_addr_eq(lookup("sub"), sub));
    crash("w"); /* sub gives up; top restarts sub, which starts a new w */
    collect(ev, 2);
    cr_assert_eq(ev[find(ev, 2, EV_TERM, 1)].reason, TR_EFAILED);
    find(ev, 2, EV_INIT, 1);
    cr_assert(!tr_addr_eq(lookup("sub"), sub), "sub was restarted by top");
    cr_assert(tr_addr_eq(lookup("sup"), top), "top absorbed the failure");
    cr_assert(tr_addr_eq(lookup("x"), x), "top's other child is untouched");
    assert_quiet(); /* in particular no EV_DOWN: top is alive */
    cr_assert(tr_node_actor_is_alive(node, top));
}

/* ---- Lifecycle and spec ------------------------------------------------------------------ */

Test(supervisor, stopping_the_supervisor_stops_children_in_reverse_order) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ONE, 5, 60000, abcd, NULL, 3);
    event ev[4];
    start_watched(&t, ev);
    cr_assert_eq(tr_node_stop(node, lookup("sup"), 0), 0);
    collect(ev, 4);
    size_t down = find(ev, 4, EV_DOWN, 0);
    cr_assert_eq(ev[down].reason, 0);
    for (uint32_t id = 1; id <= 3; id++) {
        cr_assert_eq(ev[find(ev, 4, EV_TERM, id)].reason, 0);
    }
    assert_quiet();
}

Test(supervisor, the_spec_is_copied_at_spawn) {
    tree *t = malloc(sizeof *t);
    char *names[2] = {strdup("first"), strdup("second")};
    tree_init(t, TR_ONE_FOR_ONE, 5, 60000, (const char *const *)names, NULL, 2);
    tr_addr sup;
    cr_assert_eq(tr_node_spawn_supervisor(node, &t->spec, NULL, &sup), 0);
    memset(t, 0xab, sizeof *t); /* scribble over everything the spec pointed to */
    free(t);
    names[0][0] = names[1][0] = 'X';
    free(names[0]);
    free(names[1]);
    event ev[2];
    collect(ev, 2);
    crash("second");
    collect(ev, 2);
    /* The new instance found its id and the inbox in its copied arg, under its copied name. */
    cr_assert(tr_addr_eq(lookup("second"), ev[find(ev, 2, EV_INIT, 2)].addr));
}

Test(supervisor, bad_specs_are_refused) {
    worker_arg wa = {.inbox = inbox_addr, .id = 1};
    tr_child_spec c[2] = {{.name = "same", .behaviour = &worker, .arg = &wa, .arg_len = sizeof wa},
                          {.name = "same", .behaviour = &worker, .arg = &wa, .arg_len = sizeof wa}};
    tr_sup_spec s = {TR_ONE_FOR_ONE, 1, 1000, c, 2};
    tr_addr out;
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), TR_EINVAL, "duplicate names");
    char long_name[TR_NAME_MAX + 2];
    memset(long_name, 'x', TR_NAME_MAX + 1);
    long_name[TR_NAME_MAX + 1] = '\0';
    c[1].name = long_name;
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), TR_EINVAL, "long name");
    c[1].name = "other";
    c[1].behaviour = NULL;
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), TR_EINVAL, "no behaviour");
    c[1].behaviour = &worker;
    s.strategy = (tr_strategy)7;
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), TR_EINVAL, "strategy");
    s.strategy = TR_ONE_FOR_ONE;
    c[0].restart = (tr_restart)9;
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), TR_EINVAL, "restart type");
    c[0].restart = TR_PERMANENT;
    s.max_restarts = TR_SUP_RESTARTS_MAX + 1;
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), TR_EINVAL, "max_restarts");
    s.max_restarts = 1;
    cr_assert_eq(tr_node_spawn_supervisor(node, NULL, NULL, &out), TR_EINVAL);
    assert_quiet(); /* nothing was started */
    cr_assert_eq(tr_node_spawn_supervisor(node, &s, NULL, &out), 0, "the fixed spec works");
    event ev[2];
    collect(ev, 2);
}

/* A supervisor behaviour given a forged arg must refuse to start, not read out of bounds. */
Test(supervisor, a_forged_flat_spec_is_refused_by_init) {
    tr_child_spec child;
    tr_sup_spec empty = {TR_ONE_FOR_ONE, 1, 1000, NULL, 0};
    cr_assert_eq(tr_child_spec_supervisor_init(&child, "s", TR_PERMANENT, &empty), 0);
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    memcpy(junk, child.arg, child.arg_len < sizeof junk ? child.arg_len : sizeof junk);
    junk[16] = 200; /* child_count far beyond the bytes given */
    tr_child_spec forged = child;
    forged.arg = junk;
    forged.arg_len = sizeof junk;
    forged.name = "forged";
    tr_sup_spec top = {TR_ONE_FOR_ONE, 0, 1000, &forged, 1};
    watcher_arg a = {.spec = &top, .inbox = inbox_addr};
    cr_assert_eq(tr_node_spawn(node, &watcher, NULL, &a, sizeof a, NULL), 0);
    event e = next_event(); /* forged fails init, top has no restarts left and gives up */
    cr_assert_eq(e.type, EV_DOWN);
    cr_assert_eq(e.reason, TR_ESHUTDOWN);
    tr_child_spec_deinit(&child);
}

/* A transient child that is done at once (stops normally from init) is not restarted: the
 * supervisor must learn the real reason (0), even though the child died before it could
 * process the monitor request queued behind its init (a monitor request still queued to a
 * dying actor is answered with the actor's real reason, not TR_ENOPROC). */
static int quick_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    int rc = worker_init(ctx, state, arg, arg_len);
    (void)tr_stop(ctx, tr_self(ctx), 0);
    return rc;
}

static const tr_behaviour quick = {
    .name = "quick",
    .state_size = sizeof(worker_arg),
    .init = quick_init,
    .receive = worker_receive,
    .terminate = worker_terminate,
};

Test(supervisor, transient_child_done_in_init_is_not_restarted) {
    tree t;
    const tr_restart r[] = {TR_TRANSIENT};
    tree_init(&t, TR_ONE_FOR_ONE, 5, 60000, abcd, r, 1);
    t.children[0].behaviour = &quick;
    event ev[2];
    start_watched(&t, ev); /* its init */
    collect(ev + 1, 1);
    cr_assert(ev[1].type == EV_TERM && ev[1].reason == 0);
    assert_quiet();
}

/* ---- The real engine ---------------------------------------------------------------------- */

/* A supervisor on worker threads restarts a failed child under its name; children report to
 * an inbox. Waits are bounded (REAL_WAIT_MS) but nothing is asserted about time. */
static tr_runtime *rt;
static tr_inbox *real_inbox;

static void real_setup(void) {
    tr_config cfg = {.workers = 2};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    node = tr_runtime_node(rt);
    cr_assert_eq(tr_inbox_create(rt, &real_inbox), 0);
    inbox_addr = tr_inbox_addr(real_inbox);
}

static void real_teardown(void) {
    tr_inbox_destroy(real_inbox);
    tr_runtime_destroy(rt);
}

static event real_next_event(void) {
    tr_msg *m = NULL;
    int rc = tr_inbox_receive(real_inbox, REAL_WAIT_MS, &m);
    cr_assert_eq(rc, 0, "no event: %s", tr_strerror(rc));
    cr_assert_eq(m->body_len, sizeof(event));
    event e;
    memcpy(&e, m->body, sizeof e);
    cr_assert_eq(e.type, m->type);
    tr_msg_free(m);
    return e;
}

TestSuite(supervisor_real, .init = real_setup, .fini = real_teardown, .timeout = 60);

Test(supervisor_real, one_for_one_restarts_the_failed_child_under_its_name) {
    tree t;
    tree_init(&t, TR_ONE_FOR_ONE, 5, 60000, abcd, NULL, 2);
    tr_addr sup;
    cr_assert_eq(tr_node_spawn_supervisor(node, &t.spec, NULL, &sup), 0);
    event ev[2];
    for (size_t i = 0; i < 2; i++) {
        ev[i] = real_next_event();
    }
    tr_addr a = ev[find(ev, 2, EV_INIT, 1)].addr, b = ev[find(ev, 2, EV_INIT, 2)].addr;
    crash("b");
    for (size_t i = 0; i < 2; i++) {
        ev[i] = real_next_event();
    }
    cr_assert_eq(ev[find(ev, 2, EV_TERM, 2)].reason, TR_EFAILED);
    tr_addr b2 = ev[find(ev, 2, EV_INIT, 2)].addr;
    cr_assert(!tr_addr_eq(b2, b), "a restart is a new instance");
    cr_assert(tr_addr_eq(lookup("b"), b2), "the name follows the new instance");
    cr_assert(tr_addr_eq(lookup("a"), a));
    cr_assert(tr_node_actor_is_alive(node, sup));
    cr_assert_eq(tr_node_stop(node, sup, 0), 0);
    for (size_t i = 0; i < 2; i++) { /* both children stop with the supervisor */
        event e = real_next_event();
        cr_assert(e.type == EV_TERM && e.reason == 0, "type %u reason %d", e.type, e.reason);
    }
}
