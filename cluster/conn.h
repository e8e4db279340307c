/*
 * conn.h — one TCP connection of the transport: created, started, closed once.
 *
 * What: a conn is a libuv TCP handle with its frame reader, its handshake and the batch
 * being written. It is counted in t->pending_conns until authenticated and in
 * t->open_handles until its handle closed; t->conns lists every one not yet freed.
 * Closing is idempotent and always says why in one log line; a connection that carried a
 * link takes the link down with it (peer.h), one dialled for a seed or member ends that
 * dial (dial.h). With TLS (tls.h) every byte goes through the connection's session: the
 * TLS handshake first, then protocol 2's frames, unchanged, inside it. Loop thread only.
 */
#ifndef TR_CLUSTER_CONN_H
#define TR_CLUSTER_CONN_H

#include "cluster/transport_internal.h"

/* A new connection (inbound if !outbound), its handshake deadline set, listed in t->conns.
 * NULL when out of memory. */
conn *tr__conn_new(tr_transport *t, bool outbound);
/* The TCP connection is established: start the handshake and reading. */
void tr__conn_start(conn *c);
/* Closes c (once; later calls do nothing) with a log line at `level` giving the reason. */
void tr__conn_close(conn *c, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The peer's name for log lines: the linked peer, the name its HELLO gave, or "?". */
const char *tr__conn_who(conn *c);
/* Writes handshake or BYE bytes (copied) straight on c, ahead of nothing queued.
 * 0, TR_ENOMEM, or a translated libuv error. */
int tr__conn_write_raw(conn *c, const uint8_t *data, size_t len);
/* Best effort and never blocking (a last frame before a close: BYE, REASON): writes what
 * the socket takes now; with TLS, the frame whole or nothing, and len 0 sends what the
 * session produced (an alert before a close). */
void tr__conn_try_write(conn *c, const uint8_t *data, size_t len);
/* TLS (c->tls set): sends the ciphertext the session has produced. 0 or an error. */
int tr__conn_tls_flush(conn *c);
/* TLS: the handshake completed (peer verified): protocol 2's handshake starts on top. */
void tr__conn_tls_up(conn *c);

#endif
