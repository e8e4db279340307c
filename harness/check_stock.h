/* check_stock.h — the stock workload's invariants over a history and the final levels.
 *
 * Input: a history of reserve / restock / read ops (harness/builtin_stock.h: key = item; for
 * reserve and restock value = qty, value_to = reservation id; an ok read carries the level),
 * every item's initial level, and the final level of every item read once the
 * cluster is healed and quiet. An id may appear in several attempts (a client retries an
 * indeterminate op under the same id, as a fresh process); the service promises to apply
 * an id at most once, so ids, not attempts, are what the bounds count.
 *
 * Invariant (a) stock never negative:
 *   1. no ok read shows a negative level, and no final level is negative;
 *   2. at every ok reserve completion, for its item: the quantity of the distinct reserve
 *      ids completed ok so far (certainly charged by then) <= initial + the quantity of the
 *      distinct restock ids invoked so far and not certainly failed (all that could have
 *      been supplied by then). A service that checks level >= qty atomically before each
 *      charge can never break this; two reservations that both passed a stale check (the
 *      oversell bug) do, as soon as both are acknowledged.
 * Invariant (b) conservation / no double charge, per item with a known final level F:
 *      lower = initial + sum(restock ids with an ok attempt)
 *                      - sum(reserve ids with an ok, info or pending attempt, unless
 *                            one attempt failed "out of stock": the service records that
 *                            answer per id and repeats it to every retry, so such an id
 *                            was never charged)
 *      upper = initial + sum(restock ids with an ok, info or pending attempt)
 *                      - sum(reserve ids with an ok attempt)
 *   each id counted once (its qty); ids whose attempts all failed count nowhere. F < lower:
 *   more was charged than every acknowledged and possible reservation together, i.e. some
 *   id was charged twice (double charge) — or a restock was lost; F > upper: a charge was
 *   lost or stock appeared from nowhere. As the bounds already give info ops the benefit of
 *   the doubt in the pessimistic direction, a single extra charge of qty q is caught when
 *   the slack on its item (applied info restocks + unapplied info reserves) is below q; the
 *   workload retries info ops until they resolve, which keeps the slack near zero.
 *   The same bounds are applied to every ok read, as of the read's real-time window: the
 *   level read must lie in [initial + restock ids acknowledged before the read began -
 *   reserve ids that may have been charged before it ended, initial + restock ids that may
 *   have been applied before it ended - reserve ids acknowledged before it began]; a read
 *   below is the earliest evidence of a double charge (the final level may hide it later,
 *   e.g. behind a lost restock).
 *   Also: one reservation id used with two different (item, qty) is reported as a bad
 *   history (TR_EINVAL).
 * The first offending op is reported: (a) the read or ok reserve completion where the bound
 * broke; (b) the first read outside its bounds (read_op), and a suspect: the first retry
 * (the completion of its second attempt, else its invoke) of the retried reserve id of that
 * item first invoked last before that read — the likely double charge, or a charge whose
 * retry was answered "out of stock" — else of the id retried last on the first item whose
 * final level is out of bounds, else that item's last ok reserve.
 *
 * Written over troupe.h's history API only, so that the stock service module carries it.
 * Ownership: inputs borrowed for the call; the result's ops point into the history (valid
 * while it lives). Deterministic.
 * Memory: O(ops) scratch. Limits: items are the history's keys, 0 <= key < items.
 */
#ifndef TR_HARNESS_CHECK_STOCK_H
#define TR_HARNESS_CHECK_STOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

typedef struct tr_stock_check_input {
    const tr_history *h;
    size_t items;                   /* items 0..items-1 */
    int64_t initial;                /* every item's level before the run */
    const int64_t *final_level;     /* [items] */
    const bool *final_known;        /* [items]; false: unknown (conservation not checked there) */
    struct tr_stock_bounds *bounds; /* optional [items]: filled with each item's bounds */
} tr_stock_check_input;

typedef struct tr_stock_bounds {
    int64_t lower, upper;
    int64_t final;
    bool known;
} tr_stock_bounds;

#define TR_STOCK_CHECK_ITEMS_MAX 1024
/* The level `troupe sim --workload stock` starts every item at (and `troupe check`'s default
 * for --stock-initial). */
#define TR_STOCK_INITIAL_DEFAULT 10
/* The error of a reserve the service refused for want of stock (actors/stock.h). */
#define TR_STOCK_OUT_OF_STOCK "out of stock"

typedef struct tr_stock_check_result {
    bool ok; /* both invariants held */
    /* (a) */
    bool never_negative;
    size_t negative_reads;    /* ok reads of a level < 0 */
    size_t negative_finals;   /* items whose final level < 0 */
    size_t oversold_reserves; /* ok reserve completions breaking bound (a)2 */
    bool has_negative_op;
    tr_history_op negative_op; /* the first offending op (a read or a reserve completion) */
    int64_t negative_item;     /* its item (or the first item with a negative final) */
    int64_t negative_level;    /* the level read, or the bound: supply - demand (< 0) */
    /* (b) */
    bool conserved;
    size_t items_below; /* final < lower: double charge */
    size_t items_above; /* final > upper */
    int64_t bad_item;   /* the first such item */
    tr_stock_bounds bad_bounds;
    bool has_suspect_op;
    tr_history_op suspect_op;        /* see above */
    size_t items_unknown;            /* final level not known */
    size_t reads_below, reads_above; /* ok reads outside their bounds (see above) */
    bool has_read_op;
    tr_history_op read_op;          /* the first such read (its ok completion) */
    int64_t read_lower, read_upper; /* ... and its bounds */
    /* counts */
    uint64_t reserve_ids, restock_ids, retried_ids;
} tr_stock_check_result;

/* 0, TR_EINVAL (items 0 or > TR_STOCK_CHECK_ITEMS_MAX, an op's key out of range, an id
 * reused with another item or qty), TR_ENOMEM. */
int tr__check_stock(const tr_stock_check_input *in, tr_stock_check_result *out);

/* One line naming the broken invariants and their first offending op (and the suspect of a
 * double charge), as `troupe sim` and `troupe check` print it; "" when both held. */
void tr__check_stock_explain(const tr_stock_check_result *c, char *why, size_t cap);
/* "#12 reserve item 2 qty 3 id 4:7 ok by p9 on n2 at 12.345s"; reads show the level. */
void tr__check_stock_op_format(char *buf, size_t cap, const tr_history_op *op);

/* The final levels of items 0..items-1 from the history: for each item, the last ok read
 * invoked after the last reserve or restock event (the final reads of the workload's final
 * phase); known[i] false when there is none. */
void tr__check_stock_final_levels(const tr_history *h, size_t items, int64_t *levels, bool *known);

/* ---- a stock run's report ------------------------------------------------------------ */

#define TR_STOCK_REPORT_ITEMS_MAX 64

/* The partition window of a run, for the "out of stock" answers per side. */
typedef struct tr_stock_window {
    bool partitioned;
    uint64_t from_ns, to_ns;
    uint64_t minority_nodes; /* bit i: node index i was on the minority side */
} tr_stock_window;

/* What a report of a stock run shows, from its history: the counts, the final levels read
 * at the end with their bounds, the check (with the final levels), the "out of stock"
 * answers (an answer, not unavailability) of the whole run and of each side of the window
 * by the invoke's time, and the reservation ids never resolved (no attempt ok or failed
 * for certain; a refused send did nothing). */
typedef struct tr_stock_report {
    uint64_t ops, ok, fail, info; /* invokes, and completions by type */
    uint64_t f_all[3], f_ok[3];   /* read, reserve, restock: invokes, ok */
    uint64_t refused[3];          /* whole run, majority side, minority side */
    uint64_t unresolved_ids;
    size_t items;
    int64_t final_level[TR_STOCK_REPORT_ITEMS_MAX];
    bool final_known[TR_STOCK_REPORT_ITEMS_MAX];
    tr_stock_bounds bounds[TR_STOCK_REPORT_ITEMS_MAX];
    tr_stock_check_result chk;
} tr_stock_report;

/* 0, or tr__check_stock's error. items at most TR_STOCK_REPORT_ITEMS_MAX (more are cut). */
int tr__stock_report(const tr_history *h, size_t items, int64_t initial, const tr_stock_window *w,
                     tr_stock_report *out);

#endif
