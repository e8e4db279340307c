/*
 * store_single.c — the simulator's single-threaded store mode (design: store_single.h).
 */
#include "runtime/store_single.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/store_commit.h"
#include "runtime/store_db.h"
#include "runtime/store_internal.h"

tr_store_single *tr__store_single_create(uint64_t defer_bytes) {
    TR_ASSERT(defer_bytes > 0);
    tr_store_single *sg = calloc(1, sizeof(*sg));
    if (sg != NULL) {
        sg->defer_bytes = defer_bytes;
        sg->owner = pthread_self();
    }
    return sg;
}

static void spares_free(spares *sp) {
    while (sp->head) {
        spare *b = sp->head;
        sp->head = b->next;
        free(b);
    }
    sp->count = 0;
}

void tr__store_single_destroy(tr_store_single *sg) {
    if (sg == NULL) {
        return;
    }
    TR_ASSERT(sg->held.head == NULL);
    spares_free(&sg->entries);
    spares_free(&sg->waiters);
    free(sg);
}

bool tr__store_single_owned(const tr_store_single *sg) {
    return pthread_equal(sg->owner, pthread_self()) != 0;
}

/* Moves a committed batch's entries to the end of the held-back batch. */
static void hold_back(tr_store_single *sg, batch *b) {
    if (b->head == NULL) {
        return;
    }
    batch *h = &sg->held;
    if (h->tail) {
        h->tail->next = b->head;
    } else {
        h->head = b->head;
    }
    h->tail = b->tail;
    h->count += b->count;
    h->truncs += b->truncs;
    h->bytes += b->bytes;
    h->gen = b->gen;
}

/* Held-back batches also append events and then truncate them (the AP register snapshots
 * and truncates every 512 events): an append that a later truncation in the batches written
 * together deletes is marked dead, not written and deleted in the same txn. Its truncation
 * follows it in batch order (it was issued after the snapshot covering it), all of them are
 * committed, and the txn is all or nothing, so LMDB ends the same. The store is
 * single-threaded, so the actor records' scratch field needs no lock. */
static void mark_truncated(batch *d) {
    bool any = false;
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_TRUNC && !e->dead) {
            uint64_t upto = store_get_be64(e->data + e->actor->nlen + 1);
            if (upto > e->actor->flush_upto) {
                e->actor->flush_upto = upto;
            }
            any = true;
        }
    }
    if (!any) {
        return;
    }
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_APPEND &&
            store_get_be64(e->data + e->actor->nlen + 1) <= e->actor->flush_upto) {
            e->dead = true;
        }
    }
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_TRUNC) {
            e->actor->flush_upto = 0;
        }
    }
}

/* Held-back batches rewrite the same keys over and over (a replica's cells): within the
 * batches written together only the newest version of a kv key matters, so the older ones
 * are marked dead (not written; the overlay holds only the newest version of each key, so
 * no reader needs them). Every entry here is committed, so nothing a crash could drop stands
 * in for them. Without memory for the scratch set every version is written, which ends the
 * same, only slower. */
static void mark_superseded(batch *d) {
    size_t n = 0, cap = 16;
    for (entry *e = d->head; e; e = e->next) {
        n += e->op == OP_PUT || e->op == OP_DEL;
    }
    while (cap < 2 * n) {
        cap *= 2;
    }
    entry **all = malloc(n * sizeof *all), **set = calloc(cap, sizeof *set);
    if (n == 0 || all == NULL || set == NULL) {
        free(all);
        free(set);
        return;
    }
    size_t k = 0;
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_PUT || e->op == OP_DEL) {
            all[k++] = e;
        }
    }
    while (k-- > 0) { /* newest first */
        entry *e = all[k];
        size_t i = e->hash & (cap - 1);
        for (; set[i]; i = (i + 1) & (cap - 1)) {
            if (set[i]->hash == e->hash && set[i]->klen == e->klen &&
                memcmp(set[i]->data, e->data, e->klen) == 0) {
                e->dead = true; /* a newer version follows in these batches */
                break;
            }
        }
        if (!set[i]) {
            set[i] = e;
        }
    }
    free(all);
    free(set);
}

int tr__store_single_flush(tr_store *st, bool requeue) {
    tr_store_single *sg = st->single;
    TR_ASSERT(sg != NULL);
    batch d = sg->held;
    if (d.head == NULL) {
        return 0;
    }
    memset(&sg->held, 0, sizeof sg->held);
    mark_superseded(&d);
    mark_truncated(&d);
    store_lock(st);
    int rc = st->failed;
    store_unlock(st);
    /* Older batches first: a key written in two of them ends with the newer value. */
    rc = rc ? rc : tr__store_write_batch(st, &d);
    bool ready = tr__store_batch_release(st, &d, rc, requeue);
    store_lock(st);
    tr__store_table_shrink_if_empty(&st->kv);
    TR_DEBUG_ASSERT(tr__store_check(st));
    if (rc != 0 && st->failed == 0) {
        st->failed = rc;
    }
    st->stats.flushes++;
    st->stats.truncated += d.deleted;
    store_unlock(st);
    tr__store_entries_free(st, d.head);
    store_call_ready(st, ready);
    return rc;
}

int tr__store_single_commit(tr_store *st, batch *b) {
    tr_store_single *sg = st->single;
    TR_ASSERT(sg != NULL && st->committing);
    hold_back(sg, b);
    store_lock(st);
    st->committing = false;
    tr__store_count_commit(st, b);
    store_unlock(st);
    tr__store_fire_waiters(st, b->whead, 0);
    return sg->held.bytes >= sg->defer_bytes ? tr__store_single_flush(st, true) : 0;
}

int tr__store_flush(tr_store *st) {
    TR_ASSERT(st != NULL);
    return st->single != NULL ? tr__store_single_flush(st, true) : 0;
}
