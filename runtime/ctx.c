/*
 * ctx.c — the tr_ctx API of troupe.h: what an actor calls from its callbacks. Sending,
 * names, requests and replies, spawning and stopping, links and monitors, timers, the
 * registry, and the durable state calls forwarded to the node's store.
 *
 * Every function runs on the thread running ctx's actor, during one of its callbacks (the
 * [owner] fields of internal.h are this thread's alone then). Messages are built here and
 * routed by actor.c (tr__actor_send); links, monitors and timers keep their records in the
 * actor's ext, which the run loop (actor.c) consults when the answers come back.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/store.h"

tr_addr tr_self(const tr_ctx *ctx) {
    return tr__actor_self(ctx->actor);
}
tr_node *tr_ctx_node(tr_ctx *ctx) {
    return ctx->node;
}
uint64_t tr_now_ns(tr_ctx *ctx) {
    return ctx->node->ops->now_ns(ctx->node->engine, ctx->node);
}
uint64_t tr_now_ms(tr_ctx *ctx) {
    return tr_now_ns(ctx) / 1000000u;
}
uint64_t tr_random(tr_ctx *ctx) {
    return ctx->node->ops->random(ctx->node->engine, ctx->node);
}

/* Whether a message sent now carries anything from the handled one (its trace or deadline)
 * or from an override (tr_trace_start/set, tr_deadline_set). Most sends carry nothing: they
 * skip tr__ctx_inherit's call, and keep the empty trace and deadline tr__actor_msg_new gave. */
static inline bool ctx_inherits(const tr_ctx *ctx) {
    const tr_msg *cur = ctx->current;
    if (ctx->out_what != 0) {
        return true;
    }
    if (cur == NULL) {
        return false;
    }
    uint64_t id0, id1;
    memcpy(&id0, cur->trace.id, 8);
    memcpy(&id1, cur->trace.id + 8, 8);
    return (id0 | id1 | cur->deadline_) != 0;
}

/* The general send: every case ctx_send's fast path leaves to it (a registered name, another
 * node, a trace or deadline to carry, a body over TR__BODY_INLINE_MAX bytes, an empty pool, a
 * receiver that is gone or has a bounded mailbox). Arguments already checked. */
static __attribute__((noinline)) int ctx_send_general(tr_ctx *ctx, tr_addr to, uint32_t type,
                                                      uint64_t corr, const void *body, size_t len,
                                                      const char *to_name) {
    tr_msg *m = tr__actor_msg_new(tr__actor_self(ctx->actor), to, type, corr, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    if (ctx_inherits(ctx)) {
        tr__ctx_inherit(ctx, m);
    }
    return tr__actor_send(ctx->node, ctx, m, to_name);
}

/* Most sends are by address to a live local actor with an unbounded mailbox, carry a few
 * bytes and no trace: that case is done here with no call but the engine's schedule, last,
 * so it saves no registers; every other goes to ctx_send_general before anything is built. */
static inline __attribute__((always_inline)) int ctx_send(tr_ctx *ctx, tr_addr to, uint32_t type,
                                                          uint64_t corr, const void *body,
                                                          size_t len, const char *to_name) {
    if (!ctx || (len && !body) || len > TR_VALUE_MAX || type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    /* troupe.h: a ctx is valid during its actor's callbacks only (the run token's marker). */
    TR_DEBUG_ASSERT(tr__actor_current() == ctx);
    tr_node *node = ctx->node;
    tr_actor *a;
    tr_msg *m;
    if (to_name != NULL || (to.node != 0 && to.node != node->id) || len > TR__BODY_INLINE_MAX ||
        ctx_inherits(ctx) || (a = tr__actor_slot_get(node, to.actor)) == NULL ||
        atomic_load_explicit(&a->id, memory_order_acquire) != to.actor || a->mb.capacity != 0 ||
        (m = tr__pool_try_alloc(len)) == NULL) {
        return ctx_send_general(ctx, to, type, corr, body, len, to_name);
    }
    to.node = node->id;
    tr__actor_msg_fill(m, tr__actor_self(ctx->actor), to, type, corr, body, len);
    ctx->sent++; /* metrics.h: the activation adds it to its type once */
    tr__actor_push(node, ctx, a, m, atomic_load_explicit(&a->mb.queued, memory_order_relaxed));
    return 0;
}

__attribute__((always_inline)) int tr_send(tr_ctx *ctx, tr_addr to, uint32_t type, const void *body,
                                           size_t len) {
    if (tr_addr_is_none(to)) {
        return TR_EINVAL;
    }
    return ctx_send(ctx, to, type, 0, body, len, NULL);
}

int tr_send_corr(tr_ctx *ctx, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                 size_t len) {
    if (tr_addr_is_none(to)) {
        return TR_EINVAL;
    }
    return ctx_send(ctx, to, type, corr, body, len, NULL);
}

/* "name" or "name@node" -> (to, local name). */
static int resolve_name(tr_node *node, const char *full, tr_addr *to, char *name) {
    if (!full) {
        return TR_EINVAL;
    }
    const char *at = strchr(full, '@');
    size_t nlen = at ? (size_t)(at - full) : strlen(full);
    if (nlen == 0 || nlen > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    memcpy(name, full, nlen);
    name[nlen] = 0;
    *to = (tr_addr){node->id, 0, 0};
    if (at && strcmp(at + 1, node->name) != 0) {
        uint32_t id;
        if (!node->ops->node_by_name || node->ops->node_by_name(node->engine, node, at + 1, &id)) {
            return TR_EUNREACH;
        }
        to->node = id;
    }
    return 0;
}

int tr_send_name(tr_ctx *ctx, const char *name, uint32_t type, const void *body, size_t len) {
    tr_addr to;
    char local[TR_NAME_MAX + 1];
    int rc = resolve_name(ctx->node, name, &to, local);
    if (rc == TR_EUNREACH) {
        atomic_fetch_add_explicit(&ctx->node->st_dead, 1, memory_order_relaxed);
        tr__metrics_add(&ctx->node->metrics.dead[TR__DEAD_UNREACHABLE], 1);
        return 0;
    }
    if (rc) {
        return rc;
    }
    return ctx_send(ctx, to, type, 0, body, len, local);
}

static uint64_t next_corr(tr_actor *a) {
    tr_actor_ext *x = tr__actor_ext(a);
    if (!x) {
        return 0;
    }
    return ++x->next_corr;
}

static int arm_timer(tr_ctx *ctx, uint64_t id, uint64_t corr, uint32_t type, uint32_t delay_ms,
                     uint32_t period_ms) {
    tr_actor *a = ctx->actor;
    tr_actor_ext *x = tr__actor_ext(a);
    if (!x) {
        return TR_ENOMEM;
    }
    uint64_t due = tr_now_ns(ctx) + (uint64_t)delay_ms * 1000000u;
    tr_timer_rec t = {id, corr, type, period_ms, due, 0};
    int rc = tr__vec_push(&x->timers, &t, sizeof t);
    if (rc) {
        return rc;
    }
    uint64_t handle =
        ctx->node->ops->timer_arm(ctx->node->engine, ctx->node, tr__actor_self(a), id, due);
    ((tr_timer_rec *)x->timers.items)[x->timers.len - 1].handle = handle;
    return 0;
}

static int request(tr_ctx *ctx, tr_addr to, const char *name, uint32_t type, const void *body,
                   size_t len, uint32_t timeout_ms, uint64_t *corr_out) {
    uint64_t corr = next_corr(ctx->actor) | TR__CORR_REQUEST;
    uint64_t tid = next_corr(ctx->actor);
    if (!tid) {
        return TR_ENOMEM;
    }
    int rc = ctx_send(ctx, to, type, corr, body, len, name);
    if (rc) {
        return rc;
    }
    rc = arm_timer(ctx, tid, corr, TR_MSG_TIMEOUT, timeout_ms, 0);
    if (rc) {
        return rc;
    }
    if (corr_out) {
        *corr_out = corr;
    }
    return 0;
}

int tr__ctx_request_to(tr_ctx *ctx, tr_addr to, const char *name, uint32_t type, const void *body,
                       size_t len, uint32_t timeout_ms, uint64_t *corr_out) {
    if (!ctx || to.node == 0 ||
        (name ? !*name || strlen(name) > TR_NAME_MAX || strchr(name, '@') : tr_addr_is_none(to))) {
        return TR_EINVAL;
    }
    if (name) {
        to.actor = 0;
    }
    return request(ctx, to, name, type, body, len, timeout_ms, corr_out);
}

bool tr_msg_is_reply(const tr_msg *msg) {
    return msg && (msg->flags_ & TR__F_REPLY) != 0;
}

int tr_request(tr_ctx *ctx, tr_addr to, uint32_t type, const void *body, size_t len,
               uint32_t timeout_ms, uint64_t *corr_out) {
    if (!ctx || tr_addr_is_none(to)) {
        return TR_EINVAL;
    }
    return request(ctx, to, NULL, type, body, len, timeout_ms, corr_out);
}

int tr_request_name(tr_ctx *ctx, const char *name, uint32_t type, const void *body, size_t len,
                    uint32_t timeout_ms, uint64_t *corr_out) {
    tr_addr to;
    char local[TR_NAME_MAX + 1];
    int rc = resolve_name(ctx->node, name, &to, local);
    if (rc == TR_EUNREACH) { /* unknown node: the timeout will tell the caller */
        uint64_t corr = next_corr(ctx->actor) | TR__CORR_REQUEST, tid = next_corr(ctx->actor);
        if (!tid) {
            return TR_ENOMEM;
        }
        rc = arm_timer(ctx, tid, corr, TR_MSG_TIMEOUT, timeout_ms, 0);
        if (!rc && corr_out) {
            *corr_out = corr;
        }
        return rc;
    }
    if (rc) {
        return rc;
    }
    return request(ctx, to, local, type, body, len, timeout_ms, corr_out);
}

/* tr_forward across nodes for a requester on a third node: the transport takes a node's
 * envelopes only with that node as the sender, so this actor requests on its behalf and the
 * run loop passes the answer on (actor.c, filter_user); the relay is a tr_relay_rec beside
 * the request's timeout, bounded by TR__FORWARD_RELAYS_MAX per actor. */
static int forward_relay(tr_ctx *ctx, const tr_msg *req, tr_addr to, const char *name) {
    tr_actor_ext *x = tr__actor_ext(ctx->actor);
    if (!x || x->relays.len >= TR__FORWARD_RELAYS_MAX) {
        return x ? TR_EFULL : TR_ENOMEM;
    }
    uint64_t corr = 0;
    int rc =
        request(ctx, to, name, req->type, req->body, req->body_len, TR__FORWARD_TIMEOUT_MS, &corr);
    if (rc == 0) {
        TR_ASSERT(corr & TR__CORR_REQUEST);
        tr_relay_rec r = {.corr = corr, .to = req->from, .to_corr = req->corr, .trace = req->trace};
        rc = tr__vec_push(&x->relays, &r, sizeof r);
        /* Out of memory here leaves a plain request: its answer reaches this actor, which
         * ignores what it did not ask for, and the requester times out. */
    }
    return rc;
}

int tr_forward(tr_ctx *ctx, const tr_msg *req, const char *to_name) {
    tr_addr to;
    char local[TR_NAME_MAX + 1];
    if (!ctx || !req || tr_addr_is_none(req->from) || req->type < TR_MSG_USER ||
        req->type >= TR__SYS_BASE || (req->flags_ & TR__F_REPLY) || req->body_len > TR_VALUE_MAX ||
        (req->body_len && !req->body)) {
        return TR_EINVAL;
    }
    int rc = resolve_name(ctx->node, to_name, &to, local);
    if (rc) {
        return rc;
    }
    if (tr__node_peer_down(ctx->node, to.node)) {
        return TR_EUNREACH; /* nothing sent: the requester may be told at once */
    }
    if (to.node != ctx->node->id && req->from.node != ctx->node->id) {
        return forward_relay(ctx, req, to, local);
    }
    tr_msg *m = tr__actor_msg_new(req->from, to, req->type, req->corr, req->body, req->body_len);
    if (!m) {
        return TR_ENOMEM;
    }
    m->trace = req->trace; /* a forward is no hop of its own: the requester's context */
    m->deadline_ = req->deadline_;
    return tr__actor_send(ctx->node, ctx, m, local);
}

/* The reply to req: to its sender, same corr and trace id (tr__trace_reply), flagged a reply
 * when req was a request (a client matches replies by that flag and corr). NULL when out of
 * memory. */
static tr_msg *reply_msg(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body,
                         size_t len) {
    tr_msg *m =
        tr__actor_msg_new(tr__actor_self(ctx->actor), req->from, type, req->corr, body, len);
    if (m) {
        tr__trace_reply(req, m);
        if (req->corr & TR__CORR_REQUEST) {
            m->flags_ |= TR__F_REPLY;
        }
    }
    return m;
}

int tr_reply(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body, size_t len) {
    if (!ctx || !req || tr_addr_is_none(req->from) || (len && !body) || len > TR_VALUE_MAX ||
        type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    tr_msg *m = reply_msg(ctx, req, type, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    return tr__actor_send(ctx->node, ctx, m, NULL);
}

int tr_reply_durable(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body, size_t len) {
    if (!req || tr_addr_is_none(req->from) || (len && !body) || type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    if (!ctx->node->store) {
        return TR_ENOTSUP;
    }
    tr_msg *m = reply_msg(ctx, req, type, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    int rc = tr__store_hold(ctx->node->store, m);
    if (rc) {
        tr__pool_release(m);
    }
    return rc;
}

int tr_spawn(tr_ctx *ctx, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
             size_t arg_len, tr_addr *out) {
    if (!ctx) {
        return TR_EINVAL;
    }
    return tr__actor_spawn(ctx->node, b, opts, arg, arg_len, out);
}

int tr_stop(tr_ctx *ctx, tr_addr target, int reason) {
    if (!ctx || tr_addr_is_none(target) || reason > 0) {
        return TR_EINVAL;
    }
    tr_actor *a = ctx->actor;
    if (target.actor == tr__actor_self(a).actor &&
        (target.node == 0 || target.node == ctx->node->id)) {
        ctx->stop_self = 1; /* dies when the callback returns: the message stays valid */
        ctx->stop_reason = reason;
        return 0;
    }
    return tr__actor_send_sys(ctx->node, tr__actor_self(a), target, TR__SYS_KILL,
                              (uint64_t)(int64_t)reason, NULL, 0);
}

static bool is_remote(tr_ctx *ctx, tr_addr a) {
    return a.node != 0 && a.node != ctx->node->id;
}

int tr_link(tr_ctx *ctx, tr_addr other) {
    if (!ctx || tr_addr_is_none(other) || tr_addr_eq(other, tr_self(ctx))) {
        return TR_EINVAL;
    }
    tr_actor_ext *x = tr__actor_ext(ctx->actor);
    if (!x) {
        return TR_ENOMEM;
    }
    tr__actor_link_remove(&x->links, other);
    int rc = tr__vec_push(&x->links, &other, sizeof other);
    if (rc) {
        return rc;
    }
    if (is_remote(ctx, other)) {
        tr__node_watch_add(ctx->node, tr_self(ctx), other, 0, TR__WATCH_LINK);
    }
    return tr__actor_send_sys(ctx->node, tr_self(ctx), other, TR__SYS_LINK, 0, NULL, 0);
}

int tr_unlink(tr_ctx *ctx, tr_addr other) {
    if (!ctx || tr_addr_is_none(other)) {
        return TR_EINVAL;
    }
    if (ctx->actor->ext) {
        tr__actor_link_remove(&ctx->actor->ext->links, other);
    }
    if (is_remote(ctx, other)) {
        tr__node_watch_forget(ctx->node, tr_self(ctx), other, 0, TR__WATCH_LINK);
    }
    return tr__actor_send_sys(ctx->node, tr_self(ctx), other, TR__SYS_UNLINK, 0, NULL, 0);
}

void tr_trap_exit(tr_ctx *ctx, bool on) {
    ctx->actor->trap_exit = on;
}

int tr_monitor(tr_ctx *ctx, tr_addr target, uint64_t *ref_out) {
    if (!ctx || tr_addr_is_none(target)) {
        return TR_EINVAL;
    }
    uint64_t ref = next_corr(ctx->actor);
    if (!ref) {
        return TR_ENOMEM;
    }
    tr_watch w = {target, ref};
    int rc = tr__vec_push(&ctx->actor->ext->watching, &w, sizeof w);
    if (rc) {
        return rc;
    }
    if (is_remote(ctx, target)) {
        tr__node_watch_add(ctx->node, tr_self(ctx), target, ref, TR__WATCH_MONITOR);
    }
    if (ref_out) {
        *ref_out = ref;
    }
    return tr__actor_send_sys(ctx->node, tr_self(ctx), target, TR__SYS_MONITOR, ref, NULL, 0);
}

int tr_demonitor(tr_ctx *ctx, uint64_t ref) {
    tr_actor_ext *x = ctx ? ctx->actor->ext : NULL;
    if (!x) {
        return TR_ENOENT;
    }
    tr_watch *w = x->watching.items;
    for (uint32_t i = 0; i < x->watching.len; i++) {
        if (w[i].ref == ref) {
            tr_addr target = w[i].who;
            tr__vec_remove(&x->watching, i, sizeof *w);
            if (is_remote(ctx, target)) {
                tr__node_watch_forget(ctx->node, tr_self(ctx), target, ref, TR__WATCH_MONITOR);
            }
            return tr__actor_send_sys(ctx->node, tr_self(ctx), target, TR__SYS_DEMONITOR, ref, NULL,
                                      0);
        }
    }
    return TR_ENOENT;
}

int tr_monitor_node(tr_ctx *ctx, uint32_t node_id) {
    if (!ctx || node_id == 0 || node_id == ctx->node->id) {
        return TR_EINVAL;
    }
    tr__node_watch_add(ctx->node, tr_self(ctx), (tr_addr){node_id, 0, 0}, 0, TR__WATCH_NODE);
    return 0;
}

int tr_timer_start(tr_ctx *ctx, uint32_t delay_ms, uint32_t period_ms, uint32_t type,
                   uint64_t *timer_id_out) {
    if (!ctx || type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    uint64_t id = next_corr(ctx->actor);
    if (!id) {
        return TR_ENOMEM;
    }
    int rc = arm_timer(ctx, id, 0, type, delay_ms, period_ms);
    if (rc == 0 && timer_id_out) {
        *timer_id_out = id;
    }
    return rc;
}

int tr_timer_stop(tr_ctx *ctx, uint64_t timer_id) {
    uint32_t idx;
    tr_timer_rec *t = ctx ? tr__actor_timer_find(ctx->actor->ext, timer_id, &idx) : NULL;
    if (!t || t->corr) {
        return TR_ENOENT;
    }
    tr__actor_timer_drop(ctx->actor, idx);
    return 0;
}

int tr_register(tr_ctx *ctx, const char *name, tr_addr who) {
    if (!ctx || !name || !name[0] || strlen(name) > TR_NAME_MAX || tr_addr_is_none(who)) {
        return TR_EINVAL;
    }
    if (who.node != 0 && who.node != ctx->node->id) {
        return TR_EINVAL;
    }
    who.node = ctx->node->id;
    return tr__registry_add(ctx->node, name, who, true);
}

int tr_unregister(tr_ctx *ctx, const char *name) {
    tr_addr cur;
    if (!ctx || !name) {
        return TR_EINVAL;
    }
    if (tr__registry_find(ctx->node, name, &cur)) {
        return TR_ENOENT;
    }
    tr__registry_remove_if(ctx->node, name, cur);
    return 0;
}

int tr_lookup(tr_ctx *ctx, const char *name, tr_addr *out) {
    if (!ctx || !name || !out) {
        return TR_EINVAL;
    }
    return tr__registry_find(ctx->node, name, out);
}

/* ---- store forwarding ------------------------------------------------------------------- */

static int store_name(tr_ctx *ctx, const char **name) {
    if (!ctx) {
        return TR_EINVAL;
    }
    if (!ctx->node->store) {
        return TR_ENOTSUP;
    }
    tr_actor_ext *x = ctx->actor->ext;
    if (!x || !x->name[0]) {
        return TR_EINVAL; /* durable state needs a persistent name */
    }
    *name = x->name;
    return 0;
}

/* store_name for a write: the callback joins the store's commit barrier at its first write. */
static int store_writer(tr_ctx *ctx, const char **name) {
    int rc = store_name(ctx, name);
    if (rc == 0 && !ctx->store_open) {
        tr__store_callback_begin(ctx->node->store);
        ctx->store_open = true;
    }
    return rc;
}

int tr_kv_get(tr_ctx *ctx, const void *key, size_t klen, void *buf, size_t cap, size_t *len) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr__store_get(ctx->node->store, n, key, klen, buf, cap, len);
}

int tr_kv_put(tr_ctx *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    const char *n;
    int rc = store_writer(ctx, &n);
    return rc ? rc : tr__store_put(ctx->node->store, n, key, klen, val, vlen);
}

int tr_kv_del(tr_ctx *ctx, const void *key, size_t klen) {
    const char *n;
    int rc = store_writer(ctx, &n);
    return rc ? rc : tr__store_del(ctx->node->store, n, key, klen);
}

int tr_journal_append(tr_ctx *ctx, const void *event, size_t len, uint64_t *seq_out) {
    const char *n;
    int rc = store_writer(ctx, &n);
    return rc ? rc : tr__store_append(ctx->node->store, n, event, len, seq_out);
}

int tr_snapshot_write(tr_ctx *ctx, uint64_t seq, const void *data, size_t len) {
    const char *n;
    int rc = store_writer(ctx, &n);
    return rc ? rc : tr__store_snapshot(ctx->node->store, n, seq, data, len);
}

int tr_journal_truncate(tr_ctx *ctx, uint64_t upto_seq) {
    const char *n;
    int rc = store_writer(ctx, &n);
    return rc ? rc : tr__store_truncate(ctx->node->store, n, upto_seq);
}

int tr_recover(tr_ctx *ctx, tr_snapshot_cb on_snapshot, tr_event_cb on_event, void *ud) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr__store_recover(ctx->node->store, n, on_snapshot, on_event, ud);
}

int tr_durable_notify(tr_ctx *ctx, uint64_t *token_out) {
    if (!ctx) {
        return TR_EINVAL;
    }
    if (!ctx->node->store) {
        return TR_ENOTSUP;
    }
    return tr__store_notify(ctx->node->store, tr_self(ctx), token_out);
}
