/*
 * workload_stock.h — simulated clients of the "stock" service (actors/stock.h), recording a
 * Jepsen history, and a final quiet read of every item at its owner.
 *
 * What: each node hosts clients_per_node client actors that talk to that node's "stock".
 * A client loops: think (random, mean set by the rate), then invoke one of
 *   reserve {item, qty in [1, qty_max], id}     history f = "reserve", key = item,
 *                                                value = qty, value_to = id
 *   restock {item, qty in [1, restock_max], id}  f = "restock", the same fields
 *   read {item}                                  f = "read", key = item; the ok completion
 *                                                carries the level read
 * and records the completion: ok; fail (a definite error: "out of stock", "busy", ...);
 * info for a timeout, an indeterminate error or a crash of the client's node. After an
 * info the history process is retired (history invariant 2) and — for reserve and restock —
 * the client retries the SAME operation with the SAME reservation id under a fresh process
 * id, after a back-off (exponential, capped), up to max_attempts attempts — enough to wait
 * out a partition, so that after the heal almost every id is resolved (ok or fail) and the
 * checker's bounds are tight; this is what makes the service's
 * idempotency (and the planted double-charge bug) observable. Reads are not retried.
 * Reservation ids are tr__stock_id(client, seq): client = slot + 1 (stable across restarts
 * of its node: the retry state lives here, as a client's own durable memory would), seq
 * counts that client's operations.
 * After tr__workload_stock_stop no new operation starts, but outstanding retries go on until
 * they resolve or run out of attempts (tr__workload_stock_busy tells).
 *
 * Final read: tr__workload_stock_final_start spawns a reader on every up node that reads the
 * items that node owns from its local "stock" (no forwarding), asking again every 50 ms until
 * each has answered; tr__workload_stock_final_done / _final_levels hand the result to the
 * checker (harness/check_stock.h). Run it after the cluster is healed and quiet.
 *
 * Determinism: clients draw from tr_random (the node's seeded stream) and the sim's clock.
 * Ownership: tr__workload_stock_create returns an owned workload (tr__workload_stock_destroy)
 * owning its history; the sim is borrowed and must outlive every run; destroy the workload
 * after the sim's last event (actors hold a pointer to it as a handle).
 * Limits: TR_WORKLOAD_CLIENTS_MAX clients, TR_STOCK_WORKLOAD_ITEMS_MAX items, max_ops.
 */
#ifndef TR_HARNESS_WORKLOAD_STOCK_H
#define TR_HARNESS_WORKLOAD_STOCK_H

#include "sim/history.h"
#include "harness/workload.h"
#include "troupe.h"

#define TR_STOCK_WORKLOAD_ITEMS_MAX 64

typedef struct tr_stock_workload tr_stock_workload;

typedef struct tr_stock_workload_opts {
    tr_sim *sim;               /* borrowed */
    uint32_t clients_per_node; /* 0 = 2 */
    uint32_t items;            /* 0 = 4 */
    double rate;               /* ops/s over all clients; 0 = 100 */
    uint32_t op_timeout_ms;    /* 0 = 1000 */
    uint32_t read_percent;     /* share of reads; > 100 = default 20 */
    uint32_t restock_percent;  /* share of restocks; > 100 = default 20 (reserves: the rest) */
    uint32_t qty_max;          /* reserve qty in [1, qty_max]; 0 = 3 */
    uint32_t restock_max;      /* restock qty in [1, restock_max]; 0 = 6 */
    uint32_t max_attempts;     /* per reserve/restock id; 0 = 200 */
    uint32_t retry_ms;         /* first back-off, uniform in [1, 2 * retry_ms], doubling per
                                  attempt up to 500 ms; 0 = 50 */
    size_t max_ops;            /* history bound; 0 = 1M */
} tr_stock_workload_opts;

void tr__workload_stock_opts_init(tr_stock_workload_opts *o, tr_sim *sim);
/* TR_EINVAL on bad options (read + restock > 100, too many clients or items), TR_ENOMEM. */
int tr__workload_stock_create(const tr_stock_workload_opts *opts, tr_stock_workload **out);
void tr__workload_stock_destroy(tr_stock_workload *wl);

/* Spawns node `index`'s clients (boot callback, after "stock"). */
int tr__workload_stock_boot(tr_stock_workload *wl, tr_node *node, uint32_t index);
/* The node crashed: its clients' outstanding ops become info ("crashed") and are retried
 * after the restart. Call right after tr_sim_crash. */
void tr__workload_stock_node_crashed(tr_stock_workload *wl, uint32_t index);
void tr__workload_stock_stop(tr_stock_workload *wl);
/* True while an op is outstanding or a retry is due. */
bool tr__workload_stock_busy(const tr_stock_workload *wl);
/* Completes every outstanding op as info ("run ended") and stops the clients for good. */
void tr__workload_stock_finish(tr_stock_workload *wl);
tr_history *tr__workload_stock_history(tr_stock_workload *wl);
uint64_t tr__workload_stock_record_errors(const tr_stock_workload *wl);
/* Ids given up after max_attempts attempts (their fate stays unknown). */
uint64_t tr__workload_stock_abandoned(const tr_stock_workload *wl);
uint32_t tr__workload_stock_items(const tr_stock_workload *wl);

/* ---- the final read ------------------------------------------------------------------- */
int tr__workload_stock_final_start(tr_stock_workload *wl);
bool tr__workload_stock_final_done(const tr_stock_workload *wl);
/* levels[0..items) and known[0..items) (false: its owner never answered). */
void tr__workload_stock_final_levels(const tr_stock_workload *wl, int64_t *levels, bool *known);

#endif /* TR_HARNESS_WORKLOAD_STOCK_H */
