/* outq.c — a peer's bounded outbound queues (see outq.h). */
#include "proto/outq.h"

#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "runtime/assert.h"

int tr__outq_buf_reserve(tr_outq_buf *b, size_t more) {
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

void tr__outq_buf_free(tr_outq_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Keeps big buffers from pinning memory after a burst. */
void tr__outq_buf_trim(tr_outq_buf *b) {
    if (b->len == 0 && b->cap > (1u << 20)) {
        tr__outq_buf_free(b);
    }
}

int tr__outq_push_data(tr_outq *q, const tr_outq_limits *lim, const uint8_t *payload, size_t len) {
    TR_ASSERT(len >= 1 && len <= UINT32_MAX);
    if (q->count >= lim->data_count || q->data.len + 4 + len > lim->data_bytes) {
        return TR_EFULL;
    }
    int rc = tr__outq_buf_reserve(&q->data, 4 + len);
    if (rc) {
        return rc;
    }
    uint8_t *dst = q->data.p + q->data.len;
    tr_store_be32(dst, (uint32_t)len);
    memcpy(dst + 4, payload, len);
    q->data.len += 4 + len;
    q->count++;
    /* The frame as the reader will cut it; the lane within its bounds. */
    TR_ASSERT(tr_load_be32(dst) == len);
    TR_ASSERT(q->count <= lim->data_count && q->data.len <= lim->data_bytes);
    return 0;
}

bool tr__outq_push_ctrl(tr_outq *q, const tr_outq_limits *lim, const uint8_t *frame, size_t len) {
    /* A whole frame: its length prefix is its payload's length (tr__frame_end). */
    TR_ASSERT(len > 4 && tr_load_be32(frame) == len - 4);
    if (q->ctrl.len + len > lim->ctrl_bytes || tr__outq_buf_reserve(&q->ctrl, len) != 0) {
        return false;
    }
    memcpy(q->ctrl.p + q->ctrl.len, frame, len);
    q->ctrl.len += len;
    return true;
}

uint32_t tr__outq_clear(tr_outq *q) {
    uint32_t dropped = q->count;
    q->ctrl.len = q->data.len = 0;
    q->count = 0;
    tr__outq_buf_trim(&q->data);
    return dropped;
}

uint32_t tr__outq_take(tr_outq *q, tr_outq_buf *ctrl, tr_outq_buf *data) {
    TR_ASSERT(ctrl->len == 0 && data->len == 0);
    TR_ASSERT((q->count == 0) == (q->data.len == 0));
    tr_outq_buf tmp = *ctrl;
    *ctrl = q->ctrl;
    q->ctrl = tmp;
    tmp = *data;
    *data = q->data;
    q->data = tmp;
    uint32_t frames = q->count;
    q->count = 0;
    return frames;
}

void tr__outq_deinit(tr_outq *q) {
    tr__outq_buf_free(&q->ctrl);
    tr__outq_buf_free(&q->data);
    q->count = 0;
}

long tr__outq_frames(const tr_outq_buf *b, uint32_t payload_max) {
    long frames = 0;
    size_t off = 0;
    while (b->len - off >= 4) {
        uint32_t n = tr_load_be32(b->p + off);
        if (n == 0 || n > payload_max || b->len - off - 4 < n) {
            return -1;
        }
        off += 4 + (size_t)n;
        frames++;
    }
    return off == b->len ? frames : -1;
}

bool tr__outq_check(const tr_outq *q, const tr_outq_limits *lim, uint32_t frame_max) {
    TR_ASSERT((q->count == 0) == (q->data.len == 0));
    TR_ASSERT(q->count <= lim->data_count && q->data.len <= lim->data_bytes);
    TR_ASSERT(q->ctrl.len <= lim->ctrl_bytes);
    TR_ASSERT(tr__outq_frames(&q->data, frame_max) == q->count);
    TR_ASSERT(tr__outq_frames(&q->ctrl, TR_FRAME_MAX_CEILING) >= 0);
    return true;
}
