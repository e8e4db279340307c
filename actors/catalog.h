/* catalog.h — the "catalog" service: products, written rarely and read often, with a replica
 * on every node that answers reads locally, updated by events (eventually consistent).
 *
 * Placement: one "catalog" actor on every node (TR_PLACE_EVERY_NODE, the default spawn
 * argument tr_service_place), next to the topics broker (TR_TOPICS_NAME, docs/pubsub.md). The
 * actor of node index 0 (named n1) is the writer: a PUT that reaches another node is forwarded
 * there (tr_forward), so every write is ordered by one actor, which numbers each product's
 * versions 1, 2, ... In one callback the writer stores the product (tr_kv_put), its event
 * counter and a catalog.updated event [record, committed_at_ms] in its durable outbox
 * (tr_outbox_put), so one commit holds the three; it answers once that commit is durable, and
 * the outbox publishes the event then, resending it until every subscriber acked.
 *
 * Replicas: every other node's actor subscribes to catalog.updated as "catalog@nK" (again
 * until the topic's home answers). An event's record is stored only when its version is newer
 * than the replica's, so a duplicate or reordered event changes nothing; the ack goes once the
 * store write is durable, so a replica that crashes first is sent the event again. Delivery
 * is at least once from the subscription on: a replica sees every write made after its
 * subscription was acknowledged (a subscription is durable at the topic's home). Catch-up:
 * once its subscription is acknowledged, each time it starts, a replica asks the writer for
 * every product (SYNC, in batches) and stores each copy newer than its own, so a node that
 * joins or restarts with an empty replica gets the products written before it subscribed.
 * The writer keeps the ids it ever stored in its own index ("i" + position -> id, "ni" the
 * count), written in the commit that stores a new product.
 *
 * Lag: a replica measures, per event applied, its clock at the apply minus the writer's at the
 * commit (meaningful when the nodes share a clock: one host, or the simulator without clock
 * faults), and reports the most and the total in STATS.
 *
 * Deadlines: GET and PUT bodies may come in the deadline wrapper (docs/resilience.md); one
 * that arrives with no time left is answered {"error": "deadline exceeded"} and does nothing.
 *
 * Requests (msgpack bodies; replies have type TR_CATALOG_REPLY):
 *   TR_CATALOG_GET  [id]                                  -> a product record, or nil
 *   TR_CATALOG_PUT  [id, name, price_cents, description]  -> the stored product record
 *   TR_CATALOG_APPLY  a product record: stored if newer (no reply; a repair, and tests)
 *   TR_CATALOG_SYNC  [from] (the writer only) -> [next, count, [record, ...]]: the records
 *                            of the writer's index positions from.. (at most
 *                            TR_CATALOG_SYNC_BATCH), next the position after them, count
 *                            the index's length; ask again from next until next = count
 *   TR_CATALOG_STATS  []  -> [gets, puts, applies, events, lag_max_ms, lag_total_ms,
 *                            subscribed]: since the actor started, the requests handled, the
 *                            records stored from events or APPLY, the new events received and
 *                            their lag (a benchmark checks with gets that every HTTP read
 *                            reached the actor)
 * A product record is [id, version, name, price_cents, description]. An error is a reply
 * {"error": why}: "bad request", "store failed", "writer unreachable", "deadline exceeded",
 * "busy" (the writer's outbox holds TR_OUTBOX_MAX undelivered events: replicas are behind).
 *
 * Limits: ids 1..TR_CATALOG_ID_MAX, names 1..TR_CATALOG_NAME_MAX bytes, descriptions
 * 0..TR_CATALOG_DESC_MAX bytes, prices 0..TR_CATALOG_PRICE_MAX cents; a record therefore fits
 * TR_CATALOG_RECORD_MAX bytes, and an event TR_TOPIC_BODY_MAX. */
#ifndef TR_ACTORS_CATALOG_H
#define TR_ACTORS_CATALOG_H

#include "troupe.h"

enum {
    TR_CATALOG_GET = TR_MSG_USER + 0x700,
    TR_CATALOG_PUT = TR_MSG_USER + 0x701,
    TR_CATALOG_APPLY = TR_MSG_USER + 0x702,
    TR_CATALOG_REPLY = TR_MSG_USER + 0x703,
    TR_CATALOG_STATS = TR_MSG_USER + 0x704,
    TR_CATALOG_SYNC = TR_MSG_USER + 0x705,
};
#define TR_CATALOG_SYNC_BATCH 4 /* records in one SYNC answer */

#define TR_CATALOG_TOPIC "catalog.updated"

#define TR_CATALOG_ID_MAX ((1LL << 53) - 1) /* exact in a JSON number */
#define TR_CATALOG_NAME_MAX 200
#define TR_CATALOG_DESC_MAX 600
#define TR_CATALOG_PRICE_MAX 1000000000000LL
#define TR_CATALOG_RECORD_MAX 840 /* 5-array: 1 + 3 x 9 ints + 2 + 200 + 3 + 600, rounded */

typedef struct tr_catalog_product {
    int64_t id;
    int64_t version; /* 1 for the first write of the id; 0 in a PUT (the writer assigns it) */
    int64_t price_cents;
    char name[TR_CATALOG_NAME_MAX + 1];
    char description[TR_CATALOG_DESC_MAX + 1];
} tr_catalog_product;

/* Writes the record [id, version, name, price_cents, description] into buf[0..cap); returns
 * its length, or 0 when it does not fit. */
size_t tr__catalog_record_encode(const tr_catalog_product *p, uint8_t *buf, size_t cap);
/* Reads a record (with_version) or a PUT body (without) from bytes[0..len) into *p (caller's
 * memory) and checks every field against the limits above. 0, or TR_EPROTO. */
int tr__catalog_record_decode(const void *bytes, size_t len, bool with_version,
                              tr_catalog_product *p);

extern const tr_behaviour tr__catalog_behaviour;

#endif
