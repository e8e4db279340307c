/* service_defaults.c — the library's defaults for services (harness/service_defaults.h). */
#include "harness/service_defaults.h"

#include <stdio.h>
#include <string.h>

#include "actors/fmt.h"
#include "runtime/assert.h"
#include "sim/sim.h"

#define REPLY_MAX 300 /* an integer, or a string of at most STR_MAX bytes, in msgpack */
#define STR_MAX 256

/* ---- the nemesis a service declares ------------------------------------------------------- */

const tr_experiment_config *tr__service_defaults_config(const tr_experiment_config *cfg,
                                                        tr_experiment_config *copy) {
    if (cfg->nemesis.kinds != TR_NEMESIS_DEFAULT) {
        return cfg;
    }
    *copy = *cfg;
    copy->nemesis.kinds = TR_NEMESIS_PARTITION;
    for (uint32_t s = 0; s < cfg->service_count && cfg->workload != NULL; s++) {
        const tr_service *svc = cfg->services[s];
        if (strcmp(svc->name, cfg->workload) == 0 && svc->nemesis != 0) {
            copy->nemesis.kinds = svc->nemesis;
        }
        /* a service's own fault kind joins its declared nemesis (the first it declares) */
        if (strcmp(svc->name, cfg->workload) == 0 && svc->fault_count > 0 &&
            cfg->nemesis.service_faults == NULL) {
            copy->nemesis.service_faults = svc->faults[0].name;
        }
    }
    if (cfg->nemesis.scenario_path != NULL) {
        copy->nemesis.kinds = 0; /* the file is the schedule */
    }
    return copy;
}

/* ---- the declarative workload ------------------------------------------------------------- */

int tr__workload_next(const tr_service *svc, const tr_service_env *env, tr_sim_rng *rng,
                      uint32_t key_count, tr_workload_op *op, uint32_t *type, const char **target,
                      tr_mp_writer *w) {
    const tr_workload *wl = svc->workload;
    if (wl->next != NULL) {
        return wl->next(env, rng, key_count, op, type, target, w);
    }
    TR_ASSERT(wl->op_count > 0 && key_count > 0);
    const tr_workload_op_spec *spec = &wl->ops[tr_sim_rng_below(rng, wl->op_count)];
    int64_t key = (int64_t)tr_sim_rng_below(rng, key_count);
    *op = (tr_workload_op){.f = spec->f, .key = key, .has_value = spec->write};
    if (spec->write) {
        uint64_t span = (uint64_t)spec->value_max - (uint64_t)spec->value_min;
        op->value = (int64_t)((uint64_t)spec->value_min + (span == UINT64_MAX
                                                               ? tr_sim_rng_next(rng)
                                                               : tr_sim_rng_below(rng, span + 1)));
    }
    *type = spec->type;
    *target = wl->target != NULL ? wl->target : svc->actors[0].name;
    tr_mp_write_array(w, spec->write ? 2 : 1);
    tr_mp_write_int(w, key);
    if (spec->write) {
        tr_mp_write_int(w, op->value);
    }
    return w->err;
}

static const tr_workload_op_spec *spec_of(const tr_workload *wl, const char *f) {
    for (uint32_t i = 0; i < wl->op_count; i++) {
        if (wl->ops[i].f == f || strcmp(wl->ops[i].f, f) == 0) {
            return &wl->ops[i];
        }
    }
    return NULL;
}

tr_history_type tr__workload_complete(const tr_service *svc, const tr_service_env *env,
                                      const tr_workload_op *op, const tr_msg *reply, int err,
                                      tr_workload_op *done, const char **error) {
    const tr_workload *wl = svc->workload;
    if (wl->complete != NULL) {
        return wl->complete(env, op, reply, err, done, error);
    }
    /* The history copies the error at once: one buffer per thread serves every client. */
    static _Thread_local char why[48];
    const tr_workload_op_spec *spec = spec_of(wl, op->f);
    bool write = spec == NULL || spec->write;
    tr_mp_reader r;
    int64_t v;
    const char *s;
    uint32_t n;
    *done = *op;
    tr_mp_reader_init(&r, reply ? reply->body : NULL, reply ? reply->body_len : 0);
    if (reply != NULL && tr_mp_peek(&r) == TR_MP_STR && tr_mp_read_str(&r, &s, &n) == 0) {
        snprintf(why, sizeof why, "%.*s", (int)(n < sizeof why ? n : sizeof why - 1), s);
        *error = why;
        /* the entity host's answer for a change that may still surface (troupe.h, "Entities") */
        bool maybe = n == 13 && memcmp(s, "indeterminate", 13) == 0;
        return write && maybe ? TR_HISTORY_INFO : TR_HISTORY_FAIL;
    }
    if (reply == NULL || tr_mp_read_int(&r, &v) != 0 || tr_mp_reader_done(&r) != 0) {
        *error = reply == NULL ? (err == TR_ETIMEDOUT ? "timed out" : "no answer") : "bad reply";
        return write ? TR_HISTORY_INFO : TR_HISTORY_FAIL;
    }
    if (!write) {
        done->value = v;
        done->has_value = true;
    }
    return TR_HISTORY_OK;
}

/* ---- the final state: the nodes' stores --------------------------------------------------- */

int tr_check_kv_get(const tr_check_input *in, uint32_t node, const char *actor, const void *key,
                    size_t klen, void *buf, size_t cap, size_t *len) {
    if (in == NULL || in->sim == NULL || node >= tr_sim_node_count(in->sim) || actor == NULL ||
        len == NULL || (key == NULL && klen > 0) || (buf == NULL && cap > 0)) {
        return TR_EINVAL;
    }
    tr_store *st = in->sim->nodes[node].store;
    if (st == NULL) {
        return TR_ENOTSUP;
    }
    if (in->sim->nodes[node].store_broken != 0) {
        return TR_EIO; /* its last open refused the file (a torn disk): there is nothing to read */
    }
    return tr__store_get_committed(st, actor, key, klen, buf, cap, len);
}

/* ---- helpers for a service's actors ------------------------------------------------------- */

int tr_service_place_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    (void)ctx;
    if (state == NULL || arg == NULL || arg_len != sizeof(tr_service_place)) {
        return TR_EINVAL;
    }
    memcpy(state, arg, sizeof(tr_service_place));
    return 0;
}

int tr_service_forward_owner(tr_ctx *ctx, const tr_msg *req, const tr_service_place *at,
                             const char *actor, int64_t key) {
    if (at == NULL || at->node_count == 0 || at->node_index >= at->node_count || actor == NULL) {
        (void)tr_reply_str(ctx, req, tr_strerror(TR_EINVAL), false);
        return TR_EINVAL;
    }
    int64_t owner = key % (int64_t)at->node_count;
    owner += owner < 0 ? (int64_t)at->node_count : 0;
    if ((uint32_t)owner == at->node_index) {
        return TR_SERVICE_MINE;
    }
    char to[TR_NAME_MAX + 1];
    int rc = tr__fmt_u64(to, sizeof to, actor, "@n", (uint64_t)owner + 1) >= sizeof to
                 ? TR_EINVAL
                 : tr_forward(ctx, req, to);
    if (rc != 0) {
        (void)tr_reply_str(ctx, req, tr_strerror(rc), false);
    }
    return rc;
}

int tr_msg_read_ints(const tr_msg *msg, int64_t *out, uint32_t cap) {
    tr_mp_reader r;
    uint32_t n;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n > cap) {
        return TR_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_read_int(&r, &out[i]);
    }
    return tr_mp_reader_done(&r) == 0 ? (int)n : TR_EINVAL;
}

static int reply_with(tr_ctx *ctx, const tr_msg *req, const tr_mp_writer *w, bool durable) {
    TR_ASSERT(w->err == 0);
    return durable ? tr_reply_durable(ctx, req, req->type, w->buf, w->len)
                   : tr_reply(ctx, req, req->type, w->buf, w->len);
}

int tr_reply_int(tr_ctx *ctx, const tr_msg *req, int64_t value, bool durable) {
    uint8_t buf[REPLY_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_int(&w, value);
    return reply_with(ctx, req, &w, durable);
}

int tr_reply_str(tr_ctx *ctx, const tr_msg *req, const char *s, bool durable) {
    uint8_t buf[REPLY_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_str(&w, s, s != NULL ? strnlen(s, STR_MAX) : 0);
    return reply_with(ctx, req, &w, durable);
}

void tr_service_experiment_init(tr_experiment_config *cfg, const tr_service *const *svc) {
    TR_ASSERT(cfg != NULL && svc != NULL && *svc != NULL);
    tr_experiment_config_init(cfg);
    cfg->services = svc;
    cfg->service_count = 1;
    cfg->workload = (*svc)->name;
}
