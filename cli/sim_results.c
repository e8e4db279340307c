/* sim_results.c — an experiment's result (tr_experiment_result) into the figures of one run
 * of a built-in workload: each register's table, stock's invariants recomputed over the
 * history for their bounds (harness/check_stock.h), and a violated key's counterexample
 * rendered while its history lives. */
#include <inttypes.h>
#include <string.h>

#include "cli/sim_cli.h"
#include "harness/builtin.h"
#include "harness/builtin_stock.h"
#include "sim/counterexample.h"

/* The why of a broken invariant, naming the first offending op. */
static void stock_why(tr__sim_stock_result *r) {
    tr__check_stock_explain(&r->chk, r->why, sizeof r->why);
}

static void stock_op_texts(tr__sim_stock_result *r) {
    if (r->chk.has_negative_op) {
        tr__check_stock_op_format(r->negative_text, sizeof r->negative_text, &r->chk.negative_op);
    }
    if (r->chk.has_suspect_op) {
        tr__check_stock_op_format(r->suspect_text, sizeof r->suspect_text, &r->chk.suspect_op);
    }
}

tr_avail_counts tr__sim_avail_counts(const tr_availability *a) {
    return (tr_avail_counts){
        .ok = a->ok, .fail = a->fail, .info = a->info, .fraction = a->fraction};
}

/* Renders into buf the counterexample of a violated key (sim/counterexample.h), text or JSON;
 * "" when it does not fit (the report then shows the checker's verdict alone). */
static void render_ce(const tr_history *h, const tr__counterexample *ce, bool json, char *buf) {
    FILE *f = fmemopen(buf, TR__SIM_CE_RENDER_MAX, "w");
    buf[0] = '\0';
    if (f == NULL) {
        return;
    }
    if (json) {
        tr__counterexample_print_json(f, h, ce);
    } else {
        tr__counterexample_print(f, h, ce);
    }
    bool fits = ftell(f) < TR__SIM_CE_RENDER_MAX - 1;
    fclose(f);
    if (!fits) {
        buf[0] = '\0';
    }
}

/* The counterexample of key `key` of a violated history, kept rendered in s. */
static void find_counterexample(const tr__sim_opts *o, const tr_history *h, const tr_lin_model *m,
                                int64_t key, uint64_t stuck_at, tr__sim_store_result *s) {
    static tr__counterexample ce; /* one at a time */
    if (tr__counterexample_find(h, m, key, stuck_at, o->lin_budget, &ce) != 0 || !ce.found) {
        return;
    }
    render_ce(h, &ce, false, s->ce_text);
    render_ce(h, &ce, true, s->ce_json);
}

/* The register table's figures from an experiment's result. */
static void store_from_result(const tr__sim_opts *o, const tr_workload_result *res,
                              const tr_lin_model *model, tr__sim_store_result *s) {
    s->ran = true;
    s->ok = res->ops_ok;
    s->fail = res->ops_fail;
    s->info = res->ops_info;
    s->ops = s->ok + s->fail + s->info;
    s->avail.all = tr__sim_avail_counts(&res->available);
    s->avail.groups[0] = tr__sim_avail_counts(&res->available_majority);
    s->avail.groups[1] = tr__sim_avail_counts(&res->available_minority);
    s->lin.verdict = TR_LIN_VALID;
    s->lin_unchecked = true;
    for (uint32_t i = 0; i < res->check_count; i++) {
        const tr_check_outcome *c = &res->checks[i];
        s->lin_unchecked &= strcmp(c->name, "linearizable") != 0;
        if (strcmp(c->name, "converged") == 0) {
            s->conv_untimed = !res->convergence_timed;
            s->converged = c->verdict == TR_VERDICT_HELD && (s->conv_untimed || res->converged);
            s->converged_after_ns = res->converged_after_ns;
        }
        /* the measure of a check that held (AP's writes lost where faults allow it) */
        if (c->verdict == TR_VERDICT_HELD && c->why[0] != '\0' && s->note[0] == '\0' &&
            strcmp(c->name, "linearizable") != 0) {
            snprintf(s->note, sizeof s->note, "%s", c->why);
        }
        s->conv.lost_writes += (size_t)tr_check_outcome_measure(c, "lost_writes", 0);
        if (strcmp(c->name, "linearizable") == 0) {
            s->lin.verdict = c->verdict == TR_VERDICT_HELD       ? TR_LIN_VALID
                             : c->verdict == TR_VERDICT_VIOLATED ? TR_LIN_INVALID
                                                                 : TR_LIN_UNKNOWN;
            s->lin.unknown_key = c->key;
            s->lin.has_bad_op = c->has_op && c->op_index < tr__history_count(res->history);
            if (s->lin.has_bad_op) {
                s->lin.bad_op = *tr__history_op(res->history, c->op_index);
            }
            if (c->verdict == TR_VERDICT_VIOLATED && c->has_key) {
                find_counterexample(o, res->history, model, c->key,
                                    c->has_op ? c->op_index : TR_CE_NONE, s);
            }
        }
        if (c->verdict == TR_VERDICT_VIOLATED && !s->violated) {
            s->violated = true;
            snprintf(s->why, sizeof s->why, "%s",
                     strcmp(c->name, "linearizable") == 0 ? "history is not linearizable" : c->why);
        } else if (c->verdict == TR_VERDICT_UNKNOWN && !s->violated && !s->unknown) {
            s->unknown = true;
            if (strcmp(c->name, "linearizable") == 0) {
                snprintf(s->why, sizeof s->why,
                         "linearizability unknown: the search ran out of its budget of %u "
                         "configurations on key %" PRId64 " (--lin-budget)",
                         o->lin_budget, c->key);
            } else {
                snprintf(s->why, sizeof s->why, "%s unknown: %s", c->name, c->why);
            }
        }
    }
}

/* The service's own checks beyond the two recomputed here (single activation, the durable
 * levels): a violation is the run's, an unknown one a note. */
static void stock_service_checks(const tr_workload_result *res, tr__sim_stock_result *r) {
    for (uint32_t i = 0; i < res->check_count; i++) {
        const tr_check_outcome *c = &res->checks[i];
        if (!strcmp(c->name, "never-negative") || !strcmp(c->name, "conserved")) {
            continue;
        }
        if (c->verdict == TR_VERDICT_VIOLATED && !r->violated) {
            r->violated = true;
            snprintf(r->why, sizeof r->why, "%s: %s", c->name, c->why);
        } else if (c->verdict == TR_VERDICT_UNKNOWN && r->note[0] == '\0') {
            snprintf(r->note, sizeof r->note, "%s unknown: %s", c->name, c->why);
        }
    }
}

/* The invariants rest on single activation (tr__stock_checks' rests_on): where the service's
 * own outcome of a broken invariant says unknown and neither says violated, so does the
 * report, with the reason before its own. */
static void stock_rest(const tr_workload_result *res, tr__sim_stock_result *r) {
    const char *on = NULL;
    for (uint32_t i = 0; i < res->check_count; i++) {
        const tr_check_outcome *c = &res->checks[i];
        bool invariant = !strcmp(c->name, "never-negative") || !strcmp(c->name, "conserved");
        if (invariant && c->verdict == TR_VERDICT_VIOLATED) {
            return;
        }
        for (uint32_t k = 0; invariant && k < TR__STOCK_CHECK_COUNT; k++) {
            if (c->verdict == TR_VERDICT_UNKNOWN && !strcmp(tr__stock_checks[k].name, c->name)) {
                on = tr__stock_checks[k].rests_on;
            }
        }
    }
    if (on != NULL) {
        char text[sizeof r->why];
        snprintf(text, sizeof text, "%s", r->why);
        snprintf(r->why, sizeof r->why, "not promised when %s is unknown; %s", on, text);
        r->violated = false;
        r->unknown = true;
    }
}

/* The stock report's figures from an experiment's result: the same stock check the service's
 * checks run (harness/check_stock.h), with the bounds of every item kept for the table. */
static void stock_from_result(const tr__sim_opts *o, const tr_workload_result *res,
                              tr__sim_run *rr) {
    tr__sim_stock_result *r = &rr->stock;
    tr_stock_window w = {.partitioned = rr->partitioned,
                         .from_ns = rr->part_from_ns,
                         .to_ns = rr->part_to_ns,
                         .minority_nodes = rr->minority_mask};
    static tr_stock_report rep; /* large; the CLI runs one seed at a time */
    if (tr__stock_report(res->history, o->keys, TR_STOCK_INITIAL_DEFAULT, &w, &rep) != 0) {
        rr->tool_error = true;
        snprintf(rr->tool_why, sizeof rr->tool_why, "the stock checker failed");
        return;
    }
    static const uint8_t f_of[3] = {TR_F_READ, TR_F_RESERVE, TR_F_RESTOCK};
    r->ran = true;
    r->ops = rep.ops;
    r->ok = rep.ok;
    r->fail = rep.fail;
    r->info = rep.info;
    for (int k = 0; k < 3; k++) {
        r->f_all[f_of[k]] = rep.f_all[k];
        r->f_ok[f_of[k]] = rep.f_ok[k];
        r->refused[k] = rep.refused[k];
    }
    r->abandoned = rep.unresolved_ids;
    r->items = (uint32_t)rep.items;
    memcpy(r->final_level, rep.final_level, sizeof r->final_level);
    memcpy(r->final_known, rep.final_known, sizeof r->final_known);
    memcpy(r->bounds, rep.bounds, sizeof r->bounds);
    r->chk = rep.chk;
    r->avail.all = tr__sim_avail_counts(&res->available);
    r->avail.groups[0] = tr__sim_avail_counts(&res->available_majority);
    r->avail.groups[1] = tr__sim_avail_counts(&res->available_minority);
    r->violated = !r->chk.ok;
    stock_op_texts(r);
    if (r->violated) {
        stock_why(r);
        stock_rest(res, r);
    }
    stock_service_checks(res, r);
    if (r->chk.items_unknown > 0) {
        snprintf(r->note, sizeof r->note,
                 "%zu items' final level unknown (no final read "
                 "answered): conservation not checked there",
                 r->chk.items_unknown);
    }
}

/* Both registers: AP's linearizability is not promised, hence not one of its checks, but the
 * table shows it next to CP's (the trade-off the default run is there to show): searched
 * here over the AP history, never counted as a violation. */
static void show_ap_linearizability(const tr__sim_opts *o, const tr_workload_result *w,
                                    tr__sim_store_result *s) {
    tr_lin_result lr;
    if (!s->lin_unchecked ||
        tr_lincheck_history(w->history, &tr_lin_model_register, o->lin_budget, &lr) != 0) {
        return;
    }
    s->lin_unchecked = false;
    s->lin.verdict = lr.verdict == TR_VERDICT_HELD       ? TR_LIN_VALID
                     : lr.verdict == TR_VERDICT_VIOLATED ? TR_LIN_INVALID
                                                         : TR_LIN_UNKNOWN;
    s->lin.unknown_key = lr.key;
    s->lin.has_bad_op =
        lr.verdict == TR_VERDICT_VIOLATED && lr.op_index < tr__history_count(w->history);
    if (s->lin.has_bad_op) {
        s->lin.bad_op = *tr__history_op(w->history, lr.op_index);
        find_counterexample(o, w->history, &tr_lin_model_register, lr.key, lr.op_index, s);
    }
}

/* Workload k's share of the result into the table's figures. */
void tr__sim_part_from_result(const tr__sim_opts *o, const tr_experiment_result *res, uint32_t k,
                              tr__sim_run *r) {
    const tr_workload_result *w = &res->workloads[k];
    if (strcmp(w->name, "stock") == 0) {
        stock_from_result(o, w, r);
        return;
    }
    bool ap = strcmp(w->name, "ap") == 0;
    store_from_result(o, w, ap ? &tr_lin_model_register : tr__builtin_cp.lin_model,
                      ap ? &r->ap : &r->cp);
    if (ap && res->workload_count > 1) {
        show_ap_linearizability(o, w, &r->ap);
    }
}
