/* The resilience helpers in a simulated cluster: a caller's circuit breaker around a
 * dependency that a partition cuts off (fast failures instead of timeouts, closed again after
 * the heal), and a deadline carried along a chain of three hops whose last hop fails fast
 * once the time is gone. */
#include <criterion/criterion.h>
#include <string.h>

#include "troupe.h"

#define MS 1000000ull
enum {
    T_CALL = TR_MSG_USER + 1,
    T_TICK,
    T_STATUS,
    T_CHAIN,
    T_WORK
};

/* ---- the dependency and its caller ---- */

static int dep_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)state;
    if (m->type == T_CALL) {
        tr_reply(ctx, m, T_CALL, m->body, m->body_len);
    }
    return TR_CONTINUE;
}

/* Every 20 ms the caller calls dep@n3 through its breaker (100 ms timeout), one call at a
 * time, and counts what happened. */
typedef struct caller_state {
    tr_breaker breaker;
    bool pending;
    uint64_t corr;
    uint64_t ok, timeouts, fast;
} caller_state;

static int caller_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)arg;
    (void)len;
    caller_state *s = state;
    tr_breaker_config c;
    tr_breaker_config_init(&c);
    c.consecutive_failures = 3;
    c.failure_ratio = 0.0;
    c.open_ms = 300;
    c.half_open_probes = 1;
    int rc = tr_breaker_init(&s->breaker, &c, tr_now_ms(ctx));
    uint64_t t;
    return rc ? rc : tr_timer_start(ctx, 20, 20, T_TICK, &t);
}

static void caller_status(tr_ctx *ctx, caller_state *s, const tr_msg *m) {
    tr_breaker_status st;
    tr_breaker_status_get(&s->breaker, tr_now_ms(ctx), &st);
    uint8_t buf[128];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 6);
    tr_mp_write_uint(&w, st.state);
    tr_mp_write_uint(&w, s->ok);
    tr_mp_write_uint(&w, s->timeouts);
    tr_mp_write_uint(&w, s->fast);
    tr_mp_write_uint(&w, st.transitions);
    tr_mp_write_uint(&w, st.opened);
    tr_reply(ctx, m, T_STATUS, buf, w.len);
}

static int caller_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    caller_state *s = state;
    if (m->type == T_TICK && !s->pending) {
        int rc =
            tr_breaker_request_name(ctx, &s->breaker, "dep@n3", T_CALL, "\x01", 1, 100, &s->corr);
        if (rc == TR_EAGAIN) {
            s->fast++;
        } else {
            cr_assert_eq(rc, 0);
            s->pending = true;
        }
    } else if (s->pending && m->corr == s->corr &&
               (m->type == TR_MSG_TIMEOUT || tr_msg_is_reply(m))) {
        tr_breaker_record_msg(ctx, &s->breaker, m);
        s->pending = false;
        if (m->type == TR_MSG_TIMEOUT) {
            s->timeouts++;
        } else {
            s->ok++;
        }
    } else if (m->type == T_STATUS) {
        caller_status(ctx, s, m);
    }
    return TR_CONTINUE;
}

/* ---- the chain: hop_a on n1 -> hop_b on n2 -> hop_c on n3 ----
 * The test asks hop_a with [budget_ms, b_work_ms, c_queue_ms]; hop_a gives the request a
 * deadline budget_ms away and calls hop_b with [b_work_ms, c_queue_ms]; hop_b works b_work_ms
 * (a timer) and calls hop_c with [c_queue_ms] and what is left; hop_c waits c_queue_ms in its
 * queue, then works ("done") or, when the deadline has passed, fails fast ("deadline"). Every
 * hop answers its caller with the answer it got, or "deadline" when it refused to go on, or
 * "timeout". */
typedef struct hop_state {
    tr_msg req; /* the request being served (its header: reply address and corr) */
    bool busy;
    uint64_t at_ms; /* its deadline, on this node's clock */
    int64_t next[2];
    uint32_t next_len;
    uint64_t corr; /* of the call to the next hop */
    uint64_t received, fast, worked;
} hop_state;

static void hop_answer(tr_ctx *ctx, hop_state *s, const void *body, size_t len) {
    tr_reply(ctx, &s->req, T_CHAIN, body, len);
    s->busy = false;
}

static void hop_answer_str(tr_ctx *ctx, hop_state *s, const char *text) {
    uint8_t buf[32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_cstr(&w, text);
    hop_answer(ctx, s, buf, w.len);
}

static void hop_call(tr_ctx *ctx, hop_state *s, const char *next) {
    uint8_t buf[32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, s->next_len);
    for (uint32_t i = 0; i < s->next_len; i++) {
        tr_mp_write_int(&w, s->next[i]);
    }
    int rc = tr_deadline_request_name(ctx, next, T_CHAIN, s->at_ms, buf, w.len, &s->corr);
    if (rc == TR_ETIMEDOUT) {
        s->fast++;
        hop_answer_str(ctx, s, "deadline");
    } else {
        cr_assert_eq(rc, 0);
    }
}

static void hop_status(tr_ctx *ctx, hop_state *s, const tr_msg *m) {
    uint8_t buf[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 3);
    tr_mp_write_uint(&w, s->received);
    tr_mp_write_uint(&w, s->fast);
    tr_mp_write_uint(&w, s->worked);
    tr_reply(ctx, m, T_STATUS, buf, w.len);
}

/* Takes a T_CHAIN request: its deadline and its integers. False when answered already. */
static bool hop_take(tr_ctx *ctx, hop_state *s, const tr_msg *m, int64_t *ints, uint32_t cap,
                     uint32_t *n) {
    cr_assert(!s->busy, "one chain at a time");
    s->received++;
    s->req = *m;
    s->req.body = NULL;
    s->req.body_len = 0;
    s->busy = true;
    tr_deadline d;
    int rc = tr_deadline_read(ctx, m, &d);
    if (rc == TR_ETIMEDOUT) {
        s->fast++;
        hop_answer_str(ctx, s, "deadline");
        return false;
    }
    cr_assert_eq(rc, 0);
    s->at_ms = d.at_ms;
    tr_msg inner = *m;
    inner.body = d.body;
    inner.body_len = (uint32_t)d.body_len;
    int got = tr_msg_read_ints(&inner, ints, cap);
    cr_assert_geq(got, 0);
    *n = (uint32_t)got;
    return true;
}

/* An answer from the next hop, or the timeout of the call: passed back to our caller. */
static bool hop_relay(tr_ctx *ctx, hop_state *s, const tr_msg *m) {
    if (!s->busy || m->corr != s->corr || !(m->type == TR_MSG_TIMEOUT || tr_msg_is_reply(m))) {
        return false;
    }
    if (m->type == TR_MSG_TIMEOUT) {
        hop_answer_str(ctx, s, "timeout");
    } else {
        hop_answer(ctx, s, m->body, m->body_len);
    }
    return true;
}

static int hop_a_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    hop_state *s = state;
    int64_t v[3];
    uint32_t n;
    if (m->type == T_CHAIN && !tr_msg_is_reply(m) && hop_take(ctx, s, m, v, 3, &n)) {
        cr_assert_eq(n, 3);
        s->at_ms = tr_now_ms(ctx) + (uint64_t)v[0]; /* the first hop sets the deadline */
        s->next[0] = v[1];
        s->next[1] = v[2];
        s->next_len = 2;
        hop_call(ctx, s, "hop_b@n2");
    } else if (m->type == T_STATUS) {
        hop_status(ctx, s, m);
    } else {
        hop_relay(ctx, s, m);
    }
    return TR_CONTINUE;
}

static int hop_b_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    hop_state *s = state;
    int64_t v[2];
    uint32_t n;
    uint64_t t;
    if (m->type == T_CHAIN && !tr_msg_is_reply(m) && hop_take(ctx, s, m, v, 2, &n)) {
        cr_assert_eq(n, 2);
        s->next[0] = v[1];
        s->next_len = 1;
        tr_timer_start(ctx, (uint32_t)v[0], 0, T_WORK, &t); /* its own work first */
    } else if (m->type == T_WORK && s->busy) {
        s->worked++;
        hop_call(ctx, s, "hop_c@n3");
    } else if (m->type == T_STATUS) {
        hop_status(ctx, s, m);
    } else {
        hop_relay(ctx, s, m);
    }
    return TR_CONTINUE;
}

static int hop_c_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    hop_state *s = state;
    int64_t v[1];
    uint32_t n;
    uint64_t t;
    if (m->type == T_CHAIN && hop_take(ctx, s, m, v, 1, &n)) {
        cr_assert_eq(n, 1);
        tr_timer_start(ctx, (uint32_t)v[0], 0, T_WORK, &t); /* waits in its queue */
    } else if (m->type == T_WORK && s->busy) {
        if (tr_deadline_remaining_ms(s->at_ms, tr_now_ms(ctx)) == 0) {
            s->fast++; /* the caller has given up: no work for nobody */
            hop_answer_str(ctx, s, "deadline");
        } else {
            s->worked++;
            hop_answer_str(ctx, s, "done");
        }
    } else if (m->type == T_STATUS) {
        hop_status(ctx, s, m);
    }
    return TR_CONTINUE;
}

/* ---- a client that retries idempotent calls to a dependency that never answers ----
 * One call at a time, a new one every 20 ms when idle: 50 ms timeout, then tr_retry_next
 * (3 attempts, decorrelated jitter drawn from tr_random) within a budget of 10% of first
 * attempts and a burst of 5 (no refill), or with no budget when the spawn argument says so. */
enum {
    T_RETRY = T_WORK + 1
};

typedef struct retrier_state {
    tr_retry_policy policy;
    tr_retry_budget budget;
    bool use_budget;
    tr_retry call;
    bool busy;
    uint64_t corr;
    uint64_t firsts, retries, gave_up[5];
} retrier_state;

static int retrier_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    retrier_state *s = state;
    s->use_budget = len == 1 && *(const uint8_t *)arg == 1;
    tr_retry_policy_init(&s->policy);
    s->policy.jitter = TR_BACKOFF_DECORRELATED;
    s->policy.base_ms = 10;
    s->policy.max_ms = 200;
    tr_retry_budget_config bc = {.ratio = 0.1, .burst = 5, .min_per_s = 0};
    int rc = tr_retry_budget_init(&s->budget, &bc, tr_now_ms(ctx));
    uint64_t t;
    return rc ? rc : tr_timer_start(ctx, 20, 20, T_TICK, &t);
}

static void retrier_send(tr_ctx *ctx, retrier_state *s) {
    cr_assert_eq(tr_request_name(ctx, "sink@n2", T_CALL, "\x01", 1, 50, &s->corr), 0);
}

static int retrier_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    retrier_state *s = state;
    if (m->type == T_TICK && !s->busy) {
        tr_retry_start(&s->call, &s->policy, s->use_budget ? &s->budget : NULL, true,
                       tr_now_ms(ctx));
        s->busy = true;
        s->firsts++;
        retrier_send(ctx, s);
    } else if (m->type == TR_MSG_TIMEOUT && s->busy && m->corr == s->corr) {
        uint32_t delay;
        tr_retry_verdict v = tr_retry_next(&s->call, tr_now_ms(ctx), 0, tr_random(ctx), &delay);
        if (v == TR_RETRY_AGAIN) {
            cr_assert(delay >= 10 && delay <= 200, "delay %u", delay);
            uint64_t t;
            tr_timer_start(ctx, delay, 0, T_RETRY, &t);
        } else {
            s->gave_up[v]++;
            s->busy = false;
        }
    } else if (m->type == T_RETRY && s->busy) {
        s->retries++;
        retrier_send(ctx, s);
    } else if (m->type == T_STATUS) {
        uint8_t buf[64];
        tr_mp_writer w;
        tr_mp_writer_init(&w, buf, sizeof buf);
        tr_mp_write_array(&w, 4);
        tr_mp_write_uint(&w, s->firsts);
        tr_mp_write_uint(&w, s->retries);
        tr_mp_write_uint(&w, s->gave_up[TR_RETRY_ATTEMPTS_SPENT]);
        tr_mp_write_uint(&w, s->gave_up[TR_RETRY_BUDGET_SPENT]);
        tr_reply(ctx, m, T_STATUS, buf, w.len);
    }
    return TR_CONTINUE;
}

static int sink_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)ctx;
    (void)state;
    (void)m;
    return TR_CONTINUE;
}

static const tr_behaviour dep_b = {.name = "dep", .receive = dep_receive};
static const tr_behaviour caller_b = {.name = "caller",
                                      .state_size = sizeof(caller_state),
                                      .init = caller_init,
                                      .receive = caller_receive};
static const tr_behaviour hop_a_b = {
    .name = "hop_a", .state_size = sizeof(hop_state), .receive = hop_a_receive};
static const tr_behaviour hop_b_b = {
    .name = "hop_b", .state_size = sizeof(hop_state), .receive = hop_b_receive};
static const tr_behaviour hop_c_b = {
    .name = "hop_c", .state_size = sizeof(hop_state), .receive = hop_c_receive};

static const tr_behaviour retrier_b = {.name = "retrier",
                                       .state_size = sizeof(retrier_state),
                                       .init = retrier_init,
                                       .receive = retrier_receive};
static const tr_behaviour sink_b = {.name = "sink", .receive = sink_receive};

static int spawn(tr_node *node, const tr_behaviour *b, const char *name) {
    tr_spawn_opts o = {.name = name};
    return tr_node_spawn(node, b, &o, NULL, 0, NULL);
}

static int boot_breaker(tr_node *node, void *ud) {
    (void)ud;
    int rc = spawn(node, &dep_b, "dep");
    return rc ? rc : spawn(node, &caller_b, "caller");
}

static int boot_chain(tr_node *node, void *ud) {
    (void)ud;
    int rc = spawn(node, &hop_a_b, "hop_a");
    rc = rc ? rc : spawn(node, &hop_b_b, "hop_b");
    return rc ? rc : spawn(node, &hop_c_b, "hop_c");
}

static int boot_retry(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "retrier"};
    int rc = tr_node_spawn(node, &retrier_b, &o, ud, 1, NULL);
    return rc ? rc : spawn(node, &sink_b, "sink");
}

static tr_sim *make_ud(uint64_t seed, tr_sim_boot_fn boot, void *ud) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.net = TR_SIM_NET_ORACLE; /* calls from t = 0: the oracle's links are up at once */
    cfg.seed = seed;
    cfg.nodes = 3;
    cfg.store = false;
    cfg.boot = boot;
    cfg.boot_ud = ud;
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    return sim;
}

static tr_sim *make(uint64_t seed, tr_sim_boot_fn boot) {
    return make_ud(seed, boot, NULL);
}

/* Asks actor `name` on node index `node` for its counters. */
static uint32_t status(tr_sim *sim, uint32_t node, const char *name, uint64_t *out, uint32_t cap) {
    tr_msg *reply = NULL;
    int rc = tr_sim_request(sim, node, name, T_STATUS, "\x90", 1, 50 * MS, &reply);
    cr_assert_eq(rc, 0, "status of %s: %s", name, tr_err_name(rc));
    int64_t v[8];
    int n = tr_msg_read_ints(reply, v, 8);
    cr_assert(n > 0 && (uint32_t)n <= cap);
    for (int i = 0; i < n; i++) {
        out[i] = (uint64_t)v[i];
    }
    tr_msg_free(reply);
    return (uint32_t)n;
}

enum {
    C_STATE,
    C_OK,
    C_TIMEOUTS,
    C_FAST,
    C_TRANSITIONS,
    C_OPENED
};

Test(resilience_sim, breaker_opens_while_the_dependency_is_cut_off_and_closes_after_the_heal) {
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tr_sim *sim = make(seed, boot_breaker);
        uint64_t before[6], during[6], after[6];
        tr_sim_run_for(sim, 1000 * MS);
        status(sim, 0, "caller", before, 6);
        cr_assert_eq(before[C_STATE], TR_BREAKER_CLOSED);
        cr_assert_geq(before[C_OK], 40, "seed %llu: %llu ok", (unsigned long long)seed,
                      (unsigned long long)before[C_OK]);
        cr_assert_eq(before[C_TIMEOUTS] + before[C_FAST], 0);

        cr_assert_eq(tr_sim_isolate(sim, 2), 0); /* dep@n3 cut off for 3 s */
        tr_sim_run_for(sim, 3000 * MS);
        status(sim, 0, "caller", during, 6);
        uint64_t timeouts = during[C_TIMEOUTS] - before[C_TIMEOUTS];
        uint64_t fast = during[C_FAST] - before[C_FAST];
        /* 3 timeouts open it; then one probe every open_ms + its timeout (300 + 100 ms), each
         * a timeout: at most 3 + 8 calls wait, while about 100 ticks are refused at once
         * (without the breaker every call waits its 100 ms: about 25 timeouts, 0 fast) */
        cr_assert_leq(timeouts, 11, "seed %llu: %llu timeouts", (unsigned long long)seed,
                      (unsigned long long)timeouts);
        cr_assert_geq(fast, 100, "seed %llu: %llu fast failures", (unsigned long long)seed,
                      (unsigned long long)fast);
        cr_assert_neq(during[C_STATE], TR_BREAKER_CLOSED);
        cr_assert_geq(during[C_OPENED], 2); /* opened, probed, opened again */
        cr_assert_eq(during[C_OK], before[C_OK]);

        cr_assert_eq(tr_sim_heal(sim), 0);
        tr_sim_run_for(sim, 2000 * MS);
        status(sim, 0, "caller", after, 6);
        cr_assert_eq(after[C_STATE], TR_BREAKER_CLOSED, "seed %llu: %s after the heal",
                     (unsigned long long)seed,
                     tr_breaker_state_name((tr_breaker_state)after[C_STATE]));
        cr_assert_geq(after[C_OK] - during[C_OK], 70); /* 2 s of 20 ms ticks, less one open_ms */
        /* refused after the heal: only until the open_ms under way ends (15 ticks at most) */
        cr_assert_leq(after[C_FAST] - during[C_FAST], 20);
        tr_sim_destroy(sim);
    }
}

Test(resilience_sim, the_breaker_run_is_a_function_of_the_seed) {
    uint64_t hash[2];
    for (int run = 0; run < 2; run++) {
        tr_sim *sim = make(9, boot_breaker);
        tr_sim_run_for(sim, 500 * MS);
        tr_sim_isolate(sim, 2);
        tr_sim_run_for(sim, 1000 * MS);
        tr_sim_heal(sim);
        tr_sim_run_for(sim, 1000 * MS);
        hash[run] = tr_sim_trace_hash(sim);
        tr_sim_destroy(sim);
    }
    cr_assert_eq(hash[0], hash[1]);
}

/* Runs one chain and returns hop_a's answer (a string) in out. */
static void chain(tr_sim *sim, int64_t budget, int64_t b_work, int64_t c_queue, char *out,
                  size_t cap) {
    uint8_t body[32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 3);
    tr_mp_write_int(&w, budget);
    tr_mp_write_int(&w, b_work);
    tr_mp_write_int(&w, c_queue);
    tr_msg *reply = NULL;
    int rc = tr_sim_request(sim, 0, "hop_a", T_CHAIN, body, w.len, 2000 * MS, &reply);
    cr_assert_eq(rc, 0, "chain: %s", tr_err_name(rc));
    tr_mp_reader r;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    cr_assert_eq(tr_mp_read_str_copy(&r, out, cap), 0);
    tr_msg_free(reply);
    tr_sim_run_for(sim, 300 * MS); /* let late answers and timers settle */
}

enum {
    H_RECEIVED,
    H_FAST,
    H_WORKED
};

Test(resilience_sim, a_chain_within_its_deadline_is_served_to_the_end) {
    tr_sim *sim = make(3, boot_chain);
    char answer[32];
    chain(sim, 200, 20, 20, answer, sizeof answer);
    cr_assert_str_eq(answer, "done");
    /* the remaining time is carried, not the time of day: skewed clocks change nothing */
    cr_assert_eq(tr_sim_clock_skew(sim, 2, 3600000 * MS), 0);
    cr_assert_eq(tr_sim_clock_skew(sim, 1, -(int64_t)(60000 * MS)), 0);
    tr_sim_run_for(sim, 70000 * MS); /* n2's clock stands still until it catches up */
    chain(sim, 200, 20, 20, answer, sizeof answer);
    cr_assert_str_eq(answer, "done");
    uint64_t c[3];
    status(sim, 2, "hop_c", c, 3);
    cr_assert_eq(c[H_WORKED], 2);
    cr_assert_eq(c[H_FAST], 0);
    tr_sim_destroy(sim);
}

Test(resilience_sim, the_last_hop_fails_fast_when_the_time_is_gone) {
    tr_sim *sim = make(4, boot_chain);
    char answer[32];
    /* 100 ms: hop_b works 60, hop_c gets the ~40 left and waits 50 in its queue */
    chain(sim, 100, 60, 50, answer, sizeof answer);
    uint64_t c[3];
    status(sim, 2, "hop_c", c, 3);
    cr_assert_eq(c[H_RECEIVED], 1);
    cr_assert_eq(c[H_WORKED], 0, "hop_c worked past the deadline");
    cr_assert_eq(c[H_FAST], 1);
    /* its "deadline" comes after hop_a's own timeout (the deadline): hop_a says timeout */
    cr_assert(strcmp(answer, "deadline") == 0 || strcmp(answer, "timeout") == 0, "%s", answer);
    /* the same chain with a queue that fits: done */
    chain(sim, 100, 60, 20, answer, sizeof answer);
    cr_assert_str_eq(answer, "done");
    tr_sim_destroy(sim);
}

Test(resilience_sim, a_hop_with_no_time_left_sends_nothing_further) {
    tr_sim *sim = make(5, boot_chain);
    char answer[32];
    chain(sim, 100, 150, 10, answer, sizeof answer); /* hop_b's work outlasts the deadline */
    cr_assert_str_eq(answer, "timeout");             /* hop_a's timeout is the deadline */
    uint64_t b[3], c[3];
    status(sim, 1, "hop_b", b, 3);
    status(sim, 2, "hop_c", c, 3);
    cr_assert_eq(b[H_FAST], 1); /* hop_b refused to call on */
    cr_assert_eq(c[H_RECEIVED], 0);
    tr_sim_destroy(sim);
}

Test(resilience_sim, a_request_that_arrives_with_zero_ms_is_refused_at_once) {
    tr_sim *sim = make(6, boot_chain);
    uint8_t body[64];
    size_t n;
    const uint8_t inner[] = {0x91, 0x0a}; /* [10]: a 10 ms queue */
    cr_assert_eq(tr_deadline_wrap(body, sizeof body, 0, inner, sizeof inner, &n), 0);
    tr_msg *reply = NULL;
    uint64_t start = tr_sim_now_ns(sim);
    cr_assert_eq(tr_sim_request(sim, 0, "hop_c@n3", T_CHAIN, body, n, 500 * MS, &reply), 0);
    cr_assert_lt(tr_sim_now_ns(sim) - start, 5 * MS); /* no queue wait: refused on arrival */
    tr_mp_reader r;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    char answer[32];
    cr_assert_eq(tr_mp_read_str_copy(&r, answer, sizeof answer), 0);
    cr_assert_str_eq(answer, "deadline");
    tr_msg_free(reply);
    tr_sim_destroy(sim);
}

enum {
    R_FIRSTS,
    R_RETRIES,
    R_ATTEMPTS_SPENT,
    R_BUDGET_SPENT
};

static void retry_run(uint64_t seed, uint8_t use_budget, uint64_t *out, uint64_t *hash) {
    tr_sim *sim = make_ud(seed, boot_retry, &use_budget);
    tr_sim_run_for(sim, 5000 * MS);
    status(sim, 0, "retrier", out, 4);
    *hash = tr_sim_trace_hash(sim);
    tr_sim_destroy(sim);
}

Test(resilience_sim, a_retry_budget_bounds_the_retries_to_a_dead_dependency) {
    uint64_t with[4], without[4], hash;
    retry_run(11, 1, with, &hash);
    /* the burst (5), then a tenth of the first attempts; each first attempt may retry twice */
    cr_assert_geq(with[R_FIRSTS], 20);
    cr_assert_leq(with[R_RETRIES], 5 + with[R_FIRSTS] / 10, "%llu retries for %llu calls",
                  (unsigned long long)with[R_RETRIES], (unsigned long long)with[R_FIRSTS]);
    cr_assert_geq(with[R_RETRIES], 5);
    cr_assert_gt(with[R_BUDGET_SPENT], with[R_FIRSTS] / 2);
    retry_run(11, 0, without, &hash);
    /* without the budget every call is tried max_attempts times */
    cr_assert_geq(without[R_RETRIES] + 2, 2 * without[R_FIRSTS]);
    cr_assert_eq(without[R_BUDGET_SPENT], 0);
}

Test(resilience_sim, retry_delays_from_tr_random_replay_with_the_seed) {
    uint64_t a[4], b[4], ha, hb;
    retry_run(12, 0, a, &ha);
    retry_run(12, 0, b, &hb);
    cr_assert_eq(ha, hb);
    cr_assert_arr_eq(a, b, sizeof a);
}
