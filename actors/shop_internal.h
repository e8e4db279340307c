/* shop_internal.h — the private tier of the shop's services (docs/shop.md): the "order" and
 * "payment" entity types, the shop's variant of the "stock" type, the payment provider, the
 * orders coordinator and the event audit, with the bodies they exchange.
 *
 * Internal requests to an entity are msgpack arrays whose first element is the entity's id
 * (the order id for "order" and "payment"), so the entity host finds the id by itself. */
#ifndef TR_ACTORS_SHOP_INTERNAL_H
#define TR_ACTORS_SHOP_INTERNAL_H

#include "actors/shop.h"
#include "actors/stock.h"

/* ---- planted bugs (tr_service_place.bug / tr_entity_call.bug names) ---- */
#define TR_SHOP_BUG_NAIVE "naive-order"
#define TR_SHOP_BUG_PUBLISH_EARLY "publish-before-commit"
#define TR_SHOP_BUG_VOLATILE_IDEMPOTENCY "volatile-idempotency"
#define TR_SHOP_BUG_REFUND_TWICE "refund-not-idempotent"

/* The shop's entities (order, payment, stock) send a load or a write again to the hosts that
 * have not answered it after this long (tr_entity_type.resend_ms): with a bare majority of
 * hosts left, one lost message would otherwise fail the phase. */
#define TR__SHOP_RESEND_MS 100
/* Their Raft groups' election timeout (tr_entity_type.election_ms): well above the 200 ms a
 * retransmitted segment delays a stream, so that one slow follower of a bare majority does
 * not depose the leader and lapse every lease. */
#define TR__SHOP_ELECTION_MS 600

/* ---- message types ---- */
enum {
    TR__SHOP_TICK = TR_SHOP_INTERNAL_BASE,     /* the coordinator's timer */
    TR__SHOP_PROVIDER_FAULT,                   /* [mode]: the simulated provider's fault on/off */
    TR__SHOP_PROVIDER_TIMER,                   /* the provider's delayed answer */
    TR__SHOP_AUDIT_STATS,                      /* [] -> [events recorded, duplicates] */
    TR__ORDER_CREATE = TR_SHOP_ORDER_REQ_BASE, /* [id, key, item, qty, customer, amount,
                                                  creator nonce] */
    TR__ORDER_EVENT,                           /* [id, event, reason] */
    TR__ORDER_READ,                            /* [id] */
    TR__PAYMENT_CAPTURE = TR_SHOP_PAYMENT_REQ_BASE, /* [id, amount] */
    TR__PAYMENT_REFUND,                             /* [id] */
    TR__PAYMENT_READ,                               /* [id] */
    TR__PROVIDER_CHARGE = TR_SHOP_PROVIDER_BASE,    /* [id, amount] -> "approved"|"declined" */
    TR__PROVIDER_REFUND,                            /* [id, amount] -> "approved" (paid back) */
    TR__STOCK_ORDER_RESERVE = TR_STOCK_DEBIT + 1,   /* {"item", "qty", "order"} */
    TR__STOCK_ORDER_RELEASE, /* {"item", "order"}; a return adds "qty": the order's */
    TR__STOCK_ORDER_SELL     /* {"item", "order"} */
};

/* ---- the order: an event-sourced entity ----
 * State (TR__ORDER_STATE_SIZE bytes, big-endian): the snapshot (the folded journal) and the
 * journal's tail, its last TR__ORDER_TAIL events in order:
 *   [0] state (0 none, then tr_shop_state + 1), [1] steps (TR__STEP_* bits), [2] reason,
 *   [3] key length, [4, 12) amount, [12, 16) item, [16, 20) qty, [20, 24) customer,
 *   [24, 88) key, [88] tail length, [89, 89 + TR__ORDER_TAIL) the tail's event codes,
 *   then 8 bytes: the creator, the nonce of the PLACE request that created the order; then
 *   8 + 8 bytes: the fencing epochs (tr_entity_call.epoch) of the activations that committed
 *   the confirmation and the cancellation (0: not decided so). */
#define TR__ORDER_TAIL 16
#define TR__ORDER_CREATOR_AT (89 + TR__ORDER_TAIL)
#define TR__ORDER_STATE_SIZE (TR__ORDER_CREATOR_AT + 24)

enum { /* journal events (the tail's codes); each sets its step bit */
    TR__EV_CREATED = 1,
    TR__EV_RESERVED = 2,
    TR__EV_CHARGING = 3,
    TR__EV_CHARGED = 4,
    TR__EV_CONFIRMED = 5,
    TR__EV_CANCELLED = 6,
    TR__EV_RELEASED = 7,
    TR__EV_REFUNDED = 8,
    TR__EV_SOLD = 9
};
enum {
    TR__STEP_RESERVED = 1u << 0,
    TR__STEP_CHARGING = 1u << 1,
    TR__STEP_CHARGED = 1u << 2,
    TR__STEP_RELEASED = 1u << 3,
    TR__STEP_REFUNDED = 1u << 4,
    TR__STEP_SOLD = 1u << 5
};
enum { /* cancellation reasons */
    TR__REASON_NONE = 0,
    TR__REASON_OUT_OF_STOCK = 1,
    TR__REASON_DECLINED = 2,
    TR__REASON_PAYMENT_FAILED = 3,
    TR__REASON_STOCK_UNAVAILABLE = 4,
    TR__REASON_CUSTOMER = 5, /* TR_SHOP_CANCEL of a confirmed order: only ever from confirmed */
    TR__REASON_COUNT
};
const char *tr__shop_reason_name(uint32_t reason);

typedef struct tr_order_view {
    uint32_t state; /* 0: no such order; else tr_shop_state + 1 */
    uint32_t steps, reason;
    uint64_t amount;
    uint32_t item, qty, customer;
    uint32_t key_len;
    uint8_t key[TR_SHOP_KEY_MAX];
    uint32_t tail_len;
    uint8_t tail[TR__ORDER_TAIL];
    uint64_t key_hash; /* in a decoded answer (the key itself is not sent) */
    uint64_t creator;  /* the nonce of the PLACE request that created it */
    uint64_t epoch;    /* in an answer: the answering activation's epoch (not stored) */
    uint64_t confirmed_epoch, cancelled_epoch; /* the epochs that committed the decisions */
} tr_order_view;

int tr__order_state_decode(const void *state, size_t len, tr_order_view *v);
/* The view as the entity answers it: [state, steps, reason, amount, item, qty, customer,
 * key hash, creator, epoch, confirmed epoch, cancelled epoch] (key_hash: tr__shop_key_hash
 * of the order's key). */
int tr__order_view_encode(tr_mp_writer *w, const tr_order_view *v);
int tr__order_view_decode(const void *body, size_t len, tr_order_view *v);
extern const tr_entity_type tr__order_type;

/* ---- the payment: an entity per order (id = the order's id) ----
 * State: [0] status (TR__PAY_*), [1, 9) captured cents, [9, 17) refunded cents. Answers:
 * [status, captured, refunded]. */
enum {
    TR__PAY_NONE = 0,
    TR__PAY_CAPTURED = 1,
    TR__PAY_REFUNDED = 2,
    TR__PAY_VOIDED = 3 /* refunded before any capture: a late capture is refused */
};
#define TR__PAYMENT_STATE_SIZE 17
typedef struct tr_payment_view {
    uint32_t status;
    uint64_t captured, refunded;
} tr_payment_view;
int tr__payment_state_decode(const void *state, size_t len, tr_payment_view *v);
int tr__payment_view_decode(const void *body, size_t len, tr_payment_view *v);
extern const tr_entity_type tr__payment_type;

/* ---- the provider ---- */
typedef struct tr_provider_config {
    uint32_t delay_ms;        /* every answer waits this long */
    uint32_t fail_percent;    /* answered "error" */
    uint32_t decline_percent; /* answered "declined" */
} tr_provider_config;
/* TR_SHOP_PROVIDER_NAME's behaviour; its spawn argument is a tr_provider_config. Modes set by
 * TR__SHOP_PROVIDER_FAULT [mode]: 0 healthy, 1 failing, 2 slow (answers after 5 s),
 * 3 silent (never answers). */
extern const tr_behaviour tr__provider_behaviour;
#define TR__PROVIDER_SLOW_MS 5000

/* ---- the shop's stock: items with reservations by order ----
 * State (big-endian): [0, 8) level, [8, 16) restocked, [16, 24) reserved, [24, 32) sold,
 * [32] records n <= TR__STOCK_RECORDS, then n records of 10 bytes: id (8), qty (1),
 * status (1: TR__RES_*), oldest first. Conservation, per item:
 * TR_STOCK_INITIAL + restocked = level + reserved + sold (a return moves its units from sold
 * back to level). */
#define TR__STOCK_RECORDS 96 /* the state then fits TR_ENTITY_STATE_MAX */
#define TR__STOCK_ORDERS_STATE_SIZE (33 + TR__STOCK_RECORDS * 10)
enum {
    TR__RES_RESERVED = 1,
    TR__RES_REFUSED = 2, /* out of stock: nothing held */
    TR__RES_SOLD = 3,
    TR__RES_RELEASED = 4,
    TR__RES_RESTOCK = 5, /* a restock's id */
    TR__RES_RETURNED = 6 /* sold, then released (its order cancelled by the customer) */
};
typedef struct tr_stock_account {
    int64_t level, restocked, reserved, sold;
} tr_stock_account;
int tr__stock_orders_account(const void *state, size_t len, tr_stock_account *out);
extern const tr_entity_type tr__stock_orders_type;
/* {"item", "qty" (0: none), "order"} into buf; TR_STOCK_BODY_MAX bytes suffice. */
int tr__stock_order_encode(void *buf, size_t cap, uint32_t item, uint32_t qty, uint64_t order,
                           size_t *len);

/* ---- the coordinator and the audit ---- */
/* The coordinator's spawn argument: where it runs, and the registered name it calls the
 * payment provider by: "payment-provider" (this node's: the simulator's layout) or
 * "payment-provider@nK" (one payments node serves every coordinator). NUL-terminated. */
typedef struct tr_orders_config {
    tr_service_place place;
    char provider[TR_NAME_MAX + 1];
} tr_orders_config;
extern const tr_behaviour tr__orders_behaviour; /* spawn argument: tr_orders_config */
#define TR__SHOP_AUDIT_NAME "shop-audit"
extern const tr_behaviour tr__audit_behaviour; /* spawn argument: tr_service_place */
/* The audit's records in its store: key "a" + slot (4 bytes big-endian) for slots
 * 0..count-1, count under "n" (8 bytes); a record is [topic code (1), order (8), key
 * hash (8), amount (8), seen (1)]. Topic codes: TR__TOPIC_*. At most TR__AUDIT_MAX records.
 * On order.confirmed and order.cancelled the audit reads the order, as any subscriber
 * reacting to the event would: seen is TR__SEEN_HELD when the journal showed the event's
 * fact, TR__SEEN_PREMATURE when it did not (the event came before its commit), 0 when the
 * read got no answer. */
#define TR__AUDIT_MAX 8192
#define TR__AUDIT_RECORD_SIZE 34 /* ..., seen (1), the event's epoch (8) */
enum {
    TR__SEEN_UNKNOWN = 0,
    TR__SEEN_HELD = 1,
    TR__SEEN_PREMATURE = 2
};
enum {
    TR__TOPIC_CREATED = 0,
    TR__TOPIC_CONFIRMED = 1,
    TR__TOPIC_CANCELLED = 2,
    TR__TOPIC_RESERVED = 3,
    TR__TOPIC_CAPTURED = 4,
    TR__TOPIC_COUNT
};
extern const char *const tr__shop_topics[TR__TOPIC_COUNT];
/* An event's body: [order, key hash, amount, epoch]: epoch, of order.confirmed and
 * order.cancelled, is the epoch of the activation that committed the decision in the order's
 * journal (tr_order_view.confirmed_epoch, cancelled_epoch), so that the event is the committed
 * record; 0 for the other topics. */
uint64_t tr__shop_key_hash(const void *key, size_t len); /* FNV-1a 64, full width */

#endif /* TR_ACTORS_SHOP_INTERNAL_H */
