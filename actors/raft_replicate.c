/* raft_replicate.c — Raft log replication and commit (troupe.h, "Raft"; docs/raft.md): the
 * leader's appends and heartbeats, a snapshot for a follower too far behind, a follower's
 * handling of appends and snapshots, the leader's handling of their acknowledgements, the
 * commit index and applying committed entries to the state machine. The state is
 * raft_internal.h's tr__raft; raft.c dispatches the messages here; the log itself is
 * actors/raft_log.c.
 *
 * Durability: a follower acknowledges with tr_reply_durable, so an acknowledgement leaves
 * only once the entries it vouches for are durable; the leader counts itself towards a
 * majority only for entries it knows durable (tr_durable_notify, durable_index).
 * A leader commits only entries of its own term by counting (Raft 5.4.2); a committed entry
 * that a leader's append contradicts is refused (TR_ECORRUPT), never overwritten.
 * Threading: only the owning actor touches a replica, inside its callbacks. */
#include <string.h>

#include "actors/raft_internal.h"

#define OUT_MAX 1024 /* an applied command's output */

/* Asks to be told when the log up to last_index is durable (one request outstanding). */
void tr__raft_want_durable(tr__raft *r, tr_ctx *ctx) {
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
                tr__raft_pending_finish(r, ctx, k, ours ? rc : TR_EAGAIN, out,
                                        ours && !rc ? len : 0);
                break;
            }
        }
    }
    if (r->applied - r->snap_index >= r->cfg.snapshot_every) {
        (void)tr__raft_compact(r, ctx);
    }
    tr__raft_check_reads(r, ctx);
}

void tr__raft_advance_commit(tr__raft *r, tr_ctx *ctx) {
    if (r->cfg.bugs & TR_RAFT_BUG_EARLY_COMMIT) {
        r->commit = r->last_index; /* planted: nobody else has it yet */
    }
    for (uint64_t n = r->last_index; n > r->commit && tr__raft_term_at(r, n) == r->term; n--) {
        uint32_t holders = r->durable_index >= n ? tr__raft_self_bit(r) : 0;
        for (uint32_t i = 0; i < r->cfg.node_count; i++) {
            holders |= i != r->cfg.node_index && r->match[i] >= n ? 1u << i : 0;
        }
        if (tr__raft_quorum(r, holders)) {
            r->commit = n;
            break;
        }
    }
    apply_committed(r, ctx);
    if (r->role == TR_RAFT_LEADER && !tr__raft_is_member(r, r->cfg.node_index) &&
        r->commit >= r->conf_index) {
        /* its removal is committed: tell the others, then stop leading */
        for (uint32_t i = 0; i < r->cfg.node_count; i++) {
            if (tr__raft_replicates_to(r, i)) {
                tr__raft_send_append(r, ctx, i, true);
            }
        }
        tr__raft_become_follower(r, ctx, -1);
        tr__raft_reset_election(r, ctx);
    }
}

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
    uint64_t index, term;
    if (tr__raft_snapshot_load(r, ctx, HEAD, &len, &members) != 0) {
        return;
    }
    tr__raft_snapshot_head(r, HEAD, &index, &term);
    if (index != r->snap_index || term != r->snap_term) {
        /* The store lost the snapshot this replica took (its commit failed, and a failed
         * commit takes back what it carried): the one stored is older. Sent under the newer
         * index, a follower would install an older state and skip the entries between. */
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
void tr__raft_send_append(tr__raft *r, tr_ctx *ctx, uint32_t i, bool heartbeat) {
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
    tr__raft_writer(r, &w, 7);
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
    if (tr__raft_send_to(r, ctx, i, TR__RAFT_APPEND, &w) == 0 && end > r->next[i]) {
        r->next[i] = end;
    }
}

void tr__raft_broadcast(tr__raft *r, tr_ctx *ctx, bool heartbeat) {
    r->last_broadcast = r->ticks;
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        if (tr__raft_replicates_to(r, i)) {
            tr__raft_send_append(r, ctx, i, heartbeat);
        }
    }
    tr__raft_advance_commit(r, ctx); /* a cluster of one commits alone */
}

void tr__raft_replicate_now(tr__raft *r, tr_ctx *ctx, tr__raft_pending *p) {
    p->index = r->last_index;
    p->term = r->term;
    tr__raft_want_durable(r, ctx);
    for (uint32_t i = 0; i < r->cfg.node_count; i++) {
        if (tr__raft_replicates_to(r, i) && r->next[i] <= r->last_index) {
            tr__raft_send_append(r, ctx, i, false);
        }
    }
    tr__raft_advance_commit(r, ctx);
}

static void ack_append(tr__raft *r, tr_ctx *ctx, const tr_msg *m, bool ok, uint64_t match,
                       uint64_t seq) {
    tr_mp_writer w;
    tr__raft_writer(r, &w, 5);
    tr_mp_write_bool(&w, ok);
    tr_mp_write_uint(&w, match);
    tr_mp_write_uint(&w, seq);
    tr__raft_respond(r, ctx, m, TR__RAFT_APPEND_RESP, &w);
}

/* A message from the leader of `term`: follow it. False when the term is stale. */
static bool accept_leader(tr__raft *r, tr_ctx *ctx, uint64_t term, uint32_t from) {
    if (term < r->term) {
        return false;
    }
    tr__raft_observe_term(r, ctx, term);
    if (r->role != TR_RAFT_FOLLOWER || r->leader != (int32_t)from) {
        tr__raft_become_follower(r, ctx, (int32_t)from);
    }
    r->prevoting = false;
    r->leader_tick = r->ticks;
    tr__raft_reset_election(r, ctx);
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

int tr__raft_on_append(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[6]; /* term, from, prev index, prev term, commit, seq */
    uint32_t n = 0;
    tr_mp_reader rd;
    if (tr__raft_read_head(r, &rd, m, 7, v, 6) != 0 || tr_mp_read_array(&rd, &n) != 0 ||
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
    tr__raft_want_durable(r, ctx);
    uint64_t commit = v[4] < done ? v[4] : done;
    if (commit > r->commit && commit <= r->last_index) {
        r->commit = commit;
        apply_committed(r, ctx);
    }
    ack_append(r, ctx, m, true, done, v[5]);
    return 0;
}

int tr__raft_on_snapshot(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[6] = {0}; /* term, from, index, its term, seq, members (when not all) */
    const uint8_t *b = NULL;
    uint32_t len = 0;
    tr_mp_reader rd;
    bool conf = tr__raft_read_head(r, &rd, m, 6, v, 5) != 0;
    if ((conf && (tr__raft_read_head(r, &rd, m, 7, v, 6) != 0 || v[5] == 0 || v[5] > r->all)) ||
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

int tr__raft_on_append_resp(tr__raft *r, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[2], match = 0, seq = 0;
    bool ok = false;
    tr_mp_reader rd;
    if (tr__raft_read_head(r, &rd, m, 5, v, 2) != 0 || tr_mp_read_bool(&rd, &ok) != 0 ||
        tr_mp_read_uint(&rd, &match) != 0 || tr_mp_read_uint(&rd, &seq) != 0) {
        return TR_EPROTO;
    }
    tr__raft_observe_term(r, ctx, v[0]);
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
        tr__raft_send_append(r, ctx, i, false);
    }
    if (r->learner == (int32_t)i && r->match[i] >= r->commit) {
        tr__raft_propose_addition(r, ctx);
    }
    tr__raft_advance_commit(r, ctx);
    return 0;
}
