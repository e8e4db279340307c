/* catalog.c — the "catalog" actor (see catalog.h). */
#include "actors/catalog.h"

#include <stdio.h>
#include <string.h>

typedef struct catalog_state {
    tr_service_place place; /* first: tr_service_place_init keeps the spawn argument here */
    /* The token of the durability notice asked for after the latest write; 0 once every write
     * is known durable (then a read needs no wait for the store). */
    uint64_t pending_token;
    uint64_t gets, puts, applies; /* handled since the actor started (TR_CATALOG_STATS) */
    tr_catalog_product product;
    uint8_t record[TR_CATALOG_RECORD_MAX];
} catalog_state;

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

/* Sends the record to the catalog actor of every node but the writer (n2..nN). */
static void spread(tr_ctx *ctx, catalog_state *s, size_t len) {
    for (uint32_t k = 2; k <= s->place.node_count; k++) {
        char name[TR_NAME_MAX + 1];
        snprintf(name, sizeof name, "catalog@n%u", k);
        (void)tr_send_name(ctx, name, TR_CATALOG_APPLY, s->record, len);
    }
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
    s->product.version = stored_version(ctx, s, s->product.id) + 1;
    uint8_t key[9];
    size_t len = tr__catalog_record_encode(&s->product, s->record, sizeof s->record);
    if (len == 0 || tr_kv_put(ctx, key, product_key(s->product.id, key), s->record, len) != 0 ||
        tr_reply_durable(ctx, msg, TR_CATALOG_REPLY, s->record, len) != 0) {
        reply_error(ctx, msg, "store failed");
        return;
    }
    written(ctx, s);
    spread(ctx, s, len);
}

static void catalog_apply(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    if (tr__catalog_record_decode(msg->body, msg->body_len, true, &s->product) != 0 ||
        s->product.version <= stored_version(ctx, s, s->product.id)) {
        return; /* malformed, or not newer than what this replica holds */
    }
    uint8_t key[9];
    if (tr_kv_put(ctx, key, product_key(s->product.id, key), msg->body, msg->body_len) == 0) {
        written(ctx, s);
    }
}

static void catalog_stats(tr_ctx *ctx, catalog_state *s, const tr_msg *msg) {
    uint8_t buf[32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 3);
    tr_mp_write_uint(&w, s->gets);
    tr_mp_write_uint(&w, s->puts);
    tr_mp_write_uint(&w, s->applies);
    (void)tr_reply(ctx, msg, TR_CATALOG_REPLY, buf, w.len);
}

static int catalog_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    catalog_state *s = state;
    switch (msg->type) {
    case TR_CATALOG_GET: s->gets++, catalog_get(ctx, s, msg); break;
    case TR_CATALOG_PUT: s->puts++, catalog_put(ctx, s, msg); break;
    case TR_CATALOG_APPLY: s->applies++, catalog_apply(ctx, s, msg); break;
    case TR_CATALOG_STATS: catalog_stats(ctx, s, msg); break;
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
                                            .init = tr_service_place_init,
                                            .receive = catalog_receive};
