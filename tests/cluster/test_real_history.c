/* The replicated registers on a real 3-node cluster over 127.0.0.1, checked like the
 * simulator's: `troupe node` processes n1..n3 host "cp" and "ap" over all three; this test
 * process joins the cluster as member n9 (a tr_runtime with 1 worker + tr_cluster) and runs
 * client actors, each bound to one replica ("cp@n2"), issuing random reads and writes with
 * timeouts and recording every op in a Jepsen-style history (sim/history.h, wall-clock
 * CLOCK_MONOTONIC ns: this is a real run, not a simulated one). Mid-run n2 is killed with
 * SIGKILL and restarted on its data directory. The history is exported as JSON and
 * `troupe check` must call it linearizable; the AP register must answer on every replica.
 * A second test plants a read of a value never written, and a stale read of the initial
 * state after an acknowledged write, into a real recorded history: `troupe check` must
 * reject both (exit 1) while accepting the unmodified copy.
 *
 * Threading: client actors run on the runtime's only worker; the history is also guarded by
 * a mutex (the clock is read under it, so times never go back). The test thread only
 * starts/stops phases and reads atomics. Every child process dies in proc_teardown (and
 * with us: PR_SET_PDEATHSIG). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "actors/registers.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* proc.h: helpers we do not call */
#include "proc.h"
#pragma GCC diagnostic pop
#include "sim/history.h"
#include "troupe.h"

#define SECRET "cluster-test-secret-0123456789" /* what proc_setup writes */
#define REPLICAS 3
#define CLIENTS_PER_REPLICA 2
#define CLIENTS (REPLICAS * CLIENTS_PER_REPLICA)
#define KEYS 3
#define OP_TIMEOUT_MS 1000
#define HISTORY_MAX_OPS 200000
#define TICK (TR_MSG_USER + 1) /* a client's retry timer */
#define CLIENT_PORT 5          /* n9 listens on port_base + 5 */

TestSuite(real_history, .init = proc_setup, .fini = proc_teardown, .timeout = 60);

/* ---- the recording (shared by the client actors) ------------------------------------ */

static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static tr_history *hist;
static atomic_bool stopping;
static atomic_int clients_done;
static atomic_int history_errors;          /* appends refused: a bug in this test */
static atomic_int ok_by_node[REPLICAS];    /* ok ops per replica */
static atomic_int ok_after_mark[REPLICAS]; /* ok ops completed after mark_ns */
static atomic_llong mark_ns;               /* 0 = none */

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note(int rc) {
    if (rc != 0) {
        atomic_fetch_add(&history_errors, 1);
    }
}

typedef struct client_arg {
    uint32_t index;  /* 0..CLIENTS-1; its process ids are index, index + CLIENTS, ... */
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

/* Issues the next op, or stops the actor once the phase is over. */
static int client_next(tr_ctx *ctx, client_state *s) {
    if (atomic_load(&stopping)) {
        atomic_fetch_add(&clients_done, 1);
        return TR_STOP;
    }
    uint32_t key = (uint32_t)(next_rand(s) % KEYS);
    s->is_write = next_rand(s) % 2 == 0;
    /* unique per write: the checker's search stays small and a planted value is foreign */
    int64_t value = (int64_t)(s->a.index + 1) * 1000000 + (int64_t)++s->seq;
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    tr__registers_request_encode(body, sizeof body, key, s->is_write, value, &len);
    pthread_mutex_lock(&hmu);
    note(s->is_write ? tr__history_invoke_write(hist, mono_ns(), s->process, key, value, s->a.node)
                     : tr__history_invoke_read(hist, mono_ns(), s->process, key, s->a.node));
    pthread_mutex_unlock(&hmu);
    int rc = tr_request_name(ctx, s->a.target, s->is_write ? TR_REG_WRITE : TR_REG_READ, body, len,
                             OP_TIMEOUT_MS, &s->corr);
    if (rc != 0) { /* never sent: certainly not applied; retry a little later */
        pthread_mutex_lock(&hmu);
        note(tr__history_fail(hist, mono_ns(), s->process, "send refused"));
        pthread_mutex_unlock(&hmu);
        uint64_t timer;
        return tr_timer_start(ctx, 20, 0, TICK, &timer) ? TR_STOP : TR_CONTINUE;
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

/* Records the outcome of the pending op (Jepsen's rules: ok took effect, fail certainly did
 * not, info unknown — and an info'd process is retired, its id never used again). */
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
        s->process += CLIENTS;
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
        pthread_mutex_lock(&hmu);
        note(tr__history_fail(hist, mono_ns(), s->process, tr_strerror(err)));
        pthread_mutex_unlock(&hmu);
        s->pending = false;
        uint64_t timer;
        return tr_timer_start(ctx, 20, 0, TICK, &timer) ? TR_STOP : TR_CONTINUE;
    }
    client_complete(s, msg);
    return client_next(ctx, s);
}

static const tr_behaviour client_b = {.name = "hist-client",
                                      .state_size = sizeof(client_state),
                                      .init = client_init,
                                      .receive = client_receive};

/* ---- the cluster ---------------------------------------------------------------------- */

static const int seed0[] = {0, -1};
static const char *const names[REPLICAS] = {"n1", "n2", "n3"};
static char data_dir[REPLICAS][512];
static int slots[REPLICAS];

static int start_replica(int i) {
    return start_node(names[i], i, i ? seed0 : NULL, "--data", data_dir[i], "--replicas",
                      "n1,n2,n3", NULL);
}

static void start_replicas(void) {
    for (int i = 0; i < REPLICAS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "data-%s", names[i]);
        proc_path(data_dir[i], sizeof data_dir[i], tag);
        slots[i] = start_replica(i);
    }
}

static const char *const peers[REPLICAS + 1] = {"n1", "n2", "n3", "n9"};

/* How many link_up lines replica i has logged so far, per peer (its log is appended to
 * across a restart). */
static void link_counts(int i, int counts[REPLICAS + 1]) {
    for (int j = 0; j <= REPLICAS; j++) {
        char needle[64];
        snprintf(needle, sizeof needle, "event=link_up peer=%s ", peers[j]);
        counts[j] = log_count(names[i], needle);
    }
}

/* Waits until replica i has logged a new link to every other replica and to n9. */
static void wait_mesh(int i, const int before[REPLICAS + 1]) {
    for (int j = 0; j <= REPLICAS; j++) {
        if (j != i) {
            char needle[64];
            snprintf(needle, sizeof needle, "event=link_up peer=%s ", peers[j]);
            cr_assert(log_wait(names[i], needle, before[j] + 1, 10000),
                      "%s never linked to %s:\n%s", names[i], peers[j], log_tail(names[i]));
        }
    }
}

typedef struct client_node {
    tr_runtime *rt;
    tr_cluster *cl;
} client_node;

static void client_node_start(client_node *cn) {
    tr_config k = {.node_id = 9, .node_name = "n9", .workers = 1};
    cr_assert_eq(tr_runtime_create(&k, &cn->rt), 0);
    static char listen[32], seeds[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port_base + CLIENT_PORT);
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", port_base,
             port_base + 1, port_base + 2);
    tr_cluster_config cc = {
        .listen = listen, .seeds = seeds, .secret = SECRET, .secret_len = strlen(SECRET)};
    cr_assert_eq(tr_cluster_create(cn->rt, &cc, &cn->cl), 0);
    static const int none[REPLICAS + 1] = {0};
    for (int i = 0; i < REPLICAS; i++) {
        wait_mesh(i, none);
    }
}

static void client_node_stop(client_node *cn) {
    tr_cluster_stop(cn->cl);
    tr_runtime_destroy(cn->rt);
    tr_cluster_destroy(cn->cl);
}

/* Starts CLIENTS client actors on `reg` ("cp" or "ap") recording into a fresh history. */
static void phase_begin(client_node *cn, const char *reg) {
    hist = tr__history_create(HISTORY_MAX_OPS);
    cr_assert(hist);
    atomic_store(&stopping, false);
    atomic_store(&clients_done, 0);
    atomic_store(&history_errors, 0);
    atomic_store(&mark_ns, 0);
    for (int i = 0; i < REPLICAS; i++) {
        atomic_store(&ok_by_node[i], 0);
        atomic_store(&ok_after_mark[i], 0);
    }
    for (uint32_t c = 0; c < CLIENTS; c++) {
        client_arg a = {.index = c, .node = (int32_t)(c % REPLICAS)};
        snprintf(a.target, sizeof a.target, "%s@%s", reg, names[c % REPLICAS]);
        tr_addr addr;
        cr_assert_eq(tr_node_spawn(tr_runtime_node(cn->rt), &client_b, NULL, &a, sizeof a, &addr),
                     0);
    }
}

/* Asks the clients to stop and waits until every pending op has completed (reply or
 * timeout): the history then has no outstanding invoke of a live client. */
static void phase_end(void) {
    atomic_store(&stopping, true);
    uint64_t until = proc_now_ms() + OP_TIMEOUT_MS + 5000;
    while (atomic_load(&clients_done) < CLIENTS && proc_now_ms() < until) {
        usleep(10000);
    }
    cr_assert_eq(atomic_load(&clients_done), CLIENTS, "clients still busy");
    cr_assert_eq(atomic_load(&history_errors), 0, "the history refused an append");
}

typedef struct tally {
    size_t ok, fail, info, ok_reads_valued;
} tally;

static tally count_ops(const tr_history *h) {
    tally t = {0};
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        t.ok += op->type == TR_OP_OK;
        t.fail += op->type == TR_OP_FAIL;
        t.info += op->type == TR_OP_INFO;
        t.ok_reads_valued += op->type == TR_OP_OK && op->f == TR_F_READ && op->has_value;
    }
    return t;
}

/* Writes h as JSON to <tmp>/<name>.json and runs `troupe check` on it; its exit code. */
static int check_history(const tr_history *h, const char *name) {
    char path[512], tag[64];
    snprintf(tag, sizeof tag, "%s.json", name);
    proc_path(path, sizeof path, tag);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    cr_assert_eq(tr__history_write_json(h, f), 0);
    cr_assert_eq(fclose(f), 0);
    snprintf(tag, sizeof tag, "check-%s", name);
    char *args[] = {"check", path, NULL};
    int rc = proc_wait(proc_spawn(tag, args), 20000);
    char out[512];
    snprintf(out, sizeof out, "%s/%s.out", tmpdir, tag);
    char *report = slurp(out);
    fprintf(stderr, "troupe check %s (%zu ops) -> exit %d\n%s", name, tr__history_count(h), rc,
            report);
    free(report);
    return rc;
}

static void run_for_ms(uint64_t ms) {
    usleep((useconds_t)(ms * 1000));
}

/* ---- the tests ------------------------------------------------------------------------- */

Test(real_history, cp_is_linearizable_through_a_kill_and_restart_and_ap_answers) {
    start_replicas();
    client_node cn;
    client_node_start(&cn);

    phase_begin(&cn, "cp");
    run_for_ms(2000);
    proc_signal(slots[1], SIGKILL); /* n2: the majority n1, n3 keeps serving */
    proc_wait(slots[1], 2000);
    int before_kill[REPLICAS];
    for (int i = 0; i < REPLICAS; i++) {
        before_kill[i] = atomic_load(&ok_by_node[i]);
    }
    run_for_ms(1500);
    cr_assert_gt(atomic_load(&ok_by_node[0]), before_kill[0], "n1 stopped serving");
    cr_assert_gt(atomic_load(&ok_by_node[2]), before_kill[2], "n3 stopped serving");
    int links[REPLICAS + 1];
    link_counts(1, links);
    slots[1] = start_replica(1);
    atomic_store(&mark_ns, mono_ns());
    wait_mesh(1, links);
    run_for_ms(2500);
    phase_end();

    tally t = count_ops(hist);
    fprintf(stderr,
            "cp: %zu ops: ok %zu (n1 %d, n2 %d, n3 %d; after restart n2 %d), fail %zu, "
            "info %zu\n",
            tr__history_count(hist), t.ok, atomic_load(&ok_by_node[0]), atomic_load(&ok_by_node[1]),
            atomic_load(&ok_by_node[2]), atomic_load(&ok_after_mark[1]), t.fail, t.info);
    cr_assert_geq(t.ok, 300, "only %zu ok ops", t.ok);
    cr_assert_gt(t.ok_reads_valued, 0, "no read saw a written value");
    cr_assert_gt(atomic_load(&ok_after_mark[1]), 0, "the restarted n2 never served");
    cr_assert_eq(check_history(hist, "cp"), 0, "troupe check rejected the cp history");
    tr__history_destroy(hist);

    /* AP: available on every replica; LWW is not linearizable, so no check is asserted */
    phase_begin(&cn, "ap");
    run_for_ms(1500);
    phase_end();
    t = count_ops(hist);
    fprintf(stderr, "ap: %zu ops: ok %zu (n1 %d, n2 %d, n3 %d), fail %zu, info %zu\n",
            tr__history_count(hist), t.ok, atomic_load(&ok_by_node[0]), atomic_load(&ok_by_node[1]),
            atomic_load(&ok_by_node[2]), t.fail, t.info);
    for (int i = 0; i < REPLICAS; i++) {
        cr_assert_gt(atomic_load(&ok_by_node[i]), 0, "ap on %s never answered", names[i]);
    }
    cr_assert_geq(t.ok, 100);
    int ap_rc = check_history(hist, "ap"); /* reported, not asserted */
    cr_assert(ap_rc == 0 || ap_rc == 1 || ap_rc == 3, "troupe check failed on ap: %d", ap_rc);
    tr__history_destroy(hist);
    client_node_stop(&cn);
}

/* A copy of h in which the ok read at index `plant` reads (found, value) instead. */
static tr_history *planted(const tr_history *h, size_t plant, bool found, int64_t value) {
    tr_history *c = tr__history_create(tr__history_count(h));
    cr_assert(c);
    for (size_t i = 0; i < tr__history_count(h); i++) {
        tr_op op = *tr__history_op(h, i);
        if (i == plant) {
            cr_assert(op.type == TR_OP_OK && op.f == TR_F_READ);
            op.has_value = found;
            op.value = found ? value : 0;
        }
        cr_assert_eq(tr__history_append(c, &op), 0);
    }
    return c;
}

/* The ok completion of the first read invoked after an ok write of the same key had
 * completed (reading nil there is a stale read), or SIZE_MAX. */
static size_t read_after_acked_write(const tr_history *h) {
    bool written[KEYS] = {false};
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type == TR_OP_OK && op->f == TR_F_WRITE) {
            written[op->key] = true;
        } else if (op->type == TR_OP_INVOKE && op->f == TR_F_READ && written[op->key]) {
            size_t p = tr__history_partner(h, i);
            if (p != SIZE_MAX && tr__history_op(h, p)->type == TR_OP_OK) {
                return p;
            }
        }
    }
    return SIZE_MAX;
}

Test(real_history, check_rejects_planted_reads_in_a_real_history) {
    start_replicas();
    client_node cn;
    client_node_start(&cn);
    phase_begin(&cn, "cp");
    run_for_ms(2000);
    phase_end();
    client_node_stop(&cn);
    tally t = count_ops(hist);
    cr_assert_geq(t.ok, 50, "only %zu ok ops", t.ok);
    cr_assert_eq(check_history(hist, "real"), 0, "the unmodified history must pass");

    size_t r = read_after_acked_write(hist);
    cr_assert_neq(r, SIZE_MAX, "no read followed an acknowledged write");
    tr_history *foreign = planted(hist, r, true, 424242); /* never written (values >= 1e6) */
    cr_assert_eq(check_history(foreign, "foreign-value"), 1,
                 "a read of a value never written was accepted");
    tr_history *stale = planted(hist, r, false, 0);
    cr_assert_eq(check_history(stale, "stale-nil"), 1,
                 "a nil read after an acknowledged write was accepted");
    tr__history_destroy(stale);
    tr__history_destroy(foreign);
    tr__history_destroy(hist);
}
