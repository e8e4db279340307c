/* cmd_check.c — `troupe check FILE`: checks a recorded history (troupe's JSON or EDN, or
 * Jepsen's and Knossos's EDN) for linearizability against a model (a map of independent
 * registers, with or without compare-and-set, or Knossos's mutex), or, for a history of the
 * stock workload (reserve/restock ops), the stock invariants (harness/check_stock.h), and
 * reports latency and availability. Exit codes: 0 valid, 1 not, 2 usage or tool error,
 * 3 unknown (a search limit reached). See docs/checkers.md. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "harness/check_stock.h"
#include "sim/checkers.h"
#include "sim/counterexample.h"
#include "sim/history.h"
#include "sim/history_load.h"
#include "sim/history_value.h"
#include "sim/lincheck.h"
#include "troupe.h"

#define CHECK_DEFAULT_MAX_OPS (10u * 1000u * 1000u)
#define CHECK_MEMORY_MIB_MAX (1024u * 1024u) /* 1 TiB: the cap is the user's call */

enum {
    EXIT_VALID = 0,
    EXIT_INVALID = 1,
    EXIT_USAGE = 2,
    EXIT_UNKNOWN = 3
};

/* The models --model names; MODEL_AUTO picks one from the history's operations. */
typedef enum check_model {
    MODEL_AUTO = 0,
    MODEL_REGISTER,
    MODEL_CAS_REGISTER,
    MODEL_MUTEX,
    MODEL_STOCK,
} check_model;

static const char *const model_names[] = {"auto", "register", "cas-register", "mutex", "stock"};
#define MODEL_LIST "register|cas-register|mutex|stock"

typedef struct check_args {
    const char *path;
    bool json;
    uint64_t budget;
    uint64_t memory_mib;
    uint64_t max_ops;
    int64_t stock_initial; /* stock histories: every item's level before the run */
    check_model model;
    tr__history_shape shape;
    bool has_initial; /* --initial: the registers' value before the history */
    int64_t initial;
    bool nil_read_unknown; /* --nil-reads unknown: Knossos's meaning of an ok read of nil */
} check_args;

typedef struct check_report {
    const tr_history *h;
    tr__history_load_notes notes;
    check_model model; /* the one checked against (never AUTO) */
    bool stock;        /* reserve/restock ops: the stock invariants, not linearizability */
    size_t items;      /* stock: keys 0..items-1 */
    tr_stock_check_result st;
    char why[600];
    tr__lin_result lin;
    tr_latency lat;
    tr_avail_result avail;
} check_report;

static void usage(FILE *out) {
    fprintf(out,
            "usage: troupe check FILE [--model auto|" MODEL_LIST "]\n"
            "                    [--keyed | --single] [--initial V]\n"
            "                    [--nil-reads unset|unknown] [--json] [--budget N]\n"
            "                    [--memory MIB] [--max-ops N] [--stock-initial N]\n"
            "\n"
            "Checks a recorded history for linearizability against a model, searched per key\n"
            "(Wing-Gong/Lowe), and reports the latency (p50/p99/max) of ok ops and the\n"
            "fraction of completed ops that were ok. Models:\n"
            "  register      read and write (values of any kind, compared whole; a read of\n"
            "                nil: the key was never written)\n"
            "  cas-register  read, write and cas [from to] (integers)\n"
            "  mutex         acquire and release (Knossos's mutex; values ignored)\n"
            "  stock         reserve/restock/read (troupe sim --workload stock --history):\n"
            "                stock never negative, and every ok read (the final reads\n"
            "                included) within what the acknowledged and possible\n"
            "                reservations and restocks allow (no double charge); a\n"
            "                history records no activations, so a run troupe sim called\n"
            "                unknown (overlapping activations after a clock fault) is\n"
            "                violated here\n"
            "  auto          (default) stock if the history reserves or restocks, mutex if\n"
            "                it acquires and releases, else cas-register\n"
            "No set, counter, queue or transaction model: such histories are refused.\n"
            "\n"
            "FILE  troupe's JSON history (an array of {\"index\", \"time\", \"type\",\n"
            "      \"process\", \"f\", \"value\": [key, v], \"node\", \"error\"} objects), or an\n"
            "      EDN history: troupe's, or Jepsen's and Knossos's (a vector or list of op\n"
            "      maps, or maps one per line as in history.edn; fields in any order; ops\n"
            "      whose :process is not an integer, such as :nemesis, are counted and not\n"
            "      checked; values nil, integers, strings, keywords, vectors); see\n"
            "      docs/checkers.md.\n"
            "\n"
            "  --keyed       EDN values are [key v] (Jepsen's independent histories)\n"
            "  --single      EDN values are one register's v (key 0); without either, the\n"
            "                first op's value decides\n"
            "  --initial V   register models: every key holds the integer V before the\n"
            "                history (Knossos's (cas-register 0)); default: unset (nil)\n"
            "  --nil-reads unset|unknown\n"
            "                register models: an ok read of nil says the key was never\n"
            "                written (unset, the default), or its value is unknown and it\n"
            "                constrains nothing (unknown: Knossos's meaning)\n"
            "  --json        print the report as one JSON object\n"
            "  --budget N    at most N memoised configurations per key (default %u)\n"
            "  --memory MIB  at most MIB MiB of memo per key (default %u); past either\n"
            "                limit the answer is 'unknown', naming the limit reached\n"
            "  --max-ops N   refuse histories longer than N ops (default %u)\n"
            "  --stock-initial N\n"
            "                stock histories: every item's level before the run (default %d,\n"
            "                what troupe sim starts with)\n"
            "\n"
            "exit status: 0 linearizable (stock: invariants held), 1 not, 2 usage or tool\n"
            "             error (unreadable or malformed file), 3 unknown (--budget or\n"
            "             --memory reached)\n",
            TR_LIN_DEFAULT_MAX_CONFIGS, TR_LIN_DEFAULT_MAX_MEMORY >> 20, CHECK_DEFAULT_MAX_OPS,
            TR_STOCK_INITIAL_DEFAULT);
}

static int parse_model(const char *s, check_model *out) {
    for (size_t i = 0; s && i < sizeof model_names / sizeof *model_names; i++) {
        if (!strcmp(s, model_names[i])) {
            *out = (check_model)i;
            return 0;
        }
    }
    fprintf(stderr, "troupe check: --model must be auto|" MODEL_LIST "%s%s%s\n", s ? " (not '" : "",
            s ? s : "", s ? "')" : "");
    return -1;
}

static int parse_count(const char *flag, const char *s, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = s && *s != '-' ? strtoull(s, &end, 10) : 0;
    if (!s || *s == '-' || errno || end == s || *end || v == 0 || v > max) {
        fprintf(stderr, "troupe check: %s needs a whole number from 1 to %" PRIu64 "\n", flag, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* The options of the register models and of the reading of values: --initial V,
 * --nil-reads unset|unknown, --keyed, --single. -1 on a usage error (reported). */
static int parse_register_option(const char *arg, const char *v, check_args *a) {
    if (!strcmp(arg, "--initial")) {
        char *end = NULL;
        errno = 0;
        a->initial = v ? strtoll(v, &end, 10) : 0;
        a->has_initial = v && end != v && !*end && !errno;
        if (!a->has_initial) {
            fprintf(stderr, "troupe check: --initial needs an integer (64-bit)\n");
            return -1;
        }
    } else if (!strcmp(arg, "--nil-reads")) {
        if (!v || (strcmp(v, "unset") && strcmp(v, "unknown"))) {
            fprintf(stderr, "troupe check: --nil-reads must be unset or unknown\n");
            return -1;
        }
        a->nil_read_unknown = !strcmp(v, "unknown");
    } else {
        tr__history_shape shape = arg[2] == 'k' ? TR_SHAPE_KEYED : TR_SHAPE_SINGLE;
        if (a->shape != TR_SHAPE_AUTO && a->shape != shape) {
            fprintf(stderr, "troupe check: --keyed and --single exclude each other\n");
            return -1;
        }
        a->shape = shape;
    }
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, check_args *a) {
    *a = (check_args){.budget = TR_LIN_DEFAULT_MAX_CONFIGS,
                      .memory_mib = TR_LIN_DEFAULT_MAX_MEMORY >> 20,
                      .max_ops = CHECK_DEFAULT_MAX_OPS,
                      .stock_initial = TR_STOCK_INITIAL_DEFAULT};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(arg, "--json")) {
            a->json = true;
        } else if (!strcmp(arg, "--budget")) {
            if (parse_count(arg, i + 1 < argc ? argv[++i] : NULL, UINT32_MAX - 1, &a->budget)) {
                return -1;
            }
        } else if (!strcmp(arg, "--memory")) {
            if (parse_count(arg, i + 1 < argc ? argv[++i] : NULL, CHECK_MEMORY_MIB_MAX,
                            &a->memory_mib)) {
                return -1;
            }
        } else if (!strcmp(arg, "--model")) {
            if (parse_model(i + 1 < argc ? argv[++i] : NULL, &a->model)) {
                return -1;
            }
        } else if (!strcmp(arg, "--initial") || !strcmp(arg, "--nil-reads") ||
                   !strcmp(arg, "--keyed") || !strcmp(arg, "--single")) {
            bool valued = arg[2] == 'i' || arg[2] == 'n';
            if (parse_register_option(arg, valued && i + 1 < argc ? argv[++i] : NULL, a)) {
                return -1;
            }
        } else if (!strcmp(arg, "--max-ops")) {
            if (parse_count(arg, i + 1 < argc ? argv[++i] : NULL, TR_HISTORY_MAX_OPS_LIMIT,
                            &a->max_ops)) {
                return -1;
            }
        } else if (!strcmp(arg, "--stock-initial")) {
            uint64_t v;
            const char *s = i + 1 < argc ? argv[++i] : NULL;
            if (s != NULL && !strcmp(s, "0")) {
                a->stock_initial = 0;
            } else if (parse_count(arg, s, (uint64_t)1 << 40, &v)) {
                return -1;
            } else {
                a->stock_initial = (int64_t)v;
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "troupe check: unknown option '%s'\n", arg);
            return -1;
        } else if (a->path) {
            fprintf(stderr, "troupe check: one history file at a time ('%s', '%s')\n", a->path,
                    arg);
            return -1;
        } else {
            a->path = arg;
        }
    }
    if (!a->path) {
        fprintf(stderr, "troupe check: no history file given\n");
        return -1;
    }
    return 0;
}

/* ---- human report ------------------------------------------------------------------- */

static void print_value(FILE *out, const tr_op *op) {
    if (op->any) {
        tr__value_write_edn(out, op->any);
    } else if (!op->has_value) {
        fputs("nil", out);
    } else if (op->pair) {
        fprintf(out, "[%" PRId64 " %" PRId64 "]", op->value, op->value_to);
    } else {
        fprintf(out, "%" PRId64, op->value);
    }
}

static void print_ms(FILE *out, const char *label, int64_t ns) {
    fprintf(out, " %s %.3f ms", label, (double)ns / 1e6);
}

static void print_tail(FILE *out, const check_report *r);
static void print_notes(FILE *out, const check_report *r);

static void print_stock(FILE *out, const check_args *a, const check_report *r) {
    const tr_stock_check_result *c = &r->st;
    fprintf(out,
            "history: %s: %zu ops, stock workload: %zu items from level %" PRId64 ", %" PRIu64
            " reservation ids, %" PRIu64 " restock ids (%" PRIu64 " retried)\n",
            a->path, tr__history_count(r->h), r->items, a->stock_initial, c->reserve_ids,
            c->restock_ids, c->retried_ids);
    print_notes(out, r);
    fprintf(out, "stock never negative: %s\n", c->never_negative ? "held" : "VIOLATED");
    fprintf(out,
            "conservation: %s (every ok read, the final reads included, within the bounds "
            "of its time)\n",
            c->conserved ? "held" : "VIOLATED");
    if (!c->ok) {
        fprintf(out, "  %s\n", r->why);
    }
    print_tail(out, r);
}

/* How the file was read, when it was not plainly troupe's own: one line, or none. */
static void print_notes(FILE *out, const check_report *r) {
    const tr__history_load_notes *n = &r->notes;
    if (!n->single && !n->other_ops && !n->times_raised && !n->read_values_dropped) {
        return;
    }
    fprintf(out, "read as:%s", n->single ? " one register (values without keys)" : "");
    const char *sep = n->single ? ";" : "";
    if (n->other_ops) {
        fprintf(out,
                "%s %" PRIu64 " ops of non-client processes (first %s) recorded, not checked:", sep,
                n->other_ops, n->other_process);
        uint64_t listed = 0;
        for (size_t i = 0; i < n->other_f_count; i++) {
            fprintf(out, "%s %s %" PRIu64, i ? "," : "", n->other_f[i].name, n->other_f[i].count);
            listed += n->other_f[i].count;
        }
        fputs(listed < n->other_ops ? ", ..." : "", out);
        sep = ";";
    }
    if (n->times_raised) {
        fprintf(out, "%s %" PRIu64 " times earlier than the op before raised to it", sep,
                n->times_raised);
        sep = ";";
    }
    if (n->read_values_dropped) {
        fprintf(out, "%s %" PRIu64 " values of read invokes or failed/info reads ignored", sep,
                n->read_values_dropped);
    }
    fputc('\n', out);
}

static void print_unknown(FILE *out, const check_args *a, const check_report *r) {
    if (r->lin.unknown_limit == TR_LIN_LIMIT_MEMORY) {
        fprintf(out,
                "  memory cap of %" PRIu64 " MiB reached on key %" PRId64 " (%zu key(s) unknown, "
                "budget %" PRIu64 " configurations not reached); raise --memory (and --budget)\n",
                a->memory_mib, r->lin.unknown_key, r->lin.keys_unknown, a->budget);
    } else {
        fprintf(out,
                "  budget of %" PRIu64 " configurations exceeded on %zu key(s), first key %" PRId64
                " (memory cap %" PRIu64 " MiB); raise --budget (and --memory)\n",
                a->budget, r->lin.keys_unknown, r->lin.unknown_key, a->memory_mib);
    }
}

static void print_human(FILE *out, const check_args *a, const check_report *r) {
    if (r->stock) {
        print_stock(out, a, r);
        return;
    }
    fprintf(out, "history: %s: %zu ops, %zu calls checked, %zu keys, model %s\n", a->path,
            tr__history_count(r->h), r->lin.calls, r->lin.keys, model_names[r->model]);
    print_notes(out, r);
    fprintf(out, "linearizable: %s (%" PRIu64 " configurations explored)\n",
            r->lin.verdict == TR_LIN_VALID     ? "yes"
            : r->lin.verdict == TR_LIN_INVALID ? "NO"
                                               : "unknown",
            r->lin.configs);
    if (r->lin.verdict == TR_LIN_INVALID && r->lin.has_bad_op) {
        const tr_op *op = &r->lin.bad_op;
        fprintf(out,
                "  first op that could not be linearized: index %" PRIu64 ", key %" PRId64
                ", process %" PRId64 ", %s %s ",
                op->index, op->key, op->process, tr__history_op_type_name(op->type),
                tr__history_f_name(r->h, op->f));
        print_value(out, op);
        fputc('\n', out);
    }
    if (r->lin.verdict == TR_LIN_UNKNOWN) {
        print_unknown(out, a, r);
    }
    print_tail(out, r);
}

/* Latency and availability: the same for both kinds of history. */
static void print_tail(FILE *out, const check_report *r) {
    fprintf(out, "latency (ok ops, n=%" PRIu64 "):", r->lat.count);
    print_ms(out, "p50", r->lat.p50_ns);
    print_ms(out, "p99", r->lat.p99_ns);
    print_ms(out, "max", r->lat.max_ns);
    const tr_avail_counts *c = &r->avail.all;
    fprintf(out,
            "\navailability: %" PRIu64 " ok, %" PRIu64 " fail, %" PRIu64 " info, %" PRIu64
            " pending",
            c->ok, c->fail, c->info, c->pending);
    if (c->fraction >= 0) {
        fprintf(out, " (%.1f%% of completed ops ok)", 100.0 * c->fraction);
    }
    fputc('\n', out);
}

/* ---- JSON report (one object, through jansson) --------------------------------------- */

static json_t *json_bad_op(const tr_history *h, const tr_op *op) {
    json_t *value = op->any          ? tr__history_value_json(op->any)
                    : !op->has_value ? json_null()
                    : op->pair ? json_pack("[II]", (json_int_t)op->value, (json_int_t)op->value_to)
                               : json_integer(op->value);
    return json_pack("{sIsIsssIsssIso}", "index", (json_int_t)op->index, "time",
                     (json_int_t)op->time_ns, "type", tr__history_op_type_name(op->type), "process",
                     (json_int_t)op->process, "f", tr__history_f_name(h, op->f), "key",
                     (json_int_t)op->key, "value", value);
}

/* How the file was read (the notes of sim/history_load.h). */
static json_t *json_notes(const check_report *r) {
    const tr__history_load_notes *n = &r->notes;
    json_t *fs = json_object();
    for (size_t i = 0; fs && i < n->other_f_count; i++) {
        if (json_object_set_new(fs, n->other_f[i].name,
                                json_integer((json_int_t)n->other_f[i].count))) {
            json_decref(fs);
            fs = NULL;
        }
    }
    return json_pack("{sssbsIsssosIsI}", "format", n->edn ? "edn" : "json", "single",
                     (int)n->single, "other_ops", (json_int_t)n->other_ops, "other_process",
                     n->other_process, "other_f", fs, "times_raised", (json_int_t)n->times_raised,
                     "read_values_dropped", (json_int_t)n->read_values_dropped);
}

/* Latency and availability, which both checkers report, and how the file was read. */
static int json_add_tail(json_t *o, const check_report *r) {
    const tr_avail_counts *c = &r->avail.all;
    json_t *lat =
        json_pack("{sIsIsIsI}", "count", (json_int_t)r->lat.count, "p50", (json_int_t)r->lat.p50_ns,
                  "p99", (json_int_t)r->lat.p99_ns, "max", (json_int_t)r->lat.max_ns);
    json_t *avail = json_pack("{sIsIsIsIso}", "ok", (json_int_t)c->ok, "fail", (json_int_t)c->fail,
                              "info", (json_int_t)c->info, "pending", (json_int_t)c->pending,
                              "fraction", c->fraction >= 0 ? json_real(c->fraction) : json_null());
    return json_object_set_new(o, "latency_ns", lat) |
           json_object_set_new(o, "availability", avail) |
           json_object_set_new(o, "read", json_notes(r));
}

static json_t *json_stock(const check_args *a, const check_report *r) {
    const tr_stock_check_result *c = &r->st;
    return json_pack("{sssIsssIsIsbsbsbss}", "file", a->path, "ops",
                     (json_int_t)tr__history_count(r->h), "checker", "stock", "items",
                     (json_int_t)r->items, "initial", (json_int_t)a->stock_initial, "valid",
                     (int)c->ok, "never_negative", (int)c->never_negative, "conserved",
                     (int)c->conserved, "why", r->why);
}

static json_t *json_lin(const check_args *a, const check_report *r) {
    static const char *verdicts[] = {"valid", "invalid", "unknown"};
    static const char *limits[] = {"none", "budget", "memory"};
    json_t *o =
        json_pack("{sssssIsIsIsssIsIsIsI}", "file", a->path, "model", model_names[r->model], "ops",
                  (json_int_t)tr__history_count(r->h), "calls", (json_int_t)r->lin.calls, "keys",
                  (json_int_t)r->lin.keys, "linearizable", verdicts[r->lin.verdict], "configs",
                  (json_int_t)r->lin.configs, "budget", (json_int_t)a->budget, "memory_mib",
                  (json_int_t)a->memory_mib, "keys_unknown", (json_int_t)r->lin.keys_unknown);
    if (o && r->lin.keys_unknown &&
        (json_object_set_new(o, "unknown_key", json_integer(r->lin.unknown_key)) ||
         json_object_set_new(o, "unknown_limit", json_string(limits[r->lin.unknown_limit])))) {
        json_decref(o);
        return NULL;
    }
    bool bad = r->lin.verdict == TR_LIN_INVALID && r->lin.has_bad_op;
    if (o &&
        json_object_set_new(o, "bad_op", bad ? json_bad_op(r->h, &r->lin.bad_op) : json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int json_add_counterexample(json_t *o, const check_args *a, const check_report *r);

/* One line: the report as a JSON object. -1 if it could not be built or written. */
static int print_json(FILE *out, const check_args *a, const check_report *r) {
    json_t *o = r->stock ? json_stock(a, r) : json_lin(a, r);
    int rc = !o || json_add_tail(o, r) || json_add_counterexample(o, a, r) ||
                     json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6))
                 ? -1
                 : 0;
    json_decref(o);
    if (rc == 0) {
        fputc('\n', out);
    }
    return rc;
}

/* A stock history: items are its keys 0..max (TR_EINVAL past TR_STOCK_CHECK_ITEMS_MAX). The
 * final levels are not passed: troupe sim records its final reads in the history, where the
 * read bounds check them. */
static int check_stock(const check_args *a, check_report *r) {
    int64_t max_key = -1;
    for (size_t i = 0; i < tr__history_count(r->h); i++) {
        int64_t k = tr__history_op(r->h, i)->key;
        if (k < 0 || k >= TR_STOCK_CHECK_ITEMS_MAX) {
            fprintf(stderr, "troupe check: %s: stock item %" PRId64 " out of range 0..%d\n",
                    a->path, k, TR_STOCK_CHECK_ITEMS_MAX - 1);
            return TR_EINVAL;
        }
        max_key = k > max_key ? k : max_key;
    }
    r->items = (size_t)(max_key + 1);
    static const int64_t levels[TR_STOCK_CHECK_ITEMS_MAX];
    static const bool known[TR_STOCK_CHECK_ITEMS_MAX];
    tr_stock_check_input in = {.h = r->h,
                               .items = r->items,
                               .initial = a->stock_initial,
                               .final_level = levels,
                               .final_known = known};
    int rc = tr__check_stock(&in, &r->st);
    if (rc == 0) {
        tr__check_stock_explain(&r->st, r->why, sizeof r->why);
    }
    return rc;
}

/* True if every op of h is named one of names (a NULL-terminated list). */
static size_t first_op_not_in(const tr_history *h, const char *const *names) {
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const char *f = tr__history_f_name(h, tr__history_op(h, i)->f);
        size_t k = 0;
        while (names[k] && strcmp(names[k], f)) {
            k++;
        }
        if (!names[k]) {
            return i;
        }
    }
    return SIZE_MAX;
}

static const char *const register_ops[] = {"read", "write", NULL};
static const char *const cas_register_ops[] = {"read", "write", "cas", NULL};
static const char *const mutex_ops[] = {"acquire", "release", NULL};
static const char *const stock_ops[] = {"read", "reserve", "restock", NULL};

/* The model auto picks: stock if the history reserves or restocks, mutex if it acquires and
 * releases only, else cas-register. */
static check_model auto_model(const tr_history *h) {
    for (size_t i = 0; i < tr__history_count(h); i++) {
        uint8_t f = tr__history_op(h, i)->f;
        if (f == TR_F_RESERVE || f == TR_F_RESTOCK) {
            return MODEL_STOCK;
        }
    }
    bool mutex = tr__history_count(h) > 0 && first_op_not_in(h, mutex_ops) == SIZE_MAX;
    return mutex ? MODEL_MUTEX : MODEL_CAS_REGISTER;
}

/* TR_EINVAL (reported) if h holds an op the model does not know. */
static int model_fits(const check_args *a, const check_report *r) {
    static const char *const *ops[] = {NULL, register_ops, cas_register_ops, mutex_ops, stock_ops};
    static const char *known[] = {"", "read and write", "read, write and cas",
                                  "acquire and release", "read, reserve and restock"};
    size_t bad = first_op_not_in(r->h, ops[r->model]);
    if (bad == SIZE_MAX) {
        return 0;
    }
    fprintf(stderr,
            "troupe check: %s: op %zu is '%s', which the %s model does not know (it knows %s); "
            "models: " MODEL_LIST " (no set, counter, queue or transaction model)\n",
            a->path, bad, tr__history_f_name(r->h, tr__history_op(r->h, bad)->f),
            model_names[r->model], known[r->model]);
    return TR_EINVAL;
}

static int check_lin(const check_args *a, check_report *r) {
    const tr_lin_model *model = r->model == MODEL_REGISTER ? &tr_lin_model_register
                                : r->model == MODEL_MUTEX  ? &tr__lin_model_mutex
                                                           : &tr_lin_model_cas_register;
    tr_lin_options lo = {.max_configs = a->budget,
                         .max_memory_bytes = (size_t)(a->memory_mib << 20),
                         .has_initial = a->has_initial,
                         .initial = a->initial,
                         .nil_read_unknown = a->nil_read_unknown};
    return tr__lincheck_model(r->h, model, &lo, &r->lin);
}

static int run_checks(const check_args *a, check_report *r) {
    r->model = a->model == MODEL_AUTO ? auto_model(r->h) : a->model;
    r->stock = r->model == MODEL_STOCK;
    int rc = model_fits(a, r);
    bool register_only = a->has_initial || a->nil_read_unknown;
    if (rc == 0 && register_only && r->model != MODEL_REGISTER && r->model != MODEL_CAS_REGISTER) {
        fprintf(stderr,
                "troupe check: %s: --initial and --nil-reads apply to the register models, not "
                "%s\n",
                a->path, model_names[r->model]);
        rc = TR_EINVAL;
    }
    if (rc != 0) {
        return rc;
    }
    rc = r->stock ? check_stock(a, r) : check_lin(a, r);
    rc = rc ? rc : tr__checkers_latency(r->h, &r->lat);
    rc = rc ? rc : tr__checkers_availability(r->h, NULL, &r->avail);
    if (rc != 0) {
        fprintf(stderr, "troupe check: %s: %s\n", a->path, tr_strerror(rc));
    }
    return rc;
}

/* The violated key's counterexample (sim/counterexample.h, as troupe sim finds it); found false
 * for a stock history or one that is not violated. */
static void find_counterexample(const check_args *a, const check_report *r,
                                tr__counterexample *ce) {
    ce->found = false;
    if (!r->stock && r->lin.verdict == TR_LIN_INVALID && r->lin.has_bad_op &&
        tr__counterexample_find(r->h, &tr_lin_model_cas_register, r->lin.bad_op.key,
                                r->lin.bad_op.index, a->budget, ce) != 0) {
        ce->found = false;
    }
}

static void print_counterexample(FILE *out, const check_args *a, const check_report *r) {
    static tr__counterexample ce; /* one at a time */
    find_counterexample(a, r, &ce);
    tr__counterexample_print(out, r->h, &ce);
}

/* "counterexample": the object troupe sim --json gives, or null. */
static int json_add_counterexample(json_t *o, const check_args *a, const check_report *r) {
    static tr__counterexample ce;
    char *text = NULL;
    size_t len = 0;
    find_counterexample(a, r, &ce);
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {
        return -1;
    }
    tr__counterexample_print_json(m, r->h, &ce);
    fclose(m);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    return v == NULL ? -1 : json_object_set_new(o, "counterexample", v);
}

int tr_cli_check(int argc, char **argv) {
    check_args a;
    int prc = parse_args(argc, argv, &a);
    if (prc != 0) {
        if (prc < 0) {
            fprintf(stderr, "run 'troupe check --help' for usage\n");
        }
        return prc > 0 ? 0 : EXIT_USAGE;
    }
    tr_history *h = NULL;
    char err[256] = "";
    tr__history_load_opts lo = {.max_ops = a.max_ops, .shape = a.shape};
    check_report r = {0};
    int rc = tr__history_import_file(a.path, &lo, &h, &r.notes, err, sizeof err);
    if (rc != 0) {
        bool has_path = !strncmp(err, a.path, strlen(a.path));
        fprintf(stderr, "troupe check: %s%s%s\n", has_path ? "" : a.path, has_path ? "" : ": ",
                err[0] ? err : tr_strerror(rc));
        return EXIT_USAGE;
    }
    r.h = h;
    if (run_checks(&a, &r) != 0) {
        tr__history_destroy(h);
        return EXIT_USAGE;
    }
    if (a.json) {
        if (print_json(stdout, &a, &r)) {
            fprintf(stderr, "troupe check: cannot write the JSON report\n");
            tr__history_destroy(h);
            return EXIT_USAGE;
        }
    } else {
        print_human(stdout, &a, &r);
        print_counterexample(stdout, &a, &r);
    }
    tr__history_destroy(h);
    if (r.stock) {
        return r.st.ok ? EXIT_VALID : EXIT_INVALID;
    }
    return r.lin.verdict == TR_LIN_VALID     ? EXIT_VALID
           : r.lin.verdict == TR_LIN_INVALID ? EXIT_INVALID
                                             : EXIT_UNKNOWN;
}
