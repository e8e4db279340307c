//! sim/: the sim engine, network model, nemesis, workloads, history, checkers.
pub const lib = [_][]const u8{
    "sim/prng.c",
    "sim/engine.c",
    "sim/net.c",
    "sim/nemesis.c",
};
pub const tests = [_][]const u8{
    "tests/sim/test_sim_engine.c",
    "tests/sim/test_nemesis.c",
};
pub const sources = [_][]const u8{};
