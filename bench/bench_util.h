/*
 * bench_util.h — what the in-process benchmarks share: a runtime with an inbox for main(),
 * the monotonic clock, RSS from procfs, and msgpack bodies for the messages they exchange.
 *
 * Why: every benchmark must time only its measured part (CLOCK_MONOTONIC, runtime start-up
 * excluded), check its own result, and send real msgpack bodies, exactly as the peers do
 * (bench/peers/). Keeping those pieces here keeps the five benchmarks short
 * and identical in method.
 *
 * Bodies: packed with msgpack-c's packer into a caller's stack buffer (tr_bench_pack_*),
 * read back by hand (tr_bench_unpack_*) — a strict reader that accepts exactly one msgpack
 * value filling the whole body and rejects anything else (truncated, trailing bytes, wrong
 * type), so a corrupted message is a failed check, never a wrong figure.
 *
 * Threading: the pack/unpack helpers are pure; tr_bench_start/stop/wait run on main().
 * Not part of libtroupe: only the troupe binary's bench/ files use this.
 */
#ifndef TR_BENCH_UTIL_H
#define TR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bench.h"
#include "troupe.h"

/* Message types of the benchmarks (one namespace: every bench uses a few). */
enum {
    TR_BENCH_MSG_INT = TR_MSG_USER, /* body: msgpack uint */
    TR_BENCH_MSG_DONE,              /* to main; body: msgpack uint (the result) */
    TR_BENCH_MSG_FAIL,              /* to main: an actor's own check failed; body: uint */
    TR_BENCH_MSG_SETUP,             /* body: msgpack [node, actor] */
    TR_BENCH_MSG_ACK,               /* to main; body: msgpack uint */
    TR_BENCH_MSG_GET,               /* a request for a count; body: msgpack nil */
    TR_BENCH_MSG_MORE               /* to self: continue a cooperative loop; body: uint */
};

/* Longest body a benchmark packs: an array of two uint64 = 1 + 9 + 9 bytes. */
#define TR_BENCH_BODY_MAX 32

/* How long main waits for any one message before it calls the run failed (ms). */
#define TR_BENCH_WAIT_MS 300000u

uint64_t tr_bench_now_ns(void);

/* The timed part of a run: wall time (CLOCK_MONOTONIC, the reported figure) and the
 * process's CPU time over the same interval, which tells a loaded machine apart: on a
 * machine shared with other work the wall figure drops while CPU per operation does not.
 * (CPU time includes idle workers spinning before they park.) */
typedef struct tr_bench_clock {
    uint64_t wall_ns;
    uint64_t cpu_ns;
} tr_bench_clock;

tr_bench_clock tr_bench_clock_start(void);
/* Stops the clock: prints "# troupe bench NAME: wall .. ms, cpu .. ms, .. OPS per
 * cpu-second" on stderr (ops > 0) and returns the wall seconds. */
double tr_bench_clock_stop(const tr_bench_clock *c, const char *bench, double ops,
                           const char *what);

/* A "VmRSS:"-style field of /proc/self/status in bytes; -1 if it cannot be read. */
long tr_bench_proc_status_bytes(const char *field);
/* Resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0); 0 or -1. */
int tr_bench_reset_peak_rss(void);

/* Packs into buf[0..TR_BENCH_BODY_MAX) with msgpack-c's packer; returns the length. */
size_t tr_bench_pack_uint(uint8_t *buf, uint64_t v);
size_t tr_bench_pack_addr(uint8_t *buf, tr_addr a);
size_t tr_bench_pack_nil(uint8_t *buf);

/* Strict readers: 0, or TR_EPROTO if body[0..len) is not exactly one value of that type. */
int tr_bench_unpack_uint(const uint8_t *body, size_t len, uint64_t *out);
int tr_bench_unpack_addr(const uint8_t *body, size_t len, tr_addr *out);
/* As tr_bench_unpack_uint on a received message. */
int tr_bench_msg_uint(const tr_msg *msg, uint64_t *out);

/* Sends a msgpack uint (from inside an actor). */
int tr_bench_send_uint(tr_ctx *ctx, tr_addr to, uint32_t type, uint64_t v);

/* A runtime for one benchmark run, and an inbox through which main() hears the result. */
struct tr__spans;
struct tr__span_file;
typedef struct tr_bench_env {
    tr_runtime *rt;
    tr_node *node;
    tr_inbox *inbox;
    tr_addr main;                /* the inbox's address */
    struct tr__spans *spans;     /* owned; --trace-sample: the node's recorder, else NULL */
    struct tr__span_file *sfile; /* owned; its spans go to /dev/null, written every second */
} tr_bench_env;

/* --trace-sample P given: every message a benchmark sends with tr_bench_send_uint (and the
 * remote pinger's sends) starts a new trace, not flagged sampled, so that the node's
 * recorder records the fraction P of the activations (a real node's cost of tracing at P:
 * the recorder, its ring, the writer actor formatting JSON each second). Set before any
 * actor runs, read-only afterwards. */
extern bool tr_bench_tracing;

/* 0, or prints why on stderr and returns 2 (a tool error). */
int tr_bench_start(const tr_bench_opts *o, const char *bench, tr_bench_env *env);
void tr_bench_stop(tr_bench_env *env);

/* Waits for the next inbox message; it must have type `type` and a msgpack uint body.
 * 0 and *value, or prints why on stderr and returns 1 (timeout, FAIL from an actor, or a
 * malformed message). */
int tr_bench_wait_uint(tr_bench_env *env, const char *bench, uint32_t type, uint64_t *value);

/* Prints the peers' error line (`value=error unit=<why>`) and returns 1. */
int tr_bench_fail(const tr_bench_opts *o, const char *bench, const char *why);

/* Tests only: `troupe bench` sets this when the environment has TROUPE_BENCH_PLANT_BUG=1,
 * before any actor runs (read-only afterwards). pingpong, counting and skynet then make one
 * deliberate arithmetic mistake each, which their own checks must catch (exit 1). */
extern bool tr_bench_plant_bug;

/* The benchmark's size: o->n if set, else `standard`. */
long tr_bench_size(const tr_bench_opts *o, long standard);

#endif /* TR_BENCH_UTIL_H */
