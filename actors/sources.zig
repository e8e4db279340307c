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
    "actors/lock.c",
    "actors/catalog.c",
    "actors/shop_wire.c",
    "actors/orders_entity.c",
    "actors/orders.c",
    "actors/orders_client.c",
    "actors/payment.c",
    "actors/stock_orders.c",
    "actors/shop_audit.c",
    "actors/crdt_durable.c",
    "actors/counter.c",
    "actors/orset.c",
    "actors/orset_replica.c",
    "actors/broadcast.c",
};
/// Raft (troupe.h's tr_raft_*): in the library only, so that a service module built from
/// actors/ takes it from its host and defines no tr_ symbol.
pub const raft = [_][]const u8{
    "actors/raft_log.c",
    "actors/raft.c",
    "actors/raft_election.c",
    "actors/raft_replicate.c",
    "actors/raft_members.c",
};
/// Entities (troupe.h's tr_entity_*): in the library only, like Raft.
pub const entity = [_][]const u8{
    "actors/entity_place.c",
    "actors/entity_store.c",
    "actors/entity.c",
};
/// Topics (troupe.h's tr_topic*, tr_outbox_*): in the library only, so that a service
/// module built from actors/ takes them from its host and defines no tr_ symbol.
pub const topics = [_][]const u8{
    "actors/topics.c",
    "actors/topic_client.c",
    "actors/outbox.c",
};
/// lin-kv's replica actor: in the library and in zig-out/lib/troupe-lin-kv.so.
pub const linkv = [_][]const u8{
    "actors/linkv.c",
};
pub const tests = [_][]const u8{
    "tests/actors/test_register_wire.c",
    "tests/actors/test_registers.c",
    "tests/actors/test_stock.c",
    "tests/actors/test_node_actors.c",
    "tests/actors/test_raft.c",
    "tests/actors/test_entity.c",
    "tests/actors/test_catalog.c",
    "tests/actors/test_topics.c",
    "tests/actors/test_shop.c",
};
