//! harness/: the layer above actors/ and sim/ that hosts services in a simulation: the
//! fault generator, the simulated clients, the experiment runner.
pub const lib = [_][]const u8{
    "harness/nemesis.c",
    "harness/client.c",
    "harness/experiment.c",
    "harness/experiment_shim.c",
};
pub const tests = [_][]const u8{
    "tests/harness/test_experiment.c",
};
