#include <criterion/criterion.h>

#include "sim/checkers.h"
#include "sim/history.h"
#include "tests/history_fixture.h"
#include "tests/troupe_cli.h"
#include "troupe.h"

/* ---- availability ------------------------------------------------------------------- */

static void op_at(tr_history *h, int64_t t, int64_t p, int32_t node, tr_op_type end) {
    cr_assert_eq(tr__history_invoke_write(h, t, p, 1, p, node), 0);
    if (end == TR_OP_OK) {
        cr_assert_eq(tr__history_ok(h, t + 1, p), 0);
    } else if (end == TR_OP_FAIL) {
        cr_assert_eq(tr__history_fail(h, t + 1, p, "unavailable"), 0);
    } else if (end == TR_OP_INFO) {
        cr_assert_eq(tr__history_info(h, t + 1, p, "timeout"), 0);
    }
}

Test(availability, counts_per_side_inside_the_fault_window) {
    tr_history *h = fresh();
    op_at(h, 10, 0, 2, TR_OP_FAIL); /* before the window */
    op_at(h, 100, 1, 0, TR_OP_OK);  /* window: side A (nodes 0, 1) */
    op_at(h, 110, 2, 1, TR_OP_OK);
    op_at(h, 120, 3, 2, TR_OP_FAIL); /* side B (nodes 2, 3) */
    op_at(h, 130, 4, 3, TR_OP_INFO);
    op_at(h, 140, 5, 2, TR_OP_OK);
    op_at(h, 150, 6, TR_NODE_NONE, TR_OP_OK); /* unknown node */
    op_at(h, 200, 7, 2, TR_OP_OK);            /* window end is exclusive */
    op_at(h, 210, 8, 3, TR_OP_INVOKE);        /* pending forever, outside */
    int32_t groups[] = {0, 0, 1, 1};
    tr_avail_options o = {.window_start_ns = 100,
                          .window_end_ns = 200,
                          .group_of_node = groups,
                          .node_count = 4,
                          .group_count = 2};
    tr_avail_result res;
    cr_assert_eq(tr__checkers_availability(h, &o, &res), 0);
    cr_assert_eq(res.groups[0].ok, 2);
    cr_assert_float_eq(res.groups[0].fraction, 1.0, 1e-9);
    cr_assert_eq(res.groups[1].ok, 1);
    cr_assert_eq(res.groups[1].fail, 1);
    cr_assert_eq(res.groups[1].info, 1);
    cr_assert_float_eq(res.groups[1].fraction, 1.0 / 3.0, 1e-9);
    cr_assert_eq(res.ungrouped.ok, 1);
    cr_assert_eq(res.window.ok + res.window.fail + res.window.info, 6);
    cr_assert_float_eq(res.window.fraction, 4.0 / 6.0, 1e-9);
    cr_assert_eq(res.all.ok, 5);
    cr_assert_eq(res.all.fail, 2);
    cr_assert_eq(res.all.pending, 1);
    cr_assert_float_eq(res.all.fraction, 5.0 / 8.0, 1e-9);
    tr__history_destroy(h);
}

Test(availability, whole_history_without_groups) {
    tr_history *h = fresh();
    tr_avail_result res;
    cr_assert_eq(tr__checkers_availability(h, NULL, &res), 0);
    cr_assert_float_eq(res.all.fraction, -1.0, 1e-9); /* nothing completed */
    op_at(h, 1, 0, 0, TR_OP_OK);
    op_at(h, 3, 1, 0, TR_OP_FAIL);
    cr_assert_eq(tr__checkers_availability(h, NULL, &res), 0);
    cr_assert_float_eq(res.window.fraction, 0.5, 1e-9);
    cr_assert_eq(res.ungrouped.ok, 1);
    tr__history_destroy(h);
}

Test(availability, rejects_a_bad_group_map) {
    tr_history *h = fresh();
    int32_t groups[] = {0, 2};
    tr_avail_options o = {.group_of_node = groups, .node_count = 2, .group_count = 2};
    tr_avail_result res;
    cr_assert_eq(tr__checkers_availability(h, &o, &res), TR_EINVAL);
    o.group_count = TR_AVAIL_GROUPS_MAX + 1;
    cr_assert_eq(tr__checkers_availability(h, &o, &res), TR_EINVAL);
    tr__history_destroy(h);
}

/* ---- latency ------------------------------------------------------------------------ */

Test(latency, nearest_rank_percentiles_of_ok_ops) {
    tr_history *h = fresh();
    int64_t t = 0;
    for (int i = 100; i >= 1; i--) { /* latencies 100 .. 1, in reverse to exercise sorting */
        cr_assert_eq(tr__history_invoke_read(h, t, i, 1, 0), 0);
        t += i;
        cr_assert_eq(tr__history_ok_read(h, t, i, false, 0), 0);
    }
    cr_assert_eq(tr__history_invoke_write(h, t, 1000, 1, 1, 0), 0);
    cr_assert_eq(tr__history_fail(h, t + 100000, 1000, "slow failure"), 0); /* not counted */
    tr_latency lat;
    cr_assert_eq(tr__checkers_latency(h, &lat), 0);
    cr_assert_eq(lat.count, 100);
    cr_assert_eq(lat.p50_ns, 50);
    cr_assert_eq(lat.p99_ns, 99);
    cr_assert_eq(lat.max_ns, 100);
    tr__history_destroy(h);
}

Test(latency, empty_history_gives_zeros) {
    tr_history *h = fresh();
    tr_latency lat;
    cr_assert_eq(tr__checkers_latency(h, &lat), 0);
    cr_assert_eq(lat.count, 0);
    cr_assert_eq(lat.max_ns, 0);
    tr__history_destroy(h);
}

/* ---- troupe check (the CLI over these checkers) ------------------------------------- */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes h (JSON, or EDN) or raw text to a temp file; returns its path (static buffer). */
static const char *temp_file(const tr_history *h, int edn, const char *raw) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tr_check_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    if (raw) {
        fputs(raw, f);
    } else {
        cr_assert_eq(edn ? tr__history_write_edn(h, f) : tr__history_write_json(h, f), 0);
    }
    fclose(f);
    return path;
}

/* Runs `troupe check ARGS`, captures stdout+stderr into out; returns the exit status. */
static int run_check(const char *args, char *out, size_t cap) {
    return troupe_cli("", "check", args, true, out, cap);
}

Test(check_cli, exit_codes_follow_the_verdict) {
    char out[4096], args[256];
    tr_history *h = sequential();
    const char *path = temp_file(h, 0, NULL);
    cr_assert_eq(run_check(path, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "linearizable: yes"), "%s", out);
    unlink(path);
    cr_assert_eq(tr__history_invoke_read(h, ++tick, 9, 1, 0), 0);
    cr_assert_eq(tr__history_ok_read(h, ++tick, 9, true, 1), 0); /* stale */
    path = temp_file(h, 1, NULL);
    snprintf(args, sizeof args, "%s --json", path);
    cr_assert_eq(run_check(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "\"linearizable\":\"invalid\""), "%s", out);
    cr_assert(strstr(out, "\"bad_op\":{\"index\":7,"), "%s", out);
    unlink(path);
    tr__history_destroy(h);
}

Test(check_cli, budget_exceeded_exits_3) {
    char out[4096], args[256];
    tr_history *h = fresh();
    for (int p = 0; p < 10; p++) {
        w(h, p, 1, p + 1);
    }
    cr_assert_eq(tr__history_invoke_read(h, ++tick, 10, 1, 0), 0);
    for (int p = 0; p < 10; p++) {
        ok(h, p);
    }
    cr_assert_eq(tr__history_ok_read(h, ++tick, 10, true, 99), 0);
    const char *path = temp_file(h, 0, NULL);
    snprintf(args, sizeof args, "%s --budget 50", path);
    cr_assert_eq(run_check(args, out, sizeof out), 3, "%s", out);
    cr_assert(strstr(out, "linearizable: unknown"), "%s", out);
    snprintf(args, sizeof args, "%s --budget 50 --json", path);
    cr_assert_eq(run_check(args, out, sizeof out), 3, "%s", out);
    cr_assert(strstr(out, "\"linearizable\":\"unknown\""), "%s", out);
    cr_assert(strstr(out, "\"unknown_key\":1"), "%s", out);
    cr_assert_eq(run_check(path, out, sizeof out), 1, "%s", out);
    unlink(path);
    tr__history_destroy(h);
}

Test(check_cli, bad_files_and_flags_exit_2_with_a_clear_error) {
    char out[4096], args[256];
    const char *path = temp_file(NULL, 0, "[{\"type\":\"invoke\",\n \"process\":0,");
    cr_assert_eq(run_check(path, out, sizeof out), 2);
    cr_assert(strstr(out, "line 2"), "%s", out);
    unlink(path);
    path = temp_file(NULL, 0, "[{\"type\":\"ok\",\"f\":\"read\",\"process\":0,\"value\":[1,2]}]");
    cr_assert_eq(run_check(path, out, sizeof out), 2);
    cr_assert(strstr(out, "op 0"), "%s", out);
    snprintf(args, sizeof args, "%s --budget -5", path);
    cr_assert_eq(run_check(args, out, sizeof out), 2);
    cr_assert(strstr(out, "--budget"), "%s", out);
    unlink(path);
    cr_assert_eq(run_check("/nonexistent/history.json", out, sizeof out), 2);
    cr_assert(strstr(out, "No such file"), "%s", out);
    cr_assert_eq(run_check("", out, sizeof out), 2);
    cr_assert_eq(run_check("--help", out, sizeof out), 0);
    cr_assert(strstr(out, "exit status"), "%s", out);
}

Test(check_cli, an_operation_that_is_not_a_register_one_is_named) {
    char out[4096];
    const char *raw = "[{:index 0, :time 1, :type :invoke, :process 0, :f :deposit, :value [1 5]}\n"
                      " {:index 1, :time 2, :type :ok, :process 0, :f :deposit, :value [1 5]}]\n";
    const char *path = temp_file(NULL, 1, raw);
    cr_assert_eq(run_check(path, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "op 0 is 'deposit', which the cas-register model does not know") != NULL,
              "%s", out);
    unlink(path);
}
