/*
 * stock.c — the "stock" actor: owner-side durable levels and ledger, forwarding, and the
 * two planted bugs (see stock.h).
 *
 * Every node runs one; it is the owner of the items i with i % peers == its index and a
 * forwarder for the others. The owner applies an operation inside one receive (load level,
 * check, store level, record in the ledger) and answers with tr_reply_durable. Forwarding
 * state (ops[]) is volatile: a crash forgets it and the clients time out (indeterminate),
 * which the ledger makes safe to retry.
 */
#include <assert.h>
#include <string.h>

#include "actors/register_wire.h"
#include "actors/registers.h"
#include "actors/stock.h"

enum {
    PHASE_FORWARD = 1,
    PHASE_CHECK,
    PHASE_DEBIT
};

typedef struct stock_op {
    bool used;
    uint8_t phase;
    uint32_t type; /* the client's request type */
    tr_stock_request req;
    tr_msg client; /* a copy of the request's envelope (no body), to reply to */
    uint64_t corr; /* our outstanding request */
} stock_op;

typedef struct stock_state {
    tr_stock_arg cfg;
    uint32_t self; /* our index in the peer list */
    stock_op ops[TR_STOCK_INFLIGHT_MAX];
} stock_state;

/* A ledger slot: one client's results for its last TR_STOCK_LEDGER_WINDOW ids. */
typedef struct ledger_entry {
    uint32_t seq;
    bool ok;
    int64_t level;
} ledger_entry;

typedef struct ledger_slot {
    uint32_t client; /* 0: empty */
    uint32_t max_seq;
    uint32_t count;
    ledger_entry e[TR_STOCK_LEDGER_WINDOW];
} ledger_slot;

#define LEDGER_VALUE_MAX (16 + TR_STOCK_LEDGER_WINDOW * 24)

/* ---- replies ------------------------------------------------------------------------ */

/* Sends a reply, durable or not. A durable reply the store refuses (a commit failed: see
 * stock.h) becomes "store error", indeterminate: what it answers may be in a failed batch. */
static void reply_send(tr_ctx *ctx, const tr_msg *req, const uint8_t *buf, size_t len,
                       bool durable) {
    if (!durable) {
        tr_reply(ctx, req, TR_STOCK_REPLY, buf, len);
    } else if (tr_reply_durable(ctx, req, TR_STOCK_REPLY, buf, len) != 0) {
        uint8_t err[TR_STOCK_BODY_MAX];
        size_t n;
        if (tr__stock_reply_encode_err(err, sizeof err, "store error", true, &n) == 0) {
            tr_reply(ctx, req, TR_STOCK_REPLY, err, n);
        }
    }
}

static void reply_ok(tr_ctx *ctx, const tr_msg *req, int64_t level, bool durable) {
    uint8_t buf[TR_STOCK_BODY_MAX];
    size_t len;
    int rc = tr__stock_reply_encode_ok(buf, sizeof buf, level, &len);
    assert(rc == 0);
    (void)rc;
    reply_send(ctx, req, buf, len, durable);
}

static void reply_err(tr_ctx *ctx, const tr_msg *req, const char *error, bool indeterminate,
                      bool durable) {
    uint8_t buf[TR_STOCK_BODY_MAX];
    size_t len;
    int rc = tr__stock_reply_encode_err(buf, sizeof buf, error, indeterminate, &len);
    assert(rc == 0);
    (void)rc;
    reply_send(ctx, req, buf, len, durable);
}

/* ---- owner: durable levels ---------------------------------------------------------- */

static void item_key(uint32_t item, uint8_t out[5]) {
    out[0] = 's';
    for (int i = 0; i < 4; i++) {
        out[1 + i] = (uint8_t)(item >> (24 - 8 * i));
    }
}

static int level_load(tr_ctx *ctx, const stock_state *s, uint32_t item, int64_t *level) {
    uint8_t k[5], buf[16];
    size_t len;
    tr_mp_reader r;
    item_key(item, k);
    int rc = tr_kv_get(ctx, k, sizeof k, buf, sizeof buf, &len);
    if (rc == TR_ENOENT) {
        *level = s->cfg.initial;
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    tr_mp_reader_init(&r, buf, len);
    tr__wire_get_int(&r, level);
    return r.err != 0 || r.p != r.end ? TR_ECORRUPT : 0;
}

static int level_store(tr_ctx *ctx, uint32_t item, int64_t level) {
    uint8_t k[5], buf[16];
    tr_mp_writer w;
    item_key(item, k);
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_int(&w, level);
    assert(w.err == 0);
    return tr_kv_put(ctx, k, sizeof k, buf, w.len);
}

/* ---- owner: the ledger -------------------------------------------------------------- */

static void slot_key(uint32_t client, uint8_t out[3]) {
    uint32_t slot = client % TR_STOCK_LEDGER_SLOTS;
    out[0] = 'l';
    tr_store_be16(out + 1, (uint16_t)slot);
}

static int ledger_decode(const uint8_t *buf, size_t len, ledger_slot *l) {
    tr_mp_reader r;
    uint32_t n, m, k;
    int64_t client, max_seq, seq;
    tr_mp_reader_init(&r, buf, len);
    tr_mp_read_array(&r, &n);
    tr__wire_get_int(&r, &client);
    tr__wire_get_int(&r, &max_seq);
    tr_mp_read_array(&r, &m);
    if (r.err != 0 || n != 3 || m > TR_STOCK_LEDGER_WINDOW || client < 1 || client > UINT32_MAX ||
        max_seq < 0 || max_seq > UINT32_MAX) {
        return TR_ECORRUPT;
    }
    l->client = (uint32_t)client;
    l->max_seq = (uint32_t)max_seq;
    l->count = m;
    for (uint32_t i = 0; i < m && r.err == 0; i++) {
        tr_mp_read_array(&r, &k);
        tr__wire_get_int(&r, &seq);
        tr_mp_read_bool(&r, &l->e[i].ok);
        tr__wire_get_int(&r, &l->e[i].level);
        if (k != 3 || seq < 1 || seq > max_seq) {
            return TR_ECORRUPT;
        }
        l->e[i].seq = (uint32_t)seq;
    }
    return r.err != 0 || r.p != r.end ? TR_ECORRUPT : 0;
}

/* The slot of `client` (empty if absent or held by another client). */
static int ledger_load(tr_ctx *ctx, uint32_t client, ledger_slot *l) {
    uint8_t k[3], buf[LEDGER_VALUE_MAX];
    size_t len;
    memset(l, 0, sizeof *l);
    slot_key(client, k);
    int rc = tr_kv_get(ctx, k, sizeof k, buf, sizeof buf, &len);
    if (rc == TR_ENOENT) {
        return 0;
    }
    if (rc == 0) {
        rc = ledger_decode(buf, len, l);
    }
    if (rc == 0 && l->client != client) {
        memset(l, 0, sizeof *l); /* another client's: ours is taken over on record */
    }
    return rc;
}

enum {
    LEDGER_NEW = 0,
    LEDGER_FOUND,
    LEDGER_EXPIRED
};

static int ledger_find(const ledger_slot *l, uint32_t seq, ledger_entry *out) {
    if (l->client == 0) {
        return LEDGER_NEW;
    }
    if ((uint64_t)seq + TR_STOCK_LEDGER_WINDOW <= l->max_seq) {
        return LEDGER_EXPIRED;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        if (l->e[i].seq == seq) {
            *out = l->e[i];
            return LEDGER_FOUND;
        }
    }
    return LEDGER_NEW;
}

/* Adds (seq, ok, level) to the slot, drops entries that left the window, stores it. */
static int ledger_record(tr_ctx *ctx, ledger_slot *l, uint32_t client, uint32_t seq, bool ok,
                         int64_t level) {
    uint8_t k[3], buf[LEDGER_VALUE_MAX];
    tr_mp_writer w;
    l->client = client;
    l->max_seq = seq > l->max_seq ? seq : l->max_seq;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < l->count; i++) {
        if ((uint64_t)l->e[i].seq + TR_STOCK_LEDGER_WINDOW > l->max_seq && l->e[i].seq != seq) {
            l->e[kept++] = l->e[i];
        }
    }
    if ((uint64_t)seq + TR_STOCK_LEDGER_WINDOW > l->max_seq) {
        assert(kept < TR_STOCK_LEDGER_WINDOW); /* distinct seqs inside a window of W */
        l->e[kept++] = (ledger_entry){seq, ok, level};
    }
    l->count = kept;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 3);
    tr_mp_write_uint(&w, l->client);
    tr_mp_write_uint(&w, l->max_seq);
    tr_mp_write_array(&w, l->count);
    for (uint32_t i = 0; i < l->count; i++) {
        tr_mp_write_array(&w, 3);
        tr_mp_write_uint(&w, l->e[i].seq);
        tr_mp_write_bool(&w, l->e[i].ok);
        tr_mp_write_int(&w, l->e[i].level);
    }
    assert(w.err == 0);
    slot_key(client, k);
    return tr_kv_put(ctx, k, sizeof k, buf, w.len);
}

/* ---- owner: applying operations ----------------------------------------------------- */

/* The new level of `item` after `type`, and whether it was applied (a reserve that finds
 * too little stock is not). TR_STOCK_DEBIT charges without looking (the oversell path). */
static bool apply_level(uint32_t type, int64_t level, int64_t qty, int64_t *after) {
    if (type == TR_STOCK_RESTOCK) {
        *after = level + qty;
        return true;
    }
    if (type == TR_STOCK_RESERVE && level < qty) {
        *after = level;
        return false;
    }
    *after = level - qty;
    return true;
}

static void owner_apply(tr_ctx *ctx, stock_state *s, const tr_msg *msg,
                        const tr_stock_request *rq) {
    uint32_t client = (uint32_t)(rq->id >> 32), seq = (uint32_t)rq->id;
    ledger_slot l;
    ledger_entry e;
    int64_t level, after;
    if (ledger_load(ctx, client, &l) != 0 || level_load(ctx, s, rq->item, &level) != 0) {
        reply_err(ctx, msg, "store error", false, false);
        return;
    }
    int found = ledger_find(&l, seq, &e);
    /* Planted bug: reservations skip the lookup, so a retry or a duplicate charges again. */
    bool skip = msg->type != TR_STOCK_RESTOCK && (s->cfg.bugs & TR_STOCK_BUG_DOUBLE_CHARGE);
    if (found == LEDGER_EXPIRED && !skip) {
        reply_err(ctx, msg, "id expired", true, false);
        return;
    }
    if (found == LEDGER_FOUND && !skip) {
        if (e.ok) { /* the original answer, once it is durable (it may not be yet) */
            reply_ok(ctx, msg, e.level, true);
        } else {
            reply_err(ctx, msg, "out of stock", false, true);
        }
        return;
    }
    bool ok = apply_level(msg->type, level, rq->qty, &after);
    int rc = ok ? level_store(ctx, rq->item, after) : 0;
    rc = rc != 0 ? rc : ledger_record(ctx, &l, client, seq, ok, after);
    /* Planted bug: a write the store refused is acknowledged as if it were made. */
    bool ignore = rc != 0 && (s->cfg.bugs & TR_STOCK_BUG_IGNORE_FAILED_COMMIT);
    if (rc != 0 && !ignore) {
        reply_err(ctx, msg, "store error", true, false);
        return;
    }
    if (ok) {
        reply_ok(ctx, msg, after, !ignore);
    } else {
        reply_err(ctx, msg, "out of stock", false, !ignore);
    }
}

static void owner_read(tr_ctx *ctx, stock_state *s, const tr_msg *msg, uint32_t item) {
    int64_t level;
    if (level_load(ctx, s, item, &level) != 0) {
        reply_err(ctx, msg, "store error", false, false);
        return;
    }
    /* Durable: never show a level that a crash could still undo. */
    reply_ok(ctx, msg, level, true);
}

/* ---- forwarding and the oversell path ----------------------------------------------- */

static stock_op *op_alloc(stock_state *s, const tr_msg *msg, const tr_stock_request *rq) {
    for (size_t i = 0; i < TR_STOCK_INFLIGHT_MAX; i++) {
        stock_op *op = &s->ops[i];
        if (!op->used) {
            *op = (stock_op){.used = true, .type = msg->type, .req = *rq, .client = *msg};
            op->client.body = NULL;
            op->client.body_len = 0;
            op->client.next_ = NULL;
            return op;
        }
    }
    return NULL;
}

/* Sends a request about op's item to the owner's "stock" (ourselves by address). */
static int to_owner(tr_ctx *ctx, stock_state *s, stock_op *op, uint32_t type,
                    const tr_stock_request *rq) {
    uint8_t buf[TR_STOCK_BODY_MAX];
    char name[TR_NAME_MAX + 1];
    size_t len;
    int rc = tr__stock_request_encode(buf, sizeof buf, rq, &len);
    assert(rc == 0);
    (void)rc;
    uint32_t owner = tr__stock_owner(rq->item, s->cfg.peer_count);
    /* Fault point: the forward times out early (a slow owner): the client is told the outcome
     * is unknown while the owner may still apply it, and its retry under the same id must
     * meet the ledger's answer. */
    uint32_t timeout_ms = TR_BUGGIFY(ctx) ? 1 : s->cfg.forward_timeout_ms;
    if (owner == s->self) {
        return tr_request(ctx, tr_self(ctx), type, buf, len, timeout_ms, &op->corr);
    }
    memcpy(name, "stock@", 6);
    memcpy(name + 6, s->cfg.peers[owner], strlen(s->cfg.peers[owner]) + 1);
    return tr_request_name(ctx, name, type, buf, len, timeout_ms, &op->corr);
}

static void op_send(tr_ctx *ctx, stock_state *s, stock_op *op, uint32_t type,
                    const tr_stock_request *rq) {
    if (to_owner(ctx, s, op, type, rq) != 0) { /* never sent: certainly not applied */
        reply_err(ctx, &op->client, "owner unreachable", false, false);
        memset(op, 0, sizeof *op);
    }
}

static void on_request(tr_ctx *ctx, stock_state *s, const tr_msg *msg) {
    tr_stock_request rq;
    bool is_read = msg->type == TR_STOCK_READ;
    if (tr__stock_request_decode(msg->body, msg->body_len, &rq) != 0 ||
        (!is_read && (!rq.has_qty || !rq.has_id))) {
        reply_err(ctx, msg, "bad request", false, false);
        return;
    }
    bool oversell = msg->type == TR_STOCK_RESERVE && (s->cfg.bugs & TR_STOCK_BUG_OVERSELL);
    bool mine = tr__stock_owner(rq.item, s->cfg.peer_count) == s->self;
    if (mine && !oversell) {
        if (is_read) {
            owner_read(ctx, s, msg, rq.item);
        } else {
            owner_apply(ctx, s, msg, &rq);
        }
        return;
    }
    stock_op *op = op_alloc(s, msg, &rq);
    if (op == NULL) {
        reply_err(ctx, msg, "busy", false, false);
        return;
    }
    if (oversell) {
        /* Planted bug: check here on a read of the level, charge later without a check. */
        op->phase = PHASE_CHECK;
        tr_stock_request rd = {.item = rq.item};
        op_send(ctx, s, op, TR_STOCK_READ, &rd);
    } else {
        op->phase = PHASE_FORWARD;
        op_send(ctx, s, op, msg->type, &rq);
    }
}

static stock_op *find_op(stock_state *s, uint64_t corr) {
    for (size_t i = 0; i < TR_STOCK_INFLIGHT_MAX; i++) {
        if (s->ops[i].used && s->ops[i].corr == corr) {
            return &s->ops[i];
        }
    }
    return NULL;
}

static void on_answer(tr_ctx *ctx, stock_state *s, const tr_msg *msg) {
    tr_stock_reply rep;
    stock_op *op = find_op(s, msg->corr);
    if (op == NULL) {
        return; /* not ours, or late */
    }
    bool changes = op->type != TR_STOCK_READ && op->phase != PHASE_CHECK;
    if (msg->type == TR_MSG_TIMEOUT ||
        tr__stock_reply_decode(msg->body, msg->body_len, &rep) != 0) {
        reply_err(ctx, &op->client, "owner unreachable", changes, false);
    } else if (op->phase == PHASE_CHECK && rep.ok && rep.level >= op->req.qty) {
        op->phase = PHASE_DEBIT;
        op_send(ctx, s, op, TR_STOCK_DEBIT, &op->req);
        return;
    } else if (op->phase == PHASE_CHECK) {
        reply_err(ctx, &op->client, rep.ok ? "out of stock" : rep.error, false, false);
    } else if (rep.ok) {
        reply_ok(ctx, &op->client, rep.level, false); /* the owner's reply was durable */
    } else {
        reply_err(ctx, &op->client, rep.error, rep.indeterminate, false);
    }
    memset(op, 0, sizeof *op);
}

/* Only the planted oversell path sends DEBIT; the correct service refuses it, so that no
 * client can charge without the check. */
static void on_debit(tr_ctx *ctx, stock_state *s, const tr_msg *msg) {
    tr_stock_request rq;
    if (!(s->cfg.bugs & TR_STOCK_BUG_OVERSELL) ||
        tr__stock_request_decode(msg->body, msg->body_len, &rq) != 0 || !rq.has_qty || !rq.has_id ||
        tr__stock_owner(rq.item, s->cfg.peer_count) != s->self) {
        reply_err(ctx, msg, "bad request", false, false);
        return;
    }
    owner_apply(ctx, s, msg, &rq);
}

/* ---- behaviour ---------------------------------------------------------------------- */

static int stock_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    stock_state *s = state;
    if (arg_len != sizeof(tr_stock_arg)) {
        return TR_EINVAL;
    }
    memcpy(&s->cfg, arg, sizeof s->cfg);
    if (s->cfg.peer_count == 0 || s->cfg.peer_count > TR_STOCK_PEERS_MAX) {
        return TR_EINVAL;
    }
    s->self = tr__registers_self_index(ctx, s->cfg.peers, s->cfg.peer_count);
    return s->self < s->cfg.peer_count ? 0 : TR_EINVAL; /* this node must be a peer */
}

static int stock_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    stock_state *s = state;
    switch (msg->type) {
    case TR_STOCK_RESERVE:
    case TR_STOCK_RESTOCK:
    case TR_STOCK_READ: on_request(ctx, s, msg); break;
    case TR_STOCK_DEBIT: on_debit(ctx, s, msg); break;
    case TR_STOCK_REPLY:
    case TR_MSG_TIMEOUT: on_answer(ctx, s, msg); break;
    default: break; /* unknown types are ignored: a node must not fail on stray input */
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__stock_behaviour = {
    .name = "stock",
    .state_size = sizeof(stock_state),
    .init = stock_init,
    .receive = stock_receive,
    .terminate = NULL,
};
