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
 * context, no atomic). Per activation, the messages it handled and sent are added to its
 * type's row with one relaxed fetch-add each (beside the st_delivered one it already did).
 * Finding the row is a multiplicative hash of the behaviour pointer into a table of
 * TR__METRICS_TYPES_MAX rows: the home row inline, a linear probe out of line.
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
 * Limits: TR__METRICS_TYPES_MAX - 1 behaviours get their own row; the rendered text is
 * bounded by its buffer (tr__metrics_text), which says when it was cut.
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

typedef struct tr__metrics_type {
    const tr_behaviour *_Atomic beh; /* borrowed key (NULL: free row); see invariant 1 */
    char name[TR_NAME_MAX + 1];
    _Atomic uint64_t spawned, stopped, messages_in, messages_out;
} tr__metrics_type;

/* Embedded in tr_node (internal.h). */
typedef struct tr__metrics_node {
    pthread_mutex_t lock; /* adding rows only */
    tr__metrics_type types[TR__METRICS_TYPES_MAX];
    _Atomic uint64_t dead[TR__DEAD_REASONS];
} tr__metrics_node;

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
