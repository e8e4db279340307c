/* cmd_check.c — `troupe check FILE`: checks a recorded history for linearizability (multi-key
 * read/write/cas register), or, for a history of the stock workload (reserve/restock ops),
 * the stock invariants (harness/check_stock.h), and reports latency and availability. Exit
 * codes: 0 valid, 1 not, 2 usage or tool error, 3 unknown (budget exceeded). See
 * docs/checkers.md. */
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
#include "sim/history_value.h"
#include "sim/lincheck.h"
#include "troupe.h"

#define CHECK_DEFAULT_MAX_OPS (10u * 1000u * 1000u)

enum {
    EXIT_VALID = 0,
    EXIT_INVALID = 1,
    EXIT_USAGE = 2,
    EXIT_UNKNOWN = 3
};

typedef struct check_args {
    const char *path;
    bool json;
    uint64_t budget;
    uint64_t max_ops;
    int64_t stock_initial; /* stock histories: every item's level before the run */
} check_args;

typedef struct check_report {
    const tr_history *h;
    bool stock;   /* reserve/restock ops: the stock invariants, not linearizability */
    size_t items; /* stock: keys 0..items-1 */
    tr_stock_check_result st;
    char why[600];
    tr__lin_result lin;
    tr_latency lat;
    tr_avail_result avail;
} check_report;

static void usage(FILE *out) {
    fprintf(out,
            "usage: troupe check FILE [--json] [--budget N] [--max-ops N] [--stock-initial N]\n"
            "\n"
            "Checks a recorded history for linearizability against a map of independent\n"
            "read/write/cas registers (Wing-Gong/Lowe search per key), and reports the\n"
            "latency (p50/p99/max) of ok ops and the fraction of completed ops that were ok.\n"
            "A history with reserve/restock ops (troupe sim --workload stock --history) is\n"
            "checked for the stock invariants instead: stock never negative, and every ok\n"
            "read (the final reads included) within what the acknowledged and possible\n"
            "reservations and restocks allow (no double charge). Reads and writes may carry\n"
            "any value (strings, keywords, tuples, bytes), compared whole; cas takes\n"
            "integers.\n"
            "\n"
            "FILE  a JSON history (an array of {\"index\", \"time\", \"type\", \"process\",\n"
            "      \"f\", \"value\": [key, v], \"node\", \"error\"} objects) or an EDN\n"
            "      history as written by troupe (Jepsen/Knossos shape); see docs/checkers.md.\n"
            "\n"
            "  --json        print the report as one JSON object\n"
            "  --budget N    at most N memoised configurations per key (default %u);\n"
            "                past it the answer is 'unknown'\n"
            "  --max-ops N   refuse histories longer than N ops (default %u)\n"
            "  --stock-initial N\n"
            "                stock histories: every item's level before the run (default %d,\n"
            "                what troupe sim starts with)\n"
            "\n"
            "exit status: 0 linearizable (stock: invariants held), 1 not, 2 usage or tool\n"
            "             error (unreadable or malformed file), 3 unknown (budget exceeded)\n",
            TR_LIN_DEFAULT_MAX_CONFIGS, CHECK_DEFAULT_MAX_OPS, TR_STOCK_INITIAL_DEFAULT);
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

/* Returns 0 to run, 1 after --help, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, check_args *a) {
    *a = (check_args){.budget = TR_LIN_DEFAULT_MAX_CONFIGS,
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
    } else if (op->f == TR_F_CAS) {
        fprintf(out, "[%" PRId64 " %" PRId64 "]", op->value, op->value_to);
    } else {
        fprintf(out, "%" PRId64, op->value);
    }
}

static void print_ms(FILE *out, const char *label, int64_t ns) {
    fprintf(out, " %s %.3f ms", label, (double)ns / 1e6);
}

static void print_tail(FILE *out, const check_report *r);

static void print_stock(FILE *out, const check_args *a, const check_report *r) {
    const tr_stock_check_result *c = &r->st;
    fprintf(out,
            "history: %s: %zu ops, stock workload: %zu items from level %" PRId64 ", %" PRIu64
            " reservation ids, %" PRIu64 " restock ids (%" PRIu64 " retried)\n",
            a->path, tr__history_count(r->h), r->items, a->stock_initial, c->reserve_ids,
            c->restock_ids, c->retried_ids);
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

static void print_human(FILE *out, const check_args *a, const check_report *r) {
    if (r->stock) {
        print_stock(out, a, r);
        return;
    }
    fprintf(out, "history: %s: %zu ops, %zu calls checked, %zu keys\n", a->path,
            tr__history_count(r->h), r->lin.calls, r->lin.keys);
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
                tr__history_op_f_name(op->f));
        print_value(out, op);
        fputc('\n', out);
    }
    if (r->lin.verdict == TR_LIN_UNKNOWN) {
        fprintf(out,
                "  budget of %" PRIu64 " configurations exceeded on %zu key(s), first key %" PRId64
                "; retry with a larger --budget\n",
                a->budget, r->lin.keys_unknown, r->lin.unknown_key);
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

static json_t *json_bad_op(const tr_op *op) {
    json_t *value = op->any          ? tr__history_value_json(op->any)
                    : !op->has_value ? json_null()
                    : op->f == TR_F_CAS
                        ? json_pack("[II]", (json_int_t)op->value, (json_int_t)op->value_to)
                        : json_integer(op->value);
    return json_pack("{sIsIsssIsssIso}", "index", (json_int_t)op->index, "time",
                     (json_int_t)op->time_ns, "type", tr__history_op_type_name(op->type), "process",
                     (json_int_t)op->process, "f", tr__history_op_f_name(op->f), "key",
                     (json_int_t)op->key, "value", value);
}

/* Latency and availability, which both checkers report. */
static int json_add_tail(json_t *o, const check_report *r) {
    const tr_avail_counts *c = &r->avail.all;
    json_t *lat =
        json_pack("{sIsIsIsI}", "count", (json_int_t)r->lat.count, "p50", (json_int_t)r->lat.p50_ns,
                  "p99", (json_int_t)r->lat.p99_ns, "max", (json_int_t)r->lat.max_ns);
    json_t *avail = json_pack("{sIsIsIsIso}", "ok", (json_int_t)c->ok, "fail", (json_int_t)c->fail,
                              "info", (json_int_t)c->info, "pending", (json_int_t)c->pending,
                              "fraction", c->fraction >= 0 ? json_real(c->fraction) : json_null());
    return json_object_set_new(o, "latency_ns", lat) |
           json_object_set_new(o, "availability", avail);
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
    json_t *o =
        json_pack("{sssIsIsIsssIsIsI}", "file", a->path, "ops", (json_int_t)tr__history_count(r->h),
                  "calls", (json_int_t)r->lin.calls, "keys", (json_int_t)r->lin.keys,
                  "linearizable", verdicts[r->lin.verdict], "configs", (json_int_t)r->lin.configs,
                  "budget", (json_int_t)a->budget, "keys_unknown", (json_int_t)r->lin.keys_unknown);
    if (o && r->lin.keys_unknown &&
        json_object_set_new(o, "unknown_key", json_integer(r->lin.unknown_key))) {
        json_decref(o);
        return NULL;
    }
    bool bad = r->lin.verdict == TR_LIN_INVALID && r->lin.has_bad_op;
    if (o && json_object_set_new(o, "bad_op", bad ? json_bad_op(&r->lin.bad_op) : json_null())) {
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

static bool is_stock(const tr_history *h) {
    for (size_t i = 0; i < tr__history_count(h); i++) {
        uint8_t f = tr__history_op(h, i)->f;
        if (f == TR_F_RESERVE || f == TR_F_RESTOCK) {
            return true;
        }
    }
    return false;
}

/* The first operation a register history cannot hold (not read, write or cas), or SIZE_MAX. */
static size_t first_foreign_op(const tr_history *h) {
    for (size_t i = 0; i < tr__history_count(h); i++) {
        uint8_t f = tr__history_op(h, i)->f;
        if (f != TR_F_READ && f != TR_F_WRITE && f != TR_F_CAS) {
            return i;
        }
    }
    return SIZE_MAX;
}

static bool has_values(const tr_history *h) {
    for (size_t i = 0; i < tr__history_count(h); i++) {
        if (tr__history_op(h, i)->any) {
            return true;
        }
    }
    return false;
}

/* A register history with values other than integers (strings, tuples...): the public
 * checker's cas-register model compares them whole (its general search), reported in the
 * register checker's terms. */
static int check_values(const check_args *a, check_report *r) {
    tr_lin_result lr;
    int rc = tr_lincheck_history(r->h, &tr_lin_model_cas_register, a->budget, &lr);
    if (rc != 0) {
        return rc;
    }
    r->lin = (tr__lin_result){.verdict = lr.verdict == TR_VERDICT_HELD       ? TR_LIN_VALID
                                         : lr.verdict == TR_VERDICT_VIOLATED ? TR_LIN_INVALID
                                                                             : TR_LIN_UNKNOWN,
                              .configs = lr.configs,
                              .keys = lr.keys,
                              .keys_unknown = lr.keys_unknown,
                              .calls = lr.calls,
                              .unknown_key = lr.key};
    if (lr.verdict == TR_VERDICT_VIOLATED) {
        r->lin.has_bad_op = true;
        r->lin.bad_op = *tr__history_op(r->h, lr.op_index);
    }
    return 0;
}

static int run_checks(const check_args *a, check_report *r) {
    tr_lin_options lo = {.max_configs = a->budget};
    r->stock = is_stock(r->h);
    size_t foreign = r->stock ? SIZE_MAX : first_foreign_op(r->h);
    if (foreign != SIZE_MAX) {
        fprintf(stderr,
                "troupe check: %s: op %zu is '%s', not a register operation: troupe check "
                "knows read, write and cas (and a stock history's reserve and restock)\n",
                a->path, foreign, tr__history_f_name(r->h, tr__history_op(r->h, foreign)->f));
        return TR_EINVAL;
    }
    int rc = r->stock           ? check_stock(a, r)
             : has_values(r->h) ? check_values(a, r)
                                : tr__lincheck(r->h, &lo, &r->lin);
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
    int rc = tr__history_load_file(a.path, a.max_ops, &h, err, sizeof err);
    if (rc != 0) {
        bool has_path = !strncmp(err, a.path, strlen(a.path));
        fprintf(stderr, "troupe check: %s%s%s\n", has_path ? "" : a.path, has_path ? "" : ": ",
                err[0] ? err : tr_strerror(rc));
        return EXIT_USAGE;
    }
    check_report r = {.h = h};
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
