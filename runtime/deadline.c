/*
 * deadline.c — deadlines carried hop by hop in a request's body (troupe.h, "Resilience";
 * docs/resilience.md).
 *
 * The wrapper is the msgpack map {"deadline_ms": remaining, "body": inner}, keys in that
 * order, written with the smallest forms (tr_mp_writer). The remaining time is a duration, so
 * each hop applies it to its own clock and the nodes' clock offsets do not matter. Reading
 * checks the whole wrapper: a map of two entries whose first key is "deadline_ms" is a
 * wrapper, and then anything else in it (a wrong kind, a second key other than "body", bytes
 * after the inner value) is malformed.
 */
#include <stdlib.h>

#include "runtime/assert.h"
#include "troupe.h"

#define KEY_DEADLINE "deadline_ms"
#define KEY_BODY "body"

int tr_deadline_wrap(void *buf, size_t cap, uint32_t remaining_ms, const void *body, size_t len,
                     size_t *out_len) {
    if (buf == NULL || body == NULL || len == 0 || out_len == NULL) {
        return TR_EINVAL;
    }
    tr_mp_reader one;
    tr_mp_reader_init(&one, body, len);
    if (tr_mp_skip(&one) != 0 || tr_mp_reader_done(&one) != 0) {
        return TR_EINVAL; /* not exactly one msgpack value: the receiver could not unwrap it */
    }
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 2);
    tr_mp_write_cstr(&w, KEY_DEADLINE);
    tr_mp_write_uint(&w, remaining_ms);
    tr_mp_write_cstr(&w, KEY_BODY);
    tr_mp_write_raw(&w, body, len);
    if (w.err != 0) {
        return w.err;
    }
    TR_ASSERT(w.len <= len + TR_DEADLINE_WRAP_MAX);
    *out_len = w.len;
    return 0;
}

/* A wrapper's start: a two-entry map whose first key is "deadline_ms". */
static bool starts_as_wrapper(tr_mp_reader *r) {
    uint32_t n;
    const char *k;
    uint32_t klen;
    return tr_mp_read_map(r, &n) == 0 && n == 2 && tr_mp_read_str(r, &k, &klen) == 0 &&
           tr_mp_str_eq(k, klen, KEY_DEADLINE);
}

int tr_deadline_unwrap(const void *buf, size_t len, uint32_t *remaining_ms, const uint8_t **inner,
                       size_t *inner_len) {
    if (buf == NULL || remaining_ms == NULL || inner == NULL || inner_len == NULL) {
        return TR_EINVAL;
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, buf, len);
    if (!starts_as_wrapper(&r)) {
        return TR_ENOENT;
    }
    uint64_t ms;
    const char *k;
    uint32_t klen;
    if (tr_mp_read_uint(&r, &ms) != 0 || ms > UINT32_MAX || tr_mp_read_str(&r, &k, &klen) != 0 ||
        !tr_mp_str_eq(k, klen, KEY_BODY)) {
        return TR_EPROTO;
    }
    const uint8_t *start = r.p;
    if (tr_mp_skip(&r) != 0 || tr_mp_reader_done(&r) != 0) {
        return TR_EPROTO;
    }
    *remaining_ms = (uint32_t)ms;
    *inner = start;
    *inner_len = (size_t)(r.p - start);
    TR_ASSERT(*inner_len > 0);
    return 0;
}

uint64_t tr_deadline_remaining_ms(uint64_t at_ms, uint64_t now_ms) {
    return at_ms > now_ms ? at_ms - now_ms : 0;
}

int tr_deadline_read(tr_ctx *ctx, const tr_msg *msg, tr_deadline *out) {
    TR_ASSERT(ctx != NULL && msg != NULL && out != NULL);
    *out = (tr_deadline){.body = msg->body, .body_len = msg->body_len};
    uint32_t remaining;
    const uint8_t *inner;
    size_t inner_len;
    int rc = tr_deadline_unwrap(msg->body, msg->body_len, &remaining, &inner, &inner_len);
    if (rc == TR_ENOENT || (rc == TR_EINVAL && msg->body == NULL)) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    *out = (tr_deadline){
        .has = true,
        .at_ms = tr_now_ms(ctx) + remaining,
        .body = inner,
        .body_len = inner_len,
    };
    return remaining == 0 ? TR_ETIMEDOUT : 0;
}

int tr_deadline_request_name(tr_ctx *ctx, const char *name, uint32_t type, uint64_t at_ms,
                             const void *body, size_t len, uint64_t *corr_out) {
    TR_ASSERT(ctx != NULL);
    uint64_t left = tr_deadline_remaining_ms(at_ms, tr_now_ms(ctx));
    if (left == 0) {
        return TR_ETIMEDOUT;
    }
    if (len > TR_DEADLINE_BODY_MAX) {
        return TR_ETOOBIG;
    }
    uint32_t remaining = left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
    uint8_t small[512];
    size_t cap = len + TR_DEADLINE_WRAP_MAX;
    uint8_t *buf = cap <= sizeof small ? small : malloc(cap);
    if (buf == NULL) {
        return TR_ENOMEM;
    }
    size_t n;
    int rc = tr_deadline_wrap(buf, cap, remaining, body, len, &n);
    if (rc == 0) {
        rc = tr_request_name(ctx, name, type, buf, n, remaining, corr_out);
    }
    if (buf != small) {
        free(buf);
    }
    return rc;
}
