/* net.c — the simulated network: directed links between nodes.
 *
 * A remote send is encoded with the wire codec (tr__envelope_encode) onto the link and
 * decoded (tr__envelope_decode) on arrival, so the simulator exercises the same codec as TCP.
 * Per link: a delay of min + a random part (uniform, exponential or none) plus any delay
 * spike; FIFO like TCP (a message is never due before an earlier one on the same link;
 * equal times keep send order through the heap's sequence numbers); a cut link loses what
 * is in flight (its epoch changes) and everything sent while it is down. Opt-in faults,
 * drawn from the link's own fault stream: loss, duplication (the copy arrives after the
 * original, FIFO), reordering (the message ignores the FIFO bound and may overtake).
 *
 * Under TR_SIM_NET_PROTOCOL the links carry TCP-like byte streams instead (segments of
 * net_proto.c's connections): the same delays, FIFO and cuts; a lost segment is
 * retransmitted after SIM_RTO_NS rather than lost (a stream has no holes), and segments are
 * never duplicated or reordered (TCP hides both). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/queue.h"
#include "sim/sim.h"
#include "sim/spans.h"

sim_link *tr__sim_link(tr_sim *sim, uint32_t from, uint32_t to) {
    TR_DEBUG_ASSERT(from < sim->n && to < sim->n);
    return &sim->links[(size_t)from * sim->n + to];
}

bool tr__sim_link_set(tr_sim *sim, uint32_t from, uint32_t to, bool up) {
    sim_link *l = tr__sim_link(sim, from, to);
    if (l->up == up) {
        return false;
    }
    l->up = up;
    if (!up) {
        tr__sim_link_break(sim, from, to);
    }
    return true;
}

void tr__sim_link_break(tr_sim *sim, uint32_t from, uint32_t to) {
    sim_link *l = tr__sim_link(sim, from, to);
    l->epoch++; /* what is in flight is lost */
    /* ... and must not hold later messages back: the queued ones go now, the head (in the
     * heap) is detached from the link and dropped by its epoch when it pops. */
    if (l->head_in_heap) {
        sim->slab[l->head_slot].via_link = false;
        l->head_in_heap = false;
    }
    for (uint32_t k = 0; k < l->q_count; k++) {
        uint32_t slot = l->q[(l->q_head + k) & (l->q_cap - 1)].slot;
        tr__sim_free_event(sim, &sim->slab[slot]);
        tr__sim_release_slot(sim, slot);
        sim->stats.dropped_cut++;
    }
    l->q_count = 0;
    l->last_due = 0;
}

static uint64_t draw_delay(tr_sim *sim, sim_link *l) {
    uint64_t d = sim->cfg.link_delay_min_ns;
    uint64_t mean = sim->cfg.link_delay_mean_ns;
    if (mean > 0) {
        switch (sim->cfg.delay_dist) {
        case TR_SIM_DELAY_UNIFORM: d += tr_sim_rng_below(&l->rng_delay, 2 * mean); break;
        case TR_SIM_DELAY_EXPONENTIAL: {
            double u = tr_sim_rng_unit(&l->rng_delay);
            double x = -(double)mean * log1p(-u);
            double cap = 20.0 * (double)mean;
            d += (uint64_t)(x < cap ? x : cap);
            break;
        }
        case TR_SIM_DELAY_FIXED: break;
        }
    }
    if (sim->now < l->spike_until) {
        d += l->spike_extra;
    }
    return d;
}

static void queue_append(tr_sim *sim, sim_link *l, sim_heap_entry e) {
    if (l->q_count == l->q_cap) {
        uint32_t cap = l->q_cap ? l->q_cap * 2 : 16;
        sim_heap_entry *q = malloc((size_t)cap * sizeof *q);
        if (q == NULL) {
            fprintf(stderr, "troupe sim: out of memory (seed %" PRIu64 ")\n", sim->cfg.seed);
            tr__sim_die(sim);
        }
        for (uint32_t k = 0; k < l->q_count; k++) {
            q[k] = l->q[(l->q_head + k) & (l->q_cap - 1)];
        }
        free(l->q);
        l->q = q;
        l->q_head = 0;
        l->q_cap = cap;
    }
    l->q[(l->q_head + l->q_count++) & (l->q_cap - 1)] = e;
}

bool tr__sim_link_next(tr_sim *sim, uint32_t from, uint32_t to, sim_heap_entry *next) {
    sim_link *l = tr__sim_link(sim, from, to);
    SIM_ASSERT(sim, l->head_in_heap);
    if (l->q_count == 0) {
        return false;
    }
    *next = l->q[l->q_head];
    l->q_head = (l->q_head + 1) & (l->q_cap - 1);
    l->q_count--;
    l->head_slot = next->slot; /* still head_in_heap: the caller puts it there */
    return true;
}

void tr__sim_link_advance(tr_sim *sim, uint32_t from, uint32_t to) {
    sim_link *l = tr__sim_link(sim, from, to);
    SIM_ASSERT(sim, l->head_in_heap);
    l->head_in_heap = false;
    if (l->q_count > 0) {
        sim_heap_entry e = l->q[l->q_head];
        l->q_head = (l->q_head + 1) & (l->q_cap - 1);
        l->q_count--;
        tr__sim_heap_insert(sim, e);
        l->head_in_heap = true;
        l->head_slot = e.slot;
    }
}

void tr__sim_links_free(tr_sim *sim) {
    for (size_t k = 0; k < (size_t)sim->n * sim->n; k++) {
        sim_link *l = &sim->links[k];
        for (uint32_t j = 0; j < l->q_count; j++) {
            tr__sim_free_event(sim, &sim->slab[l->q[(l->q_head + j) & (l->q_cap - 1)].slot]);
        }
        free(l->q);
        l->q = NULL;
        l->q_count = 0;
    }
}

/* A delivery from `from` to `to` on link l (seg 0: an envelope; else a stream segment of
 * connection conn), due at `due`. fifo: it keeps its place behind the link's earlier
 * deliveries (its due time is >= theirs), so only the link's head waits in the heap; else
 * it goes into the heap on its own and may overtake them. Always inlined: it is most of
 * every remote send, and each caller fixes seg and fifo. */
static inline __attribute__((always_inline)) void put_event(tr_sim *sim, sim_link *l, uint32_t from,
                                                            uint32_t to, uint8_t seg, uint32_t conn,
                                                            uint8_t *buf, uint32_t len,
                                                            uint64_t due, bool fifo) {
    sim_event ev = {
        .kind = SIM_EV_DELIVER,
        .via_link = fifo,
        .seg = seg,
        .node = to,
        .epoch = sim->nodes[to].epoch,
        .u.msg = {.buf = buf, .len = len, .from = from, .link_epoch = l->epoch, .conn = conn}};
    if (!fifo) {
        tr__sim_push(sim, due, &ev);
        return;
    }
    uint32_t slot = tr__sim_slot_alloc(sim);
    sim->slab[slot] = ev;
    sim_heap_entry e = {due, sim->seq++, slot};
    if (l->head_in_heap) {
        queue_append(sim, l, e);
    } else {
        SIM_ASSERT(sim, e.time >= sim->now); /* the heap, never the now-ring (see queue.h) */
        tr__sim_heap_push(sim, e);
        l->head_in_heap = true;
        l->head_slot = e.slot;
    }
}

/* Due time on a FIFO link: no earlier than the last message put on it. */
static uint64_t fifo_due(sim_link *l, uint64_t due) {
    if (due < l->last_due) {
        due = l->last_due;
    }
    l->last_due = due;
    return due;
}

/* An envelope on link l under opt-in faults (loss, duplication, reordering). Without a fault
 * drawn, the same as the plain FIFO put of tr__sim_send_remote. */
static void transmit_faulty(tr_sim *sim, sim_link *l, uint32_t f, uint32_t t, uint8_t *buf,
                            uint32_t len) {
    const tr_sim_config *c = &sim->cfg;
    /* Always three draws, so changing one probability does not shift the others. */
    bool lose = tr_sim_rng_unit(&l->rng_fault) < c->loss_prob;
    bool dup = tr_sim_rng_unit(&l->rng_fault) < c->dup_prob;
    bool reorder = tr_sim_rng_unit(&l->rng_fault) < c->reorder_prob;
    if (lose) {
        tr__sim_fault(sim, TR_SIM_FAULT_LOSS);
        tr__sim_buf_free(sim, buf, len);
        return;
    }
    uint64_t due = sim->now + draw_delay(sim, l);
    bool fifo = !(reorder && due < l->last_due);
    if (fifo) {
        due = fifo_due(l, due);
    } else {
        tr__sim_fault(sim, TR_SIM_FAULT_REORDER); /* overtakes: leaves last_due alone */
    }
    uint8_t *copy = dup ? tr__sim_buf_alloc(sim, len) : NULL;
    if (fifo) {
        put_event(sim, l, f, t, 0, 0, buf, len, due, true);
    } else {
        put_event(sim, l, f, t, 0, 0, buf, len, due, false);
    }
    if (copy != NULL) {
        memcpy(copy, buf, len);
        uint64_t due2 = fifo_due(l, sim->now + draw_delay(sim, l));
        put_event(sim, l, f, t, 0, 0, copy, len, due2 > due ? due2 : due, true);
        tr__sim_fault(sim, TR_SIM_FAULT_DUP);
    }
}

void tr__sim_stream_put(tr_sim *sim, uint32_t from, uint32_t to, uint8_t seg, uint32_t conn,
                        uint8_t *buf, uint32_t len) {
    sim_link *l = tr__sim_link(sim, from, to);
    if (!l->up || !sim->nodes[to].up) {
        sim->stats.dropped_cut += seg == SIM_SEG_DATA;
        if (buf != NULL) {
            tr__sim_buf_free(sim, buf, len);
        }
        return; /* into a partition, or to a dead host: nothing arrives */
    }
    uint64_t due = sim->now + draw_delay(sim, l);
    if (sim->cfg.loss_prob > 0 && tr_sim_rng_unit(&l->rng_fault) < sim->cfg.loss_prob) {
        tr__sim_fault(sim, TR_SIM_FAULT_LOSS);
        due += SIM_RTO_NS; /* lost once, retransmitted: late, never missing */
    }
    put_event(sim, l, from, to, seg, conn, buf, len, fifo_due(l, due), true);
}

int tr__sim_send_remote(void *engine, tr_node *node, tr_msg *msg, const char *to_name) {
    tr_sim *sim = engine;
    uint32_t f = tr__sim_index(sim, node);
    uint32_t to_id = msg->to.node;
    if (to_id < 1 || to_id > sim->n) {
        tr__pool_release(msg);
        return TR_EUNREACH;
    }
    uint32_t t = to_id - 1;
    /* Most envelopes fit a small pooled buffer: encode into one directly (the encoder checks
     * the size itself), and size a buffer only for the few that do not. */
    size_t cap = SIM_BUF_SMALL;
    uint8_t *buf = tr__sim_buf_alloc(sim, cap);
    size_t len = 0;
    tr_trace trace; /* carried beside the bytes with --spans (sim/spans.h, invariant 1) */
    tr__sim_spans_strip(sim, msg, &trace);
    int rc = buf ? tr__envelope_encode(msg, to_name, node, buf, cap, &len) : TR_ENOMEM;
    if (rc == TR_ETOOBIG) {
        tr__sim_buf_free(sim, buf, cap);
        cap = tr__envelope_size(msg, to_name, node);
        buf = tr__sim_buf_alloc(sim, cap);
        rc = buf ? tr__envelope_encode(msg, to_name, node, buf, cap, &len) : TR_ENOMEM;
    }
    tr__pool_release(msg);
    if (rc != 0) {
        if (buf != NULL) {
            tr__sim_buf_free(sim, buf, cap);
        }
        return rc;
    }
    /* The buffer class is len: small buffers are all SIM_BUF_SMALL bytes, a large one is
     * exactly len. */
    SIM_ASSERT(sim, len <= UINT32_MAX && (len <= SIM_BUF_SMALL) == (cap == SIM_BUF_SMALL));
    sim->stats.remote_sent++;
    tr__sim_spans_carry(sim, f, t, buf, len, &trace);
    if (sim->proto != NULL) {
        return tr__sim_proto_send(sim, f, t, buf, (uint32_t)len);
    }
    sim_link *l = tr__sim_link(sim, f, t);
    if (!l->up) {
        sim->stats.dropped_cut++;
        tr__sim_buf_free(sim, buf, len);
        return 0; /* like TCP into a partition: the sender cannot tell */
    }
    if (!sim->nodes[t].up) {
        sim->stats.dropped_down++;
        tr__sim_buf_free(sim, buf, len);
        return 0;
    }
    const tr_sim_config *c = &sim->cfg;
    if (c->loss_prob > 0 || c->dup_prob > 0 || c->reorder_prob > 0) {
        transmit_faulty(sim, l, f, t, buf, (uint32_t)len);
        return 0;
    }
    put_event(sim, l, f, t, 0, 0, buf, (uint32_t)len, fifo_due(l, sim->now + draw_delay(sim, l)),
              true);
    return 0;
}

/* A delivery event for a live, running node: off the link and into the node. */
void tr__sim_deliver(tr_sim *sim, sim_event *ev, sim_record *r) {
    uint8_t *buf = ev->u.msg.buf;
    if (!ev->arrived) {
        sim_link *l = tr__sim_link(sim, ev->u.msg.from, ev->node);
        if (l->epoch != ev->u.msg.link_epoch) {
            sim->stats.dropped_cut++; /* the link broke while it was in flight */
            sim->trace = tr__sim_mix(sim->trace, 0xdead);
            r->a = (uint64_t)ev->u.msg.from << 32;
            if (buf != NULL) {
                tr__sim_buf_free(sim, buf, ev->u.msg.len);
            }
            return;
        }
    }
    if (ev->seg != 0) {
        tr__sim_proto_segment(sim, ev, r);
        return;
    }
    r->c = tr__sim_hash_bytes(0, buf, ev->u.msg.len);
    sim->trace = tr__sim_mix(sim->trace, r->c);
    tr_msg *msg = NULL;
    char name[TR_NAME_MAX + 1];
    int rc = tr__envelope_decode(buf, ev->u.msg.len, sim->nodes[ev->node].node, &msg, name);
    if (rc == 0) {
        tr__sim_spans_claim(sim, ev->u.msg.from, ev->node, buf, ev->u.msg.len, msg);
    }
    tr__sim_buf_free(sim, buf, ev->u.msg.len);
    ev->u.msg.buf = NULL;
    if (rc != 0) {
        /* Our own encoder produced it: a failure here is a codec bug, not bad input. */
        SIM_ASSERT(sim, !"an envelope the sim encoded failed to decode");
    }
    msg->flags_ |= TR__F_ENGINE;
    sim->stats.remote_delivered++;
    r->a = ((uint64_t)ev->u.msg.from << 32) | msg->type;
    r->b = msg->corr;
    (void)tr__node_deliver(sim->nodes[ev->node].node, msg, name[0] ? name : NULL, NULL);
}
