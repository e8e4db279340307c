/* The runtime's counters per actor type and per dead-letter reason (runtime/metrics.h) on the
 * real engine, and their Prometheus text: spawns, stops, messages in and out of a type, dead
 * letters to a dead actor and to an unknown node, and a page too large for its buffer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/internal.h"
#include "runtime/metrics.h"
#include "troupe.h"

enum {
    T_ASK = TR_MSG_USER
};

static tr_runtime *rt;
static tr_inbox *inbox;
static tr_node *node;

static void setup(void) {
    tr_config cfg = {.workers = 2, .no_store = true};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    node = tr_runtime_node(rt);
    cr_assert_eq(tr_inbox_create(rt, &inbox), 0);
}

static void teardown(void) {
    tr_inbox_destroy(inbox);
    tr_runtime_destroy(rt);
}

static int answer(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == T_ASK) {
        tr_reply(ctx, msg, T_ASK, msg->body, msg->body_len);
    }
    return TR_CONTINUE;
}

static const tr_behaviour answerer = {.name = "answerer", .receive = answer};

static tr__metrics_type *row(void) {
    return tr__metrics_type_of(&node->metrics, &answerer);
}

static uint64_t load(_Atomic uint64_t *c) {
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Waits (5 s at most) until *c reaches want. */
static void wait_for(_Atomic uint64_t *c, uint64_t want, const char *what) {
    for (int i = 0; i < 500 && load(c) < want; i++) {
        usleep(10000);
    }
    cr_assert_eq(load(c), want, "%s: %llu, want %llu", what, (unsigned long long)load(c),
                 (unsigned long long)want);
}

static uint64_t in_of(void) {
    return tr__metrics_messages_in(row());
}
static uint64_t out_of(void) {
    return tr__metrics_messages_out(row());
}

/* Waits (5 s at most) until get() reaches want. */
static void wait_sum(uint64_t (*get)(void), uint64_t want, const char *what) {
    for (int i = 0; i < 500 && get() < want; i++) {
        usleep(10000);
    }
    cr_assert_eq(get(), want, "%s: %llu, want %llu", what, (unsigned long long)get(),
                 (unsigned long long)want);
}

Test(metrics, a_type_counts_its_spawns_stops_and_messages, .init = setup, .fini = teardown) {
    tr_addr a[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr_node_spawn(node, &answerer, NULL, NULL, 0, &a[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 5; k++) {
            tr_msg *reply = NULL;
            cr_assert_eq(tr_inbox_request(inbox, a[i], NULL, T_ASK, "x", 1, 5000, &reply), 0);
            tr_msg_free(reply);
        }
    }
    cr_assert_eq(load(&row()->spawned), 3);
    wait_sum(in_of, 15, "messages in"); /* init is not a message handled */
    wait_sum(out_of, 15, "messages out (the replies)");
    cr_assert_eq(tr_node_stop(node, a[1], 0), 0);
    wait_for(&row()->stopped, 1, "stopped");
    cr_assert_str_eq(row()->name, "answerer");
}

Test(metrics, dead_letters_are_counted_by_reason, .init = setup, .fini = teardown) {
    tr_addr a;
    cr_assert_eq(tr_node_spawn(node, &answerer, NULL, NULL, 0, &a), 0);
    cr_assert_eq(tr_node_stop(node, a, 0), 0);
    while (tr_node_actor_is_alive(node, a)) {
        usleep(1000);
    }
    _Atomic uint64_t *dead = node->metrics.dead;
    cr_assert_eq(tr_node_send(node, a, T_ASK, NULL, 0), 0);
    wait_for(&dead[TR__DEAD_NO_ACTOR], 1, "no_actor");
    (void)tr_node_send(node, (tr_addr){99, 0, 1}, T_ASK, NULL, 0); /* no such node */
    wait_for(&dead[TR__DEAD_UNREACHABLE], 1, "unreachable");
    cr_assert_eq(load(&dead[TR__DEAD_MAILBOX_FULL]) + load(&dead[TR__DEAD_STOPPED]), 0);
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.dead_letters, 2, "the reasons add up to the node's total");
}

Test(metrics, the_page_is_prometheus_text_and_a_small_buffer_is_cut, .init = setup,
     .fini = teardown) {
    tr_addr a;
    cr_assert_eq(tr_node_spawn(node, &answerer, NULL, NULL, 0, &a), 0);
    wait_for(&row()->spawned, 1, "spawned");
    static char buf[64 << 10];
    tr__metrics_text t = {.buf = buf, .cap = sizeof buf};
    tr__metrics_render_node(node, &t);
    cr_assert(!t.cut);
    cr_assert_eq(strlen(buf), t.len);
    cr_assert(strstr(buf, "# TYPE troupe_actor_spawned_total counter\n"));
    cr_assert(strstr(buf, "\ntroupe_actor_spawned_total{type=\"answerer\"} 1\n"), "%s", buf);
    cr_assert(strstr(buf, "\ntroupe_actor_live{type=\"answerer\"} 1\n"), "%s", buf);
    cr_assert(strstr(buf, "\ntroupe_dead_letters_total{reason=\"stopped\"} 0\n"), "%s", buf);
    char small[200];
    tr__metrics_text s = {.buf = small, .cap = sizeof small};
    tr__metrics_render_node(node, &s);
    cr_assert(s.cut);
    cr_assert_eq(strlen(small), s.len);
    cr_assert_eq(small[s.len - 1], '\n', "the cut text ends at a whole line");
}

enum {
    FLOOD_ACTORS = 8,
    FLOOD_EACH = 20000
};

/* Sends FLOOD_EACH plain messages to each of FLOOD_ACTORS answerers (two workers run them at
 * once) and checks that the type's messages in and the node's delivered total count every
 * one of them. */
static void flood_and_count(void) {
    uint64_t before = in_of();
    tr_stats st0;
    tr_node_stats_get(node, &st0);
    tr_addr a[FLOOD_ACTORS];
    for (int i = 0; i < FLOOD_ACTORS; i++) {
        cr_assert_eq(tr_node_spawn(node, &answerer, NULL, NULL, 0, &a[i]), 0);
    }
    for (int k = 0; k < FLOOD_EACH; k++) {
        for (int i = 0; i < FLOOD_ACTORS; i++) {
            cr_assert_eq(tr_node_send(node, a[i], T_ASK + 1, NULL, 0), 0);
        }
    }
    uint64_t want = before + (uint64_t)FLOOD_ACTORS * FLOOD_EACH;
    for (int i = 0; i < 1000 && in_of() < want; i++) {
        usleep(10000);
    }
    usleep(20000); /* an overcount would show by now */
    cr_assert_eq(in_of(), want, "messages in: %llu, want %llu", (unsigned long long)in_of(),
                 (unsigned long long)want);
    tr_stats st;
    tr_node_stats_get(node, &st);
    cr_assert_eq(st.messages_delivered - st0.messages_delivered,
                 (uint64_t)FLOOD_ACTORS * FLOOD_EACH, "delivered counts each message once");
}

Test(metrics, counts_from_two_workers_add_up_exactly, .init = setup, .fini = teardown) {
    flood_and_count();
}

/* The runtime of setup with every shard taken by a token no thread has, before any thread
 * has run an activation (the inbox's own start would let a worker claim one first). */
static void setup_shards_taken(void) {
    static const char taken;
    tr_config cfg = {.workers = 2, .no_store = true};
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    node = tr_runtime_node(rt);
    for (uint32_t i = 0; i < TR__METRICS_SHARDS; i++) {
        atomic_store_explicit(&node->metrics.owners[i], &taken, memory_order_release);
    }
    cr_assert_eq(tr_inbox_create(rt, &inbox), 0);
}

/* More threads than shards: a thread that finds none free adds to the row itself. */
Test(metrics, with_every_shard_taken_counts_go_to_the_row, .init = setup_shards_taken,
     .fini = teardown) {
    flood_and_count();
    cr_assert_gt(load(&row()->messages_in), 0, "the row's own counter took the counts");
}

/* A shard has one writer: two threads (two tokens) never get the same one, a thread gets its
 * own back, and when all are taken a newcomer gets none. */
Test(metrics, each_thread_claims_its_own_shard) {
    static tr__metrics_node m;
    tr__metrics_init(&m);
    static tr__metrics_local locals[TR__METRICS_SHARDS + 1];
    for (uint32_t i = 0; i < TR__METRICS_SHARDS; i++) {
        cr_assert_eq(tr__metrics_shard_claim(&m, &locals[i]), (int)i);
        cr_assert_eq(locals[i].uid, m.uid);
        cr_assert_eq(locals[i].shard, i);
    }
    cr_assert_eq(tr__metrics_shard_claim(&m, &locals[1]), 1, "its own, again");
    cr_assert_eq(tr__metrics_shard_claim(&m, &locals[TR__METRICS_SHARDS]), -1, "all taken");
    cr_assert_eq(locals[TR__METRICS_SHARDS].uid, 0, "nothing cached");
    static tr__metrics_node other;
    tr__metrics_init(&other);
    cr_assert_neq(other.uid, m.uid, "a node's cache is not another's");
    tr__metrics_deinit(&other);
    tr__metrics_deinit(&m);
}
