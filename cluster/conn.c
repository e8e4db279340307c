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
    if (t->tls_ctx && !(c->tls = tr__tls_new(t->tls_ctx, !outbound))) {
        tr__proto_link_deinit(&c->link);
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
    bytes_free(&c->w_tls);
    tr__tls_free(c->tls);
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

/* A write of n bytes, filled by the caller, then submitted with raw_submit. */
static raw_write *raw_new(conn *c, size_t n) {
    raw_write *w = malloc(sizeof *w + n);
    if (w) {
        w->c = c;
    }
    return w;
}

static int raw_submit(raw_write *w, size_t n) {
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&w->c->tcp, &buf, 1, on_raw_written);
    if (rc < 0) {
        free(w);
        return transport_translate_uv(rc);
    }
    return 0;
}

int tr__conn_tls_flush(conn *c) {
    size_t n = tr__tls_pending(c->tls);
    if (n == 0) {
        return 0;
    }
    raw_write *w = raw_new(c, n);
    if (!w) {
        return TR_ENOMEM;
    }
    size_t got = tr__tls_take(c->tls, w->data, n);
    TR_ASSERT(got == n);
    return raw_submit(w, n);
}

int tr__conn_write_raw(conn *c, const uint8_t *data, size_t len) {
    if (c->tls) {
        int rc = tr__tls_write(c->tls, data, len);
        return rc ? rc : tr__conn_tls_flush(c);
    }
    raw_write *w = raw_new(c, len);
    if (!w) {
        return TR_ENOMEM;
    }
    memcpy(w->data, data, len);
    return raw_submit(w, len);
}

void tr__conn_try_write(conn *c, const uint8_t *data, size_t len) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    uint8_t sealed[512];
    if (c->tls) {
        if (len > 0 && (!c->tls_up || tr__tls_write(c->tls, data, len))) {
            return;
        }
        if (tr__tls_pending(c->tls) > sizeof sealed) {
            return; /* best effort: nothing, rather than part of a record */
        }
        b = uv_buf_init((char *)sealed, (unsigned)tr__tls_take(c->tls, sealed, sizeof sealed));
    }
    if (b.len > 0) {
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
}

/* Starts protocol 2's handshake on c (after TLS's, with TLS): its HELLO, if the initiator,
 * goes out. Without a shared secret (TLS only), the MAC key is the TLS session's exported
 * keying material, the same on both ends. False if c was closed. */
static bool start_link(conn *c) {
    tr_transport *t = c->t;
    tr_hello mine;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.cluster, sizeof mine.cluster, "%s", t->cluster);
    snprintf(mine.name, sizeof mine.name, "%s", t->name);
    snprintf(mine.listen, sizeof mine.listen, "%s", t->listen_addr);
    mine.id = t->id;
    mine.flags = t->client ? TR_HELLO_CLIENT : 0;
    mine.incarnation = t->incarnation;
    const uint8_t *secret = t->secret;
    size_t secret_len = t->secret_len;
    if (secret_len == 0) {
        TR_ASSERT(c->tls && c->tls_up);
        if (tr__tls_exporter(c->tls, c->tls_secret)) {
            tr__conn_close(c, "error", "TLS: no exported key for the handshake");
            return false;
        }
        secret = c->tls_secret;
        secret_len = sizeof c->tls_secret;
    }
    if (tr__proto_link_start(&c->link, c->outbound, &mine, secret, secret_len, NULL)) {
        tr__conn_close(c, "error", "%s", c->link.reason);
        return false;
    }
    return true;
}

void tr__conn_tls_up(conn *c) {
    TR_ASSERT(c->tls && !c->tls_up);
    c->tls_up = true;
    LOG(c->t, "debug", "event=tls_up remote=%s dir=%s cert=%s", c->remote,
        c->outbound ? "out" : "in", tr__tls_peer_name(c->tls));
    if (start_link(c) && c->link.out_len > 0 &&
        tr__conn_write_raw(c, c->link.out, c->link.out_len)) {
        tr__conn_close(c, "warn", "handshake write failed");
    }
}

void tr__conn_start(conn *c) {
    c->started = true;
    tr__address_of_peer(&c->tcp, c->remote, sizeof c->remote);
    uv_tcp_nodelay(&c->tcp, 1);
    if (!c->tls && !start_link(c)) {
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, tr__inbound_alloc, tr__inbound_read);
    if (rc < 0) {
        tr__conn_close(c, "warn", "read start failed: %s", uv_strerror(rc));
        return;
    }
    if (c->tls) {
        tr__inbound_tls_step(c); /* a client's first flight goes out */
        return;
    }
    if (c->link.out_len > 0 && tr__conn_write_raw(c, c->link.out, c->link.out_len)) {
        tr__conn_close(c, "warn", "handshake write failed");
    }
}
