/* stock_orders.c — the shop's variant of the "stock" entity: reservations by order, with
 * their compensation (release) and their sale, and an item's conservation ledger
 * (shop_internal.h, "the shop's stock").
 *
 * An item keeps one record per order that reserved it (the order's id is the reservation's
 * id): reserve, release and sell are idempotent by it, and a record's fate is decided once,
 * with one exception: a release after a sale is a return (the order was cancelled by its
 * customer after confirmation; the units go back to the level, once). A sale after a release
 * or a return answers what holds and changes nothing, and a reserve that arrives after its
 * record was released does not reserve again. The
 * counters restocked, reserved and sold make conservation checkable from the end state alone:
 * TR_STOCK_INITIAL + restocked = level + reserved + sold. The window is bounded: the oldest
 * record whose fate is final leaves when a new one needs room (a returned one last); when
 * every record is still reserved a new reservation is refused "busy" (nothing happened). */
#include <string.h>

#include "actors/shop_internal.h"

typedef struct record {
    uint64_t id;
    uint8_t qty, status;
} record;

typedef struct item {
    tr_stock_account acct;
    uint32_t n;
    record r[TR__STOCK_RECORDS];
} item;

_Static_assert(TR__STOCK_ORDERS_STATE_SIZE <= TR_ENTITY_STATE_MAX, "an item fits an entity");
_Static_assert(TR_SHOP_QTY_MAX <= 255, "a record's qty is one byte");

static int item_decode(const uint8_t *p, size_t len, item *s) {
    memset(s, 0, sizeof *s);
    if (len == 0) {
        s->acct.level = TR_STOCK_INITIAL;
        return 0;
    }
    if (len < 33 || p[32] > TR__STOCK_RECORDS || len != 33u + p[32] * 10u) {
        return TR_ECORRUPT;
    }
    s->acct = (tr_stock_account){(int64_t)tr_load_be64(p), (int64_t)tr_load_be64(p + 8),
                                 (int64_t)tr_load_be64(p + 16), (int64_t)tr_load_be64(p + 24)};
    s->n = p[32];
    for (uint32_t i = 0; i < s->n; i++) {
        const uint8_t *q = p + 33 + i * 10;
        s->r[i] = (record){tr_load_be64(q), q[8], q[9]};
    }
    return 0;
}

static size_t item_encode(const item *s, uint8_t *p) {
    tr_store_be64(p, (uint64_t)s->acct.level);
    tr_store_be64(p + 8, (uint64_t)s->acct.restocked);
    tr_store_be64(p + 16, (uint64_t)s->acct.reserved);
    tr_store_be64(p + 24, (uint64_t)s->acct.sold);
    p[32] = (uint8_t)s->n;
    for (uint32_t i = 0; i < s->n; i++) {
        uint8_t *q = p + 33 + i * 10;
        tr_store_be64(q, s->r[i].id);
        q[8] = s->r[i].qty;
        q[9] = s->r[i].status;
    }
    return 33u + s->n * 10u;
}

int tr__stock_orders_account(const void *state, size_t len, tr_stock_account *out) {
    item s;
    int rc = item_decode(state, len, &s);
    *out = s.acct;
    return rc;
}

int tr__stock_order_encode(void *buf, size_t cap, uint32_t item, uint32_t qty, uint64_t order,
                           size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, qty ? 3 : 2);
    tr_mp_write_cstr(&w, "item");
    tr_mp_write_uint(&w, item);
    if (qty) {
        tr_mp_write_cstr(&w, "qty");
        tr_mp_write_uint(&w, qty);
    }
    tr_mp_write_cstr(&w, "order");
    tr_mp_write_uint(&w, order);
    *len = w.len;
    return w.err;
}

/* The "order" field of a body (0 when absent or invalid). */
static uint64_t order_of(const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, klen;
    const char *k;
    int64_t v = 0;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_map(&r, &n) != 0) {
        return 0;
    }
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            return 0;
        }
        if (tr_mp_str_eq(k, klen, "order")) {
            return tr_mp_read_int(&r, &v) == 0 && v > 0 ? (uint64_t)v : 0;
        }
        tr_mp_skip(&r);
    }
    return 0;
}

static record *find(item *s, uint64_t id) {
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->r[i].id == id) {
            return &s->r[i];
        }
    }
    return NULL;
}

/* Room for a new record: drops the oldest one whose fate is final; NULL when none is. */
/* Makes room when the window is full: the oldest record whose fate is final leaves, a
 * returned one only when no other can (a repeated return that no longer finds its record
 * would return its units again). */
static record *add(item *s, uint64_t id, uint8_t qty, uint8_t status) {
    if (s->n == TR__STOCK_RECORDS) {
        uint32_t i = 0, returned = s->n;
        while (i < s->n &&
               (s->r[i].status == TR__RES_RESERVED || s->r[i].status == TR__RES_RETURNED)) {
            returned = s->r[i].status == TR__RES_RETURNED && returned == s->n ? i : returned;
            i++;
        }
        i = i < s->n ? i : returned;
        if (i == s->n) {
            return NULL;
        }
        memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof s->r[0]);
        s->n--;
    }
    s->r[s->n] = (record){id, qty, status};
    return &s->r[s->n++];
}

static void answer(tr_mp_writer *w, const char *error, int64_t level) {
    uint8_t *p = tr_mp_writer_room(w, TR_STOCK_BODY_MAX);
    size_t len = 0;
    int rc = error == NULL ? tr__stock_reply_encode_ok(p, TR_STOCK_BODY_MAX, level, &len)
                           : tr__stock_reply_encode_err(p, TR_STOCK_BODY_MAX, error, false, &len);
    if (p != NULL && rc == 0) {
        tr_mp_writer_advance(w, p + len);
    }
}

static const char *const fate_names[] = {"",         "", "out of stock", "sold",
                                         "released", "", "released"};

/* A reserve, release or sell of order `id` on s: the error to answer (NULL: ok); *changed. */
static const char *apply_order(item *s, uint32_t type, uint64_t id, int64_t qty, bool *changed) {
    record *r = find(s, id);
    if (type == TR__STOCK_ORDER_RESERVE) {
        if (r != NULL) { /* a retry: what happened the first time */
            return r->status == TR__RES_RESERVED || r->status == TR__RES_SOLD
                       ? NULL
                       : fate_names[r->status];
        }
        bool ok = s->acct.level >= qty;
        if (add(s, id, (uint8_t)qty, ok ? TR__RES_RESERVED : TR__RES_REFUSED) == NULL) {
            return "busy";
        }
        *changed = true;
        if (!ok) {
            return "out of stock";
        }
        s->acct.level -= qty;
        s->acct.reserved += qty;
        return NULL;
    }
    if (r == NULL && type == TR__STOCK_ORDER_RELEASE && qty > 0) {
        /* a return (it carries the order's qty) whose sale left the window: the order was
         * confirmed, so its reservation was sold (only a cancellation releases one) */
        *changed = add(s, id, (uint8_t)qty, TR__RES_RETURNED) != NULL;
        s->acct.sold -= *changed ? qty : 0;
        s->acct.level += *changed ? qty : 0;
        return *changed ? NULL : "busy";
    }
    if (r == NULL && type == TR__STOCK_ORDER_RELEASE) {
        /* nothing reserved (yet): a tombstone, so that a reserve arriving late holds nothing */
        *changed = add(s, id, 0, TR__RES_RELEASED) != NULL;
        return *changed ? NULL : "busy";
    }
    if (r == NULL) {
        return "no such reservation";
    }
    if (r->status == TR__RES_SOLD && type == TR__STOCK_ORDER_RELEASE) {
        /* a return: the order was cancelled by its customer after the sale */
        s->acct.sold -= r->qty;
        s->acct.level += r->qty;
        r->status = TR__RES_RETURNED;
        *changed = true;
        return NULL;
    }
    if (r->status != TR__RES_RESERVED) { /* decided already */
        bool same = r->status == TR__RES_RETURNED && type == TR__STOCK_ORDER_RELEASE;
        same =
            same || r->status == (type == TR__STOCK_ORDER_SELL ? TR__RES_SOLD : TR__RES_RELEASED);
        return same || r->status == TR__RES_REFUSED ? NULL : fate_names[r->status];
    }
    s->acct.reserved -= r->qty;
    if (type == TR__STOCK_ORDER_SELL) {
        s->acct.sold += r->qty;
        r->status = TR__RES_SOLD;
    } else {
        s->acct.level += r->qty;
        r->status = TR__RES_RELEASED;
    }
    *changed = true;
    return NULL;
}

static int handle(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    (void)ctx;
    item s;
    tr_stock_request rq;
    if (tr__stock_request_decode(msg->body, msg->body_len, &rq) != 0) {
        answer(call->reply, "bad request", 0);
        return 0;
    }
    if (item_decode(call->state, call->len, &s) != 0) {
        return TR_ECORRUPT;
    }
    bool changed = false;
    const char *error = NULL;
    if (msg->type == TR_STOCK_READ) {
        /* nothing changes */
    } else if (msg->type == TR_STOCK_RESTOCK && rq.has_qty && rq.has_id) {
        if (find(&s, rq.id) == NULL) {
            error = add(&s, rq.id, 0, TR__RES_RESTOCK) == NULL ? "busy" : NULL;
            s.acct.level += error == NULL ? rq.qty : 0;
            s.acct.restocked += error == NULL ? rq.qty : 0;
            changed = error == NULL;
        }
    } else if (msg->type >= TR__STOCK_ORDER_RESERVE && msg->type <= TR__STOCK_ORDER_SELL &&
               order_of(msg) != 0 && (msg->type != TR__STOCK_ORDER_RESERVE || rq.has_qty) &&
               rq.qty <= TR_SHOP_QTY_MAX) {
        error = apply_order(&s, msg->type, order_of(msg), rq.qty, &changed);
    } else {
        error = "bad request";
    }
    if (changed) {
        call->len = item_encode(&s, call->state);
        call->changed = true;
    }
    answer(call->reply, error, s.acct.level);
    return 0;
}

static int64_t item_of(const tr_msg *msg) {
    tr_stock_request rq;
    return tr__stock_request_decode(msg->body, msg->body_len, &rq) == 0 ? (int64_t)rq.item
                                                                        : TR_EPROTO;
}

const tr_entity_type tr__stock_orders_type = {.name = "stock",
                                              .state_max = TR__STOCK_ORDERS_STATE_SIZE,
                                              .msg_base = TR_STOCK_MSG_BASE,
                                              .id_of = item_of,
                                              .handle = handle,
                                              .write_timeout_ms = 500,
                                              .resend_ms = TR__SHOP_RESEND_MS,
                                              .election_ms = TR__SHOP_ELECTION_MS};
