/* Mutual TLS between real nodes and for clients (docs/tls.md): a CA and certificates made
 * with the `openssl` command in the test's temp dir; `troupe node`, `troupe call` and
 * `troupe status` with --tls-cert/--tls-key/--tls-ca on loopback; an in-process client for
 * what the command line refuses to send (a HELLO naming another node than its certificate);
 * raw sockets for a silent or stalled TLS handshake; the session's bound on unprocessed
 * ciphertext. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "cluster/tls.h"
#include "proc.h"
#include "troupe.h"

TestSuite(tls, .init = proc_setup, .fini = proc_teardown, .timeout = 120);

/* The commands of docs/tls.md: in <tmp>/<dir>, a CA named `ca` (ca.pem, ca.key) unless it
 * exists, and for each name a P-256 key and a certificate with CN=name signed by that CA. */
static void make_certs(const char *dir, const char *ca, const char *names) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p '%s/%s'; cd '%s/%s'; "
             "[ -f %s.pem ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -keyout %s.key -out %s.pem -days 2 -subj /CN=%s 2>/dev/null; "
             "for n in %s; do "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key "
             "-out $n.csr -subj /CN=$n 2>/dev/null; "
             "openssl x509 -req -in $n.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days 2 "
             "-out $n.pem 2>/dev/null; rm -f $n.csr; done",
             tmpdir, dir, tmpdir, dir, ca, ca, ca, ca, names, ca, ca);
    cr_assert_eq(system(cmd), 0, "openssl failed: %s", cmd);
}

/* Whether the nodes of this test also have the shared secret: clients then give it too (with
 * TLS, the secret is optional, but where it is used both ends must have it). */
static bool with_secret;

/* <tmp>/<dir>/<file> (static ring of buffers: a few live at once). */
static char *cert_path(const char *dir, const char *file) {
    static char ring[24][512];
    static int next;
    char *p = ring[next++ % 24];
    snprintf(p, 512, "%s/%s/%s", tmpdir, dir, file);
    return p;
}

static void copy_file(const char *from, const char *to) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cat '%s' > '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to);
    cr_assert_eq(system(cmd), 0);
}

static const char *pem(const char *dir, const char *name) {
    char f[64];
    snprintf(f, sizeof f, "%s.pem", name);
    return cert_path(dir, f);
}

static const char *key(const char *dir, const char *name) {
    char f[64];
    snprintf(f, sizeof f, "%s.key", name);
    return cert_path(dir, f);
}

/* `troupe node --name name` on port_base + k over TLS with <dir>/<name>.{pem,key} and
 * ca_file, seeded with seed (port_base + seed; -1: none), with the shared secret too if
 * with_secret. Waits for node_ready (or returns at once if !wait). Returns the slot. */
static int tls_node(const char *name, int k, int seed, const char *dir, const char *ca_file,
                    bool wait) {
    static char listen[PROCS_MAX][32], seeds[PROCS_MAX][32], sec[512];
    snprintf(listen[k], sizeof listen[k], "127.0.0.1:%d", port_base + k);
    snprintf(seeds[k], sizeof seeds[k], "127.0.0.1:%d", port_base + seed);
    proc_path(sec, sizeof sec, "secret");
    char *args[24] = {"node",
                      "--name",
                      (char *)name,
                      "--listen",
                      listen[k],
                      "--tls-cert",
                      (char *)pem(dir, name),
                      "--tls-key",
                      (char *)key(dir, name),
                      "--tls-ca",
                      (char *)ca_file};
    int n = 11;
    if (seed >= 0) {
        args[n++] = "--seeds";
        args[n++] = seeds[k];
    }
    if (with_secret) {
        args[n++] = "--secret-file";
        args[n++] = sec;
    }
    args[n] = NULL;
    int before = log_count(name, "event=node_ready");
    int slot = proc_spawn(name, args);
    if (wait) {
        cr_assert(log_wait(name, "event=node_ready", before + 1, 10000), "%s did not start:\n%s",
                  name, log_tail(name));
    }
    return slot;
}

/* Runs troupe with args (the command first), its stdout into out; stderr stays in
 * <tmp>/<tag>.log (appended: a tag is for one run, or for runs whose stderr is not read).
 * Returns the exit code. */
static int run(const char *tag, char **args, char *out, size_t cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.out", tmpdir, tag);
    unlink(path);
    int rc = proc_wait(proc_spawn(tag, args), 15000);
    char *s = slurp(path);
    snprintf(out, cap, "%s", s);
    free(s);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n') {
        out[--n] = 0;
    }
    return rc;
}

/* `troupe call` to port_base + k with the client certificate <dir>/<name> (name NULL: no
 * TLS options) and CA ca_file; tag names its files. */
static int tls_call(const char *tag, int k, const char *actor, const char *json, const char *dir,
                    const char *name, const char *ca_file, char *out, size_t cap) {
    char addr[32], sec[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port_base + k);
    proc_path(sec, sizeof sec, "secret");
    char *args[20] = {"call", addr, (char *)actor, "300", (char *)json, "--timeout", "8000"};
    int n = 7;
    if (name) {
        char *tls[] = {"--tls-cert", (char *)pem(dir, name), "--tls-key", (char *)key(dir, name),
                       "--tls-ca",   (char *)ca_file};
        memcpy(&args[n], tls, sizeof tls);
        n += 6;
    }
    if (!name || with_secret) {
        args[n++] = "--secret-file";
        args[n++] = sec;
    }
    args[n] = NULL;
    return run(tag, args, out, cap);
}

/* `troupe status --json` of the node at port_base + k with the client certificate
 * <dir>/<name>; its exit code, the JSON in out. */
static int status_json(int k, const char *dir, const char *name, const char *ca_file, char *out,
                       size_t cap) {
    char addr[32], sec[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port_base + k);
    proc_path(sec, sizeof sec, "secret");
    char *args[] = {"status",
                    addr,
                    "--json",
                    "--tls-cert",
                    (char *)pem(dir, name),
                    "--tls-key",
                    (char *)key(dir, name),
                    "--tls-ca",
                    (char *)ca_file,
                    with_secret ? "--secret-file" : NULL,
                    sec,
                    NULL};
    return run("status", args, out, cap);
}

/* Members of the node at port_base + k that are up and linked (status_json), or -1. */
static int linked_members(int k, const char *dir, const char *name, const char *ca_file) {
    char out[4096];
    if (status_json(k, dir, name, ca_file, out, sizeof out) != 0) {
        return -1;
    }
    int n = 0;
    for (char *p = strstr(out, "\"state\":\"up\",\"phi\""); p;
         p = strstr(p + 1, "\"state\":\"up\",\"phi\"")) {
        n += strncmp(strstr(p, "\"linked\":"), "\"linked\":true", 13) == 0;
    }
    return n;
}

static bool wait_linked(int k, int want, const char *dir, const char *name, const char *ca) {
    uint64_t until = proc_now_ms() + 15000;
    while (proc_now_ms() < until) {
        if (linked_members(k, dir, name, ca) == want) {
            return true;
        }
        usleep(200000);
    }
    return false;
}

Test(tls, three_nodes_form_over_tls_and_a_client_certificate_calls_through_them) {
    make_certs("pki", "ca", "n1 n2 n3 ops");
    const char *ca = pem("pki", "ca");
    tls_node("n1", 0, -1, "pki", ca, true); /* TLS only: no shared secret */
    tls_node("n2", 1, 0, "pki", ca, true);
    tls_node("n3", 2, 0, "pki", ca, true);
    for (int k = 0; k < 3; k++) {
        cr_assert(wait_linked(k, 2, "pki", "ops", ca), "node %d: %s", k, log_tail("n1"));
    }
    char out[256];
    cr_assert_eq(tls_call("c1", 1, "proxy", "[\"echo@n3\", 7]", "pki", "ops", ca, out, sizeof out),
                 0, "%s", log_tail("c1"));
    cr_assert_str_eq(out, "7");
    cr_assert_geq(log_count("n2", "event=link_up peer=ops"), 1, "the client is named by its CN");
    cr_assert_eq(log_count("n2", "peer=call-"), 0);
    cr_assert_eq(log_count("n1", "event=transport_started") - log_count("n1", "tls=1"), 0);
}

Test(tls, a_node_with_a_certificate_from_another_ca_is_refused) {
    with_secret = true;
    make_certs("pki", "ca", "n1 n2 ops");
    make_certs("rogue", "evil", "n4");
    const char *ca = pem("pki", "ca");
    tls_node("n1", 0, -1, "pki", ca, true);
    tls_node("n2", 1, 0, "pki", ca, true);
    cr_assert(wait_linked(0, 1, "pki", "ops", ca));
    /* n4 trusts our CA, but its own certificate comes from another one */
    tls_node("n4", 3, 0, "rogue", ca, true);
    cr_assert(log_wait("n1", "reason=\"TLS: peer certificate refused: unable to get local issuer",
                       2, 10000),
              "%s", log_tail("n1"));
    cr_assert(log_wait("n4", "alert unknown ca", 1, 5000), "%s", log_tail("n4"));
    cr_assert_eq(log_count("n1", "event=link_up peer=n4"), 0);
    cr_assert_eq(linked_members(0, "pki", "ops", ca), 1, "n4 is not a member");
    char out[4096];
    cr_assert_eq(status_json(0, "pki", "ops", ca, out, sizeof out), 0);
    cr_assert_null(strstr(out, "\"n4\""), "%s", out);
}

Test(tls, clients_without_a_certificate_or_with_a_wrong_one_fail_clearly) {
    with_secret = true;
    make_certs("pki", "ca", "n1 ops");
    make_certs("rogue", "evil", "ops");
    const char *ca = pem("pki", "ca");
    tls_node("n1", 0, -1, "pki", ca, true);
    char out[256];
    cr_assert_eq(tls_call("plain", 0, "echo", "1", NULL, NULL, NULL, out, sizeof out), 1);
    cr_assert_eq(log_count("plain", "troupe call: refused by the node: peer closed the "
                                    "connection (if the node runs mutual TLS, give --tls-cert"),
                 1, "%s", log_tail("plain"));
    cr_assert_eq(tls_call("rogue", 0, "echo", "1", "rogue", "ops", ca, out, sizeof out), 1);
    cr_assert_eq(
        log_count("rogue", "troupe call: refused by the node: TLS: tlsv1 alert unknown ca"), 1,
        "%s", log_tail("rogue"));
    cr_assert_str_eq(out, "");
    cr_assert(log_wait("n1", "TLS: peer certificate refused", 1, 3000), "%s", log_tail("n1"));
    cr_assert_eq(tls_call("good", 0, "echo", "1", "pki", "ops", ca, out, sizeof out), 0);
    cr_assert_str_eq(out, "1");
}

Test(tls, bad_options_are_one_line_and_exit_2) {
    make_certs("pki", "ca", "n1 n2");
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port_base);
    const char *ca = pem("pki", "ca");
    struct {
        const char *cert, *key, *ca, *want;
    } cases[] = {
        {pem("pki", "n1"), key("pki", "n1"), NULL, "go together (missing --tls-ca)"},
        {pem("pki", "n1"), key("pki", "n2"), ca, "does not match --tls-cert"},
        {pem("pki", "n1"), key("pki", "n1"), cert_path("pki", "nope"), "cannot read --tls-ca"},
        {key("pki", "n1"), key("pki", "n1"), ca, "is not a PEM certificate"},
        {pem("pki", "n2"), key("pki", "n2"), ca, "--tls-cert is for 'n2' (its CN), not --name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "bad%zu", i);
        char *args[16] = {"node",
                          "--name",
                          "n1",
                          "--listen",
                          listen,
                          "--tls-cert",
                          (char *)cases[i].cert,
                          "--tls-key",
                          (char *)cases[i].key};
        int n = 9;
        if (cases[i].ca) {
            args[n++] = "--tls-ca";
            args[n++] = (char *)cases[i].ca;
        }
        args[n] = NULL;
        cr_assert_eq(proc_wait(proc_spawn(tag, args), 5000), 2, "case %zu", i);
        cr_assert_eq(log_count(tag, cases[i].want), 1, "case %zu: %s", i, log_tail(tag));
        cr_assert_eq(log_count(tag, "\n"), 1, "one line: %s", log_tail(tag));
    }
}

/* A client whose certificate says n9 but whose HELLO says n8: the node refuses it before
 * authentication (REASON code 2) and logs why. troupe call refuses to send such a HELLO, so
 * this uses the library directly. */
Test(tls, a_hello_naming_another_node_than_the_certificate_is_refused) {
    make_certs("pki", "ca", "n1 n9 ops");
    const char *ca = pem("pki", "ca");
    tls_node("n1", 0, -1, "pki", ca, true);
    tr_config cfg = {.node_id = 0x80000009u, .node_name = "n8", .workers = 1, .no_store = true};
    tr_runtime *rt;
    cr_assert_eq(tr_runtime_create(&cfg, &rt), 0);
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%d", port_base);
    tr_cluster_config cc = {.seeds = seed,
                            .client = true,
                            .quiet = true,
                            .phi_down = INFINITY,
                            .tls_cert = pem("pki", "n9"),
                            .tls_key = key("pki", "n9"),
                            .tls_ca = ca};
    tr_cluster *cl;
    cr_assert_eq(tr_cluster_create(rt, &cc, &cl), 0);
    uint32_t server;
    cr_assert_eq(tr_cluster_wait_peer(cl, 8000, &server), TR_EAUTH);
    char why[256];
    tr_cluster_peer_error(cl, why, sizeof why);
    cr_assert(strstr(why, "refused by the peer (REASON frame)"), "told before authentication: %s",
              why);
    tr_cluster_stop(cl);
    tr_runtime_destroy(rt);
    tr_cluster_destroy(cl);
    cr_assert(log_wait("n1", "reason=\"TLS: certificate name 'n9' is not the HELLO's name 'n8'\"",
                       1, 3000),
              "%s", log_tail("n1"));
    cr_assert_eq(log_count("n1", "event=link_up peer=n8"), 0);
    char out[256];
    cr_assert_eq(tls_call("good", 0, "echo", "2", "pki", "ops", ca, out, sizeof out), 0);
}

/* Rotation: a second CA added to the bundle and n1 given a certificate from it, SIGHUP; the
 * links stay (no new link_up, no closed connection), new clients with either CA work; a bad
 * file on reload keeps the certificates in force. */
Test(tls, sighup_rotates_certificates_and_keeps_established_links) {
    with_secret = true;
    make_certs("pki", "ca", "n1 n2 n3 ops");
    make_certs("new", "ca2", "n1 ops");
    char bundle[512];
    proc_path(bundle, sizeof bundle, "bundle.pem");
    copy_file(pem("pki", "ca"), bundle);
    int slot[3];
    const char *names[3] = {"n1", "n2", "n3"};
    for (int k = 0; k < 3; k++) {
        slot[k] = tls_node(names[k], k, k ? 0 : -1, "pki", bundle, true);
    }
    for (int k = 0; k < 3; k++) {
        cr_assert(wait_linked(k, 2, "pki", "ops", bundle), "node %d", k);
    }
    int ups[3], closed[3], gone[3];
    for (int k = 0; k < 3; k++) {
        ups[k] = log_count(names[k], "event=link_up peer=n");
        closed[k] = log_count(names[k], "event=conn_closed");
        gone[k] = log_count(names[k], "event=client_gone");
    }
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s.tmp' && mv '%s.tmp' '%s'", pem("pki", "ca"),
             pem("new", "ca2"), bundle, bundle, bundle);
    cr_assert_eq(system(cmd), 0);
    copy_file(pem("new", "n1"), pem("pki", "n1"));
    copy_file(key("new", "n1"), key("pki", "n1"));
    for (int k = 0; k < 3; k++) {
        proc_signal(slot[k], SIGHUP);
        cr_assert(log_wait(names[k], "event=tls_reloaded", 1, 5000), "%s", log_tail(names[k]));
    }
    char out[256];
    cr_assert_eq(
        tls_call("new", 0, "proxy", "[\"echo@n2\", 5]", "new", "ops", bundle, out, sizeof out), 0,
        "a client of the new CA: %s", log_tail("new"));
    cr_assert_str_eq(out, "5");
    cr_assert_eq(
        tls_call("old", 2, "proxy", "[\"echo@n1\", 6]", "pki", "ops", bundle, out, sizeof out), 0,
        "and of the old one");
    cr_assert_str_eq(out, "6");
    /* a bad key: n2 keeps its certificates, logged */
    copy_file(pem("pki", "ca"), key("pki", "n2"));
    proc_signal(slot[1], SIGHUP);
    cr_assert(log_wait("n2", "event=tls_reload_failed", 1, 5000), "%s", log_tail("n2"));
    cr_assert_eq(tls_call("after", 1, "echo", "8", "new", "ops", bundle, out, sizeof out), 0);
    usleep(1500000); /* several heartbeats: a dropped link would have been redialled by now */
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(log_count(names[k], "event=link_up peer=n"), ups[k], "%s: %s", names[k],
                     log_tail(names[k]));
        /* only the clients' connections closed since (each says bye) */
        cr_assert_eq(log_count(names[k], "event=conn_closed") - closed[k],
                     log_count(names[k], "event=client_gone") - gone[k], "%s: %s", names[k],
                     log_tail(names[k]));
    }
    cr_assert_eq(linked_members(0, "new", "ops", bundle), 2);
}

Test(tls, a_session_buffers_at_most_its_bound_of_ciphertext) {
    make_certs("pki", "ca", "n1");
    tr__tls_ctx *ctx;
    char err[256];
    cr_assert_eq(tr__tls_ctx_load(pem("pki", "n1"), key("pki", "n1"), pem("pki", "ca"), &ctx, err,
                                  sizeof err),
                 0, "%s", err);
    cr_assert_str_eq(tr__tls_ctx_name(ctx), "n1");
    tr__tls *s = tr__tls_new(ctx, true);
    tr__tls_ctx_free(ctx); /* the session keeps its own reference */
    cr_assert_not_null(s);
    uint8_t *in = tr__tls_inbuf(s);
    memset(in, 0x16, TR__TLS_READ_CHUNK);
    size_t fed = 0;
    while (tr__tls_feed(s, in, TR__TLS_READ_CHUNK) == 0) {
        fed += TR__TLS_READ_CHUNK;
        cr_assert_leq(fed, TR__TLS_BUFFERED_MAX);
    }
    cr_assert_eq(tr__tls_feed(s, in, TR__TLS_READ_CHUNK), TR_ETOOBIG);
    char why[200];
    cr_assert_eq(tr__tls_handshake(s, why, sizeof why), TR_EAUTH, "garbage is no handshake");
    tr__tls_free(s);
}

Test(tls, nodes_without_tls_options_speak_plain_tcp_and_refuse_a_tls_client) {
    make_certs("pki", "ca", "ops");
    static const int seed0[] = {0, -1};
    start_node("n1", 0, NULL, NULL);
    start_node("n2", 1, seed0, NULL);
    cr_assert(call_until(1, "proxy", "300", "[\"echo@n1\", 3]", "3", 15000));
    char out[256];
    cr_assert_eq(tls_call("tlsc", 0, "echo", "1", "pki", "ops", pem("pki", "ca"), out, sizeof out),
                 1, "a plaintext node cannot complete a TLS handshake");
    cr_assert_str_eq(out, "");
}

/* The handshake deadline covers the TLS handshake: a peer that connects and says nothing,
 * or sends half a ClientHello, is closed at --handshake-timeout-ms like any other. */
Test(tls, a_silent_or_stalled_tls_handshake_is_closed_at_the_deadline) {
    make_certs("pki", "ca", "n1");
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port_base);
    char *args[] = {"node",
                    "--name",
                    "n1",
                    "--listen",
                    listen,
                    "--tls-cert",
                    (char *)pem("pki", "n1"),
                    "--tls-key",
                    (char *)key("pki", "n1"),
                    "--tls-ca",
                    (char *)pem("pki", "ca"),
                    "--handshake-timeout-ms",
                    "300",
                    NULL};
    proc_spawn("n1", args);
    cr_assert(log_wait("n1", "event=node_ready", 1, 10000), "%s", log_tail("n1"));
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_base)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    /* a TLS record header announcing a 512-byte handshake message, and 5 bytes of it */
    static const uint8_t half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};
    cr_assert_eq(write(fds[1], half, sizeof half), (ssize_t)sizeof half);
    for (int i = 0; i < 2; i++) {
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t b[64];
        cr_assert_eq(read(fds[i], b, sizeof b), 0, "connection %d closed by the node", i);
        close(fds[i]);
    }
    cr_assert_eq(log_count("n1", "reason=\"handshake timeout after 300 ms\""), 2, "%s",
                 log_tail("n1"));
}
