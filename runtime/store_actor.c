/*
 * store_actor.c — the actor-side calls (design: store_actor.h; contract: store.h).
 */
#include "runtime/store_actor.h"

#include <string.h>

#include "runtime/store_db.h"
#include "runtime/store_internal.h"

/* ---- One callback's writes in one commit (store.h) ------------------------------------ */

void tr__store_callback_begin(tr_store *st) {
    if (st->single != NULL) {
        return;
    }
    pthread_mutex_lock(&st->mu);
    while (st->swap_waiting) {
        pthread_cond_wait(&st->writers_cv, &st->mu);
    }
    st->writers++;
    pthread_mutex_unlock(&st->mu);
}

void tr__store_callback_end(tr_store *st) {
    if (st->single != NULL) {
        return;
    }
    pthread_mutex_lock(&st->mu);
    TR_ASSERT(st->writers > 0);
    if (--st->writers == 0 && st->swap_waiting) {
        pthread_cond_broadcast(&st->writers_cv);
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- Admitting a write --------------------------------------------------------------- */

/* Queues e in the pending batch. Caller holds the lock; *ready tells whether to call the hook. */
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

static int check_key(const char *actor, const void *key, size_t klen, size_t *nlen) {
    *nlen = store_name_len(actor);
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

/* The end of every write: releases the lock (taken by the caller), then frees a refused entry or
 * tells the engine a batch began. */
static int submitted(tr_store *st, entry *e, int rc, bool ready) {
    store_unlock(st);
    if (rc != 0) {
        tr__store_entry_free(st, e);
        return rc;
    }
    store_call_ready(st, ready);
    return 0;
}

static int submit_kv(tr_store *st, entry *e) {
    e->hash = store_hash(e->data, e->klen);
    bool ready = false;
    store_lock(st);
    int rc = admit(st, e, &ready);
    if (rc == 0) {
        tr__store_overlay_set(st, e);
    }
    return submitted(st, e, rc, ready);
}

static int kv_write(tr_store *st, int op, const char *actor, const void *key, size_t klen,
                    const void *val, size_t vlen) {
    TR_ASSERT(st != NULL);
    size_t nlen;
    int rc = check_key(actor, key, klen, &nlen);
    if (rc == 0) {
        rc = check_value(val, vlen);
    }
    if (rc != 0) {
        return rc;
    }
    entry *e = tr__store_entry_new(st, op, actor, nlen, key, klen, NULL, 0, val, vlen);
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

/* Builds "<actor>\0<key>" into k (STORE_FULLKEY_MAX bytes); returns its length or an error. */
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

int tr__store_get(tr_store *st, const char *actor, const void *key, size_t klen, void *buf,
                  size_t cap, size_t *len) {
    TR_ASSERT(st != NULL);
    uint8_t k[STORE_FULLKEY_MAX];
    size_t fk;
    int rc = full_key(actor, key, klen, k, &fk);
    if (rc != 0 || (buf == NULL && cap > 0)) {
        return rc ? rc : TR_EINVAL;
    }
    uint64_t h = store_hash(k, fk);
    store_lock(st);
    entry *e = *tr__store_overlay_slot(st, k, fk, h);
    if (e) {
        rc = e->op == OP_DEL ? TR_ENOENT
                             : tr__store_copy_out(buf, cap, e->data + e->klen, e->vlen, len);
    }
    store_unlock(st);
    if (e) {
        return rc;
    }
    /* Not pending: every write of this key by this actor is committed, so LMDB is current. */
    return tr__store_db_kv_get(st, k, fk, buf, cap, len);
}

int tr__store_get_committed(tr_store *st, const char *actor, const void *key, size_t klen,
                            void *buf, size_t cap, size_t *len) {
    TR_ASSERT(st != NULL);
    uint8_t k[STORE_FULLKEY_MAX];
    size_t fk;
    int rc = full_key(actor, key, klen, k, &fk);
    if (rc != 0 || (buf == NULL && cap > 0)) {
        return rc ? rc : TR_EINVAL;
    }
    if ((rc = tr__store_flush(st)) != 0) {
        return rc;
    }
    return tr__store_db_kv_get(st, k, fk, buf, cap, len);
}

/* Loads the actor's next journal sequence from LMDB on its first journal write (0 means
 * not loaded yet). Called with the lock held. */
static int ensure_next_seq(tr_store *st, arec *a, const char *actor, size_t nlen) {
    if (a->next_seq != 0) {
        return 0;
    }
    uint64_t last;
    int rc = tr__store_db_last_seq(st, actor, nlen, &last);
    a->next_seq = rc == 0 ? last + 1 : 0;
    return rc;
}

int tr__store_append(tr_store *st, const char *actor, const void *ev, size_t len,
                     uint64_t *seq_out) {
    TR_ASSERT(st != NULL);
    size_t nlen = store_name_len(actor);
    int rc = nlen == 0 ? TR_EINVAL : check_value(ev, len);
    if (rc != 0) {
        return rc;
    }
    entry *e = tr__store_entry_new(st, OP_APPEND, actor, nlen, NULL, 8, NULL, 0, ev, len);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    bool ready = false;
    store_lock(st);
    arec *a = tr__store_arec_get(st, actor, nlen);
    rc = a ? 0 : TR_ENOMEM;
    if (rc == 0) {
        rc = ensure_next_seq(st, a, actor, nlen); /* first journal write of this incarnation */
    }
    if (rc == 0) {
        store_put_be64(e->data + nlen + 1, a->next_seq);
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
    TR_ASSERT(st != NULL);
    size_t nlen = store_name_len(actor);
    int rc = nlen == 0 ? TR_EINVAL : check_value(data, len);
    if (rc != 0) {
        return rc;
    }
    uint8_t seqb[8];
    store_put_be64(seqb, seq);
    entry *e = tr__store_entry_new(st, OP_SNAP, actor, nlen, NULL, 0, seqb, 8, data, len);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    bool ready = false;
    store_lock(st);
    arec *a = tr__store_arec_get(st, actor, nlen);
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

/* The actor's latest snapshot seq as it sees it: its pending one, else LMDB's. Under the lock (a
 * snapshot leaves the overlay only after LMDB has it). */
static int visible_snap_seq(tr_store *st, arec *a, bool *have, uint64_t *seq) {
    if (a->snap != NULL) {
        *have = true;
        *seq = store_get_be64(a->snap->data + a->snap->klen);
        return 0;
    }
    return tr__store_db_read_snap_seq(st, a->name, a->nlen, have, seq);
}

/* Queues a truncation of a's journal up to `upto` (the entry's key). Under the lock. */
int tr__store_queue_trunc(tr_store *st, arec *a, entry *e, bool *ready) {
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
    TR_ASSERT(st != NULL);
    size_t nlen = store_name_len(actor);
    if (nlen == 0) {
        return TR_EINVAL;
    }
    entry *e = tr__store_entry_new(st, OP_TRUNC, actor, nlen, NULL, 8, NULL, 0, NULL, 0);
    if (e == NULL) {
        return TR_ENOMEM;
    }
    store_put_be64(e->data + nlen + 1, upto);
    bool ready = false, have = false;
    uint64_t snap = 0;
    store_lock(st);
    arec *a = tr__store_arec_get(st, actor, nlen);
    int rc = a ? 0 : TR_ENOMEM;
    rc = rc ? rc : (st->failed ? st->failed : visible_snap_seq(st, a, &have, &snap));
    if (rc == 0 && upto > 0 && (!have || upto > snap)) {
        rc = TR_EINVAL; /* events no snapshot covers would be lost */
    }
    if (rc == 0 && upto <= a->trunc_seq) {
        store_unlock(st); /* nothing new to drop */
        tr__store_entry_free(st, e);
        return 0;
    }
    if (rc == 0) {
        rc = tr__store_queue_trunc(st, a, e, &ready);
    }
    if (rc == 0) {
        a->trunc_seq = upto;
    }
    return submitted(st, e, rc, ready);
}

static int add_waiter(tr_store *st, tr_addr who, tr_msg *msg, uint64_t *token_out) {
    waiter *w = tr__store_waiter_new(st);
    if (w == NULL) {
        return TR_ENOMEM;
    }
    w->who = who;
    w->msg = msg;
    bool ready = false;
    store_lock(st);
    int rc = st->failed;
    if (rc == 0) {
        w->token = ++st->next_token;
        if (token_out) {
            *token_out = w->token;
        }
        ready = batch_empty(&st->pending);
        batch_add_waiter(&st->pending, w);
    }
    store_unlock(st);
    if (rc != 0) {
        tr__store_waiter_free(st, w);
        return rc;
    }
    store_call_ready(st, ready);
    return 0;
}

int tr__store_notify(tr_store *st, tr_addr who, uint64_t *token_out) {
    TR_ASSERT(st != NULL);
    return add_waiter(st, who, NULL, token_out);
}

int tr__store_hold(tr_store *st, tr_msg *reply) {
    TR_ASSERT(st != NULL && reply != NULL);
    return add_waiter(st, TR_ADDR_NONE, reply, NULL);
}

void tr__store_actor_gone(tr_store *st, const char *actor) {
    size_t nlen = store_name_len(actor);
    if (nlen == 0) {
        return;
    }
    store_lock(st);
    arec *a = tr__store_arec_find(st, actor, nlen);
    if (a) {
        a->gone = true;
        tr__store_arec_free_if_idle(st, a); /* else freed when its last pending write commits */
    }
    store_unlock(st);
}
