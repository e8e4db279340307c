/*
 * engine.h — the engine seam.
 *
 * Everything nondeterministic that the runtime needs is reached through one table of
 * functions, tr_engine_ops: the clock, random numbers, which actor runs next, timers,
 * bytes to another node, and commits to the store. Two engines implement it:
 *   - runtime/engine_real.c: worker threads, a libuv loop thread, a store-writer thread;
 *   - sim/engine.c: one thread, an event queue in virtual time, seeded PRNG streams.
 * The runtime (actors, mailboxes, registry, supervisors, store views) only calls these
 * functions, so the same actor code runs under both. No file outside an engine (and the
 * modules an engine owns: the transport, the store's LMDB calls) may call clock_gettime,
 * time, rand, pthread_create, sockets or uv_*; `zig build tidy` enforces it.
 *
 * Threading: under the real engine every op may be called from any worker thread
 * concurrently; under the sim engine everything happens on one thread.
 */
#ifndef TR_ENGINE_H
#define TR_ENGINE_H

#include "runtime/pool.h" /* message memory, which engines allocate and release too */
#include "troupe.h"

typedef struct tr_actor tr_actor;

typedef struct tr_engine_ops {
    /* Monotonic nanoseconds as seen by `node` (virtual, with skew, in the simulator). */
    uint64_t (*now_ns)(void *engine, tr_node *node);
    /* 64 random bits from `node`'s stream. */
    uint64_t (*random)(void *engine, tr_node *node);
    /* `actor` became runnable (its mailbox went from empty to non-empty, or it was
     * unmuted). The engine must eventually call tr__actor_run(actor) exactly once for this
     * call. May be called from inside tr__actor_run of another actor. */
    void (*schedule)(void *engine, tr_node *node, tr_actor *actor);
    /* Arms a one-shot timer: at `due_ns` (engine clock) call tr__actor_timer_fire(node, owner,
     * timer_id). Returns a handle for timer_cancel, or 0 (no handle: the timer cannot be
     * withdrawn). The runtime ignores fires of timers it has dropped, so an engine may
     * fire a cancelled timer anyway. */
    uint64_t (*timer_arm)(void *engine, tr_node *node, tr_addr owner, uint64_t timer_id,
                          uint64_t due_ns);
    /* Optional (NULL: cancellation stays lazy). The runtime has dropped the timer armed
     * as (owner, timer_id) with `handle` (non-zero, from timer_arm), e.g. a reply beat its
     * request's timeout: the engine may drop it instead of firing it. Called on the owner's
     * node, from the owner's run. */
    void (*timer_cancel)(void *engine, tr_node *node, tr_addr owner, uint64_t timer_id,
                         uint64_t handle);
    /* Sends `msg` (msg->to.node != this node) to another node. to_name is non-NULL when
     * the sender addressed a registered name on that node (msg->to.actor is then 0). Takes
     * ownership of msg in every case. Returns 0, or an error (the runtime counts a dead
     * letter). */
    int (*send_remote)(void *engine, tr_node *node, tr_msg *msg, const char *to_name);
    /* The store of `node` went from no pending writes to some: commit them soon by calling
     * tr__store_commit(node's store) on the engine's store context (writer thread or a
     * simulated commit event). */
    void (*store_ready)(void *engine, tr_node *node);
    /* Resolves a node name ("n2") to a node id; TR_ENOENT if unknown. May be NULL. */
    int (*node_by_name)(void *engine, tr_node *node, const char *name, uint32_t *id_out);
    /* Asks to be told (tr__node_event) when node `id` goes down or up. May be NULL. */
    void (*watch_node)(void *engine, tr_node *node, uint32_t id);
    /* `msg` is about to be handed to an actor's receive callback (called by tr__actor_run,
     * on the thread running the actor). May be NULL. The sim engine folds (time, node,
     * receiver, type, corr, body) into its trace hash, so that local deliveries, which never
     * leave the node, are covered by the determinism check too. */
    void (*delivered)(void *engine, tr_node *node, const tr_msg *msg);
    /* TR_BUGGIFY at the fault point `site` (a hash of its file name and line) on `node`:
     * whether the service takes its rare path now. May be NULL: never (the real engine). The
     * sim engine answers from the seed (troupe.h, "Fault points"). */
    bool (*buggify)(void *engine, tr_node *node, uint64_t site);
    /* tr_probe on `node`: record (kind, a, b, c) for the checks. May be NULL: dropped (the real
     * engine). The sim engine stamps it with the true virtual time (troupe.h, "Probes"). */
    void (*probe)(void *engine, tr_node *node, uint32_t kind, uint64_t a, uint64_t b, uint64_t c);
} tr_engine_ops;

/* An engine may set this bit in a tr_msg's flags_ before handing the message to
 * tr__node_deliver, e.g. to note that it is already in its trace (the sim engine marks what
 * it decoded from a link). The runtime keeps the bit and never puts it on the wire. */
#define TR__F_ENGINE 0x80000000u

/* ---- What the runtime offers to engines ---------------------------------------------- */

typedef struct tr_node_opts {
    uint32_t node_id;
    const char *name;        /* copied */
    uint32_t batch;          /* 0 = 100 */
    uint32_t mute_threshold; /* 0 = 4096 */
    const tr_engine_ops *ops;
    void *engine;
    struct tr_store *store; /* may be NULL: store calls then fail with TR_ENOTSUP; the node
                                binds it (tr__store_bind); the engine that opened it closes it
                                after tr__node_destroy */
} tr_node_opts;

/* Creates a node; *out is owned, tr__node_destroy frees it (after stopping its actors). */
int tr__node_create(const tr_node_opts *opts, tr_node **out);
/* Stops every actor (terminate callbacks run in the caller's thread; no engine must run
 * the node concurrently), then frees everything. */
void tr__node_destroy(tr_node *node);
/* Simulated crash: every actor vanishes without its terminate callback, mailboxes and
 * timers are discarded, the registry is emptied. The store is not touched here. */
void tr__node_crash(tr_node *node);
/* Walks the node's invariants (internal.h lists them; TR_ASSERT each) and returns true. Only
 * at a quiet point: no activation of the node running, nothing being pushed into it. An
 * engine may call it between steps, e.g. TR_DEBUG_ASSERT(tr__node_check(node)). */
bool tr__node_check(tr_node *node);

/* Runs up to the node's batch of messages of `actor`. Returns true if the actor must be
 * scheduled again (more mail and not muted); false if it went idle, got muted, or died.
 * The caller must hold the actor's run token (internal.h): a second concurrent run of the
 * same actor aborts (TR_ASSERT). */
bool tr__actor_run(tr_actor *actor);
tr_node *tr__actor_node(const tr_actor *actor);
/* A stable per-actor tiebreak for deterministic ordering: (node id, actor id). */
tr_addr tr__actor_addr(const tr_actor *actor);

/* A timer armed with ops->timer_arm is due. */
void tr__actor_timer_fire(tr_node *node, tr_addr owner, uint64_t timer_id);
/* A message from another node arrives (decoded by tr__envelope_decode). Takes ownership.
 * to_name non-empty: deliver to that registered name (msg->to.actor is ignored).
 * Returns true if, after the push, the receiver's mailbox holds more than the node's mute
 * threshold (the transport should stop reading that peer until it drains: remote senders
 * cannot be muted like local ones); *receiver (if not NULL) is then set to the resolved
 * address, for tr__node_backlog. The sim ignores the result. */
bool tr__node_deliver(tr_node *node, tr_msg *msg, const char *to_name, tr_addr *receiver);
/* Messages queued for local actor `who` (0 if it is not alive here). Any thread; a relaxed
 * read, exact enough for back-pressure. */
uint32_t tr__node_backlog(tr_node *node, tr_addr who);
/* The node's mute threshold (a mailbox deeper than this mutes local senders). */
uint32_t tr__node_mute_threshold(const tr_node *node);
/* Node `id` went down (up == false) or up: monitors of its actors and of the node learn. */
void tr__node_event(tr_node *node, uint32_t id, bool up);
/* Routes an owned message from inside the node (store notifications, held replies). */
void tr__node_route(tr_node *node, tr_msg *msg);

#endif /* TR_ENGINE_H */
