/* engine_loop.c — the sim engine's run loop: each node's CPU (its run queue of actors),
 * processing one event, and the public calls that run the simulation (tr_sim_step,
 * tr_sim_run_for, tr_sim_run_until, tr_sim_at).
 *
 * See sim/sim.h for the invariants. The loop pops the earliest (time, seq) event, checks
 * that it still belongs to the current incarnation of its node, defers it if the node is
 * paused, and otherwise runs it; every processed event is folded into the trace hash.
 * A RUN event charges its node's single simulated CPU msg_cost_ns per message processed:
 * while that CPU is busy, further runs on the node wait (messages sent during a run carry
 * the run's start time). The event queue is sim/queue.c.
 * Threading: the sim's one thread; the public calls install its TR_ASSERT context while they
 * run actor code. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/assert.h"
#include "runtime/internal.h"
#include "sim/determinism.h"
#include "sim/queue.h"
#include "sim/sim.h"

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

void tr__sim_cpu_schedule(tr_sim *sim, sim_node *sn, tr_actor *actor) {
    runq_push(sim, sn, actor);
    cpu_wake(sim, sn);
}

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
    if (ev.cancelled) { /* a withdrawn timer: never an event (engine_ops.c) */
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
