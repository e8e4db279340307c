/* The convergence of register replicas (harness/check_convergence.h): agreement, lost
 * acknowledged writes beyond last-writer-wins, phantom values. */
#include <criterion/criterion.h>

#include "harness/check_convergence.h"
#include "sim/history.h"
#include "tests/history_fixture.h"
#include "troupe.h"

static tr_convergence_result converge(tr_history *h, const tr_replica_state *rs, size_t n) {
    tr_convergence_result res;
    cr_assert_eq(tr__checkers_convergence(h, rs, n, &res), 0);
    return res;
}

Test(convergence, agreeing_replicas_with_latest_writes_pass) {
    tr_history *h = sequential();
    tr_replica_entry e[] = {{2, 5}, {1, 2}}; /* any order */
    tr_replica_state rs[] = {{0, e, 2}, {1, e, 2}, {2, e, 2}};
    tr_convergence_result res = converge(h, rs, 3);
    cr_assert(res.ok);
    cr_assert(res.agree);
    cr_assert_eq(res.lost_writes, 0);
    cr_assert_eq(res.phantoms, 0);
    tr__history_destroy(h);
}

Test(convergence, reports_a_diverging_replica) {
    tr_history *h = sequential();
    tr_replica_entry good[] = {{1, 2}, {2, 5}};
    tr_replica_entry stale[] = {{1, 1}, {2, 5}};
    tr_replica_state rs[] = {{0, good, 2}, {1, good, 2}, {2, stale, 2}};
    tr_convergence_result res = converge(h, rs, 3);
    cr_assert_not(res.ok);
    cr_assert_not(res.agree);
    cr_assert_eq(res.divergent_keys, 1);
    cr_assert_eq(res.divergent_key, 1);
    cr_assert_eq(res.divergent_node_a, 0);
    cr_assert_eq(res.divergent_node_b, 2);
    /* and on node 2 the acknowledged write of 2 is lost to the older write of 1 */
    cr_assert_eq(res.lost_writes, 1);
    cr_assert_eq(res.lost_on_node, 2);
    cr_assert_eq(res.lost_write.value, 2);
    tr__history_destroy(h);
}

Test(convergence, counts_keys_missing_on_one_side) {
    tr_history *h = sequential();
    tr_replica_entry a[] = {{1, 2}, {2, 5}};
    tr_replica_entry b[] = {{1, 2}};
    tr_replica_entry c[] = {{2, 5}, {3, 5}};
    tr_replica_state rs[] = {{0, a, 2}, {1, b, 1}, {2, c, 2}};
    tr_convergence_result res = converge(h, rs, 3);
    cr_assert_not(res.agree);
    cr_assert_eq(res.divergent_keys, 3);
    cr_assert_eq(res.divergent_key, 1);
    cr_assert_eq(res.phantoms, 1); /* key 3 was never written */
    cr_assert_eq(res.phantom_key, 3);
    cr_assert_eq(res.phantom_node, 2);
    tr__history_destroy(h);
}

Test(convergence, older_write_winning_everywhere_is_a_lost_write) {
    tr_history *h = sequential();
    tr_replica_entry e[] = {{1, 1}, {2, 5}}; /* LWW with a skewed clock let write 1 win */
    tr_replica_state rs[] = {{0, e, 2}, {1, e, 2}};
    tr_convergence_result res = converge(h, rs, 2);
    cr_assert(res.agree);
    cr_assert_not(res.ok);
    cr_assert_eq(res.lost_writes, 1);
    cr_assert_eq(res.lost_write.index, 3); /* the ok of the write of 2 */
    cr_assert_eq(res.lost_write.key, 1);
    cr_assert(res.lost_final_present);
    cr_assert_eq(res.lost_final_value, 1);
    tr__history_destroy(h);
}

Test(convergence, concurrent_writes_may_overwrite_each_other) {
    tr_history *h = fresh();
    w(h, 0, 1, 1);
    w(h, 1, 1, 2);
    ok(h, 1);
    ok(h, 0);
    tr_replica_entry one[] = {{1, 1}}, two[] = {{1, 2}};
    tr_replica_state a[] = {{0, one, 1}}, b[] = {{0, two, 1}};
    cr_assert(converge(h, a, 1).ok);
    cr_assert(converge(h, b, 1).ok);
    tr__history_destroy(h);
}

Test(convergence, missing_key_loses_acknowledged_write) {
    tr_history *h = sequential();
    tr_replica_entry e[] = {{2, 5}};
    tr_replica_state rs[] = {{0, e, 1}};
    tr_convergence_result res = converge(h, rs, 1);
    cr_assert_eq(res.lost_writes, 2);
    cr_assert_eq(res.lost_write.index, 1); /* the first in history order */
    cr_assert_not(res.lost_final_present);
    tr__history_destroy(h);
}

Test(convergence, failed_write_value_is_a_phantom_but_info_write_is_not) {
    tr_history *h = sequential();
    w(h, 2, 2, 8);
    cr_assert_eq(tr__history_fail(h, ++tick, 2, "refused"), 0);
    w(h, 3, 2, 9);
    cr_assert_eq(tr__history_info(h, ++tick, 3, "timeout"), 0);
    tr_replica_entry failed[] = {{1, 2}, {2, 8}}, timed_out[] = {{1, 2}, {2, 9}};
    tr_replica_state a[] = {{0, failed, 2}}, b[] = {{0, timed_out, 2}};
    tr_convergence_result res = converge(h, a, 1);
    cr_assert_eq(res.phantoms, 1);
    cr_assert_eq(res.phantom_value, 8);
    cr_assert_eq(res.lost_writes, 1); /* and the write of 5 lost to it */
    res = converge(h, b, 1);
    cr_assert(res.ok); /* the timed-out write may have happened after the write of 5 */
    tr__history_destroy(h);
}

Test(convergence, cas_writes_its_to_value) {
    tr_history *h = sequential();
    cr_assert_eq(tr__history_invoke_cas(h, ++tick, 0, 1, 2, 3, 0), 0);
    ok(h, 0);
    tr_replica_entry e[] = {{1, 3}, {2, 5}};
    tr_replica_state rs[] = {{0, e, 2}};
    cr_assert(converge(h, rs, 1).ok);
    tr__history_destroy(h);
}

Test(convergence, rejects_duplicate_keys_and_no_replicas) {
    tr_history *h = sequential();
    tr_replica_entry e[] = {{1, 2}, {1, 2}};
    tr_replica_state rs[] = {{0, e, 2}};
    tr_convergence_result res;
    cr_assert_eq(tr__checkers_convergence(h, rs, 1, &res), TR_EINVAL);
    cr_assert_eq(tr__checkers_convergence(h, rs, 0, &res), TR_EINVAL);
    tr__history_destroy(h);
}
