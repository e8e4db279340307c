/* builtin_pubsub.h — topics as a service ("pubsub"; troupe.h, "Topics"; docs/pubsub.md):
 * on every node the broker (TR_TOPICS_NAME), a subscriber "pubsub-sub" of the topic
 * "events" and a publisher "pubsub-pub".
 *
 * Requests: "write" [id] to pubsub-pub writes "state/<id>" and the event id (body: id) in
 * one commit through a durable outbox, and answers id once durable. "write-exit" [id] does
 * the same writes and, on a real node only, exits the process with status 137 as soon as
 * their commit is durable, before the outbox publishes: what kill -9 between a commit and
 * its publish leaves (a simulation answers it with an error string). "tally" [n] to
 * pubsub-sub answers [ids handed over exactly once, missing, more than once] over ids 1..n
 * (at most TR__PUBSUB_TALLY_MAX), from its durable counts "got/<id>", and 1 when its
 * subscription is acknowledged (else 0).
 * Planted bugs (--bug): publish-early, volatile-outbox, no-dedup, topics-unbounded. */
#ifndef TR_HARNESS_BUILTIN_PUBSUB_H
#define TR_HARNESS_BUILTIN_PUBSUB_H

#include "troupe.h"

#define TR__PUBSUB_TOPIC "events"
#define TR__PUBSUB_PUB "pubsub-pub"
#define TR__PUBSUB_SUB "pubsub-sub"
#define TR__PUBSUB_TALLY_MAX 100000
enum {
    TR__PUBSUB_WRITE = TR_MSG_USER + 0x500,
    TR__PUBSUB_WRITE_EXIT,
    TR__PUBSUB_TALLY
};

extern const tr_service tr__builtin_pubsub;

#endif /* TR_HARNESS_BUILTIN_PUBSUB_H */
