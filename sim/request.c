/*
 * request.c — tr_sim_request: a blocking request from the caller into a simulated cluster,
 * the simulator's counterpart of tr_inbox_request. A hidden client actor on the chosen node
 * sends the request (tr_request_name, so "name" and "name@nK" both work); the simulation runs
 * until its answer arrives, its node goes down or restarts (TR_ECLOSED), or the virtual
 * deadline passes (TR_ETIMEDOUT: the client stops, so a late reply becomes a dead letter).
 * Deterministic: the client is an ordinary actor and the run is ordinary events.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "sim/sim.h"

typedef struct request_client {
    tr_sim *sim;
    uint64_t id;
    uint64_t corr;
} request_client;

static bool request_current(const request_client *c) {
    return c->sim->req.active && !c->sim->req.answered && c->sim->req.id == c->id;
}

static void request_answer(tr_sim *sim, int err, tr_msg *reply) {
    sim->req.answered = true;
    sim->req.err = err;
    sim->req.reply = reply;
}

/* Sends the request as soon as the client exists (only an actor can make one). */
static int request_client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    TR_ASSERT(len == sizeof(request_client));
    request_client *c = state;
    memcpy(c, arg, sizeof *c);
    if (!request_current(c)) {
        return tr_stop(ctx, tr_self(ctx), 0);
    }
    const sim_request *r = &c->sim->req;
    int rc = tr_request_name(ctx, r->name, r->type, r->body, r->len, r->timeout_ms, &c->corr);
    if (rc != 0) {
        request_answer(c->sim, rc, NULL);
        tr_stop(ctx, tr_self(ctx), 0);
    }
    return 0;
}

static int request_client_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    request_client *c = state;
    if (!request_current(c)) {
        return TR_STOP; /* its caller gave up */
    }
    if (m->corr != c->corr) {
        return TR_CONTINUE;
    }
    if (m->type == TR_MSG_TIMEOUT) {
        request_answer(c->sim, TR_ETIMEDOUT, NULL);
    } else {
        tr_msg *reply = tr__pool_copy(m);
        request_answer(c->sim, reply ? 0 : TR_ENOMEM, reply);
    }
    return TR_STOP;
}

static const tr_behaviour request_client_behaviour = {
    .name = "sim-request-client",
    .state_size = sizeof(request_client),
    .init = request_client_init,
    .receive = request_client_receive,
};

typedef struct request_wait {
    uint32_t node;
    uint32_t epoch;
} request_wait;

static bool request_done(tr_sim *sim, void *ud) {
    const request_wait *w = ud;
    const sim_node *sn = &sim->nodes[w->node];
    return sim->req.answered || !sn->up || sn->epoch != w->epoch;
}

int tr_sim_request(tr_sim *sim, uint32_t node_index, const char *to_name, uint32_t type,
                   const void *body, size_t len, uint64_t timeout_ns, tr_msg **reply_out) {
    if (!sim || !to_name || !reply_out || (len && !body) || node_index >= sim->n ||
        timeout_ns == 0) {
        return TR_EINVAL;
    }
    *reply_out = NULL;
    if (sim->req.active) {
        return TR_EBUSY; /* called from inside the simulation (an actor, a tr_sim_at call) */
    }
    sim_node *sn = &sim->nodes[node_index];
    if (!sn->up) {
        return TR_ECLOSED;
    }
    uint64_t ms = timeout_ns / 1000000u + (timeout_ns % 1000000u != 0);
    sim->req = (sim_request){.id = sim->req.id + 1,
                             .active = true,
                             .name = to_name,
                             .body = body,
                             .len = len,
                             .type = type,
                             .timeout_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms};
    request_client arg = {.sim = sim, .id = sim->req.id};
    tr_addr client;
    int rc = tr_node_spawn(sn->node, &request_client_behaviour, NULL, &arg, sizeof arg, &client);
    if (rc == 0) {
        request_wait w = {.node = node_index, .epoch = sn->epoch};
        uint64_t deadline = sim->now + timeout_ns < sim->now ? UINT64_MAX : sim->now + timeout_ns;
        tr_sim_run_until(sim, request_done, &w, deadline);
        rc = sim->req.answered                ? sim->req.err
             : sn->up && sn->epoch == w.epoch ? TR_ETIMEDOUT
                                              : TR_ECLOSED;
        if (!sim->req.answered && sn->up && sn->epoch == w.epoch) {
            tr_node_stop(sn->node, client, 0); /* a late reply becomes a dead letter */
        }
    }
    *reply_out = rc == 0 ? sim->req.reply : NULL;
    SIM_ASSERT(sim, rc != 0 || *reply_out != NULL);
    sim->req.active = false;
    sim->req.reply = NULL;
    return rc;
}
