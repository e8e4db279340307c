/* The tidy check (scripts/tidy.sh) must catch what it is there for. Each test copies the
 * checked folders of the tree into a temporary directory and runs the real script on the copy:
 * the clean tree passes; every rule of scripts/tidy.rules fires on its probe (a violating line
 * planted in a file the rule applies to), at that file and line, while comments, strings,
 * dead includes and lookalike names planted next to them do not. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RULES_MAX 64
#define TEXT_MAX 512

typedef struct probe {
    char rule[64];
    char file[128];
    char text[TEXT_MAX];
    int line; /* where it was planted */
} probe;

static char root[64];

static int run(const char *cmd) {
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "%s", cmd);
    return WEXITSTATUS(st);
}

static void copy_tree(void) {
    snprintf(root, sizeof root, "/tmp/troupe-tidy-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "for d in include runtime proto cluster sim actors harness cli bench examples scripts; do "
        "[ -d $d ] && cp -R $d %s/ || true; done",
        root);
    cr_assert_eq(run(cmd), 0);
}

static void remove_tree(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    (void)run(cmd);
}

/* Runs the script on the copy; its output is in ROOT/out. Extra environment first. */
static int tidy(const char *env) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s sh scripts/tidy.sh %s > %s/out 2>&1", env ? env : "", root, root);
    return run(cmd);
}

static char *slurp(const char *rel) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Appends one line to ROOT/rel and returns its line number. */
static int append_line(const char *rel, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "the probe's file %s does not exist", rel);
    int lines = 0, c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        lines += c == '\n';
        last = c;
    }
    fclose(f);
    f = fopen(path, "a");
    cr_assert_not_null(f);
    if (last != '\n') {
        fputc('\n', f);
        lines++;
    }
    fprintf(f, "%s\n", text);
    fclose(f);
    return lines + 1;
}

static void write_file(const char *rel, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* Reads the rule table: every rule and its probe. Each rule must have exactly one probe. */
static size_t read_rules(probe *out, size_t cap) {
    FILE *f = fopen("scripts/tidy.rules", "r");
    cr_assert_not_null(f, "scripts/tidy.rules (the test runs from the repository root)");
    char line[1024];
    size_t n = 0;
    int probes = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "rule ", 5) == 0) {
            cr_assert(n == (size_t)probes, "rule before %s has no probe", line);
            cr_assert_lt(n, cap);
            cr_assert_eq(sscanf(line, "rule %63s", out[n].rule), 1);
            n++;
        } else if (strncmp(line, "probe ", 6) == 0) {
            cr_assert_eq((size_t)probes, n - 1, "a second probe for rule %s", out[n - 1].rule);
            int skip = 0;
            cr_assert_eq(sscanf(line, "probe %127s %n", out[n - 1].file, &skip), 1);
            snprintf(out[n - 1].text, TEXT_MAX, "%s", line + skip);
            probes++;
        }
    }
    fclose(f);
    cr_assert_eq((size_t)probes, n, "rule %s has no probe", out[n - 1].rule);
    cr_assert_gt(n, 20, "the table has only %zu rules", n);
    return n;
}

static bool reported(const char *out, const char *file, int line, const char *rule) {
    char want[256];
    snprintf(want, sizeof want, "tidy: %s:%d: %s: ", file, line, rule);
    return strstr(out, want) != NULL;
}

TestSuite(tidy, .init = copy_tree, .fini = remove_tree, .timeout = 240);

Test(tidy, passes_the_clean_tree) {
    int rc = tidy(NULL);
    cr_assert_eq(rc, 0, "%s", slurp("out"));
    cr_assert(strstr(slurp("out"), "tidy: ok") != NULL);
}

/* Lookalikes that must not count: comments, strings, dead includes, members and prefixed
 * names. Planted next to the probes, a report on any of them fails the test below. */
static const char *decoys[] = {
    "/* clock_gettime(CLOCK_MONOTONIC, &t); usleep(10); #include <uv.h> */",
    "// rand(); pthread_create(&t, 0, 0, 0); socket(2, 1, 0);",
    "static const char *decoy_s = \"time(NULL) rand() uv_run(loop) sleep(1)\";",
    "static unsigned long decoy_f(tr_ctx *c) { return tr_random(c) + c->ops->random(); }",
    "static unsigned long decoy_g(struct eng *e) { return e->time(e) + e->clock(e) + 0; }",
    "#if 0",
    "#include <uv.h>",
    "#include \"cluster/transport.h\"",
    "#endif",
};

Test(tidy, every_rule_fires_on_its_probe_and_nothing_else) {
    static probe rules[RULES_MAX];
    size_t n = read_rules(rules, RULES_MAX);
    /* The issue's own cases, beyond the table's probes. */
    static probe extra[] = {
        {"sim-never-includes-cluster", "sim/engine.c", "#include \"cluster/frame.h\"", 0},
        {"clock", "sim/net.c", "static void x1(struct timespec *t) { timespec_get(t, 1); }", 0},
        {"random", "sim/net.c", "static long x2(void) { return random(); }", 0},
        {"lmdb-header", "actors/stock.c", "#include <lmdb.h>", 0},
        {"clock", "proto/membership.c", "static long x3(void) { return time(0); }", 0},
        {"cluster-never-includes-sim", "cluster/frame.h", "#include \"../sim/history.h\"", 0},
    };
    size_t decoy_lines[sizeof decoys / sizeof *decoys];
    for (size_t i = 0; i < n; i++) {
        rules[i].line = append_line(rules[i].file, rules[i].text);
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        extra[i].line = append_line(extra[i].file, extra[i].text);
    }
    for (size_t i = 0; i < sizeof decoys / sizeof *decoys; i++) {
        decoy_lines[i] = (size_t)append_line("sim/prng.c", decoys[i]);
    }
    cr_assert_eq(tidy(NULL), 1, "%s", slurp("out"));
    const char *out = slurp("out");
    for (size_t i = 0; i < n; i++) {
        cr_expect(reported(out, rules[i].file, rules[i].line, rules[i].rule),
                  "rule %s did not fire on %s:%d (%s):\n%s", rules[i].rule, rules[i].file,
                  rules[i].line, rules[i].text, out);
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        cr_expect(reported(out, extra[i].file, extra[i].line, extra[i].rule),
                  "rule %s did not fire on %s:%d (%s):\n%s", extra[i].rule, extra[i].file,
                  extra[i].line, extra[i].text, out);
    }
    cr_expect(strstr(out, "sim/prng.c") == NULL, "a decoy was reported:\n%s", out);
    (void)decoy_lines;
    /* Every report is at a planted line: the tree itself is clean. */
    char copy[1 << 16];
    snprintf(copy, sizeof copy, "%s", out);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        bool planted = false;
        for (size_t i = 0; i < n && !planted; i++) {
            char at[192];
            snprintf(at, sizeof at, "tidy: %s:%d: ", rules[i].file, rules[i].line);
            planted = strncmp(l, at, strlen(at)) == 0;
        }
        for (size_t i = 0; i < sizeof extra / sizeof *extra && !planted; i++) {
            char at[192];
            snprintf(at, sizeof at, "tidy: %s:%d: ", extra[i].file, extra[i].line);
            planted = strncmp(l, at, strlen(at)) == 0;
        }
        cr_expect(planted, "reported a line that was not planted: %s", l);
    }
}

Test(tidy, a_single_violation_fails_and_names_its_file) {
    int line = append_line("runtime/actor.c", "#include <uv.h>");
    cr_assert_eq(tidy(NULL), 1, "%s", slurp("out"));
    cr_assert(reported(slurp("out"), "runtime/actor.c", line, "libuv-header"), "%s", slurp("out"));
}

Test(tidy, an_include_is_judged_as_the_compiler_resolves_it) {
    /* A header found next to the including file, by a name that spells no folder. */
    write_file("sim/wire_alias.h", "#include \"../cluster/frame.h\"\n");
    int line = append_line("sim/net.c", "#include \"wire_alias.h\"");
    cr_assert_eq(tidy(NULL), 1, "%s", slurp("out"));
    const char *out = slurp("out");
    cr_assert(reported(out, "sim/wire_alias.h", 1, "sim-never-includes-cluster"), "%s", out);
    (void)line;
}

Test(tidy, refuses_a_malformed_table_and_a_stale_allowance) {
    char env[256];
    snprintf(env, sizeof env, "TIDY_RULES=%s/bad.rules", root);
    write_file("bad.rules", "rule clock call . time\\(\nallow\n");
    cr_assert_eq(tidy(env), 2, "%s", slurp("out"));
    write_file("bad.rules", "rule clock nonsense . time\\(\nprobe sim/net.c time(0);\n");
    cr_assert_eq(tidy(env), 2, "%s", slurp("out"));
    write_file("bad.rules", "rule clock call . time\\(\nallow runtime/gone.c\n");
    cr_assert_eq(tidy(env), 1, "%s", slurp("out"));
    cr_assert(strstr(slurp("out"), "runtime/gone.c") != NULL, "%s", slurp("out"));
}
