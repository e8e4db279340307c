/* The shop's pieces one by one, without a cluster: the client codec of shop.h (strict: an
 * unknown or missing field, a key or qty out of range is refused with a reason), the order
 * entity's journal (one order per key, confirmed and cancelled exclude each other), the
 * payment entity (capture and refund idempotent, a refund before the capture voids it, and
 * the planted refund-not-idempotent paying back twice), and the shop's stock (reservations by
 * order, release and sale decided once, conservation). Entity handlers are called directly
 * with a state buffer, as the host calls them. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/shop_internal.h"
#include "troupe.h"

typedef struct ent {
    uint8_t state[TR_ENTITY_STATE_MAX];
    size_t len;
    uint8_t reply[TR_ENTITY_BODY_MAX];
    size_t reply_len;
} ent;

/* One call of type's handler on e with the body built by the caller; the answer in e->reply. */
static int call(const tr_entity_type *t, ent *e, const char *bug, uint32_t type,
                const uint8_t *body, size_t len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, e->reply, sizeof e->reply);
    tr_entity_call c = {.id = 1, .state = e->state, .len = e->len, .reply = &w, .bug = bug};
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.body = body;
    m.body_len = (uint32_t)len;
    int rc = t->handle(NULL, &c, &m);
    if (rc == 0 && c.changed) {
        e->len = c.len;
    }
    e->reply_len = w.len;
    return rc;
}

static int call_ints(const tr_entity_type *t, ent *e, const char *bug, uint32_t type, int n,
                     const int64_t *v) {
    uint8_t body[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        tr_mp_write_int(&w, v[i]);
    }
    return call(t, e, bug, type, body, w.len);
}

static bool reply_is(const ent *e, const char *text) {
    tr_shop_order o;
    char s[64];
    return tr__shop_answer_decode(e->reply, e->reply_len, &o, s, sizeof s) == 0 &&
           strcmp(s, text) == 0;
}

Test(shop_wire, a_place_round_trips_and_bad_ones_say_why) {
    uint8_t buf[TR_SHOP_BODY_MAX];
    size_t len;
    char why[64];
    tr_shop_place p = {.key = "k1", .key_len = 2, .item = 7, .qty = 3, .customer = 9}, q;
    cr_assert_eq(tr__shop_place_encode(buf, sizeof buf, &p, &len), 0);
    cr_assert_eq(tr__shop_place_decode(buf, len, &q, why, sizeof why), 0, "%s", why);
    cr_assert(q.key_len == 2 && !memcmp(q.key, "k1", 2) && q.item == 7 && q.qty == 3 &&
              q.customer == 9);
    p.qty = 101;
    cr_assert_eq(tr__shop_place_encode(buf, sizeof buf, &p, &len), TR_EINVAL);
    /* {"key": "k", "qty": 0, ...}: hand-written bodies */
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 2);
    tr_mp_write_cstr(&w, "key");
    tr_mp_write_cstr(&w, "k");
    tr_mp_write_cstr(&w, "colour");
    tr_mp_write_uint(&w, 1);
    cr_assert_eq(tr__shop_place_decode(buf, w.len, &q, why, sizeof why), TR_EPROTO);
    cr_assert_str_eq(why, "unknown field \"colour\"");
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "qty");
    tr_mp_write_uint(&w, 0);
    cr_assert_eq(tr__shop_place_decode(buf, w.len, &q, why, sizeof why), TR_EPROTO);
    cr_assert_str_eq(why, "qty out of range");
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "item");
    tr_mp_write_uint(&w, 1);
    cr_assert_eq(tr__shop_place_decode(buf, w.len, &q, why, sizeof why), TR_EPROTO);
    cr_assert_str_eq(why, "missing key");
    char key[66];
    memset(key, 'x', 65);
    key[65] = 0;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "key");
    tr_mp_write_cstr(&w, key);
    cr_assert_eq(tr__shop_place_decode(buf, w.len, &q, why, sizeof why), TR_EPROTO);
    cr_assert_str_eq(why, "key not 1..64 bytes");
    cr_assert_eq(tr__shop_place_decode("\xc1", 1, &q, why, sizeof why), TR_EPROTO);
}

Test(shop_wire, answers_and_gets) {
    uint8_t buf[TR_SHOP_BODY_MAX];
    size_t len;
    char err[32], why[64];
    uint64_t id;
    tr_shop_order o = {.id = 42, .state = TR_SHOP_CANCELLED, .amount_cents = 1500}, back;
    strcpy(o.reason, "out of stock");
    cr_assert_eq(tr__shop_order_encode(buf, sizeof buf, &o, &len), 0);
    cr_assert_eq(tr__shop_answer_decode(buf, len, &back, err, sizeof err), 0);
    cr_assert(back.id == 42 && back.state == TR_SHOP_CANCELLED && back.amount_cents == 1500);
    cr_assert_str_eq(back.reason, "out of stock");
    cr_assert_str_eq(err, "");
    cr_assert_eq(tr__shop_get_encode(buf, sizeof buf, 42, &len), 0);
    cr_assert_eq(tr__shop_get_decode(buf, len, &id, why, sizeof why), 0);
    cr_assert_eq(id, 42);
    cr_assert_eq(tr__shop_order_id("k", 1), tr__shop_order_id("k", 1));
    cr_assert_neq(tr__shop_order_id("k", 1), tr__shop_order_id("j", 1));
    cr_assert_lt(tr__shop_order_id("k", 1), 1ull << 53);
}

static void create(ent *e, const char *key, uint64_t creator) {
    uint8_t body[128];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 7);
    tr_mp_write_uint(&w, 1);
    tr_mp_write_cstr(&w, key);
    tr_mp_write_uint(&w, 3);    /* item */
    tr_mp_write_uint(&w, 2);    /* qty */
    tr_mp_write_uint(&w, 5);    /* customer */
    tr_mp_write_uint(&w, 1600); /* amount */
    tr_mp_write_uint(&w, creator);
    cr_assert_eq(call(&tr__order_type, e, "", TR__ORDER_CREATE, body, w.len), 0);
}

static tr_order_view event(ent *e, int64_t ev, int64_t reason) {
    int64_t v[3] = {1, ev, reason};
    tr_order_view view;
    cr_assert_eq(call_ints(&tr__order_type, e, "", TR__ORDER_EVENT, 3, v), 0);
    cr_assert_eq(tr__order_view_decode(e->reply, e->reply_len, &view), 0);
    return view;
}

Test(shop_order, one_order_per_key_and_decisions_exclude_each_other) {
    ent e = {0};
    tr_order_view v;
    int64_t id = 1;
    cr_assert_eq(call_ints(&tr__order_type, &e, "", TR__ORDER_READ, 1, &id), 0);
    cr_assert(reply_is(&e, "no such order"));
    create(&e, "k1", 77);
    cr_assert_eq(tr__order_view_decode(e.reply, e.reply_len, &v), 0);
    cr_assert(v.state == TR_SHOP_PENDING + 1 && v.amount == 1600 && v.qty == 2);
    cr_assert_eq(v.key_hash, tr__shop_key_hash("k1", 2));
    cr_assert_eq(v.creator, 77);
    create(&e, "k1", 78); /* the same key: the same order, its creator the first request */
    cr_assert_eq(tr__order_view_decode(e.reply, e.reply_len, &v), 0);
    cr_assert_eq(v.creator, 77);
    create(&e, "k2", 79);
    cr_assert(reply_is(&e, "key conflict"));
    v = event(&e, TR__EV_CONFIRMED, 0); /* nothing reserved or charged: refused */
    cr_assert_eq(v.state, TR_SHOP_PENDING + 1);
    event(&e, TR__EV_RESERVED, 0);
    event(&e, TR__EV_CHARGING, 0);
    v = event(&e, TR__EV_CHARGED, 0);
    cr_assert_eq(v.steps, TR__STEP_RESERVED | TR__STEP_CHARGING | TR__STEP_CHARGED);
    v = event(&e, TR__EV_CANCELLED, TR__REASON_PAYMENT_FAILED);
    cr_assert_eq(v.state, TR_SHOP_CANCELLED + 1);
    v = event(&e, TR__EV_CONFIRMED, 0); /* cancelled first: the confirmation changes nothing */
    cr_assert_eq(v.state, TR_SHOP_CANCELLED + 1);
    cr_assert_eq(v.reason, TR__REASON_PAYMENT_FAILED);
    v = event(&e, TR__EV_CANCELLED, TR__REASON_CUSTOMER); /* only a confirmed order */
    cr_assert_eq(v.reason, TR__REASON_PAYMENT_FAILED);
    tr_order_view s;
    cr_assert_eq(tr__order_state_decode(e.state, e.len, &s), 0);
    cr_assert_eq(s.tail_len, 5); /* created, reserved, charging, charged, cancelled */
    cr_assert_eq(s.tail[4], TR__EV_CANCELLED);
}

static tr_payment_view pay(ent *e, const char *bug, uint32_t type, int64_t amount) {
    int64_t v[2] = {1, amount};
    tr_payment_view p;
    cr_assert_eq(call_ints(&tr__payment_type, e, bug, type, type == TR__PAYMENT_CAPTURE ? 2 : 1, v),
                 0);
    cr_assert_eq(tr__payment_view_decode(e->reply, e->reply_len, &p), 0);
    return p;
}

Test(shop_payment, capture_and_refund_are_idempotent) {
    ent e = {0};
    pay(&e, "", TR__PAYMENT_CAPTURE, 700);
    tr_payment_view p = pay(&e, "", TR__PAYMENT_CAPTURE, 700);
    cr_assert(p.status == TR__PAY_CAPTURED && p.captured == 700);
    pay(&e, "", TR__PAYMENT_REFUND, 0);
    p = pay(&e, "", TR__PAYMENT_REFUND, 0);
    cr_assert(p.status == TR__PAY_REFUNDED && p.refunded == 700);
    ent late = {0};
    p = pay(&late, "", TR__PAYMENT_REFUND, 0); /* before any capture: voided */
    cr_assert_eq(p.status, TR__PAY_VOIDED);
    p = pay(&late, "", TR__PAYMENT_CAPTURE, 700); /* the capture arrives late: refused */
    cr_assert(p.status == TR__PAY_VOIDED && p.captured == 0);
}

Test(shop_payment, the_planted_refund_pays_back_twice) {
    ent e = {0};
    pay(&e, TR_SHOP_BUG_REFUND_TWICE, TR__PAYMENT_CAPTURE, 700);
    pay(&e, TR_SHOP_BUG_REFUND_TWICE, TR__PAYMENT_REFUND, 0);
    tr_payment_view p = pay(&e, TR_SHOP_BUG_REFUND_TWICE, TR__PAYMENT_REFUND, 0);
    cr_assert_eq(p.refunded, 1400);
}

static bool stock_call(ent *e, uint32_t type, uint32_t qty, uint64_t order, const char *error) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    tr_stock_reply r;
    cr_assert_eq(tr__stock_order_encode(body, sizeof body, 0, qty, order, &len), 0);
    cr_assert_eq(call(&tr__stock_orders_type, e, "", type, body, len), 0);
    cr_assert_eq(tr__stock_reply_decode(e->reply, e->reply_len, &r), 0);
    return error == NULL ? r.ok : !r.ok && strcmp(r.error, error) == 0;
}

static void conserved(const ent *e) {
    tr_stock_account a;
    cr_assert_eq(tr__stock_orders_account(e->state, e->len, &a), 0);
    cr_assert_eq(TR_STOCK_INITIAL + a.restocked, a.level + a.reserved + a.sold);
}

Test(shop_stock, reservations_by_order_are_decided_once) {
    ent e = {0};
    tr_stock_account a;
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 4, 11, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 4, 11, NULL)); /* a retry */
    cr_assert_eq(tr__stock_orders_account(e.state, e.len, &a), 0);
    cr_assert(a.level == TR_STOCK_INITIAL - 4 && a.reserved == 4);
    cr_assert(stock_call(&e, TR__STOCK_ORDER_SELL, 0, 11, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 0, 11, NULL)); /* a return */
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 0, 11, NULL)); /* again: nothing more */
    cr_assert(stock_call(&e, TR__STOCK_ORDER_SELL, 0, 11, "released"));
    cr_assert_eq(tr__stock_orders_account(e.state, e.len, &a), 0);
    cr_assert(a.level == TR_STOCK_INITIAL && a.sold == 0);
    conserved(&e);
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 4, 15, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_SELL, 0, 15, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 5, 12, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 5, 13, "out of stock"));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 0, 12, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 0, 12, NULL)); /* again: nothing more */
    cr_assert_eq(tr__stock_orders_account(e.state, e.len, &a), 0);
    cr_assert(a.level == TR_STOCK_INITIAL - 4 && a.reserved == 0 && a.sold == 4);
    /* a return whose sale left the record window carries its qty, and is recorded once */
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 4, 16, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 4, 16, NULL));
    cr_assert_eq(tr__stock_orders_account(e.state, e.len, &a), 0);
    cr_assert(a.level == TR_STOCK_INITIAL && a.sold == 0);
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 4, 17, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_SELL, 0, 17, NULL));
    /* a release before its reserve leaves a tombstone: the late reserve holds nothing */
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RELEASE, 0, 14, NULL));
    cr_assert(stock_call(&e, TR__STOCK_ORDER_RESERVE, 1, 14, "released"));
    cr_assert_eq(tr__stock_orders_account(e.state, e.len, &a), 0);
    cr_assert_eq(a.reserved, 0);
    conserved(&e);
}

Test(shop_order, the_customer_cancels_a_confirmed_order_only) {
    ent e = {0};
    tr_order_view v;
    create(&e, "k1", 1);
    v = event(&e, TR__EV_CANCELLED, TR__REASON_CUSTOMER); /* pending: refused */
    cr_assert_eq(v.state, TR_SHOP_PENDING + 1);
    event(&e, TR__EV_RESERVED, 0);
    event(&e, TR__EV_CHARGING, 0);
    event(&e, TR__EV_CHARGED, 0);
    v = event(&e, TR__EV_CONFIRMED, 0);
    cr_assert_eq(v.state, TR_SHOP_CONFIRMED + 1);
    v = event(&e, TR__EV_CANCELLED, TR__REASON_DECLINED); /* the saga's own: refused */
    cr_assert_eq(v.state, TR_SHOP_CONFIRMED + 1);
    v = event(&e, TR__EV_CANCELLED, TR__REASON_CUSTOMER);
    cr_assert(v.state == TR_SHOP_CANCELLED + 1 && v.reason == TR__REASON_CUSTOMER);
    v = event(&e, TR__EV_RELEASED, 0);
    cr_assert(v.steps & TR__STEP_RELEASED);
    cr_assert_str_eq(tr__shop_reason_name(TR__REASON_CUSTOMER), "cancelled by customer");
}

Test(shop_wire, breakers_round_trip_and_bad_ones_are_refused) {
    tr_shop_breaker b[2] = {{.dependency = "stock", .state = TR_BREAKER_CLOSED},
                            {.dependency = "payment-provider",
                             .state = TR_BREAKER_HALF_OPEN,
                             .opened = 3,
                             .rejected = 70000}};
    uint8_t buf[TR_SHOP_BREAKERS_BODY_MAX];
    size_t len = 0;
    cr_assert_eq(tr__shop_breakers_encode(buf, sizeof buf, b, 2, &len), 0);
    tr_shop_breaker back[TR_SHOP_BREAKERS_MAX];
    uint32_t n = 0;
    cr_assert_eq(tr__shop_breakers_decode(buf, len, back, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(back[1].dependency, "payment-provider");
    cr_assert_eq(back[1].state, TR_BREAKER_HALF_OPEN);
    cr_assert_eq(back[1].opened, 3);
    cr_assert_eq(back[1].rejected, 70000);
    cr_assert_neq(tr__shop_breakers_decode(buf, len - 1, back, &n), 0, "a cut answer");
    static const uint8_t bad_state[] = {0x91, 0x94, 0xa1, 'x', 0x03, 0x00, 0x00};
    cr_assert_neq(tr__shop_breakers_decode(bad_state, sizeof bad_state, back, &n), 0);
    static const uint8_t bad_name[] = {0x91, 0x94, 0xa2, 'x', '"', 0x00, 0x00, 0x00};
    cr_assert_neq(tr__shop_breakers_decode(bad_name, sizeof bad_name, back, &n), 0);
    static const uint8_t good_name[] = {0x91, 0x94, 0xa2, 'x', '-', 0x00, 0x00, 0x00};
    cr_assert_eq(tr__shop_breakers_decode(good_name, sizeof good_name, back, &n), 0);
    tr_shop_breaker many[TR_SHOP_BREAKERS_MAX + 1] = {0};
    cr_assert_eq(tr__shop_breakers_encode(buf, sizeof buf, many, TR_SHOP_BREAKERS_MAX + 1, &len),
                 TR_EINVAL);
    cr_assert_eq(tr__shop_breakers_encode(buf, sizeof buf, many, TR_SHOP_BREAKERS_MAX, &len), 0);
    cr_assert_eq(tr__shop_breakers_decode(buf, len, back, &n), 0);
    cr_assert_eq(n, TR_SHOP_BREAKERS_MAX);
}
