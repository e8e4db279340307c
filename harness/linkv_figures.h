/* linkv_figures.h — lin-kv's figures as checks of its service (harness/builtin_linkv.c): two
 * measures that never fail a run, reported through tr_check_measure for `troupe sim` to sum
 * up over a sweep.
 *
 * "elections": how long a cluster is without a leader after it loses one. From the replicas'
 * leader logs (actors/linkv.h, read from their stores with tr_check_kv_get): a term is known
 * by a majority at K(T), the time by which a majority of replicas had seen a leader of term T
 * or later. For each established term T0 (leader L0) and the next one T1, the leader was lost
 * at s, the earlier of: the start of the last fault (crash, pause or any partition shape)
 * whose nodes include L0 in [K(T0), K(T1)), and the time L0 logged that it no longer led;
 * the election took K(T1) - s. A loss that no fault touched and that came from a higher term
 * (not from L0 losing its majority) is needless: a replica that had been cut off raised the
 * term and deposed a working leader. Measures: election_ms (the run's first), election_ms_max,
 * elections, needless_elections. The logs use each replica's own clock, so a run with a clock
 * fault reports none of them.
 *
 * "cas-majority": compare-and-set on the majority side of a partition. An attempt is a cas
 * invoked while a partition is in force by a client whose node is outside the cut-off nodes
 * (majority/minority, isolate, one-way), or by any client when the shape cuts no node off
 * (ring, bridge: every node sees a majority). It is answered when it was applied or refused
 * because the value differed or the key was unset (both need a working leader); refused
 * without a leader, busy, or no answer is not. Measures: cas_majority_tried,
 * cas_majority_answered. */
#ifndef TR_HARNESS_LINKV_FIGURES_H
#define TR_HARNESS_LINKV_FIGURES_H

#include "troupe.h"

#define TR__LINKV_CHECK_COUNT 2
extern const tr_check tr__linkv_checks[TR__LINKV_CHECK_COUNT];

#endif
