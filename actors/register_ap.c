/*
 * register_ap.c — the "ap" register: last-writer-wins replicas with anti-entropy gossip
 * (see registers.h).
 *
 * State: a bounded table key -> (ts = (ns, node), value), kept in memory and made durable
 * as a journal of applied entries [key, ns, node, value] plus a snapshot of the whole table
 * every TR_REG_AP_SNAPSHOT_EVERY events, after which the journal is truncated up to the
 * snapshot (tr_journal_truncate), so the disk holds at most about one interval of events;
 * init replays them (tr_recover). A write is
 * acknowledged before it is durable: AP promises availability, not durability of the last
 * few writes across a crash (they also live on the peers the gossip reached).
 *
 * Replication: each local write is pushed to every peer at once; every cfg.gossip_ms a
 * round sends the whole table; a replica answers a round (or a push) with the entries it
 * holds newer than those it received. The rounds run on the node's clock, which stands still
 * for a while when it is set back: the pushes and answers do not, so such a replica's last
 * writes still reach its peers (they answer its silence with their own rounds).
 *
 * Timestamps: a local write takes ns = max(now_ns, ns of the key's current entry + 1), so a
 * write always supersedes what this replica has already seen (a hybrid logical clock for
 * one key), and ties between nodes break by node id. Nanoseconds rather than milliseconds:
 * two writes within one millisecond on different nodes must not be ordered by node id
 * against their real-time order when clocks agree. Merge keeps the larger ts, which is
 * commutative, associative and idempotent: replicas that exchanged their tables agree.
 */
#include <assert.h>
#include <string.h>

#include "actors/register_wire.h"
#include "actors/registers.h"

typedef struct ap_entry {
    bool used;
    bool has_value;
    uint32_t key;
    uint32_t node;
    uint64_t ns;
    int64_t value;
} ap_entry;

typedef struct ap_state {
    tr_register_arg cfg;
    uint32_t count;
    uint32_t since_snapshot; /* journal events since the last snapshot */
    uint64_t last_seq;       /* the journal sequence of the last event */
    uint64_t timer;
    uint32_t self; /* our index in cfg.peers (cfg.peer_count: not a peer) */
    char addr[TR_REG_PEERS_MAX][TR_NAME_MAX + 1]; /* "ap@<peer>", built once at init */
    ap_entry table[TR_REG_AP_KEYS_MAX];
    /* The indexes of the used slots of `table`, ascending (count of them): gossip and
     * snapshots walk these instead of scanning every slot at every tick. */
    uint16_t used[TR_REG_AP_KEYS_MAX];
    /* Snapshot encoding space; worst case per entry: array header 1 + key 5 + ns 9 +
     * node 5 + value 9 bytes. In the state, not static: replicas may run concurrently. */
    uint8_t snap_buf[5 + TR_REG_AP_KEYS_MAX * 29];
} ap_state;

static bool newer(const ap_entry *a, uint64_t ns, uint32_t node) {
    return ns > a->ns || (ns == a->ns && node > a->node);
}

/* Records slot `idx` as used, keeping s->used ascending. */
static void used_insert(ap_state *s, uint32_t idx) {
    uint32_t at = s->count;
    while (at > 0 && s->used[at - 1] > idx) {
        at--;
    }
    memmove(&s->used[at + 1], &s->used[at], (s->count - at) * sizeof s->used[0]);
    s->used[at] = (uint16_t)idx;
    s->count++;
}

/* Open addressing with linear probing; keys are never removed. */
static ap_entry *slot(ap_state *s, uint32_t key, bool create) {
    uint32_t h = (key * 2654435761u) % TR_REG_AP_KEYS_MAX;
    for (uint32_t i = 0; i < TR_REG_AP_KEYS_MAX; i++) {
        uint32_t idx = (h + i) % TR_REG_AP_KEYS_MAX;
        ap_entry *e = &s->table[idx];
        if (e->used && e->key == key) {
            return e;
        }
        if (!e->used) {
            if (!create) {
                return NULL;
            }
            memset(e, 0, sizeof *e);
            e->used = true;
            e->key = key;
            used_insert(s, idx);
            return e;
        }
    }
    return NULL; /* full */
}

/* [key, ns, node, value|nil]: at most 1 + 5 + 9 + 5 + 9 bytes. */
#define ENTRY_MAX 29

static void put_entry(tr_mp_writer *w, const ap_entry *e) {
    uint8_t *p = tr_mp_writer_room(w, ENTRY_MAX);
    if (p != NULL) { /* the common case: written raw, one check for the whole entry */
        *p++ = 0x94; /* array of 4 */
        p = tr_mp_put_uint(p, e->key);
        p = tr_mp_put_uint(p, e->ns);
        p = tr_mp_put_uint(p, e->node);
        if (e->has_value) {
            p = tr_mp_put_int(p, e->value);
        } else {
            *p++ = 0xc0; /* nil */
        }
        tr_mp_writer_advance(w, p);
        return;
    }
    tr_mp_write_array(w, 4); /* a tight buffer: value by value, the same bytes as above */
    tr_mp_write_uint(w, e->key);
    tr_mp_write_uint(w, e->ns);
    tr_mp_write_uint(w, e->node);
    if (e->has_value) {
        tr_mp_write_int(w, e->value);
    } else {
        tr_mp_write_nil(w);
    }
}

/* [key, ns, node, value|nil] read without the general decoder; false for any other form or
 * a value out of range (get_entry then reads it the general way, to the same result). */
static inline __attribute__((always_inline)) bool get_entry_fast(tr_mp_reader *r, ap_entry *e) {
    if (r->err != 0) {
        return false;
    }
    tr__wire_fast c = {r->p, r->end};
    int64_t key, ns, node, value;
    bool has_value;
    if (!TR__WIRE_FAST_LIT(&c, "\x94") || !tr__wire_fast_int(&c, &key) ||
        !tr__wire_fast_int(&c, &ns) || !tr__wire_fast_int(&c, &node) ||
        !tr__wire_fast_int_or_nil(&c, &has_value, &value) || key < 0 || key > UINT32_MAX ||
        ns < 0 || node < 0 || node > UINT32_MAX) {
        return false;
    }
    memset(e, 0, sizeof *e);
    e->used = true;
    e->has_value = has_value;
    e->key = (uint32_t)key;
    e->ns = (uint64_t)ns;
    e->node = (uint32_t)node;
    e->value = has_value ? value : 0;
    r->p = c.p;
    return true;
}

/* Any form. */
static int get_entry_general(tr_mp_reader *r, ap_entry *e) {
    uint32_t n;
    int64_t key, ns, node;
    memset(e, 0, sizeof *e);
    tr_mp_read_array(r, &n);
    tr__wire_get_int(r, &key);
    tr__wire_get_int(r, &ns);
    tr__wire_get_int(r, &node);
    if (tr_mp_peek(r) == TR_MP_NIL) {
        tr_mp_read_nil(r);
    } else {
        e->has_value = tr__wire_get_int(r, &e->value) == 0;
    }
    if (r->err != 0 || n != 4 || key < 0 || key > UINT32_MAX || ns < 0 || node < 0 ||
        node > UINT32_MAX) {
        r->err = TR_EPROTO;
        return TR_EPROTO;
    }
    e->used = true;
    e->key = (uint32_t)key;
    e->ns = (uint64_t)ns;
    e->node = (uint32_t)node;
    return 0;
}

static inline __attribute__((always_inline)) int get_entry(tr_mp_reader *r, ap_entry *e) {
    return get_entry_fast(r, e) ? 0 : get_entry_general(r, e);
}

/* Keeps `in` if it is newer than what we hold. Returns the entry when it changed. */
static ap_entry *merge(ap_state *s, const ap_entry *in) {
    ap_entry *e = slot(s, in->key, false);
    if (e == NULL && (in->ns == 0 || (e = slot(s, in->key, true)) == NULL)) {
        return NULL;
    }
    if (!newer(e, in->ns, in->node)) {
        return NULL;
    }
    e->ns = in->ns;
    e->node = in->node;
    e->has_value = in->has_value;
    e->value = in->value;
    return e;
}

/* ---- durability: journal + snapshot -------------------------------------------------- */

static void snapshot(tr_ctx *ctx, ap_state *s) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->snap_buf, sizeof s->snap_buf);
    tr_mp_write_array(&w, s->count);
    for (uint32_t i = 0; i < s->count; i++) {
        put_entry(&w, &s->table[s->used[i]]);
    }
    assert(w.err == 0);
    if (tr_snapshot_write(ctx, s->last_seq, s->snap_buf, w.len) == 0) {
        s->since_snapshot = 0;
        /* The snapshot covers every event so far: drop them from disk (committed with or
         * after it, never before). A failure only leaves them there for the next time. */
        (void)tr_journal_truncate(ctx, s->last_seq);
    }
}

static void journal(tr_ctx *ctx, ap_state *s, const ap_entry *e) {
    uint8_t buf[40];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    put_entry(&w, e);
    assert(w.err == 0);
    if (tr_journal_append(ctx, buf, w.len, &s->last_seq) != 0) {
        return; /* the entry stays in memory and on the peers the gossip reaches */
    }
    if (++s->since_snapshot >= TR_REG_AP_SNAPSHOT_EVERY) {
        snapshot(ctx, s);
    }
}

static int on_snapshot(void *ud, uint64_t seq, const void *data, size_t len) {
    ap_state *s = ud;
    tr_mp_reader r;
    uint32_t n;
    ap_entry e;
    tr_mp_reader_init(&r, data, len);
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < n && get_entry(&r, &e) == 0; i++) {
        merge(s, &e);
    }
    s->last_seq = seq;
    return r.err != 0 ? TR_ECORRUPT : 0;
}

static int on_event(void *ud, uint64_t seq, const void *event, size_t len) {
    ap_state *s = ud;
    tr_mp_reader r;
    ap_entry e;
    tr_mp_reader_init(&r, event, len);
    if (get_entry(&r, &e) != 0) {
        return TR_ECORRUPT;
    }
    merge(s, &e);
    s->last_seq = seq;
    s->since_snapshot++;
    return 0;
}

/* ---- client operations --------------------------------------------------------------- */

static void push(tr_ctx *ctx, ap_state *s, const ap_entry *e);

static void reply(tr_ctx *ctx, const tr_msg *req, const ap_entry *e) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    tr__registers_reply_encode_ok(buf, sizeof buf, e != NULL && e->has_value, e ? e->value : 0,
                                  &len);
    tr_reply(ctx, req, TR_REG_REPLY, buf, len);
}

static void reply_err(tr_ctx *ctx, const tr_msg *req, const char *error) {
    uint8_t buf[TR_REG_BODY_MAX];
    size_t len;
    tr__registers_reply_encode_err(buf, sizeof buf, error, false, &len);
    tr_reply(ctx, req, TR_REG_REPLY, buf, len);
}

static void client_op(tr_ctx *ctx, ap_state *s, const tr_msg *msg, bool is_write) {
    uint32_t key;
    bool has_value;
    int64_t value;
    if (tr__registers_request_decode(msg->body, msg->body_len, &key, &has_value, &value) != 0 ||
        (is_write && !has_value)) {
        reply_err(ctx, msg, "bad request");
        return;
    }
    if (!is_write) {
        reply(ctx, msg, slot(s, key, false));
        return;
    }
    ap_entry *cur = slot(s, key, true);
    if (cur == NULL) {
        reply_err(ctx, msg, "full");
        return;
    }
    uint64_t now = tr_now_ns(ctx);
    ap_entry in = {.used = true,
                   .has_value = true,
                   .key = key,
                   .value = value,
                   .node = tr_node_id(tr_ctx_node(ctx)),

                   .ns = now > cur->ns ? now : cur->ns + 1};
    ap_entry *e = merge(s, &in);
    assert(e != NULL);
    journal(ctx, s, e);
    if (!(s->cfg.bugs & TR_REG_BUG_NO_ANTI_ENTROPY)) {
        push(ctx, s, e);
    }
    reply(ctx, msg, e);
}

/* ---- anti-entropy -------------------------------------------------------------------- */

/* {"entries": [...]} (and "answer": true for an answer, which is not answered in turn)
 * from the entries at `idx` (slots of s->table), at most TR_REG_GOSSIP_CHUNK of them. */
static size_t encode_entries(const ap_state *s, const uint16_t *idx, uint32_t n, bool answer,
                             uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, answer ? 2 : 1);
    if (answer) { /* first: the receiver knows it before it reads the entries */
        tr_mp_write_cstr(&w, "answer");
        tr_mp_write_bool(&w, true);
    }
    tr_mp_write_cstr(&w, "entries");
    tr_mp_write_array(&w, n);
    for (uint32_t i = 0; i < n; i++) {
        put_entry(&w, &s->table[idx[i]]);
    }
    assert(w.err == 0);
    return w.len;
}

#define GOSSIP_BUF (24 + TR_REG_GOSSIP_CHUNK * ENTRY_MAX)

static void send_peers(tr_ctx *ctx, ap_state *s, const uint8_t *buf, size_t len) {
    for (uint32_t i = 0; i < s->cfg.peer_count; i++) {
        if (i == s->self) {
            continue;
        }
        /* lost on a cut link: the next round, or an answer to the peer's, repairs it */
        tr_send_name(ctx, s->addr[i], TR_REG_GOSSIP, buf, len);
    }
}

/* A round of anti-entropy: the whole table to every peer, a chunk per message. */
static void gossip(tr_ctx *ctx, ap_state *s) {
    uint8_t buf[GOSSIP_BUF];
    if (TR_BUGGIFY(ctx)) {
        return; /* fault point: a round skipped (a busy node); the next round sends it all */
    }
    for (uint32_t i = 0; i < s->count; i += TR_REG_GOSSIP_CHUNK) {
        uint32_t n = s->count - i < TR_REG_GOSSIP_CHUNK ? s->count - i : TR_REG_GOSSIP_CHUNK;
        send_peers(ctx, s, buf, encode_entries(s, &s->used[i], n, false, buf, sizeof buf));
    }
}

/* A local write goes to every peer at once, not only with the next round: the rounds run on
 * the node's clock, which stands still for a while when it is set back, and the write must
 * not wait for it (the peers' answers to their own rounds repair a push that was lost). */
static void push(tr_ctx *ctx, ap_state *s, const ap_entry *e) {
    uint8_t buf[GOSSIP_BUF];
    uint16_t idx = (uint16_t)(e - s->table);
    send_peers(ctx, s, buf, encode_entries(s, &idx, 1, false, buf, sizeof buf));
}

/* Entries the sender of a gossip holds older than we do, sent back to it (push-pull): a
 * replica whose own rounds stand still (its clock set back) still hands its newer entries
 * to every peer that gossips to it. */
typedef struct answer {
    uint16_t idx[TR_REG_GOSSIP_CHUNK];
    uint32_t n;
} answer;

static void answer_flush(tr_ctx *ctx, ap_state *s, const tr_msg *msg, answer *a) {
    uint8_t buf[GOSSIP_BUF];
    if (a->n > 0) {
        tr_send(ctx, msg->from, TR_REG_GOSSIP, buf,
                encode_entries(s, a->idx, a->n, true, buf, sizeof buf));
        a->n = 0;
    }
}

static void on_gossip(tr_ctx *ctx, ap_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, m, klen;
    const char *k;
    ap_entry e;
    answer a = {.n = 0};
    bool is_answer = false;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    tr_mp_read_map(&r, &n);
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            break;
        }
        if (tr_mp_str_eq(k, klen, "answer")) {
            bool v = false;
            is_answer |= tr_mp_read_bool(&r, &v) == 0 && v;
            continue;
        }
        if (!tr_mp_str_eq(k, klen, "entries")) {
            tr_mp_skip(&r);
            continue;
        }
        tr_mp_read_array(&r, &m);
        for (uint32_t j = 0; j < m && get_entry(&r, &e) == 0; j++) {
            const ap_entry *changed = merge(s, &e);
            const ap_entry *ours;
            if (changed != NULL) {
                journal(ctx, s, changed);
            } else if (!is_answer && (ours = slot(s, e.key, false)) != NULL &&
                       newer(&e, ours->ns, ours->node)) {
                a.idx[a.n++] = (uint16_t)(ours - s->table);
                if (a.n == TR_REG_GOSSIP_CHUNK) {
                    answer_flush(ctx, s, msg, &a);
                }
            }
        }
    }
    /* Answers are not answered (a.n stays 0), so two replicas never bounce entries. */
    answer_flush(ctx, s, msg, &a);
}

/* ---- behaviour ----------------------------------------------------------------------- */

static int ap_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    ap_state *s = state;
    if (arg_len != sizeof(tr_register_arg)) {
        return TR_EINVAL;
    }
    memcpy(&s->cfg, arg, sizeof s->cfg);
    if (s->cfg.peer_count == 0 || s->cfg.peer_count > TR_REG_PEERS_MAX) {
        return TR_EINVAL;
    }
    s->self = tr__registers_self_index(ctx, s->cfg.peers, s->cfg.peer_count);
    for (uint32_t i = 0; i < s->cfg.peer_count; i++) {
        memcpy(s->addr[i], "ap@", 3);
        memcpy(s->addr[i] + 3, s->cfg.peers[i], strlen(s->cfg.peers[i]) + 1);
    }
    int rc = tr_recover(ctx, on_snapshot, on_event, s);
    if (rc != 0 && rc != TR_ENOENT) {
        return rc;
    }
    if (!(s->cfg.bugs & TR_REG_BUG_NO_ANTI_ENTROPY)) {
        /* A random phase: replicas started together must not gossip in lockstep. */
        uint32_t first = 1 + (uint32_t)(tr_random(ctx) % s->cfg.gossip_ms);
        return tr_timer_start(ctx, first, s->cfg.gossip_ms, TR_REG_TICK, &s->timer);
    }
    return 0;
}

static int ap_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    ap_state *s = state;
    switch (msg->type) {
    case TR_REG_READ: client_op(ctx, s, msg, false); break;
    case TR_REG_WRITE: client_op(ctx, s, msg, true); break;
    case TR_REG_GOSSIP: on_gossip(ctx, s, msg); break;
    case TR_REG_TICK: gossip(ctx, s); break;
    default: break; /* stray input never fails a replica */
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__register_ap_behaviour = {
    .name = "register_ap",
    .state_size = sizeof(ap_state),
    .init = ap_init,
    .receive = ap_receive,
    .terminate = NULL,
};
