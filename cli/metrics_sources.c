/* metrics_sources.c — breakers and access-control refusals as Prometheus families
 * (cli/metrics_sources.h). */
#include "cli/metrics_sources.h"

/* One breaker's row: whose it is (the gateway's or a service's) and on which dependency. */
typedef struct row {
    const char *owner, *name;
    tr_breaker_state state;
    uint64_t opened, rejected;
} row;

static void render_rows(const row *r, uint32_t n, tr__metrics_text *t) {
    tr__metrics_family(t, "troupe_breaker_state", "gauge",
                       "A circuit breaker's state: 0 closed, 1 open, 2 half-open.");
    for (uint32_t i = 0; i < n; i++) {
        tr__metrics_printf(t, "troupe_breaker_state{owner=\"%s\",breaker=\"%s\"} %d\n", r[i].owner,
                           r[i].name, (int)r[i].state);
    }
    tr__metrics_family(t, "troupe_breaker_opens_total", "counter",
                       "Times a circuit breaker opened.");
    for (uint32_t i = 0; i < n; i++) {
        tr__metrics_printf(t, "troupe_breaker_opens_total{owner=\"%s\",breaker=\"%s\"} %llu\n",
                           r[i].owner, r[i].name, (unsigned long long)r[i].opened);
    }
    tr__metrics_family(t, "troupe_breaker_rejected_total", "counter",
                       "Calls a circuit breaker refused (fast failures).");
    for (uint32_t i = 0; i < n; i++) {
        tr__metrics_printf(t, "troupe_breaker_rejected_total{owner=\"%s\",breaker=\"%s\"} %llu\n",
                           r[i].owner, r[i].name, (unsigned long long)r[i].rejected);
    }
}

static void render_breakers(tr__gw_breakers *set, const tr_shop_breaker *orders, uint32_t orders_n,
                            tr__metrics_text *t) {
    row r[TR__GW_DEP_COUNT + TR_SHOP_BREAKERS_MAX];
    uint32_t n = 0;
    for (uint32_t d = 0; set && d < TR__GW_DEP_COUNT; d++) {
        tr_breaker_status st;
        tr__gw_breaker_status(set, (tr__gw_dep)d, &st);
        r[n++] = (row){"gateway", tr__gw_dep_name((tr__gw_dep)d), st.state, st.opened, st.rejected};
    }
    for (uint32_t i = 0; i < orders_n && i < TR_SHOP_BREAKERS_MAX; i++) {
        r[n++] = (row){TR_SHOP_ORDERS_NAME, orders[i].dependency, orders[i].state, orders[i].opened,
                       orders[i].rejected};
    }
    render_rows(r, n, t);
}

void tr__metrics_sources_render(const tr__metrics_sources *s, const tr_shop_breaker *orders,
                                uint32_t orders_n, tr__metrics_text *t) {
    render_breakers(s->breakers, orders, orders_n, t);
    tr__metrics_family(t, "troupe_policy_refused_total", "counter",
                       "Messages and requests the access-control policy refused.");
    tr__metrics_printf(t, "troupe_policy_refused_total %llu\n",
                       (unsigned long long)(s->gate ? tr__policy_gate_refused(s->gate) : 0));
}
