/* shop.h — the shop's client protocol: the "orders" service (place an order, read one, cancel one), the
 * price table, and the message type ranges of the shop's services (orders, payments, the
 * payment provider). docs/shop.md describes the services, the saga and the checks.
 *
 * Who answers. The orders coordinator runs on every node under the registered name
 * TR_SHOP_ORDERS_NAME ("orders"); a client (the HTTP gateway, `troupe call`, a simulated
 * customer) sends to "orders" on its own node. The coordinator drives each order through the
 * saga (reserve stock -> charge -> confirm; on failure release the stock and refund) over the
 * entity types "order", "payment" and "stock", which live on whichever node the placement
 * table names: any node answers for every order.
 *
 * Deadlines. A request body may be wrapped as docs/resilience.md, "The body convention":
 * {"deadline_ms": remaining ms, "body": <the request's body below>} (tr_deadline_wrap). The
 * coordinator answers within that time (at most TR_SHOP_DEADLINE_MAX_MS); without a wrapper
 * it allows TR_SHOP_DEADLINE_MS. The caller's own timeout should be the same or a little
 * longer. A request that arrives with no time left is answered "deadline exceeded" at once.
 *
 * Requests (msgpack maps, keys in any order, unknown keys refused as a bad request; the answer
 * carries the request's type):
 *
 *   TR_SHOP_PLACE {"key": str, "item": uint, "qty": uint, "customer": uint}
 *       key: the idempotency key, 1..TR_SHOP_KEY_MAX bytes (any bytes); item:
 *       0..TR_SHOP_ITEM_MAX; qty: 1..TR_SHOP_QTY_MAX; customer: 0..TR_SHOP_CUSTOMER_MAX.
 *       Every request with the same key answers the same order: the first request's (its
 *       item, qty and customer; a later request's fields are not compared). The order's id is
 *       a function of the key (tr__shop_order_id), so any node finds it without a lookup.
 *   TR_SHOP_GET {"order": uint}
 *   TR_SHOP_CANCEL {"order": uint}  (the same body as GET: tr__shop_get_encode / _decode)
 *       The customer cancels a confirmed order: the order becomes "cancelled" with the
 *       reason "cancelled by customer", its payment is refunded and its stock returned, and
 *       only then the answer says "cancelled". An order still pending is driven to its end
 *       first; one that ended cancelled answers as it is (its own reason). Idempotent: a
 *       retry (the same order) never refunds twice. Until the cancellation is done the
 *       answer says "pending"; retrying is always safe.
 *
 *   Answer to all three, an order:
 *       {"order": uint id, "state": "confirmed" | "cancelled" | "pending",
 *        "amount_cents": uint, "reason": str, "created": true}
 *       "reason" is present only when the state is "cancelled": "out of stock",
 *       "payment declined", "payment failed", "stock unavailable", "cancelled by customer".
 *       "created": true is present only in the answer to the one PLACE request that created
 *       the order (the order's journal records a nonce of the request that created it), so
 *       of several requests with one key, racing or retried, exactly one is answered
 *       "created"; a request whose answer was lost is not answered "created" again.
 *       "pending": the saga has not finished within the deadline; it goes on (the coordinator
 *       resumes it after its own crash), and a GET or a retry of the PLACE with the same key
 *       shows its progress.
 *       amount_cents = qty * tr__shop_price_cents(item), fixed when the order is created.
 *   TR_SHOP_BREAKERS (any body, ignored)
 *       The coordinator's circuit breakers, one per dependency (what `troupe node --metrics`
 *       exports, docs/metrics.md): an array of [dependency: str, state: uint (0 closed,
 *       1 open, 2 half-open), opened: uint (times it opened), rejected: uint (calls it
 *       refused)], in the coordinator's order ("order", "stock", "payment",
 *       "payment-provider"); tr__shop_breakers_encode / _decode. Read only: it changes no
 *       breaker.
 *
 *   Or an error, one msgpack string:
 *       "bad request: <why>"  malformed body, a field missing or out of range    (HTTP 400)
 *       "no such order"       GET or CANCEL of an id no PLACE created            (HTTP 404)
 *       "key conflict"        another key already owns this key's order id (a
 *                             hash collision; nothing was done)                 (HTTP 409)
 *       "deadline exceeded"   the time given ran out before the order existed     (HTTP 504)
 *       "breaker open: payment-provider"  a new order refused at once: the breaker in
 *                             front of the payment provider is open (nothing done) (HTTP 503)
 *       "unavailable"         the order store could not be reached: nothing done (HTTP 503)
 *       "busy"                too many orders in flight on this node or entity   (HTTP 503)
 *       "indeterminate"       the order may or may not have been created; a retry
 *                             with the same key answers which                    (HTTP 503)
 *   Every error but "bad request", "no such order" and "key conflict" is transient: retrying
 *   the same key is always safe (it never creates a second order or a second charge). The
 *   gateway may send a Retry-After of TR_SHOP_RETRY_AFTER_S seconds with a 503.
 *
 * Prices. The simulator and a real node use one fixed price table, tr__shop_price_cents: the
 * catalog service (actors/catalog.h) is not consulted by the saga, so an order's amount never
 * depends on replication lag. A product the gateway lists should carry the same price.
 *
 * Message types. The shop owns TR_MSG_USER + 0x800 .. + 0x8ff: the client requests above,
 * then the coordinator's internal messages, then the entity hosts' ranges ("order" and
 * "payment", TR_ENTITY_MSG_COUNT types each) and the payment provider's. Stock keeps its own
 * (actors/stock.h). */
#ifndef TR_ACTORS_SHOP_H
#define TR_ACTORS_SHOP_H

#include "troupe.h"

enum {
    TR_SHOP_PLACE = TR_MSG_USER + 0x800,
    TR_SHOP_GET = TR_MSG_USER + 0x801,
    TR_SHOP_CANCEL = TR_MSG_USER + 0x802,
    TR_SHOP_BREAKERS = TR_MSG_USER + 0x803,
    /* internal: the coordinator's timers and its calls to the entities and the provider */
    TR_SHOP_INTERNAL_BASE = TR_MSG_USER + 0x808,
    /* the "order" entity host's own types: + 0x820 .. + 0x82f; its requests + 0x830 .. */
    TR_SHOP_ORDER_MSG_BASE = TR_MSG_USER + 0x820,
    TR_SHOP_ORDER_REQ_BASE = TR_MSG_USER + 0x830,
    /* the "payment" entity host's own types: + 0x840 .. + 0x84f; its requests + 0x850 .. */
    TR_SHOP_PAYMENT_MSG_BASE = TR_MSG_USER + 0x840,
    TR_SHOP_PAYMENT_REQ_BASE = TR_MSG_USER + 0x850,
    /* the payment provider's requests: + 0x860 .. */
    TR_SHOP_PROVIDER_BASE = TR_MSG_USER + 0x860,
    TR_SHOP_MSG_LAST = TR_MSG_USER + 0x8ff
};

#define TR_SHOP_ORDERS_NAME "orders"
#define TR_SHOP_PAYMENTS_NAME "payment"          /* the payment entity type's hosts */
#define TR_SHOP_ORDER_TYPE_NAME "order"          /* the order entity type's hosts */
#define TR_SHOP_PROVIDER_NAME "payment-provider" /* the simulated card processor */

#define TR_SHOP_KEY_MAX 64
#define TR_SHOP_ITEM_MAX 1023u
#define TR_SHOP_QTY_MAX 100u
#define TR_SHOP_CUSTOMER_MAX 0xFFFFFFFFu
#define TR_SHOP_DEADLINE_MS 3000u     /* a request without a deadline wrapper */
#define TR_SHOP_DEADLINE_MAX_MS 30000 /* a longer deadline is cut to this */
#define TR_SHOP_RETRY_AFTER_S 1
#define TR_SHOP_REASON_MAX 31
#define TR_SHOP_BODY_MAX 160 /* a PLACE or GET body, and any answer, fit in this many bytes */

typedef enum tr_shop_state {
    TR_SHOP_PENDING = 0,
    TR_SHOP_CONFIRMED = 1,
    TR_SHOP_CANCELLED = 2
} tr_shop_state;

typedef struct tr_shop_place {
    uint8_t key[TR_SHOP_KEY_MAX];
    uint32_t key_len; /* 1..TR_SHOP_KEY_MAX */
    uint32_t item;
    uint32_t qty;
    uint32_t customer;
} tr_shop_place;

typedef struct tr_shop_order {
    uint64_t id;
    tr_shop_state state;
    uint64_t amount_cents;
    char reason[TR_SHOP_REASON_MAX + 1]; /* "" unless cancelled */
    bool created;                        /* a PLACE's answer: this very request created the order */
} tr_shop_order;

/* The price of one unit of item, in cents: 500 + 100 * (item % 16) (5.00 .. 20.00). */
static inline uint64_t tr__shop_price_cents(uint32_t item) {
    return 500u + 100u * (item % 16u);
}

/* The order id of an idempotency key: FNV-1a 64 of its bytes, cut to 53 bits (exact in a
 * JSON number), and never 0. */
uint64_t tr__shop_order_id(const void *key, size_t len);

/* Client bodies (buf: TR_SHOP_BODY_MAX bytes is always enough). 0, TR_ETOOBIG or TR_EINVAL
 * (a field out of range). */
int tr__shop_place_encode(void *buf, size_t cap, const tr_shop_place *p, size_t *len);
int tr__shop_get_encode(void *buf, size_t cap, uint64_t order, size_t *len);
/* 0, or TR_EPROTO with a reason in why[0..why_cap) ("missing key", "qty out of range", ...). */
int tr__shop_place_decode(const void *body, size_t len, tr_shop_place *out, char *why,
                          size_t why_cap);
int tr__shop_get_decode(const void *body, size_t len, uint64_t *order, char *why, size_t why_cap);
/* An answer: an order map (returns 0, *error_out ""), or a string (returns 0, the string in
 * error_out, truncated to error_cap). TR_EPROTO when it is neither. */
int tr__shop_answer_decode(const void *body, size_t len, tr_shop_order *order, char *error_out,
                           size_t error_cap);
int tr__shop_order_encode(void *buf, size_t cap, const tr_shop_order *o, size_t *len);
/* "confirmed", "cancelled", "pending". */
const char *tr__shop_state_name(tr_shop_state s);

/* One breaker of a TR_SHOP_BREAKERS answer. */
#define TR_SHOP_BREAKERS_MAX 8         /* a decoder takes at most this many */
#define TR_SHOP_BREAKER_NAME_MAX 31    /* a dependency's name, bytes */
#define TR_SHOP_BREAKERS_BODY_MAX 512u /* an answer of TR_SHOP_BREAKERS_MAX fits */
typedef struct tr_shop_breaker {
    char dependency[TR_SHOP_BREAKER_NAME_MAX + 1];
    tr_breaker_state state;
    uint64_t opened, rejected;
} tr_shop_breaker;
/* 0, TR_ETOOBIG or TR_EINVAL (n over TR_SHOP_BREAKERS_MAX, a name too long). b: n, borrowed. */
int tr__shop_breakers_encode(void *buf, size_t cap, const tr_shop_breaker *b, uint32_t n,
                             size_t *len);
/* 0 with *n breakers in out[0..TR_SHOP_BREAKERS_MAX), or TR_EPROTO (malformed, a state out of
 * range, a name too long or with a byte outside [a-z0-9_-], more than TR_SHOP_BREAKERS_MAX). */
int tr__shop_breakers_decode(const void *body, size_t len, tr_shop_breaker *out, uint32_t *n);

#endif /* TR_ACTORS_SHOP_H */
