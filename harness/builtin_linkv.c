/* builtin_linkv.c — the lin-kv service descriptor (harness/builtin_linkv.h). Built with
 * TR__LINKV_MODULE it is also the loadable module's entry point. */
#include "harness/builtin_linkv.h"

#include <stdio.h>
#include <string.h>

#include "actors/linkv.h"
#include "harness/linkv_figures.h"
#include "harness/workload_cas.h"

static const char *const linkv_bugs[] = {"stale-leader-read", "early-commit", NULL};
static const uint32_t linkv_bug_bits[] = {TR_RAFT_BUG_STALE_LEADER_READ, TR_RAFT_BUG_EARLY_COMMIT};

/* Every replica's spawn argument: the nodes (all of them replicate), the planted bug. */
static int linkv_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    tr__linkv_arg a;
    if (cap < sizeof a || env->node_count > TR_RAFT_NODES_MAX) {
        return cap < sizeof a ? TR_ETOOBIG : TR_EINVAL;
    }
    memset(&a, 0, sizeof a);
    a.node_index = env->node_index;
    a.node_count = env->node_count;
    for (size_t i = 0; env->bug && linkv_bugs[i]; i++) {
        a.bugs |= strcmp(env->bug, linkv_bugs[i]) == 0 ? linkv_bug_bits[i] : 0;
    }
    for (uint32_t i = 0; i < env->node_count; i++) {
        if (snprintf(a.names[i], sizeof a.names[i], "%s", env->node_names[i]) >=
            (int)sizeof a.names[i]) {
            return TR_EINVAL;
        }
    }
    memcpy(buf, &a, sizeof a);
    *len = sizeof a;
    return 0;
}

/* ---- the workload: read, write and cas on a few keys, values 0..4, through any node ---- */

static int linkv_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t key_count,
                      tr_workload_op *op, uint32_t *type, const char **target, tr_mp_writer *w) {
    (void)env;
    uint32_t keys = key_count && key_count < TR__LINKV_KEYS ? key_count : TR__LINKV_KEYS;
    return tr__cas_next(rng, keys, TR__LINKV_READ, TR__LINKV_NAME, op, type, target, w);
}

/* [code, value]. A refusal is a definite fail; no answer: a read changed nothing (fail), a
 * write or cas may still take effect (info). */
static tr_history_type linkv_complete(const tr_service_env *env, const tr_workload_op *op,
                                      const tr_msg *reply, int err, tr_workload_op *done,
                                      const char **error) {
    static const char *const why[] = {"", "mismatch", "unset", "no leader", "busy", "bad"};
    (void)env, (void)err;
    return tr__cas_complete(op, reply, why, TR__LINKV_BAD, false, done, error);
}

static const tr_service_actor linkv_actors[] = {{.name = TR__LINKV_NAME,
                                                 .behaviour = &tr__linkv_behaviour,
                                                 .placement = TR_PLACE_EVERY_NODE,
                                                 .arg = linkv_arg}};
static const tr_service_request linkv_requests[] = {{"read", TR__LINKV_READ},
                                                    {"write", TR__LINKV_WRITE},
                                                    {"cas", TR__LINKV_CAS},
                                                    {"state", TR__LINKV_STATE},
                                                    {"member", TR__LINKV_MEMBER}};
static const tr_workload linkv_workload = {.next = linkv_next, .complete = linkv_complete};

const tr_service tr__builtin_linkv = {.abi = TR_SERVICE_ABI,
                                      .name = "lin-kv",
                                      .actors = linkv_actors,
                                      .actor_count = 1,
                                      .requests = linkv_requests,
                                      .request_count = 5,
                                      .workload = &linkv_workload,
                                      .lin_model = &tr_lin_model_cas_register,
                                      .checks = tr__linkv_checks,
                                      .check_count = TR__LINKV_CHECK_COUNT,
                                      .state_actor = TR__LINKV_NAME,
                                      .state_type = TR__LINKV_STATE,
                                      .bugs = linkv_bugs};

/* The module's entry point (zig-out/lib/troupe-lin-kv.so); the only symbol it exports. */
#ifdef TR__LINKV_MODULE
__attribute__((visibility("default"))) const tr_service *troupe_service_v1(void);

const tr_service *troupe_service_v1(void) {
    return &tr__builtin_linkv;
}
#endif
