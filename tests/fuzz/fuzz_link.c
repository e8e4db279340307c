/* fuzz_link.c — a cluster connection's byte stream, before and after authentication.
 *
 * The first input byte picks the mode:
 *   even: the rest is what an unauthenticated peer sends to an accepting link (frames,
 *         HELLO and AUTH decoding, the pre-authentication frame limit, the handshake);
 *   odd:  two links complete an honest handshake (fixed nonces, the same secret), then the
 *         rest is what the authenticated peer sends: control frames and envelopes, each
 *         envelope decoded as the node decodes it (runtime/codec.h).
 * The properties are the sanitizers' (no out-of-bounds access, no leak, no undefined
 * behaviour) plus the link's contract: it never buffers more than its limit allows, and it
 * is never fed again after TR_LINK_ERROR or TR_LINK_BYE. */
#include <stdlib.h>
#include <string.h>

#include "proto/link.h"
#include "runtime/assert.h"
#include "runtime/codec.h"
#include "runtime/engine.h"

#define SECRET "fuzz-secret-0123456789abcdef"
#define FRAME_MAX (64 * 1024)

static tr_gossip_entry gossip_a[TR_MEMBERS_MAX], gossip_b[TR_MEMBERS_MAX];

static void hello(tr_hello *h, uint32_t id, const char *name, uint8_t nonce_byte) {
    memset(h, 0, sizeof *h);
    h->proto = TR_PROTO_VERSION;
    h->id = id;
    h->incarnation = id;
    strcpy(h->cluster, "troupe");
    strcpy(h->name, name);
    strcpy(h->listen, "127.0.0.1:7401");
    memset(h->nonce, nonce_byte, sizeof h->nonce);
}

/* What a link wrote during a drain (l->out is cleared by every tr__proto_link_next). */
typedef struct outbox {
    uint8_t buf[4 * TR_HS_OUT_MAX];
    size_t len;
} outbox;

/* Drains l's events into `sent` (NULL: dropped); false once the link is dead. Envelopes
 * are decoded and freed. */
static bool drain(tr_proto_link *l, outbox *sent) {
    for (;;) {
        tr_link_event ev;
        tr_link_event_kind k = tr__proto_link_next(l, &ev);
        if (sent && l->out_len > 0 && sent->len + l->out_len <= sizeof sent->buf) {
            memcpy(sent->buf + sent->len, l->out, l->out_len);
            sent->len += l->out_len;
        }
        if (k == TR_LINK_NEED_BYTES) {
            return true;
        }
        if (k == TR_LINK_ERROR || k == TR_LINK_BYE) {
            return false;
        }
        if (k == TR_LINK_ENVELOPE) {
            tr_msg *m = NULL;
            char name[TR_NAME_MAX + 1];
            if (tr__envelope_decode(ev.payload, ev.len, NULL, &m, name) == 0) {
                tr_msg_free(m);
            }
        }
        TR_ASSERT(tr__frame_reader_buffered(&l->rd) <= (size_t)FRAME_MAX + 4);
    }
}

/* Feeds what `from` wrote into `to` and drains `to` into `back`; false when it failed. */
static bool pump(outbox *from, tr_proto_link *to, outbox *back) {
    if (from->len == 0) {
        return true;
    }
    bool ok = tr__proto_link_feed(to, from->buf, from->len) == 0 && drain(to, back);
    from->len = 0;
    return ok;
}

/* Completes a handshake between a (initiator) and b (acceptor); false if it did not. */
static bool handshake(tr_proto_link *a, tr_proto_link *b) {
    tr_hello ha, hb;
    hello(&ha, 1, "n1", 0x11);
    hello(&hb, 2, "n2", 0x22);
    if (tr__proto_link_start(a, true, &ha, (const uint8_t *)SECRET, strlen(SECRET), ha.nonce) ||
        tr__proto_link_start(b, false, &hb, (const uint8_t *)SECRET, strlen(SECRET), hb.nonce)) {
        return false;
    }
    static outbox to_b, to_a;
    to_b.len = to_a.len = 0;
    memcpy(to_b.buf, a->out, a->out_len); /* the initiator's HELLO */
    to_b.len = a->out_len;
    a->out_len = 0;
    for (int i = 0; i < 8 && !(a->handshake_done && b->handshake_done); i++) {
        if (!pump(&to_b, b, &to_a) || !pump(&to_a, a, &to_b)) {
            return false;
        }
    }
    return a->handshake_done && b->handshake_done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    tr_proto_link a, b;
    if (tr__proto_link_init(&a, FRAME_MAX, gossip_a) ||
        tr__proto_link_init(&b, FRAME_MAX, gossip_b)) {
        abort();
    }
    bool ready;
    if (data[0] & 1) {
        ready = handshake(&a, &b);
        if (!ready) {
            abort(); /* an honest handshake must complete */
        }
    } else {
        tr_hello hb;
        hello(&hb, 2, "n2", 0x22);
        ready = tr__proto_link_start(&b, false, &hb, (const uint8_t *)SECRET, strlen(SECRET),
                                     hb.nonce) == 0;
    }
    /* the bytes arrive in pieces whose sizes come from the input too */
    size_t at = 1;
    while (ready && at < size) {
        size_t piece = 1 + data[at] % 97;
        at++;
        piece = piece < size - at ? piece : size - at;
        if (tr__proto_link_feed(&b, data + at, piece) != 0) {
            break;
        }
        at += piece;
        ready = drain(&b, NULL);
    }
    tr__proto_link_deinit(&a);
    tr__proto_link_deinit(&b);
    return 0;
}
