/* metrics_http.c — the Prometheus endpoint of a node (metrics_http.h). */
#include "cli/metrics_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/metrics_sources.h"
#include "cluster/cluster.h"
#include "cluster/transport.h"
#include "proto/membership.h"
#include "runtime/assert.h"
#include "runtime/metrics.h"

#define PAGE_MAX (1u << 20)
#define CONNECTIONS_MAX 16u
#define IDLE_S 10u
#define TOPICS_ASK_MS 250u /* a broker that does not answer STATS in time: troupe_topics_up 0 */
#define ORDERS_ASK_MS 250u /* an orders coordinator that does not answer: no series of its own */

struct tr__metrics_http {
    struct MHD_Daemon *daemon;
    tr_runtime *rt;
    tr_cluster *cl;
    uint16_t port;
    /* owned; asks the local topics broker and orders coordinator (one scrape at once) */
    tr_inbox *inbox;
    pthread_mutex_t lock;        /* sources: a scrape renders them, attach replaces them */
    tr__metrics_sources sources; /* [lock] */
};

static void render_transport(const tr_transport_stats *s, tr__metrics_text *t) {
    tr__metrics_family(t, "troupe_transport_frames_total", "counter",
                       "Frames read from peers and clients, envelopes written to them.");
    tr__metrics_printf(t, "troupe_transport_frames_total{direction=\"in\"} %llu\n",
                       (unsigned long long)s->frames_in);
    tr__metrics_printf(t, "troupe_transport_frames_total{direction=\"out\"} %llu\n",
                       (unsigned long long)s->frames_out);
    tr__metrics_family(t, "troupe_transport_bytes_total", "counter",
                       "Bytes read from and written to peers and clients.");
    tr__metrics_printf(t, "troupe_transport_bytes_total{direction=\"in\"} %llu\n",
                       (unsigned long long)s->bytes_in);
    tr__metrics_printf(t, "troupe_transport_bytes_total{direction=\"out\"} %llu\n",
                       (unsigned long long)s->bytes_out);
    const struct {
        const char *name, *help;
        uint64_t v;
    } rows[] = {
        {"troupe_transport_conns_accepted_total", "Connections accepted.", s->conns_accepted},
        {"troupe_transport_conns_refused_total", "Connections that failed their handshake.",
         s->conns_refused},
        {"troupe_transport_send_full_total", "Sends refused by a full peer queue.", s->send_full},
        {"troupe_transport_send_unreachable_total", "Sends to an unknown or down node.",
         s->send_unreach},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        tr__metrics_family(t, rows[i].name, "counter", rows[i].help);
        tr__metrics_printf(t, "%s %llu\n", rows[i].name, (unsigned long long)rows[i].v);
    }
    const char *closed = "troupe_transport_preauth_closed_total";
    tr__metrics_family(t, closed, "counter",
                       "Connections closed before they authenticated: evicted to make room for a "
                       "newcomer, or out of time for their handshake.");
    tr__metrics_printf(t, "%s{reason=\"evicted\"} %llu\n", closed,
                       (unsigned long long)s->conns_evicted);
    tr__metrics_printf(t, "%s{reason=\"handshake_timeout\"} %llu\n", closed,
                       (unsigned long long)s->handshake_timeouts);
}

static void render_peers(const tr_transport_member *m, int n, tr__metrics_text *t) {
    tr__metrics_family(t, "troupe_peer_phi", "gauge",
                       "The phi-accrual suspicion of a linked peer (0 when not linked).");
    for (int i = 0; i < n; i++) {
        tr__metrics_printf(t, "troupe_peer_phi{peer=\"%s\"} %.3f\n", m[i].name, m[i].phi);
    }
    const struct {
        const char *name, *help;
        size_t in, out;
    } flows[] = {
        {"troupe_peer_frames_total", "Frames read from each member, envelopes written to it.",
         offsetof(tr_transport_member, frames_in), offsetof(tr_transport_member, frames_out)},
        {"troupe_peer_bytes_total", "Bytes read from and written to each member.",
         offsetof(tr_transport_member, bytes_in), offsetof(tr_transport_member, bytes_out)},
    };
    for (size_t f = 0; f < sizeof flows / sizeof flows[0]; f++) {
        tr__metrics_family(t, flows[f].name, "counter", flows[f].help);
        for (int i = 0; i < n; i++) {
            uint64_t in, out;
            memcpy(&in, (const char *)&m[i] + flows[f].in, sizeof in);
            memcpy(&out, (const char *)&m[i] + flows[f].out, sizeof out);
            tr__metrics_printf(t, "%s{peer=\"%s\",direction=\"in\"} %llu\n", flows[f].name,
                               m[i].name, (unsigned long long)in);
            tr__metrics_printf(t, "%s{peer=\"%s\",direction=\"out\"} %llu\n", flows[f].name,
                               m[i].name, (unsigned long long)out);
        }
    }
    tr__metrics_family(t, "troupe_peer_state", "gauge",
                       "1 for the failure detector's state of each peer, 0 for the others.");
    static const tr_member_status states[] = {TR_MEMBER_JOINING, TR_MEMBER_UP, TR_MEMBER_SUSPECT,
                                              TR_MEMBER_DOWN};
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
            tr__metrics_printf(t, "troupe_peer_state{peer=\"%s\",state=\"%s\"} %d\n", m[i].name,
                               tr__member_status_name(states[k]), m[i].status == states[k]);
        }
    }
}

void tr__metrics_http_render(tr_runtime *rt, tr_cluster *cl, tr__metrics_text *t) {
    tr_node *node = tr_runtime_node(rt);
    tr__metrics_family(t, "troupe_node_info", "gauge", "This node: its name and id (always 1).");
    tr__metrics_printf(t, "troupe_node_info{node=\"%s\",id=\"%u\"} 1\n", tr_node_name(node),
                       tr_node_id(node));
    tr__metrics_render_node(node, t);
    tr_transport_member *members = cl ? malloc(TR_MEMBERS_MAX * sizeof *members) : NULL;
    if (members) {
        tr_transport_stats s;
        int n = tr__cluster_view_get(cl, &s, members, TR_MEMBERS_MAX);
        render_transport(&s, t);
        render_peers(members, n, t);
    } else if (cl) {
        t->cut = true; /* out of memory: answered 500 rather than a page without peers */
    }
    free(members);
}

/* The local topics broker's figures (docs/pubsub.md, "Topics" in troupe.h): the subscriptions,
 * deliveries and buffers of the topics this node is home of. They live in the broker's state,
 * so the scrape asks it (a STATS request from the endpoint's inbox, TOPICS_ASK_MS at most);
 * without a broker, or without an answer in time, troupe_topics_up is 0 and no other sample is
 * written (a figure that is not known is not shown as 0). */
static void render_topics(tr_runtime *rt, tr_inbox *inbox, tr__metrics_text *t) {
    tr_topics_stats st;
    tr_addr at;
    bool up = false;
    if (inbox && tr_node_lookup(tr_runtime_node(rt), TR_TOPICS_NAME, &at) == 0) {
        tr_msg *reply = NULL;
        up = tr_inbox_request(inbox, at, NULL, TR_TOPIC_MSG_STATS, NULL, 0, TOPICS_ASK_MS,
                              &reply) == 0 &&
             reply->type == TR_TOPIC_MSG_STATS &&
             tr_topics_stats_read(reply->body, reply->body_len, &st) == 0;
        tr_msg_free(reply);
    }
    tr__metrics_family(t, "troupe_topics_up", "gauge",
                       "1 when this node's topics broker answered the scrape's STATS request.");
    tr__metrics_printf(t, "troupe_topics_up %d\n", up ? 1 : 0);
    if (!up) {
        return;
    }
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } rows[] = {
        {"troupe_topics_subscriptions", "gauge",
         "Subscriptions to the topics this node is home of.",
         offsetof(tr_topics_stats, subscriptions)},
        {"troupe_topics_pending", "gauge", "Events being delivered (not yet acked by everyone).",
         offsetof(tr_topics_stats, pending)},
        {"troupe_topics_delivered_total", "counter", "(event, subscriber) acks received.",
         offsetof(tr_topics_stats, delivered)},
        {"troupe_topics_resent_total", "counter", "Events sent again to a subscriber.",
         offsetof(tr_topics_stats, resent)},
        {"troupe_topics_refused_total", "counter", "Publishes refused by back-pressure.",
         offsetof(tr_topics_stats, refused)},
        {"troupe_topics_queue_high", "gauge", "The most unacknowledged events one subscriber had.",
         offsetof(tr_topics_stats, queue_high)},
        {"troupe_topics_bad_messages_total", "counter", "Malformed topic messages dropped.",
         offsetof(tr_topics_stats, bad_messages)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + rows[i].off, sizeof v);
        tr__metrics_family(t, rows[i].name, rows[i].type, rows[i].help);
        tr__metrics_printf(t, "%s %llu\n", rows[i].name, (unsigned long long)v);
    }
}

/* The local orders coordinator's breakers (docs/shop.md, TR_SHOP_BREAKERS): they live in its
 * state, so the scrape asks it, ORDERS_ASK_MS at most. The number of breakers read: 0 on a
 * node without the shop, or without an answer in time (then the breaker families carry the
 * gateway's series only: a state not known is not shown as closed). */
static uint32_t ask_orders(tr_runtime *rt, tr_inbox *inbox, tr_shop_breaker *out) {
    tr_addr at;
    uint32_t n = 0;
    if (inbox && tr_node_lookup(tr_runtime_node(rt), TR_SHOP_ORDERS_NAME, &at) == 0) {
        tr_msg *reply = NULL;
        bool ok = tr_inbox_request(inbox, at, NULL, TR_SHOP_BREAKERS, NULL, 0, ORDERS_ASK_MS,
                                   &reply) == 0 &&
                  reply->type == TR_SHOP_BREAKERS &&
                  tr__shop_breakers_decode(reply->body, reply->body_len, out, &n) == 0;
        tr_msg_free(reply);
        n = ok ? n : 0;
    }
    return n;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              char *body, size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, const char *s) {
    return answer(c, status, "text/plain; charset=utf-8", (char *)s, strlen(s),
                  MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    (void)upload;
    tr__metrics_http *m = cls;
    if (*con_cls == NULL) { /* the head: answer once the (empty) body is in */
        *con_cls = m;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body is ignored */
        return MHD_YES;
    }
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/healthz") == 0) {
        return get ? answer_text(c, MHD_HTTP_OK, "ok\n")
                   : answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    }
    if (strcmp(url, "/metrics") != 0) {
        return answer_text(c, MHD_HTTP_NOT_FOUND, "not found: GET /metrics or /healthz\n");
    }
    if (!get) {
        return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    }
    tr__metrics_text t = {.buf = malloc(PAGE_MAX), .cap = PAGE_MAX};
    if (!t.buf) {
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    t.buf[0] = '\0';
    tr__metrics_http_render(m->rt, m->cl, &t);
    tr_shop_breaker orders[TR_SHOP_BREAKERS_MAX];
    uint32_t orders_n = ask_orders(m->rt, m->inbox, orders);
    pthread_mutex_lock(&m->lock);
    tr__metrics_sources_render(&m->sources, orders, orders_n, &t);
    pthread_mutex_unlock(&m->lock);
    render_topics(m->rt, m->inbox, &t);
    if (m->cl) {
        tr__cluster_view_refresh(m->cl); /* the next scrape sees fresher members */
    }
    if (t.cut) {
        free(t.buf);
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "metrics over 1 MiB or out of memory\n");
    }
    return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len,
                  MHD_RESPMEM_MUST_FREE);
}

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
    return colon[1] != 0 && *end == 0 && port <= 65535 &&
                   inet_pton(AF_INET, host, &sa->sin_addr) == 1
               ? 0
               : -1;
}

int tr__metrics_http_start(tr_runtime *rt, tr_cluster *cl, const char *addr, tr__metrics_http **out,
                           char *err, size_t cap) {
    TR_ASSERT(rt && addr && out && err);
    struct sockaddr_in sa;
    if (parse_addr(addr, &sa) != 0) {
        snprintf(err, cap, "--metrics %s: want IPV4:PORT, e.g. 127.0.0.1:9464", addr);
        return TR_EINVAL;
    }
    tr__metrics_http *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, cap, "out of memory");
        return TR_ENOMEM;
    }
    m->rt = rt;
    m->cl = cl;
    if (tr_inbox_create(rt, &m->inbox) != 0) {
        snprintf(err, cap, "--metrics: out of memory");
        free(m);
        return TR_ENOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    /* One polling thread: scrapes run one at a time. */
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                 on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_LIMIT, CONNECTIONS_MAX,
                                 MHD_OPTION_CONNECTION_TIMEOUT, IDLE_S, MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(err, cap, "--metrics %s: cannot listen (address in use or not local?)", addr);
        pthread_mutex_destroy(&m->lock);
        tr_inbox_destroy(m->inbox);
        free(m);
        return TR_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : ntohs(sa.sin_port);
    *out = m;
    return 0;
}

uint16_t tr__metrics_http_port(const tr__metrics_http *m) {
    return m->port;
}

void tr__metrics_http_stop(tr__metrics_http *m) {
    if (m) {
        MHD_stop_daemon(m->daemon);
        pthread_mutex_destroy(&m->lock);
        tr_inbox_destroy(m->inbox);
        free(m);
    }
}

void tr__metrics_http_attach(tr__metrics_http *m, tr__gw_breakers *breakers,
                             tr__policy_gate *gate) {
    if (m) {
        pthread_mutex_lock(&m->lock);
        m->sources = (tr__metrics_sources){.breakers = breakers, .gate = gate};
        pthread_mutex_unlock(&m->lock);
    }
}
