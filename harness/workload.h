/*
 * workload.h — simulated clients of a replicated register, recording a Jepsen history.
 *
 * What: a workload drives one register ("cp" or "ap", see actors/registers.h) on every node
 * of a tr_sim. Each node hosts `clients_per_node` client actors that talk to that node's
 * replica (so a client is on the same side of a partition as the replica it uses, which is
 * what availability per side measures). A client loops: think (random, mean set by the
 * rate), invoke a random read or write on a random key (writes carry workload-unique
 * values), wait for the reply or its timeout, record the completion:
 *   reply ok                        -> ok (reads: the value read)
 *   reply error, not indeterminate  -> fail (the op certainly did not happen)
 *   reply error, indeterminate      -> info
 *   timeout / node crashed          -> info; the process id is retired and the client goes
 *                                      on under a fresh one (history invariant 2)
 * Times in the history are the simulator's true virtual time (not a node's skewed clock);
 * an op's `node` is the index (0-based, node id - 1) of the node its client talks to.
 *
 * Convergence probes (for AP): tr__workload_probe_start spawns a probe actor per node that
 * reads every key from its local replica every probe_ms; tr__workload_converged tells
 * whether the latest complete snapshots of every node agree, and when that first happened;
 * tr__workload_replica_states hands those snapshots to tr__checkers_convergence
 * (harness/check_convergence.h), which also looks for lost and phantom writes.
 *
 * Determinism: clients draw from tr_random (the node's seeded stream) and the sim's clock;
 * the workload keeps pointers only as handles, never as data.
 * Ownership: tr__workload_create returns an owned workload (tr__workload_destroy); it owns
 * its history. The sim is borrowed and must outlive every run of it; destroy the workload
 * after the sim (actors hold pointers to it).
 * Limits: at most TR_WORKLOAD_CLIENTS_MAX clients and TR_WORKLOAD_KEYS_MAX keys; the
 * history is bounded by max_ops (when full, clients stop invoking).
 */
#ifndef TR_HARNESS_WORKLOAD_H
#define TR_HARNESS_WORKLOAD_H

#include "harness/check_convergence.h"
#include "sim/history.h"
#include "troupe.h"

#define TR_WORKLOAD_CLIENTS_MAX 256
#define TR_WORKLOAD_KEYS_MAX 64

typedef struct tr__reg_workload tr__reg_workload;

typedef struct tr_workload_opts {
    tr_sim *sim;               /* borrowed */
    const char *target;        /* "cp" or "ap": the replica's registered name (copied) */
    uint32_t clients_per_node; /* 0 = 2 */
    uint32_t keys;             /* 0 = 4 */
    double rate;               /* ops/s over all clients; 0 = 100 */
    uint32_t op_timeout_ms;    /* 0 = 1000 */
    uint32_t read_percent;     /* 0..100; default (when > 100) 50; 0 means writes only */
    size_t max_ops;            /* history bound; 0 = 1M */
    uint32_t probe_ms;         /* convergence probe period; 0 = 5 */
} tr_workload_opts;

/* Fills defaults. */
void tr__workload_opts_init(tr_workload_opts *o, tr_sim *sim, const char *target);
/* TR_EINVAL on bad options, TR_ENOMEM. */
int tr__workload_create(const tr_workload_opts *opts, tr__reg_workload **out);
void tr__workload_destroy(tr__reg_workload *wl);

/* Spawns node `index`'s clients (from the sim boot callback, after the replicas). After a
 * restart the clients start over under fresh process ids. */
int tr__workload_boot(tr__reg_workload *wl, tr_node *node, uint32_t index);
/* The node crashed: its clients' outstanding ops become info ("crashed"). Call right after
 * tr_sim_crash. */
void tr__workload_node_crashed(tr__reg_workload *wl, uint32_t index);
/* Clients invoke nothing new from now on (outstanding ops still complete). */
void tr__workload_stop(tr__reg_workload *wl);
/* Ops still outstanding. */
size_t tr__workload_pending(const tr__reg_workload *wl);
/* Completes every outstanding op as info ("run ended"). Call once, at the end. */
void tr__workload_finish(tr__reg_workload *wl);
/* Borrowed; valid until tr__workload_destroy. */
tr_history *tr__workload_history(tr__reg_workload *wl);
/* History appends refused (history full or an invariant broken: a bug); 0 normally. */
uint64_t tr__workload_record_errors(const tr__reg_workload *wl);

/* ---- convergence probes --------------------------------------------------------------- */
int tr__workload_probe_start(tr__reg_workload *wl);
/* True when, since the probes started, every up node has completed a snapshot and the
 * latest snapshots all agree; *at_ns = the first time they did (the snapshot that completed
 * the agreement). Agreement is re-evaluated at every snapshot: if the replicas diverge
 * again (writes still arriving), the time is forgotten until they agree again. */
bool tr__workload_converged(tr__reg_workload *wl, uint64_t *at_ns);
/* Each up node's latest probe snapshot as a replica state for tr__checkers_convergence:
 * fills states[0..return) (at most states_cap), their entries from entries[0..entries_cap)
 * (needs nodes * keys). The states point into `entries`. */
size_t tr__workload_replica_states(tr__reg_workload *wl, tr_replica_state *states,
                                   size_t states_cap, tr_replica_entry *entries,
                                   size_t entries_cap);

#endif /* TR_HARNESS_WORKLOAD_H */
