/* broadcast.c — the "broadcast" node: deliveries, gossip with retries until acknowledged,
 * durability (actors/broadcast.h). */
#include <stdio.h>
#include <string.h>

#include "actors/broadcast.h"
#include "actors/crdt_durable.h"
#include "actors/fmt.h"

#define HASH_SIZE (2 * TR_BCAST_MSGS_MAX) /* a power of two */

typedef struct bc_entry {
    int64_t id;
    uint32_t deliveries;
    uint64_t holders; /* bit j: node j is known to hold it durably (this node: always) */
} bc_entry;

typedef struct bc_state {
    tr_service_place place; /* first: tr_service_place_init */
    uint32_t bugs;
    uint32_t count;
    uint32_t first_open;                        /* entries below it are held by every node */
    uint32_t first_open_of[TR_BCAST_NODES_MAX]; /* per node j: entries below it are held by j */
    /* Per node j: rounds in a row it was sent a batch without a word back, saturating, and
     * (once that reaches TR_BCAST_UNANSWERED_MAX) rounds left before it is offered again. */
    uint8_t unanswered[TR_BCAST_NODES_MAX], rest[TR_BCAST_NODES_MAX];
    tr__durable_mark mark;         /* position: entries below mark.durable are durable, gossiped */
    bc_entry e[TR_BCAST_MSGS_MAX]; /* in the order this node learned them */
    uint16_t index[HASH_SIZE];     /* id -> entry + 1 (0: empty), open addressing */
    uint64_t last_seq;             /* the journal's last event */
    uint32_t since_snapshot;
    int64_t ids[TR_BCAST_BATCH_MAX];             /* a batch being sent or acknowledged */
    uint8_t buf[16 + 2 * 9 * TR_BCAST_MSGS_MAX]; /* snapshots, reads, batches */
} bc_state;

static uint64_t all_nodes(const bc_state *s) {
    return s->place.node_count >= 64 ? UINT64_MAX : ((uint64_t)1 << s->place.node_count) - 1;
}

static uint32_t slot_of(int64_t id) {
    return (uint32_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 40) & (HASH_SIZE - 1);
}

/* The entry of id, or NULL; *slot: where it is or would go. */
static bc_entry *find(bc_state *s, int64_t id, uint32_t *slot) {
    uint32_t i = slot_of(id);
    while (s->index[i] != 0 && s->e[s->index[i] - 1].id != id) {
        i = (i + 1) & (HASH_SIZE - 1);
    }
    *slot = i;
    return s->index[i] ? &s->e[s->index[i] - 1] : NULL;
}

/* Records a delivery of id (a new entry, or one more of an entry): its entry, or NULL when
 * full. */
static bc_entry *record(bc_state *s, int64_t id) {
    uint32_t slot;
    bc_entry *e = find(s, id, &slot);
    if (e == NULL) {
        if (s->count == TR_BCAST_MSGS_MAX) {
            return NULL;
        }
        e = &s->e[s->count++];
        *e = (bc_entry){.id = id, .holders = (uint64_t)1 << s->place.node_index};
        s->index[slot] = (uint16_t)s->count;
    }
    e->deliveries++;
    return e;
}

static void snapshot(tr_ctx *ctx, bc_state *s) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->buf, sizeof s->buf);
    tr_mp_write_array(&w, 2 * s->count);
    for (uint32_t i = 0; i < s->count; i++) {
        tr_mp_write_int(&w, s->e[i].id);
        tr_mp_write_uint(&w, s->e[i].deliveries);
    }
    if (w.err == 0 && tr_snapshot_write(ctx, s->last_seq, s->buf, w.len) == 0) {
        s->since_snapshot = 0;
        (void)tr_journal_truncate(ctx, s->last_seq);
    }
}

/* A delivery of id, journaled: its entry, or NULL (full, or the store refused it). */
static bc_entry *deliver(tr_ctx *ctx, bc_state *s, int64_t id) {
    uint8_t buf[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_int(&w, id);
    if (s->count == TR_BCAST_MSGS_MAX && find(s, id, &(uint32_t){0}) == NULL) {
        return NULL;
    }
    if (tr_journal_append(ctx, buf, w.len, &s->last_seq) != 0) {
        return NULL;
    }
    bc_entry *e = record(s, id);
    (void)tr__durable_mark_ask(ctx, &s->mark, s->count);
    if (++s->since_snapshot >= TR_BCAST_SNAPSHOT_EVERY) {
        snapshot(ctx, s);
    }
    return e;
}

static int on_snapshot(void *ud, uint64_t seq, const void *data, size_t len) {
    bc_state *s = ud;
    tr_mp_reader r;
    uint32_t n;
    tr_mp_reader_init(&r, data, len);
    s->last_seq = seq;
    if (tr_mp_read_array(&r, &n) != 0 || n % 2 != 0 || n / 2 > TR_BCAST_MSGS_MAX) {
        return TR_ECORRUPT;
    }
    for (uint32_t i = 0; i < n / 2; i++) {
        int64_t id, deliveries;
        bc_entry *e;
        if (tr_mp_read_int(&r, &id) != 0 || tr_mp_read_int(&r, &deliveries) != 0 ||
            deliveries < 1 || (e = record(s, id)) == NULL) {
            return TR_ECORRUPT;
        }
        e->deliveries = (uint32_t)deliveries;
    }
    return tr_mp_reader_done(&r) == 0 ? 0 : TR_ECORRUPT;
}

static int on_event(void *ud, uint64_t seq, const void *event, size_t len) {
    bc_state *s = ud;
    tr_mp_reader r;
    int64_t id;
    tr_mp_reader_init(&r, event, len);
    s->last_seq = seq;
    return tr_mp_read_int(&r, &id) == 0 && record(s, id) != NULL ? 0 : TR_ECORRUPT;
}

static int bc_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    bc_state *s = state;
    uint64_t timer;
    int rc = tr_service_place_init(ctx, state, arg, arg_len);
    if (rc != 0 || s->place.node_count == 0 || s->place.node_count > TR_BCAST_NODES_MAX) {
        return rc != 0 ? rc : TR_EINVAL;
    }
    s->bugs = !strcmp(s->place.bug, "no-retry")   ? TR_BCAST_BUG_NO_RETRY
              : !strcmp(s->place.bug, "no-dedup") ? TR_BCAST_BUG_NO_DEDUP
                                                  : 0;
    rc = tr_recover(ctx, on_snapshot, on_event, s);
    tr__durable_mark_init(&s->mark, s->count); /* recovered: committed */
    return rc != 0
               ? rc
               : tr_timer_start(ctx, TR_BCAST_GOSSIP_MS, TR_BCAST_GOSSIP_MS, TR_BCAST_TICK, &timer);
}

/* ---- gossip ----------------------------------------------------------------------------- */

/* [this node, ids[0..n)] into s->buf; its length. */
static size_t encode_batch(bc_state *s, const int64_t *ids, uint32_t n) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->buf, sizeof s->buf);
    tr_mp_write_array(&w, 1 + n);
    tr_mp_write_uint(&w, s->place.node_index);
    uint8_t *p = tr_mp_writer_room(&w, 9 * (size_t)n); /* a batch is sent often: no call per id */
    if (p != NULL) {
        for (uint32_t i = 0; i < n; i++) {
            p = tr_mp_put_int(p, ids[i]);
        }
        tr_mp_writer_advance(&w, p);
        return w.len;
    }
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_write_int(&w, ids[i]);
    }
    return w.len;
}

static void send_batch(tr_ctx *ctx, bc_state *s, uint32_t j, const int64_t *ids, uint32_t n) {
    char name[TR_NAME_MAX + 1];
    size_t len = encode_batch(s, ids, n);
    (void)tr__fmt_u64(name, sizeof name, TR_BCAST_NAME, "@n", (uint64_t)j + 1);
    (void)tr_send_name(ctx, name, TR_BCAST_GOSSIP, s->buf, len);
}

/* "no-retry": a message this node has just learned goes to every other node, once. */
static void send_once(tr_ctx *ctx, bc_state *s, int64_t id) {
    for (uint32_t j = 0; j < s->place.node_count; j++) {
        if (j != s->place.node_index) {
            send_batch(ctx, s, j, &id, 1);
        }
    }
}

/* Every peer gets the durable messages from entry `from` on that it is not known to hold (a
 * batch each, the newest first): a peer that receives one records this node as its holder,
 * which a message a crash or a failing store could still take back would make a lie (the
 * peer would never send it back). */
/* Whether peer j is offered now (`round`: a round's offer, not a durable one). One that has
 * not answered TR_BCAST_UNANSWERED_MAX rounds in a row (down, or cut off) is offered every
 * TR_BCAST_QUIET_ROUNDS + 1 rounds only, not at every round and commit. */
static bool may_offer(bc_state *s, uint32_t j, bool round) {
    if (s->unanswered[j] < TR_BCAST_UNANSWERED_MAX) {
        return true;
    }
    if (!round || s->rest[j] > 0) {
        s->rest[j] -= round;
        return false;
    }
    s->rest[j] = TR_BCAST_QUIET_ROUNDS;
    return true;
}

/* Peer j said something (a batch, an acknowledgement): it is offered at once again. */
static void heard_from(bc_state *s, uint32_t j) {
    s->unanswered[j] = s->rest[j] = 0;
}

static void offer(tr_ctx *ctx, bc_state *s, uint32_t from, bool round) {
    if (s->bugs & TR_BCAST_BUG_NO_RETRY) {
        return;
    }
    for (uint32_t j = 0; j < s->place.node_count; j++) {
        uint32_t n = 0;
        /* Holders only grow, so the entries j holds from the oldest on need no second look:
         * the scan below starts above them (the batch is the same, at a round's cost in the
         * entries j lacks rather than in all since the oldest one some node lacks). */
        uint32_t lo = s->first_open_of[j];
        while (lo < s->count && (s->e[lo].holders >> j & 1)) {
            lo++;
        }
        s->first_open_of[j] = lo;
        /* Newest first: after a restart this node knows no peer's holdings and sends all it
         * holds again; the messages only it may hold are the last it learned. */
        for (uint32_t i = (uint32_t)s->mark.durable;
             i-- > (lo > from ? lo : from) && n < TR_BCAST_BATCH_MAX;) {
            if (!(s->e[i].holders >> j & 1)) {
                s->ids[n++] = s->e[i].id;
            }
        }
        if (n > 0 && may_offer(s, j, round)) {
            send_batch(ctx, s, j, s->ids, n);
            s->unanswered[j] += round && s->unanswered[j] < UINT8_MAX;
        }
    }
}

/* A round: everything durable that some peer is not known to hold. */
static void tick(tr_ctx *ctx, bc_state *s) {
    (void)tr__durable_mark_ask(ctx, &s->mark, s->count);
    while (s->first_open < s->count && s->e[s->first_open].holders == all_nodes(s)) {
        s->first_open++;
    }
    offer(ctx, s, s->first_open, true);
}

/* [origin, id...] (at most a batch): delivers the new ones and acknowledges them all once
 * durable, with [this node, id...]. */
static void gossip(tr_ctx *ctx, bc_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, slot;
    int64_t origin;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n < 1 || n - 1 > TR_BCAST_BATCH_MAX ||
        tr_mp_read_int(&r, &origin) != 0 || origin < 0 || origin >= s->place.node_count) {
        return;
    }
    heard_from(s, (uint32_t)origin);
    for (uint32_t i = 0; i < n - 1; i++) {
        if (tr_mp_read_int(&r, &s->ids[i]) != 0) {
            return;
        }
    }
    for (uint32_t i = 0; i < n - 1; i++) {
        bc_entry *e = find(s, s->ids[i], &slot);
        if (e == NULL || (s->bugs & TR_BCAST_BUG_NO_DEDUP)) {
            bool fresh = e == NULL;
            if ((e = deliver(ctx, s, s->ids[i])) == NULL) {
                return; /* full, or the store failed: no acknowledgement */
            }
            if (fresh && (s->bugs & TR_BCAST_BUG_NO_RETRY)) {
                send_once(ctx, s, s->ids[i]);
            }
        }
        e->holders |= (uint64_t)1 << origin;
    }
    size_t len = encode_batch(s, s->ids, n - 1);
    (void)tr_reply_durable(ctx, msg, TR_BCAST_ACK, s->buf, len);
}

/* Newer messages are durable: the peers get those at once, and the later ones are asked
 * about. */
static void durable(tr_ctx *ctx, bc_state *s, const tr_msg *msg) {
    uint32_t from = (uint32_t)s->mark.durable;
    if (tr__durable_mark_answer(&s->mark, msg)) {
        offer(ctx, s, from, false);
        (void)tr__durable_mark_ask(ctx, &s->mark, s->count);
    }
}

static void acked(bc_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, slot;
    int64_t origin, id;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n < 1 || tr_mp_read_int(&r, &origin) != 0 || origin < 0 ||
        origin >= s->place.node_count) {
        return;
    }
    heard_from(s, (uint32_t)origin);
    for (uint32_t i = 1; i < n && tr_mp_read_int(&r, &id) == 0; i++) {
        bc_entry *e = find(s, id, &slot);
        if (e != NULL) {
            e->holders |= (uint64_t)1 << origin;
        }
    }
}

/* ---- requests --------------------------------------------------------------------------- */

static void broadcast(tr_ctx *ctx, bc_state *s, const tr_msg *msg) {
    int64_t id;
    uint32_t slot;
    if (tr_msg_read_ints(msg, &id, 1) != 1 || id < 0 || id > TR_BCAST_ID_MAX) {
        (void)tr_reply_str(ctx, msg, "bad request: [id], 0 <= id < 2^40", false);
        return;
    }
    if (find(s, id, &slot) == NULL) {
        if (deliver(ctx, s, id) == NULL) {
            (void)tr_reply_str(ctx, msg, s->count == TR_BCAST_MSGS_MAX ? "full" : "store error",
                               false);
            return;
        }
        if (s->bugs & TR_BCAST_BUG_NO_RETRY) {
            send_once(ctx, s, id);
        }
    }
    (void)tr_reply_int(ctx, msg, id, true);
}

/* read: [id...]; state: [id, deliveries, ...]. */
static void answer(tr_ctx *ctx, bc_state *s, const tr_msg *msg) {
    bool state = msg->type == TR_BCAST_STATE;
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->buf, sizeof s->buf);
    tr_mp_write_array(&w, state ? 2 * s->count : s->count);
    uint8_t *p = tr_mp_writer_room(&w, 18 * (size_t)s->count); /* reads are many: no call per id */
    if (p != NULL) {
        for (uint32_t i = 0; i < s->count; i++) {
            p = tr_mp_put_int(p, s->e[i].id);
            p = state ? tr_mp_put_uint(p, s->e[i].deliveries) : p;
        }
        tr_mp_writer_advance(&w, p);
    } else {
        for (uint32_t i = 0; i < s->count; i++) {
            tr_mp_write_int(&w, s->e[i].id);
            if (state) {
                tr_mp_write_uint(&w, s->e[i].deliveries);
            }
        }
    }
    (void)tr_reply(ctx, msg, msg->type, s->buf, w.len);
}

static int bc_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    bc_state *s = state;
    switch (msg->type) {
    case TR_BCAST_BROADCAST: broadcast(ctx, s, msg); break;
    case TR_BCAST_READ:
    case TR_BCAST_STATE: answer(ctx, s, msg); break;
    case TR_BCAST_GOSSIP: gossip(ctx, s, msg); break;
    case TR_BCAST_ACK: acked(s, msg); break;
    case TR_BCAST_TICK: tick(ctx, s); break;
    case TR_MSG_DURABLE: durable(ctx, s, msg); break;
    default: break;
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__broadcast_behaviour = {
    .name = TR_BCAST_NAME, .state_size = sizeof(bc_state), .init = bc_init, .receive = bc_receive};
