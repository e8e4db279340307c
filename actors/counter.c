/* counter.c — the PN-counter CRDT and the "counter" replica (actors/counter.h). */
#include <stdio.h>
#include <string.h>

#include "actors/counter.h"
#include "actors/crdt_durable.h"
#include "actors/fmt.h"

void tr__pncounter_init(tr__pncounter *c, uint32_t n) {
    memset(c, 0, sizeof *c);
    c->n = n < TR_COUNTER_NODES_MAX ? n : TR_COUNTER_NODES_MAX;
}

int tr__pncounter_add(tr__pncounter *c, uint32_t node, int64_t delta) {
    if (node >= c->n || delta == 0 || delta > TR_COUNTER_DELTA_MAX ||
        delta < -TR_COUNTER_DELTA_MAX) {
        return TR_EINVAL;
    }
    if (delta > 0) {
        c->p[node] += (uint64_t)delta;
    } else {
        c->m[node] += (uint64_t)-delta;
    }
    return 0;
}

void tr__pncounter_merge(tr__pncounter *c, const tr__pncounter *other, uint32_t bugs) {
    for (uint32_t i = 0; i < c->n && i < other->n; i++) {
        if (bugs & TR_COUNTER_BUG_MERGE_SUM) {
            c->p[i] += other->p[i];
            c->m[i] += other->m[i];
            continue;
        }
        c->p[i] = other->p[i] > c->p[i] ? other->p[i] : c->p[i];
        c->m[i] = other->m[i] > c->m[i] ? other->m[i] : c->m[i];
    }
}

int64_t tr__pncounter_value(const tr__pncounter *c) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        v += c->p[i] - c->m[i]; /* modulo 2^64: the difference is what counts */
    }
    return (int64_t)v;
}

void tr__pncounter_encode(const tr__pncounter *c, tr_mp_writer *w) {
    tr_mp_write_array(w, 1 + 2 * c->n);
    tr_mp_write_uint(w, c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        tr_mp_write_uint(w, c->p[i]);
    }
    for (uint32_t i = 0; i < c->n; i++) {
        tr_mp_write_uint(w, c->m[i]);
    }
}

int tr__pncounter_decode(tr__pncounter *c, const void *body, size_t len) {
    tr_mp_reader r;
    uint32_t count;
    uint64_t n;
    tr__pncounter t;
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_array(&r, &count) != 0 || tr_mp_read_uint(&r, &n) != 0 || n != c->n ||
        count != 1 + 2 * n) {
        return TR_EPROTO;
    }
    tr__pncounter_init(&t, (uint32_t)n);
    for (uint32_t i = 0; i < t.n; i++) {
        (void)tr_mp_read_uint(&r, &t.p[i]);
    }
    for (uint32_t i = 0; i < t.n; i++) {
        (void)tr_mp_read_uint(&r, &t.m[i]);
    }
    if (tr_mp_reader_done(&r) != 0) {
        return TR_EPROTO;
    }
    *c = t;
    return 0;
}

/* ---- the replica ---------------------------------------------------------------------- */

typedef struct counter_state {
    tr_service_place place; /* first: tr_service_place_init */
    uint32_t bugs;
    tr__pncounter c;
    uint64_t durable_p, durable_m; /* the own entry known durable: what gossip carries */
    tr__durable_mark mark;         /* position: the own entry's p + m, which only grows */
    uint64_t asked_p, asked_m;     /* the own entry the outstanding notification covers */
} counter_state;

#define OWN_KEY "own"

static int counter_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    counter_state *s = state;
    uint64_t own[2];
    size_t len;
    uint64_t timer;
    int rc = tr_service_place_init(ctx, state, arg, arg_len);
    if (rc != 0 || s->place.node_count == 0 || s->place.node_count > TR_COUNTER_NODES_MAX) {
        return rc != 0 ? rc : TR_EINVAL;
    }
    s->bugs = !strcmp(s->place.bug, "merge-sum")   ? TR_COUNTER_BUG_MERGE_SUM
              : !strcmp(s->place.bug, "no-gossip") ? TR_COUNTER_BUG_NO_GOSSIP
                                                   : 0;
    tr__pncounter_init(&s->c, s->place.node_count);
    if (tr_kv_get(ctx, OWN_KEY, 3, own, sizeof own, &len) == 0 && len == sizeof own) {
        s->c.p[s->place.node_index] = s->durable_p = own[0]; /* committed: durable */
        s->c.m[s->place.node_index] = s->durable_m = own[1];
    }
    tr__durable_mark_init(&s->mark, s->durable_p + s->durable_m);
    return tr_timer_start(ctx, TR_COUNTER_GOSSIP_MS, TR_COUNTER_GOSSIP_MS, TR_COUNTER_TICK, &timer);
}

/* Asks to learn when the own entry as it is now is durable. */
static void ask_durable(tr_ctx *ctx, counter_state *s) {
    uint32_t self = s->place.node_index;
    if (tr__durable_mark_ask(ctx, &s->mark, s->c.p[self] + s->c.m[self])) {
        s->asked_p = s->c.p[self];
        s->asked_m = s->c.m[self];
    }
}

static void add(tr_ctx *ctx, counter_state *s, const tr_msg *msg) {
    int64_t delta;
    tr__pncounter next = s->c;
    uint32_t self = s->place.node_index;
    if (tr_msg_read_ints(msg, &delta, 1) != 1 || tr__pncounter_add(&next, self, delta) != 0) {
        (void)tr_reply_str(ctx, msg, "bad request: [delta], delta != 0, |delta| <= 2^40", false);
        return;
    }
    uint64_t own[2] = {next.p[self], next.m[self]};
    int rc = tr_kv_put(ctx, OWN_KEY, 3, own, sizeof own);
    if (rc != 0) {
        (void)tr_reply_str(ctx, msg, tr_strerror(rc), false);
        return;
    }
    s->c = next;
    ask_durable(ctx, s);
    (void)tr_reply_int(ctx, msg, delta, true);
}

/* Every other node gets the counter with this node's own entry as last known durable. */
static void gossip(tr_ctx *ctx, counter_state *s) {
    uint32_t self = s->place.node_index;
    if (s->bugs & TR_COUNTER_BUG_NO_GOSSIP) {
        return;
    }
    tr__pncounter out = s->c;
    out.p[self] = s->durable_p;
    out.m[self] = s->durable_m;
    uint8_t buf[16 + 2 * 9 * TR_COUNTER_NODES_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr__pncounter_encode(&out, &w);
    for (uint32_t i = 0; i < s->place.node_count && w.err == 0; i++) {
        char name[TR_NAME_MAX + 1];
        if (i != self) {
            (void)tr__fmt_u64(name, sizeof name, TR_COUNTER_NAME, "@n", (uint64_t)i + 1);
            (void)tr_send_name(ctx, name, TR_COUNTER_GOSSIP, buf, w.len);
        }
    }
}

/* A newer own entry is durable: the peers get it at once, and the adds made since are asked
 * about. */
static void durable(tr_ctx *ctx, counter_state *s, const tr_msg *msg) {
    if (tr__durable_mark_answer(&s->mark, msg)) {
        s->durable_p = s->asked_p;
        s->durable_m = s->asked_m;
        gossip(ctx, s);
        ask_durable(ctx, s);
    }
}

static int counter_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    counter_state *s = state;
    tr__pncounter other;
    switch (msg->type) {
    case TR_COUNTER_ADD: add(ctx, s, msg); break;
    case TR_COUNTER_READ:
    case TR_COUNTER_STATE: (void)tr_reply_int(ctx, msg, tr__pncounter_value(&s->c), false); break;
    case TR_COUNTER_GOSSIP:
        tr__pncounter_init(&other, s->c.n);
        if (tr__pncounter_decode(&other, msg->body, msg->body_len) == 0) {
            tr__pncounter_merge(&s->c, &other, s->bugs);
        }
        break;
    case TR_COUNTER_TICK:
        ask_durable(ctx, s);
        gossip(ctx, s);
        break;
    case TR_MSG_DURABLE: durable(ctx, s, msg); break;
    default: break;
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__counter_behaviour = {.name = TR_COUNTER_NAME,
                                            .state_size = sizeof(counter_state),
                                            .init = counter_init,
                                            .receive = counter_receive};
