/* The trace context and the deadline a message carries, on 3 simulated nodes (every remote
 * hop through the wire codec): a trace started on n1 reaches n2 and n3 with the same id, each
 * hop's parent span the span of the activation that sent it; the deadline's time left never
 * grows hop by hop; replies carry the trace and no deadline; traceparent text round-trips. */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull
enum {
    T_GO = TR_MSG_USER + 1, /* to "a": start a trace and a deadline, send to b@n2 */
    T_HOP,                  /* a -> b@n2 -> c@n3 */
    T_PLAIN,                /* to "a": send to b@n2 without starting anything */
    T_ASK                   /* to "c": a request, answered */
};

typedef struct seen_hop {
    bool got;
    tr_trace received; /* the message's trace as it arrived */
    tr_trace sent;     /* tr_trace_current while handling it */
    bool has_deadline;
    uint64_t left_ms;
} seen_hop;

static struct {
    seen_hop a, b, c, reply;
} seen;

static void note(seen_hop *h, tr_ctx *ctx, const tr_msg *m) {
    h->got = true;
    h->received = m->trace;
    tr_trace_current(ctx, &h->sent);
    h->left_ms = tr_msg_deadline_ms(ctx, m, &h->has_deadline);
}

static int a_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_GO) {
        cr_assert_eq(tr_trace_start(ctx, TR_TRACE_SAMPLED), 0);
        cr_assert_eq(tr_deadline_set(ctx, 800), 0);
    }
    if (m->type == T_GO || m->type == T_PLAIN) {
        note(&seen.a, ctx, m);
        tr_send_name(ctx, "b@n2", T_HOP, "\xc0", 1);
        tr_reply(ctx, m, m->type, "\xc0", 1);
    } else if (m->type == T_ASK && tr_msg_is_reply(m)) {
        note(&seen.reply, ctx, m);
    }
    return TR_CONTINUE;
}

static int b_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_HOP) {
        note(&seen.b, ctx, m);
        tr_send_name(ctx, "c@n3", T_HOP, "\xc0", 1);
    }
    return TR_CONTINUE;
}

static int c_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_HOP) {
        note(&seen.c, ctx, m);
        tr_request_name(ctx, "a@n1", T_ASK, "\xc0", 1, 1000, NULL);
    } else if (m->type == T_ASK && !tr_msg_is_reply(m)) {
        tr_reply(ctx, m, T_ASK, "\xc0", 1);
    }
    return TR_CONTINUE;
}

/* "a" answers the requests of c too (T_ASK not a reply): the same code path as c's. */
static int a_or_answer(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type == T_ASK && !tr_msg_is_reply(m)) {
        note(&seen.reply, ctx, m); /* c's request: the trace c sent */
        return TR_CONTINUE;
    }
    return a_receive(ctx, state, m);
}

static const tr_behaviour a_b = {.name = "a", .receive = a_or_answer};
static const tr_behaviour b_b = {.name = "b", .receive = b_receive};
static const tr_behaviour c_b = {.name = "c", .receive = c_receive};

static int boot(tr_node *node, void *ud) {
    (void)ud;
    const tr_behaviour *which[] = {&a_b, &b_b, &c_b};
    uint32_t i = tr_node_id(node) - 1;
    tr_spawn_opts o = {.name = which[i]->name};
    return tr_node_spawn(node, which[i], &o, NULL, 0, NULL);
}

static tr_sim *sim_new(void) {
    memset(&seen, 0, sizeof seen);
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = boot;
    tr_sim *sim = NULL;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_sim_run_for(sim, MS);
    return sim;
}

static void go(tr_sim *sim, uint32_t type) {
    tr_msg *r = NULL;
    cr_assert_eq(tr_sim_request(sim, 0, "a", type, "\xc0", 1, 500 * MS, &r), 0);
    tr_msg_free(r);
    tr_sim_run_for(sim, 200 * MS);
    cr_assert(seen.a.got && seen.b.got && seen.c.got, "the hops did not all run");
}

static bool same_id(const tr_trace *x, const tr_trace *y) {
    return memcmp(x->id, y->id, 16) == 0;
}

Test(trace, a_started_trace_crosses_two_nodes_with_parent_spans) {
    tr_sim *sim = sim_new();
    go(sim, T_GO);
    cr_assert(!tr_trace_is_set(&seen.a.received), "the simulator's request carried a trace");
    cr_assert(tr_trace_is_set(&seen.a.sent));
    cr_assert_eq(seen.a.sent.flags, TR_TRACE_SAMPLED);
    /* b got a's trace id, with a's activation span as its parent */
    cr_assert(same_id(&seen.b.received, &seen.a.sent));
    cr_assert_eq(memcmp(seen.b.received.span, seen.a.sent.span, 8), 0);
    cr_assert_eq(seen.b.received.flags, TR_TRACE_SAMPLED);
    /* b's activation has a span of its own, which c gets as its parent */
    cr_assert(same_id(&seen.b.sent, &seen.a.sent));
    cr_assert_neq(memcmp(seen.b.sent.span, seen.b.received.span, 8), 0, "b reused a's span");
    cr_assert(same_id(&seen.c.received, &seen.a.sent));
    cr_assert_eq(memcmp(seen.c.received.span, seen.b.sent.span, 8), 0);
    /* c's request back to a: still the same trace, c's span as parent */
    cr_assert(seen.reply.got);
    cr_assert(same_id(&seen.reply.received, &seen.a.sent));
    cr_assert_eq(memcmp(seen.reply.received.span, seen.c.sent.span, 8), 0);
    tr_sim_destroy(sim);
}

Test(trace, the_deadline_goes_down_hop_by_hop) {
    tr_sim *sim = sim_new();
    go(sim, T_GO);
    cr_assert(!seen.a.has_deadline, "the simulator's request carried a deadline");
    cr_assert(seen.b.has_deadline && seen.c.has_deadline);
    cr_assert(seen.b.left_ms <= 800 && seen.b.left_ms > 0, "b: %llu ms left",
              (unsigned long long)seen.b.left_ms);
    /* transit time is not subtracted (nothing measures it): the time left never grows */
    cr_assert(seen.c.left_ms <= seen.b.left_ms && seen.c.left_ms > 0,
              "c: %llu ms left after b's %llu", (unsigned long long)seen.c.left_ms,
              (unsigned long long)seen.b.left_ms);
    tr_sim_destroy(sim);
}

Test(trace, without_a_start_nothing_is_carried) {
    tr_sim *sim = sim_new();
    go(sim, T_PLAIN);
    cr_assert(!tr_trace_is_set(&seen.b.received) && !tr_trace_is_set(&seen.c.received));
    cr_assert(!seen.b.has_deadline && !seen.c.has_deadline);
    tr_sim_destroy(sim);
}

Test(trace, traceparent_text_round_trips_and_refuses_malformed_text) {
    tr_trace t, u;
    const char *w3c = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    cr_assert_eq(tr_trace_parse(w3c, &t), 0);
    cr_assert_eq(t.id[0], 0x4b);
    cr_assert_eq(t.span[7], 0xb7);
    cr_assert_eq(t.flags, TR_TRACE_SAMPLED);
    char text[56];
    cr_assert_eq(tr_trace_format(&t, text, sizeof text), 0);
    cr_assert_str_eq(text, w3c);
    cr_assert_eq(tr_trace_format(&t, text, 55), TR_ETOOBIG);
    cr_assert_eq(tr_trace_parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &u),
                 TR_EINVAL);
    cr_assert_eq(tr_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", &u),
                 TR_EINVAL);
    cr_assert_eq(tr_trace_parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &u),
                 TR_EINVAL);
    cr_assert_eq(tr_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", &u),
                 TR_EINVAL);
}
