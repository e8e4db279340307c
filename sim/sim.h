/*
 * sim.h — internals of the sim engine (sim/engine.c, sim/engine_ops.c, sim/engine_loop.c,
 * sim/queue.c, sim/net.c, sim/nemesis.c, sim/prng.c, sim/store_dir.c, sim/determinism.c).
 *
 * What: one tr_sim drives N tr_nodes in one thread. All activity is an event in a 4-ary
 * min-heap ordered by (virtual time ns, sequence number); the sequence number makes ties
 * deterministic (FIFO among events of equal time). Events due exactly now skip the heap
 * through a FIFO ring (same order, O(1)). Timers, which wait long (timeouts) and would make
 * every other event's sift longer, live in a heap of their own; the loop pops the least
 * (time, seq) of ring head, heap top and timer-heap top, so the order is exactly that of one
 * heap. Events live in a slab indexed by slot; heaps and ring hold (time, seq, slot) so that
 * sifting moves 24 bytes. A timer the runtime withdraws (ops->timer_cancel: a reply beat
 * its request's timeout) is marked cancelled in its slot and dropped untraced when it comes
 * up; the timer heap is compacted once cancelled entries are most of it.
 *
 * Invariants:
 *   1. sim->now never decreases; every event is pushed at a time >= now.
 *   2. An event bound to a node carries the node's epoch at push time; a crash bumps the
 *      epoch, so events of the previous incarnation (RUN of freed actors, its timers, its
 *      commits) are discarded without being touched.
 *   3. A delivery carries its link's epoch at send time; cutting a link (or crashing one of
 *      its ends) bumps it, so what was in flight is lost, as on a broken TCP connection.
 *   4. FIFO per link: a delivery is due no earlier than the previous one on that link
 *      (ties are ordered by sequence), except for messages chosen to reorder.
 *   5. Nothing here reads a clock, a random source or a pointer value into the trace: the
 *      trace hash and every decision depend only on (config, calls, code).
 *
 * Ownership: the sim owns its nodes and their stores (closed after tr__node_destroy), the encoded
 * envelopes of messages in flight (freed when delivered or dropped) and the store
 * directories (removed at destroy).
 */
#ifndef TR_SIM_H
#define TR_SIM_H

#include <string.h>

#include "runtime/assert.h"
#include "runtime/codec.h"
#include "runtime/engine.h"
#include "runtime/store.h"
#include "troupe.h"

enum sim_event_kind {
    SIM_EV_RUN = 1,    /* the node's CPU: tr__actor_run of the head of its run queue */
    SIM_EV_TIMER,      /* tr__actor_timer_fire */
    SIM_EV_DELIVER,    /* decode an envelope, tr__node_deliver */
    SIM_EV_COMMIT,     /* tr__store_commit of the node's store */
    SIM_EV_CALL,       /* tr_sim_at callback (global, not bound to a node) */
    SIM_EV_NODE_EVENT, /* tr__node_event: failure detector verdict */
    SIM_EV_PROTO,      /* TR_SIM_NET_PROTOCOL: a node's protocol tick (net_proto.c) */
    SIM_EV_KIND_COUNT
};

typedef struct sim_event {
    uint8_t kind;
    bool arrived;       /* a delivery that reached its (paused) node: no longer on the link */
    bool via_link;      /* a FIFO delivery: popping it moves its link's next message to the heap */
    bool cancelled;     /* a timer withdrawn by ops->timer_cancel: dropped, untraced */
    bool in_timer_heap; /* queued in the timer heap (timer_heap_cancelled counts cancelled ones) */
    uint8_t seg;        /* a delivery that is a stream segment (SIM_SEG_*), 0: an envelope */
    uint32_t node;      /* index of the node it runs on (deliveries: the receiver) */
    uint32_t epoch;     /* that node's epoch when pushed */
    union {
        struct {
            tr_addr owner;
            uint64_t id;
            uint64_t due_local; /* in the node's local clock */
        } timer;
        struct {
            uint8_t *buf; /* owned encoded envelope */
            uint32_t len;
            uint32_t from;
            uint64_t link_epoch;
            uint32_t conn; /* a stream segment's connection (net_proto.c) */
        } msg;
        struct {
            void (*fn)(tr_sim *sim, void *ud);
            void *ud;
        } call;
        struct {
            uint32_t about; /* node index */
            bool up;
        } nev;
    } u;
} sim_event;

typedef struct sim_heap_entry {
    uint64_t time;
    uint64_t seq;
    uint32_t slot;  /* slab index, or SIM_SLOT_RUN | node index (below) */
    uint32_t epoch; /* a SIM_SLOT_RUN entry's node epoch (else unused) */
} sim_heap_entry;

/* A node's RUN event lives in its queue entry alone (slot = SIM_SLOT_RUN | node index, with
 * the epoch beside it): half of all events are RUNs, and they need no slab slot, copy or
 * release. A RUN that must wait for a paused node is given a slab slot then (see defer).
 * The slab stays below 2^31 slots. */
#define SIM_SLOT_RUN 0x80000000u

typedef struct sim_link {
    bool up;
    uint64_t epoch;
    uint64_t last_due;    /* FIFO: due time of the latest message put on the link */
    uint64_t spike_extra; /* delay spike: extra ns for sends before spike_until */
    uint64_t spike_until;
    tr_sim_rng rng_delay; /* delays only, so turning a fault on does not shift them */
    tr_sim_rng rng_fault; /* loss / dup / reorder draws */
    /* FIFO deliveries in send order; only the head is in the heap (head_in_heap), so the
     * heap holds at most one delivery per link. Their (time, seq) keys are fixed at send,
     * hence the pop order is the same as if all were in the heap. */
    sim_heap_entry *q;
    uint32_t q_head, q_count, q_cap;
    bool head_in_heap;
    uint32_t head_slot; /* the head's event, while head_in_heap */
} sim_link;

typedef struct sim_node {
    tr_node *node;
    tr_store *store; /* owned (closed after tr__node_destroy); NULL without a store */
    uint32_t index;
    uint32_t epoch;
    bool up;
    bool paused;
    bool commit_pending;
    bool cpu_pending;    /* a RUN event for this node is queued (or deferred) */
    uint64_t busy_until; /* the node's one simulated CPU is busy until then */
    tr_actor **runq;     /* runnable actors, FIFO: one entry per ops->schedule call */
    uint32_t runq_head, runq_count, runq_cap;
    uint64_t processed_last; /* `delivered` after the last run */
    uint64_t delivered;      /* messages its actors received (ops->delivered): the same
                                 count as tr_stats.messages_delivered, without a call */
    tr_sim_rng rng;          /* ops->random */
    /* Local clock: raw(t) = t + offset + drift_ppm * (t - drift_base) / 1e6, clamped to
     * never run backwards (clock_last). */
    int64_t clock_offset;
    int32_t drift_ppm;
    uint64_t drift_base;
    uint64_t clock_last;
    uint64_t watch_mask; /* nodes this node asked to hear about (ops->watch_node) */
    uint64_t seen_mask;  /* ... and the last verdict sent about each: 1 = up */
    uint32_t *deferred;  /* slots of events that arrived while paused, in order */
    uint32_t deferred_count, deferred_cap;
    /* Storage faults (sim/nemesis.c): commits fail with disk_err while it is set and take
     * disk_slow_ns longer; store_err: the code the store failed with (0: it works);
     * disk_torn: the data file is torn, found at the next restart; store_broken: the last
     * restart's open refused the store (the node stays down). */
    int disk_err;
    int store_err;
    int store_broken;
    bool disk_torn;
    uint64_t disk_slow_ns;
} sim_node;

/* Check-determinism records: one per event. */
typedef struct sim_record {
    uint64_t hash; /* trace hash after the event */
    uint64_t time;
    uint64_t a, b, c; /* kind-specific details (see describe() in determinism.c) */
    uint32_t kind, node;
} sim_record;

typedef enum sim_mode {
    SIM_MODE_PLAIN,
    SIM_MODE_RECORD,
    SIM_MODE_COMPARE
} sim_mode;

/* The request tr_sim_request is waiting for (engine.c): a hidden client actor on the node
 * sends it and records the answer here. One at a time; the actor checks `active` and `id`
 * before touching anything, so a stale one (its caller gave up) does nothing. */
typedef struct sim_request {
    uint64_t id; /* the current request's number, also its client actor's token */
    bool active; /* tr_sim_request is waiting */
    bool answered;
    int err;          /* answered: 0 (reply set) or why not */
    tr_msg *reply;    /* owned until handed to the caller */
    const char *name; /* borrowed from the caller while active, as body */
    const void *body;
    size_t len;
    uint32_t type;
    uint32_t timeout_ms;
} sim_request;

struct tr_sim {
    tr_sim_config cfg;
    uint32_t n;
    uint64_t now;
    uint64_t seq;
    uint64_t trace;
    tr_sim_stats stats;
    sim_heap_entry *heap; /* every future event but timers */
    uint32_t heap_count, heap_cap;
    sim_heap_entry *timer_heap; /* future timers (same capacity as heap) */
    uint32_t timer_heap_count;
    uint32_t timer_heap_cancelled; /* entries of timer_heap whose timer was withdrawn */
    sim_heap_entry *ring;          /* events due at now, FIFO (see push_slot) */
    uint32_t ring_head, ring_count, ring_cap;
    sim_event *slab;
    uint32_t *free_slots;
    uint32_t slab_cap, free_count;
    sim_node nodes[TR_SIM_NODES_MAX];
    sim_link *links; /* n * n, [from * n + to] */
    tr_sim_rng rng_nemesis;
    char store_dir[256]; /* "" when no store */
    int store_lock_fd;   /* store_dir/owner.lock, flock'ed while the sim lives; 0: none */
    sim_mode mode;
    sim_record *rec;
    uint64_t rec_count, rec_cap;
    const sim_record *cmp; /* compare mode: the first run's records */
    uint64_t cmp_count;
    tr_sim_divergence *div;
    bool destroying;
    uint32_t event_node;             /* index + 1 of the node of the event being run; 0: none */
    struct tr__sim_trace *trace_out; /* --trace (sim/trace.h), owned; NULL: none */
    struct tr__sim_spans *spans_out; /* --spans (sim/spans.h), owned; NULL: none */
    uint8_t *buf_pool[1024];         /* free small envelope buffers (tr__sim_buf_alloc) */
    uint32_t buf_pool_count;
    sim_request req;
    struct sim_proto *proto; /* owned; TR_SIM_NET_PROTOCOL only, else NULL */
    tr_sim_probe *probes;    /* owned; tr_probe's facts, in the order they were made */
    size_t probe_count, probe_cap;
    uint64_t probes_dropped;
};

/* prng.c: stream ids of the engine (user streams start at TR_SIM_STREAM_USER). */
#define SIM_STREAM_NODE(i) ((1ull << 24) + (i))
#define SIM_STREAM_LINK_DELAY(f, t) ((2ull << 24) + (uint64_t)(f) * TR_SIM_NODES_MAX + (t))
#define SIM_STREAM_LINK_FAULT(f, t) ((3ull << 24) + (uint64_t)(f) * TR_SIM_NODES_MAX + (t))
#define SIM_STREAM_NEMESIS (4ull << 24)
#define SIM_STREAM_PROTO(i) ((5ull << 24) + (i)) /* --net protocol: nonces, jitter, segments */

/* Always-on invariant check: on failure prints the seed, event index and virtual time (so
 * the run can be replayed to that point) and aborts. */
#define SIM_ASSERT(sim, cond) \
    ((cond) ? (void)0 : tr__sim_assert_fail((sim), #cond, __FILE__, __LINE__))
/* Aborts the run (after removing its stores' temporary directory). */
_Noreturn void tr__sim_die(const tr_sim *sim);
_Noreturn void tr__sim_assert_fail(const tr_sim *sim, const char *expr, const char *file, int line);

/* engine.c */
/* The thread's TR_ASSERT context while a simulation runs (runtime/assert.h): enter installs
 * the sim's (seed, event number, virtual time, node) and keeps what was there in *saved;
 * leave puts that back. Pairs nest. */
typedef struct tr__sim_context {
    tr__assert_context_fn fn;
    void *arg;
} tr__sim_context;
void tr__sim_context_enter(tr_sim *sim, tr__sim_context *saved);
void tr__sim_context_leave(const tr__sim_context *saved);
#define SIM_STORE_DEFER_BYTES (1u << 16) /* see open_store */

/* engine_ops.c */
/* The ops of an untraced node (tr__sim_engine_traced, sim/trace.h, switches them). */
const tr_engine_ops *tr__sim_engine_ops(void);
uint32_t tr__sim_index(tr_sim *sim, tr_node *node);
uint64_t tr__sim_local_now(tr_sim *sim, sim_node *sn);
uint64_t tr__sim_local_to_global(tr_sim *sim, sim_node *sn, uint64_t due_local);

/* engine_loop.c */
/* Puts actor at the tail of node sn's run queue and wakes its CPU (a RUN event when idle). */
void tr__sim_cpu_schedule(tr_sim *sim, sim_node *sn, tr_actor *actor);

/* queue.c (see sim/queue.h for the queue's own calls) */
uint32_t tr__sim_push(tr_sim *sim, uint64_t time, const sim_event *ev);
#define SIM_BUF_SMALL 256
#define SIM_BUF_POOL_MAX 1024
/* Envelope buffers; buf_free must get the length the buffer was allocated with. */
uint8_t *tr__sim_buf_alloc(tr_sim *sim, size_t len);
void tr__sim_buf_free(tr_sim *sim, uint8_t *buf, size_t len);
/* For link queues: a slot holding *ev, the next sequence number, a heap insert of a keyed
 * entry (never the now-ring: its key may be older than the ring's). */
uint32_t tr__sim_alloc_event(tr_sim *sim, const sim_event *ev);
uint64_t tr__sim_next_seq(tr_sim *sim);
void tr__sim_release_slot(tr_sim *sim, uint32_t slot);
void tr__sim_heap_insert(tr_sim *sim, sim_heap_entry e);
void tr__sim_free_event(tr_sim *sim, sim_event *ev);
/* Recomputes the due time of node i's pending timers after its clock changed. */
void tr__sim_retime_timers(tr_sim *sim, uint32_t i);

/* The trace hash's mixing step (engine, net). */
static inline uint64_t tr__sim_mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0x100000001b3ull;
    h ^= h >> 29;
    return h;
}

static inline uint64_t tr__sim_hash_bytes(uint64_t h, const uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = tr__sim_mix(h, w);
    }
    uint64_t tail = n;
    for (; i < n; i++) {
        tail = (tail << 8) | p[i];
    }
    return tr__sim_mix(h, tail);
}

/* net.c */
int tr__sim_send_remote(void *engine, tr_node *node, tr_msg *msg, const char *to_name);
/* Delivers (or drops) a message; fills r->a (from << 32 | type), r->b (corr), r->c (content). */
void tr__sim_deliver(tr_sim *sim, sim_event *ev, sim_record *r);
sim_link *tr__sim_link(tr_sim *sim, uint32_t from, uint32_t to);
/* Sets link from -> to up or down; a cut bumps the epoch. Returns true if it changed. */
bool tr__sim_link_set(tr_sim *sim, uint32_t from, uint32_t to, bool up);
void tr__sim_link_break(tr_sim *sim, uint32_t from, uint32_t to);
/* The head delivery of link from -> to left the heap: put the next one in. */
void tr__sim_link_advance(tr_sim *sim, uint32_t from, uint32_t to);
/* The same, for a head that is still at the heap's top: hands out the link's next queued
 * delivery (false if none) for the caller to put in the head's place. */
bool tr__sim_link_next(tr_sim *sim, uint32_t from, uint32_t to, sim_heap_entry *next);
/* Frees the queued deliveries of every link (destroy). */
void tr__sim_links_free(tr_sim *sim);

/* net.c: stream segments of TR_SIM_NET_PROTOCOL (kinds of sim_event.seg) */
enum {
    SIM_SEG_SYN = 1,
    SIM_SEG_SYNACK,
    SIM_SEG_DATA,
    SIM_SEG_RST
};
/* Puts a segment (buf owned, NULL for SYN/SYNACK/RST) on link from -> to: the link's delay,
 * FIFO, a lost segment retransmitted after SIM_RTO_NS (TCP does not lose bytes), nothing if
 * the link is cut or `to` is down. */
void tr__sim_stream_put(tr_sim *sim, uint32_t from, uint32_t to, uint8_t seg, uint32_t conn,
                        uint8_t *buf, uint32_t len);
#define SIM_RTO_NS 200000000ull

/* net_proto.c: the cluster protocol core of proto/ over simulated byte streams */
int tr__sim_proto_create(tr_sim *sim);
void tr__sim_proto_destroy(tr_sim *sim);
/* A node's protocol tick (SIM_EV_PROTO): heartbeats, gossip, phi, dials, deadlines. */
void tr__sim_proto_tick(tr_sim *sim, uint32_t i, sim_record *r);
/* A stream segment reached node ev->node (r as tr__sim_deliver). */
void tr__sim_proto_segment(tr_sim *sim, sim_event *ev, sim_record *r);
/* An encoded envelope (buf owned, from tr__sim_buf_alloc with len) to send f -> t. */
int tr__sim_proto_send(tr_sim *sim, uint32_t f, uint32_t t, uint8_t *buf, uint32_t len);
/* Node i crashed (its sockets reset) or restarted (a fresh incarnation, its tick armed). */
void tr__sim_proto_crash(tr_sim *sim, uint32_t i);
void tr__sim_proto_restart(tr_sim *sim, uint32_t i);
/* Does node w's failure detector hold node k down (for a new watch)? */
bool tr__sim_proto_down(const tr_sim *sim, uint32_t w, uint32_t k);
/* What the protocol did, for tests and reports. */
typedef struct tr_sim_proto_counts {
    uint64_t dials;
    uint64_t closes;
    uint64_t refused;         /* connections closed before or at admission */
    uint64_t protocol_errors; /* TR_LINK_ERROR: malformed input, failed handshakes */
    uint64_t suspicions;      /* SUSPECT verdicts of phi */
    uint64_t verdicts[2];     /* [0] DOWN, [1] UP */
    uint64_t members_learned; /* gossip entries naming a node that is not in the sim */
    char last_close[192];     /* "nI -> nK: why" of the last close node I decided */
} tr_sim_proto_counts;
int tr__sim_proto_counts_get(const tr_sim *sim, tr_sim_proto_counts *out);
/* Hostile peers, for tests: node i's secret; node i claims another name, calls itself a
 * client, or writes nothing at all (it still dials and accepts). Before the first tick. */
int tr__sim_proto_set_secret(tr_sim *sim, uint32_t i, const uint8_t secret[32]);
int tr__sim_proto_set_identity(tr_sim *sim, uint32_t i, const char *name, bool client, bool silent);
/* Writes raw bytes on node i's connection to k (which must be open). */
int tr__sim_proto_inject(tr_sim *sim, uint32_t i, uint32_t k, const uint8_t *p, size_t n);
bool tr__sim_proto_linked(const tr_sim *sim, uint32_t i, uint32_t k);
/* Every pair of up nodes is linked, both ends, over streams no cut broke since they opened:
 * the cluster has reconnected (the experiment runner's quiet period starts then). Always true
 * under TR_SIM_NET_ORACLE. */
bool tr__sim_proto_reconnected(tr_sim *sim);

/* nemesis.c */
/* TR_SIM_NET_PROTOCOL: node w's detector says k went up or down; watchers hear it now. */
void tr__sim_verdict(tr_sim *sim, uint32_t w, uint32_t k, bool up);
void tr__sim_watch_node(void *engine, tr_node *node, uint32_t id);
/* Re-evaluates every watcher's view after a topology or liveness change. */
void tr__sim_detect(tr_sim *sim);
void tr__sim_fault(tr_sim *sim, tr_sim_fault f);
/* Before a restart: opens a failed or torn store again (storage faults). 0 or its error. */
int tr__sim_store_restart(tr_sim *sim, sim_node *sn);

#endif /* TR_SIM_H */
