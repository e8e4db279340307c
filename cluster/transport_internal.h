/*
 * transport_internal.h — the state the transport's modules share (transport.h is the
 * contract for its users; this header is for cluster/{conn,peer,outbound,inbound,dial,
 * transport}.c only).
 *
 * The transport is one object (struct tr_transport) on one libuv loop, split by concern:
 *   conn.c      a TCP connection: created, started (handshake), closed once, raw writes;
 *   peer.c      the peer table, a completed handshake attached to its peer, link down;
 *   outbound.c  per-peer queues (control lane + data lane), batches written with writev,
 *               the cross-thread wake and the spin after activity;
 *   inbound.c   reading, frames dispatched, control frames, back-pressure pauses;
 *   dial.c      dials of seeds and members: resolution, connects, fallback addresses;
 *   transport.c configuration, listening, the periodic tick, drain and close, the TLS
 *               context and its reload on SIGHUP.
 * With mutual TLS configured, each connection's bytes pass through its session (tls.h,
 * which shares none of this state): conn.c, inbound.c and outbound.c test c->tls.
 *
 * Threading: fields marked [mu] are shared with sender threads under t->mu; everything
 * else belongs to the loop thread. Every function declared by the modules' headers runs
 * on the loop thread unless it says otherwise.
 * Memory bounds: PEERS_MAX peers, SEEDS_MAX seeds, PENDING_CONNS_MAX connections in their
 * handshake, per peer a data queue of at most queue_bytes / queue_count and a control
 * queue of at most CTRL_QUEUE_MAX bytes, plus one batch of each being written.
 */
#ifndef TR_CLUSTER_TRANSPORT_INTERNAL_H
#define TR_CLUSTER_TRANSPORT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cluster/address.h"
#include "cluster/log.h"
#include "cluster/tls.h"
#include "cluster/transport.h"
#include "proto/frame.h"
#include "proto/handshake.h"
#include "proto/link.h"
#include "proto/membership.h"
#include "proto/outq.h"
#include "runtime/assert.h"
#include "runtime/spin.h"

#define PEERS_MAX 1024
#define SEEDS_MAX 32
#define CTRL_QUEUE_MAX (256u << 10) /* control lane bound: heartbeats and gossip */
#define PENDING_CONNS_MAX 256       /* accepted connections in their handshake; a newcomer evicts */
#define DIAL_ADDRS_MAX 4            /* resolved addresses of one name tried in turn */

typedef tr_outq_buf bytes; /* proto/outq.h */

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
    /* what its connections carried, for metrics (tr__transport_members) */
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    /* [mu] */
    bool reachable; /* sends are accepted (queued) */
    bool linked;    /* authenticated link up (a copy of fd.linked for other threads) */
    bool in_use;    /* the slot holds a peer (client slots are freed on disconnect) */
    tr_outq q;      /* control and data lanes, bounded by t->qlim (proto/outq.h) */
};

/* A seed address, dialled until a handshake through it succeeds once. */
typedef struct seed {
    char addr[TR_ADDR_STR_MAX + 1];
    bool joined;  /* a handshake through it succeeded: never dialled again */
    bool dialing; /* being resolved or connected to */
    tr_fd fd;
} seed;

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
    uint64_t deadline_ms;      /* handshake deadline (also its age: every one gets the same) */
    uint64_t last_envelope_ms; /* a client's last envelope, or its authentication */
    uint64_t partial_since_ms; /* the incomplete frame in the reader began; 0 = none */
    tr_proto_link link;        /* the protocol state of the connection: frame reader, handshake */
    /* reading stopped because a receiver is backlogged (TR_TRANSPORT_PAUSE) */
    bool paused;
    bool pause_logged; /* this pause got a log line: so does its end */
    uint64_t paused_since_ms;
    /* the batch being written */
    bool writing;
    uint64_t write_started_ms;
    uint64_t sync_turn; /* the loop turn of its last batch written at once (t->turn) */
    uv_write_t wreq;
    bytes w_ctrl, w_data;
    uv_connect_t creq;
    uv_shutdown_t sreq;
    /* mutual TLS (tls.h); tls NULL: plaintext, and nothing below is used */
    tr__tls *tls;
    bool tls_up;                              /* the TLS handshake is done: frames flow */
    bytes w_tls;                              /* the batch being written, encrypted */
    uint8_t tls_secret[TR__TLS_EXPORTER_LEN]; /* the handshake's MAC key without a secret */
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
    tr__spin spinner;      /* the spin's adaptive budget, at most spin_ns (loop thread) */
    _Atomic bool spinning; /* senders skip the async wake while the loop spins */
    uv_prepare_t flusher;  /* each turn before the poll: flushes the loop thread's sends */
    bool loop_sent;        /* a frame waits for the next turn's flush */
    uint64_t turn;         /* loop turns, counted by the flusher: one batch per turn */
    _Atomic uint64_t writes_at_once; /* written by the loop thread only */
    _Atomic uint64_t wakes;          /* senders' uv_async_send calls */
    char cluster[TR_CLUSTER_NAME_MAX + 1];
    char name[TR_NAME_MAX + 1];
    char listen_addr[TR_ADDR_STR_MAX + 1];
    uint32_t id;
    bool client;
    int pending_conns; /* connections not yet authenticated */
    uint64_t incarnation;
    uint8_t secret[256];
    size_t secret_len;    /* 0: none (TLS only; each connection's exported key stands in) */
    tr__tls_ctx *tls_ctx; /* NULL: plaintext; replaced on SIGHUP (transport.c) */
    char *tls_files[3];   /* cert, key, CA paths (owned) for the reload */
    uv_signal_t tls_hup;
    bool tls_watching; /* tls_hup is open (counted in open_handles) */
    uint32_t frame_max, queue_bytes, queue_count;
    tr_outq_limits qlim; /* queue_bytes, queue_count and CTRL_QUEUE_MAX as the queues' bounds */
    uint32_t handshake_timeout_ms, heartbeat_ms, write_stall_ms, gossip_ms;
    tr_fd_config fdc;
    int (*on_message)(void *, uint32_t, const uint8_t *, size_t);
    int (*on_client_message)(void *, uint32_t, const uint8_t *, size_t);
    uint32_t client_idle_ms, client_frame_ms;
    uint64_t preauth_log_ms;           /* last event=preauth_pressure line */
    tr_transport_stats preauth_logged; /* the counts it reported */
    bool (*backlogged)(void *, uint32_t);
    void (*on_refused)(void *, const char *);
    void (*on_unresolved)(void *, const char *, const char *, bool);
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

#define LOG(t, level, ...)                                \
    do {                                                  \
        if (tr__log_rank(level) >= (t)->log_level) {      \
            tr__log_write(level, (t)->name, __VA_ARGS__); \
        }                                                 \
    } while (0)

/* The loop's clock (ms, monotonic, cached per loop turn): every timeout is measured on it. */
static inline uint64_t transport_now_ms(tr_transport *t) {
    return uv_now(t->loop);
}

static inline uint64_t transport_random(tr_transport *t) {
    /* xorshift64*: jitter only, seeded from the clock and pid; never for security. */
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline int transport_translate_uv(int rc) {
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

/* Adds one to a counter of t->stats (under t->mu: stats are read from any thread). */
static inline void transport_count(tr_transport *t, uint64_t *counter) {
    pthread_mutex_lock(&t->mu);
    (*counter)++;
    pthread_mutex_unlock(&t->mu);
}

/* Byte buffers: the queues and the batches being written. */

static inline int bytes_reserve(bytes *b, size_t more) {
    return tr__outq_buf_reserve(b, more);
}

static inline void bytes_free(bytes *b) {
    tr__outq_buf_free(b);
}

/* The invariant walker: checks, with TR_ASSERT, the counts and links of every connection,
 * resolution and peer, and that every peer's queues are within their bounds and hold whole
 * frames that their counts agree with. Returns true (for TR_DEBUG_ASSERT). Loop thread,
 * not closing; takes t->mu. The periodic tick runs it in debug builds. transport.c. */
bool tr__transport_check(tr_transport *t);

/* Frees t once it is closing and its last handle and resolution are gone; then calls the
 * close callback. transport.c. */
void tr__transport_finish_close(tr_transport *t);

#endif
