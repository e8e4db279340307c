/* test_storage.c — storage faults of the simulated store (tr_sim_disk_*): a failing disk
 * fails commits as LMDB does on a real node and the actor is told, a failed store refuses
 * writes until its node restarts, a slow disk delays durability, a torn data file keeps its
 * node down; and the scenario lines that schedule them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sim/scenario.h"
#include "troupe.h"

enum {
    T_PUT = TR_MSG_USER + 1,
    T_ACK
};

/* What the "disk" actor saw; reset by each test. */
static struct {
    int put_rc;          /* tr_kv_put of the last T_PUT */
    int notify_rc;       /* tr_durable_notify after it */
    int durables;        /* TR_MSG_DURABLE received */
    int64_t status;      /* ... the last one's status */
    uint64_t put_at;     /* virtual time of the last put */
    uint64_t durable_at; /* ... and of the last TR_MSG_DURABLE */
    int acks;            /* T_ACK (durable replies) that reached a client */
    int64_t recovered;   /* "v" read by the last init (0: none) */
} g;

/* "disk": on T_PUT (body: int64) writes "v", asks to be told when it is durable and answers
 * with a durable reply; at init reads "v" back. */
static int disk_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    int64_t v = 0;
    size_t n;
    int rc = tr_kv_get(ctx, "v", 1, &v, sizeof v, &n);
    g.recovered = rc == 0 ? v : 0;
    return 0;
}

static int disk_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == T_PUT) {
        g.put_at = tr_now_ns(ctx);
        g.put_rc = tr_kv_put(ctx, "v", 1, msg->body, msg->body_len);
        uint64_t token;
        g.notify_rc = g.put_rc == 0 ? tr_durable_notify(ctx, &token) : g.put_rc;
        if (g.put_rc == 0) {
            tr_reply_durable(ctx, msg, T_ACK, NULL, 0);
        }
    } else if (msg->type == TR_MSG_DURABLE) {
        tr_mp_reader r;
        tr_mp_reader_init(&r, msg->body, msg->body_len);
        tr_mp_read_int(&r, &g.status);
        g.durables++;
        g.durable_at = tr_now_ns(ctx);
    }
    return TR_CONTINUE;
}

static const tr_behaviour disk_b = {.name = "disk", .init = disk_init, .receive = disk_receive};

/* A client: its init sends T_PUT with its argument to "disk"; counts the acks. */
static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return tr_send_name(ctx, "disk", T_PUT, arg, len);
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    g.acks += msg->type == T_ACK;
    return TR_CONTINUE;
}

static const tr_behaviour client_b = {
    .name = "client", .init = client_init, .receive = client_receive};

static int boot_disk(tr_node *node, void *ud) {
    tr_spawn_opts o = {.name = "disk"};
    return tr_node_spawn(node, &disk_b, &o, NULL, 0, NULL);
}

static tr_sim *make_sim(void) {
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.nodes = 1;
    c.boot = boot_disk;
    memset(&g, 0, sizeof g);
    tr_sim *sim;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    return sim;
}

/* Writes v through a new client and runs 20 ms. */
static void put(tr_sim *sim, int64_t v) {
    cr_assert_eq(tr_node_spawn(tr_sim_node(sim, 0), &client_b, NULL, &v, sizeof v, NULL), 0);
    tr_sim_run_for(sim, 20000000);
}

static uint64_t faults(tr_sim *sim, tr_sim_fault f) {
    tr_sim_stats st;
    tr_sim_stats_get(sim, &st);
    return st.faults[f];
}

/* A failing disk (err) fails the commit, the actor hears it, the store refuses writes until
 * the node restarts, and after the restart the node holds what was durable before. */
static void failing_disk(int err, tr_sim_fault kind) {
    tr_sim *sim = make_sim();
    put(sim, 5);
    cr_assert_eq(g.status, 0);
    cr_assert_eq(g.acks, 1);
    cr_assert_eq(tr_sim_disk_fail(sim, 0, err), 0);
    cr_assert_eq(tr_sim_disk_fail(sim, 0, err), TR_EBUSY, "already failing");
    put(sim, 6);
    cr_assert_eq(g.put_rc, 0, "the write joined the pending batch");
    cr_assert_eq(g.durables, 2);
    cr_assert_eq(g.status, err, "TR_MSG_DURABLE carries the commit's error");
    cr_assert_eq(g.acks, 1, "the durable reply of a failed commit is never sent");
    cr_assert_eq(tr_sim_store_failure(sim, 0), err);
    cr_assert_eq(faults(sim, kind), 1);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_COMMIT_FAILED), 1);
    put(sim, 7);
    cr_assert_eq(g.put_rc, err, "a failed store refuses later writes");
    cr_assert_eq(tr_sim_disk_repair(sim, 0), 0);
    put(sim, 8);
    cr_assert_eq(g.put_rc, err, "still refused: the store failed until the node restarts");
    cr_assert(tr_sim_node_is_up(sim, 0), "the node itself keeps running");
    cr_assert_eq(tr_sim_crash(sim, 0), 0);
    cr_assert_eq(tr_sim_restart(sim, 0), 0);
    tr_sim_run_for(sim, 1000000); /* the actor's init runs */
    cr_assert_eq(g.recovered, 5, "the failed batch is not in the store");
    cr_assert_eq(tr_sim_store_failure(sim, 0), 0);
    put(sim, 9);
    cr_assert_eq(g.put_rc, 0);
    cr_assert_eq(g.status, 0);
    cr_assert_eq(g.acks, 2);
    cr_assert_eq(tr_sim_crash(sim, 0), 0);
    cr_assert_eq(tr_sim_restart(sim, 0), 0);
    tr_sim_run_for(sim, 1000000); /* the actor's init runs */
    cr_assert_eq(g.recovered, 9);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_COMMIT_FAILED), 1);
    tr_sim_destroy(sim);
}

Test(storage, an_io_error_fails_the_commit_and_the_actor_is_told) {
    failing_disk(TR_EIO, TR_SIM_FAULT_IO_ERROR);
}

Test(storage, a_full_disk_fails_commits_with_no_space_until_the_node_restarts) {
    failing_disk(TR_ENOSPC, TR_SIM_FAULT_DISK_FULL);
}

Test(storage, a_disk_that_stays_bad_fails_the_restarted_store_again) {
    tr_sim *sim = make_sim();
    cr_assert_eq(tr_sim_disk_fail(sim, 0, TR_ENOSPC), 0);
    put(sim, 1);
    cr_assert_eq(g.status, TR_ENOSPC);
    cr_assert_eq(tr_sim_crash(sim, 0), 0);
    cr_assert_eq(tr_sim_restart(sim, 0), 0);
    put(sim, 2);
    cr_assert_eq(g.put_rc, 0, "the restarted store takes writes ...");
    cr_assert_eq(g.status, TR_ENOSPC, "... and its commit fails again: the disk is still full");
    cr_assert_eq(faults(sim, TR_SIM_FAULT_COMMIT_FAILED), 2);
    tr_sim_destroy(sim);
}

Test(storage, a_slow_disk_delays_durability_by_its_extra_latency) {
    tr_sim *sim = make_sim();
    put(sim, 1);
    uint64_t normal = g.durable_at - g.put_at;
    cr_assert_eq(tr_sim_disk_slow(sim, 0, 50000000), 0);
    tr_sim_run_for(sim, 1000000);
    put(sim, 2);
    cr_assert_eq(g.durables, 1, "not durable yet after 20 ms");
    tr_sim_run_for(sim, 40000000);
    cr_assert_eq(g.durables, 2);
    cr_assert_eq(g.status, 0, "slow, not failing");
    cr_assert_eq(g.durable_at - g.put_at, normal + 50000000);
    cr_assert_eq(tr_sim_disk_slow(sim, 0, 0), 0);
    put(sim, 3);
    cr_assert_eq(g.durable_at - g.put_at, normal);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_SLOW_DISK), 1);
    tr_sim_destroy(sim);
}

Test(storage, a_torn_data_file_is_refused_at_every_restart_and_the_node_stays_down) {
    tr_sim *sim = make_sim();
    put(sim, 4);
    cr_assert_eq(g.status, 0);
    cr_assert_eq(tr_sim_disk_corrupt(sim, 0), 0);
    cr_assert_not(tr_sim_node_is_up(sim, 0), "a torn write: the node went down with it");
    cr_assert_eq(tr_sim_disk_corrupt(sim, 0), TR_EBUSY);
    cr_assert_eq(tr_sim_restart(sim, 0), TR_ECORRUPT, "the store's open checks find it");
    cr_assert_not(tr_sim_node_is_up(sim, 0));
    cr_assert_eq(tr_sim_restart(sim, 0), TR_ECORRUPT, "and again: the file stays torn");
    cr_assert_not(tr_sim_node_is_up(sim, 0));
    cr_assert_eq(tr_sim_store_failure(sim, 0), TR_ECORRUPT);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_CORRUPT), 1);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_CRASH), 1);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_START_REFUSED), 2);
    cr_assert_eq(faults(sim, TR_SIM_FAULT_RESTART), 0);
    tr_sim_run_for(sim, 10000000);
    tr_sim_destroy(sim);
}

Test(storage, bad_arguments_and_a_sim_without_stores_are_refused) {
    tr_sim *sim = make_sim();
    cr_assert_eq(tr_sim_disk_fail(sim, 0, TR_EINVAL), TR_EINVAL);
    cr_assert_eq(tr_sim_disk_fail(sim, 1, TR_EIO), TR_EINVAL);
    cr_assert_eq(tr_sim_disk_slow(sim, 1, 1), TR_EINVAL);
    cr_assert_eq(tr_sim_disk_corrupt(sim, 1), TR_EINVAL);
    cr_assert_eq(tr_sim_disk_repair(sim, 1), TR_EINVAL);
    tr_sim_destroy(sim);
    tr_sim_config c;
    tr_sim_config_init(&c);
    c.store = false;
    cr_assert_eq(tr_sim_create(&c, &sim), 0);
    cr_assert_eq(tr_sim_disk_fail(sim, 0, TR_EIO), TR_ENOTSUP);
    cr_assert_eq(tr_sim_disk_slow(sim, 0, 1), TR_ENOTSUP);
    cr_assert_eq(tr_sim_disk_corrupt(sim, 0), TR_ENOTSUP);
    cr_assert_eq(tr_sim_store_failure(sim, 0), 0);
    tr_sim_destroy(sim);
}

/* ---- scenario lines ---------------------------------------------------------------------- */

static int parse(const char *text, tr_scenario *s, char *err) {
    return tr__scenario_parse(text, strlen(text), 5, s, err, 256);
}

Test(storage, scenario_lines_name_every_storage_fault) {
    const char *text = "20s io-error n2 for 1s\n"
                       "21s disk-full n5 for 500ms\n"
                       "22s slow-disk n1 200ms for 2s\n"
                       "30s corrupt n3\n";
    tr_scenario s;
    char err[256];
    cr_assert_eq(parse(text, &s, err), 0, "%s", err);
    cr_assert_eq(s.count, 4);
    const tr_scen_event *e = s.events;
    cr_assert(e[0].kind == TR_SCEN_IO_ERROR && e[0].a == 1 && e[0].dur_ns == 1000000000ull);
    cr_assert(e[1].kind == TR_SCEN_DISK_FULL && e[1].a == 4 && e[1].dur_ns == 500000000ull);
    cr_assert(e[2].kind == TR_SCEN_SLOW_DISK && e[2].a == 0 && e[2].extra_ns == 200000000ull &&
              e[2].dur_ns == 2000000000ull);
    cr_assert(e[3].kind == TR_SCEN_CORRUPT && e[3].a == 2 && e[3].at_ns == 30000000000ull);
    tr__scenario_free(&s);
}

Test(storage, bad_storage_lines_are_refused_with_their_line_number) {
    static const struct {
        const char *line;
        const char *says;
    } bad[] = {
        {"10s io-error n2", "'for' and a duration"},
        {"10s io-error n2 1s", "'for' and a duration"},
        {"10s io-error n2 during 1s", "expected 'for'"},
        {"10s io-error n9 for 1s", "does not exist"},
        {"10s disk-full n2 for 0s", "does nothing"},
        {"10s disk-full n2 for 1", "unit"},
        {"10s slow-disk n2 for 1s", "extra commit latency"},
        {"10s slow-disk n2 -5ms for 1s", "sign"},
        {"10s corrupt", "one node"},
        {"10s corrupt n1 n2", "one node"},
        {"10s disk-error n1", "io-error, disk-full, slow-disk, corrupt"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256], err[256];
        snprintf(text, sizeof text, "1s heal\n%s\n", bad[i].line);
        tr_scenario s;
        cr_assert_eq(parse(text, &s, err), TR_EINVAL, "accepted: %s", bad[i].line);
        cr_assert_eq(s.count, 0);
        cr_assert(strncmp(err, "line 2: ", 8) == 0, "%s -> %s", bad[i].line, err);
        cr_assert_not_null(strstr(err, bad[i].says), "%s -> %s", bad[i].line, err);
    }
}
