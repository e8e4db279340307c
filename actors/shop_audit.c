/* shop_audit.c — the shop's event audit ("shop-audit" on every node): it subscribes to the
 * shop's topics and records every event it receives once, durably, in its store
 * (shop_internal.h: "a" + slot -> record, "n" -> count, "s" + topic + order -> seen), so that
 * the simulator's checks can compare what was published with what the journals committed.
 * Its subscriber name is "shop-audit@n<index + 1>": the nodes are named n1..nN. */
#include <stdio.h>
#include <string.h>

#include "actors/shop_internal.h"

#define SUBSCRIBE_MS 500
#define VERIFY_SLOTS 32
#define VERIFY_MS 1000
#define VERIFY_DELAY_MS 0
#define TICK_MS 100

typedef struct verify {
    uint64_t corr, due_ms;
    uint32_t slot, topic;
    uint8_t rec[TR__AUDIT_RECORD_SIZE];
} verify;

typedef struct audit {
    tr_service_place place;
    tr_topic_inbox inbox;
    uint64_t count;
    uint64_t subscribe_corr[TR__TOPIC_COUNT];
    bool subscribed[TR__TOPIC_COUNT];
    verify verifying[VERIFY_SLOTS];
    uint64_t ticks;
} audit;

static void subscribe(tr_ctx *ctx, audit *a) {
    char me[TR_NAME_MAX + 1];
    snprintf(me, sizeof me, "%s@n%u", TR__SHOP_AUDIT_NAME, a->place.node_index + 1);
    for (int t = 0; t < TR__TOPIC_COUNT; t++) {
        if (!a->subscribed[t]) {
            (void)tr_topic_subscribe(ctx, tr__shop_topics[t], me, SUBSCRIBE_MS,
                                     &a->subscribe_corr[t]);
        }
    }
}

static int audit_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    audit *a = state;
    uint8_t val[8];
    size_t n = 0;
    if (len != sizeof a->place) {
        return TR_EINVAL;
    }
    memcpy(&a->place, arg, sizeof a->place);
    if (tr_kv_get(ctx, "n", 1, val, sizeof val, &n) == 0 && n == 8) {
        a->count = tr_load_be64(val);
    }
    subscribe(ctx, a);
    uint64_t timer;
    return tr_timer_start(ctx, TICK_MS, TICK_MS, TR__SHOP_TICK, &timer);
}

static void check_due(tr_ctx *ctx, audit *a);

/* Schedules a read of the order of the record in `slot`, VERIFY_DELAY_MS from now (at once:
 * a subscriber reacting to the event reads the order it names). */
static void check_order(tr_ctx *ctx, audit *a, uint32_t slot, const uint8_t *rec) {
    for (int i = 0; i < VERIFY_SLOTS; i++) {
        verify *v = &a->verifying[i];
        if (v->due_ms == 0 && v->corr == 0) {
            v->due_ms = tr_now_ms(ctx) + VERIFY_DELAY_MS;
            v->slot = slot;
            v->topic = rec[0];
            memcpy(v->rec, rec, sizeof v->rec);
            return;
        }
    }
}

static void check_due(tr_ctx *ctx, audit *a) {
    for (int i = 0; i < VERIFY_SLOTS; i++) {
        verify *v = &a->verifying[i];
        if (v->due_ms != 0 && v->corr == 0 && tr_now_ms(ctx) >= v->due_ms) {
            uint8_t body[12];
            tr_mp_writer w;
            tr_mp_writer_init(&w, body, sizeof body);
            tr_mp_write_array(&w, 1);
            tr_mp_write_uint(&w, tr_load_be64(v->rec + 1));
            v->due_ms = 0;
            if (tr_request_name(ctx, TR_SHOP_ORDER_TYPE_NAME, TR__ORDER_READ, body, w.len,
                                VERIFY_MS, &v->corr) != 0) {
                v->corr = 0;
            }
        }
    }
}

/* Records ev once (by topic and order); 0, or the store's error (the event is not acked). */
static int record(tr_ctx *ctx, audit *a, const tr_topic_event *ev) {
    int topic = 0;
    while (topic < TR__TOPIC_COUNT && strcmp(ev->topic, tr__shop_topics[topic]) != 0) {
        topic++;
    }
    tr_mp_reader r;
    uint32_t n;
    uint64_t f[4];
    tr_mp_reader_init(&r, ev->body, ev->body_len);
    if (topic == TR__TOPIC_COUNT || tr_mp_read_array(&r, &n) != 0 || n != 4) {
        return 0; /* not the shop's: acked and dropped */
    }
    for (int i = 0; i < 4; i++) {
        if (tr_mp_read_uint(&r, &f[i]) != 0) {
            return 0;
        }
    }
    uint8_t seen[10], val[8], rec[TR__AUDIT_RECORD_SIZE], key[5];
    size_t len = 0;
    seen[0] = 's';
    seen[1] = (uint8_t)topic;
    tr_store_be64(seen + 2, f[0]);
    if (tr_kv_get(ctx, seen, sizeof seen, val, sizeof val, &len) == 0 ||
        a->count >= TR__AUDIT_MAX) {
        return 0;
    }
    rec[0] = (uint8_t)topic;
    tr_store_be64(rec + 1, f[0]);
    tr_store_be64(rec + 9, f[1]);
    tr_store_be64(rec + 17, f[2]);
    key[0] = 'a';
    tr_store_be32(key + 1, (uint32_t)a->count);
    tr_store_be64(val, a->count + 1);
    rec[25] = TR__SEEN_UNKNOWN;
    tr_store_be64(rec + 26, f[3]);
    int rc = tr_kv_put(ctx, key, sizeof key, rec, sizeof rec);
    rc = rc != 0 ? rc : tr_kv_put(ctx, seen, sizeof seen, "", 0);
    rc = rc != 0 ? rc : tr_kv_put(ctx, "n", 1, val, 8);
    if (rc == 0 && (topic == TR__TOPIC_CONFIRMED || topic == TR__TOPIC_CANCELLED)) {
        check_order(ctx, a, (uint32_t)a->count, rec);
        check_due(ctx, a);
    }
    a->count += rc == 0;
    return rc;
}

/* The order's answer to the read check_order sent: the record's seen byte. */
static void checked(tr_ctx *ctx, verify *v, const tr_msg *m) {
    tr_order_view view;
    uint8_t key[5] = {'a'};
    if (m->type == TR_MSG_TIMEOUT || tr__order_view_decode(m->body, m->body_len, &view) != 0) {
        return; /* no answer: unknown */
    }
    /* order.confirmed holds too when the customer has since cancelled the order, which only
     * a confirmed order can be */
    bool holds = v->topic == TR__TOPIC_CONFIRMED ? view.state == TR_SHOP_CONFIRMED + 1 ||
                                                       (view.state == TR_SHOP_CANCELLED + 1 &&
                                                        view.reason == TR__REASON_CUSTOMER)
                                                 : view.state == TR_SHOP_CANCELLED + 1;
    v->rec[25] = holds ? TR__SEEN_HELD : TR__SEEN_PREMATURE;
    tr_store_be32(key + 1, v->slot);
    (void)tr_kv_put(ctx, key, sizeof key, v->rec, sizeof v->rec);
}

static int audit_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    audit *a = state;
    tr_topic_event ev;
    int k = tr_topic_receive(&a->inbox, ctx, m, &ev);
    if (k == TR_TOPIC_NEW) {
        if (record(ctx, a, &ev) == 0) {
            (void)tr_topic_ack(ctx, m);
        }
    } else if (k == 0 && m->type == TR__SHOP_TICK) {
        if (++a->ticks % (SUBSCRIBE_MS / TICK_MS) == 0) {
            subscribe(ctx, a);
        }
        check_due(ctx, a);
    } else if (k == 0 && m->type == TR_TOPIC_MSG_SUBSCRIBED) {
        for (int t = 0; t < TR__TOPIC_COUNT; t++) {
            a->subscribed[t] |= m->corr == a->subscribe_corr[t];
        }
    } else if (k == 0 && m->corr != 0 && (tr_msg_is_reply(m) || m->type == TR_MSG_TIMEOUT)) {
        for (int i = 0; i < VERIFY_SLOTS; i++) {
            if (a->verifying[i].corr == m->corr) {
                checked(ctx, &a->verifying[i], m);
                a->verifying[i].corr = 0;
            }
        }
    } else if (k == 0 && m->type == TR__SHOP_AUDIT_STATS && !tr_addr_is_none(m->from)) {
        tr_reply_int(ctx, m, (int64_t)a->count, false);
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__audit_behaviour = {.name = TR__SHOP_AUDIT_NAME,
                                          .state_size = sizeof(audit),
                                          .init = audit_init,
                                          .receive = audit_receive};
