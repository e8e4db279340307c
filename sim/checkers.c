/* checkers.c — availability and latency checkers (see checkers.h). */
#include "sim/checkers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- availability ------------------------------------------------------------------- */

static void count_op(tr_avail_counts *c, int type) {
    c->ok += type == TR_OP_OK;
    c->fail += type == TR_OP_FAIL;
    c->info += type == TR_OP_INFO;
    c->pending += type == TR_OP_INVOKE; /* never completed */
}

static void finish(tr_avail_counts *c) {
    uint64_t done = c->ok + c->fail + c->info;
    c->fraction = done ? (double)c->ok / (double)done : -1.0;
}

int tr__checkers_availability(const tr_history *h, const tr_avail_options *opts,
                              tr_avail_result *out) {
    TR_ASSERT(h && out);
    tr_avail_options o = opts ? *opts : (tr_avail_options){0};
    memset(out, 0, sizeof *out);
    if (o.group_count > TR_AVAIL_GROUPS_MAX || (o.node_count && !o.group_of_node)) {
        return TR_EINVAL;
    }
    for (size_t i = 0; i < o.node_count; i++) {
        if (o.group_of_node[i] < 0 || (size_t)o.group_of_node[i] >= o.group_count) {
            return TR_EINVAL;
        }
    }
    bool whole = o.window_end_ns <= o.window_start_ns;
    out->group_count = o.group_count;
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type != TR_OP_INVOKE) {
            continue;
        }
        size_t done = tr__history_partner(h, i);
        int type = done == SIZE_MAX ? TR_OP_INVOKE : tr__history_op(h, done)->type;
        count_op(&out->all, type);
        if (!whole && (op->time_ns < o.window_start_ns || op->time_ns >= o.window_end_ns)) {
            continue;
        }
        count_op(&out->window, type);
        bool grouped = op->node >= 0 && (size_t)op->node < o.node_count;
        count_op(grouped ? &out->groups[o.group_of_node[op->node]] : &out->ungrouped, type);
    }
    finish(&out->all);
    finish(&out->window);
    finish(&out->ungrouped);
    for (size_t g = 0; g < TR_AVAIL_GROUPS_MAX; g++) {
        finish(&out->groups[g]);
    }
    return 0;
}

/* ---- latency ------------------------------------------------------------------------ */

/* Nearest rank: the smallest value with at least p% of the samples at or below it. */
static int64_t rank(const int64_t *sorted, size_t n, unsigned pct) {
    size_t k = (n * pct + 99) / 100;
    return sorted[k ? k - 1 : 0];
}

int tr__checkers_latency(const tr_history *h, tr_latency *out) {
    TR_ASSERT(h && out);
    memset(out, 0, sizeof *out);
    size_t total = tr__history_count(h), n = 0;
    int64_t *lat = malloc((total ? total : 1) * sizeof *lat);
    if (!lat) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < total; i++) {
        const tr_op *op = tr__history_op(h, i);
        size_t inv = op->type == TR_OP_OK ? tr__history_partner(h, i) : SIZE_MAX;
        if (inv != SIZE_MAX) {
            lat[n++] = op->time_ns - tr__history_op(h, inv)->time_ns;
        }
    }
    qsort(lat, n, sizeof *lat, cmp_i64);
    out->count = n;
    if (n) {
        out->p50_ns = rank(lat, n, 50);
        out->p99_ns = rank(lat, n, 99);
        out->max_ns = lat[n - 1];
    }
    free(lat);
    return 0;
}
