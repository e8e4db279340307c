/* builtin_stock.c — the stock service's workload and checks (see builtin_stock.h). */
#include "harness/builtin_stock.h"

#include <stdio.h>
#include <string.h>

#include "actors/stock.h"
#include "harness/check_stock.h"
#include "harness/check_common.h"

#define READ_PERCENT 20
#define RESTOCK_PERCENT 20
#define QTY_MAX 3
#define RESTOCK_MAX 6
#define MAX_ATTEMPTS 200
#define RETRY_MS 50
#define RETRY_CAP_MS 500
#define FINAL_RETRY_MS 50
#define MS ((uint64_t)1000000)
/* Unresolved reserve/restock ops a client keeps aside (retrying them when due) while it goes
 * on with new ones. Their ids must stay inside the service's ledger window. */
#define PARK_MAX 8
_Static_assert(PARK_MAX + 1 < TR_STOCK_LEDGER_RESULTS, "parked ids must fit an item's ledger");

typedef enum kind {
    K_READ = 0,
    K_RESERVE = 1,
    K_RESTOCK = 2
} kind;

typedef struct stock_op {
    uint8_t kind;
    uint32_t item;
    int64_t qty;
    uint64_t id;
    uint32_t attempts;
    bool unresolved; /* an attempt's outcome is unknown: later attempts must settle it */
    uint64_t due_ns; /* parked: retry from then on */
} stock_op;

/* A client's own memory (tr_workload_client.state), zeroed at the start of the run. */
typedef struct client_state {
    uint32_t next_seq; /* the seq of the last new change (0: none yet) */
    bool retrying;     /* cur is a retry (then the next tick prefers a new op) */
    stock_op cur;
    uint32_t parked_count;
    stock_op parked[PARK_MAX];
    uint64_t final_read; /* bit i: item i's final level was read */
    char error[48];      /* the last reply's error, for the history */
} client_state;

/* ---- choosing the next operation ------------------------------------------------------------ */

/* Before retry n (n = attempts so far >= 1). */
static uint64_t back_off_ns(tr_sim_rng *rng, uint32_t attempts) {
    uint64_t base = RETRY_MS;
    for (uint32_t i = 1; i < attempts && base < RETRY_CAP_MS; i++) {
        base *= 2;
    }
    base = base < RETRY_CAP_MS ? base : RETRY_CAP_MS;
    return (1 + tr_sim_rng_below(rng, 2 * base)) * MS;
}

/* Puts the current (indeterminate) change aside for a retry from due_ns on; given up after
 * MAX_ATTEMPTS (its fate stays unknown). */
static void park(client_state *s, uint64_t due_ns) {
    if (s->cur.attempts >= MAX_ATTEMPTS || s->parked_count >= PARK_MAX) {
        return;
    }
    s->cur.due_ns = due_ns;
    s->parked[s->parked_count++] = s->cur;
}

static int earliest_parked(const client_state *s) {
    int best = -1;
    for (uint32_t i = 0; i < s->parked_count; i++) {
        if (best < 0 || s->parked[i].due_ns < s->parked[best].due_ns) {
            best = (int)i;
        }
    }
    return best;
}

static void unpark(client_state *s, int i) {
    s->cur = s->parked[i];
    s->parked[i] = s->parked[--s->parked_count];
    s->retrying = true;
}

/* A new change may start: room to park it. */
static bool change_allowed(const client_state *s) {
    return s->parked_count < PARK_MAX;
}

/* Draws a new operation into cur; false if a change is drawn but not allowed. */
static bool draw_op(tr_workload_client *cl, client_state *s) {
    uint32_t dice = (uint32_t)tr_sim_rng_below(cl->rng, 100);
    uint32_t item = (uint32_t)tr_sim_rng_below(cl->rng, cl->key_count ? cl->key_count : 1);
    if (dice < READ_PERCENT) {
        s->cur = (stock_op){.kind = K_READ, .item = item};
        return true;
    }
    bool restock = dice < READ_PERCENT + RESTOCK_PERCENT;
    int64_t qty = 1 + (int64_t)tr_sim_rng_below(cl->rng, restock ? RESTOCK_MAX : QTY_MAX);
    if (!change_allowed(s)) {
        return false;
    }
    s->cur = (stock_op){.kind = restock ? K_RESTOCK : K_RESERVE,
                        .item = item,
                        .qty = qty,
                        .id = tr__stock_id(cl->id, ++s->next_seq)};
    s->retrying = false;
    return true;
}

/* The next item whose final level this node's first client has not read yet, or -1. Every
 * up node reads every item (any node's host serves any item): an item whose last node is
 * down for good is read all the same. */
static int64_t final_item(const tr_workload_client *cl, const client_state *s) {
    uint32_t items = cl->key_count < TR__STOCK_ITEMS_MAX ? cl->key_count : TR__STOCK_ITEMS_MAX;
    for (uint32_t i = 0; cl->node_client == 0 && i < items; i++) {
        if (!(s->final_read >> i & 1)) {
            return i;
        }
    }
    return -1;
}

/* What cur becomes now, or false with cl->wait_ns (TR_EAGAIN) or nothing left (phase over). */
static int choose(tr_workload_client *cl, client_state *s) {
    if (cl->phase == TR_WORKLOAD_FINAL) {
        int64_t item = final_item(cl, s);
        if (item < 0) {
            return TR_ENOENT;
        }
        s->cur = (stock_op){.kind = K_READ, .item = (uint32_t)item};
        cl->wait_ns = FINAL_RETRY_MS * MS;
        return 0;
    }
    bool stopped = cl->phase != TR_WORKLOAD_RUNNING;
    int p = earliest_parked(s);
    bool due = p >= 0 && s->parked[p].due_ns <= cl->now_ns;
    if (due && (!s->retrying || stopped)) {
        unpark(s, p);
    } else if (!stopped && draw_op(cl, s)) {
        /* a new operation */
    } else if (due) {
        unpark(s, p);
    } else if (p >= 0) {
        cl->wait_ns = s->parked[p].due_ns - cl->now_ns;
        return TR_EAGAIN;
    } else {
        cl->wait_ns = 0;
        return stopped ? TR_ENOENT : TR_EAGAIN;
    }
    return 0;
}

static int stock_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type,
                      const char **target, tr_mp_writer *w) {
    client_state *s = cl->state;
    int rc = choose(cl, s);
    if (rc != 0) {
        return rc;
    }
    bool change = s->cur.kind != K_READ;
    tr_stock_request rq = {.item = s->cur.item,
                           .has_qty = change,
                           .has_id = change,
                           .qty = s->cur.qty,
                           .id = s->cur.id};
    uint8_t *p = tr_mp_writer_room(w, TR_STOCK_BODY_MAX);
    size_t len = 0;
    if (p == NULL || tr__stock_request_encode(p, TR_STOCK_BODY_MAX, &rq, &len) != 0) {
        return TR_ETOOBIG;
    }
    tr_mp_writer_advance(w, p + len);
    s->cur.attempts += change;
    static const char *const names[] = {"read", "reserve", "restock"};
    static const uint32_t types[] = {TR_STOCK_READ, TR_STOCK_RESERVE, TR_STOCK_RESTOCK};
    *op = (tr_workload_op){.f = names[s->cur.kind],
                           .key = s->cur.item,
                           .has_value = change,
                           .pair = change,
                           .value = s->cur.qty,
                           .value_to = (int64_t)s->cur.id};
    *type = types[s->cur.kind];
    *target = "stock";
    return 0;
}

/* ---- the outcome ---------------------------------------------------------------------------- */

/* The outcome is unknown (info) or the request was not handled (fail): a change is parked
 * for a retry under its id (at once after a crash: the restart is the wait) when this attempt
 * or an earlier one left its fate unknown. */
static tr_history_type unresolved(tr_workload_client *cl, client_state *s, tr_history_type t,
                                  bool at_once) {
    s->cur.unresolved |= t == TR_HISTORY_INFO;
    if (s->cur.kind != K_READ && s->cur.unresolved && cl->phase != TR_WORKLOAD_FINAL) {
        park(s, cl->now_ns + (at_once ? 0 : back_off_ns(cl->rng, s->cur.attempts)));
    }
    return t;
}

static tr_history_type stock_complete(tr_workload_client *cl, const tr_workload_op *op,
                                      const tr_msg *reply, int err, tr_workload_op *done,
                                      const char **error) {
    client_state *s = cl->state;
    tr_stock_reply rep;
    (void)op;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : err == TR_ECLOSED ? "crashed" : "send refused";
        return unresolved(
            cl, s, err == TR_ETIMEDOUT || err == TR_ECLOSED ? TR_HISTORY_INFO : TR_HISTORY_FAIL,
            err == TR_ECLOSED);
    }
    /* the entity host answers with the request's type */
    if (tr__stock_reply_decode(reply->body, reply->body_len, &rep) != 0) {
        *error = "malformed reply";
        return unresolved(cl, s, TR_HISTORY_INFO, false);
    }
    snprintf(s->error, sizeof s->error, "%s", rep.error);
    *error = s->error;
    if (!rep.ok && (rep.indeterminate || rep.from_host)) {
        /* "indeterminate" may surface; the host's other answers were not handled */
        return unresolved(cl, s, rep.indeterminate ? TR_HISTORY_INFO : TR_HISTORY_FAIL, false);
    }
    if (rep.ok && s->cur.kind == K_READ) {
        done->has_value = true;
        done->value = rep.level;
        if (cl->phase == TR_WORKLOAD_FINAL && s->cur.item < TR__STOCK_ITEMS_MAX) {
            s->final_read |= (uint64_t)1 << s->cur.item;
        }
    }
    return rep.ok ? TR_HISTORY_OK : TR_HISTORY_FAIL;
}

static bool stock_busy(const tr_workload_client *cl) {
    const client_state *s = cl->state;
    switch (cl->phase) {
    case TR_WORKLOAD_STOPPING: return s->parked_count > 0;
    case TR_WORKLOAD_FINAL: return final_item(cl, s) >= 0;
    default: return false;
    }
}

const tr_workload tr__stock_workload = {.client_state_size = sizeof(client_state),
                                        .client_next = stock_next,
                                        .client_complete = stock_complete,
                                        .client_busy = stock_busy};

/* ---- the checks ----------------------------------------------------------------------------- */

/* Each item's durable level in the nodes' stores at the end of the run (tr_entity_check_get:
 * the newest state; an item no store holds was never changed). 0, or why not. */
static int durable_levels(const tr_check_input *in, size_t items, int64_t *levels, bool *known) {
    const tr_entity_type *type = tr__stock_type_of(0); /* every variant stores alike */
    for (size_t i = 0; i < items; i++) {
        uint8_t buf[TR_STOCK_STATE_MAX];
        size_t len = 0;
        int rc = tr_entity_check_get(in, type, (int64_t)i, buf, sizeof buf, &len);
        if (rc == TR_ENOENT) {
            len = 0; /* never written: the initial level */
        } else if (rc != 0) {
            return rc;
        }
        rc = tr__stock_state_level(buf, len, &levels[i]);
        if (rc != 0) {
            return rc;
        }
        known[i] = true;
    }
    return 0;
}

/* The stock check over in's history. The final levels: the durable ones in the stores when
 * the simulation is at hand, else those of the final reads (a history checked alone, or a
 * run where a node's store was corrupted: it is not read back). */
static int run_check(const tr_check_input *in, tr_stock_check_result *out) {
    int64_t max_key = -1, levels[TR_STOCK_CHECK_ITEMS_MAX];
    bool known[TR_STOCK_CHECK_ITEMS_MAX];
    tr_history_op op;
    for (size_t i = 0; i < tr_history_count(in->history); i++) {
        if (tr_history_get(in->history, i, &op) == 0 && op.key > max_key) {
            max_key = op.key;
        }
    }
    if (max_key < 0 || max_key >= TR_STOCK_CHECK_ITEMS_MAX) {
        return TR_EINVAL;
    }
    size_t items = (size_t)max_key + 1;
    bool corrupt = false; /* a store that refused to open cannot be read back */
    for (uint32_t i = 0; i < in->fault_count; i++) {
        corrupt |= strcmp(in->faults[i].kind, "corrupt") == 0;
    }
    if (in->sim != NULL && !corrupt) {
        int rc = durable_levels(in, items, levels, known);
        if (rc != 0) {
            return rc;
        }
    } else {
        tr__check_stock_final_levels(in->history, items, levels, known);
    }
    tr_stock_check_input ci = {.h = in->history,
                               .items = items,
                               .initial = TR_STOCK_INITIAL_DEFAULT,
                               .final_level = levels,
                               .final_known = known};
    return tr__check_stock(&ci, out);
}

static tr_verdict check_never_negative(const tr_check_input *in, char *why, size_t cap) {
    tr_stock_check_result r;
    int rc = run_check(in, &r);
    if (rc != 0) {
        snprintf(why, cap, "the stock checker failed: %s", tr_strerror(rc));
        return TR_VERDICT_UNKNOWN;
    }
    if (!r.never_negative) {
        r.conserved = true; /* this check's part of the explanation only */
        tr__check_stock_explain(&r, why, cap);
        return TR_VERDICT_VIOLATED;
    }
    return TR_VERDICT_HELD;
}

static tr_verdict check_conserved(const tr_check_input *in, char *why, size_t cap) {
    tr_stock_check_result r;
    int rc = run_check(in, &r);
    if (rc != 0) {
        snprintf(why, cap, "the stock checker failed: %s", tr_strerror(rc));
        return TR_VERDICT_UNKNOWN;
    }
    tr_check_measure(in, "reserve_ids", (double)r.reserve_ids);
    tr_check_measure(in, "restock_ids", (double)r.restock_ids);
    tr_check_measure(in, "retried_ids", (double)r.retried_ids);
    tr_check_measure(in, "items_unknown", (double)r.items_unknown);
    if (!r.conserved) {
        r.never_negative = true;
        tr__check_stock_explain(&r, why, cap);
        return TR_VERDICT_VIOLATED;
    }
    if (r.items_unknown > 0) {
        snprintf(why, cap,
                 "%zu items' final level unknown (no final read answered): conservation not "
                 "checked there",
                 r.items_unknown);
    }
    return TR_VERDICT_HELD;
}

/* progress (harness/check_common.h): reservations, restocks and reads each succeed at least once
 * (the safety checks pass a service whose every answer is lost). */
static tr_verdict check_progress(const tr_check_input *in, char *why, size_t cap) {
    static const char *const fs[] = {"reserve", "restock", "read"};
    return tr__check_progress(in->history, fs, 3, why, cap) ? TR_VERDICT_HELD : TR_VERDICT_VIOLATED;
}

/* Both invariants rest on single activation: two activations of one item each reserve from
 * the level they hold and each answer reads from it. */
const tr_check tr__stock_checks[TR__STOCK_CHECK_COUNT] = {
    {"never-negative", check_never_negative, "single-activation"},
    {"conserved", check_conserved, "single-activation"},
    {"single-activation", tr_entity_check_single},
    {"progress", check_progress}};
