/* client.c — simulated clients of a service's workload (see client.h). */
#include "harness/client.h"

#include <stdlib.h>
#include <string.h>

#include "harness/service_defaults.h"
#include "runtime/assert.h"
#include "sim/history.h"
#include "sim/spans.h"

enum {
    CLIENT_TICK = TR_MSG_USER + 0x210
};

typedef struct slot {
    uint32_t node_index;
    int64_t process;
    bool pending;
    tr_workload_op op;
    uint64_t corr;
    uint64_t invoke_ns;
    uint32_t epoch; /* bumped at every (re)boot: a stale actor must not touch the slot */
    tr_sim_rng rng;
    void *state; /* a stateful workload's client state (in the set's block), or NULL */
} slot;

struct tr__clients {
    tr__clients_opts o;
    bool stopped;
    tr_workload_phase phase;
    uint8_t *states; /* slot_count client states of client_state_size bytes, or NULL */
    int64_t next_process;
    uint64_t record_errors;
    uint32_t slot_count;
    uint64_t *lat;
    size_t lat_count;
    slot slots[TR__CLIENTS_MAX];
};

typedef struct client_arg {
    tr__clients *c; /* a handle; never used as data */
    uint32_t index;
    uint32_t epoch;
} client_arg;

static uint64_t now_ns(const tr__clients *c) {
    return tr_sim_now_ns(c->o.sim);
}

static void append(tr__clients *c, const slot *s, tr_history_type type, const tr_workload_op *op,
                   const char *error) {
    tr_history_op h = {.time_ns = (int64_t)now_ns(c),
                       .process = s->process,
                       .node = (int32_t)s->node_index,
                       .type = type,
                       .f = op->f,
                       .key = op->key,
                       .has_value = op->has_value,
                       .pair = op->pair,
                       .value = op->value,
                       .value_to = op->value_to,
                       .error = error ? error : "",
                       .any = op->any};
    c->record_errors += tr_history_append(c->o.history, &h) != 0;
}

static void think(tr_ctx *ctx, tr__clients *c, slot *s) {
    double mean_ms = 1000.0 * c->slot_count / c->o.rate;
    uint64_t span = mean_ms < 1.0 ? 2 : (uint64_t)(2.0 * mean_ms);
    uint64_t id;
    tr_timer_start(ctx, (uint32_t)(1 + tr_sim_rng_below(&s->rng, span)), 0, CLIENT_TICK, &id);
}

static bool stateful(const tr__clients *c) {
    return c->o.svc->workload->client_next != NULL;
}

/* What a stateful workload sees of slot s (wait_ns out of client_next). */
static tr_workload_client client_view(tr__clients *c, slot *s) {
    uint32_t i = (uint32_t)(s - c->slots);
    return (tr_workload_client){.env = &c->o.envs[s->node_index],
                                .state = s->state,
                                .id = i + 1,
                                .node_client = i % c->o.clients_per_node,
                                .rng = &s->rng,
                                .key_count = c->o.keys,
                                .now_ns = now_ns(c),
                                .phase = c->phase};
}

/* The outcome of the outstanding op (reply NULL: err says why). */
static void complete(tr__clients *c, slot *s, const tr_msg *reply, int err) {
    const tr_workload *wl = c->o.svc->workload;
    tr_workload_op done = s->op;
    const char *error = NULL;
    tr_history_type t;
    if (stateful(c)) {
        tr_workload_client cl = client_view(c, s);
        t = wl->client_complete(&cl, &s->op, reply, err, &done, &error);
    } else {
        t = tr__workload_complete(c->o.svc, &c->o.envs[s->node_index], &s->op, reply, err, &done,
                                  &error);
    }
    if (t != TR_HISTORY_OK && t != TR_HISTORY_FAIL) {
        t = TR_HISTORY_INFO;
    }
    done.f = s->op.f;
    done.key = s->op.key;
    append(c, s, t, &done, error ? error : (t == TR_HISTORY_OK ? "" : "unknown"));
    s->pending = false;
    if (t == TR_HISTORY_OK && c->lat_count < c->o.latency_max) {
        c->lat[c->lat_count++] = now_ns(c) - s->invoke_ns;
    }
    if (t == TR_HISTORY_INFO) {
        s->process = c->next_process++;
    }
}

/* Asks the workload for slot s's next operation: 0 with one; TR_EAGAIN (a stateful client
 * with nothing yet: *wait_ns) or another code (nothing more) without. */
static int next_op(tr__clients *c, slot *s, uint32_t *type, const char **target, tr_mp_writer *w,
                   uint64_t *wait_ns) {
    memset(&s->op, 0, sizeof s->op);
    *wait_ns = 0;
    if (!stateful(c)) {
        return tr__workload_next(c->o.svc, &c->o.envs[s->node_index], &s->rng, c->o.keys, &s->op,
                                 type, target, w);
    }
    tr_workload_client cl = client_view(c, s);
    int rc = c->o.svc->workload->client_next(&cl, &s->op, type, target, w);
    *wait_ns = cl.wait_ns;
    return rc;
}

/* Invokes slot s's next operation; TR_EAGAIN (*wait_ns) or another code when there is none. */
static int invoke(tr_ctx *ctx, tr__clients *c, slot *s, uint64_t *wait_ns) {
    uint8_t body[TR__CLIENT_BODY_MAX];
    tr_mp_writer w;
    uint32_t type = 0;
    const char *target = NULL;
    tr_mp_writer_init(&w, body, sizeof body);
    int rc = next_op(c, s, &type, &target, &w, wait_ns);
    if (rc != 0 || w.err != 0 || target == NULL || s->op.f == NULL) {
        return rc != 0 ? rc : TR_EINVAL; /* the workload has nothing more for this client */
    }
    /* Room for this invoke and the completion of every op in flight (this one's too): at the
     * history's cap clients stop invoking, and no completion is ever refused. */
    const tr_history *h = c->o.history;
    if (tr__history_max_ops(h) - tr__history_count(h) < tr__history_pending(h) + 2) {
        return TR_EFULL; /* history full: this client goes quiet */
    }
    s->invoke_ns = now_ns(c);
    uint64_t before = c->record_errors;
    append(c, s, TR_HISTORY_INVOKE, &s->op, NULL);
    if (c->record_errors != before) {
        return TR_EFULL; /* history full: this client goes quiet */
    }
    s->pending = true;
    tr_trace trace; /* --spans: each operation starts a trace (sim/spans.h) */
    if (tr__sim_spans_trace(c->o.sim, &trace)) {
        (void)tr_trace_set(ctx, &trace);
    }
    rc = tr_request_name(ctx, target, type, body, w.len, c->o.op_timeout_ms, &s->corr);
    if (rc != 0 && stateful(c)) {
        complete(c, s, NULL, rc); /* the workload decides what a refused send means */
    } else if (rc != 0) {
        append(c, s, TR_HISTORY_FAIL, &s->op, "send refused");
        s->pending = false;
    }
    return 0;
}

/* A stateful client's tick: its next operation, or a wait; false when it has nothing more
 * to do in this phase (the actor stops). */
static bool stateful_tick(tr_ctx *ctx, tr__clients *c, slot *s) {
    uint64_t wait_ns, id;
    if (s->pending) {
        return true;
    }
    int rc = invoke(ctx, c, s, &wait_ns);
    if (rc == TR_EAGAIN && wait_ns > 0) {
        uint64_t ms = wait_ns / 1000000u + (wait_ns % 1000000u != 0);
        tr_timer_start(ctx, (uint32_t)(ms < UINT32_MAX ? ms : UINT32_MAX), 0, CLIENT_TICK, &id);
        return true;
    }
    if (rc == 0 || rc == TR_EAGAIN) {
        if (!s->pending) {
            think(ctx, c, s);
        }
        return true;
    }
    return false;
}

static slot *my_slot(const client_arg *a) {
    slot *s = &a->c->slots[a->index];
    return s->epoch == a->epoch ? s : NULL;
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    client_arg *a = state;
    TR_ASSERT(arg_len == sizeof *a);
    memcpy(a, arg, sizeof *a);
    think(ctx, a->c, my_slot(a));
    return 0;
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    client_arg *a = state;
    tr__clients *c = a->c;
    slot *s = my_slot(a);
    if (s == NULL) {
        return TR_STOP;
    }
    if (msg->type == CLIENT_TICK && stateful(c)) {
        return stateful_tick(ctx, c, s) ? TR_CONTINUE : TR_STOP;
    }
    if (msg->type == CLIENT_TICK) {
        if (c->stopped) {
            return TR_STOP;
        }
        uint64_t wait_ns;
        if (!s->pending) {
            invoke(ctx, c, s, &wait_ns);
        }
        if (!s->pending) {
            think(ctx, c, s);
        }
    } else if (s->pending && msg->corr == s->corr &&
               (msg->type == TR_MSG_TIMEOUT || tr_msg_is_reply(msg))) {
        complete(c, s, msg->type == TR_MSG_TIMEOUT ? NULL : msg,
                 msg->type == TR_MSG_TIMEOUT ? TR_ETIMEDOUT : 0);
        think(ctx, c, s);
    }
    return TR_CONTINUE;
}

static const tr_behaviour client_behaviour = {
    .name = "experiment_client",
    .state_size = sizeof(client_arg),
    .init = client_init,
    .receive = client_receive,
};

int tr__clients_create(const tr__clients_opts *opts, tr__clients **out) {
    uint32_t nodes = tr_sim_node_count(opts->sim);
    if (opts->svc->workload == NULL || opts->clients_per_node == 0 || opts->rate <= 0 ||
        opts->keys == 0 || (uint64_t)opts->clients_per_node * nodes > TR__CLIENTS_MAX) {
        return TR_EINVAL;
    }
    tr__clients *c = calloc(1, sizeof *c);
    uint64_t *lat = calloc(opts->latency_max ? opts->latency_max : 1, sizeof *lat);
    size_t state_size = opts->svc->workload->client_state_size;
    uint8_t *states = calloc((size_t)opts->clients_per_node * nodes, state_size ? state_size : 1);
    if (c == NULL || lat == NULL || states == NULL) {
        free(c);
        free(lat);
        free(states);
        return TR_ENOMEM;
    }
    c->o = *opts;
    c->lat = lat;
    c->states = states;
    c->slot_count = opts->clients_per_node * nodes;
    for (uint32_t i = 0; i < c->slot_count; i++) {
        c->slots[i].node_index = i / opts->clients_per_node;
        c->slots[i].process = c->next_process++;
        tr_sim_rng_stream(opts->sim, TR_SIM_STREAM_USER + 16 + opts->stream_offset + i,
                          &c->slots[i].rng);
        c->slots[i].state = state_size ? states + (size_t)i * state_size : NULL;
    }
    *out = c;
    return 0;
}

void tr__clients_destroy(tr__clients *c) {
    if (c != NULL) {
        free(c->lat);
        free(c->states);
        free(c);
    }
}

int tr__clients_boot(tr__clients *c, tr_node *node, uint32_t index) {
    for (uint32_t k = 0; k < c->o.clients_per_node; k++) {
        uint32_t i = index * c->o.clients_per_node + k;
        slot *s = &c->slots[i];
        TR_ASSERT(s->node_index == index);
        s->epoch++;
        if (s->pending) { /* (a crash already completed it; a boot never leaves one behind) */
            complete(c, s, NULL, TR_ECLOSED);
        }
        client_arg a = {c, i, s->epoch};
        tr_addr addr;
        int rc = tr_node_spawn(node, &client_behaviour, NULL, &a, sizeof a, &addr);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void tr__clients_node_crashed(tr__clients *c, uint32_t index) {
    for (uint32_t k = 0; k < c->o.clients_per_node; k++) {
        slot *s = &c->slots[index * c->o.clients_per_node + k];
        if (s->pending) {
            complete(c, s, NULL, TR_ECLOSED);
        }
    }
}

void tr__clients_stop(tr__clients *c) {
    c->stopped = true;
    c->phase = TR_WORKLOAD_STOPPING;
}

bool tr__clients_busy(tr__clients *c) {
    bool (*busy)(const tr_workload_client *) = c->o.svc->workload->client_busy;
    for (uint32_t i = 0; i < c->slot_count; i++) {
        tr_workload_client cl = client_view(c, &c->slots[i]);
        /* a client whose node is down can do nothing more (a crash completed its op) */
        bool up = tr_sim_node_is_up(c->o.sim, c->slots[i].node_index);
        if (c->slots[i].pending || (up && stateful(c) && busy != NULL && busy(&cl))) {
            return true;
        }
    }
    return false;
}

int tr__clients_final(tr__clients *c) {
    if (!stateful(c)) {
        return 0;
    }
    c->phase = TR_WORKLOAD_FINAL;
    uint32_t nodes = tr_sim_node_count(c->o.sim);
    for (uint32_t i = 0; i < nodes; i++) {
        int rc =
            tr_sim_node_is_up(c->o.sim, i) ? tr__clients_boot(c, tr_sim_node(c->o.sim, i), i) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

size_t tr__clients_pending(const tr__clients *c) {
    size_t n = 0;
    for (uint32_t i = 0; i < c->slot_count; i++) {
        n += c->slots[i].pending;
    }
    return n;
}

void tr__clients_finish(tr__clients *c) {
    for (uint32_t i = 0; i < c->slot_count; i++) {
        slot *s = &c->slots[i];
        if (s->pending) {
            append(c, s, TR_HISTORY_INFO, &s->op, "run ended");
            s->pending = false;
            s->process = c->next_process++;
        }
    }
}

uint64_t tr__clients_record_errors(const tr__clients *c) {
    return c->record_errors;
}

const uint64_t *tr__clients_latencies(const tr__clients *c, size_t *count) {
    *count = c->lat_count;
    return c->lat;
}
