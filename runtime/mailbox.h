/*
 * mailbox.h — an actor's mailbox: an intrusive MPSC queue of messages (Pony's messageq,
 * "retain-last"), with the run token of its actor folded into its head.
 *
 * Producers (any thread) do one atomic exchange on `head`. The low bit of head means "empty
 * and unscheduled": the producer whose exchange replaced a head with that bit set is the
 * one that must schedule the actor (tr__mailbox_push returns true to it, to no other). The
 * consumer (the one thread running the actor) pops from `tail`; the last popped message
 * stays in the queue as the stub until the next pop, so a message handed to a receive
 * callback stays valid during the callback. When the consumer finds nothing after `tail`,
 * tr__mailbox_mark_empty sets the bit back with a CAS that fails iff a producer pushed in
 * between (the consumer then keeps the token and runs again).
 *
 * Invariants (tr__mailbox_check walks them at a quiet point, when no push or pop runs):
 *   1. head has the empty bit  <=>  the queue holds no message after tail, and
 *      (head & ~1) == tail;
 *   2. otherwise head is the last message of the chain that starts at tail->next_;
 *   3. queued == the number of messages after tail (the stub is not counted);
 *   4. every queued message is a live pool message (pool.h), and so is the stub unless it
 *      is the mailbox's own initial stub.
 * Debug builds check 4 on each message pushed and popped, and every count of pops against
 * `queued` (pops never outnumber pushes). Release builds leave it to the pool's check
 * (pool.h), which a message freed twice or pushed after its release fails when the stub is
 * released, and to the run token (internal.h): push and pop run once per message, where a
 * compare and the xadd it needs add about 1% to the pingpong benchmark's instructions.
 *
 * Ordering of the atomics:
 *   push: exchange(head, acq_rel) publishes the new message to the next producer; the
 *         store(prev->next, release) publishes the message body to the consumer.
 *   pop:  load(tail->next, acquire) pairs with that release store.
 *   mark_empty: CAS(head, tail -> tail|1, acq_rel) fails iff a producer pushed since.
 *   queued: relaxed, except the consumer's subtraction (seq_cst): a count for bounds and
 *         back-pressure, and one half of the mute handshake (actor.c, mute_self).
 *
 * Push and pop are static inline: every message passes through them.
 */
#ifndef TR_MAILBOX_H
#define TR_MAILBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/assert.h"
#include "runtime/pool.h"
#include "troupe.h"

typedef struct tr_mailbox {
    _Atomic(uintptr_t) head; /* [any] tr_msg* | 1 = empty and unscheduled */
    tr_msg *tail;            /* [consumer] the stub: the last message popped */
    struct {
        tr_msg *_Atomic next_;
    } stub;                  /* the initial stub (never freed) */
    _Atomic uint32_t queued; /* [any] messages pushed but not popped */
    uint32_t capacity;       /* [init] bound on user messages; 0 = unbounded */
} tr_mailbox;

/* Empties a mailbox that holds no message (fresh memory or after tr__mailbox_discard): no
 * message, empty bit set, queued 0. Leaves capacity alone. */
void tr__mailbox_init(tr_mailbox *mb);
/* Releases every message the mailbox holds, the stub included, and re-initialises it. Only
 * when no producer can push any more (the node is being wiped). */
void tr__mailbox_discard(tr_mailbox *mb);
/* Walks invariants 1-4 (TR_ASSERT each) at a quiet point. Returns the number of queued
 * messages. */
uint32_t tr__mailbox_check(tr_mailbox *mb);

static inline bool tr__mailbox_is_stub(const tr_mailbox *mb, const tr_msg *m) {
    return (const void *)m == (const void *)&mb->stub;
}

/* Takes ownership of m. Returns true if the mailbox was empty and unscheduled: the caller
 * now holds the actor's run token and must schedule it. Any thread. */
static inline bool tr__mailbox_push(tr_mailbox *mb, tr_msg *m) {
    TR_DEBUG_ASSERT(tr__pool_is_live(m)); /* pairs with the check in pop */
    atomic_store_explicit(&m->next_, NULL, memory_order_relaxed);
    atomic_fetch_add_explicit(&mb->queued, 1, memory_order_relaxed);
    uintptr_t prev = atomic_exchange_explicit(&mb->head, (uintptr_t)m, memory_order_acq_rel);
    tr_msg *p = (tr_msg *)(prev & ~(uintptr_t)1);
    atomic_store_explicit(&p->next_, m, memory_order_release);
    return (prev & 1) != 0;
}

/* Accounts for n messages popped without counting. Pops never outnumber pushes: the count
 * it takes them from must hold them (the push/pop pairing, checked in debug builds).
 * seq_cst: the receiver's half of the mute handshake (actor.c, mute_self); on x86 the same
 * locked instruction as a relaxed one. */
static inline void tr__mailbox_popped(tr_mailbox *mb, uint32_t n) {
    uint32_t before = atomic_fetch_sub_explicit(&mb->queued, n, memory_order_seq_cst);
    TR_DEBUG_ASSERT(before >= n);
    (void)before;
}

/* Pops without touching `queued` (the caller accounts for several pops at once). The
 * returned message stays valid until the next pop (it becomes the stub); the previous stub
 * is released. NULL if nothing follows the stub. Consumer only. */
static inline tr_msg *tr__mailbox_pop_uncounted(tr_mailbox *mb) {
    tr_msg *tail = mb->tail;
    tr_msg *next = atomic_load_explicit(&tail->next_, memory_order_acquire);
    if (!next) {
        return NULL;
    }
    TR_DEBUG_ASSERT(tr__pool_is_live(next)); /* what push accepted, not yet released */
    mb->tail = next;
    if (!tr__mailbox_is_stub(mb, tail)) {
        tr__pool_release(tail);
    }
    return next;
}

static inline tr_msg *tr__mailbox_pop(tr_mailbox *mb) {
    tr_msg *next = tr__mailbox_pop_uncounted(mb);
    if (next) {
        tr__mailbox_popped(mb, 1);
    }
    return next;
}

/* True if a message follows the stub (consumer only). */
static inline bool tr__mailbox_has_next(const tr_mailbox *mb) {
    return atomic_load_explicit(&mb->tail->next_, memory_order_acquire) != NULL;
}

/* Gives the run token back: true if the mailbox is now empty-and-unscheduled, false if a
 * producer pushed since the consumer last looked (the consumer keeps the token). */
static inline bool tr__mailbox_mark_empty(tr_mailbox *mb) {
    uintptr_t expected = (uintptr_t)mb->tail;
    return atomic_compare_exchange_strong_explicit(&mb->head, &expected, expected | 1,
                                                   memory_order_acq_rel, memory_order_acquire);
}

/* True if the mailbox is empty and unscheduled: nobody holds the actor's run token. */
static inline bool tr__mailbox_is_idle(const tr_mailbox *mb) {
    return (atomic_load_explicit(&mb->head, memory_order_acquire) & 1) != 0;
}

static inline uint32_t tr__mailbox_queued(const tr_mailbox *mb) {
    return atomic_load_explicit(&mb->queued, memory_order_relaxed);
}

#endif /* TR_MAILBOX_H */
