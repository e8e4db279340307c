/* shop_wire.c — the orders service's client codec and order ids (shop.h). */
#include <stdio.h>
#include <string.h>

#include "actors/shop_internal.h"

_Static_assert(TR_SHOP_PLACE == 2304 && TR_SHOP_GET == 2305,
               "client message types are part of the protocol");

uint64_t tr__shop_key_hash(const void *key, size_t len) {
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

uint64_t tr__shop_order_id(const void *key, size_t len) {
    uint64_t h = tr__shop_key_hash(key, len) & ((1ull << 53) - 1);
    return h == 0 ? 1 : h;
}

const char *tr__shop_state_name(tr_shop_state s) {
    switch (s) {
    case TR_SHOP_CONFIRMED: return "confirmed";
    case TR_SHOP_CANCELLED: return "cancelled";
    default: return "pending";
    }
}

int tr__shop_place_encode(void *buf, size_t cap, const tr_shop_place *p, size_t *len) {
    if (p->key_len == 0 || p->key_len > TR_SHOP_KEY_MAX || p->item > TR_SHOP_ITEM_MAX ||
        p->qty == 0 || p->qty > TR_SHOP_QTY_MAX) {
        return TR_EINVAL;
    }
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 4);
    tr_mp_write_cstr(&w, "key");
    tr_mp_write_str(&w, (const char *)p->key, p->key_len);
    tr_mp_write_cstr(&w, "item");
    tr_mp_write_uint(&w, p->item);
    tr_mp_write_cstr(&w, "qty");
    tr_mp_write_uint(&w, p->qty);
    tr_mp_write_cstr(&w, "customer");
    tr_mp_write_uint(&w, p->customer);
    *len = w.len;
    return w.err;
}

int tr__shop_get_encode(void *buf, size_t cap, uint64_t order, size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "order");
    tr_mp_write_uint(&w, order);
    *len = w.len;
    return w.err;
}

static int refuse(char *why, size_t cap, const char *reason) {
    snprintf(why, cap, "%s", reason);
    return TR_EPROTO;
}

/* Reads an integer field into *v within [lo, hi]; a reason when it is not one. */
static const char *read_field(tr_mp_reader *r, int64_t lo, int64_t hi, int64_t *v) {
    if (tr_mp_read_int(r, v) != 0) {
        return "not an integer";
    }
    return *v < lo || *v > hi ? "out of range" : NULL;
}

int tr__shop_place_decode(const void *body, size_t len, tr_shop_place *out, char *why,
                          size_t why_cap) {
    static const char *const names[] = {"key", "item", "qty", "customer"};
    static const int64_t lo[] = {0, 0, 1, 0};
    static const int64_t hi[] = {0, TR_SHOP_ITEM_MAX, TR_SHOP_QTY_MAX, TR_SHOP_CUSTOMER_MAX};
    int64_t v[4] = {0};
    bool seen[4] = {false};
    tr_mp_reader r;
    uint32_t n;
    memset(out, 0, sizeof *out);
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_map(&r, &n) != 0) {
        return refuse(why, why_cap, "body is not a map");
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int f = 0;
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            return refuse(why, why_cap, "a key is not a string");
        }
        while (f < 4 && !tr_mp_str_eq(k, klen, names[f])) {
            f++;
        }
        if (f == 4 || seen[f]) {
            snprintf(why, why_cap, "%s field \"%.*s\"", f == 4 ? "unknown" : "repeated",
                     (int)(klen > 24 ? 24 : klen), k);
            return TR_EPROTO;
        }
        seen[f] = true;
        const char *bad = NULL;
        if (f == 0) {
            const char *s;
            uint32_t slen;
            if (tr_mp_read_str(&r, &s, &slen) != 0) {
                bad = "not a string";
            } else if (slen == 0 || slen > TR_SHOP_KEY_MAX) {
                bad = "not 1..64 bytes";
            } else {
                memcpy(out->key, s, slen);
                out->key_len = slen;
            }
        } else {
            bad = read_field(&r, lo[f], hi[f], &v[f]);
        }
        if (bad != NULL) {
            snprintf(why, why_cap, "%s %s", names[f], bad);
            return TR_EPROTO;
        }
    }
    if (tr_mp_reader_done(&r) != 0) {
        return refuse(why, why_cap, "malformed body");
    }
    for (int f = 0; f < 4; f++) {
        if (!seen[f]) {
            snprintf(why, why_cap, "missing %s", names[f]);
            return TR_EPROTO;
        }
    }
    out->item = (uint32_t)v[1];
    out->qty = (uint32_t)v[2];
    out->customer = (uint32_t)v[3];
    return 0;
}

int tr__shop_get_decode(const void *body, size_t len, uint64_t *order, char *why, size_t why_cap) {
    tr_mp_reader r;
    uint32_t n, klen;
    const char *k;
    int64_t v = 0;
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_map(&r, &n) != 0 || n != 1 || tr_mp_read_str(&r, &k, &klen) != 0 ||
        !tr_mp_str_eq(k, klen, "order")) {
        return refuse(why, why_cap, "body is not {\"order\": id}");
    }
    const char *bad = read_field(&r, 1, (1ll << 53) - 1, &v);
    if (bad != NULL || tr_mp_reader_done(&r) != 0) {
        snprintf(why, why_cap, "order %s", bad != NULL ? bad : "malformed");
        return TR_EPROTO;
    }
    *order = (uint64_t)v;
    return 0;
}

int tr__shop_order_encode(void *buf, size_t cap, const tr_shop_order *o, size_t *len) {
    bool cancelled = o->state == TR_SHOP_CANCELLED;
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, (cancelled ? 4 : 3) + (o->created ? 1 : 0));
    tr_mp_write_cstr(&w, "order");
    tr_mp_write_uint(&w, o->id);
    tr_mp_write_cstr(&w, "state");
    tr_mp_write_cstr(&w, tr__shop_state_name(o->state));
    tr_mp_write_cstr(&w, "amount_cents");
    tr_mp_write_uint(&w, o->amount_cents);
    if (cancelled) {
        tr_mp_write_cstr(&w, "reason");
        tr_mp_write_cstr(&w, o->reason);
    }
    if (o->created) {
        tr_mp_write_cstr(&w, "created");
        tr_mp_write_bool(&w, true);
    }
    *len = w.len;
    return w.err;
}

static int read_order_field(tr_mp_reader *r, const char *k, uint32_t klen, tr_shop_order *o) {
    int64_t v;
    if (tr_mp_str_eq(k, klen, "order") || tr_mp_str_eq(k, klen, "amount_cents")) {
        if (tr_mp_read_int(r, &v) != 0 || v < 0) {
            return TR_EPROTO;
        }
        *(tr_mp_str_eq(k, klen, "order") ? &o->id : &o->amount_cents) = (uint64_t)v;
        return 0;
    }
    if (tr_mp_str_eq(k, klen, "created")) {
        return tr_mp_read_bool(r, &o->created);
    }
    const char *s;
    uint32_t n;
    if (tr_mp_read_str(r, &s, &n) != 0) {
        return TR_EPROTO;
    }
    if (tr_mp_str_eq(k, klen, "reason")) {
        snprintf(o->reason, sizeof o->reason, "%.*s", (int)n, s);
        return 0;
    }
    if (!tr_mp_str_eq(k, klen, "state")) {
        return TR_EPROTO;
    }
    o->state = tr_mp_str_eq(s, n, "confirmed")   ? TR_SHOP_CONFIRMED
               : tr_mp_str_eq(s, n, "cancelled") ? TR_SHOP_CANCELLED
                                                 : TR_SHOP_PENDING;
    return tr_mp_str_eq(s, n, "pending") || o->state != TR_SHOP_PENDING ? 0 : TR_EPROTO;
}

int tr__shop_answer_decode(const void *body, size_t len, tr_shop_order *order, char *error_out,
                           size_t error_cap) {
    tr_mp_reader r;
    uint32_t n;
    memset(order, 0, sizeof *order);
    error_out[0] = '\0';
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_peek(&r) == TR_MP_STR) {
        const char *s;
        if (tr_mp_read_str(&r, &s, &n) != 0 || tr_mp_reader_done(&r) != 0) {
            return TR_EPROTO;
        }
        snprintf(error_out, error_cap, "%.*s", (int)n, s);
        return 0;
    }
    if (tr_mp_read_map(&r, &n) != 0) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        if (tr_mp_read_str(&r, &k, &klen) != 0 || read_order_field(&r, k, klen, order) != 0) {
            return TR_EPROTO;
        }
    }
    return tr_mp_reader_done(&r) != 0 || order->id == 0 ? TR_EPROTO : 0;
}

int tr__shop_breakers_encode(void *buf, size_t cap, const tr_shop_breaker *b, uint32_t n,
                             size_t *len) {
    if (n > TR_SHOP_BREAKERS_MAX) {
        return TR_EINVAL;
    }
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_array(&w, n);
    for (uint32_t i = 0; i < n; i++) {
        if (strlen(b[i].dependency) > TR_SHOP_BREAKER_NAME_MAX) {
            return TR_EINVAL;
        }
        tr_mp_write_array(&w, 4);
        tr_mp_write_cstr(&w, b[i].dependency);
        tr_mp_write_uint(&w, (uint64_t)b[i].state);
        tr_mp_write_uint(&w, b[i].opened);
        tr_mp_write_uint(&w, b[i].rejected);
    }
    *len = w.len;
    return w.err;
}

static int read_breaker(tr_mp_reader *r, tr_shop_breaker *b) {
    uint32_t fields;
    uint64_t state;
    if (tr_mp_read_array(r, &fields) != 0 || fields != 4 ||
        tr_mp_read_str_copy(r, b->dependency, sizeof b->dependency) != 0 ||
        tr_mp_read_uint(r, &state) != 0 || state > TR_BREAKER_HALF_OPEN ||
        tr_mp_read_uint(r, &b->opened) != 0 || tr_mp_read_uint(r, &b->rejected) != 0) {
        return TR_EPROTO;
    }
    for (const char *c = b->dependency; *c; c++) { /* a metrics label value, unescaped */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')) {
            return TR_EPROTO;
        }
    }
    b->state = (tr_breaker_state)state;
    return 0;
}

int tr__shop_breakers_decode(const void *body, size_t len, tr_shop_breaker *out, uint32_t *n) {
    tr_mp_reader r;
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_array(&r, n) != 0 || *n > TR_SHOP_BREAKERS_MAX) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < *n; i++) {
        if (read_breaker(&r, &out[i]) != 0) {
            return TR_EPROTO;
        }
    }
    return tr_mp_reader_done(&r) != 0 ? TR_EPROTO : 0;
}
