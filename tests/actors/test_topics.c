/* Topics and the durable outbox on the simulator: a publisher on n1 writes a state change
 * and its event in one commit (tr_outbox_put), subscribers on n2 and n3 count what they are
 * handed. Each guarantee has its planted bug, shown caught:
 *   - crash between the commit and the publish: the event still arrives, once per subscriber
 *     (TR_OUTBOX_BUG_VOLATILE, an outbox in memory only, loses it);
 *   - no event of a change that was never committed (TR_OUTBOX_BUG_PUBLISH_EARLY, a publish
 *     before the commit, delivers one after the crash took the change back);
 *   - a partitioned subscriber gets everything after the heal;
 *   - acks lost: resends are de-duplicated (TR_TOPIC_BUG_NO_DEDUP hands them over twice);
 *   - a slow subscriber: at most TR_TOPICS_QUEUE_MAX unacknowledged events, publishes beyond
 *     refused and retried, all delivered once it catches up ("topics-unbounded" goes past). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "actors/fmt.h"
#include "actors/topics.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define NODES 3
#define IDS 64
#define WRITE (TR_MSG_USER + 1)
#define SUB_RETRY (TR_MSG_USER + 2)

typedef struct world {
    tr_sim *sim;
    char topic[16];
    uint32_t outbox_bugs, inbox_bugs;
    const char *broker_bug;
    bool slow[NODES];
    uint32_t got[NODES][IDS]; /* events handed to the subscriber of node i as new */
    uint32_t duplicates[NODES];
    bool subscribed[NODES];
} world;

static world w;

/* ---- the publisher: a state change and its event in one commit -------------------------- */

typedef struct pub_state {
    tr_outbox ob;
} pub_state;

static int pub_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    (void)arg;
    (void)arg_len;
    pub_state *s = state;
    tr_outbox_config cfg = {.bugs = w.outbox_bugs};
    return tr_outbox_init(&s->ob, ctx, &cfg);
}

static int pub_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    pub_state *s = state;
    if (tr_outbox_receive(&s->ob, ctx, msg) || msg->type != WRITE || msg->body_len != 1) {
        return TR_CONTINUE;
    }
    uint8_t id = msg->body[0];
    char key[16];
    int n = snprintf(key, sizeof key, "state/%u", id);
    cr_assert_eq(tr_kv_put(ctx, key, (size_t)n, "x", 1), 0);
    cr_assert_eq(tr_outbox_put(&s->ob, ctx, w.topic, id, "ev", 2), 0);
    return TR_CONTINUE;
}

static const tr_behaviour pub_behaviour = {
    .name = "pub", .state_size = sizeof(pub_state), .init = pub_init, .receive = pub_receive};

/* ---- the subscriber ------------------------------------------------------------------ */

typedef struct sub_state {
    tr_topic_inbox in;
    uint64_t corr;
} sub_state;

static void subscribe(tr_ctx *ctx, sub_state *s) {
    char name[16];
    (void)snprintf(name, sizeof name, "sub@n%u", tr_self(ctx).node);
    cr_assert_eq(tr_topic_subscribe(ctx, w.topic, name, 500, &s->corr), 0);
}

static int sub_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    (void)arg;
    (void)arg_len;
    sub_state *s = state;
    s->in.bugs = w.inbox_bugs;
    subscribe(ctx, s);
    return 0;
}

static int sub_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    sub_state *s = state;
    uint32_t node = tr_self(ctx).node - 1;
    tr_topic_event ev;
    if (msg->type == TR_TOPIC_MSG_EVENT && w.slow[node]) {
        return TR_CONTINUE; /* falls behind: neither handled nor acked */
    }
    int rc = tr_topic_receive(&s->in, ctx, msg, &ev);
    if (rc == TR_TOPIC_NEW) {
        cr_assert_lt(ev.id, IDS);
        w.got[node][ev.id]++;
        cr_assert_eq(tr_topic_ack(ctx, msg), 0);
    } else if (rc == TR_TOPIC_DUPLICATE) {
        w.duplicates[node]++;
    } else if (msg->type == TR_TOPIC_MSG_SUBSCRIBED && msg->corr == s->corr) {
        w.subscribed[node] = true;
    } else if (msg->type == TR_MSG_TIMEOUT && msg->corr == s->corr) {
        subscribe(ctx, s);
    }
    return TR_CONTINUE;
}

static const tr_behaviour sub_behaviour = {
    .name = "sub", .state_size = sizeof(sub_state), .init = sub_init, .receive = sub_receive};

/* ---- the world ----------------------------------------------------------------------- */

static int boot(tr_node *node, void *ud) {
    (void)ud;
    uint32_t i = tr_node_id(node) - 1;
    tr_service_place place = {.node_index = i, .node_count = NODES};
    if (w.broker_bug) {
        (void)snprintf(place.bug, sizeof place.bug, "%s", w.broker_bug);
    }
    tr_spawn_opts bo = {.name = TR_TOPICS_NAME};
    int rc = tr_node_spawn(node, &tr_topics_broker, &bo, &place, sizeof place, NULL);
    if (rc == 0 && i == 0) {
        tr_spawn_opts po = {.name = "pub"};
        rc = tr_node_spawn(node, &pub_behaviour, &po, NULL, 0, NULL);
    } else if (rc == 0) {
        tr_spawn_opts so = {.name = "sub"};
        rc = tr_node_spawn(node, &sub_behaviour, &so, NULL, 0, NULL);
    }
    return rc;
}

/* A topic whose home is node `home`. */
static void pick_topic(uint32_t home) {
    for (uint32_t k = 0;; k++) {
        (void)snprintf(w.topic, sizeof w.topic, "orders-%u", k);
        if (tr__topic_home(w.topic, NODES) == home) {
            return;
        }
    }
}

static bool all_subscribed(tr_sim *sim, void *ud) {
    (void)sim;
    (void)ud;
    return w.subscribed[1] && w.subscribed[2];
}

static void start(uint32_t home, uint64_t commit_latency_ns) {
    tr_sim_config cfg;
    const char *broker_bug = w.broker_bug;
    uint32_t outbox_bugs = w.outbox_bugs, inbox_bugs = w.inbox_bugs;
    memset(&w, 0, sizeof w);
    w.broker_bug = broker_bug;
    w.outbox_bugs = outbox_bugs;
    w.inbox_bugs = inbox_bugs;
    pick_topic(home);
    tr_sim_config_init(&cfg);
    cfg.net = TR_SIM_NET_ORACLE;
    cfg.nodes = NODES;
    cfg.boot = boot;
    cfg.commit_latency_ns = commit_latency_ns;
    cr_assert_eq(tr_sim_create(&cfg, &w.sim), 0);
    cr_assert_eq(tr_sim_run_until(w.sim, all_subscribed, NULL, 5 * SEC), 0);
}

static void bugs(uint32_t outbox, uint32_t inbox, const char *broker) {
    memset(&w, 0, sizeof w);
    w.outbox_bugs = outbox;
    w.inbox_bugs = inbox;
    w.broker_bug = broker;
}

static void write_event(uint8_t id) {
    tr_addr pub;
    cr_assert_eq(tr_node_lookup(tr_sim_node(w.sim, 0), "pub", &pub), 0);
    cr_assert_eq(tr_node_send(tr_sim_node(w.sim, 0), pub, WRITE, &id, 1), 0);
}

static uint32_t delivered(uint32_t node, uint32_t id) {
    return w.got[node][id];
}

/* Whether the publisher's committed store holds the state change of id. */
static bool committed(uint32_t id) {
    tr_check_input in = {.node_count = NODES, .sim = w.sim};
    char key[16], buf[8];
    size_t len;
    int n = snprintf(key, sizeof key, "state/%u", id);
    return tr_check_kv_get(&in, 0, "pub", key, (size_t)n, buf, sizeof buf, &len) == 0;
}

static tr_topics_stats home_stats(uint32_t home) {
    tr_msg *reply = NULL;
    tr_topics_stats st;
    cr_assert_eq(
        tr_sim_request(w.sim, home, TR_TOPICS_NAME, TR_TOPIC_MSG_STATS, NULL, 0, SEC, &reply), 0);
    cr_assert_eq(tr_topics_stats_read(reply->body, reply->body_len, &st), 0);
    tr_msg_free(reply);
    return st;
}

/* ---- crash between the commit and the publish ----------------------------------------- */

static uint64_t commits_before;

static bool pub_committed(tr_sim *sim, void *ud) {
    (void)ud;
    tr_stats st;
    tr_node_stats_get(tr_sim_node(sim, 0), &st);
    return st.store_commits > commits_before;
}

/* Writes event 7, crashes n1 right after the commit that holds it (before the outbox hears
 * of it), restarts n1: how many times each subscriber was handed event 7. */
static void crash_after_commit(uint32_t counts[2]) {
    start(1, MS);
    tr_stats st;
    tr_node_stats_get(tr_sim_node(w.sim, 0), &st);
    commits_before = st.store_commits;
    write_event(7);
    cr_assert_eq(tr_sim_run_until(w.sim, pub_committed, NULL, tr_sim_now_ns(w.sim) + SEC), 0);
    cr_assert(committed(7), "the state change is committed");
    cr_assert_eq(delivered(1, 7) + delivered(2, 7), 0, "nothing was published yet");
    cr_assert_eq(tr_sim_crash(w.sim, 0), 0);
    tr_sim_run_for(w.sim, 100 * MS);
    cr_assert_eq(tr_sim_restart(w.sim, 0), 0);
    tr_sim_run_for(w.sim, 5 * SEC);
    counts[0] = delivered(1, 7);
    counts[1] = delivered(2, 7);
    tr_sim_destroy(w.sim);
}

Test(topics, crash_between_commit_and_publish_loses_nothing) {
    uint32_t c[2];
    bugs(0, 0, NULL);
    crash_after_commit(c);
    cr_expect_eq(c[0], 1);
    cr_expect_eq(c[1], 1);
}

Test(topics, planted_volatile_outbox_loses_the_event) {
    uint32_t c[2];
    bugs(TR_OUTBOX_BUG_VOLATILE, 0, NULL);
    crash_after_commit(c);
    cr_expect_eq(c[0] + c[1], 0, "caught: an outbox in memory only loses the event");
}

/* ---- no event of a change the crash took back ------------------------------------------ */

static bool any_delivered(tr_sim *sim, void *ud) {
    (void)sim;
    (void)ud;
    return delivered(1, 9) + delivered(2, 9) > 0;
}

/* Commits take 50 ms; n1 crashes 40 ms after the write (or as soon as a subscriber has the
 * event): whether a subscriber holds event 9 while the change it describes is not committed. */
static bool phantom_event(void) {
    start(1, 50 * MS);
    write_event(9);
    (void)tr_sim_run_until(w.sim, any_delivered, NULL, tr_sim_now_ns(w.sim) + 40 * MS);
    cr_assert_eq(tr_sim_crash(w.sim, 0), 0);
    tr_sim_run_for(w.sim, 100 * MS);
    cr_assert_eq(tr_sim_restart(w.sim, 0), 0);
    tr_sim_run_for(w.sim, 3 * SEC);
    bool phantom = (delivered(1, 9) + delivered(2, 9) > 0) && !committed(9);
    tr_sim_destroy(w.sim);
    return phantom;
}

Test(topics, no_event_before_its_commit) {
    bugs(0, 0, NULL);
    cr_expect(!phantom_event());
}

Test(topics, planted_publish_before_commit_is_caught) {
    bugs(TR_OUTBOX_BUG_PUBLISH_EARLY, 0, NULL);
    cr_expect(phantom_event(), "caught: an event of a change that was never committed");
}

/* ---- partitions ------------------------------------------------------------------------ */

Test(topics, partitioned_subscriber_gets_everything_after_the_heal) {
    bugs(0, 0, NULL);
    start(1, MS);
    cr_assert_eq(tr_sim_isolate(w.sim, 2), 0);
    for (uint8_t id = 1; id <= 10; id++) {
        write_event(id);
        tr_sim_run_for(w.sim, 10 * MS);
    }
    tr_sim_run_for(w.sim, 3 * SEC);
    for (uint32_t id = 1; id <= 10; id++) {
        cr_expect_eq(delivered(1, id), 1, "n2, event %u", id);
        cr_expect_eq(delivered(2, id), 0, "n3 is cut off, event %u", id);
    }
    cr_assert_eq(tr_sim_heal(w.sim), 0);
    tr_sim_run_for(w.sim, 3 * SEC);
    for (uint32_t id = 1; id <= 10; id++) {
        cr_expect_eq(delivered(1, id), 1, "n2, event %u", id);
        cr_expect_eq(delivered(2, id), 1, "n3 after the heal, event %u", id);
    }
    tr_sim_destroy(w.sim);
}

/* ---- lost acks: resends de-duplicated -------------------------------------------------- */

/* The home is n1; n3's acks to it are cut for 2 s, so it is sent every event again and again:
 * the most times n3's subscriber was handed one event as new, and the duplicates it dropped. */
static uint32_t most_handed(uint32_t *duplicates) {
    start(0, MS);
    cr_assert_eq(tr_sim_link_cut(w.sim, 2, 0), 0);
    for (uint8_t id = 1; id <= 5; id++) {
        write_event(id);
    }
    tr_sim_run_for(w.sim, 2 * SEC);
    cr_assert_eq(tr_sim_heal(w.sim), 0);
    tr_sim_run_for(w.sim, 3 * SEC);
    uint32_t most = 0;
    for (uint32_t id = 1; id <= 5; id++) {
        cr_expect_eq(delivered(1, id), 1, "n2, event %u", id);
        most = delivered(2, id) > most ? delivered(2, id) : most;
        cr_expect_geq(delivered(2, id), 1, "n3, event %u", id);
    }
    *duplicates = w.duplicates[2];
    cr_expect_eq(home_stats(0).pending, 0, "every event acked in the end");
    tr_sim_destroy(w.sim);
    return most;
}

Test(topics, resent_events_are_handed_over_once) {
    uint32_t dups;
    bugs(0, 0, NULL);
    cr_expect_eq(most_handed(&dups), 1);
    cr_expect_gt(dups, 0, "the cut acks made the home resend");
}

Test(topics, planted_no_dedup_is_caught) {
    uint32_t dups;
    bugs(0, TR_TOPIC_BUG_NO_DEDUP, NULL);
    cr_expect_gt(most_handed(&dups), 1, "caught: a resent event handed over again");
}

/* ---- a slow subscriber: back-pressure -------------------------------------------------- */

/* n3's subscriber ignores events while 40 are written; then it catches up. The home's
 * figures at the slow point; *all_once: every event reached both subscribers once. */
static tr_topics_stats slow_subscriber(bool *all_once) {
    start(1, MS);
    w.slow[2] = true;
    for (uint8_t id = 1; id <= 40; id++) {
        write_event(id);
        tr_sim_run_for(w.sim, 5 * MS);
    }
    tr_sim_run_for(w.sim, 2 * SEC);
    tr_topics_stats st = home_stats(1);
    w.slow[2] = false;
    tr_sim_run_for(w.sim, 20 * SEC);
    *all_once = true;
    for (uint32_t id = 1; id <= 40; id++) {
        *all_once = *all_once && delivered(1, id) == 1 && delivered(2, id) == 1;
    }
    tr_sim_destroy(w.sim);
    return st;
}

Test(topics, slow_subscriber_is_bounded_and_catches_up) {
    bool all_once;
    bugs(0, 0, NULL);
    tr_topics_stats st = slow_subscriber(&all_once);
    cr_expect_eq(st.queue_high, TR_TOPICS_QUEUE_MAX, "at most the bound, and reached");
    cr_expect_gt(st.refused, 0, "publishes beyond the bound were refused");
    cr_expect(all_once, "every event reached both subscribers once after the catch-up");
}

Test(topics, planted_unbounded_queue_is_caught) {
    bool all_once;
    bugs(0, 0, "topics-unbounded");
    tr_topics_stats st = slow_subscriber(&all_once);
    cr_expect_gt(st.queue_high, TR_TOPICS_QUEUE_MAX, "caught: past the bound");
}

/* ---- bad input ------------------------------------------------------------------------- */

Test(topics, malformed_messages_are_counted_not_fatal) {
    bugs(0, 0, NULL);
    start(1, MS);
    tr_addr broker;
    cr_assert_eq(tr_node_lookup(tr_sim_node(w.sim, 1), TR_TOPICS_NAME, &broker), 0);
    const uint8_t junk[] = {0x93, 0xa0, 0x01, 0xc1};
    const uint8_t long_topic[] = {0x92, 0xd9, 60, 'x'};
    tr_node_send(tr_sim_node(w.sim, 1), broker, TR_TOPIC_MSG_PUBLISH, junk, sizeof junk);
    tr_node_send(tr_sim_node(w.sim, 1), broker, TR_TOPIC_MSG_ACK, long_topic, sizeof long_topic);
    tr_node_send(tr_sim_node(w.sim, 1), broker, TR_TOPIC_MSG_SUBSCRIBE, NULL, 0);
    tr_sim_run_for(w.sim, 100 * MS);
    cr_expect_eq(home_stats(1).bad_messages, 3);
    write_event(3);
    tr_sim_run_for(w.sim, SEC);
    cr_expect_eq(delivered(1, 3), 1, "the broker still works");
    tr_sim_destroy(w.sim);
}

/* The names and keys the services build per message (actors/fmt.h) are byte for byte what
 * snprintf writes, truncation and return value included. */
Test(topics, names_are_formatted_as_snprintf_would) {
    static const uint64_t values[] = {0, 1, 9, 10, 99, 4294967295u, 18446744073709551615u};
    static const char *const parts[][2] = {{"topics", "@n"}, {"outbox/", ""}, {"", ""}};
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
            for (size_t cap = 0; cap <= 32; cap++) {
                char want[40], got[40];
                memset(want, 'x', sizeof want);
                memset(got, 'x', sizeof got);
                int n = snprintf(want, cap, "%s%s%llu", parts[p][0], parts[p][1],
                                 (unsigned long long)values[v]);
                size_t m = tr__fmt_u64(got, cap, parts[p][0], parts[p][1], values[v]);
                cr_assert_eq(m, (size_t)n, "value %zu part %zu cap %zu", v, p, cap);
                cr_assert_eq(memcmp(want, got, sizeof want), 0, "value %zu part %zu cap %zu: '%s'",
                             v, p, cap, cap ? got : "");
            }
        }
    }
}

Test(topics, joined_names_are_formatted_as_snprintf_would) {
    static const char *const parts[][3] = {{"orders", "@", "n3"},
                                           {"", "", ""},
                                           {"a", "", "bc"},
                                           {"stock-entity-type", "@", "node-17"}};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        for (size_t cap = 0; cap <= 32; cap++) {
            char want[40], got[40];
            memset(want, 'x', sizeof want);
            memset(got, 'x', sizeof got);
            int n = snprintf(want, cap, "%s%s%s", parts[p][0], parts[p][1], parts[p][2]);
            size_t m = tr__fmt_str3(got, cap, parts[p][0], parts[p][1], parts[p][2]);
            cr_assert_eq(m, (size_t)n, "part %zu cap %zu", p, cap);
            cr_assert_eq(memcmp(want, got, sizeof want), 0, "part %zu cap %zu: '%s'", p, cap,
                         cap ? got : "");
        }
    }
}
