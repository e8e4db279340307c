/* trace.h — a simulated run's events as JSON lines (troupe.h tr_sim_trace_spec).
 *
 * A traced sim's nodes use a copy of the engine ops whose delivered op (every message an
 * actor receives, local or remote) also calls tr__sim_trace_message (tr__sim_engine_traced,
 * sim/engine_ops.c), so a run without a trace runs the delivery path unchanged; tr__sim_fault
 * calls tr__sim_trace_fault behind one branch on sim->trace_out (faults are rare). Writing reads
 * only what the run already decided (virtual time, addresses, names): a trace never changes
 * the run or its trace hash, and the same run gives the same bytes.
 * Ownership: tr__sim_trace_open makes sim->trace_out (owned by the sim); tr__sim_trace_close
 * (called by tr_sim_destroy) writes the truncation note, closes the file and frees it.
 * Limits: spec->max_bytes of event lines, then one closing note. Threading: the sim's.
 */
#ifndef TR_SIM_TRACE_H
#define TR_SIM_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe.h"

typedef struct tr__sim_trace tr__sim_trace;

/* Opens spec->path for sim (spec is copied; its strings must outlive the sim). 0, TR_EIO
 * with why in err (cannot create the file), TR_EINVAL (a node out of range, an empty path),
 * TR_ENOMEM. */
int tr__sim_trace_open(tr_sim *sim, const tr_sim_trace_spec *spec, char *err, size_t err_cap);
void tr__sim_trace_close(tr_sim *sim);

void tr__sim_trace_message(tr_sim *sim, uint32_t node, const tr_msg *msg);
void tr__sim_trace_fault(tr_sim *sim, tr_sim_fault f);

/* Points every node of sim at the engine ops that trace deliveries (on) or the plain ones. */
void tr__sim_engine_traced(tr_sim *sim, bool on);

#endif
