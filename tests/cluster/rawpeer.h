/* rawpeer.h — a hostile (or well-behaved) peer for the cluster tests: blocking sockets on
 * 127.0.0.1, frames written by hand, the handshake driven with cluster/handshake.h. */
#ifndef TR_TEST_RAWPEER_H
#define TR_TEST_RAWPEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/frame.h"
#include "cluster/handshake.h"

static inline uint64_t raw_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Connects to 127.0.0.1:port; retries for up to 5 s while the server starts. -1 on failure. */
static inline int raw_connect(int port) {
    uint64_t until = raw_now_ms() + 5000;
    while (raw_now_ms() < until) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        close(fd);
        usleep(20000);
    }
    return -1;
}

static inline int raw_write_all(int fd, const void *buf, size_t len) {
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes within timeout_ms. 0 ok, -1 closed/error, -2 timeout. */
static inline int raw_read_all(int fd, void *buf, size_t len, int timeout_ms) {
    uint8_t *p = buf;
    uint64_t until = raw_now_ms() + (uint64_t)timeout_ms;
    while (len > 0) {
        uint64_t now = raw_now_ms();
        if (now >= until) {
            return -2;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, (int)(until - now));
        if (pr == 0) {
            return -2;
        }
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one frame's payload into buf (cap bytes). Returns its length, -1 closed, -2 timeout,
 * -3 too big. */
static inline long raw_read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms) {
    uint8_t hdr[4];
    int rc = raw_read_all(fd, hdr, 4, timeout_ms);
    if (rc) {
        return rc;
    }
    uint32_t n = tr_load_be32(hdr);
    if (n > cap) {
        return -3;
    }
    rc = raw_read_all(fd, buf, n, timeout_ms);
    return rc ? rc : (long)n;
}

/* Waits until the server closes the connection (reading and discarding). true if it did
 * within timeout_ms. */
static inline bool raw_wait_closed(int fd, int timeout_ms) {
    uint8_t buf[4096];
    uint64_t until = raw_now_ms() + (uint64_t)timeout_ms;
    while (raw_now_ms() < until) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 50) > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                return true;
            }
        }
    }
    return false;
}

/* Runs the initiator side of the handshake. 0 when authenticated; else -1. `theirs` gets
 * the server's HELLO. */
static inline int raw_handshake(int fd, const char *cluster, const char *name, uint32_t id,
                                const void *secret, size_t secret_len, bool client,
                                tr_hello *theirs) {
    tr_hello mine;
    memset(&mine, 0, sizeof mine);
    snprintf(mine.cluster, sizeof mine.cluster, "%s", cluster);
    snprintf(mine.name, sizeof mine.name, "%s", name);
    mine.id = id;
    mine.flags = client ? TR_HELLO_CLIENT : 0;
    mine.incarnation = 1;
    tr_handshake hs;
    uint8_t out[TR_HS_OUT_MAX], in[1024];
    size_t n;
    if (tr__handshake_start(&hs, true, &mine, secret, secret_len, out, sizeof out, &n) ||
        raw_write_all(fd, out, n)) {
        return -1;
    }
    for (;;) {
        long len = raw_read_frame(fd, in, sizeof in, 3000);
        if (len < 0) {
            return -1;
        }
        int rc = tr__handshake_step(&hs, in, (size_t)len, out, sizeof out, &n);
        if (n > 0 && raw_write_all(fd, out, n)) {
            return -1;
        }
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            if (theirs) {
                *theirs = hs.theirs;
            }
            return 0;
        }
    }
}

#endif
