/* experiment.c — the experiment runner of troupe.h ("Experiments"): a simulated cluster
 * hosting services, a workload's clients, the nemesis, and the checks.
 *
 * One seed: create the sim (every node boots every service), spawn the clients, start the
 * nemesis; at the duration the clients stop and the nemesis heals, restarts and resumes
 * everything; outstanding operations (and a stateful workload's retries) get up to SETTLE_NS
 * to finish; after a quiet period a state request goes to the state actor of every up node,
 * and a stateful workload's final phase runs (up to FINAL_NS); then the linearizability check
 * and the service's checks run over the history and those states. The run is a function of
 * (configuration, seed, code): its trace hash proves it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/client.h"
#include "harness/nemesis.h"
#include "runtime/assert.h"
#include "sim/checkers.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define SETTLE_NS (10 * SEC)
#define QUIET_NS (1 * SEC)
#define STATE_NS (2 * SEC)
#define FINAL_NS (10 * SEC)
#define STATE_MAX 65536
#define LIN_BUDGET_DEFAULT 200000

static const char *const node_names[TR_SIM_NODES_MAX] = {
    "n1",  "n2",  "n3",  "n4",  "n5",  "n6",  "n7",  "n8",  "n9",  "n10", "n11", "n12", "n13",
    "n14", "n15", "n16", "n17", "n18", "n19", "n20", "n21", "n22", "n23", "n24", "n25", "n26",
    "n27", "n28", "n29", "n30", "n31", "n32", "n33", "n34", "n35", "n36", "n37", "n38", "n39",
    "n40", "n41", "n42", "n43", "n44", "n45", "n46", "n47", "n48", "n49", "n50", "n51", "n52",
    "n53", "n54", "n55", "n56", "n57", "n58", "n59", "n60", "n61", "n62", "n63", "n64"};

typedef struct run {
    const tr_experiment_config *cfg;
    const tr_service *svc; /* the one whose workload drives the run */
    tr_service_env envs[TR_SIM_NODES_MAX];
    tr_sim *sim;
    tr__clients *clients;
    tr__nemesis *nem;
    tr_scenario scen;
    uint8_t *states[TR_SIM_NODES_MAX];
    size_t state_lens[TR_SIM_NODES_MAX];
    uint32_t states_waiting;
    tr__nemesis_opts nemesis_opts; /* checked; each start creates its nemesis from it */
    tr_experiment_result *out;
} run;

void tr_experiment_config_init(tr_experiment_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    tr_sim_config_init(&cfg->sim);
    cfg->nemesis.kinds = TR_NEMESIS_PARTITION;
    cfg->duration_ns = 60 * SEC;
    cfg->rate = 100;
    cfg->keys = 4;
    cfg->op_timeout_ms = 1000;
}

/* ---- checking the configuration ------------------------------------------------------------ */

static bool names_bug(const tr_service *svc, const char *bug) {
    for (const char *const *b = svc->bugs; b != NULL && *b != NULL; b++) {
        if (strcmp(*b, bug) == 0) {
            return true;
        }
    }
    return false;
}

static const tr_service_fault *find_fault(const tr_experiment_config *cfg, const char *name,
                                          size_t len) {
    for (uint32_t s = 0; s < cfg->service_count; s++) {
        const tr_service *svc = cfg->services[s];
        for (uint32_t f = 0; f < svc->fault_count; f++) {
            if (strlen(svc->faults[f].name) == len && !strncmp(svc->faults[f].name, name, len)) {
                return &svc->faults[f];
            }
        }
    }
    return NULL;
}

static int fail(char *err, size_t cap, const char *why) {
    snprintf(err, cap, "%s", why);
    return TR_EINVAL;
}

/* The workload's service and the selected service faults; a reason for what cannot run. */
static int check_config(const tr_experiment_config *cfg, run *r, tr__nemesis_opts *no, char *err,
                        size_t cap) {
    uint32_t n = cfg->sim.nodes;
    for (uint32_t s = 0; s < cfg->service_count && cfg->workload != NULL; s++) {
        if (strcmp(cfg->services[s]->name, cfg->workload) == 0) {
            r->svc = cfg->services[s];
        }
    }
    if (r->svc == NULL || r->svc->workload == NULL) {
        snprintf(err, cap, "no service named '%s' with a workload",
                 cfg->workload ? cfg->workload : "");
        return TR_EINVAL;
    }
    if (cfg->bug != NULL && !names_bug(r->svc, cfg->bug)) {
        snprintf(err, cap, "--bug %s: service '%s' has no such planted bug", cfg->bug,
                 r->svc->name);
        return TR_EINVAL;
    }
    if (n < 1 || n > TR_SIM_NODES_MAX || cfg->duration_ns < MS || cfg->rate <= 0 ||
        cfg->keys == 0 || cfg->op_timeout_ms == 0) {
        return fail(err, cap, "nodes 1..64, duration >= 1 ms, rate, keys and op timeout > 0");
    }
    if ((cfg->nemesis.kinds & (TR_NEMESIS_PARTITION | TR_NEMESIS_RING | TR_NEMESIS_BRIDGE)) &&
        n < 3) {
        return fail(err, cap, "a partition needs at least 3 nodes");
    }
    if ((cfg->nemesis.kinds & TR_NEMESIS_CRASH) && n < 3) {
        return fail(err, cap, "crash keeps a majority up: it needs at least 3 nodes");
    }
    const char *p = cfg->nemesis.service_faults;
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ",");
        const tr_service_fault *f = find_fault(cfg, p, len);
        if (f == NULL || len == 0 || no->fault_count == TR__NEMESIS_FAULTS_MAX) {
            snprintf(err, cap,
                     "unknown nemesis '%.*s' (no built-in kind nor a fault of the "
                     "loaded services)",
                     (int)len, p);
            return TR_EINVAL;
        }
        no->faults[no->fault_count++] = f;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* ---- booting ----------------------------------------------------------------------------- */

static int boot(tr_node *node, void *ud) {
    run *r = ud;
    uint32_t i = tr_node_id(node) - 1;
    for (uint32_t s = 0; s < r->cfg->service_count; s++) {
        tr_service_env env = r->envs[i];
        env.bug = r->cfg->services[s] == r->svc ? r->cfg->bug : NULL;
        int rc = tr_service_boot(r->cfg->services[s], node, &env);
        if (rc != 0) {
            return rc;
        }
    }
    /* At tr_sim_create the clients do not exist yet: the runner spawns them after. */
    return r->clients != NULL ? tr__clients_boot(r->clients, node, i) : 0;
}

static void node_crashed(void *ud, uint32_t i) {
    run *r = ud;
    tr__clients_node_crashed(r->clients, i);
}

static void end_cb(tr_sim *sim, void *ud) {
    run *r = ud;
    (void)sim;
    tr__clients_stop(r->clients);
    tr__nemesis_end(r->nem);
}

static bool settled(tr_sim *sim, void *ud) {
    (void)sim;
    return !tr__clients_busy(((run *)ud)->clients);
}

/* ---- the final states ------------------------------------------------------------------- */

typedef struct state_arg {
    run *r; /* a handle */
    uint32_t index;
} state_arg;

typedef struct state_actor {
    state_arg a;
    uint64_t corr;
} state_actor;

static int state_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    state_actor *s = state;
    TR_ASSERT(len == sizeof s->a);
    memcpy(&s->a, arg, sizeof s->a);
    const tr_service *svc = s->a.r->svc;
    return tr_request_name(ctx, svc->state_actor, svc->state_type, NULL, 0,
                           (uint32_t)(STATE_NS / MS), &s->corr);
}

static int state_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    state_actor *s = state;
    run *r = s->a.r;
    (void)ctx;
    if (msg->corr != s->corr) {
        return TR_CONTINUE;
    }
    r->states_waiting--;
    if (msg->type != TR_MSG_TIMEOUT && msg->body_len <= STATE_MAX) {
        uint8_t *copy = malloc(msg->body_len ? msg->body_len : 1);
        if (copy != NULL) {
            memcpy(copy, msg->body, msg->body_len);
            r->states[s->a.index] = copy;
            r->state_lens[s->a.index] = msg->body_len;
        }
    }
    return TR_STOP;
}

static const tr_behaviour state_behaviour = {
    .name = "experiment_state",
    .state_size = sizeof(state_actor),
    .init = state_init,
    .receive = state_receive,
};

static bool states_done(tr_sim *sim, void *ud) {
    (void)sim;
    return ((run *)ud)->states_waiting == 0;
}

static void final_states(run *r) {
    if (r->svc->state_actor == NULL) {
        return;
    }
    for (uint32_t i = 0; i < r->cfg->sim.nodes; i++) {
        state_arg a = {r, i};
        tr_addr addr;
        if (tr_sim_node_is_up(r->sim, i) && tr_node_spawn(tr_sim_node(r->sim, i), &state_behaviour,
                                                          NULL, &a, sizeof a, &addr) == 0) {
            r->states_waiting++;
        }
    }
    tr_sim_run_until(r->sim, states_done, r, tr_sim_now_ns(r->sim) + STATE_NS + MS);
}

/* ---- checks and the result ---------------------------------------------------------------- */

/* What a check reports with tr_check_measure while it runs. */
typedef struct measures {
    uint32_t count;
    tr_measure items[TR_CHECK_MEASURES_MAX];
} measures;

int tr_check_measure(const tr_check_input *in, const char *name, double value) {
    measures *m = in != NULL ? in->measures_ : NULL;
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

double tr_check_outcome_measure(const tr_check_outcome *o, const char *name, double otherwise) {
    for (uint32_t i = 0; i < o->measure_count; i++) {
        if (strcmp(o->measures[i].name, name) == 0) {
            return o->measures[i].value;
        }
    }
    return otherwise;
}

static tr_check_outcome *add_outcome(tr_experiment_result *res, const char *name, tr_verdict v,
                                     const char *why) {
    TR_ASSERT(res->check_count < TR_SERVICE_CHECKS_MAX + 1);
    tr_check_outcome *o = &res->checks[res->check_count++];
    *o = (tr_check_outcome){.name = name, .verdict = v};
    snprintf(o->why, sizeof o->why, "%s", why);
    /* violated > unknown > held */
    if (v == TR_VERDICT_VIOLATED || (v == TR_VERDICT_UNKNOWN && res->verdict == TR_VERDICT_HELD)) {
        res->verdict = v;
    }
    return o;
}

static void run_checks(run *r) {
    tr_experiment_result *res = r->out;
    const tr_service *svc = r->svc;
    if (svc->lin_model != NULL) {
        tr_lin_result lr;
        uint64_t budget = r->cfg->lin_budget ? r->cfg->lin_budget : LIN_BUDGET_DEFAULT;
        int rc = tr_lincheck_history(res->history, svc->lin_model, budget, &lr);
        tr_check_outcome *o =
            add_outcome(res, "linearizable", rc == 0 ? lr.verdict : TR_VERDICT_UNKNOWN,
                        rc == 0 ? lr.why : tr_strerror(rc));
        o->has_key = rc == 0 && lr.verdict != TR_VERDICT_HELD;
        o->key = lr.key;
        o->has_op = rc == 0 && lr.verdict == TR_VERDICT_VIOLATED;
        o->op_index = lr.op_index;
    }
    const uint8_t *states[TR_SIM_NODES_MAX];
    for (uint32_t i = 0; i < r->cfg->sim.nodes; i++) {
        states[i] = r->states[i];
    }
    tr_check_input in = {.history = res->history,
                         .node_count = r->cfg->sim.nodes,
                         .states = states,
                         .state_lens = r->state_lens,
                         .bug = r->cfg->bug,
                         .faults = res->faults,
                         .fault_count = res->fault_count};
    for (uint32_t c = 0; c < svc->check_count && c < TR_SERVICE_CHECKS_MAX; c++) {
        char why[200] = "";
        measures m = {0};
        in.measures_ = &m;
        tr_verdict v = svc->checks[c].run(&in, why, sizeof why);
        if (v != TR_VERDICT_HELD && v != TR_VERDICT_VIOLATED) {
            v = TR_VERDICT_UNKNOWN;
        }
        tr_check_outcome *o = add_outcome(res, svc->checks[c].name, v, why);
        o->measure_count = m.count;
        memcpy(o->measures, m.items, sizeof o->measures);
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
static void side_availability(run *r) {
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
    if (tr__checkers_availability(res->history, &ao, &av) == 0) {
        res->available = availability(&av.all);
        res->available_majority = availability(&av.groups[0]);
        res->available_minority = availability(&av.groups[1]);
    }
}

static void summarise(run *r) {
    tr_experiment_result *res = r->out;
    side_availability(r);
    tr_history_op op;
    for (size_t i = 0; i < tr_history_count(res->history); i++) {
        if (tr_history_get(res->history, i, &op) == 0) {
            res->ops_ok += op.type == TR_HISTORY_OK;
            res->ops_fail += op.type == TR_HISTORY_FAIL;
            res->ops_info += op.type == TR_HISTORY_INFO;
        }
    }
    size_t n;
    const uint64_t *lat = tr__clients_latencies(r->clients, &n);
    uint64_t *sorted = n ? malloc(n * sizeof *sorted) : NULL;
    if (sorted != NULL) {
        memcpy(sorted, lat, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_u64);
        res->latency_p50_ns = sorted[(n - 1) / 2];
        res->latency_p99_ns = sorted[(n - 1) * 99 / 100];
        free(sorted);
    }
    uint32_t count;
    const tr_fault_span *spans = tr__nemesis_spans(r->nem, &count);
    tr_fault_span *copy = count ? malloc(count * sizeof *copy) : NULL;
    if (copy != NULL) {
        memcpy(copy, spans, count * sizeof *copy);
        res->faults = copy;
        res->fault_count = count;
    }
}

void tr_experiment_replay_line(const tr_experiment_config *cfg, char *buf, size_t cap) {
    char kinds[160];
    size_t len = 0;
    tr__nemesis_format(cfg->nemesis.kinds, kinds, sizeof kinds);
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
            cfg->workload, cfg->sim.seed, cfg->sim.nodes, cfg->nemesis.kinds || !sf ? kinds : "",
            cfg->nemesis.kinds && sf ? "," : "", sf ? cfg->nemesis.service_faults : "",
            cfg->duration_ns / 1e9, cfg->rate, cfg->keys);
    }
    if (cfg->bug != NULL && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " --bug %s", cfg->bug);
    }
    if (cfg->lin_budget != 0 && cfg->lin_budget != LIN_BUDGET_DEFAULT && len < cap) {
        len += (size_t)snprintf(buf + len, cap - len, " --lin-budget %" PRIu64, cfg->lin_budget);
    }
    if (cfg->nemesis.scenario_path != NULL && len < cap) {
        snprintf(buf + len, cap - len, " --scenario %s", cfg->nemesis.scenario_path);
    }
}

/* ---- one seed ------------------------------------------------------------------------------ */

static uint32_t clients_per_node(const tr_experiment_config *cfg, const tr_workload *wl) {
    if (cfg->clients_per_node != 0) {
        return cfg->clients_per_node;
    }
    return wl->clients_per_node ? wl->clients_per_node : 2;
}

static void sim_config(const run *r, tr_sim_config *sc) {
    const tr_experiment_config *cfg = r->cfg;
    *sc = cfg->sim;
    sc->boot = boot;
    sc->boot_ud = (void *)r;
    sc->loss_prob = cfg->nemesis.kinds & TR_NEMESIS_LOSS ? 0.01 : sc->loss_prob;
    sc->dup_prob = cfg->nemesis.kinds & TR_NEMESIS_DUP ? 0.01 : sc->dup_prob;
    sc->reorder_prob = cfg->nemesis.kinds & TR_NEMESIS_REORDER ? 0.05 : sc->reorder_prob;
}

/* On a created sim: the clients, the nemesis and the end of the workload. */
static int setup(run *r, tr_sim *sim) {
    const tr_experiment_config *cfg = r->cfg;
    r->sim = sim;
    const tr_workload *wl = r->svc->workload;
    tr__clients_opts co = {.sim = r->sim,
                           .svc = r->svc,
                           .envs = r->envs,
                           .clients_per_node = clients_per_node(cfg, wl),
                           .keys = cfg->keys,
                           .rate = cfg->rate,
                           .op_timeout_ms = cfg->op_timeout_ms,
                           .history = r->out->history,
                           .latency_max = cfg->history_max ? cfg->history_max : 1u << 20};
    int rc = tr__clients_create(&co, &r->clients);
    for (uint32_t i = 0; rc == 0 && i < cfg->sim.nodes; i++) {
        rc = tr__clients_boot(r->clients, tr_sim_node(r->sim, i), i);
    }
    tr__nemesis_opts no = r->nemesis_opts;
    no.crashed = node_crashed;
    no.ud = r;
    rc = rc != 0 ? rc : tr__nemesis_create(&no, &r->nem);
    rc = rc != 0 ? rc : tr__nemesis_start(r->nem, r->sim);
    return rc != 0 ? rc : tr_sim_at(r->sim, cfg->duration_ns, end_cb, r);
}

static int start(run *r) {
    tr_sim_config sc;
    tr_sim *sim;
    sim_config(r, &sc);
    int rc = tr_sim_create(&sc, &sim);
    return rc != 0 ? rc : setup(r, sim);
}

static void drive(run *r) {
    uint64_t d = r->cfg->duration_ns;
    tr_sim_run_for(r->sim, d);
    tr_sim_run_for(r->sim, 1); /* end_cb, due at d */
    tr_sim_run_until(r->sim, settled, r, d + SETTLE_NS);
    tr_sim_run_for(r->sim, QUIET_NS);
    final_states(r);
    if (r->svc->workload->client_next != NULL && tr__clients_final(r->clients) == 0) {
        tr_sim_run_until(r->sim, settled, r, tr_sim_now_ns(r->sim) + FINAL_NS);
    }
    tr__clients_finish(r->clients);
    tr_experiment_result *res = r->out;
    res->trace_hash = tr_sim_trace_hash(r->sim);
    res->virtual_ns = tr_sim_now_ns(r->sim);
    tr_sim_stats_get(r->sim, &res->stats);
    uint64_t to;
    res->partitioned = tr__nemesis_window(r->nem, &res->partition_start_ns, &to);
    res->partition_end_ns = d; /* the heal: every fault ends with the workload */
    res->minority_nodes = tr__nemesis_minority(r->nem);
}

/* Frees what one start made (the sim, the clients, the nemesis, the final states). */
static void release_run(run *r) {
    tr_sim_destroy(r->sim);
    tr__clients_destroy(r->clients);
    tr__nemesis_destroy(r->nem);
    r->sim = NULL;
    r->clients = NULL;
    r->nem = NULL;
    r->states_waiting = 0;
    for (uint32_t i = 0; i < TR_SIM_NODES_MAX; i++) {
        free(r->states[i]);
        r->states[i] = NULL;
        r->state_lens[i] = 0;
    }
}

static void release(run *r) {
    release_run(r);
    tr__scenario_free(&r->scen);
    free(r);
}

/* Checks cfg and prepares r (the nemesis options, the scenario, the history, the nodes'
 * environments) for its result res. 0, or an error with a reason in err. */
static int prepare(const tr_experiment_config *cfg, run *r, tr_experiment_result *res, char *err,
                   size_t err_cap) {
    r->cfg = cfg;
    r->out = res;
    r->nemesis_opts = (tr__nemesis_opts){
        .kinds = cfg->nemesis.kinds, .nodes = cfg->sim.nodes, .duration_ns = cfg->duration_ns};
    int rc = check_config(cfg, r, &r->nemesis_opts, err, err_cap);
    if (rc == 0 && cfg->nemesis.scenario_path != NULL) {
        rc = tr__nemesis_scenario_load(cfg->nemesis.scenario_path, cfg->sim.nodes, cfg->duration_ns,
                                       &r->scen, err, err_cap);
        r->nemesis_opts.scenario = &r->scen;
    }
    if (rc == 0 && (res->history = tr_history_create(cfg->history_max ? cfg->history_max
                                                                      : 1u << 20)) == NULL) {
        rc = fail(err, err_cap, "cannot create the history");
    }
    for (uint32_t i = 0; rc == 0 && i < cfg->sim.nodes; i++) {
        r->envs[i] = (tr_service_env){.node_index = i,
                                      .node_count = cfg->sim.nodes,
                                      .node_name = node_names[i],
                                      .node_names = node_names,
                                      .bug = cfg->bug,
                                      .simulated = true};
    }
    res->seed = cfg->sim.seed;
    return rc;
}

/* A started run to its result: drive, summarise, check. */
static void finish(run *r) {
    tr_experiment_result *res = r->out;
    drive(r);
    summarise(r);
    run_checks(r);
    if (tr__clients_record_errors(r->clients) > 0) {
        add_outcome(res, "history", TR_VERDICT_UNKNOWN,
                    "history records refused (full, or the workload broke an invariant)");
    }
    tr_experiment_replay_line(r->cfg, res->replay, sizeof res->replay);
}

int tr_experiment_run(const tr_experiment_config *cfg, tr_experiment_result **out, char *err,
                      size_t err_cap) {
    *out = NULL;
    run *r = calloc(1, sizeof *r);
    tr_experiment_result *res = calloc(1, sizeof *res);
    if (r == NULL || res == NULL) {
        free(r);
        free(res);
        return fail(err, err_cap, "out of memory");
    }
    int rc = prepare(cfg, r, res, err, err_cap);
    if (rc == 0 && (rc = start(r)) != 0) {
        snprintf(err, err_cap, "cannot start the experiment: %s", tr_strerror(rc));
    }
    if (rc != 0) {
        release(r);
        tr_experiment_result_destroy(res);
        return rc;
    }
    finish(r);
    release(r);
    *out = res;
    return 0;
}

/* One of the two runs of tr_experiment_check_determinism, on the sim it is given: a fresh
 * history and result each time, everything but the sim released at the end. */
static void determinism_scenario(tr_sim *sim, void *ud) {
    run *r = ud;
    tr_experiment_result *res = r->out;
    tr_history_destroy(res->history);
    free((void *)res->faults);
    tr_history *h = tr_history_create(r->cfg->history_max ? r->cfg->history_max : 1u << 20);
    *res = (tr_experiment_result){.seed = r->cfg->sim.seed, .history = h};
    if (h != NULL && setup(r, sim) == 0) {
        finish(r);
    }
    r->sim = NULL; /* tr_sim_check_determinism destroys it; nothing of it runs any more */
    release_run(r);
}

int tr_experiment_check_determinism(const tr_experiment_config *cfg, tr_sim_divergence *out,
                                    char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    run *r = calloc(1, sizeof *r);
    tr_experiment_result *res = calloc(1, sizeof *res);
    if (r == NULL || res == NULL) {
        free(r);
        free(res);
        return fail(err, err_cap, "out of memory");
    }
    int rc = prepare(cfg, r, res, err, err_cap);
    if (rc == 0) {
        tr_sim_config sc;
        sim_config(r, &sc);
        rc = tr_sim_check_determinism(&sc, determinism_scenario, r, out);
        if (rc != 0) {
            snprintf(err, err_cap, "cannot create the simulation: %s", tr_strerror(rc));
        }
    }
    release(r);
    tr_experiment_result_destroy(res);
    return rc;
}

void tr_experiment_result_destroy(tr_experiment_result *r) {
    if (r != NULL) {
        tr_history_destroy(r->history);
        free((void *)r->faults);
        free(r);
    }
}

int tr_experiment_sweep(const tr_experiment_config *cfg, uint64_t first, uint64_t last,
                        tr_sweep_summary *out,
                        void (*each)(const tr_experiment_result *r, void *ud), void *ud, char *err,
                        size_t err_cap) {
    memset(out, 0, sizeof *out);
    if (last < first) {
        return fail(err, err_cap, "empty seed range");
    }
    tr_experiment_config c = *cfg;
    for (uint64_t seed = first;; seed++) {
        tr_experiment_result *r;
        c.sim.seed = seed;
        out->runs++;
        int rc = tr_experiment_run(&c, &r, err, err_cap);
        if (rc != 0) {
            out->errors++;
            if (rc == TR_EINVAL) {
                return rc; /* the configuration cannot run: no seed will */
            }
        } else {
            out->held += r->verdict == TR_VERDICT_HELD;
            out->violated += r->verdict == TR_VERDICT_VIOLATED;
            out->unknown += r->verdict == TR_VERDICT_UNKNOWN;
            if (r->verdict != TR_VERDICT_HELD && out->violated + out->unknown == 1) {
                out->first_failing_seed = seed;
                snprintf(out->first_replay, sizeof out->first_replay, "%s", r->replay);
            }
            if (each != NULL) {
                each(r, ud);
            }
            tr_experiment_result_destroy(r);
        }
        if (seed == last) {
            break;
        }
    }
    return 0;
}
