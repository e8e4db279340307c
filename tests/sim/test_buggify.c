/* TR_BUGGIFY (troupe.h, "Fault points"): never true on the real engine; in the simulator on
 * only with tr_sim_config.buggify, per-run site enabling, deterministic, counted; and the
 * built-in services' fault points run with their checks still holding. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "troupe.h"
#include "troupe_cli.h"

#define MS 1000000ull
#define EVALS 2000

enum {
    PROBE = TR_MSG_USER + 1,
    PROBE_REPLY,
    TICK,
    PING
};

/* Evaluates one fault point EVALS times per PROBE and answers how often it was true. */
static int probe_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    if (msg->type != PROBE) {
        return TR_CONTINUE;
    }
    uint32_t fired = 0;
    for (int i = 0; i < EVALS; i++) {
        fired += TR_BUGGIFY(ctx);
    }
    tr_reply(ctx, msg, PROBE_REPLY, &fired, sizeof fired);
    return TR_CONTINUE;
}

static const tr_behaviour probe_behaviour = {.name = "probe", .receive = probe_receive};

/* Every 10 ms: a fault point; when it fires, a ping to the next node (so that what the fault
 * points decide shows in the trace). */
static int ticker_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    uint64_t timer;
    (void)state, (void)arg, (void)len;
    return tr_timer_start(ctx, 10, 10, TICK, &timer);
}

static int ticker_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    if (msg->type == TICK && TR_BUGGIFY(ctx)) {
        tr_node *node = tr_ctx_node(ctx);
        char to[32];
        snprintf(to, sizeof to, "ticker@n%u", tr_node_id(node) % 3 + 1);
        tr_send_name(ctx, to, PING, NULL, 0);
    }
    return TR_CONTINUE;
}

static const tr_behaviour ticker_behaviour = {
    .name = "ticker", .init = ticker_init, .receive = ticker_receive};

static int boot_ticker(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "ticker"};
    (void)ud;
    return tr_node_spawn(node, &ticker_behaviour, &o, NULL, 0, NULL);
}

typedef struct run_out {
    uint64_t hash;
    tr_sim_stats st;
} run_out;

static run_out run_ticker(uint64_t seed, bool buggify) {
    tr_sim_config cfg;
    tr_sim *sim;
    tr_sim_config_init(&cfg);
    cfg.seed = seed;
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = boot_ticker;
    cfg.buggify = buggify;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_sim_run_for(sim, 2000 * MS);
    run_out r = {.hash = tr_sim_trace_hash(sim)};
    tr_sim_stats_get(sim, &r.st);
    tr_sim_destroy(sim);
    return r;
}

Test(buggify, same_seed_gives_the_same_hash_and_counts) {
    bool some_fired = false;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        run_out a = run_ticker(seed, true), b = run_ticker(seed, true);
        cr_assert_eq(a.hash, b.hash, "seed %llu: %016llx then %016llx", (unsigned long long)seed,
                     (unsigned long long)a.hash, (unsigned long long)b.hash);
        cr_assert_eq(a.st.buggify_checked, b.st.buggify_checked);
        cr_assert_eq(a.st.buggify_fired, b.st.buggify_fired);
        cr_assert_gt(a.st.buggify_checked, 500, "3 nodes x 200 ticks evaluate the point");
        some_fired |= a.st.buggify_fired > 0;
    }
    cr_assert(some_fired);
}

/* Each site is enabled for a whole run or not (from the seed): over seeds, the one site of
 * the ticker never fires in some runs and fires about one evaluation in four in the others. */
Test(buggify, a_site_is_enabled_per_run_and_then_fires_one_time_in_four) {
    int off = 0, on = 0;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        run_out r = run_ticker(seed, true);
        if (r.st.buggify_fired == 0) {
            off++;
            continue;
        }
        on++;
        double rate = (double)r.st.buggify_fired / (double)r.st.buggify_checked;
        cr_assert(rate > 0.15 && rate < 0.35, "seed %llu fired %.3f of its evaluations",
                  (unsigned long long)seed, rate);
    }
    cr_assert_gt(off, 0);
    cr_assert_gt(on, 0);
}

Test(buggify, off_by_default_never_fires_nor_counts) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cr_assert_not(cfg.buggify);
    for (uint64_t seed = 1; seed <= 8; seed++) {
        run_out r = run_ticker(seed, false);
        cr_assert_eq(r.st.buggify_checked, 0);
        cr_assert_eq(r.st.buggify_fired, 0);
    }
}

/* A probe actor on a real node, asked while a simulation with buggify on is alive in the
 * process (so the macro does call in, and the real engine answers), never sees it true; the
 * same actor on a simulated node does. */
Test(buggify, never_true_on_the_real_engine) {
    tr_sim_config sc;
    tr_sim *sim;
    tr_sim_config_init(&sc);
    sc.nodes = 1;
    sc.store = false;
    sc.buggify = true;
    uint64_t fired_sim = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        sc.seed = seed;
        cr_assert_eq(tr_sim_create(&sc, &sim), 0);
        tr_spawn_opts o = {.name = "probe"};
        cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &probe_behaviour, &o, NULL, 0, NULL), 0);
        tr_msg *reply = NULL;
        cr_assert_eq(tr_sim_request(sim, 0, "probe", PROBE, NULL, 0, 100 * MS, &reply), 0);
        uint32_t n;
        memcpy(&n, reply->body, sizeof n);
        fired_sim += n;
        tr_msg_free(reply);
        tr_sim_destroy(sim);
    }
    cr_assert_gt(fired_sim, 0, "the probe must be able to see a fault point fire");

    cr_assert_eq(tr_sim_create(&sc, &sim), 0); /* alive during the real node's probes */
    tr_config rc = {.workers = 2, .no_store = true};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&rc, &rt), 0);
    tr_addr probe;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &probe_behaviour, NULL, NULL, 0, &probe), 0);
    tr_inbox *in;
    cr_assert_eq(tr_inbox_create(rt, &in), 0);
    for (int i = 0; i < 20; i++) {
        tr_msg *reply = NULL;
        cr_assert_eq(tr_inbox_request(in, probe, NULL, PROBE, NULL, 0, 5000, &reply), 0);
        uint32_t n;
        memcpy(&n, reply->body, sizeof n);
        cr_assert_eq(n, 0, "a fault point fired on the real engine");
        tr_msg_free(reply);
    }
    tr_inbox_destroy(in);
    tr_runtime_destroy(rt);
    tr_sim_destroy(sim);
    cr_assert_eq(tr_buggify_sims, 0, "every sim with buggify on is gone");
}

/* ---- the built-in services' fault points, through `troupe sim` ---- */

#define OUT_MAX (1 << 16)
static char out[OUT_MAX];

static unsigned long long fired(const char *text) {
    const char *b = strstr(text, "buggify: ");
    cr_assert_not_null(b, "no buggify line in:\n%s", text);
    unsigned long long n = 0, of = 0;
    cr_assert_eq(sscanf(b, "buggify: %llu fault points fired of %llu", &n, &of), 2, "%s", b);
    return n;
}

/* Seed 1 enables the registers' fault points (the CP early quorum timeout, the AP skipped
 * anti-entropy round): they fire thousands of times and CP stays linearizable, AP converges. */
Test(buggify, registers_hold_with_their_fault_points_firing) {
    cr_assert_eq(troupe_cli("", "sim", "--buggify --seed 1 --duration 20s", false, out, OUT_MAX), 0,
                 "%s", out);
    cr_assert_gt(fired(out), 100, "%s", out);
    cr_assert_not_null(strstr(out, "linearizable             yes"), "%s", out);
    cr_assert_not_null(strstr(out, " --buggify"), "the replay line keeps it:\n%s", out);
}

/* Stock's fault point (an applied change answered "indeterminate") makes clients retry
 * reservations whose outcome they do not know: the ledger must answer them, and the checks
 * hold. A site is
 * enabled for a run or not from the seed and its place in the source, so the test looks for
 * a seed among the first few that enables it, and every seed must hold. */
Test(buggify, stock_holds_with_indeterminate_answers) {
    unsigned long long most = 0;
    for (int seed = 1; seed <= 8 && most <= 50; seed++) {
        char args[96];
        snprintf(args, sizeof args, "--workload stock --buggify --seed %d --duration 30s", seed);
        cr_assert_eq(troupe_cli("", "sim", args, false, out, OUT_MAX), 0, "%s", out);
        most = fired(out) > most ? fired(out) : most;
    }
    cr_assert_gt(most, 50, "no seed of 1..8 enabled stock's fault point:\n%s", out);
}

/* The same retries, without the ledger lookup (the planted double-charge bug), charge twice:
 * under a partition alone no seed of 5..16 catches it; with the fault points on, some do. */
Test(buggify, exposes_a_planted_bug_that_the_faults_alone_miss) {
    const char *args = "--workload stock --nemesis partition --bug double-charge --seeds 5..16";
    char with[256];
    cr_assert_eq(troupe_cli("", "sim", args, false, out, OUT_MAX), 0, "%s", out);
    snprintf(with, sizeof with, "%s --buggify", args);
    cr_assert_eq(troupe_cli("", "sim", with, false, out, OUT_MAX), 1, "%s", out);
}

Test(buggify, no_buggify_turns_it_off_again) {
    cr_assert_eq(
        troupe_cli("", "sim", "--buggify --no-buggify --seed 1 --duration 5s", false, out, OUT_MAX),
        0, "%s", out);
    cr_assert_null(strstr(out, "buggify"), "%s", out);
}
