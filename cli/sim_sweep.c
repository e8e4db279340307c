/* sim_sweep.c — `troupe sim --seeds A..B` of a built-in workload: each seed of the range (of
 * its shard with --shard) run and reported, then the summary (cli/sim_shard.h). */
#include <inttypes.h>
#include <string.h>

#include "cli/sim_cli.h"
#include "cli/sim_shard.h"

/* One seed's outcome rc (0/1/2/3) into the sweep's tally. */
static void tally_seed(const tr__sim_opts *o, tr__sweep_tally *t, uint64_t seed, int rc) {
    t->runs++;
    t->held += rc == 0;
    t->errors += rc == 2;
    if (rc == 1 && t->violated++ == 0) {
        t->first_bad = seed;
        tr__sim_replay_line(o, seed, t->bad_replay);
    }
    if (rc == 3 && t->unknown++ == 0) {
        t->first_unknown = seed;
        tr__sim_replay_line(o, seed, t->unknown_replay);
    }
}

/* The seeds of the range (of its shard, with --shard), each reported, then the summary (on
 * stderr with --json, and as a JSON line on stdout). */
int tr__sim_sweep(const tr__sim_opts *o) {
    static tr__sweep_tally t; /* large: its replay lines */
    memset(&t, 0, sizeof t);
    t.lo = o->seed_lo;
    t.hi = o->seed_hi;
    t.shard = o->shard;
    t.shards = o->shards;
    tr__sim_replay_line(o, o->seed_lo, t.options);
    double t0 = tr__sim_wall_now();
    tr__sim_run r;
    uint64_t total = (o->seed_hi - o->seed_lo) / o->shards + 1;
    if ((o->seed_hi - o->seed_lo) % o->shards < o->shard) {
        total--;
    }
    for (uint64_t seed = o->seed_lo + o->shard; seed <= o->seed_hi && seed >= o->seed_lo;
         seed += o->shards) {
        tr__sim_opts drawn;
        const tr__sim_opts *so = tr__sim_seed_opts(o, seed, &drawn);
        int rc = tr__sim_run_seed(so, seed, &r);
        tally_seed(o, &t, seed, rc);
        if (o->json && rc != 2) {
            tr__sim_print_json(so, &r);
        }
        fprintf(stderr,
                "[%" PRIu64 "/%" PRIu64 "] seed %" PRIu64 ": %s  trace-hash: %016" PRIx64
                "%s%s%s%s%s%s\n",
                t.runs, total, seed,
                rc == 0   ? "held"
                : rc == 1 ? "VIOLATED"
                : rc == 3 ? "UNKNOWN"
                          : "ERROR",
                r.trace_hash, r.cp.violated || r.cp.unknown ? "  CP: " : "",
                r.cp.violated || r.cp.unknown ? r.cp.why : "", r.ap.violated ? "  AP: " : "",
                r.ap.violated ? r.ap.why : "",
                r.stock.violated || r.stock.unknown ? "  stock: " : "",
                r.stock.violated || r.stock.unknown ? r.stock.why : "");
        if (seed > UINT64_MAX - o->shards) {
            break;
        }
    }
    t.wall_s = tr__sim_wall_now() - t0;
    tr__sim_report_none(o);
    tr__sweep_print_text(&t, o->json ? stderr : stdout);
    if (o->json) {
        tr__sweep_print_json(&t);
    }
    return tr__sweep_exit(&t);
}
