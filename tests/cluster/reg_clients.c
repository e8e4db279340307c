/* reg_clients.c — the register clients of the real-process cluster tests (reg_clients.h). */
#include "reg_clients.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/registers.h"

#define TICK (TR_MSG_USER + 1) /* a client's retry timer */

void reg_client_node_start(reg_client_node *cn, const char *listen, const char *seeds) {
    tr_config k = {.node_id = 9, .node_name = "n9", .workers = 1};
    cr_assert_eq(tr_runtime_create(&k, &cn->rt), 0);
    tr_cluster_config cc = {
        .listen = listen, .seeds = seeds, .secret = REG_SECRET, .secret_len = strlen(REG_SECRET)};
    cr_assert_eq(tr_cluster_create(cn->rt, &cc, &cn->cl), 0);
}

void reg_client_node_stop(reg_client_node *cn) {
    tr_cluster_stop(cn->cl);
    tr_runtime_destroy(cn->rt);
    tr_cluster_destroy(cn->cl);
}

/* ---- the recording (shared by the client actors) ------------------------------------ */

static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static tr_history *hist;
static atomic_bool stopping;
static atomic_int clients_done;
static atomic_int history_errors;              /* appends refused: a bug in the test */
static atomic_int ok_by_node[REG_REPLICAS];    /* ok ops per replica */
static atomic_int ok_after_mark[REG_REPLICAS]; /* ok ops completed after mark_ns */
static atomic_llong mark_ns;                   /* 0 = none */

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mono_ms(void) {
    return (uint64_t)mono_ns() / 1000000u;
}

static void note(int rc) {
    if (rc != 0) {
        atomic_fetch_add(&history_errors, 1);
    }
}

typedef struct client_arg {
    uint32_t index;  /* 0..REG_CLIENTS-1; its process ids are index, index + REG_CLIENTS, ... */
    int32_t node;    /* replica index 0..2 (the history's node field) */
    char target[32]; /* "cp@n2" */
} client_arg;

typedef struct client_state {
    client_arg a;
    int64_t process;
    uint64_t rng;
    uint64_t corr;
    uint64_t seq;
    bool pending;
    bool is_write;
} client_state;

static uint64_t next_rand(client_state *s) {
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Records a failure at once (never sent or never delivered) and retries a little later. */
static int client_refused(tr_ctx *ctx, client_state *s, const char *why) {
    pthread_mutex_lock(&hmu);
    note(tr__history_fail(hist, mono_ns(), s->process, why));
    pthread_mutex_unlock(&hmu);
    s->pending = false;
    uint64_t timer;
    return tr_timer_start(ctx, 20, 0, TICK, &timer) ? TR_STOP : TR_CONTINUE;
}

/* Issues the next op, or stops the actor once the phase is over. */
static int client_next(tr_ctx *ctx, client_state *s) {
    if (atomic_load(&stopping)) {
        atomic_fetch_add(&clients_done, 1);
        return TR_STOP;
    }
    uint32_t key = (uint32_t)(next_rand(s) % REG_KEYS);
    s->is_write = next_rand(s) % 2 == 0;
    int64_t value = (int64_t)(s->a.index + 1) * 1000000 + (int64_t)++s->seq;
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    tr__registers_request_encode(body, sizeof body, key, s->is_write, value, &len);
    pthread_mutex_lock(&hmu);
    note(s->is_write ? tr__history_invoke_write(hist, mono_ns(), s->process, key, value, s->a.node)
                     : tr__history_invoke_read(hist, mono_ns(), s->process, key, s->a.node));
    pthread_mutex_unlock(&hmu);
    int rc = tr_request_name(ctx, s->a.target, s->is_write ? TR_REG_WRITE : TR_REG_READ, body, len,
                             REG_OP_TIMEOUT_MS, &s->corr);
    if (rc != 0) { /* never sent: certainly not applied */
        return client_refused(ctx, s, "send refused");
    }
    s->pending = true;
    return TR_CONTINUE;
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    client_state *s = state;
    if (len != sizeof s->a) {
        return TR_EINVAL; /* no cr_assert here: this runs on the worker */
    }
    memcpy(&s->a, arg, sizeof s->a);
    s->process = s->a.index;
    s->rng = 0x9e3779b97f4a7c15ull * (s->a.index + 1);
    return client_next(ctx, s) == TR_STOP ? TR_ECLOSED : 0;
}

/* Records the outcome of the pending op. */
static void client_complete(client_state *s, const tr_msg *msg) {
    tr_reg_reply rep;
    bool retire = false;
    pthread_mutex_lock(&hmu);
    int64_t now = mono_ns();
    if (msg->type == TR_MSG_TIMEOUT) {
        note(tr__history_info(hist, now, s->process, "timeout"));
        retire = true;
    } else if (tr__registers_reply_decode(msg->body, msg->body_len, &rep) != 0) {
        note(tr__history_info(hist, now, s->process, "malformed reply"));
        retire = true;
    } else if (rep.ok) {
        note(s->is_write ? tr__history_ok(hist, now, s->process)
                         : tr__history_ok_read(hist, now, s->process, rep.has_value, rep.value));
        atomic_fetch_add(&ok_by_node[s->a.node], 1);
        long long mark = atomic_load(&mark_ns);
        if (mark && now > mark) {
            atomic_fetch_add(&ok_after_mark[s->a.node], 1);
        }
    } else if (rep.indeterminate) {
        note(tr__history_info(hist, now, s->process, rep.error));
        retire = true;
    } else {
        note(tr__history_fail(hist, now, s->process, rep.error));
    }
    pthread_mutex_unlock(&hmu);
    if (retire) {
        s->process += REG_CLIENTS;
    }
    s->pending = false;
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    client_state *s = state;
    if (msg->type == TICK && !s->pending) {
        return client_next(ctx, s);
    }
    bool answer = msg->type == TR_MSG_TIMEOUT || msg->type == TR_REG_REPLY;
    if (!s->pending || !answer || msg->corr != s->corr) {
        return TR_CONTINUE; /* not ours (a late reply is dropped by the runtime anyway) */
    }
    int err = tr_msg_request_error(msg);
    if (err != 0 && err != TR_ETIMEDOUT) { /* failed at once, never delivered: as refused */
        return client_refused(ctx, s, tr_strerror(err));
    }
    client_complete(s, msg);
    return client_next(ctx, s);
}

static const tr_behaviour client_b = {.name = "reg-client",
                                      .state_size = sizeof(client_state),
                                      .init = client_init,
                                      .receive = client_receive};

/* ---- phases ----------------------------------------------------------------------------- */

void reg_clients_begin(reg_client_node *cn, const char *reg, const char *const *replicas,
                       size_t history_max) {
    cr_assert_null(hist, "the previous phase's history was not taken");
    hist = tr__history_create(history_max);
    cr_assert(hist);
    atomic_store(&stopping, false);
    atomic_store(&clients_done, 0);
    atomic_store(&history_errors, 0);
    atomic_store(&mark_ns, 0);
    for (int i = 0; i < REG_REPLICAS; i++) {
        atomic_store(&ok_by_node[i], 0);
        atomic_store(&ok_after_mark[i], 0);
    }
    for (uint32_t c = 0; c < REG_CLIENTS; c++) {
        client_arg a = {.index = c, .node = (int32_t)(c % REG_REPLICAS)};
        snprintf(a.target, sizeof a.target, "%s@%s", reg, replicas[c % REG_REPLICAS]);
        tr_addr addr;
        cr_assert_eq(tr_node_spawn(tr_runtime_node(cn->rt), &client_b, NULL, &a, sizeof a, &addr),
                     0);
    }
}

void reg_clients_end(uint64_t grace_ms) {
    atomic_store(&stopping, true);
    uint64_t until = mono_ms() + REG_OP_TIMEOUT_MS + grace_ms;
    while (atomic_load(&clients_done) < REG_CLIENTS && mono_ms() < until) {
        usleep(10000);
    }
    cr_assert_eq(atomic_load(&clients_done), REG_CLIENTS, "clients still busy");
    cr_assert_eq(atomic_load(&history_errors), 0, "the history refused an append");
}

const tr_history *reg_clients_history(void) {
    return hist;
}

tr_history *reg_clients_history_take(void) {
    tr_history *h = hist;
    hist = NULL;
    return h;
}

int reg_clients_ok(int replica) {
    return atomic_load(&ok_by_node[replica]);
}

int reg_clients_ok_total(void) {
    int n = 0;
    for (int i = 0; i < REG_REPLICAS; i++) {
        n += atomic_load(&ok_by_node[i]);
    }
    return n;
}

int reg_clients_ok_after_mark(int replica) {
    return atomic_load(&ok_after_mark[replica]);
}

void reg_clients_mark(void) {
    atomic_store(&mark_ns, mono_ns());
}

void reg_history_write(const tr_history *h, const char *path) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(tr__history_write_json(h, f), 0);
    cr_assert_eq(fclose(f), 0);
}
