//! bench/: `troupe bench` (compiled into the troupe binary only, not into libtroupe).
pub const sources = [_][]const u8{
    "bench/bench_sim.c",
};
