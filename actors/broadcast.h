/* broadcast.h — the "broadcast" service's node: Maelstrom's broadcast, every message a
 * client hands to any node delivered to every node exactly once (docs/crdt.md).
 *
 * A node delivers a message the first time it learns it (from a client or a peer): it
 * journals it, and that durable record is the delivery (a delivery a crash took back before
 * it was durable never happened, and is made again when the message is sent again). A node
 * sends every message it holds durably (actors/crdt_durable.h) to every peer not known to
 * hold it, the newly durable ones as soon as they are, all of them every TR_BCAST_GOSSIP_MS,
 * in batches of at most TR_BCAST_BATCH_MAX (to a peer that has not answered
 * TR_BCAST_UNANSWERED_MAX rounds in a row, every TR_BCAST_QUIET_ROUNDS + 1 rounds only),
 * until that peer acknowledges it (a peer takes the sender for a holder, so a message a crash
 * or a failing store could still take back from the sender is not sent yet); a peer
 * acknowledges a batch once its deliveries are durable (tr_reply_durable), so an
 * acknowledged message is never lost to the peer's crash. Messages are deduplicated by id, so
 * retries and duplicated gossip deliver nothing twice. What a node knows of its peers is not
 * stored: after a restart it sends everything it holds again and the peers acknowledge
 * without delivering. The messages a node holds are bounded (TR_BCAST_MSGS_MAX: more are
 * refused, "full").
 *
 * Requests (tr__broadcast_behaviour, "broadcast" on every node; spawn argument the default
 * tr_service_place):
 *   broadcast [id] -> id, once its delivery here is durable; "full", or a store error;
 *                     0 <= id < 2^40
 *   read      []   -> the ids this node holds, as an array (in the order it learned them)
 *   state     []   -> [id, deliveries, id, deliveries, ...]: how often each was delivered
 * Planted bugs (tr_service_place.bug): "no-retry" sends each message to each peer once, when
 * the node learns it, and never again (Maelstrom's naive broadcast: lost to a partition or a
 * lost message); "no-dedup" delivers a message again each time a peer sends it. */
#ifndef TR_ACTORS_BROADCAST_H
#define TR_ACTORS_BROADCAST_H

#include "troupe.h"

#define TR_BCAST_NODES_MAX 64
#define TR_BCAST_MSGS_MAX 8192
#define TR_BCAST_BATCH_MAX 512
#define TR_BCAST_GOSSIP_MS 100
/* A peer sent a batch this many rounds in a row without a word back is offered every
 * TR_BCAST_QUIET_ROUNDS + 1 rounds only, until it answers. */
#define TR_BCAST_UNANSWERED_MAX 10
#define TR_BCAST_QUIET_ROUNDS 4
#define TR_BCAST_SNAPSHOT_EVERY 512
#define TR_BCAST_ID_MAX (((int64_t)1 << 40) - 1)
#define TR_BCAST_NAME "broadcast"

enum {
    TR_BCAST_BROADCAST = TR_MSG_USER + 0xb00,
    TR_BCAST_READ,
    TR_BCAST_STATE,
    TR_BCAST_GOSSIP, /* [origin, id...] between nodes */
    TR_BCAST_ACK,    /* [origin, id...]: the origin holds these durably */
    TR_BCAST_TICK
};

enum {
    TR_BCAST_BUG_NO_RETRY = 1u << 0,
    TR_BCAST_BUG_NO_DEDUP = 1u << 1
};

extern const tr_behaviour tr__broadcast_behaviour;

#endif /* TR_ACTORS_BROADCAST_H */
