/* service_defaults.h — what the library does for a service that leaves it out (troupe.h,
 * "Services": the declarative workload, the declared nemesis, the final state read from the
 * stores, and the helpers every service actor would otherwise write by hand).
 *
 * The experiment runner and the simulated clients reach a workload only through
 * tr__workload_next and tr__workload_complete, which call the service's own callbacks when it
 * has them and the table-driven defaults of tr_workload.ops otherwise; the runner resolves
 * TR_NEMESIS_DEFAULT with tr__service_defaults_config before anything reads the nemesis.
 * Determinism: the default next draws, from the client's own stream and in this order, the
 * row, the key and (a write) the value; nothing else.
 * Ownership: everything is borrowed; the configuration copy is the caller's.
 * Threading: none of its own; the runner's thread, or the actor's callback. */
#ifndef TR_HARNESS_SERVICE_DEFAULTS_H
#define TR_HARNESS_SERVICE_DEFAULTS_H

#include "troupe.h"

/* cfg, or *copy (filled from cfg) with TR_NEMESIS_DEFAULT resolved to the nemesis the workload's
 * service declares: a partition when it declares none, nothing with a scenario file. */
const tr_experiment_config *tr__service_defaults_config(const tr_experiment_config *cfg,
                                                        tr_experiment_config *copy);
/* The workload's next, or the default one over its ops table (troupe.h, tr_workload_op_spec). */
int tr__workload_next(const tr_service *svc, const tr_service_env *env, tr_sim_rng *rng,
                      uint32_t key_count, tr_workload_op *op, uint32_t *type, const char **target,
                      tr_mp_writer *w);
/* The workload's complete, or the default one. */
tr_history_type tr__workload_complete(const tr_service *svc, const tr_service_env *env,
                                      const tr_workload_op *op, const tr_msg *reply, int err,
                                      tr_workload_op *done, const char **error);

#endif
