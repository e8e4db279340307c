/*
 * handshake.h — the connection handshake: versions, names, mutual authentication.
 *
 * What: a pure state machine (no sockets, no clock) driven by the transport with the
 * payloads of the frames it reads; it returns the frames to write. Nothing but HELLO and
 * AUTH frames is accepted until it reports done, so no user message, heartbeat or gossip
 * from an unauthenticated peer is ever looked at.
 *
 * Protocol (docs/wire-protocol.md has the bytes):
 *   initiator -> acceptor  HELLO  [16, proto, cluster, name, id, flags, listen, incarnation,
 *                                  nonce_i(32 bytes)]
 *   acceptor  -> initiator HELLO  (same layout, its own values, nonce_a)
 *   initiator -> acceptor  AUTH   [17, HMAC-SHA256(secret, transcript("I"))]
 *   acceptor  -> initiator AUTH   [17, HMAC-SHA256(secret, transcript("A"))]
 * transcript(role) = "troupe-auth-v1" || role || lp(cluster) || lp(name_i) || be32(id_i) ||
 *                    lp(name_a) || be32(id_a) || nonce_i || nonce_a, lp(x) = be32(len) || x.
 * Both nonces are fresh (RAND_bytes) per connection and both names are bound, so a MAC
 * cannot be replayed on another connection nor reflected back (the role byte differs).
 * The acceptor checks the initiator's MAC before proving anything itself, so a peer
 * without the secret learns nothing but a HELLO. MACs are compared in constant time.
 *
 * Threading: none (one handshake per connection, on the I/O thread).
 */
#ifndef TR_PROTO_HANDSHAKE_H
#define TR_PROTO_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR_PROTO_VERSION 2
#define TR_NONCE_LEN 32
#define TR_MAC_LEN 32
#define TR_CLUSTER_NAME_MAX 63
#define TR_ADDR_STR_MAX 63
#define TR_SECRET_MIN 16   /* bytes; shorter secrets are refused at configuration */
#define TR_HELLO_CLIENT 1u /* flag: a client (troupe call), not a member; never dialled */

typedef struct tr_hello {
    uint32_t proto;
    uint32_t id;
    uint32_t flags;
    uint64_t incarnation; /* changes on every start of the node: tells restarts apart */
    char cluster[TR_CLUSTER_NAME_MAX + 1];
    char name[TR_NAME_MAX + 1];
    char listen[TR_ADDR_STR_MAX + 1]; /* "host:port" the node accepts on, "" for clients */
    uint8_t nonce[TR_NONCE_LEN];
} tr_hello;

/* Whole frames (length prefix included) into buf; returns the size or TR_ETOOBIG. */
long tr__handshake_hello_encode(const tr_hello *h, uint8_t *buf, size_t cap);
long tr__handshake_auth_encode(const uint8_t mac[TR_MAC_LEN], uint8_t *buf, size_t cap);
/* Parse payloads (without the length prefix). TR_EPROTO on any deviation from the schema. */
int tr__handshake_hello_decode(const uint8_t *payload, size_t len, tr_hello *out);
int tr__handshake_auth_decode(const uint8_t *payload, size_t len, uint8_t mac[TR_MAC_LEN]);

/* mac = HMAC-SHA256(secret, transcript(role)) as above; role 'I' or 'A'. 0 or TR_EIO. */
int tr__handshake_mac(const uint8_t *secret, size_t secret_len, char role,
                      const tr_hello *initiator, const tr_hello *acceptor, uint8_t mac[TR_MAC_LEN]);
/* Fills a fresh nonce from the OS CSPRNG. 0 or TR_EIO. */
int tr__handshake_nonce(uint8_t nonce[TR_NONCE_LEN]);

enum {
    TR_HS_WAIT_HELLO,
    TR_HS_WAIT_AUTH,
    TR_HS_DONE,
    TR_HS_FAILED
};

typedef struct tr_handshake {
    bool initiator;
    int state;
    tr_hello mine;         /* our HELLO (nonce filled by tr__handshake_start) */
    tr_hello theirs;       /* valid once their HELLO arrived */
    const uint8_t *secret; /* borrowed; outlives the handshake */
    size_t secret_len;
    char reason[96]; /* why it failed, for the log line */
} tr_handshake;

#define TR_HS_OUT_MAX 512 /* bytes a single step may ask to write */

/* Starts a handshake; `mine` is copied and gets a fresh nonce. An initiator gets its HELLO
 * frame in out[0..*out_len); an acceptor gets *out_len = 0. 0 or TR_EIO. */
int tr__handshake_start(tr_handshake *hs, bool initiator, const tr_hello *mine,
                        const uint8_t *secret, size_t secret_len, uint8_t *out, size_t cap,
                        size_t *out_len);
/* The same with the caller's nonce (NULL: from the OS). A simulation draws it from a seeded
 * stream so that a run replays; a real node always uses the OS's. */
int tr__handshake_start_nonce(tr_handshake *hs, bool initiator, const tr_hello *mine,
                              const uint8_t *secret, size_t secret_len,
                              const uint8_t nonce[TR_NONCE_LEN], uint8_t *out, size_t cap,
                              size_t *out_len);
/* Feeds one frame payload. Returns 0 (continue), 1 (authenticated: hs->theirs is the peer),
 * or a negative code with hs->reason set: TR_EPROTO (unexpected or malformed frame),
 * TR_EVERSION (protocol version), TR_EINVAL (other cluster), TR_EAUTH (bad MAC). In every
 * case out[0..*out_len) is to be written before anything else (possibly nothing). */
int tr__handshake_step(tr_handshake *hs, const uint8_t *payload, size_t len, uint8_t *out,
                       size_t cap, size_t *out_len);

#endif
