/* nemesis.c — the random fault generator and the scenario schedule (see nemesis.h). */
#include "harness/nemesis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
/* A scenario file is at most this big (100k faults of ~20 bytes fit easily). */
#define SCENARIO_FILE_MAX (4u << 20)
/* Kinds drawn at random times (the others: the partition window, link probabilities). */
#define RANDOM_KINDS                                                             \
    (TR_NEMESIS_CRASH | TR_NEMESIS_PAUSE | TR_NEMESIS_CLOCK | TR_NEMESIS_DELAY | \
     TR_NEMESIS_ISOLATE | TR_NEMESIS_RING | TR_NEMESIS_BRIDGE | TR_NEMESIS_ONEWAY | STORAGE)
#define STORAGE \
    (TR_NEMESIS_IO_ERROR | TR_NEMESIS_DISK_FULL | TR_NEMESIS_SLOW_DISK | TR_NEMESIS_CORRUPT)
#define SHAPES (TR_NEMESIS_ISOLATE | TR_NEMESIS_RING | TR_NEMESIS_BRIDGE | TR_NEMESIS_ONEWAY)
/* Drawn kinds from here on are service fault kinds (index = kind - SERVICE_KIND). */
#define SERVICE_KIND (1u << 20)
#define NO_SPAN UINT32_MAX
/* The partition nemesis's windows: each a majority/minority split of its own random minority,
 * in eighths of the duration, [from, to): healed before the end, so that the clients of the
 * last eighth run on a whole cluster and see what the splits left behind. */
#define WINDOWS 3
static const uint32_t window_eighths[WINDOWS][2] = {{2, 3}, {4, 5}, {6, 7}};

static const struct {
    const char *name;
    uint32_t bit;
} kind_names[] = {
    {"partition", TR_NEMESIS_PARTITION},
    {"crash", TR_NEMESIS_CRASH},
    {"pause", TR_NEMESIS_PAUSE},
    {"clock", TR_NEMESIS_CLOCK},
    {"delay", TR_NEMESIS_DELAY},
    {"loss", TR_NEMESIS_LOSS},
    {"dup", TR_NEMESIS_DUP},
    {"reorder", TR_NEMESIS_REORDER},
    {"isolate", TR_NEMESIS_ISOLATE},
    {"ring", TR_NEMESIS_RING},
    {"bridge", TR_NEMESIS_BRIDGE},
    {"oneway", TR_NEMESIS_ONEWAY},
    {"io-error", TR_NEMESIS_IO_ERROR},
    {"disk-full", TR_NEMESIS_DISK_FULL},
    {"slow-disk", TR_NEMESIS_SLOW_DISK},
    {"corrupt", TR_NEMESIS_CORRUPT},
};
#define KIND_COUNT (sizeof kind_names / sizeof kind_names[0])

typedef struct node_ud {
    tr__nemesis *n;
    uint32_t index;
} node_ud;

typedef struct fault_ud {
    tr__nemesis *n;
    uint32_t fault, index;
} fault_ud;

typedef struct scen_ud {
    tr__nemesis *n;
    const tr_scen_event *ev;
} scen_ud;

struct tr__nemesis {
    tr__nemesis_opts o;
    tr_sim *sim;
    tr_sim_rng rng;
    uint64_t minority_mask; /* the first window's minority */
    uint64_t window_mask[WINDOWS];
    uint32_t window;  /* the window in force or next (WINDOWS: all done) */
    uint32_t focus;   /* the node of the latest random fault (TR_SIM_NODES_MAX: none yet) */
    uint32_t down;    /* nodes crashed and not yet restarted */
    uint64_t paused;  /* mask: paused by the nemesis and neither resumed nor crashed since */
    bool in_window;   /* a window's majority/minority split is the base state of the links */
    bool partitioned; /* the first window started */
    uint64_t window_from_ns, window_to_ns;
    uint64_t shape_until_ns; /* a random partition shape holds until then */
    node_ud nodes[TR_SIM_NODES_MAX];
    fault_ud fault_uds[TR__NEMESIS_FAULTS_MAX * TR_SIM_NODES_MAX];
    uint64_t fault_active[TR__NEMESIS_FAULTS_MAX]; /* node mask per service fault */
    scen_ud *scen;                                 /* one per scenario event */
    /* open spans: crash and pause per node, the links, service faults per node */
    uint32_t crash_span[TR_SIM_NODES_MAX], pause_span[TR_SIM_NODES_MAX];
    /* when each node's latest random pause ends: a resume scheduled for an earlier pause,
     * which a crash ended, must not end a later one */
    uint64_t pause_until_ns[TR_SIM_NODES_MAX];
    uint32_t link_span, window_span;
    uint32_t fault_span[TR__NEMESIS_FAULTS_MAX][TR_SIM_NODES_MAX];
    /* storage faults: a failing disk (io-error, disk-full) and a slow one, per node */
    uint64_t disk_bad, disk_slow;
    uint32_t disk_span[TR_SIM_NODES_MAX], slow_span[TR_SIM_NODES_MAX];
    tr_fault_span spans[TR__NEMESIS_SPANS_MAX];
    uint32_t span_count;
    uint64_t spans_dropped;
    /* Every fault that took effect before the end, as the scenario event that replays it. */
    tr_scenario record;
    bool ended;
    bool record_lost; /* an append failed (memory or TR_SCENARIO_EVENTS_MAX) */
};

/* ---- kinds and scenario files ------------------------------------------------------------ */

int tr__nemesis_parse(const char *text, uint32_t *kinds, char *service, size_t service_cap,
                      char *err, size_t err_cap) {
    size_t len = text ? strlen(text) : 0;
    *kinds = 0;
    if (service != NULL && service_cap > 0) {
        service[0] = '\0';
    }
    if (text != NULL && strcmp(text, "none") == 0) {
        return 0;
    }
    if (len == 0 || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,") != NULL) {
        snprintf(err, err_cap, "--nemesis '%s' has an empty item", text ? text : "");
        return TR_EINVAL;
    }
    size_t used = 0;
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, ",");
        size_t i = 0;
        while (i < KIND_COUNT &&
               (strlen(kind_names[i].name) != n || strncmp(p, kind_names[i].name, n) != 0)) {
            i++;
        }
        if (i < KIND_COUNT) {
            *kinds |= kind_names[i].bit;
        } else if (service != NULL && used + n + 2 <= service_cap) {
            used += (size_t)snprintf(service + used, service_cap - used, "%s%.*s", used ? "," : "",
                                     (int)n, p);
        } else {
            snprintf(err, err_cap, "unknown nemesis '%.*s'", (int)n, p);
            return TR_EINVAL;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

void tr__nemesis_format(uint32_t kinds, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < KIND_COUNT && len < cap; i++) {
        if (kinds & kind_names[i].bit) {
            len +=
                (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "", kind_names[i].name);
        }
    }
    if (len == 0) {
        snprintf(buf, cap, "none");
    }
}

int tr__nemesis_scenario_load(const char *path, uint32_t nodes, uint64_t duration_ns,
                              tr_scenario *out, char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot read scenario %s: %s", path, strerror(errno));
        return TR_EINVAL;
    }
    char *text = malloc(SCENARIO_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, SCENARIO_FILE_MAX + 1, f) : 0;
    bool read_error = text == NULL || ferror(f);
    fclose(f);
    if (read_error || len > SCENARIO_FILE_MAX) {
        snprintf(err, err_cap, "scenario %s: %s", path,
                 read_error ? "cannot read it" : "larger than 4 MiB");
        free(text);
        return TR_EINVAL;
    }
    char why[256];
    int rc = tr__scenario_parse(text, len, nodes, out, why, sizeof why);
    free(text);
    if (rc != 0) {
        snprintf(err, err_cap, "scenario %s: %s", path, why);
        return TR_EINVAL;
    }
    for (size_t i = 0; i < out->count; i++) {
        const tr_scen_event *ev = &out->events[i];
        if (ev->at_ns >= duration_ns) {
            snprintf(err, err_cap,
                     "scenario %s: line %u: at %.3fs, not before the end of the workload "
                     "(--duration %.3fs)",
                     path, ev->line, ev->at_ns / 1e9, duration_ns / 1e9);
            tr__scenario_free(out);
            return TR_EINVAL;
        }
    }
    return 0;
}

/* ---- spans ------------------------------------------------------------------------------- */

static uint32_t span_open(tr__nemesis *n, const char *kind, uint64_t nodes, uint64_t end_ns) {
    if (n->span_count == TR__NEMESIS_SPANS_MAX) {
        n->spans_dropped++;
        return NO_SPAN;
    }
    n->spans[n->span_count] = (tr_fault_span){
        .kind = kind, .start_ns = tr_sim_now_ns(n->sim), .end_ns = end_ns, .nodes = nodes};
    return n->span_count++;
}

static void span_close(tr__nemesis *n, uint32_t *span) {
    if (*span != NO_SPAN) {
        TR_ASSERT(*span < n->span_count);
        n->spans[*span].end_ns = tr_sim_now_ns(n->sim);
        *span = NO_SPAN;
    }
}

static uint64_t all_nodes(const tr__nemesis *n) {
    return n->o.nodes >= 64 ? UINT64_MAX : (1ull << n->o.nodes) - 1;
}

/* Records a fault that took effect now, as the scenario event that replays it. The heal,
 * restarts and resumes of tr__nemesis_end are not faults: a scenario run does them too. */
static void record(tr__nemesis *n, tr_scen_event ev) {
    uint64_t now = tr_sim_now_ns(n->sim);
    if (n->ended || now >= n->o.duration_ns) {
        return;
    }
    ev.at_ns = now;
    ev.line = 0;
    if (tr__scenario_append(&n->record, &ev) != 0) {
        n->record_lost = true;
    }
}

static void record_node(tr__nemesis *n, tr_scen_kind kind, uint32_t i) {
    record(n, (tr_scen_event){.kind = kind, .a = i, .b = TR_SIM_ANY});
}

/* ---- the random faults -------------------------------------------------------------------- */

static uint64_t rand_between(tr__nemesis *n, uint64_t lo, uint64_t hi) {
    return lo + tr_sim_rng_below(&n->rng, hi - lo + 1);
}

static bool restart_node(tr_sim *sim, node_ud *u) {
    if (!tr_sim_node_is_up(sim, u->index) && tr_sim_restart(sim, u->index) == 0) {
        u->n->down--;
        span_close(u->n, &u->n->crash_span[u->index]);
        return true;
    }
    return false;
}

/* The end of a random crash. */
static void restart_cb(tr_sim *sim, void *ud) {
    node_ud *u = ud;
    if (restart_node(sim, u)) {
        record_node(u->n, TR_SCEN_RESTART, u->index);
    }
}

static bool resume_node(tr__nemesis *n, uint32_t i) {
    if (tr_sim_resume(n->sim, i) == 0) {
        n->paused &= ~(1ull << i);
        span_close(n, &n->pause_span[i]);
        return true;
    }
    return false;
}

static void resume_cb(tr_sim *sim, void *ud) {
    node_ud *u = ud;
    if (tr_sim_now_ns(sim) >= u->n->pause_until_ns[u->index] && resume_node(u->n, u->index)) {
        record_node(u->n, TR_SCEN_RESUME, u->index);
    }
}

/* A crash ends a pause (the simulator clears a crashed node's pause): the node leaves the paused
 * set, so that it can be paused again. */
static void crashed(tr__nemesis *n, uint32_t i) {
    if (n->paused >> i & 1) {
        n->paused &= ~(1ull << i);
        span_close(n, &n->pause_span[i]);
    }
    n->down++;
    span_close(n, &n->crash_span[i]);
    n->crash_span[i] = span_open(n, "crash", 1ull << i, 0);
    if (n->o.crashed != NULL) {
        n->o.crashed(n->o.ud, i);
    }
}

static void crash_one(tr__nemesis *n, uint32_t i) {
    /* At most a minority down at once, so that a quorum can still make progress. */
    if (n->down >= (n->o.nodes - 1) / 2 || tr_sim_crash(n->sim, i) != 0) {
        return;
    }
    record_node(n, TR_SCEN_CRASH, i);
    crashed(n, i);
    uint64_t at = tr_sim_now_ns(n->sim) + rand_between(n, 1 * SEC, 4 * SEC);
    tr_sim_at(n->sim, at, restart_cb, &n->nodes[i]);
}

static void fault_cb(tr_sim *sim, void *ud);

static void schedule_fault(tr__nemesis *n) {
    uint64_t d = n->o.duration_ns;
    uint64_t at = tr_sim_now_ns(n->sim) + rand_between(n, d / 40, d / 10);
    if (at < d) {
        tr_sim_at(n->sim, at, fault_cb, n);
    }
}

/* Links back to their base state: the window's split, or all up. */
static void restore_links_cb(tr_sim *sim, void *ud) {
    tr__nemesis *n = ud;
    if (tr_sim_now_ns(sim) < n->shape_until_ns) {
        return; /* a later shape is in force; its own restore comes later */
    }
    if (n->in_window) {
        uint64_t mask = n->window_mask[n->window];
        if (tr_sim_partition(sim, mask) == 0) {
            record(n, (tr_scen_event){.kind = TR_SCEN_PARTITION, .mask = mask});
        }
    } else if (tr_sim_heal(sim) == 0) {
        record(n, (tr_scen_event){.kind = TR_SCEN_HEAL});
    }
}

static void shape_fault(tr__nemesis *n, uint32_t kind, uint32_t i) {
    int rc = kind == TR_NEMESIS_ISOLATE  ? tr_sim_isolate(n->sim, i)
             : kind == TR_NEMESIS_RING   ? tr_sim_partition_ring(n->sim)
             : kind == TR_NEMESIS_BRIDGE ? tr_sim_partition_bridge(n->sim)
                                         : tr_sim_link_cut(n->sim, i, TR_SIM_ANY); /* i mute */
    if (rc == 0) {
        tr_scen_kind k = kind == TR_NEMESIS_ISOLATE  ? TR_SCEN_ISOLATE
                         : kind == TR_NEMESIS_RING   ? TR_SCEN_RING
                         : kind == TR_NEMESIS_BRIDGE ? TR_SCEN_BRIDGE
                                                     : TR_SCEN_ONEWAY;
        bool node = k == TR_SCEN_ISOLATE || k == TR_SCEN_ONEWAY;
        record(n, (tr_scen_event){.kind = k, .a = node ? i : TR_SIM_ANY, .b = TR_SIM_ANY});
        n->shape_until_ns = tr_sim_now_ns(n->sim) + rand_between(n, 500 * MS, 3 * SEC);
        tr_sim_at(n->sim, n->shape_until_ns, restore_links_cb, n);
        bool one = kind == TR_NEMESIS_ISOLATE || kind == TR_NEMESIS_ONEWAY;
        uint32_t s = span_open(n, "partition", one ? 1ull << i : all_nodes(n), n->shape_until_ns);
        (void)s;
    }
}

static void service_stop_cb(tr_sim *sim, void *ud) {
    fault_ud *u = ud;
    tr__nemesis *n = u->n;
    if (n->fault_active[u->fault] >> u->index & 1) {
        n->o.faults[u->fault]->stop(sim, u->index);
        n->fault_active[u->fault] &= ~(1ull << u->index);
        span_close(n, &n->fault_span[u->fault][u->index]);
    }
}

static void service_fault(tr__nemesis *n, uint32_t f, uint32_t i) {
    uint64_t until = tr_sim_now_ns(n->sim) + rand_between(n, 500 * MS, 3 * SEC);
    if (n->fault_active[f] >> i & 1) {
        return;
    }
    n->o.faults[f]->start(n->sim, i);
    n->fault_active[f] |= 1ull << i;
    n->fault_span[f][i] = span_open(n, n->o.faults[f]->name, 1ull << i, 0);
    tr_sim_at(n->sim, until, service_stop_cb, &n->fault_uds[f * TR_SIM_NODES_MAX + i]);
}

/* A clock fault's span (it stays open until the end), with how the clock changed. */
static void clock_span(tr__nemesis *n, const tr_scen_event *ev, uint64_t nodes) {
    uint32_t s = span_open(n, "clock", nodes, 0);
    if (s != NO_SPAN) {
        n->spans[s].change = ev->kind == TR_SCEN_CLOCK_JUMP   ? "jump"
                             : ev->kind == TR_SCEN_CLOCK_SKEW ? "skew"
                                                              : "drift";
        n->spans[s].value = ev->value;
    }
}

static void clock_fault(tr__nemesis *n, uint32_t i, int64_t skew) {
    tr_scen_event ev = {.kind = TR_SCEN_CLOCK_JUMP, .a = i, .b = TR_SIM_ANY, .value = skew};
    int rc;
    if (tr_sim_rng_below(&n->rng, 2) == 0) {
        rc = tr_sim_clock_jump(n->sim, i, skew);
    } else {
        ev.kind = TR_SCEN_CLOCK_DRIFT;
        ev.value = (int32_t)rand_between(n, 0, 2000) - 1000;
        rc = tr_sim_clock_drift(n->sim, i, (int32_t)ev.value);
    }
    if (rc == 0) {
        record(n, ev);
    }
    clock_span(n, &ev, 1ull << i);
}

bool tr_fault_breaks_clock_bound(const tr_fault_span *f) {
    if (f->kind == NULL || strcmp(f->kind, "clock") != 0) {
        return false;
    }
    if (f->change == NULL || strcmp(f->change, "drift") != 0) {
        return true; /* a jump or skew, or a span that does not say */
    }
    return f->value >= TR_CLOCK_DRIFT_BOUND_PPM || f->value <= -TR_CLOCK_DRIFT_BOUND_PPM;
}

static void storage_fault(tr__nemesis *n, uint32_t kind, uint32_t i);

/* One random fault among the enabled kinds (other than the window's partition). */
static void fault_cb(tr_sim *sim, void *ud) {
    tr__nemesis *n = ud;
    uint32_t enabled[32 + TR__NEMESIS_FAULTS_MAX], count = 0;
    for (uint32_t bit = 1; bit != 0 && bit < SERVICE_KIND; bit <<= 1) {
        if (n->o.kinds & RANDOM_KINDS & bit) {
            enabled[count++] = bit;
        }
    }
    for (uint32_t f = 0; f < n->o.fault_count; f++) {
        enabled[count++] = SERVICE_KIND + f;
    }
    TR_ASSERT(count > 0);
    uint32_t kind = enabled[tr_sim_rng_below(&n->rng, count)];
    uint32_t i = (uint32_t)tr_sim_rng_below(&n->rng, n->o.nodes);
    int64_t skew = (int64_t)rand_between(n, 0, 4 * SEC) - (int64_t)(2 * SEC);
    /* Half the faults hit the node of the one before: faults of several kinds then overlap
     * on one node (a slow disk and a crash, a pause and a cut), as bugs need them to. */
    if (tr_sim_rng_below(&n->rng, 2) == 0 && n->focus < n->o.nodes) {
        i = n->focus;
    }
    n->focus = i;
    if (kind >= SERVICE_KIND) {
        service_fault(n, kind - SERVICE_KIND, i);
    } else if (kind == TR_NEMESIS_CRASH) {
        crash_one(n, i);
    } else if (kind == TR_NEMESIS_PAUSE && !(n->paused >> i & 1) && tr_sim_pause(sim, i) == 0) {
        record_node(n, TR_SCEN_PAUSE, i);
        n->paused |= 1ull << i;
        n->pause_span[i] = span_open(n, "pause", 1ull << i, 0);
        n->pause_until_ns[i] = tr_sim_now_ns(sim) + rand_between(n, 200 * MS, 2 * SEC);
        tr_sim_at(sim, n->pause_until_ns[i], resume_cb, &n->nodes[i]);
    } else if (kind == TR_NEMESIS_CLOCK) {
        clock_fault(n, i, skew);
    } else if (kind == TR_NEMESIS_DELAY) {
        uint64_t extra = rand_between(n, 50 * MS, 500 * MS);
        uint64_t dur = rand_between(n, 1 * SEC, 3 * SEC);
        if (tr_sim_delay_spike(sim, i, TR_SIM_ANY, extra, dur) == 0) {
            record(n, (tr_scen_event){.kind = TR_SCEN_DELAY_SPIKE,
                                      .a = i,
                                      .b = TR_SIM_ANY,
                                      .extra_ns = extra,
                                      .dur_ns = dur});
            span_open(n, "delay", 1ull << i, tr_sim_now_ns(sim) + dur);
        }
    } else if (kind & SHAPES) {
        shape_fault(n, kind, i);
    } else if (kind & STORAGE) {
        storage_fault(n, kind, i);
    }
    schedule_fault(n);
}

/* ---- the scenario file ------------------------------------------------------------------ */

static const char *scen_kind_name(tr_scen_kind k) {
    switch (k) {
    case TR_SCEN_CRASH: return "crash";
    case TR_SCEN_PAUSE: return "pause";
    case TR_SCEN_CLOCK_SKEW:
    case TR_SCEN_CLOCK_JUMP:
    case TR_SCEN_CLOCK_DRIFT: return "clock";
    case TR_SCEN_DELAY_SPIKE: return "delay";
    default: return "partition";
    }
}

static uint64_t scen_nodes(const tr__nemesis *n, const tr_scen_event *ev) {
    if (ev->kind == TR_SCEN_PARTITION) {
        return ev->mask;
    }
    return ev->a < n->o.nodes ? 1ull << ev->a : all_nodes(n);
}

/* Spans of a scenario event that took effect. */
static void scen_span(tr__nemesis *n, const tr_scen_event *ev) {
    const char *kind = scen_kind_name(ev->kind);
    switch (ev->kind) {
    case TR_SCEN_CRASH: crashed(n, ev->a); break;
    case TR_SCEN_RESTART:
        n->down--;
        span_close(n, &n->crash_span[ev->a]);
        break;
    case TR_SCEN_PAUSE:
        n->paused |= 1ull << ev->a;
        n->pause_span[ev->a] = span_open(n, kind, 1ull << ev->a, 0);
        break;
    case TR_SCEN_RESUME:
        n->paused &= ~(1ull << ev->a);
        span_close(n, &n->pause_span[ev->a]);
        break;
    case TR_SCEN_HEAL: span_close(n, &n->link_span); break;
    case TR_SCEN_DELAY_SPIKE:
        span_open(n, kind, scen_nodes(n, ev), tr_sim_now_ns(n->sim) + ev->dur_ns);
        break;
    case TR_SCEN_CLOCK_SKEW:
    case TR_SCEN_CLOCK_JUMP:
    case TR_SCEN_CLOCK_DRIFT: clock_span(n, ev, scen_nodes(n, ev)); break;
    default: /* a partition shape: until the next heal or shape */
        span_close(n, &n->link_span);
        n->link_span = span_open(n, kind, scen_nodes(n, ev), 0);
        break;
    }
}

static bool storage_scenario(tr__nemesis *n, const tr_scen_event *ev);

static void scenario_cb(tr_sim *sim, void *ud) {
    const scen_ud *u = ud;
    if (storage_scenario(u->n, u->ev)) {
        return;
    }
    if (tr__scenario_apply(sim, u->ev) != 0) {
        return; /* it changed nothing (e.g. crash of a node that is down): not counted */
    }
    record(u->n, *u->ev);
    scen_span(u->n, u->ev);
}

static int schedule_scenario(tr__nemesis *n) {
    const tr_scenario *scen = n->o.scenario;
    if (scen == NULL || scen->count == 0) {
        return 0;
    }
    n->scen = calloc(scen->count, sizeof *n->scen);
    if (n->scen == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < scen->count; i++) {
        n->scen[i] = (scen_ud){n, &scen->events[i]};
        tr_sim_at(n->sim, scen->events[i].at_ns, scenario_cb, &n->scen[i]);
    }
    return 0;
}

/* ---- the window and the end ------------------------------------------------------------- */

static void partition_cb(tr_sim *sim, void *ud) {
    tr__nemesis *n = ud;
    if (n->window >= WINDOWS) {
        return;
    }
    uint64_t mask = n->window_mask[n->window];
    if (tr_sim_partition(sim, mask) == 0) {
        n->in_window = true;
        n->shape_until_ns = 0; /* the window's split replaces any shape in force */
        if (n->window == 0) {
            n->partitioned = true;
            n->window_from_ns = tr_sim_now_ns(sim);
        }
        n->window_span = span_open(n, "partition", mask, 0);
        record(n, (tr_scen_event){.kind = TR_SCEN_PARTITION, .mask = mask});
    }
}

/* The end of a window: heal (a shape in force is healed by its own restore). */
static void window_end_cb(tr_sim *sim, void *ud) {
    tr__nemesis *n = ud;
    uint32_t w = n->window++;
    if (!n->in_window) {
        return;
    }
    n->in_window = false;
    if (w == 0) {
        n->window_to_ns = tr_sim_now_ns(sim);
    }
    span_close(n, &n->window_span);
    if (tr_sim_now_ns(sim) >= n->shape_until_ns && tr_sim_heal(sim) == 0) {
        record(n, (tr_scen_event){.kind = TR_SCEN_HEAL});
    }
}

static uint64_t pick_minority(tr__nemesis *n) {
    uint32_t want = (n->o.nodes - 1) / 2, have = 0;
    uint64_t mask = 0;
    while (have < want) {
        uint32_t i = (uint32_t)tr_sim_rng_below(&n->rng, n->o.nodes);
        if (!(mask >> i & 1)) {
            mask |= 1ull << i;
            have++;
        }
    }
    return mask;
}

int tr__nemesis_create(const tr__nemesis_opts *opts, tr__nemesis **out) {
    TR_ASSERT(opts->nodes >= 1 && opts->nodes <= TR_SIM_NODES_MAX);
    TR_ASSERT(opts->fault_count <= TR__NEMESIS_FAULTS_MAX);
    tr__nemesis *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return TR_ENOMEM;
    }
    n->o = *opts;
    n->link_span = n->window_span = NO_SPAN;
    n->focus = TR_SIM_NODES_MAX;
    for (uint32_t i = 0; i < TR_SIM_NODES_MAX; i++) {
        n->nodes[i] = (node_ud){n, i};
        n->crash_span[i] = n->pause_span[i] = NO_SPAN;
        n->disk_span[i] = n->slow_span[i] = NO_SPAN;
        for (uint32_t f = 0; f < TR__NEMESIS_FAULTS_MAX; f++) {
            n->fault_span[f][i] = NO_SPAN;
            n->fault_uds[f * TR_SIM_NODES_MAX + i] = (fault_ud){n, f, i};
        }
    }
    *out = n;
    return 0;
}

void tr__nemesis_destroy(tr__nemesis *n) {
    if (n != NULL) {
        free(n->scen);
        tr__scenario_free(&n->record);
        free(n);
    }
}

int tr__nemesis_start(tr__nemesis *n, tr_sim *sim) {
    TR_ASSERT(n->sim == NULL && tr_sim_node_count(sim) == n->o.nodes);
    uint64_t d = n->o.duration_ns;
    n->sim = sim;
    tr_sim_rng_stream(sim, TR_SIM_STREAM_USER + 1, &n->rng);
    int rc = schedule_scenario(n);
    if (rc != 0) {
        return rc;
    }
    for (uint32_t w = 0; w < WINDOWS; w++) {
        n->window_mask[w] = n->o.nodes > 2 ? pick_minority(n) : 0;
    }
    n->minority_mask = n->window_mask[0];
    if ((n->o.kinds & TR_NEMESIS_PARTITION) && n->minority_mask != 0) {
        for (uint32_t w = 0; w < WINDOWS; w++) {
            tr_sim_at(sim, d / 8 * window_eighths[w][0], partition_cb, n);
            tr_sim_at(sim, d / 8 * window_eighths[w][1], window_end_cb, n);
        }
    }
    if ((n->o.kinds & RANDOM_KINDS) || n->o.fault_count > 0) {
        tr_sim_at(sim, d / 8, fault_cb, n);
    }
    return 0;
}

static void storage_end(tr__nemesis *n, uint32_t i);

void tr__nemesis_end(tr__nemesis *n) {
    tr_sim *sim = n->sim;
    n->ended = true;
    n->in_window = false;
    n->shape_until_ns = 0;
    tr_sim_heal(sim);
    if (n->partitioned && n->window_to_ns == 0) {
        n->window_to_ns = tr_sim_now_ns(sim);
    }
    span_close(n, &n->window_span);
    span_close(n, &n->link_span);
    for (uint32_t f = 0; f < n->o.fault_count; f++) {
        for (uint32_t i = 0; i < n->o.nodes; i++) {
            service_stop_cb(sim, &n->fault_uds[f * TR_SIM_NODES_MAX + i]);
        }
    }
    for (uint32_t i = 0; i < n->o.nodes; i++) {
        storage_end(n, i);
        if (!tr_sim_node_is_up(sim, i)) {
            restart_node(sim, &n->nodes[i]);
        }
        if (n->paused >> i & 1) {
            resume_node(n, i);
        }
    }
    /* Faults without an undo of their own (clocks), and scheduled ends past the heal. */
    uint64_t now = tr_sim_now_ns(sim);
    for (uint32_t s = 0; s < n->span_count; s++) {
        if (n->spans[s].end_ns == 0 || n->spans[s].end_ns > now) {
            n->spans[s].end_ns = now;
        }
    }
}

uint64_t tr__nemesis_minority(const tr__nemesis *n) {
    return n->minority_mask;
}

bool tr__nemesis_window(const tr__nemesis *n, uint64_t *from_ns, uint64_t *to_ns) {
    *from_ns = n->window_from_ns;
    *to_ns = n->window_to_ns;
    return n->partitioned;
}

const tr_fault_span *tr__nemesis_spans(const tr__nemesis *n, uint32_t *count) {
    *count = n->span_count;
    return n->spans;
}

uint64_t tr__nemesis_spans_dropped(const tr__nemesis *n) {
    return n->spans_dropped;
}

const tr_scenario *tr__nemesis_record(const tr__nemesis *n, bool *complete) {
    *complete = !n->record_lost && n->o.fault_count == 0;
    return &n->record;
}

/* ---- storage faults ----------------------------------------------------------------------- */

/* The disk of node i works again. A node whose store failed meanwhile refuses every write
 * until it restarts, as a real node does: its operator restarts it now (a crash and a
 * restart at once; what was not committed is lost, as in any crash). */
static void disk_repair_cb(tr_sim *sim, void *ud) {
    node_ud *u = ud;
    tr__nemesis *n = u->n;
    uint32_t i = u->index;
    if (!(n->disk_bad >> i & 1)) {
        return;
    }
    n->disk_bad &= ~(1ull << i);
    tr_sim_disk_repair(sim, i);
    span_close(n, &n->disk_span[i]);
    if (tr_sim_node_is_up(sim, i) && tr_sim_store_failure(sim, i) != 0 &&
        tr_sim_crash(sim, i) == 0) {
        crashed(n, i);
        restart_node(sim, u);
    }
}

static void disk_fast_cb(tr_sim *sim, void *ud) {
    node_ud *u = ud;
    if (u->n->disk_slow >> u->index & 1) {
        u->n->disk_slow &= ~(1ull << u->index);
        tr_sim_disk_slow(sim, u->index, 0);
        span_close(u->n, &u->n->slow_span[u->index]);
    }
}

static void storage_end(tr__nemesis *n, uint32_t i) {
    disk_repair_cb(n->sim, &n->nodes[i]);
    disk_fast_cb(n->sim, &n->nodes[i]);
}

/* A failing disk on node i (err TR_EIO or TR_ENOSPC) until dur from now. */
static void disk_fail(tr__nemesis *n, uint32_t i, int err, uint64_t dur) {
    if ((n->disk_bad >> i & 1) || tr_sim_disk_fail(n->sim, i, err) != 0) {
        return;
    }
    record(n, (tr_scen_event){.kind = err == TR_EIO ? TR_SCEN_IO_ERROR : TR_SCEN_DISK_FULL,
                              .a = i,
                              .b = TR_SIM_ANY,
                              .dur_ns = dur});
    n->disk_bad |= 1ull << i;
    n->disk_span[i] = span_open(n, err == TR_EIO ? "io-error" : "disk-full", 1ull << i, 0);
    tr_sim_at(n->sim, tr_sim_now_ns(n->sim) + dur, disk_repair_cb, &n->nodes[i]);
}

static void disk_slow(tr__nemesis *n, uint32_t i, uint64_t extra, uint64_t dur) {
    if ((n->disk_slow >> i & 1) || tr_sim_disk_slow(n->sim, i, extra) != 0) {
        return;
    }
    record(
        n,
        (tr_scen_event){
            .kind = TR_SCEN_SLOW_DISK, .a = i, .b = TR_SIM_ANY, .extra_ns = extra, .dur_ns = dur});
    n->disk_slow |= 1ull << i;
    n->slow_span[i] = span_open(n, "slow-disk", 1ull << i, 0);
    tr_sim_at(n->sim, tr_sim_now_ns(n->sim) + dur, disk_fast_cb, &n->nodes[i]);
}

/* A torn data file: node i goes down for good. `limit`: keep at most a minority down, as
 * crashes do (a scenario file may go further, as it may with crashes). */
static void disk_corrupt(tr__nemesis *n, uint32_t i, bool limit) {
    bool up = tr_sim_node_is_up(n->sim, i);
    if ((limit && up && n->down >= (n->o.nodes - 1) / 2) || tr_sim_disk_corrupt(n->sim, i) != 0) {
        return;
    }
    record_node(n, TR_SCEN_CORRUPT, i);
    if (up) {
        crashed(n, i);
    }
    span_open(n, "corrupt", 1ull << i, 0); /* the node never comes back */
}

/* A random storage fault on node i; its draws follow the common ones of fault_cb. */
static void storage_fault(tr__nemesis *n, uint32_t kind, uint32_t i) {
    if (kind == TR_NEMESIS_IO_ERROR || kind == TR_NEMESIS_DISK_FULL) {
        disk_fail(n, i, kind == TR_NEMESIS_IO_ERROR ? TR_EIO : TR_ENOSPC,
                  rand_between(n, 500 * MS, 3 * SEC));
    } else if (kind == TR_NEMESIS_SLOW_DISK) {
        uint64_t extra = rand_between(n, 50 * MS, 500 * MS);
        disk_slow(n, i, extra, rand_between(n, 1 * SEC, 3 * SEC));
    } else if (kind == TR_NEMESIS_CORRUPT) {
        disk_corrupt(n, i, true);
    }
}

/* A scenario file's storage fault; false for any other kind of event. */
static bool storage_scenario(tr__nemesis *n, const tr_scen_event *ev) {
    switch (ev->kind) {
    case TR_SCEN_IO_ERROR: disk_fail(n, ev->a, TR_EIO, ev->dur_ns); return true;
    case TR_SCEN_DISK_FULL: disk_fail(n, ev->a, TR_ENOSPC, ev->dur_ns); return true;
    case TR_SCEN_SLOW_DISK: disk_slow(n, ev->a, ev->extra_ns, ev->dur_ns); return true;
    case TR_SCEN_CORRUPT: disk_corrupt(n, ev->a, false); return true;
    default: return false;
    }
}
