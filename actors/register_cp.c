/*
 * register_cp.c — the "cp" register: ABD over majority quorums (see registers.h).
 *
 * One actor per node is both a replica (answers QUERY/STORE from any coordinator) and a
 * coordinator (runs the client operations it receives). Its own replica is addressed like
 * the others, through a request to itself, so the quorum code has no special case.
 *
 * Replica state lives in the durable store: key "r" + 4 bytes big-endian key ->
 * msgpack [[counter, writer, incarnation], value|nil], plus "incarnation" -> the number of
 * the latest run. Reads see the store view (which includes this actor's own pending
 * writes), so a restart after a crash recovers by construction, and nothing acknowledged by
 * STORE_ACK was volatile. A small direct-mapped cache in the actor's state mirrors that view
 * for recently used cells: every cell write goes to the store first and to the cache only
 * when the store took it, and the cache dies with the actor, so after a restart it refills
 * from the store. (It saves an LMDB read transaction per QUERY and STORE, most of a
 * replica's cost.) One difference from the store view: when a commit fails, the store drops
 * the batch from its view but the cache still holds the value; the store then fails every
 * later durable reply, so this replica acknowledges no STORE again, and a QUERY answered from
 * the cache only ever reports a value that a reader must still write back to a majority.
 *
 * Thrifty queries: a query phase asks a majority only (itself first, then peers in an order
 * that rotates), since any majority meets every other; a peer that fails to answer is
 * replaced by another and becomes suspect: suspects are asked only when too few trusted
 * peers remain (then every peer is asked at once, so that a minority side fails within one
 * quorum timeout, as it would if every peer were always asked), and
 * as an extra every PROBE_NS so that their return is noticed. A store phase asks everyone,
 * which keeps replicas current and later reads on the fast path. The cost: a query waits
 * for the slowest of the peers it asked, not for the fastest majority of all.
 *
 * Coordinator state is volatile: a crash forgets in-flight operations (their clients time
 * out and must treat them as indeterminate). An operation ends when a majority answered
 * (success) or when every replica answered or timed out without a majority (error).
 */
#include <assert.h>
#include <string.h>

#include "actors/register_wire.h"
#include "actors/registers.h"

/* A write's timestamp. (writer, incarnation) names one coordinator run; the coordinator
 * never issues the same counter twice in a run, so no two writes share a timestamp (two
 * concurrent writes through one node would otherwise both pick max + 1 and leave replicas
 * disagreeing under one timestamp). */
typedef struct cp_ts {
    uint64_t counter;
    uint32_t writer;
    uint32_t incarnation;
} cp_ts;

typedef struct cp_cell {
    cp_ts ts; /* {0, 0}: never written */
    bool has_value;
    int64_t value;
} cp_cell;

/* A cached replica cell: the store view's value of `key`. */
typedef struct cp_cached {
    bool valid;
    uint32_t key;
    cp_cell cell;
} cp_cached;

#define CP_CACHE_SLOTS 256 /* a power of two */

enum {
    PEER_IDLE = 0,
    PEER_PENDING,
    PEER_ACKED,
    PEER_FAILED
};
enum {
    PHASE_QUERY = 1,
    PHASE_STORE
};

typedef struct cp_op {
    bool is_write;
    uint8_t phase;
    uint32_t key;
    cp_cell cell;  /* query phase: the best answer so far; store phase: what we store */
    int64_t value; /* the client's value (writes) */
    tr_msg client; /* a copy of the request's envelope (no body), to reply to */
    uint32_t acks;
    uint32_t pending; /* peers asked in this phase that have not answered yet */
    bool mixed;       /* query phase: the valid answers so far do not all carry one ts */
    uint8_t req_len;  /* the phase's request, kept to ask further peers (thrifty query) */
    uint32_t req_type;
    uint8_t req[TR_REG_BODY_MAX];
    uint64_t corr[TR_REG_PEERS_MAX];
    uint8_t peer[TR_REG_PEERS_MAX];
} cp_op;

typedef struct cp_state {
    tr_register_arg cfg;
    uint32_t incarnation;  /* this run's number, durable before any write is coordinated */
    bool ready;            /* the incarnation is durable: writes may be coordinated */
    uint64_t ready_token;  /* the tr_durable_notify awaited */
    uint64_t last_counter; /* the largest counter this run issued */
    uint64_t ops_used;     /* bit i: ops[i] is live (answers look only at live operations) */
    uint32_t self;         /* our index in cfg.peers, or cfg.peer_count when not a peer */
    uint32_t next_peer;    /* where the thrifty query's choice of peers starts (rotates) */
    bool suspect[TR_REG_PEERS_MAX];               /* failed to answer, and has not answered since */
    char addr[TR_REG_PEERS_MAX][TR_NAME_MAX + 1]; /* "cp@<peer>", built once at init */
    uint64_t probe_at[TR_REG_PEERS_MAX]; /* local ns: a suspect is next asked as an extra */
    cp_op ops[TR_REG_CP_INFLIGHT_MAX];
    cp_cached cache[CP_CACHE_SLOTS]; /* see the file comment */
} cp_state;

_Static_assert(TR_REG_CP_INFLIGHT_MAX <= 64, "ops_used is one 64-bit mask");

static int ts_cmp(cp_ts a, cp_ts b) {
    if (a.counter != b.counter) {
        return a.counter < b.counter ? -1 : 1;
    }
    if (a.writer != b.writer) {
        return a.writer < b.writer ? -1 : 1;
    }
    return a.incarnation < b.incarnation ? -1 : a.incarnation > b.incarnation ? 1 : 0;
}

/* [counter, writer, incarnation] at p (at most 1 + 9 + 5 + 5 bytes); returns the byte after. */
static uint8_t *raw_ts(uint8_t *p, cp_ts ts) {
    *p++ = 0x93; /* array of 3 */
    p = tr_mp_put_uint(p, ts.counter);
    p = tr_mp_put_uint(p, ts.writer);
    return tr_mp_put_uint(p, ts.incarnation);
}

static int get_ts(tr_mp_reader *r, cp_ts *ts) {
    uint32_t n;
    int64_t c, wr, inc;
    tr_mp_read_array(r, &n);
    tr__wire_get_int(r, &c);
    tr__wire_get_int(r, &wr);
    tr__wire_get_int(r, &inc);
    if (r->err != 0 || n != 3 || c < 0 || wr < 0 || wr > UINT32_MAX || inc < 0 ||
        inc > UINT32_MAX) {
        r->err = TR_EPROTO;
        return TR_EPROTO;
    }
    *ts = (cp_ts){(uint64_t)c, (uint32_t)wr, (uint32_t)inc};
    return 0;
}

/* The value or nil at p (at most 9 bytes); returns the byte after. */
static uint8_t *raw_value(uint8_t *p, const cp_cell *cell) {
    if (cell->has_value) {
        return tr_mp_put_int(p, cell->value);
    }
    *p = 0xc0; /* nil */
    return p + 1;
}

static void get_value(tr_mp_reader *r, cp_cell *cell) {
    if (tr_mp_peek(r) == TR_MP_NIL) {
        tr_mp_read_nil(r);
    } else {
        cell->has_value = tr__wire_get_int(r, &cell->value) == 0;
    }
}

/* ---- replica: the durable cells ------------------------------------------------------ */

static void cell_key(uint32_t key, uint8_t out[5]) {
    out[0] = 'r';
    tr_store_be32(out + 1, key);
}

static cp_cached *cache_slot(cp_state *s, uint32_t key) {
    return &s->cache[(key * 2654435761u) >> 24 & (CP_CACHE_SLOTS - 1)];
}

static int cell_load(tr_ctx *ctx, cp_state *s, uint32_t key, cp_cell *out) {
    uint8_t k[5], buf[64];
    size_t len;
    cp_cached *c = cache_slot(s, key);
    if (c->valid && c->key == key) {
        *out = c->cell;
        return 0;
    }
    memset(out, 0, sizeof *out);
    cell_key(key, k);
    int rc = tr_kv_get(ctx, k, sizeof k, buf, sizeof buf, &len);
    if (rc != 0 && rc != TR_ENOENT) {
        return rc;
    }
    if (rc == 0) {
        tr_mp_reader r;
        uint32_t n;
        tr_mp_reader_init(&r, buf, len);
        tr_mp_read_array(&r, &n);
        get_ts(&r, &out->ts);
        get_value(&r, out);
        if (r.err != 0 || n != 2 || r.p != r.end) {
            return TR_ECORRUPT;
        }
    }
    *c = (cp_cached){.valid = true, .key = key, .cell = *out};
    return 0;
}

/* [[counter, writer, incarnation], value|nil]: at most 1 + 20 + 9 bytes. */
#define CELL_STORED_MAX 30

static int cell_store(tr_ctx *ctx, cp_state *s, uint32_t key, const cp_cell *cell) {
    uint8_t k[5], buf[CELL_STORED_MAX];
    cell_key(key, k);
    uint8_t *p = buf;
    *p++ = 0x92; /* array of 2 */
    p = raw_ts(p, cell->ts);
    p = raw_value(p, cell);
    assert(p <= buf + sizeof buf);
    int rc = tr_kv_put(ctx, k, sizeof k, buf, (size_t)(p - buf));
    if (rc == 0) {
        *cache_slot(s, key) = (cp_cached){.valid = true, .key = key, .cell = *cell};
    }
    return rc;
}

/* {"key": k, "ts": [counter, writer, incarnation], "value": v|nil}: at most 5 + 5 + 3 + 20 +
 * 6 + 9 bytes. */
#define CELL_BODY_MAX 48
_Static_assert(CELL_BODY_MAX <= TR_REG_BODY_MAX, "a cell body fits a register body");

static size_t encode_cell(uint8_t *buf, size_t cap, uint32_t key, const cp_cell *cell) {
    assert(cap >= CELL_BODY_MAX);
    uint8_t *p = TR_MP_PUT_LIT(buf, "\x83\xa3"
                                    "key"); /* map of 3, "key" */
    p = tr_mp_put_uint(p, key);
    p = TR_MP_PUT_LIT(p, "\xa2"
                         "ts");
    p = raw_ts(p, cell->ts);
    p = TR_MP_PUT_LIT(p, "\xa5"
                         "value");
    p = raw_value(p, cell);
    assert(p <= buf + CELL_BODY_MAX);
    return (size_t)(p - buf);
}

/* The layout encode_cell writes, read without the general decoder; false when the body is
 * in any other form (decode_cell then reads it the general way, to the same result). */
static inline __attribute__((always_inline)) bool decode_cell_fast(const tr_msg *msg, uint32_t *key,
                                                                   cp_cell *cell) {
    tr__wire_fast c = tr__wire_fast_init(msg->body, msg->body_len);
    int64_t k, counter, writer, inc, value;
    bool has_value;
    if (!TR__WIRE_FAST_LIT(&c, "\x83\xa3"
                               "key") ||
        !tr__wire_fast_int(&c, &k) ||
        !TR__WIRE_FAST_LIT(&c, "\xa2"
                               "ts"
                               "\x93") ||
        !tr__wire_fast_int(&c, &counter) || !tr__wire_fast_int(&c, &writer) ||
        !tr__wire_fast_int(&c, &inc) ||
        !TR__WIRE_FAST_LIT(&c, "\xa5"
                               "value") ||
        !tr__wire_fast_int_or_nil(&c, &has_value, &value) || c.p != c.end) {
        return false;
    }
    if (k < 0 || k > (int64_t)UINT32_MAX || counter < 0 || writer < 0 || writer > UINT32_MAX ||
        inc < 0 || inc > UINT32_MAX) {
        return false; /* the general decoder rejects it */
    }
    *key = (uint32_t)k;
    memset(cell, 0, sizeof *cell);
    cell->ts = (cp_ts){(uint64_t)counter, (uint32_t)writer, (uint32_t)inc};
    cell->has_value = has_value;
    cell->value = has_value ? value : 0;
    return true;
}

/* Any form. */
static int decode_cell_general(const tr_msg *msg, uint32_t *key, cp_cell *cell) {
    tr_mp_reader r;
    uint32_t n, klen;
    const char *k;
    int64_t key_v = -1;
    bool have_ts = false;
    memset(cell, 0, sizeof *cell);
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    tr_mp_read_map(&r, &n);
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            break;
        }
        if (tr_mp_str_eq(k, klen, "key")) {
            tr__wire_get_int(&r, &key_v);
        } else if (tr_mp_str_eq(k, klen, "ts")) {
            have_ts = get_ts(&r, &cell->ts) == 0;
        } else if (tr_mp_str_eq(k, klen, "value") && tr_mp_peek(&r) != TR_MP_NIL) {
            cell->has_value = tr__wire_get_int(&r, &cell->value) == 0;
        } else {
            tr_mp_skip(&r);
        }
    }
    if (r.err != 0 || r.p != r.end || !have_ts || key_v < 0 || key_v > (int64_t)UINT32_MAX) {
        return TR_EPROTO;
    }
    *key = (uint32_t)key_v;
    return 0;
}

static inline __attribute__((always_inline)) int decode_cell(const tr_msg *msg, uint32_t *key,
                                                             cp_cell *cell) {
    return decode_cell_fast(msg, key, cell) ? 0 : decode_cell_general(msg, key, cell);
}

/* A read's query (TR_REG_QUERY_READ) is answered once what it reports is durable, so that a
 * coordinator may skip the store phase (see on_answer); a write's query needs no wait. */
static int replica_query(tr_ctx *ctx, cp_state *s, const tr_msg *msg) {
    uint32_t key;
    bool has_value;
    int64_t value;
    cp_cell cell;
    uint8_t buf[TR_REG_BODY_MAX];
    if (tr__registers_request_decode(msg->body, msg->body_len, &key, &has_value, &value) != 0) {
        return TR_CONTINUE; /* a malformed replica message is dropped: its sender times out */
    }
    if (cell_load(ctx, s, key, &cell) != 0) {
        return TR_CONTINUE;
    }
    size_t len = encode_cell(buf, sizeof buf, key, &cell);
    if (msg->type == TR_REG_QUERY_READ) {
        tr_reply_durable(ctx, msg, TR_REG_QUERY_ACK, buf, len);
    } else {
        tr_reply(ctx, msg, TR_REG_QUERY_ACK, buf, len);
    }
    return TR_CONTINUE;
}

static int replica_store(tr_ctx *ctx, cp_state *s, const tr_msg *msg) {
    uint32_t key;
    cp_cell in, cur;
    uint8_t buf[16];
    tr_mp_writer w;
    if (decode_cell(msg, &key, &in) != 0 || cell_load(ctx, s, key, &cur) != 0) {
        return TR_CONTINUE;
    }
    if (ts_cmp(in.ts, cur.ts) > 0 && cell_store(ctx, s, key, &in) != 0) {
        return TR_CONTINUE; /* not stored: no ack */
    }
    /* Acked only once what we hold (>= in.ts) is durable, even if it was stored earlier. */
    tr_mp_writer_init(&w, buf, sizeof buf);
    TR_MP_WRITE_LIT(&w, "\x81\xa2"
                        "ok"
                        "\xc3"); /* {"ok": true} */
    tr_reply_durable(ctx, msg, TR_REG_STORE_ACK, buf, w.len);
    return TR_CONTINUE;
}

/* ---- coordinator --------------------------------------------------------------------- */

static uint32_t majority(const cp_state *s) {
    return s->cfg.peer_count / 2 + 1;
}

static void reply_ok(tr_ctx *ctx, const tr_msg *req, bool has_value, int64_t value) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    int rc = tr__registers_reply_encode_ok(buf, sizeof buf, has_value, value, &len);
    assert(rc == 0);
    (void)rc;
    tr_reply(ctx, req, TR_REG_REPLY, buf, len);
}

static void reply_err(tr_ctx *ctx, const tr_msg *req, const char *error, bool indeterminate) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    int rc = tr__registers_reply_encode_err(buf, sizeof buf, error, indeterminate, &len);
    assert(rc == 0);
    (void)rc;
    tr_reply(ctx, req, TR_REG_REPLY, buf, len);
}

/* How often a suspected peer is asked anyway, as an extra, to notice it is back. */
#define PROBE_NS (100ull * 1000 * 1000)

/* Asks peer i for the op's current phase (ourselves through our own address). */
static void ask(tr_ctx *ctx, cp_state *s, cp_op *op, uint32_t i) {
    int rc;
    op->corr[i] = 0;
    /* Fault point: this answer times out early (as under a delay spike or a slow peer); the
     * peer then counts as failed for the phase, and another one is asked in its place. */
    uint32_t timeout_ms = TR_BUGGIFY(ctx) ? 1 : s->cfg.quorum_timeout_ms;
    if (i == s->self) {
        rc = tr_request(ctx, tr_self(ctx), op->req_type, op->req, op->req_len, timeout_ms,
                        &op->corr[i]);
    } else {
        rc = tr_request_name(ctx, s->addr[i], op->req_type, op->req, op->req_len, timeout_ms,
                             &op->corr[i]);
    }
    /* never sent: no reply nor timeout will come */
    op->peer[i] = rc == 0 ? PEER_PENDING : PEER_FAILED;
    op->pending += rc == 0;
}

/* The next peer not asked yet in this phase: ourselves first, then peers not suspected of
 * being unreachable, in an order that rotates across operations, then suspected ones.
 * Returns peer_count when every peer was asked. */
static uint32_t next_idle(const cp_state *s, const cp_op *op) {
    uint32_t n = s->cfg.peer_count, pick = n;
    if (s->self < n && op->peer[s->self] == PEER_IDLE) {
        return s->self;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (s->next_peer + k) % n;
        if (op->peer[i] != PEER_IDLE) {
            continue;
        }
        if (pick == n || (!s->suspect[i] && s->suspect[pick])) {
            pick = i;
        }
    }
    return pick;
}

/* Keeps enough peers asked for a majority. A query asks a majority only (thrifty: any
 * majority meets every other, so the rest need not be asked while these answer), trusted
 * peers first, and one more peer for each that fails; a suspected peer is also asked as an
 * extra every PROBE_NS, so that its return is noticed without making an operation wait on
 * it. A store asks every replica, so that all stay current and later reads take the fast
 * path. */
static void top_up(tr_ctx *ctx, cp_state *s, cp_op *op) {
    uint32_t want = op->phase == PHASE_QUERY ? majority(s) : s->cfg.peer_count;
    uint32_t trusted = 0;
    for (uint32_t i = 0; i < s->cfg.peer_count; i++) {
        trusted += op->peer[i] == PEER_IDLE && !s->suspect[i];
    }
    if (op->acks + op->pending + trusted < want) {
        want = s->cfg.peer_count; /* too few trusted peers left: ask everyone at once */
    }
    while (op->acks + op->pending < want) {
        uint32_t i = next_idle(s, op);
        if (i == s->cfg.peer_count) {
            break;
        }
        ask(ctx, s, op, i);
    }
    uint64_t now = tr_now_ns(ctx);
    for (uint32_t i = 0; i < s->cfg.peer_count && op->phase == PHASE_QUERY; i++) {
        if (s->suspect[i] && op->peer[i] == PEER_IDLE && s->probe_at[i] <= now) {
            s->probe_at[i] = now + PROBE_NS;
            ask(ctx, s, op, i);
        }
    }
}

/* Starts a phase: remembers its request (to ask further peers) and asks the first peers. */
static void start_phase(tr_ctx *ctx, cp_state *s, cp_op *op, uint32_t type, const void *body,
                        size_t len) {
    assert(len <= sizeof op->req);
    op->acks = 0;
    op->pending = 0;
    op->req_type = type;
    op->req_len = (uint8_t)len;
    memcpy(op->req, body, len);
    memset(op->peer, PEER_IDLE, sizeof op->peer);
    s->next_peer = (s->next_peer + 1) % s->cfg.peer_count;
    top_up(ctx, s, op);
}

static void op_finish(cp_state *s, cp_op *op) {
    s->ops_used &= ~(1ull << (op - s->ops));
    memset(op, 0, sizeof *op);
}

/* No majority can come any more: every peer asked has answered or failed. */
static void op_check_failed(tr_ctx *ctx, cp_state *s, cp_op *op) {
    if (op->pending > 0 || op->acks >= majority(s)) {
        return;
    }
    /* A store phase without a majority may still have reached some replicas. */
    bool indeterminate = op->is_write && op->phase == PHASE_STORE;
    reply_err(ctx, &op->client,
              op->phase == PHASE_QUERY ? "no quorum (query)" : "no quorum (store)", indeterminate);
    op_finish(s, op);
}

static void start_store(tr_ctx *ctx, cp_state *s, cp_op *op) {
    uint8_t buf[TR_REG_BODY_MAX];
    if (op->is_write) {
        uint64_t base =
            op->cell.ts.counter > s->last_counter ? op->cell.ts.counter : s->last_counter;
        op->cell.ts.counter = base + 1;
        op->cell.ts.writer = tr_node_id(tr_ctx_node(ctx));
        op->cell.ts.incarnation = s->incarnation;
        s->last_counter = op->cell.ts.counter;
        op->cell.has_value = true;
        op->cell.value = op->value;
    } else if (op->cell.ts.counter == 0) {
        reply_ok(ctx, &op->client, false, 0); /* never written anywhere in a majority */
        op_finish(s, op);
        return;
    }
    op->phase = PHASE_STORE;
    size_t len = encode_cell(buf, sizeof buf, op->key, &op->cell);
    start_phase(ctx, s, op, TR_REG_STORE, buf, len);
    op_check_failed(ctx, s, op);
}

static void start_op(tr_ctx *ctx, cp_state *s, const tr_msg *msg, bool is_write) {
    uint32_t key;
    bool has_value;
    int64_t value;
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    cp_cell local;
    if (tr__registers_request_decode(msg->body, msg->body_len, &key, &has_value, &value) != 0 ||
        (is_write && !has_value)) {
        reply_err(ctx, msg, "bad request", false);
        return;
    }
    if (is_write && !s->ready) {
        reply_err(ctx, msg, "starting", false); /* incarnation not yet durable */
        return;
    }
    if (!is_write && (s->cfg.bugs & TR_REG_BUG_STALE_READ)) {
        /* Planted bug: a read answered by this replica alone may miss newer writes. */
        if (cell_load(ctx, s, key, &local) != 0) {
            reply_err(ctx, msg, "store error", false);
        } else {
            reply_ok(ctx, msg, local.has_value, local.value);
        }
        return;
    }
    if (s->ops_used == UINT64_MAX) {
        reply_err(ctx, msg, "busy", false);
        return;
    }
    unsigned free_index = (unsigned)__builtin_ctzll(~s->ops_used); /* the lowest free op */
    cp_op *op = &s->ops[free_index];
    memset(op, 0, sizeof *op);
    s->ops_used |= 1ull << free_index;
    op->is_write = is_write;
    op->phase = PHASE_QUERY;
    op->key = key;
    op->value = value;
    op->client = *msg;
    op->client.body = NULL;
    op->client.body_len = 0;
    op->client.next_ = NULL;
    tr__registers_request_encode(buf, sizeof buf, key, false, 0, &len);
    start_phase(ctx, s, op, is_write ? TR_REG_QUERY : TR_REG_QUERY_READ, buf, len);
    op_check_failed(ctx, s, op);
}

static cp_op *find_op(cp_state *s, uint64_t corr, uint32_t *peer) {
    for (uint64_t live = s->ops_used; live != 0; live &= live - 1) {
        cp_op *op = &s->ops[__builtin_ctzll(live)];
        for (uint32_t p = 0; p < s->cfg.peer_count; p++) {
            if (op->corr[p] == corr && op->peer[p] == PEER_PENDING) {
                *peer = p;
                return op;
            }
        }
    }
    return NULL;
}

static void on_answer(tr_ctx *ctx, cp_state *s, const tr_msg *msg) {
    uint32_t p, key;
    cp_cell cell;
    cp_op *op = find_op(s, msg->corr, &p);
    if (op == NULL) {
        return; /* late: its phase is over */
    }
    bool valid = msg->type != TR_MSG_TIMEOUT;
    if (valid && msg->type == TR_REG_QUERY_ACK) {
        valid = op->phase == PHASE_QUERY && decode_cell(msg, &key, &cell) == 0 && key == op->key;
        if (valid && op->acks > 0 && ts_cmp(cell.ts, op->cell.ts) != 0) {
            op->mixed = true;
        }
        if (valid && ts_cmp(cell.ts, op->cell.ts) > 0) {
            op->cell = cell;
        }
    } else if (valid) {
        valid = op->phase == PHASE_STORE && msg->type == TR_REG_STORE_ACK;
    }
    op->peer[p] = valid ? PEER_ACKED : PEER_FAILED;
    op->pending--;
    op->acks += valid;
    if (!valid && !s->suspect[p]) {
        s->probe_at[p] = tr_now_ns(ctx) + PROBE_NS;
    }
    s->suspect[p] = !valid;
    if (op->acks == majority(s)) {
        bool agreed = !op->mixed || (s->cfg.bugs & TR_REG_BUG_NO_WRITE_BACK);
        if (op->phase == PHASE_QUERY && !op->is_write && agreed) {
            /* Fast read: a majority durably holds this (ts, value): nothing to write back. */
            reply_ok(ctx, &op->client, op->cell.has_value, op->cell.value);
            op_finish(s, op);
        } else if (op->phase == PHASE_QUERY) {
            start_store(ctx, s, op);
        } else {
            reply_ok(ctx, &op->client, op->cell.has_value, op->cell.value);
            op_finish(s, op);
        }
        return;
    }
    if (!valid) {
        top_up(ctx, s, op); /* ask another peer in its place */
    }
    op_check_failed(ctx, s, op);
}

/* ---- behaviour ----------------------------------------------------------------------- */

/* Bumps the durable incarnation number; writes wait until TR_MSG_DURABLE says it is on
 * disk, so a crash can never make two runs of this coordinator share one. */
static int bump_incarnation(tr_ctx *ctx, cp_state *s) {
    static const char key[] = "incarnation";
    uint8_t buf[16];
    size_t len;
    tr_mp_reader r;
    int64_t inc = 0;
    int rc = tr_kv_get(ctx, key, sizeof key - 1, buf, sizeof buf, &len);
    if (rc == 0) {
        tr_mp_reader_init(&r, buf, len);
        if (tr__wire_get_int(&r, &inc) != 0 || inc < 0 || inc >= UINT32_MAX) {
            return TR_ECORRUPT;
        }
    } else if (rc != TR_ENOENT) {
        return rc;
    }
    s->incarnation = (uint32_t)inc + 1;
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_uint(&w, s->incarnation);
    rc = tr_kv_put(ctx, key, sizeof key - 1, buf, w.len);
    return rc != 0 ? rc : tr_durable_notify(ctx, &s->ready_token);
}

static void on_durable(tr_ctx *ctx, cp_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    int64_t status = -1;
    if (s->ready || msg->corr != s->ready_token) {
        return;
    }
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    tr__wire_get_int(&r, &status);
    if (status == 0) {
        s->ready = true;
    } else {
        tr_durable_notify(ctx, &s->ready_token); /* the commit failed: ask again */
    }
}

static int cp_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    cp_state *s = state;
    if (arg_len != sizeof(tr_register_arg)) {
        return TR_EINVAL;
    }
    memcpy(&s->cfg, arg, sizeof s->cfg);
    if (s->cfg.peer_count == 0 || s->cfg.peer_count > TR_REG_PEERS_MAX) {
        return TR_EINVAL;
    }
    s->self = tr__registers_self_index(ctx, s->cfg.peers, s->cfg.peer_count);
    for (uint32_t i = 0; i < s->cfg.peer_count; i++) {
        memcpy(s->addr[i], "cp@", 3);
        memcpy(s->addr[i] + 3, s->cfg.peers[i], strlen(s->cfg.peers[i]) + 1);
    }
    return bump_incarnation(ctx, s);
}

static int cp_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    cp_state *s = state;
    switch (msg->type) {
    case TR_REG_READ: start_op(ctx, s, msg, false); break;
    case TR_REG_WRITE: start_op(ctx, s, msg, true); break;
    case TR_REG_QUERY:
    case TR_REG_QUERY_READ: return replica_query(ctx, s, msg);
    case TR_REG_STORE: return replica_store(ctx, s, msg);
    case TR_REG_QUERY_ACK:
    case TR_REG_STORE_ACK:
    case TR_MSG_TIMEOUT: on_answer(ctx, s, msg); break;
    case TR_MSG_DURABLE: on_durable(ctx, s, msg); break;
    default: break; /* unknown types are ignored: a node must not fail on stray input */
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__register_cp_behaviour = {
    .name = "register_cp",
    .state_size = sizeof(cp_state),
    .init = cp_init,
    .receive = cp_receive,
    .terminate = NULL,
};
