/* cmd_call.c — `troupe call HOST:PORT ACTOR TYPE JSON`: connects to a node as a client
 * (handshake with the shared secret), sends one request to the actor registered as ACTOR
 * there (another node's actors through its "proxy"), prints the reply's body as JSON on
 * stdout. Exit (docs/call.md): 0 reply printed, 1 timeout / connection refused / no reply,
 * 2 usage or bad input, 3 no such actor, 4 node down, 5 forbidden by the access policy (the
 * last three answered at once by the node, troupe.h "Errors that arrive at once").
 *
 * The client is the library's: a runtime without a store, joined to the node as a cluster
 * client (tr_cluster_wait_peer gives up at once on a refusal or a name that does not
 * resolve), and an inbox whose tr_inbox_request waits for the reply or the timeout. This
 * file only turns JSON into msgpack and back (jansson, msgpack-c's packer and unpacker; the
 * reply body is validated with tr__msgpack_check before msgpack-c looks at it) and finds
 * request names in the services given with --load (docs/call.md). */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/node_common.h"
#include "harness/builtin.h"
#include "harness/service.h"
#include "runtime/codec.h"
#include "runtime/internal.h"
#include "troupe.h"

#define JSON_DEPTH_MAX 32

/* ---- JSON <-> msgpack -------------------------------------------------------------------- */

static int pack_json(msgpack_packer *pk, const json_t *j, int depth) {
    if (depth > JSON_DEPTH_MAX) {
        return -1;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach((json_t *)j, k, v) {
            msgpack_pack_str_with_body(pk, k, strlen(k));
            if (pack_json(pk, v, depth + 1)) {
                return -1;
            }
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach(j, i, v) {
            if (pack_json(pk, v, depth + 1)) {
                return -1;
            }
        }
        return 0;
    }
    case JSON_STRING:
        return msgpack_pack_str_with_body(pk, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(j));
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(j));
    case JSON_TRUE: return msgpack_pack_true(pk);
    case JSON_FALSE: return msgpack_pack_false(pk);
    case JSON_NULL: return msgpack_pack_nil(pk);
    }
    return -1;
}

static json_t *to_json(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX) {
            return json_real((double)o->via.u64);
        }
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR: return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: {
        /* bytes: shown as {"bin": "<hex>"} */
        json_t *r = json_object();
        char *hex = malloc((size_t)o->via.bin.size * 2 + 1);
        for (uint32_t i = 0; hex && i < o->via.bin.size; i++) {
            snprintf(hex + 2 * i, 3, "%02x", (uint8_t)o->via.bin.ptr[i]);
        }
        if (hex) {
            hex[(size_t)o->via.bin.size * 2] = 0;
            json_object_set_new(r, "bin", json_string(hex));
            free(hex);
        }
        return r;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_array_append_new(a, to_json(&o->via.array.ptr[i]));
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[64];
            if (k->type == MSGPACK_OBJECT_STR) {
                char *s = strndup(k->via.str.ptr, k->via.str.size);
                json_object_set_new(m, s ? s : "", to_json(&o->via.map.ptr[i].val));
                free(s);
                continue;
            }
            if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                snprintf(key, sizeof key, "%" PRIu64, k->via.u64);
            } else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                snprintf(key, sizeof key, "%" PRId64, k->via.i64);
            } else {
                snprintf(key, sizeof key, "?%u", i);
            }
            json_object_set_new(m, key, to_json(&o->via.map.ptr[i].val));
        }
        return m;
    }
    default: return json_null();
    }
}

/* Prints body (msgpack) as one line of JSON. 0, or -1 if the body is not msgpack. */
static int print_body(const uint8_t *body, size_t len) {
    if (len == 0) {
        printf("null\n");
        return 0;
    }
    if (tr__msgpack_check(body, len, TR_MSGPACK_DEPTH_MAX)) {
        return -1;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object obj;
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack((const char *)body, len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS) {
        json_t *j = to_json(&obj);
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        if (s) {
            printf("%s\n", s);
            free(s);
            rc = 0;
        }
        json_decref(j);
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

/* ---- the call ------------------------------------------------------------------------------ */

static void usage(FILE *out) {
    fprintf(out,
            "usage: troupe call HOST:PORT ACTOR TYPE JSON [--timeout MS] [--secret-file FILE]\n"
            "                   [--cluster NAME] [--load SVC.so]... [--show-type]\n"
            "                   [--trace]\n"
            "                   [--client-name NAME]\n"
            "                   [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
            "Sends one request of TYPE with the body JSON (turned into msgpack) to the actor\n"
            "registered as ACTOR on the node at HOST:PORT and prints the reply body as one\n"
            "line of JSON. TYPE is a number (256..4294901759) or a request name: of the\n"
            "service that runs ACTOR, else of a service given with --load SVC.so (repeatable,\n"
            "at most 16: the module is read for its request names; the node must have loaded\n"
            "it too), else of a built-in service: read / write for the registers \"cp\" and\n"
            "\"ap\" ({\"key\": K[, \"value\": V]}), reserve / restock / read for \"stock\"\n"
            "({\"item\": I, \"qty\": Q, \"id\": ID}), put / get for \"kv\", echo for \"echo\".\n"
            "JSON -> msgpack: object -> map (string keys), array -> array, integer -> int\n"
            "(smallest form), number with a fraction or exponent -> float64, string -> str,\n"
            "true/false -> bool, null -> nil; at most 32 levels deep.\n"
            "Reply msgpack -> JSON: map -> object (integer keys as decimal strings, other\n"
            "keys as \"?N\"), array -> array, int -> integer (a uint64 above 2^63-1 -> a\n"
            "number, rounded), float -> number (NaN, inf -> null), str -> string, bin ->\n"
            "{\"bin\": \"<hex>\"}, bool, nil -> null, ext -> null; an empty body -> null;\n"
            "object keys sorted. See docs/call.md.\n"
            "HOST is a name (resolved by the system resolver: /etc/hosts, DNS), an IPv4\n"
            "address or an IPv6 address in brackets (\"[::1]:7401\"). ACTOR is a name on that\n"
            "node; its \"proxy\" actor reaches the other nodes' actors.\n"
            "--show-type prints the reply's message type (\"type N\") on a line before it.\n"
            "--trace starts a sampled trace for the request and prints its W3C traceparent\n"
            "(\"traceparent 00-...-01\") on a line before the reply (docs/tracing.md).\n"
            "The secret comes from --secret-file or TROUPE_SECRET. Exit 0 on a reply, 1 on\n"
            "timeout, connection failure or a name that does not resolve, 2 on bad usage,\n"
            "3 when the node answers that nothing is registered as ACTOR there, 4 when it\n"
            "answers that the target's node is down, 5 when its access policy refuses the\n"
            "request (docs/call.md, docs/access-control.md).\n"
            "--client-name NAME is the name announced to the node (default call-PID, or the\n"
            "certificate's CN with TLS), the name a node's access policy knows the client by.\n"
            "--tls-cert/--tls-key/--tls-ca (all three, PEM): the client's certificate for a\n"
            "node that runs mutual TLS (docs/tls.md); the secret is then optional.\n");
}

#define CALL_LOADS_MAX 16

typedef struct call_args {
    const char *addr, *actor, *type, *json, *secret_file, *cluster, *client_name;
    const char *loads[CALL_LOADS_MAX];
    uint32_t load_count;
    uint32_t timeout_ms;
    bool show_type;
    bool trace; /* --trace: a new sampled trace, its traceparent printed */
    tr_cli_tls tls;
    char cn[TR_NAME_MAX + 1]; /* the TLS certificate's CN ("" without TLS) */
} call_args;

static int parse(int argc, char **argv, call_args *a) {
    const char *pos[4];
    int npos = 0;
    a->timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(f, "--trace")) {
            a->trace = true;
            continue;
        }
        if (!strcmp(f, "--show-type")) {
            a->show_type = true;
            continue;
        }
        if (!strncmp(f, "--", 2) && strlen(f) > 2) {
            if (!strcmp(f, "--secret")) {
                fprintf(stderr, "troupe call: secrets are never taken from flags\n");
                return 2;
            }
            if (i + 1 >= argc) {
                fprintf(stderr, "troupe call: missing value for %s\n", f);
                return 2;
            }
            const char *v = argv[++i];
            if (tr_cli_tls_flag(&a->tls, f, v)) {
                continue;
            }
            if (!strcmp(f, "--timeout")) {
                if (tr_cli_parse_u32("call", f, v, 1, 3600000, &a->timeout_ms)) {
                    return 2;
                }
            } else if (!strcmp(f, "--secret-file")) {
                a->secret_file = v;
            } else if (!strcmp(f, "--cluster")) {
                a->cluster = v;
            } else if (!strcmp(f, "--client-name")) {
                if (!*v || strlen(v) > TR_NAME_MAX || strchr(v, '@')) {
                    fprintf(stderr, "troupe call: bad --client-name '%.64s' (1..%d bytes, no @)\n",
                            v, TR_NAME_MAX);
                    return 2;
                }
                a->client_name = v;
            } else if (!strcmp(f, "--load")) {
                if (a->load_count == CALL_LOADS_MAX) {
                    fprintf(stderr, "troupe call: at most %d --load flags; see --help\n",
                            CALL_LOADS_MAX);
                    return 2;
                }
                a->loads[a->load_count++] = v;
            } else {
                fprintf(stderr, "troupe call: unknown option %s\n", f);
                usage(stderr);
                return 2;
            }
        } else if (npos < 4) {
            pos[npos++] = f;
        } else {
            fprintf(stderr, "troupe call: too many arguments\n");
            usage(stderr);
            return 2;
        }
    }
    if (npos != 4) {
        usage(stderr);
        return 2;
    }
    a->addr = pos[0];
    a->actor = pos[1];
    a->type = pos[2];
    a->json = pos[3];
    if (tr_cli_check_addr("call", "HOST:PORT", a->addr, false, false)) {
        return 2;
    }
    if (strlen(a->actor) > 2 * TR_NAME_MAX + 1 || !a->actor[0]) {
        fprintf(stderr, "troupe call: bad actor name '%s'\n", a->actor);
        return 2;
    }
    if (tr_cli_tls_check("call", &a->tls, a->cn, sizeof a->cn)) {
        return 2;
    }
    if (a->cn[0] && a->client_name && strcmp(a->cn, a->client_name) != 0) {
        fprintf(stderr, "troupe call: --tls-cert is for '%s' (its CN), not --client-name '%s'\n",
                a->cn, a->client_name);
        return 2;
    }
    return 0;
}

static int encode_body(const char *text, msgpack_sbuffer *out) {
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        fprintf(stderr, "troupe call: bad JSON at %d:%d: %s\n", err.line, err.column, err.text);
        return -1;
    }
    msgpack_sbuffer_init(out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = pack_json(&pk, j, 0);
    json_decref(j);
    if (rc) {
        fprintf(stderr, "troupe call: JSON nested deeper than %d\n", JSON_DEPTH_MAX);
        msgpack_sbuffer_destroy(out);
    }
    return rc;
}

/* A client id from 2^31 up (members use below), random enough not to collide with another
 * client of the same node. */
static uint32_t client_id(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)ts.tv_sec;
    return 0x80000000u | (uint32_t)(r & 0x7fffffffu);
}

static uint64_t ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000 + (uint64_t)(t.tv_nsec / 1000000) -
           (uint64_t)(t0->tv_nsec / 1000000);
}

/* Connects, sends the request, prints the reply. Returns the exit code (0 or 1). */
static int call_node(tr_runtime *rt, const call_args *a, uint32_t type, const uint8_t *secret,
                     size_t secret_len, const msgpack_sbuffer *body) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tr_cluster_config cc = {
        .cluster = a->cluster,
        .seeds = a->addr,
        .secret = secret_len ? secret : NULL,
        .secret_len = secret_len,
        .client = true,
        .tls_cert = a->tls.cert,
        .tls_key = a->tls.key,
        .tls_ca = a->tls.ca,
        .handshake_timeout_ms = a->timeout_ms,
        .down_ms = a->timeout_ms + 1000,
        /* A one-shot client waits out a slow reply: only down_ms (the call's timeout plus a
         * second) ends the link, not phi, which gives up on a server stalled ~2 s. */
        .phi_down = INFINITY,
        .quiet = true,
    };
    tr_cluster *cl = NULL;
    int rc = tr_cluster_create(rt, &cc, &cl);
    if (rc) {
        fprintf(stderr, "troupe call: bad address '%s' (%s)\n", a->addr, tr_strerror(rc));
        return 2;
    }
    uint32_t server = 0;
    tr_inbox *ib = NULL;
    tr_msg *reply = NULL;
    int result = 1;
    rc = tr_cli_wait_server("troupe call", cl, a->timeout_ms, &a->tls, &server);
    if (rc) {
        /* said */
    } else if ((rc = tr_inbox_create(rt, &ib)) != 0) {
        fprintf(stderr, "troupe call: %s\n", tr_strerror(rc));
    } else {
        uint64_t spent = ms_since(&t0);
        uint32_t left = spent < a->timeout_ms ? a->timeout_ms - (uint32_t)spent : 1;
        if (a->trace) {
            tr__inbox_trace_start(ib, TR_TRACE_SAMPLED);
        }
        rc = tr_inbox_request(ib, (tr_addr){server, 0, 0}, a->actor, type, body->data, body->size,
                              left, &reply);
        tr_trace started;
        char tp[56];
        if (a->trace) {
            tr__inbox_trace_get(ib, &started);
            if (tr_trace_is_set(&started) && tr_trace_format(&started, tp, sizeof tp) == 0) {
                printf("traceparent %s\n", tp);
                fflush(stdout);
            }
        }
        char why[256];
        tr_cluster_peer_error(cl, why, sizeof why);
        if (rc == TR_ETIMEDOUT && why[0]) { /* the node closed the connection with a reason */
            fprintf(stderr, "troupe call: no reply: %s\n", why);
        } else if (rc == TR_ETIMEDOUT) {
            fprintf(stderr, "troupe call: timed out waiting for the reply\n");
        } else if (rc == TR_ENOPROC) {
            fprintf(stderr,
                    "troupe call: no such actor: nothing is registered as '%s' there "
                    "(answered at once by the node)\n",
                    a->actor);
            result = 3;
        } else if (rc == TR_ENODEDOWN) {
            fprintf(stderr,
                    "troupe call: node down: the node of '%s' is known down or "
                    "unreachable (answered at once)\n",
                    a->actor);
            result = 4;
        } else if (rc == TR_EFORBIDDEN) {
            fprintf(stderr,
                    "troupe call: forbidden: a node's access policy refuses this request "
                    "to '%s' (answered at once)\n",
                    a->actor);
            result = 5;
        } else if (rc) {
            fprintf(stderr, "troupe call: cannot send to %s: %s%s\n", a->actor, tr_strerror(rc),
                    strchr(a->actor, '@') ? " (ACTOR is a name on the node called; its \"proxy\" "
                                            "reaches the other nodes)"
                                          : "");
        } else if ((a->show_type && printf("type %u\n", reply->type) < 0) ||
                   print_body(reply->body, reply->body_len)) {
            fprintf(stderr, "troupe call: the reply (type %u, %u bytes) is not msgpack\n",
                    reply->type, reply->body_len);
        } else {
            result = 0;
        }
    }
    tr_msg_free(reply);
    tr_inbox_destroy(ib);
    tr_cluster_stop(cl);
    tr_runtime_destroy(rt);
    tr_cluster_destroy(cl);
    return result;
}

/* True when svc runs an actor registered as the name of `actor` ("cp" or "cp@n2"). */
static bool runs_actor(const tr_service *svc, const char *actor) {
    size_t n = strcspn(actor, "@");
    for (uint32_t i = 0; i < svc->actor_count; i++) {
        if (strlen(svc->actors[i].name) == n && !memcmp(svc->actors[i].name, actor, n)) {
            return true;
        }
    }
    return false;
}

/* TYPE: a number, or a request name: first of the service (loaded, else built in) whose
 * actor ACTOR is, then of the services given with --load (one that two of them define with
 * different types is ambiguous), then of the built-in services in their table's order (so
 * read / write are the registers'). 0, or -1 after printing. */
static int resolve_type(const call_args *a, uint32_t *type) {
    if (a->type[0] >= '0' && a->type[0] <= '9') {
        return tr_cli_parse_u32("call", "TYPE", a->type, TR_MSG_USER, 0xFFFEFFFFu, type);
    }
    const tr_service *svcs[CALL_LOADS_MAX + TR__BUILTIN_COUNT];
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->load_count; i++) {
        char err[512];
        if (tr_service_load(a->loads[i], &svcs[n++], err, sizeof err) != 0) {
            fprintf(stderr, "troupe call: --load: %s\n", err);
            return -1;
        }
    }
    for (uint32_t i = 0; i < TR__BUILTIN_COUNT; i++) {
        svcs[n++] = tr__builtin_services[i];
    }
    for (uint32_t i = 0; i < n; i++) {
        if (runs_actor(svcs[i], a->actor)) {
            if (tr__service_request_type(svcs[i], a->type, type) == 0) {
                return 0;
            }
            break;
        }
    }
    const char *from = NULL;
    for (uint32_t i = 0; i < a->load_count; i++) {
        uint32_t t;
        if (tr__service_request_type(svcs[i], a->type, &t) != 0) {
            continue;
        }
        if (from && t != *type) {
            fprintf(stderr,
                    "troupe call: TYPE '%s' is ambiguous: %u in %s, %u in %s; give the "
                    "number\n",
                    a->type, *type, from, t, svcs[i]->name);
            return -1;
        }
        *type = t;
        from = svcs[i]->name;
    }
    for (uint32_t i = a->load_count; i < n && !from; i++) {
        if (tr__service_request_type(svcs[i], a->type, type) == 0) {
            from = svcs[i]->name;
        }
    }
    if (from) {
        return 0;
    }
    fprintf(stderr,
            "troupe call: unknown TYPE '%s': give a number, or a request name of ACTOR's "
            "service, of a service given with --load or of a built-in one; see --help\n",
            a->type);
    return -1;
}

int tr_cli_call(int argc, char **argv) {
    call_args a;
    memset(&a, 0, sizeof a);
    int rc = parse(argc, argv, &a);
    if (rc) {
        return rc;
    }
    uint32_t type;
    if (resolve_type(&a, &type)) {
        return 2;
    }
    static uint8_t secret[TR_CLI_SECRET_MAX];
    size_t secret_len;
    if (tr_cli_read_secret_opt("call", a.secret_file, tr_cli_tls_given(&a.tls), secret,
                               &secret_len)) {
        return 2;
    }
    msgpack_sbuffer body;
    if (encode_body(a.json, &body)) {
        return 2;
    }
    char name[TR_NAME_MAX + 1];
    if (a.client_name || a.cn[0]) {
        snprintf(name, sizeof name, "%s", a.cn[0] ? a.cn : a.client_name);
    } else {
        snprintf(name, sizeof name, "call-%d", (int)getpid());
    }
    /* A client: one worker, no store; it hosts nothing but the inbox the reply comes to. */
    tr_config cfg = {.node_id = client_id(), .node_name = name, .workers = 1, .no_store = true};
    tr_runtime *rt;
    rc = tr_runtime_create(&cfg, &rt);
    if (rc == 0) {
        /* A one-shot command dies at once on ^C, as command-line tools do; the runtime's
         * graceful stop on these signals is for nodes. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        rc = call_node(rt, &a, type, secret, secret_len, &body);
    } else {
        fprintf(stderr, "troupe call: %s\n", tr_strerror(rc));
        rc = 2;
    }
    msgpack_sbuffer_destroy(&body);
    memset(secret, 0, sizeof secret);
    return rc;
}
