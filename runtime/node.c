/*
 * node.c — a node: its lifecycle (create, crash, destroy), its store binding, its watches
 * on other nodes and the events about them, the invariant walker, statistics, and the
 * tr_node_* API used from outside actors. Its actor slots are actor.c's, its names
 * registry.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/internal.h"
#include "runtime/store.h"

/* ---- store hooks ----------------------------------------------------------------------- */

static void hook_ready(void *ud) {
    tr_node *node = ud;
    if (node->ops->store_ready) {
        node->ops->store_ready(node->engine, node);
    }
}

static void hook_durable(void *ud, tr_addr who, uint64_t token, int status) {
    tr_node *node = ud;
    tr_msg *m = tr__pool_alloc(9);
    if (!m) {
        return;
    }
    m->type = TR_MSG_DURABLE;
    m->from = who;
    m->to = who;
    m->corr = token;
    m->body_len = (uint32_t)tr__actor_pack_int(tr__pool_body_mut(m), status);
    tr__node_route(node, m);
}

static void hook_release(void *ud, tr_msg *held, int status) {
    tr_node *node = ud;
    if (status == 0) {
        tr__node_route(node, held);
    } else {
        tr__pool_release(held);
    }
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int tr__node_create(const tr_node_opts *opts, tr_node **out) {
    if (!opts || !opts->ops || !out || opts->node_id == 0) {
        return TR_EINVAL;
    }
    if (opts->name && strlen(opts->name) > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    tr_node *node = calloc(1, sizeof *node);
    if (!node) {
        return TR_ENOMEM;
    }
    node->id = opts->node_id;
    if (opts->name && opts->name[0]) {
        strcpy(node->name, opts->name);
    } else {
        snprintf(node->name, sizeof node->name, "n%u", opts->node_id);
    }
    node->batch = opts->batch ? opts->batch : 100;
    node->mute_threshold = opts->mute_threshold ? opts->mute_threshold : 4096;
    node->ops = opts->ops;
    node->engine = opts->engine;
    node->store = opts->store;
    if (tr__registry_init(node) != 0) {
        free(node);
        return TR_ENOMEM;
    }
    pthread_mutex_init(&node->slot_lock, NULL);
    pthread_mutex_init(&node->mute_lock, NULL);
    pthread_mutex_init(&node->watch_lock, NULL);
    tr__metrics_init(&node->metrics);
    if (node->store) {
        tr_store_hooks hooks = {hook_ready, hook_durable, hook_release, node};
        tr__store_bind(node->store, &hooks);
    }
    *out = node;
    return 0;
}

static void node_free_volatile(tr_node *node, bool run_terminate) {
    tr__actor_free_all(node, run_terminate);
    tr__registry_clear(node);
    pthread_mutex_lock(&node->mute_lock);
    tr__vec_free(&node->mutes);
    pthread_mutex_unlock(&node->mute_lock);
    pthread_mutex_lock(&node->watch_lock);
    tr__vec_free(&node->remote_watches);
    pthread_mutex_unlock(&node->watch_lock);
    pthread_mutex_lock(&node->slot_lock);
    node->free_len = 0; /* every slot goes back, lowest on top, for determinism */
    if (node->free_cap < node->slot_next) {
        uint32_t *p = realloc(node->free_slots, node->slot_next * sizeof *p);
        if (p) {
            node->free_slots = p;
            node->free_cap = node->slot_next;
        }
    }
    for (uint32_t s = node->slot_next; s > 0 && node->free_len < node->free_cap; s--) {
        node->free_slots[node->free_len++] = s - 1;
    }
    pthread_mutex_unlock(&node->slot_lock);
}

void tr__node_crash(tr_node *node) {
    node_free_volatile(node, false);
    /* the failure detector's view is volatile too: the new incarnation watches afresh */
    atomic_store_explicit(&node->peers_watched, false, memory_order_relaxed);
    atomic_store_explicit(&node->peers_down, 0, memory_order_relaxed);
    TR_DEBUG_ASSERT(tr__node_check(node));
}

void tr__node_destroy(tr_node *node) {
    if (!node) {
        return;
    }
    TR_DEBUG_ASSERT(tr__node_check(node));
    tr__actor_free_all(node, true);
    tr__registry_clear(node);
    tr__vec_free(&node->mutes);
    tr__vec_free(&node->remote_watches);
    for (uint32_t p = 0; p < TR__PAGES_MAX; p++) {
        tr_actor *page = atomic_load_explicit(&node->pages[p], memory_order_relaxed);
        if (!page) {
            break;
        }
        free(page);
    }
    free(node->free_slots);
    tr__registry_deinit(node);
    pthread_mutex_destroy(&node->slot_lock);
    pthread_mutex_destroy(&node->mute_lock);
    pthread_mutex_destroy(&node->watch_lock);
    tr__metrics_deinit(&node->metrics);
    free(node);
}

/* ---- watches on other nodes ------------------------------------------------------------ */

void tr__node_watch_add(tr_node *node, tr_addr watcher, tr_addr target, uint64_t ref,
                        uint8_t kind) {
    TR_ASSERT(kind <= TR__WATCH_NODE && watcher.node == node->id && target.node != node->id);
    tr_remote_watch w = {watcher, target, ref, kind};
    pthread_mutex_lock(&node->watch_lock);
    (void)tr__vec_push(&node->remote_watches, &w, sizeof w);
    pthread_mutex_unlock(&node->watch_lock);
    if (node->ops->watch_node) {
        node->ops->watch_node(node->engine, node, target.node);
    }
}

void tr__node_watch_forget(tr_node *node, tr_addr watcher, tr_addr target, uint64_t ref,
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

void tr__node_watch_drop(tr_node *node, tr_addr watcher) {
    pthread_mutex_lock(&node->watch_lock);
    tr_remote_watch *w = node->remote_watches.items;
    for (uint32_t i = 0; i < node->remote_watches.len;) {
        if (tr_addr_eq(w[i].watcher, watcher)) {
            tr__vec_remove(&node->remote_watches, i, sizeof *w);
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&node->watch_lock);
}

/* ---- the invariant walker (internal.h) -------------------------------------------------- */

static void check_slots(tr_node *node) {
    pthread_mutex_lock(&node->slot_lock);
    uint32_t next = node->slot_next;
    uint32_t pages = 0;
    while (pages < TR__PAGES_MAX &&
           atomic_load_explicit(&node->pages[pages], memory_order_acquire)) {
        pages++;
    }
    for (uint32_t p = pages; p < TR__PAGES_MAX; p++) { /* contiguous from 0 */
        TR_ASSERT(atomic_load_explicit(&node->pages[p], memory_order_relaxed) == NULL);
    }
    TR_ASSERT((uint64_t)pages * TR__PAGE_SIZE >= next);
    uint64_t live = 0;
    for (uint32_t s = 0; s < pages * TR__PAGE_SIZE; s++) {
        live += tr__actor_check(node, s);
    }
    TR_ASSERT(live == atomic_load_explicit(&node->st_live, memory_order_relaxed));
    TR_ASSERT(node->free_len <= node->free_cap && node->free_len <= next);
    uint8_t *seen = calloc(next / 8 + 1, 1);
    for (uint32_t i = 0; seen && i < node->free_len; i++) {
        uint32_t s = node->free_slots[i];
        TR_ASSERT(s < next);
        TR_ASSERT(!(seen[s / 8] & (1u << (s % 8)))); /* listed once */
        seen[s / 8] |= (uint8_t)(1u << (s % 8));
        TR_ASSERT(!tr__actor_check(node, s)); /* a free slot holds no live actor */
    }
    free(seen);
    pthread_mutex_unlock(&node->slot_lock);
}

static bool is_actor_slot(tr_node *node, const tr_actor *a) {
    for (uint32_t p = 0; p < TR__PAGES_MAX; p++) {
        const tr_actor *page = atomic_load_explicit(&node->pages[p], memory_order_relaxed);
        if (!page) {
            return false;
        }
        if (a >= page && a < page + TR__PAGE_SIZE) {
            return ((const char *)a - (const char *)page) % sizeof *a == 0;
        }
    }
    return false;
}

bool tr__node_check(tr_node *node) {
    TR_ASSERT(node != NULL && node->id != 0 && node->ops != NULL);
    TR_ASSERT(node->batch > 0 && node->mute_threshold > 0);
    check_slots(node);
    tr__registry_check(node);
    pthread_mutex_lock(&node->mute_lock);
    const tr_mute_rec *r = node->mutes.items;
    for (uint32_t i = 0; i < node->mutes.len; i++) {
        TR_ASSERT(is_actor_slot(node, r[i].sender));
        TR_ASSERT(!tr__mailbox_is_idle(&r[i].sender->mb)); /* a muted sender keeps its token */
        TR_ASSERT(tr__actor_slot_get(node, r[i].receiver) != r[i].sender);
    }
    pthread_mutex_unlock(&node->mute_lock);
    pthread_mutex_lock(&node->watch_lock);
    const tr_remote_watch *w = node->remote_watches.items;
    for (uint32_t i = 0; i < node->remote_watches.len; i++) {
        TR_ASSERT(w[i].kind <= TR__WATCH_NODE && w[i].watcher.node == node->id);
        TR_ASSERT(w[i].target.node != node->id && w[i].target.node != 0);
    }
    pthread_mutex_unlock(&node->watch_lock);
    return true;
}

/* ---- events from engines --------------------------------------------------------------- */

void tr__node_route(tr_node *node, tr_msg *msg) {
    (void)tr__actor_send(node, NULL, msg, NULL);
}

bool tr__node_deliver(tr_node *node, tr_msg *msg, const char *to_name, tr_addr *receiver) {
    if (to_name && to_name[0]) {
        if (tr__registry_find(node, to_name, &msg->to) != 0) {
            tr__actor_fail_request(node, msg, TR_ENOPROC);
            tr__actor_dead_letter(node, msg);
            return false;
        }
    }
    if (msg->to.node != node->id) {
        tr__actor_dead_letter(node, msg); /* not for us: never forward */
        return false;
    }
    tr_addr to = msg->to;
    (void)tr__actor_send(node, NULL, msg, NULL);
    if (receiver) {
        *receiver = to;
    }
    return tr__node_backlog(node, to) > node->mute_threshold;
}

uint32_t tr__node_backlog(tr_node *node, tr_addr who) {
    if (who.node != node->id) {
        return 0;
    }
    tr_actor *a = tr__actor_slot_get(node, who.actor);
    if (!a || atomic_load_explicit(&a->id, memory_order_acquire) != who.actor) {
        return 0;
    }
    return atomic_load_explicit(&a->mb.queued, memory_order_relaxed);
}

uint32_t tr__node_mute_threshold(const tr_node *node) {
    return node->mute_threshold;
}

static void send_simple(tr_node *node, tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                        int64_t reason, bool with_body) {
    tr_msg *m = tr__pool_alloc(9);
    if (!m) {
        return;
    }
    m->type = type;
    m->from = from;
    m->to = to;
    m->corr = corr;
    if (with_body) {
        m->body_len = (uint32_t)tr__actor_pack_int(tr__pool_body_mut(m), reason);
    }
    tr__node_route(node, m);
}

bool tr__node_peer_down(tr_node *node, uint32_t id) {
    if (id == 0 || id > 64 || id == node->id) {
        return false; /* not tracked: never refused at once */
    }
    uint64_t bit = 1ull << (id - 1);
    /* the first question watches every peer: a node that (re)starts learns of all of them */
    if (!atomic_exchange_explicit(&node->peers_watched, true, memory_order_relaxed) &&
        node->ops->watch_node) {
        for (uint32_t peer = 1; peer <= 64; peer++) {
            if (peer != node->id) {
                node->ops->watch_node(node->engine, node, peer);
            }
        }
    }
    return (atomic_load_explicit(&node->peers_down, memory_order_relaxed) & bit) != 0;
}

void tr__node_event(tr_node *node, uint32_t id, bool up) {
    tr_vec fire = {0};
    if (id >= 1 && id <= 64) {
        uint64_t bit = 1ull << (id - 1);
        if (up) {
            atomic_fetch_and_explicit(&node->peers_down, ~bit, memory_order_relaxed);
        } else {
            atomic_fetch_or_explicit(&node->peers_down, bit, memory_order_relaxed);
        }
    }
    pthread_mutex_lock(&node->watch_lock);
    tr_remote_watch *w = node->remote_watches.items;
    for (uint32_t i = 0; i < node->remote_watches.len;) {
        if (w[i].target.node != id || (up && w[i].kind != TR__WATCH_NODE)) {
            i++;
            continue;
        }
        (void)tr__vec_push(&fire, &w[i], sizeof w[i]);
        if (w[i].kind != TR__WATCH_NODE) {
            tr__vec_remove(&node->remote_watches, i, sizeof *w); /* fires once */
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&node->watch_lock);
    tr_remote_watch *f = fire.items;
    for (uint32_t i = 0; i < fire.len; i++) {
        tr_addr from = f[i].target;
        switch (f[i].kind) {
        case TR__WATCH_MONITOR:
            send_simple(node, from, f[i].watcher, TR_MSG_DOWN, f[i].ref, TR_ENODEDOWN, true);
            break;
        case TR__WATCH_LINK:
            send_simple(node, from, f[i].watcher, TR__SYS_EXIT, (uint64_t)(int64_t)TR_ENODEDOWN, 0,
                        false);
            break;
        default:
            send_simple(node, (tr_addr){id, 0, 0}, f[i].watcher,
                        up ? TR_MSG_NODE_UP : TR_MSG_NODE_DOWN, 0, 0, false);
            break;
        }
    }
    tr__vec_free(&fire);
}

/* ---- the tr_node API -------------------------------------------------------------------- */

uint32_t tr_node_id(const tr_node *node) {
    return node->id;
}
const char *tr_node_name(const tr_node *node) {
    return node->name;
}

int tr_node_spawn(tr_node *node, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
                  size_t arg_len, tr_addr *out) {
    return tr__actor_spawn(node, b, opts, arg, arg_len, out);
}

int tr_node_send_corr(tr_node *node, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                      size_t len) {
    if (!node || tr_addr_is_none(to) || (len && !body) || type >= TR__SYS_BASE ||
        len > TR_VALUE_MAX) {
        return TR_EINVAL;
    }
    tr_msg *m = tr__pool_alloc(len);
    if (!m) {
        return TR_ENOMEM;
    }
    m->type = type;
    m->from = (tr_addr){node->id, 0, 0};
    m->to = to;
    m->corr = corr;
    m->body_len = (uint32_t)len;
    if (len) {
        memcpy(tr__pool_body_mut(m), body, len);
    }
    return tr__actor_send(node, NULL, m, NULL);
}

int tr_node_send(tr_node *node, tr_addr to, uint32_t type, const void *body, size_t len) {
    return tr_node_send_corr(node, to, type, 0, body, len);
}

int tr_node_stop(tr_node *node, tr_addr target, int reason) {
    if (!node || tr_addr_is_none(target) || reason > 0) {
        return TR_EINVAL;
    }
    send_simple(node, (tr_addr){node->id, 0, 0}, target, TR__SYS_KILL, (uint64_t)(int64_t)reason, 0,
                false);
    return 0;
}

int tr_node_lookup(tr_node *node, const char *name, tr_addr *out) {
    if (!node || !name || !out) {
        return TR_EINVAL;
    }
    return tr__registry_find(node, name, out);
}

bool tr_node_actor_is_alive(tr_node *node, tr_addr who) {
    if (!node || (who.node != 0 && who.node != node->id)) {
        return false;
    }
    return tr__actor_alive(node, who.actor);
}

void tr_node_stats_get(tr_node *node, tr_stats *out) {
    memset(out, 0, sizeof *out);
    out->actors_live = atomic_load_explicit(&node->st_live, memory_order_relaxed);
    out->actors_spawned = atomic_load_explicit(&node->st_spawned, memory_order_relaxed);
    out->messages_delivered = tr__metrics_delivered(&node->metrics); /* summed: metrics.h */
    out->dead_letters = atomic_load_explicit(&node->st_dead, memory_order_relaxed);
    out->mailbox_rejects = atomic_load_explicit(&node->st_rejects, memory_order_relaxed);
    out->mutes = atomic_load_explicit(&node->st_mutes, memory_order_relaxed);
    out->restarts = atomic_load_explicit(&node->st_restarts, memory_order_relaxed);
    if (node->store) {
        tr_store_stats s;
        tr__store_stats_get(node->store, &s);
        out->store_commits = s.commits;
        out->store_writes = s.writes;
    }
}
