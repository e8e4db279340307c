/* test_store_actor.c — the store through the public API on the real engine: actors put,
 * append and ask for durability; a runtime restarted on the same directory finds the
 * state; a durable reply reaches its caller; names without a store namespace are refused. */
#include "store_helpers.h"

enum {
    MSG_PUT = TR_MSG_USER + 1, /* body: value of key "k"; replies MSG_OK after durable */
    MSG_APPEND,                /* body: event; replies MSG_OK after durable */
    MSG_GET,                   /* replies MSG_VALUE with the value of "k" (or MSG_ERR) */
    MSG_EVENTS,                /* replies MSG_VALUE: "<events recovered in init>" */
    MSG_REQ,                   /* request: put + tr_reply_durable(MSG_VALUE, "stored") */
    MSG_GO,                    /* to the client: body = the account's address */
    MSG_OK,
    MSG_VALUE,
    MSG_ERR
};

typedef struct account {
    tr_addr main;
    uint64_t token;
    uint64_t events;
    char last_event[32];
} account;

static int count_event(void *ud, uint64_t seq, const void *ev, size_t len) {
    account *a = ud;
    a->events++;
    memcpy(a->last_event, ev, len < 31 ? len : 31);
    return seq == a->events ? 0 : TR_ECORRUPT; /* seqs are 1, 2, 3... */
}

static int acct_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    account *a = state;
    memcpy(&a->main, arg, sizeof(a->main));
    return tr_recover(ctx, NULL, count_event, a);
}

static int acct_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    account *a = state;
    char buf[64];
    size_t len = 0;
    int rc = 0;
    switch (m->type) {
    case MSG_PUT:
    case MSG_APPEND:
        rc = m->type == MSG_PUT ? tr_kv_put(ctx, "k", 1, m->body, m->body_len)
                                : tr_journal_append(ctx, m->body, m->body_len, NULL);
        rc = rc ? rc : tr_durable_notify(ctx, &a->token);
        break;
    case TR_MSG_DURABLE: /* body: msgpack int 0 */
        if (m->corr == a->token && m->body_len == 1 && m->body[0] == 0) {
            rc = tr_send(ctx, a->main, MSG_OK, NULL, 0);
        } else {
            rc = tr_send(ctx, a->main, MSG_ERR, NULL, 0);
        }
        break;
    case MSG_GET:
        rc = tr_kv_get(ctx, "k", 1, buf, sizeof(buf), &len);
        rc = rc ? tr_send(ctx, a->main, MSG_ERR, NULL, 0)
                : tr_send(ctx, a->main, MSG_VALUE, buf, len);
        break;
    case MSG_EVENTS:
        len = (size_t)snprintf(buf, sizeof(buf), "%llu %s", (unsigned long long)a->events,
                               a->last_event);
        rc = tr_send(ctx, a->main, MSG_VALUE, buf, len);
        break;
    case MSG_REQ:
        rc = tr_kv_put(ctx, "k", 1, m->body, m->body_len);
        rc = rc ? rc : tr_reply_durable(ctx, m, MSG_VALUE, "stored", 6);
        break;
    default: break;
    }
    return rc;
}

static const tr_behaviour acct_b = {
    .name = "acct",
    .state_size = sizeof(account),
    .init = acct_init,
    .receive = acct_receive,
};

/* The client asks the account (a request) and forwards the reply to main. */
typedef struct client {
    tr_addr main;
} client;

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    memcpy(&((client *)state)->main, arg, sizeof(tr_addr));
    return 0;
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    client *c = state;
    if (m->type == MSG_GO) {
        tr_addr to;
        memcpy(&to, m->body, sizeof(to));
        uint64_t corr;
        return tr_request(ctx, to, MSG_REQ, "v-req", 5, 10000, &corr);
    }
    return tr_send(ctx, c->main, m->type, m->body, m->body_len); /* the reply or a timeout */
}

static const tr_behaviour client_b = {
    .name = "client",
    .state_size = sizeof(client),
    .init = client_init,
    .receive = client_receive,
};

typedef struct rt_env {
    tr_runtime *rt;
    tr_node *node;
    tr_inbox *inbox;
    tr_addr main;
} rt_env;

static void start(rt_env *e, const char *dir) {
    tr_config cfg = {.workers = 2, .data_dir = dir};
    cr_assert_eq(tr_runtime_create(&cfg, &e->rt), 0);
    e->node = tr_runtime_node(e->rt);
    cr_assert_eq(tr_inbox_create(e->rt, &e->inbox), 0);
    e->main = tr_inbox_addr(e->inbox);
}

static void stop(rt_env *e) {
    tr_inbox_destroy(e->inbox);
    tr_runtime_destroy(e->rt);
}

static tr_addr spawn_acct(rt_env *e, const char *name) {
    tr_spawn_opts so = {.name = name};
    tr_addr a;
    cr_assert_eq(tr_node_spawn(e->node, &acct_b, &so, &e->main, sizeof(e->main), &a), 0);
    return a;
}

/* Receives the next inbox message; it must have type `type`; copies its body into out. */
static void expect_msg(rt_env *e, uint32_t type, char *out, size_t cap) {
    tr_msg *m;
    int rc = tr_inbox_receive(e->inbox, 10000, &m);
    cr_assert_eq(rc, 0, "inbox: %s", tr_err_name(rc));
    cr_assert_eq(m->type, type, "got message type %u, want %u", m->type, type);
    if (out) {
        cr_assert_lt(m->body_len, cap);
        memcpy(out, m->body, m->body_len);
        out[m->body_len] = 0;
    }
    tr_msg_free(m);
}

Test(store_actor, durable_state_survives_a_runtime_restart) {
    char *dir = tmp_dir();
    rt_env e;
    start(&e, dir);
    tr_addr a = spawn_acct(&e, "acct");
    cr_assert_eq(tr_node_send(e.node, a, MSG_PUT, "v1", 2), 0);
    expect_msg(&e, MSG_OK, NULL, 0);
    for (int i = 1; i <= 3; i++) {
        char ev[8];
        snprintf(ev, sizeof(ev), "e%d", i);
        cr_assert_eq(tr_node_send(e.node, a, MSG_APPEND, ev, strlen(ev)), 0);
        expect_msg(&e, MSG_OK, NULL, 0);
    }
    stop(&e);

    start(&e, dir);
    a = spawn_acct(&e, "acct"); /* init recovers the journal */
    char buf[64];
    cr_assert_eq(tr_node_send(e.node, a, MSG_GET, NULL, 0), 0);
    expect_msg(&e, MSG_VALUE, buf, sizeof(buf));
    cr_assert_str_eq(buf, "v1");
    cr_assert_eq(tr_node_send(e.node, a, MSG_EVENTS, NULL, 0), 0);
    expect_msg(&e, MSG_VALUE, buf, sizeof(buf));
    cr_assert_str_eq(buf, "3 e3");
    tr_addr other = spawn_acct(&e, "other"); /* another name: another namespace */
    cr_assert_eq(tr_node_send(e.node, other, MSG_GET, NULL, 0), 0);
    expect_msg(&e, MSG_ERR, NULL, 0);
    stop(&e);
    rm_dir(dir);
}

Test(store_actor, durable_reply_reaches_the_caller_and_the_write_is_kept) {
    char *dir = tmp_dir();
    rt_env e;
    start(&e, dir);
    tr_addr a = spawn_acct(&e, "acct");
    tr_addr c;
    cr_assert_eq(tr_node_spawn(e.node, &client_b, NULL, &e.main, sizeof(e.main), &c), 0);
    cr_assert_eq(tr_node_send(e.node, c, MSG_GO, &a, sizeof(a)), 0);
    char buf[64];
    expect_msg(&e, MSG_VALUE, buf, sizeof(buf));
    cr_assert_str_eq(buf, "stored");
    tr_stats s;
    tr_node_stats_get(e.node, &s);
    cr_assert_geq(s.store_commits, 1);
    cr_assert_geq(s.store_writes, 1);
    stop(&e);
    start(&e, dir);
    a = spawn_acct(&e, "acct");
    cr_assert_eq(tr_node_send(e.node, a, MSG_GET, NULL, 0), 0);
    expect_msg(&e, MSG_VALUE, buf, sizeof(buf));
    cr_assert_str_eq(buf, "v-req");
    stop(&e);
    rm_dir(dir);
}

Test(store_actor, a_foreign_data_dir_is_refused_by_the_runtime) {
    char *dir = tmp_dir();
    write_file(dir, "precious.txt", "keep me", 7);
    tr_config cfg = {.workers = 1, .data_dir = dir};
    tr_runtime *rt = NULL;
    cr_assert_eq(tr_runtime_create(&cfg, &rt), TR_EFOREIGN);
    cr_assert_null(rt);
    size_t n;
    unsigned char *p = read_file(dir, "precious.txt", &n);
    cr_assert_eq(n, 7);
    free(p);
    cr_assert_eq(count_files(dir), 1);
    rm_dir(dir);
}

/* ---- Journal compaction through the public API --------------------------------------- */

enum {
    MSG_COMPACT = MSG_ERR + 1
}; /* snapshot at the last seq, then truncate up to it */

typedef struct jrnl {
    tr_addr main;
    uint64_t token;
    uint64_t snap_seq; /* recovered */
    uint64_t events;   /* recovered */
    uint64_t last_seq;
} jrnl;

static int jrnl_snap(void *ud, uint64_t seq, const void *data, size_t len) {
    jrnl *j = ud;
    j->snap_seq = j->last_seq = seq;
    return len == 1 && memcmp(data, "S", 1) == 0 ? 0 : TR_ECORRUPT;
}

static int jrnl_event(void *ud, uint64_t seq, const void *ev, size_t len) {
    jrnl *j = ud;
    j->events++;
    j->last_seq = seq;
    return 0;
}

static int jrnl_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    jrnl *j = state;
    memcpy(&j->main, arg, sizeof(j->main));
    return tr_recover(ctx, jrnl_snap, jrnl_event, j);
}

static int jrnl_compact(tr_ctx *ctx, jrnl *j) {
    int rc = tr_snapshot_write(ctx, j->last_seq, "S", 1);
    if (rc == 0 && tr_journal_truncate(ctx, j->last_seq + 1) != TR_EINVAL) {
        rc = TR_EPROTO; /* past the snapshot: must be refused */
    }
    return rc ? rc : tr_journal_truncate(ctx, j->last_seq);
}

static int jrnl_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    jrnl *j = state;
    char buf[64];
    int rc = 0;
    switch (m->type) {
    case MSG_APPEND:
    case MSG_COMPACT:
        rc = m->type == MSG_APPEND ? tr_journal_append(ctx, m->body, m->body_len, &j->last_seq)
                                   : jrnl_compact(ctx, j);
        rc = rc ? tr_send(ctx, j->main, MSG_ERR, NULL, 0) : tr_durable_notify(ctx, &j->token);
        break;
    case TR_MSG_DURABLE:
        rc = tr_send(ctx, j->main, m->corr == j->token ? MSG_OK : MSG_ERR, NULL, 0);
        break;
    case MSG_EVENTS:
        rc = tr_send(
            ctx, j->main, MSG_VALUE, buf,
            (size_t)snprintf(buf, sizeof buf, "%llu %llu %llu", (unsigned long long)j->snap_seq,
                             (unsigned long long)j->events, (unsigned long long)j->last_seq));
        break;
    default: break;
    }
    return rc;
}

static const tr_behaviour jrnl_b = {
    .name = "jrnl",
    .state_size = sizeof(jrnl),
    .init = jrnl_init,
    .receive = jrnl_receive,
};

static tr_addr spawn_jrnl(rt_env *e) {
    tr_spawn_opts so = {.name = "jrnl"};
    tr_addr a;
    cr_assert_eq(tr_node_spawn(e->node, &jrnl_b, &so, &e->main, sizeof(e->main), &a), 0);
    return a;
}

static void jrnl_do(rt_env *e, tr_addr a, uint32_t type) {
    cr_assert_eq(tr_node_send(e->node, a, type, "ev", 2), 0);
    expect_msg(e, MSG_OK, NULL, 0);
}

static void jrnl_expect(rt_env *e, tr_addr a, const char *want) {
    char buf[64];
    cr_assert_eq(tr_node_send(e->node, a, MSG_EVENTS, NULL, 0), 0);
    expect_msg(e, MSG_VALUE, buf, sizeof(buf));
    cr_assert_str_eq(buf, want);
}

Test(store_actor, a_compacted_journal_recovers_and_its_sequence_goes_on_across_restarts) {
    char *dir = tmp_dir();
    rt_env e;
    start(&e, dir);
    tr_addr a = spawn_jrnl(&e);
    for (int i = 0; i < 5; i++) {
        jrnl_do(&e, a, MSG_APPEND);
    }
    jrnl_do(&e, a, MSG_COMPACT); /* snapshot 5, events 1..5 dropped */
    jrnl_do(&e, a, MSG_APPEND);  /* 6 */
    stop(&e);
    start(&e, dir);
    a = spawn_jrnl(&e);
    jrnl_expect(&e, a, "5 1 6"); /* snapshot 5 + event 6 */
    jrnl_do(&e, a, MSG_COMPACT); /* the journal is now empty */
    stop(&e);
    start(&e, dir);
    a = spawn_jrnl(&e);
    jrnl_expect(&e, a, "6 0 6");
    jrnl_do(&e, a, MSG_APPEND); /* seq 7, from the snapshot: the journal had none */
    stop(&e);
    start(&e, dir);
    a = spawn_jrnl(&e);
    jrnl_expect(&e, a, "6 1 7");
    stop(&e);
    rm_dir(dir);
}
