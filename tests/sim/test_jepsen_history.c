/* test_jepsen_history.c — troupe check reads what Jepsen and Knossos write: the hand-made
 * files of tests/data/jepsen (their verdicts and what the reader noted), generated histories
 * written in each shape (op maps one per line or in a vector or list, fields in random order,
 * nemesis ops among them, values with and without keys) read back op for op with the same
 * verdict, the shape forced both ways, and the limits a check names when it stops. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/history.h"
#include "sim/history_load.h"
#include "sim/lincheck.h"
#include "tests/troupe_cli.h"

#define DATA "tests/data/jepsen/"

/* ---- the hand-made files ----------------------------------------------------------------- */

typedef struct data_case {
    const char *file;
    int rc;
    const char *needle;
} data_case;

Test(jepsen_history, hand_made_files_get_their_verdicts) {
    static const data_case cases[] = {
        {"register-history.edn", 0, "linearizable: yes"},
        {"register-stale-read.edn", 1, "index 11, key 0, process 1, ok read 1"},
        {"register-values.edn", 0, "linearizable: yes"},
        {"cas-register.edn", 0, "linearizable: yes"},
        {"cas-register-bad.edn", 1, "index 5, key 0, process 2, ok cas [0 2]"},
        {"independent.edn", 1, "index 7, key 1, process 1, ok read 5"},
        {"register-initial-zero.edn", 1, "index 1, key 0, process 0, ok read 0"},
        {"register-initial-zero.edn --initial 0", 0, "linearizable: yes"},
        {"register-nil-read.edn", 1, "index 3, key 0, process 1, ok read nil"},
        {"register-nil-read.edn --nil-reads unknown", 0, "linearizable: yes"},
        {"mutex.edn", 0, "model mutex"},
        {"mutex-bad.edn", 1, "index 3, key 0, process 1, ok acquire nil"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[256];
        snprintf(args, sizeof args, DATA "%s", cases[i].file);
        int rc = troupe_cli("", "check", args, true, out, sizeof out);
        cr_assert_eq(rc, cases[i].rc, "%s: exit %d\n%s", cases[i].file, rc, out);
        cr_assert(strstr(out, cases[i].needle), "%s: no '%s' in\n%s", cases[i].file,
                  cases[i].needle, out);
    }
}

Test(jepsen_history, nemesis_ops_are_counted_and_leniencies_noted) {
    tr__history_load_opts o = {.max_ops = 1000};
    tr__history_load_notes n;
    tr_history *h = NULL;
    char err[256] = "";
    cr_assert_eq(tr__history_import_file(DATA "register-history.edn", &o, &h, &n, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(tr__history_count(h), 12);
    cr_assert(n.edn && n.single);
    cr_assert_eq(n.other_ops, 3);
    cr_assert_str_eq(n.other_process, ":nemesis");
    cr_assert_eq(n.other_f_count, 2);
    cr_assert_str_eq(n.other_f[0].name, "start");
    cr_assert_eq(n.other_f[0].count, 2);
    cr_assert_str_eq(n.other_f[1].name, "stop");
    cr_assert_eq(n.times_raised, 1);
    cr_assert_eq(n.read_values_dropped, 1);
    for (size_t i = 0; i < tr__history_count(h); i++) {
        cr_assert_geq(tr__history_op(h, i)->process, 0, "no nemesis op in the history");
    }
    cr_assert_str_eq(tr__history_op(h, 6)->error, ":timeout"); /* :error as written */
    tr__history_destroy(h);
}

/* ---- an independent reader ---------------------------------------------------------------- */

/* Reads path with troupe and with edn_format (tests/sim/jepsen_edn_read.py): the same client
 * ops, other processes' ops and shape. */
static void assert_read_alike(const char *path) {
    char cmd[256], out[256] = "";
    snprintf(cmd, sizeof cmd, "python3 tests/sim/jepsen_edn_read.py %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "%s: %s", path, out);
    unsigned long long client, other;
    char shape[16];
    cr_assert_eq(sscanf(out, "%llu %llu %15s", &client, &other, shape), 3, "%s", out);
    tr__history_load_opts o = {.max_ops = 100000};
    tr__history_load_notes notes;
    tr_history *h = NULL;
    char err[256] = "";
    cr_assert_eq(tr__history_import_file(path, &o, &h, &notes, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tr__history_count(h), client, "%s: troupe %zu client ops, edn_format %llu", path,
                 tr__history_count(h), client);
    cr_assert_eq(notes.other_ops, other, "%s: other ops", path);
    cr_assert_str_eq(notes.single ? "single" : "keyed", shape, "%s", path);
    tr__history_destroy(h);
}

Test(jepsen_history, edn_format_reads_the_hand_made_files_alike) {
    static const char *const files[] = {"register-history.edn",
                                        "register-stale-read.edn",
                                        "register-values.edn",
                                        "cas-register.edn",
                                        "cas-register-bad.edn",
                                        "independent.edn",
                                        "mutex.edn",
                                        "mutex-bad.edn"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[128];
        snprintf(path, sizeof path, DATA "%s", files[i]);
        assert_read_alike(path);
    }
}

/* ---- generated histories, written in each shape ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(uint64_t below) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % below;
}

typedef struct gen_proc {
    int64_t id;
    int busy;     /* 0 idle, 1 invoked, 2 applied */
    int f;        /* TR_F_READ, WRITE, CAS */
    bool applied; /* cas: compare held */
    bool found;
    int64_t value, from, to;
} gen_proc;

/* A linearizable single-register history by construction (every op takes effect at one point
 * between its invoke and its completion, or, ended info, maybe never), then, when `stale`,
 * a final read of a value chosen at random among those written: often not linearizable. */
static tr_history *generate(bool stale) {
    tr_history *h = tr__history_create(4000);
    gen_proc p[4];
    int64_t next_id = 4, next_value = 1, t = 0, reg = 0;
    bool set = false;
    for (int i = 0; i < 4; i++) {
        p[i] = (gen_proc){.id = i};
    }
    for (int step = 0; step < 120; step++) {
        gen_proc *g = &p[rnd(4)];
        t += 1 + (int64_t)rnd(3);
        if (g->busy == 0) {
            g->f = (int)rnd(3);
            g->value = next_value++;
            g->from = (int64_t)rnd((uint64_t)next_value);
            g->to = next_value++;
            int rc = g->f == TR_F_READ ? tr__history_invoke_read(h, t, g->id, 0, 0)
                     : g->f == TR_F_WRITE
                         ? tr__history_invoke_write(h, t, g->id, 0, g->value, 0)
                         : tr__history_invoke_cas(h, t, g->id, 0, g->from, g->to, 0);
            cr_assert_eq(rc, 0);
            g->busy = 1;
        } else if (g->busy == 1 && rnd(8) != 0) { /* takes effect now */
            g->found = set;
            g->value = g->f == TR_F_READ ? reg : g->value;
            g->applied = g->f == TR_F_CAS && set && reg == g->from;
            if (g->f == TR_F_WRITE || g->applied) {
                reg = g->f == TR_F_WRITE ? g->value : g->to;
                set = true;
            }
            g->busy = 2;
        } else { /* completes: ok, fail (a cas that did not apply), or info */
            int rc;
            if (rnd(10) == 0) {
                rc = tr__history_info(h, t, g->id, "timeout");
                g->id = next_id++;
            } else if (g->busy == 1) {
                continue; /* not applied yet: it cannot be acknowledged */
            } else if (g->f == TR_F_READ) {
                rc = tr__history_ok_read(h, t, g->id, g->found, g->value);
            } else if (g->f == TR_F_CAS && !g->applied) {
                rc = tr__history_fail(h, t, g->id, "mismatch");
            } else {
                rc = tr__history_ok(h, t, g->id);
            }
            cr_assert_eq(rc, 0);
            g->busy = 0;
        }
    }
    if (stale) {
        t += 10;
        cr_assert_eq(tr__history_invoke_read(h, t, next_id, 0, 0), 0);
        cr_assert_eq(tr__history_ok_read(h, t + 1, next_id, true, 1 + (int64_t)rnd(8)), 0);
    }
    return h;
}

/* The value of op as Jepsen writes it: without a key, or as [0 v] when keyed. */
static void put_value(FILE *f, const tr_op *op, bool keyed) {
    fputs(keyed ? "[0 " : "", f);
    if (!op->has_value) {
        fputs("nil", f);
    } else if (op->pair) {
        fprintf(f, "[%lld %lld]", (long long)op->value, (long long)op->value_to);
    } else {
        fprintf(f, "%lld", (long long)op->value);
    }
    fputs(keyed ? "]" : "", f);
}

/* Writes h in a Jepsen shape: shape 0 maps one per line, 1 a vector, 2 a list; values keyed
 * or not; each map's fields in a random order; a nemesis op before about one op in eight.
 * Returns how many nemesis ops it wrote. */
static int write_jepsen(const tr_history *h, FILE *f, int shape, bool keyed) {
    int nemesis = 0;
    fputs(shape == 1 ? "[" : shape == 2 ? "(" : "", f);
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        if (rnd(8) == 0) {
            nemesis++;
            fputs("{:process :nemesis, :type :info, :f :start, :value {\"n1\" #{\"n2\"}}}\n", f);
        }
        int order[6] = {0, 1, 2, 3, 4, 5};
        for (int k = 5; k > 0; k--) {
            int j = (int)rnd((uint64_t)k + 1), x = order[k];
            order[k] = order[j];
            order[j] = x;
        }
        fputc('{', f);
        for (int k = 0; k < 6; k++) {
            fputs(k ? ", " : "", f);
            switch (order[k]) {
            case 0: fprintf(f, ":index %zu", i); break;
            case 1: fprintf(f, ":time %lld", (long long)op->time_ns); break;
            case 2: fprintf(f, ":type :%s", tr__history_op_type_name(op->type)); break;
            case 3: fprintf(f, ":process %lld", (long long)op->process); break;
            case 4: fprintf(f, ":f :%s", tr__history_op_f_name(op->f)); break;
            default: fputs(":value ", f); put_value(f, op, keyed);
            }
        }
        fputs("}\n", f);
    }
    fputs(shape == 1 ? "]\n" : shape == 2 ? ")\n" : "", f);
    return nemesis;
}

static void assert_same_ops(const tr_history *a, const tr_history *b) {
    cr_assert_eq(tr__history_count(a), tr__history_count(b));
    for (size_t i = 0; i < tr__history_count(a); i++) {
        const tr_op *x = tr__history_op(a, i), *y = tr__history_op(b, i);
        cr_assert(x->type == y->type && x->process == y->process && x->f == y->f &&
                      x->key == y->key && x->has_value == y->has_value && x->pair == y->pair &&
                      x->time_ns == y->time_ns,
                  "op %zu differs", i);
        cr_assert(!x->has_value || (x->value == y->value && x->value_to == y->value_to),
                  "op %zu's value differs", i);
    }
}

Test(jepsen_history, generated_histories_read_alike_in_every_shape) {
    rng_state = 0x9e3779b97f4a7c15ULL;
    int invalid = 0, valid = 0;
    for (int n = 0; n < 300; n++) {
        tr_history *h = generate(n % 2 == 1);
        tr__lin_result want;
        cr_assert_eq(tr__lincheck(h, NULL, &want), 0);
        invalid += want.verdict == TR_LIN_INVALID;
        valid += want.verdict == TR_LIN_VALID;
        int shape = n % 3;
        bool keyed = n % 5 == 0;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        int nemesis = write_jepsen(h, f, shape, keyed);
        fclose(f);
        tr__history_load_opts o = {.max_ops = 4000};
        tr__history_load_notes notes;
        tr_history *back = NULL;
        char err[256] = "";
        cr_assert_eq(tr__history_import_edn(text, len, &o, &back, &notes, err, sizeof err), 0,
                     "history %d (shape %d): %s", n, shape, err);
        cr_assert_eq(notes.single, !keyed);
        cr_assert_eq(notes.other_ops, (uint64_t)nemesis);
        assert_same_ops(h, back);
        if (n % 25 == 0) { /* and the independent reader on some of them */
            char path[64];
            snprintf(path, sizeof path, "/tmp/troupe-jepsen-XXXXXX");
            int fd = mkstemp(path);
            cr_assert(fd >= 0);
            cr_assert_eq(write(fd, text, len), (ssize_t)len);
            close(fd);
            assert_read_alike(path);
            unlink(path);
        }
        tr__lin_result got;
        cr_assert_eq(tr__lincheck(back, NULL, &got), 0);
        cr_assert_eq(got.verdict, want.verdict, "history %d: verdicts differ", n);
        cr_assert_eq(got.configs, want.configs);
        tr__history_destroy(back);
        tr__history_destroy(h);
        free(text);
    }
    cr_assert(invalid > 20 && valid > 150, "%d invalid, %d valid", invalid, valid);
}

/* ---- the shape, forced ------------------------------------------------------------------- */

static const char *const TUPLES = "{:type :invoke, :process 0, :f :write, :value [1 2]}\n"
                                  "{:type :ok, :process 0, :f :write, :value [1 2]}\n";

Test(jepsen_history, keyed_or_single_can_be_forced) {
    tr__history_load_opts o = {.max_ops = 100};
    tr__history_load_notes n;
    tr_history *h = NULL;
    char err[256] = "";
    cr_assert_eq(tr__history_import_edn(TUPLES, strlen(TUPLES), &o, &h, &n, err, sizeof err), 0);
    cr_assert(!n.single && tr__history_op(h, 0)->key == 1 && tr__history_op(h, 0)->value == 2);
    tr__history_destroy(h);
    o.shape = TR_SHAPE_SINGLE;
    cr_assert_eq(tr__history_import_edn(TUPLES, strlen(TUPLES), &o, &h, &n, err, sizeof err), 0);
    cr_assert(n.single && tr__history_op(h, 0)->key == 0 && tr__history_op(h, 0)->any != NULL);
    tr__history_destroy(h);
    const char *mixed = "{:type :invoke, :process 0, :f :write, :value [1 2]}\n"
                        "{:type :invoke, :process 1, :f :read, :value nil}\n";
    o.shape = TR_SHAPE_AUTO;
    cr_assert_eq(tr__history_import_edn(mixed, strlen(mixed), &o, &h, &n, err, sizeof err),
                 TR_ECORRUPT);
    cr_assert(strstr(err, "line 2 column") && strstr(err, "op 1: :value must be [key v]") &&
                  strstr(err, "--single"),
              "%s", err);
}

Test(jepsen_history, malformed_jepsen_input_names_its_line) {
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"{:type :invoke, :process 0, :f :write, :value 1}\n{:type :ok, :process 0",
         "line 2 column 23: op 1: an op map runs to the end of the file"},
        {"{:type :invoke, :process 0, :f :write, :value 1}\n{:type :begin, :process 0, :f :w}",
         "line 2 column 34: op 1: :type must be"},
        {"{:type :invoke, :f :read}", "an op needs :process"},
        {"[{:type :invoke, :process 0, :f :read, :value nil}", "the history's '[' is not closed"},
        {"{:type :invoke, :process 0, :f :write, :value #{1 2}}", "expected a value"},
        {"{:type :invoke, :process 0, :f :write, :value 1, :time 1.5}", ":time must be an integer"},
        {"7", "a history must be op maps"},
        {"{:type :ok, :process 3, :f :read, :value 1}", "line 1: op 0 (process 3): completion"},
    };
    tr__history_load_opts o = {.max_ops = 100};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tr_history *h = (tr_history *)1;
        char err[256] = "";
        cr_assert_eq(tr__history_import_edn(cases[i].text, strlen(cases[i].text), &o, &h, NULL, err,
                                            sizeof err),
                     TR_ECORRUPT, "%s", cases[i].text);
        cr_assert_null(h);
        cr_assert(strstr(err, cases[i].needle), "'%s': '%s', wanted '%s'", cases[i].text, err,
                  cases[i].needle);
    }
}

/* A JSON read completion carrying a value is named as a completion, at its own line. */
Test(jepsen_history, a_read_completion_with_a_value_is_named_as_such) {
    const char *text = "[{\"type\":\"invoke\",\"f\":\"read\",\"process\":0,\"value\":[1,null]},\n"
                       " {\"type\":\"info\",\"f\":\"read\",\"process\":0,\"value\":[1,4]}]";
    tr_history *h = NULL;
    char err[256] = "";
    cr_assert_eq(tr__history_load_json(text, strlen(text), 100, &h, err, sizeof err), TR_ECORRUPT);
    cr_assert(strstr(err, "line 2: op 1 (process 0): a read that failed or ended info carries "
                          "no value"),
              "%s", err);
}

/* ---- the limit that stops a check -------------------------------------------------------- */

/* 18 writes in flight that never complete, each value read back once in turn, then a read of
 * a value nobody wrote: refuting it visits every subset of the writes. */
static const char *hard_history(char *path) {
    snprintf(path, 64, "/tmp/troupe-jepsen-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int p = 0; p < 18; p++) {
        fprintf(f, "{:type :invoke, :process %d, :f :write, :value %d}\n", p, p + 1);
    }
    for (int p = 0; p < 18; p++) {
        fprintf(f, "{:type :invoke, :process %d, :f :read, :value nil}\n", 100 + p);
        fprintf(f, "{:type :ok, :process %d, :f :read, :value %d}\n", 100 + p, 18 - p);
    }
    fputs("{:type :invoke, :process 200, :f :read, :value nil}\n", f);
    fputs("{:type :ok, :process 200, :f :read, :value 999}\n", f);
    fclose(f);
    return path;
}

Test(jepsen_history, unknown_names_the_limit_that_stopped_it) {
    char path[64], args[160], out[4096];
    hard_history(path);
    snprintf(args, sizeof args, "%s --budget 4000000 --memory 1", path);
    cr_assert_eq(troupe_cli("", "check", args, true, out, sizeof out), 3, "%s", out);
    cr_assert(strstr(out, "memory cap of 1 MiB reached on key 0") && strstr(out, "--memory"), "%s",
              out);
    snprintf(args, sizeof args, "%s --budget 1000 --json", path);
    cr_assert_eq(troupe_cli("", "check", args, true, out, sizeof out), 3, "%s", out);
    cr_assert(strstr(out, "\"unknown_limit\":\"budget\""), "%s", out);
    snprintf(args, sizeof args, "%s --budget 1000", path);
    cr_assert_eq(troupe_cli("", "check", args, true, out, sizeof out), 3, "%s", out);
    cr_assert(strstr(out, "budget of 1000 configurations exceeded"), "%s", out);
    unlink(path);
}

Test(jepsen_history, a_model_that_does_not_fit_is_refused_with_the_list) {
    char out[4096];
    cr_assert_eq(
        troupe_cli("", "check", DATA "cas-register.edn --model register", true, out, sizeof out), 2,
        "%s", out);
    cr_assert(strstr(out, "op 2 is 'cas', which the register model does not know"), "%s", out);
    cr_assert_eq(
        troupe_cli("", "check", DATA "mutex.edn --model cas-register", true, out, sizeof out), 2,
        "%s", out);
    cr_assert(strstr(out, "models: register|cas-register|mutex|stock"), "%s", out);
    cr_assert_eq(troupe_cli("", "check", DATA "mutex.edn --model set", true, out, sizeof out), 2);
    cr_assert(strstr(out, "--model must be auto|register|cas-register|mutex|stock"), "%s", out);
    cr_assert_eq(troupe_cli("", "check", DATA "mutex.edn --initial 0", true, out, sizeof out), 2);
    cr_assert(strstr(out, "--initial and --nil-reads apply to the register models, not mutex"),
              "%s", out);
}

Test(jepsen_history, json_has_no_single_register_form) {
    char path[64], out[2048];
    snprintf(path, sizeof path, "/tmp/troupe-jepsen-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "[{\"type\":\"invoke\",\"f\":\"write\",\"process\":0,\"value\":[1,2]}]";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char args[128];
    snprintf(args, sizeof args, "%s --single", path);
    cr_assert_eq(troupe_cli("", "check", args, true, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "a JSON history's values are [key, v]"), "%s", out);
    cr_assert_eq(troupe_cli("", "check", path, true, out, sizeof out), 0, "%s", out);
    unlink(path);
}

/* --initial and --nil-reads in the general search too (a register of strings). */
Test(jepsen_history, initial_and_nil_reads_hold_for_values_of_any_kind) {
    static const struct {
        const char *text, *flags;
        int rc;
    } cases[] = {
        {"{:process 0, :type :invoke, :f :write, :value \"a\"}\n"
         "{:process 0, :type :ok, :f :write, :value \"a\"}\n"
         "{:process 1, :type :invoke, :f :read, :value nil}\n"
         "{:process 1, :type :ok, :f :read, :value nil}\n",
         "", 1},
        {NULL, "--nil-reads unknown", 0},
        {"{:process 1, :type :invoke, :f :read, :value nil}\n"
         "{:process 1, :type :ok, :f :read, :value 0}\n"
         "{:process 0, :type :invoke, :f :write, :value \"a\"}\n"
         "{:process 0, :type :ok, :f :write, :value \"a\"}\n",
         "", 1},
        {NULL, "--initial 0", 0},
    };
    char path[64] = "", args[160], out[2048];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].text) {
            if (path[0]) {
                unlink(path);
            }
            snprintf(path, sizeof path, "/tmp/troupe-jepsen-XXXXXX");
            int fd = mkstemp(path);
            cr_assert(fd >= 0);
            size_t len = strlen(cases[i].text);
            cr_assert_eq(write(fd, cases[i].text, len), (ssize_t)len);
            close(fd);
        }
        snprintf(args, sizeof args, "%s %s", path, cases[i].flags);
        cr_assert_eq(troupe_cli("", "check", args, true, out, sizeof out), cases[i].rc,
                     "case %zu: %s", i, out);
    }
    unlink(path);
}
