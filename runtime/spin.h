/*
 * spin.h — an adaptive spin budget: how long a thread that ran out of work polls for more
 * before it parks (worker 0's idle loop, the transport's spin after I/O activity).
 *
 * Why: waking a parked thread costs 15-20 us on a 2-vCPU VM, so a thread in a conversation
 * (a remote round trip) is faster if it polls for the next message than if it sleeps. That
 * pays only while the thread has a core to itself. When the cores are taken (busy
 * processes, a CFS quota of one CPU), a spinning thread burns its time slice or its
 * cgroup's quota, and the thread that would produce its work cannot run: the round trip
 * then costs a scheduler slice (milliseconds) instead of a wake-up.
 *
 * The policy, per spinning loop (one tr__spin each, owned by one thread). The budget is
 * all (max_ns) or nothing (0): a spin on a core that nothing else wants costs only power,
 * so what decides is whether other threads want the cores.
 *   1. A spin that found work is a hit, one that ran out a miss. A miss leaves the budget
 *      as it is: on a free core it cost nothing, and a conversation whose messages come at
 *      uneven gaps (two nodes passing batches back and forth) loses a sleep and a wake-up
 *      on both sides for every spin it gives up. (Halving the budget on each miss cost the
 *      pipelined remote benchmark 10-20%: there worker 0 finds work in one spin of two to
 *      six after the transport's own spin has run out.)
 *   2. Crowding: every TR__SPIN_WINDOW begins the thread's count of involuntary context
 *      switches is read. TR__SPIN_CROWDED or more in the window, and at least one per
 *      TR__SPIN_CROWDED_GAP_NS of its wall time on average, means other threads want these
 *      cores (at any time, spinning or working: a spinner is seldom preempted itself, the
 *      scheduler favouring a thread that sleeps often; its peer is the one kept off the
 *      cores). The budget drops to 0, and no probe runs while the windows stay crowded.
 *      The rate is what tells a crowd from noise: measured on a 2-vCPU VM, a remote round
 *      trip beside one CPU-bound process is switched out ~17,000 times a second, while on
 *      an idle machine the window of a loop that begins a few times a second can span a
 *      few hundred milliseconds and still collect a handful of switches (kernel threads).
 *   3. Preemption: while spinning, the thread's CPU time is compared with wall time (a
 *      sample every TR__SPIN_SAMPLE_NS of wall time, so a spin that hits at once reads no
 *      clock). Wall time running ahead of CPU time by more than TR__SPIN_PREEMPT_NS (a
 *      scheduler slice or a quota's throttling; an idle machine's kernel threads take tens
 *      of microseconds) means the thread was descheduled: the spin stops at once and the
 *      budget drops to 0.
 *   4. While the budget is 0 (and the last window was not crowded) the thread parks at
 *      once; every probe_every-th park it spins a probe of max_ns instead. A probe that is
 *      not descheduled restores the full budget, whether or not work came: it ran on a
 *      free core. A preemption doubles probe_every (up to TR__SPIN_PROBE_MAX); a hit
 *      halves it (down to TR__SPIN_PROBE_MIN). A crowded window sets it to
 *      TR__SPIN_PROBE_MIN instead: no probe runs while the windows are crowded, so the
 *      window test is already the test, and once a window is quiet the next probe comes
 *      after a few parks. (Doubling there too made a crowded start, e.g. the other threads
 *      of a process that is starting, cost thousands of parked round trips after the crowd
 *      had gone.) A quiet window does not restore the budget by itself: beside a CPU-bound
 *      process the windows in which a node spins are the quiet ones (the spinner keeps
 *      its core while its peer waits). A variant that restored it there (with a rate of
 *      one switch per millisecond for a crowd) ran that round trip at two thirds of the
 *      rate of this policy.
 *
 * Invariants: budget_ns is 0 or max_ns; TR__SPIN_PROBE_MIN <= probe_every <=
 * TR__SPIN_PROBE_MAX; between begin and end at most one spin is in progress. max_ns == 0
 * never spins.
 *
 * Pure logic: wall time is passed in; the thread's CPU time and its involuntary switches
 * are callbacks (the real engine's tr__real_thread_cpu_ns and tr__real_thread_preemptions;
 * tests feed synthetic samples). Not thread-safe: one owner thread per tr__spin.
 */
#ifndef TR_SPIN_H
#define TR_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#define TR__SPIN_SAMPLE_NS 4000u          /* CPU-clock samples this far apart during a spin */
#define TR__SPIN_PREEMPT_NS 1000000u      /* wall ahead of CPU by more: descheduled */
#define TR__SPIN_PROBE_MIN 16u            /* parks between probes after a hit */
#define TR__SPIN_PROBE_MAX 4096u          /* ... at most, after repeated preempted probes */
#define TR__SPIN_WINDOW 32u               /* begins between two reads of the switch count */
#define TR__SPIN_CROWDED 2u               /* involuntary switches in a window: cores are taken, */
#define TR__SPIN_CROWDED_GAP_NS 10000000u /* ... if one per this much wall time or more */

#define TR__SPIN_DEFAULT_US 50u /* a configured spin of 0 (tr_config, the transport's config) */

/* The ceiling in ns for a configured spin in µs: 0 is the default, negative is none. */
static inline uint64_t tr__spin_ceiling_ns(int32_t spin_us) {
    return spin_us < 0 ? 0
                       : (uint64_t)(spin_us == 0 ? TR__SPIN_DEFAULT_US : (uint32_t)spin_us) * 1000;
}

/* A count of the calling thread: its CPU time in ns, or its involuntary context switches
 * so far. ud is the tr__spin's clock_ud. */
typedef uint64_t (*tr__spin_clock_fn)(void *ud);

typedef struct tr__spin {
    uint64_t max_ns;    /* the ceiling: the configured spin; 0 never spins */
    uint64_t budget_ns; /* the current budget: 0 or max_ns */
    uint32_t probe_every, parks;
    tr__spin_clock_fn cpu_clock; /* borrowed function */
    tr__spin_clock_fn switches;  /* borrowed function; NULL: no crowding signal */
    void *clock_ud;              /* borrowed; passed to both clocks */
    /* the crowding window */
    bool crowded, switches_ref_valid;
    uint32_t window_begins;
    uint64_t switches_ref, window_start_ns; /* the count and wall time at its start */
    /* the spin in progress */
    bool active, probing, preempted, sampled;
    uint64_t start_ns, limit_ns;      /* wall time at begin; the spin's length */
    uint64_t ref_wall_ns, ref_cpu_ns; /* the first CPU sample of this spin */
    uint64_t next_sample_ns;          /* wall time of the next CPU sample */
    /* counters (read by tests and logs) */
    uint64_t hits, misses, preemptions, probes, crowdings;
} tr__spin;

/* Sets s up with a ceiling of max_ns and a full budget. The clocks and ud are borrowed;
 * switches may be NULL. */
void tr__spin_init(tr__spin *s, uint64_t max_ns, tr__spin_clock_fn cpu_clock,
                   tr__spin_clock_fn switches, void *ud);
/* Starts a spin at wall time now_ns: returns how long it may last, 0 = park at once (then
 * no spin is in progress and tr__spin_end must not be called). */
uint64_t tr__spin_begin(tr__spin *s, uint64_t now_ns);
/* During a spin, at wall time now_ns: true to keep spinning, false once the limit is spent
 * or the thread was found descheduled (the caller then ends the spin as a miss). */
bool tr__spin_more(tr__spin *s, uint64_t now_ns);
/* Ends the spin in progress: hit = it found work. */
void tr__spin_end(tr__spin *s, bool hit);

#endif
