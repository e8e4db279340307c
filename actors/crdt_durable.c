/* crdt_durable.c — the CRDT replicas' durability mark (actors/crdt_durable.h). */
#include "actors/crdt_durable.h"

void tr__durable_mark_init(tr__durable_mark *m, uint64_t durable) {
    *m = (tr__durable_mark){.durable = durable, .asked = durable};
}

bool tr__durable_mark_ask(tr_ctx *ctx, tr__durable_mark *m, uint64_t at) {
    if (m->pending || at == m->durable || tr_durable_notify(ctx, &m->token) != 0) {
        return false;
    }
    m->pending = true;
    m->asked = at;
    return true;
}

bool tr__durable_mark_answer(tr__durable_mark *m, const tr_msg *msg) {
    tr_mp_reader r;
    int64_t status = -1;
    if (!m->pending || msg->corr != m->token) {
        return false;
    }
    m->pending = false;
    tr_mp_reader_init(&r, msg->body, msg->body_len);
    if (tr_mp_read_int(&r, &status) != 0 || status != 0) {
        return false;
    }
    m->durable = m->asked;
    return true;
}
