/* transport.c — the transport object: configuration, listening, the periodic tick, drain
 * and close (see transport.h; its modules are listed in transport_internal.h). */
#include "cluster/transport.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cluster/conn.h"
#include "cluster/dial.h"
#include "cluster/outbound.h"
#include "cluster/peer.h"
#include "cluster/transport_internal.h"
#include "runtime/real.h"

/* A client's deadlines: a frame left incomplete, or no envelope for too long. A paused
 * connection is waiting for us, not for the client. */
static void tick_client(tr_transport *t, conn *c, uint64_t now) {
    if (c->paused) {
        return;
    }
    if (c->partial_since_ms && now - c->partial_since_ms >= t->client_frame_ms) {
        transport_count(t, &t->stats.clients_frame_stalled);
        tr__conn_close(c, "warn", "client frame incomplete for %llu ms (%zu bytes buffered)",
                       (unsigned long long)(now - c->partial_since_ms),
                       tr__frame_reader_buffered(&c->link.rd));
    } else if (now - c->last_envelope_ms >= t->client_idle_ms) {
        transport_count(t, &t->stats.clients_idle);
        tr__conn_close(c, "info", "client idle: no envelope for %llu ms",
                       (unsigned long long)(now - c->last_envelope_ms));
    }
}

/* The periodic tick: handshake, write-stall and client deadlines, heartbeats, gossip,
 * failure detection, dials. */
static void tick_conns(tr_transport *t, uint64_t now) {
    for (conn *c = t->conns; c; c = c->next) {
        if (c->closing) {
            continue;
        }
        if (!c->authed && now >= c->deadline_ms) {
            transport_count(t, &t->stats.handshake_timeouts);
            tr__conn_close(c, "warn", "handshake timeout after %u ms", t->handshake_timeout_ms);
        } else if (c->authed && c->writing && now - c->write_started_ms >= t->write_stall_ms) {
            tr__conn_close(c, "warn", "peer not reading: %zu bytes unwritten for %llu ms",
                           c->w_ctrl.len + c->w_data.len,
                           (unsigned long long)(now - c->write_started_ms));
        } else if (c->authed && c->peer && c->peer->client) {
            tick_client(t, c, now);
        }
    }
}

/* What happened before authentication, at most once a second when anything did: evictions
 * are logged here only (one line each would cost a flood a write per connection). */
#define PREAUTH_LOG_EVERY_MS 1000

static void log_preauth(tr_transport *t, uint64_t now) {
    if (now - t->preauth_log_ms < PREAUTH_LOG_EVERY_MS) {
        return;
    }
    tr_transport_stats s;
    tr__transport_stats_get(t, &s);
    tr_transport_stats *was = &t->preauth_logged;
    if (s.conns_evicted == was->conns_evicted && s.handshake_timeouts == was->handshake_timeouts &&
        s.conns_refused == was->conns_refused) {
        return;
    }
    LOG(t, "warn",
        "event=preauth_pressure evicted=%llu timed_out=%llu refused=%llu in_handshake=%d "
        "total_evicted=%llu total_timed_out=%llu total_refused=%llu",
        (unsigned long long)(s.conns_evicted - was->conns_evicted),
        (unsigned long long)(s.handshake_timeouts - was->handshake_timeouts),
        (unsigned long long)(s.conns_refused - was->conns_refused), t->pending_conns,
        (unsigned long long)s.conns_evicted, (unsigned long long)s.handshake_timeouts,
        (unsigned long long)s.conns_refused);
    *was = s;
    t->preauth_log_ms = now;
}

static void tick_peers(tr_transport *t, uint64_t now) {
    bool beat = now - t->last_heartbeat_ms >= t->heartbeat_ms;
    bool gossip = now - t->last_gossip_ms >= t->gossip_ms;
    if (beat) {
        t->last_heartbeat_ms = now;
        t->hb_seq++;
    }
    if (gossip) {
        t->last_gossip_ms = now;
    }
    for (size_t i = 0; i < t->peer_count; i++) {
        peer *p = t->peers[i];
        if (!p->in_use) {
            continue;
        }
        if (p->active) {
            int ev = p->client ? TR_FD_SAME : tr__fd_tick(&p->fd, &t->fdc, now);
            if (ev == TR_FD_DOWN) {
                tr__conn_close(p->active, "warn",
                               "no frame for %llu ms (failure detector, phi %.1f)",
                               (unsigned long long)(now - p->fd.last_heard_ms),
                               tr__fd_phi(&p->fd, &t->fdc, now));
                continue;
            }
            if (ev == TR_FD_SUSPECT) {
                LOG(t, "warn", "event=node_suspect peer=%s silent_ms=%llu phi=%.1f", p->name,
                    (unsigned long long)(now - p->fd.last_heard_ms),
                    tr__fd_phi(&p->fd, &t->fdc, now));
            }
            if (beat) {
                tr__outbound_heartbeat(t, p);
            }
            if (gossip && !p->client) {
                tr__outbound_gossip(t, p);
            }
        } else if (!p->client && !p->dialing && !p->addr_bad && p->addr[0] && !t->client &&
                   !t->draining && tr__fd_should_dial(&p->fd, now)) {
            tr__dial(t, p->addr, NULL, p);
        }
    }
}

static void tick_seeds(tr_transport *t, uint64_t now) {
    for (size_t i = 0; i < t->seed_count; i++) {
        seed *s = &t->seeds[i];
        if (!s->joined && !s->dialing && !t->draining && tr__fd_should_dial(&s->fd, now)) {
            tr__dial(t, s->addr, s, NULL);
        }
    }
}

/* Nothing queued and nothing being written to any linked peer. */
static bool all_written(tr_transport *t) {
    bool idle = true;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->peer_count && idle; i++) {
        peer *p = t->peers[i];
        if (p->in_use && p->active) {
            idle = p->q.data.len == 0 && p->q.ctrl.len == 0 && !p->active->writing;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return idle;
}

static void on_shutdown_done(uv_shutdown_t *req, int status) {
    conn *c = req->data;
    if (status < 0 && status != UV_ECANCELED) {
        tr__conn_close(c, "info", "shutdown failed: %s", uv_strerror(status));
    }
}

/* Drained: each link gets BYE, then our write side is shut (FIN after the queued bytes).
 * We keep reading until the peer closes, so that closing never resets a connection whose
 * last frames the peer has not read yet (a close with unread input sends RST, and RST makes
 * the peer drop what it had not read). */
static void say_bye(tr_transport *t, uint64_t now) {
    t->saying_bye = true;
    t->drain_deadline_ms = now + 500;
    uint8_t bye[64];
    long n = tr__outbound_bye_frame(bye, sizeof bye);
    for (conn *c = t->conns; c; c = c->next) {
        if (c->closing) {
            continue;
        }
        if (!c->authed) {
            tr__conn_close(c, "info", "transport closing");
            continue;
        }
        c->sreq.data = c;
        int rc = tr__conn_write_raw(c, bye, (size_t)n);
        if (rc == 0) {
            rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown_done);
        }
        if (rc < 0) {
            tr__conn_close(c, "info", "transport closing (no graceful shutdown: %d)", rc);
        }
    }
}

static bool any_authed(tr_transport *t) {
    for (conn *c = t->conns; c; c = c->next) {
        if (c->authed && !c->closing) {
            return true;
        }
    }
    return false;
}

bool tr__transport_check(tr_transport *t) {
    TR_ASSERT(!t->closing);
    int conns = 0, pending = 0;
    uint32_t paused = 0;
    for (conn *c = t->conns; c; c = c->next) {
        conns++;
        pending += !c->authed;
        paused += c->paused;
    }
    TR_ASSERT(pending == t->pending_conns && paused == t->paused_conns);
    TR_ASSERT(t->open_handles == 5 + (t->listening ? 1 : 0) + (t->tls_watching ? 1 : 0) + conns);
    int resolving = 0;
    for (resolve *r = t->resolves; r; r = r->next) {
        resolving++;
    }
    TR_ASSERT(resolving == t->resolving);
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->peer_count; i++) {
        const peer *p = t->peers[i];
        if (!p->in_use) {
            continue;
        }
        TR_ASSERT(p->id != 0 && p->id != t->id);
        /* a link is an authenticated connection that knows its peer */
        TR_ASSERT(!p->active || (p->active->peer == p && p->active->authed));
        TR_ASSERT(p->linked == (p->active != NULL));
        /* the queues: bounded, counts consistent, whole frames */
        TR_ASSERT(tr__outq_check(&p->q, &t->qlim, t->frame_max));
        TR_ASSERT(p->reachable || p->q.count == 0);
        for (size_t j = i + 1; j < t->peer_count; j++) {
            TR_ASSERT(!t->peers[j]->in_use || t->peers[j]->id != p->id);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return true;
}

static void on_tick(uv_timer_t *timer) {
    tr_transport *t = timer->data;
    if (t->closing) {
        return;
    }
    TR_DEBUG_ASSERT(tr__transport_check(t));
    uint64_t now = transport_now_ms(t);
    tr__outbound_flush_all(t); /* backstop for any wake lost to a race */
    if (t->draining && !t->saying_bye && (all_written(t) || now >= t->drain_deadline_ms)) {
        if (!all_written(t)) {
            LOG(t, "warn", "event=drain_timeout");
        }
        say_bye(t, now);
        return;
    }
    if (t->saying_bye) {
        if (!any_authed(t) || now >= t->drain_deadline_ms) {
            tr__transport_close(t, t->done, t->done_arg);
        }
        return;
    }
    tick_conns(t, now);
    tick_peers(t, now);
    tick_seeds(t, now);
    log_preauth(t, now);
}

/* The handshake slot a newcomer takes when all are held: among the accepted connections
 * still in their handshake, the oldest that has not sent a whole HELLO (idle, or slow),
 * else the oldest. *full: PENDING_CONNS_MAX are open (closing ones do not count); NULL
 * when not full, or when none is inbound (our own dials are never evicted). */
static conn *preauth_victim(tr_transport *t, bool *full) {
    int open = 0;
    conn *idle = NULL, *oldest = NULL;
    for (conn *c = t->conns; c; c = c->next) {
        if (c->authed || c->closing) {
            continue;
        }
        open++;
        if (c->outbound) {
            continue;
        }
        if (!oldest || c->deadline_ms < oldest->deadline_ms) {
            oldest = c;
        }
        bool no_hello = c->link.hs.state == TR_HS_WAIT_HELLO;
        if (no_hello && (!idle || c->deadline_ms < idle->deadline_ms)) {
            idle = c;
        }
    }
    *full = open >= PENDING_CONNS_MAX;
    return !*full ? NULL : idle ? idle : oldest;
}

static void on_connection(uv_stream_t *server, int status) {
    tr_transport *t = server->data;
    if (status < 0 || t->closing) {
        return;
    }
    bool full = false;
    if (t->pending_conns >= PENDING_CONNS_MAX) {
        conn *victim = preauth_victim(t, &full);
        if (victim) {
            transport_count(t, &t->stats.conns_evicted);
            tr__conn_close(victim, "debug", "evicted: %d connections in handshake, this the %s",
                           PENDING_CONNS_MAX,
                           victim->link.hs.state == TR_HS_WAIT_HELLO ? "oldest without a HELLO"
                                                                     : "oldest");
            full = false;
        }
    }
    conn *c = tr__conn_new(t, false);
    if (!c) {
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        tr__conn_close(c, "warn", "accept failed");
        return;
    }
    if (full) {
        transport_count(t, &t->stats.conns_refused);
        tr__address_of_peer(&c->tcp, c->remote, sizeof c->remote);
        tr__conn_close(c, "warn", "too many connections in handshake (%d, all our own dials)",
                       PENDING_CONNS_MAX);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->stats.conns_accepted++;
    pthread_mutex_unlock(&t->mu);
    tr__conn_start(c);
}

/* TLS: loads the certificate, key and CA (all three required), keeping their paths for
 * reloads. 0 or TR_EINVAL / TR_ENOMEM (logged). */
static int tls_configure(tr_transport *t, const tr_transport_config *cfg) {
    const char *files[3] = {cfg->tls_cert, cfg->tls_key, cfg->tls_ca};
    for (int i = 0; i < 3; i++) {
        if (!files[i] || !(t->tls_files[i] = strdup(files[i]))) {
            return files[i] ? TR_ENOMEM : TR_EINVAL;
        }
    }
    char err[512];
    int rc = tr__tls_ctx_load(files[0], files[1], files[2], &t->tls_ctx, err, sizeof err);
    if (rc) {
        LOG(t, "error", "event=tls_failed reason=\"%s\"", err);
    }
    return rc;
}

/* SIGHUP: the certificate, key and CA are loaded afresh into a new context that new
 * connections use; established ones keep their sessions (each holds its own reference to
 * the context it began with). A file that does not load keeps the context in force. */
static void on_tls_hup(uv_signal_t *h, int signum) {
    (void)signum;
    tr_transport *t = h->data;
    tr__tls_ctx *fresh;
    char err[512];
    if (tr__tls_ctx_load(t->tls_files[0], t->tls_files[1], t->tls_files[2], &fresh, err,
                         sizeof err)) {
        LOG(t, "error", "event=tls_reload_failed reason=\"%s\" kept=old_certificates", err);
        return;
    }
    tr__tls_ctx_free(t->tls_ctx);
    t->tls_ctx = fresh;
    LOG(t, "info", "event=tls_reloaded cert=%s name=%s", t->tls_files[0], tr__tls_ctx_name(fresh));
}

static void tls_watch(tr_transport *t) {
    if (uv_signal_init(t->loop, &t->tls_hup) != 0) {
        LOG(t, "error", "event=tls_watch_failed reason=\"no SIGHUP handle\"");
        return;
    }
    t->tls_hup.data = t;
    t->tls_watching = true;
    t->open_handles++;
    if (uv_signal_start(&t->tls_hup, on_tls_hup, SIGHUP) != 0) {
        LOG(t, "error", "event=tls_watch_failed reason=\"SIGHUP not caught\"");
    }
}

static int apply_config(tr_transport *t, const tr_transport_config *cfg) {
    if (!cfg->node_name || !cfg->node_name[0] || strlen(cfg->node_name) > TR_NAME_MAX ||
        cfg->node_id == 0 || !cfg->on_message) {
        return TR_EINVAL;
    }
    bool tls = cfg->tls_cert || cfg->tls_key || cfg->tls_ca;
    bool secret = cfg->secret && cfg->secret_len > 0;
    if ((!secret && !tls) ||
        (secret && (cfg->secret_len < TR_SECRET_MIN || cfg->secret_len > sizeof t->secret))) {
        return TR_EINVAL; /* a secret, or TLS, or both */
    }
    const char *cluster = cfg->cluster ? cfg->cluster : "troupe";
    if (strlen(cluster) > TR_CLUSTER_NAME_MAX) {
        return TR_EINVAL;
    }
    snprintf(t->cluster, sizeof t->cluster, "%s", cluster);
    snprintf(t->name, sizeof t->name, "%s", cfg->node_name);
    t->log_level = cfg->log_level ? cfg->log_level - 1 : 1;
    if (cfg->advertise && cfg->advertise[0]) {
        hostport hp;
        const char *why = tr__address_parse(cfg->advertise, false, &hp);
        if (why) {
            LOG(t, "error", "event=bad_address what=advertise addr=\"%s\" reason=\"%s\"",
                cfg->advertise, why);
            return TR_EINVAL;
        }
        snprintf(t->listen_addr, sizeof t->listen_addr, "%s", cfg->advertise);
    }
    t->id = cfg->node_id;
    t->client = cfg->client;
    if (secret) {
        memcpy(t->secret, cfg->secret, cfg->secret_len);
        t->secret_len = cfg->secret_len;
    }
    if (tls) {
        int rc = tls_configure(t, cfg);
        if (rc) {
            return rc;
        }
    }
    t->frame_max = cfg->frame_max ? cfg->frame_max : TR_FRAME_MAX_DEFAULT;
    if (t->frame_max < TR_FRAME_MIN_LIMIT || t->frame_max > TR_FRAME_MAX_CEILING) {
        return TR_EINVAL;
    }
    t->queue_bytes = cfg->queue_bytes ? cfg->queue_bytes : 4u << 20;
    t->queue_count = cfg->queue_count ? cfg->queue_count : 65536;
    if (t->queue_bytes < t->frame_max + 4) {
        t->queue_bytes = t->frame_max + 4; /* a maximal frame must fit */
    }
    t->qlim = (tr_outq_limits){
        .ctrl_bytes = CTRL_QUEUE_MAX, .data_bytes = t->queue_bytes, .data_count = t->queue_count};
    t->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 5000;
    t->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 500;
    t->write_stall_ms = cfg->write_stall_ms ? cfg->write_stall_ms : 5000;
    t->gossip_ms = t->heartbeat_ms * 2;
    t->fdc.down_ms = cfg->down_ms ? cfg->down_ms : 3000;
    /* phi's knobs follow the heartbeat: a quarter of it as the least deviation, two beats
     * of acceptable pause (one lost tick and a scheduling stall on a loaded machine). */
    t->fdc.heartbeat_ms = t->heartbeat_ms;
    t->fdc.min_std_ms = t->heartbeat_ms / 4 ? t->heartbeat_ms / 4 : 1;
    t->fdc.pause_ms = t->heartbeat_ms * 2;
    t->fdc.phi_suspect = cfg->phi_suspect > 0 ? cfg->phi_suspect : TR_FD_PHI_SUSPECT;
    t->fdc.phi_down = cfg->phi_down > 0 ? cfg->phi_down : TR_FD_PHI_DOWN;
    t->fdc.backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 100;
    t->fdc.backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 5000;
    if (t->fdc.backoff_max_ms < t->fdc.backoff_min_ms) {
        t->fdc.backoff_max_ms = t->fdc.backoff_min_ms;
    }
    if (tr__fd_config_check(&t->fdc)) {
        LOG(t, "error",
            "event=bad_config reason=\"phi thresholds: need 0 < suspect (%g) <= "
            "down (%g) <= %g\"",
            t->fdc.phi_suspect, t->fdc.phi_down, TR_FD_PHI_MAX);
        return TR_EINVAL;
    }
    t->on_message = cfg->on_message;
    t->on_client_message = cfg->on_client_message ? cfg->on_client_message : cfg->on_message;
    t->client_idle_ms = cfg->client_idle_ms ? cfg->client_idle_ms : 60000;
    t->client_frame_ms = cfg->client_frame_ms ? cfg->client_frame_ms : 10000;
    t->backlogged = cfg->backlogged;
    /* A pause never outlasts a quarter of the failure detector's or the write-stall bound:
     * then at least one more frame is read (every frame counts as liveness). phi may judge
     * a regular peer down after heartbeat + acceptable pause + a few deviations, so that
     * (without the deviations) is a bound too. */
    uint32_t bound = t->fdc.down_ms < t->write_stall_ms ? t->fdc.down_ms : t->write_stall_ms;
    uint32_t phi_bound = t->fdc.heartbeat_ms + t->fdc.pause_ms;
    bound = phi_bound < bound ? phi_bound : bound;
    t->pause_max_ms = bound / 4 ? bound / 4 : 1;
    t->on_node = cfg->on_node;
    t->on_refused = cfg->on_refused;
    t->on_unresolved = cfg->on_unresolved;
    t->spin_ns = tr__spin_ceiling_ns(cfg->spin_us);
    tr__spin_init(&t->spinner, t->spin_ns, tr__real_thread_cpu_ns, tr__real_thread_preemptions,
                  NULL);
    t->ud = cfg->ud;
    return 0;
}

static int parse_seeds(tr_transport *t, const char *seeds) {
    if (!seeds) {
        return 0;
    }
    const char *s = seeds;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n > 0) {
            if (n > TR_ADDR_STR_MAX || t->seed_count == SEEDS_MAX) {
                LOG(t, "error", "event=bad_address what=seeds addr=\"%.*s\" reason=\"%s\"",
                    (int)(n > 200 ? 200 : n), s,
                    n > TR_ADDR_STR_MAX ? "longer than 63 bytes" : "more than 32 seeds");
                return TR_EINVAL;
            }
            seed *sd = &t->seeds[t->seed_count++];
            memcpy(sd->addr, s, n);
            sd->addr[n] = 0;
            hostport hp;
            const char *why = tr__address_parse(sd->addr, false, &hp);
            if (why) {
                LOG(t, "error", "event=bad_address what=seeds addr=\"%s\" reason=\"%s\"", sd->addr,
                    why);
                return TR_EINVAL;
            }
            tr__fd_init(&sd->fd, &t->fdc, transport_now_ms(t));
        }
        s += n + (end ? 1 : 0);
    }
    return 0;
}

/* The listen address: a name is resolved here, once and synchronously (start-up may wait
 * for DNS; the loop is not serving anyone yet), and the first address is bound. */
static int listen_sockaddr(tr_transport *t, const char *listen, struct sockaddr_storage *ss) {
    hostport hp;
    const char *why = tr__address_parse(listen, true, &hp);
    if (why) {
        LOG(t, "error", "event=listen_failed addr=\"%s\" error=\"%s\"", listen, why);
        return TR_EINVAL;
    }
    if (hp.numeric) {
        *ss = hp.ss;
        return 0;
    }
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof port, "%d", hp.port);
    int rc = uv_getaddrinfo(t->loop, &req, NULL, hp.host, port, &hints); /* no callback: sync */
    struct addrinfo *ai = rc == 0 ? req.addrinfo : NULL;
    while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
        ai = ai->ai_next;
    }
    if (ai && ai->ai_addrlen <= sizeof *ss) {
        memset(ss, 0, sizeof *ss);
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    }
    uv_freeaddrinfo(rc == 0 ? req.addrinfo : NULL);
    if (!ai) {
        LOG(t, "error", "event=listen_failed addr=\"%s\" error=\"cannot resolve %s: %s\"", listen,
            hp.host, rc ? uv_strerror(rc) : "no IPv4 or IPv6 address");
        return rc == UV_EAI_AGAIN ? TR_EAGAIN : TR_EINVAL;
    }
    return 0;
}

static int start_listen(tr_transport *t, const char *listen) {
    struct sockaddr_storage ss;
    int rc = listen_sockaddr(t, listen, &ss);
    if (rc) {
        return rc;
    }
    if (!t->listen_addr[0] && tr__address_is_wildcard((const struct sockaddr *)&ss)) {
        LOG(t, "error",
            "event=listen_failed addr=%s error=\"a wildcard address cannot be "
            "dialled: give the address to advertise\"",
            listen);
        return TR_EINVAL;
    }
    uv_tcp_init(t->loop, &t->listener);
    t->listener.data = t;
    t->open_handles++;
    t->listening = true;
    rc = uv_tcp_bind(&t->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
    }
    if (rc < 0) {
        LOG(t, "error", "event=listen_failed addr=%s error=\"%s\"", listen, uv_strerror(rc));
        return transport_translate_uv(rc);
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&t->listener, (struct sockaddr *)&bound, &len);
    t->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    if (t->listen_addr[0]) {
        return 0; /* an advertised address was given */
    }
    /* Announce the listen host (a name stays a name) with the real port (asked for 0). */
    char host[TR_ADDR_STR_MAX + 1];
    snprintf(host, sizeof host, "%s", listen);
    *strrchr(host, ':') = 0;
    snprintf(t->listen_addr, sizeof t->listen_addr, "%s:%d", host, t->port);
    return 0;
}

static void destroy(tr_transport *t) {
    for (size_t i = 0; i < t->peer_count; i++) {
        tr__outq_deinit(&t->peers[i]->q);
        free(t->peers[i]);
    }
    pthread_mutex_destroy(&t->mu);

    memset(t->secret, 0, sizeof t->secret);
    tr__tls_ctx_free(t->tls_ctx);
    for (int i = 0; i < 3; i++) {
        free(t->tls_files[i]);
    }
    free(t);
}

static void on_handle_closed(uv_handle_t *h) {
    tr_transport *t = h->data;
    t->open_handles--;
    tr__transport_finish_close(t);
}

void tr__transport_finish_close(tr_transport *t) {
    if (t->closing && t->open_handles == 0 && t->resolving == 0) {
        void (*done)(void *) = t->done;
        void *arg = t->done_arg;
        destroy(t);
        if (done) {
            done(arg);
        }
    }
}

/* libuv writes with write(2): a peer that resets the connection would kill the process
 * with SIGPIPE. Ignore it (once, process-wide) unless the program installed a handler; the
 * write then fails with EPIPE and only that connection is closed. */
static void ignore_sigpipe(void) {
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

int tr__transport_create(uv_loop_t *loop, const tr_transport_config *cfg, tr_transport **out) {
    ignore_sigpipe();
    tr_transport *t = calloc(1, sizeof *t);
    if (!t) {
        return TR_ENOMEM;
    }
    t->loop = loop;
    pthread_mutex_init(&t->mu, NULL);
    int rc = apply_config(t, cfg);
    if (rc == 0) {
        rc = parse_seeds(t, cfg->seeds);
    }
    if (rc) {
        destroy(t);
        return rc;
    }
    t->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
    /* The incarnation is wall-clock ms at start, so a restarted node has a larger one. */
    t->incarnation = tr__log_realtime_ms();
    uv_async_init(loop, &t->async, tr__outbound_on_async);
    t->async.data = t;
    uv_timer_init(loop, &t->tick);
    t->tick.data = t;
    uv_idle_init(loop, &t->spin);
    t->spin.data = t;
    uv_timer_init(loop, &t->resume);
    t->resume.data = t;
    uv_prepare_init(loop, &t->flusher);
    t->flusher.data = t;
    uv_prepare_start(&t->flusher, tr__outbound_on_prepare);
    t->turn = 1;                          /* a new connection's sync_turn (0) is no turn */
    uv_unref((uv_handle_t *)&t->flusher); /* keeps no loop running by itself */
    t->open_handles += 5;
    if (t->tls_ctx && !t->client) {
        tls_watch(t);
    }
    if (cfg->listen && cfg->listen[0]) {
        rc = start_listen(t, cfg->listen);
        if (rc) {
            tr__transport_close(t, NULL, NULL);
            return rc;
        }
    }
    uint32_t period = t->heartbeat_ms / 2 < 20 ? 20 : t->heartbeat_ms / 2;
    if (period > 100) {
        period = 100; /* deadlines (handshake, stall) are checked at least this often */
    }
    uv_timer_start(&t->tick, on_tick, 0, period);
    LOG(t, "info", "event=transport_started id=%u cluster=%s listen=%s seeds=%zu%s%s", t->id,
        t->cluster, t->listen_addr[0] ? t->listen_addr : "-", t->seed_count,
        t->client ? " client=1" : "", t->tls_ctx ? " tls=1" : "");
    *out = t;
    return 0;
}

void tr__transport_drain(tr_transport *t, uint32_t timeout_ms, void (*done)(void *arg), void *arg) {
    TR_ASSERT(!t->closing && !t->draining);
    pthread_mutex_lock(&t->mu);
    t->shut = true;
    pthread_mutex_unlock(&t->mu);
    t->draining = true;
    t->drain_deadline_ms = transport_now_ms(t) + timeout_ms;
    t->done = done;
    t->done_arg = arg;
    tr__outbound_flush_all(t);
    uv_timer_start(&t->tick, on_tick, 5, 5); /* check often: a drain is usually short */
}

void tr__transport_close(tr_transport *t, void (*done)(void *arg), void *arg) {
    TR_ASSERT(!t->closing);
    pthread_mutex_lock(&t->mu);
    t->shut = true;
    pthread_mutex_unlock(&t->mu);
    t->closing = true;
    t->done = done;
    t->done_arg = arg;
    uint8_t bye[64];
    long n = tr__outbound_bye_frame(bye, sizeof bye);
    for (conn *c = t->conns; c; c = c->next) {
        if (c->authed && !c->closing && !c->writing && !t->saying_bye) {
            /* Best effort and never blocking: uv_close would cancel a queued write. */
            tr__conn_try_write(c, bye, (size_t)n);
        }
        tr__conn_close(c, "info", "transport closing");
    }
    /* A resolution still queued is cancelled (its callback gets UV_ECANCELED); one already
     * running on the thread pool cannot be: its callback comes when getaddrinfo returns.
     * Either way t is freed only after the last callback (t->resolving). */
    tr__dial_cancel_all(t);
    uv_timer_stop(&t->tick);
    uv_close((uv_handle_t *)&t->tick, on_handle_closed);
    uv_timer_stop(&t->resume);
    uv_close((uv_handle_t *)&t->resume, on_handle_closed);
    uv_close((uv_handle_t *)&t->async, on_handle_closed);
    uv_close((uv_handle_t *)&t->spin, on_handle_closed);
    uv_close((uv_handle_t *)&t->flusher, on_handle_closed);
    tr__outbound_forget_thread(t);
    if (t->tls_watching) {
        t->tls_watching = false;
        uv_close((uv_handle_t *)&t->tls_hup, on_handle_closed);
    }
    atomic_store_explicit(&t->spinning, false, memory_order_seq_cst);
    if (t->listening) {
        uv_close((uv_handle_t *)&t->listener, on_handle_closed);
    }
}

int tr__transport_port(const tr_transport *t) {
    return t->port;
}

void tr__transport_stats_get(tr_transport *t, tr_transport_stats *out) {
    pthread_mutex_lock(&t->mu);
    *out = t->stats;
    pthread_mutex_unlock(&t->mu);
    out->writes_at_once = atomic_load_explicit(&t->writes_at_once, memory_order_relaxed);
    out->wakes = atomic_load_explicit(&t->wakes, memory_order_relaxed);
}

int tr__transport_members(tr_transport *t, tr_transport_member *out, size_t cap) {
    uint64_t now = transport_now_ms(t);
    size_t n = 0;
    for (size_t i = 0; i < t->peer_count && n < cap; i++) {
        const peer *p = t->peers[i];
        if (!p->in_use || p->client) {
            continue;
        }
        tr_transport_member *m = &out[n++];
        m->id = p->id;
        snprintf(m->name, sizeof m->name, "%s", p->name);
        snprintf(m->addr, sizeof m->addr, "%s", p->addr);
        m->status = (uint8_t)p->fd.status;
        m->linked = p->active != NULL;
        m->phi = p->active ? tr__fd_phi(&p->fd, &t->fdc, now) : 0.0;
        m->frames_in = p->frames_in;
        m->frames_out = p->frames_out;
        m->bytes_in = p->bytes_in;
        m->bytes_out = p->bytes_out;
    }
    return (int)n;
}
