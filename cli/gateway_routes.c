/* gateway_routes.c — the gateway's route table and handlers (cli/gateway.h): each route is one
 * row (method, path pattern, handler); a pattern's "{id}" segment matches one path segment,
 * which the handler gets as req->param. JSON in and out with jansson; every error is a
 * problem+json body (RFC 9457) with the reason in "detail". */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/catalog.h"
#include "cli/gateway.h"
#include "runtime/assert.h"

/* docs/openapi.json, embedded when compiling (cli/gateway_openapi.c). */
extern const char tr__gateway_openapi[];
extern const size_t tr__gateway_openapi_len;

typedef void (*gw_handler)(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res);

typedef struct gw_route {
    const char *method;
    const char *pattern;
    gw_handler handler;
} gw_route;

static const char *reason_phrase(unsigned status) {
    switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 409: return "Conflict";
    case 415: return "Unsupported Media Type";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

void tr__gw_problem(tr__gw_response *res, unsigned status, const char *detail) {
    json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                          reason_phrase(status), "status", (int)status, "detail", detail);
    res->status = status;
    res->content_type = "application/problem+json";
    res->body = p ? json_dumps(p, JSON_COMPACT) : NULL;
    res->len = res->body ? strlen(res->body) : 0;
    json_decref(p);
}

/* Answers with j (taken) as application/json. */
void tr__gw_reply_json(tr__gw_response *res, unsigned status, json_t *j) {
    res->status = status;
    res->content_type = "application/json";
    res->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    res->len = res->body ? strlen(res->body) : 0;
    json_decref(j);
    if (!res->body) {
        tr__gw_problem(res, 503, "out of memory");
    }
}

static json_t *product_json(const tr_catalog_product *p) {
    return json_pack("{s:I, s:s, s:I, s:s, s:I}", "id", (json_int_t)p->id, "name", p->name,
                     "price_cents", (json_int_t)p->price_cents, "description", p->description,
                     "version", (json_int_t)p->version);
}

/* A decimal id without sign or leading zero, 1..TR_CATALOG_ID_MAX. 0, or -1. */
int tr__gw_parse_id(const char *s, int64_t *id) {
    size_t n = strlen(s);
    if (n == 0 || n > 16 || s[0] == '0' || strspn(s, "0123456789") != n) {
        return -1;
    }
    *id = strtoll(s, NULL, 10);
    return *id <= TR_CATALOG_ID_MAX ? 0 : -1;
}

/* The catalog's error reply {"error": why}: true with why[0..cap) when reply is one. */
static bool catalog_error(const tr_msg *reply, char *why, size_t cap) {
    tr_mp_reader r;
    uint32_t n;
    char key[8];
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    return tr_mp_read_map(&r, &n) == 0 && n == 1 && tr_mp_read_str_copy(&r, key, sizeof key) == 0 &&
           strcmp(key, "error") == 0 && tr_mp_read_str_copy(&r, why, cap) == 0;
}

/* For the breaker: an error the catalog (or its writer) caused is a failure; an answer, or the
 * refusal of a bad request, shows that it works. */
static bool catalog_reply_ok(const tr_msg *reply) {
    char why[64];
    return !catalog_error(reply, why, sizeof why) || strcmp(why, "bad request") == 0;
}

/* A call that got no reply: 503 (with Retry-After when a breaker refused it) or 504. */
void tr__gw_call_failed(int rc, uint32_t retry_after_s, const char *who, tr__gw_response *res) {
    char detail[160];
    if (rc == TR_ETIMEDOUT) {
        snprintf(detail, sizeof detail, "the %s did not answer within the deadline", who);
        tr__gw_problem(res, 504, detail);
    } else if (rc == TR_EAGAIN) {
        snprintf(detail, sizeof detail,
                 "the %s is failing: its circuit breaker is open, retry after %u s", who,
                 retry_after_s);
        tr__gw_problem(res, 503, detail);
        res->retry_after_s = retry_after_s;
    } else {
        snprintf(detail, sizeof detail, "the %s is unavailable: %s", who, tr_strerror(rc));
        tr__gw_problem(res, 503, detail);
    }
}

/* The catalog's answer to a request (its error, or a product record) into *res. */
static void catalog_answer(int rc, uint32_t retry_after_s, tr_msg *reply, int64_t id,
                           unsigned ok_status, tr__gw_response *res) {
    char detail[128], why[64];
    tr_catalog_product p;
    if (rc != 0) {
        tr__gw_call_failed(rc, retry_after_s, "catalog", res);
        return;
    }
    if (reply->body_len == 1 && reply->body[0] == 0xc0) {
        snprintf(detail, sizeof detail, "no product with id %lld", (long long)id);
        tr__gw_problem(res, 404, detail);
    } else if (tr__catalog_record_decode(reply->body, reply->body_len, true, &p) == 0) {
        tr__gw_reply_json(res, ok_status == 201 && p.version > 1 ? 200 : ok_status,
                          product_json(&p));
    } else if (catalog_error(reply, why, sizeof why) && strcmp(why, "deadline exceeded") == 0) {
        tr__gw_problem(res, 504, "the catalog did not answer within the deadline");
    } else if (catalog_error(reply, why, sizeof why)) {
        snprintf(detail, sizeof detail, "the catalog refused the request: %s", why);
        tr__gw_problem(res, 503, detail);
    } else {
        tr__gw_problem(res, 503, "the catalog answered something it should not");
    }
    tr_msg_free(reply);
}

static void product_get(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    int64_t id;
    if (tr__gw_parse_id(req->param, &id) != 0) {
        tr__gw_problem(res, 400, "the id must be a decimal integer from 1 to 2^53-1");
        return;
    }
    uint8_t body[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 1);
    tr_mp_write_int(&w, id);
    tr_msg *reply = NULL;
    uint32_t retry_after_s = 0;
    int rc = tr__gw_call(node, TR__GW_DEP_CATALOG, req, "catalog", TR_CATALOG_GET, body, w.len,
                         catalog_reply_ok, &reply, &retry_after_s);
    catalog_answer(rc, retry_after_s, reply, id, 200, res);
}

/* A string member of at most max_chars code points (jansson has checked UTF-8). */
static bool text_ok(json_t *v, size_t max_chars, bool nonempty) {
    if (!json_is_string(v)) {
        return false;
    }
    size_t chars = 0;
    for (const unsigned char *s = (const unsigned char *)json_string_value(v); *s; s++) {
        chars += (*s & 0xc0) != 0x80;
    }
    return chars <= max_chars && (!nonempty || chars > 0);
}

/* The body of POST /products into *p. NULL, or why it is refused. */
static const char *product_parse(json_t *j, tr_catalog_product *p) {
    const char *key;
    json_t *v;
    if (!json_is_object(j)) {
        return "the body must be a JSON object";
    }
    json_object_foreach(j, key, v) {
        if (strcmp(key, "id") && strcmp(key, "name") && strcmp(key, "price_cents") &&
            strcmp(key, "description")) {
            return "unknown field (allowed: id, name, price_cents, description)";
        }
    }
    json_t *id = json_object_get(j, "id"), *name = json_object_get(j, "name");
    json_t *price = json_object_get(j, "price_cents"), *desc = json_object_get(j, "description");
    if (!json_is_integer(id) || json_integer_value(id) < 1 ||
        json_integer_value(id) > TR_CATALOG_ID_MAX) {
        return "id must be an integer from 1 to 2^53-1";
    }
    if (!text_ok(name, 50, true)) {
        return "name must be a string of 1 to 50 characters";
    }
    if (!json_is_integer(price) || json_integer_value(price) < 0 ||
        json_integer_value(price) > TR_CATALOG_PRICE_MAX) {
        return "price_cents must be an integer from 0 to 10^12";
    }
    if (desc && !text_ok(desc, 150, false)) {
        return "description must be a string of at most 150 characters";
    }
    memset(p, 0, sizeof *p);
    p->id = json_integer_value(id);
    p->price_cents = json_integer_value(price);
    snprintf(p->name, sizeof p->name, "%s", json_string_value(name));
    snprintf(p->description, sizeof p->description, "%s", desc ? json_string_value(desc) : "");
    return NULL;
}

static void product_put(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    json_error_t jerr;
    char detail[256];
    json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(detail, sizeof detail, "malformed JSON: %s (at byte %d)", jerr.text,
                 jerr.position);
        tr__gw_problem(res, 400, detail);
        return;
    }
    tr_catalog_product p;
    const char *why = product_parse(j, &p);
    json_decref(j);
    if (why) {
        tr__gw_problem(res, 400, why);
        return;
    }
    uint8_t body[TR_CATALOG_RECORD_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 4);
    tr_mp_write_int(&w, p.id);
    tr_mp_write_cstr(&w, p.name);
    tr_mp_write_int(&w, p.price_cents);
    tr_mp_write_cstr(&w, p.description);
    tr_msg *reply = NULL;
    uint32_t retry_after_s = 0;
    int rc = tr__gw_call(node, TR__GW_DEP_CATALOG_WRITER, req, "catalog", TR_CATALOG_PUT, body,
                         w.len, catalog_reply_ok, &reply, &retry_after_s);
    catalog_answer(rc, retry_after_s, reply, p.id, 201, res);
}

static void openapi_get(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    res->status = 200;
    res->content_type = "application/json";
    res->static_body = tr__gateway_openapi;
    res->len = tr__gateway_openapi_len;
}

/* GET /health: every breaker's state and figures; "degraded" while one is not closed. */
static void health_get(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    json_t *breakers = json_object();
    bool all_closed = true;
    for (int d = 0; d < TR__GW_DEP_COUNT; d++) {
        tr_breaker_status st;
        tr__gw_breaker_status(tr__gw_node_breakers(node), (tr__gw_dep)d, &st);
        all_closed = all_closed && st.state == TR_BREAKER_CLOSED;
        json_object_set_new(breakers, tr__gw_dep_name((tr__gw_dep)d),
                            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "state",
                                      tr_breaker_state_name(st.state), "transitions",
                                      (json_int_t)st.transitions, "opened", (json_int_t)st.opened,
                                      "rejected", (json_int_t)st.rejected, "successes",
                                      (json_int_t)st.successes, "failures", (json_int_t)st.failures,
                                      "retry_after_ms", (json_int_t)st.retry_after_ms));
    }
    tr__gw_reply_json(
        res, 200,
        json_pack("{s:s, s:o}", "status", all_closed ? "ok" : "degraded", "breakers", breakers));
}

/* The routes. Adding one is a row here, a handler above, and its path in docs/openapi.json. */
static const gw_route routes[] = {
    {"GET", "/openapi.json", openapi_get},
    {"GET", "/health", health_get},
    {"GET", "/products/{id}", product_get},
    {"POST", "/products", product_put},
    {"POST", "/orders", tr__gw_order_post},
    {"GET", "/orders/{id}", tr__gw_order_get},
    {"POST", "/orders/{id}/cancel", tr__gw_order_cancel},
};
#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

/* Whether path matches pattern; the {id} segment's text into param[0..cap). */
static bool path_match(const char *pattern, const char *path, char *param, size_t cap) {
    while (*pattern && *path) {
        if (*pattern == '{') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= cap) {
                return false;
            }
            memcpy(param, path, n);
            param[n] = 0;
            path += n;
            pattern = strchr(pattern, '}') + 1;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == 0 && *path == 0;
}

void tr__gw_route(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res) {
    TR_ASSERT(req->method != NULL && req->path != NULL && res->status == 0);
    char param[64];
    size_t allow_len = 0;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        if (!path_match(routes[i].pattern, req->path, param, sizeof param)) {
            continue;
        }
        if (!strcmp(routes[i].method, req->method)) {
            tr__gw_request r = *req;
            r.param = param;
            routes[i].handler(node, &r, res);
            return;
        }
        if (allow_len + strlen(routes[i].method) + 3 < sizeof res->allow) {
            allow_len += (size_t)snprintf(res->allow + allow_len, sizeof res->allow - allow_len,
                                          "%s%s", allow_len ? ", " : "", routes[i].method);
        }
    }
    if (allow_len > 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "%.16s is not allowed here (allowed: %s)", req->method,
                 res->allow);
        tr__gw_problem(res, 405, detail);
        return;
    }
    tr__gw_problem(res, 404, "no such route (see /openapi.json)");
}
