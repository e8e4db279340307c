/* catalog.h — the "catalog" service: products, written rarely and read often, with a replica
 * on every node that answers reads locally (eventually consistent).
 *
 * Placement: one "catalog" actor on every node (TR_PLACE_EVERY_NODE, the default spawn
 * argument tr_service_place). The actor of node index 0 (named n1) is the writer: a PUT that
 * reaches another node is forwarded there (tr_forward), so every write is ordered by one
 * actor, which numbers each product's versions 1, 2, ... The writer stores the product
 * (tr_kv_put), sends it as an APPLY to the catalog actor of every other node (n2..nN) and
 * answers once its own write is durable. A replica stores an APPLY only when its version is
 * newer than the one it holds, so a duplicated or reordered APPLY changes nothing.
 *
 * Consistency: a read on any node returns that node's latest applied version (or "not
 * found"). Replication is fire and forget: an APPLY lost with a down node or a broken link (or
 * sent before the links between the nodes are up after a start) is not resent, and that
 * replica serves the older version until the product's next write.
 * At-least-once delivery over topics (catalog.updated) replaces the direct APPLY sends.
 *
 * Requests (msgpack bodies; replies have type TR_CATALOG_REPLY):
 *   TR_CATALOG_GET  [id]                                  -> a product record, or nil
 *   TR_CATALOG_PUT  [id, name, price_cents, description]  -> the stored product record
 *   TR_CATALOG_APPLY  a product record (writer to replica; no reply)
 *   TR_CATALOG_STATS  []  -> [gets, puts, applies]: the requests this actor has handled since
 *                            it started (a benchmark checks with it that every HTTP read
 *                            reached the actor)
 * A product record is [id, version, name, price_cents, description]. An error is a reply
 * {"error": why}: "bad request", "store failed", "writer unreachable".
 *
 * Limits: ids 1..TR_CATALOG_ID_MAX, names 1..TR_CATALOG_NAME_MAX bytes, descriptions
 * 0..TR_CATALOG_DESC_MAX bytes, prices 0..TR_CATALOG_PRICE_MAX cents; a record therefore fits
 * TR_CATALOG_RECORD_MAX bytes. */
#ifndef TR_ACTORS_CATALOG_H
#define TR_ACTORS_CATALOG_H

#include "troupe.h"

enum {
    TR_CATALOG_GET = TR_MSG_USER + 0x700,
    TR_CATALOG_PUT = TR_MSG_USER + 0x701,
    TR_CATALOG_APPLY = TR_MSG_USER + 0x702,
    TR_CATALOG_REPLY = TR_MSG_USER + 0x703,
    TR_CATALOG_STATS = TR_MSG_USER + 0x704,
};

#define TR_CATALOG_ID_MAX ((1LL << 53) - 1) /* exact in a JSON number */
#define TR_CATALOG_NAME_MAX 200
#define TR_CATALOG_DESC_MAX 2000
#define TR_CATALOG_PRICE_MAX 1000000000000LL
#define TR_CATALOG_RECORD_MAX 4096

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
