/* lock.h — the "lock" actor: named leases (locks 0..TR_LOCK_LOCKS_MAX-1), each kept by one
 * home node, reached through any node.
 *
 * Requests (bodies are msgpack arrays of integers; every node's "lock" forwards a request to
 * the home of its lock, node (lock mod N), with tr_service_forward_owner):
 *   acquire [lock]           -> the fencing token (an integer > 0): the caller holds the lock
 *                               for TR_LOCK_LEASE_MS from the moment it sent the request;
 *                               or a string: "held" (another token holds it), an error
 *   renew   [lock, token]    -> the token: the lease runs again for TR_LOCK_LEASE_MS from the
 *                               moment the renewal was sent; or "not holder"
 *   release [lock, token]    -> the token; or "not holder"
 *
 * The promise: at most one token holds a lock at any moment of true time, provided a holder
 * trusts its lease only for TR_LOCK_LEASE_MS from the send of its last successful acquire
 * or renew, measured by a clock that runs at the home's rate within the safety margin.
 * How: the home takes a lock back only when TR_LOCK_LEASE_MS + TR_LOCK_MARGIN_MS have passed
 * by its own clock since the last grant or renewal it answered (or on release). The clock
 * assumption: bounded drift, |rate error| <= TR_LOCK_MARGIN_MS / TR_LOCK_LEASE_MS between the
 * home and a holder (10%), and no jumps. A NODE_DOWN about the holder's node proves nothing
 * (a paused or cut-off node may still hold and act), so the home ignores it.
 *
 * Durable: the last token of each lock (written before the acquire's answer, which is
 * tr_reply_durable), so that a token is never handed out twice, crashes included. Leases
 * are not stored: a home that starts (or restarts) grants nothing for TR_LOCK_LEASE_MS +
 * TR_LOCK_MARGIN_MS, the longest a lease it may have granted before can still run.
 *
 * Planted bug "trust-node-down" (the place's bug): the home also watches every node
 * (tr_monitor_node) and takes a lock back at once when NODE_DOWN names its holder's node.
 * A paused holder that phi suspects comes back still holding a lease the home gave away.
 *
 * The spawn argument is the default tr_service_place; the state starts with it. */
#ifndef TR_ACTORS_LOCK_H
#define TR_ACTORS_LOCK_H

#include "troupe.h"

#define TR_LOCK_LOCKS_MAX 64
#define TR_LOCK_LEASE_MS 6000
#define TR_LOCK_MARGIN_MS 600

enum {
    TR_LOCK_ACQUIRE = TR_MSG_USER + 0x600,
    TR_LOCK_RENEW,
    TR_LOCK_RELEASE
};

extern const tr_behaviour tr__lock_behaviour;

#endif /* TR_ACTORS_LOCK_H */
