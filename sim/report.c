/* report.c — a simulated run as one self-contained HTML page (sim/report.h): the page's
 * skeleton and the run's data as JSON; sim/report_page.c holds the style and the script
 * that draw it. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/assert.h"
#include "sim/counterexample.h"
#include "sim/history.h"
#include "sim/history_value.h"
#include "sim/report.h"

/* s as a JSON string; <, > and & as \u escapes so that the data can never close its
 * <script> element. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&' || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_nodes(FILE *f, uint64_t mask) {
    fputc('[', f);
    for (uint32_t i = 0, n = 0; i < 64; i++) {
        if (mask >> i & 1) {
            fprintf(f, "%s\"n%u\"", n++ ? "," : "", i + 1);
        }
    }
    fputc(']', f);
}

/* An operation's value as text (nil, 3, 1->2, or an EDN value). */
static void value_text(const tr_op *op, char *buf, size_t cap) {
    buf[0] = '\0';
    if (op->any != NULL) {
        FILE *m = fmemopen(buf, cap, "w");
        if (m != NULL) {
            tr__value_write_edn(m, op->any);
            fclose(m);
        }
        buf[cap - 1] = '\0';
    } else if (!op->has_value) {
        snprintf(buf, cap, "nil");
    } else if (op->pair) {
        snprintf(buf, cap, "%" PRId64 "->%" PRId64, op->value, op->value_to);
    } else {
        snprintf(buf, cap, "%" PRId64, op->value);
    }
}

/* The end of the drawn time axis: the run's end, or a later event. */
static uint64_t time_end(const tr_experiment_result *r) {
    uint64_t end = r->virtual_ns;
    for (uint32_t i = 0; i < r->fault_count; i++) {
        end = r->faults[i].end_ns > end ? r->faults[i].end_ns : end;
    }
    for (uint32_t k = 0; k < r->workload_count; k++) {
        const tr_history *h = r->workloads[k].history;
        size_t n = h != NULL ? tr__history_count(h) : 0;
        if (n > 0 && (uint64_t)tr__history_op(h, n - 1)->time_ns > end) {
            end = (uint64_t)tr__history_op(h, n - 1)->time_ns;
        }
    }
    return end > 0 ? end : 1;
}

static void json_summary(FILE *f, const tr__report_input *in, uint64_t end) {
    const tr_experiment_result *r = in->result;
    fprintf(f,
            "{\"seed\":%" PRIu64 ",\"verdict\":\"%s\",\"trace_hash\":\"%016" PRIx64
            "\",\"nodes\":%u,\"end_ns\":%" PRIu64 ",\"virtual_ns\":%" PRIu64 ",\"events\":%" PRIu64
            ",\"replay\":",
            r->seed, tr_verdict_name(r->verdict), r->trace_hash, in->nodes, end, r->virtual_ns,
            r->stats.events);
    json_str(f, in->replay != NULL ? in->replay : r->replay);
    fputs(",\"partition\":", f);
    if (r->partitioned) {
        fprintf(f, "{\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"minority\":",
                r->partition_start_ns, r->partition_end_ns);
        json_nodes(f, r->minority_nodes);
        fputc('}', f);
    } else {
        fputs("null", f);
    }
    fputs(",\"faults\":[", f);
    for (uint32_t i = 0; i < r->fault_count; i++) {
        const tr_fault_span *s = &r->faults[i];
        fprintf(f, "%s{\"kind\":", i ? "," : "");
        json_str(f, s->kind);
        fprintf(f, ",\"start_ns\":%" PRIu64 ",\"end_ns\":", s->start_ns);
        if (s->end_ns != 0) {
            fprintf(f, "%" PRIu64, s->end_ns);
        } else {
            fputs("null", f);
        }
        fputs(",\"nodes\":", f);
        json_nodes(f, s->nodes);
        fputc('}', f);
    }
    fputc(']', f);
}

static void json_avail(FILE *f, const char *name, const tr_availability *a, bool comma) {
    fprintf(f, "%s\"%s\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f]", comma ? "," : "", name, a->ok,
            a->fail, a->info, a->fraction);
}

static void json_checks(FILE *f, const tr_workload_result *w) {
    fputs(",\"checks\":[", f);
    for (uint32_t i = 0; i < w->check_count; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_str(f, w->checks[i].name);
        fprintf(f, ",\"verdict\":\"%s\",\"why\":", tr_verdict_name(w->checks[i].verdict));
        json_str(f, w->checks[i].why);
        fputc('}', f);
    }
    fputc(']', f);
}

/* Per time bin of width bin_ns (by completion time): completions ok, fail, info, and the
 * mean and largest latency of the ok ones. */
typedef struct bin {
    uint64_t ok, fail, info;
    uint64_t lat_sum_ns, lat_max_ns;
} bin;

static void json_series(FILE *f, const tr_history *h, uint64_t bin_ns) {
    bin b[TR__REPORT_BINS];
    memset(b, 0, sizeof b);
    size_t n = tr__history_count(h);
    for (size_t i = 0; i < n; i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type == TR_OP_INVOKE) {
            continue;
        }
        uint64_t k = (uint64_t)op->time_ns / bin_ns;
        k = k < TR__REPORT_BINS ? k : TR__REPORT_BINS - 1;
        b[k].ok += op->type == TR_OP_OK;
        b[k].fail += op->type == TR_OP_FAIL;
        b[k].info += op->type == TR_OP_INFO;
        size_t inv = tr__history_partner(h, i);
        if (op->type == TR_OP_OK && inv != SIZE_MAX) {
            uint64_t lat = (uint64_t)(op->time_ns - tr__history_op(h, inv)->time_ns);
            b[k].lat_sum_ns += lat;
            b[k].lat_max_ns = lat > b[k].lat_max_ns ? lat : b[k].lat_max_ns;
        }
    }
    fprintf(f, ",\"bin_ns\":%" PRIu64 ",\"throughput\":[", bin_ns);
    for (uint32_t k = 0; k < TR__REPORT_BINS; k++) {
        fprintf(f, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", k ? "," : "", b[k].ok, b[k].fail,
                b[k].info);
    }
    fputs("],\"latency\":[", f);
    for (uint32_t k = 0; k < TR__REPORT_BINS; k++) {
        if (b[k].ok == 0) {
            fprintf(f, "%snull", k ? "," : "");
        } else {
            fprintf(f, "%s[%.3f,%.3f]", k ? "," : "", (double)b[k].lat_sum_ns / b[k].ok / 1e6,
                    b[k].lat_max_ns / 1e6);
        }
    }
    fputc(']', f);
}

/* Whether history index i is the invoke of one of ce's operations. */
static bool in_counterexample(const tr__counterexample *ce, size_t i) {
    for (uint32_t k = 0; ce->found && ce->listed && k < ce->op_count; k++) {
        if (ce->ops[k].invoke == i) {
            return true;
        }
    }
    return false;
}

/* One bar: [index, process, invoke_ns, complete_ns (-1: never), outcome (0 none, 1 ok,
 * 2 fail, 3 info), f, key, value, node, in the counterexample, error]. */
static void json_op(FILE *f, const tr_history *h, size_t i, bool marked, bool first) {
    const tr_op *inv = tr__history_op(h, i);
    size_t c = tr__history_partner(h, i);
    const tr_op *done = c != SIZE_MAX ? tr__history_op(h, c) : NULL;
    char value[96];
    value_text(done != NULL && done->type == TR_OP_OK ? done : inv, value, sizeof value);
    fprintf(f, "%s[%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%d,", first ? "" : ",",
            inv->index, inv->process, inv->time_ns, done != NULL ? done->time_ns : -1,
            done != NULL ? (int)done->type : 0);
    json_str(f, tr__history_f_name(h, inv->f));
    fprintf(f, ",%" PRId64 ",", inv->key);
    json_str(f, value);
    fprintf(f, ",%d,%d,", (int)inv->node, marked ? 1 : 0);
    json_str(f, done != NULL ? done->error : "");
    fputc(']', f);
}

/* The operations as bars: the first `cap` invokes and every one of the counterexample. */
static void json_ops(FILE *f, const tr_history *h, const tr__counterexample *ce, uint64_t cap) {
    size_t n = tr__history_count(h);
    uint64_t total = 0, drawn = 0;
    fputs(",\"ops\":[", f);
    for (size_t i = 0; i < n; i++) {
        if (tr__history_op(h, i)->type != TR_OP_INVOKE) {
            continue;
        }
        total++;
        bool marked = in_counterexample(ce, i);
        if (drawn < cap || marked) {
            json_op(f, h, i, marked, drawn == 0);
            drawn++;
        }
    }
    fprintf(f, "],\"ops_total\":%" PRIu64 ",\"ops_drawn\":%" PRIu64, total, drawn);
}

static const tr_lin_model *model_of(const tr__report_input *in, const char *name) {
    for (uint32_t i = 0; i < in->service_count; i++) {
        if (strcmp(in->services[i]->name, name) == 0) {
            return in->services[i]->lin_model;
        }
    }
    return NULL;
}

/* The counterexample of workload k's violated linearizability check into *ce (found false:
 * none); *promised false when it comes of a search the workload does not promise. */
static void find_counterexample(const tr__report_input *in, uint32_t k, tr__counterexample *ce,
                                bool *promised) {
    const tr_workload_result *w = &in->result->workloads[k];
    const tr_lin_model *m = model_of(in, w->name);
    ce->found = false;
    *promised = true;
    for (uint32_t i = 0; i < w->check_count && m != NULL; i++) {
        const tr_check_outcome *c = &w->checks[i];
        if (strcmp(c->name, "linearizable") == 0) {
            if (c->verdict == TR_VERDICT_VIOLATED && c->has_key &&
                tr__counterexample_find(w->history, m, c->key, c->has_op ? c->op_index : TR_CE_NONE,
                                        in->lin_budget, ce) != 0) {
                ce->found = false;
            }
            return;
        }
    }
    tr_lin_result lr;
    m = in->shown_models != NULL ? in->shown_models[k] : NULL;
    *promised = false;
    if (m != NULL && tr_lincheck_history(w->history, m, in->lin_budget, &lr) == 0 &&
        lr.verdict == TR_VERDICT_VIOLATED &&
        tr__counterexample_find(w->history, m, lr.key, lr.op_index, in->lin_budget, ce) != 0) {
        ce->found = false;
    }
}

static int json_counterexample(FILE *f, const tr_history *h, const tr__counterexample *ce,
                               bool promised) {
    fputs(",\"counterexample\":", f);
    if (!ce->found) {
        fputs("null", f);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {
        return TR_ENOMEM;
    }
    tr__counterexample_print(m, h, ce);
    if (fclose(m) != 0) {
        free(text);
        return TR_ENOMEM;
    }
    fprintf(f,
            "{\"key\":%" PRId64 ",\"op_count\":%u,\"listed\":%s,\"promised\":%s,\"text\":", ce->key,
            ce->op_count, ce->listed ? "true" : "false", promised ? "true" : "false");
    json_str(f, text);
    free(text);
    fputs(",\"ops\":[", f);
    for (uint32_t k = 0; ce->listed && k < ce->op_count; k++) {
        fprintf(f, "%s%" PRIu64, k ? "," : "", ce->ops[k].invoke);
    }
    fputs("]}", f);
    return 0;
}

static int json_workload(FILE *f, const tr__report_input *in, uint32_t k, uint64_t bin_ns,
                         uint64_t cap, tr__counterexample *ce) {
    const tr_workload_result *w = &in->result->workloads[k];
    bool promised;
    fputs("{\"name\":", f);
    json_str(f, w->name);
    fprintf(f,
            ",\"verdict\":\"%s\",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64 ",\"info\":%" PRIu64
            ",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"avail\":{",
            tr_verdict_name(w->verdict), w->ops_ok, w->ops_fail, w->ops_info,
            w->latency_p50_ns / 1e6, w->latency_p99_ns / 1e6);
    json_avail(f, "all", &w->available, false);
    json_avail(f, "majority", &w->available_majority, true);
    json_avail(f, "minority", &w->available_minority, true);
    fputc('}', f);
    json_checks(f, w);
    if (w->history == NULL) {
        fputs(",\"ops\":[],\"ops_total\":0,\"ops_drawn\":0,\"counterexample\":null}", f);
        return 0;
    }
    find_counterexample(in, k, ce, &promised);
    json_ops(f, w->history, ce, cap);
    json_series(f, w->history, bin_ns);
    int rc = json_counterexample(f, w->history, ce, promised);
    fputc('}', f);
    return rc;
}

static int json_data(FILE *f, const tr__report_input *in) {
    const tr_experiment_result *r = in->result;
    uint64_t end = time_end(r);
    uint64_t bin_ns = (end + TR__REPORT_BINS - 1) / TR__REPORT_BINS;
    uint32_t bars = in->bars_max ? in->bars_max : TR__REPORT_BARS_MAX;
    uint64_t cap = r->workload_count ? bars / r->workload_count : 0;
    tr__counterexample *ce = calloc(1, sizeof *ce);
    if (ce == NULL) {
        return TR_ENOMEM;
    }
    json_summary(f, in, end);
    fprintf(f, ",\"bars_max\":%u,\"workloads\":[", bars);
    int rc = 0;
    for (uint32_t k = 0; k < r->workload_count && rc == 0; k++) {
        fputs(k ? "," : "", f);
        rc = json_workload(f, in, k, bin_ns, cap, ce);
    }
    fputs("]}", f);
    free(ce);
    return rc;
}

int tr__report_write(FILE *f, const tr__report_input *in) {
    TR_ASSERT(f != NULL && in != NULL && in->result != NULL);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
          "<link rel=\"icon\" href=\"data:,\">\n<title>troupe sim report</title>\n<style>\n",
          f);
    fputs(tr__report_css, f);
    fputs("</style>\n</head>\n<body>\n<noscript>This report draws itself with its inline "
          "script: enable JavaScript to see it.</noscript>\n<main id=\"report\"></main>\n"
          "<script type=\"application/json\" id=\"run-data\">",
          f);
    int rc = json_data(f, in);
    fputs("</script>\n<script>\n", f);
    fputs(tr__report_script, f);
    fputs("</script>\n</body>\n</html>\n", f);
    if (rc == 0 && ferror(f)) {
        rc = TR_EIO;
    }
    return rc;
}

/* mkdir -p: dir and every missing parent. 0 or -1 with errno. */
static int make_dirs(const char *dir, char *path, size_t cap) {
    size_t n = strlen(dir);
    if (n == 0 || n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        char c = path[i];
        path[i] = '\0';
        int rc = mkdir(path, 0777);
        path[i] = c;
        if (rc != 0 && errno != EEXIST) {
            return -1;
        }
    }
    return 0;
}

int tr__report_write_dir(const char *dir, const tr__report_input *in, char *err, size_t err_cap) {
    char path[4096];
    if (make_dirs(dir, path, sizeof path - sizeof "/index.html") != 0) {
        snprintf(err, err_cap, "--report %s: cannot create the directory: %s", dir,
                 strerror(errno));
        return TR_EIO;
    }
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, err_cap, "--report: cannot write %s: %s", path, strerror(errno));
        return TR_EIO;
    }
    int rc = tr__report_write(f, in);
    if (fclose(f) != 0 && rc == 0) {
        rc = TR_EIO;
    }
    if (rc != 0) {
        snprintf(err, err_cap, "--report: writing %s failed: %s", path, tr_strerror(rc));
    }
    return rc;
}
