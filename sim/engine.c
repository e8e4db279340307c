/* engine.c — the sim engine: tr_engine_ops over an event queue in virtual time.
 *
 * See sim/sim.h for the invariants. The loop pops the earliest (time, seq) event, checks
 * that it still belongs to the current incarnation of its node, defers it if the node is
 * paused, and otherwise runs it; every processed event is folded into the trace hash.
 * A RUN event charges its node's single simulated CPU msg_cost_ns per message processed:
 * while that CPU is busy, further runs on the node wait (messages sent during a run carry
 * the run's start time). */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <assert.h>

#include "sim/sim.h"

void tr_sim_config_init(tr_sim_config *cfg) {
    assert(cfg != NULL);
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->nodes = 3;
    cfg->link_delay_min_ns = 100000;
    cfg->link_delay_mean_ns = 400000;
    cfg->delay_dist = TR_SIM_DELAY_UNIFORM;
    cfg->msg_cost_ns = 1000;
    cfg->commit_latency_ns = 1000000;
    cfg->failure_detect_ns = 5000000;
    cfg->store = true;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A run that cannot go on: its stores' temporary directory (in /dev/shm, i.e. memory) goes
 * first, or every aborted run would leave one behind; the seed replays the run. */
_Noreturn void tr_sim__die(const tr_sim *sim) {
    if (sim->store_dir[0]) {
        nftw(sim->store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    abort();
}

_Noreturn void tr_sim__assert_fail(const tr_sim *sim, const char *expr, const char *file,
                                   int line) {
    fprintf(stderr,
            "troupe sim: invariant failed: %s (%s:%d) at event #%" PRIu64 ", t=%" PRIu64
            " ns, seed %" PRIu64 "\n",
            expr, file, line, sim->stats.events, sim->now, sim->cfg.seed);
    tr_sim__die(sim);
}

/* ---- Event slab and heap -------------------------------------------------------------- */

static int slab_grow(tr_sim *sim) {
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
    sim_heap_entry *theap = realloc(sim->theap, (size_t)cap * sizeof *theap);
    if (theap == NULL) {
        return TR_ENOMEM;
    }
    sim->theap = theap;
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

/* (time, seq) as one 128-bit number: a compare and a subtract-with-borrow, no branch. */
static inline bool entry_less(const sim_heap_entry *a, const sim_heap_entry *b) {
    unsigned __int128 ka = (unsigned __int128)a->time << 64 | a->seq;
    unsigned __int128 kb = (unsigned __int128)b->time << 64 | b->seq;
    return ka < kb;
}

/* A 4-ary heap: half the levels of a binary one, and the four children of a node share a
 * cache line or two. */
static void sift_up(sim_heap_entry *h, uint32_t i) {
    sim_heap_entry e = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 4;
        if (!entry_less(&e, &h[p])) {
            break;
        }
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static void sift_down(sim_heap_entry *h, uint32_t n, uint32_t i) {
    sim_heap_entry e = h[i];
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= n) {
            break;
        }
        uint32_t m = c;
        if (c + 4 <= n) { /* all four children: unrolled (the common case) */
            uint32_t m2 = entry_less(&h[c + 3], &h[c + 2]) ? c + 3 : c + 2;
            m = entry_less(&h[c + 1], &h[c]) ? c + 1 : c;
            m = entry_less(&h[m2], &h[m]) ? m2 : m;
        } else {
            for (uint32_t k = c + 1; k < n; k++) {
                if (entry_less(&h[k], &h[m])) {
                    m = k;
                }
            }
        }
        if (!entry_less(&h[m], &e)) {
            break;
        }
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

/* Events due now go to the FIFO ring (O(1)): they all have time == now and increasing
 * sequence numbers, so popping the smaller of ring head and heap top keeps (time, seq)
 * order exactly. The ring is empty whenever now advances. */
static inline void heap_insert(tr_sim *sim, sim_heap_entry e) {
    SIM_ASSERT(sim, sim->heap_count < sim->heap_cap);
    sim->heap[sim->heap_count] = e;
    sift_up(sim->heap, sim->heap_count++);
}

/* The ring if e is due now, else the heap. */
static inline void enqueue(tr_sim *sim, sim_heap_entry e) {
    if (e.time == sim->now) {
        SIM_ASSERT(sim, sim->ring_count < sim->ring_cap);
        sim->ring[(sim->ring_head + sim->ring_count++) & (sim->ring_cap - 1)] = e;
        return;
    }
    heap_insert(sim, e);
}

/* Timers due later wait in their own heap (see compact_timers). */
static void push_slot(tr_sim *sim, uint64_t time, uint32_t slot) {
    sim_heap_entry e = {time, sim->seq++, slot};
    if (time != sim->now && sim->slab[slot].kind == SIM_EV_TIMER) {
        sim->slab[slot].in_theap = true;
        SIM_ASSERT(sim, sim->theap_count < sim->slab_cap);
        sim->theap[sim->theap_count] = e;
        sift_up(sim->theap, sim->theap_count++);
        return;
    }
    enqueue(sim, e);
}

/* Out of memory is fatal here: an engine that silently lost an event would break
 * determinism and the delivery contract. */
uint32_t tr_sim__alloc_event(tr_sim *sim, const sim_event *ev) {
    if (sim->free_count == 0 && slab_grow(sim) != 0) {
        fprintf(stderr, "troupe sim: out of memory for events (seed %" PRIu64 ")\n", sim->cfg.seed);
        tr_sim__die(sim);
    }
    uint32_t slot = sim->free_slots[--sim->free_count];
    sim->slab[slot] = *ev;
    return slot;
}

uint64_t tr_sim__next_seq(tr_sim *sim) {
    return sim->seq++;
}

void tr_sim__heap_insert(tr_sim *sim, sim_heap_entry e) {
    SIM_ASSERT(sim, e.time >= sim->now);
    heap_insert(sim, e);
}

/* Pushes a copy of *ev due at `time` (an earlier time means now). */
uint32_t tr_sim__push(tr_sim *sim, uint64_t time, const sim_event *ev) {
    uint32_t slot = tr_sim__alloc_event(sim, ev);
    push_slot(sim, time < sim->now ? sim->now : time, slot);
    return slot;
}

void tr_sim__release_slot(tr_sim *sim, uint32_t slot) {
    sim->slab[slot].kind = 0; /* free: op_timer_cancel must not match it */
    sim->free_slots[sim->free_count++] = slot;
}

void tr_sim__free_event(tr_sim *sim, sim_event *ev) {
    if (ev->kind == SIM_EV_DELIVER && ev->u.msg.buf != NULL) {
        tr_sim__buf_free(sim, ev->u.msg.buf, ev->u.msg.len);
        ev->u.msg.buf = NULL;
    }
}

/* Envelope buffers: most envelopes are small, so buffers of up to SIM_BUF_SMALL bytes come
 * from a LIFO free list (recently freed = still in cache), bounded at SIM_BUF_POOL_MAX. */
uint8_t *tr_sim__buf_alloc(tr_sim *sim, size_t len) {
    if (len <= SIM_BUF_SMALL) {
        if (sim->buf_pool_count > 0) {
            return sim->buf_pool[--sim->buf_pool_count];
        }
        return malloc(SIM_BUF_SMALL);
    }
    return malloc(len);
}

void tr_sim__buf_free(tr_sim *sim, uint8_t *buf, size_t len) {
    if (len <= SIM_BUF_SMALL && sim->buf_pool_count < SIM_BUF_POOL_MAX) {
        sim->buf_pool[sim->buf_pool_count++] = buf;
        return;
    }
    free(buf);
}

/* ---- Nodes, clocks ------------------------------------------------------------------- */

uint32_t tr_sim__index(tr_sim *sim, tr_node *node) {
    uint32_t id = tr_node_id(node);
    assert(id >= 1 && id <= sim->n);
    return id - 1;
}

/* Without drift (the common case) the 128-bit divisions below are skipped; the shortcuts
 * give exactly what the divisions give for drift_ppm == 0, so timers keep their times. */
static int64_t clock_raw(const sim_node *sn, uint64_t t) {
    __int128 drift = 0;
    if (sn->drift_ppm != 0) {
        drift = (__int128)sn->drift_ppm * (__int128)(t - sn->drift_base) / 1000000;
    }
    __int128 v = (__int128)t + sn->clock_offset + drift;
    return v < 0 ? 0 : v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

uint64_t tr_sim__local_now(tr_sim *sim, sim_node *sn) {
    uint64_t raw = (uint64_t)clock_raw(sn, sim->now);
    if (raw > sn->clock_last) {
        sn->clock_last = raw;
    }
    return sn->clock_last;
}

/* The earliest true time at which node sn's local clock reads due_local (now if it does). */
uint64_t tr_sim__local_to_global(tr_sim *sim, sim_node *sn, uint64_t due_local) {
    if (tr_sim__local_now(sim, sn) >= due_local) {
        return sim->now;
    }
    __int128 k = (__int128)due_local - sn->clock_offset - (__int128)sn->drift_base;
    __int128 x;
    if (sn->drift_ppm == 0) {
        /* (k * 10^6 + 10^6 - 1) / 10^6 with C's truncation toward zero */
        x = k < 0 ? k + 1 : k;
    } else {
        __int128 num = k * 1000000;
        __int128 den = 1000000 + sn->drift_ppm;
        x = (num + den - 1) / den;
    }
    __int128 t = (__int128)sn->drift_base + x;
    if (t <= (__int128)sim->now) {
        return sim->now + 1; /* rounding: the fire re-checks and retries */
    }
    return t > (__int128)INT64_MAX ? (uint64_t)INT64_MAX : (uint64_t)t;
}

void tr_sim__retime_timers(tr_sim *sim, uint32_t i) {
    sim_node *sn = &sim->nodes[i];
    bool changed = false;
    for (uint32_t k = 0; k < sim->theap_count; k++) {
        sim_event *ev = &sim->slab[sim->theap[k].slot];
        if (ev->node == i && ev->epoch == sn->epoch) {
            sim->theap[k].time = tr_sim__local_to_global(sim, sn, ev->u.timer.due_local);
            changed = true;
        }
    }
    if (changed && sim->theap_count > 1) {
        for (uint32_t k = sim->theap_count / 2; k-- > 0;) {
            sift_down(sim->theap, sim->theap_count, k);
        }
    }
}

/* ---- Engine ops ---------------------------------------------------------------------- */

static uint64_t op_now_ns(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    return tr_sim__local_now(sim, &sim->nodes[tr_sim__index(sim, node)]);
}

static uint64_t op_random(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    return tr_sim_rng_next(&sim->nodes[tr_sim__index(sim, node)].rng);
}

/* The node's single CPU: runnable actors wait in its run queue (round robin), and one RUN
 * event per node, due when the CPU is free, runs the next of them. */
static void runq_push(tr_sim *sim, sim_node *sn, tr_actor *actor) {
    if (sn->runq_count == sn->runq_cap) {
        uint32_t cap = sn->runq_cap ? sn->runq_cap * 2 : 64;
        tr_actor **q = malloc((size_t)cap * sizeof *q);
        SIM_ASSERT(sim, q != NULL);
        for (uint32_t k = 0; k < sn->runq_count; k++) {
            q[k] = sn->runq[(sn->runq_head + k) & (sn->runq_cap - 1)];
        }
        free(sn->runq);
        sn->runq = q;
        sn->runq_head = 0;
        sn->runq_cap = cap;
    }
    sn->runq[(sn->runq_head + sn->runq_count++) & (sn->runq_cap - 1)] = actor;
}

static void cpu_wake(tr_sim *sim, sim_node *sn) {
    if (sn->cpu_pending || sn->runq_count == 0) {
        return;
    }
    sn->cpu_pending = true;
    uint64_t at = sn->busy_until > sim->now ? sn->busy_until : sim->now;
    enqueue(sim, (sim_heap_entry){at, sim->seq++, SIM_SLOT_RUN | sn->index, sn->epoch});
}

static void op_schedule(void *engine, tr_node *node, tr_actor *actor) {
    tr_sim *sim = engine;
    sim_node *sn = &sim->nodes[tr_sim__index(sim, node)];
    runq_push(sim, sn, actor);
    cpu_wake(sim, sn);
}

static uint64_t op_timer_arm(void *engine, tr_node *node, tr_addr owner, uint64_t timer_id,
                             uint64_t due_ns) {
    tr_sim *sim = engine;
    uint32_t i = tr_sim__index(sim, node);
    sim_node *sn = &sim->nodes[i];
    sim_event ev = {.kind = SIM_EV_TIMER, .node = i, .epoch = sn->epoch};
    ev.u.timer.owner = owner;
    ev.u.timer.id = timer_id;
    ev.u.timer.due_local = due_ns;
    return (uint64_t)tr_sim__push(sim, tr_sim__local_to_global(sim, sn, due_ns), &ev) + 1;
}

/* Takes the withdrawn timers out of the timer heap and rebuilds it. Pop order does not
 * change: keys (time, seq) are unique, so any heap of the same entries pops the same. */
static void compact_timers(tr_sim *sim) {
    uint32_t n = 0;
    for (uint32_t k = 0; k < sim->theap_count; k++) {
        uint32_t slot = sim->theap[k].slot;
        if (sim->slab[slot].cancelled) {
            tr_sim__release_slot(sim, slot);
        } else {
            sim->theap[n++] = sim->theap[k];
        }
    }
    sim->theap_count = n;
    sim->theap_cancelled = 0;
    for (uint32_t k = n > 1 ? (n - 2) / 4 + 1 : 0; k-- > 0;) {
        sift_down(sim->theap, n, k);
    }
}

/* Marks the timer in slot handle - 1 cancelled if it is still that timer: a freed slot has
 * kind 0 and a reused one another owner or id (timer ids are unique per actor). A cancelled
 * event is dropped untraced when it comes up (see process); the timer heap is compacted
 * once withdrawn timers are most of it (request timeouts whose replies came: most timers),
 * so it stays small. A timer that was re-queued (fire_timer, clock set back) lives in another
 * slot: it fires, and the runtime ignores it, as without cancellation. */
static void op_timer_cancel(void *engine, tr_node *node, tr_addr owner, uint64_t timer_id,
                            uint64_t handle) {
    tr_sim *sim = engine;
    uint32_t i = tr_sim__index(sim, node);
    if (handle == 0 || handle > sim->slab_cap) {
        return;
    }
    sim_event *ev = &sim->slab[handle - 1];
    if (ev->kind == SIM_EV_TIMER && ev->node == i && ev->epoch == sim->nodes[i].epoch &&
        ev->u.timer.owner.actor == owner.actor && ev->u.timer.id == timer_id) {
        ev->cancelled = true;
        sim->stats.timers_cancelled++;
        if (ev->in_theap && ++sim->theap_cancelled > 32 &&
            sim->theap_cancelled > sim->theap_count / 2) {
            compact_timers(sim);
        }
    }
}

static void op_store_ready(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    uint32_t i = tr_sim__index(sim, node);
    sim_node *sn = &sim->nodes[i];
    if (sn->commit_pending) {
        return; /* group commit: the scheduled commit takes this batch too */
    }
    sn->commit_pending = true;
    sim_event ev = {.kind = SIM_EV_COMMIT, .node = i, .epoch = sn->epoch};
    tr_sim__push(sim, sim->now + sim->cfg.commit_latency_ns, &ev);
}

static int op_node_by_name(void *engine, tr_node *node, const char *name, uint32_t *id_out) {
    tr_sim *sim = engine;
    (void)node;
    if (name == NULL || name[0] != 'n' || name[1] < '1' || name[1] > '9') {
        return TR_ENOENT;
    }
    uint32_t id = 0;
    for (const char *p = name + 1; *p; p++) {
        if (*p < '0' || *p > '9' || id > TR_SIM_NODES_MAX) {
            return TR_ENOENT;
        }
        id = id * 10 + (uint32_t)(*p - '0');
    }
    if (id < 1 || id > sim->n) {
        return TR_ENOENT;
    }
    *id_out = id;
    return 0;
}

/* Every message an actor receives, local or remote, goes into the trace. */
static void op_delivered(void *engine, tr_node *node, const tr_msg *msg) {
    tr_sim *sim = engine;
    uint32_t i = tr_sim__index(sim, node);
    sim->nodes[i].delivered++;
    if (msg->flags_ & TR__F_ENGINE) {
        return; /* came off a link: tr_sim__deliver hashed its envelope */
    }
    uint64_t h = tr_sim__mix(sim->trace, ((uint64_t)i << 32) | msg->type);
    h = tr_sim__mix(h, ((uint64_t)msg->from.node << 32) | msg->to.node);
    h = tr_sim__mix(tr_sim__mix(h, msg->from.actor), msg->to.actor);
    h = tr_sim__mix(h, msg->corr);
    sim->trace = tr_sim__hash_bytes(h, msg->body, msg->body_len);
    sim->stats.messages_traced++;
}

static const tr_engine_ops sim_ops = {
    .now_ns = op_now_ns,
    .random = op_random,
    .schedule = op_schedule,
    .timer_arm = op_timer_arm,
    .timer_cancel = op_timer_cancel,
    .send_remote = tr_sim__send_remote,
    .store_ready = op_store_ready,
    .node_by_name = op_node_by_name,
    .watch_node = tr_sim__watch_node,
    .delivered = op_delivered,
};

/* ---- Processing events --------------------------------------------------------------- */

/* Messages processed by the node's actors so far. The runtime calls ops->delivered once per
 * message it counts in messages_delivered; debug builds check that the two agree. */
static uint64_t node_processed(sim_node *sn) {
#ifndef NDEBUG
    tr_stats st;
    tr_node_stats_get(sn->node, &st);
    assert(st.messages_delivered == sn->delivered);
#endif
    return sn->delivered;
}

static void run_actor(tr_sim *sim, sim_node *sn, sim_record *r) {
    sn->cpu_pending = false;
    if (sn->busy_until > sim->now) { /* resumed from a pause while still busy */
        r->a = UINT64_MAX;
        cpu_wake(sim, sn);
        return;
    }
    SIM_ASSERT(sim, sn->runq_count > 0);
    tr_actor *actor = sn->runq[sn->runq_head];
    sn->runq_head = (sn->runq_head + 1) & (sn->runq_cap - 1);
    sn->runq_count--;
    tr_addr addr = tr__actor_addr(actor); /* before the run: it may die in it */
    /* Held during the run: work it queues (a local send) waits for the CPU to be free at
     * busy_until, known only after the run; woken once below. Without it, such a send
     * queued a RUN at `now` that found the CPU busy and queued itself again. */
    sn->cpu_pending = true;
    bool again = tr__actor_run(actor);
    sn->cpu_pending = false;
    uint64_t done = node_processed(sn);
    uint64_t k = done - sn->processed_last;
    sn->processed_last = done;
    sn->busy_until = sim->now + k * sim->cfg.msg_cost_ns;
    sim->stats.actor_runs++;
    r->a = addr.actor;
    r->b = k;
    if (again) {
        runq_push(sim, sn, actor);
    }
    cpu_wake(sim, sn);
}

static void fire_timer(tr_sim *sim, sim_node *sn, sim_event *ev, sim_record *r) {
    if (tr_sim__local_now(sim, sn) < ev->u.timer.due_local) {
        /* The clock was set back or runs slow: not yet due in local time. */
        tr_sim__push(sim, tr_sim__local_to_global(sim, sn, ev->u.timer.due_local), ev);
        r->a = UINT64_MAX;
        return;
    }
    r->a = ev->u.timer.owner.actor;
    r->b = ev->u.timer.id;
    sim->stats.timers_fired++;
    tr__timer_fire(sn->node, ev->u.timer.owner, ev->u.timer.id);
}

static void commit(tr_sim *sim, sim_node *sn, sim_record *r) {
    sn->commit_pending = false;
    tr_store *st = sn->store;
    uint64_t writes = 0;
    if (st != NULL) {
        int rc = tr_store_commit(st, &writes);
        if (rc != 0) {
            /* Writing held-back batches failed (tmpfs full?): writes already reported
             * durable are gone, so nothing after this point would mean anything. */
            fprintf(stderr,
                    "troupe sim: the store of n%u failed (%s); the run is void (seed %" PRIu64
                    ")\n",
                    sn->index + 1, tr_strerror(rc), sim->cfg.seed);
            tr_sim__die(sim);
        }
    } /* r->b, the commit's status, stays 0: a failed commit never gets here */
    r->a = writes;
    sim->stats.store_commits++;
}

/* Describes a record for divergence reports. */
static void describe(const sim_record *r, char *buf, size_t cap) {
    static const char *names[SIM_EV_KIND_COUNT] = {"?",      "run",  "timer",     "deliver",
                                                   "commit", "call", "node-event"};
    const char *k = r->kind < SIM_EV_KIND_COUNT ? names[r->kind] : "?";
    if (r->kind == SIM_EV_CALL) {
        snprintf(buf, cap, "t=%" PRIu64 " ns %s", r->time, k);
        return;
    }
    if (r->kind == SIM_EV_DELIVER) {
        snprintf(buf, cap,
                 "t=%" PRIu64 " ns n%u deliver from n%u type %u corr %" PRIu64
                 " envelope-hash %016" PRIx64,
                 r->time, r->node + 1, (unsigned)(r->a >> 32) + 1, (unsigned)(r->a & 0xffffffffu),
                 r->b, r->c);
        return;
    }
    static const char *a_names[SIM_EV_KIND_COUNT] = {"",       "actor", "owner",           "",
                                                     "writes", "",      "about-node-index"};
    static const char *b_names[SIM_EV_KIND_COUNT] = {"",       "processed", "timer", "",
                                                     "status", "",          "up"};
    snprintf(buf, cap, "t=%" PRIu64 " ns n%u %s %s=%" PRIu64 " %s=%" PRIu64, r->time, r->node + 1,
             k, a_names[r->kind], r->a, b_names[r->kind], r->b);
}

static void record(tr_sim *sim, sim_record *r) {
    r->hash = sim->trace;
    uint64_t idx = sim->stats.events - 1;
    if (sim->mode == SIM_MODE_RECORD && idx < sim->rec_cap) {
        if (idx >= sim->rec_count) {
            sim->rec[idx] = *r;
            sim->rec_count = idx + 1;
        }
    } else if (sim->mode == SIM_MODE_COMPARE && !sim->div->diverged && idx < sim->cmp_count) {
        const sim_record *o = &sim->cmp[idx];
        if (o->hash != r->hash) {
            char a[110], b[110];
            describe(o, a, sizeof a);
            describe(r, b, sizeof b);
            sim->div->diverged = true;
            sim->div->event_index = idx;
            sim->div->time_ns = r->time;
            snprintf(sim->div->what, sizeof sim->div->what,
                     "event #%" PRIu64 ": run 1 %s | run 2 %s", idx, a, b);
        }
    }
}

/* Node sn is paused: keep the event (still in `slot`) until tr_sim_resume. A delivery
 * that is still on its link is lost if the link broke; otherwise it has arrived. */
static void defer(tr_sim *sim, sim_node *sn, uint32_t slot, sim_event *ev) {
    if (ev->kind == SIM_EV_DELIVER && !ev->arrived) {
        sim_link *l = tr_sim__link(sim, ev->u.msg.from, ev->node);
        if (l->epoch != ev->u.msg.link_epoch) {
            tr_sim__release_slot(sim, slot);
            sim->stats.dropped_cut++;
            tr_sim__free_event(sim, ev);
            return;
        }
        ev->arrived = true;
    }
    ev->via_link = false; /* off its link: resume re-pushes it like any event */
    if (sn->deferred_count == sn->deferred_cap) {
        uint32_t cap = sn->deferred_cap ? sn->deferred_cap * 2 : 64;
        uint32_t *d = realloc(sn->deferred, cap * sizeof *d);
        if (d == NULL) {
            fprintf(stderr, "troupe sim: out of memory (seed %" PRIu64 ")\n", sim->cfg.seed);
            tr_sim__die(sim);
        }
        sn->deferred = d;
        sn->deferred_cap = cap;
    }
    sim->slab[slot] = *ev; /* stays in the slab until resume */
    sn->deferred[sn->deferred_count++] = slot;
}

/* A node event's trace: its own fields first; what it causes (deliveries via
 * ops->delivered, the envelope of a remote message) is folded in while it runs
 * (between event_begin and event_end); its outcome (r->a, r->b) last. */
static inline void event_begin(tr_sim *sim, uint8_t kind, uint32_t node) {
    sim->stats.events++;
    sim->trace = tr_sim__mix(tr_sim__mix(sim->trace, sim->now), ((uint64_t)kind << 32) | node);
}

static inline void event_end(tr_sim *sim, sim_record *r) {
    sim->trace = tr_sim__mix(tr_sim__mix(sim->trace, r->a), r->b);
    if (sim->mode != SIM_MODE_PLAIN) {
        record(sim, r); /* check-determinism only */
    }
}

/* Runs the event in slot `slot` (already popped from the heap). */
static void process(tr_sim *sim, uint32_t slot) {
    sim_event ev = sim->slab[slot];
    sim_record r = {.time = sim->now, .kind = ev.kind, .node = ev.node};
    if (ev.kind == SIM_EV_CALL) {
        tr_sim__release_slot(sim, slot);
        sim->stats.events++;
        sim->trace = tr_sim__mix(tr_sim__mix(sim->trace, sim->now), SIM_EV_CALL);
        if (sim->mode != SIM_MODE_PLAIN) {
            record(sim, &r); /* check-determinism only */
        }
        ev.u.call.fn(sim, ev.u.call.ud);
        return;
    }
    sim_node *sn = &sim->nodes[ev.node];
    if (ev.cancelled) { /* a withdrawn timer: never an event (see op_timer_cancel) */
        tr_sim__release_slot(sim, slot);
        return;
    }
    if (ev.epoch != sn->epoch || !sn->up) {
        tr_sim__release_slot(sim, slot);
        if (ev.kind == SIM_EV_DELIVER) {
            sim->stats.dropped_down++;
        }
        tr_sim__free_event(sim, &ev);
        return; /* a previous incarnation's event */
    }
    if (sn->paused) {
        defer(sim, sn, slot, &ev);
        return;
    }
    tr_sim__release_slot(sim, slot);
    event_begin(sim, ev.kind, ev.node);
    switch (ev.kind) {
    case SIM_EV_RUN: run_actor(sim, sn, &r); break;
    case SIM_EV_TIMER: fire_timer(sim, sn, &ev, &r); break;
    case SIM_EV_DELIVER: tr_sim__deliver(sim, &ev, &r); break;
    case SIM_EV_COMMIT: commit(sim, sn, &r); break;
    case SIM_EV_NODE_EVENT:
        r.a = ev.u.nev.about;
        r.b = ev.u.nev.up;
        tr__node_event(sn->node, ev.u.nev.about + 1, ev.u.nev.up);
        break;
    default: SIM_ASSERT(sim, !"unknown sim event");
    }
    event_end(sim, &r);
}

/* A slot-less RUN entry (see SIM_SLOT_RUN): what process does for a RUN event, with the
 * same trace and record. */
static void process_run(tr_sim *sim, const sim_heap_entry *e) {
    uint32_t i = e->slot & ~SIM_SLOT_RUN;
    sim_node *sn = &sim->nodes[i];
    if (e->epoch != sn->epoch || !sn->up) {
        return; /* a previous incarnation's run */
    }
    sim_event ev = {.kind = SIM_EV_RUN, .node = i, .epoch = e->epoch};
    if (sn->paused) { /* it waits in the slab like any deferred event */
        defer(sim, sn, tr_sim__alloc_event(sim, &ev), &ev);
        return;
    }
    sim_record r = {.time = sim->now, .kind = SIM_EV_RUN, .node = i};
    event_begin(sim, SIM_EV_RUN, i);
    run_actor(sim, sn, &r);
    event_end(sim, &r);
}

/* Pops the top of heap h (count *n > 0). */
static sim_heap_entry heap_pop(sim_heap_entry *h, uint32_t *n) {
    sim_heap_entry top = h[0];
    h[0] = h[--*n];
    if (*n > 0) {
        sift_down(h, *n, 0);
    }
    return top;
}

static bool step_until(tr_sim *sim, uint64_t limit) {
    sim_heap_entry top;
    bool advanced = false; /* the link of a popped delivery already moved on */
    /* The earliest of the two heaps' tops (NULL: both empty). */
    sim_heap_entry *first = sim->heap_count > 0 ? &sim->heap[0] : NULL;
    if (sim->theap_count > 0 && (first == NULL || entry_less(&sim->theap[0], first))) {
        first = &sim->theap[0];
    }
    if (sim->ring_count > 0 && (first == NULL || entry_less(&sim->ring[sim->ring_head], first))) {
        top = sim->ring[sim->ring_head];
        sim->ring_head = (sim->ring_head + 1) & (sim->ring_cap - 1);
        sim->ring_count--;
    } else {
        if (first == NULL || first->time > limit) {
            return false;
        }
        if (first == sim->theap) {
            top = heap_pop(sim->theap, &sim->theap_count);
            sim_event *tev = &sim->slab[top.slot];
            tev->in_theap = false;
            sim->theap_cancelled -= tev->cancelled;
        } else {
            /* A link's head leaving: its next delivery (a key >= the head's) takes the head's
             * place at the top, one sift instead of a pop and an insert. */
            top = sim->heap[0];
            const sim_event *tev = &sim->slab[top.slot & ~SIM_SLOT_RUN];
            sim_heap_entry next;
            if (!(top.slot & SIM_SLOT_RUN) && tev->kind == SIM_EV_DELIVER && tev->via_link &&
                tr_sim__link_next(sim, tev->u.msg.from, tev->node, &next)) {
                sim->heap[0] = next;
                sift_down(sim->heap, sim->heap_count, 0);
                advanced = true;
            } else {
                heap_pop(sim->heap, &sim->heap_count);
            }
        }
    }
    SIM_ASSERT(sim, top.time >= sim->now); /* invariant 1: time never runs backwards */
    sim->now = top.time;
    if (top.slot & SIM_SLOT_RUN) {
        process_run(sim, &top);
        return true;
    }
    sim_event *ev = &sim->slab[top.slot];
    if (ev->kind == SIM_EV_DELIVER && ev->via_link && !advanced) {
        tr_sim__link_advance(sim, ev->u.msg.from, ev->node);
    }
    process(sim, top.slot);
    return true;
}

bool tr_sim_step(tr_sim *sim) {
    return step_until(sim, UINT64_MAX);
}

void tr_sim_run_for(tr_sim *sim, uint64_t ns) {
    uint64_t limit = sim->now + ns;
    while (step_until(sim, limit)) {
    }
    sim->now = limit;
}

int tr_sim_run_until(tr_sim *sim, bool (*pred)(tr_sim *sim, void *ud), void *ud,
                     uint64_t deadline_ns) {
    assert(pred != NULL);
    for (;;) {
        if (pred(sim, ud)) {
            return 0;
        }
        if (!step_until(sim, deadline_ns)) {
            break;
        }
    }
    if (deadline_ns > sim->now) {
        sim->now = deadline_ns;
    }
    return pred(sim, ud) ? 0 : TR_ETIMEDOUT;
}

int tr_sim_at(tr_sim *sim, uint64_t at_ns, void (*fn)(tr_sim *sim, void *ud), void *ud) {
    if (sim == NULL || fn == NULL) {
        return TR_EINVAL;
    }
    sim_event ev = {.kind = SIM_EV_CALL};
    ev.u.call.fn = fn;
    ev.u.call.ud = ud;
    tr_sim__push(sim, at_ns, &ev);
    return 0;
}

/* ---- Create / destroy ---------------------------------------------------------------- */

static int open_store(tr_sim *sim, uint32_t i, tr_store **out) {
    *out = NULL;
    if (!sim->cfg.store) {
        return 0;
    }
    char dir[300];
    snprintf(dir, sizeof dir, "%s/n%u", sim->store_dir, i + 1);
    /* defer_bytes: a simulated commit is durable at its virtual time, but LMDB gets the
     * batches in bigger transactions (an LMDB transaction costs several thousand
     * instructions, most of a small commit's price). Crash, restart and recovery see the
     * same state either way: the store flushes before a drop_pending. */
    tr_store_opts so = {.dir = dir, .no_sync = true, .defer_bytes = SIM_STORE_DEFER_BYTES};
    return tr_store_open(&so, out);
}

/* Store directories of runs that died without tr_sim_destroy (SIGKILL, Ctrl-C) would stay
 * in /dev/shm, i.e. in memory, forever. Each run holds an flock on its directory's
 * owner.lock while it lives; the kernel drops it however the process ends. A new run removes
 * every troupe-sim-* directory in its base whose lock it can take: nobody uses those. A
 * directory without owner.lock (being created, or older) is left alone. */
static void sweep_dead_stores(const char *base) {
    DIR *d = opendir(base);
    if (d == NULL) {
        return;
    }
    char path[300];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "troupe-sim-", 11) != 0) {
            continue;
        }
        int n = snprintf(path, sizeof path, "%s/%s/owner.lock", base, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            continue;
        }
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            continue;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            path[n - (int)strlen("/owner.lock")] = '\0';
            nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        close(fd);
    }
    closedir(d);
}

/* Takes this run's lock (see sweep_dead_stores). The file is locked under another name and
 * then renamed (the lock stays with the file), so a sweep never finds owner.lock unlocked
 * while its run is alive. */
static int lock_store_dir(tr_sim *sim) {
    char tmp[300], path[300];
    int n = snprintf(tmp, sizeof tmp, "%s/owner.new", sim->store_dir);
    int m = snprintf(path, sizeof path, "%s/owner.lock", sim->store_dir);
    if (n < 0 || (size_t)n >= sizeof tmp || m < 0 || (size_t)m >= sizeof path) {
        return TR_ETOOBIG;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return TR_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, path) != 0) {
        close(fd);
        return TR_EIO;
    }
    sim->store_lock_fd = fd + 1;
    return 0;
}

static int make_store_dir(tr_sim *sim) {
    if (!sim->cfg.store) {
        return 0;
    }
    /* mkdtemp, not pid + counter: a run that was killed leaves its directory behind, and a
     * later process with the recycled pid would collide with it. The name is never traced. */
    const char *base = sim->cfg.store_base ? sim->cfg.store_base : "/dev/shm";
    int len = snprintf(sim->store_dir, sizeof sim->store_dir, "%s/troupe-sim-XXXXXX", base);
    if (len < 0 || (size_t)len >= sizeof sim->store_dir - 8) {
        sim->store_dir[0] = 0;
        return TR_ETOOBIG;
    }
    sweep_dead_stores(base);
    if (mkdtemp(sim->store_dir) == NULL) {
        sim->store_dir[0] = 0;
        return TR_EIO;
    }
    return lock_store_dir(sim);
}

static int create_node(tr_sim *sim, uint32_t i) {
    sim_node *sn = &sim->nodes[i];
    sn->index = i;
    sn->up = true;
    tr_sim_rng_init(&sn->rng, sim->cfg.seed, SIM_STREAM_NODE(i));
    tr_store *store;
    int rc = open_store(sim, i, &store);
    if (rc != 0) {
        return rc;
    }
    char name[16];
    snprintf(name, sizeof name, "n%u", i + 1);
    tr_node_opts no = {.node_id = i + 1,
                       .name = name,
                       .batch = sim->cfg.batch,
                       .mute_threshold = sim->cfg.mute_threshold,
                       .ops = &sim_ops,
                       .engine = sim,
                       .store = store};
    rc = tr__node_create(&no, &sn->node);
    if (rc != 0 && store != NULL) {
        tr_store_close(store);
    }
    sn->store = rc == 0 ? store : NULL; /* ours: closed after tr__node_destroy, as the real
                                           engine does */
    return rc;
}

static int validate(const tr_sim_config *cfg) {
    if (cfg->nodes < 1 || cfg->nodes > TR_SIM_NODES_MAX) {
        return TR_EINVAL;
    }
    if (!(cfg->loss_prob >= 0 && cfg->loss_prob <= 1) ||
        !(cfg->dup_prob >= 0 && cfg->dup_prob <= 1) ||
        !(cfg->reorder_prob >= 0 && cfg->reorder_prob <= 1)) {
        return TR_EINVAL;
    }
    if (cfg->delay_dist > TR_SIM_DELAY_FIXED) {
        return TR_EINVAL;
    }
    return 0;
}

int tr_sim_create(const tr_sim_config *cfg, tr_sim **out) {
    if (cfg == NULL || out == NULL) {
        return TR_EINVAL;
    }
    int rc = validate(cfg);
    if (rc != 0) {
        return rc;
    }
    tr_sim *sim = calloc(1, sizeof *sim);
    if (sim == NULL) {
        return TR_ENOMEM;
    }
    sim->cfg = *cfg;
    sim->n = cfg->nodes;
    sim->trace = 0xcbf29ce484222325ull; /* FNV offset basis */
    tr_sim_rng_init(&sim->rng_nemesis, cfg->seed, SIM_STREAM_NEMESIS);
    sim->links = calloc((size_t)sim->n * sim->n, sizeof *sim->links);
    rc = sim->links == NULL ? TR_ENOMEM : slab_grow(sim);
    if (rc == 0) {
        for (uint32_t f = 0; f < sim->n; f++) {
            for (uint32_t t = 0; t < sim->n; t++) {
                sim_link *l = tr_sim__link(sim, f, t);
                l->up = true;
                tr_sim_rng_init(&l->rng_delay, cfg->seed, SIM_STREAM_LINK_DELAY(f, t));
                tr_sim_rng_init(&l->rng_fault, cfg->seed, SIM_STREAM_LINK_FAULT(f, t));
            }
        }
        rc = make_store_dir(sim);
    }
    for (uint32_t i = 0; rc == 0 && i < sim->n; i++) {
        rc = create_node(sim, i);
    }
    for (uint32_t i = 0; rc == 0 && i < sim->n; i++) {
        rc = cfg->boot ? cfg->boot(sim->nodes[i].node, cfg->boot_ud) : 0;
    }
    if (rc != 0) {
        tr_sim_destroy(sim);
        return rc;
    }
    *out = sim;
    return 0;
}

void tr_sim_destroy(tr_sim *sim) {
    if (sim == NULL) {
        return;
    }
    sim->destroying = true;
    for (uint32_t i = 0; i < sim->n; i++) {
        if (sim->nodes[i].node != NULL) {
            tr__node_destroy(sim->nodes[i].node);
            sim->nodes[i].node = NULL;
        }
        if (sim->nodes[i].store != NULL) {
            tr_store_close(sim->nodes[i].store);
            sim->nodes[i].store = NULL;
        }
    }
    for (uint32_t k = 0; k < sim->heap_count; k++) {
        if (!(sim->heap[k].slot & SIM_SLOT_RUN)) {
            tr_sim__free_event(sim, &sim->slab[sim->heap[k].slot]);
        }
    }
    for (uint32_t k = 0; k < sim->theap_count; k++) {
        tr_sim__free_event(sim, &sim->slab[sim->theap[k].slot]);
    }
    for (uint32_t k = 0; k < sim->ring_count; k++) {
        uint32_t slot = sim->ring[(sim->ring_head + k) & (sim->ring_cap - 1)].slot;
        if (!(slot & SIM_SLOT_RUN)) {
            tr_sim__free_event(sim, &sim->slab[slot]);
        }
    }
    for (uint32_t i = 0; i < sim->n; i++) {
        for (uint32_t k = 0; k < sim->nodes[i].deferred_count; k++) {
            tr_sim__free_event(sim, &sim->slab[sim->nodes[i].deferred[k]]);
        }
        free(sim->nodes[i].deferred);
        free(sim->nodes[i].runq);
    }
    if (sim->links != NULL) {
        tr_sim__links_free(sim);
    }
    if (sim->store_dir[0]) {
        nftw(sim->store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (sim->store_lock_fd > 0) {
        close(sim->store_lock_fd - 1);
    }
    while (sim->buf_pool_count > 0) {
        free(sim->buf_pool[--sim->buf_pool_count]);
    }
    free(sim->heap);
    free(sim->theap);
    free(sim->ring);
    free(sim->slab);
    free(sim->free_slots);
    free(sim->links);
    free(sim->rec);
    free(sim);
}

/* ---- Queries -------------------------------------------------------------------------- */

uint32_t tr_sim_node_count(const tr_sim *sim) {
    return sim->n;
}

tr_node *tr_sim_node(tr_sim *sim, uint32_t i) {
    assert(i < sim->n);
    return sim->nodes[i].node;
}

uint64_t tr_sim_now_ns(const tr_sim *sim) {
    return sim->now;
}

uint64_t tr_sim_node_now_ns(tr_sim *sim, uint32_t i) {
    assert(i < sim->n);
    return tr_sim__local_now(sim, &sim->nodes[i]);
}

uint64_t tr_sim_seed(const tr_sim *sim) {
    return sim->cfg.seed;
}

uint64_t tr_sim_trace_hash(const tr_sim *sim) {
    return sim->trace;
}

void tr_sim_rng_stream(const tr_sim *sim, uint64_t stream, tr_sim_rng *rng) {
    tr_sim_rng_init(rng, sim->cfg.seed, stream);
}

void tr_sim_stats_get(tr_sim *sim, tr_sim_stats *out) {
    *out = sim->stats;
    out->messages_processed = 0;
    for (uint32_t i = 0; i < sim->n; i++) {
        tr_stats st;
        tr_node_stats_get(sim->nodes[i].node, &st);
        out->messages_processed += st.messages_delivered;
    }
}

/* ---- Check-determinism mode ----------------------------------------------------------- */

int tr_sim_check_determinism(const tr_sim_config *cfg, void (*scenario)(tr_sim *sim, void *ud),
                             void *ud, tr_sim_divergence *out) {
    if (cfg == NULL || scenario == NULL || out == NULL) {
        return TR_EINVAL;
    }
    memset(out, 0, sizeof *out);
    uint64_t cap = cfg->record_events_max ? cfg->record_events_max : (1u << 20);
    sim_record *rec = malloc(cap * sizeof *rec);
    if (rec == NULL) {
        return TR_ENOMEM;
    }
    tr_sim *a;
    int rc = tr_sim_create(cfg, &a);
    if (rc != 0) {
        free(rec);
        return rc;
    }
    /* Events processed during create (boot) are recorded too: record from the start. */
    a->mode = SIM_MODE_RECORD;
    a->rec = rec;
    a->rec_cap = cap;
    a->rec_count = 0;
    scenario(a, ud);
    uint64_t count_a = a->stats.events, rec_count = a->rec_count;
    out->hash_first = a->trace;
    a->rec = NULL;
    tr_sim_destroy(a);
    tr_sim *b;
    rc = tr_sim_create(cfg, &b);
    if (rc != 0) {
        free(rec);
        return rc;
    }
    b->mode = SIM_MODE_COMPARE;
    b->cmp = rec;
    b->cmp_count = rec_count;
    b->div = out;
    scenario(b, ud);
    out->hash_second = b->trace;
    uint64_t count_b = b->stats.events;
    tr_sim_destroy(b);
    free(rec);
    if (!out->diverged && (count_a != count_b || out->hash_first != out->hash_second)) {
        uint64_t common = count_a < count_b ? count_a : count_b;
        out->diverged = true;
        out->event_index = rec_count < common ? rec_count : common;
        if (rec_count < common) {
            snprintf(out->what, sizeof out->what,
                     "runs differ after the recorded window: the first %" PRIu64
                     " events agree (run 1: %" PRIu64 " events, run 2: %" PRIu64 ")",
                     rec_count, count_a, count_b);
        } else {
            snprintf(out->what, sizeof out->what,
                     "runs agree for %" PRIu64 " events, then one stops (run 1: %" PRIu64
                     " events, run 2: %" PRIu64 ")",
                     common, count_a, count_b);
        }
    }
    return 0;
}
