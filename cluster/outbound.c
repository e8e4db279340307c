/* outbound.c — per-peer queues, batched writes, control frames, wakes (see outbound.h). */
#include "cluster/outbound.h"

#include <stdio.h>

#include "cluster/conn.h"
#include "cluster/peer.h"

static void on_batch_written(uv_write_t *req, int status) {
    conn *c = req->data;
    tr_transport *t = c->t;
    c->writing = false;
    c->w_ctrl.len = 0;
    c->w_data.len = 0;
    c->w_tls.len = 0;
    if (status < 0) {
        if (status != UV_ECANCELED) {
            tr__conn_close(c, "info", "write failed: %s", uv_strerror(status));
        }
        return;
    }
    if (c->peer && c->peer->active == c) {
        tr__outbound_note_activity(t);
        tr__outbound_flush_peer(t, c->peer);
    }
}

/* TLS: encrypts the batch's n buffers into c->w_tls, which becomes the one buffer to write
 * (frames and records in the same order). 0 or an error. */
static int seal(conn *c, uv_buf_t *bufs, unsigned *n) {
    for (unsigned i = 0; i < *n; i++) {
        int rc = tr__tls_write(c->tls, (const uint8_t *)bufs[i].base, bufs[i].len);
        if (rc) {
            return rc;
        }
    }
    size_t len = tr__tls_pending(c->tls);
    if (bytes_reserve(&c->w_tls, len)) {
        return TR_ENOMEM;
    }
    c->w_tls.len = tr__tls_take(c->tls, c->w_tls.p, len);
    TR_ASSERT(c->w_tls.len == len);
    bufs[0] = uv_buf_init((char *)c->w_tls.p, (unsigned)len);
    *n = 1;
    return 0;
}

/* The batch of c is on the wire (or was refused): its buffers are empty again. */
static void batch_clear(conn *c) {
    c->w_ctrl.len = 0;
    c->w_data.len = 0;
    c->w_tls.len = 0;
}

/* Skips the first `done` bytes of the n buffers (a write took them). */
static void bufs_advance(uv_buf_t *bufs, unsigned *n, size_t done) {
    unsigned i = 0;
    while (i < *n && done >= bufs[i].len) {
        done -= bufs[i].len;
        i++;
    }
    if (i < *n) {
        bufs[i].base += done;
        bufs[i].len -= done;
    }
    memmove(bufs, bufs + i, (*n - i) * sizeof *bufs);
    *n -= i;
}

/* Moves what is queued for p into its connection's batch and writes it (control lane
 * first). Loop thread. The batch is first offered to the socket at once (uv_try_write, no
 * request and no callback): a conversation's frame, a few hundred bytes into an empty
 * socket buffer, goes out in this call, and the loop saves the write request's completion
 * turn and the re-arming of the socket's poll that a queued write costs. What the socket
 * does not take goes out with uv_write, as it always did. A connection writes at most one
 * batch per loop turn, as with uv_write alone (its callback comes the next turn), so that
 * frames queued meanwhile travel together: a second flush in the same turn leaves them for
 * the next turn's (t->loop_sent). True if anything was written or is being written. */
bool tr__outbound_flush_peer(tr_transport *t, peer *p) {
    conn *c = p->active;
    if (!c || c->writing || c->closing) {
        return false;
    }
    if (c->sync_turn == t->turn) {
        t->loop_sent = true; /* wrote this turn: the next turn's flush takes the rest */
        return false;
    }
    pthread_mutex_lock(&t->mu);
    if (p->q.ctrl.len == 0 && p->q.data.len == 0) {
        pthread_mutex_unlock(&t->mu);
        return false;
    }
    /* The queues within their bounds, whole frames (the walk over every queued frame is a
     * debug build's); tr__outq_take asserts the batch buffers are empty since the last
     * write completed. */
    TR_DEBUG_ASSERT(tr__outq_check(&p->q, &t->qlim, t->frame_max));
    uint32_t frames = tr__outq_take(&p->q, &c->w_ctrl, &c->w_data);
    t->stats.frames_out += frames;
    t->stats.bytes_out += c->w_ctrl.len + c->w_data.len;
    p->frames_out += frames;
    p->bytes_out += c->w_ctrl.len + c->w_data.len;
    t->stats.writes++;
    pthread_mutex_unlock(&t->mu);
    uv_buf_t bufs[2];
    unsigned n = 0;
    if (c->w_ctrl.len) {
        bufs[n++] = uv_buf_init((char *)c->w_ctrl.p, (unsigned)c->w_ctrl.len);
    }
    if (c->w_data.len) {
        bufs[n++] = uv_buf_init((char *)c->w_data.p, (unsigned)c->w_data.len);
    }
    if (c->tls && seal(c, bufs, &n)) {
        tr__conn_close(c, "warn", "TLS: cannot encrypt a batch (out of memory)");
        return true;
    }
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        total += bufs[i].len;
    }
    int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    if (w < 0 && w != UV_EAGAIN) {
        batch_clear(c);
        tr__conn_close(c, "info", "write failed: %s", uv_strerror(w));
        return true;
    }
    if (w >= 0 && (size_t)w == total) {
        batch_clear(c); /* all on the wire: what on_batch_written does, without its turn */
        c->sync_turn = t->turn;
        atomic_store_explicit(&t->writes_at_once,
                              atomic_load_explicit(&t->writes_at_once, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        tr__outbound_note_activity(t);
        return true;
    }
    if (w > 0) {
        bufs_advance(bufs, &n, (size_t)w);
    }
    c->writing = true;
    c->write_started_ms = transport_now_ms(t);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_batch_written);
    if (rc < 0) {
        c->writing = false;
        tr__conn_close(c, "info", "write failed: %s", uv_strerror(rc));
    }
    return true;
}

/* The transport whose loop this thread runs, set by the loop's prepare callback (each turn,
 * before the poll) and cleared when that transport closes: a send from this thread is then
 * flushed by that same callback before the loop next blocks, and needs no wake. */
static _Thread_local tr_transport *loop_thread_of;

/* Queues a control frame (whole frame bytes) for p. Loop thread. */
void tr__outbound_queue_ctrl(tr_transport *t, peer *p, const uint8_t *frame, size_t len) {
    /* A whole frame: its length prefix is its payload's length (tr__frame_end). */
    TR_ASSERT(len > 4 && tr_load_be32(frame) == len - 4);
    pthread_mutex_lock(&t->mu);
    (void)tr__outq_push_ctrl(&p->q, &t->qlim, frame, len); /* a dropped one is sent afresh */
    pthread_mutex_unlock(&t->mu);
    tr__outbound_flush_peer(t, p);
}

int tr__transport_send(tr_transport *t, uint32_t to, const uint8_t *payload, size_t len) {
    if (len == 0 || len > t->frame_max) {
        return len == 0 ? TR_EINVAL : TR_ETOOBIG;
    }
    pthread_mutex_lock(&t->mu);
    int rc = 0;
    peer *p = tr__peer_find_locked(t, to);
    if (t->shut) {
        rc = TR_ECLOSED;
    } else if (!p || !p->reachable) {
        rc = TR_EUNREACH;
        t->stats.send_unreach++;
    } else if ((rc = tr__outq_push_data(&p->q, &t->qlim, payload, len)) == TR_EFULL) {
        t->stats.send_full++;
    }
    bool wake = rc == 0 && p->q.count == 1;
    pthread_mutex_unlock(&t->mu);
    /* Only the send that made the queue non-empty wakes the loop (uv_async_send coalesces;
     * the loop drains everything queued by then), and not even that one while the loop
     * spins: it flushes every queue on each turn, and re-checks them all after it stops
     * spinning (seq_cst on both sides, so one of the two sees the other). A send from the
     * loop's own thread (an actor run by the thread that also runs the loop) needs no wake
     * either: it marks the queues for the flush the loop makes before it next polls. */
    if (wake) {
        if (loop_thread_of == t) {
            t->loop_sent = true;
        } else if (!atomic_load_explicit(&t->spinning, memory_order_seq_cst)) {
            atomic_fetch_add_explicit(&t->wakes, 1, memory_order_relaxed);
            uv_async_send(&t->async);
        }
    }
    return rc;
}

void tr__outbound_on_prepare(uv_prepare_t *h) {
    tr_transport *t = h->data;
    loop_thread_of = t;
    t->turn++;
    if (t->loop_sent) {
        t->loop_sent = false;
        if (tr__outbound_flush_all(t)) {
            tr__outbound_note_activity(t);
        }
    }
}

void tr__outbound_forget_thread(tr_transport *t) {
    if (loop_thread_of == t) {
        loop_thread_of = NULL;
    }
}

/* Flushes every peer; true if anything was written or is being written. */
bool tr__outbound_flush_all(tr_transport *t) {
    bool any = false;
    for (size_t i = 0; i < t->peer_count; i++) {
        peer *p = t->peers[i];
        if (p->in_use && p->active && !p->active->writing) {
            any = tr__outbound_flush_peer(t, p) || any;
        }
    }
    return any;
}

/* Activity (bytes in, a batch out): keep the loop spinning a while more, so that the next
 * message of a conversation is picked up without a sleep and a wake (15-20 us each on a
 * 2-vCPU VM), before parking in epoll_wait. How long is the spinner's adaptive budget
 * (runtime/spin.h): spin_ns, or nothing while other threads want the cores, where spinning
 * only burns the time slice or CPU quota the peer needs. */
static void on_spin(uv_idle_t *h);

static void spin_stop(tr_transport *t) {
    uv_idle_stop(&t->spin);
    atomic_store_explicit(&t->spinning, false, memory_order_seq_cst);
    tr__outbound_flush_all(t); /* a sender that saw `spinning` did not wake us */
}

void tr__outbound_note_activity(tr_transport *t) {
    if (t->spin_ns == 0 || t->closing) {
        return;
    }
    bool spinning = atomic_load_explicit(&t->spinning, memory_order_relaxed);
    if (spinning) {
        tr__spin_end(&t->spinner, true); /* activity while spinning: the spin paid */
    }
    if (tr__spin_begin(&t->spinner, uv_hrtime()) > 0) {
        if (!spinning) {
            atomic_store_explicit(&t->spinning, true, memory_order_seq_cst);
            uv_idle_start(&t->spin, on_spin);
        }
    } else if (spinning) {
        spin_stop(t);
    }
}

static void on_spin(uv_idle_t *h) {
    tr_transport *t = h->data;
    if (tr__outbound_flush_all(t)) {
        tr__outbound_note_activity(t);
        return;
    }
    if (tr__spin_more(&t->spinner, uv_hrtime())) {
        return;
    }
    tr__spin_end(&t->spinner, false);
    spin_stop(t);
}

void tr__outbound_on_async(uv_async_t *a) {
    tr_transport *t = a->data;
    if (tr__outbound_flush_all(t)) {
        tr__outbound_note_activity(t);
    }
}

void tr__outbound_gossip(tr_transport *t, peer *to) {
    tr_gossip_entry *e = t->gossip;
    uint8_t *frame = t->gossip_frame;
    size_t n = 0;
    if (t->client) {
        return; /* members gossip; a node closes a client that does */
    }
    if (t->listen_addr[0]) {
        snprintf(e[n].name, sizeof e[n].name, "%s", t->name);
        snprintf(e[n].addr, sizeof e[n].addr, "%s", t->listen_addr);
        e[n].id = t->id;
        e[n].incarnation = t->incarnation;
        n++;
    }
    for (size_t i = 0; i < t->peer_count && n < TR_MEMBERS_MAX; i++) {
        peer *p = t->peers[i];
        if (p->in_use && !p->client && p->addr[0]) {
            snprintf(e[n].name, sizeof e[n].name, "%s", p->name);
            snprintf(e[n].addr, sizeof e[n].addr, "%s", p->addr);
            e[n].id = p->id;
            e[n].incarnation = p->incarnation;
            n++;
        }
    }
    if (n == 0) {
        return;
    }
    long len = tr__gossip_encode(e, n, frame, sizeof t->gossip_frame);
    TR_ASSERT(len > 0);
    tr__outbound_queue_ctrl(t, to, frame, (size_t)len);
}

void tr__outbound_heartbeat(tr_transport *t, peer *p) {
    uint8_t frame[32];
    long len = tr__proto_heartbeat_frame(t->hb_seq, frame, sizeof frame);
    TR_ASSERT(len > 0);
    tr__outbound_queue_ctrl(t, p, frame, (size_t)len);
}

long tr__outbound_bye_frame(uint8_t *buf, size_t cap) {
    return tr__proto_bye_frame("shutdown", buf, cap);
}
