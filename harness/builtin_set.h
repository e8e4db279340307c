/* builtin_set.h — the OR-set as a service ("set"; actors/orset.h, docs/crdt.md): a replica
 * "orset" on every node, replicated by delta-state anti-entropy.
 *
 * Workload (`troupe sim --workload set`): each client uses its own node's replica, on keys
 * 0..--keys-1: "add" a fresh element (value: (client id << 20) + its count, unique in the
 * run; 70%), "remove" one it added and saw acknowledged (10%; an add when it has none) or
 * "read" a key (20%; value: the replica's reply, a msgpack array of the elements ascending,
 * kept as bytes). add and remove: an integer is ok, "absent" and "full" fail, another string
 * or no answer info; read: an array is ok, anything else fail. Final state: each up node's
 * [[key, [elems...]]...] (TR_ORSET_STATE). Declared nemesis: partition, crash, pause, loss.
 * Planted bug: remove-drops-context.
 *
 * Check set-full (check_set.c), in the spirit of Jepsen's set-full for an available set:
 * after heal and quiet every up node holds every element whose add was acknowledged and
 * never removed (else lost), none whose remove was acknowledged (else resurrected: a remove
 * takes away what its replica observed, and every element is added once, so nothing can
 * justify it), and all up nodes hold the same sets. Violated on lost, resurrected or
 * disagreeing replicas; unknown when no node answered. Measures: lost, stale (elements some
 * read of their key missed although it was invoked after their add was acknowledged and
 * completed before any remove of them was invoked: what an available set allows while
 * partitioned), never_read (acknowledged adds no read saw) and resurrected. */
#ifndef TR_HARNESS_BUILTIN_SET_H
#define TR_HARNESS_BUILTIN_SET_H

#include "troupe.h"

extern const tr_service tr__builtin_set;

tr_verdict tr__set_check_full(const tr_check_input *in, char *why, size_t cap);

#endif /* TR_HARNESS_BUILTIN_SET_H */
