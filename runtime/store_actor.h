/*
 * store_actor.h — the store's actor-side calls (declared in store.h: get, put, del, append,
 * snapshot, truncate, notify, hold, actor_gone, get_committed) and what the commit needs of
 * them.
 *
 * A write checks its arguments, builds its entry without the lock, then, under it, admits
 * the entry to the pending batch (refused with the store's failure, or TR_EAGAIN past
 * pending_max) and records it in the overlay, so that the actor's own later reads see it at
 * once. The write that makes the pending batch non-empty calls the ready hook, without the
 * lock. Reads look in the overlay first; a key that is not pending is current in LMDB.
 */
#ifndef TR_STORE_ACTOR_H
#define TR_STORE_ACTOR_H

#include <stdbool.h>

#include "runtime/store_overlay.h"

/* Queues e, a truncation of a's journal (its key holds the point), in the pending batch,
 * superseding a's pending truncation of the same batch. Caller holds the lock; *ready tells
 * whether it began the pending batch. 0, or the store's failure or TR_EAGAIN (e not
 * queued: the caller frees it). */
int tr__store_queue_trunc(tr_store *st, arec *a, entry *e, bool *ready);

#endif
