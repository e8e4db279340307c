/* handshake.c — HELLO/AUTH frames, HMAC-SHA256 transcript, the handshake state machine. */
#include "proto/handshake.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "proto/frame.h"
#include "runtime/assert.h"

#define HELLO_FIELDS 9

long tr__handshake_hello_encode(const tr_hello *h, uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr__frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, HELLO_FIELDS);
    tr_mp_write_uint(&w, TR_FRAME_HELLO);
    tr_mp_write_uint(&w, h->proto);
    tr_mp_write_str(&w, h->cluster, strlen(h->cluster));
    tr_mp_write_str(&w, h->name, strlen(h->name));
    tr_mp_write_uint(&w, h->id);
    tr_mp_write_uint(&w, h->flags);
    tr_mp_write_str(&w, h->listen, strlen(h->listen));
    tr_mp_write_uint(&w, h->incarnation);
    tr_mp_write_bin(&w, h->nonce, TR_NONCE_LEN);
    return tr__frame_end(&w);
}

long tr__handshake_auth_encode(const uint8_t mac[TR_MAC_LEN], uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr__frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, TR_FRAME_AUTH);
    tr_mp_write_bin(&w, mac, TR_MAC_LEN);
    return tr__frame_end(&w);
}

static int read_u32(tr_mp_reader *r, uint32_t *out) {
    uint64_t v;
    if (tr_mp_read_uint(r, &v) || v > UINT32_MAX) {
        return TR_EPROTO;
    }
    *out = (uint32_t)v;
    return 0;
}

int tr__handshake_hello_decode(const uint8_t *payload, size_t len, tr_hello *out) {
    tr_mp_reader r;
    uint32_t n;
    uint64_t kind;
    const uint8_t *nonce;
    uint32_t nonce_len;
    memset(out, 0, sizeof *out);
    tr_mp_reader_init(&r, payload, len);
    if (tr_mp_read_array(&r, &n) || n != HELLO_FIELDS || tr_mp_read_uint(&r, &kind) ||
        kind != TR_FRAME_HELLO || read_u32(&r, &out->proto) ||
        tr_mp_read_str_copy(&r, out->cluster, sizeof out->cluster) ||
        tr_mp_read_str_copy(&r, out->name, sizeof out->name) || read_u32(&r, &out->id) ||
        read_u32(&r, &out->flags) || tr_mp_read_str_copy(&r, out->listen, sizeof out->listen) ||
        tr_mp_read_uint(&r, &out->incarnation) || tr_mp_read_bin(&r, &nonce, &nonce_len) ||
        nonce_len != TR_NONCE_LEN || tr_mp_reader_done(&r)) {
        return TR_EPROTO;
    }
    memcpy(out->nonce, nonce, TR_NONCE_LEN);
    if (out->name[0] == 0 || out->id == 0) {
        return TR_EPROTO;
    }
    return 0;
}

int tr__handshake_auth_decode(const uint8_t *payload, size_t len, uint8_t mac[TR_MAC_LEN]) {
    tr_mp_reader r;
    uint32_t n, mac_len;
    uint64_t kind;
    const uint8_t *m;
    tr_mp_reader_init(&r, payload, len);
    if (tr_mp_read_array(&r, &n) || n != 2 || tr_mp_read_uint(&r, &kind) || kind != TR_FRAME_AUTH ||
        tr_mp_read_bin(&r, &m, &mac_len) || mac_len != TR_MAC_LEN || tr_mp_reader_done(&r)) {
        return TR_EPROTO;
    }
    memcpy(mac, m, TR_MAC_LEN);
    return 0;
}

/* Appends be32(len) || s to the transcript. */
static void put_lp(uint8_t *t, size_t *n, const char *s) {
    size_t len = strlen(s);
    tr_store_be32(t + *n, (uint32_t)len);
    memcpy(t + *n + 4, s, len);
    *n += 4 + len;
}

int tr__handshake_mac(const uint8_t *secret, size_t secret_len, char role,
                      const tr_hello *initiator, const tr_hello *acceptor,
                      uint8_t mac[TR_MAC_LEN]) {
    static const char label[] = "troupe-auth-v1";
    TR_ASSERT(role == 'I' || role == 'A');
    uint8_t t[sizeof label + 1 + 3 * 4 + TR_CLUSTER_NAME_MAX + 2 * (8 + TR_NAME_MAX) +
              2 * TR_NONCE_LEN];
    size_t n = sizeof label - 1;
    memcpy(t, label, n);
    t[n++] = (uint8_t)role;
    put_lp(t, &n, initiator->cluster);
    put_lp(t, &n, initiator->name);
    tr_store_be32(t + n, initiator->id);
    n += 4;
    put_lp(t, &n, acceptor->name);
    tr_store_be32(t + n, acceptor->id);
    n += 4;
    memcpy(t + n, initiator->nonce, TR_NONCE_LEN);
    n += TR_NONCE_LEN;
    memcpy(t + n, acceptor->nonce, TR_NONCE_LEN);
    n += TR_NONCE_LEN;
    TR_ASSERT(n <= sizeof t);
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, t, n, mac, &mac_len) ||
        mac_len != TR_MAC_LEN) {
        return TR_EIO;
    }
    return 0;
}

int tr__handshake_nonce(uint8_t nonce[TR_NONCE_LEN]) {
    return RAND_bytes(nonce, TR_NONCE_LEN) == 1 ? 0 : TR_EIO;
}

static int fail(tr_handshake *hs, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hs->reason, sizeof hs->reason, fmt, ap);
    va_end(ap);
    hs->state = TR_HS_FAILED;
    return code;
}

int tr__handshake_start(tr_handshake *hs, bool initiator, const tr_hello *mine,
                        const uint8_t *secret, size_t secret_len, uint8_t *out, size_t cap,
                        size_t *out_len) {
    return tr__handshake_start_nonce(hs, initiator, mine, secret, secret_len, NULL, out, cap,
                                     out_len);
}

int tr__handshake_start_nonce(tr_handshake *hs, bool initiator, const tr_hello *mine,
                              const uint8_t *secret, size_t secret_len,
                              const uint8_t nonce[TR_NONCE_LEN], uint8_t *out, size_t cap,
                              size_t *out_len) {
    TR_ASSERT(secret_len > 0);
    tr_hello copy = *mine; /* mine may point into *hs */
    memset(hs, 0, sizeof *hs);
    hs->initiator = initiator;
    hs->mine = copy;
    hs->mine.proto = TR_PROTO_VERSION;
    hs->secret = secret;
    hs->secret_len = secret_len;
    hs->state = TR_HS_WAIT_HELLO;
    *out_len = 0;
    if (nonce != NULL) {
        memcpy(hs->mine.nonce, nonce, TR_NONCE_LEN);
    } else if (tr__handshake_nonce(hs->mine.nonce)) {
        return fail(hs, TR_EIO, "no random nonce");
    }
    if (initiator) {
        long n = tr__handshake_hello_encode(&hs->mine, out, cap);
        TR_ASSERT(n > 0);
        *out_len = (size_t)n;
    }
    return 0;
}

static int on_hello(tr_handshake *hs, const uint8_t *p, size_t len, uint8_t *out, size_t cap,
                    size_t *out_len) {
    if (tr__handshake_hello_decode(p, len, &hs->theirs)) {
        return fail(hs, TR_EPROTO, "malformed HELLO");
    }
    if (hs->theirs.proto != TR_PROTO_VERSION) {
        return fail(hs, TR_EVERSION, "protocol version %u, we speak %u", hs->theirs.proto,
                    TR_PROTO_VERSION);
    }
    if (strcmp(hs->theirs.cluster, hs->mine.cluster)) {
        return fail(hs, TR_EINVAL, "cluster '%s', we are '%s'", hs->theirs.cluster,
                    hs->mine.cluster);
    }
    hs->state = TR_HS_WAIT_AUTH;
    long n;
    if (hs->initiator) {
        uint8_t mac[TR_MAC_LEN];
        if (tr__handshake_mac(hs->secret, hs->secret_len, 'I', &hs->mine, &hs->theirs, mac)) {
            return fail(hs, TR_EIO, "HMAC failed");
        }
        n = tr__handshake_auth_encode(mac, out, cap);
    } else {
        n = tr__handshake_hello_encode(&hs->mine, out, cap);
    }
    TR_ASSERT(n > 0);
    *out_len = (size_t)n;
    return 0;
}

static int on_auth(tr_handshake *hs, const uint8_t *p, size_t len, uint8_t *out, size_t cap,
                   size_t *out_len) {
    uint8_t got[TR_MAC_LEN], want[TR_MAC_LEN];
    if (tr__handshake_auth_decode(p, len, got)) {
        return fail(hs, TR_EPROTO, "malformed AUTH");
    }
    const tr_hello *ini = hs->initiator ? &hs->mine : &hs->theirs;
    const tr_hello *acc = hs->initiator ? &hs->theirs : &hs->mine;
    if (tr__handshake_mac(hs->secret, hs->secret_len, hs->initiator ? 'A' : 'I', ini, acc, want)) {
        return fail(hs, TR_EIO, "HMAC failed");
    }
    if (CRYPTO_memcmp(got, want, TR_MAC_LEN) != 0) {
        return fail(hs, TR_EAUTH, "bad MAC from '%s' (wrong secret?)", hs->theirs.name);
    }
    if (!hs->initiator) {
        uint8_t mac[TR_MAC_LEN];
        if (tr__handshake_mac(hs->secret, hs->secret_len, 'A', ini, acc, mac)) {
            return fail(hs, TR_EIO, "HMAC failed");
        }
        long n = tr__handshake_auth_encode(mac, out, cap);
        TR_ASSERT(n > 0);
        *out_len = (size_t)n;
    }
    hs->state = TR_HS_DONE;
    return 1;
}

int tr__handshake_step(tr_handshake *hs, const uint8_t *payload, size_t len, uint8_t *out,
                       size_t cap, size_t *out_len) {
    TR_ASSERT(cap >= TR_HS_OUT_MAX);
    *out_len = 0;
    uint32_t count;
    int kind = tr__frame_kind(payload, len, &count);
    if (hs->state == TR_HS_WAIT_HELLO && kind == TR_FRAME_HELLO) {
        return on_hello(hs, payload, len, out, cap, out_len);
    }
    if (hs->state == TR_HS_WAIT_AUTH && kind == TR_FRAME_AUTH) {
        return on_auth(hs, payload, len, out, cap, out_len);
    }
    if (kind < 0) {
        return fail(hs, TR_EPROTO, "malformed frame during handshake");
    }
    if (kind == TR_FRAME_REASON) { /* before authentication it carries a fixed code only */
        return fail(hs, TR_EPROTO, "refused by the peer (REASON frame)");
    }
    return fail(hs, TR_EPROTO, "frame kind %d before authentication", kind);
}
