/* orset.h — the "set" service's replica: an OR-set CRDT (add-wins observed-remove set without
 * tombstones, "ORSWOT"), replicated by delta-state anti-entropy (docs/crdt.md).
 *
 * The data type (tr__orset): sets of integer elements under integer keys. Each add of
 * element e under key k at node i makes a dot (i, seq) — seq counts node i's operations,
 * adds and removes — and the state holds one entry (k, e, node, seq) per (k, e, node) alive.
 * The causal context, the operations this replica has seen, is a version vector vv: it has
 * seen node i's operations 1..vv[i]. That compaction is exact because operations of one
 * origin are applied in their order (tr__orset_apply refuses a gap) and a join takes the
 * union of two such prefixes. A remove drops the entries of (k, e) it observed and leaves no
 * tombstone: the context remembers their dots, so a join or a late delta cannot bring them
 * back. Metadata stays bounded by the live elements: one dot per (element, adding node) and
 * TR_ORSET_NODES_MAX counters, whatever the number of operations.
 *
 * Deltas (tr__orset_delta): one operation of one origin, with its dot; a remove carries the
 * dots it removed (its context). A delta applies only in order (seq == vv[origin] + 1) and a
 * remove only once every dot it names is in the context (otherwise the add could arrive
 * afterwards and bring the element back): TR_EAGAIN, to be sent again later.
 *
 * The replica (tr__orset_behaviour, registered as "orset" on every node; spawn argument the
 * default tr_service_place):
 *   add    [key, elem] -> elem, once durable; "full" or a store error: nothing changed
 *   remove [key, elem] -> 1 once durable (every entry of elem this replica held is gone),
 *                         or "absent" (it held none: nothing changed)
 *   read   [key]       -> the elements under key, ascending, as an array
 *   state  []          -> [[key, [elems...]]...] of every key (the final state for checks)
 * Anti-entropy: every TR_ORSET_GOSSIP_MS each replica sends every other one its own
 * operations from what that peer acknowledged (at most TR_ORSET_BATCH_MAX), or, when its log
 * of own operations (TR_ORSET_LOG_MAX) no longer reaches back that far, its whole state,
 * which the peer joins. The peer answers with the number of the origin's operations it has
 * (an acknowledgement that may also go down: a peer that crashed lost what was not durable,
 * and is sent it again) and its version vector. A peer that lags behind on a third origin's
 * operations without moving for TR_ORSET_RELAY_ROUNDS answers in a row cannot get them from
 * their origin (its disk is gone for good, or a partition cuts the two apart) and is sent the
 * whole state too. Only own operations known durable are shipped (actors/crdt_durable.h; the
 * peers that lack them get them as soon as they are durable, not only at the next round): a
 * crash can then never reuse a dot a peer has seen.
 * Durability: every applied delta is journaled and the whole state is snapshotted every
 * TR_ORSET_SNAPSHOT_EVERY events and after each join (the journal truncated up to it).
 *
 * Planted bug (tr_service_place.bug): "remove-drops-context" ships a remove without its
 * dots: the other replicas keep the element the remover dropped. */
#ifndef TR_ACTORS_ORSET_H
#define TR_ACTORS_ORSET_H

#include "troupe.h"

#define TR_ORSET_NODES_MAX 16
#define TR_ORSET_ENTRIES_MAX 8192
#define TR_ORSET_LOG_MAX 256
#define TR_ORSET_BATCH_MAX TR_ORSET_LOG_MAX
#define TR_ORSET_GOSSIP_MS 100
#define TR_ORSET_RELAY_ROUNDS 5 /* lagging reports before a peer is sent the whole state */
/* Rounds between whole states to a peer not heard from since the last (1, 2, up to this). */
#define TR_ORSET_FULL_BACKOFF_MAX 4
#define TR_ORSET_SNAPSHOT_EVERY 512
#define TR_ORSET_NAME "orset"

enum {
    TR_ORSET_ADD = TR_MSG_USER + 0xa00,
    TR_ORSET_REMOVE,
    TR_ORSET_READ,
    TR_ORSET_STATE,
    TR_ORSET_DELTAS, /* [origin, vv[origin], delta...]: between replicas */
    TR_ORSET_FULL,   /* [origin, state]: a whole state to join */
    TR_ORSET_ACK,    /* [sender, operations of origin the sender has, sender's vv...] */
    TR_ORSET_TICK
};

enum {
    TR_ORSET_BUG_REMOVE_DROPS_CONTEXT = 1u << 0
};

typedef struct tr__orset_dot {
    uint32_t node;
    uint32_t seq;
} tr__orset_dot;

typedef struct tr__orset_entry {
    int64_t key, elem;
    uint32_t node, seq;
} tr__orset_entry;

typedef struct tr__orset {
    uint32_t n; /* nodes, <= TR_ORSET_NODES_MAX */
    uint32_t vv[TR_ORSET_NODES_MAX];
    uint32_t count;
    tr__orset_entry e[TR_ORSET_ENTRIES_MAX]; /* ascending by (key, elem, node) */
} tr__orset;

typedef struct tr__orset_delta {
    tr__orset_dot dot; /* the operation: its origin and seq */
    bool remove;
    int64_t key, elem;
    uint32_t ndots;                         /* remove: the dots it removed */
    tr__orset_dot dots[TR_ORSET_NODES_MAX]; /* one per adding node at most */
} tr__orset_delta;

void tr__orset_init(tr__orset *s, uint32_t n);
/* A local add at node self: 0 with its delta in *d, TR_EFULL (TR_ORSET_ENTRIES_MAX). */
int tr__orset_add(tr__orset *s, uint32_t self, int64_t key, int64_t elem, tr__orset_delta *d);
/* A local remove: 0 with its delta, TR_ENOENT when the replica holds no entry of elem. */
int tr__orset_remove(tr__orset *s, uint32_t self, int64_t key, int64_t elem, tr__orset_delta *d);
/* Applies a delta: 1 applied, 0 already seen, TR_EAGAIN (out of order, or a remove whose
 * dots are not all seen yet), TR_EFULL, TR_EINVAL (a bad node). */
int tr__orset_apply(tr__orset *s, const tr__orset_delta *d);
/* s = s joined with other (same n): 1 when s changed, 0 when other held nothing s lacked,
 * TR_EFULL (s unchanged), TR_EINVAL. */
int tr__orset_join(tr__orset *s, const tr__orset *other);
bool tr__orset_contains(const tr__orset *s, int64_t key, int64_t elem);

/* Encodings: a delta as [origin, seq, remove, key, elem, node, seq, node, seq...]; a state
 * as [n, [vv...], [key, elem, node, seq, ...]]. Decoders: 0 or TR_EPROTO. */
void tr__orset_delta_encode(const tr__orset_delta *d, tr_mp_writer *w);
int tr__orset_delta_decode(tr_mp_reader *r, tr__orset_delta *d);
void tr__orset_encode(const tr__orset *s, tr_mp_writer *w);
int tr__orset_decode(tr_mp_reader *r, tr__orset *s);
/* The worst-case sizes of those encodings. */
#define TR_ORSET_DELTA_BYTES_MAX (6 + 5 * 9 + 2 * 9 * TR_ORSET_NODES_MAX)
#define TR_ORSET_STATE_BYTES_MAX (32 + 9 * TR_ORSET_NODES_MAX + 4 * 9 * TR_ORSET_ENTRIES_MAX)

extern const tr_behaviour tr__orset_behaviour;

#endif /* TR_ACTORS_ORSET_H */
