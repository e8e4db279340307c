/*
 * stock.h — "stock": an inventory service actor with idempotent reservations, CP per item.
 *
 * What: every node registers one "stock" actor. Item i is owned by the node at index
 * i % peer_count of the peer list (the node names given at boot); only the owner holds and
 * changes the item's level, so every operation on an item is serialised by one actor and
 * the service is CP for its items (an owner cut off by a partition makes its items
 * unavailable elsewhere; nothing is ever decided by two nodes). A request that reaches a
 * node that does not own the item is forwarded to "stock@<owner>" and the owner's reply
 * is relayed; a forward that gets no answer within forward_timeout_ms is answered with an
 * indeterminate error for reserve/restock (the owner may have applied it) and a plain error
 * for a read.
 *
 * Why this shape: a reservation is check-and-act (level >= qty, then level -= qty); doing it
 * inside one receive of the owner makes it atomic without locks. Clients retry a timed-out
 * reservation under the same id, so the owner must recognise a retry (or a duplicated
 * message) and return the original result instead of charging again: the ledger.
 *
 * Durable state (owner side, tr_kv_*; replies are sent with tr_reply_durable, so a client
 * never sees a level or a result that a crash could undo; a restart recovers from the store
 * with nothing volatile to rebuild):
 *   "s" + item (4 bytes BE)  -> msgpack int: the level (absent = the initial level)
 *   "l" + slot (2 bytes BE)  -> msgpack [client, max_seq, [[seq, ok, level], ...]]
 * A reservation id is (client << 32) | seq with client >= 1 and seq >= 1 (each client
 * numbers its operations 1, 2, ...). The ledger slot of a client is client %
 * TR_STOCK_LEDGER_SLOTS; it remembers the results of that client's ids with seq in
 * (max_seq - TR_STOCK_LEDGER_WINDOW, max_seq]. Bound: at most TR_STOCK_LEDGER_SLOTS keys per
 * owner, each at most TR_STOCK_LEDGER_WINDOW entries (< 1.2 KiB; so < 1.2 MiB per owner
 * in all): O(1) store per node,
 * whatever the number of operations. Idempotency holds for a client while it has fewer than
 * TR_STOCK_LEDGER_WINDOW ids outstanding and no other live client shares its slot (a client
 * id that hashes to a slot held by another client takes the slot over; the evicted client's
 * retries are then treated as new requests). A retry of an id older than the window is
 * refused with an indeterminate "id expired" error (the ledger keeps no fate for it).
 * Restocks use the same ledger (a restock carries an id too) and are idempotent likewise.
 *
 * Client protocol (msgpack maps, unknown keys ignored; message types 1024..1027):
 *   TR_STOCK_RESERVE {"item": int, "qty": int, "id": int} -> TR_STOCK_REPLY
 *       ok {"ok": true, "level": level after}, or {"ok": false, "error": "out of stock",
 *       "indeterminate": false} when the level is below qty (nothing charged; recorded in
 *       the ledger, so a retry gets the same answer).
 *   TR_STOCK_RESTOCK {"item": int, "qty": int, "id": int} -> {"ok": true, "level": L}
 *   TR_STOCK_READ    {"item": int}                         -> {"ok": true, "level": L}
 *   errors: {"ok": false, "error": str, "indeterminate": bool}: "bad request", "busy"
 *       (TR_STOCK_INFLIGHT_MAX forwards in flight), "owner unreachable", "id expired",
 *       "store error". indeterminate = the operation may have taken effect.
 *   Items are 0 <= item < 2^32; 1 <= qty <= TR_STOCK_QTY_MAX; id as above.
 *   TR_STOCK_DEBIT (internal, the planted oversell path only): an unconditional charge;
 *       refused ("bad request") unless that bug is planted.
 *
 * Planted bugs (tr_stock_opts.bugs; bits next to TR_REG_BUG_* so one --bug mask serves all):
 *   TR_STOCK_BUG_OVERSELL       the node a reserve reaches first reads the level from the
 *       owner, checks level >= qty on the reply, then sends an unconditional DEBIT: two
 *       reservations in flight together both pass the check (check-then-act across an
 *       asynchronous step) and the level goes negative.
 *   TR_STOCK_BUG_DOUBLE_CHARGE  the owner skips the ledger lookup for reservations: a
 *       client's retry after a timeout, or a duplicated message, charges twice.
 *   TR_STOCK_BUG_IGNORE_FAILED_COMMIT  the owner ignores the error of a write the store
 *       refused (once a commit failed, the store refuses every write until the node
 *       restarts) and acknowledges the operation at once with a plain reply: an
 *       acknowledged reservation that no store holds.
 *
 * A failed commit, handled: the store drops the replies held for it (tr_reply_durable), so
 * their clients time out (indeterminate); a write or durable reply the store refuses
 * afterwards is answered "store error", indeterminate, and nothing is acknowledged until
 * the node restarts with what its store holds.
 *
 * Ownership/threading: plain actors over troupe.h (same code on the sim and real nodes);
 * state is the actor's. Limits: TR_STOCK_PEERS_MAX peers, TR_STOCK_INFLIGHT_MAX forwards
 * per node.
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
};

#define TR_STOCK_PEERS_MAX 16
#define TR_STOCK_INFLIGHT_MAX 64
#define TR_STOCK_LEDGER_SLOTS 1024u
#define TR_STOCK_LEDGER_WINDOW 64u
#define TR_STOCK_QTY_MAX 1000000000
#define TR_STOCK_BODY_MAX 96 /* a request or reply fits in this many bytes */

#define TR_STOCK_BUG_OVERSELL 0x4u
#define TR_STOCK_BUG_DOUBLE_CHARGE 0x8u
#define TR_STOCK_BUG_IGNORE_FAILED_COMMIT 0x20u

typedef struct tr_stock_opts {
    uint32_t peer_count;           /* 1..TR_STOCK_PEERS_MAX */
    const char *const *peer_names; /* node names, this node included; borrowed for the call */
    uint32_t bugs;                 /* TR_STOCK_BUG_* (other bits ignored) */
    int64_t initial;               /* every item's level before any operation; >= 0 */
    uint32_t forward_timeout_ms;   /* 0 = 300 */
} tr_stock_opts;

/* The spawn argument (copied by the runtime). */
typedef struct tr_stock_arg {
    uint32_t peer_count;
    uint32_t bugs;
    int64_t initial;
    uint32_t forward_timeout_ms;
    char peers[TR_STOCK_PEERS_MAX][TR_NAME_MAX + 1];
} tr_stock_arg;

extern const tr_behaviour tr__stock_behaviour;

/* TR_EINVAL on a bad peer list or a negative initial level. */
int tr__stock_arg_init(tr_stock_arg *arg, const tr_stock_opts *opts);
/* Spawns "stock" on `node`; again after a restart (the owner's state is in the store). */
int tr__stock_boot(tr_node *node, const tr_stock_opts *opts);
/* The index (in the peer list) of the node that owns `item`. */
uint32_t tr__stock_owner(uint32_t item, uint32_t peer_count);

typedef struct tr_stock_request {
    uint32_t item;
    bool has_qty, has_id;
    int64_t qty;
    uint64_t id;
} tr_stock_request;

typedef struct tr_stock_reply {
    bool ok;
    bool indeterminate;
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
/* TR_EPROTO when malformed. */
int tr__stock_reply_decode(const void *body, size_t len, tr_stock_reply *out);

/* A reservation id from (client, seq), both >= 1; 0 if either is out of range. */
static inline uint64_t tr__stock_id(uint32_t client, uint32_t seq) {
    return client == 0 || seq == 0 ? 0 : (uint64_t)client << 32 | seq;
}

#endif /* TR_STOCK_H */
