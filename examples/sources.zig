//! examples/: services written the way a user writes one, against troupe.h alone. Each builds
//! as a module (zig-out/lib/troupe-NAME.so, not linked with libtroupe: its tr_* references
//! resolve from the program that loads it) and has a simulation test run by `zig build test`.
pub const Example = struct {
    name: []const u8,
    sources: []const []const u8,
    tests: []const []const u8,
};

pub const all = [_]Example{
    .{ .name = "account", .sources = &.{"examples/account/account.c"}, .tests = &.{"examples/account/test_account.c"} },
};
