/* builtin.c — the descriptors of troupe's own services (harness/builtin.h). */
#include "harness/builtin.h"

#include <string.h>

#include "harness/builtin_ap.h"
#include "harness/builtin_catalog.h"
#include "harness/builtin_broadcast.h"
#include "harness/builtin_counter.h"
#include "harness/builtin_set.h"
#include "harness/builtin_linkv.h"
#include "harness/builtin_lock.h"
#include "harness/builtin_shop.h"
#include "harness/builtin_stock.h"
#include "actors/echo.h"
#include "actors/kv.h"
#include "actors/proxy.h"
#include "actors/registers.h"
#include "actors/stock.h"
#include "harness/check_stock.h"
#include "harness/check_common.h"

/* The bits of env->bug among (name, bit) pairs; 0 when it names none of them. */
static uint32_t bug_bits(const tr_service_env *env, const char *const *names,
                         const uint32_t *bits) {
    for (size_t i = 0; env->bug && names[i]; i++) {
        if (!strcmp(env->bug, names[i])) {
            return bits[i];
        }
    }
    return 0;
}

static const tr_service_actor echo_actors[] = {
    {.name = "echo", .behaviour = &tr__echo_behaviour, .placement = TR_PLACE_EVERY_NODE}};
/* echo answers every user type; this one is a name for `troupe call`. */
static const tr_service_request echo_requests[] = {{"echo", TR_MSG_USER}};

const tr_service tr__builtin_echo = {.abi = TR_SERVICE_ABI,
                                     .name = "echo",
                                     .actors = echo_actors,
                                     .actor_count = 1,
                                     .requests = echo_requests,
                                     .request_count = 1};

/* proxy forwards a request under its own type, the target's: it has no request names. */
static const tr_service_actor proxy_actors[] = {
    {.name = "proxy", .behaviour = &tr__proxy_behaviour, .placement = TR_PLACE_EVERY_NODE}};

const tr_service tr__builtin_proxy = {
    .abi = TR_SERVICE_ABI, .name = "proxy", .actors = proxy_actors, .actor_count = 1};

/* kv takes its operation from the body (["put", k, v], ["get", k]) under any user type. */
static const tr_service_actor kv_actors[] = {
    {.name = "kv", .behaviour = &tr__kv_behaviour, .placement = TR_PLACE_EVERY_NODE}};
static const tr_service_request kv_requests[] = {{"put", TR_MSG_USER}, {"get", TR_MSG_USER}};

const tr_service tr__builtin_kv = {.abi = TR_SERVICE_ABI,
                                   .name = "kv",
                                   .actors = kv_actors,
                                   .actor_count = 1,
                                   .requests = kv_requests,
                                   .request_count = 2};

/* ---- the registers ---- */

static const tr_service_request register_requests[] = {{"read", TR_REG_READ},
                                                       {"write", TR_REG_WRITE}};

/* The registers' spawn argument: peers from the environment, the planted bug's bits. */
static int register_arg(const tr_service_env *env, uint32_t bugs, void *buf, size_t cap,
                        size_t *len) {
    if (cap < sizeof(tr_register_arg)) {
        return TR_ETOOBIG;
    }
    tr_registers_opts opts = {
        .peer_count = env->node_count, .peer_names = env->node_names, .bugs = bugs};
    tr_register_arg arg;
    int rc = tr__registers_arg_init(&arg, &opts);
    if (rc != 0) {
        return rc;
    }
    memcpy(buf, &arg, sizeof arg);
    *len = sizeof arg;
    return 0;
}

static const char *const cp_bugs[] = {"stale-read", "no-write-back", NULL};
static const uint32_t cp_bug_bits[] = {TR_REG_BUG_STALE_READ, TR_REG_BUG_NO_WRITE_BACK};

static int cp_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    return register_arg(env, bug_bits(env, cp_bugs, cp_bug_bits), buf, cap, len);
}

/* The registers' workload: each client uses its own node's replica (target); a read or a
 * write (even odds) of a random key, writes carrying a random value (62 bits from the
 * client's seeded stream, so unique in practice and the same whether a seed runs alone or
 * inside a sweep). */
static int register_next(const char *replica, tr_sim_rng *rng, uint32_t key_count,
                         tr_workload_op *op, uint32_t *type, const char **target, tr_mp_writer *w) {
    bool write = tr_sim_rng_below(rng, 2) == 0;
    uint32_t key = (uint32_t)tr_sim_rng_below(rng, key_count ? key_count : 1);
    int64_t value = write ? (int64_t)(tr_sim_rng_next(rng) >> 2) : 0;
    uint8_t *p = tr_mp_writer_room(w, TR_REG_BODY_MAX);
    size_t len = 0;
    if (p == NULL || tr__registers_request_encode(p, TR_REG_BODY_MAX, key, write, value, &len)) {
        return TR_ETOOBIG;
    }
    tr_mp_writer_advance(w, p + len);
    op->f = write ? "write" : "read";
    op->key = key;
    op->has_value = write;
    op->value = value;
    *type = write ? TR_REG_WRITE : TR_REG_READ;
    *target = replica;
    return 0;
}

static int cp_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t key_count,
                   tr_workload_op *op, uint32_t *type, const char **target, tr_mp_writer *w) {
    (void)env;
    return register_next("cp", rng, key_count, op, type, target, w);
}

/* As the registers' replies say: ok; an error that certainly did not take effect is a fail,
 * one that may have (indeterminate), a timeout or a crashed node an info. */
static tr_history_type cp_complete(const tr_service_env *env, const tr_workload_op *op,
                                   const tr_msg *reply, int err, tr_workload_op *done,
                                   const char **error) {
    (void)env;
    tr_reg_reply rep;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : "node down";
        return TR_HISTORY_INFO;
    }
    if (tr__registers_reply_decode(reply->body, reply->body_len, &rep) != 0) {
        *error = "malformed reply";
        return TR_HISTORY_INFO;
    }
    if (rep.ok) {
        if (!op->has_value) { /* a read: what it read (nil: never written) */
            done->has_value = rep.has_value;
            done->value = rep.value;
        }
        return TR_HISTORY_OK;
    }
    *error = rep.indeterminate ? "indeterminate" : "refused";
    return rep.indeterminate ? TR_HISTORY_INFO : TR_HISTORY_FAIL;
}

static const tr_workload cp_workload = {.next = cp_next, .complete = cp_complete};

/* progress (harness/check_common.h): reads and writes each succeed at least once. Linearizability
 * alone holds for a store that refuses or loses every request, which no fault of the nemesis
 * excuses: its splits heal and a majority is up most of the run. */
static tr_verdict cp_check_progress(const tr_check_input *in, char *why, size_t why_cap) {
    static const char *const fs[] = {"read", "write"};
    return tr__check_progress(in->history, fs, 2, why, why_cap) ? TR_VERDICT_HELD
                                                                : TR_VERDICT_VIOLATED;
}

static const tr_check cp_checks[] = {{"progress", cp_check_progress}};

static const tr_service_actor cp_actors[] = {{.name = "cp",
                                              .behaviour = &tr__register_cp_behaviour,
                                              .placement = TR_PLACE_EVERY_NODE,
                                              .arg = cp_arg}};

const tr_service tr__builtin_cp = {.abi = TR_SERVICE_ABI,
                                   .name = "cp",
                                   .actors = cp_actors,
                                   .actor_count = 1,
                                   .requests = register_requests,
                                   .request_count = 2,
                                   .workload = &cp_workload,
                                   .lin_model = &tr_lin_model_register,
                                   .checks = cp_checks,
                                   .check_count = 1,
                                   .bugs = cp_bugs,
                                   .nemesis = TR__REGISTER_NEMESIS};

static const char *const ap_bugs[] = {"no-anti-entropy", NULL};
static const uint32_t ap_bug_bits[] = {TR_REG_BUG_NO_ANTI_ENTROPY};

static int ap_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    return register_arg(env, bug_bits(env, ap_bugs, ap_bug_bits), buf, cap, len);
}

/* The ap workload: the cp one against the "ap" replicas (ap_complete is cp_complete: the
 * replies are the same). */
static int ap_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t key_count,
                   tr_workload_op *op, uint32_t *type, const char **target, tr_mp_writer *w) {
    (void)env;
    return register_next("ap", rng, key_count, op, type, target, w);
}

static const tr_workload ap_workload = {.next = ap_next, .complete = cp_complete};

/* The replica, and the state actor that reads it for the checks (harness/builtin_ap.h). */
static const tr_service_actor ap_actors[] = {
    {.name = "ap",
     .behaviour = &tr__register_ap_behaviour,
     .placement = TR_PLACE_EVERY_NODE,
     .arg = ap_arg},
    {.name = "ap_state", .behaviour = &tr__ap_state_behaviour, .placement = TR_PLACE_EVERY_NODE}};

const tr_service tr__builtin_ap = {.abi = TR_SERVICE_ABI,
                                   .name = "ap",
                                   .actors = ap_actors,
                                   .actor_count = 2,
                                   .requests = register_requests,
                                   .request_count = 2,
                                   .workload = &ap_workload,
                                   .checks = tr__ap_checks,
                                   .check_count = TR__AP_CHECK_COUNT,
                                   .state_actor = "ap_state",
                                   .state_type = TR__AP_STATE_REQUEST,
                                   .bugs = ap_bugs};

/* ---- stock ---- */

static const tr_service_request stock_requests[] = {
    {"reserve", TR_STOCK_RESERVE}, {"restock", TR_STOCK_RESTOCK}, {"read", TR_STOCK_READ}};
static const char *const stock_bugs[] = {"oversell", "double-charge", "unsaved-charge", NULL};
static const uint32_t stock_bug_bits[] = {TR_STOCK_BUG_OVERSELL, TR_STOCK_BUG_DOUBLE_CHARGE,
                                          TR_STOCK_BUG_UNSAVED_CHARGE};

/* Items are entities of type "stock" (actors/stock.h); the planted bug picks the handler. */
static int stock_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    tr_stock_opts opts = {.peer_count = env->node_count,
                          .peer_names = env->node_names,
                          .bugs = bug_bits(env, stock_bugs, stock_bug_bits)};
    return tr__stock_host_arg(&opts, env->node_index, buf, cap, len);
}

static const tr_service_actor stock_actors[] = {{.name = "stock",
                                                 .behaviour = &tr_entity_host,
                                                 .placement = TR_PLACE_EVERY_NODE,
                                                 .arg = stock_arg}};

const tr_service tr__builtin_stock = {.abi = TR_SERVICE_ABI,
                                      .name = "stock",
                                      .actors = stock_actors,
                                      .actor_count = 1,
                                      .requests = stock_requests,
                                      .request_count = 3,
                                      .workload = &tr__stock_workload,
                                      .checks = tr__stock_checks,
                                      .check_count = TR__STOCK_CHECK_COUNT,
                                      .bugs = stock_bugs};

const tr_service *const tr__builtin_services[TR__BUILTIN_COUNT] = {
    &tr__builtin_echo,   &tr__builtin_proxy,   &tr__builtin_kv,   &tr__builtin_cp,
    &tr__builtin_ap,     &tr__builtin_stock,   &tr__builtin_lock, &tr__builtin_linkv,
    &tr__builtin_pubsub, &tr__builtin_catalog, &tr__builtin_shop};

const tr_service *tr__builtin_find(const char *name) {
    for (size_t i = 0; name && i < TR__BUILTIN_COUNT; i++) {
        if (!strcmp(tr__builtin_services[i]->name, name)) {
            return tr__builtin_services[i];
        }
    }
    return NULL;
}

const tr_service *tr__builtin_crdt_find(const char *name) {
    static const tr_service *const crdts[] = {&tr__builtin_counter, &tr__builtin_set,
                                              &tr__builtin_broadcast};
    for (size_t i = 0; name && i < sizeof crdts / sizeof crdts[0]; i++) {
        if (!strcmp(crdts[i]->name, name)) {
            return crdts[i];
        }
    }
    return NULL;
}
