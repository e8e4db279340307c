pub const sources = [_][]const u8{};
