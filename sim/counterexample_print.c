/* counterexample_print.c — a counterexample (sim/counterexample.h) as text and as JSON, for
 * `troupe sim` and `troupe check` alike. An operation is named by its invoke's history index
 * (#12); its value is the completion's when it completed ok (a read's value read), else the
 * invoke's; its window is [invoke time, completion time], open-ended for info and for never
 * completed operations. */
#include <inttypes.h>
#include <string.h>

#include "sim/counterexample.h"
#include "sim/history.h"
#include "sim/history_value.h"

typedef struct ce_view {
    tr_history_op inv, done;
    bool has_done;
} ce_view;

static ce_view view(const tr_history *h, const tr__ce_op *o) {
    ce_view v = {0};
    (void)tr_history_get(h, o->invoke, &v.inv);
    v.has_done = o->complete != TR_CE_NONE && tr_history_get(h, o->complete, &v.done) == 0;
    return v;
}

/* The op whose value is shown: the ok completion, else the invoke. */
static const tr_history_op *shown(const ce_view *v) {
    return v->has_done && v->done.type == TR_HISTORY_OK ? &v->done : &v->inv;
}

static void print_value(FILE *f, const tr_history_op *op) {
    if (op->any != NULL) {
        tr__value_write_edn(f, op->any);
    } else if (!op->has_value) {
        fputs("nil", f);
    } else if (op->pair) {
        fprintf(f, "%" PRId64 "->%" PRId64, op->value, op->value_to);
    } else {
        fprintf(f, "%" PRId64, op->value);
    }
}

/* "#12 read -> 3", "#14 write 3", "#15 cas 1->2". */
static void print_label(FILE *f, const tr_history *h, const tr__ce_op *o) {
    ce_view v = view(h, o);
    fprintf(f, "#%" PRIu64 " %s%s", o->invoke, v.inv.f,
            strcmp(v.inv.f, "read") == 0 ? " -> " : " ");
    print_value(f, shown(&v));
}

static const char *outcome(const ce_view *v) {
    return !v->has_done                      ? "never completed"
           : v->done.type == TR_HISTORY_OK   ? "ok"
           : v->done.type == TR_HISTORY_INFO ? "info"
                                             : "fail";
}

static void print_order(FILE *f, const tr_history *h, const tr__counterexample *ce,
                        const tr__ce_dead_end *d) {
    if (d->order_len == 0) {
        fputs("    at the start", f);
    }
    for (uint32_t i = 0; i < d->order_len; i++) {
        fputs(i ? ", " : "    after ", f);
        print_label(f, h, &ce->ops[d->order[i]]);
    }
    fputs(": refused", f);
    for (uint32_t i = 0, n = 0; i < ce->op_count; i++) {
        if (d->refused >> i & 1) {
            fputs(n++ ? ", " : " ", f);
            print_label(f, h, &ce->ops[i]);
        }
    }
    fputc('\n', f);
}

void tr__counterexample_print(FILE *f, const tr_history *h, const tr__counterexample *ce) {
    if (!ce->found) {
        return;
    }
    fprintf(f,
            "counterexample, key %" PRId64 ": %u of the key's %u operations are not "
            "linearizable%s (%u checks)\n",
            ce->key, ce->op_count, ce->key_ops,
            !ce->minimal      ? " (reduction cut short)"
            : ce->values_only ? "; without any one of them they are"
                              : "; without any one of them they are, or a value read loses "
                                "its write",
            ce->checks);
    if (ce->values_only) {
        fputs("  a value read that none of the key's operations wrote (failed ones are left out: "
              "they certainly did not happen)\n",
              f);
    }
    if (!ce->listed) {
        fprintf(f, "  (more than %d operations: not listed)\n", TR_CE_OPS_MAX);
        return;
    }
    for (uint32_t i = 0; i < ce->op_count; i++) {
        ce_view v = view(h, &ce->ops[i]);
        fputs("  ", f);
        print_label(f, h, &ce->ops[i]);
        fprintf(f, "  p%" PRId64 " n%d  [%.6fs, ", v.inv.process, v.inv.node + 1,
                v.inv.time_ns / 1e9);
        if (v.has_done && v.done.type == TR_HISTORY_OK) {
            fprintf(f, "%.6fs] ok\n", v.done.time_ns / 1e9);
        } else {
            fprintf(f, "...) %s\n", outcome(&v));
        }
    }
    if (!ce->explained) {
        fputs("  why: too many orders to list\n", f);
        return;
    }
    fprintf(f,
            "  why no order works: %u dead end%s, every operation allowed next refused by "
            "the model\n",
            ce->dead_end_count, ce->dead_end_count == 1 ? "" : "s");
    for (uint32_t k = 0; k < ce->dead_end_stored; k++) {
        print_order(f, h, ce, &ce->dead_ends[k]);
    }
    if (ce->dead_end_count > ce->dead_end_stored) {
        fprintf(f, "    ... and %u more\n", ce->dead_end_count - ce->dead_end_stored);
    }
}

/* A JSON string of the value's EDN text for kinds JSON numbers cannot carry. */
static void json_value(FILE *f, const tr_history_op *op) {
    if (op->any != NULL) {
        char buf[256];
        FILE *m = fmemopen(buf, sizeof buf, "w");
        if (m != NULL) {
            tr__value_write_edn(m, op->any);
            fclose(m);
        }
        buf[sizeof buf - 1] = '\0';
        fputc('"', f);
        for (const char *s = m ? buf : ""; *s; s++) {
            if (*s == '"' || *s == '\\') {
                fprintf(f, "\\%c", *s);
            } else if ((unsigned char)*s < 0x20) {
                fprintf(f, "\\u%04x", (unsigned char)*s);
            } else {
                fputc(*s, f);
            }
        }
        fputc('"', f);
    } else if (!op->has_value) {
        fputs("null", f);
    } else if (op->pair) {
        fprintf(f, "[%" PRId64 ",%" PRId64 "]", op->value, op->value_to);
    } else {
        fprintf(f, "%" PRId64, op->value);
    }
}

static void json_op(FILE *f, const tr_history *h, const tr__ce_op *o) {
    ce_view v = view(h, o);
    fprintf(f, "{\"index\":%" PRIu64 ",\"process\":%" PRId64 ",\"node\":", o->invoke,
            v.inv.process);
    if (v.inv.node >= 0) {
        fprintf(f, "\"n%d\"", v.inv.node + 1);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"f\":\"%s\",\"value\":", v.inv.f); /* names are [A-Za-z0-9-_.!?*+] */
    json_value(f, shown(&v));
    fprintf(f, ",\"type\":\"%s\",\"invoke_s\":%.6f,\"complete_s\":",
            v.has_done ? outcome(&v) : "pending", v.inv.time_ns / 1e9);
    if (v.has_done && v.done.type == TR_HISTORY_OK) {
        fprintf(f, "%.6f", v.done.time_ns / 1e9);
    } else {
        fputs("null", f);
    }
    fputc('}', f);
}

void tr__counterexample_print_json(FILE *f, const tr_history *h, const tr__counterexample *ce) {
    if (!ce->found) {
        fputs("null", f);
        return;
    }
    fprintf(f,
            "{\"key\":%" PRId64 ",\"operations\":%u,\"key_operations\":%u,\"checks\":%u,"
            "\"minimal\":%s,\"values_only\":%s,\"listed\":%s,\"ops\":[",
            ce->key, ce->op_count, ce->key_ops, ce->checks, ce->minimal ? "true" : "false",
            ce->values_only ? "true" : "false", ce->listed ? "true" : "false");
    for (uint32_t i = 0; ce->listed && i < ce->op_count; i++) {
        fputs(i ? "," : "", f);
        json_op(f, h, &ce->ops[i]);
    }
    fprintf(f, "],\"explained\":%s,\"dead_end_count\":%u,\"dead_ends\":[",
            ce->explained ? "true" : "false", ce->dead_end_count);
    for (uint32_t k = 0; ce->explained && k < ce->dead_end_stored; k++) {
        const tr__ce_dead_end *d = &ce->dead_ends[k];
        fprintf(f, "%s{\"after\":[", k ? "," : "");
        for (uint32_t i = 0; i < d->order_len; i++) {
            fprintf(f, "%s%" PRIu64, i ? "," : "", ce->ops[d->order[i]].invoke);
        }
        fputs("],\"refused\":[", f);
        for (uint32_t i = 0, n = 0; i < ce->op_count; i++) {
            if (d->refused >> i & 1) {
                fprintf(f, "%s%" PRIu64, n++ ? "," : "", ce->ops[i].invoke);
            }
        }
        fputs("]}", f);
    }
    fputs("]}", f);
}
