/* Spans of sampled traces (runtime/trace_spans.h) on 3 simulated nodes: a trace started on
 * n1 crosses a -> b@n2 -> c@n3 -> a@n1, and each node's recorder holds one span per
 * activation that handled a message of it, parent to child, in virtual time; the Zipkin file
 * of a run is the same bytes for the same run; unsampled traces are recorded only when the
 * recorder samples them; a full ring drops its oldest spans and counts them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/trace_spans.h"
#include "troupe.h"

#define MS 1000000ull
#define LOOPS 5000u
enum {
    T_GO = TR_MSG_USER + 1, /* to "a": start a trace with the body's flags, send to b@n2 */
    T_HOP,                  /* a -> b@n2 -> c@n3 */
    T_ASK,                  /* c -> a@n1, a request */
    T_LOOP                  /* to "a": start a sampled trace, then b@n2 sends itself LOOPS */
};

static uint32_t loops_left;

static int a_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_GO || m->type == T_LOOP) {
        cr_assert_eq(tr_trace_start(ctx, m->body_len == 1 ? m->body[0] : TR_TRACE_SAMPLED), 0);
        tr_send_name(ctx, "b@n2", m->type == T_GO ? T_HOP : T_LOOP, "\xc0", 1);
        tr_reply(ctx, m, m->type, "\xc0", 1);
    }
    return TR_CONTINUE;
}

static int b_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_HOP) {
        tr_send_name(ctx, "c@n3", T_HOP, "\xc0", 1);
    } else if (m->type == T_LOOP && loops_left > 0) {
        loops_left--;
        tr_send(ctx, tr_self(ctx), T_LOOP, "\xc0", 1);
    }
    return TR_CONTINUE;
}

static int c_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_HOP) {
        tr_request_name(ctx, "a@n1", T_ASK, "\xc0", 1, 1000, NULL);
    }
    return TR_CONTINUE;
}

static const tr_behaviour a_b = {.name = "a", .receive = a_receive};
static const tr_behaviour b_b = {.name = "b", .receive = b_receive};
static const tr_behaviour c_b = {.name = "c", .receive = c_receive};

static int boot(tr_node *node, void *ud) {
    (void)ud;
    const tr_behaviour *which[] = {&a_b, &b_b, &c_b};
    uint32_t i = tr_node_id(node) - 1;
    tr_spawn_opts o = {.name = which[i]->name};
    return tr_node_spawn(node, which[i], &o, NULL, 0, NULL);
}

static tr__spans rec[3];
static tr__span got[3][TR__SPANS_CAP];
static uint32_t got_n[3];

/* A run: 3 nodes with a recorder each (sampling `sample` of the unsampled traces), one
 * message of `type` to "a" with body `flags`; the spans each node recorded into got. */
static void run(uint32_t type, uint8_t flags, double sample) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = boot;
    tr_sim *sim = NULL;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert_eq(tr__spans_init(&rec[i], sample), 0);
        tr__spans_attach(tr_sim_node(sim, i), &rec[i]);
    }
    tr_sim_run_for(sim, MS);
    loops_left = LOOPS;
    tr_msg *r = NULL;
    cr_assert_eq(tr_sim_request(sim, 0, "a", type, &flags, 1, 500 * MS, &r), 0);
    tr_msg_free(r);
    tr_sim_run_for(sim, 200 * MS);
    for (uint32_t i = 0; i < 3; i++) {
        tr__spans_detach(tr_sim_node(sim, i));
        got_n[i] = tr__spans_take(&rec[i], got[i], TR__SPANS_CAP);
    }
    tr_sim_destroy(sim);
}

static void fini(void) {
    for (uint32_t i = 0; i < 3; i++) {
        tr__spans_fini(&rec[i]);
    }
}

Test(spans, a_sampled_trace_gives_one_span_per_hop_parent_to_child) {
    run(T_GO, TR_TRACE_SAMPLED, 0);
    cr_assert_eq(got_n[0], 1, "n1: a's T_ASK from c (%u)", got_n[0]);
    cr_assert_eq(got_n[1], 1, "n2: b's T_HOP (%u)", got_n[1]);
    cr_assert_eq(got_n[2], 1, "n3: c's T_HOP (%u)", got_n[2]);
    const tr__span *b = &got[1][0], *c = &got[2][0], *a = &got[0][0];
    cr_assert_str_eq(b->name, "b");
    cr_assert_str_eq(c->name, "c");
    cr_assert_str_eq(a->name, "a");
    cr_assert_str_eq(c->node_name, "n3");
    cr_assert_eq(memcmp(c->parent, b->id, 8), 0, "c's parent is b's span");
    cr_assert_eq(memcmp(a->parent, c->id, 8), 0, "a's parent is c's span");
    cr_assert_eq(memcmp(a->trace_id, b->trace_id, 16), 0);
    cr_assert_eq(memcmp(c->trace_id, b->trace_id, 16), 0);
    cr_assert_eq(a->type, T_ASK);
    cr_assert(b->start_ns >= MS && b->start_ns < c->start_ns && c->start_ns < a->start_ns,
              "virtual times in hop order");
    fini();
}

/* The spans of a run as the Zipkin file's bytes (virtual time), into a malloc'd string. */
static char *zipkin_of_run(size_t *len) {
    run(T_GO, TR_TRACE_SAMPLED, 0);
    char path[] = "/tmp/troupe-spans-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    tr__span_file sf;
    cr_assert_eq(tr__span_file_open(&sf, path, false), 0);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert_eq(tr__span_file_append(&sf, got[i], got_n[i]), 0);
    }
    cr_assert_eq(tr__span_file_close(&sf), 0);
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    remove(path);
    fini();
    return buf;
}

Test(spans, the_same_run_writes_the_same_file) {
    size_t n1, n2;
    char *one = zipkin_of_run(&n1), *two = zipkin_of_run(&n2);
    cr_assert(n1 > 100 && n1 == n2 && memcmp(one, two, n1) == 0, "%s\n---\n%s", one, two);
    cr_assert(one[0] == '[' && strstr(one, "\"parentId\"") && !strstr(one, "]\n["), "%s", one);
    free(one);
    free(two);
}

Test(spans, unsampled_traces_are_recorded_only_when_the_recorder_samples_them) {
    run(T_GO, 0, 0);
    cr_assert_eq(got_n[0] + got_n[1] + got_n[2], 0, "flags 0, sample 0: no span");
    fini();
    run(T_GO, 0, 1.0);
    cr_assert_eq(got_n[0] + got_n[1] + got_n[2], 3, "flags 0, sample 1: every hop");
    fini();
    cr_assert_eq(tr__spans_init(&rec[0], 1.5), TR_EINVAL);
}

Test(spans, a_full_ring_drops_the_oldest_and_counts_them) {
    run(T_LOOP, TR_TRACE_SAMPLED, 0);
    uint64_t recorded, dropped;
    tr__spans_counts(&rec[1], &recorded, &dropped);
    cr_assert_eq(recorded, LOOPS + 1, "b handled LOOPS + 1 messages of the trace (%llu)",
                 (unsigned long long)recorded);
    cr_assert_eq(got_n[1], TR__SPANS_CAP);
    cr_assert_eq(dropped, recorded - TR__SPANS_CAP);
    /* the newest kept: each span's parent is the span before it (b sends itself the next) */
    for (uint32_t i = 1; i < got_n[1]; i++) {
        cr_assert_eq(memcmp(got[1][i].parent, got[1][i - 1].id, 8), 0, "span %u", i);
    }
    fini();
}
