/* workload_cas.h — the client of a register service answering [code, value] (lin-kv and the
 * entity workload's registers): read [key], write [key, value], cas [key, from, to] on a few
 * keys with values 0..TR__CAS_VALUES-1. */
#ifndef TR_HARNESS_WORKLOAD_CAS_H
#define TR_HARNESS_WORKLOAD_CAS_H

#include "troupe.h"

#define TR__CAS_VALUES 5

/* Draws read, write or cas uniformly on a key of [0, keys), writes its body and sets *type
 * (read_type, read_type + 1, read_type + 2) and *target (static). */
int tr__cas_next(tr_sim_rng *rng, uint32_t keys, uint32_t read_type, const char *target,
                 tr_workload_op *op, uint32_t *type, const char **target_out, tr_mp_writer *w);

/* The outcome of a [code, value] answer: code 0 is ok (a read read value, nil when unset),
 * codes 1..code_max a definite refusal named why[code]. With host_strings, an answer that is
 * a string is the host's (troupe.h, "Entities"): "indeterminate" is info for a write, any
 * other string a definite fail (the request was not handled). No answer, or one of another
 * shape: a read changed nothing (fail), a write or cas may still take effect (info). *error
 * may point into a per-thread buffer (the history copies it). */
tr_history_type tr__cas_complete(const tr_workload_op *op, const tr_msg *reply,
                                 const char *const *why, int64_t code_max, bool host_strings,
                                 tr_workload_op *done, const char **error);

#endif
