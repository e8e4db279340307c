//! cluster/: the libuv TCP transport that drives the protocol core of proto/ on a real node.
pub const lib = [_][]const u8{
    "cluster/log.c",
    "cluster/address.c",
    "cluster/conn.c",
    "cluster/peer.c",
    "cluster/outbound.c",
    "cluster/inbound.c",
    "cluster/dial.c",
    "cluster/transport.c",
    "cluster/cluster.c",
};
pub const tests = [_][]const u8{
    "tests/cluster/test_frame.c",
    "tests/cluster/test_outq.c",
    "tests/cluster/test_link.c",
    "tests/cluster/test_handshake.c",
    "tests/cluster/test_transport.c",
    "tests/cluster/test_hostnames.c",
    "tests/cluster/test_membership.c",
    "tests/cluster/test_node.c",
    "tests/cluster/test_harden.c",
    "tests/cluster/test_cluster.c",
    "tests/cluster/test_client.c",
    "tests/cluster/test_backpressure.c",
    "tests/cluster/test_real_history.c",
    "tests/cluster/test_linkv_nodes.c",
    "tests/cluster/test_soak.c",
};
