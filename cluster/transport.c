/* transport.c — TCP transport over libuv (see transport.h for the contract). */
#include "cluster/transport.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "cluster/frame.h"
#include "cluster/handshake.h"
#include "cluster/membership.h"

#define PEERS_MAX 1024
#define SEEDS_MAX 32
#define CTRL_QUEUE_MAX (256u << 10) /* control lane bound: heartbeats and gossip */
#define PENDING_CONNS_MAX 256       /* connections still in their handshake; more are refused */
#define DIAL_ADDRS_MAX 4            /* resolved addresses of one name tried in turn */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

typedef struct conn conn;
typedef struct peer peer;

/* A peer: a cluster member (or a connected client) known by node id. Fields marked [mu]
 * are shared with sender threads under t->mu; the rest belong to the loop thread. */
struct peer {
    uint32_t id;
    bool client;
    char name[TR_NAME_MAX + 1];
    char addr[TR_ADDR_STR_MAX + 1];
    uint64_t incarnation;
    tr_fd fd;
    conn *active;  /* the authenticated connection, or NULL */
    bool dialing;  /* addr is being resolved or connected to */
    bool addr_bad; /* addr is not a valid "host:port": not dialled until it changes */
    /* [mu] */
    bool reachable; /* sends are accepted (queued) */
    bool linked;    /* authenticated link up (a copy of fd.linked for other threads) */
    bool in_use;    /* the slot holds a peer (client slots are freed on disconnect) */
    bytes q_ctrl, q_data;
    uint32_t q_count;
};

/* A seed address, dialled until a handshake through it succeeds once. */
typedef struct seed {
    char addr[TR_ADDR_STR_MAX + 1];
    bool joined;  /* a handshake through it succeeded: never dialled again */
    bool dialing; /* being resolved or connected to */
    tr_fd fd;
} seed;

/* An IPv4 or IPv6 socket address. */
typedef union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} sockaddr_any;

/* A host name being resolved (uv_getaddrinfo on libuv's thread pool) for a dial. It is
 * counted in t->resolving, so the transport is freed only after its callback ran (closing
 * cancels it: the callback then gets UV_ECANCELED, or the result if already running). */
typedef struct resolve {
    uv_getaddrinfo_t req;
    tr_transport *t;
    struct resolve *next; /* t->resolves */
    seed *seed;           /* what it dials for (seed and peer structs outlive it) */
    peer *peer;
    char addr[TR_ADDR_STR_MAX + 1];
} resolve;

struct conn {
    uv_tcp_t tcp; /* first: handle -> conn */
    tr_transport *t;
    conn *next;      /* t->conns */
    peer *peer;      /* set once authenticated and active */
    seed *seed;      /* dialled for this seed */
    peer *dial_peer; /* dialled for this member */
    bool outbound;
    bool authed;
    bool closing;
    bool started; /* the handshake began (the TCP connection was established) */
    char remote[TR_ADDR_STR_MAX + 1];
    /* outbound: the addresses its dial may use; alts[alt_i] is the one being connected to,
     * the rest are tried in turn if that connect fails */
    sockaddr_any alts[DIAL_ADDRS_MAX];
    uint8_t alt_n, alt_i;
    uint64_t deadline_ms; /* handshake deadline */
    tr_frame_reader rd;
    tr_handshake hs;
    /* reading stopped because a receiver is backlogged (TR_TRANSPORT_PAUSE) */
    bool paused;
    bool pause_logged; /* this pause got a log line: so does its end */
    uint64_t paused_since_ms;
    /* the batch being written */
    bool writing;
    uint64_t write_started_ms;
    uv_write_t wreq;
    bytes w_ctrl, w_data;
    uv_connect_t creq;
    uv_shutdown_t sreq;
};

struct tr_transport {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listening;
    uv_timer_t tick;
    uv_timer_t resume; /* polls paused connections (one-shot, backing off) */
    uint32_t resume_ms;
    uint32_t paused_conns;
    uint32_t pause_max_ms;
    uint64_t pause_log_ms;   /* last pause/resume log line */
    uint64_t pause_unlogged; /* pauses since it */
    uv_async_t async;
    uv_idle_t spin; /* active while spinning: the loop polls without blocking */
    uint64_t spin_ns;
    uint64_t last_activity_ns;
    _Atomic bool spinning; /* senders skip the async wake while the loop spins */
    char cluster[TR_CLUSTER_NAME_MAX + 1];
    char name[TR_NAME_MAX + 1];
    char listen_addr[TR_ADDR_STR_MAX + 1];
    uint32_t id;
    bool client;
    int pending_conns; /* connections not yet authenticated */
    uint64_t incarnation;
    uint8_t secret[256];
    size_t secret_len;
    uint32_t frame_max, queue_bytes, queue_count;
    uint32_t handshake_timeout_ms, heartbeat_ms, write_stall_ms, gossip_ms;
    tr_fd_config fdc;
    int (*on_message)(void *, uint32_t, const uint8_t *, size_t);
    bool (*backlogged)(void *, uint32_t);
    void (*on_refused)(void *, const char *);
    void (*on_unresolved)(void *, const char *, const char *);
    int log_level;
    void (*on_node)(void *, uint32_t, const char *, bool);
    void *ud;
    conn *conns;
    seed seeds[SEEDS_MAX];
    size_t seed_count;
    uint64_t last_heartbeat_ms, last_gossip_ms, hb_seq;
    uint64_t rng;
    int port;
    tr_gossip_entry gossip[TR_MEMBERS_MAX];    /* scratch: gossip out (loop thread) */
    tr_gossip_entry gossip_in[TR_MEMBERS_MAX]; /* scratch: gossip in (loop thread) */
    uint8_t gossip_frame[16 + TR_MEMBERS_MAX * 160];
    /* draining, then closing */
    bool draining;
    bool saying_bye; /* drained: BYE sent, write sides shut, waiting for the peers' EOF */
    uint64_t drain_deadline_ms;
    bool closing;
    int open_handles;
    resolve *resolves; /* host names being resolved */
    int resolving;     /* how many: close completes when this and open_handles are 0 */
    void (*done)(void *);
    void *done_arg;
    /* [mu] */
    pthread_mutex_t mu;
    peer *peers[PEERS_MAX];
    size_t peer_count;
    bool shut; /* sends refused */
    tr_transport_stats stats;
};

/* ---- logging ------------------------------------------------------------------------- */

void tr_cluster_log(const char *level, const char *node, const char *fmt, ...) {
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(line, sizeof line, "ts=%lld.%03ld level=%s node=%s ", (long long)ts.tv_sec,
                     ts.tv_nsec / 1000000, level, node ? node : "-");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) {
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    }
    va_end(ap);
    size_t len = strnlen(line, sizeof line - 2);
    line[len] = '\n';
    /* One write per line so lines from several threads never interleave. */
    ssize_t w = write(2, line, len + 1);
    (void)w;
}

void tr_cluster_deadline(struct timespec *ts, uint32_t timeout_ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static int level_rank(const char *level) {
    return level[0] == 'd' ? 0 : level[0] == 'i' ? 1 : level[0] == 'w' ? 2 : 3;
}

#define LOG(t, level, ...)                                 \
    do {                                                   \
        if (level_rank(level) >= (t)->log_level) {         \
            tr_cluster_log(level, (t)->name, __VA_ARGS__); \
        }                                                  \
    } while (0)

static uint64_t now_ms(tr_transport *t) {
    return uv_now(t->loop);
}

static uint64_t next_random(tr_transport *t) {
    /* xorshift64*: jitter only, seeded from the clock and pid; never for security. */
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int translate_uv(int rc) {
    switch (rc) {
    case UV_EADDRINUSE: return TR_EBUSY;
    case UV_EINVAL: return TR_EINVAL;
    case UV_ENOMEM: return TR_ENOMEM;
    case UV_ECONNREFUSED:
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH: return TR_EUNREACH;
    default: return TR_EIO;
    }
}

/* ---- byte buffers -------------------------------------------------------------------- */

static int bytes_reserve(bytes *b, size_t more) {
    if (b->cap - b->len >= more) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        return TR_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void bytes_free(bytes *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Keeps big buffers from pinning memory after a burst. */
static void bytes_trim(bytes *b) {
    if (b->len == 0 && b->cap > (1u << 20)) {
        bytes_free(b);
    }
}

/* ---- address parsing ----------------------------------------------------------------- */

/* A "host:port" split and checked (syntax only: names are resolved later, when dialled). */
typedef struct hostport {
    char host[TR_ADDR_STR_MAX + 1]; /* without the brackets of "[v6]" */
    int port;
    bool numeric;               /* host is an IPv4 or IPv6 literal: ss holds it */
    struct sockaddr_storage ss; /* numeric only */
} hostport;

/* RFC 1123 names: dot-separated labels of letters, digits and '-' (not first or last),
 * each 1..63 bytes, one optional trailing dot. '_' is accepted too (container and service
 * names use it and resolvers pass it through). A last label of digits only is not a name
 * (RFC 1123 2.1: it would be a mistyped IPv4 address such as "10.0.0.256" or "10.1"). */
static const char *check_name(const char *h) {
    size_t n = strlen(h);
    if (n > 1 && h[n - 1] == '.') {
        n--;
    }
    size_t label = 0;
    bool digits = true;
    for (size_t i = 0; i <= n; i++) {
        char ch = i < n ? h[i] : '.';
        if (ch == '.') {
            if (label == 0) {
                return "empty label in host name";
            }
            if (h[i - 1] == '-') {
                return "a host name label ends with '-'";
            }
            if (i < n) {
                label = 0;
                digits = true;
            }
            continue;
        }
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && ch != '-' && ch != '_') {
            return "invalid character in host name (letters, digits, '-', '_' and '.')";
        }
        if (ch == '-' && label == 0) {
            return "a host name label starts with '-'";
        }
        digits = digits && ch >= '0' && ch <= '9';
        label++;
    }
    return digits ? "not a valid IPv4 address" : NULL;
}

/* Splits and checks addr. Returns NULL, or why it is refused (a static string). */
static const char *parse_hostport(const char *addr, bool port0_ok, hostport *out) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(addr);
    if (len == 0) {
        return "empty address";
    }
    if (len > TR_ADDR_STR_MAX) {
        return "longer than 63 bytes";
    }
    const char *colon = strrchr(addr, ':');
    if (!colon) {
        return "missing ':port' (want host:port)";
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    long port = 0;
    for (size_t i = 0; i < plen; i++) {
        port = p[i] >= '0' && p[i] <= '9' && i < 5 ? port * 10 + (p[i] - '0') : -1;
        if (port < 0) {
            break;
        }
    }
    if (plen == 0 || port < (port0_ok ? 0 : 1) || port > 65535) {
        return port0_ok ? "port must be a number in 0..65535" : "port must be a number in 1..65535";
    }
    out->port = (int)port;
    size_t hl = (size_t)(colon - addr);
    if (hl == 0) {
        return "empty host (want host:port)";
    }
    memcpy(out->host, addr, hl);
    out->host[hl] = 0;
    if (out->host[0] == '[') {
        if (hl < 3 || out->host[hl - 1] != ']') {
            return "bad bracketed address (want [IPv6]:port)";
        }
        memmove(out->host, out->host + 1, hl - 2);
        out->host[hl - 2] = 0;
        if (uv_ip6_addr(out->host, out->port, (struct sockaddr_in6 *)&out->ss)) {
            return "not a valid IPv6 address inside [ ]";
        }
        out->numeric = true;
        return NULL;
    }
    if (uv_ip4_addr(out->host, out->port, (struct sockaddr_in *)&out->ss) == 0) {
        out->numeric = true;
        return NULL;
    }
    if (strchr(out->host, ':')) { /* "::1:7401": accepted (it always was) if it parses */
        if (uv_ip6_addr(out->host, out->port, (struct sockaddr_in6 *)&out->ss)) {
            return "not a valid IPv6 address (write it as [IPv6]:port)";
        }
        out->numeric = true;
        return NULL;
    }
    return check_name(out->host);
}

int tr_cluster_addr_check(const char *addr, bool port0_ok, const char **why) {
    hostport hp;
    const char *w = parse_hostport(addr, port0_ok, &hp);
    if (why) {
        *why = w;
    }
    return w ? TR_EINVAL : 0;
}

static bool is_wildcard(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void format_peer_addr(uv_tcp_t *tcp, char *out, size_t cap) {
    struct sockaddr_storage ss = {0};
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(out, cap, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

/* ---- peers --------------------------------------------------------------------------- */

/* [mu] held */
static peer *find_peer_locked(tr_transport *t, uint32_t id) {
    for (size_t i = 0; i < t->peer_count; i++) {
        peer *p = t->peers[i];
        if (p->in_use && p->id == id) {
            return p;
        }
    }
    return NULL;
}

static peer *find_peer(tr_transport *t, uint32_t id) {
    pthread_mutex_lock(&t->mu);
    peer *p = find_peer_locked(t, id);
    pthread_mutex_unlock(&t->mu);
    return p;
}

/* Adds (or reuses a free slot for) a peer. Loop thread. NULL when the table is full. */
static peer *add_peer(tr_transport *t, uint32_t id, const char *name, const char *addr,
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
        bytes_free(&p->q_ctrl);
        bytes_free(&p->q_data);
        memset(p, 0, sizeof *p);
        p->id = id;
        p->client = client;
        snprintf(p->name, sizeof p->name, "%s", name);
        snprintf(p->addr, sizeof p->addr, "%s", addr);
        p->incarnation = incarnation;
        tr_fd_init(&p->fd, &t->fdc, now_ms(t));
        p->reachable = !client; /* a member being dialled accepts sends (queued) */
        p->in_use = true;
    }
    pthread_mutex_unlock(&t->mu);
    return p;
}

/* Drops what is queued for p and sets whether sends are accepted. */
static void peer_set_reachable(tr_transport *t, peer *p, bool reachable) {
    pthread_mutex_lock(&t->mu);
    p->reachable = reachable;
    p->linked = p->active != NULL;
    if (!reachable) {
        if (p->q_count) {
            LOG(t, "warn", "event=queue_dropped peer=%s frames=%u bytes=%zu", p->name, p->q_count,
                p->q_data.len);
        }
        p->q_ctrl.len = p->q_data.len = 0;
        p->q_count = 0;
        bytes_trim(&p->q_data);
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- connections --------------------------------------------------------------------- */

static void conn_close(conn *c, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void flush_peer(tr_transport *t, peer *p);
static void note_activity(tr_transport *t);
static void maybe_finish_close(tr_transport *t);
static void on_link_down(tr_transport *t, peer *p, const char *why);

/* A dial for seed s or member p (either may be NULL) ended without a link: it is no longer
 * dialling, and if it failed, its next dial waits for the backoff delay. */
static void dial_done(tr_transport *t, seed *s, peer *p, bool failed) {
    if (s) {
        s->dialing = false;
        if (failed && !s->joined) {
            tr_fd_link_down(&s->fd, &t->fdc, now_ms(t), next_random(t));
        }
    }
    if (p) {
        p->dialing = false;
        if (failed && !p->active) {
            tr_fd_link_down(&p->fd, &t->fdc, now_ms(t), next_random(t));
        }
    }
}

static conn *conn_new(tr_transport *t, bool outbound) {
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    if (tr_frame_reader_init(&c->rd, t->frame_max)) {
        free(c);
        return NULL;
    }
    c->t = t;
    c->outbound = outbound;
    c->deadline_ms = now_ms(t) + t->handshake_timeout_ms;
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
    if (*pp) {
        *pp = c->next;
    }
    if (!c->authed) {
        t->pending_conns--;
    }
    tr_frame_reader_deinit(&c->rd);
    bytes_free(&c->w_ctrl);
    bytes_free(&c->w_data);
    free(c);
    t->open_handles--;
    maybe_finish_close(t);
}

static const char *conn_who(conn *c) {
    if (c->peer) {
        return c->peer->name;
    }
    if (c->hs.state >= TR_HS_WAIT_AUTH && c->hs.theirs.name[0]) {
        return c->hs.theirs.name;
    }
    return "?";
}

/* Closes c and logs why; a connection is closed once. */
static void conn_close(conn *c, const char *level, const char *fmt, ...) {
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
        conn_who(c), c->outbound ? "out" : "in", why);
    if (c->outbound && c->started && !c->authed && t->on_refused && !t->closing) {
        t->on_refused(t->ud, why); /* connected, then refused during the handshake */
    }
    dial_done(t, c->seed, c->dial_peer, true);
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
        on_link_down(t, p, why);
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
        conn_close(w->c, "info", "write failed: %s", uv_strerror(status));
    }
    free(w);
}

static int conn_write_raw(conn *c, const uint8_t *data, size_t len) {
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
        return translate_uv(rc);
    }
    return 0;
}

/* ---- outbound batches ---------------------------------------------------------------- */

static void on_batch_written(uv_write_t *req, int status) {
    conn *c = req->data;
    tr_transport *t = c->t;
    c->writing = false;
    c->w_ctrl.len = 0;
    c->w_data.len = 0;
    if (status < 0) {
        if (status != UV_ECANCELED) {
            conn_close(c, "info", "write failed: %s", uv_strerror(status));
        }
        return;
    }
    if (c->peer && c->peer->active == c) {
        note_activity(t);
        flush_peer(t, c->peer);
    }
}

/* Moves what is queued for p into its connection's batch and writes it (control lane
 * first). Loop thread. */
static void flush_peer(tr_transport *t, peer *p) {
    conn *c = p->active;
    if (!c || c->writing || c->closing) {
        return;
    }
    pthread_mutex_lock(&t->mu);
    if (p->q_ctrl.len == 0 && p->q_data.len == 0) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    bytes tmp = c->w_ctrl;
    c->w_ctrl = p->q_ctrl;
    p->q_ctrl = tmp;
    tmp = c->w_data;
    c->w_data = p->q_data;
    p->q_data = tmp;
    uint32_t frames = p->q_count;
    p->q_count = 0;
    t->stats.frames_out += frames;
    t->stats.bytes_out += c->w_ctrl.len + c->w_data.len;
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
    c->writing = true;
    c->write_started_ms = now_ms(t);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_batch_written);
    if (rc < 0) {
        c->writing = false;
        conn_close(c, "info", "write failed: %s", uv_strerror(rc));
    }
}

/* Queues a control frame (whole frame bytes) for p. Loop thread. */
static void queue_ctrl(tr_transport *t, peer *p, const uint8_t *frame, size_t len) {
    pthread_mutex_lock(&t->mu);
    if (p->q_ctrl.len + len <= CTRL_QUEUE_MAX && bytes_reserve(&p->q_ctrl, len) == 0) {
        memcpy(p->q_ctrl.p + p->q_ctrl.len, frame, len);
        p->q_ctrl.len += len;
    }
    pthread_mutex_unlock(&t->mu);
    flush_peer(t, p);
}

int tr_transport_send(tr_transport *t, uint32_t to, const uint8_t *payload, size_t len) {
    if (len == 0 || len > t->frame_max) {
        return len == 0 ? TR_EINVAL : TR_ETOOBIG;
    }
    pthread_mutex_lock(&t->mu);
    int rc = 0;
    peer *p = find_peer_locked(t, to);
    if (t->shut) {
        rc = TR_ECLOSED;
    } else if (!p || !p->reachable) {
        rc = TR_EUNREACH;
        t->stats.send_unreach++;
    } else if (p->q_count >= t->queue_count || p->q_data.len + 4 + len > t->queue_bytes) {
        rc = TR_EFULL;
        t->stats.send_full++;
    } else if ((rc = bytes_reserve(&p->q_data, 4 + len)) == 0) {
        uint8_t *dst = p->q_data.p + p->q_data.len;
        tr_store_be32(dst, (uint32_t)len);
        memcpy(dst + 4, payload, len);
        p->q_data.len += 4 + len;
        p->q_count++;
    }
    bool wake = rc == 0 && p->q_count == 1;
    pthread_mutex_unlock(&t->mu);
    /* Only the send that made the queue non-empty wakes the loop (uv_async_send coalesces;
     * the loop drains everything queued by then), and not even that one while the loop
     * spins: it flushes every queue on each turn, and re-checks them all after it stops
     * spinning (seq_cst on both sides, so one of the two sees the other). */
    if (wake && !atomic_load_explicit(&t->spinning, memory_order_seq_cst)) {
        uv_async_send(&t->async);
    }
    return rc;
}

/* Flushes every peer; true if anything was written. */
static bool flush_all(tr_transport *t) {
    bool any = false;
    for (size_t i = 0; i < t->peer_count; i++) {
        peer *p = t->peers[i];
        if (p->in_use && p->active && !p->active->writing) {
            flush_peer(t, p);
            any = any || p->active->writing;
        }
    }
    return any;
}

/* Activity (bytes in, a batch out): keep the loop spinning for spin_ns more, so that the
 * next message of a conversation is picked up without a sleep and a wake (15-20 us each
 * on a 2-vCPU VM), before parking in epoll_wait. */
static void on_spin(uv_idle_t *h);

static void note_activity(tr_transport *t) {
    if (t->spin_ns == 0 || t->closing) {
        return;
    }
    t->last_activity_ns = uv_hrtime();
    if (!atomic_load_explicit(&t->spinning, memory_order_relaxed)) {
        atomic_store_explicit(&t->spinning, true, memory_order_seq_cst);
        uv_idle_start(&t->spin, on_spin);
    }
}

static void on_spin(uv_idle_t *h) {
    tr_transport *t = h->data;
    if (flush_all(t)) {
        t->last_activity_ns = uv_hrtime();
        return;
    }
    if (uv_hrtime() - t->last_activity_ns < t->spin_ns) {
        return;
    }
    uv_idle_stop(&t->spin);
    atomic_store_explicit(&t->spinning, false, memory_order_seq_cst);
    flush_all(t); /* a sender that saw `spinning` did not wake us */
}

static void on_async(uv_async_t *a) {
    tr_transport *t = a->data;
    if (flush_all(t)) {
        note_activity(t);
    }
}

int tr_transport_node_by_name(tr_transport *t, const char *name, uint32_t *id_out) {
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

bool tr_transport_linked(tr_transport *t, uint32_t id) {
    pthread_mutex_lock(&t->mu);
    peer *p = find_peer_locked(t, id);
    bool up = p && p->linked;
    pthread_mutex_unlock(&t->mu);
    return up;
}

int tr_transport_port(const tr_transport *t) {
    return t->port;
}

void tr_transport_stats_get(tr_transport *t, tr_transport_stats *out) {
    pthread_mutex_lock(&t->mu);
    *out = t->stats;
    pthread_mutex_unlock(&t->mu);
}

/* ---- link up / down ------------------------------------------------------------------ */

static void on_link_down(tr_transport *t, peer *p, const char *why) {
    if (p->client) {
        /* A client's slot is freed: it has no address to come back to. */
        peer_set_reachable(t, p, false);
        pthread_mutex_lock(&t->mu);
        p->in_use = false;
        pthread_mutex_unlock(&t->mu);
        LOG(t, "info", "event=client_gone peer=%s id=%u", p->name, p->id);
        return;
    }
    int ev = tr_fd_link_down(&p->fd, &t->fdc, now_ms(t), next_random(t));
    /* While closing, nobody is told: the node is going away itself. */
    peer_set_reachable(t, p, false);
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
    uint32_t other = nw->hs.theirs.id;
    uint32_t old_init = old->outbound ? t->id : other;
    uint32_t new_init = nw->outbound ? t->id : other;
    if (old_init == new_init) {
        return true;
    }
    return new_init < old_init;
}

static void send_gossip_to(tr_transport *t, peer *p);

/* The handshake on c completed: attach it to its peer. */
static void on_authenticated(tr_transport *t, conn *c) {
    const tr_hello *h = &c->hs.theirs;
    if (c->seed) {
        c->seed->joined = true;
        c->seed->dialing = false;
        c->seed = NULL;
    }
    if (h->id == t->id) {
        conn_close(c, "info", "connected to ourselves");
        return;
    }
    bool client = (h->flags & TR_HELLO_CLIENT) != 0;
    peer *p = find_peer(t, h->id);
    if (p && strcmp(p->name, h->name)) {
        conn_close(c, "warn", "node id %u claimed by '%s' but known as '%s'", h->id, h->name,
                   p->name);
        return;
    }
    if (!p) {
        uint32_t dup;
        if (tr_transport_node_by_name(t, h->name, &dup) == 0) {
            conn_close(c, "warn", "node name '%s' already used by id %u", h->name, dup);
            return;
        }
        p = add_peer(t, h->id, h->name, client ? "" : h->listen, h->incarnation, client);
        if (!p) {
            conn_close(c, "warn", "peer table full");
            return;
        }
    } else if (!client && h->incarnation != p->incarnation) {
        p->incarnation = h->incarnation;
        snprintf(p->addr, sizeof p->addr, "%s", h->listen);
        p->addr_bad = false;
    }
    if (p->active) {
        if (!new_conn_wins(t, p->active, c)) {
            conn_close(c, "info", "duplicate connection (keeping the older one)");
            return;
        }
        conn *old = p->active;
        old->peer = NULL; /* not a link-down: c takes over */
        p->active = NULL;
        conn_close(old, "info", "duplicate connection (replaced)");
    }
    c->authed = true;
    t->pending_conns--;
    c->peer = p;
    p->active = c;
    if (c->dial_peer == p) {
        p->dialing = false;
    }
    int ev = tr_fd_link_up(&p->fd, &t->fdc, now_ms(t));
    pthread_mutex_lock(&t->mu);
    p->reachable = true;
    p->linked = true;
    pthread_mutex_unlock(&t->mu);
    LOG(t, "info", "event=link_up peer=%s id=%u remote=%s dir=%s%s", p->name, p->id, c->remote,
        c->outbound ? "out" : "in", p->client ? " client=1" : "");
    if (!p->client) {
        send_gossip_to(t, p);
        if (ev == TR_FD_UP && t->on_node) {
            t->on_node(t->ud, p->id, p->name, true);
        }
    }
    flush_peer(t, p);
}

/* ---- inbound frames ------------------------------------------------------------------ */

static void add_member_from_gossip(tr_transport *t, const tr_gossip_entry *e) {
    if (e->id == t->id) {
        return;
    }
    peer *p = find_peer(t, e->id);
    if (p) {
        if (!p->client && e->incarnation > p->incarnation && !p->active) {
            p->incarnation = e->incarnation;
            snprintf(p->addr, sizeof p->addr, "%s", e->addr);
            p->addr_bad = false;
        }
        return;
    }
    uint32_t dup;
    if (tr_transport_node_by_name(t, e->name, &dup) == 0) {
        return; /* a name clash: the handshake will refuse whichever dials */
    }
    if (add_peer(t, e->id, e->name, e->addr, e->incarnation, false)) {
        LOG(t, "info", "event=member_learned peer=%s id=%u addr=%s", e->name, e->id, e->addr);
    }
}

static int on_control(tr_transport *t, conn *c, int kind, const uint8_t *p, size_t len) {
    switch (kind) {
    case TR_FRAME_HEARTBEAT: {
        tr_mp_reader r;
        uint32_t n;
        uint64_t kind_v, seq;
        tr_mp_reader_init(&r, p, len);
        if (tr_mp_read_array(&r, &n) || n != 2 || tr_mp_read_uint(&r, &kind_v) ||
            tr_mp_read_uint(&r, &seq) || tr_mp_reader_done(&r)) {
            return TR_EPROTO;
        }
        return 0;
    }
    case TR_FRAME_GOSSIP: {
        tr_gossip_entry *entries = t->gossip_in;
        size_t n;
        if (tr_gossip_decode(p, len, entries, TR_MEMBERS_MAX, &n)) {
            return TR_EPROTO;
        }
        for (size_t i = 0; i < n; i++) {
            add_member_from_gossip(t, &entries[i]);
        }
        return 0;
    }
    case TR_FRAME_BYE: {
        tr_mp_reader r;
        uint32_t n;
        uint64_t kind_v;
        char why[128];
        tr_mp_reader_init(&r, p, len);
        if (tr_mp_read_array(&r, &n) || n != 2 || tr_mp_read_uint(&r, &kind_v) ||
            tr_mp_read_str_copy(&r, why, sizeof why) || tr_mp_reader_done(&r)) {
            return TR_EPROTO;
        }
        conn_close(c, "info", "peer said bye: %s", why);
        return 0;
    }
    default: return TR_EPROTO;
    }
}

/* ---- inbound back-pressure ------------------------------------------------------------
 * on_message returned TR_TRANSPORT_PAUSE: a local receiver is over its threshold. Reading
 * this connection stops (the peer's frames wait in its kernel buffers, then in its bounded
 * queue, where its senders get TR_EFULL) and t->resume polls t->backlogged every 1 ms,
 * doubling to RESUME_POLL_MAX_MS, until the receiver drained. Nothing is dropped: frames
 * already buffered in c->rd are handled on resume, in order. Heartbeats share the stream, so
 * a pause lasts at most pause_max_ms (a quarter of the smallest of down_ms, write_stall_ms
 * and heartbeat_ms + phi's acceptable pause): then reading resumes and at least one frame is
 * handled, which counts as hearing from the peer. */
#define RESUME_POLL_MAX_MS 50
#define PAUSE_LOG_EVERY_MS 1000

static void conn_process(conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_resume_timer(uv_timer_t *timer);

static void conn_pause(conn *c) {
    tr_transport *t = c->t;
    uint64_t now = now_ms(t);
    c->paused = true;
    c->paused_since_ms = now;
    t->paused_conns++;
    uv_read_stop((uv_stream_t *)&c->tcp);
    t->pause_unlogged++;
    if (now - t->pause_log_ms >= PAUSE_LOG_EVERY_MS) {
        LOG(t, "info", "event=read_paused peer=%s reason=receiver_backlogged pauses=%" PRIu64,
            conn_who(c), t->pause_unlogged);
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
    c->paused = false;
    t->paused_conns--;
    if (c->pause_logged) {
        LOG(t, "info", "event=read_resumed peer=%s reason=%s paused_ms=%" PRIu64, conn_who(c),
            forced ? "pause_cap" : "drained", now_ms(t) - c->paused_since_ms);
        c->pause_logged = false;
    }
    conn_process(c);
    if (!c->closing && !c->paused) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rc < 0) {
            conn_close(c, "warn", "read restart failed: %s", uv_strerror(rc));
        }
    }
}

static void on_resume_timer(uv_timer_t *timer) {
    tr_transport *t = timer->data;
    uint64_t now = now_ms(t);
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

/* One frame on an authenticated connection. Returns 0 or an error (the caller closes). */
static int on_frame(tr_transport *t, conn *c, const uint8_t *p, size_t len, char *why,
                    size_t why_cap) {
    uint32_t count;
    int kind = tr_frame_kind(p, len, &count);
    peer *pr = c->peer;
    int ev = tr_fd_heard(&pr->fd, now_ms(t), kind == TR_FRAME_HEARTBEAT);
    if (ev == TR_FD_UP) {
        LOG(t, "info", "event=node_alive_again peer=%s", pr->name);
    }
    if (kind == TR_FRAME_ENVELOPE) {
        int rc = t->on_message(t->ud, pr->id, p, len);
        if (rc == TR_TRANSPORT_PAUSE) {
            conn_pause(c); /* the frame was taken; stop before the next one */
            return 0;
        }
        if (rc) {
            snprintf(why, why_cap, "bad envelope (%zu bytes): %s", len, tr_strerror(rc));
        }
        return rc;
    }
    if (kind < 0 || on_control(t, c, kind, p, len)) {
        snprintf(why, why_cap, "malformed or unknown frame (kind %d, %zu bytes)", kind, len);
        return TR_EPROTO;
    }
    return 0;
}

/* One frame before authentication: the handshake sees it. */
static void on_handshake_frame(tr_transport *t, conn *c, const uint8_t *p, size_t len) {
    uint8_t out[TR_HS_OUT_MAX];
    size_t n;
    int rc = tr_handshake_step(&c->hs, p, len, out, sizeof out, &n);
    if (n > 0 && conn_write_raw(c, out, n)) {
        conn_close(c, "warn", "handshake write failed");
        return;
    }
    if (rc < 0) {
        pthread_mutex_lock(&t->mu);
        t->stats.conns_refused++;
        pthread_mutex_unlock(&t->mu);
        conn_close(c, "warn", "handshake failed: %s", c->hs.reason);
        return;
    }
    if (rc == 1) {
        on_authenticated(t, c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    conn *c = h->data;
    uint8_t *dst;
    size_t avail;
    if (tr_frame_reader_space(&c->rd, &dst, &avail)) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = (char *)dst;
    buf->len = avail;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    conn *c = s->data;
    tr_transport *t = c->t;
    if (nread == UV_ENOBUFS) {
        conn_close(c, "warn", "out of memory for the read buffer");
        return;
    }
    if (nread < 0) {
        conn_close(c, "info", "%s",
                   nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
        return;
    }
    tr_frame_reader_commit(&c->rd, (size_t)nread);
    if (c->authed) {
        note_activity(t);
    }
    pthread_mutex_lock(&t->mu);
    t->stats.bytes_in += (uint64_t)nread;
    pthread_mutex_unlock(&t->mu);
    conn_process(c);
}

/* Handles the frames buffered in c->rd, until they run out, c closes or c pauses. */
static void conn_process(conn *c) {
    tr_transport *t = c->t;
    const uint8_t *p;
    size_t len = 0;
    int rc = 0;
    uint64_t frames = 0;
    while (!c->closing && !c->paused && (rc = tr_frame_reader_next(&c->rd, &p, &len)) == 1) {
        frames++;
        if (!c->authed) {
            on_handshake_frame(t, c, p, len);
            continue;
        }
        char why[160];
        if (on_frame(t, c, p, len, why, sizeof why)) {
            conn_close(c, "warn", "%s", why);
        }
    }
    pthread_mutex_lock(&t->mu);
    t->stats.frames_in += frames;
    pthread_mutex_unlock(&t->mu);
    if (c->closing) {
        return;
    }
    if (rc == TR_ETOOBIG) {
        conn_close(c, "warn", "frame length %zu over limit %u", len, t->frame_max);
    } else if (rc < 0) {
        conn_close(c, "warn", "zero-length frame");
    }
}

/* ---- starting connections ------------------------------------------------------------ */

static void conn_start(conn *c) {
    tr_transport *t = c->t;
    c->started = true;
    format_peer_addr(&c->tcp, c->remote, sizeof c->remote);
    uv_tcp_nodelay(&c->tcp, 1);
    tr_hello mine;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.cluster, sizeof mine.cluster, "%s", t->cluster);
    snprintf(mine.name, sizeof mine.name, "%s", t->name);
    snprintf(mine.listen, sizeof mine.listen, "%s", t->listen_addr);
    mine.id = t->id;
    mine.flags = t->client ? TR_HELLO_CLIENT : 0;
    mine.incarnation = t->incarnation;
    uint8_t out[TR_HS_OUT_MAX];
    size_t n;
    if (tr_handshake_start(&c->hs, c->outbound, &mine, t->secret, t->secret_len, out, sizeof out,
                           &n)) {
        conn_close(c, "error", "handshake start failed: %s", c->hs.reason);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        conn_close(c, "warn", "read start failed: %s", uv_strerror(rc));
        return;
    }
    if (n > 0 && conn_write_raw(c, out, n)) {
        conn_close(c, "warn", "handshake write failed");
    }
}

static void on_connection(uv_stream_t *server, int status) {
    tr_transport *t = server->data;
    if (status < 0 || t->closing) {
        return;
    }
    bool full = t->pending_conns >= PENDING_CONNS_MAX;
    conn *c = conn_new(t, false);
    if (!c) {
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c, "warn", "accept failed");
        return;
    }
    if (full) {
        format_peer_addr(&c->tcp, c->remote, sizeof c->remote);
        conn_close(c, "warn", "too many connections in handshake (%d)", PENDING_CONNS_MAX);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->stats.conns_accepted++;
    pthread_mutex_unlock(&t->mu);
    conn_start(c);
}

static void connect_to(tr_transport *t, const char *addr, const sockaddr_any *alts, int n, int i,
                       seed *s, peer *p);

static void sockaddr_name(const sockaddr_any *a, char *out, size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa.sa_family == AF_INET) {
        uv_ip4_name(&a->in4, ip, sizeof ip);
        snprintf(out, cap, "%s:%d", ip, ntohs(a->in4.sin_port));
    } else {
        uv_ip6_name(&a->in6, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%d", ip, ntohs(a->in6.sin6_port));
    }
}

static void on_connected(uv_connect_t *req, int status) {
    conn *c = req->data;
    tr_transport *t = c->t;
    if (c->closing) {
        return;
    }
    if (status >= 0) {
        conn_start(c);
        return;
    }
    char ip[TR_ADDR_STR_MAX + 1];
    sockaddr_name(&c->alts[c->alt_i], ip, sizeof ip);
    if (c->alt_i + 1 < c->alt_n && !t->draining) {
        /* A name with several addresses: try the next one before backing off. The dial
         * moves to a new connection (a failed handle cannot connect again). */
        seed *s = c->seed;
        peer *p = c->dial_peer;
        c->seed = NULL;
        c->dial_peer = NULL;
        conn_close(c, "debug", "connect to %s failed: %s (trying the next address)", ip,
                   uv_strerror(status));
        connect_to(t, c->remote, c->alts, c->alt_n, c->alt_i + 1, s, p);
        return;
    }
    conn_close(c, "debug", "connect to %s failed: %s", ip, uv_strerror(status));
}

/* Connects to alts[i] (alts[i+1..n) are the fallbacks) for a seed or a member. */
static void connect_to(tr_transport *t, const char *addr, const sockaddr_any *alts, int n, int i,
                       seed *s, peer *p) {
    assert(n > 0 && n <= DIAL_ADDRS_MAX && i < n);
    conn *c = conn_new(t, true);
    if (!c) {
        dial_done(t, s, p, true);
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
        conn_close(c, "debug", "connect failed: %s", uv_strerror(rc));
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    resolve *r = req->data;
    tr_transport *t = r->t;
    resolve **pp = &t->resolves;
    while (*pp != r) {
        pp = &(*pp)->next;
    }
    *pp = r->next;
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
        maybe_finish_close(t); /* cancelled (UV_ECANCELED) or finished too late: unused */
        return;
    }
    const char *err = status < 0 ? uv_strerror(status) : n == 0 ? "no IPv4 or IPv6 address" : NULL;
    if (err) {
        LOG(t, "warn", "event=resolve_failed addr=%s for=%s error=\"%s\"", addr,
            p ? p->name : "seed", err);
        pthread_mutex_lock(&t->mu);
        t->stats.resolve_failures++;
        pthread_mutex_unlock(&t->mu);
        dial_done(t, s, p, true);
        if (t->on_unresolved) {
            t->on_unresolved(t->ud, addr, err);
        }
        return;
    }
    if (t->draining || (p && p->active)) { /* or the member dialled us meanwhile */
        dial_done(t, s, p, false);
        return;
    }
    char first[TR_ADDR_STR_MAX + 1];
    sockaddr_name(&alts[0], first, sizeof first);
    LOG(t, "debug", "event=resolved addr=%s first=%s addresses=%d", addr, first, n);
    connect_to(t, addr, alts, n, 0, s, p);
}

/* Starts resolving hp's host name for a dial of addr; the loop thread never waits for it. */
static void resolve_start(tr_transport *t, const char *addr, const hostport *hp, seed *s, peer *p) {
    resolve *r = calloc(1, sizeof *r);
    if (!r) {
        dial_done(t, s, p, true);
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
        dial_done(t, s, p, true);
        return;
    }
    r->next = t->resolves;
    t->resolves = r;
    t->resolving++;
}

/* Dials addr for a seed or a member: a numeric address is connected to at once, a host
 * name is resolved first (asynchronously). Either way the seed or member counts as
 * dialling until the dial ends. */
static void dial(tr_transport *t, const char *addr, seed *s, peer *p) {
    hostport hp;
    const char *why = parse_hostport(addr, false, &hp);
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

/* ---- the periodic tick: deadlines, heartbeats, gossip, failure detection, dials ------- */

static void send_gossip_to(tr_transport *t, peer *to) {
    tr_gossip_entry *e = t->gossip;
    uint8_t *frame = t->gossip_frame;
    size_t n = 0;
    if (!t->client && t->listen_addr[0]) {
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
    long len = tr_gossip_encode(e, n, frame, sizeof t->gossip_frame);
    assert(len > 0);
    queue_ctrl(t, to, frame, (size_t)len);
}

static void send_heartbeat_to(tr_transport *t, peer *p) {
    uint8_t frame[32];
    tr_mp_writer w;
    tr_frame_begin(&w, frame, sizeof frame);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, TR_FRAME_HEARTBEAT);
    tr_mp_write_uint(&w, t->hb_seq);
    long len = tr_frame_end(&w);
    assert(len > 0);
    queue_ctrl(t, p, frame, (size_t)len);
}

static void tick_conns(tr_transport *t, uint64_t now) {
    for (conn *c = t->conns; c; c = c->next) {
        if (c->closing) {
            continue;
        }
        if (!c->authed && now >= c->deadline_ms) {
            conn_close(c, "warn", "handshake timeout after %u ms", t->handshake_timeout_ms);
        } else if (c->authed && c->writing && now - c->write_started_ms >= t->write_stall_ms) {
            conn_close(c, "warn", "peer not reading: %zu bytes unwritten for %llu ms",
                       c->w_ctrl.len + c->w_data.len,
                       (unsigned long long)(now - c->write_started_ms));
        }
    }
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
            int ev = p->client ? TR_FD_SAME : tr_fd_tick(&p->fd, &t->fdc, now);
            if (ev == TR_FD_DOWN) {
                conn_close(p->active, "warn", "no frame for %llu ms (failure detector, phi %.1f)",
                           (unsigned long long)(now - p->fd.last_heard_ms),
                           tr_fd_phi(&p->fd, &t->fdc, now));
                continue;
            }
            if (ev == TR_FD_SUSPECT) {
                LOG(t, "warn", "event=node_suspect peer=%s silent_ms=%llu phi=%.1f", p->name,
                    (unsigned long long)(now - p->fd.last_heard_ms),
                    tr_fd_phi(&p->fd, &t->fdc, now));
            }
            if (beat) {
                send_heartbeat_to(t, p);
            }
            if (gossip && !p->client) {
                send_gossip_to(t, p);
            }
        } else if (!p->client && !p->dialing && !p->addr_bad && p->addr[0] && !t->client &&
                   !t->draining && tr_fd_should_dial(&p->fd, now)) {
            dial(t, p->addr, NULL, p);
        }
    }
}

static void tick_seeds(tr_transport *t, uint64_t now) {
    for (size_t i = 0; i < t->seed_count; i++) {
        seed *s = &t->seeds[i];
        if (!s->joined && !s->dialing && !t->draining && tr_fd_should_dial(&s->fd, now)) {
            dial(t, s->addr, s, NULL);
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
            idle = p->q_data.len == 0 && p->q_ctrl.len == 0 && !p->active->writing;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return idle;
}

static long bye_frame(uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr_frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, TR_FRAME_BYE);
    tr_mp_write_str(&w, "shutdown", 8);
    return tr_frame_end(&w);
}

static void on_shutdown_done(uv_shutdown_t *req, int status) {
    conn *c = req->data;
    if (status < 0 && status != UV_ECANCELED) {
        conn_close(c, "info", "shutdown failed: %s", uv_strerror(status));
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
    long n = bye_frame(bye, sizeof bye);
    for (conn *c = t->conns; c; c = c->next) {
        if (c->closing) {
            continue;
        }
        if (!c->authed) {
            conn_close(c, "info", "transport closing");
            continue;
        }
        c->sreq.data = c;
        int rc = conn_write_raw(c, bye, (size_t)n);
        if (rc == 0) {
            rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown_done);
        }
        if (rc < 0) {
            conn_close(c, "info", "transport closing (no graceful shutdown: %d)", rc);
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

static void on_tick(uv_timer_t *timer) {
    tr_transport *t = timer->data;
    if (t->closing) {
        return;
    }
    uint64_t now = now_ms(t);
    flush_all(t); /* backstop for any wake lost to a race */
    if (t->draining && !t->saying_bye && (all_written(t) || now >= t->drain_deadline_ms)) {
        if (!all_written(t)) {
            LOG(t, "warn", "event=drain_timeout");
        }
        say_bye(t, now);
        return;
    }
    if (t->saying_bye) {
        if (!any_authed(t) || now >= t->drain_deadline_ms) {
            tr_transport_close(t, t->done, t->done_arg);
        }
        return;
    }
    tick_conns(t, now);
    tick_peers(t, now);
    tick_seeds(t, now);
}

/* ---- create / close ------------------------------------------------------------------ */

static int apply_config(tr_transport *t, const tr_transport_config *cfg) {
    if (!cfg->node_name || !cfg->node_name[0] || strlen(cfg->node_name) > TR_NAME_MAX ||
        cfg->node_id == 0 || !cfg->secret || cfg->secret_len < TR_SECRET_MIN ||
        cfg->secret_len > sizeof t->secret || !cfg->on_message) {
        return TR_EINVAL;
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
        const char *why = parse_hostport(cfg->advertise, false, &hp);
        if (why) {
            LOG(t, "error", "event=bad_address what=advertise addr=\"%s\" reason=\"%s\"",
                cfg->advertise, why);
            return TR_EINVAL;
        }
        snprintf(t->listen_addr, sizeof t->listen_addr, "%s", cfg->advertise);
    }
    t->id = cfg->node_id;
    t->client = cfg->client;
    memcpy(t->secret, cfg->secret, cfg->secret_len);
    t->secret_len = cfg->secret_len;
    t->frame_max = cfg->frame_max ? cfg->frame_max : TR_FRAME_MAX_DEFAULT;
    if (t->frame_max < TR_FRAME_MIN_LIMIT || t->frame_max > TR_FRAME_MAX_CEILING) {
        return TR_EINVAL;
    }
    t->queue_bytes = cfg->queue_bytes ? cfg->queue_bytes : 4u << 20;
    t->queue_count = cfg->queue_count ? cfg->queue_count : 65536;
    if (t->queue_bytes < t->frame_max + 4) {
        t->queue_bytes = t->frame_max + 4; /* a maximal frame must fit */
    }
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
    if (tr_fd_config_check(&t->fdc)) {
        LOG(t, "error",
            "event=bad_config reason=\"phi thresholds: need 0 < suspect (%g) <= "
            "down (%g) <= %g\"",
            t->fdc.phi_suspect, t->fdc.phi_down, TR_FD_PHI_MAX);
        return TR_EINVAL;
    }
    t->on_message = cfg->on_message;
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
    t->spin_ns = (uint64_t)(cfg->spin_us == 0 ? 50 : cfg->spin_us < 0 ? 0 : cfg->spin_us) * 1000;
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
            const char *why = parse_hostport(sd->addr, false, &hp);
            if (why) {
                LOG(t, "error", "event=bad_address what=seeds addr=\"%s\" reason=\"%s\"", sd->addr,
                    why);
                return TR_EINVAL;
            }
            tr_fd_init(&sd->fd, &t->fdc, now_ms(t));
        }
        s += n + (end ? 1 : 0);
    }
    return 0;
}

/* The listen address: a name is resolved here, once and synchronously (start-up may wait
 * for DNS; the loop is not serving anyone yet), and the first address is bound. */
static int listen_sockaddr(tr_transport *t, const char *listen, struct sockaddr_storage *ss) {
    hostport hp;
    const char *why = parse_hostport(listen, true, &hp);
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
    if (!t->listen_addr[0] && is_wildcard((const struct sockaddr *)&ss)) {
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
        return translate_uv(rc);
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
        bytes_free(&t->peers[i]->q_ctrl);
        bytes_free(&t->peers[i]->q_data);
        free(t->peers[i]);
    }
    pthread_mutex_destroy(&t->mu);

    memset(t->secret, 0, sizeof t->secret);
    free(t);
}

static void on_handle_closed(uv_handle_t *h) {
    tr_transport *t = h->data;
    t->open_handles--;
    maybe_finish_close(t);
}

static void maybe_finish_close(tr_transport *t) {
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

int tr_transport_create(uv_loop_t *loop, const tr_transport_config *cfg, tr_transport **out) {
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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->incarnation = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uv_async_init(loop, &t->async, on_async);
    t->async.data = t;
    uv_timer_init(loop, &t->tick);
    t->tick.data = t;
    uv_idle_init(loop, &t->spin);
    t->spin.data = t;
    uv_timer_init(loop, &t->resume);
    t->resume.data = t;
    t->open_handles += 4;
    if (cfg->listen && cfg->listen[0]) {
        rc = start_listen(t, cfg->listen);
        if (rc) {
            tr_transport_close(t, NULL, NULL);
            return rc;
        }
    }
    uint32_t period = t->heartbeat_ms / 2 < 20 ? 20 : t->heartbeat_ms / 2;
    if (period > 100) {
        period = 100; /* deadlines (handshake, stall) are checked at least this often */
    }
    uv_timer_start(&t->tick, on_tick, 0, period);
    LOG(t, "info", "event=transport_started id=%u cluster=%s listen=%s seeds=%zu%s", t->id,
        t->cluster, t->listen_addr[0] ? t->listen_addr : "-", t->seed_count,
        t->client ? " client=1" : "");
    *out = t;
    return 0;
}

void tr_transport_drain(tr_transport *t, uint32_t timeout_ms, void (*done)(void *arg), void *arg) {
    assert(!t->closing && !t->draining);
    pthread_mutex_lock(&t->mu);
    t->shut = true;
    pthread_mutex_unlock(&t->mu);
    t->draining = true;
    t->drain_deadline_ms = now_ms(t) + timeout_ms;
    t->done = done;
    t->done_arg = arg;
    flush_all(t);
    uv_timer_start(&t->tick, on_tick, 5, 5); /* check often: a drain is usually short */
}

void tr_transport_close(tr_transport *t, void (*done)(void *arg), void *arg) {
    assert(!t->closing);
    pthread_mutex_lock(&t->mu);
    t->shut = true;
    pthread_mutex_unlock(&t->mu);
    t->closing = true;
    t->done = done;
    t->done_arg = arg;
    uint8_t bye[64];
    long n = bye_frame(bye, sizeof bye);
    for (conn *c = t->conns; c; c = c->next) {
        if (c->authed && !c->closing && !c->writing && !t->saying_bye) {
            /* Best effort and never blocking: uv_close would cancel a queued write. */
            uv_buf_t b = uv_buf_init((char *)bye, (unsigned)n);
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        }
        conn_close(c, "info", "transport closing");
    }
    /* A resolution still queued is cancelled (its callback gets UV_ECANCELED); one already
     * running on the thread pool cannot be: its callback comes when getaddrinfo returns.
     * Either way t is freed only after the last callback (t->resolving). */
    for (resolve *r = t->resolves; r; r = r->next) {
        (void)uv_cancel((uv_req_t *)&r->req);
    }
    uv_timer_stop(&t->tick);
    uv_close((uv_handle_t *)&t->tick, on_handle_closed);
    uv_timer_stop(&t->resume);
    uv_close((uv_handle_t *)&t->resume, on_handle_closed);
    uv_close((uv_handle_t *)&t->async, on_handle_closed);
    uv_close((uv_handle_t *)&t->spin, on_handle_closed);
    atomic_store_explicit(&t->spinning, false, memory_order_seq_cst);
    if (t->listening) {
        uv_close((uv_handle_t *)&t->listener, on_handle_closed);
    }
}
