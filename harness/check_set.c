/* check_set.c — the check of the set service (harness/builtin_set.h): lost, resurrected,
 * stale and never-read elements, from the history's reads and the nodes' final sets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/builtin_set.h"
#include "harness/check_common.h"

/* One element: its add, and the remove of it if any. */
typedef struct elem_rec {
    int64_t elem, key;
    int64_t process;
    tr_history_type added;   /* the add's outcome (INVOKE: never completed) */
    size_t added_at;         /* the add's completion index */
    size_t remove_invoked;   /* SIZE_MAX: never */
    tr_history_type removed; /* the remove's outcome, INVOKE when none completed */
    int64_t remove_process;
    bool add_torn;    /* the add's node had its disk torn after the add was invoked */
    int32_t add_node; /* the add's node, its invoke and completion times */
    int64_t add_invoked_ns, add_completed_ns;
    bool remove_torn; /* the same for the remove */
    bool read;        /* seen by some read */
    bool stale;       /* missed by a read invoked after its add was acknowledged */
} elem_rec;

typedef struct read_rec {
    int64_t key, process;
    size_t invoked, completed; /* completed SIZE_MAX: open */
    const tr_value *value;
} read_rec;

typedef struct set_history {
    elem_rec *e;
    size_t ne;
    read_rec *r;
    size_t nr;
} set_history;

static int by_elem(const void *a, const void *b) {
    int64_t x = ((const elem_rec *)a)->elem, y = ((const elem_rec *)b)->elem;
    return x < y ? -1 : x > y;
}

static elem_rec *find(const set_history *sh, int64_t elem) {
    elem_rec k = {.elem = elem};
    return bsearch(&k, sh->e, sh->ne, sizeof k, by_elem);
}

/* The adds (sorted by element) and reads of in's history; owned by sh (free both). */
static int collect(const tr_check_input *in, set_history *sh) {
    const tr_history *h = in->history;
    size_t n = tr_history_count(h);
    tr_history_op op;
    *sh = (set_history){calloc(n + 1, sizeof(elem_rec)), 0, calloc(n + 1, sizeof(read_rec)), 0};
    if (sh->e == NULL || sh->r == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) { /* adds and reads */
        if (!strcmp(op.f, "add") && op.type == TR_HISTORY_INVOKE) {
            sh->e[sh->ne++] = (elem_rec){.elem = op.value,
                                         .key = op.key,
                                         .process = op.process,
                                         .remove_invoked = SIZE_MAX,
                                         .add_torn = tr__check_torn_after(in, op.node, op.time_ns),
                                         .add_node = op.node,
                                         .add_invoked_ns = op.time_ns};
        } else if (!strcmp(op.f, "read") && op.type == TR_HISTORY_INVOKE) {
            sh->r[sh->nr++] = (read_rec){
                .key = op.key, .process = op.process, .invoked = i, .completed = SIZE_MAX};
        } else if (!strcmp(op.f, "read") && op.type == TR_HISTORY_OK) {
            for (size_t j = sh->nr; j-- > 0;) {
                if (sh->r[j].process == op.process && sh->r[j].completed == SIZE_MAX) {
                    sh->r[j].completed = i;
                    sh->r[j].value = op.any;
                    break;
                }
            }
        }
    }
    qsort(sh->e, sh->ne, sizeof sh->e[0], by_elem);
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) { /* outcomes and removes */
        elem_rec *e = strcmp(op.f, "add") && strcmp(op.f, "remove") ? NULL : find(sh, op.value);
        if (e == NULL) {
            continue;
        }
        if (!strcmp(op.f, "add") && op.type != TR_HISTORY_INVOKE && op.process == e->process) {
            e->added = op.type;
            e->added_at = i;
            e->add_completed_ns = op.time_ns;
        } else if (!strcmp(op.f, "remove") && op.type == TR_HISTORY_INVOKE) {
            e->remove_invoked = e->remove_invoked < i ? e->remove_invoked : i;
            e->remove_process = op.process;
            e->remove_torn = tr__check_torn_after(in, op.node, op.time_ns);
        } else if (!strcmp(op.f, "remove") && op.process == e->remove_process &&
                   e->removed != TR_HISTORY_OK) {
            e->removed = op.type;
        }
    }
    return 0;
}

/* The elements of a read's value (a msgpack array of integers, ascending) into out (at most
 * cap); their number, or -1 for another value. */
static long read_elems(const tr_value *v, int64_t *out, size_t cap) {
    tr_mp_reader r;
    uint32_t n;
    if (v == NULL || v->kind != TR_VALUE_BYTES) {
        return -1;
    }
    tr_mp_reader_init(&r, v->bytes, v->len);
    if (tr_mp_read_array(&r, &n) != 0 || n > cap) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (tr_mp_read_int(&r, &out[i]) != 0) {
            return -1;
        }
    }
    return tr_mp_reader_done(&r) == 0 ? (long)n : -1;
}

static bool has(const int64_t *a, long n, int64_t x) {
    long lo = 0, hi = n;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (a[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && a[lo] == x;
}

static int by_int(const void *a, const void *b);

/* Stale and never-read elements (measures only). The adds and each read's elements are both
 * in ascending order, so one walk over the two marks what the read saw and what it missed. */
static void measure_reads(const tr_check_input *in, set_history *sh, int64_t *buf, size_t cap) {
    uint64_t stale = 0, never = 0;
    for (size_t j = 0; j < sh->nr; j++) {
        const read_rec *rd = &sh->r[j];
        long n = rd->completed == SIZE_MAX ? -1 : read_elems(rd->value, buf, cap);
        for (long k = 1; k < n; k++) {
            if (buf[k - 1] > buf[k]) { /* not as the service answers: sort it for the walk */
                qsort(buf, (size_t)n, sizeof *buf, by_int);
                break;
            }
        }
        long k = 0;
        for (size_t i = 0; n >= 0 && i < sh->ne; i++) {
            elem_rec *e = &sh->e[i];
            while (k < n && buf[k] < e->elem) {
                k++;
            }
            bool seen = k < n && buf[k] == e->elem;
            e->read |= seen;
            e->stale |= e->key == rd->key && e->added == TR_HISTORY_OK &&
                        e->added_at < rd->invoked && e->remove_invoked > rd->completed && !seen;
        }
    }
    for (size_t i = 0; i < sh->ne; i++) {
        never += sh->e[i].added == TR_HISTORY_OK && !sh->e[i].read;
        stale += sh->e[i].stale;
    }
    tr_check_measure(in, "stale", (double)stale);
    tr_check_measure(in, "never_read", (double)never);
}

static int by_int(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Node k's final elements, ascending, into a fresh *out (owned: free); their number, or -1
 * when it has no state or the state is malformed. */
static long final_elems(const tr_check_input *in, uint32_t k, int64_t **out) {
    tr_mp_reader r;
    uint32_t keys, pair, n;
    int64_t key;
    long count = 0;
    *out = NULL;
    if (in->states == NULL || in->states[k] == NULL) {
        return -1;
    }
    int64_t *a = malloc((in->state_lens[k] + 1) * sizeof *a); /* an element takes a byte or more */
    tr_mp_reader_init(&r, in->states[k], in->state_lens[k]);
    if (a == NULL || tr_mp_read_array(&r, &keys) != 0) {
        free(a);
        return -1;
    }
    for (uint32_t i = 0; i < keys; i++) {
        if (tr_mp_read_array(&r, &pair) != 0 || pair != 2 || tr_mp_read_int(&r, &key) != 0 ||
            tr_mp_read_array(&r, &n) != 0 || n > in->state_lens[k] - (size_t)count) {
            free(a);
            return -1;
        }
        for (uint32_t j = 0; j < n; j++) {
            (void)tr_mp_read_int(&r, &a[count++]);
        }
    }
    if (tr_mp_reader_done(&r) != 0) {
        free(a);
        return -1;
    }
    qsort(a, (size_t)count, sizeof *a, by_int);
    *out = a;
    return count;
}

typedef struct final_tally {
    uint64_t lost, resurrected;
    uint64_t lost_torn, resurrected_torn; /* excused: their node's disk was torn */
    int64_t first_lost, first_resurrected;
    uint32_t lost_node, resurrected_node;
} final_tally;

/* Lost and resurrected elements of node k's final set a[0..n). A torn node's lost adds are
 * excused when they are its last ones: a replica holds another node's operations in their
 * order, so no add of that node invoked after a lost one completed may be there. */
static void tally_node(const set_history *sh, uint32_t k, const int64_t *a, long n,
                       final_tally *t) {
    int64_t latest[64]; /* per adding node: the latest invoke of its adds that are there */
    for (int j = 0; j < 64; j++) {
        latest[j] = INT64_MIN;
    }
    for (size_t i = 0; i < sh->ne; i++) {
        const elem_rec *e = &sh->e[i];
        if (e->add_node >= 0 && e->add_node < 64 && e->added == TR_HISTORY_OK &&
            e->add_invoked_ns > latest[e->add_node] && has(a, n, e->elem)) {
            latest[e->add_node] = e->add_invoked_ns;
        }
    }
    for (size_t i = 0; i < sh->ne; i++) {
        const elem_rec *e = &sh->e[i];
        bool there = has(a, n, e->elem);
        bool lost = !there && e->added == TR_HISTORY_OK && e->remove_invoked == SIZE_MAX;
        bool resurrected = there && e->removed == TR_HISTORY_OK;
        bool last = e->add_torn && latest[e->add_node] <= e->add_completed_ns;
        if ((lost && last) || (resurrected && e->remove_torn)) {
            *(lost ? &t->lost_torn : &t->resurrected_torn) += 1;
            continue;
        }
        if (lost) {
            t->first_lost = t->lost++ ? t->first_lost : e->elem;
            t->lost_node = t->lost == 1 ? k : t->lost_node;
        }
        if (resurrected) {
            t->first_resurrected = t->resurrected++ ? t->first_resurrected : e->elem;
            t->resurrected_node = t->resurrected == 1 ? k : t->resurrected_node;
        }
    }
}

/* The verdict over the up nodes' final sets. */
static tr_verdict final_verdict(const tr_check_input *in, const set_history *sh, final_tally *t,
                                char *why, size_t cap) {
    int64_t *first = NULL;
    long first_n = -1;
    uint32_t answered = 0, first_node = 0;
    bool differ = false;
    for (uint32_t k = 0; k < in->node_count; k++) {
        int64_t *a;
        long n = final_elems(in, k, &a);
        if (n < 0) {
            continue;
        }
        tally_node(sh, k, a, n, t);
        if (answered++ == 0) {
            first = a;
            first_n = n;
            first_node = k;
            continue;
        }
        if (!differ && (n != first_n || memcmp(a, first, (size_t)n * sizeof *a) != 0)) {
            differ = true;
            snprintf(why, cap, "replicas disagree after heal: n%u holds %ld elements, n%u %ld",
                     first_node + 1, first_n, k + 1, n);
        }
        free(a);
    }
    free(first);
    if (t->lost > 0) {
        snprintf(why, cap, "%llu elements lost: %lld (add ok, never removed) missing on n%u",
                 (unsigned long long)t->lost, (long long)t->first_lost, t->lost_node + 1);
    } else if (t->resurrected > 0) {
        snprintf(why, cap, "%llu elements resurrected: %lld (remove ok) still on n%u",
                 (unsigned long long)t->resurrected, (long long)t->first_resurrected,
                 t->resurrected_node + 1);
    } else if (answered == 0) {
        snprintf(why, cap, "no node answered its final set");
        return TR_VERDICT_UNKNOWN;
    } else if (!differ && t->lost_torn + t->resurrected_torn > 0) {
        snprintf(why, cap,
                 "%u replicas agree on %ld elements; undone on some node: %llu adds and %llu "
                 "removes acknowledged by a node whose disk was torn before it shipped them "
                 "(allowed)",
                 answered, first_n, (unsigned long long)t->lost_torn,
                 (unsigned long long)t->resurrected_torn);
    } else if (!differ) {
        snprintf(why, cap, "%u replicas agree on %ld elements: none lost, none resurrected",
                 answered, first_n);
    }
    return t->lost || t->resurrected || differ ? TR_VERDICT_VIOLATED : TR_VERDICT_HELD;
}

tr_verdict tr__set_check_full(const tr_check_input *in, char *why, size_t cap) {
    set_history sh;
    final_tally t = {0};
    size_t bufcap = TR_VALUE_BYTES_MAX;
    int64_t *buf = malloc(bufcap * sizeof *buf);
    if (buf == NULL || collect(in, &sh) != 0) {
        snprintf(why, cap, "out of memory");
        free(buf);
        free(sh.e);
        free(sh.r);
        return TR_VERDICT_UNKNOWN;
    }
    tr_verdict v = final_verdict(in, &sh, &t, why, cap);
    measure_reads(in, &sh, buf, bufcap);
    tr_check_measure(in, "lost", (double)t.lost);
    tr_check_measure(in, "resurrected", (double)t.resurrected);
    tr_check_measure(in, "lost_torn", (double)t.lost_torn);
    tr_check_measure(in, "resurrected_torn", (double)t.resurrected_torn);
    free(buf);
    free(sh.e);
    free(sh.r);
    return v;
}
