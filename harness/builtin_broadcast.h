/* builtin_broadcast.h — Maelstrom's broadcast as a service ("broadcast"; actors/broadcast.h,
 * docs/crdt.md): a node "broadcast" on every node, gossiping with retries until each peer
 * acknowledges.
 *
 * Workload (`troupe sim --workload broadcast`): each client uses its own node: "broadcast" a
 * fresh message (value: its id, (client id << 20) + its count, unique in the run; 80%) or
 * "read" (20%; value: the node's reply, a msgpack array of the ids it holds, kept as bytes).
 * broadcast: an integer is ok (durably delivered at that node), "full" fail, another string
 * or no answer info; read: an array is ok, anything else fail. Final state: each up node's
 * [id, deliveries, ...] (TR_BCAST_STATE). Declared nemesis: partition, crash, pause, loss.
 * Planted bugs: no-retry, no-dedup.
 *
 * Check broadcast-delivery (check_broadcast.c): after heal and quiet every up node has
 * delivered every acknowledged message exactly once; an indeterminate message on all of them
 * or on none (once one node delivered it, the retries must bring it everywhere); a refused
 * one, or an id nobody broadcast, on none. Violated on a message missing, delivered twice,
 * partial or unknown; unknown when no node answered. Measures: delivered (acknowledged
 * messages), missing, duplicates, never_read (acknowledged messages no read saw). */
#ifndef TR_HARNESS_BUILTIN_BROADCAST_H
#define TR_HARNESS_BUILTIN_BROADCAST_H

#include "troupe.h"

extern const tr_service tr__builtin_broadcast;

tr_verdict tr__broadcast_check_delivery(const tr_check_input *in, char *why, size_t cap);

#endif /* TR_HARNESS_BUILTIN_BROADCAST_H */
