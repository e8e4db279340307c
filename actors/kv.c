/* kv.c — the "kv" actor (see kv.h). */
#include "actors/kv.h"

#include <string.h>

#include "actors/register_wire.h"

typedef struct kv_state {
    uint8_t get_buf[TR_KV_GET_MAX]; /* a get's reply, built here (a worker may run another
                                       node's kv actor at the same time: nothing static) */
} kv_state;

static void reply_error(tr_ctx *ctx, const tr_msg *req, const char *why) {
    uint8_t buf[48];
    (void)tr_reply(ctx, req, req->type, buf, tr__wire_error_body(buf, sizeof buf, why));
}

/* Reads one value whose containers nest at most TR_KV_DEPTH_MAX - depth deeper. */
static bool read_value(tr_mp_reader *r, uint32_t depth) {
    tr_mp_type kind = tr_mp_peek(r);
    uint32_t n = 0;
    if (kind != TR_MP_ARRAY && kind != TR_MP_MAP) {
        return tr_mp_skip(r) == 0; /* a scalar, a string, bytes or an extension */
    }
    if (depth == TR_KV_DEPTH_MAX ||
        (kind == TR_MP_ARRAY ? tr_mp_read_array(r, &n) : tr_mp_read_map(r, &n)) != 0) {
        return false;
    }
    uint64_t items = kind == TR_MP_MAP ? 2 * (uint64_t)n : n;
    for (uint64_t i = 0; i < items; i++) {
        if (!read_value(r, depth + 1)) {
            return false;
        }
    }
    return true;
}

/* True when bytes[0..len) are exactly one msgpack value. */
static bool one_value(const uint8_t *bytes, size_t len) {
    tr_mp_reader r;
    tr_mp_reader_init(&r, bytes, len);
    return read_value(&r, 0) && r.err == 0 && r.p == r.end;
}

static void kv_put(tr_ctx *ctx, const tr_msg *msg, const char *key, uint32_t key_len,
                   const uint8_t *val, size_t val_len) {
    static const uint8_t ok[] = {0x81, 0xa2, 'o', 'k', 0xc3}; /* {"ok": true} */
    int rc = tr_kv_put(ctx, key, key_len, val, val_len);
    if (rc == 0) {
        rc = tr_reply_durable(ctx, msg, msg->type, ok, sizeof ok);
    }
    if (rc) {
        reply_error(ctx, msg, "store failed");
    }
}

static void kv_get(tr_ctx *ctx, kv_state *s, const tr_msg *msg, const char *key, uint32_t key_len) {
    size_t len = 0;
    int rc = tr_kv_get(ctx, key, key_len, s->get_buf, sizeof s->get_buf, &len);
    if (rc == TR_ENOENT) {
        s->get_buf[0] = 0xc0; /* nil */
        len = 1;
    } else if (rc) {
        reply_error(ctx, msg, "store failed");
        return;
    }
    (void)tr_reply(ctx, msg, msg->type, s->get_buf, len);
}

static int kv_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type < TR_MSG_USER || tr_addr_is_none(msg->from)) {
        return TR_CONTINUE;
    }
    tr_mp_reader r;
    uint32_t n, op_len, key_len;
    const char *op, *key;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) || n < 2 || n > 3 || tr_mp_read_str(&r, &op, &op_len) ||
        tr_mp_read_str(&r, &key, &key_len) || key_len == 0 || key_len > TR_KEY_MAX) {
        reply_error(ctx, msg, "want [op, key, ...]");
        return TR_CONTINUE;
    }
    const uint8_t *val = r.p;
    size_t val_len = (size_t)(r.end - r.p);
    if (n == 3 && tr_mp_str_eq(op, op_len, "put") && one_value(val, val_len)) {
        kv_put(ctx, msg, key, key_len, val, val_len);
    } else if (n == 2 && tr_mp_str_eq(op, op_len, "get")) {
        kv_get(ctx, state, msg, key, key_len);
    } else {
        reply_error(ctx, msg, "bad op");
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__kv_behaviour = {
    .name = "kv", .state_size = sizeof(kv_state), .receive = kv_receive};
