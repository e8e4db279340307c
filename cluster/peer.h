/*
 * peer.h — the transport's peer table and links: who is known, which connection carries
 * each peer's link, and what happens when a link comes up or goes down.
 *
 * What: a peer is a cluster member (or a connected client) known by node id, in a table of
 * at most PEERS_MAX slots that other threads read under t->mu (sends look their peer up).
 * A completed handshake becomes the peer's one link (when two connections race, both sides
 * keep the same one: see transport.h); a link going down drops what was queued for the
 * peer, frees a client's slot, and reports a member down once its failure detector says so.
 * Threading: tr__peer_find_locked with t->mu held, any thread; the rest on the loop thread.
 */
#ifndef TR_CLUSTER_PEER_H
#define TR_CLUSTER_PEER_H

#include "cluster/transport_internal.h"

/* The peer in use with node id `id`, or NULL. t->mu held. */
peer *tr__peer_find_locked(tr_transport *t, uint32_t id);
/* The same, taking t->mu. The pointer stays valid while the transport lives (slots are
 * reused, never freed, before destroy). */
peer *tr__peer_find(tr_transport *t, uint32_t id);
/* Adds (or reuses a free slot for) a peer. NULL when the table is full. */
peer *tr__peer_add(tr_transport *t, uint32_t id, const char *name, const char *addr,
                   uint64_t incarnation, bool client);
/* Sets whether sends to p are accepted; when not, drops what is queued for p. */
void tr__peer_set_reachable(tr_transport *t, peer *p, bool reachable);
/* The handshake on c completed: attach c to its peer as the link (or close c). */
void tr__peer_authenticated(tr_transport *t, conn *c);
/* p's link went down (its connection is closing) for the reason `why`. */
void tr__peer_link_down(tr_transport *t, peer *p, const char *why);

#endif
