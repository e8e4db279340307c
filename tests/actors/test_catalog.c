/* The "catalog" actor on the simulator: writes through any node are ordered by n1 and spread
 * to every replica, versions grow, a stale or duplicated copy is ignored, replicas keep what
 * they stored across a crash, a write with n1 cut off is refused, and bad requests get an
 * error reply. */
#include <criterion/criterion.h>
#include <string.h>

#include "actors/catalog.h"
#include "harness/builtin_catalog.h"
#include "troupe.h"

#define MS ((uint64_t)1000000)
#define NODES 3

static const char *const names[] = {"n1", "n2", "n3"};
static tr_sim *sim;
static bool n2_late; /* n2 boots without the catalog until this is cleared */

static int boot(tr_node *node, void *ud) {
    (void)ud;
    uint32_t i = tr_node_id(node) - 1;
    if (i == 1 && n2_late) {
        return 0; /* a node that joins the catalog later */
    }
    tr_service_env env = {.node_index = i,
                          .node_count = NODES,
                          .node_name = names[i],
                          .node_names = names,
                          .simulated = true};
    return tr_service_boot(&tr__builtin_catalog, node, &env);
}

static void start(void) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = NODES;
    cfg.store = true;
    cfg.boot = boot;
    cr_assert_eq(tr_sim_create(&cfg, &sim), 0);
    /* Until the links between the nodes are up, a copy the writer sends is lost (the
     * replication is fire and forget: actors/catalog.h): start once they are. */
    tr_sim_run_for(sim, 3000 * MS);
}

static void stop(void) {
    tr_sim_destroy(sim);
}

/* PUT [id, name, price, ""] through node i; the reply decoded into *out. Returns 0 for a
 * product record, 1 for an error reply, or the request's error. */
static int put(uint32_t i, int64_t id, const char *name, int64_t price, tr_catalog_product *out) {
    uint8_t body[256];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 4);
    tr_mp_write_int(&w, id);
    tr_mp_write_cstr(&w, name);
    tr_mp_write_int(&w, price);
    tr_mp_write_cstr(&w, "");
    tr_msg *reply = NULL;
    int rc = tr_sim_request(sim, i, "catalog", TR_CATALOG_PUT, body, w.len, 2000 * MS, &reply);
    if (rc == 0) {
        rc = tr__catalog_record_decode(reply->body, reply->body_len, true, out) == 0 ? 0 : 1;
        tr_msg_free(reply);
    }
    return rc;
}

/* GET [id] on node i: the version it serves (0: not found), or -1. */
static int64_t get_version(uint32_t i, int64_t id) {
    uint8_t body[16];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 1);
    tr_mp_write_int(&w, id);
    tr_msg *reply = NULL;
    if (tr_sim_request(sim, i, "catalog", TR_CATALOG_GET, body, w.len, 2000 * MS, &reply)) {
        return -1;
    }
    tr_catalog_product p;
    int64_t v = reply->body_len == 1 && reply->body[0] == 0xc0                           ? 0
                : tr__catalog_record_decode(reply->body, reply->body_len, true, &p) == 0 ? p.version
                                                                                         : -1;
    tr_msg_free(reply);
    return v;
}

Test(catalog, a_write_through_any_node_reaches_every_replica_with_growing_versions) {
    start();
    tr_catalog_product p;
    cr_assert_eq(get_version(2, 5), 0, "absent at first");
    cr_assert_eq(put(1, 5, "Teapot", 2599, &p), 0);
    cr_assert_eq(p.version, 1);
    cr_assert_str_eq(p.name, "Teapot");
    tr_sim_run_for(sim, 20 * MS);
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(get_version(i, 5), 1, "node %u serves version 1", i);
    }
    cr_assert_eq(put(2, 5, "Teapot", 2399, &p), 0);
    cr_assert_eq(p.version, 2, "the writer numbers the next version");
    cr_assert_eq(put(0, 5, "Teapot", 2299, &p), 0);
    cr_assert_eq(p.version, 3);
    tr_sim_run_for(sim, 20 * MS);
    for (uint32_t i = 0; i < NODES; i++) {
        cr_assert_eq(get_version(i, 5), 3, "node %u serves version 3", i);
    }
    stop();
}

Test(catalog, a_stale_copy_is_ignored_and_replicas_survive_a_crash) {
    start();
    tr_catalog_product p;
    cr_assert_eq(put(0, 9, "Mug", 1299, &p), 0);
    cr_assert_eq(put(0, 9, "Mug", 1399, &p), 0);
    tr_sim_run_for(sim, 20 * MS);
    for (uint32_t i = 0; i < NODES; i++) {
        int64_t before = get_version(i, 9);
        cr_assert_eq(before, 2, "node %u has version 2 before the stale copy (%lld)", i,
                     (long long)before);
    }
    /* a late copy of version 1 reaches n3: it keeps version 2 */
    tr_catalog_product old = {.id = 9, .version = 1, .price_cents = 1299};
    strcpy(old.name, "Mug");
    uint8_t rec[TR_CATALOG_RECORD_MAX];
    size_t len = tr__catalog_record_encode(&old, rec, sizeof rec);
    tr_addr at;
    cr_assert_eq(tr_node_lookup(tr_sim_node(sim, 2), "catalog", &at), 0);
    cr_assert_eq(tr_node_send(tr_sim_node(sim, 2), at, TR_CATALOG_APPLY, rec, len), 0);
    tr_sim_run_for(sim, 20 * MS);
    int64_t v = get_version(2, 9);
    cr_assert_eq(v, 2, "an older version never replaces a newer one (got %lld)", (long long)v);
    cr_assert_eq(tr_sim_crash(sim, 2), 0);
    cr_assert_eq(tr_sim_restart(sim, 2), 0);
    tr_sim_run_for(sim, 50 * MS);
    cr_assert_eq(get_version(2, 9), 2, "a replica keeps its copy across a crash");
    stop();
}

Test(catalog, a_write_with_the_writer_cut_off_is_not_answered_ok) {
    start();
    tr_catalog_product p;
    cr_assert_eq(put(1, 3, "Cup", 500, &p), 0);
    tr_sim_run_for(sim, 20 * MS);
    cr_assert_eq(tr_sim_partition(sim, 1), 0); /* n1 alone */
    int rc = put(1, 3, "Cup", 600, &p);
    cr_assert(rc == 1 || rc == TR_ETIMEDOUT, "refused or unanswered, got %d", rc);
    cr_assert_eq(get_version(1, 3), 1, "n2 still serves what it has");
    stop();
}

Test(catalog, bad_requests_get_an_error_reply) {
    start();
    tr_catalog_product p;
    cr_assert_eq(put(0, 0, "x", 1, &p), 1, "id 0");
    cr_assert_eq(put(0, 1, "", 1, &p), 1, "an empty name");
    cr_assert_eq(put(0, 1, "x", -5, &p), 1, "a negative price");
    cr_assert_eq(put(0, TR_CATALOG_ID_MAX + 1, "x", 1, &p), 1, "an id past the limit");
    cr_assert_eq(get_version(0, 0), -1, "GET id 0");
    tr_msg *reply = NULL;
    static const uint8_t junk[] = {0xc1};
    cr_assert_eq(tr_sim_request(sim, 0, "catalog", TR_CATALOG_GET, junk, 1, 2000 * MS, &reply), 0);
    cr_assert(reply->body_len > 1 && (reply->body[0] & 0xf0) == 0x80, "an error map");
    tr_msg_free(reply);
    stop();
}

/* STATS of node i's catalog into v[0..7). */
static void stats(uint32_t i, int64_t v[7]) {
    static const uint8_t empty[] = {0x90};
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, i, "catalog", TR_CATALOG_STATS, empty, 1, 2000 * MS, &reply),
                 0);
    tr_mp_reader r;
    uint32_t n = 0;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    cr_assert_eq(tr_mp_read_array(&r, &n), 0);
    cr_assert_eq(n, 7);
    for (int k = 0; k < 7; k++) {
        cr_assert_eq(tr_mp_read_int(&r, &v[k]), 0);
    }
    tr_msg_free(reply);
}

Test(catalog, a_write_made_while_a_replica_is_cut_off_reaches_it_after_the_heal) {
    start();
    tr_catalog_product p;
    /* n3 alone, and with it the topic's home (FNV-1a("catalog.updated") mod 3 = 2): the
     * writer's publish is lost on the way, and its outbox sends it again after the heal */
    cr_assert_eq(tr_sim_isolate(sim, 2), 0);
    cr_assert_eq(put(0, 11, "Kettle", 4599, &p), 0, "the writer answers: its commit is durable");
    tr_sim_run_for(sim, 500 * MS);
    cr_assert_eq(get_version(1, 11), 0, "n2 has not got it: the topic's home is cut off");
    cr_assert_eq(get_version(2, 11), 0, "n3, cut off, has not");
    cr_assert_eq(tr_sim_heal(sim), 0);
    tr_sim_run_for(sim, 3000 * MS);
    cr_assert_eq(get_version(1, 11), 1, "after the heal the event reaches n2 (at least once)");
    cr_assert_eq(get_version(2, 11), 1, "and n3");
    stop();
}

Test(catalog, a_replica_that_subscribes_late_catches_up_with_every_product) {
    n2_late = true; /* n2, not n3: n3 is the topic's home */
    start();
    tr_catalog_product p;
    for (int64_t id = 1; id <= 9; id++) { /* more than one SYNC batch */
        cr_assert_eq(put(0, id, "Spoon", 100 + id, &p), 0);
    }
    cr_assert_eq(put(2, 4, "Spoon", 999, &p), 0); /* version 2 of one of them */
    tr_sim_run_for(sim, 500 * MS);
    cr_assert_eq(get_version(2, 9), 1, "n3, subscribed from the start, has every product");
    /* n2 starts its catalog with an empty replica, long after these writes */
    n2_late = false;
    cr_assert_eq(tr_sim_crash(sim, 1), 0);
    cr_assert_eq(tr_sim_restart(sim, 1), 0);
    tr_sim_run_for(sim, 3000 * MS);
    for (int64_t id = 1; id <= 9; id++) {
        int64_t v = get_version(1, id);
        cr_assert_eq(v, id == 4 ? 2 : 1, "the late replica n2 serves product %lld (version %lld)",
                     (long long)id, (long long)v);
    }
    stop();
}

Test(catalog, replicas_measure_the_lag_from_commit_to_apply) {
    start();
    tr_catalog_product p;
    for (int64_t id = 1; id <= 5; id++) {
        cr_assert_eq(put(1, id, "Spoon", 100 * id, &p), 0);
    }
    tr_sim_run_for(sim, 500 * MS);
    for (uint32_t i = 1; i < NODES; i++) {
        int64_t v[7];
        stats(i, v);
        cr_assert_eq(v[6], 1, "n%u is subscribed", i + 1);
        cr_assert_eq(v[3], 5, "n%u received each of the 5 events once (got %lld)", i + 1,
                     (long long)v[3]);
        cr_assert_eq(v[2], 5, "n%u applied 5 records", i + 1);
        cr_assert(v[4] > 0 && v[4] < 500, "n%u: a lag within the run (max %lld ms)", i + 1,
                  (long long)v[4]);
        cr_log_info("n%u: lag max %lld ms, mean %.1f ms over %lld events", i + 1, (long long)v[4],
                    (double)v[5] / (double)v[3], (long long)v[3]);
    }
    int64_t w[7];
    stats(0, w);
    cr_assert_eq(w[3], 0, "the writer is not a subscriber");
    stop();
}

Test(catalog, a_request_that_arrives_with_no_time_left_is_refused) {
    start();
    uint8_t inner[16], body[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, inner, sizeof inner);
    tr_mp_write_array(&w, 1);
    tr_mp_write_int(&w, 5);
    size_t len = 0;
    cr_assert_eq(tr_deadline_wrap(body, sizeof body, 0, inner, w.len, &len), 0);
    tr_msg *reply = NULL;
    cr_assert_eq(tr_sim_request(sim, 1, "catalog", TR_CATALOG_GET, body, len, 2000 * MS, &reply),
                 0);
    const char want[] = "deadline exceeded";
    cr_assert(
        reply->body_len > sizeof want &&
            memcmp(reply->body + reply->body_len - (sizeof want - 1), want, sizeof want - 1) == 0,
        "answered \"deadline exceeded\"");
    tr_msg_free(reply);
    cr_assert_eq(tr_deadline_wrap(body, sizeof body, 1000, inner, w.len, &len), 0);
    cr_assert_eq(tr_sim_request(sim, 1, "catalog", TR_CATALOG_GET, body, len, 2000 * MS, &reply),
                 0);
    cr_assert(reply->body_len == 1 && reply->body[0] == 0xc0, "with time left: not found");
    tr_msg_free(reply);
    stop();
}
