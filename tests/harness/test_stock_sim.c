/* `troupe sim --workload stock` end to end (TROUPE_BIN, set by tests/run_suite.sh): the
 * correct service holds both invariants across seeds under partition + crash (+ loss), each
 * planted bug is caught in most seeds by the invariant it breaks, runs are deterministic,
 * and the history, JSON and flag handling work. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

#define OUT_MAX (1 << 18)

/* Runs `troupe SUB ARGS`; stderr is kept (2>&1) when `with_err`. Returns the exit status. */
static int run_troupe(char *out, const char *sub, const char *args, bool with_err) {
    return troupe_cli("", sub, args, with_err, out, OUT_MAX);
}

static int run_sim(char *out, const char *args, bool with_err) {
    return run_troupe(out, "sim", args, with_err);
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* "seeds A..B: R runs, H held, V violated, E errors" -> V (and checks R, E). */
static unsigned violated_of(const char *out, unsigned runs) {
    const char *s = strstr(out, "seeds ");
    unsigned long lo, hi, r, held, v, e;
    cr_assert_not_null(s, "%s", out);
    while (strstr(s + 1, "seeds ")) {
        s = strstr(s + 1, "seeds ");
    }
    cr_assert_eq(sscanf(s, "seeds %lu..%lu: %lu runs, %lu held, %lu violated, %lu errors", &lo, &hi,
                        &r, &held, &v, &e),
                 6, "%s", s);
    cr_assert_eq(r, runs);
    cr_assert_eq(e, 0, "%s", out);
    return (unsigned)v;
}

static char out[OUT_MAX], out2[OUT_MAX];

Test(stock_sim, correct_service_holds_every_invariant_across_seeds) {
    int rc = run_sim(out, "--workload stock --nemesis partition,crash --seeds 1..10", true);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(violated_of(out, 10), 0);
    rc = run_sim(out, "--workload stock --seeds 11..20", true); /* default: + loss */
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(violated_of(out, 10), 0);
}

Test(stock_sim, oversell_bug_is_caught_as_negative_stock_in_most_seeds) {
    int rc = run_sim(out,
                     "--workload stock --nemesis partition,crash --bug oversell "
                     "--seeds 1..10",
                     true);
    cr_assert_eq(rc, 1, "%s", out);
    unsigned v = violated_of(out, 10);
    cr_assert_geq(v, 7, "caught in %u of 10 seeds\n%s", v, out);
    /* Mostly as an oversold item; the charge that is answered before it is applied can also
     * be lost with its message (a crash, a cut), which conservation calls a lost charge. */
    cr_assert_geq(count(out, "stock went negative"), 5, "%s", out);
}

Test(stock_sim, double_charge_bug_is_caught_by_conservation_in_most_seeds) {
    int rc = run_sim(out, "--workload stock --bug double-charge --seeds 1..10", true);
    cr_assert_eq(rc, 1, "%s", out);
    unsigned v = violated_of(out, 10);
    cr_assert_geq(v, 7, "caught in %u of 10 seeds\n%s", v, out);
    cr_assert_eq(count(out, "a double charge"), v, "%s", out);
    cr_assert_eq(count(out, "stock went negative"), 0, "%s", out);
}

Test(stock_sim, report_names_the_invariants_and_the_first_offending_op) {
    cr_assert_eq(run_sim(out, "--workload stock --seed 3", false), 0, "%s", out);
    cr_assert_not_null(strstr(out, "stock never negative     held"), "%s", out);
    cr_assert_not_null(strstr(out, "conservation             held"), "%s", out);
    cr_assert_not_null(strstr(out, "replay: troupe sim --seed 3 --nodes 5 --workload stock "
                                   "--nemesis partition,crash,loss"),
                       "%s", out);
    cr_assert_eq(run_sim(out, "--workload stock --seed 3 --bug double-charge", false), 1);
    cr_assert_not_null(strstr(out, "conservation             VIOLATED"), "%s", out);
    cr_assert_not_null(strstr(out, "suspect #"), "%s", out);
    cr_assert_not_null(strstr(out, "--bug double-charge"), "replay keeps the bug:\n%s", out);
}

Test(stock_sim, same_seed_gives_the_same_trace_hash) {
    cr_assert_eq(run_sim(out, "--workload stock --seed 5 --duration 20s", false), 0);
    cr_assert_eq(run_sim(out2, "--workload stock --seed 5 --duration 20s", false), 0);
    const char *a = strstr(out, "trace-hash: "), *b = strstr(out2, "trace-hash: ");
    cr_assert(a && b);
    cr_assert_eq(strncmp(a, b, 28), 0, "%.28s vs %.28s", a, b);
    cr_assert_eq(run_sim(out2, "--workload stock --seed 6 --duration 20s", false), 0);
    cr_assert_neq(strncmp(a, strstr(out2, "trace-hash: "), 28), 0, "seeds must differ");
    cr_assert_eq(run_sim(out,
                         "--workload stock --seed 5 --duration 20s "
                         "--check-determinism",
                         false),
                 0, "%s", out);
    cr_assert_not_null(strstr(out, "determinism: both runs identical"), "%s", out);
}

Test(stock_sim, history_and_json_are_written) {
    char path[] = "/tmp/troupe-stock-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char args[256];
    snprintf(args, sizeof args, "--workload stock --duration 10s --json --history %s", path);
    cr_assert_eq(run_sim(out, args, false), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"stock\":{"), "%s", out);
    cr_assert_not_null(strstr(out, "\"never_negative\":true"), "%s", out);
    cr_assert_not_null(strstr(out, "\"held\":true"), "%s", out);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(out2, 1, OUT_MAX - 1, f);
    out2[n] = '\0';
    fclose(f);
    unlink(path);
    cr_assert_not_null(strstr(out2, "\"f\":\"reserve\""), "%.300s", out2);
    cr_assert_not_null(strstr(out2, "\"f\":\"restock\""), "%.300s", out2);
    /* the minority side's hosts have no lease: their requests are not handled */
    cr_assert_not_null(strstr(out2, "unavailable"), "the partition was felt");
}

/* The exported history carries the final reads: `troupe check` alone reaches the sim's
 * verdicts, for the correct service and for a planted double charge. */
Test(stock_sim, exported_history_is_checked_alone_by_troupe_check) {
    char path[] = "/tmp/troupe-stock-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char args[256];
    snprintf(args, sizeof args, "--workload stock --seed 2 --history %s", path);
    cr_assert_eq(run_sim(out, args, false), 0, "%s", out);
    cr_assert_eq(run_troupe(out, "check", path, true), 0, "%s", out);
    cr_assert_not_null(strstr(out, "stock never negative: held"), "%s", out);
    cr_assert_not_null(strstr(out, "conservation: held"), "%s", out);
    snprintf(args, sizeof args, "%s --json", path);
    cr_assert_eq(run_troupe(out, "check", args, true), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"checker\":\"stock\""), "%s", out);
    cr_assert_not_null(strstr(out, "\"valid\":true"), "%s", out);
    /* the same history against a wrong initial level cannot balance */
    snprintf(args, sizeof args, "%s --stock-initial 3", path);
    cr_assert_eq(run_troupe(out, "check", args, true), 1, "%s", out);
    snprintf(args, sizeof args, "--workload stock --seed 2 --bug double-charge --history %s", path);
    cr_assert_eq(run_sim(out, args, false), 1, "%s", out);
    cr_assert_eq(run_troupe(out, "check", path, true), 1, "%s", out);
    cr_assert_not_null(strstr(out, "conservation: VIOLATED"), "%s", out);
    cr_assert_not_null(strstr(out, "a double charge"), "%s", out);
    unlink(path);
}

Test(stock_sim, mismatched_bug_and_workload_exit_2) {
    cr_assert_eq(run_sim(out, "--workload cp --bug oversell", true), 2);
    cr_assert_not_null(strstr(out, "needs --workload stock"), "%s", out);
    cr_assert_eq(run_sim(out, "--bug double-charge", true), 2);
    cr_assert_eq(run_sim(out, "--workload stock --bug stale-read", true), 2);
    cr_assert_eq(run_sim(out, "--workload stocks", true), 2);
    cr_assert_eq(run_sim(out, "--help", false), 0);
    cr_assert_not_null(strstr(out, "--workload stock"), "%s", out);
    cr_assert_not_null(strstr(out, "double-charge"), "%s", out);
}
