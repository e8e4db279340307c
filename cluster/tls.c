/* tls.c — mutual TLS 1.3 over memory BIOs with OpenSSL (see tls.h). */
#include "cluster/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "runtime/assert.h"
#include "troupe.h"

#define EXPORTER_LABEL "EXPORTER-troupe-handshake"

struct tr__tls_ctx {
    SSL_CTX *ssl;
    char name[TR_NAME_MAX + 1]; /* our certificate's CN */
};

struct tr__tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool done;        /* handshake completed, peer verified, name known */
    char peer[TR_NAME_MAX + 1];
    uint8_t in[TR__TLS_READ_CHUNK];
};

/* The oldest OpenSSL error (then clears the queue), or `dflt`. */
static void ssl_error(char *out, size_t cap, const char *dflt) {
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(out, cap, "%s", dflt);
    } else {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        const char *reason = ERR_reason_error_string(e);
        snprintf(out, cap, "%s", reason ? reason : buf);
    }
    ERR_clear_error();
}

/* The subject CN of cert into out; false if there is none or it does not fit a node name. */
static bool cert_cn(X509 *cert, char *out, size_t cap) {
    X509_NAME *subject = cert ? X509_get_subject_name(cert) : NULL;
    char cn[256];
    int n = subject ? X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn) : -1;
    if (n <= 0 || (size_t)n > TR_NAME_MAX || strlen(cn) != (size_t)n || strchr(cn, '@')) {
        return false;
    }
    snprintf(out, cap, "%s", cn);
    return true;
}

/* Does the file open? Names the problem the way a user sees it (OpenSSL's own messages for
 * a missing file are cryptic). */
static bool readable(const char *what, const char *path, char *err, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot read --tls-%s '%s': %s", what, path, strerror(errno));
        return false;
    }
    fclose(f);
    return true;
}

static int ctx_setup(tr__tls_ctx *c, const char *cert, const char *key, const char *ca, char *err,
                     size_t cap) {
    char why[200];
    SSL_CTX *s = c->ssl;
    if (!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION)) {
        ssl_error(why, sizeof why, "TLS 1.3 unavailable");
        snprintf(err, cap, "TLS setup: %s", why);
        return TR_EINVAL;
    }
    if (SSL_CTX_use_certificate_chain_file(s, cert) != 1) {
        ssl_error(why, sizeof why, "no certificate");
        snprintf(err, cap, "--tls-cert '%s' is not a PEM certificate: %s", cert, why);
        return TR_EINVAL;
    }
    FILE *f = fopen(key, "rb");
    EVP_PKEY *pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }
    if (!pkey) {
        ssl_error(why, sizeof why, "no key");
        snprintf(err, cap, "--tls-key '%s' is not a PEM private key: %s", key, why);
        return TR_EINVAL;
    }
    int used = SSL_CTX_use_PrivateKey(s, pkey);
    EVP_PKEY_free(pkey);
    if (used != 1 || SSL_CTX_check_private_key(s) != 1) {
        ERR_clear_error();
        snprintf(err, cap, "--tls-key '%s' does not match --tls-cert '%s'", key, cert);
        return TR_EINVAL;
    }
    if (SSL_CTX_load_verify_locations(s, ca, NULL) != 1) {
        ssl_error(why, sizeof why, "no certificate");
        snprintf(err, cap, "--tls-ca '%s' is not a PEM CA bundle: %s", ca, why);
        return TR_EINVAL;
    }
    if (!cert_cn(SSL_CTX_get0_certificate(s), c->name, sizeof c->name)) {
        snprintf(err, cap, "--tls-cert '%s' has no subject CN usable as a node name", cert);
        return TR_EINVAL;
    }
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_num_tickets(s, 0); /* no resumption: every connection verifies afresh */
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    return 0;
}

int tr__tls_ctx_load(const char *cert, const char *key, const char *ca, tr__tls_ctx **out,
                     char *err, size_t err_cap) {
    TR_ASSERT(cert && key && ca && out);
    if (!readable("cert", cert, err, err_cap) || !readable("key", key, err, err_cap) ||
        !readable("ca", ca, err, err_cap)) {
        return TR_EINVAL;
    }
    tr__tls_ctx *c = calloc(1, sizeof *c);
    if (!c || !(c->ssl = SSL_CTX_new(TLS_method()))) {
        free(c);
        snprintf(err, err_cap, "TLS setup: out of memory");
        return TR_ENOMEM;
    }
    int rc = ctx_setup(c, cert, key, ca, err, err_cap);
    if (rc) {
        tr__tls_ctx_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

const char *tr__tls_ctx_name(const tr__tls_ctx *ctx) {
    return ctx->name;
}

void tr__tls_ctx_free(tr__tls_ctx *ctx) {
    if (ctx) {
        SSL_CTX_free(ctx->ssl);
        free(ctx);
    }
}

tr__tls *tr__tls_new(tr__tls_ctx *ctx, bool server) {
    tr__tls *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->ssl = SSL_new(ctx->ssl);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->rbio || !s->wbio) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        SSL_free(s->ssl);
        free(s);
        ERR_clear_error();
        return NULL;
    }
    /* An empty read BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(s->rbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    if (server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
    }
    return s;
}

void tr__tls_free(tr__tls *s) {
    if (s) {
        SSL_free(s->ssl); /* frees both BIOs */
        free(s);
    }
}

uint8_t *tr__tls_inbuf(tr__tls *s) {
    return s->in;
}

int tr__tls_feed(tr__tls *s, const uint8_t *p, size_t n) {
    TR_ASSERT(n <= TR__TLS_READ_CHUNK);
    if (BIO_ctrl_pending(s->rbio) + n > TR__TLS_BUFFERED_MAX) {
        return TR_ETOOBIG;
    }
    if (n > 0 && BIO_write(s->rbio, p, (int)n) != (int)n) {
        return TR_ENOMEM;
    }
    return 0;
}

/* Why the handshake failed: our verdict on the peer's certificate, or the alert or error. */
static void handshake_error(tr__tls *s, char *why, size_t cap) {
    long v = SSL_get_verify_result(s->ssl);
    char err[200];
    ssl_error(err, sizeof err, "connection closed during the TLS handshake");
    if (v != X509_V_OK) {
        snprintf(why, cap, "TLS: peer certificate refused: %s", X509_verify_cert_error_string(v));
    } else {
        snprintf(why, cap, "TLS handshake failed: %s", err);
    }
}

int tr__tls_handshake(tr__tls *s, char *why, size_t why_cap) {
    if (s->done) {
        return 1;
    }
    int rc = SSL_do_handshake(s->ssl);
    if (rc != 1) {
        int e = SSL_get_error(s->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            return 0;
        }
        handshake_error(s, why, why_cap);
        return TR_EAUTH;
    }
    /* Verified by OpenSSL against the CA bundle (SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT). */
    X509 *peer = SSL_get0_peer_certificate(s->ssl);
    if (!peer || SSL_get_verify_result(s->ssl) != X509_V_OK) {
        snprintf(why, why_cap, "TLS: peer certificate not verified");
        return TR_EAUTH;
    }
    if (!cert_cn(peer, s->peer, sizeof s->peer)) {
        snprintf(why, why_cap, "TLS: peer certificate has no subject CN usable as a node name");
        return TR_EAUTH;
    }
    s->done = true;
    return 1;
}

long tr__tls_read(tr__tls *s, uint8_t *dst, size_t cap, char *why, size_t why_cap) {
    TR_ASSERT(s->done && cap > 0);
    size_t got = 0;
    if (SSL_read_ex(s->ssl, dst, cap, &got) == 1) {
        return (long)got;
    }
    int e = SSL_get_error(s->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(why, why_cap, "peer closed its TLS session");
        return TR_ECLOSED;
    }
    char err[200];
    ssl_error(err, sizeof err, "bad record");
    snprintf(why, why_cap, "TLS: %s", err);
    return TR_EPROTO;
}

int tr__tls_write(tr__tls *s, const uint8_t *p, size_t n) {
    TR_ASSERT(s->done);
    size_t put = 0;
    /* A memory BIO grows, so a write is whole or fails (out of memory). */
    if (n > 0 && (SSL_write_ex(s->ssl, p, n, &put) != 1 || put != n)) {
        ERR_clear_error();
        return TR_EIO;
    }
    return 0;
}

size_t tr__tls_pending(const tr__tls *s) {
    return BIO_ctrl_pending(s->wbio);
}

size_t tr__tls_take(tr__tls *s, uint8_t *dst, size_t cap) {
    size_t pending = BIO_ctrl_pending(s->wbio);
    size_t n = pending < cap ? pending : cap;
    if (n == 0) {
        return 0;
    }
    int got = BIO_read(s->wbio, dst, (int)n);
    TR_ASSERT(got == (int)n); /* a memory BIO gives what it holds */
    return n;
}

const char *tr__tls_peer_name(const tr__tls *s) {
    return s->done ? s->peer : "";
}

int tr__tls_exporter(tr__tls *s, uint8_t out[TR__TLS_EXPORTER_LEN]) {
    TR_ASSERT(s->done);
    if (SSL_export_keying_material(s->ssl, out, TR__TLS_EXPORTER_LEN, EXPORTER_LABEL,
                                   strlen(EXPORTER_LABEL), NULL, 0, 0) != 1) {
        ERR_clear_error();
        return TR_EIO;
    }
    return 0;
}
