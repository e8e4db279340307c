/* history_load.h — reading histories that other tools wrote: Jepsen's and Knossos's EDN as
 * well as troupe's own EDN and JSON (sim/history.h declares the plain readers, which are
 * these with the default options).
 *
 * What the EDN reader accepts (docs/checkers.md, "Reading Jepsen and Knossos histories"):
 *   - a vector or a list of op maps, or op maps one after another (Jepsen's history.edn);
 *   - the fields of an op in any order; :index ignored, :time optional, :value optional
 *     (nil), :error any form (kept as text), :node an integer (anything else: unknown), any
 *     other key skipped whatever its value;
 *   - ops whose :process is not an integer (:nemesis): recorded in the notes by f name and
 *     count, never appended to the history (no model checks them);
 *   - values: nil, integers, strings, keywords, vectors (tuples), {:base64 "..."};
 *   - keyed histories ([key v] values, Jepsen's independent checker and troupe's own files)
 *     and un-keyed ones (one register, key 0), told apart by the first op whose value is not
 *     [integer v] (cas: [integer [from to]]), or forced by the options.
 * Leniencies, each counted in the notes so that a report can say what was done:
 *   1. a read invoke's value, and the value of a read that failed or ended info, are dropped
 *      (Knossos reads a read's value from its ok completion only; the others constrain
 *      nothing);
 *   2. a :time earlier than the op before is raised to that op's time (Jepsen's clocks are
 *      per thread; the history's order is the real-time order the checkers use).
 * JSON is troupe's own format and is read strictly (sim/history.h).
 *
 * Ownership: *out is a new owned history; notes and err are the caller's. Threading: none.
 * Deterministic. Limits: those of sim/history.h; EDN forms nested at most
 * TR_EDN_SKIP_DEPTH_MAX deep where they are skipped.
 */
#ifndef TR_SIM_HISTORY_LOAD_H
#define TR_SIM_HISTORY_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/history.h"

#define TR_EDN_SKIP_DEPTH_MAX 64
#define TR_LOAD_OTHER_F_MAX 8

typedef enum tr__history_shape {
    TR_SHAPE_AUTO = 0,  /* keyed unless an op's value is not [key v] */
    TR_SHAPE_KEYED = 1, /* every value is [key v] */
    TR_SHAPE_SINGLE = 2 /* one register: the value is v, the key 0 */
} tr__history_shape;

typedef struct tr__history_load_opts {
    size_t max_ops; /* 1..TR_HISTORY_MAX_OPS_LIMIT */
    tr__history_shape shape;
} tr__history_load_opts;

typedef struct tr__history_other_f {
    char name[TR_HISTORY_NAME_MAX + 1];
    uint64_t count;
} tr__history_other_f;

typedef struct tr__history_load_notes {
    bool edn;
    bool single;        /* un-keyed: one register */
    uint64_t other_ops; /* ops of processes that are not integers: not in the history */
    char other_process[TR_HISTORY_NAME_MAX + 2];      /* the first such process, as written */
    size_t other_f_count;                             /* distinct f names of those ops */
    tr__history_other_f other_f[TR_LOAD_OTHER_F_MAX]; /* the first ones, with their counts */
    uint64_t times_raised;                            /* leniency 2 */
    uint64_t read_values_dropped;                     /* leniency 1 */
} tr__history_load_notes;

/* Reads path (EDN or JSON, told apart by content) into a new owned *out, filling *notes
 * (may be NULL). Errors as tr__history_load_file. */
int tr__history_import_file(const char *path, const tr__history_load_opts *o, tr_history **out,
                            tr__history_load_notes *notes, char *err, size_t err_cap);
/* The same for EDN text in memory (need not be NUL-terminated). */
int tr__history_import_edn(const char *text, size_t len, const tr__history_load_opts *o,
                           tr_history **out, tr__history_load_notes *notes, char *err,
                           size_t err_cap);

#endif
