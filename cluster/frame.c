/* frame.c — frame reader and the control frames' msgpack subset (see frame.h). */
#include "cluster/frame.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"

/* ---- frame reader ---------------------------------------------------------------- */

int tr__frame_reader_init(tr_frame_reader *r, uint32_t frame_max) {
    TR_ASSERT(frame_max >= TR_FRAME_MIN_LIMIT && frame_max <= TR_FRAME_MAX_CEILING);
    memset(r, 0, sizeof *r);
    r->frame_max = frame_max;
    r->buf = malloc(TR_FRAME_READ_CHUNK);
    if (!r->buf) {
        return TR_ENOMEM;
    }
    r->cap = TR_FRAME_READ_CHUNK;
    return 0;
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
        uint32_t n = tr_be32_get(r->buf + r->start);
        if (n <= r->frame_max && (size_t)n + 4 > TR_FRAME_READ_CHUNK) {
            return (size_t)n + 4;
        }
    }
    return TR_FRAME_READ_CHUNK;
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
    if (want > r->cap || (want == TR_FRAME_READ_CHUNK && r->cap > want && r->end <= want)) {
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
    TR_ASSERT(r->cap <= TR_FRAME_READ_CHUNK || r->cap <= (size_t)r->frame_max + 4);
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
    uint32_t n = tr_be32_get(r->buf + r->start);
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

/* ---- msgpack writer ---------------------------------------------------------------- */

void tr_mpw_init(tr_mpw *w, uint8_t *buf, size_t cap) {
    w->p = buf;
    w->len = 0;
    w->cap = cap;
    w->err = 0;
}

static void put(tr_mpw *w, const void *b, size_t n) {
    if (w->err || w->cap - w->len < n) {
        w->err = TR_ETOOBIG;
        return;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void put_tag32(tr_mpw *w, uint32_t n, uint8_t fix_base, uint32_t fix_max, uint8_t tag8,
                      uint8_t tag16, uint8_t tag32) {
    uint8_t b[5];
    if (n <= fix_max && fix_base) {
        b[0] = (uint8_t)(fix_base | n);
        put(w, b, 1);
    } else if (n <= 0xff && tag8) {
        b[0] = tag8;
        b[1] = (uint8_t)n;
        put(w, b, 2);
    } else if (n <= 0xffff) {
        b[0] = tag16;
        b[1] = (uint8_t)(n >> 8);
        b[2] = (uint8_t)n;
        put(w, b, 3);
    } else {
        b[0] = tag32;
        tr_be32_put(b + 1, n);
        put(w, b, 5);
    }
}

void tr_mpw_array(tr_mpw *w, uint32_t n) {
    put_tag32(w, n, 0x90, 15, 0, 0xdc, 0xdd);
}

void tr_mpw_uint(tr_mpw *w, uint64_t v) {
    uint8_t b[9];
    if (v < 128) {
        b[0] = (uint8_t)v;
        put(w, b, 1);
    } else if (v <= 0xff) {
        b[0] = 0xcc;
        b[1] = (uint8_t)v;
        put(w, b, 2);
    } else if (v <= 0xffff) {
        b[0] = 0xcd;
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)v;
        put(w, b, 3);
    } else if (v <= 0xffffffffu) {
        b[0] = 0xce;
        tr_be32_put(b + 1, (uint32_t)v);
        put(w, b, 5);
    } else {
        b[0] = 0xcf;
        tr_be32_put(b + 1, (uint32_t)(v >> 32));
        tr_be32_put(b + 5, (uint32_t)v);
        put(w, b, 9);
    }
}

void tr_mpw_str(tr_mpw *w, const char *s, size_t n) {
    assert(n <= UINT32_MAX);
    put_tag32(w, (uint32_t)n, 0xa0, 31, 0xd9, 0xda, 0xdb);
    put(w, s, n);
}

void tr_mpw_bin(tr_mpw *w, const void *b, size_t n) {
    assert(n <= UINT32_MAX);
    put_tag32(w, (uint32_t)n, 0, 0, 0xc4, 0xc5, 0xc6);
    put(w, b, n);
}

void tr_mpw_nil(tr_mpw *w) {
    uint8_t b = 0xc0;
    put(w, &b, 1);
}

void tr__frame_begin(tr_mpw *w, uint8_t *buf, size_t cap) {
    tr_mpw_init(w, buf, cap);
    uint8_t zero[4] = {0};
    put(w, zero, 4);
}

long tr__frame_end(tr_mpw *w) {
    if (w->err) {
        return w->err;
    }
    /* A frame carries a payload within the largest limit a receiver may have; its
     * length prefix, read back, is the payload's length (tr__frame_reader_next relies on
     * both). */
    TR_ASSERT(w->len > 4 && w->len - 4 <= TR_FRAME_MAX_CEILING);
    tr_be32_put(w->p, (uint32_t)(w->len - 4));
    TR_ASSERT(tr_be32_get(w->p) == w->len - 4);
    return (long)w->len;
}

/* ---- msgpack reader ---------------------------------------------------------------- */

void tr_mpr_init(tr_mpr *r, const uint8_t *p, size_t len) {
    r->p = p;
    r->len = len;
    r->off = 0;
}

static int need(const tr_mpr *r, size_t n) {
    return r->len - r->off >= n ? 0 : TR_EPROTO;
}

static uint64_t get_be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Reads a length-carrying header: fixed form (tag & fix_mask) == fix_tag, or 8/16/32-bit
 * forms. 0 tags mean "no such form". */
static int read_len(tr_mpr *r, uint8_t fix_mask, uint8_t fix_tag, uint8_t tag8, uint8_t tag16,
                    uint8_t tag32, uint32_t *n) {
    if (need(r, 1)) {
        return TR_EPROTO;
    }
    uint8_t t = r->p[r->off];
    int width;
    if (fix_mask && (t & fix_mask) == fix_tag) {
        *n = t & (uint8_t)~fix_mask;
        r->off += 1;
        return 0;
    } else if (tag8 && t == tag8) {
        width = 1;
    } else if (t == tag16) {
        width = 2;
    } else if (t == tag32) {
        width = 4;
    } else {
        return TR_EPROTO;
    }
    if (need(r, 1 + (size_t)width)) {
        return TR_EPROTO;
    }
    *n = (uint32_t)get_be(r->p + r->off + 1, width);
    r->off += 1 + (size_t)width;
    return 0;
}

int tr_mpr_array(tr_mpr *r, uint32_t *n) {
    int rc = read_len(r, 0xf0, 0x90, 0, 0xdc, 0xdd, n);
    /* Every element takes at least one byte: a header announcing more is a lie. */
    if (rc == 0 && *n > r->len - r->off) {
        return TR_EPROTO;
    }
    return rc;
}

int tr_mpr_uint(tr_mpr *r, uint64_t *v) {
    if (need(r, 1)) {
        return TR_EPROTO;
    }
    uint8_t t = r->p[r->off];
    int width;
    if (t < 0x80) {
        *v = t;
        r->off += 1;
        return 0;
    }
    switch (t) {
    case 0xcc: width = 1; break;
    case 0xcd: width = 2; break;
    case 0xce: width = 4; break;
    case 0xcf: width = 8; break;
    default: return TR_EPROTO;
    }
    if (need(r, 1 + (size_t)width)) {
        return TR_EPROTO;
    }
    *v = get_be(r->p + r->off + 1, width);
    r->off += 1 + (size_t)width;
    return 0;
}

static int read_bytes(tr_mpr *r, uint32_t n, const uint8_t **out) {
    if (need(r, n)) {
        return TR_EPROTO;
    }
    *out = r->p + r->off;
    r->off += n;
    return 0;
}

int tr_mpr_str(tr_mpr *r, const char **s, uint32_t *n) {
    const uint8_t *b;
    if (read_len(r, 0xe0, 0xa0, 0xd9, 0xda, 0xdb, n) || read_bytes(r, *n, &b)) {
        return TR_EPROTO;
    }
    *s = (const char *)b;
    return 0;
}

int tr_mpr_bin(tr_mpr *r, const uint8_t **b, uint32_t *n) {
    if (read_len(r, 0, 0, 0xc4, 0xc5, 0xc6, n) || read_bytes(r, *n, b)) {
        return TR_EPROTO;
    }
    return 0;
}

int tr_mpr_str_copy(tr_mpr *r, char *out, size_t cap) {
    const char *s;
    uint32_t n;
    if (tr_mpr_str(r, &s, &n) || n >= cap || memchr(s, 0, n)) {
        return TR_EPROTO;
    }
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

int tr_mpr_done(const tr_mpr *r) {
    return r->off == r->len ? 0 : TR_EPROTO;
}

int tr__frame_kind(const uint8_t *payload, size_t len, uint32_t *count) {
    tr_mpr r;
    tr_mpr_init(&r, payload, len);
    uint32_t n;
    if (tr_mpr_array(&r, &n) || n < 1 || need(&r, 1) || r.p[r.off] >= 0x80 || r.p[r.off] == 0) {
        return TR_EPROTO;
    }
    *count = n;
    return r.p[r.off];
}
