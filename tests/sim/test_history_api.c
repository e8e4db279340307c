/* The public history and checker API (troupe.h "Histories"): appending with invariants,
 * operations with any name, EDN/JSON round trips, pluggable linearizability models. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/history.h"
#include "troupe.h"

static int64_t now;

static tr_history_op op_of(tr_history_type type, int64_t p, const char *f, int64_t key) {
    return (tr_history_op){
        .time_ns = ++now, .process = p, .node = 0, .type = type, .f = f, .key = key, .error = ""};
}

/* An invoke (or completion) of f with an integer value, or nil. */
static int add(tr_history *h, tr_history_type type, int64_t p, const char *f, int64_t key,
               bool has_value, int64_t value) {
    tr_history_op op = op_of(type, p, f, key);
    op.has_value = has_value;
    op.value = value;
    return tr_history_append(h, &op);
}

static int add_pair(tr_history *h, tr_history_type type, int64_t p, const char *f, int64_t key,
                    int64_t a, int64_t b) {
    tr_history_op op = op_of(type, p, f, key);
    op.has_value = op.pair = true;
    op.value = a;
    op.value_to = b;
    return tr_history_append(h, &op);
}

static tr_history *fresh(size_t max) {
    now = 0;
    tr_history *h = tr_history_create(max);
    cr_assert_not_null(h);
    return h;
}

/* ---- a custom model: a counter with "add" (value) and "read" (returns the total) ---- */

static void counter_init(void *state) {
    memset(state, 0, sizeof(int64_t));
}

static bool counter_step(void *state, const tr_history_op *inv, const tr_history_op *ret) {
    int64_t *total = state;
    if (!strcmp(inv->f, "add")) {
        *total += inv->value;
        return true;
    }
    if (!strcmp(inv->f, "read")) {
        return !ret || (ret->has_value && ret->value == *total);
    }
    return false;
}

static const tr_lin_model counter = {
    .name = "counter", .state_size = sizeof(int64_t), .init = counter_init, .step = counter_step};

static tr_verdict check(const tr_history *h, const tr_lin_model *m, uint64_t budget) {
    tr_lin_result res;
    cr_assert_eq(tr_lincheck_history(h, m, budget, &res), 0);
    cr_assert_neq(res.why[0], '\0');
    return res.verdict;
}

Test(history_api, verdict_names) {
    cr_assert_str_eq(tr_verdict_name(TR_VERDICT_HELD), "held");
    cr_assert_str_eq(tr_verdict_name(TR_VERDICT_VIOLATED), "violated");
    cr_assert_str_eq(tr_verdict_name(TR_VERDICT_UNKNOWN), "unknown");
}

Test(history_api, records_operations_with_any_name) {
    tr_history *h = fresh(10);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "deposit", 3, true, 50), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "deposit", 3, true, 150), 0); /* returns a balance */
    cr_assert_eq(tr_history_count(h), 2);
    tr_history_op op;
    cr_assert_eq(tr_history_get(h, 1, &op), 0);
    cr_assert_str_eq(op.f, "deposit");
    cr_assert_eq(op.index, 1);
    cr_assert_eq(op.type, TR_HISTORY_OK);
    cr_assert_eq(op.key, 3);
    cr_assert_eq(op.value, 150);
    cr_assert_eq(tr_history_get(h, 2, &op), TR_EINVAL);
    tr_history_destroy(h);
}

Test(history_api, refuses_broken_invariants_and_changes_nothing) {
    tr_history *h = fresh(6);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 1), 0);
    /* busy process, completion naming another f or key, nothing outstanding */
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 1), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "sub", 0, true, 1), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "add", 9, true, 1), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_OK, 2, "add", 0, true, 1), TR_EINVAL);
    /* time going back */
    tr_history_op late = op_of(TR_HISTORY_INVOKE, 2, "add", 0);
    late.time_ns = 0;
    cr_assert_eq(tr_history_append(h, &late), TR_EINVAL);
    /* bad names, a pair without a value, a built-in op of the wrong shape, a bad type */
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "", 0, true, 1), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "9lives", 0, true, 1), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "a b", 0, true, 1), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "a23456789012345678901234567890123", 0, true, 1),
                 TR_EINVAL);
    tr_history_op bad = op_of(TR_HISTORY_INVOKE, 2, "add", 0);
    bad.pair = true;
    cr_assert_eq(tr_history_append(h, &bad), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "cas", 0, true, 1), TR_EINVAL);
    cr_assert_eq(add_pair(h, TR_HISTORY_INVOKE, 2, "write", 0, 1, 2), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "read", 0, true, 1), TR_EINVAL);
    bad = op_of((tr_history_type)7, 2, "add", 0);
    cr_assert_eq(tr_history_append(h, &bad), TR_EINVAL);
    cr_assert_eq(tr_history_count(h), 1);
    /* a retired process never invokes again */
    cr_assert_eq(add(h, TR_HISTORY_INFO, 1, "add", 0, true, 1), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 1), TR_EINVAL);
    cr_assert_eq(tr_history_count(h), 2);
    cr_assert_null(tr_history_create(0));
    cr_assert_null(tr_history_create(TR_HISTORY_OPS_MAX + 1ull));
    tr_history_destroy(h);
}

Test(history_api, full_history_refuses_with_efull) {
    tr_history *h = fresh(2);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 1), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "add", 0, true, 1), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "add", 0, true, 1), TR_EFULL);
    tr_history_destroy(h);
}

Test(history_api, name_table_is_bounded_and_a_refused_append_interns_nothing) {
    tr_history *h = fresh(1000);
    char name[16];
    int custom = TR_HISTORY_F_MAX - 5; /* read, write, cas, reserve, restock are built in */
    for (int i = 0; i < custom - 1; i++) {
        snprintf(name, sizeof name, "op%d", i);
        cr_assert_eq(add(h, TR_HISTORY_INVOKE, i, name, 0, false, 0), 0, "%s", name);
    }
    /* refused (process 0 is busy): its new name must not take the last free entry */
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "lost", 0, false, 0), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1000, "last", 0, false, 0), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1001, "one-too-many", 0, false, 0), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1001, "op3", 0, false, 0), 0); /* known names */
    tr_history_destroy(h);
}

static char *dump(const tr_history *h, bool edn) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(edn ? tr_history_write_edn(h, f) : tr_history_write_json(h, f), 0);
    fclose(f);
    return buf;
}

static tr_history *reload(const char *text) {
    char path[] = "/tmp/troupe-history-api-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    tr_history *h = NULL;
    char err[200];
    int rc = tr_history_load(path, 1000, &h, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    return h;
}

static void assert_same(const tr_history *a, const tr_history *b) {
    cr_assert_eq(tr_history_count(a), tr_history_count(b));
    for (size_t i = 0; i < tr_history_count(a); i++) {
        tr_history_op x, y;
        cr_assert_eq(tr_history_get(a, i, &x), 0);
        cr_assert_eq(tr_history_get(b, i, &y), 0);
        cr_assert_str_eq(x.f, y.f, "op %zu", i);
        cr_assert_str_eq(x.error, y.error, "op %zu", i);
        cr_assert(x.time_ns == y.time_ns && x.process == y.process && x.node == y.node &&
                      x.type == y.type && x.key == y.key && x.has_value == y.has_value &&
                      x.pair == y.pair && x.value == y.value && x.value_to == y.value_to,
                  "op %zu", i);
    }
}

Test(history_api, custom_names_round_trip_through_edn_and_json) {
    tr_history *h = fresh(100);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "deposit", 4, true, 50), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "balance", 4, false, 0), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "deposit", 4, true, 50), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 2, "balance", 4, true, 50), 0);
    cr_assert_eq(add_pair(h, TR_HISTORY_INVOKE, 3, "transfer-to", 4, 7, 20), 0);
    tr_history_op fail = op_of(TR_HISTORY_FAIL, 3, "transfer-to", 4);
    fail.has_value = fail.pair = true;
    fail.value = 7;
    fail.value_to = 20;
    fail.error = "overdraft";
    cr_assert_eq(tr_history_append(h, &fail), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 3, "write", 5, true, 9), 0);
    cr_assert_eq(add(h, TR_HISTORY_INFO, 3, "write", 5, true, 9), 0);
    char *edn = dump(h, true);
    cr_assert_not_null(strstr(edn, ":f :deposit, :value [4 50]"), "%s", edn);
    cr_assert_not_null(strstr(edn, ":f :transfer-to, :value [4 [7 20]]"), "%s", edn);
    cr_assert_not_null(strstr(edn, ":f :balance, :value [4 nil]"), "%s", edn);
    char *json = dump(h, false);
    cr_assert_not_null(strstr(json, "\"f\":\"deposit\""), "%s", json);
    for (int edn_first = 0; edn_first < 2; edn_first++) {
        tr_history *back = reload(edn_first ? edn : json);
        assert_same(h, back);
        char *again = dump(back, edn_first);
        cr_assert_str_eq(again, edn_first ? edn : json); /* byte for byte */
        free(again);
        tr_history_destroy(back);
    }
    free(edn);
    free(json);
    tr_history_destroy(h);
}

/* The built-in operations appended through the public API export exactly as the recorders'
 * (the files troupe sim and troupe check write keep their bytes). */
Test(history_api, built_in_operations_export_as_the_recorders_do) {
    tr_history *mine = fresh(100);
    cr_assert_eq(add(mine, TR_HISTORY_INVOKE, 0, "write", 1, true, 5), 0);
    cr_assert_eq(add(mine, TR_HISTORY_OK, 0, "write", 1, true, 5), 0);
    cr_assert_eq(add_pair(mine, TR_HISTORY_INVOKE, 0, "cas", 1, 5, 6), 0);
    cr_assert_eq(add_pair(mine, TR_HISTORY_OK, 0, "cas", 1, 5, 6), 0);
    cr_assert_eq(add(mine, TR_HISTORY_INVOKE, 0, "read", 1, false, 0), 0);
    cr_assert_eq(add(mine, TR_HISTORY_OK, 0, "read", 1, true, 6), 0);
    tr_history *rec = tr__history_create(100);
    cr_assert_eq(tr__history_invoke_write(rec, 1, 0, 1, 5, 0), 0);
    cr_assert_eq(tr__history_ok(rec, 2, 0), 0);
    cr_assert_eq(tr__history_invoke_cas(rec, 3, 0, 1, 5, 6, 0), 0);
    cr_assert_eq(tr__history_ok(rec, 4, 0), 0);
    cr_assert_eq(tr__history_invoke_read(rec, 5, 0, 1, 0), 0);
    cr_assert_eq(tr__history_ok_read(rec, 6, 0, true, 6), 0);
    for (int edn = 0; edn < 2; edn++) {
        char *a = dump(mine, edn), *b = dump(rec, edn);
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    cr_assert_eq(tr__history_op(mine, 2)->f, TR_F_CAS);
    tr_history_destroy(mine);
    tr__history_destroy(rec);
}

Test(history_api, counter_model_accepts_a_linearizable_history) {
    tr_history *h = fresh(100);
    add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 5);
    add(h, TR_HISTORY_INVOKE, 2, "add", 0, true, 3);
    add(h, TR_HISTORY_INVOKE, 3, "read", 0, false, 0);
    add(h, TR_HISTORY_OK, 3, "read", 0, true, 3); /* add 3 went first */
    add(h, TR_HISTORY_OK, 1, "add", 0, true, 5);
    add(h, TR_HISTORY_INFO, 2, "add", 0, true, 3);
    add(h, TR_HISTORY_INVOKE, 4, "read", 0, false, 0);
    add(h, TR_HISTORY_OK, 4, "read", 0, true, 8);
    add(h, TR_HISTORY_INVOKE, 5, "add", 1, true, 2); /* another key, its own counter */
    add(h, TR_HISTORY_OK, 5, "add", 1, true, 2);
    add(h, TR_HISTORY_INVOKE, 5, "read", 1, false, 0);
    add(h, TR_HISTORY_OK, 5, "read", 1, true, 2);
    cr_assert_eq(tr_history_count(h), 12);
    cr_assert_eq(check(h, &counter, 0), TR_VERDICT_HELD);
    tr_history_destroy(h);
}

Test(history_api, counter_model_rejects_a_lost_add) {
    tr_history *h = fresh(100);
    add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 5);
    add(h, TR_HISTORY_OK, 1, "add", 0, true, 5);
    add(h, TR_HISTORY_INVOKE, 2, "add", 0, true, 3);
    add(h, TR_HISTORY_INVOKE, 3, "read", 0, false, 0);
    add(h, TR_HISTORY_OK, 2, "add", 0, true, 3);
    add(h, TR_HISTORY_OK, 3, "read", 0, true, 5); /* fine: the add of 3 may come after */
    add(h, TR_HISTORY_INVOKE, 3, "read", 0, false, 0);
    add(h, TR_HISTORY_OK, 3, "read", 0, true, 5); /* not fine: both adds were acknowledged */
    tr_lin_result res;
    cr_assert_eq(tr_lincheck_history(h, &counter, 0, &res), 0);
    cr_assert_eq(res.verdict, TR_VERDICT_VIOLATED, "%s", res.why);
    cr_assert_eq(res.key, 0);
    cr_assert_eq(res.op_index, 7);
    tr_history_destroy(h);
}

Test(history_api, counter_model_lets_an_info_add_land_late_or_never) {
    for (int late = 0; late < 2; late++) {
        tr_history *h = fresh(100);
        add(h, TR_HISTORY_INVOKE, 1, "add", 0, true, 5);
        add(h, TR_HISTORY_INFO, 1, "add", 0, true, 5);
        add(h, TR_HISTORY_INVOKE, 2, "read", 0, false, 0);
        add(h, TR_HISTORY_OK, 2, "read", 0, true, 0);
        add(h, TR_HISTORY_INVOKE, 2, "read", 0, false, 0);
        add(h, TR_HISTORY_OK, 2, "read", 0, true, late ? 5 : 0);
        cr_assert_eq(check(h, &counter, 0), TR_VERDICT_HELD);
        add(h, TR_HISTORY_INVOKE, 2, "read", 0, false, 0);
        add(h, TR_HISTORY_OK, 2, "read", 0, true, late ? 0 : 10); /* never undone, nor twice */
        cr_assert_eq(check(h, &counter, 0), TR_VERDICT_VIOLATED);
        tr_history_destroy(h);
    }
}

Test(history_api, cas_register_model_through_the_public_api) {
    tr_history *h = fresh(100);
    add(h, TR_HISTORY_INVOKE, 1, "write", 0, true, 1);
    add(h, TR_HISTORY_OK, 1, "write", 0, true, 1);
    add_pair(h, TR_HISTORY_INVOKE, 1, "cas", 0, 1, 2);
    add_pair(h, TR_HISTORY_OK, 1, "cas", 0, 1, 2);
    add_pair(h, TR_HISTORY_INVOKE, 2, "cas", 0, 1, 3);
    add_pair(h, TR_HISTORY_FAIL, 2, "cas", 0, 1, 3); /* the register held 2 */
    add(h, TR_HISTORY_INVOKE, 1, "read", 0, false, 0);
    add(h, TR_HISTORY_OK, 1, "read", 0, true, 2);
    tr_lin_model general = tr_lin_model_cas_register;
    cr_assert_eq(check(h, &tr_lin_model_cas_register, 0), TR_VERDICT_HELD);
    cr_assert_eq(check(h, &general, 0), TR_VERDICT_HELD);
    tr_lin_result res;
    cr_assert_eq(tr_lincheck_history(h, &tr_lin_model_register, 0, &res), TR_EINVAL); /* cas */
    cr_assert_neq(res.verdict, TR_VERDICT_HELD);
    add_pair(h, TR_HISTORY_INVOKE, 1, "cas", 0, 1, 4);
    add_pair(h, TR_HISTORY_OK, 1, "cas", 0, 1, 4); /* from 1, but it held 2 */
    cr_assert_eq(check(h, &tr_lin_model_cas_register, 0), TR_VERDICT_VIOLATED);
    cr_assert_eq(check(h, &general, 0), TR_VERDICT_VIOLATED);
    tr_history_destroy(h);
}

Test(history_api, register_model_refuses_operations_it_does_not_know) {
    tr_history *h = fresh(10);
    add(h, TR_HISTORY_INVOKE, 1, "deposit", 0, true, 1);
    tr_lin_result res;
    cr_assert_eq(tr_lincheck_history(h, &tr_lin_model_register, 0, &res), TR_EINVAL);
    cr_assert_eq(tr_lincheck_history(h, &tr_lin_model_cas_register, 0, &res), TR_EINVAL);
    tr_lin_model big = counter;
    big.state_size = 65;
    cr_assert_eq(tr_lincheck_history(h, &big, 0, &res), TR_EINVAL);
    tr_history_destroy(h);
}

/* n concurrent adds and a read no order explains: the search must try every order. */
Test(history_api, tiny_budget_answers_unknown_never_held) {
    tr_history *h = fresh(1000);
    for (int p = 0; p < 12; p++) {
        add(h, TR_HISTORY_INVOKE, p, "add", 0, true, 1 << p);
    }
    add(h, TR_HISTORY_INVOKE, 50, "read", 0, false, 0);
    for (int p = 0; p < 12; p++) {
        add(h, TR_HISTORY_OK, p, "add", 0, true, 1 << p);
    }
    add(h, TR_HISTORY_OK, 50, "read", 0, true, -1);
    tr_lin_result res;
    cr_assert_eq(tr_lincheck_history(h, &counter, 100, &res), 0);
    cr_assert_eq(res.verdict, TR_VERDICT_UNKNOWN, "%s", res.why);
    cr_assert_eq(res.key, 0);
    cr_assert_leq(res.configs, 100);
    cr_assert_eq(check(h, &counter, 0), TR_VERDICT_VIOLATED); /* the default budget decides */
    tr_history_destroy(h);
}

Test(history_api, tiny_budget_answers_unknown_with_the_built_in_models) {
    tr_history *h = fresh(1000);
    for (int p = 0; p < 12; p++) {
        add(h, TR_HISTORY_INVOKE, p, "write", 1, true, p + 1);
    }
    add(h, TR_HISTORY_INVOKE, 50, "read", 1, false, 0);
    for (int p = 0; p < 12; p++) {
        add(h, TR_HISTORY_OK, p, "write", 1, true, p + 1);
    }
    add(h, TR_HISTORY_OK, 50, "read", 1, true, 1000);
    tr_lin_model general = tr_lin_model_register;
    const tr_lin_model *models[] = {&tr_lin_model_register, &tr_lin_model_cas_register, &general};
    for (int i = 0; i < 3; i++) {
        tr_lin_result res;
        cr_assert_eq(tr_lincheck_history(h, models[i], 500, &res), 0);
        cr_assert_eq(res.verdict, TR_VERDICT_UNKNOWN, "model %d: %s", i, res.why);
        cr_assert_leq(res.configs, 500);
        cr_assert_eq(check(h, models[i], 0), TR_VERDICT_VIOLATED);
    }
    tr_history_destroy(h);
}
