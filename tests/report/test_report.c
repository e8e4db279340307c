/* `troupe sim --report DIR` (sim/report.c): the page opened in headless Chromium
 * (tests/report/check_page.py) for a failing planted-bug run, passing runs and a capped page:
 * a screenshot taken (zig-out/test-artefacts/report/NAME/page.png), no console message, and
 * the rendered DOM checked against the run: one bar per history operation, one shaded interval
 * per fault of the fault timeline, the counterexample's operations marked. Then the CLI's
 * contract: a sweep's page is its first failing seed's, and the options it refuses. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/builtin.h"
#include "sim/history.h"
#include "sim/report.h"
#include "tests/troupe_cli.h"

#define ARTEFACTS "zig-out/test-artefacts/report"
#define OUT_MAX (64 * 1024)
static char out[OUT_MAX];

/* check_page.py sim: runs troupe sim ARGS (expecting exit status expect) with --report and
 * checks the page in Chromium; its report lines are printed. */
static void check_sim(const char *name, int expect, const char *args) {
    const char *bin = getenv("TROUPE_BIN");
    cr_assert_not_null(bin, "TROUPE_BIN is not set (run through tests/run_suite.sh)");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 tests/report/check_page.py sim '%s' " ARTEFACTS "/%s %d %s 2>&1", bin, name,
             expect, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = fread(out, 1, OUT_MAX - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    printf("%s", out);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s:\n%s", cmd, out);
}

Test(report, a_planted_bugs_failing_page_shows_every_operation_and_the_counterexample,
     .timeout = 300) {
    check_sim("stale-read", 1, "--bug stale-read --duration 20s");
    cr_assert(strstr(out, "6 marked; ok") != NULL, "%s", out); /* cp's and ap's: 3 each */
}

Test(report, a_passing_runs_page_shows_every_operation_and_no_counterexample, .timeout = 300) {
    check_sim("passing", 0, "--workload cp --duration 10s");
    cr_assert(strstr(out, "0 marked; ok") != NULL, "%s", out);
}

Test(report, a_page_shows_every_fault_interval_of_a_faulty_run, .timeout = 300) {
    check_sim("stock", 0, "--workload stock --duration 10s --nemesis partition,crash,pause,clock");
}

/* Also troupe sim --json of a stock run whose check found a negative level, which formats the
 * op after the run's history is gone. */
Test(report, a_stock_bugs_failing_page_shows_every_operation, .timeout = 300) {
    check_sim("oversell", 1, "--seed 1 --workload stock --bug oversell");
}

static char *slurp(const char *path, size_t *len);

/* pubsub's broker past its per-subscriber bound: the check "bounded-queues" says so on the
 * page, which reads the broker's STATS of the run's final state. */
Test(report, a_pubsub_bugs_failing_page_names_the_bounded_queues_check, .timeout = 300) {
    check_sim("topics-unbounded", 1, "--seed 1 --workload pubsub --bug topics-unbounded");
    size_t len;
    char *page = slurp(ARTEFACTS "/topics-unbounded/page/index.html", &len);
    cr_assert_not_null(strstr(page, "let one subscriber hold 128 unacknowledged events (bound 16)"),
                       "the page does not give bounded-queues' reason");
    free(page);
}

Test(report, a_loaded_services_page_shows_its_operations_and_counterexample, .timeout = 300) {
    check_sim("lin-kv", 1,
              "--workload lin-kv --seed 1 --nemesis partition,crash,pause,clock "
              "--bug stale-leader-read");
    cr_assert(strstr(out, "3 marked; ok") != NULL, "%s", out);
}

/* The file's bytes (owned, NUL-terminated). */
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

/* A run through the library: the CP register for 5 s under a partition. */
static tr_experiment_result *cp_run(void) {
    static const tr_service *const svcs[] = {&tr__builtin_cp};
    tr_experiment_config cfg;
    tr_service_experiment_init(&cfg, svcs);
    cfg.sim.nodes = 5;
    cfg.duration_ns = 10000000000ull; /* far more operations than the cap */
    cfg.nemesis.kinds = TR_NEMESIS_PARTITION;
    tr_experiment_result *r;
    char err[256];
    cr_assert_eq(tr_experiment_run(&cfg, &r, err, sizeof err), 0, "%s", err);
    return r;
}

static void write_page(const char *dir, const tr_experiment_result *r, uint32_t bars_max) {
    const tr_service *svc = &tr__builtin_cp;
    tr__report_input in = {.result = r,
                           .services = &svc,
                           .service_count = 1,
                           .nodes = 5,
                           .replay = "troupe sim --workload cp",
                           .bars_max = bars_max};
    char err[256];
    cr_assert_eq(tr__report_write_dir(dir, &in, err, sizeof err), 0, "%s", err);
}

Test(report, a_capped_page_draws_at_most_its_bars_and_says_so, .timeout = 300) {
    tr_experiment_result *r = cp_run();
    const char *dir = ARTEFACTS "/capped";
    char path[256];
    mkdir("zig-out", 0777);
    mkdir("zig-out/test-artefacts", 0777);
    mkdir(ARTEFACTS, 0777);
    write_page(ARTEFACTS "/uncapped", r, 0);
    write_page(dir, r, 50);
    cr_assert_gt(tr__history_count(r->history), 200); /* well over the cap */
    snprintf(path, sizeof path, "%s/history.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(tr__history_write_json(r->history, f), 0);
    fclose(f);
    snprintf(path, sizeof path, "%s/run.json", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"counterexample\":null,\"fault_timeline\":[", f);
    for (uint32_t i = 0; i < r->fault_count; i++) {
        fprintf(f, "%s{\"kind\":\"%s\"}", i ? "," : "", r->faults[i].kind);
    }
    fputs("]}", f);
    fclose(f);
    size_t capped, whole;
    free(slurp(ARTEFACTS "/capped/index.html", &capped));
    free(slurp(ARTEFACTS "/uncapped/index.html", &whole));
    cr_assert_lt(capped * 2, whole, "capped %zu bytes, uncapped %zu", capped, whole);
    tr_experiment_result_destroy(r);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 tests/report/check_page.py page %s/index.html %s/run.json "
             "%s/history.json 50 2>&1",
             dir, dir, dir);
    FILE *p = popen(cmd, "r");
    size_t len = fread(out, 1, OUT_MAX - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
    cr_assert(strstr(out, "50 bars") != NULL, "%s", out);
}

Test(report, a_sweep_writes_its_first_failing_seeds_page, .timeout = 300) {
    char args[512], dir[128];
    snprintf(dir, sizeof dir, "/tmp/troupe-report-%d-sweep", (int)getpid());
    snprintf(args, sizeof args, "--seeds 1..3 --bug stale-read --duration 10s --report %s", dir);
    cr_assert_eq(troupe_cli("", "sim", args, true, out, OUT_MAX), 1, "%s", out);
    const char *w = strstr(out, ": report written to ");
    cr_assert_not_null(w, "%s", out);
    char path[256];
    snprintf(path, sizeof path, "%s/index.html", dir);
    size_t len;
    char *page = slurp(path, &len);
    /* the seed named on the line that said it wrote the page is the page's */
    const char *line = w;
    while (line > out && line[-1] != '\n') {
        line--;
    }
    uint64_t seed;
    cr_assert_eq(sscanf(line, "troupe sim: seed %" SCNu64, &seed), 1, "%s", line);
    char want[64];
    snprintf(want, sizeof want, "{\"seed\":%" PRIu64 ",\"verdict\":\"violated\"", seed);
    cr_assert_not_null(strstr(page, want), "%s not in the page", want);
    free(page);
    cr_assert_eq(strstr(strstr(w, "\n"), "report written"), NULL, "one page only: %s", out);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    cr_assert_eq(system(path), 0);
}

Test(report, a_sweep_without_a_failing_seed_writes_no_page_and_says_so, .timeout = 300) {
    char args[512];
    snprintf(args, sizeof args,
             "--seeds 1..2 --workload cp --duration 2s --report /tmp/troupe-"
             "report-%d-none",
             (int)getpid());
    cr_assert_eq(troupe_cli("", "sim", args, true, out, OUT_MAX), 0, "%s", out);
    cr_assert_not_null(strstr(out, "no seed of 1..2 failed, so no page was written"), "%s", out);
}

Test(report, report_refuses_check_determinism_and_an_unwritable_directory, .timeout = 120) {
    cr_assert_eq(troupe_cli("", "sim", "--check-determinism --report /tmp/x", true, out, OUT_MAX),
                 2);
    cr_assert_not_null(strstr(out, "--report writes one run's page; it cannot go with "
                                   "--check-determinism"),
                       "%s", out);
    cr_assert_eq(
        troupe_cli("", "sim", "--duration 1s --report /proc/no/such/dir", true, out, OUT_MAX), 2);
    cr_assert_not_null(strstr(out, "--report /proc/no/such/dir: cannot create the directory"), "%s",
                       out);
}
