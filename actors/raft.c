/* raft.c — a Raft replica's entry points (troupe.h, "Raft"; docs/raft.md): the messages it
 * receives, dispatched to the protocol's files; the service's proposals, reads and queries;
 * its configuration and start. Also the helpers those files share: the messages' common head,
 * the answer sent once durable, and the pending proposals and reads. The public tr_raft is
 * the caller's memory for a tr__raft (raft_internal.h).
 *
 * The protocol: actors/raft_election.c (roles, pre-votes and votes),
 * actors/raft_replicate.c (the leader's appends and snapshots, a follower's log, commit and
 * apply), actors/raft_members.c (membership changes), actors/raft_log.c (the log and its
 * durable form).
 *
 * Durability: every reply to a peer (vote, append acknowledgement) is sent with
 * tr_reply_durable, so it leaves only once the term, vote and entries it vouches for are
 * durable; a candidate asks for votes only once its own vote is durable; the leader counts
 * itself towards a majority only for entries it knows durable (tr_durable_notify).
 * Time is counted in ticks of a periodic timer, so a clock jump does not start an election;
 * a leader that has not heard from a majority for election_ticks steps down.
 * Reads (read index): a read waits until a majority has answered a heartbeat sent after it
 * (its seq) and the state machine has applied the commit index it saw; a leader that loses
 * its role fails the reads it holds (TR_EAGAIN).
 * Threading: only the owning actor touches a replica, inside its callbacks. */
#include <stdio.h>
#include <string.h>

#include "actors/raft_internal.h"

_Static_assert(sizeof(tr__raft) <= sizeof(tr_raft), "TR_RAFT_SIZE holds a replica");
_Static_assert(_Alignof(tr__raft) <= _Alignof(tr_raft), "tr_raft is aligned for a replica");

static tr__raft *priv(tr_raft *r) {
    return (tr__raft *)r;
}

int tr__raft_send_to(tr__raft *r, tr_ctx *ctx, uint32_t i, uint32_t type, const tr_mp_writer *w) {
    if (w->err) {
        return w->err;
    }
    return tr_send_name(ctx, r->peers[i], r->cfg.msg_base + type, w->buf, w->len);
}

/* An answer to a peer's message, sent once every write issued so far is durable. */
void tr__raft_respond(tr__raft *r, tr_ctx *ctx, const tr_msg *to, uint32_t type, tr_mp_writer *w) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.from = to->from;
    m.trace = to->trace;
    if (w->err == 0 &&
        tr_reply_durable(ctx, &m, r->cfg.msg_base + type, w->buf, w->len) == TR_ENOTSUP) {
        (void)tr_reply(ctx, &m, r->cfg.msg_base + type, w->buf, w->len); /* no store */
    }
}

void tr__raft_writer(tr__raft *r, tr_mp_writer *w, uint32_t fields) {
    tr_mp_writer_init(w, r->buf, TR__RAFT_BUF);
    tr_mp_write_array(w, fields);
    tr_mp_write_uint(w, r->term);
    tr_mp_write_uint(w, r->cfg.node_index);
}

/* Reads an array of `n` fields whose first `k` are unsigned ints; the sender's index is the
 * second field and must name another replica. */
int tr__raft_read_head(tr__raft *r, tr_mp_reader *rd, const tr_msg *m, uint32_t n, uint64_t *v,
                       uint32_t k) {
    uint32_t count = 0;
    tr_mp_reader_init(rd, m->body, m->body_len);
    if (tr_mp_read_array(rd, &count) != 0 || count != n) {
        return TR_EPROTO;
    }
    for (uint32_t j = 0; j < k; j++) {
        if (tr_mp_read_uint(rd, &v[j]) != 0) {
            return TR_EPROTO;
        }
    }
    return v[1] < r->cfg.node_count && v[1] != r->cfg.node_index ? 0 : TR_EPROTO;
}

tr__raft_pending *tr__raft_pending_add(tr__raft *r, const tr_msg *req) {
    if (r->pending_count == r->cfg.pending_max) {
        return NULL;
    }
    tr__raft_pending *p = &r->pending[r->pending_count++];
    memset(p, 0, sizeof *p);
    p->req.type = req->type;
    p->req.from = req->from;
    p->req.to = req->to;
    p->req.corr = req->corr;
    p->req.trace = req->trace;
    return p;
}

void tr__raft_pending_finish(tr__raft *r, tr_ctx *ctx, uint32_t k, int status, const void *out,
                             size_t len) {
    tr__raft_pending p = r->pending[k];
    r->pending[k] = r->pending[--r->pending_count];
    p.req.body = p.read ? p.body : NULL;
    r->cfg.done(r->cfg.ud, ctx, &p.req, status, out, len);
}

/* Leadership lost: reads and a change still waiting for its learner fail (not proposed). */
void tr__raft_fail_reads(tr__raft *r, tr_ctx *ctx) {
    r->learner = -1;
    for (uint32_t k = 0; k < r->pending_count;) {
        if (r->pending[k].read || (r->pending[k].change && r->pending[k].index == 0)) {
            tr__raft_pending_finish(r, ctx, k, TR_EAGAIN, NULL, 0);
        } else {
            k++;
        }
    }
}

void tr__raft_check_reads(tr__raft *r, tr_ctx *ctx) {
    for (uint32_t k = 0; k < r->pending_count;) {
        tr__raft_pending *p = &r->pending[k];
        uint32_t acks = tr__raft_self_bit(r);
        for (uint32_t i = 0; p->read && i < r->cfg.node_count; i++) {
            acks |= i != r->cfg.node_index && r->acked_seq[i] >= p->seq ? 1u << i : 0;
        }
        if (p->read && tr__raft_quorum(r, acks) && r->applied >= p->index) {
            tr__raft_pending_finish(r, ctx, k, 0, NULL, 0);
        } else {
            k++;
        }
    }
}

static void on_tick(tr__raft *r, tr_ctx *ctx) {
    r->ticks++;
    if (r->role != TR_RAFT_LEADER) {
        if (r->ticks >= r->election_due) {
            tr__raft_start_prevote(r, ctx);
        }
        return;
    }
    /* planted stale-leader-read: a leader cut off keeps leading, and answering reads */
    bool stale = r->cfg.bugs & TR_RAFT_BUG_STALE_LEADER_READ;
    tr__raft_learner_check(r, ctx);
    if (!stale && r->ticks - r->quorum_check >= r->cfg.election_ticks) {
        uint32_t heard = r->heard | tr__raft_self_bit(r);
        r->heard = 0;
        r->quorum_check = r->ticks;
        if (!tr__raft_quorum(r, heard)) {
            tr__raft_become_follower(r, ctx, -1); /* cut off from a majority: stop leading */
            tr__raft_reset_election(r, ctx);
            return;
        }
    }
    if (r->ticks - r->last_broadcast >= r->cfg.heartbeat_ticks) {
        tr__raft_broadcast(r, ctx, true);
    }
}

static void on_durable(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    int64_t status = -1;
    tr_mp_reader rd;
    tr_mp_reader_init(&rd, m->body, m->body_len);
    bool ok = tr_mp_read_int(&rd, &status) == 0 && status == 0;
    if (r->vote_wait && m->corr == r->vote_token) {
        if (ok && r->role == TR_RAFT_CANDIDATE) {
            tr__raft_ask_votes(r, ctx);
        }
        r->vote_wait = false;
        return;
    }
    r->durable_wait = false;
    if (ok && r->durable_target > r->durable_index) {
        r->durable_index = r->durable_target <= r->last_index ? r->durable_target : r->last_index;
    }
    tr__raft_want_durable(r, ctx);
    if (r->role == TR_RAFT_LEADER) {
        tr__raft_advance_commit(r, ctx);
    }
}

int tr_raft_receive(tr_raft *pub, tr_ctx *ctx, const tr_msg *m) {
    tr__raft *r = priv(pub);
    if (m->type == TR_MSG_DURABLE) {
        bool ours = (r->vote_wait && m->corr == r->vote_token) ||
                    (r->durable_wait && m->corr == r->durable_token);
        if (ours) {
            on_durable(r, ctx, m);
        }
        return ours;
    }
    if (m->type < r->cfg.msg_base || m->type >= r->cfg.msg_base + TR_RAFT_MSG_COUNT) {
        return 0;
    }
    int rc = 0;
    switch (m->type - r->cfg.msg_base) {
    case TR__RAFT_TICK: on_tick(r, ctx); break;
    case TR__RAFT_VOTE: rc = tr__raft_on_vote(r, ctx, m); break;
    case TR__RAFT_VOTE_RESP: rc = tr__raft_on_vote_resp(r, ctx, m); break;
    case TR__RAFT_APPEND: rc = tr__raft_on_append(r, ctx, m); break;
    case TR__RAFT_APPEND_RESP: rc = tr__raft_on_append_resp(r, ctx, m); break;
    default: rc = tr__raft_on_snapshot(r, ctx, m); break;
    }
    r->bad_messages += rc != 0;
    return 1;
}

int tr_raft_propose(tr_raft *pub, tr_ctx *ctx, const tr_msg *req, const void *cmd, size_t len) {
    tr__raft *r = priv(pub);
    if (!r || !ctx || !req || !cmd || len == 0) {
        return TR_EINVAL;
    }
    if (len > TR_RAFT_COMMAND_MAX) {
        return TR_ETOOBIG;
    }
    if (r->role != TR_RAFT_LEADER) {
        return TR_EAGAIN;
    }
    if (r->pending_count == r->cfg.pending_max) {
        return TR_EFULL;
    }
    int rc = tr__raft_log_append(r, ctx, r->term, cmd, (uint32_t)len, 0);
    if (rc != 0) {
        return rc;
    }
    tr__raft_replicate_now(r, ctx, tr__raft_pending_add(r, req));
    return 0;
}

int tr_raft_read(tr_raft *pub, tr_ctx *ctx, const tr_msg *req) {
    tr__raft *r = priv(pub);
    if (!r || !ctx || !req) {
        return TR_EINVAL;
    }
    if (req->body_len > TR_RAFT_READ_BODY_MAX) {
        return TR_ETOOBIG;
    }
    if (r->role != TR_RAFT_LEADER) {
        return TR_EAGAIN;
    }
    if (r->cfg.bugs & TR_RAFT_BUG_STALE_LEADER_READ) {
        r->cfg.done(r->cfg.ud, ctx, req, 0, NULL, 0); /* planted: no majority asked */
        return 0;
    }
    if (tr__raft_term_at(r, r->commit) != r->term) {
        return TR_EAGAIN; /* the commit index of this term is not known yet */
    }
    tr__raft_pending *p = tr__raft_pending_add(r, req);
    if (!p) {
        return TR_EFULL;
    }
    p->read = true;
    p->index = r->commit;
    p->seq = ++r->seq;
    memcpy(p->body, req->body, req->body_len);
    p->req.body_len = req->body_len;
    tr__raft_broadcast(r, ctx, true);
    tr__raft_check_reads(r, ctx);
    return 0;
}

int tr_raft_leader(const tr_raft *pub) {
    return pub ? ((const tr__raft *)pub)->leader : -1;
}

void tr_raft_status_get(const tr_raft *pub, tr_raft_status *out) {
    const tr__raft *r = (const tr__raft *)pub;
    *out = (tr_raft_status){.role = r->role,
                            .leader = r->leader,
                            .term = r->term,
                            .commit_index = r->commit,
                            .applied_index = r->applied,
                            .snapshot_index = r->snap_index,
                            .last_index = r->last_index,
                            .elections = r->elections,
                            .bad_messages = r->bad_messages,
                            .leader_silent_ticks =
                                r->role == TR_RAFT_LEADER ? 0 : r->ticks - r->leader_tick,
                            .members = r->members};
}

void tr_raft_config_init(tr_raft_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->msg_base = TR_MSG_USER;
}

static int config_defaults(tr_raft_config *c) {
    if (c->node_count == 0 || c->node_count > TR_RAFT_NODES_MAX || c->node_index >= c->node_count ||
        !c->node_names || !c->name || c->msg_base < TR_MSG_USER || !c->apply || !c->done) {
        return TR_EINVAL;
    }
    c->tick_ms = c->tick_ms ? c->tick_ms : 25;
    c->heartbeat_ticks = c->heartbeat_ticks ? c->heartbeat_ticks : 2;
    c->election_ticks = c->election_ticks ? c->election_ticks : 8;
    c->log_max = c->log_max ? c->log_max : TR_RAFT_LOG_MAX;
    c->batch_max = c->batch_max ? c->batch_max : 64;
    c->snapshot_every = c->snapshot_every ? c->snapshot_every : 256;
    c->pending_max = c->pending_max ? c->pending_max : TR_RAFT_PENDING_MAX;
    bool fits = c->log_max <= TR_RAFT_LOG_MAX && c->pending_max <= TR_RAFT_PENDING_MAX;
    return fits && c->snapshot_every < c->log_max ? 0 : TR_EINVAL;
}

static int peers_init(tr__raft *r) {
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        const char *node = r->cfg.node_names[i];
        int n = snprintf(r->peers[i], sizeof r->peers[i], "%s@%s", r->cfg.name, node ? node : "");
        if (!node || n < 0 || (size_t)n >= sizeof r->peers[i]) {
            return TR_EINVAL;
        }
    }
    r->cfg.node_names = NULL; /* borrowed only during create */
    r->cfg.name = NULL;
    return 0;
}

int tr_raft_init(tr_raft *pub, tr_ctx *ctx, const tr_raft_config *cfg) {
    if (!pub || !ctx || !cfg) {
        return TR_EINVAL;
    }
    tr__raft *r = priv(pub);
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->voted_for = -1;
    r->leader = -1;
    int rc = config_defaults(&r->cfg);
    rc = rc ? rc : peers_init(r);
    if (rc != 0) {
        return rc;
    }
    r->all = (uint32_t)((1ull << r->cfg.node_count) - 1);
    r->members = r->snap_members = r->all;
    r->majority = r->cfg.node_count / 2 + 1;
    r->learner = -1;
    r->cap = r->cfg.log_max;
    rc = tr__raft_recover(r, ctx);
    rc = rc ? rc
            : tr_timer_start(ctx, r->cfg.tick_ms, r->cfg.tick_ms, r->cfg.msg_base + TR__RAFT_TICK,
                             &r->timer_id);
    if (rc == 0) {
        tr__raft_reset_election(r, ctx);
    }
    return rc;
}
