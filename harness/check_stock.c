/* check_stock.c — stock never negative, conservation / no double charge (check_stock.h). */
#include "harness/check_stock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe.h"

/* One reservation id: every attempt of it (reserve or restock, same item and qty). */
typedef struct id_rec {
    int64_t id;
    int64_t item;
    int64_t qty;
    uint8_t f;
    bool has_ok;      /* some attempt completed ok: applied (once) */
    bool possible;    /* some attempt ok, info or pending: may have been applied */
    bool refused;     /* some attempt failed "out of stock": the id's definite outcome */
    bool supply_done; /* counted in the running supply bound */
    bool demand_done; /* counted in the running demand bound */
    bool seen;        /* read bounds: its first attempt was invoked */
    bool ok_seen;     /* read bounds: its first ok completion was seen */
    uint32_t attempts;
    size_t last_invoke;  /* history index of its latest attempt */
    size_t first_invoke; /* ... of its first attempt */
    size_t retry_invoke; /* ... of its second attempt (the first retry), SIZE_MAX if none */
    size_t ok_index;     /* its first ok completion, SIZE_MAX if none */
} id_rec;

typedef struct attempt {
    int64_t id;
    size_t index; /* the invoke */
} attempt;

static int cmp_attempt(const void *a, const void *b) {
    const attempt *x = a, *y = b;
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return (x->index > y->index) - (x->index < y->index);
}

/* The operation names the checks know, by code. */
enum {
    F_OTHER = 0,
    F_READ = 1,
    F_RESERVE = 2,
    F_RESTOCK = 3
};

static uint8_t f_code(const char *f) {
    return !strcmp(f, "read")      ? F_READ
           : !strcmp(f, "reserve") ? F_RESERVE
           : !strcmp(f, "restock") ? F_RESTOCK
                                   : F_OTHER;
}

typedef struct scratch {
    size_t n_ops;
    tr_history_op *ops; /* the history, read once through the public API */
    uint8_t *fc;        /* each op's F_* code */
    size_t *partner;    /* an invoke's completion and back; SIZE_MAX: none */
    attempt *att;
    id_rec *recs;
    size_t n_recs;
    uint32_t *rec_of; /* op index -> id record + 1 (0: none) */
} scratch;

static bool is_change(const scratch *s, size_t i) {
    return s->fc[i] == F_RESERVE || s->fc[i] == F_RESTOCK;
}

/* The completion type of invoke i: TR_HISTORY_INFO when it is still pending. */
static tr_history_type outcome(const scratch *s, size_t i) {
    size_t p = s->partner[i];
    return p == SIZE_MAX ? TR_HISTORY_INFO : s->ops[p].type;
}

static void scratch_free(scratch *s) {
    free(s->ops);
    free(s->fc);
    free(s->partner);
    free(s->att);
    free(s->recs);
    free(s->rec_of);
}

/* Reads the history into s->ops and pairs each invoke with the next op of its process (the
 * history's invariant: a process alternates invoke and completion). att is the scratch for
 * the sort (n_ops entries). */
static int read_history(const tr_history *h, scratch *s) {
    for (size_t i = 0; i < s->n_ops; i++) {
        if (tr_history_get(h, i, &s->ops[i]) != 0) {
            return TR_EINVAL;
        }
        s->fc[i] = f_code(s->ops[i].f);
        s->partner[i] = SIZE_MAX;
        s->att[i] = (attempt){s->ops[i].process, i};
    }
    qsort(s->att, s->n_ops, sizeof *s->att, cmp_attempt);
    for (size_t k = 0; k + 1 < s->n_ops; k++) {
        size_t a = s->att[k].index, b = s->att[k + 1].index;
        if (s->att[k].id == s->att[k + 1].id && s->ops[a].type == TR_HISTORY_INVOKE &&
            s->ops[b].type != TR_HISTORY_INVOKE) {
            s->partner[a] = b;
            s->partner[b] = a;
        }
    }
    return 0;
}

/* Groups the attempts by id into recs[], and maps each attempt's ops to its record. */
static int build_ids(size_t items, scratch *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->n_ops; i++) {
        const tr_history_op *op = &s->ops[i];
        if (op->key < 0 || (uint64_t)op->key >= items) {
            return TR_EINVAL;
        }
        if (op->type == TR_HISTORY_INVOKE && is_change(s, i)) {
            s->att[n++] = (attempt){op->value_to, i};
        }
    }
    qsort(s->att, n, sizeof *s->att, cmp_attempt);
    for (size_t i = 0; i < n; i++) {
        const tr_history_op *op = &s->ops[s->att[i].index];
        uint8_t f = s->fc[s->att[i].index];
        if (i == 0 || s->att[i].id != s->att[i - 1].id) {
            s->recs[s->n_recs++] = (id_rec){.id = op->value_to,
                                            .item = op->key,
                                            .qty = op->value,
                                            .f = f,
                                            .ok_index = SIZE_MAX,
                                            .retry_invoke = SIZE_MAX,
                                            .first_invoke = s->att[i].index};
        }
        id_rec *r = &s->recs[s->n_recs - 1];
        if (r->item != op->key || r->qty != op->value || r->f != f) {
            return TR_EINVAL; /* one id, two different operations */
        }
        tr_history_type type = outcome(s, s->att[i].index);
        size_t done = s->partner[s->att[i].index];
        r->attempts++;
        r->last_invoke = s->att[i].index;
        r->retry_invoke = r->attempts == 2 ? s->att[i].index : r->retry_invoke;
        r->possible |= type != TR_HISTORY_FAIL;
        r->refused |=
            type == TR_HISTORY_FAIL && strcmp(s->ops[done].error, TR_STOCK_OUT_OF_STOCK) == 0;
        if (type == TR_HISTORY_OK && !r->has_ok) {
            r->has_ok = true;
            r->ok_index = done;
        }
        s->rec_of[s->att[i].index] = (uint32_t)s->n_recs;
        if (done != SIZE_MAX) {
            s->rec_of[done] = (uint32_t)s->n_recs;
        }
    }
    return 0;
}

static void note_negative(tr_stock_check_result *out, const tr_history_op *op, int64_t item,
                          int64_t level) {
    if (!out->has_negative_op) {
        out->has_negative_op = true;
        out->negative_op = *op;
        out->negative_item = item;
        out->negative_level = level;
    }
}

/* Invariant (a), parts 1 (reads) and 2 (the running bound), in history order. */
static int check_running(const tr_stock_check_input *in, scratch *s, tr_stock_check_result *out) {
    int64_t *supply = calloc(in->items, sizeof *supply);
    int64_t *demand = calloc(in->items, sizeof *demand);
    if (supply == NULL || demand == NULL) {
        free(supply);
        free(demand);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_ops; i++) {
        const tr_history_op *op = &s->ops[i];
        id_rec *r = s->rec_of[i] ? &s->recs[s->rec_of[i] - 1] : NULL;
        if (s->fc[i] == F_READ && op->type == TR_HISTORY_OK && op->has_value && op->value < 0) {
            out->negative_reads++;
            note_negative(out, op, op->key, op->value);
        } else if (r && r->f == F_RESTOCK && op->type == TR_HISTORY_INVOKE && !r->supply_done &&
                   outcome(s, i) != TR_HISTORY_FAIL) {
            r->supply_done = true;
            supply[op->key] += r->qty;
        } else if (r && r->f == F_RESERVE && op->type == TR_HISTORY_OK && !r->demand_done) {
            r->demand_done = true;
            demand[op->key] += r->qty;
            int64_t room = in->initial + supply[op->key] - demand[op->key];
            if (room < 0) {
                out->oversold_reserves++;
                note_negative(out, op, op->key, room);
            }
        }
    }
    free(supply);
    free(demand);
    return 0;
}

/* The read bounds' running sums of one item (see check_reads). */
typedef struct read_sums {
    int64_t sup_ok, sup_pos, dem_ok, dem_pos;
} read_sums;

/* Adds op i's id to the running sums the first time it is invoked / completed ok. */
static void read_sums_add(const scratch *s, size_t i, const tr_history_op *op, read_sums *sum) {
    id_rec *r = s->rec_of[i] ? &s->recs[s->rec_of[i] - 1] : NULL;
    if (r == NULL) {
        return;
    }
    bool restock = r->f == F_RESTOCK;
    if (op->type == TR_HISTORY_INVOKE && !r->seen) {
        r->seen = true;
        bool may = r->possible && (restock || r->has_ok || !r->refused);
        *(restock ? &sum->sup_pos : &sum->dem_pos) += may ? r->qty : 0;
    } else if (op->type == TR_HISTORY_OK && !r->ok_seen) {
        r->ok_seen = true;
        *(restock ? &sum->sup_ok : &sum->dem_ok) += r->qty;
    }
}

static void note_read(tr_stock_check_result *out, const tr_history_op *op, int64_t lo, int64_t hi) {
    if (!out->has_read_op) {
        out->has_read_op = true;
        out->read_op = *op;
        out->read_lower = lo;
        out->read_upper = hi;
    }
}

/* Invariant (b) on every ok read: the level read lies in
 *   [initial + restocks acknowledged before the read began - reservations that may have
 *    been charged before it ended, initial + restocks that may have been applied before it
 *    ended - reservations acknowledged before it began]. */
static int check_reads(const tr_stock_check_input *in, const scratch *s,
                       tr_stock_check_result *out) {
    read_sums *sum = calloc(in->items, sizeof *sum);
    read_sums *snap = calloc(s->n_ops ? s->n_ops : 1, sizeof *snap); /* at read invokes */
    if (sum == NULL || snap == NULL) {
        free(sum);
        free(snap);
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_ops; i++) {
        const tr_history_op *op = &s->ops[i];
        read_sums *x = &sum[op->key];
        read_sums_add(s, i, op, x);
        if (s->fc[i] != F_READ) {
            continue;
        }
        if (op->type == TR_HISTORY_INVOKE) {
            snap[i] = *x;
        } else if (op->type == TR_HISTORY_OK && op->has_value && s->partner[i] != SIZE_MAX) {
            const read_sums *at = &snap[s->partner[i]];
            int64_t lo = in->initial + at->sup_ok - x->dem_pos;
            int64_t hi = in->initial + x->sup_pos - at->dem_ok;
            out->reads_below += op->value < lo;
            out->reads_above += op->value > hi;
            if (op->value < lo || op->value > hi) {
                note_read(out, op, lo, hi);
            }
        }
    }
    free(sum);
    free(snap);
    return 0;
}

static void item_bounds(const tr_stock_check_input *in, const scratch *s, size_t item,
                        tr_stock_bounds *b) {
    *b = (tr_stock_bounds){.lower = in->initial,
                           .upper = in->initial,
                           .known = in->final_known[item],
                           .final = in->final_level[item]};
    for (size_t k = 0; k < s->n_recs; k++) {
        const id_rec *r = &s->recs[k];
        if ((size_t)r->item != item) {
            continue;
        }
        if (r->f == F_RESTOCK) {
            b->lower += r->has_ok ? r->qty : 0;
            b->upper += r->possible ? r->qty : 0;
        } else {
            b->lower -= r->possible && (r->has_ok || !r->refused) ? r->qty : 0;
            b->upper -= r->has_ok ? r->qty : 0;
        }
    }
}

/* The op to blame for item's broken conservation: the first retry (its completion, else its
 * invoke) of the retried reserve id of that item invoked last before `limit` (a history
 * index: the first read showing the damage, which the id's first charge preceded), else of
 * the id retried last, else the item's last ok reserve. */
static void find_suspect(const tr_stock_check_input *in, const scratch *s, int64_t item,
                         size_t limit, tr_stock_check_result *out) {
    const id_rec *best = NULL, *fallback = NULL, *last_ok = NULL;
    for (size_t k = 0; k < s->n_recs; k++) {
        const id_rec *r = &s->recs[k];
        if (r->item != item || r->f != F_RESERVE || !r->possible) {
            continue;
        }
        if (r->attempts > 1 && r->first_invoke < limit &&
            (best == NULL || r->first_invoke > best->first_invoke)) {
            best = r;
        }
        if (r->attempts > 1 && (fallback == NULL || r->retry_invoke > fallback->retry_invoke)) {
            fallback = r;
        }
        if (r->has_ok && (last_ok == NULL || r->ok_index > last_ok->ok_index)) {
            last_ok = r;
        }
    }
    const id_rec *r = best ? best : fallback;
    if (r != NULL) {
        out->has_suspect_op = true;
        size_t done = s->partner[r->retry_invoke];
        out->suspect_op = s->ops[done != SIZE_MAX ? done : r->retry_invoke];
    } else if (last_ok != NULL) {
        out->has_suspect_op = true;
        out->suspect_op = s->ops[last_ok->ok_index];
    }
}

static void check_conservation(const tr_stock_check_input *in, const scratch *s,
                               tr_stock_check_result *out) {
    if (out->has_read_op) { /* the earliest evidence: blame an id acknowledged before it */
        find_suspect(in, s, out->read_op.key, out->read_op.index, out);
    }
    for (size_t item = 0; item < in->items; item++) {
        tr_stock_bounds b;
        item_bounds(in, s, item, &b);
        if (in->bounds != NULL) {
            in->bounds[item] = b;
        }
        if (!b.known) {
            out->items_unknown++;
            continue;
        }
        if (b.final < 0) {
            out->negative_finals++;
            if (!out->has_negative_op && out->negative_finals == 1) {
                out->negative_item = (int64_t)item;
                out->negative_level = b.final;
            }
        }
        bool below = b.final<b.lower, above = b.final> b.upper;
        out->items_below += below;
        out->items_above += above;
        if ((below || above) && out->items_below + out->items_above == 1) {
            out->bad_item = (int64_t)item;
            out->bad_bounds = b;
            if (!out->has_suspect_op) {
                find_suspect(in, s, (int64_t)item, SIZE_MAX, out);
            }
        }
    }
}

static void count_ids(const scratch *s, tr_stock_check_result *out) {
    for (size_t k = 0; k < s->n_recs; k++) {
        out->reserve_ids += s->recs[k].f == F_RESERVE;
        out->restock_ids += s->recs[k].f == F_RESTOCK;
        out->retried_ids += s->recs[k].attempts > 1;
    }
}

/* The history of h read into s, its ids grouped; scratch_free after, whatever the result. */
static int scratch_init(const tr_history *h, size_t items, scratch *s) {
    *s = (scratch){.n_ops = tr_history_count(h)};
    size_t cap = s->n_ops ? s->n_ops : 1;
    s->ops = malloc(cap * sizeof *s->ops);
    s->fc = malloc(cap * sizeof *s->fc);
    s->partner = malloc(cap * sizeof *s->partner);
    s->att = malloc(cap * sizeof *s->att);
    s->recs = malloc(cap * sizeof *s->recs);
    s->rec_of = calloc(cap, sizeof *s->rec_of);
    int rc = s->ops && s->fc && s->partner && s->att && s->recs && s->rec_of ? 0 : TR_ENOMEM;
    rc = rc ? rc : read_history(h, s);
    return rc ? rc : build_ids(items, s);
}

static int check_scratch(const tr_stock_check_input *in, scratch *s, tr_stock_check_result *out) {
    int rc = check_running(in, s, out);
    rc = rc ? rc : check_reads(in, s, out);
    if (rc == 0) {
        check_conservation(in, s, out);
        count_ids(s, out);
        out->never_negative =
            out->negative_reads + out->negative_finals + out->oversold_reserves == 0;
        out->conserved =
            out->items_below + out->items_above + out->reads_below + out->reads_above == 0;
        out->ok = out->never_negative && out->conserved;
    }
    return rc;
}

static bool input_ok(const tr_stock_check_input *in) {
    return in != NULL && in->h != NULL && in->items > 0 && in->items <= TR_STOCK_CHECK_ITEMS_MAX &&
           in->final_level != NULL && in->final_known != NULL;
}

int tr__check_stock(const tr_stock_check_input *in, tr_stock_check_result *out) {
    memset(out, 0, sizeof *out);
    if (!input_ok(in)) {
        return TR_EINVAL;
    }
    scratch s;
    int rc = scratch_init(in->h, in->items, &s);
    rc = rc ? rc : check_scratch(in, &s, out);
    scratch_free(&s);
    return rc;
}

/* ---- explaining a verdict ------------------------------------------------------------ */

static const char *type_name(tr_history_type t) {
    return t == TR_HISTORY_INVOKE ? "invoke"
           : t == TR_HISTORY_OK   ? "ok"
           : t == TR_HISTORY_FAIL ? "fail"
                                  : "info";
}

void tr__check_stock_op_format(char *buf, size_t cap, const tr_history_op *op) {
    char what[64];
    const char *error = op->error ? op->error : "";
    if (f_code(op->f) == F_READ) {
        snprintf(what, sizeof what, "-> %" PRId64, op->value);
    } else {
        snprintf(what, sizeof what, "qty %" PRId64 " id %" PRId64 ":%" PRId64, op->value,
                 op->value_to >> 32, op->value_to & 0xffffffff);
    }
    snprintf(buf, cap,
             "#%" PRIu64 " %s item %" PRId64 " %s %s%s%s%s by p%" PRId64 " on n%d "
             "at %.3fs",
             op->index, op->f, op->key, what, type_name(op->type), error[0] ? " (" : "", error,
             error[0] ? ")" : "", op->process, op->node + 1, (double)op->time_ns / 1e9);
}

#define DOUBLE_CHARGE_TEXT "a double charge, or a charge answered as refused"

/* Conservation: the first read out of its bounds, else the first final level out of them;
 * then the suspect reservation. */
static void conservation_why(const tr_stock_check_result *c, char *why, size_t cap) {
    char op[200] = "";
    size_t n;
    if (c->has_read_op) {
        const tr_history_op *r = &c->read_op;
        bool below = r->value < c->read_lower;
        tr__check_stock_op_format(op, sizeof op, r);
        n = (size_t)snprintf(why, cap,
                             "item %" PRId64 " read %" PRId64 ", %s the bounds [%" PRId64
                             ", %" PRId64 "] of its time (%s): %s",
                             r->key, r->value, below ? "below" : "above", c->read_lower,
                             c->read_upper, op, below ? DOUBLE_CHARGE_TEXT : "a lost charge");
    } else {
        const tr_stock_bounds *b = &c->bad_bounds;
        bool below = b->final < b->lower;
        n = (size_t)snprintf(why, cap,
                             "item %" PRId64 " ends at %" PRId64 ", %s the bounds [%" PRId64
                             ", %" PRId64 "] the history allows: %s",
                             c->bad_item, b->final, below ? "below" : "above", b->lower, b->upper,
                             below ? DOUBLE_CHARGE_TEXT : "a lost charge");
    }
    if (c->has_suspect_op && n < cap) {
        tr__check_stock_op_format(op, sizeof op, &c->suspect_op);
        snprintf(why + n, cap - n, "; suspect %s", op);
    }
}

void tr__check_stock_explain(const tr_stock_check_result *c, char *why, size_t cap) {
    char op[200] = "";
    size_t n = 0;
    if (cap == 0) {
        return;
    }
    why[0] = '\0';
    /* the first offending op of (a) */
    if (!c->never_negative) {
        if (c->has_negative_op) {
            tr__check_stock_op_format(op, sizeof op, &c->negative_op);
            n += (size_t)snprintf(why, cap,
                                  "stock went negative: item %" PRId64 " at %" PRId64 " (%s)",
                                  c->negative_item, c->negative_level, op);
        } else {
            n +=
                (size_t)snprintf(why, cap, "stock went negative: item %" PRId64 " ends at %" PRId64,
                                 c->negative_item, c->negative_level);
        }
    }
    if (!c->conserved && n < cap) {
        n += (size_t)snprintf(why + n, cap - n, "%s", n ? "; " : "");
        conservation_why(c, why + n, n < cap ? cap - n : 0);
    }
}

void tr__check_stock_final_levels(const tr_history *h, size_t items, int64_t *levels, bool *known) {
    size_t n = tr_history_count(h), start = 0;
    tr_history_op op;
    for (size_t i = 0; i < items; i++) {
        levels[i] = 0;
        known[i] = false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t f = tr_history_get(h, i, &op) == 0 ? f_code(op.f) : F_OTHER;
        start = f == F_RESERVE || f == F_RESTOCK ? i + 1 : start;
    }
    /* the last ok read of each item from there on (a read still open at the last change
     * completing there is overridden by the final read of its item, which comes later) */
    for (size_t i = start; i < n; i++) {
        if (tr_history_get(h, i, &op) != 0 || op.type != TR_HISTORY_OK || f_code(op.f) != F_READ ||
            !op.has_value || op.key < 0 || (uint64_t)op.key >= items) {
            continue;
        }
        levels[op.key] = op.value;
        known[op.key] = true;
    }
}

/* ---- a stock run's report ------------------------------------------------------------ */

/* Counts, refusals per side and unresolved ids in one pass over the scratch's history. */
static void report_counts(const scratch *s, const tr_stock_window *w, tr_stock_report *out) {
    static const int slot[] = {[F_READ] = 0, [F_RESERVE] = 1, [F_RESTOCK] = 2};
    for (size_t i = 0; i < s->n_ops; i++) {
        const tr_history_op *op = &s->ops[i];
        out->ops += op->type == TR_HISTORY_INVOKE;
        out->ok += op->type == TR_HISTORY_OK;
        out->fail += op->type == TR_HISTORY_FAIL;
        out->info += op->type == TR_HISTORY_INFO;
        if (s->fc[i] != F_OTHER) {
            out->f_all[slot[s->fc[i]]] += op->type == TR_HISTORY_INVOKE;
            out->f_ok[slot[s->fc[i]]] += op->type == TR_HISTORY_OK;
        }
        size_t inv = s->partner[i];
        if (op->type != TR_HISTORY_FAIL || inv == SIZE_MAX ||
            strcmp(op->error ? op->error : "", TR_STOCK_OUT_OF_STOCK) != 0) {
            continue;
        }
        out->refused[0]++;
        int64_t t = s->ops[inv].time_ns;
        if (w->partitioned && t >= (int64_t)w->from_ns && t < (int64_t)w->to_ns && op->node >= 0) {
            out->refused[(w->minority_nodes >> op->node & 1) ? 2 : 1]++;
        }
    }
}

/* Ids with no attempt ok or failed for certain (a refused send did nothing). */
static int report_unresolved(const scratch *s, tr_stock_report *out) {
    bool *resolved = calloc(s->n_recs ? s->n_recs : 1, sizeof *resolved);
    if (resolved == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < s->n_ops; i++) {
        size_t d = s->partner[i];
        if (s->rec_of[i] == 0 || s->ops[i].type != TR_HISTORY_INVOKE || d == SIZE_MAX) {
            continue;
        }
        const tr_history_op *c = &s->ops[d];
        resolved[s->rec_of[i] - 1] |=
            c->type == TR_HISTORY_OK ||
            (c->type == TR_HISTORY_FAIL && strcmp(c->error ? c->error : "", "send refused") != 0);
    }
    for (size_t k = 0; k < s->n_recs; k++) {
        out->unresolved_ids += !resolved[k];
    }
    free(resolved);
    return 0;
}

int tr__stock_report(const tr_history *h, size_t items, int64_t initial, const tr_stock_window *w,
                     tr_stock_report *out) {
    memset(out, 0, sizeof *out);
    out->items = items < TR_STOCK_REPORT_ITEMS_MAX ? items : TR_STOCK_REPORT_ITEMS_MAX;
    tr__check_stock_final_levels(h, out->items, out->final_level, out->final_known);
    tr_stock_check_input in = {.h = h,
                               .items = out->items,
                               .initial = initial,
                               .final_level = out->final_level,
                               .final_known = out->final_known,
                               .bounds = out->bounds};
    if (!input_ok(&in)) {
        return TR_EINVAL;
    }
    scratch s;
    int rc = scratch_init(h, out->items, &s);
    rc = rc ? rc : check_scratch(&in, &s, &out->chk);
    if (rc == 0) {
        report_counts(&s, w, out);
        rc = report_unresolved(&s, out);
    }
    scratch_free(&s);
    return rc;
}
