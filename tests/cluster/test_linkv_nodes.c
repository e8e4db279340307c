/* lin-kv (docs/raft.md) on three real `troupe node --builtins proxy,lin-kv` processes on
 * 127.0.0.1: write, cas and read through different nodes (each node's "proxy" hands the
 * request to its local linkv replica, which forwards it to the leader); a node that does not
 * lead, asked from outside, answers "not the leader" with the leader's index; after kill -9 of
 * the leader the two others elect a new one and keep answering cas, and the killed node comes
 * back as a follower of the new leader. */
#include <criterion/criterion.h>

#include "proc.h"

TestSuite(linkv_nodes, .init = proc_setup, .fini = proc_teardown, .timeout = 90);

static const int seed0[] = {0, -1};

static int start(int i) {
    static char data[3][512];
    static const char *const names[3] = {"n1", "n2", "n3"};
    char tag[16];
    snprintf(tag, sizeof tag, "data-%s", names[i]);
    proc_path(data[i], sizeof data[i], tag);
    return start_node(names[i], i, i ? seed0 : NULL, "--data", data[i], "--replicas", "n1,n2,n3",
                      "--builtins", "proxy,lin-kv", "--heartbeat-ms", "100", "--down-ms", "1000",
                      NULL);
}

/* Asks node k's linkv directly, from outside (troupe call is a client on no node); the
 * leader's index (0-based) from its answer, or -1 while none is known. */
static int leader_seen_by(int k) {
    char out[256];
    int leader = -1, code = -1;
    if (call(k, "linkv", "read", "[1]", out, sizeof out, NULL, 2000) != 0) {
        return -1;
    }
    if (sscanf(out, "[%d,%d]", &code, &leader) == 2 && code == 3) {
        return leader; /* not the leader: it names the one it follows */
    }
    return code == 0 ? k : -1;
}

/* The index of the node that leads, once all the given nodes agree on it (or -1). */
static int find_leader(const int *nodes, int n, int timeout_ms) {
    uint64_t until = proc_now_ms() + (uint64_t)timeout_ms;
    do {
        int l = leader_seen_by(nodes[0]);
        bool agreed = l >= 0;
        for (int i = 1; i < n && agreed; i++) {
            agreed = leader_seen_by(nodes[i]) == l;
        }
        if (agreed) {
            return l;
        }
        usleep(100000);
    } while (proc_now_ms() < until);
    return -1;
}

/* Through node k's proxy to its own linkv replica; the answer, or "" without one. The type
 * is lin-kv's number (read 256, write 257, cas 258: TR_MSG_USER + 0, 1, 2), since through
 * "proxy" the names read and write are the registers'. */
static void via(int k, const char *type, const char *args, char *out, size_t cap) {
    char body[128], replica[16];
    type = !strcmp(type, "read") ? "256" : !strcmp(type, "write") ? "257" : "258";
    snprintf(replica, sizeof replica, "linkv@n%d", k + 1);
    snprintf(body, sizeof body, "[\"%s\", %s]", replica, args);
    if (call(k, "proxy", type, body, out, cap, NULL, 3000) != 0) {
        out[0] = 0;
    }
}

/* Retries a cas through node k until it is applied; a retry whose earlier copy was applied
 * meets a mismatch, and then a read must show the new value. */
static bool cas_until(int k, int key, int from, int to, int timeout_ms) {
    char args[64], out[256], want[32];
    snprintf(args, sizeof args, "[%d, %d, %d]", key, from, to);
    snprintf(want, sizeof want, "[0,%d]", to);
    uint64_t until = proc_now_ms() + (uint64_t)timeout_ms;
    do {
        via(k, "cas", args, out, sizeof out);
        if (!strcmp(out, "[0,null]")) {
            return true;
        }
        if (!strcmp(out, "[1,null]")) {
            char rk[16];
            snprintf(rk, sizeof rk, "[%d]", key);
            via(k, "read", rk, out, sizeof out);
            return !strcmp(out, want);
        }
        usleep(100000);
    } while (proc_now_ms() < until);
    fprintf(stderr, "cas_until: node %d answered '%s'\n", k + 1, out);
    return false;
}

Test(linkv_nodes, three_nodes_serve_cas_through_any_node_and_survive_a_leader_kill) {
    int slots[3];
    for (int i = 0; i < 3; i++) {
        slots[i] = start(i);
    }
    const int all[] = {0, 1, 2};
    int leader = find_leader(all, 3, 20000);
    cr_assert_geq(leader, 0, "no leader agreed on:\n%s", log_tail("n1"));

    char out[256], want[32];
    /* write, cas and read each through a different node */
    cr_assert(call_until(0, "proxy", "257", "[\"linkv@n1\", [1, 42]]", "[0,null]", 10000),
              "write through n1");
    cr_assert(cas_until(1, 1, 42, 43, 10000), "cas through n2");
    via(2, "read", "[1]", out, sizeof out);
    cr_assert_str_eq(out, "[0,43]", "read through n3");
    via(2, "cas", "[1, 42, 7]", out, sizeof out);
    cr_assert_str_eq(out, "[1,null]", "a cas whose value differs is refused");

    /* asked from outside, a node that does not lead says so and names the leader */
    int other = (leader + 1) % 3;
    cr_assert_eq(call(other, "linkv", "cas", "[1, 43, 44]", out, sizeof out, NULL, 2000), 0);
    snprintf(want, sizeof want, "[3,%d]", leader);
    cr_assert_str_eq(out, want, "n%d does not lead", other + 1);
    cr_assert_eq(call(leader, "linkv", "read", "[1]", out, sizeof out, NULL, 2000), 0);
    cr_assert_str_eq(out, "[0,43]", "the leader answers from outside");

    /* kill -9 the leader: the two others elect one and keep serving cas */
    proc_signal(slots[leader], SIGKILL);
    proc_wait(slots[leader], 2000);
    int rest[2] = {(leader + 1) % 3, (leader + 2) % 3};
    cr_assert(cas_until(rest[0], 1, 43, 44, 15000), "cas after the leader's kill");
    int next = find_leader(rest, 2, 10000);
    cr_assert(next >= 0 && next != leader, "no new leader among the majority");
    cr_assert(cas_until(rest[1], 1, 44, 45, 10000), "cas through the other survivor");
    via(rest[0], "read", "[1]", out, sizeof out);
    cr_assert_str_eq(out, "[0,45]");

    /* the old leader comes back with its log and catches up */
    slots[leader] = start(leader);
    via(rest[1], "write", "[2, 9]", out, sizeof out);
    cr_assert_str_eq(out, "[0,null]");
    /* pre-vote: the returning replica does not depose the leader the others follow */
    cr_assert_eq(find_leader(all, 3, 10000), next, "the restarted node follows the leader");
}
