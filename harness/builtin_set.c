/* builtin_set.c — the "set" service's descriptor and workload (harness/builtin_set.h). */
#include "harness/builtin_set.h"

#include <string.h>

#include "actors/orset.h"

#define OWN_MAX 16

typedef struct set_client {
    uint32_t added;     /* elements this client has invented */
    uint32_t own_count; /* acknowledged adds it may remove: own[0..own_count) */
    int64_t own_key[OWN_MAX];
    int64_t own_elem[OWN_MAX];
    tr_value read_value; /* a read's completion value, until it is recorded */
} set_client;

static int set_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type, const char **target,
                    tr_mp_writer *w) {
    set_client *s = cl->state;
    if (cl->phase != TR_WORKLOAD_RUNNING) {
        return TR_ENOENT;
    }
    uint64_t r = tr_sim_rng_below(cl->rng, 10);
    int64_t key = (int64_t)tr_sim_rng_below(cl->rng, cl->key_count ? cl->key_count : 1);
    *target = TR_ORSET_NAME;
    if (r < 2) {
        *op = (tr_workload_op){.f = "read", .key = key};
        *type = TR_ORSET_READ;
        tr_mp_write_array(w, 1);
        tr_mp_write_int(w, key);
        return 0;
    }
    int64_t elem = ((int64_t)cl->id << 20) + s->added;
    *type = TR_ORSET_ADD;
    if (r == 2 && s->own_count > 0) { /* remove one of its own, the slot reused */
        uint32_t i = (uint32_t)tr_sim_rng_below(cl->rng, s->own_count);
        key = s->own_key[i];
        elem = s->own_elem[i];
        s->own_key[i] = s->own_key[--s->own_count];
        s->own_elem[i] = s->own_elem[s->own_count];
        *type = TR_ORSET_REMOVE;
    } else if (s->added++ >= (1u << 20) - 1) {
        return TR_ENOENT; /* its element space is spent */
    }
    *op = (tr_workload_op){.f = *type == TR_ORSET_ADD ? "add" : "remove",
                           .key = key,
                           .has_value = true,
                           .value = elem};
    tr_mp_write_array(w, 2);
    tr_mp_write_int(w, key);
    tr_mp_write_int(w, elem);
    return 0;
}

static tr_history_type set_complete(tr_workload_client *cl, const tr_workload_op *op,
                                    const tr_msg *reply, int err, tr_workload_op *done,
                                    const char **error) {
    set_client *s = cl->state;
    bool read = !op->has_value;
    tr_mp_reader r;
    *done = *op;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : "node down";
        return read ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    tr_mp_type t = tr_mp_peek(&r);
    if (read) {
        if (t != TR_MP_ARRAY) {
            *error = "malformed reply";
            return TR_HISTORY_FAIL;
        }
        /* the elements as the replica sent them: valid until this completion is recorded */
        s->read_value = (tr_value){
            .kind = TR_VALUE_BYTES, .bytes = (const char *)reply->body, .len = reply->body_len};
        done->any = &s->read_value;
        return TR_HISTORY_OK;
    }
    if (t == TR_MP_INT) {
        if (!strcmp(op->f, "add") && s->own_count < OWN_MAX) {
            s->own_key[s->own_count] = op->key;
            s->own_elem[s->own_count++] = op->value;
        }
        return TR_HISTORY_OK;
    }
    *error = "malformed reply";
    if (t == TR_MP_STR) {
        const char *str;
        uint32_t n;
        bool definite =
            tr_mp_read_str(&r, &str, &n) == 0 &&
            ((n == 6 && !memcmp(str, "absent", 6)) || (n == 4 && !memcmp(str, "full", 4)));
        *error = definite ? (n == 6 ? "absent" : "full") : "refused";
        return definite ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    return TR_HISTORY_INFO;
}

static const tr_workload set_workload = {.client_state_size = sizeof(set_client),
                                         .client_next = set_next,
                                         .client_complete = set_complete};

static const tr_service_actor set_actors[] = {
    {.name = TR_ORSET_NAME, .behaviour = &tr__orset_behaviour, .placement = TR_PLACE_EVERY_NODE}};

static const tr_service_request set_requests[] = {{"add", TR_ORSET_ADD},
                                                  {"remove", TR_ORSET_REMOVE},
                                                  {"read", TR_ORSET_READ},
                                                  {"state", TR_ORSET_STATE}};

static const tr_check set_checks[] = {{"set-full", tr__set_check_full}};

static const char *const set_bugs[] = {"remove-drops-context", NULL};

const tr_service tr__builtin_set = {.abi = TR_SERVICE_ABI,
                                    .name = "set",
                                    .actors = set_actors,
                                    .actor_count = 1,
                                    .requests = set_requests,
                                    .request_count = 4,
                                    .workload = &set_workload,
                                    .checks = set_checks,
                                    .check_count = 1,
                                    .state_actor = TR_ORSET_NAME,
                                    .state_type = TR_ORSET_STATE,
                                    .bugs = set_bugs,
                                    .nemesis = TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH |
                                               TR_NEMESIS_PAUSE | TR_NEMESIS_LOSS};
