/* net_proto.c — TR_SIM_NET_PROTOCOL: the cluster protocol core of a real node (proto/) run
 * between simulated nodes over simulated TCP byte streams.
 *
 * Each ordered pair of nodes (i, k) has one end: node i's view of its connection to k, with
 * the proto/ link (frame reader, handshake), node i's phi-accrual detector for k (tr_fd) and
 * its reconnect backoff. A connection:
 *   1. the node with the lower index dials (one dialler per pair, so no duplicate-connection
 *      race): a SYN segment; the other end accepts it (SYNACK) and starts its handshake as
 *      acceptor; the dialler starts its own as initiator on the SYNACK;
 *   2. HELLO and AUTH frames travel as bytes, cut into segments at random points (partial
 *      writes and reads); the link's delay, FIFO order and cuts apply to each segment;
 *   3. once authenticated (and admitted by tr__proto_admit), envelopes travel as frames,
 *      HEARTBEATs go out every heartbeat_ms and GOSSIP every 2 heartbeats, as on a real node,
 *      through the bounded queues of proto/outq.h (a send waits there for a member not yet
 *      linked; it is refused once the member's link went down, until it is back);
 *   4. an end closes on a protocol error, a BYE, a handshake deadline or a DOWN verdict of
 *      its detector, and tells the other end with a RST segment (what a closed socket does);
 *      a crashed node's sockets reset (RST to every peer).
 * A stream has no holes: a cut breaks the connections across it for good (what was in
 * flight and everything sent after is ignored by the receiver, neither end being told: a
 * simplification of a TCP connection stalled in a partition, which may resume after a short
 * one), and the detectors find out from the silence. NODE_DOWN/UP to watchers are the
 * detector's transitions (tr__sim_verdict). Everything runs in the node's local clock (in
 * ms, as the real transport's loop clock): pauses, clock jumps and delay spikes cause the
 * suspicions they cause on a real node.
 * Determinism: nonces, backoff jitter and segment cuts come from one seeded stream per node
 * (SIM_STREAM_PROTO); nothing else is drawn. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/link.h"
#include "proto/outq.h"
#include "runtime/assert.h"
#include "sim/sim.h"
#include "sim/spans.h"

#define PROTO_TICK_MS 100
#define PROTO_HANDSHAKE_TIMEOUT_MS 5000
#define PROTO_SEGMENT_MAX 1460u /* bytes per segment at most (an Ethernet MSS) */
/* A real node's default queue bounds (cluster/transport.c) */
static const tr_outq_limits queue_limits = {
    .ctrl_bytes = 256u << 10, .data_bytes = 4u << 20, .data_count = 65536};

enum {
    END_CLOSED = 0,
    END_CONNECTING,
    END_HANDSHAKE,
    END_LINKED
};

typedef struct proto_end {
    int state;
    bool linked_once;   /* the detector has a history (UP or DOWN verdicts apply) */
    bool broken;        /* a segment went missing: what follows is ignored */
    bool told, told_up; /* the last verdict reported (report) */
    uint32_t conn;      /* the connection's id (0: none); segments of others are ignored */
    uint64_t rx_epoch;  /* the link epoch (from the peer) when the connection opened */
    uint64_t deadline_ms;
    tr_proto_link link;
    tr_fd fd;
    bool reachable;             /* sends are queued (a member not yet linked, or linked) */
    tr_outq q;                  /* what waits for the link, bounded as on a real node */
    tr_outq_buf w_ctrl, w_data; /* a batch being written (kept to reuse its memory) */
} proto_end;

typedef struct sim_proto {
    proto_end *ends; /* n * n, [i * n + k]: node i's end towards k */
    tr_fd_config fdc;
    uint32_t heartbeat_ms;
    uint32_t next_conn;
    uint64_t last_beat_ms[TR_SIM_NODES_MAX];
    uint64_t last_gossip_ms[TR_SIM_NODES_MAX];
    uint64_t hb_seq[TR_SIM_NODES_MAX];
    uint64_t incarnation[TR_SIM_NODES_MAX];
    tr_sim_rng rng[TR_SIM_NODES_MAX];
    uint8_t secret[TR_SIM_NODES_MAX][32];         /* per node, so a test can give one a wrong one */
    char name[TR_SIM_NODES_MAX][TR_NAME_MAX + 1]; /* "nI", or a test's hostile one */
    char canon[TR_SIM_NODES_MAX][12];             /* "nI" always */
    char listen[TR_SIM_NODES_MAX][20];            /* "nI:7000" */
    bool client[TR_SIM_NODES_MAX];
    bool silent[TR_SIM_NODES_MAX];
    tr_gossip_entry gossip_in[TR_MEMBERS_MAX];
    tr_sim_proto_counts counts;
} sim_proto;

static proto_end *end_of(tr_sim *sim, uint32_t i, uint32_t k) {
    TR_DEBUG_ASSERT(i < sim->n && k < sim->n && i != k);
    return &sim->proto->ends[(size_t)i * sim->n + k];
}

static uint64_t now_ms(tr_sim *sim, uint32_t i) {
    return tr__sim_local_now(sim, &sim->nodes[i]) / 1000000u;
}

static void arm_tick(tr_sim *sim, uint32_t i) {
    sim_event ev = {.kind = SIM_EV_PROTO, .node = i, .epoch = sim->nodes[i].epoch};
    tr__sim_push(sim, sim->now + (uint64_t)PROTO_TICK_MS * 1000000u, &ev);
}

/* Writes bytes on i's connection to k: cut into segments at random points. */
static void stream_write(tr_sim *sim, uint32_t i, uint32_t k, const uint8_t *p, size_t n) {
    proto_end *e = end_of(sim, i, k);
    if (sim->proto->silent[i]) {
        return;
    }
    while (n > 0) {
        size_t seg = n < PROTO_SEGMENT_MAX ? n : PROTO_SEGMENT_MAX;
        if (seg > 1 && tr_sim_rng_below(&sim->proto->rng[i], 4) == 0) {
            seg = 1 + tr_sim_rng_below(&sim->proto->rng[i], seg - 1); /* a partial write */
        }
        uint8_t *buf = tr__sim_buf_alloc(sim, seg);
        if (buf == NULL) {
            fprintf(stderr, "troupe sim: out of memory (seed %" PRIu64 ")\n", sim->cfg.seed);
            tr__sim_die(sim);
        }
        memcpy(buf, p, seg);
        tr__sim_stream_put(sim, i, k, SIM_SEG_DATA, e->conn, buf, (uint32_t)seg);
        p += seg;
        n -= seg;
    }
}

/* Writes what is queued on i's linked end towards k: the control lane first. */
static void end_flush(tr_sim *sim, uint32_t i, uint32_t k) {
    proto_end *e = end_of(sim, i, k);
    if (e->state != END_LINKED || (e->q.ctrl.len == 0 && e->q.data.len == 0)) {
        return;
    }
    TR_DEBUG_ASSERT(tr__outq_check(&e->q, &queue_limits, TR_FRAME_MAX_DEFAULT));
    (void)tr__outq_take(&e->q, &e->w_ctrl, &e->w_data);
    stream_write(sim, i, k, e->w_ctrl.p, e->w_ctrl.len);
    stream_write(sim, i, k, e->w_data.p, e->w_data.len);
    e->w_ctrl.len = e->w_data.len = 0;
}

static void queue_ctrl(tr_sim *sim, uint32_t i, uint32_t k, const uint8_t *frame, size_t n) {
    (void)tr__outq_push_ctrl(&end_of(sim, i, k)->q, &queue_limits, frame, n);
    end_flush(sim, i, k);
}

/* What i's detector said about k: a suspicion is counted; a verdict that is news (UP
 * after DOWN or at first, DOWN after UP: not a suspect heard again) goes to watchers. */
static void report(tr_sim *sim, uint32_t i, uint32_t k, int fd_ev) {
    proto_end *e = end_of(sim, i, k);
    if (fd_ev == TR_FD_SUSPECT) {
        sim->proto->counts.suspicions++;
    }
    if (fd_ev != TR_FD_UP && fd_ev != TR_FD_DOWN) {
        return;
    }
    bool up = fd_ev == TR_FD_UP;
    if (e->told && e->told_up == up) {
        return;
    }
    e->told = true;
    e->told_up = up;
    sim->proto->counts.verdicts[up]++;
    tr__sim_verdict(sim, i, k, up);
}

/* Closes i's end towards k (reset: a RST to the peer if `tell`). */
static void end_close(tr_sim *sim, uint32_t i, uint32_t k, bool tell, const char *why) {
    proto_end *e = end_of(sim, i, k);
    if (e->state == END_CLOSED) {
        return;
    }
    if (tell) { /* the end that decided: its reason is the one worth keeping */
        tr__sim_stream_put(sim, i, k, SIM_SEG_RST, e->conn, NULL, 0);
        snprintf(sim->proto->counts.last_close, sizeof sim->proto->counts.last_close,
                 "n%u -> n%u: %s", i + 1, k + 1, why);
    }
    sim->proto->counts.closes++;
    bool was_linked = e->state == END_LINKED;
    tr__proto_link_deinit(&e->link);
    if (was_linked) { /* until linked again: sends fail, what waited is dropped */
        e->reachable = false;
        sim->stats.dropped_cut += tr__outq_clear(&e->q);
    }
    e->state = END_CLOSED;
    e->conn = 0;
    e->broken = false;
    int ev = tr__fd_link_down(&e->fd, &sim->proto->fdc, now_ms(sim, i),
                              tr_sim_rng_next(&sim->proto->rng[i]));
    if (was_linked) {
        report(sim, i, k, ev);
    }
}

/* src into dst[0..cap) as snprintf("%s") writes it: every gossip round copies every member's
 * name and address, where printf's machinery cost a tenth of a pubsub run. */
static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void hello_of(tr_sim *sim, uint32_t i, tr_hello *h) {
    memset(h, 0, sizeof *h);
    copy_str(h->cluster, sizeof h->cluster, "sim");
    copy_str(h->name, sizeof h->name, sim->proto->name[i]);
    h->flags = sim->proto->client[i] ? TR_HELLO_CLIENT : 0;
    copy_str(h->listen, sizeof h->listen, sim->proto->listen[i]);
    h->id = i + 1;
    h->incarnation = sim->proto->incarnation[i];
}

/* Opens i's end towards k for connection `conn` and starts the handshake. */
static void end_open(tr_sim *sim, uint32_t i, uint32_t k, uint32_t conn, bool initiator,
                     uint64_t rx_epoch) {
    proto_end *e = end_of(sim, i, k);
    sim_proto *sp = sim->proto;
    if (tr__proto_link_init(&e->link, TR_FRAME_MAX_DEFAULT, sp->gossip_in)) {
        fprintf(stderr, "troupe sim: out of memory (seed %" PRIu64 ")\n", sim->cfg.seed);
        tr__sim_die(sim);
    }
    e->state = END_HANDSHAKE;
    e->conn = conn;
    e->broken = false;
    e->rx_epoch = rx_epoch;
    e->deadline_ms = now_ms(sim, i) + PROTO_HANDSHAKE_TIMEOUT_MS;
    tr_hello mine;
    hello_of(sim, i, &mine);
    uint8_t nonce[TR_NONCE_LEN];
    for (size_t b = 0; b < TR_NONCE_LEN; b += 8) {
        uint64_t w = tr_sim_rng_next(&sp->rng[i]);
        memcpy(nonce + b, &w, 8);
    }
    int rc = tr__proto_link_start(&e->link, initiator, &mine, sp->secret[i], sizeof sp->secret[i],
                                  nonce);
    SIM_ASSERT(sim, rc == 0); /* a given nonce: nothing can fail */
    if (e->link.out_len > 0) {
        stream_write(sim, i, k, e->link.out, e->link.out_len);
    }
}

static void gossip_to(tr_sim *sim, uint32_t i, uint32_t k) {
    tr_gossip_entry members[TR_SIM_NODES_MAX];
    for (uint32_t j = 0; j < sim->n; j++) {
        tr_hello h;
        hello_of(sim, j, &h);
        memset(&members[j], 0, sizeof members[j]);
        copy_str(members[j].name, sizeof members[j].name, h.name);
        copy_str(members[j].addr, sizeof members[j].addr, h.listen);
        members[j].id = h.id;
        members[j].incarnation = h.incarnation;
    }
    uint8_t frame[TR_SIM_NODES_MAX * 160 + 64];
    long n = tr__gossip_encode(members, sim->n, frame, sizeof frame);
    SIM_ASSERT(sim, n > 0);
    queue_ctrl(sim, i, k, frame, (size_t)n);
}

/* The handshake of i's end towards k completed: admit the peer or close. */
static void on_authenticated(tr_sim *sim, uint32_t i, uint32_t k) {
    proto_end *e = end_of(sim, i, k);
    const tr_hello *h = &e->link.hs.theirs;
    char why[160];
    const char *known = NULL;
    char known_buf[TR_NAME_MAX + 1];
    uint32_t owner = 0;
    if (h->id >= 1 && h->id <= sim->n) {
        snprintf(known_buf, sizeof known_buf, "n%u", h->id);
        known = known_buf;
    }
    for (uint32_t j = 0; j < sim->n; j++) {
        owner = strcmp(sim->proto->canon[j], h->name) == 0 ? j + 1 : owner;
    }
    int rc = tr__proto_admit(h, i + 1, known, owner, why, sizeof why);
    if (rc == 0 && h->id != k + 1) {
        snprintf(why, sizeof why, "node id %u on the connection from n%u", h->id, k + 1);
        rc = TR_EINVAL;
    }
    if (rc != 0) {
        sim->proto->counts.refused++;
        end_close(sim, i, k, true, why);
        return;
    }
    e->state = END_LINKED;
    e->reachable = true;
    if (e->link.client) {
        end_flush(sim, i, k);
        return; /* a client is no member: no detector, no gossip */
    }
    e->linked_once = true;
    report(sim, i, k, tr__fd_link_up(&e->fd, &sim->proto->fdc, now_ms(sim, i)));
    gossip_to(sim, i, k); /* first, then what waited for the link */
}

/* An envelope frame reached node i from k. */
static void on_envelope(tr_sim *sim, uint32_t i, uint32_t k, const tr_link_event *ev,
                        sim_record *r) {
    r->c = tr__sim_mix(r->c, tr__sim_hash_bytes(0, ev->payload, ev->len));
    sim->trace = tr__sim_mix(sim->trace, r->c);
    tr_msg *msg = NULL;
    char name[TR_NAME_MAX + 1];
    int rc = tr__envelope_decode(ev->payload, ev->len, sim->nodes[i].node, &msg, name);
    if (rc != 0) {
        char why[96];
        snprintf(why, sizeof why, "bad envelope (%zu bytes): %s", ev->len, tr_strerror(rc));
        end_close(sim, i, k, true, why);
        return;
    }
    msg->flags_ |= TR__F_ENGINE;
    tr__sim_spans_claim(sim, k, i, ev->payload, ev->len, msg);
    sim->stats.remote_delivered++;
    r->a = ((uint64_t)k << 32) | msg->type;
    r->b = msg->corr;
    (void)tr__node_deliver(sim->nodes[i].node, msg, name[0] ? name : NULL, NULL);
}

/* Every member of a simulation is known from the start: an entry that is not one of them
 * is a member a real node would add and dial (counted; the simulation has no one to dial). */
static void learn(tr_sim *sim, const tr_link_event *ev) {
    for (size_t j = 0; j < ev->gossip_count; j++) {
        const tr_gossip_entry *g = &ev->gossip[j];
        if (g->id < 1 || g->id > sim->n || strcmp(sim->proto->canon[g->id - 1], g->name) != 0) {
            sim->proto->counts.members_learned++;
        }
    }
}

/* Runs i's end towards k over the bytes it holds, until they run out or it closes. */
static void end_process(tr_sim *sim, uint32_t i, uint32_t k, sim_record *r) {
    proto_end *e = end_of(sim, i, k);
    tr_link_event ev;
    while (e->state == END_HANDSHAKE || e->state == END_LINKED) {
        tr_link_event_kind kind = tr__proto_link_next(&e->link, &ev);
        if (e->link.out_len > 0) {
            stream_write(sim, i, k, e->link.out, e->link.out_len);
        }
        if (kind == TR_LINK_NEED_BYTES) {
            return;
        }
        if (kind == TR_LINK_WRITE) {
            continue;
        }
        if (kind == TR_LINK_ERROR) {
            sim->proto->counts.refused += e->state != END_LINKED;
            sim->proto->counts.protocol_errors++;
            end_close(sim, i, k, true, e->link.reason);
            return;
        }
        if (kind == TR_LINK_AUTHENTICATED) {
            on_authenticated(sim, i, k);
            continue;
        }
        report(sim, i, k, tr__fd_heard(&e->fd, now_ms(sim, i), kind == TR_LINK_HEARTBEAT));
        if (kind == TR_LINK_ENVELOPE) {
            on_envelope(sim, i, k, &ev, r);
        } else if (kind == TR_LINK_BYE) {
            end_close(sim, i, k, false, "peer said bye");
        } else if (kind == TR_LINK_GOSSIP) {
            learn(sim, &ev);
        }
    }
}

void tr__sim_proto_segment(tr_sim *sim, sim_event *ev, sim_record *r) {
    uint32_t i = ev->node, k = ev->u.msg.from;
    proto_end *e = end_of(sim, i, k);
    uint32_t conn = ev->u.msg.conn;
    uint8_t *buf = ev->u.msg.buf;
    uint32_t len = ev->u.msg.len;
    r->a = ((uint64_t)k << 32) | ev->seg;
    r->b = conn;
    r->c = buf ? tr__sim_hash_bytes(0, buf, len) : 0;
    sim->trace = tr__sim_mix(sim->trace, r->c);
    switch (ev->seg) {
    case SIM_SEG_SYN:
        end_close(sim, i, k, false, "replaced by a new connection");
        end_open(sim, i, k, conn, false, ev->u.msg.link_epoch);
        tr__sim_stream_put(sim, i, k, SIM_SEG_SYNACK, conn, NULL, 0);
        break;
    case SIM_SEG_SYNACK:
        if (e->state == END_CONNECTING && e->conn == conn) {
            end_open(sim, i, k, conn, true, ev->u.msg.link_epoch);
        }
        break;
    case SIM_SEG_RST:
        if (e->conn == conn) {
            end_close(sim, i, k, false, "connection reset by peer");
        }
        break;
    case SIM_SEG_DATA:
        if (e->conn != conn || e->state < END_HANDSHAKE) {
            break; /* a closed connection's late bytes */
        }
        e->broken = e->broken || ev->u.msg.link_epoch != e->rx_epoch;
        if (!e->broken && tr__proto_link_feed(&e->link, buf, len) == 0) {
            end_process(sim, i, k, r);
        }
        break;
    default: SIM_ASSERT(sim, !"unknown stream segment");
    }
    if (buf != NULL) {
        tr__sim_buf_free(sim, buf, len);
        ev->u.msg.buf = NULL;
    }
}

int tr__sim_proto_send(tr_sim *sim, uint32_t f, uint32_t t, uint8_t *buf, uint32_t len) {
    proto_end *e = end_of(sim, f, t);
    /* As a real node's transport: queued for a member being linked or linked, bounded (a
     * full queue is TR_EFULL), refused once its link went down, until it is back. */
    int rc = e->reachable ? tr__outq_push_data(&e->q, &queue_limits, buf, len) : TR_EUNREACH;
    tr__sim_buf_free(sim, buf, len);
    if (rc != 0) {
        sim->stats.dropped_cut++;
        return rc;
    }
    end_flush(sim, f, t);
    return 0;
}

/* One peer in i's tick: deadlines, phi, heartbeat, gossip, dial. */
static void tick_peer(tr_sim *sim, uint32_t i, uint32_t k, uint64_t now, bool beat, bool gossip) {
    sim_proto *sp = sim->proto;
    proto_end *e = end_of(sim, i, k);
    if ((e->state == END_CONNECTING || e->state == END_HANDSHAKE) && now >= e->deadline_ms) {
        end_close(sim, i, k, true, "handshake timeout");
        return;
    }
    if (e->state == END_LINKED) {
        /* a client is judged by nothing but its connection (no detector, no gossip) */
        int ev = e->link.client ? TR_FD_SAME : tr__fd_tick(&e->fd, &sp->fdc, now);
        report(sim, i, k, ev == TR_FD_DOWN ? TR_FD_SAME : ev);
        if (ev == TR_FD_DOWN) { /* closing reports it (tr__fd_link_down) */
            end_close(sim, i, k, true, "no frame in time (failure detector)");
            return;
        }
        if (beat) {
            uint8_t frame[32];
            long n = tr__proto_heartbeat_frame(sp->hb_seq[i], frame, sizeof frame);
            SIM_ASSERT(sim, n > 0);
            queue_ctrl(sim, i, k, frame, (size_t)n);
        }
        if (gossip && !e->link.client) {
            gossip_to(sim, i, k);
        }
        return;
    }
    if (e->state == END_CLOSED && i < k && tr__fd_should_dial(&e->fd, now)) {
        e->state = END_CONNECTING;
        e->conn = ++sp->next_conn;
        e->deadline_ms = now + PROTO_HANDSHAKE_TIMEOUT_MS;
        sp->counts.dials++;
        tr__sim_stream_put(sim, i, k, SIM_SEG_SYN, e->conn, NULL, 0);
    }
}

void tr__sim_proto_tick(tr_sim *sim, uint32_t i, sim_record *r) {
    sim_proto *sp = sim->proto;
    uint64_t now = now_ms(sim, i);
    bool beat = now - sp->last_beat_ms[i] >= sp->heartbeat_ms;
    bool gossip = now - sp->last_gossip_ms[i] >= 2u * sp->heartbeat_ms;
    if (beat) {
        sp->last_beat_ms[i] = now;
        sp->hb_seq[i]++;
    }
    if (gossip) {
        sp->last_gossip_ms[i] = now;
    }
    for (uint32_t k = 0; k < sim->n; k++) {
        if (k != i) {
            tick_peer(sim, i, k, now, beat, gossip);
        }
    }
    r->a = now;
    arm_tick(sim, i);
}

static void end_free(proto_end *e) {
    if (e->state != END_CLOSED) {
        tr__proto_link_deinit(&e->link);
    }
    tr__outq_deinit(&e->q);
    tr__outq_buf_free(&e->w_ctrl);
    tr__outq_buf_free(&e->w_data);
}

static void node_reset(tr_sim *sim, uint32_t i) {
    sim_proto *sp = sim->proto;
    uint64_t now = now_ms(sim, i);
    for (uint32_t k = 0; k < sim->n; k++) {
        if (k != i) {
            proto_end *e = end_of(sim, i, k);
            end_free(e);
            memset(e, 0, sizeof *e);
            tr__fd_init(&e->fd, &sp->fdc, now);
            e->reachable = true; /* a member known from the start, as a seed */
        }
    }
    sp->last_beat_ms[i] = now;
    sp->last_gossip_ms[i] = now;
}

void tr__sim_proto_crash(tr_sim *sim, uint32_t i) {
    for (uint32_t k = 0; k < sim->n; k++) {
        if (k != i && end_of(sim, i, k)->state != END_CLOSED) {
            /* the host's kernel resets the dead process's sockets */
            tr__sim_stream_put(sim, i, k, SIM_SEG_RST, end_of(sim, i, k)->conn, NULL, 0);
        }
    }
    node_reset(sim, i);
}

void tr__sim_proto_restart(tr_sim *sim, uint32_t i) {
    sim->proto->incarnation[i]++;
    node_reset(sim, i);
    arm_tick(sim, i);
}

bool tr__sim_proto_down(const tr_sim *sim, uint32_t w, uint32_t k) {
    const proto_end *e = &sim->proto->ends[(size_t)w * sim->n + k];
    return e->linked_once && e->fd.status == TR_MEMBER_DOWN;
}

int tr__sim_proto_create(tr_sim *sim) {
    sim_proto *sp = calloc(1, sizeof *sp);
    proto_end *ends = calloc((size_t)sim->n * sim->n, sizeof *ends);
    if (sp == NULL || ends == NULL) {
        free(sp);
        free(ends);
        return TR_ENOMEM;
    }
    sp->ends = ends;
    sim->proto = sp;
    uint32_t hb = sim->cfg.heartbeat_ms ? sim->cfg.heartbeat_ms : 500;
    sp->heartbeat_ms = hb;
    /* The real transport's derivation of its detector settings (cluster/transport.c). */
    sp->fdc.heartbeat_ms = hb;
    sp->fdc.min_std_ms = hb / 4 ? hb / 4 : 1;
    sp->fdc.pause_ms = hb * 2;
    sp->fdc.phi_suspect = TR_FD_PHI_SUSPECT;
    sp->fdc.phi_down = TR_FD_PHI_DOWN;
    sp->fdc.down_ms = sim->cfg.fd_down_ms ? sim->cfg.fd_down_ms : 3000;
    sp->fdc.backoff_min_ms = 100;
    sp->fdc.backoff_max_ms = 5000;
    if (tr__fd_config_check(&sp->fdc)) {
        return TR_EINVAL;
    }
    for (uint32_t i = 0; i < sim->n; i++) {
        tr_sim_rng_init(&sp->rng[i], sim->cfg.seed, SIM_STREAM_PROTO(i));
        memcpy(sp->secret[i], "troupe simulated cluster secret", 32);
        snprintf(sp->name[i], sizeof sp->name[i], "n%u", i + 1);
        snprintf(sp->canon[i], sizeof sp->canon[i], "n%u", i + 1);
        snprintf(sp->listen[i], sizeof sp->listen[i], "n%u:7000", i + 1);
        sp->incarnation[i] = 1;
        node_reset(sim, i);
        arm_tick(sim, i);
    }
    return 0;
}

void tr__sim_proto_destroy(tr_sim *sim) {
    if (sim->proto == NULL) {
        return;
    }
    for (size_t k = 0; k < (size_t)sim->n * sim->n; k++) {
        end_free(&sim->proto->ends[k]);
    }
    free(sim->proto->ends);
    free(sim->proto);
    sim->proto = NULL;
}

/* ---- For tests (tests/sim/test_proto*.c) ------------------------------------------------- */

int tr__sim_proto_counts_get(const tr_sim *sim, tr_sim_proto_counts *out) {
    if (sim->proto == NULL) {
        return TR_EINVAL;
    }
    *out = sim->proto->counts;
    return 0;
}

int tr_sim_net_stats_get(const tr_sim *sim, tr_sim_net_stats *out) {
    if (sim == NULL || out == NULL || sim->proto == NULL) {
        return TR_EINVAL;
    }
    const tr_sim_proto_counts *c = &sim->proto->counts;
    *out = (tr_sim_net_stats){.dials = c->dials,
                              .refused = c->refused,
                              .protocol_errors = c->protocol_errors,
                              .suspicions = c->suspicions,
                              .downs = c->verdicts[0],
                              .ups = c->verdicts[1]};
    return 0;
}

int tr__sim_proto_set_secret(tr_sim *sim, uint32_t i, const uint8_t secret[32]) {
    if (sim->proto == NULL || i >= sim->n) {
        return TR_EINVAL;
    }
    memcpy(sim->proto->secret[i], secret, 32);
    return 0;
}

bool tr__sim_proto_linked(const tr_sim *sim, uint32_t i, uint32_t k) {
    return sim->proto != NULL && i != k &&
           sim->proto->ends[(size_t)i * sim->n + k].state == END_LINKED;
}

int tr__sim_proto_set_identity(tr_sim *sim, uint32_t i, const char *name, bool client,
                               bool silent) {
    if (sim->proto == NULL || i >= sim->n || name == NULL || strlen(name) > TR_NAME_MAX) {
        return TR_EINVAL;
    }
    snprintf(sim->proto->name[i], sizeof sim->proto->name[i], "%s", name);
    sim->proto->client[i] = client;
    sim->proto->silent[i] = silent;
    return 0;
}

int tr__sim_proto_inject(tr_sim *sim, uint32_t i, uint32_t k, const uint8_t *p, size_t n) {
    if (sim->proto == NULL || i >= sim->n || k >= sim->n || i == k ||
        end_of(sim, i, k)->state < END_HANDSHAKE) {
        return TR_EINVAL;
    }
    stream_write(sim, i, k, p, n);
    return 0;
}

bool tr__sim_proto_reconnected(tr_sim *sim) {
    if (sim->proto == NULL) {
        return true;
    }
    for (uint32_t i = 0; i < sim->n; i++) {
        for (uint32_t k = 0; k < sim->n; k++) {
            if (i == k || !sim->nodes[i].up || !sim->nodes[k].up) {
                continue;
            }
            const proto_end *e = end_of(sim, i, k);
            if (e->state != END_LINKED || e->broken ||
                tr__sim_link(sim, k, i)->epoch != e->rx_epoch) {
                return false; /* not linked, or over a stream a cut broke */
            }
        }
    }
    return true;
}
