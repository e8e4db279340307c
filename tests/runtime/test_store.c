/* test_store.c — the store against store.h: round trips, recovery, group commit,
 * read-your-writes, simulated crashes, map growth, limits, and what open refuses; and its
 * invariant walker (tr__store_check, store_internal.h). */
#include <lmdb.h> /* only to build foreign and newer-format directories by hand */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "runtime/engine.h"         /* tr__pool_alloc: a real message to hold */
#include "runtime/store_internal.h" /* tr__store_check and the state it walks */
#include "store_helpers.h"

/* Hooks that record what the store told its node. */
typedef struct rec {
    int ready;
    int durable;
    uint64_t last_token;
    tr_addr last_who;
    int last_status;
    int released;
    int release_status;
    tr_msg *released_msg;
} rec;

static void on_ready(void *ud) {
    ((rec *)ud)->ready++;
}
static void on_durable(void *ud, tr_addr who, uint64_t token, int status) {
    rec *r = ud;
    r->durable++;
    r->last_token = token;
    r->last_who = who;
    r->last_status = status;
}
static void on_release(void *ud, tr_msg *m, int status) {
    rec *r = ud;
    r->released++;
    r->release_status = status;
    r->released_msg = m;
}

static char *dir;
static tr_store *st;
static rec hooks_rec;

static tr_store *open_at(const char *d, uint64_t map_size) {
    tr_store_opts o = {.dir = d, .map_size = map_size};
    tr_store *s = NULL;
    int rc = tr__store_open(&o, &s);
    cr_assert_eq(rc, 0, "open %s: %s", d, tr_err_name(rc));
    tr_store_hooks h = {on_ready, on_durable, on_release, &hooks_rec};
    tr__store_bind(s, &h);
    return s;
}

static void setup(void) {
    dir = tmp_dir();
    memset(&hooks_rec, 0, sizeof(hooks_rec));
    st = open_at(dir, 0);
}

static void teardown(void) {
    if (st) {
        tr__store_close(st);
    }
    rm_dir(dir);
}

static void reopen(void) {
    tr__store_close(st);
    st = open_at(dir, 0);
}

static void put_s(const char *actor, const char *k, const char *v) {
    cr_assert_eq(tr__store_put(st, actor, k, strlen(k), v, strlen(v)), 0);
}

/* Asserts actor's key k reads v (or is absent when v == NULL). */
static void expect(const char *actor, const char *k, const char *v) {
    char buf[256];
    size_t len = 0;
    int rc = tr__store_get(st, actor, k, strlen(k), buf, sizeof(buf), &len);
    if (v == NULL) {
        cr_assert_eq(rc, TR_ENOENT, "%s/%s: %s", actor, k, tr_err_name(rc));
        return;
    }
    cr_assert_eq(rc, 0, "%s/%s: %s", actor, k, tr_err_name(rc));
    cr_assert_eq(len, strlen(v));
    cr_assert_eq(memcmp(buf, v, len), 0);
}

static void commit(void) {
    cr_assert_eq(tr__store_commit(st, NULL), 0);
}

/* ---- kv ------------------------------------------------------------------------------ */

Test(store, kv_round_trip_survives_reopen, .init = setup, .fini = teardown) {
    put_s("counter", "a", "1");
    put_s("counter", "b", "22");
    commit();
    reopen();
    expect("counter", "a", "1");
    expect("counter", "b", "22");
    expect("counter", "c", NULL);
}

Test(store, get_with_small_buffer_reports_needed_size, .init = setup, .fini = teardown) {
    put_s("x", "k", "hello");
    char buf[2];
    size_t len = 0;
    cr_assert_eq(tr__store_get(st, "x", "k", 1, buf, sizeof(buf), &len), TR_ETOOBIG);
    cr_assert_eq(len, 5);
    commit();
    len = 0;
    cr_assert_eq(tr__store_get(st, "x", "k", 1, buf, sizeof(buf), &len), TR_ETOOBIG);
    cr_assert_eq(len, 5);
}

Test(store, del_hides_key_before_and_after_commit, .init = setup, .fini = teardown) {
    put_s("x", "k", "v");
    commit();
    cr_assert_eq(tr__store_del(st, "x", "k", 1), 0);
    expect("x", "k", NULL);
    commit();
    expect("x", "k", NULL);
    reopen();
    expect("x", "k", NULL);
}

Test(store, namespaces_of_actors_are_separate, .init = setup, .fini = teardown) {
    put_s("a", "bk", "1");
    put_s("ab", "k", "2");
    commit();
    expect("a", "bk", "1");
    expect("ab", "k", "2");
    expect("a", "b", NULL);
    expect("ab", "bk", NULL);
}

Test(store, binary_keys_and_empty_values_round_trip, .init = setup, .fini = teardown) {
    unsigned char key[TR_KEY_MAX];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char)(i * 7); /* includes NUL bytes */
    }
    cr_assert_eq(tr__store_put(st, "b", key, sizeof(key), "", 0), 0);
    commit();
    size_t len = 99;
    cr_assert_eq(tr__store_get(st, "b", key, sizeof(key), NULL, 0, &len), 0);
    cr_assert_eq(len, 0);
}

Test(store, limits_and_bad_arguments_are_refused, .init = setup, .fini = teardown) {
    char key[TR_KEY_MAX + 1] = {0};
    char name[TR_NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    cr_assert_eq(tr__store_put(st, "x", key, sizeof(key), "v", 1), TR_ETOOBIG);
    cr_assert_eq(tr__store_put(st, name, "k", 1, "v", 1), TR_EINVAL);
    cr_assert_eq(tr__store_put(st, "", "k", 1, "v", 1), TR_EINVAL);
    cr_assert_eq(tr__store_put(st, NULL, "k", 1, "v", 1), TR_EINVAL);
    cr_assert_eq(tr__store_put(st, "x", "k", 1, NULL, 3), TR_EINVAL);
    cr_assert_eq(tr__store_put(st, "x", "k", 1, key, (size_t)TR_VALUE_MAX + 1), TR_ETOOBIG);
    cr_assert_eq(tr__store_append(st, "x", key, (size_t)TR_VALUE_MAX + 1, NULL), TR_ETOOBIG);
    cr_assert_eq(tr__store_get(st, name, "k", 1, NULL, 0, NULL), TR_EINVAL);
    cr_assert_not(tr__store_has_pending(st), "a refused write must not be queued");
    name[TR_NAME_MAX] = 0; /* exactly TR_NAME_MAX bytes is fine */
    cr_assert_eq(tr__store_put(st, name, "k", 1, "v", 1), 0);
}

Test(store, largest_value_round_trips, .init = setup, .fini = teardown) {
    size_t n = TR_VALUE_MAX;
    unsigned char *v = malloc(n), *out = malloc(n);
    for (size_t i = 0; i < n; i++) {
        v[i] = (unsigned char)(i * 31 + 7);
    }
    cr_assert_eq(tr__store_put(st, "big", "k", 1, v, n), 0);
    commit();
    reopen();
    size_t len = 0;
    cr_assert_eq(tr__store_get(st, "big", "k", 1, out, n, &len), 0);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(v, out, n), 0);
    free(v);
    free(out);
}

/* ---- read-your-writes and group commit ------------------------------------------------ */

Test(store, own_writes_are_visible_before_commit, .init = setup, .fini = teardown) {
    put_s("x", "k", "old");
    commit();
    put_s("x", "k", "new");
    expect("x", "k", "new");
    cr_assert_eq(tr__store_del(st, "x", "j", 1), 0);
    put_s("x", "j", "later");
    expect("x", "j", "later");
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.overlay_keys, 2);
    commit();
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.overlay_keys, 0, "overlay must be empty once everything is durable");
    expect("x", "k", "new");
    expect("x", "j", "later");
}

Test(store, overlay_memory_returns_after_a_burst, .init = setup, .fini = teardown) {
    tr_store_stats s0, s1, s2;
    tr__store_stats_get(st, &s0);
    for (uint32_t i = 0; i < 20000; i++) {
        cr_assert_eq(tr__store_put(st, "burst", &i, sizeof(i), &i, sizeof(i)), 0);
    }
    tr__store_stats_get(st, &s1);
    cr_assert_eq(s1.overlay_keys, 20000);
    cr_assert_geq(s1.overlay_buckets, 16384);
    commit();
    tr__store_stats_get(st, &s2);
    cr_assert_eq(s2.overlay_keys, 0);
    cr_assert_eq(s2.overlay_buckets, s0.overlay_buckets);
    uint32_t k = 777, v = 0;
    size_t len;
    cr_assert_eq(tr__store_get(st, "burst", &k, sizeof(k), &v, sizeof(v), &len), 0);
    cr_assert_eq(v, 777);
}

Test(store, close_without_commit_loses_pending_writes, .init = setup, .fini = teardown) {
    put_s("x", "k", "v");
    reopen();
    expect("x", "k", NULL);
}

Test(store, one_commit_holds_every_pending_write_last_one_wins, .init = setup, .fini = teardown) {
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        put_s("x", "same", v);
        put_s("y", v, v);
    }
    uint64_t writes = 0;
    cr_assert_eq(tr__store_commit(st, &writes), 0);
    cr_assert_eq(writes, 200);
    cr_assert_eq(hooks_rec.ready, 1, "ready fires once when the batch becomes non-empty");
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.commits, 1);
    cr_assert_eq(s.max_writes_per_commit, 200);
    reopen();
    expect("x", "same", "99");
    expect("y", "42", "42");
}

Test(store, ready_fires_again_for_the_next_batch, .init = setup, .fini = teardown) {
    put_s("x", "a", "1");
    put_s("x", "b", "1");
    cr_assert_eq(hooks_rec.ready, 1);
    commit();
    cr_assert_not(tr__store_has_pending(st));
    uint64_t tok;
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 5}, &tok), 0);
    cr_assert_eq(hooks_rec.ready, 2, "a notify alone makes a batch that must be committed");
    cr_assert(tr__store_has_pending(st));
}

Test(store, notify_fires_only_after_the_commit, .init = setup, .fini = teardown) {
    put_s("x", "k", "v");
    uint64_t t1, t2;
    tr_addr who = {3, 0, 77};
    cr_assert_eq(tr__store_notify(st, who, &t1), 0);
    cr_assert_eq(tr__store_notify(st, who, &t2), 0);
    cr_assert_neq(t1, t2, "tokens are fresh");
    cr_assert_eq(hooks_rec.durable, 0);
    commit();
    cr_assert_eq(hooks_rec.durable, 2);
    cr_assert_eq(hooks_rec.last_token, t2);
    cr_assert(tr_addr_eq(hooks_rec.last_who, who));
    cr_assert_eq(hooks_rec.last_status, 0);
    commit(); /* nothing pending: nothing fires again */
    cr_assert_eq(hooks_rec.durable, 2);
}

Test(store, held_reply_is_released_after_the_commit, .init = setup, .fini = teardown) {
    tr_msg m = {.type = TR_MSG_USER};
    put_s("x", "k", "v");
    cr_assert_eq(tr__store_hold(st, &m), 0);
    cr_assert_eq(hooks_rec.released, 0);
    commit();
    cr_assert_eq(hooks_rec.released, 1);
    cr_assert_eq(hooks_rec.released_msg, &m);
    cr_assert_eq(hooks_rec.release_status, 0);
}

static void release_must_not_run(void *ud, tr_msg *m, int status) {
    cr_assert_fail("close called the release hook (its node may be gone)");
}

Test(store, close_frees_held_replies_without_calling_the_node, .init = setup, .fini = teardown) {
    tr_store_hooks h = {on_ready, on_durable, release_must_not_run, &hooks_rec};
    tr__store_bind(st, &h);
    put_s("x", "k", "v");
    tr_msg *m = tr__pool_alloc(16);
    cr_assert_not_null(m);
    cr_assert_eq(tr__store_hold(st, m), 0);
    uint64_t tok;
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), 0);
    tr__store_close(st);
    st = NULL;
    cr_assert_eq(hooks_rec.durable, 0);
}

Test(store, pending_bytes_beyond_the_limit_give_eagain, .init = setup, .fini = teardown) {
    tr__store_close(st);
    tr_store_opts o = {.dir = dir, .pending_max = 4096};
    cr_assert_eq(tr__store_open(&o, &st), 0);
    char v[1000] = {0};
    int rc = 0, n = 0;
    while ((rc = tr__store_put(st, "x", &n, sizeof(n), v, sizeof(v))) == 0) {
        n++;
        cr_assert_lt(n, 100);
    }
    cr_assert_eq(rc, TR_EAGAIN);
    cr_assert_geq(n, 3);
    commit();
    cr_assert_eq(tr__store_put(st, "x", &n, sizeof(n), v, sizeof(v)), 0);
}

/* ---- writes issued while a commit is in progress (deterministic interleavings) -------- */

static void committed_is(const char *actor, const char *k, const char *v) {
    char buf[64];
    size_t len = 0;
    int rc = tr__store_get_committed(st, actor, k, strlen(k), buf, sizeof(buf), &len);
    if (v == NULL) {
        cr_assert_eq(rc, TR_ENOENT, "%s/%s committed: %s", actor, k, tr_err_name(rc));
        return;
    }
    cr_assert_eq(rc, 0, "%s/%s committed: %s", actor, k, tr_err_name(rc));
    cr_assert_eq(len, strlen(v));
    cr_assert_eq(memcmp(buf, v, len), 0, "%s/%s committed", actor, k);
}

static uint64_t append_s(const char *actor, const char *ev);

static void during_commit_rewrite(tr_store *s, void *ud) {
    (void)ud;
    tr__store_test_mid_commit(s, NULL, NULL); /* once */
    cr_assert_eq(tr__store_put(s, "x", "k", 1, "v2", 2), 0);
    cr_assert_eq(tr__store_snapshot(s, "x", 1, "S-new", 5), 0);
    cr_assert_eq(append_s("x", "e2"), 2);
    char buf[8];
    size_t len;
    cr_assert_eq(tr__store_get(s, "x", "k", 1, buf, sizeof(buf), &len), 0);
    cr_assert_eq(memcmp(buf, "v2", 2), 0, "the writer sees its newest version mid-commit");
}

Test(store, a_write_during_a_commit_stays_visible_and_commits_next, .init = setup,
     .fini = teardown) {
    put_s("x", "k", "v1");
    append_s("x", "e1");
    cr_assert_eq(tr__store_snapshot(st, "x", 1, "S-old", 5), 0);
    tr__store_test_mid_commit(st, during_commit_rewrite, NULL);
    commit();
    expect("x", "k", "v2"); /* still in the overlay: batch N's release must not drop it */
    committed_is("x", "k", "v1");
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.overlay_keys, 1);
    commit();
    committed_is("x", "k", "v2");
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.overlay_keys, 0);
    reopen();
    expect("x", "k", "v2");
    cr_assert_eq(append_s("x", "e3"), 3);
}

/* The notification of batch N must find N's version in LMDB even though a newer version of
 * the same key was written while N was being committed. */
static const char *durable_saw;
static void durable_checks_lmdb(void *ud, tr_addr who, uint64_t token, int status) {
    on_durable(ud, who, token, status);
    char buf[8] = {0};
    size_t len = 0;
    int rc = tr__store_get_committed(st, "x", "k", 1, buf, sizeof(buf) - 1, &len);
    durable_saw = rc == 0 && len == 2 && memcmp(buf, "v1", 2) == 0 ? "v1" : "other";
}

static void during_commit_put(tr_store *s, void *ud) {
    (void)ud;
    tr__store_test_mid_commit(s, NULL, NULL);
    cr_assert_eq(tr__store_put(s, "x", "k", 1, "v2", 2), 0);
}

Test(store, a_notification_finds_its_batch_in_lmdb_despite_a_newer_write, .init = setup,
     .fini = teardown) {
    tr_store_hooks h = {on_ready, durable_checks_lmdb, on_release, &hooks_rec};
    tr__store_bind(st, &h);
    put_s("x", "k", "v1");
    uint64_t tok;
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), 0);
    tr__store_test_mid_commit(st, during_commit_put, NULL);
    durable_saw = NULL;
    commit();
    cr_assert_eq(hooks_rec.durable, 1);
    cr_assert_str_eq(durable_saw, "v1");
}

Test(store, drop_pending_after_a_commit_keeps_that_commit_only, .init = setup, .fini = teardown) {
    put_s("x", "k", "v1");
    tr__store_test_mid_commit(st, during_commit_put, NULL);
    commit();
    tr__store_drop_pending(st); /* the write made during the commit was never committed */
    expect("x", "k", "v1");
}

static int snap_text(void *ud, uint64_t seq, const void *data, size_t len) {
    memcpy(ud, data, len < 63 ? len : 63);
    return 0;
}

static void during_commit_snapshot(tr_store *s, void *ud) {
    (void)ud;
    tr__store_test_mid_commit(s, NULL, NULL);
    cr_assert_eq(tr__store_snapshot(s, "x", 1, "S-new", 5), 0);
}

Test(store, a_snapshot_during_a_commit_stays_visible_and_the_old_one_commits, .init = setup,
     .fini = teardown) {
    append_s("x", "e1");
    cr_assert_eq(tr__store_snapshot(st, "x", 1, "S-old", 5), 0);
    tr__store_test_mid_commit(st, during_commit_snapshot, NULL);
    commit();
    char got[64] = {0};
    cr_assert_eq(tr__store_recover(st, "x", snap_text, NULL, got), 0);
    cr_assert_str_eq(got, "S-new", "the newest snapshot is the actor's view");
    tr__store_drop_pending(st);
    memset(got, 0, sizeof(got));
    cr_assert_eq(tr__store_recover(st, "x", snap_text, NULL, got), 0);
    cr_assert_str_eq(got, "S-old", "the snapshot of the finished commit is durable");
}

/* ---- journal, snapshots, recovery ---------------------------------------------------- */

typedef struct replay {
    int snapshots;
    uint64_t snap_seq;
    char snap[64];
    int events;
    uint64_t seqs[64];
    char data[64][16];
    int stop_after; /* 0 = never */
} replay;

static int on_snap(void *ud, uint64_t seq, const void *data, size_t len) {
    replay *r = ud;
    r->snapshots++;
    r->snap_seq = seq;
    memcpy(r->snap, data, len < 63 ? len : 63);
    return 0;
}

static int on_event(void *ud, uint64_t seq, const void *ev, size_t len) {
    replay *r = ud;
    cr_assert_lt(r->events, 64);
    r->seqs[r->events] = seq;
    memcpy(r->data[r->events], ev, len < 15 ? len : 15);
    r->events++;
    return r->stop_after && r->events == r->stop_after ? 42 : 0;
}

static uint64_t append_s(const char *actor, const char *ev) {
    uint64_t seq = 0;
    cr_assert_eq(tr__store_append(st, actor, ev, strlen(ev), &seq), 0);
    return seq;
}

Test(store, journal_seqs_start_at_one_and_continue_after_reopen, .init = setup, .fini = teardown) {
    cr_assert_eq(append_s("j", "e1"), 1);
    cr_assert_eq(append_s("j", "e2"), 2);
    cr_assert_eq(append_s("k", "x1"), 1, "each actor has its own sequence");
    commit();
    reopen();
    cr_assert_eq(append_s("j", "e3"), 3);
    cr_assert_eq(append_s("jj", "y1"), 1, "a name that extends another is another actor");
    commit();
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "j", on_snap, on_event, &r), 0);
    cr_assert_eq(r.snapshots, 0);
    cr_assert_eq(r.events, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r.seqs[i], (uint64_t)i + 1);
    }
    cr_assert_str_eq(r.data[2], "e3");
}

Test(store, recover_gives_latest_snapshot_then_later_events_in_order, .init = setup,
     .fini = teardown) {
    for (int i = 1; i <= 5; i++) {
        char ev[8];
        snprintf(ev, sizeof(ev), "e%d", i);
        append_s("acc", ev);
    }
    cr_assert_eq(tr__store_snapshot(st, "acc", 2, "S2", 2), 0);
    commit();
    cr_assert_eq(tr__store_snapshot(st, "acc", 3, "S3", 2), 0);
    append_s("acc", "e6");
    commit();
    reopen();
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "acc", on_snap, on_event, &r), 0);
    cr_assert_eq(r.snapshots, 1);
    cr_assert_eq(r.snap_seq, 3);
    cr_assert_str_eq(r.snap, "S3");
    cr_assert_eq(r.events, 3);
    cr_assert_eq(r.seqs[0], 4);
    cr_assert_eq(r.seqs[1], 5);
    cr_assert_eq(r.seqs[2], 6);
    cr_assert_str_eq(r.data[2], "e6");
}

Test(store, recover_sees_pending_snapshot_and_events, .init = setup, .fini = teardown) {
    append_s("p", "e1");
    append_s("p", "e2");
    commit();
    append_s("p", "e3");
    cr_assert_eq(tr__store_snapshot(st, "p", 3, "S3", 2), 0);
    append_s("p", "e4");
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "p", on_snap, on_event, &r), 0);
    cr_assert_eq(r.snap_seq, 3);
    cr_assert_eq(r.events, 1);
    cr_assert_eq(r.seqs[0], 4);
    replay all = {0};
    cr_assert_eq(tr__store_recover(st, "p", NULL, on_event, &all), 0);
    cr_assert_eq(all.events, 1, "without a snapshot callback the snapshot still bounds replay");
}

Test(store, recover_of_pending_and_committed_events_has_no_gap_or_duplicate, .init = setup,
     .fini = teardown) {
    append_s("m", "e1");
    commit();
    append_s("m", "e2");
    append_s("m", "e3");
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "m", NULL, on_event, &r), 0);
    cr_assert_eq(r.events, 3);
    cr_assert_eq(r.seqs[0], 1);
    cr_assert_eq(r.seqs[2], 3);
}

Test(store, recover_stops_when_a_callback_returns_nonzero, .init = setup, .fini = teardown) {
    for (int i = 0; i < 5; i++) {
        append_s("s", "e");
    }
    commit();
    replay r = {.stop_after = 2};
    cr_assert_eq(tr__store_recover(st, "s", NULL, on_event, &r), 42);
    cr_assert_eq(r.events, 2);
}

Test(store, recover_of_unknown_actor_replays_nothing, .init = setup, .fini = teardown) {
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "nobody", on_snap, on_event, &r), 0);
    cr_assert_eq(r.snapshots + r.events, 0);
}

Test(store, snapshot_past_the_journal_end_is_refused, .init = setup, .fini = teardown) {
    append_s("q", "e1");
    cr_assert_eq(tr__store_snapshot(st, "q", 2, "S", 1), TR_EINVAL);
    cr_assert_eq(tr__store_snapshot(st, "q", 1, "S", 1), 0);
    cr_assert_eq(tr__store_snapshot(st, "fresh", 0, "S0", 2), 0, "seq 0 covers no event");
}

/* Many chunks of committed events (recovery reads them in several read txns). */
enum {
    LONG_N = 20000,
    LONG_EV = 100
};
typedef struct long_check {
    uint64_t next;
    int bad;
} long_check;

static int long_cb(void *ud, uint64_t seq, const void *e, size_t len) {
    long_check *c = ud;
    uint32_t v;
    memcpy(&v, e, sizeof(v));
    if (seq != c->next || (seq <= LONG_N && (len != LONG_EV || v != seq))) {
        c->bad++;
    }
    c->next++;
    return 0;
}

Test(store, recover_of_a_long_journal_is_complete_and_ordered, .init = setup, .fini = teardown) {
    char ev[LONG_EV];
    memset(ev, 'e', sizeof(ev));
    for (uint32_t i = 1; i <= LONG_N; i++) {
        memcpy(ev, &i, sizeof(i));
        cr_assert_eq(tr__store_append(st, "long", ev, sizeof(ev), NULL), 0);
        if (i % 5000 == 0) {
            commit();
        }
    }
    append_s("long", "tail"); /* pending */
    append_s("longer", "other actor");
    long_check c = {1, 0};
    cr_assert_eq(tr__store_recover(st, "long", NULL, long_cb, &c), 0);
    cr_assert_eq(c.bad, 0);
    cr_assert_eq(c.next, LONG_N + 2);
}

/* ---- simulated crash ------------------------------------------------------------------ */

Test(store, drop_pending_loses_only_uncommitted_writes, .init = setup, .fini = teardown) {
    put_s("x", "kept", "1");
    append_s("x", "e1");
    commit();
    put_s("x", "lost", "2");
    put_s("x", "kept", "overwritten-then-lost");
    append_s("x", "e2");
    uint64_t tok;
    tr_msg m = {0};
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), 0);
    cr_assert_eq(tr__store_hold(st, &m), 0);
    tr__store_drop_pending(st);
    cr_assert_not(tr__store_has_pending(st));
    expect("x", "kept", "1");
    expect("x", "lost", NULL);
    cr_assert_eq(hooks_rec.released, 1, "a held reply is handed back to be freed");
    cr_assert_eq(hooks_rec.release_status, TR_ECLOSED);
    commit();
    cr_assert_eq(hooks_rec.durable, 0, "a dropped notification never fires");
    cr_assert_eq(append_s("x", "e2again"), 2, "the sequence continues from what is durable");
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.overlay_keys, 0);
}

/* ---- defer_bytes (the simulator's stores) ---------------------------------------------- */

static void reopen_deferred(uint64_t defer_bytes) {
    tr__store_close(st);
    tr_store_opts o = {.dir = dir, .no_sync = true, .defer_bytes = defer_bytes};
    cr_assert_eq(tr__store_open(&o, &st), 0);
    tr_store_hooks h = {on_ready, on_durable, on_release, &hooks_rec};
    tr__store_bind(st, &h);
}

static tr_store_stats stats_now(void) {
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    return s;
}

Test(store_defer, a_held_back_commit_is_durable_at_once_and_survives_a_crash, .init = setup,
     .fini = teardown) {
    reopen_deferred(1 << 20);
    put_s("x", "k", "v1");
    uint64_t tok;
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), 0);
    commit();
    cr_assert_eq(hooks_rec.durable, 1, "the notification fires at the commit");
    cr_assert_eq(hooks_rec.last_status, 0);
    cr_assert_eq(stats_now().flushes, 0, "nothing written to LMDB yet");
    cr_assert_eq(stats_now().overlay_keys, 1, "the overlay serves the held-back batch");
    put_s("x", "k", "v2-never-committed");
    put_s("x", "other", "never-committed");
    tr__store_drop_pending(st); /* a simulated crash */
    expect("x", "k", "v1");
    expect("x", "other", NULL);
    cr_assert_eq(stats_now().flushes, 1, "the crash flushed what was committed");
    reopen_deferred(1 << 20);
    expect("x", "k", "v1");
}

Test(store_defer, held_back_batches_reach_lmdb_in_order_past_defer_bytes, .init = setup,
     .fini = teardown) {
    reopen_deferred(256); /* bytes count each entry's header too (~60 bytes) */
    put_s("x", "k", "v1");
    commit();
    put_s("x", "k", "v2");
    commit();
    cr_assert_eq(stats_now().flushes, 0, "under 256 bytes: still held back");
    char pad[201];
    memset(pad, 'p', 200);
    pad[200] = 0;
    put_s("x", "pad", pad);
    commit();
    cr_assert_eq(stats_now().flushes, 1);
    cr_assert_eq(stats_now().overlay_keys, 0);
    char buf[8];
    size_t len = 0;
    cr_assert_eq(tr__store_get_committed(st, "x", "k", 1, buf, sizeof buf, &len), 0);
    cr_assert(len == 2 && memcmp(buf, "v2", 2) == 0, "the newer batch wins");
}

Test(store_defer, get_committed_and_close_flush_held_back_batches, .init = setup,
     .fini = teardown) {
    reopen_deferred(1 << 20);
    put_s("x", "a", "1");
    commit();
    char buf[8];
    size_t len = 0;
    cr_assert_eq(tr__store_get_committed(st, "x", "a", 1, buf, sizeof buf, &len), 0);
    cr_assert_eq(stats_now().flushes, 1);
    put_s("x", "b", "2");
    commit();
    reopen(); /* close flushes; the plain store reads it back */
    expect("x", "a", "1");
    expect("x", "b", "2");
}

Test(store_defer, recover_replays_held_back_events_and_a_crash_keeps_them, .init = setup,
     .fini = teardown) {
    reopen_deferred(1 << 20);
    append_s("j", "e1");
    append_s("j", "e2");
    commit();
    cr_assert_eq(tr__store_snapshot(st, "j", 2, "S2", 2), 0);
    append_s("j", "e3");
    commit();
    append_s("j", "e4"); /* pending */
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "j", on_snap, on_event, &r), 0);
    cr_assert_eq(r.snap_seq, 2);
    cr_assert_eq(r.events, 2);
    cr_assert_eq(r.seqs[0], 3);
    cr_assert_eq(r.seqs[1], 4);
    tr__store_drop_pending(st);
    replay after = {0};
    cr_assert_eq(tr__store_recover(st, "j", on_snap, on_event, &after), 0);
    cr_assert_eq(after.snap_seq, 2);
    cr_assert_eq(after.events, 1);
    cr_assert_eq(after.seqs[0], 3);
    cr_assert_eq(append_s("j", "e4again"), 4, "the sequence continues after the held-back batch");
}

/* ---- Journal truncation (compaction) ---------------------------------------------------- */

typedef struct jrange {
    uint64_t first, last, count;
} jrange;

static jrange journal_range(const char *actor) {
    jrange r;
    cr_assert_eq(tr__store_journal_range(st, actor, &r.first, &r.last, &r.count), 0);
    return r;
}

static void append_n(const char *actor, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i <= to; i++) {
        char ev[16];
        snprintf(ev, sizeof ev, "e%llu", (unsigned long long)i);
        cr_assert_eq(append_s(actor, ev), i);
    }
}

/* Recovery gives snapshot `snap_seq` and then exactly the events snap_seq+1..last. */
static void expect_recovery(const char *actor, uint64_t snap_seq, uint64_t last) {
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, actor, on_snap, on_event, &r), 0);
    cr_assert_eq(r.snapshots, 1);
    cr_assert_eq(r.snap_seq, snap_seq);
    cr_assert_eq((uint64_t)r.events, last - snap_seq, "events %d", r.events);
    for (int i = 0; i < r.events; i++) {
        char want[16];
        snprintf(want, sizeof want, "e%llu", (unsigned long long)(snap_seq + 1 + i));
        cr_assert_eq(r.seqs[i], snap_seq + 1 + (uint64_t)i);
        cr_assert_str_eq(r.data[i], want);
    }
}

Test(store_trunc, truncate_drops_covered_events_and_recovery_gives_snapshot_and_tail, .init = setup,
     .fini = teardown) {
    append_n("acc", 1, 6);
    append_s("acc2", "other"); /* another actor's journal is not touched */
    cr_assert_eq(tr__store_snapshot(st, "acc", 4, "S4", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "acc", 4), 0);
    commit();
    jrange j = journal_range("acc");
    cr_assert(j.first == 5 && j.last == 6 && j.count == 2, "%llu..%llu (%llu)",
              (unsigned long long)j.first, (unsigned long long)j.last, (unsigned long long)j.count);
    cr_assert_eq(journal_range("acc2").count, 1);
    expect_recovery("acc", 4, 6);
    cr_assert_eq(stats_now().truncations, 1);
    cr_assert_eq(stats_now().truncated, 4);
    cr_assert_eq(stats_now().writes, 8, "a truncation is not counted as a write");
    reopen();
    expect_recovery("acc", 4, 6);
    cr_assert_eq(append_s("acc", "e7"), 7);
    commit();
    expect_recovery("acc", 4, 7);
}

Test(store_trunc, truncating_a_whole_journal_leaves_the_next_actors_alone, .init = setup,
     .fini = teardown) {
    append_n("a", 1, 3); /* "a\0..." sorts before "b\0..." and "a2\0..." */
    append_n("a2", 1, 2);
    append_n("b", 1, 2);
    commit();
    cr_assert_eq(tr__store_snapshot(st, "a", 3, "S3", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "a", 3), 0);
    commit();
    cr_assert_eq(journal_range("a").count, 0);
    cr_assert_eq(journal_range("a2").count, 2);
    cr_assert_eq(journal_range("b").count, 2);
    cr_assert_eq(tr__store_snapshot(st, "b", 2, "S2", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "b", 1), 0); /* the last actor: no key after it */
    commit();
    jrange j = journal_range("b");
    cr_assert(j.first == 2 && j.count == 1);
    cr_assert_eq(journal_range("a2").count, 2);
}

Test(store_trunc, truncating_everything_keeps_the_sequence_going, .init = setup, .fini = teardown) {
    append_n("j", 1, 3);
    cr_assert_eq(tr__store_snapshot(st, "j", 3, "S3", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "j", 3), 0);
    commit();
    cr_assert_eq(journal_range("j").count, 0);
    tr__store_drop_pending(st); /* forgets the cached sequence: LMDB must give it */
    cr_assert_eq(append_s("j", "e4"), 4, "after a crash");
    commit();
    cr_assert_eq(tr__store_snapshot(st, "j", 4, "S4", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "j", 4), 0);
    commit();
    reopen();
    cr_assert_eq(journal_range("j").count, 0);
    cr_assert_eq(append_s("j", "e5"), 5, "after a reopen");
    commit();
    expect_recovery("j", 4, 5);
}

Test(store_trunc, truncating_past_the_latest_snapshot_is_refused, .init = setup, .fini = teardown) {
    append_n("r", 1, 5);
    cr_assert_eq(tr__store_truncate(st, "r", 1), TR_EINVAL, "no snapshot at all");
    cr_assert_eq(tr__store_truncate(st, "r", 0), 0, "nothing to drop");
    cr_assert_eq(tr__store_truncate(st, "", 0), TR_EINVAL);
    cr_assert_eq(tr__store_snapshot(st, "r", 3, "S3", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "r", 4), TR_EINVAL, "past the pending snapshot");
    cr_assert_eq(tr__store_truncate(st, "r", 2), 0);
    commit();
    cr_assert_eq(tr__store_truncate(st, "r", 4), TR_EINVAL, "past the committed snapshot");
    cr_assert_eq(tr__store_truncate(st, "r", 3), 0);
    cr_assert_eq(tr__store_truncate(st, "r", 3), 0, "again: nothing new");
    cr_assert_eq(tr__store_snapshot(st, "r", 2, "S2", 2), TR_EINVAL,
                 "a snapshot below a truncation would need dropped events");
    commit();
    jrange j = journal_range("r");
    cr_assert(j.first == 4 && j.count == 2);
    expect_recovery("r", 3, 5);
    cr_assert_eq(stats_now().truncations, 2);
}

Test(store_trunc, a_pending_truncation_is_lost_at_a_crash_and_recovery_stays_complete,
     .init = setup, .fini = teardown) {
    append_n("c", 1, 4);
    cr_assert_eq(tr__store_snapshot(st, "c", 2, "S2", 2), 0);
    commit();
    cr_assert_eq(tr__store_truncate(st, "c", 2), 0);
    append_s("c", "e5");
    expect_recovery("c", 2, 5); /* the actor's view with the truncation pending */
    tr__store_drop_pending(st);
    jrange j = journal_range("c");
    cr_assert(j.first == 1 && j.count == 4, "the truncation went with the crash");
    expect_recovery("c", 2, 4);
    cr_assert_eq(append_s("c", "e5"), 5);
    cr_assert_eq(tr__store_truncate(st, "c", 2), 0, "redone after the crash");
    commit();
    cr_assert_eq(journal_range("c").first, 3);
    expect_recovery("c", 2, 5);
}

/* The truncation issued while its snapshot is being committed goes in the next commit. */
static void during_commit_truncate(tr_store *s, void *ud) {
    (void)ud;
    tr__store_test_mid_commit(s, NULL, NULL);
    cr_assert_eq(tr__store_truncate(s, "m", 3), 0, "the committing snapshot is visible");
}

Test(store_trunc, a_truncation_never_commits_before_its_snapshot, .init = setup, .fini = teardown) {
    append_n("m", 1, 4);
    cr_assert_eq(tr__store_snapshot(st, "m", 3, "S3", 2), 0);
    tr__store_test_mid_commit(st, during_commit_truncate, NULL);
    commit();
    cr_assert_eq(journal_range("m").count, 4, "the truncation waits for the next commit");
    cr_assert(tr__store_has_pending(st));
    commit();
    cr_assert_eq(journal_range("m").first, 4);
    expect_recovery("m", 3, 4);
}

Test(store_trunc, a_long_journal_is_truncated_in_bounded_steps, .init = setup, .fini = teardown) {
    enum {
        N = 100000
    };
    for (uint64_t i = 1; i <= N; i++) {
        cr_assert_eq(tr__store_append(st, "big", "ev", 2, NULL), 0);
    }
    cr_assert_eq(tr__store_snapshot(st, "big", N, "SN", 2), 0);
    commit();
    int ready = hooks_rec.ready;
    cr_assert_eq(tr__store_truncate(st, "big", N), 0);
    int commits = 0;
    while (tr__store_has_pending(st)) {
        commit();
        commits++;
        cr_assert_eq(stats_now().truncated,
                     (uint64_t)commits * 16384 < N ? (uint64_t)commits * 16384 : N);
        cr_assert_eq(journal_range("big").count, N - stats_now().truncated);
        cr_assert_leq(commits, 7);
    }
    cr_assert_eq(commits, 7, "100,000 events in steps of 16,384");
    cr_assert_eq(hooks_rec.ready, ready + 7, "each re-queued step asks for a commit");
    cr_assert_eq(journal_range("big").count, 0);
    uint64_t seq;
    cr_assert_eq(tr__store_append(st, "big", "ev", 2, &seq), 0);
    cr_assert_eq(seq, N + 1);
}

Test(store_trunc, a_held_back_truncation_is_durable_at_its_commit_and_kept_by_a_crash,
     .init = setup, .fini = teardown) {
    reopen_deferred(1 << 20);
    append_n("d", 1, 3);
    commit();
    cr_assert_eq(tr__store_flush(st), 0); /* e1..e3 are in LMDB */
    append_n("d", 4, 6);
    cr_assert_eq(tr__store_snapshot(st, "d", 5, "S5", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "d", 5), 0);
    uint64_t writes = 0;
    cr_assert_eq(tr__store_commit(st, &writes), 0);
    cr_assert_eq(writes, 4, "writes_out leaves the truncation out");
    cr_assert_eq(stats_now().truncated, 0, "held back: nothing deleted yet");
    expect_recovery("d", 5, 6);
    append_n("d", 7, 7);
    cr_assert_eq(tr__store_snapshot(st, "d", 7, "S7", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "d", 7), 0); /* pending: the crash loses it */
    tr__store_drop_pending(st);
    /* The crash flushed the committed batch: e1..e3 deleted from LMDB, e4 and e5 (appended
     * and truncated in the same flush) never written, e6 written. */
    cr_assert_eq(stats_now().truncated, 3);
    jrange j = journal_range("d");
    cr_assert(j.first == 6 && j.last == 6 && j.count == 1);
    expect_recovery("d", 5, 6);
    cr_assert_eq(append_s("d", "e7"), 7, "the sequence goes on from the held-back batch");
    commit();
    reopen();
    expect_recovery("d", 5, 7);
}

/* A held-back truncation that is not finished in one flush goes on in the next commits. */
Test(store_trunc, a_held_back_long_truncation_continues_in_later_commits, .init = setup,
     .fini = teardown) {
    enum {
        N = 40000
    };
    reopen_deferred(1 << 16);
    for (uint64_t i = 1; i <= N; i++) {
        cr_assert_eq(tr__store_append(st, "big", "ev", 2, NULL), 0);
    }
    cr_assert_eq(tr__store_snapshot(st, "big", N, "SN", 2), 0);
    commit(); /* past defer_bytes: flushed */
    cr_assert_eq(journal_range("big").count, N);
    cr_assert_eq(tr__store_truncate(st, "big", N), 0);
    int commits = 0;
    while (tr__store_has_pending(st) && commits < 10) {
        commit();
        cr_assert_eq(tr__store_flush(st), 0);
        commits++;
    }
    cr_assert_eq(commits, 3, "40,000 events in steps of 16,384");
    cr_assert_eq(stats_now().truncated, N);
    cr_assert_eq(journal_range("big").count, 0);
}

/* ---- One txn writing to every database (the commit's per-database cursors) ------------- */

typedef struct seq_check {
    const char *actor;
    uint64_t next;
    uint64_t snap_seq;
    int bad;
} seq_check;

static int seq_snap(void *ud, uint64_t seq, const void *data, size_t len) {
    seq_check *c = ud;
    char want[32];
    int n = snprintf(want, sizeof want, "S%llu", (unsigned long long)seq);
    c->bad += len != (size_t)n || memcmp(data, want, len) != 0;
    c->snap_seq = seq;
    c->next = seq + 1;
    return 0;
}

static int seq_event(void *ud, uint64_t seq, const void *ev, size_t len) {
    seq_check *c = ud;
    char want[32];
    int n = snprintf(want, sizeof want, "%s-%llu", c->actor, (unsigned long long)seq);
    c->bad += seq != c->next || len != (size_t)n || memcmp(ev, want, len) != 0;
    c->next = seq + 1;
    return 0;
}

/* Batch 1: 400 kv keys in scattered order. Batch 2: three actors' journals interleaved,
 * every kv key rewritten or deleted in scattered order, three snapshots of one actor. */
static void write_mixed_batches(void) {
    char k[16], v[32], ev[32];
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "k%03d", i * 7 % 400);
        snprintf(v, sizeof v, "v1-%d", i);
        put_s("kv", k, v);
    }
    commit();
    static const char *actors[] = {"ja", "jb", "jc"};
    for (int i = 0; i < 900; i++) {
        const char *a = actors[i % 3];
        uint64_t seq = (uint64_t)i / 3 + 1;
        snprintf(ev, sizeof ev, "%s-%llu", a, (unsigned long long)seq);
        cr_assert_eq(append_s(a, ev), seq);
        if (i % 300 == 0) {
            snprintf(v, sizeof v, "S%llu", (unsigned long long)seq);
            cr_assert_eq(tr__store_snapshot(st, "ja", seq, v, strlen(v)), 0);
        }
        int key = i * 13 % 400;
        snprintf(k, sizeof k, "k%03d", key);
        if (key % 3 == 0) {
            cr_assert_eq(tr__store_del(st, "kv", k, strlen(k)), 0);
        } else {
            snprintf(v, sizeof v, "v2-%d", key);
            put_s("kv", k, v);
        }
    }
    commit();
}

static void check_mixed_batches(void) {
    char k[16], v[32];
    for (int key = 0; key < 400; key++) {
        snprintf(k, sizeof k, "k%03d", key);
        snprintf(v, sizeof v, "v2-%d", key);
        expect("kv", k, key % 3 == 0 ? NULL : v);
    }
    seq_check c[3] = {{"ja", 1, 0, 0}, {"jb", 1, 0, 0}, {"jc", 1, 0, 0}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr__store_recover(st, c[i].actor, seq_snap, seq_event, &c[i]), 0);
        cr_assert_eq(c[i].bad, 0, "%s", c[i].actor);
        cr_assert_eq(c[i].next, 301, "%s: every event, in order", c[i].actor);
    }
    cr_assert_eq(c[0].snap_seq, 201, "the latest snapshot wins");
    cr_assert_eq(c[1].snap_seq, 0);
}

Test(store, one_txn_over_every_database_keeps_every_write, .init = setup, .fini = teardown) {
    write_mixed_batches();
    check_mixed_batches();
    reopen();
    check_mixed_batches();
}

Test(store_defer, one_flush_over_every_database_keeps_every_write, .init = setup,
     .fini = teardown) {
    reopen_deferred(1 << 20);
    write_mixed_batches();
    cr_assert_eq(stats_now().flushes, 0);
    check_mixed_batches();
    reopen(); /* close flushes both batches in one txn; the plain store reads it back */
    check_mixed_batches();
}

/* A defer_bytes store recycles its entries and waiters: thousands of writes of every size
 * (some recycled, some too big to be), flushes, notifications and crashes in between, and
 * every key still reads its last committed value. */
Test(store_defer, recycled_entries_and_waiters_keep_every_value, .init = setup, .fini = teardown) {
    reopen_deferred(4096); /* a flush every few dozen writes */
    enum {
        KEYS = 97
    };
    static char model[KEYS][256], pending[KEYS][256];
    static bool in_model[KEYS], in_pending[KEYS];
    uint64_t seed = 12345;
    char k[16], v[256];
    int durable_before = hooks_rec.durable;
    int notified = 0;
    for (int i = 0; i < 6000; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int key = (int)((seed >> 33) % KEYS);
        size_t len = 8 + (size_t)((seed >> 20) % 240); /* entries of ~70 to ~310 bytes */
        snprintf(k, sizeof k, "k%d", key);
        int n = snprintf(v, sizeof v, "%d/", i); /* a distinct prefix, then padding */
        memset(v + n, 'a' + i % 26, len - (size_t)n);
        v[len] = '\0';
        put_s("r", k, v);
        strcpy(pending[key], v);
        in_pending[key] = true;
        if (i % 7 == 0) {
            uint64_t tok;
            cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), 0);
            notified++;
        }
        if (i % 5 == 4) {
            commit();
            for (int j = 0; j < KEYS; j++) {
                if (in_pending[j]) {
                    strcpy(model[j], pending[j]);
                    in_model[j] = true;
                    in_pending[j] = false;
                }
            }
        }
        if (i % 997 == 996) { /* a crash: the pending writes vanish */
            tr__store_drop_pending(st);
            memset(in_pending, 0, sizeof in_pending);
            for (int j = 0; j < KEYS; j++) {
                snprintf(k, sizeof k, "k%d", j);
                expect("r", k, in_model[j] ? model[j] : NULL);
            }
        }
    }
    commit();
    for (int j = 0; j < KEYS; j++) {
        if (in_pending[j]) {
            strcpy(model[j], pending[j]);
            in_model[j] = true;
        }
    }
    cr_assert_gt(stats_now().flushes, 50);
    cr_assert_gt(hooks_rec.durable - durable_before, 0);
    cr_assert_leq(hooks_rec.durable - durable_before, notified);
    reopen(); /* close flushes; the plain store reads LMDB */
    for (int j = 0; j < KEYS; j++) {
        snprintf(k, sizeof k, "k%d", j);
        expect("r", k, in_model[j] ? model[j] : NULL);
    }
}

/* A defer_bytes store takes no lock: it is the simulator's, used by the thread that opened
 * it. Debug builds enforce that; a call from another thread stops the process. */
static void *put_from_another_thread(void *arg) {
    (void)arg;
    tr__store_put(st, "x", "k", 1, "v", 1);
    return NULL;
}

#ifndef NDEBUG
Test(store_defer, a_call_from_another_thread_is_refused_in_debug_builds, .init = setup,
     .fini = teardown, .signal = SIGABRT) {
    reopen_deferred(1 << 20);
    rm_dir(strdup(dir)); /* the abort skips teardown; the open store keeps its unlinked files */
    put_s("x", "k", "from the opener");
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, put_from_another_thread, NULL), 0);
    pthread_join(t, NULL);
}
#endif

Test(store, a_plain_store_takes_calls_from_any_thread, .init = setup, .fini = teardown) {
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, put_from_another_thread, NULL), 0);
    pthread_join(t, NULL);
    expect("x", "k", "v");
}

/* The commit barrier (store.h): a commit that comes while a callback is halfway through its
 * writes waits for the callback to end, so both writes land in one commit. Without the
 * barrier the commit below swaps out k1 alone during the pause and k2 stays pending. */
static atomic_int barrier_committed;

static void *commit_from_the_writer(void *arg) {
    (void)arg;
    commit();
    atomic_store(&barrier_committed, 1);
    return NULL;
}

Test(store, a_commit_waits_for_a_callback_halfway_through_its_writes, .init = setup,
     .fini = teardown) {
    atomic_store(&barrier_committed, 0);
    tr__store_callback_begin(st);
    put_s("x", "k1", "v1");
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, commit_from_the_writer, NULL), 0);
    for (int i = 0; i < 20; i++) { /* the writer gets time to swap if it would */
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    cr_expect_eq(atomic_load(&barrier_committed), 0, "the commit ran during the callback");
    put_s("x", "k2", "v2");
    tr__store_callback_end(st);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&barrier_committed), 1);
    committed_is("x", "k1", "v1");
    committed_is("x", "k2", "v2");
}

Test(store, actor_records_are_freed_once_gone_and_durable, .init = setup, .fini = teardown) {
    append_s("g", "e1");
    tr__store_actor_gone(st, "g");
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.actor_records, 1, "pending writes keep the record");
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "g", NULL, on_event, &r), 0);
    cr_assert_eq(r.events, 1, "a restarted incarnation sees the pending event");
    commit();
    tr__store_stats_get(st, &s);
    cr_assert_eq(s.actor_records, 0);
    cr_assert_eq(append_s("g", "e2"), 2);
}

/* ---- map growth and commit failure ---------------------------------------------------- */

Test(store, map_grows_from_a_tiny_size_instead_of_failing, .init = setup, .fini = teardown) {
    tr__store_close(st);
    st = open_at(dir, 64 << 10);
    char v[4096];
    for (int i = 0; i < 3000; i++) { /* ~12 MiB through a 64 KiB map */
        memset(v, i & 0xff, sizeof(v));
        cr_assert_eq(tr__store_put(st, "grow", &i, sizeof(i), v, sizeof(v)), 0);
        if (i % 500 == 499) {
            commit();
        }
    }
    commit();
    tr_store_stats s;
    tr__store_stats_get(st, &s);
    cr_assert_geq(s.map_grows, 5);
    reopen();
    for (int i = 0; i < 3000; i += 333) {
        size_t len;
        cr_assert_eq(tr__store_get(st, "grow", &i, sizeof(i), v, sizeof(v), &len), 0);
        cr_assert_eq(len, sizeof(v));
        cr_assert_eq(v[100], (char)(i & 0xff));
    }
}

Test(store, failed_commit_fails_its_waiters_and_every_later_write, .init = setup,
     .fini = teardown) {
    signal(SIGXFSZ, SIG_IGN);
    put_s("x", "k", "v");
    commit();
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = 64 << 10; /* writes past 64 KiB fail with EFBIG */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    char v[8192] = {0};
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(tr__store_put(st, "x", &i, sizeof(i), v, sizeof(v)), 0);
    }
    uint64_t tok;
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), 0);
    int rc = tr__store_commit(st, NULL);
    /* EFBIG from pwrite is TR_ENOSPC; LMDB reports a short write as EIO. */
    cr_assert(rc == TR_ENOSPC || rc == TR_EIO, "got %s", tr_err_name(rc));
    cr_assert_eq(hooks_rec.durable, 1);
    cr_assert_eq(hooks_rec.last_status, rc);
    cr_assert_eq(tr__store_put(st, "x", "k", 1, "w", 1), rc);
    cr_assert_eq(tr__store_notify(st, (tr_addr){1, 0, 1}, &tok), rc);
    rl.rlim_cur = rl.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    cr_assert_eq(tr__store_commit(st, NULL), 0, "nothing left to commit");
    cr_assert_eq(tr__store_put(st, "x", "k", 1, "w", 1), rc, "the store stays failed");
    expect("x", "k", "v"); /* committed data still reads */
}

/* ---- opening: what is refused, and that refused files stay untouched ------------------- */

static void open_expect(const char *d, int want) {
    tr_store_opts o = {.dir = d};
    tr_store *s = NULL;
    int rc = tr__store_open(&o, &s);
    cr_assert_eq(rc, want, "open gave %s, want %s", tr_err_name(rc), tr_err_name(want));
    cr_assert_null(s);
}

/* Snapshot of a directory's files for "left untouched" checks. */
typedef struct dirshot {
    int files;
    size_t data_len;
    unsigned char *data;
} dirshot;

static dirshot shoot(const char *d) {
    dirshot s = {.files = count_files(d)};
    s.data = read_file(d, "data.mdb", &s.data_len);
    return s;
}

static void same_as(const char *d, dirshot before) {
    dirshot now = shoot(d);
    cr_assert_eq(now.files, before.files, "files were added or removed");
    cr_assert_eq(now.data_len, before.data_len);
    if (before.data) {
        cr_assert_eq(memcmp(now.data, before.data, now.data_len), 0, "data.mdb was modified");
    }
    free(now.data);
    free(before.data);
}

/* Builds an LMDB file by hand: named db `db` (or the main db if NULL) with one key. */
static void make_lmdb(const char *d, const char *db, const char *k, const void *v, size_t vl) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    cr_assert_eq(mdb_env_open(env, d, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);
    MDB_val mk = {strlen(k), (void *)k}, mv = {vl, (void *)v};
    cr_assert_eq(mdb_put(txn, dbi, &mk, &mv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

Test(store_open, directory_with_other_files_is_foreign_and_untouched, .init = setup,
     .fini = teardown) {
    tr__store_close(st);
    st = NULL;
    char *d = tmp_dir();
    write_file(d, "notes.txt", "mine", 4);
    dirshot before = shoot(d);
    open_expect(d, TR_EFOREIGN);
    same_as(d, before);
    rm_dir(d);
}

Test(store_open, a_regular_file_is_foreign, .init = setup, .fini = teardown) {
    write_file(dir, "data.mdb.bak", "x", 1);
    char p[512];
    path_in(p, sizeof(p), dir, "data.mdb.bak");
    open_expect(p, TR_EFOREIGN);
}

Test(store_open, lmdb_without_our_meta_is_foreign_and_untouched) {
    char *d = tmp_dir();
    make_lmdb(d, NULL, "user", "data", 4);
    char lock[512];
    path_in(lock, sizeof(lock), d, "lock.mdb");
    unlink(lock); /* so that we can see that open does not create one */
    dirshot before = shoot(d);
    open_expect(d, TR_EFOREIGN);
    same_as(d, before);
    make_lmdb(d, NULL, "meta", "plain key, not a db", 19);
    open_expect(d, TR_EFOREIGN);
    rm_dir(d);
}

Test(store_open, lmdb_with_someone_elses_magic_is_foreign) {
    char *d = tmp_dir();
    make_lmdb(d, "meta", "magic", "other-app", 9);
    open_expect(d, TR_EFOREIGN);
    rm_dir(d);
}

Test(store_open, newer_format_is_refused_and_untouched, .init = setup, .fini = teardown) {
    put_s("x", "k", "v");
    commit();
    tr__store_close(st);
    st = NULL;
    unsigned char ver[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    make_lmdb(dir, "meta", "version", ver, 8);
    dirshot before = shoot(dir);
    open_expect(dir, TR_EVERSION);
    same_as(dir, before);
}

Test(store_open, garbled_version_is_corrupt, .init = setup, .fini = teardown) {
    tr__store_close(st);
    st = NULL;
    make_lmdb(dir, "meta", "version", "abc", 3);
    open_expect(dir, TR_ECORRUPT);
}

static void damage(const char *d, long off, size_t n, int byte) {
    char p[512];
    path_in(p, sizeof(p), d, "data.mdb");
    int fd = open(p, O_WRONLY);
    cr_assert_geq(fd, 0);
    unsigned char buf[8192];
    memset(buf, byte, sizeof(buf));
    cr_assert_eq(pwrite(fd, buf, n, off), (ssize_t)n);
    close(fd);
}

static void fill_and_close(void) {
    char v[512] = {0};
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(tr__store_put(st, "x", &i, sizeof(i), v, sizeof(v)), 0);
    }
    commit();
    tr__store_close(st);
    st = NULL;
}

Test(store_open, truncated_data_file_is_corrupt_and_untouched, .init = setup, .fini = teardown) {
    fill_and_close();
    char p[512];
    path_in(p, sizeof(p), dir, "data.mdb");
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_gt(sb.st_size, 3 * 4096);
    cr_assert_eq(truncate(p, sb.st_size / 2), 0);
    dirshot before = shoot(dir);
    open_expect(dir, TR_ECORRUPT);
    same_as(dir, before);
    cr_assert_eq(truncate(p, 100), 0); /* shorter than a meta page */
    open_expect(dir, TR_ECORRUPT);
}

Test(store_open, garbled_meta_pages_are_corrupt_and_untouched, .init = setup, .fini = teardown) {
    fill_and_close();
    damage(dir, 0, 8192, 0x5a);
    dirshot before = shoot(dir);
    open_expect(dir, TR_ECORRUPT);
    same_as(dir, before);
    damage(dir, 0, 8192, 0);
    open_expect(dir, TR_ECORRUPT);
}

Test(store_open, a_text_file_named_data_mdb_is_corrupt, .init = setup, .fini = teardown) {
    tr__store_close(st);
    st = NULL;
    char text[20000];
    memset(text, 'z', sizeof(text));
    write_file(dir, "data.mdb", text, sizeof(text));
    char lock[512];
    path_in(lock, sizeof(lock), dir, "lock.mdb");
    unlink(lock);
    dirshot before = shoot(dir);
    open_expect(dir, TR_ECORRUPT);
    same_as(dir, before);
}

Test(store_open, interrupted_initialisation_is_finished, .init = setup, .fini = teardown) {
    tr__store_close(st);
    st = NULL;
    write_file(dir, "data.mdb", "", 0); /* created, nothing written */
    st = open_at(dir, 0);
    put_s("x", "k", "v");
    commit();
    tr__store_close(st);
    st = NULL;
    char *d = tmp_dir(); /* an LMDB file with no key at all */
    MDB_env *env;
    MDB_txn *txn;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_open(env, d, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    tr_store *s2 = open_at(d, 0);
    tr__store_close(s2);
    rm_dir(d);
}

Test(store_open, absent_directory_is_created_and_second_open_is_busy, .init = setup,
     .fini = teardown) {
    char sub[512];
    path_in(sub, sizeof(sub), dir, "nested");
    tr_store *s2 = open_at(sub, 0);
    tr_store_opts o = {.dir = sub};
    tr_store *s3 = NULL;
    cr_assert_eq(tr__store_open(&o, &s3), TR_EBUSY);
    cr_assert_null(s3);
    tr__store_close(s2);
    s2 = open_at(sub, 0);
    tr__store_close(s2);
    rm_dir(strdup(sub));
}

Test(store_open, a_garbled_snapshot_record_is_reported_not_replayed, .init = setup,
     .fini = teardown) {
    append_s("x", "e1");
    commit();
    tr__store_close(st);
    st = NULL;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "snapshot", 0, &dbi), 0);
    MDB_val k = {2, "x\0"}, v = {3, "abc"}; /* shorter than its 8-byte seq */
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    st = open_at(dir, 0);
    replay r = {0};
    cr_assert_eq(tr__store_recover(st, "x", on_snap, on_event, &r), TR_ECORRUPT);
    cr_assert_eq(r.snapshots + r.events, 0);
}

Test(store_open, a_missing_parent_directory_is_enoent) {
    open_expect("/tmp/troupe-no-such-parent-dir/store", TR_ENOENT);
}

Test(store_open, bad_options_are_invalid) {
    tr_store *s = NULL;
    cr_assert_eq(tr__store_open(NULL, &s), TR_EINVAL);
    tr_store_opts o = {0};
    cr_assert_eq(tr__store_open(&o, &s), TR_EINVAL);
    o.dir = "";
    cr_assert_eq(tr__store_open(&o, &s), TR_EINVAL);
}

/* ---- the invariant walker -------------------------------------------------------------- */

Test(store_check, holds_through_writes_commits_and_a_crash, .init = setup, .fini = teardown) {
    put_s("x", "k", "v1");
    append_s("j", "e1");
    append_s("j", "e2");
    cr_assert_eq(tr__store_snapshot(st, "j", 2, "S2", 2), 0);
    cr_assert_eq(tr__store_truncate(st, "j", 2), 0);
    cr_assert(tr__store_check(st));
    commit();
    put_s("x", "k", "v2");
    put_s("x", "k", "v3");
    append_s("j", "e3");
    cr_assert(tr__store_check(st));
    tr__store_drop_pending(st);
    cr_assert(tr__store_check(st));
}

/* A walker that cannot fail is worthless: an overlay whose count disagrees with its table
 * stops the process. */
Test(store_check, a_corrupted_overlay_count_is_caught, .init = setup, .fini = teardown,
     .signal = SIGABRT) {
    rm_dir(strdup(dir)); /* the abort skips teardown; the open store keeps its unlinked files */
    put_s("x", "k", "v1");
    st->kv.count++;
    tr__store_check(st);
}
