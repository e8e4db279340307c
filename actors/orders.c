/* orders.c — the orders coordinator ("orders" on every node): it answers the client protocol
 * of shop.h and drives each order through the saga (docs/shop.md):
 *
 *   create (order entity) -> reserve (stock) -> charging -> provider -> capture (payment)
 *   -> charged -> confirmed -> sold
 *   on "out of stock", a declined or repeatedly failing payment, or the saga's time running
 *   out before the order is confirmed: cancelled -> release (stock) -> refund (payment)
 *   on the customer's cancellation of a confirmed order: cancelled ("cancelled by customer")
 *   -> release (a return of the stock sold) -> refund
 *   a refund is the payment's record (payment) then the payout (provider); a failed payout
 *   does both again
 *
 * Every step is idempotent by the order's id, and every decision is an event the order entity
 * accepts or refuses (confirmed and cancelled exclude each other), so a step may be repeated
 * and two coordinators may drive one order. The orders this node drives are recorded in its
 * store (key "p" + slot -> the order id) before the first step and deleted once the order is
 * final and its compensation or sale is done: a restarted coordinator resumes each of them
 * from the order's journal. Calls to the entities and the provider go through one circuit
 * breaker per dependency (open breakers are probed by the tick) with jittered backoff between
 * attempts; the provider's call carries its deadline. Events are published through the
 * durable outbox once the journal commit that records them answered. The client requests that
 * start, cancel and read orders are orders_client.c's. */
#include <stdio.h>
#include <string.h>

#include "actors/orders_internal.h"

static const char *const dep_names[DEP_COUNT] = {TR_SHOP_ORDER_TYPE_NAME, "stock",
                                                 TR_SHOP_PAYMENTS_NAME, TR_SHOP_PROVIDER_NAME};

static const uint8_t action_dep[] = {DEP_ORDER,   DEP_ORDER,   DEP_ORDER,   DEP_ORDER,
                                     DEP_STOCK,   DEP_STOCK,   DEP_STOCK,   DEP_PROVIDER,
                                     DEP_PAYMENT, DEP_PAYMENT, DEP_PROVIDER};

/* ---- the durable records --------------------------------------------------------------- */

static void pending_key(uint8_t key[2], uint8_t slot) {
    key[0] = 'p';
    key[1] = slot;
}

/* "p" + slot -> the order id, and a ninth byte 1 when the flight carries a cancellation */
int tr__orders_pending_put(tr_ctx *ctx, const flight *f) {
    uint8_t key[2], val[9];
    pending_key(key, f->slot);
    tr_store_be64(val, f->order);
    val[8] = f->cancel;
    return tr_kv_put(ctx, key, 2, val, f->cancel ? 9 : 8);
}

/* The breakers' openings and states under "b", when they changed (the shop's checks read it). */
static void breakers_save(tr_ctx *ctx, orders *s) {
    uint8_t now[2 * DEP_COUNT];
    for (int d = 0; d < DEP_COUNT; d++) {
        tr_breaker_status st;
        tr_breaker_status_get(&s->breakers[d], tr_now_ms(ctx), &st);
        now[d] = (uint8_t)(st.opened > 255 ? 255 : st.opened);
        now[DEP_COUNT + d] = (uint8_t)st.state;
    }
    if (memcmp(now, s->saved_breakers, sizeof now) != 0 &&
        tr_kv_put(ctx, "b", 1, now, sizeof now) == 0) {
        memcpy(s->saved_breakers, now, sizeof now);
    }
}

/* ---- answers to clients ---------------------------------------------------------------- */

/* Done: every step of a final order is recorded (its sale, or its compensation). */
static bool settled(const orders *s, const tr_order_view *v) {
    if (v->state == TR_SHOP_CONFIRMED + 1) {
        return (v->steps & TR__STEP_SOLD) || s->naive;
    }
    if (v->state == TR_SHOP_CANCELLED + 1) {
        bool refund = (v->steps & TR__STEP_CHARGING) && !(v->steps & TR__STEP_REFUNDED);
        return s->naive || ((v->steps & TR__STEP_RELEASED) && !refund);
    }
    return false;
}

/* The flight has nothing left to do: its order is settled, and a cancellation it carries is
 * decided (a confirmed order still waits for its customer's cancellation). */
bool tr__orders_done(const orders *s, const flight *f) {
    return settled(s, &f->v) && !(f->cancel && f->v.state == TR_SHOP_CONFIRMED + 1);
}

/* Answers waiter w of f with the order; "created" only to the request that created it: the
 * one whose flight's nonce the journal records as its creator. */
void tr__orders_answer_one(tr_ctx *ctx, const orders *s, const flight *f, const waiter *w,
                           bool as_is) {
    uint8_t buf[TR_SHOP_BODY_MAX];
    size_t len = 0;
    tr_shop_order o = {.id = f->order, .amount_cents = f->v.amount};
    o.state = as_is || tr__orders_done(s, f) ? (tr_shop_state)(f->v.state - 1) : TR_SHOP_PENDING;
    o.created = w->creator && f->creator != 0 && f->v.creator == f->creator;
    if (o.state == TR_SHOP_CANCELLED) {
        snprintf(o.reason, sizeof o.reason, "%s", tr__shop_reason_name(f->v.reason));
    }
    if (tr__shop_order_encode(buf, sizeof buf, &o, &len) == 0) {
        tr_reply(ctx, &w->req, w->req.type, buf, len);
    }
}

void tr__orders_answer_view(tr_ctx *ctx, const orders *s, flight *f, bool as_is) {
    for (uint32_t i = 0; i < f->waiting; i++) {
        tr__orders_answer_one(ctx, s, f, &f->waiters[i], as_is);
    }
    f->waiting = 0;
}

static void answer_str(tr_ctx *ctx, flight *f, const char *text) {
    for (uint32_t i = 0; i < f->waiting; i++) {
        tr_reply_str(ctx, &f->waiters[i].req, text, false);
    }
    f->waiting = 0;
}

static void finish(tr_ctx *ctx, orders *s, flight *f) {
    tr__orders_answer_view(ctx, s, f, f->get_only);
    if (!f->get_only) {
        uint8_t key[2];
        pending_key(key, f->slot);
        (void)tr_kv_del(ctx, key, 2);
    }
    f->used = false;
}

/* ---- events ------------------------------------------------------------------------------- */

const char *const tr__shop_topics[TR__TOPIC_COUNT] = {
    "order.created", "order.confirmed", "order.cancelled", "stock.reserved", "payment.captured"};

/* Puts the event of topic in the outbox: [order, key hash, amount, epoch] (shop_internal.h). */
static void publish(tr_ctx *ctx, orders *s, flight *f, uint32_t topic, uint64_t epoch) {
    uint8_t body[64];
    tr_mp_writer w;
    if (f->published & (1u << topic)) {
        return;
    }
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 4);
    tr_mp_write_uint(&w, f->order);
    tr_mp_write_uint(&w, f->v.key_hash);
    tr_mp_write_uint(&w, f->v.amount);
    tr_mp_write_uint(&w, epoch);
    int rc = tr_outbox_put(&s->outbox, ctx, tr__shop_topics[topic], f->order, body, w.len);
    if (rc == 0 || rc == TR_EEXIST) {
        f->published |= 1u << topic;
    }
}

/* The events the journal now records (publish-before-commit publishes the decisions when
 * they are sent instead). */
static void publish_committed(tr_ctx *ctx, orders *s, flight *f) {
    publish(ctx, s, f, TR__TOPIC_CREATED, 0);
    if (f->v.steps & TR__STEP_RESERVED) {
        publish(ctx, s, f, TR__TOPIC_RESERVED, 0);
    }
    if (f->v.steps & TR__STEP_CHARGED) {
        publish(ctx, s, f, TR__TOPIC_CAPTURED, 0);
    }
    /* a customer's cancellation of a confirmed order: order.confirmed stays as committed */
    bool confirmed = f->v.state == TR_SHOP_CONFIRMED + 1 ||
                     (f->v.state == TR_SHOP_CANCELLED + 1 && f->v.reason == TR__REASON_CUSTOMER);
    if (!s->early && confirmed) {
        publish(ctx, s, f, TR__TOPIC_CONFIRMED, f->v.confirmed_epoch);
    }
    if (!s->early && f->v.state == TR_SHOP_CANCELLED + 1) {
        publish(ctx, s, f, TR__TOPIC_CANCELLED, f->v.cancelled_epoch);
    }
}

/* ---- calls ------------------------------------------------------------------------------- */

static int send_call(tr_ctx *ctx, orders *s, flight *f, uint32_t action, const void *body,
                     size_t len, uint32_t type) {
    tr_breaker *b = &s->breakers[action_dep[action]];
    int rc;
    if (action_dep[action] == DEP_PROVIDER) {
        rc = tr_breaker_allow(b, tr_now_ms(ctx));
        if (rc == 0) {
            rc = tr_deadline_request_name(ctx, s->provider, type, tr_now_ms(ctx) + PROVIDER_MS,
                                          body, len, &f->corr);
            if (rc != 0) {
                tr_breaker_record(b, tr_now_ms(ctx), false);
            }
        }
    } else {
        rc = tr_breaker_request_name(ctx, b, dep_names[action_dep[action]], type, body, len,
                                     CALL_MS, &f->corr);
    }
    if (rc == 0) {
        f->action = (uint8_t)action;
    }
    return rc;
}

static int call_order(tr_ctx *ctx, orders *s, flight *f, uint32_t action, uint32_t event,
                      uint32_t reason) {
    uint8_t body[TR_SHOP_BODY_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    uint32_t type = action == A_CREATE ? TR__ORDER_CREATE
                    : action == A_READ ? TR__ORDER_READ
                                       : TR__ORDER_EVENT;
    tr_mp_write_array(&w, action == A_CREATE ? 7 : action == A_READ ? 1 : 3);
    tr_mp_write_uint(&w, f->order);
    if (action == A_CREATE) {
        tr_mp_write_str(&w, (const char *)f->key, f->key_len);
        tr_mp_write_uint(&w, f->v.item);
        tr_mp_write_uint(&w, f->v.qty);
        tr_mp_write_uint(&w, f->v.customer);
        tr_mp_write_uint(&w, f->v.amount);
        tr_mp_write_uint(&w, f->creator);
    } else if (action == A_EVENT) {
        tr_mp_write_uint(&w, event);
        tr_mp_write_uint(&w, reason);
        f->event = (uint8_t)event;
        f->reason = (uint8_t)reason;
        /* planted: before the commit, with the epoch of the activation last heard from */
        if (s->early && event == TR__EV_CONFIRMED) {
            publish(ctx, s, f, TR__TOPIC_CONFIRMED, f->v.epoch);
        } else if (s->early && event == TR__EV_CANCELLED) {
            publish(ctx, s, f, TR__TOPIC_CANCELLED, f->v.epoch);
        }
    }
    return w.err != 0 ? w.err : send_call(ctx, s, f, action, body, w.len, type);
}

static int call_other(tr_ctx *ctx, orders *s, flight *f, uint32_t action) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len = 0;
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    static const uint32_t types[] = {
        [A_RESERVE] = TR__STOCK_ORDER_RESERVE, [A_RELEASE] = TR__STOCK_ORDER_RELEASE,
        [A_SELL] = TR__STOCK_ORDER_SELL,       [A_PROVIDER] = TR__PROVIDER_CHARGE,
        [A_CAPTURE] = TR__PAYMENT_CAPTURE,     [A_REFUND] = TR__PAYMENT_REFUND,
        [A_PAYOUT] = TR__PROVIDER_REFUND};
    if (action_dep[action] == DEP_STOCK) {
        /* a reserve, and the release of a customer's cancellation (a return), carry the qty */
        bool ret = action == A_RELEASE && f->v.reason == TR__REASON_CUSTOMER;
        uint32_t qty = action == A_RESERVE || ret ? f->v.qty : 0;
        int rc = tr__stock_order_encode(body, sizeof body, f->v.item, qty, f->order, &len);
        if (rc != 0) {
            return rc;
        }
    } else {
        tr_mp_write_array(&w, action == A_REFUND ? 1 : 2);
        tr_mp_write_uint(&w, f->order);
        if (action != A_REFUND) {
            tr_mp_write_uint(&w, f->v.amount);
        }
        len = w.len;
    }
    return send_call(ctx, s, f, action, body, len, types[action]);
}

/* ---- the saga ---------------------------------------------------------------------------- */

/* The next call of a pending order. */
static int step_pending(tr_ctx *ctx, orders *s, flight *f) {
    uint32_t steps = f->v.steps;
    bool late = tr_now_ms(ctx) >= f->started_ms + SAGA_MS && !s->naive;
    if (f->learned & K_OUT_OF_STOCK) {
        return call_order(ctx, s, f, A_EVENT, TR__EV_CANCELLED, TR__REASON_OUT_OF_STOCK);
    }
    if (f->learned & K_DECLINED) {
        return call_order(ctx, s, f, A_EVENT, TR__EV_CANCELLED, TR__REASON_DECLINED);
    }
    if ((f->learned & K_GIVE_UP) || late) {
        uint32_t why =
            steps & TR__STEP_CHARGING ? TR__REASON_PAYMENT_FAILED : TR__REASON_STOCK_UNAVAILABLE;
        return call_order(ctx, s, f, A_EVENT, TR__EV_CANCELLED, why);
    }
    if (!(steps & TR__STEP_RESERVED)) {
        return f->learned & K_RESERVED ? call_order(ctx, s, f, A_EVENT, TR__EV_RESERVED, 0)
                                       : call_other(ctx, s, f, A_RESERVE);
    }
    if (!(steps & TR__STEP_CHARGING)) {
        return call_order(ctx, s, f, A_EVENT, TR__EV_CHARGING, 0);
    }
    if (!(steps & TR__STEP_CHARGED)) {
        if (f->learned & K_CAPTURED) {
            return call_order(ctx, s, f, A_EVENT, TR__EV_CHARGED, 0);
        }
        return call_other(ctx, s, f, f->learned & K_APPROVED ? A_CAPTURE : A_PROVIDER);
    }
    return call_order(ctx, s, f, A_EVENT, TR__EV_CONFIRMED, 0);
}

/* The next call of a final order: its sale, or its compensation. */
static int step_final(tr_ctx *ctx, orders *s, flight *f) {
    uint32_t steps = f->v.steps;
    if (f->v.state == TR_SHOP_CONFIRMED + 1) {
        return f->learned & K_SOLD ? call_order(ctx, s, f, A_EVENT, TR__EV_SOLD, 0)
                                   : call_other(ctx, s, f, A_SELL);
    }
    if (!(steps & TR__STEP_RELEASED)) {
        return f->learned & K_RELEASED ? call_order(ctx, s, f, A_EVENT, TR__EV_RELEASED, 0)
                                       : call_other(ctx, s, f, A_RELEASE);
    }
    if (!(f->learned & K_REFUNDED)) {
        return call_other(ctx, s, f, A_REFUND);
    }
    return f->learned & K_PAID_BACK ? call_order(ctx, s, f, A_EVENT, TR__EV_REFUNDED, 0)
                                    : call_other(ctx, s, f, A_PAYOUT);
}

/* A failed call (a timeout, an error of the dependency, an open breaker): try again later.
 * A journal append that failed makes the flight forget what it learned since the journal's
 * last answer and read the journal again: the journal is the saga's only memory, and every
 * step it does not record is done again (each is idempotent), exactly as after a restart. */
static void back_off(tr_ctx *ctx, orders *s, flight *f) {
    if (f->action == A_EVENT) {
        f->learned = 0;
        f->known = false;
        f->key_len = 0;
    }
    f->action = A_NONE;
    f->attempts = f->attempts < TR_RETRY_ATTEMPTS_MAX ? f->attempts + 1 : TR_RETRY_ATTEMPTS_MAX;
    f->delay_ms = tr_backoff_delay_ms(&s->backoff, f->attempts, f->delay_ms, tr_random(ctx));
    f->wake_ms = tr_now_ms(ctx) + f->delay_ms + 1;
}

void tr__orders_drive(tr_ctx *ctx, orders *s, flight *f) {
    if (!f->used || f->action != A_NONE || tr_now_ms(ctx) < f->wake_ms) {
        return;
    }
    int rc;
    if (!f->known) {
        rc = call_order(ctx, s, f, f->key_len > 0 ? A_CREATE : A_READ, 0, 0);
    } else if (f->cancel && f->v.state == TR_SHOP_CONFIRMED + 1) {
        rc = call_order(ctx, s, f, A_EVENT, TR__EV_CANCELLED, TR__REASON_CUSTOMER);
    } else if (f->get_only || tr__orders_done(s, f)) {
        finish(ctx, s, f);
        return;
    } else if (f->v.state == TR_SHOP_PENDING + 1) {
        rc = step_pending(ctx, s, f);
    } else {
        rc = step_final(ctx, s, f);
    }
    if (rc != 0) {
        back_off(ctx, s, f);
    }
}

/* ---- replies ----------------------------------------------------------------------------- */

/* An order entity's answer: the view, or a string. */
static void on_order(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m) {
    tr_order_view v;
    char text[48];
    tr_shop_order unused;
    if (tr__order_view_decode(m->body, m->body_len, &v) == 0) {
        v.tail_len = 0;
        f->v = v;
        f->known = true;
        f->attempts = 0;
        f->delay_ms = 0;
        publish_committed(ctx, s, f);
        return;
    }
    if (tr__shop_answer_decode(m->body, m->body_len, &unused, text, sizeof text) == 0 &&
        (!strcmp(text, "key conflict") || !strcmp(text, "no such order"))) {
        answer_str(ctx, f, text);
        if (!f->get_only) {
            uint8_t key[2];
            pending_key(key, f->slot);
            (void)tr_kv_del(ctx, key, 2);
        }
        f->used = false;
        return;
    }
    back_off(ctx, s, f); /* "unavailable", "busy", "indeterminate", "not owner" */
}

/* A stock answer to a reserve, release or sale. */
static void on_stock(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m) {
    tr_stock_reply rep;
    if (tr__stock_reply_decode(m->body, m->body_len, &rep) != 0 || rep.from_host ||
        rep.indeterminate || !strcmp(rep.error, "busy")) {
        back_off(ctx, s, f);
        return;
    }
    uint32_t ok_bit = f->action == A_RESERVE   ? K_RESERVED
                      : f->action == A_RELEASE ? K_RELEASED
                                               : K_SOLD;
    if (rep.ok) {
        f->learned |= ok_bit;
    } else if (f->action == A_RESERVE && !strcmp(rep.error, "out of stock")) {
        f->learned |= K_OUT_OF_STOCK;
    } else {
        f->known = false; /* decided elsewhere ("released", "sold"): read the journal */
        f->key_len = 0;
    }
}

static void on_payment(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m) {
    tr_payment_view v;
    if (tr__payment_view_decode(m->body, m->body_len, &v) != 0) {
        back_off(ctx, s, f);
        return;
    }
    if (f->action == A_REFUND) { /* nothing captured: nothing to pay back */
        f->learned |= K_REFUNDED | (v.refunded == 0 ? K_PAID_BACK : 0);
    } else if (v.status == TR__PAY_CAPTURED) {
        f->learned |= K_CAPTURED;
    } else {
        f->learned |= K_GIVE_UP; /* voided: a cancellation got there first */
    }
}

static void on_provider(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m) {
    char text[32] = "";
    tr_shop_order unused;
    if (m->type != TR_MSG_TIMEOUT) {
        (void)tr__shop_answer_decode(m->body, m->body_len, &unused, text, sizeof text);
    }
    if (f->action == A_PAYOUT) {
        /* a failed payout does the refund step again from the payment's record: its refund is
         * idempotent and answers the amount to pay back */
        f->learned = !strcmp(text, "approved") ? f->learned | K_PAID_BACK
                                               : f->learned & ~(uint32_t)K_REFUNDED;
        if (!(f->learned & K_PAID_BACK)) {
            back_off(ctx, s, f);
        }
        return;
    }
    if (!strcmp(text, "approved")) {
        f->learned |= K_APPROVED;
    } else if (!strcmp(text, "declined")) {
        f->learned |= K_DECLINED;
    } else {
        f->learned |= ++f->charge_failures >= CHARGE_ATTEMPTS && !s->naive ? K_GIVE_UP : 0;
        back_off(ctx, s, f);
    }
}

/* Is m, an answer or a timeout for f's call, a failure of its dependency? */
static bool dependency_failed(const tr_msg *m) {
    if (m->type == TR_MSG_TIMEOUT) {
        return true;
    }
    tr_mp_reader r;
    const char *text;
    uint32_t n;
    tr_mp_reader_init(&r, m->body, m->body_len);
    if (tr_mp_peek(&r) != TR_MP_STR || tr_mp_read_str(&r, &text, &n) != 0) {
        return false;
    }
    return tr_mp_str_eq(text, n, "unavailable") || tr_mp_str_eq(text, n, "indeterminate") ||
           tr_mp_str_eq(text, n, "error");
}

static void on_answer(tr_ctx *ctx, orders *s, flight *f, const tr_msg *m) {
    uint32_t action = f->action;
    tr_breaker_record(&s->breakers[action_dep[action]], tr_now_ms(ctx), !dependency_failed(m));
    if (m->type == TR_MSG_TIMEOUT && action_dep[action] != DEP_PROVIDER) {
        back_off(ctx, s, f);
        return;
    }
    switch (action_dep[action]) { /* each reads f->action: the call answered */
    case DEP_ORDER: on_order(ctx, s, f, m); break;
    case DEP_STOCK: on_stock(ctx, s, f, m); break;
    case DEP_PAYMENT: on_payment(ctx, s, f, m); break;
    default: on_provider(ctx, s, f, m); break;
    }
    f->action = A_NONE;
    if (f->used && f->action == A_NONE) {
        if (f->known && f->waiting > 0 && tr__orders_done(s, f)) {
            tr__orders_answer_view(ctx, s, f, false);
        }
        tr__orders_drive(ctx, s, f);
    }
}

/* ---- the tick ---------------------------------------------------------------------------- */

/* A probe through each breaker that is not closed, so that it closes once its dependency is
 * back even when no order needs it. */
static void probe(tr_ctx *ctx, orders *s) {
    static const uint8_t order_read[] = {0x91, 0x01};        /* [1] */
    static const uint8_t charge_zero[] = {0x92, 0x01, 0x00}; /* [1, 0]: "bad request" */
    uint8_t stock_read[TR_STOCK_BODY_MAX];
    size_t len = 0;
    tr_stock_request rq = {.item = 0};
    (void)tr__stock_request_encode(stock_read, sizeof stock_read, &rq, &len);
    const void *bodies[DEP_COUNT] = {order_read, stock_read, order_read, charge_zero};
    const size_t lens[DEP_COUNT] = {2, len, 2, 3};
    const uint32_t types[DEP_COUNT] = {TR__ORDER_READ, TR_STOCK_READ, TR__PAYMENT_READ,
                                       TR__PROVIDER_CHARGE};
    for (int d = 0; d < DEP_COUNT; d++) {
        tr_breaker_status st;
        tr_breaker_status_get(&s->breakers[d], tr_now_ms(ctx), &st);
        if (st.state != TR_BREAKER_CLOSED && s->probe_corr[d] == 0 && st.retry_after_ms == 0) {
            const char *name = d == DEP_PROVIDER ? s->provider : dep_names[d];
            (void)tr_breaker_request_name(ctx, &s->breakers[d], name, types[d], bodies[d], lens[d],
                                          CALL_MS, &s->probe_corr[d]);
        }
    }
}

static void tick(tr_ctx *ctx, orders *s) {
    uint64_t now = tr_now_ms(ctx);
    for (int i = 0; i < FLIGHTS; i++) {
        flight *f = &s->flights[i];
        for (uint32_t w = 0; f->used && w < f->waiting;) {
            if (now < f->waiters[w].deadline_ms) {
                w++;
                continue;
            }
            f->known ? tr__orders_answer_one(ctx, s, f, &f->waiters[w], f->get_only)
                     : (void)tr_reply_str(ctx, &f->waiters[w].req, "deadline exceeded", false);
            memmove(&f->waiters[w], &f->waiters[w + 1],
                    (f->waiting - w - 1) * sizeof f->waiters[0]);
            f->waiting--;
        }
        tr__orders_drive(ctx, s, f);
    }
    probe(ctx, s);
    breakers_save(ctx, s);
}

/* TR_SHOP_BREAKERS: each breaker's state and counts, for a node's metrics (docs/metrics.md). */
static void on_breakers(tr_ctx *ctx, const orders *s, const tr_msg *m) {
    tr_shop_breaker b[DEP_COUNT];
    for (int d = 0; d < DEP_COUNT; d++) {
        tr_breaker_status st;
        tr_breaker_status_get(&s->breakers[d], tr_now_ms(ctx), &st);
        b[d] = (tr_shop_breaker){.state = st.state, .opened = st.opened, .rejected = st.rejected};
        snprintf(b[d].dependency, sizeof b[d].dependency, "%s", dep_names[d]);
    }
    uint8_t body[TR_SHOP_BREAKERS_BODY_MAX];
    size_t len = 0;
    if (tr__shop_breakers_encode(body, sizeof body, b, DEP_COUNT, &len) == 0) {
        (void)tr_reply(ctx, m, TR_SHOP_BREAKERS, body, len);
    }
}

/* ---- the behaviour ----------------------------------------------------------------------- */

static int orders_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    orders *s = state;
    const tr_orders_config *cfg = arg;
    if (len != sizeof *cfg || memchr(cfg->provider, 0, sizeof cfg->provider) == NULL ||
        cfg->provider[0] == 0) {
        return TR_EINVAL;
    }
    s->place = cfg->place;
    memcpy(s->provider, cfg->provider, sizeof s->provider);
    s->naive = !strcmp(s->place.bug, TR_SHOP_BUG_NAIVE);
    s->early = !strcmp(s->place.bug, TR_SHOP_BUG_PUBLISH_EARLY);
    s->volatile_ids = !strcmp(s->place.bug, TR_SHOP_BUG_VOLATILE_IDEMPOTENCY);
    s->salt = tr_random(ctx);
    /* the first tick stores the breakers: a restarted coordinator's start afresh, closed, and
     * what the store held was its previous life's */
    memset(s->saved_breakers, 0xff, sizeof s->saved_breakers);
    tr_breaker_config bc;
    tr_breaker_config_init(&bc);
    bc.consecutive_failures = 3;
    bc.open_ms = 1000;
    for (int d = 0; d < DEP_COUNT; d++) {
        int rc = tr_breaker_init(&s->breakers[d], &bc, tr_now_ms(ctx));
        if (rc != 0) {
            return rc;
        }
    }
    tr_retry_policy_init(&s->backoff);
    s->backoff.max_attempts = TR_RETRY_ATTEMPTS_MAX;
    s->backoff.max_ms = 1000;
    tr_outbox_config oc = {0};
    int rc = tr_outbox_init(&s->outbox, ctx, &oc);
    for (int i = 0; rc == 0 && i < FLIGHTS; i++) { /* resume what the store says is pending */
        uint8_t key[2], val[9];
        size_t n = 0;
        pending_key(key, (uint8_t)i);
        if (tr_kv_get(ctx, key, 2, val, sizeof val, &n) == 0 && (n == 8 || n == 9)) {
            s->flights[i] = (flight){.used = true,
                                     .cancel = n == 9 && val[8] == 1,
                                     .slot = (uint8_t)i,
                                     .order = tr_load_be64(val),
                                     .started_ms = tr_now_ms(ctx)};
        }
    }
    uint64_t timer;
    return rc != 0 ? rc : tr_timer_start(ctx, TICK_MS, TICK_MS, TR__SHOP_TICK, &timer);
}

static int orders_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    orders *s = state;
    if (tr_outbox_receive(&s->outbox, ctx, m)) {
        return TR_CONTINUE;
    }
    if ((m->type == TR_SHOP_PLACE || m->type == TR_SHOP_GET || m->type == TR_SHOP_CANCEL) &&
        !tr_msg_is_reply(m) && !tr_addr_is_none(m->from)) {
        tr__orders_on_client(ctx, s, m);
    } else if (m->type == TR_SHOP_BREAKERS && !tr_msg_is_reply(m) && !tr_addr_is_none(m->from)) {
        on_breakers(ctx, s, m);
    } else if (m->type == TR__SHOP_TICK) {
        tick(ctx, s);
    } else if (m->corr != 0 && (tr_msg_is_reply(m) || m->type == TR_MSG_TIMEOUT)) {
        for (int d = 0; d < DEP_COUNT; d++) {
            if (s->probe_corr[d] == m->corr) {
                tr_breaker_record(&s->breakers[d], tr_now_ms(ctx), !dependency_failed(m));
                s->probe_corr[d] = 0;
                return TR_CONTINUE;
            }
        }
        for (int i = 0; i < FLIGHTS; i++) {
            flight *f = &s->flights[i];
            if (f->used && f->action != A_NONE && f->corr == m->corr) {
                on_answer(ctx, s, f, m);
                break;
            }
        }
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__orders_behaviour = {.name = TR_SHOP_ORDERS_NAME,
                                           .state_size = sizeof(orders),
                                           .init = orders_init,
                                           .receive = orders_receive};
