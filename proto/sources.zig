//! proto/: the cluster protocol core, sans-I/O (framing, handshake/auth, membership and
//! gossip, phi accrual, reconnect backoff, the connection state machine). Bytes and time in,
//! bytes and events out; driven by cluster/ (libuv) on a real node and by sim/ in a simulation.
pub const lib = [_][]const u8{
    "proto/frame.c",
    "proto/handshake.c",
    "proto/membership.c",
    "proto/link.c",
    "proto/outq.c",
};
pub const tests = [_][]const u8{};
