/* stress_store.c — concurrency stress for the store, run under ThreadSanitizer.
 *
 * Four "actor" threads write, read back, append, snapshot and recover in their own
 * namespaces while a committer thread commits (as the real engine's writer thread does)
 * from a 64 KiB map that must grow many times under concurrent readers. Each actor checks
 * that it always reads its own latest writes and that its journal sequence is 1, 2, 3...
 * Plain C (Criterion cannot run under TSan here); prints "N passed, M failed" and exits
 * non-zero on any failure. Built and run by `zig build test -Dtsan=true` (build.zig). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/store.h"
#include "tests/tsan/stress.h"

enum {
    ACTORS = 4,
    WRITES = 20000,
    KEYS = 5
};

typedef struct stress {
    tr_store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
    int stop;
    long notified[ACTORS];
    long bad;
} stress;

static void on_ready(void *ud) {
    stress *s = ud;
    pthread_mutex_lock(&s->mu);
    s->ready = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_durable(void *ud, tr_addr who, uint64_t token, int status) {
    stress *s = ud;
    pthread_mutex_lock(&s->mu);
    s->notified[who.actor]++;
    s->bad += status != 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *committer(void *arg) {
    stress *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        while (!s->ready && !s->stop) {
            pthread_cond_wait(&s->cv, &s->mu);
        }
        s->ready = 0;
        pthread_mutex_unlock(&s->mu);
        while (tr__store_has_pending(s->st)) {
            tr__store_commit(s->st, NULL);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

typedef struct actor_arg {
    stress *s;
    int id;
} actor_arg;

static int count_events(void *ud, uint64_t seq, const void *ev, size_t len) {
    uint64_t *n = ud;
    return seq == ++*n ? 0 : 1;
}

static long one_step(stress *s, const char *name, uint32_t i, uint32_t *last) {
    long bad = 0;
    uint32_t k = i % KEYS;
    char big[700];
    memset(big, (int)i, sizeof(big));
    bad += tr__store_put(s->st, name, &k, sizeof(k), big, sizeof(big)) != 0;
    memcpy(big, &i, sizeof(i));
    bad += tr__store_put(s->st, name, &k, sizeof(k), &i, sizeof(i)) != 0;
    last[k] = i;
    for (uint32_t j = 0; j < KEYS; j++) {
        uint32_t got = 0;
        size_t len;
        int rc = tr__store_get(s->st, name, &j, sizeof(j), &got, sizeof(got), &len);
        bad += last[j] ? (rc != 0 || got != last[j]) : rc != TR_ENOENT;
    }
    uint64_t seq = 0;
    bad += tr__store_append(s->st, name, &i, sizeof(i), &seq) != 0 || seq != i;
    if (i % 1000 == 0) {
        uint64_t n = 0;
        bad += tr__store_snapshot(s->st, name, seq, &i, sizeof(i)) != 0;
        bad += tr__store_recover(s->st, name, NULL, count_events, &n) != 0;
    }
    return bad;
}

static void *actor(void *arg) {
    actor_arg *a = arg;
    stress *s = a->s;
    char name[16];
    snprintf(name, sizeof(name), "actor%d", a->id);
    uint32_t last[KEYS] = {0};
    long bad = 0;
    for (uint32_t i = 1; i <= WRITES; i++) {
        bad += one_step(s, name, i, last);
        if (i % 200 == 0) { /* wait for durability now and then: commits interleave */
            long want = i / 200;
            bad += tr__store_notify(s->st, (tr_addr){1, 0, (uint64_t)a->id}, NULL) != 0;
            pthread_mutex_lock(&s->mu);
            while (s->notified[a->id] < want) {
                pthread_cond_wait(&s->cv, &s->mu);
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_lock(&s->mu); /* on_durable updates `bad` under this mutex too */
    s->bad += bad;
    pthread_mutex_unlock(&s->mu);
    tr__store_actor_gone(s->st, name);
    return NULL;
}

static int stress_concurrent(void) {
    char dir[] = "/tmp/troupe-stress-store-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 2;
    }
    static stress s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    tr_store_opts o = {.dir = dir, .map_size = 64 << 10, .no_sync = true};
    if (tr__store_open(&o, &s.st) != 0) {
        return 2;
    }
    tr_store_hooks h = {on_ready, on_durable, NULL, &s};
    tr__store_bind(s.st, &h);
    pthread_t c, t[ACTORS];
    actor_arg args[ACTORS];
    pthread_create(&c, NULL, committer, &s);
    for (int i = 0; i < ACTORS; i++) {
        args[i] = (actor_arg){&s, i};
        pthread_create(&t[i], NULL, actor, &args[i]);
    }
    for (int i = 0; i < ACTORS; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_mutex_lock(&s.mu);
    s.stop = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    pthread_join(c, NULL);
    tr__store_commit(s.st, NULL);
    tr_store_stats st;
    tr__store_stats_get(s.st, &st);
    tr__store_close(s.st);
    char p[128];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
    stress_assert(s.bad == 0, "%ld bad results", s.bad);
    stress_assert(st.overlay_keys == 0, "%llu overlay keys left",
                  (unsigned long long)st.overlay_keys);
    stress_assert(st.actor_records == 0, "%llu actor records left",
                  (unsigned long long)st.actor_records);
    stress_assert(st.map_grows > 0, "the map never grew");
    return 0;
}

int main(void) {
    int rc = stress_concurrent();
    printf("%s store_actors_and_committer_with_map_growth\n", rc ? "FAIL" : "ok  ");
    printf("stress: %d passed, %d failed\n", rc ? 0 : 1, rc ? 1 : 0);
    return rc ? 1 : 0;
}
