/*
 * stock.c — the "stock" entity handler: an item's level and its ledger (stock.h), and the
 * planted bugs.
 *
 * One call handles one request of one item, inside its activation (troupe.h, "Entities"):
 * decode the state, look the id up in the ledger, apply, record, encode the state back and
 * mark it changed. The host writes a changed state to a majority before it sends the answer,
 * so a client never sees a level or a result that a crash could undo.
 */
#include <string.h>

#include "actors/stock.h"

/* The decoded state of an item (stock.h, "Entity state"). */
typedef struct ledger_result {
    uint64_t id;
    bool ok;
    int64_t level;
} ledger_result;

typedef struct ledger_evicted {
    uint32_t client, seq;
} ledger_evicted;

typedef struct item_state {
    int64_t level;
    uint32_t evicted_any;
    uint32_t results, evictions;
    ledger_result r[TR_STOCK_LEDGER_RESULTS];
    ledger_evicted e[TR_STOCK_LEDGER_EVICTED];
} item_state;

_Static_assert(TR_STOCK_STATE_MAX <= TR_ENTITY_STATE_MAX, "an item's state fits an entity");

/* ---- the state's layout --------------------------------------------------------------- */

static int state_decode(const uint8_t *p, size_t len, item_state *s) {
    memset(s, 0, sizeof *s);
    if (len == 0) {
        s->level = TR_STOCK_INITIAL;
        return 0;
    }
    if (len < TR_STOCK_STATE_HEADER) {
        return TR_ECORRUPT;
    }
    s->level = (int64_t)tr_load_be64(p);
    s->evicted_any = tr_load_be32(p + 8);
    s->results = p[12];
    s->evictions = p[13];
    if (s->results > TR_STOCK_LEDGER_RESULTS || s->evictions > TR_STOCK_LEDGER_EVICTED ||
        len != TR_STOCK_STATE_HEADER + s->results * TR_STOCK_RESULT_SIZE +
                   s->evictions * TR_STOCK_EVICTED_SIZE) {
        return TR_ECORRUPT;
    }
    p += TR_STOCK_STATE_HEADER;
    for (uint32_t i = 0; i < s->results; i++, p += TR_STOCK_RESULT_SIZE) {
        s->r[i] = (ledger_result){tr_load_be64(p), p[8] != 0, (int64_t)tr_load_be64(p + 9)};
    }
    for (uint32_t i = 0; i < s->evictions; i++, p += TR_STOCK_EVICTED_SIZE) {
        s->e[i] = (ledger_evicted){tr_load_be32(p), tr_load_be32(p + 4)};
    }
    return 0;
}

static size_t state_encode(const item_state *s, uint8_t *p) {
    uint8_t *start = p;
    memset(p, 0, TR_STOCK_STATE_HEADER);
    tr_store_be64(p, (uint64_t)s->level);
    tr_store_be32(p + 8, s->evicted_any);
    p[12] = (uint8_t)s->results;
    p[13] = (uint8_t)s->evictions;
    p += TR_STOCK_STATE_HEADER;
    for (uint32_t i = 0; i < s->results; i++, p += TR_STOCK_RESULT_SIZE) {
        tr_store_be64(p, s->r[i].id);
        p[8] = s->r[i].ok;
        tr_store_be64(p + 9, (uint64_t)s->r[i].level);
    }
    for (uint32_t i = 0; i < s->evictions; i++, p += TR_STOCK_EVICTED_SIZE) {
        tr_store_be32(p, s->e[i].client);
        tr_store_be32(p + 4, s->e[i].seq);
    }
    return (size_t)(p - start);
}

int tr__stock_state_level(const void *state, size_t len, int64_t *level) {
    item_state s;
    int rc = state_decode(state, len, &s);
    *level = s.level;
    return rc;
}

/* ---- the ledger ------------------------------------------------------------------------- */

enum {
    LEDGER_NEW = 0,
    LEDGER_FOUND,
    LEDGER_EXPIRED
};

static int ledger_find(const item_state *s, uint64_t id, ledger_result *out) {
    uint32_t client = (uint32_t)(id >> 32), seq = (uint32_t)id;
    for (uint32_t i = 0; i < s->results; i++) {
        if (s->r[i].id == id) {
            *out = s->r[i];
            return LEDGER_FOUND;
        }
    }
    for (uint32_t i = 0; i < s->evictions; i++) {
        if (s->e[i].client == client) {
            return seq <= s->e[i].seq ? LEDGER_EXPIRED : LEDGER_NEW;
        }
    }
    return seq <= s->evicted_any ? LEDGER_EXPIRED : LEDGER_NEW;
}

/* Remembers that an id of `client` up to `seq` left the results. */
static void ledger_evict(item_state *s, uint64_t id) {
    uint32_t client = (uint32_t)(id >> 32), seq = (uint32_t)id;
    for (uint32_t i = 0; i < s->evictions; i++) {
        if (s->e[i].client == client) {
            ledger_evicted x = {client, seq > s->e[i].seq ? seq : s->e[i].seq};
            memmove(&s->e[i], &s->e[i + 1], (s->evictions - i - 1) * sizeof s->e[0]);
            s->e[s->evictions - 1] = x; /* the newest last */
            return;
        }
    }
    if (s->evictions == TR_STOCK_LEDGER_EVICTED) { /* the oldest record folds into any */
        s->evicted_any = s->e[0].seq > s->evicted_any ? s->e[0].seq : s->evicted_any;
        memmove(&s->e[0], &s->e[1], (s->evictions - 1) * sizeof s->e[0]);
        s->evictions--;
    }
    s->e[s->evictions++] = (ledger_evicted){client, seq};
}

static void ledger_record(item_state *s, uint64_t id, bool ok, int64_t level) {
    if (s->results == TR_STOCK_LEDGER_RESULTS) {
        ledger_evict(s, s->r[0].id);
        memmove(&s->r[0], &s->r[1], (s->results - 1) * sizeof s->r[0]);
        s->results--;
    }
    s->r[s->results++] = (ledger_result){id, ok, level};
}

/* ---- answers ---------------------------------------------------------------------------- */

static void answer_ok(tr_mp_writer *w, int64_t level) {
    uint8_t *p = tr_mp_writer_room(w, TR_STOCK_BODY_MAX);
    size_t len = 0;
    if (p != NULL && tr__stock_reply_encode_ok(p, TR_STOCK_BODY_MAX, level, &len) == 0) {
        tr_mp_writer_advance(w, p + len);
    }
}

static void answer_err(tr_mp_writer *w, const char *error, bool indeterminate) {
    uint8_t *p = tr_mp_writer_room(w, TR_STOCK_BODY_MAX);
    size_t len = 0;
    if (p != NULL &&
        tr__stock_reply_encode_err(p, TR_STOCK_BODY_MAX, error, indeterminate, &len) == 0) {
        tr_mp_writer_advance(w, p + len);
    }
}

/* ---- the handler ------------------------------------------------------------------------ */

/* Planted oversell: the charge goes on as a DEBIT to this node's host, handled later. */
static void send_debit(tr_ctx *ctx, const tr_stock_request *rq) {
    uint8_t buf[TR_STOCK_BODY_MAX];
    size_t len;
    if (tr__stock_request_encode(buf, sizeof buf, rq, &len) == 0) {
        uint64_t corr; /* a request, so that the host drops its answer as a reply */
        (void)tr_request_name(ctx, "stock", TR_STOCK_DEBIT, buf, len, 1000, &corr);
    }
}

/* A reserve or restock (or a planted DEBIT) on s; *changed: s must be written back. */
static void apply(tr_ctx *ctx, uint32_t bugs, uint32_t type, const tr_stock_request *rq,
                  item_state *s, tr_mp_writer *w, bool *changed) {
    ledger_result found;
    bool reserve = type == TR_STOCK_RESERVE;
    if (type == TR_STOCK_DEBIT) { /* only the oversell bug sends it: no check, no ledger */
        s->level -= rq->qty;
        *changed = true;
        answer_ok(w, s->level);
        return;
    }
    /* Planted double charge: reservations skip the lookup. */
    int k = reserve && (bugs & TR_STOCK_BUG_DOUBLE_CHARGE) ? LEDGER_NEW
                                                           : ledger_find(s, rq->id, &found);
    if (k == LEDGER_EXPIRED) {
        answer_err(w, "id expired", true);
        return;
    }
    if (k == LEDGER_FOUND) {
        found.ok ? answer_ok(w, found.level) : answer_err(w, "out of stock", false);
        return;
    }
    bool ok = !reserve || s->level >= rq->qty;
    int64_t after = !ok ? s->level : reserve ? s->level - rq->qty : s->level + rq->qty;
    if (ok && reserve && (bugs & TR_STOCK_BUG_OVERSELL)) {
        send_debit(ctx, rq); /* checked now, charged later */
    } else {
        s->level = after;
    }
    ledger_record(s, rq->id, ok, after);
    /* Planted unsaved charge: a reservation's change is not marked (never kept nor written). */
    *changed = !(ok && reserve && (bugs & TR_STOCK_BUG_UNSAVED_CHARGE));
    if (TR_BUGGIFY(ctx)) {
        /* Fault point: the answer of an applied change is indeterminate, as when its write
         * reaches no majority in time; the client retries under the same id and the ledger
         * must give it the original answer. */
        answer_err(w, "indeterminate", true);
        return;
    }
    ok ? answer_ok(w, after) : answer_err(w, "out of stock", false);
}

static int handle(tr_ctx *ctx, uint32_t bugs, tr_entity_call *call, const tr_msg *msg) {
    item_state s;
    tr_stock_request rq;
    bool read = msg->type == TR_STOCK_READ;
    bool known = read || msg->type == TR_STOCK_RESERVE || msg->type == TR_STOCK_RESTOCK ||
                 (msg->type == TR_STOCK_DEBIT && (bugs & TR_STOCK_BUG_OVERSELL));
    if (!known || tr__stock_request_decode(msg->body, msg->body_len, &rq) != 0 ||
        (!read && (!rq.has_qty || !rq.has_id))) {
        answer_err(call->reply, "bad request", false);
        return 0;
    }
    if (state_decode(call->state, call->len, &s) != 0) {
        return TR_ECORRUPT; /* the state is left as it was; the host answers the error */
    }
    if (read) {
        answer_ok(call->reply, s.level);
        return 0;
    }
    bool changed = false;
    apply(ctx, bugs, msg->type, &rq, &s, call->reply, &changed);
    if (changed) {
        call->len = state_encode(&s, call->state);
        call->changed = true;
    }
    return 0;
}

/* ---- the types: one per planted bug (a handler sees no spawn argument) ------------------- */

static int64_t item_of(const tr_msg *msg) {
    tr_stock_request rq;
    return tr__stock_request_decode(msg->body, msg->body_len, &rq) == 0 ? (int64_t)rq.item
                                                                        : TR_EPROTO;
}

static int handle_correct(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    return handle(ctx, 0, call, msg);
}

static int handle_oversell(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    return handle(ctx, TR_STOCK_BUG_OVERSELL, call, msg);
}

static int handle_double_charge(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    return handle(ctx, TR_STOCK_BUG_DOUBLE_CHARGE, call, msg);
}

static int handle_unsaved_charge(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    return handle(ctx, TR_STOCK_BUG_UNSAVED_CHARGE, call, msg);
}

#define STOCK_TYPE(fn)                \
    {.name = "stock",                 \
     .state_max = TR_STOCK_STATE_MAX, \
     .msg_base = TR_STOCK_MSG_BASE,   \
     .id_of = item_of,                \
     .handle = (fn),                  \
     .write_timeout_ms = 500}

static const tr_entity_type stock_types[] = {
    STOCK_TYPE(handle_correct), STOCK_TYPE(handle_oversell), STOCK_TYPE(handle_double_charge),
    STOCK_TYPE(handle_unsaved_charge)};

const tr_entity_type *tr__stock_type_of(uint32_t bugs) {
    return bugs & TR_STOCK_BUG_OVERSELL         ? &stock_types[1]
           : bugs & TR_STOCK_BUG_DOUBLE_CHARGE  ? &stock_types[2]
           : bugs & TR_STOCK_BUG_UNSAVED_CHARGE ? &stock_types[3]
                                                : &stock_types[0];
}
