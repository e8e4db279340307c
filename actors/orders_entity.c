/* orders_entity.c — the "order" entity: an order's journal, folded into a snapshot, with the
 * tail of its last events (shop_internal.h). The coordinator (orders.c) appends events; the
 * entity accepts only the transitions the saga allows, so two coordinators driving one order
 * (a retry on another node, a restarted one) cannot both confirm and cancel it. */
#include <string.h>

#include "actors/shop_internal.h"

const char *tr__shop_reason_name(uint32_t reason) {
    static const char *const names[TR__REASON_COUNT] = {"",
                                                        "out of stock",
                                                        "payment declined",
                                                        "payment failed",
                                                        "stock unavailable",
                                                        "cancelled by customer"};
    return reason < TR__REASON_COUNT ? names[reason] : "unknown";
}

int tr__order_state_decode(const void *state, size_t len, tr_order_view *v) {
    const uint8_t *p = state;
    memset(v, 0, sizeof *v);
    if (len == 0) {
        return 0;
    }
    if (len != TR__ORDER_STATE_SIZE || p[0] > 3 || p[3] > TR_SHOP_KEY_MAX ||
        p[88] > TR__ORDER_TAIL) {
        return TR_ECORRUPT;
    }
    v->state = p[0];
    v->steps = p[1];
    v->reason = p[2];
    v->key_len = p[3];
    v->amount = tr_load_be64(p + 4);
    v->item = tr_load_be32(p + 12);
    v->qty = tr_load_be32(p + 16);
    v->customer = tr_load_be32(p + 20);
    memcpy(v->key, p + 24, v->key_len);
    v->tail_len = p[88];
    memcpy(v->tail, p + 89, v->tail_len);
    v->creator = tr_load_be64(p + TR__ORDER_CREATOR_AT);
    v->confirmed_epoch = tr_load_be64(p + TR__ORDER_CREATOR_AT + 8);
    v->cancelled_epoch = tr_load_be64(p + TR__ORDER_CREATOR_AT + 16);
    return 0;
}

static void state_encode(const tr_order_view *v, uint8_t *p) {
    memset(p, 0, TR__ORDER_STATE_SIZE);
    p[0] = (uint8_t)v->state;
    p[1] = (uint8_t)v->steps;
    p[2] = (uint8_t)v->reason;
    p[3] = (uint8_t)v->key_len;
    tr_store_be64(p + 4, v->amount);
    tr_store_be32(p + 12, v->item);
    tr_store_be32(p + 16, v->qty);
    tr_store_be32(p + 20, v->customer);
    memcpy(p + 24, v->key, v->key_len);
    p[88] = (uint8_t)v->tail_len;
    memcpy(p + 89, v->tail, v->tail_len);
    tr_store_be64(p + TR__ORDER_CREATOR_AT, v->creator);
    tr_store_be64(p + TR__ORDER_CREATOR_AT + 8, v->confirmed_epoch);
    tr_store_be64(p + TR__ORDER_CREATOR_AT + 16, v->cancelled_epoch);
}

int tr__order_view_encode(tr_mp_writer *w, const tr_order_view *v) {
    tr_mp_write_array(w, 12);
    tr_mp_write_uint(w, v->state);
    tr_mp_write_uint(w, v->steps);
    tr_mp_write_uint(w, v->reason);
    tr_mp_write_uint(w, v->amount);
    tr_mp_write_uint(w, v->item);
    tr_mp_write_uint(w, v->qty);
    tr_mp_write_uint(w, v->customer);
    tr_mp_write_uint(w, v->key_hash != 0 ? v->key_hash : tr__shop_key_hash(v->key, v->key_len));
    tr_mp_write_uint(w, v->creator);
    tr_mp_write_uint(w, v->epoch);
    tr_mp_write_uint(w, v->confirmed_epoch);
    tr_mp_write_uint(w, v->cancelled_epoch);
    return w->err;
}

int tr__order_view_decode(const void *body, size_t len, tr_order_view *v) {
    tr_mp_reader r;
    uint32_t n;
    int64_t f[7];
    uint64_t hash, creator, epochs[3];
    memset(v, 0, sizeof *v);
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_peek(&r) != TR_MP_ARRAY || tr_mp_read_array(&r, &n) != 0 || n != 12) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < 7; i++) {
        if (tr_mp_read_int(&r, &f[i]) != 0 || f[i] < 0) {
            return TR_EPROTO;
        }
    }
    if (tr_mp_read_uint(&r, &hash) != 0 || tr_mp_read_uint(&r, &creator) != 0) {
        return TR_EPROTO;
    }
    for (int i = 0; i < 3; i++) {
        if (tr_mp_read_uint(&r, &epochs[i]) != 0) {
            return TR_EPROTO;
        }
    }
    if (tr_mp_reader_done(&r) != 0 || f[0] > 3) {
        return TR_EPROTO;
    }
    *v = (tr_order_view){.state = (uint32_t)f[0],
                         .steps = (uint32_t)f[1],
                         .reason = (uint32_t)f[2],
                         .amount = (uint64_t)f[3],
                         .item = (uint32_t)f[4],
                         .qty = (uint32_t)f[5],
                         .customer = (uint32_t)f[6],
                         .key_hash = hash,
                         .creator = creator,
                         .epoch = epochs[0],
                         .confirmed_epoch = epochs[1],
                         .cancelled_epoch = epochs[2]};
    return 0;
}

/* Appends ev to the journal's tail (the oldest event leaves it; the snapshot has it). */
static void journal(tr_order_view *v, uint32_t ev) {
    if (v->tail_len == TR__ORDER_TAIL) {
        memmove(v->tail, v->tail + 1, TR__ORDER_TAIL - 1);
        v->tail_len--;
    }
    v->tail[v->tail_len++] = (uint8_t)ev;
}

static const uint8_t step_of[] = {
    [TR__EV_RESERVED] = TR__STEP_RESERVED, [TR__EV_CHARGING] = TR__STEP_CHARGING,
    [TR__EV_CHARGED] = TR__STEP_CHARGED,   [TR__EV_RELEASED] = TR__STEP_RELEASED,
    [TR__EV_REFUNDED] = TR__STEP_REFUNDED, [TR__EV_SOLD] = TR__STEP_SOLD};

/* Applies event ev (with reason, for a cancellation) to v: true when v changed. A step that
 * is already recorded, a confirmation of a cancelled order, a cancellation of a confirmed
 * one and a charge after the order ended change nothing (the answer shows what holds). The
 * one exception is the customer's cancellation (TR__REASON_CUSTOMER), which applies to a
 * confirmed order only, so that the reason alone says the order was confirmed before. */
static bool apply(tr_order_view *v, uint32_t ev, uint32_t reason, uint64_t epoch) {
    uint32_t pending = TR_SHOP_PENDING + 1;
    if (ev == TR__EV_CONFIRMED || ev == TR__EV_CANCELLED) {
        bool can_confirm = (v->steps & (TR__STEP_RESERVED | TR__STEP_CHARGED)) ==
                           (TR__STEP_RESERVED | TR__STEP_CHARGED);
        bool customer = ev == TR__EV_CANCELLED && reason == TR__REASON_CUSTOMER;
        uint32_t from = customer ? TR_SHOP_CONFIRMED + 1 : pending;
        if (v->state != from || (ev == TR__EV_CONFIRMED && !can_confirm)) {
            return false;
        }
        v->state = ev == TR__EV_CONFIRMED ? TR_SHOP_CONFIRMED + 1 : TR_SHOP_CANCELLED + 1;
        v->reason = ev == TR__EV_CANCELLED ? reason : TR__REASON_NONE;
        *(ev == TR__EV_CONFIRMED ? &v->confirmed_epoch : &v->cancelled_epoch) = epoch;
    } else {
        bool late = (ev == TR__EV_CHARGING || ev == TR__EV_RESERVED) && v->state != pending;
        if (ev >= sizeof step_of || step_of[ev] == 0 || (v->steps & step_of[ev]) || late) {
            return false;
        }
        v->steps |= step_of[ev];
    }
    journal(v, ev);
    return true;
}

static int handle_create(tr_entity_call *call, tr_mp_reader *r, tr_order_view *v) {
    const char *key;
    uint32_t key_len;
    int64_t f[4];
    uint64_t creator;
    if (tr_mp_read_str(r, &key, &key_len) != 0 || key_len == 0 || key_len > TR_SHOP_KEY_MAX) {
        return TR_EPROTO;
    }
    for (int i = 0; i < 4; i++) {
        if (tr_mp_read_int(r, &f[i]) != 0 || f[i] < 0 || f[i] > (int64_t)UINT32_MAX * 100) {
            return TR_EPROTO;
        }
    }
    if (tr_mp_read_uint(r, &creator) != 0) {
        return TR_EPROTO;
    }
    if (v->state != 0) { /* the key's order exists: the first request's */
        if (v->key_len != key_len || memcmp(v->key, key, key_len) != 0) {
            tr_mp_write_cstr(call->reply, "key conflict");
            return 0;
        }
        v->epoch = call->epoch;
        return tr__order_view_encode(call->reply, v);
    }
    *v = (tr_order_view){.state = TR_SHOP_PENDING + 1,
                         .key_len = key_len,
                         .item = (uint32_t)f[0],
                         .qty = (uint32_t)f[1],
                         .customer = (uint32_t)f[2],
                         .amount = (uint64_t)f[3],
                         .creator = creator};
    memcpy(v->key, key, key_len);
    journal(v, TR__EV_CREATED);
    state_encode(v, call->state);
    call->len = TR__ORDER_STATE_SIZE;
    call->changed = true;
    v->epoch = call->epoch;
    return tr__order_view_encode(call->reply, v);
}

static int order_handle(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    (void)ctx;
    tr_order_view v;
    tr_mp_reader r;
    uint32_t n;
    int64_t id, ev = 0, reason = 0;
    if (tr__order_state_decode(call->state, call->len, &v) != 0) {
        return TR_ECORRUPT;
    }
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n == 0 || tr_mp_read_int(&r, &id) != 0) {
        return TR_EPROTO;
    }
    if (msg->type == TR__ORDER_CREATE && n == 7) {
        int rc = handle_create(call, &r, &v);
        return rc == 0 ? tr_mp_reader_done(&r) : rc;
    }
    if (msg->type == TR__ORDER_EVENT && n == 3 &&
        (tr_mp_read_int(&r, &ev) != 0 || tr_mp_read_int(&r, &reason) != 0 || ev < 0 || reason < 0 ||
         reason >= TR__REASON_COUNT)) {
        return TR_EPROTO;
    }
    if ((msg->type != TR__ORDER_READ || n != 1) && (msg->type != TR__ORDER_EVENT || n != 3)) {
        return TR_EPROTO;
    }
    if (tr_mp_reader_done(&r) != 0) {
        return TR_EPROTO;
    }
    if (v.state == 0) {
        tr_mp_write_cstr(call->reply, "no such order");
        return 0;
    }
    if (msg->type == TR__ORDER_EVENT && apply(&v, (uint32_t)ev, (uint32_t)reason, call->epoch)) {
        state_encode(&v, call->state);
        call->changed = true;
    }
    v.epoch = call->epoch;
    return tr__order_view_encode(call->reply, &v);
}

const tr_entity_type tr__order_type = {.name = TR_SHOP_ORDER_TYPE_NAME,
                                       .state_max = TR__ORDER_STATE_SIZE,
                                       .msg_base = TR_SHOP_ORDER_MSG_BASE,
                                       .handle = order_handle,
                                       .write_timeout_ms = 500,
                                       .resend_ms = TR__SHOP_RESEND_MS,
                                       .election_ms = TR__SHOP_ELECTION_MS};
