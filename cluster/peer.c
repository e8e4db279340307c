/* peer.c — the peer table and its links (see peer.h). */
#include "cluster/peer.h"

#include <stdio.h>

#include "cluster/conn.h"
#include "cluster/outbound.h"

/* [mu] held */
peer *tr__peer_find_locked(tr_transport *t, uint32_t id) {
    for (size_t i = 0; i < t->peer_count; i++) {
        peer *p = t->peers[i];
        if (p->in_use && p->id == id) {
            return p;
        }
    }
    return NULL;
}

peer *tr__peer_find(tr_transport *t, uint32_t id) {
    pthread_mutex_lock(&t->mu);
    peer *p = tr__peer_find_locked(t, id);
    pthread_mutex_unlock(&t->mu);
    return p;
}

/* Adds (or reuses a free slot for) a peer. Loop thread. NULL when the table is full. */
peer *tr__peer_add(tr_transport *t, uint32_t id, const char *name, const char *addr,
                   uint64_t incarnation, bool client) {
    pthread_mutex_lock(&t->mu);
    peer *p = NULL;
    for (size_t i = 0; i < t->peer_count && !p; i++) {
        if (!t->peers[i]->in_use) {
            p = t->peers[i];
        }
    }
    if (!p && t->peer_count < PEERS_MAX) {
        p = calloc(1, sizeof *p);
        if (p) {
            t->peers[t->peer_count++] = p;
        }
    }
    if (p) {
        tr__outq_deinit(&p->q);
        memset(p, 0, sizeof *p);
        p->id = id;
        p->client = client;
        snprintf(p->name, sizeof p->name, "%s", name);
        snprintf(p->addr, sizeof p->addr, "%s", addr);
        p->incarnation = incarnation;
        tr__fd_init(&p->fd, &t->fdc, transport_now_ms(t));
        p->reachable = !client; /* a member being dialled accepts sends (queued) */
        p->in_use = true;
    }
    pthread_mutex_unlock(&t->mu);
    return p;
}

/* Drops what is queued for p and sets whether sends are accepted. */
void tr__peer_set_reachable(tr_transport *t, peer *p, bool reachable) {
    pthread_mutex_lock(&t->mu);
    p->reachable = reachable;
    p->linked = p->active != NULL;
    if (!reachable) {
        size_t queued = p->q.data.len;
        uint32_t dropped = tr__outq_clear(&p->q);
        if (dropped) {
            LOG(t, "warn", "event=queue_dropped peer=%s frames=%u bytes=%zu", p->name, dropped,
                queued);
        }
    }
    pthread_mutex_unlock(&t->mu);
}

int tr__transport_node_by_name(tr_transport *t, const char *name, uint32_t *id_out) {
    int rc = TR_ENOENT;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->peer_count; i++) {
        peer *p = t->peers[i];
        if (p->in_use && !strcmp(p->name, name)) {
            *id_out = p->id;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

bool tr__transport_linked(tr_transport *t, uint32_t id) {
    pthread_mutex_lock(&t->mu);
    peer *p = tr__peer_find_locked(t, id);
    bool up = p && p->linked;
    pthread_mutex_unlock(&t->mu);
    return up;
}

void tr__peer_link_down(tr_transport *t, peer *p, const char *why) {
    if (p->client) {
        /* A client's slot is freed: it has no address to come back to. */
        tr__peer_set_reachable(t, p, false);
        pthread_mutex_lock(&t->mu);
        p->in_use = false;
        pthread_mutex_unlock(&t->mu);
        LOG(t, "info", "event=client_gone peer=%s id=%u", p->name, p->id);
        return;
    }
    int ev = tr__fd_link_down(&p->fd, &t->fdc, transport_now_ms(t), transport_random(t));
    /* While closing, nobody is told: the node is going away itself. */
    tr__peer_set_reachable(t, p, false);
    if (ev == TR_FD_DOWN && !t->closing && !t->draining) {
        LOG(t, "warn", "event=node_down peer=%s id=%u reason=\"%s\"", p->name, p->id, why);
        if (t->on_node) {
            t->on_node(t->ud, p->id, p->name, false);
        }
    }
}

/* Rule for two authenticated connections to the same peer: both sides must pick the same
 * one. Keep the one initiated by the lower node id; from the same initiator, the newer. */
static bool new_conn_wins(tr_transport *t, conn *old, conn *nw) {
    uint32_t other = nw->link.hs.theirs.id;
    uint32_t old_init = old->outbound ? t->id : other;
    uint32_t new_init = nw->outbound ? t->id : other;
    if (old_init == new_init) {
        return true;
    }
    return new_init < old_init;
}

/* The handshake on c completed: attach it to its peer. */
void tr__peer_authenticated(tr_transport *t, conn *c) {
    TR_ASSERT(c->link.hs.state == TR_HS_DONE && !c->closing);
    const tr_hello *h = &c->link.hs.theirs;
    if (c->seed) {
        c->seed->joined = true;
        c->seed->dialing = false;
        c->seed = NULL;
    }
    bool client = (h->flags & TR_HELLO_CLIENT) != 0;
    peer *p = h->id == t->id ? NULL : tr__peer_find(t, h->id);
    uint32_t dup = 0;
    if (!p && h->id != t->id && tr__transport_node_by_name(t, h->name, &dup) != 0) {
        dup = 0;
    }
    char why[160];
    if (tr__proto_admit(h, t->id, p ? p->name : NULL, dup, why, sizeof why)) {
        tr__conn_close(c, h->id == t->id ? "info" : "warn", "%s", why);
        return;
    }
    if (!p) {
        p = tr__peer_add(t, h->id, h->name, client ? "" : h->listen, h->incarnation, client);
        if (!p) {
            tr__conn_close(c, "warn", "peer table full");
            return;
        }
    } else if (!client && h->incarnation != p->incarnation) {
        p->incarnation = h->incarnation;
        snprintf(p->addr, sizeof p->addr, "%s", h->listen);
        p->addr_bad = false;
    }
    if (p->active) {
        if (!new_conn_wins(t, p->active, c)) {
            tr__conn_close(c, "info", "duplicate connection (keeping the older one)");
            return;
        }
        conn *old = p->active;
        old->peer = NULL; /* not a link-down: c takes over */
        p->active = NULL;
        tr__conn_close(old, "info", "duplicate connection (replaced)");
    }
    TR_ASSERT(!c->authed && t->pending_conns > 0);
    c->authed = true;
    c->last_envelope_ms = transport_now_ms(t); /* a client's idle time starts now */
    t->pending_conns--;
    c->peer = p;
    p->active = c;
    if (c->dial_peer == p) {
        p->dialing = false;
    }
    int ev = tr__fd_link_up(&p->fd, &t->fdc, transport_now_ms(t));
    pthread_mutex_lock(&t->mu);
    p->reachable = true;
    p->linked = true;
    pthread_mutex_unlock(&t->mu);
    LOG(t, "info", "event=link_up peer=%s id=%u remote=%s dir=%s%s", p->name, p->id, c->remote,
        c->outbound ? "out" : "in", p->client ? " client=1" : "");
    if (!p->client) {
        tr__outbound_gossip(t, p);
        if (ev == TR_FD_UP && t->on_node) {
            t->on_node(t->ud, p->id, p->name, true);
        }
    }
    tr__outbound_flush_peer(t, p);
}

int tr__transport_peer_name(tr_transport *t, uint32_t id, char *name_out, size_t cap) {
    pthread_mutex_lock(&t->mu);
    peer *p = tr__peer_find_locked(t, id);
    if (p) {
        snprintf(name_out, cap, "%s", p->name);
    }
    pthread_mutex_unlock(&t->mu);
    return p ? 0 : TR_ENOENT;
}
