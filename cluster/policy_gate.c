/* policy_gate.c — the access policy in force on a real node (see policy_gate.h). */
#include "cluster/policy_gate.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cluster/log.h"
#include "cluster/policy.h"
#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/internal.h"
#include "runtime/real.h"
#include "runtime/registry.h"

struct tr__policy_gate {
    tr__policy *current;      /* I/O thread once the node runs (policy_gate.h) */
    _Atomic uint64_t refused; /* relaxed: a statistic, ordered with nothing */
    char path[4096];
    char node[TR_NAME_MAX + 1];
    tr_runtime *rt;                /* borrowed, set by watch */
    const tr__policy_names *names; /* borrowed, may be NULL */
    uv_signal_t sighup;
    bool watching; /* sighup is initialised (I/O thread) */
};

int tr__policy_gate_create(const char *path, const char *node_name, const tr__policy_names *names,
                           tr__policy_gate **out, char *err, size_t err_cap) {
    if (strlen(path) >= sizeof((tr__policy_gate *)0)->path) {
        snprintf(err, err_cap, "policy file path too long");
        return TR_ETOOBIG;
    }
    tr__policy_gate *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, err_cap, "out of memory");
        return TR_ENOMEM;
    }
    snprintf(g->path, sizeof g->path, "%s", path);
    snprintf(g->node, sizeof g->node, "%s", node_name);
    g->names = names;
    int rc = tr__policy_load(path, names, &g->current, err, err_cap);
    if (rc) {
        free(g);
        return rc;
    }
    tr__log_write("info", g->node, "event=policy_loaded file=%s rules=%u", g->path,
                  tr__policy_rule_count(g->current));
    *out = g;
    return 0;
}

int tr__policy_gate_reload(tr__policy_gate *g) {
    char err[320];
    tr__policy *p;
    int rc = tr__policy_load(g->path, g->names, &p, err, sizeof err);
    if (rc) {
        tr__log_write("error", g->node, "event=policy_reload_failed rules_kept=%u why=\"%s\"",
                      tr__policy_rule_count(g->current), err);
        return rc;
    }
    tr__policy_destroy(g->current);
    g->current = p;
    tr__log_write("info", g->node, "event=policy_loaded file=%s rules=%u", g->path,
                  tr__policy_rule_count(p));
    return 0;
}

static void on_sighup(uv_signal_t *h, int signum) {
    (void)signum;
    (void)tr__policy_gate_reload(h->data);
}

static void watch_on_loop(void *arg) {
    tr__policy_gate *g = arg;
    if (uv_signal_init(tr__real_loop(g->rt), &g->sighup) != 0) {
        tr__log_write("error", g->node, "event=policy_watch_failed why=\"no SIGHUP handle\"");
        return;
    }
    g->sighup.data = g;
    g->watching = true;
    if (uv_signal_start(&g->sighup, on_sighup, SIGHUP) != 0) {
        tr__log_write("error", g->node, "event=policy_watch_failed why=\"SIGHUP not caught\"");
    }
}

static void unwatch_on_loop(void *arg) {
    tr__policy_gate *g = arg;
    if (g->watching) {
        uv_close((uv_handle_t *)&g->sighup, NULL);
        g->watching = false;
    }
}

int tr__policy_gate_watch(tr__policy_gate *g, tr_runtime *rt) {
    TR_ASSERT(g != NULL && g->rt == NULL);
    g->rt = rt;
    tr__real_on_shutdown(rt, unwatch_on_loop, g);
    return tr__real_post(rt, watch_on_loop, g);
}

/* Is the receiver of the request being checked registered under name? */
struct target {
    tr_node *node;
    tr_addr to;
};

static bool registered_as(void *ud, const char *name) {
    const struct target *t = ud;
    tr_addr a;
    return tr__registry_find(t->node, name, &a) == 0 && a.node == t->to.node &&
           a.actor == t->to.actor;
}

/* A user message that is not a reply: what the policy governs (policy_gate.h). */
static bool governed(const tr_msg *m) {
    return m->type >= TR_MSG_USER && m->type < TR__SYS_BASE && !(m->flags_ & TR__F_REPLY);
}

static bool log_this(uint64_t n) {
    return n <= TR__POLICY_LOG_FIRST || (n & (n - 1)) == 0;
}

bool tr__policy_gate_admit(tr__policy_gate *g, tr_node *node, const char *from, bool client,
                           const tr_msg *msg, const char *to_name) {
    TR_ASSERT(g != NULL && g->current != NULL && msg != NULL);
    if (!governed(msg)) {
        return true;
    }
    struct target t = {node, msg->to};
    tr__policy_request r = {.from = from ? from : "",
                            .client = client,
                            .type = msg->type,
                            .to_name = to_name,
                            .registered_as = registered_as,
                            .ud = &t};
    if (tr__policy_allows(g->current, &r)) {
        return true;
    }
    tr__actor_fail_request(node, msg, TR_EFORBIDDEN);
    uint64_t n = atomic_fetch_add_explicit(&g->refused, 1, memory_order_relaxed) + 1;
    if (log_this(n)) {
        char to[TR_NAME_MAX + 32];
        if (to_name) {
            snprintf(to, sizeof to, "%s", to_name);
        } else {
            snprintf(to, sizeof to, "actor:%llu", (unsigned long long)msg->to.actor);
        }
        tr__log_write("warn", g->node,
                      "event=policy_refused from=%s role=%s type=%u to=%s request=%s refused=%llu",
                      r.from, client ? "client" : "member", msg->type, to,
                      (msg->corr & TR__CORR_REQUEST) ? "yes" : "no", (unsigned long long)n);
    }
    return false;
}

uint64_t tr__policy_gate_refused(const tr__policy_gate *g) {
    return atomic_load_explicit(&((tr__policy_gate *)g)->refused, memory_order_relaxed);
}

void tr__policy_gate_destroy(tr__policy_gate *g) {
    if (!g) {
        return;
    }
    TR_ASSERT(!g->watching);
    tr__policy_destroy(g->current);
    free(g);
}
