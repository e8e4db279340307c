/*
 * real.h — what cluster/ and cli/ need from the real engine (runtime/engine_real.c).
 *
 * The real engine owns one libuv loop, run by its worker 0 between activations (timers,
 * signals, and the cluster transport's sockets): that thread is "the I/O thread" below. cluster/ plugs its transport in with tr__real_set_remote;
 * its send hook is called on worker threads and must only queue (e.g. a bounded per-peer
 * queue + tr__real_post / uv_async) — never block.
 */
#ifndef TR_REAL_H
#define TR_REAL_H

#include "troupe.h"

struct uv_loop_s;

typedef struct tr_remote_ops {
    /* Takes ownership of msg (msg->to.node is another node; to_name may be NULL). Returns 0
     * or an error (the runtime then counts a dead letter). Any thread. */
    int (*send)(void *ud, tr_msg *msg, const char *to_name);
    /* Node name -> id (TR_ENOENT if unknown). Any thread. May be NULL. */
    int (*node_by_name)(void *ud, const char *name, uint32_t *id_out);
    /* Report node `id`'s down/up through tr__node_event from now on. May be NULL. */
    void (*watch_node)(void *ud, uint32_t id);
} tr_remote_ops;

/* Installs the transport (once, before any remote send). ops is borrowed; must outlive rt. */
void tr__real_set_remote(tr_runtime *rt, const tr_remote_ops *ops, void *ud);
/* The engine's loop; use it only on the I/O thread (from tr__real_post callbacks). */
struct uv_loop_s *tr__real_loop(tr_runtime *rt);
/* Runs fn(arg) on the I/O thread soon. Any thread. 0 or TR_ECLOSED after shutdown began. */
int tr__real_post(tr_runtime *rt, void (*fn)(void *arg), void *arg);
/* Blocks the calling (non-worker) thread until SIGINT/SIGTERM arrives or tr__real_stop. */
int tr__real_wait_signal(tr_runtime *rt);
void tr__real_stop(tr_runtime *rt);
/* Registers fn to run on the I/O thread when the runtime shuts down (before the loop
 * closes), so the transport can close its handles. */
void tr__real_on_shutdown(tr_runtime *rt, void (*fn)(void *arg), void *arg);
/* The calling thread's CPU time in ns and its involuntary context switches so far (the spin
 * policy's signals, runtime/spin.h; the count is 0 where it cannot be read); ud unused. */
uint64_t tr__real_thread_cpu_ns(void *ud);
uint64_t tr__real_thread_preemptions(void *ud);

#endif
