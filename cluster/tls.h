/*
 * tls.h — mutual TLS for the transport's connections: OpenSSL behind a small interface of
 * bytes in and bytes out, so that the libuv code (conn.c, inbound.c, outbound.c) never
 * touches OpenSSL and this module never touches a socket.
 *
 * What: a context (tr__tls_ctx) holds a node's certificate, key and CA bundle; each
 * connection gets a session (tr__tls) over two memory BIOs. Ciphertext read from the socket
 * is fed in (tr__tls_feed); the handshake is stepped (tr__tls_handshake); plaintext comes out
 * (tr__tls_read) for the frame reader; plaintext frames go in (tr__tls_write) and the
 * ciphertext to send is taken out (tr__tls_take) for the socket. The frames themselves are
 * protocol 2's, unchanged (docs/tls.md).
 * Policy: TLS 1.3 only; a peer certificate is required in both directions
 * (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT) and verified against the CA bundle;
 * no session tickets or resumption. The peer's name is its certificate's subject CN.
 * Bounds: a session holds at most TR__TLS_BUFFERED_MAX bytes of unprocessed ciphertext
 * (tr__tls_feed refuses more), so an unauthenticated peer costs a few tens of KiB; the
 * ciphertext waiting to be taken is at most what the last writes produced.
 * Ownership: a context is owned by its creator; a session keeps its context alive (OpenSSL
 * counts references), so freeing a context that sessions still use is safe (a reload).
 * Threading: none; a session belongs to its connection's thread.
 */
#ifndef TR_CLUSTER_TLS_H
#define TR_CLUSTER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR__TLS_BUFFERED_MAX (40u << 10) /* unprocessed ciphertext per connection */
#define TR__TLS_READ_CHUNK (16u << 10)   /* what one socket read takes at most */
#define TR__TLS_EXPORTER_LEN 32          /* the keying material standing in for a secret */

typedef struct tr__tls_ctx tr__tls_ctx;
typedef struct tr__tls tr__tls;

/* Loads cert (PEM chain), key (PEM) and ca (PEM bundle) into a new context. 0 with *out
 * owned, or TR_EINVAL with a one-line reason in err (unreadable file, key not matching the
 * certificate, no CA certificate, no CN). */
int tr__tls_ctx_load(const char *cert, const char *key, const char *ca, tr__tls_ctx **out,
                     char *err, size_t err_cap);
/* The subject CN of ctx's own certificate (borrowed, valid while ctx lives). */
const char *tr__tls_ctx_name(const tr__tls_ctx *ctx);
/* Frees ctx (NULL: nothing); sessions made from it keep working. */
void tr__tls_ctx_free(tr__tls_ctx *ctx);

/* A session on ctx (borrowed: the session takes its own reference), as the TLS server
 * (accepted connections) or client. NULL when out of memory. */
tr__tls *tr__tls_new(tr__tls_ctx *ctx, bool server);
void tr__tls_free(tr__tls *s);
/* Where the next socket read goes: TR__TLS_READ_CHUNK bytes owned by the session. */
uint8_t *tr__tls_inbuf(tr__tls *s);
/* n ciphertext bytes (at most TR__TLS_READ_CHUNK) arrived, in s's inbuf or at p. 0, or
 * TR_ETOOBIG when more than TR__TLS_BUFFERED_MAX would wait unprocessed. */
int tr__tls_feed(tr__tls *s, const uint8_t *p, size_t n);
/* Steps the handshake: 1 done (the peer's certificate verified, its name known), 0 more
 * bytes needed, or TR_EAUTH with why set. Take the output after each call. */
int tr__tls_handshake(tr__tls *s, char *why, size_t why_cap);
/* Decrypts into dst (cap bytes): how many (> 0), 0 when more ciphertext is needed, or
 * TR_ECLOSED (the peer closed its TLS side) / TR_EPROTO with why set. */
long tr__tls_read(tr__tls *s, uint8_t *dst, size_t cap, char *why, size_t why_cap);
/* Encrypts p[0..n) (handshake done). 0 or TR_EIO. */
int tr__tls_write(tr__tls *s, const uint8_t *p, size_t n);
/* Ciphertext waiting to be sent, and taking it (up to cap bytes; returns how many). */
size_t tr__tls_pending(const tr__tls *s);
size_t tr__tls_take(tr__tls *s, uint8_t *dst, size_t cap);
/* The peer's certificate name once the handshake is done (borrowed, valid while s lives). */
const char *tr__tls_peer_name(const tr__tls *s);
/* Keying material exported from the session (RFC 8446 7.5, label "EXPORTER-troupe-
 * handshake"): the same on both ends and bound to this connection. 0 or TR_EIO. */
int tr__tls_exporter(tr__tls *s, uint8_t out[TR__TLS_EXPORTER_LEN]);

#endif
