/* check_convergence.c — the convergence of register replicas (see check_convergence.h). */
#include "harness/check_convergence.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

/* A non-failed write (or cas, by its `to`) of one value to one key. */
typedef struct wrec {
    int64_t key;
    int64_t value;
    size_t inv;  /* history index of the invoke */
    size_t done; /* history index of the completion; SIZE_MAX: info or pending */
    bool acked;  /* completed ok */
    bool lost;
} wrec;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_entry(const void *a, const void *b) {
    const tr_replica_entry *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static int cmp_wrec(const void *a, const void *b) {
    const wrec *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return (x->inv > y->inv) - (x->inv < y->inv);
}

static const tr_replica_entry *find_entry(const tr_replica_entry *e, size_t n, int64_t key) {
    tr_replica_entry probe = {.key = key};
    return bsearch(&probe, e, n, sizeof *e, cmp_entry);
}

/* Sorted private copies of every replica's entries; TR_EINVAL on a duplicate key. */
static int sort_replicas(const tr_replica_state *in, size_t n, tr_replica_entry **out) {
    for (size_t r = 0; r < n; r++) {
        out[r] = malloc((in[r].count ? in[r].count : 1) * sizeof *out[r]);
        if (!out[r]) {
            return TR_ENOMEM;
        }
        if (in[r].count) {
            memcpy(out[r], in[r].entries, in[r].count * sizeof *out[r]);
        }
        qsort(out[r], in[r].count, sizeof *out[r], cmp_entry);
        for (size_t i = 1; i < in[r].count; i++) {
            if (out[r][i].key == out[r][i - 1].key) {
                return TR_EINVAL;
            }
        }
    }
    return 0;
}

static void note_divergence(tr_convergence_result *out, int64_t key, int32_t a, int32_t b) {
    if (out->agree || key < out->divergent_key) {
        out->divergent_key = key;
        out->divergent_node_a = a;
        out->divergent_node_b = b;
    }
    out->agree = false;
}

/* Every replica against replica 0, as a merge of two sorted key lists. Counts distinct
 * divergent keys by collecting them (bounded by the total entry count). */
static int check_agreement(const tr_replica_state *rs, tr_replica_entry **sorted, size_t n,
                           tr_convergence_result *out) {
    size_t total = 0;
    for (size_t r = 0; r < n; r++) {
        total += rs[r].count;
    }
    int64_t *keys = malloc((total ? total : 1) * sizeof *keys);
    if (!keys) {
        return TR_ENOMEM;
    }
    size_t nk = 0;
    for (size_t r = 1; r < n; r++) {
        const tr_replica_entry *a = sorted[0], *b = sorted[r];
        size_t i = 0, j = 0, na = rs[0].count, nb = rs[r].count;
        while (i < na || j < nb) {
            bool take_a = j == nb || (i < na && a[i].key <= b[j].key);
            bool take_b = i == na || (j < nb && b[j].key <= a[i].key);
            int64_t key = take_a ? a[i].key : b[j].key;
            if (!(take_a && take_b && a[i].value == b[j].value)) {
                keys[nk++] = key;
                note_divergence(out, key, rs[0].node, rs[r].node);
            }
            i += take_a;
            j += take_b;
        }
    }
    qsort(keys, nk, sizeof *keys, cmp_i64);
    size_t distinct = 0;
    for (size_t i = 0; i < nk; i++) {
        distinct += i == 0 || keys[i] != keys[i - 1];
    }
    out->divergent_keys = distinct;
    free(keys);
    return 0;
}

/* Non-failed writes and cas ops from the history, sorted by (key, invoke index). */
static wrec *collect_writes(const tr_history *h, size_t *count) {
    size_t n = 0, total = tr__history_count(h);
    wrec *w = malloc((total ? total : 1) * sizeof *w);
    if (!w) {
        return NULL;
    }
    for (size_t i = 0; i < total; i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type != TR_OP_INVOKE || op->f == TR_F_READ) {
            continue;
        }
        size_t done = tr__history_partner(h, i);
        uint8_t type = done == SIZE_MAX ? TR_OP_INFO : tr__history_op(h, done)->type;
        if (type == TR_OP_FAIL) {
            continue;
        }
        w[n++] = (wrec){.key = op->key,
                        .value = op->f == TR_F_CAS ? op->value_to : op->value,
                        .inv = i,
                        .done = type == TR_OP_OK ? done : SIZE_MAX,
                        .acked = type == TR_OP_OK};
    }
    qsort(w, n, sizeof *w, cmp_wrec);
    *count = n;
    return w;
}

/* Latest completion among writes of `value` in w[0..n) (SIZE_MAX if one never completed);
 * *found says whether any write wrote it. */
static size_t latest_writer(const wrec *w, size_t n, int64_t value, bool *found) {
    size_t latest = 0;
    *found = false;
    for (size_t i = 0; i < n; i++) {
        if (w[i].value == value) {
            latest = !*found || w[i].done > latest ? w[i].done : latest;
            *found = true;
        }
    }
    return latest;
}

/* One key's writes w[0..n) against one replica's final value: marks lost acked writes. */
static void check_key_writes(wrec *w, size_t n, const tr_replica_entry *final, const tr_history *h,
                             int32_t node, tr_convergence_result *out) {
    bool found = false;
    size_t latest = final ? latest_writer(w, n, final->value, &found) : 0;
    for (size_t i = 0; i < n; i++) {
        /* fine: the final value is w's own, or was written by a write w does not precede */
        bool fine = final && found && (final->value == w[i].value || latest > w[i].inv);
        if (!w[i].acked || fine || w[i].lost) {
            continue;
        }
        w[i].lost = true;
        out->lost_writes++;
        if (out->lost_writes == 1 || w[i].done < out->lost_write.index) {
            out->lost_write = *tr__history_op(h, w[i].done);
            out->lost_on_node = node;
            out->lost_final_present = final != NULL;
            out->lost_final_value = final ? final->value : 0;
        }
    }
}

static void check_replica(wrec *w, size_t nw, const tr_replica_entry *e, size_t ne,
                          const tr_history *h, int32_t node, tr_convergence_result *out) {
    for (size_t start = 0, end; start < nw; start = end) {
        for (end = start + 1; end < nw && w[end].key == w[start].key; end++) {
        }
        check_key_writes(w + start, end - start, find_entry(e, ne, w[start].key), h, node, out);
    }
    for (size_t i = 0; i < ne; i++) { /* phantoms: a final value nobody wrote */
        size_t lo = 0, hi = nw;
        while (lo < hi) { /* first write with key >= e[i].key */
            size_t mid = lo + (hi - lo) / 2;
            lo = w[mid].key < e[i].key ? mid + 1 : lo;
            hi = w[mid].key < e[i].key ? hi : mid;
        }
        size_t end = lo;
        while (end < nw && w[end].key == e[i].key) {
            end++;
        }
        bool found;
        latest_writer(w + lo, end - lo, e[i].value, &found);
        if (!found && out->phantoms++ == 0) {
            out->phantom_key = e[i].key;
            out->phantom_value = e[i].value;
            out->phantom_node = node;
        }
    }
}

int tr__checkers_convergence(const tr_history *h, const tr_replica_state *replicas, size_t n,
                             tr_convergence_result *out) {
    TR_ASSERT(h && out && (replicas || n == 0));
    memset(out, 0, sizeof *out);
    out->agree = true;
    if (n == 0) {
        return TR_EINVAL;
    }
    tr_replica_entry **sorted = calloc(n, sizeof *sorted);
    int rc = sorted ? sort_replicas(replicas, n, sorted) : TR_ENOMEM;
    rc = rc ? rc : check_agreement(replicas, sorted, n, out);
    size_t nw = 0;
    wrec *w = rc ? NULL : collect_writes(h, &nw);
    rc = rc ? rc : (w ? 0 : TR_ENOMEM);
    for (size_t r = 0; rc == 0 && r < n; r++) {
        check_replica(w, nw, sorted[r], replicas[r].count, h, replicas[r].node, out);
    }
    for (size_t r = 0; sorted && r < n; r++) {
        free(sorted[r]);
    }
    free(sorted);
    free(w);
    out->ok = rc == 0 && out->agree && out->lost_writes == 0 && out->phantoms == 0;
    return rc;
}
