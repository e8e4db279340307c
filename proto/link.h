/*
 * link.h — one end of a cluster connection as a state machine: bytes in, frames and events
 * out, no sockets and no clock.
 *
 * What: a link owns the connection's frame reader and handshake. The engine that drives it
 * (cluster/ over libuv, sim/ over simulated byte streams) puts the bytes it read into the
 * link (tr__proto_link_space + _commit), then calls tr__proto_link_next until it answers
 * TR_LINK_NEED_BYTES, acting on each event and writing link->out[0..out_len) (handshake
 * replies) before anything else. The rules of the protocol live here, so both engines obey
 * the same ones:
 *   1. before the handshake is done only HELLO and AUTH frames are looked at; anything else
 *      fails the handshake;
 *   2. after it, a frame is an envelope (kind 1, handed over unparsed) or a control frame
 *      of the exact schema of docs/wire-protocol.md; anything else is TR_LINK_ERROR;
 *   3. membership is learned from members only: a client's (TR_HELLO_CLIENT) GOSSIP frame
 *      is checked like any other and its entries are dropped (gossip_count 0; a client's
 *      transport does send its server one, so it is not an error);
 *   4. a zero-length frame or one over the limit is TR_LINK_ERROR before any buffer grows;
 *      the limit is TR_FRAME_PREAUTH_MAX (proto/frame.h) until the handshake is done, so an
 *      unauthenticated peer never makes the link buffer more than that, then frame_max.
 * After TR_LINK_ERROR or TR_LINK_BYE the link must not be fed again (the caller closes).
 * Ownership: the link owns its reader buffer (tr__proto_link_deinit frees it); event
 * payloads are borrowed, valid until the next call on the link. The gossip entries of a
 * TR_LINK_GOSSIP event live in the caller's array given at init (borrowed, outlives the
 * link; TR_MEMBERS_MAX entries).
 * Threading: none; a link belongs to one thread.
 */
#ifndef TR_PROTO_LINK_H
#define TR_PROTO_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"
#include "proto/handshake.h"
#include "proto/membership.h"

typedef enum tr_link_event_kind {
    TR_LINK_NEED_BYTES = 0, /* every whole frame was handled */
    TR_LINK_AUTHENTICATED,  /* the handshake completed: link->hs.theirs is the peer */
    TR_LINK_ENVELOPE,       /* ev->payload[0..len): a user message (runtime/codec.h) */
    TR_LINK_HEARTBEAT,      /* ev->seq */
    TR_LINK_GOSSIP,         /* ev->gossip[0..gossip_count) */
    TR_LINK_BYE,            /* the peer is leaving: ev->reason */
    TR_LINK_ERROR,          /* link->reason says why; the caller closes */
    TR_LINK_WRITE           /* nothing but l->out to write (a handshake step); call again */
} tr_link_event_kind;

typedef struct tr_link_event {
    tr_link_event_kind kind;
    const uint8_t *payload; /* borrowed, see above */
    size_t len;
    uint64_t seq;
    const tr_gossip_entry *gossip; /* borrowed: the array given at init */
    size_t gossip_count;
    char reason[128];
} tr_link_event;

typedef struct tr_proto_link {
    tr_handshake hs;
    tr_frame_reader rd;
    bool handshake_done;        /* TR_LINK_AUTHENTICATED was returned */
    bool dead;                  /* TR_LINK_ERROR or TR_LINK_BYE was returned */
    bool client;                /* the peer's HELLO carried TR_HELLO_CLIENT */
    uint32_t frame_max;         /* the reader's limit once authenticated */
    tr_gossip_entry *gossip_in; /* borrowed: TR_MEMBERS_MAX entries */
    uint8_t out[TR_HS_OUT_MAX]; /* bytes to write before anything else */
    size_t out_len;
    char reason[160]; /* why TR_LINK_ERROR */
} tr_proto_link;

/* Prepares a link (its reader allocates lazily). 0 or TR_ENOMEM. */
int tr__proto_link_init(tr_proto_link *l, uint32_t frame_max, tr_gossip_entry *gossip_in);
void tr__proto_link_deinit(tr_proto_link *l);
/* Starts the handshake with `mine` and a fresh nonce: from the OS (nonce NULL, a real node)
 * or the caller's (a simulation draws it from a seeded stream). An initiator's HELLO is then
 * in l->out. 0 or TR_EIO. */
int tr__proto_link_start(tr_proto_link *l, bool initiator, const tr_hello *mine,
                         const uint8_t *secret, size_t secret_len,
                         const uint8_t nonce[TR_NONCE_LEN]);
/* Where bytes read from the connection go, and how many arrived (see tr_frame_reader). */
int tr__proto_link_space(tr_proto_link *l, uint8_t **out, size_t *avail);
void tr__proto_link_commit(tr_proto_link *l, size_t n);
/* Copies n bytes in (space + commit, as often as needed). 0 or TR_ENOMEM. */
int tr__proto_link_feed(tr_proto_link *l, const uint8_t *p, size_t n);
/* The next event; l->out is cleared first, then holds what this step must write. Also
 * returns the kind. */
tr_link_event_kind tr__proto_link_next(tr_proto_link *l, tr_link_event *ev);

/* Whole control frames (length prefix included); the size or TR_ETOOBIG. */
long tr__proto_heartbeat_frame(uint64_t seq, uint8_t *buf, size_t cap);
long tr__proto_bye_frame(const char *why, uint8_t *buf, size_t cap);
/* A REASON frame [21, code, text] (text cut to TR_REASON_TEXT_MAX bytes), length prefix
 * included: its size, or a negative TR_E code when cap is too small. */
long tr__proto_reason_frame(uint32_t code, const char *text, uint8_t *buf, size_t cap);
/* The 4-byte length prefix of an envelope frame of `len` payload bytes. */
void tr__proto_envelope_prefix(size_t len, uint8_t out[4]);

/* Identity rules once a handshake completed (both engines apply them): a peer may not be
 * this node, nor claim an id the node knows under another name, nor a name another id
 * uses. known_name: the name known for h->id (NULL: none); name_owner: the id that uses
 * h->name already (0: none). 0, or TR_EINVAL with why[0..cap) set. */
int tr__proto_admit(const tr_hello *h, uint32_t self_id, const char *known_name,
                    uint32_t name_owner, char *why, size_t cap);

#endif
