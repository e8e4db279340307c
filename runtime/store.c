/*
 * store.c — durable actor state on LMDB (design: store.h; format and contract: docs/store.md).
 *
 * Layout of this file: errors; keys and hashing; the overlay (what writers see before the
 * commit); the pending batch and its waiters; actor-side calls; the commit; opening,
 * validating and initialising a directory.
 *
 * Locks, always taken in this order and never the other way round:
 *   st->mu        the pending batch, the overlay tables, actor records, waiters, counters;
 *                 held only for short, non-blocking work (hash lookups, list edits, copies
 *                 of a value out of the overlay) — never across an LMDB write txn or a hook.
 *                 Not taken at all in a defer_bytes store, which is single-threaded (mu_lock).
 *   st->map_lock  a rwlock: every LMDB read txn holds it shared; growing the map holds it
 *                 exclusively, because mdb_env_set_mapsize() remaps the file and must not
 *                 run while any txn of this process is alive (lmdb.h). Writer-preferring,
 *                 so that map growth is not starved by a stream of readers.
 * The write txn is used only by tr__store_commit (one caller at a time, asserted).
 */
#include "runtime/store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MAGIC "troupe-store"
#define STORE_FORMAT 1u
#define MAP_SIZE_DEFAULT (64ull << 20)
#define MAP_SIZE_MIN (64ull << 10)
#define PENDING_MAX_DEFAULT (256ull << 20)
/* One LMDB txn writes at most this many bytes of entries: LMDB caps the dirty pages of a
 * txn (MDB_TXN_FULL, about 512 MiB of pages), so a large batch is written as several txns;
 * its waiters are told only after the last one. */
#define TXN_BYTES_MAX (64ull << 20)
/* Recovery copies at most this many bytes of events per read txn, so that no read txn is
 * held across user callbacks (they may read or write the store themselves). */
#define RECOVER_CHUNK_BYTES (1u << 20)
#define FULLKEY_MAX (TR_NAME_MAX + 1 + TR_KEY_MAX)
#define OVERLAY_BUCKETS_MIN 256u
#define RELEASE_CHUNK 256
#define SPARE_ENTRY_BYTES 192u /* single stores recycle entries up to this size ... */
#define SPARE_MAX 2048u        /* ... and waiters; at most this many of each are kept */
/* A journal truncation deletes at most this many events per write txn; the rest of it is
 * queued again and goes on in the next commit (see batch_release), so that truncating a
 * long journal does not make one commit (and every waiter of it) arbitrarily slow. */
#define TRUNC_STEP 16384u

/* ------------------------------------------------------------------------------------ */
/* Errors: every LMDB and errno code becomes a TR_E code here and nowhere else.           */

static int map_err(int rc) {
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return TR_ENOENT;
    case MDB_KEYEXIST: return TR_EEXIST;
    case MDB_MAP_FULL: return TR_ENOSPC;
    case MDB_PAGE_NOTFOUND:
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_PAGE_FULL: return TR_ECORRUPT;
    case MDB_PANIC: return TR_EIO;
    case MDB_INCOMPATIBLE: return TR_EFOREIGN;
    case MDB_TXN_FULL:
    case MDB_BAD_VALSIZE: return TR_ETOOBIG;
    case MDB_DBS_FULL:
    case MDB_READERS_FULL:
    case MDB_TLS_FULL:
    case MDB_CURSOR_FULL: return TR_EBUSY;
    case MDB_MAP_RESIZED: return TR_EAGAIN;
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_DBI:
    case EINVAL: return TR_EINVAL;
    case ENOMEM: return TR_ENOMEM;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return TR_ENOSPC;
    case ENOENT: return TR_ENOENT;
    case EAGAIN:
    case EBUSY: return TR_EBUSY;
    default: return TR_EIO; /* EIO, EACCES, EROFS, ...: the directory cannot be used */
    }
}

/* While opening an existing file, anything LMDB cannot make sense of means damage. */
static int map_open_err(int rc) {
    int err = map_err(rc);
    return (err == TR_EINVAL || err == TR_ENOENT) ? TR_ECORRUPT : err;
}

/* ------------------------------------------------------------------------------------ */
/* Keys: "<actor>\0<key>" (kv), "<actor>\0<seq u64 BE>" (journal), "<actor>\0" (snapshot). */

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Returns the name's length, or 0 if it is not a valid persistent name. */
static size_t name_len(const char *actor) {
    if (actor == NULL) {
        return 0;
    }
    size_t n = strnlen(actor, TR_NAME_MAX + 1);
    return n > TR_NAME_MAX ? 0 : n;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
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

/* ------------------------------------------------------------------------------------ */
/* Entries, actor records, waiters, batches                                               */

enum {
    OP_PUT,
    OP_DEL,
    OP_APPEND,
    OP_SNAP,
    OP_TRUNC
};

typedef struct arec arec;
typedef struct entry entry;

/* One write, owned by the batch it was issued in. data = full key, then value. */
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
    uint64_t flush_upto; /* mark_truncated's scratch (0 outside it) */
    bool gone;
    uint32_t nlen;
    char name[];
};

typedef struct waiter waiter;
struct waiter {
    waiter *next;
    tr_addr who;
    uint64_t token;
    tr_msg *msg; /* NULL: a durable notification; else a held reply */
};

typedef struct batch {
    entry *head;
    entry *tail;
    waiter *whead;
    waiter *wtail;
    uint64_t count;   /* entries, truncations included */
    uint64_t truncs;  /* of which OP_TRUNC (not counted as writes: see count_commit) */
    uint64_t deleted; /* journal events its truncations deleted (once written) */
    uint64_t bytes;
    uint64_t gen;
} batch;

/* A single-threaded store's free blocks of one size (see spare_take). */
typedef struct spare spare;
struct spare {
    spare *next;
};

typedef struct spares {
    spare *head;
    uint32_t count;
} spares;

typedef struct table {
    void **slots;
    size_t cap; /* power of two */
    size_t count;
} table;

struct tr_store {
    MDB_env *env;
    MDB_dbi dbi_meta;
    MDB_dbi dbi_kv;
    MDB_dbi dbi_journal;
    MDB_dbi dbi_snap;
    int dir_fd; /* flock()ed: one opener per directory */
    bool no_sync;
    uint64_t map_size;
    uint64_t pending_max;
    uint64_t defer_bytes; /* see tr_store_opts; 0 = off */
    batch deferred;       /* committed, not yet in LMDB (defer_bytes stores); committer only */
    pthread_rwlock_t map_lock;
    pthread_mutex_t mu;   /* not taken when single (see mu_lock) */
    bool single;          /* defer_bytes store: one thread (the simulator's) uses it */
    spares spare_entries; /* single: entries of SPARE_ENTRY_BYTES, for reuse */
    spares spare_waiters; /* single: waiters, for reuse */
#ifndef NDEBUG
    pthread_t owner; /* single: the thread that opened it, the only one that may call */
#endif
    /* Under mu: */
    batch pending;
    table kv;     /* full key -> latest pending entry (kv puts and deletes) */
    table actors; /* name -> arec */
    bool committing;
    int failed; /* a commit failed: the store refuses further writes (see docs/store.md) */
    uint64_t next_token;
    tr_store_stats stats;
    tr_store_hooks hooks;
    void (*mid_commit)(tr_store *st, void *ud); /* tests only */
    void *mid_commit_ud;
};

/* st->mu, except for a single-threaded store. A defer_bytes store is the simulator's
 * (store.h): the simulator runs every node, engine and store of a run on the thread that
 * opened them, so every call on it and every hook it calls is on that one thread and there is
 * nothing for mu to order; the lock/unlock pair cost more than the work it guarded (tens of
 * thousands per simulated second). Debug builds check the thread on every call; the real
 * engine's stores (defer_bytes 0) lock exactly as before. */
static void mu_lock(tr_store *st) {
    if (st->single) {
        assert(pthread_equal(st->owner, pthread_self()) &&
               "a defer_bytes store is single-threaded (store.h)");
        return;
    }
    pthread_mutex_lock(&st->mu);
}

static void mu_unlock(tr_store *st) {
    if (!st->single) {
        pthread_mutex_unlock(&st->mu);
    }
}

/* Entries and waiters of a single-threaded store come from, and go back to, its own free
 * lists: every write and every notification made one malloc and one free, the most
 * expensive part of a write in the simulator. Only a single store does this, because its
 * lists need no lock (mu_lock); the others use malloc as before. Bounded by SPARE_MAX blocks
 * per list; close frees them. */
static void *spare_take(tr_store *st, spares *sp, size_t size) {
    if (!st->single || sp->head == NULL) {
        return malloc(size);
    }
    spare *b = sp->head;
    sp->head = b->next;
    sp->count--;
    return b;
}

static void spare_give(tr_store *st, spares *sp, void *p) {
    if (!st->single || sp->count >= SPARE_MAX) {
        free(p);
        return;
    }
    spare *b = p;
    b->next = sp->head;
    sp->head = b;
    sp->count++;
}

static void spares_free(spares *sp) {
    while (sp->head) {
        spare *b = sp->head;
        sp->head = b->next;
        free(b);
    }
    sp->count = 0;
}

static void entry_free(tr_store *st, entry *e) {
    if (st->single && sizeof(entry) + (size_t)e->klen + e->vlen <= SPARE_ENTRY_BYTES) {
        spare_give(st, &st->spare_entries, e); /* made at this size (entry_new) */
    } else {
        free(e);
    }
}

static waiter *waiter_new(tr_store *st) {
    return spare_take(st, &st->spare_waiters, sizeof(waiter));
}

static void waiter_free(tr_store *st, waiter *w) {
    spare_give(st, &st->spare_waiters, w);
}

static bool batch_empty(const batch *b) {
    return b->head == NULL && b->whead == NULL;
}

static void batch_add(batch *b, entry *e) {
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

static void batch_add_waiter(batch *b, waiter *w) {
    w->next = NULL;
    if (b->wtail) {
        b->wtail->next = w;
    } else {
        b->whead = w;
    }
    b->wtail = w;
}

/* Builds "<actor>\0<key>" -> "<vpre><val>". key may be NULL (filled in by the caller). */
static entry *entry_new(tr_store *st, int op, const char *actor, size_t nlen, const void *key,
                        size_t klen, const void *vpre, size_t vprelen, const void *val,
                        size_t vlen) {
    size_t fk = nlen + 1 + klen;
    size_t size = sizeof(entry) + fk + vprelen + vlen;
    entry *e = st->single && size <= SPARE_ENTRY_BYTES
                   ? spare_take(st, &st->spare_entries, SPARE_ENTRY_BYTES)
                   : malloc(size);
    if (e == NULL) {
        return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->op = (uint8_t)op;
    e->klen = (uint32_t)fk;
    e->vlen = (uint32_t)(vprelen + vlen);
    memcpy(e->data, actor, nlen);
    e->data[nlen] = 0;
    if (key && klen) {
        memcpy(e->data + nlen + 1, key, klen);
    }
    if (vprelen) {
        memcpy(e->data + fk, vpre, vprelen);
    }
    if (vlen) {
        memcpy(e->data + fk + vprelen, val, vlen);
    }
    return e;
}

/* ---- Chained hash tables (chaining never fails: growth is optional) ----------------- */

static void **table_bucket(table *t, uint64_t hash) {
    return &t->slots[hash & (t->cap - 1)];
}

/* Doubles the bucket array when the load passes 1; on ENOMEM chains just get longer. */
static void table_maybe_grow(table *t, void *(*next_of)(void *), void **(*link_of)(void *),
                             uint64_t (*hash_of)(void *)) {
    if (t->count < t->cap) {
        return;
    }
    size_t ncap = t->cap * 2;
    void **ns = calloc(ncap, sizeof(void *));
    if (ns == NULL) {
        return;
    }
    for (size_t i = 0; i < t->cap; i++) {
        void *n = t->slots[i];
        while (n) {
            void *nx = next_of(n);
            void **head = &ns[hash_of(n) & (ncap - 1)];
            *link_of(n) = *head;
            *head = n;
            n = nx;
        }
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
}

static void *entry_next(void *p) {
    return ((entry *)p)->hnext;
}
static void **entry_link(void *p) {
    return (void **)&((entry *)p)->hnext;
}
static uint64_t entry_hash(void *p) {
    return ((entry *)p)->hash;
}
static void *arec_next(void *p) {
    return ((arec *)p)->hnext;
}
static void **arec_link(void *p) {
    return (void **)&((arec *)p)->hnext;
}
static uint64_t arec_hash(void *p) {
    return ((arec *)p)->hash;
}

/* A burst of pending keys leaves a large bucket array behind; give it back once the
 * overlay is empty again (memory stays bounded by what is pending, not by the past). */
static void table_shrink_if_empty(table *t) {
    if (t->count != 0 || t->cap <= OVERLAY_BUCKETS_MIN * 16) {
        return;
    }
    void **ns = calloc(OVERLAY_BUCKETS_MIN, sizeof(void *));
    if (ns != NULL) {
        free(t->slots);
        t->slots = ns;
        t->cap = OVERLAY_BUCKETS_MIN;
    }
}

static int table_init(table *t) {
    t->cap = OVERLAY_BUCKETS_MIN;
    t->count = 0;
    t->slots = calloc(t->cap, sizeof(void *));
    return t->slots ? 0 : TR_ENOMEM;
}

/* ---- The kv overlay -------------------------------------------------------------------- */

static entry **overlay_slot(tr_store *st, const uint8_t *key, size_t klen, uint64_t hash) {
    entry **pp = (entry **)table_bucket(&st->kv, hash);
    while (*pp) {
        entry *e = *pp;
        if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0) {
            return pp;
        }
        pp = &e->hnext;
    }
    return pp;
}

/* Makes e the visible version of its key; a version from the same (still pending) batch
 * is superseded and will not be written. Caller holds mu. */
static void overlay_set(tr_store *st, entry *e) {
    entry **pp = overlay_slot(st, e->data, e->klen, e->hash);
    entry *old = *pp;
    if (old) {
        if (old->gen == e->gen) {
            old->dead = true;
        }
        e->hnext = old->hnext;
        *pp = e;
        return;
    }
    e->hnext = NULL;
    *pp = e;
    st->kv.count++;
    table_maybe_grow(&st->kv, entry_next, entry_link, entry_hash);
}

/* Forgets e if it is still the visible version of its key (after its commit). A newer
 * version replaced e in the same chain position, so looking for the pointer suffices. */
static void overlay_release_kv(tr_store *st, entry *e) {
    for (entry **pp = (entry **)table_bucket(&st->kv, e->hash); *pp; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            st->kv.count--;
            return;
        }
    }
}

/* ---- Actor records ---------------------------------------------------------------------- */

static arec **arec_slot(tr_store *st, const char *name, size_t nlen, uint64_t hash) {
    arec **pp = (arec **)table_bucket(&st->actors, hash);
    while (*pp) {
        arec *a = *pp;
        if (a->hash == hash && a->nlen == nlen && memcmp(a->name, name, nlen) == 0) {
            return pp;
        }
        pp = &a->hnext;
    }
    return pp;
}

static arec *arec_find(tr_store *st, const char *name, size_t nlen) {
    uint64_t h = hash_bytes((const uint8_t *)name, nlen);
    return *arec_slot(st, name, nlen, h);
}

static arec *arec_get(tr_store *st, const char *name, size_t nlen) {
    uint64_t h = hash_bytes((const uint8_t *)name, nlen);
    arec **pp = arec_slot(st, name, nlen, h);
    if (*pp) {
        (*pp)->gone = false; /* a new incarnation under the same name */
        return *pp;
    }
    arec *a = calloc(1, sizeof(arec) + nlen + 1);
    if (a == NULL) {
        return NULL;
    }
    a->hash = h;
    a->nlen = (uint32_t)nlen;
    memcpy(a->name, name, nlen);
    *pp = a;
    st->actors.count++;
    table_maybe_grow(&st->actors, arec_next, arec_link, arec_hash);
    return a;
}

static void arec_free_if_idle(tr_store *st, arec *a) {
    if (!a->gone || a->jhead != NULL || a->snap != NULL || a->trunc != NULL) {
        return;
    }
    arec **pp = arec_slot(st, a->name, a->nlen, a->hash);
    assert(*pp == a);
    *pp = a->hnext;
    st->actors.count--;
    free(a);
}

/* ------------------------------------------------------------------------------------ */
/* LMDB reads (short read-only txns under the shared map lock)                           */

static int read_begin(tr_store *st, MDB_txn **txn) {
    pthread_rwlock_rdlock(&st->map_lock);
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&st->map_lock);
        return map_err(rc);
    }
    return 0;
}

static void read_end(tr_store *st, MDB_txn *txn) {
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&st->map_lock);
}

static int copy_out(void *buf, size_t cap, const void *src, size_t n, size_t *len) {
    if (len) {
        *len = n;
    }
    if (n > cap) {
        return TR_ETOOBIG;
    }
    if (n) {
        memcpy(buf, src, n);
    }
    return 0;
}

/* The last journal seq of `name` in LMDB (0 if none), in an open read txn. */
static int journal_last_seq(tr_store *st, MDB_txn *txn, const char *name, size_t nlen,
                            uint64_t *out) {
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, name, nlen);
    k[nlen] = 0;
    put_be64(k + nlen + 1, UINT64_MAX);
    MDB_val key = {nlen + 9, k}, val;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, st->dbi_journal, &c);
    if (rc != 0) {
        return map_err(rc);
    }
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
    } else if (rc == 0) {
        rc = mdb_cursor_get(c, &key, &val, MDB_PREV);
    }
    *out = 0;
    if (rc == 0 && key.mv_size == nlen + 9 && memcmp(key.mv_data, k, nlen + 1) == 0) {
        *out = get_be64((const uint8_t *)key.mv_data + nlen + 1);
    }
    mdb_cursor_close(c);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : map_err(rc);
}

/* The seq of `name`'s snapshot in LMDB (*have false if none), in an open read txn. */
static int snap_seq_get(tr_store *st, MDB_txn *txn, const char *name, size_t nlen, bool *have,
                        uint64_t *seq) {
    uint8_t k[TR_NAME_MAX + 1];
    memcpy(k, name, nlen);
    k[nlen] = 0;
    MDB_val mk = {nlen + 1, k}, mv;
    int g = mdb_get(txn, st->dbi_snap, &mk, &mv);
    *have = false;
    *seq = 0;
    if (g == MDB_NOTFOUND) {
        return 0;
    }
    if (g == 0 && mv.mv_size < 8) {
        return TR_ECORRUPT;
    }
    if (g == 0) {
        *have = true;
        *seq = get_be64(mv.mv_data);
    }
    return map_err(g);
}

/* The last sequence `name` used, as LMDB knows it: the journal's last key, or the snapshot's
 * seq if that is larger (a truncation may have emptied the journal up to the snapshot). */
static int read_last_seq(tr_store *st, const char *name, size_t nlen, uint64_t *out) {
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc == 0) {
        bool have;
        uint64_t snap;
        rc = journal_last_seq(st, txn, name, nlen, out);
        rc = rc ? rc : snap_seq_get(st, txn, name, nlen, &have, &snap);
        if (rc == 0 && snap > *out) {
            *out = snap;
        }
        read_end(st, txn);
    }
    return rc;
}

static int read_snap_seq(tr_store *st, const char *name, size_t nlen, bool *have, uint64_t *seq) {
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc == 0) {
        rc = snap_seq_get(st, txn, name, nlen, have, seq);
        read_end(st, txn);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* Actor-side calls                                                                       */

/* Queues e in the pending batch. Caller holds mu; *ready tells whether to call the hook. */
static int admit(tr_store *st, entry *e, bool *ready) {
    if (st->failed) {
        return st->failed;
    }
    if (st->pending.count > 0 && st->pending.bytes + e->klen + e->vlen > st->pending_max) {
        return TR_EAGAIN;
    }
    *ready = batch_empty(&st->pending);
    e->gen = st->pending.gen;
    batch_add(&st->pending, e);
    return 0;
}

static void call_ready(tr_store *st, bool ready) {
    if (ready && st->hooks.ready) {
        st->hooks.ready(st->hooks.ud);
    }
}

static int check_key(const char *actor, const void *key, size_t klen, size_t *nlen) {
    *nlen = name_len(actor);
    if (*nlen == 0 || (key == NULL && klen > 0)) {
        return TR_EINVAL;
    }
    return klen > TR_KEY_MAX ? TR_ETOOBIG : 0;
}

static int check_value(const void *val, size_t vlen) {
    if (val == NULL && vlen > 0) {
        return TR_EINVAL;
    }
    return vlen > TR_VALUE_MAX ? TR_ETOOBIG : 0;
}

/* The end of every write: releases mu (taken by the caller), then frees a refused entry or
 * tells the engine a batch began. */
static int submitted(tr_store *st, entry *e, int rc, bool ready) {
    mu_unlock(st);
    if (rc != 0) {
        entry_free(st, e);
        return rc;
    }
    call_ready(st, ready);
    return 0;
}

static int submit_kv(tr_store *st, entry *e) {
    e->hash = hash_bytes(e->data, e->klen);
    bool ready = false;
    mu_lock(st);
    int rc = admit(st, e, &ready);
    if (rc == 0) {
        overlay_set(st, e);
    }
    return submitted(st, e, rc, ready);
}

static int kv_write(tr_store *st, int op, const char *actor, const void *key, size_t klen,
                    const void *val, size_t vlen) {
    assert(st != NULL);
    size_t nlen;
    int rc = check_key(actor, key, klen, &nlen);
    if (rc == 0) {
        rc = check_value(val, vlen);
    }
    if (rc != 0) {
        return rc;
    }
    entry *e = entry_new(st, op, actor, nlen, key, klen, NULL, 0, val, vlen);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    return submit_kv(st, e);
}

int tr__store_put(tr_store *st, const char *actor, const void *key, size_t klen, const void *val,
                  size_t vlen) {
    return kv_write(st, OP_PUT, actor, key, klen, val, vlen);
}

int tr__store_del(tr_store *st, const char *actor, const void *key, size_t klen) {
    return kv_write(st, OP_DEL, actor, key, klen, NULL, 0);
}

/* Builds "<actor>\0<key>" into k (FULLKEY_MAX bytes); returns its length or an error. */
static int full_key(const char *actor, const void *key, size_t klen, uint8_t *k, size_t *fk) {
    size_t nlen;
    int rc = check_key(actor, key, klen, &nlen);
    if (rc != 0) {
        return rc;
    }
    memcpy(k, actor, nlen);
    k[nlen] = 0;
    if (klen) {
        memcpy(k + nlen + 1, key, klen);
    }
    *fk = nlen + 1 + klen;
    return 0;
}

static int lmdb_get(tr_store *st, const uint8_t *k, size_t fk, void *buf, size_t cap, size_t *len) {
    MDB_txn *txn;
    int rc = read_begin(st, &txn);
    if (rc != 0) {
        return rc;
    }
    MDB_val mk = {fk, (void *)k}, mv;
    rc = mdb_get(txn, st->dbi_kv, &mk, &mv);
    rc = rc == 0 ? copy_out(buf, cap, mv.mv_data, mv.mv_size, len) : map_err(rc);
    read_end(st, txn);
    return rc;
}

int tr__store_get(tr_store *st, const char *actor, const void *key, size_t klen, void *buf,
                  size_t cap, size_t *len) {
    assert(st != NULL);
    uint8_t k[FULLKEY_MAX];
    size_t fk;
    int rc = full_key(actor, key, klen, k, &fk);
    if (rc != 0 || (buf == NULL && cap > 0)) {
        return rc ? rc : TR_EINVAL;
    }
    uint64_t h = hash_bytes(k, fk);
    mu_lock(st);
    entry *e = *overlay_slot(st, k, fk, h);
    if (e) {
        rc = e->op == OP_DEL ? TR_ENOENT : copy_out(buf, cap, e->data + e->klen, e->vlen, len);
    }
    mu_unlock(st);
    if (e) {
        return rc;
    }
    /* Not pending: every write of this key by this actor is committed, so LMDB is current. */
    return lmdb_get(st, k, fk, buf, cap, len);
}

int tr__store_get_committed(tr_store *st, const char *actor, const void *key, size_t klen,
                            void *buf, size_t cap, size_t *len) {
    assert(st != NULL);
    uint8_t k[FULLKEY_MAX];
    size_t fk;
    int rc = full_key(actor, key, klen, k, &fk);
    if (rc != 0 || (buf == NULL && cap > 0)) {
        return rc ? rc : TR_EINVAL;
    }
    if ((rc = tr__store_flush(st)) != 0) {
        return rc;
    }
    return lmdb_get(st, k, fk, buf, cap, len);
}

int tr__store_journal_range(tr_store *st, const char *actor, uint64_t *first, uint64_t *last,
                            uint64_t *count) {
    assert(st != NULL && first != NULL && last != NULL && count != NULL);
    size_t nlen = name_len(actor);
    int rc = nlen == 0 ? TR_EINVAL : tr__store_flush(st);
    MDB_txn *txn;
    rc = rc ? rc : read_begin(st, &txn);
    if (rc != 0) {
        return rc;
    }
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, actor, nlen);
    k[nlen] = 0;
    put_be64(k + nlen + 1, 0);
    MDB_val mk = {nlen + 9, k}, mv;
    MDB_cursor *c;
    *first = *last = *count = 0;
    int m = mdb_cursor_open(txn, st->dbi_journal, &c);
    if (m == 0) {
        for (m = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
             m == 0 && mk.mv_size == nlen + 9 && memcmp(mk.mv_data, k, nlen + 1) == 0;
             m = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
            *last = get_be64((const uint8_t *)mk.mv_data + nlen + 1);
            *first = *count == 0 ? *last : *first;
            (*count)++;
        }
        mdb_cursor_close(c);
    }
    read_end(st, txn);
    return m == 0 || m == MDB_NOTFOUND ? 0 : map_err(m);
}

/* Loads the actor's next journal sequence from LMDB on its first journal write (0 means
 * not loaded yet). Called with st->mu held. */
static int ensure_next_seq(tr_store *st, arec *a, const char *actor, size_t nlen) {
    if (a->next_seq != 0) {
        return 0;
    }
    uint64_t last;
    int rc = read_last_seq(st, actor, nlen, &last);
    a->next_seq = rc == 0 ? last + 1 : 0;
    return rc;
}

int tr__store_append(tr_store *st, const char *actor, const void *ev, size_t len,
                     uint64_t *seq_out) {
    assert(st != NULL);
    size_t nlen = name_len(actor);
    int rc = nlen == 0 ? TR_EINVAL : check_value(ev, len);
    if (rc != 0) {
        return rc;
    }
    entry *e = entry_new(st, OP_APPEND, actor, nlen, NULL, 8, NULL, 0, ev, len);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    bool ready = false;
    mu_lock(st);
    arec *a = arec_get(st, actor, nlen);
    rc = a ? 0 : TR_ENOMEM;
    if (rc == 0) {
        rc = ensure_next_seq(st, a, actor, nlen); /* first journal write of this incarnation */
    }
    if (rc == 0) {
        put_be64(e->data + nlen + 1, a->next_seq);
        rc = admit(st, e, &ready);
    }
    if (rc == 0) {
        if (seq_out) {
            *seq_out = a->next_seq;
        }
        a->next_seq++;
        e->actor = a;
        e->hnext = NULL;
        if (a->jtail) {
            a->jtail->hnext = e;
        } else {
            a->jhead = e;
        }
        a->jtail = e;
    }
    return submitted(st, e, rc, ready);
}

int tr__store_snapshot(tr_store *st, const char *actor, uint64_t seq, const void *data,
                       size_t len) {
    assert(st != NULL);
    size_t nlen = name_len(actor);
    int rc = nlen == 0 ? TR_EINVAL : check_value(data, len);
    if (rc != 0) {
        return rc;
    }
    uint8_t seqb[8];
    put_be64(seqb, seq);
    entry *e = entry_new(st, OP_SNAP, actor, nlen, NULL, 0, seqb, 8, data, len);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    bool ready = false;
    mu_lock(st);
    arec *a = arec_get(st, actor, nlen);
    rc = a ? 0 : TR_ENOMEM;
    if (rc == 0) {
        rc = ensure_next_seq(st, a, actor, nlen);
    }
    /* A snapshot past the journal's end would hide the events appended after it. */
    if (rc == 0 && seq >= a->next_seq) {
        rc = TR_EINVAL;
    }
    /* One below a truncation would need events that are (or are about to be) deleted. */
    if (rc == 0 && seq < a->trunc_seq) {
        rc = TR_EINVAL;
    }
    if (rc == 0) {
        rc = admit(st, e, &ready);
    }
    if (rc == 0) {
        if (a->snap && a->snap->gen == e->gen) {
            a->snap->dead = true;
        }
        e->actor = a;
        a->snap = e;
    }
    return submitted(st, e, rc, ready);
}

/* The actor's latest snapshot seq as it sees it: its pending one, else LMDB's. Under mu (a
 * snapshot leaves the overlay only after LMDB has it). */
static int visible_snap_seq(tr_store *st, arec *a, bool *have, uint64_t *seq) {
    if (a->snap != NULL) {
        *have = true;
        *seq = get_be64(a->snap->data + a->snap->klen);
        return 0;
    }
    return read_snap_seq(st, a->name, a->nlen, have, seq);
}

/* Queues a truncation of a's journal up to `upto` (the entry's key). Under mu. */
static int queue_trunc(tr_store *st, arec *a, entry *e, bool *ready) {
    int rc = admit(st, e, ready);
    if (rc == 0) {
        if (a->trunc && a->trunc->gen == e->gen) {
            a->trunc->dead = true; /* this one goes further (upto only grows) */
        }
        e->actor = a;
        a->trunc = e;
    }
    return rc;
}

int tr__store_truncate(tr_store *st, const char *actor, uint64_t upto) {
    assert(st != NULL);
    size_t nlen = name_len(actor);
    if (nlen == 0) {
        return TR_EINVAL;
    }
    entry *e = entry_new(st, OP_TRUNC, actor, nlen, NULL, 8, NULL, 0, NULL, 0);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    put_be64(e->data + nlen + 1, upto);
    bool ready = false, have = false;
    uint64_t snap = 0;
    mu_lock(st);
    arec *a = arec_get(st, actor, nlen);
    int rc = a ? 0 : TR_ENOMEM;
    rc = rc ? rc : (st->failed ? st->failed : visible_snap_seq(st, a, &have, &snap));
    if (rc == 0 && upto > 0 && (!have || upto > snap)) {
        rc = TR_EINVAL; /* events no snapshot covers would be lost */
    }
    if (rc == 0 && upto <= a->trunc_seq) {
        mu_unlock(st); /* nothing new to drop */
        entry_free(st, e);
        return 0;
    }
    if (rc == 0) {
        rc = queue_trunc(st, a, e, &ready);
    }
    if (rc == 0) {
        a->trunc_seq = upto;
    }
    return submitted(st, e, rc, ready);
}

static int add_waiter(tr_store *st, tr_addr who, tr_msg *msg, uint64_t *token_out) {
    waiter *w = waiter_new(st);
    if (w == NULL) {
        return TR_ENOMEM;
    }
    w->who = who;
    w->msg = msg;
    bool ready = false;
    mu_lock(st);
    int rc = st->failed;
    if (rc == 0) {
        w->token = ++st->next_token;
        if (token_out) {
            *token_out = w->token;
        }
        ready = batch_empty(&st->pending);
        batch_add_waiter(&st->pending, w);
    }
    mu_unlock(st);
    if (rc != 0) {
        waiter_free(st, w);
        return rc;
    }
    call_ready(st, ready);
    return 0;
}

int tr__store_notify(tr_store *st, tr_addr who, uint64_t *token_out) {
    assert(st != NULL);
    return add_waiter(st, who, NULL, token_out);
}

int tr__store_hold(tr_store *st, tr_msg *reply) {
    assert(st != NULL && reply != NULL);
    return add_waiter(st, TR_ADDR_NONE, reply, NULL);
}

void tr__store_actor_gone(tr_store *st, const char *actor) {
    size_t nlen = name_len(actor);
    if (nlen == 0) {
        return;
    }
    mu_lock(st);
    arec *a = arec_find(st, actor, nlen);
    if (a) {
        a->gone = true;
        arec_free_if_idle(st, a); /* else freed when its last pending write commits */
    }
    mu_unlock(st);
}

/* ------------------------------------------------------------------------------------ */
/* Recovery                                                                               */

typedef struct rec_item {
    uint64_t seq;
    uint32_t len;
    uint8_t data[];
} rec_item;

/* A growable buffer of copied events: items laid out back to back, 8-byte aligned. */
typedef struct rec_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} rec_buf;

static int rec_push(rec_buf *b, uint64_t seq, const void *data, size_t len) {
    size_t need = (sizeof(rec_item) + len + 7) & ~(size_t)7;
    if (b->len + need > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + need) {
            ncap *= 2;
        }
        uint8_t *np = realloc(b->p, ncap);
        if (np == NULL) {
            return TR_ENOMEM;
        }
        b->p = np;
        b->cap = ncap;
    }
    rec_item *it = (rec_item *)(b->p + b->len);
    it->seq = seq;
    it->len = (uint32_t)len;
    memcpy(it->data, data, len);
    b->len += need;
    return 0;
}

/* Replays the items of b with seq in (*after, upto]; advances *after. */
static int rec_replay(const rec_buf *b, tr_event_cb on_event, void *ud, uint64_t *after,
                      uint64_t upto) {
    size_t off = 0;
    while (off < b->len) {
        const rec_item *it = (const rec_item *)(b->p + off);
        off += (sizeof(rec_item) + it->len + 7) & ~(size_t)7;
        if (it->seq <= *after || it->seq > upto) {
            continue;
        }
        *after = it->seq;
        int rc = on_event ? on_event(ud, it->seq, it->data, it->len) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

typedef struct recovery {
    tr_store *st;
    const char *name;
    size_t nlen;
    bool have_snap;
    uint64_t snap_seq;
    rec_buf snap;    /* one item: the latest snapshot */
    rec_buf pending; /* the actor's pending events, copied */
    uint64_t upto;   /* replay nothing appended after the replay started */
} recovery;

/* Copies what only the overlay knows: the pending snapshot and events. Under mu. */
static int recover_copy_overlay(recovery *r) {
    arec *a = arec_find(r->st, r->name, r->nlen);
    r->upto = UINT64_MAX;
    if (a == NULL) {
        return 0;
    }
    if (a->next_seq) {
        r->upto = a->next_seq - 1;
    }
    int rc = 0;
    if (a->snap) {
        const uint8_t *v = a->snap->data + a->snap->klen;
        r->have_snap = true;
        r->snap_seq = get_be64(v);
        rc = rec_push(&r->snap, r->snap_seq, v + 8, a->snap->vlen - 8);
    }
    for (entry *e = a->jhead; e && rc == 0; e = e->hnext) {
        rc = rec_push(&r->pending, get_be64(e->data + r->nlen + 1), e->data + e->klen, e->vlen);
    }
    return rc;
}

/* Reads the snapshot from LMDB if the overlay had none, and fixes upto. */
static int recover_read_head(recovery *r) {
    MDB_txn *txn;
    int rc = read_begin(r->st, &txn);
    if (rc != 0) {
        return rc;
    }
    if (r->upto == UINT64_MAX) {
        rc = journal_last_seq(r->st, txn, r->name, r->nlen, &r->upto);
    }
    if (rc == 0 && !r->have_snap) {
        uint8_t k[TR_NAME_MAX + 1];
        memcpy(k, r->name, r->nlen);
        k[r->nlen] = 0;
        MDB_val mk = {r->nlen + 1, k}, mv;
        int g = mdb_get(txn, r->st->dbi_snap, &mk, &mv);
        if (g == 0 && mv.mv_size < 8) {
            rc = TR_ECORRUPT;
        } else if (g == 0) {
            r->have_snap = true;
            r->snap_seq = get_be64(mv.mv_data);
            rc = rec_push(&r->snap, r->snap_seq, (uint8_t *)mv.mv_data + 8, mv.mv_size - 8);
        } else if (g != MDB_NOTFOUND) {
            rc = map_err(g);
        }
    }
    read_end(r->st, txn);
    return rc;
}

/* Copies up to RECOVER_CHUNK_BYTES of committed events with seq > after into out. */
static int recover_read_chunk(recovery *r, uint64_t after, rec_buf *out, bool *more) {
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, r->name, r->nlen);
    k[r->nlen] = 0;
    put_be64(k + r->nlen + 1, after + 1);
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = read_begin(r->st, &txn);
    if (rc != 0) {
        return rc;
    }
    int m = mdb_cursor_open(txn, r->st->dbi_journal, &c);
    bool have_cursor = m == 0;
    MDB_val mk = {r->nlen + 9, k}, mv;
    if (have_cursor) {
        m = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
    }
    out->len = 0;
    *more = false;
    while (m == 0 && rc == 0) {
        if (mk.mv_size != r->nlen + 9 || memcmp(mk.mv_data, k, r->nlen + 1) != 0) {
            break; /* past this actor's events */
        }
        uint64_t seq = get_be64((const uint8_t *)mk.mv_data + r->nlen + 1);
        if (seq > r->upto) {
            break;
        }
        if (out->len >= RECOVER_CHUNK_BYTES) {
            *more = true;
            break;
        }
        rc = rec_push(out, seq, mv.mv_data, mv.mv_size);
        m = mdb_cursor_get(c, &mk, &mv, MDB_NEXT);
    }
    if (rc == 0 && m != 0 && m != MDB_NOTFOUND) {
        rc = map_err(m);
    }
    if (have_cursor) {
        mdb_cursor_close(c); /* read-only txns do not free their cursors */
    }
    read_end(r->st, txn);
    return rc;
}

static int recover_run(recovery *r, tr_snapshot_cb on_snapshot, tr_event_cb on_event, void *ud) {
    uint64_t after = 0;
    int rc = 0;
    if (r->have_snap) {
        const rec_item *it = (const rec_item *)r->snap.p;
        after = it->seq;
        rc = on_snapshot ? on_snapshot(ud, it->seq, it->data, it->len) : 0;
    }
    rec_buf chunk = {0};
    bool more = true;
    while (rc == 0 && more) {
        rc = recover_read_chunk(r, after, &chunk, &more);
        if (rc == 0) {
            rc = rec_replay(&chunk, on_event, ud, &after, r->upto);
        }
    }
    free(chunk.p);
    if (rc == 0) {
        /* Events committed meanwhile are in both; seq order skips the duplicates. */
        rc = rec_replay(&r->pending, on_event, ud, &after, r->upto);
    }
    return rc;
}

int tr__store_recover(tr_store *st, const char *actor, tr_snapshot_cb on_snapshot,
                      tr_event_cb on_event, void *ud) {
    assert(st != NULL);
    recovery r = {.st = st, .name = actor, .nlen = name_len(actor)};
    if (r.nlen == 0) {
        return TR_EINVAL;
    }
    /* Overlay first, LMDB second: a commit in between only duplicates, never hides. */
    mu_lock(st);
    int rc = recover_copy_overlay(&r);
    mu_unlock(st);
    if (rc == 0) {
        rc = recover_read_head(&r);
    }
    if (rc == 0) {
        rc = recover_run(&r, on_snapshot, on_event, ud);
    }
    free(r.snap.p);
    free(r.pending.p);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* The commit                                                                             */

/* Doubles the map. No txn of this process may be alive meanwhile: readers hold map_lock
 * shared, and the only write txn is the caller's, already aborted. */
static int grow_map(tr_store *st) {
    uint64_t want = st->map_size * 2;
    pthread_rwlock_wrlock(&st->map_lock);
    int rc = mdb_env_set_mapsize(st->env, want);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(st->env, &info);
        st->map_size = info.me_mapsize;
    }
    pthread_rwlock_unlock(&st->map_lock);
    if (rc == 0) {
        mu_lock(st);
        st->stats.map_grows++;
        mu_unlock(st);
    }
    return map_err(rc);
}

/* A write txn's cursors, one per database, opened on first use. A cursor left on the leaf
 * page it last wrote lets mdb_cursor_put skip the search from the root when the next key
 * falls inside that page or past the end of the database (mdb_cursor_set's shortcut), which
 * is the case of every journal append after the first (an actor's seq keys grow); mdb_put
 * searches from the root each time. The writes and their order are the same either way, so
 * LMDB builds the same tree. Cursors of a write txn are tracked by LMDB: the mdb_del below
 * keeps them valid. */
typedef struct cursors {
    MDB_cursor *kv;
    MDB_cursor *journal;
    MDB_cursor *snap;
} cursors;

static void cursors_close(cursors *cs) {
    MDB_cursor *all[] = {cs->kv, cs->journal, cs->snap};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i] != NULL) {
            mdb_cursor_close(all[i]);
        }
    }
    memset(cs, 0, sizeof *cs);
}

/* Deletes e's actor's journal events with seq <= upto, oldest first, in one cursor walk from
 * the actor's first key; at most *budget of them (e->more is set when it stops short). */
static int trunc_entry(MDB_cursor *c, entry *e, uint32_t *budget) {
    size_t plen = e->klen - 8; /* "<actor>\0" */
    uint64_t upto = get_be64(e->data + plen);
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, e->data, plen);
    put_be64(k + plen, 0);
    MDB_val mk = {plen + 8, k}, mv;
    e->more = false;
    int rc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
    while (rc == 0 && mk.mv_size == plen + 8 && memcmp(mk.mv_data, e->data, plen) == 0 &&
           get_be64((const uint8_t *)mk.mv_data + plen) <= upto) {
        if (*budget == 0) {
            e->more = true;
            return 0;
        }
        rc = mdb_cursor_del(c, 0);
        (*budget)--;
        /* After a delete the cursor already stands on the next key: MDB_NEXT reads it. */
        rc = rc ? rc : mdb_cursor_get(c, &mk, &mv, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_entry(tr_store *st, MDB_txn *txn, cursors *cs, entry *e, uint32_t *budget) {
    MDB_val k = {e->klen, (void *)e->data};
    MDB_val v = {e->vlen, (void *)(e->data + e->klen)};
    MDB_cursor **c;
    MDB_dbi dbi;
    int rc;
    switch (e->op) {
    case OP_PUT:
        c = &cs->kv;
        dbi = st->dbi_kv;
        break;
    case OP_DEL: rc = mdb_del(txn, st->dbi_kv, &k, NULL); return rc == MDB_NOTFOUND ? 0 : rc;
    case OP_APPEND:
    case OP_TRUNC:
        c = &cs->journal;
        dbi = st->dbi_journal;
        break;
    default:
        assert(e->op == OP_SNAP);
        c = &cs->snap;
        dbi = st->dbi_snap;
        break;
    }
    rc = *c != NULL ? 0 : mdb_cursor_open(txn, dbi, c);
    if (rc == 0 && e->op == OP_TRUNC) {
        return trunc_entry(*c, e, budget);
    }
    if (rc == 0 && e->op == OP_APPEND) {
        /* An actor's journal keys grow, and with one journaling actor (the common case) so
         * do the database's: MDB_APPEND then adds at the end without a search, and a full
         * last page is not split in half but continued on a new one. A key that is not past
         * the last one is refused with MDB_KEYEXIST before anything changes (lmdb.h), and
         * goes in the ordinary way. */
        rc = mdb_cursor_put(*c, &k, &v, MDB_APPEND);
        if (rc != MDB_KEYEXIST) {
            return rc;
        }
        rc = 0;
    }
    return rc != 0 ? rc : mdb_cursor_put(*c, &k, &v, 0);
}

typedef int (*txn_fn)(tr_store *st, MDB_txn *txn, void *arg);

/* Runs fn in one write txn and commits it; on MDB_MAP_FULL grows the map and retries. */
static int write_txn(tr_store *st, txn_fn fn, void *arg) {
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc != 0) {
            return map_err(rc);
        }
        rc = fn(st, txn, arg);
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (rc != MDB_MAP_FULL) {
            return map_err(rc);
        }
        rc = grow_map(st);
        if (rc != 0) {
            return rc;
        }
    }
}

typedef struct span {
    entry *from;
    entry *to;        /* exclusive */
    uint64_t deleted; /* journal events deleted by truncations in the last attempt */
} span;

static int write_span(tr_store *st, MDB_txn *txn, void *arg) {
    span *s = arg;
    cursors cs = {0};
    int rc = 0;
    uint32_t budget = TRUNC_STEP; /* per txn, so a retry after map growth starts afresh */
    for (entry *e = s->from; e != s->to && rc == 0; e = e->next) {
        if (!e->dead) {
            rc = put_entry(st, txn, &cs, e, &budget);
        }
    }
    s->deleted = TRUNC_STEP - budget;
    cursors_close(&cs); /* before the caller commits or aborts the txn */
    return rc;
}

static int write_batch(tr_store *st, batch *b) {
    span s = {b->head, NULL, 0};
    while (s.from) {
        uint64_t bytes = 0;
        s.to = s.from;
        while (s.to && (bytes == 0 || bytes + s.to->klen + s.to->vlen <= TXN_BYTES_MAX)) {
            bytes += s.to->klen + s.to->vlen;
            s.to = s.to->next;
        }
        int rc = write_txn(st, write_span, &s);
        if (rc != 0) {
            return rc;
        }
        b->deleted += s.deleted;
        s.from = s.to;
    }
    return 0;
}

/* After the commit: the batch's entries leave the overlay (LMDB now has them, or the
 * store failed). Takes mu per chunk of entries, so that a large batch does not hold up
 * readers and writers for long; an entry not released yet still shows a committed value. */
/* A truncation that ran out of budget (e->more) goes on in the next commit: a copy is queued
 * in the pending batch, unless a newer truncation of the actor replaced it. If it cannot be
 * queued (a failed store, a full pending batch, no memory) the rest waits for the actor's
 * next truncation, which walks from the journal's start again. Under mu. */
static void trunc_requeue(tr_store *st, arec *a, const entry *e, bool *ready) {
    entry *n =
        entry_new(st, OP_TRUNC, a->name, a->nlen, e->data + a->nlen + 1, 8, NULL, 0, NULL, 0);
    bool r = false;
    if (n != NULL && queue_trunc(st, a, n, &r) != 0) {
        entry_free(st, n);
    }
    *ready = *ready || r;
}

/* After the commit (status rc): the batch's entries leave the overlay (LMDB now has them, or
 * the store failed). Takes mu per chunk of entries, so that a large batch does not hold up
 * readers and writers for long; an entry not released yet still shows a committed value.
 * With `requeue`, unfinished truncations are queued again; returns whether that began a
 * pending batch (the caller then calls the ready hook, without mu). */
static bool batch_release(tr_store *st, batch *b, int rc, bool requeue) {
    entry *e = b->head;
    bool ready = false;
    while (e) {
        mu_lock(st);
        for (int i = 0; e && i < RELEASE_CHUNK; i++, e = e->next) {
            arec *a = e->actor;
            if (e->op == OP_TRUNC) {
                if (a->trunc == e) {
                    a->trunc = NULL;
                    if (e->more && rc == 0 && requeue) {
                        trunc_requeue(st, a, e, &ready);
                    }
                    arec_free_if_idle(st, a);
                }
            } else if (e->op == OP_PUT || e->op == OP_DEL) {
                if (!e->dead) {
                    overlay_release_kv(st, e);
                }
            } else if (e->op == OP_APPEND) {
                assert(a->jhead == e);
                a->jhead = e->hnext;
                if (a->jhead == NULL) {
                    a->jtail = NULL;
                }
                arec_free_if_idle(st, a);
            } else if (a->snap == e) {
                a->snap = NULL;
                arec_free_if_idle(st, a);
            }
        }
        mu_unlock(st);
    }
    return ready;
}

#ifndef NDEBUG
/* Debug builds: the overlay's invariants, checked under mu after every commit.
 *   1. kv.count is the number of entries in the kv table, all live (not superseded) and
 *      from the pending batch or an older one;
 *   2. every actor's pending journal is in strictly increasing seq order below next_seq,
 *      and its pending snapshot covers no event past next_seq - 1. */
static void store_check(tr_store *st) {
    size_t n = 0;
    for (size_t i = 0; i < st->kv.cap; i++) {
        for (entry *e = st->kv.slots[i]; e; e = e->hnext, n++) {
            assert(!e->dead && e->gen <= st->pending.gen);
            assert(e->op == OP_PUT || e->op == OP_DEL);
        }
    }
    assert(n == st->kv.count);
    for (size_t i = 0; i < st->actors.cap; i++) {
        for (arec *a = st->actors.slots[i]; a; a = a->hnext) {
            uint64_t prev = 0;
            for (entry *e = a->jhead; e; e = e->hnext) {
                uint64_t seq = get_be64(e->data + a->nlen + 1);
                assert(seq > prev && seq < a->next_seq);
                prev = seq;
            }
            assert(a->snap == NULL || get_be64(a->snap->data + a->snap->klen) < a->next_seq);
            assert(a->trunc == NULL || get_be64(a->trunc->data + a->nlen + 1) <= a->trunc_seq);
        }
    }
}
#else
static void store_check(tr_store *st) {
    (void)st;
}
#endif

static void free_entries(tr_store *st, entry *e) {
    while (e) {
        entry *n = e->next;
        entry_free(st, e);
        e = n;
    }
}

static void fire_waiters(tr_store *st, waiter *w, int status) {
    while (w) {
        waiter *n = w->next;
        if (w->msg) {
            if (st->hooks.release) {
                st->hooks.release(st->hooks.ud, w->msg, status);
            }
        } else if (st->hooks.durable) {
            st->hooks.durable(st->hooks.ud, w->who, w->token, status);
        }
        waiter_free(st, w);
        w = n;
    }
}

/* A batch with writes was committed (held back or not): the stats. Under mu. */
static void count_commit(tr_store *st, const batch *b) {
    if (b->count) {
        st->stats.commits++;
        st->stats.writes += b->count - b->truncs;
        st->stats.truncations += b->truncs;
        st->stats.truncated += b->deleted;
        if (b->count - b->truncs > st->stats.max_writes_per_commit) {
            st->stats.max_writes_per_commit = b->count - b->truncs;
        }
    }
}

/* Moves a committed batch's entries to the end of st->deferred. */
static void defer_batch(tr_store *st, batch *b) {
    if (b->head == NULL) {
        return;
    }
    if (st->deferred.tail) {
        st->deferred.tail->next = b->head;
    } else {
        st->deferred.head = b->head;
    }
    st->deferred.tail = b->tail;
    st->deferred.count += b->count;
    st->deferred.bytes += b->bytes;
}

/* Held-back batches rewrite the same keys over and over (a replica's cells): within the
 * batches written together only the newest version of a kv key matters, so the older ones
 * are marked dead (not written; they are no longer in the overlay, which holds the newest
 * version of each key). Every entry here is committed, so nothing a crash could drop stands
 * in for them. Without memory for the scratch set, everything is written, as before. */
/* Held-back batches also append events and then truncate them (the AP register snapshots
 * and truncates every 512 events): an append that a later truncation in the batches written
 * together deletes is marked dead, not written and deleted in the same txn. Its truncation
 * follows it in batch order (it was issued after the snapshot covering it), all of them are
 * committed, and the txn is all or nothing, so LMDB ends the same. Runs single-threaded (a
 * defer_bytes store), so the actor records' scratch field needs no lock. */
static void mark_truncated(batch *d) {
    bool any = false;
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_TRUNC && !e->dead) {
            uint64_t upto = get_be64(e->data + e->actor->nlen + 1);
            if (upto > e->actor->flush_upto) {
                e->actor->flush_upto = upto;
            }
            any = true;
        }
    }
    if (!any) {
        return;
    }
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_APPEND && get_be64(e->data + e->actor->nlen + 1) <= e->actor->flush_upto) {
            e->dead = true;
        }
    }
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_TRUNC) {
            e->actor->flush_upto = 0;
        }
    }
}

static void mark_superseded(batch *d) {
    size_t n = 0, cap = 16;
    for (entry *e = d->head; e; e = e->next) {
        n += e->op == OP_PUT || e->op == OP_DEL;
    }
    while (cap < 2 * n) {
        cap *= 2;
    }
    entry **all = malloc(n * sizeof *all), **set = calloc(cap, sizeof *set);
    if (n == 0 || all == NULL || set == NULL) {
        free(all);
        free(set);
        return;
    }
    size_t k = 0;
    for (entry *e = d->head; e; e = e->next) {
        if (e->op == OP_PUT || e->op == OP_DEL) {
            all[k++] = e;
        }
    }
    while (k-- > 0) { /* newest first */
        entry *e = all[k];
        size_t i = e->hash & (cap - 1);
        for (; set[i]; i = (i + 1) & (cap - 1)) {
            if (set[i]->hash == e->hash && set[i]->klen == e->klen &&
                memcmp(set[i]->data, e->data, e->klen) == 0) {
                e->dead = true; /* a newer version follows in these batches */
                break;
            }
        }
        if (!set[i]) {
            set[i] = e;
        }
    }
    free(all);
    free(set);
}

/* requeue: whether unfinished truncations go on (not when the pending batch is about to be
 * dropped: they would only begin a batch, and call the ready hook, for nothing). */
static int flush_deferred(tr_store *st, bool requeue) {
    batch d = st->deferred;
    if (d.head == NULL) {
        return 0;
    }
    memset(&st->deferred, 0, sizeof st->deferred);
    mark_superseded(&d);
    mark_truncated(&d);
    mu_lock(st);
    int rc = st->failed;
    mu_unlock(st);
    /* Older batches first: a key written in two of them ends with the newer value. */
    rc = rc ? rc : write_batch(st, &d);
    bool ready = batch_release(st, &d, rc, requeue);
    mu_lock(st);
    table_shrink_if_empty(&st->kv);
    store_check(st);
    if (rc != 0 && st->failed == 0) {
        st->failed = rc;
    }
    st->stats.flushes++;
    st->stats.truncated += d.deleted;
    mu_unlock(st);
    free_entries(st, d.head);
    call_ready(st, ready);
    return rc;
}

int tr__store_flush(tr_store *st) {
    assert(st != NULL);
    return flush_deferred(st, true);
}

/* defer_bytes stores: the batch is durable from now on; LMDB gets it at the next flush. */
static int commit_deferred(tr_store *st, batch *b) {
    defer_batch(st, b);
    mu_lock(st);
    st->committing = false;
    count_commit(st, b);
    mu_unlock(st);
    fire_waiters(st, b->whead, 0);
    return st->deferred.bytes >= st->defer_bytes ? tr__store_flush(st) : 0;
}

int tr__store_commit(tr_store *st, uint64_t *writes_out) {
    assert(st != NULL);
    mu_lock(st);
    assert(!st->committing && "tr__store_commit must not run concurrently with itself");
    batch b = st->pending;
    int failed = st->failed;
    memset(&st->pending, 0, sizeof(st->pending));
    st->pending.gen = b.gen + 1;
    st->committing = !batch_empty(&b);
    mu_unlock(st);
    if (writes_out) {
        *writes_out = b.count - b.truncs; /* a truncation changes nothing an actor can read */
    }
    if (batch_empty(&b)) {
        return 0;
    }
    if (st->mid_commit) {
        st->mid_commit(st, st->mid_commit_ud);
    }
    if (st->defer_bytes && !failed) {
        return commit_deferred(st, &b);
    }
    int rc = failed ? failed : (b.count ? write_batch(st, &b) : 0);
    bool ready = batch_release(st, &b, rc, true);
    mu_lock(st);
    table_shrink_if_empty(&st->kv);
    store_check(st);
    st->committing = false;
    if (rc != 0 && st->failed == 0) {
        st->failed = rc;
    }
    count_commit(st, &b);
    mu_unlock(st);
    fire_waiters(st, b.whead, rc);
    free_entries(st, b.head);
    call_ready(st, ready);
    return rc;
}

bool tr__store_has_pending(tr_store *st) {
    mu_lock(st);
    bool r = !batch_empty(&st->pending);
    mu_unlock(st);
    return r;
}

static void free_actor_table(tr_store *st) {
    for (size_t i = 0; i < st->actors.cap; i++) {
        arec *a = st->actors.slots[i];
        while (a) {
            arec *n = a->hnext;
            free(a);
            a = n;
        }
        st->actors.slots[i] = NULL;
    }
    st->actors.count = 0;
}

/* Forgets everything not committed. Notifications simply vanish, like the actors that
 * asked. Held replies go back to the node with TR_ECLOSED (drop_pending: the node lives
 * on), or are freed here with tr_msg_free (close: the node may be gone already). */
static void drop_all_pending(tr_store *st, bool closing) {
    flush_deferred(st, false); /* committed: kept (a failure is recorded in st->failed) */
    mu_lock(st);
    assert(!st->committing);
    batch b = st->pending;
    memset(&st->pending, 0, sizeof(st->pending));
    st->pending.gen = b.gen + 1;
    memset(st->kv.slots, 0, st->kv.cap * sizeof(void *));
    st->kv.count = 0;
    free_actor_table(st); /* next_seq is re-read from LMDB: pending appends are gone */
    mu_unlock(st);
    free_entries(st, b.head);
    for (waiter *w = b.whead; w;) {
        waiter *n = w->next;
        if (w->msg && closing) {
            tr_msg_free(w->msg);
        } else if (w->msg && st->hooks.release) {
            st->hooks.release(st->hooks.ud, w->msg, TR_ECLOSED);
        }
        waiter_free(st, w);
        w = n;
    }
}

void tr__store_drop_pending(tr_store *st) {
    drop_all_pending(st, false);
}

void tr__store_bind(tr_store *st, const tr_store_hooks *hooks) {
    mu_lock(st);
    st->hooks = *hooks;
    mu_unlock(st);
}

void tr__store_test_mid_commit(tr_store *st, void (*fn)(tr_store *st, void *ud), void *ud) {
    st->mid_commit = fn;
    st->mid_commit_ud = ud;
}

void tr__store_stats_get(tr_store *st, tr_store_stats *out) {
    mu_lock(st);
    *out = st->stats;
    out->overlay_keys = st->kv.count;
    out->overlay_buckets = st->kv.cap;
    out->actor_records = st->actors.count;
    mu_unlock(st);
}

/* ------------------------------------------------------------------------------------ */
/* Opening                                                                                */

/* Looks at the directory before LMDB does. *fresh: nothing worth keeping is there (absent,
 * empty, or only LMDB's lock file or an empty data file left by an interrupted init). */
static int inspect_dir(const char *dir, bool *fresh, bool *created) {
    struct stat sb;
    *created = false;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) {
            return map_err(errno);
        }
        if (mkdir(dir, 0700) != 0) {
            return map_err(errno);
        }
        *fresh = *created = true;
        return 0;
    }
    if (!S_ISDIR(sb.st_mode)) {
        return TR_EFOREIGN;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return map_err(errno);
    }
    bool foreign = false, data = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "lock.mdb") == 0) {
            continue;
        }
        if (strcmp(n, "data.mdb") == 0) {
            data = true;
        } else {
            foreign = true;
        }
    }
    closedir(d);
    if (foreign) {
        return TR_EFOREIGN;
    }
    *fresh = !data;
    if (data) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = dfd < 0 ? errno : (fstatat(dfd, "data.mdb", &sb, 0) != 0 ? errno : 0);
        if (dfd >= 0) {
            close(dfd);
        }
        if (rc != 0) {
            return map_err(rc);
        }
        if (!S_ISREG(sb.st_mode)) {
            return TR_EFOREIGN;
        }
        *fresh = sb.st_size == 0;
    }
    return 0;
}

/* One opener per directory (also across processes): LMDB itself would let a second
 * process write, and the store's caches (journal seqs) assume it is the only writer. */
static int lock_dir(const char *dir, int *fd_out) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return map_err(errno);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? TR_EBUSY : map_err(e);
    }
    *fd_out = fd;
    return 0;
}

static int meta_get(MDB_txn *txn, MDB_dbi dbi, const char *k, MDB_val *v) {
    MDB_val key = {strlen(k), (void *)k};
    return mdb_get(txn, dbi, &key, v);
}

/* Checks an existing store's meta in a read txn. */
static int check_meta(MDB_txn *txn, bool *empty) {
    MDB_dbi main_dbi, meta;
    MDB_stat ms;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0) {
        rc = mdb_stat(txn, main_dbi, &ms);
    }
    if (rc != 0) {
        return map_open_err(rc);
    }
    *empty = ms.ms_entries == 0; /* a valid, empty LMDB file: an interrupted init */
    if (*empty) {
        return 0;
    }
    rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
        return TR_EFOREIGN;
    }
    MDB_val v;
    rc = rc ? rc : meta_get(txn, meta, "magic", &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != strlen(STORE_MAGIC) ||
                                           memcmp(v.mv_data, STORE_MAGIC, v.mv_size) != 0))) {
        return TR_EFOREIGN;
    }
    rc = rc ? rc : meta_get(txn, meta, "version", &v);
    if (rc != 0 || v.mv_size != 8) {
        return rc == 0 || rc == MDB_NOTFOUND ? TR_ECORRUPT : map_open_err(rc);
    }
    uint64_t version = get_be64(v.mv_data);
    if (version == 0) {
        return TR_ECORRUPT;
    }
    return version > STORE_FORMAT ? TR_EVERSION : 0;
}

/* The file must hold every page its meta page claims, or reading one would SIGBUS. */
static int check_size(MDB_env *env, const char *dir) {
    MDB_envinfo info;
    MDB_stat ms;
    int rc = mdb_env_info(env, &info);
    if (rc == 0) {
        rc = mdb_env_stat(env, &ms);
    }
    if (rc != 0) {
        return map_open_err(rc);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat sb;
    rc = dfd < 0 ? errno : (fstatat(dfd, "data.mdb", &sb, 0) != 0 ? errno : 0);
    if (dfd >= 0) {
        close(dfd);
    }
    if (rc != 0) {
        return map_err(rc);
    }
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    return (uint64_t)sb.st_size < need ? TR_ECORRUPT : 0;
}

/* Validates an existing data file read-only and without a lock file (MDB_NOLOCK), so
 * that a foreign or damaged directory is left exactly as it was. *empty: see check_meta. */
static int validate_existing(const char *dir, bool *empty) {
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc != 0) {
        return map_err(rc);
    }
    mdb_env_set_maxdbs(env, 8);
    rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0600);
    if (rc != 0) {
        mdb_env_close(env);
        return map_open_err(rc);
    }
    int err = check_size(env, dir);
    MDB_txn *txn = NULL;
    if (err == 0) {
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
        err = map_open_err(rc);
    }
    if (err == 0) {
        err = check_meta(txn, empty);
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return err;
}

static int open_dbis(tr_store *st, MDB_txn *txn, unsigned flags) {
    int rc = mdb_dbi_open(txn, "meta", flags, &st->dbi_meta);
    rc = rc ? rc : mdb_dbi_open(txn, "kv", flags, &st->dbi_kv);
    rc = rc ? rc : mdb_dbi_open(txn, "journal", flags, &st->dbi_journal);
    rc = rc ? rc : mdb_dbi_open(txn, "snapshot", flags, &st->dbi_snap);
    return rc;
}

static int init_txn(tr_store *st, MDB_txn *txn, void *arg) {
    int rc = open_dbis(st, txn, MDB_CREATE);
    uint8_t ver[8];
    put_be64(ver, STORE_FORMAT);
    MDB_val mk = {5, "magic"}, mv = {strlen(STORE_MAGIC), STORE_MAGIC};
    MDB_val vk = {7, "version"}, vv = {8, ver};
    rc = rc ? rc : mdb_put(txn, st->dbi_meta, &vk, &vv, 0);
    rc = rc ? rc : mdb_put(txn, st->dbi_meta, &mk, &mv, 0); /* all or nothing: one txn */
    return rc;
}

static int reopen_txn(tr_store *st, MDB_txn *txn, void *arg) {
    int rc = open_dbis(st, txn, 0);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

static void sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void sync_parent(const char *dir) {
    char buf[4096];
    size_t n = strnlen(dir, sizeof(buf));
    if (n >= sizeof(buf)) {
        return;
    }
    memcpy(buf, dir, n + 1);
    char *slash = strrchr(buf, '/');
    if (slash == NULL) {
        sync_dir(".");
        return;
    }
    slash[slash == buf ? 1 : 0] = 0;
    sync_dir(buf);
}

static int env_open(tr_store *st, const char *dir, bool fresh) {
    int rc = mdb_env_create(&st->env);
    if (rc != 0) {
        st->env = NULL;
        return map_err(rc);
    }
    mdb_env_set_maxdbs(st->env, 8);
    mdb_env_set_maxreaders(st->env, 512);
    mdb_env_set_mapsize(st->env, st->map_size);
    /* no_sync is for the simulator's tmpfs stores, whose crashes are simulated: a crash is
     * modelled by tr__store_drop_pending (uncommitted writes lost, committed ones kept), never
     * by the OS losing pages, so durability against a real power cut buys nothing there.
     * MDB_WRITEMAP writes pages in place through the map instead of one pwrite per dirty
     * page per commit (about 50k syscalls in a default `troupe sim` run), and
     * MDB_NOMETASYNC says explicitly that the meta page is not flushed either. Committed data
     * is still visible to every later txn of this process, which is all the sim reads. */
    unsigned flags = MDB_NOTLS;
    if (st->no_sync) {
        flags |= MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP;
    }
    rc = mdb_env_open(st->env, dir, flags, 0600);
    if (rc != 0) {
        return fresh ? map_err(rc) : map_open_err(rc);
    }
    int dead;
    mdb_reader_check(st->env, &dead); /* slots left by a crashed process */
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->map_size = info.me_mapsize; /* an existing file may be larger than asked */
    return write_txn(st, fresh ? init_txn : reopen_txn, NULL);
}

static void store_free(tr_store *st) {
    if (st->env) {
        mdb_env_close(st->env);
    }
    if (st->dir_fd >= 0) {
        close(st->dir_fd);
    }
    free(st->kv.slots);
    free(st->actors.slots);
    spares_free(&st->spare_entries);
    spares_free(&st->spare_waiters);
    pthread_rwlock_destroy(&st->map_lock);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static tr_store *store_alloc(const tr_store_opts *opts) {
    tr_store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->dir_fd = -1;
    st->no_sync = opts->no_sync;
    st->map_size = opts->map_size ? opts->map_size : MAP_SIZE_DEFAULT;
    if (st->map_size < MAP_SIZE_MIN) {
        st->map_size = MAP_SIZE_MIN;
    }
    st->pending_max = opts->pending_max ? opts->pending_max : PENDING_MAX_DEFAULT;
    st->defer_bytes = opts->defer_bytes;
    st->single = opts->defer_bytes != 0;
#ifndef NDEBUG
    st->owner = pthread_self();
#endif
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->map_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&st->mu, NULL);
    if (table_init(&st->kv) != 0 || table_init(&st->actors) != 0) {
        store_free(st);
        return NULL;
    }
    return st;
}

int tr__store_open(const tr_store_opts *opts, tr_store **out) {
    if (opts == NULL || opts->dir == NULL || opts->dir[0] == 0 || out == NULL) {
        return TR_EINVAL;
    }
    *out = NULL;
    bool fresh = false, created = false, empty = false;
    int rc = inspect_dir(opts->dir, &fresh, &created);
    if (rc != 0) {
        return rc;
    }
    tr_store *st = store_alloc(opts);
    if (st == NULL) {
        return TR_ENOMEM;
    }
    rc = lock_dir(opts->dir, &st->dir_fd);
    if (rc == 0 && !fresh) {
        rc = validate_existing(opts->dir, &empty);
        fresh = empty;
    }
    if (rc == 0) {
        rc = env_open(st, opts->dir, fresh);
    }
    if (rc != 0) {
        store_free(st);
        return rc;
    }
    if (fresh && !st->no_sync) {
        fsync(st->dir_fd); /* the new files' names are durable too */
        if (created) {
            sync_parent(opts->dir);
        }
    }
    *out = st;
    return 0;
}

void tr__store_close(tr_store *st) {
    if (st == NULL) {
        return;
    }
    drop_all_pending(st, true);
    store_free(st);
}
