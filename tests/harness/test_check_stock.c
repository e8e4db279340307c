/* The stock checker on handcrafted histories: each invariant holds on a correct history and
 * is broken by the history of the bug it is meant to catch. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness/check_stock.h"
#include "sim/history.h"
#include "sim/lincheck.h"
#include "troupe.h"

#define ITEMS 2
#define ID(client, seq) (((int64_t)(client) << 32) | (seq))

static tr_history *h;
static int64_t now;
static int64_t final_level[ITEMS];
static bool final_known[ITEMS];

static void setup(void) {
    h = tr__history_create(1000);
    cr_assert_not_null(h);
    now = 0;
    for (int i = 0; i < ITEMS; i++) {
        final_known[i] = true;
        final_level[i] = 10;
    }
}

static void teardown(void) {
    tr__history_destroy(h);
}

TestSuite(check_stock, .init = setup, .fini = teardown);

static void invoke(int64_t p, tr_op_f f, int64_t item, int64_t qty, int64_t id) {
    tr_op op = {.time_ns = now += 10,
                .process = p,
                .key = item,
                .node = 0,
                .type = TR_OP_INVOKE,
                .f = (uint8_t)f};
    if (f != TR_F_READ) {
        op.has_value = true;
        op.value = qty;
        op.value_to = id;
    }
    cr_assert_eq(tr__history_append(h, &op), 0);
}

static void ok(int64_t p) {
    cr_assert_eq(tr__history_ok(h, now += 10, p), 0);
}
static void info(int64_t p) {
    cr_assert_eq(tr__history_info(h, now += 10, p, "timeout"), 0);
}
static void fail(int64_t p, const char *why) {
    cr_assert_eq(tr__history_fail(h, now += 10, p, why), 0);
}
static void read_ok(int64_t p, int64_t item, int64_t level) {
    invoke(p, TR_F_READ, item, 0, 0);
    cr_assert_eq(tr__history_ok_read(h, now += 10, p, true, level), 0);
}

static tr_stock_check_result check(void) {
    tr_stock_check_result r;
    tr_stock_bounds b[ITEMS];
    tr_stock_check_input in = {.h = h,
                               .items = ITEMS,
                               .initial = 10,
                               .final_level = final_level,
                               .final_known = final_known,
                               .bounds = b};
    cr_assert_eq(tr__check_stock(&in, &r), 0);
    return r;
}

Test(check_stock, consistent_history_holds) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    ok(1);
    invoke(2, TR_F_RESTOCK, 0, 5, ID(2, 1));
    ok(2);
    invoke(1, TR_F_RESERVE, 0, 20, ID(1, 2));
    fail(1, "out of stock");
    read_ok(3, 0, 12);
    final_level[0] = 12;
    tr_stock_check_result r = check();
    cr_assert(r.ok && r.never_negative && r.conserved);
    cr_assert_eq(r.reserve_ids, 2);
    cr_assert_eq(r.restock_ids, 1);
    cr_assert_eq(r.items_unknown, 0);
}

Test(check_stock, negative_read_is_caught_with_the_op) {
    read_ok(1, 1, -2);
    tr_stock_check_result r = check();
    cr_assert(!r.ok && !r.never_negative);
    cr_assert_eq(r.negative_reads, 1);
    cr_assert(r.has_negative_op);
    cr_assert_str_eq(r.negative_op.f, "read");
    cr_assert_eq(r.negative_item, 1);
    cr_assert_eq(r.negative_level, -2);
}

Test(check_stock, negative_final_level_is_caught) {
    final_level[1] = -1;
    tr_stock_check_result r = check();
    cr_assert(!r.never_negative);
    cr_assert_eq(r.negative_finals, 1);
    cr_assert_eq(r.negative_item, 1);
}

/* Oversell: two reservations of 6 from 10 both acknowledged; a later restock hides it in
 * the final level, the running bound still sees it. */
Test(check_stock, oversold_reservations_are_caught_even_if_restocked_later) {
    invoke(1, TR_F_RESERVE, 0, 6, ID(1, 1));
    invoke(2, TR_F_RESERVE, 0, 6, ID(2, 1));
    ok(1);
    ok(2);
    invoke(3, TR_F_RESTOCK, 0, 10, ID(3, 1));
    ok(3);
    final_level[0] = 8; /* 10 - 12 + 10: conserved */
    tr_stock_check_result r = check();
    cr_assert(r.conserved);
    cr_assert(!r.never_negative && !r.ok);
    cr_assert_eq(r.oversold_reserves, 1);
    cr_assert_eq(r.negative_op.process, 2, "the second ack is where it broke");
    cr_assert_eq(r.negative_op.type, TR_HISTORY_OK);
    cr_assert_eq(r.negative_level, -2);
}

/* A restock in flight may have supplied a reservation: no oversell is claimed. */
Test(check_stock, a_concurrent_restock_may_cover_a_reservation) {
    invoke(3, TR_F_RESTOCK, 0, 5, ID(3, 1));
    invoke(1, TR_F_RESERVE, 0, 6, ID(1, 1));
    invoke(2, TR_F_RESERVE, 0, 6, ID(2, 1));
    ok(1);
    ok(2);
    ok(3);
    final_level[0] = 3;
    tr_stock_check_result r = check();
    cr_assert(r.ok, "oversold %zu", r.oversold_reserves);
}

/* Double charge: the first attempt timed out (info), the retry under the same id was
 * acknowledged, and the level shows two charges. */
Test(check_stock, retry_charged_twice_is_a_double_charge) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    info(1);
    invoke(2, TR_F_RESERVE, 0, 3, ID(1, 1)); /* same id, fresh process */
    ok(2);
    final_level[0] = 4;
    tr_stock_check_result r = check();
    cr_assert(r.never_negative);
    cr_assert(!r.conserved && !r.ok);
    cr_assert_eq(r.items_below, 1);
    cr_assert_eq(r.bad_item, 0);
    cr_assert_eq(r.bad_bounds.lower, 7);
    cr_assert_eq(r.bad_bounds.upper, 7);
    cr_assert(r.has_suspect_op);
    cr_assert_eq(r.suspect_op.value_to, ID(1, 1));
    cr_assert_eq(r.retried_ids, 1);
    final_level[0] = 7; /* charged once: fine */
    cr_assert(check().ok);
}

Test(check_stock, info_ops_widen_the_bounds_exactly) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    info(1);                                 /* charged or not */
    invoke(2, TR_F_RESTOCK, 0, 4, ID(2, 1)); /* pending at the end: applied or not */
    for (int64_t level = 5; level <= 16; level++) {
        final_level[0] = level;
        tr_stock_check_result r = check();
        bool allowed = level >= 7 && level <= 14; /* 10 - [0,3] + [0,4] */
        cr_assert_eq(r.conserved, allowed, "final %ld", (long)level);
        if (!allowed) {
            cr_assert_eq(level < 7 ? r.items_below : r.items_above, 1);
        }
    }
}

Test(check_stock, out_of_stock_is_the_ids_definite_outcome) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    info(1);
    invoke(2, TR_F_RESERVE, 0, 3, ID(1, 1));
    fail(2, "out of stock");
    final_level[0] = 7; /* yet it was charged */
    cr_assert(!check().conserved);
    final_level[0] = 10;
    cr_assert(check().ok);
}

Test(check_stock, other_failures_do_not_settle_an_id) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    info(1);
    invoke(2, TR_F_RESERVE, 0, 3, ID(1, 1));
    fail(2, "busy"); /* this attempt did nothing; the first may have */
    final_level[0] = 7;
    cr_assert(check().ok);
}

Test(check_stock, lost_charge_is_above_the_bounds) {
    invoke(1, TR_F_RESERVE, 1, 2, ID(1, 1));
    ok(1);
    tr_stock_check_result r = check(); /* final 10: the charge vanished */
    cr_assert(!r.conserved);
    cr_assert_eq(r.items_above, 1);
    cr_assert_eq(r.bad_item, 1);
}

Test(check_stock, unknown_final_levels_are_counted_not_checked) {
    invoke(1, TR_F_RESERVE, 1, 2, ID(1, 1));
    ok(1);
    final_known[1] = false;
    tr_stock_check_result r = check();
    cr_assert(r.ok);
    cr_assert_eq(r.items_unknown, 1);
}

Test(check_stock, bad_input_is_refused) {
    tr_stock_check_result r;
    tr_stock_check_input in = {.h = h,
                               .items = ITEMS,
                               .initial = 10,
                               .final_level = final_level,
                               .final_known = final_known};
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    ok(1);
    invoke(2, TR_F_RESERVE, 1, 3, ID(1, 1)); /* same id, another item */
    ok(2);
    cr_assert_eq(tr__check_stock(&in, &r), TR_EINVAL);
    in.items = 0;
    cr_assert_eq(tr__check_stock(&in, &r), TR_EINVAL);
    in.items = 1; /* item 1 out of range */
    cr_assert_eq(tr__check_stock(&in, &r), TR_EINVAL);
}

Test(check_stock, reserve_and_restock_round_trip_through_json_and_edn) {
    char *buf = NULL;
    size_t len = 0;
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    ok(1);
    invoke(2, TR_F_RESTOCK, 1, 4, ID(2, 7));
    info(2);
    for (int edn = 0; edn < 2; edn++) {
        FILE *f = open_memstream(&buf, &len);
        cr_assert_eq(edn ? tr__history_write_edn(h, f) : tr__history_write_json(h, f), 0);
        fclose(f);
        tr_history *back = NULL;
        char err[200];
        int rc = edn ? tr__history_load_edn(buf, len, 100, &back, err, sizeof err)
                     : tr__history_load_json(buf, len, 100, &back, err, sizeof err);
        cr_assert_eq(rc, 0, "%s\n%s", err, buf);
        cr_assert_eq(tr__history_count(back), 4);
        const tr_op *op = tr__history_op(back, 2);
        cr_assert_eq(op->f, TR_F_RESTOCK);
        cr_assert_eq(op->value, 4);
        cr_assert_eq(op->value_to, ID(2, 7));
        cr_assert_not_null(strstr(buf, "reserve"));
        tr__history_destroy(back);
        free(buf);
        buf = NULL;
    }
}

Test(check_stock, lincheck_refuses_a_stock_history) {
    tr__lin_result lr;
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    ok(1);
    cr_assert_eq(tr__lincheck(h, NULL, &lr), TR_EINVAL);
}

/* A double charge seen by a read while the final level hides it behind an unknown restock. */
Test(check_stock, read_below_its_bounds_is_caught_when_the_final_level_is_not) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1));
    info(1);
    invoke(2, TR_F_RESERVE, 0, 3, ID(1, 1));
    ok(2);
    read_ok(3, 0, 4); /* charged twice: 10 - 6 */
    invoke(4, TR_F_RESTOCK, 0, 3, ID(4, 1));
    info(4);
    final_level[0] = 7; /* in [10 - 3, 10 + 3 - 3] */
    tr_stock_check_result r = check();
    cr_assert_eq(r.items_below + r.items_above, 0);
    cr_assert(!r.conserved && !r.ok);
    cr_assert_eq(r.reads_below, 1);
    cr_assert(r.has_read_op);
    cr_assert_eq(r.read_op.process, 3);
    cr_assert_eq(r.read_lower, 7);
    cr_assert_eq(r.read_upper, 7);
    cr_assert(r.has_suspect_op);
    cr_assert_eq(r.suspect_op.process, 2, "the retry's completion");
}

Test(check_stock, reads_during_unknown_ops_are_given_the_benefit_of_the_doubt) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1)); /* in flight across the reads */
    invoke(2, TR_F_RESTOCK, 0, 4, ID(2, 1));
    read_ok(3, 0, 7);
    read_ok(4, 0, 14);
    read_ok(5, 0, 11);
    ok(2);
    info(1);
    final_level[0] = 11;
    cr_assert(check().ok);
    read_ok(6, 0, 10); /* the restock was acknowledged: at least 10 + 4 - 3 by now */
    cr_assert(!check().conserved, "after the restock's ack the level is at least 11");
}

/* The report of a run: counts, final levels from the reads after the last change, the "out
 * of stock" answers per side of the window, and the ids never resolved. */
Test(check_stock, report_counts_final_levels_refusals_and_unresolved_ids) {
    invoke(1, TR_F_RESERVE, 0, 3, ID(1, 1)); /* ok: resolved */
    ok(1);
    invoke(2, TR_F_RESERVE, 0, 20, ID(2, 1)); /* out of stock on n1 (node 0), in the window */
    fail(2, TR_STOCK_OUT_OF_STOCK);
    invoke(3, TR_F_RESTOCK, 1, 2, ID(3, 1)); /* info, never resolved */
    info(3);
    invoke(4, TR_F_RESERVE, 1, 1, ID(4, 1)); /* a refused send did nothing: unresolved */
    fail(4, "send refused");
    read_ok(5, 0, 7); /* the final reads */
    read_ok(6, 1, 12);
    tr_stock_window w = {.partitioned = true, .from_ns = 0, .to_ns = 1000, .minority_nodes = 1};
    static tr_stock_report rep;
    cr_assert_eq(tr__stock_report(h, ITEMS, 10, &w, &rep), 0);
    cr_assert_eq(rep.ops, 6);
    cr_assert_eq(rep.ok, 3);
    cr_assert_eq(rep.fail, 2);
    cr_assert_eq(rep.info, 1);
    cr_assert_eq(rep.f_all[1], 3, "reserves");
    cr_assert_eq(rep.f_ok[0], 2, "reads");
    cr_assert_eq(rep.refused[0], 1);
    cr_assert_eq(rep.refused[2], 1, "node 0 is on the minority side");
    cr_assert_eq(rep.unresolved_ids, 2);
    cr_assert(rep.final_known[0] && rep.final_known[1]);
    cr_assert_eq(rep.final_level[0], 7);
    cr_assert_eq(rep.final_level[1], 12);
    cr_assert(rep.chk.ok);
    cr_assert_eq(rep.bounds[1].lower, 10, "the info restock may be missing");
    cr_assert_eq(rep.bounds[1].upper, 12, "... or applied");
}
