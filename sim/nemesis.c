/* nemesis.c — faults: partitions, crashes, pauses, clocks, delay spikes, storage faults
 * (failing, slow and torn disks: docs/simulation.md), and the failure detector that tells
 * watching nodes about them.
 *
 * Partition shapes replace the whole topology (as in Jepsen: a new partition heals the
 * old one first); tr_sim_link_cut adds one cut direction to the current topology. A fault
 * is counted in tr_sim_stats only when it changed something (a partition that cuts no link
 * that was up, or a heal with nothing to heal, is not counted). Random shapes draw from the
 * nemesis stream only.
 *
 * Failure detection: node w, having called ops->watch_node(k), hears TR_MSG_NODE_DOWN when
 * k crashes or the links between them are cut in either direction, and NODE_UP when that
 * ends, failure_detect_ns later (a perfect detector with a delay). Under
 * TR_SIM_NET_PROTOCOL there is no oracle: the verdicts are those of each node's phi-accrual
 * detector in net_proto.c (tr__sim_verdict), heard at once. */
#include <stdlib.h>

#include "runtime/assert.h"
#include "sim/sim.h"
#include "sim/trace.h"

static const char *fault_names[TR_SIM_FAULT_COUNT] = {
    "partition",   "link-cut",  "heal",       "crash",         "restart",
    "pause",       "resume",    "clock-skew", "clock-drift",   "clock-jump",
    "delay-spike", "loss",      "dup",        "reorder",       "io-error",
    "disk-full",   "slow-disk", "corrupt",    "commit-failed", "start-refused",
};

const char *tr_sim_fault_name(tr_sim_fault f) {
    return (unsigned)f < TR_SIM_FAULT_COUNT ? fault_names[f] : "unknown";
}

void tr__sim_fault(tr_sim *sim, tr_sim_fault f) {
    TR_ASSERT((unsigned)f < TR_SIM_FAULT_COUNT);
    sim->stats.faults[f]++;
    if (__builtin_expect(sim->trace_out != NULL, 0)) {
        tr__sim_trace_fault(sim, f);
    }
}

/* ---- Failure detector ----------------------------------------------------------------- */

static bool visible(tr_sim *sim, uint32_t w, uint32_t k) {
    return sim->nodes[k].up && tr__sim_link(sim, k, w)->up && tr__sim_link(sim, w, k)->up;
}

static void tell(tr_sim *sim, uint32_t w, uint32_t k, bool up) {
    sim_event ev = {.kind = SIM_EV_NODE_EVENT, .node = w, .epoch = sim->nodes[w].epoch};
    ev.u.nev.about = k;
    ev.u.nev.up = up;
    tr__sim_push(sim, sim->now + sim->cfg.failure_detect_ns, &ev);
}

void tr__sim_verdict(tr_sim *sim, uint32_t w, uint32_t k, bool up) {
    sim_node *sn = &sim->nodes[w];
    uint64_t bit = 1ull << k;
    if (!(sn->watch_mask & bit) || ((sn->seen_mask & bit) != 0) == up) {
        return;
    }
    sn->seen_mask ^= bit;
    sim_event ev = {.kind = SIM_EV_NODE_EVENT, .node = w, .epoch = sn->epoch};
    ev.u.nev.about = k;
    ev.u.nev.up = up;
    tr__sim_push(sim, sim->now, &ev);
}

void tr__sim_detect(tr_sim *sim) {
    if (sim->proto != NULL) {
        return; /* no oracle: the protocol's detectors decide */
    }
    for (uint32_t w = 0; w < sim->n; w++) {
        sim_node *sn = &sim->nodes[w];
        if (!sn->up || sn->watch_mask == 0) {
            continue;
        }
        for (uint32_t k = 0; k < sim->n; k++) {
            uint64_t bit = 1ull << k;
            if (!(sn->watch_mask & bit)) {
                continue;
            }
            bool vis = visible(sim, w, k);
            if (vis != ((sn->seen_mask & bit) != 0)) {
                sn->seen_mask ^= bit;
                tell(sim, w, k, vis);
            }
        }
    }
}

void tr__sim_watch_node(void *engine, tr_node *node, uint32_t id) {
    tr_sim *sim = engine;
    uint32_t w = tr__sim_index(sim, node);
    if (id < 1 || id > sim->n || id - 1 == w) {
        return;
    }
    uint32_t k = id - 1;
    sim_node *sn = &sim->nodes[w];
    uint64_t bit = 1ull << k;
    if (sn->watch_mask & bit) {
        return;
    }
    sn->watch_mask |= bit;
    if (sim->proto != NULL) {
        sn->seen_mask |= bit;
        if (tr__sim_proto_down(sim, w, k)) {
            sn->seen_mask &= ~bit;
            tell(sim, w, k, false);
        }
        return;
    }
    if (visible(sim, w, k)) {
        sn->seen_mask |= bit;
    } else {
        sn->seen_mask &= ~bit;
        tell(sim, w, k, false); /* already down: say so */
    }
}

/* ---- Partitions ----------------------------------------------------------------------- */

/* Applies a whole topology: up[f * n + t]. Returns the number of links that changed. */
static uint32_t set_topology(tr_sim *sim, const bool *up) {
    uint32_t changed = 0;
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            changed += tr__sim_link_set(sim, f, t, f == t || up[f * sim->n + t]);
        }
    }
    tr__sim_detect(sim);
    return changed;
}

static int apply_partition(tr_sim *sim, const bool *up) {
    if (set_topology(sim, up) > 0) {
        tr__sim_fault(sim, TR_SIM_FAULT_PARTITION);
    }
    return 0;
}

int tr_sim_partition(tr_sim *sim, uint64_t side_mask) {
    bool up[TR_SIM_NODES_MAX * TR_SIM_NODES_MAX];
    if (sim->n < 64 && (side_mask >> sim->n) != 0) {
        return TR_EINVAL;
    }
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            up[f * sim->n + t] = ((side_mask >> f) & 1) == ((side_mask >> t) & 1);
        }
    }
    return apply_partition(sim, up);
}

int tr_sim_isolate(tr_sim *sim, uint32_t i) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    return tr_sim_partition(sim, 1ull << i);
}

static void shuffle(tr_sim *sim, uint32_t *p) {
    for (uint32_t i = 0; i < sim->n; i++) {
        p[i] = i;
    }
    for (uint32_t i = sim->n; i > 1; i--) {
        uint32_t j = (uint32_t)tr_sim_rng_below(&sim->rng_nemesis, i);
        uint32_t tmp = p[i - 1];
        p[i - 1] = p[j];
        p[j] = tmp;
    }
}

int tr_sim_partition_halves(tr_sim *sim) {
    uint32_t p[TR_SIM_NODES_MAX];
    shuffle(sim, p);
    uint64_t mask = 0;
    for (uint32_t i = 0; i < sim->n / 2; i++) {
        mask |= 1ull << p[i];
    }
    return tr_sim_partition(sim, mask);
}

int tr_sim_partition_ring(tr_sim *sim) {
    uint32_t p[TR_SIM_NODES_MAX], pos[TR_SIM_NODES_MAX];
    bool up[TR_SIM_NODES_MAX * TR_SIM_NODES_MAX];
    shuffle(sim, p);
    for (uint32_t i = 0; i < sim->n; i++) {
        pos[p[i]] = i;
    }
    /* Each node sees itself and d neighbours each way: 2d + 1 >= n / 2 + 1. */
    uint32_t d = (sim->n / 2 + 1) / 2;
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            uint32_t a = pos[f], b = pos[t];
            uint32_t dist = a > b ? a - b : b - a;
            if (sim->n - dist < dist) {
                dist = sim->n - dist;
            }
            up[f * sim->n + t] = dist <= d;
        }
    }
    return apply_partition(sim, up);
}

int tr_sim_partition_bridge(tr_sim *sim) {
    uint32_t p[TR_SIM_NODES_MAX];
    bool up[TR_SIM_NODES_MAX * TR_SIM_NODES_MAX];
    shuffle(sim, p);
    /* side: 0 = A, 1 = the bridge, 2 = B. */
    uint8_t side[TR_SIM_NODES_MAX];
    uint32_t half = sim->n / 2;
    for (uint32_t i = 0; i < sim->n; i++) {
        side[p[i]] = i < half ? 0 : i == half ? 1 : 2;
    }
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            up[f * sim->n + t] =
                !((side[f] == 0 && side[t] == 2) || (side[f] == 2 && side[t] == 0));
        }
    }
    return apply_partition(sim, up);
}

int tr_sim_link_cut(tr_sim *sim, uint32_t from, uint32_t to) {
    if ((from >= sim->n && from != TR_SIM_ANY) || (to >= sim->n && to != TR_SIM_ANY)) {
        return TR_EINVAL;
    }
    uint32_t changed = 0;
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            if (f != t && (from == TR_SIM_ANY || f == from) && (to == TR_SIM_ANY || t == to)) {
                changed += tr__sim_link_set(sim, f, t, false);
            }
        }
    }
    if (changed > 0) {
        tr__sim_fault(sim, TR_SIM_FAULT_LINK_CUT);
        tr__sim_detect(sim);
    }
    return 0;
}

int tr_sim_heal(tr_sim *sim) {
    uint32_t changed = 0;
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            changed += tr__sim_link_set(sim, f, t, true);
        }
    }
    if (changed > 0) {
        tr__sim_fault(sim, TR_SIM_FAULT_HEAL);
        tr__sim_detect(sim);
    }
    return 0;
}

bool tr_sim_link_is_up(const tr_sim *sim, uint32_t from, uint32_t to) {
    TR_ASSERT(from < sim->n && to < sim->n);
    return sim->links[(size_t)from * sim->n + to].up;
}

/* ---- Crash, restart, pause ------------------------------------------------------------ */

static void drop_deferred(tr_sim *sim, sim_node *sn) {
    for (uint32_t k = 0; k < sn->deferred_count; k++) {
        uint32_t slot = sn->deferred[k];
        tr__sim_free_event(sim, &sim->slab[slot]);
        sim->free_slots[sim->free_count++] = slot;
    }
    sn->deferred_count = 0;
}

int tr_sim_crash(tr_sim *sim, uint32_t i) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    if (!sn->up) {
        return TR_ECLOSED;
    }
    tr__node_crash(sn->node);
    if (sn->store != NULL) {
        tr__store_drop_pending(sn->store);
    }
    sn->up = false;
    sn->paused = false;
    sn->epoch++; /* its pending runs, timers, commits and deliveries are void */
    sn->commit_pending = false;
    sn->cpu_pending = false;
    sn->runq_count = 0; /* those actors are gone */
    sn->busy_until = sim->now;
    sn->watch_mask = 0; /* the new incarnation watches afresh */
    sn->seen_mask = 0;
    drop_deferred(sim, sn);
    for (uint32_t k = 0; k < sim->n; k++) {
        tr__sim_link_break(sim, i, k); /* its connections reset */
        tr__sim_link_break(sim, k, i);
    }
    if (sim->proto != NULL) {
        tr__sim_proto_crash(sim, i);
    }
    tr__sim_fault(sim, TR_SIM_FAULT_CRASH);
    tr__sim_detect(sim);
    return 0;
}

int tr_sim_restart(tr_sim *sim, uint32_t i) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    if (sn->up) {
        return TR_EBUSY;
    }
    int rc = tr__sim_store_restart(sim, sn);
    if (rc != 0) {
        return rc;
    }
    sn->up = true;
    /* Counters of the node survive the crash; runs charge only what they process now. */
    sn->processed_last = sn->delivered;
    tr__sim_fault(sim, TR_SIM_FAULT_RESTART);
    tr__sim_detect(sim);
    if (sim->proto != NULL) {
        tr__sim_proto_restart(sim, i);
    }
    if (sim->cfg.boot == NULL) {
        return 0;
    }
    tr__sim_context saved;
    tr__sim_context_enter(sim, &saved);
    rc = sim->cfg.boot(sn->node, sim->cfg.boot_ud);
    tr__sim_context_leave(&saved);
    return rc;
}

bool tr_sim_node_is_up(const tr_sim *sim, uint32_t i) {
    TR_ASSERT(i < sim->n);
    return sim->nodes[i].up;
}

int tr_sim_pause(tr_sim *sim, uint32_t i) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    if (!sn->up) {
        return TR_ECLOSED;
    }
    if (sn->paused) {
        return TR_EBUSY;
    }
    sn->paused = true;
    tr__sim_fault(sim, TR_SIM_FAULT_PAUSE);
    return 0;
}

int tr_sim_resume(tr_sim *sim, uint32_t i) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    if (!sn->up) {
        return TR_ECLOSED;
    }
    if (!sn->paused) {
        return TR_EBUSY;
    }
    sn->paused = false;
    /* What waited is processed now, in the order it arrived. */
    for (uint32_t k = 0; k < sn->deferred_count; k++) {
        uint32_t slot = sn->deferred[k];
        sim_event ev = sim->slab[slot];
        sim->free_slots[sim->free_count++] = slot;
        uint64_t at = sim->now;
        if (ev.kind == SIM_EV_TIMER) {
            at = tr__sim_local_to_global(sim, sn, ev.u.timer.due_local);
        }
        tr__sim_push(sim, at, &ev);
    }
    sn->deferred_count = 0;
    if (sn->busy_until < sim->now) {
        sn->busy_until = sim->now;
    }
    tr__sim_fault(sim, TR_SIM_FAULT_RESUME);
    return 0;
}

/* ---- Clocks and delays ----------------------------------------------------------------- */

static int clock_change(tr_sim *sim, uint32_t i, int64_t offset, tr_sim_fault f) {
    sim_node *sn = &sim->nodes[i];
    (void)tr__sim_local_now(sim, sn); /* settle clock_last under the old setting */
    sn->clock_offset = offset;
    tr__sim_retime_timers(sim, i);
    tr__sim_fault(sim, f);
    return 0;
}

int tr_sim_clock_skew(tr_sim *sim, uint32_t i, int64_t offset_ns) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    /* "Offset" is relative to true time now: fold the drift accumulated so far away. */
    sn->drift_base = sim->now;
    return clock_change(sim, i, offset_ns, TR_SIM_FAULT_CLOCK_SKEW);
}

int tr_sim_clock_jump(tr_sim *sim, uint32_t i, int64_t delta_ns) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    return clock_change(sim, i, sn->clock_offset + delta_ns, TR_SIM_FAULT_CLOCK_JUMP);
}

int tr_sim_clock_drift(tr_sim *sim, uint32_t i, int32_t ppm) {
    if (i >= sim->n || ppm < -500000 || ppm > 500000) {
        return TR_EINVAL;
    }
    sim_node *sn = &sim->nodes[i];
    (void)tr__sim_local_now(sim, sn);
    /* Fold the drift so far into the offset, so the clock is continuous at the change. */
    __int128 so_far = (__int128)sn->drift_ppm * (__int128)(sim->now - sn->drift_base) / 1000000;
    sn->clock_offset += (int64_t)so_far;
    sn->drift_base = sim->now;
    sn->drift_ppm = ppm;
    tr__sim_retime_timers(sim, i);
    tr__sim_fault(sim, TR_SIM_FAULT_CLOCK_DRIFT);
    return 0;
}

int tr_sim_delay_spike(tr_sim *sim, uint32_t from, uint32_t to, uint64_t extra_ns,
                       uint64_t duration_ns) {
    if ((from >= sim->n && from != TR_SIM_ANY) || (to >= sim->n && to != TR_SIM_ANY)) {
        return TR_EINVAL;
    }
    for (uint32_t f = 0; f < sim->n; f++) {
        for (uint32_t t = 0; t < sim->n; t++) {
            if ((from == TR_SIM_ANY || f == from) && (to == TR_SIM_ANY || t == to)) {
                sim_link *l = tr__sim_link(sim, f, t);
                l->spike_extra = extra_ns;
                l->spike_until = sim->now + duration_ns;
            }
        }
    }
    tr__sim_fault(sim, TR_SIM_FAULT_DELAY_SPIKE);
    return 0;
}

/* ---- Storage faults --------------------------------------------------------------------- */

static int disk_node(tr_sim *sim, uint32_t i, sim_node **out) {
    if (i >= sim->n) {
        return TR_EINVAL;
    }
    *out = &sim->nodes[i];
    return (*out)->store != NULL ? 0 : TR_ENOTSUP;
}

int tr_sim_disk_fail(tr_sim *sim, uint32_t i, int err) {
    sim_node *sn;
    int rc = disk_node(sim, i, &sn);
    if (rc != 0 || (err != TR_EIO && err != TR_ENOSPC)) {
        return rc != 0 ? rc : TR_EINVAL;
    }
    if (sn->disk_err == err) {
        return TR_EBUSY;
    }
    sn->disk_err = err;
    tr__sim_fault(sim, err == TR_EIO ? TR_SIM_FAULT_IO_ERROR : TR_SIM_FAULT_DISK_FULL);
    return 0;
}

int tr_sim_disk_repair(tr_sim *sim, uint32_t i) {
    sim_node *sn;
    int rc = disk_node(sim, i, &sn);
    if (rc == 0) {
        sn->disk_err = 0;
    }
    return rc;
}

int tr_sim_disk_slow(tr_sim *sim, uint32_t i, uint64_t extra_ns) {
    sim_node *sn;
    int rc = disk_node(sim, i, &sn);
    if (rc != 0) {
        return rc;
    }
    if (extra_ns > 0 && sn->disk_slow_ns == 0) {
        tr__sim_fault(sim, TR_SIM_FAULT_SLOW_DISK);
    }
    sn->disk_slow_ns = extra_ns; /* commits scheduled from now on (op_store_ready) */
    return 0;
}

int tr_sim_disk_corrupt(tr_sim *sim, uint32_t i) {
    sim_node *sn;
    int rc = disk_node(sim, i, &sn);
    if (rc != 0) {
        return rc;
    }
    if (sn->disk_torn || sn->store_broken != 0) {
        return TR_EBUSY;
    }
    if (sn->up) {
        tr_sim_crash(sim, i); /* the write torn as it went down */
    }
    sn->disk_torn = true;
    tr__sim_fault(sim, TR_SIM_FAULT_CORRUPT);
    return 0;
}

int tr_sim_store_failure(const tr_sim *sim, uint32_t i) {
    TR_ASSERT(i < sim->n);
    const sim_node *sn = &sim->nodes[i];
    if (sn->store == NULL) {
        return 0;
    }
    return sn->store_broken != 0 ? sn->store_broken : tr__store_failure(sn->store);
}

/* A restart opens a store that failed, or whose file was torn, again through the store's
 * own checks, as a real node's restart does; a store that works needs nothing (it was
 * never closed, and a crash already dropped what was not committed). */
int tr__sim_store_restart(tr_sim *sim, sim_node *sn) {
    if (sn->store == NULL || (!sn->disk_torn && sn->store_err == 0 && sn->store_broken == 0)) {
        return 0;
    }
    int rc = tr__store_reopen(sn->store, sn->disk_torn);
    sn->disk_torn = false;
    sn->store_err = 0;
    sn->store_broken = rc;
    if (rc != 0) {
        tr__sim_fault(sim, TR_SIM_FAULT_START_REFUSED);
    }
    return rc;
}
