/* inbound.c — reading, frame dispatch, control frames, back-pressure (see inbound.h). */
#include "cluster/inbound.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/conn.h"
#include "cluster/outbound.h"
#include "cluster/peer.h"

static void conn_process(conn *c);
static void conn_drain(conn *c);
static void on_resume_timer(uv_timer_t *timer);

static void add_member_from_gossip(tr_transport *t, const tr_gossip_entry *e) {
    if (e->id == t->id) {
        return;
    }
    peer *p = tr__peer_find(t, e->id);
    if (p) {
        if (!p->client && e->incarnation > p->incarnation && !p->active) {
            p->incarnation = e->incarnation;
            snprintf(p->addr, sizeof p->addr, "%s", e->addr);
            p->addr_bad = false;
        }
        return;
    }
    uint32_t dup;
    if (tr__transport_node_by_name(t, e->name, &dup) == 0) {
        return; /* a name clash: the handshake will refuse whichever dials */
    }
    if (tr__peer_add(t, e->id, e->name, e->addr, e->incarnation, false)) {
        LOG(t, "info", "event=member_learned peer=%s id=%u addr=%s", e->name, e->id, e->addr);
    }
}

/* Back-pressure: on_message returned TR_TRANSPORT_PAUSE, a local receiver is over its
 * threshold. Reading this connection stops (the peer's frames wait in its kernel buffers,
 * then in its bounded queue, where its senders get TR_EFULL) and t->resume polls
 * t->backlogged every 1 ms, doubling to RESUME_POLL_MAX_MS, until the receiver drained.
 * Nothing is dropped: frames already buffered in c->link are handled on resume, in order.
 * Heartbeats share the stream, so a pause lasts at most pause_max_ms (a quarter of the
 * smallest of down_ms, write_stall_ms and heartbeat_ms + phi's acceptable pause): then
 * reading resumes and at least one frame is handled, which counts as hearing from the
 * peer. */
#define RESUME_POLL_MAX_MS 50
#define PAUSE_LOG_EVERY_MS 1000

static void conn_pause(conn *c) {
    tr_transport *t = c->t;
    uint64_t now = transport_now_ms(t);
    TR_ASSERT(c->authed && !c->paused && !c->closing);
    c->paused = true;
    c->paused_since_ms = now;
    t->paused_conns++;
    uv_read_stop((uv_stream_t *)&c->tcp);
    t->pause_unlogged++;
    if (now - t->pause_log_ms >= PAUSE_LOG_EVERY_MS) {
        LOG(t, "info", "event=read_paused peer=%s reason=receiver_backlogged pauses=%" PRIu64,
            tr__conn_who(c), t->pause_unlogged);
        t->pause_log_ms = now;
        t->pause_unlogged = 0;
        c->pause_logged = true;
    }
    if (!uv_is_active((uv_handle_t *)&t->resume)) {
        t->resume_ms = 1;
        uv_timer_start(&t->resume, on_resume_timer, t->resume_ms, 0);
    }
}

static void conn_resume(conn *c, bool forced) {
    tr_transport *t = c->t;
    TR_ASSERT(c->paused && t->paused_conns > 0);
    c->paused = false;
    t->paused_conns--;
    if (c->pause_logged) {
        LOG(t, "info", "event=read_resumed peer=%s reason=%s paused_ms=%" PRIu64, tr__conn_who(c),
            forced ? "pause_cap" : "drained", transport_now_ms(t) - c->paused_since_ms);
        c->pause_logged = false;
    }
    conn_drain(c);
    if (!c->closing && !c->paused) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, tr__inbound_alloc, tr__inbound_read);
        if (rc < 0) {
            tr__conn_close(c, "warn", "read restart failed: %s", uv_strerror(rc));
        }
    }
}

static void on_resume_timer(uv_timer_t *timer) {
    tr_transport *t = timer->data;
    uint64_t now = transport_now_ms(t);
    for (conn *c = t->conns; c; c = c->next) {
        if (!c->paused || c->closing) {
            continue;
        }
        bool forced = now - c->paused_since_ms >= t->pause_max_ms;
        bool busy = t->backlogged && c->peer && t->backlogged(t->ud, c->peer->id);
        if (!busy || forced) {
            conn_resume(c, forced && busy);
        }
    }
    if (t->paused_conns > 0 && !t->closing) {
        t->resume_ms =
            t->resume_ms * 2 > RESUME_POLL_MAX_MS ? RESUME_POLL_MAX_MS : t->resume_ms * 2;
        uv_timer_start(&t->resume, on_resume_timer, t->resume_ms, 0);
    }
}

/* An envelope: to the runtime (a client's through on_client_message, which refuses what a
 * client may not send). Returns 0, or an error with why set (the caller closes). */
static int on_envelope(tr_transport *t, conn *c, const tr_link_event *ev, char *why,
                       size_t why_cap) {
    peer *pr = c->peer;
    int rc;
    if (pr->client) {
        c->last_envelope_ms = transport_now_ms(t);
        rc = t->on_client_message(t->ud, pr->id, ev->payload, ev->len);
    } else {
        rc = t->on_message(t->ud, pr->id, ev->payload, ev->len);
    }
    switch (rc) {
    case 0: return 0;
    case TR_TRANSPORT_PAUSE: conn_pause(c); return 0; /* taken; stop before the next one */
    case TR_TRANSPORT_MISADDRESSED:
        transport_count(t, &t->stats.envelopes_misaddressed);
        snprintf(why, why_cap, "envelope for another node (to.node is not %u)", t->id);
        return TR_EPROTO;
    case TR_TRANSPORT_CLIENT_REFUSED:
        TR_ASSERT(pr->client);
        transport_count(t, &t->stats.clients_refused);
        snprintf(why, why_cap,
                 "client sent a system message or a reply, or a request from actor 0 "
                 "(requests only)");
        return TR_EPROTO;
    default:
        TR_ASSERT(rc < 0);
        snprintf(why, why_cap, "bad envelope (%zu bytes): %s", ev->len, tr_strerror(rc));
        return rc;
    }
}

/* One event of c's link. Returns 0, or an error with why set (the caller closes). */
static int on_event(tr_transport *t, conn *c, const tr_link_event *ev, char *why, size_t why_cap) {
    if (ev->kind == TR_LINK_AUTHENTICATED) {
        tr__peer_authenticated(t, c);
        return 0;
    }
    peer *pr = c->peer;
    TR_ASSERT(c->authed && pr != NULL);
    int fd_ev = tr__fd_heard(&pr->fd, transport_now_ms(t), ev->kind == TR_LINK_HEARTBEAT);
    if (fd_ev == TR_FD_UP) {
        LOG(t, "info", "event=node_alive_again peer=%s", pr->name);
    }
    switch (ev->kind) {
    case TR_LINK_ENVELOPE: return on_envelope(t, c, ev, why, why_cap);
    case TR_LINK_GOSSIP:
        if (pr->client) {
            /* Roles: membership is learned from members only (proto/link.c drops a client's
             * entries too); a client that gossips is not a client we keep. */
            transport_count(t, &t->stats.clients_refused);
            snprintf(why, why_cap, "client sent GOSSIP (members only)");
            return TR_EPROTO;
        }
        for (size_t i = 0; i < ev->gossip_count; i++) {
            add_member_from_gossip(t, &ev->gossip[i]);
        }
        return 0;
    case TR_LINK_BYE: tr__conn_close(c, "info", "peer said bye: %s", ev->reason); return 0;
    default: return 0; /* a heartbeat: heard above */
    }
}

void tr__inbound_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    conn *c = h->data;
    if (c->tls) { /* ciphertext: into the session's buffer, decrypted into the link later */
        *buf = uv_buf_init((char *)tr__tls_inbuf(c->tls), TR__TLS_READ_CHUNK);
        return;
    }
    uint8_t *dst;
    size_t avail;
    if (tr__proto_link_space(&c->link, &dst, &avail)) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = (char *)dst;
    buf->len = avail;
}

void tr__inbound_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    conn *c = s->data;
    tr_transport *t = c->t;
    if (nread == UV_ENOBUFS) {
        tr__conn_close(c, "warn", "out of memory for the read buffer");
        return;
    }
    if (nread < 0) {
        tr__conn_close(c, "info", "%s",
                       nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
        return;
    }
    if (c->tls) {
        if (tr__tls_feed(c->tls, (const uint8_t *)buf->base, (size_t)nread)) {
            tr__conn_close(c, "warn", "TLS: more than %u bytes of ciphertext unprocessed",
                           TR__TLS_BUFFERED_MAX);
            return;
        }
    } else {
        tr__proto_link_commit(&c->link, (size_t)nread);
    }
    if (c->authed) {
        tr__outbound_note_activity(t);
    }
    pthread_mutex_lock(&t->mu);
    t->stats.bytes_in += (uint64_t)nread;
    pthread_mutex_unlock(&t->mu);
    if (c->peer) {
        c->peer->bytes_in += (uint64_t)nread;
    }
    if (!c->tls) {
        conn_process(c);
    } else if (c->tls_up) {
        conn_drain(c);
    } else {
        tr__inbound_tls_step(c);
    }
}

/* Since when the reader has held an incomplete frame (a client's frame deadline): a frame
 * taken in this pass means the bytes left began a new one. */
static void note_partial(conn *c, uint64_t frames) {
    if (tr__frame_reader_buffered(&c->link.rd) == 0) {
        c->partial_since_ms = 0;
    } else if (frames > 0 || c->partial_since_ms == 0) {
        c->partial_since_ms = transport_now_ms(c->t);
    }
}

/* The REASON frame (docs/wire-protocol.md, section 5) before a close for an error: a fixed
 * code without text before authentication, else the code and the logged reason. Best effort
 * and never blocking, like BYE. */
static void say_reason(conn *c, const char *why) {
    uint32_t code = !c->authed                                      ? TR_REASON_HANDSHAKE
                    : strncmp(why, "client sent", 11) == 0          ? TR_REASON_ROLE
                    : strncmp(why, "envelope for another", 20) == 0 ? TR_REASON_MISADDRESSED
                                                                    : TR_REASON_PROTOCOL;
    uint8_t frame[4 + 8 + TR_REASON_TEXT_MAX];
    long n = tr__proto_reason_frame(code, c->authed ? why : "", frame, sizeof frame);
    if (n > 0 && !c->writing) {
        tr__conn_try_write(c, frame, (size_t)n);
    }
}

/* TLS: the name a peer's HELLO claims must be its certificate's. Checked as soon as the
 * HELLO is in, before this side answers it, so neither side authenticates such a peer.
 * True (why set) if it differs. */
static bool tls_name_differs(conn *c, char *why, size_t why_cap) {
    const tr_handshake *hs = &c->link.hs;
    if ((hs->state != TR_HS_WAIT_AUTH && hs->state != TR_HS_DONE) || !hs->theirs.name[0] ||
        strcmp(tr__tls_peer_name(c->tls), hs->theirs.name) == 0) {
        return false;
    }
    snprintf(why, why_cap, "TLS: certificate name '%s' is not the HELLO's name '%s'",
             tr__tls_peer_name(c->tls), hs->theirs.name);
    transport_count(c->t, &c->t->stats.conns_refused);
    return true;
}

/* Handles the frames buffered in c's link, until they run out, c closes or c pauses. */
static void conn_process(conn *c) {
    tr_transport *t = c->t;
    uint64_t frames = 0;
    tr_link_event ev;
    while (!c->closing && !c->paused) {
        tr_link_event_kind k = tr__proto_link_next(&c->link, &ev);
        char why[160];
        if (!c->authed && c->tls && tls_name_differs(c, why, sizeof why)) {
            say_reason(c, why);
            tr__conn_close(c, "warn", "%s", why);
            break;
        }
        if (c->link.out_len > 0 && tr__conn_write_raw(c, c->link.out, c->link.out_len)) {
            tr__conn_close(c, "warn", "handshake write failed");
            break;
        }
        if (k == TR_LINK_NEED_BYTES) {
            break;
        }
        frames++;
        if (k == TR_LINK_WRITE) {
            continue;
        }
        if (k == TR_LINK_ERROR) {
            if (!c->authed) {
                pthread_mutex_lock(&t->mu);
                t->stats.conns_refused++;
                pthread_mutex_unlock(&t->mu);
            }
            if (strncmp(c->link.reason, "closed by the peer", 18) != 0 &&
                strstr(c->link.reason, "REASON frame") == NULL) {
                say_reason(c, c->link.reason);
            } else if (c->authed && t->on_refused) { /* a client: tell the user why */
                t->on_refused(t->ud, c->link.reason);
            }
            tr__conn_close(c, "warn", "%s", c->link.reason);
            break;
        }
        if (on_event(t, c, &ev, why, sizeof why)) {
            say_reason(c, why);
            tr__conn_close(c, "warn", "%s", why);
        }
    }
    note_partial(c, frames);
    pthread_mutex_lock(&t->mu);
    t->stats.frames_in += frames;
    pthread_mutex_unlock(&t->mu);
    if (c->peer) {
        c->peer->frames_in += frames;
    }
}

/* TLS: handles what the link holds, then decrypts into it and handles that, until the
 * session has no more plaintext or c closes or pauses. Without TLS, conn_process. */
static void conn_drain(conn *c) {
    conn_process(c);
    while (c->tls && !c->closing && !c->paused) {
        uint8_t *dst;
        size_t avail;
        char why[200];
        if (tr__proto_link_space(&c->link, &dst, &avail)) {
            tr__conn_close(c, "warn", "out of memory for the read buffer");
            return;
        }
        long n = tr__tls_read(c->tls, dst, avail, why, sizeof why);
        if (tr__conn_tls_flush(c)) { /* what reading produced (an alert, a key update) */
            tr__conn_close(c, "warn", "TLS write failed");
            return;
        }
        if (n <= 0) {
            if (n < 0) {
                tr__conn_close(c, n == TR_ECLOSED ? "info" : "warn", "%s", why);
            }
            return;
        }
        tr__proto_link_commit(&c->link, (size_t)n);
        conn_process(c);
    }
}

void tr__inbound_tls_step(conn *c) {
    tr_transport *t = c->t;
    char why[200];
    int rc = tr__tls_handshake(c->tls, why, sizeof why);
    if (rc < 0) {
        tr__conn_try_write(c, NULL, 0); /* the alert, if the socket takes it now */
        transport_count(t, &t->stats.conns_refused);
        tr__conn_close(c, "warn", "%s", why);
        return;
    }
    if (tr__conn_tls_flush(c)) {
        tr__conn_close(c, "warn", "TLS handshake write failed");
        return;
    }
    if (rc == 1) {
        tr__conn_tls_up(c);
        conn_drain(c); /* a HELLO may have come with the handshake's last flight */
    }
}
