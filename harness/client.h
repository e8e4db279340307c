/*
 * client.h — the simulated clients of a service's workload (tr_workload of troupe.h).
 *
 * What: clients_per_node client actors on every node. A client loops: think (uniform in
 * [1, 2 * mean] ms, mean = clients / rate), ask the workload's next() for an operation and its
 * request, append the invoke to the history, send the request to the target actor on its own
 * node with op_timeout, and turn the reply, the timeout or its node's crash into a completion
 * with the workload's complete(). After an info the process is retired: the client goes on
 * under a fresh process id. Clients stop invoking at tr__clients_stop.
 * A stateful workload (tr_workload.client_next) keeps client_state_size bytes per client in
 * one block for the run; its clients go on after tr__clients_stop while it has work for them
 * (retries), and tr__clients_final starts its final phase.
 * Determinism: each client slot draws from its own stream (TR_SIM_STREAM_USER + 16 +
 * stream_offset + slot)
 * of the sim's seed; times are the sim's true virtual time.
 * Ownership: tr__clients_create returns an owned set (tr__clients_destroy, after the sim:
 * actors hold a handle to it). The sim, the service, the envs and the history are borrowed.
 * Limits: at most TR__CLIENTS_MAX clients; ok latencies kept for at most latency_max ops.
 */
#ifndef TR_HARNESS_CLIENT_H
#define TR_HARNESS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR__CLIENTS_MAX 1024
#define TR__CLIENT_BODY_MAX 4096

typedef struct tr__clients tr__clients;

typedef struct tr__clients_opts {
    tr_sim *sim;
    const tr_service *svc;      /* has a workload */
    const tr_service_env *envs; /* one per node, index order */
    uint32_t clients_per_node;
    uint32_t keys;
    double rate; /* operations per second over all clients */
    uint32_t op_timeout_ms;
    tr_history *history;
    size_t latency_max;
    uint32_t stream_offset; /* added to each client's stream (another workload's clients) */
} tr__clients_opts;

int tr__clients_create(const tr__clients_opts *opts, tr__clients **out);
void tr__clients_destroy(tr__clients *c);
/* Spawns node `index`'s clients (at start and from the boot callback after a restart). */
int tr__clients_boot(tr__clients *c, tr_node *node, uint32_t index);
/* Node `index` crashed: its clients' outstanding ops complete as the workload says for
 * TR_ECLOSED. */
void tr__clients_node_crashed(tr__clients *c, uint32_t index);
void tr__clients_stop(tr__clients *c);
/* An op outstanding, or a stateful client on an up node with work left in the phase. */
bool tr__clients_busy(tr__clients *c);
/* A stateful workload's final phase: node by node (up ones), fresh client actors that ask
 * client_next for final operations. 0 (nothing to do for a stateless one) or a spawn error. */
int tr__clients_final(tr__clients *c);
size_t tr__clients_pending(const tr__clients *c);
/* Completes every outstanding op as info ("run ended"). */
void tr__clients_finish(tr__clients *c);
/* History appends refused (full, or an invariant the workload broke). */
uint64_t tr__clients_record_errors(const tr__clients *c);
/* Latencies of ok operations, in completion order (valid until destroy). */
const uint64_t *tr__clients_latencies(const tr__clients *c, size_t *count);

#endif /* TR_HARNESS_CLIENT_H */
