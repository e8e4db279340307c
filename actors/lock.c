/* lock.c — the "lock" actor: leases kept by each lock's home node (see lock.h).
 *
 * Every node runs one; it is the home of the locks k with k % N == its index and a forwarder
 * for the others. A home answers from its own state and its own clock: a lock is free when
 * nobody holds it, or when its lease ran out TR_LOCK_MARGIN_MS ago by this node's clock. */
#include <stdio.h>
#include <string.h>

#include "actors/lock.h"

typedef struct lock_entry {
    uint64_t last_token;   /* the last token handed out (durable: "token/<lock>") */
    uint64_t holder;       /* the token holding the lock; 0: free */
    uint32_t holder_node;  /* the node the holder's acquire came from */
    uint64_t lease_end_ms; /* by this node's clock: the holder's lease runs until then */
} lock_entry;

typedef struct lock_state {
    tr_service_place place;  /* first: tr_service_place_init writes it */
    bool trust_node_down;    /* the planted bug */
    uint64_t grants_from_ms; /* a (re)started home grants nothing before then */
    lock_entry locks[TR_LOCK_LOCKS_MAX];
} lock_state;

static void token_key(int64_t lock, char *key, size_t cap, size_t *len) {
    int n = snprintf(key, cap, "token/%lld", (long long)lock);
    *len = n > 0 ? (size_t)n : 0;
}

/* The durable last token of every lock this node is home of. */
static int load_tokens(tr_ctx *ctx, lock_state *s) {
    for (int64_t k = s->place.node_index; k < TR_LOCK_LOCKS_MAX; k += s->place.node_count) {
        char key[32];
        size_t klen, len;
        uint64_t token = 0;
        token_key(k, key, sizeof key, &klen);
        int rc = tr_kv_get(ctx, key, klen, &token, sizeof token, &len);
        if (rc != 0 && rc != TR_ENOENT) {
            return rc;
        }
        s->locks[k].last_token = rc == 0 && len == sizeof token ? token : 0;
    }
    return 0;
}

static int lock_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    lock_state *s = state;
    int rc = tr_service_place_init(ctx, state, arg, arg_len);
    if (rc != 0 || s->place.node_count == 0) {
        return rc != 0 ? rc : TR_EINVAL;
    }
    s->trust_node_down = strcmp(s->place.bug, "trust-node-down") == 0;
    /* a lease granted before a restart may still run: wait out the longest one */
    s->grants_from_ms = tr_now_ms(ctx) + TR_LOCK_LEASE_MS + TR_LOCK_MARGIN_MS;
    for (uint32_t id = 1; s->trust_node_down && id <= s->place.node_count; id++) {
        if (id != tr_self(ctx).node) {
            (void)tr_monitor_node(ctx, id);
        }
    }
    return load_tokens(ctx, s);
}

/* Hands the lock to a new token: durable before the answer, so a token is never reused. */
static void acquire(tr_ctx *ctx, lock_state *s, const tr_msg *m, int64_t k) {
    lock_entry *e = &s->locks[k];
    uint64_t now = tr_now_ms(ctx);
    bool held = e->holder != 0 && now < e->lease_end_ms + TR_LOCK_MARGIN_MS;
    if (held || now < s->grants_from_ms) {
        (void)tr_reply_str(ctx, m, held ? "held" : "starting", false);
        return;
    }
    uint64_t token = e->last_token + 1;
    char key[32];
    size_t klen;
    token_key(k, key, sizeof key, &klen);
    int rc = tr_kv_put(ctx, key, klen, &token, sizeof token);
    if (rc != 0) {
        (void)tr_reply_str(ctx, m, tr_strerror(rc), false);
        return;
    }
    *e = (lock_entry){.last_token = token,
                      .holder = token,
                      .holder_node = m->from.node,
                      .lease_end_ms = now + TR_LOCK_LEASE_MS};
    (void)tr_reply_int(ctx, m, (int64_t)token, true);
}

static void renew_or_release(tr_ctx *ctx, lock_state *s, const tr_msg *m, int64_t k,
                             int64_t token) {
    lock_entry *e = &s->locks[k];
    if (token <= 0 || e->holder != (uint64_t)token) {
        (void)tr_reply_str(ctx, m, "not holder", false);
        return;
    }
    if (m->type == TR_LOCK_RENEW) {
        e->lease_end_ms = tr_now_ms(ctx) + TR_LOCK_LEASE_MS;
    } else {
        e->holder = 0;
    }
    (void)tr_reply_int(ctx, m, token, false);
}

/* Planted bug: NODE_DOWN taken as proof that the holders on that node are dead. */
static void on_node_down(lock_state *s, uint32_t node) {
    for (size_t k = 0; s->trust_node_down && k < TR_LOCK_LOCKS_MAX; k++) {
        if (s->locks[k].holder != 0 && s->locks[k].holder_node == node) {
            s->locks[k].holder = 0;
        }
    }
}

static int lock_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    lock_state *s = state;
    if (m->type == TR_MSG_NODE_DOWN) {
        on_node_down(s, m->from.node);
        return TR_CONTINUE;
    }
    if (m->type < TR_LOCK_ACQUIRE || m->type > TR_LOCK_RELEASE || tr_msg_is_reply(m)) {
        return TR_CONTINUE;
    }
    int64_t v[2] = {-1, 0}; /* [lock] or [lock, token] */
    int n = tr_msg_read_ints(m, v, 2);
    bool want_token = m->type != TR_LOCK_ACQUIRE;
    if (n != 1 + want_token || v[0] < 0 || v[0] >= TR_LOCK_LOCKS_MAX) {
        (void)tr_reply_str(ctx, m, want_token ? "want [lock 0..63, token]" : "want [lock 0..63]",
                           false);
        return TR_CONTINUE;
    }
    if (tr_service_forward_owner(ctx, m, &s->place, "lock", v[0]) != TR_SERVICE_MINE) {
        return TR_CONTINUE; /* the home answers, or the refused forward was answered */
    }
    if (want_token) {
        renew_or_release(ctx, s, m, v[0], v[1]);
    } else {
        acquire(ctx, s, m, v[0]);
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__lock_behaviour = {
    .name = "lock", .state_size = sizeof(lock_state), .init = lock_init, .receive = lock_receive};
