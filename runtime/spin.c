/* spin.c — the adaptive spin budget (see spin.h). */
#include "runtime/spin.h"

#include "runtime/assert.h"

void tr__spin_init(tr__spin *s, uint64_t max_ns, tr__spin_clock_fn cpu_clock,
                   tr__spin_clock_fn switches, void *ud) {
    TR_ASSERT(s && cpu_clock);
    *s = (tr__spin){.max_ns = max_ns,
                    .budget_ns = max_ns,
                    .probe_every = TR__SPIN_PROBE_MIN,
                    .cpu_clock = cpu_clock,
                    .switches = switches,
                    .clock_ud = ud};
}

static void back_off(tr__spin *s) {
    s->budget_ns = 0;
    s->parks = 0;
    s->probe_every =
        s->probe_every * 2 > TR__SPIN_PROBE_MAX ? TR__SPIN_PROBE_MAX : s->probe_every * 2;
}

/* Every TR__SPIN_WINDOW begins: was this thread switched out against its will, often enough
 * for a crowd? The first read (on the owner thread: init may run on another) only takes the
 * reference. */
static void check_crowding(tr__spin *s, uint64_t now_ns) {
    if (!s->switches || s->max_ns == 0 || ++s->window_begins < TR__SPIN_WINDOW) {
        return;
    }
    uint64_t n = s->switches(s->clock_ud);
    if (s->switches_ref_valid) {
        uint64_t switched = n - s->switches_ref, span_ns = now_ns - s->window_start_ns;
        s->crowded = switched >= TR__SPIN_CROWDED && switched * TR__SPIN_CROWDED_GAP_NS >= span_ns;
        if (s->crowded) {
            s->crowdings++;
            s->budget_ns = 0; /* no probe while crowded: probe soon once it is not */
            s->parks = 0;
            s->probe_every = TR__SPIN_PROBE_MIN;
        }
    }
    s->switches_ref_valid = true;
    s->switches_ref = n;
    s->window_start_ns = now_ns;
    s->window_begins = 0;
}

uint64_t tr__spin_begin(tr__spin *s, uint64_t now_ns) {
    TR_ASSERT(!s->active);
    check_crowding(s, now_ns);
    uint64_t limit = s->budget_ns;
    bool probing = false;
    if (limit == 0 && s->max_ns > 0 && !s->crowded && ++s->parks >= s->probe_every) {
        limit = s->max_ns; /* a probe: does spinning pay again? */
        probing = true;
        s->parks = 0;
        s->probes++;
    }
    if (limit == 0) {
        return 0;
    }
    s->active = true;
    s->probing = probing;
    s->preempted = false;
    s->sampled = false;
    s->start_ns = now_ns;
    s->limit_ns = limit;
    s->next_sample_ns = now_ns; /* the first poll takes the reference sample */
    return limit;
}

bool tr__spin_more(tr__spin *s, uint64_t now_ns) {
    TR_ASSERT(s->active);
    if (now_ns >= s->next_sample_ns) {
        uint64_t cpu = s->cpu_clock(s->clock_ud);
        if (!s->sampled) {
            s->sampled = true;
            s->ref_wall_ns = now_ns;
            s->ref_cpu_ns = cpu;
        } else {
            uint64_t wall = now_ns - s->ref_wall_ns;
            uint64_t ran = cpu > s->ref_cpu_ns ? cpu - s->ref_cpu_ns : 0;
            if (wall > ran + TR__SPIN_PREEMPT_NS) {
                s->preempted = true; /* descheduled: the cores are taken */
                return false;
            }
        }
        s->next_sample_ns = now_ns + TR__SPIN_SAMPLE_NS;
    }
    return now_ns - s->start_ns < s->limit_ns;
}

void tr__spin_end(tr__spin *s, bool hit) {
    TR_ASSERT(s->active);
    s->active = false;
    if (s->preempted) {
        s->preemptions++;
        back_off(s);
    } else {
        if (hit) {
            s->hits++;
            s->probe_every =
                s->probe_every / 2 < TR__SPIN_PROBE_MIN ? TR__SPIN_PROBE_MIN : s->probe_every / 2;
        } else {
            s->misses++; /* a miss on a free core costs nothing: the budget stays */
        }
        if (s->probing) {
            s->budget_ns = s->max_ns; /* a probe ran on a free core */
        }
    }
    TR_ASSERT(s->budget_ns == 0 || s->budget_ns == s->max_ns);
    TR_ASSERT(s->probe_every >= TR__SPIN_PROBE_MIN && s->probe_every <= TR__SPIN_PROBE_MAX);
}
