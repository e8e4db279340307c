/*
 * pool.c — message memory: size classes with per-thread free lists (Pony's mem/pool.c in
 * miniature), so the message path does not call malloc.
 *
 * A message is a tr_msg header followed by its body capacity. Classes hold 128, 256, 512,
 * 1024 and 4096 bytes in all; larger messages use malloc directly. Each thread keeps, per
 * class, a list being filled (`cur`, fewer than TR__BATCH messages) and at most one full
 * batch (`full`, exactly TR__BATCH). When `cur` fills up it becomes `full`, and a `full`
 * already held moves to a global stack (mutex); an empty thread takes `full`, then a batch
 * from the global stack, before calling malloc. Every hand-off moves a whole list by its
 * head in O(1): nothing walks a list of cold messages. Messages often die on another thread
 * than the one that made them (producer/consumer), so the batches are how memory flows
 * back. Bounded: a thread holds under 2 * TR__BATCH per class, and the global stack keeps
 * at most TR__GLOBAL_MAX batches per class; beyond that memory goes back to malloc.
 *
 * Release checks that size_class_ holds a class and marks it free (pool.h); alloc writes
 * the class again. The mark lives past the two links a free message stores at its start,
 * so a free list keeps it, and a batch refill checks it on the message it hands out.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "runtime/pool.h"

#define TR__CLASSES 5
#define TR__CLASS_HUGE 0xFFu
#define TR__BATCH 1024
#define TR__GLOBAL_MAX 256

static const uint32_t class_size[TR__CLASSES] = {128, 256, 512, 1024, 4096};

/* The byte of size_class_ that holds TR__POOL_FREE's top byte. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FREE_BYTE 3
#else
#define FREE_BYTE 0
#endif

typedef struct tr_free {
    struct tr_free *next;       /* within a list */
    struct tr_free *next_batch; /* on the global stack: the next batch */
} tr_free;

typedef struct tr_local {
    tr_free *cur[TR__CLASSES]; /* being filled */
    uint32_t cur_count[TR__CLASSES];
    tr_free *full[TR__CLASSES]; /* one complete batch of TR__BATCH, or NULL */
} tr_local;

static _Thread_local tr_local local;

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static tr_free *global_batches[TR__CLASSES];
static uint32_t global_count[TR__CLASSES];

static inline uint32_t class_of(size_t total) {
    for (uint32_t c = 0; c < TR__CLASSES; c++) {
        if (total <= class_size[c]) {
            return c;
        }
    }
    return TR__CLASS_HUGE;
}

static void free_list(tr_free *f) {
    while (f) {
        tr_free *n = f->next;
        free(f);
        f = n;
    }
}

/* Pushes one complete batch (TR__BATCH messages linked by next) onto the global stack. */
static void give_batch(uint32_t c, tr_free *batch) {
    pthread_mutex_lock(&global_lock);
    if (global_count[c] < TR__GLOBAL_MAX) {
        batch->next_batch = global_batches[c];
        global_batches[c] = batch;
        global_count[c]++;
        batch = NULL;
    }
    pthread_mutex_unlock(&global_lock);
    free_list(batch); /* the global stack is full: give the memory back */
}

/* Refills the empty `cur` of class c from `full` or the global stack. */
static bool refill(uint32_t c) {
    tr_free *b = local.full[c];
    if (b) {
        local.full[c] = NULL;
    } else {
        pthread_mutex_lock(&global_lock);
        b = global_batches[c];
        if (b) {
            global_batches[c] = b->next_batch;
            global_count[c]--;
        }
        pthread_mutex_unlock(&global_lock);
        if (!b) {
            return false;
        }
    }
    local.cur[c] = b;
    local.cur_count[c] = TR__BATCH;
    return true;
}

/* The header every new message starts with. */
static inline tr_msg *msg_init(tr_msg *m, uint32_t c) {
    atomic_store_explicit(&m->next_, NULL, memory_order_relaxed);
    m->type = 0;
    m->body_len = 0;
    m->from = TR_ADDR_NONE;
    m->to = TR_ADDR_NONE;
    m->corr = 0;
    m->trace = (tr_trace){{0}};
    m->deadline_ = 0;
    m->body = (const uint8_t *)(m + 1);
    m->flags_ = 0;
    m->size_class_ = c;
    return m;
}

/* Everything but a pop from `cur`: kept out of line, so that the common path of
 * tr__pool_alloc and tr__pool_release saves and restores no registers (one call per message
 * sent or decoded, and one per message freed). */
__attribute__((noinline)) static tr_msg *alloc_slow(size_t total, uint32_t c) {
    tr_msg *m;
    if (c == TR__CLASS_HUGE) {
        m = malloc(total);
    } else if (refill(c)) {
        tr_free *f = local.cur[c];
        TR_ASSERT(((tr_msg *)f)->size_class_ == (TR__POOL_FREE | c)); /* what release left */
        local.cur[c] = f->next;
        local.cur_count[c]--;
        m = (tr_msg *)f;
    } else {
        m = malloc(class_size[c]);
    }
    return m ? msg_init(m, c) : NULL;
}

__attribute__((always_inline)) tr_msg *tr__pool_try_alloc(size_t body_cap) {
    uint32_t c = class_of(sizeof(tr_msg) + body_cap);
    tr_free *f = c != TR__CLASS_HUGE ? local.cur[c] : NULL;
    if (__builtin_expect(f == NULL, 0)) {
        return NULL;
    }
    local.cur[c] = f->next;
    local.cur_count[c]--;
    return msg_init((tr_msg *)f, c);
}

tr_msg *tr__pool_alloc(size_t body_cap) {
    tr_msg *m = tr__pool_try_alloc(body_cap);
    if (__builtin_expect(m != NULL, 1)) {
        return m;
    }
    size_t total = sizeof(tr_msg) + body_cap;
    return alloc_slow(total, class_of(total));
}

uint8_t *tr__pool_body_mut(tr_msg *msg) {
    return (uint8_t *)(msg + 1);
}

tr_msg *tr__pool_copy(const tr_msg *m) {
    tr_msg *c = tr__pool_alloc(m->body_len);
    if (c) {
        c->type = m->type;
        c->body_len = m->body_len;
        c->from = m->from;
        c->to = m->to;
        c->corr = m->corr;
        c->trace = m->trace;
        c->deadline_ = m->deadline_;
        c->flags_ = m->flags_;
        if (m->body_len) {
            memcpy(tr__pool_body_mut(c), m->body, m->body_len);
        }
    }
    return c;
}

/* `cur` of class c holds exactly TR__BATCH: it becomes `full` (a `full` already held goes to
 * the global stack). Checked before the push: `cur` may hold exactly TR__BATCH after a
 * refill, and must never grow past it, so that every batch handed on is complete and this
 * thread's holding stays bounded. */
__attribute__((noinline)) static void retire_cur(uint32_t c) {
    if (local.full[c]) {
        give_batch(c, local.full[c]);
    }
    local.full[c] = local.cur[c];
    local.cur[c] = NULL;
    local.cur_count[c] = 0;
}

void tr__pool_release(tr_msg *msg) {
    if (!msg) {
        return;
    }
    uint32_t c = msg->size_class_;
    /* Came from tr__pool_alloc and not released since (pool.h). */
    TR_ASSERT(c <= TR__POOL_CLASS_MAX);
    /* size_class_ becomes c | TR__POOL_FREE: one byte store, as c < 256. */
    ((uint8_t *)&msg->size_class_)[FREE_BYTE] = (uint8_t)(TR__POOL_FREE >> 24);
    if (c == TR__CLASS_HUGE) {
        free(msg);
        return;
    }
    if (__builtin_expect(local.cur_count[c] == TR__BATCH, 0)) {
        retire_cur(c);
    }
    tr_free *f = (tr_free *)msg;
    f->next = local.cur[c];
    local.cur[c] = f;
    local.cur_count[c]++;
}

void tr_msg_free(tr_msg *msg) {
    tr__pool_release(msg);
}

void tr__pool_thread_flush(void) {
    for (uint32_t c = 0; c < TR__CLASSES; c++) {
        if (local.full[c]) {
            give_batch(c, local.full[c]);
        }
        local.full[c] = NULL;
        free_list(local.cur[c]);
        local.cur[c] = NULL;
        local.cur_count[c] = 0;
    }
}
