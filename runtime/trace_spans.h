/*
 * trace_spans.h — spans of sampled traces (docs/tracing.md): one span per activation that
 * handles a message of a sampled trace, kept in a fixed-size ring per node and written out
 * as Zipkin v2 JSON.
 *
 * A node records spans only while a recorder is attached (tr__spans_attach); without one the
 * run loop pays one load and one predictable branch per message. The recorder's memory is
 * the attacher's and must outlive the node's last activation: it stays attached until
 * tr__spans_detach or until the node is destroyed (tr_runtime_destroy, tr_sim_destroy), and
 * is freed only after that.
 */
#ifndef TR_RUNTIME_TRACE_SPANS_H
#define TR_RUNTIME_TRACE_SPANS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/internal.h"
#include "troupe.h"

#define TR__SPANS_CAP 4096   /* spans a ring holds; recording into a full ring drops the oldest */
#define TR__SPAN_NAME_MAX 47 /* behaviour name bytes kept in a span */

/* One finished span: the activation of `actor` that handled a message of type `type` from
 * `from`. Times are the engine's clock (tr_engine_ops.now_ns: monotonic on a real node,
 * virtual in the simulator). */
typedef struct tr__span {
    uint8_t trace_id[16];
    uint8_t id[8];     /* tr_trace_span_of(message) */
    uint8_t parent[8]; /* the message's trace.span: the sender's span */
    uint64_t start_ns, end_ns;
    tr_addr actor, from;
    uint32_t type;
    bool server; /* a request a node took from outside (the gateway's): kind SERVER, name as
                    is, no actor tags; otherwise an activation: CONSUMER, "name/type" */
    char name[TR__SPAN_NAME_MAX + 1]; /* the behaviour's name, or the server span's */
    char node_name[TR_NAME_MAX + 1];  /* the recording node's name */
} tr__span;

/* Where a recorder takes its times from and puts its spans, in place of the engine's clock
 * and the ring: the simulator's span output (sim/spans.h) reads true virtual time (reading a
 * node's local clock there would move its monotonic floor, and so the run) and writes each
 * span as it ends. Both called on the recording thread, with ud. */
typedef struct tr__spans_hooks {
    uint64_t (*clock_ns)(void *ud);
    void (*sink)(void *ud, const tr__span *s);
    void *ud;
} tr__spans_hooks;

/* A node's recorder. Owned by whoever attaches it; the fields are the module's. */
typedef struct tr__spans {
    pthread_mutex_t lock;
    uint64_t sample_below; /* a trace not flagged sampled is sampled when its id hashes below */
    tr__spans_hooks hooks; /* set by tr__spans_hook; clock_ns NULL: the engine's, the ring */
    uint64_t recorded, dropped; /* [lock] */
    uint32_t head, len;         /* [lock] the oldest span, how many are held */
    tr__span ring[TR__SPANS_CAP];
} tr__spans;

/* Initialises sp (memory owned by the caller, e.g. a static or calloc'd tr__spans) to sample
 * traces flagged sampled, and a fraction `sample` (0..1) of the others chosen by their trace
 * id (every node with the same fraction picks the same traces). TR_EINVAL for a fraction
 * outside 0..1. */
int tr__spans_init(tr__spans *sp, double sample);
void tr__spans_fini(tr__spans *sp);
/* Replaces the engine's clock and the ring by h's (copied; h->clock_ns and h->sink both set),
 * before sp is attached anywhere. Spans given to the sink count as recorded, never dropped. */
void tr__spans_hook(tr__spans *sp, const tr__spans_hooks *h);
/* Attaches sp (borrowed until tr__spans_detach) to node, or detaches it. */
void tr__spans_attach(tr_node *node, tr__spans *sp);
void tr__spans_detach(tr_node *node);
/* The run loop's call when a recorder is attached: runs a's receive on m, recording a span
 * when m belongs to a sampled trace. Returns what receive returned. */
int tr__spans_receive(tr__spans *sp, tr_ctx *ctx, tr_actor *a, const tr_msg *m);
/* Spans of threads that are not actors (the HTTP gateway): the clock spans are timed on
 * (the engine's), and the recording of s (filled by the caller, server true) into node's
 * recorder when one is attached and it samples t (s's trace). Any thread. */
uint64_t tr__spans_now_ns(tr_node *node);
/* 64 bits of the engine's random stream for node (ids of spans started outside actors). */
uint64_t tr__spans_random(tr_node *node);
bool tr__spans_sampled(tr_node *node, const tr_trace *t);
void tr__spans_record(tr_node *node, const tr_trace *t, const tr__span *s);
/* Moves up to max of the oldest spans held into out (owned by the caller); returns how many. */
uint32_t tr__spans_take(tr__spans *sp, tr__span *out, uint32_t max);
/* Spans recorded and dropped (overwritten in a full ring) since init. */
void tr__spans_counts(tr__spans *sp, uint64_t *recorded, uint64_t *dropped);

/* ---- the Zipkin v2 JSON file (runtime/trace_spans_file.c) ---------------------------- */

/* A file that always holds one JSON array of Zipkin v2 spans (what Zipkin's POST
 * /api/v2/spans accepts): each append rewrites the closing bracket. */
typedef struct tr__span_file {
    FILE *f;           /* owned */
    uint64_t written;  /* spans in the file */
    int64_t offset_ns; /* added to a span's clock to get Unix time */
} tr__span_file;

/* Creates (truncates) path holding "[]". wall: span clocks are the real engine's monotonic
 * clock, converted to Unix time; otherwise (the simulator) virtual time is written as is,
 * counted from the Unix epoch. 0, or a negative TR_E code (TR_EIO: cannot create). */
int tr__span_file_open(tr__span_file *sf, const char *path, bool wall);
/* Appends spans[0..n) and flushes: 0 or TR_EIO. */
int tr__span_file_append(tr__span_file *sf, const tr__span *spans, uint32_t n);
/* Moves every span held in sp to the file: 0 or TR_EIO. */
int tr__span_file_drain(tr__span_file *sf, tr__spans *sp);
/* Closes the file: 0 or TR_EIO when the last write failed. */
int tr__span_file_close(tr__span_file *sf);

/* Spawns on node an actor that drains sp into sf every period_ms (both borrowed for as long
 * as the node runs). 0 or the spawn's error. */
int tr__span_file_writer_spawn(tr_node *node, tr__spans *sp, tr__span_file *sf, uint32_t period_ms);

#endif
