/* The message pool (runtime/pool.c): every message comes out initialised whichever path
 * served it (the thread's list, a full batch, the global stack, malloc), and memory flows
 * back across threads in batches. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine.h"
#include "troupe.h"

#define MANY (5 * 1024 + 17) /* past several batches of 1024 */

static void check_fresh(tr_msg *m, size_t body_cap) {
    cr_assert_not_null(m);
    cr_assert_null(atomic_load(&m->next_));
    cr_assert_eq(m->type, 0);
    cr_assert_eq(m->body_len, 0);
    cr_assert(tr_addr_eq(m->from, TR_ADDR_NONE) && tr_addr_eq(m->to, TR_ADDR_NONE));
    cr_assert_eq(m->corr, 0);
    cr_assert_eq(m->trace, 0);
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
    m->trace = 6;
    m->flags_ = 1;
}

static void alloc_and_free(size_t body_cap) {
    static tr_msg *ms[MANY];
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < MANY; i++) {
            ms[i] = tr__pool_alloc(body_cap);
            check_fresh(ms[i], body_cap);
            dirty(ms[i]);
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
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < MANY; i++) {
            handed[i] = tr__pool_alloc(32);
            check_fresh(handed[i], 32);
            dirty(handed[i]);
        }
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, consumer, NULL), 0);
        pthread_join(t, NULL);
    }
    tr__pool_thread_flush();
}
