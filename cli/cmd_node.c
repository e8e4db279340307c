/* cmd_node.c — `troupe node`: one real node in a cluster, hosting services booted before the
 * node joins the cluster: the built-in ones chosen by --builtins (harness/builtin.h; by
 * default "echo", "proxy", "kv" and the replicated registers "cp" and "ap") and the ones
 * loaded with --load (harness/service.h), all through the same descriptor and
 * tr_service_boot. Logs are key=value lines on stderr; SIGINT/SIGTERM stop the node cleanly
 * (BYE to peers, actors stopped, store flushed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/registers.h"
#include "cli/cli.h"
#include "cli/gateway.h"
#include "cli/metrics_http.h"
#include "cli/node_common.h"
#include "cli/status.h"
#include "cluster/cluster.h"
#include "cluster/membership.h"
#include "cluster/policy.h"
#include "cluster/policy_gate.h"
#include "cluster/transport.h"
#include "harness/builtin.h"
#include "harness/builtin_catalog.h"
#include "harness/service.h"
#include "runtime/real.h"
#include "runtime/trace_spans.h"
#include "troupe.h"

/* The most --load flags one node takes. */
#define NODE_LOADS_MAX 16
/* The most services one node hosts: the built-in ones and the loaded ones. */
#define NODE_SERVICES_MAX (TR__BUILTIN_COUNT + NODE_LOADS_MAX)
/* The built-in services a node hosts unless --builtins says otherwise. */
#define NODE_BUILTINS_DEFAULT "echo,proxy,kv,cp,ap"

typedef struct node_args {
    const char *name, *listen, *advertise, *seeds, *data, *secret_file, *cluster, *replicas;
    const char *builtins;
    const char *http;
    const char *metrics;
    const char *trace_out; /* --trace-out FILE: Zipkin v2 spans (docs/tracing.md) */
    double trace_sample;   /* --trace-sample P */
    const char *policy;
    const char *loads[NODE_LOADS_MAX];
    uint32_t load_count;
    const char *bug;
    uint32_t id, workers;
    bool spin_given;
    tr_cli_tls tls; /* --tls-cert, --tls-key, --tls-ca (docs/tls.md) */
    tr_cluster_config cc;
} node_args;

static void usage(FILE *out) {
    fprintf(out,
            "usage: troupe node --name NAME --listen HOST:PORT [--advertise HOST:PORT]\n"
            "                   [--seeds H:P,...] [--data DIR]\n"
            "                   [--secret-file FILE] [--cluster NAME] [--id N] [--workers N]\n"
            "                   [--frame-max BYTES] [--peer-queue-bytes N] [--peer-queue-count N]\n"
            "                   [--heartbeat-ms MS] [--down-ms MS] [--handshake-timeout-ms MS]\n"
            "                   [--write-stall-ms MS] [--spin-us US] [--replicas n1,n2,...]\n"
            "                   [--client-idle-ms MS] [--client-frame-ms MS]\n"
            "                   [--phi-suspect PHI] [--phi-down PHI] [--load SVC.so]...\n"
            "                   [--builtins LIST] [--bug NAME] [--http IPV4:PORT]\n"
            "                   [--metrics IPV4:PORT] [--trace-out FILE] [--trace-sample P]\n"
            "                   [--policy FILE]\n"
            "                   [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
            "Runs a cluster node hosting the actors \"echo\", \"proxy\" and \"kv\". The secret\n"
            "comes from --secret-file or the environment variable TROUPE_SECRET (never from a\n"
            "flag); at least 16 bytes. The node id defaults to K for a name nK, else a hash of\n"
            "the name. It also hosts the replicated registers \"cp\" (linearizable, majority\n"
            "quorums) and \"ap\" (last-writer-wins, gossip) over the nodes named by --replicas\n"
            "(default: this node alone); see actors/registers.h for their messages (troupe call\n"
            "TYPE read / write). Logs are key=value lines on stderr; SIGINT/SIGTERM stop it\n"
            "cleanly. Without --data its store is a new directory under $TMPDIR (or /tmp),\n"
            "removed when it stops cleanly: give --data DIR to keep what it stores.\n"
            "--metrics IPV4:PORT serves GET /metrics (Prometheus text format) and GET /healthz\n"
            "(docs/metrics.md); every node runs the actor \"troupe-status\" that troupe status\n"
            "asks.\n"
            "--builtins LIST chooses the built-in services it hosts, comma-separated among\n"
            "echo, proxy, kv, cp, ap, stock (the inventory service, actors/stock.h) and lock\n"
            "(leases, actors/lock.h), lin-kv (a linearizable key-value store on Raft, actor\n"
            "\"linkv\", docs/raft.md; give it --data), catalog (products, a replica on every\n"
            "node, docs/gateway.md), pubsub (topics and a durable outbox, docs/pubsub.md),\n"
            "shop (orders, payments and stock as a saga, docs/shop.md; its payment provider\n"
            "reads TROUPE_SHOP_PROVIDER=DELAY_MS,FAIL_PCT,DECLINE_PCT), or \"none\"; "
            "default " NODE_BUILTINS_DEFAULT ". Each is a\n"
            "service like a loaded one.\n"
            "Addresses are HOST:PORT, HOST a name (\"db-2.internal:7401\", resolved by the\n"
            "system resolver: /etc/hosts, DNS), an IPv4 address or an IPv6 address in brackets\n"
            "(\"[::1]:7401\"); at most 63 bytes. --listen binds the first address its name\n"
            "resolves to at start (port 0: any free port) and is what peers dial unless\n"
            "--advertise is given (required when listening on 0.0.0.0 or [::]). Seeds and\n"
            "members' names are resolved each time they are dialled, without blocking the\n"
            "node; one that does not resolve is logged (event=resolve_failed) and retried.\n"
            "Failure detection (phi accrual, docs/wire-protocol.md section 6): every link\n"
            "carries a heartbeat each --heartbeat-ms (default 500); from the intervals seen,\n"
            "phi = -log10(chance that a live peer stays silent this long). A peer is suspect\n"
            "(logged) at phi >= --phi-suspect (default 5) and down at phi >= --phi-down\n"
            "(default 8; both in [0.1, 100], suspect <= down), and down in any case after\n"
            "--down-ms (default 3000) without any frame.\n"
            "Before authentication a peer may send frames of at most 4096 bytes (HELLO and\n"
            "AUTH) and must finish the handshake within --handshake-timeout-ms (default\n"
            "5000); when 256 connections are in their handshake, a new one makes room by\n"
            "closing the oldest that has not sent a HELLO (else the oldest). Clients (troupe\n"
            "call) may send requests only; one that gossips or sends a system message is\n"
            "closed, as is one that sends no request for --client-idle-ms (default 60000) or\n"
            "leaves a frame incomplete for --client-frame-ms (default 10000).\n"
            "--spin-us US (0..100000, default 50): how long an idle worker and the network\n"
            "loop poll for more work before they sleep, at most; the budget drops by itself\n"
            "while other threads want the cores. 0 never polls: less CPU on a shared machine,\n"
            "slower round trips (docs/benchmarks.md).\n"
            "--load SVC.so (repeatable, at most 16) loads a service module (docs/call.md)\n"
            "and starts its actors placed on this node before the node joins the cluster; the\n"
            "service sees this node's index in --replicas (else 0) and their count; it may not\n"
            "share a built-in's name unless --builtins leaves that one out. --bug NAME selects\n"
            "one of a hosted service's planted bugs. A module that is not a troupe\n"
            "service, was built for another service ABI, or whose actor fails in init is a\n"
            "one-line error and exit 2.\n"
            "--http IPV4:PORT serves the HTTP/JSON gateway there (docs/gateway.md; its\n"
            "contract at GET /openapi.json) and hosts the catalog service even when\n"
            "--builtins leaves it out.\n"
            "--trace-out FILE writes the spans of sampled traces as Zipkin v2 JSON (one\n"
            "array, rewritten every second and at exit; docs/tracing.md); --trace-sample P\n"
            "(0..1, default 0) also samples that fraction of the traces not flagged sampled.\n"
            "--policy FILE enforces an access policy (docs/access-control.md) on the requests\n"
            "that arrive from other nodes and clients: lines 'allow|deny FROM TYPES NAME',\n"
            "FROM a node or client name, members, clients or *; TYPES N, A-B, * or a request\n"
            "name of a hosted service (read); NAME a registered name or *; '#' comments.\n"
            "The first matching rule decides; no match denies. A refused request is answered\n"
            "at once with TR_EFORBIDDEN and logged (event=policy_refused). A bad file is a\n"
            "one-line error naming the line and exit 2; SIGHUP reloads it (a bad file then\n"
            "keeps the old policy, logged).\n"
            "--tls-cert/--tls-key/--tls-ca (all three, PEM) carry every connection over mutual\n"
            "TLS 1.3 (docs/tls.md): peers and clients must present a certificate from the CA,\n"
            "and a peer's name is its certificate's CN (this node's must be NAME); the secret is\n"
            "then optional. SIGHUP reloads the three files for new connections.\n");
}

/* Returns 0, or 2 after printing the reason. */
static int parse_args(int argc, char **argv, node_args *a) {
    static const struct {
        const char *flag;
        size_t off;
        uint32_t min, max;
    } nums[] = {
        {"--id", offsetof(node_args, id), 1, 0x7fffffff},
        {"--workers", offsetof(node_args, workers), 1, 256},
        {"--frame-max", offsetof(node_args, cc.frame_max), 4096, 64u << 20},
        {"--peer-queue-bytes", offsetof(node_args, cc.peer_queue_bytes), 4096, 1u << 30},
        {"--peer-queue-count", offsetof(node_args, cc.peer_queue_count), 1, 1u << 24},
        {"--heartbeat-ms", offsetof(node_args, cc.heartbeat_ms), 10, 60000},
        {"--down-ms", offsetof(node_args, cc.down_ms), 50, 600000},
        {"--handshake-timeout-ms", offsetof(node_args, cc.handshake_timeout_ms), 50, 600000},
        {"--write-stall-ms", offsetof(node_args, cc.write_stall_ms), 50, 600000},
        {"--client-idle-ms", offsetof(node_args, cc.client_idle_ms), 50, 86400000},
        {"--client-frame-ms", offsetof(node_args, cc.client_frame_ms), 50, 600000},
        {"--spin-us", offsetof(node_args, cc.spin_us), 0, 100000}, /* 0: never */
    };
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(f, "--secret")) {
            fprintf(stderr, "troupe node: secrets are never taken from flags; use "
                            "--secret-file FILE or TROUPE_SECRET\n");
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "troupe node: unknown option or missing value: %s\n", f);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(f, "--load")) {
            if (a->load_count == NODE_LOADS_MAX) {
                fprintf(stderr, "troupe node: at most %d --load flags; see --help\n",
                        NODE_LOADS_MAX);
                return 2;
            }
            a->loads[a->load_count++] = v;
            continue;
        }
        if (tr_cli_tls_flag(&a->tls, f, v)) {
            continue;
        }
        const char **dst = !strcmp(f, "--name")          ? &a->name
                           : !strcmp(f, "--listen")      ? &a->listen
                           : !strcmp(f, "--advertise")   ? &a->advertise
                           : !strcmp(f, "--seeds")       ? &a->seeds
                           : !strcmp(f, "--data")        ? &a->data
                           : !strcmp(f, "--secret-file") ? &a->secret_file
                           : !strcmp(f, "--cluster")     ? &a->cluster
                           : !strcmp(f, "--replicas")    ? &a->replicas
                           : !strcmp(f, "--bug")         ? &a->bug
                           : !strcmp(f, "--builtins")    ? &a->builtins
                           : !strcmp(f, "--http")        ? &a->http
                           : !strcmp(f, "--metrics")     ? &a->metrics
                           : !strcmp(f, "--trace-out")   ? &a->trace_out
                           : !strcmp(f, "--policy")      ? &a->policy
                                                         : NULL;
        if (dst) {
            *dst = v;
            continue;
        }
        double *phi = !strcmp(f, "--phi-suspect") ? &a->cc.phi_suspect
                      : !strcmp(f, "--phi-down")  ? &a->cc.phi_down
                                                  : NULL;
        if (!strcmp(f, "--trace-sample")) {
            if (tr_cli_parse_double("node", f, v, 0.0, 1.0, &a->trace_sample)) {
                return 2;
            }
            continue;
        }
        if (phi) {
            if (tr_cli_parse_double("node", f, v, 0.1, TR_FD_PHI_MAX, phi)) {
                return 2;
            }
            continue;
        }
        size_t k = 0;
        while (k < sizeof nums / sizeof nums[0] && strcmp(nums[k].flag, f)) {
            k++;
        }
        if (k == sizeof nums / sizeof nums[0]) {
            fprintf(stderr, "troupe node: unknown option %s\n", f);
            usage(stderr);
            return 2;
        }
        a->spin_given = a->spin_given || !strcmp(f, "--spin-us");
        if (tr_cli_parse_u32("node", f, v, nums[k].min, nums[k].max,
                             (uint32_t *)((char *)a + nums[k].off))) {
            return 2;
        }
    }
    double suspect = a->cc.phi_suspect > 0 ? a->cc.phi_suspect : TR_FD_PHI_SUSPECT;
    double down = a->cc.phi_down > 0 ? a->cc.phi_down : TR_FD_PHI_DOWN;
    if (suspect > down) {
        fprintf(stderr, "troupe node: --phi-suspect (%g) must not exceed --phi-down (%g)\n",
                suspect, down);
        return 2;
    }
    if (!a->name || !a->listen) {
        fprintf(stderr, "troupe node: --name and --listen are required\n");
        usage(stderr);
        return 2;
    }
    if (strlen(a->name) > TR_NAME_MAX || strchr(a->name, '@')) {
        fprintf(stderr, "troupe node: bad --name '%s'\n", a->name);
        return 2;
    }
    if (tr_cli_check_addr("node", "--listen", a->listen, false, true) ||
        (a->advertise && tr_cli_check_addr("node", "--advertise", a->advertise, false, false)) ||
        (a->seeds && tr_cli_check_addr("node", "--seeds", a->seeds, true, false))) {
        return 2;
    }
    char cn[TR_NAME_MAX + 1];
    if (tr_cli_tls_check("node", &a->tls, cn, sizeof cn)) {
        return 2;
    }
    if (cn[0] && strcmp(cn, a->name) != 0) {
        fprintf(stderr, "troupe node: --tls-cert is for '%s' (its CN), not --name '%s'\n", cn,
                a->name);
        return 2;
    }
    return 0;
}

/* "n1,n2,n3" -> names (pointing into buf). Returns the count, or -1 (printed). */
static int parse_replicas(const char *list, const char *self, char *buf, size_t cap,
                          const char **names) {
    if (!list) {
        names[0] = self;
        return 1;
    }
    if (strlen(list) >= cap) {
        fprintf(stderr, "troupe node: --replicas too long\n");
        return -1;
    }
    strcpy(buf, list);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == TR_REG_PEERS_MAX || !*tok || strlen(tok) > TR_NAME_MAX) {
            fprintf(stderr,
                    "troupe node: bad --replicas (at most %d names of at most %d "
                    "bytes)\n",
                    TR_REG_PEERS_MAX, TR_NAME_MAX);
            return -1;
        }
        names[n++] = tok;
    }
    return n;
}

/* The built-in services --builtins names (default NODE_BUILTINS_DEFAULT) into svcs, from 0;
 * returns their count, or -1 after printing the reason. */
static int pick_builtins(const char *list, const tr_service **svcs) {
    list = list ? list : NODE_BUILTINS_DEFAULT;
    if (!strcmp(list, "none")) {
        return 0;
    }
    int n = 0;
    for (const char *s = list;;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char name[TR_NAME_MAX + 1] = "";
        const tr_service *svc = NULL;
        if (len <= TR_NAME_MAX) {
            memcpy(name, s, len);
            name[len] = 0;
            svc = tr__builtin_find(name);
        }
        if (!svc) {
            fprintf(stderr,
                    "troupe node: --builtins: '%.*s' is not a built-in service (echo, proxy, kv, "
                    "cp, ap, stock, lock, lin-kv, catalog, pubsub, shop, or none); see --help\n",
                    (int)(len > 64 ? 64 : len), s);
            return -1;
        }
        for (int j = 0; j < n; j++) {
            if (svcs[j] == svc) {
                fprintf(stderr, "troupe node: --builtins: '%s' is listed twice; see --help\n",
                        name);
                return -1;
            }
        }
        svcs[n++] = svc;
        if (!end) {
            return n;
        }
        s = end + 1;
    }
}

/* With --http the catalog is hosted whether --builtins names it or not: appends it to
 * svcs[0..n) when it is missing. Returns the new count. */
static int gateway_builtins(const tr_service **svcs, int n) {
    for (int i = 0; i < n; i++) {
        if (svcs[i] == &tr__builtin_catalog) {
            return n;
        }
    }
    svcs[n] = &tr__builtin_catalog;
    return n + 1;
}

/* Appends every --load module to svcs[first..]; checks that no service comes twice (a loaded
 * one may not take a hosted built-in's name) and that --bug names a planted bug of a hosted
 * service. 0, or -1 after printing the reason. */
static int load_services(const node_args *a, const tr_service **svcs, uint32_t first) {
    for (uint32_t i = 0; i < a->load_count; i++) {
        char err[512];
        const tr_service **svc = &svcs[first + i];
        if (tr_service_load(a->loads[i], svc, err, sizeof err) != 0) {
            fprintf(stderr, "troupe node: --load: %s\n", err);
            return -1;
        }
        for (uint32_t j = 0; j < first + i; j++) {
            if (strcmp(svcs[j]->name, (*svc)->name)) {
                continue;
            }
            if (j < first) {
                fprintf(stderr,
                        "troupe node: --load %s: service '%s' is also built in; leave it out "
                        "of --builtins to host the loaded one; see --help\n",
                        a->loads[i], (*svc)->name);
            } else {
                fprintf(stderr, "troupe node: --load: service '%s' is loaded twice (%s, %s)\n",
                        (*svc)->name, a->loads[j - first], a->loads[i]);
            }
            return -1;
        }
    }
    bool found = a->bug == NULL;
    for (uint32_t i = 0; i < first + a->load_count && !found; i++) {
        for (uint32_t k = 0; svcs[i]->bugs && svcs[i]->bugs[k] && !found; k++) {
            found = !strcmp(svcs[i]->bugs[k], a->bug);
        }
    }
    if (!found) {
        fprintf(stderr,
                "troupe node: --bug %s is not a planted bug of any loaded service or hosted "
                "built-in; see --help\n",
                a->bug);
        return -1;
    }
    return 0;
}

/* Boots the services on node, built-in ones first, then the loaded ones in --load order.
 * 0, or 2 after printing the reason. */
static int boot_services(const node_args *a, const tr_service **svcs, uint32_t builtin_count,
                         tr_node *node, const char **replicas, int replica_count) {
    tr_service_env env = {.node_index = 0,
                          .node_count = (uint32_t)replica_count,
                          .node_name = a->name,
                          .node_names = replicas,
                          .simulated = false};
    for (int i = 0; i < replica_count; i++) {
        if (!strcmp(replicas[i], a->name)) {
            env.node_index = (uint32_t)i;
        }
    }
    for (uint32_t i = 0; i < builtin_count + a->load_count; i++) {
        const char *module = i < builtin_count ? "(built in)" : a->loads[i - builtin_count];
        env.bug = NULL;
        for (uint32_t k = 0; a->bug && svcs[i]->bugs && svcs[i]->bugs[k]; k++) {
            if (!strcmp(svcs[i]->bugs[k], a->bug)) {
                env.bug = svcs[i]->bugs[k];
            }
        }
        char err[512];
        int rc = tr__service_boot_why(svcs[i], node, &env, err, sizeof err);
        if (rc != 0) {
            if (i < builtin_count) {
                fprintf(stderr, "troupe node: built-in service %s: %s\n", svcs[i]->name, err);
            } else {
                fprintf(stderr, "troupe node: --load %s: %s\n", module, err);
            }
            return 2;
        }
        if (i >= builtin_count) {
            tr__log_write("info", a->name, "event=service_ready service=%s module=%s",
                          svcs[i]->name, module);
        }
    }
    return 0;
}

/* --trace-out: a span recorder attached to the node and an actor writing its spans to the
 * file every second. 0, or 2 after printing the reason. */
typedef struct trace_out {
    tr__spans *spans; /* owned (calloc): too large for the stack */
    tr__span_file file;
} trace_out;

static int trace_out_start(const node_args *a, tr_node *node, trace_out *t) {
    if (a->trace_out == NULL) {
        if (a->trace_sample > 0) {
            fprintf(stderr, "troupe node: --trace-sample needs --trace-out FILE\n");
            return 2;
        }
        return 0;
    }
    t->spans = calloc(1, sizeof *t->spans);
    if (t->spans == NULL || tr__spans_init(t->spans, a->trace_sample) != 0) {
        fprintf(stderr, "troupe node: --trace-out: out of memory\n");
        free(t->spans);
        t->spans = NULL;
        return 2;
    }
    int rc = tr__span_file_open(&t->file, a->trace_out, true);
    if (rc != 0) { /* nothing attached, no file: nothing to finish */
        fprintf(stderr, "troupe node: --trace-out %s: cannot create it\n", a->trace_out);
        tr__spans_fini(t->spans);
        free(t->spans);
        t->spans = NULL;
        return 2;
    }
    tr__spans_attach(node, t->spans);
    rc = tr__span_file_writer_spawn(node, t->spans, &t->file, 1000);
    if (rc != 0) { /* trace_out_finish closes the file once the runtime is gone */
        fprintf(stderr, "troupe node: --trace-out %s: %s\n", a->trace_out, tr_strerror(rc));
        return 2;
    }
    return 0;
}

/* After the runtime is gone (no activation can record any more): the last spans, then the
 * counts in the log. */
static void trace_out_finish(const node_args *a, trace_out *t) {
    if (t->spans == NULL) {
        return;
    }
    int rc = tr__span_file_drain(&t->file, t->spans);
    int crc = tr__span_file_close(&t->file);
    uint64_t recorded, dropped;
    tr__spans_counts(t->spans, &recorded, &dropped);
    tr__log_write(rc || crc ? "error" : "info", a->name,
                  "event=trace_out_closed file=%s spans=%llu dropped=%llu%s", a->trace_out,
                  (unsigned long long)recorded, (unsigned long long)dropped,
                  rc || crc ? " error=EIO" : "");
    tr__spans_fini(t->spans);
    free(t->spans);
    t->spans = NULL;
}

/* The hosted services, for request names in a --policy file. */
typedef struct hosted {
    const tr_service **svcs;
    uint32_t count;
} hosted;

/* A request name's type for the receiver `to`: that of the service running the actor `to`;
 * for "*" (or a name no service runs), the one type every hosted service defining it agrees
 * on. 0, TR_ENOENT or TR_EINVAL (ambiguous). */
static int policy_request_type(void *ud, const char *request, const char *to, uint32_t *type) {
    const hosted *h = ud;
    for (uint32_t i = 0; i < h->count; i++) {
        for (uint32_t k = 0; k < h->svcs[i]->actor_count; k++) {
            if (!strcmp(h->svcs[i]->actors[k].name, to)) {
                return tr__service_request_type(h->svcs[i], request, type);
            }
        }
    }
    int rc = TR_ENOENT;
    for (uint32_t i = 0; i < h->count; i++) {
        uint32_t t;
        if (tr__service_request_type(h->svcs[i], request, &t) == 0) {
            if (rc == 0 && t != *type) {
                return TR_EINVAL;
            }
            *type = t;
            rc = 0;
        }
    }
    return rc;
}

int tr_cli_node(int argc, char **argv) {
    node_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        return rc;
    }
    static uint8_t secret[TR_CLI_SECRET_MAX];
    size_t secret_len;
    if (tr_cli_read_secret_opt("node", a.secret_file, tr_cli_tls_given(&a.tls), secret,
                               &secret_len)) {
        return 2;
    }
    static char replica_buf[TR_REG_PEERS_MAX * (TR_NAME_MAX + 1) + 1];
    const char *replicas[TR_REG_PEERS_MAX];
    int replica_count =
        parse_replicas(a.replicas, a.name, replica_buf, sizeof replica_buf, replicas);
    if (replica_count < 0) {
        return 2;
    }
    const tr_service *svcs[NODE_SERVICES_MAX];
    int builtin_count = pick_builtins(a.builtins, svcs);
    if (builtin_count >= 0 && a.http) {
        builtin_count = gateway_builtins(svcs, builtin_count);
    }
    if (builtin_count < 0 || load_services(&a, svcs, (uint32_t)builtin_count)) {
        return 2;
    }
    uint32_t id = a.id ? a.id : tr_cluster_node_id(a.name);
    if (a.spin_given && a.cc.spin_us == 0) {
        a.cc.spin_us = -1; /* --spin-us 0 means never (the config's 0 is the default) */
    }
    hosted host = {svcs, (uint32_t)builtin_count + a.load_count};
    tr__policy_names names = {policy_request_type, &host};
    tr__policy_gate *gate = NULL;
    if (a.policy) {
        char err[384];
        if (tr__policy_gate_create(a.policy, a.name, &names, &gate, err, sizeof err)) {
            fprintf(stderr, "troupe node: --policy %s\n", err);
            return 2;
        }
    }
    tr_config cfg = {.node_id = id,
                     .node_name = a.name,
                     .workers = a.workers,
                     .data_dir = a.data,
                     .spin_us = a.cc.spin_us};
    tr_runtime *rt;
    rc = tr_runtime_create(&cfg, &rt);
    if (rc) {
        tr__log_write("error", a.name, "event=start_failed what=runtime error=%s msg=\"%s\"%s%s",
                      tr_err_name(rc), tr_strerror(rc), a.data ? " data=" : "",
                      a.data ? a.data : "");
        tr__policy_gate_destroy(gate);
        return 2;
    }
    trace_out tout = {0};
    if (trace_out_start(&a, tr_runtime_node(rt), &tout)) {
        tr_runtime_destroy(rt);
        trace_out_finish(&a, &tout);
        return 2;
    }
    tr_cluster *cl = NULL;
    if (boot_services(&a, svcs, (uint32_t)builtin_count, tr_runtime_node(rt), replicas,
                      replica_count)) {
        tr_runtime_destroy(rt);
        trace_out_finish(&a, &tout);
        tr__policy_gate_destroy(gate);
        return 2;
    }
    a.cc.cluster = a.cluster;
    a.cc.listen = a.listen;
    a.cc.advertise = a.advertise;
    a.cc.seeds = a.seeds;
    a.cc.secret = secret_len ? secret : NULL;
    a.cc.secret_len = secret_len;
    a.cc.tls_cert = a.tls.cert;
    a.cc.tls_key = a.tls.key;
    a.cc.tls_ca = a.tls.ca;
    if (gate) {
        (void)tr__policy_gate_watch(gate, rt); /* fails only once shutdown began */
    }
    rc = tr__cluster_create_gated(rt, &a.cc, gate, &cl);
    if (rc) {
        tr__log_write("error", a.name, "event=start_failed error=%s msg=\"%s\"", tr_err_name(rc),
                      tr_strerror(rc));
        tr_runtime_destroy(rt);
        trace_out_finish(&a, &tout);
        tr__policy_gate_destroy(gate);
        return 2;
    }
    rc = tr__status_spawn(tr_runtime_node(rt), cl);
    if (rc) {
        tr__log_write("warn", a.name, "event=status_actor_failed error=%s", tr_err_name(rc));
    }
    tr__metrics_http *mh = NULL;
    if (a.metrics) {
        char err[256];
        rc = tr__metrics_http_start(rt, cl, a.metrics, &mh, err, sizeof err);
        if (rc) {
            fprintf(stderr, "troupe node: %s\n", err);
            tr_cluster_stop(cl);
            tr_runtime_destroy(rt);
            tr_cluster_destroy(cl);
            return 2;
        }
        tr__log_write("info", a.name, "event=metrics_ready metrics_port=%u",
                      (unsigned)tr__metrics_http_port(mh));
        tr__metrics_http_attach(mh, NULL, gate);
    }
    tr__gateway *gw = NULL;
    if (a.http) {
        char err[256];
        tr__gateway_config gc = {.addr = a.http};
        rc = tr__gateway_start(rt, &gc, &gw, err, sizeof err);
        if (rc) {
            fprintf(stderr, "troupe node: %s\n", err);
            tr__metrics_http_stop(mh);
            tr_cluster_stop(cl);
            tr_runtime_destroy(rt);
            trace_out_finish(&a, &tout);
            tr_cluster_destroy(cl);
            tr__policy_gate_destroy(gate);
            return 2;
        }
        tr__log_write("info", a.name, "event=gateway_ready http_port=%u",
                      (unsigned)tr__gateway_port(gw));
        tr__metrics_http_attach(mh, tr__gateway_breakers(gw), gate);
    }
    tr__log_write("info", a.name, "event=node_ready id=%u port=%d data=%s", id, tr_cluster_port(cl),
                  a.data ? a.data : "(temporary)");
    tr__real_wait_signal(rt);
    tr__log_write("info", a.name, "event=node_stopping");
    tr__metrics_http_attach(mh, NULL, gate); /* the gateway's breakers go with it */
    tr__gateway_stop(gw);
    tr__metrics_http_stop(mh);
    tr_cluster_stop(cl);
    tr_stats st;
    tr_node_stats_get(tr_runtime_node(rt), &st);
    tr_runtime_destroy(rt);
    trace_out_finish(&a, &tout);
    tr_cluster_destroy(cl);
    tr__policy_gate_destroy(gate);
    tr__log_write("info", a.name, "event=node_stopped delivered=%llu dead_letters=%llu",
                  (unsigned long long)st.messages_delivered, (unsigned long long)st.dead_letters);
    return 0;
}
