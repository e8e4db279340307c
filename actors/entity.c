/* entity.c — the entity host (troupe.h, "Entities"; entity_internal.h): a client's request
 * reaches the activation of its id on the node that owns the id's shard; an activation loads
 * its state from a majority of the hosts' stores, handles its queue one message at a time,
 * writes a changed state to a majority before it answers, and is dropped when idle, when its
 * lease or shard goes, or when a load or write fails.
 *
 * Routing: a host that owns the shard (lease and epoch, invariant 1) queues the request on
 * the activation. A host that does not forwards a client's request to the owner its replica
 * of the table names, once: a request from another member node (a host forwarded it, or a
 * client on that node sent it across) is refused with "not owner" when the table names
 * another owner. A client is an actor of this node or a client connection (`troupe call`:
 * node ids from TR__ENTITY_CLIENT_IDS up, which never host); such a request may take a second
 * hop only while two replicas of the table disagree (one lags). With no owner known, the owner
 * being this node without a lease yet, or the owner's node held down by the failure detector,
 * the request waits (at most TR__ENTITY_WAIT_MS) and is routed again on every tick and every
 * lease renewal; then it is refused with "unavailable" (it was never handled). */
#include <stdio.h>
#include <string.h>

#include "actors/entity_internal.h"
#include "actors/fmt.h"

/* ---- queued requests ------------------------------------------------------------------------- */

static int32_t slot_take(tr__entity_host *s, const tr_msg *m) {
    int32_t k = s->free_head;
    if (k == TR__ENTITY_NO_SLOT) {
        return k;
    }
    tr__entity_slot *q = &s->slot[k];
    s->free_head = q->next;
    memset(&q->req, 0, sizeof q->req);
    q->req.type = m->type;
    q->req.from = m->from;
    q->req.to = m->to;
    q->req.corr = m->corr;
    q->req.trace = m->trace;
    q->req.body_len = m->body_len;
    memcpy(q->body, m->body, m->body_len);
    q->req.body = q->body;
    q->next = TR__ENTITY_NO_SLOT;
    q->until_ms = 0;
    return k;
}

static void slot_free(tr__entity_host *s, int32_t k) {
    s->slot[k].next = s->free_head;
    s->free_head = k;
}

static void answer_str(tr_ctx *ctx, const tr_msg *req, const char *why) {
    (void)tr_reply_str(ctx, req, why, false);
}

/* ---- activations ----------------------------------------------------------------------------- */

/* Sends to every host but those in skip (a bit per node index). */
static void send_all(tr__entity_host *s, tr_ctx *ctx, uint32_t type, const void *body, size_t len,
                     uint32_t skip) {
    char to[2 * TR_NAME_MAX + 2];
    for (uint32_t k = 0; k < s->arg.node_count; k++) {
        if (skip >> k & 1u) {
            continue;
        }
        (void)tr__fmt_str3(to, sizeof to, s->arg.type->name, "@", s->arg.names[k]);
        (void)tr_send_name(ctx, to, s->arg.type->msg_base + type, body, len);
    }
}

static uint64_t token_of(const tr__entity_host *s, const tr__entity_act *a) {
    return (uint64_t)(a - s->act) << 32 | a->gen;
}

static void begin_phase(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a, tr__entity_phase p) {
    a->phase = p;
    a->gen = ++s->gen;
    a->answered = 0;
    a->deadline_ms = tr_now_ms(ctx) + s->write_ms;
    a->resend_at_ms = tr_now_ms(ctx) + s->arg.type->resend_ms;
}

/* Drops an activation: the request its write answers (if any) gets "indeterminate", the rest
 * of its queue "unavailable" (they were not handled). */
static void drop(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a) {
    bool head_written = a->phase == TR__ACT_WRITING && a->has_head;
    for (int32_t k = a->head; k != TR__ENTITY_NO_SLOT;) {
        int32_t next = s->slot[k].next;
        answer_str(ctx, &s->slot[k].req, head_written ? "indeterminate" : "unavailable");
        head_written = false;
        slot_free(s, k);
        k = next;
    }
    a->phase = TR__ACT_FREE;
    a->head = a->tail = TR__ENTITY_NO_SLOT;
    a->queued = 0;
}

/* The phase's message (sget while loading, sput of a->state while writing) to every host that
 * has not answered it yet. */
static void send_phase(tr__entity_host *s, tr_ctx *ctx, const tr__entity_act *a) {
    uint8_t buf[64 + TR_ENTITY_STATE_MAX];
    tr_mp_writer w;
    bool load = a->phase == TR__ACT_LOADING;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, load ? 3 : 5);
    tr_mp_write_uint(&w, token_of(s, a));
    tr_mp_write_int(&w, a->id);
    tr_mp_write_uint(&w, a->epoch);
    if (!load) {
        tr_mp_write_uint(&w, a->seq);
        tr_mp_write_bin(&w, a->state, a->len);
    }
    send_all(s, ctx, load ? TR__ENTITY_SGET : TR__ENTITY_SPUT, buf, w.len, a->answered);
}

static void start_load(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a) {
    begin_phase(s, ctx, a, TR__ACT_LOADING);
    a->agree = true;
    a->handled = 0;
    a->best_epoch = a->best_seq = 0;
    a->len = 0;
    send_phase(s, ctx, a);
}

static void start_write(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a, bool has_head) {
    begin_phase(s, ctx, a, TR__ACT_WRITING);
    a->has_head = has_head;
    a->seq++;
    send_phase(s, ctx, a);
}

/* The single-activation probe: the simulator records (type, id, epoch) at each handle, in true
 * virtual time, for tr_entity_check_single (nothing on a real node). */
static void probe_handle(tr__entity_host *s, tr_ctx *ctx, const tr__entity_act *a) {
    tr_probe(ctx, TR_PROBE_ENTITY, s->type_hash, (uint64_t)a->id, a->epoch);
}

/* Runs the handler on the head of the queue. true: go on with the next one. */
static bool handle_head(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a) {
    tr__entity_slot *q = &s->slot[a->head];
    const tr_entity_type *t = s->arg.type;
    tr_mp_writer w;
    tr_mp_writer_init(&w, a->reply, sizeof a->reply);
    memcpy(s->scratch, a->state, a->len);
    tr_entity_call call = {.id = a->id,
                           .state = s->scratch,
                           .len = a->len,
                           .reply = &w,
                           .epoch = a->epoch,
                           .handled = a->handled++,
                           .bug = s->arg.bug};
    probe_handle(s, ctx, a);
    a->used_ms = tr_now_ms(ctx);
    int rc = t->handle(ctx, &call, &q->req);
    rc = rc == 0 && (w.err != 0 || call.len > t->state_max) ? TR_ETOOBIG : rc;
    if (rc == 0 && call.changed) {
        memcpy(a->state, s->scratch, call.len);
        a->len = call.len;
        a->reply_len = w.len;
        start_write(s, ctx, a, true);
        return false;
    }
    if (rc != 0) {
        answer_str(ctx, &q->req, tr_strerror(rc));
    } else {
        (void)tr_reply(ctx, &q->req, q->req.type, a->reply, w.len);
    }
    a->head = q->next;
    a->tail = a->head == TR__ENTITY_NO_SLOT ? TR__ENTITY_NO_SLOT : a->tail;
    a->queued--;
    slot_free(s, (int32_t)(q - s->slot));
    return true;
}

static void run(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a) {
    while (a->phase == TR__ACT_READY && a->head != TR__ENTITY_NO_SLOT) {
        if (!tr__entity_owns(s, ctx, tr__entity_shard(a->id), a->epoch)) {
            drop(s, ctx, a);
            return;
        }
        if (!handle_head(s, ctx, a)) {
            return;
        }
    }
}

static size_t majority(const tr__entity_host *s) {
    return s->arg.node_count / 2 + 1;
}

/* The acknowledgement of a phase: [token, node, code, ...]; NULL when it is not for a live
 * phase or repeats a node. The caller counts the node (a->answered) once it read the rest. */
static tr__entity_act *ack_target(tr__entity_host *s, tr_mp_reader *r, tr__entity_phase phase,
                                  uint32_t want, int64_t *code, uint32_t *node) {
    uint64_t token = 0, from = 0;
    uint32_t n = 0;
    tr_mp_read_array(r, &n);
    tr_mp_read_uint(r, &token);
    tr_mp_read_uint(r, &from);
    tr_mp_read_int(r, code);
    uint64_t k = token >> 32;
    if (r->err != 0 || (n != want && n != 3) || k >= TR_ENTITY_ACTIVE_MAX ||
        from >= s->arg.node_count) {
        return NULL;
    }
    tr__entity_act *a = &s->act[k];
    if (a->phase != phase || a->gen != (uint32_t)token || (a->answered >> from & 1u)) {
        return NULL;
    }
    *node = (uint32_t)from;
    return a;
}

static void loaded(tr__entity_host *s, tr_ctx *ctx, tr__entity_act *a) {
    /* A later write of this activation outranks anything an earlier activation of the same
     * epoch may have left at a minority (that one wrote at most best_seq + 1). */
    a->seq = a->best_seq + 1;
    if (a->agree) {
        a->phase = TR__ACT_READY;
        run(s, ctx, a);
    } else {
        start_write(s, ctx, a, false); /* make what was read a majority's before using it */
    }
}

/* [token, node, code, epoch, seq, bytes | nil]: the newest (epoch, seq) of a majority wins. */
static void on_sget_ack(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m) {
    int64_t code = -1;
    uint64_t e = 0, q = 0;
    uint32_t node = 0, blen = 0;
    const uint8_t *b = NULL;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    tr__entity_act *a = ack_target(s, &r, TR__ACT_LOADING, 6, &code, &node);
    if (!a) {
        return;
    }
    if (code == TR__ENTITY_FENCED) {
        drop(s, ctx, a); /* a newer epoch loaded it: this node no longer owns it */
        return;
    }
    tr_mp_read_uint(&r, &e);
    tr_mp_read_uint(&r, &q);
    (void)(tr_mp_peek(&r) == TR_MP_NIL ? tr_mp_read_nil(&r) : tr_mp_read_bin(&r, &b, &blen));
    if (tr_mp_reader_done(&r) != 0 || blen > s->arg.type->state_max ||
        (code == TR__ENTITY_OK) != (b != NULL) || (b == NULL && (e != 0 || q != 0))) {
        return; /* malformed: as if it never came */
    }
    bool first = a->answered == 0;
    a->answered |= 1u << node;
    a->agree = first || (a->agree && e == a->best_epoch && q == a->best_seq);
    if (first || e > a->best_epoch || (e == a->best_epoch && q > a->best_seq)) {
        if (b) {
            memcpy(a->state, b, blen);
        }
        a->len = blen;
        a->best_epoch = e;
        a->best_seq = q;
    }
    if ((size_t)__builtin_popcount(a->answered) >= majority(s)) {
        loaded(s, ctx, a);
    }
}

static void on_sput_ack(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m) {
    int64_t code = -1;
    uint32_t node = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    tr__entity_act *a = ack_target(s, &r, TR__ACT_WRITING, 3, &code, &node);
    if (!a || tr_mp_reader_done(&r) != 0) {
        return;
    }
    a->answered |= 1u << node;
    if (code != TR__ENTITY_OK) {
        drop(s, ctx, a);
        return;
    }
    if ((size_t)__builtin_popcount(a->answered) < majority(s)) {
        return;
    }
    a->phase = TR__ACT_READY;
    if (a->has_head) {
        tr__entity_slot *q = &s->slot[a->head];
        (void)tr_reply(ctx, &q->req, q->req.type, a->reply, a->reply_len);
        a->head = q->next;
        a->tail = a->head == TR__ENTITY_NO_SLOT ? TR__ENTITY_NO_SLOT : a->tail;
        a->queued--;
        slot_free(s, (int32_t)(q - s->slot));
    }
    run(s, ctx, a);
}

static tr__entity_act *find(tr__entity_host *s, int64_t id) {
    for (uint32_t i = 0; i < TR_ENTITY_ACTIVE_MAX; i++) {
        if (s->act[i].phase != TR__ACT_FREE && s->act[i].id == id) {
            return &s->act[i];
        }
    }
    return NULL;
}

/* A free activation, or the idlest one with nothing to do passivated; NULL: all busy. */
static tr__entity_act *take(tr__entity_host *s) {
    tr__entity_act *idlest = NULL;
    for (uint32_t i = 0; i < TR_ENTITY_ACTIVE_MAX; i++) {
        tr__entity_act *a = &s->act[i];
        if (a->phase == TR__ACT_FREE) {
            return a;
        }
        if (a->phase == TR__ACT_READY && a->queued == 0 &&
            (!idlest || a->used_ms < idlest->used_ms)) {
            idlest = a;
        }
    }
    return idlest;
}

/* Whether the network delivered this request here before (a duplicate: dropped, since the
 * first copy is answered); else it is remembered. A copy older than the last TR__ENTITY_SEEN
 * requests is handled again. */
static bool seen_before(tr__entity_host *s, const tr_msg *m) {
    for (uint32_t i = 0; i < TR__ENTITY_SEEN; i++) {
        const tr__entity_seen *e = &s->seen[i];
        if (e->corr == m->corr && tr_addr_eq(e->from, m->from)) {
            return true;
        }
    }
    s->seen[s->seen_next] = (tr__entity_seen){.from = m->from, .corr = m->corr};
    s->seen_next = (s->seen_next + 1) % TR__ENTITY_SEEN;
    return false;
}

/* This node owns the request's shard: queue it on the activation. */
static void deliver(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m, int64_t id) {
    if (m->corr != 0 && seen_before(s, m)) {
        return;
    }
    tr__entity_act *a = find(s, id);
    bool fresh = a == NULL;
    if (fresh && (a = take(s)) != NULL) {
        a->phase = TR__ACT_FREE;
        a->id = id;
        a->epoch = s->owned_epoch[tr__entity_shard(id)];
        a->head = a->tail = TR__ENTITY_NO_SLOT;
        a->queued = 0;
        a->used_ms = tr_now_ms(ctx);
    }
    int32_t k = a && a->queued < TR_ENTITY_QUEUE_MAX ? slot_take(s, m) : TR__ENTITY_NO_SLOT;
    if (k == TR__ENTITY_NO_SLOT) {
        answer_str(ctx, m, "busy");
        return;
    }
    if (a->tail == TR__ENTITY_NO_SLOT) {
        a->head = k;
    } else {
        s->slot[a->tail].next = k;
    }
    a->tail = k;
    a->queued++;
    if (fresh) {
        start_load(s, ctx, a);
    } else {
        run(s, ctx, a);
    }
}

/* ---- routing --------------------------------------------------------------------------------- */

static int64_t id_of(const tr__entity_host *s, const tr_msg *m) {
    if (s->arg.type->id_of) {
        return s->arg.type->id_of(m);
    }
    int64_t id = -1;
    uint32_t n = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    return tr_mp_read_array(&r, &n) == 0 && n > 0 && tr_mp_read_int(&r, &id) == 0 ? id : TR_EINVAL;
}

static void hold(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m, uint64_t until_ms) {
    int32_t k = slot_take(s, m);
    if (k == TR__ENTITY_NO_SLOT) {
        answer_str(ctx, m, "busy");
        return;
    }
    s->slot[k].until_ms = until_ms ? until_ms : tr_now_ms(ctx) + TR__ENTITY_WAIT_MS;
    if (s->wait_tail == TR__ENTITY_NO_SLOT) {
        s->wait_head = k;
    } else {
        s->slot[s->wait_tail].next = k;
    }
    s->wait_tail = k;
}

/* until_ms: the deadline of a request that already waited (0: a new one). */
static void route(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m, uint64_t until_ms) {
    int64_t id = id_of(s, m);
    if (id < 0 || m->body_len > TR_ENTITY_BODY_MAX) {
        answer_str(ctx, m, id < 0 ? "bad request: no entity id" : "bad request: body too long");
        return;
    }
    uint32_t shard = tr__entity_shard(id);
    if (tr__entity_owns(s, ctx, shard, s->owned_epoch[shard])) {
        deliver(s, ctx, m, id);
        return;
    }
    int32_t owner = s->owner[shard];
    bool elsewhere = owner >= 0 && owner != (int32_t)s->arg.node_index;
    bool client = m->from.node == tr_self(ctx).node || m->from.node >= TR__ENTITY_CLIENT_IDS;
    if (elsewhere && !client) {
        answer_str(ctx, m, "not owner");
        return;
    }
    if (elsewhere) {
        char to[2 * TR_NAME_MAX + 2];
        (void)tr__fmt_str3(to, sizeof to, s->arg.type->name, "@", s->arg.names[owner]);
        int rc = tr_forward(ctx, m, to);
        if (rc != TR_EUNREACH) {
            if (rc != 0) {
                answer_str(ctx, m, "unavailable");
            }
            return;
        }
    }
    hold(s, ctx, m, until_ms);
}

/* Routes the waiting requests again; those past their deadline are refused. */
static void retry_waiting(tr__entity_host *s, tr_ctx *ctx) {
    int32_t k = s->wait_head;
    uint64_t now = tr_now_ms(ctx);
    s->wait_head = s->wait_tail = TR__ENTITY_NO_SLOT;
    while (k != TR__ENTITY_NO_SLOT) {
        tr__entity_slot *q = &s->slot[k];
        int32_t next = q->next;
        slot_free(s, k); /* the copy stays readable until the next slot_take */
        tr_msg req = q->req;
        uint8_t body[TR_ENTITY_BODY_MAX];
        memcpy(body, q->body, req.body_len);
        req.body = body;
        if (now >= q->until_ms) {
            answer_str(ctx, &req, "unavailable");
        } else {
            route(s, ctx, &req, q->until_ms);
        }
        k = next;
    }
}

/* ---- housekeeping ---------------------------------------------------------------------------- */

/* Timeouts, lost shards, idle activations. */
static void sweep(tr__entity_host *s, tr_ctx *ctx) {
    uint64_t now = tr_now_ms(ctx);
    for (uint32_t i = 0; i < TR_ENTITY_ACTIVE_MAX; i++) {
        tr__entity_act *a = &s->act[i];
        bool busy = a->phase == TR__ACT_LOADING || a->phase == TR__ACT_WRITING;
        if (a->phase == TR__ACT_FREE) {
            continue;
        }
        if (!tr__entity_owns(s, ctx, tr__entity_shard(a->id), a->epoch) ||
            (busy && now >= a->deadline_ms)) {
            drop(s, ctx, a);
        } else if (busy && s->arg.type->resend_ms != 0 && now >= a->resend_at_ms) {
            a->resend_at_ms = now + s->arg.type->resend_ms;
            send_phase(s, ctx, a); /* a lost sget, sput or answer costs a resend */
        } else if (a->phase == TR__ACT_READY && a->queued == 0 &&
                   now >= a->used_ms + s->passivate_ms) {
            a->phase = TR__ACT_FREE; /* its state is durable at a majority */
        }
    }
}

static void tick(tr__entity_host *s, tr_ctx *ctx) {
    tr__entity_place_tick(s, ctx);
    tr__entity_renew_send(s, ctx);
    sweep(s, ctx);
    retry_waiting(s, ctx);
}

static int receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    tr__entity_host *s = state;
    uint32_t base = s->arg.type->msg_base;
    if (tr_raft_receive(&s->raft, ctx, m)) {
        return TR_CONTINUE;
    }
    if (m->type == TR_MSG_NODE_DOWN || m->type == TR_MSG_NODE_UP) {
        tr__entity_node_event(s, m);
        return TR_CONTINUE;
    }
    if (m->type < TR_MSG_USER) {
        return TR_CONTINUE;
    }
    switch ((int64_t)m->type - base) {
    case TR__ENTITY_TICK: tick(s, ctx); return TR_CONTINUE;
    case TR__ENTITY_RENEW: tr__entity_renew_serve(s, ctx, m); return TR_CONTINUE;
    case TR__ENTITY_SGET: tr__entity_store_sget(s, ctx, m); return TR_CONTINUE;
    case TR__ENTITY_SPUT: tr__entity_store_sput(s, ctx, m); return TR_CONTINUE;
    case TR__ENTITY_SGET_ACK: on_sget_ack(s, ctx, m); return TR_CONTINUE;
    case TR__ENTITY_SPUT_ACK: on_sput_ack(s, ctx, m); return TR_CONTINUE;
    case TR__ENTITY_RENEW_ACK:
        if (tr__entity_renew_ack(s, ctx, m)) {
            sweep(s, ctx);
            retry_waiting(s, ctx);
        }
        return TR_CONTINUE;
    default: break;
    }
    if ((m->type >= base && m->type < base + TR_ENTITY_MSG_COUNT) || tr_msg_is_reply(m)) {
        return TR_CONTINUE;
    }
    route(s, ctx, m, 0);
    return TR_CONTINUE;
}

/* ---- the behaviour and its argument ---------------------------------------------------------- */

static bool type_ok(const tr_entity_type *t) {
    size_t n = t && t->name ? strlen(t->name) : 0;
    bool name_ok = n > 0 && n <= TR_NAME_MAX;
    for (size_t i = 0; i < n; i++) {
        char c = t->name[i];
        name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    }
    return name_ok && t->handle && t->state_max >= 1 && t->state_max <= TR_ENTITY_STATE_MAX &&
           t->msg_base >= TR_MSG_USER && t->msg_base <= UINT32_MAX - TR_ENTITY_MSG_COUNT &&
           (t->election_ms == 0 || (t->election_ms >= 100 && t->election_ms <= 60000));
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    }
    return h;
}

static int init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    tr__entity_host *s = state;
    if (len != sizeof s->arg) {
        return TR_EINVAL;
    }
    memcpy(&s->arg, arg, len);
    const tr_entity_type *t = s->arg.type;
    if (!type_ok(t) || s->arg.node_count == 0 || s->arg.node_count > TR_RAFT_NODES_MAX ||
        s->arg.node_index >= s->arg.node_count) {
        return TR_EINVAL;
    }
    s->lease_ms = t->lease_ms ? t->lease_ms : 2000;
    s->passivate_ms = t->passivate_ms ? t->passivate_ms : 30000;
    s->write_ms = t->write_timeout_ms ? t->write_timeout_ms : 1000;
    s->type_hash = fnv1a(t->name);
    s->free_head = TR__ENTITY_NO_SLOT;
    for (int32_t k = TR__ENTITY_SLOTS - 1; k >= 0; k--) {
        slot_free(s, k);
    }
    s->wait_head = s->wait_tail = TR__ENTITY_NO_SLOT;
    int rc = tr__entity_place_init(s, ctx);
    if (rc != 0) {
        return rc;
    }
    return tr_timer_start(ctx, TR__ENTITY_TICK_MS, TR__ENTITY_TICK_MS,
                          t->msg_base + TR__ENTITY_TICK, NULL);
}

const tr_behaviour tr_entity_host = {"entity-host", sizeof(tr__entity_host), init, receive, NULL};

const tr_behaviour *tr_entity_behaviour(void) {
    return &tr_entity_host;
}

int tr_entity_host_arg(const tr_entity_type *type, const tr_service_env *env, uint32_t bugs,
                       void *buf, size_t cap, size_t *len) {
    tr__entity_arg a;
    if (!type_ok(type) || !env || !buf || !len || env->node_count == 0 ||
        env->node_count > TR_RAFT_NODES_MAX || env->node_index >= env->node_count) {
        return TR_EINVAL;
    }
    if (cap < sizeof a) {
        return TR_ETOOBIG;
    }
    memset(&a, 0, sizeof a);
    a.type = type;
    a.node_index = env->node_index;
    a.node_count = env->node_count;
    a.bugs = bugs;
    if (env->bug != NULL && snprintf(a.bug, sizeof a.bug, "%s", env->bug) >= (int)sizeof a.bug) {
        return TR_EINVAL;
    }
    for (uint32_t i = 0; i < env->node_count; i++) {
        if (snprintf(a.names[i], sizeof a.names[i], "%s", env->node_names[i]) >=
            (int)sizeof a.names[i]) {
            return TR_EINVAL;
        }
    }
    memcpy(buf, &a, sizeof a);
    *len = sizeof a;
    return 0;
}
