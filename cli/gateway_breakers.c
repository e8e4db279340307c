/* gateway_breakers.c — the gateway's per-dependency circuit breakers (cli/gateway_breakers.h). */
#include "cli/gateway_breakers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cluster/log.h"
#include "runtime/assert.h"

struct tr__gw_breakers {
    pthread_mutex_t lock; /* guards breakers[] */
    tr_breaker breakers[TR__GW_DEP_COUNT];
    char node[TR_NAME_MAX + 1];
};

static const char *const dep_names[TR__GW_DEP_COUNT] = {"catalog", "catalog-writer", "orders"};

const char *tr__gw_dep_name(tr__gw_dep dep) {
    TR_ASSERT(dep < TR__GW_DEP_COUNT);
    return dep_names[dep];
}

uint64_t tr__gw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int tr__gw_breakers_create(const tr_breaker_config *cfg, const char *node_name,
                           tr__gw_breakers **out) {
    TR_ASSERT(node_name != NULL && out != NULL);
    tr_breaker_config defaults;
    tr_breaker_config_init(&defaults);
    tr__gw_breakers *set = calloc(1, sizeof *set);
    if (!set) {
        return TR_ENOMEM;
    }
    uint64_t now = tr__gw_now_ms();
    for (int i = 0; i < TR__GW_DEP_COUNT; i++) {
        int rc = tr_breaker_init(&set->breakers[i], cfg ? cfg : &defaults, now);
        if (rc != 0) {
            free(set);
            return rc;
        }
    }
    if (pthread_mutex_init(&set->lock, NULL) != 0) {
        free(set);
        return TR_ENOMEM;
    }
    snprintf(set->node, sizeof set->node, "%s", node_name);
    *out = set;
    return 0;
}

void tr__gw_breakers_destroy(tr__gw_breakers *set) {
    if (set) {
        pthread_mutex_destroy(&set->lock);
        free(set);
    }
}

static tr_breaker_state state_of(const tr_breaker *b, uint64_t now) {
    tr_breaker_status st;
    tr_breaker_status_get(b, now, &st);
    return st.state;
}

/* A log line when dep's state moved from `before` (called with the lock held: the lines of
 * one breaker come out in the order of its transitions). */
static void log_transition(tr__gw_breakers *set, tr__gw_dep dep, tr_breaker_state before,
                           uint64_t now) {
    const tr_breaker *b = &set->breakers[dep];
    tr_breaker_status st;
    tr_breaker_status_get(b, now, &st);
    if (st.state == before) {
        return;
    }
    tr__log_write(st.state == TR_BREAKER_OPEN ? "warn" : "info", set->node,
                  "event=breaker_transition dependency=%s from=%s to=%s retry_after_ms=%llu "
                  "failures=%llu rejected=%llu",
                  dep_names[dep], tr_breaker_state_name(before), tr_breaker_state_name(st.state),
                  (unsigned long long)st.retry_after_ms, (unsigned long long)st.failures,
                  (unsigned long long)st.rejected);
}

int tr__gw_breaker_allow(tr__gw_breakers *set, tr__gw_dep dep, uint32_t *retry_after_s) {
    TR_ASSERT(set != NULL && dep < TR__GW_DEP_COUNT && retry_after_s != NULL);
    uint64_t now = tr__gw_now_ms();
    pthread_mutex_lock(&set->lock);
    tr_breaker *b = &set->breakers[dep];
    tr_breaker_state before = state_of(b, now);
    int rc = tr_breaker_allow(b, now);
    uint64_t after_ms = rc == 0 ? 0 : tr_breaker_retry_after_ms(b, now);
    log_transition(set, dep, before, now);
    pthread_mutex_unlock(&set->lock);
    /* HALF_OPEN with every probe out also refuses: come back in a second */
    *retry_after_s = rc == 0 ? 0 : (uint32_t)((after_ms + 999) / 1000);
    if (rc != 0 && *retry_after_s == 0) {
        *retry_after_s = 1;
    }
    TR_ASSERT(rc == 0 || rc == TR_EAGAIN);
    return rc;
}

void tr__gw_breaker_record(tr__gw_breakers *set, tr__gw_dep dep, bool ok) {
    TR_ASSERT(set != NULL && dep < TR__GW_DEP_COUNT);
    uint64_t now = tr__gw_now_ms();
    pthread_mutex_lock(&set->lock);
    tr_breaker *b = &set->breakers[dep];
    tr_breaker_state before = state_of(b, now);
    tr_breaker_record(b, now, ok);
    log_transition(set, dep, before, now);
    pthread_mutex_unlock(&set->lock);
}

void tr__gw_breaker_status(tr__gw_breakers *set, tr__gw_dep dep, tr_breaker_status *out) {
    TR_ASSERT(set != NULL && dep < TR__GW_DEP_COUNT && out != NULL);
    uint64_t now = tr__gw_now_ms();
    pthread_mutex_lock(&set->lock);
    tr_breaker_status_get(&set->breakers[dep], now, out);
    pthread_mutex_unlock(&set->lock);
}
