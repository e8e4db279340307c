/*
 * outq.h — the outbound queues of one peer: a control lane and a data lane of whole frames,
 * each bounded, and the batch that takes them to the connection. No I/O, no locking.
 *
 * What: the data lane holds envelope frames (a 4-byte length, then the payload) queued by
 * senders; a push over lim->data_bytes or lim->data_count is TR_EFULL, so a slow or absent
 * peer costs its senders an error, never unbounded memory (back-pressure). The control
 * lane holds heartbeats and gossip, at most lim->ctrl_bytes: a control frame that does not
 * fit is dropped (the next tick sends a fresh one). A driver writes the control lane first,
 * so heartbeats never wait behind a flood of user frames.
 * Invariants (tr__outq_check): count == 0 iff the data lane is empty; both lanes within
 * their bounds; the data lane is exactly `count` whole frames of 1..frame_max payload bytes.
 * Ownership: a queue owns its buffers (tr__outq_deinit frees them); tr__outq_take hands
 * them to the caller in exchange for the caller's empty ones.
 * Threading: none; the cluster's transport calls it under its peer-table mutex.
 */
#ifndef TR_PROTO_OUTQ_H
#define TR_PROTO_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

typedef struct tr_outq_buf {
    uint8_t *p; /* owned */
    size_t len, cap;
} tr_outq_buf;

typedef struct tr_outq_limits {
    size_t ctrl_bytes;
    size_t data_bytes;
    uint32_t data_count;
} tr_outq_limits;

typedef struct tr_outq {
    tr_outq_buf ctrl, data;
    uint32_t count; /* frames in the data lane */
} tr_outq;

/* Buffers: room for `more` bytes after len (TR_ENOMEM); free; free a big empty one. */
int tr__outq_buf_reserve(tr_outq_buf *b, size_t more);
void tr__outq_buf_free(tr_outq_buf *b);
void tr__outq_buf_trim(tr_outq_buf *b);

/* Queues an envelope frame of `len` payload bytes (1..frame_max, checked by the caller).
 * 0, TR_EFULL (a bound would be passed; nothing queued) or TR_ENOMEM. */
int tr__outq_push_data(tr_outq *q, const tr_outq_limits *lim, const uint8_t *payload, size_t len);
/* Queues a whole control frame; false if it did not fit (dropped). */
bool tr__outq_push_ctrl(tr_outq *q, const tr_outq_limits *lim, const uint8_t *frame, size_t len);
/* Drops everything queued (the link went down); returns the data frames dropped. */
uint32_t tr__outq_clear(tr_outq *q);
/* Exchanges both lanes with the caller's empty buffers (a batch to write); returns the data
 * frames taken. */
uint32_t tr__outq_take(tr_outq *q, tr_outq_buf *ctrl, tr_outq_buf *data);
void tr__outq_deinit(tr_outq *q);

/* The number of whole frames in b (length prefix, then 1..payload_max bytes each, nothing
 * after the last), or -1 if b is not such a sequence. */
long tr__outq_frames(const tr_outq_buf *b, uint32_t payload_max);
/* The invariants above; true (for TR_DEBUG_ASSERT), asserting each. */
bool tr__outq_check(const tr_outq *q, const tr_outq_limits *lim, uint32_t frame_max);

#endif
