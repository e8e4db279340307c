/*
 * vec.h — a growable array of fixed-size items (runtime/vec.c), for the runtime's small
 * per-actor and per-node lists (links, monitors, timers, mutes, remote watches) and the
 * real engine's queues of posted work and timers.
 *
 * A zeroed tr_vec is empty and valid. Items are copied in and out by value (`size` bytes
 * each, the same size on every call for one vector); removal swaps the last item into the
 * hole, so order is not kept. Not thread-safe: the owner of the list (an actor, or the
 * holder of the lock that guards it) is the only user.
 */
#ifndef TR_VEC_H
#define TR_VEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct tr_vec {
    void *items;
    uint32_t len;
    uint32_t cap;
} tr_vec;

/* Appends a copy of item. 0, or TR_ENOMEM with the vector left as it was. */
int tr__vec_push(tr_vec *v, const void *item, size_t size);
/* Removes item i (< len) by moving the last item into its place. */
void tr__vec_remove(tr_vec *v, uint32_t i, size_t size);
/* Frees the items; the vector is empty and valid afterwards. */
void tr__vec_free(tr_vec *v);

#endif /* TR_VEC_H */
