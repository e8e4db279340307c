#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/history.h"
#include "troupe.h"

/* A small history touching every f and type, two nodes, an error string. */
static tr_history *sample(void) {
    tr_history *h = tr__history_create(100);
    cr_assert_not_null(h);
    cr_assert_eq(tr__history_invoke_write(h, 10, 0, 1, 5, 0), 0);
    cr_assert_eq(tr__history_invoke_read(h, 11, 1, 1, 1), 0);
    cr_assert_eq(tr__history_ok(h, 20, 0), 0);
    cr_assert_eq(tr__history_ok_read(h, 21, 1, true, 5), 0);
    cr_assert_eq(tr__history_invoke_cas(h, 30, 0, 1, 5, 6, 0), 0);
    cr_assert_eq(tr__history_fail(h, 31, 0, "precondition \"x\""), 0);
    cr_assert_eq(tr__history_invoke_read(h, 40, 1, 2, TR_NODE_NONE), 0);
    cr_assert_eq(tr__history_ok_read(h, 41, 1, false, 0), 0);
    cr_assert_eq(tr__history_invoke_write(h, 50, 2, 2, -7, 1), 0);
    cr_assert_eq(tr__history_info(h, 60, 2, "timeout"), 0);
    return h;
}

static char *dump(const tr_history *h, int edn, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    cr_assert_not_null(f);
    cr_assert_eq(edn ? tr__history_write_edn(h, f) : tr__history_write_json(h, f), 0);
    fclose(f);
    return buf;
}

static void assert_same(const tr_history *a, const tr_history *b) {
    cr_assert_eq(tr__history_count(a), tr__history_count(b));
    for (size_t i = 0; i < tr__history_count(a); i++) {
        const tr_op *x = tr__history_op(a, i), *y = tr__history_op(b, i);
        cr_assert_eq(x->index, y->index);
        cr_assert_eq(x->time_ns, y->time_ns);
        cr_assert_eq(x->type, y->type, "op %zu", i);
        cr_assert_eq(x->f, y->f);
        cr_assert_eq(x->process, y->process);
        cr_assert_eq(x->key, y->key);
        cr_assert_eq(x->has_value, y->has_value);
        cr_assert_eq(x->value, y->value);
        cr_assert_eq(x->value_to, y->value_to);
        cr_assert_eq(x->node, y->node);
        cr_assert_str_eq(x->error, y->error);
    }
}

Test(history, records_jepsen_fields) {
    tr_history *h = sample();
    cr_assert_eq(tr__history_count(h), 10);
    const tr_op *r = tr__history_op(h, 3);
    cr_assert_eq(r->type, TR_OP_OK);
    cr_assert_eq(r->f, TR_F_READ);
    cr_assert(r->has_value);
    cr_assert_eq(r->value, 5);
    cr_assert_eq(r->node, 1);
    cr_assert_eq(r->index, 3);
    const tr_op *c = tr__history_op(h, 5);
    cr_assert_eq(c->value, 5);
    cr_assert_eq(c->value_to, 6);
    cr_assert_str_eq(c->error, "precondition \"x\"");
    cr_assert_not(tr__history_op(h, 7)->has_value);
    tr__history_destroy(h);
}

Test(history, pairs_invokes_with_completions) {
    tr_history *h = sample();
    cr_assert_eq(tr__history_partner(h, 0), 2);
    cr_assert_eq(tr__history_partner(h, 2), 0);
    cr_assert_eq(tr__history_partner(h, 1), 3);
    cr_assert_eq(tr__history_partner(h, 8), 9);
    cr_assert_eq(tr__history_invoke_read(h, 70, 0, 1, 0), 0);
    cr_assert_eq(tr__history_partner(h, 10), SIZE_MAX);
    tr__history_destroy(h);
}

Test(history, info_retires_the_process) {
    tr_history *h = sample();
    cr_assert_not(tr__history_process_free(h, 2));
    cr_assert_eq(tr__history_invoke_read(h, 70, 2, 1, 0), TR_EINVAL);
    cr_assert_eq(tr__history_count(h), 10);
    cr_assert(tr__history_process_free(h, 0));
    cr_assert(tr__history_process_free(h, 99));
    tr__history_destroy(h);
}

Test(history, rejects_busy_process_and_orphan_completion) {
    tr_history *h = tr__history_create(10);
    cr_assert_eq(tr__history_invoke_write(h, 0, 0, 1, 1, 0), 0);
    cr_assert_eq(tr__history_invoke_read(h, 0, 0, 1, 0), TR_EINVAL);
    cr_assert_eq(tr__history_ok(h, 0, 1), TR_EINVAL);
    cr_assert_eq(tr__history_ok_read(h, 0, 0, true, 1), TR_EINVAL); /* it is a write */
    cr_assert_eq(tr__history_pending(h), 1);
    cr_assert_eq(tr__history_ok(h, 5, 0), 0);
    cr_assert_eq(tr__history_pending(h), 0);
    cr_assert_eq(tr__history_invoke_read(h, 4, 0, 1, 0), TR_EINVAL); /* time going back */
    tr__history_destroy(h);
}

Test(history, bounded_by_max_ops) {
    tr_history *h = tr__history_create(3);
    cr_assert_eq(tr__history_invoke_write(h, 0, 0, 1, 1, 0), 0);
    cr_assert_eq(tr__history_ok(h, 1, 0), 0);
    cr_assert_eq(tr__history_invoke_write(h, 2, 0, 1, 2, 0), 0);
    cr_assert_eq(tr__history_ok(h, 3, 0), TR_EFULL);
    cr_assert_eq(tr__history_count(h), 3);
    tr__history_destroy(h);
}

Test(history, json_round_trip) {
    tr_history *h = sample();
    size_t len;
    char *text = dump(h, 0, &len);
    cr_assert(strstr(text, "\"type\":\"invoke\""), "%s", text);
    cr_assert(strstr(text, "\"value\":[1,[5,6]]"), "%s", text);
    tr_history *back = NULL;
    char err[200] = "";
    cr_assert_eq(tr__history_load_json(text, len, 100, &back, err, sizeof err), 0, "%s", err);
    assert_same(h, back);
    tr__history_destroy(back);
    tr__history_destroy(h);
    free(text);
}

Test(history, edn_round_trip_in_knossos_shape) {
    tr_history *h = sample();
    size_t len;
    char *text = dump(h, 1, &len);
    cr_assert(strstr(text, "{:index 0, :time 10, :type :invoke, :process 0, :f :write, "
                           ":value [1 5], :node 0}"),
              "%s", text);
    cr_assert(strstr(text, ":f :cas, :value [1 [5 6]]"), "%s", text);
    cr_assert(strstr(text, ":error \"precondition \\\"x\\\"\""), "%s", text);
    tr_history *back = NULL;
    char err[200] = "";
    cr_assert_eq(tr__history_load_edn(text, len, 100, &back, err, sizeof err), 0, "%s", err);
    assert_same(h, back);
    tr__history_destroy(back);
    tr__history_destroy(h);
    free(text);
}

static void expect_bad_json(const char *text, int rc, const char *needle) {
    tr_history *h = (tr_history *)1;
    char err[200] = "";
    cr_assert_eq(tr__history_load_json(text, strlen(text), 100, &h, err, sizeof err), rc,
                 "%s -> %s", text, err);
    cr_assert_null(h);
    cr_assert(strstr(err, needle), "error for %s was '%s', wanted '%s'", text, err, needle);
}

Test(history, malformed_json_gets_a_clear_error) {
    expect_bad_json("[{\"type\":\"invoke\",", TR_ECORRUPT, "line 1");
    expect_bad_json("{\"type\":\"invoke\"}", TR_ECORRUPT, "JSON array");
    expect_bad_json("[{\"type\":\"begin\",\"f\":\"read\",\"process\":0,\"value\":[1,null]}]",
                    TR_ECORRUPT, "op 0: \"type\"");
    expect_bad_json("[{\"type\":\"invoke\",\"f\":\"read\",\"process\":\"a\",\"value\":[1,null]}]",
                    TR_ECORRUPT, "\"process\"");
    expect_bad_json("[{\"type\":\"invoke\",\"f\":\"write\",\"process\":0,\"value\":5}]",
                    TR_ECORRUPT, "[key, v]");
    expect_bad_json("[{\"type\":\"invoke\",\"f\":\"cas\",\"process\":0,\"value\":[1,3]}]",
                    TR_ECORRUPT, "[from, to]");
    expect_bad_json("[{\"type\":\"ok\",\"f\":\"write\",\"process\":0,\"value\":[1,3]}]",
                    TR_ECORRUPT, "outstanding invoke");
    expect_bad_json("[{\"type\":\"invoke\",\"f\":\"write\",\"process\":0,\"value\":[1,3]},"
                    "{\"type\":\"info\",\"f\":\"write\",\"process\":0,\"value\":[1,3]},"
                    "{\"type\":\"invoke\",\"f\":\"read\",\"process\":0,\"value\":[1,null]}]",
                    TR_ECORRUPT, "op 2 (process 0): process invokes while busy or after an info");
    expect_bad_json("[{\"type\":\"invoke\",\"f\":\"read\",\"process\":0,\"value\":[1,null],"
                    "\"process\":1}]",
                    TR_ECORRUPT, "duplicate");
}

Test(history, json_errors_name_the_line_of_the_bad_op) {
    expect_bad_json("[\n{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":[1,null]},\n"
                    "  {\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":[1,null],\"x\":}]",
                    TR_ECORRUPT, "line 3 column");
    expect_bad_json("[{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":[1,null]} {}]",
                    TR_ECORRUPT, "',' or ']' expected after op 0");
    expect_bad_json("[1,2]", TR_ECORRUPT, "'[' or '{' expected");
    expect_bad_json("[] []", TR_ECORRUPT, "trailing data");
    expect_bad_json("[{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":[1,null]},",
                    TR_ECORRUPT, "end of file");
    expect_bad_json("", TR_ECORRUPT, "line 1");
}

Test(history, import_over_the_op_limit_is_too_big) {
    const char *text = "[{\"type\":\"invoke\",\"f\":\"read\",\"process\":0,\"value\":[1,null]},"
                       "{\"type\":\"ok\",\"f\":\"read\",\"process\":0,\"value\":[1,null]}]";
    tr_history *h = NULL;
    char err[200] = "";
    cr_assert_eq(tr__history_load_json(text, strlen(text), 1, &h, err, sizeof err), TR_ETOOBIG);
    cr_assert(strstr(err, "limit"), "%s", err);
    cr_assert_eq(tr__history_load_json(text, strlen(text), 2, &h, err, sizeof err), 0, "%s", err);
    tr__history_destroy(h);
}

Test(history, malformed_edn_gets_a_clear_error) {
    const char *text = "[{:index 0, :type :invoke, :process 0, :f :write, :value [1 5]}\n"
                       " {:index 1, :type :ok, :process 0, :f :write, :value [1 oops]}]";
    tr_history *h = NULL;
    char err[200] = "";
    cr_assert_eq(tr__history_load_edn(text, strlen(text), 10, &h, err, sizeof err), TR_ECORRUPT);
    cr_assert(strstr(err, "line 2 column 61: op 1: expected a value"), "%s", err);
    cr_assert_null(h);
}

Test(history, load_file_detects_format_and_reports_missing_file) {
    tr_history *h = sample();
    char path[] = "/tmp/tr_history_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_eq(tr__history_write_edn(h, f), 0);
    fclose(f);
    tr_history *back = NULL;
    char err[200] = "";
    cr_assert_eq(tr__history_load_file(path, 100, &back, err, sizeof err), 0, "%s", err);
    assert_same(h, back);
    tr__history_destroy(back);
    unlink(path);
    cr_assert_eq(tr__history_load_file(path, 100, &back, err, sizeof err), TR_EIO);
    cr_assert(strstr(err, "No such file"), "%s", err);
    tr__history_destroy(h);
}

/* Deterministic byte mutations of valid exports: every load either succeeds or fails with
 * an explanation; none crashes, leaks into *out on error, or accepts a broken invariant. */
Test(history, mutated_files_never_crash_the_loaders) {
    tr_history *h = sample();
    uint64_t lcg = 99;
    for (int edn = 0; edn < 2; edn++) {
        size_t len;
        char *text = dump(h, edn, &len);
        char *copy = malloc(len);
        for (int round = 0; round < 2000; round++) {
            memcpy(copy, text, len);
            for (int m = 0; m < 1 + round % 4; m++) {
                lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t at = (size_t)(lcg >> 33) % len;
                copy[at] = "[]{}:,\" 0123456789-niltrue\\x"[(lcg >> 20) % 28];
            }
            tr_history *back = (tr_history *)1;
            char err[200] = "";
            int rc = edn ? tr__history_load_edn(copy, len, 100, &back, err, sizeof err)
                         : tr__history_load_json(copy, len, 100, &back, err, sizeof err);
            if (rc == 0) {
                cr_assert_not_null(back);
                tr__history_destroy(back);
            } else {
                cr_assert_null(back);
                cr_assert_neq(err[0], '\0', "round %d: error %d without a message", round, rc);
            }
        }
        free(copy);
        free(text);
    }
    tr__history_destroy(h);
}
