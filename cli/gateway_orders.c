/* gateway_orders.c — the order routes (cli/gateway.h): POST /orders with an Idempotency-Key,
 * GET /orders/{id}, POST /orders/{id}/cancel, over the orders service's client protocol
 * (actors/shop.h), behind the gateway's "orders" breaker. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "actors/shop.h"
#include "cli/gateway.h"
#include "runtime/assert.h"

static json_t *order_json(const tr_shop_order *o) {
    json_t *j =
        json_pack("{s:I, s:s, s:I}", "id", (json_int_t)o->id, "state",
                  tr__shop_state_name(o->state), "amount_cents", (json_int_t)o->amount_cents);
    if (j && o->state == TR_SHOP_CANCELLED) {
        json_object_set_new(j, "reason", json_string(o->reason));
    }
    return j;
}

/* The service's error strings that say it is in trouble (actors/shop.h): transient, 503 or
 * 504, and failures for the breaker. */
static bool transient(const char *error) {
    return strcmp(error, "deadline exceeded") == 0 || strcmp(error, "unavailable") == 0 ||
           strcmp(error, "busy") == 0 || strcmp(error, "indeterminate") == 0 ||
           strncmp(error, "breaker open", 12) == 0;
}

/* For the breaker: an order, or a refusal of the request (bad request, no such order, a key
 * conflict), shows that the service works; so does a refusal by one of the service's own
 * breakers ("breaker open: payment-provider"): it answered at once, and the breaker it names
 * guards the dependency that failed. */
static bool orders_reply_ok(const tr_msg *reply) {
    tr_shop_order o;
    char error[64];
    return tr__shop_answer_decode(reply->body, reply->body_len, &o, error, sizeof error) == 0 &&
           (!transient(error) || strncmp(error, "breaker open", 12) == 0);
}

/* The service's answer (an order, or an error string) into *res; reply taken. An order is
 * answered ok_status, but 200 when ok_status is 201 and the answer does not say "created". */
static void orders_answer(tr_msg *reply, unsigned ok_status, tr__gw_response *res) {
    tr_shop_order o;
    char error[64], detail[128];
    if (tr__shop_answer_decode(reply->body, reply->body_len, &o, error, sizeof error) != 0) {
        tr__gw_problem(res, 503, "the orders service answered something it should not");
    } else if (error[0] == 0) {
        tr__gw_reply_json(res, ok_status == 201 && !o.created ? 200 : ok_status, order_json(&o));
    } else if (strncmp(error, "bad request", 11) == 0) {
        tr__gw_problem(res, 400, error);
    } else if (strcmp(error, "no such order") == 0) {
        tr__gw_problem(res, 404, "no such order");
    } else if (strcmp(error, "key conflict") == 0) {
        tr__gw_problem(res, 409, "another idempotency key owns this key's order id: use another");
    } else if (strcmp(error, "deadline exceeded") == 0) {
        tr__gw_problem(res, 504, "the orders service did not answer within the deadline");
    } else {
        snprintf(detail, sizeof detail,
                 "the orders service is unavailable (%s): retry with the "
                 "same Idempotency-Key",
                 error);
        tr__gw_problem(res, 503, detail);
        res->retry_after_s = TR_SHOP_RETRY_AFTER_S;
    }
    tr_msg_free(reply);
}

/* One request to the local "orders" coordinator: 0 with *reply owned, or *res filled. */
static int orders_call(tr__gw_node *node, const tr__gw_request *req, uint32_t type,
                       const uint8_t *body, size_t len, tr_msg **reply, tr__gw_response *res) {
    uint32_t retry_after_s = 0;
    int rc = tr__gw_call(node, TR__GW_DEP_ORDERS, req, TR_SHOP_ORDERS_NAME, type, body, len,
                         orders_reply_ok, reply, &retry_after_s);
    if (rc != 0) {
        tr__gw_call_failed(rc, retry_after_s, "orders service", res);
    }
    return rc;
}

/* An Idempotency-Key: 1..TR_SHOP_KEY_MAX visible ASCII characters. */
static bool key_ok(const char *key) {
    size_t n = key ? strlen(key) : 0;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e) {
            return false;
        }
    }
    return n >= 1 && n <= TR_SHOP_KEY_MAX;
}

/* The body {"item", "qty"[, "customer"]} into *p. NULL, or why it is refused. */
static const char *order_parse(json_t *j, tr_shop_place *p) {
    const char *key;
    json_t *v;
    if (!json_is_object(j)) {
        return "the body must be a JSON object";
    }
    json_object_foreach(j, key, v) {
        if (strcmp(key, "item") && strcmp(key, "qty") && strcmp(key, "customer")) {
            return "unknown field (allowed: item, qty, customer)";
        }
    }
    json_t *item = json_object_get(j, "item"), *qty = json_object_get(j, "qty");
    json_t *customer = json_object_get(j, "customer");
    if (!json_is_integer(item) || json_integer_value(item) < 0 ||
        json_integer_value(item) > TR_SHOP_ITEM_MAX) {
        return "item must be an integer from 0 to 1023";
    }
    if (!json_is_integer(qty) || json_integer_value(qty) < 1 ||
        json_integer_value(qty) > TR_SHOP_QTY_MAX) {
        return "qty must be an integer from 1 to 100";
    }
    if (customer && (!json_is_integer(customer) || json_integer_value(customer) < 0 ||
                     json_integer_value(customer) > TR_SHOP_CUSTOMER_MAX)) {
        return "customer must be an integer from 0 to 2^32-1";
    }
    p->item = (uint32_t)json_integer_value(item);
    p->qty = (uint32_t)json_integer_value(qty);
    p->customer = customer ? (uint32_t)json_integer_value(customer) : 0;
    return NULL;
}

void tr__gw_order_post(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    json_error_t jerr;
    char detail[256];
    tr_shop_place p;
    memset(&p, 0, sizeof p);
    if (!key_ok(req->idempotency_key)) {
        tr__gw_problem(res, 400,
                       "an Idempotency-Key header of 1 to 64 visible ASCII characters "
                       "is required");
        return;
    }
    json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(detail, sizeof detail, "malformed JSON: %s (at byte %d)", jerr.text,
                 jerr.position);
        tr__gw_problem(res, 400, detail);
        return;
    }
    const char *why = order_parse(j, &p);
    json_decref(j);
    if (why) {
        tr__gw_problem(res, 400, why);
        return;
    }
    p.key_len = (uint32_t)strlen(req->idempotency_key);
    memcpy(p.key, req->idempotency_key, p.key_len);
    uint8_t body[TR_SHOP_BODY_MAX];
    size_t len = 0;
    int rc = tr__shop_place_encode(body, sizeof body, &p, &len);
    TR_ASSERT(rc == 0); /* the fields are checked above */
    tr_msg *reply = NULL;
    /* 201 only to the request that created the order (the answer's "created"); every other
     * request with the key is answered its order with 200 */
    if (orders_call(node, req, TR_SHOP_PLACE, body, len, &reply, res) == 0) {
        orders_answer(reply, 201, res);
    }
}

/* GET /orders/{id} and POST /orders/{id}/cancel: one request of `type` naming the order. */
static void order_by_id(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res,
                        uint32_t type) {
    int64_t id;
    if (tr__gw_parse_id(req->param, &id) != 0) {
        tr__gw_problem(res, 400, "the id must be a decimal integer from 1 to 2^53-1");
        return;
    }
    if (type == TR_SHOP_CANCEL && req->body_len > 0) {
        tr__gw_problem(res, 400, "this route takes no request body");
        return;
    }
    uint8_t body[TR_SHOP_BODY_MAX];
    size_t len = 0;
    int rc = tr__shop_get_encode(body, sizeof body, (uint64_t)id, &len);
    TR_ASSERT(rc == 0); /* an id within 2^53 always encodes */
    tr_msg *reply = NULL;
    if (orders_call(node, req, type, body, len, &reply, res) == 0) {
        orders_answer(reply, 200, res);
    }
}

void tr__gw_order_get(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    order_by_id(node, req, res, TR_SHOP_GET);
}

void tr__gw_order_cancel(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    order_by_id(node, req, res, TR_SHOP_CANCEL);
}
