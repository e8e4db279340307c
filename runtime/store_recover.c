/*
 * store_recover.c — recovery (tr__store_recover, store.h): an actor's latest snapshot, then
 * its journal events after it, committed and pending alike, in seq order.
 *
 * The overlay is copied first (under the lock), LMDB read second: a commit in between only
 * duplicates an event, never hides one, and seq order skips the duplicates. Events past the
 * last seq issued when the replay started are not replayed. LMDB is read in chunks of
 * RECOVER_CHUNK_BYTES per read txn, so that no read txn is held across user callbacks (they
 * may read or write the store themselves).
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/store_db.h"
#include "runtime/store_internal.h"

#define RECOVER_CHUNK_BYTES (1u << 20)

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

/* Copies what only the overlay knows: the pending snapshot and events. Under the lock. */
static int recover_copy_overlay(recovery *r) {
    arec *a = tr__store_arec_find(r->st, r->name, r->nlen);
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
        r->snap_seq = store_get_be64(v);
        rc = rec_push(&r->snap, r->snap_seq, v + 8, a->snap->vlen - 8);
    }
    for (entry *e = a->jhead; e && rc == 0; e = e->hnext) {
        rc = rec_push(&r->pending, store_get_be64(e->data + r->nlen + 1), e->data + e->klen,
                      e->vlen);
    }
    return rc;
}

/* Reads the snapshot from LMDB if the overlay had none, and fixes upto. */
static int recover_read_head(recovery *r) {
    MDB_txn *txn;
    int rc = tr__store_read_begin(r->st, &txn);
    if (rc != 0) {
        return rc;
    }
    if (r->upto == UINT64_MAX) {
        rc = tr__store_db_journal_last(r->st, txn, r->name, r->nlen, &r->upto);
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
            r->snap_seq = store_get_be64(mv.mv_data);
            rc = rec_push(&r->snap, r->snap_seq, (uint8_t *)mv.mv_data + 8, mv.mv_size - 8);
        } else if (g != MDB_NOTFOUND) {
            rc = tr__store_map_err(g);
        }
    }
    tr__store_read_end(r->st, txn);
    return rc;
}

/* Copies up to RECOVER_CHUNK_BYTES of committed events with seq > after into out. */
static int recover_read_chunk(recovery *r, uint64_t after, rec_buf *out, bool *more) {
    uint8_t k[TR_NAME_MAX + 1 + 8];
    memcpy(k, r->name, r->nlen);
    k[r->nlen] = 0;
    store_put_be64(k + r->nlen + 1, after + 1);
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = tr__store_read_begin(r->st, &txn);
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
        uint64_t seq = store_get_be64((const uint8_t *)mk.mv_data + r->nlen + 1);
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
        rc = tr__store_map_err(m);
    }
    if (have_cursor) {
        mdb_cursor_close(c); /* read-only txns do not free their cursors */
    }
    tr__store_read_end(r->st, txn);
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
    TR_ASSERT(st != NULL);
    recovery r = {.st = st, .name = actor, .nlen = store_name_len(actor)};
    if (r.nlen == 0) {
        return TR_EINVAL;
    }
    /* Overlay first, LMDB second: a commit in between only duplicates, never hides. */
    store_lock(st);
    int rc = recover_copy_overlay(&r);
    store_unlock(st);
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
