/* trace.c — a simulated run's events as JSON lines (sim/trace.h). */
#include "sim/trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/registry.h"
#include "sim/sim.h"

struct tr__sim_trace {
    FILE *f;
    tr_sim_trace_spec spec;
    uint64_t written; /* bytes of event lines */
    uint64_t dropped; /* lines left out by the size bound */
    uint64_t first_dropped_ns;
};

int tr__sim_trace_open(tr_sim *sim, const tr_sim_trace_spec *spec, char *err, size_t err_cap) {
    if (spec->path == NULL || spec->path[0] == '\0' || spec->node >= (int32_t)sim->n) {
        snprintf(err, err_cap, "a trace needs a file and a node from n1 to n%u", sim->n);
        return TR_EINVAL;
    }
    tr__sim_trace *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return TR_ENOMEM;
    }
    t->f = fopen(spec->path, "w");
    if (t->f == NULL) {
        snprintf(err, err_cap, "cannot write the trace %s", spec->path);
        free(t);
        return TR_EIO;
    }
    t->spec = *spec;
    if (t->spec.max_bytes == 0) {
        t->spec.max_bytes = TR_SIM_TRACE_BYTES_DEFAULT;
    }
    sim->trace_out = t;
    tr__sim_engine_traced(sim, true);
    return 0;
}

void tr__sim_trace_close(tr_sim *sim) {
    tr__sim_trace *t = sim->trace_out;
    if (t == NULL) {
        return;
    }
    if (t->dropped > 0) {
        fprintf(t->f,
                "{\"ev\":\"truncated\",\"max_bytes\":%" PRIu64 ",\"lines_left_out\":%" PRIu64
                ",\"from_t\":%" PRIu64 "}\n",
                t->spec.max_bytes, t->dropped, t->first_dropped_ns);
    }
    fclose(t->f);
    free(t);
    sim->trace_out = NULL;
    tr__sim_engine_traced(sim, false);
}

static bool in_window(const tr__sim_trace *t, uint64_t now) {
    return now >= t->spec.from_ns && (t->spec.to_ns == 0 || now <= t->spec.to_ns);
}

/* Writes one line (len bytes in line) within the bound, or counts it left out. */
static void emit(tr__sim_trace *t, uint64_t now, const char *line, int len) {
    if (len <= 0) {
        return;
    }
    if (t->dropped > 0 || t->written + (uint64_t)len > t->spec.max_bytes) {
        t->first_dropped_ns = t->dropped++ ? t->first_dropped_ns : now;
        return;
    }
    fwrite(line, 1, (size_t)len, t->f);
    t->written += (uint64_t)len;
}

void tr__sim_trace_message(tr_sim *sim, uint32_t node, const tr_msg *msg) {
    tr__sim_trace *t = sim->trace_out;
    if ((t->spec.node >= 0 && (uint32_t)t->spec.node != node) || !in_window(t, sim->now)) {
        return;
    }
    char name[TR_NAME_MAX + 1];
    bool named = tr__registry_name_of(sim->nodes[node].node, msg->to, name) == 0;
    if (t->spec.actor != NULL && (!named || strcmp(name, t->spec.actor) != 0)) {
        return;
    }
    char line[512];
    int len =
        snprintf(line, sizeof line,
                 "{\"t\":%" PRIu64 ",\"ev\":\"recv\",\"node\":\"n%u\",\"actor\":%s%s%s,"
                 "\"to\":\"n%u:%" PRIu64 "\",\"from\":\"n%u:%" PRIu64 "\",\"type\":%u,"
                 "\"corr\":%" PRIu64 ",\"remote\":%s}\n",
                 sim->now, node + 1, named ? "\"" : "", named ? name : "null", named ? "\"" : "",
                 msg->to.node, (uint64_t)msg->to.actor, msg->from.node, (uint64_t)msg->from.actor,
                 msg->type, msg->corr, (msg->flags_ & TR__F_ENGINE) ? "true" : "false");
    emit(t, sim->now, line, len < (int)sizeof line ? len : 0);
}

void tr__sim_trace_fault(tr_sim *sim, tr_sim_fault f) {
    tr__sim_trace *t = sim->trace_out;
    uint32_t node = sim->event_node; /* index + 1; 0: a nemesis call, no one node */
    if (!in_window(t, sim->now) ||
        (t->spec.node >= 0 && node != 0 && node != (uint32_t)t->spec.node + 1)) {
        return;
    }
    char line[160];
    int len = snprintf(line, sizeof line, "{\"t\":%" PRIu64 ",\"ev\":\"fault\",\"fault\":\"%s\"}\n",
                       sim->now, tr_sim_fault_name(f));
    emit(t, sim->now, line, len < (int)sizeof line ? len : 0);
}
