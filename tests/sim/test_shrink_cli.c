/* `troupe sim --shrink` end to end (TROUPE_BIN, set by tests/run_suite.sh): on a planted bug
 * the written scenario still fails when replayed, and without any single one of its faults it
 * passes (each removal run here, independently of the shrinker's own pass). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

#define OUT_MAX (1 << 16)
#define FAULTS_MAX 64
/* A CP read answered by one replica, under crashes, pauses and clock faults: 21 faults
 * recorded, 3 needed. */
#define FAILING "--workload cp --bug stale-read --nemesis crash,pause,clock --duration 20s --seed 1"

static char out[OUT_MAX], out2[OUT_MAX];

static int sim(char *buf, const char *args) {
    return troupe_cli("", "sim", args, false, buf, OUT_MAX);
}

static void temp_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/troupe-shrink-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static size_t read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s was not written", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* The fault lines of a scenario file's text (comments dropped), copied into lines[]. */
static size_t fault_lines(const char *text, char lines[FAULTS_MAX][256]) {
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, "\n");
        if (len > 0 && p[0] != '#') {
            cr_assert_lt(n, FAULTS_MAX);
            cr_assert_lt(len, 256);
            memcpy(lines[n], p, len);
            lines[n++][len] = '\0';
        }
        p += len + (p[len] == '\n');
    }
    return n;
}

/* The replay's arguments (after "replay: troupe sim ") with its scenario file swapped for
 * `path`. */
static void replay_args(const char *output, const char *file, const char *path, char *args,
                        size_t cap) {
    const char *r = strstr(output, "replay: troupe sim ");
    cr_assert_not_null(r, "%s", output);
    r += strlen("replay: troupe sim ");
    size_t len = strcspn(r, "\n");
    const char *f = strstr(r, file);
    cr_assert(f != NULL && f < r + len, "the replay names the file: %.*s", (int)len, r);
    snprintf(args, cap, "%.*s%s%.*s", (int)(f - r), r, path, (int)(r + len - f - strlen(file)),
             f + strlen(file));
}

Test(shrink_cli, a_planted_bug_shrinks_to_a_1_minimal_scenario_that_replays) {
    char dir[64], file[128], less[160], args[1024], text[OUT_MAX], lines[FAULTS_MAX][256];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/min.scenario", dir);
    snprintf(args, sizeof args, FAILING " --shrink --shrink-out %s", file);
    cr_assert_eq(sim(out, args), 1, "%s", out);
    cr_assert_not_null(strstr(out, "faults: 21 -> "), "%s", out);
    cr_assert_not_null(strstr(out, "1-minimal: removing any one of the"), "%s", out);
    /* The workload shrinks too: the replay below runs the shorter one. */
    cr_assert_not_null(strstr(out, "workload: --duration 20.000s -> "), "%s", out);
    read_file(file, text, sizeof text);
    size_t n = fault_lines(text, lines);
    cr_assert(n >= 2 && n < 21, "%zu faults:\n%s", n, text);
    /* The file alone, the random nemesis off, fails as the run did. */
    replay_args(out, file, file, args, sizeof args);
    cr_assert_not_null(strstr(args, "--nemesis none"), "%s", args);
    cr_assert_eq(sim(out2, args), 1, "the shrunk scenario must still fail: %s\n%s", args, out2);
    /* Without any one of its faults the run passes. */
    snprintf(less, sizeof less, "%s/less.scenario", dir);
    for (size_t skip = 0; skip < n; skip++) {
        FILE *f = fopen(less, "w");
        cr_assert_not_null(f);
        for (size_t i = 0; i < n; i++) {
            if (i != skip) {
                fprintf(f, "%s\n", lines[i]);
            }
        }
        fclose(f);
        replay_args(out, file, less, args, sizeof args);
        cr_assert_eq(sim(out2, args), 0, "without '%s' the run still fails: not 1-minimal\n%s",
                     lines[skip], text);
    }
    unlink(less);
    unlink(file);
    rmdir(dir);
}

Test(shrink_cli, the_same_seed_shrinks_the_same_way_twice) {
    char dir[64], file[128], args[512], a[OUT_MAX], b[OUT_MAX];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/s.scenario", dir);
    snprintf(args, sizeof args, FAILING " --shrink --shrink-out %s", file);
    cr_assert_eq(sim(out, args), 1, "%s", out);
    read_file(file, a, sizeof a);
    cr_assert_eq(sim(out2, args), 1, "%s", out2);
    read_file(file, b, sizeof b);
    cr_assert_str_eq(out, out2);
    cr_assert_str_eq(a, b);
    unlink(file);
    rmdir(dir);
}

Test(shrink_cli, an_exhausted_budget_writes_the_smallest_failing_schedule_not_proven) {
    char dir[64], file[128], args[512], text[OUT_MAX], lines[FAULTS_MAX][256];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/b.scenario", dir);
    snprintf(args, sizeof args, FAILING " --shrink --shrink-runs 2 --shrink-out %s", file);
    cr_assert_eq(sim(out, args), 1, "%s", out);
    cr_assert_not_null(strstr(out, "NOT proven 1-minimal"), "%s", out);
    read_file(file, text, sizeof text);
    cr_assert_not_null(strstr(text, "(not proven 1-minimal)"), "%s", text);
    cr_assert_gt(fault_lines(text, lines), 0);
    replay_args(out, file, file, args, sizeof args);
    cr_assert_eq(sim(out2, args), 1, "what it wrote must still fail: %s\n%s", args, out2);
    unlink(file);
    rmdir(dir);
}

Test(shrink_cli, a_run_that_holds_has_nothing_to_shrink) {
    char dir[64], file[128], args[512];
    temp_dir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/none.scenario", dir);
    snprintf(args, sizeof args, "--workload cp --duration 10s --shrink --shrink-out %s", file);
    cr_assert_eq(sim(out, args), 0, "%s", out);
    cr_assert_not_null(strstr(out, "held: nothing to shrink"), "%s", out);
    cr_assert_neq(access(file, F_OK), 0, "no file for a run that held");
    rmdir(dir);
}

Test(shrink_cli, what_shrink_cannot_run_with_is_a_usage_error) {
    const char *bad[] = {"--shrink --seeds 1..3",    "--shrink --randomize",
                         "--shrink --json",          "--shrink-runs 5",
                         "--shrink --shrink-runs 0", "--workload lin-kv --shrink --seeds 1..2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = troupe_cli("", "sim", bad[i], true, out, OUT_MAX);
        cr_assert_eq(rc, 2, "%s: %s", bad[i], out);
        cr_assert_not_null(strstr(out, "troupe sim"), "%s: %s", bad[i], out);
    }
}
