/* check_shop.c — the shop's checks (builtin_shop.h), over the history and the end states in
 * the nodes' stores (read after the heal and the quiet period).
 *
 * The orders of a run are those the audits recorded an order.created event for (every node's
 * audit, merged) and those the history's answers name; each one's end state is read from the
 * stores (tr_entity_check_get: the newest state among the nodes'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/shop_internal.h"
#include "harness/builtin_shop.h"
#include "harness/check_common.h"

#define ITEMS_MAX 64

typedef struct shop_order {
    uint64_t id, key_hash;
    bool known;    /* its state was read */
    bool answered; /* a customer was answered ok naming it */
    bool open;     /* its customer's last order or cancel of it had no ok answer */
    bool orphan;   /* unfinished, with its customer's node torn (world_orphans) */
    tr_order_view v;
    tr_payment_view pay;
    uint32_t events;    /* 1 << TR__TOPIC_*: the events the audits recorded */
    uint32_t premature; /* 1 << TR__TOPIC_*: a subscriber read the order before its commit */
    uint64_t epochs[TR__TOPIC_COUNT]; /* each event's epoch, as an audit recorded it */
} shop_order;

typedef struct shop_world {
    shop_order *orders;
    size_t count, cap;
    int64_t items;
    tr_stock_account acct[ITEMS_MAX];
    bool acct_known[ITEMS_MAX];
    int64_t min_read;            /* the lowest level a read answered */
    bool orphan_item[ITEMS_MAX]; /* an orphan order is on it */
    size_t orphans;
    char failed[120]; /* why the world could not be read ("": it was) */
} shop_world;

static shop_order *order_find(shop_world *w, uint64_t id, bool add) {
    for (size_t i = 0; i < w->count; i++) {
        if (w->orders[i].id == id) {
            return &w->orders[i];
        }
    }
    if (!add) {
        return NULL;
    }
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 256;
        shop_order *o = realloc(w->orders, cap * sizeof *o);
        if (o == NULL) {
            return NULL;
        }
        w->orders = o;
        w->cap = cap;
    }
    w->orders[w->count] = (shop_order){.id = id};
    return &w->orders[w->count++];
}

/* The audits' events, every node's. */
static int read_audits(const tr_check_input *in, shop_world *w) {
    for (uint32_t node = 0; node < in->node_count; node++) {
        uint8_t val[8], rec[TR__AUDIT_RECORD_SIZE], key[5] = {'a'};
        size_t len = 0;
        int rc = tr_check_kv_get(in, node, TR__SHOP_AUDIT_NAME, "n", 1, val, 8, &len);
        if (rc == TR_ENOENT || rc == TR_EIO) {
            continue;
        }
        if (rc != 0 || len != 8) {
            return rc != 0 ? rc : TR_ECORRUPT;
        }
        uint64_t count = tr_load_be64(val);
        for (uint64_t i = 0; i < count && i < TR__AUDIT_MAX; i++) {
            tr_store_be32(key + 1, (uint32_t)i);
            rc = tr_check_kv_get(in, node, TR__SHOP_AUDIT_NAME, key, 5, rec, sizeof rec, &len);
            if (rc != 0 || len != sizeof rec || rec[0] >= TR__TOPIC_COUNT) {
                continue;
            }
            shop_order *o = order_find(w, tr_load_be64(rec + 1), true);
            if (o == NULL) {
                return TR_ENOMEM;
            }
            o->key_hash = tr_load_be64(rec + 9);
            o->events |= 1u << rec[0];
            o->premature |= rec[25] == TR__SEEN_PREMATURE ? 1u << rec[0] : 0;
            o->epochs[rec[0]] = tr_load_be64(rec + 26);
        }
    }
    return 0;
}

/* The history's answered orders and the lowest level a read saw. */
static int read_history(const tr_check_input *in, shop_world *w) {
    tr_history_op op;
    w->min_read = INT64_MAX;
    for (size_t i = 0; i < tr_history_count(in->history); i++) {
        if (tr_history_get(in->history, i, &op) != 0) {
            continue;
        }
        w->items = op.key + 1 > w->items ? op.key + 1 : w->items;
        if (op.type == TR_HISTORY_OK && !strcmp(op.f, "read") && op.has_value &&
            op.value < w->min_read) {
            w->min_read = op.value;
        }
        if ((op.type == TR_HISTORY_OK || op.type == TR_HISTORY_INFO) && !strcmp(op.f, "order") &&
            op.value_to > 0) {
            shop_order *o = order_find(w, (uint64_t)op.value_to, true);
            if (o == NULL) {
                return TR_ENOMEM;
            }
            o->answered |= op.type == TR_HISTORY_OK;
            o->open = op.type != TR_HISTORY_OK;
        }
        if (!strcmp(op.f, "cancel") && op.value > 0) {
            shop_order *o = order_find(w, (uint64_t)op.value, true);
            if (o == NULL) {
                return TR_ENOMEM;
            }
            o->open = op.type != TR_HISTORY_OK;
        }
    }
    return w->items > ITEMS_MAX ? TR_EINVAL : 0;
}

static int read_states(const tr_check_input *in, shop_world *w) {
    for (size_t i = 0; i < w->count; i++) {
        shop_order *o = &w->orders[i];
        uint8_t buf[TR_ENTITY_STATE_MAX];
        size_t len = 0;
        int rc = tr_entity_check_get(in, &tr__order_type, (int64_t)o->id, buf, sizeof buf, &len);
        if (rc == 0 && tr__order_state_decode(buf, len, &o->v) == 0) {
            o->known = true;
            o->key_hash = tr__shop_key_hash(o->v.key, o->v.key_len);
        }
        rc = tr_entity_check_get(in, &tr__payment_type, (int64_t)o->id, buf, sizeof buf, &len);
        if (rc != 0 || tr__payment_state_decode(buf, len, &o->pay) != 0) {
            o->pay = (tr_payment_view){0};
        }
    }
    for (int64_t item = 0; item < w->items; item++) {
        uint8_t buf[TR_ENTITY_STATE_MAX];
        size_t len = 0;
        int rc = tr_entity_check_get(in, &tr__stock_orders_type, item, buf, sizeof buf, &len);
        len = rc == TR_ENOENT ? 0 : len;
        if ((rc == 0 || rc == TR_ENOENT) &&
            tr__stock_orders_account(buf, len, &w->acct[item]) == 0) {
            w->acct_known[item] = true;
        }
    }
    return 0;
}

/* Whether a "corrupt" fault tore node k's data file: it never comes back. */
static bool torn(const tr_check_input *in, int64_t k) {
    for (uint32_t f = 0; f < in->fault_count; f++) {
        if (!strcmp(in->faults[f].kind, "corrupt") && k >= 0 && k < 64 &&
            (in->faults[f].nodes >> k & 1)) {
            return true;
        }
    }
    return false;
}

/* The node of customer c (client id c runs as process c - 1 until its first info), or -1. */
static int64_t customer_node(const tr_check_input *in, uint32_t c) {
    tr_history_op op;
    for (size_t i = 0; c > 0 && tr_history_get(in->history, i, &op) == 0; i++) {
        if (op.process == (int64_t)c - 1) {
            return op.node;
        }
    }
    return -1;
}

/* Orders whose saga no one can finish: its customer's node was torn (the coordinator there
 * kept the order's pending record, the customer who would retry it runs there, and neither
 * comes back) and the order is pending, or its customer's last order or cancel of it was
 * never answered (a compensation may have stopped half done). The shop does
 * not promise these orders an end: their checks are allowed and counted (docs/checkers.md). */
/* When node k's data file was torn ("corrupt": it never comes back), or UINT64_MAX. */
static uint64_t torn_at(const tr_check_input *in, int64_t k) {
    uint64_t at = UINT64_MAX;
    for (uint32_t f = 0; f < in->fault_count; f++) {
        if (!strcmp(in->faults[f].kind, "corrupt") && k >= 0 && k < 64 &&
            (in->faults[f].nodes >> k & 1) && in->faults[f].start_ns < at) {
            at = in->faults[f].start_ns;
        }
    }
    return at;
}

/* Whether some "order" of the history was answered ok for the key of hash h. */
static bool key_answered(const tr_history *h, int64_t hash) {
    tr_history_op op;
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        if (op.type == TR_HISTORY_OK && op.value == hash && strcmp(op.f, "order") == 0) {
            return true;
        }
    }
    return false;
}

/* Items a key placed through a torn node may hold although its last attempt ended before the
 * tear: an attempt answered "info" (a timeout) may have created the order, and the retry
 * that would name it was due after the tear, on the torn node. No one names such an order
 * (no answer, and the torn store kept its audit's events), so it is unknown to the checks,
 * while its item may have sold it. */
static void orphan_keys(const tr_check_input *in, shop_world *w) {
    tr_history_op op;
    for (size_t i = 0; tr_history_get(in->history, i, &op) == 0; i++) {
        uint64_t tear = torn_at(in, op.node);
        if (op.type == TR_HISTORY_INFO && tear != UINT64_MAX && (uint64_t)op.time_ns < tear &&
            strcmp(op.f, "order") == 0 && op.key >= 0 && op.key < ITEMS_MAX &&
            !w->orphan_item[op.key] && !key_answered(in->history, op.value)) {
            w->orphan_item[op.key] = true;
        }
    }
}

/* Items an order placed through a torn node may still hold: an "order" invoked there before
 * the tear and not answered ok before it (its saga may have reserved, and no one may name the
 * order: neither an answer nor an audit's event that the torn store did not keep). */
static int orphan_items(const tr_check_input *in, shop_world *w) {
    size_t n = tr_history_count(in->history);
    int64_t max = -1;
    tr_history_op op;
    for (size_t i = 0; i < n && tr_history_get(in->history, i, &op) == 0; i++) {
        max = op.process > max ? op.process : max;
    }
    int64_t *open = calloc((size_t)max + 2, sizeof *open); /* item + 1 of its open order */
    if (open == NULL) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; i < n && tr_history_get(in->history, i, &op) == 0; i++) {
        uint64_t tear = torn_at(in, op.node);
        if (op.process < 0 || strcmp(op.f, "order") != 0 || tear == UINT64_MAX) {
            continue;
        }
        if (op.type == TR_HISTORY_INVOKE) {
            open[op.process] = (uint64_t)op.time_ns < tear ? op.key + 1 : 0;
            continue;
        }
        if (open[op.process] > 0 && op.type != TR_HISTORY_OK && (uint64_t)op.time_ns >= tear &&
            open[op.process] <= ITEMS_MAX) {
            w->orphan_item[open[op.process] - 1] = true; /* open when its node was torn */
        }
        open[op.process] = 0;
    }
    for (int64_t p = 0; p <= max; p++) {
        if (open[p] > 0 && open[p] <= ITEMS_MAX) {
            w->orphan_item[open[p] - 1] = true; /* never answered */
        }
    }
    free(open);
    orphan_keys(in, w);
    return 0;
}

static void world_orphans(const tr_check_input *in, shop_world *w) {
    for (size_t i = 0; i < w->count; i++) {
        shop_order *o = &w->orders[i];
        bool settled = o->known && o->v.state != TR_SHOP_PENDING + 1 && o->answered && !o->open;
        if (!o->known || settled || !torn(in, customer_node(in, o->v.customer))) {
            continue;
        }
        o->orphan = true;
        w->orphans++;
        w->orphan_item[o->v.item < ITEMS_MAX ? o->v.item : 0] = true;
    }
}

static bool world_read(const tr_check_input *in, shop_world *w) {
    memset(w, 0, sizeof *w);
    int rc = in->sim == NULL ? TR_ENOTSUP : read_audits(in, w);
    rc = rc != 0 ? rc : read_history(in, w);
    rc = rc != 0 ? rc : read_states(in, w);
    if (rc == 0 && in->fault_count > 0) {
        world_orphans(in, w);
        rc = orphan_items(in, w);
    }
    if (rc != 0) {
        snprintf(w->failed, sizeof w->failed, "the shop's end state could not be read: %s",
                 tr_strerror(rc));
    }
    return rc == 0;
}

/* The world is read once per run and shared by the checks (tr_check_shared): each check works
 * on a shallow copy, and none changes what the copy points to. */
static void *world_make(const tr_check_input *in) {
    shop_world *w = malloc(sizeof *w);
    if (w != NULL) {
        (void)world_read(in, w); /* one that could not be read says why in failed */
    }
    return w;
}

static void world_drop(void *p) {
    shop_world *w = p;
    if (w != NULL) {
        free(w->orders);
        free(w);
    }
}

static const char world_tag = 0;

#define CHECK_BEGIN(in, why, cap)                                                             \
    bool owned_ = false;                                                                      \
    shop_world *shared_ = tr_check_shared((in), &world_tag, world_make, world_drop, &owned_); \
    if (shared_ == NULL || shared_->failed[0]) {                                              \
        snprintf((why), (cap), "%s",                                                          \
                 shared_ != NULL ? shared_->failed                                            \
                                 : "the shop's end state could not be read: out of memory");  \
        if (owned_) {                                                                         \
            world_drop(shared_);                                                              \
        }                                                                                     \
        return TR_VERDICT_UNKNOWN;                                                            \
    }                                                                                         \
    shop_world w = *shared_

/* The verdict; the world goes with it when this check owns it. */
#define VERDICT(held) verdict(shared_, owned_, (held))

static tr_verdict verdict(shop_world *w, bool owned, bool held) {
    if (owned) {
        world_drop(w);
    }
    return held ? TR_VERDICT_HELD : TR_VERDICT_VIOLATED;
}

/* ---- stock ------------------------------------------------------------------------------ */

static tr_verdict check_never_negative(const tr_check_input *in, char *why, size_t cap) {
    CHECK_BEGIN(in, why, cap);
    if (w.min_read < 0) {
        snprintf(why, cap, "a read answered the level %lld", (long long)w.min_read);
        return VERDICT(false);
    }
    for (int64_t i = 0; i < w.items; i++) {
        if (w.acct_known[i] && w.acct[i].level < 0) {
            snprintf(why, cap, "item %lld ends at level %lld", (long long)i,
                     (long long)w.acct[i].level);
            return VERDICT(false);
        }
    }
    return VERDICT(true);
}

/* initial + restocked = available + reserved + sold, per item; after the quiet period no
 * reservation is left open, and what each item sold is what its confirmed orders bought. */
static tr_verdict check_conserved(const tr_check_input *in, char *why, size_t cap) {
    CHECK_BEGIN(in, why, cap);
    int64_t bought[ITEMS_MAX] = {0};
    size_t skipped = 0;
    for (size_t i = 0; i < w.count; i++) {
        const shop_order *o = &w.orders[i];
        if (o->known && o->v.state == TR_SHOP_CONFIRMED + 1 && o->v.item < ITEMS_MAX) {
            bought[o->v.item] += o->v.qty;
        }
    }
    for (int64_t i = 0; i < w.items; i++) {
        const tr_stock_account *a = &w.acct[i];
        if (!w.acct_known[i]) {
            continue;
        }
        if (TR_STOCK_INITIAL + a->restocked != a->level + a->reserved + a->sold) {
            snprintf(why, cap,
                     "item %lld: initial %d + restocked %lld != available %lld + "
                     "reserved %lld + sold %lld",
                     (long long)i, TR_STOCK_INITIAL, (long long)a->restocked, (long long)a->level,
                     (long long)a->reserved, (long long)a->sold);
            return VERDICT(false);
        }
        if (w.orphan_item[i]) {
            skipped++; /* an order of it no one can finish may hold a reservation or a sale */
            continue;
        }
        if (a->reserved != 0 || a->sold != bought[i]) {
            snprintf(why, cap,
                     "item %lld: %lld still reserved after the quiet period, sold %lld "
                     "while its confirmed orders bought %lld",
                     (long long)i, (long long)a->reserved, (long long)a->sold,
                     (long long)bought[i]);
            return VERDICT(false);
        }
    }
    tr_check_measure(in, "items_unsettled_torn", (double)skipped);
    if (skipped > 0) {
        snprintf(why, cap,
                 "conserved; on %zu items an order through a torn node may still hold units "
                 "(allowed: no one is left to finish it; reserved and sold not compared)",
                 skipped);
    }
    return VERDICT(true);
}

/* ---- orders and payments ---------------------------------------------------------------- */

/* Latency percentiles of the orders answered final, or (availability) the fraction of order
 * attempts answered final on the nodes a partition cut off and on the others, as measures. */
static void measure_orders(const tr_check_input *in, bool availability) {
    size_t n = tr_history_count(in->history), done = 0, ok = 0, attempts = 0;
    int64_t *lat = malloc((n ? n : 1) * sizeof *lat), *started = calloc(4096, sizeof *started);
    tr_history_op op;
    uint64_t side_ok[2] = {0}, side_all[2] = {0};
    for (size_t i = 0; lat != NULL && started != NULL && i < n; i++) {
        if (tr_history_get(in->history, i, &op) != 0 || strcmp(op.f, "order") != 0 ||
            op.process < 0 || op.process >= 4096) {
            continue;
        }
        if (op.type == TR_HISTORY_INVOKE) {
            started[op.process] = op.time_ns;
            continue;
        }
        attempts++;
        bool cut = false; /* during a partition, on a node it touched */
        for (uint32_t f = 0; f < in->fault_count; f++) {
            const tr_fault_span *s = &in->faults[f];
            cut |= !strcmp(s->kind, "partition") && op.node >= 0 && op.node < 64 &&
                   (s->nodes >> op.node & 1) && (uint64_t)op.time_ns >= s->start_ns &&
                   (uint64_t)op.time_ns < s->end_ns;
        }
        side_all[cut]++;
        side_ok[cut] += op.type == TR_HISTORY_OK;
        if (op.type == TR_HISTORY_OK) {
            ok++;
            lat[done++] = op.time_ns - started[op.process];
        }
    }
    for (size_t i = 1; i < done; i++) { /* insertion sort: a run has a few thousand orders */
        int64_t x = lat[i];
        size_t j = i;
        for (; j > 0 && lat[j - 1] > x; j--) {
            lat[j] = lat[j - 1];
        }
        lat[j] = x;
    }
    if (done > 0 && !availability) {
        tr_check_measure(in, "order_p50_ms", (double)lat[done / 2] / 1e6);
        tr_check_measure(in, "order_p90_ms", (double)lat[done * 9 / 10] / 1e6);
        tr_check_measure(in, "order_p99_ms", (double)lat[done * 99 / 100] / 1e6);
    }
    if (!availability) {
        tr_check_measure(in, "orders_answered", (double)ok);
    }
    (void)attempts;
    for (int s = 0; s < 2 && availability; s++) {
        tr_check_measure(in, s ? "availability_cut_side" : "availability_other_side",
                         side_all[s] > 0 ? (double)side_ok[s] / (double)side_all[s] : -1);
    }
    free(lat);
    free(started);
}

/* After the heal and the final probe orders every coordinator's breakers are closed: each
 * dependency answers again, and an open breaker lets a probe through within its open time. */
static tr_verdict check_breakers(const tr_check_input *in, char *why, size_t cap) {
    static const char *const deps[4] = {"order", "stock", "payment", "payment-provider"};
    double opened = 0, open_at_end = 0;
    char first[96] = "";
    for (uint32_t node = 0; node < in->node_count; node++) {
        uint8_t b[8];
        size_t len = 0;
        if (tr_check_kv_get(in, node, TR_SHOP_ORDERS_NAME, "b", 1, b, sizeof b, &len) != 0 ||
            len != 8) {
            continue;
        }
        for (int d = 0; d < 4; d++) {
            opened += b[d];
            open_at_end += b[4 + d] != TR_BREAKER_CLOSED;
            if (b[4 + d] != TR_BREAKER_CLOSED && first[0] == 0) {
                snprintf(first, sizeof first,
                         "the %s breaker of n%u's coordinator is %s at the end", deps[d], node + 1,
                         tr_breaker_state_name((tr_breaker_state)b[4 + d]));
            }
        }
    }
    tr_check_measure(in, "breaker_openings", opened);
    tr_check_measure(in, "breakers_open_at_end", open_at_end);
    if (first[0] != 0) {
        snprintf(why, cap, "%s", first);
        return TR_VERDICT_VIOLATED;
    }
    return TR_VERDICT_HELD;
}

static tr_verdict check_final(const tr_check_input *in, char *why, size_t cap) {
    CHECK_BEGIN(in, why, cap);
    measure_orders(in, false);
    for (size_t i = 0; i < w.count; i++) {
        const shop_order *o = &w.orders[i];
        if (!o->orphan && (!o->known || o->v.state == TR_SHOP_PENDING + 1)) {
            snprintf(why, cap, "order %llu is %s after the quiet period", (unsigned long long)o->id,
                     o->known ? "still pending" : "nowhere stored");
            return VERDICT(false);
        }
    }
    if (w.orphans > 0) { /* counted in payments' measures (this check has its four) */
        snprintf(why, cap,
                 "every order ended, except %zu whose customer's node was torn (allowed: no one "
                 "is left to finish them)",
                 w.orphans);
    }
    return VERDICT(true);
}

/* No double charge or refund; captured - refunded, summed, equals the confirmed orders'
 * amounts; a payment kept is an order confirmed, and a cancelled order kept no money. */
static tr_verdict check_payments(const tr_check_input *in, char *why, size_t cap) {
    CHECK_BEGIN(in, why, cap);
    uint64_t kept = 0, owed = 0, refunds = 0;
    for (size_t i = 0; i < w.count; i++) {
        const shop_order *o = &w.orders[i];
        refunds += o->pay.refunded > 0;
        bool confirmed = o->known && o->v.state == TR_SHOP_CONFIRMED + 1;
        uint64_t net = o->pay.captured - o->pay.refunded;
        if (o->pay.refunded > o->pay.captured) {
            snprintf(why, cap, "order %llu: refunded %llu cents of a capture of %llu",
                     (unsigned long long)o->id, (unsigned long long)o->pay.refunded,
                     (unsigned long long)o->pay.captured);
            return VERDICT(false);
        }
        if (!o->orphan && (confirmed != (net > 0) || (confirmed && net != o->v.amount))) {
            snprintf(why, cap, "order %llu is %s but its payment keeps %llu cents (amount %llu)",
                     (unsigned long long)o->id, confirmed ? "confirmed" : "not confirmed",
                     (unsigned long long)net, (unsigned long long)o->v.amount);
            return VERDICT(false);
        }
        if (o->orphan) {
            continue; /* its saga may stop between the charge and the decision */
        }
        kept += net;
        owed += confirmed ? o->v.amount : 0;
    }
    tr_check_measure(in, "captured_cents", (double)kept);
    tr_check_measure(in, "refunds", (double)refunds);
    tr_check_measure(in, "unfinished_torn", (double)w.orphans);
    if (kept != owed) {
        snprintf(why, cap, "payments keep %llu cents, confirmed orders amount to %llu",
                 (unsigned long long)kept, (unsigned long long)owed);
        return VERDICT(false);
    }
    return VERDICT(true);
}

static int by_key(const void *a, const void *b) {
    const shop_order *x = a, *y = b;
    return x->key_hash < y->key_hash ? -1 : x->key_hash > y->key_hash;
}

/* Each idempotency key created at most one order. */
static tr_verdict check_idempotency(const tr_check_input *in, char *why, size_t cap) {
    CHECK_BEGIN(in, why, cap);
    measure_orders(in, true);
    shop_order *sorted = malloc((w.count ? w.count : 1) * sizeof *sorted); /* w is shared */
    if (sorted == NULL) {
        snprintf(why, cap, "out of memory");
        (void)VERDICT(true);
        return TR_VERDICT_UNKNOWN;
    }
    if (w.count > 0) {
        memcpy(sorted, w.orders, w.count * sizeof *sorted);
    }
    qsort(sorted, w.count, sizeof *sorted, by_key);
    bool held = true;
    for (size_t i = 1; i < w.count && held; i++) {
        if (sorted[i].key_hash != 0 && sorted[i].key_hash == sorted[i - 1].key_hash) {
            snprintf(why, cap, "one idempotency key created orders %llu and %llu",
                     (unsigned long long)sorted[i - 1].id, (unsigned long long)sorted[i].id);
            held = false;
        }
    }
    free(sorted);
    return VERDICT(held);
}

/* Every event the audits recorded names a fact its order's final journal holds: an event
 * published for a decision that never committed (its append lost, its coordinator crashed,
 * and the order decided otherwise) is caught here. A confirmed order that its customer
 * cancelled (TR__REASON_CUSTOMER, only ever applied to a confirmed order) was confirmed, and
 * some client asked to cancel it (a cancel op of the history names it).
 * The audits' reads racing an event (a read that did not yet find the event's fact) are
 * counted, not judged: a read that overtakes a commit still in flight proves nothing about
 * the journal. */
/* True when some client of the history asked to cancel order `id` (a cancel's value). */
static bool cancel_asked(const tr_history *h, uint64_t id) {
    tr_history_op op;
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        if (op.type == TR_HISTORY_INVOKE && op.has_value && (uint64_t)op.value == id &&
            strcmp(op.f, "cancel") == 0) {
            return true;
        }
    }
    return false;
}

static tr_verdict check_events(const tr_check_input *in, char *why, size_t cap) {
    CHECK_BEGIN(in, why, cap);
    size_t events = 0, early_reads = 0, returned = 0;
    for (size_t i = 0; i < w.count; i++) {
        const shop_order *o = &w.orders[i];
        const tr_order_view *v = &o->v;
        bool cancelled = v->state == TR_SHOP_CANCELLED + 1;
        bool by_customer = cancelled && v->reason == TR__REASON_CUSTOMER;
        if (by_customer && !cancel_asked(in->history, o->id)) {
            snprintf(why, cap, "order %llu cancelled by its customer, who never asked to cancel it",
                     (unsigned long long)o->id);
            return VERDICT(false);
        }
        bool holds[TR__TOPIC_COUNT] = {o->known, v->state == TR_SHOP_CONFIRMED + 1 || by_customer,
                                       cancelled, (v->steps & TR__STEP_RESERVED) != 0,
                                       (v->steps & TR__STEP_CHARGED) != 0};
        returned += by_customer;
        for (int t = 0; t < TR__TOPIC_COUNT; t++) {
            if (!(o->events >> t & 1)) {
                continue;
            }
            events++;
            early_reads += o->premature >> t & 1;
            if (!holds[t]) {
                snprintf(why, cap, "event %s for order %llu, whose journal does not record it",
                         tr__shop_topics[t], (unsigned long long)o->id);
                return VERDICT(false);
            }
            uint64_t committed = t == TR__TOPIC_CONFIRMED   ? v->confirmed_epoch
                                 : t == TR__TOPIC_CANCELLED ? v->cancelled_epoch
                                                            : 0;
            if (o->epochs[t] != committed) {
                snprintf(why, cap,
                         "event %s for order %llu carries epoch %llu, but its journal committed "
                         "it at epoch %llu: not the committed record",
                         tr__shop_topics[t], (unsigned long long)o->id,
                         (unsigned long long)o->epochs[t], (unsigned long long)committed);
                return VERDICT(false);
            }
        }
    }
    tr_check_measure(in, "events_recorded", (double)events);
    tr_check_measure(in, "reads_before_commit", (double)early_reads);
    tr_check_measure(in, "cancelled_by_customer", (double)returned);
    return VERDICT(true);
}

/* progress (harness/check_common.h): placed orders are answered at least once, and no reply is
 * malformed (the other checks pass a shop that answers no order at all). */
static tr_verdict check_progress(const tr_check_input *in, char *why, size_t cap) {
    static const char *const fs[] = {"order"};
    return tr__check_progress(in->history, fs, 1, why, cap) ? TR_VERDICT_HELD : TR_VERDICT_VIOLATED;
}

const tr_check tr__shop_checks[TR__SHOP_CHECK_COUNT] = {
    {"stock-never-negative", check_never_negative},
    {"stock-conserved", check_conserved},
    {"orders-final", check_final},
    {"payments", check_payments},
    {"idempotency", check_idempotency},
    {"events", check_events},
    {"breakers", check_breakers},
    {"progress", check_progress}};
