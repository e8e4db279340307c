/* link.c — one end of a cluster connection as a state machine (see link.h). */
#include "proto/link.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/assert.h"

int tr__proto_link_init(tr_proto_link *l, uint32_t frame_max, tr_gossip_entry *gossip_in) {
    memset(l, 0, sizeof *l);
    l->gossip_in = gossip_in;
    l->frame_max = frame_max;
    int rc = tr__frame_reader_init(&l->rd, frame_max);
    /* Rule 4: the handshake's bounds until the peer authenticated (on_handshake). */
    uint32_t pre = frame_max < TR_FRAME_PREAUTH_MAX ? frame_max : TR_FRAME_PREAUTH_MAX;
    tr__frame_reader_set_limit(&l->rd, pre, pre + 4);
    return rc;
}

void tr__proto_link_deinit(tr_proto_link *l) {
    tr__frame_reader_deinit(&l->rd);
}

int tr__proto_link_start(tr_proto_link *l, bool initiator, const tr_hello *mine,
                         const uint8_t *secret, size_t secret_len,
                         const uint8_t nonce[TR_NONCE_LEN]) {
    int rc = tr__handshake_start_nonce(&l->hs, initiator, mine, secret, secret_len, nonce, l->out,
                                       sizeof l->out, &l->out_len);
    if (rc) {
        snprintf(l->reason, sizeof l->reason, "handshake start failed: %s", l->hs.reason);
    }
    return rc;
}

int tr__proto_link_space(tr_proto_link *l, uint8_t **out, size_t *avail) {
    return tr__frame_reader_space(&l->rd, out, avail);
}

void tr__proto_link_commit(tr_proto_link *l, size_t n) {
    tr__frame_reader_commit(&l->rd, n);
}

int tr__proto_link_feed(tr_proto_link *l, const uint8_t *p, size_t n) {
    while (n > 0) {
        uint8_t *dst;
        size_t avail;
        if (tr__frame_reader_space(&l->rd, &dst, &avail)) {
            return TR_ENOMEM;
        }
        size_t k = n < avail ? n : avail;
        memcpy(dst, p, k);
        tr__frame_reader_commit(&l->rd, k);
        p += k;
        n -= k;
    }
    return 0;
}

static tr_link_event_kind link_error(tr_proto_link *l, tr_link_event *ev, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->reason, sizeof l->reason, fmt, ap);
    va_end(ap);
    l->dead = true;
    ev->kind = TR_LINK_ERROR;
    return TR_LINK_ERROR;
}

/* [kind, uint] (HEARTBEAT) or [kind, str] (BYE): the exact schema, nothing after it. */
static int parse_pair(const uint8_t *p, size_t len, uint64_t *seq, char *str, size_t cap) {
    tr_mp_reader r;
    uint32_t n;
    uint64_t kind;
    tr_mp_reader_init(&r, p, len);
    if (tr_mp_read_array(&r, &n) || n != 2 || tr_mp_read_uint(&r, &kind)) {
        return TR_EPROTO;
    }
    int rc = str ? tr_mp_read_str_copy(&r, str, cap) : tr_mp_read_uint(&r, seq);
    return rc || tr_mp_reader_done(&r) ? TR_EPROTO : 0;
}

/* A REASON frame's code and text: 0, or TR_EPROTO when it is not [21, code <= 127, str]. */
static int parse_reason(const uint8_t *p, size_t len, uint64_t *code, char *text, size_t cap) {
    tr_mp_reader r;
    uint32_t n;
    uint64_t kind;
    tr_mp_reader_init(&r, p, len);
    if (tr_mp_read_array(&r, &n) || n != 3 || tr_mp_read_uint(&r, &kind) ||
        tr_mp_read_uint(&r, code) || *code > TR_REASON_CODE_MAX ||
        tr_mp_read_str_copy(&r, text, cap)) {
        return TR_EPROTO;
    }
    return tr_mp_reader_done(&r) ? TR_EPROTO : 0;
}

static tr_link_event_kind on_handshake(tr_proto_link *l, const uint8_t *p, size_t len,
                                       tr_link_event *ev) {
    int rc = tr__handshake_step(&l->hs, p, len, l->out, sizeof l->out, &l->out_len);
    if (rc < 0) {
        return link_error(l, ev, "handshake failed: %s", l->hs.reason);
    }
    if (rc == 0) {
        return TR_LINK_NEED_BYTES; /* keep reading: the caller loops */
    }
    l->handshake_done = true;
    l->client = (l->hs.theirs.flags & TR_HELLO_CLIENT) != 0;
    tr__frame_reader_set_limit(&l->rd, l->frame_max, TR_FRAME_READ_CHUNK);
    ev->kind = TR_LINK_AUTHENTICATED;
    return TR_LINK_AUTHENTICATED;
}

static tr_link_event_kind on_frame(tr_proto_link *l, const uint8_t *p, size_t len,
                                   tr_link_event *ev) {
    uint32_t count;
    int kind = tr__frame_kind(p, len, &count);
    ev->payload = p;
    ev->len = len;
    switch (kind) {
    case TR_FRAME_ENVELOPE: ev->kind = TR_LINK_ENVELOPE; return ev->kind;
    case TR_FRAME_HEARTBEAT:
        if (parse_pair(p, len, &ev->seq, NULL, 0) == 0) {
            ev->kind = TR_LINK_HEARTBEAT;
            return ev->kind;
        }
        break;
    case TR_FRAME_BYE:
        if (parse_pair(p, len, NULL, ev->reason, sizeof ev->reason) == 0) {
            l->dead = true;
            ev->kind = TR_LINK_BYE;
            return ev->kind;
        }
        break;
    case TR_FRAME_GOSSIP:
        if (tr__gossip_decode(p, len, l->gossip_in, TR_MEMBERS_MAX, &ev->gossip_count) == 0) {
            ev->gossip = l->gossip_in;
            ev->gossip_count = l->client ? 0 : ev->gossip_count; /* rule 3 */
            ev->kind = TR_LINK_GOSSIP;
            return ev->kind;
        }
        break;
    case TR_FRAME_REASON: {
        uint64_t code;
        char text[TR_REASON_TEXT_MAX + 1];
        if (parse_reason(p, len, &code, text, sizeof text) == 0) {
            return link_error(l, ev, "closed by the peer: reason %u (%s)", (unsigned)code, text);
        }
        break;
    }
    default: break;
    }
    if (kind < 0) {
        return link_error(l, ev, "malformed frame (%zu bytes): not an array headed by a kind", len);
    }
    return link_error(l, ev, "malformed or unknown frame (kind %d, %zu bytes)", kind, len);
}

tr_link_event_kind tr__proto_link_next(tr_proto_link *l, tr_link_event *ev) {
    TR_ASSERT(!l->dead);
    memset(ev, 0, sizeof *ev);
    l->out_len = 0;
    for (;;) {
        const uint8_t *p;
        size_t len = 0;
        int rc = tr__frame_reader_next(&l->rd, &p, &len);
        if (rc == 0) {
            return TR_LINK_NEED_BYTES;
        }
        if (rc == TR_ETOOBIG) {
            return link_error(l, ev, "frame length %zu over limit %u%s", len, l->rd.frame_max,
                              l->handshake_done ? "" : " before authentication");
        }
        if (rc < 0) {
            return link_error(l, ev, "zero-length frame");
        }
        /* The reader hands out whole frames within the limit, never an empty one. */
        TR_ASSERT(len >= 1 && len <= l->rd.frame_max);
        if (l->handshake_done) {
            return on_frame(l, p, len, ev);
        }
        tr_link_event_kind k = on_handshake(l, p, len, ev);
        if (k != TR_LINK_NEED_BYTES) {
            return k;
        }
        if (l->out_len > 0) {
            ev->kind = TR_LINK_WRITE;
            return TR_LINK_WRITE; /* handshake bytes the caller writes before going on */
        }
    }
}

long tr__proto_heartbeat_frame(uint64_t seq, uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr__frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, TR_FRAME_HEARTBEAT);
    tr_mp_write_uint(&w, seq);
    return tr__frame_end(&w);
}

long tr__proto_bye_frame(const char *why, uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr__frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, TR_FRAME_BYE);
    tr_mp_write_str(&w, why, strlen(why));
    return tr__frame_end(&w);
}

long tr__proto_reason_frame(uint32_t code, const char *text, uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr__frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, 3);
    tr_mp_write_uint(&w, TR_FRAME_REASON);
    tr_mp_write_uint(&w, code);
    tr_mp_write_str(&w, text, strnlen(text, TR_REASON_TEXT_MAX));
    return tr__frame_end(&w);
}

void tr__proto_envelope_prefix(size_t len, uint8_t out[4]) {
    TR_ASSERT(len >= 1 && len <= UINT32_MAX);
    tr_store_be32(out, (uint32_t)len);
}

int tr__proto_admit(const tr_hello *h, uint32_t self_id, const char *known_name,
                    uint32_t name_owner, char *why, size_t cap) {
    if (h->id == self_id) {
        snprintf(why, cap, "connected to ourselves");
    } else if (known_name != NULL && strcmp(known_name, h->name) != 0) {
        snprintf(why, cap, "node id %u claimed by '%s' but known as '%s'", h->id, h->name,
                 known_name);
    } else if (known_name == NULL && name_owner != 0) {
        snprintf(why, cap, "node name '%s' already used by id %u", h->name, name_owner);
    } else {
        return 0;
    }
    return TR_EINVAL;
}
