/* entity_store.c — the fenced store of entity states that every host keeps for every entity
 * (entity_internal.h, invariant 3), and its reader for checks.
 *
 * Keys in the host actor's store (beside Raft's "r..." keys): "e" + id (8 bytes big-endian)
 * -> epoch (8, BE), seq (8, BE), the state's bytes; "f" + shard (1 byte) -> the shard's fence,
 * an epoch (8, BE). sget(id, epoch) raises the fence to epoch and answers what is stored;
 * sput(id, epoch, seq, bytes) stores when (epoch, seq) is newer. Both refuse an epoch below
 * the fence or the stored epoch: once the owner of a new epoch has loaded an entity from a
 * majority (raising their fences), no write of an older epoch can reach a majority. Answers
 * are durable (tr_reply_durable): a fence or a state counts only once it survives a crash.
 * With the planted no-fencing bug the fences are ignored and every sput overwrites. */
#include <string.h>

#include "actors/entity_internal.h"

#define VALUE_MAX (16 + TR_ENTITY_STATE_MAX)

typedef struct stored {
    uint64_t epoch, seq;
    size_t len; /* of the state; the value is 16 bytes longer */
    uint8_t value[VALUE_MAX];
} stored;

static void entity_key(uint8_t key[9], int64_t id) {
    key[0] = 'e';
    tr_store_be64(key + 1, (uint64_t)id);
}

static uint64_t fence_get(tr_ctx *ctx, uint32_t shard) {
    uint8_t key[2] = {'f', (uint8_t)shard}, v[8];
    size_t n = 0;
    return tr_kv_get(ctx, key, sizeof key, v, sizeof v, &n) == 0 && n == 8 ? tr_load_be64(v) : 0;
}

static int fence_put(tr_ctx *ctx, uint32_t shard, uint64_t epoch) {
    uint8_t key[2] = {'f', (uint8_t)shard}, v[8];
    tr_store_be64(v, epoch);
    return tr_kv_put(ctx, key, sizeof key, v, sizeof v);
}

/* What is stored for id: 0 (found), TR_ENOENT, or another error. */
static int entity_get(tr_ctx *ctx, int64_t id, stored *out) {
    uint8_t key[9];
    size_t n = 0;
    entity_key(key, id);
    int rc = tr_kv_get(ctx, key, sizeof key, out->value, sizeof out->value, &n);
    if (rc == 0 && n < 16) {
        rc = TR_ECORRUPT;
    }
    out->epoch = rc == 0 ? tr_load_be64(out->value) : 0;
    out->seq = rc == 0 ? tr_load_be64(out->value + 8) : 0;
    out->len = rc == 0 ? n - 16 : 0;
    return rc;
}

static bool newer(uint64_t e1, uint64_t s1, uint64_t e2, uint64_t s2) {
    return e1 > e2 || (e1 == e2 && s1 > s2);
}

static void ack(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m, uint32_t type, uint64_t token,
                int code, const stored *st) {
    uint8_t buf[64 + TR_ENTITY_STATE_MAX];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, st ? 6 : 3);
    tr_mp_write_uint(&w, token);
    tr_mp_write_uint(&w, s->arg.node_index);
    tr_mp_write_int(&w, code);
    if (st) {
        tr_mp_write_uint(&w, st->epoch);
        tr_mp_write_uint(&w, st->seq);
        code == TR__ENTITY_OK ? tr_mp_write_bin(&w, st->value + 16, st->len) : tr_mp_write_nil(&w);
    }
    if (w.err == 0) {
        (void)tr_reply_durable(ctx, m, s->arg.type->msg_base + type, buf, w.len);
    }
}

/* [token, id, epoch]: raise the fence, answer what is stored. */
void tr__entity_store_sget(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m) {
    int64_t f[3] = {0};
    stored st;
    if (tr_msg_read_ints(m, f, 3) != 3 || f[0] < 0 || f[1] < 0 || f[2] < 1) {
        return; /* not from a host: nothing to answer */
    }
    uint32_t shard = tr__entity_shard(f[1]);
    uint64_t epoch = (uint64_t)f[2], fence = fence_get(ctx, shard);
    int rc = entity_get(ctx, f[1], &st);
    if (rc != 0 && rc != TR_ENOENT) {
        return; /* unreadable: no answer, the owner counts on the others */
    }
    bool fenced = epoch < fence || (rc == 0 && epoch < st.epoch);
    if (fenced && !tr__entity_no_fencing(s)) {
        ack(s, ctx, m, TR__ENTITY_SGET_ACK, (uint64_t)f[0], TR__ENTITY_FENCED, NULL);
        return;
    }
    if (epoch > fence && fence_put(ctx, shard, epoch) != 0) {
        return;
    }
    ack(s, ctx, m, TR__ENTITY_SGET_ACK, (uint64_t)f[0], rc == 0 ? TR__ENTITY_OK : TR__ENTITY_NONE,
        &st);
}

static bool read_sput(const tr__entity_host *s, const tr_msg *m, uint64_t v[4], const uint8_t **b,
                      uint32_t *blen) {
    uint32_t n = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < 4 && n == 5; i++) {
        tr_mp_read_uint(&r, &v[i]);
    }
    tr_mp_read_bin(&r, b, blen);
    return tr_mp_reader_done(&r) == 0 && n == 5 && v[1] <= INT64_MAX && v[2] >= 1 &&
           *blen <= s->arg.type->state_max;
}

/* [token, id, epoch, seq, bytes]: store when newer and not fenced. */
void tr__entity_store_sput(tr__entity_host *s, tr_ctx *ctx, const tr_msg *m) {
    uint64_t v[4] = {0};
    const uint8_t *b = NULL;
    uint32_t blen = 0;
    stored st;
    if (!read_sput(s, m, v, &b, &blen)) {
        return;
    }
    int64_t id = (int64_t)v[1];
    uint32_t shard = tr__entity_shard(id);
    uint64_t fence = fence_get(ctx, shard);
    int rc = entity_get(ctx, id, &st);
    if (rc != 0 && rc != TR_ENOENT) {
        return;
    }
    bool bug = tr__entity_no_fencing(s);
    if (!bug && (v[2] < fence || (rc == 0 && v[2] < st.epoch))) {
        ack(s, ctx, m, TR__ENTITY_SPUT_ACK, v[0], TR__ENTITY_FENCED, NULL);
        return;
    }
    if (bug || rc == TR_ENOENT || newer(v[2], v[3], st.epoch, st.seq)) {
        uint8_t key[9];
        entity_key(key, id);
        tr_store_be64(st.value, v[2]);
        tr_store_be64(st.value + 8, v[3]);
        memcpy(st.value + 16, b, blen);
        if (tr_kv_put(ctx, key, sizeof key, st.value, 16 + (size_t)blen) != 0) {
            return;
        }
    }
    if (v[2] > fence && !bug && fence_put(ctx, shard, v[2]) != 0) {
        return;
    }
    ack(s, ctx, m, TR__ENTITY_SPUT_ACK, v[0], TR__ENTITY_OK, NULL);
}

/* ---- for checks ------------------------------------------------------------------------------ */

/* Whether the run's fault timeline tore node i's data file (a "corrupt" fault): its store is
 * refused on every restart and cannot be read back. */
static bool store_torn(const tr_check_input *in, uint32_t i) {
    for (uint32_t f = 0; f < in->fault_count && in->faults; f++) {
        if (!strcmp(in->faults[f].kind, "corrupt") && i < 64 && (in->faults[f].nodes >> i & 1)) {
            return true;
        }
    }
    return false;
}

/* A state written to a majority of the hosts is still held by a majority of what is left when
 * at most a minority of the stores was torn: every majority meets every readable majority. So
 * torn stores are skipped while they are a minority; beyond that the read fails (TR_EIO). */
int tr_entity_check_get(const tr_check_input *in, const tr_entity_type *type, int64_t id, void *buf,
                        size_t cap, size_t *len) {
    if (!in || !type || !type->name || id < 0 || !len) {
        return TR_EINVAL;
    }
    uint8_t key[9], v[VALUE_MAX];
    uint64_t be = 0, bs = 0;
    bool found = false;
    int best = TR_ENOENT;
    uint32_t torn = 0;
    entity_key(key, id);
    for (uint32_t i = 0; i < in->node_count; i++) {
        size_t n = 0;
        int rc = tr_check_kv_get(in, i, type->name, key, sizeof key, v, sizeof v, &n);
        if (rc == TR_ENOENT || rc == TR_ENOTSUP || (rc == 0 && n < 16)) {
            continue;
        }
        if (rc == TR_EIO && store_torn(in, i) && ++torn <= (in->node_count - 1) / 2) {
            continue;
        }
        if (rc != 0) {
            return rc;
        }
        uint64_t e = tr_load_be64(v), q = tr_load_be64(v + 8);
        if (found && !newer(e, q, be, bs)) {
            continue;
        }
        found = true;
        be = e;
        bs = q;
        *len = n - 16;
        best = *len > cap ? TR_ETOOBIG : 0;
        if (best == 0) {
            memcpy(buf, v + 16, *len);
        }
    }
    return best;
}
