/* bench_raft.c — `troupe bench raft`: Raft commits per second on real nodes over loopback TCP,
 * through lin-kv (docs/raft.md), for clusters of 3 and of 5 replicas.
 *
 * This process is a cluster member named "bench" (id 100) that hosts no replica; it starts
 * N processes `troupe node --name nK --builtins lin-kv --replicas n1,...,nN --data DIR` (same
 * binary, each with its own LMDB store in a fresh temporary directory, removed afterwards),
 * asks each node's linkv replica until one answers as the leader, and then a writer actor
 * sends lin-kv writes to the leader: every write is one Raft entry, answered once a majority
 * holds it durably and the leader has applied it (a commit). Two phases, timed by main():
 *   - sequential: N_SEQ (2,000) writes, one in flight (latency-bound);
 *   - pipelined: N_PIPE (20,000) writes with WINDOW (32) in flight (a new one per answer).
 * Figures: commits/s and the latency of each write (send to answer) at p50 and p99, per
 * phase and cluster size. Every answer must be [0, nil]; anything else (a refusal because
 * the leader changed, busy, no answer in 5 s) fails the run. -n N runs N sequential and
 * 10 N pipelined. With TROUPE_BENCH_PLANT_BUG=1 the 10th write of a phase goes to a replica
 * that does not lead: the run must fail. Each node process runs one worker (--workers sets it): on a small machine
 * N node processes already share its cores. */
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/linkv.h"
#include "bench/bench_util.h"

#define N_SEQ 2000
#define N_PIPE 20000
#define WINDOW 32 /* below the replica's TR_RAFT_PENDING_MAX outstanding proposals */
#define NODES_MAX 5
#define BENCH_ID 100
#define WRITE_TIMEOUT_MS 5000
#define LEADER_WAIT_MS 30000

typedef struct writer_arg {
    tr_addr main;
    char leader[TR_NAME_MAX + 8];   /* "linkv@nK" */
    char follower[TR_NAME_MAX + 8]; /* another replica */
    uint64_t n_seq, n_pipe, window;
    uint64_t *lat_ns; /* borrowed: main's, n_pipe (>= n_seq) entries, read by main after DONE */
} writer_arg;

typedef struct in_flight {
    uint64_t corr, sent_ns; /* corr 0: a free slot */
} in_flight;

typedef struct writer {
    writer_arg a;
    uint64_t total, sent, answered;
    in_flight slots[WINDOW];
} writer;

static int writer_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    writer *w = state;
    if (len != sizeof w->a) {
        return TR_EINVAL;
    }
    memcpy(&w->a, arg, sizeof w->a);
    return 0;
}

static int fail(tr_ctx *ctx, writer *w, uint64_t what) {
    tr_bench_send_uint(ctx, w->a.main, TR_BENCH_MSG_FAIL, what);
    return TR_STOP;
}

/* Sends write [key, value]: the keys cycle over the table, the value is the write's number. */
static int send_write(tr_ctx *ctx, writer *w) {
    uint8_t body[32];
    tr_mp_writer mw;
    tr_mp_writer_init(&mw, body, sizeof body);
    tr_mp_write_array(&mw, 2);
    tr_mp_write_int(&mw, (int64_t)(w->sent % TR__LINKV_KEYS));
    tr_mp_write_int(&mw, (int64_t)w->sent);
    uint64_t corr = 0;
    /* the planted bug (TROUPE_BENCH_PLANT_BUG=1): one write goes to a replica that does not
     * lead, whose refusal the answer check must catch */
    const char *to = tr_bench_plant_bug && w->sent == 10 ? w->a.follower : w->a.leader;
    int rc = tr_request_name(ctx, to, TR__LINKV_WRITE, body, mw.len, WRITE_TIMEOUT_MS, &corr);
    in_flight *slot = NULL;
    for (uint32_t i = 0; i < WINDOW && !slot; i++) {
        slot = w->slots[i].corr == 0 ? &w->slots[i] : NULL;
    }
    if (rc != 0 || corr == 0 || slot == NULL) {
        return fail(ctx, w, w->sent);
    }
    *slot = (in_flight){corr, tr_now_ns(ctx)};
    w->sent++;
    return TR_CONTINUE;
}

static int start_phase(tr_ctx *ctx, writer *w, uint64_t total, uint64_t burst) {
    w->total = total;
    w->sent = w->answered = 0;
    for (uint64_t i = 0; i < burst && i < total; i++) {
        if (send_write(ctx, w) != TR_CONTINUE) {
            return TR_STOP;
        }
    }
    return TR_CONTINUE;
}

/* An answer: it must be [0, nil] (the write committed and applied). */
static bool committed(const tr_msg *m) {
    uint32_t n = 0;
    int64_t code = -1;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    return tr_mp_read_array(&r, &n) == 0 && n == 2 && tr_mp_read_int(&r, &code) == 0 &&
           code == TR__LINKV_OK && tr_mp_read_nil(&r) == 0 && tr_mp_reader_done(&r) == 0;
}

static int writer_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    writer *w = state;
    uint64_t v;
    if (msg->type == TR_BENCH_MSG_MORE && tr_bench_msg_uint(msg, &v) == 0) {
        return v == 0 ? start_phase(ctx, w, w->a.n_seq, 1)
                      : start_phase(ctx, w, w->a.n_pipe, w->a.window);
    }
    in_flight *slot = NULL;
    for (uint32_t i = 0; i < WINDOW && !slot; i++) {
        slot = w->slots[i].corr == msg->corr ? &w->slots[i] : NULL;
    }
    if (slot == NULL || msg->type != TR__LINKV_WRITE || !committed(msg)) {
        return fail(ctx, w, w->answered); /* a timeout, a refusal or a stray message */
    }
    w->a.lat_ns[w->answered++] = tr_now_ns(ctx) - slot->sent_ns;
    slot->corr = 0;
    if (w->answered == w->total) {
        tr_bench_send_uint(ctx, w->a.main, TR_BENCH_MSG_DONE, w->total);
        return TR_CONTINUE;
    }
    return w->sent < w->total ? send_write(ctx, w) : TR_CONTINUE;
}

static const tr_behaviour writer_behaviour = {
    .name = "bench.raft_writer",
    .state_size = sizeof(writer),
    .init = writer_init,
    .receive = writer_receive,
};

/* ---- the node processes ------------------------------------------------------------------ */

typedef struct cluster_run {
    uint32_t nodes;
    pid_t pids[NODES_MAX];
    char dir[64];
} cluster_run;

static pid_t start_node(const cluster_run *c, uint32_t k, int port, const char *secret,
                        unsigned workers) {
    char name[8], id[8], seeds[32], replicas[64] = "", data[96], w[16];
    snprintf(name, sizeof name, "n%u", k + 1);
    snprintf(id, sizeof id, "%u", k + 1);
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", port);
    for (uint32_t i = 0; i < c->nodes; i++) {
        snprintf(replicas + strlen(replicas), sizeof replicas - strlen(replicas), "%sn%u",
                 i ? "," : "", i + 1);
    }
    snprintf(data, sizeof data, "%s/%s", c->dir, name);
    snprintf(w, sizeof w, "%u", workers);
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setenv("TROUPE_SECRET", secret, 1);
    if (!getenv("TROUPE_BENCH_VERBOSE")) {
        (void)!freopen("/dev/null", "w", stderr);
    }
    execl("/proc/self/exe", "troupe", "node", "--name", name, "--id", id, "--listen", "127.0.0.1:0",
          "--seeds", seeds, "--replicas", replicas, "--builtins", "lin-kv", "--data", data,
          "--workers", w, (char *)NULL);
    _exit(127);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void stop_nodes(cluster_run *c) {
    int st;
    for (uint32_t i = 0; i < c->nodes; i++) {
        if (c->pids[i] > 0) {
            kill(c->pids[i], SIGKILL);
            waitpid(c->pids[i], &st, 0);
        }
    }
    (void)nftw(c->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Asks every node's replica (a read) until one answers as the leader: its index, or -1. */
static int find_leader(tr_bench_env *env, uint32_t nodes) {
    uint8_t body[8];
    tr_mp_writer mw;
    tr_mp_writer_init(&mw, body, sizeof body);
    tr_mp_write_array(&mw, 1);
    tr_mp_write_int(&mw, 0);
    for (uint64_t until = tr_bench_now_ns() + LEADER_WAIT_MS * 1000000ull;
         tr_bench_now_ns() < until;) {
        for (uint32_t k = 0; k < nodes; k++) {
            tr_msg *reply = NULL;
            tr_addr to = {.node = k + 1};
            if (tr_inbox_request(env->inbox, to, TR__LINKV_NAME, TR__LINKV_READ, body, mw.len, 500,
                                 &reply) != 0) {
                continue;
            }
            tr_mp_reader r;
            uint32_t n = 0;
            int64_t code = -1;
            tr_mp_reader_init(&r, reply->body, reply->body_len);
            bool leads = tr_mp_read_array(&r, &n) == 0 && tr_mp_read_int(&r, &code) == 0 &&
                         code == TR__LINKV_OK;
            tr_msg_free(reply);
            if (leads) {
                return (int)k;
            }
        }
        usleep(100000);
    }
    return -1;
}

/* ---- measuring ------------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One phase: go, wait for DONE, report commits/s and the latency percentiles. */
static int phase(const tr_bench_opts *o, tr_bench_env *env, tr_addr w, const writer_arg *a,
                 uint32_t nodes, bool pipelined) {
    char name[64];
    uint64_t total = pipelined ? a->n_pipe : a->n_seq;
    snprintf(name, sizeof name, "raft%u_%s", nodes, pipelined ? "pipe32" : "seq");
    uint8_t b[TR_BENCH_BODY_MAX];
    size_t n = tr_bench_pack_uint(b, pipelined);
    tr_bench_clock clock = tr_bench_clock_start();
    uint64_t done = 0;
    if (tr_node_send(env->node, w, TR_BENCH_MSG_MORE, b, n) != 0 ||
        tr_bench_wait_uint(env, name, TR_BENCH_MSG_DONE, &done) != 0 || done != total) {
        return tr_bench_fail(o, name, "failed");
    }
    double s = tr_bench_clock_stop(&clock, name, (double)total, "commits");
    qsort(a->lat_ns, total, sizeof a->lat_ns[0], cmp_u64);
    char what[80];
    tr_bench_report(o, name, (double)total / s, "commits/s");
    snprintf(what, sizeof what, "%s_p50", name);
    tr_bench_report(o, what, (double)a->lat_ns[total / 2] / 1e3, "us");
    snprintf(what, sizeof what, "%s_p99", name);
    tr_bench_report(o, what, (double)a->lat_ns[total * 99 / 100] / 1e3, "us");
    return 0;
}

static int measure(const tr_bench_opts *o, tr_bench_env *env, writer_arg *a, uint32_t nodes) {
    int leader = find_leader(env, nodes);
    if (leader < 0) {
        fprintf(stderr, "troupe bench raft: no leader among %u nodes\n", nodes);
        return tr_bench_fail(o, "raft", "no leader");
    }
    snprintf(a->leader, sizeof a->leader, "%s@n%d", TR__LINKV_NAME, leader + 1);
    snprintf(a->follower, sizeof a->follower, "%s@n%u", TR__LINKV_NAME,
             (uint32_t)(leader + 1) % nodes + 1);
    tr_addr w;
    if (tr_node_spawn(env->node, &writer_behaviour, NULL, a, sizeof *a, &w) != 0) {
        return 2;
    }
    int rc = phase(o, env, w, a, nodes, false);
    return rc ? rc : phase(o, env, w, a, nodes, true);
}

/* One cluster of `nodes` replicas: start them, measure, stop them. */
static int run_cluster(const tr_bench_opts *o, uint32_t nodes, writer_arg *a) {
    tr_bench_env env;
    memset(&env, 0, sizeof env);
    tr_config cfg = {.node_id = BENCH_ID, .node_name = "bench", .workers = 1, .no_store = true};
    if (tr_runtime_create(&cfg, &env.rt) != 0 || tr_inbox_create(env.rt, &env.inbox) != 0) {
        fprintf(stderr, "troupe bench raft: cannot start the runtime\n");
        tr_bench_stop(&env);
        return 2;
    }
    env.node = tr_runtime_node(env.rt);
    a->main = env.main = tr_inbox_addr(env.inbox);
    char secret[40];
    uint64_t r = tr_bench_now_ns() ^ ((uint64_t)getpid() << 40);
    snprintf(secret, sizeof secret, "bench-raft-%016llx", (unsigned long long)r);
    tr_cluster_config cc = {
        .listen = "127.0.0.1:0", .secret = secret, .secret_len = strlen(secret), .quiet = true};
    tr_cluster *cl = NULL;
    cluster_run c = {.nodes = nodes};
    snprintf(c.dir, sizeof c.dir, "/tmp/troupe-bench-raft-XXXXXX");
    int rc = tr_cluster_create(env.rt, &cc, &cl);
    if (rc != 0 || mkdtemp(c.dir) == NULL) {
        fprintf(stderr, "troupe bench raft: %s\n", rc ? tr_strerror(rc) : "no temporary dir");
        rc = 2;
    } else {
        for (uint32_t k = 0; k < nodes; k++) {
            c.pids[k] = start_node(&c, k, tr_cluster_port(cl), secret, o->workers);
        }
        rc = measure(o, &env, a, nodes);
    }
    if (cl) {
        tr_cluster_stop(cl); /* BYE first: the nodes' end is then no failure */
    }
    stop_nodes(&c);
    tr_bench_stop(&env);
    if (cl) {
        tr_cluster_destroy(cl);
    }
    return rc;
}

int tr_bench_raft(const tr_bench_opts *o) {
    long n = tr_bench_size(o, N_SEQ);
    tr_bench_opts mine = *o;
    mine.workers = mine.workers ? mine.workers : 1;
    writer_arg a = {
        .n_seq = (uint64_t)n, .n_pipe = o->n ? (uint64_t)n * 10 : N_PIPE, .window = WINDOW};
    a.lat_ns = calloc(a.n_pipe > a.n_seq ? a.n_pipe : a.n_seq, sizeof a.lat_ns[0]);
    if (a.lat_ns == NULL) {
        return 2;
    }
    int rc = run_cluster(&mine, 3, &a);
    rc = rc ? rc : run_cluster(&mine, 5, &a);
    free(a.lat_ns);
    return rc;
}
