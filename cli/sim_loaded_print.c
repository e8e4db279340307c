/* sim_loaded_print.c — a loaded service's run reported: its counts, availability and checks
 * with their measures, the counterexample of a violated linearizability check, the fault
 * timeline and the replay line, as text or one --json line. */
#include <inttypes.h>
#include <string.h>

#include "cli/sim_cli.h"
#include "sim/counterexample.h"

/* The availability rows of a --load run: the whole run, or each side of the partition. */
static void print_loaded_availability(const tr_experiment_result *r, uint32_t nodes) {
    char a[64], b[64], minority[128], majority[128];
    tr_avail_counts all = tr__sim_avail_counts(&r->available);
    if (!r->partitioned) {
        tr__sim_format_pct(a, sizeof a, &all);
        printf("  %-24s %s\n", "available", a);
        return;
    }
    tr_avail_counts maj = tr__sim_avail_counts(&r->available_majority);
    tr_avail_counts min = tr__sim_avail_counts(&r->available_minority);
    tr__sim_format_mask(minority, sizeof minority, r->minority_nodes, nodes, true);
    tr__sim_format_mask(majority, sizeof majority, r->minority_nodes, nodes, false);
    tr__sim_format_pct(a, sizeof a, &maj);
    tr__sim_format_pct(b, sizeof b, &min);
    printf("  partition: minority {%s} | majority {%s} from %.3fs to %.3fs (heal)\n", minority,
           majority, r->partition_start_ns / 1e9, r->partition_end_ns / 1e9);
    printf("  %-24s %s\n  %-24s %s\n", "available, majority side", a, "available, minority side",
           b);
}

/* The linearizability model of the service named `name` in cfg, or NULL. */
static const tr_lin_model *loaded_model(const tr_experiment_config *cfg, const char *name) {
    for (uint32_t i = 0; i < cfg->service_count; i++) {
        if (strcmp(cfg->services[i]->name, name) == 0) {
            return cfg->services[i]->lin_model;
        }
    }
    return NULL;
}

/* The counterexample of the first workload's violated key (found, printed in the run's
 * format), or nothing: "null" in JSON. */
static void print_loaded_counterexample(const tr_experiment_result *r, const tr__sim_opts *o,
                                        const tr_experiment_config *cfg) {
    static tr__counterexample ce; /* one at a time */
    ce.found = false;
    const tr_lin_model *m = r->workload_count ? loaded_model(cfg, r->workloads[0].name) : NULL;
    for (uint32_t i = 0; i < r->check_count && m != NULL && !ce.found; i++) {
        const tr_check_outcome *c = &r->checks[i];
        if (strcmp(c->name, "linearizable") == 0 && c->verdict == TR_VERDICT_VIOLATED &&
            c->has_key &&
            tr__counterexample_find(r->history, m, c->key, c->has_op ? c->op_index : TR_CE_NONE,
                                    cfg->lin_budget, &ce) != 0) {
            ce.found = false;
        }
    }
    if (o->json) {
        tr__counterexample_print_json(stdout, r->history, &ce);
    } else if (ce.found) {
        fputs("  ", stdout);
        tr__counterexample_print(stdout, r->history, &ce);
    }
}

static void json_loaded(const tr_experiment_result *r, const tr__sim_opts *o,
                        const tr_experiment_config *cfg) {
    uint32_t nodes = o->nodes;
    tr_sim_net net = o->net;
    printf("{\"seed\":%" PRIu64 ",\"verdict\":\"%s\",\"net\":\"%s\",\"trace_hash\":\"%016" PRIx64
           "\",\"ok\":%" PRIu64 ",\"fail\":%" PRIu64 ",\"info\":%" PRIu64
           ",\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,\"faults\":%u,\"partitioned\":%s,"
           "\"minority\":",
           r->seed, tr_verdict_name(r->verdict), tr__sim_net_name(net), r->trace_hash, r->ops_ok,
           r->ops_fail, r->ops_info, r->latency_p50_ns / 1e6, r->latency_p99_ns / 1e6,
           r->fault_count, r->partitioned ? "true" : "false");
    tr__sim_json_nodes(r->partitioned ? r->minority_nodes : 0, nodes);
    putchar(',');
    tr__sim_json_fraction("availability", r->available.fraction);
    tr__sim_json_fraction("availability_majority",
                          r->partitioned ? r->available_majority.fraction : -1);
    tr__sim_json_fraction("availability_minority",
                          r->partitioned ? r->available_minority.fraction : -1);
    fputs("\"checks\":[", stdout);
    for (uint32_t i = 0; i < r->check_count; i++) {
        printf("%s{\"name\":\"%s\",\"verdict\":\"%s\"", i ? "," : "", r->checks[i].name,
               tr_verdict_name(r->checks[i].verdict));
        for (uint32_t k = 0; k < r->checks[i].measure_count; k++) { /* the check's figures */
            printf("%s\"%s\":%.17g", k ? "," : ",\"measures\":{", r->checks[i].measures[k].name,
                   r->checks[i].measures[k].value);
        }
        fputs(r->checks[i].measure_count ? "}}" : "}", stdout);
    }
    fputs("],", stdout);
    tr__sim_json_fault_timeline(r->faults, r->fault_count);
    fputs(",\"counterexample\":", stdout);
    print_loaded_counterexample(r, o, cfg);
    printf(",\"replay\":\"%s\"}\n", r->replay);
}

void tr__sim_print_loaded(const tr_experiment_result *r, const tr__sim_opts *o,
                          const tr_experiment_config *cfg) {
    if (o->json) {
        json_loaded(r, o, cfg);
        return;
    }
    printf("troupe sim: seed %" PRIu64 ": %s\n", r->seed, tr_verdict_name(r->verdict));
    printf("  ops ok/fail/info %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", latency p50 %.3f ms, p99 "
           "%.3f ms\n",
           r->ops_ok, r->ops_fail, r->ops_info, r->latency_p50_ns / 1e6, r->latency_p99_ns / 1e6);
    print_loaded_availability(r, o->nodes);
    for (uint32_t i = 0; i < r->check_count; i++) {
        printf("  %-24s %s%s%s\n", r->checks[i].name, tr_verdict_name(r->checks[i].verdict),
               r->checks[i].why[0] ? ": " : "", r->checks[i].why);
        for (uint32_t k = 0; k < r->checks[i].measure_count; k++) {
            printf("    %s %g\n", r->checks[i].measures[k].name, r->checks[i].measures[k].value);
        }
    }
    print_loaded_counterexample(r, o, cfg);
    tr__sim_print_fault_timeline(r->faults, r->fault_count, o->all_faults);
    printf("trace-hash: %016" PRIx64 "\nreplay: %s\n", r->trace_hash, r->replay);
}
