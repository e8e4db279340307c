/*
 * engine_real_io.c — the real engine's I/O thread (worker 0 between activations): the timer
 * heap behind one libuv timer, work posted from other threads through one uv_async, the
 * signals that stop a node; and the store writer thread, which commits the store's pending
 * batches once callbacks' writes are ready (engine_real.c has the rest of the engine).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/engine_real_internal.h"
#include "runtime/pool.h"
#include "runtime/store.h"

/* ---- I/O thread: posted work and timers ------------------------------------------------ */

static bool timer_less(const timer_ent *a, const timer_ent *b) {
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(tr_vec *h, const timer_ent *t) {
    if (tr__vec_push(h, t, sizeof *t) != 0) {
        return;
    }
    timer_ent *e = h->items;
    uint32_t i = h->len - 1;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!timer_less(&e[i], &e[p])) {
            break;
        }
        timer_ent tmp = e[i];
        e[i] = e[p];
        e[p] = tmp;
        i = p;
    }
}

static void heap_pop(tr_vec *h) {
    timer_ent *e = h->items;
    e[0] = e[--h->len];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->len && timer_less(&e[l], &e[m])) {
            m = l;
        }
        if (r < h->len && timer_less(&e[r], &e[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        timer_ent tmp = e[i];
        e[i] = e[m];
        e[m] = tmp;
        i = m;
    }
}

static void arm_uv_timer(tr_runtime *rt);

static void on_timer(uv_timer_t *t) {
    tr_runtime *rt = t->data;
    uint64_t now = tr__real_mono_ns();
    while (rt->heap.len) {
        timer_ent *e = rt->heap.items;
        if (e[0].due_ns > now) {
            break;
        }
        timer_ent fire = e[0];
        heap_pop(&rt->heap);
        tr__actor_timer_fire(rt->node, fire.owner, fire.id);
    }
    arm_uv_timer(rt);
}

static void arm_uv_timer(tr_runtime *rt) {
    if (!rt->heap.len) {
        uv_timer_stop(&rt->timer);
        return;
    }
    timer_ent *e = rt->heap.items;
    uint64_t now = tr__real_mono_ns();
    uint64_t ms = e[0].due_ns > now ? (e[0].due_ns - now + 999999) / 1000000 : 0;
    uv_timer_start(&rt->timer, on_timer, ms, 0);
}

void tr__real_on_async(uv_async_t *h) {
    tr_runtime *rt = h->data;
    pthread_mutex_lock(&rt->io_lock);
    tr_vec posts = rt->posts, timers = rt->new_timers;
    memset(&rt->posts, 0, sizeof rt->posts);
    memset(&rt->new_timers, 0, sizeof rt->new_timers);
    int closing = rt->io_closing;
    pthread_mutex_unlock(&rt->io_lock);
    timer_ent *t = timers.items;
    for (uint32_t i = 0; i < timers.len; i++) {
        heap_push(&rt->heap, &t[i]);
    }
    tr__vec_free(&timers);
    post_ent *p = posts.items;
    for (uint32_t i = 0; i < posts.len; i++) {
        p[i].fn(p[i].arg);
    }
    tr__vec_free(&posts);
    if (closing) {
        post_ent *s = rt->shutdown_hooks.items;
        for (uint32_t i = 0; i < rt->shutdown_hooks.len; i++) {
            s[i].fn(s[i].arg);
        }
        uv_close((uv_handle_t *)&rt->timer, NULL);
        uv_close((uv_handle_t *)&rt->prepare, NULL);
        uv_close((uv_handle_t *)&rt->sigint, NULL);
        uv_close((uv_handle_t *)&rt->sigterm, NULL);
        uv_close((uv_handle_t *)&rt->async, NULL);
        return;
    }
    arm_uv_timer(rt);
}

/* No handle: cancellation is lazy here (the runtime ignores the fire of a timer it dropped);
 * withdrawing it would mean a cross-thread call into the I/O loop's heap for every reply. */
uint64_t tr__real_timer_arm(void *e, tr_node *n, tr_addr owner, uint64_t id, uint64_t due_ns) {
    tr_runtime *rt = e;
    (void)n;
    pthread_mutex_lock(&rt->io_lock);
    timer_ent t = {due_ns, ++rt->timer_seq, owner, id};
    int rc = rt->io_closing ? TR_ECLOSED : tr__vec_push(&rt->new_timers, &t, sizeof t);
    pthread_mutex_unlock(&rt->io_lock);
    if (rc == 0) {
        uv_async_send(&rt->async);
    }
    return 0;
}

int tr__real_post(tr_runtime *rt, void (*fn)(void *), void *arg) {
    post_ent p = {fn, arg};
    pthread_mutex_lock(&rt->io_lock);
    int rc = rt->io_closing ? TR_ECLOSED : tr__vec_push(&rt->posts, &p, sizeof p);
    pthread_mutex_unlock(&rt->io_lock);
    if (rc == 0) {
        uv_async_send(&rt->async);
    }
    return rc;
}

void tr__real_on_signal(uv_signal_t *s, int signum) {
    tr_runtime *rt = s->data;
    (void)signum;
    pthread_mutex_lock(&rt->sig_lock);
    rt->sig_received = 1;
    pthread_cond_broadcast(&rt->sig_cond);
    pthread_mutex_unlock(&rt->sig_lock);
}

/* ---- store writer ---------------------------------------------------------------------- */

void tr__real_store_ready(void *e, tr_node *n) {
    tr_runtime *rt = e;
    (void)n;
    pthread_mutex_lock(&rt->writer_lock);
    rt->writer_kick = 1;
    pthread_cond_signal(&rt->writer_cond);
    pthread_mutex_unlock(&rt->writer_lock);
}

/* The assertion context of the store writer thread. */
static void writer_context(void *arg, char *buf, size_t cap) {
    const tr_runtime *rt = arg;
    snprintf(buf, cap, "real engine store writer of node %s", rt->node->name);
}

void *tr__real_writer_main(void *arg) {
    tr_runtime *rt = arg;
    tr__assert_context_set(writer_context, rt, NULL, NULL);
    pthread_mutex_lock(&rt->writer_lock);
    for (;;) {
        while (!rt->writer_kick && !rt->writer_stop) {
            pthread_cond_wait(&rt->writer_cond, &rt->writer_lock);
        }
        int stop = rt->writer_stop;
        rt->writer_kick = 0;
        pthread_mutex_unlock(&rt->writer_lock);
        if (rt->commit_interval_us) {
            usleep(rt->commit_interval_us); /* linger: bigger groups */
        }
        while (rt->store && tr__store_has_pending(rt->store)) {
            struct timespec t0, t1; /* the commit latency (docs/metrics.md) */
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int rc = tr__store_commit(rt->store, NULL);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            tr__store_commit_timed(rt->store, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000 +
                                                         (t1.tv_nsec - t0.tv_nsec)));
            if (rc) {
                fprintf(stderr, "troupe: store commit failed: %s\n", tr_strerror(rc));
            }
        }
        pthread_mutex_lock(&rt->writer_lock);
        if (stop) {
            break;
        }
    }
    pthread_mutex_unlock(&rt->writer_lock);
    tr__assert_context_set(NULL, NULL, NULL, NULL);
    tr__pool_thread_flush();
    return NULL;
}
