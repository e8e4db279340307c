//! sim/: the simulator, histories and checkers.
pub const lib = [_][]const u8{
    "sim/history.c",
    "sim/lincheck.c",
    "sim/checkers.c",
};
pub const tests = [_][]const u8{
    "tests/sim/test_history.c",
    "tests/sim/test_lincheck.c",
    "tests/sim/test_checkers.c",
};
