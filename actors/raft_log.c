/* raft_log.c — a Raft replica's log: the terms and lengths of the entries above the snapshot
 * in a ring, the entries themselves in the actor's store (raft_internal.h has the
 * invariants). Store keys: "rt" = term (8 bytes) and vote (4); "rs" = snapshot index, term
 * (8 + 8) and the state machine's bytes; "re" + big-endian index (8) = the entry's term (8)
 * and command. A configuration entry's term has TR__RAFT_CONF_FLAG set and its value is the
 * mask (4 bytes); a snapshot whose configuration is not the initial one (every replica) has
 * the flag in its term and the mask (4 bytes) after the state, so a log that never changed
 * membership is stored exactly as without it. */
#include <string.h>

#include "actors/raft_internal.h"

#define ENTRY_KEY_LEN 10

static void entry_key(uint8_t key[ENTRY_KEY_LEN], uint64_t i) {
    key[0] = 'r';
    key[1] = 'e';
    for (int b = 0; b < 8; b++) {
        key[2 + b] = (uint8_t)(i >> (56 - 8 * b));
    }
}

static void put_u64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, sizeof v);
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

uint64_t tr__raft_term_at(const tr__raft *r, uint64_t i) {
    if (i == r->snap_index) {
        return r->snap_term;
    }
    return i < r->snap_index || i > r->last_index ? 0 : r->terms[i % r->cap];
}

uint32_t tr__raft_len_at(const tr__raft *r, uint64_t i) {
    return i <= r->snap_index || i > r->last_index ? 0 : r->lens[i % r->cap];
}

int tr__raft_entry_read(tr__raft *r, tr_ctx *ctx, uint64_t i, uint8_t *buf, uint32_t *len) {
    uint8_t key[ENTRY_KEY_LEN], val[8 + TR_RAFT_COMMAND_MAX];
    size_t n = 0;
    entry_key(key, i);
    int rc = tr_kv_get(ctx, key, sizeof key, val, sizeof val, &n);
    if (rc != 0 || n < 8 || get_u64(val) != tr__raft_term_at(r, i) || tr__raft_len_at(r, i) == 0) {
        return rc ? rc : TR_ECORRUPT;
    }
    memcpy(buf, val + 8, n - 8);
    *len = (uint32_t)(n - 8);
    return 0;
}

int tr__raft_log_append(tr__raft *r, tr_ctx *ctx, uint64_t term, const void *data, uint32_t len,
                        uint32_t conf) {
    uint8_t key[ENTRY_KEY_LEN], val[8 + TR_RAFT_COMMAND_MAX];
    if (r->last_index - r->snap_index >= r->cap) {
        return TR_EFULL;
    }
    if (len > TR_RAFT_COMMAND_MAX) {
        return TR_ETOOBIG;
    }
    if (conf > r->all || (conf && len)) {
        return TR_EINVAL;
    }
    entry_key(key, r->last_index + 1);
    put_u64(val, conf ? term | TR__RAFT_CONF_FLAG : term);
    if (conf) {
        memcpy(val + 8, &conf, 4);
        len = 4;
    } else if (len) {
        memcpy(val + 8, data, len);
    }
    int rc = tr_kv_put(ctx, key, sizeof key, val, 8 + (size_t)len);
    if (rc != 0) {
        return rc;
    }
    r->last_index++;
    r->terms[r->last_index % r->cap] = term;
    r->lens[r->last_index % r->cap] = conf ? 0 : (uint16_t)len;
    r->confs[r->last_index % r->cap] = (uint16_t)conf;
    if (conf) {
        tr__raft_conf_refresh(r);
    }
    return 0;
}

uint32_t tr__raft_conf_at(const tr__raft *r, uint64_t i) {
    for (uint64_t k = i; k > r->snap_index; k--) {
        if (r->confs[k % r->cap]) {
            return r->confs[k % r->cap];
        }
    }
    return r->snap_members;
}

void tr__raft_conf_refresh(tr__raft *r) {
    uint64_t k = r->last_index;
    while (k > r->snap_index && r->confs[k % r->cap] == 0) {
        k--;
    }
    r->conf_index = k;
    r->members = tr__raft_conf_at(r, r->last_index);
    r->majority = (uint32_t)__builtin_popcount(r->members) / 2 + 1;
}

static void drop_range(tr_ctx *ctx, uint64_t from, uint64_t to) {
    uint8_t key[ENTRY_KEY_LEN];
    for (uint64_t i = from; i <= to; i++) {
        entry_key(key, i);
        (void)tr_kv_del(ctx, key, sizeof key);
    }
}

void tr__raft_log_truncate(tr__raft *r, tr_ctx *ctx, uint64_t from) {
    if (from <= r->snap_index || from > r->last_index) {
        return;
    }
    drop_range(ctx, from, r->last_index);
    r->last_index = from - 1;
    tr__raft_conf_refresh(r); /* a configuration dropped with its entry no longer holds */
}

int tr__raft_save_term(tr__raft *r, tr_ctx *ctx) {
    uint8_t v[12];
    put_u64(v, r->term);
    memcpy(v + 8, &r->voted_for, 4);
    return tr_kv_put(ctx, "rt", 2, v, sizeof v);
}

/* Writes "rs" from r->buf: the data is already at r->buf + 16. */
static int store_snapshot(tr__raft *r, tr_ctx *ctx, uint64_t index, uint64_t term, uint32_t members,
                          size_t len) {
    bool conf = members != r->all;
    put_u64(r->buf, index);
    put_u64(r->buf + 8, conf ? term | TR__RAFT_CONF_FLAG : term);
    if (conf) {
        memcpy(r->buf + 16 + len, &members, 4);
    }
    return tr_kv_put(ctx, "rs", 2, r->buf, 16 + len + (conf ? 4 : 0));
}

int tr__raft_compact(tr__raft *r, tr_ctx *ctx) {
    size_t len = 0;
    uint64_t at = r->applied, term = tr__raft_term_at(r, at);
    uint32_t members = tr__raft_conf_at(r, at);
    if (at <= r->snap_index || !r->cfg.snapshot) {
        return 0;
    }
    int rc = r->cfg.snapshot(r->cfg.ud, ctx, r->buf + 16, TR_RAFT_SNAPSHOT_MAX, &len);
    if (rc != 0 || len > TR_RAFT_SNAPSHOT_MAX) {
        return rc ? rc : TR_ETOOBIG;
    }
    rc = store_snapshot(r, ctx, at, term, members, len);
    if (rc != 0) {
        return rc;
    }
    /* the snapshot is written before the entries it covers are deleted: a crash between keeps
     * both, and recovery deletes the leftovers */
    drop_range(ctx, r->snap_index + 1, at);
    r->snap_index = at;
    r->snap_term = term;
    r->snap_members = members;
    tr__raft_conf_refresh(r);
    return 0;
}

int tr__raft_install(tr__raft *r, tr_ctx *ctx, uint64_t index, uint64_t term, uint32_t members,
                     const void *data, size_t len) {
    if (len > TR_RAFT_SNAPSHOT_MAX || index <= r->commit || members == 0 || members > r->all) {
        return TR_EINVAL;
    }
    int rc = r->cfg.restore ? r->cfg.restore(r->cfg.ud, ctx, data, len) : TR_ENOTSUP;
    if (rc != 0) {
        return rc;
    }
    memmove(r->buf + 16, data, len);
    rc = store_snapshot(r, ctx, index, term, members, len);
    if (rc != 0) {
        return rc;
    }
    bool keep = index < r->last_index && tr__raft_term_at(r, index) == term;
    drop_range(ctx, r->snap_index + 1, keep ? index : r->last_index);
    r->last_index = keep ? r->last_index : index;
    r->snap_index = index;
    r->snap_term = term;
    r->snap_members = members;
    r->commit = r->applied = index;
    tr__raft_conf_refresh(r);
    return 0;
}

int tr__raft_snapshot_load(tr__raft *r, tr_ctx *ctx, size_t off, size_t *len, uint32_t *members) {
    size_t n = 0;
    int rc = tr_kv_get(ctx, "rs", 2, r->buf + off, TR__RAFT_BUF - off, &n);
    bool conf = rc == 0 && n >= 16 && (get_u64(r->buf + off + 8) & TR__RAFT_CONF_FLAG);
    size_t tail = conf ? 4 : 0;
    if (rc != 0 || n < 16 + tail || n - 16 - tail > TR_RAFT_SNAPSHOT_MAX) {
        return rc ? rc : TR_ECORRUPT;
    }
    *len = n - 16 - tail;
    *members = r->all;
    if (conf) {
        memcpy(members, r->buf + off + n - 4, 4);
    }
    if (*members == 0 || *members > r->all) {
        return TR_ECORRUPT;
    }
    return 0;
}

void tr__raft_snapshot_head(const tr__raft *r, size_t off, uint64_t *index, uint64_t *term) {
    *index = get_u64(r->buf + off);
    *term = get_u64(r->buf + off + 8) & ~TR__RAFT_CONF_FLAG;
}

static int recover_snapshot(tr__raft *r, tr_ctx *ctx) {
    size_t n = 0;
    uint32_t members = 0;
    int rc = tr__raft_snapshot_load(r, ctx, 0, &n, &members);
    if (rc == TR_ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    r->snap_index = get_u64(r->buf);
    r->snap_term = get_u64(r->buf + 8) & ~TR__RAFT_CONF_FLAG;
    r->snap_members = members;
    rc = r->cfg.restore ? r->cfg.restore(r->cfg.ud, ctx, r->buf + 16, n) : TR_ENOTSUP;
    r->last_index = r->commit = r->applied = r->snap_index;
    /* entries a crash kept below the snapshot (their deletes were lost with it) */
    uint8_t key[ENTRY_KEY_LEN], probe[8];
    for (uint64_t i = r->snap_index; rc == 0 && i > 0; i--) {
        entry_key(key, i);
        int g = tr_kv_get(ctx, key, sizeof key, probe, sizeof probe, &n);
        if ((g != 0 && g != TR_ETOOBIG) || tr_kv_del(ctx, key, sizeof key) != 0) {
            break;
        }
    }
    return rc;
}

int tr__raft_recover(tr__raft *r, tr_ctx *ctx) {
    uint8_t v[12], key[ENTRY_KEY_LEN], val[8 + TR_RAFT_COMMAND_MAX];
    size_t n = 0;
    int rc = tr_kv_get(ctx, "rt", 2, v, sizeof v, &n);
    if (rc == 0 && n == sizeof v) {
        r->term = get_u64(v);
        memcpy(&r->voted_for, v + 8, 4);
    } else if (rc != TR_ENOENT) {
        return rc ? rc : TR_ECORRUPT;
    }
    if ((rc = recover_snapshot(r, ctx)) != 0) {
        return rc;
    }
    for (uint64_t i = r->snap_index + 1; r->last_index - r->snap_index < r->cap; i++) {
        entry_key(key, i);
        rc = tr_kv_get(ctx, key, sizeof key, val, sizeof val, &n);
        if (rc == TR_ENOENT) {
            break;
        }
        uint64_t t = rc == 0 && n >= 8 ? get_u64(val) : 0;
        uint32_t conf = 0;
        if (t & TR__RAFT_CONF_FLAG) {
            memcpy(&conf, val + 8, n == 12 ? 4 : 0);
        }
        if (rc != 0 || n < 8 || ((t & TR__RAFT_CONF_FLAG) && (conf == 0 || conf > r->all))) {
            return rc ? rc : TR_ECORRUPT;
        }
        r->terms[i % r->cap] = t & ~TR__RAFT_CONF_FLAG;
        r->lens[i % r->cap] = conf ? 0 : (uint16_t)(n - 8);
        r->confs[i % r->cap] = (uint16_t)conf;
        r->last_index = i;
    }
    tr__raft_conf_refresh(r);
    return tr__raft_log_check(r);
}

int tr__raft_log_check(const tr__raft *r) {
    if (!(r->snap_index <= r->applied && r->applied <= r->commit && r->commit <= r->last_index &&
          r->last_index - r->snap_index <= r->cap)) {
        return TR_ECORRUPT;
    }
    uint64_t prev = r->snap_term, conf_index = r->snap_index;
    uint32_t members = r->snap_members;
    for (uint64_t i = r->snap_index + 1; i <= r->last_index; i++) {
        uint64_t t = r->terms[i % r->cap];
        uint32_t c = r->confs[i % r->cap];
        if (t < prev || t > r->term || (c && (r->lens[i % r->cap] || c > r->all))) {
            return TR_ECORRUPT;
        }
        conf_index = c ? i : conf_index;
        members = c ? c : members;
        prev = t;
    }
    bool conf_ok =
        members != 0 && members <= r->all && members == r->members && conf_index == r->conf_index;
    return conf_ok ? 0 : TR_ECORRUPT;
}
