/* linkv.h — lin-kv, a linearizable key-value store on Raft (troupe.h, "Raft"): an actor on
 * every node holds a replica of the table (keys 0..TR__LINKV_KEYS-1, each unset or an int)
 * and answers read, write and compare-and-set through any node, forwarding to the leader.
 * Requests: read [key], write [key, value], cas [key, from, to]. Answer: [code, value]: code
 * TR__LINKV_OK (value: what a read read, nil when unset), or a definite refusal (the
 * operation certainly had no effect): TR__LINKV_MISMATCH (cas: the value differs),
 * TR__LINKV_UNSET (cas on an unset key), TR__LINKV_NO_LEADER (value: the leader's node
 * index when one is known), TR__LINKV_BUSY, TR__LINKV_BAD. A request from a client on another
 * node (`troupe call`) is answered only by the leader: the others say which node leads.
 * No answer: a write or cas may still take effect. A write or cas is applied at most once
 * per (client address, correlation id), however often the network delivers it. `member`
 * changes the Raft configuration (one replica at a time). The harness's descriptor is
 * harness/builtin_linkv.c. */
#ifndef TR_ACTORS_LINKV_H
#define TR_ACTORS_LINKV_H

#include "troupe.h"

#define TR__LINKV_KEYS 64
#define TR__LINKV_NAME "linkv" /* the registered name on every node */

enum {
    TR__LINKV_READ = TR_MSG_USER,
    TR__LINKV_WRITE,
    TR__LINKV_CAS,
    TR__LINKV_STATE, /* answer: an array of TR__LINKV_KEYS values (nil when unset) */
    /* [node index, add]: adds or removes one replica as a Raft member (tr_raft_change), on
     * the leader only; [0, nil] once committed, 3 not the leader (value: the leader), 4 a
     * change in flight or the replica to add did not catch up, 5 a bad request. */
    TR__LINKV_MEMBER,
    /* Between replicas, for a client whose replica does not hear from the leader: the
     * request's own fields, then the client's node, actor and correlation id (its session).
     * RELAY (read, write, cas): to another replica, which hands it on to its leader as LEADER;
     * LEADER: handled only by a leader. Answered only when done (never a refusal: another
     * copy of the same request may be on its way). */
    TR__LINKV_RELAY = TR_MSG_USER + 8,
    TR__LINKV_LEADER = TR_MSG_USER + 12,
    TR__LINKV_RAFT_BASE = TR_MSG_USER + 16
};

enum {
    TR__LINKV_OK = 0,
    TR__LINKV_MISMATCH = 1,
    TR__LINKV_UNSET = 2,
    TR__LINKV_NO_LEADER = 3,
    TR__LINKV_BUSY = 4,
    TR__LINKV_BAD = 5
};

/* The replica's leader log: every change of (term, leader) it sees, with its own clock's
 * milliseconds, the last TR__LINKV_LEADERS_MAX of them in a ring (entry k at k % MAX), kept in
 * the actor's store under TR__LINKV_LEADERS_KEY as this struct's bytes. leader -1: none known
 * in that term (an election is under way, or this replica stopped leading). The simulator's
 * election measure reads it (harness/builtin_linkv.c). */
#define TR__LINKV_LEADERS_MAX 128
#define TR__LINKV_LEADERS_KEY "ll"

typedef struct tr__linkv_leader_seen {
    uint64_t term;
    int64_t leader; /* node index, or -1 */
    uint64_t ms;    /* tr_now_ms on this replica */
} tr__linkv_leader_seen;

typedef struct tr__linkv_leaders {
    uint64_t count; /* changes seen in all; the ring holds the last MAX */
    tr__linkv_leader_seen seen[TR__LINKV_LEADERS_MAX];
} tr__linkv_leaders;

/* The spawn argument (copied by the runtime). */
typedef struct tr__linkv_arg {
    uint32_t node_index, node_count;
    uint32_t bugs; /* TR_RAFT_BUG_* */
    char names[TR_RAFT_NODES_MAX][TR_NAME_MAX + 1];
} tr__linkv_arg;

extern const tr_behaviour tr__linkv_behaviour;

#endif
