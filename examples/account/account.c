/* account.c — a bank account service, written against troupe.h alone (README.md, "Writing a
 * service"). Each account is an entity (troupe.h, "Entities"): the runtime places it on a
 * node, activates it from its durable state on its first request and moves it to a live node
 * when its node dies, so any node serves any account while a majority is up. The handler is
 * the whole service: a balance per account, never below zero. Requests: [account, amount] or
 * [account]; answer: the balance, or why not. Planted bug "overdraft": a withdraw skips the
 * balance check. */
#include <stdio.h>
#include <string.h>

#include "troupe.h"

enum {
    DEPOSIT = TR_MSG_USER,
    WITHDRAW,
    BALANCE,
    ACCOUNTS = 64
};

/* The state: the balance, 8 bytes big-endian (none yet: 0). */
static int handle(tr_ctx *ctx, tr_entity_call *call, const tr_msg *m) {
    int64_t v[2] = {-1, 0}, b = call->len == 8 ? (int64_t)tr_load_be64(call->state) : 0;
    int n = tr_msg_read_ints(m, v, 2);
    (void)ctx;
    if (m->type < DEPOSIT || m->type > BALANCE || n != (m->type == BALANCE ? 1 : 2) ||
        v[0] >= ACCOUNTS || v[1] < 0) {
        tr_mp_write_cstr(call->reply, "want [account 0..63, amount >= 0]");
        return 0;
    }
    int64_t d = m->type == DEPOSIT ? v[1] : m->type == WITHDRAW ? -v[1] : 0;
    const char *why = __builtin_add_overflow(b, d, &b) ? "too large" : NULL;
    why = !why && b < 0 && strcmp(call->bug, "overdraft") != 0 ? "overdraft" : why;
    if (why == NULL) {
        tr_store_be64(call->state, (uint64_t)b);
        call->len = 8;
        call->changed = d != 0; /* the answer then waits until a majority holds the balance */
    }
    why ? tr_mp_write_cstr(call->reply, why) : tr_mp_write_int(call->reply, b);
    return 0;
}

static const tr_entity_type account = {
    .name = "account", .state_max = 8, .msg_base = TR_MSG_USER + 64, .handle = handle};

static int host_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    return tr_entity_host_arg(&account, env, 0, buf, cap, len);
}

/* ---- for the simulator: a model of one account, an invariant ---- */

static void model_init(void *state) {
    *(int64_t *)state = 0;
}
/* A deposit adds, a withdraw subtracts when it can, a read reads. */
static bool model_step(void *state, const tr_history_op *op, const tr_history_op *ret) {
    int64_t *b = state, d = op->f[0] == 'd' ? op->value : -op->value;
    if (op->f[0] == 'b') {
        return !ret || ret->type != TR_HISTORY_OK || ret->value == *b;
    }
    return *b + d >= 0 && (*b += d, true);
}

/* Every account ends with lo <= balance <= hi: an invoke widens [lo, hi] by its amount on its
 * side (a deposit raises hi, a withdraw lowers lo), ok moves the other end (acknowledged), fail
 * takes the widening back, info keeps it (indeterminate). The balance is the newest one the
 * nodes' stores hold after the run. */
static tr_verdict balances(const tr_check_input *in, char *why, size_t cap) {
    int64_t lo[ACCOUNTS] = {0}, hi[ACCOUNTS] = {0};
    tr_history_op op;
    for (size_t i = 0; tr_history_get(in->history, i, &op) == 0; i++) {
        int64_t d = op.f[0] == 'd' ? op.value : -op.value;
        int64_t *end = op.type == TR_HISTORY_OK ? (d > 0 ? lo : hi) : (d > 0 ? hi : lo);
        if (op.f[0] != 'b' && op.key >= 0 && op.key < ACCOUNTS && op.type != TR_HISTORY_INFO) {
            end[op.key] += op.type == TR_HISTORY_FAIL ? -d : d;
        }
    }
    for (int64_t k = 0; k < ACCOUNTS; k++) {
        uint8_t buf[8];
        size_t len = 0;
        int rc = tr_entity_check_get(in, &account, k, buf, sizeof buf, &len);
        int64_t b = rc == 0 && len == 8 ? (int64_t)tr_load_be64(buf) : 0;
        if (rc != 0 && rc != TR_ENOENT) {
            snprintf(why, cap, "cannot read account %lld: %s", (long long)k, tr_strerror(rc));
            return TR_VERDICT_UNKNOWN;
        } else if (b < lo[k] || b > hi[k]) {
            snprintf(why, cap, "account %lld: balance %lld outside [%lld, %lld]", (long long)k,
                     (long long)b, (long long)lo[k], (long long)hi[k]);
            return TR_VERDICT_VIOLATED;
        }
    }
    return TR_VERDICT_HELD;
}

static const tr_service_actor actors[] = {{"account", &tr_entity_host, .arg = host_arg}};
static const tr_service_request requests[] = {
    {"deposit", DEPOSIT}, {"withdraw", WITHDRAW}, {"balance", BALANCE}};
static const tr_workload_op_spec ops[] = {
    {"deposit", DEPOSIT, true, 1, 10}, {"withdraw", WITHDRAW, true, 1, 10}, {"balance", BALANCE}};
static const tr_workload workload = {.ops = ops, .op_count = 3};
static const tr_lin_model model = {"account", sizeof(int64_t), model_init, model_step};
static const tr_check checks[] = {{"balances", balances},
                                  {"single-activation", tr_entity_check_single}};
static const char *const bugs[] = {"overdraft", NULL};
/* Its nemesis: what an entity survives (a dead, cut-off or paused owner's accounts move). */
static const tr_service service = {
    .abi = TR_SERVICE_ABI,
    .name = "account",
    .actors = actors,
    .actor_count = 1,
    .requests = requests,
    .request_count = 3,
    .workload = &workload,
    .lin_model = &model,
    .checks = checks,
    .check_count = 2,
    .bugs = bugs,
    .nemesis = TR_NEMESIS_CRASH | TR_NEMESIS_PARTITION | TR_NEMESIS_PAUSE,
    /* A balance read is answered from the activation's memory: linearizable while one
     * activation per account runs, which leases promise under bounded clock drift only. */
    .lin_rests_on = "single-activation"};

const tr_service *troupe_service_v1(void) { /* the TR_SERVICE_ENTRY the host looks up */
    return &service;
}
