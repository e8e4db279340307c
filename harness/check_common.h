/*
 * check_common.h — history checks that several built-in workloads share: Jepsen's progress
 * rule and the torn-disk allowance of the AP checks.
 *
 * Written on troupe.h alone, because these files are compiled into the loadable modules too
 * (harness/sources.zig, module_sources), which see only the API the host exports.
 */
#ifndef TR_HARNESS_CHECK_COMMON_H
#define TR_HARNESS_CHECK_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

/* ---- progress ----------------------------------------------------------------------- */

/* Jepsen's `stats` rule: each of the operation names fs[0..n) that the history invokes
 * completes ok at least once; and no completion is a "malformed reply" (the error the built-in
 * workloads record for a reply they cannot decode: the simulated network delivers what was
 * sent, so it is the service that broke its own protocol, never a fault). Safety checks alone
 * pass a service that refuses, loses or garbles every answer, since each such op is recorded
 * as fail or info. False, with why naming the first that never succeeded ("no write
 * succeeded (N invoked)") or the malformed replies, or true (why untouched). An operation
 * invoked fewer than TR__PROGRESS_MIN_OPS times is not judged (a run shorter than its
 * cluster's start-up, whose first ops are refused). At most 8 names. */
#define TR__PROGRESS_MIN_OPS 32
bool tr__check_progress(const tr_history *h, const char *const *fs, size_t n, char *why,
                        size_t why_cap);

/* ---- torn disks ---------------------------------------------------------------------- */

/* Whether a "corrupt" fault of in's timeline tore node's disk at or after t_ns: the node never
 * came back, and what it had acknowledged but not yet shipped went with it (the AP checks'
 * allowance, docs/checkers.md "Under every fault kind"). */
bool tr__check_torn_after(const tr_check_input *in, int32_t node, int64_t t_ns);

#endif
