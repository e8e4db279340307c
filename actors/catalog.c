/* catalog.c — the "catalog" actor (see catalog.h). */
#include "actors/catalog.h"

#include <stdio.h>
#include <string.h>

typedef struct catalog_state {
    tr_service_place place; /* first: tr_service_place_init keeps the spawn argument here */
    /* The token of the durability notice asked for after the latest write; 0 once every write
     * is known durable (then a read needs no wait for the store). */
    uint64_t pending_token;
    /* handled since the actor started (TR_CATALOG_STATS): requests, records applied, events
     * received (new ones), and the lag of those events (ms, commit to apply) */
    uint64_t gets, puts, applies, events, lag_max_ms, lag_total_ms;
    uint64_t sub_corr;  /* the SUBSCRIBE request in flight (replicas) */
    bool subscribed;    /* its home answered SUBSCRIBED since this actor started */
    uint64_t sync_corr; /* the SYNC request in flight (replicas), 0: none */
    uint64_t sync_next; /* the writer's index position it asks from */
    bool synced;        /* every product the writer listed is stored here (or newer) */
    tr_catalog_product product;
    uint8_t record[TR_CATALOG_RECORD_MAX];
    uint8_t event[TR_TOPIC_BODY_MAX];
    uint8_t sync[TR_CATALOG_SYNC_BATCH * TR_CATALOG_RECORD_MAX + 32]; /* a SYNC answer */
    tr_topic_inbox inbox; /* replicas: the events seen lately */
    tr_outbox outbox;     /* the writer: catalog.updated events not yet delivered */
} catalog_state;

_Static_assert(TR_CATALOG_RECORD_MAX + 1 + 9 <= TR_TOPIC_BODY_MAX,
               "an event [record, committed_at_ms] fits a topic's body");

/* The store key of the writer's event counter: an event's id, unique across its restarts. */
#define SEQ_KEY "seq"
/* The writer's index of product ids: "ni" -> count, "i" + position (8 bytes) -> id. */
#define INDEX_COUNT_KEY "ni"

size_t tr__catalog_record_encode(const tr_catalog_product *p, uint8_t *buf, size_t cap) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_array(&w, 5);
    tr_mp_write_int(&w, p->id);
    tr_mp_write_int(&w, p->version);
    tr_mp_write_cstr(&w, p->name);
    tr_mp_write_int(&w, p->price_cents);
    tr_mp_write_cstr(&w, p->description);
    return w.err ? 0 : w.len;
}

int tr__catalog_record_decode(const void *bytes, size_t len, bool with_version,
                              tr_catalog_product *p) {
    tr_mp_reader r;
    uint32_t n;
    memset(p, 0, sizeof *p);
    tr_mp_reader_init(&r, bytes, len);
    if (tr_mp_read_array(&r, &n) || n != (with_version ? 5u : 4u) || tr_mp_read_int(&r, &p->id) ||
        (with_version && tr_mp_read_int(&r, &p->version)) ||
        tr_mp_read_str_copy(&r, p->name, sizeof p->name) || tr_mp_read_int(&r, &p->price_cents) ||
        tr_mp_read_str_copy(&r, p->description, sizeof p->description) || tr_mp_reader_done(&r)) {
        return TR_EPROTO;
    }
    bool ok = p->id >= 1 && p->id <= TR_CATALOG_ID_MAX && p->name[0] != 0 && p->price_cents >= 0 &&
              p->price_cents <= TR_CATALOG_PRICE_MAX &&
              (with_version ? p->version >= 1 : p->version == 0);
    return ok ? 0 : TR_EPROTO;
}

static void reply_error(tr_ctx *ctx, const tr_msg *req, const char *why) {
    uint8_t buf[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "error");
    tr_mp_write_cstr(&w, why);
    (void)tr_reply(ctx, req, TR_CATALOG_REPLY, buf, w.len);
}

/* The store key of product id: "p" and the id in 8 big-endian bytes. */
static size_t product_key(int64_t id, uint8_t key[9]) {
    key[0] = 'p';
    tr_store_be64(key + 1, (uint64_t)id);
    return 9;
}

/* The version stored for id (0 when absent); a record that does not decode counts as absent. */
static int64_t stored_version(tr_ctx *ctx, catalog_state *s, int64_t id) {
    uint8_t key[9];
    size_t len = 0;
    tr_catalog_product old;
    if (tr_kv_get(ctx, key, product_key(id, key), s->record, sizeof s->record, &len) != 0 ||
        tr__catalog_record_decode(s->record, len, true, &old) != 0) {
        return 0;
    }
    return old.version;
}

/* Records that a write was issued: reads wait for durability until its notice arrives. */
static void written(tr_ctx *ctx, catalog_state *s) {
    if (tr_durable_notify(ctx, &s->pending_token) != 0) {
        s->pending_token = UINT64_MAX; /* no notice will come: every later read waits */
    }
}

static void catalog_durable(catalog_state *s, const tr_msg *msg) {
    int64_t status = -1;
    tr_mp_reader r;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (msg->corr == s->pending_token && tr_mp_read_int(&r, &status) == 0 && status == 0) {
        s->pending_token = 0;
    }
}

/* The request's own body, after its deadline (docs/resilience.md): false when it was answered
 * here already (no time left: "deadline exceeded"; a malformed wrapper: "bad request"). */
static bool request_body(tr_ctx *ctx, const tr_msg *msg, tr_deadline *d) {
    int rc = tr_deadline_read(ctx, msg, d);
    if (rc != 0) {
        reply_error(ctx, msg, rc == TR_ETIMEDOUT ? "deadline exceeded" : "bad request");
        return false;
    }
    return true;
}

static void catalog_get(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    int64_t id;
    uint8_t key[9];
    size_t len = 0;
    tr_deadline d;
    tr_mp_reader r;
    uint32_t n;
    if (!request_body(ctx, msg, &d)) {
        return;
    }
    tr_mp_reader_init(&r, d.body, d.body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 1 || tr_mp_read_int(&r, &id) != 0 ||
        tr_mp_reader_done(&r) != 0 || id < 1 || id > TR_CATALOG_ID_MAX) {
        reply_error(ctx, msg, "bad request");
        return;
    }
    int rc = tr_kv_get(ctx, key, product_key(id, key), s->record, sizeof s->record, &len);
    if (rc == TR_ENOENT) {
        s->record[0] = 0xc0; /* nil: no such product */
        len = 1;
    } else if (rc != 0) {
        reply_error(ctx, msg, "store failed");
        return;
    }
    /* A crash must not take back a version a reader has seen: while a write may not be
     * durable yet the reply waits for it; otherwise it goes at once. */
    if (s->pending_token != 0) {
        (void)tr_reply_durable(ctx, msg, TR_CATALOG_REPLY, s->record, len);
    } else {
        (void)tr_reply(ctx, msg, TR_CATALOG_REPLY, s->record, len);
    }
}

/* The writer's next event id, from its durable counter (written with the change it numbers). */
static int next_seq(tr_ctx *ctx, uint64_t *seq) {
    uint8_t buf[8];
    size_t len = 0;
    int rc = tr_kv_get(ctx, SEQ_KEY, strlen(SEQ_KEY), buf, sizeof buf, &len);
    if (rc != 0 && rc != TR_ENOENT) {
        return rc;
    }
    *seq = (rc == 0 && len == 8 ? tr_load_be64(buf) : 0) + 1;
    tr_store_be64(buf, *seq);
    return tr_kv_put(ctx, SEQ_KEY, strlen(SEQ_KEY), buf, sizeof buf);
}

/* The event [record, committed_at_ms] of the record in s->record[0..len) into s->event: its
 * length, or 0. */
static size_t event_encode(tr_ctx *ctx, catalog_state *s, size_t len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->event, sizeof s->event);
    tr_mp_write_array(&w, 2);
    tr_mp_write_raw(&w, s->record, len);
    tr_mp_write_uint(&w, tr_now_ms(ctx));
    return w.err ? 0 : w.len;
}

/* The length of the writer's index (0 when absent). */
static uint64_t index_count(tr_ctx *ctx) {
    uint8_t buf[8];
    size_t len = 0;
    return tr_kv_get(ctx, INDEX_COUNT_KEY, 2, buf, sizeof buf, &len) == 0 && len == 8
               ? tr_load_be64(buf)
               : 0;
}

static void index_key(uint64_t pos, uint8_t key[9]) {
    key[0] = 'i';
    tr_store_be64(key + 1, pos);
}

/* Appends id to the writer's index (a new product). */
static int index_add(tr_ctx *ctx, int64_t id) {
    uint8_t key[9], val[8];
    uint64_t n = index_count(ctx);
    index_key(n, key);
    tr_store_be64(val, (uint64_t)id);
    int rc = tr_kv_put(ctx, key, sizeof key, val, sizeof val);
    tr_store_be64(val, n + 1);
    return rc != 0 ? rc : tr_kv_put(ctx, INDEX_COUNT_KEY, 2, val, sizeof val);
}

/* The writer's write: the record, the event counter and the catalog.updated event in one
 * callback (one commit: docs/pubsub.md), answered once durable. NULL, or why it failed. */
static const char *write_product(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    uint8_t key[9];
    uint64_t seq;
    if (tr_outbox_pending(&s->outbox) >= TR_OUTBOX_MAX) {
        return "busy"; /* replicas behind: back-pressure reaches the client (503) */
    }
    s->product.version = stored_version(ctx, s, s->product.id) + 1;
    if (s->product.version == 1 && index_add(ctx, s->product.id) != 0) {
        return "store failed";
    }
    size_t len = tr__catalog_record_encode(&s->product, s->record, sizeof s->record);
    size_t event_len = len ? event_encode(ctx, s, len) : 0;
    if (event_len == 0) {
        return "bad request"; /* within the limits a record always fits an event */
    }
    if (tr_kv_put(ctx, key, product_key(s->product.id, key), s->record, len) != 0 ||
        next_seq(ctx, &seq) != 0 ||
        tr_outbox_put(&s->outbox, ctx, TR_CATALOG_TOPIC, seq, s->event, event_len) != 0 ||
        tr_reply_durable(ctx, msg, TR_CATALOG_REPLY, s->record, len) != 0) {
        return "store failed";
    }
    written(ctx, s);
    return NULL;
}

static void catalog_put(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    tr_deadline d;
    if (!request_body(ctx, msg, &d)) {
        return;
    }
    if (tr__catalog_record_decode(d.body, d.body_len, false, &s->product) != 0) {
        reply_error(ctx, msg, "bad request");
        return;
    }
    if (s->place.node_index != 0) {
        if (tr_forward(ctx, msg, "catalog@n1") != 0) {
            reply_error(ctx, msg, "writer unreachable");
        }
        return;
    }
    const char *why = write_product(ctx, s, msg);
    if (why) {
        reply_error(ctx, msg, why);
    }
}

/* Stores the record bytes[0..len) when it is newer than this replica's copy (a duplicate or a
 * late copy changes nothing). True when it was stored. */
static bool apply_record(tr_ctx *ctx, catalog_state *s, const uint8_t *bytes, size_t len) {
    uint8_t key[9];
    if (tr__catalog_record_decode(bytes, len, true, &s->product) != 0 ||
        s->product.version <= stored_version(ctx, s, s->product.id)) {
        return false; /* malformed, or not newer than what this replica holds */
    }
    if (tr_kv_put(ctx, key, product_key(s->product.id, key), bytes, len) != 0) {
        return false;
    }
    written(ctx, s);
    s->applies++;
    return true;
}

static void catalog_apply(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    (void)apply_record(ctx, s, msg->body, msg->body_len);
}

/* A catalog.updated event [record, committed_at_ms]: applied by version, then acked (once
 * durable). The lag is this node's clock at the apply minus the writer's at the commit. */
static void catalog_event(tr_ctx *ctx, catalog_state *s, const tr_msg *msg,
                          const tr_topic_event *ev) {
    tr_mp_reader r;
    uint32_t n;
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    uint64_t at_ms = 0;
    tr_mp_reader_init(&r, ev->body, ev->body_len);
    if (strcmp(ev->topic, TR_CATALOG_TOPIC) != 0 || tr_mp_read_array(&r, &n) != 0 || n != 2 ||
        (rec = r.p, tr_mp_skip(&r) != 0) || (rec_len = (size_t)(r.p - rec), false) ||
        tr_mp_read_uint(&r, &at_ms) != 0 || tr_mp_reader_done(&r) != 0) {
        (void)tr_topic_ack(ctx, msg); /* not ours, or malformed: resending it cannot help */
        return;
    }
    s->events++;
    if (apply_record(ctx, s, rec, rec_len)) {
        uint64_t now = tr_now_ms(ctx), lag = now > at_ms ? now - at_ms : 0;
        s->lag_total_ms += lag;
        s->lag_max_ms = lag > s->lag_max_ms ? lag : s->lag_max_ms;
    }
    (void)tr_topic_ack(ctx, msg);
}

static void catalog_stats(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    uint8_t buf[80];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 7);
    tr_mp_write_uint(&w, s->gets);
    tr_mp_write_uint(&w, s->puts);
    tr_mp_write_uint(&w, s->applies);
    tr_mp_write_uint(&w, s->events);
    tr_mp_write_uint(&w, s->lag_max_ms);
    tr_mp_write_uint(&w, s->lag_total_ms);
    tr_mp_write_uint(&w, s->subscribed);
    (void)tr_reply(ctx, msg, TR_CATALOG_REPLY, buf, w.len);
}

/* The writer's answer to SYNC [from]: [next, count, [record, ...]]. */
static void catalog_sync_answer(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    int64_t from;
    if (s->place.node_index != 0 || tr_msg_read_ints(msg, &from, 1) != 1 || from < 0) {
        reply_error(ctx, msg, "bad request");
        return;
    }
    uint64_t count = index_count(ctx), pos = (uint64_t)from, n = 0;
    uint64_t end = pos + TR_CATALOG_SYNC_BATCH < count ? pos + TR_CATALOG_SYNC_BATCH : count;
    tr_mp_writer w;
    tr_mp_writer_init(&w, s->sync, sizeof s->sync);
    tr_mp_write_array(&w, 3);
    tr_mp_write_uint(&w, end > pos ? end : pos);
    tr_mp_write_uint(&w, count);
    tr_mp_write_array(&w, (uint32_t)(end > pos ? end - pos : 0));
    for (; pos < end; pos++, n++) {
        uint8_t key[9], val[8], pkey[9];
        size_t len = 0;
        index_key(pos, key);
        if (tr_kv_get(ctx, key, sizeof key, val, sizeof val, &len) != 0 || len != 8 ||
            tr_kv_get(ctx, pkey, product_key((int64_t)tr_load_be64(val), pkey), s->record,
                      sizeof s->record, &len) != 0) {
            reply_error(ctx, msg, "store failed");
            return;
        }
        tr_mp_write_raw(&w, s->record, len);
    }
    if (w.err == 0) {
        (void)tr_reply(ctx, msg, TR_CATALOG_REPLY, s->sync, w.len);
    }
}

/* A replica asks the writer for its products from s->sync_next on. */
static void sync_ask(tr_ctx *ctx, catalog_state *s) {
    uint8_t body[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 1);
    tr_mp_write_uint(&w, s->sync_next);
    if (tr_request_name(ctx, "catalog@n1", TR_CATALOG_SYNC, body, w.len, 1000, &s->sync_corr) !=
        0) {
        s->sync_corr = 0; /* refused at once (no memory): the next start asks again */
    }
}

/* The writer's SYNC answer (or its timeout): every newer copy stored, then the next batch;
 * a timeout or an error asks again. */
static void catalog_synced(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, k;
    uint64_t next, count;
    s->sync_corr = 0;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (msg->type == TR_MSG_TIMEOUT || tr_mp_read_array(&r, &n) != 0 || n != 3 ||
        tr_mp_read_uint(&r, &next) != 0 || tr_mp_read_uint(&r, &count) != 0 ||
        tr_mp_read_array(&r, &k) != 0 || next < s->sync_next) {
        sync_ask(ctx, s);
        return;
    }
    for (uint32_t i = 0; i < k; i++) {
        const uint8_t *rec = r.p;
        if (tr_mp_skip(&r) != 0) {
            sync_ask(ctx, s);
            return;
        }
        (void)apply_record(ctx, s, rec, (size_t)(r.p - rec));
    }
    s->sync_next = next;
    if (next < count) {
        sync_ask(ctx, s);
    } else {
        s->synced = true;
    }
}

/* Replicas (every node but the writer's) subscribe as "catalog@nK"; the request is sent again
 * when it times out, until the topic's home answers. */
static void subscribe(tr_ctx *ctx, catalog_state *s) {
    char name[TR_NAME_MAX + 1];
    snprintf(name, sizeof name, "catalog@n%u", s->place.node_index + 1);
    if (tr_topic_subscribe(ctx, TR_CATALOG_TOPIC, name, 1000, &s->sub_corr) != 0) {
        s->sub_corr = 0;
    }
}

static int catalog_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    catalog_state *s = state;
    int rc = tr_service_place_init(ctx, state, arg, len);
    tr_outbox_config cfg = {.retry_ms = 300};
    if (rc == 0) {
        rc = tr_outbox_init(&s->outbox, ctx, &cfg); /* the writer's events a crash left */
    }
    if (rc == 0 && s->place.node_index != 0) {
        subscribe(ctx, s);
    }
    return rc;
}

/* The subscription's answers: true when msg was one. */
static bool subscription_msg(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    if (s->sub_corr == 0 || msg->corr != s->sub_corr) {
        return false;
    }
    if (msg->type == TR_TOPIC_MSG_SUBSCRIBED) {
        s->subscribed = true;
        if (!s->synced && s->sync_corr == 0) {
            sync_ask(ctx, s); /* what was written before the subscription */
        }
    } else if (msg->type == TR_MSG_TIMEOUT || msg->type == TR_TOPIC_MSG_REFUSED) {
        subscribe(ctx, s);
    }
    return true;
}

static int catalog_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    catalog_state *s = state;
    tr_topic_event ev;
    if (tr_outbox_receive(&s->outbox, ctx, msg)) {
        return TR_CONTINUE;
    }
    int rc = tr_topic_receive(&s->inbox, ctx, msg, &ev);
    if (rc == TR_TOPIC_NEW) {
        catalog_event(ctx, s, msg, &ev);
        return TR_CONTINUE;
    }
    if (rc != 0 || subscription_msg(ctx, s, msg)) {
        return TR_CONTINUE; /* a duplicate (acked again), or a malformed event */
    }
    if (s->sync_corr != 0 && msg->corr == s->sync_corr &&
        (tr_msg_is_reply(msg) || msg->type == TR_MSG_TIMEOUT)) {
        catalog_synced(ctx, s, msg);
        return TR_CONTINUE;
    }
    switch (msg->type) {
    case TR_CATALOG_GET: s->gets++, catalog_get(ctx, s, msg); break;
    case TR_CATALOG_PUT: s->puts++, catalog_put(ctx, s, msg); break;
    case TR_CATALOG_APPLY: catalog_apply(ctx, s, msg); break;
    case TR_CATALOG_STATS: catalog_stats(ctx, s, msg); break;
    case TR_CATALOG_SYNC: catalog_sync_answer(ctx, s, msg); break;
    case TR_MSG_DURABLE: catalog_durable(s, msg); break;
    default:
        if (msg->type >= TR_MSG_USER && !tr_addr_is_none(msg->from) && !tr_msg_is_reply(msg)) {
            reply_error(ctx, msg, "bad request");
        }
        break;
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__catalog_behaviour = {.name = "catalog",
                                            .state_size = sizeof(catalog_state),
                                            .init = catalog_init,
                                            .receive = catalog_receive};
