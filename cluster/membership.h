/*
 * membership.h — who is in the cluster and whether they are alive: the member entries'
 * failure detector, reconnect backoff, and the GOSSIP frame.
 *
 * What: pure logic (no clock, no sockets): the transport feeds it times (ms, from its own
 * loop clock) and random numbers (for jitter) and acts on what it answers (dial, close,
 * report down/up). So the detector's rules can be unit-tested without waiting.
 *
 * Failure detector (timeout-based, one TCP link per pair):
 *   - every node sends a HEARTBEAT on each link every heartbeat_ms on the control lane,
 *     which the writer puts ahead of queued user frames; ANY frame received counts as a
 *     sign of life, so a busy link never looks dead;
 *   - no frame for suspect_ms -> SUSPECT (logged only); none for down_ms -> DOWN;
 *   - the link breaking (EOF, reset, write error, BYE) -> DOWN at once.
 *   Bound: a node that dies or hangs is DOWN at most down_ms + one tick (heartbeat_ms / 2)
 *   after the last frame it sent; a killed process (socket reset) is DOWN at once.
 *   - DOWN -> UP only through a new connection and a complete handshake.
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
#ifndef TR_CLUSTER_MEMBERSHIP_H
#define TR_CLUSTER_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/handshake.h"
#include "troupe.h"

#define TR_MEMBERS_MAX 256

typedef enum tr_member_status {
    TR_MEMBER_JOINING = 0, /* known (seed, gossip), never linked yet */
    TR_MEMBER_UP,
    TR_MEMBER_SUSPECT,
    TR_MEMBER_DOWN
} tr_member_status;

const char *tr_member_status_name(tr_member_status s);

typedef struct tr_fd_config {
    uint32_t suspect_ms;
    uint32_t down_ms;
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
} tr_fd_config;

/* Failure-detector and dial state of one member. */
typedef struct tr_fd {
    tr_member_status status;
    bool linked;
    uint64_t last_heard_ms;
    uint64_t next_dial_ms;
    uint32_t backoff_ms; /* the current delay ceiling */
} tr_fd;

/* What a call changed: the transport reports TR_FD_DOWN / TR_FD_UP as node events. */
enum { TR_FD_SAME = 0, TR_FD_UP, TR_FD_SUSPECT, TR_FD_DOWN };

void tr_fd_init(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* A frame arrived on the member's link. */
int tr_fd_heard(tr_fd *fd, uint64_t now_ms);
/* The handshake completed (link up). */
int tr_fd_link_up(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* The link broke or a dial failed; schedules the next dial with backoff + jitter. */
int tr_fd_link_down(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms, uint64_t random);
/* Periodic: SUSPECT / DOWN by silence. On TR_FD_DOWN the caller closes the link. */
int tr_fd_tick(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms);
/* Is it time to dial (not linked, and the backoff delay has passed)? */
bool tr_fd_should_dial(const tr_fd *fd, uint64_t now_ms);

typedef struct tr_gossip_entry {
    char name[TR_NAME_MAX + 1];
    uint32_t id;
    char addr[TR_ADDR_STR_MAX + 1];
    uint64_t incarnation;
} tr_gossip_entry;

/* Whole frame into buf; size or TR_ETOOBIG. */
long tr_gossip_encode(const tr_gossip_entry *e, size_t n, uint8_t *buf, size_t cap);
/* Parses a GOSSIP payload into e[0..cap); *n = entries. TR_EPROTO (malformed, more than
 * cap entries, id 0, empty name or address). */
int tr_gossip_decode(const uint8_t *payload, size_t len, tr_gossip_entry *e, size_t cap,
                     size_t *n);
/* Upper bound of a gossip frame with n entries. */
size_t tr_gossip_size_max(size_t n);

#endif
