/* frame.c — frame reader and the control frames' msgpack subset (see frame.h). */
#include "proto/frame.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"

/* ---- frame reader ---------------------------------------------------------------- */

int tr__frame_reader_init(tr_frame_reader *r, uint32_t frame_max) {
    TR_ASSERT(frame_max >= TR_FRAME_MIN_LIMIT && frame_max <= TR_FRAME_MAX_CEILING);
    memset(r, 0, sizeof *r);
    r->frame_max = frame_max;
    r->chunk = TR_FRAME_READ_CHUNK;
    return 0; /* the buffer comes with the first bytes (tr__frame_reader_space) */
}

void tr__frame_reader_set_limit(tr_frame_reader *r, uint32_t frame_max, uint32_t chunk) {
    TR_ASSERT(frame_max >= 1 && frame_max <= TR_FRAME_MAX_CEILING);
    TR_ASSERT(chunk > 4 && chunk <= TR_FRAME_READ_CHUNK);
    /* Lowering under a live buffer could leave it above its bound (frame.h). */
    TR_ASSERT(r->buf == NULL || (frame_max >= r->frame_max && chunk >= r->chunk));
    r->frame_max = frame_max;
    r->chunk = chunk;
}

void tr__frame_reader_deinit(tr_frame_reader *r) {
    free(r->buf);
    memset(r, 0, sizeof *r);
}

/* The capacity the frame at `start` needs: its whole size when its header is in and
 * within the limit (checked by next() before we get here), else one read chunk. */
static size_t needed_cap(const tr_frame_reader *r) {
    size_t have = r->end - r->start;
    if (have >= 4) {
        uint32_t n = tr_load_be32(r->buf + r->start);
        if (n <= r->frame_max && (size_t)n + 4 > r->chunk) {
            return (size_t)n + 4;
        }
    }
    return r->chunk;
}

int tr__frame_reader_space(tr_frame_reader *r, uint8_t **out, size_t *avail) {
    if (r->start == r->end) {
        r->start = r->end = 0;
    } else if (r->start > 0 && (r->cap - r->end < r->cap / 4 || r->start >= r->cap / 2)) {
        /* Compact: keeps the buffer small and the frame being read contiguous. */
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t want = needed_cap(r);
    if (want > r->cap || (want == r->chunk && r->cap > want && r->end <= want)) {
        /* Grow for a big frame, or shrink back once the big frame is gone. */
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        uint8_t *nb = realloc(r->buf, want);
        if (!nb) {
            return TR_ENOMEM;
        }
        r->buf = nb;
        r->cap = want;
    }
    if (r->end == r->cap) {
        /* Full: only possible when start > 0 and compaction was skipped. */
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    /* The buffer's bound (frame.h): one read chunk, or one maximal frame. */
    TR_ASSERT(r->cap <= r->chunk || r->cap <= (size_t)r->frame_max + 4);
    TR_ASSERT(r->start <= r->end && r->end < r->cap);
    *out = r->buf + r->end;
    *avail = r->cap - r->end;
    return 0;
}

void tr__frame_reader_commit(tr_frame_reader *r, size_t n) {
    TR_ASSERT(r->end + n <= r->cap);
    r->end += n;
}

int tr__frame_reader_next(tr_frame_reader *r, const uint8_t **payload, size_t *len) {
    size_t have = r->end - r->start;
    if (have < 4) {
        return 0;
    }
    uint32_t n = tr_load_be32(r->buf + r->start);
    if (n == 0) {
        *len = 0;
        return TR_EPROTO;
    }
    if (n > r->frame_max) {
        *len = n;
        return TR_ETOOBIG;
    }
    if (have - 4 < n) {
        return 0;
    }
    *payload = r->buf + r->start + 4;
    *len = n;
    r->start += 4 + (size_t)n;
    /* What tr__frame_end promises, checked on the way out: a whole frame of received
     * bytes, its length within the limit. */
    TR_ASSERT(n >= 1 && n <= r->frame_max && r->start <= r->end);
    return 1;
}

/* ---- control frames ---------------------------------------------------------------- */

void tr__frame_begin(tr_mp_writer *w, uint8_t *buf, size_t cap) {
    tr_mp_writer_init(w, buf, cap);
    uint8_t zero[4] = {0};
    tr_mp_write_raw(w, zero, 4);
}

long tr__frame_end(tr_mp_writer *w) {
    if (w->err) {
        return w->err;
    }
    /* A frame carries a payload within the largest limit a receiver may have; its
     * length prefix, read back, is the payload's length (tr__frame_reader_next relies on
     * both). */
    TR_ASSERT(w->len > 4 && w->len - 4 <= TR_FRAME_MAX_CEILING);
    tr_store_be32(w->buf, (uint32_t)(w->len - 4));
    TR_ASSERT(tr_load_be32(w->buf) == w->len - 4);
    return (long)w->len;
}

int tr__frame_kind(const uint8_t *payload, size_t len, uint32_t *count) {
    tr_mp_reader r;
    tr_mp_reader_init(&r, payload, len);
    uint32_t n;
    if (tr_mp_read_array(&r, &n) || n < 1 || r.p == r.end || r.p[0] >= 0x80 || r.p[0] == 0) {
        return TR_EPROTO;
    }
    *count = n;
    return r.p[0];
}
