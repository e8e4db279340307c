/* metrics_sources.h — the families of a node's parts that live outside the runtime, for
 * `troupe node --metrics` (docs/metrics.md): the circuit breakers (the HTTP gateway's, and the
 * orders coordinator's, which the endpoint asks for at each scrape) and the access-control
 * gate's refusals. cmd_node attaches them to the endpoint once they run and
 * detaches them before they stop (tr__metrics_http_attach); a scrape renders what is
 * attached under the endpoint's lock, so a part never goes while a scrape reads it. */
#ifndef TR_CLI_METRICS_SOURCES_H
#define TR_CLI_METRICS_SOURCES_H

#include "actors/shop.h"
#include "cli/gateway_breakers.h"
#include "cluster/policy_gate.h"
#include "runtime/metrics.h"

typedef struct tr__metrics_sources {
    tr__gw_breakers *breakers; /* borrowed; NULL: no gateway */
    tr__policy_gate *gate;     /* borrowed; NULL: no --policy */
} tr__metrics_sources;

/* troupe_breaker_state / _opens_total / _rejected_total per breaker: the gateway's, when
 * attached (owner="gateway"), then orders[0..orders_n) (owner="orders", the local orders
 * coordinator's, borrowed; orders_n 0 without one), and troupe_policy_refused_total (0
 * without a gate): the families are always present. */
void tr__metrics_sources_render(const tr__metrics_sources *s, const tr_shop_breaker *orders,
                                uint32_t orders_n, tr__metrics_text *t);

#endif
