/* test_bench_cli.c — `troupe bench` as a user runs it (the binary is $TROUPE_BIN, set by
 * tests/run_suite.sh): usage errors exit 2 and run nothing, small runs print the peers'
 * line format (or JSON), and a planted arithmetic bug (TROUPE_BENCH_PLANT_BUG=1) makes
 * each checked benchmark fail with exit 1 and an error line instead of a figure. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

/* Runs `$TROUPE_BIN bench ARGS` (stderr dropped); returns the exit code, stdout in out. */
static int bench(const char *env, const char *args, char *out, size_t cap) {
    return troupe_cli(env, "bench", args, false, out, cap);
}

static bool matches(const char *text, const char *pattern) {
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    bool ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

#define LINE(bench, unit) "^peer=troupe bench=" bench " value=[0-9]+(\\.[0-9])? unit=" unit "$"

Test(bench_cli, help_lists_the_five_and_exits_0) {
    char out[4096];
    cr_assert_eq(bench("", "--help", out, sizeof out), 0);
    const char *names[] = {"pingpong", "counting", "threadring", "skynet", "spawn_mem"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert(strstr(out, names[i]) != NULL, "%s missing from --help", names[i]);
    }
}

Test(bench_cli, usage_errors_exit_2_and_print_nothing) {
    const char *bad[] = {"nosuch",      "-n 0",         "-n abc",      "-n 5x",        "--workers",
                         "--workers 0", "--frobnicate", "pingpong -n", "skynet -n 15", "-n -3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[4096];
        cr_assert_eq(bench("", bad[i], out, sizeof out), 2, "'%s'", bad[i]);
        cr_assert_eq(out[0], '\0', "'%s' printed: %s", bad[i], out);
    }
}

Test(bench_cli, pingpong_prints_roundtrips_and_msgs) {
    char out[4096];
    cr_assert_eq(bench("", "pingpong -n 2000 --workers 2", out, sizeof out), 0);
    cr_assert(matches(out, LINE("pingpong", "roundtrips/s")), "%s", out);
    cr_assert(matches(out, LINE("pingpong_msgs", "msgs/s")), "%s", out);
}

Test(bench_cli, json_prints_one_object_per_line) {
    char out[4096];
    cr_assert_eq(bench("", "pingpong -n 2000 --json", out, sizeof out), 0);
    cr_assert(matches(out, "^\\{\"peer\":\"troupe\",\"bench\":\"pingpong\",\"value\":[0-9]+,"
                           "\"unit\":\"roundtrips/s\"\\}$"),
              "%s", out);
}

Test(bench_cli, small_runs_of_the_other_four_pass_their_checks) {
    char out[8192];
    cr_assert_eq(
        bench("", "counting threadring skynet spawn_mem -n 10000 --workers 2", out, sizeof out), 0,
        "%s", out);
    cr_assert(matches(out, LINE("counting", "msgs/s")), "%s", out);
    cr_assert(matches(out, LINE("threadring", "hops/s")), "%s", out);
    cr_assert(matches(out, LINE("skynet", "ms")), "%s", out);
    cr_assert(matches(out, "^peer=troupe bench=spawn_mem_rss value=-?[0-9]+ unit=bytes/actor$"),
              "%s", out);
    cr_assert(matches(out, LINE("spawn_rate", "spawns/s")), "%s", out);
}

Test(bench_cli, planted_bug_fails_each_checked_benchmark) {
    const char *runs[][2] = {{"pingpong -n 1000", "pingpong"},
                             {"counting -n 5000", "counting"},
                             {"skynet -n 1000", "skynet"}};
    for (size_t i = 0; i < 3; i++) {
        char out[4096], want[128];
        cr_assert_eq(bench("TROUPE_BENCH_PLANT_BUG=1", runs[i][0], out, sizeof out), 1, "%s: %s",
                     runs[i][0], out);
        snprintf(want, sizeof want, "^peer=troupe bench=%s value=error unit=", runs[i][1]);
        cr_assert(matches(out, want), "%s: %s", runs[i][0], out);
        cr_assert(!matches(out, LINE("[a-z_]+", "[a-z/]+")), "%s printed a figure", runs[i][0]);
    }
}

/* bench/compare.sh against a fake troupe and a fake peers runner: medians over RUNS, the
 * ratio direction per unit (rates: troupe/best; ms and bytes/actor: best/troupe), a failed
 * troupe figure, and nothing written outside its temporary file. */
Test(bench_cli, compare_table_takes_medians_and_orients_ratios) {
    if (system("command -v g++ >/dev/null && test -e /usr/include/caf/all.hpp") != 0) {
        cr_skip_test("compare.sh counts CAF only when it is installed");
    }
    char dir[] = "/tmp/troupe-compare-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd,
             "cd %s && printf '%%s\\n' '#!/bin/sh' 'c=$(cat n 2>/dev/null || echo 0)' "
             "'c=$((c+1)); echo $c > n' "
             "'echo peer=troupe bench=pingpong value=$((c*100)) unit=roundtrips/s' "
             "'echo peer=troupe bench=skynet value=50.0 unit=ms' "
             "'echo peer=troupe bench=counting value=error unit=bad_count' > troupe && "
             "printf '%%s\\n' '#!/bin/sh' "
             "'echo peer=erlang bench=pingpong value=100 unit=roundtrips/s' "
             "'echo peer=caf bench=pingpong value=150 unit=roundtrips/s' "
             "'echo peer=caf bench=skynet value=200.0 unit=ms' "
             "'echo peer=erlang bench=counting value=7 unit=msgs/s' > run.sh && "
             "chmod +x troupe run.sh",
             dir);
    cr_assert_eq(system(cmd), 0);
    char root[1024]; /* the build runs suites from the repository root */
    cr_assert_not_null(getcwd(root, sizeof root));
    snprintf(cmd, sizeof cmd,
             "cd %s && RUNS=3 TROUPE=./troupe PEERS=caf %s/bench/compare.sh ./run.sh 2>/dev/null",
             dir, root);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    cr_assert(matches(out, "^\\(medians of 3 runs; ratio > 1: troupe wins\\)$"), "%s", out);
    cr_assert_eq(WEXITSTATUS(st), 0, "%s", out);
    /* troupe pingpong runs 100, 200, 300: median 200; best peer 150 -> 1.33, yes */
    cr_assert(matches(out, "^pingpong +roundtrips/s +200 .* 1\\.33  yes$"), "%s", out);
    /* skynet: lower wins, 200 / 50 = 4.00 */
    cr_assert(matches(out, "^skynet +ms +50\\.0 .* 4\\.00  yes$"), "%s", out);
    cr_assert(matches(out, "^counting .* error .*NO \\(troupe failed\\)$"), "%s", out);
    snprintf(cmd, sizeof cmd, "test \"$(ls %s | sort | tr '\\n' ' ')\" = 'n run.sh troupe '", dir);
    cr_assert_eq(system(cmd), 0, "compare.sh left files behind in its working directory");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}
