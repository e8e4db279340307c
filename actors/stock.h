/*
 * stock.h — "stock": an inventory service with idempotent reservations, one entity per item.
 *
 * What: stock is an entity type (troupe.h, "Entities"; docs/entities.md) named "stock": item i
 * is the entity of id i, hosted by tr_entity_host on every node under the name "stock". A
 * request sent to "stock" on any node reaches the one live activation of its item, wherever
 * the placement table puts it; the activation handles the item's requests one at a time, so a
 * reservation (check level >= qty, then charge) is atomic without locks, and a changed state
 * is at a majority of the nodes' stores before the answer goes out. When the node that hosts
 * an item dies or is cut off, its lease lapses and the item is activated on a live node from
 * its durable state: an item stays available as long as a majority of the nodes is up and
 * connected, whichever node held it before.
 *
 * Entity state (state_max TR_STOCK_STATE_MAX <= TR_ENTITY_STATE_MAX; empty = a new item at
 * the service's initial level), fixed big-endian layout:
 *   [0, 8)    level (int64)
 *   [8, 12)   evicted_any: the largest seq of an eviction record dropped (see below)
 *   [12]      results count r <= TR_STOCK_LEDGER_RESULTS, [13] evictions count e
 *             <= TR_STOCK_LEDGER_EVICTED, [14, 16) zero
 *   r results, oldest first, 17 bytes each: id (8), ok (1), level after (int64, 8)
 *   e eviction records, 8 bytes each: client (4), the largest seq of its results evicted (4)
 * The ledger is the item's own: the results of the last TR_STOCK_LEDGER_RESULTS ids applied to
 * the item. Because it is part of the entity's state it moves with the item: a retry that
 * reaches the item's new node after a crash or a partition meets the original result there.
 * A reservation id is (client << 32) | seq with client >= 1 and seq >= 1 (each client numbers
 * its operations 1, 2, ...). An id found in the results gets the original answer (no second
 * charge). An id not found whose seq is at or below the eviction record of its client (or,
 * for a client without a record, at or below evicted_any) may have been applied and evicted:
 * it is refused with the indeterminate "id expired" (the ledger keeps no fate for it). Any
 * other id is new. So idempotency holds for every retry whose original is among the item's
 * last TR_STOCK_LEDGER_RESULTS ids, and no retry is ever charged twice: an id leaves the
 * results only into an eviction record (or evicted_any), never into oblivion. When more
 * than TR_STOCK_LEDGER_EVICTED clients have evictions, the oldest record folds into
 * evicted_any, which can answer "id expired" to a new id of a client without a record (an
 * indeterminate answer, never a wrong one). Restocks use the same ledger.
 *
 * Client protocol (msgpack maps, unknown keys ignored; message types 1024..1027):
 *   TR_STOCK_RESERVE {"item": int, "qty": int, "id": int} ->
 *       {"ok": true, "level": level after}, or {"ok": false, "error": "out of stock",
 *       "indeterminate": false} when the level is below qty (nothing charged; recorded in
 *       the ledger, so a retry gets the same answer).
 *   TR_STOCK_RESTOCK {"item": int, "qty": int, "id": int} -> {"ok": true, "level": L}
 *   TR_STOCK_READ    {"item": int}                         -> {"ok": true, "level": L}
 *   errors of the item: {"ok": false, "error": str, "indeterminate": bool}: "bad request",
 *       "id expired" (indeterminate: the operation may have taken effect); with fault points
 *       on (TR_BUGGIFY), an applied change may be answered "indeterminate" (a retry under
 *       the same id then gets the original answer from the ledger).
 *   Items are 0 <= item < 2^32; 1 <= qty <= TR_STOCK_QTY_MAX; id as above.
 *   The answers of the entity host itself are msgpack strings (troupe.h, "Entities"):
 *   "unavailable", "busy", "not owner", "bad request: ..." (not handled: nothing changed)
 *   and "indeterminate" (handled, but its state change reached no majority in time: it may
 *   or may not surface). A body without a valid "item" gets the host's "bad request: no
 *   entity id". Answers carry the request's type (the host answers with it).
 *   TR_STOCK_DEBIT (internal, the planted oversell path only): an unconditional charge;
 *       answered "bad request" unless that bug is planted.
 *
 * Planted bugs (tr_stock_opts.bugs; bits next to TR_REG_BUG_* so one --bug mask serves all).
 * Each is a handler of its own (tr__stock_type_of), as an entity handler sees no spawn
 * argument:
 *   TR_STOCK_BUG_OVERSELL       the reservation is checked (level >= qty) and answered, and
 *       its charge is sent on as a TR_STOCK_DEBIT message to this node's "stock" host, which
 *       charges without a check when it handles it: a check-then-act across an asynchronous
 *       step (the entity's one-at-a-time handling makes each step atomic, not the two
 *       together). Reservations queued for the item before the DEBIT pass their check on a
 *       level without the earlier charge, and the level goes negative.
 *   TR_STOCK_BUG_DOUBLE_CHARGE  the handler skips the ledger lookup for reservations: a
 *       client's retry after a timeout, a duplicated message, or a retry that meets the item
 *       on its new node after a move charges twice.
 *   TR_STOCK_BUG_UNSAVED_CHARGE a reservation changes the level but the handler does not mark
 *       the state changed, so the host neither keeps nor writes it, yet the answer says
 *       charged: an acknowledged reservation that no store holds (the state writes being the
 *       host's, this is what a handler can get wrong about durability).
 *
 * Ownership/threading: an entity type over troupe.h (same code on the sim and real nodes);
 * the state is the entity's, held and written by the host. Limits: TR_RAFT_NODES_MAX nodes.
 */
#ifndef TR_STOCK_H
#define TR_STOCK_H

#include "troupe.h"

enum {
    TR_STOCK_RESERVE = TR_MSG_USER + 0x300,
    TR_STOCK_RESTOCK,
    TR_STOCK_READ,
    TR_STOCK_REPLY,
    TR_STOCK_DEBIT,
    /* the entity host's own types: TR_STOCK_MSG_BASE .. + TR_ENTITY_MSG_COUNT - 1 */
    TR_STOCK_MSG_BASE = TR_MSG_USER + 0x310
};

#define TR_STOCK_LEDGER_RESULTS 40u
#define TR_STOCK_LEDGER_EVICTED 36u
#define TR_STOCK_STATE_HEADER 16u
#define TR_STOCK_RESULT_SIZE 17u
#define TR_STOCK_EVICTED_SIZE 8u
#define TR_STOCK_STATE_MAX                                                    \
    (TR_STOCK_STATE_HEADER + TR_STOCK_LEDGER_RESULTS * TR_STOCK_RESULT_SIZE + \
     TR_STOCK_LEDGER_EVICTED * TR_STOCK_EVICTED_SIZE)
#define TR_STOCK_QTY_MAX 1000000000
#define TR_STOCK_BODY_MAX 96 /* a request or reply fits in this many bytes */
#define TR_STOCK_INITIAL 10  /* every item's level before any operation */

#define TR_STOCK_BUG_OVERSELL 0x4u
#define TR_STOCK_BUG_DOUBLE_CHARGE 0x8u
#define TR_STOCK_BUG_UNSAVED_CHARGE 0x20u

typedef struct tr_stock_opts {
    uint32_t peer_count;           /* 1..TR_RAFT_NODES_MAX */
    const char *const *peer_names; /* node names, this node included; borrowed for the call */
    uint32_t bugs;                 /* TR_STOCK_BUG_* (other bits ignored) */
} tr_stock_opts;

/* The entity type of the service with `bugs` planted (one of TR_STOCK_BUG_* or 0; static). */
const tr_entity_type *tr__stock_type_of(uint32_t bugs);
/* The host's spawn argument for node `index` of opts' peers into buf (tr_entity_host_arg). */
int tr__stock_host_arg(const tr_stock_opts *opts, uint32_t index, void *buf, size_t cap,
                       size_t *len);
/* Spawns the "stock" entity host on `node` (its index: its name's place in the peers); again
 * after a restart (the states are in the stores). */
int tr__stock_boot(tr_node *node, const tr_stock_opts *opts);

typedef struct tr_stock_request {
    uint32_t item;
    bool has_qty, has_id;
    int64_t qty;
    uint64_t id;
} tr_stock_request;

typedef struct tr_stock_reply {
    bool ok;
    bool indeterminate;
    bool from_host; /* a string answer of the entity host (error holds it) */
    int64_t level;  /* when ok */
    char error[48]; /* "" when ok; truncated */
} tr_stock_reply;

/* Encodes {"item"[, "qty"][, "id"]} (fields as has_*); buf needs TR_STOCK_BODY_MAX bytes. */
int tr__stock_request_encode(void *buf, size_t cap, const tr_stock_request *r, size_t *len);
/* TR_EPROTO when malformed, the item is missing or out of range, qty out of
 * [1, TR_STOCK_QTY_MAX], or id not a valid reservation id. */
int tr__stock_request_decode(const void *body, size_t len, tr_stock_request *out);
int tr__stock_reply_encode_ok(void *buf, size_t cap, int64_t level, size_t *len);
int tr__stock_reply_encode_err(void *buf, size_t cap, const char *error, bool indeterminate,
                               size_t *len);
/* A stock map, or a string of the entity host (from_host; indeterminate when it is
 * "indeterminate"). TR_EPROTO when malformed. */
int tr__stock_reply_decode(const void *body, size_t len, tr_stock_reply *out);

/* The level of an entity state (empty: TR_STOCK_INITIAL); TR_ECORRUPT when malformed. */
int tr__stock_state_level(const void *state, size_t len, int64_t *level);

/* A reservation id from (client, seq), both >= 1; 0 if either is out of range. */
static inline uint64_t tr__stock_id(uint32_t client, uint32_t seq) {
    return client == 0 || seq == 0 ? 0 : (uint64_t)client << 32 | seq;
}

#endif /* TR_STOCK_H */
