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
#include "harness/experiment_internal.h"
#include "harness/nemesis.h"
#include "harness/service_defaults.h"
#include "harness/randomize.h"
#include "runtime/assert.h"
#include "sim/checkers.h"
#include "sim/sim.h" /* tr__sim_proto_reconnected */
#include "sim/spans.h"
#include "sim/trace.h"

static const char *const node_names[TR_SIM_NODES_MAX] = {
    "n1",  "n2",  "n3",  "n4",  "n5",  "n6",  "n7",  "n8",  "n9",  "n10", "n11", "n12", "n13",
    "n14", "n15", "n16", "n17", "n18", "n19", "n20", "n21", "n22", "n23", "n24", "n25", "n26",
    "n27", "n28", "n29", "n30", "n31", "n32", "n33", "n34", "n35", "n36", "n37", "n38", "n39",
    "n40", "n41", "n42", "n43", "n44", "n45", "n46", "n47", "n48", "n49", "n50", "n51", "n52",
    "n53", "n54", "n55", "n56", "n57", "n58", "n59", "n60", "n61", "n62", "n63", "n64"};

void tr_experiment_config_init(tr_experiment_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    tr_sim_config_init(&cfg->sim);
    cfg->nemesis.kinds = TR_NEMESIS_DEFAULT; /* the service's own, else a partition */
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

/* The service called name with a workload, or NULL. */
static const tr_service *find_workload(const tr_experiment_config *cfg, const char *name) {
    const tr_service *found = NULL;
    for (uint32_t s = 0; s < cfg->service_count && name != NULL; s++) {
        if (strcmp(cfg->services[s]->name, name) == 0) {
            found = cfg->services[s];
        }
    }
    return found != NULL && found->workload != NULL ? found : NULL;
}

/* The workloads' services (r->parts) and the one the bug belongs to. */
static int find_parts(const tr_experiment_config *cfg, run *r, char *err, size_t cap) {
    uint32_t count = cfg->workload_count ? cfg->workload_count : 1;
    if (count > TR_EXPERIMENT_WORKLOADS_MAX || (cfg->workload_count && cfg->workloads == NULL)) {
        snprintf(err, cap, "at most %d workloads in one run", TR_EXPERIMENT_WORKLOADS_MAX);
        return TR_EINVAL;
    }
    for (uint32_t k = 0; k < count; k++) {
        const char *name = cfg->workload_count ? cfg->workloads[k] : cfg->workload;
        const tr_service *svc = find_workload(cfg, name);
        for (uint32_t j = 0; svc != NULL && j < k; j++) {
            svc = r->parts[j].svc == svc ? NULL : svc;
        }
        if (svc == NULL) {
            snprintf(err, cap, "no service named '%s' with a workload (or named twice)",
                     name ? name : "");
            return TR_EINVAL;
        }
        r->parts[r->part_count++].svc = svc;
        r->bug_svc = cfg->bug != NULL && names_bug(svc, cfg->bug) ? svc : r->bug_svc;
    }
    if (cfg->bug != NULL && r->bug_svc == NULL) {
        snprintf(err, cap, "--bug %s: service '%s' has no such planted bug", cfg->bug,
                 r->parts[0].svc->name);
        return TR_EINVAL;
    }
    return 0;
}

/* The workloads' services and the selected service faults; a reason for what cannot run. */
static int check_config(const tr_experiment_config *cfg, run *r, tr__nemesis_opts *no, char *err,
                        size_t cap) {
    uint32_t n = cfg->sim.nodes;
    int rc = find_parts(cfg, r, err, cap);
    if (rc != 0) {
        return rc;
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
    if ((cfg->nemesis.kinds & (TR_NEMESIS_DUP | TR_NEMESIS_REORDER)) &&
        cfg->sim.net != TR_SIM_NET_ORACLE) { /* else a silent no-op */
        return fail(err, cap,
                    "dup and reorder are faults of the oracle's message network (TCP hides "
                    "both): they need sim.net TR_SIM_NET_ORACLE");
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
        env.bug = r->cfg->services[s] == r->bug_svc ? r->cfg->bug : NULL;
        int rc = tr_service_boot(r->cfg->services[s], node, &env);
        if (rc != 0) {
            return rc;
        }
    }
    /* At tr_sim_create the clients do not exist yet: the runner spawns them after. */
    for (uint32_t k = 0; k < r->part_count; k++) {
        int rc = r->parts[k].clients != NULL ? tr__clients_boot(r->parts[k].clients, node, i) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void node_crashed(void *ud, uint32_t i) {
    run *r = ud;
    for (uint32_t k = 0; k < r->part_count; k++) {
        tr__clients_node_crashed(r->parts[k].clients, i);
    }
}

static void converge_start(run *r);
static bool converge_done(const run *r);

static void end_cb(tr_sim *sim, void *ud) {
    run *r = ud;
    (void)sim;
    for (uint32_t k = 0; k < r->part_count; k++) {
        tr__clients_stop(r->parts[k].clients);
    }
    tr__nemesis_end(r->nem);
    converge_start(r);
}

/* Under the protocol network a healed cluster is not linked again at once: the detectors
 * must notice the broken streams, and the dials back off (up to seconds). The quiet period
 * that lets replicas converge starts once it has reconnected (at once under the oracle). */
static bool reconnected(tr_sim *sim, void *ud) {
    (void)ud;
    return tr__sim_proto_reconnected(sim);
}

static bool settled(tr_sim *sim, void *ud) {
    run *r = ud;
    (void)sim;
    for (uint32_t k = 0; k < r->part_count; k++) {
        if (tr__clients_busy(r->parts[k].clients)) {
            return false;
        }
    }
    return converge_done(r);
}

/* ---- the final states ------------------------------------------------------------------- */

typedef struct state_arg {
    run *r; /* a handle */
    uint32_t part;
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
    const tr_service *svc = s->a.r->parts[s->a.part].svc;
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
    part *p = &r->parts[s->a.part];
    r->states_waiting--;
    if (msg->type != TR_MSG_TIMEOUT && msg->body_len <= STATE_MAX) {
        uint8_t *copy = malloc(msg->body_len ? msg->body_len : 1);
        if (copy != NULL) {
            memcpy(copy, msg->body, msg->body_len);
            free(p->states[s->a.index]);
            p->states[s->a.index] = copy;
            p->state_lens[s->a.index] = msg->body_len;
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

/* Asks every up node's state actor of part k for its state (the replies land in its
 * states; the previous ones are freed). */
static void request_states(run *r, uint32_t k) {
    part *p = &r->parts[k];
    for (uint32_t i = 0; p->svc->state_actor != NULL && i < r->cfg->sim.nodes; i++) {
        state_arg a = {r, k, i};
        tr_addr addr;
        free(p->states[i]);
        p->states[i] = NULL;
        p->state_lens[i] = 0;
        if (tr_sim_node_is_up(r->sim, i) && tr_node_spawn(tr_sim_node(r->sim, i), &state_behaviour,
                                                          NULL, &a, sizeof a, &addr) == 0) {
            r->states_waiting++;
        }
    }
}

static void final_states(run *r) {
    bool any = false;
    for (uint32_t k = 0; k < r->part_count; k++) {
        request_states(r, k);
        any |= r->parts[k].svc->state_actor != NULL;
    }
    if (any) {
        tr_sim_run_until(r->sim, states_done, r, tr_sim_now_ns(r->sim) + STATE_NS + MS);
    }
}

/* ---- the convergence time after the heal ----------------------------------------------- */

/* Whether every up node of part p answered the same state (and at least one did). An empty
 * body is no state (a state actor that could not read its replica answers so). */
static bool states_agree(const run *r, const part *p) {
    int first = -1;
    for (uint32_t i = 0; i < r->cfg->sim.nodes; i++) {
        if (!tr_sim_node_is_up(r->sim, i)) {
            continue;
        }
        if (p->states[i] == NULL || p->state_lens[i] == 0) {
            return false;
        }
        if (first < 0) {
            first = (int)i;
        } else if (p->state_lens[i] != p->state_lens[first] ||
                   memcmp(p->states[i], p->states[first], p->state_lens[i]) != 0) {
            return false;
        }
    }
    return first >= 0;
}

/* Whether every timed part has converged (or none is timed). */
static bool converge_done(const run *r) {
    for (uint32_t k = 0; k < r->part_count; k++) {
        if (r->parts[k].out->convergence_timed && !r->parts[k].out->converged) {
            return false;
        }
    }
    return true;
}

/* A poll: once the last round has answered, it decides (for each timed part not yet
 * converged) and a new round starts; until every timed part agreed, the settle bound, or
 * the runner stops polling. */
static void converge_poll(tr_sim *sim, void *ud) {
    run *r = ud;
    uint64_t now = tr_sim_now_ns(sim), heal = r->cfg->duration_ns;
    if (r->converge_stopped) {
        return;
    }
    if (r->states_waiting == 0) {
        for (uint32_t k = 0; k < r->part_count; k++) {
            tr_workload_result *w = r->parts[k].out;
            if (w->convergence_timed && !w->converged && now > heal &&
                states_agree(r, &r->parts[k])) {
                w->converged = true;
                w->converged_after_ns = now - heal;
            }
        }
        if (converge_done(r) || now >= heal + SETTLE_NS) {
            return;
        }
        for (uint32_t k = 0; k < r->part_count; k++) {
            if (r->parts[k].out->convergence_timed && !r->parts[k].out->converged) {
                request_states(r, k);
            }
        }
    }
    tr_sim_at(sim, now + r->cfg->converge_poll_ns, converge_poll, r);
}

static void converge_start(run *r) {
    bool any = false;
    for (uint32_t k = 0; k < r->part_count; k++) {
        tr_workload_result *w = r->parts[k].out;
        w->convergence_timed = r->cfg->converge_poll_ns > 0 && r->parts[k].svc->state_actor;
        any |= w->convergence_timed;
    }
    if (any) {
        converge_poll(r->sim, r);
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
    /* The nemesis's link faults, at these rates unless the configuration sets its own. */
    bool loss = (cfg->nemesis.kinds & TR_NEMESIS_LOSS) && sc->loss_prob == 0;
    bool dup = (cfg->nemesis.kinds & TR_NEMESIS_DUP) && sc->dup_prob == 0;
    bool reorder = (cfg->nemesis.kinds & TR_NEMESIS_REORDER) && sc->reorder_prob == 0;
    sc->loss_prob = loss ? 0.01 : sc->loss_prob;
    sc->dup_prob = dup ? 0.01 : sc->dup_prob;
    sc->reorder_prob = reorder ? 0.05 : sc->reorder_prob;
}

/* On a created sim: the clients, the nemesis and the end of the workload. */
static int setup(run *r, tr_sim *sim) {
    const tr_experiment_config *cfg = r->cfg;
    r->sim = sim;
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < r->part_count; k++) {
        part *p = &r->parts[k];
        tr__clients_opts co = {.sim = r->sim,
                               .svc = p->svc,
                               .envs = r->envs,
                               .clients_per_node = clients_per_node(cfg, p->svc->workload),
                               .keys = cfg->keys,
                               .rate = cfg->rate,
                               .op_timeout_ms = cfg->op_timeout_ms,
                               .history = p->out->history,
                               .latency_max = cfg->history_max ? cfg->history_max : 1u << 20,
                               .stream_offset = k * TR__CLIENTS_MAX};
        rc = tr__clients_create(&co, &p->clients);
        for (uint32_t i = 0; rc == 0 && i < cfg->sim.nodes; i++) {
            rc = tr__clients_boot(p->clients, tr_sim_node(r->sim, i), i);
        }
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
    if (rc == 0 && r->cfg->trace != NULL) {
        char why[256];
        rc = tr__sim_trace_open(sim, r->cfg->trace, why, sizeof why);
        if (rc != 0) {
            tr_sim_destroy(sim);
            return rc;
        }
    }
    if (rc == 0 && r->cfg->spans != NULL) {
        char why[256];
        rc = tr__sim_spans_open(sim, r->cfg->spans, why, sizeof why);
        if (rc != 0) {
            tr_sim_destroy(sim);
            return rc;
        }
    }
    return rc != 0 ? rc : setup(r, sim);
}

static void drive(run *r) {
    uint64_t d = r->cfg->duration_ns;
    tr_sim_run_for(r->sim, d);
    tr_sim_run_for(r->sim, 1); /* end_cb, due at d */
    tr_sim_run_until(r->sim, settled, r, d + SETTLE_NS);
    r->converge_stopped = true; /* and its last round answered before the final states */
    tr_sim_run_until(r->sim, states_done, r, tr_sim_now_ns(r->sim) + STATE_NS + MS);
    tr_sim_run_until(r->sim, reconnected, NULL, tr_sim_now_ns(r->sim) + SETTLE_NS);
    tr_sim_run_for(r->sim, QUIET_NS);
    final_states(r);
    bool final = false;
    for (uint32_t k = 0; k < r->part_count; k++) {
        final |= r->parts[k].svc->workload->client_next != NULL &&
                 tr__clients_final(r->parts[k].clients) == 0;
    }
    if (final) {
        tr_sim_run_until(r->sim, settled, r, tr_sim_now_ns(r->sim) + FINAL_NS);
    }
    for (uint32_t k = 0; k < r->part_count; k++) {
        tr__clients_finish(r->parts[k].clients);
    }
    tr_experiment_result *res = r->out;
    res->trace_hash = tr_sim_trace_hash(r->sim);
    res->virtual_ns = tr_sim_now_ns(r->sim);
    tr_sim_stats_get(r->sim, &res->stats);
    res->net_ok = tr_sim_net_stats_get(r->sim, &res->net) == 0;
    uint64_t to;
    res->partitioned = tr__nemesis_window(r->nem, &res->partition_start_ns, &to);
    res->partition_end_ns = to != 0 ? to : d; /* the first window's heal */
    res->minority_nodes = tr__nemesis_minority(r->nem);
}

/* Frees what one start made (the sim, the clients, the nemesis, the final states). */
static void release_run(run *r) {
    tr_sim_destroy(r->sim);
    tr__nemesis_destroy(r->nem);
    r->sim = NULL;
    r->nem = NULL;
    r->states_waiting = 0;
    r->converge_stopped = false;
    for (uint32_t k = 0; k < r->part_count; k++) {
        part *p = &r->parts[k];
        tr__clients_destroy(p->clients);
        p->clients = NULL;
        for (uint32_t i = 0; i < TR_SIM_NODES_MAX; i++) {
            free(p->states[i]);
            p->states[i] = NULL;
            p->state_lens[i] = 0;
        }
    }
}

/* Fresh shares of the result for r's workloads, each with its empty history (the first's is
 * also res->history); what res held before is freed. 0 or TR_ENOMEM. */
static int fresh_shares(run *r, tr_experiment_result *res) {
    for (uint32_t k = 1; k < res->workload_count; k++) {
        tr_history_destroy(res->workloads[k].history);
    }
    tr_history_destroy(res->history);
    free((void *)res->faults);
    free(res->scenario);
    free(res->workloads);
    *res = (tr_experiment_result){.seed = r->cfg->sim.seed};
    res->workloads = calloc(r->part_count, sizeof *res->workloads);
    if (res->workloads == NULL) {
        return TR_ENOMEM;
    }
    res->workload_count = r->part_count;
    size_t max = r->cfg->history_max ? r->cfg->history_max : 1u << 20;
    for (uint32_t k = 0; k < r->part_count; k++) {
        tr_workload_result *w = &res->workloads[k];
        w->name = r->parts[k].svc->name;
        w->history = tr_history_create(max);
        r->parts[k].out = w;
        res->history = res->workloads[0].history; /* owned from here on: destroy frees it */
        if (w->history == NULL) {
            return TR_ENOMEM;
        }
    }
    return 0;
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
    if (cfg->randomize) { /* this seed's configuration, drawn from the seed */
        if (tr__randomize_experiment(cfg, &r->drawn, err, err_cap) != 0) {
            return TR_EINVAL;
        }
        cfg = &r->drawn;
    }
    cfg = tr__service_defaults_config(cfg, &r->resolved);
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
    if (rc == 0 && fresh_shares(r, res) != 0) {
        rc = fail(err, err_cap, "cannot create the histories");
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
    tr__experiment_summarise(r);
    for (uint32_t k = 0; k < r->part_count; k++) {
        tr__experiment_run_checks(r, &r->parts[k]);
        if (tr__clients_record_errors(r->parts[k].clients) > 0) {
            tr__experiment_add_outcome(
                r->parts[k].out, "history", TR_VERDICT_UNKNOWN,
                "history records refused (full, or the workload broke an invariant)");
        }
    }
    tr__experiment_mirror_first(res);
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
    if (fresh_shares(r, r->out) == 0 && setup(r, sim) == 0) {
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
        for (uint32_t k = 1; k < r->workload_count; k++) {
            tr_history_destroy(r->workloads[k].history);
        }
        tr_history_destroy(r->history);
        free(r->workloads);
        free((void *)r->faults);
        free(r->scenario);
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
