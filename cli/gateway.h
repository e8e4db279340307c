/* gateway.h — the HTTP/JSON gateway of a node (`troupe node --http ADDR`): an HTTP/1.1 server
 * (libmicrohttpd, its own threads) that turns requests into actor requests on this node and
 * their replies into JSON. The routes are one table (cli/gateway_routes.c); the contract is
 * docs/openapi.json, served at GET /openapi.json (docs/gateway.md).
 *
 * Threads: libmicrohttpd runs `threads` polling threads; a handler runs on one of them and
 * blocks it while it waits for its actor's reply (tr_inbox_request, at most timeout_ms), so
 * the gateway holds one inbox per thread and never runs on an actor's worker.
 * Limits: at most connections_max connections (more are refused at accept), a request head
 * within 32 KiB and a body within body_max bytes (413 beyond), a connection idle for idle_s
 * seconds is closed (a client that sends a request slowly cannot hold it for longer). Memory
 * per connection is bounded by the head buffer and body_max.
 * Errors: application/problem+json (RFC 9457) with the reason in "detail"; malformed requests
 * that the HTTP parser itself refuses get its plain 4xx and a close. */
#ifndef TR_CLI_GATEWAY_H
#define TR_CLI_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "cli/gateway_breakers.h"
#include "troupe.h"

#define TR__GATEWAY_THREADS_DEFAULT 2
#define TR__GATEWAY_CONNECTIONS_DEFAULT 256
#define TR__GATEWAY_BODY_DEFAULT 16384
#define TR__GATEWAY_TIMEOUT_MS_DEFAULT 2000
#define TR__GATEWAY_IDLE_S_DEFAULT 10

typedef struct tr__gateway_config {
    const char *addr;         /* "IPV4:PORT" (borrowed for the call); port 0: any free port */
    uint32_t threads;         /* 0: TR__GATEWAY_THREADS_DEFAULT */
    uint32_t connections_max; /* 0: TR__GATEWAY_CONNECTIONS_DEFAULT */
    uint32_t body_max;        /* bytes; 0: TR__GATEWAY_BODY_DEFAULT */
    uint32_t timeout_ms;      /* an actor request's deadline; 0: TR__GATEWAY_TIMEOUT_MS_DEFAULT */
    uint32_t idle_s;          /* 0: TR__GATEWAY_IDLE_S_DEFAULT */
    /* every dependency's breaker (copied); NULL: tr_breaker_config_init's defaults */
    const tr_breaker_config *breaker;
} tr__gateway_config;

typedef struct tr__gateway tr__gateway;

/* Starts serving on cfg->addr, talking to the actors of rt's node (rt borrowed: it must
 * outlive the gateway). *out is owned: tr__gateway_stop. 0, or a negative TR_E code with the
 * reason in err[0..cap). */
int tr__gateway_start(tr_runtime *rt, const tr__gateway_config *cfg, tr__gateway **out, char *err,
                      size_t cap);
/* The port it listens on (the one chosen when cfg->addr asked for port 0). */
uint16_t tr__gateway_port(const tr__gateway *gw);
/* Requests answered since the start, by the routes (not counting the HTTP parser's own). */
uint64_t tr__gateway_requests(const tr__gateway *gw);
/* Stops accepting, closes every connection, joins its threads and frees it. */
void tr__gateway_stop(tr__gateway *gw);

/* ---- between gateway.c (HTTP) and gateway_routes.c (the route table) ---- */

typedef struct tr__gw_request {
    const char *method; /* borrowed for the call, as the rest */
    const char *path;
    const char *param; /* the {id} segment of the matched route, NUL-terminated; "" if none */
    const uint8_t *body;
    size_t body_len;
    uint64_t deadline_at_ms; /* tr__gw_now_ms() when the request began + the gateway's timeout */
    const char *idempotency_key; /* the Idempotency-Key header, or NULL */
    tr_trace
        trace; /* what its calls carry: the request's trace, the gateway's span (gateway_trace.h) */
} tr__gw_request;

typedef struct tr__gw_response {
    unsigned status;
    const char *content_type; /* static */
    char *body;               /* owned (malloc); NULL when `static_body` is set */
    const char *static_body;  /* static, for the contract */
    size_t len;
    char allow[32];         /* the Allow header of a 405, or "" */
    uint32_t retry_after_s; /* > 0: a Retry-After header */
    char traceparent[56];   /* the traceparent header: the gateway's span; "" for none */
} tr__gw_response;

/* What a handler reaches of the node: one request/reply with an actor of this node by name,
 * in the order of docs/resilience.md: the deadline first (none left: TR_ETIMEDOUT, nothing
 * sent), then dep's breaker (open: TR_EAGAIN with *retry_after_s, nothing sent), then the
 * request, its body wrapped with the time left (the deadline convention of
 * docs/resilience.md) and that time as its timeout. The outcome is recorded on the breaker:
 * no actor, no answer or an error of the request is a failure; a reply is what
 * reply_ok(reply) says. 0 with *reply_out owned (tr_msg_free); TR_EAGAIN; TR_ETIMEDOUT;
 * TR_ENOPROC when no such actor runs here; another error of tr_inbox_request. */
typedef struct tr__gw_node tr__gw_node;
typedef bool (*tr__gw_reply_ok)(const tr_msg *reply);
int tr__gw_call(tr__gw_node *node, tr__gw_dep dep, const tr__gw_request *req, const char *actor,
                uint32_t type, const void *body, size_t len, tr__gw_reply_ok reply_ok,
                tr_msg **reply_out, uint32_t *retry_after_s);
/* The gateway's breakers (valid while the gateway runs). */
tr__gw_breakers *tr__gw_node_breakers(tr__gw_node *node);
/* The same, from the gateway (valid until tr__gateway_stop). */
tr__gw_breakers *tr__gateway_breakers(tr__gateway *gw);

/* Routes one request by the table: fills *res (status, body); an unknown path is 404, a known
 * one with another method 405 with its Allow header. */
void tr__gw_route(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res);
/* A problem+json body (RFC 9457) for status with the reason `detail` into *res. */
void tr__gw_problem(tr__gw_response *res, unsigned status, const char *detail);

/* ---- shared by the route files (gateway_routes.c, gateway_orders.c) ---- */

struct json_t;
/* Answers with j (a jansson value, taken) as application/json; 503 when it cannot be dumped. */
void tr__gw_reply_json(tr__gw_response *res, unsigned status, struct json_t *j);
/* A decimal id without sign or leading zero, 1..2^53-1. 0, or -1. */
int tr__gw_parse_id(const char *s, int64_t *id);
/* A tr__gw_call that got no reply into *res: 503 (with Retry-After when a breaker refused it,
 * retry_after_s) or 504; who names the dependency in the detail. */
void tr__gw_call_failed(int rc, uint32_t retry_after_s, const char *who, tr__gw_response *res);
/* The order routes (cli/gateway_orders.c): POST /orders, GET /orders/{id},
 * POST /orders/{id}/cancel. */
void tr__gw_order_post(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res);
void tr__gw_order_get(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res);
void tr__gw_order_cancel(tr__gw_node *node, const tr__gw_request *req, tr__gw_response *res);

#endif
