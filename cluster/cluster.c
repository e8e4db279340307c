/* cluster.c — the transport plugged into the real engine (see cluster.h, troupe.h). */
#include "cluster/cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/policy_gate.h"
#include "cluster/transport.h"
#include "proto/frame.h"
#include "proto/handshake.h"
#include "proto/membership.h"
#include "runtime/assert.h"
#include "runtime/codec.h"
#include "runtime/engine.h"
#include "runtime/internal.h"
#include "runtime/real.h"

/* How long tr_cluster_stop lets queued messages go out before closing. */
#define DRAIN_MS 1000

/* A cluster's states, in the only order it moves through them (set_state asserts it):
 * STARTING -> RUNNING or FAILED; RUNNING -> CLOSING -> CLOSED. */
enum {
    ST_STARTING,
    ST_RUNNING,
    ST_FAILED,
    ST_CLOSING,
    ST_CLOSED
};

struct tr_cluster {
    tr_runtime *rt;
    tr_node *node;
    tr_transport *_Atomic t; /* set on the I/O thread once started; NULL once closing */
    tr_transport *owned;     /* I/O thread's own copy */
    tr_transport_config tc;
    char cluster[TR_CLUSTER_NAME_MAX + 1];
    char listen[TR_ADDR_STR_MAX + 1];
    char advertise[TR_ADDR_STR_MAX + 1];
    char *seeds;
    uint8_t secret[256];
    char name[TR_NAME_MAX + 1];
    uint32_t frame_max;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* [mu] */
    int start_rc;
    uint32_t first_peer; /* [mu] */
    int peer_error;      /* [mu] a seed refused us (TR_EAUTH) or did not resolve (TR_EUNREACH) */
    char peer_why[192];  /* [mu] */
    tr_remote_ops ops;
    /* I/O thread only: which local receiver each paused peer waits for (one per peer at
     * most, so bounded by the number of links) */
    struct blocked {
        uint32_t peer;
        tr_addr on;
    } *blocked;
    uint32_t blocked_len, blocked_cap;
    struct tr__cluster_view *view; /* [mu] the last snapshot for metrics and status, or NULL */
    tr__policy_gate *gate;         /* borrowed; NULL: no access policy (policy_gate.h) */
};

int tr__cluster_decode(uint32_t from, const uint8_t *payload, size_t len, const tr_node *clock,
                       tr_msg **out, char *name_out) {
    /* The transport hands over whole frames within its limit, from an authenticated peer. */
    TR_ASSERT(from != 0 && payload != NULL && len > 0);
    /* tr__envelope_decode runs tr__msgpack_check over the whole payload before msgpack-c or
     * any allocation sees it (codec.h): depth, lying headers, truncation, trailing bytes.
     * (tests/cluster/test_node.c sends each of those.) */
    int rc = tr__envelope_decode(payload, len, clock, out, name_out);
    if (rc) {
        return rc;
    }
    if ((*out)->from.node != from) {
        tr__pool_release(*out);
        *out = NULL;
        return TR_EPROTO;
    }
    return 0;
}

/* Back-pressure: remote senders cannot be muted like local ones (actor.c), so when a
 * delivery leaves its receiver over the mute threshold the transport stops reading that
 * peer until the receiver is back under half of it (the same hysteresis as unmuting). */
static bool note_blocked(tr_cluster *c, uint32_t peer, tr_addr on) {
    for (uint32_t i = 0; i < c->blocked_len; i++) {
        if (c->blocked[i].peer == peer) {
            c->blocked[i].on = on;
            return true;
        }
    }
    if (c->blocked_len == c->blocked_cap) {
        uint32_t cap = c->blocked_cap ? c->blocked_cap * 2 : 4;
        struct blocked *b = realloc(c->blocked, cap * sizeof *b);
        if (!b) {
            return false; /* no memory to remember it: keep reading rather than stall */
        }
        c->blocked = b;
        c->blocked_cap = cap;
    }
    c->blocked[c->blocked_len++] = (struct blocked){peer, on};
    return true;
}

static bool backlogged(void *ud, uint32_t from) {
    tr_cluster *c = ud;
    for (uint32_t i = 0; i < c->blocked_len; i++) {
        if (c->blocked[i].peer == from) {
            uint32_t low = tr__node_mute_threshold(c->node) / 2;
            if (tr__node_backlog(c->node, c->blocked[i].on) > low) {
                return true;
            }
            c->blocked[i] = c->blocked[--c->blocked_len];
            return false;
        }
    }
    return false;
}

/* What a client may send: requests, that is user messages that are not replies, from an
 * actor of the client (from.actor 0 would leave the answer nowhere to go). The runtime's
 * system messages (monitors, links, exits, kills) and replies are for members. */
static bool client_may_send(const tr_msg *m) {
    return m->type >= TR_MSG_USER && m->type < TR__SYS_BASE && !(m->flags_ & TR__F_REPLY) &&
           m->from.actor != 0;
}

/* The access policy's check (loop thread). */
static bool admit(tr_cluster *c, uint32_t from, bool client, const tr_msg *m, const char *name) {
    char who[TR_NAME_MAX + 1] = "";
    (void)tr__transport_peer_name(c->owned, from, who, sizeof who);
    return tr__policy_gate_admit(c->gate, c->node, who, client, m, name[0] ? name : NULL);
}

static int deliver(tr_cluster *c, uint32_t from, const uint8_t *payload, size_t len, bool client) {
    tr_msg *m;
    char name[TR_NAME_MAX + 1];
    int rc = tr__cluster_decode(from, payload, len, c->node, &m, name);
    if (rc) {
        return rc;
    }
    rc = m->to.node != tr_node_id(c->node) ? TR_TRANSPORT_MISADDRESSED
         : client && !client_may_send(m)   ? TR_TRANSPORT_CLIENT_REFUSED
                                           : 0;
    if (rc) {
        tr__pool_release(m);
        return rc;
    }
    if (c->gate && !admit(c, from, client, m, name)) {
        tr__pool_release(m);
        return 0;
    }
    tr_addr to;
    if (tr__node_deliver(c->node, m, name[0] ? name : NULL, &to) && note_blocked(c, from, to)) {
        return TR_TRANSPORT_PAUSE;
    }
    return 0;
}

static int on_message(void *ud, uint32_t from, const uint8_t *payload, size_t len) {
    return deliver(ud, from, payload, len, false);
}

static int on_client_message(void *ud, uint32_t from, const uint8_t *payload, size_t len) {
    return deliver(ud, from, payload, len, true);
}

static void on_node(void *ud, uint32_t id, const char *name, bool up) {
    tr_cluster *c = ud;
    TR_ASSERT(id != 0 && id != tr_node_id(c->node));
    if (up) {
        pthread_mutex_lock(&c->mu);
        if (!c->first_peer) {
            c->first_peer = id;
        }
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    tr__node_event(c->node, id, up);
}

/* A dialled seed failed in a way a retry will not cure: tr_cluster_wait_peer gives up. */
static void note_peer_error(tr_cluster *c, int err, const char *what, const char *detail) {
    pthread_mutex_lock(&c->mu);
    c->peer_error = err;
    snprintf(c->peer_why, sizeof c->peer_why, "%s%s", what, detail);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_refused(void *ud, const char *why) {
    note_peer_error(ud, TR_EAUTH, "refused by the node: ", why);
}

static void on_unresolved(void *ud, const char *addr, const char *error, bool connect) {
    char what[TR_ADDR_STR_MAX + 32];
    snprintf(what, sizeof what, connect ? "cannot connect to %s: " : "cannot resolve %s: ", addr);
    note_peer_error(ud, TR_EUNREACH, what, error);
}

/* Worker threads: encode here (in parallel), queue on the peer, never block. */
static int remote_send(void *ud, tr_msg *msg, const char *to_name) {
    tr_cluster *c = ud;
    tr_transport *t = atomic_load_explicit(&c->t, memory_order_acquire);
    int rc;
    /* Every field but the body fits TR_ENVELOPE_OVERHEAD_MAX: a buffer that much longer than
     * the body holds the envelope, and the encoder needs no exact size pass first (about 200
     * instructions a message, a second clock read for a deadline among them). */
    size_t bound = TR_ENVELOPE_OVERHEAD_MAX + (size_t)msg->body_len;
    if (!t) {
        rc = TR_EUNREACH;
    } else if (msg->body_len > c->frame_max) {
        /* Refused before any allocation: no frame is shorter than its body. The transport
         * checks the exact size. */
        rc = TR_ETOOBIG;
    } else {
        uint8_t stack[4096];
        uint8_t *buf = bound <= sizeof stack ? stack : malloc(bound);
        size_t len = 0;
        rc = buf ? tr__envelope_encode(msg, to_name, c->node, buf, bound, &len) : TR_ENOMEM;
        TR_ASSERT(rc != 0 || (len > 0 && len <= bound));
        if (rc == 0) {
            rc = tr__transport_send(t, msg->to.node, buf, len);
        }
        if (buf != stack) {
            free(buf);
        }
    }
    tr__pool_release(msg);
    return rc;
}

static int remote_node_by_name(void *ud, const char *name, uint32_t *id_out) {
    tr_cluster *c = ud;
    tr_transport *t = atomic_load_explicit(&c->t, memory_order_acquire);
    return t ? tr__transport_node_by_name(t, name, id_out) : TR_ENOENT;
}

/* Node events are reported for every member, so there is nothing to arm per watch. */
static void remote_watch_node(void *ud, uint32_t id) {
    (void)ud;
    (void)id;
}

static void set_state(tr_cluster *c, int st) {
    pthread_mutex_lock(&c->mu);
    TR_ASSERT(st > c->state);
    c->state = st;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void start_on_loop(void *arg) {
    tr_cluster *c = arg;
    tr_transport *t = NULL;
    c->start_rc = tr__transport_create(tr__real_loop(c->rt), &c->tc, &t);
    if (c->start_rc) {
        set_state(c, ST_FAILED);
        return;
    }
    c->owned = t;
    c->port = tr__transport_port(t);
    atomic_store_explicit(&c->t, t, memory_order_release);
    set_state(c, ST_RUNNING);
}

static void on_closed(void *arg) {
    set_state(arg, ST_CLOSED);
}

/* RUNNING -> CLOSING, once: true if this call made the move (and hid the transport from
 * senders), false if the cluster was not running. */
static bool begin_close(tr_cluster *c) {
    pthread_mutex_lock(&c->mu);
    bool run = c->state == ST_RUNNING;
    if (run) {
        c->state = ST_CLOSING;
    }
    pthread_mutex_unlock(&c->mu);
    if (run) {
        atomic_store_explicit(&c->t, NULL, memory_order_release);
    }
    return run;
}

static void close_on_loop(void *arg) {
    tr_cluster *c = arg;
    if (begin_close(c)) {
        tr__transport_drain(c->owned, DRAIN_MS, on_closed, c);
    }
}

/* The runtime is going away: no time to drain. */
static void close_now_on_loop(void *arg) {
    tr_cluster *c = arg;
    if (begin_close(c)) {
        tr__transport_close(c->owned, on_closed, c);
    }
}

static int copy_config(tr_cluster *c, const tr_cluster_config *cfg) {
    bool tls = cfg && (cfg->tls_cert || cfg->tls_key || cfg->tls_ca);
    if (!cfg || (!tls && !cfg->secret) ||
        (cfg->secret && (cfg->secret_len < TR_SECRET_MIN || cfg->secret_len > sizeof c->secret))) {
        return TR_EINVAL; /* a secret, or TLS (the transport checks all three files), or both */
    }
    if ((cfg->cluster && strlen(cfg->cluster) > TR_CLUSTER_NAME_MAX) ||
        (cfg->listen && strlen(cfg->listen) > TR_ADDR_STR_MAX) ||
        (cfg->advertise && strlen(cfg->advertise) > TR_ADDR_STR_MAX)) {
        return TR_EINVAL;
    }
    snprintf(c->advertise, sizeof c->advertise, "%s", cfg->advertise ? cfg->advertise : "");
    snprintf(c->cluster, sizeof c->cluster, "%s", cfg->cluster ? cfg->cluster : "troupe");
    snprintf(c->listen, sizeof c->listen, "%s", cfg->listen ? cfg->listen : "");
    c->seeds = cfg->seeds ? strdup(cfg->seeds) : NULL;
    if (cfg->secret) {
        memcpy(c->secret, cfg->secret, cfg->secret_len);
    }
    snprintf(c->name, sizeof c->name, "%s", tr_node_name(c->node));
    c->frame_max = cfg->frame_max ? cfg->frame_max : TR_FRAME_MAX_DEFAULT;
    c->tc = (tr_transport_config){
        .cluster = c->cluster,
        .node_name = c->name,
        .node_id = tr_node_id(c->node),
        .listen = c->listen[0] ? c->listen : NULL,
        .advertise = c->advertise[0] ? c->advertise : NULL,
        .seeds = c->seeds,
        .secret = cfg->secret ? c->secret : NULL,
        .secret_len = cfg->secret ? cfg->secret_len : 0,
        .client = cfg->client,
        .frame_max = c->frame_max,
        .queue_bytes = cfg->peer_queue_bytes,
        .queue_count = cfg->peer_queue_count,
        .handshake_timeout_ms = cfg->handshake_timeout_ms,
        .heartbeat_ms = cfg->heartbeat_ms,
        .down_ms = cfg->down_ms,
        .phi_suspect = cfg->phi_suspect,
        .phi_down = cfg->phi_down,
        .write_stall_ms = cfg->write_stall_ms,
        .spin_us = cfg->spin_us,
        .on_message = on_message,
        .on_client_message = on_client_message,
        .client_idle_ms = cfg->client_idle_ms,
        .client_frame_ms = cfg->client_frame_ms,
        .backlogged = backlogged,
        /* a node retries seeds for as long as it runs; a client gives up (wait_peer) */
        .on_refused = cfg->client ? on_refused : NULL,
        .on_unresolved = cfg->client ? on_unresolved : NULL,
        .log_level = cfg->quiet ? 3 : 0,
        .on_node = on_node,
        .ud = c,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .tls_ca = cfg->tls_ca,
    };
    return 0;
}

static void on_runtime_shutdown(void *arg) {
    close_now_on_loop(arg);
}

int tr_cluster_create(tr_runtime *rt, const tr_cluster_config *cfg, tr_cluster **out) {
    return tr__cluster_create_gated(rt, cfg, NULL, out);
}

int tr__cluster_create_gated(tr_runtime *rt, const tr_cluster_config *cfg, tr__policy_gate *gate,
                             tr_cluster **out) {
    tr_cluster *c = calloc(1, sizeof *c);
    if (!c) {
        return TR_ENOMEM;
    }
    c->gate = gate;
    c->rt = rt;
    c->node = tr_runtime_node(rt);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    int rc = copy_config(c, cfg);
    if (rc == 0) {
        rc = tr__real_post(rt, start_on_loop, c);
    }
    if (rc == 0) {
        pthread_mutex_lock(&c->mu);
        while (c->state == ST_STARTING) {
            pthread_cond_wait(&c->cv, &c->mu);
        }
        rc = c->state == ST_RUNNING ? 0 : c->start_rc;
        pthread_mutex_unlock(&c->mu);
    }
    if (rc) {
        /* A failed transport still closes its handles on the loop; c is then unreferenced
         * (tr__transport_create was given no callback that outlives it). */
        tr_cluster_destroy(c);
        return rc;
    }
    c->ops = (tr_remote_ops){remote_send, remote_node_by_name, remote_watch_node};
    tr__real_set_remote(rt, &c->ops, c);
    tr__real_on_shutdown(rt, on_runtime_shutdown, c);
    *out = c;
    return 0;
}

int tr_cluster_port(const tr_cluster *c) {
    return c->port;
}

int tr_cluster_wait_peer(tr_cluster *c, uint32_t timeout_ms, uint32_t *id_out) {
    struct timespec ts;
    tr__log_realtime_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (!c->first_peer && !c->peer_error && rc == 0) {
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    uint32_t id = c->first_peer;
    int err = c->peer_error;
    pthread_mutex_unlock(&c->mu);
    if (!id) {
        return err ? err : TR_ETIMEDOUT;
    }
    *id_out = id;
    return 0;
}

void tr_cluster_peer_error(tr_cluster *c, char *why, size_t why_cap) {
    if (!why || why_cap == 0) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    snprintf(why, why_cap, "%s", c->peer_error ? c->peer_why : "");
    pthread_mutex_unlock(&c->mu);
}

void tr_cluster_stop(tr_cluster *c) {
    if (tr__real_post(c->rt, close_on_loop, c) != 0) {
        return; /* the runtime is shutting down: its hook closes the transport */
    }
    pthread_mutex_lock(&c->mu);
    while (c->state == ST_RUNNING || c->state == ST_CLOSING) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

void tr_cluster_destroy(tr_cluster *c) {
    if (!c) {
        return;
    }
    memset(c->secret, 0, sizeof c->secret);
    free(c->seeds);
    free(c->blocked);
    free(c->view);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

uint32_t tr_cluster_node_id(const char *name) {
    if (name[0] == 'n' && name[1] >= '1' && name[1] <= '9') {
        char *end;
        unsigned long v = strtoul(name + 1, &end, 10);
        if (*end == 0 && v >= 1 && v <= 0x7fffffffUL) {
            return (uint32_t)v;
        }
    }
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    h &= 0x7fffffffu;
    return h ? h : 1;
}

/* ---- the members and transport counters, copied for metrics and status --------------------- */

struct tr__cluster_view {
    tr_transport_stats stats;
    int count;
    tr_transport_member members[TR_MEMBERS_MAX];
};

static void refresh_on_loop(void *arg) {
    tr_cluster *c = arg;
    tr_transport *t = c->owned;
    if (!t || atomic_load_explicit(&c->t, memory_order_acquire) == NULL) {
        return; /* not started, or closing: the last snapshot stays */
    }
    pthread_mutex_lock(&c->mu);
    if (!c->view) {
        c->view = calloc(1, sizeof *c->view);
    }
    if (c->view) {
        c->view->count = tr__transport_members(t, c->view->members, TR_MEMBERS_MAX);
        tr__transport_stats_get(t, &c->view->stats);
    }
    pthread_mutex_unlock(&c->mu);
}

void tr__cluster_view_refresh(tr_cluster *c) {
    (void)tr__real_post(c->rt, refresh_on_loop, c); /* TR_ECLOSED at shutdown: nothing to do */
}

int tr__cluster_view_get(tr_cluster *c, tr_transport_stats *stats, tr_transport_member *out,
                         size_t cap) {
    int n = 0;
    pthread_mutex_lock(&c->mu);
    if (c->view) {
        n = c->view->count < (int)cap ? c->view->count : (int)cap;
        memcpy(out, c->view->members, (size_t)n * sizeof *out);
        *stats = c->view->stats;
    } else {
        memset(stats, 0, sizeof *stats);
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}
