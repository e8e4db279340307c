/* builtin_pubsub.c — topics as a service (harness/builtin_pubsub.h): the broker, a publisher
 * whose writes publish through a durable outbox, and a subscriber that counts what it is
 * handed, on every node. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actors/fmt.h"
#include "harness/builtin_pubsub.h"

typedef struct pubsub_arg {
    tr_service_place place;
    bool simulated;
} pubsub_arg;

static int pubsub_arg_fill(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    pubsub_arg a = {.place = {.node_index = env->node_index, .node_count = env->node_count},
                    .simulated = env->simulated};
    if (cap < sizeof a) {
        return TR_ETOOBIG;
    }
    if (env->bug) {
        (void)snprintf(a.place.bug, sizeof a.place.bug, "%s", env->bug);
    }
    memcpy(buf, &a, sizeof a);
    *len = sizeof a;
    return 0;
}

static size_t id_key(const char *prefix, uint64_t id, char *key, size_t cap) {
    return tr__fmt_u64(key, cap, prefix, "/", id);
}

/* [id] with 1 <= id < 2^62, or 0. */
static uint64_t read_id(const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n;
    int64_t id;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 1 || tr_mp_read_int(&r, &id) != 0 ||
        tr_mp_reader_done(&r) != 0 || id < 1 || id >= (int64_t)1 << 62) {
        return 0;
    }
    return (uint64_t)id;
}

static void reply_str(tr_ctx *ctx, const tr_msg *msg, const char *s) {
    uint8_t buf[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_cstr(&w, s);
    (void)tr_reply(ctx, msg, msg->type, buf, w.len);
}

/* ---- the publisher ------------------------------------------------------------------- */

typedef struct pub_state {
    pubsub_arg arg;
    bool exit_on_commit; /* a write-exit is in flight: _exit(137) once it is durable */
    tr_outbox ob;
} pub_state;

static int pub_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    pub_state *s = state;
    if (arg_len != sizeof s->arg) {
        return TR_EINVAL;
    }
    memcpy(&s->arg, arg, sizeof s->arg);
    tr_outbox_config cfg = {.retry_ms = 300};
    if (strcmp(s->arg.place.bug, "publish-early") == 0) {
        cfg.bugs = TR_OUTBOX_BUG_PUBLISH_EARLY;
    } else if (strcmp(s->arg.place.bug, "volatile-outbox") == 0) {
        cfg.bugs = TR_OUTBOX_BUG_VOLATILE;
    }
    return tr_outbox_init(&s->ob, ctx, &cfg);
}

/* The state change "state/<id>" and its event, in one commit. */
static int write_with_event(tr_ctx *ctx, pub_state *s, uint64_t id) {
    char key[40];
    uint8_t body[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_uint(&w, id);
    int rc = tr_kv_put(ctx, key, id_key("state", id, key, sizeof key), "1", 1);
    if (rc == 0) {
        rc = tr_outbox_put(&s->ob, ctx, TR__PUBSUB_TOPIC, id, body, w.len);
    }
    return rc == TR_EEXIST ? 0 : rc; /* a retried write: its event is on its way */
}

static int pub_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    pub_state *s = state;
    if (s->exit_on_commit && msg->type == TR_MSG_DURABLE) {
        _exit(137); /* committed, not yet published: what kill -9 at that point leaves */
    }
    if (tr_outbox_receive(&s->ob, ctx, msg)) {
        return TR_CONTINUE;
    }
    if (msg->type == TR__PUBSUB_PENDING) {
        uint8_t buf[8];
        tr_mp_writer w;
        tr_mp_writer_init(&w, buf, sizeof buf);
        tr_mp_write_uint(&w, tr_outbox_pending(&s->ob));
        (void)tr_reply(ctx, msg, msg->type, buf, w.len);
        return TR_CONTINUE;
    }
    if (msg->type != TR__PUBSUB_WRITE && msg->type != TR__PUBSUB_WRITE_EXIT) {
        return TR_CONTINUE;
    }
    uint64_t id = read_id(msg);
    if (id == 0) {
        reply_str(ctx, msg, "bad request: [id], 1 <= id < 2^62");
        return TR_CONTINUE;
    }
    if (msg->type == TR__PUBSUB_WRITE_EXIT && s->arg.simulated) {
        reply_str(ctx, msg, "write-exit runs on a real node only");
        return TR_CONTINUE;
    }
    int rc = write_with_event(ctx, s, id);
    if (rc != 0) {
        reply_str(ctx, msg, tr_strerror(rc));
        return TR_CONTINUE;
    }
    if (msg->type == TR__PUBSUB_WRITE_EXIT) {
        uint64_t token;
        s->exit_on_commit = tr_durable_notify(ctx, &token) == 0;
        return TR_CONTINUE;
    }
    uint8_t buf[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_uint(&w, id);
    (void)tr_reply_durable(ctx, msg, msg->type, buf, w.len);
    return TR_CONTINUE;
}

static const tr_behaviour pub_behaviour = {.name = "pubsub-pub",
                                           .state_size = sizeof(pub_state),
                                           .init = pub_init,
                                           .receive = pub_receive};

/* ---- the subscriber: "got/<id>" counts the events handed over as new ------------------ */

typedef struct sub_state {
    pubsub_arg arg;
    uint64_t corr;
    uint32_t epoch;    /* this start's number (durable "epoch"): a window is one epoch's */
    uint32_t arrivals; /* events handed over as new in this epoch */
    bool subscribed;   /* the home answered SUBSCRIBED (since this actor started) */
    tr_topic_inbox in;
} sub_state;

static void subscribe(tr_ctx *ctx, sub_state *s) {
    char name[TR_NAME_MAX + 1];
    (void)snprintf(name, sizeof name, "%s@n%u", TR__PUBSUB_SUB, s->arg.place.node_index + 1);
    (void)tr_topic_subscribe(ctx, TR__PUBSUB_TOPIC, name, 1000, &s->corr);
}

static int sub_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    sub_state *s = state;
    size_t len;
    if (arg_len != sizeof s->arg) {
        return TR_EINVAL;
    }
    memcpy(&s->arg, arg, sizeof s->arg);
    if (strcmp(s->arg.place.bug, "no-dedup") == 0) {
        s->in.bugs = TR_TOPIC_BUG_NO_DEDUP;
    }
    if (tr_kv_get(ctx, "epoch", 5, &s->epoch, sizeof s->epoch, &len) != 0 ||
        len != sizeof s->epoch) {
        s->epoch = 0;
    }
    s->epoch++;
    int rc = tr_kv_put(ctx, "epoch", 5, &s->epoch, sizeof s->epoch);
    if (rc != 0) {
        return rc;
    }
    subscribe(ctx, s);
    return 0;
}

/* "got/<id>": how many times id was handed over as new while the window still held it, the
 * epoch (start) of the subscriber and the arrival (the rank among the epoch's new events) of
 * the last time. An event handed over again by a later epoch (a new window), or more than
 * TR_TOPIC_WINDOW arrivals later (the window forgot it), is not counted: the window promises
 * nothing there. */
typedef struct got_record {
    uint32_t count;
    uint32_t epoch;
    uint32_t arrival;
} got_record;

static got_record got(tr_ctx *ctx, uint64_t id) {
    char key[40];
    got_record g = {0, 0, 0};
    size_t len;
    if (tr_kv_get(ctx, key, id_key("got", id, key, sizeof key), &g, sizeof g, &len) != 0 ||
        len != sizeof g) {
        return (got_record){0, 0, 0};
    }
    return g;
}

/* [ids exactly once, ids missing, ids more than once] over 1..n, and whether subscribed. */
static void tally(tr_ctx *ctx, const sub_state *s, const tr_msg *msg) {
    uint64_t n = read_id(msg), counts[3] = {0, 0, 0};
    for (uint64_t id = 1; id <= n && id <= TR__PUBSUB_TALLY_MAX; id++) {
        uint32_t c = got(ctx, id).count;
        counts[c == 1 ? 0 : c == 0 ? 1 : 2]++;
    }
    uint8_t buf[40];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 4);
    for (int i = 0; i < 3; i++) {
        tr_mp_write_uint(&w, counts[i]);
    }
    tr_mp_write_uint(&w, s->subscribed);
    (void)tr_reply(ctx, msg, msg->type, buf, w.len);
}

static void handle_event(tr_ctx *ctx, sub_state *s, const tr_msg *msg, uint64_t id) {
    char key[40];
    got_record g = got(ctx, id);
    uint32_t arrival = ++s->arrivals;
    if (g.count == 0 || (g.epoch == s->epoch && arrival - g.arrival <= TR_TOPIC_WINDOW)) {
        g.count++; /* a second one while the window held it: a duplicate it missed */
    }
    g.epoch = s->epoch;
    g.arrival = arrival;
    if (tr_kv_put(ctx, key, id_key("got", id, key, sizeof key), &g, sizeof g) == 0) {
        (void)tr_topic_ack(ctx, msg);
    }
}

static int sub_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    sub_state *s = state;
    tr_topic_event ev;
    int rc = tr_topic_receive(&s->in, ctx, msg, &ev);
    if (rc == TR_TOPIC_NEW) {
        handle_event(ctx, s, msg, ev.id);
    } else if (rc == 0 && msg->type == TR_MSG_TIMEOUT && msg->corr == s->corr) {
        subscribe(ctx, s);
    } else if (rc == 0 && msg->type == TR_TOPIC_MSG_SUBSCRIBED && msg->corr == s->corr) {
        s->subscribed = true;
        tr_probe(ctx, TR__PUBSUB_PROBE_SUBSCRIBED, s->arg.place.node_index, 0, 0);
    } else if (rc == 0 && msg->type == TR__PUBSUB_TALLY) {
        tally(ctx, s, msg);
    }
    return TR_CONTINUE;
}

static const tr_behaviour sub_behaviour = {.name = "pubsub-sub",
                                           .state_size = sizeof(sub_state),
                                           .init = sub_init,
                                           .receive = sub_receive};

static int broker_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    tr_service_place p = {.node_index = env->node_index, .node_count = env->node_count};
    if (cap < sizeof p) {
        return TR_ETOOBIG;
    }
    if (env->bug) {
        (void)snprintf(p.bug, sizeof p.bug, "%s", env->bug);
    }
    memcpy(buf, &p, sizeof p);
    *len = sizeof p;
    return 0;
}

static const tr_service_actor pubsub_actors[] = {
    {.name = TR_TOPICS_NAME,
     .behaviour = &tr_topics_broker,
     .placement = TR_PLACE_EVERY_NODE,
     .arg = broker_arg},
    {.name = TR__PUBSUB_SUB,
     .behaviour = &sub_behaviour,
     .placement = TR_PLACE_EVERY_NODE,
     .arg = pubsub_arg_fill},
    {.name = TR__PUBSUB_PUB,
     .behaviour = &pub_behaviour,
     .placement = TR_PLACE_EVERY_NODE,
     .arg = pubsub_arg_fill},
};

static const tr_service_request pubsub_requests[] = {
    {"write", TR__PUBSUB_WRITE},
    {"write-exit", TR__PUBSUB_WRITE_EXIT},
    {"tally", TR__PUBSUB_TALLY},
};

/* ---- the workload: each operation publishes one fresh id through the local publisher --- */

/* After the workload time (STOPPING, then FINAL: up to the runner's settle bound and its final
 * bound) a client asks until its publisher's outbox is empty, so the checks read the stores
 * once everything the outboxes held was delivered. */
typedef struct pubsub_client {
    bool drained; /* STOPPING or FINAL: the publisher's outbox answered 0 */
    bool asking;  /* the operation in flight is a "pending" question */
} pubsub_client;

static int pubsub_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type,
                       const char **target, tr_mp_writer *w) {
    pubsub_client *s = cl->state;
    *target = TR__PUBSUB_PUB;
    s->asking = cl->phase != TR_WORKLOAD_RUNNING;
    if (s->asking) {
        if (s->drained) {
            return TR_ENOENT;
        }
        *op = (tr_workload_op){.f = "pending"};
        *type = TR__PUBSUB_PENDING;
        tr_mp_write_array(w, 0);
        return 0;
    }
    int64_t id = (int64_t)(tr_sim_rng_below(cl->rng, ((uint64_t)1 << 62) - 1) + 1);
    *op = (tr_workload_op){.f = "publish", .has_value = true, .value = id};
    *type = TR__PUBSUB_WRITE;
    tr_mp_write_array(w, 1);
    tr_mp_write_int(w, id);
    return 0;
}

/* publish: an integer is ok (committed, its event on its way); a string fail (refused:
 * nothing written); no answer info (it may have been committed). pending: the count read
 * (fail without an answer). */
static tr_history_type pubsub_complete(tr_workload_client *cl, const tr_workload_op *op,
                                       const tr_msg *reply, int err, tr_workload_op *done,
                                       const char **error) {
    pubsub_client *s = cl->state;
    tr_mp_reader r;
    int64_t v;
    *done = *op;
    if (!reply) {
        *error = err == TR_ETIMEDOUT ? "timeout" : "no answer";
        return s->asking ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    if (tr_mp_peek(&r) == TR_MP_INT && tr_mp_read_int(&r, &v) == 0) {
        if (s->asking) {
            s->drained = v == 0;
            done->has_value = true;
            done->value = v;
        }
        return TR_HISTORY_OK;
    }
    *error = tr_mp_peek(&r) == TR_MP_STR ? "refused" : "malformed reply";
    return tr_mp_peek(&r) == TR_MP_STR ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
}

static bool pubsub_busy(const tr_workload_client *cl) {
    const pubsub_client *s = cl->state;
    return cl->phase != TR_WORKLOAD_RUNNING && !s->drained;
}

static const tr_workload pubsub_workload = {.client_state_size = sizeof(pubsub_client),
                                            .client_next = pubsub_next,
                                            .client_complete = pubsub_complete,
                                            .client_busy = pubsub_busy};

static const tr_check pubsub_checks[] = {
    {"delivered-once", tr__pubsub_check_delivered_once},
    {"no-phantom-event", tr__pubsub_check_no_phantom},
    {"bounded-queues", tr__pubsub_check_bounded_queues},
};

static const char *const pubsub_bugs[] = {"publish-early", "volatile-outbox", "no-dedup",
                                          "topics-unbounded", NULL};

const tr_service tr__builtin_pubsub = {.abi = TR_SERVICE_ABI,
                                       .name = "pubsub",
                                       .actors = pubsub_actors,
                                       .actor_count = 3,
                                       .requests = pubsub_requests,
                                       .request_count = 3,
                                       .workload = &pubsub_workload,
                                       .checks = pubsub_checks,
                                       .check_count = 3,
                                       .state_actor = TR_TOPICS_NAME,
                                       .state_type = TR_TOPIC_MSG_STATS,
                                       .bugs = pubsub_bugs,
                                       .nemesis = TR_NEMESIS_CRASH | TR_NEMESIS_PARTITION |
                                                  TR_NEMESIS_SLOW_DISK | TR_NEMESIS_IO_ERROR};
