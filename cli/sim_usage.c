/* sim_usage.c — `troupe sim --help`: the options, their defaults and limits, the report's
 * fields and the exit status. */
#include "cli/sim_cli.h"

/* The command lines. */
static void usage_synopsis(FILE *f) {
    fputs("usage: troupe sim [--seed N | --seeds A..B [--shard I/N | --jobs N]] [--nodes N]\n"
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
          "\n",
          f);
}

/* The run, its defaults and the nemeses. */
static void usage_nemeses(FILE *f) {
    fputs("Runs N nodes, each with a CP register (ABD quorums) and/or an AP register (LWW +\n"
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
          "(0 is n1, 1 is n2, ...; null: no node), every other output names nodes n1..nN.\n",
          f);
}

/* Scheduled faults, --shrink, the planted bugs and the stock workload. */
static void usage_scenario(FILE *f) {
    fputs("--scenario FILE schedules faults at fixed virtual times, one per line\n"
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
          "skipped), unsaved-charge (a reservation answered but never kept nor written).\n",
          f);
}

/* --load and the built-in services run as loaded ones. */
static void usage_loaded(FILE *f) {
    fputs("\n"
          "troupe sim --load PATH.so [--load ...] --workload NAME [--seed N | --seeds A..B]\n"
          "           [--bug B] [--nemesis kinds,service-fault-names] [--nodes N]\n"
          "           [--duration D] [--rate R] [--keys K] [--scenario FILE] [--json]\n"
          "           [--check-determinism] [--history FILE] [--lin-budget N] [--jobs N]\n"
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
          "an OR-set and Maelstrom's broadcast, available in partitions: docs/crdt.md).\n",
          f);
}

/* The limits and the knobs of the network and the clients. */
static void usage_limits(FILE *f) {
    fputs("\n"
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
          "the traces event by event; a range ends with one summary line.\n",
          f);
}

/* The network, the fault timeline, traces, spans and the page. */
static void usage_reports(FILE *f) {
    fputs("--net protocol (default): a real node's cluster protocol (handshake, frames,\n"
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
          "throughput and latency; with --seeds, the first failing seed's (docs/report.md).\n",
          f);
}

/* --json, sweeps, shards and the exit status. */
static void usage_json(FILE *f) {
    fputs("--json prints one object per seed: seed, verdict (\"held\", \"violated\" or\n"
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
          "--jobs N runs a sweep as N processes at once on this machine and prints the\n"
          "one summary of the whole sweep: for cp, ap and stock as N shards (as --merge);\n"
          "for --load and the workloads run as loaded ones, each process takes a range\n"
          "of consecutive seeds and the output is the one-process sweep's, in seed order\n"
          "(not with --report, --shrink or --check-determinism).\n"
          "--shard I/N (built-in workloads) runs only the seeds s of --seeds A..B with\n"
          "(s - A) mod N = I, shards counted from 0, 0 <= I < N <= 1024.\n"
          "troupe sim --merge [--json] FILE... reads the --json outputs of all N shards\n"
          "of one sweep and prints the unsharded sweep's summary and exit status (the\n"
          "smallest failing seed across shards, wall times summed); 2 and one line when\n"
          "the files are not every shard of one complete sweep.\n"
          "Exit: 0 every stated guarantee held, 1 one was violated (or runs diverged),\n"
          "2 usage or tool error, 3 a check answered unknown (and none was violated).\n",
          f);
}

void tr__sim_usage(FILE *f) {
    usage_synopsis(f);
    usage_nemeses(f);
    usage_scenario(f);
    usage_loaded(f);
    usage_limits(f);
    usage_reports(f);
    usage_json(f);
}
