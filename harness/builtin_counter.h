/* builtin_counter.h — the PN-counter as a service ("counter"; actors/counter.h,
 * docs/crdt.md): a replica "counter" on every node, merged by gossip.
 *
 * Workload (`troupe sim --workload counter`): each client uses its own node's replica: "add"
 * (value: a delta in -5..-1, 1..5) or "read" (value: what it read), even odds, one counter
 * (key 0). add: an integer is ok (durable at that node), a string fail, no answer info; read:
 * an integer is ok, anything else fail. Final state: each up node's value (TR_COUNTER_STATE).
 * Declared nemesis: partition, crash, pause. Planted bugs: merge-sum, no-gossip.
 *
 * Checks (check_counter.c), in the spirit of Jepsen's counter checker, for a counter that is
 * available rather than linearizable:
 *   counter-reads: every ok read r at node k lies in [lo, hi], where the adds it must have
 *     seen are the ok adds made at node k that completed before r was invoked (a replica
 *     includes its own acknowledged adds, durable across its crashes), and the adds it may
 *     have seen are every other add invoked before r completed and not failed:
 *     lo = must + (the sum of the negative ones it may have seen), hi = must + (the positive).
 *   counter-final: after heal and quiet every up node's value is the sum of the ok adds plus
 *     the deltas of some subset of the indeterminate (info) ones, and all up nodes agree.
 *     Unknown when no node answered, or the indeterminate deltas span more than 2^24. */
#ifndef TR_HARNESS_BUILTIN_COUNTER_H
#define TR_HARNESS_BUILTIN_COUNTER_H

#include "troupe.h"

extern const tr_service tr__builtin_counter;

tr_verdict tr__counter_check_reads(const tr_check_input *in, char *why, size_t cap);
tr_verdict tr__counter_check_final(const tr_check_input *in, char *why, size_t cap);

#endif /* TR_HARNESS_BUILTIN_COUNTER_H */
