/* gateway.c — the gateway's HTTP side over libmicrohttpd (cli/gateway.h): listening,
 * connection limits, request bodies within their bound, and the inboxes through which the
 * routes ask this node's actors. */
#include "cli/gateway.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gateway_trace.h"
#include "runtime/assert.h"
#include "runtime/internal.h"

/* The longest request head (request line and headers) a connection may send: MHD's buffer. */
#define GW_HEAD_MAX (32u << 10)
/* The largest actor request body a handler builds (before the deadline's wrapper). */
#define GW_CALL_BODY_MAX 4096
/* The most polling threads (and inboxes). */
#define GW_THREADS_MAX 64

struct tr__gw_node {
    tr_runtime *rt;
    uint32_t node_id;
    uint32_t timeout_ms;
    uint32_t inbox_count;
    tr__gw_breakers *breakers; /* owned */
    tr_inbox *inboxes[GW_THREADS_MAX];
    /* One flag per inbox: a handler takes a free inbox with acq_rel exchange (its earlier
     * user's request is complete before it is reused) and returns it with a release store. */
    atomic_bool busy[GW_THREADS_MAX];
};

struct tr__gateway {
    struct MHD_Daemon *daemon;
    tr__gw_node node;
    uint32_t body_max;
    uint16_t port;
    _Atomic uint64_t requests; /* relaxed: a figure, ordering nothing */
};

/* One request's state, from its first call to its completion. */
typedef struct gw_upload {
    size_t len;
    bool too_big;
    bool answered; /* a response was queued before the body was read */
    uint64_t deadline_at_ms;
    uint8_t *body; /* owned; body_max bytes, allocated on the first body bytes */
} gw_upload;

/* One request on a free inbox (one per polling thread, so one is always free). */
static int ask(tr__gw_node *node, const tr_trace *trace, const char *actor, uint32_t type,
               const void *body, size_t len, uint32_t timeout_ms, tr_msg **reply_out) {
    for (uint32_t i = 0;; i = (i + 1) % node->inbox_count) {
        if (atomic_exchange_explicit(&node->busy[i], true, memory_order_acq_rel)) {
            continue; /* in use by another thread: at most one per thread, so one is free */
        }
        tr_addr to = {.node = node->node_id};
        tr__inbox_trace_use(node->inboxes[i], trace);
        int rc =
            tr_inbox_request(node->inboxes[i], to, actor, type, body, len, timeout_ms, reply_out);
        atomic_store_explicit(&node->busy[i], false, memory_order_release);
        return rc;
    }
}

int tr__gw_call(tr__gw_node *node, tr__gw_dep dep, const tr__gw_request *req, const char *actor,
                uint32_t type, const void *body, size_t len, tr__gw_reply_ok reply_ok,
                tr_msg **reply_out, uint32_t *retry_after_s) {
    TR_ASSERT(node != NULL && node->inbox_count > 0 && actor != NULL && reply_out != NULL);
    TR_ASSERT(req != NULL && reply_ok != NULL && retry_after_s != NULL);
    *retry_after_s = 0;
    uint64_t left = tr_deadline_remaining_ms(req->deadline_at_ms, tr__gw_now_ms());
    if (left == 0) {
        return TR_ETIMEDOUT;
    }
    uint8_t wrapped[TR_DEADLINE_WRAP_MAX + GW_CALL_BODY_MAX];
    size_t wrapped_len = 0;
    if (tr_deadline_wrap(wrapped, sizeof wrapped, (uint32_t)left, body, len, &wrapped_len) != 0) {
        return TR_EINVAL; /* a handler's own body: not one msgpack value, or over the bound */
    }
    if (tr__gw_breaker_allow(node->breakers, dep, retry_after_s) != 0) {
        return TR_EAGAIN;
    }
    tr_addr at;
    int rc =
        tr_node_lookup(tr_runtime_node(node->rt), actor, &at) != 0
            ? TR_ENOPROC
            : ask(node, &req->trace, actor, type, wrapped, wrapped_len, (uint32_t)left, reply_out);
    tr__gw_breaker_record(node->breakers, dep, rc == 0 && reply_ok(*reply_out));
    return rc;
}

tr__gw_breakers *tr__gw_node_breakers(tr__gw_node *node) {
    return node->breakers;
}

static enum MHD_Result send_response(struct MHD_Connection *c, tr__gw_response *res, bool close) {
    /* every route fills a status and a content type; a body is one of the two kinds */
    TR_ASSERT(res->status >= 200 && res->status < 600 && res->content_type != NULL);
    TR_ASSERT(res->static_body == NULL || res->body == NULL);
    struct MHD_Response *r =
        res->static_body
            ? MHD_create_response_from_buffer(res->len, (void *)res->static_body,
                                              MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(res->len, res->body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(res->body);
        return MHD_NO; /* out of memory: MHD closes the connection */
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    if (res->allow[0]) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
    }
    if (res->retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%u", res->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    if (close) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    if (res->traceparent[0]) {
        MHD_add_response_header(r, "traceparent", res->traceparent);
    }
    enum MHD_Result rc = MHD_queue_response(c, res->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_problem(tr__gateway *gw, struct MHD_Connection *c, unsigned status,
                                      const char *detail, bool close) {
    tr__gw_response res;
    memset(&res, 0, sizeof res);
    tr__gw_problem(&res, status, detail);
    tr__gw_trace gt; /* a request refused before routing has its span too (gateway_trace.h) */
    tr_node *node = tr_runtime_node(gw->node.rt);
    tr__gw_trace_begin(node, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"), "HTTP",
                       "413", &gt);
    tr__gw_trace_end(node, &gt, res.traceparent, sizeof res.traceparent);
    return send_response(c, &res, close);
}

/* The first call of a request: its state, and a 413 at once when the announced body is over
 * the bound (the body is then never read; the connection closes after the answer). */
static enum MHD_Result request_begin(tr__gateway *gw, struct MHD_Connection *c, void **con_cls) {
    gw_upload *up = calloc(1, sizeof *up);
    if (!up) {
        return MHD_NO;
    }
    *con_cls = up;
    up->deadline_at_ms = tr__gw_now_ms() + gw->node.timeout_ms;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > gw->body_max) {
        char detail[96];
        snprintf(detail, sizeof detail, "the body is over the limit of %u bytes", gw->body_max);
        up->answered = true;
        return answer_problem(gw, c, MHD_HTTP_CONTENT_TOO_LARGE, detail, true);
    }
    return MHD_YES;
}

/* Keeps at most body_max bytes of the body; beyond, the rest is read and dropped. */
static enum MHD_Result request_body(tr__gateway *gw, gw_upload *up, const char *data,
                                    size_t *size) {
    if (!up->too_big && !up->answered) {
        if (!up->body && !(up->body = malloc(gw->body_max))) {
            return MHD_NO;
        }
        if (*size > gw->body_max - up->len) {
            up->too_big = true;
        } else {
            memcpy(up->body + up->len, data, *size);
            up->len += *size;
        }
    }
    *size = 0;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    tr__gateway *gw = cls;
    gw_upload *up = *con_cls;
    if (!up) {
        return request_begin(gw, c, con_cls);
    }
    if (*upload_data_size > 0) {
        return request_body(gw, up, upload_data, upload_data_size);
    }
    if (up->answered) {
        return MHD_YES;
    }
    up->answered = true;
    if (up->too_big) {
        char detail[96];
        snprintf(detail, sizeof detail, "the body is over the limit of %u bytes", gw->body_max);
        return answer_problem(gw, c, MHD_HTTP_CONTENT_TOO_LARGE, detail, true);
    }
    tr__gw_request req = {.method = method,
                          .path = url,
                          .param = "",
                          .body = up->body,
                          .body_len = up->len,
                          .deadline_at_ms = up->deadline_at_ms,
                          .idempotency_key =
                              MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key")};
    tr__gw_trace gt; /* the traceparent header (gateway_trace.h) */
    tr_node *node = tr_runtime_node(gw->node.rt);
    tr__gw_trace_begin(node, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent"), method,
                       url, &gt);
    req.trace = gt.out;
    tr__gw_response res;
    memset(&res, 0, sizeof res);
    tr__gw_route(&gw->node, &req, &res);
    tr__gw_trace_end(node, &gt, res.traceparent, sizeof res.traceparent);
    atomic_fetch_add_explicit(&gw->requests, 1, memory_order_relaxed);
    return send_response(c, &res, false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    gw_upload *up = *con_cls;
    if (up) {
        free(up->body);
        free(up);
        *con_cls = NULL;
    }
}

/* "A.B.C.D:PORT" into *sa. 0, or -1. */
static int parse_addr(const char *addr, struct sockaddr_in *sa) {
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    bool ok =
        colon[1] != 0 && *end == 0 && port <= 65535 && inet_pton(AF_INET, host, &sa->sin_addr) == 1;
    return ok ? 0 : -1;
}

static void gateway_free(tr__gateway *gw) {
    for (uint32_t i = 0; i < gw->node.inbox_count; i++) {
        tr_inbox_destroy(gw->node.inboxes[i]);
    }
    tr__gw_breakers_destroy(gw->node.breakers);
    free(gw);
}

static int gateway_inboxes(tr__gateway *gw, uint32_t threads, char *err, size_t cap) {
    for (uint32_t i = 0; i < threads; i++) {
        int rc = tr_inbox_create(gw->node.rt, &gw->node.inboxes[i]);
        if (rc != 0) {
            snprintf(err, cap, "cannot create an inbox: %s", tr_strerror(rc));
            return rc;
        }
        gw->node.inbox_count++;
    }
    return 0;
}

int tr__gateway_start(tr_runtime *rt, const tr__gateway_config *cfg, tr__gateway **out, char *err,
                      size_t cap) {
    TR_ASSERT(rt != NULL && cfg != NULL && cfg->addr != NULL && out != NULL && err != NULL);
    struct sockaddr_in sa;
    if (parse_addr(cfg->addr, &sa) != 0) {
        snprintf(err, cap, "--http %s: want IPV4:PORT, e.g. 127.0.0.1:8080", cfg->addr);
        return TR_EINVAL;
    }
    uint32_t threads = cfg->threads ? cfg->threads : TR__GATEWAY_THREADS_DEFAULT;
    if (threads > GW_THREADS_MAX) {
        snprintf(err, cap, "at most %d gateway threads", GW_THREADS_MAX);
        return TR_EINVAL;
    }
    tr__gateway *gw = calloc(1, sizeof *gw);
    if (!gw) {
        snprintf(err, cap, "out of memory");
        return TR_ENOMEM;
    }
    gw->node.rt = rt;
    gw->node.node_id = tr_node_id(tr_runtime_node(rt));
    gw->node.timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : TR__GATEWAY_TIMEOUT_MS_DEFAULT;
    gw->body_max = cfg->body_max ? cfg->body_max : TR__GATEWAY_BODY_DEFAULT;
    int rc =
        tr__gw_breakers_create(cfg->breaker, tr_node_name(tr_runtime_node(rt)), &gw->node.breakers);
    if (rc != 0) {
        snprintf(err, cap, "the gateway's breakers: %s", tr_strerror(rc));
        gateway_free(gw);
        return rc;
    }
    rc = gateway_inboxes(gw, threads, err, cap);
    if (rc != 0) {
        gateway_free(gw);
        return rc;
    }
    unsigned conns = cfg->connections_max ? cfg->connections_max : TR__GATEWAY_CONNECTIONS_DEFAULT;
    unsigned idle = cfg->idle_s ? cfg->idle_s : TR__GATEWAY_IDLE_S_DEFAULT;
    gw->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                  on_request, gw, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                  MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                                  conns, MHD_OPTION_CONNECTION_TIMEOUT, idle,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_HEAD_MAX,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw, MHD_OPTION_END);
    if (!gw->daemon) {
        snprintf(err, cap, "--http %s: cannot listen (address in use or not local?)", cfg->addr);
        gateway_free(gw);
        return TR_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(gw->daemon, MHD_DAEMON_INFO_BIND_PORT);
    gw->port = info ? info->port : ntohs(sa.sin_port);
    *out = gw;
    return 0;
}

uint16_t tr__gateway_port(const tr__gateway *gw) {
    return gw->port;
}

uint64_t tr__gateway_requests(const tr__gateway *gw) {
    return atomic_load_explicit(&((tr__gateway *)gw)->requests, memory_order_relaxed);
}

void tr__gateway_stop(tr__gateway *gw) {
    if (gw) {
        MHD_stop_daemon(gw->daemon);
        gateway_free(gw);
    }
}

tr__gw_breakers *tr__gateway_breakers(tr__gateway *gw) {
    return gw->node.breakers;
}
