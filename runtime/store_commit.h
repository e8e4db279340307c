/*
 * store_commit.h — the group commit (tr__store_commit, declared in store.h) and what the
 * other modules share of it.
 *
 * A commit swaps the pending batch out under the lock, writes it without the lock (one or
 * more LMDB txns, store_db.h), then releases its entries from the overlay, tells its
 * waiters with the commit's status and calls the ready hook if a re-queued truncation began
 * a new pending batch. A failed commit fails the store for good: every later write, notify
 * and commit reports the same code (the store cannot promise durability any more).
 * A simulated crash (tr__store_drop_pending) forgets everything not committed.
 */
#ifndef TR_STORE_COMMIT_H
#define TR_STORE_COMMIT_H

#include <stdbool.h>

#include "runtime/store_overlay.h"

/* After b's commit (status rc): its entries leave the overlay (LMDB has them, or the store
 * failed). Takes the lock per chunk of entries. With `requeue`, truncations that ran out of
 * budget are queued again; returns whether that began a pending batch (the caller then
 * calls the ready hook, without the lock). Checks b's counters against its entry list. */
bool tr__store_batch_release(tr_store *st, batch *b, int rc, bool requeue);
/* Tells each waiter from w on (held replies: hooks.release; notifications: hooks.durable)
 * with status, and frees them. Without the lock. */
void tr__store_fire_waiters(tr_store *st, waiter *w, int status);
/* A batch with writes was committed (held back or not): the stats. Under the lock. */
void tr__store_count_commit(tr_store *st, const batch *b);
/* Forgets everything not committed (a crash, or close). Held replies go back to the node
 * with TR_ECLOSED, or are freed with tr_msg_free when closing (the node may be gone). */
void tr__store_drop_all(tr_store *st, bool closing);

#endif
