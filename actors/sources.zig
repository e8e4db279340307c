//! actors/: the capabilities (replicated registers, ...).
pub const lib = [_][]const u8{
    "actors/register_wire.c",
    "actors/registers.c",
    "actors/register_cp.c",
    "actors/register_ap.c",
    "actors/stock_wire.c",
    "actors/stock.c",
    "actors/echo.c",
    "actors/proxy.c",
    "actors/kv.c",
};
pub const tests = [_][]const u8{
    "tests/actors/test_register_wire.c",
    "tests/actors/test_registers.c",
    "tests/actors/test_stock.c",
    "tests/actors/test_node_actors.c",
};
