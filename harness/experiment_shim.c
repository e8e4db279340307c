/* experiment_shim.c — weak stand-ins for the public history, linearizability and service
 * boot functions of troupe.h that sim/ and harness/service.c define: the strong definitions
 * replace these at link time. The history here is a plain bounded array that checks the
 * process invariants; the check answers unknown (never held); the boot spawns each actor on
 * the nodes its placement names and registers it. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe.h"

#define WEAK __attribute__((weak))
#define PROCS_MAX 4096

struct tr_history {
    size_t count, cap;
    tr_history_op *ops;
    uint8_t proc[PROCS_MAX]; /* 0 idle, 1 busy, 2 retired */
};

WEAK tr_history *tr_history_create(size_t max_ops) {
    tr_history *h = calloc(1, sizeof *h);
    if (h == NULL || max_ops == 0 || max_ops > TR_HISTORY_OPS_MAX ||
        (h->ops = calloc(max_ops, sizeof *h->ops)) == NULL) {
        free(h);
        return NULL;
    }
    h->cap = max_ops;
    return h;
}

WEAK void tr_history_destroy(tr_history *h) {
    if (h != NULL) {
        free(h->ops);
        free(h);
    }
}

WEAK size_t tr_history_count(const tr_history *h) {
    return h->count;
}

WEAK int tr_history_get(const tr_history *h, size_t i, tr_history_op *out) {
    if (i >= h->count) {
        return TR_EINVAL;
    }
    *out = h->ops[i];
    return 0;
}

WEAK int tr_history_append(tr_history *h, const tr_history_op *op) {
    if (op->process < 0 || op->process >= PROCS_MAX ||
        (h->count > 0 && op->time_ns < h->ops[h->count - 1].time_ns)) {
        return TR_EINVAL;
    }
    uint8_t *p = &h->proc[op->process];
    if ((op->type == TR_HISTORY_INVOKE) != (*p == 0)) {
        return TR_EINVAL;
    }
    if (h->count == h->cap) {
        return TR_EFULL;
    }
    *p = op->type == TR_HISTORY_INVOKE ? 1 : op->type == TR_HISTORY_INFO ? 2 : 0;
    h->ops[h->count] = *op;
    h->ops[h->count].index = h->count;
    h->ops[h->count].error = ""; /* the caller's strings are static or short-lived */
    h->count++;
    return 0;
}

WEAK const char *tr_verdict_name(tr_verdict v) {
    return v == TR_VERDICT_HELD ? "held" : v == TR_VERDICT_VIOLATED ? "violated" : "unknown";
}

WEAK int tr_lincheck_history(const tr_history *h, const tr_lin_model *model, uint64_t budget,
                             tr_lin_result *out) {
    (void)h;
    (void)model;
    (void)budget;
    memset(out, 0, sizeof *out);
    out->verdict = TR_VERDICT_UNKNOWN;
    strcpy(out->why, "no linearizability checker in this build");
    return 0;
}

static bool placed_here(const tr_service_actor *a, const tr_service_env *env) {
    if (a->placement == TR_PLACE_EVERY_NODE) {
        return true;
    }
    size_t n = strlen(env->node_name);
    for (const char *p = a->nodes; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, env->node_name, n) == 0) {
            return true;
        }
        p += len + (p[len] == ',');
    }
    return false;
}

WEAK int tr_service_boot(const tr_service *svc, tr_node *node, const tr_service_env *env) {
    for (uint32_t i = 0; i < svc->actor_count; i++) {
        const tr_service_actor *a = &svc->actors[i];
        uint8_t arg[4096];
        size_t len = 0;
        if (!placed_here(a, env)) {
            continue;
        }
        int rc = a->arg ? a->arg(env, arg, sizeof arg, &len) : 0;
        tr_spawn_opts so = {.name = a->name};
        tr_addr addr;
        if (rc != 0 || (rc = tr_node_spawn(node, a->behaviour, &so, arg, len, &addr)) != 0) {
            return rc;
        }
    }
    return 0;
}

WEAK int tr_service_load(const char *path, const tr_service **out, char *err, size_t err_cap) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, err_cap, "%s: cannot load it: %s", path, dlerror());
        return TR_ENOENT;
    }
    tr_service_entry_fn entry = (tr_service_entry_fn)dlsym(h, TR_SERVICE_ENTRY);
    const tr_service *svc = entry ? entry() : NULL;
    if (svc == NULL || svc->abi != TR_SERVICE_ABI) {
        snprintf(err, err_cap, "%s: not a troupe service (%s)", path,
                 svc == NULL ? "no " TR_SERVICE_ENTRY : "wrong ABI");
        return TR_EINVAL;
    }
    *out = svc;
    return 0;
}
