/*
 * internal.h — the runtime's private structures: actors, nodes, the running context.
 * The modules that work on them: mailbox.h (an actor's queue and run token), actor.h
 * (lifecycle, run loop, delivery), registry.h (names), vec.h (small lists), pool.h
 * (message memory); ctx.c is the tr_ctx API of troupe.h and node.c the tr_node one.
 *
 * Run token: an actor is in exactly one of these states, and only the holder of its run
 * token (the thread that made it runnable, then the engine, then the thread running it)
 * moves it between them:
 *   idle      the mailbox's empty bit is set; nobody holds the token;
 *   queued    in exactly one run queue of an engine;
 *   running   one thread is in tr__actor_run for it (`running` counts that activation);
 *   muted     parked in node->mutes until the receiver it flooded drains;
 *   dead      id 0; the slot keeps the token forever (no push ever schedules it) until
 *             tr__actor_spawn reuses the slot, which drains it and owes one schedule.
 *
 * Actor memory is type-stable: actors live in per-node pages that are never freed while
 * the node exists, and a slot is reused with a new generation. A sender may therefore push
 * into a slot whose actor just died or was replaced; the receiver drops every message whose
 * `to.actor` is not its current id as a dead letter. This avoids reference counting on the
 * message path.
 *
 * Invariants of a node at a quiet point (no activation running, no push in flight), walked
 * by tr__node_check:
 *   1. slots: pages are allocated contiguously from 0 and cover [0, slot_next); a slot
 *      whose id is non-zero holds a live actor of this node, with id == (gen << 32) | slot,
 *      a behaviour with a receive callback, and no running activation; a slot with id 0
 *      has no state and no ext; a slot at or past slot_next was never used (gen 0, idle
 *      and empty mailbox); st_live is the number of live slots;
 *   2. free slots: every entry is below slot_next, appears once, and its slot is dead;
 *   3. mailboxes: each satisfies mailbox.h's invariants; an idle mailbox holds nothing;
 *   4. registry: registry.h's invariants;
 *   5. mutes: every muted sender is an actor slot of this node that holds its token (not
 *      idle) and is not the receiver it is muted on;
 *   6. remote watches: the watcher is on this node, the target on another.
 *
 * Threading: fields marked [owner] are touched only by the thread running the actor;
 * [any] fields are atomics; [init] fields are written before the id is published (release)
 * and only read afterwards.
 */
#ifndef TR_INTERNAL_H
#define TR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "runtime/engine.h"
#include "runtime/mailbox.h"
#include "runtime/metrics.h"
#include "runtime/registry.h"
#include "runtime/vec.h"
#include "troupe.h"

/* System message types, never seen by receive callbacks. */
enum {
    TR__SYS_BASE = 0xFFFF0000u,
    TR__SYS_INIT,      /* body = spawn arg */
    TR__SYS_KILL,      /* corr = (uint64_t)(int64_t)reason */
    TR__SYS_LINK,      /* from = the linker */
    TR__SYS_UNLINK,    /* from = the unlinker */
    TR__SYS_MONITOR,   /* from = the watcher, corr = ref */
    TR__SYS_DEMONITOR, /* from = the watcher, corr = ref */
    TR__SYS_EXIT,      /* from = the linked actor that stopped, corr = reason */
    TR__SYS_TIMER,     /* corr = timer id */
    TR__SYS_WAKE       /* nothing: makes a dead/muted actor look at its state */
};

/* tr_msg.flags_ bits. They travel in the envelope (codec.h). */
#define TR__F_REPLY 1u /* an answer to a tr_request: dropped unless that request is pending */

#define TR__PAGE_SHIFT 10
#define TR__PAGE_SIZE (1u << TR__PAGE_SHIFT)
#define TR__PAGES_MAX (1u << 14) /* 16 M actors per node */

typedef struct tr_timer_rec {
    uint64_t id;
    uint64_t corr; /* request timeouts: the request's corr; else 0 */
    uint32_t type;
    uint32_t period_ms;
    uint64_t due_ns;
    uint64_t handle; /* the engine's, for ops->timer_cancel (0: none) */
} tr_timer_rec;

/* A request tr_forward relayed on behalf of a requester on a third node (ctx.c): its reply
 * goes on to `to` with to_corr and trace and never reaches the actor; its timeout is dropped
 * (the original requester has its own). Kept apart from the timers so that a plain request's
 * timer stays small; looked up only while the actor has relays. */
typedef struct tr_relay_rec {
    uint64_t corr; /* the relaying request's corr */
    tr_addr to;
    uint64_t to_corr;
    tr_trace trace;
} tr_relay_rec;

/* Requests one actor may have relayed by tr_forward and not yet answered, and how long such a
 * relay waits for its answer before it is forgotten. */
#define TR__FORWARD_RELAYS_MAX 1024u
#define TR__FORWARD_TIMEOUT_MS 60000u

typedef struct tr_watch {
    tr_addr who;
    uint64_t ref;
} tr_watch;

/* [owner] Rarely used per-actor data, allocated on first need. */
typedef struct tr_actor_ext {
    char name[TR_NAME_MAX + 1]; /* registered at spawn; the store namespace */
    tr_vec links;               /* tr_addr */
    tr_vec monitors;            /* tr_watch: who watches me (ref is theirs) */
    tr_vec watching;            /* tr_watch: whom I watch (refs I own, for demonitor) */
    tr_vec timers;              /* tr_timer_rec */
    tr_vec relays;              /* tr_relay_rec: tr_forward's relays in flight */
    uint64_t next_corr;
} tr_actor_ext;

struct tr_actor {
    tr_mailbox mb;             /* consumer: [owner] */
    _Atomic uint64_t id;       /* [any] (gen << 32) | slot; 0 when dead */
    uint32_t gen;              /* [owner/spawner] generation of the slot */
    uint8_t overflow;          /* [init] tr_overflow */
    _Atomic uint8_t has_muted; /* [any] senders are muted on this actor */
    /* [owner] bits: one memory location, so only fields of the owner may share it */
    uint8_t trap_exit : 1;
    uint8_t inited : 1; /* init ran */
    /* [owner] activations of this actor in progress: 1 inside tr__actor_run (from its start
     * until just before the token is handed on), else 0. Take increments and release
     * decrements and checks for 0 (TR_ASSERT), so two activations that overlap make one of
     * them fail when it ends. A plain counter (an inc and a dec-and-test, the cheapest
     * marker there is: it runs once per message in a pingpong): the token's hand-off (the
     * mailbox's acq_rel exchange and CAS, the engines' queues) orders its accesses between
     * threads whenever the token is respected, and only a broken token races on it. With
     * the bits above it fits the word after `gen`, so a slot stays 80 bytes. */
    uint8_t running;
    tr_node *node;           /* [init] */
    const tr_behaviour *beh; /* [init] */
    tr__metrics_type *mrow;  /* [init] beh's row of the node's metrics (metrics.h) */
    void *state;             /* [owner] */
    tr_actor_ext *ext;       /* [owner] */
};

typedef struct tr_mute_rec {
    uint64_t receiver; /* actor id of the overloaded receiver */
    tr_actor *sender;
} tr_mute_rec;

enum {
    TR__WATCH_MONITOR = 0, /* tr_monitor of an actor on another node */
    TR__WATCH_LINK = 1,    /* tr_link with an actor on another node */
    TR__WATCH_NODE = 2     /* tr_monitor_node (target.actor == 0) */
};

typedef struct tr_remote_watch {
    tr_addr watcher; /* local actor */
    tr_addr target;  /* on another node; target.actor == 0: the node itself */
    uint64_t ref;
    uint8_t kind; /* TR__WATCH_* */
} tr_remote_watch;

struct tr_node {
    uint32_t id;
    char name[TR_NAME_MAX + 1];
    uint32_t batch;
    uint32_t mute_threshold;
    const tr_engine_ops *ops;
    void *engine;
    struct tr_store *store;

    /* actor slots */
    tr_actor *_Atomic pages[TR__PAGES_MAX];
    pthread_mutex_t slot_lock;
    uint32_t slot_next;   /* [slot_lock] first never-used slot */
    uint32_t *free_slots; /* [slot_lock] stack */
    uint32_t free_len, free_cap;

    /* registry: chained hash table */
    pthread_mutex_t reg_lock;
    tr_name_entry **reg_buckets;
    uint32_t reg_nbuckets, reg_count;

    /* muted senders */
    pthread_mutex_t mute_lock;
    tr_vec mutes; /* tr_mute_rec */

    /* watches on other nodes */
    pthread_mutex_t watch_lock;
    tr_vec remote_watches; /* tr_remote_watch */

    /* The failure detector's view of peers 1..64 for tr_forward: bit id - 1 of peers_down is
     * set and cleared by tr__node_event; peers_watched: the engine was asked to report every
     * peer (ops->watch_node), on the first question after the node (re)started. Relaxed
     * atomics: a hint, read on actor threads and written by whichever thread reports node
     * events. */
    _Atomic uint64_t peers_down;
    _Atomic bool peers_watched;

    /* The span recorder (runtime/trace_spans.h), borrowed while attached; NULL: none. */
    struct tr__spans *_Atomic spans;

    /* statistics [any] */
    _Atomic uint64_t st_live, st_spawned, st_dead, st_rejects, st_mutes, st_restarts;
    tr__metrics_node metrics; /* per actor type and dead-letter reason (metrics.h) */
};

/* The thread-local view of the actor running now (tr_ctx is this struct). */
struct tr_ctx {
    tr_actor *actor;
    tr_node *node;
    const tr_msg *current;
    tr_actor *mute_on; /* a receiver we flooded during this activation */
    uint64_t mute_on_id;
    int stop_self; /* tr_stop(self) was called: die after the callback returns */
    int stop_reason;
    bool store_open; /* this callback wrote to the store (tr__store_callback_begin) */
    uint32_t sent;   /* messages this activation sent (metrics.h: counted once per activation) */
    /* tr_trace_start/set, tr_deadline_set (runtime/trace.c): what the messages sent in this
     * callback carry instead of what they inherit; cleared for each message handled. */
    uint64_t out_deadline;
    tr_trace out_trace;
    uint8_t out_what; /* TR__OUT_TRACE | TR__OUT_DEADLINE: which of the two were set */
};
#define TR__OUT_TRACE 1u
#define TR__OUT_DEADLINE 2u
/* The trace and deadline a message sent now inherits (runtime/trace.c). */
void tr__ctx_inherit(const tr_ctx *ctx, tr_msg *m);
/* A reply to req carries req's trace id with the replier's span as parent, and no deadline. */
void tr__trace_reply(const tr_msg *req, tr_msg *reply);
/* The next tr_inbox_request of ib starts a new trace with `flags` (runtime/inbox.c); after it,
 * tr__inbox_trace_get gives that trace (its span: the request's parent). */
void tr__inbox_trace_start(tr_inbox *ib, uint8_t flags);
void tr__inbox_trace_get(tr_inbox *ib, tr_trace *out);
/* The next request of ib carries t (copied) as its trace context: a context taken from
 * outside (the gateway's traceparent), t.span the parent of the request's span. */
void tr__inbox_trace_use(tr_inbox *ib, const tr_trace *t);

/* Watches of local actors on other nodes (node.c), answered by tr__node_event. Any thread. */
void tr__node_watch_add(tr_node *node, tr_addr watcher, tr_addr target, uint64_t ref, uint8_t kind);
void tr__node_watch_forget(tr_node *node, tr_addr watcher, tr_addr target, uint64_t ref,
                           uint8_t kind);
/* Forgets every watch of `watcher` (it died: nothing can be answered to it any more). */
void tr__node_watch_drop(tr_node *node, tr_addr watcher);
/* True when peer `id` is known down by this node's failure detector. The first question
 * after the node (re)started asks the engine to report every peer from then on: until its
 * first report arrives, a peer counts as up. */
bool tr__node_peer_down(tr_node *node, uint32_t id);
/* tr_request to the actor registered as `name` on node to.node (to.actor is ignored), or to
 * the address `to` when name is NULL: what tr_request_name does once it has resolved
 * "name@node" to a node id. For requests on behalf of a plain thread (tr_inbox_request),
 * which knows a node by its id (ctx.c). */
int tr__ctx_request_to(tr_ctx *ctx, tr_addr to, const char *name, uint32_t type, const void *body,
                       size_t len, uint32_t timeout_ms, uint64_t *corr_out);

#endif /* TR_INTERNAL_H */
