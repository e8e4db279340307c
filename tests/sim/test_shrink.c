/* Shrinking a fault schedule (sim/shrink.h) against synthetic failure tests, and the
 * scenario lines it writes (tr__scenario_format) read back by the parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scenario.h"
#include "sim/shrink.h"

/* A list of n faults told apart by value = their index. */
static tr_scenario faults_of(size_t n) {
    tr_scenario s = {.events = calloc(n, sizeof(tr_scen_event)), .count = n, .cap = n};
    cr_assert_not_null(s.events);
    for (size_t i = 0; i < n; i++) {
        s.events[i] = (tr_scen_event){.at_ns = (i + 1) * 1000000000ull,
                                      .kind = TR_SCEN_CLOCK_JUMP,
                                      .a = (uint32_t)(i % 5),
                                      .value = (int64_t)i};
    }
    return s;
}

typedef struct needs {
    int64_t all[8]; /* the run fails when every one of these is present ... */
    size_t all_count;
    int64_t any[8]; /* ... and (when any_count > 0) at least one of these */
    size_t any_count;
    uint64_t runs;
    int error_at; /* return TR_EIO on this run (0: never) */
} needs;

static bool has(const tr_scen_event *ev, size_t n, int64_t v) {
    for (size_t i = 0; i < n; i++) {
        if (ev[i].value == v) {
            return true;
        }
    }
    return false;
}

static int fails(const tr_scen_event *ev, size_t n, void *ud) {
    needs *w = ud;
    w->runs++;
    if (w->error_at != 0 && w->runs == (uint64_t)w->error_at) {
        return TR_EIO;
    }
    for (size_t i = 1; i < n; i++) {
        cr_assert_lt(ev[i - 1].value, ev[i].value, "a candidate keeps the input's order");
    }
    bool all = true, any = w->any_count == 0;
    for (size_t i = 0; i < w->all_count; i++) {
        all = all && has(ev, n, w->all[i]);
    }
    for (size_t i = 0; i < w->any_count; i++) {
        any = any || has(ev, n, w->any[i]);
    }
    return all && any ? 1 : 0;
}

/* The shrink of n faults under w, checked to fail and to be 1-minimal by running the test. */
static void shrink_checked(size_t n, needs *w, tr__shrink_result *res) {
    tr_scenario in = faults_of(n);
    cr_assert_eq(fails(in.events, in.count, w), 1, "the whole list must fail");
    w->runs = 0;
    cr_assert_eq(tr__shrink(&in, 10000, fails, w, res), 0);
    cr_assert_eq(res->runs, w->runs, "every test is counted");
    cr_assert(res->minimal && !res->exhausted);
    const tr_scenario *m = &res->faults;
    cr_assert_eq(fails(m->events, m->count, w), 1, "the result still fails");
    tr_scen_event *less = malloc((m->count + 1) * sizeof *less);
    for (size_t i = 0; i < m->count; i++) { /* 1-minimal: without any one it passes */
        memcpy(less, m->events, i * sizeof *less);
        memcpy(less + i, m->events + i + 1, (m->count - i - 1) * sizeof *less);
        cr_assert_eq(fails(less, m->count - 1, w), 0, "without fault %zu it still fails", i);
    }
    free(less);
    tr__scenario_free(&in);
}

Test(shrink, two_needed_faults_of_forty_are_found_exactly) {
    needs w = {.all = {3, 37}, .all_count = 2};
    tr__shrink_result res;
    shrink_checked(40, &w, &res);
    cr_assert_eq(res.faults.count, 2);
    cr_assert(res.faults.events[0].value == 3 && res.faults.events[1].value == 37);
    cr_assert_lt(res.runs, 60, "ddmin needs far fewer runs than single removals (%llu)",
                 (unsigned long long)res.runs);
    tr__shrink_result_free(&res);
}

Test(shrink, neighbouring_faults_are_separated_by_the_minimality_pass) {
    /* ddmin stops at chunks of two: 10 and 11 share one, and only the last pass parts them
     * from their chunk-mates. */
    needs w = {.all = {10, 12, 13}, .all_count = 3};
    tr__shrink_result res;
    shrink_checked(16, &w, &res);
    cr_assert_eq(res.faults.count, 3);
    tr__shrink_result_free(&res);
}

Test(shrink, one_of_several_sufficient_faults_is_kept) {
    needs w = {.any = {5, 6, 20}, .any_count = 3};
    tr__shrink_result res;
    shrink_checked(24, &w, &res);
    cr_assert_eq(res.faults.count, 1);
    tr__shrink_result_free(&res);
}

Test(shrink, a_failure_without_faults_shrinks_to_none) {
    needs w = {0};
    tr__shrink_result res;
    shrink_checked(7, &w, &res);
    cr_assert_eq(res.faults.count, 0);
    tr__shrink_result_free(&res);
}

Test(shrink, the_same_answers_give_the_same_shrink) {
    tr__shrink_result a, b;
    needs w1 = {.all = {1, 8, 9}, .all_count = 3}, w2 = w1;
    shrink_checked(30, &w1, &a);
    shrink_checked(30, &w2, &b);
    cr_assert_eq(a.runs, b.runs);
    cr_assert_eq(a.faults.count, b.faults.count);
    cr_assert_arr_eq(a.faults.events, b.faults.events, a.faults.count * sizeof(tr_scen_event));
    tr__shrink_result_free(&a);
    tr__shrink_result_free(&b);
}

Test(shrink, an_exhausted_budget_keeps_the_smallest_failing_list_not_proven) {
    needs w = {.all = {3, 37}, .all_count = 2};
    tr_scenario in = faults_of(40);
    tr__shrink_result res;
    /* Halves (2 runs) and quarters (4) all pass alone; the first complement (the list
     * without its second quarter) fails on the 7th run. */
    cr_assert_eq(tr__shrink(&in, 8, fails, &w, &res), 0);
    cr_assert(res.exhausted && !res.minimal);
    cr_assert_eq(res.runs, 8);
    cr_assert_eq(res.faults.count, 30);
    cr_assert_eq(fails(res.faults.events, res.faults.count, &w), 1);
    tr__shrink_result_free(&res);
    tr__scenario_free(&in);
}

Test(shrink, a_test_error_stops_the_shrink_with_it) {
    needs w = {.all = {3}, .all_count = 1, .error_at = 4};
    tr_scenario in = faults_of(40);
    tr__shrink_result res;
    cr_assert_eq(tr__shrink(&in, 100, fails, &w, &res), TR_EIO);
    cr_assert_eq(res.runs, 4);
    tr__shrink_result_free(&res);
    tr__scenario_free(&in);
}

/* ---- the lines it writes ------------------------------------------------------------------ */

Test(shrink, every_fault_kind_written_as_a_line_reads_back_the_same) {
    const tr_scen_event evs[] = {
        {.at_ns = 15000000000ull, .kind = TR_SCEN_PARTITION, .mask = 0x9},
        {.at_ns = 1, .kind = TR_SCEN_PARTITION_HALVES},
        {.at_ns = 16123456789ull, .kind = TR_SCEN_ISOLATE, .a = 4},
        {.at_ns = 17000000001ull, .kind = TR_SCEN_RING},
        {.at_ns = 17500000000ull, .kind = TR_SCEN_BRIDGE},
        {.at_ns = 18000000000ull, .kind = TR_SCEN_ONEWAY, .a = 2, .b = TR_SIM_ANY},
        {.at_ns = 18000000000ull, .kind = TR_SCEN_ONEWAY, .a = TR_SIM_ANY, .b = 0},
        {.at_ns = 19999999999ull, .kind = TR_SCEN_HEAL},
        {.at_ns = 20000000000ull, .kind = TR_SCEN_CRASH, .a = 1},
        {.at_ns = 21000000000ull, .kind = TR_SCEN_RESTART, .a = 1},
        {.at_ns = 22000000000ull, .kind = TR_SCEN_PAUSE, .a = 3},
        {.at_ns = 23000000000ull, .kind = TR_SCEN_RESUME, .a = 3},
        {.at_ns = 24000000000ull, .kind = TR_SCEN_CLOCK_SKEW, .a = 0, .value = 200000000},
        {.at_ns = 25000000000ull, .kind = TR_SCEN_CLOCK_JUMP, .a = 2, .value = -1987654321},
        {.at_ns = 26000000000ull, .kind = TR_SCEN_CLOCK_DRIFT, .a = 4, .value = -937},
        {.at_ns = 27000000000ull,
         .kind = TR_SCEN_DELAY_SPIKE,
         .a = 1,
         .b = TR_SIM_ANY,
         .extra_ns = 123456789,
         .dur_ns = 2000000001},
        {.at_ns = 28000000000ull, .kind = TR_SCEN_IO_ERROR, .a = 0, .dur_ns = 512345678},
        {.at_ns = 29000000000ull, .kind = TR_SCEN_DISK_FULL, .a = 1, .dur_ns = 3000000000ull},
        {.at_ns = 30000000000ull,
         .kind = TR_SCEN_SLOW_DISK,
         .a = 2,
         .extra_ns = 50000001,
         .dur_ns = 1500000000},
        {.at_ns = 86399999999999ull, .kind = TR_SCEN_CORRUPT, .a = 3},
    };
    size_t n = sizeof evs / sizeof evs[0];
    char text[8192] = "", line[TR_SCENARIO_LINE_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        tr_scen_event ev = evs[i];
        if (ev.kind != TR_SCEN_ONEWAY && ev.kind != TR_SCEN_DELAY_SPIKE) {
            ev.b = TR_SIM_ANY; /* what the parser leaves in the unused fields */
            ev.a = ev.kind == TR_SCEN_PARTITION || ev.kind == TR_SCEN_PARTITION_HALVES ||
                           ev.kind == TR_SCEN_RING || ev.kind == TR_SCEN_BRIDGE ||
                           ev.kind == TR_SCEN_HEAL
                       ? TR_SIM_ANY
                       : ev.a;
        }
        int len = tr__scenario_format(&ev, 5, line, sizeof line);
        cr_assert(len > 0 && (size_t)len == strlen(line));
        strcat(text, line);
        strcat(text, "\n");
    }
    tr_scenario s;
    char err[256];
    cr_assert_eq(tr__scenario_parse(text, strlen(text), 5, &s, err, sizeof err), 0, "%s\n%s", err,
                 text);
    cr_assert_eq(s.count, n);
    for (size_t i = 0; i < n; i++) {
        const tr_scen_event *a = &evs[i], *b = &s.events[i];
        cr_assert(a->at_ns == b->at_ns && a->kind == b->kind, "line %zu: %s", i + 1, text);
        cr_assert(a->mask == b->mask && a->value == b->value, "line %zu:\n%s", i + 1, text);
        cr_assert(a->extra_ns == b->extra_ns && a->dur_ns == b->dur_ns, "line %zu", i + 1);
        bool nodes = a->kind != TR_SCEN_PARTITION && a->kind != TR_SCEN_PARTITION_HALVES &&
                     a->kind != TR_SCEN_RING && a->kind != TR_SCEN_BRIDGE &&
                     a->kind != TR_SCEN_HEAL;
        cr_assert(!nodes || a->a == b->a, "line %zu", i + 1);
        bool link = a->kind == TR_SCEN_ONEWAY || a->kind == TR_SCEN_DELAY_SPIKE;
        cr_assert(!link || a->b == b->b, "line %zu", i + 1);
    }
    cr_assert_str_eq(strstr(text, "partition"), strstr(text, "partition n1,n4|n2,n3,n5"));
    tr__scenario_free(&s);
}

Test(shrink, appending_past_the_limit_is_refused) {
    tr_scenario s = {0};
    tr_scen_event ev = {.kind = TR_SCEN_HEAL};
    for (size_t i = 0; i < TR_SCENARIO_EVENTS_MAX; i++) {
        cr_assert_eq(tr__scenario_append(&s, &ev), 0);
    }
    cr_assert_eq(tr__scenario_append(&s, &ev), TR_EFULL);
    cr_assert_eq(s.count, TR_SCENARIO_EVENTS_MAX);
    tr__scenario_free(&s);
}
