/*
 * bench_store.c — `troupe bench store`: durable writes and recovery.
 *
 * Figures, all in one run:
 *   store_group_wN          durable writes/s by N = 1, 10, 1000 actors (real runtime, public
 *                           API): each actor does tr_kv_put + tr_durable_notify and writes
 *                           again only when TR_MSG_DURABLE says the last one is on disk
 *                           (one write in flight per actor; each overwrites its one state
 *                           key). The writer thread group-commits.
 *   store_group_wN_batch    writes per commit in that run (node stats).
 *   store_group_w1000_d16   as store_group_w1000, but each actor keeps 16 durable writes in
 *                           flight (to 16 keys): what the store does when the disk, not
 *                           the number of writers, is the limit.
 *   store_single_wN         the same writes with one commit (and sync) per write: N threads
 *                           on the store API, each put + tr__store_commit under one lock.
 *   store_lmdb_1000         raw LMDB reference: synced txns of 1,000 puts each, to the same
 *                           keys the 1,000 actors write (each overwrites its state key).
 *   store_recover_1m        an actor named "journal" with 1,000,000 journal events (written
 *                           beforehand, not timed) recovers them with tr_recover in its
 *                           init: ms from spawn to its report, and events/s.
 * Every run checks itself: each notification's status is 0, the node's write count grew by
 * exactly the writes issued, the replay is complete, in order and has the right contents.
 * Values and events are msgpack uints. -n N sets the writes per group/single configuration
 * and the journal length.
 */
#include <lmdb.h> /* the raw reference only; the store itself is reached through troupe.h */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "runtime/store.h"
#include "troupe.h"

enum {
    MSG_GO = TR_MSG_USER + 40,
    MSG_DONE,
    MSG_FAIL
};
enum {
    WAIT_MS = 120000
};
/* Every writer overwrites one key, its state: "state" in the actor's namespace. */
static const char STATE_KEY[] = "state";

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* msgpack uint64 (0xcf + 8 bytes big endian): always 9 bytes. */
static size_t pack_u64(uint8_t *b, uint64_t v) {
    b[0] = 0xcf;
    for (int i = 0; i < 8; i++) {
        b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
    }
    return 9;
}

static int unpack_u64(const uint8_t *b, size_t len, uint64_t *v) {
    if (len != 9 || b[0] != 0xcf) {
        return TR_EPROTO;
    }
    *v = 0;
    for (int i = 0; i < 8; i++) {
        *v = (*v << 8) | b[1 + i];
    }
    return 0;
}

static char *make_tmp(void) {
    char *d = strdup("/tmp/troupe-bench-store-XXXXXX");
    if (d && mkdtemp(d) == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

static void remove_tmp(char *d) {
    const char *files[] = {"data.mdb", "lock.mdb"};
    char p[512];
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/%s", d, files[i]);
        unlink(p);
    }
    rmdir(d);
    free(d);
}

/* ---- group commit: real actors ----------------------------------------------------------- */

typedef struct writer_arg {
    tr_addr main;
    uint64_t writes;
    uint32_t depth; /* durable writes in flight (1: write, wait, write...) */
} writer_arg;

typedef struct writer_state {
    writer_arg a;
    uint64_t issued;
    uint64_t done;
} writer_state;

static int writer_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)ctx;
    writer_state *s = state;
    memcpy(&s->a, arg, sizeof(s->a));
    return len == sizeof(s->a) && s->a.depth >= 1 ? 0 : TR_EINVAL;
}

/* One write and its notification. With depth > 1 the writes in flight go to different
 * keys (state0, state1, ...), so that no write is folded into another in a batch. */
static int writer_issue(tr_ctx *ctx, writer_state *s) {
    char key[16];
    int kl = s->a.depth == 1 ? snprintf(key, sizeof(key), "%s", STATE_KEY)
                             : snprintf(key, sizeof(key), "%s%u", STATE_KEY,
                                        (unsigned)(s->issued % s->a.depth));
    uint8_t val[9];
    size_t vl = pack_u64(val, s->issued++);
    int rc = tr_kv_put(ctx, key, (size_t)kl, val, vl);
    return rc ? rc : tr_durable_notify(ctx, NULL);
}

static int writer_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    writer_state *s = state;
    uint8_t b[9];
    int rc = 0;
    if (m->type == MSG_GO) {
        while (rc == 0 && s->issued < s->a.writes && s->issued < s->a.depth) {
            rc = writer_issue(ctx, s);
        }
        return rc ? rc : TR_CONTINUE;
    }
    if (m->type != TR_MSG_DURABLE) {
        return TR_CONTINUE;
    }
    if (m->body_len != 1 || m->body[0] != 0) { /* msgpack 0 = durable */
        tr_send(ctx, s->a.main, MSG_FAIL, b, pack_u64(b, s->done));
        return TR_STOP;
    }
    if (++s->done == s->a.writes) {
        tr_send(ctx, s->a.main, MSG_DONE, b, pack_u64(b, s->done));
        return TR_CONTINUE;
    }
    rc = s->issued < s->a.writes ? writer_issue(ctx, s) : 0;
    return rc ? rc : TR_CONTINUE;
}

static const tr_behaviour writer_b = {
    .name = "bench_store_writer",
    .state_size = sizeof(writer_state),
    .init = writer_init,
    .receive = writer_receive,
};

/* Waits for `count` messages of type MSG_DONE whose uint sum must be `sum`. */
static int wait_done(tr_inbox *ib, uint64_t count, uint64_t sum, const char *what) {
    uint64_t got = 0;
    for (uint64_t i = 0; i < count; i++) {
        tr_msg *m;
        uint64_t v;
        int rc = tr_inbox_receive(ib, WAIT_MS, &m);
        if (rc != 0) {
            fprintf(stderr, "bench store: %s: %s waiting for actor %llu of %llu\n", what,
                    tr_err_name(rc), (unsigned long long)i, (unsigned long long)count);
            return 1;
        }
        bool ok = m->type == MSG_DONE && unpack_u64(m->body, m->body_len, &v) == 0;
        tr_msg_free(m);
        if (!ok) {
            fprintf(stderr, "bench store: %s: an actor failed its check\n", what);
            return 1;
        }
        got += v;
    }
    if (got != sum) {
        fprintf(stderr, "bench store: %s: %llu writes reported, %llu expected\n", what,
                (unsigned long long)got, (unsigned long long)sum);
        return 1;
    }
    return 0;
}

typedef struct run_env {
    tr_runtime *rt;
    tr_node *node;
    tr_inbox *inbox;
} run_env;

static int env_start(const tr_bench_opts *o, const char *dir, uint32_t linger_us, run_env *e) {
    tr_config cfg = {.workers = o->workers, .data_dir = dir, .commit_interval_us = linger_us};
    int rc = tr_runtime_create(&cfg, &e->rt);
    if (rc == 0) {
        e->node = tr_runtime_node(e->rt);
        rc = tr_inbox_create(e->rt, &e->inbox);
        if (rc != 0) {
            tr_runtime_destroy(e->rt);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "bench store: runtime: %s\n", tr_strerror(rc));
    }
    return rc ? 2 : 0;
}

static void env_stop(run_env *e) {
    tr_inbox_destroy(e->inbox);
    tr_runtime_destroy(e->rt);
}

static int spawn_writers(run_env *e, uint32_t n, uint64_t per, uint32_t depth, tr_addr *addrs) {
    writer_arg a = {tr_inbox_addr(e->inbox), per, depth};
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "bench-writer-%u", i);
        tr_spawn_opts so = {.name = name};
        int rc = tr_node_spawn(e->node, &writer_b, &so, &a, sizeof(a), &addrs[i]);
        if (rc != 0) {
            fprintf(stderr, "bench store: spawn: %s\n", tr_strerror(rc));
            return 2;
        }
    }
    return 0;
}

static int bench_group(const tr_bench_opts *o, uint32_t writers, uint32_t depth, uint64_t total) {
    uint64_t per = total / writers ? total / writers : 1;
    char name[64], tag[32];
    snprintf(tag, sizeof(tag), depth > 1 ? "w%u_d%u" : "w%u", writers, depth);
    run_env e;
    const char *lg = getenv("TR_BENCH_LINGER_US");
    int rc = env_start(o, NULL, lg ? (uint32_t)atoi(lg) : 0, &e); /* fresh temporary dir */
    if (rc != 0) {
        return rc;
    }
    tr_addr *addrs = calloc(writers, sizeof(tr_addr));
    rc = addrs ? spawn_writers(&e, writers, per, depth, addrs) : 2;
    tr_stats s0, s1;
    tr_node_stats_get(e.node, &s0);
    uint64_t t0 = now_ns();
    for (uint32_t i = 0; rc == 0 && i < writers; i++) {
        rc = tr_node_send(e.node, addrs[i], MSG_GO, NULL, 0) ? 2 : 0;
    }
    snprintf(name, sizeof(name), "store_group_%s", tag);
    rc = rc ? rc : wait_done(e.inbox, writers, per * writers, name);
    double secs = (double)(now_ns() - t0) / 1e9;
    tr_node_stats_get(e.node, &s1);
    uint64_t writes = s1.store_writes - s0.store_writes;
    uint64_t commits = s1.store_commits - s0.store_commits;
    if (rc == 0 && writes != per * writers) {
        fprintf(stderr, "bench store: %s: the store committed %llu writes, %llu issued\n", name,
                (unsigned long long)writes, (unsigned long long)(per * writers));
        rc = 1;
    }
    if (rc == 0) {
        tr_bench_report(o, name, (double)writes / secs, "writes/s");
        snprintf(name, sizeof(name), "store_group_%s_batch", tag);
        tr_bench_report(o, name, commits ? (double)writes / (double)commits : 0, "writes/commit");
    }
    free(addrs);
    env_stop(&e);
    return rc;
}

/* ---- one commit per write: the store API from plain threads ----------------------------- */

typedef struct single_run {
    tr_store *st;
    pthread_mutex_t commit_lock; /* one put + one commit at a time */
    uint64_t per;
    int bad;
} single_run;

typedef struct single_arg {
    single_run *r;
    uint32_t id;
} single_arg;

static void *single_writer(void *p) {
    single_arg *a = p;
    char name[32];
    snprintf(name, sizeof(name), "bench-writer-%u", a->id);
    for (uint64_t i = 0; i < a->r->per; i++) {
        uint8_t val[9];
        uint64_t writes = 0;
        pthread_mutex_lock(&a->r->commit_lock);
        int rc =
            tr__store_put(a->r->st, name, STATE_KEY, sizeof(STATE_KEY) - 1, val, pack_u64(val, i));
        rc = rc ? rc : tr__store_commit(a->r->st, &writes);
        a->r->bad += rc != 0 || writes != 1;
        pthread_mutex_unlock(&a->r->commit_lock);
    }
    return NULL;
}

static int bench_single(const tr_bench_opts *o, uint32_t writers, uint64_t total) {
    single_run r = {.commit_lock = PTHREAD_MUTEX_INITIALIZER};
    r.per = total / writers ? total / writers : 1;
    char *dir = make_tmp();
    tr_store_opts so = {.dir = dir};
    if (dir == NULL || tr__store_open(&so, &r.st) != 0) {
        fprintf(stderr, "bench store: cannot open a store under /tmp\n");
        free(dir);
        return 2;
    }
    pthread_t *t = calloc(writers, sizeof(pthread_t));
    single_arg *args = calloc(writers, sizeof(single_arg));
    uint64_t t0 = now_ns();
    uint32_t started = 0;
    for (; t && args && started < writers; started++) {
        args[started] = (single_arg){&r, started};
        if (pthread_create(&t[started], NULL, single_writer, &args[started]) != 0) {
            break;
        }
    }
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    tr_store_stats st;
    tr__store_stats_get(r.st, &st);
    int rc = started != writers ? 2 : 0;
    if (rc == 0 && (r.bad || st.commits != r.per * writers || st.writes != st.commits)) {
        fprintf(stderr, "bench store: single: %d failed writes, %llu commits for %llu writes\n",
                r.bad, (unsigned long long)st.commits, (unsigned long long)st.writes);
        rc = 1;
    }
    if (rc == 0) {
        char name[64];
        snprintf(name, sizeof(name), "store_single_w%u", writers);
        tr_bench_report(o, name, (double)st.writes / secs, "writes/s");
    }
    free(t);
    free(args);
    tr__store_close(r.st);
    remove_tmp(dir);
    return rc;
}

/* ---- raw LMDB: the ceiling the store is measured against -------------------------------- */

/* The same key bytes the store writes for 1,000 actors' state ("<name>\0state"). */
static int lmdb_batches(MDB_env *env, MDB_dbi dbi, uint64_t txns, uint32_t per) {
    for (uint64_t t = 0; t < txns; t++) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(env, NULL, 0, &txn);
        for (uint32_t i = 0; rc == 0 && i < per; i++) {
            uint8_t k[64], v[9];
            int n = snprintf((char *)k, sizeof(k), "bench-writer-%u", i);
            memcpy(k + n + 1, STATE_KEY, sizeof(STATE_KEY) - 1); /* k[n] is snprintf's NUL */
            MDB_val mk = {(size_t)n + sizeof(STATE_KEY), k}, mv = {pack_u64(v, t), v};
            rc = mdb_put(txn, dbi, &mk, &mv, 0);
        }
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
        if (rc != 0) {
            fprintf(stderr, "bench store: lmdb: %s\n", mdb_strerror(rc));
            return 2;
        }
    }
    return 0;
}

static int bench_lmdb_raw(const tr_bench_opts *o, uint64_t total) {
    enum {
        PER = 1000
    };
    char *dir = make_tmp();
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = dir ? mdb_env_create(&env) : ENOMEM;
    rc = rc ? rc : mdb_env_set_mapsize(env, 256ull << 20);
    rc = rc ? rc : mdb_env_open(env, dir, 0, 0600);
    rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);
    rc = rc ? rc : mdb_dbi_open(txn, NULL, 0, &dbi);
    rc = rc ? rc : mdb_txn_commit(txn);
    if (rc != 0) {
        fprintf(stderr, "bench store: lmdb: %s\n", mdb_strerror(rc));
    }
    uint64_t txns = total / PER ? total / PER : 1;
    uint64_t t0 = now_ns();
    rc = rc ? 2 : lmdb_batches(env, dbi, txns, PER);
    double secs = (double)(now_ns() - t0) / 1e9;
    if (rc == 0) {
        tr_bench_report(o, "store_lmdb_1000", (double)(txns * PER) / secs, "puts/s");
    }
    if (env) {
        mdb_env_close(env);
    }
    if (dir) {
        remove_tmp(dir);
    }
    return rc;
}

/* ---- recovery of a long journal ----------------------------------------------------------- */

typedef struct recover_arg {
    tr_addr main;
    uint64_t events;
} recover_arg;

typedef struct replay {
    uint64_t next;
    uint64_t bad;
} replay;

static int replay_event(void *ud, uint64_t seq, const void *ev, size_t len) {
    replay *r = ud;
    uint64_t v;
    r->bad += seq != r->next || unpack_u64(ev, len, &v) != 0 || v != seq;
    r->next = seq + 1;
    return 0;
}

static int recover_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    recover_arg a;
    memcpy(&a, arg, sizeof(a));
    replay r = {1, 0};
    int rc = tr_recover(ctx, NULL, replay_event, &r);
    uint8_t b[9];
    bool ok = rc == 0 && r.bad == 0 && r.next == a.events + 1;
    tr_send(ctx, a.main, ok ? MSG_DONE : MSG_FAIL, b, pack_u64(b, r.next - 1));
    return 0;
}

static int recover_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    return TR_CONTINUE;
}

static const tr_behaviour recover_b = {
    .name = "bench_store_journal",
    .init = recover_init,
    .receive = recover_receive,
};

/* Writes the journal through the store API (not timed; no sync: it is set-up). */
static int write_journal(const char *dir, uint64_t events) {
    tr_store_opts so = {.dir = dir, .no_sync = true};
    tr_store *st = NULL;
    int rc = tr__store_open(&so, &st);
    for (uint64_t i = 1; rc == 0 && i <= events; i++) {
        uint8_t ev[9];
        uint64_t seq;
        rc = tr__store_append(st, "journal", ev, pack_u64(ev, i), &seq);
        rc = rc ? rc : (seq == i ? 0 : TR_ECORRUPT);
        if (rc == 0 && (i % 50000 == 0 || i == events)) {
            rc = tr__store_commit(st, NULL);
        }
    }
    tr__store_close(st); /* NULL if the open failed */
    if (rc != 0) {
        fprintf(stderr, "bench store: writing the journal: %s\n", tr_strerror(rc));
    }
    return rc ? 2 : 0;
}

static int bench_recover(const tr_bench_opts *o, uint64_t events) {
    char *dir = make_tmp();
    int rc = dir ? write_journal(dir, events) : 2;
    run_env e;
    rc = rc ? rc : env_start(o, dir, 0, &e);
    if (rc != 0) {
        if (dir) {
            remove_tmp(dir);
        }
        return rc;
    }
    recover_arg a = {tr_inbox_addr(e.inbox), events};
    tr_spawn_opts so = {.name = "journal"};
    tr_addr who;
    uint64_t t0 = now_ns();
    rc = tr_node_spawn(e.node, &recover_b, &so, &a, sizeof(a), &who);
    if (rc != 0) {
        fprintf(stderr, "bench store: spawn: %s\n", tr_strerror(rc));
        rc = 2;
    }
    rc = rc ? rc : wait_done(e.inbox, 1, events, "store_recover");
    double ms = (double)(now_ns() - t0) / 1e6;
    if (rc == 0) {
        char name[64];
        snprintf(name, sizeof(name), "store_recover_%llu", (unsigned long long)events);
        if (events == 1000000) {
            snprintf(name, sizeof(name), "store_recover_1m");
        }
        tr_bench_report(o, name, ms, "ms");
        strcat(name, "_rate");
        tr_bench_report(o, name, (double)events / (ms / 1e3), "events/s");
    }
    env_stop(&e);
    remove_tmp(dir);
    return rc;
}

/* ---- the entry point ---------------------------------------------------------------------- */

int tr_bench_store(const tr_bench_opts *o) {
    static const uint32_t writers[] = {1, 10, 1000};
    /* Sizes: group commit with one writer and every single-commit run are bound by one
     * sync per write (100 to 5,000 per second, depending on the disk and its other users),
     * so they get fewer writes. */
    uint64_t n = o->n > 0 ? (uint64_t)o->n : 0;
    uint64_t group_n[] = {n ? n : 500, n ? n : 5000, n ? n : 200000};
    uint64_t single_n = n ? n : 500;
    int worst = 0;
    for (size_t i = 0; i < 3; i++) {
        int rc = bench_group(o, writers[i], 1, group_n[i]);
        worst = rc > worst ? rc : worst;
        rc = bench_single(o, writers[i], single_n < writers[i] ? writers[i] : single_n);
        worst = rc > worst ? rc : worst;
    }
    /* The same 1,000 actors with 16 durable writes each in flight (16 keys per actor). */
    int rc = bench_group(o, 1000, 16, n ? n : 800000);
    worst = rc > worst ? rc : worst;
    rc = bench_lmdb_raw(o, n ? n : 200000);
    worst = rc > worst ? rc : worst;
    rc = bench_recover(o, n ? n : 1000000);
    return rc > worst ? rc : worst;
}
