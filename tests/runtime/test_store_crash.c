/* test_store_crash.c — crash safety in a real process, and the store under threads.
 *
 * A child process opens the store, runs writer threads and a committer thread (the real
 * engine's shape), and acknowledges over a pipe only writes whose commit has returned
 * (the durable hook). The parent SIGKILLs it at a random moment, reopens the directory
 * and checks that every acknowledged write is there: kv values, and journal events at the
 * acknowledged sequence numbers, with no gap in any journal. Several rounds reuse the
 * directory, so sequence numbers must continue across crashes. The same checker is run
 * against a child with a planted bug (acks sent before the commit) and must catch it. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "store_helpers.h"

/* TSan does not support fork() in a multi-threaded process: the crash rounds are skipped
 * there (the store's locking is covered by store_threads and by the TSan build of it). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STORE_TSAN 1
#endif
#endif
#ifndef STORE_TSAN
#define STORE_TSAN 0
#endif

enum {
    WRITERS = 4,
    WINDOW = 32,
    MAX_ROUNDS = 8,
    MAX_N = 1 << 20
};

typedef struct ack {
    uint32_t round;
    uint32_t writer;
    uint64_t n;   /* writes 0..n of this writer in this round are durable */
    uint64_t seq; /* the journal seq of write n */
} ack;

/* ---- the child ------------------------------------------------------------------------ */

typedef struct child {
    tr_store *st;
    int ack_fd;
    uint32_t round;
    bool ack_early; /* the planted bug */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready;
    uint64_t acked[WRITERS]; /* next n not yet acknowledged */
    uint64_t *seqs[WRITERS]; /* seq of each write n */
} child;

static void send_ack(child *c, uint32_t w, uint64_t n) {
    ack a = {c->round, w, n, c->seqs[w][n]};
    if (write(c->ack_fd, &a, sizeof(a)) != (ssize_t)sizeof(a)) {
        _exit(3);
    }
}

static void child_ready(void *ud) {
    child *c = ud;
    pthread_mutex_lock(&c->mu);
    c->ready = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Runs on the committer thread, after tr__store_commit wrote and synced the batch. */
static void child_durable(void *ud, tr_addr who, uint64_t token, int status) {
    child *c = ud;
    if (status != 0) {
        _exit(4);
    }
    if (!c->ack_early) {
        send_ack(c, who.node, who.actor);
    }
    pthread_mutex_lock(&c->mu);
    c->acked[who.node] = who.actor + 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void *committer(void *arg) {
    child *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->ready) {
            pthread_cond_wait(&c->cv, &c->mu);
        }
        c->ready = false;
        pthread_mutex_unlock(&c->mu);
        if (c->ack_early) {
            usleep(20000); /* keep acknowledged writes uncommitted for a while */
        }
        if (tr__store_commit(c->st, NULL) != 0) {
            _exit(5);
        }
    }
    return NULL;
}

typedef struct writer_arg {
    child *c;
    uint32_t w;
} writer_arg;

static void *writer(void *arg) {
    writer_arg *wa = arg;
    child *c = wa->c;
    uint32_t w = wa->w;
    char name[16], key[48], val[64];
    snprintf(name, sizeof(name), "w%u", w);
    for (uint64_t n = 0; n < MAX_N; n++) {
        pthread_mutex_lock(&c->mu);
        while (n >= c->acked[w] + WINDOW) {
            pthread_cond_wait(&c->cv, &c->mu);
        }
        pthread_mutex_unlock(&c->mu);
        int kl = snprintf(key, sizeof(key), "r%u-%llu", c->round, (unsigned long long)n);
        int vl = snprintf(val, sizeof(val), "v%u-%llu-%u", c->round, (unsigned long long)n, w);
        if (tr__store_put(c->st, name, key, (size_t)kl, val, (size_t)vl) != 0 ||
            tr__store_append(c->st, name, val, (size_t)vl, &c->seqs[w][n]) != 0 ||
            tr__store_notify(c->st, (tr_addr){w, 0, n}, NULL) != 0) {
            _exit(6);
        }
        /* Compaction now and then: the snapshot holds the event it ends at, and the journal
         * is truncated up to it; a crash must never leave the truncation without it. */
        if (n % 64 == 63 && (tr__store_snapshot(c->st, name, c->seqs[w][n], val, (size_t)vl) != 0 ||
                             tr__store_truncate(c->st, name, c->seqs[w][n]) != 0)) {
            _exit(8);
        }
        if (c->ack_early) {
            send_ack(c, w, n);
        }
    }
    return NULL;
}

static void run_child(const char *dir, uint32_t round, int fd, bool ack_early) {
    static child c;
    c.ack_fd = fd;
    c.round = round;
    c.ack_early = ack_early;
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    tr_store_opts o = {.dir = dir, .map_size = 1 << 20}; /* small: grows under load too */
    if (tr__store_open(&o, &c.st) != 0) {
        _exit(7);
    }
    tr_store_hooks h = {child_ready, child_durable, NULL, &c};
    tr__store_bind(c.st, &h);
    pthread_t t;
    pthread_create(&t, NULL, committer, &c);
    static writer_arg wa[WRITERS];
    pthread_t wt[WRITERS];
    for (uint32_t w = 0; w < WRITERS; w++) {
        c.seqs[w] = calloc(MAX_N, sizeof(uint64_t));
        wa[w] = (writer_arg){&c, w};
        pthread_create(&wt[w], NULL, writer, &wa[w]);
    }
    for (uint32_t w = 0; w < WRITERS; w++) {
        pthread_join(wt[w], NULL);
    }
    _exit(0); /* not reached in practice: the parent kills us first */
}

/* ---- the parent ------------------------------------------------------------------------ */

typedef struct verdict {
    uint64_t acks;
    uint64_t missing_kv;
    uint64_t missing_events;
    uint64_t journal_gaps;
    uint64_t events_total;
} verdict;

typedef struct journal_check {
    uint64_t snap_seq; /* the recovered snapshot's: events up to it were compacted away */
    uint64_t next;
    uint64_t gaps;
    uint64_t count;
    char (*events)[32]; /* events[seq] as recovered */
    uint64_t cap;
} journal_check;

static int jc_snap(void *ud, uint64_t seq, const void *data, size_t len) {
    journal_check *j = ud;
    j->snap_seq = seq;
    j->next = seq + 1; /* the events must go on right after it: no gap */
    if (seq < j->cap && len < 32) {
        memcpy(j->events[seq], data, len); /* the snapshot is the event at its seq */
        j->events[seq][len] = 0;
    }
    return 0;
}

static int jc_event(void *ud, uint64_t seq, const void *ev, size_t len) {
    journal_check *j = ud;
    j->gaps += seq != j->next;
    j->next = seq + 1;
    j->count++;
    if (seq < j->cap && len < 32) {
        memcpy(j->events[seq], ev, len);
        j->events[seq][len] = 0;
    }
    return 0;
}

/* Reads every ack of a killed child (until EOF). */
static size_t read_acks(int fd, ack *acks, size_t cap, size_t have) {
    char buf[sizeof(ack) * 256];
    size_t partial = 0;
    for (;;) {
        ssize_t r = read(fd, buf + partial, sizeof(buf) - partial);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return have;
        }
        size_t total = partial + (size_t)r, off = 0;
        for (; off + sizeof(ack) <= total; off += sizeof(ack)) {
            cr_assert_lt(have, cap);
            memcpy(&acks[have++], buf + off, sizeof(ack));
        }
        partial = total - off;
        memmove(buf, buf + off, partial);
    }
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs one child for about run_ms, SIGKILLs it, returns how many acks it sent. */
static size_t crash_round(const char *dir, uint32_t round, uint32_t run_ms, bool ack_early,
                          ack *acks, size_t cap, size_t have) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        run_child(dir, round, p[1], ack_early);
    }
    close(p[1]);
    /* Drain acks while the child runs, so its pipe never fills. */
    uint64_t end = now_ms() + run_ms;
    char buf[sizeof(ack) * 256];
    size_t partial = 0;
    for (uint64_t t; (t = now_ms()) < end;) {
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, (int)(end - t)) <= 0) {
            continue;
        }
        ssize_t r = read(p[0], buf + partial, sizeof(buf) - partial);
        if (r <= 0) {
            break; /* the child died on its own: the status check below says why */
        }
        size_t total = partial + (size_t)r, off = 0;
        for (; off + sizeof(ack) <= total; off += sizeof(ack)) {
            cr_assert_lt(have, cap);
            memcpy(&acks[have++], buf + off, sizeof(ack));
        }
        partial = total - off;
        memmove(buf, buf + off, partial);
    }
    kill(pid, SIGKILL);
    cr_assert_eq(partial, 0, "acks are written whole (%zu bytes < PIPE_BUF)", sizeof(ack));
    have = read_acks(p[0], acks, cap, have);
    close(p[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "child ended on its own (status 0x%x) before the kill", status);
    return have;
}

/* Opens the crashed directory and counts acknowledged writes that are not there. */
static verdict check_dir(const char *dir, const ack *acks, size_t n) {
    verdict v = {.acks = n};
    tr_store_opts o = {.dir = dir};
    tr_store *st;
    int rc = tr__store_open(&o, &st);
    cr_assert_eq(rc, 0, "reopen after SIGKILL: %s", tr_err_name(rc));
    journal_check j[WRITERS];
    for (uint32_t w = 0; w < WRITERS; w++) {
        char name[16];
        snprintf(name, sizeof(name), "w%u", w);
        j[w] = (journal_check){.next = 1, .cap = MAX_N};
        j[w].events = calloc(MAX_N, 32);
        cr_assert_eq(tr__store_recover(st, name, jc_snap, jc_event, &j[w]), 0);
        v.journal_gaps += j[w].gaps;
        v.events_total += j[w].count;
    }
    for (size_t i = 0; i < n; i++) {
        const ack *a = &acks[i];
        char name[16], key[48], want[64], got[64];
        snprintf(name, sizeof(name), "w%u", a->writer);
        int vl = snprintf(want, sizeof(want), "v%u-%llu-%u", a->round, (unsigned long long)a->n,
                          a->writer);
        int kl = snprintf(key, sizeof(key), "r%u-%llu", a->round, (unsigned long long)a->n);
        size_t len = 0;
        rc = tr__store_get(st, name, key, (size_t)kl, got, sizeof(got), &len);
        v.missing_kv += rc != 0 || len != (size_t)vl || memcmp(got, want, len) != 0;
        const journal_check *jw = &j[a->writer];
        v.missing_events +=
            a->seq >= MAX_N || (a->seq >= jw->snap_seq && strcmp(jw->events[a->seq], want) != 0);
    }
    for (uint32_t w = 0; w < WRITERS; w++) {
        free(j[w].events);
    }
    tr__store_close(st);
    return v;
}

static verdict crash_rounds(uint32_t rounds, bool ack_early, unsigned seed) {
    srand(seed);
    char *dir = tmp_dir();
    size_t cap = 1 << 20, have = 0;
    ack *acks = calloc(cap, sizeof(ack));
    verdict total = {0};
    for (uint32_t r = 0; r < rounds; r++) {
        uint32_t run_ms = 20 + (uint32_t)(rand() % 400);
        size_t before = have;
        have = crash_round(dir, r, run_ms, ack_early, acks, cap, have);
        verdict v = check_dir(dir, acks, have); /* every ack so far, all rounds */
        cr_log_info("seed %u round %u: killed after %u ms, %zu acks (%zu new), %llu events, "
                    "missing kv %llu events %llu gaps %llu",
                    seed, r, run_ms, have, have - before, (unsigned long long)v.events_total,
                    (unsigned long long)v.missing_kv, (unsigned long long)v.missing_events,
                    (unsigned long long)v.journal_gaps);
        total.acks = v.acks;
        total.events_total = v.events_total;
        total.missing_kv += v.missing_kv;
        total.missing_events += v.missing_events;
        total.journal_gaps += v.journal_gaps;
        if (ack_early && v.missing_kv + v.missing_events > 0) {
            break; /* the planted bug was caught */
        }
    }
    free(acks);
    rm_dir(dir);
    return total;
}

static unsigned test_seed(void) {
    const char *s = getenv("TR_STORE_CRASH_SEED");
    return s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)(time(NULL) ^ getpid());
}

Test(store_crash, every_acknowledged_write_survives_sigkill, .timeout = 30) {
    if (STORE_TSAN) {
        cr_skip_test("fork() with threads is unsupported under TSan");
    }
    unsigned seed = test_seed();
    verdict v = crash_rounds(6, false, seed);
    cr_assert_gt(v.acks, 0, "no write was acknowledged: the test tested nothing");
    if (v.acks > 4 * 256) { /* then every writer compacted its journal several times */
        cr_assert_lt(v.events_total, v.acks, "compaction left %llu events for %llu acks",
                     (unsigned long long)v.events_total, (unsigned long long)v.acks);
    }
    cr_assert_eq(v.missing_kv + v.missing_events + v.journal_gaps, 0,
                 "seed %u (TR_STORE_CRASH_SEED=%u to replay the kill times): lost kv %llu, "
                 "lost events %llu, journal gaps %llu",
                 seed, seed, (unsigned long long)v.missing_kv, (unsigned long long)v.missing_events,
                 (unsigned long long)v.journal_gaps);
}

/* The planted bug: acknowledging at write time instead of after the commit. */
Test(store_crash, checker_catches_acks_sent_before_commit, .timeout = 30) {
    if (STORE_TSAN) {
        cr_skip_test("fork() with threads is unsupported under TSan");
    }
    unsigned seed = test_seed();
    verdict v = crash_rounds(4, true, seed);
    cr_assert_gt(v.missing_kv + v.missing_events, 0,
                 "seed %u: early acks were never caught; the checker cannot fail", seed);
}

/* ---- threads without crashes: read-your-writes under a concurrent committer ------------ */

typedef struct mt {
    tr_store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready;
    bool stop;
    uint64_t bad;
    uint64_t durable[4]; /* notifications received per actor */
} mt;

static void mt_durable(void *ud, tr_addr who, uint64_t token, int status) {
    mt *m = ud;
    pthread_mutex_lock(&m->mu);
    m->durable[who.actor]++;
    m->bad += status != 0;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void mt_ready(void *ud) {
    mt *m = ud;
    pthread_mutex_lock(&m->mu);
    m->ready = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void *mt_committer(void *arg) {
    mt *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        while (!m->ready && !m->stop) {
            pthread_cond_wait(&m->cv, &m->mu);
        }
        m->ready = false;
        pthread_mutex_unlock(&m->mu);
        while (tr__store_has_pending(m->st)) { /* as the real writer thread does */
            tr__store_commit(m->st, NULL);
        }
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

enum {
    MT_WRITES = 10000
};

typedef struct mt_arg {
    mt *m;
    int id;
} mt_arg;

/* Each thread is one actor: it must always read back what it wrote last, whatever the
 * committer is doing; its journal seqs must be 1, 2, 3... */
static void *mt_actor(void *arg) {
    mt_arg *a = arg;
    char name[16];
    snprintf(name, sizeof(name), "actor%d", a->id);
    uint64_t bad = 0;
    /* Few keys: an actor rewrites a key while its previous version is being committed. */
    enum {
        KEYS = 3
    };
    uint32_t last[KEYS] = {0}; /* what this actor wrote last to each key (0 = nothing) */
    for (uint32_t i = 1; i <= MT_WRITES; i++) {
        uint32_t k = i % KEYS;
        bad += tr__store_put(a->m->st, name, &k, sizeof(k), &i, sizeof(i)) != 0;
        last[k] = i;
        for (uint32_t j = 0; j < KEYS; j++) { /* every key reads its latest version */
            uint32_t got = 0;
            size_t len;
            int rc = tr__store_get(a->m->st, name, &j, sizeof(j), &got, sizeof(got), &len);
            bad += last[j] ? (rc != 0 || got != last[j]) : rc != TR_ENOENT;
        }
        uint64_t seq = 0;
        bad += tr__store_append(a->m->st, name, &i, sizeof(i), &seq) != 0;
        bad += seq != i;
        if (i % 1000 == 0) { /* compaction while the committer commits */
            bad += tr__store_snapshot(a->m->st, name, i, &i, sizeof(i)) != 0;
            bad += tr__store_truncate(a->m->st, name, i + 1) != TR_EINVAL;
            bad += tr__store_truncate(a->m->st, name, i) != 0;
        }
        if (i % 100 == 0) { /* wait for durability now and then, so commits interleave */
            uint64_t want = i / 100;
            bad += tr__store_notify(a->m->st, (tr_addr){1, 0, (uint64_t)a->id}, NULL) != 0;
            pthread_mutex_lock(&a->m->mu);
            while (a->m->durable[a->id] < want) {
                pthread_cond_wait(&a->m->cv, &a->m->mu);
            }
            pthread_mutex_unlock(&a->m->mu);
        }
    }
    __atomic_add_fetch(&a->m->bad, bad, __ATOMIC_RELAXED);
    return NULL;
}

Test(store_threads, readers_see_their_writes_while_the_writer_commits, .timeout = 60) {
    char *dir = tmp_dir();
    mt m = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    tr_store_opts o = {.dir = dir, .map_size = 256 << 10, .no_sync = true};
    cr_assert_eq(tr__store_open(&o, &m.st), 0);
    tr_store_hooks h = {mt_ready, mt_durable, NULL, &m};
    tr__store_bind(m.st, &h);
    pthread_t c, t[4];
    mt_arg args[4];
    pthread_create(&c, NULL, mt_committer, &m);
    for (int i = 0; i < 4; i++) {
        args[i] = (mt_arg){&m, i};
        pthread_create(&t[i], NULL, mt_actor, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_mutex_lock(&m.mu);
    m.stop = true;
    pthread_cond_broadcast(&m.cv);
    pthread_mutex_unlock(&m.mu);
    pthread_join(c, NULL);
    cr_assert_eq(tr__store_commit(m.st, NULL), 0);
    cr_assert_eq(m.bad, 0);
    tr_store_stats s;
    tr__store_stats_get(m.st, &s);
    cr_assert_eq(s.writes, 4 * (MT_WRITES * 2 + MT_WRITES / 1000));
    cr_assert_eq(s.truncations, 4 * MT_WRITES / 1000);
    cr_assert_eq(s.truncated, 4 * MT_WRITES);
    cr_assert_eq(s.overlay_keys, 0);
    for (int i = 0; i < 4; i++) {
        char name[16];
        uint64_t first, last, count;
        snprintf(name, sizeof(name), "actor%d", i);
        cr_assert_eq(tr__store_journal_range(m.st, name, &first, &last, &count), 0);
        cr_assert_eq(count, 0, "%s: every event was compacted away", name);
    }
    cr_assert_geq(s.commits, MT_WRITES / 100, "each actor waited for that many commits");
    cr_log_info("%llu commits, at most %llu writes per commit", (unsigned long long)s.commits,
                (unsigned long long)s.max_writes_per_commit);
    tr__store_close(m.st);
    rm_dir(dir);
}

/* ---- a notification never runs ahead of the committed data ------------------------------- */

/* Writers overwrite one key with 1, 2, 3... and ask for a notification after each write.
 * When the notification for write n fires, LMDB itself (not the overlay) must hold n or a
 * later value: superseding a version that is already being committed would break this. */
enum {
    LAG_WRITERS = 2,
    LAG_WRITES = 8000,
    LAG_WINDOW = 64
};

typedef struct lag {
    mt m; /* the committer and its ready flag */
    uint64_t notified[LAG_WRITERS];
    uint64_t violations;
    uint64_t checked;
} lag;

static void lag_durable(void *ud, tr_addr who, uint64_t token, int status) {
    lag *l = ud;
    char name[16];
    snprintf(name, sizeof(name), "lag%u", who.node);
    uint64_t v = 0;
    size_t len = 0;
    int rc = tr__store_get_committed(l->m.st, name, "latest", 6, &v, sizeof(v), &len);
    pthread_mutex_lock(&l->m.mu);
    l->checked++;
    l->violations += status != 0 || rc != 0 || len != sizeof(v) || v < who.actor;
    l->notified[who.node] = who.actor;
    pthread_cond_broadcast(&l->m.cv);
    pthread_mutex_unlock(&l->m.mu);
}

static void *lag_writer(void *arg) {
    mt_arg *a = arg;
    lag *l = (lag *)a->m;
    char name[16];
    snprintf(name, sizeof(name), "lag%d", a->id);
    for (uint64_t n = 1; n <= LAG_WRITES; n++) {
        pthread_mutex_lock(&l->m.mu);
        while (n > l->notified[a->id] + LAG_WINDOW) {
            pthread_cond_wait(&l->m.cv, &l->m.mu);
        }
        pthread_mutex_unlock(&l->m.mu);
        char filler[200] = {0};
        for (uint32_t f = 0; f < 8; f++) { /* bigger batches: a longer commit to race */
            uint32_t fk = (uint32_t)(n % 512) * 8 + f;
            if (tr__store_put(l->m.st, name, &fk, sizeof(fk), filler, sizeof(filler)) != 0) {
                __atomic_add_fetch(&l->violations, 1, __ATOMIC_RELAXED);
            }
        }
        if (tr__store_put(l->m.st, name, "latest", 6, &n, sizeof(n)) != 0 ||
            tr__store_notify(l->m.st, (tr_addr){(uint32_t)a->id, 0, n}, NULL) != 0) {
            __atomic_add_fetch(&l->violations, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

Test(store_threads, a_notification_never_runs_ahead_of_committed_data, .timeout = 60) {
    char *dir = tmp_dir();
    static lag l;
    memset(&l, 0, sizeof(l));
    pthread_mutex_init(&l.m.mu, NULL);
    pthread_cond_init(&l.m.cv, NULL);
    tr_store_opts o = {.dir = dir, .no_sync = true};
    cr_assert_eq(tr__store_open(&o, &l.m.st), 0);
    tr_store_hooks h = {mt_ready, lag_durable, NULL, &l};
    tr__store_bind(l.m.st, &h);
    pthread_t c, t[LAG_WRITERS];
    mt_arg args[LAG_WRITERS];
    pthread_create(&c, NULL, mt_committer, &l.m);
    for (int i = 0; i < LAG_WRITERS; i++) {
        args[i] = (mt_arg){&l.m, i};
        pthread_create(&t[i], NULL, lag_writer, &args[i]);
    }
    for (int i = 0; i < LAG_WRITERS; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_mutex_lock(&l.m.mu);
    l.m.stop = true;
    pthread_cond_broadcast(&l.m.cv);
    pthread_mutex_unlock(&l.m.mu);
    pthread_join(c, NULL);
    cr_assert_eq(tr__store_commit(l.m.st, NULL), 0);
    cr_assert_eq(l.checked, (uint64_t)LAG_WRITERS * LAG_WRITES);
    cr_assert_eq(l.violations, 0, "%llu of %llu notifications ran ahead of LMDB",
                 (unsigned long long)l.violations, (unsigned long long)l.checked);
    tr__store_close(l.m.st);
    rm_dir(dir);
}
