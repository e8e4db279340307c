/* check_counter.c — the checks of the counter service (harness/builtin_counter.h): the
 * bounds every read must respect, and the final value the acknowledged and indeterminate
 * adds allow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/builtin_counter.h"

/* One operation of the history: where its invoke and completion are. */
typedef struct cop {
    bool read;
    int32_t node;
    int64_t process;
    int64_t value; /* add: the delta; read: what it read */
    int64_t invoked_ns, completed_ns;
    tr_history_type outcome; /* TR_HISTORY_INVOKE: never completed */
} cop;

#define NONE ((size_t)-1)

/* The adds and reads of h in invoke order (*ops, *op_count of them) and, per history entry, the operation it
 * belongs to (*at, NONE for others). Both owned by the caller (free). 0 or TR_ENOMEM. */
static int collect(const tr_history *h, cop **ops, size_t *op_count, size_t **at, size_t *count) {
    size_t n = tr_history_count(h), k = 0;
    cop *o = calloc(n ? n : 1, sizeof *o);
    size_t *a = malloc((n ? n : 1) * sizeof *a);
    tr_history_op op;
    if (o == NULL || a == NULL) {
        free(o);
        free(a);
        return TR_ENOMEM;
    }
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        a[i] = NONE;
        bool read = !strcmp(op.f, "read");
        if (!read && strcmp(op.f, "add") != 0) {
            continue;
        }
        if (op.type == TR_HISTORY_INVOKE) {
            o[k] = (cop){.read = read,
                         .node = op.node,
                         .process = op.process,
                         .value = op.value,
                         .invoked_ns = op.time_ns};
            a[i] = k++;
            continue;
        }
        for (size_t j = k; j-- > 0;) { /* the process's open operation */
            if (o[j].process == op.process && o[j].outcome == TR_HISTORY_INVOKE) {
                o[j].outcome = op.type;
                o[j].completed_ns = op.time_ns;
                o[j].value = read ? op.value : o[j].value;
                a[i] = j;
                break;
            }
        }
    }
    *ops = o;
    *op_count = k;
    *at = a;
    *count = n;
    return 0;
}

tr_verdict tr__counter_check_reads(const tr_check_input *in, char *why, size_t cap) {
    cop *o = NULL;
    size_t *at = NULL, n = 0, count = 0, reads = 0;
    if (collect(in->history, &o, &count, &at, &n) != 0) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    int64_t inv_pos = 0, inv_neg = 0, done_pos[TR_SIM_NODES_MAX] = {0},
            done_neg[TR_SIM_NODES_MAX] = {0};
    int64_t *must =
        calloc(count ? 2 * count : 1, sizeof *must); /* per read: [pos, neg] at invoke */
    tr_verdict v = must ? TR_VERDICT_HELD : TR_VERDICT_UNKNOWN;
    snprintf(why, cap,
             must ? "every read within the bounds of the adds it may have seen" : "out of memory");
    tr_history_op op;
    for (size_t i = 0; v == TR_VERDICT_HELD && tr_history_get(in->history, i, &op) == 0; i++) {
        if (at[i] == NONE) {
            continue;
        }
        const cop *c = &o[at[i]];
        bool local = c->node >= 0 && c->node < TR_SIM_NODES_MAX;
        int64_t d = c->value;
        if (!c->read && op.type == TR_HISTORY_INVOKE && c->outcome != TR_HISTORY_FAIL) {
            *(d > 0 ? &inv_pos : &inv_neg) += d;
        } else if (!c->read && op.type == TR_HISTORY_OK && local) {
            *(d > 0 ? &done_pos[c->node] : &done_neg[c->node]) += d;
        } else if (c->read && op.type == TR_HISTORY_INVOKE) {
            must[2 * at[i]] = local ? done_pos[c->node] : 0;
            must[2 * at[i] + 1] = local ? done_neg[c->node] : 0;
        } else if (c->read && op.type == TR_HISTORY_OK) {
            int64_t lo = must[2 * at[i]] + inv_neg, hi = inv_pos + must[2 * at[i] + 1];
            reads++;
            if (c->value < lo || c->value > hi) {
                v = TR_VERDICT_VIOLATED;
                snprintf(why, cap, "read %lld at n%d (history index %zu) outside [%lld, %lld]",
                         (long long)c->value, c->node + 1, i, (long long)lo, (long long)hi);
            }
        }
    }
    tr_check_measure(in, "reads", (double)reads);
    free(must);
    free(o);
    free(at);
    return v;
}

/* A set of integers, lo .. lo + width - 1, as a byte per value (owned: free can). */
typedef struct sums {
    int64_t lo;
    size_t width;
    uint8_t *can;
} sums;

#define SUMS_WIDTH_MAX ((int64_t)1 << 24)

/* The sums of the subsets of d[0..n) into *out: 0, or -1 when they span more than
 * SUMS_WIDTH_MAX values (or memory ran out). */
static int subset_sums(const int64_t *d, size_t n, sums *out) {
    int64_t neg = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        *(d[i] > 0 ? &pos : &neg) += d[i];
    }
    if (pos - neg > SUMS_WIDTH_MAX) {
        return -1;
    }
    size_t width = (size_t)(pos - neg) + 1;
    uint8_t *can = calloc(width, 1); /* can[s - neg]: s is a subset's sum */
    if (can == NULL) {
        return -1;
    }
    can[-neg] = 1;
    for (size_t i = 0; i < n; i++) {
        if (d[i] > 0) {
            for (size_t s = width; s-- > (size_t)d[i];) {
                can[s] |= can[s - (size_t)d[i]];
            }
        } else {
            for (size_t s = 0; s + (size_t)-d[i] < width; s++) {
                can[s] |= can[s + (size_t)-d[i]];
            }
        }
    }
    *out = (sums){neg, width, can};
    return 0;
}

static bool sums_has(const sums *s, int64_t v) {
    return v >= s->lo && v - s->lo < (int64_t)s->width && s->can[v - s->lo];
}

/* Whether target is the sum of some subset of d[0..n): 1, 0, or -1 when the sums span more
 * than SUMS_WIDTH_MAX values (or memory ran out). */
static int subset_sum(const int64_t *d, size_t n, int64_t target) {
    sums t;
    if (subset_sums(d, n, &t) != 0) {
        return -1;
    }
    int r = sums_has(&t, target);
    free(t.can);
    return r;
}

/* a = { x + y : x in a, y in b }: 0, or -1 (too wide, or out of memory; a unchanged). */
static int sums_add(sums *a, const sums *b) {
    if ((int64_t)(a->width + b->width) > SUMS_WIDTH_MAX) {
        return -1;
    }
    uint8_t *can = calloc(a->width + b->width - 1, 1);
    if (can == NULL) {
        return -1;
    }
    for (size_t x = 0; x < a->width; x++) {
        for (size_t y = 0; a->can[x] && y < b->width; y++) {
            can[x + y] |= b->can[y];
        }
    }
    free(a->can);
    *a = (sums){a->lo + b->lo, a->width + b->width - 1, can};
    return 0;
}

/* Node k's final value, or false when it has none (down) or it is not an integer. */
static bool final_value(const tr_check_input *in, uint32_t k, int64_t *v) {
    tr_mp_reader r;
    if (in->states == NULL || in->states[k] == NULL) {
        return false;
    }
    tr_mp_reader_init(&r, in->states[k], in->state_lens[k]);
    return tr_mp_read_int(&r, v) == 0 && tr_mp_reader_done(&r) == 0;
}

/* The up nodes' common final value into *value: HELD, VIOLATED (they disagree) or UNKNOWN
 * (none answered), with why set unless HELD. */
static tr_verdict final_agreed(const tr_check_input *in, int64_t *value, char *why, size_t cap) {
    int64_t first = 0, v;
    uint32_t answered = 0, first_node = 0;
    for (uint32_t k = 0; k < in->node_count; k++) {
        if (!final_value(in, k, &v)) {
            continue;
        }
        if (answered++ == 0) {
            first = v;
            first_node = k;
        } else if (v != first) {
            snprintf(why, cap, "replicas disagree after heal: n%u has %lld, n%u %lld",
                     first_node + 1, (long long)first, k + 1, (long long)v);
            return TR_VERDICT_VIOLATED;
        }
    }
    if (answered == 0) {
        snprintf(why, cap, "no node answered its final state");
        return TR_VERDICT_UNKNOWN;
    }
    *value = first;
    return TR_VERDICT_HELD;
}

/* The time a "corrupt" fault tore node's disk (it never came back), or -1. */
static int64_t torn_at(const tr_check_input *in, int32_t node) {
    for (uint32_t i = 0; node >= 0 && node < 64 && i < in->fault_count; i++) {
        const tr_fault_span *f = &in->faults[i];
        if (f->kind != NULL && !strcmp(f->kind, "corrupt") && (f->nodes >> node & 1)) {
            return (int64_t)f->start_ns;
        }
    }
    return -1;
}

/* What the acknowledged adds of node k, whose disk was torn, can add to the survivors' value,
 * into *out. The survivors hold the node's own entry as it last gossiped it: the adds it had
 * applied by some moment T before the tear. So for some T, every add completed before T
 * counts, none invoked after T, and any of those in flight at T may. 0 or -1. */
static int torn_node_sums(const cop *o, size_t count, int32_t k, int64_t tear, sums *out) {
    int64_t neg = 0, pos = 0;
    for (size_t j = 0; j < count; j++) {
        if (!o[j].read && o[j].node == k && o[j].outcome == TR_HISTORY_OK) {
            *(o[j].value > 0 ? &pos : &neg) += o[j].value;
        }
    }
    if (pos - neg > SUMS_WIDTH_MAX) {
        return -1;
    }
    *out = (sums){neg, (size_t)(pos - neg) + 1, calloc((size_t)(pos - neg) + 1, 1)};
    int64_t *span = malloc((count ? count : 1) * sizeof *span);
    int rc = out->can != NULL && span != NULL ? 0 : -1;
    for (size_t c = 0; rc == 0 && c <= count; c++) { /* T: each add's invoke, or the tear */
        if (c < count && (o[c].read || o[c].node != k || o[c].outcome != TR_HISTORY_OK)) {
            continue;
        }
        int64_t t = c < count ? o[c].invoked_ns : tear, base = 0;
        size_t nspan = 0;
        for (size_t j = 0; j < count; j++) {
            if (o[j].read || o[j].node != k || o[j].outcome != TR_HISTORY_OK) {
                continue;
            }
            if (o[j].completed_ns < t) {
                base += o[j].value;
            } else if (o[j].invoked_ns < t) {
                span[nspan++] = o[j].value;
            }
        }
        sums sp;
        rc = subset_sums(span, nspan, &sp);
        for (size_t v = 0; rc == 0 && v < sp.width; v++) {
            if (sp.can[v]) {
                out->can[base + sp.lo + (int64_t)v - out->lo] = 1;
            }
        }
        free(rc == 0 ? sp.can : NULL);
    }
    free(span);
    return rc;
}

/* Whether value is what the survivors may hold when the disks of the nodes in torn (a bit
 * per node) were torn: the acknowledged adds of the other nodes, what each torn node's last
 * gossip carried (torn_node_sums) and a subset of the indeterminate adds. 1, 0, -1 (too
 * many to decide). */
static int torn_allows(const tr_check_input *in, const cop *o, size_t count, uint64_t torn,
                       int64_t value, const int64_t *info, size_t infos) {
    int64_t others = 0;
    for (size_t j = 0; j < count; j++) {
        bool on_torn = o[j].node >= 0 && o[j].node < 64 && (torn >> o[j].node & 1);
        others += !o[j].read && o[j].outcome == TR_HISTORY_OK && !on_torn ? o[j].value : 0;
    }
    sums all;
    if (subset_sums(info, infos, &all) != 0) {
        return -1;
    }
    int rc = 0;
    for (int32_t k = 0; k < 64 && rc == 0; k++) {
        sums part;
        if (torn >> k & 1) {
            rc = torn_node_sums(o, count, k, torn_at(in, k), &part);
            rc = rc == 0 ? sums_add(&all, &part) : rc;
            free(part.can);
        }
    }
    int r = rc == 0 ? sums_has(&all, value - others) : -1;
    free(all.can);
    return r;
}

/* The final value against the adds: the acknowledged sum plus a subset of the indeterminate
 * deltas info[0..infos). When a "corrupt" fault tore the disk of a node (torn: a bit per
 * node) after it acknowledged adds, the adds it had not gossiped yet may be missing: that
 * disk was their only copy. Allowed and counted (torn_excused), as a lost write of the AP
 * register is. */
static tr_verdict final_verdict(const tr_check_input *in, const cop *o, size_t count, int64_t acked,
                                const int64_t *info, size_t infos, uint64_t torn, char *why,
                                size_t cap) {
    int64_t value = 0;
    tr_verdict v = final_agreed(in, &value, why, cap);
    if (v != TR_VERDICT_HELD) {
        return v;
    }
    int ok = subset_sum(info, infos, value - acked), excused = 0;
    if (ok == 0 && torn != 0) {
        ok = excused = torn_allows(in, o, count, torn, value, info, infos);
    }
    tr_check_measure(in, "torn_excused", excused > 0);
    if (ok < 0) {
        snprintf(why, cap, "%zu indeterminate adds: too many to decide", infos);
        return TR_VERDICT_UNKNOWN;
    }
    if (ok == 0) {
        snprintf(why, cap,
                 "final value %lld: not the %lld acknowledged plus a subset of the %zu "
                 "indeterminate adds",
                 (long long)value, (long long)acked, infos);
        return TR_VERDICT_VIOLATED;
    }
    if (excused) {
        snprintf(why, cap,
                 "replicas agree on %lld: the %lld acknowledged and indeterminate adds less the "
                 "last ones of nodes whose disk was then torn (allowed)",
                 (long long)value, (long long)acked);
        return TR_VERDICT_HELD;
    }
    snprintf(why, cap, "replicas agree on %lld: the %lld acknowledged plus indeterminate adds",
             (long long)value, (long long)acked);
    return TR_VERDICT_HELD;
}

tr_verdict tr__counter_check_final(const tr_check_input *in, char *why, size_t cap) {
    cop *o = NULL;
    size_t *at = NULL, n = 0, count = 0, infos = 0, ntorn = 0;
    if (collect(in->history, &o, &count, &at, &n) != 0) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    int64_t acked = 0;
    uint64_t torn = 0;
    int64_t *info = malloc((count ? count : 1) * sizeof *info);
    for (size_t j = 0; info != NULL && j < count; j++) {
        if (o[j].read) {
            continue;
        }
        if (o[j].outcome == TR_HISTORY_OK) {
            int64_t tear = torn_at(in, o[j].node);
            acked += o[j].value;
            if (tear >= o[j].invoked_ns) {
                torn |= 1ull << o[j].node;
                ntorn++;
            }
        } else if (o[j].outcome != TR_HISTORY_FAIL) {
            info[infos++] = o[j].value;
        }
    }
    tr_verdict v = TR_VERDICT_UNKNOWN;
    if (info == NULL) {
        snprintf(why, cap, "out of memory");
    } else {
        v = final_verdict(in, o, count, acked, info, infos, torn, why, cap);
    }
    tr_check_measure(in, "indeterminate_adds", (double)infos);
    tr_check_measure(in, "torn_adds", (double)ntorn);
    free(info);
    free(o);
    free(at);
    return v;
}
