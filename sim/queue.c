/* queue.c — the sim engine's event queue: the event slab, the 4-ary heap, the now-ring, the
 * timer heap and the pool of envelope buffers.
 *
 * See sim/queue.h for what each part holds and why; sim/sim.h for the invariants. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim/queue.h"

int tr__sim_queue_grow(tr_sim *sim) {
    uint32_t cap = sim->slab_cap ? sim->slab_cap * 2 : 1024;
    sim_event *slab = realloc(sim->slab, (size_t)cap * sizeof *slab);
    if (slab == NULL) {
        return TR_ENOMEM;
    }
    sim->slab = slab;
    uint32_t *fs = realloc(sim->free_slots, (size_t)cap * sizeof *fs);
    if (fs == NULL) {
        return TR_ENOMEM;
    }
    sim->free_slots = fs;
    /* Push new slots so that the lowest index is popped first (pure tidiness). */
    for (uint32_t s = cap; s > sim->slab_cap; s--) {
        sim->free_slots[sim->free_count++] = s - 1;
    }
    if (cap >= SIM_SLOT_RUN) {
        return TR_ENOMEM; /* slot numbers must stay clear of SIM_SLOT_RUN */
    }
    sim->slab_cap = cap;
    /* The heap and the ring also hold RUN entries without a slot (one per node at most,
     * TR_SIM_NODES_MAX <= 1024 <= cap): twice the slab's capacity is always enough. */
    uint32_t qcap = 2 * cap;
    sim_heap_entry *heap = realloc(sim->heap, (size_t)qcap * sizeof *heap);
    if (heap == NULL) {
        return TR_ENOMEM;
    }
    sim->heap = heap;
    sim->heap_cap = qcap;
    sim_heap_entry *timer_heap = realloc(sim->timer_heap, (size_t)cap * sizeof *timer_heap);
    if (timer_heap == NULL) {
        return TR_ENOMEM;
    }
    sim->timer_heap = timer_heap;
    /* The ring (capacity a power of two, like the slab) is unwrapped into its new array. */
    sim_heap_entry *ring = malloc((size_t)qcap * sizeof *ring);
    if (ring == NULL) {
        return TR_ENOMEM;
    }
    uint32_t old_cap = sim->ring_cap;
    for (uint32_t k = 0; k < sim->ring_count; k++) {
        ring[k] = sim->ring[(sim->ring_head + k) & (old_cap - 1)];
    }
    free(sim->ring);
    sim->ring = ring;
    sim->ring_head = 0;
    sim->ring_cap = qcap;
    return 0;
}

/* Restores the heap order below entry i (the counterpart of tr__sim_sift_up). */
void tr__sim_sift_down(sim_heap_entry *h, uint32_t n, uint32_t i) {
    sim_heap_entry e = h[i];
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= n) {
            break;
        }
        uint32_t m = c;
        if (c + 4 <= n) { /* all four children: unrolled (the common case) */
            uint32_t m2 = tr__sim_entry_less(&h[c + 3], &h[c + 2]) ? c + 3 : c + 2;
            m = tr__sim_entry_less(&h[c + 1], &h[c]) ? c + 1 : c;
            m = tr__sim_entry_less(&h[m2], &h[m]) ? m2 : m;
        } else {
            for (uint32_t k = c + 1; k < n; k++) {
                if (tr__sim_entry_less(&h[k], &h[m])) {
                    m = k;
                }
            }
        }
        if (!tr__sim_entry_less(&h[m], &e)) {
            break;
        }
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

/* Timers due later wait in their own heap (see compact_timers). */
static void push_slot(tr_sim *sim, uint64_t time, uint32_t slot) {
    sim_heap_entry e = {time, sim->seq++, slot};
    if (time != sim->now && sim->slab[slot].kind == SIM_EV_TIMER) {
        sim->slab[slot].in_timer_heap = true;
        SIM_ASSERT(sim, sim->timer_heap_count < sim->slab_cap);
        sim->timer_heap[sim->timer_heap_count] = e;
        tr__sim_sift_up(sim->timer_heap, sim->timer_heap_count++);
        return;
    }
    tr__sim_enqueue(sim, e);
}

/* Out of memory is fatal here: an engine that silently lost an event would break
 * determinism and the delivery contract. */
void tr__sim_queue_reserve_slot(tr_sim *sim) {
    if (sim->free_count == 0 && tr__sim_queue_grow(sim) != 0) {
        fprintf(stderr, "troupe sim: out of memory for events (seed %" PRIu64 ")\n", sim->cfg.seed);
        tr__sim_die(sim);
    }
}

uint32_t tr__sim_alloc_event(tr_sim *sim, const sim_event *ev) {
    uint32_t slot = tr__sim_slot_alloc(sim);
    sim->slab[slot] = *ev;
    return slot;
}

uint64_t tr__sim_next_seq(tr_sim *sim) {
    return sim->seq++;
}

void tr__sim_heap_insert(tr_sim *sim, sim_heap_entry e) {
    SIM_ASSERT(sim, e.time >= sim->now);
    tr__sim_heap_push(sim, e);
}

/* Pushes a copy of *ev due at `time` (an earlier time means now). */
uint32_t tr__sim_push(tr_sim *sim, uint64_t time, const sim_event *ev) {
    uint32_t slot = tr__sim_alloc_event(sim, ev);
    push_slot(sim, time < sim->now ? sim->now : time, slot);
    return slot;
}

void tr__sim_release_slot(tr_sim *sim, uint32_t slot) {
    sim->slab[slot].kind = 0; /* free: op_timer_cancel must not match it */
    sim->free_slots[sim->free_count++] = slot;
}

void tr__sim_free_event(tr_sim *sim, sim_event *ev) {
    if (ev->kind == SIM_EV_DELIVER && ev->u.msg.buf != NULL) {
        tr__sim_buf_free(sim, ev->u.msg.buf, ev->u.msg.len);
        ev->u.msg.buf = NULL;
    }
}

/* Envelope buffers: most envelopes are small, so buffers of up to SIM_BUF_SMALL bytes come
 * from a LIFO free list (recently freed = still in cache), bounded at SIM_BUF_POOL_MAX. */
uint8_t *tr__sim_buf_alloc(tr_sim *sim, size_t len) {
    if (len <= SIM_BUF_SMALL) {
        if (sim->buf_pool_count > 0) {
            return sim->buf_pool[--sim->buf_pool_count];
        }
        return malloc(SIM_BUF_SMALL);
    }
    return malloc(len);
}

void tr__sim_buf_free(tr_sim *sim, uint8_t *buf, size_t len) {
    if (len <= SIM_BUF_SMALL && sim->buf_pool_count < SIM_BUF_POOL_MAX) {
        sim->buf_pool[sim->buf_pool_count++] = buf;
        return;
    }
    free(buf);
}

void tr__sim_retime_timers(tr_sim *sim, uint32_t i) {
    sim_node *sn = &sim->nodes[i];
    bool changed = false;
    for (uint32_t k = 0; k < sim->timer_heap_count; k++) {
        sim_event *ev = &sim->slab[sim->timer_heap[k].slot];
        if (ev->node == i && ev->epoch == sn->epoch) {
            sim->timer_heap[k].time = tr__sim_local_to_global(sim, sn, ev->u.timer.due_local);
            changed = true;
        }
    }
    if (changed && sim->timer_heap_count > 1) {
        for (uint32_t k = sim->timer_heap_count / 2; k-- > 0;) {
            tr__sim_sift_down(sim->timer_heap, sim->timer_heap_count, k);
        }
    }
}

/* Takes the withdrawn timers out of the timer heap and rebuilds it. Pop order does not
 * change: keys (time, seq) are unique, so any heap of the same entries pops the same. */
void tr__sim_compact_timers(tr_sim *sim) {
    uint32_t n = 0;
    for (uint32_t k = 0; k < sim->timer_heap_count; k++) {
        uint32_t slot = sim->timer_heap[k].slot;
        if (sim->slab[slot].cancelled) {
            tr__sim_release_slot(sim, slot);
        } else {
            sim->timer_heap[n++] = sim->timer_heap[k];
        }
    }
    sim->timer_heap_count = n;
    sim->timer_heap_cancelled = 0;
    for (uint32_t k = n > 1 ? (n - 2) / 4 + 1 : 0; k-- > 0;) {
        tr__sim_sift_down(sim->timer_heap, n, k);
    }
}

void tr__sim_queue_free_events(tr_sim *sim) {
    for (uint32_t k = 0; k < sim->heap_count; k++) {
        if (!(sim->heap[k].slot & SIM_SLOT_RUN)) {
            tr__sim_free_event(sim, &sim->slab[sim->heap[k].slot]);
        }
    }
    for (uint32_t k = 0; k < sim->timer_heap_count; k++) {
        tr__sim_free_event(sim, &sim->slab[sim->timer_heap[k].slot]);
    }
    for (uint32_t k = 0; k < sim->ring_count; k++) {
        uint32_t slot = sim->ring[(sim->ring_head + k) & (sim->ring_cap - 1)].slot;
        if (!(slot & SIM_SLOT_RUN)) {
            tr__sim_free_event(sim, &sim->slab[slot]);
        }
    }
}

void tr__sim_queue_deinit(tr_sim *sim) {
    while (sim->buf_pool_count > 0) {
        free(sim->buf_pool[--sim->buf_pool_count]);
    }
    free(sim->heap);
    free(sim->timer_heap);
    free(sim->ring);
    free(sim->slab);
    free(sim->free_slots);
}
