//! bench/: `troupe bench` (compiled into the troupe binary only, not into libtroupe).
//! bench/bench_sim.c (tr_bench_sim) joins this list once bench/bench.c (tr_bench_report)
//! is on main: listing it before would leave the troupe binary with an undefined symbol.
pub const sources = [_][]const u8{};
