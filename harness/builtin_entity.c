/* builtin_entity.c — the entity service descriptor (harness/builtin_entity.h). Built with
 * TR__ENTITY_MODULE it is also the loadable module's entry point; the host behaviour comes
 * from the program that loads it. */
#include "harness/builtin_entity.h"

#include <stdio.h>
#include <string.h>

#include "harness/workload_cas.h"

enum {
    REG_OK = 0,
    REG_MISMATCH = 1,
    REG_UNSET = 2
};

/* ---- the entity type: a register per id ------------------------------------------------------ */

static void reg_answer(tr_mp_writer *w, int code, bool has, int64_t v) {
    tr_mp_write_array(w, 2);
    tr_mp_write_int(w, code);
    has ? tr_mp_write_int(w, v) : tr_mp_write_nil(w);
}

/* read [id], write [id, v], cas [id, from, to]; the state: the value (8 bytes) or empty. */
static int reg_handle(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg) {
    int64_t f[3] = {0}, v = 0;
    uint32_t want = msg->type == TR__REG_READ ? 1 : msg->type == TR__REG_WRITE ? 2 : 3;
    if (msg->type < TR__REG_READ || msg->type > TR__REG_CAS ||
        tr_msg_read_ints(msg, f, 3) != (int)want) {
        return TR_EINVAL;
    }
    bool set = call->len == 8;
    if (set) {
        v = (int64_t)tr_load_be64(call->state);
    }
    if (msg->type == TR__REG_READ) {
        reg_answer(call->reply, REG_OK, set, v);
        return 0;
    }
    if (msg->type == TR__REG_CAS && (!set || v != f[1])) {
        reg_answer(call->reply, set ? REG_MISMATCH : REG_UNSET, false, 0);
        return 0;
    }
    tr_store_be64(call->state, (uint64_t)(msg->type == TR__REG_CAS ? f[2] : f[1]));
    call->len = 8;
    call->changed = true;
    reg_answer(call->reply, REG_OK, false, 0);
    return 0;
}

const tr_entity_type tr__reg_type = {.name = "reg",
                                     .state_max = 8,
                                     .msg_base = TR__REG_MSG_BASE,
                                     .handle = reg_handle,
                                     .write_timeout_ms = 500};

static const char *const entity_bugs[] = {"no-fencing", NULL};

static int entity_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    uint32_t bugs = env->bug && !strcmp(env->bug, "no-fencing") ? TR_ENTITY_BUG_NO_FENCING : 0;
    return tr_entity_host_arg(&tr__reg_type, env, bugs, buf, cap, len);
}

/* ---- the workload: read, write and cas on a few ids (harness/workload_cas.h) ------------- */

static int entity_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t key_count,
                       tr_workload_op *op, uint32_t *type, const char **target, tr_mp_writer *w) {
    (void)env;
    return tr__cas_next(rng, key_count, TR__REG_READ, tr__reg_type.name, op, type, target, w);
}

/* [code, value], or a string from the host: "indeterminate" (a write that may surface) is
 * info, every other string a definite fail (the request was not handled). */
static tr_history_type entity_complete(const tr_service_env *env, const tr_workload_op *op,
                                       const tr_msg *reply, int err, tr_workload_op *done,
                                       const char **error) {
    static const char *const why[] = {"", "mismatch", "unset"};
    (void)env, (void)err;
    return tr__cas_complete(op, reply, why, REG_UNSET, true, done, error);
}

/* ---- checks ---------------------------------------------------------------------------------- */

#define CHECK_IDS 64

/* Every id's durable state is a value some write or cas of the history tried to set, and an
 * id with an acknowledged write or cas has a durable state. */
static tr_verdict check_durable(const tr_check_input *in, char *why, size_t cap) {
    uint64_t tried[CHECK_IDS] = {0}; /* bit v: a write or cas tried value v (0..63) */
    bool acked[CHECK_IDS] = {false};
    size_t count = tr_history_count(in->history);
    for (size_t i = 0; i < count; i++) {
        tr_history_op op;
        if (tr_history_get(in->history, i, &op) != 0 || op.key < 0 || op.key >= CHECK_IDS ||
            op.f[0] == 'r') {
            continue;
        }
        int64_t v = op.f[0] == 'c' ? op.value_to : op.value;
        if (op.type == TR_HISTORY_INVOKE && v >= 0 && v < 64) {
            tried[op.key] |= 1ull << v;
        }
        acked[op.key] |= op.type == TR_HISTORY_OK;
    }
    for (int64_t id = 0; id < CHECK_IDS; id++) {
        uint8_t buf[8];
        size_t len = 0;
        int rc = tr_entity_check_get(in, &tr__reg_type, id, buf, sizeof buf, &len);
        if (rc == TR_ENOENT && acked[id]) {
            snprintf(why, cap, "id %lld: an acknowledged write left no durable state",
                     (long long)id);
            return TR_VERDICT_VIOLATED;
        }
        if (rc != 0 && rc != TR_ENOENT) {
            snprintf(why, cap, "id %lld: cannot read the stores (%s)", (long long)id,
                     tr_strerror(rc));
            return TR_VERDICT_UNKNOWN;
        }
        int64_t v = rc == 0 && len == 8 ? (int64_t)tr_load_be64(buf) : -1;
        if (rc == 0 && (len != 8 || v < 0 || v >= 64 || !(tried[id] >> v & 1u))) {
            snprintf(why, cap, "id %lld: durable state %lld was never written", (long long)id,
                     (long long)v);
            return TR_VERDICT_VIOLATED;
        }
    }
    snprintf(why, cap, "every durable state was written, every acknowledged write is durable");
    return TR_VERDICT_HELD;
}

static const tr_check entity_checks[] = {{"single-activation", tr_entity_check_single},
                                         {"durable", check_durable}};

static const tr_service_actor entity_actors[] = {{.name = "reg",
                                                  .behaviour = &tr_entity_host,
                                                  .placement = TR_PLACE_EVERY_NODE,
                                                  .arg = entity_arg}};
static const tr_service_request entity_requests[] = {
    {"read", TR__REG_READ}, {"write", TR__REG_WRITE}, {"cas", TR__REG_CAS}};
static const tr_workload entity_workload = {.next = entity_next, .complete = entity_complete};

const tr_service tr__builtin_entity = {.abi = TR_SERVICE_ABI,
                                       .name = "entity",
                                       .actors = entity_actors,
                                       .actor_count = 1,
                                       .requests = entity_requests,
                                       .request_count = 3,
                                       .workload = &entity_workload,
                                       .lin_model = &tr_lin_model_cas_register,
                                       .checks = entity_checks,
                                       .check_count = 2,
                                       .bugs = entity_bugs,
                                       /* reads are answered from the activation's memory */
                                       .lin_rests_on = "single-activation",
                                       .nemesis = TR_NEMESIS_PAUSE | TR_NEMESIS_PARTITION |
                                                  TR_NEMESIS_CRASH};

/* The module's entry point (zig-out/lib/troupe-entity.so); the only symbol it exports. */
#ifdef TR__ENTITY_MODULE
__attribute__((visibility("default"))) const tr_service *troupe_service_v1(void);

const tr_service *troupe_service_v1(void) {
    return &tr__builtin_entity;
}
#endif
