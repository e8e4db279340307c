/*
 * store_commit.c — the group commit and the simulated crash (design: store_commit.h).
 */
#include "runtime/store_commit.h"

#include <string.h>

#include "runtime/store_actor.h"
#include "runtime/store_db.h"
#include "runtime/store_internal.h"

/* Entries released per hold of the lock (tr__store_batch_release). */
#define RELEASE_CHUNK 256

/* A truncation that ran out of budget (e->more) goes on in the next commit: a copy is queued
 * in the pending batch, unless a newer truncation of the actor replaced it. If it cannot be
 * queued (a failed store, a full pending batch, no memory) the rest waits for the actor's
 * next truncation, which walks from the journal's start again. Under the lock. */
static void trunc_requeue(tr_store *st, arec *a, const entry *e, bool *ready) {
    entry *n = tr__store_entry_new(st, OP_TRUNC, a->name, a->nlen, e->data + a->nlen + 1, 8, NULL,
                                   0, NULL, 0);
    bool r = false;
    if (n != NULL && tr__store_queue_trunc(st, a, n, &r) != 0) {
        tr__store_entry_free(st, n);
    }
    *ready = *ready || r;
}

/* Releases one entry of a committed batch from the overlay. Under the lock. */
static void release_entry(tr_store *st, entry *e, int rc, bool requeue, bool *ready) {
    arec *a = e->actor;
    if (e->op == OP_TRUNC) {
        if (a->trunc == e) {
            a->trunc = NULL;
            if (e->more && rc == 0 && requeue) {
                trunc_requeue(st, a, e, ready);
            }
            tr__store_arec_free_if_idle(st, a);
        }
    } else if (e->op == OP_PUT || e->op == OP_DEL) {
        if (!e->dead) {
            tr__store_overlay_release(st, e);
        }
    } else if (e->op == OP_APPEND) {
        TR_ASSERT(a->jhead == e); /* a journal commits in the order it was appended */
        a->jhead = e->hnext;
        if (a->jhead == NULL) {
            a->jtail = NULL;
        }
        tr__store_arec_free_if_idle(st, a);
    } else if (a->snap == e) {
        a->snap = NULL;
        tr__store_arec_free_if_idle(st, a);
    }
}

/* Takes the lock per chunk of entries, so that a large batch does not hold up readers and
 * writers for long; an entry not released yet still shows a committed value. */
bool tr__store_batch_release(tr_store *st, batch *b, int rc, bool requeue) {
    entry *e = b->head;
    bool ready = false;
    uint64_t count = 0, truncs = 0;
    while (e) {
        store_lock(st);
        for (int i = 0; e && i < RELEASE_CHUNK; i++, e = e->next) {
            TR_ASSERT(e->gen <= b->gen);
            count++;
            truncs += e->op == OP_TRUNC;
            release_entry(st, e, rc, requeue, &ready);
        }
        store_unlock(st);
    }
    /* What batch_add promised about the batch it built. */
    TR_ASSERT(count == b->count && truncs == b->truncs);
    return ready;
}

void tr__store_fire_waiters(tr_store *st, waiter *w, int status) {
    while (w) {
        waiter *n = w->next;
        if (w->msg) {
            if (st->hooks.release) {
                st->hooks.release(st->hooks.ud, w->msg, status);
            }
        } else if (st->hooks.durable) {
            st->hooks.durable(st->hooks.ud, w->who, w->token, status);
        }
        tr__store_waiter_free(st, w);
        w = n;
    }
}

void tr__store_count_commit(tr_store *st, const batch *b) {
    TR_ASSERT(b->truncs <= b->count);
    if (b->count) {
        st->stats.commits++;
        st->stats.writes += b->count - b->truncs;
        st->stats.truncations += b->truncs;
        st->stats.truncated += b->deleted;
        if (b->count - b->truncs > st->stats.max_writes_per_commit) {
            st->stats.max_writes_per_commit = b->count - b->truncs;
        }
        uint32_t k = 0;
        while (k + 1 < TR__STORE_BATCH_BUCKETS && (UINT64_C(1) << k) < b->count - b->truncs) {
            k++;
        }
        st->stats.commits_by_writes[k]++;
    }
}

const uint64_t tr__store_latency_bounds_us[TR__STORE_LATENCY_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

void tr__store_commit_timed(tr_store *st, uint64_t ns) {
    uint32_t k = 0;
    while (k < TR__STORE_LATENCY_BUCKETS && ns > tr__store_latency_bounds_us[k] * 1000) {
        k++;
    }
    store_lock(st);
    st->stats.timed_commits++;
    st->stats.timed_commit_ns += ns;
    st->stats.commits_by_latency[k]++;
    store_unlock(st);
}

/* Swaps the pending batch out into *b, under the lock; the next one is a new generation.
 * Returns the store's failure (0 if none). */
static int take_pending(tr_store *st, batch *b) {
    store_lock(st);
    TR_ASSERT(!st->committing); /* tr__store_commit must not run concurrently with itself */
    if (st->single == NULL && st->writers > 0) { /* a callback is halfway through its writes */
        st->swap_waiting = true;
        while (st->writers > 0) {
            pthread_cond_wait(&st->writers_cv, &st->mu);
        }
        st->swap_waiting = false;
        pthread_cond_broadcast(&st->writers_cv); /* the callbacks held at their first write */
    }
    *b = st->pending;
    int failed = st->failed ? st->failed : st->fail_next; /* an injected failure: as LMDB's */
    st->fail_next = 0;
    memset(&st->pending, 0, sizeof(st->pending));
    st->pending.gen = b->gen + 1;
    st->committing = !batch_empty(b);
    store_unlock(st);
    TR_ASSERT((b->head == NULL) == (b->count == 0));
    TR_DEBUG_ASSERT(b->tail == NULL || b->tail->next == NULL);
    return failed;
}

int tr__store_commit(tr_store *st, uint64_t *writes_out) {
    TR_ASSERT(st != NULL);
    batch b;
    int failed = take_pending(st, &b);
    if (writes_out) {
        *writes_out = b.count - b.truncs; /* a truncation changes nothing an actor can read */
    }
    if (batch_empty(&b)) {
        return 0;
    }
    if (st->mid_commit) {
        st->mid_commit(st, st->mid_commit_ud);
    }
    if (st->single != NULL && !failed) {
        return tr__store_single_commit(st, &b);
    }
    int rc = failed ? failed : (b.count ? tr__store_write_batch(st, &b) : 0);
    bool ready = tr__store_batch_release(st, &b, rc, true);
    store_lock(st);
    tr__store_table_shrink_if_empty(&st->kv);
    TR_DEBUG_ASSERT(tr__store_check(st));
    st->committing = false;
    if (rc != 0 && st->failed == 0) {
        st->failed = rc;
    }
    tr__store_count_commit(st, &b);
    store_unlock(st);
    tr__store_fire_waiters(st, b.whead, rc);
    tr__store_entries_free(st, b.head);
    store_call_ready(st, ready);
    return rc;
}

bool tr__store_has_pending(tr_store *st) {
    store_lock(st);
    bool r = !batch_empty(&st->pending);
    store_unlock(st);
    return r;
}

/* Notifications simply vanish, like the actors that asked. */
void tr__store_drop_all(tr_store *st, bool closing) {
    if (st->single != NULL) {
        tr__store_single_flush(st, false); /* committed: kept (a failure is in st->failed) */
    }
    store_lock(st);
    TR_ASSERT(!st->committing);
    batch b = st->pending;
    memset(&st->pending, 0, sizeof(st->pending));
    st->pending.gen = b.gen + 1;
    tr__store_overlay_clear(st);
    tr__store_arec_free_all(st); /* next_seq is re-read from LMDB: pending appends are gone */
    store_unlock(st);
    tr__store_entries_free(st, b.head);
    for (waiter *w = b.whead; w;) {
        waiter *n = w->next;
        if (w->msg && closing) {
            tr_msg_free(w->msg);
        } else if (w->msg && st->hooks.release) {
            st->hooks.release(st->hooks.ud, w->msg, TR_ECLOSED);
        }
        tr__store_waiter_free(st, w);
        w = n;
    }
}

void tr__store_drop_pending(tr_store *st) {
    TR_ASSERT(st != NULL);
    tr__store_drop_all(st, false);
}
