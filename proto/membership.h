/*
 * membership.h — who is in the cluster and whether they are alive: the member entries'
 * failure detector, reconnect backoff, and the GOSSIP frame.
 *
 * What: pure logic (no clock, no sockets): the transport feeds it times (ms, from its own
 * loop clock) and random numbers (for jitter) and acts on what it answers (dial, close,
 * report down/up). So the detector's rules can be unit-tested without waiting.
 *
 * Failure detector (phi accrual, Hayashibara et al. 2004, with a normal distribution as
 * Akka does it; one TCP link per pair):
 *   - every node sends a HEARTBEAT on each link every heartbeat_ms on the control lane,
 *     which the writer puts ahead of queued user frames;
 *   - ANY frame received is a sign of life: it resets the time silence is measured from, so
 *     a busy link never looks dead;
 *   - the intervals between HEARTBEAT frames (only those) go into a per-peer window of the
 *     last TR_FD_WINDOW samples, with running integer sums for the mean and variance.
 *     Only heartbeats are sampled because they are the one stationary stream (sent every
 *     heartbeat_ms whatever the traffic): a burst of user frames microseconds apart would
 *     shrink the mean to nothing and make the next ordinary heartbeat gap look like death;
 *   - phi(t) = -log10(P(X > t)) for t = silence so far and X ~ Normal(mean + pause_ms,
 *     max(std, min_std_ms)); P from erfc (libm; exact to double precision, and at one call
 *     per member per tick speed is irrelevant, so Akka's logistic approximation, chosen for
 *     speed, buys nothing). pause_ms (Akka's acceptable-heartbeat-pause) and min_std_ms keep
 *     a late beat or a short, too-regular history from flapping;
 *   - with fewer than TR_FD_SAMPLES_MIN samples (a fresh link) the mean is heartbeat_ms
 *     and the deviation a quarter of it (as Akka bootstraps), floored at min_std_ms;
 *   - phi >= phi_suspect -> SUSPECT (logged only); phi >= phi_down, or no frame at all for
 *     down_ms (a hard bound whatever phi says) -> DOWN;
 *   - the link breaking (EOF, reset, write error, BYE) -> DOWN at once.
 *   Bound: a node that dies or hangs is DOWN at most down_ms + one tick after the last frame
 *   it sent (phi normally declares it earlier for a regular heartbeat stream, never later);
 *   a killed process (socket reset) is DOWN at once.
 *   - DOWN -> UP only through a new connection and a complete handshake, which starts a
 *     fresh history.
 *   All state is in fixed arrays (about 450 bytes per member, no allocation); the functions
 *   are pure in (arrival times, now). Threading: a tr_fd belongs to one thread (the
 *   transport's loop).
 * Reconnects: exponential backoff from backoff_min_ms doubling to backoff_max_ms, each delay
 * drawn uniformly from [d/2, d) (jitter), reset on a successful handshake.
 *
 * Gossip: every gossip interval each node sends its member list (itself included; never
 * clients) to every linked member: [19, [[name, id, addr, incarnation], ...]]. A receiver
 * adds members it did not know (and dials them: the cluster becomes a full mesh) and takes
 * the address of a higher incarnation (a restarted node). Liveness is never taken from
 * gossip: each node judges each link by itself.
 * Limits: at most TR_MEMBERS_MAX members; a gossip frame listing more is refused.
 */
#ifndef TR_PROTO_MEMBERSHIP_H
#define TR_PROTO_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/handshake.h"
#include "troupe.h"

#define TR_MEMBERS_MAX 256

typedef enum tr_member_status {
    TR_MEMBER_JOINING = 0, /* known (seed, gossip), never linked yet */
    TR_MEMBER_UP,
    TR_MEMBER_SUSPECT,
    TR_MEMBER_DOWN
} tr_member_status;

const char *tr__member_status_name(tr_member_status s);

#define TR_FD_WINDOW 100           /* heartbeat intervals kept per member */
#define TR_FD_SAMPLES_MIN 3        /* fewer: the mean is the configured heartbeat_ms */
#define TR_FD_INTERVAL_MAX 600000u /* a sample is clamped to this (10 min): sums stay exact */
#define TR_FD_PHI_SUSPECT 5.0      /* defaults of the thresholds */
#define TR_FD_PHI_DOWN 8.0
#define TR_FD_PHI_MAX 100.0 /* thresholds above this are refused */

typedef struct tr_fd_config {
    uint32_t heartbeat_ms; /* the sender's interval: the mean of a short history */
    uint32_t min_std_ms;   /* floor of the standard deviation (> 0) */
    uint32_t pause_ms;     /* acceptable pause, added to the mean */
    double phi_suspect;    /* SUSPECT at phi >= this (> 0) */
    double phi_down;       /* DOWN at phi >= this (>= phi_suspect, <= TR_FD_PHI_MAX);
                                INFINITY: phi never declares DOWN, only down_ms does */
    uint32_t down_ms;      /* hard bound: DOWN after this long without any frame */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
} tr_fd_config;

/* The window of heartbeat inter-arrival times: a ring of the last TR_FD_WINDOW samples and
 * their exact integer sums (sum and sum of squares). Invariants: count <= TR_FD_WINDOW,
 * next < TR_FD_WINDOW, sum / sum_sq are the sums over the count samples held. */
typedef struct tr_fd_history {
    uint32_t interval_ms[TR_FD_WINDOW];
    uint32_t count;
    uint32_t next; /* slot the next sample goes into */
    uint64_t sum_ms;
    uint64_t sum_sq_ms; /* at most 100 * (6e5)^2 = 3.6e13: no overflow */
    bool beat_seen;     /* last_beat_ms is valid */
    uint64_t last_beat_ms;
} tr_fd_history;

/* Failure-detector and dial state of one member. */
typedef struct tr_fd {
    tr_member_status status;
    bool linked;
    uint64_t last_heard_ms; /* the last frame of any kind (or link up) */
    uint64_t next_dial_ms;
    uint32_t backoff_ms; /* the current delay ceiling */
    tr_fd_history history;
} tr_fd;

/* What a call changed: the transport reports TR_FD_DOWN / TR_FD_UP as node events. */
enum {
    TR_FD_SAME = 0,
    TR_FD_UP,
    TR_FD_SUSPECT,
    TR_FD_DOWN
};

/* 0, or TR_EINVAL if cfg breaks a rule above (the transport checks its config with it). */
int tr__fd_config_check(const tr_fd_config *cfg);
void tr__fd_init(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* A frame arrived on the member's link; heartbeat: it was a HEARTBEAT (sampled). */
int tr__fd_heard(tr_fd *fd, uint64_t now_ms, bool heartbeat);
/* The handshake completed (link up): a fresh history. */
int tr__fd_link_up(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* The link broke or a dial failed; schedules the next dial with backoff + jitter. */
int tr__fd_link_down(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms, uint64_t random);
/* Periodic: SUSPECT / DOWN by phi or the hard bound. On TR_FD_DOWN the caller closes the
 * link. */
int tr__fd_tick(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* Is it time to dial (not linked, and the backoff delay has passed)? */
bool tr__fd_should_dial(const tr_fd *fd, uint64_t now_ms);

/* phi of the member at now_ms: 0 for a frame just heard, rising with silence. Pure. */
double tr__fd_phi(const tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* The distribution phi uses: *mean_ms (pause_ms not included) and *std_ms (floored). */
void tr__fd_estimate(const tr_fd_history *h, const tr_fd_config *cfg, double *mean_ms,
                     double *std_ms);
/* -log10(P(X > elapsed)) for X ~ Normal(mean, std), std > 0; finite for any input. */
double tr__fd_phi_normal(double elapsed_ms, double mean_ms, double std_ms);

/* The history alone (for tests): adds one interval; clears. */
void tr__fd_history_add(tr_fd_history *h, uint64_t interval_ms);
void tr__fd_history_clear(tr_fd_history *h);

typedef struct tr_gossip_entry {
    char name[TR_NAME_MAX + 1];
    uint32_t id;
    char addr[TR_ADDR_STR_MAX + 1];
    uint64_t incarnation;
} tr_gossip_entry;

/* Whole frame into buf; size or TR_ETOOBIG. */
long tr__gossip_encode(const tr_gossip_entry *e, size_t n, uint8_t *buf, size_t cap);
/* Parses a GOSSIP payload into e[0..cap); *n = entries. TR_EPROTO (malformed, more than
 * cap entries, id 0, empty name or address). */
int tr__gossip_decode(const uint8_t *payload, size_t len, tr_gossip_entry *e, size_t cap,
                      size_t *n);
/* Upper bound of a gossip frame with n entries. */
size_t tr__gossip_size_max(size_t n);

#endif
