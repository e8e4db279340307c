/* builtin_lock.h — the lease lock as a service: the descriptor of actors/lock.h ("lock" on
 * every node; requests acquire, renew, release), its workload and its check.
 * `troupe sim --workload lock` runs it through the experiment runner; it also builds as
 * zig-out/lib/troupe-lock.so. Declared nemesis: pause, partition. Planted bug:
 * trust-node-down (a home takes a lock back when NODE_DOWN names its holder's node).
 *
 * Workload (a stateful tr_workload): each client, through its own node's "lock", acquires a
 * random lock of min(key_count, TR_LOCK_LOCKS_MAX); once it holds one it keeps it for
 * 0.2..6 s, renewing every TR_LOCK_LEASE_MS / 3, then releases it. History: f = "acquire"
 * (key = lock; the ok completion's value = the token), "renew" and "release" (value = the
 * token). A fail of acquire ("held") is retried after a think time; a renew refused ends the
 * hold (the client lost the lock). After the workload time a client that holds a lock
 * releases it (busy until then).
 *
 * Check "single-owner", over the history alone: every ok acquire or renew of token T on
 * lock K, invoked at i and completed at c, lets T hold K over [c, i + TR_LOCK_LEASE_MS) (a
 * lease is trusted for its duration from the moment its request left, never longer), cut at
 * the invoke of T's release. Two different tokens' spans on one lock must not overlap.
 * Check "tokens-grow": an acquire invoked after another acquire of the same lock completed
 * ok gets a larger token (fencing; the home's token counter must survive its crashes).
 * Everything here uses troupe.h and actors/ only: it builds into troupe-lock.so too. */
#ifndef TR_HARNESS_BUILTIN_LOCK_H
#define TR_HARNESS_BUILTIN_LOCK_H

#include "troupe.h"

extern const tr_service tr__builtin_lock;

/* The checks (exposed for tests that run them over a history of their own). */
tr_verdict tr__lock_check_single_owner(const tr_check_input *in, char *why, size_t cap);
tr_verdict tr__lock_check_tokens_grow(const tr_check_input *in, char *why, size_t cap);

#endif /* TR_HARNESS_BUILTIN_LOCK_H */
