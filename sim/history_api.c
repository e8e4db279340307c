/* history_api.c — the public history API of troupe.h ("Histories") over sim/history.h: the
 * public operation (tr_history_op, with its f as a string) is translated to and from the
 * internal tr_op (its f a code in the history's name table), so recorded, public and loaded
 * histories are one and the same object. */
#include <string.h>

#include "runtime/assert.h"
#include "sim/history.h"
#include "troupe.h"

_Static_assert(TR_HISTORY_OPS_MAX == TR_HISTORY_MAX_OPS_LIMIT, "one limit");
_Static_assert((int)TR_HISTORY_INVOKE == TR_OP_INVOKE && (int)TR_HISTORY_OK == TR_OP_OK &&
                   (int)TR_HISTORY_FAIL == TR_OP_FAIL && (int)TR_HISTORY_INFO == TR_OP_INFO,
               "the public and internal op types are the same codes");

tr_history *tr_history_create(size_t max_ops) {
    if (max_ops < 1 || max_ops > TR_HISTORY_OPS_MAX) {
        return NULL;
    }
    return tr__history_create(max_ops);
}

void tr_history_destroy(tr_history *h) {
    tr__history_destroy(h);
}

size_t tr_history_count(const tr_history *h) {
    return h ? tr__history_count(h) : 0;
}

int tr_history_get(const tr_history *h, size_t i, tr_history_op *out) {
    if (!h || !out || i >= tr__history_count(h)) {
        return TR_EINVAL;
    }
    const tr_op *op = tr__history_op(h, i);
    *out = (tr_history_op){.index = op->index,
                           .time_ns = op->time_ns,
                           .process = op->process,
                           .node = op->node,
                           .type = (tr_history_type)op->type,
                           .f = tr__history_f_name(h, op->f),
                           .key = op->key,
                           .has_value = op->has_value,
                           .pair = op->pair,
                           .value = op->value,
                           .value_to = op->value_to,
                           .error = op->error,
                           .any = op->any};
    TR_ASSERT(out->index == i);
    return 0;
}

/* The internal op for a public one, f given (its code); TR_EINVAL for a malformed one. */
static int to_internal(const tr_history_op *in, uint8_t f, tr_op *op) {
    if ((unsigned)in->type > TR_HISTORY_INFO || in->node < -1) {
        return TR_EINVAL;
    }
    bool fast = !in->any; /* else the fast fields are ignored: the value is in->any */
    if (fast && in->pair && !in->has_value) {
        return TR_EINVAL;
    }
    /* a built-in operation's value has its fixed shape (cas: a pair; write: a value) */
    if (fast && f < TR_F_BUILTIN_COUNT && in->has_value && in->pair != tr__history_f_is_pair(f)) {
        return TR_EINVAL;
    }
    *op = (tr_op){.time_ns = in->time_ns,
                  .process = in->process,
                  .key = in->key,
                  .value = fast && in->has_value ? in->value : 0,
                  .value_to = fast && in->pair ? in->value_to : 0,
                  .node = in->node,
                  .type = (uint8_t)in->type,
                  .f = f,
                  .has_value = fast && in->has_value,
                  .pair = fast && in->pair};
    if (in->error && in->error[0] != '\0') { /* op->error is already "" */
        size_t n = strnlen(in->error, sizeof op->error - 1);
        memcpy(op->error, in->error, n);
        op->error[n] = '\0';
    }
    return 0;
}

int tr_history_append(tr_history *h, const tr_history_op *in) {
    if (!h || !in || !in->f) {
        return TR_EINVAL;
    }
    if (tr__history_count(h) >= tr__history_max_ops(h)) {
        return TR_EFULL;
    }
    bool added;
    int f = tr__history_f_intern(h, in->f, &added);
    if (f < 0) {
        return TR_EINVAL;
    }
    tr_op op;
    int rc = to_internal(in, (uint8_t)f, &op);
    const char *why;
    if (rc == 0) {
        rc = tr__history_append_value(h, &op, in->any, &why);
    }
    if (rc != 0 && added) {
        tr__history_f_forget_last(h); /* nothing changes on error */
    }
    return rc;
}

int tr_history_write_edn(const tr_history *h, FILE *out) {
    return h && out ? tr__history_write_edn(h, out) : TR_EINVAL;
}

int tr_history_write_json(const tr_history *h, FILE *out) {
    return h && out ? tr__history_write_json(h, out) : TR_EINVAL;
}

int tr_history_load(const char *path, size_t max_ops, tr_history **out, char *err, size_t err_cap) {
    if (err && err_cap) {
        err[0] = '\0';
    }
    if (!path || !out || max_ops < 1 || max_ops > TR_HISTORY_OPS_MAX) {
        if (err && err_cap) {
            snprintf(err, err_cap, "max_ops must be 1..%u and path and out given",
                     (unsigned)TR_HISTORY_OPS_MAX);
        }
        return TR_EINVAL;
    }
    return tr__history_load_file(path, max_ops, out, err, err_cap);
}

const char *tr_verdict_name(tr_verdict v) {
    switch (v) {
    case TR_VERDICT_HELD: return "held";
    case TR_VERDICT_VIOLATED: return "violated";
    case TR_VERDICT_UNKNOWN: return "unknown";
    default: return "?";
    }
}
