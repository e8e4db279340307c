/* tr_forward on 3 simulated nodes: the target answers the original requester directly, on
 * the same node and across nodes; a requester on a third node is relayed; a target node the
 * failure detector holds down is refused at once; bad forwards are refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull
enum {
    T_ASK = TR_MSG_USER + 1
};

/* What the actors saw (the simulator runs on the test's thread). */
static struct {
    tr_addr forwarder[3];   /* each node's "fwd" */
    tr_trace handled_trace; /* the trace of the request fwd last handled */
    uint32_t echo_from_node;
    bool echo_from_forwarder, echo_same_trace;
    uint32_t fwd_answers; /* replies or timeouts that reached fwd's receive */
} seen;

/* echo: replies [its node id, the node the request came from]. */
static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type != T_ASK) {
        return TR_CONTINUE;
    }
    seen.echo_from_node = m->from.node;
    seen.echo_from_forwarder = false;
    for (int i = 0; i < 3; i++) {
        seen.echo_from_forwarder |= tr_addr_eq(m->from, seen.forwarder[i]);
    }
    seen.echo_same_trace = memcmp(m->trace.id, seen.handled_trace.id, 16) == 0;
    uint8_t out[2] = {(uint8_t)tr_self(ctx).node, (uint8_t)m->from.node};
    tr_reply(ctx, m, T_ASK, out, sizeof out);
    return TR_CONTINUE;
}

/* fwd: forwards a request to the name in its body; a refused forward is answered with the
 * error code (one negative byte). */
static int fwd_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    seen.forwarder[tr_self(ctx).node - 1] = tr_self(ctx);
    return 0;
}

static int fwd_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    if (m->type == TR_MSG_TIMEOUT || tr_msg_is_reply(m)) {
        seen.fwd_answers++;
    }
    if (m->type != T_ASK || tr_msg_is_reply(m)) {
        return TR_CONTINUE;
    }
    char to[TR_NAME_MAX + 1] = "";
    memcpy(to, m->body, m->body_len < TR_NAME_MAX ? m->body_len : TR_NAME_MAX);
    seen.handled_trace = m->trace;
    int8_t rc = (int8_t)tr_forward(ctx, m, to);
    if (rc) {
        tr_reply(ctx, m, T_ASK, &rc, 1);
    }
    return TR_CONTINUE;
}

static const tr_behaviour echo_b = {.name = "echo", .receive = echo_receive};
static const tr_behaviour fwd_b = {.name = "fwd", .init = fwd_init, .receive = fwd_receive};

static int boot(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "echo"};
    int rc = tr_node_spawn(node, &echo_b, &o, NULL, 0, NULL);
    o.name = "fwd";
    return rc ? rc : tr_node_spawn(node, &fwd_b, &o, NULL, 0, NULL);
}

static tr_sim *sim_new(void) {
    memset(&seen, 0, sizeof seen);
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.net =
        TR_SIM_NET_ORACLE; /* refusal at once depends on the oracle's detector (5 ms after the fact) */
    cfg.store = false;
    cfg.boot = boot;
    tr_sim *sim = NULL;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    tr_sim_run_for(sim, MS);
    return sim;
}

/* Asks node at's "fwd" to forward to `to`; returns the reply's body (2 bytes: the answering
 * node and the requester's node seen there; or 1 byte: the forward's error). */
static int ask(tr_sim *sim, uint32_t at, const char *fwd, const char *to, uint8_t out[2]) {
    tr_msg *r = NULL;
    int rc = tr_sim_request(sim, at, fwd, T_ASK, to, strlen(to), 500 * MS, &r);
    if (rc) {
        return rc;
    }
    cr_assert(r->body_len == 1 || r->body_len == 2, "reply of %u bytes", r->body_len);
    rc = r->body_len == 1 ? (int8_t)r->body[0] : 0;
    memcpy(out, r->body, r->body_len);
    tr_msg_free(r);
    return rc;
}

Test(forward, the_target_answers_the_original_requester_on_the_same_node) {
    tr_sim *sim = sim_new();
    uint8_t out[2];
    cr_assert_eq(ask(sim, 0, "fwd", "echo", out), 0);
    cr_assert(out[0] == 1 && out[1] == 1 && seen.echo_from_node == 1);
    cr_assert(!seen.echo_from_forwarder, "the target saw the forwarder as the sender");
    cr_assert(seen.echo_same_trace, "the trace was not kept");
    cr_assert_eq(seen.fwd_answers, 0, "the answer went through the forwarder");
    tr_sim_destroy(sim);
}

Test(forward, the_target_on_another_node_answers_the_requester_directly) {
    tr_sim *sim = sim_new();
    uint8_t out[2];
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n2", out), 0);
    cr_assert(out[0] == 2 && out[1] == 1, "answered by n%u for n%u", out[0], out[1]);
    cr_assert(!seen.echo_from_forwarder && seen.echo_same_trace);
    cr_assert_eq(seen.fwd_answers, 0, "the answer went through the forwarder");
    tr_sim_destroy(sim);
}

Test(forward, a_requester_on_a_third_node_is_relayed_without_reaching_the_forwarder) {
    tr_sim *sim = sim_new();
    uint8_t out[2];
    cr_assert_eq(ask(sim, 0, "fwd@n2", "echo@n3", out), 0);
    cr_assert(out[0] == 3 && out[1] == 2, "answered by n%u for n%u", out[0], out[1]);
    cr_assert(seen.echo_from_forwarder && seen.echo_same_trace);
    cr_assert_eq(seen.fwd_answers, 0, "the relayed answer reached the forwarder's receive");
    /* a relay that is never answered: the requester times out, the forwarder hears nothing */
    cr_assert_eq(ask(sim, 0, "fwd@n2", "nobody@n3", out), TR_ETIMEDOUT);
    tr_sim_run_for(sim, 70000 * MS); /* past the relay's own timeout */
    cr_assert_eq(seen.fwd_answers, 0, "the relay's timeout reached the forwarder's receive");
    tr_sim_destroy(sim);
}

Test(forward, a_target_node_known_down_is_refused_at_once_and_up_again_is_reached) {
    tr_sim *sim = sim_new();
    uint8_t out[2];
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n3", out), 0); /* n1 now watches n3 */
    cr_assert_eq(tr_sim_isolate(sim, 2), 0);
    tr_sim_run_for(sim, 50 * MS); /* past the failure detection delay */
    uint64_t t0 = tr_sim_now_ns(sim);
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n3", out), TR_EUNREACH);
    cr_assert_lt(tr_sim_now_ns(sim) - t0, 10 * MS, "not refused at once");
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n2", out), 0, "another node is still reached");
    cr_assert_eq(tr_sim_heal(sim), 0);
    tr_sim_run_for(sim, 50 * MS);
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n3", out), 0, "n3 is up again");
    cr_assert(out[0] == 3 && out[1] == 1);
    tr_sim_destroy(sim);
}

Test(forward, a_restarted_node_learns_again_which_peers_are_down) {
    tr_sim *sim = sim_new();
    uint8_t out[2];
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n3", out), 0); /* n1 watches its peers */
    cr_assert_eq(tr_sim_crash(sim, 0), 0);
    cr_assert_eq(tr_sim_restart(sim, 0), 0);
    tr_sim_run_for(sim, MS);
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n2", out), 0); /* the new incarnation watches */
    cr_assert_eq(tr_sim_isolate(sim, 2), 0);
    tr_sim_run_for(sim, 50 * MS);
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n3", out), TR_EUNREACH, "n3's fall went unnoticed");
    tr_sim_destroy(sim);
}

Test(forward, bad_forwards_are_refused) {
    tr_sim *sim = sim_new();
    uint8_t out[2];
    cr_assert_eq(ask(sim, 0, "fwd", "echo@n9", out), TR_EUNREACH, "an unknown node");
    cr_assert_eq(ask(sim, 0, "fwd", "@n2", out), TR_EINVAL, "an empty name");
    tr_msg reply = {.type = T_ASK, .from = {1, 0, 1}};
    cr_assert_eq(tr_forward(NULL, &reply, "echo"), TR_EINVAL);
    tr_sim_destroy(sim);
}
