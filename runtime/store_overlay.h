/*
 * store_overlay.h — what the store holds in memory: writes (entries), the batches they are
 * grouped in, the waiters of a batch, the kv overlay and the per-actor records.
 *
 * Every write is an entry, owned by the batch it was issued in, until that batch is in LMDB
 * (or the store failed or dropped it). While it is not, the overlay makes it visible to the
 * actor that wrote it: the kv table maps a full key to its newest pending entry, an actor
 * record holds the actor's pending journal events, snapshot and truncation. Readers look
 * there first, then in LMDB.
 *
 * Invariants (checked by tr__store_check in debug builds):
 *   1. kv.count is the number of entries in the kv table; each is a live (not superseded)
 *      put or delete from the pending batch or an older one;
 *   2. an actor record's pending journal is in strictly increasing seq order below next_seq,
 *      its pending snapshot covers no event past next_seq - 1, and its pending truncation
 *      goes no further than the highest one issued (trunc_seq).
 * A batch promises (batch_add) that count, truncs and bytes describe its entry list; the
 * commit checks it while releasing the batch (tr__store_batch_release).
 *
 * Threading: every function here runs under the store's lock (store_lock), except
 * entry/waiter allocation and freeing, which need it only in a single-threaded store (whose
 * lock is the calling thread: store_single.h).
 */
#ifndef TR_STORE_OVERLAY_H
#define TR_STORE_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "runtime/assert.h"
#include "runtime/store.h"

#define STORE_FULLKEY_MAX (TR_NAME_MAX + 1 + TR_KEY_MAX)
#define STORE_OVERLAY_BUCKETS_MIN 256u

enum {
    OP_PUT,
    OP_DEL,
    OP_APPEND,
    OP_SNAP,
    OP_TRUNC
};

typedef struct arec arec;
typedef struct entry entry;

/* One write, owned by the batch it was issued in. data = full key, then value. Keys:
 * "<actor>\0<key>" (kv), "<actor>\0<seq u64 BE>" (journal and truncation), "<actor>\0"
 * (snapshot, whose value starts with its seq u64 BE). */
struct entry {
    entry *next;  /* batch order */
    entry *hnext; /* kv: overlay hash chain; journal: the actor's pending list */
    arec *actor;  /* journal and snapshot entries */
    uint64_t hash;
    uint64_t gen; /* the batch it belongs to */
    uint32_t klen;
    uint32_t vlen;
    uint8_t op;
    bool dead; /* superseded by a later write in the same batch: not written */
    bool more; /* OP_TRUNC: its txn's deletion budget ran out before the end (TRUNC_STEP) */
    uint8_t data[];
};

/* Per-actor record: the journal sequence and the pending journal/snapshot. It lives while
 * the actor is alive (until tr__store_actor_gone) and while any of its journal or snapshot
 * writes is pending, so next_seq is never re-read from LMDB while LMDB is behind. */
struct arec {
    arec *hnext;
    uint64_t hash;
    uint64_t next_seq; /* 0 = not read from LMDB yet */
    entry *jhead;      /* pending appends in seq order (linked by hnext) */
    entry *jtail;
    entry *snap;         /* latest pending snapshot */
    entry *trunc;        /* latest pending (or re-queued) journal truncation */
    uint64_t trunc_seq;  /* the highest truncation point this record has seen issued */
    uint64_t flush_upto; /* store_single.c's scratch while it flushes (0 outside it) */
    bool gone;
    uint32_t nlen;
    char name[];
};

/* A durable notification (msg NULL) or a held reply, told once its batch is durable. */
typedef struct waiter waiter;
struct waiter {
    waiter *next;
    tr_addr who;
    uint64_t token; /* increasing in issue order, held replies included */
    tr_msg *msg;
};

typedef struct batch {
    entry *head;
    entry *tail;
    waiter *whead;
    waiter *wtail;
    uint64_t count;   /* entries, truncations included */
    uint64_t truncs;  /* of which OP_TRUNC (not counted as writes: tr__store_count_commit) */
    uint64_t deleted; /* journal events its truncations deleted (once written) */
    uint64_t bytes;
    uint64_t gen; /* the newest generation of its entries */
} batch;

/* A chained hash table (chaining never fails: growth is optional). */
typedef struct table {
    void **slots;
    size_t cap; /* power of two */
    size_t count;
} table;

/* ---- Keys and hashing ---------------------------------------------------------------- */

static inline void store_put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint64_t store_get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Returns the name's length, or 0 if it is not a valid persistent name. */
static inline size_t store_name_len(const char *actor) {
    if (actor == NULL) {
        return 0;
    }
    size_t n = strnlen(actor, TR_NAME_MAX + 1);
    return n > TR_NAME_MAX ? 0 : n;
}

static inline uint64_t store_hash(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* ---- Entries, waiters, batches ------------------------------------------------------- */

/* Builds "<actor>\0<key>" -> "<vpre><val>". key may be NULL (filled in by the caller).
 * NULL when out of memory. */
entry *tr__store_entry_new(tr_store *st, int op, const char *actor, size_t nlen, const void *key,
                           size_t klen, const void *vpre, size_t vprelen, const void *val,
                           size_t vlen);
void tr__store_entry_free(tr_store *st, entry *e);
/* Frees e and every entry after it in batch order. */
void tr__store_entries_free(tr_store *st, entry *e);
waiter *tr__store_waiter_new(tr_store *st);
void tr__store_waiter_free(tr_store *st, waiter *w);

static inline bool batch_empty(const batch *b) {
    return b->head == NULL && b->whead == NULL;
}

/* Appends e (whose gen is the batch's) and keeps count, truncs and bytes in step. */
static inline void batch_add(batch *b, entry *e) {
    TR_ASSERT(e->gen == b->gen);
    e->next = NULL;
    if (b->tail) {
        b->tail->next = e;
    } else {
        b->head = e;
    }
    b->tail = e;
    b->count++;
    b->truncs += e->op == OP_TRUNC;
    b->bytes += sizeof(entry) + e->klen + e->vlen;
}

static inline void batch_add_waiter(batch *b, waiter *w) {
    TR_ASSERT(b->wtail == NULL || b->wtail->token < w->token);
    w->next = NULL;
    if (b->wtail) {
        b->wtail->next = w;
    } else {
        b->whead = w;
    }
    b->wtail = w;
}

/* ---- Tables, the kv overlay, actor records ------------------------------------------- */

int tr__store_table_init(table *t);
/* Gives a large bucket array back once the table is empty again (memory stays bounded by
 * what is pending, not by the past). */
void tr__store_table_shrink_if_empty(table *t);

/* The slot that holds (or would hold) the overlay entry of the full key. */
entry **tr__store_overlay_slot(tr_store *st, const uint8_t *key, size_t klen, uint64_t hash);
/* Makes e the visible version of its key; a version from the same (still pending) batch is
 * superseded and will not be written. */
void tr__store_overlay_set(tr_store *st, entry *e);
/* Forgets e if it is still the visible version of its key (after its commit). */
void tr__store_overlay_release(tr_store *st, entry *e);
/* Forgets every overlay entry (the entries themselves belong to their batches). */
void tr__store_overlay_clear(tr_store *st);

arec *tr__store_arec_find(tr_store *st, const char *name, size_t nlen);
/* Finds or makes the record of name (NULL when out of memory); clears its gone mark. */
arec *tr__store_arec_get(tr_store *st, const char *name, size_t nlen);
/* Frees a if its actor is gone and nothing of it is pending. */
void tr__store_arec_free_if_idle(tr_store *st, arec *a);
/* Frees every record (their next_seq are then re-read from LMDB). */
void tr__store_arec_free_all(tr_store *st);

/* The invariants above; true when they hold (an assertion stops the process otherwise).
 * Walks every table: for TR_DEBUG_ASSERT and tests. Caller holds the lock. */
bool tr__store_check(tr_store *st);

#endif
