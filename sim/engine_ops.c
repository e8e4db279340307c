/* engine_ops.c — the sim engine's tr_engine_ops (runtime/engine.h): what the runtime of a
 * simulated node calls. A node's clock (virtual time, skewed by its offset and drift), its
 * PRNG stream, scheduling an actor on the node's CPU (sim/engine_loop.c runs it), timers as
 * queue events, group commit of its store, names n1..nN, the trace hash of every delivered
 * message, the TR_BUGGIFY fault points and tr_probe.
 *
 * See sim/sim.h for the invariants. A traced sim's nodes use a copy of the ops whose delivery
 * hook also writes the trace line (sim/trace.h), so an untraced run pays nothing for it.
 * Threading: the sim's one thread. */
#include <stdlib.h>

#include "runtime/assert.h"
#include "runtime/internal.h" /* tr_node.ops, for tr__sim_engine_traced */
#include "sim/queue.h"
#include "sim/sim.h"
#include "sim/trace.h"

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

static uint64_t op_now_ns(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    return tr__sim_local_now(sim, &sim->nodes[tr__sim_index(sim, node)]);
}

static uint64_t op_random(void *engine, tr_node *node) {
    tr_sim *sim = engine;
    return tr_sim_rng_next(&sim->nodes[tr__sim_index(sim, node)].rng);
}

static void op_schedule(void *engine, tr_node *node, tr_actor *actor) {
    tr_sim *sim = engine;
    tr__sim_cpu_schedule(sim, &sim->nodes[tr__sim_index(sim, node)], actor);
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
 * event is dropped untraced when it comes up (engine_loop.c's process); the timer heap is
 * compacted once withdrawn timers are most of it (request timeouts whose replies came: most
 * timers), so it stays small. A timer that was re-queued (engine_loop.c's fire_timer, clock
 * set back) lives in another slot: it fires, and the runtime ignores it, as without
 * cancellation. */
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

const tr_engine_ops *tr__sim_engine_ops(void) {
    return &sim_ops;
}

void tr__sim_engine_traced(tr_sim *sim, bool on) {
    for (uint32_t i = 0; i < sim->n; i++) {
        if (sim->nodes[i].node != NULL) {
            sim->nodes[i].node->ops = on ? &sim_ops_traced : &sim_ops;
        }
    }
}
