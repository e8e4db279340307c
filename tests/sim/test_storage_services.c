/* test_storage_services.c — the services under each storage fault kind, end to end through
 * `troupe sim` (TROUPE_BIN, set by tests/run_suite.sh): the CP and AP registers and the stock
 * service keep their guarantees while commits fail, disks are slow or a node's data file is
 * torn, and each fault shows in the run (commits failed, restarts refused, a node that stays
 * down); the planted stock bug unsaved-charge is caught and replays. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

#define OUT_MAX (1 << 16)

static char out[OUT_MAX], out2[OUT_MAX];

static int run(char *buf, const char *args) {
    return troupe_cli("", "sim", args, false, buf, OUT_MAX);
}

static void write_file(char *path, const char *text) {
    strcpy(path, "/tmp/troupe_storage_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Runs `troupe sim --workload W --duration 20s --scenario <text>` into out; its exit status. */
static int run_scenario(const char *workload, const char *text, const char *extra) {
    char path[64], args[512];
    write_file(path, text);
    snprintf(args, sizeof args, "--workload %s --duration 20s --scenario %s %s", workload, path,
             extra);
    int rc = run(out, args);
    unlink(path);
    return rc;
}

/* The `faults:` line of out. */
static const char *faults_line(void) {
    const char *f = strstr(out, "\nfaults:");
    cr_assert_not_null(f, "no faults line in:\n%s", out);
    return f + 1;
}

static void assert_faults(const char *want) {
    const char *f = faults_line();
    const char *nl = strchr(f, '\n');
    cr_assert(nl != NULL && (size_t)(nl - f) == strlen(want) && strncmp(f, want, nl - f) == 0,
              "want '%s' in:\n%s", want, out);
}

/* The stock line `ops ok/fail/info  O/F/I` of out. */
static void stock_ops(long *ok, long *fail, long *info) {
    const char *p = strstr(out, "ops ok/fail/info");
    cr_assert_not_null(p, "%s", out);
    cr_assert_eq(sscanf(p + strlen("ops ok/fail/info"), " %ld/%ld/%ld", ok, fail, info), 3);
}

/* Whether the row `name` of out reads `verdict` ("held", "VIOLATED"). */
static bool row_is(const char *name, const char *verdict) {
    const char *p = strstr(out, name);
    if (p == NULL) {
        return false;
    }
    p += strlen(name);
    p += strspn(p, " ");
    return strncmp(p, verdict, strlen(verdict)) == 0;
}

static const char *const registers[] = {"cp", "ap"};

/* ---- a failing disk: io-error, disk-full --------------------------------------------------- */

Test(storage_services, the_registers_hold_while_a_nodes_commits_fail) {
    const char *kinds[] = {"io-error", "disk-full"};
    for (int k = 0; k < 2; k++) {
        for (int w = 0; w < 2; w++) {
            char text[64], want[128];
            snprintf(text, sizeof text, "10s %s n2 for 2s\n", kinds[k]);
            cr_assert_eq(run_scenario(registers[w], text, ""), 0, "%s %s:\n%s", registers[w],
                         kinds[k], out);
            cr_assert(row_is("stated guarantees", "held"), "%s", out);
            /* The first commit fails the store; the node is restarted when its disk works. */
            snprintf(want, sizeof want, "faults: crash 1 restart 1 %s 1 commit-failed 1", kinds[k]);
            assert_faults(want);
        }
    }
}

Test(storage_services, the_stock_service_answers_store_errors_and_stays_correct) {
    long ok0, fail0, info0, ok, fail, info;
    cr_assert_eq(run_scenario("stock", "# nothing\n", ""), 0, "%s", out);
    stock_ops(&ok0, &fail0, &info0);
    cr_assert_eq(info0, 0, "%s", out);
    cr_assert_eq(run_scenario("stock", "10s io-error n2 for 2s\n", ""), 0, "%s", out);
    assert_faults("faults: crash 1 restart 1 io-error 1 commit-failed 1");
    cr_assert(row_is("conservation", "held"), "%s", out);
    stock_ops(&ok, &fail, &info);
    /* every item's state is written to a majority: the other nodes mask the failing store;
     * only the operations n2's own two clients had in flight when it crashed are unknown */
    cr_assert_leq(info, 2, "%s", out);
    cr_assert_eq(run_scenario("stock", "10s disk-full n1 for 2s\n", ""), 0, "%s", out);
    assert_faults("faults: crash 1 restart 1 disk-full 1 commit-failed 1");
    cr_assert(row_is("stated guarantees", "held"), "%s", out);
}

/* ---- a slow disk ---------------------------------------------------------------------------- */

Test(storage_services, a_slow_disk_on_one_node_is_masked_by_the_quorums) {
    long ok, fail, info;
    cr_assert_eq(run_scenario("stock", "10s slow-disk n2 400ms for 5s\n", ""), 0, "%s", out);
    assert_faults("faults: slow-disk 1");
    stock_ops(&ok, &fail, &info);
    cr_assert_eq(info, 0, "an item's write waits for a majority, not for n2:\n%s", out);
    cr_assert_not_null(strstr(out, "100.0%"), "every op answered:\n%s", out);
    cr_assert(row_is("stated guarantees", "held"), "%s", out);
    for (int w = 0; w < 2; w++) {
        cr_assert_eq(run_scenario(registers[w], "10s slow-disk n2 400ms for 5s\n", ""), 0,
                     "%s:\n%s", registers[w], out);
        assert_faults("faults: slow-disk 1");
        cr_assert_not_null(strstr(out, "100.0%"), "every op answered:\n%s", out);
    }
}

/* ---- a torn data file ------------------------------------------------------------------------ */

Test(storage_services, a_node_with_a_torn_data_file_stays_down_and_the_cluster_copes) {
    for (int w = 0; w < 2; w++) {
        cr_assert_eq(run_scenario(registers[w], "10s corrupt n3\n", ""), 0, "%s:\n%s", registers[w],
                     out);
        /* Crashed with the tear; the restart at the end is refused: it never came back. */
        assert_faults("faults: crash 1 corrupt 1 start-refused 1");
        cr_assert(row_is("stated guarantees", "held"), "%s", out);
    }
    cr_assert_eq(run_scenario("stock", "10s corrupt n3\n", ""), 0, "%s", out);
    assert_faults("faults: crash 1 corrupt 1 start-refused 1");
    /* n3's items moved to live nodes: every final level is read */
    cr_assert_null(strstr(out, "final level unknown"), "%s", out);
    cr_assert(row_is("stated guarantees", "held"), "%s", out);
}

/* ---- the random fault generator ----------------------------------------------------------------- */

Test(storage_services, random_storage_faults_are_drawn_from_the_seed_and_replay) {
    char args[] = "--workload both --duration 20s --nemesis io-error,disk-full,slow-disk,corrupt "
                  "--check-determinism";
    cr_assert_eq(run(out, args), 0, "%s", out);
    cr_assert_eq(run(out, "--workload both --duration 20s "
                          "--nemesis io-error,disk-full,slow-disk,corrupt"),
                 0, "%s", out);
    const char *f = faults_line();
    cr_assert_not_null(strstr(f, "commit-failed"), "%s", f);
    cr_assert_not_null(strstr(f, "slow-disk"), "%s", f);
    cr_assert_not_null(strstr(f, "corrupt"), "%s", f);
    cr_assert_not_null(strstr(out, "--nemesis io-error,disk-full,slow-disk,corrupt"), "%s", out);
}

/* ---- the planted bug ----------------------------------------------------------------------------- */

Test(storage_services, unsaved_charge_is_caught_and_its_replay_line_replays) {
    cr_assert_eq(run(out, "--workload stock --nemesis io-error --bug unsaved-charge"), 1, "%s",
                 out);
    cr_assert(row_is("stated guarantees", "VIOLATED"), "%s", out);
    const char *h1 = strstr(out, "trace-hash: ");
    char *replay = strstr(out, "replay: troupe sim ");
    cr_assert(h1 != NULL && replay != NULL, "%s", out);
    cr_assert_not_null(strstr(replay, "--nemesis io-error"), "%s", replay);
    cr_assert_not_null(strstr(replay, "--bug unsaved-charge"), "%s", replay);
    char *nl = strchr(replay, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cr_assert_eq(run(out2, replay + strlen("replay: troupe sim ")), 1, "%s", out2);
    const char *h2 = strstr(out2, "trace-hash: ");
    cr_assert(h2 != NULL && strncmp(h1, h2, 28) == 0, "the replay differs:\n%s", out2);
}

Test(storage_services, the_correct_stock_service_holds_over_seeds_under_failing_disks) {
    cr_assert_eq(run(out, "--workload stock --duration 20s --nemesis io-error,disk-full "
                          "--seeds 1..10"),
                 0, "%s", out);
    cr_assert_not_null(strstr(out, "seeds 1..10: 10 runs, 10 held, 0 violated"), "%s", out);
}

/* The AP register acknowledges before its write is durable (by design), and pushes the write
 * to its peers at once: a node that storage faults crash (restarted after a failing disk, or
 * torn) may lose it from its own store, but the peers hold it, and without a partition, loss
 * or clock fault no acknowledged write is lost (the check allowing such losses after a crash
 * is tests/harness/test_builtin_ap.c's). Seed 6 crashes nodes 6 times through its store. */
Test(storage_services, ap_writes_outlive_a_storage_crash_on_the_peers) {
    cr_assert_eq(run(out, "--seed 6 --workload ap --nemesis io-error,disk-full,slow-disk,corrupt"),
                 0, "%s", out);
    cr_assert(row_is("stated guarantees", "held"), "%s", out);
    cr_assert_not_null(strstr(faults_line(), "crash 6"), "%s", out);
    cr_assert_null(strstr(out, "acknowledged writes lost"), "%s", out);
}
