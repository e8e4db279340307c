/* test_proto_split.c — a false suspicion is a split brain waiting to happen: a small lock
 * service whose owner acts every 100 ms, in two versions:
 *   - trusting: a node that hears NODE_DOWN about the owner takes over at once (NODE_DOWN
 *     taken as proof of death), and an owner acts as long as it believes it owns;
 *   - leased: the owner acts only under a lease (a majority acknowledged a renewal less than
 *     LEASE_MS ago, by its own clock), a follower promises its acknowledgements to one owner
 *     for LEASE_MS, and a taker waits until LEASE_MS after the last renewal it heard.
 * The check: no two nodes act within ACT_MS of each other (one owner at a time). With the
 * oracle network a pause is never suspected, so the trusting lock passes; with the protocol
 * (--net protocol) phi declares the paused owner down, the trusting lock has two owners when
 * it resumes, and the leased one keeps one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull
#define NODES 3
#define ACT_MS 100
#define LEASE_MS 1000

enum {
    T_TICK = TR_MSG_USER + 1,
    T_RENEW,
    T_ACK
};

static bool leased;          /* which version the nodes run */
static uint64_t acts;        /* acts of all owners */
static uint32_t last_actor;  /* node id of the last act (0: none yet) */
static uint64_t last_act_ns; /* its true time */
static uint64_t split_at_ns; /* the first act of one owner within ACT_MS of another's (0: none) */
static tr_sim *current;

typedef struct lock {
    uint32_t self;
    bool down[NODES + 1];      /* node ids marked down by NODE_DOWN */
    uint32_t owner;            /* who this node takes for the owner */
    uint64_t heard_renew_ms;   /* last RENEW from the owner (local ms) */
    uint32_t promised;         /* the owner our ACKs went to ... */
    uint64_t promise_until_ms; /* ... until then */
    uint64_t lease_until_ms;   /* as owner: act before this (leased) */
    uint64_t renew_sent_ms;    /* the renewal being acknowledged, and its ACK count */
    uint32_t acks;
} lock;

static uint32_t lowest_alive(const lock *s) {
    for (uint32_t id = 1; id <= NODES; id++) {
        if (id == s->self || !s->down[id]) {
            return id;
        }
    }
    return s->self;
}

static void send_u64(tr_ctx *ctx, uint32_t to, uint32_t type, uint64_t v) {
    uint8_t buf[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_uint(&w, v);
    char name[32];
    snprintf(name, sizeof name, "lock@n%u", to);
    (void)tr_send_name(ctx, name, type, buf, w.len);
}

static uint64_t read_u64(const tr_msg *m) {
    tr_mp_reader r;
    uint64_t v = 0;
    tr_mp_reader_init(&r, m->body, m->body_len);
    (void)tr_mp_read_uint(&r, &v);
    return v;
}

static void act(tr_ctx *ctx, lock *s) {
    uint64_t now = tr_sim_now_ns(current);
    if (last_actor != 0 && last_actor != s->self && now - last_act_ns < ACT_MS * MS &&
        split_at_ns == 0) {
        split_at_ns = now;
    }
    last_actor = s->self;
    last_act_ns = now;
    acts++;
}

static void on_tick(tr_ctx *ctx, lock *s) {
    uint64_t now = tr_now_ms(ctx);
    uint32_t want = lowest_alive(s);
    if (want == s->self && s->owner != s->self) {
        /* taking over: the trusting version at once, the leased one after the old owner's
         * lease surely ran out */
        if (!leased || now - s->heard_renew_ms > LEASE_MS) {
            s->owner = s->self;
        }
    } else if (want != s->self) {
        s->owner = want;
    }
    if (s->owner != s->self) {
        return;
    }
    if (!leased || now < s->lease_until_ms) {
        act(ctx, s);
    }
    if (leased) {
        s->renew_sent_ms = now;
        s->acks = 1; /* our own */
        for (uint32_t id = 1; id <= NODES; id++) {
            if (id != s->self) {
                send_u64(ctx, id, T_RENEW, now);
            }
        }
    }
}

static int lock_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    lock *s = state;
    s->self = tr_self(ctx).node;
    s->owner = 1;
    for (uint32_t id = 1; id <= NODES; id++) {
        if (id != s->self) {
            (void)tr_monitor_node(ctx, id);
        }
    }
    /* the first owner starts with a lease, the others with a promise to it */
    s->lease_until_ms = s->self == 1 ? LEASE_MS : 0;
    s->promised = 1;
    s->promise_until_ms = LEASE_MS;
    uint64_t id;
    return tr_timer_start(ctx, ACT_MS, ACT_MS, T_TICK, &id);
}

static int lock_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    lock *s = state;
    uint64_t now = tr_now_ms(ctx);
    uint32_t from = m->from.node;
    switch (m->type) {
    case TR_MSG_NODE_DOWN: s->down[from] = true; break;
    case TR_MSG_NODE_UP: s->down[from] = false; break;
    case T_TICK: on_tick(ctx, s); break;
    case T_RENEW:
        if (from == s->owner) {
            s->heard_renew_ms = now;
        }
        if (from == s->owner && (s->promised == from || now >= s->promise_until_ms)) {
            s->promised = from;
            s->promise_until_ms = now + LEASE_MS;
            send_u64(ctx, from, T_ACK, read_u64(m));
        }
        break;
    case T_ACK:
        if (s->owner == s->self && read_u64(m) == s->renew_sent_ms && ++s->acks == NODES / 2 + 1) {
            s->lease_until_ms = s->renew_sent_ms + LEASE_MS;
        }
        break;
    default: break;
    }
    return TR_CONTINUE;
}

static const tr_behaviour lock_behaviour = {
    .name = "lock", .state_size = sizeof(lock), .init = lock_init, .receive = lock_receive};

static int boot(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "lock"};
    return tr_node_spawn(node, &lock_behaviour, &o, NULL, 0, NULL);
}

static void pause_owner(tr_sim *sim, void *ud) {
    cr_assert_eq(tr_sim_pause(sim, 0), 0);
}

static void resume_owner(tr_sim *sim, void *ud) {
    cr_assert_eq(tr_sim_resume(sim, 0), 0);
}

/* Runs the lock on 3 nodes; the owner (n1) is paused from 3 s to 8 s. */
static void run(uint64_t seed, tr_sim_net net, bool with_lease) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.seed = seed;
    cfg.nodes = NODES;
    cfg.store = false;
    cfg.net = net;
    cfg.boot = boot;
    leased = with_lease;
    acts = last_actor = last_act_ns = split_at_ns = 0;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    current = sim;
    tr_sim_at(sim, 3000 * MS, pause_owner, NULL);
    tr_sim_at(sim, 8000 * MS, resume_owner, NULL);
    tr_sim_run_for(sim, 20000 * MS);
    tr_sim_destroy(sim);
    current = NULL;
    cr_assert_gt(acts, 100, "the lock was used: %llu acts", (unsigned long long)acts);
}

Test(sim_proto_split, trusting_node_down_holds_under_the_oracle) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        run(seed, TR_SIM_NET_ORACLE, false);
        cr_assert_eq(split_at_ns, 0, "seed %llu: the oracle never suspects a paused node",
                     (unsigned long long)seed);
    }
}

Test(sim_proto_split, trusting_node_down_is_a_split_brain_under_the_protocol) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        run(seed, TR_SIM_NET_PROTOCOL, false);
        cr_assert_neq(split_at_ns, 0, "seed %llu: phi suspects the paused owner",
                      (unsigned long long)seed);
        /* the owner acts again the moment it resumes, while its successor acts too */
        cr_assert(split_at_ns >= 8000 * MS, "seed %llu: split at %llu ns", (unsigned long long)seed,
                  (unsigned long long)split_at_ns);
    }
}

Test(sim_proto_split, a_leased_lock_keeps_one_owner_under_the_protocol) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        run(seed, TR_SIM_NET_PROTOCOL, true);
        cr_assert_eq(split_at_ns, 0, "seed %llu: split at %llu ns", (unsigned long long)seed,
                     (unsigned long long)split_at_ns);
    }
}
