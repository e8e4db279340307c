/* builtin_counter.c — the "counter" service's descriptor and workload
 * (harness/builtin_counter.h). */
#include "harness/builtin_counter.h"

#include "actors/counter.h"

#define DELTA_MAX 5

static int counter_next(const tr_service_env *env, tr_sim_rng *rng, uint32_t key_count,
                        tr_workload_op *op, uint32_t *type, const char **target, tr_mp_writer *w) {
    (void)env;
    (void)key_count;
    *target = TR_COUNTER_NAME;
    if (tr_sim_rng_below(rng, 2) == 0) {
        *op = (tr_workload_op){.f = "read"};
        *type = TR_COUNTER_READ;
        tr_mp_write_array(w, 0);
        return 0;
    }
    int64_t d = (int64_t)tr_sim_rng_below(rng, 2 * DELTA_MAX) - DELTA_MAX; /* -5..4 */
    d = d >= 0 ? d + 1 : d;                                                /* -5..-1, 1..5 */
    *op = (tr_workload_op){.f = "add", .has_value = true, .value = d};
    *type = TR_COUNTER_ADD;
    tr_mp_write_array(w, 1);
    tr_mp_write_int(w, d);
    return 0;
}

static tr_history_type counter_complete(const tr_service_env *env, const tr_workload_op *op,
                                        const tr_msg *reply, int err, tr_workload_op *done,
                                        const char **error) {
    (void)env;
    bool read = !op->has_value;
    tr_mp_reader r;
    int64_t v;
    *done = *op;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : "node down";
        return read ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    if (tr_mp_peek(&r) == TR_MP_INT && tr_mp_read_int(&r, &v) == 0) {
        if (read) {
            done->has_value = true;
            done->value = v;
        }
        return TR_HISTORY_OK;
    }
    bool refused = tr_mp_peek(&r) == TR_MP_STR;
    *error = refused ? "refused" : "malformed reply";
    return refused || read ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
}

static const tr_workload counter_workload = {.next = counter_next, .complete = counter_complete};

static const tr_service_actor counter_actors[] = {{.name = TR_COUNTER_NAME,
                                                   .behaviour = &tr__counter_behaviour,
                                                   .placement = TR_PLACE_EVERY_NODE}};

static const tr_service_request counter_requests[] = {
    {"add", TR_COUNTER_ADD}, {"read", TR_COUNTER_READ}, {"state", TR_COUNTER_STATE}};

static const tr_check counter_checks[] = {
    {"counter-reads", tr__counter_check_reads},
    {"counter-final", tr__counter_check_final},
};

static const char *const counter_bugs[] = {"merge-sum", "no-gossip", NULL};

const tr_service tr__builtin_counter = {.abi = TR_SERVICE_ABI,
                                        .name = "counter",
                                        .actors = counter_actors,
                                        .actor_count = 1,
                                        .requests = counter_requests,
                                        .request_count = 3,
                                        .workload = &counter_workload,
                                        .checks = counter_checks,
                                        .check_count = 2,
                                        .state_actor = TR_COUNTER_NAME,
                                        .state_type = TR_COUNTER_STATE,
                                        .bugs = counter_bugs,
                                        .nemesis = TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH |
                                                   TR_NEMESIS_PAUSE};
