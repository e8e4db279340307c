/* metrics_sources.c — breakers and access-control refusals as Prometheus families
 * (cli/metrics_sources.h). */
#include "cli/metrics_sources.h"

static void render_breakers(tr__gw_breakers *set, tr__metrics_text *t) {
    tr_breaker_status st[TR__GW_DEP_COUNT];
    uint32_t n = set ? TR__GW_DEP_COUNT : 0;
    for (uint32_t d = 0; d < n; d++) {
        tr__gw_breaker_status(set, (tr__gw_dep)d, &st[d]);
    }
    tr__metrics_family(t, "troupe_breaker_state", "gauge",
                       "A circuit breaker's state: 0 closed, 1 open, 2 half-open.");
    for (uint32_t d = 0; d < n; d++) {
        tr__metrics_printf(t, "troupe_breaker_state{breaker=\"%s\"} %d\n",
                           tr__gw_dep_name((tr__gw_dep)d), (int)st[d].state);
    }
    tr__metrics_family(t, "troupe_breaker_opens_total", "counter",
                       "Times a circuit breaker opened.");
    for (uint32_t d = 0; d < n; d++) {
        tr__metrics_printf(t, "troupe_breaker_opens_total{breaker=\"%s\"} %llu\n",
                           tr__gw_dep_name((tr__gw_dep)d), (unsigned long long)st[d].opened);
    }
    tr__metrics_family(t, "troupe_breaker_rejected_total", "counter",
                       "Calls a circuit breaker refused (fast failures).");
    for (uint32_t d = 0; d < n; d++) {
        tr__metrics_printf(t, "troupe_breaker_rejected_total{breaker=\"%s\"} %llu\n",
                           tr__gw_dep_name((tr__gw_dep)d), (unsigned long long)st[d].rejected);
    }
}

void tr__metrics_sources_render(const tr__metrics_sources *s, tr__metrics_text *t) {
    render_breakers(s->breakers, t);
    tr__metrics_family(t, "troupe_policy_refused_total", "counter",
                       "Messages and requests the access-control policy refused.");
    tr__metrics_printf(t, "troupe_policy_refused_total %llu\n",
                       (unsigned long long)(s->gate ? tr__policy_gate_refused(s->gate) : 0));
}
