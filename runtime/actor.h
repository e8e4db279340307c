/*
 * actor.h — the actor lifecycle and run loop (runtime/actor.c): slots, spawning, delivery
 * and dead letters, system messages (links, monitors, timers, kills), muting, death, and
 * tr__actor_run. ctx.c (the tr_ctx API) and node.c build on these; engines see only what
 * engine.h declares.
 *
 * Threading: tr__actor_send, tr__actor_send_sys, tr__actor_dead_letter, tr__actor_spawn,
 * tr__actor_slot_get and tr__actor_alive may be called from any thread. The per-actor
 * functions (tr__actor_ext, the timer, link and watch list functions) touch [owner] data: only the
 * thread running that actor may call them.
 */
#ifndef TR_ACTOR_H
#define TR_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/pool.h"

/* Request correlation ids have the top bit set, so a late reply is recognised. */
#define TR__CORR_REQUEST (UINT64_C(1) << 63)

/* The address of a slot's current actor (any thread; relaxed: an owner reads its own id). */
static inline tr_addr tr__actor_self(const tr_actor *a) {
    return (tr_addr){a->node->id, 0, atomic_load_explicit(&a->id, memory_order_relaxed)};
}

/* The longest body tr__actor_body_copy copies without memcpy, and ctx.c's fast send takes. */
#define TR__BODY_INLINE_MAX 16

/* Copies a message body. Most bodies are a few msgpack bytes (an integer, a short key), for
 * which a call of memcpy costs more than the copy: up to 16 bytes are copied here with two
 * loads and two stores of fixed width that may overlap (no byte outside [0, len) is read or
 * written); longer bodies go to memcpy. */
static inline __attribute__((always_inline)) void
tr__actor_body_copy(uint8_t *dst, const void *body, size_t len) {
    const uint8_t *src = body;
    if (len > TR__BODY_INLINE_MAX) {
        memcpy(dst, src, len);
    } else if (len >= 8) {
        uint64_t lo, hi;
        memcpy(&lo, src, 8);
        memcpy(&hi, src + len - 8, 8);
        memcpy(dst, &lo, 8);
        memcpy(dst + len - 8, &hi, 8);
    } else if (len >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, src, 4);
        memcpy(&hi, src + len - 4, 4);
        memcpy(dst, &lo, 4);
        memcpy(dst + len - 4, &hi, 4);
    } else if (len) {
        dst[0] = src[0];
        dst[len / 2] = src[len / 2];
        dst[len - 1] = src[len - 1];
    }
}

/* Fills a fresh message from the pool with its addresses, type, correlation and a copy of
 * body (len bytes; the message has room for them). */
static inline __attribute__((always_inline)) void tr__actor_msg_fill(tr_msg *m, tr_addr from,
                                                                     tr_addr to, uint32_t type,
                                                                     uint64_t corr,
                                                                     const void *body, size_t len) {
    m->type = type;
    m->from = from;
    m->to = to;
    m->corr = corr;
    m->body_len = (uint32_t)len;
    tr__actor_body_copy(tr__pool_body_mut(m), body, len);
}

/* A new owned message with a copy of body, or NULL (out of memory). Inline: one per send. */
static inline tr_msg *tr__actor_msg_new(tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                                        const void *body, size_t len) {
    tr_msg *m = tr__pool_alloc(len);
    if (m) {
        tr__actor_msg_fill(m, from, to, type, corr, body, len);
    }
    return m;
}

static inline uint32_t tr__actor_id_slot(uint64_t id) {
    return (uint32_t)(id & 0xFFFFFFFFu);
}

/* The actor memory of slot `slot` (NULL if its page was never allocated). Any thread. */
static inline tr_actor *tr__actor_slot_at(tr_node *node, uint32_t slot) {
    uint32_t page = slot >> TR__PAGE_SHIFT;
    if (page >= TR__PAGES_MAX) {
        return NULL;
    }
    tr_actor *p = atomic_load_explicit(&node->pages[page], memory_order_acquire);
    if (!p) {
        return NULL;
    }
    return &p[slot & (TR__PAGE_SIZE - 1)];
}

/* The slot that would hold actor_id (NULL for 0 or a slot never allocated). The actor there
 * may be another generation: compare its id. */
static inline tr_actor *tr__actor_slot_get(tr_node *node, uint64_t actor_id) {
    return actor_id == 0 ? NULL : tr__actor_slot_at(node, tr__actor_id_slot(actor_id));
}
/* True if actor_id is alive on node now (acquire: its [init] fields are visible). */
bool tr__actor_alive(tr_node *node, uint64_t actor_id);
/* Spawns an actor on node (tr_node_spawn / tr_spawn). */
int tr__actor_spawn(tr_node *node, const tr_behaviour *b, const tr_spawn_opts *opts,
                    const void *arg, size_t arg_len, tr_addr *out);
/* Frees every actor of a node that no engine runs any more (terminate callbacks run in the
 * caller's thread when run_terminate). */
void tr__actor_free_all(tr_node *node, bool run_terminate);

/* A message that reached no actor (takes ownership). System requests that expect an answer
 * (monitor, link) get one; user messages are counted. */
void tr__actor_dead_letter(tr_node *node, tr_msg *msg);
/* A bounded mailbox of `a` is full: rejects (TR_EFULL) or drops msg per a's overflow. */
int tr__actor_refuse(tr_node *node, tr_actor *a, tr_msg *msg);
/* tr__actor_dead_letter counted under `why` (takes ownership of msg). */
void tr__actor_dead_letter_why(tr_node *node, tr_msg *msg, tr__dead_reason why);
/* Counts a user message that reached no actor, in the node's total and under `why`. */
void tr__actor_count_dead(tr_node *node, tr__dead_reason why);
/* A message left for an actor that stopped (m borrowed: a mailbox stub the next pop frees):
 * a monitor or link request is answered from a copy, a user message counted. */
void tr__actor_dead_stopped(tr_node *node, const tr_msg *m);
/* tr__actor_send for a name or another node (out of line: the rare paths). */
int tr__actor_send_routed(tr_node *node, tr_ctx *ctx, tr_msg *msg, const char *to_name);

/* The end of every local delivery, once the receiver `a` is known alive and with room for m
 * (q: its queued count before the push). A sender (ctx, may be NULL) that floods `a` is muted
 * after its current callback (actor.c): noted before the push, while m still holds a's id.
 * Then the push, and the schedule of `a` if it was idle, last, so that nothing is kept in
 * saved registers across that call. */
static inline __attribute__((always_inline)) void
tr__actor_push(tr_node *node, tr_ctx *ctx, tr_actor *a, tr_msg *m, uint32_t q) {
    if (q + 1 > node->mute_threshold && ctx && ctx->actor != a && !ctx->mute_on) {
        ctx->mute_on = a;
        ctx->mute_on_id = m->to.actor;
    }
    if (tr__mailbox_push(&a->mb, m)) {
        node->ops->schedule(node->engine, node, a);
    }
}

/* Delivers an owned message to the local actor msg->to.actor. Inline with tr__actor_send:
 * with the mailbox push, this is every local send. */
static inline int tr__actor_deliver(tr_node *node, tr_ctx *ctx, tr_msg *m) {
    tr_actor *a = tr__actor_slot_get(node, m->to.actor);
    if (!a || atomic_load_explicit(&a->id, memory_order_acquire) != m->to.actor) {
        tr__actor_dead_letter(node, m);
        return 0;
    }
    uint32_t q = atomic_load_explicit(&a->mb.queued, memory_order_relaxed);
    /* Runtime notifications (DOWN, EXIT, TIMEOUT, DURABLE, ...) are never refused: losing
     * one would break a supervisor or a request. Only user messages count. */
    if (a->mb.capacity && q >= a->mb.capacity && m->type >= TR_MSG_USER && m->type < TR__SYS_BASE) {
        return tr__actor_refuse(node, a, m);
    }
    tr__actor_push(node, ctx, a, m, q);
    return 0;
}

/* Routes an owned message built by the runtime: to a local mailbox, to the engine for
 * another node, or to the dead letters. `ctx` (may be NULL) is the sending actor, muted if
 * it floods the receiver. to_name non-empty: the registered name on msg->to.node. Returns
 * 0, TR_EFULL (a bounded mailbox or a peer queue refused it), or TR_EUNREACH. */
static inline int tr__actor_send(tr_node *node, tr_ctx *ctx, tr_msg *msg, const char *to_name) {
    if (ctx) {
        ctx->sent++; /* metrics.h: the activation adds it to its type once */
    }
    if ((to_name && to_name[0]) || (msg->to.node != 0 && msg->to.node != node->id)) {
        return tr__actor_send_routed(node, ctx, msg, to_name);
    }
    msg->to.node = node->id;
    return tr__actor_deliver(node, ctx, msg);
}
/* Builds and routes a message with a copy of body. */
int tr__actor_send_sys(tr_node *node, tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                       const void *body, size_t len);
/* Encodes v as a msgpack int (at most 9 bytes): the body of DOWN, EXIT and DURABLE. */
size_t tr__actor_pack_int(uint8_t *buf, int64_t v);
/* Answers the user request m (borrowed) at once with TR_MSG_TIMEOUT carrying `code`
 * (TR_ENOPROC, TR_ENODEDOWN); no-op for anything that is not such a request. */
void tr__actor_fail_request(tr_node *node, const tr_msg *m, int code);

/* [owner] The actor's rarely used data, allocated on first need; NULL if out of memory. */
tr_actor_ext *tr__actor_ext(tr_actor *a);
/* [owner] Timer record `id` (and its index) of x, or NULL. */
tr_timer_rec *tr__actor_timer_find(tr_actor_ext *x, uint64_t id, uint32_t *idx);
/* [owner] Forgets timer record i of a and tells the engine it need not fire it. */
void tr__actor_timer_drop(tr_actor *a, uint32_t i);
/* [owner] Removes the watch with ref (and who, if match_who) from v; true if found. */
bool tr__actor_watch_remove(tr_vec *v, tr_addr who, uint64_t ref, bool match_who);
/* [owner] Removes link `who` from v; true if found. */
bool tr__actor_link_remove(tr_vec *v, tr_addr who);

/* Checks slot `slot` of node for internal.h's slot and mailbox invariants at a quiet point
 * (TR_ASSERT each). Returns true if the slot holds a live actor. */
bool tr__actor_check(tr_node *node, uint32_t slot);
/* Writes "node NAME, actor N:ID (BEHAVIOUR)" for the actor the calling thread is running,
 * or "node NAME, no actor" / "" when none: for assertion context hooks. Never allocates or
 * locks. */
void tr__actor_context(char *buf, size_t cap);
/* The activation the calling thread is running (NULL between activations). */
tr_ctx *tr__actor_current(void);

#endif /* TR_ACTOR_H */
