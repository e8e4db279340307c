/* raft_members.c — Raft membership changes (troupe.h, "Raft", tr_raft_change; Raft
 * dissertation 4.1): one replica added or removed at a time. The configuration is a log
 * entry that takes effect on a replica as soon as it is in its log (raft_log.c); votes,
 * commits, reads and the quorum check count the current configuration's majority. A leader
 * accepts a change only when the previous one and an entry of its own term are committed; a
 * replica to be added first receives the log as a learner (not counted) and the entry is
 * appended once it holds everything committed, or the change fails after LEARNER_TICKS
 * election timeouts. A leader that removed itself leads until that entry commits, without
 * counting itself, then steps down (raft_replicate.c's commit).
 * Threading: only the owning actor touches a replica, inside its callbacks. */
#include "actors/raft_internal.h"

#define LEARNER_TICKS 20 /* election timeouts a replica to be added has to catch up */

/* Appends the configuration `members` for the change pending at k and sends it; on an error
 * the pending change stays as it was and the error is returned. */
static int propose_conf(tr__raft *r, tr_ctx *ctx, uint32_t k, uint32_t members) {
    int rc = tr__raft_log_append(r, ctx, r->term, NULL, 0, members);
    if (rc != 0) {
        return rc;
    }
    tr__raft_replicate_now(r, ctx, &r->pending[k]);
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
void tr__raft_propose_addition(tr__raft *r, tr_ctx *ctx) {
    int32_t k = waiting_change(r);
    uint32_t node = (uint32_t)r->learner;
    r->learner = -1;
    if (k >= 0) {
        int rc = propose_conf(r, ctx, (uint32_t)k, r->members | 1u << node);
        if (rc != 0) {
            tr__raft_pending_finish(r, ctx, (uint32_t)k, rc, NULL, 0);
        }
    }
}

/* The learner did not catch up in time (down or cut off): the change fails, unproposed. */
static void learner_give_up(tr__raft *r, tr_ctx *ctx) {
    int32_t k = waiting_change(r);
    r->learner = -1;
    if (k >= 0) {
        tr__raft_pending_finish(r, ctx, (uint32_t)k, TR_ETIMEDOUT, NULL, 0);
    }
}

/* A leader's tick: its learner has had LEARNER_TICKS election timeouts to catch up. */
void tr__raft_learner_check(tr__raft *r, tr_ctx *ctx) {
    if (r->learner >= 0 && r->ticks - r->learner_since >= LEARNER_TICKS * r->cfg.election_ticks) {
        learner_give_up(r, ctx);
    }
}

int tr_raft_change(tr_raft *pub, tr_ctx *ctx, const tr_msg *req, uint32_t node, bool add) {
    tr__raft *r = (tr__raft *)pub;
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
    tr__raft_pending *p = tr__raft_pending_add(r, req);
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
    r->learner = (int32_t)node; /* it catches up first; tr__raft_on_append_resp proposes */
    r->learner_since = r->ticks;
    tr__raft_send_append(r, ctx, node, true);
    return 0;
}
