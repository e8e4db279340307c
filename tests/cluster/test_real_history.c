/* The replicated registers on a real 3-node cluster over 127.0.0.1, checked like the
 * simulator's: `troupe node` processes n1..n3 host "cp" and "ap" over all three; this test
 * process joins the cluster as member n9 (a tr_runtime with 1 worker + tr_cluster) and runs
 * client actors, each bound to one replica ("cp@n2"), issuing random reads and writes with
 * timeouts and recording every op in a Jepsen-style history (sim/history.h, wall-clock
 * CLOCK_MONOTONIC ns: this is a real run, not a simulated one). Mid-run n2 is killed with
 * SIGKILL and restarted on its data directory. The history is exported as JSON and
 * `troupe check` must call it linearizable; the AP register must answer on every replica.
 * A second test plants a read of a value never written, and a stale read of the initial
 * state after an acknowledged write, into a real recorded history: `troupe check` must
 * reject both (exit 1) while accepting the unmodified copy.
 *
 * The clients, n9 and the replica helpers are reg_clients.h's (shared with the chaos and soak
 * tests). Every child process dies in proc_teardown (and with us: PR_SET_PDEATHSIG). */
#include <criterion/criterion.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* proc.h: helpers we do not call */
#include "proc.h"
#pragma GCC diagnostic pop
#include "reg_clients.h"
#include "sim/history.h"
#include "troupe.h"

#define HISTORY_MAX_OPS 200000
#define CLIENT_PORT 5 /* n9 listens on port_base + 5 */
#define MESH_MS 10000

TestSuite(real_history, .init = proc_setup, .fini = proc_teardown, .timeout = 60);

static char data_dir[REG_REPLICAS][512];
static int slots[REG_REPLICAS];

static void start_replicas(void) {
    for (int i = 0; i < REG_REPLICAS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "data-%s", reg_replica_names[i]);
        proc_path(data_dir[i], sizeof data_dir[i], tag);
        slots[i] = reg_replica_start(i, data_dir[i]);
    }
}

typedef struct tally {
    size_t ok, fail, info, ok_reads_valued;
} tally;

static tally count_ops(const tr_history *h) {
    tally t = {0};
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        t.ok += op->type == TR_OP_OK;
        t.fail += op->type == TR_OP_FAIL;
        t.info += op->type == TR_OP_INFO;
        t.ok_reads_valued += op->type == TR_OP_OK && op->f == TR_F_READ && op->has_value;
    }
    return t;
}

/* Writes h as JSON to <tmp>/<name>.json and runs `troupe check` on it; its exit code. */
static int check_history(const tr_history *h, const char *name) {
    char path[512], tag[64];
    snprintf(tag, sizeof tag, "%s.json", name);
    proc_path(path, sizeof path, tag);
    reg_history_write(h, path);
    snprintf(tag, sizeof tag, "check-%s", name);
    char *args[] = {"check", path, NULL};
    int rc = proc_wait(proc_spawn(tag, args), 20000);
    char out[512];
    snprintf(out, sizeof out, "%s/%s.out", tmpdir, tag);
    char *report = slurp(out);
    fprintf(stderr, "troupe check %s (%zu ops) -> exit %d\n%s", name, tr__history_count(h), rc,
            report);
    free(report);
    return rc;
}

static void run_for_ms(uint64_t ms) {
    usleep((useconds_t)(ms * 1000));
}

/* ---- the tests ------------------------------------------------------------------------- */

Test(real_history, cp_is_linearizable_through_a_kill_and_restart_and_ap_answers) {
    start_replicas();
    reg_client_node cn;
    reg_client_node_join(&cn, CLIENT_PORT, MESH_MS);

    reg_clients_begin(&cn, "cp", reg_replica_names, HISTORY_MAX_OPS);
    run_for_ms(2000);
    proc_signal(slots[1], SIGKILL); /* n2: the majority n1, n3 keeps serving */
    proc_wait(slots[1], 2000);
    int before_kill[REG_REPLICAS];
    for (int i = 0; i < REG_REPLICAS; i++) {
        before_kill[i] = reg_clients_ok(i);
    }
    run_for_ms(1500);
    cr_assert_gt(reg_clients_ok(0), before_kill[0], "n1 stopped serving");
    cr_assert_gt(reg_clients_ok(2), before_kill[2], "n3 stopped serving");
    int links[REG_REPLICAS + 1];
    reg_link_counts(1, links);
    slots[1] = reg_replica_start(1, data_dir[1]);
    reg_clients_mark();
    reg_wait_mesh(1, links, MESH_MS);
    run_for_ms(2500);
    reg_clients_end(5000);

    tr_history *hist = reg_clients_history_take();
    tally t = count_ops(hist);
    fprintf(stderr,
            "cp: %zu ops: ok %zu (n1 %d, n2 %d, n3 %d; after restart n2 %d), fail %zu, "
            "info %zu\n",
            tr__history_count(hist), t.ok, reg_clients_ok(0), reg_clients_ok(1), reg_clients_ok(2),
            reg_clients_ok_after_mark(1), t.fail, t.info);
    cr_assert_geq(t.ok, 300, "only %zu ok ops", t.ok);
    cr_assert_gt(t.ok_reads_valued, 0, "no read saw a written value");
    cr_assert_gt(reg_clients_ok_after_mark(1), 0, "the restarted n2 never served");
    cr_assert_eq(check_history(hist, "cp"), 0, "troupe check rejected the cp history");
    tr__history_destroy(hist);

    /* AP: available on every replica; LWW is not linearizable, so no check is asserted */
    reg_clients_begin(&cn, "ap", reg_replica_names, HISTORY_MAX_OPS);
    run_for_ms(1500);
    reg_clients_end(5000);
    hist = reg_clients_history_take();
    t = count_ops(hist);
    fprintf(stderr, "ap: %zu ops: ok %zu (n1 %d, n2 %d, n3 %d), fail %zu, info %zu\n",
            tr__history_count(hist), t.ok, reg_clients_ok(0), reg_clients_ok(1), reg_clients_ok(2),
            t.fail, t.info);
    for (int i = 0; i < REG_REPLICAS; i++) {
        cr_assert_gt(reg_clients_ok(i), 0, "ap on %s never answered", reg_replica_names[i]);
    }
    cr_assert_geq(t.ok, 100);
    int ap_rc = check_history(hist, "ap"); /* reported, not asserted */
    cr_assert(ap_rc == 0 || ap_rc == 1 || ap_rc == 3, "troupe check failed on ap: %d", ap_rc);
    tr__history_destroy(hist);
    reg_client_node_stop(&cn);
}

/* A copy of h in which the ok read at index `plant` reads (found, value) instead. */
static tr_history *planted(const tr_history *h, size_t plant, bool found, int64_t value) {
    tr_history *c = tr__history_create(tr__history_count(h));
    cr_assert(c);
    for (size_t i = 0; i < tr__history_count(h); i++) {
        tr_op op = *tr__history_op(h, i);
        if (i == plant) {
            cr_assert(op.type == TR_OP_OK && op.f == TR_F_READ);
            op.has_value = found;
            op.value = found ? value : 0;
        }
        cr_assert_eq(tr__history_append(c, &op), 0);
    }
    return c;
}

/* The ok completion of the first read invoked after an ok write of the same key had
 * completed (reading nil there is a stale read), or SIZE_MAX. */
static size_t read_after_acked_write(const tr_history *h) {
    bool written[REG_KEYS] = {false};
    for (size_t i = 0; i < tr__history_count(h); i++) {
        const tr_op *op = tr__history_op(h, i);
        if (op->type == TR_OP_OK && op->f == TR_F_WRITE) {
            written[op->key] = true;
        } else if (op->type == TR_OP_INVOKE && op->f == TR_F_READ && written[op->key]) {
            size_t p = tr__history_partner(h, i);
            if (p != SIZE_MAX && tr__history_op(h, p)->type == TR_OP_OK) {
                return p;
            }
        }
    }
    return SIZE_MAX;
}

Test(real_history, check_rejects_planted_reads_in_a_real_history) {
    start_replicas();
    reg_client_node cn;
    reg_client_node_join(&cn, CLIENT_PORT, MESH_MS);
    reg_clients_begin(&cn, "cp", reg_replica_names, HISTORY_MAX_OPS);
    run_for_ms(2000);
    reg_clients_end(5000);
    reg_client_node_stop(&cn);
    tr_history *hist = reg_clients_history_take();
    tally t = count_ops(hist);
    cr_assert_geq(t.ok, 50, "only %zu ok ops", t.ok);
    cr_assert_eq(check_history(hist, "real"), 0, "the unmodified history must pass");

    size_t r = read_after_acked_write(hist);
    cr_assert_neq(r, SIZE_MAX, "no read followed an acknowledged write");
    tr_history *foreign = planted(hist, r, true, 424242); /* never written (values >= 1e6) */
    cr_assert_eq(check_history(foreign, "foreign-value"), 1,
                 "a read of a value never written was accepted");
    tr_history *stale = planted(hist, r, false, 0);
    cr_assert_eq(check_history(stale, "stale-nil"), 1,
                 "a nil read after an acknowledged write was accepted");
    tr__history_destroy(stale);
    tr__history_destroy(foreign);
    tr__history_destroy(hist);
}
