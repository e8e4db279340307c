/*
 * transport.h — the TCP transport between real nodes (libuv): connections, the handshake,
 * per-peer outbound queues with batched writes, heartbeats, gossip, reconnects.
 *
 * What: one tr_transport per process, living on one libuv loop (the real engine's I/O
 * thread, or a loop of its own in `troupe call` and in tests). It knows nothing of actors:
 * it carries opaque payloads of kind 1 (envelopes, runtime/codec.h) between authenticated
 * peers and reports peers going up and down. cluster/cluster.c plugs it into the runtime.
 * Its implementation is split by concern into modules that share transport_internal.h
 * (which lists them).
 *
 * Invariants:
 *   - one authenticated connection per peer (node id); when two race, both sides keep the
 *     one initiated by the lower node id (or, from the same initiator, the newer);
 *   - nothing from a connection is acted on before its handshake completes; a connection
 *     that has not completed it within handshake_timeout_ms is closed; before it, a frame
 *     over TR_FRAME_PREAUTH_MAX closes the connection, so an unauthenticated peer costs at
 *     most that much buffer;
 *   - at most PENDING_CONNS_MAX accepted connections are in their handshake: a newcomer
 *     beyond that makes room by evicting one of them (the oldest that has not sent a whole
 *     HELLO, else the oldest), so a flood of idle connections cannot lock peers out;
 *   - roles: a client (HELLO flag) may send envelopes, heartbeats and BYE only; its GOSSIP
 *     closes the connection, and its envelopes go through on_client_message (which refuses
 *     what a client may not send). A client that sends no envelope for client_idle_ms, or
 *     leaves a frame incomplete for client_frame_ms, is closed;
 *   - every connection error (bad frame, bad MAC, over-limit length, stalled writes,
 *     silence) closes only that connection, with one log line saying why;
 *   - memory per peer is bounded: the queue holds at most queue_bytes bytes and
 *     queue_count frames waiting, plus one batch of at most as much being written.
 * Ownership: payloads passed to tr__transport_send are copied. Callbacks get borrowed
 * payloads valid during the call only.
 * Addresses: "host:port" strings of at most TR_ADDR_STR_MAX (63) bytes, the host an IPv4
 * literal, an IPv6 literal in brackets ("[::1]:7401") or a host name ("db-2.internal:7401").
 * Their syntax is checked at creation (a typo fails then, with a log line saying why). A
 * name is resolved each time it is dialled (seeds, members' addresses from HELLO and gossip),
 * asynchronously on libuv's thread pool (uv_getaddrinfo, AF_UNSPEC), so a slow resolver
 * never stalls the loop (heartbeats go on); the results are tried in getaddrinfo's order.
 * While resolving, the seed or member counts as being dialled; a failed resolution is logged
 * (event=resolve_failed) and retried with the reconnect backoff, like a failed connect.
 * Only a malformed address (from a peer's HELLO or gossip) is never dialled. The listen
 * address is resolved once, synchronously, at creation. Closing cancels the resolutions in
 * flight and completes only after their callbacks ran (one already inside getaddrinfo
 * delays the close until it returns: the resolver's own timeout bounds that).
 * Threading: tr__transport_send and tr__transport_node_by_name may be called from any
 * thread; everything else, and every callback, runs on the loop's thread.
 */
#ifndef TR_CLUSTER_TRANSPORT_H
#define TR_CLUSTER_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/address.h"
#include "cluster/log.h"
#include "troupe.h"

struct uv_loop_s;
typedef struct tr_transport tr_transport;

/* on_message's "taken, now stop reading this peer" (see below). */
#define TR_TRANSPORT_PAUSE 1
/* on_message's refusals: the connection is closed with this reason and it is counted. */
#define TR_TRANSPORT_MISADDRESSED 2   /* the envelope's to.node is not this node */
#define TR_TRANSPORT_CLIENT_REFUSED 3 /* a client sent what only a member may send */

typedef struct tr_transport_config {
    const char *cluster;   /* copied; default "troupe" */
    const char *node_name; /* copied; required */
    uint32_t node_id;      /* required, != 0 */
    const char *listen;    /* "host:port" to accept on (port 0 = any; a name is resolved at
                              once and its first address bound); NULL = accept nothing */
    const char *advertise; /* "host:port" peers dial to reach us (HELLO, gossip); NULL = the
                              listen address (as given: a name stays a name) with its real
                              port (required when listening on a wildcard such as 0.0.0.0
                              or [::]) */
    const char *seeds;     /* "host:port,host:port" (at most 32) to dial at start; NULL = none */
    const uint8_t *secret; /* copied; at least TR_SECRET_MIN bytes; NULL / 0 with TLS only */
    size_t secret_len;
    bool client;                   /* a client (troupe call): announced as such, never gossiped */
    uint32_t frame_max;            /* payload limit; 0 = 1 MiB */
    uint32_t queue_bytes;          /* per-peer outbound bound; 0 = 4 MiB */
    uint32_t queue_count;          /* per-peer outbound bound; 0 = 65536 frames */
    uint32_t handshake_timeout_ms; /* 0 = 5000 */
    uint32_t heartbeat_ms;         /* 0 = 500 */
    uint32_t down_ms;              /* hard bound: silence before DOWN; 0 = 3000 */
    double phi_suspect;            /* phi accrual (membership.h): SUSPECT at phi >= this; */
    double phi_down;               /* DOWN at phi >= this; 0 = 5 and 8. phi_down INFINITY:
                                      only down_ms declares DOWN (for a client that must
                                      outwait a slow reply, as troupe call) */
    uint32_t write_stall_ms;       /* a batch unwritten this long closes the link; 0 = 5000 */
    uint32_t backoff_min_ms;       /* 0 = 100 */
    uint32_t backoff_max_ms;       /* 0 = 5000 */
    int32_t spin_us; /* after I/O activity the loop polls without sleeping up to this long
                        before parking (saves a wake per message in a conversation; an
                        adaptive budget, runtime/spin.h); 0 = 50, negative = never spin */
    /* A kind-1 frame (an envelope) from authenticated peer `from`. Loop thread. Returns 0,
     * or an error (a malformed envelope): the connection is then closed with a log line;
     * or TR_TRANSPORT_PAUSE: taken, but its receiver is backlogged: reading from this
     * connection stops until backlogged(ud, from) returns false, polled every 1 ms doubling
     * to 50 ms. A pause lasts at most a quarter of min(down_ms, write_stall_ms,
     * 3 x heartbeat_ms) (the last: the phi detector's heartbeat + acceptable pause): then at
     * least one more frame is read (frames count as heartbeats), so a backlog alone never
     * makes either side declare the other down. Buffered frames are kept, never dropped. */
    int (*on_message)(void *ud, uint32_t from, const uint8_t *payload, size_t len);
    /* The same for an envelope from a client (a peer whose HELLO has TR_HELLO_CLIENT), which
     * may also answer TR_TRANSPORT_CLIENT_REFUSED. NULL = on_message. */
    int (*on_client_message)(void *ud, uint32_t from, const uint8_t *payload, size_t len);
    /* A client that sends no envelope for client_idle_ms is closed (0 = 60000); one that
     * leaves a frame incomplete for client_frame_ms is closed (0 = 10000). */
    uint32_t client_idle_ms;
    uint32_t client_frame_ms;
    /* Is the receiver that made peer `from` pause still backlogged? Loop thread. May be
     * NULL (then a pause ends at the first poll). */
    bool (*backlogged)(void *ud, uint32_t from);
    /* An outbound connection was refused or dropped during its handshake (why = the reason
     * logged). Loop thread. May be NULL. For clients that want to give up at once. */
    void (*on_refused)(void *ud, const char *why);
    /* A dialled seed (addr = the "host:port" dialled) did not resolve (connect false; error =
     * the resolver's message) or refused the connection on every address (connect true;
     * error = the last connect error). Loop thread. May be NULL. For clients that want to
     * give up at once (the transport itself retries with backoff). */
    void (*on_unresolved)(void *ud, const char *addr, const char *error, bool connect);
    /* Which log lines are printed: 0 = info and up (default), 1 = all (debug too),
     * 2 = info and up, 3 = warnings and errors only. */
    int log_level;
    /* A cluster member (never a client) went up or down. Loop thread. May be NULL. */
    void (*on_node)(void *ud, uint32_t id, const char *name, bool up);
    void *ud;
    /* Mutual TLS (tls.h, docs/tls.md): PEM paths (copied), all three or none (NULL = plain
     * TCP). Every connection then runs TLS 1.3 first, both ends' certificates verified
     * against tls_ca, and protocol 2 inside it; a peer whose HELLO names another node than
     * its certificate's CN is refused. Without a secret, each connection's TLS exported key
     * is the handshake's MAC key. A node (not a client) reloads the three files on SIGHUP
     * for new connections (a file that does not load keeps the old ones, logged). */
    const char *tls_cert, *tls_key, *tls_ca;
} tr_transport_config;

/* Creates the transport on `loop` (call on the loop's thread): binds the listener (an error
 * such as TR_EBUSY / TR_EINVAL is returned at once) and starts dialing the seeds.
 * Side effect: SIGPIPE is set to ignored if it had its default action (a peer resetting a
 * connection must not kill the process). */
int tr__transport_create(struct uv_loop_s *loop, const tr_transport_config *cfg,
                         tr_transport **out);
/* Queues one payload (copied) for node `to`. Any thread. 0, or: TR_EUNREACH (unknown node,
 * or down), TR_EFULL (its queue is at its bound), TR_ETOOBIG (over frame_max), TR_ECLOSED
 * (the transport is closing). Never blocks on the network. */
int tr__transport_send(tr_transport *t, uint32_t to, const uint8_t *payload, size_t len);
/* Name -> id of a known member (or of a connected client). Any thread. TR_ENOENT. */
int tr__transport_node_by_name(tr_transport *t, const char *name, uint32_t *id_out);
/* Id -> name (copied into name_out, cap bytes) of a known member or connected client. Any
 * thread. TR_ENOENT. */
int tr__transport_peer_name(tr_transport *t, uint32_t id, char *name_out, size_t cap);
/* Is node `id` currently linked and authenticated? Any thread. */
bool tr__transport_linked(tr_transport *t, uint32_t id);
/* The bound port of the listener (0 if none). */
int tr__transport_port(const tr_transport *t);
/* Refuses new sends (TR_ECLOSED), lets what is queued be written for at most timeout_ms
 * (heartbeats go on; a peer may still be read), then does tr__transport_close(done, arg). */
void tr__transport_drain(tr_transport *t, uint32_t timeout_ms, void (*done)(void *arg), void *arg);
/* Says BYE to every peer, closes every handle; `done(arg)` runs on the loop thread once
 * all are closed, after which t is freed. Sends fail with TR_ECLOSED from now on. */
void tr__transport_close(tr_transport *t, void (*done)(void *arg), void *arg);

typedef struct tr_transport_stats {
    uint64_t frames_in, frames_out, bytes_in, bytes_out, writes;
    uint64_t conns_accepted;
    uint64_t conns_refused; /* failed their handshake (bad frame, oversized, bad MAC...), or
                               accepted while every handshake slot held an outbound dial */
    uint64_t send_full, send_unreach;
    uint64_t resolves;               /* host name resolutions started (dials of a name) */
    uint64_t resolve_failures;       /* of those, the ones that failed (not the cancelled ones) */
    uint64_t conns_evicted;          /* closed in their handshake to make room for a newcomer */
    uint64_t handshake_timeouts;     /* closed for not finishing the handshake in time */
    uint64_t clients_refused;        /* clients closed for a member's frame or message */
    uint64_t envelopes_misaddressed; /* envelopes whose to.node was not this node */
    uint64_t clients_idle;           /* clients closed after client_idle_ms without one */
    uint64_t clients_frame_stalled;  /* clients closed with a frame left incomplete */
    uint64_t writes_at_once;         /* of `writes`, the batches the socket took at once */
    uint64_t wakes;                  /* loop wake-ups by senders on other threads */
} tr_transport_stats;
void tr__transport_stats_get(tr_transport *t, tr_transport_stats *out);

/* A cluster member as this node's failure detector sees it (clients are not listed). */
typedef struct tr_transport_member {
    uint32_t id;
    char name[TR_NAME_MAX + 1];
    char addr[TR_ADDR_STR_MAX + 1];
    uint8_t status; /* tr_member_status (proto/membership.h) */
    bool linked;    /* an authenticated connection is up */
    double phi;     /* the phi-accrual suspicion now (0 when not linked) */
    uint64_t frames_in, frames_out, bytes_in, bytes_out; /* over all its connections */
} tr_transport_member;
/* Copies up to cap members into out; returns how many. Loop thread. */
int tr__transport_members(tr_transport *t, tr_transport_member *out, size_t cap);

#endif
