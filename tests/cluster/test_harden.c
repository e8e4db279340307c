/* A real `troupe node` against hostile peers on 127.0.0.1 before authentication: partial
 * frames without a secret cost the node no memory, and a flood of idle connections from one
 * host does not lock a client out.
 * Every test is bounded (.timeout) and kills its children (proc_teardown). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "proc.h"
#include "rawpeer.h"

TestSuite(harden, .init = proc_setup, .fini = proc_teardown, .timeout = 120);

/* proc.h's helpers that this suite does not need */
__attribute__((used)) static void *const unused_helpers[] = {(void *)proc_signal,
                                                             (void *)call_until};

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

static void good_call_works(const char *after) {
    char out[256];
    int rc = call(0, "echo", "300", "[\"still\", \"here\"]", out, sizeof out, NULL, 3000);
    cr_assert_eq(rc, 0, "node stopped serving after: %s", after);
    cr_assert_str_eq(out, "[\"still\",\"here\"]", "after %s", after);
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
