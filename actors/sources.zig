pub const lib = [_][]const u8{};
pub const tests = [_][]const u8{};
