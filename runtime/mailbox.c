/* mailbox.c — the cold half of the mailbox (runtime/mailbox.h): set-up, teardown, and the
 * invariant walker. Push and pop are inline in the header. */
#include "runtime/mailbox.h"

void tr__mailbox_init(tr_mailbox *mb) {
    atomic_store_explicit(&mb->stub.next_, NULL, memory_order_relaxed);
    mb->tail = (tr_msg *)(void *)&mb->stub;
    atomic_store_explicit(&mb->head, (uintptr_t)mb->tail | 1, memory_order_relaxed);
    atomic_store_explicit(&mb->queued, 0, memory_order_relaxed);
}

void tr__mailbox_discard(tr_mailbox *mb) {
    while (tr__mailbox_pop(mb) != NULL) {
    }
    if (!tr__mailbox_is_stub(mb, mb->tail)) {
        tr__pool_release(mb->tail);
    }
    tr__mailbox_init(mb);
}

uint32_t tr__mailbox_check(tr_mailbox *mb) {
    uintptr_t head = atomic_load_explicit(&mb->head, memory_order_acquire);
    tr_msg *tail = mb->tail;
    TR_ASSERT(tail != NULL);
    TR_ASSERT(tr__mailbox_is_stub(mb, tail) || tr__pool_is_live(tail));
    uint32_t n = 0;
    tr_msg *last = tail;
    for (tr_msg *m = atomic_load_explicit(&tail->next_, memory_order_acquire); m;
         m = atomic_load_explicit(&m->next_, memory_order_acquire)) {
        TR_ASSERT(tr__pool_is_live(m));
        TR_ASSERT(n < UINT32_MAX);
        n++;
        last = m;
    }
    if (head & 1) {
        TR_ASSERT(n == 0 && (tr_msg *)(head & ~(uintptr_t)1) == tail);
    } else {
        TR_ASSERT((tr_msg *)head == last);
    }
    TR_ASSERT(atomic_load_explicit(&mb->queued, memory_order_relaxed) == n);
    return n;
}
