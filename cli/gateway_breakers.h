/* gateway_breakers.h — the gateway's circuit breakers, one per dependency (docs/gateway.md,
 * "Breakers"): the library's tr_breaker (troupe.h, "Resilience") behind a lock, on a
 * monotonic clock, with a log line on every transition.
 *
 * Why a module of its own: the breaker state machine is not thread-safe and takes the time as
 * an argument; the gateway's handlers run on several polling threads and read no engine clock.
 * This module owns the lock and the clock so that the handlers only ask and record.
 * Invariants: every call let through (tr__gw_breaker_allow answered 0) gets exactly one
 * tr__gw_breaker_record; the dependency's name in a log line and in GET /health is
 * tr__gw_dep_name's.
 * Threading: every function may be called from any thread (one mutex for the set).
 * Memory: fixed, allocated by tr__gw_breakers_create. */
#ifndef TR_CLI_GATEWAY_BREAKERS_H
#define TR_CLI_GATEWAY_BREAKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe.h"

/* The gateway's dependencies: each has its own breaker. Reads and writes of the catalog are
 * separate dependencies (the local replica, and the writer node behind it), so that a writer
 * that is down does not make the replicas' reads refused. */
typedef enum tr__gw_dep {
    TR__GW_DEP_CATALOG = 0,    /* reads: this node's catalog replica */
    TR__GW_DEP_CATALOG_WRITER, /* writes: the catalog's writer, through the local actor */
    TR__GW_DEP_ORDERS,         /* the orders service */
    TR__GW_DEP_COUNT
} tr__gw_dep;

typedef struct tr__gw_breakers tr__gw_breakers;

/* cfg: each breaker's configuration (copied; NULL: tr_breaker_config_init's defaults);
 * node_name labels the log lines (copied). *out is owned: tr__gw_breakers_destroy. 0,
 * TR_EINVAL (a config tr_breaker_init refuses) or TR_ENOMEM. */
int tr__gw_breakers_create(const tr_breaker_config *cfg, const char *node_name,
                           tr__gw_breakers **out);
void tr__gw_breakers_destroy(tr__gw_breakers *set);

/* May a call to dep go now? 0: yes (record its outcome); TR_EAGAIN: refused by an open
 * breaker, *retry_after_s (whole seconds, rounded up, at least 1) says when to come back. */
int tr__gw_breaker_allow(tr__gw_breakers *set, tr__gw_dep dep, uint32_t *retry_after_s);
/* The outcome of a call tr__gw_breaker_allow let through. */
void tr__gw_breaker_record(tr__gw_breakers *set, tr__gw_dep dep, bool ok);
/* dep's status now (a consistent copy). */
void tr__gw_breaker_status(tr__gw_breakers *set, tr__gw_dep dep, tr_breaker_status *out);
/* "catalog", "catalog-writer", "orders" (static). */
const char *tr__gw_dep_name(tr__gw_dep dep);
/* The gateway's monotonic clock, in ms (deadlines, breakers). */
uint64_t tr__gw_now_ms(void);

#endif
