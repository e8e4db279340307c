/* proxy.c — the "proxy" actor (see proxy.h). */
#include "actors/proxy.h"

#include <string.h>

#include "actors/register_wire.h"

typedef struct pending {
    uint64_t corr_out; /* the forwarded request's corr; 0 = a free slot */
    tr_addr from;      /* the original request's sender, corr and trace */
    uint64_t corr_in;
    tr_trace trace;
    tr_addr to; /* and its receiver and type: the reply's trace names that activation's span */
    uint32_t type;
} pending;

typedef struct proxy_state {
    pending p[TR_PROXY_PENDING_MAX];
} proxy_state;

/* Replies {"error": why} (why shorter than 32 bytes) to p's sender. */
static void reply_to(tr_ctx *ctx, const pending *p, uint32_t type, const void *b, size_t n) {
    tr_msg req;
    memset(&req, 0, sizeof req);
    req.from = p->from;
    req.corr = p->corr_in;
    req.trace = p->trace;
    req.to = p->to;
    req.type = p->type;
    (void)tr_reply(ctx, &req, type, b, n);
}

static void reply_error(tr_ctx *ctx, const pending *p, uint32_t type, const char *why) {
    uint8_t buf[48];
    reply_to(ctx, p, type, buf, tr__wire_error_body(buf, sizeof buf, why));
}

static pending *find_pending(proxy_state *s, uint64_t corr) {
    for (size_t i = 0; i < TR_PROXY_PENDING_MAX; i++) {
        if (s->p[i].corr_out == corr) {
            return &s->p[i];
        }
    }
    return NULL;
}

static void proxy_forward(tr_ctx *ctx, proxy_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, name_len;
    const char *name;
    char target[2 * TR_NAME_MAX + 2];
    pending me = {0, msg->from, msg->corr, msg->trace, msg->to, msg->type};
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) || n != 2 || tr_mp_read_str(&r, &name, &name_len) ||
        name_len >= sizeof target || r.p >= r.end) {
        reply_error(ctx, &me, msg->type, "want [target, body]");
        return;
    }
    memcpy(target, name, name_len);
    target[name_len] = 0;
    pending *slot = find_pending(s, 0);
    if (!slot) {
        reply_error(ctx, &me, msg->type, "busy");
        return;
    }
    uint64_t corr = 0;
    int rc = tr_request_name(ctx, target, msg->type, r.p, (size_t)(r.end - r.p),
                             TR_PROXY_TIMEOUT_MS, &corr);
    if (rc || corr == 0) {
        reply_error(ctx, &me, msg->type, "unreachable");
        return;
    }
    *slot = me;
    slot->corr_out = corr;
}

static int proxy_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    proxy_state *s = state;
    /* Only a reply or a timeout can answer a forward: a new request may carry the same corr
     * (correlation ids are per sending actor). */
    bool answer = msg->type == TR_MSG_TIMEOUT || tr_msg_is_reply(msg);
    pending *p = answer && msg->corr ? find_pending(s, msg->corr) : NULL;
    if (p && msg->type == TR_MSG_TIMEOUT && tr_msg_request_error(msg) != TR_ETIMEDOUT) {
        reply_to(ctx, p, TR_MSG_TIMEOUT, msg->body, msg->body_len); /* failed at once: relayed */
        p->corr_out = 0;
    } else if (p && msg->type == TR_MSG_TIMEOUT) {
        reply_error(ctx, p, TR_MSG_USER, "timeout");
        p->corr_out = 0;
    } else if (p && msg->type >= TR_MSG_USER) {
        reply_to(ctx, p, msg->type, msg->body, msg->body_len);
        p->corr_out = 0;
    } else if (msg->type >= TR_MSG_USER && !tr_addr_is_none(msg->from)) {
        proxy_forward(ctx, s, msg);
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__proxy_behaviour = {
    .name = "proxy", .state_size = sizeof(proxy_state), .receive = proxy_receive};
