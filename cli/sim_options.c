/* sim_options.c — `troupe sim`'s options: one table for the built-in workloads and --load,
 * each flag's value into tr__sim_opts with the limit it breaks named in a one-line error,
 * the combinations that cannot apply refused, and --scenario's file read before any run. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "actors/registers.h"
#include "actors/stock.h"
#include "cli/sim_cli.h"
#include "cli/sim_shard.h"
#include "cli/sim_shrink.h"
#include "harness/builtin.h"
#include "harness/nemesis.h"
#include "harness/randomize.h"
#include "harness/workload.h" /* the limits of --keys and --clients */
#include "runtime/assert.h"

#define SEC ((uint64_t)1000000000)

/* One error style for every path: the limit that was broken, in one line, then "see
 * --help". Always TR_EINVAL. */
int tr__sim_error(const char *fmt, ...) {
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

/* The options of `troupe sim`, for both paths. */
static const tr__sim_option sim_options[] = {
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

static const tr__sim_option *find_option(const char *name) {
    for (size_t i = 0; i < sizeof sim_options / sizeof sim_options[0]; i++) {
        if (!strcmp(name, sim_options[i].name)) {
            return &sim_options[i];
        }
    }
    return NULL;
}

/* The next option of argv at *i: NULL after an error (printed); *v its value or NULL. */
const tr__sim_option *tr__sim_next_option(int argc, char **argv, int *i, bool loaded,
                                          const char **v) {
    const char *a = argv[*i];
    const tr__sim_option *opt = find_option(a);
    *v = NULL;
    if (opt == NULL) {
        tr__sim_error("%s is not an option of troupe sim", a);
        return NULL;
    }
    if (!(loaded ? opt->loaded : opt->builtin)) {
        tr__sim_error("%s %s", a,
                      loaded ? "is not an option of troupe sim --load" : "needs --load");
        return NULL;
    }
    if (opt->value) {
        if (*i + 1 >= argc) {
            tr__sim_error("%s needs a value: %s", a, opt->expects);
            return NULL;
        }
        *v = argv[++*i];
    }
    return opt;
}

/* A --nemesis error, with the valid kinds when a name was not one. */
int tr__sim_nemesis_error(const char *err) {
    if (strncmp(err, "unknown nemesis", 15) == 0) {
        return tr__sim_error("%s (valid: %s)", err, NEMESIS_KINDS);
    }
    return tr__sim_error("%s", err);
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

/* "A..B": A into lo[cap] and B returned; NULL when there is no ".." or A does not fit. */
static const char *split_range(const char *s, char *lo, size_t cap) {
    const char *dots = s ? strstr(s, "..") : NULL;
    if (dots == NULL || (size_t)(dots - s) >= cap) {
        return NULL;
    }
    memcpy(lo, s, (size_t)(dots - s));
    lo[dots - s] = '\0';
    return dots + 2;
}

static int parse_seeds(const char *s, tr__sim_opts *o) {
    char lo[64];
    const char *hi = split_range(s, lo, sizeof lo);
    if (hi == NULL || parse_u64(lo, &o->seed_lo) != 0 || parse_u64(hi, &o->seed_hi) != 0 ||
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

static int parse_bug(const char *v, tr__sim_opts *o) {
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
    char from[64];
    const char *to = split_range(v, from, sizeof from);
    if (to == NULL) {
        return TR_EINVAL;
    }
    bool zero = !strcmp(from, "0");
    if ((!zero && parse_duration(from, &t->from_ns) != 0) || parse_duration(to, &t->to_ns) != 0 ||
        t->to_ns < t->from_ns) {
        return TR_EINVAL;
    }
    t->from_ns = zero ? 0 : t->from_ns;
    return 0;
}

/* --trace and its filters into o->trace (a node is checked against --nodes later). */
static int parse_trace(const char *a, const char *v, tr__sim_opts *o) {
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
static int parse_spans(const char *a, const char *v, tr__sim_opts *o) {
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
static int check_spans(const tr__sim_opts *o, bool check_determinism) {
    if (o->spans.path == NULL) {
        return o->spans_sample_given ? tr__sim_error("--trace-sample P needs --spans FILE") : 0;
    }
    if (o->sweep || check_determinism) {
        return tr__sim_error("--spans writes one run's spans: not with --seeds or "
                             "--check-determinism");
    }
    return 0;
}

/* The trace's options that cannot apply, or a file that cannot be written: 0, or an error
 * after printing why. */
int tr__sim_check_trace(const tr__sim_opts *o, bool check_determinism) {
    if (check_spans(o, check_determinism) != 0) {
        return TR_EINVAL;
    }
    bool filters = o->trace.max_bytes || o->trace.node >= 0 || o->trace.actor || o->trace.to_ns;
    if (!o->tracing) {
        return filters
                   ? tr__sim_error("--trace-max, --trace-node, --trace-actor and --trace-window "
                                   "need --trace FILE")
                   : 0;
    }
    if (o->sweep || check_determinism) {
        return tr__sim_error("--trace writes one run's events: not with --seeds or "
                             "--check-determinism");
    }
    if (!o->randomize && o->trace.node >= (int32_t)o->nodes) {
        return tr__sim_error("--trace-node n%d: the run has nodes n1..n%u", o->trace.node + 1,
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
int tr__sim_parse_value(const char *a, const char *v, tr__sim_opts *o) {
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
bool tr__sim_parse_flag(const char *a, tr__sim_opts *o) {
    if (!strcmp(a, "--all-faults") || !strcmp(a, "--shrink")) {
        o->all_faults |= !strcmp(a, "--all-faults");
        o->shrink |= !strcmp(a, "--shrink");
        return true;
    }
    o->randomize |= !strcmp(a, "--randomize");
    o->knobs.buggify = !strcmp(a, "--buggify") || (o->knobs.buggify && strcmp(a, "--no-buggify"));
    return !strcmp(a, "--randomize") || !strcmp(a, "--buggify") || !strcmp(a, "--no-buggify");
}

const char *tr__sim_workload_name(const tr__sim_opts *o) {
    return o->stock ? "stock" : o->cp && o->ap ? "both" : o->cp ? "cp" : "ap";
}

/* This seed's options: o, or with --randomize a copy in *buf with the draw in place. */
const tr__sim_opts *tr__sim_seed_opts(const tr__sim_opts *o, uint64_t seed, tr__sim_opts *buf) {
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
int tr__sim_net_refuses(uint32_t kinds, tr_sim_net net, const char *text) {
    if ((kinds & (TR_NEMESIS_DUP | TR_NEMESIS_REORDER)) && net != TR_SIM_NET_ORACLE) {
        return tr__sim_error("--nemesis %s: dup and reorder are faults of the oracle's message "
                             "network (TCP hides both): add --net oracle",
                             text);
    }
    return 0;
}

/* A fault or planted bug that cannot apply to this run is an error, not a silent no-op. */
static int check_applies(const tr__sim_opts *o) {
    const char *nem = o->nemesis_given ? "--nemesis" : "the default nemesis";
    if (tr__sim_net_refuses(o->nemesis, o->net, o->nemesis_text) != 0) {
        return TR_EINVAL;
    }
    if ((o->nemesis & (TR_NEMESIS_PARTITION | TR_NEMESIS_RING | TR_NEMESIS_BRIDGE)) &&
        o->nodes < 3) {
        return tr__sim_error("%s %s: a partition needs at least 3 nodes (--nodes %u)", nem,
                             o->nemesis_text, o->nodes);
    }
    if ((o->nemesis & TR_NEMESIS_CRASH) && o->nodes < 3) {
        return tr__sim_error("%s %s: crash keeps a majority up, it needs at least 3 nodes "
                             "(--nodes %u)",
                             nem, o->nemesis_text, o->nodes);
    }
    if ((o->nemesis & (TR_NEMESIS_ISOLATE | TR_NEMESIS_ONEWAY)) && o->nodes < 2) {
        return tr__sim_error("--nemesis %s: cutting links needs at least 2 nodes", o->nemesis_text);
    }
    uint32_t cp_bugs = TR_REG_BUG_STALE_READ | TR_REG_BUG_NO_WRITE_BACK;
    uint32_t stock_bugs =
        TR_STOCK_BUG_OVERSELL | TR_STOCK_BUG_DOUBLE_CHARGE | TR_STOCK_BUG_UNSAVED_CHARGE;
    bool applies = (o->bugs & stock_bugs)                   ? o->stock
                   : (o->bugs & cp_bugs)                    ? o->cp
                   : (o->bugs & TR_REG_BUG_NO_ANTI_ENTROPY) ? o->ap
                                                            : true;
    if (!applies) {
        return tr__sim_error("--bug %s needs %s: it is planted in the %s, which --workload %s does "
                             "not run",
                             o->bug_text,
                             (o->bugs & stock_bugs) ? "--workload stock"
                             : (o->bugs & cp_bugs)  ? "--workload cp or both"
                                                    : "--workload ap or both",
                             (o->bugs & stock_bugs) ? "stock service"
                             : (o->bugs & cp_bugs)  ? "CP register"
                                                    : "AP register",
                             tr__sim_workload_name(o));
    }
    return 0;
}

static void opts_default(tr__sim_opts *o) {
    *o = (tr__sim_opts){.seed_lo = 1,
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
                        .lin_budget = TR__SIM_LIN_BUDGET_DEFAULT,
                        .op_timeout_ms = 1000,
                        .trace = {.node = -1}};
    tr_sim_config_init(&o->knobs);
    o->net = o->knobs.net; /* the protocol network, unless --net oracle */
}

/* --shrink runs one seed many times and writes a scenario file: what it cannot combine with. */
int tr__sim_shrink_refuses(const tr__sim_opts *o) {
    if (!o->shrink) {
        return (o->shrink_out != NULL || o->shrink_runs != 0)
                   ? tr__sim_error("--shrink-out and --shrink-runs need --shrink")
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
    return with != NULL ? tr__sim_error("--shrink cannot run with %s", with) : 0;
}

int tr__sim_parse_args(int argc, char **argv, tr__sim_opts *o) {
    char err[256];
    opts_default(o);
    for (int i = 1; i < argc; i++) {
        const char *v;
        const tr__sim_option *opt = tr__sim_next_option(argc, argv, &i, false, &v);
        if (opt == NULL) {
            return TR_EINVAL;
        }
        if (!strcmp(opt->name, "--json")) {
            o->json = true;
        } else if (tr__sim_parse_flag(opt->name, o)) {
            continue;
        } else if (!strcmp(opt->name, "--check-determinism")) {
            o->check_determinism = true;
        } else if (!strcmp(opt->name, "--nemesis")) {
            o->nemesis_given = true;
            o->nemesis_text = v;
            if (tr__nemesis_parse(v, &o->nemesis, NULL, 0, err, sizeof err) != 0) {
                return tr__sim_nemesis_error(err);
            }
        } else if (tr__sim_parse_value(opt->name, v, o) != 0) {
            return tr__sim_error("%s '%s': expected %s", opt->name, v, opt->expects);
        }
    }
    if (tr__sim_check_trace(o, o->check_determinism) != 0 || tr__sim_check_report(o) != 0) {
        return TR_EINVAL;
    }
    if (o->shard_given && (!o->sweep || o->check_determinism)) {
        return tr__sim_error("--shard I/N splits a sweep: it needs --seeds A..B and not "
                             "--check-determinism");
    }
    if (o->nodes * o->clients_per_node > TR_WORKLOAD_CLIENTS_MAX) {
        return tr__sim_error("--nodes times --clients at most %d", TR_WORKLOAD_CLIENTS_MAX);
    }
    if (o->randomize && o->scenario_path != NULL) {
        return tr__sim_error("--randomize draws the node count: it cannot run --scenario, which "
                             "names nodes");
    }
    if (tr__sim_shrink_refuses(o) != 0) {
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
int tr__sim_load_scenario(tr__sim_opts *o) {
    char err[512];
    if (tr__nemesis_scenario_load(o->scenario_path, o->nodes, o->duration_ns, &o->scen, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "troupe sim: %s\n", err);
        return TR_EINVAL;
    }
    return 0;
}

/* Takes "--jobs N" (1..1024) out of argv, into *jobs. 0, or 2 after a one-line error. */
int tr__sim_take_jobs(int *argc, char **argv, uint32_t *jobs) {
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
