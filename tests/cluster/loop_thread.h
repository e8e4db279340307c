/* loop_thread.h — for the cluster tests that drive transports on a libuv loop of their own:
 * the loop runs on a thread, on_loop runs a function on it and waits, wait_for waits for a
 * condition on what the callbacks observed (under mu, signalled through cv).
 *
 * Include it after defining `typedef struct world { ... } world;` with at least
 *     uv_loop_t loop; pthread_t th; uv_async_t cmd; pthread_mutex_t mu; pthread_cond_t cv;
 *     void (*fn)(struct world *, int); int arg; bool done;
 * and `static world W;`. The test's callbacks update W under W.mu and broadcast W.cv. */
#ifndef TR_TEST_LOOP_THREAD_H
#define TR_TEST_LOOP_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <uv.h>

#include "rawpeer.h" /* raw_now_ms */

static void on_cmd(uv_async_t *a) {
    world *w = a->data;
    pthread_mutex_lock(&w->mu);
    void (*fn)(world *, int) = w->fn;
    int arg = w->arg;
    pthread_mutex_unlock(&w->mu);
    if (fn) {
        fn(w, arg);
    }
    pthread_mutex_lock(&w->mu);
    w->fn = NULL;
    w->done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Runs fn(w, arg) on the loop thread and waits for it. */
static void on_loop(world *w, void (*fn)(world *, int), int arg) {
    pthread_mutex_lock(&w->mu);
    w->fn = fn;
    w->arg = arg;
    w->done = false;
    uv_async_send(&w->cmd);
    while (!w->done) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *loop_main(void *arg) {
    uv_run(&((world *)arg)->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* The loop, the lock and the command handle (w zeroed by the caller). */
static void loop_thread_init(world *w) {
    uv_loop_init(&w->loop);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    uv_async_init(&w->loop, &w->cmd, on_cmd);
    w->cmd.data = w;
}

/* Waits until pred(&W, arg) holds (under mu) or timeout_ms; returns whether it held. */
static bool wait_for(bool (*pred)(world *, long), long arg, int timeout_ms) {
    uint64_t until = raw_now_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&W.mu);
    while (!pred(&W, arg) && raw_now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&W.cv, &W.mu, &ts);
    }
    bool ok = pred(&W, arg);
    pthread_mutex_unlock(&W.mu);
    return ok;
}

#endif
