/*
 * inbound.h — what the transport reads: frames cut from each connection's stream,
 * dispatched, and paused while a local receiver is backlogged.
 *
 * What: bytes go straight into the connection's frame reader (frame.h) (with TLS, they are
 * decrypted into it: the TLS handshake, then plaintext, through tls.h); each whole frame
 * goes to the handshake until it completes, then to on_message (envelopes) or to the
 * control handlers (HEARTBEAT, GOSSIP, BYE). Any frame counts as a sign of life for the
 * failure detector. A bad frame closes only its connection, with a log line saying why.
 * Back-pressure: when on_message answers TR_TRANSPORT_PAUSE, reading that connection stops
 * (nothing is dropped: frames already buffered are handled on resume, in order) and
 * t->resume polls the receiver, for at most t->pause_max_ms per pause (transport.h).
 * Loop thread only.
 */
#ifndef TR_CLUSTER_INBOUND_H
#define TR_CLUSTER_INBOUND_H

#include "cluster/transport_internal.h"

/* libuv's read callbacks for a connection's handle (uv_read_start). */
void tr__inbound_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void tr__inbound_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
/* TLS: steps the connection's TLS handshake on what it has received (a client's first
 * flight on none), sends its output, and once done starts protocol 2 on top and reads on. */
void tr__inbound_tls_step(conn *c);

#endif
