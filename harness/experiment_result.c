/* experiment_result.c — the experiment runner's checks and result (troupe.h, "Experiments"):
 * each workload's history checked (linearizability for a register's, then the service's own
 * checks with their measures), its counts, latencies and availability per side of a
 * partition summarised, and the replay line that runs the same seed again. experiment.c runs
 * the seed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/experiment_internal.h"
#include "harness/randomize.h"
#include "runtime/assert.h"
#include "sim/checkers.h"

int tr_check_measure(const tr_check_input *in, const char *name, double value) {
    tr__measures *m = in != NULL ? in->measures_ : NULL;
    if (name == NULL || name[0] == '\0') {
        return TR_EINVAL;
    }
    if (m == NULL) {
        return 0;
    }
    if (m->count == TR_CHECK_MEASURES_MAX) {
        return TR_EFULL;
    }
    m->items[m->count++] = (tr_measure){.name = name, .value = value};
    return 0;
}

void *tr_check_shared(const tr_check_input *in, const void *tag,
                      void *(*make)(const tr_check_input *in), void (*drop)(void *value),
                      bool *owned) {
    tr__measures *m = in != NULL ? in->measures_ : NULL;
    tr__shared *sh = m != NULL ? m->shared : NULL;
    if (owned != NULL) {
        *owned = false;
    }
    if (in == NULL || tag == NULL || make == NULL || drop == NULL || owned == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; sh != NULL && i < sh->count; i++) {
        if (sh->items[i].tag == tag) {
            return sh->items[i].value;
        }
    }
    void *value = make(in);
    if (value == NULL) {
        return NULL;
    }
    if (sh == NULL || sh->count == TR_CHECK_SHARED_MAX) {
        *owned = true;
        return value;
    }
    sh->items[sh->count].tag = tag;
    sh->items[sh->count].value = value;
    sh->items[sh->count].drop = drop;
    sh->count++;
    return value;
}

double tr_check_outcome_measure(const tr_check_outcome *o, const char *name, double otherwise) {
    for (uint32_t i = 0; i < o->measure_count; i++) {
        if (strcmp(o->measures[i].name, name) == 0) {
            return o->measures[i].value;
        }
    }
    return otherwise;
}

/* The worse of two verdicts: violated > unknown > held. */
static tr_verdict worse(tr_verdict a, tr_verdict b) {
    return a == TR_VERDICT_VIOLATED || b == TR_VERDICT_VIOLATED ? TR_VERDICT_VIOLATED
           : a == TR_VERDICT_UNKNOWN || b == TR_VERDICT_UNKNOWN ? TR_VERDICT_UNKNOWN
                                                                : TR_VERDICT_HELD;
}

tr_check_outcome *tr__experiment_add_outcome(tr_workload_result *res, const char *name,
                                             tr_verdict v, const char *why) {
    TR_ASSERT(res->check_count < TR_SERVICE_CHECKS_MAX + 1);
    tr_check_outcome *o = &res->checks[res->check_count++];
    *o = (tr_check_outcome){.name = name, .verdict = v};
    snprintf(o->why, sizeof o->why, "%s", why);
    res->verdict = worse(res->verdict, v);
    return o;
}

void tr__experiment_rest(tr_workload_result *res, const char *name, const char *rests_on) {
    tr_check_outcome *o = NULL, *base = NULL;
    for (uint32_t i = 0; i < res->check_count; i++) {
        if (strcmp(res->checks[i].name, name) == 0) {
            o = &res->checks[i];
        } else if (strcmp(res->checks[i].name, rests_on) == 0) {
            base = &res->checks[i];
        }
    }
    if (o == NULL || base == NULL || o->verdict != TR_VERDICT_VIOLATED ||
        base->verdict == TR_VERDICT_HELD) {
        return;
    }
    char text[sizeof o->why];
    snprintf(text, sizeof text, "%s", o->why);
    if (base->verdict == TR_VERDICT_VIOLATED) {
        snprintf(o->why, sizeof o->why, "%s was violated too; %s", rests_on, text);
    } else {
        snprintf(o->why, sizeof o->why, "not promised when %s is unknown; %s", rests_on, text);
    }
    o->verdict = base->verdict;
    o->has_op = o->has_op && o->verdict == TR_VERDICT_VIOLATED;
    res->verdict = TR_VERDICT_HELD;
    for (uint32_t i = 0; i < res->check_count; i++) {
        res->verdict = worse(res->verdict, res->checks[i].verdict);
    }
}

void tr__experiment_run_checks(run *r, part *p) {
    tr_workload_result *res = p->out;
    const tr_service *svc = p->svc;
    if (svc->lin_model != NULL) {
        tr_lin_result lr;
        uint64_t budget = r->cfg->lin_budget ? r->cfg->lin_budget : LIN_BUDGET_DEFAULT;
        int rc = tr_lincheck_history(res->history, svc->lin_model, budget, &lr);
        tr_check_outcome *o = tr__experiment_add_outcome(res, "linearizable",
                                                         rc == 0 ? lr.verdict : TR_VERDICT_UNKNOWN,
                                                         rc == 0 ? lr.why : tr_strerror(rc));
        o->has_key = rc == 0 && lr.verdict != TR_VERDICT_HELD;
        o->key = lr.key;
        o->has_op = rc == 0 && lr.verdict == TR_VERDICT_VIOLATED;
        o->op_index = lr.op_index;
    }
    const uint8_t *states[TR_SIM_NODES_MAX];
    for (uint32_t i = 0; i < r->cfg->sim.nodes; i++) {
        states[i] = p->states[i];
    }
    tr_check_input in = {.history = res->history,
                         .node_count = r->cfg->sim.nodes,
                         .states = states,
                         .state_lens = p->state_lens,
                         .bug = p->svc == r->bug_svc ? r->cfg->bug : NULL,
                         .faults = r->out->faults,
                         .fault_count = r->out->fault_count,
                         .sim = r->sim};
    tr__shared shared = {0};
    for (uint32_t c = 0; c < svc->check_count && c < TR_SERVICE_CHECKS_MAX; c++) {
        char why[200] = "";
        tr__measures m = {.shared = &shared};
        in.measures_ = &m;
        tr_verdict v = svc->checks[c].run(&in, why, sizeof why);
        if (v != TR_VERDICT_HELD && v != TR_VERDICT_VIOLATED) {
            v = TR_VERDICT_UNKNOWN;
        }
        tr_check_outcome *o = tr__experiment_add_outcome(res, svc->checks[c].name, v, why);
        o->measure_count = m.count;
        memcpy(o->measures, m.items, sizeof o->measures);
    }
    for (uint32_t i = 0; i < shared.count; i++) {
        shared.items[i].drop(shared.items[i].value);
    }
    /* The checks' premises first, so that linearizability sees the verdict of a check that
     * rests on another. */
    for (uint32_t c = 0; c < svc->check_count && c < TR_SERVICE_CHECKS_MAX; c++) {
        if (svc->checks[c].rests_on != NULL) {
            tr__experiment_rest(res, svc->checks[c].name, svc->checks[c].rests_on);
        }
    }
    if (svc->lin_model != NULL && svc->lin_rests_on != NULL) {
        tr__experiment_rest(res, "linearizable", svc->lin_rests_on);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static tr_availability availability(const tr_avail_counts *c) {
    return (tr_availability){
        .ok = c->ok, .fail = c->fail, .info = c->info, .fraction = c->fraction};
}

/* The whole run's, and in the partition window each side's (group 0 majority, 1 minority). */
static void side_availability(run *r, tr_workload_result *w) {
    tr_experiment_result *res = r->out;
    int32_t groups[TR_SIM_NODES_MAX];
    for (uint32_t i = 0; i < r->cfg->sim.nodes; i++) {
        groups[i] = (int32_t)(res->minority_nodes >> i & 1);
    }
    tr_avail_options ao = {
        .group_of_node = groups, .node_count = r->cfg->sim.nodes, .group_count = 2};
    if (res->partitioned) {
        ao.window_start_ns = (int64_t)res->partition_start_ns;
        ao.window_end_ns = (int64_t)res->partition_end_ns;
    }
    tr_avail_result av;
    if (tr__checkers_availability(w->history, &ao, &av) == 0) {
        w->available = availability(&av.all);
        w->available_majority = availability(&av.groups[0]);
        w->available_minority = availability(&av.groups[1]);
    }
}

/* Part p's operation counts, latencies and availability. */
static void summarise_part(run *r, part *p) {
    tr_workload_result *res = p->out;
    side_availability(r, res);
    tr_history_op op;
    for (size_t i = 0; i < tr_history_count(res->history); i++) {
        if (tr_history_get(res->history, i, &op) == 0) {
            res->ops_ok += op.type == TR_HISTORY_OK;
            res->ops_fail += op.type == TR_HISTORY_FAIL;
            res->ops_info += op.type == TR_HISTORY_INFO;
        }
    }
    size_t n;
    const uint64_t *lat = tr__clients_latencies(p->clients, &n);
    uint64_t *sorted = n ? malloc(n * sizeof *sorted) : NULL;
    if (sorted != NULL) {
        memcpy(sorted, lat, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_u64);
        res->latency_p50_ns = sorted[(n - 1) / 2];
        res->latency_p99_ns = sorted[(n - 1) * 99 / 100];
        free(sorted);
    }
}

/* The faults that took effect as a scenario file's text (res->scenario), if all could be
 * recorded; left NULL otherwise, or without memory. */
static void summarise_scenario(run *r) {
    bool complete;
    const tr_scenario *rec = tr__nemesis_record(r->nem, &complete);
    if (!complete || rec->count == 0) {
        return;
    }
    size_t cap = 1, len = 0;
    for (size_t i = 0; i < rec->count; i++) { /* the exact size first */
        cap += (size_t)tr__scenario_format(&rec->events[i], r->cfg->sim.nodes, NULL, 0) + 1;
    }
    char *text = malloc(cap);
    for (size_t i = 0; text != NULL && i < rec->count; i++) {
        int n = tr__scenario_format(&rec->events[i], r->cfg->sim.nodes, text + len, cap - len);
        TR_ASSERT(n > 0 && len + (size_t)n + 1 < cap);
        len += (size_t)n;
        text[len++] = '\n';
    }
    if (text != NULL) {
        text[len] = '\0';
        r->out->scenario = text;
        r->out->scenario_faults = (uint32_t)rec->count;
    }
}

/* The fault timeline, and every part's figures. */
void tr__experiment_summarise(run *r) {
    tr_experiment_result *res = r->out;
    uint32_t count;
    const tr_fault_span *spans = tr__nemesis_spans(r->nem, &count);
    tr_fault_span *copy = count ? malloc(count * sizeof *copy) : NULL;
    if (copy != NULL) {
        memcpy(copy, spans, count * sizeof *copy);
        res->faults = copy;
        res->fault_count = count;
    }
    summarise_scenario(r);
    for (uint32_t k = 0; k < r->part_count; k++) {
        summarise_part(r, &r->parts[k]);
    }
}

/* The result's top-level figures: the first workload's, the verdict the worst of all. */
void tr__experiment_mirror_first(tr_experiment_result *res) {
    const tr_workload_result *w = &res->workloads[0];
    res->check_count = w->check_count;
    memcpy(res->checks, w->checks, sizeof res->checks);
    res->ops_ok = w->ops_ok;
    res->ops_fail = w->ops_fail;
    res->ops_info = w->ops_info;
    res->latency_p50_ns = w->latency_p50_ns;
    res->latency_p99_ns = w->latency_p99_ns;
    res->available = w->available;
    res->available_majority = w->available_majority;
    res->available_minority = w->available_minority;
    res->verdict = TR_VERDICT_HELD;
    for (uint32_t k = 0; k < res->workload_count; k++) {
        res->verdict = worse(res->verdict, res->workloads[k].verdict);
    }
}

void tr_experiment_replay_line(const tr_experiment_config *cfg, char *buf, size_t cap) {
    char kinds[160];
    size_t len = 0;
    tr__nemesis_format(cfg->nemesis.kinds, kinds, sizeof kinds);
    char workload[TR_EXPERIMENT_WORKLOADS_MAX * 72] = "";
    for (uint32_t k = 0, n = 0; k < cfg->workload_count && k < TR_EXPERIMENT_WORKLOADS_MAX; k++) {
        n += (size_t)snprintf(workload + n, sizeof workload - n, "%s%.64s", k ? "," : "",
                              cfg->workloads[k] ? cfg->workloads[k] : "");
    }
    len += (size_t)snprintf(buf, cap, "troupe sim");
    for (uint32_t i = 0; i < cfg->load_path_count && len < cap; i++) {
        len += (size_t)snprintf(buf + len, cap - len, " --load %s", cfg->load_paths[i]);
    }
    if (len < cap) {
        bool sf = cfg->nemesis.service_faults != NULL && cfg->nemesis.service_faults[0];
        len += (size_t)snprintf(
            buf + len, cap - len,
            " --workload %s --seed %" PRIu64 " --nodes %u --nemesis %s%s%s --duration %.3fs "
            "--rate %g --keys %u",
            cfg->workload_count ? workload : cfg->workload, cfg->sim.seed, cfg->sim.nodes,
            cfg->nemesis.kinds || !sf ? kinds : "", cfg->nemesis.kinds && sf ? "," : "",
            sf ? cfg->nemesis.service_faults : "", cfg->duration_ns / 1e9, cfg->rate, cfg->keys);
    }
    if (cfg->bug != NULL && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " --bug %s", cfg->bug);
    }
    if (cfg->lin_budget != 0 && cfg->lin_budget != LIN_BUDGET_DEFAULT && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " --lin-budget %" PRIu64, cfg->lin_budget);
    }
    if (cfg->nemesis.scenario_path != NULL && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " --scenario %s", cfg->nemesis.scenario_path);
    }
    if (cfg->sim.net == TR_SIM_NET_ORACLE && len < cap) { /* the protocol is the default */
        len += (size_t)snprintf(buf + len, cap - len, " --net oracle");
    }
    if (len < cap) { /* delays, rates, timeouts and --buggify that differ from the defaults */
        tr__randomize_format(&cfg->sim, cfg->op_timeout_ms, buf + len, cap - len);
    }
}
