/*
 * frame.h — the byte level of the cluster wire protocol (docs/wire-protocol.md).
 *
 * What: (1) the frame reader, which cuts a TCP byte stream into frames of a 4-byte
 * big-endian length followed by that many payload bytes; (2) the framing of the control
 * frames the transport itself speaks (HELLO, AUTH, HEARTBEAT, GOSSIP, BYE), whose payloads
 * are written and read with the msgpack writer and reader of runtime/mp.h (troupe.h,
 * "Message bodies"). User messages (kind 1) are envelopes encoded by runtime/codec.h and are
 * never parsed here beyond their first two bytes.
 *
 * Control frames have a fixed, flat schema; reading them with that reader, which checks
 * every length against the bytes left, means no allocation, no recursion, and no way for a
 * hostile header ("array of 4 billion") to cost anything. Their integers are read with
 * tr_mp_read_uint, which takes the unsigned forms only: the transport writes no other.
 *
 * Invariants of the frame reader:
 *   - a frame length of 0 or above frame_max is refused (TR_EPROTO / TR_ETOOBIG) before a
 *     single byte of buffer is grown for it;
 *   - the buffer never holds more than max(chunk, frame_max + 4) bytes, and nothing is
 *     allocated before the first byte is read; a connection's reader starts with the
 *     handshake's bounds (TR_FRAME_PREAUTH_MAX, a chunk of that size), raised once the peer
 *     authenticated (tr__frame_reader_set_limit), so an unauthenticated peer costs at most
 *     TR_FRAME_PREAUTH_MAX + 4 bytes of buffer;
 *   - a payload pointer from tr__frame_reader_next is valid until the next call to
 *     tr__frame_reader_space (which may compact or move the buffer).
 * Threading: none; each reader belongs to one connection on the I/O thread.
 */
#ifndef TR_PROTO_FRAME_H
#define TR_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/mp.h"
#include "troupe.h"

#define TR_FRAME_MAX_DEFAULT (1u << 20)  /* 1 MiB payload */
#define TR_FRAME_MAX_CEILING (64u << 20) /* a configured limit may not exceed this */
#define TR_FRAME_MIN_LIMIT 4096u         /* nor go below this (handshake/gossip fit) */
#define TR_FRAME_READ_CHUNK (64u << 10)
#define TR_FRAME_PREAUTH_MAX 4096u /* the limit before authentication: HELLO and AUTH fit */

/* Frame kinds: the first element of every payload's top-level msgpack array. */
enum {
    TR_FRAME_ENVELOPE = 1, /* a user message: runtime/codec.h, whose first field is 1 */
    TR_FRAME_HELLO = 16,
    TR_FRAME_AUTH = 17,
    TR_FRAME_HEARTBEAT = 18,
    TR_FRAME_GOSSIP = 19,
    TR_FRAME_BYE = 20,
    TR_FRAME_REASON = 21 /* the last frame before a close for an error: [21, code, text] */
};

/* ---- frame reader ---- */
typedef struct tr_frame_reader {
    uint8_t *buf; /* owned */
    size_t cap;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last received byte */
    uint32_t frame_max;
    uint32_t chunk; /* the buffer's size while no bigger frame is being read */
} tr_frame_reader;

/* A reader with limit frame_max and TR_FRAME_READ_CHUNK as its chunk; allocates nothing
 * yet. Always 0. */
int tr__frame_reader_init(tr_frame_reader *r, uint32_t frame_max);
void tr__frame_reader_deinit(tr_frame_reader *r);
/* Sets the limit and the chunk (5..TR_FRAME_READ_CHUNK). Once the buffer exists they may
 * only grow (the handshake's bounds raised to the connection's); the buffer follows at the
 * next tr__frame_reader_space. */
void tr__frame_reader_set_limit(tr_frame_reader *r, uint32_t frame_max, uint32_t chunk);
/* Bytes received and not yet handed out as whole frames (a partial frame, or frames the
 * caller has not taken yet). */
static inline size_t tr__frame_reader_buffered(const tr_frame_reader *r) {
    return r->end - r->start;
}
/* Where the next bytes from the socket go: *out, *avail >= 1. Invalidates earlier payload
 * pointers. TR_ENOMEM. */
int tr__frame_reader_space(tr_frame_reader *r, uint8_t **out, size_t *avail);
/* n bytes were written at the place tr__frame_reader_space returned. */
void tr__frame_reader_commit(tr_frame_reader *r, size_t n);
/* 1 = a whole frame: *payload and *len (borrowed, see above); 0 = need more bytes;
 * TR_ETOOBIG = announced length over frame_max (*len = that length);
 * TR_EPROTO = zero length. After an error the reader must not be used again. */
int tr__frame_reader_next(tr_frame_reader *r, const uint8_t **payload, size_t *len);

/* Builds one whole frame in buf: 4-byte length, then the payload written by the caller
 * between tr__frame_begin and tr__frame_end. tr__frame_end returns the frame size or a
 * negative TR_E code. */
void tr__frame_begin(tr_mp_writer *w, uint8_t *buf, size_t cap);
long tr__frame_end(tr_mp_writer *w);

/* The kind of a payload: reads the top-level array header and its first element (a
 * positive fixint). Returns the kind (>= 1) and *count = array length, or TR_EPROTO. */
int tr__frame_kind(const uint8_t *payload, size_t len, uint32_t *count);

/* REASON codes (docs/wire-protocol.md, section 5). Before authentication only
 * TR_REASON_HANDSHAKE is sent, with an empty text. */
enum {
    TR_REASON_PROTOCOL = 1,     /* a malformed or unknown frame, a bad envelope */
    TR_REASON_HANDSHAKE = 2,    /* the handshake failed (the text is always empty) */
    TR_REASON_ROLE = 3,         /* a client sent what only members may send */
    TR_REASON_MISADDRESSED = 4, /* an envelope's to.node is not the receiver */
    TR_REASON_CODE_MAX = 127
};
#define TR_REASON_TEXT_MAX 120 /* bytes of text in a REASON frame, at most */

#endif
