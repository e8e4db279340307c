/*
 * codec.h — the wire form of an envelope (hand-written msgpack: no msgpack-c at run time, its
 * bytes exactly), used where a message leaves its node: onto TCP (cluster/) and onto a
 * simulated link (sim/), so the simulator exercises the same codec.
 *
 * Envelope (protocol version 2) = msgpack array of 12:
 *   [1 (the frame kind), type u32, from_node u32, from_actor u64, to_node u32, to_actor u64,
 *    corr u64, trace nil|bin(25), deadline_ms u32, flags u32, to_name str|nil, body bin]
 * (the kind counts). trace: nil, or the trace id (16 bytes), the parent span id (8) and the
 * W3C flags (1), the id never all zero. deadline_ms: the time left on the sender's clock when
 * it encoded the envelope (0 = none; a deadline already passed goes as 1): the receiver adds
 * its own clock's now (tr_msg.deadline_). flags: bit 0 = reply to a tr_request (runtime/internal.h); other
 * bits are never sent and are ignored on receipt. to_name is set when the sender addressed a
 * name ("inventory@n2") and the receiving node resolves it.
 *
 * Decoding is hostile-input safe and allocates nothing but the message: the fields are read
 * with a bounds-checked reader (troupe.h's tr_mp_reader), which refuses any header announcing
 * more elements or bytes than remain, and the message is allocated only once the whole
 * envelope has been read. The exact layout tr__envelope_encode writes takes a fast path;
 * everything else goes through the general reader. A buffer the reader refuses is then
 * checked by tr__msgpack_check (nesting deeper than TR_MSGPACK_DEPTH_MAX, truncated or
 * overlong headers), whose verdict on malformed bytes is the error code (TR_EPROTO); only a
 * well-formed buffer can get the reader's own answer (TR_EVERSION for another version).
 */
#ifndef TR_CODEC_H
#define TR_CODEC_H

#include "troupe.h"

#define TR_MSGPACK_DEPTH_MAX 32
#define TR_ENVELOPE_OVERHEAD_MAX (96 + TR_NAME_MAX)

/* Validates that buf[0..len) holds exactly one well-formed msgpack object (trailing bytes
 * are an error) within the depth limit. 0 or TR_EPROTO / TR_ETOOBIG. */
int tr__msgpack_check(const uint8_t *buf, size_t len, uint32_t depth_max);
/* Same, but for a prefix: *used = bytes of the first object. TR_EAGAIN if incomplete. */
int tr__msgpack_check_prefix(const uint8_t *buf, size_t len, uint32_t depth_max, size_t *used);

/* `clock` (borrowed; NULL: a clock standing at 0) is the node whose clock turns the
 * message's absolute deadline into the time left and back; it is read only for a message that
 * has a deadline. */
/* Bytes needed to encode msg now (exact with the same clock reading; the time left only
 * shrinks, so it stays an upper bound on a clock that moves on). */
size_t tr__envelope_size(const tr_msg *msg, const char *to_name, const tr_node *clock);
/* Encodes into buf[0..cap); *len = bytes written. TR_ETOOBIG if cap is too small. */
int tr__envelope_encode(const tr_msg *msg, const char *to_name, const tr_node *clock, uint8_t *buf,
                        size_t cap, size_t *len);
/* Decodes one envelope occupying all of buf[0..len). *out is owned (tr__pool_release);
 * name_out (TR_NAME_MAX + 1 bytes) gets to_name or "". TR_EPROTO on malformed input,
 * TR_EVERSION on an unknown version. */
int tr__envelope_decode(const uint8_t *buf, size_t len, const tr_node *clock, tr_msg **out,
                        char *name_out);
/* Tests only: tr__envelope_decode without its fast path for the layout tr__envelope_encode
 * writes, i.e. the general reader alone: the reference the fast path must agree with. */
int tr__envelope_decode_general(const uint8_t *buf, size_t len, const tr_node *clock, tr_msg **out,
                                char *name_out);

#endif
