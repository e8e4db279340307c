/* raft_internal.h — the state of one Raft replica (troupe.h, "Raft") and the calls between
 * its files: actors/raft.c (entry points, shared helpers, pending proposals and reads),
 * actors/raft_election.c (roles and votes), actors/raft_replicate.c (appends, snapshots,
 * commit and apply), actors/raft_members.c (membership changes) and actors/raft_log.c (the
 * log: the terms of the entries above the snapshot, in a ring, and the entries themselves in
 * the actor's store, read back when they are sent or applied).
 *
 * Invariants (checked by tr__raft_log_check):
 *   1. snap_index <= applied <= commit <= last_index, and last_index - snap_index <= cap.
 *   2. The entry of index i (snap_index < i <= last_index) has term terms[i % cap] and command
 *      length lens[i % cap]; a term is at least the one before it and at most `term`.
 *   3. The store holds key "re"+index for every entry above the snapshot (its term and
 *      command), "rs" the snapshot, "rt" term and vote; a crash may lose a suffix of the
 *      writes, never reorder them.
 *   4. Membership: confs[i % cap] is nonzero only for a configuration entry (no command:
 *      lens 0), the mask of replicas it names; `members` is the mask of the latest such entry
 *      in the log, at `conf_index`, or else the snapshot's (`snap_members`, conf_index at or
 *      below the snapshot). Every mask is nonzero and within node_count.
 * Ownership: a tr__raft lives in the caller's tr_raft (TR_RAFT_SIZE bytes) and allocates
 * nothing; pending requests are copies (body included). Only the owning actor touches it,
 * inside its callbacks. */
#ifndef TR_ACTORS_RAFT_INTERNAL_H
#define TR_ACTORS_RAFT_INTERNAL_H

#include "troupe.h"

/* Scratch: one append message, a snapshot message or a store value fits. */
#define TR__RAFT_BUF (TR_RAFT_SNAPSHOT_MAX + 4096)
/* The top bit of a stored term ("re" entry or "rs" snapshot) marks a membership mask: the
 * entry's value is then the mask (4 bytes), the snapshot's ends with it. */
#define TR__RAFT_CONF_FLAG (1ull << 63)

enum {
    TR__RAFT_TICK = 0, /* msg_base + k */
    TR__RAFT_VOTE,
    TR__RAFT_VOTE_RESP,
    TR__RAFT_APPEND,
    TR__RAFT_APPEND_RESP,
    TR__RAFT_SNAP
};

typedef struct tr__raft_pending {
    bool read;
    bool change;          /* a membership change; index 0 while its learner catches up */
    uint64_t index, term; /* a proposal: its entry */
    uint64_t seq;         /* a read: the heartbeat round that confirms leadership */
    tr_msg req;           /* a copy; req.body points into body */
    uint8_t body[TR_RAFT_READ_BODY_MAX];
} tr__raft_pending;

typedef struct tr__raft {
    tr_raft_config cfg;
    char peers[TR_RAFT_NODES_MAX][TR_NAME_MAX + 1]; /* "name@node" of each replica */
    uint32_t majority;                              /* of the current configuration */
    uint32_t all; /* the initial configuration: every replica of node_count */

    /* durable: term and vote ("rt") */
    uint64_t term;
    int32_t voted_for; /* -1: none in this term */

    /* the log (raft_log.c) */
    uint64_t snap_index, snap_term;
    uint64_t last_index;
    uint32_t cap;
    uint64_t terms[TR_RAFT_LOG_MAX];
    uint16_t lens[TR_RAFT_LOG_MAX];  /* 0: a leader's no-op or a configuration */
    uint16_t confs[TR_RAFT_LOG_MAX]; /* a configuration entry's mask, else 0 */
    uint64_t commit, applied;

    /* membership (invariant 4) */
    uint32_t members, snap_members;
    uint64_t conf_index;
    int32_t learner;        /* leader: the replica an add waits on to catch up, or -1 */
    uint64_t learner_since; /* ticks when it started */

    tr_raft_role role;
    int32_t leader;
    uint64_t ticks, election_due, last_broadcast, quorum_check;
    uint32_t votes;       /* bit i: replica i granted */
    bool prevoting;       /* follower: asking for pre-votes for term + 1 (no term raised) */
    uint32_t prevotes;    /* bit i: replica i would vote for us in term + 1 */
    uint64_t leader_tick; /* ticks when the leader was last heard from */
    bool vote_wait;       /* candidate: vote requests wait for the durable vote */
    uint64_t vote_token;  /* its tr_durable_notify token */
    bool durable_wait;    /* a notify for the log is outstanding */
    uint64_t durable_token, durable_target, durable_index;

    /* leader */
    uint64_t next[TR_RAFT_NODES_MAX], match[TR_RAFT_NODES_MAX];
    uint64_t acked_seq[TR_RAFT_NODES_MAX], seq;
    uint32_t heard; /* bit i: replica i answered since the last quorum check */

    tr__raft_pending pending[TR_RAFT_PENDING_MAX];
    uint32_t pending_count;

    uint64_t timer_id;
    uint64_t elections, bad_messages;
    uint8_t buf[TR__RAFT_BUF]; /* scratch for encoding and store reads */
} tr__raft;

/* raft_log.c */
/* The term of entry i: snap_term at the snapshot, 0 below it or past the end. */
uint64_t tr__raft_term_at(const tr__raft *r, uint64_t i);
/* The command length of entry i (above the snapshot), 0 for a no-op. */
uint32_t tr__raft_len_at(const tr__raft *r, uint64_t i);
/* Reads entry i's command from the store into buf (TR_RAFT_COMMAND_MAX bytes); *len. */
int tr__raft_entry_read(tr__raft *r, tr_ctx *ctx, uint64_t i, uint8_t *buf, uint32_t *len);
/* Appends one entry and writes it to the store: a command (data, len), or with conf nonzero
 * a configuration naming the replicas of mask conf (data unused), which takes effect at
 * once. TR_EFULL at capacity. */
int tr__raft_log_append(tr__raft *r, tr_ctx *ctx, uint64_t term, const void *data, uint32_t len,
                        uint32_t conf);
/* Sets members, conf_index and majority from the latest configuration entry in the log, or
 * the snapshot's. */
void tr__raft_conf_refresh(tr__raft *r);
/* The configuration in force at index i (snap_index <= i <= last_index). */
uint32_t tr__raft_conf_at(const tr__raft *r, uint64_t i);
/* Drops entries from index `from` on (from > commit), in memory and in the store. */
void tr__raft_log_truncate(tr__raft *r, tr_ctx *ctx, uint64_t from);
/* Writes term and vote. */
int tr__raft_save_term(tr__raft *r, tr_ctx *ctx);
/* Takes a snapshot at `applied` through cfg.snapshot and drops the log below it. */
int tr__raft_compact(tr__raft *r, tr_ctx *ctx);
/* Installs a leader's snapshot (index, term, configuration mask, data): restores the state
 * machine and keeps the entries after it when they agree. */
int tr__raft_install(tr__raft *r, tr_ctx *ctx, uint64_t index, uint64_t term, uint32_t members,
                     const void *data, size_t len);
/* Reads the stored snapshot into r->buf + off: its data starts at r->buf + off + 16 and is
 * *len bytes long (off + 16 + TR_RAFT_SNAPSHOT_MAX + 4 must fit in TR__RAFT_BUF); *members
 * its configuration. */
int tr__raft_snapshot_load(tr__raft *r, tr_ctx *ctx, size_t off, size_t *len, uint32_t *members);
/* The index and term of the snapshot a load put at r->buf + off. */
void tr__raft_snapshot_head(const tr__raft *r, size_t off, uint64_t *index, uint64_t *term);
/* Recovers term, vote, snapshot and log from the store. */
int tr__raft_recover(tr__raft *r, tr_ctx *ctx);
/* Invariants 1, 2 and 4; 0 or TR_ECORRUPT. */
int tr__raft_log_check(const tr__raft *r);

/* Membership of the current configuration (invariant 4), the tests every file counts by. */
static inline bool tr__raft_is_member(const tr__raft *r, uint32_t i) {
    return (r->members >> i & 1) != 0;
}

static inline uint32_t tr__raft_self_bit(const tr__raft *r) {
    return tr__raft_is_member(r, r->cfg.node_index) ? 1u << r->cfg.node_index : 0;
}

/* Whether the replicas of `bits` are a majority of the current configuration. */
static inline bool tr__raft_quorum(const tr__raft *r, uint32_t bits) {
    uint32_t need =
        r->cfg.bugs & TR_RAFT_BUG_STATIC_MAJORITY ? r->cfg.node_count / 2 + 1 : r->majority;
    return (uint32_t)__builtin_popcount(bits & r->members) >= need;
}

/* The leader replicates to the configuration's members and to a learner about to join. */
static inline bool tr__raft_replicates_to(const tr__raft *r, uint32_t i) {
    return i != r->cfg.node_index && (tr__raft_is_member(r, i) || r->learner == (int32_t)i);
}

/* raft.c: messages and pending requests */
/* Sends the message in *w (borrowed) to replica i, as type msg_base + type. */
int tr__raft_send_to(tr__raft *r, tr_ctx *ctx, uint32_t i, uint32_t type, const tr_mp_writer *w);
/* Answers the peer message `to` once every write issued so far is durable. */
void tr__raft_respond(tr__raft *r, tr_ctx *ctx, const tr_msg *to, uint32_t type, tr_mp_writer *w);
/* Starts a message of `fields` fields in r->buf: our term and index first. */
void tr__raft_writer(tr__raft *r, tr_mp_writer *w, uint32_t fields);
/* Reads the head of a peer message: an array of n fields whose first k are unsigned ints
 * (into v), the second naming another replica. 0 or TR_EPROTO. */
int tr__raft_read_head(tr__raft *r, tr_mp_reader *rd, const tr_msg *m, uint32_t n, uint64_t *v,
                       uint32_t k);
/* A copy of req (body not copied) in a free pending slot, or NULL when all are taken. */
tr__raft_pending *tr__raft_pending_add(tr__raft *r, const tr_msg *req);
/* Answers pending request k through cfg.done and frees its slot (the last one moves in). */
void tr__raft_pending_finish(tr__raft *r, tr_ctx *ctx, uint32_t k, int status, const void *out,
                             size_t len);
/* Leadership lost: fails the pending reads and an unproposed change (TR_EAGAIN). */
void tr__raft_fail_reads(tr__raft *r, tr_ctx *ctx);
/* Answers the pending reads a majority has confirmed and the state machine has caught up on. */
void tr__raft_check_reads(tr__raft *r, tr_ctx *ctx);

/* raft_election.c */
void tr__raft_reset_election(tr__raft *r, tr_ctx *ctx);
void tr__raft_become_follower(tr__raft *r, tr_ctx *ctx, int32_t leader);
/* A message of a later term: adopt it (durably) and follow. */
void tr__raft_observe_term(tr__raft *r, tr_ctx *ctx, uint64_t term);
/* A candidate whose own vote is durable: asks the others for theirs. */
void tr__raft_ask_votes(tr__raft *r, tr_ctx *ctx);
/* The election timer ran out. */
void tr__raft_start_prevote(tr__raft *r, tr_ctx *ctx);
/* A vote or pre-vote request, an answer to one; 0 or TR_EPROTO. */
int tr__raft_on_vote(tr__raft *r, tr_ctx *ctx, const tr_msg *m);
int tr__raft_on_vote_resp(tr__raft *r, tr_ctx *ctx, const tr_msg *m);

/* raft_replicate.c */
/* Asks to be told when the log up to last_index is durable (one request outstanding). */
void tr__raft_want_durable(tr__raft *r, tr_ctx *ctx);
/* Commits what a majority holds (a leader), applies it and answers its proposals. */
void tr__raft_advance_commit(tr__raft *r, tr_ctx *ctx);
/* Sends replica i the entries from its next (a snapshot when they are compacted away). */
void tr__raft_send_append(tr__raft *r, tr_ctx *ctx, uint32_t i, bool heartbeat);
/* Sends every replica its appends (or a heartbeat), then advances the commit. */
void tr__raft_broadcast(tr__raft *r, tr_ctx *ctx, bool heartbeat);
/* The leader's entry just appended (the last one) becomes pending request p's (borrowed, one
 * of r->pending): it is made durable, sent to every replica that lacks it, and the commit
 * advances (a cluster of one commits it at once). */
void tr__raft_replicate_now(tr__raft *r, tr_ctx *ctx, tr__raft_pending *p);
/* An append, a snapshot, an acknowledgement of either; 0 or TR_EPROTO. */
int tr__raft_on_append(tr__raft *r, tr_ctx *ctx, const tr_msg *m);
int tr__raft_on_snapshot(tr__raft *r, tr_ctx *ctx, const tr_msg *m);
int tr__raft_on_append_resp(tr__raft *r, tr_ctx *ctx, const tr_msg *m);

/* raft_members.c */
/* The learner holds every committed entry: appends the addition it waited for. */
void tr__raft_propose_addition(tr__raft *r, tr_ctx *ctx);
/* A leader's tick: fails the waiting addition whose learner did not catch up in time. */
void tr__raft_learner_check(tr__raft *r, tr_ctx *ctx);

#endif
