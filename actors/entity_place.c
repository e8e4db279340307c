/* entity_place.c — where entities live (entity_internal.h): the placement table shard ->
 * (owner, epoch) as the state machine of the hosts' Raft group, the leader's assignments, and
 * the node leases that fence them in time.
 *
 * A command is an array of [shard, node, epoch] triples; apply takes a triple only when its
 * epoch is exactly the table's + 1, so two proposals for one shard (a replay, two leaders)
 * cannot both win. Every host asks the leader to renew its lease every lease_ms / 4; the
 * leader answers after a read-index (it still leads, and its table is at least as new as any
 * committed command) with the shards the node owns. The node trusts the answer until its own
 * clock passes the renew's send time + lease_ms. The leader moves a node's shards only when
 * lease_ms * 1.1 has passed by its own clock since it last answered that node and since it
 * became leader: with clocks that drift less than 10% over a lease and do not jump, the
 * node's lease has ended by then. */
#include <stdio.h>
#include <string.h>

#include "actors/entity_internal.h"
#include "actors/fmt.h"

static void node_name(const tr__entity_host *s, uint32_t node, char *out, size_t cap) {
    (void)tr__fmt_str3(out, cap, s->arg.type->name, "@", s->arg.names[node]);
}

/* ---- the state machine ----------------------------------------------------------------------- */

static int apply(void *ud, tr_ctx *ctx, uint64_t index, const void *cmd, size_t len, void *out,
                 size_t cap, size_t *out_len) {
    tr__entity_host *s = ud;
    uint32_t n = 0, k = 0;
    *out_len = 0;
    if (len == 0) {
        return 0; /* the leader's no-op */
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, cmd, len);
    if (tr_mp_read_array(&r, &n) != 0 || n > TR_ENTITY_SHARDS) {
        return TR_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v[3] = {0};
        tr_mp_read_array(&r, &k);
        for (uint32_t j = 0; j < 3; j++) {
            tr_mp_read_uint(&r, &v[j]);
        }
        if (r.err != 0 || k != 3) {
            return TR_EINVAL;
        }
        if (v[0] < TR_ENTITY_SHARDS && v[1] < s->arg.node_count && v[2] == s->epoch[v[0]] + 1) {
            s->owner[v[0]] = (int32_t)v[1];
            s->epoch[v[0]] = v[2];
        }
        s->moving &= v[0] < TR_ENTITY_SHARDS ? ~(1ull << v[0]) : ~0ull;
    }
    return 0;
}

static int snapshot(void *ud, tr_ctx *ctx, void *buf, size_t cap, size_t *len) {
    const tr__entity_host *s = ud;
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_array(&w, TR_ENTITY_SHARDS);
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS; i++) {
        tr_mp_write_array(&w, 2);
        tr_mp_write_int(&w, s->owner[i]);
        tr_mp_write_uint(&w, s->epoch[i]);
    }
    *len = w.len;
    return w.err;
}

static int restore(void *ud, tr_ctx *ctx, const void *data, size_t len) {
    tr__entity_host *s = ud;
    uint32_t n = 0, k = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, data, len);
    if (tr_mp_read_array(&r, &n) != 0 || n != TR_ENTITY_SHARDS) {
        return TR_ECORRUPT;
    }
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS; i++) {
        int64_t owner = -1;
        uint64_t epoch = 0;
        tr_mp_read_array(&r, &k);
        tr_mp_read_int(&r, &owner);
        tr_mp_read_uint(&r, &epoch);
        if (r.err != 0 || k != 2 || owner < -1 || owner >= (int64_t)s->arg.node_count) {
            return TR_ECORRUPT;
        }
        s->owner[i] = (int32_t)owner;
        s->epoch[i] = epoch;
    }
    return tr_mp_reader_done(&r) == 0 ? 0 : TR_ECORRUPT;
}

/* ---- the leader ------------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static bool answered_within(const tr__entity_host *s, uint32_t node, uint64_t now, uint64_t ms) {
    return (s->answered_mask >> node & 1u) && now < s->answered_ms[node] + ms;
}

static bool live(const tr__entity_host *s, uint32_t node, uint64_t now) {
    if (tr__entity_no_fencing(s)) {
        return !(s->down_mask >> node & 1u);
    }
    return answered_within(s, node, now, s->lease_ms);
}

/* A node whose shards may move: its lease has certainly ended (or, with the planted bug, the
 * failure detector says it is down). */
static bool lapsed(const tr__entity_host *s, uint32_t node, uint64_t now) {
    if (tr__entity_no_fencing(s)) {
        return (s->down_mask >> node & 1u) != 0;
    }
    uint64_t bound = (uint64_t)s->lease_ms * 11 / 10;
    return now >= s->lead_since_ms + bound && !answered_within(s, node, now, bound);
}

/* The live node of highest rendezvous weight for shard, or -1. */
static int32_t target(const tr__entity_host *s, uint32_t shard, uint64_t now) {
    int32_t best = -1;
    uint64_t best_w = 0;
    for (uint32_t k = 0; k < s->arg.node_count; k++) {
        uint64_t w = mix64((uint64_t)shard * 0x9e3779b97f4a7c15ull ^ mix64(k + 1));
        if (live(s, k, now) && (best < 0 || w > best_w)) {
            best = (int32_t)k;
            best_w = w;
        }
    }
    return best;
}

static bool propose(tr__entity_host *s, tr_ctx *ctx, const uint8_t *cmd, size_t len) {
    tr_msg req;
    memset(&req, 0, sizeof req);
    req.type = s->arg.type->msg_base + TR__ENTITY_ASSIGN;
    req.from = tr_self(ctx);
    if (tr_raft_propose(&s->raft, ctx, &req, cmd, len) != 0) {
        return false;
    }
    s->assign_until_ms = tr_now_ms(ctx) + s->lease_ms;
    return true;
}

void tr__entity_place_tick(tr__entity_host *s, tr_ctx *ctx) {
    tr_raft_status st;
    tr_raft_status_get(&s->raft, &st);
    uint64_t now = tr_now_ms(ctx);
    if (st.role != TR_RAFT_LEADER) {
        s->lead_term = 0;
        return;
    }
    if (st.term != s->lead_term) { /* what an earlier leader granted is unknown */
        s->lead_term = st.term;
        s->lead_since_ms = now;
        s->answered_mask = 0;
        s->assign_until_ms = 0;
        s->moving = 0; /* answers wait for this term's no-op, which settles any older move */
    }
    if (now < s->assign_until_ms || st.applied_index < st.commit_index) {
        return; /* one proposal at a time, on a table that is up to date */
    }
    uint8_t cmd[16 + TR_ENTITY_SHARDS * 12];
    uint32_t n = 0;
    uint32_t pick[TR_ENTITY_SHARDS], node[TR_ENTITY_SHARDS];
    uint64_t moving = 0;
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS; i++) {
        int32_t to = s->owner[i] < 0                         ? (int32_t)(i % s->arg.node_count)
                     : lapsed(s, (uint32_t)s->owner[i], now) ? target(s, i, now)
                                                             : -1;
        if (to >= 0 && to != s->owner[i]) {
            pick[n] = i;
            node[n++] = (uint32_t)to;
            moving |= s->owner[i] >= 0 ? 1ull << i : 0;
        }
    }
    if (n == 0) {
        return;
    }
    tr_mp_writer w;
    tr_mp_writer_init(&w, cmd, sizeof cmd);
    tr_mp_write_array(&w, n);
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_write_array(&w, 3);
        tr_mp_write_uint(&w, pick[i]);
        tr_mp_write_uint(&w, node[i]);
        tr_mp_write_uint(&w, s->epoch[pick[i]] + 1);
    }
    if (w.err == 0 && propose(s, ctx, cmd, w.len)) {
        s->moving |= moving;
    }
}

/* ---- leases ---------------------------------------------------------------------------------- */

void tr__entity_renew_send(tr__entity_host *s, tr_ctx *ctx) {
    int leader = tr_raft_leader(&s->raft);
    uint64_t now = tr_now_ms(ctx);
    if (leader < 0 || now < s->renew_due_ms) {
        return;
    }
    s->renew_due_ms = now + s->lease_ms / 4;
    uint8_t buf[24];
    char to[2 * TR_NAME_MAX + 2];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, s->arg.node_index);
    tr_mp_write_uint(&w, now);
    node_name(s, (uint32_t)leader, to, sizeof to);
    (void)tr_send_name(ctx, to, s->arg.type->msg_base + TR__ENTITY_RENEW, buf, w.len);
}

/* The leader, after the read-index of a renew: answer with the node's shards. */
static void renew_answer(tr__entity_host *s, tr_ctx *ctx, const tr_msg *req) {
    int64_t f[2] = {-1, 0};
    if (tr_msg_read_ints(req, f, 2) != 2 || f[0] < 0 || f[0] >= (int64_t)s->arg.node_count) {
        return;
    }
    uint32_t node = (uint32_t)f[0];
    uint64_t mask = 0;
    uint8_t buf[32 + TR_ENTITY_SHARDS * 9];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS; i++) {
        mask |= (uint64_t)(s->owner[i] == (int32_t)node) << i;
    }
    mask &= ~s->moving; /* a node losing a shard must not get a new lease on it */
    tr_mp_write_array(&w, 3);
    tr_mp_write_uint(&w, (uint64_t)f[1]);
    tr_mp_write_uint(&w, mask);
    tr_mp_write_array(&w, TR_ENTITY_SHARDS);
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS; i++) {
        tr_mp_write_uint(&w, s->epoch[i]);
    }
    if (w.err == 0 &&
        tr_reply(ctx, req, s->arg.type->msg_base + TR__ENTITY_RENEW_ACK, buf, w.len) == 0) {
        s->answered_ms[node] = tr_now_ms(ctx);
        s->answered_mask |= 1u << node;
    }
}

void tr__entity_renew_serve(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m) {
    (void)tr_raft_read(&s->raft, ctx, m); /* not the leader, or full: the node asks again */
}

bool tr__entity_renew_ack(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m) {
    uint64_t sent = 0, mask = 0, epochs[TR_ENTITY_SHARDS];
    uint32_t n = 0, k = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    tr_mp_read_array(&r, &n);
    tr_mp_read_uint(&r, &sent);
    tr_mp_read_uint(&r, &mask);
    tr_mp_read_array(&r, &k);
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS && k == TR_ENTITY_SHARDS; i++) {
        tr_mp_read_uint(&r, &epochs[i]);
    }
    if (tr_mp_reader_done(&r) != 0 || n != 3 || k != TR_ENTITY_SHARDS || sent > tr_now_ms(ctx) ||
        (s->leased && sent < s->lease_sent_ms)) {
        return false; /* malformed, from the future, or older than the lease we hold */
    }
    s->leased = true;
    s->lease_sent_ms = sent;
    s->owned = mask;
    memcpy(s->owned_epoch, epochs, sizeof epochs);
    return true;
}

void tr__entity_node_event(tr__entity_host *s, const tr_msg *m) {
    uint32_t node = m->from.node - 1; /* node ids are index + 1 */
    if (m->from.node == 0 || node >= s->arg.node_count) {
        return;
    }
    if (m->type == TR_MSG_NODE_DOWN) {
        s->down_mask |= 1u << node;
    } else {
        s->down_mask &= ~(1u << node);
    }
}

bool tr__entity_leased(tr__entity_host *s, tr_ctx *ctx) {
    return s->leased &&
           (tr__entity_no_fencing(s) || tr_now_ms(ctx) < s->lease_sent_ms + (uint64_t)s->lease_ms);
}

bool tr__entity_owns(tr__entity_host *s, tr_ctx *ctx, uint32_t shard, uint64_t epoch) {
    return tr__entity_leased(s, ctx) && (s->owned >> shard & 1u) && s->owned_epoch[shard] == epoch;
}

/* ---- Raft's callbacks and init --------------------------------------------------------------- */

static void done(void *ud, tr_ctx *ctx, const tr_msg *req, int status, const void *out,
                 size_t len) {
    tr__entity_host *s = ud;
    if (req->type == s->arg.type->msg_base + TR__ENTITY_ASSIGN) {
        s->assign_until_ms = 0;                  /* applied or lost: the next tick looks again */
        s->moving = status == 0 ? s->moving : 0; /* replaced: nothing moves */
    } else if (req->type == s->arg.type->msg_base + TR__ENTITY_RENEW && status == 0) {
        renew_answer(s, ctx, req);
    }
}

int tr__entity_place_init(tr__entity_host *s, tr_ctx *ctx) {
    const char *names[TR_RAFT_NODES_MAX];
    for (uint32_t i = 0; i < TR_RAFT_NODES_MAX; i++) {
        s->arg.names[i][TR_NAME_MAX] = '\0';
        names[i] = s->arg.names[i];
    }
    for (uint32_t i = 0; i < TR_ENTITY_SHARDS; i++) {
        s->owner[i] = -1;
    }
    for (uint32_t id = 1; tr__entity_no_fencing(s) && id <= s->arg.node_count; id++) {
        if (id != tr_self(ctx).node) {
            (void)tr_monitor_node(ctx, id);
        }
    }
    tr_raft_config cfg;
    tr_raft_config_init(&cfg);
    cfg.node_index = s->arg.node_index;
    cfg.node_count = s->arg.node_count;
    cfg.node_names = names;
    cfg.name = s->arg.type->name;
    cfg.msg_base = s->arg.type->msg_base;
    cfg.ud = s;
    cfg.apply = apply;
    cfg.snapshot = snapshot;
    cfg.restore = restore;
    cfg.done = done;
    if (s->arg.type->election_ms != 0) {
        cfg.tick_ms = TR__ENTITY_RAFT_TICK_MS;
        cfg.election_ticks =
            (s->arg.type->election_ms + TR__ENTITY_RAFT_TICK_MS - 1) / TR__ENTITY_RAFT_TICK_MS;
    }
    return tr_raft_init(&s->raft, ctx, &cfg);
}
