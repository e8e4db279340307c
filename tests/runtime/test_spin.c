/* The adaptive spin budget (runtime/spin.c) as pure logic: synthetic wall times and a fake
 * thread CPU clock. It must keep spinning on a free core whether or not spins find work,
 * stop at once and drop to nothing when the thread is descheduled or other threads crowd
 * the cores (judged by rate, not by a count alone), back its probes off while the cores
 * stay taken, and recover when the machine is idle again. */
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

/* A node whose messages come rarely, on a machine with nothing else to run: every spin
 * runs out, and each one still spins the full budget (it costs nothing but power). */
Test(spin, misses_on_a_free_core_keep_the_full_budget) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(spin_free(&s, &c, &wall, UINT64_MAX), MAX_NS, "spin %d", i);
        wall += 5000000; /* 5 ms until the next message */
        c.now_ns += 100000;
    }
    cr_assert_eq(s.misses, 1000);
    cr_assert_eq(s.budget_ns, MAX_NS);
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
    wall += TR__SPIN_SAMPLE_NS + 30000; /* a kernel thread ran for 30 us: no slice */
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
        spins += spin_preempted(&s, &c, &wall, 10 * TR__SPIN_PREEMPT_NS) > 0;
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
        spin_preempted(&s, &c, &wall, 10 * TR__SPIN_PREEMPT_NS);
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
    spin_preempted(&s, &c, &wall, 10 * TR__SPIN_PREEMPT_NS);
    cr_assert_leq(s.probe_every, 4 * TR__SPIN_PROBE_MIN);
}

/* After a preemption the thread parks at once; its next probe, on a core that is free again,
 * restores the budget even though no work came (an idle node keeps spinning after its
 * messages). A probe that is preempted again keeps it parking. */
Test(spin, a_probe_on_a_free_core_restores_the_budget_without_work) {
    tr__spin s;
    fake_cpu c;
    setup(&s, &c);
    uint64_t wall = 1000000;
    spin_preempted(&s, &c, &wall, 10 * TR__SPIN_PREEMPT_NS);
    cr_assert_eq(s.budget_ns, 0);
    uint32_t parks = 0;
    while (spin_free(&s, &c, &wall, UINT64_MAX) == 0) { /* nothing ever comes */
        parks++;
        cr_assert_leq(parks, 2 * TR__SPIN_PROBE_MIN, "no probe after %u parks", parks);
    }
    cr_assert_eq(s.probes, 1);
    cr_assert_eq(s.budget_ns, MAX_NS, "an unpreempted probe must restore the budget");
    /* preempted again: parks again, and a probe that is itself preempted keeps it there */
    spin_preempted(&s, &c, &wall, 10 * TR__SPIN_PREEMPT_NS);
    uint32_t spun = 0;
    for (uint32_t i = 0; i < 8 * TR__SPIN_PROBE_MAX && spun < 3; i++) {
        spun += spin_preempted(&s, &c, &wall, 10 * TR__SPIN_PREEMPT_NS) > 0;
    }
    cr_assert_eq(spun, 3);
    cr_assert_eq(s.budget_ns, 0, "a preempted probe must not restore the budget");
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

/* A node that begins a spin a few times a second (an idle cluster: heartbeats, a request now
 * and then): its windows span hundreds of milliseconds and collect a few involuntary switches
 * from kernel threads. That is no crowd; the same switches within a millisecond are. */
Test(spin, a_few_switches_in_a_long_window_are_not_a_crowd) {
    tr__spin s;
    fake_cpu c = {.now_ns = 777};
    tr__spin_init(&s, MAX_NS, fake_clock, fake_switches, &c);
    uint64_t wall = 1000000;
    for (int i = 0; i < 40 * (int)TR__SPIN_WINDOW; i++) {
        c.switches += i % 8 == 0; /* 4 per window of 32 begins... */
        cr_assert_eq(spin_free(&s, &c, &wall, 17000), MAX_NS, "begin %d", i);
        wall += 10000000; /* ...over 320 ms: one switch every 80 ms */
    }
    cr_assert_eq(s.crowdings, 0);
    for (int i = 0; i < 3 * (int)TR__SPIN_WINDOW; i++) {
        c.switches += i % 8 == 0; /* the same count with no gap between begins */
        spin_free(&s, &c, &wall, 17000);
    }
    cr_assert_geq(s.crowdings, 1);
    cr_assert_eq(s.budget_ns, 0);
}
