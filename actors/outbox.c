/* outbox.c — the durable outbox (troupe.h, "Topics"): an event is written under
 * "outbox/<slot>" with the state change it describes, published once that commit is durable,
 * resent until its home answers PUBLISHED, then deleted; records left by a crash are
 * published again by tr_outbox_init. */
#include <stdio.h>
#include <string.h>

#include "actors/fmt.h"
#include "actors/topics.h"

enum {
    REC_FREE = 0,
    REC_WRITTEN = 1,
    REC_COMMITTED = 2
};

static size_t slot_key(uint32_t slot, char *key, size_t cap) {
    return tr__fmt_u64(key, cap, "outbox/", "", slot);
}

static void publish(tr_outbox *ob, tr_ctx *ctx, const tr_outbox_record_ *rec) {
    (void)tr__topic_publish_to(ctx, ob->broker_, rec->topic, rec->id, rec->body, rec->body_len);
}

/* Reads the record of slot from the store: 0, TR_ENOENT, or TR_ECORRUPT. */
static int load_record(tr_ctx *ctx, uint32_t slot, tr_outbox_record_ *rec) {
    uint8_t buf[TR_TOPIC_BODY_MAX + TR_TOPIC_NAME_MAX + 32];
    char key[32];
    size_t len;
    int rc = tr_kv_get(ctx, key, slot_key(slot, key, sizeof key), buf, sizeof buf, &len);
    if (rc != 0) {
        return rc == TR_ETOOBIG ? TR_ECORRUPT : rc;
    }
    tr_mp_reader r;
    uint32_t n, body_len;
    const uint8_t *body;
    tr_mp_reader_init(&r, buf, len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 3 ||
        tr_mp_read_str_copy(&r, rec->topic, sizeof rec->topic) != 0 ||
        tr_mp_read_uint(&r, &rec->id) != 0 || tr_mp_read_bin(&r, &body, &body_len) != 0 ||
        body_len > TR_TOPIC_BODY_MAX || tr_mp_reader_done(&r) != 0) {
        return TR_ECORRUPT;
    }
    memcpy(rec->body, body, body_len);
    rec->body_len = (uint16_t)body_len;
    rec->state = REC_COMMITTED;
    return 0;
}

int tr_outbox_init(tr_outbox *ob, tr_ctx *ctx, const tr_outbox_config *cfg) {
    const char *broker = cfg && cfg->broker ? cfg->broker : TR_TOPICS_NAME;
    if (!ob || !ctx || strlen(broker) > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    memset(ob, 0, sizeof *ob);
    if (cfg) {
        ob->cfg_ = *cfg;
    }
    ob->cfg_.broker = NULL;
    ob->cfg_.retry_ms = ob->cfg_.retry_ms ? ob->cfg_.retry_ms : 500;
    memcpy(ob->broker_, broker, strlen(broker) + 1);
    for (uint32_t slot = 0; slot < TR_OUTBOX_MAX; slot++) {
        int rc = load_record(ctx, slot, &ob->rec_[slot]);
        if (rc == TR_ENOENT) {
            continue;
        }
        if (rc != 0) {
            return rc;
        }
        publish(ob, ctx, &ob->rec_[slot]);
    }
    return tr_timer_start(ctx, ob->cfg_.retry_ms, ob->cfg_.retry_ms, TR_TOPIC_MSG_OUTBOX_TICK,
                          &ob->timer_);
}

static tr_outbox_record_ *find(tr_outbox *ob, const char *topic, uint64_t id) {
    for (uint32_t i = 0; i < TR_OUTBOX_MAX; i++) {
        tr_outbox_record_ *rec = &ob->rec_[i];
        if (rec->state != REC_FREE && rec->id == id && strcmp(rec->topic, topic) == 0) {
            return rec;
        }
    }
    return NULL;
}

int tr_outbox_put(tr_outbox *ob, tr_ctx *ctx, const char *topic, uint64_t id, const void *body,
                  size_t len) {
    if (!ob || !topic || topic[0] == '\0' || strlen(topic) > TR_TOPIC_NAME_MAX ||
        len > TR_TOPIC_BODY_MAX || (len && !body)) {
        return TR_EINVAL;
    }
    if (find(ob, topic, id)) {
        return TR_EEXIST;
    }
    uint32_t slot = 0;
    while (slot < TR_OUTBOX_MAX && ob->rec_[slot].state != REC_FREE) {
        slot++;
    }
    if (slot == TR_OUTBOX_MAX) {
        return TR_EFULL;
    }
    tr_outbox_record_ *rec = &ob->rec_[slot];
    memcpy(rec->topic, topic, strlen(topic) + 1);
    rec->id = id;
    rec->refused = 0;
    rec->body_len = (uint16_t)len;
    if (len) {
        memcpy(rec->body, body, len);
    }
    if (!(ob->cfg_.bugs & TR_OUTBOX_BUG_VOLATILE)) {
        uint8_t buf[TR_TOPIC_BODY_MAX + TR_TOPIC_NAME_MAX + 32];
        char key[32];
        tr_mp_writer w;
        tr_mp_writer_init(&w, buf, sizeof buf);
        tr_mp_write_array(&w, 3);
        tr_mp_write_cstr(&w, topic);
        tr_mp_write_uint(&w, id);
        tr_mp_write_bin(&w, body, len);
        int rc = tr_kv_put(ctx, key, slot_key(slot, key, sizeof key), buf, w.len);
        if (rc != 0) {
            return rc;
        }
    }
    int rc = tr_durable_notify(ctx, &rec->token);
    if (rc != 0) {
        return rc;
    }
    rec->state = REC_WRITTEN;
    if (ob->cfg_.bugs & TR_OUTBOX_BUG_PUBLISH_EARLY) {
        publish(ob, ctx, rec);
    }
    return 0;
}

/* TR_MSG_DURABLE for token: its records are committed (publish them) or, when the commit
 * failed, gone with the state change they described. */
static int on_durable(tr_outbox *ob, tr_ctx *ctx, const tr_msg *msg) {
    int64_t status = 0;
    tr_mp_reader r;
    bool mine = false;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    (void)tr_mp_read_int(&r, &status);
    for (uint32_t i = 0; i < TR_OUTBOX_MAX; i++) {
        tr_outbox_record_ *rec = &ob->rec_[i];
        if (rec->state != REC_WRITTEN || rec->token != msg->corr) {
            continue;
        }
        mine = true;
        if (status != 0) {
            rec->state = REC_FREE;
            continue;
        }
        rec->state = REC_COMMITTED;
        if (!(ob->cfg_.bugs & TR_OUTBOX_BUG_PUBLISH_EARLY)) {
            publish(ob, ctx, rec);
        }
    }
    return mine;
}

/* A PUBLISHED means the home has room again: publish the next record it refused (after slot
 * `after`, round the ring) now rather than at the retry tick, so that a backlog drains at the
 * pace of the acks, not of the timer. */
static void refill(tr_outbox *ob, tr_ctx *ctx, uint32_t after) {
    for (uint32_t k = 1; k <= TR_OUTBOX_MAX; k++) {
        tr_outbox_record_ *rec = &ob->rec_[(after + k) % TR_OUTBOX_MAX];
        if (rec->state == REC_COMMITTED && rec->refused) {
            rec->refused = 0;
            publish(ob, ctx, rec);
            return;
        }
    }
}

static void on_published(tr_outbox *ob, tr_ctx *ctx, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n;
    uint64_t id;
    char topic[TR_TOPIC_NAME_MAX + 1];
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 2 ||
        tr_mp_read_str_copy(&r, topic, sizeof topic) != 0 || tr_mp_read_uint(&r, &id) != 0) {
        return;
    }
    tr_outbox_record_ *rec = find(ob, topic, id);
    if (!rec || rec->state != REC_COMMITTED) {
        return; /* answered already, or not durable yet: wait for the commit */
    }
    if (msg->type == TR_TOPIC_MSG_REFUSED) {
        ob->refused++;
        rec->refused = 1;
        return; /* the retry timer publishes it again, or the next PUBLISHED (below) */
    }
    char key[32];
    if (tr_kv_del(ctx, key, slot_key((uint32_t)(rec - ob->rec_), key, sizeof key)) == 0 ||
        (ob->cfg_.bugs & TR_OUTBOX_BUG_VOLATILE)) {
        rec->state = REC_FREE;
        ob->published++;
    }
    refill(ob, ctx, (uint32_t)(rec - ob->rec_));
}

int tr_outbox_receive(tr_outbox *ob, tr_ctx *ctx, const tr_msg *msg) {
    if (!ob || !msg) {
        return 0;
    }
    switch (msg->type) {
    case TR_MSG_DURABLE: return on_durable(ob, ctx, msg);
    case TR_TOPIC_MSG_PUBLISHED:
    case TR_TOPIC_MSG_REFUSED: on_published(ob, ctx, msg); return 1;
    case TR_TOPIC_MSG_OUTBOX_TICK:
        if (msg->corr != ob->timer_) {
            return 0;
        }
        for (uint32_t i = 0; i < TR_OUTBOX_MAX; i++) {
            if (ob->rec_[i].state == REC_COMMITTED) {
                ob->rec_[i].refused = 0;
                publish(ob, ctx, &ob->rec_[i]);
            }
        }
        return 1;
    default: return 0;
    }
}

uint32_t tr_outbox_pending(const tr_outbox *ob) {
    uint32_t n = 0;
    for (uint32_t i = 0; ob && i < TR_OUTBOX_MAX; i++) {
        n += ob->rec_[i].state != REC_FREE;
    }
    return n;
}
