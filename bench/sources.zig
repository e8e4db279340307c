//! bench/: `troupe bench` (compiled into the troupe binary only, not into libtroupe).
pub const sources = [_][]const u8{
    "bench/bench.c",
    "bench/bench_util.c",
    "bench/bench_body.c",
    "bench/bench_pingpong.c",
    "bench/bench_counting.c",
    "bench/bench_threadring.c",
    "bench/bench_skynet.c",
    "bench/bench_spawn_mem.c",
    "bench/bench_sim.c",
    "bench/bench_store.c",
    "bench/bench_remote.c",
    "bench/bench_raft.c",
    "bench/bench_http.c",
};
/// Criterion suites of bench/ (wired into `zig build test` by build.zig).
pub const tests = [_][]const u8{
    "tests/bench/test_bench_body.c",
    "tests/bench/test_bench_cli.c",
};
