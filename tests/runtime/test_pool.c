/* The message pool (runtime/pool.c): every message comes out initialised whichever path
 * served it (the thread's list, a full batch, the global stack, malloc), released memory is
 * what later allocations get (on the same thread and across threads, in batches). */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine.h"
#include "troupe.h"

#define MANY (5 * 1024 + 17) /* past several batches of 1024 */
#define POOLED_MAX 4096      /* the largest class: header and body together */

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* The addresses of a pass of MANY messages, sorted, to ask whether a later one is reused. */
static void remember(tr_msg *const *ms, void **seen) {
    memcpy(seen, ms, MANY * sizeof *seen);
    qsort(seen, MANY, sizeof *seen, cmp_ptr);
}

static bool was_seen(void *const *seen, const tr_msg *m) {
    const void *key = m;
    return bsearch(&key, seen, MANY, sizeof *seen, cmp_ptr) != NULL;
}

/* Bytes malloc has handed out and not got back. Addresses alone cannot tell the pool from
 * malloc (malloc too hands a freed block out again); memory the pool keeps stays in use. */
static size_t malloc_in_use(void) {
    return mallinfo2().uordblks;
}

static void check_fresh(tr_msg *m, size_t body_cap) {
    cr_assert_not_null(m);
    cr_assert_null(atomic_load(&m->next_));
    cr_assert_eq(m->type, 0);
    cr_assert_eq(m->body_len, 0);
    cr_assert(tr_addr_eq(m->from, TR_ADDR_NONE) && tr_addr_eq(m->to, TR_ADDR_NONE));
    cr_assert_eq(m->corr, 0);
    cr_assert(!tr_trace_is_set(&m->trace) && m->trace.flags == 0);
    cr_assert_eq(m->deadline_, 0);
    cr_assert_eq(m->flags_, 0);
    cr_assert_eq(m->body, tr__pool_body_mut(m));
    cr_assert_eq((const void *)m->body, (const void *)(m + 1));
    memset(tr__pool_body_mut(m), 0xab, body_cap); /* the whole capacity is writable */
}

/* Dirties every header field, as a user of the message would. */
static void dirty(tr_msg *m) {
    m->type = 7;
    m->body_len = 9;
    m->from = (tr_addr){.node = 1, .actor = 2};
    m->to = (tr_addr){.node = 3, .actor = 4};
    m->corr = 5;
    memset(&m->trace, 6, sizeof m->trace);
    m->deadline_ = 6;
    m->flags_ = 1;
}

/* Three passes of MANY messages; from the second on, a pooled class serves only memory
 * that the first pass released. */
static void alloc_and_free(size_t body_cap) {
    static tr_msg *ms[MANY];
    static void *seen[MANY];
    bool pooled = sizeof(tr_msg) + body_cap <= POOLED_MAX;
    for (int pass = 0; pass < 3; pass++) {
        size_t before = malloc_in_use();
        for (int i = 0; i < MANY; i++) {
            ms[i] = tr__pool_alloc(body_cap);
            check_fresh(ms[i], body_cap);
            if (pass > 0 && pooled) {
                cr_assert(was_seen(seen, ms[i]),
                          "class of %zu bytes: message %d of pass %d is new memory", body_cap, i,
                          pass);
            }
            dirty(ms[i]);
        }
        if (pass == 0) {
            remember(ms, seen);
        } else if (pooled) {
            size_t after = malloc_in_use(), grown = after > before ? after - before : 0;
            cr_assert_lt(grown, MANY * (sizeof(tr_msg) + body_cap) / 8,
                         "class of %zu bytes: pass %d took %zu bytes from malloc", body_cap, pass,
                         grown);
        }
        for (int i = 0; i < MANY; i++) {
            tr__pool_release(ms[i]);
        }
    }
}

Test(pool, reused_messages_come_back_initialised_in_every_class) {
    size_t caps[] = {0, 1, 48, 200, 500, 1000, 4000, 10000 /* malloc'd */};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        alloc_and_free(caps[i]);
    }
    tr__pool_thread_flush();
}

Test(pool, live_messages_are_distinct) {
    static tr_msg *ms[MANY];
    for (int i = 0; i < MANY; i++) {
        ms[i] = tr__pool_alloc(16);
        memset(tr__pool_body_mut(ms[i]), 0, 16);
        memcpy(tr__pool_body_mut(ms[i]), &i, sizeof i);
    }
    for (int i = 0; i < MANY; i++) {
        int v;
        memcpy(&v, ms[i]->body, sizeof v);
        cr_assert_eq(v, i, "message %d was handed out twice", i);
        tr__pool_release(ms[i]);
    }
    tr__pool_thread_flush();
}

/* Messages made on one thread die on another (producer/consumer): the consumer's batches go
 * to the global stack, and the producer takes them from there. */
static tr_msg *handed[MANY];

static void *consumer(void *arg) {
    (void)arg;
    for (int i = 0; i < MANY; i++) {
        tr__pool_release(handed[i]);
    }
    tr__pool_thread_flush();
    return NULL;
}

Test(pool, memory_freed_on_another_thread_is_reused_initialised) {
    static void *seen[MANY];
    for (int pass = 0; pass < 3; pass++) {
        size_t before = malloc_in_use();
        for (int i = 0; i < MANY; i++) {
            handed[i] = tr__pool_alloc(32);
            check_fresh(handed[i], 32);
            if (pass > 0) {
                cr_assert(was_seen(seen, handed[i]), "message %d of pass %d is new memory", i,
                          pass);
            }
            dirty(handed[i]);
        }
        if (pass == 0) {
            remember(handed, seen);
        } else {
            size_t after = malloc_in_use(), grown = after > before ? after - before : 0;
            cr_assert_lt(grown, MANY * (sizeof(tr_msg) + 32) / 8,
                         "pass %d took %zu bytes from malloc", pass, grown);
        }
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, consumer, NULL), 0);
        pthread_join(t, NULL);
    }
    tr__pool_thread_flush();
}
