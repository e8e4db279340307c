/*
 * metrics.h — a node's counters per actor type and per dead-letter reason, and their
 * rendering in the Prometheus text exposition format (version 0.0.4), for `troupe node
 * --metrics` (cli/metrics_http.c) and `troupe status`.
 *
 * An actor's type is its behaviour's name (tr_behaviour.name; "unnamed" when NULL), not its
 * registered name: every instance of a behaviour counts under one label, so the number of
 * label values stays bounded by the code, not by how many actors or names exist. Behaviours
 * with the same name share one series at rendering.
 *
 * Cost on the message path: per send, one increment of tr_ctx.sent (the activation's own
 * context, no atomic). Per activation, the messages it handled and sent are added to the
 * calling thread's shard of the node's counters: a relaxed load and a store each, no locked
 * instruction and no cache line shared with another thread (a shared row would bounce
 * between the workers that run actors of one type). The row is found once per actor at
 * spawn: a multiplicative hash of the behaviour pointer into a table of
 * TR__METRICS_TYPES_MAX rows, the home row inline, a linear probe out of line.
 *
 * Shards: a thread that runs activations claims a shard of the node (a compare-and-swap of
 * its owner, once per thread and node) and is then its only writer, so a load and a store
 * lose no count. Each row has a 64-byte lane per shard; a reader sums the row's own
 * counters and its lanes, and the node's messages delivered (tr_stats) is the sum of every
 * row's messages in. A thread caches its shard with the node's uid (process-unique, so a
 * node freed and another made at the same address is not mistaken for it). A shard stays
 * claimed after its thread exits; a later thread whose token (the address of its
 * thread-local cache) is the same reuses it, the earlier writer being gone. When all
 * TR__METRICS_SHARDS are claimed, a thread adds to the row itself with relaxed fetch-adds.
 *
 * Invariants:
 *   1. a row's `beh` is written once, under `lock`, with release after its name; readers
 *      load it with acquire, so a non-NULL beh always has its name;
 *   2. row 0 is "other": the behaviours that found no free row (the table is full) count
 *      there, so every activation counts somewhere;
 *   3. per row, stopped <= spawned (an actor is counted as spawned before it can stop).
 *
 * Threading: every function may be called from any thread. The counters are relaxed
 * atomics: each is a sum with no ordering against other memory; a scrape reads each one
 * once, so two counters of one scrape may be a few activations apart.
 * Limits: TR__METRICS_TYPES_MAX - 1 behaviours get their own row; TR__METRICS_SHARDS
 * threads per node count without a locked add (the lanes take 64 KiB per node); the rendered
 * text is bounded by its buffer (tr__metrics_text), which says when it was cut.
 */
#ifndef TR_METRICS_H
#define TR_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR__METRICS_TYPES_MAX 64u

/* Why a message became a dead letter. */
typedef enum tr__dead_reason {
    TR__DEAD_NO_ACTOR = 0, /* no live actor at the address or the name */
    TR__DEAD_MAILBOX_FULL, /* a bounded mailbox with TR_OVERFLOW_DROP was full */
    TR__DEAD_UNREACHABLE,  /* another node that could not be sent to */
    TR__DEAD_STOPPED,      /* queued for an actor that stopped before handling it */
    TR__DEAD_REASONS
} tr__dead_reason;

#define TR__METRICS_SHARDS 16u

/* One shard's counters of one row: written by the shard's owner only (relaxed load and
 * store), read by anyone (relaxed load). 64 bytes: two shards' counters are never on one
 * cache line, whatever the row's alignment. */
typedef struct tr__metrics_lane {
    _Atomic uint64_t messages_in, messages_out;
    uint64_t pad_[6];
} tr__metrics_lane;

typedef struct tr__metrics_type {
    const tr_behaviour *_Atomic beh; /* borrowed key (NULL: free row); see invariant 1 */
    char name[TR_NAME_MAX + 1];
    _Atomic uint64_t spawned, stopped;
    _Atomic uint64_t messages_in, messages_out; /* by threads without a shard only */
    tr__metrics_lane lanes[TR__METRICS_SHARDS];
} tr__metrics_type;

/* Embedded in tr_node (internal.h). */
typedef struct tr__metrics_node {
    pthread_mutex_t lock; /* adding rows only */
    uint64_t uid;         /* unique among the nodes this process ever made (never 0) */
    _Atomic(const void *) owners[TR__METRICS_SHARDS]; /* a shard's thread token; NULL: free */
    tr__metrics_type types[TR__METRICS_TYPES_MAX];
    _Atomic uint64_t dead[TR__DEAD_REASONS];
} tr__metrics_node;

/* A thread's last shard: which node's (its uid: a node freed and another made at the same
 * address is not mistaken for it) and which shard. Each thread keeps one (thread-local); its
 * address is the thread's owner token. */
typedef struct tr__metrics_local {
    uint64_t uid;   /* 0: none cached */
    uint32_t shard; /* < TR__METRICS_SHARDS */
} tr__metrics_local;

void tr__metrics_init(tr__metrics_node *m);
void tr__metrics_deinit(tr__metrics_node *m);

/* The row behaviour b's probe starts at: Fibonacci hashing of the pointer into rows 1..
 * (row 0 is "other"). */
static inline uint32_t tr__metrics_home_row(const tr_behaviour *b) {
    uint64_t h = (uint64_t)(uintptr_t)b * UINT64_C(0x9E3779B97F4A7C15);
    return 1u + (uint32_t)((h >> 40) % (TR__METRICS_TYPES_MAX - 1u));
}
/* tr__metrics_type_of past the home row: probes, adds the row if new. */
tr__metrics_type *tr__metrics_type_probe(tr__metrics_node *m, const tr_behaviour *b);
/* The row of behaviour b, added if new (row 0 when the table is full). Never NULL. Inline:
 * once per activation; a behaviour is found at its home row unless two collide. */
static inline tr__metrics_type *tr__metrics_type_of(tr__metrics_node *m, const tr_behaviour *b) {
    tr__metrics_type *r = &m->types[tr__metrics_home_row(b)];
    if (atomic_load_explicit(&r->beh, memory_order_acquire) == b) { /* invariant 1 */
        return r;
    }
    return tr__metrics_type_probe(m, b);
}

static inline void tr__metrics_add(_Atomic uint64_t *c, uint64_t n) {
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* a sum: no ordering needed */
}

/* The shard of m that the thread owning `local` writes (claimed if it has none), cached in
 * *local; -1 when all are taken (then nothing is cached). */
int tr__metrics_shard_claim(tr__metrics_node *m, tr__metrics_local *local);

/* Adds an activation's messages handled (in) and sent (out) to row r of m, from the thread
 * whose thread-local cache is `local`. */
static inline void tr__metrics_count(tr__metrics_node *m, tr__metrics_local *local,
                                     tr__metrics_type *r, uint32_t in, uint32_t out) {
    uint32_t k = local->shard;
    if (__builtin_expect(local->uid != m->uid, 0)) {
        int got = tr__metrics_shard_claim(m, local);
        if (got < 0) {
            tr__metrics_add(&r->messages_in, in);
            tr__metrics_add(&r->messages_out, out);
            return;
        }
        k = (uint32_t)got;
    }
    /* Single writer (this thread owns shard k): a relaxed load and store lose nothing;
     * readers load each counter once, relaxed (a sum with no ordering against other
     * memory). */
    tr__metrics_lane *l = &r->lanes[k];
    atomic_store_explicit(&l->messages_in,
                          atomic_load_explicit(&l->messages_in, memory_order_relaxed) + in,
                          memory_order_relaxed);
    atomic_store_explicit(&l->messages_out,
                          atomic_load_explicit(&l->messages_out, memory_order_relaxed) + out,
                          memory_order_relaxed);
}

/* The messages handled (in) and sent (out) by row r: the row's own counters plus every
 * shard's lane. Any thread. */
uint64_t tr__metrics_messages_in(const tr__metrics_type *r);
uint64_t tr__metrics_messages_out(const tr__metrics_type *r);
/* Every row's messages handled: the node's messages delivered. */
uint64_t tr__metrics_delivered(const tr__metrics_node *m);

/* The reason's name as rendered ("no_actor", "mailbox_full", "unreachable", "stopped"). */
const char *tr__metrics_dead_reason_name(tr__dead_reason r);

/* A bounded text buffer the renderers append to. `cut` is set when something did not fit
 * (the text then ends at the last whole line that did). */
typedef struct tr__metrics_text {
    char *buf; /* borrowed, cap bytes */
    size_t len, cap;
    bool cut;
} tr__metrics_text;

/* Appends one printf-formatted line (the format ends with "\n"); on overflow sets cut and
 * appends nothing. */
void tr__metrics_printf(tr__metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends the HELP and TYPE lines of a family (type: "counter", "gauge", "histogram"). */
void tr__metrics_family(tr__metrics_text *t, const char *name, const char *type, const char *help);
/* Appends the node's runtime families: per actor type, dead letters by reason, the node's
 * totals (tr_stats) and its store. The mailbox depth per type walks the actor slots (a
 * read of each slot's atomics; no lock on the message path). */
void tr__metrics_render_node(tr_node *node, tr__metrics_text *t);

/* The names registered on node to live actors, sorted, at most cap of them copied into
 * out; *total (may be NULL) gets how many there are. Takes the registry's lock. */
uint32_t tr__metrics_names(tr_node *node, char (*out)[TR_NAME_MAX + 1], uint32_t cap,
                           uint32_t *total);

#endif
