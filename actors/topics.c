/* topics.c — the topic broker (troupe.h, "Topics"): one per node, home of the topics whose
 * FNV-1a hash mod node_count is its index, forwarder of the others.
 *
 * The home keeps subscriptions durably (key "subs": [[topic, subscriber]...]) and the events
 * it is delivering in memory: a pending event has a bit per subscription still to ack it and
 * is resent to those every TR_TOPICS_RESEND_MS. A publish that would give one subscriber more
 * than TR_TOPICS_QUEUE_MAX unacknowledged events, or the home more than
 * TR_TOPICS_PENDING_MAX, is refused whole (back-pressure; docs/pubsub.md says why). */
#include <stdio.h>
#include <string.h>

#include "actors/fmt.h"
#include "actors/topics.h"

typedef struct topic_sub {
    bool used;
    char topic[TR_TOPIC_NAME_MAX + 1];
    char name[TR_NAME_MAX + 1]; /* "name@node" */
    uint32_t outstanding;       /* pending events this subscriber has not acked */
} topic_sub;

typedef struct topic_pending { /* in use when its bit of topics_state.in_use is set */
    char topic[TR_TOPIC_NAME_MAX + 1];
    uint64_t id;
    tr_addr publisher; /* the latest sender of this event's PUBLISH */
    uint32_t waiting;  /* bit i: subscription i has not acked */
    uint8_t ticks;     /* resend ticks since it was last sent */
    uint8_t wait;      /* ticks to let pass before the next resend (doubles, to RESEND_WAIT_MAX) */
    uint16_t body_len;
    uint8_t body[TR_TOPIC_BODY_MAX];
} topic_pending;

typedef struct topics_state {
    tr_service_place place; /* first: tr_service_place_init writes it */
    bool unbounded;         /* the planted bug */
    uint64_t timer;
    topic_sub subs[TR_TOPICS_SUBS_MAX];
    topic_pending pending[TR_TOPICS_PENDING_MAX];
    /* bit i: pending[i] is in use. Every publish, ack and tick looks for events: a scan of the bits
     * in use reads a few words where one of the slots read a line of each (a tenth of a
     * faulted pubsub run went to those scans). */
    uint64_t in_use[TR_TOPICS_PENDING_MAX / 64];
    tr_topics_stats stats;
} topics_state;

_Static_assert(TR_TOPICS_PENDING_MAX % 64 == 0, "whole words of in_use");

_Static_assert(TR_TOPICS_SUBS_MAX <= 32, "one waiting bit per subscription");

/* An event is resent once it has gone unacknowledged for more than `wait` whole ticks, and
 * `wait` doubles each time (1, 2, 4, 8 ticks: 0.4, 0.6, 1.0, 1.8 s between sends): an event
 * whose ack is merely late (a slow link, a slow disk) is not sent again at every tick, so the
 * resends of a home with many pending events do not fill the links that are already slow. */
#define RESEND_WAIT_MAX 8

uint32_t tr__topic_home(const char *topic, uint32_t node_count) {
    uint64_t h = 14695981039346656037ull;
    for (const char *c = topic; *c; c++) {
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    }
    return node_count ? (uint32_t)(h % node_count) : 0;
}

static int save_subs(tr_ctx *ctx, const topics_state *s) {
    uint8_t buf[TR_TOPICS_SUBS_MAX * (TR_TOPIC_NAME_MAX + TR_NAME_MAX + 8) + 8];
    tr_mp_writer w;
    uint32_t n = 0;
    for (uint32_t i = 0; i < TR_TOPICS_SUBS_MAX; i++) {
        n += s->subs[i].used;
    }
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, n);
    for (uint32_t i = 0; i < TR_TOPICS_SUBS_MAX; i++) {
        if (s->subs[i].used) {
            tr_mp_write_array(&w, 2);
            tr_mp_write_cstr(&w, s->subs[i].topic);
            tr_mp_write_cstr(&w, s->subs[i].name);
        }
    }
    return w.err ? w.err : tr_kv_put(ctx, "subs", 4, buf, w.len);
}

static int load_subs(tr_ctx *ctx, topics_state *s) {
    uint8_t buf[TR_TOPICS_SUBS_MAX * (TR_TOPIC_NAME_MAX + TR_NAME_MAX + 8) + 8];
    size_t len;
    int rc = tr_kv_get(ctx, "subs", 4, buf, sizeof buf, &len);
    if (rc == TR_ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    tr_mp_reader r;
    uint32_t n, two;
    tr_mp_reader_init(&r, buf, len);
    if (tr_mp_read_array(&r, &n) != 0 || n > TR_TOPICS_SUBS_MAX) {
        return TR_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        topic_sub *sub = &s->subs[i];
        if (tr_mp_read_array(&r, &two) != 0 || two != 2 ||
            tr_mp_read_str_copy(&r, sub->topic, sizeof sub->topic) != 0 ||
            tr_mp_read_str_copy(&r, sub->name, sizeof sub->name) != 0) {
            return TR_ECORRUPT;
        }
        sub->used = true;
    }
    s->stats.subscriptions = n;
    return tr_mp_reader_done(&r) == 0 ? 0 : TR_ECORRUPT;
}

static int topics_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    topics_state *s = state;
    int rc = tr_service_place_init(ctx, state, arg, arg_len);
    if (rc != 0 || s->place.node_count == 0) {
        return rc != 0 ? rc : TR_EINVAL;
    }
    s->unbounded = strcmp(s->place.bug, "topics-unbounded") == 0;
    rc = load_subs(ctx, s);
    if (rc != 0) {
        return rc;
    }
    return tr_timer_start(ctx, TR_TOPICS_RESEND_MS, TR_TOPICS_RESEND_MS, TR_TOPIC_MSG_TICK,
                          &s->timer);
}

/* [topic, id] to the publisher. */
static void answer(tr_ctx *ctx, tr_addr to, uint32_t type, const char *topic, uint64_t id) {
    uint8_t buf[TR_TOPIC_NAME_MAX + 32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 2);
    tr_mp_write_cstr(&w, topic);
    tr_mp_write_uint(&w, id);
    (void)tr_send(ctx, to, type, buf, w.len);
}

static void send_event(tr_ctx *ctx, const topic_pending *p, uint32_t slot, const char *to) {
    uint8_t buf[TR_TOPIC_BODY_MAX + TR_TOPIC_NAME_MAX + 48];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 4);
    tr_mp_write_cstr(&w, p->topic);
    tr_mp_write_uint(&w, p->id);
    tr_mp_write_bin(&w, p->body, p->body_len);
    tr_mp_write_uint(&w, slot);
    (void)tr_send_name(ctx, to, TR_TOPIC_MSG_EVENT, buf, w.len);
}

/* The first pending slot in use at or after i; TR_TOPICS_PENDING_MAX when there is none. */
static uint32_t next_used(const topics_state *s, uint32_t i) {
    while (i < TR_TOPICS_PENDING_MAX) {
        uint64_t bits = s->in_use[i / 64] >> (i % 64);
        if (bits != 0) {
            return i + (uint32_t)__builtin_ctzll(bits);
        }
        i = (i / 64 + 1) * 64;
    }
    return TR_TOPICS_PENDING_MAX;
}

static void set_used(topics_state *s, topic_pending *p, bool used) {
    uint32_t i = (uint32_t)(p - s->pending);
    s->in_use[i / 64] = used ? s->in_use[i / 64] | (UINT64_C(1) << (i % 64))
                             : s->in_use[i / 64] & ~(UINT64_C(1) << (i % 64));
}

static topic_pending *find_pending(topics_state *s, const char *topic, uint64_t id) {
    for (uint32_t i = next_used(s, 0); i < TR_TOPICS_PENDING_MAX; i = next_used(s, i + 1)) {
        topic_pending *p = &s->pending[i];
        if (p->id == id && strcmp(p->topic, topic) == 0) {
            return p;
        }
    }
    return NULL;
}

static topic_pending *free_pending(topics_state *s) {
    for (uint32_t w = 0; w < TR_TOPICS_PENDING_MAX / 64; w++) {
        if (~s->in_use[w] != 0) {
            return &s->pending[w * 64 + (uint32_t)__builtin_ctzll(~s->in_use[w])];
        }
    }
    return NULL;
}

/* The subscriptions of topic as bits; false when one of them is at its bound. */
static bool subscribers_with_room(const topics_state *s, const char *topic, uint32_t *bits) {
    bool room = true;
    *bits = 0;
    for (uint32_t i = 0; i < TR_TOPICS_SUBS_MAX; i++) {
        const topic_sub *sub = &s->subs[i];
        if (sub->used && strcmp(sub->topic, topic) == 0) {
            *bits |= 1u << i;
            room = room && (s->unbounded || sub->outstanding < TR_TOPICS_QUEUE_MAX);
        }
    }
    return room;
}

static void home_publish(tr_ctx *ctx, topics_state *s, const tr_msg *msg, const char *topic,
                         uint64_t id, const uint8_t *body, uint32_t body_len) {
    topic_pending *p = find_pending(s, topic, id);
    if (p) {
        p->publisher = msg->from; /* a republish (the outbox restarted): answer the new one */
        return;
    }
    uint32_t bits;
    bool room = subscribers_with_room(s, topic, &bits);
    if (bits == 0) {
        answer(ctx, msg->from, TR_TOPIC_MSG_PUBLISHED, topic, id);
        return;
    }
    p = room ? free_pending(s) : NULL;
    if (!p) {
        s->stats.refused++;
        answer(ctx, msg->from, TR_TOPIC_MSG_REFUSED, topic, id);
        return;
    }
    memset(p, 0, sizeof *p);
    set_used(s, p, true);
    memcpy(p->topic, topic, strlen(topic) + 1);
    p->id = id;
    p->publisher = msg->from;
    p->waiting = bits;
    p->wait = 1;
    p->body_len = (uint16_t)body_len;
    memcpy(p->body, body, body_len);
    s->stats.pending++;
    for (uint32_t i = 0; i < TR_TOPICS_SUBS_MAX; i++) {
        if (bits & (1u << i)) {
            topic_sub *sub = &s->subs[i];
            sub->outstanding++;
            if (sub->outstanding > s->stats.queue_high) {
                s->stats.queue_high = sub->outstanding;
            }
            send_event(ctx, p, i, sub->name);
        }
    }
}

static void home_ack(tr_ctx *ctx, topics_state *s, const char *topic, uint64_t id, uint64_t slot) {
    topic_pending *p = find_pending(s, topic, id);
    if (!p || slot >= TR_TOPICS_SUBS_MAX || !(p->waiting & (1u << slot))) {
        return; /* a late or repeated ack */
    }
    p->waiting &= ~(1u << slot);
    s->subs[slot].outstanding--;
    s->stats.delivered++;
    if (p->waiting == 0) {
        answer(ctx, p->publisher, TR_TOPIC_MSG_PUBLISHED, p->topic, p->id);
        set_used(s, p, false);
        s->stats.pending--;
    }
}

/* Every event subscription slot has not acked, now. */
static void resend_to(tr_ctx *ctx, topics_state *s, uint32_t slot) {
    for (uint32_t i = next_used(s, 0); i < TR_TOPICS_PENDING_MAX; i = next_used(s, i + 1)) {
        const topic_pending *p = &s->pending[i];
        if (p->waiting & (1u << slot)) {
            s->stats.resent++;
            send_event(ctx, p, slot, s->subs[slot].name);
        }
    }
}

static void home_subscribe(tr_ctx *ctx, topics_state *s, const tr_msg *msg, const char *topic,
                           const char *name) {
    int free_slot = -1;
    for (uint32_t i = 0; i < TR_TOPICS_SUBS_MAX; i++) {
        const topic_sub *sub = &s->subs[i];
        if (sub->used && strcmp(sub->topic, topic) == 0 && strcmp(sub->name, name) == 0) {
            free_slot = -2;
            resend_to(ctx, s, i); /* it restarted: what it had not acked is lost with it */
            break;
        }
        if (!sub->used && free_slot == -1) {
            free_slot = (int)i;
        }
    }
    uint8_t buf[TR_TOPIC_NAME_MAX + 8];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 1);
    tr_mp_write_cstr(&w, topic);
    if (free_slot == -1) {
        (void)tr_reply(ctx, msg, TR_TOPIC_MSG_REFUSED, buf, w.len);
        return;
    }
    if (free_slot >= 0) {
        topic_sub *sub = &s->subs[free_slot];
        memset(sub, 0, sizeof *sub);
        sub->used = true;
        memcpy(sub->topic, topic, strlen(topic) + 1);
        memcpy(sub->name, name, strlen(name) + 1);
        s->stats.subscriptions++;
        if (save_subs(ctx, s) != 0) {
            sub->used = false;
            s->stats.subscriptions--;
            (void)tr_reply(ctx, msg, TR_TOPIC_MSG_REFUSED, buf, w.len);
            return;
        }
    }
    (void)tr_reply_durable(ctx, msg, TR_TOPIC_MSG_SUBSCRIBED, buf, w.len);
}

static void resend(tr_ctx *ctx, topics_state *s) {
    for (uint32_t i = next_used(s, 0); i < TR_TOPICS_PENDING_MAX; i = next_used(s, i + 1)) {
        topic_pending *p = &s->pending[i];
        if (++p->ticks <= p->wait) {
            continue;
        }
        p->ticks = 0;
        p->wait = p->wait < RESEND_WAIT_MAX ? (uint8_t)(2 * p->wait) : RESEND_WAIT_MAX;
        for (uint32_t k = 0; k < TR_TOPICS_SUBS_MAX; k++) {
            if (p->waiting & (1u << k)) {
                s->stats.resent++;
                send_event(ctx, p, k, s->subs[k].name);
            }
        }
    }
}

static void reply_stats(tr_ctx *ctx, const topics_state *s, const tr_msg *msg) {
    uint8_t buf[96];
    tr_mp_writer w;
    const tr_topics_stats *st = &s->stats;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 7);
    tr_mp_write_uint(&w, st->subscriptions);
    tr_mp_write_uint(&w, st->pending);
    tr_mp_write_uint(&w, st->delivered);
    tr_mp_write_uint(&w, st->resent);
    tr_mp_write_uint(&w, st->refused);
    tr_mp_write_uint(&w, st->queue_high);
    tr_mp_write_uint(&w, st->bad_messages);
    (void)tr_reply(ctx, msg, TR_TOPIC_MSG_STATS, buf, w.len);
}

int tr_topics_stats_read(const void *body, size_t len, tr_topics_stats *out) {
    tr_mp_reader r;
    uint32_t n;
    uint64_t *f[7] = {&out->subscriptions, &out->pending,    &out->delivered,   &out->resent,
                      &out->refused,       &out->queue_high, &out->bad_messages};
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 7) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < 7; i++) {
        (void)tr_mp_read_uint(&r, f[i]);
    }
    return tr_mp_reader_done(&r);
}

/* The topic a topic message names (its first element), or an error. */
static int read_topic(tr_mp_reader *r, const tr_msg *msg, uint32_t *n, char *topic) {
    tr_mp_reader_init(r, msg->body, msg->body_len);
    if (tr_mp_read_array(r, n) != 0 || *n < 2 ||
        tr_mp_read_str_copy(r, topic, TR_TOPIC_NAME_MAX + 1) != 0 || topic[0] == '\0') {
        return TR_EPROTO;
    }
    return 0;
}

/* A SUBSCRIBE, PUBLISH or ACK for a topic this node is home of. */
static int home_receive(tr_ctx *ctx, topics_state *s, const tr_msg *msg, tr_mp_reader *r,
                        uint32_t n, const char *topic) {
    uint64_t id, slot;
    const uint8_t *body;
    uint32_t body_len;
    char name[TR_NAME_MAX + 1];
    switch (msg->type) {
    case TR_TOPIC_MSG_SUBSCRIBE:
        if (n != 2 || tr_mp_read_str_copy(r, name, sizeof name) != 0 || !strchr(name, '@') ||
            tr_mp_reader_done(r) != 0) {
            return TR_EPROTO;
        }
        home_subscribe(ctx, s, msg, topic, name);
        return 0;
    case TR_TOPIC_MSG_PUBLISH:
        if (n != 3 || tr_mp_read_uint(r, &id) != 0 || tr_mp_read_bin(r, &body, &body_len) != 0 ||
            body_len > TR_TOPIC_BODY_MAX || tr_mp_reader_done(r) != 0) {
            return TR_EPROTO;
        }
        home_publish(ctx, s, msg, topic, id, body, body_len);
        return 0;
    default: /* ACK */
        if (n != 3 || tr_mp_read_uint(r, &id) != 0 || tr_mp_read_uint(r, &slot) != 0 ||
            tr_mp_reader_done(r) != 0) {
            return TR_EPROTO;
        }
        home_ack(ctx, s, topic, id, slot);
        return 0;
    }
}

static int topics_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    topics_state *s = state;
    if (msg->type == TR_TOPIC_MSG_TICK) {
        resend(ctx, s);
        return TR_CONTINUE;
    }
    if (msg->type == TR_TOPIC_MSG_STATS) {
        reply_stats(ctx, s, msg);
        return TR_CONTINUE;
    }
    if (msg->type != TR_TOPIC_MSG_SUBSCRIBE && msg->type != TR_TOPIC_MSG_PUBLISH &&
        msg->type != TR_TOPIC_MSG_ACK) {
        return TR_CONTINUE;
    }
    tr_mp_reader r;
    uint32_t n;
    char topic[TR_TOPIC_NAME_MAX + 1];
    if (read_topic(&r, msg, &n, topic) != 0) {
        s->stats.bad_messages++;
        return TR_CONTINUE;
    }
    uint32_t home = tr__topic_home(topic, s->place.node_count);
    if (home != s->place.node_index) {
        char to[TR_NAME_MAX + 1];
        tr__topics_home_name(home, to, sizeof to);
        (void)tr_forward(ctx, msg, to); /* refused: the sender's retry covers it */
        return TR_CONTINUE;
    }
    if (home_receive(ctx, s, msg, &r, n, topic) != 0) {
        s->stats.bad_messages++;
    }
    return TR_CONTINUE;
}

void tr__topics_home_name(uint32_t home, char *out, size_t cap) {
    (void)tr__fmt_u64(out, cap, TR_TOPICS_NAME, "@n", (uint64_t)home + 1);
}

const tr_behaviour tr_topics_broker = {
    .name = "topics",
    .state_size = sizeof(topics_state),
    .init = topics_init,
    .receive = topics_receive,
};
