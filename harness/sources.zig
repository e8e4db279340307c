//! harness/: the layer above actors/ and sim/ that hosts services: the descriptor's loader and
//! boot, the fault generator, the simulated clients, the experiment runner.
pub const lib = [_][]const u8{
    "harness/service.c",
    "harness/nemesis.c",
    "harness/client.c",
    "harness/experiment.c",
};
pub const tests = [_][]const u8{
    "tests/harness/test_experiment.c",
};
