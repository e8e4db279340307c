/* dial.c — dials of seeds and members: resolve, connect, fall back (see dial.h). */
#include "cluster/dial.h"

#include <stdio.h>

#include "cluster/conn.h"

/* A dial for seed s or member p (either may be NULL) ended without a link: it is no longer
 * dialling, and if it failed, its next dial waits for the backoff delay. */
void tr__dial_done(tr_transport *t, seed *s, peer *p, bool failed) {
    if (s) {
        s->dialing = false;
        if (failed && !s->joined) {
            tr__fd_link_down(&s->fd, &t->fdc, transport_now_ms(t), transport_random(t));
        }
    }
    if (p) {
        p->dialing = false;
        if (failed && !p->active) {
            tr__fd_link_down(&p->fd, &t->fdc, transport_now_ms(t), transport_random(t));
        }
    }
}

static void connect_to(tr_transport *t, const char *addr, const sockaddr_any *alts, int n, int i,
                       seed *s, peer *p);

static void on_connected(uv_connect_t *req, int status) {
    conn *c = req->data;
    tr_transport *t = c->t;
    if (c->closing) {
        return;
    }
    if (status >= 0) {
        tr__conn_start(c);
        return;
    }
    char ip[TR_ADDR_STR_MAX + 1];
    tr__address_format(&c->alts[c->alt_i], ip, sizeof ip);
    if (c->alt_i + 1 < c->alt_n && !t->draining) {
        /* A name with several addresses: try the next one before backing off. The dial
         * moves to a new connection (a failed handle cannot connect again). */
        seed *s = c->seed;
        peer *p = c->dial_peer;
        c->seed = NULL;
        c->dial_peer = NULL;
        tr__conn_close(c, "debug", "connect to %s failed: %s (trying the next address)", ip,
                       uv_strerror(status));
        connect_to(t, c->remote, c->alts, c->alt_n, c->alt_i + 1, s, p);
        return;
    }
    if (c->seed != NULL && t->on_unresolved) { /* a client: nothing listens there */
        t->on_unresolved(t->ud, c->remote, uv_strerror(status), true);
    }
    tr__conn_close(c, "debug", "connect to %s failed: %s", ip, uv_strerror(status));
}

/* Connects to alts[i] (alts[i+1..n) are the fallbacks) for a seed or a member. */
static void connect_to(tr_transport *t, const char *addr, const sockaddr_any *alts, int n, int i,
                       seed *s, peer *p) {
    TR_ASSERT(n > 0 && n <= DIAL_ADDRS_MAX && i < n);
    conn *c = tr__conn_new(t, true);
    if (!c) {
        tr__dial_done(t, s, p, true);
        return;
    }
    snprintf(c->remote, sizeof c->remote, "%s", addr);
    memcpy(c->alts, alts, (size_t)n * sizeof *alts);
    c->alt_n = (uint8_t)n;
    c->alt_i = (uint8_t)i;
    c->seed = s;
    c->dial_peer = p;
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, &c->alts[i].sa, on_connected);
    if (rc < 0) {
        tr__conn_close(c, "debug", "connect failed: %s", uv_strerror(rc));
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    resolve *r = req->data;
    tr_transport *t = r->t;
    resolve **pp = &t->resolves;
    while (*pp != r) {
        TR_ASSERT(*pp != NULL); /* every resolution in flight is listed */
        pp = &(*pp)->next;
    }
    *pp = r->next;
    TR_ASSERT(t->resolving > 0);
    t->resolving--;
    /* In getaddrinfo's order (RFC 6724: the preferred address first). */
    sockaddr_any alts[DIAL_ADDRS_MAX];
    int n = 0;
    for (struct addrinfo *ai = status == 0 ? res : NULL; ai && n < DIAL_ADDRS_MAX;
         ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof alts[0]) {
            memset(&alts[n], 0, sizeof alts[n]);
            memcpy(&alts[n++], ai->ai_addr, ai->ai_addrlen);
        }
    }
    uv_freeaddrinfo(res);
    seed *s = r->seed;
    peer *p = r->peer;
    char addr[TR_ADDR_STR_MAX + 1];
    memcpy(addr, r->addr, sizeof addr);
    free(r);
    if (t->closing) {
        tr__transport_finish_close(t); /* cancelled (UV_ECANCELED) or finished too late: unused */
        return;
    }
    const char *err = status < 0 ? uv_strerror(status) : n == 0 ? "no IPv4 or IPv6 address" : NULL;
    if (err) {
        LOG(t, "warn", "event=resolve_failed addr=%s for=%s error=\"%s\"", addr,
            p ? p->name : "seed", err);
        pthread_mutex_lock(&t->mu);
        t->stats.resolve_failures++;
        pthread_mutex_unlock(&t->mu);
        tr__dial_done(t, s, p, true);
        if (t->on_unresolved) {
            t->on_unresolved(t->ud, addr, err, false);
        }
        return;
    }
    if (t->draining || (p && p->active)) { /* or the member dialled us meanwhile */
        tr__dial_done(t, s, p, false);
        return;
    }
    char first[TR_ADDR_STR_MAX + 1];
    tr__address_format(&alts[0], first, sizeof first);
    LOG(t, "debug", "event=resolved addr=%s first=%s addresses=%d", addr, first, n);
    connect_to(t, addr, alts, n, 0, s, p);
}

/* Starts resolving hp's host name for a dial of addr; the loop thread never waits for it. */
static void resolve_start(tr_transport *t, const char *addr, const hostport *hp, seed *s, peer *p) {
    resolve *r = calloc(1, sizeof *r);
    if (!r) {
        tr__dial_done(t, s, p, true);
        return;
    }
    r->t = t;
    r->seed = s;
    r->peer = p;
    snprintf(r->addr, sizeof r->addr, "%s", addr);
    r->req.data = r;
    char port[8];
    snprintf(port, sizeof port, "%d", hp->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = uv_getaddrinfo(t->loop, &r->req, on_resolved, hp->host, port, &hints);
    pthread_mutex_lock(&t->mu);
    t->stats.resolves++;
    t->stats.resolve_failures += rc < 0;
    pthread_mutex_unlock(&t->mu);
    if (rc < 0) {
        LOG(t, "warn", "event=resolve_failed addr=%s for=%s error=\"%s\"", addr,
            p ? p->name : "seed", uv_strerror(rc));
        free(r);
        tr__dial_done(t, s, p, true);
        return;
    }
    r->next = t->resolves;
    t->resolves = r;
    t->resolving++;
}

/* Dials addr for a seed or a member: a numeric address is connected to at once, a host
 * name is resolved first (asynchronously). Either way the seed or member counts as
 * dialling until the dial ends. */
void tr__dial(tr_transport *t, const char *addr, seed *s, peer *p) {
    hostport hp;
    const char *why = tr__address_parse(addr, false, &hp);
    if (why) {
        /* Only a malformed string (a peer's HELLO or gossip): no point in retrying it. */
        LOG(t, "warn", "event=bad_address addr=\"%s\" reason=\"%s\" retry=never", addr, why);
        if (s) {
            s->joined = true;
        }
        if (p) {
            p->addr_bad = true;
        }
        return;
    }
    if (s) {
        s->dialing = true;
    }
    if (p) {
        p->dialing = true;
    }
    if (hp.numeric) {
        sockaddr_any a;
        memset(&a, 0, sizeof a);
        memcpy(&a, &hp.ss, hp.ss.ss_family == AF_INET ? sizeof a.in4 : sizeof a.in6);
        connect_to(t, addr, &a, 1, 0, s, p);
    } else {
        resolve_start(t, addr, &hp, s, p);
    }
}

void tr__dial_cancel_all(tr_transport *t) {
    for (resolve *r = t->resolves; r; r = r->next) {
        (void)uv_cancel((uv_req_t *)&r->req);
    }
}
