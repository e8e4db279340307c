/* engine.c — a simulation's life: its configuration, creating its nodes (each with its store
 * in the run's store directory) and booting them, destroying it, its queries, and how a run
 * that cannot go on fails (the seed to replay it, the store directory removed first).
 *
 * See sim/sim.h for the engine's invariants. The engine ops the nodes run on are
 * sim/engine_ops.c; processing events and the run loop sim/engine_loop.c; tr_sim_request
 * sim/request.c; the event queue sim/queue.c; the runs' store directories sim/store_dir.c;
 * the check-determinism mode sim/determinism.c.
 * Ownership: tr_sim_create returns the sim owned by the caller, tr_sim_destroy frees it with
 * its nodes, stores, events and store directory. Threading: one thread, the caller's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/assert.h"
#include "runtime/internal.h"
#include "runtime/pool.h"
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
                       .ops = tr__sim_engine_ops(),
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
