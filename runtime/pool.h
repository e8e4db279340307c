/*
 * pool.h — message memory: size-classed, per-thread pools (runtime/pool.c).
 *
 * A message is a tr_msg header followed by its body capacity; msg->body points at it.
 * tr__pool_alloc returns a fresh header (every field zero or none, body_len 0), with at
 * least body_cap writable bytes at tr__pool_body_mut(msg). Ownership passes with the pointer:
 * whoever holds a message last gives it back with tr__pool_release (tr_msg_free publicly),
 * on any thread.
 *
 * Invariant (checked on every release, at a compare's cost): a message handed to
 * tr__pool_release came from tr__pool_alloc and was not released since. The header's
 * size_class_ word is the class (at most TR__POOL_CLASS_MAX) while the message is live;
 * release sets its top byte (TR__POOL_FREE), which puts it out of that range until alloc
 * writes the class again. A double release, or a pointer whose word is not a class, aborts there
 * (TR_ASSERT) instead of handing one message to two owners later.
 */
#ifndef TR_POOL_H
#define TR_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR__POOL_CLASS_MAX 0xFFu  /* the largest size_class_ of a live message */
#define TR__POOL_FREE 0x46000000u /* ORed in by release: the word's top byte (one store) */

/* Returns an owned message with body_cap bytes of body, or NULL (out of memory). */
tr_msg *tr__pool_alloc(size_t body_cap);
/* tr__pool_alloc's common case only: a message from this thread's pool of its class, or NULL
 * when that pool is empty or the class is malloc's (the caller then takes its general path).
 * It calls nothing, so a caller's fast path that uses it needs no saved registers for it. */
tr_msg *tr__pool_try_alloc(size_t body_cap);
/* Takes ownership of msg (NULL is ignored) and returns its memory to the pool. */
void tr__pool_release(tr_msg *msg);
/* The writable body of a message from tr__pool_alloc (msg->body, not const). */
uint8_t *tr__pool_body_mut(tr_msg *msg);
/* An owned copy of m's header fields and body (not its queue link), or NULL when out of
 * memory. Field by field: m may be a mailbox's stub, whose next_ a producer may be writing. */
tr_msg *tr__pool_copy(const tr_msg *m);
/* Returns the calling thread's pools to the global free list (a thread about to exit). */
void tr__pool_thread_flush(void);

/* True if msg came from tr__pool_alloc and has not been released. */
static inline bool tr__pool_is_live(const tr_msg *msg) {
    return msg->size_class_ <= TR__POOL_CLASS_MAX;
}

#endif /* TR_POOL_H */
