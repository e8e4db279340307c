/*
 * spans.h — Zipkin v2 spans of a simulated run (`troupe sim --spans FILE`, docs/tracing.md):
 * the span recorder of runtime/trace_spans.h on every node, fed virtual time, writing to one
 * file as the run goes.
 *
 * Invariants:
 *   1. Spans change nothing in the run: the same seed gives the same trace hash with or
 *      without them. Clients' traces come from a stream of their own (never the engine's or
 *      a node's), span times are read from the sim's true virtual time (a pure read; a
 *      node's local clock keeps a monotonic floor that a read would move), and a trace
 *      context does not travel in the bytes a simulated link carries (27 bytes more would
 *      cut other segments and hash other bytes): it is stripped before the envelope is
 *      encoded, carried beside it keyed by (link, envelope hash), and put back on the
 *      decoded message. The bytes are those of a run without traces.
 *   2. The same seed and options give the same file, byte for byte: ids come from the seed
 *      and the order of operations, times are virtual.
 * Limits: at most TR__SIM_SPANS_MAX spans are written (later ones are counted, not written);
 * TR__SIM_SPANS_CARRY contexts in flight at once (a context whose slot a later message
 * takes is lost: that message's spans are not recorded). A duplicate of a message (the dup
 * nemesis) arrives without a trace.
 * Ownership: tr__sim_spans_open makes sim->spans_out (owned by the sim, freed by
 * tr__sim_spans_close, which tr_sim_destroy calls before the teardown).
 */
#ifndef TR_SIM_SPANS_H
#define TR_SIM_SPANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR__SIM_SPANS_MAX (1u << 18)
#define TR__SIM_SPANS_CARRY (1u << 14)

typedef struct tr__sim_spans tr__sim_spans;

/* Creates spec->path and attaches a recorder to every node. 0, TR_EINVAL (a sample outside
 * 0..1; err says why), TR_EIO (cannot create the file), TR_ENOMEM. */
int tr__sim_spans_open(tr_sim *sim, const tr_sim_spans_spec *spec, char *err, size_t err_cap);
/* Writes what is left, closes the file, detaches the recorders. Idempotent. */
void tr__sim_spans_close(tr_sim *sim);
/* A new trace for a client's operation (not flagged sampled: the recorders' fraction picks),
 * from the spans' own stream; false (out untouched) when the run writes no spans. */
bool tr__sim_spans_trace(tr_sim *sim, tr_trace *out);
/* The link's side of invariant 1: strips msg's trace before it is encoded (into *saved). */
void tr__sim_spans_strip(tr_sim *sim, tr_msg *msg, tr_trace *saved);
/* Carries saved beside the envelope (bytes, len) sent from node index f to t. */
void tr__sim_spans_carry(tr_sim *sim, uint32_t f, uint32_t t, const uint8_t *bytes, size_t len,
                         const tr_trace *saved);
/* Puts the trace carried beside the envelope (bytes, len) from f to t back on msg. */
void tr__sim_spans_claim(tr_sim *sim, uint32_t f, uint32_t t, const uint8_t *bytes, size_t len,
                         tr_msg *msg);

#endif
