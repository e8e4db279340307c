/* `troupe node` and `troupe call` as real processes on 127.0.0.1: a cluster of three,
 * hostile peers, failure detection, restart with durable state, clean shutdown. Every test
 * is bounded (.timeout) and kills its children (proc_teardown; children also die with us). */
#include <criterion/criterion.h>

#include "proc.h"
#include "rawpeer.h"
#include "runtime/codec.h"

TestSuite(node_cli, .init = proc_setup, .fini = proc_teardown, .timeout = 60);

static const int seed0[] = {0, -1};

Test(node_cli, three_nodes_form_a_cluster_and_answer_across_nodes) {
    start_node("n1", 0, NULL, NULL);
    start_node("n2", 1, seed0, NULL);
    start_node("n3", 2, seed0, NULL);
    char out[1024];
    cr_assert_eq(
        call(0, "echo", "300", "{\"a\":[1,2.5,\"x\",null,true]}", out, sizeof out, NULL, 3000), 0);
    cr_assert_str_eq(out, "{\"a\":[1,2.5,\"x\",null,true]}");
    /* n3 learned n2 through gossip (its only seed is n1): n3 -> n2 and n2 -> n3 */
    cr_assert(
        call_until(2, "proxy", "300", "[\"echo@n2\", {\"via\": \"n3\"}]", "{\"via\":\"n3\"}", 5000),
        "n3 -> echo@n2 never answered");
    cr_assert(call_until(1, "proxy", "300", "[\"echo@n3\", 42]", "42", 10000));
    cr_assert(call_until(0, "proxy", "300", "[\"echo@n3\", \"hi\"]", "\"hi\"", 10000));
    cr_assert(log_wait("n2", "event=link_up peer=n3", 1, 100));
    cr_assert(log_wait("n3", "event=link_up peer=n2", 1, 1000), "n3 never linked to n2");
}

Test(node_cli, wrong_secret_is_refused_and_logged) {
    start_node("n1", 0, NULL, NULL);
    char out[256];
    cr_assert_eq(call(0, "echo", "300", "1", out, sizeof out, "wrong", 2000), 1);
    cr_assert_str_eq(out, "", "no reply may be printed");
    cr_assert(log_wait("n1", "reason=\"handshake failed: bad MAC", 1, 1000));
    cr_assert_eq(call(0, "echo", "300", "1", out, sizeof out, NULL, 2000), 0);
    cr_assert_str_eq(out, "1");
}

Test(node_cli, command_line_errors_exit_2) {
    char *a1[] = {"node", "--name", "n1", "--listen", "127.0.0.1:1", "--secret", "x", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad1", a1), 3000), 2, "--secret must be refused");
    cr_assert_gt(log_count("bad1", "never taken from flags"), 0);
    unsetenv("TROUPE_SECRET");
    char *a2[] = {"node", "--name", "n1", "--listen", "127.0.0.1:1", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad2", a2), 3000), 2, "no secret");
    char *a3[] = {"call", "127.0.0.1:1", "echo", "300", "{bad json", NULL};
    setenv("TROUPE_SECRET", "cluster-test-secret-0123456789", 1);
    cr_assert_eq(proc_wait(proc_spawn("bad3", a3), 3000), 2, "bad JSON");
    cr_assert_gt(log_count("bad3", "bad JSON"), 0);
    char *a4[] = {"call", "127.0.0.1:1", "echo", "12", "1", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad4", a4), 3000), 2, "type below TR_MSG_USER");
    char *a5[] = {"call", "127.0.0.1:1", "echo", "300", "1", "--timeout", "300", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad5", a5), 3000), 1, "nobody listening");
    char *a6[] = {"node", "--name", "n1", "--listen", "127.0.0.1:1", "--down-ms", "x", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad6", a6), 3000), 2, "bad number");
    char *a7[] = {"node", "--name", "n1", "--listen", "127.0.0.1:1", "--phi-down", "nan", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad7", a7), 3000), 2, "phi not a number");
    cr_assert_gt(log_count("bad7", "--phi-down wants a number in [0.1, 100]"), 0);
    char *a8[] = {"node", "--name", "n1", "--listen", "127.0.0.1:1", "--phi-suspect", "9", NULL};
    cr_assert_eq(proc_wait(proc_spawn("bad8", a8), 3000), 2, "suspect above the default down");
    cr_assert_gt(log_count("bad8", "must not exceed --phi-down (8)"), 0);
}

/* Host names on the command line: a node listening on and seeded with "localhost:PORT"
 * (/etc/hosts), a seed that does not resolve (RFC 6761 ".invalid"), troupe call by name. */
Test(node_cli, nodes_and_calls_use_host_names) {
    start_node("n1", 0, NULL, NULL);
    static char listen[32], seeds[96], secret[512], target[32];
    snprintf(listen, sizeof listen, "localhost:%d", port_base + 1);
    snprintf(seeds, sizeof seeds, "nosuchhost.invalid:7401,localhost:%d", port_base);
    proc_path(secret, sizeof secret, "secret");
    char *a2[] = {"node", "--name",        "n2",   "--listen", listen, "--seeds",
                  seeds,  "--secret-file", secret, NULL};
    proc_spawn("n2", a2);
    cr_assert(log_wait("n2", "event=link_up peer=n1", 1, 5000), "n2 never linked by name:\n%s",
              log_tail("n2"));
    cr_assert(log_wait("n2", "event=resolve_failed addr=nosuchhost.invalid:7401", 2, 5000),
              "the unresolvable seed was not logged and retried");
    /* n1 learned n2 as "localhost:PORT" (its advertised listen address) */
    cr_assert(log_wait("n1", "event=link_up peer=n2", 1, 1000));
    snprintf(target, sizeof target, "localhost:%d", port_base + 1);
    char *c1[] = {"call",          target, "proxy", "300", "[\"echo@n1\", 7]",
                  "--secret-file", secret, NULL};
    cr_assert_eq(proc_wait(proc_spawn("byname", c1), 6000), 0, "call by name:\n%s",
                 log_tail("byname"));
    char path[512];
    snprintf(path, sizeof path, "%s/byname.out", tmpdir);
    char *out = slurp(path);
    cr_assert_str_eq(out, "7\n");
    free(out);
    /* A name that does not resolve fails the call at once: with a ten-minute --timeout, a
     * call that waited for it would outlast the bounded wait by far. */
    char *c2[] = {"call",   "nosuchhost.invalid:7401",
                  "echo",   "300",
                  "1",      "--secret-file",
                  secret,   "--timeout",
                  "600000", NULL};
    cr_assert_eq(proc_wait(proc_spawn("noname", c2), 20000), 1,
                 "troupe call waited for its timeout");
    cr_assert_gt(log_count("noname", "troupe call: cannot resolve nosuchhost.invalid:7401"), 0,
                 "%s", log_tail("noname"));
    char *b1[] = {"node",    "--name",        "n3",   "--listen", "127.0.0.1:0", "--seeds",
                  "db..x:1", "--secret-file", secret, NULL};
    cr_assert_eq(proc_wait(proc_spawn("badname", b1), 3000), 2);
    cr_assert_gt(log_count("badname", "bad --seeds address 'db..x:1': empty label"), 0);
    char *b2[] = {"call", "localhost", "echo", "300", "1", NULL};
    cr_assert_eq(proc_wait(proc_spawn("badcall", b2), 3000), 2);
    cr_assert_gt(log_count("badcall", "missing ':port'"), 0);
}

/* ---- hostile peers against a real node ---- */

static int raw_authed(void) {
    int fd = raw_connect(port_base);
    cr_assert_geq(fd, 0);
    const char *s = "cluster-test-secret-0123456789";
    cr_assert_eq(raw_handshake(fd, "troupe", "rawc", 0x80001234u, s, strlen(s), true, NULL), 0);
    return fd;
}

static void good_call_works(const char *after) {
    char out[256];
    int rc = call(0, "echo", "300", "[\"still\", \"here\"]", out, sizeof out, NULL, 3000);
    cr_assert_eq(rc, 0, "node stopped serving after: %s", after);
    cr_assert_str_eq(out, "[\"still\",\"here\"]", "after %s", after);
}

/* Sends bytes on a fresh connection (authenticated or not), expects the node to close it and
 * to log `reason`, then checks a good client is still served. */
static void hostile(bool authed, const void *bytes, size_t len, const char *reason) {
    int before = log_count("n1", reason);
    int fd = authed ? raw_authed() : raw_connect(port_base);
    raw_write_all(fd, bytes, len);
    cr_assert(raw_wait_closed(fd, 3000), "not closed: %s", reason);
    close(fd);
    cr_assert(log_wait("n1", reason, before + 1, 2000), "no log line '%s'", reason);
    good_call_works(reason);
}

/* An envelope frame (length prefix included) from the raw client to "echo" on n1. */
static size_t envelope(uint8_t *buf, size_t cap, uint32_t from_node, const void *body,
                       size_t body_len) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.type = 300;
    m.from = (tr_addr){from_node, 0, 1};
    m.to = (tr_addr){1, 0, 0};
    m.corr = 7;
    m.body = body;
    m.body_len = (uint32_t)body_len;
    size_t len;
    cr_assert_eq(tr__envelope_encode(&m, "echo", NULL, buf + 4, cap - 4, &len), 0);
    tr_store_be32(buf, (uint32_t)len);
    return len + 4;
}

Test(node_cli, hostile_peers_are_closed_with_a_logged_reason_and_the_node_keeps_serving) {
    start_node("n1", 0, NULL, "--handshake-timeout-ms", "400", "--frame-max", "65536", NULL);
    good_call_works("start");
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    hostile(false, http, strlen(http), "over limit 4096 before authentication");
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xf0};
    hostile(false, huge, 4, "frame length 4294967280 over limit");
    uint8_t env[512];
    size_t n = envelope(env, sizeof env, 0x80001234u, "\x01", 1);
    hostile(false, env, n, "before authentication");
    uint8_t trunc_hello[] = {0, 0, 0, 5, 0x93, 0x10, 0x01, 0xa5, 'x'}; /* cut short */
    hostile(false, trunc_hello, sizeof trunc_hello, "malformed HELLO");
    /* after authentication */
    hostile(true, huge, 4, "frame length 4294967280 over limit");
    size_t cut = n - 3; /* truncated msgpack: the body bin is cut short */
    tr_store_be32(env, (uint32_t)(cut - 4));
    hostile(true, env, cut, "bad envelope");
    static uint8_t deep[4 + 2 + 1000];
    tr_store_be32(deep, 1002);
    deep[4] = 0x9c; /* envelope-shaped: array of 12, kind 1, then 1000 nested arrays */
    deep[5] = 0x01;
    memset(deep + 6, 0x91, 1000);
    hostile(true, deep, sizeof deep, "bad envelope");
    uint8_t lie[4 + 20] = {0, 0, 0, 20, 0x9c, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff};
    hostile(true, lie, sizeof lie, "bad envelope");
    n = envelope(env, sizeof env, 999, "\x01", 1); /* from.node is not the sender */
    hostile(true, env, n, "bad envelope");
    uint8_t unknown[] = {0, 0, 0, 2, 0x91, 99};
    hostile(true, unknown, sizeof unknown, "unknown frame (kind 99");
    /* wrong secret */
    int fd = raw_connect(port_base);
    cr_assert_eq(
        raw_handshake(fd, "troupe", "evil", 0x80004321u, "wrong-wrong-wrong-wrong", 22, true, NULL),
        -1);
    close(fd);
    cr_assert(log_wait("n1", "bad MAC from 'evil'", 1, 2000));
    good_call_works("wrong secret");
    /* a peer that connects and never speaks */
    fd = raw_connect(port_base);
    cr_assert(raw_wait_closed(fd, 3000), "silent peer kept");
    close(fd);
    cr_assert(log_wait("n1", "handshake timeout after 400 ms", 1, 1000));
    good_call_works("silent peer");
}

Test(node_cli, a_peer_that_never_reads_is_bounded_then_dropped) {
    start_node("n1", 0, NULL, "--peer-queue-bytes", "262144", "--write-stall-ms", "500", NULL);
    int fd = raw_authed();
    int small = 16 << 10;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    static uint8_t body[60000], frame[61000];
    body[0] = 0xc5; /* bin16 of 59997 bytes: a valid msgpack body */
    body[1] = (59997 >> 8) & 0xff;
    body[2] = 59997 & 0xff;
    size_t n = envelope(frame, sizeof frame, 0x80001234u, body, sizeof body);
    bool dropped = false;
    uint64_t until = proc_now_ms() + 20000;
    while (!dropped && proc_now_ms() < until) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT | POLLRDHUP};
        if (poll(&pf, 1, 100) > 0) {
            if (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) {
                dropped = true;
            } else if (pf.revents & POLLOUT) {
                dropped = raw_write_all(fd, frame, n) != 0;
            }
        }
        dropped = dropped || log_count("n1", "peer not reading") > 0;
    }
    close(fd);
    cr_assert(dropped, "never dropped");
    cr_assert(log_wait("n1", "reason=\"peer not reading", 1, 3000));
    good_call_works("never-reading peer");
}

/* ---- failure detection, restart, durable state ---- */

/* Failure detection between real processes: what is detected, never how fast. The timing
 * (phi's rise, the hard bound, no suspicion while beats are regular) is checked with explicit
 * times in test_membership.c, and the down/up verdicts reaching monitors in virtual time by
 * tests/sim/test_nemesis.c. */
Test(node_cli, a_paused_node_is_detected_down_and_up_after_resume) {
    start_node("n1", 0, NULL, "--heartbeat-ms", "100", "--down-ms", "600", NULL);
    int n2 = start_node("n2", 1, seed0, "--heartbeat-ms", "100", "--down-ms", "600", NULL);
    cr_assert(log_wait("n1", "event=link_up peer=n2", 1, 10000));
    proc_signal(n2, SIGSTOP);
    cr_assert(log_wait("n1", "event=node_down peer=n2", 1, 20000), "pause never detected; n1:\n%s",
              log_tail("n1"));
    cr_assert(log_count("n1", "failure detector") >= 1);
    proc_signal(n2, SIGCONT);
    cr_assert(log_wait("n1", "event=link_up peer=n2", 2, 20000),
              "no reconnect after resume; n1:\n%s", log_tail("n1"));
    cr_assert(call_until(0, "proxy", "300", "[\"echo@n2\", 5]", "5", 20000));
}

/* The phi-accrual detector through the command line: with the hard bound at ten minutes, a
 * node that beat every 100 ms and then stops can only be judged down by phi. */
Test(node_cli, phi_flags_judge_a_paused_node_down_before_the_hard_bound) {
    start_node("n1", 0, NULL, "--heartbeat-ms", "100", "--down-ms", "600000", "--phi-suspect",
               "4.5", "--phi-down", "8", NULL);
    int n2 = start_node("n2", 1, seed0, "--heartbeat-ms", "100", "--down-ms", "600000", NULL);
    cr_assert(log_wait("n1", "event=link_up peer=n2", 1, 10000));
    proc_signal(n2, SIGSTOP);
    cr_assert(log_wait("n1", "event=node_down peer=n2", 1, 30000), "pause never detected; n1:\n%s",
              log_tail("n1"));
    /* suspect (phi 4.5) and down (phi 8) are close together: a tick may see both, or only
     * down; suspicion is never logged twice for one silence */
    cr_assert_leq(log_count("n1", "event=node_suspect peer=n2"), 1, "%s", log_tail("n1"));
    cr_assert_geq(log_count("n1", "(failure detector, phi "), 1);
    proc_signal(n2, SIGCONT);
}

Test(node_cli, a_killed_node_is_seen_down_restarts_rejoins_and_keeps_its_durable_state) {
    char d2[512];
    proc_path(d2, sizeof d2, "data-n2");
    start_node("n1", 0, NULL, NULL);
    int n2 = start_node("n2", 1, seed0, "--data", d2, NULL);
    start_node("n3", 2, seed0, NULL);
    cr_assert(call_until(1, "kv", "300", "[\"put\", \"k\", {\"v\": 41}]", "{\"ok\":true}", 10000));
    cr_assert(log_wait("n3", "event=link_up peer=n2", 1, 5000));
    proc_signal(n2, SIGKILL);
    proc_wait(n2, 2000);
    cr_assert(log_wait("n1", "event=node_down peer=n2", 1, 10000), "n1 did not see n2 die:\n%s",
              log_tail("n1"));
    cr_assert(log_wait("n3", "event=node_down peer=n2", 1, 10000), "n3 did not see n2 die");
    start_node("n2", 1, seed0, "--data", d2, NULL);
    cr_assert(log_wait("n1", "event=link_up peer=n2", 2, 5000), "n2 did not rejoin n1");
    cr_assert(log_wait("n3", "event=link_up peer=n2", 2, 5000), "n2 did not rejoin n3");
    /* the state written before the crash, read across nodes after the restart */
    cr_assert(call_until(2, "proxy", "300", "[\"kv@n2\", [\"get\", \"k\"]]", "{\"v\":41}", 10000));
}

Test(node_cli, sigterm_stops_a_node_cleanly_and_peers_hear_bye) {
    start_node("n1", 0, NULL, NULL);
    int n2 = start_node("n2", 1, seed0, NULL);
    cr_assert(log_wait("n1", "event=link_up peer=n2", 1, 3000));
    proc_signal(n2, SIGTERM);
    int rc = proc_wait(n2, 20000);
    if (rc != 0) {
        char path[512];
        proc_path(path, sizeof path, "n2.log");
        char *log = slurp(path);
        size_t len = strlen(log);
        cr_assert_fail("n2 did not exit 0 on SIGTERM (%d); its log ends:\n%s", rc,
                       log + (len > 1500 ? len - 1500 : 0));
    }
    cr_assert(log_wait("n2", "event=node_stopped", 1, 100));
    cr_assert(log_wait("n1", "peer said bye: shutdown", 1, 2000));
    cr_assert(log_wait("n1", "event=node_down peer=n2", 1, 2000));
}

Test(node_cli, replicated_registers_answer_across_nodes_and_survive_a_kill) {
    char d[3][512];
    const char *names[3] = {"n1", "n2", "n3"};
    int slots[3];
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "data-%s", names[i]);
        proc_path(d[i], sizeof d[i], tag);
        slots[i] = start_node(names[i], i, i ? seed0 : NULL, "--data", d[i], "--replicas",
                              "n1,n2,n3", NULL);
    }
    char out[256];
    uint64_t until = proc_now_ms() + 8000;
    int rc;
    do { /* the mesh forms (gossip) before a quorum is reachable from n1 */
        rc = call(0, "cp", "write", "{\"key\": 5, \"value\": 77}", out, sizeof out, NULL, 2000);
    } while ((rc != 0 || strcmp(out, "{\"ok\":true,\"value\":77}")) && proc_now_ms() < until);
    cr_assert_str_eq(out, "{\"ok\":true,\"value\":77}");
    cr_assert_eq(call(2, "cp", "read", "{\"key\": 5}", out, sizeof out, NULL, 3000), 0);
    cr_assert_str_eq(out, "{\"ok\":true,\"value\":77}");
    proc_signal(slots[1], SIGKILL);
    proc_wait(slots[1], 2000);
    cr_assert(log_wait("n1", "event=node_down peer=n2", 1, 2000));
    /* a majority (n1, n3) still answers */
    cr_assert_eq(call(0, "cp", "read", "{\"key\": 5}", out, sizeof out, NULL, 3000), 0);
    cr_assert_str_eq(out, "{\"ok\":true,\"value\":77}");
    start_node("n2", 1, seed0, "--data", d[1], "--replicas", "n1,n2,n3", NULL);
    cr_assert(call_until(1, "cp", "read", "{\"key\": 5}", "{\"ok\":true,\"value\":77}", 8000),
              "the restarted n2 cannot read the value");
}

/* Errors that arrive at once: every call below has a 20 s timeout, so a node that left the
 * request to time out would make it exit 1 (timeout), not 3 or 4. */
Test(node_cli, errors_arrive_at_once_with_their_exit_codes) {
    start_node("n1", 0, NULL, NULL);
    int n2 = start_node("n2", 1, seed0, NULL);
    char out[256];
    /* nothing listens on port_base + 7: refused at once (the test's first call: "call1") */
    cr_assert_eq(call(7, "echo", "300", "1", out, sizeof out, NULL, 20000), 1);
    cr_assert_gt(log_count("call1", "cannot connect to 127.0.0.1:"), 0, "%s", log_tail("call1"));
    cr_assert_eq(call(0, "nobody", "300", "1", out, sizeof out, NULL, 20000), 3,
                 "a name not registered on the node called");
    cr_assert_str_eq(out, "", "no reply may be printed");
    cr_assert(call_until(0, "proxy", "300", "[\"echo@n2\", 1]", "1", 10000));
    cr_assert_eq(call(0, "proxy", "300", "[\"nobody@n2\", 1]", out, sizeof out, NULL, 20000), 3,
                 "a name not registered on the node a proxy forwards to");
    proc_signal(n2, SIGKILL);
    proc_wait(n2, 2000);
    cr_assert(log_wait("n1", "event=node_down peer=n2", 1, 10000));
    cr_assert_eq(call(0, "proxy", "300", "[\"echo@n2\", 1]", out, sizeof out, NULL, 20000), 4,
                 "a node known down");
}

/* Reads the REASON frame a node sends before it closes: [21, code, text]. */
static void expect_reason(int fd, int code, const char *text) {
    uint8_t buf[256];
    long n = raw_read_frame(fd, buf, sizeof buf, 3000);
    cr_assert_gt(n, 3, "no REASON frame before the close (%ld)", n);
    cr_assert(buf[0] == 0x93 && buf[1] == 21 && buf[2] == code, "frame %02x %02x %02x", buf[0],
              buf[1], buf[2]);
    size_t len = buf[3] & 0x1f; /* texts here are fixstr or str8 */
    const char *s = (const char *)buf + 4;
    if (buf[3] == 0xd9) {
        len = buf[4];
        s++;
    }
    char got[200];
    snprintf(got, sizeof got, "%.*s", (int)len, s);
    cr_assert(text[0] ? strstr(got, text) != NULL : len == 0, "text '%s', wanted '%s'", got, text);
    cr_assert(raw_wait_closed(fd, 3000));
    close(fd);
}

Test(node_cli, a_protocol_error_is_told_to_the_peer_in_a_reason_frame) {
    start_node("n1", 0, NULL, NULL);
    /* before authentication: the fixed code 2 and no text */
    int fd = raw_connect(port_base);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_write_all(fd, http, strlen(http));
    expect_reason(fd, 2, "");
    /* after: the code and the logged reason */
    fd = raw_authed();
    uint8_t unknown[] = {0, 0, 0, 2, 0x91, 99};
    raw_write_all(fd, unknown, sizeof unknown);
    expect_reason(fd, 1, "unknown frame (kind 99");
    fd = raw_authed();
    uint8_t gossip[] = {0, 0, 0, 3, 0x92, 19, 0x90}; /* a client's GOSSIP: members only */
    raw_write_all(fd, gossip, sizeof gossip);
    expect_reason(fd, 3, "client sent GOSSIP");
    good_call_works("reason frames");
}

/* An independent client (Python, its own msgpack and HMAC, written from
 * docs/wire-protocol.md alone) completes the handshake, gets echo's reply and the error
 * reply for a name that is not registered. */
Test(node_cli, an_independent_client_speaks_protocol_2_from_the_document) {
    start_node("n1", 0, NULL, NULL);
    char secret[512], cmd[1200];
    proc_path(secret, sizeof secret, "secret");
    snprintf(cmd, sizeof cmd, "python3 tests/cluster/v2_client.py 127.0.0.1:%d '%s'", port_base,
             secret);
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s: status %d", cmd, rc);
}
