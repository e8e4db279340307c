/*
 * determinism.h — the check-determinism mode (tr_sim_check_determinism, sim/determinism.c).
 *
 * A scenario runs twice from the same config. The first run records, per event, the trace
 * hash after it and the event's details (sim_record, up to record_events_max events); the
 * second compares each of its events' hashes with the record and stops comparing at the
 * first difference, which it describes (both runs' view of that event) in the divergence
 * report. The engine calls tr__sim_record after each event only when the mode is not
 * SIM_MODE_PLAIN, so a plain run pays one compare per event for this.
 *
 * Ownership: tr_sim_check_determinism owns the record array; a recording sim borrows it
 * (sim->rec, cleared before that sim is destroyed), a comparing one reads it (sim->cmp).
 */
#ifndef TR_SIM_DETERMINISM_H
#define TR_SIM_DETERMINISM_H

#include "sim/sim.h"

/* Records event r (record mode) or compares it with the first run's (compare mode); r->hash
 * is set to the trace hash after the event. */
void tr__sim_record(tr_sim *sim, sim_record *r);

#endif /* TR_SIM_DETERMINISM_H */
