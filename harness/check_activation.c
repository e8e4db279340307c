/*
 * check_activation.c — tr_entity_check_single (troupe.h, "Probes"): single activation, from
 * the TR_PROBE_ENTITY probes the entity hosts made.
 *
 * An activation is (type, id, node, epoch): one node's tenure of an entity under one fencing
 * epoch. Its span is the true time from the first to the last message it handled (a span of
 * one message is a point). The guarantee is that no two activations of one entity handled
 * messages at overlapping times; with the spans sorted by their start, it fails exactly when a
 * span starts at or before the latest end of the spans before it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe.h"

typedef struct span {
    uint64_t type, id, epoch;
    uint32_t node;
    uint64_t first, last; /* true time of the first and last message handled */
} span;

static int cmp_probe(const void *pa, const void *pb) {
    const tr_sim_probe *x = pa, *y = pb;
    if (x->a != y->a) {
        return x->a < y->a ? -1 : 1;
    }
    if (x->b != y->b) {
        return x->b < y->b ? -1 : 1;
    }
    if (x->node != y->node) {
        return x->node < y->node ? -1 : 1;
    }
    if (x->c != y->c) {
        return x->c < y->c ? -1 : 1;
    }
    return (x->t_ns > y->t_ns) - (x->t_ns < y->t_ns);
}

static int cmp_span(const void *pa, const void *pb) {
    const span *x = pa, *y = pb;
    if (x->type != y->type) {
        return x->type < y->type ? -1 : 1;
    }
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return (x->first > y->first) - (x->first < y->first);
}

/* The entity probes of the run, sorted by activation then time, as spans (*count of them). */
static span *collect(const tr_sim_probe *all, size_t n, size_t *count) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        m += all[i].kind == TR_PROBE_ENTITY;
    }
    tr_sim_probe *p = malloc((m ? m : 1) * sizeof *p);
    span *s = malloc((m ? m : 1) * sizeof *s);
    if (p == NULL || s == NULL) {
        free(p);
        free(s);
        return NULL;
    }
    m = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].kind == TR_PROBE_ENTITY) {
            p[m++] = all[i];
        }
    }
    qsort(p, m, sizeof *p, cmp_probe);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        span *last = k ? &s[k - 1] : NULL;
        if (last && last->type == p[i].a && last->id == p[i].b && last->node == p[i].node &&
            last->epoch == p[i].c) {
            last->last = p[i].t_ns;
            continue;
        }
        s[k++] = (span){p[i].a, p[i].b, p[i].c, p[i].node, p[i].t_ns, p[i].t_ns};
    }
    free(p);
    *count = k;
    return s;
}

/* The promise holds under bounded drift and no clock jumps: a run with a clock fault beyond
 * that is outside it. */
static bool clock_faults(const tr_check_input *in) {
    for (uint32_t i = 0; i < in->fault_count; i++) {
        if (tr_fault_breaks_clock_bound(&in->faults[i])) {
            return true;
        }
    }
    return false;
}

tr_verdict tr_entity_check_single(const tr_check_input *in, char *why, size_t why_cap) {
    if (in->sim == NULL) {
        snprintf(why, why_cap, "no simulation: the probes exist only in the simulator");
        return TR_VERDICT_UNKNOWN;
    }
    const tr_sim_probe *all;
    uint64_t dropped = 0;
    size_t n = tr_sim_probes(in->sim, &all, &dropped);
    size_t count = 0;
    span *s = collect(all, n, &count);
    if (s == NULL) {
        snprintf(why, why_cap, "out of memory for %zu probes", n);
        return TR_VERDICT_UNKNOWN;
    }
    qsort(s, count, sizeof *s, cmp_span);
    size_t entities = 0;
    const span *reach = NULL; /* of the spans of this entity so far, the one ending last */
    tr_verdict v = TR_VERDICT_HELD;
    for (size_t i = 0; i < count && v == TR_VERDICT_HELD; i++) {
        if (i == 0 || s[i].type != s[i - 1].type || s[i].id != s[i - 1].id) {
            entities++;
            reach = &s[i];
            continue;
        }
        if (s[i].first <= reach->last) {
            snprintf(why, why_cap,
                     "entity %" PRIu64 " handled messages on n%" PRIu32 " (epoch %" PRIu64
                     ") from %.6f s to %.6f s and on n%" PRIu32 " (epoch %" PRIu64
                     ") from %.6f s to %.6f s",
                     s[i].id, reach->node + 1, reach->epoch, (double)reach->first / 1e9,
                     (double)reach->last / 1e9, s[i].node + 1, s[i].epoch, (double)s[i].first / 1e9,
                     (double)s[i].last / 1e9);
            v = TR_VERDICT_VIOLATED;
        }
        reach = s[i].last > reach->last ? &s[i] : reach;
    }
    (void)tr_check_measure(in, "entities", (double)entities);
    (void)tr_check_measure(in, "activations", (double)count);
    free(s);
    if (v == TR_VERDICT_HELD && count == 0) {
        snprintf(why, why_cap, "no entity handled a message");
        return TR_VERDICT_UNKNOWN;
    }
    if (v == TR_VERDICT_HELD && dropped > 0) {
        snprintf(why, why_cap, "%" PRIu64 " probes were not kept (at most %u per run)", dropped,
                 TR_SIM_PROBES_MAX);
        return TR_VERDICT_UNKNOWN;
    }
    if (v == TR_VERDICT_HELD) {
        snprintf(why, why_cap, "%zu activations of %zu entities, none overlapping", count,
                 entities);
    }
    if (v == TR_VERDICT_VIOLATED && clock_faults(in)) {
        char text[256];
        snprintf(text, sizeof text, "%s", why);
        snprintf(why, why_cap, "not promised with clock faults: %s", text);
        return TR_VERDICT_UNKNOWN; /* outside the stated condition, not a broken promise */
    }
    return v;
}
