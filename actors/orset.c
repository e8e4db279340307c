/* orset.c — the OR-set CRDT: local operations, deltas, join and encodings (actors/orset.h). */
#include <stdlib.h>
#include <string.h>

#include "actors/orset.h"

static int cmp(const tr__orset_entry *e, int64_t key, int64_t elem, uint32_t node) {
    if (e->key != key) {
        return e->key < key ? -1 : 1;
    }
    if (e->elem != elem) {
        return e->elem < elem ? -1 : 1;
    }
    return e->node == node ? 0 : e->node < node ? -1 : 1;
}

/* The first index whose entry is not below (key, elem, node). */
static uint32_t lower_bound(const tr__orset *s, int64_t key, int64_t elem, uint32_t node) {
    uint32_t lo = 0, hi = s->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cmp(&s->e[mid], key, elem, node) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The entry (key, elem, node) takes dot seq (a newer one replaces an older). */
static int put(tr__orset *s, int64_t key, int64_t elem, uint32_t node, uint32_t seq) {
    uint32_t i = lower_bound(s, key, elem, node);
    if (i < s->count && cmp(&s->e[i], key, elem, node) == 0) {
        s->e[i].seq = s->e[i].seq < seq ? seq : s->e[i].seq;
        return 0;
    }
    if (s->count == TR_ORSET_ENTRIES_MAX) {
        return TR_EFULL;
    }
    memmove(&s->e[i + 1], &s->e[i], (s->count - i) * sizeof s->e[0]);
    s->e[i] = (tr__orset_entry){.key = key, .elem = elem, .node = node, .seq = seq};
    s->count++;
    return 0;
}

static void drop(tr__orset *s, uint32_t i) {
    memmove(&s->e[i], &s->e[i + 1], (s->count - i - 1) * sizeof s->e[0]);
    s->count--;
}

void tr__orset_init(tr__orset *s, uint32_t n) {
    s->n = n < TR_ORSET_NODES_MAX ? n : TR_ORSET_NODES_MAX;
    memset(s->vv, 0, sizeof s->vv);
    s->count = 0;
}

bool tr__orset_contains(const tr__orset *s, int64_t key, int64_t elem) {
    uint32_t i = lower_bound(s, key, elem, 0);
    return i < s->count && s->e[i].key == key && s->e[i].elem == elem;
}

int tr__orset_add(tr__orset *s, uint32_t self, int64_t key, int64_t elem, tr__orset_delta *d) {
    if (self >= s->n) {
        return TR_EINVAL;
    }
    uint32_t seq = s->vv[self] + 1;
    int rc = put(s, key, elem, self, seq);
    if (rc != 0) {
        return rc;
    }
    s->vv[self] = seq;
    *d = (tr__orset_delta){.dot = {self, seq}, .key = key, .elem = elem};
    return 0;
}

int tr__orset_remove(tr__orset *s, uint32_t self, int64_t key, int64_t elem, tr__orset_delta *d) {
    uint32_t i = lower_bound(s, key, elem, 0);
    if (self >= s->n) {
        return TR_EINVAL;
    }
    if (i == s->count || s->e[i].key != key || s->e[i].elem != elem) {
        return TR_ENOENT;
    }
    *d =
        (tr__orset_delta){.dot = {self, s->vv[self] + 1}, .remove = true, .key = key, .elem = elem};
    while (i < s->count && s->e[i].key == key && s->e[i].elem == elem) {
        d->dots[d->ndots++] = (tr__orset_dot){s->e[i].node, s->e[i].seq};
        drop(s, i);
    }
    s->vv[self]++;
    return 0;
}

int tr__orset_apply(tr__orset *s, const tr__orset_delta *d) {
    uint32_t o = d->dot.node;
    if (o >= s->n || d->ndots > s->n) {
        return TR_EINVAL;
    }
    if (d->dot.seq <= s->vv[o]) {
        return 0;
    }
    if (d->dot.seq != s->vv[o] + 1) {
        return TR_EAGAIN;
    }
    for (uint32_t k = 0; k < d->ndots; k++) {
        if (d->dots[k].node >= s->n) {
            return TR_EINVAL;
        }
        if (d->dots[k].seq > s->vv[d->dots[k].node]) {
            return TR_EAGAIN; /* the add it removes has not arrived: it would come back */
        }
    }
    for (uint32_t k = 0; k < d->ndots; k++) {
        uint32_t i = lower_bound(s, d->key, d->elem, d->dots[k].node);
        if (i < s->count && cmp(&s->e[i], d->key, d->elem, d->dots[k].node) == 0 &&
            s->e[i].seq == d->dots[k].seq) {
            drop(s, i);
        }
    }
    if (!d->remove) {
        int rc = put(s, d->key, d->elem, o, d->dot.seq);
        if (rc != 0) {
            return rc;
        }
    }
    s->vv[o] = d->dot.seq;
    return 1;
}

/* Whether entry x of a replica survives the join with a replica whose context is vv and
 * which does not hold x: only if that replica never saw x's dot. */
static bool unseen(const tr__orset_entry *x, const uint32_t *vv) {
    return x->seq > vv[x->node];
}

int tr__orset_join(tr__orset *s, const tr__orset *o) {
    if (o->n != s->n) {
        return TR_EINVAL;
    }
    tr__orset_entry *out = malloc(sizeof s->e);
    uint32_t i = 0, j = 0, k = 0;
    bool changed = false; /* one of s's entries dropped or replaced, or one of o's added */
    if (out == NULL) {
        return TR_ENOMEM;
    }
    while ((i < s->count || j < o->count) && k <= TR_ORSET_ENTRIES_MAX) {
        const tr__orset_entry *a = i < s->count ? &s->e[i] : NULL;
        const tr__orset_entry *b = j < o->count ? &o->e[j] : NULL;
        int c = a == NULL ? 1 : b == NULL ? -1 : cmp(a, b->key, b->elem, b->node);
        const tr__orset_entry *keep = NULL;
        if (c == 0) { /* one node's dots of one element: the newer, if the other saw it */
            keep = a->seq == b->seq  ? a
                   : a->seq > b->seq ? (unseen(a, o->vv) ? a : NULL)
                                     : (unseen(b, s->vv) ? b : NULL);
        } else {
            keep = c < 0 ? (unseen(a, o->vv) ? a : NULL) : (unseen(b, s->vv) ? b : NULL);
        }
        changed |= c <= 0 ? keep != a : keep != NULL;
        i += c <= 0;
        j += c >= 0;
        if (keep != NULL && k < TR_ORSET_ENTRIES_MAX) {
            out[k] = *keep;
        }
        k += keep != NULL;
    }
    if (k > TR_ORSET_ENTRIES_MAX) {
        free(out);
        return TR_EFULL;
    }
    memcpy(s->e, out, k * sizeof out[0]);
    s->count = k;
    for (uint32_t x = 0; x < s->n; x++) {
        changed |= o->vv[x] > s->vv[x];
        s->vv[x] = o->vv[x] > s->vv[x] ? o->vv[x] : s->vv[x];
    }
    free(out);
    return changed;
}

/* ---- encodings ---------------------------------------------------------------------- */

void tr__orset_delta_encode(const tr__orset_delta *d, tr_mp_writer *w) {
    tr_mp_write_array(w, 5 + 2 * d->ndots);
    uint8_t *p = tr_mp_writer_room(w, 9 * (5 + 2 * (size_t)d->ndots)); /* deltas go by batches */
    if (p != NULL) {
        p = tr_mp_put_uint(p, d->dot.node);
        p = tr_mp_put_uint(p, d->dot.seq);
        p = tr_mp_put_uint(p, d->remove);
        p = tr_mp_put_int(p, d->key);
        p = tr_mp_put_int(p, d->elem);
        for (uint32_t k = 0; k < d->ndots; k++) {
            p = tr_mp_put_uint(p, d->dots[k].node);
            p = tr_mp_put_uint(p, d->dots[k].seq);
        }
        tr_mp_writer_advance(w, p);
        return;
    }
    tr_mp_write_uint(w, d->dot.node);
    tr_mp_write_uint(w, d->dot.seq);
    tr_mp_write_uint(w, d->remove);
    tr_mp_write_int(w, d->key);
    tr_mp_write_int(w, d->elem);
    for (uint32_t k = 0; k < d->ndots; k++) {
        tr_mp_write_uint(w, d->dots[k].node);
        tr_mp_write_uint(w, d->dots[k].seq);
    }
}

/* An integer in [0, max]. */
static int read_u32(tr_mp_reader *r, uint64_t max, uint32_t *out) {
    int64_t v;
    if (tr_mp_read_int(r, &v) != 0 || v < 0 || (uint64_t)v > max) {
        return TR_EPROTO;
    }
    *out = (uint32_t)v;
    return 0;
}

int tr__orset_delta_decode(tr_mp_reader *r, tr__orset_delta *d) {
    uint32_t n, remove;
    *d = (tr__orset_delta){0};
    if (tr_mp_read_array(r, &n) != 0 || n < 5 || (n - 5) % 2 != 0 ||
        (n - 5) / 2 > TR_ORSET_NODES_MAX || read_u32(r, TR_ORSET_NODES_MAX - 1, &d->dot.node) ||
        read_u32(r, UINT32_MAX, &d->dot.seq) || read_u32(r, 1, &remove) ||
        tr_mp_read_int(r, &d->key) != 0 || tr_mp_read_int(r, &d->elem) != 0) {
        return TR_EPROTO;
    }
    d->remove = remove;
    d->ndots = (n - 5) / 2;
    for (uint32_t k = 0; k < d->ndots; k++) {
        if (read_u32(r, TR_ORSET_NODES_MAX - 1, &d->dots[k].node) ||
            read_u32(r, UINT32_MAX, &d->dots[k].seq)) {
            return TR_EPROTO;
        }
    }
    return d->remove || d->ndots == 0 ? 0 : TR_EPROTO;
}

void tr__orset_encode(const tr__orset *s, tr_mp_writer *w) {
    tr_mp_write_array(w, 3);
    tr_mp_write_uint(w, s->n);
    tr_mp_write_array(w, s->n);
    for (uint32_t i = 0; i < s->n; i++) {
        tr_mp_write_uint(w, s->vv[i]);
    }
    tr_mp_write_array(w, 4 * s->count);
    for (uint32_t i = 0; i < s->count; i++) {
        const tr__orset_entry *e = &s->e[i];
        uint8_t *p = tr_mp_writer_room(w, 4 * 9); /* a state is shipped whole: no call per value */
        if (p != NULL) {
            p = tr_mp_put_int(p, e->key);
            p = tr_mp_put_int(p, e->elem);
            p = tr_mp_put_uint(p, e->node);
            tr_mp_writer_advance(w, tr_mp_put_uint(p, e->seq));
            continue;
        }
        tr_mp_write_int(w, e->key);
        tr_mp_write_int(w, e->elem);
        tr_mp_write_uint(w, e->node);
        tr_mp_write_uint(w, e->seq);
    }
}

/* Decodes into s (its n must match): entries strictly ascending, nodes below n. */
int tr__orset_decode(tr_mp_reader *r, tr__orset *s) {
    uint32_t top, n, nv, ne;
    if (tr_mp_read_array(r, &top) != 0 || top != 3 || read_u32(r, TR_ORSET_NODES_MAX, &n) ||
        n != s->n || tr_mp_read_array(r, &nv) != 0 || nv != n) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (read_u32(r, UINT32_MAX, &s->vv[i])) {
            return TR_EPROTO;
        }
    }
    if (tr_mp_read_array(r, &ne) != 0 || ne % 4 != 0 || ne / 4 > TR_ORSET_ENTRIES_MAX) {
        return TR_EPROTO;
    }
    s->count = 0;
    for (uint32_t i = 0; i < ne / 4; i++) {
        tr__orset_entry *e = &s->e[i];
        if (tr_mp_read_int(r, &e->key) != 0 || tr_mp_read_int(r, &e->elem) != 0 ||
            read_u32(r, n ? n - 1 : 0, &e->node) || read_u32(r, UINT32_MAX, &e->seq) ||
            (i > 0 && cmp(&s->e[i - 1], e->key, e->elem, e->node) >= 0) ||
            e->seq > s->vv[e->node]) {
            return TR_EPROTO;
        }
        s->count = i + 1;
    }
    return 0;
}
