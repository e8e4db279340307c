/*
 * actor_dead.c — dead letters: the messages that reach no actor (no such actor, a full
 * mailbox that drops, an unreachable node, an actor that stopped with mail left). Each user
 * message is counted in the node's total and under its reason (metrics.h); a system request
 * that expects an answer gets one (a monitor: DOWN with TR_ENOPROC; a link: EXIT), and a
 * user request is failed at once (TR_MSG_TIMEOUT) where the caller says so.
 * Threading: any thread that sends; the counters are relaxed atomics (totals, no ordering).
 */
#include "runtime/actor.h"

/* Counts a user message that reached no actor, in the node's total and under its reason. */
void tr__actor_count_dead(tr_node *node, tr__dead_reason why) {
    atomic_fetch_add_explicit(&node->st_dead, 1, memory_order_relaxed);
    tr__metrics_add(&node->metrics.dead[why], 1);
}

/* A message that reached no actor. System requests that expect an answer get one. */
void tr__actor_dead_letter_why(tr_node *node, tr_msg *m, tr__dead_reason why) {
    if (m->type == TR__SYS_MONITOR) {
        uint8_t b[9];
        size_t n = tr__actor_pack_int(b, TR_ENOPROC);
        tr__actor_send_sys(node, m->to, m->from, TR_MSG_DOWN, m->corr, b, n);
    } else if (m->type == TR__SYS_LINK) {
        tr__actor_send_sys(node, m->to, m->from, TR__SYS_EXIT, (uint64_t)(int64_t)TR_ENOPROC, NULL,
                           0);
    } else if (m->type < TR__SYS_BASE) {
        tr__actor_count_dead(node, why);
    }
    tr__pool_release(m);
}

void tr__actor_dead_letter(tr_node *node, tr_msg *m) {
    tr__actor_dead_letter_why(node, m, TR__DEAD_NO_ACTOR);
}

int tr__actor_refuse(tr_node *node, tr_actor *a, tr_msg *m) {
    if (a->overflow == TR_OVERFLOW_REJECT) {
        atomic_fetch_add_explicit(&node->st_rejects, 1, memory_order_relaxed);
        tr__pool_release(m);
        return TR_EFULL;
    }
    tr__actor_dead_letter_why(node, m, TR__DEAD_MAILBOX_FULL);
    return 0;
}

void tr__actor_dead_stopped(tr_node *node, const tr_msg *m) {
    if (m->type == TR__SYS_MONITOR || m->type == TR__SYS_LINK) {
        tr_msg *copy = tr__actor_msg_new(m->from, m->to, m->type, m->corr, NULL, 0);
        if (copy) {
            tr__actor_dead_letter(node, copy);
        }
    } else if (m->type < TR__SYS_BASE) {
        tr__actor_count_dead(node, TR__DEAD_STOPPED);
    }
}

/* A user request that reaches no actor is answered at once (troupe.h, "Trace context and
 * deadlines"): TR_MSG_TIMEOUT as a reply with the request's corr and trace, its body the
 * msgpack int `code`, from this node (actor 0). Anything else (a plain send, a reply, a
 * system message, a request without a sender) is left to the dead letter alone. */
void tr__actor_fail_request(tr_node *node, const tr_msg *m, int code) {
    if (m->type < TR_MSG_USER || m->type >= TR__SYS_BASE || !(m->corr & TR__CORR_REQUEST) ||
        (m->flags_ & TR__F_REPLY) || tr_addr_is_none(m->from)) {
        return;
    }
    uint8_t b[9];
    size_t n = tr__actor_pack_int(b, code);
    tr_msg *r =
        tr__actor_msg_new((tr_addr){.node = node->id}, m->from, TR_MSG_TIMEOUT, m->corr, b, n);
    if (r) {
        tr__trace_reply(m, r);
        r->flags_ |= TR__F_REPLY;
        (void)tr__actor_send(node, NULL, r, NULL);
    }
}
