/* reg_clients.h — the register clients of the real-process cluster tests (test_real_history,
 * test_real_chaos, test_soak): the member n9 that a test process joins a 3-replica cluster as,
 * and client actors that read and write a replicated register ("cp" or "ap") on it with
 * timeouts, recording a Jepsen-style history (sim/history.h) in wall-clock CLOCK_MONOTONIC
 * ns. Implemented in reg_clients.c, which the build links into those suites.
 *
 * Clients: REG_CLIENTS actors, client c bound to replica c % 3 ("cp@n2"), REG_KEYS keys, one
 * op in flight each, REG_OP_TIMEOUT_MS per op. Jepsen's rules: ok took effect, fail
 * certainly did not, info unknown (and an info'd process retires: its id moves on by
 * REG_CLIENTS, never reused). Write values are unique ((index + 1) * 1e6 + seq), so the
 * checker's search stays small and a planted value is foreign.
 *
 * Threading: the client actors run on n9's worker(s); the history is guarded by a mutex (the
 * clock is read under it, so times never go back). The test thread begins and ends a phase
 * and reads the counters (atomics). One phase at a time per process.
 *
 * The replica helpers at the end (start, mesh waits) drive `troupe node` processes through
 * proc.h, whose state is per file: they are static functions, defined when proc.h was
 * included first. */
#ifndef TR_TEST_REG_CLIENTS_H
#define TR_TEST_REG_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "sim/history.h"
#include "troupe.h"

#define REG_REPLICAS 3
#define REG_CLIENTS_PER_REPLICA 2
#define REG_CLIENTS (REG_REPLICAS * REG_CLIENTS_PER_REPLICA)
#define REG_KEYS 3
#define REG_OP_TIMEOUT_MS 1000
#define REG_SECRET "cluster-test-secret-0123456789" /* what proc_setup writes */

/* n9: a tr_runtime with one worker and a tr_cluster on listen, seeded with seeds. */
typedef struct reg_client_node {
    tr_runtime *rt; /* owned */
    tr_cluster *cl; /* owned */
} reg_client_node;

/* Creates n9 (cr_assert on failure); listen and seeds are borrowed for the call. */
void reg_client_node_start(reg_client_node *cn, const char *listen, const char *seeds);
void reg_client_node_stop(reg_client_node *cn);

/* Starts REG_CLIENTS clients on cn's node against `reg` ("cp" or "ap") on the replicas named
 * replicas[0..2] (borrowed for the call), recording into a fresh history of history_max ops
 * at most; resets the counters. */
void reg_clients_begin(reg_client_node *cn, const char *reg, const char *const *replicas,
                       size_t history_max);
/* Asks the clients to stop and waits until every pending op has completed (reply or
 * timeout), REG_OP_TIMEOUT_MS + grace_ms at most: the history then has no outstanding invoke
 * of a live client. Asserts that all stopped and that the history took every append. */
void reg_clients_end(uint64_t grace_ms);
/* The phase's history (owned by this module until reg_clients_history_take). */
const tr_history *reg_clients_history(void);
/* Hands the history to the caller (who destroys it); the module forgets it. */
tr_history *reg_clients_history_take(void);
/* Ok ops through replica i (0..2), in total, and those completed after reg_clients_mark. */
int reg_clients_ok(int replica);
int reg_clients_ok_total(void);
int reg_clients_ok_after_mark(int replica);
/* Marks now: ops completing later count in reg_clients_ok_after_mark. */
void reg_clients_mark(void);

/* Writes h as JSON to path (cr_assert on failure). */
void reg_history_write(const tr_history *h, const char *path);

#ifdef TR_TEST_PROC_H /* the replica helpers: proc.h's state is per file */

static const char *const reg_replica_names[REG_REPLICAS] = {"n1", "n2", "n3"};
static const char *const reg_peer_names[REG_REPLICAS + 1] = {"n1", "n2", "n3", "n9"};

/* Starts replica i (n1..n3 on port_base + i; n2 and n3 seeded with n1) on data_dir. */
static int reg_replica_start(int i, const char *data_dir) {
    static const int seed0[] = {0, -1};
    return start_node(reg_replica_names[i], i, i ? seed0 : NULL, "--data", data_dir, "--replicas",
                      "n1,n2,n3", NULL);
}

/* How many link_up lines replica i has logged so far, per peer (its log is appended to
 * across a restart). */
static void reg_link_counts(int i, int counts[REG_REPLICAS + 1]) {
    for (int j = 0; j <= REG_REPLICAS; j++) {
        char needle[64];
        snprintf(needle, sizeof needle, "event=link_up peer=%s ", reg_peer_names[j]);
        counts[j] = log_count(reg_replica_names[i], needle);
    }
}

/* Waits (timeout_ms per peer) until replica i has logged a new link to every other replica
 * and to n9. */
static void reg_wait_mesh(int i, const int before[REG_REPLICAS + 1], int timeout_ms) {
    for (int j = 0; j <= REG_REPLICAS; j++) {
        if (j != i) {
            char needle[64];
            snprintf(needle, sizeof needle, "event=link_up peer=%s ", reg_peer_names[j]);
            cr_assert(log_wait(reg_replica_names[i], needle, before[j] + 1, timeout_ms),
                      "%s never linked to %s:\n%s", reg_replica_names[i], reg_peer_names[j],
                      log_tail(reg_replica_names[i]));
        }
    }
}

/* n9 on 127.0.0.1:port_base + client_port, seeded with the three replicas; waits (timeout_ms
 * per link) until every replica has linked to every other and to n9. */
static void reg_client_node_join(reg_client_node *cn, int client_port, int timeout_ms) {
    char listen[32], seeds[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port_base + client_port);
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", port_base,
             port_base + 1, port_base + 2);
    reg_client_node_start(cn, listen, seeds);
    static const int none[REG_REPLICAS + 1] = {0};
    for (int i = 0; i < REG_REPLICAS; i++) {
        reg_wait_mesh(i, none, timeout_ms);
    }
}

#endif /* TR_TEST_PROC_H */

#endif /* TR_TEST_REG_CLIENTS_H */
