/*
 * internal.h — the runtime's private structures: actors, mailboxes, nodes.
 *
 * Mailbox (Pony's messageq, "retain-last"): an intrusive MPSC queue. Producers do one atomic
 * exchange on `head`; the low bit of head means "empty and unscheduled". The consumer pops
 * from `tail`, and the last popped message stays in the queue as the stub until the next
 * pop (so a message handed to receive stays valid during the callback). Invariant: an
 * actor is in exactly one run queue, or running, or idle-with-empty-bit, or muted, or dead
 * (a dead actor keeps its "scheduled" token forever, so no push ever schedules it).
 *
 * Actor memory is type-stable: actors live in per-node pages that are never freed while
 * the node exists, and a slot is reused with a new generation. A sender may therefore push
 * into a slot whose actor just died or was replaced; the receiver drops every message whose
 * `to.actor` is not its current id as a dead letter. This avoids reference counting on the
 * message path.
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

typedef struct tr_vec {
    void *items;
    uint32_t len;
    uint32_t cap;
} tr_vec;

typedef struct tr_timer_rec {
    uint64_t id;
    uint64_t corr; /* request timeouts: the request's corr; else 0 */
    uint32_t type;
    uint32_t period_ms;
    uint64_t due_ns;
    uint64_t handle; /* the engine's, for ops->timer_cancel (0: none) */
} tr_timer_rec;

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
    uint64_t next_corr;
} tr_actor_ext;

struct tr_actor {
    /* mailbox */
    _Atomic(uintptr_t) head; /* [any] tr_msg* | 1 = empty */
    tr_msg *tail;            /* [owner] */
    struct {
        tr_msg *_Atomic next_;
    } stub;                    /* the initial stub (never freed) */
    _Atomic uint32_t queued;   /* [any] messages pushed but not popped */
    uint32_t capacity;         /* [init] 0 = unbounded */
    _Atomic uint64_t id;       /* [any] (gen << 32) | slot; 0 when dead */
    uint32_t gen;              /* [owner/spawner] generation of the slot */
    uint8_t overflow;          /* [init] tr_overflow */
    uint8_t trap_exit;         /* [owner] */
    _Atomic uint8_t has_muted; /* [any] senders are muted on this actor */
    uint8_t inited;            /* [owner] init ran */
    tr_node *node;             /* [init] */
    const tr_behaviour *beh;   /* [init] */
    void *state;               /* [owner] */
    tr_actor_ext *ext;         /* [owner] */
};

typedef struct tr_name_entry {
    char name[TR_NAME_MAX + 1];
    tr_addr addr;
    struct tr_name_entry *next;
} tr_name_entry;

typedef struct tr_mute_rec {
    uint64_t receiver; /* actor id of the overloaded receiver */
    tr_actor *sender;
} tr_mute_rec;

typedef struct tr_remote_watch {
    tr_addr watcher; /* local actor */
    tr_addr target;  /* on another node; target.actor == 0: the node itself */
    uint64_t ref;
    uint8_t kind; /* 0 monitor, 1 link, 2 node monitor */
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

    /* statistics [any] */
    _Atomic uint64_t st_live, st_spawned, st_delivered, st_dead, st_rejects, st_mutes, st_restarts;
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
};

/* mailbox.c-style helpers (actor.c) */
tr_actor *tr__slot_get(tr_node *node, uint64_t actor_id);
void tr__dead_letter(tr_node *node, tr_msg *msg);
/* Routes a message built by the runtime; `ctx` (may be NULL) is the sending actor. */
int tr__send_msg(tr_node *node, tr_ctx *ctx, tr_msg *msg, const char *to_name);
/* tr_request to the actor registered as `name` on node to.node (to.actor is ignored), or to
 * the address `to` when name is NULL: what tr_request_name does once it has resolved
 * "name@node" to a node id. For requests on behalf of a plain thread (tr_inbox_request),
 * which knows a node by its id. */
int tr__request_to(tr_ctx *ctx, tr_addr to, const char *name, uint32_t type, const void *body,
                   size_t len, uint32_t timeout_ms, uint64_t *corr_out);
int tr__spawn(tr_node *node, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
              size_t arg_len, tr_addr *out);
void tr__actor_free_all(tr_node *node, bool run_terminate);

/* registry (node.c) */
int tr__reg_add(tr_node *node, const char *name, tr_addr who, bool replace_dead);
void tr__reg_remove_if(tr_node *node, const char *name, tr_addr who);
int tr__reg_find(tr_node *node, const char *name, tr_addr *out);
void tr__reg_clear(tr_node *node);

/* vectors */
int tr__vec_push(tr_vec *v, const void *item, size_t size);
void tr__vec_remove(tr_vec *v, uint32_t i, size_t size); /* swap-remove */
void tr__vec_free(tr_vec *v);

/* msgpack int body helpers (tiny, no msgpack-c needed) */
size_t tr__pack_int(uint8_t *buf, int64_t v);

#endif /* TR_INTERNAL_H */
