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
    STATE,
    ACCOUNTS = 64
};

static int init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return len == sizeof(tr_service_place) ? (memcpy(state, arg, len), 0) : TR_EINVAL;
}

static int reply(tr_ctx *ctx, const tr_msg *m, const char *error, int64_t balance, bool durable) {
    uint8_t buf[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    error ? tr_mp_write_cstr(&w, error) : tr_mp_write_int(&w, balance);
    (void)(durable ? tr_reply_durable : tr_reply)(ctx, m, m->type, buf, w.len);
    return TR_CONTINUE;
}

static int reply_state(tr_ctx *ctx, const tr_msg *m) { /* every balance; 0: not ours, unused */
    uint8_t buf[ACCOUNTS * 9 + 3];
    tr_mp_writer w;
    size_t len;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, ACCOUNTS);
    for (int64_t k = 0, b = 0; k < ACCOUNTS; k++, b = 0) {
        tr_kv_get(ctx, &k, sizeof k, &b, sizeof b, &len);
        tr_mp_write_int(&w, b);
    }
    (void)tr_reply(ctx, m, STATE, buf, w.len);
    return TR_CONTINUE;
}

static int receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    const tr_service_place *at = state;
    int64_t k = -1, amount = 0, b = 0, d;
    uint32_t n = 0;
    size_t len;
    char owner[TR_NAME_MAX + 1];
    tr_mp_reader r;
    if (m->type == STATE || m->type < DEPOSIT || tr_msg_is_reply(m)) {
        return m->type == STATE && !tr_msg_is_reply(m) ? reply_state(ctx, m) : TR_CONTINUE;
    }
    tr_mp_reader_init(&r, m->body, m->body_len); /* [account, amount] or [account] */
    for (uint32_t j = 0; j < 2 && (j == 0 ? tr_mp_read_array(&r, &n) == 0 : j < n); j++) {
        tr_mp_read_int(&r, j ? &amount : &k);
    }
    if (tr_mp_reader_done(&r) || k < 0 || k >= ACCOUNTS || amount < 0 || m->type > BALANCE) {
        return reply(ctx, m, "want [account 0..63, amount >= 0]", 0, false);
    }
    if (k % at->node_count != at->node_index) { /* not ours: the owner answers the caller */
        snprintf(owner, sizeof owner, "account@n%u", (unsigned)(k % at->node_count) + 1);
        int rc = tr_forward(ctx, m, owner); /* refused at once: certainly not done */
        return rc ? reply(ctx, m, rc == TR_EUNREACH ? "owner unreachable" : "busy", 0, false)
                  : TR_CONTINUE;
    }
    d = m->type == DEPOSIT ? amount : m->type == WITHDRAW ? -amount : 0;
    int rc = tr_kv_get(ctx, &k, sizeof k, &b, sizeof b, &len);
    if ((rc != 0 && rc != TR_ENOENT) || __builtin_add_overflow(b, d, &b) || b < 0) {
        return reply(ctx, m, b < 0 ? "overdraft" : "cannot read or too large", 0, false);
    }
    if (d != 0 && tr_kv_put(ctx, &k, sizeof k, &b, sizeof b) != 0) {
        return reply(ctx, m, "store failed", 0, false);
    }
    /* a read waits for durability too: it may have seen a write that is not durable yet */
    return reply(ctx, m, NULL, b, strcmp(at->bug, "early-reply") != 0);
}

/* ---- for the simulator: a workload, a model of one account, an invariant ---- */

static int next(const tr_service_env *env, tr_sim_rng *rng, uint32_t keys, tr_workload_op *op,
                uint32_t *type, const char **target, tr_mp_writer *w) {
    static const char *const f[] = {"deposit", "withdraw", "balance"};
    uint32_t i = (uint32_t)tr_sim_rng_below(rng, 3);
    int64_t k = (int64_t)tr_sim_rng_below(rng, keys && keys < ACCOUNTS ? keys : ACCOUNTS);
    *op = (tr_workload_op){f[i], k, i < 2, false, 1 + (int64_t)tr_sim_rng_below(rng, 10), 0};
    *type = DEPOSIT + i;
    *target = "account";
    tr_mp_write_array(w, 2);
    tr_mp_write_int(w, k);
    tr_mp_write_int(w, op->value);
    return w->err;
}

/* The balance: ok (a read read it). A refusal: fail. No answer: a deposit or a withdraw may
 * still take effect (info: unknown), a read has no effect (fail). */
static tr_history_type complete(const tr_service_env *env, const tr_workload_op *op,
                                const tr_msg *reply, int err, tr_workload_op *done,
                                const char **error) {
    tr_mp_reader r;
    int64_t balance;
    *done = *op;
    tr_mp_reader_init(&r, reply ? reply->body : NULL, reply ? reply->body_len : 0);
    if (tr_mp_peek(&r) == TR_MP_STR || (!reply && op->f[0] == 'b')) {
        return *error = reply ? "refused" : "no answer", TR_HISTORY_FAIL;
    }
    if (tr_mp_read_int(&r, &balance) != 0) {
        return *error = reply ? "bad reply" : "no answer", TR_HISTORY_INFO;
    }
    done->value = op->f[0] == 'b' ? balance : op->value;
    done->has_value = true;
    return TR_HISTORY_OK;
}

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
 * takes the widening back, info keeps it (indeterminate). */
static tr_verdict balances(const tr_check_input *in, char *why, size_t cap) {
    int64_t lo[ACCOUNTS] = {0}, hi[ACCOUNTS] = {0}, b = 0;
    tr_verdict v = TR_VERDICT_HELD;
    tr_history_op op;
    for (size_t i = 0; tr_history_get(in->history, i, &op) == 0; i++) {
        int64_t d = op.f[0] == 'd' ? op.value : -op.value;
        int64_t *end = op.type == TR_HISTORY_OK ? (d > 0 ? lo : hi) : (d > 0 ? hi : lo);
        if (op.f[0] != 'b' && op.key >= 0 && op.key < ACCOUNTS && op.type != TR_HISTORY_INFO) {
            end[op.key] += op.type == TR_HISTORY_FAIL ? -d : d;
        }
    }
    for (uint32_t k = 0, node, n = 0; k < ACCOUNTS; k++) {
        tr_mp_reader r;
        node = k % in->node_count;
        tr_mp_reader_init(&r, in->states[node], in->states[node] ? in->state_lens[node] : 0);
        tr_mp_read_array(&r, &n);
        for (uint32_t i = 0; i <= k; i++) {
            tr_mp_read_int(&r, &b);
        }
        if (r.err || n != ACCOUNTS) {
            v = TR_VERDICT_UNKNOWN;
            snprintf(why, cap, "no final state from n%u", node + 1);
        } else if (b < lo[k] || b > hi[k]) {
            snprintf(why, cap, "account %u: balance %lld outside [%lld, %lld]", k, (long long)b,
                     (long long)lo[k], (long long)hi[k]);
            return TR_VERDICT_VIOLATED;
        }
    }
    return v;
}

static const tr_behaviour behaviour = {"account", sizeof(tr_service_place), init, receive};
static const tr_service_actor actors[] = {{"account", &behaviour}};
static const tr_service_request requests[] = {
    {"deposit", DEPOSIT}, {"withdraw", WITHDRAW}, {"balance", BALANCE}, {"state", STATE}};
static const tr_workload workload = {.next = next, .complete = complete};
static const tr_lin_model model = {"account", sizeof(int64_t), model_init, model_step};
static const tr_check checks[] = {{"balances", balances}};
static const char *const bugs[] = {"early-reply", NULL};
static const tr_service service = {TR_SERVICE_ABI, "account", actors, 1, requests,  4,
                                   &workload,      &model,    checks, 1, "account", STATE,
                                   .bugs = bugs};

const tr_service *troupe_service_v1(void) { /* the TR_SERVICE_ENTRY the host looks up */
    return &service;
}
