//! troupe's only build. Zig is pinned in build.zig.zon (minimum_zig_version) and by
//! scripts/bootstrap.sh (ziglang on PyPI). Steps:
//!   zig build            troupe binary, libtroupe.a, troupe.h, troupe.pc -> zig-out/
//!   zig build test       every Criterion suite; fails if a suite fails or ran no test
//!   zig build bench      `troupe bench` (benchmarks are not tests)
//!   zig build fmt        format every C file (.clang-format); the test step checks it
//!   zig build tidy       the include arrows between folders, each foreign library's header
//!                        in its home files, no clock, random source, sleep, thread, socket or
//!                        uv_* call outside the engines (the table: scripts/tidy.rules)
//! Options: -Doptimize=..., -Dtsan=true (ThreadSanitizer on everything we compile).
//! Source lists live next to the sources (runtime/sources.zig, ...) so each subsystem
//! owns its list; all flags and options are here.
const std = @import("std");

const runtime = @import("runtime/sources.zig");
const proto = @import("proto/sources.zig");
const cluster = @import("cluster/sources.zig");
const sim = @import("sim/sources.zig");
const actors = @import("actors/sources.zig");
const harness = @import("harness/sources.zig");
const cli = @import("cli/sources.zig");
const bench = @import("bench/sources.zig");
const examples = @import("examples/sources.zig");

const c_flags = [_][]const u8{
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-fno-strict-aliasing",
    "-D_GNU_SOURCE",
};

// The library's and the troupe binary's sources: only what include/troupe.h declares (between
// its visibility push and pop) is exported; every other non-static symbol stays inside. Tests
// keep default visibility: some define functions that the shared libraries they use must
// reach (test_hostnames's getaddrinfo, which libuv calls).
const lib_c_flags = c_flags ++ [_][]const u8{"-fvisibility=hidden"};

// Concurrency stress programs (plain C, not Criterion), run under -Dtsan=true.
const tsan_stress = [_][]const u8{
    "tests/tsan/stress_runtime.c",
    "tests/tsan/stress_store.c",
    "tests/tsan/stress_cluster.c",
};

const system_libs = [_][]const u8{ "uv", "msgpackc", "lmdb", "ssl", "crypto", "jansson", "pthread", "m" };

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const tsan = b.option(bool, "tsan", "Build everything with ThreadSanitizer") orelse false;

    const lib_sources = runtime.lib ++ proto.lib ++ cluster.lib ++ sim.lib ++ actors.lib ++ actors.raft ++ actors.entity ++ actors.topics ++ actors.linkv ++ harness.lib;

    // libtroupe.a: runtime + proto + cluster + sim + actors (the embedding library).
    const lib_mod = newModule(b, target, optimize, tsan);
    lib_mod.addCSourceFiles(.{ .files = &lib_sources, .flags = &lib_c_flags });
    const lib = b.addLibrary(.{ .linkage = .static, .name = "troupe", .root_module = lib_mod });
    // Debug builds keep Zig's UB sanitizer on for our code; bundle its runtime so that an
    // embedder linking libtroupe.a with gcc or clang needs nothing from Zig.
    lib.bundle_ubsan_rt = true;
    lib.installHeader(b.path("include/troupe.h"), "troupe.h");
    b.installArtifact(lib);

    // The troupe binary: the CLI and the benchmarks, over the same sources.
    const exe = hostExecutable(b, target, optimize, tsan, "troupe", &(lib_sources ++ cli.sources ++ bench.sources));
    // The HTTP gateway (cli/gateway.c, `troupe node --http`) serves through libmicrohttpd.
    exe.root_module.linkSystemLibrary("microhttpd", .{});
    b.installArtifact(exe);

    // The built-in services that also build as loadable modules (harness/builtin_module.c):
    // zig-out/lib/troupe-cp.so, ... built as a user's module is (-shared, without libtroupe),
    // with hidden visibility so that only their entry point is exported.
    var builtin_modules: [harness.module_names.len]*std.Build.Step.Compile = undefined;
    for (harness.module_names, 0..) |name, i| {
        const m = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
        m.addIncludePath(b.path("include"));
        m.addIncludePath(b.path("."));
        const flags = b.allocator.alloc([]const u8, lib_c_flags.len + 1) catch @panic("OOM");
        @memcpy(flags[0..lib_c_flags.len], &lib_c_flags);
        flags[lib_c_flags.len] = b.fmt("-DTR__BUILTIN_MODULE=tr__builtin_{s}", .{name});
        m.addCSourceFiles(.{ .files = &(actors.lib ++ actors.linkv ++ harness.module_sources), .flags = flags });
        const so = b.addLibrary(.{ .linkage = .dynamic, .name = b.fmt("troupe-{s}", .{name}), .root_module = m });
        so.linker_allow_shlib_undefined = true;
        b.getInstallStep().dependOn(&b.addInstallFileWithDir(so.getEmittedBin(), .lib, b.fmt("troupe-{s}.so", .{name})).step);
        builtin_modules[i] = so;
    }

    // zig-out/lib/troupe-lin-kv.so: the lin-kv service as a module; tr_raft_* from its host.
    const linkv_so = builtinModule(b, target, optimize, "troupe-lin-kv", &(actors.linkv ++ harness.linkv_module_sources), "-DTR__LINKV_MODULE");
    b.getInstallStep().dependOn(&b.addInstallFileWithDir(linkv_so.getEmittedBin(), .lib, "troupe-lin-kv.so").step);

    // zig-out/lib/troupe-entity.so: the entity workload as a module; tr_entity_* from its host.
    const entity_so = builtinModule(b, target, optimize, "troupe-entity", &harness.entity_module_sources, "-DTR__ENTITY_MODULE");
    b.getInstallStep().dependOn(&b.addInstallFileWithDir(entity_so.getEmittedBin(), .lib, "troupe-entity.so").step);

    // pkg-config file for embedders. libtroupe is a static library: what it needs is needed by
    // every program that links it, with or without --static, so nothing is private.
    const pc = b.addWriteFiles();
    const pc_file = pc.add("troupe.pc", b.fmt(
        \\prefix=${{pcfiledir}}/../..
        \\libdir=${{prefix}}/lib
        \\includedir=${{prefix}}/include
        \\
        \\Name: troupe
        \\Description: actor runtime with a deterministic simulator
        \\Version: 0.1.0
        \\Requires: libuv lmdb jansson libssl libcrypto
        \\Libs: -L${{libdir}} -ltroupe -lpthread -lm
        \\Cflags: -I${{includedir}}
        \\
    , .{}));
    b.getInstallStep().dependOn(&b.addInstallFileWithDir(pc_file, .lib, "pkgconfig/troupe.pc").step);

    // zig build run -- ARGS
    const run_cmd = b.addRunArtifact(exe);
    if (b.args) |args| run_cmd.addArgs(args);
    b.step("run", "Run troupe with arguments after --").dependOn(&run_cmd.step);

    // zig build bench -- [NAME...]
    const bench_cmd = b.addRunArtifact(exe);
    bench_cmd.addArg("bench");
    if (b.args) |args| bench_cmd.addArgs(args);
    b.step("bench", "Run troupe bench (not a test; figures only)").dependOn(&bench_cmd.step);

    // zig build test: one executable per suite, each run through tests/run_suite.sh which
    // fails when the suite fails or when it ran no test (the --gc-sections trap).
    const test_step = b.step("test", "Run every Criterion suite");
    const suite_filter = b.option([]const u8, "suite", "Only build and run suites whose path contains this");
    const all_tests = runtime.tests ++ proto.tests ++ cluster.tests ++ sim.tests ++ actors.tests ++ harness.tests ++ bench.tests;
    // Criterion cannot run under TSan (its sandbox maps memory where TSan keeps its shadow:
    // "Could not initialize inheritable arena"), so with -Dtsan=true the test step runs the
    // plain stress programs of tests/tsan/ instead, which print "N passed, M failed".
    if (tsan) {
        // The planted race must be reported: proof that the instrumentation is live.
        const pmod = newModule(b, target, optimize, tsan);
        pmod.addCSourceFiles(.{ .files = &.{"tests/tsan/planted_race.c"}, .flags = &c_flags });
        const planted = b.addExecutable(.{ .name = "planted_race", .root_module = pmod });
        const prun = b.addSystemCommand(&.{ "sh", "tests/tsan/expect_race.sh" });
        prun.addArtifactArg(planted);
        prun.has_side_effects = true;
        test_step.dependOn(&prun.step);
        for (tsan_stress) |path| {
            const smod = newModule(b, target, optimize, tsan);
            smod.addCSourceFiles(.{ .files = &.{path}, .flags = &c_flags });
            smod.linkLibrary(lib);
            linkSystem(smod);
            const s = b.addExecutable(.{ .name = std.fs.path.stem(path), .root_module = smod });
            const run = b.addRunArtifact(s);
            run.setEnvironmentVariable("TSAN_OPTIONS", "halt_on_error=1 exitcode=66");
            run.has_side_effects = true;
            test_step.dependOn(&run.step);
        }
    }
    // zig build stress: the same stress programs as plain executables (for valgrind).
    const stress_step = b.step("stress", "Build the concurrency stress programs into zig-out/bin");
    for (tsan_stress) |path| {
        const smod = newModule(b, target, optimize, tsan);
        smod.addCSourceFiles(.{ .files = &.{path}, .flags = &c_flags });
        smod.linkLibrary(lib);
        linkSystem(smod);
        const s = b.addExecutable(.{ .name = std.fs.path.stem(path), .root_module = smod });
        stress_step.dependOn(&b.addInstallArtifact(s, .{}).step);
    }
    for (all_tests) |path| {
        if (tsan) break;
        if (suite_filter) |f| if (std.mem.indexOf(u8, path, f) == null) continue;
        criterionSuite(b, target, optimize, lib, exe, test_step, testHelpers(path), path);
    }

    // ---- examples: services as a user writes them (examples/sources.zig) ----
    // Each is a module installed as lib/troupe-NAME.so, built -shared without libtroupe: its
    // tr_* references resolve from the program that loads it (the troupe binary). Its tests link
    // the example's sources with libtroupe, as a user's own test would.
    const examples_step = b.step("examples", "Build the example services into zig-out/lib");
    for (examples.all) |ex| {
        const emod = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
        emod.addIncludePath(b.path("include"));
        emod.addCSourceFiles(.{ .files = ex.sources, .flags = &c_flags });
        const so = b.addLibrary(.{ .linkage = .dynamic, .name = b.fmt("troupe-{s}", .{ex.name}), .root_module = emod });
        so.linker_allow_shlib_undefined = true;
        const so_install = b.addInstallFileWithDir(so.getEmittedBin(), .lib, b.fmt("troupe-{s}.so", .{ex.name}));
        b.getInstallStep().dependOn(&so_install.step);
        examples_step.dependOn(&so_install.step);
        // The account service on three real nodes across a kill -9 (examples/account/kill9.sh).
        if (!tsan and std.mem.eql(u8, ex.name, "account") and
            (suite_filter == null or std.mem.indexOf(u8, "examples/account/kill9.sh", suite_filter.?) != null))
        {
            const k9 = b.addSystemCommand(&.{ "sh", "examples/account/kill9.sh" });
            k9.addFileArg(exe.getEmittedBin());
            k9.addFileArg(so.getEmittedBin());
            k9.has_side_effects = true;
            test_step.dependOn(&k9.step);
        }
        for (ex.tests) |path| {
            if (tsan) break;
            if (suite_filter) |f| if (std.mem.indexOf(u8, path, f) == null) continue;
            criterionSuite(b, target, optimize, lib, exe, test_step, ex.sources, path);
        }
    }

    // The durable outbox across 100 exits with status 137 between a commit and its publish on
    // a real node (tests/actors/pubsub_kill9.sh), and its planted volatile-outbox bug caught.
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/actors/pubsub_kill9.sh", suite_filter.?) != null)) {
        const k9 = b.addSystemCommand(&.{ "sh", "tests/actors/pubsub_kill9.sh" });
        k9.addFileArg(exe.getEmittedBin());
        k9.has_side_effects = true;
        test_step.dependOn(&k9.step);
        const planted = b.addSystemCommand(&.{ "sh", "-c", "if sh tests/actors/pubsub_kill9.sh \"$0\" 3 volatile-outbox; then echo 'pubsub_kill9.sh: planted volatile-outbox not caught'; exit 1; else echo 'pubsub_kill9.sh: planted volatile-outbox caught'; fi" });
        planted.addFileArg(exe.getEmittedBin());
        planted.has_side_effects = true;
        test_step.dependOn(&planted.step);
    }

    // The fuzz targets of tests/fuzz/ (libFuzzer with Debian's clang-14, scripts/fuzz.sh),
    // 10 s each from the corpus in the repository. -Dsuite=fuzz runs only these.
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/fuzz", suite_filter.?) != null)) {
        const fuzz = b.addSystemCommand(&.{ "sh", "scripts/fuzz.sh", "--seconds", "10" });
        fuzz.has_side_effects = true;
        test_step.dependOn(&fuzz.step);
    }

    // The service loader's suite: test service modules built -shared without libtroupe (as a
    // user builds one), and the suite linked as the troupe binary is, so that it can load them.
    // tests/harness/run.sh checks that no module defines a tr_ symbol, then runs the suite
    // with the modules' paths in its environment. -Dsuite=harness runs only this.
    const want_harness = if (suite_filter) |f| std.mem.indexOf(u8, "tests/harness/test_service.c", f) != null else true;
    if (!tsan and want_harness) {
        const smod = newModule(b, target, optimize, tsan);
        smod.addCSourceFiles(.{ .files = &lib_sources, .flags = &lib_c_flags });
        smod.addCSourceFiles(.{ .files = &.{"tests/harness/test_service.c"}, .flags = &c_flags });
        smod.addIncludePath(b.path("tests"));
        linkSystem(smod);
        smod.linkSystemLibrary("criterion", .{});
        const suite = b.addExecutable(.{ .name = "test_service", .root_module = smod });
        suite.rdynamic = true;
        suite.link_gc_sections = false;
        const run = b.addSystemCommand(&.{ "sh", "tests/harness/run.sh" });
        run.addArtifactArg(suite);
        run.addFileArg(exe.getEmittedBin());
        for ([_][]const u8{ "svc_test", "svc_abi", "svc_initfail", "svc_noentry", "svc_owncopy" }) |m| {
            run.addFileArg(serviceModule(b, target, optimize, m).getEmittedBin());
        }
        run.has_side_effects = true;
        test_step.dependOn(&run.step);
        b.step("test-test_service", "Run only tests/harness/test_service.c").dependOn(&run.step);
    }

    // The public interface as an embedder and a module see it (not under TSan, whose runtime
    // exports its interceptors from every binary):
    //  - libtroupe.a, the troupe binary and a host linked as it is export exactly troupe.h;
    //  - a module built -shared without libtroupe, dlopened by that host, resolves tr_* from it;
    //  - a program built from the installed prefix with pkg-config links with and without
    //    --static, and troupe.h compiles as C++17 with the C layout.
    // -Dsuite=embed runs only these.
    const want_embed = if (suite_filter) |f| std.mem.indexOf(u8, "tests/embed", f) != null else true;
    if (!tsan and want_embed) {
        const host = hostExecutable(b, target, optimize, tsan, "embed_host", &(lib_sources ++ [_][]const u8{"tests/embed/host.c"}));
        const module_mod = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
        module_mod.addIncludePath(b.path("include"));
        module_mod.addCSourceFiles(.{ .files = &.{"tests/embed/module.c"}, .flags = &c_flags });
        const module = b.addLibrary(.{ .linkage = .dynamic, .name = "embed_module", .root_module = module_mod });
        module.linker_allow_shlib_undefined = true;

        const exports = b.addSystemCommand(&.{ "sh", "scripts/exports.sh", "include/troupe.h" });
        exports.addFileArg(lib.getEmittedBin());
        exports.addFileArg(exe.getEmittedBin());
        exports.addFileArg(host.getEmittedBin());
        exports.has_side_effects = true;
        test_step.dependOn(&exports.step);

        const dlopen = b.addSystemCommand(&.{ "sh", "tests/embed/dlopen.sh" });
        dlopen.addFileArg(host.getEmittedBin());
        dlopen.addFileArg(module.getEmittedBin());
        dlopen.has_side_effects = true;
        test_step.dependOn(&dlopen.step);

        const embed = b.addSystemCommand(&.{ "sh", "tests/embed/embed.sh", b.install_prefix });
        embed.step.dependOn(b.getInstallStep());
        embed.has_side_effects = true;
        test_step.dependOn(&embed.step);
    }

    // troupe sim --load end to end with a service module (tests/harness/load.sh).
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/harness", suite_filter.?) != null)) {
        const svc_mod = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
        svc_mod.addIncludePath(b.path("include"));
        svc_mod.addCSourceFiles(.{ .files = &.{"tests/harness/svc_reg.c"}, .flags = &c_flags });
        const svc = b.addLibrary(.{ .linkage = .dynamic, .name = "harness_svc_reg", .root_module = svc_mod });
        svc.linker_allow_shlib_undefined = true;
        const load = b.addSystemCommand(&.{ "sh", "tests/harness/load.sh" });
        load.addFileArg(exe.getEmittedBin());
        load.addFileArg(svc.getEmittedBin());
        load.has_side_effects = true;
        test_step.dependOn(&load.step);
        // The built-in services as modules: nm, a 3-node loopback cluster, troupe sim (builtin_node.sh).
        const node_cp = b.addSystemCommand(&.{ "sh", "tests/harness/builtin_node.sh" });
        node_cp.addFileArg(exe.getEmittedBin());
        for (builtin_modules) |so| node_cp.addFileArg(so.getEmittedBin()); // cp, ap, stock
        node_cp.has_side_effects = true;
        test_step.dependOn(&node_cp.step);
        // Entities on a real 3-node loopback cluster: the owner's kill -9 (entity_node.sh).
        const node_entity = b.addSystemCommand(&.{ "sh", "tests/cluster/entity_node.sh" });
        node_entity.addFileArg(exe.getEmittedBin());
        node_entity.addFileArg(entity_so.getEmittedBin());
        node_entity.has_side_effects = true;
        test_step.dependOn(&node_entity.step);
    }

    // `troupe node --metrics` checked by promtool and `troupe status` on three loopback nodes,
    // one of them killed with SIGKILL (tests/metrics/metrics_node.sh).
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/metrics/metrics_node.sh", suite_filter.?) != null)) {
        const mn = b.addSystemCommand(&.{ "sh", "tests/metrics/metrics_node.sh" });
        mn.addFileArg(exe.getEmittedBin());
        mn.has_side_effects = true;
        test_step.dependOn(&mn.step);
    }

    // The HTTP gateway on three loopback nodes: curl-like requests, hostile HTTP, the contract
    // checked by openapi-spec-validator and schemathesis (tests/gateway/test_gateway.py).
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/gateway/test_gateway.py", suite_filter.?) != null)) {
        const gw = b.addSystemCommand(&.{ "python3", "tests/gateway/test_gateway.py" });
        gw.addFileArg(exe.getEmittedBin());
        gw.has_side_effects = true;
        test_step.dependOn(&gw.step);
    }
    // kill -9 in a 4-node shop behind the gateway: no hang, no acknowledged order lost.
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/gateway/test_shop_kill9.py", suite_filter.?) != null)) {
        const k9 = b.addSystemCommand(&.{ "python3", "tests/gateway/test_shop_kill9.py" });
        k9.addFileArg(exe.getEmittedBin());
        k9.has_side_effects = true;
        test_step.dependOn(&k9.step);
    }

    // The deployment: the Kubernetes manifests rendered and validated offline (validate.py),
    // the image's runtime libraries against the binary's (runtime_libs.sh), and the image's
    // file system running a 3-node cluster in network namespaces with the StatefulSet's
    // arguments (image_cluster.sh; skips, saying why, without root, mmdebstrap or network
    // namespaces). -Dsuite=deploy runs only these.
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/deploy", suite_filter.?) != null)) {
        const kv = b.addSystemCommand(&.{ "python3", "tests/deploy/validate.py" });
        kv.has_side_effects = true;
        test_step.dependOn(&kv.step);
        const libs = b.addSystemCommand(&.{ "sh", "tests/deploy/runtime_libs.sh" });
        libs.addFileArg(exe.getEmittedBin());
        libs.has_side_effects = true;
        test_step.dependOn(&libs.step);
        const img = b.addSystemCommand(&.{ "sh", "tests/deploy/image_cluster.sh" });
        img.addFileArg(exe.getEmittedBin());
        img.has_side_effects = true;
        test_step.dependOn(&img.step);
    }

    // Tracing spans on three loopback nodes, read back with jsonschema against Zipkin v2's
    // span definition (tests/cluster/test_spans.py).
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/cluster/test_spans.py", suite_filter.?) != null)) {
        const spans = b.addSystemCommand(&.{ "python3", "tests/cluster/test_spans.py" });
        spans.addFileArg(exe.getEmittedBin());
        spans.has_side_effects = true;
        test_step.dependOn(&spans.step);
    }
    // Spans of a simulated run (troupe sim --spans), read back the same way
    // (tests/sim/test_sim_spans.py).
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/sim/test_sim_spans.py", suite_filter.?) != null)) {
        const sim_spans = b.addSystemCommand(&.{ "python3", "tests/sim/test_sim_spans.py" });
        sim_spans.addFileArg(exe.getEmittedBin());
        sim_spans.has_side_effects = true;
        test_step.dependOn(&sim_spans.step);
    }
    // The gateway's traceparent on two loopback nodes, read back the same way
    // (tests/cluster/test_gateway_spans.py).
    if (!tsan and (suite_filter == null or std.mem.indexOf(u8, "tests/cluster/test_gateway_spans.py", suite_filter.?) != null)) {
        const gw_spans = b.addSystemCommand(&.{ "python3", "tests/cluster/test_gateway_spans.py" });
        gw_spans.addFileArg(exe.getEmittedBin());
        gw_spans.has_side_effects = true;
        test_step.dependOn(&gw_spans.step);
    }

    // zig build tidy
    const tidy = b.addSystemCommand(&.{ "sh", "scripts/tidy.sh" });
    tidy.has_side_effects = true;
    b.step("tidy", "Check the include arrows, foreign headers and the engine seam").dependOn(&tidy.step);
    test_step.dependOn(&tidy.step);

    // zig build fmt / the test step's formatting check (.clang-format, scripts/format.sh)
    const fmt = b.addSystemCommand(&.{ "sh", "scripts/format.sh" });
    fmt.has_side_effects = true;
    b.step("fmt", "Format every C file with the checked-in .clang-format").dependOn(&fmt.step);
    const fmt_check = b.addSystemCommand(&.{ "sh", "scripts/format.sh", "--check" });
    fmt_check.has_side_effects = true;
    test_step.dependOn(&fmt_check.step);
}

/// A program that hosts modules, linked as the troupe binary is: the library's sources in it,
/// hidden visibility, and the public API exported (rdynamic exports exactly the symbols of
/// default visibility, which are troupe.h's), so that a module it loads resolves tr_* from it
/// and never carries a second copy of the runtime.
/// One Criterion suite (path, linked with libtroupe and `extra` sources) run through
/// tests/run_suite.sh, which fails when the suite fails or ran no test; also its own
/// `test-NAME` step. Never under TSan (Criterion's sandbox cannot run there).
fn criterionSuite(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, lib: *std.Build.Step.Compile, exe: *std.Build.Step.Compile, test_step: *std.Build.Step, extra: []const []const u8, path: []const u8) void {
    const tmod = newModule(b, target, optimize, false);
    if (extra.len > 0) tmod.addCSourceFiles(.{ .files = extra, .flags = &c_flags });
    tmod.addCSourceFiles(.{ .files = &.{path}, .flags = &c_flags });
    tmod.addIncludePath(b.path("tests"));
    tmod.linkLibrary(lib);
    linkSystem(tmod);
    tmod.linkSystemLibrary("criterion", .{});
    const name = std.fs.path.stem(path);
    const t = b.addExecutable(.{ .name = name, .root_module = tmod });
    t.link_gc_sections = false; // keep Criterion's test sections
    const run = b.addSystemCommand(&.{ "sh", "tests/run_suite.sh" });
    run.addArtifactArg(t);
    run.addArg(name);
    run.addFileArg(exe.getEmittedBin()); // suites that drive the CLI find it here
    run.has_side_effects = true;
    test_step.dependOn(&run.step);
    b.step(b.fmt("test-{s}", .{name}), b.fmt("Run only {s}", .{path})).dependOn(&run.step);
}

fn hostExecutable(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, tsan: bool, name: []const u8, sources: []const []const u8) *std.Build.Step.Compile {
    const m = newModule(b, target, optimize, tsan);
    m.addCSourceFiles(.{ .files = sources, .flags = &lib_c_flags });
    linkSystem(m);
    const exe = b.addExecutable(.{ .name = name, .root_module = m });
    exe.rdynamic = true;
    // Release builds link-time optimise: the hot paths cross files (actor.c -> engine ->
    // sim/net.c -> codec.c), and LTO inlines across them.
    if (optimize != .Debug and !tsan) {
        exe.lto = .full;
    }
    return exe;
}

/// A service module as a user builds one: -shared, not linked with libtroupe (its tr_* calls
/// resolve to the host that loads it).
fn serviceModule(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, name: []const u8) *std.Build.Step.Compile {
    const m = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
    m.addIncludePath(b.path("include"));
    m.addCSourceFiles(.{ .files = &.{b.fmt("tests/harness/{s}.c", .{name})}, .flags = &c_flags });
    const lib = b.addLibrary(.{ .linkage = .dynamic, .name = name, .root_module = m });
    lib.linker_allow_shlib_undefined = true;
    return lib;
}

fn newModule(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, tsan: bool) *std.Build.Module {
    const m = b.createModule(.{
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .sanitize_thread = if (tsan) true else null,
    });
    m.addIncludePath(b.path("include"));
    m.addIncludePath(b.path("."));
    return m;
}

fn linkSystem(m: *std.Build.Module) void {
    for (system_libs) |l| m.linkSystemLibrary(l, .{});
}

/// A built-in service built as a module, as the cp/ap/stock ones are: -shared, without
/// libtroupe, hidden visibility (only its entry point is exported), one extra define.
fn builtinModule(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.OptimizeMode, name: []const u8, files: []const []const u8, define: []const u8) *std.Build.Step.Compile {
    const m = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
    m.addIncludePath(b.path("include"));
    m.addIncludePath(b.path("."));
    m.addCSourceFiles(.{ .files = files, .flags = &(lib_c_flags ++ [_][]const u8{define}) });
    const so = b.addLibrary(.{ .linkage = .dynamic, .name = name, .root_module = m });
    so.linker_allow_shlib_undefined = true;
    return so;
}

/// The shared test helper sources (.c) a suite links besides its own file.
const reg_clients_c = [_][]const u8{"tests/cluster/reg_clients.c"};
fn testHelpers(path: []const u8) []const []const u8 {
    const users = [_][]const u8{ "tests/cluster/test_real_history.c", "tests/cluster/test_soak.c", "tests/chaos/test_real_chaos.c" };
    for (users) |u| if (std.mem.eql(u8, u, path)) return &reg_clients_c;
    return &.{};
}
