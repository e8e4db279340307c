//! harness/: the layer above actors/ and sim/ that hosts services: the descriptor's loader and
//! boot, the fault generator, the simulated clients, the experiment runner.
pub const lib = [_][]const u8{
    "harness/service.c",
    "harness/service_defaults.c",
    "harness/nemesis.c",
    "harness/client.c",
    "harness/experiment.c",
    "harness/experiment_result.c",
    "harness/randomize.c",
    "harness/builtin.c",
    "harness/builtin_ap.c",
    "harness/builtin_stock.c",
    "harness/builtin_lock.c",
    "harness/workload.c",
    "harness/check_stock.c",
    "harness/check_convergence.c",
    "harness/check_activation.c",
    "harness/builtin_linkv.c",
    "harness/workload_cas.c",
    "harness/builtin_catalog.c",
    "harness/linkv_figures.c",
    "harness/builtin_entity.c",
    "harness/builtin_pubsub.c",
    "harness/check_pubsub.c",
    "harness/check_pubsub_queues.c",
    "harness/builtin_shop.c",
    "harness/check_shop.c",
    "harness/check_common.c",
    "harness/builtin_counter.c",
    "harness/check_counter.c",
    "harness/builtin_set.c",
    "harness/check_set.c",
    "harness/builtin_broadcast.c",
    "harness/check_broadcast.c",
};
/// The built-in services that also build as loadable modules zig-out/lib/troupe-NAME.so:
/// harness/builtin_module.c over these sources, its entry returning tr__builtin_NAME.
pub const module_names = [_][]const u8{ "cp", "ap", "stock", "lock" };
pub const module_sources = [_][]const u8{ "harness/builtin.c", "harness/builtin_ap.c", "harness/builtin_stock.c", "harness/builtin_lock.c", "harness/builtin_catalog.c", "harness/check_stock.c", "harness/builtin_linkv.c", "harness/linkv_figures.c", "harness/workload_cas.c", "harness/builtin_pubsub.c", "harness/check_pubsub.c", "harness/check_pubsub_queues.c", "harness/builtin_counter.c", "harness/check_counter.c", "harness/builtin_set.c", "harness/check_set.c", "harness/builtin_broadcast.c", "harness/check_broadcast.c", "harness/builtin_shop.c", "harness/check_shop.c", "harness/check_common.c", "harness/builtin_module.c" };
/// zig-out/lib/troupe-lin-kv.so: the lin-kv descriptor with its entry point (TR__LINKV_MODULE)
/// and its actor; Raft comes from the host.
pub const linkv_module_sources = [_][]const u8{ "harness/builtin_linkv.c", "harness/linkv_figures.c", "harness/workload_cas.c" };
/// zig-out/lib/troupe-entity.so: the entity workload with its entry point (TR__ENTITY_MODULE);
/// the host behaviour comes from the host.
pub const entity_module_sources = [_][]const u8{ "harness/builtin_entity.c", "harness/workload_cas.c" };
pub const tests = [_][]const u8{
    "tests/harness/test_experiment.c",
    "tests/harness/test_builtin.c",
    "tests/harness/test_builtin_ap.c",
    "tests/harness/test_builtin_stock.c",
    "tests/harness/test_experiment_both.c",
    "tests/harness/test_check_convergence.c",
    "tests/harness/test_check_stock.c",
    "tests/harness/test_stock_sim.c",
    "tests/harness/test_sim_shard.c",
    "tests/harness/test_service_defaults.c",
    "tests/harness/test_linkv.c",
    "tests/harness/test_lock.c",
    "tests/harness/test_entity_sim.c",
    "tests/harness/test_pubsub_sim.c",
    "tests/harness/test_pubsub_queues.c",
    "tests/harness/test_shop_sim.c",
    "tests/harness/test_crdt_sim.c",
    "tests/harness/test_check_crdt.c",
};
