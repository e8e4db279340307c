// peers.cpp -- the benchmarks of `troupe bench`, written for CAF 0.17 (C++ Actor Framework).
//
// One benchmark per run:
//   peers_caf BENCH [N]            BENCH: pingpong counting threadring skynet spawn_mem
//   peers_caf remote-echo PORTFILE publishes an echo actor on a free loopback port, writes
//                                  the port number to PORTFILE and serves until killed
//   peers_caf remote PORT [N]      pingpong with that echo actor, in another process
// N overrides the size (0 or absent: the standard size; skynet wants a power of ten; remote
// runs N sequential and 25 N pipelined round trips).
//
// Each figure is one line on stdout, in the format of `troupe bench`:
//   peer=caf bench=<name> value=<number> unit=<unit>
// The definitions are those of docs/benchmarks.md. Every benchmark checks its own result
// (each reply, a count, a sum) and prints value=error and exits 1 when it is wrong. The clock
// is std::chrono::steady_clock, read inside the process: start-up is not timed.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

using namespace caf;

using done_atom = atom_constant<atom("done")>;
using fail_atom = atom_constant<atom("fail")>;
using setup_atom = atom_constant<atom("setup")>;
using ack_atom = atom_constant<atom("ack")>;
using count_atom = atom_constant<atom("count")>;

namespace {

constexpr int64_t ring_size = 1000;
constexpr int64_t window = 1000;
constexpr int64_t warmup = 1000;

double now_s() {
    auto t = std::chrono::steady_clock::now().time_since_epoch();
    return std::chrono::duration<double>(t).count();
}

void report(const char *bench, double value, const char *unit) {
    int prec = std::strcmp(unit, "ms") == 0 ? 1 : 0;
    std::printf("peer=caf bench=%s value=%.*f unit=%s\n", bench, prec, value, unit);
    std::fflush(stdout);
}

int fail(const char *bench, const std::string &why) {
    std::fprintf(stderr, "peers_caf: %s: check failed: %s\n", bench, why.c_str());
    std::printf("peer=caf bench=%s value=error unit=-\n", bench);
    return 1;
}

// VmRSS of this process, in bytes (0 if unreadable).
int64_t rss_bytes() {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) {
        return 0;
    }
    char line[256];
    long long kb = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::sscanf(line, "VmRSS: %lld kB", &kb) == 1) {
            break;
        }
    }
    std::fclose(f);
    return static_cast<int64_t>(kb) * 1024;
}

// ---- pingpong: ping sends N, N-1, ..., 1 one at a time; pong returns each one. -------------

behavior pong_actor(event_based_actor *) {
    // The value a handler returns is sent back to the sender.
    return {[](int64_t x) { return x; }};
}

struct ping_state {
    int64_t next = 0;
};

behavior ping_actor(stateful_actor<ping_state> *self, actor pong, int64_t n, actor main) {
    self->state.next = n;
    self->send(pong, n);
    return {[=](int64_t x) {
        auto &st = self->state;
        if (x != st.next) {
            self->send(main, fail_atom::value, x);
            self->quit();
        } else if (--st.next == 0) {
            self->send(main, done_atom::value, n);
            self->quit();
        } else {
            self->send(pong, st.next);
        }
    }};
}

int bench_pingpong(actor_system &sys, int64_t n) {
    scoped_actor self{sys};
    auto pong = sys.spawn(pong_actor);
    double t0 = now_s();
    sys.spawn(ping_actor, pong, n, actor_cast<actor>(self));
    bool ok = false;
    int64_t bad = 0;
    self->receive([&](done_atom, int64_t) { ok = true; }, [&](fail_atom, int64_t x) { bad = x; });
    double secs = now_s() - t0;
    anon_send_exit(pong, exit_reason::user_shutdown);
    if (!ok) {
        return fail("pingpong", "a wrong reply: " + std::to_string(bad));
    }
    report("pingpong", n / secs, "roundtrips/s");
    report("pingpong_msgs", 2.0 * n / secs, "msgs/s");
    return 0;
}

// ---- counting: a producer sends 1 N times to a counter, then asks for the count. -----------

struct counter_state {
    int64_t count = 0;
};

behavior counter_actor(stateful_actor<counter_state> *self) {
    return {
        [=](int64_t x) { self->state.count += x; },
        [=](get_atom) { return self->state.count; },
    };
}

behavior producer_actor(event_based_actor *self, actor counter, int64_t n, actor main) {
    for (int64_t i = 0; i < n; ++i) {
        self->send(counter, int64_t{1});
    }
    self->request(counter, infinite, get_atom::value).then([=](int64_t count) {
        self->send(main, count_atom::value, count);
        self->quit();
    });
    return {[](done_atom) {}};
}

int bench_counting(actor_system &sys, int64_t n) {
    scoped_actor self{sys};
    auto counter = sys.spawn(counter_actor);
    double t0 = now_s();
    sys.spawn(producer_actor, counter, n, actor_cast<actor>(self));
    int64_t count = -1;
    self->receive([&](count_atom, int64_t c) { count = c; });
    double secs = now_s() - t0;
    anon_send_exit(counter, exit_reason::user_shutdown);
    if (count != n) {
        return fail("counting", "count " + std::to_string(count) + ", sent " + std::to_string(n));
    }
    report("counting", n / secs, "msgs/s");
    return 0;
}

// ---- threadring: a token decremented at each hop around a ring of 1,000 actors. ------------

behavior ring_actor(event_based_actor *self, actor main) {
    return {[=](setup_atom, const actor &next) {
        self->become([=](int64_t token) {
            if (token == 0) {
                self->send(main, done_atom::value, token);
            } else if (token < 0) { // a hop lost count
                self->send(main, fail_atom::value, token);
            } else {
                self->send(next, token - 1);
            }
        });
        return ack_atom::value;
    }};
}

int bench_threadring(actor_system &sys, int64_t hops) {
    scoped_actor self{sys};
    std::vector<actor> ring;
    ring.reserve(ring_size);
    for (int64_t i = 0; i < ring_size; ++i) {
        ring.push_back(sys.spawn(ring_actor, actor_cast<actor>(self)));
    }
    for (int64_t i = 0; i < ring_size; ++i) {
        self->send(ring[i], setup_atom::value, ring[(i + 1) % ring_size]);
    }
    for (int64_t i = 0; i < ring_size; ++i) {
        self->receive([](ack_atom) {});
    }
    double t0 = now_s();
    self->send(ring[0], hops);
    bool ok = false;
    int64_t bad = 0;
    self->receive([&](done_atom, int64_t) { ok = true; }, [&](fail_atom, int64_t t) { bad = t; });
    double secs = now_s() - t0;
    for (auto &a : ring) {
        anon_send_exit(a, exit_reason::user_shutdown);
    }
    if (!ok) {
        return fail("threadring", "a token of " + std::to_string(bad));
    }
    report("threadring", hops / secs, "hops/s");
    return 0;
}

// ---- skynet: a tree of 10 children per node; leaves send their number, parents sum. -------

struct skynet_state {
    int64_t sum = 0;
    int pending = 10;
};

behavior skynet_actor(stateful_actor<skynet_state> *self, actor parent, int64_t num, int64_t size) {
    if (size == 1) {
        self->send(parent, num);
        self->quit();
        return {};
    }
    int64_t sub = size / 10;
    for (int64_t i = 0; i < 10; ++i) {
        self->spawn(skynet_actor, actor_cast<actor>(self), num + i * sub, sub);
    }
    return {[=](int64_t v) {
        self->state.sum += v;
        if (--self->state.pending == 0) {
            self->send(parent, self->state.sum);
            self->quit();
        }
    }};
}

int bench_skynet(actor_system &sys, int64_t leaves) {
    int64_t p = leaves;
    while (p > 1 && p % 10 == 0) {
        p /= 10;
    }
    if (p != 1) {
        return fail("skynet", "the size must be a power of ten");
    }
    scoped_actor self{sys};
    double t0 = now_s();
    sys.spawn(skynet_actor, actor_cast<actor>(self), int64_t{0}, leaves);
    int64_t sum = -1;
    self->receive([&](int64_t s) { sum = s; });
    double ms = (now_s() - t0) * 1e3;
    if (sum != leaves * (leaves - 1) / 2) {
        return fail("skynet", "sum " + std::to_string(sum));
    }
    report("skynet", ms, "ms");
    return 0;
}

// ---- spawn_mem: RSS per idle actor, once every actor has run its init. ---------------------

std::atomic<int64_t> idle_started{0};

behavior idle_actor(event_based_actor *) {
    idle_started.fetch_add(1, std::memory_order_relaxed);
    return {[](int64_t) {}};
}

int bench_spawn_mem(actor_system &sys, int64_t n) {
    // CAF actors are reference-counted: the handles must be held. The vector is allocated and
    // filled before the baseline, so its 8 bytes per handle are not counted.
    std::vector<actor> held(static_cast<size_t>(n));
    int64_t before = rss_bytes();
    double t0 = now_s();
    for (int64_t i = 0; i < n; ++i) {
        held[static_cast<size_t>(i)] = sys.spawn(idle_actor);
    }
    while (idle_started.load(std::memory_order_relaxed) < n) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    double secs = now_s() - t0;
    int64_t after = rss_bytes();
    for (auto &a : held) {
        anon_send_exit(a, exit_reason::user_shutdown);
    }
    held.clear();
    report("spawn_mem_rss", double(after - before) / n, "bytes/actor");
    report("spawn_rate", n / secs, "spawns/s");
    return 0;
}

// ---- remote: pingpong with an echo actor in another process, over loopback TCP. ------------

// Sends 1..n with at most `in_flight` outstanding; each reply must be the next number (FIFO
// per pair), so a lost, duplicated or reordered message fails the run.
struct pinger_state {
    int64_t sent = 0;
    int64_t expected = 1;
};

behavior pinger_actor(stateful_actor<pinger_state> *self, actor echo, int64_t n, int64_t in_flight,
                      actor main) {
    auto &st = self->state;
    while (st.sent < n && st.sent < in_flight) {
        self->send(echo, ++st.sent);
    }
    return {[=](int64_t x) {
        auto &s = self->state;
        if (x != s.expected) {
            self->send(main, fail_atom::value, x);
            self->quit();
            return;
        }
        if (s.expected++ == n) {
            self->send(main, done_atom::value, n);
            self->quit();
        } else if (s.sent < n) {
            self->send(echo, ++s.sent);
        }
    }};
}

// Runs one phase; the seconds it took, or a negative number if a reply was wrong.
double remote_phase(actor_system &sys, const actor &echo, int64_t n, int64_t in_flight) {
    scoped_actor self{sys};
    double t0 = now_s();
    sys.spawn(pinger_actor, echo, n, in_flight, actor_cast<actor>(self));
    bool ok = false;
    self->receive([&](done_atom, int64_t) { ok = true; }, [&](fail_atom, int64_t) {});
    double secs = now_s() - t0;
    return ok ? secs : -1.0;
}

int bench_remote(actor_system &sys, uint16_t port, int64_t n_arg) {
    auto echo = sys.middleman().remote_actor("127.0.0.1", port);
    if (!echo) {
        return fail("remote", "cannot reach the echo process: " + sys.render(echo.error()));
    }
    int64_t seq = n_arg > 0 ? n_arg : 20000;
    int64_t pipe = n_arg > 0 ? 25 * n_arg : 500000;
    if (remote_phase(sys, *echo, warmup, 1) < 0) {
        return fail("remote", "a wrong reply in the warm-up");
    }
    double seq_s = remote_phase(sys, *echo, seq, 1);
    double pipe_s = seq_s < 0 ? -1.0 : remote_phase(sys, *echo, pipe, window);
    if (seq_s < 0 || pipe_s < 0) {
        return fail("remote", "a wrong reply");
    }
    report("remote_pingpong_seq", seq / seq_s, "roundtrips/s");
    report("remote_pingpong_seq_rtt", seq_s * 1e6 / seq, "us");
    report("remote_pingpong_pipe1000", pipe / pipe_s, "roundtrips/s");
    report("remote_pingpong_pipe1000_msgs", 2.0 * pipe / pipe_s, "msgs/s");
    return 0;
}

int remote_echo(actor_system &sys, const char *port_file) {
    auto echo = sys.spawn(pong_actor);
    auto port = sys.middleman().publish(echo, 0, "127.0.0.1");
    if (!port) {
        std::fprintf(stderr, "peers_caf: remote-echo: publish: %s\n",
                     sys.render(port.error()).c_str());
        return 2;
    }
    // Written under a temporary name, then renamed: a reader never sees half a number.
    std::string tmp = std::string(port_file) + ".tmp";
    FILE *f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr || std::fprintf(f, "%u\n", unsigned(*port)) < 0 || std::fclose(f) != 0 ||
        std::rename(tmp.c_str(), port_file) != 0) {
        std::fprintf(stderr, "peers_caf: remote-echo: cannot write %s\n", port_file);
        return 2;
    }
    for (;;) {
        pause(); // serves until killed
    }
}

int64_t size_arg(int argc, char **argv, int i, int64_t standard) {
    if (argc <= i) {
        return standard;
    }
    long long v = std::atoll(argv[i]);
    return v > 0 ? v : standard;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: peers_caf BENCH [N] | remote-echo PORTFILE | remote PORT "
                             "[N]\n");
        return 2;
    }
    std::string bench = argv[1];
    actor_system_config cfg;
    if (bench == "remote" || bench == "remote-echo") {
        cfg.load<io::middleman>();
        cfg.set("scheduler.max-threads", 2); // two processes, 2 workers each
    }
    actor_system sys{cfg};
    if (bench == "pingpong") {
        return bench_pingpong(sys, size_arg(argc, argv, 2, 2000000));
    }
    if (bench == "counting") {
        return bench_counting(sys, size_arg(argc, argv, 2, 10000000));
    }
    if (bench == "threadring") {
        return bench_threadring(sys, size_arg(argc, argv, 2, 10000000));
    }
    if (bench == "skynet") {
        return bench_skynet(sys, size_arg(argc, argv, 2, 1000000));
    }
    if (bench == "spawn_mem") {
        return bench_spawn_mem(sys, size_arg(argc, argv, 2, 1000000));
    }
    if (bench == "remote-echo" && argc >= 3) {
        return remote_echo(sys, argv[2]);
    }
    if (bench == "remote" && argc >= 3) {
        long port = std::atol(argv[2]);
        if (port <= 0 || port > 65535) {
            return fail("remote", "bad port");
        }
        return bench_remote(sys, static_cast<uint16_t>(port), size_arg(argc, argv, 3, 0));
    }
    std::fprintf(stderr, "peers_caf: unknown benchmark '%s'\n", bench.c_str());
    return 2;
}
