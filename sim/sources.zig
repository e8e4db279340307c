//! sim/: the sim engine, network model, nemesis, workloads, history, checkers.
pub const lib = [_][]const u8{
    "sim/prng.c",
    "sim/engine.c",
    "sim/queue.c",
    "sim/store_dir.c",
    "sim/determinism.c",
    "sim/net.c",
    "sim/nemesis.c",
    "sim/history.c",
    "sim/lincheck.c",
    "sim/checkers.c",
    "sim/workload.c",
    "sim/workload_stock.c",
    "sim/check_stock.c",
    "sim/scenario.c",
};
pub const tests = [_][]const u8{
    "tests/sim/test_sim_engine.c",
    "tests/sim/test_nemesis.c",
    "tests/sim/test_history.c",
    "tests/sim/test_lincheck.c",
    "tests/sim/test_checkers.c",
    "tests/sim/test_check_stock.c",
    "tests/sim/test_sim_cli.c",
    "tests/sim/test_stock_sim.c",
    "tests/sim/test_embed_user.c",
    "tests/sim/test_scenario.c",
};
