/* Values of any kind in the public history API (troupe.h tr_value): recording, interning,
 * the EDN and JSON round trip (and an independent reader: edn_format and python's json),
 * the linearizability checker over string values, and hostile history files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/history.h"
#include "tests/troupe_cli.h"
#include "troupe.h"

static int64_t now;

#define TEXT "h\xc3\xa9llo \"w\"\n\t\x01 \xe2\x9c\x93" /* escapes, a control byte, non-ASCII */

static tr_value str(const char *s) {
    return (tr_value){.kind = TR_VALUE_STRING, .bytes = s, .len = strlen(s)};
}
static tr_value kw(const char *s) {
    return (tr_value){.kind = TR_VALUE_KEYWORD, .bytes = s, .len = strlen(s)};
}
static tr_value num(int64_t i) {
    return (tr_value){.kind = TR_VALUE_INT, .i = i};
}
static tr_value nil(void) {
    return (tr_value){.kind = TR_VALUE_NIL};
}
static tr_value tuple(const tr_value *items, size_t n) {
    return (tr_value){.kind = TR_VALUE_TUPLE, .items = items, .len = n};
}

/* Appends an op whose value is v (NULL: nil through the fast fields). */
static int add(tr_history *h, tr_history_type type, int64_t p, const char *f, int64_t key,
               const tr_value *v, const char *error) {
    tr_history_op op = {.time_ns = ++now,
                        .process = p,
                        .node = 1,
                        .type = type,
                        .f = f,
                        .key = key,
                        .error = error,
                        .any = v};
    return tr_history_append(h, &op);
}

static tr_history *fresh(void) {
    now = 0;
    tr_history *h = tr_history_create(1000);
    cr_assert_not_null(h);
    return h;
}

/* One history with every kind of value (tests/sim/history_values_read.py knows it). */
static tr_history *every_kind(void) {
    tr_history *h = fresh();
    static const uint8_t raw[] = {0x00, 0x01, 0xff, 0x80}, body[] = {0x81, 0xa1, 'a', 0x01};
    tr_value text = str(TEXT), pair[] = {num(2), num(3)};
    tr_value bytes = {.kind = TR_VALUE_BYTES, .bytes = (const char *)raw, .len = sizeof raw};
    tr_value items[] = {num(1), str("a"), kw("kw"), nil(), tuple(pair, 2), bytes};
    tr_value put = tuple(items, 6), done = kw("done"), four_five[] = {num(4), num(5)};
    tr_value msgpack = {.kind = TR_VALUE_BYTES, .bytes = (const char *)body, .len = sizeof body};
    tr_value tw = tuple(four_five, 2), seven_eight[] = {num(7), num(8)}, nine = num(9);
    tr_value dep = tuple(seven_eight, 2), one_two[] = {num(1), num(2)}, cas = tuple(one_two, 2);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "write", 1, &text, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "write", 1, &text, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "read", 1, NULL, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "read", 1, &text, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 2, "put", 2, &put, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 2, "put", 2, &done, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 3, "enqueue", 0, &msgpack, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INFO, 3, "enqueue", 0, NULL, "timeout"), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 4, "write", 3, &tw, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_FAIL, 4, "write", 3, &tw, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 5, "deposit", 4, &dep, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 5, "deposit", 4, &nine, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 6, "cas", 5, &cas, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 6, "cas", 5, &cas, NULL), 0);
    return h;
}

static bool same_op(const tr_history_op *a, const tr_history_op *b) {
    bool value = a->any || b->any ? tr_value_equal(a->any, b->any)
                                  : a->has_value == b->has_value && a->pair == b->pair &&
                                        a->value == b->value && a->value_to == b->value_to;
    return value && a->index == b->index && a->time_ns == b->time_ns && a->process == b->process &&
           a->node == b->node && a->type == b->type && !strcmp(a->f, b->f) && a->key == b->key &&
           !strcmp(a->error, b->error);
}

static void assert_same(const tr_history *a, const tr_history *b) {
    cr_assert_eq(tr_history_count(a), tr_history_count(b));
    for (size_t i = 0; i < tr_history_count(a); i++) {
        tr_history_op x, y;
        cr_assert_eq(tr_history_get(a, i, &x), 0);
        cr_assert_eq(tr_history_get(b, i, &y), 0);
        cr_assert(same_op(&x, &y), "op %zu differs", i);
    }
}

/* Writes h (EDN when edn) to a new temporary file; its path in path[64]. */
static void write_file(const tr_history *h, bool edn, char *path) {
    snprintf(path, 64, "/tmp/troupe-values-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_eq(edn ? tr_history_write_edn(h, f) : tr_history_write_json(h, f), 0);
    fclose(f);
}

static void round_trip(bool edn) {
    tr_history *h = every_kind(), *back = NULL;
    char path[64], err[200] = "";
    write_file(h, edn, path);
    cr_assert_eq(tr_history_load(path, 1000, &back, err, sizeof err), 0, "%s", err);
    assert_same(h, back);
    unlink(path);
    tr_history_destroy(back);
    tr_history_destroy(h);
}

Test(history_values, every_kind_round_trips_through_edn) {
    round_trip(true);
}

Test(history_values, every_kind_round_trips_through_json) {
    round_trip(false);
}

/* edn_format and python's json read what troupe wrote as the values it recorded. */
Test(history_values, an_independent_reader_reads_the_edn_and_the_json) {
    tr_history *h = every_kind();
    char edn[64], json[64], cmd[256], out[2048] = "";
    write_file(h, true, edn);
    write_file(h, false, json);
    snprintf(cmd, sizeof cmd, "python3 tests/sim/history_values_read.py %s %s 2>&1", edn, json);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "14 ops read alike"), "%s", out);
    unlink(edn);
    unlink(json);
    tr_history_destroy(h);
}

Test(history_values, small_values_use_the_fast_fields_and_others_are_interned_views) {
    tr_history *h = every_kind();
    tr_history_op op, other;
    tr_history_get(h, 10, &op); /* deposit [7 8]: a pair */
    cr_assert(op.any == NULL && op.has_value && op.pair && op.value == 7 && op.value_to == 8);
    tr_history_get(h, 11, &op); /* its ok: 9 */
    cr_assert(op.any == NULL && op.has_value && !op.pair && op.value == 9);
    tr_history_get(h, 8, &op); /* write [4 5]: read and write keep a pair as a tuple */
    cr_assert(op.any && op.any->kind == TR_VALUE_TUPLE && op.any->len == 2 && op.has_value);
    tr_history_get(h, 0, &op);
    tr_history_get(h, 3, &other); /* the read returned the same string: the same view */
    cr_assert(op.any && op.any == other.any);
    cr_assert(op.any->len == strlen(TEXT) && !memcmp(op.any->bytes, TEXT, op.any->len));
    cr_assert_eq(op.any->bytes[op.any->len], '\0');
    tr_history_destroy(h);
}

Test(history_values, a_completion_must_repeat_its_invokes_value) {
    tr_history *h = fresh();
    tr_value a = str("a"), b = str("b");
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "write", 0, &a, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "write", 0, &b, NULL), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "write", 0, NULL, NULL), TR_EINVAL);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "write", 0, &a, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "cas", 0, &a, NULL), TR_EINVAL); /* pairs only */
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "read", 0, &a, NULL), TR_EINVAL);
    cr_assert_eq(tr_history_count(h), 2);
    tr_history_destroy(h);
}

Test(history_values, values_over_the_limits_are_refused_and_change_nothing) {
    tr_history *h = fresh();
    tr_value nest[TR_VALUE_DEPTH_MAX + 2];
    nest[TR_VALUE_DEPTH_MAX + 1] = num(1);
    for (int i = TR_VALUE_DEPTH_MAX; i >= 0; i--) {
        nest[i] = tuple(&nest[i + 1], 1);
    }
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "put", 0, &nest[0], NULL), TR_EINVAL); /* 17 */
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "put", 0, &nest[1], NULL), 0);         /* 16 */
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "put", 0, NULL, NULL), 0);
    char *big = malloc(TR_VALUE_BYTES_MAX + 2);
    memset(big, 'x', TR_VALUE_BYTES_MAX + 1);
    big[TR_VALUE_BYTES_MAX + 1] = '\0';
    tr_value bad[] = {str(big),
                      str("\xc3\x28"),
                      str("\xed\xa0\x80"),
                      str("\xc0\xaf"),
                      str("\xe0\x80\xaf"),
                      str("\xf4\x90\x80\x80"),
                      kw("1x"),
                      kw("a b"),
                      {.kind = TR_VALUE_STRING, .bytes = "a\0b", .len = 3},
                      {.kind = (tr_value_kind)9}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "put", 0, &bad[i], NULL), TR_EINVAL, "%zu", i);
    }
    big[TR_VALUE_BYTES_MAX] = '\0';
    tr_value fits = str(big), no_items = {.kind = TR_VALUE_TUPLE, .len = 2};
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "put", 0, &no_items, NULL), TR_EINVAL);
    cr_assert_eq(tr_history_count(h), 2);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "put", 0, &fits, NULL), 0);
    free(big);
    tr_history_destroy(h);
}

/* The largest string and bytes fit both formats (bytes: a base64 text a third longer). */
Test(history_values, the_largest_values_round_trip) {
    tr_history *h = fresh();
    char *big = malloc(TR_VALUE_BYTES_MAX + 1);
    for (size_t i = 0; i < TR_VALUE_BYTES_MAX; i++) {
        big[i] = (char)('a' + i % 26);
    }
    big[TR_VALUE_BYTES_MAX] = '\0';
    tr_value s = str(big), b = {.kind = TR_VALUE_BYTES, .bytes = big, .len = TR_VALUE_BYTES_MAX};
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "put", 0, &s, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "put", 0, &b, NULL), 0);
    for (int edn = 0; edn < 2; edn++) {
        char path[64], err[200] = "";
        tr_history *back = NULL;
        write_file(h, edn, path);
        cr_assert_eq(tr_history_load(path, 10, &back, err, sizeof err), 0, "%s", err);
        assert_same(h, back);
        unlink(path);
        tr_history_destroy(back);
    }
    free(big);
    tr_history_destroy(h);
}

/* ---- the checker sees values --------------------------------------------------------- */

/* A register of strings as a user writes one: the state is the interned view of the value
 * (equal strings are one view in a history, so the state compares as bytes). */
static void sreg_init(void *state) {
    memset(state, 0, sizeof(const tr_value *));
}

static bool sreg_step(void *state, const tr_history_op *inv, const tr_history_op *ret) {
    const tr_value **cur = state;
    if (!strcmp(inv->f, "write") && inv->any && inv->any->kind == TR_VALUE_STRING) {
        *cur = inv->any;
        return true;
    }
    if (!strcmp(inv->f, "read")) {
        return !ret || (ret->any ? *cur && tr_value_equal(*cur, ret->any) : !*cur);
    }
    return false;
}

static const tr_lin_model string_register = {
    .name = "string-register", .state_size = sizeof(void *), .init = sreg_init, .step = sreg_step};

/* w(a) ok, then w(b) ok, then a read returning `got` (and a concurrent read of nil). */
static tr_history *string_history(const char *got) {
    tr_history *h = fresh();
    tr_value a = str("apple"), b = str("banana"), r = str(got);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "write", 7, &a, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "write", 7, &a, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 0, "write", 7, &b, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 0, "write", 7, &b, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_INVOKE, 1, "read", 7, NULL, NULL), 0);
    cr_assert_eq(add(h, TR_HISTORY_OK, 1, "read", 7, &r, NULL), 0);
    return h;
}

static tr_verdict check(const tr_history *h, const tr_lin_model *m, tr_lin_result *r) {
    cr_assert_eq(tr_lincheck_history(h, m, 0, r), 0);
    return r->verdict;
}

Test(history_values, a_string_register_model_finds_a_stale_string_read) {
    tr_lin_result r;
    tr_history *good = string_history("banana"), *stale = string_history("apple");
    cr_assert_eq(check(good, &string_register, &r), TR_VERDICT_HELD, "%s", r.why);
    cr_assert(r.keys == 1 && r.calls == 3 && r.keys_unknown == 0);
    cr_assert_eq(tr_lincheck_history(good, &string_register, 1, &r), 0); /* a budget of 1 */
    cr_assert(r.verdict == TR_VERDICT_UNKNOWN && r.keys_unknown == 1, "%s", r.why);
    cr_assert_eq(check(stale, &string_register, &r), TR_VERDICT_VIOLATED, "%s", r.why);
    cr_assert_eq(r.key, 7);
    cr_assert_eq(r.op_index, 5, "%s", r.why); /* the read that returned apple */
    tr_history_destroy(good);
    tr_history_destroy(stale);
}

Test(history_values, the_builtin_register_models_compare_any_values_whole) {
    tr_lin_result r;
    tr_history *good = string_history("banana"), *stale = string_history("apple");
    cr_assert_eq(check(good, &tr_lin_model_register, &r), TR_VERDICT_HELD, "%s", r.why);
    cr_assert_eq(check(stale, &tr_lin_model_register, &r), TR_VERDICT_VIOLATED);
    cr_assert_eq(check(stale, &tr_lin_model_cas_register, &r), TR_VERDICT_VIOLATED);
    cr_assert_eq(r.op_index, 5, "%s", r.why);
    tr_history_destroy(good);
    tr_history_destroy(stale);
}

/* ---- hostile history files ----------------------------------------------------------- */

static void expect_bad(const char *text, size_t len, bool edn, const char *needle) {
    tr_history *h = (tr_history *)1;
    char err[256] = "";
    int rc = edn ? tr__history_load_edn(text, len, 100, &h, err, sizeof err)
                 : tr__history_load_json(text, len, 100, &h, err, sizeof err);
    cr_assert_eq(rc, TR_ECORRUPT, "%.80s -> %s", text, err);
    cr_assert_null(h);
    cr_assert(strstr(err, needle), "error for %.80s was '%s', wanted '%s'", text, err, needle);
    cr_assert(!strchr(err, '\n'), "one line: %s", err);
}

#define EDN_OP(V) "[{:type :invoke, :process 0, :f :put, :value [0 " V "]}]"
#define JSON_OP(V) "[{\"type\":\"invoke\",\"process\":0,\"f\":\"put\",\"value\":[0," V "]}]"

Test(history_values, hostile_edn_values_get_one_line_errors_with_their_position) {
    expect_bad(EDN_OP("\"a\xff\""), strlen(EDN_OP("\"a\xff\"")), true,
               "line 1 column 49: op 0: a string is not valid UTF-8");
    expect_bad(EDN_OP("\"a\\qb\""), strlen(EDN_OP("\"a\\qb\"")), true, "bad escape");
    expect_bad(EDN_OP("\"\\u00zz\""), strlen(EDN_OP("\"\\u00zz\"")), true, "bad escape");
    expect_bad(EDN_OP("\"\\ud800\""), strlen(EDN_OP("\"\\ud800\"")), true, "bad escape");
    expect_bad(EDN_OP("\"\\u0000\""), strlen(EDN_OP("\"\\u0000\"")), true, "bad escape");
    expect_bad(EDN_OP("\"open"), strlen(EDN_OP("\"open")), true, "end of the file");
    expect_bad(EDN_OP(":9x"), strlen(EDN_OP(":9x")), true, "a keyword must be");
    expect_bad(EDN_OP("{:hex \"00\"}"), strlen(EDN_OP("{:hex \"00\"}")), true, "{:base64");
    expect_bad(EDN_OP("{:base64 \"AA=\"}"), strlen(EDN_OP("{:base64 \"AA=\"}")), true, "RFC 4648");
    expect_bad(EDN_OP("true"), strlen(EDN_OP("true")), true, "expected a value");
    /* a string over the limit, and nesting a million deep: refused, memory bounded */
    size_t big = 4u * 1024u * 1024u;
    char *text = malloc(big + 100);
    int n = snprintf(text, 100, "[{:type :invoke, :process 0, :f :put, :value [0 \"");
    memset(text + n, 'x', big);
    memcpy(text + n + big, "\"]}]", 4);
    expect_bad(text, (size_t)n + big + 4, true, "a string longer than 65536 bytes");
    n = snprintf(text, 100, "[{:type :invoke, :process 0, :f :put, :value [0 ");
    memset(text + n, '[', big);
    expect_bad(text, (size_t)n + big, true, "line 1 column 65: op 0: tuples nested deeper");
    free(text);
}

Test(history_values, hostile_json_values_get_one_line_errors_with_their_position) {
    expect_bad(JSON_OP("\"a\xff\""), strlen(JSON_OP("\"a\xff\"")), false, "line 1 column");
    expect_bad(JSON_OP("\"a\\qb\""), strlen(JSON_OP("\"a\\qb\"")), false, "line 1 column");
    expect_bad(JSON_OP("\"\\u0000\""), strlen(JSON_OP("\"\\u0000\"")), false, "line 1 column");
    expect_bad(JSON_OP("1.5"), strlen(JSON_OP("1.5")), false, "op 0: a number must be an integer");
    expect_bad(JSON_OP("true"), strlen(JSON_OP("true")), false, "op 0: true and false");
    expect_bad(JSON_OP("{\"hex\":\"00\"}"), strlen(JSON_OP("{\"hex\":\"00\"}")), false,
               "{\"keyword\": name} or {\"base64\": text}");
    expect_bad(JSON_OP("{\"keyword\":\"a b\"}"), strlen(JSON_OP("{\"keyword\":\"a b\"}")), false,
               "keyword");
    expect_bad(JSON_OP("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]"),
               strlen(JSON_OP("[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]")), false,
               "line 1: op 0: tuples nested deeper than 16");
    size_t big = 4u * 1024u * 1024u;
    char *text = malloc(big + 100);
    int n =
        snprintf(text, 100, "[{\"type\":\"invoke\",\"process\":0,\"f\":\"put\",\"value\":[0,\"");
    memset(text + n, 'x', big);
    memcpy(text + n + big, "\"]}]", 4);
    expect_bad(text, (size_t)n + big + 4, false, "op 0: a string longer than 65536 bytes");
    n = snprintf(text, 100, "[{\"type\":\"invoke\",\"process\":0,\"f\":\"put\",\"value\":[0,");
    memset(text + n, '[', big);
    expect_bad(text, (size_t)n + big, false, "line 1 column");
    free(text);
}

Test(history_values, a_cas_value_must_stay_a_pair_of_integers) {
    expect_bad("[{:type :invoke, :process 0, :f :cas, :value [0 \"a\"]}]",
               strlen("[{:type :invoke, :process 0, :f :cas, :value [0 \"a\"]}]"), true,
               "a cas value must be [key [from to]]");
    expect_bad(
        "[{\"type\":\"invoke\",\"process\":0,\"f\":\"cas\",\"value\":[0,[1,\"a\"]]}]",
        strlen("[{\"type\":\"invoke\",\"process\":0,\"f\":\"cas\",\"value\":[0,[1,\"a\"]]}]"),
        false, "a cas value must be [key, [from, to]]");
}

/* ---- troupe check ---------------------------------------------------------------------- */

/* Writes text to a new temporary file named in path[64]. */
static void text_file(const char *text, char *path) {
    snprintf(path, 64, "/tmp/troupe-values-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int check_cli(const char *text, char *out, size_t cap) {
    char path[64];
    text_file(text, path);
    int rc = troupe_cli("", "check", path, true, out, cap);
    unlink(path);
    return rc;
}

#define STRING_HISTORY(READ)                                             \
    "[{:type :invoke, :process 0, :f :write, :value [7 \"apple\"]}\n"    \
    " {:type :ok, :process 0, :f :write, :value [7 \"apple\"]}\n"        \
    " {:type :invoke, :process 0, :f :write, :value [7 [\"b\" :x 1]]}\n" \
    " {:type :ok, :process 0, :f :write, :value [7 [\"b\" :x 1]]}\n"     \
    " {:type :invoke, :process 1, :f :read, :value [7 nil]}\n"           \
    " {:type :ok, :process 1, :f :read, :value [7 " READ "]}]\n"

Test(history_values, troupe_check_checks_string_and_tuple_registers) {
    char out[2048];
    cr_assert_eq(check_cli(STRING_HISTORY("[\"b\" :x 1]"), out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "linearizable: yes"), "%s", out);
    cr_assert_eq(check_cli(STRING_HISTORY("\"apple\""), out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "index 5, key 7, process 1, ok read \"apple\""), "%s", out);
}

Test(history_values, troupe_check_names_a_bad_value_in_one_line) {
    char out[2048];
    cr_assert_eq(check_cli(STRING_HISTORY("\"\xff\""), out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "line 6 column 46: op 5: a string is not valid UTF-8\n"), "%s", out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
}
