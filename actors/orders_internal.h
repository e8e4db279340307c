/* orders_internal.h — the orders coordinator's state, shared by its files: orders.c (the
 * saga, the replies of the dependencies, the tick and the behaviour) and orders_client.c (the
 * client requests that start, cancel and read orders). Not part of the public API. */
#ifndef TR_ORDERS_INTERNAL_H
#define TR_ORDERS_INTERNAL_H

#include "actors/shop_internal.h"

#define FLIGHTS 64
#define TICK_MS 100
#define CALL_MS 600      /* an entity call's timeout */
#define PROVIDER_MS 1000 /* the provider's deadline */
#define SAGA_MS 5000     /* an order still pending after this long is cancelled */
#define CHARGE_ATTEMPTS 3
#define VOLATILE_KEYS 256
#define WAITERS 4 /* requests waiting for one order's answer */

enum { /* dependencies, one breaker each */
    DEP_ORDER = 0,
    DEP_STOCK,
    DEP_PAYMENT,
    DEP_PROVIDER,
    DEP_COUNT
};

enum { /* the call a flight has out */
    A_NONE = 0,
    A_CREATE,
    A_READ,
    A_EVENT,
    A_RESERVE,
    A_RELEASE,
    A_SELL,
    A_PROVIDER,
    A_CAPTURE,
    A_REFUND,
    A_PAYOUT /* the provider pays a refund back */
};

enum { /* what a flight learned from the dependencies, before the journal records it */
    K_RESERVED = 1u << 0,
    K_OUT_OF_STOCK = 1u << 1,
    K_APPROVED = 1u << 2,
    K_DECLINED = 1u << 3,
    K_CAPTURED = 1u << 4,
    K_SOLD = 1u << 5,
    K_RELEASED = 1u << 6,
    K_REFUNDED = 1u << 7,
    K_GIVE_UP = 1u << 8,
    K_PAID_BACK = 1u << 9 /* the provider paid the refund back (or nothing was captured) */
};

/* A client request waiting for its order's answer. */
typedef struct waiter {
    tr_msg req; /* type, from, corr and trace: enough for tr_reply */
    uint64_t deadline_ms;
    bool creator; /* the PLACE that started this flight's CREATE */
} waiter;

typedef struct flight {
    bool used, known, get_only;
    bool cancel; /* the customer cancels the order once it is confirmed (TR_SHOP_CANCEL) */
    uint8_t action, event, reason;
    uint8_t slot; /* its pending record "p" + slot */
    uint64_t order;
    tr_order_view v;
    uint32_t learned;   /* K_* */
    uint32_t published; /* 1 << TR__TOPIC_*: events put in the outbox by this flight */
    uint32_t attempts, charge_failures, delay_ms;
    uint64_t corr, wake_ms, started_ms;
    waiter waiters[WAITERS]; /* oldest first */
    uint8_t waiting;
    uint64_t creator; /* the nonce its CREATE carries (0: it sends none) */
    uint8_t key[TR_SHOP_KEY_MAX];
    uint32_t key_len;
} flight;

typedef struct orders {
    tr_service_place place;
    char provider[TR_NAME_MAX + 1]; /* the provider's name: local, or on the payments node */
    bool naive, early, volatile_ids;
    tr_breaker breakers[DEP_COUNT];
    uint64_t probe_corr[DEP_COUNT];
    uint8_t saved_breakers[2 * DEP_COUNT];
    tr_retry_policy backoff;
    uint64_t salt;
    uint64_t volatile_keys[VOLATILE_KEYS][2]; /* key hash -> order id (the planted bug) */
    uint32_t volatile_next;
    flight flights[FLIGHTS];
    tr_outbox outbox;
} orders;

/* orders.c */
/* "p" + slot -> the order id (and a cancellation byte): the flight is resumed after a restart. */
int tr__orders_pending_put(tr_ctx *ctx, const flight *f);
/* The flight has nothing left to do (its order settled, a cancellation it carries decided). */
bool tr__orders_done(const orders *s, const flight *f);
/* Answers waiter w of f with the order (as it is, or pending until it is done). */
void tr__orders_answer_one(tr_ctx *ctx, const orders *s, const flight *f, const waiter *w,
                           bool as_is);
/* Answers every waiter of f with the order, and forgets them. */
void tr__orders_answer_view(tr_ctx *ctx, const orders *s, flight *f, bool as_is);
/* Takes f's saga one step on when no call is out and its back-off is over: sends its next call
 * (backing off when it cannot be sent), or finishes the flight. */
void tr__orders_drive(tr_ctx *ctx, orders *s, flight *f);

/* orders_client.c */
/* A client's PLACE, CANCEL or GET (a request, not a reply). */
void tr__orders_on_client(tr_ctx *ctx, orders *s, const tr_msg *m);

#endif /* TR_ORDERS_INTERNAL_H */
