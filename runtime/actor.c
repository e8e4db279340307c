/*
 * actor.c — the actor lifecycle and run loop: slots, spawning, delivery, death, muting,
 * system messages, and tr__actor_run (dead letters: actor_dead.c). See internal.h for the
 * run token and the memory invariants, mailbox.h for the queue itself.
 *
 * Ordering: an actor's id is stored (release) after its [init] fields are written; senders
 * load it (acquire) before pushing, so a sender that sees the id sees a ready mailbox.
 */
#include "runtime/actor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "runtime/store.h"
#include "runtime/trace_spans.h"

/* The activation this thread is running (NULL between activations): the context that
 * assertion hooks print. */
static _Thread_local tr_ctx *current_ctx;

/* The run token's marker (internal.h: tr_actor.running): at most one activation of an
 * actor at a time. Release checks that no other activation took the actor meanwhile: of two
 * overlapping activations, the first to end finds the count at 2. */
static inline void run_token_take(tr_actor *a) {
    TR_DEBUG_ASSERT(a->running == 0);
    a->running++;
}

static inline void run_token_release(tr_actor *a) {
    uint8_t left = --a->running;
    TR_ASSERT(left == 0);
}

tr_ctx *tr__actor_current(void) {
    return current_ctx;
}

size_t tr__actor_pack_int(uint8_t *buf, int64_t v) {
    if (v >= 0 && v < 128) {
        buf[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0 && v >= -32) {
        buf[0] = (uint8_t)(int8_t)v;
        return 1;
    }
    buf[0] = 0xd3; /* int64, big endian */
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) {
        buf[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    }
    return 9;
}

bool tr__actor_alive(tr_node *node, uint64_t actor_id) {
    tr_actor *a = tr__actor_slot_get(node, actor_id);
    return a && atomic_load_explicit(&a->id, memory_order_acquire) == actor_id;
}

tr_actor_ext *tr__actor_ext(tr_actor *a) {
    if (!a->ext) {
        a->ext = calloc(1, sizeof *a->ext);
    }
    return a->ext;
}

tr_node *tr__actor_node(const tr_actor *a) {
    return a->node;
}
tr_addr tr__actor_addr(const tr_actor *a) {
    return tr__actor_self(a);
}

/* ---- routing ------------------------------------------------------------------------- */

int tr__actor_send_routed(tr_node *node, tr_ctx *ctx, tr_msg *m, const char *to_name) {
    if (to_name && to_name[0] && (m->to.node == 0 || m->to.node == node->id)) {
        if (tr__registry_find(node, to_name, &m->to) != 0) {
            tr__actor_fail_request(node, m, TR_ENOPROC);
            tr__actor_dead_letter(node, m);
            return 0;
        }
        to_name = NULL;
    }
    if (m->to.node != 0 && m->to.node != node->id) {
        if (!node->ops->send_remote) {
            tr__actor_dead_letter_why(node, m, TR__DEAD_UNREACHABLE);
            return TR_EUNREACH;
        }
        tr_msg head = *m; /* send_remote consumes m: what an answer at once needs */
        int rc = node->ops->send_remote(node->engine, node, m, to_name);
        if (rc != 0) {
            tr__actor_count_dead(node, TR__DEAD_UNREACHABLE);
            if (rc == TR_EUNREACH) {
                tr__actor_fail_request(node, &head, TR_ENODEDOWN);
            }
        }
        return rc == TR_EFULL ? TR_EFULL : 0;
    }
    m->to.node = node->id;
    return tr__actor_deliver(node, ctx, m);
}

int tr__actor_send_sys(tr_node *node, tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                       const void *body, size_t len) {
    tr_msg *m = tr__actor_msg_new(from, to, type, corr, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    return tr__actor_send(node, NULL, m, NULL);
}

/* ---- spawning -------------------------------------------------------------------------- */

static tr_actor *slot_alloc(tr_node *node, uint32_t *slot_out) {
    pthread_mutex_lock(&node->slot_lock);
    uint32_t slot;
    if (node->free_len) {
        slot = node->free_slots[--node->free_len];
    } else {
        slot = node->slot_next;
        uint32_t page = slot >> TR__PAGE_SHIFT;
        if (page >= TR__PAGES_MAX) {
            pthread_mutex_unlock(&node->slot_lock);
            return NULL;
        }
        if (!atomic_load_explicit(&node->pages[page], memory_order_relaxed)) {
            tr_actor *p = calloc(TR__PAGE_SIZE, sizeof(tr_actor));
            if (!p) {
                pthread_mutex_unlock(&node->slot_lock);
                return NULL;
            }
            for (uint32_t i = 0; i < TR__PAGE_SIZE; i++) {
                tr__mailbox_init(&p[i].mb);
            }
            atomic_store_explicit(&node->pages[page], p, memory_order_release);
        }
        node->slot_next++;
    }
    pthread_mutex_unlock(&node->slot_lock);
    *slot_out = slot;
    return tr__actor_slot_at(node, slot);
}

static void slot_free(tr_node *node, uint32_t slot) {
    pthread_mutex_lock(&node->slot_lock);
    if (node->free_len == node->free_cap) {
        uint32_t cap = node->free_cap ? node->free_cap * 2 : 1024;
        uint32_t *p = realloc(node->free_slots, cap * sizeof *p);
        if (!p) { /* leak the slot rather than fail: it is only unusable */
            pthread_mutex_unlock(&node->slot_lock);
            return;
        }
        node->free_slots = p;
        node->free_cap = cap;
    }
    node->free_slots[node->free_len++] = slot;
    pthread_mutex_unlock(&node->slot_lock);
}

/* Messages left in a dead actor's mailbox (pushed after it died) become dead letters. */
static void drain_dead(tr_node *node, tr_actor *a) {
    tr_msg *m;
    while ((m = tr__mailbox_pop(&a->mb)) != NULL) {
        tr__actor_dead_stopped(node, m);
    }
}

int tr__actor_spawn(tr_node *node, const tr_behaviour *b, const tr_spawn_opts *opts,
                    const void *arg, size_t arg_len, tr_addr *out) {
    if (!node || !b || !b->receive || (arg_len && !arg)) {
        return TR_EINVAL;
    }
    if (opts && opts->name && (!opts->name[0] || strlen(opts->name) > TR_NAME_MAX)) {
        return TR_EINVAL;
    }
    tr_msg *init = tr__actor_msg_new(TR_ADDR_NONE, TR_ADDR_NONE, TR__SYS_INIT, 0, arg, arg_len);
    if (!init) {
        return TR_ENOMEM;
    }
    void *state = NULL;
    if (b->state_size && !(state = calloc(1, b->state_size))) {
        tr__pool_release(init);
        return TR_ENOMEM;
    }
    uint32_t slot;
    tr_actor *a = slot_alloc(node, &slot);
    if (!a) {
        free(state);
        tr__pool_release(init);
        return TR_ENOMEM;
    }
    drain_dead(node, a);
    a->gen++;
    if (a->gen == 0) {
        a->gen = 1;
    }
    uint64_t id = ((uint64_t)a->gen << 32) | slot;
    a->node = node;
    a->beh = b;
    a->state = state;
    a->ext = NULL;
    a->inited = 0;
    a->trap_exit = opts ? opts->trap_exit : 0;
    a->mb.capacity = opts ? opts->mailbox_capacity : 0;
    a->overflow = opts ? (uint8_t)opts->overflow : 0;
    atomic_store_explicit(&a->has_muted, 0, memory_order_relaxed);
    tr_addr addr = {node->id, 0, id};
    if (opts && opts->name) {
        tr_actor_ext *x = tr__actor_ext(a);
        int rc = x ? tr__registry_add(node, opts->name, addr, true) : TR_ENOMEM;
        if (rc != 0) {
            free(a->ext);
            a->ext = NULL;
            free(state);
            a->state = NULL;
            tr__pool_release(init);
            slot_free(node, slot); /* the slot keeps its token; reuse drains it */
            return rc;
        }
        strcpy(x->name, opts->name);
    }
    init->to = addr;
    init->from = addr;
    a->mrow = tr__metrics_type_of(&node->metrics, b); /* looked up once, not per activation */
    atomic_store_explicit(&a->id, id, memory_order_release);
    atomic_fetch_add_explicit(&node->st_live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&node->st_spawned, 1, memory_order_relaxed);
    tr__metrics_add(&a->mrow->spawned, 1);
    /* A fresh slot is empty-and-unscheduled; a reused one still holds its dead owner's
     * token (never marked empty). Either way exactly one schedule is owed now. */
    (void)tr__mailbox_push(&a->mb, init);
    node->ops->schedule(node->engine, node, a);
    if (out) {
        *out = addr;
    }
    return 0;
}

/* ---- death --------------------------------------------------------------------------- */

static void unmute_senders_of(tr_node *node, uint64_t receiver, bool all);

static void notify_watchers(tr_actor *a, tr_addr self, int reason) {
    tr_node *node = a->node;
    tr_actor_ext *x = a->ext;
    if (!x) {
        return;
    }
    uint8_t body[9];
    size_t n = tr__actor_pack_int(body, reason);
    tr_watch *w = x->monitors.items;
    for (uint32_t i = 0; i < x->monitors.len; i++) {
        tr__actor_send_sys(node, self, w[i].who, TR_MSG_DOWN, w[i].ref, body, n);
    }
    tr_addr *l = x->links.items;
    for (uint32_t i = 0; i < x->links.len; i++) {
        tr__actor_send_sys(node, self, l[i], TR__SYS_EXIT, (uint64_t)(int64_t)reason, NULL, 0);
    }
}

static void free_ext(tr_actor *a) {
    tr_actor_ext *x = a->ext;
    if (!x) {
        return;
    }
    tr__vec_free(&x->links);
    tr__vec_free(&x->monitors);
    tr__vec_free(&x->watching);
    tr__vec_free(&x->timers);
    tr__vec_free(&x->relays);
    free(x);
    a->ext = NULL;
}

/* Ends the callback's part in the store's commit barrier if it wrote (store.h): the
 * writes of one callback share one commit. */
static inline void callback_done(tr_ctx *ctx) {
    if (ctx->store_open) {
        ctx->store_open = false;
        tr__store_callback_end(ctx->node->store);
    }
}

/* Runs on the actor's thread. The actor keeps its scheduling token forever (no
 * mark_empty), so pushes after this never schedule the dead slot. */
static void actor_die(tr_ctx *ctx, tr_actor *a, int reason, bool run_terminate) {
    tr_node *node = a->node;
    tr_addr self = tr__actor_self(a);
    if (run_terminate && a->inited && a->beh->terminate) {
        a->beh->terminate(ctx, a->state, reason);
        callback_done(ctx);
    }
    atomic_store_explicit(&a->id, 0, memory_order_release);
    if (a->ext && a->ext->name[0]) {
        tr__registry_remove_if(node, a->ext->name, self);
        if (node->store) {
            tr__store_actor_gone(node->store, a->ext->name);
        }
    }
    notify_watchers(a, self, reason);
    tr__node_watch_drop(node, self);
    tr_msg *m;
    uint8_t why[9];
    size_t why_len = tr__actor_pack_int(why, reason);
    while ((m = tr__mailbox_pop(&a->mb)) != NULL) {
        bool mine = m->to.actor == self.actor;
        if (mine && m->type == TR__SYS_MONITOR) { /* asked before we died: the real reason */
            tr__actor_send_sys(node, self, m->from, TR_MSG_DOWN, m->corr, why, why_len);
        } else if (mine && m->type == TR__SYS_LINK) {
            tr__actor_send_sys(node, self, m->from, TR__SYS_EXIT, (uint64_t)(int64_t)reason, NULL,
                               0);
        } else if (m->type == TR__SYS_MONITOR || m->type == TR__SYS_LINK) {
            tr_msg *copy = tr__actor_msg_new(m->from, self, m->type, m->corr, NULL, 0);
            if (copy) {
                tr__actor_dead_letter(node, copy);
            }
        } else if (m->type < TR__SYS_BASE && mine) {
            tr__actor_count_dead(node, TR__DEAD_STOPPED);
        }
    }
    if (atomic_load_explicit(&a->has_muted, memory_order_seq_cst)) { /* see mute_self */
        unmute_senders_of(node, self.actor, true);
    }
    free_ext(a);
    free(a->state);
    a->state = NULL;
    atomic_fetch_sub_explicit(&node->st_live, 1, memory_order_relaxed);
    tr__metrics_add(&tr__metrics_type_of(&node->metrics, a->beh)->stopped, 1);
    /* The slot keeps the token, but once free it may be spawned into on another thread. */
    run_token_release(a);
    slot_free(node, tr__actor_id_slot(self.actor));
}

/* ---- muting -------------------------------------------------------------------------- */

static void unmute_senders_of(tr_node *node, uint64_t receiver, bool all) {
    tr_vec wake = {0};
    pthread_mutex_lock(&node->mute_lock);
    tr_mute_rec *r = node->mutes.items;
    for (uint32_t i = 0; i < node->mutes.len;) {
        if (r[i].receiver == receiver) {
            (void)tr__vec_push(&wake, &r[i].sender, sizeof(tr_actor *));
            tr__vec_remove(&node->mutes, i, sizeof *r);
        } else {
            i++;
        }
    }
    tr_actor *ra = tr__actor_slot_get(node, receiver);
    if (ra) {
        atomic_store_explicit(&ra->has_muted, 0, memory_order_release);
    }
    pthread_mutex_unlock(&node->mute_lock);
    (void)all;
    tr_actor **s = wake.items;
    for (uint32_t i = 0; i < wake.len; i++) {
        node->ops->schedule(node->engine, node, s[i]);
    }
    tr__vec_free(&wake);
}

/* The sender `a` flooded `r`: park `a` until `r` drains. Returns true if muted. The
 * receiver takes no lock to look for muted senders: it counts its pops in `queued`, then
 * reads `has_muted` (tr__actor_run, actor_die). So the sender sets the flag, then reads
 * `queued`, all seq_cst (Dekker): the receiver sees the flag, or the sender the drained
 * count. Else a sender could mute itself on a receiver that had just gone idle, for good. */
static bool mute_self(tr_actor *a, tr_actor *r, uint64_t rid) {
    tr_node *node = a->node;
    uint32_t low = node->mute_threshold / 2;
    bool muted = false;
    pthread_mutex_lock(&node->mute_lock);
    if (atomic_load_explicit(&r->id, memory_order_acquire) == rid &&
        atomic_load_explicit(&r->mb.queued, memory_order_acquire) > low) {
        tr_mute_rec rec = {rid, a};
        if (tr__vec_push(&node->mutes, &rec, sizeof rec) == 0) {
            atomic_store_explicit(&r->has_muted, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&r->mb.queued, memory_order_seq_cst) > low) {
                muted = true;
            } else { /* drained meanwhile; the flag alone costs its next run one look */
                tr__vec_remove(&node->mutes, node->mutes.len - 1, sizeof rec);
            }
        }
    }
    pthread_mutex_unlock(&node->mute_lock);
    if (muted) {
        atomic_fetch_add_explicit(&node->st_mutes, 1, memory_order_relaxed);
    }
    return muted;
}

/* ---- system messages ----------------------------------------------------------------- */

tr_timer_rec *tr__actor_timer_find(tr_actor_ext *x, uint64_t id, uint32_t *idx) {
    if (!x) {
        return NULL;
    }
    tr_timer_rec *t = x->timers.items;
    for (uint32_t i = 0; i < x->timers.len; i++) {
        if (t[i].id == id) {
            if (idx) {
                *idx = i;
            }
            return &t[i];
        }
    }
    return NULL;
}

/* Forgets timer record i of actor a, and tells the engine it need not fire it. */
void tr__actor_timer_drop(tr_actor *a, uint32_t i) {
    tr_timer_rec *t = &((tr_timer_rec *)a->ext->timers.items)[i];
    tr_node *node = a->node;
    if (t->handle && node->ops->timer_cancel) {
        node->ops->timer_cancel(node->engine, node, tr__actor_self(a), t->id, t->handle);
    }
    tr__vec_remove(&a->ext->timers, i, sizeof *t);
}

bool tr__actor_watch_remove(tr_vec *v, tr_addr who, uint64_t ref, bool match_who) {
    tr_watch *w = v->items;
    for (uint32_t i = 0; i < v->len; i++) {
        if (w[i].ref == ref && (!match_who || tr_addr_eq(w[i].who, who))) {
            tr__vec_remove(v, i, sizeof *w);
            return true;
        }
    }
    return false;
}

bool tr__actor_link_remove(tr_vec *v, tr_addr who) {
    tr_addr *l = v->items;
    for (uint32_t i = 0; i < v->len; i++) {
        if (tr_addr_eq(l[i], who)) {
            tr__vec_remove(v, i, sizeof *l);
            return true;
        }
    }
    return false;
}

enum {
    DISPATCH_DELIVER,
    DISPATCH_SKIP,
    DISPATCH_DIE
};

/* Handles runtime-level messages. Returns whether to call receive, skip, or die (*reason). */
/* Removes the relay of the request `corr` (tr_forward, ctx.c) into *out (may be NULL);
 * false when that request is not a relay. Costs one compare while the actor has none. */
static bool relay_take(tr_actor_ext *x, uint64_t corr, tr_relay_rec *out) {
    tr_relay_rec *r = x->relays.items;
    for (uint32_t i = 0; i < x->relays.len; i++) {
        if (r[i].corr == corr) {
            if (out) {
                *out = r[i];
            }
            tr__vec_remove(&x->relays, i, sizeof *r);
            return true;
        }
    }
    return false;
}

static int dispatch_sys(tr_ctx *ctx, tr_actor *a, tr_msg *m, int *reason) {
    tr_actor_ext *x;
    switch (m->type) {
    case TR__SYS_KILL: *reason = (int)(int64_t)m->corr; return DISPATCH_DIE;
    case TR__SYS_LINK:
        if ((x = tr__actor_ext(a))) {
            tr__actor_link_remove(&x->links, m->from); /* no duplicates */
            (void)tr__vec_push(&x->links, &m->from, sizeof m->from);
        }
        return DISPATCH_SKIP;
    case TR__SYS_UNLINK:
        if (a->ext) {
            tr__actor_link_remove(&a->ext->links, m->from);
        }
        return DISPATCH_SKIP;
    case TR__SYS_MONITOR:
        if ((x = tr__actor_ext(a))) {
            tr_watch w = {m->from, m->corr};
            (void)tr__vec_push(&x->monitors, &w, sizeof w);
        }
        return DISPATCH_SKIP;
    case TR__SYS_DEMONITOR:
        if (a->ext) {
            tr__actor_watch_remove(&a->ext->monitors, m->from, m->corr, true);
        }
        return DISPATCH_SKIP;
    case TR__SYS_EXIT: {
        int r = (int)(int64_t)m->corr;
        bool linked = a->ext && tr__actor_link_remove(&a->ext->links, m->from);
        if (m->from.node != a->node->id && linked) {
            tr__node_watch_forget(a->node, tr__actor_self(a), m->from, 0, TR__WATCH_LINK);
        }
        if (!linked) {
            return DISPATCH_SKIP; /* unlinked since, or never linked */
        }
        if (a->trap_exit) {
            m->type = TR_MSG_EXIT;
            m->body_len = (uint32_t)tr__actor_pack_int(tr__pool_body_mut(m), r);
            return m->body_len <= 9 ? DISPATCH_DELIVER : DISPATCH_SKIP;
        }
        if (r == 0) {
            return DISPATCH_SKIP;
        }
        *reason = TR_ELINKED;
        return DISPATCH_DIE;
    }
    case TR__SYS_TIMER: {
        uint32_t idx;
        tr_timer_rec *t = tr__actor_timer_find(a->ext, m->corr, &idx);
        if (!t) {
            return DISPATCH_SKIP; /* cancelled */
        }
        if (t->corr && relay_take(a->ext, t->corr, NULL)) { /* the requester times out */
            tr__vec_remove(&a->ext->timers, idx, sizeof *t);
            return DISPATCH_SKIP;
        }
        if (t->corr) { /* a request timed out */
            m->type = TR_MSG_TIMEOUT;
            m->corr = t->corr;
            tr__vec_remove(&a->ext->timers, idx, sizeof *t);
            return DISPATCH_DELIVER;
        }
        m->type = t->type;
        if (t->period_ms) {
            t->due_ns += (uint64_t)t->period_ms * 1000000u;
            uint64_t now = a->node->ops->now_ns(a->node->engine, a->node);
            if (t->due_ns < now) {
                t->due_ns = now; /* don't burst to catch up */
            }
            t->handle = a->node->ops->timer_arm(a->node->engine, a->node, tr__actor_self(a), t->id,
                                                t->due_ns);
        } else {
            tr__vec_remove(&a->ext->timers, idx, sizeof *t);
        }
        return DISPATCH_DELIVER;
    }
    case TR__SYS_WAKE: return DISPATCH_SKIP;
    default: return DISPATCH_SKIP;
    }
}

/* A user message: drop late replies and DOWNs of cancelled monitors. */
static bool filter_user(tr_actor *a, tr_msg *m) {
    tr_actor_ext *x = a->ext;
    if (m->type == TR_MSG_DOWN) {
        if (!x || !tr__actor_watch_remove(&x->watching, m->from, m->corr, false)) {
            return false;
        }
        if (m->from.node != a->node->id) {
            tr__node_watch_forget(a->node, tr__actor_self(a), m->from, m->corr, TR__WATCH_MONITOR);
        }
        return true;
    }
    if (m->flags_ & TR__F_REPLY) { /* a reply: only while its request is pending */
        tr_timer_rec *t = x ? x->timers.items : NULL;
        for (uint32_t i = 0; x && i < x->timers.len; i++) {
            if (t[i].corr == m->corr) {
                tr_relay_rec rel;
                bool relayed = relay_take(x, m->corr, &rel);
                if (relayed) { /* tr_forward's relay: the answer goes on to the requester */
                    tr_msg *r = tr__actor_msg_new(tr__actor_self(a), rel.to, m->type, rel.to_corr,
                                                  m->body, m->body_len);
                    if (r) {
                        r->trace = rel.trace;
                        r->flags_ |= (rel.to_corr & TR__CORR_REQUEST) ? TR__F_REPLY : 0;
                        (void)tr__actor_send(a->node, NULL, r, NULL);
                    }
                }
                tr__actor_timer_drop(a, i); /* the reply beat the timeout */
                return !relayed;
            }
        }
        return false; /* late (after its timeout) or unknown: dropped */
    }
    return true;
}

/* ---- the run loop -------------------------------------------------------------------- */

/* This thread's shard of the metrics counters (metrics.h): per activation, the messages
 * handled and sent go there with a plain load and store each, no locked instruction. */
static _Thread_local tr__metrics_local metrics_local;

/* The call of receive for actors in odd slots, a call site of its own. A branch predictor
 * keeps one history per indirect call site; two actors that answer each other on one worker
 * (ping and pong, a client and its service) made the one site alternate between two targets
 * at every message, and it guessed wrong often enough to cost a quarter of a pingpong
 * (docs/benchmarks.md). Split by slot parity, such a pair usually meets two sites whose
 * targets do not change. Not inlined (the compiler would merge the two calls again); the
 * call it adds is a direct one, and it ends in a jump to receive. */
static __attribute__((noinline)) int receive_odd_slot(tr_ctx *ctx, tr_actor *a, tr_msg *m) {
    return a->beh->receive(ctx, a->state, m);
}

bool tr__actor_run(tr_actor *a) {
    /* A run for an actor that is idle (empty bit set) is spurious: e.g. a simulated crash
     * reset the node while a run was queued. Running it would steal a token. */
    if (tr__mailbox_is_idle(&a->mb)) {
        return false;
    }
    tr_node *node = a->node;
    tr_ctx ctx = {a, node, NULL, NULL, 0, 0, 0};
    run_token_take(a);
    tr_ctx *saved = current_ctx;
    current_ctx = &ctx;
    uint64_t my_id = atomic_load_explicit(&a->id, memory_order_relaxed);
    uint32_t n = 0, batch = node->batch;
    int reason = 0;
    bool die = false;
    tr_msg *m;
    /* `queued` is a shared cache line (the senders increment it): one atomic per
     * activation instead of one per message, except for a bounded mailbox,
     * whose capacity check needs the exact count. Unbounded mailboxes only use `queued`
     * against the mute thresholds, which a lag of one batch cannot upset. */
    bool exact = a->mb.capacity != 0;
    uint32_t delivered = 0;
    /* The simulator's delivery hook (an engine's ops do not change while it runs). */
    void (*hook)(void *, tr_node *, const tr_msg *) = node->ops->delivered;
    while (n < batch &&
           (m = exact ? tr__mailbox_pop(&a->mb) : tr__mailbox_pop_uncounted(&a->mb)) != NULL) {
        n++;
        if (m->to.actor != my_id || my_id == 0) { /* for a previous owner of the slot */
            tr__actor_dead_stopped(node, m);
            continue;
        }
        ctx.current = m;
        ctx.out_what = 0; /* tr_trace_start/tr_deadline_set last for one message */
        if (m->type == TR__SYS_INIT) {
            a->inited = 1;
            int rc = a->beh->init ? a->beh->init(&ctx, a->state, m->body, m->body_len) : 0;
            callback_done(&ctx);
            if (rc == 0 && ctx.stop_self) {
                break;
            }
            if (rc != 0) {
                reason = rc < 0 ? rc : TR_EFAILED;
                die = true;
                break;
            }
            continue;
        }
        if (m->type >= TR__SYS_BASE) {
            int d = dispatch_sys(&ctx, a, m, &reason);
            callback_done(&ctx);
            if (d == DISPATCH_DIE) {
                die = true;
                break;
            }
            if (d == DISPATCH_SKIP) {
                continue;
            }
        } else if (!filter_user(a, m)) {
            continue;
        }
        delivered++;
        struct tr__spans *spans = atomic_load_explicit(&node->spans, memory_order_relaxed);
        int rc;
        /* One test for both: fewer branches between two calls of receive also help the
         * predictor of its target (receive_odd_slot). */
        if (__builtin_expect(((uintptr_t)hook | (uintptr_t)spans) != 0, 0)) {
            if (hook) {
                hook(node->engine, node, m); /* sim: trace */
            }
            rc = spans ? tr__spans_receive(spans, &ctx, a, m) : a->beh->receive(&ctx, a->state, m);
        } else if (my_id & 1) {
            rc = receive_odd_slot(&ctx, a, m);
        } else {
            rc = a->beh->receive(&ctx, a->state, m);
        }
        callback_done(&ctx);
        if (rc != TR_CONTINUE) {
            reason = rc == TR_STOP ? 0 : (rc < 0 ? rc : TR_EFAILED);
            die = true;
            break;
        }
        if (ctx.stop_self) {
            reason = ctx.stop_reason;
            die = true;
            break;
        }
        /* troupe.h: a sender that floods a mailbox is paused after its CURRENT callback
         * (Pony's maybe_mute), not at the end of its batch: a producer that continues
         * through messages to itself would otherwise send batch x (its sends per callback)
         * before being muted, e.g. 100k queued messages instead of ~threshold. */
        if (ctx.mute_on) {
            break;
        }
    }
    if (!exact && n) {
        tr__mailbox_popped(&a->mb, n);
    }
    /* also the node's messages delivered (tr__metrics_delivered): no node-wide atomic */
    tr__metrics_count(&node->metrics, &metrics_local, a->mrow, delivered, ctx.sent);
    if (!die && ctx.stop_self) { /* tr_stop(self) from init or a system message path */
        die = true;
        reason = ctx.stop_reason;
    }
    if (die) {
        actor_die(&ctx, a, reason, true); /* hands the token back itself */
        current_ctx = saved;
        return false;
    }
    /* After the pops' count (seq_cst, tr__mailbox_popped): see mute_self. */
    if (atomic_load_explicit(&a->has_muted, memory_order_seq_cst) &&
        atomic_load_explicit(&a->mb.queued, memory_order_acquire) <= node->mute_threshold / 2) {
        unmute_senders_of(node, my_id, false);
    }
    /* From here on another thread may take the actor the moment the token is handed back
     * (mute_self, mark_empty): the marker goes first. The pops are over; what follows only
     * looks at the head. */
    run_token_release(a);
    current_ctx = saved;
    if (ctx.mute_on && mute_self(a, ctx.mute_on, ctx.mute_on_id)) {
        return false; /* keeps its token; the receiver reschedules it */
    }
    if (tr__mailbox_has_next(&a->mb)) {
        return true;
    }
    return !tr__mailbox_mark_empty(&a->mb);
}

/* Frees every actor of a node that no engine runs any more. */
void tr__actor_free_all(tr_node *node, bool run_terminate) {
    for (uint32_t p = 0; p < TR__PAGES_MAX; p++) {
        tr_actor *page = atomic_load_explicit(&node->pages[p], memory_order_acquire);
        if (!page) {
            break;
        }
        for (uint32_t i = 0; i < TR__PAGE_SIZE; i++) {
            tr_actor *a = &page[i];
            if (atomic_load_explicit(&a->id, memory_order_acquire) != 0) {
                tr_ctx ctx = {a, node, NULL, NULL, 0, 0, 0};
                tr_ctx *saved = current_ctx;
                current_ctx = &ctx;
                run_token_take(a);
                if (run_terminate && a->inited && a->beh->terminate) {
                    a->beh->terminate(&ctx, a->state, TR_EKILLED);
                    callback_done(&ctx);
                }
                run_token_release(a);
                current_ctx = saved;
                atomic_store_explicit(&a->id, 0, memory_order_relaxed);
                free_ext(a);
                free(a->state);
                a->state = NULL;
                atomic_fetch_sub_explicit(&node->st_live, 1, memory_order_relaxed);
                tr__metrics_add(&tr__metrics_type_of(&node->metrics, a->beh)->stopped, 1);
            }
            TR_ASSERT(a->running == 0);
            tr__mailbox_discard(&a->mb);
        }
    }
}

void tr__actor_timer_fire(tr_node *node, tr_addr owner, uint64_t timer_id) {
    (void)tr__actor_send_sys(node, owner, owner, TR__SYS_TIMER, timer_id, NULL, 0);
}

/* ---- checks and context -------------------------------------------------------------- */

bool tr__actor_check(tr_node *node, uint32_t slot) {
    tr_actor *a = tr__actor_slot_at(node, slot);
    TR_ASSERT(a != NULL);
    TR_ASSERT(a->running == 0);
    uint32_t queued = tr__mailbox_check(&a->mb);
    uint64_t id = atomic_load_explicit(&a->id, memory_order_acquire);
    if (slot >= node->slot_next) { /* never used */
        TR_ASSERT(id == 0 && a->gen == 0 && queued == 0 && tr__mailbox_is_idle(&a->mb));
        return false;
    }
    if (id == 0) {
        TR_ASSERT(a->state == NULL && a->ext == NULL);
        return false;
    }
    TR_ASSERT(tr__actor_id_slot(id) == slot && (uint32_t)(id >> 32) == a->gen && a->gen != 0);
    TR_ASSERT(a->node == node && a->beh != NULL && a->beh->receive != NULL);
    TR_ASSERT(a->beh->state_size == 0 || a->state != NULL);
    return true;
}

void tr__actor_context(char *buf, size_t cap) {
    const tr_ctx *ctx = current_ctx;
    if (!ctx) {
        snprintf(buf, cap, "no actor running");
        return;
    }
    const tr_actor *a = ctx->actor;
    uint64_t id = atomic_load_explicit(&a->id, memory_order_relaxed);
    const char *beh = a->beh && a->beh->name ? a->beh->name : "?";
    const char *name = a->ext && a->ext->name[0] ? a->ext->name : "-";
    snprintf(buf, cap, "node %s, actor %u:%#llx name %s behaviour %s, message type %#x",
             ctx->node->name, ctx->node->id, (unsigned long long)id, name, beh,
             ctx->current ? ctx->current->type : 0u);
}
