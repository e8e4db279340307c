//! harness/: what hosts services: the descriptor's loader and boot.
pub const lib = [_][]const u8{
    "harness/service.c",
};
