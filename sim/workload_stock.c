/* workload_stock.c — simulated stock clients and the final read (see workload_stock.h). */
#include "sim/workload_stock.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "actors/stock.h"

enum { STOCK_CLIENT_TICK = TR_MSG_USER + 0x210, STOCK_FINAL_TICK };

#define FINAL_RETRY_MS 50
#define RETRY_CAP_MS 500

typedef struct stock_slot {
    uint32_t node_index;
    uint32_t client;   /* reservation-id client part: slot + 1 */
    uint32_t next_seq; /* the seq of the next new operation */
    int64_t process;
    uint32_t epoch;    /* bumped at every (re)boot: a stale actor must not touch the slot */
    bool pending;      /* an op is outstanding in the history */
    bool has_op;       /* the op below awaits a definite outcome (in flight or to retry) */
    uint8_t f;         /* TR_F_RESERVE, TR_F_RESTOCK or TR_F_READ */
    uint32_t item;
    int64_t qty;
    uint64_t id;
    uint32_t attempts;
    uint64_t corr;
} stock_slot;

struct tr_stock_workload {
    tr_stock_workload_opts o;
    tr_history *history;
    bool stopped;
    bool finished;
    int64_t next_process;
    uint64_t record_errors;
    uint64_t abandoned;
    uint32_t slot_count;
    stock_slot slots[TR_WORKLOAD_CLIENTS_MAX];
    bool final_known[TR_STOCK_WORKLOAD_ITEMS_MAX];
    int64_t final_level[TR_STOCK_WORKLOAD_ITEMS_MAX];
    uint64_t final_corr[TR_STOCK_WORKLOAD_ITEMS_MAX];
};

typedef struct stock_actor_arg {
    tr_stock_workload *wl; /* a handle; never used as data */
    uint32_t index;        /* slot (clients) or node index (final readers) */
    uint32_t epoch;
} stock_actor_arg;

static int64_t now_ns(const tr_stock_workload *wl) {
    return (int64_t)tr_sim_now_ns(wl->o.sim);
}

static void note(tr_stock_workload *wl, int rc) { wl->record_errors += rc != 0; }

/* ---- client actor ------------------------------------------------------------------- */

typedef struct stock_client {
    stock_actor_arg a;
} stock_client;

static stock_slot *my_slot(stock_client *c) {
    stock_slot *s = &c->a.wl->slots[c->a.index];
    return s->epoch == c->a.epoch ? s : NULL;
}

static void think(tr_ctx *ctx, tr_stock_workload *wl) {
    /* mean interval per client = clients / rate; uniform in [1, 2 * mean] ms */
    double mean_ms = 1000.0 * wl->slot_count / wl->o.rate;
    uint64_t span = mean_ms < 1.0 ? 2 : (uint64_t)(2.0 * mean_ms);
    uint64_t id;
    tr_timer_start(ctx, (uint32_t)(1 + tr_random(ctx) % span), 0, STOCK_CLIENT_TICK, &id);
}

/* Before retry n (n = attempts so far >= 1): uniform in [1, 2 * min(retry_ms * 2^(n-1),
 * RETRY_CAP_MS)] ms, so a client waiting out a partition asks about once a second. */
static void back_off(tr_ctx *ctx, tr_stock_workload *wl, uint32_t attempts) {
    uint64_t id, base = wl->o.retry_ms;
    for (uint32_t i = 1; i < attempts && base < RETRY_CAP_MS; i++) {
        base *= 2;
    }
    base = base < RETRY_CAP_MS ? base : RETRY_CAP_MS;
    tr_timer_start(ctx, (uint32_t)(1 + tr_random(ctx) % (2 * base)), 0, STOCK_CLIENT_TICK, &id);
}

static void retire(tr_stock_workload *wl, stock_slot *s) {
    s->pending = false;
    s->process = wl->next_process++;
}

/* Draws the next new operation into the slot. */
static void draw_op(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s) {
    uint32_t dice = (uint32_t)(tr_random(ctx) % 100);
    s->item = (uint32_t)(tr_random(ctx) % wl->o.items);
    s->attempts = 0;
    s->has_op = true;
    if (dice < wl->o.read_percent) {
        s->f = TR_F_READ;
        s->qty = 0;
        s->id = 0;
        return;
    }
    bool restock = dice < wl->o.read_percent + wl->o.restock_percent;
    s->f = restock ? TR_F_RESTOCK : TR_F_RESERVE;
    s->qty = 1 + (int64_t)(tr_random(ctx) % (restock ? wl->o.restock_max : wl->o.qty_max));
    s->id = tr_stock_id(s->client, s->next_seq++);
}

static int record_invoke(tr_stock_workload *wl, stock_slot *s) {
    tr_op op = {.time_ns = now_ns(wl), .process = s->process, .key = s->item,
                .node = (int32_t)s->node_index, .type = TR_OP_INVOKE, .f = s->f};
    if (s->f != TR_F_READ) {
        op.has_value = true;
        op.value = s->qty;
        op.value_to = (int64_t)s->id;
    }
    return tr_history_append(wl->history, &op);
}

static void invoke(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    int rc = record_invoke(wl, s);
    if (rc != 0) {
        note(wl, rc);
        s->has_op = false;
        return; /* history full: this client goes quiet */
    }
    s->pending = true;
    s->attempts++;
    tr_stock_request rq = {.item = s->item, .has_qty = s->f != TR_F_READ,
                           .has_id = s->f != TR_F_READ, .qty = s->qty, .id = s->id};
    tr_stock_request_encode(body, sizeof body, &rq, &len);
    uint32_t type = s->f == TR_F_READ      ? TR_STOCK_READ
                    : s->f == TR_F_RESTOCK ? TR_STOCK_RESTOCK
                                           : TR_STOCK_RESERVE;
    rc = tr_request_name(ctx, "stock", type, body, len, wl->o.op_timeout_ms, &s->corr);
    if (rc != 0) { /* never sent: certainly not applied; a new op next time */
        note(wl, tr_history_fail(wl->history, now_ns(wl), s->process, "send refused"));
        s->pending = false;
        s->has_op = false;
        think(ctx, wl);
    }
}

/* The op's outcome is unknown: retire the process; reserve/restock are retried. */
static void indeterminate(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s,
                          const char *why) {
    note(wl, tr_history_info(wl->history, now_ns(wl), s->process, why));
    retire(wl, s);
    if (s->f == TR_F_READ) {
        s->has_op = false;
        think(ctx, wl);
    } else if (s->attempts >= wl->o.max_attempts) {
        s->has_op = false;
        wl->abandoned++;
        think(ctx, wl);
    } else {
        back_off(ctx, wl, s->attempts);
    }
}

static void complete(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s, const tr_msg *msg) {
    int64_t t = now_ns(wl);
    tr_stock_reply rep;
    if (msg->type == TR_MSG_TIMEOUT) {
        indeterminate(ctx, wl, s, "timeout");
        return;
    }
    if (tr_stock_reply_decode(msg->body, msg->body_len, &rep) != 0) {
        indeterminate(ctx, wl, s, "malformed reply");
        return;
    }
    if (!rep.ok && rep.indeterminate) {
        indeterminate(ctx, wl, s, rep.error);
        return;
    }
    if (rep.ok) {
        note(wl, s->f == TR_F_READ ? tr_history_ok_read(wl->history, t, s->process, true,
                                                        rep.level)
                                   : tr_history_ok(wl->history, t, s->process));
    } else {
        note(wl, tr_history_fail(wl->history, t, s->process, rep.error));
    }
    s->pending = false;
    s->has_op = false;
    think(ctx, wl);
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    stock_client *c = state;
    assert(arg_len == sizeof c->a);
    memcpy(&c->a, arg, sizeof c->a);
    stock_slot *s = my_slot(c);
    if (s != NULL && s->has_op) {
        back_off(ctx, c->a.wl, s->attempts); /* restarted with a retry due */
    } else {
        think(ctx, c->a.wl);
    }
    return 0;
}

static void on_tick(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s) {
    if (s->pending) {
        return;
    }
    if (!s->has_op) {
        if (wl->stopped) {
            return;
        }
        draw_op(ctx, wl, s);
    }
    invoke(ctx, wl, s);
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    stock_client *c = state;
    tr_stock_workload *wl = c->a.wl;
    stock_slot *s = my_slot(c);
    if (s == NULL || wl->finished) {
        return TR_STOP;
    }
    if (msg->type == STOCK_CLIENT_TICK) {
        on_tick(ctx, wl, s);
    } else if ((msg->type == TR_STOCK_REPLY || msg->type == TR_MSG_TIMEOUT) && s->pending &&
               msg->corr == s->corr) {
        complete(ctx, wl, s, msg);
    }
    return TR_CONTINUE;
}

static const tr_behaviour client_behaviour = {
    .name = "stock_client",
    .state_size = sizeof(stock_client),
    .init = client_init,
    .receive = client_receive,
};

/* ---- final reader ------------------------------------------------------------------- */

typedef struct stock_reader {
    stock_actor_arg a;
    uint64_t timer;
} stock_reader;

static void read_round(tr_ctx *ctx, tr_stock_workload *wl, uint32_t node) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    uint32_t peers = tr_sim_node_count(wl->o.sim);
    for (uint32_t i = 0; i < wl->o.items; i++) {
        if (tr_stock_owner(i, peers) != node || wl->final_known[i]) {
            continue;
        }
        tr_stock_request rq = {.item = i};
        tr_stock_request_encode(body, sizeof body, &rq, &len);
        wl->final_corr[i] = 0;
        tr_request_name(ctx, "stock", TR_STOCK_READ, body, len, FINAL_RETRY_MS,
                        &wl->final_corr[i]);
    }
}

/* Correlation ids are per node: only the items this reader's node owns can match. */
static void read_answer(tr_stock_workload *wl, uint32_t node, const tr_msg *msg) {
    tr_stock_reply rep;
    uint32_t peers = tr_sim_node_count(wl->o.sim);
    for (uint32_t i = 0; i < wl->o.items; i++) {
        if (wl->final_corr[i] != msg->corr || msg->corr == 0 || wl->final_known[i] ||
            tr_stock_owner(i, peers) != node) {
            continue;
        }
        wl->final_corr[i] = 0;
        if (msg->type == TR_STOCK_REPLY && tr_stock_reply_decode(msg->body, msg->body_len,
                                                                 &rep) == 0 && rep.ok) {
            wl->final_known[i] = true;
            wl->final_level[i] = rep.level;
        }
        return;
    }
}

static int reader_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    stock_reader *r = state;
    assert(arg_len == sizeof r->a);
    memcpy(&r->a, arg, sizeof r->a);
    read_round(ctx, r->a.wl, r->a.index);
    return tr_timer_start(ctx, FINAL_RETRY_MS, FINAL_RETRY_MS, STOCK_FINAL_TICK, &r->timer);
}

static int reader_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    stock_reader *r = state;
    if (tr_stock_workload_final_done(r->a.wl)) {
        return TR_STOP;
    }
    if (msg->type == STOCK_FINAL_TICK) {
        read_round(ctx, r->a.wl, r->a.index);
    } else {
        read_answer(r->a.wl, r->a.index, msg);
    }
    return TR_CONTINUE;
}

static const tr_behaviour reader_behaviour = {
    .name = "stock_final_reader",
    .state_size = sizeof(stock_reader),
    .init = reader_init,
    .receive = reader_receive,
};

/* ---- the workload ------------------------------------------------------------------- */

void tr_stock_workload_opts_init(tr_stock_workload_opts *o, tr_sim *sim) {
    memset(o, 0, sizeof *o);
    o->sim = sim;
    o->read_percent = 101;
    o->restock_percent = 101;
}

static void fill_defaults(tr_stock_workload_opts *o) {
    o->clients_per_node = o->clients_per_node ? o->clients_per_node : 2;
    o->items = o->items ? o->items : 4;
    o->rate = o->rate > 0 ? o->rate : 100;
    o->op_timeout_ms = o->op_timeout_ms ? o->op_timeout_ms : 1000;
    o->read_percent = o->read_percent > 100 ? 20 : o->read_percent;
    o->restock_percent = o->restock_percent > 100 ? 20 : o->restock_percent;
    o->qty_max = o->qty_max ? o->qty_max : 3;
    o->restock_max = o->restock_max ? o->restock_max : 6;
    o->max_attempts = o->max_attempts ? o->max_attempts : 200;
    o->retry_ms = o->retry_ms ? o->retry_ms : 50;
    o->max_ops = o->max_ops ? o->max_ops : (1u << 20);
}

int tr_stock_workload_create(const tr_stock_workload_opts *opts, tr_stock_workload **out) {
    if (opts == NULL || opts->sim == NULL || opts->rate < 0 ||
        opts->items > TR_STOCK_WORKLOAD_ITEMS_MAX || opts->qty_max > TR_STOCK_QTY_MAX ||
        opts->restock_max > TR_STOCK_QTY_MAX) {
        return TR_EINVAL;
    }
    tr_stock_workload_opts o = *opts;
    fill_defaults(&o);
    uint32_t nodes = tr_sim_node_count(o.sim);
    if (o.read_percent + o.restock_percent > 100 ||
        (uint64_t)o.clients_per_node * nodes > TR_WORKLOAD_CLIENTS_MAX) {
        return TR_EINVAL;
    }
    tr_stock_workload *wl = calloc(1, sizeof *wl);
    if (wl == NULL) {
        return TR_ENOMEM;
    }
    wl->o = o;
    wl->history = tr_history_create(o.max_ops);
    if (wl->history == NULL) {
        free(wl);
        return TR_ENOMEM;
    }
    wl->slot_count = o.clients_per_node * nodes;
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        wl->slots[i] = (stock_slot){.node_index = i / o.clients_per_node, .client = i + 1,
                                    .next_seq = 1, .process = wl->next_process++};
    }
    *out = wl;
    return 0;
}

void tr_stock_workload_destroy(tr_stock_workload *wl) {
    if (wl != NULL) {
        tr_history_destroy(wl->history);
        free(wl);
    }
}

int tr_stock_workload_boot(tr_stock_workload *wl, tr_node *node, uint32_t index) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        stock_slot *s = &wl->slots[i];
        if (s->node_index != index) {
            continue;
        }
        if (s->pending) { /* booted again without tr_stock_workload_node_crashed */
            note(wl, tr_history_info(wl->history, now_ns(wl), s->process, "restarted"));
            retire(wl, s);
        }
        s->epoch++;
        stock_actor_arg a = {.wl = wl, .index = i, .epoch = s->epoch};
        int rc = tr_node_spawn(node, &client_behaviour, NULL, &a, sizeof a, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void tr_stock_workload_node_crashed(tr_stock_workload *wl, uint32_t index) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        stock_slot *s = &wl->slots[i];
        if (s->node_index != index || !s->pending) {
            continue;
        }
        note(wl, tr_history_info(wl->history, now_ns(wl), s->process, "crashed"));
        retire(wl, s);
        if (s->f == TR_F_READ) {
            s->has_op = false; /* reads are not retried */
        } else if (s->attempts >= wl->o.max_attempts) {
            s->has_op = false;
            wl->abandoned++;
        }
    }
}

void tr_stock_workload_stop(tr_stock_workload *wl) { wl->stopped = true; }

bool tr_stock_workload_busy(const tr_stock_workload *wl) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        if (wl->slots[i].pending || wl->slots[i].has_op) {
            return true;
        }
    }
    return false;
}

void tr_stock_workload_finish(tr_stock_workload *wl) {
    wl->stopped = true;
    wl->finished = true;
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        stock_slot *s = &wl->slots[i];
        if (s->pending) {
            note(wl, tr_history_info(wl->history, now_ns(wl), s->process, "run ended"));
            retire(wl, s);
        }
        wl->abandoned += s->has_op && s->f != TR_F_READ;
        s->has_op = false;
        s->epoch++; /* any client still alive stops at its next message */
    }
}

tr_history *tr_stock_workload_history(tr_stock_workload *wl) { return wl->history; }
uint64_t tr_stock_workload_record_errors(const tr_stock_workload *wl) {
    return wl->record_errors;
}
uint64_t tr_stock_workload_abandoned(const tr_stock_workload *wl) { return wl->abandoned; }
uint32_t tr_stock_workload_items(const tr_stock_workload *wl) { return wl->o.items; }

int tr_stock_workload_final_start(tr_stock_workload *wl) {
    uint32_t n = tr_sim_node_count(wl->o.sim);
    memset(wl->final_known, 0, sizeof wl->final_known);
    memset(wl->final_corr, 0, sizeof wl->final_corr);
    for (uint32_t i = 0; i < n; i++) {
        if (!tr_sim_node_is_up(wl->o.sim, i)) {
            continue;
        }
        stock_actor_arg a = {.wl = wl, .index = i};
        int rc = tr_node_spawn(tr_sim_node(wl->o.sim, i), &reader_behaviour, NULL, &a,
                               sizeof a, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

bool tr_stock_workload_final_done(const tr_stock_workload *wl) {
    for (uint32_t i = 0; i < wl->o.items; i++) {
        if (!wl->final_known[i]) {
            return false;
        }
    }
    return true;
}

void tr_stock_workload_final_levels(const tr_stock_workload *wl, int64_t *levels,
                                    bool *known) {
    for (uint32_t i = 0; i < wl->o.items; i++) {
        levels[i] = wl->final_level[i];
        known[i] = wl->final_known[i];
    }
}
