/* raft_election.c — a Raft replica's roles and elections (troupe.h, "Raft"; docs/raft.md):
 * follower, pre-candidate, candidate, leader; the randomised election timeout; vote and
 * pre-vote requests and their answers. The state is raft_internal.h's tr__raft; raft.c
 * dispatches the messages here.
 *
 * Pre-vote (Raft dissertation 9.6): a replica whose election timer runs out first asks the
 * others whether they would vote for it in the next term, without raising its own; one that
 * heard from a leader within election_ticks, or whose log is more up to date, says no. Only
 * with a majority of yeses does it raise the term and ask for votes, so a replica coming back
 * from a partition cannot depose a leader that a majority still follows.
 * A candidate asks for votes only once its own vote is durable; a vote is answered with
 * tr_reply_durable, so it leaves only once the vote it grants is durable. A replica outside
 * the current configuration starts no election; votes count that configuration's majority.
 * Threading: only the owning actor touches a replica, inside its callbacks. */
#include <string.h>

#include "actors/raft_internal.h"

void tr__raft_reset_election(tr__raft *r, tr_ctx *ctx) {
    uint64_t e = r->cfg.election_ticks;
    r->election_due = r->ticks + e + tr_random(ctx) % e;
}

void tr__raft_become_follower(tr__raft *r, tr_ctx *ctx, int32_t leader) {
    if (r->role == TR_RAFT_LEADER) {
        tr__raft_fail_reads(r, ctx);
    }
    r->role = TR_RAFT_FOLLOWER;
    r->leader = leader;
    r->vote_wait = false;
    r->prevoting = false;
}

/* A message of a later term: adopt it (durably) and follow. */
void tr__raft_observe_term(tr__raft *r, tr_ctx *ctx, uint64_t term) {
    if (term > r->term) {
        r->term = term;
        r->voted_for = -1;
        (void)tr__raft_save_term(r, ctx);
        tr__raft_become_follower(r, ctx, -1);
    }
}

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
    tr__raft_want_durable(r, ctx);
    tr__raft_broadcast(r, ctx, false);
}

static void tally(tr__raft *r, tr_ctx *ctx) {
    if (r->role == TR_RAFT_CANDIDATE && tr__raft_quorum(r, r->votes)) {
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
        if (i != r->cfg.node_index && tr__raft_is_member(r, i)) {
            (void)tr__raft_send_to(r, ctx, i, TR__RAFT_VOTE, &w);
        }
    }
}

void tr__raft_ask_votes(tr__raft *r, tr_ctx *ctx) {
    r->vote_wait = false;
    r->votes |= 1u << r->cfg.node_index;
    send_vote_requests(r, ctx, r->term, false);
    tally(r, ctx);
}

static void become_candidate(tr__raft *r, tr_ctx *ctx) {
    if (r->role == TR_RAFT_LEADER) {
        tr__raft_fail_reads(r, ctx);
    }
    r->role = TR_RAFT_CANDIDATE;
    r->leader = -1;
    r->term++;
    r->voted_for = (int32_t)r->cfg.node_index;
    r->votes = 0;
    r->elections++;
    tr__raft_reset_election(r, ctx);
    (void)tr__raft_save_term(r, ctx);
    if (tr_durable_notify(ctx, &r->vote_token) == 0) {
        r->vote_wait = true; /* votes are asked once our own is durable */
    } else {
        tr__raft_ask_votes(r, ctx);
    }
}

static void tally_prevotes(tr__raft *r, tr_ctx *ctx) {
    if (r->prevoting && tr__raft_quorum(r, r->prevotes)) {
        r->prevoting = false;
        become_candidate(r, ctx);
    }
}

/* The election timer ran out: ask whether a majority would vote for us in term + 1. */
void tr__raft_start_prevote(tr__raft *r, tr_ctx *ctx) {
    if (r->role == TR_RAFT_CANDIDATE) {
        tr__raft_become_follower(r, ctx, -1); /* the election failed; the next one starts over */
    }
    if (!tr__raft_is_member(r, r->cfg.node_index)) {
        tr__raft_reset_election(r,
                                ctx); /* outside the configuration: it cannot lead, so it waits */
        return;
    }
    if (r->cfg.bugs & TR_RAFT_BUG_NO_PREVOTE) {
        become_candidate(r, ctx); /* planted: straight to a new term */
        return;
    }
    r->prevoting = true; /* the leader we knew stays our hint until another is known */
    r->prevotes = 1u << r->cfg.node_index;
    tr__raft_reset_election(r, ctx);
    send_vote_requests(r, ctx, r->term + 1, true);
    tally_prevotes(r, ctx);
}

/* A pre-vote for `term` (v: term, from, last index, last term): yes when the term is later
 * than ours, the log at least as up to date, and no leader was heard from within
 * election_ticks (nothing changes here: no term, no vote). */
static bool prevote_grant(const tr__raft *r, const uint64_t *v, bool up_to_date) {
    bool leader_alive = r->role == TR_RAFT_LEADER ||
                        (r->leader >= 0 && r->ticks - r->leader_tick < r->cfg.election_ticks);
    return v[0] > r->term && up_to_date && !leader_alive;
}

int tr__raft_on_vote(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[4]; /* term, from, last index, last term */
    bool pre = false;
    tr_mp_reader rd;
    if (tr__raft_read_head(r, &rd, m, 5, v, 4) != 0 || tr_mp_read_bool(&rd, &pre) != 0 ||
        tr_mp_reader_done(&rd) != 0) {
        return TR_EPROTO;
    }
    if (!pre) {
        tr__raft_observe_term(r, ctx, v[0]);
    }
    uint64_t my_last_term = tr__raft_term_at(r, r->last_index);
    bool up_to_date = v[3] > my_last_term || (v[3] == my_last_term && v[2] >= r->last_index);
    bool grant = pre ? prevote_grant(r, v, up_to_date)
                     : v[0] == r->term && (r->voted_for < 0 || r->voted_for == (int32_t)v[1]) &&
                           up_to_date && r->role == TR_RAFT_FOLLOWER;
    if (grant && !pre) {
        r->voted_for = (int32_t)v[1];
        (void)tr__raft_save_term(r, ctx);
        tr__raft_reset_election(r, ctx);
    }
    tr_mp_writer w; /* [our term, from, granted, the pre-vote's term or 0] */
    tr__raft_writer(r, &w, 4);
    tr_mp_write_bool(&w, grant);
    tr_mp_write_uint(&w, pre ? v[0] : 0);
    tr__raft_respond(r, ctx, m, TR__RAFT_VOTE_RESP, &w);
    return 0;
}

int tr__raft_on_vote_resp(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[2], pre_term = 0;
    bool granted = false;
    tr_mp_reader rd;
    if (tr__raft_read_head(r, &rd, m, 4, v, 2) != 0 || tr_mp_read_bool(&rd, &granted) != 0 ||
        tr_mp_read_uint(&rd, &pre_term) != 0 || tr_mp_reader_done(&rd) != 0) {
        return TR_EPROTO;
    }
    tr__raft_observe_term(r, ctx, v[0]);
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
