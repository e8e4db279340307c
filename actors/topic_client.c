/* topic_client.c — what a subscriber and a publisher call (troupe.h, "Topics"): subscribe,
 * publish once, and receive an event through a bounded window of the ids seen. */
#include <string.h>

#include "actors/topics.h"

int tr_topic_subscribe(tr_ctx *ctx, const char *topic, const char *subscriber, uint32_t timeout_ms,
                       uint64_t *corr_out) {
    if (!topic || !subscriber || topic[0] == '\0' || strlen(topic) > TR_TOPIC_NAME_MAX ||
        strlen(subscriber) > TR_NAME_MAX || !strchr(subscriber, '@')) {
        return TR_EINVAL;
    }
    uint8_t buf[TR_TOPIC_NAME_MAX + TR_NAME_MAX + 8];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 2);
    tr_mp_write_cstr(&w, topic);
    tr_mp_write_cstr(&w, subscriber);
    return tr_request_name(ctx, TR_TOPICS_NAME, TR_TOPIC_MSG_SUBSCRIBE, buf, w.len, timeout_ms,
                           corr_out);
}

int tr__topic_publish_to(tr_ctx *ctx, const char *broker, const char *topic, uint64_t id,
                         const void *body, size_t len) {
    if (!topic || topic[0] == '\0' || strlen(topic) > TR_TOPIC_NAME_MAX ||
        len > TR_TOPIC_BODY_MAX || (len && !body)) {
        return TR_EINVAL;
    }
    uint8_t buf[TR_TOPIC_BODY_MAX + TR_TOPIC_NAME_MAX + 32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 3);
    tr_mp_write_cstr(&w, topic);
    tr_mp_write_uint(&w, id);
    tr_mp_write_bin(&w, body, len);
    return tr_send_name(ctx, broker, TR_TOPIC_MSG_PUBLISH, buf, w.len);
}

int tr_topic_publish(tr_ctx *ctx, const char *topic, uint64_t id, const void *body, size_t len) {
    return tr__topic_publish_to(ctx, TR_TOPICS_NAME, topic, id, body, len);
}

static uint64_t topic_hash(const char *topic) {
    uint64_t h = 14695981039346656037ull;
    for (const char *c = topic; *c; c++) {
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    }
    return h;
}

/* Whether (topic, id) is in the window; records it when not. */
static bool seen(tr_topic_inbox *in, uint64_t topic, uint64_t id) {
    for (uint32_t i = 0; i < in->count_; i++) {
        if (in->seen_[i][0] == topic && in->seen_[i][1] == id) {
            return true;
        }
    }
    if (in->bugs & TR_TOPIC_BUG_NO_DEDUP) {
        return false;
    }
    in->seen_[in->next_][0] = topic;
    in->seen_[in->next_][1] = id;
    in->next_ = (in->next_ + 1) % TR_TOPIC_WINDOW;
    if (in->count_ < TR_TOPIC_WINDOW) {
        in->count_++;
    }
    return false;
}

int tr_topic_ack(tr_ctx *ctx, const tr_msg *msg) {
    tr_mp_reader r;
    uint32_t n, body_len;
    uint64_t id, slot;
    const uint8_t *body;
    char topic[TR_TOPIC_NAME_MAX + 1];
    if (!ctx || !msg || msg->type != TR_TOPIC_MSG_EVENT) {
        return TR_EINVAL;
    }
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 4 || tr_mp_read_str_copy(&r, topic, sizeof topic) ||
        tr_mp_read_uint(&r, &id) != 0 || tr_mp_read_bin(&r, &body, &body_len) != 0 ||
        tr_mp_read_uint(&r, &slot) != 0) {
        return TR_EPROTO;
    }
    uint8_t buf[TR_TOPIC_NAME_MAX + 32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 3);
    tr_mp_write_cstr(&w, topic);
    tr_mp_write_uint(&w, id);
    tr_mp_write_uint(&w, slot);
    int rc = tr_reply_durable(ctx, msg, TR_TOPIC_MSG_ACK, buf, w.len);
    return rc == TR_ENOTSUP ? tr_reply(ctx, msg, TR_TOPIC_MSG_ACK, buf, w.len) : rc;
}

int tr_topic_receive(tr_topic_inbox *in, tr_ctx *ctx, const tr_msg *msg, tr_topic_event *ev) {
    if (!in || !msg || msg->type != TR_TOPIC_MSG_EVENT) {
        return 0;
    }
    tr_mp_reader r;
    uint32_t n;
    uint64_t slot;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 4 ||
        tr_mp_read_str_copy(&r, ev->topic, sizeof ev->topic) != 0 ||
        tr_mp_read_uint(&r, &ev->id) != 0 || tr_mp_read_bin(&r, &ev->body, &ev->body_len) != 0 ||
        tr_mp_read_uint(&r, &slot) != 0 || tr_mp_reader_done(&r) != 0) {
        return TR_EPROTO;
    }
    if (seen(in, topic_hash(ev->topic), ev->id)) {
        in->duplicates++;
        (void)tr_topic_ack(ctx, msg);
        return TR_TOPIC_DUPLICATE;
    }
    return TR_TOPIC_NEW;
}
