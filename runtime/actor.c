/*
 * actor.c — actors: slots, mailboxes, the run loop, sending, links, monitors, timers,
 * requests. See internal.h for the mailbox and memory invariants.
 *
 * Ordering notes for the atomics (Pony's messageq.c):
 *   push: exchange(head, acq_rel) publishes the new node to the next producer; the
 *         store(prev->next, release) publishes the message body to the consumer.
 *   pop:  load(tail->next, acquire) pairs with that release store.
 *   mark_empty: CAS(head, tail -> tail|1, acq_rel) fails iff a producer pushed since.
 *   id:   store(release) after [init] fields are written; senders load(acquire).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/store.h"

static _Thread_local tr_ctx *current_ctx;

/* ---- small helpers ------------------------------------------------------------------ */

int tr__vec_push(tr_vec *v, const void *item, size_t size) {
    if (v->len == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        void *p = realloc(v->items, (size_t)cap * size);
        if (!p) {
            return TR_ENOMEM;
        }
        v->items = p;
        v->cap = cap;
    }
    memcpy((char *)v->items + (size_t)v->len * size, item, size);
    v->len++;
    return 0;
}

void tr__vec_remove(tr_vec *v, uint32_t i, size_t size) {
    assert(i < v->len);
    v->len--;
    if (i != v->len) {
        memcpy((char *)v->items + (size_t)i * size, (char *)v->items + (size_t)v->len * size, size);
    }
}

void tr__vec_free(tr_vec *v) {
    free(v->items);
    v->items = NULL;
    v->len = v->cap = 0;
}

size_t tr__pack_int(uint8_t *buf, int64_t v) {
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

static inline uint32_t id_slot(uint64_t id) {
    return (uint32_t)(id & 0xFFFFFFFFu);
}

static tr_actor *slot_at(tr_node *node, uint32_t slot) {
    uint32_t page = slot >> TR__PAGE_SHIFT;
    if (page >= TR__PAGES_MAX) {
        return NULL;
    }
    tr_actor *p = atomic_load_explicit(&node->pages[page], memory_order_acquire);
    if (!p) {
        return NULL;
    }
    return &p[slot & (TR__PAGE_SIZE - 1)];
}

tr_actor *tr__slot_get(tr_node *node, uint64_t actor_id) {
    return actor_id == 0 ? NULL : slot_at(node, id_slot(actor_id));
}

static tr_actor_ext *ext_of(tr_actor *a) {
    if (!a->ext) {
        a->ext = calloc(1, sizeof *a->ext);
    }
    return a->ext;
}

static inline tr_addr addr_of(tr_actor *a) {
    return (tr_addr){a->node->id, 0, atomic_load_explicit(&a->id, memory_order_relaxed)};
}

tr_node *tr__actor_node(const tr_actor *a) {
    return a->node;
}
tr_addr tr__actor_addr(const tr_actor *a) {
    return addr_of((tr_actor *)a);
}

/* ---- mailbox -------------------------------------------------------------------------- */

static void mq_init(tr_actor *a) {
    atomic_store_explicit(&a->stub.next_, NULL, memory_order_relaxed);
    a->tail = (tr_msg *)(void *)&a->stub;
    atomic_store_explicit(&a->head, (uintptr_t)a->tail | 1, memory_order_relaxed);
    atomic_store_explicit(&a->queued, 0, memory_order_relaxed);
}

/* Returns true if the mailbox was empty and unscheduled: the caller must schedule. */
static inline bool mq_push(tr_actor *a, tr_msg *m) {
    atomic_store_explicit(&m->next_, NULL, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->queued, 1, memory_order_relaxed);
    uintptr_t prev = atomic_exchange_explicit(&a->head, (uintptr_t)m, memory_order_acq_rel);
    tr_msg *p = (tr_msg *)(prev & ~(uintptr_t)1);
    atomic_store_explicit(&p->next_, m, memory_order_release);
    return (prev & 1) != 0;
}

static inline void release_stub(tr_actor *a, tr_msg *old) {
    if ((void *)old != (void *)&a->stub) {
        tr__msg_release(old);
    }
}

/* Pops without touching `queued`: the run loop accounts for a whole activation at once. */
static inline tr_msg *mq_pop_uncounted(tr_actor *a) {
    tr_msg *tail = a->tail;
    tr_msg *next = atomic_load_explicit(&tail->next_, memory_order_acquire);
    if (!next) {
        return NULL;
    }
    a->tail = next;
    release_stub(a, tail);
    return next;
}

static inline tr_msg *mq_pop(tr_actor *a) {
    tr_msg *next = mq_pop_uncounted(a);
    if (next) {
        atomic_fetch_sub_explicit(&a->queued, 1, memory_order_relaxed);
    }
    return next;
}

static inline bool mq_mark_empty(tr_actor *a) {
    uintptr_t expected = (uintptr_t)a->tail;
    return atomic_compare_exchange_strong_explicit(&a->head, &expected, expected | 1,
                                                   memory_order_acq_rel, memory_order_acquire);
}

/* ---- dead letters and routing ---------------------------------------------------------- */

static int send_sys(tr_node *node, tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                    const void *body, size_t len);

/* A message that reached no actor. System requests that expect an answer get one. */
void tr__dead_letter(tr_node *node, tr_msg *m) {
    if (m->type == TR__SYS_MONITOR) {
        uint8_t b[9];
        size_t n = tr__pack_int(b, TR_ENOPROC);
        send_sys(node, m->to, m->from, TR_MSG_DOWN, m->corr, b, n);
    } else if (m->type == TR__SYS_LINK) {
        send_sys(node, m->to, m->from, TR__SYS_EXIT, (uint64_t)(int64_t)TR_ENOPROC, NULL, 0);
    } else if (m->type < TR__SYS_BASE) {
        atomic_fetch_add_explicit(&node->st_dead, 1, memory_order_relaxed);
    }
    tr__msg_release(m);
}

static void note_mute(tr_ctx *ctx, tr_actor *a) {
    if (ctx && ctx->actor != a && !ctx->mute_on) {
        ctx->mute_on = a;
        ctx->mute_on_id = atomic_load_explicit(&a->id, memory_order_relaxed);
    }
}

/* Delivers an owned message to a local actor. */
static int deliver_local(tr_node *node, tr_ctx *ctx, tr_msg *m) {
    tr_actor *a = tr__slot_get(node, m->to.actor);
    if (!a || atomic_load_explicit(&a->id, memory_order_acquire) != m->to.actor) {
        tr__dead_letter(node, m);
        return 0;
    }
    uint32_t q = atomic_load_explicit(&a->queued, memory_order_relaxed);
    /* Runtime notifications (DOWN, EXIT, TIMEOUT, DURABLE, ...) are never refused: losing
     * one would break a supervisor or a request. Only user messages count. */
    if (a->capacity && q >= a->capacity && m->type >= TR_MSG_USER && m->type < TR__SYS_BASE) {
        if (a->overflow == TR_OVERFLOW_REJECT) {
            atomic_fetch_add_explicit(&node->st_rejects, 1, memory_order_relaxed);
            tr__msg_release(m);
            return TR_EFULL;
        }
        tr__dead_letter(node, m);
        return 0;
    }
    if (mq_push(a, m)) {
        node->ops->schedule(node->engine, node, a);
    }
    if (q + 1 > node->mute_threshold) {
        note_mute(ctx, a);
    }
    return 0;
}

int tr__send_msg(tr_node *node, tr_ctx *ctx, tr_msg *m, const char *to_name) {
    if (to_name && to_name[0] && (m->to.node == 0 || m->to.node == node->id)) {
        if (tr__reg_find(node, to_name, &m->to) != 0) {
            tr__dead_letter(node, m);
            return 0;
        }
        to_name = NULL;
    }
    if (m->to.node != 0 && m->to.node != node->id) {
        if (!node->ops->send_remote) {
            tr__dead_letter(node, m);
            return TR_EUNREACH;
        }
        int rc = node->ops->send_remote(node->engine, node, m, to_name);
        if (rc != 0) {
            atomic_fetch_add_explicit(&node->st_dead, 1, memory_order_relaxed);
        }
        return rc == TR_EFULL ? TR_EFULL : 0;
    }
    m->to.node = node->id;
    return deliver_local(node, ctx, m);
}

void tr__node_route(tr_node *node, tr_msg *msg) {
    (void)tr__send_msg(node, NULL, msg, NULL);
}

static tr_msg *make_msg(tr_addr from, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                        size_t len) {
    tr_msg *m = tr__msg_alloc(len);
    if (!m) {
        return NULL;
    }
    m->type = type;
    m->from = from;
    m->to = to;
    m->corr = corr;
    m->body_len = (uint32_t)len;
    if (len) {
        memcpy(tr__msg_body_mut(m), body, len);
    }
    return m;
}

static int send_sys(tr_node *node, tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                    const void *body, size_t len) {
    tr_msg *m = make_msg(from, to, type, corr, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    return tr__send_msg(node, NULL, m, NULL);
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
                mq_init(&p[i]);
            }
            atomic_store_explicit(&node->pages[page], p, memory_order_release);
        }
        node->slot_next++;
    }
    pthread_mutex_unlock(&node->slot_lock);
    *slot_out = slot;
    return slot_at(node, slot);
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
    while ((m = mq_pop(a)) != NULL) {
        /* m stays as the stub: answer it, but the memory is released by the next pop. */
        if (m->type == TR__SYS_MONITOR || m->type == TR__SYS_LINK) {
            tr_msg *copy = make_msg(m->from, m->to, m->type, m->corr, NULL, 0);
            if (copy) {
                tr__dead_letter(node, copy);
            }
        } else if (m->type < TR__SYS_BASE) {
            atomic_fetch_add_explicit(&node->st_dead, 1, memory_order_relaxed);
        }
    }
}

int tr__spawn(tr_node *node, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
              size_t arg_len, tr_addr *out) {
    if (!node || !b || !b->receive || (arg_len && !arg)) {
        return TR_EINVAL;
    }
    if (opts && opts->name && (!opts->name[0] || strlen(opts->name) > TR_NAME_MAX)) {
        return TR_EINVAL;
    }
    tr_msg *init = make_msg(TR_ADDR_NONE, TR_ADDR_NONE, TR__SYS_INIT, 0, arg, arg_len);
    if (!init) {
        return TR_ENOMEM;
    }
    void *state = NULL;
    if (b->state_size && !(state = calloc(1, b->state_size))) {
        tr__msg_release(init);
        return TR_ENOMEM;
    }
    uint32_t slot;
    tr_actor *a = slot_alloc(node, &slot);
    if (!a) {
        free(state);
        tr__msg_release(init);
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
    a->capacity = opts ? opts->mailbox_capacity : 0;
    a->overflow = opts ? (uint8_t)opts->overflow : 0;
    atomic_store_explicit(&a->has_muted, 0, memory_order_relaxed);
    tr_addr addr = {node->id, 0, id};
    if (opts && opts->name) {
        tr_actor_ext *x = ext_of(a);
        int rc = x ? tr__reg_add(node, opts->name, addr, true) : TR_ENOMEM;
        if (rc != 0) {
            free(a->ext);
            a->ext = NULL;
            free(state);
            tr__msg_release(init);
            slot_free(node, slot); /* the slot keeps its token; reuse drains it */
            return rc;
        }
        strcpy(x->name, opts->name);
    }
    init->to = addr;
    init->from = addr;
    atomic_store_explicit(&a->id, id, memory_order_release);
    atomic_fetch_add_explicit(&node->st_live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&node->st_spawned, 1, memory_order_relaxed);
    /* A fresh slot is empty-and-unscheduled; a reused one still holds its dead owner's
     * token (never marked empty). Either way exactly one schedule is owed now. */
    (void)mq_push(a, init);
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
    size_t n = tr__pack_int(body, reason);
    tr_watch *w = x->monitors.items;
    for (uint32_t i = 0; i < x->monitors.len; i++) {
        send_sys(node, self, w[i].who, TR_MSG_DOWN, w[i].ref, body, n);
    }
    tr_addr *l = x->links.items;
    for (uint32_t i = 0; i < x->links.len; i++) {
        send_sys(node, self, l[i], TR__SYS_EXIT, (uint64_t)(int64_t)reason, NULL, 0);
    }
}

/* Forgets our watches on other nodes (they can no longer be answered to us). */
static void drop_remote_watches(tr_node *node, tr_addr self) {
    pthread_mutex_lock(&node->watch_lock);
    tr_remote_watch *w = node->remote_watches.items;
    for (uint32_t i = 0; i < node->remote_watches.len;) {
        if (tr_addr_eq(w[i].watcher, self)) {
            tr__vec_remove(&node->remote_watches, i, sizeof *w);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&node->watch_lock);
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
    free(x);
    a->ext = NULL;
}

/* Runs on the actor's thread. The actor keeps its scheduling token forever (no
 * mark_empty), so pushes after this never schedule the dead slot. */
static void actor_die(tr_ctx *ctx, tr_actor *a, int reason, bool run_terminate) {
    tr_node *node = a->node;
    tr_addr self = addr_of(a);
    if (run_terminate && a->inited && a->beh->terminate) {
        a->beh->terminate(ctx, a->state, reason);
    }
    atomic_store_explicit(&a->id, 0, memory_order_release);
    if (a->ext && a->ext->name[0]) {
        tr__reg_remove_if(node, a->ext->name, self);
        if (node->store) {
            tr_store_actor_gone(node->store, a->ext->name);
        }
    }
    notify_watchers(a, self, reason);
    drop_remote_watches(node, self);
    tr_msg *m;
    uint8_t why[9];
    size_t why_len = tr__pack_int(why, reason);
    while ((m = mq_pop(a)) != NULL) {
        bool mine = m->to.actor == self.actor;
        if (mine && m->type == TR__SYS_MONITOR) { /* asked before we died: the real reason */
            send_sys(node, self, m->from, TR_MSG_DOWN, m->corr, why, why_len);
        } else if (mine && m->type == TR__SYS_LINK) {
            send_sys(node, self, m->from, TR__SYS_EXIT, (uint64_t)(int64_t)reason, NULL, 0);
        } else if (m->type == TR__SYS_MONITOR || m->type == TR__SYS_LINK) {
            tr_msg *copy = make_msg(m->from, self, m->type, m->corr, NULL, 0);
            if (copy) {
                tr__dead_letter(node, copy);
            }
        } else if (m->type < TR__SYS_BASE && mine) {
            atomic_fetch_add_explicit(&node->st_dead, 1, memory_order_relaxed);
        }
    }
    if (atomic_load_explicit(&a->has_muted, memory_order_acquire)) {
        unmute_senders_of(node, self.actor, true);
    }
    free_ext(a);
    free(a->state);
    a->state = NULL;
    atomic_fetch_sub_explicit(&node->st_live, 1, memory_order_relaxed);
    slot_free(node, id_slot(self.actor));
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
    tr_actor *ra = tr__slot_get(node, receiver);
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

/* The sender `a` flooded `r`: park `a` until `r` drains. Returns true if muted. */
static bool mute_self(tr_actor *a, tr_actor *r, uint64_t rid) {
    tr_node *node = a->node;
    uint32_t low = node->mute_threshold / 2;
    bool muted = false;
    pthread_mutex_lock(&node->mute_lock);
    if (atomic_load_explicit(&r->id, memory_order_acquire) == rid &&
        atomic_load_explicit(&r->queued, memory_order_acquire) > low) {
        tr_mute_rec rec = {rid, a};
        if (tr__vec_push(&node->mutes, &rec, sizeof rec) == 0) {
            atomic_store_explicit(&r->has_muted, 1, memory_order_release);
            muted = true;
        }
    }
    pthread_mutex_unlock(&node->mute_lock);
    if (muted) {
        atomic_fetch_add_explicit(&node->st_mutes, 1, memory_order_relaxed);
    }
    return muted;
}

/* ---- system messages ----------------------------------------------------------------- */

static tr_timer_rec *timer_find(tr_actor_ext *x, uint64_t id, uint32_t *idx) {
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
static void timer_drop(tr_actor *a, uint32_t i) {
    tr_timer_rec *t = &((tr_timer_rec *)a->ext->timers.items)[i];
    tr_node *node = a->node;
    if (t->handle && node->ops->timer_cancel) {
        node->ops->timer_cancel(node->engine, node, addr_of(a), t->id, t->handle);
    }
    tr__vec_remove(&a->ext->timers, i, sizeof *t);
}

static bool watch_remove(tr_vec *v, tr_addr who, uint64_t ref, bool match_who) {
    tr_watch *w = v->items;
    for (uint32_t i = 0; i < v->len; i++) {
        if (w[i].ref == ref && (!match_who || tr_addr_eq(w[i].who, who))) {
            tr__vec_remove(v, i, sizeof *w);
            return true;
        }
    }
    return false;
}

static bool link_remove(tr_vec *v, tr_addr who) {
    tr_addr *l = v->items;
    for (uint32_t i = 0; i < v->len; i++) {
        if (tr_addr_eq(l[i], who)) {
            tr__vec_remove(v, i, sizeof *l);
            return true;
        }
    }
    return false;
}

static void remote_watch_forget(tr_node *node, tr_addr watcher, tr_addr target, uint64_t ref,
                                uint8_t kind) {
    pthread_mutex_lock(&node->watch_lock);
    tr_remote_watch *w = node->remote_watches.items;
    for (uint32_t i = 0; i < node->remote_watches.len; i++) {
        if (w[i].kind == kind && w[i].ref == ref && tr_addr_eq(w[i].watcher, watcher) &&
            tr_addr_eq(w[i].target, target)) {
            tr__vec_remove(&node->remote_watches, i, sizeof *w);
            break;
        }
    }
    pthread_mutex_unlock(&node->watch_lock);
}

enum {
    DISPATCH_DELIVER,
    DISPATCH_SKIP,
    DISPATCH_DIE
};

/* Handles runtime-level messages. Returns whether to call receive, skip, or die (*reason). */
static int dispatch_sys(tr_ctx *ctx, tr_actor *a, tr_msg *m, int *reason) {
    tr_actor_ext *x;
    switch (m->type) {
    case TR__SYS_KILL: *reason = (int)(int64_t)m->corr; return DISPATCH_DIE;
    case TR__SYS_LINK:
        if ((x = ext_of(a))) {
            link_remove(&x->links, m->from); /* no duplicates */
            (void)tr__vec_push(&x->links, &m->from, sizeof m->from);
        }
        return DISPATCH_SKIP;
    case TR__SYS_UNLINK:
        if (a->ext) {
            link_remove(&a->ext->links, m->from);
        }
        return DISPATCH_SKIP;
    case TR__SYS_MONITOR:
        if ((x = ext_of(a))) {
            tr_watch w = {m->from, m->corr};
            (void)tr__vec_push(&x->monitors, &w, sizeof w);
        }
        return DISPATCH_SKIP;
    case TR__SYS_DEMONITOR:
        if (a->ext) {
            watch_remove(&a->ext->monitors, m->from, m->corr, true);
        }
        return DISPATCH_SKIP;
    case TR__SYS_EXIT: {
        int r = (int)(int64_t)m->corr;
        bool linked = a->ext && link_remove(&a->ext->links, m->from);
        if (m->from.node != a->node->id && linked) {
            remote_watch_forget(a->node, addr_of(a), m->from, 0, 1);
        }
        if (!linked) {
            return DISPATCH_SKIP; /* unlinked since, or never linked */
        }
        if (a->trap_exit) {
            m->type = TR_MSG_EXIT;
            m->body_len = (uint32_t)tr__pack_int(tr__msg_body_mut(m), r);
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
        tr_timer_rec *t = timer_find(a->ext, m->corr, &idx);
        if (!t) {
            return DISPATCH_SKIP; /* cancelled */
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
            t->handle =
                a->node->ops->timer_arm(a->node->engine, a->node, addr_of(a), t->id, t->due_ns);
        } else {
            tr__vec_remove(&a->ext->timers, idx, sizeof *t);
        }
        return DISPATCH_DELIVER;
    }
    case TR__SYS_WAKE: return DISPATCH_SKIP;
    default: return DISPATCH_SKIP;
    }
}

/* Request correlation ids have the top bit set, so a late reply is recognised. */
#define TR__CORR_REQUEST (UINT64_C(1) << 63)

/* A user message: drop late replies and DOWNs of cancelled monitors. */
static bool filter_user(tr_actor *a, tr_msg *m) {
    tr_actor_ext *x = a->ext;
    if (m->type == TR_MSG_DOWN) {
        if (!x || !watch_remove(&x->watching, m->from, m->corr, false)) {
            return false;
        }
        if (m->from.node != a->node->id) {
            remote_watch_forget(a->node, addr_of(a), m->from, m->corr, 0);
        }
        return true;
    }
    if (m->flags_ & TR__F_REPLY) { /* a reply: only while its request is pending */
        tr_timer_rec *t = x ? x->timers.items : NULL;
        for (uint32_t i = 0; x && i < x->timers.len; i++) {
            if (t[i].corr == m->corr) {
                timer_drop(a, i); /* the reply beat the timeout */
                return true;
            }
        }
        return false; /* late (after its timeout) or unknown: dropped */
    }
    return true;
}

/* ---- the run loop -------------------------------------------------------------------- */

bool tr__actor_run(tr_actor *a) {
    /* A run for an actor that is idle (empty bit set) is spurious: e.g. a simulated crash
     * reset the node while a run was queued. Running it would steal a token. */
    if (atomic_load_explicit(&a->head, memory_order_acquire) & 1) {
        return false;
    }
    tr_node *node = a->node;
    tr_ctx ctx = {a, node, NULL, NULL, 0, 0, 0};
    tr_ctx *saved = current_ctx;
    current_ctx = &ctx;
    uint64_t my_id = atomic_load_explicit(&a->id, memory_order_relaxed);
    uint32_t n = 0, batch = node->batch;
    int reason = 0;
    bool die = false;
    tr_msg *m;
    /* `queued` and st_delivered are shared cache lines (the senders increment `queued`):
     * one atomic per activation instead of one per message, except for a bounded mailbox,
     * whose capacity check needs the exact count. Unbounded mailboxes only use `queued`
     * against the mute thresholds, which a lag of one batch cannot upset. */
    bool exact = a->capacity != 0;
    uint32_t delivered = 0;
    while (n < batch && (m = exact ? mq_pop(a) : mq_pop_uncounted(a)) != NULL) {
        n++;
        if (m->to.actor != my_id || my_id == 0) { /* for a previous owner of the slot */
            if (m->type == TR__SYS_MONITOR || m->type == TR__SYS_LINK) {
                tr_msg *copy = make_msg(m->from, m->to, m->type, m->corr, NULL, 0);
                if (copy) {
                    tr__dead_letter(node, copy);
                }
            } else if (m->type < TR__SYS_BASE) {
                atomic_fetch_add_explicit(&node->st_dead, 1, memory_order_relaxed);
            }
            continue;
        }
        ctx.current = m;
        if (m->type == TR__SYS_INIT) {
            a->inited = 1;
            int rc = a->beh->init ? a->beh->init(&ctx, a->state, m->body, m->body_len) : 0;
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
        if (node->ops->delivered) {
            node->ops->delivered(node->engine, node, m); /* sim: trace */
        }
        int rc = a->beh->receive(&ctx, a->state, m);
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
         * (Pony's maybe_mute). Finishing the batch first let a producer that continues
         * through messages to itself send batch x (its sends per callback) before being
         * muted: 100k queued messages instead of ~threshold. */
        if (ctx.mute_on) {
            break;
        }
    }
    if (!exact && n) {
        atomic_fetch_sub_explicit(&a->queued, n, memory_order_relaxed);
    }
    if (delivered) {
        atomic_fetch_add_explicit(&node->st_delivered, delivered, memory_order_relaxed);
    }
    bool again;
    if (!die && ctx.stop_self) { /* tr_stop(self) from init or a system message path */
        die = true;
        reason = ctx.stop_reason;
    }
    if (die) {
        actor_die(&ctx, a, reason, true);
        again = false;
    } else {
        if (atomic_load_explicit(&a->has_muted, memory_order_acquire) &&
            atomic_load_explicit(&a->queued, memory_order_acquire) <= node->mute_threshold / 2) {
            unmute_senders_of(node, my_id, false);
        }
        if (ctx.mute_on && mute_self(a, ctx.mute_on, ctx.mute_on_id)) {
            again = false; /* keeps its token; the receiver reschedules it */
        } else if (atomic_load_explicit(&a->tail->next_, memory_order_acquire) != NULL) {
            again = true;
        } else {
            again = !mq_mark_empty(a);
        }
    }
    current_ctx = saved;
    return again;
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
                if (run_terminate && a->inited && a->beh->terminate) {
                    a->beh->terminate(&ctx, a->state, TR_EKILLED);
                }
                current_ctx = saved;
                atomic_store_explicit(&a->id, 0, memory_order_relaxed);
                free_ext(a);
                free(a->state);
                a->state = NULL;
                atomic_fetch_sub_explicit(&node->st_live, 1, memory_order_relaxed);
            }
            tr_msg *m;
            while ((m = mq_pop(a)) != NULL) {
            }
            release_stub(a, a->tail);
            mq_init(a);
        }
    }
}

/* ---- the tr_ctx API -------------------------------------------------------------------- */

tr_addr tr_self(const tr_ctx *ctx) {
    return addr_of(ctx->actor);
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

static int ctx_send(tr_ctx *ctx, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                    size_t len, const char *to_name) {
    if (!ctx || (len && !body) || len > TR_VALUE_MAX || type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    tr_msg *m = make_msg(addr_of(ctx->actor), to, type, corr, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    if (ctx->current) {
        m->trace = ctx->current->trace;
    }
    return tr__send_msg(ctx->node, ctx, m, to_name);
}

int tr_send(tr_ctx *ctx, tr_addr to, uint32_t type, const void *body, size_t len) {
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
        return 0;
    }
    if (rc) {
        return rc;
    }
    return ctx_send(ctx, to, type, 0, body, len, local);
}

static uint64_t next_corr(tr_actor *a) {
    tr_actor_ext *x = ext_of(a);
    if (!x) {
        return 0;
    }
    return ++x->next_corr;
}

static int arm_timer(tr_ctx *ctx, uint64_t id, uint64_t corr, uint32_t type, uint32_t delay_ms,
                     uint32_t period_ms) {
    tr_actor *a = ctx->actor;
    tr_actor_ext *x = ext_of(a);
    if (!x) {
        return TR_ENOMEM;
    }
    uint64_t due = tr_now_ns(ctx) + (uint64_t)delay_ms * 1000000u;
    tr_timer_rec t = {id, corr, type, period_ms, due, 0};
    int rc = tr__vec_push(&x->timers, &t, sizeof t);
    if (rc) {
        return rc;
    }
    uint64_t handle = ctx->node->ops->timer_arm(ctx->node->engine, ctx->node, addr_of(a), id, due);
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

int tr_request(tr_ctx *ctx, tr_addr to, uint32_t type, const void *body, size_t len,
               uint32_t timeout_ms, uint64_t *corr_out) {
    if (!ctx || tr_addr_is_none(to)) {
        return TR_EINVAL;
    }
    return request(ctx, to, NULL, type, body, len, timeout_ms, corr_out);
}

int tr__request_to(tr_ctx *ctx, tr_addr to, const char *name, uint32_t type, const void *body,
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

bool tr_msg_is_reply(const tr_msg *msg) {
    return msg && (msg->flags_ & TR__F_REPLY) != 0;
}

int tr_reply(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body, size_t len) {
    if (!ctx || !req || tr_addr_is_none(req->from) || (len && !body) || len > TR_VALUE_MAX ||
        type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    tr_msg *m = make_msg(addr_of(ctx->actor), req->from, type, req->corr, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    m->trace = req->trace;
    if (req->corr & TR__CORR_REQUEST) {
        m->flags_ |= TR__F_REPLY;
    }
    return tr__send_msg(ctx->node, ctx, m, NULL);
}

int tr_reply_durable(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body, size_t len) {
    if (!req || tr_addr_is_none(req->from) || (len && !body) || type >= TR__SYS_BASE) {
        return TR_EINVAL;
    }
    if (!ctx->node->store) {
        return TR_ENOTSUP;
    }
    tr_msg *m = make_msg(addr_of(ctx->actor), req->from, type, req->corr, body, len);
    if (!m) {
        return TR_ENOMEM;
    }
    m->trace = req->trace;
    if (req->corr & TR__CORR_REQUEST) {
        m->flags_ |= TR__F_REPLY;
    }
    int rc = tr_store_hold(ctx->node->store, m);
    if (rc) {
        tr__msg_release(m);
    }
    return rc;
}

int tr_spawn(tr_ctx *ctx, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
             size_t arg_len, tr_addr *out) {
    if (!ctx) {
        return TR_EINVAL;
    }
    return tr__spawn(ctx->node, b, opts, arg, arg_len, out);
}

int tr_stop(tr_ctx *ctx, tr_addr target, int reason) {
    if (!ctx || tr_addr_is_none(target) || reason > 0) {
        return TR_EINVAL;
    }
    tr_actor *a = ctx->actor;
    if (target.actor == addr_of(a).actor && (target.node == 0 || target.node == ctx->node->id)) {
        ctx->stop_self = 1; /* dies when the callback returns: the message stays valid */
        ctx->stop_reason = reason;
        return 0;
    }
    return send_sys(ctx->node, addr_of(a), target, TR__SYS_KILL, (uint64_t)(int64_t)reason, NULL,
                    0);
}

static void remote_watch_add(tr_node *node, tr_addr watcher, tr_addr target, uint64_t ref,
                             uint8_t kind) {
    tr_remote_watch w = {watcher, target, ref, kind};
    pthread_mutex_lock(&node->watch_lock);
    (void)tr__vec_push(&node->remote_watches, &w, sizeof w);
    pthread_mutex_unlock(&node->watch_lock);
    if (node->ops->watch_node) {
        node->ops->watch_node(node->engine, node, target.node);
    }
}

static bool is_remote(tr_ctx *ctx, tr_addr a) {
    return a.node != 0 && a.node != ctx->node->id;
}

int tr_link(tr_ctx *ctx, tr_addr other) {
    if (!ctx || tr_addr_is_none(other) || tr_addr_eq(other, tr_self(ctx))) {
        return TR_EINVAL;
    }
    tr_actor_ext *x = ext_of(ctx->actor);
    if (!x) {
        return TR_ENOMEM;
    }
    link_remove(&x->links, other);
    int rc = tr__vec_push(&x->links, &other, sizeof other);
    if (rc) {
        return rc;
    }
    if (is_remote(ctx, other)) {
        remote_watch_add(ctx->node, tr_self(ctx), other, 0, 1);
    }
    return send_sys(ctx->node, tr_self(ctx), other, TR__SYS_LINK, 0, NULL, 0);
}

int tr_unlink(tr_ctx *ctx, tr_addr other) {
    if (!ctx || tr_addr_is_none(other)) {
        return TR_EINVAL;
    }
    if (ctx->actor->ext) {
        link_remove(&ctx->actor->ext->links, other);
    }
    if (is_remote(ctx, other)) {
        remote_watch_forget(ctx->node, tr_self(ctx), other, 0, 1);
    }
    return send_sys(ctx->node, tr_self(ctx), other, TR__SYS_UNLINK, 0, NULL, 0);
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
        remote_watch_add(ctx->node, tr_self(ctx), target, ref, 0);
    }
    if (ref_out) {
        *ref_out = ref;
    }
    return send_sys(ctx->node, tr_self(ctx), target, TR__SYS_MONITOR, ref, NULL, 0);
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
                remote_watch_forget(ctx->node, tr_self(ctx), target, ref, 0);
            }
            return send_sys(ctx->node, tr_self(ctx), target, TR__SYS_DEMONITOR, ref, NULL, 0);
        }
    }
    return TR_ENOENT;
}

int tr_monitor_node(tr_ctx *ctx, uint32_t node_id) {
    if (!ctx || node_id == 0 || node_id == ctx->node->id) {
        return TR_EINVAL;
    }
    remote_watch_add(ctx->node, tr_self(ctx), (tr_addr){node_id, 0, 0}, 0, 2);
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
    tr_timer_rec *t = ctx ? timer_find(ctx->actor->ext, timer_id, &idx) : NULL;
    if (!t || t->corr) {
        return TR_ENOENT;
    }
    timer_drop(ctx->actor, idx);
    return 0;
}

void tr__timer_fire(tr_node *node, tr_addr owner, uint64_t timer_id) {
    (void)send_sys(node, owner, owner, TR__SYS_TIMER, timer_id, NULL, 0);
}

int tr_register(tr_ctx *ctx, const char *name, tr_addr who) {
    if (!ctx || !name || !name[0] || strlen(name) > TR_NAME_MAX || tr_addr_is_none(who)) {
        return TR_EINVAL;
    }
    if (who.node != 0 && who.node != ctx->node->id) {
        return TR_EINVAL;
    }
    who.node = ctx->node->id;
    return tr__reg_add(ctx->node, name, who, true);
}

int tr_unregister(tr_ctx *ctx, const char *name) {
    tr_addr cur;
    if (!ctx || !name) {
        return TR_EINVAL;
    }
    if (tr__reg_find(ctx->node, name, &cur)) {
        return TR_ENOENT;
    }
    tr__reg_remove_if(ctx->node, name, cur);
    return 0;
}

int tr_lookup(tr_ctx *ctx, const char *name, tr_addr *out) {
    if (!ctx || !name || !out) {
        return TR_EINVAL;
    }
    return tr__reg_find(ctx->node, name, out);
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

int tr_kv_get(tr_ctx *ctx, const void *key, size_t klen, void *buf, size_t cap, size_t *len) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_get(ctx->node->store, n, key, klen, buf, cap, len);
}

int tr_kv_put(tr_ctx *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_put(ctx->node->store, n, key, klen, val, vlen);
}

int tr_kv_del(tr_ctx *ctx, const void *key, size_t klen) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_del(ctx->node->store, n, key, klen);
}

int tr_journal_append(tr_ctx *ctx, const void *event, size_t len, uint64_t *seq_out) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_append(ctx->node->store, n, event, len, seq_out);
}

int tr_snapshot_write(tr_ctx *ctx, uint64_t seq, const void *data, size_t len) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_snapshot(ctx->node->store, n, seq, data, len);
}

int tr_journal_truncate(tr_ctx *ctx, uint64_t upto_seq) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_truncate(ctx->node->store, n, upto_seq);
}

int tr_recover(tr_ctx *ctx, tr_snapshot_cb on_snapshot, tr_event_cb on_event, void *ud) {
    const char *n;
    int rc = store_name(ctx, &n);
    return rc ? rc : tr_store_recover(ctx->node->store, n, on_snapshot, on_event, ud);
}

int tr_durable_notify(tr_ctx *ctx, uint64_t *token_out) {
    if (!ctx) {
        return TR_EINVAL;
    }
    if (!ctx->node->store) {
        return TR_ENOTSUP;
    }
    return tr_store_notify(ctx->node->store, tr_self(ctx), token_out);
}
