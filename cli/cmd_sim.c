/*
 * cmd_sim.c — `troupe sim`: its arguments and its report, over the library's experiment
 * runner (tr_experiment_run, tr_experiment_sweep, tr_experiment_check_determinism).
 *
 * The flags become one tr_experiment_config of the built-in services' descriptors
 * (harness/builtin.c) or of the loaded ones (--load): --workload cp, ap or stock is one
 * workload; --workload both (the default) is cp and ap side by side, two workloads of one
 * experiment with AP's convergence after the heal timed (the runner polls the AP state
 * actors). The runner's schedule, for one seed (duration D of virtual time):
 *   [0, D)        clients run against their node's "cp", "ap" or "stock";
 *   2D/8..7D/8    (nemesis partition) three majority/minority splits, each healed after
 *                 D/8; other nemeses fire at random times in [D/8, D);
 *   D             clients stop (stock's retry their unresolved reservations), everything
 *                 heals; outstanding ops finish or time out;
 *   then          the final states and reads, and the services' checks: CP must be
 *                 linearizable; AP must converge without lost or phantom writes and never
 *                 refuse an op (AP not being linearizable is shown, not counted); stock's
 *                 never-negative and conservation.
 * The report prints the result: the CP and AP table, or stock's invariants (recomputed here
 * over the result's history with harness/check_stock.h for its bounds), or a loaded
 * service's checks.
 * Everything the run does is a function of (seed, options, code); the trace hash proves it.
 * Exit status: 0 every stated property held, 1 one was violated, 2 usage or tool error
 * (one line naming the limit broken), 3 a check answered unknown (a linearizability search
 * out of budget) and none was violated: unknown is never reported as held.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/registers.h"
#include "actors/stock.h"
#include "cli/cli.h"
#include "cli/sim_shard.h"
#include "cli/sim_shrink.h"
#include "harness/builtin.h"
#include "harness/check_convergence.h"
#include "harness/builtin_entity.h"
#include "harness/builtin_linkv.h"
#include "harness/builtin_lock.h"
#include "harness/builtin_shop.h"
#include "harness/nemesis.h"
#include "harness/randomize.h"
#include "runtime/assert.h"
#include "harness/check_stock.h"
#include "harness/workload.h" /* the limits of --keys and --clients */
#include "sim/checkers.h"
#include "sim/counterexample.h"
#include "sim/lincheck.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
/* How long after the heal AP replicas may take to agree (and CP ops to finish). */
#define SETTLE_NS (10 * SEC)
/* The linearizability search budget per key (--lin-budget). */
#define LIN_BUDGET_DEFAULT 200000u

typedef struct sim_opts {
    uint64_t seed_lo, seed_hi;
    bool sweep;
    uint32_t shard, shards; /* --shard I/N (0/1 without it) */
    bool shard_given;
    uint32_t nodes;
    bool cp, ap;
    bool stock; /* --workload stock (then cp and ap are off) */
    uint32_t nemesis;
    const char *nemesis_text;
    uint64_t duration_ns;
    double rate;
    bool json;
    const char *history;
    uint32_t bugs;
    const char *bug_text;
    bool check_determinism;
    uint32_t keys;
    uint32_t clients_per_node;
    uint32_t lin_budget; /* --lin-budget: configurations per key */
    bool nemesis_given;
    const char *scenario_path; /* --scenario FILE */
    tr_scenario scen;          /* its faults, parsed before any sim starts */
    bool scen_lossy;           /* it crashes a node or touches a clock (see check_ap) */
    /* --load: the experiment of the loaded services (its seed set per run), or NULL. */
    const tr_experiment_config *loaded;
    tr_sim_net net;         /* --net */
    tr_sim_config knobs;    /* --delay ... --detect, --buggify (harness/randomize.h) */
    uint32_t op_timeout_ms; /* --op-timeout */
    bool randomize;         /* --randomize: nodes and knobs drawn per seed */
    bool all_faults;        /* --all-faults: the whole fault timeline in the text report */
    bool tracing;           /* --trace FILE: the run's events (trace) */
    tr_sim_trace_spec trace;
    tr_sim_spans_spec spans; /* --spans FILE (path NULL: none), --trace-sample P */
    bool spans_sample_given;
    bool shrink;            /* --shrink: the failing run's faults to a 1-minimal schedule */
    const char *shrink_out; /* --shrink-out FILE */
    uint32_t shrink_runs;   /* --shrink-runs N */
    const char *report_dir; /* --report DIR: the run's page (sim/report.h) */
} sim_opts;

/* Room for one rendered counterexample (TR_CE_OPS_MAX operations and the dead ends). */
#define CE_RENDER_MAX 24576

/* The verdicts of one store in one run. */
typedef struct store_result {
    bool ran;
    uint64_t ok, fail, info, ops;
    tr__lin_result lin;
    tr_avail_result avail;
    bool converged;
    uint64_t converged_after_ns;
    bool lin_unchecked; /* no linearizability search ran (the runner's ap: not promised) */
    bool conv_untimed;  /* converged from the final states; no time after heal measured */
    tr_convergence_result conv;
    bool conv_checked;
    uint64_t record_errors;
    bool violated;
    bool unknown; /* a stated guarantee could not be decided (search budget) */
    char why[160];
    char note[200]; /* an expected weakness shown, not a violation */
    /* A violated key's counterexample, rendered while its history lives: text and JSON
     * (empty: none). */
    char ce_text[CE_RENDER_MAX], ce_json[CE_RENDER_MAX];
} store_result;

/* The verdicts of the stock workload in one run. */
typedef struct stock_result {
    bool ran;
    uint64_t ok, fail, info, ops;
    uint64_t f_ok[5], f_all[5]; /* per tr_op_f: ok completions, invokes */
    uint64_t abandoned;
    uint64_t record_errors;
    tr_stock_check_result chk;
    int64_t final_level[TR_STOCK_REPORT_ITEMS_MAX];
    bool final_known[TR_STOCK_REPORT_ITEMS_MAX];
    tr_stock_bounds bounds[TR_STOCK_REPORT_ITEMS_MAX];
    uint32_t items;
    tr_avail_result avail;
    uint64_t refused[3]; /* "out of stock" fails: whole run, majority, minority side */
    bool violated;
    char why[480];
    char note[160];
    /* chk's first negative and suspect ops, formatted while the history lives (their f and
     * error point into it) */
    char negative_text[200], suspect_text[200];
} stock_result;

typedef struct run_result {
    uint64_t seed;
    uint64_t trace_hash;
    uint64_t minority_mask;
    uint64_t part_from_ns, part_to_ns;
    bool partitioned;
    tr_sim_stats stats;
    const tr_fault_span *faults; /* the fault timeline (a static copy: one run at a time) */
    uint32_t fault_count;
    tr_sim_net_stats net; /* --net protocol: what the protocol did (net_ok) */
    bool net_ok;
    double wall_s;  /* simulating only: the tr_sim_run_* calls */
    double cpu_s;   /* the same span in this thread's CPU time (a loaded machine inflates
                       wall_s, not this) */
    double check_s; /* running the checkers */
    uint64_t virtual_ns;
    store_result cp, ap;
    stock_result stock;
    bool tool_error;
    char tool_why[160];
} run_result;

/* ---- argument parsing ------------------------------------------------------------------ */

static void usage(FILE *f) {
    fprintf(f,
            "usage: troupe sim [--seed N | --seeds A..B [--shard I/N | --jobs N]] [--nodes N]\n"
            "                  [--workload cp|ap|both|stock]\n"
            "                  [--nemesis partition,crash,pause,clock,delay,loss,dup,reorder,\n"
            "                             isolate,ring,bridge,oneway,io-error,disk-full,\n"
            "                             slow-disk,corrupt]\n"
            "                  [--duration 60s] [--rate R] [--keys K] [--clients C]\n"
            "                  [--json] [--history FILE]\n"
            "                  [--bug stale-read|no-anti-entropy|no-write-back|oversell|\n"
            "                         double-charge|unsaved-charge]\n"
            "                  [--check-determinism] [--scenario FILE] [--lin-budget N]\n"
            "                  [--randomize] [--buggify | --no-buggify] [--delay D] [--jitter D]\n"
            "                  [--delay-dist uniform|exponential|fixed] [--loss P] [--dup P]\n"
            "                  [--reorder P] [--detect D] [--op-timeout D]\n"
            "                  [--heartbeat D] [--fd-down D] [--all-faults]\n"
            "                  [--trace FILE [--trace-max BYTES] [--trace-node nK]\n"
            "                   [--trace-actor NAME] [--trace-window FROM..TO]]\n"
            "                  [--shrink [--shrink-out FILE] [--shrink-runs N]]\n"
            "                  [--report DIR] [--spans FILE [--trace-sample P]]\n"
            "\n"
            "Runs N nodes, each with a CP register (ABD quorums) and/or an AP register (LWW +\n"
            "anti-entropy), simulated clients and a fault schedule in virtual time, then checks\n"
            "the histories: CP must be linearizable; AP must stay available and converge after\n"
            "heal (AP not being linearizable is expected and reported). Defaults: seed 1,\n"
            "5 nodes, both stores, nemesis partition (cp alone: partition,loss,ring,bridge),\n"
            "60s, 100 ops/s per store, 4 keys, 2 clients per node. Nemeses: partition =\n"
            "three majority/minority splits, each of its own random minority, over\n"
            "2D/8-3D/8, 4D/8-5D/8 and 6D/8-7D/8 (D: the duration); crash, pause, clock, delay\n"
            "and the shapes isolate, ring, bridge, oneway = random short faults from D/8 (half\n"
            "of them on the node of the fault before); loss, dup, reorder = link probabilities.\n"
            "Storage faults, also random from D/8: io-error and disk-full (a node's commits\n"
            "fail with EIO / ENOSPC for 0.5-3 s, as a real store reports it: durable replies\n"
            "dropped, later writes refused; a node whose store failed restarts when its disk\n"
            "works again), slow-disk (commits 50-500 ms slower for 1-3 s), corrupt (a node\n"
            "crashes with a torn data file; its store refuses to open, so it stays down; at\n"
            "most a minority).\n"
            "At D clients stop and everything heals. --history FILE writes the history\n"
            "(JSON, or EDN if FILE ends in .edn; with both stores FILE.cp and FILE.ap; in a\n"
            "sweep FILE.<seed>[.cp|.ap]); an op's \"node\" there is the node index from 0\n"
            "(0 is n1, 1 is n2, ...; null: no node), every other output names nodes n1..nN.\n"
            "--scenario FILE schedules faults at fixed virtual times, one per line\n"
            "('#' comments; without --nemesis, no random faults are added):\n"
            "  10s partition halves | 9s partition n1,n2|n3,n4,n5 | 5s isolate n1 | 7s ring\n"
            "  8s bridge | 6s oneway n1->n3 | 20s heal | 25s crash n2 | 30s restart n2\n"
            "  12s pause n3 | 14s resume n3 | 15s clock-skew n1 +200ms | 16s clock-jump n4 -50ms\n"
            "  17s clock-drift n2 500ppm | 18s delay-spike n1->n2 50ms for 2s (* = any node)\n"
            "  20s io-error n2 for 1s | 21s disk-full n2 for 1s | 22s slow-disk n2 200ms for 2s\n"
            "  30s corrupt n3\n"
            "Times: ns, us, ms, s, m; each before --duration. A bad file exits 2 with the line.\n"
            "--shrink reduces a failing seed's faults (delta debugging) to a 1-minimal\n"
            "schedule that still fails (without any one of its faults the run passes) and\n"
            "writes it as a --scenario file (--shrink-out, default shrunk-SEED.scenario) with\n"
            "its replay line; at most --shrink-runs runs (200). Exit 1 when written, 0 when\n"
            "the run held (nothing to shrink), 3 unknown, 2 error (docs/shrink.md).\n"
            "AP acknowledged writes lost under --nemesis clock or crash (or io-error,\n"
            "disk-full, corrupt: they crash nodes too) are reported, not counted: LWW with\n"
            "skewed clocks, and acks before durability, lose them by design.\n"
            "Planted register bugs: stale-read (a CP read answered by one replica),\n"
            "no-anti-entropy (AP replicas never gossip), no-write-back (a CP read skips the\n"
            "store phase even when its quorum disagrees).\n"
            "--workload stock runs an inventory service instead (\"stock\" hosts on every\n"
            "node, each item an entity placed by the runtime and moved to a live node when\n"
            "its node's lease lapses; its level and idempotency ledger are its durable state):\n"
            "clients reserve, restock and read items (--keys = items, each starting at 10) and\n"
            "retry an indeterminate reserve or restock under the same reservation id; after\n"
            "heal every item is read once more and three invariants are checked: stock never\n"
            "negative, conservation (the durable level within the bounds the acknowledged and\n"
            "indeterminate ops allow: below them = a double charge), and single activation.\n"
            "Without --nemesis it runs partition,crash,loss. Planted bugs: oversell (the\n"
            "charge sent on as a message after the check), double-charge (the ledger lookup\n"
            "skipped), unsaved-charge (a reservation answered but never kept nor written).\n"
            "\n"
            "troupe sim --load PATH.so [--load ...] --workload NAME [--seed N | --seeds A..B]\n"
            "           [--bug B] [--nemesis kinds,service-fault-names] [--nodes N]\n"
            "           [--duration D] [--rate R] [--keys K] [--scenario FILE] [--json]\n"
            "           [--check-determinism] [--history FILE] [--lin-budget N]\n"
            "           [--all-faults] [--trace FILE ...] [--report DIR]\n"
            "runs a loaded service (its actors on every node it places them, its workload's\n"
            "clients, the nemesis; then heal, restart, a quiet second, each node's final\n"
            "state) and its checks: held, violated or unknown (a search budget ran out).\n"
            "Defaults: seed 1, 5 nodes, its declared nemesis, 60s, 100 ops/s, 4 keys.\n"
            "--workload cp, ap and stock are that same experiment on the built-in service:\n"
            "each prints the trace hash of --load troupe-cp.so (troupe-ap.so,\n"
            "troupe-stock.so) with the same flags; wall_s and cpu_s time the whole\n"
            "experiment (set-up, simulation and checks; check_s 0). With --workload ap alone\n"
            "AP's convergence is that of the nodes' final states (converged_after_ms null)\n"
            "and its linearizability is not searched (linearizable null); --workload both\n"
            "runs cp and ap as two workloads of one experiment and times AP's convergence\n"
            "after the heal.\n"
            "--workload lin-kv, --workload lock (a lease lock: docs/lock.md) and --workload\n"
            "entity (registers as entities placed by the runtime: docs/entities.md) and pubsub\n"
            "(topics and a durable outbox: docs/pubsub.md) run those built-in services\n"
            "exactly as --load runs a module; so do counter, set and broadcast (a PN-counter,\n"
            "an OR-set and Maelstrom's broadcast, available in partitions: docs/crdt.md).\n"
            "\n"
            "Limits: --nodes 1..16 (at most 256 clients in all), --keys 1..64, --clients\n"
            "1..16, --rate 0.1..100000, --duration 1ms..24h, --seeds A..B with A <= B and at\n"
            "most 1000000 seeds. partition, ring, bridge and crash need 3 nodes, isolate and\n"
            "oneway 2; a planted bug needs the workload it is planted in. A bad option is a\n"
            "one-line error naming the limit, exit 2. Each store's history holds at most\n"
            "1048576 events (2^20): at that cap clients stop invoking (every op in flight\n"
            "still completes), stderr says when, and the report and checks cover what ran.\n"
            "--delay, --jitter: the minimum link delay and the mean of its random part (default\n"
            "100us, 400us); --delay-dist: its distribution; --loss, --dup, --reorder: per-message\n"
            "probabilities (default: 0, or 0.01, 0.01, 0.05 with those nemeses; under --net\n"
            "protocol a lost segment arrives late, and --dup and --reorder have no effect);\n"
            "--detect: how long the oracle takes to report a failure (5ms, --net oracle only);\n"
            "--op-timeout: a client op's\n"
            "timeout (1000ms). Durations take ns, us, ms or s. --randomize draws all of these and\n"
            "the node count (3..16) per seed, from the seed, within the bounds listed in\n"
            "docs/simulation.md; the replay line gives the drawn values as these options.\n"
            "--buggify lets the services' fault points (TR_BUGGIFY) fire, from the seed; off by\n"
            "default (--no-buggify). With --load every one of these options applies too.\n"
            "--lin-budget N: configurations the linearizability search may visit per key\n"
            "(default 200000); a CP history it cannot decide within that is unknown.\n"
            "--check-determinism runs each seed (or each of --seeds A..B) twice and compares\n"
            "the traces event by event; a range ends with one summary line.\n"
            "--net protocol (default): a real node's cluster protocol (handshake, frames,\n"
            "heartbeats, phi accrual, reconnects) over simulated TCP streams, so pauses, clock\n"
            "faults and delay spikes cause suspicions; --net oracle: messages on links and a\n"
            "perfect failure detector (--detect later), faster, for services that do not care\n"
            "how failures are detected; dup and reorder need it (TCP hides both).\n"
            "The report lists the fault timeline (each fault that took effect: kind, virtual\n"
            "start and end, nodes), the first 20 unless --all-faults. When a history is not\n"
            "linearizable it prints a counterexample: a few operations of one key that are\n"
            "already not linearizable, each with its real-time window, 1-minimal (without any\n"
            "one of them they are, or a value read loses the write it read), and every dead\n"
            "end of the orders they allow (docs/simulation.md). troupe check prints the same.\n"
            "--trace FILE writes the run's events as JSON lines (each message an actor\n"
            "received: t (virtual ns), node, actor, to, from, type, corr, remote; each fault\n"
            "counted), at most --trace-max bytes (default 64 MiB; then a closing truncated\n"
            "line), filtered by --trace-node, --trace-actor (a registered name) and\n"
            "--trace-window (virtual, e.g. 10s..20s); one seed gives the same file. Not with\n"
            "--seeds or --check-determinism.\n"
            "--spans FILE writes the spans of the clients' traces as Zipkin v2 JSON in virtual\n"
            "time, of a fraction P of the traces (--trace-sample, default 1); one seed gives the\n"
            "same file and the same trace hash as without it (docs/tracing.md).\n"
            "--report DIR writes DIR/index.html, one self-contained page of the run (no\n"
            "network fetches): summary, fault timeline, per workload a timeline of every\n"
            "operation by client process (the counterexample's marked), availability per side,\n"
            "throughput and latency; with --seeds, the first failing seed's (docs/report.md).\n"
            "--json prints one object per seed: seed, verdict (\"held\", \"violated\" or\n"
            "\"unknown\"), held (verdict is held), nodes, trace_hash, partitioned, minority\n"
            "(node names), minority_mask (bit i: node n<i+1>), events, wall_s, cpu_s,\n"
            "check_s, virtual_s, faults (count per kind), fault_timeline ([{kind, start_s,\n"
            "end_s, nodes}]), then per store cp/ap: verdict, ops,\n"
            "ok, fail, info, linearizable (a verdict), first_violation (the first op the\n"
            "search could not place, or null), availability_majority, availability_minority,\n"
            "availability (fractions, null when no op), ap's converged, converged_after_ms\n"
            "(null if not), lost_writes; violated (verdict is violated), why and note (text\n"
            "or null), counterexample ({key, operations, ops: [{index, process, node, f,\n"
            "value, type, invoke_s, complete_s}], dead_ends: [{after, refused}], ...} or\n"
            "null); stock: verdict, counts, never_negative, conserved, final_levels, ...;\n"
            "and replay. With --check-determinism: seed, identical, trace_hash_first,\n"
            "trace_hash_second, diverged_at_event, diverged_at_s, what, replay. Sweep\n"
            "summaries go to stderr with --json, and a sweep's stdout ends with one JSON\n"
            "line {\"summary\":\"sweep\", seeds_from, seeds_to, shard, shards, runs, held,\n"
            "violated, unknown, errors, first_violating_seed, first_violating_replay,\n"
            "first_unknown_seed, first_unknown_replay, options, wall_s}.\n"
            "--jobs N (built-in workloads) runs a sweep as N shard processes at once on\n"
            "this machine and prints the one summary of the whole sweep (as --merge).\n"
            "--shard I/N (built-in workloads) runs only the seeds s of --seeds A..B with\n"
            "(s - A) mod N = I, shards counted from 0, 0 <= I < N <= 1024.\n"
            "troupe sim --merge [--json] FILE... reads the --json outputs of all N shards\n"
            "of one sweep and prints the unsharded sweep's summary and exit status (the\n"
            "smallest failing seed across shards, wall times summed); 2 and one line when\n"
            "the files are not every shard of one complete sweep.\n"
            "Exit: 0 every stated guarantee held, 1 one was violated (or runs diverged),\n"
            "2 usage or tool error, 3 a check answered unknown (and none was violated).\n");
}

/* One error style for every path: the limit that was broken, in one line, then "see
 * --help". Always TR_EINVAL. */
static int sim_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sim_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("troupe sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("; see --help\n", stderr);
    va_end(ap);
    return TR_EINVAL;
}

#define NEMESIS_KINDS                                                                           \
    "partition, crash, pause, clock, delay, loss, dup, reorder, isolate, ring, bridge, oneway " \
    "or none"

/* The options of `troupe sim`, for both paths: what each expects is the limit an error
 * states. */
typedef struct sim_option {
    const char *name;
    bool value;   /* takes a value */
    bool builtin; /* accepted by the built-in workloads */
    bool loaded;  /* accepted with --load */
    const char *expects;
} sim_option;

static const sim_option sim_options[] = {
    {"--seed", true, true, true, "an unsigned integer"},
    {"--seeds", true, true, true, "A..B, unsigned integers with A <= B, at most 1000000 seeds"},
    {"--shard", true, true, false, "I/N: shard I of N, counted from 0, with 0 <= I < N <= 1024"},
    {"--nodes", true, true, true, "an integer from 1 to 16"},
    {"--workload", true, true, true, "cp, ap, both or stock (with --load: a loaded service)"},
    {"--nemesis", true, true, true, "comma-separated kinds"},
    {"--duration", true, true, true,
     "a number with unit ms, s or m (seconds without one), from 1ms to 24h"},
    {"--rate", true, true, true, "ops/s per store, a number from 0.1 to 100000"},
    {"--keys", true, true, true, "an integer from 1 to 64"},
    {"--clients", true, true, false, "clients per node, an integer from 1 to 16"},
    {"--history", true, true, true, "a file name"},
    {"--bug", true, true, true,
     "stale-read, no-anti-entropy, no-write-back, oversell or double-charge (with --load: a "
     "loaded service's bug)"},
    {"--scenario", true, true, true, "a file name"},
    {"--lin-budget", true, true, true,
     "configurations searched per key, an integer from 1 to 100000000"},
    {"--load", true, false, true, "a service module's path"},
    {"--json", false, true, true, NULL},
    {"--all-faults", false, true, true, NULL},
    {"--trace", true, true, true, "a file name"},
    {"--spans", true, true, true, "a file name"},
    {"--trace-sample", true, true, true, "a fraction from 0 to 1"},
    {"--report", true, true, true, "a directory name"},
    {"--trace-max", true, true, true, "a number of bytes from 1024 to 17179869184"},
    {"--trace-node", true, true, true, "a node name n1..nN"},
    {"--trace-actor", true, true, true, "an actor's registered name"},
    {"--trace-window", true, true, true,
     "FROM..TO, virtual times with unit ms, s or m (seconds without one), FROM <= TO"},
    {"--check-determinism", false, true, true, NULL},
    {"--net", true, true, true, "protocol or oracle"},
    {"--randomize", false, true, true, NULL},
    {"--buggify", false, true, true, NULL},
    {"--no-buggify", false, true, true, NULL},
    {"--delay", true, true, true, "a whole number with unit ns, us, ms or s, at most 10s"},
    {"--jitter", true, true, true, "a whole number with unit ns, us, ms or s, at most 10s"},
    {"--delay-dist", true, true, true, "uniform, exponential or fixed"},
    {"--loss", true, true, true, "a probability from 0 to 1"},
    {"--dup", true, true, true, "a probability from 0 to 1"},
    {"--reorder", true, true, true, "a probability from 0 to 1"},
    {"--detect", true, true, true, "a whole number with unit ns, us, ms or s, at most 60s"},
    {"--op-timeout", true, true, true, "a whole number of ms (unit ms or s), from 1ms to 600s"},
    {"--heartbeat", true, true, true, "a whole number of ms (unit ms or s), from 1ms to 10s"},
    {"--fd-down", true, true, true, "a whole number of ms (unit ms or s), from 1ms to 600s"},
    {"--shrink", false, true, true, NULL},
    {"--shrink-out", true, true, true, "a file name"},
    {"--shrink-runs", true, true, true, "an integer from 1 to 100000"},
};

static const sim_option *find_option(const char *name) {
    for (size_t i = 0; i < sizeof sim_options / sizeof sim_options[0]; i++) {
        if (!strcmp(name, sim_options[i].name)) {
            return &sim_options[i];
        }
    }
    return NULL;
}

/* The next option of argv at *i: NULL after an error (printed); *v its value or NULL. */
static const sim_option *next_option(int argc, char **argv, int *i, bool loaded, const char **v) {
    const char *a = argv[*i];
    const sim_option *opt = find_option(a);
    *v = NULL;
    if (opt == NULL) {
        sim_error("%s is not an option of troupe sim", a);
        return NULL;
    }
    if (!(loaded ? opt->loaded : opt->builtin)) {
        sim_error("%s %s", a, loaded ? "is not an option of troupe sim --load" : "needs --load");
        return NULL;
    }
    if (opt->value) {
        if (*i + 1 >= argc) {
            sim_error("%s needs a value: %s", a, opt->expects);
            return NULL;
        }
        *v = argv[++*i];
    }
    return opt;
}

/* A --nemesis error, with the valid kinds when a name was not one. */
static int nemesis_error(const char *err) {
    if (strncmp(err, "unknown nemesis", 15) == 0) {
        return sim_error("%s (valid: %s)", err, NEMESIS_KINDS);
    }
    return sim_error("%s", err);
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (s == NULL || *s < '0' || *s > '9') {
        return TR_EINVAL;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return TR_EINVAL;
    }
    *out = v;
    return 0;
}

/* "60s", "500ms", "2m", "90" (seconds) -> ns, at most a day of virtual time. */
static int parse_duration(const char *s, uint64_t *ns) {
    char *end;
    if (s == NULL || *s < '0' || *s > '9') {
        return TR_EINVAL;
    }
    errno = 0;
    double v = strtod(s, &end);
    double unit = 1e9;
    if (strcmp(end, "ms") == 0) {
        unit = 1e6;
    } else if (strcmp(end, "m") == 0) {
        unit = 60e9;
    } else if (strcmp(end, "s") != 0 && *end != '\0') {
        return TR_EINVAL;
    }
    if (errno != 0 || v * unit < 1e6 || v * unit > 86400e9) {
        return TR_EINVAL;
    }
    *ns = (uint64_t)(v * unit);
    return 0;
}

static int parse_seeds(const char *s, sim_opts *o) {
    const char *dots = s ? strstr(s, "..") : NULL;
    char lo[32];
    if (dots == NULL || (size_t)(dots - s) >= sizeof lo) {
        return TR_EINVAL;
    }
    memcpy(lo, s, (size_t)(dots - s));
    lo[dots - s] = '\0';
    if (parse_u64(lo, &o->seed_lo) != 0 || parse_u64(dots + 2, &o->seed_hi) != 0 ||
        o->seed_hi < o->seed_lo || o->seed_hi - o->seed_lo >= 1000000) {
        return TR_EINVAL;
    }
    o->sweep = true;
    return 0;
}

static int parse_bounded(const char *v, uint64_t lo, uint64_t hi, uint32_t *out) {
    uint64_t n;
    if (parse_u64(v, &n) != 0 || n < lo || n > hi) {
        return TR_EINVAL;
    }
    *out = (uint32_t)n;
    return 0;
}

static int parse_bug(const char *v, sim_opts *o) {
    o->bug_text = v;
    o->bugs = !strcmp(v, "stale-read")        ? TR_REG_BUG_STALE_READ
              : !strcmp(v, "no-anti-entropy") ? TR_REG_BUG_NO_ANTI_ENTROPY
              : !strcmp(v, "no-write-back")   ? TR_REG_BUG_NO_WRITE_BACK
              : !strcmp(v, "oversell")        ? TR_STOCK_BUG_OVERSELL
              : !strcmp(v, "double-charge")   ? TR_STOCK_BUG_DOUBLE_CHARGE
              : !strcmp(v, "unsaved-charge")  ? TR_STOCK_BUG_UNSAVED_CHARGE
                                              : 0;
    return o->bugs ? 0 : TR_EINVAL;
}

/* "10s..20s" into the trace's window. */
static int parse_window(const char *v, tr_sim_trace_spec *t) {
    const char *dots = strstr(v, "..");
    char from[64];
    if (dots == NULL || (size_t)(dots - v) >= sizeof from) {
        return TR_EINVAL;
    }
    memcpy(from, v, (size_t)(dots - v));
    from[dots - v] = '\0';
    bool zero = !strcmp(from, "0");
    if ((!zero && parse_duration(from, &t->from_ns) != 0) ||
        parse_duration(dots + 2, &t->to_ns) != 0 || t->to_ns < t->from_ns) {
        return TR_EINVAL;
    }
    t->from_ns = zero ? 0 : t->from_ns;
    return 0;
}

/* --trace and its filters into o->trace (a node is checked against --nodes later). */
static int parse_trace(const char *a, const char *v, sim_opts *o) {
    uint64_t n;
    if (!strcmp(a, "--trace")) {
        o->tracing = true;
        o->trace.path = v;
        return *v ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--trace-max")) {
        if (parse_u64(v, &n) != 0 || n < 1024 || n > (16ull << 30)) {
            return TR_EINVAL;
        }
        o->trace.max_bytes = n;
        return 0;
    }
    if (!strcmp(a, "--trace-node")) {
        if (v[0] != 'n' || parse_u64(v + 1, &n) != 0 || n < 1 || n > TR_SIM_NODES_MAX) {
            return TR_EINVAL;
        }
        o->trace.node = (int32_t)n - 1;
        return 0;
    }
    if (!strcmp(a, "--trace-actor")) {
        o->trace.actor = v;
        return *v && strlen(v) <= TR_NAME_MAX ? 0 : TR_EINVAL;
    }
    return parse_window(v, &o->trace);
}

/* --spans FILE and --trace-sample P into o->spans (P defaults to 1). */
static int parse_spans(const char *a, const char *v, sim_opts *o) {
    if (!strcmp(a, "--spans")) {
        o->spans.path = v;
        o->spans.sample = o->spans_sample_given ? o->spans.sample : 1.0;
        return 0;
    }
    char *end;
    double p = strtod(v, &end);
    if (end == v || *end != '\0' || !(p >= 0.0 && p <= 1.0)) {
        return TR_EINVAL;
    }
    o->spans.sample = p;
    o->spans_sample_given = true;
    return 0;
}

/* --spans writes one run's spans: 0, or an error after printing why. */
static int check_spans(const sim_opts *o, bool check_determinism) {
    if (o->spans.path == NULL) {
        return o->spans_sample_given ? sim_error("--trace-sample P needs --spans FILE") : 0;
    }
    if (o->sweep || check_determinism) {
        return sim_error("--spans writes one run's spans: not with --seeds or "
                         "--check-determinism");
    }
    return 0;
}

/* The trace's options that cannot apply, or a file that cannot be written: 0, or an error
 * after printing why. */
static int check_trace(const sim_opts *o, bool check_determinism) {
    if (check_spans(o, check_determinism) != 0) {
        return TR_EINVAL;
    }
    bool filters = o->trace.max_bytes || o->trace.node >= 0 || o->trace.actor || o->trace.to_ns;
    if (!o->tracing) {
        return filters ? sim_error("--trace-max, --trace-node, --trace-actor and --trace-window "
                                   "need --trace FILE")
                       : 0;
    }
    if (o->sweep || check_determinism) {
        return sim_error("--trace writes one run's events: not with --seeds or "
                         "--check-determinism");
    }
    if (!o->randomize && o->trace.node >= (int32_t)o->nodes) {
        return sim_error("--trace-node n%d: the run has nodes n1..n%u", o->trace.node + 1,
                         o->nodes);
    }
    FILE *f = fopen(o->trace.path, "w"); /* the run truncates it again */
    if (f == NULL) {
        fprintf(stderr, "troupe sim: cannot write the trace %s: %s\n", o->trace.path,
                strerror(errno));
        return TR_EIO;
    }
    fclose(f);
    return 0;
}

/* One option's value into o; TR_EINVAL when it breaks the option's limit (not printed). */
static int parse_value(const char *a, const char *v, sim_opts *o) {
    char *end;
    if (!strcmp(a, "--spans") || !strcmp(a, "--trace-sample")) {
        return parse_spans(a, v, o);
    }
    if (!strncmp(a, "--trace", 7)) {
        return parse_trace(a, v, o);
    }
    if (tr__randomize_is_option(a)) {
        return tr__randomize_parse(a, v, &o->knobs, &o->op_timeout_ms);
    }
    if (!strcmp(a, "--seed")) {
        o->sweep = false;
        if (parse_u64(v, &o->seed_lo) != 0) {
            return TR_EINVAL;
        }
        o->seed_hi = o->seed_lo;
        return 0;
    }
    if (!strcmp(a, "--seeds")) {
        return parse_seeds(v, o);
    }
    if (!strcmp(a, "--shard")) {
        o->shard_given = true;
        return tr__sweep_parse_shard(v, &o->shard, &o->shards);
    }
    if (!strcmp(a, "--nodes")) {
        return parse_bounded(v, 1, TR_REG_PEERS_MAX, &o->nodes);
    }
    if (!strcmp(a, "--workload")) {
        o->stock = !strcmp(v, "stock");
        bool both = !strcmp(v, "both") || !strcmp(v, "cp,ap"); /* cp,ap: the runner's replay */
        o->cp = !strcmp(v, "cp") || both;
        o->ap = !strcmp(v, "ap") || both;
        return o->cp || o->ap || o->stock ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--scenario")) {
        o->scenario_path = v;
        return *v ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--duration")) {
        return parse_duration(v, &o->duration_ns);
    }
    if (!strcmp(a, "--rate")) {
        errno = 0;
        o->rate = strtod(v, &end);
        return errno == 0 && end != v && *end == '\0' && o->rate >= 0.1 && o->rate <= 100000
                   ? 0
                   : TR_EINVAL;
    }
    if (!strcmp(a, "--keys")) {
        return parse_bounded(v, 1, TR_WORKLOAD_KEYS_MAX, &o->keys);
    }
    if (!strcmp(a, "--clients")) {
        return parse_bounded(v, 1, 16, &o->clients_per_node);
    }
    if (!strcmp(a, "--lin-budget")) {
        return parse_bounded(v, 1, 100000000, &o->lin_budget);
    }
    if (!strcmp(a, "--net")) {
        o->net = !strcmp(v, "protocol") ? TR_SIM_NET_PROTOCOL : TR_SIM_NET_ORACLE;
        return !strcmp(v, "protocol") || !strcmp(v, "oracle") ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--report")) {
        o->report_dir = v;
        return *v ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--history")) {
        o->history = v;
        return *v ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--shrink-out")) {
        o->shrink_out = v;
        return *v ? 0 : TR_EINVAL;
    }
    if (!strcmp(a, "--shrink-runs")) {
        return parse_bounded(v, 1, TR__SHRINK_RUNS_MAX, &o->shrink_runs);
    }
    TR_ASSERT(!strcmp(a, "--bug"));
    return parse_bug(v, o);
}

/* --randomize, --buggify, --no-buggify, --all-faults into o: whether a is one of them. */
static bool parse_flag(const char *a, sim_opts *o) {
    if (!strcmp(a, "--all-faults") || !strcmp(a, "--shrink")) {
        o->all_faults |= !strcmp(a, "--all-faults");
        o->shrink |= !strcmp(a, "--shrink");
        return true;
    }
    o->randomize |= !strcmp(a, "--randomize");
    o->knobs.buggify = !strcmp(a, "--buggify") || (o->knobs.buggify && strcmp(a, "--no-buggify"));
    return !strcmp(a, "--randomize") || !strcmp(a, "--buggify") || !strcmp(a, "--no-buggify");
}

/* This seed's options: o, or with --randomize a copy in *buf with the draw in place. */
static const sim_opts *seed_opts(const sim_opts *o, uint64_t seed, sim_opts *buf) {
    if (!o->randomize) {
        return o;
    }
    *buf = *o;
    buf->randomize = false;
    tr__randomize_draw(seed, &buf->knobs, &buf->op_timeout_ms);
    buf->nodes = buf->knobs.nodes;
    return buf;
}

/* Duplication and reordering are faults of the oracle's message network: TCP hides both, so
 * under the protocol network they would be silent no-ops. */
static int net_refuses(uint32_t kinds, tr_sim_net net, const char *text) {
    if ((kinds & (TR_NEMESIS_DUP | TR_NEMESIS_REORDER)) && net != TR_SIM_NET_ORACLE) {
        return sim_error("--nemesis %s: dup and reorder are faults of the oracle's message "
                         "network (TCP hides both): add --net oracle",
                         text);
    }
    return 0;
}

/* A fault or planted bug that cannot apply to this run is an error, not a silent no-op. */
static int check_applies(const sim_opts *o) {
    const char *nem = o->nemesis_given ? "--nemesis" : "the default nemesis";
    if (net_refuses(o->nemesis, o->net, o->nemesis_text) != 0) {
        return TR_EINVAL;
    }
    if ((o->nemesis & (TR_NEMESIS_PARTITION | TR_NEMESIS_RING | TR_NEMESIS_BRIDGE)) &&
        o->nodes < 3) {
        return sim_error("%s %s: a partition needs at least 3 nodes (--nodes %u)", nem,
                         o->nemesis_text, o->nodes);
    }
    if ((o->nemesis & TR_NEMESIS_CRASH) && o->nodes < 3) {
        return sim_error("%s %s: crash keeps a majority up, it needs at least 3 nodes "
                         "(--nodes %u)",
                         nem, o->nemesis_text, o->nodes);
    }
    if ((o->nemesis & (TR_NEMESIS_ISOLATE | TR_NEMESIS_ONEWAY)) && o->nodes < 2) {
        return sim_error("--nemesis %s: cutting links needs at least 2 nodes", o->nemesis_text);
    }
    uint32_t cp_bugs = TR_REG_BUG_STALE_READ | TR_REG_BUG_NO_WRITE_BACK;
    uint32_t stock_bugs =
        TR_STOCK_BUG_OVERSELL | TR_STOCK_BUG_DOUBLE_CHARGE | TR_STOCK_BUG_UNSAVED_CHARGE;
    bool applies = (o->bugs & stock_bugs)                   ? o->stock
                   : (o->bugs & cp_bugs)                    ? o->cp
                   : (o->bugs & TR_REG_BUG_NO_ANTI_ENTROPY) ? o->ap
                                                            : true;
    if (!applies) {
        return sim_error("--bug %s needs %s: it is planted in the %s, which --workload %s does "
                         "not run",
                         o->bug_text,
                         (o->bugs & stock_bugs) ? "--workload stock"
                         : (o->bugs & cp_bugs)  ? "--workload cp or both"
                                                : "--workload ap or both",
                         (o->bugs & stock_bugs) ? "stock service"
                         : (o->bugs & cp_bugs)  ? "CP register"
                                                : "AP register",
                         o->stock         ? "stock"
                         : o->cp && o->ap ? "both"
                         : o->cp          ? "cp"
                                          : "ap");
    }
    return 0;
}

static void opts_default(sim_opts *o) {
    *o = (sim_opts){.seed_lo = 1,
                    .seed_hi = 1,
                    .shards = 1,
                    .nodes = 5,
                    .cp = true,
                    .ap = true,
                    .nemesis = TR_NEMESIS_PARTITION,
                    .nemesis_text = "partition",
                    .duration_ns = 60 * SEC,
                    .rate = 100,
                    .keys = 4,
                    .clients_per_node = 2,
                    .lin_budget = LIN_BUDGET_DEFAULT,
                    .op_timeout_ms = 1000,
                    .trace = {.node = -1}};
    tr_sim_config_init(&o->knobs);
    o->net = o->knobs.net; /* the protocol network, unless --net oracle */
}

/* --shrink runs one seed many times and writes a scenario file: what it cannot combine with. */
static int shrink_refuses(const sim_opts *o) {
    if (!o->shrink) {
        return (o->shrink_out != NULL || o->shrink_runs != 0)
                   ? sim_error("--shrink-out and --shrink-runs need --shrink")
                   : 0;
    }
    const char *with = o->sweep               ? "--seeds (shrink one failing --seed)"
                       : o->check_determinism ? "--check-determinism"
                       : o->randomize         ? "--randomize (it draws the nodes a scenario names)"
                       : o->tracing           ? "--trace"
                       : o->spans.path        ? "--spans"
                       : o->json              ? "--json"
                       : o->history != NULL   ? "--history"
                                              : NULL;
    return with != NULL ? sim_error("--shrink cannot run with %s", with) : 0;
}
static int check_report(const sim_opts *o);
static void report_none(const sim_opts *o);

static int parse_args(int argc, char **argv, sim_opts *o) {
    char err[256];
    opts_default(o);
    for (int i = 1; i < argc; i++) {
        const char *v;
        const sim_option *opt = next_option(argc, argv, &i, false, &v);
        if (opt == NULL) {
            return TR_EINVAL;
        }
        if (!strcmp(opt->name, "--json")) {
            o->json = true;
        } else if (parse_flag(opt->name, o)) {
            continue;
        } else if (!strcmp(opt->name, "--check-determinism")) {
            o->check_determinism = true;
        } else if (!strcmp(opt->name, "--nemesis")) {
            o->nemesis_given = true;
            o->nemesis_text = v;
            if (tr__nemesis_parse(v, &o->nemesis, NULL, 0, err, sizeof err) != 0) {
                return nemesis_error(err);
            }
        } else if (parse_value(opt->name, v, o) != 0) {
            return sim_error("%s '%s': expected %s", opt->name, v, opt->expects);
        }
    }
    if (check_trace(o, o->check_determinism) != 0 || check_report(o) != 0) {
        return TR_EINVAL;
    }
    if (o->shard_given && (!o->sweep || o->check_determinism)) {
        return sim_error("--shard I/N splits a sweep: it needs --seeds A..B and not "
                         "--check-determinism");
    }
    if (o->nodes * o->clients_per_node > TR_WORKLOAD_CLIENTS_MAX) {
        return sim_error("--nodes times --clients at most %d", TR_WORKLOAD_CLIENTS_MAX);
    }
    if (o->randomize && o->scenario_path != NULL) {
        return sim_error("--randomize draws the node count: it cannot run --scenario, which "
                         "names nodes");
    }
    if (shrink_refuses(o) != 0) {
        return TR_EINVAL;
    }
    if (o->scenario_path != NULL && !o->nemesis_given) {
        o->nemesis = 0; /* the file is the schedule */
        o->nemesis_text = "none";
    } else if (o->stock && !o->nemesis_given) {
        /* Lost replies are what makes a retried reservation meet its applied original
         * (under partition and crash alone that needs a cut inside a ~1 ms window). */
        o->nemesis = TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH | TR_NEMESIS_LOSS;
        o->nemesis_text = "partition,crash,loss";
    } else if (o->cp && !o->ap && !o->nemesis_given) {
        o->nemesis = TR__REGISTER_NEMESIS; /* the cp service's declared one (harness/builtin.h) */
        o->nemesis_text = "partition,loss,ring,bridge";
    }
    return check_applies(o);
}

/* Reads and checks --scenario FILE. 0, or TR_EINVAL after printing why (with the line). */
static int load_scenario(sim_opts *o) {
    char err[512];
    if (tr__nemesis_scenario_load(o->scenario_path, o->nodes, o->duration_ns, &o->scen, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "troupe sim: %s\n", err);
        return TR_EINVAL;
    }
    for (size_t i = 0; i < o->scen.count; i++) {
        const tr_scen_event *ev = &o->scen.events[i];
        o->scen_lossy |= ev->kind == TR_SCEN_CRASH || ev->kind == TR_SCEN_CLOCK_SKEW ||
                         ev->kind == TR_SCEN_CLOCK_JUMP || ev->kind == TR_SCEN_CLOCK_DRIFT ||
                         ev->kind == TR_SCEN_IO_ERROR || ev->kind == TR_SCEN_DISK_FULL ||
                         ev->kind == TR_SCEN_CORRUPT; /* these three crash a node too */
    }
    return 0;
}

/* The why of a broken invariant, naming the first offending op. */
static void stock_why(stock_result *r) {
    tr__check_stock_explain(&r->chk, r->why, sizeof r->why);
}

static void stock_op_texts(stock_result *r) {
    if (r->chk.has_negative_op) {
        tr__check_stock_op_format(r->negative_text, sizeof r->negative_text, &r->chk.negative_op);
    }
    if (r->chk.has_suspect_op) {
        tr__check_stock_op_format(r->suspect_text, sizeof r->suspect_text, &r->chk.suspect_op);
    }
}

/* ---- output ----------------------------------------------------------------------------- */

/* The --net value that names a network. */
static const char *net_name(tr_sim_net net) {
    return net == TR_SIM_NET_ORACLE ? "oracle" : "protocol";
}

static void format_mask(char *buf, size_t cap, uint64_t mask, uint32_t nodes, bool in) {
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < nodes && len + 6 < cap; i++) {
        if ((mask >> i & 1) == in) {
            len += (size_t)snprintf(buf + len, cap - len, "%sn%u", len ? "," : "", i + 1);
        }
    }
}

static void format_pct(char *buf, size_t cap, const tr_avail_counts *c) {
    if (c->fraction < 0) {
        snprintf(buf, cap, "-");
    } else {
        snprintf(buf, cap, "%.1f%% (%" PRIu64 "/%" PRIu64 ")", 100.0 * c->fraction, c->ok,
                 c->ok + c->fail + c->info);
    }
}

static void format_op(char *buf, size_t cap, const tr_op *op) {
    char val[32] = "nil";
    if (op->has_value) {
        snprintf(val, sizeof val, "%" PRId64, op->value);
    }
    snprintf(buf, cap, "#%" PRIu64 " %s key %" PRId64 " %s %s by p%" PRId64 " on n%d at %.3fs",
             op->index, tr__history_op_f_name((tr_op_f)op->f), op->key,
             op->f == TR_F_READ ? "->" : "=", val, op->process, op->node + 1,
             (double)op->time_ns / 1e9);
}

static void format_lin(char *buf, size_t cap, const store_result *r) {
    char op[160];
    if (r->lin_unchecked) {
        snprintf(buf, cap, "not checked (not promised)");
    } else if (r->lin.verdict == TR_LIN_VALID) {
        snprintf(buf, cap, "yes");
    } else if (r->lin.verdict == TR_LIN_UNKNOWN) {
        snprintf(buf, cap, "unknown (search budget, key %" PRId64 ")", r->lin.unknown_key);
    } else if (r->lin.has_bad_op) {
        format_op(op, sizeof op, &r->lin.bad_op);
        snprintf(buf, cap, "no: %s", op);
    } else {
        snprintf(buf, cap, "no");
    }
}

static void print_row(const char *label, const char *cp, const char *ap) {
    printf("  %-24s %-34s %s\n", label, cp, ap);
}

static void print_stores(const sim_opts *o, const run_result *r) {
    char cp[256], ap[256];
    const store_result *c = &r->cp, *a = &r->ap;
    print_row("", o->cp ? "CP (ABD majority quorums)" : "", o->ap ? "AP (LWW + anti-entropy)" : "");
    snprintf(cp, sizeof cp, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, c->ok, c->fail, c->info);
    snprintf(ap, sizeof ap, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, a->ok, a->fail, a->info);
    print_row("ops ok/fail/info", o->cp ? cp : "", o->ap ? ap : "");
    format_lin(cp, sizeof cp, c);
    format_lin(ap, sizeof ap, a);
    print_row("linearizable", o->cp ? cp : "", o->ap ? ap : "");
    if (r->partitioned) {
        format_pct(cp, sizeof cp, &c->avail.groups[0]);
        format_pct(ap, sizeof ap, &a->avail.groups[0]);
        print_row("available, majority side", o->cp ? cp : "", o->ap ? ap : "");
        format_pct(cp, sizeof cp, &c->avail.groups[1]);
        format_pct(ap, sizeof ap, &a->avail.groups[1]);
        print_row("available, minority side", o->cp ? cp : "", o->ap ? ap : "");
    } else {
        format_pct(cp, sizeof cp, &c->avail.all);
        format_pct(ap, sizeof ap, &a->avail.all);
        print_row("available", o->cp ? cp : "", o->ap ? ap : "");
    }
    if (a->conv_untimed) {
        snprintf(ap, sizeof ap, "%s",
                 a->converged ? "yes (final states agree)" : "NO (final states differ)");
    } else if (a->converged) {
        snprintf(ap, sizeof ap, "%.0f ms (virtual) after heal", a->converged_after_ns / 1e6);
    } else {
        snprintf(ap, sizeof ap, "NO (not within %.0f s after heal)", SETTLE_NS / 1e9);
    }
    print_row("converged", o->cp ? "n/a (quorums)" : "", o->ap ? ap : "");
    snprintf(cp, sizeof cp, "%s", c->violated ? "VIOLATED" : c->unknown ? "UNKNOWN" : "held");
    snprintf(ap, sizeof ap, "%s", a->violated ? "VIOLATED" : a->unknown ? "UNKNOWN" : "held");
    print_row("stated guarantees", o->cp ? cp : "", o->ap ? ap : "");
    if (c->violated || c->unknown) {
        printf("  CP: %s\n", c->why);
    }
    if (c->ce_text[0] != '\0') {
        printf("  CP %s", c->ce_text);
    }
    if (a->violated || a->unknown) {
        printf("  AP: %s\n", a->why);
    }
    if (a->note[0] != '\0') {
        printf("  AP note: %s\n", a->note);
    }
    if (a->ce_text[0] != '\0') {
        printf("  AP %s", a->ce_text);
    }
}

/* Counts with the "out of stock" answers moved from fail to ok. */
static tr_avail_counts answered(const tr_avail_counts *c, uint64_t refused) {
    tr_avail_counts x = *c;
    refused = refused < x.fail ? refused : x.fail;
    x.ok += refused;
    x.fail -= refused;
    uint64_t done = x.ok + x.fail + x.info;
    x.fraction = done ? (double)x.ok / (double)done : -1;
    return x;
}

static void print_stock(const run_result *r) {
    const stock_result *s = &r->stock;
    const tr_stock_check_result *c = &s->chk;
    char a[256], b[64];
    printf("  stock service (an entity per item, durable levels, idempotency ledger)\n");
    snprintf(a, sizeof a,
             "%" PRIu64 "/%" PRIu64 "/%" PRIu64 " (ok: reserve %" PRIu64 "/%" PRIu64
             ", restock %" PRIu64 "/%" PRIu64 ", read %" PRIu64 "/%" PRIu64 ")",
             s->ok, s->fail, s->info, s->f_ok[TR_F_RESERVE], s->f_all[TR_F_RESERVE],
             s->f_ok[TR_F_RESTOCK], s->f_all[TR_F_RESTOCK], s->f_ok[TR_F_READ],
             s->f_all[TR_F_READ]);
    printf("  %-24s %s\n", "ops ok/fail/info", a);
    printf("  %-24s %" PRIu64 " reserve, %" PRIu64 " restock; %" PRIu64 " retried, %" PRIu64
           " given up\n",
           "reservation ids", c->reserve_ids, c->restock_ids, c->retried_ids, s->abandoned);
    tr_avail_counts all = answered(&s->avail.all, s->refused[0]);
    if (r->partitioned) {
        tr_avail_counts maj = answered(&s->avail.groups[0], s->refused[1]);
        tr_avail_counts min = answered(&s->avail.groups[1], s->refused[2]);
        format_pct(a, sizeof a, &maj);
        format_pct(b, sizeof b, &min);
        printf("  %-24s majority side %s, minority side %s\n", "attempts answered", a, b);
    } else {
        format_pct(a, sizeof a, &all);
        printf("  %-24s %s\n", "attempts answered", a);
    }
    char levels[1600] = "";
    size_t n = 0;
    uint32_t i = 0;
    for (; i < s->items && n + 70 < sizeof levels; i++) { /* 70: one entry at most */
        n += (size_t)(s->final_known[i]
                          ? snprintf(levels + n, sizeof levels - n,
                                     "%s%" PRId64 " [%" PRId64 ",%" PRId64 "]", i ? " " : "",
                                     s->final_level[i], s->bounds[i].lower, s->bounds[i].upper)
                          : snprintf(levels + n, sizeof levels - n, "%s?", i ? " " : ""));
    }
    printf("  %-24s %s%s\n", "final levels [bounds]", levels, i < s->items ? " ..." : "");
    printf("  %-24s %s\n", "stock never negative", c->never_negative ? "held" : "VIOLATED");
    printf("  %-24s %s\n", "conservation", c->conserved ? "held (no double charge)" : "VIOLATED");
    printf("  %-24s %s\n", "stated guarantees", s->violated ? "VIOLATED" : "held");
    if (s->violated) {
        printf("  stock: %s\n", s->why);
    }
    if (s->note[0] != '\0') {
        printf("  stock note: %s\n", s->note);
    }
}

static void print_faults(const run_result *r) {
    printf("faults:");
    int any = 0;
    for (int f = 0; f < TR_SIM_FAULT_COUNT; f++) {
        if (r->stats.faults[f] > 0) {
            printf(" %s %" PRIu64, tr_sim_fault_name((tr_sim_fault)f), r->stats.faults[f]);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : " none");
    if (r->net_ok) {
        printf("protocol: %" PRIu64 " dials, %" PRIu64 " suspicions, %" PRIu64 " down / %" PRIu64
               " up verdicts, %" PRIu64 " refused, %" PRIu64 " protocol errors\n",
               r->net.dials, r->net.suspicions, r->net.downs, r->net.ups, r->net.refused,
               r->net.protocol_errors);
    }
}

/* A path as one shell word: as is when it is plain, else single-quoted. */
static void print_shell_word(FILE *f, const char *s) {
    if (s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+=,:@%-")] ==
        '\0') {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') {
            fputs("'\\''", f);
        } else {
            fputc(*s, f);
        }
    }
    fputc('\'', f);
}

static void print_replay(const sim_opts *o, uint64_t seed, FILE *f) {
    if (o->loaded != NULL) {
        char line[512], err[256];
        tr_experiment_config cfg = *o->loaded, drawn;
        cfg.sim.seed = seed;
        if (cfg.randomize && tr__randomize_experiment(&cfg, &drawn, err, sizeof err) == 0) {
            cfg = drawn;
        }
        tr_experiment_replay_line(&cfg, line, sizeof line);
        fputs(line, f);
        return;
    }
    sim_opts drawn;
    char knobs[512];
    o = seed_opts(o, seed, &drawn); /* --randomize: the drawn values, as explicit options */
    fprintf(f,
            "troupe sim --seed %" PRIu64 " --nodes %u --workload %s --nemesis %s "
            "--duration %.3fs --rate %g --keys %u --clients %u%s%s",
            seed, o->nodes,
            o->stock         ? "stock"
            : o->cp && o->ap ? "both"
            : o->cp          ? "cp"
                             : "ap",
            o->nemesis ? o->nemesis_text : "none", o->duration_ns / 1e9, o->rate, o->keys,
            o->clients_per_node, o->bug_text ? " --bug " : "", o->bug_text ? o->bug_text : "");
    if (o->scenario_path != NULL) {
        fputs(" --scenario ", f);
        print_shell_word(f, o->scenario_path);
    }
    if (o->lin_budget != LIN_BUDGET_DEFAULT) {
        fprintf(f, " --lin-budget %u", o->lin_budget);
    }
    if (o->net == TR_SIM_NET_ORACLE) {
        fputs(" --net oracle", f);
    }
    tr__randomize_format(&o->knobs, o->op_timeout_ms, knobs, sizeof knobs);
    fputs(knobs, f);
}

static void print_fault_timeline_of(const run_result *r, const sim_opts *o);

static void print_human(const sim_opts *o, const run_result *r) {
    char minority[128], majority[128];
    printf("troupe sim: seed %" PRIu64 ", %u nodes, %.0f s virtual, nemesis %s, %g ops/s per "
           "store, network %s%s%s\n",
           r->seed, o->nodes, o->duration_ns / 1e9, o->nemesis ? o->nemesis_text : "none", o->rate,
           net_name(o->net), o->bug_text ? ", planted bug " : "", o->bug_text ? o->bug_text : "");
    if (o->scenario_path != NULL) {
        printf("scenario: %s, %zu faults scheduled\n", o->scenario_path, o->scen.count);
    }
    if (r->partitioned) {
        format_mask(minority, sizeof minority, r->minority_mask, o->nodes, true);
        format_mask(majority, sizeof majority, r->minority_mask, o->nodes, false);
        printf("partition: minority {%s} | majority {%s} from %.3fs to %.3fs (heal)\n", minority,
               majority, r->part_from_ns / 1e9, r->part_to_ns / 1e9);
    }
    if (o->stock) {
        print_stock(r);
    } else {
        print_stores(o, r);
    }
    print_faults(r);
    print_fault_timeline_of(r, o);
    if (o->knobs.buggify) {
        printf("buggify: %" PRIu64 " fault points fired of %" PRIu64 " evaluated\n",
               r->stats.buggify_fired, r->stats.buggify_checked);
    }
    printf("events: %" PRIu64 " in %.3f s wall (%.0f events/s), virtual/wall time %.1fx "
           "(%.1f s virtual, the whole experiment: set-up, simulation and checks; %.3f s cpu: "
           "virtual/cpu %.1fx)\n",
           r->stats.events, r->wall_s, r->wall_s > 0 ? r->stats.events / r->wall_s : 0,
           r->wall_s > 0 ? r->virtual_ns / 1e9 / r->wall_s : 0, r->virtual_ns / 1e9, r->cpu_s,
           r->cpu_s > 0 ? r->virtual_ns / 1e9 / r->cpu_s : 0);
    printf("trace-hash: %016" PRIx64 "\n", r->trace_hash);
    printf("replay: ");
    print_replay(o, r->seed, stdout);
    printf("\n");
}

/* A JSON string value, escaped; null when s is empty (nothing to say). */
static void json_str(const char *s) {
    if (s[0] == '\0') {
        fputs("null", stdout);
        return;
    }
    tr__json_string(s);
}

/* A fraction, or null when nothing was counted. */
static void json_fraction(const char *name, double x) {
    if (x < 0) {
        printf("\"%s\":null,", name);
    } else {
        printf("\"%s\":%.4f,", name, x);
    }
}

static tr_verdict store_verdict(const store_result *s) {
    return s->violated ? TR_VERDICT_VIOLATED : s->unknown ? TR_VERDICT_UNKNOWN : TR_VERDICT_HELD;
}

static tr_verdict lin_verdict(tr_lin_verdict v) {
    return v == TR_LIN_VALID     ? TR_VERDICT_HELD
           : v == TR_LIN_INVALID ? TR_VERDICT_VIOLATED
                                 : TR_VERDICT_UNKNOWN;
}

static void json_store(const char *name, const store_result *s, bool is_ap, bool last) {
    char bad[160] = "";
    if (s->lin.verdict == TR_LIN_INVALID && s->lin.has_bad_op) {
        format_op(bad, sizeof bad, &s->lin.bad_op);
    }
    printf("\"%s\":{\"verdict\":\"%s\",\"ops\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64
           ",\"info\":%" PRIu64 ",\"linearizable\":%s%s%s,"
           "\"first_violation\":",
           name, tr_verdict_name(store_verdict(s)), s->ops, s->ok, s->fail, s->info,
           s->lin_unchecked ? "" : "\"",
           s->lin_unchecked ? "null" : tr_verdict_name(lin_verdict(s->lin.verdict)),
           s->lin_unchecked ? "" : "\"");
    json_str(bad);
    putchar(',');
    json_fraction("availability_majority", s->avail.groups[0].fraction);
    json_fraction("availability_minority", s->avail.groups[1].fraction);
    json_fraction("availability", s->avail.all.fraction);
    if (is_ap) {
        printf("\"converged\":%s,\"converged_after_ms\":", s->converged ? "true" : "false");
        if (s->converged && !s->conv_untimed) {
            printf("%.3f", s->converged_after_ns / 1e6);
        } else {
            fputs("null", stdout);
        }
        printf(",\"lost_writes\":%zu,", s->conv.lost_writes);
    }
    printf("\"violated\":%s,\"why\":", s->violated ? "true" : "false");
    json_str(s->why);
    fputs(",\"note\":", stdout);
    json_str(s->note);
    printf(",\"counterexample\":%s}%s", s->ce_json[0] ? s->ce_json : "null", last ? "" : ",");
}

static void json_stock(const stock_result *s) {
    const tr_stock_check_result *c = &s->chk;
    const char *neg = s->negative_text, *sus = s->suspect_text;
    printf("\"stock\":{\"ops\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64
           ",\"info\":%" PRIu64 ",\"reserve_ids\":%" PRIu64 ",\"restock_ids\":%" PRIu64
           ",\"retried_ids\":%" PRIu64 ",\"abandoned_ids\":%" PRIu64 ",",
           s->ops, s->ok, s->fail, s->info, c->reserve_ids, c->restock_ids, c->retried_ids,
           s->abandoned);
    json_fraction("availability_majority", answered(&s->avail.groups[0], s->refused[1]).fraction);
    json_fraction("availability_minority", answered(&s->avail.groups[1], s->refused[2]).fraction);
    json_fraction("availability", answered(&s->avail.all, s->refused[0]).fraction);
    printf("\"never_negative\":%s,\"first_negative\":", c->never_negative ? "true" : "false");
    json_str(neg);
    printf(",\"conserved\":%s,\"items_below_bounds\":%zu,\"items_above_bounds\":%zu,"
           "\"suspect\":",
           c->conserved ? "true" : "false", c->items_below, c->items_above);
    json_str(sus);
    fputs(",\"final_levels\":[", stdout);
    for (uint32_t i = 0; i < s->items; i++) {
        if (s->final_known[i]) {
            printf("%s{\"level\":%" PRId64 ",\"lower\":%" PRId64 ",\"upper\":%" PRId64 "}",
                   i ? "," : "", s->final_level[i], s->bounds[i].lower, s->bounds[i].upper);
        } else {
            printf("%snull", i ? "," : "");
        }
    }
    printf("],\"verdict\":\"%s\",\"violated\":%s,\"why\":",
           tr_verdict_name(s->violated ? TR_VERDICT_VIOLATED : TR_VERDICT_HELD),
           s->violated ? "true" : "false");
    json_str(s->why);
    fputs(",\"note\":", stdout);
    json_str(s->note);
    putchar('}');
}

static tr_verdict run_verdict(const run_result *r);

/* Node i is n<i+1> wherever a user sees it. */
static void json_nodes(uint64_t mask, uint32_t nodes) {
    putchar('[');
    for (uint32_t i = 0, n = 0; i < nodes; i++) {
        if (mask >> i & 1) {
            printf("%s\"n%u\"", n++ ? "," : "", i + 1);
        }
    }
    putchar(']');
}

/* The text report's fault timeline shows this many faults unless --all-faults. */
#define FAULTS_SHOWN 20

/* Each fault that took effect: its kind, virtual window and the nodes it touched. */
static void print_fault_timeline(const tr_fault_span *f, uint32_t n, bool all) {
    if (n == 0) {
        return;
    }
    printf("fault timeline (%u, virtual time):\n", n);
    uint32_t shown = all || n <= FAULTS_SHOWN ? n : FAULTS_SHOWN;
    for (uint32_t i = 0; i < shown; i++) {
        char names[TR_SIM_NODES_MAX * 5], end[32] = "end";
        format_mask(names, sizeof names, f[i].nodes, TR_SIM_NODES_MAX, true);
        if (f[i].end_ns != 0) {
            snprintf(end, sizeof end, "%.3fs", f[i].end_ns / 1e9);
        }
        printf("  %-10s %9.3fs .. %-9s nodes %s\n", f[i].kind, f[i].start_ns / 1e9, end,
               names[0] ? names : "-");
    }
    if (shown < n) {
        printf("  ... and %u more (--all-faults lists every one)\n", n - shown);
    }
}

static void print_fault_timeline_of(const run_result *r, const sim_opts *o) {
    print_fault_timeline(r->faults, r->fault_count, o->all_faults);
}

/* The fault timeline as a JSON array of {kind, start_s, end_s (null: until the end), nodes}. */
static void json_fault_timeline(const tr_fault_span *f, uint32_t n) {
    fputs("\"fault_timeline\":[", stdout);
    for (uint32_t i = 0; i < n; i++) {
        printf("%s{\"kind\":", i ? "," : "");
        json_str(f[i].kind);
        printf(",\"start_s\":%.6f,\"end_s\":", f[i].start_ns / 1e9);
        if (f[i].end_ns != 0) {
            printf("%.6f", f[i].end_ns / 1e9);
        } else {
            fputs("null", stdout);
        }
        fputs(",\"nodes\":", stdout);
        json_nodes(f[i].nodes, TR_SIM_NODES_MAX);
        putchar('}');
    }
    putchar(']');
}

static void print_json(const sim_opts *o, const run_result *r) {
    tr_verdict v = run_verdict(r);
    printf("{\"seed\":%" PRIu64 ",\"verdict\":\"%s\",\"held\":%s,\"nodes\":%u,\"net\":\"%s\","
           "\"trace_hash\":\"%016" PRIx64 "\",\"partitioned\":%s,\"minority\":",
           r->seed, tr_verdict_name(v), v == TR_VERDICT_HELD ? "true" : "false", o->nodes,
           net_name(o->net), r->trace_hash, r->partitioned ? "true" : "false");
    json_nodes(r->minority_mask, o->nodes);
    printf(",\"minority_mask\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"wall_s\":%.3f,\"cpu_s\":%.3f,\"check_s\":%.3f,\"virtual_s\":%.3f,\"faults\":{",
           r->minority_mask, r->stats.events, r->wall_s, r->cpu_s, r->check_s, r->virtual_ns / 1e9);
    for (int f = 0; f < TR_SIM_FAULT_COUNT; f++) {
        printf("%s\"%s\":%" PRIu64, f ? "," : "", tr_sim_fault_name((tr_sim_fault)f),
               r->stats.faults[f]);
    }
    printf("},");
    json_fault_timeline(r->faults, r->fault_count);
    putchar(',');
    if (o->knobs.buggify) {
        printf("\"buggify_fired\":%" PRIu64 ",", r->stats.buggify_fired);
    }
    if (o->cp) {
        json_store("cp", &r->cp, false, !o->ap);
    }
    if (o->ap) {
        json_store("ap", &r->ap, true, true);
    }
    if (o->stock) {
        json_stock(&r->stock);
    }
    printf(",\"replay\":\"");
    print_replay(o, r->seed, stdout);
    printf("\"}\n");
}

/* ---- driver ------------------------------------------------------------------------------ */

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_history(const sim_opts *o, uint64_t seed, const char *store, const tr_history *h) {
    char name[4096];
    const char *path = o->history;
    char seed_part[32] = "";
    if (o->sweep) {
        snprintf(seed_part, sizeof seed_part, ".%" PRIu64, seed);
    }
    snprintf(name, sizeof name, "%s%s%s%s", path, seed_part, o->cp && o->ap ? "." : "",
             o->cp && o->ap ? store : "");
    FILE *f = fopen(name, "w");
    if (f == NULL) {
        fprintf(stderr, "troupe sim: cannot write %s: %s\n", name, strerror(errno));
        return TR_EIO;
    }
    size_t n = strlen(path);
    bool edn = n >= 4 && strcmp(path + n - 4, ".edn") == 0;
    int rc = edn ? tr__history_write_edn(h, f) : tr__history_write_json(h, f);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "troupe sim: cannot write %s\n", name);
        return TR_EIO;
    }
    return 0;
}

static tr_verdict run_verdict(const run_result *r) {
    if (r->cp.violated || r->ap.violated || r->stock.violated) {
        return TR_VERDICT_VIOLATED;
    }
    return r->cp.unknown || r->ap.unknown ? TR_VERDICT_UNKNOWN : TR_VERDICT_HELD;
}

/* ---- a built-in workload through the library's experiment runner ---------------------------- */

/* The built-in services whose workloads this run drives (svcs, count returned): stock, cp,
 * ap, or cp and ap side by side (--workload both). */
static uint32_t runner_services(const sim_opts *o, const tr_service **svcs, const char **names) {
    uint32_t n = 0;
    if (o->stock) {
        svcs[n++] = &tr__builtin_stock;
    }
    if (o->cp && !o->stock) {
        svcs[n++] = &tr__builtin_cp;
    }
    if (o->ap && !o->stock) {
        svcs[n++] = &tr__builtin_ap;
    }
    for (uint32_t k = 0; k < n; k++) {
        names[k] = svcs[k]->name;
    }
    return n;
}

/* The AP replicas' convergence after the heal is timed, when both registers run, by asking
 * their state every this often. */
#define CONVERGE_POLL_NS (5 * MS)

/* The experiment of seed: every flag as `troupe sim --load` maps it, so that a built-in run and
 * a run of the same service loaded from its module are the same experiment. Both registers:
 * two workloads of one experiment, the AP convergence timed. */
static void runner_config(const sim_opts *o, uint64_t seed, const tr_service *const *svc,
                          const char *const *names, uint32_t count, tr_experiment_config *cfg) {
    tr_experiment_config_init(cfg);
    cfg->sim.seed = seed;
    cfg->sim.nodes = o->nodes;
    cfg->services = svc;
    cfg->service_count = count;
    cfg->workload = svc[0]->name;
    if (count > 1) {
        cfg->workloads = names;
        cfg->workload_count = count;
        cfg->converge_poll_ns = CONVERGE_POLL_NS;
    }
    cfg->bug = o->bug_text;
    cfg->nemesis.kinds = o->nemesis;
    cfg->nemesis.scenario_path = o->scenario_path;
    cfg->duration_ns = o->duration_ns;
    cfg->rate = o->rate;
    cfg->keys = o->keys;
    cfg->clients_per_node = o->clients_per_node;
    cfg->lin_budget = o->lin_budget;
    cfg->sim.net = o->net;
    tr__randomize_copy(&o->knobs, &cfg->sim);
    cfg->op_timeout_ms = o->op_timeout_ms;
    cfg->randomize = o->randomize;
    cfg->trace = o->tracing ? &o->trace : NULL;
    cfg->spans = o->spans.path ? &o->spans : NULL;
}

static tr_avail_counts avail_counts(const tr_availability *a) {
    return (tr_avail_counts){
        .ok = a->ok, .fail = a->fail, .info = a->info, .fraction = a->fraction};
}

/* Renders into buf the counterexample of a violated key (sim/counterexample.h), text or JSON;
 * "" when it does not fit (the report then shows the checker's verdict alone). */
static void render_ce(const tr_history *h, const tr__counterexample *ce, bool json, char *buf) {
    FILE *f = fmemopen(buf, CE_RENDER_MAX, "w");
    buf[0] = '\0';
    if (f == NULL) {
        return;
    }
    if (json) {
        tr__counterexample_print_json(f, h, ce);
    } else {
        tr__counterexample_print(f, h, ce);
    }
    bool fits = ftell(f) < CE_RENDER_MAX - 1;
    fclose(f);
    if (!fits) {
        buf[0] = '\0';
    }
}

/* The counterexample of key `key` of a violated history, kept rendered in s. */
static void find_counterexample(const sim_opts *o, const tr_history *h, const tr_lin_model *m,
                                int64_t key, uint64_t stuck_at, store_result *s) {
    static tr__counterexample ce; /* one at a time */
    if (tr__counterexample_find(h, m, key, stuck_at, o->lin_budget, &ce) != 0 || !ce.found) {
        return;
    }
    render_ce(h, &ce, false, s->ce_text);
    render_ce(h, &ce, true, s->ce_json);
}

/* The register table's figures from an experiment's result. */
static void store_from_result(const sim_opts *o, const tr_workload_result *res,
                              const tr_lin_model *model, store_result *s) {
    s->ran = true;
    s->ok = res->ops_ok;
    s->fail = res->ops_fail;
    s->info = res->ops_info;
    s->ops = s->ok + s->fail + s->info;
    s->avail.all = avail_counts(&res->available);
    s->avail.groups[0] = avail_counts(&res->available_majority);
    s->avail.groups[1] = avail_counts(&res->available_minority);
    s->lin.verdict = TR_LIN_VALID;
    s->lin_unchecked = true;
    for (uint32_t i = 0; i < res->check_count; i++) {
        const tr_check_outcome *c = &res->checks[i];
        s->lin_unchecked &= strcmp(c->name, "linearizable") != 0;
        if (strcmp(c->name, "converged") == 0) {
            s->conv_untimed = !res->convergence_timed;
            s->converged = c->verdict == TR_VERDICT_HELD && (s->conv_untimed || res->converged);
            s->converged_after_ns = res->converged_after_ns;
        }
        /* the measure of a check that held (AP's writes lost where faults allow it) */
        if (c->verdict == TR_VERDICT_HELD && c->why[0] != '\0' && s->note[0] == '\0' &&
            strcmp(c->name, "linearizable") != 0) {
            snprintf(s->note, sizeof s->note, "%s", c->why);
        }
        s->conv.lost_writes += (size_t)tr_check_outcome_measure(c, "lost_writes", 0);
        if (strcmp(c->name, "linearizable") == 0) {
            s->lin.verdict = c->verdict == TR_VERDICT_HELD       ? TR_LIN_VALID
                             : c->verdict == TR_VERDICT_VIOLATED ? TR_LIN_INVALID
                                                                 : TR_LIN_UNKNOWN;
            s->lin.unknown_key = c->key;
            s->lin.has_bad_op = c->has_op && c->op_index < tr__history_count(res->history);
            if (s->lin.has_bad_op) {
                s->lin.bad_op = *tr__history_op(res->history, c->op_index);
            }
            if (c->verdict == TR_VERDICT_VIOLATED && c->has_key) {
                find_counterexample(o, res->history, model, c->key,
                                    c->has_op ? c->op_index : TR_CE_NONE, s);
            }
        }
        if (c->verdict == TR_VERDICT_VIOLATED && !s->violated) {
            s->violated = true;
            snprintf(s->why, sizeof s->why, "%s",
                     strcmp(c->name, "linearizable") == 0 ? "history is not linearizable" : c->why);
        } else if (c->verdict == TR_VERDICT_UNKNOWN && !s->violated && !s->unknown) {
            s->unknown = true;
            if (strcmp(c->name, "linearizable") == 0) {
                snprintf(s->why, sizeof s->why,
                         "linearizability unknown: the search ran out of its budget of %u "
                         "configurations on key %" PRId64 " (--lin-budget)",
                         o->lin_budget, c->key);
            } else {
                snprintf(s->why, sizeof s->why, "%s unknown: %s", c->name, c->why);
            }
        }
    }
}

/* The service's own checks beyond the two recomputed here (single activation, the durable
 * levels): a violation is the run's, an unknown one a note. */
static void stock_service_checks(const tr_workload_result *res, stock_result *r) {
    for (uint32_t i = 0; i < res->check_count; i++) {
        const tr_check_outcome *c = &res->checks[i];
        if (!strcmp(c->name, "never-negative") || !strcmp(c->name, "conserved")) {
            continue;
        }
        if (c->verdict == TR_VERDICT_VIOLATED && !r->violated) {
            r->violated = true;
            snprintf(r->why, sizeof r->why, "%s: %s", c->name, c->why);
        } else if (c->verdict == TR_VERDICT_UNKNOWN && r->note[0] == '\0') {
            snprintf(r->note, sizeof r->note, "%s unknown: %s", c->name, c->why);
        }
    }
}

/* The stock report's figures from an experiment's result: the same stock check the service's
 * checks run (harness/check_stock.h), with the bounds of every item kept for the table. */
static void stock_from_result(const sim_opts *o, const tr_workload_result *res, run_result *rr) {
    stock_result *r = &rr->stock;
    tr_stock_window w = {.partitioned = rr->partitioned,
                         .from_ns = rr->part_from_ns,
                         .to_ns = rr->part_to_ns,
                         .minority_nodes = rr->minority_mask};
    static tr_stock_report rep; /* large; the CLI runs one seed at a time */
    if (tr__stock_report(res->history, o->keys, TR_STOCK_INITIAL_DEFAULT, &w, &rep) != 0) {
        rr->tool_error = true;
        snprintf(rr->tool_why, sizeof rr->tool_why, "the stock checker failed");
        return;
    }
    static const uint8_t f_of[3] = {TR_F_READ, TR_F_RESERVE, TR_F_RESTOCK};
    r->ran = true;
    r->ops = rep.ops;
    r->ok = rep.ok;
    r->fail = rep.fail;
    r->info = rep.info;
    for (int k = 0; k < 3; k++) {
        r->f_all[f_of[k]] = rep.f_all[k];
        r->f_ok[f_of[k]] = rep.f_ok[k];
        r->refused[k] = rep.refused[k];
    }
    r->abandoned = rep.unresolved_ids;
    r->items = (uint32_t)rep.items;
    memcpy(r->final_level, rep.final_level, sizeof r->final_level);
    memcpy(r->final_known, rep.final_known, sizeof r->final_known);
    memcpy(r->bounds, rep.bounds, sizeof r->bounds);
    r->chk = rep.chk;
    r->avail.all = avail_counts(&res->available);
    r->avail.groups[0] = avail_counts(&res->available_majority);
    r->avail.groups[1] = avail_counts(&res->available_minority);
    r->violated = !r->chk.ok;
    stock_op_texts(r);
    if (r->violated) {
        stock_why(r);
    }
    stock_service_checks(res, r);
    if (r->chk.items_unknown > 0) {
        snprintf(r->note, sizeof r->note,
                 "%zu items' final level unknown (no final read "
                 "answered): conservation not checked there",
                 r->chk.items_unknown);
    }
}

/* Both registers: AP's linearizability is not promised, hence not one of its checks, but the
 * table shows it next to CP's (the trade-off the default run is there to show): searched
 * here over the AP history, never counted as a violation. */
static void show_ap_linearizability(const sim_opts *o, const tr_workload_result *w,
                                    store_result *s) {
    tr_lin_result lr;
    if (!s->lin_unchecked ||
        tr_lincheck_history(w->history, &tr_lin_model_register, o->lin_budget, &lr) != 0) {
        return;
    }
    s->lin_unchecked = false;
    s->lin.verdict = lr.verdict == TR_VERDICT_HELD       ? TR_LIN_VALID
                     : lr.verdict == TR_VERDICT_VIOLATED ? TR_LIN_INVALID
                                                         : TR_LIN_UNKNOWN;
    s->lin.unknown_key = lr.key;
    s->lin.has_bad_op =
        lr.verdict == TR_VERDICT_VIOLATED && lr.op_index < tr__history_count(w->history);
    if (s->lin.has_bad_op) {
        s->lin.bad_op = *tr__history_op(w->history, lr.op_index);
        find_counterexample(o, w->history, &tr_lin_model_register, lr.key, lr.op_index, s);
    }
}

/* Workload k's share of the result into the table's figures. */
static void part_from_result(const sim_opts *o, const tr_experiment_result *res, uint32_t k,
                             run_result *r) {
    const tr_workload_result *w = &res->workloads[k];
    if (strcmp(w->name, "stock") == 0) {
        stock_from_result(o, w, r);
        return;
    }
    bool ap = strcmp(w->name, "ap") == 0;
    store_from_result(o, w, ap ? &tr_lin_model_register : tr__builtin_cp.lin_model,
                      ap ? &r->ap : &r->cp);
    if (ap && res->workload_count > 1) {
        show_ap_linearizability(o, w, &r->ap);
    }
}

/* A history at its cap (harness/client.c keeps room for the completion of every op in flight,
 * so no invoke fits once room < in flight + 2): said on stderr with the time clients stopped. */
static void history_cap_note(uint64_t seed, const tr_workload_result *w) {
    const tr_history *h = w->history;
    size_t count = tr__history_count(h), max = tr__history_max_ops(h), last = count;
    if (max - count >= tr__history_pending(h) + 2) {
        return;
    }
    while (last > 0 && tr__history_op(h, last - 1)->type != TR_OP_INVOKE) {
        last--;
    }
    fprintf(stderr,
            "troupe sim: seed %" PRIu64 ": the %s history reached its cap of %zu events at "
            "%.3f s: clients stopped invoking there; the report covers what ran\n",
            seed, w->name, max, last ? (double)tr__history_op(h, last - 1)->time_ns / 1e9 : 0.0);
}

static void replay_line(const sim_opts *o, uint64_t seed, char *buf);
static int report_run(const sim_opts *o, const tr_experiment_config *cfg,
                      const tr_experiment_result *res, int rc, const char *replay, char *why,
                      size_t why_cap);

/* One seed of the built-in workloads through tr_experiment_run, its result as the table's. */
static int run_seed_runner(const sim_opts *o, uint64_t seed, run_result *r) {
    const tr_service *svcs[3];
    const char *names[3];
    uint32_t count = runner_services(o, svcs, names);
    tr_experiment_config cfg;
    tr_experiment_result *res;
    char err[512];
    runner_config(o, seed, svcs, names, count, &cfg);
    double t0 = wall_now(), c0 = cpu_now();
    if (tr_experiment_run(&cfg, &res, err, sizeof err) != 0) {
        fprintf(stderr, "troupe sim: %s\n", err);
        return 2;
    }
    r->wall_s = wall_now() - t0;
    r->cpu_s = cpu_now() - c0;
    r->trace_hash = res->trace_hash;
    r->minority_mask = res->minority_nodes;
    r->partitioned = res->partitioned;
    r->part_from_ns = res->partition_start_ns;
    r->part_to_ns = res->partition_end_ns;
    r->stats = res->stats;
    static tr_fault_span faults[TR__NEMESIS_SPANS_MAX]; /* the CLI runs one seed at a time */
    r->fault_count =
        res->fault_count < TR__NEMESIS_SPANS_MAX ? res->fault_count : TR__NEMESIS_SPANS_MAX;
    if (r->fault_count > 0) { /* res->faults is NULL when none fired */
        memcpy(faults, res->faults, r->fault_count * sizeof *faults);
    }
    r->faults = faults;
    r->net_ok = res->net_ok;
    r->net = res->net;
    r->virtual_ns = res->virtual_ns;
    for (uint32_t k = 0; k < res->workload_count; k++) {
        const tr_workload_result *w = &res->workloads[k];
        part_from_result(o, res, k, r);
        history_cap_note(seed, w);
        for (uint32_t i = 0; i < w->check_count; i++) {
            if (strcmp(w->checks[i].name, "history") == 0) {
                r->tool_error = true;
                snprintf(r->tool_why, sizeof r->tool_why, "%s", w->checks[i].why);
            }
        }
        if (o->history != NULL && !r->tool_error && write_history(o, seed, w->name, w->history)) {
            r->tool_error = true;
            snprintf(r->tool_why, sizeof r->tool_why, "cannot write the history");
        }
    }
    if (!r->tool_error && o->report_dir != NULL) {
        char replay[TR__SWEEP_LINE_MAX];
        replay_line(o, seed, replay);
        r->tool_error = report_run(o, &cfg, res, (int)run_verdict(r), replay, r->tool_why,
                                   sizeof r->tool_why) != 0;
    }
    tr_experiment_result_destroy(res);
    if (r->tool_error) {
        fprintf(stderr, "troupe sim: seed %" PRIu64 ": %s\n", seed, r->tool_why);
        return 2;
    }
    return (int)run_verdict(r);
}

/* One seed: create, run, check, destroy. Returns 0/1/2/3 as the exit status. */
static int run_seed(const sim_opts *o, uint64_t seed, run_result *r) {
    memset(r, 0, sizeof *r);
    r->seed = seed;
    return run_seed_runner(o, seed, r);
}

/* The seed's run twice, compared event by event (div); 0 or 2 after printing why. */
static int run_twice(const sim_opts *o, uint64_t seed, tr_sim_divergence *div) {
    const tr_service *svcs[3];
    const char *names[3];
    tr_experiment_config ec;
    char err[512];
    if (o->loaded != NULL) {
        ec = *o->loaded;
        ec.sim.seed = seed;
    } else {
        runner_config(o, seed, svcs, names, runner_services(o, svcs, names), &ec);
    }
    if (tr_experiment_check_determinism(&ec, div, err, sizeof err) != 0) {
        fprintf(stderr, "troupe sim: seed %" PRIu64 ": %s\n", seed, err);
        return 2;
    }
    return 0;
}

/* One seed run twice: 0 identical, 1 diverged, 2 tool error; the report printed. */
static int check_determinism_seed(const sim_opts *o, uint64_t seed) {
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
            json_str(div.what);
        } else {
            fputs("null,\"diverged_at_s\":null,\"what\":null", stdout);
        }
        fputs(",\"replay\":\"", stdout);
        print_replay(o, seed, stdout);
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
    print_replay(o, seed, stdout);
    printf(" --check-determinism\n");
    return div.diverged ? 1 : 0;
}

/* Every seed of the range run twice, then one summary (on stderr with --json). */
static int check_determinism(const sim_opts *o) {
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
        print_replay(o, first_bad, f);
        fprintf(f, " --check-determinism\n");
    }
    return errors > 0 ? 2 : diverged > 0 ? 1 : 0;
}

/* The replay line of seed into buf[TR__SWEEP_LINE_MAX] (cut at its end). */
static void replay_line(const sim_opts *o, uint64_t seed, char *buf) {
    FILE *f = fmemopen(buf, TR__SWEEP_LINE_MAX, "w");
    buf[0] = '\0';
    if (f != NULL) {
        print_replay(o, seed, f);
        fclose(f);
    }
    buf[TR__SWEEP_LINE_MAX - 1] = '\0';
}

/* One seed's outcome rc (0/1/2/3) into the sweep's tally. */
static void tally_seed(const sim_opts *o, tr__sweep_tally *t, uint64_t seed, int rc) {
    t->runs++;
    t->held += rc == 0;
    t->errors += rc == 2;
    if (rc == 1 && t->violated++ == 0) {
        t->first_bad = seed;
        replay_line(o, seed, t->bad_replay);
    }
    if (rc == 3 && t->unknown++ == 0) {
        t->first_unknown = seed;
        replay_line(o, seed, t->unknown_replay);
    }
}

/* The seeds of the range (of its shard, with --shard), each reported, then the summary (on
 * stderr with --json, and as a JSON line on stdout). */
static int sweep(const sim_opts *o) {
    static tr__sweep_tally t; /* large: its replay lines */
    memset(&t, 0, sizeof t);
    t.lo = o->seed_lo;
    t.hi = o->seed_hi;
    t.shard = o->shard;
    t.shards = o->shards;
    replay_line(o, o->seed_lo, t.options);
    double t0 = wall_now();
    run_result r;
    uint64_t total = (o->seed_hi - o->seed_lo) / o->shards + 1;
    if ((o->seed_hi - o->seed_lo) % o->shards < o->shard) {
        total--;
    }
    for (uint64_t seed = o->seed_lo + o->shard; seed <= o->seed_hi && seed >= o->seed_lo;
         seed += o->shards) {
        sim_opts drawn;
        const sim_opts *so = seed_opts(o, seed, &drawn);
        int rc = run_seed(so, seed, &r);
        tally_seed(o, &t, seed, rc);
        if (o->json && rc != 2) {
            print_json(so, &r);
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
                r.ap.violated ? r.ap.why : "", r.stock.violated ? "  stock: " : "",
                r.stock.violated ? r.stock.why : "");
        if (seed > UINT64_MAX - o->shards) {
            break;
        }
    }
    t.wall_s = wall_now() - t0;
    report_none(o);
    tr__sweep_print_text(&t, o->json ? stderr : stdout);
    if (o->json) {
        tr__sweep_print_json(&t);
    }
    return tr__sweep_exit(&t);
}

/* ---- loaded services: `troupe sim --load PATH --workload NAME` through the runner ----------- */

#define LOADS_MAX 8

static int load_usage(const char *why) {
    sim_error("%s", why);
    return 2;
}

/* The availability rows of a --load run: the whole run, or each side of the partition. */
static void print_loaded_availability(const tr_experiment_result *r, uint32_t nodes) {
    char a[64], b[64], minority[128], majority[128];
    tr_avail_counts all = avail_counts(&r->available);
    if (!r->partitioned) {
        format_pct(a, sizeof a, &all);
        printf("  %-24s %s\n", "available", a);
        return;
    }
    tr_avail_counts maj = avail_counts(&r->available_majority);
    tr_avail_counts min = avail_counts(&r->available_minority);
    format_mask(minority, sizeof minority, r->minority_nodes, nodes, true);
    format_mask(majority, sizeof majority, r->minority_nodes, nodes, false);
    format_pct(a, sizeof a, &maj);
    format_pct(b, sizeof b, &min);
    printf("  partition: minority {%s} | majority {%s} from %.3fs to %.3fs (heal)\n", minority,
           majority, r->partition_start_ns / 1e9, r->partition_end_ns / 1e9);
    printf("  %-24s %s\n  %-24s %s\n", "available, majority side", a, "available, minority side",
           b);
}

/* The measures the checks of a sweep's runs reported (tr_check_measure), one value per run
 * that reported it, for the summary: at most MEASURE_NAMES_MAX names and MEASURE_RUNS_MAX
 * values each (a longer sweep summarises its first runs and says so). */
#define MEASURE_NAMES_MAX 8
#define MEASURE_RUNS_MAX (1u << 20)
typedef struct measure_runs {
    const char *name; /* the service's literal */
    double *v, sum;
    uint32_t n, cap;
    bool capped;
} measure_runs;

static void measure_add(measure_runs *m, const tr_measure *x) {
    for (uint32_t i = 0; i < MEASURE_NAMES_MAX; i++) {
        if (m[i].name != NULL && strcmp(m[i].name, x->name) != 0) {
            continue;
        }
        m[i].name = x->name;
        if (m[i].n == m[i].cap) {
            uint32_t cap = m[i].cap ? m[i].cap * 2 : 256;
            double *v = cap <= MEASURE_RUNS_MAX ? realloc(m[i].v, cap * sizeof *v) : NULL;
            m[i].capped |= v == NULL;
            if (v == NULL) {
                return;
            }
            m[i].v = v;
            m[i].cap = cap;
        }
        m[i].v[m[i].n++] = x->value;
        m[i].sum += x->value;
        return;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* "measure NAME: runs N, sum S, min/p50/p90/p99/max" per name; frees the values. */
static void measures_print(measure_runs *m) {
    for (uint32_t i = 0; i < MEASURE_NAMES_MAX && m[i].name; i++) {
        uint32_t n = m[i].n;
        qsort(m[i].v, n, sizeof m[i].v[0], cmp_double);
        printf("measure %s: %u runs, sum %.0f, min %g, p50 %g, p90 %g, p99 %g, max %g%s\n",
               m[i].name, n, m[i].sum, m[i].v[0], m[i].v[n / 2], m[i].v[n * 9 / 10],
               m[i].v[n * 99 / 100], m[i].v[n - 1], m[i].capped ? " (the first runs only)" : "");
        free(m[i].v);
    }
}

/* A --load run's options and configuration, its history write errors and, in a sweep, its
 * measures. */
typedef struct loaded_run {
    const sim_opts *o;
    const tr_experiment_config *cfg;
    uint64_t write_errors;
    measure_runs measures[MEASURE_NAMES_MAX]; /* a sweep's */
} loaded_run;

/* The linearizability model of the service named `name` in cfg, or NULL. */
static const tr_lin_model *loaded_model(const tr_experiment_config *cfg, const char *name) {
    for (uint32_t i = 0; i < cfg->service_count; i++) {
        if (strcmp(cfg->services[i]->name, name) == 0) {
            return cfg->services[i]->lin_model;
        }
    }
    return NULL;
}

/* The counterexample of the first workload's violated key (found, printed in the run's
 * format), or nothing: "null" in JSON. */
static void print_loaded_counterexample(const tr_experiment_result *r, const loaded_run *lr) {
    static tr__counterexample ce; /* one at a time */
    ce.found = false;
    const tr_lin_model *m = r->workload_count ? loaded_model(lr->cfg, r->workloads[0].name) : NULL;
    for (uint32_t i = 0; i < r->check_count && m != NULL && !ce.found; i++) {
        const tr_check_outcome *c = &r->checks[i];
        if (strcmp(c->name, "linearizable") == 0 && c->verdict == TR_VERDICT_VIOLATED &&
            c->has_key &&
            tr__counterexample_find(r->history, m, c->key, c->has_op ? c->op_index : TR_CE_NONE,
                                    lr->cfg->lin_budget, &ce) != 0) {
            ce.found = false;
        }
    }
    if (lr->o->json) {
        tr__counterexample_print_json(stdout, r->history, &ce);
    } else if (ce.found) {
        fputs("  ", stdout);
        tr__counterexample_print(stdout, r->history, &ce);
    }
}

static void json_loaded(const tr_experiment_result *r, const loaded_run *lr) {
    uint32_t nodes = lr->o->nodes;
    tr_sim_net net = lr->o->net;
    printf("{\"seed\":%" PRIu64 ",\"verdict\":\"%s\",\"net\":\"%s\",\"trace_hash\":\"%016" PRIx64
           "\",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64 ",\"info\":%" PRIu64
           ",\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,\"faults\":%u,\"partitioned\":%s,"
           "\"minority\":",
           r->seed, tr_verdict_name(r->verdict), net_name(net), r->trace_hash, r->ops_ok,
           r->ops_fail, r->ops_info, r->latency_p50_ns / 1e6, r->latency_p99_ns / 1e6,
           r->fault_count, r->partitioned ? "true" : "false");
    json_nodes(r->partitioned ? r->minority_nodes : 0, nodes);
    putchar(',');
    json_fraction("availability", r->available.fraction);
    json_fraction("availability_majority", r->partitioned ? r->available_majority.fraction : -1);
    json_fraction("availability_minority", r->partitioned ? r->available_minority.fraction : -1);
    fputs("\"checks\":[", stdout);
    for (uint32_t i = 0; i < r->check_count; i++) {
        printf("%s{\"name\":\"%s\",\"verdict\":\"%s\"", i ? "," : "", r->checks[i].name,
               tr_verdict_name(r->checks[i].verdict));
        for (uint32_t k = 0; k < r->checks[i].measure_count; k++) { /* the check's figures */
            printf("%s\"%s\":%.17g", k ? "," : ",\"measures\":{", r->checks[i].measures[k].name,
                   r->checks[i].measures[k].value);
        }
        fputs(r->checks[i].measure_count ? "}}" : "}", stdout);
    }
    fputs("],", stdout);
    json_fault_timeline(r->faults, r->fault_count);
    fputs(",\"counterexample\":", stdout);
    print_loaded_counterexample(r, lr);
    printf(",\"replay\":\"%s\"}\n", r->replay);
}

static void print_loaded(const tr_experiment_result *r, const loaded_run *lr) {
    const sim_opts *o = lr->o;
    if (o->json) {
        json_loaded(r, lr);
        return;
    }
    printf("troupe sim: seed %" PRIu64 ": %s\n", r->seed, tr_verdict_name(r->verdict));
    printf("  ops ok/fail/info %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", latency p50 %.3f ms, p99 "
           "%.3f ms\n",
           r->ops_ok, r->ops_fail, r->ops_info, r->latency_p50_ns / 1e6, r->latency_p99_ns / 1e6);
    print_loaded_availability(r, o->nodes);
    for (uint32_t i = 0; i < r->check_count; i++) {
        printf("  %-24s %s%s%s\n", r->checks[i].name, tr_verdict_name(r->checks[i].verdict),
               r->checks[i].why[0] ? ": " : "", r->checks[i].why);
        for (uint32_t k = 0; k < r->checks[i].measure_count; k++) {
            printf("    %s %g\n", r->checks[i].measures[k].name, r->checks[i].measures[k].value);
        }
    }
    print_loaded_counterexample(r, lr);
    print_fault_timeline(r->faults, r->fault_count, o->all_faults);
    printf("trace-hash: %016" PRIx64 "\nreplay: %s\n", r->trace_hash, r->replay);
}

/* A --load run's result: printed, and its history written with --history. */
static void loaded_result(const tr_experiment_result *r, void *ud) {
    loaded_run *lr = ud;
    for (uint32_t i = 0; i < r->check_count; i++) {
        for (uint32_t k = 0; k < r->checks[i].measure_count; k++) {
            measure_add(lr->measures, &r->checks[i].measures[k]);
        }
    }
    print_loaded(r, lr);
    char why[160];
    if (lr->o->report_dir != NULL &&
        report_run(lr->o, lr->cfg, r, (int)r->verdict, r->replay, why, sizeof why) != 0) {
        fprintf(stderr, "troupe sim: seed %" PRIu64 ": %s\n", r->seed, why);
        lr->write_errors++;
    }
    for (uint32_t k = 0; k < r->workload_count; k++) {
        history_cap_note(r->seed, &r->workloads[k]);
    }
    if (lr->o->history != NULL && write_history(lr->o, r->seed, "", r->history) != 0) {
        lr->write_errors++;
    }
}

/* --shrink's replay line: the built-in workload's as print_replay writes it, or the runner's
 * for a --load run, with the scenario file in place of the random nemesis. */
static void shrink_replay(const tr_experiment_config *cfg, const char *path, uint32_t kinds,
                          void *ud, char *buf, size_t cap) {
    const sim_opts *o = ud;
    char text[160];
    if (o->loaded != NULL || cfg->load_path_count > 0 || o->stock + o->cp + o->ap == 0) {
        tr_experiment_config c = *cfg;
        c.nemesis.kinds = kinds;
        c.nemesis.scenario_path = path;
        tr_experiment_replay_line(&c, buf, cap);
        return;
    }
    sim_opts r = *o;
    tr__nemesis_format(kinds, text, sizeof text);
    r.nemesis = kinds;
    r.nemesis_text = text;
    r.scenario_path = path;
    r.duration_ns = cfg->duration_ns;
    r.clients_per_node = cfg->clients_per_node;
    char line[TR__SWEEP_LINE_MAX];
    replay_line(&r, o->seed_lo, line);
    snprintf(buf, cap, "%s", line);
}

static int shrink_run_of(const tr_experiment_config *cfg, const sim_opts *o) {
    tr__shrink_opts so = {.out_path = o->shrink_out,
                          .max_runs = o->shrink_runs,
                          .replay = shrink_replay,
                          .replay_ud = (void *)o,
                          .clients = o->loaded == NULL && o->stock + o->cp + o->ap > 0};
    return tr__sim_shrink(cfg, &so);
}

static int run_loaded_config(tr_experiment_config *cfg, sim_opts *o) {
    char err[512];
    if (o->shrink) {
        return shrink_run_of(cfg, o);
    }
    if (o->check_determinism) {
        o->loaded = cfg;
        return check_determinism(o);
    }
    loaded_run lr = {.o = o, .cfg = cfg};
    if (o->sweep) {
        tr_sweep_summary s;
        if (tr_experiment_sweep(cfg, o->seed_lo, o->seed_hi, &s, loaded_result, &lr, err,
                                sizeof err) != 0) {
            return load_usage(err);
        }
        s.errors += lr.write_errors;
        report_none(o);
        printf("seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64 " runs, %" PRIu64 " held, %" PRIu64
               " violated, %" PRIu64 " unknown, %" PRIu64 " errors\n",
               o->seed_lo, o->seed_hi, s.runs, s.held, s.violated, s.unknown, s.errors);
        measures_print(lr.measures);
        if (s.violated + s.unknown > 0) {
            printf("first failing seed %" PRIu64 "; replay: %s\n", s.first_failing_seed,
                   s.first_replay);
        }
        return s.errors ? 2 : s.violated ? 1 : s.unknown ? 3 : 0;
    }
    tr_experiment_result *r;
    if (tr_experiment_run(cfg, &r, err, sizeof err) != 0) {
        return load_usage(err);
    }
    loaded_result(r, &lr);
    int rc = lr.write_errors > 0 ? 2 : (int)r->verdict;
    tr_experiment_result_destroy(r);
    return rc;
}

/* argv with --load: the services come from modules and run through the experiment runner. */
static int run_loaded(int argc, char **argv) {
    const char *paths[LOADS_MAX];
    const tr_service *svcs[LOADS_MAX + 1];
    uint32_t loads = 0;
    sim_opts o;
    const char *workload = NULL, *nemesis = NULL;
    char err[512], service_faults[256] = "";
    tr_experiment_config cfg;
    tr_experiment_config_init(&cfg);
    memset(&o, 0, sizeof o);
    o.trace.node = -1;
    o.seed_lo = o.seed_hi = 1;
    o.nodes = 5;
    o.duration_ns = cfg.duration_ns;
    o.rate = cfg.rate;
    o.keys = cfg.keys;
    o.knobs = cfg.sim;
    o.net = cfg.sim.net;
    o.op_timeout_ms = cfg.op_timeout_ms;
    for (int i = 1; i < argc; i++) {
        const char *v;
        const sim_option *opt = next_option(argc, argv, &i, true, &v);
        if (opt == NULL) {
            return 2;
        }
        const char *a = opt->name;
        if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (!strcmp(a, "--check-determinism")) {
            o.check_determinism = true;
        } else if (parse_flag(a, &o)) {
            continue;
        } else if (!strcmp(a, "--load")) {
            if (loads == LOADS_MAX) {
                return load_usage("--load at most 8 times");
            }
            if (tr_service_load(v, &svcs[loads], err, sizeof err) != 0) {
                return load_usage(err);
            }
            paths[loads++] = v;
        } else if (!strcmp(a, "--workload")) {
            workload = v;
        } else if (!strcmp(a, "--nemesis")) {
            nemesis = v;
        } else if (!strcmp(a, "--bug")) {
            cfg.bug = v;
        } else if (!strcmp(a, "--scenario")) {
            cfg.nemesis.scenario_path = v;
        } else if (parse_value(a, v, &o) != 0) {
            sim_error("%s '%s': expected %s", a, v, opt->expects);
            return 2;
        }
    }
    if (workload == NULL) {
        return load_usage("--load needs --workload NAME (a loaded service's name)");
    }
    if (shrink_refuses(&o) != 0) {
        return 2;
    }
    if (check_trace(&o, o.check_determinism) != 0 || check_report(&o) != 0) {
        return 2;
    }
    cfg.trace = o.tracing ? &o.trace : NULL;
    cfg.spans = o.spans.path ? &o.spans : NULL;
    if (nemesis != NULL && tr__nemesis_parse(nemesis, &cfg.nemesis.kinds, service_faults,
                                             sizeof service_faults, err, sizeof err) != 0) {
        nemesis_error(err);
        return 2;
    }
    if (nemesis != NULL && net_refuses(cfg.nemesis.kinds, o.net, nemesis) != 0) {
        return 2;
    }
    cfg.nemesis.service_faults = service_faults[0] ? service_faults : NULL;
    cfg.sim.seed = o.seed_lo;
    cfg.sim.nodes = o.nodes;
    cfg.sim.net = o.net;
    uint32_t count = loads;
    if (!strcmp(workload, "lin-kv") && loads == 0) { /* built in, run as a loaded one is */
        svcs[count++] = &tr__builtin_linkv;
    } else if (!strcmp(workload, "lock") && loads == 0) {
        svcs[count++] = &tr__builtin_lock;
    } else if (!strcmp(workload, "entity") && loads == 0) {
        svcs[count++] = &tr__builtin_entity;
    } else if (!strcmp(workload, "pubsub") && loads == 0) {
        svcs[count++] = &tr__builtin_pubsub;
    } else if (!strcmp(workload, "shop") && loads == 0) {
        svcs[count++] = &tr__builtin_shop;
    } else if (tr__builtin_crdt_find(workload) != NULL && loads == 0) {
        svcs[count++] = tr__builtin_crdt_find(workload);
    }
    cfg.services = svcs;
    cfg.service_count = count;
    cfg.workload = workload;
    cfg.duration_ns = o.duration_ns;
    cfg.rate = o.rate;
    cfg.keys = o.keys;
    cfg.load_paths = paths;
    cfg.load_path_count = loads;
    cfg.lin_budget = o.lin_budget;
    tr__randomize_copy(&o.knobs, &cfg.sim);
    cfg.op_timeout_ms = o.op_timeout_ms;
    cfg.randomize = o.randomize;
    return run_loaded_config(&cfg, &o);
}

static int run_cli(const sim_opts *o);

/* Takes "--jobs N" (1..1024) out of argv, into *jobs. 0, or 2 after a one-line error. */
static int take_jobs(int *argc, char **argv, uint32_t *jobs) {
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--jobs") != 0) {
            continue;
        }
        uint64_t n = 0;
        if (i + 1 >= *argc || parse_u64(argv[i + 1], &n) != 0 || n < 1 ||
            n > TR__SWEEP_SHARDS_MAX) {
            fprintf(stderr, "troupe sim: --jobs N: N from 1 to %u processes\n",
                    TR__SWEEP_SHARDS_MAX);
            return 2;
        }
        *jobs = (uint32_t)n;
        for (int j = i; j + 2 <= *argc; j++) {
            argv[j] = argv[j + 2];
        }
        *argc -= 2;
        return 0;
    }
    return 0;
}

int tr_cli_sim(int argc, char **argv) {
    sim_opts o;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--merge")) {
            return tr__sim_merge(argc, argv);
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--load") ||
            (!strcmp(argv[i], "--workload") && i + 1 < argc &&
             (!strcmp(argv[i + 1], "lin-kv") || !strcmp(argv[i + 1], "lock") ||
              !strcmp(argv[i + 1], "entity") || !strcmp(argv[i + 1], "pubsub") ||
              !strcmp(argv[i + 1], "shop") || tr__builtin_crdt_find(argv[i + 1]) != NULL))) {
            return run_loaded(argc, argv);
        }
    }
    uint32_t jobs = 1;
    if (take_jobs(&argc, argv, &jobs) != 0) {
        return 2;
    }
    if (parse_args(argc, argv, &o) != 0) {
        return 2; /* the one-line error is printed */
    }
    if (jobs > 1) {
        if (!o.sweep || o.shard_given || o.check_determinism) {
            fprintf(stderr, "troupe sim: --jobs N runs a sweep's shards at once: it needs "
                            "--seeds A..B and not --shard or --check-determinism\n");
            return 2;
        }
        return tr__sim_jobs(argc, argv, jobs, o.json);
    }
    if (o.scenario_path != NULL && load_scenario(&o) != 0) {
        return 2; /* the error names the file and line; usage would bury it */
    }
    int rc = run_cli(&o);
    tr__scenario_free(&o.scen);
    return rc;
}

static int run_cli(const sim_opts *o) {
    if (o->check_determinism) {
        return check_determinism(o);
    }
    if (o->shrink) {
        const tr_service *svcs[3];
        const char *names[3];
        tr_experiment_config cfg;
        runner_config(o, o->seed_lo, svcs, names, runner_services(o, svcs, names), &cfg);
        return shrink_run_of(&cfg, o);
    }
    if (o->sweep) {
        return sweep(o);
    }
    run_result r;
    sim_opts drawn;
    o = seed_opts(o, o->seed_lo, &drawn);
    int rc = run_seed(o, o->seed_lo, &r);
    if (rc != 2) {
        if (o->json) {
            print_json(o, &r);
        } else {
            print_human(o, &r);
        }
    }
    return rc;
}

/* ---- --report DIR: the run's page (sim/report.h) ---------------------------------------- */

static bool report_written; /* a sweep writes the page of its first failing seed only */

/* --report writes one run's page: not with --check-determinism (two runs of one seed). */
static int check_report(const sim_opts *o) {
    if (o->report_dir != NULL && o->check_determinism) {
        return sim_error("--report writes one run's page; it cannot go with --check-determinism");
    }
    return 0;
}

/* The page of res (exit status rc) into --report's directory: every single run, and in a
 * sweep the first seed that failed (violated or unknown). 0, or 2 with why (one line). */
static int report_run(const sim_opts *o, const tr_experiment_config *cfg,
                      const tr_experiment_result *res, int rc, const char *replay, char *why,
                      size_t why_cap) {
    if (report_written || (o->sweep && rc != 1 && rc != 3)) {
        return 0;
    }
    const tr_lin_model *shown[TR_EXPERIMENT_WORKLOADS_MAX] = {NULL};
    for (uint32_t k = 0; k < res->workload_count && k < TR_EXPERIMENT_WORKLOADS_MAX; k++) {
        /* both registers: AP's linearizability is shown next to CP's (show_ap_linearizability) */
        bool ap = o->loaded == NULL && o->cp && o->ap && !strcmp(res->workloads[k].name, "ap");
        shown[k] = ap ? &tr_lin_model_register : NULL;
    }
    tr__report_input in = {.result = res,
                           .services = cfg->services,
                           .service_count = cfg->service_count,
                           .nodes = cfg->randomize ? 0 : cfg->sim.nodes, /* drawn in the run */
                           .lin_budget = o->lin_budget,
                           .replay = replay,
                           .shown_models = shown};
    if (tr__report_write_dir(o->report_dir, &in, why, why_cap) != 0) {
        return 2;
    }
    report_written = true;
    fprintf(stderr, "troupe sim: seed %" PRIu64 ": report written to %s/index.html\n", res->seed,
            o->report_dir);
    return 0;
}

/* A sweep without a failing seed writes no page: said on stderr. */
static void report_none(const sim_opts *o) {
    if (o->report_dir != NULL && !report_written) {
        fprintf(stderr,
                "troupe sim: --report: no seed of %" PRIu64 "..%" PRIu64
                " failed, so no page was written (--report DIR writes a sweep's first failing "
                "seed; run one seed with --seed N for its page)\n",
                o->seed_lo, o->seed_hi);
    }
}
