/*
 * store_internal.h — the store's state, shared by its modules (runtime/store*.c) and by
 * nothing else; the rest of the runtime sees tr_store as opaque (store.h).
 *
 * Modules:
 *   store.c          open (inspect, lock, validate, initialise a directory), close, bind,
 *                    stats; the simulator's storage faults (commit_fail, reopen)
 *   store_overlay.c  entries, batches, waiters, the kv overlay and actor records (memory)
 *   store_db.c       the LMDB layer: errors, reads, write txns, writing a batch
 *   store_actor.c    the actor-side calls: writes into the pending batch, reads
 *   store_recover.c  recovery: snapshot and journal replay
 *   store_commit.c   the group commit, crash (drop_pending), failure
 *   store_single.c   the simulator's single-threaded mode (no lock, held-back batches)
 *
 * Locks, always taken in this order and never the other way round:
 *   st->mu        the pending batch, the overlay tables, actor records, waiters, counters;
 *                 held only for short, non-blocking work (hash lookups, list edits, copies
 *                 of a value out of the overlay), never across an LMDB write txn or a hook.
 *                 Not taken at all in a single-threaded store (store_lock).
 *   st->map_lock  a rwlock: every LMDB read txn holds it shared; growing the map holds it
 *                 exclusively (store_db.h). Writer-preferring, so that map growth is not
 *                 starved by a stream of readers.
 * The write txn is used only by tr__store_commit (one caller at a time, asserted).
 */
#ifndef TR_STORE_INTERNAL_H
#define TR_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/assert.h"
#include "runtime/store.h"
#include "runtime/store_overlay.h"
#include "runtime/store_single.h"

struct tr_store {
    MDB_env *env;
    MDB_dbi dbi_meta;
    MDB_dbi dbi_kv;
    MDB_dbi dbi_journal;
    MDB_dbi dbi_snap;
    int dir_fd; /* flock()ed: one opener per directory */
    char *dir;  /* owned copy of opts.dir: a simulated restart opens it again */
    bool no_sync;
    uint64_t map_size;
    uint64_t pending_max;
    pthread_rwlock_t map_lock;
    /* A read txn reset after use, renewed by the next read instead of a new one: beginning
     * and ending a txn per read cost half of what the read did. Taken and put back with an
     * atomic exchange (at most one kept); aborted before the environment is closed. */
    _Atomic(MDB_txn *) read_spare;
    pthread_mutex_t mu;      /* not taken by a single-threaded store (store_lock) */
    tr_store_single *single; /* the simulator's mode (store_single.h); NULL otherwise */
    /* Under mu: */
    batch pending;
    table kv;     /* full key -> latest pending entry (kv puts and deletes) */
    table actors; /* name -> arec */
    bool committing;
    /* Callbacks between their first write and their end (tr__store_callback_begin/_end),
     * and a commit waiting for them to end: the commit swaps the pending batch only when no
     * callback is halfway through its writes, so one callback's writes share one commit. */
    uint32_t writers;
    bool swap_waiting;
    pthread_cond_t writers_cv; /* writers reached 0, or the swap happened */
    int failed;    /* a commit failed: the store refuses further writes (see docs/store.md) */
    int fail_next; /* simulator: the next commit fails with this code (tr__store_commit_fail) */
    uint64_t next_token;
    tr_store_stats stats;
    tr_store_hooks hooks;
    void (*mid_commit)(tr_store *st, void *ud); /* tests only */
    void *mid_commit_ud;
};

/* st->mu, except in a single-threaded store, where the caller's thread is the lock. */
static inline void store_lock(tr_store *st) {
    if (st->single != NULL) {
        TR_DEBUG_ASSERT(tr__store_single_owned(st->single));
        return;
    }
    pthread_mutex_lock(&st->mu);
}

static inline void store_unlock(tr_store *st) {
    if (st->single == NULL) {
        pthread_mutex_unlock(&st->mu);
    }
}

/* Tells the engine that a pending batch began. Without the lock. */
static inline void store_call_ready(tr_store *st, bool ready) {
    if (ready && st->hooks.ready) {
        st->hooks.ready(st->hooks.ud);
    }
}

#endif
