/* engine.c — the sim engine: tr_engine_ops over an event queue in virtual time.
 *
 * See sim/sim.h for the invariants. The loop pops the earliest (time, seq) event, checks
 * that it still belongs to the current incarnation of its node, defers it if the node is
 * paused, and otherwise runs it; every processed event is folded into the trace hash.
 * A RUN event charges its node's single simulated CPU msg_cost_ns per message processed:
 * while that CPU is busy, further runs on the node wait (messages sent during a run carry
 * the run's start time).
 *
 * Here: the engine ops, processing one event, the run loop, node lifecycle (create,
 * destroy), queries. tr_sim_request is sim/request.c. The event queue is sim/queue.c, the runs' store directories
 * sim/store_dir.c, the check-determinism mode sim/determinism.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/assert.h"
#include "runtime/internal.h" /* tr_node.ops, for tr__sim_engine_traced */
#include "runtime/pool.h"
#include "sim/determinism.h"
#include "sim/queue.h"
#include "sim/sim.h"
#include "sim/spans.h"
#include "sim/store_dir.h"
#include "sim/trace.h"

void tr_sim_config_init(tr_sim_config *cfg) {
    TR_ASSERT(cfg != NULL);
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
    cfg->net = TR_SIM_NET_PROTOCOL; /* nodes learn of each other as deployed ones do */
}

/* A run that cannot go on: its stores' temporary directory (in /dev/shm, i.e. memory) goes
 * first, or every aborted run would leave one behind; the seed replays the run. */
_Noreturn void tr__sim_die(const tr_sim *sim) {
    tr__sim_store_dir_remove(sim->store_dir);
    abort();
}

_Noreturn void tr__sim_assert_fail(const tr_sim *sim, const char *expr, const char *file,
                                   int line) {
    char node[24] = "";
    if (sim->event_node != 0) {
        snprintf(node, sizeof node, ", node n%u", sim->event_node);
    }
    fprintf(stderr,
            "troupe sim: invariant failed: %s (%s:%d) at event #%" PRIu64 ", t=%" PRIu64
            " ns%s, seed %" PRIu64 "\n",
            expr, file, line, sim->stats.events, sim->now, node, sim->cfg.seed);
    tr__sim_die(sim);
}

/* ---- The TR_ASSERT context of a running simulation ----------------------------------- */

/* What a TR_ASSERT failing on the simulation's thread prints after its expression (see
 * runtime/assert.h): enough to replay the run to that point. */
static void assert_context(void *arg, char *buf, size_t cap) {
    const tr_sim *sim = arg;
    int n = snprintf(buf, cap, "troupe sim: seed %" PRIu64 ", event #%" PRIu64 ", t=%" PRIu64 " ns",
                     sim->cfg.seed, sim->stats.events, sim->now);
    if (sim->event_node != 0 && n > 0 && (size_t)n < cap) {
        snprintf(buf + n, cap - (size_t)n, ", node n%u", sim->event_node);
    }
}

void tr__sim_context_enter(tr_sim *sim, tr__sim_context *saved) {
    tr__assert_context_set(assert_context, sim, &saved->fn, &saved->arg);
}

void tr__sim_context_leave(const tr__sim_context *saved) {
    tr__assert_context_set(saved->fn, saved->arg, NULL, NULL);
}

/* ---- Nodes, clocks ------------------------------------------------------------------- */

uint32_t tr__sim_index(tr_sim *sim, tr_node *node) {
    uint32_t id = tr_node_id(node);
    TR_DEBUG_ASSERT(id >= 1 && id <= sim->n);
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

uint64_t tr__sim_local_now(tr_sim *sim, sim_node *sn) {
    uint64_t raw = (uint64_t)clock_raw(sn, sim->now);
    if (raw > sn->clock_last) {
        sn->clock_last = raw;
    }
    return sn->clock_last;
}

/* The earliest true time at which node sn's local clock reads due_local (now if it does). */
uint64_t tr__sim_local_to_global(tr_sim *sim, sim_node *sn, uint64_t due_local) {
    if (tr__sim_local_now(sim, sn) >= due_local) {
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

/* ---- Engine ops ---------------------------------------------------------------------- */

static uint64_t op_now_ns(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    return tr__sim_local_now(sim, &sim->nodes[tr__sim_index(sim, node)]);
}

static uint64_t op_random(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    return tr_sim_rng_next(&sim->nodes[tr__sim_index(sim, node)].rng);
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
    tr__sim_enqueue(sim, (sim_heap_entry){at, sim->seq++, SIM_SLOT_RUN | sn->index, sn->epoch});
}

static void op_schedule(void *engine, tr_node *node, tr_actor *actor) {
    tr_sim *sim = engine;
    sim_node *sn = &sim->nodes[tr__sim_index(sim, node)];
    runq_push(sim, sn, actor);
    cpu_wake(sim, sn);
}

static uint64_t op_timer_arm(void *engine, tr_node *node, tr_addr owner, uint64_t timer_id,
                             uint64_t due_ns) {
    tr_sim *sim = engine;
    uint32_t i = tr__sim_index(sim, node);
    sim_node *sn = &sim->nodes[i];
    sim_event ev = {.kind = SIM_EV_TIMER, .node = i, .epoch = sn->epoch};
    ev.u.timer.owner = owner;
    ev.u.timer.id = timer_id;
    ev.u.timer.due_local = due_ns;
    return (uint64_t)tr__sim_push(sim, tr__sim_local_to_global(sim, sn, due_ns), &ev) + 1;
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
    uint32_t i = tr__sim_index(sim, node);
    if (handle == 0 || handle > sim->slab_cap) {
        return;
    }
    sim_event *ev = &sim->slab[handle - 1];
    if (ev->kind == SIM_EV_TIMER && ev->node == i && ev->epoch == sim->nodes[i].epoch &&
        ev->u.timer.owner.actor == owner.actor && ev->u.timer.id == timer_id) {
        ev->cancelled = true;
        sim->stats.timers_cancelled++;
        if (ev->in_timer_heap && ++sim->timer_heap_cancelled > 32 &&
            sim->timer_heap_cancelled > sim->timer_heap_count / 2) {
            tr__sim_compact_timers(sim);
        }
    }
}

static void op_store_ready(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    uint32_t i = tr__sim_index(sim, node);
    sim_node *sn = &sim->nodes[i];
    if (sn->commit_pending) {
        return; /* group commit: the scheduled commit takes this batch too */
    }
    sn->commit_pending = true;
    sim_event ev = {.kind = SIM_EV_COMMIT, .node = i, .epoch = sn->epoch};
    tr__sim_push(sim, sim->now + sim->cfg.commit_latency_ns + sn->disk_slow_ns, &ev);
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
    uint32_t i = tr__sim_index(sim, node);
    sim->nodes[i].delivered++;
    if (msg->flags_ & TR__F_ENGINE) {
        return; /* came off a link: tr__sim_deliver hashed its envelope */
    }
    uint64_t h = tr__sim_mix(sim->trace, ((uint64_t)i << 32) | msg->type);
    h = tr__sim_mix(h, ((uint64_t)msg->from.node << 32) | msg->to.node);
    h = tr__sim_mix(tr__sim_mix(h, msg->from.actor), msg->to.actor);
    h = tr__sim_mix(h, msg->corr);
    sim->trace = tr__sim_hash_bytes(h, msg->body, msg->body_len);
    sim->stats.messages_traced++;
}

/* ---- Fault points (TR_BUGGIFY) --------------------------------------------------------- */

/* splitmix64's finaliser: a well-mixed 64-bit function of x. */
static uint64_t buggify_mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A site is enabled for the whole run or not (one in two, from the seed and the site); an
 * enabled one fires with probability 1/4 per evaluation, from the seed, the site, the node and
 * the evaluation's rank in the run (the events run in one order, so the rank is
 * deterministic). No PRNG stream is drawn from: with buggify on or off every other draw of
 * the run is the same. */
static bool op_buggify(void *engine, tr_node *node, uint64_t site) {
    tr_sim *sim = engine;
    if (!sim->cfg.buggify) {
        return false; /* another sim of the process has it on */
    }
    uint64_t rank = sim->stats.buggify_checked++;
    uint64_t run_site = buggify_mix(sim->cfg.seed ^ buggify_mix(site ^ 0x6275676769667921ull));
    if ((run_site & 1) == 0) {
        return false;
    }
    uint64_t draw = buggify_mix(run_site ^ buggify_mix(rank ^ ((uint64_t)tr_node_id(node) << 48)));
    if ((draw & 3) != 0) {
        return false;
    }
    sim->stats.buggify_fired++;
    return true;
}

/* ---- Probes ------------------------------------------------------------------------------ */

/* tr_probe: kept with the true time and the node's index. The array doubles up to
 * TR_SIM_PROBES_MAX; a probe beyond, or one that finds no memory, is only counted. */
static void op_probe(void *engine, tr_node *node, uint32_t kind, uint64_t a, uint64_t b,
                     uint64_t c) {
    tr_sim *sim = engine;
    if (sim->probe_count == sim->probe_cap) {
        size_t cap = sim->probe_cap ? sim->probe_cap * 2 : 1024;
        cap = cap < TR_SIM_PROBES_MAX ? cap : TR_SIM_PROBES_MAX;
        tr_sim_probe *grown =
            cap > sim->probe_cap ? realloc(sim->probes, cap * sizeof *grown) : NULL;
        if (grown == NULL) {
            sim->probes_dropped++;
            return;
        }
        sim->probes = grown;
        sim->probe_cap = cap;
    }
    sim->probes[sim->probe_count++] = (tr_sim_probe){
        .t_ns = sim->now, .node = tr_node_id(node) - 1, .kind = kind, .a = a, .b = b, .c = c};
}

size_t tr_sim_probes(const tr_sim *sim, const tr_sim_probe **out, uint64_t *dropped) {
    TR_ASSERT(sim != NULL && out != NULL);
    *out = sim->probes;
    if (dropped != NULL) {
        *dropped = sim->probes_dropped;
    }
    return sim->probe_count;
}

/* The engine's ops; traced and untraced differ in the delivery hook only. */
#define SIM_OPS(delivered_op)            \
    {.now_ns = op_now_ns,                \
     .random = op_random,                \
     .schedule = op_schedule,            \
     .timer_arm = op_timer_arm,          \
     .timer_cancel = op_timer_cancel,    \
     .send_remote = tr__sim_send_remote, \
     .store_ready = op_store_ready,      \
     .node_by_name = op_node_by_name,    \
     .watch_node = tr__sim_watch_node,   \
     .delivered = (delivered_op),        \
     .buggify = op_buggify,              \
     .probe = op_probe}

static const tr_engine_ops sim_ops = SIM_OPS(op_delivered);

/* --trace (sim/trace.h): the same delivery, then its trace line. The nodes of a traced sim use
 * these ops, so a run without a trace runs op_delivered exactly as before: no cost at all. */
static void op_delivered_traced(void *engine, tr_node *node, const tr_msg *msg) {
    op_delivered(engine, node, msg);
    tr_sim *sim = engine;
    tr__sim_trace_message(sim, tr__sim_index(sim, node), msg); /* reads, changes nothing */
}

static const tr_engine_ops sim_ops_traced = SIM_OPS(op_delivered_traced);

void tr__sim_engine_traced(tr_sim *sim, bool on) {
    for (uint32_t i = 0; i < sim->n; i++) {
        if (sim->nodes[i].node != NULL) {
            sim->nodes[i].node->ops = on ? &sim_ops_traced : &sim_ops;
        }
    }
}

/* ---- Processing events --------------------------------------------------------------- */

/* Messages processed by the node's actors so far. The runtime calls ops->delivered once per
 * message it counts in messages_delivered; debug builds check that the two agree. */
static uint64_t node_processed(sim_node *sn) {
#ifndef NDEBUG
    tr_stats st;
    tr_node_stats_get(sn->node, &st);
    TR_ASSERT(st.messages_delivered == sn->delivered);
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
    if (tr__sim_local_now(sim, sn) < ev->u.timer.due_local) {
        /* The clock was set back or runs slow: not yet due in local time. */
        tr__sim_push(sim, tr__sim_local_to_global(sim, sn, ev->u.timer.due_local), ev);
        r->a = UINT64_MAX;
        return;
    }
    r->a = ev->u.timer.owner.actor;
    r->b = ev->u.timer.id;
    sim->stats.timers_fired++;
    tr__actor_timer_fire(sn->node, ev->u.timer.owner, ev->u.timer.id);
}

/* A commit on a failing disk (tr_sim_disk_fail) fails as an LMDB write does on a real node:
 * the store tells the batch's waiters and refuses later writes, and the actors learn it
 * through the runtime; the status goes into the trace. Any other failure (writing held-back
 * batches to a full tmpfs) loses writes already reported durable: the run is void. */
/* A commit of node sn failed with rc: an injected storage fault (disk_err, or a store already
 * broken by one) is the service's to cope with; anything else voids the run. Out of line:
 * the commit path of every other event stays short. */
static __attribute__((noinline, cold)) void commit_failed(tr_sim *sim, sim_node *sn, int rc) {
    if (rc != sn->disk_err && rc != sn->store_err) {
        fprintf(stderr,
                "troupe sim: the store of n%u failed (%s); the run is void (seed %" PRIu64 ")\n",
                sn->index + 1, tr_strerror(rc), sim->cfg.seed);
        tr__sim_die(sim);
    }
    sn->store_err = rc;
    tr__sim_fault(sim, TR_SIM_FAULT_COMMIT_FAILED);
}

static void commit(tr_sim *sim, sim_node *sn, sim_record *r) {
    sn->commit_pending = false;
    tr_store *st = sn->store;
    uint64_t writes = 0;
    int rc = 0;
    if (st != NULL) {
        rc = sn->disk_err != 0 ? tr__store_commit_fail(st, sn->disk_err, &writes)
                               : tr__store_commit(st, &writes);
        if (rc != 0) {
            commit_failed(sim, sn, rc);
        }
    }
    r->a = writes;
    r->b = (uint64_t)(uint32_t)-rc; /* 0 for a commit that worked */
    sim->stats.store_commits++;
}

/* Node sn is paused: keep the event (still in `slot`) until tr_sim_resume. A delivery
 * that is still on its link is lost if the link broke; otherwise it has arrived. */
static void defer(tr_sim *sim, sim_node *sn, uint32_t slot, sim_event *ev) {
    if (ev->kind == SIM_EV_DELIVER && !ev->arrived) {
        sim_link *l = tr__sim_link(sim, ev->u.msg.from, ev->node);
        if (l->epoch != ev->u.msg.link_epoch) {
            tr__sim_release_slot(sim, slot);
            sim->stats.dropped_cut++;
            tr__sim_free_event(sim, ev);
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
            tr__sim_die(sim);
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
    sim->event_node = node + 1;
    sim->trace = tr__sim_mix(tr__sim_mix(sim->trace, sim->now), ((uint64_t)kind << 32) | node);
}

static inline void event_end(tr_sim *sim, sim_record *r) {
    sim->trace = tr__sim_mix(tr__sim_mix(sim->trace, r->a), r->b);
    if (__builtin_expect(sim->mode != SIM_MODE_PLAIN, 0)) {
        tr__sim_record(sim, r); /* check-determinism only */
    }
    if (__builtin_expect(sim->cfg.check_nodes, 0)) {
        /* A quiet point: the event's activation is over and nothing runs concurrently. */
        SIM_ASSERT(sim, tr__node_check(sim->nodes[r->node].node));
    }
}

/* Runs the event in slot `slot` (already popped from the heap). */
static void process(tr_sim *sim, uint32_t slot) {
    sim_event ev = sim->slab[slot];
    sim_record r = {.time = sim->now, .kind = ev.kind, .node = ev.node};
    if (ev.kind == SIM_EV_CALL) {
        tr__sim_release_slot(sim, slot);
        sim->stats.events++;
        sim->event_node = 0;
        sim->trace = tr__sim_mix(tr__sim_mix(sim->trace, sim->now), SIM_EV_CALL);
        if (sim->mode != SIM_MODE_PLAIN) {
            tr__sim_record(sim, &r); /* check-determinism only */
        }
        ev.u.call.fn(sim, ev.u.call.ud);
        return;
    }
    sim_node *sn = &sim->nodes[ev.node];
    if (ev.cancelled) { /* a withdrawn timer: never an event (see op_timer_cancel) */
        tr__sim_release_slot(sim, slot);
        return;
    }
    if (ev.epoch != sn->epoch || !sn->up) {
        tr__sim_release_slot(sim, slot);
        if (ev.kind == SIM_EV_DELIVER) {
            sim->stats.dropped_down++;
        }
        tr__sim_free_event(sim, &ev);
        return; /* a previous incarnation's event */
    }
    if (sn->paused) {
        defer(sim, sn, slot, &ev);
        return;
    }
    tr__sim_release_slot(sim, slot);
    event_begin(sim, ev.kind, ev.node);
    switch (ev.kind) {
    case SIM_EV_RUN: run_actor(sim, sn, &r); break;
    case SIM_EV_TIMER: fire_timer(sim, sn, &ev, &r); break;
    case SIM_EV_DELIVER: tr__sim_deliver(sim, &ev, &r); break;
    case SIM_EV_COMMIT: commit(sim, sn, &r); break;
    case SIM_EV_NODE_EVENT:
        r.a = ev.u.nev.about;
        r.b = ev.u.nev.up;
        tr__node_event(sn->node, ev.u.nev.about + 1, ev.u.nev.up);
        break;
    case SIM_EV_PROTO: tr__sim_proto_tick(sim, ev.node, &r); break;
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
        defer(sim, sn, tr__sim_alloc_event(sim, &ev), &ev);
        return;
    }
    sim_record r = {.time = sim->now, .kind = SIM_EV_RUN, .node = i};
    event_begin(sim, SIM_EV_RUN, i);
    run_actor(sim, sn, &r);
    event_end(sim, &r);
}

static bool step_until(tr_sim *sim, uint64_t limit) {
    sim_heap_entry top;
    bool advanced; /* the link of a popped delivery already moved on */
    if (!tr__sim_queue_pop(sim, limit, &top, &advanced)) {
        return false;
    }
    if (top.slot & SIM_SLOT_RUN) {
        process_run(sim, &top);
        return true;
    }
    sim_event *ev = &sim->slab[top.slot];
    if (ev->kind == SIM_EV_DELIVER && ev->via_link && !advanced) {
        tr__sim_link_advance(sim, ev->u.msg.from, ev->node);
    }
    process(sim, top.slot);
    return true;
}

/* The public run calls install the simulation's TR_ASSERT context for as long as they run
 * actor code, and put back what the thread had before (a test's own, another sim's). */
bool tr_sim_step(tr_sim *sim) {
    tr__sim_context saved;
    tr__sim_context_enter(sim, &saved);
    bool more = step_until(sim, UINT64_MAX);
    tr__sim_context_leave(&saved);
    return more;
}

void tr_sim_run_for(tr_sim *sim, uint64_t ns) {
    tr__sim_context saved;
    tr__sim_context_enter(sim, &saved);
    uint64_t limit = sim->now + ns;
    while (step_until(sim, limit)) {
    }
    sim->now = limit;
    tr__sim_context_leave(&saved);
}

int tr_sim_run_until(tr_sim *sim, bool (*pred)(tr_sim *sim, void *ud), void *ud,
                     uint64_t deadline_ns) {
    TR_ASSERT(pred != NULL);
    tr__sim_context saved;
    tr__sim_context_enter(sim, &saved);
    int rc = TR_ETIMEDOUT;
    for (;;) {
        if (pred(sim, ud)) {
            rc = 0;
            break;
        }
        if (!step_until(sim, deadline_ns)) {
            if (deadline_ns > sim->now) {
                sim->now = deadline_ns;
            }
            rc = pred(sim, ud) ? 0 : TR_ETIMEDOUT;
            break;
        }
    }
    tr__sim_context_leave(&saved);
    return rc;
}

int tr_sim_at(tr_sim *sim, uint64_t at_ns, void (*fn)(tr_sim *sim, void *ud), void *ud) {
    if (sim == NULL || fn == NULL) {
        return TR_EINVAL;
    }
    sim_event ev = {.kind = SIM_EV_CALL};
    ev.u.call.fn = fn;
    ev.u.call.ud = ud;
    tr__sim_push(sim, at_ns, &ev);
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
    return tr__store_open(&so, out);
}
static int make_store_dir(tr_sim *sim) {
    if (!sim->cfg.store) {
        return 0;
    }
    const char *base = sim->cfg.store_base ? sim->cfg.store_base : "/dev/shm";
    return tr__sim_store_dir_create(base, sim->store_dir, sizeof sim->store_dir,
                                    &sim->store_lock_fd);
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
        tr__store_close(store);
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
    if (cfg->delay_dist > TR_SIM_DELAY_FIXED || cfg->net > TR_SIM_NET_PROTOCOL) {
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
    if (cfg->buggify) { /* the macro calls in from now on; tr_sim_destroy undoes it */
        __atomic_fetch_add(&tr_buggify_sims, 1, __ATOMIC_RELAXED);
    }
    sim->n = cfg->nodes;
    sim->trace = 0xcbf29ce484222325ull; /* FNV offset basis */
    tr_sim_rng_init(&sim->rng_nemesis, cfg->seed, SIM_STREAM_NEMESIS);
    sim->links = calloc((size_t)sim->n * sim->n, sizeof *sim->links);
    rc = sim->links == NULL ? TR_ENOMEM : tr__sim_queue_grow(sim);
    if (rc == 0) {
        for (uint32_t f = 0; f < sim->n; f++) {
            for (uint32_t t = 0; t < sim->n; t++) {
                sim_link *l = tr__sim_link(sim, f, t);
                l->up = true;
                tr_sim_rng_init(&l->rng_delay, cfg->seed, SIM_STREAM_LINK_DELAY(f, t));
                tr_sim_rng_init(&l->rng_fault, cfg->seed, SIM_STREAM_LINK_FAULT(f, t));
            }
        }
        rc = make_store_dir(sim);
    }
    if (rc == 0 && cfg->net == TR_SIM_NET_PROTOCOL) {
        rc = tr__sim_proto_create(sim);
    }
    for (uint32_t i = 0; rc == 0 && i < sim->n; i++) {
        rc = create_node(sim, i);
    }
    tr__sim_context saved;
    tr__sim_context_enter(sim, &saved);
    for (uint32_t i = 0; rc == 0 && i < sim->n; i++) {
        rc = cfg->boot ? cfg->boot(sim->nodes[i].node, cfg->boot_ud) : 0;
    }
    tr__sim_context_leave(&saved);
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
    tr__sim_trace_close(sim); /* what the teardown delivers is not the run's */
    tr__sim_spans_close(sim);
    if (sim->cfg.buggify) {
        __atomic_fetch_sub(&tr_buggify_sims, 1, __ATOMIC_RELAXED);
    }
    for (uint32_t i = 0; i < sim->n; i++) {
        if (sim->nodes[i].node != NULL) {
            tr__node_destroy(sim->nodes[i].node);
            sim->nodes[i].node = NULL;
        }
        if (sim->nodes[i].store != NULL) {
            tr__store_close(sim->nodes[i].store);
            sim->nodes[i].store = NULL;
        }
    }
    tr__sim_queue_free_events(sim);
    tr__sim_proto_destroy(sim);
    for (uint32_t i = 0; i < sim->n; i++) {
        for (uint32_t k = 0; k < sim->nodes[i].deferred_count; k++) {
            tr__sim_free_event(sim, &sim->slab[sim->nodes[i].deferred[k]]);
        }
        free(sim->nodes[i].deferred);
        free(sim->nodes[i].runq);
    }
    if (sim->links != NULL) {
        tr__sim_links_free(sim);
    }
    tr__sim_store_dir_remove(sim->store_dir);
    if (sim->store_lock_fd > 0) {
        close(sim->store_lock_fd - 1);
    }
    tr__sim_queue_deinit(sim);
    free(sim->links);
    free(sim->rec);
    free(sim->probes);
    free(sim);
}

/* ---- Queries -------------------------------------------------------------------------- */

uint32_t tr_sim_node_count(const tr_sim *sim) {
    return sim->n;
}

tr_node *tr_sim_node(tr_sim *sim, uint32_t i) {
    TR_ASSERT(i < sim->n);
    return sim->nodes[i].node;
}

uint64_t tr_sim_now_ns(const tr_sim *sim) {
    return sim->now;
}

uint64_t tr_sim_node_now_ns(tr_sim *sim, uint32_t i) {
    TR_ASSERT(i < sim->n);
    return tr__sim_local_now(sim, &sim->nodes[i]);
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
