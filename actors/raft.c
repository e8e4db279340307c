/* raft.c — the Raft protocol (troupe.h, "Raft"; docs/raft.md): election with randomised
 * timeouts, log replication, commit, read-index reads, snapshots sent to followers that are
 * too far behind. The log and its durable form are actors/raft_log.c. The public tr_raft is
 * the caller's memory for a tr__raft (raft_internal.h).
 *
 * Durability: every reply to a peer (vote, append acknowledgement) is sent with
 * tr_reply_durable, so it leaves only once the term, vote and entries it vouches for are
 * durable; a candidate asks for votes only once its own vote is durable; the leader counts
 * itself towards a majority only for entries it knows durable (tr_durable_notify).
 * Time is counted in ticks of a periodic timer, so a clock jump does not start an election;
 * a leader that has not heard from a majority for election_ticks steps down.
 * Pre-vote (Raft dissertation 9.6): a replica whose election timer runs out first asks the
 * others whether they would vote for it in the next term, without raising its own; one that
 * heard from a leader within election_ticks, or whose log is more up to date, says no. Only
 * with a majority of yeses does it raise the term and ask for votes, so a replica coming back
 * from a partition cannot depose a leader that a majority still follows.
 * Membership (Raft dissertation 4.1): one replica added or removed at a time. The
 * configuration is a log entry that takes effect on a replica as soon as it is in its log;
 * votes, commits, reads and the quorum check count the current configuration's majority. A
 * leader accepts a change only when the previous one and an entry of its own term are
 * committed; a replica to be added first receives the log as a learner (not counted) and the
 * entry is appended once it holds everything committed. A leader that removed itself leads
 * until that entry commits, without counting itself, then steps down; a replica outside its
 * configuration starts no election. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/raft_internal.h"

#define OUT_MAX 1024 /* an applied command's output */

_Static_assert(sizeof(tr__raft) <= sizeof(tr_raft), "TR_RAFT_SIZE holds a replica");
_Static_assert(_Alignof(tr__raft) <= _Alignof(tr_raft), "tr_raft is aligned for a replica");

static tr__raft *priv(tr_raft *r) {
    return (tr__raft *)r;
}

/* ---- sending ------------------------------------------------------------------------------ */

static int send_to(tr__raft *r, tr_ctx *ctx, uint32_t i, uint32_t type, const tr_mp_writer *w) {
    if (w->err) {
        return w->err;
    }
    return tr_send_name(ctx, r->peers[i], r->cfg.msg_base + type, w->buf, w->len);
}

/* An answer to a peer's message, sent once every write issued so far is durable. */
static void respond(tr__raft *r, tr_ctx *ctx, const tr_msg *to, uint32_t type, tr_mp_writer *w) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.from = to->from;
    m.trace = to->trace;
    if (w->err == 0 &&
        tr_reply_durable(ctx, &m, r->cfg.msg_base + type, w->buf, w->len) == TR_ENOTSUP) {
        (void)tr_reply(ctx, &m, r->cfg.msg_base + type, w->buf, w->len); /* no store */
    }
}

static void writer(tr__raft *r, tr_mp_writer *w, uint32_t fields) {
    tr_mp_writer_init(w, r->buf, TR__RAFT_BUF);
    tr_mp_write_array(w, fields);
    tr_mp_write_uint(w, r->term);
    tr_mp_write_uint(w, r->cfg.node_index);
}

/* ---- pending proposals and reads ---------------------------------------------------------- */

static tr__raft_pending *pending_add(tr__raft *r, const tr_msg *req) {
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

static void pending_finish(tr__raft *r, tr_ctx *ctx, uint32_t k, int status, const void *out,
                           size_t len) {
    tr__raft_pending p = r->pending[k];
    r->pending[k] = r->pending[--r->pending_count];
    p.req.body = p.read ? p.body : NULL;
    r->cfg.done(r->cfg.ud, ctx, &p.req, status, out, len);
}

static bool is_member(const tr__raft *r, uint32_t i) {
    return (r->members >> i & 1) != 0;
}

static uint32_t self_bit(const tr__raft *r) {
    return is_member(r, r->cfg.node_index) ? 1u << r->cfg.node_index : 0;
}

/* Whether the replicas of `bits` are a majority of the current configuration. */
static bool quorum(const tr__raft *r, uint32_t bits) {
    uint32_t need =
        r->cfg.bugs & TR_RAFT_BUG_STATIC_MAJORITY ? r->cfg.node_count / 2 + 1 : r->majority;
    return (uint32_t)__builtin_popcount(bits & r->members) >= need;
}

/* The leader replicates to the configuration's members and to a learner about to join. */
static bool replicates_to(const tr__raft *r, uint32_t i) {
    return i != r->cfg.node_index && (is_member(r, i) || r->learner == (int32_t)i);
}

/* Leadership lost: reads and a change still waiting for its learner fail (not proposed). */
static void fail_reads(tr__raft *r, tr_ctx *ctx) {
    r->learner = -1;
    for (uint32_t k = 0; k < r->pending_count;) {
        if (r->pending[k].read || (r->pending[k].change && r->pending[k].index == 0)) {
            pending_finish(r, ctx, k, TR_EAGAIN, NULL, 0);
        } else {
            k++;
        }
    }
}

static void check_reads(tr__raft *r, tr_ctx *ctx) {
    for (uint32_t k = 0; k < r->pending_count;) {
        tr__raft_pending *p = &r->pending[k];
        uint32_t acks = self_bit(r);
        for (uint32_t i = 0; p->read && i < r->cfg.node_count; i++) {
            acks |= i != r->cfg.node_index && r->acked_seq[i] >= p->seq ? 1u << i : 0;
        }
        if (p->read && quorum(r, acks) && r->applied >= p->index) {
            pending_finish(r, ctx, k, 0, NULL, 0);
        } else {
            k++;
        }
    }
}

/* ---- roles --------------------------------------------------------------------------------- */

static void reset_election(tr__raft *r, tr_ctx *ctx) {
    uint64_t e = r->cfg.election_ticks;
    r->election_due = r->ticks + e + tr_random(ctx) % e;
}

static void become_follower(tr__raft *r, tr_ctx *ctx, int32_t leader) {
    if (r->role == TR_RAFT_LEADER) {
        fail_reads(r, ctx);
    }
    r->role = TR_RAFT_FOLLOWER;
    r->leader = leader;
    r->vote_wait = false;
    r->prevoting = false;
}

/* A message of a later term: adopt it (durably) and follow. */
static void observe_term(tr__raft *r, tr_ctx *ctx, uint64_t term) {
    if (term > r->term) {
        r->term = term;
        r->voted_for = -1;
        (void)tr__raft_save_term(r, ctx);
        become_follower(r, ctx, -1);
    }
}

/* Asks to be told when the log up to last_index is durable (one request outstanding). */
static void want_durable(tr__raft *r, tr_ctx *ctx) {
    uint64_t token;
    if (r->durable_wait || r->durable_index >= r->last_index) {
        return;
    }
    if (tr_durable_notify(ctx, &token) == 0) {
        r->durable_wait = true;
        r->durable_token = token;
        r->durable_target = r->last_index;
    } else {
        r->durable_index = r->last_index; /* no store: nothing to wait for */
    }
}

static void broadcast(tr__raft *r, tr_ctx *ctx, bool heartbeat);

static void become_leader(tr__raft *r, tr_ctx *ctx) {
    r->role = TR_RAFT_LEADER;
    r->leader = (int32_t)r->cfg.node_index;
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        r->next[i] = r->last_index + 1;
        r->match[i] = 0;
        r->acked_seq[i] = 0;
    }
    r->heard = 0;
    r->quorum_check = r->ticks;
    /* entries written as a follower may have been replaced since their notify was asked */
    r->durable_wait = false;
    r->durable_index = 0;
    r->learner = -1;
    (void)tr__raft_log_append(r, ctx, r->term, NULL, 0, 0); /* the no-op that commits the term */
    want_durable(r, ctx);
    broadcast(r, ctx, false);
}

static void tally(tr__raft *r, tr_ctx *ctx) {
    if (r->role == TR_RAFT_CANDIDATE && quorum(r, r->votes)) {
        become_leader(r, ctx);
    }
}

/* [term, from, last index, last term, pre]: a vote request for `term`, or with pre a pre-vote
 * request for the term the sender would start. */
static void send_vote_requests(tr__raft *r, tr_ctx *ctx, uint64_t term, bool pre) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, r->buf, TR__RAFT_BUF);
    tr_mp_write_array(&w, 5);
    tr_mp_write_uint(&w, term);
    tr_mp_write_uint(&w, r->cfg.node_index);
    tr_mp_write_uint(&w, r->last_index);
    tr_mp_write_uint(&w, tr__raft_term_at(r, r->last_index));
    tr_mp_write_bool(&w, pre);
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        if (i != r->cfg.node_index && is_member(r, i)) {
            (void)send_to(r, ctx, i, TR__RAFT_VOTE, &w);
        }
    }
}

static void ask_votes(tr__raft *r, tr_ctx *ctx) {
    r->vote_wait = false;
    r->votes |= 1u << r->cfg.node_index;
    send_vote_requests(r, ctx, r->term, false);
    tally(r, ctx);
}

static void become_candidate(tr__raft *r, tr_ctx *ctx) {
    if (r->role == TR_RAFT_LEADER) {
        fail_reads(r, ctx);
    }
    r->role = TR_RAFT_CANDIDATE;
    r->leader = -1;
    r->term++;
    r->voted_for = (int32_t)r->cfg.node_index;
    r->votes = 0;
    r->elections++;
    reset_election(r, ctx);
    (void)tr__raft_save_term(r, ctx);
    if (tr_durable_notify(ctx, &r->vote_token) == 0) {
        r->vote_wait = true; /* votes are asked once our own is durable */
    } else {
        ask_votes(r, ctx);
    }
}

static void tally_prevotes(tr__raft *r, tr_ctx *ctx) {
    if (r->prevoting && quorum(r, r->prevotes)) {
        r->prevoting = false;
        become_candidate(r, ctx);
    }
}

/* The election timer ran out: ask whether a majority would vote for us in term + 1. */
static void start_prevote(tr__raft *r, tr_ctx *ctx) {
    if (r->role == TR_RAFT_CANDIDATE) {
        become_follower(r, ctx, -1); /* the election failed; the next one starts over */
    }
    if (!is_member(r, r->cfg.node_index)) {
        reset_election(r, ctx); /* outside the configuration: it cannot lead, so it waits */
        return;
    }
    if (r->cfg.bugs & TR_RAFT_BUG_NO_PREVOTE) {
        become_candidate(r, ctx); /* planted: straight to a new term */
        return;
    }
    r->prevoting = true; /* the leader we knew stays our hint until another is known */
    r->prevotes = 1u << r->cfg.node_index;
    reset_election(r, ctx);
    send_vote_requests(r, ctx, r->term + 1, true);
    tally_prevotes(r, ctx);
}

/* ---- commit and apply ---------------------------------------------------------------------- */

static void apply_committed(tr__raft *r, tr_ctx *ctx) {
    uint8_t out[OUT_MAX], cmd[TR_RAFT_COMMAND_MAX];
    while (r->applied < r->commit) {
        uint64_t i = r->applied + 1;
        size_t len = 0;
        uint32_t n = 0;
        int rc = tr__raft_len_at(r, i) ? tr__raft_entry_read(r, ctx, i, cmd, &n) : 0;
        if (rc != 0) {
            break; /* the store cannot give it back: stop applying rather than skip it */
        }
        rc = n ? r->cfg.apply(r->cfg.ud, ctx, i, cmd, n, out, sizeof out, &len) : 0;
        r->applied = i;
        for (uint32_t k = 0; k < r->pending_count; k++) {
            tr__raft_pending *p = &r->pending[k];
            if (!p->read && p->index == i) {
                bool ours = p->term == tr__raft_term_at(r, i);
                pending_finish(r, ctx, k, ours ? rc : TR_EAGAIN, out, ours && !rc ? len : 0);
                break;
            }
        }
    }
    if (r->applied - r->snap_index >= r->cfg.snapshot_every) {
        (void)tr__raft_compact(r, ctx);
    }
    check_reads(r, ctx);
}

static void send_append(tr__raft *r, tr_ctx *ctx, uint32_t i, bool heartbeat);

static void advance_commit(tr__raft *r, tr_ctx *ctx) {
    if (r->cfg.bugs & TR_RAFT_BUG_EARLY_COMMIT) {
        r->commit = r->last_index; /* planted: nobody else has it yet */
    }
    for (uint64_t n = r->last_index; n > r->commit && tr__raft_term_at(r, n) == r->term; n--) {
        uint32_t holders = r->durable_index >= n ? self_bit(r) : 0;
        for (uint32_t i = 0; i < r->cfg.node_count; i++) {
            holders |= i != r->cfg.node_index && r->match[i] >= n ? 1u << i : 0;
        }
        if (quorum(r, holders)) {
            r->commit = n;
            break;
        }
    }
    apply_committed(r, ctx);
    if (r->role == TR_RAFT_LEADER && !is_member(r, r->cfg.node_index) &&
        r->commit >= r->conf_index) {
        /* its removal is committed: tell the others, then stop leading */
        for (uint32_t i = 0; i < r->cfg.node_count; i++) {
            if (replicates_to(r, i)) {
                send_append(r, ctx, i, true);
            }
        }
        become_follower(r, ctx, -1);
        reset_election(r, ctx);
    }
}

/* ---- the leader's appends ------------------------------------------------------------------- */

/* The stored snapshot is read into the scratch buffer behind room for the message's head,
 * which is then written in front of it: no second copy of the snapshot. */
static void send_snapshot(tr__raft *r, tr_ctx *ctx, uint32_t i) {
    enum {
        HEAD = 64
    };
    uint8_t head[HEAD];
    size_t len = 0;
    uint32_t members = 0;
    tr_mp_writer w;
    if (tr__raft_snapshot_load(r, ctx, HEAD, &len, &members) != 0) {
        return;
    }
    /* [term, from, index, its term, seq, (its configuration unless every replica), data] */
    tr_mp_writer_init(&w, head, sizeof head);
    tr_mp_write_array(&w, members == r->all ? 6 : 7);
    tr_mp_write_uint(&w, r->term);
    tr_mp_write_uint(&w, r->cfg.node_index);
    tr_mp_write_uint(&w, r->snap_index);
    tr_mp_write_uint(&w, r->snap_term);
    tr_mp_write_uint(&w, r->seq);
    if (members != r->all) {
        tr_mp_write_uint(&w, members);
    }
    uint8_t *p = tr_mp_writer_room(&w, 5);
    if (p == NULL) {
        return;
    }
    tr_mp_writer_advance(&w, tr_mp_put_bin_header(p, (uint32_t)len));
    memcpy(r->buf + HEAD + 16 - w.len, head, w.len);
    (void)tr_send_name(ctx, r->peers[i], r->cfg.msg_base + TR__RAFT_SNAP,
                       r->buf + HEAD + 16 - w.len, w.len + len);
    r->next[i] = r->snap_index + 1;
}

/* Entries from next (the first unacknowledged one for a heartbeat), up to batch_max and what
 * fits in one message. */
static void send_append(tr__raft *r, tr_ctx *ctx, uint32_t i, bool heartbeat) {
    uint64_t next = heartbeat && r->match[i] ? r->match[i] + 1 : r->next[i], end = next;
    if (next <= r->snap_index) {
        send_snapshot(r, ctx, i);
        return;
    }
    size_t bytes = 64;
    while (end <= r->last_index && end - next < r->cfg.batch_max) {
        bytes += tr__raft_len_at(r, end) + 24u;
        if (bytes > TR__RAFT_BUF) {
            break;
        }
        end++;
    }
    tr_mp_writer w;
    writer(r, &w, 7);
    tr_mp_write_uint(&w, next - 1);
    tr_mp_write_uint(&w, tr__raft_term_at(r, next - 1));
    tr_mp_write_uint(&w, r->commit);
    tr_mp_write_uint(&w, r->seq);
    tr_mp_write_array(&w, (uint32_t)(end - next));
    uint8_t cmd[TR_RAFT_COMMAND_MAX];
    for (uint64_t k = next; k < end; k++) {
        uint32_t n = 0;
        if (tr__raft_len_at(r, k) && tr__raft_entry_read(r, ctx, k, cmd, &n) != 0) {
            return;
        }
        uint32_t conf = r->confs[k % r->cap]; /* [term, command] or [term, "", members] */
        tr_mp_write_array(&w, conf ? 3 : 2);
        tr_mp_write_uint(&w, tr__raft_term_at(r, k));
        tr_mp_write_bin(&w, cmd, n);
        if (conf) {
            tr_mp_write_uint(&w, conf);
        }
    }
    if (send_to(r, ctx, i, TR__RAFT_APPEND, &w) == 0 && end > r->next[i]) {
        r->next[i] = end;
    }
}

static void broadcast(tr__raft *r, tr_ctx *ctx, bool heartbeat) {
    r->last_broadcast = r->ticks;
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        if (replicates_to(r, i)) {
            send_append(r, ctx, i, heartbeat);
        }
    }
    advance_commit(r, ctx); /* a cluster of one commits alone */
}

/* ---- membership ----------------------------------------------------------------------------- */

#define LEARNER_TICKS 20 /* election timeouts a replica to be added has to catch up */

/* Appends the configuration `members` for the change pending at k and sends it; on an error
 * the pending change stays as it was and the error is returned. */
static int propose_conf(tr__raft *r, tr_ctx *ctx, uint32_t k, uint32_t members) {
    int rc = tr__raft_log_append(r, ctx, r->term, NULL, 0, members);
    if (rc != 0) {
        return rc;
    }
    r->pending[k].index = r->last_index;
    r->pending[k].term = r->term;
    want_durable(r, ctx);
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        if (replicates_to(r, i) && r->next[i] <= r->last_index) {
            send_append(r, ctx, i, false);
        }
    }
    advance_commit(r, ctx);
    return 0;
}

/* The change waiting for its learner to catch up (index 0), or -1. */
static int32_t waiting_change(const tr__raft *r) {
    for (uint32_t k = 0; k < r->pending_count; k++) {
        if (r->pending[k].change && r->pending[k].index == 0) {
            return (int32_t)k;
        }
    }
    return -1;
}

/* The learner holds every committed entry: the addition is appended. */
static void propose_addition(tr__raft *r, tr_ctx *ctx) {
    int32_t k = waiting_change(r);
    uint32_t node = (uint32_t)r->learner;
    r->learner = -1;
    if (k >= 0) {
        int rc = propose_conf(r, ctx, (uint32_t)k, r->members | 1u << node);
        if (rc != 0) {
            pending_finish(r, ctx, (uint32_t)k, rc, NULL, 0);
        }
    }
}

/* The learner did not catch up in time (down or cut off): the change fails, unproposed. */
static void learner_give_up(tr__raft *r, tr_ctx *ctx) {
    int32_t k = waiting_change(r);
    r->learner = -1;
    if (k >= 0) {
        pending_finish(r, ctx, (uint32_t)k, TR_ETIMEDOUT, NULL, 0);
    }
}

/* ---- receiving ---------------------------------------------------------------------------- */

/* Reads an array of `n` fields whose first `k` are unsigned ints; the sender's index is the
 * second field and must name another replica. */
static int read_head(tr__raft *r, tr_mp_reader *rd, const tr_msg *m, uint32_t n, uint64_t *v,
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

/* A pre-vote for `term` (v: term, from, last index, last term): yes when the term is later
 * than ours, the log at least as up to date, and no leader was heard from within
 * election_ticks (nothing changes here: no term, no vote). */
static bool prevote_grant(const tr__raft *r, const uint64_t *v, bool up_to_date) {
    bool leader_alive = r->role == TR_RAFT_LEADER ||
                        (r->leader >= 0 && r->ticks - r->leader_tick < r->cfg.election_ticks);
    return v[0] > r->term && up_to_date && !leader_alive;
}

static int on_vote(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[4]; /* term, from, last index, last term */
    bool pre = false;
    tr_mp_reader rd;
    if (read_head(r, &rd, m, 5, v, 4) != 0 || tr_mp_read_bool(&rd, &pre) != 0 ||
        tr_mp_reader_done(&rd) != 0) {
        return TR_EPROTO;
    }
    if (!pre) {
        observe_term(r, ctx, v[0]);
    }
    uint64_t my_last_term = tr__raft_term_at(r, r->last_index);
    bool up_to_date = v[3] > my_last_term || (v[3] == my_last_term && v[2] >= r->last_index);
    bool grant = pre ? prevote_grant(r, v, up_to_date)
                     : v[0] == r->term && (r->voted_for < 0 || r->voted_for == (int32_t)v[1]) &&
                           up_to_date && r->role == TR_RAFT_FOLLOWER;
    if (grant && !pre) {
        r->voted_for = (int32_t)v[1];
        (void)tr__raft_save_term(r, ctx);
        reset_election(r, ctx);
    }
    tr_mp_writer w; /* [our term, from, granted, the pre-vote's term or 0] */
    writer(r, &w, 4);
    tr_mp_write_bool(&w, grant);
    tr_mp_write_uint(&w, pre ? v[0] : 0);
    respond(r, ctx, m, TR__RAFT_VOTE_RESP, &w);
    return 0;
}

static int on_vote_resp(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[2], pre_term = 0;
    bool granted = false;
    tr_mp_reader rd;
    if (read_head(r, &rd, m, 4, v, 2) != 0 || tr_mp_read_bool(&rd, &granted) != 0 ||
        tr_mp_read_uint(&rd, &pre_term) != 0 || tr_mp_reader_done(&rd) != 0) {
        return TR_EPROTO;
    }
    observe_term(r, ctx, v[0]);
    if (pre_term != 0) {
        if (granted && r->prevoting && pre_term == r->term + 1) {
            r->prevotes |= 1u << v[1];
            tally_prevotes(r, ctx);
        }
        return 0;
    }
    if (granted && v[0] == r->term && r->role == TR_RAFT_CANDIDATE) {
        r->votes |= 1u << v[1];
        if (!r->vote_wait) {
            tally(r, ctx);
        }
    }
    return 0;
}

static void ack_append(tr__raft *r, tr_ctx *ctx, const tr_msg *m, bool ok, uint64_t match,
                       uint64_t seq) {
    tr_mp_writer w;
    writer(r, &w, 5);
    tr_mp_write_bool(&w, ok);
    tr_mp_write_uint(&w, match);
    tr_mp_write_uint(&w, seq);
    respond(r, ctx, m, TR__RAFT_APPEND_RESP, &w);
}

/* A message from the leader of `term`: follow it. False when the term is stale. */
static bool accept_leader(tr__raft *r, tr_ctx *ctx, uint64_t term, uint32_t from) {
    if (term < r->term) {
        return false;
    }
    observe_term(r, ctx, term);
    if (r->role != TR_RAFT_FOLLOWER || r->leader != (int32_t)from) {
        become_follower(r, ctx, (int32_t)from);
    }
    r->prevoting = false;
    r->leader_tick = r->ticks;
    reset_election(r, ctx);
    return true;
}

/* Stores entry idx of term t unless the log has it; 1 stored or had, 0 no room, <0 refused. */
static int take_entry(tr__raft *r, tr_ctx *ctx, uint64_t idx, uint64_t t, const uint8_t *b,
                      uint32_t n, uint32_t conf) {
    if (idx <= r->snap_index || (idx <= r->last_index && tr__raft_term_at(r, idx) == t)) {
        return 1;
    }
    if (idx <= r->last_index) {
        if (idx <= r->commit) {
            return TR_ECORRUPT; /* a committed entry differs: only a planted bug does this */
        }
        tr__raft_log_truncate(r, ctx, idx);
        if (r->durable_index >= idx) {
            r->durable_index = idx - 1;
        }
        r->durable_wait = false;
    }
    int rc = tr__raft_log_append(r, ctx, t, b, n, conf);
    return rc == 0 ? 1 : rc == TR_EFULL ? 0 : rc;
}

static int on_append(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[6]; /* term, from, prev index, prev term, commit, seq */
    uint32_t n = 0;
    tr_mp_reader rd;
    if (read_head(r, &rd, m, 7, v, 6) != 0 || tr_mp_read_array(&rd, &n) != 0 ||
        n > r->cfg.batch_max || v[2] > UINT64_MAX - n) {
        return TR_EPROTO;
    }
    if (!accept_leader(r, ctx, v[0], (uint32_t)v[1])) {
        ack_append(r, ctx, m, false, r->commit, v[5]);
        return 0;
    }
    uint64_t prev = v[2], done = prev;
    if (prev > r->last_index || (prev >= r->snap_index && tr__raft_term_at(r, prev) != v[3])) {
        ack_append(r, ctx, m, false, prev > r->last_index ? r->last_index : r->commit, v[5]);
        return 0;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t two = 0, len = 0;
        uint64_t t = 0, conf = 0;
        const uint8_t *b = NULL;
        if (tr_mp_read_array(&rd, &two) != 0 || (two != 2 && two != 3) ||
            tr_mp_read_uint(&rd, &t) != 0 || tr_mp_read_bin(&rd, &b, &len) != 0 || t > v[0] ||
            len > TR_RAFT_COMMAND_MAX) {
            return TR_EPROTO;
        }
        if (two == 3 && (tr_mp_read_uint(&rd, &conf) != 0 || conf == 0 || conf > r->all || len)) {
            return TR_EPROTO;
        }
        int rc = take_entry(r, ctx, prev + 1 + k, t, b, len, (uint32_t)conf);
        if (rc <= 0) {
            break;
        }
        done = prev + 1 + k;
    }
    want_durable(r, ctx);
    uint64_t commit = v[4] < done ? v[4] : done;
    if (commit > r->commit && commit <= r->last_index) {
        r->commit = commit;
        apply_committed(r, ctx);
    }
    ack_append(r, ctx, m, true, done, v[5]);
    return 0;
}

static int on_snapshot(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[6] = {0}; /* term, from, index, its term, seq, members (when not all) */
    const uint8_t *b = NULL;
    uint32_t len = 0;
    tr_mp_reader rd;
    bool conf = read_head(r, &rd, m, 6, v, 5) != 0;
    if ((conf && (read_head(r, &rd, m, 7, v, 6) != 0 || v[5] == 0 || v[5] > r->all)) ||
        tr_mp_read_bin(&rd, &b, &len) != 0 || len > TR_RAFT_SNAPSHOT_MAX || v[3] > v[0]) {
        return TR_EPROTO;
    }
    uint32_t members = conf ? (uint32_t)v[5] : r->all;
    if (!accept_leader(r, ctx, v[0], (uint32_t)v[1])) {
        ack_append(r, ctx, m, false, r->commit, v[4]);
        return 0;
    }
    if (v[2] > r->commit) {
        /* proposals at or below the snapshot: their outcome is not known here (no answer) */
        for (uint32_t k = 0; k < r->pending_count;) {
            if (!r->pending[k].read && r->pending[k].index <= v[2]) {
                r->pending[k] = r->pending[--r->pending_count];
            } else {
                k++;
            }
        }
        if (tr__raft_install(r, ctx, v[2], v[3], members, b, len) != 0) {
            return TR_EPROTO;
        }
    }
    ack_append(r, ctx, m, true, v[2] > r->commit ? r->commit : v[2], v[4]);
    return 0;
}

static int on_append_resp(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[2], match = 0, seq = 0;
    bool ok = false;
    tr_mp_reader rd;
    if (read_head(r, &rd, m, 5, v, 2) != 0 || tr_mp_read_bool(&rd, &ok) != 0 ||
        tr_mp_read_uint(&rd, &match) != 0 || tr_mp_read_uint(&rd, &seq) != 0) {
        return TR_EPROTO;
    }
    observe_term(r, ctx, v[0]);
    if (r->role != TR_RAFT_LEADER || v[0] != r->term) {
        return 0;
    }
    uint32_t i = (uint32_t)v[1];
    if (match > r->last_index || seq > r->seq) {
        return TR_EPROTO;
    }
    r->heard |= 1u << i;
    r->acked_seq[i] = seq > r->acked_seq[i] ? seq : r->acked_seq[i];
    if (ok) {
        r->match[i] = match > r->match[i] ? match : r->match[i];
        r->next[i] = r->next[i] > r->match[i] + 1 ? r->next[i] : r->match[i] + 1;
    } else {
        r->next[i] = (match > r->match[i] ? match : r->match[i]) + 1;
    }
    if (!ok || r->next[i] <= r->last_index) {
        send_append(r, ctx, i, false);
    }
    if (r->learner == (int32_t)i && r->match[i] >= r->commit) {
        propose_addition(r, ctx);
    }
    advance_commit(r, ctx);
    return 0;
}

static void on_tick(tr__raft *r, tr_ctx *ctx) {
    r->ticks++;
    if (r->role != TR_RAFT_LEADER) {
        if (r->ticks >= r->election_due) {
            start_prevote(r, ctx);
        }
        return;
    }
    /* planted stale-leader-read: a leader cut off keeps leading, and answering reads */
    bool stale = r->cfg.bugs & TR_RAFT_BUG_STALE_LEADER_READ;
    if (r->learner >= 0 && r->ticks - r->learner_since >= LEARNER_TICKS * r->cfg.election_ticks) {
        learner_give_up(r, ctx);
    }
    if (!stale && r->ticks - r->quorum_check >= r->cfg.election_ticks) {
        uint32_t heard = r->heard | self_bit(r);
        r->heard = 0;
        r->quorum_check = r->ticks;
        if (!quorum(r, heard)) {
            become_follower(r, ctx, -1); /* cut off from a majority: stop leading */
            reset_election(r, ctx);
            return;
        }
    }
    if (r->ticks - r->last_broadcast >= r->cfg.heartbeat_ticks) {
        broadcast(r, ctx, true);
    }
}

static void on_durable(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    int64_t status = -1;
    tr_mp_reader rd;
    tr_mp_reader_init(&rd, m->body, m->body_len);
    bool ok = tr_mp_read_int(&rd, &status) == 0 && status == 0;
    if (r->vote_wait && m->corr == r->vote_token) {
        if (ok && r->role == TR_RAFT_CANDIDATE) {
            ask_votes(r, ctx);
        }
        r->vote_wait = false;
        return;
    }
    r->durable_wait = false;
    if (ok && r->durable_target > r->durable_index) {
        r->durable_index = r->durable_target <= r->last_index ? r->durable_target : r->last_index;
    }
    want_durable(r, ctx);
    if (r->role == TR_RAFT_LEADER) {
        advance_commit(r, ctx);
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
    case TR__RAFT_VOTE: rc = on_vote(r, ctx, m); break;
    case TR__RAFT_VOTE_RESP: rc = on_vote_resp(r, ctx, m); break;
    case TR__RAFT_APPEND: rc = on_append(r, ctx, m); break;
    case TR__RAFT_APPEND_RESP: rc = on_append_resp(r, ctx, m); break;
    default: rc = on_snapshot(r, ctx, m); break;
    }
    r->bad_messages += rc != 0;
    return 1;
}

/* ---- the service's calls -------------------------------------------------------------------- */

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
    tr__raft_pending *p = pending_add(r, req);
    p->index = r->last_index;
    p->term = r->term;
    want_durable(r, ctx);
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        if (replicates_to(r, i) && r->next[i] <= r->last_index) {
            send_append(r, ctx, i, false);
        }
    }
    advance_commit(r, ctx);
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
    tr__raft_pending *p = pending_add(r, req);
    if (!p) {
        return TR_EFULL;
    }
    p->read = true;
    p->index = r->commit;
    p->seq = ++r->seq;
    memcpy(p->body, req->body, req->body_len);
    p->req.body_len = req->body_len;
    broadcast(r, ctx, true);
    check_reads(r, ctx);
    return 0;
}

int tr_raft_change(tr_raft *pub, tr_ctx *ctx, const tr_msg *req, uint32_t node, bool add) {
    tr__raft *r = priv(pub);
    if (!r || !ctx || !req || node >= r->cfg.node_count) {
        return TR_EINVAL;
    }
    if (r->role != TR_RAFT_LEADER) {
        return TR_EAGAIN;
    }
    uint32_t bit = 1u << node, next = add ? r->members | bit : r->members & ~bit;
    if (next == r->members || next == 0) {
        return TR_EINVAL;
    }
    /* planted: a change goes in at once, whatever is in flight */
    bool racing = r->cfg.bugs & TR_RAFT_BUG_CONCURRENT_CHANGES;
    bool settled =
        r->conf_index <= r->commit && r->learner < 0 && tr__raft_term_at(r, r->commit) == r->term;
    if (!settled && !racing) {
        return TR_EBUSY;
    }
    tr__raft_pending *p = pending_add(r, req);
    if (!p) {
        return TR_EFULL;
    }
    p->change = true;
    p->term = r->term;
    if (!add || racing) {
        int rc = propose_conf(r, ctx, r->pending_count - 1, next);
        r->pending_count -= rc != 0; /* still the last one: nothing ran in between */
        return rc;
    }
    r->learner = (int32_t)node; /* it catches up first; on_append_resp proposes the entry */
    r->learner_since = r->ticks;
    send_append(r, ctx, node, true);
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

/* ---- lifecycle -------------------------------------------------------------------------------- */

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
        reset_election(r, ctx);
    }
    return rc;
}
