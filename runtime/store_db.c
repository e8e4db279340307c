/*
 * store_db.c — the store's LMDB layer (design: store_db.h).
 */
#include "runtime/store_db.h"

#include <errno.h>
#include <string.h>

#include "runtime/store_internal.h"

/* One LMDB txn writes at most this many bytes of entries: LMDB caps the dirty pages of a
 * txn (MDB_TXN_FULL, about 512 MiB of pages), so a large batch is written as several txns;
 * its waiters are told only after the last one. */
#define TXN_BYTES_MAX (64ull << 20)
/* A journal truncation deletes at most this many events per write txn; the rest of it is
 * queued again and goes on in the next commit (tr__store_batch_release), so that truncating
 * a long journal does not make one commit (and every waiter of it) arbitrarily slow. */
#define TRUNC_STEP 16384u

/* ---- Errors -------------------------------------------------------------------------- */

int tr__store_map_err(int rc) {
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

int tr__store_map_open_err(int rc) {
    int err = tr__store_map_err(rc);
    return (err == TR_EINVAL || err == TR_ENOENT) ? TR_ECORRUPT : err;
}

/* ---- Reads --------------------------------------------------------------------------- */

int tr__store_read_begin(tr_store *st, MDB_txn **txn) {
    pthread_rwlock_rdlock(&st->map_lock);
    MDB_txn *t = atomic_exchange_explicit(&st->read_spare, NULL, memory_order_acquire);
    int rc = 0;
    if (t != NULL && mdb_txn_renew(t) != 0) {
        mdb_txn_abort(t); /* not renewed: a new one below */
        t = NULL;
    }
    if (t == NULL) {
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t);
    }
    if (rc != 0) {
        pthread_rwlock_unlock(&st->map_lock);
        return tr__store_map_err(rc);
    }
    *txn = t;
    return 0;
}

void tr__store_read_end(tr_store *st, MDB_txn *txn) {
    mdb_txn_reset(txn); /* MDB_NOTLS: another thread may renew it */
    /* acq_rel: the txn it replaces may come from another thread, and is freed here */
    MDB_txn *old = atomic_exchange_explicit(&st->read_spare, txn, memory_order_acq_rel);
    if (old != NULL) {
        mdb_txn_abort(old);
    }
    pthread_rwlock_unlock(&st->map_lock);
}

void tr__store_read_spare_drop(tr_store *st) {
    MDB_txn *t = atomic_exchange_explicit(&st->read_spare, NULL, memory_order_acquire);
    if (t != NULL) {
        mdb_txn_abort(t);
    }
}

int tr__store_copy_out(void *buf, size_t cap, const void *src, size_t n, size_t *len) {
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

int tr__store_db_kv_get(tr_store *st, const uint8_t *k, size_t fk, void *buf, size_t cap,
                        size_t *len) {
    MDB_txn *txn;
    int rc = tr__store_read_begin(st, &txn);
    if (rc != 0) {
        return rc;
    }
    MDB_val mk = {fk, (void *)k}, mv;
    rc = mdb_get(txn, st->dbi_kv, &mk, &mv);
    rc =
        rc == 0 ? tr__store_copy_out(buf, cap, mv.mv_data, mv.mv_size, len) : tr__store_map_err(rc);
    tr__store_read_end(st, txn);
    return rc;
}

int tr__store_db_journal_last(tr_store *st, MDB_txn *txn, const char *name, size_t nlen,
                              uint64_t *out) {
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, name, nlen);
    k[nlen] = 0;
    store_put_be64(k + nlen + 1, UINT64_MAX);
    MDB_val key = {nlen + 9, k}, val;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, st->dbi_journal, &c);
    if (rc != 0) {
        return tr__store_map_err(rc);
    }
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(c, &key, &val, MDB_LAST);
    } else if (rc == 0) {
        rc = mdb_cursor_get(c, &key, &val, MDB_PREV);
    }
    *out = 0;
    if (rc == 0 && key.mv_size == nlen + 9 && memcmp(key.mv_data, k, nlen + 1) == 0) {
        *out = store_get_be64((const uint8_t *)key.mv_data + nlen + 1);
    }
    mdb_cursor_close(c);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : tr__store_map_err(rc);
}

int tr__store_db_snap_seq(tr_store *st, MDB_txn *txn, const char *name, size_t nlen, bool *have,
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
        *seq = store_get_be64(mv.mv_data);
    }
    return tr__store_map_err(g);
}

int tr__store_db_last_seq(tr_store *st, const char *name, size_t nlen, uint64_t *out) {
    MDB_txn *txn;
    int rc = tr__store_read_begin(st, &txn);
    if (rc == 0) {
        bool have;
        uint64_t snap;
        rc = tr__store_db_journal_last(st, txn, name, nlen, out);
        rc = rc ? rc : tr__store_db_snap_seq(st, txn, name, nlen, &have, &snap);
        if (rc == 0 && snap > *out) {
            *out = snap;
        }
        tr__store_read_end(st, txn);
    }
    return rc;
}

int tr__store_db_read_snap_seq(tr_store *st, const char *name, size_t nlen, bool *have,
                               uint64_t *seq) {
    MDB_txn *txn;
    int rc = tr__store_read_begin(st, &txn);
    if (rc == 0) {
        rc = tr__store_db_snap_seq(st, txn, name, nlen, have, seq);
        tr__store_read_end(st, txn);
    }
    return rc;
}

/* Tests and tools (store.h). */
int tr__store_journal_range(tr_store *st, const char *actor, uint64_t *first, uint64_t *last,
                            uint64_t *count) {
    TR_ASSERT(st != NULL && first != NULL && last != NULL && count != NULL);
    size_t nlen = store_name_len(actor);
    int rc = nlen == 0 ? TR_EINVAL : tr__store_flush(st);
    MDB_txn *txn;
    rc = rc ? rc : tr__store_read_begin(st, &txn);
    if (rc != 0) {
        return rc;
    }
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, actor, nlen);
    k[nlen] = 0;
    store_put_be64(k + nlen + 1, 0);
    MDB_val mk = {nlen + 9, k}, mv;
    MDB_cursor *c;
    *first = *last = *count = 0;
    int m = mdb_cursor_open(txn, st->dbi_journal, &c);
    if (m == 0) {
        for (m = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
             m == 0 && mk.mv_size == nlen + 9 && memcmp(mk.mv_data, k, nlen + 1) == 0;
             m = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
            *last = store_get_be64((const uint8_t *)mk.mv_data + nlen + 1);
            *first = *count == 0 ? *last : *first;
            (*count)++;
        }
        mdb_cursor_close(c);
    }
    tr__store_read_end(st, txn);
    return m == 0 || m == MDB_NOTFOUND ? 0 : tr__store_map_err(m);
}

/* ---- Writes -------------------------------------------------------------------------- */

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
        store_lock(st);
        st->stats.map_grows++;
        store_unlock(st);
    }
    return tr__store_map_err(rc);
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
    uint64_t upto = store_get_be64(e->data + plen);
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, e->data, plen);
    store_put_be64(k + plen, 0);
    MDB_val mk = {plen + 8, k}, mv;
    e->more = false;
    int rc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
    while (rc == 0 && mk.mv_size == plen + 8 && memcmp(mk.mv_data, e->data, plen) == 0 &&
           store_get_be64((const uint8_t *)mk.mv_data + plen) <= upto) {
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
        TR_ASSERT(e->op == OP_SNAP);
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

int tr__store_write_txn(tr_store *st, store_txn_fn fn, void *arg) {
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
        if (rc != 0) {
            return tr__store_map_err(rc);
        }
        rc = fn(st, txn, arg);
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (rc != MDB_MAP_FULL) {
            return tr__store_map_err(rc);
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

int tr__store_write_batch(tr_store *st, batch *b) {
    span s = {b->head, NULL, 0};
    while (s.from) {
        uint64_t bytes = 0;
        s.to = s.from;
        while (s.to && (bytes == 0 || bytes + s.to->klen + s.to->vlen <= TXN_BYTES_MAX)) {
            bytes += s.to->klen + s.to->vlen;
            s.to = s.to->next;
        }
        int rc = tr__store_write_txn(st, write_span, &s);
        if (rc != 0) {
            return rc;
        }
        b->deleted += s.deleted;
        s.from = s.to;
    }
    return 0;
}

void tr__store_db_usage(tr_store *st, uint64_t *map_bytes, uint64_t *used_bytes) {
    *map_bytes = *used_bytes = 0;
    if (st->env == NULL) {
        return;
    }
    MDB_envinfo info;
    MDB_stat ms;
    pthread_rwlock_rdlock(&st->map_lock);
    int rc = mdb_env_info(st->env, &info);
    rc = rc != 0 ? rc : mdb_env_stat(st->env, &ms);
    pthread_rwlock_unlock(&st->map_lock);
    if (rc == 0) {
        *map_bytes = info.me_mapsize;
        *used_bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    }
}
