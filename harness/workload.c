/* workload.c — simulated register clients and convergence probes (see workload.h). */
#include "harness/workload.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "actors/registers.h"

enum {
    CLIENT_TICK = TR_MSG_USER + 0x200,
    PROBE_TICK
};

typedef struct client_slot {
    uint32_t node_index;
    int64_t process;
    bool pending; /* an op is outstanding in the history */
    bool is_write;
    uint32_t key;
    int64_t value;
    uint64_t corr;  /* the outstanding request */
    uint32_t epoch; /* bumped at every (re)boot: a stale actor must not touch the slot */
} client_slot;

typedef struct probe_node {
    bool have;      /* a complete snapshot exists */
    uint64_t at_ns; /* when it completed */
    bool has[TR_WORKLOAD_KEYS_MAX];
    int64_t val[TR_WORKLOAD_KEYS_MAX];
    /* the round in progress */
    uint32_t got;
    bool cur_has[TR_WORKLOAD_KEYS_MAX];
    int64_t cur_val[TR_WORKLOAD_KEYS_MAX];
    uint64_t corr[TR_WORKLOAD_KEYS_MAX];
} probe_node;

struct tr__reg_workload {
    tr_workload_opts o;
    char target[TR_NAME_MAX + 1];
    tr_history *history;
    bool stopped;
    int64_t next_process;
    int64_t next_value;
    uint64_t record_errors;
    uint32_t slot_count;
    uint64_t probe_since_ns; /* probes started */
    uint64_t agreed_ns;      /* first time every up node's snapshot agreed; 0 = not yet */
    client_slot slots[TR_WORKLOAD_CLIENTS_MAX];
    probe_node probes[TR_SIM_NODES_MAX];
};

typedef struct actor_arg {
    tr__reg_workload *wl; /* a handle; never used as data */
    uint32_t index;       /* slot (clients) or node index (probes) */
    uint32_t epoch;
} actor_arg;

static uint64_t now_ns(const tr__reg_workload *wl) {
    return tr_sim_now_ns(wl->o.sim);
}

static void note(tr__reg_workload *wl, int rc) {
    wl->record_errors += rc != 0;
}

/* ---- client actor ---------------------------------------------------------------------- */

typedef struct client_state {
    actor_arg a;
} client_state;

static client_slot *my_slot(client_state *c) {
    client_slot *s = &c->a.wl->slots[c->a.index];
    return s->epoch == c->a.epoch ? s : NULL;
}

static void think(tr_ctx *ctx, tr__reg_workload *wl) {
    /* mean interval per client = clients / rate; uniform in [1, 2 * mean] ms */
    double mean_ms = 1000.0 * wl->slot_count / wl->o.rate;
    uint64_t span = mean_ms < 1.0 ? 2 : (uint64_t)(2.0 * mean_ms);
    uint64_t id;
    tr_timer_start(ctx, (uint32_t)(1 + tr_random(ctx) % span), 0, CLIENT_TICK, &id);
}

static void retire(tr__reg_workload *wl, client_slot *s) {
    s->pending = false;
    s->process = wl->next_process++;
}

static void invoke(tr_ctx *ctx, tr__reg_workload *wl, client_slot *s) {
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    int rc;
    s->key = (uint32_t)(tr_random(ctx) % wl->o.keys);
    s->is_write = tr_random(ctx) % 100 >= wl->o.read_percent;
    s->value = s->is_write ? ++wl->next_value : 0;
    int64_t t = (int64_t)now_ns(wl);
    int32_t node = (int32_t)s->node_index;
    rc = s->is_write ? tr__history_invoke_write(wl->history, t, s->process, s->key, s->value, node)
                     : tr__history_invoke_read(wl->history, t, s->process, s->key, node);
    if (rc != 0) {
        note(wl, rc);
        return; /* history full: this client goes quiet */
    }
    s->pending = true;
    tr__registers_request_encode(body, sizeof body, s->key, s->is_write, s->value, &len);
    rc = tr_request_name(ctx, wl->target, s->is_write ? TR_REG_WRITE : TR_REG_READ, body, len,
                         wl->o.op_timeout_ms, &s->corr);
    if (rc != 0) {
        note(wl, tr__history_fail(wl->history, t, s->process, "send refused"));
        s->pending = false;
        think(ctx, wl);
    }
}

static void complete(tr_ctx *ctx, tr__reg_workload *wl, client_slot *s, const tr_msg *msg) {
    int64_t t = (int64_t)now_ns(wl);
    tr_reg_reply rep;
    if (msg->type == TR_MSG_TIMEOUT) {
        note(wl, tr__history_info(wl->history, t, s->process, "timeout"));
        retire(wl, s);
    } else if (tr__registers_reply_decode(msg->body, msg->body_len, &rep) != 0) {
        note(wl, tr__history_info(wl->history, t, s->process, "malformed reply"));
        retire(wl, s);
    } else if (rep.ok) {
        note(wl, s->is_write
                     ? tr__history_ok(wl->history, t, s->process)
                     : tr__history_ok_read(wl->history, t, s->process, rep.has_value, rep.value));
        s->pending = false;
    } else if (rep.indeterminate) {
        note(wl, tr__history_info(wl->history, t, s->process, rep.error));
        retire(wl, s);
    } else {
        note(wl, tr__history_fail(wl->history, t, s->process, rep.error));
        s->pending = false;
    }
    think(ctx, wl);
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    client_state *c = state;
    TR_ASSERT(arg_len == sizeof c->a);
    memcpy(&c->a, arg, sizeof c->a);
    think(ctx, c->a.wl);
    return 0;
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    client_state *c = state;
    tr__reg_workload *wl = c->a.wl;
    client_slot *s = my_slot(c);
    if (s == NULL) {
        return TR_STOP;
    }
    if (msg->type == CLIENT_TICK) {
        if (wl->stopped) {
            return TR_STOP;
        }
        if (!s->pending) {
            invoke(ctx, wl, s);
        }
    } else if ((msg->type == TR_REG_REPLY || msg->type == TR_MSG_TIMEOUT) && s->pending &&
               msg->corr == s->corr) {
        complete(ctx, wl, s, msg);
    }
    return TR_CONTINUE;
}

static const tr_behaviour client_behaviour = {
    .name = "workload_client",
    .state_size = sizeof(client_state),
    .init = client_init,
    .receive = client_receive,
};

/* ---- probe actor ------------------------------------------------------------------------ */

typedef struct probe_state {
    actor_arg a;
    uint64_t timer;
} probe_state;

static void probe_round(tr_ctx *ctx, tr__reg_workload *wl, probe_node *p) {
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    p->got = 0;
    for (uint32_t k = 0; k < wl->o.keys; k++) {
        tr__registers_request_encode(body, sizeof body, k, false, 0, &len);
        p->corr[k] = 0;
        tr_request_name(ctx, wl->target, TR_REG_READ, body, len, wl->o.probe_ms, &p->corr[k]);
    }
}

static bool snapshots_agree(tr__reg_workload *wl, uint64_t since_ns, uint64_t *at_ns);

static void probe_answer(tr__reg_workload *wl, probe_node *p, const tr_msg *msg) {
    tr_reg_reply rep;
    for (uint32_t k = 0; k < wl->o.keys; k++) {
        if (p->corr[k] != msg->corr || msg->corr == 0) {
            continue;
        }
        p->corr[k] = 0;
        if (msg->type != TR_REG_REPLY ||
            tr__registers_reply_decode(msg->body, msg->body_len, &rep) || !rep.ok) {
            return; /* this round stays incomplete */
        }
        p->cur_has[k] = rep.has_value;
        p->cur_val[k] = rep.value;
        if (++p->got == wl->o.keys) {
            memcpy(p->has, p->cur_has, sizeof p->has);
            memcpy(p->val, p->cur_val, sizeof p->val);
            p->have = true;
            p->at_ns = now_ns(wl);
            uint64_t at;
            if (snapshots_agree(wl, wl->probe_since_ns, &at)) {
                wl->agreed_ns = wl->agreed_ns ? wl->agreed_ns : at;
            } else {
                wl->agreed_ns = 0; /* they differ again (writes still arriving) */
            }
        }
        return;
    }
}

static int probe_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    probe_state *ps = state;
    TR_ASSERT(arg_len == sizeof ps->a);
    memcpy(&ps->a, arg, sizeof ps->a);
    return tr_timer_start(ctx, 1, ps->a.wl->o.probe_ms, PROBE_TICK, &ps->timer);
}

static int probe_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    probe_state *ps = state;
    tr__reg_workload *wl = ps->a.wl;
    probe_node *p = &wl->probes[ps->a.index];
    if (msg->type == PROBE_TICK) {
        probe_round(ctx, wl, p);
    } else {
        probe_answer(wl, p, msg);
    }
    return TR_CONTINUE;
}

static const tr_behaviour probe_behaviour = {
    .name = "workload_probe",
    .state_size = sizeof(probe_state),
    .init = probe_init,
    .receive = probe_receive,
};

/* ---- the workload ------------------------------------------------------------------------ */

void tr__workload_opts_init(tr_workload_opts *o, tr_sim *sim, const char *target) {
    memset(o, 0, sizeof *o);
    o->sim = sim;
    o->target = target;
    o->read_percent = 101; /* default */
}

int tr__workload_create(const tr_workload_opts *opts, tr__reg_workload **out) {
    if (opts == NULL || opts->sim == NULL || opts->target == NULL ||
        strlen(opts->target) > TR_NAME_MAX || opts->rate < 0 || opts->keys > TR_WORKLOAD_KEYS_MAX) {
        return TR_EINVAL;
    }
    uint32_t per_node = opts->clients_per_node ? opts->clients_per_node : 2;
    if ((uint64_t)per_node * tr_sim_node_count(opts->sim) > TR_WORKLOAD_CLIENTS_MAX) {
        return TR_EINVAL;
    }
    tr__reg_workload *wl = calloc(1, sizeof *wl);
    if (wl == NULL) {
        return TR_ENOMEM;
    }
    wl->o = *opts;
    wl->o.clients_per_node = per_node;
    wl->o.keys = opts->keys ? opts->keys : 4;
    wl->o.rate = opts->rate > 0 ? opts->rate : 100;
    wl->o.op_timeout_ms = opts->op_timeout_ms ? opts->op_timeout_ms : 1000;
    wl->o.read_percent = opts->read_percent > 100 ? 50 : opts->read_percent;
    wl->o.max_ops = opts->max_ops ? opts->max_ops : (1u << 20);
    wl->o.probe_ms = opts->probe_ms ? opts->probe_ms : 5;
    memcpy(wl->target, opts->target, strlen(opts->target) + 1);
    wl->o.target = wl->target;
    wl->history = tr__history_create(wl->o.max_ops);
    if (wl->history == NULL) {
        free(wl);
        return TR_ENOMEM;
    }
    wl->slot_count = per_node * tr_sim_node_count(opts->sim);
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        wl->slots[i].node_index = i / per_node;
        wl->slots[i].process = wl->next_process++;
    }
    *out = wl;
    return 0;
}

void tr__workload_destroy(tr__reg_workload *wl) {
    if (wl != NULL) {
        tr__history_destroy(wl->history);
        free(wl);
    }
}

int tr__workload_boot(tr__reg_workload *wl, tr_node *node, uint32_t index) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        client_slot *s = &wl->slots[i];
        if (s->node_index != index) {
            continue;
        }
        if (s->pending) { /* booted again without tr__workload_node_crashed */
            note(wl, tr__history_info(wl->history, (int64_t)now_ns(wl), s->process, "restarted"));
            retire(wl, s);
        }
        s->epoch++;
        actor_arg a = {.wl = wl, .index = i, .epoch = s->epoch};
        int rc = tr_node_spawn(node, &client_behaviour, NULL, &a, sizeof a, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void tr__workload_node_crashed(tr__reg_workload *wl, uint32_t index) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        client_slot *s = &wl->slots[i];
        if (s->node_index == index && s->pending) {
            note(wl, tr__history_info(wl->history, (int64_t)now_ns(wl), s->process, "crashed"));
            retire(wl, s);
        }
    }
}

void tr__workload_stop(tr__reg_workload *wl) {
    wl->stopped = true;
}

size_t tr__workload_pending(const tr__reg_workload *wl) {
    size_t n = 0;
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        n += wl->slots[i].pending;
    }
    return n;
}

void tr__workload_finish(tr__reg_workload *wl) {
    wl->stopped = true;
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        client_slot *s = &wl->slots[i];
        if (s->pending) {
            note(wl, tr__history_info(wl->history, (int64_t)now_ns(wl), s->process, "run ended"));
            retire(wl, s);
        }
        s->epoch++; /* any client still alive stops at its next message */
    }
}

tr_history *tr__workload_history(tr__reg_workload *wl) {
    return wl->history;
}
uint64_t tr__workload_record_errors(const tr__reg_workload *wl) {
    return wl->record_errors;
}

int tr__workload_probe_start(tr__reg_workload *wl) {
    uint32_t n = tr_sim_node_count(wl->o.sim);
    memset(wl->probes, 0, sizeof wl->probes);
    wl->probe_since_ns = now_ns(wl);
    wl->agreed_ns = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!tr_sim_node_is_up(wl->o.sim, i)) {
            continue;
        }
        actor_arg a = {.wl = wl, .index = i};
        int rc =
            tr_node_spawn(tr_sim_node(wl->o.sim, i), &probe_behaviour, NULL, &a, sizeof a, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static bool snapshots_agree(tr__reg_workload *wl, uint64_t since_ns, uint64_t *at_ns) {
    uint32_t n = tr_sim_node_count(wl->o.sim);
    const probe_node *first = NULL;
    uint64_t last = 0;
    for (uint32_t i = 0; i < n; i++) {
        const probe_node *p = &wl->probes[i];
        if (!tr_sim_node_is_up(wl->o.sim, i)) {
            continue;
        }
        if (!p->have || p->at_ns < since_ns) {
            return false;
        }
        last = p->at_ns > last ? p->at_ns : last;
        if (first == NULL) {
            first = p;
            continue;
        }
        for (uint32_t k = 0; k < wl->o.keys; k++) {
            if (p->has[k] != first->has[k] || (p->has[k] && p->val[k] != first->val[k])) {
                return false;
            }
        }
    }
    if (first != NULL && at_ns != NULL) {
        *at_ns = last;
    }
    return first != NULL;
}

bool tr__workload_converged(tr__reg_workload *wl, uint64_t *at_ns) {
    if (wl->agreed_ns == 0) {
        return false;
    }
    if (at_ns != NULL) {
        *at_ns = wl->agreed_ns;
    }
    return true;
}

size_t tr__workload_replica_states(tr__reg_workload *wl, tr_replica_state *states,
                                   size_t states_cap, tr_replica_entry *entries,
                                   size_t entries_cap) {
    size_t n = 0, used = 0;
    for (uint32_t i = 0; i < tr_sim_node_count(wl->o.sim) && n < states_cap; i++) {
        const probe_node *p = &wl->probes[i];
        if (!p->have || !tr_sim_node_is_up(wl->o.sim, i) || entries_cap - used < wl->o.keys) {
            continue;
        }
        states[n] = (tr_replica_state){.node = (int32_t)i, .entries = entries + used};
        for (uint32_t k = 0; k < wl->o.keys; k++) {
            if (p->has[k]) {
                entries[used++] = (tr_replica_entry){.key = k, .value = p->val[k]};
                states[n].count++;
            }
        }
        n++;
    }
    return n;
}
