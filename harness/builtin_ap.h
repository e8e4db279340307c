/* builtin_ap.h — what the built-in AP register service adds to its replicas for a simulation:
 * a state actor and its checks (harness/builtin.c puts them in the "ap" descriptor).
 *
 * State: "ap-state" on every node answers TR__AP_STATE_REQUEST by reading keys
 * 0..TR__AP_STATE_KEYS-1 from its own node's "ap" replica, and replies once every read has
 * answered: a msgpack array of [key, value] pairs, the keys that hold a value, in key order
 * (an empty body when a read failed: that node's state is unknown).
 *
 * Checks, over the history and those final states (after the heal, the settling and a quiet
 * second), in the order a report names the first one broken:
 *   1. converged: every node that answered holds the same keys with the same values;
 *   2. no-phantom: every value held was written by a write that did not fail;
 *   3. no-lost-write: an acknowledged write of v to k is lost when the value held for k is
 *      neither v nor written by a write that did not complete before the acknowledged one
 *      was invoked (last-writer-wins lets concurrent writes overwrite each other, no more).
 *      Clock faults and faults that crash a node (crash; the storage faults io-error,
 *      disk-full and corrupt) in the fault timeline allow losses: a skewed clock lets an
 *      older write win, a crash takes an acknowledged write not yet durable nor gossiped
 *      (actors/registers.h); the check then holds. It reports the measure "lost_writes"
 *      (tr_check_measure), and its why names the first one lost;
 *   4. accepts-every-op: no operation failed (an AP register refuses nothing).
 * Values are compared as integers (the workload writes unique random values).
 * Everything here uses troupe.h only: it builds into troupe-ap.so too. Memory: O(ops) scratch
 * per check, freed before it returns; states of at most TR__AP_STATE_KEYS keys.
 */
#ifndef TR_HARNESS_BUILTIN_AP_H
#define TR_HARNESS_BUILTIN_AP_H

#include "troupe.h"

#define TR__AP_STATE_REQUEST (TR_MSG_USER + 0x1a0)
#define TR__AP_STATE_KEYS 64
#define TR__AP_CHECK_COUNT 4

extern const tr_behaviour tr__ap_state_behaviour;
extern const tr_check tr__ap_checks[TR__AP_CHECK_COUNT];

#endif /* TR_HARNESS_BUILTIN_AP_H */
