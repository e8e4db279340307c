/* account.c — a bank account service, written against troupe.h alone (README.md, "Writing a
 * service"). Every node runs an "account" actor: it owns the accounts k with k % N == its node
 * index (balances in its durable store) and forwards requests for the others to their owner, so
 * any node serves any account. Answers wait until the write is durable (planted bug
 * "early-reply": they do not). Requests: [account, amount]; answer: the balance, or why not. */
#include <stdio.h>
#include <string.h>

#include "troupe.h"

enum {
    DEPOSIT = TR_MSG_USER,
    WITHDRAW,
    BALANCE,
    ACCOUNTS = 64
};

/* Applies a request to account k, which this node owns: NULL and the balance in *b, or why not. */
static const char *apply(tr_ctx *ctx, uint32_t type, int64_t k, int64_t amount, int64_t *b) {
    int64_t d = type == DEPOSIT ? amount : type == WITHDRAW ? -amount : 0;
    size_t len;
    int rc = tr_kv_get(ctx, &k, sizeof k, b, sizeof *b, &len);
    if ((rc != 0 && rc != TR_ENOENT) || __builtin_add_overflow(*b, d, b) || *b < 0) {
        return rc != 0 && rc != TR_ENOENT ? "cannot read" : d < 0 ? "overdraft" : "too large";
    }
    return d != 0 && tr_kv_put(ctx, &k, sizeof k, b, sizeof *b) != 0 ? "store failed" : NULL;
}

static int receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    const tr_service_place *at = state;
    int64_t v[2] = {-1, 0}, b = 0; /* [account, amount] or [account] */
    const char *why = "want [account 0..63, amount >= 0]";
    if (m->type < DEPOSIT || m->type > BALANCE || tr_msg_is_reply(m)) {
        return TR_CONTINUE;
    }
    if (tr_msg_read_ints(m, v, 2) >= 1 && v[0] >= 0 && v[0] < ACCOUNTS && v[1] >= 0) {
        if (tr_service_forward_owner(ctx, m, at, "account", v[0]) != TR_SERVICE_MINE) {
            return TR_CONTINUE; /* the owner answers, or the forward was refused and answered */
        }
        why = apply(ctx, m->type, v[0], v[1], &b);
    }
    /* a read waits for durability too: it may have seen a write that is not durable yet */
    (void)(why ? tr_reply_str(ctx, m, why, false)
               : tr_reply_int(ctx, m, b, strcmp(at->bug, "early-reply") != 0));
    return TR_CONTINUE;
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
 * takes the widening back, info keeps it (indeterminate). The balance is what the owner's store
 * holds after the run. */
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
    for (int64_t k = 0, b = 0; k < ACCOUNTS; k++, b = 0) {
        size_t len;
        uint32_t node = (uint32_t)(k % in->node_count);
        int rc = tr_check_kv_get(in, node, "account", &k, sizeof k, &b, sizeof b, &len);
        if (rc != 0 && rc != TR_ENOENT) {
            snprintf(why, cap, "cannot read n%u's store: %s", node + 1, tr_strerror(rc));
            return TR_VERDICT_UNKNOWN;
        } else if (b < lo[k] || b > hi[k]) {
            snprintf(why, cap, "account %lld: balance %lld outside [%lld, %lld]", (long long)k,
                     (long long)b, (long long)lo[k], (long long)hi[k]);
            return TR_VERDICT_VIOLATED;
        }
    }
    return TR_VERDICT_HELD;
}

static const tr_behaviour behaviour = {"account", sizeof(tr_service_place), tr_service_place_init,
                                       receive};
static const tr_service_actor actors[] = {{"account", &behaviour}};
static const tr_service_request requests[] = {
    {"deposit", DEPOSIT}, {"withdraw", WITHDRAW}, {"balance", BALANCE}};
static const tr_workload_op_spec ops[] = {
    {"deposit", DEPOSIT, true, 1, 10}, {"withdraw", WITHDRAW, true, 1, 10}, {"balance", BALANCE}};
static const tr_workload workload = {.ops = ops, .op_count = 3};
static const tr_lin_model model = {"account", sizeof(int64_t), model_init, model_step};
static const tr_check checks[] = {{"balances", balances}};
static const char *const bugs[] = {"early-reply", NULL};
/* Its nemesis: crashes, what a durable service must survive (they also make owners unreachable). */
static const tr_service service = {
    TR_SERVICE_ABI, "account", actors, 1, requests,     3,
    &workload,      &model,    checks, 1, .bugs = bugs, .nemesis = TR_NEMESIS_CRASH};

const tr_service *troupe_service_v1(void) { /* the TR_SERVICE_ENTRY the host looks up */
    return &service;
}
