//! runtime/: actors, mailboxes, scheduler, timers, supervision, registry, codec, store,
//! the engine seam and the real engine.
pub const lib = [_][]const u8{
    "runtime/error.c",
    "runtime/assert.c",
    "runtime/pool.c",
    "runtime/actor.c",
    "runtime/node.c",
    "runtime/engine_real.c",
    "runtime/store.c",
    "runtime/codec.c",
    "runtime/mp.c",
    "runtime/supervisor.c",
};
pub const tests = [_][]const u8{
    "tests/runtime/test_error.c",
    "tests/runtime/test_assert.c",
    "tests/runtime/test_actor.c",
    "tests/runtime/test_store.c",
    "tests/runtime/test_codec.c",
    "tests/runtime/test_mp.c",
    "tests/runtime/test_pool.c",
    "tests/runtime/test_supervisor.c",
    "tests/runtime/test_sched.c",
    "tests/runtime/test_store_crash.c",
    "tests/runtime/test_store_actor.c",
    "tests/runtime/test_tidy.c",
};
