/* sim_output.c — one run of a built-in workload reported: the CP and AP table or stock's
 * invariants as text, the same as one --json line, the fault timeline, and the replay line
 * that reruns the seed. Also the pieces a loaded service's report shares (node names,
 * fractions, the fault timeline). Everything goes to stdout unless a FILE is given. */
#include <inttypes.h>
#include <string.h>

#include "cli/sim_cli.h"
#include "cli/sim_shard.h"
#include "harness/randomize.h"

/* The --net value that names a network. */
const char *tr__sim_net_name(tr_sim_net net) {
    return net == TR_SIM_NET_ORACLE ? "oracle" : "protocol";
}

void tr__sim_format_mask(char *buf, size_t cap, uint64_t mask, uint32_t nodes, bool in) {
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < nodes && len + 6 < cap; i++) {
        if ((mask >> i & 1) == in) {
            len += (size_t)snprintf(buf + len, cap - len, "%sn%u", len ? "," : "", i + 1);
        }
    }
}

void tr__sim_format_pct(char *buf, size_t cap, const tr_avail_counts *c) {
    if (c->fraction < 0) {
        snprintf(buf, cap, "-");
    } else {
        snprintf(buf, cap, "%.1f%% (%" PRIu64 "/%" PRIu64 ")", 100.0 * c->fraction, c->ok,
                 c->ok + c->fail + c->info);
    }
}

static void format_op(char *buf, size_t cap, const tr_op *op) {
    char val[32] = "nil";
    if (op->has_value) {
        snprintf(val, sizeof val, "%" PRId64, op->value);
    }
    snprintf(buf, cap, "#%" PRIu64 " %s key %" PRId64 " %s %s by p%" PRId64 " on n%d at %.3fs",
             op->index, tr__history_op_f_name((tr_op_f)op->f), op->key,
             op->f == TR_F_READ ? "->" : "=", val, op->process, op->node + 1,
             (double)op->time_ns / 1e9);
}

static void format_lin(char *buf, size_t cap, const tr__sim_store_result *r) {
    char op[160];
    if (r->lin_unchecked) {
        snprintf(buf, cap, "not checked (not promised)");
    } else if (r->lin.verdict == TR_LIN_VALID) {
        snprintf(buf, cap, "yes");
    } else if (r->lin.verdict == TR_LIN_UNKNOWN) {
        snprintf(buf, cap, "unknown (search budget, key %" PRId64 ")", r->lin.unknown_key);
    } else if (r->lin.has_bad_op) {
        format_op(op, sizeof op, &r->lin.bad_op);
        snprintf(buf, cap, "no: %s", op);
    } else {
        snprintf(buf, cap, "no");
    }
}

static void print_row(const char *label, const char *cp, const char *ap) {
    printf("  %-24s %-34s %s\n", label, cp, ap);
}

static void print_stores(const tr__sim_opts *o, const tr__sim_run *r) {
    char cp[256], ap[256];
    const tr__sim_store_result *c = &r->cp, *a = &r->ap;
    print_row("", o->cp ? "CP (ABD majority quorums)" : "", o->ap ? "AP (LWW + anti-entropy)" : "");
    snprintf(cp, sizeof cp, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, c->ok, c->fail, c->info);
    snprintf(ap, sizeof ap, "%" PRIu64 "/%" PRIu64 "/%" PRIu64, a->ok, a->fail, a->info);
    print_row("ops ok/fail/info", o->cp ? cp : "", o->ap ? ap : "");
    format_lin(cp, sizeof cp, c);
    format_lin(ap, sizeof ap, a);
    print_row("linearizable", o->cp ? cp : "", o->ap ? ap : "");
    if (r->partitioned) {
        tr__sim_format_pct(cp, sizeof cp, &c->avail.groups[0]);
        tr__sim_format_pct(ap, sizeof ap, &a->avail.groups[0]);
        print_row("available, majority side", o->cp ? cp : "", o->ap ? ap : "");
        tr__sim_format_pct(cp, sizeof cp, &c->avail.groups[1]);
        tr__sim_format_pct(ap, sizeof ap, &a->avail.groups[1]);
        print_row("available, minority side", o->cp ? cp : "", o->ap ? ap : "");
    } else {
        tr__sim_format_pct(cp, sizeof cp, &c->avail.all);
        tr__sim_format_pct(ap, sizeof ap, &a->avail.all);
        print_row("available", o->cp ? cp : "", o->ap ? ap : "");
    }
    if (a->conv_untimed) {
        snprintf(ap, sizeof ap, "%s",
                 a->converged ? "yes (final states agree)" : "NO (final states differ)");
    } else if (a->converged) {
        snprintf(ap, sizeof ap, "%.0f ms (virtual) after heal", a->converged_after_ns / 1e6);
    } else {
        snprintf(ap, sizeof ap, "NO (not within %.0f s after heal)", TR__SIM_SETTLE_NS / 1e9);
    }
    print_row("converged", o->cp ? "n/a (quorums)" : "", o->ap ? ap : "");
    snprintf(cp, sizeof cp, "%s", c->violated ? "VIOLATED" : c->unknown ? "UNKNOWN" : "held");
    snprintf(ap, sizeof ap, "%s", a->violated ? "VIOLATED" : a->unknown ? "UNKNOWN" : "held");
    print_row("stated guarantees", o->cp ? cp : "", o->ap ? ap : "");
    if (c->violated || c->unknown) {
        printf("  CP: %s\n", c->why);
    }
    if (c->ce_text[0] != '\0') {
        printf("  CP %s", c->ce_text);
    }
    if (a->violated || a->unknown) {
        printf("  AP: %s\n", a->why);
    }
    if (a->note[0] != '\0') {
        printf("  AP note: %s\n", a->note);
    }
    if (a->ce_text[0] != '\0') {
        printf("  AP %s", a->ce_text);
    }
}

/* Counts with the "out of stock" answers moved from fail to ok. */
static tr_avail_counts answered(const tr_avail_counts *c, uint64_t refused) {
    tr_avail_counts x = *c;
    refused = refused < x.fail ? refused : x.fail;
    x.ok += refused;
    x.fail -= refused;
    uint64_t done = x.ok + x.fail + x.info;
    x.fraction = done ? (double)x.ok / (double)done : -1;
    return x;
}

static void print_stock(const tr__sim_run *r) {
    const tr__sim_stock_result *s = &r->stock;
    const tr_stock_check_result *c = &s->chk;
    char a[256], b[64];
    printf("  stock service (an entity per item, durable levels, idempotency ledger)\n");
    snprintf(a, sizeof a,
             "%" PRIu64 "/%" PRIu64 "/%" PRIu64 " (ok: reserve %" PRIu64 "/%" PRIu64
             ", restock %" PRIu64 "/%" PRIu64 ", read %" PRIu64 "/%" PRIu64 ")",
             s->ok, s->fail, s->info, s->f_ok[TR_F_RESERVE], s->f_all[TR_F_RESERVE],
             s->f_ok[TR_F_RESTOCK], s->f_all[TR_F_RESTOCK], s->f_ok[TR_F_READ],
             s->f_all[TR_F_READ]);
    printf("  %-24s %s\n", "ops ok/fail/info", a);
    printf("  %-24s %" PRIu64 " reserve, %" PRIu64 " restock; %" PRIu64 " retried, %" PRIu64
           " given up\n",
           "reservation ids", c->reserve_ids, c->restock_ids, c->retried_ids, s->abandoned);
    tr_avail_counts all = answered(&s->avail.all, s->refused[0]);
    if (r->partitioned) {
        tr_avail_counts maj = answered(&s->avail.groups[0], s->refused[1]);
        tr_avail_counts min = answered(&s->avail.groups[1], s->refused[2]);
        tr__sim_format_pct(a, sizeof a, &maj);
        tr__sim_format_pct(b, sizeof b, &min);
        printf("  %-24s majority side %s, minority side %s\n", "attempts answered", a, b);
    } else {
        tr__sim_format_pct(a, sizeof a, &all);
        printf("  %-24s %s\n", "attempts answered", a);
    }
    char levels[1600] = "";
    size_t n = 0;
    uint32_t i = 0;
    for (; i < s->items && n + 70 < sizeof levels; i++) { /* 70: one entry at most */
        n += (size_t)(s->final_known[i]
                          ? snprintf(levels + n, sizeof levels - n,
                                     "%s%" PRId64 " [%" PRId64 ",%" PRId64 "]", i ? " " : "",
                                     s->final_level[i], s->bounds[i].lower, s->bounds[i].upper)
                          : snprintf(levels + n, sizeof levels - n, "%s?", i ? " " : ""));
    }
    printf("  %-24s %s%s\n", "final levels [bounds]", levels, i < s->items ? " ..." : "");
    const char *failed = s->unknown ? "unknown (not promised)" : "VIOLATED";
    printf("  %-24s %s\n", "stock never negative", c->never_negative ? "held" : failed);
    printf("  %-24s %s\n", "conservation", c->conserved ? "held (no double charge)" : failed);
    printf("  %-24s %s\n", "stated guarantees",
           s->violated  ? "VIOLATED"
           : s->unknown ? "unknown"
                        : "held");
    if (s->violated || s->unknown) {
        printf("  stock: %s\n", s->why);
    }
    if (s->note[0] != '\0') {
        printf("  stock note: %s\n", s->note);
    }
}

static void print_faults(const tr__sim_run *r) {
    printf("faults:");
    int any = 0;
    for (int f = 0; f < TR_SIM_FAULT_COUNT; f++) {
        if (r->stats.faults[f] > 0) {
            printf(" %s %" PRIu64, tr_sim_fault_name((tr_sim_fault)f), r->stats.faults[f]);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : " none");
    if (r->net_ok) {
        printf("protocol: %" PRIu64 " dials, %" PRIu64 " suspicions, %" PRIu64 " down / %" PRIu64
               " up verdicts, %" PRIu64 " refused, %" PRIu64 " protocol errors\n",
               r->net.dials, r->net.suspicions, r->net.downs, r->net.ups, r->net.refused,
               r->net.protocol_errors);
    }
}

/* A path as one shell word: as is when it is plain, else single-quoted. */
static void print_shell_word(FILE *f, const char *s) {
    if (s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+=,:@%-")] ==
        '\0') {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') {
            fputs("'\\''", f);
        } else {
            fputc(*s, f);
        }
    }
    fputc('\'', f);
}

void tr__sim_print_replay(const tr__sim_opts *o, uint64_t seed, FILE *f) {
    if (o->loaded != NULL) {
        char line[512], err[256];
        tr_experiment_config cfg = *o->loaded, drawn;
        cfg.sim.seed = seed;
        if (cfg.randomize && tr__randomize_experiment(&cfg, &drawn, err, sizeof err) == 0) {
            cfg = drawn;
        }
        tr_experiment_replay_line(&cfg, line, sizeof line);
        fputs(line, f);
        return;
    }
    tr__sim_opts drawn;
    char knobs[512];
    o = tr__sim_seed_opts(o, seed, &drawn); /* --randomize: the drawn values, as explicit options */
    fprintf(f,
            "troupe sim --seed %" PRIu64 " --nodes %u --workload %s --nemesis %s "
            "--duration %.3fs --rate %g --keys %u --clients %u%s%s",
            seed, o->nodes, tr__sim_workload_name(o), o->nemesis ? o->nemesis_text : "none",
            o->duration_ns / 1e9, o->rate, o->keys, o->clients_per_node,
            o->bug_text ? " --bug " : "", o->bug_text ? o->bug_text : "");
    if (o->scenario_path != NULL) {
        fputs(" --scenario ", f);
        print_shell_word(f, o->scenario_path);
    }
    if (o->lin_budget != TR__SIM_LIN_BUDGET_DEFAULT) {
        fprintf(f, " --lin-budget %u", o->lin_budget);
    }
    if (o->net == TR_SIM_NET_ORACLE) {
        fputs(" --net oracle", f);
    }
    tr__randomize_format(&o->knobs, o->op_timeout_ms, knobs, sizeof knobs);
    fputs(knobs, f);
}

/* The text report's fault timeline shows this many faults unless --all-faults. */
#define FAULTS_SHOWN 20

/* A clock fault's change as text ("jump +1.556s", "drift -840ppm", "skew to -0.200s"); ""
 * for a span of another kind. */
static void clock_change(char *buf, size_t cap, const tr_fault_span *f) {
    buf[0] = '\0';
    if (f->change == NULL) {
        return;
    }
    if (strcmp(f->change, "drift") == 0) {
        snprintf(buf, cap, "drift %+" PRId64 "ppm", f->value);
    } else {
        snprintf(buf, cap, "%s%s %+.3fs", f->change, strcmp(f->change, "skew") ? "" : " to",
                 (double)f->value / 1e9);
    }
}

/* Each fault that took effect: its kind, virtual window and the nodes it touched (and how a
 * clock changed). */
void tr__sim_print_fault_timeline(const tr_fault_span *f, uint32_t n, bool all) {
    if (n == 0) {
        return;
    }
    printf("fault timeline (%u, virtual time):\n", n);
    uint32_t shown = all || n <= FAULTS_SHOWN ? n : FAULTS_SHOWN;
    for (uint32_t i = 0; i < shown; i++) {
        char names[TR_SIM_NODES_MAX * 5], end[32] = "end";
        tr__sim_format_mask(names, sizeof names, f[i].nodes, TR_SIM_NODES_MAX, true);
        if (f[i].end_ns != 0) {
            snprintf(end, sizeof end, "%.3fs", f[i].end_ns / 1e9);
        }
        char change[48];
        clock_change(change, sizeof change, &f[i]);
        printf("  %-10s %9.3fs .. %-9s nodes %s%s%s%s\n", f[i].kind, f[i].start_ns / 1e9, end,
               names[0] ? names : "-", change[0] ? " (" : "", change, change[0] ? ")" : "");
    }
    if (shown < n) {
        printf("  ... and %u more (--all-faults lists every one)\n", n - shown);
    }
}

static void print_fault_timeline_of(const tr__sim_run *r, const tr__sim_opts *o) {
    tr__sim_print_fault_timeline(r->faults, r->fault_count, o->all_faults);
}

void tr__sim_print_human(const tr__sim_opts *o, const tr__sim_run *r) {
    char minority[128], majority[128];
    printf("troupe sim: seed %" PRIu64 ", %u nodes, %.0f s virtual, nemesis %s, %g ops/s per "
           "store, network %s%s%s\n",
           r->seed, o->nodes, o->duration_ns / 1e9, o->nemesis ? o->nemesis_text : "none", o->rate,
           tr__sim_net_name(o->net), o->bug_text ? ", planted bug " : "",
           o->bug_text ? o->bug_text : "");
    if (o->scenario_path != NULL) {
        printf("scenario: %s, %zu faults scheduled\n", o->scenario_path, o->scen.count);
    }
    if (r->partitioned) {
        tr__sim_format_mask(minority, sizeof minority, r->minority_mask, o->nodes, true);
        tr__sim_format_mask(majority, sizeof majority, r->minority_mask, o->nodes, false);
        printf("partition: minority {%s} | majority {%s} from %.3fs to %.3fs (heal)\n", minority,
               majority, r->part_from_ns / 1e9, r->part_to_ns / 1e9);
    }
    if (o->stock) {
        print_stock(r);
    } else {
        print_stores(o, r);
    }
    print_faults(r);
    print_fault_timeline_of(r, o);
    if (o->knobs.buggify) {
        printf("buggify: %" PRIu64 " fault points fired of %" PRIu64 " evaluated\n",
               r->stats.buggify_fired, r->stats.buggify_checked);
    }
    printf("events: %" PRIu64 " in %.3f s wall (%.0f events/s), virtual/wall time %.1fx "
           "(%.1f s virtual, the whole experiment: set-up, simulation and checks; %.3f s cpu: "
           "virtual/cpu %.1fx)\n",
           r->stats.events, r->wall_s, r->wall_s > 0 ? r->stats.events / r->wall_s : 0,
           r->wall_s > 0 ? r->virtual_ns / 1e9 / r->wall_s : 0, r->virtual_ns / 1e9, r->cpu_s,
           r->cpu_s > 0 ? r->virtual_ns / 1e9 / r->cpu_s : 0);
    printf("trace-hash: %016" PRIx64 "\n", r->trace_hash);
    printf("replay: ");
    tr__sim_print_replay(o, r->seed, stdout);
    printf("\n");
}

/* A JSON string value, escaped; null when s is empty (nothing to say). */
void tr__sim_json_str(const char *s) {
    if (s[0] == '\0') {
        fputs("null", stdout);
        return;
    }
    tr__json_string(s);
}

/* A fraction, or null when nothing was counted. */
void tr__sim_json_fraction(const char *name, double x) {
    if (x < 0) {
        printf("\"%s\":null,", name);
    } else {
        printf("\"%s\":%.4f,", name, x);
    }
}

static tr_verdict store_verdict(const tr__sim_store_result *s) {
    return s->violated ? TR_VERDICT_VIOLATED : s->unknown ? TR_VERDICT_UNKNOWN : TR_VERDICT_HELD;
}

static tr_verdict lin_verdict(tr_lin_verdict v) {
    return v == TR_LIN_VALID     ? TR_VERDICT_HELD
           : v == TR_LIN_INVALID ? TR_VERDICT_VIOLATED
                                 : TR_VERDICT_UNKNOWN;
}

static void json_store(const char *name, const tr__sim_store_result *s, bool is_ap, bool last) {
    char bad[160] = "";
    if (s->lin.verdict == TR_LIN_INVALID && s->lin.has_bad_op) {
        format_op(bad, sizeof bad, &s->lin.bad_op);
    }
    printf("\"%s\":{\"verdict\":\"%s\",\"ops\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64
           ",\"info\":%" PRIu64 ",\"linearizable\":%s%s%s,"
           "\"first_violation\":",
           name, tr_verdict_name(store_verdict(s)), s->ops, s->ok, s->fail, s->info,
           s->lin_unchecked ? "" : "\"",
           s->lin_unchecked ? "null" : tr_verdict_name(lin_verdict(s->lin.verdict)),
           s->lin_unchecked ? "" : "\"");
    tr__sim_json_str(bad);
    putchar(',');
    tr__sim_json_fraction("availability_majority", s->avail.groups[0].fraction);
    tr__sim_json_fraction("availability_minority", s->avail.groups[1].fraction);
    tr__sim_json_fraction("availability", s->avail.all.fraction);
    if (is_ap) {
        printf("\"converged\":%s,\"converged_after_ms\":", s->converged ? "true" : "false");
        if (s->converged && !s->conv_untimed) {
            printf("%.3f", s->converged_after_ns / 1e6);
        } else {
            fputs("null", stdout);
        }
        printf(",\"lost_writes\":%zu,", s->conv.lost_writes);
    }
    printf("\"violated\":%s,\"why\":", s->violated ? "true" : "false");
    tr__sim_json_str(s->why);
    fputs(",\"note\":", stdout);
    tr__sim_json_str(s->note);
    printf(",\"counterexample\":%s}%s", s->ce_json[0] ? s->ce_json : "null", last ? "" : ",");
}

static void json_stock(const tr__sim_stock_result *s) {
    const tr_stock_check_result *c = &s->chk;
    const char *neg = s->negative_text, *sus = s->suspect_text;
    printf("\"stock\":{\"ops\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64
           ",\"info\":%" PRIu64 ",\"reserve_ids\":%" PRIu64 ",\"restock_ids\":%" PRIu64
           ",\"retried_ids\":%" PRIu64 ",\"abandoned_ids\":%" PRIu64 ",",
           s->ops, s->ok, s->fail, s->info, c->reserve_ids, c->restock_ids, c->retried_ids,
           s->abandoned);
    tr__sim_json_fraction("availability_majority",
                          answered(&s->avail.groups[0], s->refused[1]).fraction);
    tr__sim_json_fraction("availability_minority",
                          answered(&s->avail.groups[1], s->refused[2]).fraction);
    tr__sim_json_fraction("availability", answered(&s->avail.all, s->refused[0]).fraction);
    printf("\"never_negative\":%s,\"first_negative\":", c->never_negative ? "true" : "false");
    tr__sim_json_str(neg);
    printf(",\"conserved\":%s,\"items_below_bounds\":%zu,\"items_above_bounds\":%zu,"
           "\"suspect\":",
           c->conserved ? "true" : "false", c->items_below, c->items_above);
    tr__sim_json_str(sus);
    fputs(",\"final_levels\":[", stdout);
    for (uint32_t i = 0; i < s->items; i++) {
        if (s->final_known[i]) {
            printf("%s{\"level\":%" PRId64 ",\"lower\":%" PRId64 ",\"upper\":%" PRId64 "}",
                   i ? "," : "", s->final_level[i], s->bounds[i].lower, s->bounds[i].upper);
        } else {
            printf("%snull", i ? "," : "");
        }
    }
    printf("],\"verdict\":\"%s\",\"violated\":%s,\"why\":",
           tr_verdict_name(s->violated  ? TR_VERDICT_VIOLATED
                           : s->unknown ? TR_VERDICT_UNKNOWN
                                        : TR_VERDICT_HELD),
           s->violated ? "true" : "false");
    tr__sim_json_str(s->why);
    fputs(",\"note\":", stdout);
    tr__sim_json_str(s->note);
    putchar('}');
}

/* Node i is n<i+1> wherever a user sees it. */
void tr__sim_json_nodes(uint64_t mask, uint32_t nodes) {
    putchar('[');
    for (uint32_t i = 0, n = 0; i < nodes; i++) {
        if (mask >> i & 1) {
            printf("%s\"n%u\"", n++ ? "," : "", i + 1);
        }
    }
    putchar(']');
}

/* The fault timeline as a JSON array of {kind, start_s, end_s (null: until the end), nodes},
 * a clock fault's with its change: "jump_s", "skew_s" or "drift_ppm". */
void tr__sim_json_fault_timeline(const tr_fault_span *f, uint32_t n) {
    fputs("\"fault_timeline\":[", stdout);
    for (uint32_t i = 0; i < n; i++) {
        printf("%s{\"kind\":", i ? "," : "");
        tr__sim_json_str(f[i].kind);
        printf(",\"start_s\":%.6f,\"end_s\":", f[i].start_ns / 1e9);
        if (f[i].end_ns != 0) {
            printf("%.6f", f[i].end_ns / 1e9);
        } else {
            fputs("null", stdout);
        }
        fputs(",\"nodes\":", stdout);
        tr__sim_json_nodes(f[i].nodes, TR_SIM_NODES_MAX);
        if (f[i].change != NULL && strcmp(f[i].change, "drift") == 0) {
            printf(",\"drift_ppm\":%" PRId64, f[i].value);
        } else if (f[i].change != NULL) {
            printf(",\"%s_s\":%.9f", strcmp(f[i].change, "skew") ? "jump" : "skew",
                   (double)f[i].value / 1e9);
        }
        putchar('}');
    }
    putchar(']');
}

void tr__sim_print_json(const tr__sim_opts *o, const tr__sim_run *r) {
    tr_verdict v = tr__sim_run_verdict(r);
    printf("{\"seed\":%" PRIu64 ",\"verdict\":\"%s\",\"held\":%s,\"nodes\":%u,\"net\":\"%s\","
           "\"trace_hash\":\"%016" PRIx64 "\",\"partitioned\":%s,\"minority\":",
           r->seed, tr_verdict_name(v), v == TR_VERDICT_HELD ? "true" : "false", o->nodes,
           tr__sim_net_name(o->net), r->trace_hash, r->partitioned ? "true" : "false");
    tr__sim_json_nodes(r->minority_mask, o->nodes);
    printf(",\"minority_mask\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"wall_s\":%.3f,\"cpu_s\":%.3f,\"check_s\":%.3f,\"virtual_s\":%.3f,\"faults\":{",
           r->minority_mask, r->stats.events, r->wall_s, r->cpu_s, r->check_s, r->virtual_ns / 1e9);
    for (int f = 0; f < TR_SIM_FAULT_COUNT; f++) {
        printf("%s\"%s\":%" PRIu64, f ? "," : "", tr_sim_fault_name((tr_sim_fault)f),
               r->stats.faults[f]);
    }
    printf("},");
    tr__sim_json_fault_timeline(r->faults, r->fault_count);
    putchar(',');
    if (o->knobs.buggify) {
        printf("\"buggify_fired\":%" PRIu64 ",", r->stats.buggify_fired);
    }
    if (o->cp) {
        json_store("cp", &r->cp, false, !o->ap);
    }
    if (o->ap) {
        json_store("ap", &r->ap, true, true);
    }
    if (o->stock) {
        json_stock(&r->stock);
    }
    printf(",\"replay\":\"");
    tr__sim_print_replay(o, r->seed, stdout);
    printf("\"}\n");
}

/* The replay line of seed into buf[TR__SWEEP_LINE_MAX] (cut at its end). */
void tr__sim_replay_line(const tr__sim_opts *o, uint64_t seed, char *buf) {
    FILE *f = fmemopen(buf, TR__SWEEP_LINE_MAX, "w");
    buf[0] = '\0';
    if (f != NULL) {
        tr__sim_print_replay(o, seed, f);
        fclose(f);
    }
    buf[TR__SWEEP_LINE_MAX - 1] = '\0';
}
