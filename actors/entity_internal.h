/* entity_internal.h — the entity host (troupe.h, "Entities"; docs/entities.md), shared by
 * actors/entity.c (requests, activations, their queues), actors/entity_place.c (the placement
 * table as a Raft state machine, the leader's reassignments, this node's lease) and
 * actors/entity_store.c (the fenced store of entity states every host keeps, and the check's
 * reader of it).
 *
 * Invariants:
 *   1. An activation handles a message only while owns() holds for its shard and epoch: this
 *      node's latest renew answer names the shard with that epoch and the lease it started
 *      (sent time + lease_ms, own clock) has not run out.
 *   2. The table's epoch of a shard only grows, by exactly one per assignment.
 *   3. A store keeps (epoch, seq) of an entity non-decreasing, and refuses any sget or sput
 *      whose epoch is below the shard's fence or the stored epoch.
 *   4. Every queued request is in exactly one list (an activation's queue or the wait list)
 *      and is answered, forwarded or dropped with its list.
 * Ownership: everything lives in the host actor's state (tr__entity_host), allocated by the
 * runtime; nothing is malloc'd. The type is borrowed from the spawn argument (static). */
#ifndef TR_ACTORS_ENTITY_INTERNAL_H
#define TR_ACTORS_ENTITY_INTERNAL_H

#include "troupe.h"

/* The host's message types, msg_base + k (Raft takes the first TR_RAFT_MSG_COUNT). */
enum {
    TR__ENTITY_TICK = TR_RAFT_MSG_COUNT, /* timer: renew, passivation, timeouts, waits */
    TR__ENTITY_RENEW,                    /* [node, sent_ms] to the leader */
    TR__ENTITY_RENEW_ACK,                /* [sent_ms, owned mask, [epoch] * SHARDS] */
    TR__ENTITY_SGET,                     /* [token, id, epoch] */
    TR__ENTITY_SGET_ACK,                 /* [token, node, code, epoch, seq, bytes | nil] */
    TR__ENTITY_SPUT,                     /* [token, id, epoch, seq, bytes] */
    TR__ENTITY_SPUT_ACK,                 /* [token, node, code] */
    TR__ENTITY_ASSIGN                    /* the leader's own proposals (never sent) */
};

enum {
    TR__ENTITY_OK = 0,
    TR__ENTITY_NONE = 1,
    TR__ENTITY_FENCED = 2
};

#define TR__ENTITY_SLOTS 512 /* queued and waiting requests per host */
#define TR__ENTITY_WAIT_MS 500
#define TR__ENTITY_TICK_MS 100
#define TR__ENTITY_RAFT_TICK_MS 25 /* Raft's tick (its default), for election_ms */
#define TR__ENTITY_NO_SLOT (-1)
#define TR__ENTITY_SEEN 256               /* requests remembered against network duplicates */
#define TR__ENTITY_CLIENT_IDS 0x80000000u /* node ids of client connections (not members) */

/* The spawn argument (copied by the runtime). */
typedef struct tr__entity_arg {
    const tr_entity_type *type; /* borrowed: static */
    uint32_t node_index, node_count, bugs;
    char names[TR_RAFT_NODES_MAX][TR_NAME_MAX + 1];
    char bug[32]; /* the run's planted bug (tr_service_env.bug), for the handler; "" none */
} tr__entity_arg;

/* A queued request: a copy, req.body points into body while it is handled. */
typedef struct tr__entity_slot {
    tr_msg req;
    uint64_t until_ms; /* waiting for an owner: the deadline */
    int32_t next;      /* the list's next slot, or TR__ENTITY_NO_SLOT */
    uint8_t body[TR_ENTITY_BODY_MAX];
} tr__entity_slot;

typedef enum tr__entity_phase {
    TR__ACT_FREE = 0,
    TR__ACT_LOADING, /* sget sent to every host: waiting for a majority */
    TR__ACT_READY,   /* handles its queue */
    TR__ACT_WRITING  /* sput sent to every host: waiting for a majority */
} tr__entity_phase;

typedef struct tr__entity_act {
    int64_t id;
    tr__entity_phase phase;
    uint32_t gen;      /* the phase's token: answers to an earlier phase are ignored */
    uint32_t answered; /* nodes that answered this phase (bit per node index) */
    bool agree;        /* loading: every answer so far names the same (epoch, seq) */
    bool has_head;     /* writing: the queue's head is the request it answers */
    uint64_t epoch;    /* the fencing token */
    uint64_t seq;      /* the state's sequence within epoch ordering (loaded or written) */
    uint64_t best_epoch, best_seq;
    uint64_t used_ms, deadline_ms;
    uint64_t resend_at_ms; /* loading or writing: when the phase is sent again (resend_ms) */
    uint64_t handled;      /* messages handled since it was loaded */
    int32_t head, tail;
    uint32_t queued;
    size_t len;
    size_t reply_len;
    uint8_t reply[TR_ENTITY_BODY_MAX];
    uint8_t state[TR_ENTITY_STATE_MAX];
} tr__entity_act;

/* A request this host queued: (sender, correlation id). */
typedef struct tr__entity_seen {
    tr_addr from;
    uint64_t corr;
} tr__entity_seen;

typedef struct tr__entity_host {
    tr_raft raft;
    tr__entity_arg arg;
    uint32_t lease_ms, passivate_ms, write_ms;
    uint64_t type_hash; /* FNV-1a 64 of the type's name, for probes */
    /* the replicated table (the Raft state machine) */
    int32_t owner[TR_ENTITY_SHARDS]; /* -1: unassigned */
    uint64_t epoch[TR_ENTITY_SHARDS];
    /* the leader's view */
    uint64_t lead_term, lead_since_ms, assign_until_ms;
    uint64_t moving; /* shards whose move this leader proposed and has not seen applied */
    uint64_t answered_ms[TR_RAFT_NODES_MAX];
    uint32_t answered_mask; /* nodes answered since this replica leads */
    uint32_t down_mask;     /* the failure detector's view (the no-fencing bug only) */
    /* this node's lease: the latest renew answer */
    uint64_t lease_sent_ms, renew_due_ms;
    bool leased;
    uint64_t owned;
    uint64_t owned_epoch[TR_ENTITY_SHARDS];
    /* activations and requests */
    tr__entity_act act[TR_ENTITY_ACTIVE_MAX];
    tr__entity_slot slot[TR__ENTITY_SLOTS];
    int32_t free_head, wait_head, wait_tail;
    tr__entity_seen seen[TR__ENTITY_SEEN]; /* a ring: the latest requests queued */
    uint32_t seen_next;
    uint32_t gen;
    uint8_t scratch[TR_ENTITY_STATE_MAX];
} tr__entity_host;

/* entity_place.c */
int tr__entity_place_init(tr__entity_host *s, tr_ctx *ctx);
/* The leader's work on every tick: the first assignment, reassignments of lapsed nodes. */
void tr__entity_place_tick(tr__entity_host *s, tr_ctx *ctx);
void tr__entity_renew_send(tr__entity_host *s, tr_ctx *ctx);
void tr__entity_renew_serve(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m);
/* 1 when m was a renew answer that became this node's lease. */
bool tr__entity_renew_ack(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m);
void tr__entity_node_event(tr__entity_host *s, const tr_msg *m);
/* Whether this node may handle messages of shard with epoch now (invariant 1). */
bool tr__entity_owns(tr__entity_host *s, tr_ctx *ctx, uint32_t shard, uint64_t epoch);
bool tr__entity_leased(tr__entity_host *s, tr_ctx *ctx);

/* entity_store.c */
void tr__entity_store_sget(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m);
void tr__entity_store_sput(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m);

static inline uint32_t tr__entity_shard(int64_t id) {
    return (uint32_t)(id % TR_ENTITY_SHARDS);
}

static inline bool tr__entity_no_fencing(const tr__entity_host *s) {
    return (s->arg.bugs & TR_ENTITY_BUG_NO_FENCING) != 0;
}

#endif
