/*
 * dial.h — outbound connections for seeds and members: resolve, connect, fall back, back off.
 *
 * What: a dial of "host:port" connects at once to a numeric address; a host name is first
 * resolved on libuv's thread pool (uv_getaddrinfo, AF_UNSPEC), so a slow resolver never
 * stalls the loop, and its first DIAL_ADDRS_MAX addresses are tried in getaddrinfo's order.
 * While a dial is under way its seed or member counts as dialling (never dialled twice at
 * once); a dial that fails (resolution, connect, or a handshake refused) schedules the next
 * one after the failure detector's backoff (membership.h). A malformed address is logged
 * and never dialled. Every resolution is listed in t->resolves and counted in t->resolving
 * until its callback ran, so the transport is freed only after the last one.
 * Loop thread only.
 */
#ifndef TR_CLUSTER_DIAL_H
#define TR_CLUSTER_DIAL_H

#include "cluster/transport_internal.h"

/* Dials addr for seed s or member p (exactly one of them is not NULL). */
void tr__dial(tr_transport *t, const char *addr, seed *s, peer *p);
/* A dial for s or p (either may be NULL) ended without a link: they are no longer
 * dialling, and if it failed, their next dial waits for the backoff delay. */
void tr__dial_done(tr_transport *t, seed *s, peer *p, bool failed);
/* Cancels the resolutions in flight (closing): their callbacks still run, with
 * UV_ECANCELED, or with the result if getaddrinfo was already running. */
void tr__dial_cancel_all(tr_transport *t);

#endif
