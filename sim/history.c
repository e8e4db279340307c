/* history.c — the operation history: appending with invariants, EDN/JSON export. Reading a
 * history back is history_load.c. jansson is used only by these two files. */
#include "sim/history.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/history_value.h"
#include "troupe.h"

enum {
    PROC_FREE = 0,
    PROC_BUSY = 1,
    PROC_RETIRED = 2
};

typedef struct proc_slot {
    int64_t process;
    size_t open_index; /* index of the outstanding invoke when BUSY */
    uint8_t used;
    uint8_t state;
} proc_slot;

struct tr_history {
    tr_op *ops;
    uint32_t *partner; /* invoke <-> completion index, TR_HISTORY_NO_PARTNER if none */
    size_t count;
    size_t cap;
    size_t max_ops;
    proc_slot *procs; /* open addressing, linear probing, power-of-two capacity */
    size_t proc_count;
    size_t proc_cap;
    size_t pending;
    tr__value_set values; /* the values of other kinds (invariant 7) */
    uint32_t f_count;     /* names in f_names: the built-ins, then the interned ones */
    char f_names[TR_HISTORY_F_MAX][TR_HISTORY_NAME_MAX + 1];
};

_Static_assert(TR_HISTORY_F_MAX <= 256, "an op's f is a byte");
_Static_assert(TR_F_RESTOCK + 1 == TR_F_BUILTIN_COUNT, "the built-in names");

tr_history *tr__history_create(size_t max_ops) {
    TR_ASSERT(max_ops >= 1 && max_ops <= TR_HISTORY_MAX_OPS_LIMIT);
    tr_history *h = calloc(1, sizeof *h);
    if (!h) {
        return NULL;
    }
    h->max_ops = max_ops;
    for (int f = 0; f < TR_F_BUILTIN_COUNT; f++) {
        snprintf(h->f_names[f], sizeof h->f_names[f], "%s", tr__history_op_f_name((tr_op_f)f));
    }
    h->f_count = TR_F_BUILTIN_COUNT;
    h->proc_cap = 16;
    h->procs = calloc(h->proc_cap, sizeof *h->procs);
    if (!h->procs) {
        free(h);
        return NULL;
    }
    return h;
}

void tr__history_destroy(tr_history *h) {
    if (!h) {
        return;
    }
    free(h->ops);
    free(h->partner);
    free(h->procs);
    tr__value_set_deinit(&h->values);
    free(h);
}

size_t tr__history_count(const tr_history *h) {
    return h->count;
}
size_t tr__history_max_ops(const tr_history *h) {
    return h->max_ops;
}
size_t tr__history_pending(const tr_history *h) {
    return h->pending;
}

const tr_op *tr__history_op(const tr_history *h, size_t i) {
    TR_DEBUG_ASSERT(i < h->count);
    return &h->ops[i];
}

size_t tr__history_partner(const tr_history *h, size_t i) {
    TR_DEBUG_ASSERT(i < h->count);
    return h->partner[i] == TR_HISTORY_NO_PARTNER ? SIZE_MAX : h->partner[i];
}

const char *tr__history_op_type_name(tr_op_type type) {
    static const char *names[] = {"invoke", "ok", "fail", "info"};
    return (unsigned)type < 4 ? names[type] : "?";
}

const char *tr__history_op_f_name(tr_op_f f) {
    static const char *names[] = {"read", "write", "cas", "reserve", "restock"};
    return (unsigned)f < 5 ? names[f] : "?";
}

/* ---- operation names ---------------------------------------------------------------- */

const char *tr__history_f_name(const tr_history *h, uint8_t f) {
    return f < h->f_count ? h->f_names[f] : "?";
}

size_t tr__history_f_count(const tr_history *h) {
    return h->f_count;
}

static bool f_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > TR_HISTORY_NAME_MAX ||
        !((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr("-_.!?*+", c)) {
            return false;
        }
    }
    return true;
}

int tr__history_f_find(const tr_history *h, const char *name) {
    for (uint32_t f = 0; f < h->f_count; f++) {
        if (!strcmp(h->f_names[f], name)) {
            return (int)f;
        }
    }
    return -1;
}

int tr__history_f_intern(tr_history *h, const char *name, bool *added) {
    *added = false;
    if (!name) {
        return TR_EINVAL;
    }
    int f = tr__history_f_find(h, name); /* a name in the table was valid when it was added */
    if (f >= 0) {
        return f;
    }
    if (!f_name_valid(name) || h->f_count >= TR_HISTORY_F_MAX) {
        return TR_EINVAL;
    }
    memcpy(h->f_names[h->f_count], name, strlen(name) + 1);
    *added = true;
    return (int)h->f_count++;
}

void tr__history_f_forget_last(tr_history *h) {
    TR_ASSERT(h->f_count > TR_F_BUILTIN_COUNT);
    h->f_count--;
}

/* ---- process table ------------------------------------------------------------------ */

static proc_slot *proc_find(const tr_history *h, int64_t process) {
    size_t mask = h->proc_cap - 1;
    for (size_t i = tr__history_mix64((uint64_t)process) & mask;; i = (i + 1) & mask) {
        proc_slot *s = &h->procs[i];
        if (!s->used || s->process == process) {
            return s;
        }
    }
}

static int proc_grow(tr_history *h) {
    size_t old_cap = h->proc_cap;
    proc_slot *old = h->procs;
    proc_slot *fresh = calloc(old_cap * 2, sizeof *fresh);
    if (!fresh) {
        return TR_ENOMEM;
    }
    h->procs = fresh;
    h->proc_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].used) {
            *proc_find(h, old[i].process) = old[i];
        }
    }
    free(old);
    return 0;
}

/* Returns the slot for `process` (s: what proc_find returned for it), inserting a FREE one
 * if new; NULL when out of memory. */
static proc_slot *proc_get(tr_history *h, int64_t process, proc_slot *s) {
    if (s->used) {
        return s;
    }
    if ((h->proc_count + 1) * 2 > h->proc_cap) {
        if (proc_grow(h) != 0) {
            return NULL;
        }
        s = proc_find(h, process);
    }
    s->used = 1;
    s->process = process;
    s->state = PROC_FREE;
    h->proc_count++;
    return s;
}

bool tr__history_process_free(const tr_history *h, int64_t process) {
    const proc_slot *s = proc_find(h, process);
    return !s->used || s->state == PROC_FREE;
}

/* ---- appending ---------------------------------------------------------------------- */

static int ops_reserve(tr_history *h) {
    if (h->count < h->cap) {
        return 0;
    }
    size_t cap = h->cap ? h->cap * 2 : 64;
    if (cap > h->max_ops) {
        cap = h->max_ops;
    }
    tr_op *ops = realloc(h->ops, cap * sizeof *ops);
    if (!ops) {
        return TR_ENOMEM;
    }
    h->ops = ops; /* keep the bigger block even if the next realloc fails */
    uint32_t *partner = realloc(h->partner, cap * sizeof *partner);
    if (!partner) {
        return TR_ENOMEM;
    }
    h->partner = partner;
    h->cap = cap;
    return 0;
}

static bool op_shape_ok(const tr_history *h, const tr_op *op) {
    if (op->type > TR_OP_INFO || op->f >= h->f_count) {
        return false;
    }
    if (op->any && (!op->has_value || op->pair || tr__history_f_is_pair(op->f))) {
        return false; /* invariant 7 */
    }
    if (op->f >= TR_F_BUILTIN_COUNT) {
        return op->has_value || !op->pair; /* any value: the service's model reads it */
    }
    if (op->f == TR_F_READ) {
        return op->type == TR_OP_OK || !op->has_value;
    }
    return op->has_value; /* write and cas always carry their value */
}

/* Checks invariants 1-5 against the process table; does not modify anything. */
static int append_check(const tr_history *h, const tr_op *op, const proc_slot *s) {
    if (!op_shape_ok(h, op)) {
        return TR_EINVAL;
    }
    if (h->count > 0 && op->time_ns < h->ops[h->count - 1].time_ns) {
        return TR_EINVAL;
    }
    int state = s->used ? s->state : PROC_FREE;
    if (op->type == TR_OP_INVOKE) {
        return state == PROC_FREE ? 0 : TR_EINVAL;
    }
    if (state != PROC_BUSY) {
        return TR_EINVAL;
    }
    const tr_op *inv = &h->ops[s->open_index];
    if (inv->f != op->f || inv->key != op->key) {
        return TR_EINVAL;
    }
    if (op->f >= TR_F_BUILTIN_COUNT) {
        return 0; /* the completion may carry what the operation returned */
    }
    if (op->f != TR_F_READ && !tr_value_equal(inv->any, op->any)) {
        return TR_EINVAL;
    }
    if (op->f != TR_F_READ && (inv->value != op->value ||
                               (tr__history_f_is_pair(op->f) && inv->value_to != op->value_to))) {
        return TR_EINVAL;
    }
    if (op->f == TR_F_READ && op->type != TR_OP_OK && op->has_value) {
        return TR_EINVAL;
    }
    return 0;
}

/* Appends op, which append_check accepted against s, its process's slot (proc_find); the
 * check runs once per operation, before its value is interned. */
static int append_checked(tr_history *h, const tr_op *op, proc_slot *s) {
    int rc = ops_reserve(h);
    if (rc != 0) {
        return rc;
    }
    if ((s = proc_get(h, op->process, s)) == NULL) {
        return TR_ENOMEM;
    }
    tr_op *dst = &h->ops[h->count];
    *dst = *op;
    dst->index = h->count;
    dst->error[TR_OP_ERROR_MAX - 1] = '\0';
    if (op->f < TR_F_BUILTIN_COUNT) {
        dst->pair = tr__history_f_is_pair(op->f);
    }
    h->partner[h->count] = TR_HISTORY_NO_PARTNER;
    if (op->type == TR_OP_INVOKE) {
        s->state = PROC_BUSY;
        s->open_index = h->count;
        h->pending++;
    } else {
        s->state = op->type == TR_OP_INFO ? PROC_RETIRED : PROC_FREE;
        h->partner[h->count] = (uint32_t)s->open_index;
        h->partner[s->open_index] = (uint32_t)h->count;
        h->pending--;
    }
    h->count++;
    TR_ASSERT(h->count <= h->max_ops);
    return 0;
}

int tr__history_append(tr_history *h, const tr_op *op) {
    TR_ASSERT(h && op);
    if (h->count >= h->max_ops) {
        return TR_EFULL;
    }
    proc_slot *s = proc_find(h, op->process);
    int rc = append_check(h, op, s);
    return rc == 0 ? append_checked(h, op, s) : rc;
}

/* Puts v into op: the fast fields when it fits them (a pair, but for read and write whose
 * fast value is one integer), else op->any = v (still the caller's, not yet interned). */
static void value_into(tr_op *op, const tr_value *v) {
    bool pair_ok = op->f != TR_F_READ && op->f != TR_F_WRITE;
    op->any = NULL;
    op->pair = false;
    op->value = op->value_to = 0;
    op->has_value = v->kind != TR_VALUE_NIL;
    if (!tr__value_fast(v, pair_ok)) {
        op->any = v;
    } else if (v->kind == TR_VALUE_INT) {
        op->value = v->i;
    } else if (v->kind == TR_VALUE_TUPLE) {
        op->pair = true;
        op->value = v->items[0].i;
        op->value_to = v->items[1].i;
    }
}

int tr__history_append_value(tr_history *h, const tr_op *op, const tr_value *v, const char **why) {
    TR_ASSERT(h && op && why);
    *why = NULL;
    tr_op o = *op;
    if (v) {
        value_into(&o, v);
    }
    size_t size = 0;
    if (o.any && (*why = tr__value_check(v, &size)) != NULL) {
        return TR_EINVAL;
    }
    if (h->count >= h->max_ops) {
        return TR_EFULL;
    }
    proc_slot *s = proc_find(h, o.process);
    int rc = append_check(h, &o, s); /* nothing interned if refused */
    if (rc == 0 && o.any) {
        rc = tr__value_intern(&h->values, v, size, &o.any); /* the same value: still accepted */
    }
    rc = rc == 0 ? append_checked(h, &o, s) : rc;
    if (rc == TR_EINVAL) {
        *why = tr__history_append_why(h, &o);
    }
    return rc;
}

static int invoke(tr_history *h, int64_t time_ns, int64_t process, tr_op_f f, int64_t key,
                  bool has_value, int64_t value, int64_t value_to, int32_t node) {
    tr_op op = {.time_ns = time_ns,
                .process = process,
                .key = key,
                .value = value,
                .value_to = value_to,
                .node = node,
                .type = TR_OP_INVOKE,
                .f = (uint8_t)f,
                .has_value = has_value};
    return tr__history_append(h, &op);
}

int tr__history_invoke_read(tr_history *h, int64_t time_ns, int64_t process, int64_t key,
                            int32_t node) {
    return invoke(h, time_ns, process, TR_F_READ, key, false, 0, 0, node);
}

int tr__history_invoke_write(tr_history *h, int64_t time_ns, int64_t process, int64_t key,
                             int64_t value, int32_t node) {
    return invoke(h, time_ns, process, TR_F_WRITE, key, true, value, 0, node);
}

int tr__history_invoke_cas(tr_history *h, int64_t time_ns, int64_t process, int64_t key,
                           int64_t from, int64_t to, int32_t node) {
    return invoke(h, time_ns, process, TR_F_CAS, key, true, from, to, node);
}

/* Builds the completion of the process's outstanding op from its invoke. */
static int complete(tr_history *h, int64_t time_ns, int64_t process, tr_op_type type, bool found,
                    int64_t read_value, const char *error) {
    const proc_slot *s = proc_find(h, process);
    if (!s->used || s->state != PROC_BUSY) {
        return TR_EINVAL;
    }
    tr_op op = h->ops[s->open_index];
    op.time_ns = time_ns;
    op.type = (uint8_t)type;
    if (op.f == TR_F_READ) {
        op.has_value = type == TR_OP_OK && found;
        op.value = op.has_value ? read_value : 0;
        op.any = NULL;
    }
    if (error) {
        snprintf(op.error, sizeof op.error, "%s", error);
    } else {
        op.error[0] = '\0';
    }
    return tr__history_append(h, &op);
}

int tr__history_ok(tr_history *h, int64_t time_ns, int64_t process) {
    const proc_slot *s = proc_find(h, process);
    if (s->used && s->state == PROC_BUSY && h->ops[s->open_index].f == TR_F_READ) {
        return TR_EINVAL; /* a read's ok needs its value: tr__history_ok_read */
    }
    return complete(h, time_ns, process, TR_OP_OK, false, 0, NULL);
}

int tr__history_ok_read(tr_history *h, int64_t time_ns, int64_t process, bool found,
                        int64_t value) {
    const proc_slot *s = proc_find(h, process);
    if (s->used && s->state == PROC_BUSY && h->ops[s->open_index].f != TR_F_READ) {
        return TR_EINVAL;
    }
    return complete(h, time_ns, process, TR_OP_OK, found, value, NULL);
}

int tr__history_fail(tr_history *h, int64_t time_ns, int64_t process, const char *error) {
    return complete(h, time_ns, process, TR_OP_FAIL, false, 0, error);
}

int tr__history_info(tr_history *h, int64_t time_ns, int64_t process, const char *error) {
    return complete(h, time_ns, process, TR_OP_INFO, false, 0, error);
}

const char *tr__history_append_why(const tr_history *h, const tr_op *op) {
    if (!op_shape_ok(h, op)) {
        if (op->type > TR_OP_INFO || op->f >= h->f_count) {
            return "unknown type or f";
        }
        if (op->any && tr__history_f_is_pair(op->f)) {
            return "cas, reserve and restock take a pair of integers";
        }
        if (op->f >= TR_F_BUILTIN_COUNT) {
            return "a pair value needs a value";
        }
        return op->f == TR_F_READ ? "a read invoke carries no value" : "write and cas need a value";
    }
    if (h->count > 0 && op->time_ns < h->ops[h->count - 1].time_ns) {
        return "time goes back";
    }
    if (op->type == TR_OP_INVOKE) {
        return tr__history_process_free(h, op->process)
                   ? "invoke rejected"
                   : "process invokes while busy or after an info (retired)";
    }
    return "completion does not match an outstanding invoke of this process "
           "(same f, key and value)";
}

/* ---- export ------------------------------------------------------------------------- */

static void edn_value(FILE *out, const tr_op *op) {
    if (op->any) {
        fprintf(out, "[%" PRId64 " ", op->key);
        tr__value_write_edn(out, op->any);
        fputc(']', out);
    } else if (!op->has_value) {
        fprintf(out, "[%" PRId64 " nil]", op->key);
    } else if (op->pair) {
        fprintf(out, "[%" PRId64 " [%" PRId64 " %" PRId64 "]]", op->key, op->value, op->value_to);
    } else {
        fprintf(out, "[%" PRId64 " %" PRId64 "]", op->key, op->value);
    }
}

/* EDN strings: escape backslash and double quote; control bytes become spaces. */
static void edn_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', out);
            fputc(*s, out);
        } else {
            fputc((unsigned char)*s < 0x20 ? ' ' : *s, out);
        }
    }
    fputc('"', out);
}

int tr__history_write_edn(const tr_history *h, FILE *out) {
    fputs("[", out);
    for (size_t i = 0; i < h->count; i++) {
        const tr_op *op = &h->ops[i];
        fprintf(out,
                "%s{:index %" PRIu64 ", :time %" PRId64 ", :type :%s, :process %" PRId64
                ", :f :%s, :value ",
                i ? "\n " : "", op->index, op->time_ns, tr__history_op_type_name(op->type),
                op->process, tr__history_f_name(h, op->f));
        edn_value(out, op);
        if (op->node == TR_NODE_NONE) {
            fputs(", :node nil", out);
        } else {
            fprintf(out, ", :node %" PRId32, op->node);
        }
        if (op->error[0]) {
            fputs(", :error ", out);
            edn_string(out, op->error);
        }
        fputs("}", out);
    }
    fputs("]\n", out);
    return ferror(out) ? TR_EIO : 0;
}

struct json_t *tr__history_value_json(const tr_value *v) {
    json_t *o = NULL;
    switch (v->kind) {
    case TR_VALUE_NIL: return json_null();
    case TR_VALUE_INT: return json_integer(v->i);
    case TR_VALUE_STRING: return json_stringn(v->bytes, v->len);
    case TR_VALUE_KEYWORD: return json_pack("{ss#}", "keyword", v->bytes, (int)v->len);
    case TR_VALUE_BYTES: {
        char *b64 = malloc(4 * ((v->len + 2) / 3) + 1);
        if (b64) {
            tr__base64_encode((const uint8_t *)v->bytes, v->len, b64);
            o = json_pack("{ss}", "base64", b64);
            free(b64);
        }
        return o;
    }
    case TR_VALUE_TUPLE:
        o = json_array();
        for (size_t i = 0; o && i < v->len; i++) {
            if (json_array_append_new(o, tr__history_value_json(&v->items[i])) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        return o;
    }
    return NULL;
}

static json_t *json_op_value(const tr_op *op) {
    json_t *v;
    if (op->any) {
        v = tr__history_value_json(op->any);
    } else if (!op->has_value) {
        v = json_null();
    } else if (op->pair) {
        v = json_pack("[II]", (json_int_t)op->value, (json_int_t)op->value_to);
    } else {
        v = json_integer(op->value);
    }
    return json_pack("[Io]", (json_int_t)op->key, v);
}

static json_t *json_op(const tr_history *h, const tr_op *op) {
    json_t *node = op->node == TR_NODE_NONE ? json_null() : json_integer(op->node);
    json_t *o = json_pack("{sIsIsssIsssoso}", "index", (json_int_t)op->index, "time",
                          (json_int_t)op->time_ns, "type", tr__history_op_type_name(op->type),
                          "process", (json_int_t)op->process, "f", tr__history_f_name(h, op->f),
                          "value", json_op_value(op), "node", node);
    if (!o) {
        return NULL;
    }
    if (op->error[0]) {
        json_object_set_new(o, "error", json_string(op->error));
    }
    return o;
}

int tr__history_write_json(const tr_history *h, FILE *out) {
    fputs("[", out);
    for (size_t i = 0; i < h->count; i++) {
        json_t *o = json_op(h, &h->ops[i]);
        if (!o) {
            return TR_ENOMEM;
        }
        fputs(i ? ",\n " : "", out);
        int rc = json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (rc != 0) {
            return TR_EIO;
        }
    }
    fputs("]\n", out);
    return ferror(out) ? TR_EIO : 0;
}
