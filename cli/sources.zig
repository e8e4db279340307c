//! cli/: the troupe command.
pub const sources = [_][]const u8{
    "cli/main.c",
    "cli/node_common.c",
    "cli/cmd_node.c",
    "cli/cmd_call.c",
    "cli/cmd_sim.c",
    "cli/sim_shard.c",
    "cli/sim_shrink.c",
    "cli/cmd_check.c",
    "cli/gateway.c",
    "cli/gateway_routes.c",
    "cli/gateway_openapi.c",
    "cli/metrics_http.c",
    "cli/cmd_status.c",
    "cli/gateway_breakers.c",
    "cli/gateway_orders.c",
    "cli/gateway_trace.c",
};
