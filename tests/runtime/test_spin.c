/* The adaptive spin budget (runtime/spin.c) as pure logic: synthetic wall times and a fake
 * thread CPU clock. It must keep spinning while spins pay, shrink on misses, stop at once and
 * drop to nothing when the thread is descheduled, back its probes off while the cores stay
 * taken, and recover when the machine is idle again. */
#include <criterion/criterion.h>

#include "runtime/spin.h"

#define MAX_NS 50000u

/* The fake thread clocks: the test sets what they read and counts the CPU clock's reads. */
typedef struct fake_cpu {
    uint64_t now_ns;
    uint32_t reads;
    uint64_t switches; /* the thread's involuntary context switches */
} fake_cpu;

static uint64_t fake_clock(void *ud) {
    fake_cpu *c = ud;
    c->reads++;
    return c->now_ns;
}

static uint64_t fake_switches(void *ud) {
    const fake_cpu *c = ud;
    return c->switches;
}

/* One spin on a free core: wall and CPU time advance together, step_ns per poll; work shows
 * up after found_ns (a hit) or never (UINT64_MAX: the spin runs out, a miss). Returns the
 * spin's limit (0: it parked at once). */
static uint64_t spin_free(tr__spin *s, fake_cpu *c, uint64_t *wall, uint64_t found_ns) {
    uint64_t limit = tr__spin_begin(s, *wall);
    if (limit == 0) {
        return 0;
    }
    uint64_t start = *wall;
    for (;;) {
        *wall += 1000;
        c->now_ns += 1000;
        if (*wall - start >= found_ns) {
            tr__spin_end(s, true);
            return limit;
        }
        if (!tr__spin_more(s, *wall)) {
            tr__spin_end(s, false);
            return limit;
        }
    }
}

/* One spin during which the thread is descheduled for off_ns after its first poll (wall time
 * runs on, CPU time does not); work would have come after found_ns. */
static uint64_t spin_preempted(tr__spin *s, fake_cpu *c, uint64_t *wall, uint64_t off_ns) {
    uint64_t limit = tr__spin_begin(s, *wall);
    if (limit == 0) {
        return 0;
    }
    *wall += 1000;
    c->now_ns += 1000;
    cr_assert(tr__spin_more(s, *wall), "the first poll takes the reference sample");
    *wall += off_ns; /* off the CPU */
    *wall += 1000;
    c->now_ns += 1000;
    bool more = tr__spin_more(s, *wall);
    tr__spin_end(s, false);
    cr_assert_not(more, "a poll after %llu ns off the CPU must stop the spin",
                  (unsigned long long)off_ns);
    return limit;
}

static void setup(tr__spin *s, fake_cpu *c) {
    *c = (fake_cpu){.now_ns = 123456};
    tr__spin_init(s, MAX_NS, fake_clock, NULL, c);
}

Test(spin, spins_full_budget_while_every_spin_hits) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(spin_free(&s, &c, &wall, 17000), MAX_NS);
    }
    cr_assert_eq(s.budget_ns, MAX_NS);
    cr_assert_eq(s.hits, 1000);
    cr_assert_eq(s.preemptions, 0);
}

Test(spin, misses_halve_the_budget_down_to_parking_at_once) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    uint64_t expect = MAX_NS;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(spin_free(&s, &c, &wall, UINT64_MAX), expect);
        expect /= 2;
        cr_assert_eq(s.budget_ns, expect);
    }
    cr_assert_eq(spin_free(&s, &c, &wall, UINT64_MAX), expect); /* 1,562 ns, a miss */
    cr_assert_eq(s.budget_ns, 0, "a budget under %u ns is no budget", TR__SPIN_MIN_NS);
    cr_assert_eq(tr__spin_begin(&s, wall), 0, "no budget: park at once");
}

Test(spin, a_spin_that_hits_at_once_reads_no_cpu_clock) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 100; i++) {
        cr_assert_gt(tr__spin_begin(&s, wall), 0);
        tr__spin_end(&s, true); /* work found before the first poll */
    }
    cr_assert_eq(c.reads, 0);
    /* A long spin samples the CPU clock about every TR__SPIN_SAMPLE_NS, not every poll. */
    spin_free(&s, &c, &wall, UINT64_MAX);
    cr_assert_leq(c.reads, MAX_NS / TR__SPIN_SAMPLE_NS + 2);
    cr_assert_geq(c.reads, MAX_NS / TR__SPIN_SAMPLE_NS - 1);
}

Test(spin, preemption_stops_the_spin_and_drops_the_budget) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    spin_preempted(&s, &c, &wall, 4 * TR__SPIN_PREEMPT_NS);
    cr_assert_eq(s.preemptions, 1);
    cr_assert_eq(s.budget_ns, 0);
    for (uint32_t i = 1; i < TR__SPIN_PROBE_MIN * 2; i++) {
        cr_assert_eq(tr__spin_begin(&s, wall), 0, "park %u must not spin", i);
    }
}

Test(spin, a_short_stall_is_not_preemption) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    cr_assert_gt(tr__spin_begin(&s, wall), 0);
    wall += 1000;
    c.now_ns += 1000;
    cr_assert(tr__spin_more(&s, wall));
    wall += TR__SPIN_SAMPLE_NS + TR__SPIN_PREEMPT_NS / 2; /* an interrupt, a cache miss storm */
    c.now_ns += TR__SPIN_SAMPLE_NS;
    cr_assert(tr__spin_more(&s, wall));
    tr__spin_end(&s, true);
    cr_assert_eq(s.preemptions, 0);
    cr_assert_eq(s.budget_ns, MAX_NS);
}

/* A busy machine (every spin preempted) for many parks: the thread parks at once on almost
 * all of them, and its probes back off. */
Test(spin, under_sustained_preemption_spins_on_few_parks_and_backs_off) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    uint32_t spins = 0;
    const uint32_t parks = 100000;
    for (uint32_t i = 0; i < parks; i++) {
        spins += spin_preempted(&s, &c, &wall, 1000000) > 0;
    }
    cr_assert_eq(s.probe_every, TR__SPIN_PROBE_MAX);
    cr_assert_lt(spins, parks / 500, "%u of %u parks spun under preemption", spins, parks);
    cr_assert_eq(s.budget_ns, 0);
}

/* Then the machine goes idle: within one probe period the budget is back to the full spin,
 * and the probes come often again. */
Test(spin, recovers_the_full_budget_when_the_machine_goes_idle) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 20000; i++) {
        spin_preempted(&s, &c, &wall, 1000000);
    }
    uint32_t period = s.probe_every;
    cr_assert_gt(period, TR__SPIN_PROBE_MIN);
    uint32_t parks = 0;
    while (s.budget_ns < MAX_NS && parks <= period) {
        spin_free(&s, &c, &wall, 17000);
        parks++;
    }
    cr_assert_eq(s.budget_ns, MAX_NS, "not recovered after %u parks", parks);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(spin_free(&s, &c, &wall, 17000), MAX_NS);
    }
    /* Probes come often again: a later preemption is re-probed within a few periods. */
    spin_preempted(&s, &c, &wall, 1000000);
    cr_assert_leq(s.probe_every, 4 * TR__SPIN_PROBE_MIN);
}

Test(spin, a_missed_probe_keeps_parking) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 100 && s.budget_ns; i++) {
        spin_free(&s, &c, &wall, UINT64_MAX); /* an idle node: nothing comes */
    }
    cr_assert_eq(s.budget_ns, 0, "misses on an idle node must bring the budget to 0");
    uint32_t spins = 0;
    for (uint32_t i = 0; i < 100 * TR__SPIN_PROBE_MIN; i++) {
        spins += spin_free(&s, &c, &wall, UINT64_MAX) > 0;
    }
    cr_assert_eq(spins, 100, "one probe per %u parks", TR__SPIN_PROBE_MIN);
    cr_assert_eq(s.budget_ns, 0);
}

Test(spin, a_zero_ceiling_never_spins) {
    tr__spin s;
    fake_cpu c;
    c = (fake_cpu){0};
    tr__spin_init(&s, 0, fake_clock, NULL, &c);
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(tr__spin_begin(&s, (uint64_t)i * 1000), 0);
    }
    cr_assert_eq(s.probes, 0);
}

/* A crowded machine where the spinning thread itself is never preempted while it spins (its
 * peer waits instead), but is switched out against its will now and then while it works:
 * it stops spinning, probes included, until that stops; then the budget recovers within a
 * window and a probe, however long the crowd lasted. */
Test(spin, involuntary_switches_stop_spinning_and_their_end_restores_it) {
    tr__spin s;
    fake_cpu c = {.now_ns = 777};
    tr__spin_init(&s, MAX_NS, fake_clock, fake_switches, &c);
    uint64_t wall = 1000000;
    uint32_t late_spins = 0;
    for (int i = 0; i < 5000; i++) {
        c.switches += i % 8 == 0; /* one involuntary switch every 8 parks */
        uint64_t limit = spin_free(&s, &c, &wall, 17000);
        late_spins += i >= 3 * (int)TR__SPIN_WINDOW && limit > 0;
    }
    cr_assert_geq(s.crowdings, 1);
    cr_assert_eq(s.preemptions, 0);
    cr_assert_eq(late_spins, 0, "%u spins on a crowded machine", late_spins);
    cr_assert_eq(s.budget_ns, 0);
    uint32_t parks = 0;
    /* the next window is quiet, and a probe comes TR__SPIN_PROBE_MIN parks after it */
    while (s.budget_ns < MAX_NS && parks <= TR__SPIN_WINDOW + TR__SPIN_PROBE_MIN) {
        spin_free(&s, &c, &wall, 17000); /* no more involuntary switches */
        parks++;
    }
    cr_assert_eq(s.budget_ns, MAX_NS, "not recovered after %u parks", parks);
}

Test(spin, a_rare_involuntary_switch_keeps_the_full_budget) {
    tr__spin s;
    fake_cpu c = {.now_ns = 777};
    tr__spin_init(&s, MAX_NS, fake_clock, fake_switches, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 5000; i++) {
        c.switches += i % 100 == 0; /* a kernel worker, now and then */
        cr_assert_eq(spin_free(&s, &c, &wall, 17000), MAX_NS);
    }
    cr_assert_eq(s.crowdings, 0);
}
