/* orders_client.c — the orders coordinator's client requests (shop.h): a PLACE starts or
 * joins its order's flight (one per order id, which is a function of the idempotency key), a
 * CANCEL makes the flight carry the customer's cancellation, a GET reads the order; each
 * request waits on its flight for the answer, up to its deadline (the tick answers those
 * whose deadline passed). The saga itself is orders.c's. */
#include <stdio.h>
#include <string.h>

#include "actors/orders_internal.h"

static flight *flight_of(orders *s, uint64_t order) {
    for (int i = 0; i < FLIGHTS; i++) {
        if (s->flights[i].used && s->flights[i].order == order) {
            return &s->flights[i];
        }
    }
    return NULL;
}

static flight *flight_new(orders *s, uint64_t order, uint64_t now_ms) {
    for (int i = 0; i < FLIGHTS; i++) {
        flight *f = &s->flights[i];
        if (!f->used) {
            memset(f, 0, sizeof *f);
            *f = (flight){.used = true, .slot = (uint8_t)i, .order = order, .started_ms = now_ms};
            return f;
        }
    }
    return NULL;
}

/* m waits for f's answer; when WAITERS already wait, the oldest is answered now (the order
 * as it is, or "busy" while it is not known yet). */
static void attach(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m, uint64_t deadline_ms,
                   bool creator) {
    if (f->waiting == WAITERS) {
        waiter *old = &f->waiters[0];
        f->known ? tr__orders_answer_one(ctx, s, f, old, f->get_only)
                 : (void)tr_reply_str(ctx, &old->req, "busy", false);
        memmove(&f->waiters[0], &f->waiters[1], (WAITERS - 1) * sizeof f->waiters[0]);
        f->waiting--;
    }
    waiter *w = &f->waiters[f->waiting++];
    memset(w, 0, sizeof *w);
    w->req.type = m->type;
    w->req.from = m->from;
    w->req.corr = m->corr;
    w->req.trace = m->trace;
    w->deadline_ms = deadline_ms;
    w->creator = creator;
}

/* The order id of a key: a function of the key; the planted bugs keep it in memory. */
static uint64_t order_id(tr_ctx *ctx, orders *s, const tr_shop_place *p) {
    uint64_t hash = tr__shop_key_hash(p->key, p->key_len);
    if (s->naive) { /* planted: every request is a new order */
        return (hash ^ tr_random(ctx)) % ((1ull << 53) - 1) + 1;
    }
    if (!s->volatile_ids) {
        return tr__shop_order_id(p->key, p->key_len);
    }
    for (uint32_t i = 0; i < VOLATILE_KEYS; i++) { /* planted: a table in memory only */
        if (s->volatile_keys[i][0] == hash) {
            return s->volatile_keys[i][1];
        }
    }
    uint64_t id = (hash ^ s->salt) % ((1ull << 53) - 1) + 1;
    s->volatile_keys[s->volatile_next][0] = hash;
    s->volatile_keys[s->volatile_next][1] = id;
    s->volatile_next = (s->volatile_next + 1) % VOLATILE_KEYS;
    return id;
}

/* A new order is refused at once while the provider's breaker is not closed: its charge
 * would fail or wait out its timeout, and an order refused before its first step needs no
 * compensation. The tick's probe closes the breaker once the provider answers again. */
static bool payments_refused(tr_ctx *ctx, orders *s) {
    tr_breaker_status st;
    tr_breaker_status_get(&s->breakers[DEP_PROVIDER], tr_now_ms(ctx), &st);
    return st.state != TR_BREAKER_CLOSED && !s->naive;
}

/* Attaches the request to its order's flight, answers at once if the order is already final,
 * and drives the flight on. */
static void attach_and_drive(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m,
                             uint64_t deadline_ms, bool creator) {
    attach(ctx, s, f, m, deadline_ms, creator);
    if (f->known && tr__orders_done(s, f)) {
        tr__orders_answer_view(ctx, s, f, false);
    }
    tr__orders_drive(ctx, s, f);
}

/* The order id of a get or cancel body; else answers "bad request: ..." and returns -1. */
static int decode_id(tr_ctx *ctx, const tr_msg *m, const uint8_t *body, size_t len, uint64_t *id) {
    char why[64], text[96];
    if (tr__shop_get_decode(body, len, id, why, sizeof why) != 0) {
        snprintf(text, sizeof text, "bad request: %s", why);
        tr_reply_str(ctx, m, text, false);
        return -1;
    }
    return 0;
}

static void on_place(tr_ctx *ctx, orders *s, const tr_msg *m, const uint8_t *body, size_t len,
                     uint64_t deadline_ms) {
    tr_shop_place p;
    char why[64], text[96];
    if (tr__shop_place_decode(body, len, &p, why, sizeof why) != 0) {
        snprintf(text, sizeof text, "bad request: %s", why);
        tr_reply_str(ctx, m, text, false);
        return;
    }
    uint64_t id = order_id(ctx, s, &p);
    flight *f = flight_of(s, id);
    if ((f == NULL || f->get_only) && payments_refused(ctx, s)) {
        tr_reply_str(ctx, m, "breaker open: " TR_SHOP_PROVIDER_NAME, false);
        return;
    }
    bool creator = f == NULL || f->get_only; /* this request starts the order's CREATE */
    if (creator) {
        f = f == NULL ? flight_new(s, id, tr_now_ms(ctx)) : f;
        if (f == NULL) {
            tr_reply_str(ctx, m, "busy", false);
            return;
        }
        f->get_only = false;
        f->creator = tr_random(ctx) | 1;
        f->v = (tr_order_view){.item = p.item,
                               .qty = p.qty,
                               .customer = p.customer,
                               .amount = p.qty * tr__shop_price_cents(p.item)};
        memcpy(f->key, p.key, p.key_len);
        f->key_len = p.key_len;
        f->known = false;
        if (tr__orders_pending_put(ctx, f) != 0) {
            f->used = false;
            tr_reply_str(ctx, m, "unavailable", false);
            return;
        }
    }
    attach_and_drive(ctx, s, f, m, deadline_ms, creator);
}

/* A customer's cancellation: the order's flight (a new one reads the journal first) carries
 * it, records itself as pending like a place, and answers once the order is cancelled and its
 * compensation done. */
static void on_cancel(tr_ctx *ctx, orders *s, const tr_msg *m, const uint8_t *body, size_t len,
                      uint64_t deadline_ms) {
    uint64_t id;
    if (decode_id(ctx, m, body, len, &id) != 0) {
        return;
    }
    flight *f = flight_of(s, id);
    bool fresh = f == NULL || f->get_only; /* no saga of this node drives it yet */
    f = f == NULL ? flight_new(s, id, tr_now_ms(ctx)) : f;
    if (f == NULL) {
        tr_reply_str(ctx, m, "busy", false);
        return;
    }
    if (!f->cancel) { /* the cancellation is durable: a restarted coordinator resumes it */
        f->get_only = false;
        f->cancel = true;
        if (tr__orders_pending_put(ctx, f) != 0) {
            f->cancel = false;
            f->used = !fresh;
            tr_reply_str(ctx, m, "unavailable", false);
            return;
        }
    }
    attach_and_drive(ctx, s, f, m, deadline_ms, false);
}

static void on_get(tr_ctx *ctx, orders *s, const tr_msg *m, const uint8_t *body, size_t len,
                   uint64_t deadline_ms) {
    uint64_t id;
    if (decode_id(ctx, m, body, len, &id) != 0) {
        return;
    }
    flight *f = flight_of(s, id);
    if (f != NULL && f->known) {
        attach(ctx, s, f, m, deadline_ms, false);
        tr__orders_answer_view(ctx, s, f, true);
        return;
    }
    if (f == NULL && (f = flight_new(s, id, tr_now_ms(ctx))) != NULL) {
        f->get_only = true;
    }
    if (f == NULL) {
        tr_reply_str(ctx, m, "busy", false);
        return;
    }
    attach(ctx, s, f, m, deadline_ms, false);
    tr__orders_drive(ctx, s, f);
}

void tr__orders_on_client(tr_ctx *ctx, orders *s, const tr_msg *m) {
    tr_deadline d;
    int rc = tr_deadline_read(ctx, m, &d);
    if (rc != 0) {
        tr_reply_str(ctx, m, rc == TR_ETIMEDOUT ? "deadline exceeded" : "bad request: deadline",
                     false);
        return;
    }
    uint64_t now = tr_now_ms(ctx);
    uint64_t at = d.has ? d.at_ms : now + TR_SHOP_DEADLINE_MS;
    at = at > now + TR_SHOP_DEADLINE_MAX_MS ? now + TR_SHOP_DEADLINE_MAX_MS : at;
    if (m->type == TR_SHOP_PLACE) {
        on_place(ctx, s, m, d.body, d.body_len, at);
    } else if (m->type == TR_SHOP_CANCEL) {
        on_cancel(ctx, s, m, d.body, d.body_len, at);
    } else {
        on_get(ctx, s, m, d.body, d.body_len, at);
    }
}
