/* Randomised configurations (harness/randomize.h): draws within the documented bounds, from
 * the seed alone; the options that replay a draw parse back to the same configuration; and
 * a replay line, without --randomize, gives the same trace hash, through `troupe sim` and
 * through the experiment runner. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/builtin.h"
#include "harness/randomize.h"
#include "troupe.h"
#include "troupe_cli.h"

#define US 1000ull
#define MS 1000000ull
#define SEEDS 10000

typedef struct drawn {
    tr_sim_config sc;
    uint32_t op_timeout_ms;
} drawn;

static drawn draw_seed(uint64_t seed) {
    drawn d;
    tr_sim_config_init(&d.sc);
    d.op_timeout_ms = 1000;
    tr__randomize_draw(seed, &d.sc, &d.op_timeout_ms);
    return d;
}

/* docs/simulation.md, "Randomised configurations": the table this checks. */
Test(randomize, draws_stay_within_the_documented_bounds_and_cover_them) {
    uint32_t nodes_seen = 0, dists_seen = 0, loss_off = 0, dup_off = 0, reorder_off = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        drawn d = draw_seed(seed);
        cr_assert(d.sc.nodes >= 3 && d.sc.nodes <= 16, "seed %llu: nodes %u",
                  (unsigned long long)seed, d.sc.nodes);
        cr_assert(d.sc.link_delay_min_ns >= 20 * US && d.sc.link_delay_min_ns <= 2 * MS);
        cr_assert(d.sc.link_delay_mean_ns <= 4 * MS);
        cr_assert(d.sc.delay_dist <= TR_SIM_DELAY_FIXED);
        cr_assert(d.sc.loss_prob >= 0 && d.sc.loss_prob <= 0.02);
        cr_assert(d.sc.dup_prob >= 0 && d.sc.dup_prob <= 0.02);
        cr_assert(d.sc.reorder_prob >= 0 && d.sc.reorder_prob <= 0.10);
        cr_assert(d.sc.failure_detect_ns >= 1 * MS && d.sc.failure_detect_ns <= 100 * MS);
        cr_assert(d.op_timeout_ms >= 500 && d.op_timeout_ms <= 5000);
        cr_assert(d.sc.heartbeat_ms >= 100 && d.sc.heartbeat_ms <= 1000, "%u", d.sc.heartbeat_ms);
        cr_assert(d.sc.fd_down_ms >= 1000 && d.sc.fd_down_ms <= 6000, "%u", d.sc.fd_down_ms);
        nodes_seen |= 1u << d.sc.nodes;
        dists_seen |= 1u << d.sc.delay_dist;
        loss_off += d.sc.loss_prob == 0;
        dup_off += d.sc.dup_prob == 0;
        reorder_off += d.sc.reorder_prob == 0;
    }
    cr_assert_eq(nodes_seen, 0x1fff8u, "every size from 3 to 16 is drawn");
    cr_assert_eq(dists_seen, 7u, "every delay distribution is drawn");
    /* the link faults are off in about half the runs */
    cr_assert(loss_off > SEEDS * 4 / 10 && loss_off < SEEDS * 6 / 10, "%u", loss_off);
    cr_assert(dup_off > SEEDS * 4 / 10 && dup_off < SEEDS * 6 / 10, "%u", dup_off);
    cr_assert(reorder_off > SEEDS * 4 / 10 && reorder_off < SEEDS * 6 / 10, "%u", reorder_off);
}

static void assert_same_knobs(const drawn *a, const drawn *b, const char *text);

Test(randomize, a_draw_is_a_function_of_the_seed) {
    drawn a = draw_seed(42), b = draw_seed(42);
    assert_same_knobs(&a, &b, "seed 42 twice");
    cr_assert_eq(a.sc.nodes, b.sc.nodes);
    uint32_t differ = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        drawn x = draw_seed(seed), y = draw_seed(seed + 1);
        differ += x.sc.link_delay_min_ns != y.sc.link_delay_min_ns;
    }
    cr_assert_gt(differ, 90);
}

/* Parses the options tr__randomize_format wrote (" --delay 120us --loss 0.004000 ...") into a
 * default configuration. */
static drawn parse_options(const char *text) {
    drawn d;
    char buf[512], *save = NULL;
    tr_sim_config_init(&d.sc);
    d.op_timeout_ms = 1000;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *name = strtok_r(buf, " ", &save); name != NULL; name = strtok_r(NULL, " ", &save)) {
        if (strcmp(name, "--buggify") == 0) {
            d.sc.buggify = true;
            continue;
        }
        cr_assert(tr__randomize_is_option(name), "not an option: %s in %s", name, text);
        char *value = strtok_r(NULL, " ", &save);
        cr_assert_not_null(value);
        cr_assert_eq(tr__randomize_parse(name, value, &d.sc, &d.op_timeout_ms), 0, "%s %s", name,
                     value);
    }
    return d;
}

static void assert_same_knobs(const drawn *a, const drawn *b, const char *text) {
    cr_assert_eq(a->sc.link_delay_min_ns, b->sc.link_delay_min_ns, "%s", text);
    cr_assert_eq(a->sc.link_delay_mean_ns, b->sc.link_delay_mean_ns, "%s", text);
    cr_assert_eq(a->sc.delay_dist, b->sc.delay_dist, "%s", text);
    cr_assert(a->sc.loss_prob == b->sc.loss_prob, "%s", text);
    cr_assert(a->sc.dup_prob == b->sc.dup_prob, "%s", text);
    cr_assert(a->sc.reorder_prob == b->sc.reorder_prob, "%s", text);
    cr_assert_eq(a->sc.failure_detect_ns, b->sc.failure_detect_ns, "%s", text);
    cr_assert_eq(a->op_timeout_ms, b->op_timeout_ms, "%s", text);
    cr_assert_eq(a->sc.heartbeat_ms, b->sc.heartbeat_ms, "%s", text);
    cr_assert_eq(a->sc.fd_down_ms, b->sc.fd_down_ms, "%s", text);
    cr_assert_eq(a->sc.buggify, b->sc.buggify, "%s", text);
}

Test(randomize, format_then_parse_gives_back_every_drawn_configuration) {
    char text[512];
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        drawn d = draw_seed(seed);
        d.sc.buggify = seed % 2 == 0;
        size_t n = tr__randomize_format(&d.sc, d.op_timeout_ms, text, sizeof text);
        cr_assert_lt(n, sizeof text);
        drawn back = parse_options(text);
        assert_same_knobs(&d, &back, text);
    }
    /* Values a person gives, not on the draw's grid, round-trip too. */
    drawn odd = draw_seed(1);
    odd.sc.link_delay_min_ns = 123457;
    odd.sc.loss_prob = 0.1 / 3;
    tr__randomize_format(&odd.sc, odd.op_timeout_ms, text, sizeof text);
    drawn back = parse_options(text);
    assert_same_knobs(&odd, &back, text);
}

Test(randomize, defaults_format_to_nothing) {
    tr_sim_config sc;
    char text[64] = "x";
    tr_sim_config_init(&sc);
    cr_assert_eq(tr__randomize_format(&sc, 1000, text, sizeof text), 0);
    cr_assert_str_empty(text);
}

Test(randomize, values_that_break_a_limit_are_refused) {
    static const char *const bad[][2] = {
        {"--delay", "5"},           {"--delay", "-1us"},      {"--delay", "11s"},
        {"--delay", "1.5ms"},       {"--jitter", "3 ms"},     {"--loss", "1.5"},
        {"--loss", "-0.1"},         {"--dup", "x"},           {"--reorder", ""},
        {"--delay-dist", "normal"}, {"--detect", "61s"},      {"--op-timeout", "1500us"},
        {"--op-timeout", "0ms"},    {"--op-timeout", "601s"},
    };
    drawn d = draw_seed(1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tr__randomize_parse(bad[i][0], bad[i][1], &d.sc, &d.op_timeout_ms), TR_EINVAL,
                     "%s '%s' accepted", bad[i][0], bad[i][1]);
    }
    cr_assert_not(tr__randomize_is_option("--nodes"));
}

/* ---- replay: through `troupe sim` ---- */

#define OUT_MAX (1 << 16)
static char out[OUT_MAX], out2[OUT_MAX];

static void line_after(const char *text, const char *tag, char *buf, size_t cap) {
    const char *p = strstr(text, tag);
    cr_assert_not_null(p, "no '%s' in:\n%s", tag, text);
    p += strlen(tag);
    size_t n = strcspn(p, "\n");
    cr_assert_lt(n, cap);
    memcpy(buf, p, n);
    buf[n] = '\0';
}

static void replay_gives_the_same_hash(const char *args) {
    char hash[64], hash2[64], replay[1024];
    int rc = troupe_cli("", "sim", args, false, out, OUT_MAX);
    cr_assert(rc == 0 || rc == 1 || rc == 3, "%s: exit %d\n%s", args, rc, out);
    line_after(out, "trace-hash: ", hash, sizeof hash);
    line_after(out, "replay: troupe sim ", replay, sizeof replay);
    cr_assert_null(strstr(replay, "--randomize"), "%s", replay);
    cr_assert_not_null(strstr(replay, "--delay "), "the drawn values are explicit: %s", replay);
    cr_assert_not_null(strstr(replay, "--heartbeat "), "the protocol's detector too: %s", replay);
    cr_assert_eq(troupe_cli("", "sim", replay, false, out2, OUT_MAX), rc, "%s\n%s", replay, out2);
    line_after(out2, "trace-hash: ", hash2, sizeof hash2);
    cr_assert_str_eq(hash, hash2, "%s\nreplay: %s", args, replay);
}

Test(randomize, replay_line_without_randomize_gives_the_same_trace_hash) {
    replay_gives_the_same_hash("--randomize --seed 1 --duration 10s");
    replay_gives_the_same_hash(
        "--randomize --seed 6 --workload cp --nemesis crash,pause --duration 10s");
    replay_gives_the_same_hash("--randomize --seed 2 --workload stock --buggify");
}

Test(randomize, the_cluster_size_changes_with_the_seed) {
    uint32_t seen = 0;
    for (int seed = 1; seed <= 4; seed++) {
        char args[128], line[512];
        unsigned nodes;
        snprintf(args, sizeof args, "--randomize --seed %d --workload stock --duration 5s", seed);
        cr_assert_eq(troupe_cli("", "sim", args, false, out, OUT_MAX), 0, "%s", out);
        line_after(out, "replay: troupe sim ", line, sizeof line);
        cr_assert_eq(sscanf(strstr(line, "--nodes "), "--nodes %u", &nodes), 1, "%s", line);
        cr_assert_eq(nodes, draw_seed((uint64_t)seed).sc.nodes, "%s", line);
        seen |= 1u << nodes;
    }
    cr_assert_gt(__builtin_popcount(seen), 1);
}

Test(randomize, a_scenario_file_cannot_be_randomized) {
    cr_assert_eq(troupe_cli("", "sim", "--randomize --scenario /dev/null", true, out, OUT_MAX), 2,
                 "%s", out);
    cr_assert_not_null(strstr(out, "--randomize"), "%s", out);
}

/* ---- replay: through the experiment runner ---- */

static tr_experiment_result *run_cp(uint64_t seed, bool randomize, const drawn *explicit_knobs,
                                    uint32_t nodes) {
    static const tr_service *svcs[] = {&tr__builtin_cp};
    tr_experiment_config cfg;
    tr_experiment_config_init(&cfg);
    cfg.services = svcs;
    cfg.service_count = 1;
    cfg.workload = "cp";
    cfg.duration_ns = 5000 * MS;
    cfg.sim.seed = seed;
    cfg.randomize = randomize;
    if (explicit_knobs != NULL) {
        tr__randomize_copy(&explicit_knobs->sc, &cfg.sim);
        cfg.op_timeout_ms = explicit_knobs->op_timeout_ms;
        cfg.sim.nodes = nodes;
    }
    tr_experiment_result *r = NULL;
    char err[256] = "";
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

Test(randomize, experiment_runner_replay_line_gives_the_same_trace_hash) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_experiment_result *r = run_cp(seed, true, NULL, 0);
        const char *nodes_opt = strstr(r->replay, "--nodes ");
        const char *knobs = strstr(r->replay, " --delay ");
        cr_assert_not_null(nodes_opt, "%s", r->replay);
        cr_assert_not_null(knobs, "%s", r->replay);
        cr_assert_null(strstr(r->replay, "randomize"), "%s", r->replay);
        unsigned nodes;
        cr_assert_eq(sscanf(nodes_opt, "--nodes %u", &nodes), 1);
        cr_assert_eq(nodes, draw_seed(seed).sc.nodes, "%s", r->replay);
        drawn back = parse_options(knobs); /* what `troupe sim --load` would parse */
        tr_experiment_result *again = run_cp(seed, false, &back, nodes);
        cr_assert_eq(r->trace_hash, again->trace_hash, "seed %llu: %s", (unsigned long long)seed,
                     r->replay);
        cr_assert_str_eq(r->replay, again->replay);
        cr_assert_neq(r->verdict, TR_VERDICT_VIOLATED, "%s", r->replay);
        tr_experiment_result_destroy(again);
        tr_experiment_result_destroy(r);
    }
}
