/* raft_internal.h — the state of one Raft replica (troupe.h, "Raft"), shared by
 * actors/raft.c (the protocol: election, replication, commit, reads) and actors/raft_log.c
 * (the log: the terms of the entries above the snapshot, in a ring, and the entries themselves
 * in the actor's store, read back when they are sent or applied).
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
/* Recovers term, vote, snapshot and log from the store. */
int tr__raft_recover(tr__raft *r, tr_ctx *ctx);
/* Invariants 1, 2 and 4; 0 or TR_ECORRUPT. */
int tr__raft_log_check(const tr__raft *r);

#endif
