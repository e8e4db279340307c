/*
 * store_single.h — the simulator's single-threaded store mode (tr_store_opts.defer_bytes).
 *
 * The simulator runs every node, engine and store of a run on the thread that opened them,
 * and the process is not a failure domain of the simulated nodes. A store opened with
 * defer_bytes > 0 relies on that, in three ways:
 *   - no lock: every call on it, and every hook it calls, is on the opening thread, so there
 *     is nothing for the store's mutex to order; the lock/unlock pair would cost more than
 *     the work it guards (tens of thousands per simulated second). store_lock checks the
 *     thread in debug builds instead (tr__store_single_owned);
 *   - free lists: its entries (up to SPARE_ENTRY_BYTES) and waiters come from and go back to
 *     lists of its own, which need no lock; a malloc and free per write and per
 *     notification would be the most expensive part of a write in the simulator. At most
 *     SPARE_MAX blocks per list are kept;
 *   - held-back batches: tr__store_commit makes a batch durable for the store's users at
 *     once (its waiters are told, a simulated crash cannot drop it) but writes it to LMDB
 *     later, in one transaction with the batches after it, once they hold defer_bytes, at
 *     tr__store_flush, and before drop_pending, close and the committed-only reads. An LMDB
 *     transaction costs several thousand instructions, most of a small commit's price.
 *     Until then the overlay serves it, as it serves a batch being committed.
 * A store opened with defer_bytes 0 has no tr_store_single (st->single is NULL) and none of
 * this applies to it.
 */
#ifndef TR_STORE_SINGLE_H
#define TR_STORE_SINGLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/store_overlay.h"

#define SPARE_ENTRY_BYTES 192u /* entries up to this size are recycled ... */
#define SPARE_MAX 2048u        /* ... and waiters; at most this many of each are kept */

typedef struct spare spare;
struct spare {
    spare *next;
};

typedef struct spares {
    spare *head;
    uint32_t count;
} spares;

typedef struct tr_store_single {
    uint64_t defer_bytes; /* flush once the held-back batches hold this many bytes */
    batch held;           /* committed, not yet in LMDB; the committer's only */
    spares entries;       /* free entries of SPARE_ENTRY_BYTES */
    spares waiters;       /* free waiters */
    pthread_t owner;      /* the thread that opened the store, the only one that may call */
} tr_store_single;

/* NULL when out of memory. The calling thread becomes the owner. */
tr_store_single *tr__store_single_create(uint64_t defer_bytes);
/* Frees the free lists and sg; the held-back batch must be empty (flushed or dropped). */
void tr__store_single_destroy(tr_store_single *sg);
/* Whether the calling thread is the owner (for debug assertions). */
bool tr__store_single_owned(const tr_store_single *sg);

static inline void *spare_take(spares *sp, size_t size) {
    if (sp->head == NULL) {
        return malloc(size);
    }
    spare *b = sp->head;
    sp->head = b->next;
    sp->count--;
    return b;
}

static inline void spare_give(spares *sp, void *p) {
    if (sp->count >= SPARE_MAX) {
        free(p);
        return;
    }
    spare *b = p;
    b->next = sp->head;
    sp->head = b;
    sp->count++;
}

/* An entry of `size` bytes: a recycled block of SPARE_ENTRY_BYTES when it fits. */
static inline void *tr__store_single_entry_alloc(tr_store_single *sg, size_t size) {
    return size <= SPARE_ENTRY_BYTES ? spare_take(&sg->entries, SPARE_ENTRY_BYTES) : malloc(size);
}

/* Frees an entry of `size` bytes made by tr__store_single_entry_alloc. */
static inline void tr__store_single_entry_free(tr_store_single *sg, void *e, size_t size) {
    if (size <= SPARE_ENTRY_BYTES) {
        spare_give(&sg->entries, e); /* made at SPARE_ENTRY_BYTES */
    } else {
        free(e);
    }
}

/* The commit of a batch b swapped out of the pending one (the store not failed): b's
 * entries join the held-back batch, its waiters are told it is durable, and the held-back
 * batches are flushed once they reach defer_bytes. 0 or the flush's error. */
int tr__store_single_commit(tr_store *st, batch *b);
/* Writes the held-back batches to LMDB in one go. requeue: whether truncations that ran out
 * of budget go on in the next commit (not when the pending batch is about to be dropped).
 * 0 or the error; after an error the store is failed. */
int tr__store_single_flush(tr_store *st, bool requeue);

#endif
