/* determinism.c — the check-determinism mode: record one run's events, compare a second
 * run against them, and describe the first event where they differ (see sim/determinism.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/determinism.h"

/* Describes a record for divergence reports. */
static void describe(const sim_record *r, char *buf, size_t cap) {
    static const char *names[SIM_EV_KIND_COUNT] = {"?",      "run",  "timer",      "deliver",
                                                   "commit", "call", "node-event", "proto-tick"};
    const char *k = r->kind < SIM_EV_KIND_COUNT ? names[r->kind] : "?";
    if (r->kind == SIM_EV_CALL) {
        snprintf(buf, cap, "t=%" PRIu64 " ns %s", r->time, k);
        return;
    }
    if (r->kind == SIM_EV_DELIVER) {
        snprintf(buf, cap,
                 "t=%" PRIu64 " ns n%u deliver from n%u type %u corr %" PRIu64
                 " envelope-hash %016" PRIx64,
                 r->time, r->node + 1, (unsigned)(r->a >> 32) + 1, (unsigned)(r->a & 0xffffffffu),
                 r->b, r->c);
        return;
    }
    static const char *a_names[SIM_EV_KIND_COUNT] = {
        "", "actor", "owner", "", "writes", "", "about-node-index", "local-ms"};
    static const char *b_names[SIM_EV_KIND_COUNT] = {"",       "processed", "timer", "",
                                                     "status", "",          "up",    ""};
    snprintf(buf, cap, "t=%" PRIu64 " ns n%u %s %s=%" PRIu64 " %s=%" PRIu64, r->time, r->node + 1,
             k, a_names[r->kind], r->a, b_names[r->kind], r->b);
}

void tr__sim_record(tr_sim *sim, sim_record *r) {
    r->hash = sim->trace;
    uint64_t idx = sim->stats.events - 1;
    if (sim->mode == SIM_MODE_RECORD && idx < sim->rec_cap) {
        if (idx >= sim->rec_count) {
            sim->rec[idx] = *r;
            sim->rec_count = idx + 1;
        }
    } else if (sim->mode == SIM_MODE_COMPARE && !sim->div->diverged && idx < sim->cmp_count) {
        const sim_record *o = &sim->cmp[idx];
        if (o->hash != r->hash) {
            char a[110], b[110];
            describe(o, a, sizeof a);
            describe(r, b, sizeof b);
            sim->div->diverged = true;
            sim->div->event_index = idx;
            sim->div->time_ns = r->time;
            snprintf(sim->div->what, sizeof sim->div->what,
                     "event #%" PRIu64 ": run 1 %s | run 2 %s", idx, a, b);
        }
    }
}

int tr_sim_check_determinism(const tr_sim_config *cfg, void (*scenario)(tr_sim *sim, void *ud),
                             void *ud, tr_sim_divergence *out) {
    if (cfg == NULL || scenario == NULL || out == NULL) {
        return TR_EINVAL;
    }
    memset(out, 0, sizeof *out);
    uint64_t cap = cfg->record_events_max ? cfg->record_events_max : (1u << 20);
    sim_record *rec = malloc(cap * sizeof *rec);
    if (rec == NULL) {
        return TR_ENOMEM;
    }
    tr_sim *a;
    int rc = tr_sim_create(cfg, &a);
    if (rc != 0) {
        free(rec);
        return rc;
    }
    /* Events processed during create (boot) are recorded too: record from the start. */
    a->mode = SIM_MODE_RECORD;
    a->rec = rec;
    a->rec_cap = cap;
    a->rec_count = 0;
    scenario(a, ud);
    uint64_t count_a = a->stats.events, rec_count = a->rec_count;
    out->hash_first = a->trace;
    a->rec = NULL;
    tr_sim_destroy(a);
    tr_sim *b;
    rc = tr_sim_create(cfg, &b);
    if (rc != 0) {
        free(rec);
        return rc;
    }
    b->mode = SIM_MODE_COMPARE;
    b->cmp = rec;
    b->cmp_count = rec_count;
    b->div = out;
    scenario(b, ud);
    out->hash_second = b->trace;
    uint64_t count_b = b->stats.events;
    tr_sim_destroy(b);
    free(rec);
    if (!out->diverged && (count_a != count_b || out->hash_first != out->hash_second)) {
        uint64_t common = count_a < count_b ? count_a : count_b;
        out->diverged = true;
        out->event_index = rec_count < common ? rec_count : common;
        if (rec_count < common) {
            snprintf(out->what, sizeof out->what,
                     "runs differ after the recorded window: the first %" PRIu64
                     " events agree (run 1: %" PRIu64 " events, run 2: %" PRIu64 ")",
                     rec_count, count_a, count_b);
        } else {
            snprintf(out->what, sizeof out->what,
                     "runs agree for %" PRIu64 " events, then one stops (run 1: %" PRIu64
                     " events, run 2: %" PRIu64 ")",
                     common, count_a, count_b);
        }
    }
    return 0;
}
