/* counter.h — the "counter" service's replica: a PN-counter CRDT on every node, merged by
 * gossip (troupe's AP counter; docs/crdt.md).
 *
 * The data type (tr__pncounter): per node i two grow-only totals, p[i] (increments made at
 * node i) and m[i] (decrements, as a positive amount); the value is sum(p) - sum(m). A node
 * changes only its own entry; merge takes the larger of each entry, which is commutative,
 * associative and idempotent, so replicas that have seen the same entries agree whatever the
 * order, loss or duplication of the gossip. Its metadata is 2 integers per node: bounded by
 * the cluster size (TR_COUNTER_NODES_MAX), not by the number of operations.
 *
 * The replica (tr__counter_behaviour, registered as "counter" on every node; spawn argument
 * the default tr_service_place; its planted bug from the place):
 *   add   [delta]  -> delta, answered once the node's own entry is durable (tr_reply_durable);
 *                     delta != 0, |delta| <= TR_COUNTER_DELTA_MAX; a string when refused
 *                     ("bad request", a store error): then nothing changed.
 *   read  []       -> the local value (an integer), at once: it may include an add of this
 *                     node that is not yet durable, whose own answer is then still pending.
 *   state []       -> as read (the final state a check asks every node for).
 * Every TR_COUNTER_GOSSIP_MS each replica sends its whole counter to every other node
 * ("counter@nK"): lost or duplicated gossip is harmless, the next round carries it again.
 * Durability: only the node's own entry is stored (one key); the others come back by
 * gossip after a restart. The own entry a replica gossips is the last one it knows durable
 * (actors/crdt_durable.h; a newer one goes to every other node as soon as it is durable),
 * never one a crash could take back: otherwise a peer could hold a larger own entry than
 * the node recovers, and max would hide the node's next adds.
 *
 * Planted bugs (tr_service_place.bug): "merge-sum" merges by adding entries instead of
 * taking their maximum (a duplicated or repeated gossip counts twice); "no-gossip" never
 * sends gossip (replicas never converge). */
#ifndef TR_ACTORS_COUNTER_H
#define TR_ACTORS_COUNTER_H

#include "troupe.h"

#define TR_COUNTER_NODES_MAX 64
#define TR_COUNTER_DELTA_MAX ((int64_t)1 << 40)
#define TR_COUNTER_GOSSIP_MS 100
#define TR_COUNTER_NAME "counter"

enum {
    TR_COUNTER_ADD = TR_MSG_USER + 0x900,
    TR_COUNTER_READ,
    TR_COUNTER_STATE,
    TR_COUNTER_GOSSIP, /* [n, p0..p(n-1), m0..m(n-1)], between replicas */
    TR_COUNTER_TICK    /* the gossip timer */
};

enum {
    TR_COUNTER_BUG_MERGE_SUM = 1u << 0,
    TR_COUNTER_BUG_NO_GOSSIP = 1u << 1
};

typedef struct tr__pncounter {
    uint32_t n; /* nodes, <= TR_COUNTER_NODES_MAX */
    uint64_t p[TR_COUNTER_NODES_MAX];
    uint64_t m[TR_COUNTER_NODES_MAX];
} tr__pncounter;

void tr__pncounter_init(tr__pncounter *c, uint32_t n);
/* Adds delta at node `node`: 0, or TR_EINVAL (a bad node, delta 0 or out of range). */
int tr__pncounter_add(tr__pncounter *c, uint32_t node, int64_t delta);
/* c = c joined with other (entry-wise max; bugs TR_COUNTER_BUG_MERGE_SUM: sum). */
void tr__pncounter_merge(tr__pncounter *c, const tr__pncounter *other, uint32_t bugs);
int64_t tr__pncounter_value(const tr__pncounter *c);
/* [n, p..., m...] into w; decode: 0 or TR_EPROTO (n must be c's). */
void tr__pncounter_encode(const tr__pncounter *c, tr_mp_writer *w);
int tr__pncounter_decode(tr__pncounter *c, const void *body, size_t len);

extern const tr_behaviour tr__counter_behaviour;

#endif /* TR_ACTORS_COUNTER_H */
