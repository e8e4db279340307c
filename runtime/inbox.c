/*
 * inbox.c — a plain thread's mailbox on the real engine (tr_inbox_*, troupe.h).
 *
 * An inbox is an ordinary actor on the runtime's node whose receive callback moves each
 * message into a queue guarded by a mutex, where a thread that is not a worker (main(), a
 * test, `troupe call`) waits for it with a timeout. A plain thread cannot make a request
 * itself (replies are matched against an actor's pending requests), so tr_inbox_request hands
 * the request to the inbox actor, which makes it on the thread's behalf; the thread then waits
 * for the answer with that correlation id.
 * Threading: tr_inbox_* from any non-worker thread; the actor's callbacks on a worker.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/internal.h"

/* ---- inbox: a plain thread's mailbox ---------------------------------------------------- */

/* A request a plain thread hands to the inbox actor (tr_inbox_request): only an actor can
 * send one (its reply is matched against the actor's pending requests), so the thread fills
 * this in, pokes the actor with a TR_MSG_NONE message from the inbox's own address (nobody
 * else sends from it) and waits for `done`; then it waits for the answer in the queue. */
typedef struct inbox_request {
    tr_addr to;
    const char *name; /* borrowed from the waiting thread */
    uint32_t type;
    const void *body; /* borrowed from the waiting thread */
    size_t len;
    uint32_t timeout_ms;
    uint64_t corr; /* set by the actor */
    int rc;        /* set by the actor */
    bool posted, done;
} inbox_request;

struct tr_inbox {
    tr_runtime *rt;
    tr_addr addr;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    tr_msg *head, *tail; /* owned copies, linked through next_ (not used atomically here) */
    uint32_t count;
    int closed;
    inbox_request req; /* [lock] */
    tr_trace trace;    /* [lock] tr__inbox_trace_start: flags to start the next request's
                        * trace with (trace.flags | 0x80 armed), then the trace it started */
    bool trace_given;  /* [lock] tr__inbox_trace_use: the next request carries `trace` */
};

/* Runs the request a plain thread posted (see inbox_request). Inbox actor's thread. */
static void inbox_run_request(tr_ctx *ctx, tr_inbox *ib) {
    /* Under the lock: the thread may withdraw the request (and free what it lent) only
     * before this starts or after it is done. Sending queues; it never calls back here. */
    pthread_mutex_lock(&ib->lock);
    inbox_request *r = &ib->req;
    if (r->posted && !r->done) {
        if (ib->trace.flags & 0x80) { /* a new trace: its root span is this request's sender */
            (void)tr_trace_start(ctx, ib->trace.flags & 0x7f);
            tr_trace_current(ctx, &ib->trace);
        } else if (ib->trace_given) { /* tr__inbox_trace_use: one request, this context */
            (void)tr_trace_set(ctx, &ib->trace);
            ib->trace_given = false;
        }
        r->rc = tr__ctx_request_to(ctx, r->to, r->name, r->type, r->body, r->len, r->timeout_ms,
                                   &r->corr);
        r->done = true;
        pthread_cond_broadcast(&ib->cond);
    }
    pthread_mutex_unlock(&ib->lock);
}

static int inbox_receive_cb(tr_ctx *ctx, void *state, const tr_msg *m) {
    tr_inbox *ib = *(tr_inbox **)state;
    if (m->type == TR_MSG_NONE && tr_addr_eq(m->from, ib->addr)) {
        inbox_run_request(ctx, ib);
        return TR_CONTINUE;
    }
    tr_msg *c = tr__pool_copy(m); /* m is the mailbox's stub: copied field by field */
    if (!c) {
        return TR_CONTINUE;
    }
    pthread_mutex_lock(&ib->lock);
    if (ib->tail) {
        atomic_store_explicit(&ib->tail->next_, c, memory_order_relaxed);
    } else {
        ib->head = c;
    }
    ib->tail = c;
    ib->count++;
    pthread_cond_signal(&ib->cond);
    pthread_mutex_unlock(&ib->lock);
    return TR_CONTINUE;
}

static int inbox_init_cb(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)ctx;
    (void)len;
    memcpy(state, arg, sizeof(tr_inbox *));
    return 0;
}

static const tr_behaviour inbox_behaviour = {
    .name = "inbox",
    .state_size = sizeof(tr_inbox *),
    .init = inbox_init_cb,
    .receive = inbox_receive_cb,
};

int tr_inbox_create(tr_runtime *rt, tr_inbox **out) {
    if (!rt || !out) {
        return TR_EINVAL;
    }
    tr_inbox *ib = calloc(1, sizeof *ib);
    if (!ib) {
        return TR_ENOMEM;
    }
    ib->rt = rt;
    pthread_mutex_init(&ib->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ib->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = tr_node_spawn(tr_runtime_node(rt), &inbox_behaviour, NULL, &ib, sizeof ib, &ib->addr);
    if (rc) {
        pthread_mutex_destroy(&ib->lock);
        pthread_cond_destroy(&ib->cond);
        free(ib);
        return rc;
    }
    *out = ib;
    return 0;
}

tr_addr tr_inbox_addr(const tr_inbox *ib) {
    return ib->addr;
}

static void deadline_in(struct timespec *deadline, uint32_t timeout_ms) {
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += timeout_ms / 1000;
    deadline->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000L;
    }
}

/* Unlinks m from the queue; prev is the message before it (NULL: m is the head). [lock] */
static void inbox_unlink(tr_inbox *ib, tr_msg *prev, tr_msg *m) {
    tr_msg *next = atomic_load_explicit(&m->next_, memory_order_relaxed);
    if (prev) {
        atomic_store_explicit(&prev->next_, next, memory_order_relaxed);
    } else {
        ib->head = next;
    }
    if (ib->tail == m) {
        ib->tail = prev;
    }
    TR_ASSERT(ib->count > 0);
    ib->count--;
    atomic_store_explicit(&m->next_, NULL, memory_order_relaxed);
}

/* The first queued message with this corr, unlinked, or NULL. [lock] */
static tr_msg *inbox_take_corr(tr_inbox *ib, uint64_t corr) {
    tr_msg *prev = NULL;
    for (tr_msg *m = ib->head; m;
         prev = m, m = atomic_load_explicit(&m->next_, memory_order_relaxed)) {
        if (m->corr == corr) {
            inbox_unlink(ib, prev, m);
            return m;
        }
    }
    return NULL;
}

int tr_inbox_receive(tr_inbox *ib, uint32_t timeout_ms, tr_msg **out) {
    if (!ib || !out) {
        return TR_EINVAL;
    }
    struct timespec deadline;
    deadline_in(&deadline, timeout_ms);
    pthread_mutex_lock(&ib->lock);
    int rc = 0;
    while (!ib->head && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&ib->cond, &ib->lock, &deadline);
    }
    tr_msg *m = ib->head;
    if (m) {
        inbox_unlink(ib, NULL, m);
    }
    pthread_mutex_unlock(&ib->lock);
    if (!m) {
        return TR_ETIMEDOUT;
    }
    *out = m;
    return 0;
}

/* How long past its timeout a request's answer may take to show up: the runtime's timer
 * delivers TR_MSG_TIMEOUT on time unless the node is stuck, and then the caller is not. */
#define INBOX_REQUEST_GRACE_MS 5000

int tr_inbox_request(tr_inbox *ib, tr_addr to, const char *to_name, uint32_t type, const void *body,
                     size_t len, uint32_t timeout_ms, tr_msg **reply_out) {
    if (!ib || !reply_out || (len && !body)) {
        return TR_EINVAL;
    }
    pthread_mutex_lock(&ib->lock);
    if (ib->req.posted) {
        pthread_mutex_unlock(&ib->lock);
        return TR_EBUSY;
    }
    ib->req = (inbox_request){.to = to,
                              .name = to_name,
                              .type = type,
                              .body = body,
                              .len = len,
                              .timeout_ms = timeout_ms,
                              .posted = true};
    pthread_mutex_unlock(&ib->lock);
    tr_msg *poke = tr__pool_alloc(0);
    int rc = TR_ENOMEM;
    if (poke) {
        poke->type = TR_MSG_NONE;
        poke->from = ib->addr;
        poke->to = ib->addr;
        rc = tr__actor_send(tr_runtime_node(ib->rt), NULL, poke, NULL);
    }
    struct timespec deadline;
    deadline_in(&deadline, timeout_ms > UINT32_MAX - INBOX_REQUEST_GRACE_MS
                               ? UINT32_MAX
                               : timeout_ms + INBOX_REQUEST_GRACE_MS);
    tr_msg *m = NULL;
    pthread_mutex_lock(&ib->lock);
    int wait = 0;
    while (rc == 0 && !ib->req.done && wait != ETIMEDOUT) {
        wait = pthread_cond_timedwait(&ib->cond, &ib->lock, &deadline);
    }
    if (rc == 0) {
        rc = ib->req.done ? ib->req.rc : TR_ETIMEDOUT;
    }
    while (rc == 0 && !(m = inbox_take_corr(ib, ib->req.corr)) && wait != ETIMEDOUT) {
        wait = pthread_cond_timedwait(&ib->cond, &ib->lock, &deadline);
    }
    /* A request the actor has not taken yet is withdrawn: it sees posted == false. */
    ib->req.posted = false;
    pthread_mutex_unlock(&ib->lock);
    if (rc == 0 && (!m || m->type == TR_MSG_TIMEOUT)) {
        rc = m ? tr_msg_request_error(m) : TR_ETIMEDOUT; /* timed out, or failed at once */
    }
    if (rc) {
        tr_msg_free(m);
        return rc;
    }
    *reply_out = m;
    return 0;
}

/* Stops the inbox actor and waits until it is gone, so no callback can touch ib after. */
void tr_inbox_destroy(tr_inbox *ib) {
    if (!ib) {
        return;
    }
    tr_node_stop(tr_runtime_node(ib->rt), ib->addr, 0);
    for (int i = 0; i < 100000 && tr_node_actor_is_alive(tr_runtime_node(ib->rt), ib->addr); i++) {
        usleep(100);
    }
    tr_msg *m = ib->head;
    while (m) {
        tr_msg *n = atomic_load_explicit(&m->next_, memory_order_relaxed);
        tr__pool_release(m);
        m = n;
    }
    pthread_mutex_destroy(&ib->lock);
    pthread_cond_destroy(&ib->cond);
    free(ib);
}

void tr__inbox_trace_start(tr_inbox *ib, uint8_t flags) {
    pthread_mutex_lock(&ib->lock);
    memset(&ib->trace, 0, sizeof ib->trace);
    ib->trace.flags = (uint8_t)(flags | 0x80);
    pthread_mutex_unlock(&ib->lock);
}

void tr__inbox_trace_get(tr_inbox *ib, tr_trace *out) {
    pthread_mutex_lock(&ib->lock);
    *out = ib->trace;
    pthread_mutex_unlock(&ib->lock);
}

void tr__inbox_trace_use(tr_inbox *ib, const tr_trace *t) {
    pthread_mutex_lock(&ib->lock);
    ib->trace = *t;
    ib->trace.flags &= 0x7f; /* never the armed bit of tr__inbox_trace_start */
    ib->trace_given = true;
    pthread_mutex_unlock(&ib->lock);
}
