/*
 * cluster.h — internal helpers shared by the cluster glue and the CLI (the public API is
 * the cluster section of troupe.h).
 *
 * cluster.c plugs the transport (transport.h) into a real runtime: its remote-send hook
 * encodes envelopes (runtime/codec.h) on the sending worker's thread and queues them on the
 * peer's bounded queue; inbound kind-1 frames go through tr__envelope_decode, which runs
 * tr__msgpack_check over the whole payload before decoding anything; they must come from the
 * node that sent them (from.node == the link's peer) and are handed to tr__node_deliver;
 * node down/up become tr__node_event.
 *
 * Inbound back-pressure: remote senders cannot be muted like local ones, so when a delivery
 * leaves its receiver over the node's mute threshold, on_message answers
 * TR_TRANSPORT_PAUSE and the transport stops reading that peer until the receiver is back
 * under half the threshold (or a capped pause elapses: see transport.h). The receiver's
 * mailbox then holds at most the threshold plus one frame per capped pause. The whole link
 * waits (TCP is one ordered stream): other receivers on this node hear from that peer later,
 * nothing is dropped, and the peer's senders meet its bounded queue (TR_EFULL).
 */
#ifndef TR_CLUSTER_CLUSTER_H
#define TR_CLUSTER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

/* Checks and decodes one kind-1 payload from peer `from`; clock (borrowed) makes its deadline
 * absolute (codec.h). *out owned (tr__pool_release). TR_EPROTO / TR_ETOOBIG / TR_EVERSION
 * for malformed input, TR_EPROTO if spoofed. */
int tr__cluster_decode(uint32_t from, const uint8_t *payload, size_t len, const tr_node *clock,
                       tr_msg **out, char *name_out);

/* What this node's transport knows, copied for `troupe node --metrics` and `troupe status`:
 * tr__cluster_view_refresh asks the I/O thread for a fresh copy (any thread; returns at once,
 * the copy lands a moment later); tr__cluster_view_get copies the last one out (any thread):
 * the transport's counters and up to cap members, returning how many (0, stats zeroed,
 * before the first refresh ran). */
struct tr_transport_member;
struct tr_transport_stats;
void tr__cluster_view_refresh(tr_cluster *c);
int tr__cluster_view_get(tr_cluster *c, struct tr_transport_stats *stats,
                         struct tr_transport_member *out, size_t cap);
/* tr_cluster_create with an access policy enforced on every envelope that arrives
 * (policy_gate.h); gate borrowed, must outlive the cluster; NULL: none. */
struct tr__policy_gate;
int tr__cluster_create_gated(tr_runtime *rt, const tr_cluster_config *cfg,
                             struct tr__policy_gate *gate, tr_cluster **out);

#endif
