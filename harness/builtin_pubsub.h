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
 * Planted bugs (--bug): publish-early, volatile-outbox, no-dedup, topics-unbounded.
 *
 * Workload (`troupe sim --workload pubsub`): each client publishes fresh random ids through
 * its own node's publisher (f "publish", value = id): ok once durable, fail when refused,
 * info without an answer. After the workload time each client asks its publisher how many
 * events its outbox still holds (f "pending") and stays busy until none, so that the final
 * states are read once every event has been delivered (or the runner's settle bound).
 * Declared nemesis: crash, partition. Final state: each broker's STATS (TR_TOPIC_MSG_STATS).
 * Checks: below. */
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
    TR__PUBSUB_TALLY,
    TR__PUBSUB_PENDING /* [] to pubsub-pub: the number of events its outbox still holds */
};

/* The subscriber of node a (0-based) got SUBSCRIBED: its subscription is durable. */
#define TR__PUBSUB_PROBE_SUBSCRIBED (TR_PROBE_USER + 0x500)

extern const tr_service tr__builtin_pubsub;

/* Check "delivered-once": every publish answered ok reached, exactly once within one window,
 * the subscriber of every node that was subscribed when the publish was invoked (and is up
 * at the end); no publish, whatever its outcome, was handed twice within one window.
 * Unknown when a node's store cannot be read or probes were dropped. */
tr_verdict tr__pubsub_check_delivered_once(const tr_check_input *in, char *why, size_t cap);
/* Check "no-phantom-event": every event a subscriber got describes a state change the
 * publisher committed ("state/<id>" on the node the publish went to). */
tr_verdict tr__pubsub_check_no_phantom(const tr_check_input *in, char *why, size_t cap);
/* Check "bounded-queues": no broker let one subscriber hold more than TR_TOPICS_QUEUE_MAX
 * unacknowledged events (the high-water mark each up broker's STATS, the run's final state,
 * reports; a broker restarted during the run counts from its restart). Unknown when no broker
 * answered. */
tr_verdict tr__pubsub_check_bounded_queues(const tr_check_input *in, char *why, size_t cap);

#endif /* TR_HARNESS_BUILTIN_PUBSUB_H */
