/* registry.c — a node's names (runtime/registry.h). */
#include "runtime/registry.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/internal.h"

#define BUCKETS_MIN 64

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
    return tr__actor_alive(node, a.actor);
}

int tr__registry_init(tr_node *node) {
    node->reg_nbuckets = BUCKETS_MIN;
    node->reg_count = 0;
    node->reg_buckets = calloc(node->reg_nbuckets, sizeof *node->reg_buckets);
    if (!node->reg_buckets) {
        return TR_ENOMEM;
    }
    pthread_mutex_init(&node->reg_lock, NULL);
    return 0;
}

void tr__registry_deinit(tr_node *node) {
    tr__registry_clear(node);
    free(node->reg_buckets);
    node->reg_buckets = NULL;
    pthread_mutex_destroy(&node->reg_lock);
}

int tr__registry_add(tr_node *node, const char *name, tr_addr who, bool replace_dead) {
    if (!name || !name[0] || strlen(name) > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    TR_ASSERT(who.node == node->id); /* only local actors have names here */
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

void tr__registry_remove_if(tr_node *node, const char *name, tr_addr who) {
    pthread_mutex_lock(&node->reg_lock);
    tr_name_entry **e = reg_slot(node, name);
    if (*e && tr_addr_eq((*e)->addr, who)) {
        tr_name_entry *dead = *e;
        *e = dead->next;
        free(dead);
        TR_ASSERT(node->reg_count > 0);
        node->reg_count--;
    }
    pthread_mutex_unlock(&node->reg_lock);
}

int tr__registry_find(tr_node *node, const char *name, tr_addr *out) {
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

void tr__registry_clear(tr_node *node) {
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

bool tr__registry_check(tr_node *node) {
    pthread_mutex_lock(&node->reg_lock);
    uint32_t nb = node->reg_nbuckets;
    TR_ASSERT(nb >= BUCKETS_MIN && (nb & (nb - 1)) == 0 && node->reg_buckets != NULL);
    uint32_t count = 0;
    for (uint32_t i = 0; i < nb; i++) {
        for (tr_name_entry *e = node->reg_buckets[i]; e; e = e->next) {
            size_t len = strnlen(e->name, sizeof e->name);
            TR_ASSERT(len > 0 && len <= TR_NAME_MAX);
            TR_ASSERT((name_hash(e->name) & (nb - 1)) == i);
            TR_ASSERT(e->addr.node == node->id && e->addr.actor != 0);
            for (tr_name_entry *o = e->next; o; o = o->next) {
                TR_ASSERT(strcmp(o->name, e->name) != 0);
            }
            count++;
        }
    }
    TR_ASSERT(count == node->reg_count);
    pthread_mutex_unlock(&node->reg_lock);
    return true;
}

int tr__registry_name_of(tr_node *node, tr_addr who, char *out) {
    int rc = TR_ENOENT;
    pthread_mutex_lock(&node->reg_lock);
    for (uint32_t i = 0; i < node->reg_nbuckets && rc != 0; i++) {
        for (tr_name_entry *e = node->reg_buckets[i]; e != NULL && rc != 0; e = e->next) {
            if (tr_addr_eq(e->addr, who)) {
                strcpy(out, e->name);
                rc = 0;
            }
        }
    }
    pthread_mutex_unlock(&node->reg_lock);
    return rc;
}
