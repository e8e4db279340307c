/* A real `troupe node` against hostile peers on 127.0.0.1, before and after authentication:
 * partial frames without a secret cost the node no memory, a flood of idle connections from
 * one host does not lock a client out, and a client is kept in its role (no gossip, no
 * system messages, envelopes for this node only, closed when idle or stalled mid-frame).
 * Every test is bounded (.timeout) and kills its children (proc_teardown). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cluster/membership.h"
#include "proc.h"
#include "rawpeer.h"
#include "runtime/codec.h"
#include "runtime/internal.h"

TestSuite(harden, .init = proc_setup, .fini = proc_teardown, .timeout = 120);

static const int seed0[] = {0, -1};
/* proc.h's helpers that this suite does not need */
__attribute__((used)) static void *const unused_helpers[] = {(void *)proc_signal,
                                                             (void *)call_until};
#define SECRET "cluster-test-secret-0123456789"

/* The resident set of process `pid` in KiB (/proc/PID/status VmRSS). */
static long rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f, "no %s", path);
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    cr_assert_gt(kib, 0);
    return kib;
}

#define RAWC 0x80001234u

/* A connection to n1 authenticated as client `id` (named rawc-ID). */
static int raw_client(uint32_t id) {
    int fd = raw_connect(port_base);
    cr_assert_geq(fd, 0);
    char name[32];
    snprintf(name, sizeof name, "rawc-%x", id);
    cr_assert_eq(raw_handshake(fd, "troupe", name, id, SECRET, strlen(SECRET), true, NULL), 0);
    return fd;
}

/* An envelope frame (length prefix included) from raw client `from` to "echo" on node `to`. */
static size_t envelope(uint8_t *buf, size_t cap, uint32_t from, uint32_t to, uint32_t type,
                       uint32_t flags) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.from = (tr_addr){from, 0, 1};
    m.to = (tr_addr){to, 0, 0};
    m.corr = (1ull << 63) | 7;
    m.flags_ = flags;
    m.body = (const uint8_t *)"\x2a";
    m.body_len = 1;
    size_t len;
    cr_assert_eq(tr__envelope_encode(&m, "echo", NULL, buf + 4, cap - 4, &len), 0);
    tr_store_be32(buf, (uint32_t)len);
    return len + 4;
}

static void good_call_works(const char *after) {
    char out[256];
    int rc = call(0, "echo", "300", "[\"still\", \"here\"]", out, sizeof out, NULL, 3000);
    cr_assert_eq(rc, 0, "node stopped serving after: %s", after);
    cr_assert_str_eq(out, "[\"still\",\"here\"]", "after %s", after);
}

/* Sends bytes on an authenticated client connection, expects the node to close it with a
 * log line holding `reason`, then checks that a good client is still served. */
static void refused(const void *bytes, size_t len, const char *reason) {
    int before = log_count("n1", reason);
    int fd = raw_client(RAWC);
    raw_write_all(fd, bytes, len);
    cr_assert(raw_wait_closed(fd, 3000), "not closed: %s", reason);
    close(fd);
    cr_assert(log_wait("n1", reason, before + 1, 2000), "no log line '%s':\n%s", reason,
              log_tail("n1"));
    good_call_works(reason);
}

/* ---- before authentication ---- */

#define PARTIAL_FRAMES 250

Test(harden, partial_frames_without_a_secret_leave_the_node_small) {
    /* A long handshake deadline: the frame limit, not the timeout, must do the work. */
    int n1 = start_node("n1", 0, NULL, "--handshake-timeout-ms", "60000", NULL);
    good_call_works("start");
    long before = rss_kib(procs[n1]);
    static uint8_t frame[4 + (1 << 20)];
    tr_store_be32(frame, 1u << 20); /* a 1 MiB frame, of which all but the last byte is sent */
    int fds[PARTIAL_FRAMES];
    for (int i = 0; i < PARTIAL_FRAMES; i++) {
        fds[i] = raw_connect(port_base);
        cr_assert_geq(fds[i], 0);
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        (void)raw_write_all(fds[i], frame, sizeof frame - 1); /* fails once the node closes */
    }
    usleep(300000); /* let the node read what it will */
    long after = rss_kib(procs[n1]);
    for (int i = 0; i < PARTIAL_FRAMES; i++) {
        close(fds[i]);
    }
    fprintf(stderr, "harden: %d partial 1 MiB frames without a secret: node RSS %ld -> %ld KiB\n",
            PARTIAL_FRAMES, before, after);
    cr_assert_lt(after - before, 4096, "RSS grew by %ld KiB", after - before);
    cr_assert(log_wait("n1", "over limit 4096 before authentication", PARTIAL_FRAMES, 5000), "%s",
              log_tail("n1"));
    good_call_works("partial frames");
}

/* The flood: one thread opening connections to the node as fast as it accepts them, never
 * sending a byte, keeping the last FLOOD_KEEP open. */
#define FLOOD_KEEP 1000
static atomic_bool flood_stop;
static atomic_long flood_opened;

static void *flood(void *arg) {
    int port = *(int *)arg;
    static int ring[FLOOD_KEEP];
    int n = 0;
    for (int i = 0; i < FLOOD_KEEP; i++) {
        ring[i] = -1;
    }
    while (!atomic_load(&flood_stop)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000}; /* bounds connect() too */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            continue;
        }
        atomic_fetch_add(&flood_opened, 1);
        if (ring[n] >= 0) {
            close(ring[n]);
        }
        ring[n] = fd;
        n = (n + 1) % FLOOD_KEEP;
    }
    for (int i = 0; i < FLOOD_KEEP; i++) {
        if (ring[i] >= 0) {
            close(ring[i]);
        }
    }
    return NULL;
}

#define FLOOD_CALLS 40

Test(harden, an_idle_connection_flood_does_not_lock_a_client_out) {
    start_node("n1", 0, NULL, NULL);
    good_call_works("start");
    int port = port_base;
    pthread_t th;
    atomic_store(&flood_stop, false);
    atomic_store(&flood_opened, 0);
    cr_assert_eq(pthread_create(&th, NULL, flood, &port), 0);
    /* the handshake slots are full before the first call */
    cr_assert(log_wait("n1", "event=preauth_pressure evicted=", 1, 10000), "no eviction:\n%s",
              log_tail("n1"));
    int ok = 0;
    for (int i = 0; i < FLOOD_CALLS; i++) {
        char out[64], body[16];
        snprintf(body, sizeof body, "%d", i);
        if (call(0, "echo", "300", body, out, sizeof out, NULL, 3000) == 0 && !strcmp(out, body)) {
            ok++;
        }
    }
    atomic_store(&flood_stop, true);
    pthread_join(th, NULL);
    fprintf(stderr, "harden: %d of %d calls answered while %ld idle connections were opened\n", ok,
            FLOOD_CALLS, atomic_load(&flood_opened));
    cr_assert_geq(ok * 100, FLOOD_CALLS * 95, "%d of %d calls answered:\n%s", ok, FLOOD_CALLS,
                  log_tail("n1"));
    cr_assert_gt(atomic_load(&flood_opened), 256, "the flood never filled the slots");
}

/* ---- roles after authentication ---- */

Test(harden, a_clients_gossip_is_refused_and_teaches_no_member) {
    start_node("n1", 0, NULL, NULL);
    start_node("n2", 1, seed0, NULL);
    cr_assert(log_wait("n2", "event=link_up peer=n1", 1, 5000));
    int learned1 = log_count("n1", "event=member_learned");
    int learned2 = log_count("n2", "event=member_learned");
    tr_gossip_entry ghost = {"ghost", 77, "127.0.0.1:1", 1};
    uint8_t frame[256];
    long n = tr__gossip_encode(&ghost, 1, frame, sizeof frame);
    cr_assert_gt(n, 0);
    refused(frame, (size_t)n, "client sent GOSSIP (members only)");
    usleep(2500000); /* two gossip rounds of the members */
    cr_assert_eq(log_count("n1", "ghost"), 0, "%s", log_tail("n1"));
    cr_assert_eq(log_count("n2", "ghost"), 0, "%s", log_tail("n2"));
    cr_assert_eq(log_count("n1", "event=member_learned"), learned1);
    cr_assert_eq(log_count("n2", "event=member_learned"), learned2);
}

Test(harden, a_client_sends_requests_to_this_node_only) {
    start_node("n1", 0, NULL, NULL);
    good_call_works("start");
    uint8_t env[256];
    size_t n = envelope(env, sizeof env, RAWC, 2, 300, 0); /* n1's id is 1 */
    refused(env, n, "envelope for another node (to.node is not 1)");
    n = envelope(env, sizeof env, RAWC, 1, TR__SYS_KILL, 0);
    refused(env, n, "client sent a system message or a reply");
    n = envelope(env, sizeof env, RAWC, 1, TR_MSG_DOWN, 0);
    refused(env, n, "client sent a system message or a reply");
    n = envelope(env, sizeof env, RAWC, 1, 300, TR__F_REPLY);
    refused(env, n, "client sent a system message or a reply");
    n = envelope(env, sizeof env, RAWC, 1, 300, 0);
    cr_assert_eq(env[4 + 2 + 3 + 5], 0x01, "from.actor's byte"); /* kind, type, from.node */
    env[4 + 2 + 3 + 5] = 0x00; /* from.actor 0: a reply would have nowhere to go */
    refused(env, n, "or a request from actor 0");
    /* a request for this node is answered on the same connection */
    int fd = raw_client(RAWC);
    n = envelope(env, sizeof env, RAWC, 1, 300, 0);
    cr_assert_eq(raw_write_all(fd, env, n), 0);
    uint8_t in[512];
    long len;
    do { /* heartbeats may come first */
        len = raw_read_frame(fd, in, sizeof in, 3000);
    } while (len > 0 && in[1] != 1);
    cr_assert_gt(len, 0, "no reply");
    close(fd);
}

Test(harden, idle_and_half_frame_clients_are_closed_after_their_timeouts) {
    start_node("n1", 0, NULL, "--client-idle-ms", "1000", "--client-frame-ms", "300", NULL);
    int idle = raw_client(RAWC);
    int half = raw_client(RAWC + 1);
    int busy = raw_client(RAWC + 2);
    uint8_t head[4 + 10] = {0, 0, 0, 100, 0x9b, 0x01}; /* 14 of a frame's 104 bytes */
    cr_assert_eq(raw_write_all(half, head, sizeof head), 0);
    /* a client that sends a request every 200 ms is kept past the idle timeout */
    uint8_t env[256];
    size_t n = envelope(env, sizeof env, RAWC + 2, 1, 300, 0);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(raw_write_all(busy, env, n), 0, "busy client closed");
        usleep(200000);
    }
    cr_assert(!raw_wait_closed(busy, 300), "busy client closed:\n%s", log_tail("n1"));
    cr_assert(raw_wait_closed(half, 3000), "half-frame client kept");
    cr_assert(raw_wait_closed(idle, 3000), "idle client kept");
    cr_assert(log_wait("n1", "client frame incomplete for", 1, 1000), "%s", log_tail("n1"));
    cr_assert(log_wait("n1", "client idle: no envelope for", 1, 1000), "%s", log_tail("n1"));
    cr_assert_eq(log_count("n1", "client idle"), 1, "%s", log_tail("n1"));
    close(idle);
    close(half);
    close(busy);
}
