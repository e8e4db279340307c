/* conn.c — the transport's TCP connections: create, start, close (see conn.h). */
#include "cluster/conn.h"

#include <stdarg.h>
#include <stdio.h>

#include "cluster/dial.h"
#include "cluster/inbound.h"
#include "cluster/peer.h"

conn *tr__conn_new(tr_transport *t, bool outbound) {
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    if (tr__proto_link_init(&c->link, t->frame_max, t->gossip_in)) {
        free(c);
        return NULL;
    }
    c->t = t;
    c->outbound = outbound;
    c->deadline_ms = transport_now_ms(t) + t->handshake_timeout_ms;
    uv_tcp_init(t->loop, &c->tcp);
    c->tcp.data = c;
    c->next = t->conns;
    t->conns = c;
    t->open_handles++;
    t->pending_conns++;
    return c;
}

static void on_conn_closed(uv_handle_t *h) {
    conn *c = h->data;
    tr_transport *t = c->t;
    conn **pp = &t->conns;
    while (*pp && *pp != c) {
        pp = &(*pp)->next;
    }
    TR_ASSERT(*pp == c && c->closing && t->open_handles > 0);
    *pp = c->next;
    if (!c->authed) {
        TR_ASSERT(t->pending_conns > 0);
        t->pending_conns--;
    }
    tr__proto_link_deinit(&c->link);
    bytes_free(&c->w_ctrl);
    bytes_free(&c->w_data);
    free(c);
    t->open_handles--;
    tr__transport_finish_close(t);
}

const char *tr__conn_who(conn *c) {
    if (c->peer) {
        return c->peer->name;
    }
    if (c->link.hs.state >= TR_HS_WAIT_AUTH && c->link.hs.theirs.name[0]) {
        return c->link.hs.theirs.name;
    }
    return "?";
}

/* Closes c and logs why; a connection is closed once. */
void tr__conn_close(conn *c, const char *level, const char *fmt, ...) {
    if (c->closing) {
        return;
    }
    tr_transport *t = c->t;
    c->closing = true;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    LOG(t, level, "event=conn_closed remote=%s peer=%s dir=%s reason=\"%s\"", c->remote,
        tr__conn_who(c), c->outbound ? "out" : "in", why);
    if (c->outbound && c->started && !c->authed && t->on_refused && !t->closing) {
        t->on_refused(t->ud, why); /* connected, then refused during the handshake */
    }
    tr__dial_done(t, c->seed, c->dial_peer, true);
    c->seed = NULL;
    c->dial_peer = NULL;
    if (c->paused) {
        c->paused = false;
        t->paused_conns--;
    }
    peer *p = c->peer;
    c->peer = NULL;
    if (p && p->active == c) {
        p->active = NULL;
        tr__peer_link_down(t, p, why);
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* A write of handshake / BYE bytes straight on the connection (not through a peer queue). */
typedef struct raw_write {
    uv_write_t req;
    conn *c;
    uint8_t data[];
} raw_write;

static void on_raw_written(uv_write_t *req, int status) {
    raw_write *w = (raw_write *)req;
    if (status < 0 && status != UV_ECANCELED) {
        tr__conn_close(w->c, "info", "write failed: %s", uv_strerror(status));
    }
    free(w);
}

int tr__conn_write_raw(conn *c, const uint8_t *data, size_t len) {
    raw_write *w = malloc(sizeof *w + len);
    if (!w) {
        return TR_ENOMEM;
    }
    w->c = c;
    memcpy(w->data, data, len);
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_raw_written);
    if (rc < 0) {
        free(w);
        return transport_translate_uv(rc);
    }
    return 0;
}

void tr__conn_start(conn *c) {
    tr_transport *t = c->t;
    c->started = true;
    tr__address_of_peer(&c->tcp, c->remote, sizeof c->remote);
    uv_tcp_nodelay(&c->tcp, 1);
    tr_hello mine;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.cluster, sizeof mine.cluster, "%s", t->cluster);
    snprintf(mine.name, sizeof mine.name, "%s", t->name);
    snprintf(mine.listen, sizeof mine.listen, "%s", t->listen_addr);
    mine.id = t->id;
    mine.flags = t->client ? TR_HELLO_CLIENT : 0;
    mine.incarnation = t->incarnation;
    if (tr__proto_link_start(&c->link, c->outbound, &mine, t->secret, t->secret_len, NULL)) {
        tr__conn_close(c, "error", "%s", c->link.reason);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, tr__inbound_alloc, tr__inbound_read);
    if (rc < 0) {
        tr__conn_close(c, "warn", "read start failed: %s", uv_strerror(rc));
        return;
    }
    if (c->link.out_len > 0 && tr__conn_write_raw(c, c->link.out, c->link.out_len)) {
        tr__conn_close(c, "warn", "handshake write failed");
    }
}
