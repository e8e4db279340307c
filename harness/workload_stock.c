/* workload_stock.c — simulated stock clients and the final read (see workload_stock.h). */
#include "harness/workload_stock.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "actors/stock.h"

enum {
    STOCK_CLIENT_TICK = TR_MSG_USER + 0x210,
    STOCK_FINAL_TICK
};

#define FINAL_RETRY_MS 50
#define RETRY_CAP_MS 500
/* Unresolved reserve/restock ops a client keeps aside (retrying them when due) while it
 * goes on with new ones. Their ids must stay inside the service's ledger window, so a
 * client starts a new change only if its seq stays within TR_STOCK_LEDGER_WINDOW of the
 * oldest parked id. */
#define PARK_MAX 8
_Static_assert(PARK_MAX + 1 < TR_STOCK_LEDGER_WINDOW, "parked ids must fit the ledger window");

typedef struct stock_opdesc {
    uint8_t f; /* TR_F_RESERVE, TR_F_RESTOCK or TR_F_READ */
    uint32_t item;
    int64_t qty;
    uint64_t id;
    uint32_t attempts;
    uint64_t due_ns; /* parked: retry from then on */
} stock_opdesc;

typedef struct stock_slot {
    uint32_t node_index;
    uint32_t client;   /* reservation-id client part: slot + 1 */
    uint32_t next_seq; /* the seq of the next new operation */
    int64_t process;
    uint32_t epoch; /* bumped at every (re)boot: a stale actor must not touch the slot */
    bool pending;   /* `cur` is outstanding in the history */
    bool retrying;  /* `cur` is a retry (then the next tick prefers a new op) */
    stock_opdesc cur;
    uint64_t corr;
    uint32_t parked_count;
    stock_opdesc parked[PARK_MAX];
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
    int64_t final_proc[TR_STOCK_WORKLOAD_ITEMS_MAX]; /* its open read in the history, or -1 */
};

typedef struct stock_actor_arg {
    tr_stock_workload *wl; /* a handle; never used as data */
    uint32_t index;        /* slot (clients) or node index (final readers) */
    uint32_t epoch;
} stock_actor_arg;

static uint64_t now_u(const tr_stock_workload *wl) {
    return tr_sim_now_ns(wl->o.sim);
}
static int64_t now_ns(const tr_stock_workload *wl) {
    return (int64_t)now_u(wl);
}

static void note(tr_stock_workload *wl, int rc) {
    wl->record_errors += rc != 0;
}

/* ---- client actor ------------------------------------------------------------------- */

typedef struct stock_client {
    stock_actor_arg a;
} stock_client;

static stock_slot *my_slot(stock_client *c) {
    stock_slot *s = &c->a.wl->slots[c->a.index];
    return s->epoch == c->a.epoch ? s : NULL;
}

static void tick_in(tr_ctx *ctx, uint64_t ms) {
    uint64_t id;
    tr_timer_start(ctx, (uint32_t)(ms ? ms : 1), 0, STOCK_CLIENT_TICK, &id);
}

static void think(tr_ctx *ctx, tr_stock_workload *wl) {
    /* mean interval per client = clients / rate; uniform in [1, 2 * mean] ms */
    double mean_ms = 1000.0 * wl->slot_count / wl->o.rate;
    uint64_t span = mean_ms < 1.0 ? 2 : (uint64_t)(2.0 * mean_ms);
    tick_in(ctx, 1 + tr_random(ctx) % span);
}

/* Before retry n (n = attempts so far >= 1): uniform in [1, 2 * min(retry_ms * 2^(n-1),
 * RETRY_CAP_MS)] ms, so a client waiting out a partition asks about once a second. */
static uint64_t back_off_ns(tr_ctx *ctx, tr_stock_workload *wl, uint32_t attempts) {
    uint64_t base = wl->o.retry_ms;
    for (uint32_t i = 1; i < attempts && base < RETRY_CAP_MS; i++) {
        base *= 2;
    }
    base = base < RETRY_CAP_MS ? base : RETRY_CAP_MS;
    return (1 + tr_random(ctx) % (2 * base)) * 1000000u;
}

static void retire(tr_stock_workload *wl, stock_slot *s) {
    s->pending = false;
    s->process = wl->next_process++;
}

/* Puts the current (indeterminate) change aside for a retry from due_ns on. */
static void park(tr_stock_workload *wl, stock_slot *s, uint64_t due_ns) {
    if (s->cur.attempts >= wl->o.max_attempts) {
        wl->abandoned++;
        return;
    }
    TR_ASSERT(s->parked_count < PARK_MAX); /* new changes start only when there is room */
    s->cur.due_ns = due_ns;
    s->parked[s->parked_count++] = s->cur;
}

/* The parked op due first (index), or -1 when none is parked. */
static int earliest_parked(const stock_slot *s) {
    int best = -1;
    for (uint32_t i = 0; i < s->parked_count; i++) {
        if (best < 0 || s->parked[i].due_ns < s->parked[best].due_ns) {
            best = (int)i;
        }
    }
    return best;
}

static void unpark(stock_slot *s, int i) {
    s->cur = s->parked[i];
    s->parked[i] = s->parked[--s->parked_count];
}

/* A new change (reserve/restock) may start: room to park it, and its seq keeps every
 * parked id inside the ledger window. */
static bool change_allowed(const stock_slot *s) {
    if (s->parked_count >= PARK_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < s->parked_count; i++) {
        uint32_t seq = (uint32_t)s->parked[i].id;
        if (s->next_seq - seq + 1 >= TR_STOCK_LEDGER_WINDOW) {
            return false;
        }
    }
    return true;
}

/* Draws the next new operation into cur; false if a change is drawn but not allowed. */
static bool draw_op(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s) {
    uint32_t dice = (uint32_t)(tr_random(ctx) % 100);
    uint32_t item = (uint32_t)(tr_random(ctx) % wl->o.items);
    if (dice < wl->o.read_percent) {
        s->cur = (stock_opdesc){.f = TR_F_READ, .item = item};
        return true;
    }
    bool restock = dice < wl->o.read_percent + wl->o.restock_percent;
    int64_t qty = 1 + (int64_t)(tr_random(ctx) % (restock ? wl->o.restock_max : wl->o.qty_max));
    if (!change_allowed(s)) {
        return false;
    }
    s->cur = (stock_opdesc){.f = restock ? TR_F_RESTOCK : TR_F_RESERVE,
                            .item = item,
                            .qty = qty,
                            .id = tr__stock_id(s->client, s->next_seq++)};
    return true;
}

static int record_invoke(tr_stock_workload *wl, stock_slot *s) {
    tr_op op = {.time_ns = now_ns(wl),
                .process = s->process,
                .key = s->cur.item,
                .node = (int32_t)s->node_index,
                .type = TR_OP_INVOKE,
                .f = s->cur.f};
    if (s->cur.f != TR_F_READ) {
        op.has_value = true;
        op.value = s->cur.qty;
        op.value_to = (int64_t)s->cur.id;
    }
    return tr__history_append(wl->history, &op);
}

static void invoke(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    int rc = record_invoke(wl, s);
    if (rc != 0) {
        note(wl, rc);
        wl->abandoned += s->cur.f != TR_F_READ;
        return; /* history full: this client goes quiet */
    }
    s->pending = true;
    s->cur.attempts++;
    bool change = s->cur.f != TR_F_READ;
    tr_stock_request rq = {.item = s->cur.item,
                           .has_qty = change,
                           .has_id = change,
                           .qty = s->cur.qty,
                           .id = s->cur.id};
    tr__stock_request_encode(body, sizeof body, &rq, &len);
    uint32_t type = s->cur.f == TR_F_READ      ? TR_STOCK_READ
                    : s->cur.f == TR_F_RESTOCK ? TR_STOCK_RESTOCK
                                               : TR_STOCK_RESERVE;
    rc = tr_request_name(ctx, "stock", type, body, len, wl->o.op_timeout_ms, &s->corr);
    if (rc != 0) { /* never sent: this attempt certainly did nothing; retry it later */
        note(wl, tr__history_fail(wl->history, now_ns(wl), s->process, "send refused"));
        s->pending = false;
        if (change) {
            park(wl, s, now_u(wl) + back_off_ns(ctx, wl, s->cur.attempts));
        }
        think(ctx, wl);
    }
}

/* The op's outcome is unknown: retire the process; reserve/restock are parked for a retry
 * under the same id. */
static void indeterminate(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s, const char *why) {
    note(wl, tr__history_info(wl->history, now_ns(wl), s->process, why));
    retire(wl, s);
    if (s->cur.f != TR_F_READ) {
        park(wl, s, now_u(wl) + back_off_ns(ctx, wl, s->cur.attempts));
    }
    think(ctx, wl);
}

static void complete(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s, const tr_msg *msg) {
    int64_t t = now_ns(wl);
    tr_stock_reply rep;
    if (msg->type == TR_MSG_TIMEOUT) {
        indeterminate(ctx, wl, s, "timeout");
        return;
    }
    if (tr__stock_reply_decode(msg->body, msg->body_len, &rep) != 0) {
        indeterminate(ctx, wl, s, "malformed reply");
        return;
    }
    if (!rep.ok && rep.indeterminate) {
        indeterminate(ctx, wl, s, rep.error);
        return;
    }
    if (rep.ok) {
        note(wl, s->cur.f == TR_F_READ
                     ? tr__history_ok_read(wl->history, t, s->process, true, rep.level)
                     : tr__history_ok(wl->history, t, s->process));
    } else {
        note(wl, tr__history_fail(wl->history, t, s->process, rep.error));
    }
    s->pending = false;
    think(ctx, wl);
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    stock_client *c = state;
    TR_ASSERT(arg_len == sizeof c->a);
    memcpy(&c->a, arg, sizeof c->a);
    think(ctx, c->a.wl);
    return 0;
}

/* A tick: retry a parked op that is due or start a new one (until stopped), alternating
 * when both are possible, so that ids stuck behind a partition do not starve the rest;
 * when nothing can start, tick again when the first parked op is due. */
static void on_tick(tr_ctx *ctx, tr_stock_workload *wl, stock_slot *s) {
    if (s->pending) {
        return;
    }
    int p = earliest_parked(s);
    uint64_t now = now_u(wl);
    bool due = p >= 0 && s->parked[p].due_ns <= now;
    if (due && (!s->retrying || wl->stopped)) {
        unpark(s, p);
        s->retrying = true;
        invoke(ctx, wl, s);
    } else if (!wl->stopped && draw_op(ctx, wl, s)) {
        s->retrying = false;
        invoke(ctx, wl, s);
    } else if (due) {
        unpark(s, p);
        s->retrying = true;
        invoke(ctx, wl, s);
    } else if (p >= 0) {
        tick_in(ctx, (s->parked[p].due_ns - now) / 1000000u + 1);
    } else if (!wl->stopped) {
        think(ctx, wl);
    }
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

/* The final reads are recorded in the history like any read (a fresh process each, on the
 * owner), so that an exported history carries the levels the conservation check ends on and
 * `troupe check` can check it alone. A read not answered before the next round is info. */
static void final_close(tr_stock_workload *wl, uint32_t i, const char *why) {
    if (wl->final_proc[i] >= 0) {
        note(wl, tr__history_info(wl->history, now_ns(wl), wl->final_proc[i], why));
        wl->final_proc[i] = -1;
    }
}

static void read_round(tr_ctx *ctx, tr_stock_workload *wl, uint32_t node) {
    uint8_t body[TR_STOCK_BODY_MAX];
    size_t len;
    uint32_t peers = tr_sim_node_count(wl->o.sim);
    for (uint32_t i = 0; i < wl->o.items; i++) {
        if (tr__stock_owner(i, peers) != node || wl->final_known[i]) {
            continue;
        }
        tr_stock_request rq = {.item = i};
        tr__stock_request_encode(body, sizeof body, &rq, &len);
        wl->final_corr[i] = 0;
        final_close(wl, i, "no answer (final read retried)");
        wl->final_proc[i] = wl->next_process++;
        note(wl,
             tr__history_invoke_read(wl->history, now_ns(wl), wl->final_proc[i], i, (int32_t)node));
        tr_request_name(ctx, "stock", TR_STOCK_READ, body, len, FINAL_RETRY_MS, &wl->final_corr[i]);
    }
}

/* Correlation ids are per node: only the items this reader's node owns can match. */
static void read_answer(tr_stock_workload *wl, uint32_t node, const tr_msg *msg) {
    tr_stock_reply rep;
    uint32_t peers = tr_sim_node_count(wl->o.sim);
    for (uint32_t i = 0; i < wl->o.items; i++) {
        if (wl->final_corr[i] != msg->corr || msg->corr == 0 || wl->final_known[i] ||
            tr__stock_owner(i, peers) != node) {
            continue;
        }
        wl->final_corr[i] = 0;
        if (msg->type == TR_STOCK_REPLY &&
            tr__stock_reply_decode(msg->body, msg->body_len, &rep) == 0 && rep.ok) {
            wl->final_known[i] = true;
            wl->final_level[i] = rep.level;
            if (wl->final_proc[i] >= 0) {
                note(wl, tr__history_ok_read(wl->history, now_ns(wl), wl->final_proc[i], true,
                                             rep.level));
                wl->final_proc[i] = -1;
            }
        } else {
            final_close(wl, i, msg->type == TR_MSG_TIMEOUT ? "timeout" : "error");
        }
        return;
    }
}

static int reader_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    stock_reader *r = state;
    TR_ASSERT(arg_len == sizeof r->a);
    memcpy(&r->a, arg, sizeof r->a);
    read_round(ctx, r->a.wl, r->a.index);
    return tr_timer_start(ctx, FINAL_RETRY_MS, FINAL_RETRY_MS, STOCK_FINAL_TICK, &r->timer);
}

static int reader_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    stock_reader *r = state;
    if (tr__workload_stock_final_done(r->a.wl)) {
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

void tr__workload_stock_opts_init(tr_stock_workload_opts *o, tr_sim *sim) {
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

int tr__workload_stock_create(const tr_stock_workload_opts *opts, tr_stock_workload **out) {
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
    for (uint32_t i = 0; i < TR_STOCK_WORKLOAD_ITEMS_MAX; i++) {
        wl->final_proc[i] = -1; /* no final read open */
    }
    wl->history = tr__history_create(o.max_ops);
    if (wl->history == NULL) {
        free(wl);
        return TR_ENOMEM;
    }
    wl->slot_count = o.clients_per_node * nodes;
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        wl->slots[i] = (stock_slot){.node_index = i / o.clients_per_node,
                                    .client = i + 1,
                                    .next_seq = 1,
                                    .process = wl->next_process++};
    }
    *out = wl;
    return 0;
}

void tr__workload_stock_destroy(tr_stock_workload *wl) {
    if (wl != NULL) {
        tr__history_destroy(wl->history);
        free(wl);
    }
}

int tr__workload_stock_boot(tr_stock_workload *wl, tr_node *node, uint32_t index) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        stock_slot *s = &wl->slots[i];
        if (s->node_index != index) {
            continue;
        }
        if (s->pending) { /* booted again without tr__workload_stock_node_crashed */
            note(wl, tr__history_info(wl->history, now_ns(wl), s->process, "restarted"));
            retire(wl, s);
            if (s->cur.f != TR_F_READ) {
                park(wl, s, now_u(wl));
            }
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

void tr__workload_stock_node_crashed(tr_stock_workload *wl, uint32_t index) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        stock_slot *s = &wl->slots[i];
        if (s->node_index != index || !s->pending) {
            continue;
        }
        note(wl, tr__history_info(wl->history, now_ns(wl), s->process, "crashed"));
        retire(wl, s);
        if (s->cur.f != TR_F_READ) { /* retried after the restart */
            park(wl, s, now_u(wl));
        }
    }
}

void tr__workload_stock_stop(tr_stock_workload *wl) {
    wl->stopped = true;
}

bool tr__workload_stock_busy(const tr_stock_workload *wl) {
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        if (wl->slots[i].pending || wl->slots[i].parked_count > 0) {
            return true;
        }
    }
    return false;
}

void tr__workload_stock_finish(tr_stock_workload *wl) {
    wl->stopped = true;
    wl->finished = true;
    for (uint32_t i = 0; i < wl->slot_count; i++) {
        stock_slot *s = &wl->slots[i];
        if (s->pending) {
            note(wl, tr__history_info(wl->history, now_ns(wl), s->process, "run ended"));
            retire(wl, s);
            wl->abandoned += s->cur.f != TR_F_READ;
        }
        wl->abandoned += s->parked_count;
        s->parked_count = 0;
        s->epoch++; /* any client still alive stops at its next message */
    }
    for (uint32_t i = 0; i < wl->o.items; i++) {
        final_close(wl, i, "run ended");
    }
}

tr_history *tr__workload_stock_history(tr_stock_workload *wl) {
    return wl->history;
}
uint64_t tr__workload_stock_record_errors(const tr_stock_workload *wl) {
    return wl->record_errors;
}
uint64_t tr__workload_stock_abandoned(const tr_stock_workload *wl) {
    return wl->abandoned;
}
uint32_t tr__workload_stock_items(const tr_stock_workload *wl) {
    return wl->o.items;
}

int tr__workload_stock_final_start(tr_stock_workload *wl) {
    uint32_t n = tr_sim_node_count(wl->o.sim);
    memset(wl->final_known, 0, sizeof wl->final_known);
    memset(wl->final_corr, 0, sizeof wl->final_corr);
    for (uint32_t i = 0; i < TR_STOCK_WORKLOAD_ITEMS_MAX; i++) {
        wl->final_proc[i] = -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!tr_sim_node_is_up(wl->o.sim, i)) {
            continue;
        }
        stock_actor_arg a = {.wl = wl, .index = i};
        int rc =
            tr_node_spawn(tr_sim_node(wl->o.sim, i), &reader_behaviour, NULL, &a, sizeof a, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

bool tr__workload_stock_final_done(const tr_stock_workload *wl) {
    for (uint32_t i = 0; i < wl->o.items; i++) {
        if (!wl->final_known[i]) {
            return false;
        }
    }
    return true;
}

void tr__workload_stock_final_levels(const tr_stock_workload *wl, int64_t *levels, bool *known) {
    for (uint32_t i = 0; i < wl->o.items; i++) {
        levels[i] = wl->final_level[i];
        known[i] = wl->final_known[i];
    }
}
