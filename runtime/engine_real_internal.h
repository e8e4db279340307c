/*
 * engine_real_internal.h — the real engine's state, shared by its two files: engine_real.c
 * (clock and randomness, run queues, workers, the remote hooks, the lifecycle) and
 * engine_real_io.c (the I/O thread's timers, posted work and signals, and the store writer
 * thread). Not for other parts of the runtime: they see the engine through engine.h and
 * real.h.
 */
#ifndef TR_ENGINE_REAL_INTERNAL_H
#define TR_ENGINE_REAL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "runtime/internal.h"
#include "runtime/real.h"
#include "runtime/spin.h"
#include "runtime/store.h"
#include "runtime/vec.h"

#define PARK_SPIN_PAUSES 64 /* pauses between two looks at the clock (about a microsecond) */
#define LOCAL_FAIR 64       /* every 64th local pick takes the oldest actor */

typedef struct ring {
    tr_actor **items;
    uint32_t head, len, cap; /* cap is a power of two */
} ring;

typedef struct worker {
    struct tr_runtime *rt;
    pthread_t thread;
    uint32_t index;
    ring local;
    uint64_t rng;
    tr__spin park_spin; /* workers other than 0: the spin before parking (this worker only) */
} worker;

typedef struct timer_ent {
    uint64_t due_ns;
    uint64_t seq;
    tr_addr owner;
    uint64_t id;
} timer_ent;

typedef struct post_ent {
    void (*fn)(void *);
    void *arg;
} post_ent;

struct tr_runtime {
    tr_node *node;
    tr_store *store;
    char *tmp_dir; /* owned temporary data dir, removed at destroy */

    worker *workers;
    uint32_t nworkers;
    pthread_mutex_t global_lock;
    pthread_cond_t global_cond;
    ring global;
    _Atomic uint32_t global_len; /* hint for spinning workers */
    _Atomic uint32_t idle;       /* workers spinning or parked */
    uint32_t parked;             /* [global_lock] */
    int w0_parked;               /* [global_lock] worker 0 is blocked in the loop's poll */
    uint64_t spin_ns;            /* [init] the idle spins' ceiling (tr_config.spin_us); 0: never */
    tr__spin w0_spin;            /* worker 0's idle spin budget (worker 0 only) */
    _Atomic int stopping;

    /* the libuv loop, run by worker 0 (and by the destroying thread at the end) */
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t timer;
    uv_prepare_t prepare; /* before each poll: worker 0 never sleeps on work it just queued */
    uv_signal_t sigint, sigterm;
    pthread_mutex_t io_lock; /* guards posts, new timers, io_closing */
    tr_vec posts;            /* post_ent */
    tr_vec new_timers;       /* timer_ent */
    tr_vec heap;             /* timer_ent, I/O thread only */
    uint64_t timer_seq;
    int io_closing;
    tr_vec shutdown_hooks; /* post_ent */

    /* store writer */
    pthread_t writer;
    pthread_mutex_t writer_lock;
    pthread_cond_t writer_cond;
    int writer_kick, writer_stop;
    uint32_t commit_interval_us;

    /* signals / stop */
    pthread_mutex_t sig_lock;
    pthread_cond_t sig_cond;
    int sig_received;

    const tr_remote_ops *remote;
    void *remote_ud;
};

/* The monotonic clock in ns: the engine's time (its now_ns) and the spins' wall time. */
static inline uint64_t tr__real_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* engine_real_io.c, on the I/O thread unless said otherwise */
/* uv_async callback: takes the posted work and the new timers, runs the shutdown on close. */
void tr__real_on_async(uv_async_t *h);
/* uv_signal callback of SIGINT and SIGTERM: wakes tr__real_wait_signal. */
void tr__real_on_signal(uv_signal_t *s, int signum);
/* The engine's timer_arm (any thread): queues the timer for the I/O thread's heap. */
uint64_t tr__real_timer_arm(void *e, tr_node *n, tr_addr owner, uint64_t id, uint64_t due_ns);
/* The engine's store_ready (any thread): kicks the store writer. */
void tr__real_store_ready(void *e, tr_node *n);
/* The store writer thread: commits the store's pending batches when kicked, until told to
 * stop. */
void *tr__real_writer_main(void *arg);

#endif /* TR_ENGINE_REAL_INTERNAL_H */
