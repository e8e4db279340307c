/*
 * queue.h — the sim engine's event queue (sim/queue.c).
 *
 * What: every future event of a tr_sim, popped in (virtual time, sequence number) order.
 * Events live in a slab indexed by slot (slab, free_slots); the queues hold 24-byte keyed
 * entries (time, seq, slot) so that sifting moves little. Three queues make up one order:
 *   - the heap: a 4-ary min-heap of every future event but timers;
 *   - the timer heap (timer_heap): timers due later, which wait long (request timeouts) and
 *     would lengthen every other event's sift; cancelled ones stay until popped or until
 *     they are most of it (tr__sim_compact_timers);
 *   - the now-ring: events due exactly now, FIFO, O(1). They all have time == now and
 *     increasing sequence numbers, so popping the least of ring head and heap tops keeps
 *     (time, seq) order exactly; the ring is empty whenever now advances.
 * A node's RUN event needs no slot (SIM_SLOT_RUN, see sim.h). Keys (time, seq) are unique,
 * so any heap of the same entries pops in the same order: rebuilding a heap (compaction,
 * retiming after a clock change) never changes the trace.
 *
 * Also here: the pool of small envelope buffers (LIFO, bounded at SIM_BUF_POOL_MAX).
 *
 * Ownership: the queue owns the slab, the heaps, the ring and the pooled buffers; an event
 * owns its encoded envelope (tr__sim_free_event). Out of memory for an event aborts the run
 * (tr__sim_die): an engine that silently lost an event would break determinism.
 * Threading: the sim's one thread.
 */
#ifndef TR_SIM_QUEUE_H
#define TR_SIM_QUEUE_H

#include "sim/sim.h"

/* Grows the slab (and with it the heaps and the ring) to twice its capacity; the first call
 * allocates them. TR_ENOMEM when out of memory or out of slot numbers. */
int tr__sim_queue_grow(tr_sim *sim);
/* Frees the envelopes of every queued event (the sim's destroy; deferred events and link
 * queues are freed by their owners). */
void tr__sim_queue_free_events(tr_sim *sim);
/* Frees the slab, the heaps, the ring and the buffer pool. */
void tr__sim_queue_deinit(tr_sim *sim);

/* Grows the slab when no slot is free; out of memory aborts the run (tr__sim_die). */
void tr__sim_queue_reserve_slot(tr_sim *sim);

/* A free slab slot for a new event, which the caller writes into sim->slab[slot]. Inline:
 * every remote send takes one. */
static inline uint32_t tr__sim_slot_alloc(tr_sim *sim) {
    if (sim->free_count == 0) {
        tr__sim_queue_reserve_slot(sim);
    }
    return sim->free_slots[--sim->free_count];
}

/* Takes the withdrawn timers out of the timer heap and rebuilds it. */
void tr__sim_compact_timers(tr_sim *sim);
/* Restores the heap order below entry i of heap h (n entries). */
void tr__sim_sift_down(sim_heap_entry *h, uint32_t n, uint32_t i);

/* (time, seq) as one 128-bit number: a compare and a subtract-with-borrow, no branch. */
static inline bool tr__sim_entry_less(const sim_heap_entry *a, const sim_heap_entry *b) {
    unsigned __int128 ka = (unsigned __int128)a->time << 64 | a->seq;
    unsigned __int128 kb = (unsigned __int128)b->time << 64 | b->seq;
    return ka < kb;
}

/* A 4-ary heap: half the levels of a binary one, and the four children of a node share a
 * cache line or two. */
static inline void tr__sim_sift_up(sim_heap_entry *h, uint32_t i) {
    sim_heap_entry e = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 4;
        if (!tr__sim_entry_less(&e, &h[p])) {
            break;
        }
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static inline void tr__sim_heap_push(tr_sim *sim, sim_heap_entry e) {
    SIM_ASSERT(sim, sim->heap_count < sim->heap_cap);
    sim->heap[sim->heap_count] = e;
    tr__sim_sift_up(sim->heap, sim->heap_count++);
}

/* The now-ring if e is due now, else the heap. */
static inline void tr__sim_enqueue(tr_sim *sim, sim_heap_entry e) {
    if (e.time == sim->now) {
        SIM_ASSERT(sim, sim->ring_count < sim->ring_cap);
        sim->ring[(sim->ring_head + sim->ring_count++) & (sim->ring_cap - 1)] = e;
        return;
    }
    tr__sim_heap_push(sim, e);
}

/* Pops the top of heap h (count *n > 0). */
static inline sim_heap_entry tr__sim_heap_pop(sim_heap_entry *h, uint32_t *n) {
    sim_heap_entry top = h[0];
    h[0] = h[--*n];
    if (*n > 0) {
        tr__sim_sift_down(h, *n, 0);
    }
    return top;
}

/* Pops the least (time, seq) entry if it is due at or before limit (an entry of the
 * now-ring always is) and sets now to its time; false when nothing is due by limit. When
 * the entry is a link's head delivery and the link's next delivery already took its place
 * in the heap (one sift instead of a pop and an insert), *advanced is true; otherwise the
 * caller moves the link on (tr__sim_link_advance) for a FIFO delivery. Inline: the run
 * loop is this and a dispatch, compiled as one function. */
static inline bool tr__sim_queue_pop(tr_sim *sim, uint64_t limit, sim_heap_entry *out,
                                     bool *advanced) {
    sim_heap_entry top;
    *advanced = false;
    /* The earliest of the two heaps' tops (NULL: both empty). */
    sim_heap_entry *first = sim->heap_count > 0 ? &sim->heap[0] : NULL;
    if (sim->timer_heap_count > 0 &&
        (first == NULL || tr__sim_entry_less(&sim->timer_heap[0], first))) {
        first = &sim->timer_heap[0];
    }
    if (sim->ring_count > 0 &&
        (first == NULL || tr__sim_entry_less(&sim->ring[sim->ring_head], first))) {
        top = sim->ring[sim->ring_head];
        sim->ring_head = (sim->ring_head + 1) & (sim->ring_cap - 1);
        sim->ring_count--;
    } else {
        if (first == NULL || first->time > limit) {
            return false;
        }
        if (first == sim->timer_heap) {
            top = tr__sim_heap_pop(sim->timer_heap, &sim->timer_heap_count);
            sim_event *tev = &sim->slab[top.slot];
            tev->in_timer_heap = false;
            sim->timer_heap_cancelled -= tev->cancelled;
        } else {
            /* A link's head leaving: its next delivery (a key >= the head's) takes the head's
             * place at the top, one sift instead of a pop and an insert. */
            top = sim->heap[0];
            const sim_event *tev = &sim->slab[top.slot & ~SIM_SLOT_RUN];
            sim_heap_entry next;
            if (!(top.slot & SIM_SLOT_RUN) && tev->kind == SIM_EV_DELIVER && tev->via_link &&
                tr__sim_link_next(sim, tev->u.msg.from, tev->node, &next)) {
                sim->heap[0] = next;
                tr__sim_sift_down(sim->heap, sim->heap_count, 0);
                *advanced = true;
            } else {
                tr__sim_heap_pop(sim->heap, &sim->heap_count);
            }
        }
    }
    SIM_ASSERT(sim, top.time >= sim->now); /* invariant 1: time never runs backwards */
    sim->now = top.time;
    *out = top;
    return true;
}

#endif /* TR_SIM_QUEUE_H */
