/*
 * pool.c — message memory: size classes with per-thread free lists (Pony's mem/pool.c in
 * miniature), so the message path does not call malloc.
 *
 * A message is a tr_msg header followed by its body capacity. Classes hold 128, 256, 512,
 * 1024 and 4096 bytes in all; larger messages use malloc directly. Each thread keeps a free
 * list per class; when it grows past TR__LOCAL_MAX the thread moves a batch of
 * TR__BATCH messages to a global stack (mutex), and an empty thread takes a batch from
 * there before calling malloc. Messages often die on another thread than the one that
 * made them (producer/consumer), so the batches are how memory flows back.
 * Bounded: the global stack keeps at most TR__GLOBAL_MAX batches per class; beyond that
 * memory goes back to malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

#define TR__CLASSES 5
#define TR__CLASS_HUGE 0xFFu
#define TR__LOCAL_MAX 4096
#define TR__BATCH 1024
#define TR__GLOBAL_MAX 256

static const uint32_t class_size[TR__CLASSES] = {128, 256, 512, 1024, 4096};

typedef struct tr_free {
    struct tr_free *next;       /* within a list */
    struct tr_free *next_batch; /* on the global stack: the next batch */
} tr_free;

typedef struct tr_local {
    tr_free *head[TR__CLASSES];
    uint32_t count[TR__CLASSES];
} tr_local;

static _Thread_local tr_local local;

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static tr_free *global_batches[TR__CLASSES];
static uint32_t global_count[TR__CLASSES];

static inline uint32_t class_of(size_t total) {
    for (uint32_t c = 0; c < TR__CLASSES; c++) {
        if (total <= class_size[c]) return c;
    }
    return TR__CLASS_HUGE;
}

/* Moves TR__BATCH messages of class c from the local list to the global stack. */
static void give_batch(uint32_t c) {
    tr_free *first = local.head[c];
    tr_free *last = first;
    for (uint32_t i = 1; i < TR__BATCH; i++) last = last->next;
    local.head[c] = last->next;
    local.count[c] -= TR__BATCH;
    last->next = NULL;
    pthread_mutex_lock(&global_lock);
    if (global_count[c] < TR__GLOBAL_MAX) {
        first->next_batch = global_batches[c];
        global_batches[c] = first;
        global_count[c]++;
        first = NULL;
    }
    pthread_mutex_unlock(&global_lock);
    while (first) { /* the global stack is full: give the memory back */
        tr_free *n = first->next;
        free(first);
        first = n;
    }
}

static bool take_batch(uint32_t c) {
    pthread_mutex_lock(&global_lock);
    tr_free *b = global_batches[c];
    if (b) {
        global_batches[c] = b->next_batch;
        global_count[c]--;
    }
    pthread_mutex_unlock(&global_lock);
    if (!b) return false;
    local.head[c] = b;
    local.count[c] = TR__BATCH;
    return true;
}

tr_msg *tr__msg_alloc(size_t body_cap) {
    size_t total = sizeof(tr_msg) + body_cap;
    uint32_t c = class_of(total);
    tr_msg *m;
    if (c == TR__CLASS_HUGE) {
        m = malloc(total);
    } else if (local.head[c] || take_batch(c)) {
        tr_free *f = local.head[c];
        local.head[c] = f->next;
        local.count[c]--;
        m = (tr_msg *)f;
    } else {
        m = malloc(class_size[c]);
    }
    if (!m) return NULL;
    atomic_store_explicit(&m->next_, NULL, memory_order_relaxed);
    m->type = 0;
    m->body_len = 0;
    m->from = TR_ADDR_NONE;
    m->to = TR_ADDR_NONE;
    m->corr = 0;
    m->trace = 0;
    m->body = (const uint8_t *)(m + 1);
    m->flags_ = 0;
    m->size_class_ = c;
    return m;
}

uint8_t *tr__msg_body_mut(tr_msg *msg) { return (uint8_t *)(msg + 1); }

void tr__msg_release(tr_msg *msg) {
    if (!msg) return;
    uint32_t c = msg->size_class_;
    if (c == TR__CLASS_HUGE) {
        free(msg);
        return;
    }
    tr_free *f = (tr_free *)msg;
    f->next = local.head[c];
    local.head[c] = f;
    if (++local.count[c] > TR__LOCAL_MAX) give_batch(c);
}

void tr_msg_free(tr_msg *msg) { tr__msg_release(msg); }

void tr__pool_thread_flush(void) {
    for (uint32_t c = 0; c < TR__CLASSES; c++) {
        while (local.count[c] >= TR__BATCH) give_batch(c);
        tr_free *f = local.head[c];
        while (f) {
            tr_free *n = f->next;
            free(f);
            f = n;
        }
        local.head[c] = NULL;
        local.count[c] = 0;
    }
}
