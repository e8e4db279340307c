/*
 * engine_real.c — the real engine: M:N worker threads, of which worker 0 also runs the
 * libuv loop (timers, posted work, signals, and the cluster transport's sockets), and one
 * store-writer thread.
 *
 * Scheduling (docs/runtime-core.md): waking a parked thread on the other core
 * costs ~20 us here while a queue push costs ~10 ns, so an actor made runnable by a
 * worker goes on THAT worker's local run queue (a ring only its owner touches). Work
 * moves between workers only through the global queue: a worker whose local queue holds
 * more than two actors while another worker is idle donates the older half; idle workers
 * take from the global queue, spin briefly, then park on a condition variable (worker 0:
 * in the loop's poll). Threads other than workers (inbox users, the store writer) schedule
 * through the global queue.
 *
 * The local queue is a deque. An actor woken by this worker goes to its FRONT and runs
 * next (LIFO, as Go's runnext and work-stealing schedulers do): the woken actor's mailbox
 * and state are still in this core's cache, and a tree of spawns (skynet) runs depth
 * first with a small live set instead of breadth first with all of it in memory. An actor
 * that still has mail after its batch goes to the BACK. Fairness: every LOCAL_FAIR-th pick
 * takes the BACK (the oldest), so an actor waits at most LOCAL_FAIR picks per actor ahead
 * of it however fast new wake-ups arrive; donations also take the oldest.
 *
 * Every atomic here is either a counter read as a hint (relaxed: a stale read only delays
 * a donation or a wake by one activation) or guarded by global_lock, which TSan sees.
 *
 * Run queues hold run tokens (internal.h): an actor is pushed by the thread that holds its
 * token and is never idle while queued. Every build checks that on the global queue (under
 * its lock); debug builds on the local queues too, in and out (once per message in a
 * pingpong: too often for a release build). In every build tr__actor_run checks that no
 * other activation of the actor ran at the same time, which is what a token in two queues
 * would lead to. Workers install an assertion context hook that
 * names the worker, the node and the actor running; the store writer one that names it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/engine_real_internal.h"
#include "runtime/spin.h"
#include "runtime/store.h"

static _Thread_local worker *current_worker;

/* ---- clock and randomness (the only place they are read) ------------------------------ */

uint64_t tr__real_thread_cpu_ns(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The calling thread's involuntary context switches so far (Linux's RUSAGE_THREAD); 0
 * where it cannot be read, so the spin policy then relies on preemption alone. */
uint64_t tr__real_thread_preemptions(void *ud) {
    (void)ud;
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? (uint64_t)ru.ru_nivcsw : 0;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static _Thread_local uint64_t thread_rng;

static uint64_t real_now(void *e, tr_node *n) {
    (void)e;
    (void)n;
    return tr__real_mono_ns();
}

static uint64_t real_random(void *e, tr_node *n) {
    (void)e;
    (void)n;
    if (!thread_rng) {
        thread_rng = tr__real_mono_ns() ^ (uint64_t)(uintptr_t)&thread_rng ^ (uint64_t)getpid();
    }
    return splitmix(&thread_rng);
}

/* ---- run queues --------------------------------------------------------------------------- */

static int ring_push(ring *r, tr_actor *a) {
    TR_DEBUG_ASSERT(r->len <= r->cap && (r->cap & (r->cap - 1)) == 0);
    if (r->len == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 64;
        tr_actor **items = malloc(cap * sizeof *items);
        if (!items) {
            return TR_ENOMEM;
        }
        for (uint32_t i = 0; i < r->len; i++) {
            items[i] = r->items[(r->head + i) & (r->cap - 1)];
        }
        free(r->items);
        r->items = items;
        r->head = 0;
        r->cap = cap;
    }
    TR_DEBUG_ASSERT(r->len < r->cap);
    r->items[(r->head + r->len) & (r->cap - 1)] = a;
    r->len++;
    return 0;
}

/* Pushes at the front (the next ring_pop returns a). */
static int ring_push_front(ring *r, tr_actor *a) {
    if (r->len == r->cap) {
        int rc = ring_push(r, a); /* grows; then take a back off the tail */
        if (rc != 0) {
            return rc;
        }
        r->len--;
    }
    r->head = (r->head - 1) & (r->cap - 1);
    r->items[r->head] = a;
    r->len++;
    return 0;
}

/* Pops from the back: the actor that has waited longest. */
static tr_actor *ring_pop_back(ring *r) {
    if (!r->len) {
        return NULL;
    }
    r->len--;
    return r->items[(r->head + r->len) & (r->cap - 1)];
}

static tr_actor *ring_pop(ring *r) {
    if (!r->len) {
        return NULL;
    }
    tr_actor *a = r->items[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return a;
}

static void global_push_locked(tr_runtime *rt, tr_actor *a) {
    /* What enters a run queue holds its run token (checked always here: a global push
     * already takes a lock, a compare is noise). */
    TR_ASSERT(a != NULL && !tr__mailbox_is_idle(&a->mb));
    if (ring_push(&rt->global, a) != 0) {
        /* Out of memory for the run queue: nothing sane is left to do. */
        fprintf(stderr, "troupe: out of memory growing the run queue\n");
        abort();
    }
    atomic_store_explicit(&rt->global_len, rt->global.len, memory_order_relaxed);
    if (rt->parked) {
        pthread_cond_signal(&rt->global_cond);
    } else if (rt->w0_parked) { /* worker 0 sleeps in epoll: wake it through the loop */
        rt->w0_parked = 0;
        uv_async_send(&rt->async);
    }
}

/* real_schedule's other cases: a full local queue (grown here), a thread that is not one of
 * this runtime's workers (the global queue). */
static __attribute__((noinline)) void schedule_slow(tr_runtime *rt, worker *w, tr_actor *a) {
    if (w && w->rt == rt) {
        if (ring_push_front(&w->local, a) == 0) {
            return;
        }
    }
    pthread_mutex_lock(&rt->global_lock);
    global_push_locked(rt, a);
    pthread_mutex_unlock(&rt->global_lock);
}

static void real_schedule(void *e, tr_node *n, tr_actor *a) {
    tr_runtime *rt = e;
    (void)n;
    /* Only the holder of the run token schedules, and it holds a non-idle mailbox. */
    TR_DEBUG_ASSERT(!tr__mailbox_is_idle(&a->mb));
    worker *w = current_worker;
    /* Once per local send: the common case, a worker's own queue with room, is kept free of
     * calls so that it needs no saved registers. */
    if (__builtin_expect(w != NULL && w->rt == rt && w->local.len < w->local.cap, 1)) {
        ring *r = &w->local;
        r->head = (r->head - 1) & (r->cap - 1);
        r->items[r->head] = a;
        r->len++;
        return;
    }
    schedule_slow(rt, w, a);
}

/* Gives the older half of the local queue to idle workers. */
static void donate(worker *w) {
    tr_runtime *rt = w->rt;
    uint32_t give = w->local.len / 2;
    pthread_mutex_lock(&rt->global_lock);
    for (uint32_t i = 0; i < give; i++) {
        global_push_locked(rt, ring_pop_back(&w->local));
    }
    pthread_mutex_unlock(&rt->global_lock);
}

static tr_actor *global_take(tr_runtime *rt, worker *w, bool wait) {
    pthread_mutex_lock(&rt->global_lock);
    tr_actor *a;
    while (!(a = ring_pop(&rt->global)) && wait &&
           !atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
        rt->parked++;
        pthread_cond_wait(&rt->global_cond, &rt->global_lock);
        rt->parked--;
    }
    if (a) {
        atomic_store_explicit(&rt->global_len, rt->global.len, memory_order_relaxed);
        /* take a few more so the next activations stay local */
        uint32_t extra = rt->global.len / (rt->nworkers ? rt->nworkers : 1);
        for (uint32_t i = 0; i < extra && i < 32; i++) {
            tr_actor *b = ring_pop(&rt->global);
            if (!b || ring_push(&w->local, b) != 0) {
                if (b) {
                    global_push_locked(rt, b);
                }
                break;
            }
        }
        atomic_store_explicit(&rt->global_len, rt->global.len, memory_order_relaxed);
    }
    pthread_mutex_unlock(&rt->global_lock);
    return a;
}

/* Worker 0 is also the I/O thread: it runs the libuv loop (sockets, timers, posted work,
 * signals) between activations. A message that arrives from the network is then delivered,
 * and its actor run, on the thread that read it, and an actor's send is written by that same
 * thread: a remote round trip costs no cross-thread wake-up (each one costs ~20-40 us here,
 * and a separate I/O thread would need six per round trip). While busy it polls the loop without
 * blocking every W0_POLL_EVERY activations; when idle it polls for as long as its adaptive
 * spin budget allows (runtime/spin.h: rt->spin_ns, or nothing while other threads want the
 * cores), then sleeps in the loop's poll, from which a global push or a post wakes it
 * (uv_async_send). A timer that is due when that sleep begins fires before the poll (libuv
 * runs due timers first) and queues its actor on this worker: w0_prepare then keeps the poll
 * from blocking, or the actor would wait for the next event, which may never come. */
#define W0_POLL_EVERY 256

/* The loop's prepare callback: libuv calls it after the due timers and before the poll. Work
 * they queued on worker 0 makes the poll return at once (uv_stop: a zero timeout). Only on
 * worker 0: the destroying thread runs the loop's closing with worker 0 gone. */
static void w0_prepare(uv_prepare_t *p) {
    tr_runtime *rt = p->data;
    worker *w = current_worker;
    if (w && w->rt == rt && w->local.len) {
        uv_stop(&rt->loop);
    }
}

static tr_actor *w0_idle(tr_runtime *rt, worker *w) {
    tr_actor *a = NULL;
    /* When the loop's poll would not block (the transport spins after activity, a callback is
     * pending) the turn below is no park: the transport's own budget governs that spin. */
    if (uv_backend_timeout(&rt->loop) != 0 &&
        tr__spin_begin(&rt->w0_spin, tr__real_mono_ns()) > 0) {
        bool more = true;
        while (!a && more && !atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
            uv_run(&rt->loop, UV_RUN_NOWAIT);
            a = ring_pop(&w->local);
            if (!a && atomic_load_explicit(&rt->global_len, memory_order_relaxed)) {
                a = global_take(rt, w, false);
            }
            more = a || tr__spin_more(&rt->w0_spin, tr__real_mono_ns());
        }
        tr__spin_end(&rt->w0_spin, a != NULL);
    }
    if (a || atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
        return a;
    }
    pthread_mutex_lock(&rt->global_lock);
    bool sleep = rt->global.len == 0;
    if (sleep) {
        rt->w0_parked = 1;
    }
    pthread_mutex_unlock(&rt->global_lock);
    if (sleep) {
        uv_run(&rt->loop, UV_RUN_ONCE); /* I/O, a timer, a post, or a push wakes us */
        pthread_mutex_lock(&rt->global_lock);
        rt->w0_parked = 0;
        pthread_mutex_unlock(&rt->global_lock);
    }
    return ring_pop(&w->local);
}

/* A worker other than 0 found no work: it watches the global queue for as long as its
 * adaptive budget allows (runtime/spin.h: rt->spin_ns, or nothing while other threads want
 * the cores) before it parks on the condition variable. A spin that sees work arrive is a
 * hit. */
static void park_spin(tr_runtime *rt, worker *w) {
    if (tr__spin_begin(&w->park_spin, tr__real_mono_ns()) == 0) {
        return;
    }
    bool work = false;
    do {
        for (int i = 0; i < PARK_SPIN_PAUSES; i++) {
            if (atomic_load_explicit(&rt->global_len, memory_order_relaxed) ||
                atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
                work = true;
                break;
            }
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    } while (!work && tr__spin_more(&w->park_spin, tr__real_mono_ns()));
    tr__spin_end(&w->park_spin, work);
}

/* The assertion context of a worker thread: which worker, which node, which actor. */
static void worker_context(void *arg, char *buf, size_t cap) {
    const worker *w = arg;
    int n = snprintf(buf, cap, "real engine worker %u of node %s: ", w->index, w->rt->node->name);
    if (n > 0 && (size_t)n < cap) {
        tr__actor_context(buf + n, cap - (size_t)n);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    tr_runtime *rt = w->rt;
    current_worker = w;
    tr__assert_context_set(worker_context, w, NULL, NULL);
    uint32_t tick = 0, since_poll = 0;
    bool io = w->index == 0;
    while (!atomic_load_explicit(&rt->stopping, memory_order_relaxed)) {
        tr_actor *a = NULL;
        /* The global queue first now and then, so local work cannot starve it. */
        if ((++tick & 31) == 0 && atomic_load_explicit(&rt->global_len, memory_order_relaxed)) {
            a = global_take(rt, w, false);
        }
        if (!a) {
            a = (tick % LOCAL_FAIR) == 0 ? ring_pop_back(&w->local) : ring_pop(&w->local);
        }
        if (!a && atomic_load_explicit(&rt->global_len, memory_order_relaxed)) {
            a = global_take(rt, w, false);
        }
        if (!a && io) {
            atomic_fetch_add_explicit(&rt->idle, 1, memory_order_relaxed);
            a = w0_idle(rt, w);
            atomic_fetch_sub_explicit(&rt->idle, 1, memory_order_relaxed);
            since_poll = 0;
            if (!a) {
                continue;
            }
        } else if (!a) {
            atomic_fetch_add_explicit(&rt->idle, 1, memory_order_relaxed);
            park_spin(rt, w);
            a = global_take(rt, w, true);
            atomic_fetch_sub_explicit(&rt->idle, 1, memory_order_relaxed);
            if (!a) {
                continue;
            }
        }
        /* Pairs with real_schedule: what a run queue hands out holds its run token. */
        TR_DEBUG_ASSERT(a->node == rt->node && !tr__mailbox_is_idle(&a->mb));
        if (tr__actor_run(a)) {
            ring_push(&w->local, a);
        }
        if (io && ++since_poll >= W0_POLL_EVERY) {
            since_poll = 0;
            uv_run(&rt->loop, UV_RUN_NOWAIT);
        }
        /* Donate only real backlogs: two actors feeding each other (pingpong, a producer and
         * its consumer) run best on one core; moving one costs a ~20 us wake per hand-off. */
        if (w->local.len > 2 && atomic_load_explicit(&rt->idle, memory_order_relaxed)) {
            donate(w);
        }
    }
    current_worker = NULL;
    tr__assert_context_set(NULL, NULL, NULL, NULL);
    tr__pool_thread_flush();
    return NULL;
}

/* ---- remote ------------------------------------------------------------------------------ */

static int real_send_remote(void *e, tr_node *n, tr_msg *m, const char *to_name) {
    tr_runtime *rt = e;
    (void)n;
    if (!rt->remote || !rt->remote->send) {
        tr__pool_release(m);
        return TR_EUNREACH;
    }
    return rt->remote->send(rt->remote_ud, m, to_name);
}

static int real_node_by_name(void *e, tr_node *n, const char *name, uint32_t *id) {
    tr_runtime *rt = e;
    (void)n;
    if (!rt->remote || !rt->remote->node_by_name) {
        return TR_ENOENT;
    }
    return rt->remote->node_by_name(rt->remote_ud, name, id);
}

static void real_watch_node(void *e, tr_node *n, uint32_t id) {
    tr_runtime *rt = e;
    (void)n;
    if (rt->remote && rt->remote->watch_node) {
        rt->remote->watch_node(rt->remote_ud, id);
    }
}

static const tr_engine_ops real_ops = {
    .now_ns = real_now,
    .random = real_random,
    .schedule = real_schedule,
    .timer_arm = tr__real_timer_arm,
    .send_remote = real_send_remote,
    .store_ready = tr__real_store_ready,
    .node_by_name = real_node_by_name,
    .watch_node = real_watch_node,
};

void tr__real_set_remote(tr_runtime *rt, const tr_remote_ops *ops, void *ud) {
    rt->remote_ud = ud;
    rt->remote = ops;
}

struct uv_loop_s *tr__real_loop(tr_runtime *rt) {
    return &rt->loop;
}

void tr__real_on_shutdown(tr_runtime *rt, void (*fn)(void *), void *arg) {
    post_ent p = {fn, arg};
    pthread_mutex_lock(&rt->io_lock);
    (void)tr__vec_push(&rt->shutdown_hooks, &p, sizeof p);
    pthread_mutex_unlock(&rt->io_lock);
}

int tr__real_wait_signal(tr_runtime *rt) {
    pthread_mutex_lock(&rt->sig_lock);
    while (!rt->sig_received) {
        pthread_cond_wait(&rt->sig_cond, &rt->sig_lock);
    }
    pthread_mutex_unlock(&rt->sig_lock);
    return 0;
}

void tr__real_stop(tr_runtime *rt) {
    pthread_mutex_lock(&rt->sig_lock);
    rt->sig_received = 1;
    pthread_cond_broadcast(&rt->sig_cond);
    pthread_mutex_unlock(&rt->sig_lock);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void rm_tree(const char *dir) {
    char path[4096];
    const char *files[] = {"data.mdb", "lock.mdb"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int io_start(tr_runtime *rt) {
    int rc = uv_loop_init(&rt->loop);
    if (rc) {
        return TR_EIO;
    }
    uv_async_init(&rt->loop, &rt->async, tr__real_on_async);
    rt->async.data = rt;
    uv_timer_init(&rt->loop, &rt->timer);
    rt->timer.data = rt;
    uv_prepare_init(&rt->loop, &rt->prepare);
    rt->prepare.data = rt;
    uv_prepare_start(&rt->prepare, w0_prepare);
    uv_unref((uv_handle_t *)&rt->prepare); /* it alone keeps no loop alive */
    uv_signal_init(&rt->loop, &rt->sigint);
    uv_signal_init(&rt->loop, &rt->sigterm);
    rt->sigint.data = rt->sigterm.data = rt;
    uv_signal_start(&rt->sigint, tr__real_on_signal, SIGINT);
    uv_signal_start(&rt->sigterm, tr__real_on_signal, SIGTERM);
    return 0; /* worker 0 runs the loop (worker_main) */
}

static int store_start(tr_runtime *rt, const tr_config *cfg) {
    const char *dir = cfg->data_dir;
    if (cfg->no_store) {
        return dir ? TR_EINVAL : 0;
    }
    if (!dir) {
        /* Under $TMPDIR as mkdtemp's callers do by convention, so that a process killed before
         * it could remove the directory leaves it where its owner looks (a test's own). */
        const char *base = getenv("TMPDIR");
        char tmpl[4096];
        int n = snprintf(tmpl, sizeof tmpl, "%s/troupe-XXXXXX", base && base[0] ? base : "/tmp");
        if (n < 0 || (size_t)n >= sizeof tmpl || !mkdtemp(tmpl)) {
            return TR_EIO;
        }
        rt->tmp_dir = strdup(tmpl);
        if (!rt->tmp_dir) {
            return TR_ENOMEM;
        }
        dir = rt->tmp_dir;
    }
    tr_store_opts so = {dir, cfg->map_size, false};
    return tr__store_open(&so, &rt->store);
}

int tr_runtime_create(const tr_config *cfg_in, tr_runtime **out) {
    tr_config cfg = cfg_in ? *cfg_in : (tr_config){0};
    if (!out) {
        return TR_EINVAL;
    }
    tr_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        return TR_ENOMEM;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    rt->nworkers = cfg.workers ? cfg.workers : (uint32_t)(cores > 0 ? cores : 1);
    rt->commit_interval_us = cfg.commit_interval_us;
    rt->spin_ns = tr__spin_ceiling_ns(cfg.spin_us);
    tr__spin_init(&rt->w0_spin, rt->spin_ns, tr__real_thread_cpu_ns, tr__real_thread_preemptions,
                  NULL);
    pthread_mutex_init(&rt->global_lock, NULL);
    pthread_cond_init(&rt->global_cond, NULL);
    pthread_mutex_init(&rt->io_lock, NULL);
    pthread_mutex_init(&rt->writer_lock, NULL);
    pthread_cond_init(&rt->writer_cond, NULL);
    pthread_mutex_init(&rt->sig_lock, NULL);
    pthread_cond_init(&rt->sig_cond, NULL);
    int rc = store_start(rt, &cfg);
    if (rc) {
        if (rt->tmp_dir) {
            rm_tree(rt->tmp_dir);
        }
        free(rt->tmp_dir);
        free(rt);
        return rc;
    }
    tr_node_opts no = {
        .node_id = cfg.node_id ? cfg.node_id : 1,
        .name = cfg.node_name,
        .batch = cfg.batch,
        .mute_threshold = cfg.mute_threshold,
        .ops = &real_ops,
        .engine = rt,
        .store = rt->store,
    };
    rc = tr__node_create(&no, &rt->node);
    if (rc == 0) {
        rc = io_start(rt);
    }
    if (rc == 0 && pthread_create(&rt->writer, NULL, tr__real_writer_main, rt) != 0) {
        rc = TR_ENOMEM;
    }
    if (rc) {
        fprintf(stderr, "troupe: runtime start failed: %s\n", tr_strerror(rc));
        abort(); /* partial start-up of threads is not unwound */
    }
    rt->workers = calloc(rt->nworkers, sizeof *rt->workers);
    if (!rt->workers) {
        abort();
    }
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        rt->workers[i].rt = rt;
        rt->workers[i].index = i;
        tr__spin_init(&rt->workers[i].park_spin, rt->spin_ns, tr__real_thread_cpu_ns,
                      tr__real_thread_preemptions, NULL);
        if (pthread_create(&rt->workers[i].thread, NULL, worker_main, &rt->workers[i]) != 0) {
            abort();
        }
    }
    *out = rt;
    return 0;
}

tr_node *tr_runtime_node(tr_runtime *rt) {
    return rt->node;
}

void tr_runtime_destroy(tr_runtime *rt) {
    if (!rt) {
        return;
    }
    atomic_store_explicit(&rt->stopping, 1, memory_order_relaxed);
    pthread_mutex_lock(&rt->global_lock);
    pthread_cond_broadcast(&rt->global_cond);
    pthread_mutex_unlock(&rt->global_lock);
    uv_async_send(&rt->async); /* worker 0 may sleep in the loop */
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        pthread_join(rt->workers[i].thread, NULL);
    }
    /* No worker runs now: terminate callbacks run here; their store writes still commit. */
    tr__actor_free_all(rt->node, true);
    pthread_mutex_lock(&rt->writer_lock);
    rt->writer_stop = 1;
    pthread_cond_signal(&rt->writer_cond);
    pthread_mutex_unlock(&rt->writer_lock);
    pthread_join(rt->writer, NULL);
    pthread_mutex_lock(&rt->io_lock);
    rt->io_closing = 1;
    pthread_mutex_unlock(&rt->io_lock);
    uv_async_send(&rt->async);
    /* Worker 0 has exited: this thread owns the loop now and runs its closing (the shutdown
     * hooks, e.g. the transport's drain) until every handle is closed. */
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
    tr__node_destroy(rt->node);
    tr__store_close(rt->store);
    if (rt->tmp_dir) {
        rm_tree(rt->tmp_dir);
    }
    free(rt->tmp_dir);
    for (uint32_t i = 0; i < rt->nworkers; i++) {
        free(rt->workers[i].local.items);
    }
    free(rt->workers);
    free(rt->global.items);
    tr__vec_free(&rt->heap);
    tr__vec_free(&rt->posts);
    tr__vec_free(&rt->new_timers);
    tr__vec_free(&rt->shutdown_hooks);
    pthread_mutex_destroy(&rt->global_lock);
    pthread_cond_destroy(&rt->global_cond);
    pthread_mutex_destroy(&rt->io_lock);
    pthread_mutex_destroy(&rt->writer_lock);
    pthread_cond_destroy(&rt->writer_cond);
    pthread_mutex_destroy(&rt->sig_lock);
    pthread_cond_destroy(&rt->sig_cond);
    tr__pool_thread_flush();
    free(rt);
}
