/*
 * scenario.h — fault schedules for the simulator, read from a small line format.
 *
 * What: `troupe sim --scenario FILE` schedules the nemesis at fixed virtual times from a
 * file instead of (or besides) --nemesis. One fault per line, `#` starts a comment:
 *
 *   10s partition halves            random minority | majority
 *   9s  partition n1,n2|n3,n4,n5    explicit sides; every node on exactly one side
 *   5s  isolate n1                  n1 alone
 *   7s  ring                        majorities ring
 *   8s  bridge                      two halves joined by one node
 *   6s  oneway n1->n3               the link n1 -> n3 cut (n1->* : all of n1's out-links)
 *   20s heal                        every link restored
 *   25s crash n2      30s restart n2
 *   12s pause n3      14s resume n3
 *   15s clock-skew n1 +200ms        set n1's clock offset
 *   16s clock-jump n4 -50ms         add to n4's clock offset
 *   17s clock-drift n2 500ppm       n2's clock runs fast (negative: slow), |ppm| <= 500000
 *   18s delay-spike n1->n2 50ms for 2s   (n1->* and *->n2 allowed)
 *   20s io-error n2 for 1s          n2's commits fail with an I/O error for 1 s
 *   21s disk-full n2 for 1s         ... with "no space left"
 *   22s slow-disk n2 200ms for 2s   n2's commits take 200 ms longer for 2 s
 *   30s corrupt n3                  n3 crashes with a torn data file: it never starts again
 *
 * Times and durations: a decimal number with a unit ns, us, ms, s or m (at most a day);
 * clock offsets take an optional sign. Nodes are n1..nN as in the output. Lines with the
 * same time run in file order. Why a separate parser: it checks everything (node range,
 * sides, units, trailing words) before the sim starts, so a bad file is a usage error with a
 * line number, never a half-run scenario.
 * tr__scenario_format writes an event back as a line that parses to the same event (times
 * in seconds with up to nine decimals, so exact to the nanosecond): a run's recorded faults
 * become a file that replays them (docs/shrink.md).
 * Ownership: tr__scenario_parse fills an owned array (tr__scenario_free). Limits: at most
 * TR_SCENARIO_EVENTS_MAX events, lines up to TR_SCENARIO_LINE_MAX bytes. Pure: no I/O.
 */
#ifndef TR_SIM_SCENARIO_H
#define TR_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR_SCENARIO_EVENTS_MAX 100000
#define TR_SCENARIO_LINE_MAX 1024

typedef enum tr_scen_kind {
    TR_SCEN_PARTITION_HALVES,
    TR_SCEN_PARTITION, /* mask: side A */
    TR_SCEN_ISOLATE,   /* a */
    TR_SCEN_RING,
    TR_SCEN_BRIDGE,
    TR_SCEN_ONEWAY, /* a -> b, either may be TR_SIM_ANY */
    TR_SCEN_HEAL,
    TR_SCEN_CRASH,       /* a */
    TR_SCEN_RESTART,     /* a */
    TR_SCEN_PAUSE,       /* a */
    TR_SCEN_RESUME,      /* a */
    TR_SCEN_CLOCK_SKEW,  /* a, value = offset ns */
    TR_SCEN_CLOCK_JUMP,  /* a, value = delta ns */
    TR_SCEN_CLOCK_DRIFT, /* a, value = ppm */
    TR_SCEN_DELAY_SPIKE, /* a -> b, extra_ns, dur_ns */
    TR_SCEN_IO_ERROR,    /* a, dur_ns: commits fail with TR_EIO */
    TR_SCEN_DISK_FULL,   /* a, dur_ns: commits fail with TR_ENOSPC */
    TR_SCEN_SLOW_DISK,   /* a, extra_ns, dur_ns: commits take extra_ns longer */
    TR_SCEN_CORRUPT,     /* a: crashes with a torn data file; never starts again */
} tr_scen_kind;

typedef struct tr_scen_event {
    uint64_t at_ns;
    tr_scen_kind kind;
    uint32_t a, b; /* node indices (0-based) or TR_SIM_ANY */
    uint64_t mask;
    int64_t value;
    uint64_t extra_ns, dur_ns;
    uint32_t line;
} tr_scen_event;

typedef struct tr_scenario {
    tr_scen_event *events; /* owned, in file order */
    size_t count;
    size_t cap; /* events allocated */
} tr_scenario;

/* Parses text[0..len) for a cluster of `nodes` nodes. 0, or TR_EINVAL with "LINE: why" in
 * err (err_cap bytes, NUL-terminated) and *out empty; TR_ENOMEM. */
int tr__scenario_parse(const char *text, size_t len, uint32_t nodes, tr_scenario *out, char *err,
                       size_t err_cap);
void tr__scenario_free(tr_scenario *s);
/* Applies one event to the sim (the caller does its own bookkeeping around crash/pause,
 * and ends the storage faults that last dur_ns: tr_sim_disk_repair, tr_sim_disk_slow 0).
 * Returns what the tr_sim_* call returned. */
int tr__scenario_apply(tr_sim *sim, const tr_scen_event *ev);
/* Writes ev as one line of the file format (no newline) into buf[cap] for a cluster of
 * `nodes` nodes; the line parses back to ev (but for its line number). Returns the length
 * it needed, as snprintf does. */
int tr__scenario_format(const tr_scen_event *ev, uint32_t nodes, char *buf, size_t cap);
/* Appends ev to s (which owns its array; grows it). 0, TR_EFULL past TR_SCENARIO_EVENTS_MAX,
 * TR_ENOMEM. */
int tr__scenario_append(tr_scenario *s, const tr_scen_event *ev);

#endif
