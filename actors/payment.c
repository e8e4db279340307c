/* payment.c — the "payment" entity (one per order: its capture and refund, idempotent) and
 * the payment provider actor it stands in front of (shop_internal.h).
 *
 * The entity's state is the payment's ledger: what was captured and what was refunded. A
 * capture is applied once (a retry answers what holds); a refund moves a capture to refunded
 * once, and a refund before any capture voids the payment, so that a capture arriving late
 * (its request delayed past the saga's decision to cancel) is refused. */
#include <string.h>

#include "actors/shop_internal.h"

int tr__payment_state_decode(const void *state, size_t len, tr_payment_view *v) {
    const uint8_t *p = state;
    memset(v, 0, sizeof *v);
    if (len == 0) {
        return 0;
    }
    if (len != TR__PAYMENT_STATE_SIZE || p[0] > TR__PAY_VOIDED) {
        return TR_ECORRUPT;
    }
    *v = (tr_payment_view){p[0], tr_load_be64(p + 1), tr_load_be64(p + 9)};
    return 0;
}

int tr__payment_view_decode(const void *body, size_t len, tr_payment_view *v) {
    tr_mp_reader r;
    uint32_t n;
    int64_t f[3];
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_peek(&r) != TR_MP_ARRAY || tr_mp_read_array(&r, &n) != 0 || n != 3) {
        return TR_EPROTO;
    }
    for (int i = 0; i < 3; i++) {
        if (tr_mp_read_int(&r, &f[i]) != 0 || f[i] < 0) {
            return TR_EPROTO;
        }
    }
    if (tr_mp_reader_done(&r) != 0 || f[0] > TR__PAY_VOIDED) {
        return TR_EPROTO;
    }
    *v = (tr_payment_view){(uint32_t)f[0], (uint64_t)f[1], (uint64_t)f[2]};
    return 0;
}

static int payment_handle(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    (void)ctx;
    tr_payment_view v;
    int64_t f[2] = {0, 0};
    int n = tr_msg_read_ints(msg, f, 2);
    if (tr__payment_state_decode(call->state, call->len, &v) != 0) {
        return TR_ECORRUPT;
    }
    bool changed = false;
    if (msg->type == TR__PAYMENT_CAPTURE && n == 2 && f[1] > 0) {
        if (v.status == TR__PAY_NONE) {
            v = (tr_payment_view){TR__PAY_CAPTURED, (uint64_t)f[1], 0};
            changed = true;
        }
    } else if (msg->type == TR__PAYMENT_REFUND && n == 1) {
        bool twice = strcmp(call->bug, TR_SHOP_BUG_REFUND_TWICE) == 0;
        if (v.status == TR__PAY_CAPTURED || (twice && v.status == TR__PAY_REFUNDED)) {
            /* planted: every refund of a captured payment pays the amount back again */
            v.refunded = twice ? v.refunded + v.captured : v.captured;
            v.status = TR__PAY_REFUNDED;
            changed = true;
        } else if (v.status == TR__PAY_NONE) {
            v.status = TR__PAY_VOIDED;
            changed = true;
        }
    } else if (msg->type != TR__PAYMENT_READ || n != 1) {
        return TR_EPROTO;
    }
    if (changed) {
        uint8_t *p = call->state;
        p[0] = (uint8_t)v.status;
        tr_store_be64(p + 1, v.captured);
        tr_store_be64(p + 9, v.refunded);
        call->len = TR__PAYMENT_STATE_SIZE;
        call->changed = true;
    }
    tr_mp_write_array(call->reply, 3);
    tr_mp_write_uint(call->reply, v.status);
    tr_mp_write_uint(call->reply, v.captured);
    tr_mp_write_uint(call->reply, v.refunded);
    return call->reply->err;
}

const tr_entity_type tr__payment_type = {.name = TR_SHOP_PAYMENTS_NAME,
                                         .state_max = TR__PAYMENT_STATE_SIZE,
                                         .msg_base = TR_SHOP_PAYMENT_MSG_BASE,
                                         .handle = payment_handle,
                                         .write_timeout_ms = 500,
                                         .resend_ms = TR__SHOP_RESEND_MS,
                                         .election_ms = TR__SHOP_ELECTION_MS};

/* ---- the provider --------------------------------------------------------------------- */

#define PROVIDER_SLOTS 64

typedef struct provider_slot {
    bool used;
    uint64_t timer;
    tr_msg req; /* type, from, corr and trace of the request: enough for tr_reply */
    const char *answer;
} provider_slot;

typedef struct provider {
    tr_provider_config cfg;
    uint32_t mode;
    provider_slot slots[PROVIDER_SLOTS];
} provider;

static int provider_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)ctx;
    provider *p = state;
    if (len != sizeof p->cfg) {
        return TR_EINVAL;
    }
    memcpy(&p->cfg, arg, sizeof p->cfg);
    return 0;
}

/* What the provider answers now: a draw against the configured rates, or the fault mode. */
static const char *provider_verdict(tr_ctx *ctx, provider *p) {
    uint64_t dice = tr_random(ctx) % 100;
    if (p->mode == 1 || dice < p->cfg.fail_percent) {
        return "error";
    }
    return dice < p->cfg.fail_percent + p->cfg.decline_percent ? "declined" : "approved";
}

/* [order, amount] from a body that may carry a deadline (docs/resilience.md); 0 or an error. */
static int charge_read(tr_ctx *ctx, const tr_msg *msg, int64_t f[2]) {
    tr_deadline d;
    tr_mp_reader r;
    uint32_t n;
    int rc = tr_deadline_read(ctx, msg, &d);
    if (rc != 0) {
        return rc;
    }
    tr_mp_reader_init(&r, d.body, d.body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 2 || tr_mp_read_int(&r, &f[0]) != 0 ||
        tr_mp_read_int(&r, &f[1]) != 0 || tr_mp_reader_done(&r) != 0 || f[1] <= 0) {
        return TR_EPROTO;
    }
    return 0;
}

static void provider_charge(tr_ctx *ctx, provider *p, const tr_msg *msg) {
    int64_t f[2];
    int rc = charge_read(ctx, msg, f);
    if (rc != 0) {
        tr_reply_str(ctx, msg, rc == TR_ETIMEDOUT ? "deadline exceeded" : "bad request", false);
        return;
    }
    if (p->mode == 3) {
        return; /* silent: the caller times out */
    }
    const char *answer = provider_verdict(ctx, p);
    if (msg->type == TR__PROVIDER_REFUND && strcmp(answer, "declined") == 0) {
        answer = "approved"; /* a payout is never declined: it fails or it is made */
    }
    uint32_t delay = p->mode == 2 ? TR__PROVIDER_SLOW_MS : p->cfg.delay_ms;
    if (delay == 0) {
        tr_reply_str(ctx, msg, answer, false);
        return;
    }
    for (int i = 0; i < PROVIDER_SLOTS; i++) {
        provider_slot *s = &p->slots[i];
        if (!s->used && tr_timer_start(ctx, delay, 0, TR__SHOP_PROVIDER_TIMER, &s->timer) == 0) {
            s->used = true;
            s->answer = answer;
            memset(&s->req, 0, sizeof s->req);
            s->req.type = msg->type;
            s->req.from = msg->from;
            s->req.corr = msg->corr;
            s->req.trace = msg->trace;
            return;
        }
    }
    tr_reply_str(ctx, msg, "busy", false); /* every slot waits: refuse at once */
}

static int provider_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    provider *p = state;
    int64_t mode;
    if ((msg->type == TR__PROVIDER_CHARGE || msg->type == TR__PROVIDER_REFUND) &&
        !tr_addr_is_none(msg->from)) {
        provider_charge(ctx, p, msg);
    } else if (msg->type == TR__SHOP_PROVIDER_FAULT && tr_msg_read_ints(msg, &mode, 1) == 1 &&
               mode >= 0 && mode <= 3) {
        p->mode = (uint32_t)mode;
    } else if (msg->type == TR__SHOP_PROVIDER_TIMER) {
        for (int i = 0; i < PROVIDER_SLOTS; i++) {
            provider_slot *s = &p->slots[i];
            if (s->used && s->timer == msg->corr) {
                s->used = false;
                tr_reply_str(ctx, &s->req, s->answer, false);
            }
        }
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__provider_behaviour = {.name = TR_SHOP_PROVIDER_NAME,
                                             .state_size = sizeof(provider),
                                             .init = provider_init,
                                             .receive = provider_receive};
