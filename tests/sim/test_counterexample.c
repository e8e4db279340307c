/* The counterexample of a violated key (sim/counterexample.h): small, already not
 * linearizable, 1-minimal, explained; on hand-made histories and on the failing seeds of the
 * planted bugs, as `troupe sim --json --history` reports them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/counterexample.h"
#include "sim/history.h"
#include "tests/history_fixture.h"
#include "tests/troupe_cli.h"

static void r_ok(tr_history *h, int64_t p, int64_t k, int64_t v) {
    cr_assert_eq(tr__history_invoke_read(h, ++tick, p, k, 0), 0);
    cr_assert_eq(tr__history_ok_read(h, ++tick, p, true, v), 0);
}

/* Noise on key 1 (values read back at once), then a stale read: 1 written, then 2, then a
 * read of 1 that starts after both completed. */
static tr_history *stale_read(void) {
    tr_history *h = fresh();
    for (int64_t v = 10; v < 30; v++) {
        w(h, 0, 1, v);
        ok(h, 0);
        r_ok(h, 1, 1, v);
    }
    w(h, 0, 1, 1); /* #80 */
    ok(h, 0);
    w(h, 2, 1, 2); /* #82 */
    ok(h, 2);
    r_ok(h, 1, 1, 1); /* #84 */
    w(h, 0, 1, 7);
    ok(h, 0);
    return h;
}

Test(counterexample, stale_read_reduces_to_the_two_writes_and_the_read) {
    tr_history *h = stale_read();
    tr__counterexample ce;
    cr_assert_eq(tr__counterexample_find(h, &tr_lin_model_register, 1, TR_CE_NONE, 0, &ce), 0);
    cr_assert(ce.found && ce.listed && ce.minimal && !ce.values_only);
    cr_assert_eq(ce.op_count, 3, "%u ops", ce.op_count);
    cr_assert_eq(ce.ops[0].invoke, 80);
    cr_assert_eq(ce.ops[1].invoke, 82);
    cr_assert_eq(ce.ops[2].invoke, 84);
    cr_assert_eq(ce.key_ops, 44);
    /* Why: the only order real time allows places both writes, then refuses the read. */
    cr_assert(ce.explained);
    cr_assert_eq(ce.dead_end_count, 1);
    cr_assert_eq(ce.dead_ends[0].order_len, 2);
    cr_assert_eq(ce.dead_ends[0].refused, 1u << 2);
    tr__history_destroy(h);
}

/* Dropping the write a read observed is not a reduction: the read alone (of a value nothing
 * wrote) is not linearizable for a reason the history does not have. */
Test(counterexample, a_read_keeps_the_write_it_observed) {
    tr_history *h = stale_read();
    tr__counterexample ce;
    cr_assert_eq(tr__counterexample_find(h, &tr_lin_model_register, 1, TR_CE_NONE, 0, &ce), 0);
    cr_assert(tr__counterexample_values_explained(h, ce.ops, ce.op_count));
    cr_assert_gt(ce.op_count, 1);
    tr__history_destroy(h);
}

Test(counterexample, a_linearizable_key_has_none) {
    tr_history *h = sequential();
    tr__counterexample ce;
    cr_assert_eq(tr__counterexample_find(h, &tr_lin_model_register, 1, TR_CE_NONE, 0, &ce), 0);
    cr_assert(!ce.found);
    tr__history_destroy(h);
}

Test(counterexample, text_and_json_name_the_ops_and_the_dead_end) {
    tr_history *h = stale_read();
    tr__counterexample ce;
    cr_assert_eq(tr__counterexample_find(h, &tr_lin_model_register, 1, TR_CE_NONE, 0, &ce), 0);
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    tr__counterexample_print(f, h, &ce);
    fclose(f);
    cr_assert_not_null(strstr(buf, "3 of the key's 44 operations"), "%s", buf);
    cr_assert_not_null(strstr(buf, "after #80 write 1, #82 write 2: refused #84 read -> 1"), "%s",
                       buf);
    f = fmemopen(buf, sizeof buf, "w");
    tr__counterexample_print_json(f, h, &ce);
    fclose(f);
    cr_assert_not_null(strstr(buf, "\"dead_ends\":[{\"after\":[80,82],\"refused\":[84]}]"), "%s",
                       buf);
    tr__history_destroy(h);
}

/* ---- the planted bugs' failing seeds, end to end -------------------------------------- */

#define OUT_MAX (1 << 20)
static char out[OUT_MAX];

/* The ops of the counterexample after `"<store>":{` (or the first one when store is NULL) in
 * --json output, by their invoke index; their completions from the history. */
static uint32_t json_ops(const char *json, const char *store, const tr_history *h, tr__ce_op *ops,
                         bool *values_only) {
    const char *s = json;
    if (store != NULL) {
        char tag[32];
        snprintf(tag, sizeof tag, "\"%s\":{", store);
        s = strstr(json, tag);
        cr_assert_not_null(s, "%s", json);
    }
    s = strstr(s, "\"counterexample\":{");
    cr_assert_not_null(s, "no counterexample in %s", json);
    *values_only = strstr(s, "\"values_only\":true") == strstr(s, "\"values_only\":");
    const char *end = strstr(s, "],\"explained\":true");
    cr_assert_not_null(end, "not explained: %.300s", s);
    uint32_t n = 0;
    for (const char *p = strstr(s, "{\"index\":"); p != NULL && p < end;
         p = strstr(p + 1, "{\"index\":")) {
        cr_assert_lt(n, TR_CE_OPS_MAX);
        uint64_t inv = strtoull(p + 9, NULL, 10);
        size_t c = tr__history_partner(h, inv);
        ops[n++] = (tr__ce_op){.invoke = inv, .complete = c == SIZE_MAX ? TR_CE_NONE : c};
    }
    return n;
}

/* The run of args (with --json --history FILE) fails, and its counterexample is small, not
 * linearizable, and 1-minimal: without any one op the rest is linearizable, or (when the key
 * does not read values only its own ops bring in) a value read has lost its source. */
static void check_planted(const char *args, const char *store, const tr_lin_model *model) {
    char path[64], cmd[512];
    snprintf(path, sizeof path, "/tmp/troupe-ce-%d.json", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s --json --history %s", args, path);
    int st = troupe_cli("", "sim", cmd, false, out, OUT_MAX);
    cr_assert_eq(st, store && !strcmp(store, "ap") ? 0 : 1, "%s: exit %d\n%s", args, st, out);
    char file[80];
    snprintf(file, sizeof file, "%s%s", path, store && !strcmp(store, "ap") ? ".ap" : "");
    tr_history *h;
    char err[256];
    cr_assert_eq(tr_history_load(file, 1u << 24, &h, err, sizeof err), 0, "%s", err);
    tr__ce_op ops[TR_CE_OPS_MAX], less[TR_CE_OPS_MAX];
    bool values_only;
    uint32_t n = json_ops(out, store, h, ops, &values_only);
    cr_assert(n >= 1 && n <= 12, "%s: %u operations", args, n);
    cr_assert_eq(tr__counterexample_violated(h, model, ops, n, 0), 1, "%s", args);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m = 0;
        for (uint32_t k = 0; k < n; k++) {
            if (k != i) {
                less[m++] = ops[k];
            }
        }
        bool lin = tr__counterexample_violated(h, model, less, m, 0) == 0;
        bool lost_source = !values_only && !tr__counterexample_values_explained(h, less, m);
        cr_assert(lin || lost_source, "%s: still a counterexample without #%llu", args,
                  (unsigned long long)ops[i].invoke);
    }
    tr__history_destroy(h);
    unlink(file);
    if (store && !strcmp(store, "ap")) {
        snprintf(file, sizeof file, "%s.cp", path);
        unlink(file);
    }
}

Test(counterexample, cp_stale_read_seed_1, .timeout = 120) {
    check_planted("--workload cp --bug stale-read --seed 1", "cp", &tr_lin_model_register);
}

/* Failing seeds of the cp workload's default nemesis (partition,loss,ring,bridge). */
Test(counterexample, cp_no_write_back_seeds_3_16_17, .timeout = 120) {
    const char *seeds[] = {"3", "16", "17"};
    for (int i = 0; i < 3; i++) {
        char args[256];
        snprintf(args, sizeof args, "--workload cp --bug no-write-back --seed %s", seeds[i]);
        check_planted(args, "cp", &tr_lin_model_register);
    }
}

Test(counterexample, ap_is_not_linearizable_seed_1, .timeout = 120) {
    check_planted("--seed 1", "ap", &tr_lin_model_register);
}

Test(counterexample, lin_kv_stale_leader_read_seeds_1_2, .timeout = 120) {
    check_planted("--workload lin-kv --bug stale-leader-read --seed 1", NULL,
                  &tr_lin_model_cas_register);
    check_planted("--workload lin-kv --bug stale-leader-read --seed 2", NULL,
                  &tr_lin_model_cas_register);
}

Test(counterexample, lin_kv_early_commit_seed_1, .timeout = 120) {
    check_planted("--workload lin-kv --bug early-commit --seed 1", NULL,
                  &tr_lin_model_cas_register);
}

/* troupe check finds the same counterexample in the history troupe sim wrote. */
Test(counterexample, troupe_check_prints_the_same_counterexample, .timeout = 120) {
    char path[64], args[256];
    static char sim_out[OUT_MAX];
    snprintf(path, sizeof path, "/tmp/troupe-ce-check-%d.json", (int)getpid());
    snprintf(args, sizeof args, "--workload cp --bug stale-read --seed 1 --history %s", path);
    cr_assert_eq(troupe_cli("", "sim", args, false, sim_out, OUT_MAX), 1, "%s", sim_out);
    cr_assert_eq(troupe_cli("", "check", path, false, out, OUT_MAX), 1, "%s", out);
    unlink(path);
    const char *a = strstr(sim_out, "counterexample, key");
    const char *b = strstr(out, "counterexample, key");
    cr_assert(a != NULL && b != NULL, "%s\n%s", sim_out, out);
    const char *a_end = strstr(a, "\nfaults:");
    cr_assert_not_null(a_end);
    size_t n = (size_t)(a_end - a); /* the lines after the sim's "  CP " prefix */
    char want[8192], got[8192];
    cr_assert_lt(n, sizeof want);
    snprintf(want, sizeof want, "%.*s", (int)n, a);
    snprintf(got, sizeof got, "%.*s", (int)n, b);
    cr_assert(b[n] == '\n' || b[n] == '\0', "%s", b);
    cr_assert_str_eq(got, want);
}
