/* cmd_status.c — `troupe status HOST:PORT`, and the node's side of it: the system actor
 * "troupe-status" that every `troupe node` runs (cli/status.h). */
#include "cli/status.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/node_common.h"
#include "cluster/cluster.h"
#include "cluster/transport.h"
#include "proto/membership.h"
#include "runtime/metrics.h"
#include "troupe.h"

#define STATUS_TICK (TR_MSG_USER + 0x5300u) /* the refresh timer's message to itself */
#define STATUS_REPLY (TR_MSG_USER + 0x5301u)
#define STATUS_BODY_MAX (96u << 10)
#define STATUS_NAMES_MAX 512u
#define STATUS_STATS 6

/* ---- the node's side ------------------------------------------------------------------- */

typedef struct status_state {
    tr_cluster *cl; /* borrowed: the node's cluster outlives its actors' activity */
    uint64_t timer;
} status_state;

static int status_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    status_state *s = state;
    if (len != sizeof s->cl) {
        return TR_EINVAL;
    }
    memcpy(&s->cl, arg, sizeof s->cl);
    tr__cluster_view_refresh(s->cl);
    return tr_timer_start(ctx, TR__STATUS_REFRESH_MS, TR__STATUS_REFRESH_MS, STATUS_TICK,
                          &s->timer);
}

static void write_members(tr_mp_writer *w, tr_cluster *cl, tr_transport_member *m) {
    tr_transport_stats ts;
    int n = tr__cluster_view_get(cl, &ts, m, TR_MEMBERS_MAX);
    tr_mp_write_array(w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        tr_mp_write_array(w, 6);
        tr_mp_write_cstr(w, m[i].name);
        tr_mp_write_uint(w, m[i].id);
        tr_mp_write_cstr(w, tr__member_status_name((tr_member_status)m[i].status));
        tr_mp_write_float(w, m[i].phi);
        tr_mp_write_bool(w, m[i].linked);
        tr_mp_write_cstr(w, m[i].addr);
    }
}

static void write_names(tr_mp_writer *w, tr_node *node, char (*names)[TR_NAME_MAX + 1]) {
    uint32_t total;
    uint32_t n = tr__metrics_names(node, names, STATUS_NAMES_MAX, &total);
    tr_mp_write_uint(w, total);
    tr_mp_write_array(w, n);
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_write_cstr(w, names[i]);
    }
}

/* What one answer is built from (allocated per request: answers are rare). */
typedef struct status_scratch {
    tr_transport_member members[TR_MEMBERS_MAX];
    char names[STATUS_NAMES_MAX][TR_NAME_MAX + 1];
    uint8_t body[STATUS_BODY_MAX];
} status_scratch;

/* [node name, node id, members, names total, names, stats]: see docs/status.md. */
static int status_answer(tr_ctx *ctx, status_state *s, const tr_msg *req) {
    status_scratch *sc = malloc(sizeof *sc);
    if (!sc) {
        return TR_CONTINUE; /* no answer: the caller's timeout says so */
    }
    uint8_t *buf = sc->body;
    tr_node *node = tr_ctx_node(ctx);
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, STATUS_BODY_MAX);
    tr_mp_write_array(&w, 6);
    tr_mp_write_cstr(&w, tr_node_name(node));
    tr_mp_write_uint(&w, tr_node_id(node));
    write_members(&w, s->cl, sc->members);
    write_names(&w, node, sc->names);
    tr_stats st;
    tr_node_stats_get(node, &st);
    tr_mp_write_array(&w, STATUS_STATS);
    tr_mp_write_uint(&w, st.actors_live);
    tr_mp_write_uint(&w, st.actors_spawned);
    tr_mp_write_uint(&w, st.messages_delivered);
    tr_mp_write_uint(&w, st.dead_letters);
    tr_mp_write_uint(&w, st.store_commits);
    tr_mp_write_uint(&w, st.store_writes);
    if (w.err == 0) {
        (void)tr_reply(ctx, req, STATUS_REPLY, buf, w.len);
    }
    free(sc);
    return TR_CONTINUE;
}

static int status_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    status_state *s = state;
    if (msg->type == STATUS_TICK && msg->corr == s->timer) {
        tr__cluster_view_refresh(s->cl);
        return TR_CONTINUE;
    }
    if (msg->type < TR_MSG_USER || tr_msg_is_reply(msg)) {
        return TR_CONTINUE;
    }
    return status_answer(ctx, s, msg);
}

static const tr_behaviour status_behaviour = {
    .name = "troupe-status",
    .state_size = sizeof(status_state),
    .init = status_init,
    .receive = status_receive,
};

int tr__status_spawn(tr_node *node, tr_cluster *cl) {
    tr_spawn_opts opts = {.name = TR__STATUS_NAME};
    return tr_node_spawn(node, &status_behaviour, &opts, &cl, sizeof cl, NULL);
}

/* ---- the command --------------------------------------------------------------------------- */

typedef struct status_member {
    char name[TR_NAME_MAX + 1];
    char state[16];
    char addr[TR_ADDR_STR_MAX + 1];
    uint64_t id;
    double phi;
    bool linked;
} status_member;

typedef struct status_view {
    char node[TR_NAME_MAX + 1];
    uint64_t id;
    uint32_t member_count, name_count;
    uint64_t names_total;
    status_member members[TR_MEMBERS_MAX];
    char names[STATUS_NAMES_MAX][TR_NAME_MAX + 1];
    uint64_t stats[STATUS_STATS];
} status_view;

static const char *const stat_names[STATUS_STATS] = {"actors_live",        "actors_spawned",
                                                     "messages_delivered", "dead_letters",
                                                     "store_commits",      "store_writes"};

static void read_member(tr_mp_reader *r, status_member *m) {
    uint32_t n = 0;
    tr_mp_read_array(r, &n);
    if (n != 6) {
        r->err = TR_EPROTO;
        return;
    }
    tr_mp_read_str_copy(r, m->name, sizeof m->name);
    tr_mp_read_uint(r, &m->id);
    tr_mp_read_str_copy(r, m->state, sizeof m->state);
    tr_mp_read_float(r, &m->phi);
    tr_mp_read_bool(r, &m->linked);
    tr_mp_read_str_copy(r, m->addr, sizeof m->addr);
}

/* Decodes status_answer's body. 0, or TR_EPROTO. */
static int decode_view(const uint8_t *body, size_t len, status_view *v) {
    tr_mp_reader r;
    tr_mp_reader_init(&r, body, len);
    uint32_t n = 0;
    tr_mp_read_array(&r, &n);
    if (n != 6) {
        return TR_EPROTO;
    }
    tr_mp_read_str_copy(&r, v->node, sizeof v->node);
    tr_mp_read_uint(&r, &v->id);
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (i < TR_MEMBERS_MAX) {
            read_member(&r, &v->members[v->member_count++]);
        } else {
            tr_mp_skip(&r);
        }
    }
    tr_mp_read_uint(&r, &v->names_total);
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (i < STATUS_NAMES_MAX) {
            tr_mp_read_str_copy(&r, v->names[v->name_count++], TR_NAME_MAX + 1);
        } else {
            tr_mp_skip(&r);
        }
    }
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        uint64_t x = 0;
        tr_mp_read_uint(&r, &x);
        if (i < STATUS_STATS) {
            v->stats[i] = x;
        }
    }
    return r.err ? TR_EPROTO : 0;
}

static void print_table(const status_view *v) {
    printf("node %s (id %llu)\n\n", v->node, (unsigned long long)v->id);
    printf("%-16s %-10s %-8s %8s  %s\n", "MEMBER", "ID", "STATE", "PHI", "ADDRESS");
    printf("%-16s %-10llu %-8s %8s  %s\n", v->node, (unsigned long long)v->id, "up", "-",
           "(this node)");
    for (uint32_t i = 0; i < v->member_count; i++) {
        const status_member *m = &v->members[i];
        char phi[32];
        snprintf(phi, sizeof phi, m->linked ? "%.2f" : "-", m->phi);
        printf("%-16s %-10llu %-8s %8s  %s\n", m->name, (unsigned long long)m->id, m->state, phi,
               m->addr[0] ? m->addr : "-");
    }
    printf("\nnames (%llu):", (unsigned long long)v->names_total);
    for (uint32_t i = 0; i < v->name_count; i++) {
        printf(" %s", v->names[i]);
    }
    printf("%s\n\n", v->name_count < v->names_total ? " ..." : "");
    for (int i = 0; i < STATUS_STATS; i++) {
        printf("%-20s %llu\n", stat_names[i], (unsigned long long)v->stats[i]);
    }
}

/* A JSON string (quotes and escapes for '"', '\\' and control bytes). */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void print_json(const status_view *v) {
    printf("{\"node\":");
    json_str(v->node);
    printf(",\"id\":%llu,\"members\":[{\"name\":", (unsigned long long)v->id);
    json_str(v->node);
    printf(",\"id\":%llu,\"state\":\"up\",\"self\":true}", (unsigned long long)v->id);
    for (uint32_t i = 0; i < v->member_count; i++) {
        const status_member *m = &v->members[i];
        printf(",{\"name\":");
        json_str(m->name);
        printf(",\"id\":%llu,\"state\":", (unsigned long long)m->id);
        json_str(m->state);
        printf(",\"phi\":%.3f,\"linked\":%s,\"addr\":", isfinite(m->phi) ? m->phi : 1e308,
               m->linked ? "true" : "false");
        json_str(m->addr);
        printf(",\"self\":false}");
    }
    printf("],\"names_total\":%llu,\"names\":[", (unsigned long long)v->names_total);
    for (uint32_t i = 0; i < v->name_count; i++) {
        printf(i ? "," : "");
        json_str(v->names[i]);
    }
    printf("],\"stats\":{");
    for (int i = 0; i < STATUS_STATS; i++) {
        printf("%s\"%s\":%llu", i ? "," : "", stat_names[i], (unsigned long long)v->stats[i]);
    }
    printf("}}\n");
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: troupe status HOST:PORT [--json] [--timeout MS] [--secret-file FILE]\n"
            "                     [--cluster NAME] [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
            "Asks the node at HOST:PORT (its \"troupe-status\" actor) for the cluster members\n"
            "as its failure detector sees them (state joining / up / suspect / down, and phi\n"
            "for linked ones), the names registered on it and its statistics, and prints a\n"
            "table, or one JSON object with --json (docs/status.md). The secret comes from\n"
            "--secret-file or TROUPE_SECRET, as for troupe call. Exit 0 on an answer, 1 when\n"
            "the node cannot be reached or does not answer in time (default 5000 ms), 2 on bad\n"
            "usage. --tls-cert/--tls-key/--tls-ca: the client's certificate for a node that runs\n"
            "mutual TLS (docs/tls.md); the client is then named by its CN.\n");
}

typedef struct status_args {
    const char *addr, *secret_file, *cluster;
    uint32_t timeout_ms;
    bool json;
    tr_cli_tls tls;
    char cn[TR_NAME_MAX + 1]; /* the TLS certificate's CN ("" without TLS) */
} status_args;

static int parse(int argc, char **argv, status_args *a) {
    a->timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(f, "--json")) {
            a->json = true;
        } else if (!strcmp(f, "--timeout") || !strcmp(f, "--secret-file") ||
                   !strcmp(f, "--cluster") || !strncmp(f, "--tls-", 6)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "troupe status: missing value for %s\n", f);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(f, "--timeout")) {
                if (tr_cli_parse_u32("status", f, v, 1, 3600000, &a->timeout_ms)) {
                    return 2;
                }
            } else if (!strcmp(f, "--secret-file")) {
                a->secret_file = v;
            } else if (!strcmp(f, "--cluster")) {
                a->cluster = v;
            } else if (!tr_cli_tls_flag(&a->tls, f, v)) {
                fprintf(stderr, "troupe status: unknown option %s; see --help\n", f);
                return 2;
            }
        } else if (!strncmp(f, "--", 2)) {
            fprintf(stderr, "troupe status: unknown option %s; see --help\n", f);
            return 2;
        } else if (!a->addr) {
            a->addr = f;
        } else {
            fprintf(stderr, "troupe status: too many arguments; see --help\n");
            return 2;
        }
    }
    if (!a->addr) {
        usage(stderr);
        return 2;
    }
    if (tr_cli_check_addr("status", "HOST:PORT", a->addr, false, false)) {
        return 2;
    }
    return tr_cli_tls_check("status", &a->tls, a->cn, sizeof a->cn) ? 2 : 0;
}

/* Joins as a client, asks, prints. Returns the exit code; destroys rt. */
static int ask(tr_runtime *rt, const status_args *a, const uint8_t *secret, size_t secret_len) {
    tr_cluster_config cc = {.cluster = a->cluster,
                            .seeds = a->addr,
                            .secret = secret_len ? secret : NULL,
                            .secret_len = secret_len,
                            .client = true,
                            .tls_cert = a->tls.cert,
                            .tls_key = a->tls.key,
                            .tls_ca = a->tls.ca,
                            .handshake_timeout_ms = a->timeout_ms,
                            .down_ms = a->timeout_ms + 1000,
                            .phi_down = INFINITY,
                            .quiet = true};
    tr_cluster *cl = NULL;
    int rc = tr_cluster_create(rt, &cc, &cl);
    if (rc) {
        fprintf(stderr, "troupe status: bad address '%s' (%s)\n", a->addr, tr_strerror(rc));
        tr_runtime_destroy(rt);
        return 2;
    }
    uint32_t server = 0;
    tr_inbox *ib = NULL;
    tr_msg *reply = NULL;
    static status_view v;
    int result = 1;
    rc = tr_cli_wait_server("troupe status", cl, a->timeout_ms, &a->tls, &server);
    if (rc) {
        /* said */
    } else if ((rc = tr_inbox_create(rt, &ib)) != 0) {
        fprintf(stderr, "troupe status: %s\n", tr_strerror(rc));
    } else if ((rc = tr_inbox_request(ib, (tr_addr){server, 0, 0}, TR__STATUS_NAME, TR_MSG_USER,
                                      NULL, 0, a->timeout_ms, &reply)) != 0) {
        fprintf(stderr, "troupe status: no answer from %s: %s\n", a->addr, tr_strerror(rc));
    } else if (decode_view(reply->body, reply->body_len, &v) != 0) {
        fprintf(stderr, "troupe status: the answer (%u bytes) is not a status\n", reply->body_len);
    } else {
        a->json ? print_json(&v) : print_table(&v);
        result = 0;
    }
    tr_msg_free(reply);
    tr_inbox_destroy(ib);
    tr_cluster_stop(cl);
    tr_runtime_destroy(rt);
    tr_cluster_destroy(cl);
    return result;
}

/* A client id from 2^31 up (members use below), from the process id: unique among the
 * clients of this machine at any one time. */
static uint32_t client_id(void) {
    return 0x80000000u | (((uint32_t)getpid() * 2654435761u) & 0x7fffffffu);
}

int tr_cli_status(int argc, char **argv) {
    status_args a;
    memset(&a, 0, sizeof a);
    int rc = parse(argc, argv, &a);
    if (rc) {
        return rc;
    }
    static uint8_t secret[TR_CLI_SECRET_MAX];
    size_t secret_len;
    if (tr_cli_read_secret_opt("status", a.secret_file, tr_cli_tls_given(&a.tls), secret,
                               &secret_len)) {
        return 2;
    }
    char name[TR_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", a.cn);
    if (!a.cn[0]) {
        snprintf(name, sizeof name, "status-%d", (int)getpid());
    }
    tr_config cfg = {.node_id = client_id(), .node_name = name, .workers = 1, .no_store = true};
    tr_runtime *rt;
    rc = tr_runtime_create(&cfg, &rt);
    if (rc) {
        fprintf(stderr, "troupe status: %s\n", tr_strerror(rc));
        memset(secret, 0, sizeof secret);
        return 2;
    }
    signal(SIGINT, SIG_DFL); /* a one-shot command dies at once on ^C */
    signal(SIGTERM, SIG_DFL);
    rc = ask(rt, &a, secret, secret_len);
    memset(secret, 0, sizeof secret);
    return rc;
}
