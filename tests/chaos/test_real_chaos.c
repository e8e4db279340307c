/* Chaos on real processes: three `troupe node` processes, each in a network namespace of its
 * own on a bridge this test creates, host the CP register ("cp", majority quorums, LMDB);
 * this test process joins from the host side as member n9 and runs client actors that read
 * and write with timeouts, recording a Jepsen-style history (wall-clock time). A seeded
 * fault schedule injects, one at a time:
 *   - partitions: nft rules in one node's namespace drop its traffic to and from the other
 *     two nodes (a minority of one against a majority of two); the clients still reach it;
 *   - kill -9 of a node and a restart on its data directory;
 *   - a pause: SIGSTOP, then SIGCONT;
 * and heals before the next one. Delays (tc netem) are not injected: this kernel has no
 * netem qdisc, which the test detects and reports. At the end `troupe check` judges the
 * history, as it judges the simulator's: the correct register must be linearizable, and the
 * planted stale read (`--bug stale-read`: a read answered by one replica) must be caught.
 *
 * The client actors and n9 are tests/cluster/reg_clients.h's, shared with test_real_history.
 *
 * Needs root (network namespaces, veth, a bridge, nft); without them each test is skipped
 * with the reason. Everything it creates is named after its pid and removed at the end,
 * also when a test fails (the suite's fini). TROUPE_CHAOS_SECONDS (default 30) and
 * TROUPE_CHAOS_SEED (default 1) change the run. */
#include <criterion/criterion.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* helpers we do not call */
#include "../cluster/proc.h"
#include "../cluster/reg_clients.h" /* its replica helpers: these nodes run in namespaces */
#pragma GCC diagnostic pop
#include "sim/history.h"
#include "troupe.h"

#define NODES REG_REPLICAS
#define HISTORY_MAX_OPS 400000
#define NODE_PORT 7401 /* the same in every namespace */
#define PHASE_MS 3000
#define FAULT_MS 2200

/* ---- the network: a bridge on the host, a namespace and a veth pair per node ------------- */

static char bridge[16], ns[NODES][24], host_ip[24], node_ip[NODES][24];
static bool net_up;

static int sh(const char *fmt, ...) {
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void net_down(void) {
    for (int i = 0; i < NODES; i++) {
        sh("ip netns del %s 2>/dev/null", ns[i]); /* takes its end of the veth pair along */
    }
    sh("ip link del %s 2>/dev/null", bridge);
    net_up = false;
}

/* Builds the network; false (and nothing left behind) when this machine cannot. */
static bool net_create(void) {
    int tag = (int)(getpid() % 100000), subnet = (int)(getpid() % 250) + 1;
    snprintf(bridge, sizeof bridge, "trb%d", tag);
    snprintf(host_ip, sizeof host_ip, "10.123.%d.254", subnet);
    net_up = true;
    if (sh("ip link add %s type bridge 2>/dev/null", bridge) != 0) {
        net_up = false;
        return false;
    }
    bool ok = sh("ip addr add %s/24 dev %s && ip link set %s up", host_ip, bridge, bridge) == 0;
    for (int i = 0; ok && i < NODES; i++) {
        snprintf(ns[i], sizeof ns[i], "trchaos%d-%d", tag, i + 1);
        snprintf(node_ip[i], sizeof node_ip[i], "10.123.%d.%d", subnet, i + 1);
        ok = sh("ip netns add %s", ns[i]) == 0 &&
             sh("ip link add trh%d_%d type veth peer name trc%d_%d", tag, i, tag, i) == 0 &&
             sh("ip link set trc%d_%d netns %s", tag, i, ns[i]) == 0 &&
             sh("ip -n %s addr add %s/24 dev trc%d_%d", ns[i], node_ip[i], tag, i) == 0 &&
             sh("ip -n %s link set trc%d_%d up && ip -n %s link set lo up", ns[i], tag, i, ns[i]) ==
                 0 &&
             sh("ip link set trh%d_%d master %s up", tag, i, bridge) == 0;
    }
    if (!ok) {
        net_down();
    }
    return ok;
}

/* Node v loses its links to the other nodes (both directions), not to the clients. */
static void partition(int v) {
    cr_assert_eq(sh("ip netns exec %s nft add table inet chaos", ns[v]), 0);
    cr_assert_eq(sh("ip netns exec %s nft 'add chain inet chaos in { type filter hook input "
                    "priority 0; }; add chain inet chaos out { type filter hook output priority "
                    "0; }'",
                    ns[v]),
                 0);
    for (int j = 0; j < NODES; j++) {
        if (j != v) {
            cr_assert_eq(sh("ip netns exec %s nft 'add rule inet chaos in ip saddr %s drop; add "
                            "rule inet chaos out ip daddr %s drop'",
                            ns[v], node_ip[j], node_ip[j]),
                         0);
        }
    }
}

static void heal(int v) {
    cr_assert_eq(sh("ip netns exec %s nft delete table inet chaos", ns[v]), 0);
}

static bool netem_available(void) {
    return sh("tc -n %s qdisc add dev lo root netem delay 1ms 2>/dev/null", ns[0]) == 0 &&
           sh("tc -n %s qdisc del dev lo root 2>/dev/null", ns[0]) == 0;
}

/* ---- the nodes ------------------------------------------------------------------------- */

static char data_dir[NODES][512];
static int slots[NODES];
static const char *bug_flag; /* NULL: none */

/* Starts node i in its namespace (`ip netns exec` execs troupe: the pid is the node's). */
static int start_in_ns(int i) {
    static char listen[NODES][40], seeds[NODES][40], secret[512], name[NODES][8];
    snprintf(name[i], sizeof name[i], "n%d", i + 1);
    snprintf(listen[i], sizeof listen[i], "%s:%d", node_ip[i], NODE_PORT);
    snprintf(seeds[i], sizeof seeds[i], "%s:%d", node_ip[0], NODE_PORT);
    proc_path(secret, sizeof secret, "secret");
    int slot = 0;
    while (slot < PROCS_MAX && procs[slot] > 0) {
        slot++;
    }
    cr_assert_lt(slot, PROCS_MAX);
    char log[512];
    snprintf(log, sizeof log, "%s/%s.log", tmpdir, name[i]);
    const char *bin = troupe_bin();
    int before = log_count(name[i], "event=node_ready");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fl = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fl, 1);
        dup2(fl, 2);
        char *argv[32] = {"ip",     "netns",     "exec",       ns[i],      (char *)bin,
                          "node",   "--name",    name[i],      "--listen", listen[i],
                          "--data", data_dir[i], "--replicas", "n1,n2,n3", "--secret-file",
                          secret,   NULL};
        int n = 16;
        if (i != 0) {
            argv[n++] = "--seeds";
            argv[n++] = seeds[i];
        }
        if (bug_flag) {
            argv[n++] = "--bug";
            argv[n++] = (char *)bug_flag;
        }
        argv[n] = NULL;
        execvp("ip", argv);
        _exit(127);
    }
    procs[slot] = pid;
    cr_assert(log_wait(name[i], "event=node_ready", before + 1, 10000), "n%d did not start:\n%s",
              i + 1, log_tail(name[i]));
    return slot;
}

/* ---- one run --------------------------------------------------------------------------- */

typedef struct chaos_counts {
    int partitions, kills, pauses, quiet;
} chaos_counts;

static void suite_fini(void) {
    if (net_up) {
        net_down();
    }
    proc_teardown();
}

TestSuite(real_chaos, .init = proc_setup, .fini = suite_fini, .timeout = 600);

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

/* Runs the schedule against nodes started with `bug` (NULL: none) and returns `troupe
 * check`'s exit code on the recorded history. */
static int chaos_run(const char *bug) {
    if (geteuid() != 0) {
        cr_skip_test("real-process chaos needs root (network namespaces)");
    }
    if (!net_create()) {
        cr_skip_test("this machine cannot create network namespaces, veth pairs and a bridge");
    }
    if (!netem_available()) {
        fprintf(stderr, "real_chaos: no netem qdisc in this kernel: delays are not injected\n");
    }
    bug_flag = bug;
    for (int i = 0; i < NODES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "data-n%d", i + 1);
        proc_path(data_dir[i], sizeof data_dir[i], tag);
        slots[i] = start_in_ns(i);
    }
    char listen[40], seeds[128];
    snprintf(listen, sizeof listen, "%s:%d", host_ip, NODE_PORT);
    snprintf(seeds, sizeof seeds, "%s:%d,%s:%d,%s:%d", node_ip[0], NODE_PORT, node_ip[1], NODE_PORT,
             node_ip[2], NODE_PORT);
    reg_client_node cn;
    reg_client_node_start(&cn, listen, seeds);
    for (int i = 0; i < NODES; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i + 1);
        cr_assert(log_wait(name, "event=link_up peer=n9 ", 1, 20000), "%s never saw n9:\n%s", name,
                  log_tail(name));
    }
    static const char *const names[NODES] = {"n1", "n2", "n3"};
    reg_clients_begin(&cn, "cp", names, HISTORY_MAX_OPS);

    uint64_t rng = 0x2545f4914f6cdd1dull * (uint64_t)env_long("TROUPE_CHAOS_SEED", 1);
    long seconds = env_long("TROUPE_CHAOS_SECONDS", 30);
    uint64_t end = proc_now_ms() + (uint64_t)seconds * 1000;
    chaos_counts n = {0};
    while (proc_now_ms() < end) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int v = (int)(rng % NODES), kind = (int)((rng >> 8) % 4);
        uint64_t phase_end = proc_now_ms() + PHASE_MS;
        if (kind == 0) {
            partition(v);
            usleep(FAULT_MS * 1000);
            heal(v);
            n.partitions++;
        } else if (kind == 1) {
            proc_signal(slots[v], SIGKILL);
            proc_wait(slots[v], 5000);
            usleep(FAULT_MS * 1000 / 2);
            slots[v] = start_in_ns(v);
            n.kills++;
        } else if (kind == 2) {
            proc_signal(slots[v], SIGSTOP);
            usleep(FAULT_MS * 1000);
            proc_signal(slots[v], SIGCONT);
            n.pauses++;
        } else {
            n.quiet++;
        }
        while (proc_now_ms() < phase_end) {
            usleep(20000);
        }
    }
    usleep(2000 * 1000); /* healed: the clients go on a little */
    reg_clients_end(5000);
    reg_client_node_stop(&cn);

    tr_history *hist = reg_clients_history_take();
    char path[512];
    proc_path(path, sizeof path, "history.json");
    reg_history_write(hist, path);
    char *args[] = {"check", path, NULL};
    int rc = proc_wait(proc_spawn("check", args), 60000);
    char out[512];
    snprintf(out, sizeof out, "%s/check.out", tmpdir);
    char *report = slurp(out);
    fprintf(stderr,
            "real_chaos%s%s: %lds, faults: %d partitions, %d kills, %d pauses (%d quiet "
            "phases); %zu history events, %d ok; troupe check -> exit %d\n%s",
            bug ? " --bug " : "", bug ? bug : "", seconds, n.partitions, n.kills, n.pauses, n.quiet,
            tr__history_count(hist), reg_clients_ok_total(), rc, report);
    free(report);
    cr_assert_gt(n.partitions + n.kills + n.pauses, 0, "no fault was injected");
    cr_assert_gt(reg_clients_ok_total(), 50, "the cluster hardly served");
    tr__history_destroy(hist);
    return rc;
}

Test(real_chaos, the_cp_register_stays_linearizable_under_real_faults) {
    cr_assert_eq(chaos_run(NULL), 0, "troupe check did not call the history linearizable");
}

Test(real_chaos, a_planted_stale_read_is_caught) {
    cr_assert_eq(chaos_run("stale-read"), 1, "troupe check did not catch the stale read");
}
