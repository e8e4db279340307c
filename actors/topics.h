/* topics.h — the private tier of the topic broker, the subscriber window and the outbox
 * (troupe.h, "Topics"; docs/pubsub.md). */
#ifndef TROUPE_ACTORS_TOPICS_H
#define TROUPE_ACTORS_TOPICS_H

#include "troupe.h"

/* The home of topic (NUL-terminated, borrowed) among node_count nodes: FNV-1a 64 mod count. */
uint32_t tr__topic_home(const char *topic, uint32_t node_count);
/* "topics@n<home + 1>" into out[0..cap). */
void tr__topics_home_name(uint32_t home, char *out, size_t cap);

/* PUBLISH [topic, id, body] to the broker registered as `broker` (borrowed). */
int tr__topic_publish_to(tr_ctx *ctx, const char *broker, const char *topic, uint64_t id,
                         const void *body, size_t len);

#endif
