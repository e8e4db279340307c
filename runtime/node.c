/*
 * node.c — a node: its actor slots, its registry (name -> address), its store binding,
 * events about other nodes, statistics, and the tr_node_* API used from outside actors.
 *
 * The registry is a chained hash table under one mutex: lookups are rare on the message
 * path (names are resolved once, then addresses are used). A name is removed only if it
 * still points to the actor that is going away, so a restarted actor that re-registered
 * its name is never unregistered by its predecessor's death.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/store.h"

/* ---- registry --------------------------------------------------------------------------- */

static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u;
    while (*s) {
        h = (h ^ (uint8_t)*s++) * 16777619u;
    }
    return h;
}

static tr_name_entry **reg_slot(tr_node *node, const char *name) {
    tr_name_entry **e = &node->reg_buckets[name_hash(name) & (node->reg_nbuckets - 1)];
    while (*e && strcmp((*e)->name, name) != 0) {
        e = &(*e)->next;
    }
    return e;
}

static int reg_grow(tr_node *node) {
    uint32_t n = node->reg_nbuckets * 2;
    tr_name_entry **b = calloc(n, sizeof *b);
    if (!b) {
        return TR_ENOMEM;
    }
    for (uint32_t i = 0; i < node->reg_nbuckets; i++) {
        tr_name_entry *e = node->reg_buckets[i];
        while (e) {
            tr_name_entry *next = e->next;
            uint32_t h = name_hash(e->name) & (n - 1);
            e->next = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(node->reg_buckets);
    node->reg_buckets = b;
    node->reg_nbuckets = n;
    return 0;
}

static bool addr_alive(tr_node *node, tr_addr a) {
    tr_actor *x = tr__slot_get(node, a.actor);
    return x && atomic_load_explicit(&x->id, memory_order_acquire) == a.actor;
}

int tr__reg_add(tr_node *node, const char *name, tr_addr who, bool replace_dead) {
    if (!name || !name[0] || strlen(name) > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    pthread_mutex_lock(&node->reg_lock);
    int rc = 0;
    tr_name_entry **e = reg_slot(node, name);
    if (*e) {
        if (replace_dead && !addr_alive(node, (*e)->addr)) {
            (*e)->addr = who;
        } else {
            rc = TR_EEXIST;
        }
    } else if (node->reg_count + 1 > node->reg_nbuckets && reg_grow(node) != 0) {
        rc = TR_ENOMEM;
    } else {
        tr_name_entry *n = calloc(1, sizeof *n);
        if (!n) {
            rc = TR_ENOMEM;
        } else {
            strcpy(n->name, name);
            n->addr = who;
            e = reg_slot(node, name);
            *e = n;
            node->reg_count++;
        }
    }
    pthread_mutex_unlock(&node->reg_lock);
    return rc;
}

void tr__reg_remove_if(tr_node *node, const char *name, tr_addr who) {
    pthread_mutex_lock(&node->reg_lock);
    tr_name_entry **e = reg_slot(node, name);
    if (*e && tr_addr_eq((*e)->addr, who)) {
        tr_name_entry *dead = *e;
        *e = dead->next;
        free(dead);
        node->reg_count--;
    }
    pthread_mutex_unlock(&node->reg_lock);
}

int tr__reg_find(tr_node *node, const char *name, tr_addr *out) {
    if (!name) {
        return TR_EINVAL;
    }
    pthread_mutex_lock(&node->reg_lock);
    tr_name_entry *e = *reg_slot(node, name);
    int rc = TR_ENOENT;
    if (e && addr_alive(node, e->addr)) {
        *out = e->addr;
        rc = 0;
    }
    pthread_mutex_unlock(&node->reg_lock);
    return rc;
}

void tr__reg_clear(tr_node *node) {
    pthread_mutex_lock(&node->reg_lock);
    for (uint32_t i = 0; i < node->reg_nbuckets; i++) {
        tr_name_entry *e = node->reg_buckets[i];
        while (e) {
            tr_name_entry *n = e->next;
            free(e);
            e = n;
        }
        node->reg_buckets[i] = NULL;
    }
    node->reg_count = 0;
    pthread_mutex_unlock(&node->reg_lock);
}

/* ---- store hooks ----------------------------------------------------------------------- */

static void hook_ready(void *ud) {
    tr_node *node = ud;
    if (node->ops->store_ready) {
        node->ops->store_ready(node->engine, node);
    }
}

static void hook_durable(void *ud, tr_addr who, uint64_t token, int status) {
    tr_node *node = ud;
    tr_msg *m = tr__msg_alloc(9);
    if (!m) {
        return;
    }
    m->type = TR_MSG_DURABLE;
    m->from = who;
    m->to = who;
    m->corr = token;
    m->body_len = (uint32_t)tr__pack_int(tr__msg_body_mut(m), status);
    tr__node_route(node, m);
}

static void hook_release(void *ud, tr_msg *held, int status) {
    tr_node *node = ud;
    if (status == 0) {
        tr__node_route(node, held);
    } else {
        tr__msg_release(held);
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
    node->reg_nbuckets = 64;
    node->reg_buckets = calloc(node->reg_nbuckets, sizeof *node->reg_buckets);
    if (!node->reg_buckets) {
        free(node);
        return TR_ENOMEM;
    }
    pthread_mutex_init(&node->slot_lock, NULL);
    pthread_mutex_init(&node->reg_lock, NULL);
    pthread_mutex_init(&node->mute_lock, NULL);
    pthread_mutex_init(&node->watch_lock, NULL);
    if (node->store) {
        tr_store_hooks hooks = {hook_ready, hook_durable, hook_release, node};
        tr_store_bind(node->store, &hooks);
    }
    *out = node;
    return 0;
}

static void node_free_volatile(tr_node *node, bool run_terminate) {
    tr__actor_free_all(node, run_terminate);
    tr__reg_clear(node);
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
}

void tr__node_destroy(tr_node *node) {
    if (!node) {
        return;
    }
    tr__actor_free_all(node, true);
    tr__reg_clear(node);
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
    free(node->reg_buckets);
    pthread_mutex_destroy(&node->slot_lock);
    pthread_mutex_destroy(&node->reg_lock);
    pthread_mutex_destroy(&node->mute_lock);
    pthread_mutex_destroy(&node->watch_lock);
    free(node);
}

/* ---- events from engines --------------------------------------------------------------- */

bool tr__node_deliver(tr_node *node, tr_msg *msg, const char *to_name, tr_addr *receiver) {
    if (to_name && to_name[0]) {
        if (tr__reg_find(node, to_name, &msg->to) != 0) {
            tr__dead_letter(node, msg);
            return false;
        }
    }
    if (msg->to.node != node->id) {
        tr__dead_letter(node, msg); /* not for us: never forward */
        return false;
    }
    tr_addr to = msg->to;
    (void)tr__send_msg(node, NULL, msg, NULL);
    if (receiver) {
        *receiver = to;
    }
    return tr__node_backlog(node, to) > node->mute_threshold;
}

uint32_t tr__node_backlog(tr_node *node, tr_addr who) {
    if (who.node != node->id) {
        return 0;
    }
    tr_actor *a = tr__slot_get(node, who.actor);
    if (!a || atomic_load_explicit(&a->id, memory_order_acquire) != who.actor) {
        return 0;
    }
    return atomic_load_explicit(&a->queued, memory_order_relaxed);
}

uint32_t tr__node_mute_threshold(const tr_node *node) {
    return node->mute_threshold;
}

static void send_simple(tr_node *node, tr_addr from, tr_addr to, uint32_t type, uint64_t corr,
                        int64_t reason, bool with_body) {
    tr_msg *m = tr__msg_alloc(9);
    if (!m) {
        return;
    }
    m->type = type;
    m->from = from;
    m->to = to;
    m->corr = corr;
    if (with_body) {
        m->body_len = (uint32_t)tr__pack_int(tr__msg_body_mut(m), reason);
    }
    tr__node_route(node, m);
}

void tr__node_event(tr_node *node, uint32_t id, bool up) {
    tr_vec fire = {0};
    pthread_mutex_lock(&node->watch_lock);
    tr_remote_watch *w = node->remote_watches.items;
    for (uint32_t i = 0; i < node->remote_watches.len;) {
        if (w[i].target.node != id || (up && w[i].kind != 2)) {
            i++;
            continue;
        }
        (void)tr__vec_push(&fire, &w[i], sizeof w[i]);
        if (w[i].kind != 2) {
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
        case 0:
            send_simple(node, from, f[i].watcher, TR_MSG_DOWN, f[i].ref, TR_ENODEDOWN, true);
            break;
        case 1:
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
    return tr__spawn(node, b, opts, arg, arg_len, out);
}

int tr_node_send_corr(tr_node *node, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                      size_t len) {
    if (!node || tr_addr_is_none(to) || (len && !body) || type >= TR__SYS_BASE ||
        len > TR_VALUE_MAX) {
        return TR_EINVAL;
    }
    tr_msg *m = tr__msg_alloc(len);
    if (!m) {
        return TR_ENOMEM;
    }
    m->type = type;
    m->from = (tr_addr){node->id, 0, 0};
    m->to = to;
    m->corr = corr;
    m->body_len = (uint32_t)len;
    if (len) {
        memcpy(tr__msg_body_mut(m), body, len);
    }
    return tr__send_msg(node, NULL, m, NULL);
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
    return tr__reg_find(node, name, out);
}

bool tr_node_actor_is_alive(tr_node *node, tr_addr who) {
    if (!node || (who.node != 0 && who.node != node->id)) {
        return false;
    }
    return addr_alive(node, who);
}

void tr_node_stats_get(tr_node *node, tr_stats *out) {
    memset(out, 0, sizeof *out);
    out->actors_live = atomic_load_explicit(&node->st_live, memory_order_relaxed);
    out->actors_spawned = atomic_load_explicit(&node->st_spawned, memory_order_relaxed);
    out->messages_delivered = atomic_load_explicit(&node->st_delivered, memory_order_relaxed);
    out->dead_letters = atomic_load_explicit(&node->st_dead, memory_order_relaxed);
    out->mailbox_rejects = atomic_load_explicit(&node->st_rejects, memory_order_relaxed);
    out->mutes = atomic_load_explicit(&node->st_mutes, memory_order_relaxed);
    out->restarts = atomic_load_explicit(&node->st_restarts, memory_order_relaxed);
    if (node->store) {
        tr_store_stats s;
        tr_store_stats_get(node->store, &s);
        out->store_commits = s.commits;
        out->store_writes = s.writes;
    }
}
