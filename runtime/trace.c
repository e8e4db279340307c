/*
 * trace.c — the trace context and the deadline a message carries (troupe.h, "Trace context
 * and deadlines"): what a message sent from a callback inherits, the span id of an
 * activation, W3C traceparent text.
 *
 * A span id is derived, not drawn: the activation that handles a message gets
 * span_of(message), a hash of the message's trace, receiver, type and correlation id. Every
 * node (and a trace reader) computes the same id from the same message, no state is kept per
 * activation, and a simulated run stays a function of its seed.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

static uint64_t fmix(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void store64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

bool tr_trace_is_set(const tr_trace *t) {
    return t != NULL && (load64(t->id) | load64(t->id + 8)) != 0;
}

void tr_trace_span_of(const tr_msg *msg, uint8_t out[8]) {
    if (msg == NULL || !tr_trace_is_set(&msg->trace)) {
        memset(out, 0, 8);
        return;
    }
    const tr_trace *t = &msg->trace;
    uint64_t h = fmix(load64(t->id) ^ fmix(load64(t->id + 8) ^ fmix(load64(t->span))));
    h = fmix(h ^ (((uint64_t)msg->to.node << 32) | msg->type));
    h = fmix(h ^ msg->to.actor);
    h = fmix(h ^ msg->corr);
    /* the sender too: the replies to one request fanned out share to, type and corr */
    h = fmix(h ^ (((uint64_t)msg->from.node << 32) ^ fmix(msg->from.actor)));
    store64(out, h != 0 ? h : 1); /* W3C: an all-zero span id is invalid */
}

void tr__ctx_inherit(const tr_ctx *ctx, tr_msg *m) {
    const tr_msg *cur = ctx->current;
    if (__builtin_expect(ctx->out_what != 0, 0)) {
        if (ctx->out_what & TR__OUT_TRACE) {
            m->trace = ctx->out_trace;
        } else if (cur != NULL && tr_trace_is_set(&cur->trace)) {
            m->trace = cur->trace;
            tr_trace_span_of(cur, m->trace.span);
        }
        m->deadline_ = (ctx->out_what & TR__OUT_DEADLINE) ? ctx->out_deadline
                       : cur != NULL                      ? cur->deadline_
                                                          : 0;
        return;
    }
    if (cur == NULL) {
        return;
    }
    if (tr_trace_is_set(&cur->trace)) {
        m->trace = cur->trace;
        tr_trace_span_of(cur, m->trace.span);
    }
    m->deadline_ = cur->deadline_;
}

void tr__trace_reply(const tr_msg *req, tr_msg *reply) {
    if (tr_trace_is_set(&req->trace)) {
        reply->trace = req->trace;
        tr_trace_span_of(req, reply->trace.span);
    }
}

void tr_trace_current(tr_ctx *ctx, tr_trace *out) {
    if (out == NULL) {
        return;
    }
    memset(out, 0, sizeof *out);
    if (ctx == NULL) {
        return;
    }
    tr_msg probe = {0};
    tr__ctx_inherit(ctx, &probe);
    *out = probe.trace;
}

int tr_trace_start(tr_ctx *ctx, uint8_t flags) {
    if (ctx == NULL) {
        return TR_EINVAL;
    }
    tr_trace t = {.flags = flags};
    uint64_t hi, lo, span;
    do {
        hi = tr_random(ctx);
        lo = tr_random(ctx);
    } while ((hi | lo) == 0);
    do {
        span = tr_random(ctx);
    } while (span == 0);
    store64(t.id, hi);
    store64(t.id + 8, lo);
    store64(t.span, span);
    return tr_trace_set(ctx, &t);
}

int tr_trace_set(tr_ctx *ctx, const tr_trace *t) {
    if (ctx == NULL || t == NULL) {
        return TR_EINVAL;
    }
    ctx->out_trace = tr_trace_is_set(t) ? *t : (tr_trace){{0}};
    ctx->out_what |= TR__OUT_TRACE;
    return 0;
}

uint64_t tr_msg_deadline_ms(tr_ctx *ctx, const tr_msg *msg, bool *has) {
    bool set = ctx != NULL && msg != NULL && msg->deadline_ != 0;
    if (has != NULL) {
        *has = set;
    }
    if (!set) {
        return 0;
    }
    uint64_t now = tr_now_ms(ctx);
    return msg->deadline_ > now ? msg->deadline_ - now : 0;
}

int tr_deadline_set(tr_ctx *ctx, uint64_t ms) {
    if (ctx == NULL || ms > UINT32_MAX) {
        return TR_EINVAL;
    }
    ctx->out_deadline = ms == 0 ? 0 : tr_now_ms(ctx) + ms;
    ctx->out_what |= TR__OUT_DEADLINE;
    return 0;
}

static const char hex[] = "0123456789abcdef";

static char *put_hex(char *p, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    return p;
}

int tr_trace_format(const tr_trace *t, char *out, size_t cap) {
    if (t == NULL || out == NULL) {
        return TR_EINVAL;
    }
    if (cap < 56) {
        return TR_ETOOBIG;
    }
    char *p = out;
    *p++ = '0';
    *p++ = '0';
    *p++ = '-';
    p = put_hex(p, t->id, 16);
    *p++ = '-';
    p = put_hex(p, t->span, 8);
    *p++ = '-';
    p = put_hex(p, &t->flags, 1);
    *p = '\0';
    return 0;
}

static int hex_val(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool get_hex(const char *s, uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int h = hex_val(s[2 * i]), l = hex_val(s[2 * i + 1]);
        if (h < 0 || l < 0) {
            return false;
        }
        b[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

int tr_trace_parse(const char *text, tr_trace *out) {
    if (text == NULL || out == NULL || strlen(text) != 55 || text[0] != '0' || text[1] != '0' ||
        text[2] != '-' || text[35] != '-' || text[52] != '-') {
        return TR_EINVAL;
    }
    tr_trace t;
    if (!get_hex(text + 3, t.id, 16) || !get_hex(text + 36, t.span, 8) ||
        !get_hex(text + 53, &t.flags, 1) || !tr_trace_is_set(&t) || load64(t.span) == 0) {
        return TR_EINVAL;
    }
    *out = t;
    return 0;
}

int tr_msg_request_error(const tr_msg *msg) {
    if (msg == NULL || msg->type != TR_MSG_TIMEOUT) {
        return 0;
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    int64_t code;
    if (!tr_msg_is_reply(msg) || tr_mp_read_int(&r, &code) != 0 || code >= 0 || code < INT32_MIN) {
        return TR_ETIMEDOUT;
    }
    return (int)code;
}
