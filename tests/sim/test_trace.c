/* `troupe sim --trace FILE` (sim/trace.c) and the fault timeline of troupe sim's report, end to
 * end through the binary. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

#define OUT_MAX (256 * 1024)
static char out[OUT_MAX];

static int sim(const char *args) {
    return troupe_cli("", "sim", args, true, out, OUT_MAX);
}

/* A per-test file name under /tmp. */
static void tmp_name(char *buf, size_t cap, const char *what) {
    snprintf(buf, cap, "/tmp/troupe-trace-%d-%s", (int)getpid(), what);
}

/* The file's bytes (owned, NUL-terminated) and their count. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void trace_hash(char *hash) {
    const char *h = strstr(out, "trace-hash: ");
    cr_assert_not_null(h, "%s", out);
    memcpy(hash, h + 12, 16);
    hash[16] = '\0';
}

Test(trace, same_seed_gives_the_same_file_and_the_trace_hash_does_not_move, .timeout = 120) {
    char a[96], b[96], args[256], plain[17], traced[17];
    tmp_name(a, sizeof a, "a.jsonl");
    tmp_name(b, sizeof b, "b.jsonl");
    const char *run = "--seed 3 --duration 5s --nemesis partition,crash";
    snprintf(args, sizeof args, "%s", run);
    cr_assert_eq(sim(args), 0, "%s", out);
    trace_hash(plain);
    snprintf(args, sizeof args, "%s --trace %s", run, a);
    cr_assert_eq(sim(args), 0, "%s", out);
    trace_hash(traced);
    cr_assert_str_eq(traced, plain);
    snprintf(args, sizeof args, "%s --trace %s", run, b);
    cr_assert_eq(sim(args), 0, "%s", out);
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    cr_assert_gt(la, 10000);
    cr_assert(la == lb && memcmp(x, y, la) == 0, "two runs of one seed wrote different traces");
    cr_assert_not_null(strstr(x, "\"ev\":\"recv\",\"node\":\"n1\",\"actor\":\"cp\""));
    cr_assert_not_null(strstr(x, "\"ev\":\"fault\",\"fault\":\"crash\""));
    cr_assert_null(strstr(x, "truncated"));
    free(x);
    free(y);
    unlink(a);
    unlink(b);
}

Test(trace, trace_max_bounds_the_file_and_says_so_on_the_last_line, .timeout = 60) {
    char path[96], args[256];
    tmp_name(path, sizeof path, "max.jsonl");
    snprintf(args, sizeof args, "--seed 3 --duration 2s --trace %s --trace-max 2048", path);
    cr_assert_eq(sim(args), 0, "%s", out);
    size_t len;
    char *t = slurp(path, &len);
    char *last = t + len - 1;
    cr_assert_eq(*last, '\n');
    while (last > t && last[-1] != '\n') {
        last--;
    }
    cr_assert(last - t <= 2048, "%zu bytes of events", (size_t)(last - t));
    cr_assert_eq(strncmp(last, "{\"ev\":\"truncated\",\"max_bytes\":2048,\"lines_left_out\":", 52),
                 0, "%s", last);
    free(t);
    unlink(path);
}

Test(trace, node_actor_and_window_filters_keep_only_their_lines, .timeout = 60) {
    char path[96], args[256];
    tmp_name(path, sizeof path, "filter.jsonl");
    snprintf(args, sizeof args,
             "--seed 3 --duration 3s --trace %s --trace-node n2 --trace-actor ap "
             "--trace-window 1s..2s",
             path);
    cr_assert_eq(sim(args), 0, "%s", out);
    size_t len;
    char *t = slurp(path, &len);
    unsigned lines = 0;
    for (char *line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n"), lines++) {
        uint64_t at = strtoull(line + 5, NULL, 10);
        cr_assert(at >= 1000000000ull && at <= 2000000000ull, "%s", line);
        if (strstr(line, "\"ev\":\"recv\"") != NULL) {
            cr_assert_not_null(strstr(line, "\"node\":\"n2\",\"actor\":\"ap\""), "%s", line);
        }
    }
    cr_assert_gt(lines, 10);
    free(t);
    unlink(path);
}

Test(trace, options_that_cannot_apply_exit_2) {
    cr_assert_eq(sim("--trace-max 4096"), 2, "%s", out);
    cr_assert_not_null(strstr(out, "need --trace FILE"), "%s", out);
    cr_assert_eq(sim("--trace /tmp/x --seeds 1..2"), 2, "%s", out);
    cr_assert_eq(sim("--trace /tmp/x --trace-node n6"), 2, "%s", out);
    cr_assert_not_null(strstr(out, "nodes n1..n5"), "%s", out);
    cr_assert_eq(sim("--trace /tmp/x --trace-window 2s..1s"), 2, "%s", out);
    cr_assert_eq(sim("--trace /tmp/x --trace-max 12"), 2, "%s", out);
    cr_assert_eq(sim("--trace /nonexistent-dir/x --duration 1s"), 2, "%s", out);
    cr_assert_not_null(strstr(out, "cannot write the trace /nonexistent-dir/x"), "%s", out);
}

/* ---- the fault timeline ------------------------------------------------------------------ */

static void scenario(const char *path, unsigned pauses) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "1s crash n2\n3s restart n2\n");
    for (unsigned i = 0; i < pauses; i++) {
        fprintf(f, "%ums pause n3\n%ums resume n3\n", 3100 + 40 * i, 3120 + 40 * i);
    }
    fclose(f);
}

Test(trace, fault_timeline_in_json_has_each_fault_with_its_window_and_nodes, .timeout = 60) {
    char path[96], args[256];
    tmp_name(path, sizeof path, "scen");
    scenario(path, 1);
    snprintf(args, sizeof args, "--workload cp --duration 5s --scenario %s --json", path);
    cr_assert_eq(troupe_cli("", "sim", args, false, out, OUT_MAX), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"fault_timeline\":[{\"kind\":\"crash\",\"start_s\":1.000000,"
                                   "\"end_s\":3.000000,\"nodes\":[\"n2\"]},{\"kind\":\"pause\","
                                   "\"start_s\":3.100000,\"end_s\":3.120000,\"nodes\":[\"n3\"]}]"),
                       "%s", out);
    unlink(path);
}

/* A clock fault says how the clock changed, in the text and in the JSON: checks tell a jump
 * from a drift inside the bound leases allow (tr_fault_breaks_clock_bound). */
Test(trace, fault_timeline_says_how_a_clock_changed, .timeout = 60) {
    char path[96], args[256];
    tmp_name(path, sizeof path, "clock");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "1s clock-jump n2 +1.5s\n2s clock-drift n3 -300ppm\n3s clock-skew n1 -0.25s\n");
    fclose(f);
    snprintf(args, sizeof args, "--workload cp --duration 5s --scenario %s", path);
    cr_assert_eq(sim(args), 0, "%s", out);
    cr_assert_not_null(
        strstr(out, "  clock          1.000s .. 5.000s    nodes n2 (jump +1.500s)\n"), "%s", out);
    cr_assert_not_null(strstr(out, "nodes n3 (drift -300ppm)\n"), "%s", out);
    cr_assert_not_null(strstr(out, "nodes n1 (skew to -0.250s)\n"), "%s", out);
    snprintf(args, sizeof args, "--workload cp --duration 5s --scenario %s --json", path);
    cr_assert_eq(sim(args), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"nodes\":[\"n2\"],\"jump_s\":1.500000000}"), "%s", out);
    cr_assert_not_null(strstr(out, "\"nodes\":[\"n3\"],\"drift_ppm\":-300}"), "%s", out);
    cr_assert_not_null(strstr(out, "\"nodes\":[\"n1\"],\"skew_s\":-0.250000000}"), "%s", out);
    unlink(path);
}

Test(trace, fault_timeline_text_shows_twenty_unless_all_faults, .timeout = 60) {
    char path[96], args[256];
    tmp_name(path, sizeof path, "scen25");
    scenario(path, 24); /* 25 faults */
    snprintf(args, sizeof args, "--workload cp --duration 5s --scenario %s", path);
    cr_assert_eq(sim(args), 0, "%s", out);
    cr_assert_not_null(strstr(out, "fault timeline (25, virtual time):\n  crash "), "%s", out);
    cr_assert_not_null(strstr(out, "  ... and 5 more (--all-faults lists every one)\n"), "%s", out);
    cr_assert_null(strstr(out, "3.860s"), "%s", out); /* the 21st fault's end: not shown */
    snprintf(args, sizeof args, "--workload cp --duration 5s --scenario %s --all-faults", path);
    cr_assert_eq(sim(args), 0, "%s", out);
    cr_assert_not_null(strstr(out, "  pause          4.020s .. 4.040s    nodes n3\n"), "%s", out);
    cr_assert_null(strstr(out, "more (--all-faults"), "%s", out);
    unlink(path);
}
