/* The access policy on real nodes (troupe node --policy): `troupe call` as a client, a proxy
 * on another node as a member. Every refused call has a 20 s timeout, so a node that left
 * the request to time out would make `troupe call` exit 1 (timeout), not 5 (forbidden). */
#include <criterion/criterion.h>

#include "cluster/policy_gate.h"
#include "proc.h"

TestSuite(policy_node, .init = proc_setup, .fini = proc_teardown, .timeout = 90);

static const int seed0[] = {0, -1};

/* Writes <tmp>/<name> with text; returns its path (static buffer per name slot). */
static const char *write_policy(const char *name, const char *text) {
    static char path[512];
    proc_path(path, sizeof path, name);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0); /* a reload never sees half a file */
    return path;
}

static int call20(int k, const char *actor, const char *json, char *out, size_t cap) {
    return call(k, actor, "300", json, out, cap, NULL, 20000);
}

Test(policy_node, allowed_requests_pass_and_refused_ones_are_answered_forbidden) {
    const char *pol = write_policy("n1.policy", "# clients: echo and proxy only\n"
                                                "allow clients 300 echo\n"
                                                "allow clients 300 proxy\n"
                                                "deny n2 * echo\n"
                                                "allow members * *\n");
    start_node("n1", 0, NULL, "--policy", pol, NULL);
    start_node("n2", 1, seed0, NULL);
    char out[256];
    cr_assert_eq(call20(0, "echo", "1", out, sizeof out), 0, "allowed: %s", log_tail("n1"));
    cr_assert_str_eq(out, "1");
    cr_assert_eq(call20(0, "kv", "[\"put\", \"k\", 1]", out, sizeof out), 5,
                 "no rule lets clients reach kv");
    cr_assert_str_eq(out, "", "no reply may be printed");
    cr_assert_eq(log_count("n1", "event=policy_refused from=call-"), 1, "%s", log_tail("n1"));
    cr_assert_eq(log_count("n1", "role=client type=300 to=kv request=yes refused=1"), 1, "%s",
                 log_tail("n1"));
    /* members: n2's proxy reaches n1's proxy (allow members), but not n1's echo (deny n2) */
    cr_assert(call_until(1, "proxy", "300", "[\"proxy@n1\", [\"echo@n2\", 7]]", "7", 15000));
    cr_assert_eq(call20(1, "proxy", "[\"echo@n1\", 1]", out, sizeof out), 5,
                 "a member's request refused, relayed by the proxy");
    cr_assert_eq(log_count("n1", "event=policy_refused from=n2 role=member type=300 to=echo"), 1,
                 "%s", log_tail("n1"));
    cr_assert_eq(call20(0, "echo", "2", out, sizeof out), 0, "the node keeps serving");
}

Test(policy_node, sighup_reloads_the_policy_and_a_bad_file_keeps_the_old_one) {
    const char *pol = write_policy("n1.policy", "allow clients 300 echo\n");
    int n1 = start_node("n1", 0, NULL, "--policy", pol, NULL);
    char out[256];
    cr_assert_eq(call20(0, "kv", "[\"put\", \"k\", 1]", out, sizeof out), 5);
    cr_assert_eq(log_count("n1", "event=policy_loaded file="), 1, "at start");
    write_policy("n1.policy", "allow clients 300 echo\nallow clients 300 kv\n");
    proc_signal(n1, SIGHUP);
    cr_assert(log_wait("n1", "event=policy_loaded file=", 2, 5000), "%s", log_tail("n1"));
    cr_assert_eq(log_count("n1", "rules=2"), 1, "%s", log_tail("n1"));
    cr_assert_eq(call20(0, "kv", "[\"put\", \"k\", 1]", out, sizeof out), 0, "%s", log_tail("n1"));
    cr_assert_str_eq(out, "{\"ok\":true}");
    write_policy("n1.policy", "allow clients 300 echo\nallow clients 300 kv oops\n");
    proc_signal(n1, SIGHUP);
    cr_assert(log_wait("n1", "event=policy_reload_failed rules_kept=2", 1, 5000), "%s",
              log_tail("n1"));
    cr_assert_eq(log_count("n1", "line 2: want 'allow FROM TYPES NAME'"), 1, "%s", log_tail("n1"));
    cr_assert_eq(call20(0, "kv", "[\"put\", \"k\", 2]", out, sizeof out), 0, "old policy kept");
    cr_assert_eq(call20(0, "cp", "[\"read\"]", out, sizeof out), 5, "and still enforced");
}

Test(policy_node, a_bad_file_at_start_is_one_line_and_exit_2) {
    const char *pol = write_policy("bad.policy", "allow * * *\n\nallow clients 1-x echo\n");
    char listen[32], secret[512];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port_base);
    proc_path(secret, sizeof secret, "secret");
    char *args[] = {"node",      "--name",        "n1",   "--listen", listen, "--policy",
                    (char *)pol, "--secret-file", secret, NULL};
    int slot = proc_spawn("n1", args);
    cr_assert_eq(proc_wait(slot, 5000), 2);
    cr_assert_eq(log_count("n1", "line 3: bad TYPES '1-x'"), 1, "%s", log_tail("n1"));
    cr_assert_eq(log_count("n1", "\n"), 1, "one line: %s", log_tail("n1"));
}

Test(policy_node, a_flood_of_refusals_logs_a_line_per_doubling) {
    const char *pol = write_policy("n1.policy", "allow clients 300 echo\n");
    start_node("n1", 0, NULL, "--policy", pol, NULL);
    char out[256];
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(call20(0, "kv", "1", out, sizeof out), 5);
    }
    /* refusals 1..10, then 16 */
    cr_assert_eq(log_count("n1", "event=policy_refused"), TR__POLICY_LOG_FIRST + 1, "%s",
                 log_tail("n1"));
    cr_assert_eq(log_count("n1", "refused=16"), 1);
    cr_assert_eq(log_count("n1", "refused=11\n"), 0);
}

/* `troupe call ... --client-name name` to echo on port_base + k; its exit code. */
static int call_as(const char *name, const char *actor) {
    static int seq;
    char addr[32], tag[32], secret[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port_base);
    snprintf(tag, sizeof tag, "named%d", ++seq);
    proc_path(secret, sizeof secret, "secret");
    char *args[] = {"call",          addr,   (char *)actor, "300",   "1",
                    "--secret-file", secret, "--timeout",   "20000", "--client-name",
                    (char *)name,    NULL};
    return proc_wait(proc_spawn(tag, args), 23000);
}

Test(policy_node, a_rule_names_a_client_by_its_hello_name) {
    const char *pol = write_policy("n1.policy", "allow ops 300 kv\n"
                                                "allow clients 300 echo\n");
    start_node("n1", 0, NULL, "--policy", pol, NULL);
    cr_assert_eq(call_as("ops", "kv"), 0, "%s", log_tail("n1"));
    cr_assert_eq(call_as("ops", "echo"), 0, "ops is also a client");
    cr_assert_eq(call_as("dev", "kv"), 5);
    cr_assert_eq(log_count("n1", "event=policy_refused from=dev role=client type=300 to=kv"), 1,
                 "%s", log_tail("n1"));
}

Test(policy_node, request_names_of_hosted_services_stand_for_their_types) {
    const char *pol = write_policy("n1.policy", "allow clients read cp\n");
    start_node("n1", 0, NULL, "--policy", pol, NULL);
    char out[256];
    cr_assert_eq(call(0, "cp", "read", "{\"key\": 1}", out, sizeof out, NULL, 20000), 0, "%s",
                 log_tail("n1"));
    cr_assert_eq(call(0, "cp", "write", "{\"key\": 1, \"value\": 5}", out, sizeof out, NULL, 20000),
                 5);
    cr_assert_eq(log_count("n1", "event=policy_refused"), 1, "%s", log_tail("n1"));
}
