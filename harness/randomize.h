/*
 * randomize.h — randomised configurations: per seed, the node count, link delays and their
 * distribution, loss, duplication and reordering rates, failure-detection delay and the
 * clients' operation timeout, drawn from the seed within the bounds of one table
 * (randomize.c; docs/simulation.md, "Randomised configurations"); and the options of
 * `troupe sim` that set each of them explicitly, so that a drawn configuration is replayed
 * without drawing.
 *
 * Invariants:
 *   1. A draw is a function of the seed alone, from its own stream (RANDOMIZE_STREAM): the
 *      simulator's, the nemesis's and the clients' streams are not touched.
 *   2. Every knob takes exactly two draws, in table order, whatever it draws: a knob added
 *      at the end leaves the earlier ones as they were.
 *   3. Drawn values are quantised (whole microseconds, whole parts per million, whole
 *      milliseconds) and tr__randomize_format writes them exactly: parsing what it writes
 *      gives back the same configuration, hence the same run and trace hash.
 *
 * Ownership: every pointer is borrowed for the call. No state; any thread.
 */
#ifndef TR_HARNESS_RANDOMIZE_H
#define TR_HARNESS_RANDOMIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

/* The stream the draws come from (the nemesis uses TR_SIM_STREAM_USER + 1, the clients + 16
 * and up). */
#define TR__RANDOMIZE_STREAM (TR_SIM_STREAM_USER + 2)

/* Draws the configuration of `seed` into sc (nodes, link_delay_min_ns, link_delay_mean_ns,
 * delay_dist, loss_prob, dup_prob, reorder_prob, failure_detect_ns; nothing else) and
 * *op_timeout_ms. */
void tr__randomize_draw(uint64_t seed, tr_sim_config *sc, uint32_t *op_timeout_ms);

/* Whether `name` ("--delay") is one of the options below. */
bool tr__randomize_is_option(const char *name);
/* Sets the knob of option `name` from `value`: --delay, --jitter (durations: the minimum link
 * delay and the mean of its random part), --delay-dist uniform|exponential|fixed, --loss,
 * --dup, --reorder (probabilities 0..1), --detect (the failure-detection delay), --op-timeout
 * (whole milliseconds). 0, or TR_EINVAL when the value breaks the option's limit: durations
 * at most 10 s (--detect 60 s), probabilities 0..1, the op timeout 1 ms..600 s. */
int tr__randomize_parse(const char *name, const char *value, tr_sim_config *sc,
                        uint32_t *op_timeout_ms);

/* Copies the knobs these options set (and buggify) from `from` into `to`. */
void tr__randomize_copy(const tr_sim_config *from, tr_sim_config *to);

/* Writes into buf[cap] the options (" --delay 120us --loss 0.004000 ...", and " --buggify")
 * that give sc's knobs and op_timeout_ms from their defaults (tr_sim_config_init, 1000 ms):
 * nothing for a default value. NUL-terminated; returns the length it needed (as snprintf). */
size_t tr__randomize_format(const tr_sim_config *sc, uint32_t op_timeout_ms, char *buf, size_t cap);

/* The configuration the experiment runner runs for cfg->sim.seed when cfg->randomize: a copy
 * of cfg with the draw in place and randomize off (its replay line then names the drawn
 * values). TR_EINVAL with a reason in err when cfg also names a scenario file. */
int tr__randomize_experiment(const tr_experiment_config *cfg, tr_experiment_config *out, char *err,
                             size_t err_cap);

#endif
