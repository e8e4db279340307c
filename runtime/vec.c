/* vec.c — a growable array of fixed-size items (runtime/vec.h). */
#include "runtime/vec.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

int tr__vec_push(tr_vec *v, const void *item, size_t size) {
    TR_ASSERT(v->len <= v->cap);
    if (v->len == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        void *p = realloc(v->items, (size_t)cap * size);
        if (!p) {
            return TR_ENOMEM;
        }
        v->items = p;
        v->cap = cap;
    }
    memcpy((char *)v->items + (size_t)v->len * size, item, size);
    v->len++;
    return 0;
}

void tr__vec_remove(tr_vec *v, uint32_t i, size_t size) {
    TR_ASSERT(i < v->len);
    v->len--;
    if (i != v->len) {
        memcpy((char *)v->items + (size_t)i * size, (char *)v->items + (size_t)v->len * size, size);
    }
}

void tr__vec_free(tr_vec *v) {
    free(v->items);
    v->items = NULL;
    v->len = v->cap = 0;
}
