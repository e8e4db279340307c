/* crdt_durable.h — the durability mark the CRDT replicas share (actors/counter.c,
 * actors/orset_replica.c, actors/broadcast.c; docs/crdt.md).
 *
 * A replica sends its peers only its own changes known durable: a peer that took a change a
 * crash could still take back would keep it (max, a dot, a holder) after the replica lost it.
 * A replica's own changes are a position that only grows (its own operations, deliveries, or
 * the sum of its counter entries); the mark learns how far that position is durable with one
 * tr_durable_notify at a time. It is asked when the position moves (a change) and again at
 * every gossip round, and a replica pushes what a positive answer made durable to its peers at
 * once: the store's commits, not the node's clock, bring a change to the peers, so a node
 * whose clock was set back (its periodic timers stand still until the clock catches up)
 * still hands its last changes on. The mark knows nothing of the replica's state. */
#ifndef TR_ACTORS_CRDT_DURABLE_H
#define TR_ACTORS_CRDT_DURABLE_H

#include "troupe.h"

typedef struct tr__durable_mark {
    uint64_t durable; /* the position known durable */
    uint64_t asked;   /* the position the outstanding notification covers */
    uint64_t token;   /* that notification's correlation id */
    bool pending;     /* a notification is outstanding */
} tr__durable_mark;

/* A mark whose position `durable` is durable (recovered from the store, or 0). */
void tr__durable_mark_init(tr__durable_mark *m, uint64_t durable);
/* Asks for a notification covering position `at` unless one is outstanding or `at` is known
 * durable: true when it asked now (the caller may note what `at` stands for). */
bool tr__durable_mark_ask(tr_ctx *ctx, tr__durable_mark *m, uint64_t at);
/* A TR_MSG_DURABLE: true when it answers the outstanding notification with success, and
 * then m->durable is the position asked for; false for another actor's token or a failed
 * commit (the next ask tries again). */
bool tr__durable_mark_answer(tr__durable_mark *m, const tr_msg *msg);

#endif /* TR_ACTORS_CRDT_DURABLE_H */
