/* bench_remote.c — `troupe bench remote`: request/reply between two node processes over
 * loopback TCP (the cluster transport, the handshake, the envelope codec, batching).
 *
 * This process is node n1 (a runtime + tr_cluster); it starts a second process,
 * `troupe node --name n2` (same binary), whose "echo" actor answers every message with the
 * same body. A pinger actor on n1 then runs two phases, each timed by main():
 *   - sequential: N_SEQ (20,000) round trips, one message in flight (latency-bound:
 *     roundtrips/s and the mean round trip in microseconds);
 *   - pipelined: N_PIPE (500,000) round trips with WINDOW (1,000) in flight (throughput:
 *     coalesced writes on both sides).
 * Bodies are msgpack uints; the pinger checks every echo is the next number expected (per-link
 * FIFO), so a lost, duplicated or reordered message fails the run. Both I/O loops spin
 * SPIN_US after activity before parking. -n N scales both phases (N sequential, 25 N
 * pipelined). Each process runs ONE worker unless --workers says otherwise: two processes,
 * each with a worker and an I/O thread, already fill a 2-core machine. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"

#define N_SEQ 20000
#define N_PIPE 500000
#define WINDOW 1000
#define SPIN_US 50 /* TROUPE_BENCH_SPIN_US overrides (-1: never spin) */

static int spin_us(void) {
    const char *e = getenv("TROUPE_BENCH_SPIN_US");
    return e ? atoi(e) : SPIN_US;
}

enum {
    PHASE_WARMUP,
    PHASE_SEQ,
    PHASE_PIPE
};

typedef struct pinger_arg {
    tr_addr main;
    uint64_t n_seq, n_pipe, window;
} pinger_arg;

typedef struct pinger {
    pinger_arg a;
    tr_addr echo; /* learned from the warm-up reply */
    int phase;
    uint64_t sent, received;
} pinger;

static int pinger_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    pinger *p = state;
    if (len != sizeof p->a) {
        return TR_EINVAL;
    }
    memcpy(&p->a, arg, sizeof p->a);
    uint8_t b[TR_BENCH_BODY_MAX];
    size_t n = tr_bench_pack_uint(b, 0);
    if (tr_bench_tracing) {
        (void)tr_trace_start(ctx, 0);
    }
    return tr_send_name(ctx, "echo@n2", TR_BENCH_MSG_INT, b, n);
}

static int fail(tr_ctx *ctx, pinger *p, uint64_t what) {
    tr_bench_send_uint(ctx, p->a.main, TR_BENCH_MSG_FAIL, what);
    return TR_STOP;
}

/* Sends the next number; a send refused (queue full, node unreachable) fails the run. */
static int send_next(tr_ctx *ctx, pinger *p) {
    p->sent++;
    if (tr_bench_plant_bug && p->sent == 10) {
        p->sent++; /* the planted bug: one number is skipped, the FIFO check must see it */
    }
    int rc = tr_bench_send_uint(ctx, p->echo, TR_BENCH_MSG_INT, p->sent);
    return rc == 0 ? TR_CONTINUE : fail(ctx, p, p->sent);
}

static int start_phase(tr_ctx *ctx, pinger *p, int phase) {
    p->phase = phase;
    p->sent = p->received = 0;
    uint64_t burst = phase == PHASE_SEQ ? 1 : p->a.window;
    uint64_t total = phase == PHASE_SEQ ? p->a.n_seq : p->a.n_pipe;
    for (uint64_t i = 0; i < burst && i < total; i++) {
        if (send_next(ctx, p) != TR_CONTINUE) {
            return TR_STOP;
        }
    }
    return TR_CONTINUE;
}

static int pinger_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    pinger *p = state;
    uint64_t v;
    if (msg->type == TR_BENCH_MSG_MORE && tr_bench_msg_uint(msg, &v) == 0) {
        return start_phase(ctx, p, (int)v);
    }
    if (msg->type != TR_BENCH_MSG_INT || tr_bench_msg_uint(msg, &v) != 0) {
        return fail(ctx, p, 0);
    }
    if (p->phase == PHASE_WARMUP) {
        p->echo = msg->from;
        tr_bench_send_uint(ctx, p->a.main, TR_BENCH_MSG_ACK, 0);
        return TR_CONTINUE;
    }
    uint64_t total = p->phase == PHASE_SEQ ? p->a.n_seq : p->a.n_pipe;
    if (v != p->received + 1) {
        return fail(ctx, p, v); /* lost, duplicated or reordered */
    }
    p->received = v;
    if (p->received == total) {
        tr_bench_send_uint(ctx, p->a.main, TR_BENCH_MSG_DONE, total);
        return TR_CONTINUE;
    }
    return p->sent < total ? send_next(ctx, p) : TR_CONTINUE;
}

static const tr_behaviour pinger_behaviour = {
    .name = "bench.pinger",
    .state_size = sizeof(pinger),
    .init = pinger_init,
    .receive = pinger_receive,
};

/* Starts `troupe node --name n2` seeded with our port. Returns its pid or -1. */
static pid_t start_peer(int port, const char *secret, unsigned workers, double trace_sample) {
    char seeds[32], w[16], spin[16];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d", port);
    snprintf(w, sizeof w, "%u", workers);
    snprintf(spin, sizeof spin, "%d", spin_us() < 0 ? 0 : spin_us());
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setenv("TROUPE_SECRET", secret, 1);
    if (!getenv("TROUPE_BENCH_VERBOSE")) {
        (void)!freopen("/dev/null", "w", stderr);
    }
    char sample[32];
    snprintf(sample, sizeof sample, "%g", trace_sample);
    /* The peer is this binary, unless TROUPE_BENCH_PEER_EXE names another troupe (under
     * valgrind, /proc/self/exe is valgrind's own tool: docs/benchmarks.md). */
    const char *exe = getenv("TROUPE_BENCH_PEER_EXE");
    exe = exe && exe[0] ? exe : "/proc/self/exe";
    if (trace_sample >= 0) { /* n2 records its spans as n1 does (--trace-sample) */
        execl(exe, "troupe", "node", "--name", "n2", "--id", "2", "--listen", "127.0.0.1:0",
              "--seeds", seeds, "--workers", w, "--spin-us", spin, "--trace-out", "/dev/null",
              "--trace-sample", sample, (char *)NULL);
    }
    execl(exe, "troupe", "node", "--name", "n2", "--id", "2", "--listen", "127.0.0.1:0", "--seeds",
          seeds, "--workers", w, "--spin-us", spin, (char *)NULL);
    _exit(127);
}

static void stop_peer(pid_t pid) {
    kill(pid, SIGTERM);
    int st;
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            return;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* Runs one phase from main: go, wait for DONE, return the seconds it took (or < 0). */
static double phase(tr_bench_env *env, tr_addr pinger, int which, uint64_t total) {
    uint8_t b[TR_BENCH_BODY_MAX];
    size_t n = tr_bench_pack_uint(b, (uint64_t)which);
    uint64_t t0 = tr_bench_now_ns();
    if (tr_node_send(env->node, pinger, TR_BENCH_MSG_MORE, b, n) != 0) {
        return -1;
    }
    uint64_t done;
    if (tr_bench_wait_uint(env, "remote", TR_BENCH_MSG_DONE, &done) != 0 || done != total) {
        return -1;
    }
    return (double)(tr_bench_now_ns() - t0) / 1e9;
}

static int measure(const tr_bench_opts *o, tr_bench_env *env, const pinger_arg *arg) {
    tr_addr pinger;
    int rc = tr_node_spawn(env->node, &pinger_behaviour, NULL, arg, sizeof *arg, &pinger);
    uint64_t ack;
    if (rc != 0 || tr_bench_wait_uint(env, "remote", TR_BENCH_MSG_ACK, &ack) != 0) {
        return tr_bench_fail(o, "remote", "warmup");
    }
    double s = phase(env, pinger, PHASE_SEQ, arg->n_seq);
    if (s <= 0) {
        return tr_bench_fail(o, "remote_pingpong_seq", "failed");
    }
    tr_bench_report(o, "remote_pingpong_seq", (double)arg->n_seq / s, "roundtrips/s");
    tr_bench_report(o, "remote_pingpong_seq_rtt", s * 1e6 / (double)arg->n_seq, "us");
    s = phase(env, pinger, PHASE_PIPE, arg->n_pipe);
    if (s <= 0) {
        return tr_bench_fail(o, "remote_pingpong_pipe1000", "failed");
    }
    tr_bench_report(o, "remote_pingpong_pipe1000", (double)arg->n_pipe / s, "roundtrips/s");
    tr_bench_report(o, "remote_pingpong_pipe1000_msgs", 2.0 * (double)arg->n_pipe / s, "msgs/s");
    return 0;
}

int tr_bench_remote(const tr_bench_opts *o) {
    long n = tr_bench_size(o, N_SEQ);
    pinger_arg arg = {
        .n_seq = (uint64_t)n, .n_pipe = o->n ? (uint64_t)n * 25 : N_PIPE, .window = WINDOW};
    tr_bench_opts mine = *o;
    if (mine.workers == 0) {
        mine.workers = 1;
    }
    o = &mine;
    tr_bench_env env;
    if (tr_bench_start(o, "remote", &env) != 0) {
        return 2;
    }
    arg.main = env.main;
    /* A fresh secret per run, handed to the child through its environment. */
    char secret[33];
    uint64_t r = tr_bench_now_ns() ^ ((uint64_t)getpid() << 40);
    snprintf(secret, sizeof secret, "bench-%016llx-%05d", (unsigned long long)r,
             (int)getpid() % 100000);
    tr_cluster_config cc = {.listen = "127.0.0.1:0",
                            .secret = secret,
                            .secret_len = strlen(secret),
                            .spin_us = spin_us()};
    tr_cluster *cl;
    int rc = tr_cluster_create(env.rt, &cc, &cl);
    if (rc != 0) {
        fprintf(stderr, "troupe bench remote: cluster: %s\n", tr_strerror(rc));
        tr_bench_stop(&env);
        return 2;
    }
    pid_t peer = start_peer(tr_cluster_port(cl), secret, o->workers, o->trace_sample);
    uint32_t id;
    int result;
    if (peer < 0 || tr_cluster_wait_peer(cl, 10000, &id) != 0 || id != 2) {
        fprintf(stderr, "troupe bench remote: the peer node did not come up\n");
        result = 2;
    } else {
        result = measure(o, &env, &arg);
    }
    if (peer > 0) {
        stop_peer(peer);
    }
    tr_cluster_stop(cl);
    tr_bench_stop(&env);
    tr_cluster_destroy(cl);
    return result;
}
