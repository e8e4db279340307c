/* check_pubsub.c — the checks of the pubsub service (harness/builtin_pubsub.h) over the
 * history, the subscribers' probes and what every node committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/fmt.h"
#include "harness/builtin_pubsub.h"

typedef struct publish {
    int64_t id;
    int64_t process;
    uint64_t invoked_ns;
    int32_t node; /* where the publisher ran */
    tr_history_type outcome;
} publish;

typedef struct got_record { /* as harness/builtin_pubsub.c writes it */
    uint32_t count;
    uint32_t epoch;
    uint32_t arrival;
} got_record;

/* The publishes of the history, in invoke order; *out owned by the caller (free). */
static int publishes(const tr_history *h, publish **out, size_t *count) {
    size_t n = tr_history_count(h), k = 0;
    publish *p = calloc(n ? n : 1, sizeof *p);
    tr_history_op op;
    if (!p) {
        return TR_ENOMEM;
    }
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        if (strcmp(op.f, "publish") != 0) {
            continue;
        }
        if (op.type == TR_HISTORY_INVOKE) {
            p[k++] = (publish){.id = op.value,
                               .process = op.process,
                               .invoked_ns = (uint64_t)op.time_ns,
                               .node = op.node,
                               .outcome = TR_HISTORY_INVOKE};
            continue;
        }
        for (size_t j = k; j-- > 0;) {
            if (p[j].process == op.process && p[j].outcome == TR_HISTORY_INVOKE) {
                p[j].outcome = op.type;
                break;
            }
        }
    }
    *out = p;
    *count = k;
    return 0;
}

/* When each node's subscriber was first told SUBSCRIBED (UINT64_MAX: never). */
static int subscribed_at(const tr_check_input *in, uint64_t *at) {
    const tr_sim_probe *probes;
    uint64_t dropped = 0;
    size_t n = tr_sim_probes(in->sim, &probes, &dropped);
    for (uint32_t k = 0; k < in->node_count; k++) {
        at[k] = UINT64_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        const tr_sim_probe *p = &probes[i];
        if (p->kind == TR__PUBSUB_PROBE_SUBSCRIBED && p->a < in->node_count && p->t_ns < at[p->a]) {
            at[p->a] = p->t_ns;
        }
    }
    return dropped ? TR_EFULL : 0;
}

/* Node k's record of id: 0 (count 0 when never got), or the store's error. */
static int got(const tr_check_input *in, uint32_t k, int64_t id, got_record *g) {
    char key[40];
    size_t len;
    size_t n = tr__fmt_u64(key, sizeof key, "got/", "", (uint64_t)id);
    int rc = tr_check_kv_get(in, k, TR__PUBSUB_SUB, key, n, g, sizeof *g, &len);
    if (rc == TR_ENOENT) {
        *g = (got_record){0, 0, 0};
        return 0;
    }
    return rc != 0 ? rc : len == sizeof *g ? 0 : TR_ECORRUPT;
}

/* Whether a "corrupt" fault tore node k's data file: its store is gone for good (every restart
 * is refused), with the outbox records, subscriptions and counts it held. */
static bool torn(const tr_check_input *in, uint32_t k) {
    for (uint32_t f = 0; f < in->fault_count; f++) {
        if (!strcmp(in->faults[f].kind, "corrupt") && k < 64 && (in->faults[f].nodes >> k & 1)) {
            return true;
        }
    }
    return false;
}

static bool any_torn(const tr_check_input *in) {
    for (uint32_t k = 0; k < in->node_count; k++) {
        if (torn(in, k)) {
            return true;
        }
    }
    return false;
}

/* The event ids in each publisher's outbox at the end (its records [topic, id, body] under
 * "outbox/<slot>"), read from a node's store the first time a check asks about it: the check
 * asks per publish and subscriber, and reading the slots each time took a fifth of a run. */
typedef struct outboxes {
    uint8_t read[TR_SIM_NODES_MAX];  /* node k's slots were read */
    uint8_t count[TR_SIM_NODES_MAX]; /* the ids found in them */
    int64_t id[TR_SIM_NODES_MAX][TR_OUTBOX_MAX];
} outboxes;

static void outbox_read(const tr_check_input *in, outboxes *o, uint32_t k) {
    o->read[k] = 1;
    o->count[k] = 0;
    for (uint32_t slot = 0; slot < TR_OUTBOX_MAX; slot++) {
        char key[32];
        uint8_t buf[TR_TOPIC_BODY_MAX + TR_TOPIC_NAME_MAX + 32];
        size_t len;
        uint32_t n;
        uint64_t v;
        size_t kl = tr__fmt_u64(key, sizeof key, "outbox/", "", slot);
        if (tr_check_kv_get(in, k, TR__PUBSUB_PUB, key, kl, buf, sizeof buf, &len) != 0) {
            continue;
        }
        tr_mp_reader r;
        tr_mp_reader_init(&r, buf, len);
        if (tr_mp_read_array(&r, &n) == 0 && n == 3 && tr_mp_skip(&r) == 0 &&
            tr_mp_read_uint(&r, &v) == 0) {
            o->id[k][o->count[k]++] = (int64_t)v;
        }
    }
}

/* Whether the outbox of node k still holds the event id at the end. */
static bool in_outbox(const tr_check_input *in, outboxes *o, uint32_t k, int64_t id) {
    if (k >= TR_SIM_NODES_MAX) {
        return false;
    }
    if (!o->read[k]) {
        outbox_read(in, o, k);
    }
    for (uint32_t i = 0; i < o->count[k]; i++) {
        if (o->id[k][i] == id) {
            return true;
        }
    }
    return false;
}

/* An acknowledged publish that a fault the service does not survive kept from a subscriber:
 * a store was torn (its node never comes back) and the event is still in its publisher's
 * outbox (a subscriber that never acks again holds its topic at its bound, a home that never
 * comes back holds it altogether: the stated back-pressure, no drop), or the publisher's own
 * store was torn (the record went with it). An event neither delivered nor held is lost. */
static bool undeliverable(const tr_check_input *in, outboxes *o, const publish *p) {
    if (p->node < 0 || !any_torn(in)) {
        return false;
    }
    return torn(in, (uint32_t)p->node) || in_outbox(in, o, (uint32_t)p->node, p->id);
}

/* An acknowledged publish not delivered by the end of the run that is not lost either: its
 * event is still in its publisher's outbox, durable, and published again until every
 * subscriber has acked it. Whether it would arrive is not known: the run ended first (a big
 * backlog drains at the pace of the slowest subscriber's acks, and the runner's drain bound
 * is finite). An event neither delivered nor held is lost. */
static bool still_on_its_way(const tr_check_input *in, outboxes *o, const publish *p) {
    return p->node >= 0 && in_outbox(in, o, (uint32_t)p->node, p->id);
}

/* Outbox records left in the publishers' stores at the end (events still to deliver). */
static uint32_t outbox_left(const tr_check_input *in) {
    uint32_t left = 0;
    for (uint32_t k = 0; k < in->node_count; k++) {
        for (uint32_t slot = 0; slot < TR_OUTBOX_MAX; slot++) {
            char key[32], buf[4];
            size_t len;
            size_t n = tr__fmt_u64(key, sizeof key, "outbox/", "", slot);
            int rc = tr_check_kv_get(in, k, TR__PUBSUB_PUB, key, n, buf, sizeof buf, &len);
            left += rc == 0 || rc == TR_ETOOBIG;
        }
    }
    return left;
}

tr_verdict tr__pubsub_check_delivered_once(const tr_check_input *in, char *why, size_t cap) {
    publish *p = NULL;
    size_t n = 0;
    uint64_t at[TR_SIM_NODES_MAX];
    outboxes *o = calloc(1, sizeof *o);
    if (!o || !in->sim || in->node_count > TR_SIM_NODES_MAX ||
        publishes(in->history, &p, &n) != 0) {
        snprintf(why, cap, "no simulation to read, or out of memory");
        free(p);
        free(o);
        return TR_VERDICT_UNKNOWN;
    }
    tr_verdict v = TR_VERDICT_HELD;
    uint64_t ok = 0, deliveries = 0, lost_torn = 0, on_its_way = 0;
    snprintf(why, cap, "every acknowledged publish reached every subscriber once");
    if (subscribed_at(in, at) != 0) {
        v = TR_VERDICT_UNKNOWN;
        snprintf(why, cap, "probes were dropped: subscription times unknown");
    }
    for (size_t i = 0; i < n && v == TR_VERDICT_HELD; i++) {
        ok += p[i].outcome == TR_HISTORY_OK;
        for (uint32_t k = 0; k < in->node_count && v == TR_VERDICT_HELD; k++) {
            got_record g;
            if (!tr_sim_node_is_up(in->sim, k)) {
                continue; /* down at the end: nothing can reach it */
            }
            if (got(in, k, p[i].id, &g) != 0) {
                v = TR_VERDICT_UNKNOWN;
                snprintf(why, cap, "n%u's store could not be read", k + 1);
            } else if (g.count > 1) {
                v = TR_VERDICT_VIOLATED;
                snprintf(why, cap, "event %lld handed to n%u's subscriber %u times in one window",
                         (long long)p[i].id, k + 1, g.count);
            } else if (g.count == 0 && p[i].outcome == TR_HISTORY_OK && at[k] < p[i].invoked_ns &&
                       undeliverable(in, o, &p[i])) {
                lost_torn++; /* allowed: a torn store took the event or its topic's home */
            } else if (g.count == 0 && p[i].outcome == TR_HISTORY_OK && at[k] < p[i].invoked_ns &&
                       still_on_its_way(in, o, &p[i])) {
                on_its_way++; /* not known: its delivery goes on after the run */
            } else if (g.count == 0 && p[i].outcome == TR_HISTORY_OK && at[k] < p[i].invoked_ns) {
                v = TR_VERDICT_VIOLATED;
                snprintf(why, cap,
                         "event %lld (publish ok) never reached n%u's subscriber and is in no "
                         "outbox: lost (%u events still in outboxes)",
                         (long long)p[i].id, k + 1, outbox_left(in));
            }
            deliveries += g.count;
        }
    }
    tr_check_measure(in, "publishes_ok", (double)ok);
    tr_check_measure(in, "deliveries", (double)deliveries);
    tr_check_measure(in, "undelivered_torn", (double)lost_torn);
    tr_check_measure(in, "undelivered_pending", (double)on_its_way);
    if (v == TR_VERDICT_HELD && on_its_way > 0) {
        v = TR_VERDICT_UNKNOWN;
        snprintf(why, cap,
                 "%llu deliveries of acknowledged publishes not made by the end of the run: "
                 "their events still wait in their publishers' outboxes (%u events there), "
                 "not lost, delivery not finished",
                 (unsigned long long)on_its_way, outbox_left(in));
    } else if (v == TR_VERDICT_HELD && lost_torn > 0) {
        snprintf(why, cap,
                 "every acknowledged publish reached every subscriber once, except %llu "
                 "deliveries held back by a torn store (allowed: its node never comes back; "
                 "the events wait in the outboxes)",
                 (unsigned long long)lost_torn);
    }
    free(p);
    free(o);
    return v;
}

tr_verdict tr__pubsub_check_no_phantom(const tr_check_input *in, char *why, size_t cap) {
    publish *p = NULL;
    size_t n = 0;
    if (!in->sim || publishes(in->history, &p, &n) != 0) {
        snprintf(why, cap, "no simulation to read, or out of memory");
        free(p);
        return TR_VERDICT_UNKNOWN;
    }
    tr_verdict v = TR_VERDICT_HELD;
    uint64_t unread = 0;
    snprintf(why, cap, "every event delivered describes a committed state change");
    for (size_t i = 0; i < n && v == TR_VERDICT_HELD; i++) {
        bool delivered = false;
        for (uint32_t k = 0; k < in->node_count && !delivered; k++) {
            got_record g;
            delivered = got(in, k, p[i].id, &g) == 0 && g.count > 0;
        }
        if (!delivered || p[i].node < 0) {
            continue;
        }
        char key[40], buf[8];
        size_t len;
        size_t kl = tr__fmt_u64(key, sizeof key, "state/", "", (uint64_t)p[i].id);
        if (torn(in, (uint32_t)p[i].node)) {
            unread++; /* its publisher's store was torn: the change cannot be read back */
            continue;
        }
        int rc = tr_check_kv_get(in, (uint32_t)p[i].node, TR__PUBSUB_PUB, key, kl, buf, sizeof buf,
                                 &len);
        if (rc == TR_ENOENT) {
            v = TR_VERDICT_VIOLATED;
            snprintf(why, cap, "event %lld was delivered but n%d never committed its change",
                     (long long)p[i].id, p[i].node + 1);
        } else if (rc != 0) {
            v = TR_VERDICT_UNKNOWN;
            snprintf(why, cap, "n%d's store could not be read", p[i].node + 1);
        }
    }
    tr_check_measure(in, "unchecked_torn", (double)unread);
    if (v == TR_VERDICT_HELD && unread > 0) {
        snprintf(why, cap,
                 "every event delivered describes a committed state change, except %llu whose "
                 "publisher's store was torn (not checked: it cannot be read back)",
                 (unsigned long long)unread);
    }
    free(p);
    return v;
}
