/* bench.c — `troupe bench [NAME...] [--json] [--workers N] [-n N] [--help]`.
 *
 * Runs the named benchmarks one after the other, each on a fresh runtime, and prints their
 * figures in the peers' line format (bench/peers/run.sh) or as JSON lines. With no
 * names it runs the in-process five (pingpong counting threadring skynet spawn_mem).
 * Exit code: 0 all ran and passed their checks, 1 a check failed, 2 usage or tool error. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_util.h"
#include "cli/cli.h"
#include "runtime/assert.h"

typedef struct bench_entry {
    const char *name;
    int (*run)(const tr_bench_opts *o);
    bool by_default; /* run when no name is given */
    const char *what;
} bench_entry;

static const bench_entry benches[] = {
    {"pingpong", tr_bench_pingpong, true, "2 actors, 2M round trips: roundtrips/s, msgs/s"},
    {"counting", tr_bench_counting, true, "1 producer -> 1 counter, 10M msgs: msgs/s, peak RSS"},
    {"threadring", tr_bench_threadring, true, "1,000 actors in a ring, 10M hops: hops/s"},
    {"skynet", tr_bench_skynet, true, "tree of 1M leaves, 10 children each: ms (lower wins)"},
    {"spawn_mem", tr_bench_spawn_mem, true, "1M idle actors: RSS bytes/actor, spawns/s"},
    /* ---- Not in the default set: they take longer or start other processes. ---------- */
    {"store", tr_bench_store, false, "durable writes, 1/10/1000 actors; 1M-event recovery"},
    {"sim", tr_bench_sim, false,
     "5 simulated nodes, 2M messages: msgs/s; an experiment run x9: time compression"},
    {"remote", tr_bench_remote, false, "2 processes, loopback TCP: 20k sequential, 500k pipelined"},
    {"raft", tr_bench_raft, false, "lin-kv on 3 and 5 node processes: Raft commits/s, latency"},
    {"http", tr_bench_http, false, "GET /products/1 via the gateway vs a bare server (wrk): req/s"},
};

enum {
    BENCH_COUNT = sizeof benches / sizeof benches[0]
};

/* {"peer":"troupe","bench":NAME,...}: the start of every JSON line. */
static json_t *json_line(const char *bench) {
    return json_pack("{ssss}", "peer", "troupe", "bench", bench);
}

/* Writes o as one line and takes it. */
static void json_print(json_t *o, size_t flags) {
    if (!o || json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | flags) != 0) {
        fprintf(stderr, "troupe bench: cannot write a JSON line\n");
    } else {
        fputc('\n', stdout);
    }
    json_decref(o);
}

void tr_bench_report(const tr_bench_opts *o, const char *bench, double value, const char *unit) {
    TR_ASSERT(bench != NULL && unit != NULL && isfinite(value));
    /* Times keep one decimal as the peers print them; rates and sizes are whole numbers. */
    int prec = strcmp(unit, "ms") == 0 ? 1 : 0;
    if (o->json) {
        json_t *line = json_line(bench);
        size_t flags = 0;
        json_t *v;
        if (prec == 0) {
            v = json_integer((json_int_t)nearbyint(value)); /* rounds as %.0f does */
        } else {
            /* One decimal, as %.1f prints it: the value of that text, written with as many
             * significant digits as the text has (jansson writes reals with %.<n>g). */
            char text[64];
            int n = snprintf(text, sizeof text, "%.1f", value);
            int digits = n - 1 - (text[0] == '-') - (text[text[0] == '-'] == '0');
            v = json_real(strtod(text, NULL));
            flags = JSON_REAL_PRECISION(digits < 1 ? 1 : digits > 31 ? 31 : digits);
        }
        if (line && (json_object_set_new(line, "value", v) ||
                     json_object_set_new(line, "unit", json_string(unit)))) {
            json_decref(line);
            line = NULL;
        }
        json_print(line, flags);
    } else {
        printf("peer=troupe bench=%s value=%.*f unit=%s\n", bench, prec, value, unit);
    }
    fflush(stdout);
}

int tr_bench_fail(const tr_bench_opts *o, const char *bench, const char *why) {
    if (o->json) {
        json_t *line = json_line(bench);
        if (line && (json_object_set_new(line, "value", json_null()) ||
                     json_object_set_new(line, "unit", json_null()) ||
                     json_object_set_new(line, "error", json_string(why)))) {
            json_decref(line);
            line = NULL;
        }
        json_print(line, 0);
    } else {
        printf("peer=troupe bench=%s value=error unit=%s\n", bench, why);
    }
    fflush(stdout);
    return 1;
}

static void usage(FILE *out) {
    fprintf(out, "usage: troupe bench [NAME...] [--json] [--workers N] [-n N] [--contend N]\n"
                 "                    [--trace-sample P] [--help]\n\n"
                 "Runs benchmarks and prints one line per figure:\n"
                 "  peer=troupe bench=<name> value=<number> unit=<unit>\n"
                 "(the format of bench/peers/run.sh), or JSON objects with --json.\n"
                 "Each benchmark checks its own result and times only its measured part.\n\n"
                 "benchmarks (no NAME: the ones marked *):\n");
    for (size_t i = 0; i < BENCH_COUNT; i++) {
        fprintf(out, "  %c %-11s %s\n", benches[i].by_default ? '*' : ' ', benches[i].name,
                benches[i].what);
    }
    fprintf(out, "\noptions:\n"
                 "  --json       JSON lines instead of key=value lines\n"
                 "  --workers N  worker threads (default: one per core)\n"
                 "  -n N         override the size (round trips, messages, hops, leaves...)\n"
                 "  --contend N  run N CPU-bound busy processes (at the same priority) for\n"
                 "               the whole run: the benchmarks on a machine whose cores\n"
                 "               other work wants too (bench/compare.sh CONTEND=N does the\n"
                 "               same for troupe and its peers in one run)\n"
                 "  --trace-sample P  trace every message a benchmark sends (a new trace each)\n"
                 "               and record the spans of a fraction P (0..1) of them, as\n"
                 "               troupe node --trace-out --trace-sample P does (docs/tracing.md)\n"
                 "  --help       this text\n"
                 "exit: 0 ok, 1 a benchmark failed its check, 2 usage or tool error\n");
}

static const bench_entry *find(const char *name) {
    for (size_t i = 0; i < BENCH_COUNT; i++) {
        if (strcmp(benches[i].name, name) == 0) {
            return &benches[i];
        }
    }
    return NULL;
}

/* Parses a positive decimal integer <= max; false on anything else. */
static bool parse_count(const char *s, long max, long *out) {
    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* An option's value: "--opt V" or "--opt=V". NULL if missing. */
static const char *option_value(int argc, char **argv, int *i, const char *opt) {
    size_t len = strlen(opt);
    if (strncmp(argv[*i], opt, len) == 0 && argv[*i][len] == '=') {
        return argv[*i] + len + 1;
    }
    if (*i + 1 < argc) {
        return argv[++*i];
    }
    return NULL;
}

static bool is_option(const char *arg, const char *opt) {
    size_t len = strlen(opt);
    return strncmp(arg, opt, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

/* Fills opts and the list of benches to run; 0, 1 (--help shown) or 2 (usage error). */
static int parse(int argc, char **argv, tr_bench_opts *o, const bench_entry **run, size_t *nrun) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (is_option(a, "--workers")) {
            const char *s = option_value(argc, argv, &i, "--workers");
            if (!parse_count(s, 256, &v)) {
                fprintf(stderr, "troupe bench: --workers wants a number 1..256\n");
                return 2;
            }
            o->workers = (unsigned)v;
        } else if (is_option(a, "-n")) {
            const char *s = option_value(argc, argv, &i, "-n");
            if (!parse_count(s, 10000000000L, &v)) {
                fprintf(stderr, "troupe bench: -n wants a number 1..10000000000\n");
                return 2;
            }
            o->n = v;
        } else if (is_option(a, "--contend")) {
            const char *s = option_value(argc, argv, &i, "--contend");
            if (!parse_count(s, 64, &v)) {
                fprintf(stderr, "troupe bench: --contend wants a number 1..64\n");
                return 2;
            }
            o->contend = (unsigned)v;
        } else if (is_option(a, "--trace-sample")) {
            const char *s = option_value(argc, argv, &i, "--trace-sample");
            char *end = NULL;
            double p = s ? strtod(s, &end) : -1;
            if (!s || end == s || *end != '\0' || !(p >= 0.0 && p <= 1.0)) {
                fprintf(stderr, "troupe bench: --trace-sample wants a fraction 0..1\n");
                return 2;
            }
            o->trace_sample = p;
        } else if (a[0] == '-') {
            fprintf(stderr, "troupe bench: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (find(a) == NULL) {
            fprintf(stderr, "troupe bench: unknown benchmark '%s' (see --help)\n", a);
            return 2;
        } else if (*nrun < (size_t)argc) {
            run[(*nrun)++] = find(a);
        }
    }
    return 0;
}

int tr_cli_bench(int argc, char **argv) {
    tr_bench_opts o = {.trace_sample = -1};
    const char *plant = getenv("TROUPE_BENCH_PLANT_BUG");
    tr_bench_plant_bug = plant != NULL && strcmp(plant, "1") == 0;
    const bench_entry **run = calloc((size_t)argc + BENCH_COUNT, sizeof *run);
    if (run == NULL) {
        return 2;
    }
    size_t nrun = 0;
    int rc = parse(argc, argv, &o, run, &nrun);
    tr_bench_tracing = o.trace_sample >= 0;
    if (rc != 0) {
        free(run);
        return rc == 1 ? 0 : 2;
    }
    if (nrun == 0) {
        for (size_t i = 0; i < BENCH_COUNT; i++) {
            if (benches[i].by_default) {
                run[nrun++] = &benches[i];
            }
        }
    }
    pid_t burners[64];
    unsigned started = 0;
    for (; started < o.contend; started++) {
        burners[started] = fork();
        if (burners[started] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
            for (volatile uint64_t x = 0;; x++) {
            }
        }
        if (burners[started] < 0) {
            fprintf(stderr, "troupe bench: --contend: fork: %s\n", strerror(errno));
            break;
        }
    }
    int worst = started < o.contend ? 2 : 0;
    for (size_t i = 0; i < nrun && worst < 2; i++) {
        int r = run[i]->run(&o);
        worst = r > worst ? r : worst;
    }
    for (unsigned i = 0; i < started; i++) {
        kill(burners[i], SIGKILL);
        waitpid(burners[i], NULL, 0);
    }
    free(run);
    return worst;
}
