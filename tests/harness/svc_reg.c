/* A service module for `troupe sim --load`: a register actor on every node (each node's
 * clients use their own node's register), reads and writes of random values, and a check
 * that every read returns nil or a value some write carried. Planted bug "phantom": reads
 * answer a value nobody wrote. Everything it draws comes from the client's seeded stream,
 * so a seed replays alone or inside a sweep. Built -shared; tr_* resolve from the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe.h"

enum {
    REG_READ = TR_MSG_USER + 1,
    REG_WRITE,
    REG_REPLY,
    REG_KEYS = 16
};

typedef struct reg_state {
    bool phantom;
    bool has[REG_KEYS];
    int64_t val[REG_KEYS];
} reg_state;

static int reg_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)ctx;
    ((reg_state *)state)->phantom = len == 1 && ((const uint8_t *)arg)[0] == 1;
    return 0;
}

/* Body: [key] or [key, value]; reply: the value or nil. */
static int reg_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    reg_state *s = state;
    tr_mp_reader r;
    tr_mp_writer w;
    uint8_t out[16];
    uint32_t n = 0;
    int64_t key = 0, value = 0;
    if (msg->type != REG_READ && msg->type != REG_WRITE) {
        return TR_CONTINUE;
    }
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n < 1 || tr_mp_read_int(&r, &key) != 0 || key < 0 ||
        key >= REG_KEYS || (n == 2 && tr_mp_read_int(&r, &value) != 0)) {
        return TR_CONTINUE;
    }
    tr_mp_writer_init(&w, out, sizeof out);
    if (msg->type == REG_WRITE) {
        s->has[key] = true;
        s->val[key] = value;
        tr_mp_write_nil(&w);
    } else if (s->has[key]) {
        tr_mp_write_int(&w, s->val[key] + (s->phantom ? 1 : 0));
    } else {
        tr_mp_write_nil(&w);
    }
    return tr_reply(ctx, msg, REG_REPLY, out, w.len);
}

static const tr_behaviour reg_b = {
    .name = "reg", .state_size = sizeof(reg_state), .init = reg_init, .receive = reg_receive};

static int reg_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    if (cap < 1) {
        return TR_ETOOBIG;
    }
    ((uint8_t *)buf)[0] = env->bug != NULL && strcmp(env->bug, "phantom") == 0;
    *len = 1;
    return 0;
}

static int reg_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t keys, tr_workload_op *op,
                    uint32_t *type, const char **target, tr_mp_writer *w) {
    (void)env;
    bool write = tr_sim_rng_below(rng, 2) == 0;
    op->key = (int64_t)tr_sim_rng_below(rng, keys < REG_KEYS ? keys : REG_KEYS);
    op->f = write ? "write" : "read";
    op->has_value = write;
    op->value = write ? (int64_t)(tr_sim_rng_next(rng) >> 2) * 2 : 0; /* even: +1 is phantom */
    tr_mp_write_array(w, write ? 2 : 1);
    tr_mp_write_int(w, op->key);
    if (write) {
        tr_mp_write_int(w, op->value);
    }
    *type = write ? REG_WRITE : REG_READ;
    *target = "reg";
    return 0;
}

static tr_history_type reg_complete(const tr_service_env *env, const tr_workload_op *op,
                                    const tr_msg *reply, int err, tr_workload_op *done,
                                    const char **error) {
    (void)env;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : "node down";
        return TR_HISTORY_INFO;
    }
    if (!op->has_value) {
        tr_mp_reader r;
        tr_mp_reader_init(&r, reply->body, reply->body_len);
        done->has_value = tr_mp_read_int(&r, &done->value) == 0;
    }
    return TR_HISTORY_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static tr_verdict reg_check(const tr_check_input *in, char *why, size_t cap) {
    size_t count = tr_history_count(in->history), n = 0;
    int64_t *written = malloc((count ? count : 1) * sizeof *written);
    tr_history_op op;
    tr_verdict v = TR_VERDICT_HELD;
    if (written == NULL) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    for (size_t i = 0; i < count; i++) {
        if (tr_history_get(in->history, i, &op) == 0 && op.type == TR_HISTORY_INVOKE &&
            op.has_value) {
            written[n++] = op.value;
        }
    }
    qsort(written, n, sizeof *written, cmp_i64);
    for (size_t i = 0; i < count && v == TR_VERDICT_HELD; i++) {
        if (tr_history_get(in->history, i, &op) == 0 && op.type == TR_HISTORY_OK &&
            !strcmp(op.f, "read") && op.has_value &&
            bsearch(&op.value, written, n, sizeof *written, cmp_i64) == NULL) {
            snprintf(why, cap, "op %zu read %lld, which nobody wrote", i, (long long)op.value);
            v = TR_VERDICT_VIOLATED;
        }
    }
    free(written);
    return v;
}

static const tr_service_actor actors[] = {
    {.name = "reg", .behaviour = &reg_b, .placement = TR_PLACE_EVERY_NODE, .arg = reg_arg}};
static const tr_service_request requests[] = {{"read", REG_READ}, {"write", REG_WRITE}};
static const tr_workload workload = {
    .clients_per_node = 2, .next = reg_next, .complete = reg_complete};
static const tr_check checks[] = {{.name = "reads-were-written", .run = reg_check}};
static const char *const bugs[] = {"phantom", NULL};
static const tr_service service = {.abi = TR_SERVICE_ABI,
                                   .name = "reg",
                                   .actors = actors,
                                   .actor_count = 1,
                                   .requests = requests,
                                   .request_count = 2,
                                   .workload = &workload,
                                   .checks = checks,
                                   .check_count = 1,
                                   .bugs = bugs};

__attribute__((visibility("default"))) const tr_service *troupe_service_v1(void) {
    return &service;
}
