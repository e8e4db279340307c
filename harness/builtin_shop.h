/* builtin_shop.h — the shop as a service: the "orders" coordinator, the entity types "order",
 * "payment" and "stock" (the shop's variant: reservations by order), the payment provider, a
 * topic broker and the event audit on every node; the simulated customers and operator; the
 * checks; the service fault "provider" (docs/shop.md).
 *
 * Workload (a stateful tr_workload): each client is a customer who, one operation at a time,
 *   orders (70%): PLACE {"key": "c<client>-<seq>", item in [0, keys), qty 1..3, customer}
 *       to its node's "orders"; history f = "order", key = item, value = [key hash, order id]
 *       (the order id once answered); an answer "pending", a timeout or a transient error is
 *       info, and the customer retries the SAME key after a back-off (up to 60 attempts)
 *       until the order is answered confirmed or cancelled (ok);
 *   browses (30%): a stock read {"item"} to "stock" (f = "read", value = the level).
 * The operator (client 1) also restocks (1 in 5 of its operations): {"item", "qty": 5, "id"}
 * (f = "restock"), retried under the same id after an info. After the workload time a client
 * only finishes the order it has open (busy until then).
 *
 * Checks (harness/check_shop.c, over the end states in the stores after the heal and the
 * quiet period, and the history): stock-never-negative, stock-conserved, orders-final,
 * payments, idempotency, events, breakers (every coordinator's breakers closed at the end);
 * the orders check reports the measures order latency percentiles and availability, the
 * breakers check the breakers' openings.
 * Final phase: each client places one more order (key "q<client>", retried like any order
 * until it is answered confirmed or cancelled), so that every coordinator's breaker in front
 * of the payment provider, which refuses new orders while it is open, has to close. */
#ifndef TR_HARNESS_BUILTIN_SHOP_H
#define TR_HARNESS_BUILTIN_SHOP_H

#include "troupe.h"

#define TR__SHOP_CHECK_COUNT 8
extern const tr_check tr__shop_checks[TR__SHOP_CHECK_COUNT];
extern const tr_workload tr__shop_workload;
extern const tr_service tr__builtin_shop;

#endif /* TR_HARNESS_BUILTIN_SHOP_H */
