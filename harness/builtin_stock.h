/* builtin_stock.h — the stock service's workload and checks (harness/builtin.c puts them in
 * the "stock" descriptor).
 *
 * Workload (a stateful tr_workload: each client keeps its reservation ids and retries):
 * each client talks to its own node's "stock" and invokes, on a random item (key) of
 * key_count,
 *   reserve {item, qty in [1, 3], id}   history f = "reserve", value = [qty id]
 *   restock {item, qty in [1, 6], id}   f = "restock", the same fields
 *   read {item}                         f = "read"; the ok completion carries the level
 * (20% reads, 20% restocks, the rest reserves). An info (timeout, an indeterminate answer,
 * a crash of the client's node) parks a reserve or restock for a retry under the SAME
 * reservation id, after a back-off (uniform in [1, 2 * min(50 ms * 2^(n-1), 500 ms)] before
 * retry n), up to 200 attempts, and so does a later attempt of such an id that was not
 * handled (a refused send, the host's "unavailable", "busy", "not owner"): that makes the
 * service's idempotency (and the planted double-charge bug) observable. A client keeps at
 * most PARK_MAX ids parked and starts a new change only while it has room to park it; a due
 * retry and a new operation alternate, so that ids stuck behind a partition do not starve
 * the rest. Reads are not retried. Ids are tr__stock_id(client id, seq).
 * After the workload time (STOPPING) a client only retries its parked ids; it is busy while
 * it has some. In the FINAL phase the first client of every up node reads every item from
 * its local "stock" until it answers: the final reads, recorded in the history like any
 * read, which `troupe check` and the CLI's report read the final levels from.
 *
 * Checks (harness/check_stock.h over the history, every item starting at
 * TR_STOCK_INITIAL_DEFAULT; the final levels are the items' durable states in the nodes'
 * stores, tr_entity_check_get, or the final reads when the stores cannot be read: a history
 * checked alone, a run with a corrupted store):
 *   1. never-negative: invariant (a);
 *   2. conserved: invariant (b); it reports the measures reserve_ids, restock_ids,
 *      retried_ids and items_unknown (final level not read);
 *      both rest on 3 (tr_check.rests_on): unknown where it is and they are broken;
 *   3. single-activation: tr_entity_check_single, reported unknown rather than violated in a
 *      run with clock faults (its stated condition excludes clock jumps).
 * Everything here uses troupe.h and actors/ only: it builds into troupe-stock.so too.
 */
#ifndef TR_HARNESS_BUILTIN_STOCK_H
#define TR_HARNESS_BUILTIN_STOCK_H

#include "troupe.h"

#define TR__STOCK_CHECK_COUNT 4
/* Items whose final level the final phase reads (keys beyond are never final-read). */
#define TR__STOCK_ITEMS_MAX 64

extern const tr_workload tr__stock_workload;
extern const tr_check tr__stock_checks[TR__STOCK_CHECK_COUNT];

#endif /* TR_HARNESS_BUILTIN_STOCK_H */
