/* builtin_broadcast.c — the "broadcast" service's descriptor and workload
 * (harness/builtin_broadcast.h). */
#include "harness/builtin_broadcast.h"

#include <string.h>

#include "actors/broadcast.h"

typedef struct bc_client {
    uint32_t sent;       /* messages this client has invented */
    tr_value read_value; /* a read's completion value, until it is recorded */
} bc_client;

static int bc_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type, const char **target,
                   tr_mp_writer *w) {
    bc_client *s = cl->state;
    if (cl->phase != TR_WORKLOAD_RUNNING) {
        return TR_ENOENT;
    }
    *target = TR_BCAST_NAME;
    if (tr_sim_rng_below(cl->rng, 5) == 0) {
        *op = (tr_workload_op){.f = "read"};
        *type = TR_BCAST_READ;
        tr_mp_write_array(w, 0);
        return 0;
    }
    if (s->sent >= (1u << 20) - 1) {
        return TR_ENOENT; /* its id space is spent */
    }
    int64_t id = ((int64_t)cl->id << 20) + s->sent++;
    *op = (tr_workload_op){.f = "broadcast", .has_value = true, .value = id};
    *type = TR_BCAST_BROADCAST;
    tr_mp_write_array(w, 1);
    tr_mp_write_int(w, id);
    return 0;
}

static tr_history_type bc_complete(tr_workload_client *cl, const tr_workload_op *op,
                                   const tr_msg *reply, int err, tr_workload_op *done,
                                   const char **error) {
    bc_client *s = cl->state;
    bool read = !op->has_value;
    tr_mp_reader r;
    *done = *op;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : "node down";
        return read ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    tr_mp_type t = tr_mp_peek(&r);
    if (read && t == TR_MP_ARRAY) { /* the ids as the node sent them, until recorded */
        s->read_value = (tr_value){
            .kind = TR_VALUE_BYTES, .bytes = (const char *)reply->body, .len = reply->body_len};
        done->any = &s->read_value;
        return TR_HISTORY_OK;
    }
    if (!read && t == TR_MP_INT) {
        return TR_HISTORY_OK;
    }
    const char *str;
    uint32_t n;
    bool full =
        t == TR_MP_STR && tr_mp_read_str(&r, &str, &n) == 0 && n == 4 && !memcmp(str, "full", 4);
    *error = full ? "full" : t == TR_MP_STR ? "refused" : "malformed reply";
    return read || full ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
}

static const tr_workload bc_workload = {
    .client_state_size = sizeof(bc_client), .client_next = bc_next, .client_complete = bc_complete};

static const tr_service_actor bc_actors[] = {{.name = TR_BCAST_NAME,
                                              .behaviour = &tr__broadcast_behaviour,
                                              .placement = TR_PLACE_EVERY_NODE}};

static const tr_service_request bc_requests[] = {
    {"broadcast", TR_BCAST_BROADCAST}, {"read", TR_BCAST_READ}, {"state", TR_BCAST_STATE}};

static const tr_check bc_checks[] = {{"broadcast-delivery", tr__broadcast_check_delivery}};

static const char *const bc_bugs[] = {"no-retry", "no-dedup", NULL};

const tr_service tr__builtin_broadcast = {.abi = TR_SERVICE_ABI,
                                          .name = "broadcast",
                                          .actors = bc_actors,
                                          .actor_count = 1,
                                          .requests = bc_requests,
                                          .request_count = 3,
                                          .workload = &bc_workload,
                                          .checks = bc_checks,
                                          .check_count = 1,
                                          .state_actor = TR_BCAST_NAME,
                                          .state_type = TR_BCAST_STATE,
                                          .bugs = bc_bugs,
                                          .nemesis = TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH |
                                                     TR_NEMESIS_PAUSE | TR_NEMESIS_LOSS};
