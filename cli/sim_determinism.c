/* sim_determinism.c — `troupe sim --check-determinism`: each seed run twice and compared
 * event by event (tr_experiment_check_determinism), a range ending with one summary. */
#include <inttypes.h>

#include "cli/sim_cli.h"

/* The seed's run twice, compared event by event (div); 0 or 2 after printing why. */
static int run_twice(const tr__sim_opts *o, uint64_t seed, tr_sim_divergence *div) {
    tr__sim_builtin b;
    char err[512];
    if (o->loaded != NULL) {
        b.cfg = *o->loaded;
        b.cfg.sim.seed = seed;
    } else {
        tr__sim_builtin_config(o, seed, &b);
    }
    if (tr_experiment_check_determinism(&b.cfg, div, err, sizeof err) != 0) {
        fprintf(stderr, "troupe sim: seed %" PRIu64 ": %s\n", seed, err);
        return 2;
    }
    return 0;
}

/* One seed run twice: 0 identical, 1 diverged, 2 tool error; the report printed. */
static int check_determinism_seed(const tr__sim_opts *o, uint64_t seed) {
    tr_sim_divergence div;
    if (run_twice(o, seed, &div) != 0) {
        return 2;
    }
    if (o->json) {
        printf("{\"seed\":%" PRIu64 ",\"identical\":%s,\"trace_hash_first\":\"%016" PRIx64
               "\",\"trace_hash_second\":\"%016" PRIx64 "\",\"diverged_at_event\":",
               seed, div.diverged ? "false" : "true", div.hash_first, div.hash_second);
        if (div.diverged) {
            printf("%" PRIu64 ",\"diverged_at_s\":%.6f,\"what\":", div.event_index,
                   div.time_ns / 1e9);
            tr__sim_json_str(div.what);
        } else {
            fputs("null,\"diverged_at_s\":null,\"what\":null", stdout);
        }
        fputs(",\"replay\":\"", stdout);
        tr__sim_print_replay(o, seed, stdout);
        fputs(" --check-determinism\"}\n", stdout);
        return div.diverged ? 1 : 0;
    }
    printf("trace-hash: %016" PRIx64 " (first run) %016" PRIx64 " (second run)\n", div.hash_first,
           div.hash_second);
    if (div.diverged) {
        printf("determinism: DIVERGED at event %" PRIu64 " (virtual %.6fs): %s\n", div.event_index,
               div.time_ns / 1e9, div.what);
    } else {
        printf("determinism: both runs identical\n");
    }
    printf("replay: ");
    tr__sim_print_replay(o, seed, stdout);
    printf(" --check-determinism\n");
    return div.diverged ? 1 : 0;
}

/* Every seed of the range run twice, then one summary (on stderr with --json). */
int tr__sim_check_determinism(const tr__sim_opts *o) {
    if (!o->sweep) {
        return check_determinism_seed(o, o->seed_lo);
    }
    uint64_t runs = 0, identical = 0, diverged = 0, errors = 0, first_bad = 0;
    for (uint64_t seed = o->seed_lo; seed <= o->seed_hi; seed++) {
        int rc = check_determinism_seed(o, seed);
        runs++;
        identical += rc == 0;
        errors += rc == 2;
        if (rc == 1 && diverged++ == 0) {
            first_bad = seed;
        }
        if (seed == UINT64_MAX) {
            break;
        }
    }
    FILE *f = o->json ? stderr : stdout;
    fprintf(f,
            "determinism, seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64 " runs, %" PRIu64
            " identical, %" PRIu64 " diverged, %" PRIu64 " errors\n",
            o->seed_lo, o->seed_hi, runs, identical, diverged, errors);
    if (diverged > 0) {
        fprintf(f, "first diverging seed %" PRIu64 "; replay: ", first_bad);
        tr__sim_print_replay(o, first_bad, f);
        fprintf(f, " --check-determinism\n");
    }
    return errors > 0 ? 2 : diverged > 0 ? 1 : 0;
}
