/* orset_replica.c — the "orset" replica: the OR-set of actors/orset.c on every node, its
 * requests, delta-state anti-entropy and durability (actors/orset.h). */
#include <stdio.h>
#include <string.h>

#include "actors/crdt_durable.h"
#include "actors/fmt.h"
#include "actors/orset.h"

/* A round's deltas to one peer, [origin, upto, delta...], fit the encoding buffer. */
_Static_assert(16 + TR_ORSET_BATCH_MAX * TR_ORSET_DELTA_BYTES_MAX <= TR_ORSET_STATE_BYTES_MAX,
               "a batch of deltas must fit orset_state.buf");

typedef struct orset_state {
    tr_service_place place; /* first: tr_service_place_init */
    uint32_t bugs;
    tr__orset set;
    tr__orset peer; /* a peer's whole state, decoded for a join */
    /* This node's own operations log_first..set.vv[self], at log[(seq - 1) % LOG_MAX]. */
    tr__orset_delta log[TR_ORSET_LOG_MAX];
    uint32_t log_first;
    uint32_t ack[TR_ORSET_NODES_MAX]; /* the own operations each peer said it has */
    /* Each peer's version vector as it last reported it, and for how many reports in a row
     * it has lagged behind this replica on another origin's operations without moving. */
    uint32_t peer_vv[TR_ORSET_NODES_MAX][TR_ORSET_NODES_MAX];
    uint8_t stuck[TR_ORSET_NODES_MAX];
    /* Whole states to a peer not heard from since the last back off (a dead peer beyond the
     * log would get one every round): rounds to wait before the next, and the wait after it
     * (1, 2, 4 up to TR_ORSET_FULL_BACKOFF_MAX); any message from the peer resets both. */
    uint8_t full_wait[TR_ORSET_NODES_MAX], full_backoff[TR_ORSET_NODES_MAX];
    tr__durable_mark mark; /* position: own operations up to mark.durable may be shipped */
    uint64_t last_seq;     /* the journal's last event */
    uint32_t since_snapshot;
    uint8_t buf[TR_ORSET_STATE_BYTES_MAX]; /* encodings: snapshots, full states, reads */
} orset_state;

static uint32_t self(const orset_state *s) {
    return s->place.node_index;
}

static void snapshot(tr_ctx *ctx, orset_state *s) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->buf, sizeof s->buf);
    tr__orset_encode(&s->set, &w);
    if (w.err == 0 && tr_snapshot_write(ctx, s->last_seq, s->buf, w.len) == 0) {
        s->since_snapshot = 0;
        (void)tr_journal_truncate(ctx, s->last_seq);
    }
}

/* Journals an applied delta; 0 or the store's error. */
static int journal(tr_ctx *ctx, orset_state *s, const tr__orset_delta *d) {
    uint8_t buf[TR_ORSET_DELTA_BYTES_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr__orset_delta_encode(d, &w);
    int rc = tr_journal_append(ctx, buf, w.len, &s->last_seq);
    if (rc == 0 && ++s->since_snapshot >= TR_ORSET_SNAPSHOT_EVERY) {
        snapshot(ctx, s);
    }
    return rc;
}

static int on_snapshot(void *ud, uint64_t seq, const void *data, size_t len) {
    orset_state *s = ud;
    tr_mp_reader r;
    tr_mp_reader_init(&r, data, len);
    s->last_seq = seq;
    return tr__orset_decode(&r, &s->set) == 0 && tr_mp_reader_done(&r) == 0 ? 0 : TR_ECORRUPT;
}

static int on_event(void *ud, uint64_t seq, const void *event, size_t len) {
    orset_state *s = ud;
    tr_mp_reader r;
    tr__orset_delta d;
    tr_mp_reader_init(&r, event, len);
    s->last_seq = seq;
    if (tr__orset_delta_decode(&r, &d) != 0) {
        return TR_ECORRUPT;
    }
    (void)tr__orset_apply(&s->set, &d); /* journaled only once applied: applies again */
    return 0;
}

static int orset_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    orset_state *s = state;
    uint64_t timer;
    int rc = tr_service_place_init(ctx, state, arg, arg_len);
    if (rc != 0 || s->place.node_count == 0 || s->place.node_count > TR_ORSET_NODES_MAX) {
        return rc != 0 ? rc : TR_EINVAL;
    }
    s->bugs = !strcmp(s->place.bug, "remove-drops-context") ? TR_ORSET_BUG_REMOVE_DROPS_CONTEXT : 0;
    tr__orset_init(&s->set, s->place.node_count);
    tr__orset_init(&s->peer, s->place.node_count);
    rc = tr_recover(ctx, on_snapshot, on_event, s);
    if (rc != 0) {
        return rc;
    }
    tr__durable_mark_init(&s->mark, s->set.vv[self(s)]); /* recovered: committed */
    s->log_first = s->set.vv[self(s)] + 1; /* the log starts empty: older ops go as a state */
    return tr_timer_start(ctx, TR_ORSET_GOSSIP_MS, TR_ORSET_GOSSIP_MS, TR_ORSET_TICK, &timer);
}

/* ---- requests ---------------------------------------------------------------------------- */

static void log_own(orset_state *s, const tr__orset_delta *d) {
    s->log[(d->dot.seq - 1) % TR_ORSET_LOG_MAX] = *d;
    if (d->dot.seq - s->log_first + 1 > TR_ORSET_LOG_MAX) {
        s->log_first = d->dot.seq + 1 - TR_ORSET_LOG_MAX;
    }
}

static void change(tr_ctx *ctx, orset_state *s, const tr_msg *msg) {
    int64_t v[2];
    tr__orset_delta d;
    bool add = msg->type == TR_ORSET_ADD;
    if (tr_msg_read_ints(msg, v, 2) != 2) {
        (void)tr_reply_str(ctx, msg, "bad request: [key, elem]", false);
        return;
    }
    int rc = add ? tr__orset_add(&s->set, self(s), v[0], v[1], &d)
                 : tr__orset_remove(&s->set, self(s), v[0], v[1], &d);
    if (rc != 0) {
        (void)tr_reply_str(ctx, msg,
                           rc == TR_ENOENT  ? "absent"
                           : rc == TR_EFULL ? "full"
                                            : tr_strerror(rc),
                           false);
        return;
    }
    log_own(s, &d);
    rc = journal(ctx, s, &d);
    if (rc != 0) { /* applied here, never shipped (not durable): lost with the restart */
        (void)tr_reply_str(ctx, msg, tr_strerror(rc), false);
        return;
    }
    (void)tr__durable_mark_ask(ctx, &s->mark, s->set.vv[self(s)]);
    (void)tr_reply_int(ctx, msg, add ? v[1] : 1, true);
}

/* The distinct elements under key, ascending, as an array. */
static void read_key(tr_ctx *ctx, orset_state *s, const tr_msg *msg) {
    int64_t key;
    uint32_t n = 0;
    tr_mp_writer w;
    if (tr_msg_read_ints(msg, &key, 1) != 1) {
        (void)tr_reply_str(ctx, msg, "bad request: [key]", false);
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        tr_mp_writer_init(&w, s->buf, sizeof s->buf);
        tr_mp_write_array(&w, n);
        n = 0;
        for (uint32_t i = 0; i < s->set.count; i++) {
            const tr__orset_entry *e = &s->set.e[i];
            if (e->key == key && (i == 0 || e[-1].key != key || e[-1].elem != e->elem)) {
                n++;
                tr_mp_write_int(&w, e->elem);
            }
        }
    }
    (void)tr_reply(ctx, msg, msg->type, s->buf, w.len);
}

/* [[key, [elems...]]...]: every key's distinct elements. */
static void state(tr_ctx *ctx, orset_state *s, const tr_msg *msg) {
    tr_mp_writer w;
    uint32_t keys = 0;
    const tr__orset_entry *e = s->set.e;
    for (uint32_t i = 0; i < s->set.count; i++) {
        keys += i == 0 || e[i - 1].key != e[i].key;
    }
    tr_mp_writer_init(&w, s->buf, sizeof s->buf);
    tr_mp_write_array(&w, keys);
    for (uint32_t i = 0; i < s->set.count;) {
        uint32_t end = i, n = 0;
        for (; end < s->set.count && e[end].key == e[i].key; end++) {
            n += end == i || e[end - 1].elem != e[end].elem;
        }
        tr_mp_write_array(&w, 2);
        tr_mp_write_int(&w, e[i].key);
        tr_mp_write_array(&w, n);
        for (uint32_t j = i; j < end; j++) {
            if (j == i || e[j - 1].elem != e[j].elem) {
                tr_mp_write_int(&w, e[j].elem);
            }
        }
        i = end;
    }
    (void)tr_reply(ctx, msg, msg->type, s->buf, w.len);
}

/* ---- anti-entropy ------------------------------------------------------------------------ */

static void peer_name(uint32_t node, char *name, size_t cap) {
    (void)tr__fmt_u64(name, cap, TR_ORSET_NAME, "@n", (uint64_t)node + 1);
}

/* Peer j's round: the own operations it lacks (or nothing: a heartbeat that makes it
 * answer with what it has), or the whole state when the log no longer reaches back. */
static void ship(tr_ctx *ctx, orset_state *s, uint32_t j) {
    char name[TR_NAME_MAX + 1];
    uint32_t from = s->ack[j] + 1, upto = (uint32_t)s->mark.durable;
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->buf, sizeof s->buf);
    peer_name(j, name, sizeof name);
    bool beyond_log = from <= upto && from < s->log_first;
    if ((beyond_log || s->stuck[j] >= TR_ORSET_RELAY_ROUNDS) && s->full_wait[j] == 0) {
        if (s->set.vv[self(s)] == upto) {
            tr_mp_write_array(&w, 2);
            tr_mp_write_uint(&w, self(s));
            tr__orset_encode(&s->set, &w);
            (void)tr_send_name(ctx, name, TR_ORSET_FULL, s->buf, w.len);
            s->stuck[j] = 0;
            s->full_wait[j] = s->full_backoff[j];
            s->full_backoff[j] = s->full_backoff[j] == 0 ? 1
                                 : 2 * s->full_backoff[j] > TR_ORSET_FULL_BACKOFF_MAX
                                     ? TR_ORSET_FULL_BACKOFF_MAX
                                     : 2 * s->full_backoff[j];
            return;
        }
    }
    if (beyond_log) {
        return; /* the log no longer reaches back; a state now would carry own operations a
                   crash could still take back, or one went out too recently */
    }
    uint32_t last = from > upto ? from - 1 : upto;
    last = last - from + 1 > TR_ORSET_BATCH_MAX ? from + TR_ORSET_BATCH_MAX - 1 : last;
    tr_mp_write_array(&w, 2 + (last + 1 - from));
    tr_mp_write_uint(&w, self(s));
    tr_mp_write_uint(&w, upto);
    for (uint32_t seq = from; seq <= last; seq++) {
        tr__orset_delta d = s->log[(seq - 1) % TR_ORSET_LOG_MAX];
        if (d.remove && (s->bugs & TR_ORSET_BUG_REMOVE_DROPS_CONTEXT)) {
            d.ndots = 0;
        }
        tr__orset_delta_encode(&d, &w);
    }
    (void)tr_send_name(ctx, name, TR_ORSET_DELTAS, s->buf, w.len);
}

static void tick(tr_ctx *ctx, orset_state *s) {
    (void)tr__durable_mark_ask(ctx, &s->mark, s->set.vv[self(s)]);
    for (uint32_t j = 0; j < s->set.n; j++) {
        if (j != self(s)) {
            s->full_wait[j] -= s->full_wait[j] > 0;
            ship(ctx, s, j);
        }
    }
}

/* Newer own operations are durable: the peers that lack them get them at once, and the
 * later ones are asked about. */
static void durable(tr_ctx *ctx, orset_state *s, const tr_msg *msg) {
    if (!tr__durable_mark_answer(&s->mark, msg)) {
        return;
    }
    for (uint32_t j = 0; j < s->set.n; j++) {
        if (j != self(s) && s->ack[j] < s->mark.durable) {
            ship(ctx, s, j);
        }
    }
    (void)tr__durable_mark_ask(ctx, &s->mark, s->set.vv[self(s)]);
}

/* Peer j is up and reachable: a whole state it needs goes at the next round again. */
static void heard_from(orset_state *s, uint32_t j) {
    s->full_wait[j] = s->full_backoff[j] = 0;
}

/* [this node, origin's operations it has, its version vector...]. */
static void ack(tr_ctx *ctx, orset_state *s, const tr_msg *msg, uint32_t origin) {
    uint8_t buf[24 + 9 * TR_ORSET_NODES_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 2 + s->set.n);
    tr_mp_write_uint(&w, self(s));
    tr_mp_write_uint(&w, s->set.vv[origin]);
    for (uint32_t i = 0; i < s->set.n; i++) {
        tr_mp_write_uint(&w, s->set.vv[i]);
    }
    (void)tr_send(ctx, msg->from, TR_ORSET_ACK, buf, w.len);
}

/* [origin, upto, delta...]: applies the origin's operations in order, up to the first that
 * cannot apply yet, and says how many of them this replica has. */
static void deltas(tr_ctx *ctx, orset_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n;
    int64_t origin, upto;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n < 2 || tr_mp_read_int(&r, &origin) != 0 ||
        tr_mp_read_int(&r, &upto) != 0 || origin < 0 || origin >= s->set.n || origin == self(s)) {
        return;
    }
    heard_from(s, (uint32_t)origin);
    for (uint32_t k = 2; k < n; k++) {
        tr__orset_delta d;
        if (tr__orset_delta_decode(&r, &d) != 0 || d.dot.node != origin) {
            break;
        }
        int rc = tr__orset_apply(&s->set, &d);
        if (rc < 0 || (rc == 1 && journal(ctx, s, &d) != 0)) {
            break;
        }
    }
    ack(ctx, s, msg, (uint32_t)origin);
}

static void full(tr_ctx *ctx, orset_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n;
    int64_t origin;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 2 || tr_mp_read_int(&r, &origin) != 0 || origin < 0 ||
        origin >= s->set.n || origin == self(s) || tr__orset_decode(&r, &s->peer) != 0 ||
        tr_mp_reader_done(&r) != 0) {
        return;
    }
    heard_from(s, (uint32_t)origin);
    if (tr__orset_join(&s->set, &s->peer) == 1) {
        snapshot(ctx, s); /* a join is not journaled: the snapshot covers it */
    }
    ack(ctx, s, msg, (uint32_t)origin);
}

/* A peer's acknowledgement: what it has of this node's operations, and its version vector.
 * A peer that keeps lagging on a third origin's operations without moving cannot get them
 * from that origin (gone for good, or cut off from it): it is sent this replica's whole
 * state, whose join carries them (ship). */
static void acked(orset_state *s, const tr_msg *msg) {
    int64_t v[2 + TR_ORSET_NODES_MAX];
    if (tr_msg_read_ints(msg, v, 2 + TR_ORSET_NODES_MAX) != 2 + (int)s->set.n || v[0] < 0 ||
        v[0] >= s->set.n || v[0] == self(s) || v[1] < 0 || v[1] > UINT32_MAX) {
        return;
    }
    uint32_t j = (uint32_t)v[0];
    bool stuck = false;
    s->ack[j] = (uint32_t)v[1]; /* may go down: that peer lost what was not durable */
    heard_from(s, j);
    for (uint32_t o = 0; o < s->set.n; o++) {
        uint32_t has = v[2 + o] < 0 || v[2 + o] > UINT32_MAX ? 0 : (uint32_t)v[2 + o];
        stuck |= o != j && o != self(s) && has < s->set.vv[o] && has == s->peer_vv[j][o];
        s->peer_vv[j][o] = has;
    }
    s->stuck[j] = !stuck ? 0 : s->stuck[j] < UINT8_MAX ? s->stuck[j] + 1 : UINT8_MAX;
}

static int orset_receive(tr_ctx *ctx, void *state_, const tr_msg *msg) {
    orset_state *s = state_;
    switch (msg->type) {
    case TR_ORSET_ADD:
    case TR_ORSET_REMOVE: change(ctx, s, msg); break;
    case TR_ORSET_READ: read_key(ctx, s, msg); break;
    case TR_ORSET_STATE: state(ctx, s, msg); break;
    case TR_ORSET_DELTAS: deltas(ctx, s, msg); break;
    case TR_ORSET_FULL: full(ctx, s, msg); break;
    case TR_ORSET_ACK: acked(s, msg); break;
    case TR_ORSET_TICK: tick(ctx, s); break;
    case TR_MSG_DURABLE: durable(ctx, s, msg); break;
    default: break;
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__orset_behaviour = {.name = TR_ORSET_NAME,
                                          .state_size = sizeof(orset_state),
                                          .init = orset_init,
                                          .receive = orset_receive};
