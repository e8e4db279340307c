/* bench_util.c — the shared pieces of the in-process benchmarks (see bench_util.h). */
#include "bench/bench_util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/trace_spans.h"

bool tr_bench_plant_bug;

uint64_t tr_bench_now_ns(void) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    assert(rc == 0);
    (void)rc;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

tr_bench_clock tr_bench_clock_start(void) {
    return (tr_bench_clock){tr_bench_now_ns(), cpu_now_ns()};
}

double tr_bench_clock_stop(const tr_bench_clock *c, const char *bench, double ops,
                           const char *what) {
    double wall = (double)(tr_bench_now_ns() - c->wall_ns) / 1e9;
    double cpu = (double)(cpu_now_ns() - c->cpu_ns) / 1e9;
    if (ops > 0 && cpu > 0) {
        fprintf(stderr, "# troupe bench %s: wall %.1f ms, cpu %.1f ms, %.0f %s per cpu-second\n",
                bench, wall * 1e3, cpu * 1e3, ops / cpu, what);
    }
    return wall;
}

long tr_bench_proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0) {
            if (sscanf(line + flen, "%ld", &kb) != 1) {
                kb = -1;
            }
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int tr_bench_reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) {
        return -1;
    }
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

bool tr_bench_tracing;

/* Out of line and cold: without --trace-sample a send pays one load and one branch. */
static __attribute__((noinline, cold)) void bench_trace_start(tr_ctx *ctx) {
    (void)tr_trace_start(ctx, 0);
}

int tr_bench_send_uint(tr_ctx *ctx, tr_addr to, uint32_t type, uint64_t v) {
    if (__builtin_expect(tr_bench_tracing, 0)) {
        bench_trace_start(ctx);
    }
    uint8_t buf[TR_BENCH_BODY_MAX];
    size_t len = tr_bench_pack_uint(buf, v);
    return tr_send(ctx, to, type, buf, len);
}

/* ---- runs ---------------------------------------------------------------------------- */

/* --trace-sample: a recorder on the node, drained every second into /dev/null by the writer
 * actor a real node's --trace-out spawns. */
static int spans_start(const tr_bench_opts *o, const char *bench, tr_bench_env *env) {
    env->spans = calloc(1, sizeof *env->spans);
    env->sfile = calloc(1, sizeof *env->sfile);
    int rc = env->spans && env->sfile ? tr__spans_init(env->spans, o->trace_sample) : TR_ENOMEM;
    if (rc == 0 && tr__span_file_open(env->sfile, "/dev/null", true) != 0) {
        rc = TR_EIO;
    }
    rc = rc != 0 ? rc : tr__span_file_writer_spawn(env->node, env->spans, env->sfile, 1000);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: --trace-sample: %s\n", bench, tr_strerror(rc));
        free(env->spans);
        free(env->sfile);
        env->spans = NULL;
        env->sfile = NULL;
        tr_bench_stop(env);
        return 2;
    }
    tr__spans_attach(env->node, env->spans);
    return 0;
}

int tr_bench_start(const tr_bench_opts *o, const char *bench, tr_bench_env *env) {
    memset(env, 0, sizeof *env);
    tr_config cfg = {0};
    cfg.workers = o->workers;
    const char *spin = getenv("TROUPE_BENCH_SPIN_US"); /* as the remote benchmark's peer node */
    cfg.spin_us = spin ? (int32_t)atoi(spin) : 0;
    int rc = tr_runtime_create(&cfg, &env->rt);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: runtime: %s\n", bench, tr_strerror(rc));
        return 2;
    }
    env->node = tr_runtime_node(env->rt);
    rc = tr_inbox_create(env->rt, &env->inbox);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: inbox: %s\n", bench, tr_strerror(rc));
        tr_runtime_destroy(env->rt);
        env->rt = NULL;
        return 2;
    }
    env->main = tr_inbox_addr(env->inbox);
    return o->trace_sample >= 0 ? spans_start(o, bench, env) : 0;
}

void tr_bench_stop(tr_bench_env *env) {
    if (env->spans != NULL) {
        tr__spans_detach(env->node);
    }
    if (env->inbox != NULL) {
        tr_inbox_destroy(env->inbox);
    }
    if (env->rt != NULL) {
        tr_runtime_destroy(env->rt);
    }
    if (env->spans != NULL) {
        (void)tr__span_file_drain(env->sfile, env->spans);
        (void)tr__span_file_close(env->sfile);
        tr__spans_fini(env->spans);
    }
    free(env->spans);
    free(env->sfile);
    memset(env, 0, sizeof *env);
}

int tr_bench_wait_uint(tr_bench_env *env, const char *bench, uint32_t type, uint64_t *value) {
    tr_msg *msg = NULL;
    int rc = tr_inbox_receive(env->inbox, TR_BENCH_WAIT_MS, &msg);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: waiting for the result: %s\n", bench, tr_strerror(rc));
        return 1;
    }
    uint32_t got = msg->type;
    rc = tr_bench_msg_uint(msg, value);
    tr_msg_free(msg);
    if (got == TR_BENCH_MSG_FAIL) {
        fprintf(stderr, "troupe bench %s: an actor's check failed (at %llu)\n", bench,
                (unsigned long long)(rc == 0 ? *value : 0));
        return 1;
    }
    if (got != type || rc != 0) {
        fprintf(stderr, "troupe bench %s: unexpected message (type %u, %s)\n", bench, got,
                rc == 0 ? "uint body" : "malformed body");
        return 1;
    }
    return 0;
}

long tr_bench_size(const tr_bench_opts *o, long standard) {
    return o->n > 0 ? o->n : standard;
}
