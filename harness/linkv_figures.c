/* linkv_figures.c — lin-kv's election and majority-side cas figures (harness/linkv_figures.h). */
#include "harness/linkv_figures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/linkv.h"

#define NEVER UINT64_MAX

/* ---- elections ------------------------------------------------------------------------------ */

/* The replicas' leader logs, each unrolled into time order. */
typedef struct logs {
    uint32_t nodes, majority;
    uint32_t len[TR_RAFT_NODES_MAX];
    tr__linkv_leader_seen e[TR_RAFT_NODES_MAX][TR__LINKV_LEADERS_MAX];
} logs;

/* A node whose store a "corrupt" fault tore is not read: it never started again. */
static bool store_torn(const tr_check_input *in, uint32_t node) {
    for (uint32_t f = 0; f < in->fault_count; f++) {
        if (!strcmp(in->faults[f].kind, "corrupt") && (in->faults[f].nodes >> node & 1)) {
            return true;
        }
    }
    return false;
}

static void logs_read(const tr_check_input *in, logs *g) {
    tr__linkv_leaders l;
    g->nodes = in->node_count < TR_RAFT_NODES_MAX ? in->node_count : TR_RAFT_NODES_MAX;
    g->majority = g->nodes / 2 + 1;
    for (uint32_t i = 0; i < g->nodes; i++) {
        size_t n = 0;
        g->len[i] = 0;
        if (store_torn(in, i) ||
            tr_check_kv_get(in, i, TR__LINKV_NAME, TR__LINKV_LEADERS_KEY, 2, &l, sizeof l, &n) !=
                0 ||
            n != sizeof l) {
            continue; /* no log: the node never saw a change, or its store is gone */
        }
        uint64_t from = l.count > TR__LINKV_LEADERS_MAX ? l.count - TR__LINKV_LEADERS_MAX : 0;
        for (uint64_t k = from; k < l.count; k++) {
            g->e[i][g->len[i]++] = l.seen[k % TR__LINKV_LEADERS_MAX];
        }
    }
}

/* K(T): when a majority had seen a leader of term T or later (NEVER if it did not). */
static uint64_t known_by_majority(const logs *g, uint64_t term) {
    uint64_t first[TR_RAFT_NODES_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->nodes; i++) {
        for (uint32_t k = 0; k < g->len[i]; k++) {
            if (g->e[i][k].term >= term && g->e[i][k].leader >= 0) {
                first[n++] = g->e[i][k].ms;
                break;
            }
        }
    }
    if (n < g->majority) {
        return NEVER;
    }
    for (uint32_t a = 1; a < n; a++) { /* insertion sort: at most 16 */
        for (uint32_t b = a; b > 0 && first[b - 1] > first[b]; b--) {
            uint64_t t = first[b];
            first[b] = first[b - 1];
            first[b - 1] = t;
        }
    }
    return first[g->majority - 1];
}

/* The next term after `after` that some replica saw with a leader (0: none), and its leader. */
static uint64_t next_leader_term(const logs *g, uint64_t after, int64_t *leader) {
    uint64_t best = 0;
    for (uint32_t i = 0; i < g->nodes; i++) {
        for (uint32_t k = 0; k < g->len[i]; k++) {
            const tr__linkv_leader_seen *e = &g->e[i][k];
            if (e->leader >= 0 && e->term > after && (best == 0 || e->term < best)) {
                best = e->term;
                *leader = e->leader;
            }
        }
    }
    return best;
}

/* When leader L0 logged that it no longer led term T0, and whether a higher term did it. */
static uint64_t stepped_down(const logs *g, uint64_t t0, int64_t l0, bool *by_term) {
    const tr__linkv_leader_seen *e = g->e[l0];
    for (uint32_t k = 0; k + 1 < g->len[l0]; k++) {
        if (e[k].term == t0 && e[k].leader == l0) {
            *by_term = e[k + 1].term > t0;
            return e[k + 1].ms;
        }
    }
    return NEVER;
}

static bool takes_node_away(const tr_fault_span *f) {
    return !strcmp(f->kind, "crash") || !strcmp(f->kind, "pause") || !strcmp(f->kind, "partition");
}

/* The last fault touching node `l0` that started in [from, to) ms; NEVER if none. */
static uint64_t fault_on(const tr_check_input *in, int64_t l0, uint64_t from, uint64_t to) {
    uint64_t at = NEVER;
    for (uint32_t f = 0; f < in->fault_count; f++) {
        const tr_fault_span *s = &in->faults[f];
        uint64_t ms = s->start_ns / 1000000;
        if (takes_node_away(s) && (s->nodes >> l0 & 1) && ms >= from && ms < to &&
            (at == NEVER || ms > at)) {
            at = ms;
        }
    }
    return at;
}

typedef struct election_stats {
    uint32_t count, needless;
    uint64_t first_ms, max_ms;
} election_stats;

static void elections_of(const tr_check_input *in, const logs *g, election_stats *st) {
    int64_t l0 = -1, l1 = -1;
    uint64_t t0 = next_leader_term(g, 0, &l0);
    while (t0 != 0) {
        uint64_t t1 = next_leader_term(g, t0, &l1);
        uint64_t k0 = known_by_majority(g, t0), k1 = t1 ? known_by_majority(g, t1) : NEVER;
        if (k1 == NEVER || l0 < 0 || (uint64_t)l0 >= g->nodes) {
            break; /* no later leader known by a majority: the run ended with this one */
        }
        bool by_term = false;
        uint64_t d = stepped_down(g, t0, l0, &by_term), f = fault_on(in, l0, k0, k1);
        uint64_t s = d < f ? d : f;
        if (k0 != NEVER && s != NEVER && s >= k0 && s <= k1 && k1 > k0) {
            uint64_t ms = k1 - s;
            st->first_ms = st->count == 0 ? ms : st->first_ms;
            st->max_ms = ms > st->max_ms ? ms : st->max_ms;
            st->count++;
            st->needless += f == NEVER && by_term;
        }
        t0 = t1;
        l0 = l1;
    }
}

static tr_verdict check_elections(const tr_check_input *in, char *why, size_t cap) {
    for (uint32_t f = 0; f < in->fault_count; f++) {
        if (!strcmp(in->faults[f].kind, "clock")) {
            snprintf(why, cap, "elections not measured: a clock fault skews the replicas' logs");
            return TR_VERDICT_HELD;
        }
    }
    logs *g = malloc(sizeof *g);
    if (g == NULL) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    election_stats st = {0};
    logs_read(in, g);
    elections_of(in, g, &st);
    free(g);
    if (st.count > 0) {
        tr_check_measure(in, "election_ms", (double)st.first_ms);
        tr_check_measure(in, "election_ms_max", (double)st.max_ms);
    }
    tr_check_measure(in, "elections", st.count);
    tr_check_measure(in, "needless_elections", st.needless);
    if (st.count == 0) {
        snprintf(why, cap, "no leader lost");
        return TR_VERDICT_HELD;
    }
    snprintf(why, cap,
             "%u leader losses, the first re-elected in %llu ms, the longest %llu ms; %u "
             "needless",
             st.count, (unsigned long long)st.first_ms, (unsigned long long)st.max_ms, st.needless);
    return TR_VERDICT_HELD;
}

/* ---- compare-and-set on the majority side ---------------------------------------------------- */

static bool on_majority_side(const tr_check_input *in, const tr_history_op *inv) {
    uint64_t all = in->node_count >= 64 ? ~0ull : (1ull << in->node_count) - 1;
    for (uint32_t f = 0; f < in->fault_count; f++) {
        const tr_fault_span *s = &in->faults[f];
        bool active = (uint64_t)inv->time_ns >= s->start_ns &&
                      (s->end_ns == 0 || (uint64_t)inv->time_ns < s->end_ns);
        if (active && !strcmp(s->kind, "partition") && inv->node >= 0 &&
            ((s->nodes & all) == all || !(s->nodes >> inv->node & 1))) {
            return true;
        }
    }
    return false;
}

static tr_verdict check_cas_majority(const tr_check_input *in, char *why, size_t cap) {
    size_t n = tr_history_count(in->history);
    uint64_t tried = 0, answered = 0;
    for (size_t i = 0; i < n; i++) {
        tr_history_op inv, ret;
        if (tr_history_get(in->history, i, &inv) != 0 || inv.type != TR_HISTORY_INVOKE ||
            strcmp(inv.f, "cas") != 0 || !on_majority_side(in, &inv)) {
            continue;
        }
        size_t j = i + 1;
        while (j < n && tr_history_get(in->history, j, &ret) == 0 && ret.process != inv.process) {
            j++;
        }
        tried++;
        answered += j < n && (ret.type == TR_HISTORY_OK ||
                              (ret.type == TR_HISTORY_FAIL && ret.error &&
                               (!strcmp(ret.error, "mismatch") || !strcmp(ret.error, "unset"))));
    }
    tr_check_measure(in, "cas_majority_tried", (double)tried);
    tr_check_measure(in, "cas_majority_answered", (double)answered);
    if (tried > 0) {
        snprintf(why, cap, "cas on the majority side: %llu of %llu answered (%.1f%%)",
                 (unsigned long long)answered, (unsigned long long)tried,
                 100.0 * (double)answered / (double)tried);
    }
    return TR_VERDICT_HELD;
}

const tr_check tr__linkv_checks[TR__LINKV_CHECK_COUNT] = {{"elections", check_elections},
                                                          {"cas-majority", check_cas_majority}};
