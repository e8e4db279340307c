/*
 * store_overlay.c — entries, waiters, hash tables, the kv overlay and actor records
 * (design: store_overlay.h).
 */
#include "runtime/store_overlay.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/store_internal.h"

/* ---- Entries and waiters ------------------------------------------------------------- */

entry *tr__store_entry_new(tr_store *st, int op, const char *actor, size_t nlen, const void *key,
                           size_t klen, const void *vpre, size_t vprelen, const void *val,
                           size_t vlen) {
    size_t fk = nlen + 1 + klen;
    size_t size = sizeof(entry) + fk + vprelen + vlen;
    entry *e = st->single ? tr__store_single_entry_alloc(st->single, size) : malloc(size);
    if (e == NULL) {
        return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->op = (uint8_t)op;
    e->klen = (uint32_t)fk;
    e->vlen = (uint32_t)(vprelen + vlen);
    memcpy(e->data, actor, nlen);
    e->data[nlen] = 0;
    if (key && klen) {
        memcpy(e->data + nlen + 1, key, klen);
    }
    if (vprelen) {
        memcpy(e->data + fk, vpre, vprelen);
    }
    if (vlen) {
        memcpy(e->data + fk + vprelen, val, vlen);
    }
    return e;
}

void tr__store_entry_free(tr_store *st, entry *e) {
    if (st->single) {
        tr__store_single_entry_free(st->single, e, sizeof(entry) + (size_t)e->klen + e->vlen);
    } else {
        free(e);
    }
}

void tr__store_entries_free(tr_store *st, entry *e) {
    while (e) {
        entry *n = e->next;
        tr__store_entry_free(st, e);
        e = n;
    }
}

waiter *tr__store_waiter_new(tr_store *st) {
    return st->single ? spare_take(&st->single->waiters, sizeof(waiter)) : malloc(sizeof(waiter));
}

void tr__store_waiter_free(tr_store *st, waiter *w) {
    if (st->single) {
        spare_give(&st->single->waiters, w);
    } else {
        free(w);
    }
}

/* ---- Chained hash tables ------------------------------------------------------------- */

static void **table_bucket(table *t, uint64_t hash) {
    return &t->slots[hash & (t->cap - 1)];
}

/* Doubles the bucket array when the load passes 1; on ENOMEM chains just get longer. */
static void table_maybe_grow(table *t, void *(*next_of)(void *), void **(*link_of)(void *),
                             uint64_t (*hash_of)(void *)) {
    if (t->count < t->cap) {
        return;
    }
    size_t ncap = t->cap * 2;
    void **ns = calloc(ncap, sizeof(void *));
    if (ns == NULL) {
        return;
    }
    for (size_t i = 0; i < t->cap; i++) {
        void *n = t->slots[i];
        while (n) {
            void *nx = next_of(n);
            void **head = &ns[hash_of(n) & (ncap - 1)];
            *link_of(n) = *head;
            *head = n;
            n = nx;
        }
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
}

static void *entry_next(void *p) {
    return ((entry *)p)->hnext;
}
static void **entry_link(void *p) {
    return (void **)&((entry *)p)->hnext;
}
static uint64_t entry_hash(void *p) {
    return ((entry *)p)->hash;
}
static void *arec_next(void *p) {
    return ((arec *)p)->hnext;
}
static void **arec_link(void *p) {
    return (void **)&((arec *)p)->hnext;
}
static uint64_t arec_hash(void *p) {
    return ((arec *)p)->hash;
}

void tr__store_table_shrink_if_empty(table *t) {
    if (t->count != 0 || t->cap <= STORE_OVERLAY_BUCKETS_MIN * 16) {
        return;
    }
    void **ns = calloc(STORE_OVERLAY_BUCKETS_MIN, sizeof(void *));
    if (ns != NULL) {
        free(t->slots);
        t->slots = ns;
        t->cap = STORE_OVERLAY_BUCKETS_MIN;
    }
}

int tr__store_table_init(table *t) {
    t->cap = STORE_OVERLAY_BUCKETS_MIN;
    t->count = 0;
    t->slots = calloc(t->cap, sizeof(void *));
    return t->slots ? 0 : TR_ENOMEM;
}

/* ---- The kv overlay ------------------------------------------------------------------ */

entry **tr__store_overlay_slot(tr_store *st, const uint8_t *key, size_t klen, uint64_t hash) {
    entry **pp = (entry **)table_bucket(&st->kv, hash);
    while (*pp) {
        entry *e = *pp;
        if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0) {
            return pp;
        }
        pp = &e->hnext;
    }
    return pp;
}

void tr__store_overlay_set(tr_store *st, entry *e) {
    TR_ASSERT(e->op == OP_PUT || e->op == OP_DEL);
    entry **pp = tr__store_overlay_slot(st, e->data, e->klen, e->hash);
    entry *old = *pp;
    if (old) {
        if (old->gen == e->gen) {
            old->dead = true;
        }
        e->hnext = old->hnext;
        *pp = e;
        return;
    }
    e->hnext = NULL;
    *pp = e;
    st->kv.count++;
    table_maybe_grow(&st->kv, entry_next, entry_link, entry_hash);
}

/* A newer version replaced e in the same chain position, so looking for the pointer
 * suffices. */
void tr__store_overlay_release(tr_store *st, entry *e) {
    for (entry **pp = (entry **)table_bucket(&st->kv, e->hash); *pp; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            st->kv.count--;
            return;
        }
    }
}

void tr__store_overlay_clear(tr_store *st) {
    memset(st->kv.slots, 0, st->kv.cap * sizeof(void *));
    st->kv.count = 0;
}

/* ---- Actor records ------------------------------------------------------------------- */

static arec **arec_slot(tr_store *st, const char *name, size_t nlen, uint64_t hash) {
    arec **pp = (arec **)table_bucket(&st->actors, hash);
    while (*pp) {
        arec *a = *pp;
        if (a->hash == hash && a->nlen == nlen && memcmp(a->name, name, nlen) == 0) {
            return pp;
        }
        pp = &a->hnext;
    }
    return pp;
}

arec *tr__store_arec_find(tr_store *st, const char *name, size_t nlen) {
    uint64_t h = store_hash((const uint8_t *)name, nlen);
    return *arec_slot(st, name, nlen, h);
}

arec *tr__store_arec_get(tr_store *st, const char *name, size_t nlen) {
    uint64_t h = store_hash((const uint8_t *)name, nlen);
    arec **pp = arec_slot(st, name, nlen, h);
    if (*pp) {
        (*pp)->gone = false; /* a new incarnation under the same name */
        return *pp;
    }
    arec *a = calloc(1, sizeof(arec) + nlen + 1);
    if (a == NULL) {
        return NULL;
    }
    a->hash = h;
    a->nlen = (uint32_t)nlen;
    memcpy(a->name, name, nlen);
    *pp = a;
    st->actors.count++;
    table_maybe_grow(&st->actors, arec_next, arec_link, arec_hash);
    return a;
}

void tr__store_arec_free_if_idle(tr_store *st, arec *a) {
    if (!a->gone || a->jhead != NULL || a->snap != NULL || a->trunc != NULL) {
        return;
    }
    arec **pp = arec_slot(st, a->name, a->nlen, a->hash);
    TR_ASSERT(*pp == a);
    *pp = a->hnext;
    st->actors.count--;
    free(a);
}

void tr__store_arec_free_all(tr_store *st) {
    for (size_t i = 0; i < st->actors.cap; i++) {
        arec *a = st->actors.slots[i];
        while (a) {
            arec *n = a->hnext;
            free(a);
            a = n;
        }
        st->actors.slots[i] = NULL;
    }
    st->actors.count = 0;
}

/* ---- The invariant walker ------------------------------------------------------------ */

bool tr__store_check(tr_store *st) {
    size_t n = 0;
    for (size_t i = 0; i < st->kv.cap; i++) {
        for (entry *e = st->kv.slots[i]; e; e = e->hnext, n++) {
            TR_ASSERT(!e->dead && e->gen <= st->pending.gen);
            TR_ASSERT(e->op == OP_PUT || e->op == OP_DEL);
        }
    }
    TR_ASSERT(n == st->kv.count);
    size_t records = 0;
    for (size_t i = 0; i < st->actors.cap; i++) {
        for (arec *a = st->actors.slots[i]; a; a = a->hnext, records++) {
            uint64_t prev = 0;
            for (entry *e = a->jhead; e; e = e->hnext) {
                uint64_t seq = store_get_be64(e->data + a->nlen + 1);
                TR_ASSERT(seq > prev && seq < a->next_seq);
                prev = seq;
            }
            TR_ASSERT((a->jhead == NULL) == (a->jtail == NULL));
            TR_ASSERT(a->snap == NULL ||
                      store_get_be64(a->snap->data + a->snap->klen) < a->next_seq);
            TR_ASSERT(a->trunc == NULL ||
                      store_get_be64(a->trunc->data + a->nlen + 1) <= a->trunc_seq);
        }
    }
    TR_ASSERT(records == st->actors.count);
    return true;
}
